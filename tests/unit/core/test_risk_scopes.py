"""Risk limits per strategy, per instrument and for the account, and kill-switch scopes."""

from __future__ import annotations

import itertools

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side
from tradeactors.core.risk import (
    AmendRequest,
    DenyReason,
    OrderRequest,
    RiskEngine,
    RiskLimits,
    TradingState,
)

_ids = itertools.count(1)


def req(
    strategy: str | None,
    *,
    instrument: str = "ETHUSDT",
    side: Side = Side.BUY,
    price: int = 100,
    quantity: int = 1,
    venue: str = "sim",
    ts: int = 0,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"s{next(_ids)}",
        instrument=instrument,
        side=side,
        price=price,
        quantity=quantity,
        timestamp_ns=ts,
        venue=venue,
        strategy=strategy,
    )


class TestStrategyLimits:
    """A strategy's limits count its own orders and positions only."""

    def test_a_strategy_limit_denies_only_that_strategy(self):
        engine = RiskEngine(RiskLimits(), strategy_limits={"a": RiskLimits(max_position=5)})
        assert engine.check(req("a", quantity=5)) is None
        assert engine.check(req("a", quantity=1)) is DenyReason.MAX_POSITION
        assert engine.detail == "strategy a"
        assert engine.check(req("b", quantity=5)) is None  # b has no limit of its own
        assert engine.check(req(None, quantity=5)) is None  # nor the host's orders
        engine.check_sums()

    def test_a_strategys_position_is_its_own_fills(self):
        engine = RiskEngine(RiskLimits(), strategy_limits={"a": RiskLimits(max_position=5)})
        order = req("a", quantity=4)
        assert engine.check(order) is None
        engine.fill(order.client_order_id, 4, 100)
        other = req("b", side=Side.SELL, quantity=4)
        assert engine.check(other) is None
        engine.fill(other.client_order_id, 4, 100)
        assert engine.position("ETHUSDT") == 0  # the account is flat
        assert engine.position("ETHUSDT", "a") == 4
        assert engine.position("ETHUSDT", "b") == -4
        assert engine.check(req("a", quantity=2)) is DenyReason.MAX_POSITION  # 4 + 2 > 5
        assert engine.check(req("a", side=Side.SELL, quantity=9)) is None  # -5 at worst
        engine.check_sums()

    def test_a_late_fill_of_a_forgotten_order_moves_the_strategys_position_when_named(self):
        engine = RiskEngine(RiskLimits())
        engine.fill("gone", 3, 100, instrument="ETHUSDT", side=Side.SELL, strategy="a")
        assert engine.position("ETHUSDT", "a") == -3
        assert engine.strategy_positions() == {"a": {"ETHUSDT": -3}}

    def test_open_orders_and_message_rate_per_strategy(self):
        engine = RiskEngine(
            RiskLimits(),
            strategy_limits={"a": RiskLimits(max_open_orders=2, max_messages=3)},
        )
        first, second = req("a", ts=1), req("a", ts=2)
        assert engine.check(first) is None
        assert engine.check(second) is None
        assert engine.check(req("a", ts=3)) is DenyReason.MAX_OPEN_ORDERS
        assert engine.check(req("b", ts=3)) is None
        engine.order_closed(first.client_order_id)
        assert engine.strategy_open_orders("a") == 1
        assert engine.check(req("a", ts=4)) is None  # the third message in the window
        engine.order_closed(second.client_order_id)
        assert engine.check(req("a", ts=5)) is DenyReason.MESSAGE_RATE
        assert engine.check(req("a", ts=1_000_000_004)) is None  # the window moved on
        engine.check_sums()


