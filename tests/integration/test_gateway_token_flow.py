"""Kraken's flow, venue-independently: a token fetched over REST before every connection,
and frames that carry several reports.

fakex with ``tokens=True`` (fake_venue.py, kind ``fake-token``) works like Kraken: its
``auth`` needs a session token from ``POST /session``, good for one connection; it has no
cancel-on-disconnect; and a request's reports come in one frame with its reply. The
gateway names no venue: it makes the codec's `OrderEntry.session_request` call itself,
and forwards every item of a frame, in order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import structlog
from fake_venue import FAKE_TOKEN_ADAPTER, FakeOrderEntry, FakeVenue, TokenFakeOrderEntry
from trading_helpers import TradingEvents, gateway_started

from tradeactors.config import (
    Config,
    ExecutionConfig,
    KillSwitchConfig,
    RiskConfig,
    StrategyConfig,
    VenueConfig,
)
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import (
    OrderStatus,
    OrderUpdate,
    Side,
    SubmitOrder,
    TimeInForce,
    VenueStatus,
)
from tradeactors.errors import ChildStartError, VenueLogonRefusedError, VenueRequestError
from tradeactors.trading.system import TradingSystem
from tradeactors.venues import adapter as adapter_module
from tradeactors.venues.adapter import (
    Credentials,
    open_orders_at_venue,
    prepare_session,
    register_venue,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.supervision

VENUE = "tokenx"
SYMBOL = "BTCUSDT"
INSTRUMENT = Instrument(venue=VENUE, symbol=SYMBOL, tick_size="0.01", lot_size="0.001")
MID = 100_000  # ticks
API_KEY = "token-key"
SECRET = "token-secret-" + "t" * 20
SECRET_ENV = "TRADEACTORS_TOKEN_VENUE_SECRET"


@pytest.fixture
def venue() -> Iterator[FakeVenue]:
    with FakeVenue(INSTRUMENT, {API_KEY: SECRET}, mid=MID, tokens=True) as fake:
        yield fake


@pytest.fixture
def start(venue, monkeypatch) -> Iterator[Callable[..., tuple[TradingSystem, TradingEvents]]]:
    """Start a tree at ``venue`` (kind ``fake-token``, registered for this test only)."""
    monkeypatch.setattr(adapter_module, "_registered", dict(adapter_module._registered))
    register_venue(FAKE_TOKEN_ADAPTER)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    systems: list[TradingSystem] = []

    def make(**execution: Any) -> tuple[TradingSystem, TradingEvents]:
        system = TradingSystem(_config(venue, **execution))
        systems.append(system)
        events = TradingEvents()
        system.subscribe(events)
        system.start(timeout=20)
        return system, events

    yield make
    for system in systems:
        try:
            running = system.tree.running
        except RuntimeError:  # never started
            continue
        if running:
            system.stop(timeout=10)


def _config(venue: FakeVenue, **execution: Any) -> Config:
    return Config(
        venue=VenueConfig(
            kind="fake-token",
            name=VENUE,
            symbol=SYMBOL,
            tick_size="0.01",
            lot_size="0.001",
            api_key=API_KEY,
            secret_env=SECRET_ENV,
            trade_url=venue.trade_url,
            stream_url=venue.stream_url,
            rest_url=venue.rest_url,
        ),
        strategy=StrategyConfig(name="none"),
        killswitch=KillSwitchConfig(stale_after=None),
        execution=ExecutionConfig(
            restart_delay=0.01,
            max_restart_delay=0.05,
            intensity=20,
            reconnect_delay=0.01,
            max_reconnect_delay=0.05,
            **execution,
        ),
        risk=RiskConfig(
            price_collar_bps=None,
            max_messages=None,
            max_open_orders=None,
            max_loss=None,
            max_denials=None,
        ),
    )


def _order(
    system: TradingSystem,
    *,
    quantity: int = 5,
    price: int = MID - 300,
    tif: TimeInForce = TimeInForce.GTC,
) -> str:
    client_order_id = system.new_order_id()
    system.submit(
        SubmitOrder(
            client_order_id=client_order_id,
            venue=VENUE,
            instrument=SYMBOL,
            side=Side.BUY,
            price=price,
            quantity=quantity,
            tif=tif,
        )
    )
    return client_order_id


class TestTheTokenBeforeEveryConnection:
    """The codec's REST call is made before every connection, and its token used once."""

    def test_a_fresh_token_opens_every_session_also_after_a_reconnect(self, venue, start):
        system, events = start()
        events.wait_for(VenueStatus, up=True, venue=VENUE)
        assert (venue.token_requests, venue.tokens_used, venue.logons) == (1, 1, 1)

        # an order rests; the gateway dies: no cancel-on-disconnect here, so the order
        # waits for the next session, whose logon needs a token of its own
        resting = _order(system)
        events.wait_for(OrderUpdate, client_order_id=resting, status=OrderStatus.ACCEPTED)
        restarted = gateway_started(system, 2)
        assert system.tree.faults(system.gateway_path).kill()
        events.wait_for(VenueStatus, up=False, venue=VENUE)
        assert restarted.wait(10)
        events.wait_for(VenueStatus, count=2, up=True, venue=VENUE)
        assert (venue.token_requests, venue.tokens_used, venue.logons) == (2, 2, 2)
        assert venue.auth_failures == 0  # the used token was never offered again

        # the new session's cancel-all cancelled it (its report came in the reply's frame)
        assert (resting, "user") in venue.cancellations
        assert venue.open_orders() == []
        assert system.wait_for_no_open_orders(5.0)

        # the stop asks the venue what is left over a session of its own: a third token
        summary = system.stop(timeout=10)
        assert summary.open_at_venue == 0
        assert summary.clean
        assert (venue.token_requests, venue.tokens_used) == (3, 3)

    def test_a_refused_token_is_one_clear_error_and_nothing_is_retried(
        self, venue, start, monkeypatch
    ):
        monkeypatch.setenv(SECRET_ENV, "the-wrong-secret-" + "w" * 20)
        with pytest.raises(ChildStartError) as failed:
            start()
        refused = failed.value.__cause__
        while refused is not None and not isinstance(refused, VenueLogonRefusedError):
            refused = refused.__cause__
        assert isinstance(refused, VenueLogonRefusedError)
        assert str(refused).startswith(
            f"venue {VENUE} refused the logon of API key '{API_KEY}': auth_failed "
            "(session: bad key or signature)"
        )
        assert refused.__cause__ is None  # one line says it all (`tradeactors run`)
        assert "w" * 20 not in str(failed.value)
        # the venue said no: the gateway neither spun nor connected
        assert venue.token_requests == 1
        assert (venue.logons, venue.methods, venue.sessions()) == (0, [], 0)

    def test_an_unreachable_token_endpoint_is_a_venue_down_and_tried_again(self, venue, start):
        # an HTTP error, a dropped link, and an answer that is not one; then a token
        venue.fail_sessions.extend([503, "drop", "garbage"])
        with structlog.testing.capture_logs() as logs:
            system, events = start()
            (down,) = events.wait_for(VenueStatus, up=False, venue=VENUE)
            events.wait_for(VenueStatus, up=True, venue=VENUE)
        assert "HTTP 503" in down.reason
        assert f"{venue.rest_url}/session" in down.reason
        assert (venue.token_requests, venue.tokens_used, venue.logons) == (4, 1, 1)
        assert system.tree.stats(system.gateway_path).restarts == 0  # not a failure
        unreachable = [e for e in logs if e["event"] == "venue_unreachable"]
        assert [e["attempt"] for e in unreachable] == [1, 2, 3]
        assert "not an answer" in unreachable[2]["error"]
        shown = repr(logs)
        assert venue.issued[0] not in shown  # neither the token ...
        assert "X-Sig" not in shown  # ... nor the request's headers are ever logged

        # trading works; and a later outage of the endpoint is one more venue down
        resting = _order(system)
        events.wait_for(OrderUpdate, client_order_id=resting, status=OrderStatus.ACCEPTED)
        venue.fail_sessions.append(502)
        restarted = gateway_started(system, 2)
        assert system.tree.faults(system.gateway_path).kill()
        assert restarted.wait(10)
        events.wait_for(VenueStatus, count=2, up=True, venue=VENUE)
        assert (venue.token_requests, venue.tokens_used) == (6, 2)
        assert system.wait_for_no_open_orders(5.0)
        assert system.stop(timeout=10).clean


