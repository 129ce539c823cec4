"""Amends end to end over real loopback sockets, for each protocol the tree speaks.

The tree (risk, order manager, gateway with the venue's codec) against the simulated
exchange speaking the simulator's own protocol, Binance's (``order.amend.keepPriority``
and ``order.cancelReplace``) and Kraken's (``amend_order``). Queue priority is checked
against another account's order at the same price: a lower quantity keeps the place,
a new price loses it. Nothing here reaches a real venue.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from trading_helpers import MID, SECRET, SYMBOL, TradingEvents, config_for, still_exchange

from tradeactors.core.messages import (
    AmendOrder,
    AmendOutcome,
    OrderStatus,
    OrderUpdate,
    Side,
    SubmitOrder,
    VenueStatus,
)
from tradeactors.exchange.matching import TimeInForce
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

KRAKEN_SECRET = base64.b64encode(b"kraken-test-secret-" + b"k" * 45).decode()
PRICE = MID - 300  # nobody sells there unless a test makes it
# What each protocol answers to more quantity at the same price: the simulator's protocol
# cannot (the gateway refuses it unsent), Binance does it as a cancel-replace, the
# Kraken emulator refuses it (Kraken allows it; the emulator does not emulate it).
INCREASE = {
    "sim": (AmendOutcome.REJECTED, "amend_quantity_increase"),
    "binance": (AmendOutcome.AMENDED, "amended"),
    "kraken": (AmendOutcome.REJECTED, "bad_request"),
}


@pytest.fixture(params=["sim", "binance", "kraken"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def venue(protocol: str) -> Iterator[SimExchange]:
    secret = KRAKEN_SECRET if protocol == "kraken" else SECRET
    with still_exchange(keys={"demo": secret}, protocol=protocol) as exchange:
        yield exchange


@pytest.fixture
def system(
    venue: SimExchange, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TradingSystem, TradingEvents]]:
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", KRAKEN_SECRET if protocol == "kraken" else SECRET)
    config = config_for(venue, risk={"max_order_quantity": 50})
    symbol = "BTC/USDT" if protocol == "kraken" else SYMBOL
    config = msgspec.structs.replace(
        config, venue=msgspec.structs.replace(config.venue, kind=protocol, symbol=symbol)
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


def _buy(system: TradingSystem, events: TradingEvents, price: int, quantity: int) -> str:
    cid = system.new_order_id()
    system.submit(
        SubmitOrder(
            client_order_id=cid,
            venue="sim",
            instrument=system.config.venue.symbol,
            side=Side.BUY,
            price=price,
            quantity=quantity,
        )
    )
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    return cid


def _amend(
    system: TradingSystem, events: TradingEvents, cid: str, count: int = 1, **change: Any
) -> OrderUpdate:
    system.amend(AmendOrder(client_order_id=cid, **change))
    outcomes = [
        u for u in events.wait_for(OrderUpdate, count, client_order_id=cid) if u.amend is not None
    ]
    while len(outcomes) < count:
        everything = events.wait_for(OrderUpdate, len(events.of(OrderUpdate)) + 1)
        outcomes = [u for u in everything if u.client_order_id == cid and u.amend is not None]
    update: OrderUpdate = outcomes[count - 1]
    return update


def _rest_other(venue: SimExchange, price: int, quantity: int) -> None:
    """Another account's buy resting at ``price`` (behind whatever rests there already)."""
    with venue._lock:
        venue.engine.submit(
            account="other",
            client_order_id=f"other-{price}-{quantity}",
            instrument=venue.instrument.symbol,
            side=Side.BUY,
            quantity=quantity,
            price=price,
            tif=TimeInForce.GTC,
        )


def _resting(venue: SimExchange, account: str = "demo") -> list[tuple[int, int]]:
    return [(o.price, o.remaining) for o in venue.open_orders(account)]


def test_amend_down_keeps_the_queue_place_and_a_new_price_loses_it(venue, system, protocol):
    system, events = system
    cid = _buy(system, events, PRICE, 5)
    _rest_other(venue, PRICE, 5)

    down = _amend(system, events, cid, quantity=3)
    assert (down.amend, down.quantity, down.price, down.status) == (
        AmendOutcome.AMENDED,
        3,
        PRICE,
        OrderStatus.ACCEPTED,
    )
    assert _resting(venue) == [(PRICE, 3)]
    # still ahead of the other account's order: a seller at the price fills ours first
    assert venue.take(Side.SELL, PRICE, 2) == 2
    (fill,) = events.wait_for(OrderUpdate, client_order_id=cid, fill_quantity=2)
    assert (fill.filled, fill.quantity, fill.status) == (2, 3, OrderStatus.PARTIALLY_FILLED)
    assert _resting(venue, "other") == [(PRICE, 5)]

    up = _amend(system, events, cid, count=2, price=PRICE + 1)
    assert (up.amend, up.price, up.quantity, up.filled) == (AmendOutcome.AMENDED, PRICE + 1, 3, 2)
    assert _resting(venue) == [(PRICE + 1, 1)]
    assert venue.take(Side.SELL, PRICE + 1, 1) == 1
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.FILLED)
    assert system.orders().positions[system.config.venue.symbol] == 3 == venue.position("demo")

    # back to the old price: now behind the other account's order there
    second = _buy(system, events, PRICE - 1, 2)
    moved = _amend(system, events, second, price=PRICE)
    assert moved.amend is AmendOutcome.AMENDED
    assert venue.take(Side.SELL, PRICE, 5) == 5
    assert _resting(venue, "other") == []
    assert _resting(venue) == [(PRICE, 2)]  # untouched: it lost its place
    report = system.orders()
    assert report.inconsistencies == 0
    assert report.open_orders == 1


def test_an_amend_the_venue_refuses_leaves_the_order_as_it_was(venue, system, protocol):
    system, events = system
    cid = _buy(system, events, PRICE, 5)
    outcome, reason = INCREASE[protocol]
    update = _amend(system, events, cid, quantity=8)
    assert (update.amend, update.reason) == (outcome, reason)
    expected = 8 if outcome is AmendOutcome.AMENDED else 5
    assert update.quantity == expected
    assert _resting(venue) == [(PRICE, expected)]
    # risk checks the amended order as a new one: past its limit, it never leaves
    denied = _amend(system, events, cid, count=2, quantity=60)
    assert (denied.amend, denied.reason) == (AmendOutcome.DENIED, "max_order_quantity")
    assert (denied.quantity, denied.status) == (expected, OrderStatus.ACCEPTED)
    assert _resting(venue) == [(PRICE, expected)]
    assert system.orders().inconsistencies == 0


def test_an_amend_racing_a_fill_is_refused_and_the_fill_still_counts(venue, system):
    system, events = system
    cid = _buy(system, events, PRICE, 5)
    venue.mute_reports("demo")  # the fill's report is lost: the amend is sent after it
    assert venue.take(Side.SELL, PRICE, 5) == 5
    venue.mute_reports("demo", muted=False)
    refused = _amend(system, events, cid, price=PRICE + 2)
    assert (refused.amend, refused.reason) == (AmendOutcome.REJECTED, "unknown_order")
    # the order manager fetches the fills it missed (Kraken: the gateway re-reads the
    # executions snapshot, in the same session): the order ends filled, never cancelled
    (filled,) = events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.FILLED)
    assert filled.fill_quantity == 5
    assert events.of(OrderUpdate, client_order_id=cid, status=OrderStatus.CANCELLED) == []
    assert system.orders().positions[system.config.venue.symbol] == 5 == venue.position("demo")
    assert _resting(venue) == []
