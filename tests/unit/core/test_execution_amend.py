"""The execution core's amends: in flight, done in place or by cancel-replace, refused, raced."""

from __future__ import annotations

from test_execution import GATEWAY, OWNER, RISK, VENUE, core_up, fill, run, submit

from tradeactors.core.execution import ExecutionCore, Step
from tradeactors.core.messages import (
    AmendAtVenue,
    AmendDenied,
    AmendOrder,
    AmendOutcome,
    AmendRejected,
    CancelAtVenue,
    CancelOrder,
    DenyReason,
    ExposureChange,
    FetchFills,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderRejected,
    OrderStatus,
    OrderUpdate,
    Reconciliation,
    SendAmend,
    VenueOrder,
)


def _accepted(core: ExecutionCore, cid: str = "c1", quantity: int = 10) -> None:
    run(core, submit(cid, quantity))
    run(core, OrderAccepted(venue=VENUE, client_order_id=cid, order_id=11))


def _amend(core: ExecutionCore, cid: str = "c1", **change: int) -> Step:
    step = run(core, SendAmend(amend=AmendOrder(client_order_id=cid, owner=OWNER, **change)))
    assert isinstance(step, Step)
    return step


def _sent(step: Step, path: str, kind: type) -> list:
    return [m for p, m in step.sends if p == path and isinstance(m, kind)]


def _outcome(step: Step) -> OrderUpdate:
    (update,) = [m for p, m in step.sends if p == OWNER and m.amend is not None]
    return update


def _terms(step: Step) -> tuple[int, int, int]:
    (change,) = [m for m in _sent(step, RISK, ExposureChange) if m.terms]
    return change.price, change.quantity, change.remaining


class TestInPlace:
    """A lower quantity at the same price: the venue's OrderAmended says it is done."""

    def test_an_amend_goes_to_the_gateway_with_the_order_as_it_stands(self):
        core = core_up()
        _accepted(core)
        run(core, fill("c1", 1, quantity=4, remaining=6))
        (sent,) = _sent(_amend(core, quantity=7), GATEWAY, AmendAtVenue)
        assert (sent.order_id, sent.price, sent.quantity, sent.remaining) == (11, 100, 7, 3)
        assert (sent.order.quantity, sent.keeps_priority) == (10, True)
        # risk counts the larger terms until the venue answers
        assert core.exposure().remaining == {"c1": 6}

    def test_the_venue_s_answer_sets_the_new_quantity_and_tells_owner_and_risk(self):
        core = core_up()
        _accepted(core)
        _amend(core, quantity=6)
        step = run(
            core,
            OrderAmended(
                venue=VENUE,
                client_order_id="c1",
                order_id=11,
                price=100,
                remaining=6,
                kept_priority=True,
            ),
        )
        update = _outcome(step)
        assert (update.amend, update.quantity, update.status) == (
            AmendOutcome.AMENDED,
            6,
            OrderStatus.ACCEPTED,
        )
        assert _terms(step) == (100, 6, 6)
        tracked = core.store.orders["c1"]
        assert (tracked.amend, tracked.request.quantity) == (None, 6)


class TestCancelReplace:
    """A new price: the venue cancels the order, then accepts a new one (a new order id)."""

    def test_the_cancel_is_held_and_the_new_order_s_ack_is_the_amend_done(self):
        core = core_up()
        _accepted(core)
        _amend(core, price=103)
        held = run(
            core,
            OrderCanceled(venue=VENUE, client_order_id="c1", order_id=11, reason="replaced"),
        )
        assert held.sends == []  # not closed: the replace's first half
        assert core.store.orders["c1"].order.status is OrderStatus.ACCEPTED
        step = run(core, OrderAccepted(venue=VENUE, client_order_id="c1", order_id=12))
        update = _outcome(step)
        assert (update.amend, update.price, update.quantity) == (AmendOutcome.AMENDED, 103, 10)
        tracked = core.store.orders["c1"]
        assert (tracked.order_id, tracked.held_cancel, tracked.order.status) == (
            12,
            None,
            OrderStatus.ACCEPTED,
        )
        assert _terms(step) == (103, 10, 10)

    def test_a_fill_of_the_old_order_before_the_replace_still_counts(self):
        core = core_up()
        _accepted(core)
        _amend(core, price=103)  # sent for 10 open; the venue fills 4 before it arrives
        run(core, fill("c1", 1, quantity=4, remaining=6))
        run(core, OrderCanceled(venue=VENUE, client_order_id="c1", order_id=11, reason="x"))
        run(core, OrderAccepted(venue=VENUE, client_order_id="c1", order_id=12))
        order = core.store.orders["c1"].order
        # the new order is for the 10 sent: the venue's truth, 14 in all with 4 filled
        assert (order.filled, order.quantity, order.remaining, order.price) == (4, 14, 10, 103)

    def test_a_cancel_that_then_failed_to_place_closes_the_order(self):
        core = core_up()
        _accepted(core)
        _amend(core, price=103)
        run(core, OrderCanceled(venue=VENUE, client_order_id="c1", order_id=11, reason="x"))
        step = run(
            core,
            AmendRejected(
                venue=VENUE, client_order_id="c1", reason="post_only_would_take", canceled=True
            ),
        )
        updates = [m for p, m in step.sends if p == OWNER]
        assert [(u.amend, u.status) for u in updates] == [
            (AmendOutcome.REJECTED, OrderStatus.ACCEPTED),
            (None, OrderStatus.CANCELLED),
        ]
        assert any(m.closed for m in _sent(step, RISK, ExposureChange))

    def test_the_new_order_s_rejection_report_closes_the_order_once(self):
        core = core_up()
        _accepted(core)
        _amend(core, price=103)
        run(core, OrderCanceled(venue=VENUE, client_order_id="c1", order_id=11, reason="x"))
        step = run(
            core, OrderRejected(venue=VENUE, client_order_id="c1", reason="post_only_would_take")
        )
        assert _outcome(step).amend is AmendOutcome.REJECTED
        assert core.store.orders["c1"].order.status is OrderStatus.CANCELLED
        late = run(core, AmendRejected(venue=VENUE, client_order_id="c1", reason="x"))
        assert late.sends == []  # the reply after the report: said already
        assert core.store.inconsistencies == 0

    def test_a_cancel_said_only_in_the_refusal_closes_the_order_too(self):
        core = core_up()
        _accepted(core)
        _amend(core, price=103)
        run(core, AmendRejected(venue=VENUE, client_order_id="c1", reason="x", canceled=True))
        assert core.store.orders["c1"].order.status is OrderStatus.CANCELLED


