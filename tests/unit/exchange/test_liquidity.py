"""Background liquidity: deterministic for a seed, a live two-sided market, valid books."""

from __future__ import annotations

from tradeactors.exchange.liquidity import BackgroundLiquidity, LiquidityConfig
from tradeactors.exchange.matching import EngineFilled, MatchingEngine, Side

STEP_NS = 100_000_000  # 100 ms


def _run(seed: int, steps: int = 300) -> tuple[MatchingEngine, BackgroundLiquidity, list]:
    engine = MatchingEngine()
    liquidity = BackgroundLiquidity(engine, "SIM", seed=seed)
    events = []
    for step in range(steps):
        events.extend(liquidity.step(step * STEP_NS))
        engine.check_invariants()
    return engine, liquidity, events


def test_the_same_seed_gives_the_same_market_and_another_seed_does_not():
    assert _run(7, 100)[2] == _run(7, 100)[2]
    assert _run(7, 100)[2] != _run(8, 100)[2]


def test_it_makes_a_two_sided_market_that_trades_and_moves():
    engine, liquidity, events = _run(11)
    bid, ask = engine.best("SIM")
    assert bid is not None
    assert ask is not None
    assert bid < ask
    assert ask - bid < 2 * LiquidityConfig().depth_ticks
    assert sum(1 for e in events if isinstance(e, EngineFilled)) > 20
    assert len(engine.depth("SIM", Side.BUY, 100)) > 10
    assert liquidity.mid != LiquidityConfig().start_mid


def test_a_step_with_no_time_passing_does_nothing():
    engine = MatchingEngine()
    liquidity = BackgroundLiquidity(engine, "SIM", seed=1)
    liquidity.step(0)
    assert liquidity.step(0) == []
