"""Pre-trade risk: each check denies with its reason; accepted orders count at once."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side
from tradeactors.core.risk import (
    DenyReason,
    OrderRequest,
    RiskEngine,
    RiskLimits,
    TradingState,
)

_ids = itertools.count(1)


_SIDE = {True: Side.BUY, False: Side.SELL}


def req(
    *, buy: bool = True, price: int = 100, quantity: int = 1, ts: int = 0, instrument: str = "X"
):
    return OrderRequest(
        client_order_id=f"c{next(_ids)}", instrument=instrument, side=_SIDE[buy], price=price,
        quantity=quantity, timestamp_ns=ts,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("limits", "passing", "denied", "reason"),
    [
        (RiskLimits(max_order_quantity=5), {"quantity": 5}, {"quantity": 6},
         DenyReason.MAX_ORDER_QUANTITY),
        (RiskLimits(max_order_notional=1000), {"price": 100, "quantity": 10},
         {"price": 101, "quantity": 10}, DenyReason.MAX_ORDER_NOTIONAL),
        (RiskLimits(price_collar_bps=100), {"price": 101}, {"price": 102}, DenyReason.PRICE_COLLAR),
    ],
)  # fmt: skip
def test_each_per_order_check_denies_with_its_reason(limits, passing, denied, reason):
    engine = RiskEngine(limits)
    engine.set_reference("X", 100)
    assert engine.check(req(**passing)) is None
    assert engine.check(req(**denied)) is reason


def test_a_collar_needs_a_reference_price():
    assert RiskEngine(RiskLimits(price_collar_bps=50)).check(req()) is DenyReason.NO_REFERENCE_PRICE


def test_open_orders_count_against_the_position_limit_the_moment_they_are_accepted():
    engine = RiskEngine(RiskLimits(max_position=10))
    assert engine.check(req(quantity=6)) is None
    assert engine.check(req(quantity=5)) is DenyReason.MAX_POSITION  # 6 open + 5 > 10
    assert engine.check(req(quantity=5, buy=False)) is None  # the other side is separate


def test_fills_move_open_quantity_into_the_position_and_closes_release_it():
    engine = RiskEngine(RiskLimits(max_position=10, max_open_orders=2))
    first, second = req(quantity=4), req(quantity=4)
    assert engine.check(first) is None
    assert engine.check(second) is None
    assert engine.check(req(quantity=1)) is DenyReason.MAX_OPEN_ORDERS
    engine.fill(first.client_order_id, 4, 100)  # filled: position 4, one open order left
    engine.order_closed(second.client_order_id)
    assert engine.check(req(quantity=6)) is None  # 4 + 6 = 10
    assert engine.check(req(quantity=1)) is DenyReason.MAX_POSITION


def test_message_rate_over_a_sliding_window():
    engine = RiskEngine(RiskLimits(max_messages=3, message_window_ns=1000))
    assert [engine.check(req(ts=t)) for t in (0, 10, 20)] == [None, None, None]
    assert engine.check(req(ts=30)) is DenyReason.MESSAGE_RATE
    assert engine.check(req(ts=1001)) is None  # the first one left the window


def test_a_duplicate_order_within_the_window_is_denied():
    engine = RiskEngine(RiskLimits(duplicate_window_ns=1000))
    assert engine.check(req(price=100, quantity=2, ts=0)) is None
    assert engine.check(req(price=100, quantity=2, ts=500)) is DenyReason.DUPLICATE_ORDER
    assert engine.check(req(price=100, quantity=3, ts=500)) is None
    assert engine.check(req(price=100, quantity=2, ts=1500)) is None


def test_gross_exposure_and_credit_limit():
    engine = RiskEngine(RiskLimits(max_gross_exposure=1000, credit_limit=800))
    assert engine.check(req(price=100, quantity=7)) is None
    assert engine.check(req(price=100, quantity=2)) is DenyReason.CREDIT_LIMIT  # 900 > 800
    other = RiskEngine(RiskLimits(max_gross_exposure=1000))
    other.check(req(price=100, quantity=9))
    assert other.check(req(price=100, quantity=2, instrument="Y")) is DenyReason.MAX_GROSS_EXPOSURE


def test_reducing_lets_only_position_reducing_orders_pass_and_halted_none():
    engine = RiskEngine(RiskLimits())
    opening = req(quantity=5)
    engine.check(opening)
    engine.fill(opening.client_order_id, 5, 100)
    engine.state = TradingState.REDUCING
    assert engine.check(req(quantity=1)) is DenyReason.REDUCE_ONLY
    assert engine.check(req(quantity=6, buy=False)) is DenyReason.REDUCE_ONLY  # would flip
    assert engine.check(req(quantity=3, buy=False)) is None
    engine.state = TradingState.HALTED
    assert engine.check(req(quantity=1, buy=False)) is DenyReason.HALTED


def test_per_instrument_limits_override_global_ones_field_by_field():
    engine = RiskEngine(RiskLimits(max_order_quantity=5, max_position=100),
                        per_instrument={"Y": RiskLimits(max_order_quantity=50)})  # fmt: skip
    assert engine.check(req(quantity=6)) is DenyReason.MAX_ORDER_QUANTITY
    assert engine.check(req(quantity=50, instrument="Y")) is None
    assert engine.check(req(quantity=51, instrument="Y")) is DenyReason.MAX_ORDER_QUANTITY


def test_a_rebuilt_engine_enforces_limits_from_the_order_managers_state():
    limits = RiskLimits(max_position=10)
    open_order = req(quantity=4)
    engine = RiskEngine(limits)
    engine.rebuild({"X": 5}, [open_order], remaining={open_order.client_order_id: 3})
    assert engine.check(req(quantity=3)) is DenyReason.MAX_POSITION  # 5 + 3 + 3 > 10
    assert engine.check(req(quantity=2)) is None


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5), st.booleans()), max_size=60))
def test_the_position_limit_holds_whatever_the_order_and_fill_sequence(steps):
    engine = RiskEngine(RiskLimits(max_position=12))
    position = 0
    for buy, quantity, fills in steps:
        request = req(buy=buy, quantity=quantity)
        if engine.check(request) is None and fills:
            engine.fill(request.client_order_id, quantity, 100)
            position += quantity if buy else -quantity
        assert abs(position) <= 12


def test_an_order_reusing_the_id_of_an_open_one_is_denied_and_changes_nothing():
    engine = RiskEngine(RiskLimits(max_position=10))
    first = OrderRequest(
        client_order_id="x", instrument="I", side=Side.BUY, price=100, quantity=10, timestamp_ns=1
    )
    assert engine.check(first) is None
    again = OrderRequest(
        client_order_id="x", instrument="I", side=Side.SELL, price=100, quantity=1, timestamp_ns=2
    )
    assert engine.check(again) is DenyReason.DUPLICATE_ID
    engine.fill("x", 10, 100)  # the live order's fill is booked on its own side
    assert engine.position("I") == 10


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["check", "fill", "close", "rebuild"]),
            st.integers(0, 7),  # which order
            st.booleans(),
            st.integers(1, 6),
            st.sampled_from(["A", "B"]),
        ),
        max_size=80,
    )
)
def test_the_running_open_sums_always_equal_a_recount(steps):
    engine = RiskEngine(RiskLimits(max_position=20, credit_limit=5_000, max_gross_exposure=9_000))
    for op, n, buy, quantity, instrument in steps:
        coid = f"o{n}"
        if op == "check":
            engine.check(
                OrderRequest(client_order_id=coid, instrument=instrument, side=_SIDE[buy],
                             price=100 + n, quantity=quantity, timestamp_ns=n)
            )  # fmt: skip
        elif op == "fill":
            engine.fill(coid, quantity, 100, instrument=instrument, side=_SIDE[buy])
        elif op == "close":
            engine.order_closed(coid)
        else:
            orders = [
                OrderRequest(client_order_id=f"r{i}", instrument=instrument, side=_SIDE[i % 2 == 0],
                             price=100, quantity=quantity, timestamp_ns=0)
                for i in range(n)
            ]  # fmt: skip
            engine.rebuild({instrument: quantity}, orders, {"r0": 1})
        engine.check_sums()


_WINDOW_LIMITS = {
    "X": RiskLimits(max_messages=3, message_window_ns=100, duplicate_window_ns=50),
    "Y": RiskLimits(max_messages=5, message_window_ns=300, duplicate_window_ns=200),
}


@given(
    st.lists(
        st.tuples(
            st.integers(0, 60),  # time step
            st.sampled_from(["X", "Y", "Z"]),  # Z: the global limits
            st.booleans(),
            st.integers(1, 2),  # price
            st.integers(1, 2),  # quantity
        ),
        max_size=60,
    )
)
def test_rate_and_duplicate_windows_deny_exactly_what_a_full_history_would(steps):
    """The windows keep only what they need; a naive model keeps every accepted order."""
    engine = RiskEngine(
        RiskLimits(max_messages=4, message_window_ns=200), per_instrument=_WINDOW_LIMITS
    )
    history: list[tuple[int, tuple[str, bool, int, int]]] = []  # accepted: (ts, key)
    now = 0
    for step, instrument, buy, price, quantity in steps:
        now += step
        limits = _WINDOW_LIMITS.get(instrument, RiskLimits(max_messages=4, message_window_ns=200))
        key = (instrument, buy, price, quantity)
        recent = [k for t, k in history if t > now - limits.message_window_ns]
        duplicate_window = limits.duplicate_window_ns
        if len(recent) >= limits.max_messages:
            expected = DenyReason.MESSAGE_RATE
        elif duplicate_window is not None and any(
            k == key and t > now - duplicate_window for t, k in history
        ):
            expected = DenyReason.DUPLICATE_ORDER
        else:
            expected = None
        request = req(instrument=instrument, buy=buy, price=price, quantity=quantity, ts=now)
        assert engine.check(request) is expected
        if expected is None:
            history.append((now, key))
            engine.order_closed(request.client_order_id)  # keep position limits out of it


def test_the_windows_hold_nothing_when_no_limit_uses_them():
    engine = RiskEngine(RiskLimits())
    for t in range(1000):
        request = req(ts=t * 1_000_000, price=100 + t)
        assert engine.check(request) is None
        engine.order_closed(request.client_order_id)
    assert len(engine._messages) == 0
    assert len(engine._recent) == 0


def test_the_windows_keep_only_the_longest_windows_worth():
    engine = RiskEngine(RiskLimits(max_messages=10**9, message_window_ns=10, duplicate_window_ns=5))
    for t in range(1000):
        request = req(ts=t, price=100 + t)
        assert engine.check(request) is None
        engine.order_closed(request.client_order_id)
    assert len(engine._messages) <= 10
    assert len(engine._recent) <= 5
    assert len(engine._recent_last) <= 5


class TestVenueFilters:
    """Orders the venue would refuse (its filters, from the instrument) never leave."""

    # Binance-like: tick 0.01, lot 0.001; 10.00 <= price <= 1000.00, 0.010 <= qty <= 5.000,
    # price x qty >= 5 (USDT): 500,000 ticks x lots
    INSTRUMENT = Instrument(
        venue="binance", symbol="X", tick_size="0.01", lot_size="0.001", min_price="10",
        max_price="1000", min_quantity="0.01", max_quantity="5", min_notional="5",
    )  # fmt: skip

    def engine(self, limits: RiskLimits | None = None) -> RiskEngine:
        return RiskEngine(limits or RiskLimits(), instruments={"X": self.INSTRUMENT})

    @pytest.mark.parametrize(
        ("at_the_limit", "past_it", "reason"),
        [
            ({"price": 1000, "quantity": 500}, {"price": 999, "quantity": 501},
             DenyReason.VENUE_MIN_PRICE),
            ({"price": 100_000, "quantity": 10}, {"price": 100_001, "quantity": 10},
             DenyReason.VENUE_MAX_PRICE),
            ({"price": 50_000, "quantity": 10}, {"price": 50_000, "quantity": 9},
             DenyReason.VENUE_MIN_QUANTITY),
            ({"price": 1000, "quantity": 5000}, {"price": 1000, "quantity": 5001},
             DenyReason.VENUE_MAX_QUANTITY),
            # 5.00 USDT exactly passes: 2000 ticks (20.00) x 250 lots (0.250)
            ({"price": 2000, "quantity": 250}, {"price": 2000, "quantity": 249},
             DenyReason.VENUE_MIN_NOTIONAL),
            # 19.99 x 0.251 = 5.01749 passes; 19.99 x 0.250 = 4.9975 is short
            ({"price": 1999, "quantity": 251}, {"price": 1999, "quantity": 250},
             DenyReason.VENUE_MIN_NOTIONAL),
        ],
    )  # fmt: skip
    def test_exactly_at_each_limit_passes_and_one_step_past_is_denied_with_its_reason(
        self, at_the_limit, past_it, reason
    ):
        engine = self.engine()
        assert engine.check(req(**at_the_limit)) is None
        assert engine.check(req(**past_it)) is reason
        assert engine.open_orders == 1  # the denied one does not count

    def test_an_instrument_without_filters_or_not_given_is_checked_against_the_limits_only(self):
        engine = RiskEngine(
            RiskLimits(),
            instruments={"Y": Instrument(venue="x", symbol="Y", tick_size="1", lot_size="1")},
        )
        assert engine.check(req(instrument="Y", price=1, quantity=1)) is None
        assert engine.check(req(instrument="Z", price=1, quantity=1)) is None
        assert self.engine().check(req(instrument="Z", price=1, quantity=1)) is None

    def test_the_notional_is_exact_at_sizes_float_would_round(self):
        # 1e-8 tick x 1e-8 lot, minimum 0.00000001 of the quote: 10**8 ticks x lots, and
        # 0.0001 x 0.0001 is exactly it (floats get such products wrong: 0.1 * 0.1 > 0.01)
        instrument = Instrument(
            venue="x", symbol="T", tick_size="0.00000001", lot_size="0.00000001",
            min_notional="0.00000001",
        )  # fmt: skip
        engine = RiskEngine(RiskLimits(), instruments={"T": instrument})
        assert engine.check(req(instrument="T", price=10_000, quantity=10_000)) is None
        assert engine.check(req(instrument="T", price=10_000, quantity=9_999)) is (
            DenyReason.VENUE_MIN_NOTIONAL
        )
        assert engine.check(req(instrument="T", price=9_999, quantity=10_001)) is (
            DenyReason.VENUE_MIN_NOTIONAL  # 99,999,999 ticks x lots: one short
        )

    def test_a_halted_switch_and_an_invalid_order_still_come_first(self):
        engine = self.engine()
        assert engine.check(req(price=0, quantity=1)) is DenyReason.INVALID_ORDER
        engine.state = TradingState.HALTED
        assert engine.check(req(price=1, quantity=1)) is DenyReason.HALTED
