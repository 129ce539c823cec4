from __future__ import annotations

from _fake_strategy_context import FakeContext

from tradeactors.strategy.builtin import MarketMaker, MarketMakerParams

BID, ASK = 268_000, 268_001  # ETHUSDT 2680.00 / 2680.01: mid 268000.5


def maker(**params) -> tuple[MarketMaker, FakeContext]:
    strategy = MarketMaker(MarketMakerParams(**params))
    return strategy, FakeContext(strategy).start()


def quotes(ctx: FakeContext) -> list[tuple[str, int, int]]:
    return [("bid" if s.buy else "ask", s.price, s.quantity) for s in ctx.resting()]


def test_quotes_one_bid_and_one_ask_around_the_mid():
    _, ctx = maker(half_spread=3, size=100)
    ctx.book(BID, ASK)
    # the half-tick mid is rounded down for the bid and up for the ask
    assert quotes(ctx) == [("bid", BID - 3, 100), ("ask", ASK + 3, 100)]
    assert all(s.post_only and s.tif == "gtc" for s in ctx.sent)


def test_an_even_spread_quotes_symmetrically_around_the_mid():
    _, ctx = maker(half_spread=3)
    ctx.book(268_000, 268_004)  # mid 268002
    assert [s.price for s in ctx.sent] == [267_999, 268_005]


def test_a_long_position_skews_both_quotes_down_and_a_short_one_up():
    _, ctx = maker(half_spread=3, skew=0.01)
    ctx.position = 200  # 2 ticks of skew
    ctx.book(BID, ASK)
    assert [s.price for s in ctx.sent] == [BID - 5, ASK + 1]

    _, ctx = maker(half_spread=3, skew=0.01)
    ctx.position = -300
    ctx.book(BID, ASK)
    assert [s.price for s in ctx.sent] == [BID, ASK + 6]


def test_a_quote_is_never_through_the_opposite_touch():
    _, ctx = maker(half_spread=1, skew=1.0, size=5, max_inventory=50)
    ctx.position = -40  # 40 ticks up: the bid would cross the ask
    ctx.book(BID, ASK)
    assert [(s.buy, s.price) for s in ctx.sent] == [(True, ASK - 1), (False, ASK + 41)]


def test_no_quote_on_the_side_that_would_pass_max_inventory():
    _, ctx = maker(size=100, max_inventory=500)
    ctx.position = 401  # another 100 bought would be 501
    ctx.book(BID, ASK)
    assert [s.buy for s in ctx.sent] == [False]

    _, ctx = maker(size=100, max_inventory=500)
    ctx.position = 400  # exactly 500 is allowed
    ctx.book(BID, ASK)
    assert [s.buy for s in ctx.sent] == [True, False]

    _, ctx = maker(size=100, max_inventory=500)
    ctx.position = -401
    ctx.book(BID, ASK)
    assert [s.buy for s in ctx.sent] == [True]


def test_requotes_only_when_the_mid_moved_requote_ticks():
    _, ctx = maker(requote=2, min_interval=0.25)
    ctx.book(BID, ASK)
    assert len(ctx.sent) == 2
    ctx.advance(1)
    ctx.book(BID + 1, ASK + 1)  # 1 tick: not enough
    ctx.book(BID - 1, ASK)  # half a tick
    assert len(ctx.sent) == 2
    assert ctx.cancels == []
    ctx.book(BID + 2, ASK + 2)  # 2 ticks
    assert ctx.cancels == [s.client_order_id for s in ctx.sent[:2]]
    assert [s.price for s in ctx.sent[2:]] == [BID + 2 - 3, ASK + 2 + 3]


def test_requotes_at_most_once_per_min_interval():
    _, ctx = maker(requote=2, min_interval=0.25)
    ctx.book(BID, ASK)
    ctx.advance(0.2)
    ctx.book(BID + 10, ASK + 10)  # a big move, too soon
    assert len(ctx.sent) == 2
    assert ctx.cancels == []
    ctx.advance(0.05)  # 0.25 s since the last quote
    ctx.book(BID + 10, ASK + 10)
    assert len(ctx.sent) == 4
    ctx.advance(0.1)
    ctx.book(BID + 20, ASK + 20)
    assert len(ctx.sent) == 4
    ctx.advance(0.15)
    ctx.book(BID + 20, ASK + 20)
    assert len(ctx.sent) == 6


