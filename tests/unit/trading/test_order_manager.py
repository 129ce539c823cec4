"""The order manager between probes standing in for the gateway, risk, an owner, notify."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from _trading_probes import (
    SYMBOL,
    VENUE,
    accepted,
    filled,
    flush,
    received,
    submit,
)

from tradeactors.actors.gate import TradingGate
from tradeactors.actors.order_manager import (
    CancelAtVenue,
    OrderInfo,
    OrderManagerActor,
    OrdersReport,
    OrderStore,
    ReconciliationReport,
)
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import TripSource
from tradeactors.core.messages import (
    CancelOrder,
    ExposureChange,
    ExposureSnapshot,
    GetExposure,
    GetOrders,
    LastExecutionId,
    OrderCanceled,
    OrderRejected,
    OrderUpdate,
    PlaceOrder,
    Reconciliation,
    Side,
    TakeCheckpoint,
    VenueDown,
    VenueOrder,
    VenueStatus,
    WriteAhead,
)
from tradeactors.core.risk import TradingState
from tradeactors.supervision import ActorStarted, ChildSpec, Supervisor, SupervisorSpec
from tradeactors.supervision.testing import EventRecorder, Inbox, Probe

pytestmark = pytest.mark.supervision

OM = "om"
NEIGHBOURS = ("gw", "risk", "owner", "notify")


@dataclass
class Harness:
    """An order manager in a tree of probes, and what each probe received."""

    tree: Supervisor
    store: OrderStore
    gate: TradingGate
    gw: Inbox
    risk: Inbox
    owner: Inbox
    notify: Inbox
    emitted: Inbox

    def tell(self, *messages: Any) -> None:
        for message in messages:
            self.tree.address(OM).tell(message)

    def place(self, *requests: Any) -> None:
        self.tell(*(PlaceOrder(order=r) for r in requests))

    def up(self) -> None:
        """The gateway reconciled an empty venue: the venue is up."""
        self.tell(Reconciliation(venue=VENUE, open_orders=(), fills=()))

    def report(self) -> OrdersReport:
        report: OrdersReport = self.tree.address(OM).ask(GetOrders(), timeout=10)
        return report

    def settle(self) -> OrdersReport:
        """Everything told so far is handled, and what it sent has reached the probes."""
        report = self.report()
        for path in NEIGHBOURS:
            flush(self.tree.address(path))
        return report

    def order(self, cid: str) -> OrderInfo:
        (info,) = [o for o in self.report().orders if o.client_order_id == cid]
        return info


@pytest.fixture
def om(make_tree, events) -> Harness:
    store = OrderStore()
    gate = TradingGate(FakeClock())
    inboxes = {name: Inbox() for name in NEIGHBOURS}
    emitted = Inbox()
    spec = SupervisorSpec(
        name="root",
        children=(
            *(ChildSpec(name=name, actor=Probe, args=(inboxes[name],)) for name in NEIGHBOURS),
            ChildSpec(
                name=OM,
                actor=OrderManagerActor,
                args=(store, {VENUE: "gw"}, "risk", gate),
                kwargs={"notify": ("notify",), "emit": emitted.append},
            ),
        ),
    )
    tree = make_tree(spec)
    tree.subscribe(events)
    return Harness(tree=tree, store=store, gate=gate, emitted=emitted, **inboxes)


def venue_order(cid: str, order_id: int, *, remaining: int = 10, filled: int = 0) -> VenueOrder:
    return VenueOrder(
        order_id=order_id,
        client_order_id=cid,
        side=Side.BUY,
        price=100,
        remaining=remaining,
        filled=filled,
    )


def test_an_order_while_the_venue_is_down_is_denied_venue_down_and_risk_hears_it_closed(om):
    request = submit("c1")
    om.place(request)
    report = om.settle()
    assert report.venues == {VENUE: False}
    (update,) = received(om.owner, OrderUpdate)
    assert (update.client_order_id, update.status, update.reason) == ("c1", "denied", "venue_down")
    (change,) = received(om.risk, ExposureChange)
    assert (change.client_order_id, change.closed, change.fill_quantity) == ("c1", True, 0)
    assert received(om.gw) == []
    assert report.orders == ()


def test_after_a_reconciliation_the_venue_is_up_and_an_order_reaches_the_gateway(om):
    om.up()
    request = submit("c1")
    om.place(request)
    report = om.settle()
    assert report.venues == {VENUE: True}
    assert received(om.gw) == [PlaceOrder(order=request, session=1)]  # after 1 reconciliation
    assert om.order("c1").status == "pending"
    (status,) = received(om.notify, VenueStatus)
    assert (status.venue, status.up) == (VENUE, True)


def test_a_duplicate_client_order_id_is_denied_and_the_live_order_is_untouched(om):
    om.up()
    om.place(submit("c1", price=100), submit("c1", price=105))
    om.settle()
    assert received(om.gw) == [PlaceOrder(order=submit("c1", price=100), session=1)]
    (update,) = received(om.owner, OrderUpdate)
    assert (update.status, update.reason, update.price) == (
        "denied",
        "duplicate_client_order_id",
        105,
    )
    info = om.order("c1")
    assert (info.status, info.price) == ("pending", 100)
    # The first c1 is live: risk must keep counting it, so it is not told "closed".
    assert received(om.risk, ExposureChange) == []


def test_an_order_while_the_gate_is_halted_is_denied_halted(om):
    om.up()
    om.gate.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="test")
    om.place(submit("c1"))
    report = om.settle()
    (update,) = received(om.owner, OrderUpdate)
    assert (update.status, update.reason) == ("denied", "halted")
    (change,) = received(om.risk, ExposureChange)
    assert (change.client_order_id, change.closed) == ("c1", True)
    assert received(om.gw) == []
    assert report.orders == ()


def test_the_same_fill_pushed_and_then_reconciled_is_applied_once(om):
    om.up()
    om.place(submit("c1", quantity=10))
    fill = filled("c1", order_id=11, execution_id=5, quantity=4, remaining=6)
    om.tell(accepted("c1", 11), fill)
    om.tell(
        Reconciliation(
            venue=VENUE,
            open_orders=[venue_order("c1", 11, remaining=6, filled=4)],
            fills=[fill],
        )
    )
    report = om.settle()
    assert report.positions == {SYMBOL: 4}
    assert om.store.ledger.position(SYMBOL).net == 4
    assert (report.fills, report.duplicate_fills) == (1, 1)
    info = om.order("c1")
    assert (info.filled, info.status) == (4, "partially_filled")
    fills_to_risk = [c for c in received(om.risk, ExposureChange) if c.fill_quantity]
    assert len(fills_to_risk) == 1
    reconciled = [e for e in om.emitted.snapshot() if isinstance(e, ReconciliationReport)]
    assert (reconciled[-1].missed_fills, reconciled[-1].duplicate_fills) == (0, 1)


def test_a_fill_for_an_order_cancelled_locally_is_applied_not_dropped(om):
    om.up()
    om.place(submit("c1", quantity=10))
    om.tell(
        accepted("c1", 11),
        OrderCanceled(venue=VENUE, client_order_id="c1", order_id=11, reason="user"),
    )
    om.settle()
    assert om.order("c1").status == "cancelled"
    om.tell(filled("c1", order_id=11, execution_id=1, quantity=4, remaining=0, price=101))
    report = om.settle()
    info = om.order("c1")
    assert (info.status, info.filled) == ("cancelled", 4)
    assert report.positions == {SYMBOL: 4}
    assert (report.fills, report.inconsistencies) == (1, 0)
    change = received(om.risk, ExposureChange)[-1]
    assert (change.fill_quantity, change.fill_price, change.closed) == (4, 101, True)
    last = received(om.owner, OrderUpdate)[-1]
    assert (last.fill_quantity, last.execution_id) == (4, 1)


def test_a_cancel_before_the_venue_acknowledged_is_sent_once_accepted_arrives(om):
    om.up()
    om.place(submit("c1"))
    om.tell(CancelOrder(client_order_id="c1"))
    om.settle()
    assert om.order("c1").status == "pending_cancel"
    assert received(om.gw, CancelAtVenue) == []  # no order id to cancel yet
    om.tell(accepted("c1", 11))
    om.settle()
    assert received(om.gw, CancelAtVenue) == [
        CancelAtVenue(client_order_id="c1", order_id=11, instrument="X")
    ]
    assert om.order("c1").order_id == 11


def test_venue_down_marks_open_orders_pending_cancel_and_tells_notify_paths(om):
    om.up()
    om.place(submit("c1"), submit("c2"))
    om.tell(accepted("c1", 11), VenueDown(venue=VENUE, reason="gateway died"))
    report = om.settle()
    assert report.venues == {VENUE: False}
    assert {o.client_order_id: o.status for o in report.orders} == {
        "c1": "pending_cancel",
        "c2": "pending_cancel",
    }
    statuses = received(om.notify, VenueStatus)
    assert [(s.up, s.reason) for s in statuses] == [(True, "reconciled"), (False, "gateway died")]
    assert statuses[-1] in om.emitted.snapshot()
    assert received(om.gw, CancelAtVenue) == []  # nobody to send it to


def test_orders_cancel_pending_while_the_venue_was_down_get_their_cancel_after_reconciling(om):
    om.up()
    om.place(submit("c1"))
    om.tell(accepted("c1", 11), VenueDown(venue=VENUE, reason="gone"))
    om.tell(Reconciliation(venue=VENUE, open_orders=[venue_order("c1", 11)], fills=()))
    om.settle()
    assert received(om.gw, CancelAtVenue) == [
        CancelAtVenue(client_order_id="c1", order_id=11, instrument="X")
    ]
    assert om.order("c1").status == "pending_cancel"


def test_reconciliation_closes_orders_the_venue_lost_and_cancels_ones_it_does_not_know(om):
    om.up()
    om.place(submit("c1"), submit("c2"))
    om.tell(accepted("c1", 11), accepted("c2", 12))
    om.tell(
        Reconciliation(
            venue=VENUE,
            open_orders=[venue_order("c2", 12), venue_order("stranger", 99)],
            fills=(),
        )
    )
    report = om.settle()
    assert {o.client_order_id: o.status for o in report.orders} == {
        "c1": "cancelled",
        "c2": "accepted",
    }
    assert received(om.gw, CancelAtVenue) == [
        CancelAtVenue(client_order_id="stranger", order_id=99)
    ]
    closed = [c.client_order_id for c in received(om.risk, ExposureChange) if c.closed]
    assert closed == ["c1"]
    reconciled = [e for e in om.emitted.snapshot() if isinstance(e, ReconciliationReport)]
    assert (reconciled[-1].closed, reconciled[-1].unknown_at_venue) == (("c1",), ("stranger",))


def test_venue_reports_that_do_not_fit_are_counted_and_do_not_crash_the_actor(om):
    om.up()
    om.place(submit("c1"))
    om.tell(
        accepted("nobody", 1),  # an order we never sent
        OrderCanceled(venue=VENUE, client_order_id="nobody", order_id=1, reason="x"),
        OrderRejected(venue=VENUE, client_order_id="c1", reason="bad price"),
        # cancelled after it was rejected: not a transition the order has
        OrderCanceled(venue=VENUE, client_order_id="c1", order_id=11, reason="x"),
    )
    report = om.settle()
    assert report.inconsistencies == 3
    assert om.order("c1").status == "rejected"
    assert om.tree.stats(OM).restarts == 0
    om.place(submit("c2"))  # and it still works
    om.settle()
    assert [m.order.client_order_id for m in received(om.gw, PlaceOrder)] == ["c1", "c2"]


def test_a_repeated_cancelled_settles_the_order_once(om):
    # The code treats a second Cancelled as already settled (e.g. by a reconciliation
    # that got there first): not an inconsistency, and risk hears the close only once.
    om.up()
    om.place(submit("c1"))
    report = OrderCanceled(venue=VENUE, client_order_id="c1", order_id=11, reason="x")
    om.tell(accepted("c1", 11), report, report)
    assert om.settle().inconsistencies == 0
    assert om.order("c1").status == "cancelled"
    closed = [c for c in received(om.risk, ExposureChange) if c.closed]
    assert len(closed) == 1


def test_a_restarted_order_manager_keeps_the_stores_orders_and_answers_the_last_execution_id(
    om, events: EventRecorder
):
    om.up()
    om.place(submit("c1", quantity=10), submit("c2"))
    om.tell(
        accepted("c1", 11),
        filled("c1", order_id=11, execution_id=7, quantity=3, remaining=7),
        filled("c1", order_id=11, execution_id=3, quantity=2, remaining=5),
    )
    before = om.settle()
    assert om.tree.faults(OM).kill()
    events.wait_for(ActorStarted, OM, where=lambda e: e.incarnation == 2)
    after = om.report()
    assert after.orders == before.orders
    assert {o.client_order_id: (o.status, o.filled) for o in after.orders} == {
        "c1": ("partially_filled", 5),
        "c2": ("pending", 0),
    }
    assert (after.positions, after.fills) == ({SYMBOL: 5}, 2)
    assert after.venues == {VENUE: False}  # down again until its gateway reconciles
    # ids 3 and 7 applied, 1-2 and 4-6 not: fills must be fetched again after 0
    assert om.tree.address(OM).ask(LastExecutionId(venue=VENUE), timeout=10) == 0
    assert om.tree.address(OM).ask(LastExecutionId(venue="elsewhere"), timeout=10) == 0


def test_a_fill_for_an_unknown_order_counts_in_the_exposure_risk_rebuilds_from(om):
    om.up()
    om.tell(filled("placed-before-a-restart", order_id=50, execution_id=1, quantity=5, remaining=0))
    report = om.settle()
    assert report.inconsistencies == 1
    assert om.store.ledger.position(SYMBOL).net == 5  # the ledger has it...
    snapshot: ExposureSnapshot = om.tree.address(OM).ask(GetExposure(), timeout=10)
    assert snapshot.positions == {SYMBOL: 5}  # ...a restarted risk does not


def test_an_order_closed_locally_but_open_at_the_venue_is_cancelled_there(om):
    # The PlaceOrder waits in the gateway's mailbox while the gateway restarts; the new
    # gateway reconciles first (the venue has no c1, so c1 is closed here) and then
    # sends it: the venue accepts an order the manager and risk count as closed.
    om.up()
    om.place(submit("c1"))
    om.tell(
        VenueDown(venue=VENUE, reason="gateway died"),
        Reconciliation(venue=VENUE, open_orders=(), fills=()),
        accepted("c1", 11),
        Reconciliation(venue=VENUE, open_orders=[venue_order("c1", 11)], fills=()),
    )
    om.settle()
    assert om.order("c1").status == "cancelled"
    assert CancelAtVenue(client_order_id="c1", order_id=11, instrument="X") in received(om.gw)


def test_checkpoints_go_to_the_journal_on_a_timer_when_anything_was_recorded(make_tree):
    clock = FakeClock()
    journal = Inbox()
    store = OrderStore()
    spec = SupervisorSpec(
        name="root",
        children=(
            *(ChildSpec(name=name, actor=Probe, args=(Inbox(),)) for name in NEIGHBOURS),
            ChildSpec(name="journal", actor=Probe, args=(journal,)),
            ChildSpec(
                name=OM,
                actor=OrderManagerActor,
                args=(store, {VENUE: "gw"}, "risk", TradingGate(clock)),
                kwargs={
                    "journal": "journal",
                    "checkpoint": lambda s, now: ("checkpoint", s.fills, now),
                    "checkpoint_interval": 5.0,
                },
            ),
        ),
    )
    tree = make_tree(spec, clock=clock)
    om = tree.address(OM)

    def checkpoints() -> list[tuple[str, int, int]]:
        flush(om)  # what the timer told it is handled, and what it told the journal sent
        flush(tree.address("journal"))
        return [
            record
            for message in received(journal, WriteAhead)
            for record in message.records
            if isinstance(record, tuple)
        ]

    om.tell(Reconciliation(venue=VENUE, open_orders=(), fills=()))
    clock.advance(5.0)
    assert [c[:2] for c in checkpoints()] == [("checkpoint", 0)]  # the first: always
    clock.advance(5.0)
    assert len(checkpoints()) == 1  # nothing recorded since: skipped
    om.tell(PlaceOrder(order=submit("c1")))
    clock.advance(5.0)  # an order, no fill: a long session of such is long to read again
    assert [c[:2] for c in checkpoints()] == [("checkpoint", 0), ("checkpoint", 0)]
    om.tell(filled("c1", order_id=1, execution_id=1, quantity=4, remaining=6))
    clock.advance(5.0)
    assert [c[:2] for c in checkpoints()][-1] == ("checkpoint", 1)
    clock.advance(5.0)
    assert len(checkpoints()) == 3  # nothing since: skipped
    om.ask(TakeCheckpoint(), timeout=10)  # asked (at a clean stop): taken whatever came
    assert len(checkpoints()) == 4
