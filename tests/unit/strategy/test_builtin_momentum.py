from __future__ import annotations

import pytest
from _fake_strategy_context import FakeContext

from tradeactors.strategy.builtin import Momentum, MomentumParams

BID, ASK = 268_000, 268_001  # mid 268000.5; 5 bps of it is 134 ticks

PARAMS = {
    "window": 10.0,
    "threshold_bps": 5.0,
    "target_bps": 8.0,
    "stop_bps": 4.0,
    "max_hold": 30.0,
    "cooldown": 10.0,
    "size": 100,
    "slippage": 2,
}


def momentum(**params) -> tuple[Momentum, FakeContext]:
    strategy = Momentum(MomentumParams(**{**PARAMS, **params}))
    return strategy, FakeContext(strategy).start()


def book(ctx: FakeContext, seconds: float, up: int) -> None:
    """The book at ``seconds``, ``up`` ticks above BID/ASK."""
    ctx.at(seconds)
    ctx.book(BID + up, ASK + up)


def enter_long(ctx: FakeContext, *, fill_price: int = ASK + 200) -> str:
    book(ctx, 0, 0)
    book(ctx, 10, 200)  # +7.5 bps in 10 s
    (entry,) = ctx.sent
    ctx.fill(entry.client_order_id, fill_price=fill_price)
    return entry.client_order_id


def test_a_move_over_the_threshold_enters_with_an_ioc_through_the_touch():
    _, ctx = momentum()
    book(ctx, 0, 0)
    book(ctx, 5, 100)  # +3.7 bps: not enough
    assert ctx.sent == []
    book(ctx, 10, 200)  # +7.5 bps against the book at t=0
    (entry,) = ctx.sent
    assert (entry.buy, entry.price, entry.quantity, entry.tif) == (True, ASK + 200 + 2, 100, "ioc")


def test_a_move_down_enters_short():
    _, ctx = momentum()
    book(ctx, 0, 0)
    book(ctx, 10, -200)
    (entry,) = ctx.sent
    assert (entry.buy, entry.price, entry.tif) == (False, BID - 200 - 2, "ioc")


def test_no_signal_before_a_whole_window_of_mids():
    _, ctx = momentum()
    book(ctx, 0, 0)
    book(ctx, 5, 500)  # a big move, but only 5 s of history
    assert ctx.sent == []
    book(ctx, 10, 500)
    assert len(ctx.sent) == 1


def test_the_move_is_measured_against_the_mid_a_window_ago():
    _, ctx = momentum()
    book(ctx, 0, 0)
    book(ctx, 3, 300)
    book(ctx, 13, 350)  # +50 ticks since t=3 (the latest book 10 s ago): nothing
    assert ctx.sent == []


def test_with_use_flow_the_trade_flow_must_agree():
    _, ctx = momentum(use_flow=True, min_flow=50)
    book(ctx, 0, 0)
    ctx.at(5)
    ctx.trade(200, buy=False)
    ctx.trade(100, buy=True)  # flow -100
    book(ctx, 10, 200)
    assert ctx.sent == []
    ctx.trade(140, buy=True)  # flow +40: not more than min_flow
    book(ctx, 10.5, 200)
    assert ctx.sent == []
    ctx.trade(20, buy=True)  # +60
    book(ctx, 11, 200)
    assert [s.buy for s in ctx.sent] == [True]


def test_trades_older_than_the_window_leave_the_flow():
    strategy, ctx = momentum(use_flow=True)
    ctx.at(0)
    ctx.trade(500, buy=True)
    ctx.at(1)
    ctx.trade(100, buy=False)
    assert strategy.flow == 400
    book(ctx, 10.5, 0)
    assert strategy.flow == -100


def test_exits_at_the_profit_target():
    strategy, ctx = momentum()
    enter_long(ctx)
    assert ctx.position == 100
    assert strategy.entry_price == ASK + 200
    book(ctx, 11, 410)  # +7.8 bps over the entry price: not yet
    assert len(ctx.sent) == 1
    book(ctx, 12, 420)  # +8.2 bps
    exit_ = ctx.sent[1]
    assert (exit_.buy, exit_.price, exit_.quantity, exit_.tif) == (False, BID + 420 - 2, 100, "ioc")
    assert strategy.exits == {"target": 1}


def test_exits_at_the_stop():
    strategy, ctx = momentum()
    enter_long(ctx)
    book(ctx, 11, 100)  # -3.75 bps
    assert len(ctx.sent) == 1
    book(ctx, 12, 90)  # -4.1 bps
    assert [(s.buy, s.quantity) for s in ctx.sent[1:]] == [(False, 100)]
    assert strategy.exits == {"stop": 1}


def test_a_short_exits_by_buying():
    strategy, ctx = momentum()
    book(ctx, 0, 0)
    book(ctx, 10, -200)
    ctx.fill(ctx.sent[0].client_order_id, fill_price=BID - 200)
    assert ctx.position == -100
    book(ctx, 11, -420)  # the mid fell another 8 bps: profit
    exit_ = ctx.sent[1]
    assert (exit_.buy, exit_.price, exit_.quantity) == (True, ASK - 420 + 2, 100)
    assert strategy.exits == {"target": 1}