class TestRefusedAndDenied:
    """A refused or denied amend leaves the order as it was; risk hears its terms."""

    def test_a_refused_amend_leaves_the_order_unchanged(self):
        core = core_up()
        _accepted(core)
        _amend(core, quantity=4)
        step = run(core, AmendRejected(venue=VENUE, client_order_id="c1", reason="filter_failure"))
        update = _outcome(step)
        assert (update.amend, update.reason, update.quantity) == (
            AmendOutcome.REJECTED,
            "filter_failure",
            10,
        )
        assert _terms(step) == (100, 10, 10)
        assert core.store.orders["c1"].amend is None

    def test_an_unknown_order_refusal_fetches_the_fills(self):
        core = core_up()
        _accepted(core)
        _amend(core, price=99)
        step = run(core, AmendRejected(venue=VENUE, client_order_id="c1", reason="unknown_order"))
        assert _sent(step, GATEWAY, FetchFills)
        assert "c1" in core.gone

    def test_one_amend_at_a_time(self):
        core = core_up()
        _accepted(core)
        _amend(core, quantity=8)
        step = _amend(core, quantity=6)
        update = _outcome(step)
        assert (update.amend, update.reason) == (AmendOutcome.DENIED, DenyReason.AMEND_PENDING)
        assert _terms(step) == (100, 10, 10)  # the larger, while the first is in flight
        assert _sent(step, GATEWAY, AmendAtVenue) == []

    def test_an_order_not_yet_acknowledged_cannot_be_amended(self):
        core = core_up()
        run(core, submit("c1"))
        update = _outcome(_amend(core, quantity=8))
        assert (update.amend, update.reason) == (AmendOutcome.DENIED, DenyReason.NOT_AMENDABLE)

    def test_nothing_left_open_or_nothing_changing_is_invalid(self):
        core = core_up()
        _accepted(core)
        run(core, fill("c1", 1, quantity=4, remaining=6))
        assert _outcome(_amend(core, quantity=4)).reason == DenyReason.INVALID_ORDER
        assert _outcome(_amend(core, quantity=10)).reason == DenyReason.INVALID_ORDER

    def test_another_owner_s_amend_is_told_nothing_of_the_order(self):
        core = core_up()
        _accepted(core)
        step = run(
            core,
            SendAmend(amend=AmendOrder(client_order_id="c1", price=90, owner="someone")),
        )
        ((path, update),) = [(p, m) for p, m in step.sends if isinstance(m, OrderUpdate)]
        assert (path, update.reason, update.price) == ("someone", DenyReason.UNKNOWN_ORDER, 0)
        assert _sent(step, GATEWAY, AmendAtVenue) == []

    def test_risk_s_denial_is_told_with_the_order_as_it_stands(self):
        core = core_up()
        _accepted(core)
        step = run(
            core,
            AmendDenied(
                amend=AmendOrder(client_order_id="c1", quantity=90, owner=OWNER),
                reason=DenyReason.MAX_ORDER_QUANTITY,
            ),
        )
        update = _outcome(step)
        assert (update.status, update.quantity, update.reason) == (
            OrderStatus.ACCEPTED,
            10,
            DenyReason.MAX_ORDER_QUANTITY,
        )
        assert _sent(step, RISK, ExposureChange) == []  # risk never counted it


class TestCancelDuringAmend:
    """A cancel asked while an amend is in flight waits for its answer (the id may change)."""

    def test_the_cancel_goes_to_the_new_order_id(self):
        core = core_up()
        _accepted(core)
        _amend(core, price=103)
        step = run(core, CancelOrder(client_order_id="c1"))
        assert _sent(step, GATEWAY, CancelAtVenue) == []
        run(core, OrderCanceled(venue=VENUE, client_order_id="c1", order_id=11, reason="x"))
        step = run(core, OrderAccepted(venue=VENUE, client_order_id="c1", order_id=12))
        (cancel,) = _sent(step, GATEWAY, CancelAtVenue)
        assert cancel.order_id == 12


class TestReconnect:
    """An amend in flight when the venue went is settled by what the venue has open."""

    def test_the_venue_s_open_order_says_it_was_amended(self):
        core = core_up()
        _accepted(core)
        _amend(core, price=103)
        step = run(
            core,
            Reconciliation(
                venue=VENUE,
                open_orders=(
                    VenueOrder(
                        order_id=12,
                        client_order_id="c1",
                        side=submit("c1").order.side,
                        price=103,
                        remaining=10,
                        filled=0,
                    ),
                ),
                fills=(),
            ),
        )
        update = _outcome(step)
        assert (update.amend, update.price) == (AmendOutcome.AMENDED, 103)
        tracked = core.store.orders["c1"]
        assert (tracked.order_id, tracked.amend, tracked.request.price) == (12, None, 103)
        assert core.exposure().open_orders[0].price == 103