class TestInstrumentLimits:
    """An instrument's limits count every strategy's orders on it together."""

    def test_an_instrument_limit_counts_all_strategies(self):
        engine = RiskEngine(
            RiskLimits(max_position=100),
            instrument_limits={"ETHUSDT": RiskLimits(max_position=6, max_open_orders=3)},
        )
        assert engine.check(req("a", quantity=3)) is None
        assert engine.check(req("b", quantity=3)) is None
        assert engine.check(req("c", quantity=1)) is DenyReason.MAX_POSITION
        assert engine.detail == "instrument ETHUSDT"
        assert engine.check(req("c", instrument="BTCUSDT", quantity=50)) is None
        assert engine.check(req("c", side=Side.SELL)) is None
        assert engine.check(req("d", side=Side.SELL)) is DenyReason.MAX_OPEN_ORDERS
        engine.check_sums()

    def test_the_account_scope_keeps_its_reasons_without_detail(self):
        engine = RiskEngine(RiskLimits(max_position=2))
        assert engine.check(req("a", quantity=3)) is DenyReason.MAX_POSITION
        assert engine.detail == ""


def _instrument(symbol: str, tick: str, lot: str, venue: str = "sim") -> Instrument:
    return Instrument(venue=venue, symbol=symbol, tick_size=tick, lot_size=lot)


class TestGrossExposureInMoney:
    """Gross exposure sums the instruments of one venue in its quote currency."""

    INSTRUMENTS = {  # noqa: RUF012 - read only
        "ETHUSDT": _instrument("ETHUSDT", "0.01", "0.001"),  # a tick x lot is 0.00001
        "BTCUSDT": _instrument("BTCUSDT", "0.1", "0.0001"),  # also 0.00001, other ticks
        "SOLUSDT": _instrument("SOLUSDT", "0.01", "0.1", "other"),  # 0.001
    }

    def engine(self, **scopes: dict[str, RiskLimits]) -> RiskEngine:
        return RiskEngine(
            RiskLimits(max_gross_exposure_quote=1000.0),
            instruments=self.INSTRUMENTS,
            **scopes,
        )

    def test_two_instruments_with_different_ticks_and_lots_add_up_in_money(self):
        engine = self.engine()
        # 2000.00 x 0.2 = 400 USDT: 200000 ticks x 200 lots x 0.00001
        assert engine.check(req("a", price=200_000, quantity=200)) is None
        # 50000.0 x 0.01 = 500 USDT: 500000 ticks x 100 lots x 0.00001 (900 in all)
        btc = req("b", instrument="BTCUSDT", price=500_000, quantity=100)
        assert engine.check(btc) is None
        # another 0.011 BTC (550 USDT) would make 1450 > 1000
        more = req("b", instrument="BTCUSDT", price=500_000, quantity=110)
        assert engine.check(more) is DenyReason.MAX_GROSS_EXPOSURE
        # 100 USDT more is exactly at the limit
        assert engine.check(req("b", instrument="BTCUSDT", price=500_000, quantity=20)) is None
        # another venue has its own sum: 150.00 x 6 = 900 USDT there
        assert engine.check(req("c", instrument="SOLUSDT", venue="other", price=15_000,
                                quantity=60)) is None  # fmt: skip
        engine.check_sums()

    def test_a_filled_position_counts_at_its_last_fill_price(self):
        engine = self.engine()
        order = req("a", price=200_000, quantity=400)  # 800 USDT
        assert engine.check(order) is None
        engine.fill(order.client_order_id, 400, 250_000)  # now held at 2500.00: 1000 USDT
        assert engine.check(req("a", price=100, quantity=1)) is DenyReason.MAX_GROSS_EXPOSURE

    def test_a_strategys_money_limit_counts_its_own_exposure(self):
        engine = self.engine(strategy_limits={"a": RiskLimits(max_gross_exposure_quote=100.0)})
        assert engine.check(req("b", price=200_000, quantity=200)) is None  # 400, b's
        assert engine.check(req("a", price=200_000, quantity=50)) is None  # 100, a's
        assert engine.check(req("a", price=100, quantity=1)) is DenyReason.MAX_GROSS_EXPOSURE
        assert engine.detail == "strategy a"

    def test_an_instrument_without_sizes_is_denied_under_a_money_limit(self):
        engine = self.engine()
        reason = engine.check(req("a", instrument="XRPUSDT"))
        assert reason is DenyReason.MAX_GROSS_EXPOSURE
        assert "XRPUSDT" in engine.detail


