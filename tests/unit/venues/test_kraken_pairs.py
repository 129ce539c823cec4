"""Kraken order entry for several pairs at once: one codec, one ``executions`` subscription.

Two pairs of different steps: BTC/USD (tick 0.1, lot 0.00000001) and ETH/XBT as the
documented AssetPairs answer describes it (tick 0.00001, lot decimals 8). Kraken's
documented executions examples (websocket-v2/executions) are reproduced for BTC/USD.
"""

from __future__ import annotations

import json

import pytest
from test_kraken_orders import (
    ASSET_PAIRS,
    BTC_USD,
    KEY,
    LIVE,
    SELL,
    TOKEN,
    TRADE,
    ask,
    executions,
    token_answer,
)

from tradeactors.clock import FakeClock
from tradeactors.core.messages import (
    AmendAtVenue,
    OrderAccepted,
    OrderFilled,
    Side,
    SubmitOrder,
    VenueOrder,
)
from tradeactors.core.ratelimit import RateKind, VenueRateLimit
from tradeactors.venues.adapter import Reply, Request, venue_adapter
from tradeactors.venues.kraken import KrakenOrderEntry, instrument_from_asset_pairs

ETH_XBT = instrument_from_asset_pairs(
    json.dumps(ASSET_PAIRS), "ETHXBT", venue="kraken", symbol="ETH/XBT"
)
PAIRS = {"BTC/USD": BTC_USD, "ETH/XBT": ETH_XBT}


def two_pairs(clock: FakeClock | None = None) -> KrakenOrderEntry:
    entry = KrakenOrderEntry("kraken", PAIRS, clock=clock or FakeClock())
    entry.accept_token(token_answer(TOKEN))
    entry.logon(1, KEY, cancel_on_disconnect=False)
    entry.decode(json.dumps({"method": "subscribe", "req_id": 1, "success": True}))
    assert entry.decode(executions("snapshot")) is None
    return entry


def submit(client_order_id: str, symbol: str, price: int, quantity: int) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=client_order_id,
        venue="kraken",
        instrument=symbol,
        side=Side.BUY,
        price=price,
        quantity=quantity,
    )


def sent(entry: KrakenOrderEntry, order: SubmitOrder, request_id: int) -> dict:
    return json.loads(entry.encode(Request.PLACE, request_id, {"order": order}))["params"]


def accept(entry: KrakenOrderEntry, request_id: int, order_id: str, cl_ord_id: str) -> int:
    """Kraken's add_order success for ``request_id``: the order's contract id."""
    answer = {
        "method": "add_order",
        "req_id": request_id,
        "result": {"order_id": order_id, "cl_ord_id": cl_ord_id},
        "success": True,
    }
    accepted, reply = entry.decode(json.dumps(answer))
    assert isinstance(accepted, OrderAccepted)
    assert isinstance(reply, Reply)
    return accepted.order_id


# websocket-v2/executions' examples, moved to ETH/XBT (its steps: 0.00001 and 0.00000001)
ETH_SELL = {
    **SELL,
    "order_id": "OETHXB-TSELL-000001",
    "symbol": "ETH/XBT",
    "limit_price": 0.05312,
}
ETH_LIVE = {**LIVE, "order_id": "OETHXB-TSELL-000001"}
ETH_TRADE = {
    **TRADE,
    "order_id": "OETHXB-TSELL-000001",
    "exec_id": "TETHXB-TTRAD-000001",
    "symbol": "ETH/XBT",
    "last_qty": 0.25,
    "last_price": 0.05313,
    "fees": [{"asset": "XBT", "qty": 0.0000345}],
}


