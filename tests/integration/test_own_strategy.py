"""A user's own strategy class in the live tree: `TradingSystem(strategy=...)` (both runtimes).

The class is built afresh for each incarnation of its actor: a restart after a crash
starts from the parameters, and the predecessor's orders are cancelled first.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

import pytest
from trading_helpers import MID, SECRET, TradingEvents, config_for

from tradeactors import Side, Strategy
from tradeactors.core.messages import OrderUpdate, VenueStatus
from tradeactors.errors import StrategyLoadError
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from tradeactors import StrategyContext
    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

PATH = "strategies/resting_bid/strategy"


class RestingBid(Strategy):
    """Rests one bid far below the (empty) market at start; its first incarnation
    crashes on a timer after its bid is accepted."""

    built: list[RestingBid]  # every instance, in order (set per test)

    def __init__(self, *, offset: int = 500, crash_first: bool = True) -> None:
        self.offset = offset
        self.crash_first = crash_first
        self.accepted: list[str] = []
        self.incarnation = len(self.built) + 1
        self.built.append(self)

    def on_start(self, ctx: StrategyContext) -> None:
        ctx.submit(side=Side.BUY, price=MID - self.offset - self.incarnation, quantity=1)

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        if update.status == "accepted":
            self.accepted.append(update.client_order_id)
            if self.crash_first and self.incarnation == 1:
                ctx.set_timer("crash", 0.0)

    def on_timer(self, ctx: StrategyContext, name: str) -> None:
        raise RuntimeError("the first incarnation crashes")


@pytest.fixture
def system_for(sim_venue: SimExchange, monkeypatch):
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    monkeypatch.setattr(RestingBid, "built", [], raising=False)
    systems: list[TradingSystem] = []

    def make(strategy: object) -> tuple[TradingSystem, TradingEvents]:
        system = TradingSystem(config_for(sim_venue), strategy=strategy)
        events = TradingEvents()
        system.subscribe(events)
        systems.append(system)
        system.start(timeout=20)
        events.wait_for(VenueStatus, up=True)
        return system, events

    yield make
    for system in systems:
        if system.tree.running:
            system.stop(timeout=10)


def test_a_restarted_strategy_is_a_fresh_instance_and_its_predecessors_orders_are_cancelled(
    system_for, sim_venue
):
    system, events = system_for(functools.partial(RestingBid, offset=300))
    assert system.strategy_path == PATH  # named after the class
    # one bid per incarnation (ids from the events: the strategy may see its update later)
    bids = [u.client_order_id for u in events.wait_for(OrderUpdate, count=2, status="accepted")]
    first, second = RestingBid.built
    assert first is not second
    assert second.incarnation == 2  # built from its parameters, not from the first's state
    assert second.offset == 300
    (child,) = system.tree.children("strategies/resting_bid")
    assert (child.incarnation, child.restarts) == (2, 1)
    # the first one's bid was cancelled when the second started; the second's rests
    assert first.accepted == bids[:1]  # it crashed only after seeing its bid accepted
    events.wait_for(OrderUpdate, client_order_id=bids[0], status="cancelled")
    assert [o.client_order_id for o in sim_venue.open_orders("demo")] == bids[1:]
    summary = system.stop(timeout=10)
    assert summary.clean
    assert summary.open_at_venue == 0


def test_a_class_is_built_with_no_arguments_and_named_in_snake_case(system_for, sim_venue):
    system, events = system_for(RestingBid)
    events.wait_for(OrderUpdate, count=2, status="accepted")
    assert [bid.offset for bid in RestingBid.built] == [500, 500]
    assert system.stop(timeout=10).open_at_venue == 0


class TestRefused:
    """What the live tree refuses before anything starts."""

    def test_an_instance_because_a_restart_would_inherit_its_state(self, sim_venue):
        RestingBid.built = []
        with pytest.raises(StrategyLoadError, match="an instance of RestingBid, not its class"):
            TradingSystem(config_for(sim_venue), strategy=RestingBid())

    def test_a_class_without_the_callbacks(self, sim_venue):
        class NotAStrategy:
            def on_book(self, ctx: object, view: object) -> None: ...

        with pytest.raises(StrategyLoadError, match="has no on_start, on_trade, on_order_upd"):
            TradingSystem(config_for(sim_venue), strategy=NotAStrategy)

    def test_a_class_that_needs_arguments(self, sim_venue):
        class NeedsSize(Strategy):
            def __init__(self, size: int) -> None:
                self.size = size

        with pytest.raises(StrategyLoadError, match="missing parameter 'size'"):
            TradingSystem(config_for(sim_venue), strategy=NeedsSize)


def test_a_factory_that_makes_no_strategy_fails_the_start_with_the_reason(system_for):
    done = threading.Event()

    def not_a_factory() -> object:
        done.set()
        return object()

    with pytest.raises(Exception, match="the factory made a object instance without on_start"):
        system_for(not_a_factory)
    assert done.is_set()
