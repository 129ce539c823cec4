"""The order state machine, client order ids and the position ledger."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tradeactors.core.messages import Side
from tradeactors.core.orders import (
    ClientOrderIds,
    IllegalTransitionError,
    Ledger,
    Order,
    OrderStatus,
    Position,
    Trigger,
)

S, T = OrderStatus, Trigger


def _order(quantity: int = 10) -> Order:
    return Order("c1", "X", side=Side.BUY, price=100, quantity=quantity)


def _live(quantity: int = 10) -> Order:
    order = _order(quantity)
    order.apply(T.SUBMIT)
    order.apply(T.ACCEPT)
    return order


class TestTransitions:
    def test_the_happy_path_new_pending_accepted_partially_filled_filled(self):
        order = _order()
        assert order.apply(T.SUBMIT) is S.PENDING
        assert order.apply(T.ACCEPT) is S.ACCEPTED
        assert order.fill(4) is S.PARTIALLY_FILLED
        assert order.fill(6) is S.FILLED
        assert order.remaining == 0

    def test_risk_denial_and_venue_rejection(self):
        denied = _order()
        assert denied.apply(T.DENY) is S.DENIED
        rejected = _order()
        rejected.apply(T.SUBMIT)
        assert rejected.apply(T.REJECT) is S.REJECTED

    def test_an_illegal_transition_raises_a_precise_error_and_changes_nothing(self):
        order = _live()
        order.fill(10)
        with pytest.raises(
            IllegalTransitionError, match="cannot request_cancel while filled"
        ) as caught:
            order.apply(T.REQUEST_CANCEL)
        assert (caught.value.status, caught.value.trigger) == (S.FILLED, T.REQUEST_CANCEL)
        assert order.status is S.FILLED

    def test_a_cancel_that_loses_the_race_to_a_fill_ends_filled(self):
        order = _live()
        order.apply(T.REQUEST_CANCEL)
        assert order.fill(3) is S.PENDING_CANCEL
        assert order.fill(7) is S.FILLED

    def test_a_rejected_cancel_returns_the_order_to_where_it_was(self):
        order = _live()
        order.apply(T.REQUEST_CANCEL)
        order.fill(3)
        assert order.apply(T.CANCEL_REJECTED) is S.PARTIALLY_FILLED
        fresh = _live()
        fresh.apply(T.REQUEST_CANCEL)
        assert fresh.apply(T.CANCEL_REJECTED) is S.ACCEPTED

    def test_a_fill_for_an_order_cancelled_locally_is_applied_not_dropped(self):
        order = _live()
        order.apply(T.REQUEST_CANCEL)
        order.apply(T.CANCELLED)
        assert order.fill(4) is S.CANCELLED
        assert order.filled == 4
        assert order.fill(6) is S.FILLED

    def test_overfills_are_refused(self):
        order = _live(5)
        with pytest.raises(ValueError, match="fill of 6 with 5 left"):
            order.fill(6)


class TestClientOrderIds:
    def test_ids_are_unique_within_and_across_restarts(self):
        first = ClientOrderIds(started_ns=1_700_000_000_000_000_000)
        ids = {first.next() for _ in range(1000)}
        restarted = ClientOrderIds(started_ns=1_700_000_000_000_000_001)
        ids |= {restarted.next() for _ in range(1000)}
        assert len(ids) == 2000


class TestPosition:
    def test_average_price_realized_and_unrealized(self):
        position = Position()
        position.apply_fill(+2, 100)
        position.apply_fill(+2, 110)
        assert (position.net, position.average_price) == (4, 105)
        position.apply_fill(-3, 120)
        assert position.realized == (120 - 105) * 3
        assert position.unrealized(100) == (100 - 105) * 1

    def test_a_fill_through_zero_flips_the_position_at_the_fill_price(self):
        position = Position()
        position.apply_fill(+2, 100)
        position.apply_fill(-5, 90)
        assert (position.net, position.average_price, position.realized) == (-3, 90, -20)

    @given(
        st.lists(st.tuples(st.integers(-5, 5).filter(bool), st.integers(1, 200)), max_size=40),
        st.integers(1, 200),
    )
    def test_realized_plus_unrealized_equals_the_cash_flow_pnl(self, fills, mark):
        ledger = Ledger()
        cash = Fraction(0)
        for quantity, price in fills:
            ledger.apply_fill("X", quantity, price)
            cash -= quantity * price
        position = ledger.position("X")
        assert position.net == sum(q for q, _ in fills)
        assert position.realized + position.unrealized(mark) == cash + position.net * mark


class OrderMachine(RuleBasedStateMachine):
    """Random triggers and fills: legal ones apply, illegal ones raise and change nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.order = _order(10)

    @rule(trigger=st.sampled_from([t for t in Trigger if t not in (T.FILL, T.PARTIAL_FILL)]))
    def trigger(self, trigger):
        before = (self.order.status, self.order.filled)
        try:
            self.order.apply(trigger)
        except IllegalTransitionError:
            assert (self.order.status, self.order.filled) == before

    @rule(quantity=st.integers(1, 10))
    def fill(self, quantity):
        before = (self.order.status, self.order.filled)
        try:
            self.order.fill(quantity)
        except (IllegalTransitionError, ValueError):
            assert (self.order.status, self.order.filled) == before

    @invariant()
    def filled_is_bounded_and_filled_means_complete(self):
        assert 0 <= self.order.filled <= self.order.quantity
        assert (self.order.status is S.FILLED) == (self.order.filled == self.order.quantity)
        if self.order.status in (S.NEW, S.DENIED, S.REJECTED):
            assert self.order.filled == 0


TestOrderMachine = OrderMachine.TestCase


class TestVenueDownBeforeTheAck:
    def test_a_pending_order_can_be_marked_cancel_pending_when_its_venue_goes_down(self):
        order = Order("c1", "BTCUSDT", side=Side.BUY, price=100, quantity=10)
        order.apply(T.SUBMIT)
        assert order.apply(T.REQUEST_CANCEL) is S.PENDING_CANCEL
        assert order.apply(T.CANCELLED) is S.CANCELLED

    def test_a_venue_reject_after_a_cancel_request_ends_rejected(self):
        order = Order("c1", "BTCUSDT", side=Side.BUY, price=100, quantity=10)
        order.apply(T.SUBMIT)
        order.apply(T.REQUEST_CANCEL)
        assert order.apply(T.REJECT) is S.REJECTED
        assert not order.status.open

    def test_a_partly_filled_order_cannot_be_rejected_even_while_cancel_pending(self):
        order = Order("c1", "BTCUSDT", side=Side.BUY, price=100, quantity=10)
        order.apply(T.SUBMIT)
        order.fill(1)
        order.apply(T.REQUEST_CANCEL)
        with pytest.raises(IllegalTransitionError):
            order.apply(T.REJECT)