class TestSeveralReportsInOneFrame:
    """Every item of a frame reaches the order manager, in the frame's order."""

    def test_fills_in_one_frame_are_applied_in_order(self, venue, start):
        system, events = start()
        events.wait_for(VenueStatus, up=True, venue=VENUE)
        order = _order(system, quantity=5)
        events.wait_for(OrderUpdate, client_order_id=order, status=OrderStatus.ACCEPTED)

        fills = venue.trade_against_in_one_frame(order, 1, 2, 2)
        assert [f["fid"] for f in fills] == ["X-1", "X-2", "X-3"]
        events.wait_for(OrderUpdate, client_order_id=order, status=OrderStatus.FILLED)
        updates = [u for u in events.of(OrderUpdate, client_order_id=order) if u.fill_quantity]
        assert [(u.execution_id, u.fill_quantity, u.filled, u.status) for u in updates] == [
            (1, 1, 1, OrderStatus.PARTIALLY_FILLED),
            (2, 2, 3, OrderStatus.PARTIALLY_FILLED),
            (3, 2, 5, OrderStatus.FILLED),
        ]
        report = system.orders()
        assert (report.fills, report.duplicate_fills, report.positions[SYMBOL]) == (3, 0, 5)

    def test_an_ioc_s_acceptance_and_cancel_come_with_the_reply_and_are_applied_in_order(
        self, venue, start
    ):
        system, events = start()
        events.wait_for(VenueStatus, up=True, venue=VENUE)
        order = _order(system, tif=TimeInForce.IOC)
        events.wait_for(OrderUpdate, client_order_id=order, status=OrderStatus.CANCELLED)
        statuses = [u.status for u in events.of(OrderUpdate, client_order_id=order)]
        assert statuses[-2:] == [OrderStatus.ACCEPTED, OrderStatus.CANCELLED]
        assert (order, "ioc") in venue.cancellations
        assert system.orders().open_orders == 0