class TestKillSwitchStates:
    """HALTED or REDUCING in the order's strategy scope applies to that strategy's orders."""

    def test_a_halted_strategy_scope_denies_with_its_scope(self):
        engine = RiskEngine(RiskLimits())
        engine.strategy_state = TradingState.HALTED
        assert engine.check(req("a")) is DenyReason.HALTED
        assert engine.detail == "strategy a"

    def test_reducing_a_strategy_admits_only_orders_that_reduce_its_own_position(self):
        engine = RiskEngine(RiskLimits())
        long_a = req("a", quantity=3)
        short_b = req("b", side=Side.SELL, quantity=5)
        for order in (long_a, short_b):
            assert engine.check(order) is None
            engine.fill(order.client_order_id, order.quantity, 100)
        engine.strategy_state = TradingState.REDUCING  # a's scope
        # the account is short 2, but a is long 3: a may only sell, at most 3
        assert engine.check(req("a", quantity=1)) is DenyReason.REDUCE_ONLY
        assert engine.detail == "strategy a"
        assert engine.check(req("a", side=Side.SELL, quantity=4)) is DenyReason.REDUCE_ONLY
        assert engine.check(req("a", side=Side.SELL, quantity=3)) is None

    @pytest.mark.parametrize("state", [TradingState.REDUCING, TradingState.HALTED])
    def test_the_account_state_still_applies_to_every_strategy(self, state):
        engine = RiskEngine(RiskLimits())
        engine.state = state
        expected = DenyReason.HALTED if state is TradingState.HALTED else DenyReason.REDUCE_ONLY
        assert engine.check(req("a")) is expected
        assert engine.detail == ""


_STRATEGIES = ("a", "b", None)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["check", "fill", "close", "amend", "settle", "rebuild"]),
            st.integers(0, 5),  # which order
            st.sampled_from(_STRATEGIES),
            st.booleans(),  # buy
            st.integers(1, 6),  # quantity
            st.sampled_from(["ETHUSDT", "BTCUSDT"]),
        ),
        max_size=60,
    )
)
def test_scope_tallies_and_strategy_positions_always_equal_a_recount(steps):  # noqa: C901 - a branch per operation
    """Random operations: every scope's running sums match a recount after each, and each
    strategy's position is the sum of its own fills."""
    engine = RiskEngine(
        RiskLimits(max_position=30),
        instrument_limits={"ETHUSDT": RiskLimits(max_open_orders=4, max_messages=10)},
        strategy_limits={"a": RiskLimits(max_position=8, max_gross_exposure=5_000)},
    )
    checked: dict[str, OrderRequest] = {}  # the accepted orders, by id
    held: dict[tuple[str, str], int] = {}  # (strategy, instrument) -> lots: the model
    for time, (op, n, strategy, buy, quantity, instrument) in enumerate(steps):
        cid = f"o{n}"
        side = Side.BUY if buy else Side.SELL
        if op == "check":
            request = msgspec.structs.replace(
                req(strategy, instrument=instrument, side=side, price=100 + n,
                    quantity=quantity, ts=time),
                client_order_id=cid,
            )  # fmt: skip
            if engine.check(request) is None:
                checked[cid] = request
        elif op == "fill":
            if engine.venue_of_order(cid) is not None:  # open: booked as the order says
                order = checked[cid]
                whose, symbol, side = order.strategy, order.instrument, order.side
            else:  # a late fill: booked where the fill says
                whose, symbol = strategy, instrument
            engine.fill(cid, quantity, 100, instrument=instrument, side=side, strategy=strategy)
            if whose is not None:
                held[(whose, symbol)] = held.get((whose, symbol), 0) + side.sign * quantity
        elif op == "close":
            engine.order_closed(cid)
        elif op == "amend":
            engine.check_amend(
                AmendRequest(client_order_id=cid, price=100 + quantity, quantity=quantity,
                             timestamp_ns=time)
            )  # fmt: skip
        elif op == "settle":
            engine.amend_settled(cid, price=100, quantity=quantity, remaining=quantity - 1)
        else:
            engine.rebuild({}, [], {}, strategy_positions={"a": {"ETHUSDT": quantity}})
            held = {("a", "ETHUSDT"): quantity}
        engine.check_sums()
        for (whose, symbol), lots in held.items():
            assert engine.position(symbol, whose) == lots
