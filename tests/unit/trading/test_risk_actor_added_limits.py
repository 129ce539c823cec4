"""The risk actor learns a strategy's own limits at run time and keeps them across restarts.

`SetStrategyLimits` gives the running risk a strategy's limits; the system-owned
`StrategyLimitsTable` gives them to every later incarnation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from _trading_probes import SYMBOL, VENUE, OrderManagerStandIn, book, flush, received, submit

from tradeactors.actors.gate import TradingGate
from tradeactors.actors.risk import (
    GetRiskReport,
    RiskActor,
    SetStrategyLimits,
    StrategyLimitsTable,
)
from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import (
    ExposureChange,
    ExposureSnapshot,
    OrderUpdate,
    PlaceOrder,
    Side,
    SubmitOrder,
)
from tradeactors.core.risk import RiskLimits, TradingState
from tradeactors.supervision import ActorStarted, ChildSpec, SupervisorSpec
from tradeactors.supervision.testing import EventRecorder, Inbox, Probe

pytestmark = pytest.mark.supervision

RISK = "risk"
B, C = "owner_b", "owner_c"  # the owners' paths (probes): strategies b and c
STRATEGY_OF = {B: "b", C: "c"}
EMPTY = ExposureSnapshot(
    sequence=0, positions={}, average_prices={}, realized={}, open_orders=(), remaining={}
)


@dataclass
class Risk:
    tree: Any
    gate: TradingGate
    table: StrategyLimitsTable
    om: Inbox
    asks: Inbox
    owners: dict[str, Inbox]
    events: EventRecorder

    def tell(self, *messages: Any) -> None:
        for message in messages:
            self.tree.address(RISK).tell(message)

    def settle(self) -> None:
        """Every message told so far handled, and what risk told others arrived."""
        self.tree.address(RISK).ask(GetRiskReport(), timeout=10)
        flush(self.tree.address("om"))
        for owner in self.owners:
            flush(self.tree.address(owner))

    def passed(self) -> list[str]:
        return [m.order.client_order_id for m in self.om.snapshot() if isinstance(m, PlaceOrder)]

    def denials(self, owner: str) -> list[tuple[str, str, str]]:
        updates = received(self.owners[owner], OrderUpdate)
        return [(u.client_order_id, u.reason, u.detail) for u in updates]

    def restart(self, incarnation: int) -> None:
        """Crash risk on its next message; return once the new incarnation is rebuilt."""
        self.tree.faults(RISK).crash_next()
        self.tell(order("crash", B))  # the message it crashes on (a dead letter)
        self.events.wait_for(ActorStarted, RISK, where=lambda e: e.incarnation == incarnation)
        self.asks.wait_for_count(incarnation)  # asked again: the snapshot comes first
        self.settle()


@pytest.fixture
def start_risk(make_tree):
    def start(table: StrategyLimitsTable | None = None, **kwargs: Any) -> Risk:
        table = table or StrategyLimitsTable()
        gate = TradingGate(FakeClock(), strategies=("b", "c"), venues=(VENUE,))
        om, asks, owners = Inbox(), Inbox(), {B: Inbox(), C: Inbox()}
        events = EventRecorder()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="om", actor=OrderManagerStandIn, args=(EMPTY, om, asks)),
                *(ChildSpec(name=o, actor=Probe, args=(inbox,)) for o, inbox in owners.items()),
                ChildSpec(
                    name=RISK,
                    actor=RiskActor,
                    args=(RiskLimits(), "om", gate),
                    kwargs={"strategy_of": STRATEGY_OF.get, "limits_table": table, **kwargs},
                ),
            ),
        )
        tree = make_tree(spec, start=False)
        tree.subscribe(events)
        tree.start(timeout=10)
        risk = Risk(tree, gate, table, om, asks, owners, events)
        asks.wait_for_count(1)
        risk.settle()
        return risk

    return start


def order(cid: str, owner: str, *, quantity: int = 1) -> SubmitOrder:
    return submit(cid, owner=owner, quantity=quantity)


def test_a_strategy_given_limits_at_run_time_is_denied_past_them_and_no_other(start_risk):
    risk = start_risk()
    risk.tell(risk.table.set("c", RiskLimits(max_position=3)))
    risk.tell(order("c1", C, quantity=3), order("c2", C), order("b1", B, quantity=9))
    risk.settle()
    assert risk.denials(C) == [("c2", "max_position", "strategy c")]
    assert risk.denials(B) == []
    assert risk.passed() == ["c1", "b1"]


def test_limits_added_at_run_time_survive_a_restart_of_risk(start_risk):
    risk = start_risk()
    risk.tell(risk.table.set("c", RiskLimits(max_open_orders=1)))
    risk.tell(order("c1", C))
    risk.settle()
    risk.restart(incarnation=2)  # built from the spec's kwargs: the table is read again
    risk.tell(order("c2", C), order("b1", B), order("b2", B))
    risk.settle()
    # the snapshot is empty (the stand-in knows no order): c2 is c's first open order
    # again, so a second one shows the limit is still there
    risk.tell(order("c3", C))
    risk.settle()
    assert risk.denials(C) == [("c3", "max_open_orders", "strategy c")]
    assert risk.passed() == ["c1", "c2", "b1", "b2"]


def test_a_risk_built_after_the_table_changed_has_the_limits_without_the_message(start_risk):
    table = StrategyLimitsTable()
    risk = start_risk(table)
    table.set("c", RiskLimits(max_order_quantity=2))  # the message is not told
    risk.tell(order("c1", C, quantity=3))
    risk.settle()
    assert risk.passed() == ["c1"]  # the running incarnation hears of it by the message only
    risk.restart(incarnation=2)
    risk.tell(order("c2", C, quantity=3), order("b1", B, quantity=3))
    risk.settle()
    assert risk.denials(C) == [("c2", "max_order_quantity", "strategy c")]
    assert risk.passed() == ["c1", "b1"]


def test_dropped_limits_are_gone_now_and_after_a_restart(start_risk):
    table = StrategyLimitsTable({"c": RiskLimits(max_order_quantity=1)}, {"c": 5.0})
    risk = start_risk(table)
    risk.tell(order("c1", C, quantity=2))
    risk.settle()
    assert risk.denials(C) == [("c1", "max_order_quantity", "strategy c")]
    message = table.set("c", None)
    assert message == SetStrategyLimits(strategy="c", limits=None, max_loss=None)
    assert table.snapshot() == ({}, {})
    risk.tell(message, order("c2", C, quantity=2))
    risk.settle()
    risk.restart(incarnation=2)
    risk.tell(order("c3", C, quantity=2))
    risk.settle()
    assert risk.passed() == ["c2", "c3"]
    assert len(risk.denials(C)) == 1


def test_a_loss_limit_given_at_run_time_halts_only_that_strategys_scope(start_risk):
    instrument = Instrument(venue=VENUE, symbol=SYMBOL, tick_size="0.01", lot_size="0.1")
    risk = start_risk(instruments={SYMBOL: instrument})
    for sequence, owner in enumerate((B, C), start=1):
        risk.tell(
            ExposureChange(
                sequence=sequence,
                client_order_id=f"f{sequence}",
                instrument=SYMBOL,
                side=Side.BUY,
                owner=owner,
                fill_quantity=10,
                fill_price=100_000,
                closed=True,
            )
        )
    risk.tell(book(99_489, 99_491))  # -5.100 each (10 lots x -510 ticks x 0.001)
    risk.settle()
    assert risk.gate.scope_state("strategy:c") is TradingState.ACTIVE  # no loss limit yet
    risk.tell(risk.table.set("c", RiskLimits(), max_loss=5.0))  # checked on arrival
    risk.settle()
    assert risk.gate.scope_state("strategy:c") is TradingState.HALTED
    assert risk.gate.scope_state("strategy:b") is TradingState.ACTIVE
    assert risk.gate.state is TradingState.ACTIVE
    (change,) = risk.gate.history_of("strategy:c")
    assert "loss -5.10 of c past its limit 5.0" in change.reason
