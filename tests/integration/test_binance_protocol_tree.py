"""The trading tree against a venue speaking Binance spot's protocol, over real sockets.

The simulated exchange's Binance front-end (an independent reading of Binance's docs,
checked with Binance's own SDK) against the tree with ``[venue] kind = "binance"``:
the gateway's Binance codec signs every request, subscribes to the user data stream,
takes the server's time before logging on, and reconciles with ``openOrders.status``
and ``myTrades``. Binance spot has no cancel-on-disconnect: a dead session's orders
stay working until the next session cancels them. Nothing here reaches the real venue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import pytest
from trading_helpers import (
    MID,
    SECRET,
    SYMBOL,
    TradingEvents,
    config_for,
    gateway_started,
    resting_buy,
    still_exchange,
)

from tradeactors.core.messages import OrderStatus, OrderUpdate, Side, VenueStatus
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision


@pytest.fixture
def binance_venue() -> Iterator[SimExchange]:
    """The simulated exchange speaking Binance, with a still, empty book."""
    with still_exchange(protocol="binance") as exchange:
        yield exchange


@pytest.fixture
def system(binance_venue, monkeypatch) -> Iterator[tuple[TradingSystem, TradingEvents]]:
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    config = config_for(binance_venue)
    config = msgspec.structs.replace(
        config, venue=msgspec.structs.replace(config.venue, kind="binance")
    )
    system = TradingSystem(config)
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    try:
        events.wait_for(VenueStatus, up=True)
        yield system, events
    finally:
        if system.tree.running:
            system.stop(timeout=10)


def test_orders_fills_and_cancels_go_through_binance_s_protocol(binance_venue, system):
    system, events = system
    assert binance_venue.trade_url.endswith("/ws-api/v3")
    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    assert _resting(binance_venue) == [(Side.BUY, MID - 300, 5)]

    assert binance_venue.take(Side.SELL, MID - 300, 2) == 2
    (fill,) = events.wait_for(OrderUpdate, client_order_id=cid, fill_quantity=2)
    assert (fill.status, fill.filled, fill.fill_price) == (
        OrderStatus.PARTIALLY_FILLED,
        2,
        MID - 300,
    )
    assert isinstance(fill.execution_id, int)  # Binance's trade id (`t`)
    assert system.orders().positions[SYMBOL] == 2 == binance_venue.position("demo")

    system.cancel(cid)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.CANCELLED)
    assert binance_venue.open_orders("demo") == []
    summary = system.stop(timeout=10)
    assert summary.open_at_venue == 0
    assert summary.clean


def test_a_dead_gateway_s_orders_stay_at_binance_until_the_next_session_cancels_them(
    binance_venue, system
):
    """No cancel-on-disconnect at Binance spot: the new session's cancel-all does it, and
    the fill the venue made meanwhile comes back through myTrades (nothing applied twice).
    """
    system, events = system
    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    restarted = gateway_started(system, 2)
    assert system.tree.faults(system.gateway_path).kill()
    events.wait_for(VenueStatus, up=False)
    # the venue still works the order: it trades while nobody listens
    assert _resting(binance_venue) == [(Side.BUY, MID - 300, 5)]
    assert binance_venue.take(Side.SELL, MID - 300, 3) == 3
    assert restarted.wait(10)
    events.wait_for(VenueStatus, count=2, up=True)  # reconnected and reconciled
    assert system.wait_for_no_open_orders(10)
    assert binance_venue.open_orders("demo") == []  # cancelled by the new session
    report = system.orders()
    assert report.positions[SYMBOL] == 3 == binance_venue.position("demo")
    assert (report.fills, report.duplicate_fills) == (1, 0)
    (order,) = report.orders
    assert (order.filled, order.status) == (3, OrderStatus.CANCELLED)
    assert system.stop(timeout=10).clean


def test_an_order_whose_new_report_is_unreadable_is_acknowledged_by_the_place_reply(
    binance_venue, system
):
    """The NEW report garbled: ``order.place``'s reply says the order is live, so it can be
    cancelled in the same session (before, it stayed pending until a reconnect).
    """
    system, events = system
    binance_venue.garble_reports("demo", 1)  # the next report: the order's NEW
    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    assert binance_venue.orders.garbled["demo"] == 0  # the NEW went out unreadable
    assert _resting(binance_venue) == [(Side.BUY, MID - 300, 5)]

    system.cancel(cid)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.CANCELLED)
    assert binance_venue.open_orders("demo") == []
    assert system.tree.stats(system.gateway_path).restarts == 0
    assert events.of(VenueStatus, up=False) == []  # the same session throughout
    # one acceptance only
    assert len(events.of(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)) == 1
    summary = system.stop(timeout=10)
    assert summary.open_at_venue == 0
    assert summary.clean


def _resting(venue: SimExchange) -> list[tuple[Side, int, int]]:
    """The account's orders at the venue (the emulator's own ids are internal)."""
    return [(o.side, o.price, o.remaining) for o in venue.open_orders("demo")]
