"""The risk actor by scope: each strategy's own limits and kill-switch scope, and rebuild.

The order manager is a stand-in answering `GetExposure` with a snapshot that a real
`ExecutionCore` made from fills of two owners, so the rebuild after a restart reads
what the order manager really sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from _trading_probes import (
    SYMBOL,
    VENUE,
    OrderManagerStandIn,
    accepted,
    book,
    filled,
    flush,
    received,
    submit,
)

from tradeactors.actors.gate import TradingGate
from tradeactors.actors.risk import GetRiskReport, RiskActor, RiskReport, default_strategy_of
from tradeactors.clock import FakeClock
from tradeactors.core.execution import ExecutionCore, OrderStore
from tradeactors.core.instrument import Instrument
from tradeactors.core.killswitch import TripSource
from tradeactors.core.messages import (
    ExposureChange,
    ExposureSnapshot,
    OrderUpdate,
    PlaceOrder,
    Reconciliation,
    Side,
    SubmitOrder,
)
from tradeactors.core.risk import RiskLimits, TradingState
from tradeactors.supervision import ActorStarted, ChildSpec, SupervisorSpec
from tradeactors.supervision.testing import EventRecorder, Inbox, Probe

pytestmark = pytest.mark.supervision

RISK = "risk"
A, B = "owner_a", "owner_b"  # the owners' paths (probes)
STRATEGY_OF = {A: "a", B: "b"}
EMPTY = ExposureSnapshot(
    sequence=0, positions={}, average_prices={}, realized={}, open_orders=(), remaining={}
)


@dataclass
class Risk:
    tree: Any
    gate: TradingGate
    om: Inbox
    owners: dict[str, Inbox]
    events: EventRecorder

    def tell(self, *messages: Any) -> None:
        for message in messages:
            self.tree.address(RISK).tell(message)

    def report(self) -> RiskReport:
        report: RiskReport = self.tree.address(RISK).ask(GetRiskReport(), timeout=10)
        flush(self.tree.address("om"))
        for owner in self.owners:
            flush(self.tree.address(owner))
        return report

    def passed(self) -> list[str]:
        return [m.order.client_order_id for m in self.om.snapshot() if isinstance(m, PlaceOrder)]

    def denials(self, owner: str) -> list[tuple[str, str, str]]:
        updates = received(self.owners[owner], OrderUpdate)
        return [(u.client_order_id, u.reason, u.detail) for u in updates]


@pytest.fixture
def start_risk(make_tree):
    def start(snapshot: ExposureSnapshot = EMPTY, **kwargs: Any) -> Risk:
        gate = TradingGate(FakeClock(), strategies=("a", "b"), venues=(VENUE, "other"))
        om, owners, events = Inbox(), {A: Inbox(), B: Inbox()}, EventRecorder()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="om", actor=OrderManagerStandIn, args=(snapshot, om)),
                *(ChildSpec(name=o, actor=Probe, args=(inbox,)) for o, inbox in owners.items()),
                ChildSpec(
                    name=RISK,
                    actor=RiskActor,
                    args=(kwargs.pop("limits", RiskLimits()), "om", gate),
                    kwargs={"strategy_of": STRATEGY_OF.get, **kwargs},
                ),
            ),
        )
        tree = make_tree(spec, start=False)
        tree.subscribe(events)
        tree.start(timeout=10)
        om.wait_for_count(1)  # the snapshot is in risk's mailbox: reports come after it
        return Risk(tree=tree, gate=gate, om=om, owners=owners, events=events)

    return start


def order(cid: str, owner: str, *, quantity: int = 1, side: Side = Side.BUY) -> SubmitOrder:
    return submit(cid, owner=owner, quantity=quantity, side=side)


def test_the_default_strategy_of_reads_the_trees_strategy_paths():
    assert default_strategy_of("strategies/mm_eth/strategy") == "mm_eth"
    for other in ("strategies/mm_eth", "host", "", "strategies//strategy", "x/mm/strategy"):
        assert default_strategy_of(other) is None


class TestKillSwitchScopes:
    """An order is checked in the strictest of all, its strategy's and its venue's scope."""

    def test_a_halted_strategy_scope_denies_only_that_strategys_orders(self, start_risk):
        risk = start_risk()
        risk.gate.trip(
            TradingState.HALTED, source=TripSource.MANUAL, reason="x", scope="strategy:a"
        )
        risk.tell(order("a1", A), order("b1", B))
        risk.report()
        assert risk.denials(A) == [("a1", "halted", "strategy a")]
        assert risk.passed() == ["b1"]

    def test_a_strategys_denials_halt_its_own_scope_not_the_account(self, start_risk):
        # two strategies too large for the limits must not halt the others (the probe's
        # finding: the account's max_denials counted every strategy's denials)
        risk = start_risk(limits=RiskLimits(max_order_quantity=1), max_denials=3)
        risk.tell(*(order(f"a{i}", A, quantity=5) for i in range(3)))
        risk.tell(order("b1", B, quantity=5), order("b2", B))
        risk.report()
        assert risk.gate.scope_state("strategy:a") is TradingState.HALTED
        assert risk.gate.state is TradingState.ACTIVE
        assert risk.gate.scope_state("strategy:b") is TradingState.ACTIVE  # one denial
        assert risk.passed() == ["b2"]
        (change,) = risk.gate.history_of("strategy:a")
        assert (change.source, change.reason) == (
            "risk",
            "3 denials within the window (last: max_order_quantity)",
        )

    def test_a_halted_venue_scope_denies_every_strategys_orders_to_it(self, start_risk):
        risk = start_risk()
        risk.gate.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="x", scope="venue:sim")
        risk.tell(order("a1", A), order("b1", B))
        risk.report()
        assert risk.denials(A) == [("a1", "halted", "")]
        assert risk.denials(B) == [("b1", "halted", "")]
        risk.gate.reset(TradingState.ACTIVE, by="ops", reason="back", scope="venue:sim")
        risk.tell(order("a2", A))
        risk.report()
        assert risk.passed() == ["a2"]

    def test_a_reducing_strategy_may_only_reduce_its_own_position(self, start_risk):
        risk = start_risk()
        risk.tell(order("a1", A, quantity=3), order("b1", B, quantity=5, side=Side.SELL))
        for sequence, (cid, owner, side, quantity) in enumerate(
            [("a1", A, Side.BUY, 3), ("b1", B, Side.SELL, 5)], start=1
        ):
            risk.tell(
                ExposureChange(
                    sequence=sequence,
                    client_order_id=cid,
                    instrument=SYMBOL,
                    side=side,
                    owner=owner,
                    fill_quantity=quantity,
                    fill_price=100,
                    closed=True,
                )
            )
        assert risk.report().strategy_positions == {"a": {SYMBOL: 3}, "b": {SYMBOL: -5}}
        risk.gate.trip(
            TradingState.REDUCING, source=TripSource.RISK, reason="x", scope="strategy:a"
        )
        # the account is short 2: a buy would reduce it, but a is long 3 of its own
        risk.tell(order("a2", A, quantity=1), order("a3", A, quantity=3, side=Side.SELL))
        risk.tell(order("b2", B, quantity=1))  # b is not reducing
        risk.report()
        assert risk.denials(A) == [("a2", "reduce_only", "strategy a")]
        assert risk.passed() == ["a1", "b1", "a3", "b2"]


class TestLimitsByScope:
    """Strategy limits count the strategy's own orders; the instrument's count everyone's."""

    def test_strategy_and_instrument_limits_deny_with_their_scope(self, start_risk):
        risk = start_risk(
            strategy_limits={"a": RiskLimits(max_open_orders=1)},
            instrument_limits={SYMBOL: RiskLimits(max_position=4)},
        )
        risk.tell(order("a1", A), order("a2", A), order("b1", B, quantity=2))
        risk.tell(order("b2", B, quantity=2))  # 1 + 2 + 2 = 5 > 4 on the instrument
        risk.report()
        assert risk.denials(A) == [("a2", "max_open_orders", "strategy a")]
        assert risk.denials(B) == [("b2", "max_position", f"instrument {SYMBOL}")]
        assert risk.passed() == ["a1", "b1"]