def test_a_fill_requotes_with_the_new_skew_and_keeps_a_quote_already_in_place():
    _, ctx = maker(half_spread=3, skew=0.01, size=100, min_interval=0.25)
    ctx.book(BID, ASK)
    bid, ask = ctx.sent
    ctx.accept(bid.client_order_id)
    ctx.accept(ask.client_order_id)
    ctx.fill(bid.client_order_id, 40)  # position 40: skew round(0.4) = 0
    ctx.advance(1)
    ctx.book(BID, ASK)
    assert ctx.cancels == []  # same prices: both kept
    assert len(ctx.sent) == 2
    ctx.fill(bid.client_order_id)  # position 100: 1 tick of skew
    assert ctx.position == 100
    ctx.advance(1)
    ctx.book(BID, ASK)
    assert ctx.cancels == [ask.client_order_id]  # the filled bid is gone already
    assert [(s.buy, s.price) for s in ctx.sent[2:]] == [(True, BID - 4), (False, ASK + 2)]


def test_ended_quotes_are_forgotten_and_replaced():
    strategy, ctx = maker(min_interval=0.25)
    ctx.book(BID, ASK)
    bid, ask = ctx.sent
    ctx.update(bid.client_order_id, "rejected", reason="post_only_would_take")
    ctx.update(ask.client_order_id, "expired")
    assert strategy._live() == []
    ctx.advance(1)
    ctx.book(BID, ASK)  # the mid did not move, but no quote is left
    assert len(ctx.sent) == 4
    assert ctx.cancels == []


def test_one_quote_denied_is_not_resent_until_the_mid_moves():
    _, ctx = maker(min_interval=0.25, requote=2)
    ctx.book(BID, ASK)
    ctx.update(ctx.sent[0].client_order_id, "denied", reason="max_open_orders")
    ctx.advance(1)
    ctx.book(BID, ASK)
    assert len(ctx.sent) == 2
    ctx.book(BID + 2, ASK + 2)
    assert [s.buy for s in ctx.sent[2:]] == [True, False]
    assert ctx.cancels == [ctx.sent[1].client_order_id]


def test_a_cancelled_quote_is_not_cancelled_twice():
    _, ctx = maker(min_interval=0.25, requote=2)
    ctx.book(BID, ASK)
    ctx.advance(1)
    ctx.book(BID + 5, ASK + 5)
    ctx.advance(1)
    ctx.book(BID + 10, ASK + 10)  # the first cancels are not answered yet
    assert len(ctx.cancels) == len(set(ctx.cancels)) == 4
    ctx.ack_cancels()
    assert [s.price for s in ctx.open()] == [BID + 10 - 3, ASK + 10 + 3]


def test_no_quote_on_an_empty_side_a_crossed_book_or_at_a_non_positive_price():
    _, ctx = maker(half_spread=3)
    ctx.book(None, ASK)
    ctx.book(BID, None)
    ctx.book(ASK, BID)  # crossed
    ctx.book(BID, BID)  # locked
    assert ctx.sent == []
    ctx.book(2, 3)  # the bid would be at -1
    assert [(s.buy, s.price) for s in ctx.sent] == [(False, 6)]


def test_cancels_its_quotes_on_stop():
    strategy, ctx = maker()
    ctx.book(BID, ASK)
    ctx.stop()
    assert ctx.cancel_alls == 1
    assert strategy._live() == []


def test_the_same_events_give_the_same_orders():
    def run() -> list[tuple]:
        _, ctx = maker(min_interval=0.1)
        for step in range(50):
            ctx.advance(0.05)
            ctx.book(BID + (step * 7) % 11, ASK + (step * 7) % 11)
            if step % 9 == 0 and ctx.resting():
                ctx.fill(ctx.resting()[0].client_order_id)
        return [(s.buy, s.price, s.quantity, s.at_ns) for s in ctx.sent]

    assert run() == run()


def test_sends_nothing_after_stop():
    _, ctx = maker(min_interval=0.25)
    ctx.book(BID, ASK)
    ctx.stop()
    ctx.ack_cancels()
    ctx.advance(1)
    ctx.book(BID + 10, ASK + 10)
    assert len(ctx.sent) == 2
