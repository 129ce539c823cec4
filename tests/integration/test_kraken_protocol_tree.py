"""The trading tree against a venue speaking Kraken spot's protocol, over real sockets.

The simulated exchange's Kraken front-end (an independent reading of Kraken's docs)
against the tree with ``[venue] kind = "kraken"``: before every connection the gateway
fetches a WebSocket token with the signed REST ``GetWebSocketsToken`` call, subscribes
to ``executions`` with the token, arms Kraken's dead-man's switch
(``cancel_all_orders_after``), and reconciles from the ``executions`` snapshot. Kraken
spot has no cancel-on-disconnect: a dead session's orders are cancelled by the
dead-man's switch or by the next session's ``cancel_all``, whichever comes first.
Nothing here reaches the real venue.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from trading_helpers import MID, TradingEvents, config_for, gateway_started, still_exchange

from tradeactors.config import Config
from tradeactors.core.messages import (
    GetBook,
    GetReport,
    OrderStatus,
    OrderUpdate,
    Side,
    SubmitOrder,
    TimeInForce,
    VenueStatus,
)
from tradeactors.core.risk import TradingState
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

KRAKEN_SECRET = base64.b64encode(b"kraken-test-secret-" + b"k" * 45).decode()  # as Kraken's
PAIR = "BTC/USDT"  # the emulator's pair (BTCUSDT) as Kraken's WebSocket v2 writes it


@pytest.fixture
def kraken_venue() -> Iterator[SimExchange]:
    """The simulated exchange speaking Kraken, with a still, empty book."""
    with still_exchange(keys={"demo": KRAKEN_SECRET}, protocol="kraken") as exchange:
        yield exchange


@pytest.fixture
def start(
    kraken_venue, monkeypatch
) -> Iterator[Callable[..., tuple[TradingSystem, TradingEvents]]]:
    """Start a tree with ``kind = "kraken"`` at the venue (``execution`` overrides)."""
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", KRAKEN_SECRET)
    systems: list[TradingSystem] = []

    def make(**execution: Any) -> tuple[TradingSystem, TradingEvents]:
        config = config_for(kraken_venue, execution=execution)
        config = msgspec.structs.replace(
            config,
            venue=msgspec.structs.replace(
                config.venue, kind="kraken", symbol=PAIR, tick_size="0.01", lot_size="0.001"
            ),
        )
        system = TradingSystem(config)
        systems.append(system)
        events = TradingEvents()
        system.subscribe(events)
        system.start(timeout=20)
        events.wait_for(VenueStatus, up=True)
        return system, events

    yield make
    for system in systems:
        try:
            running = system.tree.running
        except RuntimeError:  # never started
            continue
        if running:
            system.stop(timeout=10)


@pytest.fixture
def system(start) -> tuple[TradingSystem, TradingEvents]:
    return start()


def test_orders_fills_and_cancels_go_through_kraken_s_protocol(kraken_venue, system):
    system, events = system
    assert kraken_venue.trade_url.endswith("/v2")
    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    assert _resting(kraken_venue) == [(Side.BUY, MID - 300, 5)]

    assert kraken_venue.take(Side.SELL, MID - 300, 2) == 2
    (fill,) = events.wait_for(OrderUpdate, client_order_id=cid, fill_quantity=2)
    assert (fill.status, fill.filled, fill.fill_price) == (
        OrderStatus.PARTIALLY_FILLED,
        2,
        MID - 300,
    )
    assert isinstance(fill.execution_id, str)  # Kraken's execution id (``exec_id``)
    assert system.orders().positions[PAIR] == 2 == kraken_venue.position("demo")

    system.cancel(cid)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.CANCELLED)
    assert kraken_venue.open_orders("demo") == []
    summary = system.stop(timeout=10)  # asks the venue over a session (and token) of its own
    assert summary.open_at_venue == 0
    assert summary.clean


def test_a_dead_gateway_s_orders_are_cancelled_by_the_dead_man_s_switch_or_the_next_session(
    kraken_venue, system
):
    """No cancel-on-disconnect at Kraken spot: ``cancel_all_orders_after`` (armed by every
    session) or the new session's ``cancel_all`` cancels what the dead session left."""
    system, events = system
    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    restarted = gateway_started(system, 2)
    assert system.tree.faults(system.gateway_path).kill()
    events.wait_for(VenueStatus, up=False)
    assert restarted.wait(10)
    events.wait_for(VenueStatus, count=2, up=True)  # a new token, logged on, reconciled
    assert system.wait_for_no_open_orders(10)
    assert kraken_venue.open_orders("demo") == []
    (order,) = system.orders().orders
    assert (order.client_order_id, order.status) == (cid, OrderStatus.CANCELLED)

    # trading resumes on the new session; a stop leaves nothing open
    again = resting_buy(system, quantity=1)
    events.wait_for(OrderUpdate, client_order_id=again, status=OrderStatus.ACCEPTED)
    summary = system.stop(timeout=10)
    assert kraken_venue.open_orders("demo") == []
    assert summary.open_at_venue == 0
    assert summary.clean


