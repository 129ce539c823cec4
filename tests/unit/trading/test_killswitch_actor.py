"""The kill switch actor: cancels everything on HALTED, trips on stale market data.

Time is a `FakeClock`. The actor checks staleness every ``stale_after / 4`` seconds on
a timer; `step` advances exactly one such period (so the timer fires at the very time
the clock stops at) and then waits until the actor has handled the check.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from _trading_probes import Flush, book, flush, received

from tradeactors.actors.gate import TradingGate
from tradeactors.actors.killswitch import KillSwitchActor
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.messages import CancelAllOrders
from tradeactors.core.risk import TradingState
from tradeactors.supervision import ChildSpec, Supervisor, SupervisorSpec
from tradeactors.supervision.testing import Inbox, Probe

pytestmark = pytest.mark.supervision

KS = "killswitch"
STALE_AFTER = 1.0
PERIOD = STALE_AFTER / 4  # the actor's check interval


@dataclass
class Harness:
    tree: Supervisor
    gate: TradingGate
    clock: FakeClock
    om: Inbox
    strategy: Inbox

    def step(self, periods: int = 1) -> None:
        """Advance the clock one check period at a time; each check handled in turn."""
        for _ in range(periods):
            self.clock.advance(PERIOD)
            self.tree.address(KS).ask(Flush(), timeout=10)

    def book(self, symbol: str = "X") -> None:
        self.tree.address(KS).tell(book(99, 101, symbol=symbol))
        self.tree.address(KS).ask(Flush(), timeout=10)


@pytest.fixture
def start_ks(make_tree):
    def start(*, stale_after: float | None = STALE_AFTER) -> Harness:
        clock = FakeClock()
        gate = TradingGate(clock)
        om, strategy = Inbox(), Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="om", actor=Probe, args=(om,)),
                ChildSpec(name="strategy", actor=Probe, args=(strategy,)),
                ChildSpec(
                    name=KS,
                    actor=KillSwitchActor,
                    args=(gate, "om"),
                    kwargs={
                        "instruments": ("X",),
                        "stale_after": stale_after,
                        "notify": ("strategy",),
                    },
                ),
            ),
        )
        tree = make_tree(spec, clock=clock)
        # as TradingSystem wires it: the actor hears every change of the gate
        gate.subscribe(tree.address(KS).tell)
        return Harness(tree=tree, gate=gate, clock=clock, om=om, strategy=strategy)

    return start


def test_halted_makes_it_tell_the_order_manager_to_cancel_all_orders(start_ks):
    ks = start_ks(stale_after=None)
    change = ks.gate.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="panic")
    ks.om.wait_for_count(1)
    assert received(ks.om) == [CancelAllOrders(reason="kill switch: panic")]
    ks.strategy.wait_for_count(1)
    assert received(ks.strategy) == [change]


def test_reducing_cancels_nothing_but_is_passed_on(start_ks):
    ks = start_ks(stale_after=None)
    change = ks.gate.trip(TradingState.REDUCING, source=TripSource.MANUAL, reason="careful")
    ks.strategy.wait_for_count(1)
    assert received(ks.strategy) == [change]
    flush(ks.tree.address("om"))
    assert received(ks.om) == []


def test_no_book_for_longer_than_stale_after_trips_halted_with_source_stale_market_data(
    start_ks,
):
    ks = start_ks()
    ks.step(4)  # exactly stale_after without a book: not yet longer than it
    assert ks.gate.state is TradingState.ACTIVE
    ks.step()
    assert ks.gate.state is TradingState.HALTED
    (change,) = ks.gate.history
    assert change.source == TripSource.STALE_MARKET_DATA.value
    ks.om.wait_for_count(1)
    assert isinstance(received(ks.om)[0], CancelAllOrders)
    ks.strategy.wait_for_count(1)
    assert isinstance(received(ks.strategy)[0], KillSwitchChanged)


def test_regular_book_updates_keep_it_active(start_ks):
    ks = start_ks()
    for _ in range(6):  # a book every half stale_after, for three stale_afters
        ks.book()
        ks.step(2)
    assert ks.gate.state is TradingState.ACTIVE
    assert ks.gate.history == ()
    ks.step(4)  # then the feed goes quiet: more than stale_after since the last book
    assert ks.gate.state is TradingState.HALTED


def test_a_book_of_an_instrument_it_does_not_watch_does_not_become_watched(start_ks):
    ks = start_ks()
    ks.book("Y")  # once, then never again
    for _ in range(4):
        ks.book("X")
        ks.step(2)
    assert ks.gate.state is TradingState.ACTIVE