def test_exits_after_max_hold_even_without_a_book():
    strategy, ctx = momentum()
    enter_long(ctx)
    assert ctx.timers == {Momentum.MAX_HOLD_TIMER: ctx.now_ns + 30 * 1_000_000_000}
    book(ctx, 39, 200)
    assert len(ctx.sent) == 1
    ctx.advance(1)  # 30 s after the entry fill: the timer fires
    assert [(s.buy, s.quantity, s.tif) for s in ctx.sent[1:]] == [(False, 100, "ioc")]
    assert strategy.exits == {"max_hold": 1}


def test_exits_after_max_hold_on_a_book():
    strategy, ctx = momentum()
    enter_long(ctx)
    ctx.timers.clear()  # as if the timer were late
    book(ctx, 39.9, 200)
    assert len(ctx.sent) == 1
    book(ctx, 40, 200)
    assert strategy.exits == {"max_hold": 1}


def test_an_exit_filled_in_part_is_sent_again_for_the_rest():
    strategy, ctx = momentum()
    enter_long(ctx)
    book(ctx, 12, 420)
    exit_ = ctx.sent[1]
    ctx.fill(exit_.client_order_id, 60)
    ctx.cancelled(exit_.client_order_id)  # the IOC's rest
    assert ctx.position == 40
    book(ctx, 13, 300)  # no longer at the target, but it is closing
    assert [(s.buy, s.quantity) for s in ctx.sent[2:]] == [(False, 40)]
    ctx.fill(ctx.sent[2].client_order_id)
    assert ctx.position == 0
    assert strategy.exits == {"target": 1}


def test_one_position_at_a_time_and_nothing_while_an_ioc_is_in_flight():
    _, ctx = momentum()
    book(ctx, 0, 0)
    book(ctx, 10, 200)
    book(ctx, 25, 600)  # a new signal, the entry IOC unanswered
    assert len(ctx.sent) == 1
    ctx.fill(ctx.sent[0].client_order_id, fill_price=ASK + 600)
    book(ctx, 26, 700)  # a signal while long: no more (and +3.7 bps < target)
    assert len(ctx.sent) == 1


def test_cooldown_between_entries():
    _, ctx = momentum(cooldown=10.0)
    enter_long(ctx)  # entered at t=10
    book(ctx, 12, 420)
    ctx.fill(ctx.sent[1].client_order_id)
    assert ctx.position == 0
    book(ctx, 15, 700)  # a signal, 5 s after the entry
    book(ctx, 19.9, 900)
    assert len(ctx.sent) == 2
    book(ctx, 20, 900)  # 10 s after the entry: +26 bps against t=10
    assert [s.buy for s in ctx.sent[2:]] == [True]


def test_an_entry_that_did_not_fill_still_counts_for_the_cooldown():
    _, ctx = momentum(cooldown=10.0)
    book(ctx, 0, 0)
    book(ctx, 10, 200)
    ctx.update(ctx.sent[0].client_order_id, "denied", reason="price_collar")
    assert ctx.position == 0
    book(ctx, 11, 300)
    assert len(ctx.sent) == 1
    book(ctx, 20, 600)
    assert len(ctx.sent) == 2


def test_the_entry_price_is_the_average_of_the_entry_fills():
    strategy, ctx = momentum()
    book(ctx, 0, 0)
    book(ctx, 10, 200)
    entry = ctx.sent[0].client_order_id
    ctx.fill(entry, 25, fill_price=268_200)
    ctx.fill(entry, 75, fill_price=268_204)
    assert strategy.entry_price == pytest.approx(268_203)


def test_a_position_it_did_not_open_is_taken_at_the_mid_and_held_at_most_max_hold():
    strategy, ctx = momentum()
    ctx.position = -50
    book(ctx, 0, 0)
    assert strategy.entry_price == pytest.approx(268_000.5)
    assert ctx.sent == []
    book(ctx, 30, 10)
    assert [(s.buy, s.quantity) for s in ctx.sent] == [(True, 50)]
    assert strategy.exits == {"max_hold": 1}


def test_stop_cancels_what_is_in_flight():
    _, ctx = momentum()
    book(ctx, 0, 0)
    book(ctx, 10, 200)
    ctx.stop()
    assert ctx.cancel_alls == 1


def test_a_sell_never_goes_out_at_a_non_positive_price():
    _, ctx = momentum(slippage=5)
    ctx.at(0)
    ctx.book(2_000, 2_001)
    ctx.at(10)
    ctx.book(2, 3)
    assert [(s.buy, s.price) for s in ctx.sent] == [(False, 1)]


def test_sends_nothing_after_stop_even_when_its_timer_fires():
    strategy, ctx = momentum()
    enter_long(ctx)
    ctx.stop()
    ctx.advance(60)  # the max_hold timer fires after the stop (as a backtest may)
    book(ctx, 100, 0)
    assert len(ctx.sent) == 1
    assert strategy.exits == {}
