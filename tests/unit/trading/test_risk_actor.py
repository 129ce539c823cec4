"""The risk actor, with a stand-in order manager that answers `GetExposure` by a tell.

Time is a `FakeClock`: the snapshot timeout fires only when a test advances it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from _trading_probes import SYMBOL, VENUE, Flush, book, flush, received, submit

from tradeactors.actors.gate import TradingGate
from tradeactors.actors.risk import GetRiskReport, RiskActor, RiskReport
from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import (
    ExposureChange,
    ExposureSnapshot,
    GetExposure,
    OrderUpdate,
    PlaceOrder,
    Side,
    SubmitOrder,
)
from tradeactors.core.risk import RiskLimits, TradingState
from tradeactors.supervision import (
    ActorExited,
    ActorStarted,
    ChildSpec,
    SupervisedActor,
    Supervisor,
    SupervisorSpec,
)
from tradeactors.supervision.testing import EventRecorder, Inbox, Probe

pytestmark = pytest.mark.supervision

RISK = "risk"
SNAPSHOT_TIMEOUT = 5.0  # RiskActor's default
EMPTY = ExposureSnapshot(
    sequence=0, positions={}, average_prices={}, realized={}, open_orders=(), remaining={}
)


class OrderManagerStandIn(SupervisedActor):
    """Records what it is told; answers `GetExposure` by telling ``snapshot`` to ``reply_to``.

    With ``snapshot`` None it answers nothing: the test plays the order manager. Each
    request is recorded in ``requests`` after the answer is sent, so once a test sees
    it, the snapshot is already in risk's mailbox.
    """

    def __init__(self, snapshot: ExposureSnapshot | None, inbox: Inbox, requests: Inbox) -> None:
        super().__init__()
        self._snapshot = snapshot
        self._inbox = inbox
        self._requests = requests

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, GetExposure):
            if self._snapshot is not None and message.reply_to is not None:
                self.context.address_of(message.reply_to).tell(self._snapshot)
            self._requests.append(message)
        elif not isinstance(message, Flush):
            self._inbox.append(message)
        return None


@dataclass
class Harness:
    tree: Supervisor
    gate: TradingGate
    clock: FakeClock
    om: Inbox  # what reached the order manager
    owner: Inbox
    requests: Inbox  # the `GetExposure`s risk sent, oldest first
    events: EventRecorder

    def tell(self, *messages: Any) -> None:
        for message in messages:
            self.tree.address(RISK).tell(message)

    def answer(self, snapshot: ExposureSnapshot, request: int = 1) -> None:
        """Tell ``snapshot`` where the ``request``-th `GetExposure` asked for it."""
        asked = self.requests.wait_for_count(request)[request - 1]
        assert asked.reply_to == RISK
        self.tree.address(asked.reply_to).tell(snapshot)

    def report(self) -> RiskReport:
        """Risk's counters, once it handled everything told so far."""
        report: RiskReport = self.tree.address(RISK).ask(GetRiskReport(), timeout=10)
        flush(self.tree.address("om"))
        flush(self.tree.address("owner"))
        return report

    def stashed_and_silent(self) -> None:
        """Risk (still rebuilding) answers from the empty state and has sent nothing."""
        report = self.report()
        assert (report.positions, report.open_orders, report.sequence) == ({}, 0, 0)
        assert self.passed() == []
        assert self.denials() == []

    def passed(self) -> list[str]:
        return [m.order.client_order_id for m in self.om.snapshot() if isinstance(m, PlaceOrder)]

    def denials(self) -> list[tuple[str, str]]:
        return [(u.client_order_id, u.reason) for u in received(self.owner, OrderUpdate)]


@pytest.fixture
def start_risk(make_tree):
    def start(
        snapshot: ExposureSnapshot | None = EMPTY,
        limits: RiskLimits | None = None,
        **kwargs: Any,
    ) -> Harness:
        """Start risk; with a ``snapshot``, return once it is on its way to risk."""
        clock = FakeClock()
        gate = TradingGate(clock)
        om, owner, requests, events = Inbox(), Inbox(), Inbox(), EventRecorder()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="om", actor=OrderManagerStandIn, args=(snapshot, om, requests)),
                ChildSpec(name="owner", actor=Probe, args=(owner,)),
                ChildSpec(
                    name=RISK,
                    actor=RiskActor,
                    args=(limits or RiskLimits(), "om", gate),
                    kwargs=kwargs,
                ),
            ),
        )
        tree = make_tree(spec, clock=clock, start=False)
        tree.subscribe(events)
        tree.start(timeout=10)
        if snapshot is not None:
            requests.wait_for_count(1)
        return Harness(
            tree=tree,
            gate=gate,
            clock=clock,
            om=om,
            owner=owner,
            requests=requests,
            events=events,
        )

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


def old_order_filled(sequence: int) -> ExposureChange:
    """The resting "old" of `snapshot_with_open_order` filled for its remaining 6."""
    return ExposureChange(
        sequence=sequence,
        client_order_id="old",
        instrument=SYMBOL,
        side=Side.BUY,
        fill_quantity=6,
        fill_price=100,
        closed=True,
    )


