from __future__ import annotations

import pytest
from _fake_strategy_context import NS, T0, FakeContext
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeactors.strategy.builtin import Vwap, VwapParams

BID, ASK = 268_000, 268_001

PARAMS = {"quantity": 1000, "horizon": 100.0, "buckets": 10, "slice_interval": 5.0}


def vwap(**params) -> tuple[Vwap, FakeContext]:
    strategy = Vwap(VwapParams(**{**PARAMS, **params}))
    ctx = FakeContext(strategy).start()
    ctx.book(BID, ASK)
    return strategy, ctx


def sent_total(ctx: FakeContext) -> int:
    return sum(s.quantity for s in ctx.sent)


def out_and_filled(ctx: FakeContext) -> int:
    """What filled plus what its open orders may still fill."""
    return sum(s.filled for s in ctx.sent) + sum(s.quantity - s.filled for s in ctx.open())


def test_the_schedule_follows_the_profile():
    strategy, _ = vwap(profile=(1.0, 3.0))
    assert [strategy.scheduled(T0 + s * NS) for s in (0, 25, 50, 75, 99, 100, 200)] == [
        0,
        125,
        250,
        625,
        985,
        1000,
        1000,
    ]
    flat, _ = vwap()
    assert [flat.scheduled(T0 + s * NS) for s in (5, 10, 33, 50)] == [50, 100, 330, 500]
    text, _ = vwap(profile="1, 3")
    assert text.scheduled(T0 + 75 * NS) == 625


def test_each_slice_joins_the_touch_for_what_is_behind_schedule():
    strategy, ctx = vwap()
    assert ctx.timers == {Vwap.SLICE_TIMER: T0 + 5 * NS}
    for step in range(1, 18):  # the slices of buckets 0..8
        ctx.advance(5)
        assert sent_total(ctx) == strategy.scheduled(ctx.now_ns) == 50 * step
        assert ctx.sent[-1].buy
        assert (ctx.sent[-1].price, ctx.sent[-1].tif) == (BID, "gtc")
    assert ctx.cancels == []  # all still at the touch


def test_fills_count_towards_the_schedule():
    _, ctx = vwap()
    ctx.advance(5)
    ctx.fill(ctx.sent[0].client_order_id, 20)
    ctx.advance(5)  # due 100: 20 filled, 30 resting
    assert [s.quantity for s in ctx.sent] == [50, 50]
    ctx.fill(ctx.sent[0].client_order_id)
    ctx.fill(ctx.sent[1].client_order_id)
    ctx.advance(5)
    assert [s.quantity for s in ctx.sent] == [50, 50, 50]


def test_a_child_left_behind_by_the_touch_is_replaced():
    _, ctx = vwap()
    ctx.advance(5)
    ctx.at(7).book(BID + 3, ASK + 3)
    ctx.advance(3)  # t=10
    first = ctx.sent[0].client_order_id
    assert ctx.cancels == [first]
    assert [(s.price, s.quantity) for s in ctx.sent[1:]] == [(BID + 3, 50)]
    ctx.cancelled(first)  # its cancel completes: the replacement goes at once
    assert [(s.price, s.quantity) for s in ctx.sent[1:]] == [(BID + 3, 50), (BID + 3, 50)]
    assert out_and_filled(ctx) == 100


def test_a_cancel_that_loses_to_a_fill_is_not_replaced_twice():
    _, ctx = vwap()
    ctx.advance(5)
    ctx.at(7).book(BID + 3, ASK + 3)
    ctx.advance(3)
    first = ctx.sent[0].client_order_id
    ctx.fill(first)  # filled before the venue saw the cancel
    assert [s.quantity for s in ctx.sent] == [50, 50]
    assert out_and_filled(ctx) == 100


def test_the_last_bucket_crosses_the_spread_and_finishes_by_the_horizon():
    strategy, ctx = vwap()
    ctx.advance(85)  # 17 slices: 850 resting at the bid
    assert sent_total(ctx) == 850
    ctx.advance(5)  # t=90, the last bucket: cross for the schedule one slice ahead
    resting = [s.client_order_id for s in ctx.sent[:17]]
    assert ctx.cancels == resting
    assert [(s.buy, s.price, s.quantity, s.tif) for s in ctx.sent[17:]] == [(True, ASK, 100, "ioc")]
    ctx.fill(ctx.sent[17].client_order_id)
    ctx.ack_cancels()  # all cancels done: one IOC for what they held
    assert [(s.price, s.quantity, s.tif) for s in ctx.sent[18:]] == [(ASK, 850, "ioc")]
    ctx.fill(ctx.sent[18].client_order_id, 800)
    ctx.cancelled(ctx.sent[18].client_order_id)  # the IOC's rest
    ctx.advance(5)  # t=95, the last slice: everything left
    assert [(s.price, s.quantity, s.tif) for s in ctx.sent[19:]] == [(ASK, 100, "ioc")]
    ctx.fill(ctx.sent[19].client_order_id)
    assert strategy.filled == 1000
    assert strategy.done
    assert ctx.now_ns < strategy.end_ns
    mark = len(ctx.sent)
    ctx.advance(50)
    assert ctx.since(mark) == []


