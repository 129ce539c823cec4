"""A strategy's own limits given, changed and dropped while the engine runs."""

from __future__ import annotations

from tradeactors.core.messages import Side
from tradeactors.core.risk import DenyReason, OrderRequest, RiskEngine, RiskLimits


def req(strategy: str, cid: str, *, quantity: int = 1, ts: int = 0) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        instrument="ETHUSDT",
        side=Side.BUY,
        price=100,
        quantity=quantity,
        timestamp_ns=ts,
        venue="sim",
        strategy=strategy,
    )


class TestStrategyLimitsAtRunTime:
    """`RiskEngine.set_strategy_limits` applies at once to what the strategy holds."""

    def test_limits_given_later_count_the_orders_and_fills_already_counted(self):
        engine = RiskEngine(RiskLimits())  # no scoped limit at all when built
        assert engine.check(req("c", "c1", quantity=3)) is None
        engine.fill("c1", 2, 100)
        engine.set_strategy_limits("c", RiskLimits(max_position=4))
        assert engine.strategy_limits("c") == RiskLimits(max_position=4)
        # c holds 2 and has 1 open: 2 + 1 + 2 > 4
        assert engine.check(req("c", "c2", quantity=2)) is DenyReason.MAX_POSITION
        assert engine.detail == "strategy c"
        assert engine.check(req("c", "c3", quantity=1)) is None  # 2 + 1 + 1 = 4
        assert engine.check(req("d", "d1", quantity=9)) is None  # d has none of its own
        engine.check_sums()

    def test_a_rate_limit_given_later_counts_from_then_on(self):
        engine = RiskEngine(RiskLimits())
        assert engine.check(req("c", "c1", ts=1)) is None
        engine.set_strategy_limits("c", RiskLimits(max_messages=1))
        assert engine.check(req("c", "c2", ts=2)) is None  # the first one since
        assert engine.check(req("c", "c3", ts=3)) is DenyReason.MESSAGE_RATE
        assert engine.check(req("c", "c4", ts=1_000_000_003)) is None  # the window moved

    def test_dropped_limits_deny_nothing_more(self):
        engine = RiskEngine(RiskLimits(), strategy_limits={"c": RiskLimits(max_open_orders=1)})
        assert engine.check(req("c", "c1")) is None
        assert engine.check(req("c", "c2")) is DenyReason.MAX_OPEN_ORDERS
        engine.set_strategy_limits("c", None)
        assert engine.strategy_limits("c") is None
        assert engine.check(req("c", "c3")) is None
        engine.set_strategy_limits("gone", None)  # none to drop: nothing happens
        engine.check_sums()