def test_exposure_changes_already_in_the_snapshot_are_ignored(start_risk):
    risk = start_risk(snapshot_with_open_order(sequence=5, position=0), RiskLimits())
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


class TestStartHandshake:
    """Risk asks for the exposure by a tell and checks no order until it has it."""

    def test_orders_before_the_snapshot_wait_and_are_checked_in_arrival_order_after_it(
        self, start_risk
    ):
        risk = start_risk(None, RiskLimits(max_position=10))
        # position 2 + 6 open + 2 = 10: the first of the two fits, the second does not
        risk.tell(submit("first", quantity=2), submit("second", quantity=2))
        risk.stashed_and_silent()
        risk.answer(snapshot_with_open_order(position=2))
        assert risk.report().open_orders == 2
        assert risk.passed() == ["first"]
        assert risk.denials() == [("second", "max_position")]

    def test_a_stashed_exposure_change_already_in_the_snapshot_is_skipped(self, start_risk):
        risk = start_risk(None)
        risk.tell(old_order_filled(5), old_order_filled(6))
        risk.stashed_and_silent()
        risk.answer(snapshot_with_open_order(sequence=5, position=0))
        report = risk.report()
        # only the fill of sequence 6 counts: applied twice, the position would be 12
        assert (report.positions, report.open_orders, report.sequence) == ({SYMBOL: 6}, 0, 6)

    def test_a_book_is_taken_at_once_while_orders_wait_for_the_snapshot(self, start_risk):
        risk = start_risk(None, RiskLimits(price_collar_bps=100))
        # the book comes last, yet the orders are checked against it: it did not wait
        risk.tell(submit("near", price=100), submit("far", price=120), book(99, 101))
        risk.stashed_and_silent()
        risk.answer(EMPTY)
        risk.report()
        assert risk.passed() == ["near"]
        assert risk.denials() == [("far", "price_collar")]

    def test_orders_past_the_stash_limit_are_denied_lost_at_once(self, start_risk):
        risk = start_risk(None, max_stashed_orders=2)
        risk.tell(submit("a"), submit("b"), submit("c"))
        assert risk.report().denied == {"lost": 1}
        assert risk.denials() == [("c", "lost")]
        risk.answer(EMPTY)
        risk.report()
        assert risk.passed() == ["a", "b"]

    def test_no_snapshot_within_the_timeout_fails_risk_and_its_supervisor_restarts_it(
        self, start_risk
    ):
        risk = start_risk(None)
        risk.tell(submit("waiting"))
        risk.requests.wait_for_count(1)
        risk.clock.advance(SNAPSHOT_TIMEOUT)
        (exited,) = risk.events.wait_for(ActorExited, RISK)
        assert exited.reason == "crashed"
        assert "no exposure snapshot" in (exited.error or "")
        risk.events.wait_for(ActorStarted, RISK, where=lambda e: e.incarnation == 2)
        assert risk.tree.stats(RISK).incarnations == 2
        assert [letter.message_type for letter in risk.tree.dead_letters.recent()] == [
            "_SnapshotDue"
        ]
        # the order it held is not dropped in silence; the new incarnation asks again
        risk.report()
        assert risk.denials() == [("waiting", "lost")]
        risk.requests.wait_for_count(2)
        risk.tell(submit("after"))
        risk.answer(EMPTY, request=2)
        risk.report()
        assert risk.passed() == ["after"]

    def test_a_snapshot_answering_a_predecessor_is_the_only_one_applied(self, start_risk):
        risk = start_risk(None)
        risk.requests.wait_for_count(1)
        risk.clock.advance(SNAPSHOT_TIMEOUT)
        risk.events.wait_for(ActorStarted, RISK, where=lambda e: e.incarnation == 2)
        risk.requests.wait_for_count(2)
        late = snapshot_with_open_order(sequence=5, position=2)
        risk.answer(late, request=1)  # the first incarnation's, arriving after its restart
        risk.answer(snapshot_with_open_order(sequence=7, position=3), request=2)
        report = risk.report()
        assert (report.positions, report.open_orders, report.sequence) == ({SYMBOL: 2}, 1, 5)
        # the timer of the second incarnation is cancelled by the snapshot it applied
        risk.clock.advance(SNAPSHOT_TIMEOUT)
        risk.report()
        assert risk.tree.stats(RISK).incarnations == 2


def test_the_journals_recent_denials_count_in_the_first_window_of_a_restarted_process(
    start_risk,
):
    wall = FakeClock().time_ns()  # the harness's clock starts at the same wall time
    recent = (("", wall - 2 * 10**9), ("", wall - 1 * 10**9))  # 2 s and 1 s before the start
    old = (("", wall - 30 * 10**9),)  # long before: outside the window
    risk = start_risk(
        limits=RiskLimits(max_order_quantity=1),
        max_denials=3,
        denial_window=10.0,
        recent_denials=old + recent,
    )
    risk.report()
    assert risk.gate.state is TradingState.ACTIVE  # no trip for what happened before
    risk.tell(too_big("d1"))  # the third within ten seconds
    risk.report()
    assert risk.gate.state is TradingState.HALTED