def test_timers_end_at_the_horizon_which_cancels_what_is_left():
    strategy, ctx = vwap(slice_interval=7.0)
    ctx.advance(200)
    assert [(t - T0) / NS for t, _ in ctx.fired] == [*range(7, 99, 7), 100]
    assert strategy.done
    assert strategy.filled == 0
    # the resting children when the last bucket began, the IOCs left hanging at the end
    assert sorted(ctx.cancels) == sorted(s.client_order_id for s in ctx.sent)
    assert ctx.timers == {}


def test_done_when_all_filled_sends_no_more():
    strategy, ctx = vwap(quantity=100)
    ctx.advance(10)
    first, second = ctx.sent
    ctx.fill(second.client_order_id)
    ctx.fill(first.client_order_id, 2)
    assert strategy.filled == 7
    ctx.advance(80)  # t=90: the last bucket
    ctx.ack_cancels()
    for sent in ctx.open():
        ctx.fill(sent.client_order_id)
    assert strategy.filled == 95  # the schedule one slice ahead
    assert not strategy.done
    ctx.advance(5)  # t=95: the last slice
    for sent in ctx.open():
        ctx.fill(sent.client_order_id)
    assert strategy.filled == 100
    assert strategy.done
    assert ctx.open() == []
    mark = len(ctx.sent)
    ctx.advance(10)
    assert ctx.since(mark) == []


def test_participation_caps_each_bucket_by_the_volume_traded_in_it():
    strategy, ctx = vwap(participation=0.1)
    ctx.advance(5)
    assert ctx.sent == []  # no volume seen: nothing
    ctx.at(6).trade(300, buy=True)
    ctx.trade(100, buy=False)
    ctx.advance(4)  # t=10, bucket 1: none traded in it yet
    assert ctx.sent == []
    ctx.at(11).trade(200, buy=True)
    ctx.advance(4)  # t=15: due 150, cap 20
    assert [s.quantity for s in ctx.sent] == [20]
    ctx.fill(ctx.sent[0].client_order_id, 15)
    ctx.trade(1000, buy=True)  # bucket 1: 1200 lots, cap 120
    ctx.advance(5)  # t=20: bucket 2 starts, nothing traded in it
    assert [s.quantity for s in ctx.sent] == [20]
    ctx.trade(600, buy=False)
    ctx.advance(5)  # t=25, cap 60 in bucket 2 less the 5 still resting
    assert [s.quantity for s in ctx.sent] == [20, 55]
    assert strategy.volume[:3] == [400, 1200, 600]


def test_participation_counts_fills_and_resting_children_of_the_bucket():
    _, ctx = vwap(participation=0.1)
    ctx.advance(1)
    ctx.trade(1000, buy=True)  # bucket 0: cap 100
    ctx.advance(4)  # t=5: due 50
    (first,) = ctx.sent
    assert first.quantity == 50
    ctx.fill(first.client_order_id, 30)  # in bucket 0
    ctx.advance(5)  # t=10, bucket 1: nothing traded in it yet
    assert len(ctx.sent) == 1
    ctx.advance(2)
    ctx.trade(600, buy=False)  # bucket 1: cap 60
    ctx.fill(first.client_order_id, 10)  # in bucket 1, 10 still resting
    ctx.advance(3)  # t=15: due 150, filled 40: behind 100; cap 60 - 10 filled - 10 resting
    assert [s.quantity for s in ctx.sent] == [50, 40]
    assert out_and_filled(ctx) == 90