class TestSeveralPairs:
    """Orders, amends and reports of each pair in that pair's tick and lot."""

    def test_the_adapter_makes_one_codec_for_a_mapping_of_pairs(self):
        adapter = venue_adapter("kraken", trading=True)
        assert adapter.order_entry is not None
        entry = adapter.order_entry("kraken", PAIRS)
        assert isinstance(entry, KrakenOrderEntry)
        assert "ETH/XBT" in repr(entry)
        assert TOKEN not in repr(two_pairs())

    def test_an_empty_or_misfiled_mapping_is_refused(self):
        with pytest.raises(ValueError, match="one instrument or more"):
            KrakenOrderEntry("kraken", {})
        with pytest.raises(ValueError, match="under symbol"):
            KrakenOrderEntry("kraken", {"BTC/USD": ETH_XBT})

    def test_each_order_is_sent_in_its_pair_s_symbol_tick_and_lot(self):
        entry = two_pairs()
        btc = sent(entry, submit("b-1", "BTC/USD", 265004, 120_000_000), 10)
        eth = sent(entry, submit("e-1", "ETH/XBT", 5312, 25_000_000), 11)
        assert (btc["symbol"], btc["limit_price"], btc["order_qty"]) == ("BTC/USD", 26500.4, 1.2)
        assert (eth["symbol"], eth["limit_price"], eth["order_qty"]) == ("ETH/XBT", 0.05312, 0.25)

    def test_an_order_of_a_pair_the_codec_does_not_trade_is_refused_unsent(self):
        entry = two_pairs()
        with pytest.raises(ValueError, match="does not trade"):
            entry.encode(Request.PLACE, 10, {"order": submit("x-1", "SOL/USD", 1, 1)})
        assert entry.rate_count_of("BTC/USD") == entry.rate_count_of("ETH/XBT") == 0

    def test_an_amend_is_written_in_its_pair_s_steps(self):
        entry = two_pairs()
        order = submit("e-1", "ETH/XBT", 5312, 25_000_000)
        amend = AmendAtVenue(
            order=order, order_id=1, price=5311, quantity=20_000_000, remaining=20_000_000
        )
        params = json.loads(entry.encode(Request.AMEND, 12, {"amend": amend}))["params"]
        assert (params["limit_price"], params["order_qty"]) == (0.05311, 0.2)

    def test_the_documented_examples_are_read_in_each_pair_s_steps(self):
        entry = two_pairs()
        assert entry.decode_all(executions("update", SELL, sequence=8)) == ()
        btc_accepted = entry.decode(executions("update", LIVE, sequence=9))
        assert isinstance(btc_accepted, OrderAccepted)
        btc_fill = entry.decode(executions("update", TRADE, sequence=10))
        assert isinstance(btc_fill, OrderFilled)
        # websocket-v2/executions' "Example: Execution": 0.005 at 26599.9, fee 0.3458 USD
        assert (btc_fill.instrument, btc_fill.price, btc_fill.quantity, btc_fill.fee_e4) == (
            "BTC/USD",
            265999,
            500_000,
            3_458_000_000_000,
        )
        assert entry.decode_all(executions("update", ETH_SELL, sequence=11)) == ()
        eth_accepted = entry.decode(executions("update", ETH_LIVE, sequence=12))
        assert isinstance(eth_accepted, OrderAccepted)
        eth_fill = entry.decode(executions("update", ETH_TRADE, sequence=13))
        assert isinstance(eth_fill, OrderFilled)
        # 0.25 at 0.05313 XBT, fee 0.0000345 XBT, in ETH/XBT's 0.00001 and 0.00000001
        assert (eth_fill.instrument, eth_fill.price, eth_fill.quantity, eth_fill.fee_e4) == (
            "ETH/XBT",
            5313,
            25_000_000,
            3_450_000_000_000,  # 0.0000345 / (0.00001 * 0.00000001) * 10_000
        )
        assert eth_fill.remaining == 0  # cum_qty 0.005 of order_qty 0.005 (the examples')
        assert entry.sequence_gaps == 0

    def test_a_third_pair_s_reports_are_still_ignored(self):
        entry = two_pairs()
        other = {**SELL, "order_id": "OSOLUS-DSELL-000001", "symbol": "SOL/USD"}
        assert entry.decode_all(executions("update", other)) == ()
        live = {**LIVE, "order_id": "OSOLUS-DSELL-000001"}
        assert entry.decode_all(executions("update", live)) == ()

    def test_open_orders_and_fills_span_the_pairs(self):
        entry = two_pairs()
        btc = sent(entry, submit("b-1", "BTC/USD", 265004, 100_000_000), 10)
        eth = sent(entry, submit("e-1", "ETH/XBT", 5312, 50_000_000), 11)
        btc_id = accept(entry, 10, "OBTCUS-D0000-000001", btc["cl_ord_id"])
        eth_id = accept(entry, 11, "OETHXB-T0000-000001", eth["cl_ord_id"])
        eth_trade = {
            **ETH_TRADE,
            "order_id": "OETHXB-T0000-000001",
            "side": "buy",
            "cum_qty": 0.25,
            "last_price": 0.05312,
        }
        fill = entry.decode(executions("update", eth_trade))
        assert isinstance(fill, OrderFilled)
        assert (fill.instrument, fill.client_order_id, fill.remaining) == (
            "ETH/XBT",
            "e-1",
            25_000_000,
        )
        open_orders = ask(entry, Request.OPEN_ORDERS, 20).result
        assert sorted(open_orders, key=lambda o: o.client_order_id) == [
            VenueOrder(
                order_id=btc_id,
                client_order_id="b-1",
                side=Side.BUY,
                price=265004,
                remaining=100_000_000,
                filled=0,
            ),
            VenueOrder(
                order_id=eth_id,
                client_order_id="e-1",
                side=Side.BUY,
                price=5312,
                remaining=25_000_000,
                filled=25_000_000,
            ),
        ]
        assert ask(entry, Request.FILLS, 21).result == (fill,)

    def test_a_snapshot_s_orders_and_fills_of_both_pairs_are_reconciled(self):
        entry = KrakenOrderEntry("kraken", PAIRS, clock=FakeClock())
        entry.accept_token(token_answer(TOKEN))
        btc = sent(entry, submit("b-1", "BTC/USD", 265004, 100_000_000), 10)
        eth = sent(entry, submit("e-1", "ETH/XBT", 5312, 50_000_000), 11)
        entry.logon(1, KEY, cancel_on_disconnect=False)
        entry.decode(json.dumps({"method": "subscribe", "req_id": 1, "success": True}))
        snapshot = (
            {**SELL, "order_id": "OBTC00-00000-000001", "cl_ord_id": btc["cl_ord_id"]},
            {**ETH_SELL, "order_id": "OETH00-00000-000001", "cl_ord_id": eth["cl_ord_id"]},
            {**ETH_TRADE, "order_id": "OETH00-00000-000001", "cum_qty": 0.25},
        )
        assert entry.decode_all(executions("snapshot", *snapshot)) == ()
        prices = {o.client_order_id: o.price for o in ask(entry, Request.OPEN_ORDERS, 20).result}
        assert prices == {"b-1": 265000, "e-1": 5312}
        (fill,) = ask(entry, Request.FILLS, 21).result
        assert (fill.instrument, fill.client_order_id, fill.price) == ("ETH/XBT", "e-1", 5313)