def instrument() -> Instrument:
    # a tick is 0.01 and a lot 0.1: a tick x lot is 0.001 of quote currency
    return Instrument(venue=VENUE, symbol=SYMBOL, tick_size="0.01", lot_size="0.1")


def test_a_strategys_loss_past_its_own_limit_halts_only_its_scope(start_risk):
    risk = start_risk(
        instruments={SYMBOL: instrument()},
        strategy_max_loss={"a": 5.0, "b": 50.0},
        max_loss=100.0,
    )
    for sequence, owner in enumerate((A, B), start=1):
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
    risk.tell(book(99_499, 99_501))  # mid 99_500: each is 10 x -500 ticks = -5.000 exactly
    risk.report()
    assert risk.gate.scopes()["strategy:a"] is TradingState.ACTIVE
    risk.tell(book(99_489, 99_491, update_id=2))  # -5.100 each: past a's 5, not b's 50
    risk.report()
    assert risk.gate.scopes() == {
        "all": TradingState.ACTIVE, "strategy:a": TradingState.HALTED,
        "strategy:b": TradingState.ACTIVE, "venue:sim": TradingState.ACTIVE,
        "venue:other": TradingState.ACTIVE,
    }  # fmt: skip
    (change,) = risk.gate.history
    assert (change.scope, change.source) == ("strategy:a", "risk")
    assert "loss -5.10 of a" in change.reason
    risk.tell(order("a1", A), order("b1", B))
    risk.report()
    assert risk.denials(A) == [("a1", "halted", "strategy a")]
    assert risk.passed() == ["b1"]