@pytest.mark.parametrize(
    ("side", "limit", "touch", "passive", "crossing"),
    [
        ("buy", 267_990, (BID, ASK), 267_990, None),  # bid above the limit
        ("buy", 268_000, (BID, ASK), BID, None),  # the ask above it: no crossing
        ("buy", 268_001, (BID, ASK), BID, ASK),
        ("sell", 268_010, (BID, ASK), 268_010, None),
        ("sell", 268_001, (BID, ASK), ASK, None),
        ("sell", 268_000, (BID, ASK), ASK, BID),
        ("sell", 0, (BID, ASK), ASK, BID),
    ],
)
def test_the_limit_price_bounds_every_child(side, limit, touch, passive, crossing):
    _, ctx = vwap(side=side, limit_price=limit)
    ctx.book(*touch)
    ctx.advance(5)
    assert [(s.buy, s.price, s.tif) for s in ctx.sent] == [(side == "buy", passive, "gtc")]
    ctx.advance(85)  # t=90, the last bucket
    if crossing is None:
        assert ctx.cancels == []
        assert {(s.price, s.tif) for s in ctx.sent} == {(passive, "gtc")}
    else:
        assert ctx.sent[-1].price == crossing
        assert ctx.sent[-1].tif == "ioc"
    assert all(s.price <= limit for s in ctx.sent) if side == "buy" else True
    assert all(s.price >= limit for s in ctx.sent) if side == "sell" else True


def test_a_sell_joins_the_ask():
    _, ctx = vwap(side="sell")
    ctx.advance(5)
    assert [(s.buy, s.price, s.quantity) for s in ctx.sent] == [(False, ASK, 50)]


def test_a_slice_without_a_book_sends_nothing_and_the_next_catches_up():
    strategy = Vwap(VwapParams(**PARAMS))
    ctx = FakeContext(strategy).start()
    ctx.advance(5)
    assert ctx.sent == []
    ctx.book(BID, ASK)
    ctx.advance(5)
    assert [s.quantity for s in ctx.sent] == [100]


def test_stop_cancels_the_children_and_ends_the_work():
    strategy, ctx = vwap()
    ctx.advance(10)
    ctx.stop()
    assert ctx.cancel_alls == 1
    assert strategy.done
    mark = len(ctx.sent)
    ctx.advance(10)
    assert ctx.since(mark) == []


def test_updates_inside_submit_are_applied_once_the_id_is_known():
    class InstantFills(FakeContext):
        def submit(self, **kw) -> str:
            client_order_id = super().submit(**kw)
            self.fill(client_order_id)  # answered before submit returns
            return client_order_id

    strategy = Vwap(VwapParams(**PARAMS))
    ctx = InstantFills(strategy).start()
    ctx.book(BID, ASK)
    ctx.advance(100)
    assert strategy.filled == 1000
    assert sum(s.quantity for s in ctx.sent) == 1000
    assert strategy.done


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["advance", "book", "fill", "part", "cancelled", "trade"]),
            st.integers(min_value=0, max_value=1000),
        ),
        max_size=80,
    ),
    st.sampled_from([0.0, 0.3]),
    st.sampled_from(["buy", "sell"]),
)
def test_it_never_has_out_more_than_the_parent(actions, participation, side):
    strategy, ctx = vwap(participation=participation, side=side, quantity=700)
    for action, n in actions:
        open_ = ctx.open()
        if action == "advance":
            ctx.advance(n / 100)
        elif action == "book":
            ctx.book(BID + n % 7, ASK + n % 7 + n % 3)
        elif action == "trade":
            ctx.trade(n, buy=n % 2 == 0)
        elif open_:
            sent = open_[n % len(open_)]
            left = sent.quantity - sent.filled
            if action == "fill":
                ctx.fill(sent.client_order_id)
            elif action == "part" and left > 1:
                ctx.fill(sent.client_order_id, 1 + n % (left - 1))
            elif action == "cancelled":
                ctx.cancelled(sent.client_order_id)
        assert out_and_filled(ctx) <= 700
        assert strategy.filled == sum(s.filled for s in ctx.sent) <= 700
    ctx.advance(200)
    assert strategy.done
    assert out_and_filled(ctx) <= 700


def test_buckets_shorter_than_a_slice_still_cross_on_the_last_slice():
    strategy, ctx = vwap(buckets=100, slice_interval=5.0)  # 1 s buckets
    ctx.advance(90)
    assert all(s.tif == "gtc" for s in ctx.sent)
    ctx.advance(5)  # t=95: the last slice before the horizon
    assert ctx.sent[-1].tif == "ioc"
    ctx.ack_cancels()
    for sent in ctx.open():
        ctx.fill(sent.client_order_id)
    assert strategy.filled == 1000
    assert strategy.done
