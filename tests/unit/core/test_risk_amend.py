"""Risk's amend checks: an amended order is checked as a new one; no limit is bypassed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tradeactors.core.messages import Side
from tradeactors.core.risk import (
    AmendRequest,
    DenyReason,
    OrderRequest,
    RiskEngine,
    RiskLimits,
    TradingState,
)


def _order(engine: RiskEngine, cid: str = "c1", *, price: int = 100, quantity: int = 10) -> None:
    request = OrderRequest(
        client_order_id=cid, instrument="X", side=Side.BUY, price=price, quantity=quantity,
        timestamp_ns=0,
    )  # fmt: skip
    assert engine.check(request) is None


def _amend(
    engine: RiskEngine, cid: str = "c1", *, price: int | None = None, quantity: int | None = None
) -> DenyReason | None:
    return engine.check_amend(
        AmendRequest(client_order_id=cid, price=price, quantity=quantity, timestamp_ns=1)
    )


class TestAsANewOrder:
    """Past a limit, an amend is denied with the limit's reason; the order keeps counting."""

    def test_a_larger_quantity_is_checked_against_the_order_quantity_limit(self):
        engine = RiskEngine(RiskLimits(max_order_quantity=12))
        _order(engine)
        assert _amend(engine, quantity=13) is DenyReason.MAX_ORDER_QUANTITY
        assert _amend(engine, quantity=12) is None

    def test_its_own_exposure_does_not_count_twice(self):
        engine = RiskEngine(RiskLimits(max_position=10, credit_limit=1000))
        _order(engine)  # 10 lots at 100: every limit is used up
        assert _amend(engine, price=99) is None  # moved, not doubled
        engine.check_sums()

    def test_moving_an_order_cannot_get_past_the_price_collar(self):
        engine = RiskEngine(RiskLimits(price_collar_bps=100))
        engine.set_reference("X", 100)
        _order(engine)
        assert _amend(engine, price=110) is DenyReason.PRICE_COLLAR

    def test_a_pure_decrease_passes_even_reducing_and_past_limits_that_tightened(self):
        engine = RiskEngine(RiskLimits())
        _order(engine)
        engine.state = TradingState.REDUCING
        assert _amend(engine, quantity=4) is None
        assert _amend(engine, "c1", quantity=3) is DenyReason.AMEND_PENDING

    def test_halted_denies_everything(self):
        engine = RiskEngine(RiskLimits())
        _order(engine)
        engine.state = TradingState.HALTED
        assert _amend(engine, quantity=4) is DenyReason.HALTED

    def test_an_order_risk_does_not_count_is_unknown(self):
        assert _amend(RiskEngine(RiskLimits()), quantity=4) is DenyReason.UNKNOWN_ORDER

    def test_nothing_left_open_or_no_change_is_invalid(self):
        engine = RiskEngine(RiskLimits())
        _order(engine)
        engine.fill("c1", 4, 100)
        assert _amend(engine, quantity=4) is DenyReason.INVALID_ORDER  # 4 filled already
        assert _amend(engine, quantity=10) is DenyReason.INVALID_ORDER  # as it is
        assert _amend(engine, quantity=5) is None  # 1 left open


class TestWhileInFlight:
    """Until settled the larger terms count; the settlement sets the venue's."""

    def test_the_larger_of_old_and_new_counts_then_what_was_settled(self):
        engine = RiskEngine(RiskLimits(max_position=25))
        _order(engine)
        assert _amend(engine, quantity=20) is None
        # 20 open now (the larger, until the venue answers): 6 more would pass 25
        more = OrderRequest(
            client_order_id="c2", instrument="X", side=Side.BUY, price=100, quantity=6,
            timestamp_ns=2,
        )  # fmt: skip
        assert engine.check(more) is DenyReason.MAX_POSITION
        engine.check_sums()

    def test_settled_terms_replace_the_in_flight_ones(self):
        engine = RiskEngine(RiskLimits(max_position=25))
        _order(engine)
        assert _amend(engine, quantity=20) is None
        engine.amend_settled("c1", price=100, quantity=10, remaining=10)  # refused
        _order(engine, "c2", quantity=15)
        engine.check_sums()


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["amend", "fill", "settle"]),
            st.integers(1, 30),
            st.integers(90, 110),
        ),
        max_size=30,
    )
)
def test_running_sums_stay_exact_whatever_the_amends(steps):
    engine = RiskEngine(RiskLimits())
    _order(engine, quantity=20)
    for kind, quantity, price in steps:
        if kind == "amend":
            _amend(engine, price=price, quantity=quantity)
        elif kind == "fill":
            engine.fill("c1", 1, price)
        else:
            engine.amend_settled("c1", price=price, quantity=quantity, remaining=quantity // 2)
        engine.check_sums()