def order_manager_snapshot() -> ExposureSnapshot:
    """What a real order manager answers after a's buy of 4 and b's sell of 2 filled."""
    core = ExecutionCore(OrderStore(), gateways={VENUE: "gw"}, risk_path=RISK)
    for message in (
        Reconciliation(venue=VENUE, open_orders=(), fills=()),
        PlaceOrder(order=order("a1", A, quantity=4)),
        PlaceOrder(order=order("b1", B, quantity=2, side=Side.SELL)),
        PlaceOrder(order=order("a2", A, quantity=1)),  # stays open
        accepted("a1", 1),
        accepted("b1", 2),
        filled("a1", order_id=1, execution_id=1, quantity=4, remaining=0),
        filled("b1", order_id=2, execution_id=2, quantity=2, remaining=0, side=Side.SELL),
    ):
        step = core.handle(message)
        core.commit(step)
        changes = [m for _path, m in step.sends if isinstance(m, ExposureChange)]
        assert all(c.owner in (A, B) for c in changes)  # fills and closes carry the owner
    return core.exposure()


def test_a_restarted_risk_rebuilds_each_strategys_position_from_the_order_manager(start_risk):
    snapshot = order_manager_snapshot()
    assert {(p.owner, p.instrument, p.position) for p in snapshot.owner_positions} == {
        (A, SYMBOL, 4), (B, SYMBOL, -2),
    }  # fmt: skip
    risk = start_risk(snapshot, strategy_limits={"a": RiskLimits(max_position=6)})
    assert risk.report().strategy_positions == {"a": {SYMBOL: 4}, "b": {SYMBOL: -2}}
    risk.tree.faults(RISK).crash_next()
    risk.tell(order("crash", A))  # the message it crashes on (a dead letter)
    risk.events.wait_for(ActorStarted, RISK, where=lambda e: e.incarnation == 2)
    risk.om.wait_for_count(2)  # the new incarnation asked, and has its answer
    report = risk.report()
    assert report.positions == {SYMBOL: 2}
    assert report.strategy_positions == {"a": {SYMBOL: 4}, "b": {SYMBOL: -2}}
    # a holds 4 and has 1 open: 4 + 1 + 2 > 6; b has no limit of its own
    risk.tell(order("a3", A, quantity=2), order("a4", A, quantity=1), order("b2", B, quantity=9))
    risk.report()
    assert risk.denials(A) == [("a3", "max_position", "strategy a")]
    assert risk.passed() == ["a4", "b2"]
