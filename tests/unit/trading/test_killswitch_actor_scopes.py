"""The kill switch actor by scope: a halted strategy or venue cancels only its own orders."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from _trading_probes import Flush, book, flush, received

from tradeactors.actors.gate import TradingGate
from tradeactors.actors.killswitch import KillSwitchActor
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import TripSource
from tradeactors.core.messages import CancelAllOrders
from tradeactors.core.risk import TradingState
from tradeactors.supervision import ActorStarted, ChildSpec, Supervisor, SupervisorSpec
from tradeactors.supervision.testing import EventRecorder, Inbox, Probe

pytestmark = pytest.mark.supervision

KS = "killswitch"
H, R = TradingState.HALTED, TradingState.REDUCING
MANUAL = TripSource.MANUAL


@dataclass
class Harness:
    tree: Supervisor
    gate: TradingGate
    om: Inbox
    a: Inbox  # strategy a's actor ("sa")
    b: Inbox  # strategy b's actor ("sb")
    events: EventRecorder

    def settled(self) -> None:
        """Everything the kill switch has sent so far has arrived."""
        self.tree.address(KS).ask(Flush(), timeout=10)
        for path in ("om", "sa", "sb"):
            flush(self.tree.address(path))


@pytest.fixture
def start_ks(make_tree):
    def start() -> Harness:
        gate = TradingGate(FakeClock())
        om, a, b, events = Inbox(), Inbox(), Inbox(), EventRecorder()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="om", actor=Probe, args=(om,)),
                ChildSpec(name="sa", actor=Probe, args=(a,)),
                ChildSpec(name="sb", actor=Probe, args=(b,)),
                ChildSpec(
                    name=KS,
                    actor=KillSwitchActor,
                    args=(gate, "om"),
                    kwargs={"notify": ("sa", "sb"), "strategy_of": {"sa": "a", "sb": "b"}.get},
                ),
            ),
        )
        tree = make_tree(spec, start=False)
        tree.subscribe(events)
        tree.start(timeout=10)
        return Harness(tree=tree, gate=gate, om=om, a=a, b=b, events=events)

    return start


def test_a_halted_strategy_cancels_its_own_orders_and_only_it_hears(start_ks):
    ks = start_ks()
    change = ks.gate.trip(H, source=TripSource.RISK, reason="loss", scope="strategy:a")
    ks.settled()
    assert received(ks.om) == [CancelAllOrders(reason="kill switch: loss", owner="sa")]
    assert received(ks.a) == [change]
    assert received(ks.b) == []


def test_a_halted_venue_cancels_that_venues_orders_and_every_strategy_hears(start_ks):
    ks = start_ks()
    change = ks.gate.trip(H, source=MANUAL, reason="maintenance", scope="venue:binance")
    ks.settled()
    assert received(ks.om) == [CancelAllOrders(reason="kill switch: maintenance", venue="binance")]
    assert received(ks.a) == [change]
    assert received(ks.b) == [change]


def test_a_reducing_scope_cancels_nothing(start_ks):
    ks = start_ks()
    ks.gate.trip(R, source=MANUAL, reason="careful", scope="strategy:b")
    ks.settled()
    assert received(ks.om) == []
    assert len(received(ks.b)) == 1


def test_a_strategy_it_does_not_notify_is_cancelled_by_the_trees_owner_path(start_ks):
    ks = start_ks()
    ks.gate.trip(H, source=MANUAL, reason="x", scope="strategy:late")  # added while running
    ks.settled()
    assert received(ks.om) == [
        CancelAllOrders(reason="kill switch: x", owner="strategies/late/strategy")
    ]
    assert received(ks.a) == received(ks.b) == []


def test_after_a_restart_it_acts_on_each_scopes_latest_change_again(start_ks):
    ks = start_ks()
    ks.gate.trip(H, source=MANUAL, reason="a out", scope="strategy:a")
    ks.gate.trip(R, source=MANUAL, reason="wind down")
    ks.settled()
    ks.tree.faults(KS).crash_next()
    ks.tree.address(KS).tell(book(99, 101))
    ks.events.wait_for(ActorStarted, KS, where=lambda e: e.incarnation == 2)
    ks.settled()
    cancel_a = CancelAllOrders(reason="kill switch: a out", owner="sa")
    assert received(ks.om) == [cancel_a, cancel_a]  # once more: harmless
    assert [c.scope for c in received(ks.a)] == ["strategy:a", "all", "strategy:a", "all"]
    assert [c.scope for c in received(ks.b)] == ["all", "all"]