def test_the_dead_man_s_switch_cancels_a_dead_session_s_orders_before_anyone_reconnects(
    kraken_venue, start
):
    """The gateway arms ``cancel_all_orders_after`` (1 s here) and refreshes it; killed,
    it stops refreshing, and Kraken cancels the account's orders by itself."""
    system, events = start(
        cancel_all_after=1.0, refresh=0.2, restart_delay=4.0, max_restart_delay=4.0
    )
    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    restarted = gateway_started(system, 2)
    assert system.tree.faults(system.gateway_path).kill()
    assert kraken_venue.wait_until(lambda: not kraken_venue.engine.open_orders("demo"), 3.5)
    assert not restarted.is_set()  # nobody was connected: the venue's own timer did it
    assert restarted.wait(10)
    events.wait_for(VenueStatus, count=2, up=True)
    assert system.wait_for_no_open_orders(10)
    (order,) = system.orders().orders
    assert (order.client_order_id, order.status) == (cid, OrderStatus.CANCELLED)
    assert system.stop(timeout=10).clean


def test_a_fill_lost_before_a_silence_is_found_by_re_reading_the_executions_snapshot(
    kraken_venue, system
):
    """Kraken's reports carry no fill watermark: a fill whose report is lost, with nothing
    after it, shows at no later message. A second of silence while an order is open and
    the gateway re-reads the ``executions`` snapshot, in the same session."""
    system, events = system
    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    kraken_venue.mute_reports("demo")
    assert kraken_venue.take(Side.SELL, MID - 300, 5) == 5
    kraken_venue.mute_reports("demo", muted=False)
    (fill,) = events.wait_for(
        OrderUpdate, client_order_id=cid, status=OrderStatus.FILLED, timeout=5
    )
    assert (fill.fill_quantity, fill.fill_price) == (5, MID - 300)
    assert system.orders().positions[PAIR] == 5 == kraken_venue.position("demo")
    assert events.of(VenueStatus, up=False) == []  # no new session was needed
    assert system.stop(timeout=10).clean


def test_an_order_placed_and_cancelled_while_its_reports_are_lost_is_followed_all_the_same(
    kraken_venue, system
):
    """``add_order``'s answer acknowledges the order (its ``new`` is lost); the cancel's
    report is lost too, and the re-read finds the order no longer open."""
    system, events = system
    kraken_venue.mute_reports("demo")
    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    system.cancel(cid)
    assert kraken_venue.wait_until(lambda: not kraken_venue.engine.open_orders("demo"), 5)
    kraken_venue.mute_reports("demo", muted=False)
    (cancelled,) = events.wait_for(
        OrderUpdate, client_order_id=cid, status=OrderStatus.CANCELLED, timeout=5
    )
    assert cancelled.reason == "not open at the venue (executions snapshot)"
    assert system.orders().open_orders == 0
    assert events.of(VenueStatus, up=False) == []
    assert system.stop(timeout=10).clean


def test_a_re_read_left_unanswered_counts_as_a_lost_link(kraken_venue, system, monkeypatch):
    """The re-read's ``subscribe`` is lost, answer and snapshot: the gateway's reports
    have no source. Like an unanswered heartbeat, the link counts as lost; the next
    session cancels all and reconciles."""
    system, events = system
    api = kraken_venue.orders
    subscribe = api._subscribe_executions
    lost = threading.Event()

    def lose_once(call: Any) -> None:
        if lost.is_set():
            subscribe(call)
        lost.set()

    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    monkeypatch.setattr(api, "_subscribe_executions", lose_once)
    (down,) = events.wait_for(VenueStatus, up=False, timeout=10)
    assert lost.is_set()
    assert "no answer to the fills request" in down.reason
    events.wait_for(VenueStatus, count=2, up=True)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.CANCELLED)
    assert kraken_venue.open_orders("demo") == []
    assert system.stop(timeout=10).clean