class TestRateCounterPerPair:
    """Kraken counts each pair on its own (guides/spot-ratelimits): so does the codec."""

    def test_each_pair_has_its_own_counter_named_by_its_symbol(self):
        clock = FakeClock()
        entry = two_pairs(clock)
        for n in range(5):
            sent(entry, submit(f"b-{n}", "BTC/USD", 265004, 100_000_000), 10 + n)
        sent(entry, submit("e-1", "ETH/XBT", 5312, 50_000_000), 20)
        assert entry.venue_rate_limits() == (
            VenueRateLimit(RateKind.ORDERS, 60, 60, used=5, decay=1.0, symbol="BTC/USD"),
            VenueRateLimit(RateKind.ORDERS, 60, 60, used=1, decay=1.0, symbol="ETH/XBT"),
        )
        assert entry.rate_count == entry.rate_count_of("BTC/USD") == 5
        clock.advance(2)
        assert (entry.rate_count_of("BTC/USD"), entry.rate_count_of("ETH/XBT")) == (3, 0)

    def test_a_cancel_counts_on_the_pair_the_order_was_placed_on(self):
        entry = two_pairs()
        sent(entry, submit("e-1", "ETH/XBT", 5312, 50_000_000), 10)
        entry.encode(Request.CANCEL, 11, {"client_order_id": "e-1", "instrument": ""})
        # +1 to place, +8 for a cancel under 5 s: all on ETH/XBT's counter
        assert (entry.rate_count_of("BTC/USD"), entry.rate_count_of("ETH/XBT")) == (0, 9)

    def test_the_stream_s_ratecount_goes_to_its_report_s_pair(self):
        entry = two_pairs()
        eth = sent(entry, submit("e-1", "ETH/XBT", 5312, 50_000_000), 10)
        pending = {**ETH_SELL, "cl_ord_id": eth["cl_ord_id"], "ratecount": 57}
        entry.decode(executions("update", pending))
        live = {**ETH_LIVE, "ratecount": 58}  # no symbol: the order's pair
        entry.decode(executions("update", live))
        btc_limit, eth_limit = entry.venue_rate_limits()
        assert (btc_limit.used, btc_limit.near()) == (0, False)
        assert (eth_limit.used, eth_limit.near()) == (58, True)
        stranger = {**LIVE, "order_id": "NEVERS-EENBE-FORE00", "ratecount": 59}
        entry.decode(executions("update", stranger))  # no pair to tell: not taken
        assert entry.rate_counts_read == 2
