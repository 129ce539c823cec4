"""The kill switch actor: cancels everything on HALTED, trips on stale market data.

Time is a `FakeClock`. The actor checks staleness every ``stale_after / 4`` seconds on
a timer; `step` advances exactly one such period (so the timer fires at the very time
the clock stops at) and then waits until the actor has handled the check.

Nothing stands between the gate and the actor: it subscribes itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from _trading_probes import Flush, book, flush, received
from structlog.testing import capture_logs

from tradeactors.actors.gate import TradingGate
from tradeactors.actors.killswitch import KillSwitchActor
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.messages import CancelAllOrders
from tradeactors.core.risk import TradingState
from tradeactors.supervision import (
    ActorExited,
    ActorStarted,
    Backoff,
    ChildSpec,
    RestartScheduled,
    Supervisor,
    SupervisorSpec,
)
from tradeactors.supervision.testing import EventRecorder, Inbox, Probe

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
    events: EventRecorder

    def step(self, periods: int = 1) -> None:
        """Advance the clock one check period at a time; each check handled in turn."""
        for _ in range(periods):
            self.clock.advance(PERIOD)
            self.tree.address(KS).ask(Flush(), timeout=10)

    def book(self, symbol: str = "X") -> None:
        self.tree.address(KS).tell(book(99, 101, symbol=symbol))
        self.tree.address(KS).ask(Flush(), timeout=10)

    def restarted(self, incarnation: int = 2) -> None:
        """Wait until the kill switch's ``incarnation`` has started."""
        self.events.wait_for(ActorStarted, KS, where=lambda e: e.incarnation == incarnation)

    def gate_changes_handled(self) -> int:
        """Gate changes the actor took from its mailbox (all incarnations, stale ones too)."""
        processed = self.tree.stats(KS).processed
        return sum(n for kind, n in processed.items() if kind.__name__ == "_GateChanged")


@pytest.fixture
def start_ks(make_tree):
    def start(
        *, stale_after: float | None = STALE_AFTER, backoff: Backoff | None = None
    ) -> Harness:
        clock = FakeClock()
        gate = TradingGate(clock)
        om, strategy, events = Inbox(), Inbox(), EventRecorder()
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
                    backoff=backoff,
                ),
            ),
        )
        tree = make_tree(spec, clock=clock, start=False)
        tree.subscribe(events)
        tree.start(timeout=10)
        return Harness(tree=tree, gate=gate, clock=clock, om=om, strategy=strategy, events=events)

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


class TestGateSubscription:
    """The actor hears the gate itself, once per change, and only while it runs."""

    def test_a_trip_reaches_it_with_nothing_in_between_and_it_cancels_all_orders(self, start_ks):
        ks = start_ks(stale_after=None)
        ks.gate.trip(TradingState.HALTED, source=TripSource.RISK, reason="loss")
        ks.om.wait_for_count(1)
        assert received(ks.om) == [CancelAllOrders(reason="kill switch: loss")]

    def test_after_it_stops_a_trip_does_not_reach_it_and_raises_nothing(self, start_ks):
        ks = start_ks(stale_after=None)
        ks.tree.stop(timeout=10)
        with capture_logs() as logs:
            change = ks.gate.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="late")
        assert change is not None
        assert ks.tree.dead_letters.count == 0  # a tell to the closed address would be one
        assert [log for log in logs if log["log_level"] in {"warning", "error"}] == []
        assert received(ks.om) == []

    def test_after_a_crash_the_new_incarnation_hears_each_change_once(self, start_ks):
        ks = start_ks(stale_after=None)
        ks.tree.faults(KS).crash_next()
        ks.tree.address(KS).tell(book(99, 101))
        ks.restarted()
        ks.gate.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="panic")
        ks.tree.address(KS).ask(Flush(), timeout=10)
        assert ks.gate_changes_handled() == 1  # the crashed one unsubscribed in on_failure
        flush(ks.tree.address("om"))
        assert received(ks.om) == [CancelAllOrders(reason="kill switch: panic")]

    def test_a_killed_predecessor_still_subscribed_is_ignored(self, start_ks):
        ks = start_ks(stale_after=None)
        ks.tree.faults(KS).kill()  # no on_stop, no on_failure: its listener stays
        (exited,) = ks.events.wait_for(ActorExited, KS)
        assert exited.reason == "killed"
        ks.restarted()
        ks.gate.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="panic")
        ks.tree.address(KS).ask(Flush(), timeout=10)
        assert ks.gate_changes_handled() == 2
        flush(ks.tree.address("om"))
        assert received(ks.om) == [CancelAllOrders(reason="kill switch: panic")]
        ks.strategy.wait_for_count(1)
        flush(ks.tree.address("strategy"))
        assert len(received(ks.strategy)) == 1

    def test_a_trip_while_it_restarts_is_acted_on_when_it_is_back(self, start_ks):
        ks = start_ks(stale_after=None, backoff=Backoff(min_delay=1.0, random_factor=0.0))
        ks.tree.faults(KS).crash_next()
        ks.tree.address(KS).tell(book(99, 101))
        # the restart's timer must be armed before the fake clock moves past it
        ks.events.wait_for(RestartScheduled, KS)
        change = ks.gate.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="gap")
        ks.clock.advance(1.0)  # the restart's backoff
        ks.restarted()
        ks.om.wait_for_count(1)
        assert received(ks.om) == [CancelAllOrders(reason="kill switch: gap")]
        ks.strategy.wait_for_count(1)
        assert received(ks.strategy) == [change]