def test_with_no_trade_url_the_embedded_exchange_speaks_kraken_and_the_tree_trades_its_book(
    monkeypatch,
):
    """Market data and order entry both from the emulator's WebSocket v2: the book
    arrives (the kill switch watches it for staleness), a buy at its best ask fills."""
    monkeypatch.delenv("TRADEACTORS_SIM_SECRET", raising=False)  # a fresh random secret
    config = msgspec.convert(
        {
            "venue": {"kind": "kraken", "symbol": PAIR, "step_interval": 0.01},
            "strategy": {"name": "none"},
            "killswitch": {"stale_after": 2.0},  # the book must keep coming
        },
        Config,
    )
    system = TradingSystem(config)
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    try:
        events.wait_for(VenueStatus, up=True)
        exchange = system.exchange
        assert exchange is not None
        assert exchange.protocol == "kraken"
        assert system.trade_url == exchange.trade_url == exchange.ws_url  # both at /v2
        assert system.trade_url.endswith("/v2")
        book = system.tree.address(system.paths.book("sim", PAIR))
        deadline = time.monotonic() + 10
        view = book.ask(GetBook(depth=1), timeout=5)
        while not view.asks:  # synced from the book channel's snapshot
            assert time.monotonic() < deadline, "no book from Kraken's book channel"
            view = book.ask(GetBook(depth=1), timeout=5)
        price = view.asks[0][0] + 50  # the market moves: a little above its best ask
        cid = system.new_order_id()
        system.submit(
            SubmitOrder(
                client_order_id=cid, venue="sim", instrument=PAIR, side=Side.BUY,
                price=price, quantity=1, tif=TimeInForce.IOC,
            )
        )  # fmt: skip
        (fill,) = events.wait_for(OrderUpdate, client_order_id=cid, fill_quantity=1)
        assert fill.fill_price <= price
        assert system.orders().positions[PAIR] == 1 == exchange.position(system.account)
        report = book.ask(GetReport(), timeout=5)
        assert report.synced
        assert report.checksum_matched > 0
        assert report.checksum_mismatched == 0
        assert system.gate.state is TradingState.ACTIVE  # the book was never stale
    finally:
        summary = system.stop(timeout=10)
    assert summary.open_at_venue == 0  # asked over a session with a token of its own
    assert summary.clean


def test_new_orders_stop_as_the_venue_s_rate_counter_nears_its_threshold(kraken_venue, system):
    """Another client of the account spent most of the pair's trading rate counter: the
    ``executions`` stream says so (``ratecount``), and the next order is throttled before
    the venue would refuse it (``EOrder:Rate limit exceeded``); cancels still go.
    """
    system, events = system
    kraken_venue.spend_rate_count("demo", 120)  # of the emulator's 125 (Kraken Intermediate)
    first = resting_buy(system)
    events.wait_for(OrderUpdate, client_order_id=first, status=OrderStatus.ACCEPTED)
    # a report after add_order's answer: the reader has its ``ratecount`` before the fill
    assert kraken_venue.take(Side.SELL, MID - 300, 1) == 1
    events.wait_for(OrderUpdate, client_order_id=first, fill_quantity=1)

    second = resting_buy(system)
    (refused,) = events.wait_for(OrderUpdate, client_order_id=second, status=OrderStatus.REJECTED)
    assert refused.reason == "throttled"  # by the gateway: 121 of 125, within a tenth
    assert kraken_venue.requests("demo", "place") == 1  # never sent: the venue refused none

    system.cancel(first)
    events.wait_for(OrderUpdate, client_order_id=first, status=OrderStatus.CANCELLED)
    assert kraken_venue.open_orders("demo") == []
    assert system.stop(timeout=10).clean


def resting_buy(system: TradingSystem, quantity: int = 5) -> str:
    """A buy 300 ticks under the mid (nobody sells there); returns its id."""
    client_order_id = system.new_order_id()
    system.submit(
        SubmitOrder(
            client_order_id=client_order_id,
            venue="sim",
            instrument=PAIR,
            side=Side.BUY,
            price=MID - 300,
            quantity=quantity,
        )
    )
    return client_order_id


def _resting(venue: SimExchange) -> list[tuple[Side, int, int]]:
    """The account's orders at the venue (the emulator's own ids are internal)."""
    return [(o.side, o.price, o.remaining) for o in venue.open_orders("demo")]
