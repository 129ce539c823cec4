"""The order-entry protocol's session step and multi-report frames, without sockets."""

from __future__ import annotations

from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import OrderAccepted
from tradeactors.venues.adapter import Credentials, Reply, RestRequest, SessionEnded, decoded_items
from tradeactors.venues.binance import BinanceOrderEntry
from tradeactors.venues.sim import SimOrderEntry

INSTRUMENT = Instrument(venue="sim", symbol="BTCUSDT", tick_size="0.01", lot_size="0.001")
ACCEPTED = OrderAccepted(venue="sim", client_order_id="c1", order_id=1)


class TestDecodedItems:
    """What `OrderEntry.decode` returned, as the items the gateway forwards, in order."""

    def test_none_is_no_item(self):
        assert decoded_items(None) == ()

    def test_one_item_is_one_item_even_a_named_tuple(self):
        assert decoded_items(ACCEPTED) == (ACCEPTED,)
        assert decoded_items(Reply(1, result=[1, 2])) == (Reply(1, result=[1, 2]),)
        assert decoded_items(SessionEnded("bye")) == (SessionEnded("bye"),)

    def test_a_plain_tuple_is_several_items_in_order(self):
        items = (Reply(1), ACCEPTED, SessionEnded("bye"))
        assert decoded_items(items) is items
        assert decoded_items(()) == ()


class TestSessionRequest:
    """Only venues that need it make a REST call before connecting."""

    def test_the_simulator_and_binance_make_none(self):
        credentials = Credentials("key", "secret")
        assert SimOrderEntry("sim", INSTRUMENT).session_request(credentials, "http://x") is None
        binance = BinanceOrderEntry("binance", INSTRUMENT)
        assert binance.session_request(credentials, "http://x") is None

    def test_a_rest_request_shows_neither_its_header_values_nor_its_body(self):
        request = RestRequest(
            method="POST",
            url="https://venue.example/token",
            headers={"API-Key": "the-key", "API-Sign": "the-signature"},
            body=b"nonce=1",
            accept=lambda _body: None,
        )
        shown = repr(request) + str(request) + f"{request}"
        for secret in ("the-key", "the-signature", "nonce=1"):
            assert secret not in shown
        assert "API-Sign" in shown
        assert "https://venue.example/token" in shown
