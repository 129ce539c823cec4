"""The matching engine: price-time priority cases, and random streams keep invariants."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeactors.exchange.matching import (
    CancelStatus,
    EngineAccepted,
    EngineAmended,
    EngineCanceled,
    EngineFilled,
    Liquidity,
    MatchingEngine,
    RejectReason,
    Side,
    TimeInForce,
)

BUY, SELL = Side.BUY, Side.SELL
_ids = iter(range(1, 10**9))


def place(engine: MatchingEngine, account: str, side: Side, qty: int, price: int, **kw: Any):
    events = engine.submit(
        account=account,
        client_order_id=f"c{next(_ids)}",
        instrument="X",
        side=side,
        quantity=qty,
        price=price,
        **kw,
    )
    engine.check_invariants()
    return events


def order_id(events) -> int:
    return next(e.order_id for e in events if isinstance(e, EngineAccepted))


def fills(events, account: str | None = None):
    return [
        (f.account, f.price, f.quantity, f.liquidity)
        for f in events
        if isinstance(f, EngineFilled) and (account is None or f.account == account)
    ]


@pytest.fixture
def engine() -> MatchingEngine:
    return MatchingEngine(maker_fee_bps=-1, taker_fee_bps=5)


class TestMatchingCases:
    def test_a_taker_sweeps_levels_best_first_and_oldest_first(self, engine):
        place(engine, "m1", SELL, 2, 101)
        place(engine, "m2", SELL, 3, 101)
        place(engine, "m3", SELL, 5, 102)
        events = place(engine, "t", BUY, 7, 102)
        assert fills(events, "t") == [
            ("t", 101, 2, Liquidity.TAKER),
            ("t", 101, 3, Liquidity.TAKER),
            ("t", 102, 2, Liquidity.TAKER),
        ]
        assert [(a, q) for a, _, q, _ in fills(events) if a != "t"] == [
            ("m1", 2),
            ("m2", 3),
            ("m3", 2),
        ]
        assert engine.depth("X", SELL) == [(102, 3)]
        assert engine.position("t", "X") == 7
        assert engine.position("m3", "X") == -2

    def test_the_unfilled_rest_of_a_gtc_limit_rests_at_its_price(self, engine):
        place(engine, "m", SELL, 2, 101)
        place(engine, "t", BUY, 5, 101)
        assert engine.best("X") == (101, None)
        assert engine.depth("X", BUY) == [(101, 3)]

    def test_ioc_expires_what_does_not_fill_at_once(self, engine):
        place(engine, "m", SELL, 2, 101)
        events = place(engine, "t", BUY, 5, 101, tif=TimeInForce.IOC)
        assert fills(events, "t") == [("t", 101, 2, Liquidity.TAKER)]
        (expired,) = [e for e in events if isinstance(e, EngineCanceled)]
        assert (expired.quantity, expired.reason, expired.status) == (
            3,
            "ioc",
            CancelStatus.EXPIRED,
        )
        assert engine.open_orders("t") == []

    def test_fok_is_all_or_nothing(self, engine):
        place(engine, "m", SELL, 2, 101)
        place(engine, "m", SELL, 2, 102)
        accepted, expired = place(engine, "t", BUY, 5, 102, tif=TimeInForce.FOK)
        assert isinstance(accepted, EngineAccepted)  # Binance: NEW, then EXPIRED
        assert isinstance(expired, EngineCanceled)
        assert (expired.quantity, expired.reason, expired.status) == (
            5,
            "fok",
            CancelStatus.EXPIRED,
        )
        assert engine.depth("X", SELL) == [(101, 2), (102, 2)]
        events = place(engine, "t", BUY, 4, 102, tif=TimeInForce.FOK)
        assert sum(q for _, _, q, _ in fills(events, "t")) == 4

    def test_post_only_is_rejected_if_it_would_take_and_rests_otherwise(self, engine):
        place(engine, "m", SELL, 2, 101)
        (reject,) = place(engine, "t", BUY, 1, 101, post_only=True)
        assert reject.reason is RejectReason.POST_ONLY_WOULD_TAKE
        events = place(engine, "t", BUY, 1, 100, post_only=True)
        assert isinstance(events[0], EngineAccepted)
        assert engine.best("X") == (100, 101)

    def test_a_market_order_never_trades_through_its_protection_price(self, engine):
        place(engine, "m", SELL, 1, 101)
        place(engine, "m", SELL, 1, 150)
        events = place(engine, "t", BUY, 5, 110, market=True)
        assert fills(events, "t") == [("t", 101, 1, Liquidity.TAKER)]
        (expired,) = [e for e in events if isinstance(e, EngineCanceled)]
        assert (expired.quantity, expired.reason, expired.status) == (
            4,
            "market_protection",
            CancelStatus.EXPIRED,
        )
        assert engine.open_orders("t") == []

    def test_a_size_decrease_keeps_priority_and_an_increase_is_refused(self, engine):
        first = order_id(place(engine, "a", SELL, 5, 101))
        place(engine, "b", SELL, 5, 101)
        (amended,) = engine.amend(account="a", order_id=first, remaining=3)
        assert isinstance(amended, EngineAmended)
        assert (amended.order_id, amended.price, amended.remaining) == (first, 101, 3)
        assert amended.kept_priority
        events = place(engine, "t", BUY, 3, 101)
        assert [a for a, _, _, liq in fills(events) if liq is Liquidity.MAKER] == ["a"]
        second = order_id(place(engine, "a", SELL, 2, 101))
        (refused,) = engine.amend(account="a", order_id=second, remaining=4)
        assert refused.reason is RejectReason.AMEND_QUANTITY_INCREASE
        events = place(engine, "t", BUY, 6, 101)
        assert [(a, q) for a, _, q, liq in fills(events) if liq is Liquidity.MAKER] == [
            ("b", 5),
            ("a", 1),
        ]
        engine.check_invariants()

    def test_a_price_amend_that_crosses_trades_at_once_as_a_new_order(self, engine):
        place(engine, "m", SELL, 2, 105)
        resting = order_id(place(engine, "t", BUY, 2, 100))
        events = engine.amend(account="t", order_id=resting, price=105)
        cancelled, accepted = events[:2]
        assert isinstance(cancelled, EngineCanceled)
        assert (cancelled.order_id, cancelled.reason) == (resting, "replaced")
        assert isinstance(accepted, EngineAccepted)
        assert accepted.order_id != resting
        assert fills(events, "t") == [("t", 105, 2, Liquidity.TAKER)]
        engine.check_invariants()

    def test_self_trade_prevention_cancels_the_resting_order_and_trades_with_others(self, engine):
        own = order_id(place(engine, "a", SELL, 2, 101))
        place(engine, "b", SELL, 2, 101)
        events = place(engine, "a", BUY, 2, 101)
        (expired,) = [e for e in events if isinstance(e, EngineCanceled)]
        assert (expired.order_id, expired.reason, expired.status) == (
            own,
            "self_trade",
            CancelStatus.EXPIRED_IN_MATCH,
        )
        assert fills(events, "a") == [("a", 101, 2, Liquidity.TAKER)]
        assert engine.position("a", "X") == 2

    def test_fees_are_exact_basis_points_maker_rebate_and_taker_fee(self, engine):
        place(engine, "m", SELL, 3, 1000)
        events = place(engine, "t", BUY, 3, 1000)
        fees = {f.account: f.fee_e4 for f in events if isinstance(f, EngineFilled)}
        assert fees == {"m": -3000, "t": 15000}  # price * qty * bps

    def test_cancel_and_cancel_all_per_account_and_instrument(self, engine):
        keep = order_id(place(engine, "b", SELL, 1, 110))
        one = order_id(place(engine, "a", SELL, 1, 111))
        place(engine, "a", SELL, 1, 112)
        engine.submit(
            account="a", client_order_id="y1", instrument="Y", side=SELL, quantity=1, price=5
        )
        assert engine.cancel(account="b", order_id=one)[0].reason is RejectReason.NOT_YOUR_ORDER
        assert isinstance(engine.cancel(account="a", order_id=one)[0], EngineCanceled)
        assert engine.cancel(account="a", order_id=one)[0].reason is RejectReason.UNKNOWN_ORDER
        assert len(engine.cancel_all(account="a", instrument="X")) == 1
        assert [o.instrument for o in engine.open_orders("a")] == ["Y"]
        assert len(engine.cancel_all(account="a")) == 1
        assert [o.order_id for o in engine.open_orders("b")] == [keep]
        engine.check_invariants()

    def test_execution_ids_increase_per_account_and_fills_are_queryable_since_one(self, engine):
        for _ in range(3):
            place(engine, "m", SELL, 1, 101)
            place(engine, "t", BUY, 1, 101)
        assert [f.execution_id for f in engine.fills_since("t")] == [1, 2, 3]
        assert [f.execution_id for f in engine.fills_since("t", 2)] == [3]

    @pytest.mark.parametrize(
        ("kwargs", "reason"),
        [
            ({"quantity": 0}, RejectReason.LOT_SIZE),
            ({"price": 0}, RejectReason.PRICE_FILTER),
        ],
    )
    def test_invalid_orders_are_rejected_with_a_reason(self, engine, kwargs, reason):
        request = {"account": "a", "client_order_id": "z", "instrument": "X", "side": BUY,
                   "quantity": 1, "price": 100} | kwargs  # fmt: skip
        (reject,) = engine.submit(**request)
        assert reject.reason is reason

    def test_a_reused_client_order_id_is_rejected(self, engine):
        engine.submit(
            account="a", client_order_id="dup", instrument="X", side=BUY, quantity=1, price=1
        )
        (reject,) = engine.submit(
            account="a", client_order_id="dup", instrument="X", side=BUY, quantity=1, price=1
        )
        assert reject.reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID


requests = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from([BUY, SELL]),
            st.integers(1, 5),
            st.integers(95, 105),
            st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
            st.booleans(),
        ),
        st.tuples(st.just("cancel"), st.sampled_from(["a", "b", "c"]), st.integers(1, 60)),
        st.tuples(
            st.just("amend"),
            st.sampled_from(["a", "b", "c"]),
            st.integers(1, 60),
            st.integers(0, 6),
            st.integers(95, 105),
        ),
        st.tuples(st.just("cancel_all"), st.sampled_from(["a", "b", "c"])),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(requests)
def test_random_order_streams_keep_every_invariant_and_conserve_quantity(stream):
    engine = MatchingEngine(maker_fee_bps=1, taker_fee_bps=2)
    traded = {BUY: 0, SELL: 0}
    for number, request in enumerate(stream):
        kind, account = request[0], request[1]
        if kind == "submit":
            _, _, side, qty, price, tif, post_only = request
            events = engine.submit(account=account, client_order_id=str(number), instrument="X",
                                   side=side, quantity=qty, price=price, tif=tif,
                                   post_only=post_only and tif is TimeInForce.GTC)  # fmt: skip
        elif kind == "cancel":
            events = engine.cancel(account=account, order_id=request[2])
        elif kind == "amend":
            events = engine.amend(
                account=account, order_id=request[2], remaining=request[3], price=request[4]
            )
        else:
            events = engine.cancel_all(account=account)
        for event in events:
            if isinstance(event, EngineFilled):
                traded[event.side] += event.quantity
        engine.check_invariants()
    assert traded[BUY] == traded[SELL]  # every fill has a buyer and a seller
