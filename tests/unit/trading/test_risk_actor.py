"""The risk actor, with a stand-in order manager that answers `GetExposure`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from _trading_probes import SYMBOL, VENUE, ExposureSource, book, flush, received, submit

from tradeactors.actors.gate import TradingGate
from tradeactors.actors.risk import GetRiskReport, RiskActor, RiskReport
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
from tradeactors.supervision import ChildSpec, Supervisor, SupervisorSpec
from tradeactors.supervision.testing import Inbox, Probe

pytestmark = pytest.mark.supervision

RISK = "risk"
EMPTY = ExposureSnapshot(
    sequence=0, positions={}, average_prices={}, realized={}, open_orders=(), remaining={}
)


@dataclass
class Harness:
    tree: Supervisor
    gate: TradingGate
    clock: FakeClock
    om: Inbox  # what reached the order manager
    owner: Inbox

    def tell(self, *messages: Any) -> None:
        for message in messages:
            self.tree.address(RISK).tell(message)

    def report(self) -> RiskReport:
        """Risk's counters, once it handled everything told so far."""
        report: RiskReport = self.tree.address(RISK).ask(GetRiskReport(), timeout=10)
        flush(self.tree.address("om"))
        flush(self.tree.address("owner"))
        return report

    def passed(self) -> list[str]:
        return [m.order.client_order_id for m in self.om.snapshot() if isinstance(m, PlaceOrder)]

    def denials(self) -> list[tuple[str, str]]:
        return [(u.client_order_id, u.reason) for u in received(self.owner, OrderUpdate)]


@pytest.fixture
def start_risk(make_tree):
    def start(
        snapshot: ExposureSnapshot = EMPTY, limits: RiskLimits | None = None, **kwargs: Any
    ) -> Harness:
        clock = FakeClock()
        gate = TradingGate(clock)
        om, owner = Inbox(), Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                # started first: risk asks it for exposure in its on_start
                ChildSpec(name="om", actor=ExposureSource, args=(snapshot, om)),
                ChildSpec(name="owner", actor=Probe, args=(owner,)),
                ChildSpec(
                    name=RISK,
                    actor=RiskActor,
                    args=(limits or RiskLimits(), "om", gate),
                    kwargs=kwargs,
                ),
            ),
        )
        tree = make_tree(spec, clock=clock)
        return Harness(tree=tree, gate=gate, clock=clock, om=om, owner=owner)

    return start


def snapshot_with_open_order(sequence: int = 5, position: int = 2) -> ExposureSnapshot:
    """A long ``position`` and a resting buy "old" of 10 with 6 left."""
    return ExposureSnapshot(
        sequence=sequence,
        positions={SYMBOL: position},
        average_prices={SYMBOL: (100, 1)},
        realized={SYMBOL: (0, 1)},
        open_orders=[submit("old", quantity=10)],
        remaining={"old": 6},
    )


def test_on_start_risk_rebuilds_from_the_snapshot_and_its_open_orders_count(start_risk):
    risk = start_risk(snapshot_with_open_order(), RiskLimits(max_position=10))
    report = risk.report()
    assert (report.positions, report.open_orders, report.sequence) == ({SYMBOL: 2}, 1, 5)
    # position 2 + 6 still open on the buy side + 3 = 11 > 10
    risk.tell(submit("n1", quantity=3))
    # + 2 = 10: at the limit
    risk.tell(submit("n2", quantity=2))
    assert risk.report().open_orders == 2
    assert risk.denials() == [("n1", "max_position")]
    assert risk.passed() == ["n2"]


def test_exposure_changes_already_in_the_snapshot_are_ignored(start_risk):
    risk = start_risk(snapshot_with_open_order(sequence=5, position=0), RiskLimits())

    def old_order_filled(sequence: int) -> ExposureChange:
        return ExposureChange(
            sequence=sequence,
            client_order_id="old",
            instrument=SYMBOL,
            side=Side.BUY,
            fill_quantity=6,
            fill_price=100,
            closed=True,
        )

    risk.tell(old_order_filled(4), old_order_filled(5))
    report = risk.report()
    assert (report.positions, report.open_orders, report.sequence) == ({SYMBOL: 0}, 1, 5)
    risk.tell(old_order_filled(6))
    report = risk.report()
    assert (report.positions, report.open_orders, report.sequence) == ({SYMBOL: 6}, 0, 6)


def too_big(cid: str) -> SubmitOrder:
    return submit(cid, quantity=5)


def test_max_denials_within_the_window_trip_the_gate_halted_with_source_risk(start_risk):
    risk = start_risk(limits=RiskLimits(max_order_quantity=1), max_denials=3, denial_window=10.0)
    risk.tell(too_big("d1"), too_big("d2"))
    risk.report()
    assert risk.gate.state is TradingState.ACTIVE
    risk.tell(too_big("d3"))
    assert risk.report().denied == {"max_order_quantity": 3}
    assert risk.gate.state is TradingState.HALTED
    (change,) = risk.gate.history
    assert (change.previous, change.state, change.source) == (
        TradingState.ACTIVE,
        TradingState.HALTED,
        "risk",
    )


def test_denials_older_than_the_window_do_not_count(start_risk):
    risk = start_risk(limits=RiskLimits(max_order_quantity=1), max_denials=3, denial_window=10.0)
    risk.tell(too_big("d1"), too_big("d2"))
    risk.report()
    risk.clock.advance(10.0)
    risk.tell(too_big("d3"), too_big("d4"))
    assert risk.report().denied == {"max_order_quantity": 4}
    assert risk.gate.state is TradingState.ACTIVE
    risk.tell(too_big("d5"))  # three within the last ten seconds
    risk.report()
    assert risk.gate.state is TradingState.HALTED


def test_a_loss_past_max_loss_from_fills_marked_at_the_mid_trips_the_gate(start_risk):
    # one tick is 0.01 and one lot 0.1: a tick * lot is worth 0.001 of quote currency
    instrument = Instrument(venue=VENUE, symbol=SYMBOL, tick_size="0.01", lot_size="0.1")
    risk = start_risk(instruments={SYMBOL: instrument}, max_loss=50.0)
    risk.tell(
        ExposureChange(
            sequence=1,
            client_order_id="a",
            instrument=SYMBOL,
            side=Side.BUY,
            fill_quantity=10,
            fill_price=100_000,
            closed=True,
        ),
        book(94_999, 95_001),  # mid 95_000: 10 lots * -5_000 ticks = -50.000 exactly
    )
    assert risk.report().positions == {SYMBOL: 10}
    assert risk.gate.state is TradingState.ACTIVE
    risk.tell(book(94_989, 94_991, update_id=2))  # mid 94_990: -50.100
    risk.report()
    assert risk.gate.state is TradingState.HALTED
    (change,) = risk.gate.history
    assert change.source == "risk"
    assert "loss" in change.reason