class TestPrepareSession:
    """`prepare_session` on its own: what a venue's answer means."""

    def test_a_codec_without_a_session_call_makes_none(self, venue):
        codec = FakeOrderEntry(VENUE, INSTRUMENT)
        assert not prepare_session(codec, Credentials(API_KEY, SECRET), venue.rest_url, timeout=5)
        assert venue.token_requests == 0

    def test_a_redirect_is_not_followed(self, venue):
        codec = TokenFakeOrderEntry(VENUE, INSTRUMENT)
        venue.fail_sessions.append("redirect")  # to /session again: following would pass
        with pytest.raises(OSError, match="HTTP 307"):
            prepare_session(codec, Credentials(API_KEY, SECRET), venue.rest_url, timeout=5)
        assert venue.token_requests == 1

    @pytest.mark.parametrize("status", [429, 500])
    def test_an_http_error_without_a_refusal_is_the_venue_down(self, venue, status):
        codec = TokenFakeOrderEntry(VENUE, INSTRUMENT)
        venue.fail_sessions.append(status)
        with pytest.raises(OSError, match=f"HTTP {status}"):
            prepare_session(codec, Credentials(API_KEY, SECRET), venue.rest_url, timeout=5)

    def test_a_refusal_is_the_venue_s_reason(self, venue):
        codec = TokenFakeOrderEntry(VENUE, INSTRUMENT)
        with pytest.raises(VenueRequestError) as refused:
            prepare_session(codec, Credentials(API_KEY, "wrong"), venue.rest_url, timeout=5)
        assert (refused.value.op, refused.value.code) == ("session", "auth_failed")

    def test_open_orders_at_venue_opens_its_session_with_a_token(self, venue):
        codec = TokenFakeOrderEntry(VENUE, INSTRUMENT)
        credentials = Credentials(API_KEY, SECRET)
        orders = open_orders_at_venue(
            codec, venue.trade_url, credentials, timeout=5, rest_url=venue.rest_url
        )
        assert orders == ()
        assert (venue.token_requests, venue.tokens_used, venue.logons) == (1, 1, 1)
