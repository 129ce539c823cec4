"""Matching semantics as Binance spot's (issue 18, item 8), with Binance's documented examples.

Found by comparing fills with NautilusTrader's matching engine: a post-only order
amended to a crossing price traded as a taker; amend let quantity grow; an unfillable
FOK was a reject, an IOC/market remainder and a self-trade-prevention cancel were plain
cancels. Binance: LIMIT_MAKER is refused if it would take; ``order.amend.keepPriority``
only lowers the quantity and a price change is ``order.cancelReplace`` (a new order id,
at the back); FOK/IOC/market leftovers are NEW then EXPIRED; an STP victim is
EXPIRED_IN_MATCH.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeactors.core.instrument import Instrument
from tradeactors.exchange.matching import (
    CancelStatus,
    EngineAccepted,
    EngineAmended,
    EngineCanceled,
    EngineFilled,
    EngineRejected,
    Filters,
    Liquidity,
    MatchingEngine,
    RejectReason,
    Side,
    TimeInForce,
)

BUY, SELL = Side.BUY, Side.SELL
# Binance's examples use prices like 1.2 and quantities like 8.1
BTC = Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.1", lot_size="0.01")


class _Venue:
    """An engine with Binance-looking helpers: decimal strings in, events out."""

    def __init__(self) -> None:
        self.engine = MatchingEngine(filters={"BTCUSDT": Filters.of(BTC)})
        self.count = 0

    def place(self, account: str, side: Side, quantity: str, price: str, **kw: Any) -> list:
        self.count += 1
        events = self.engine.submit(
            account=account,
            client_order_id=kw.pop("client_order_id", f"c{self.count}"),
            instrument="BTCUSDT",
            side=side,
            quantity=BTC.size(quantity),
            price=BTC.price(price),
            **kw,
        )
        self.engine.check_invariants()
        return events

    def amend(self, account: str, order_id: int, **kw: Any) -> list:
        events = self.engine.amend(account=account, order_id=order_id, **kw)
        self.engine.check_invariants()
        return events

    def open(self, account: str) -> list[tuple[int, str, str]]:
        return [
            (o.order_id, BTC.format_price(o.price), BTC.format_size(o.remaining))
            for o in self.engine.open_orders(account)
        ]


@pytest.fixture
def venue() -> _Venue:
    return _Venue()


def accepted_id(events: list) -> int:
    return next(e.order_id for e in events if isinstance(e, EngineAccepted))


def makers(events: list) -> list[tuple[str, int, int]]:
    """(account, price, quantity) of the maker side of every fill."""
    return [
        (f.account, f.price, f.quantity)
        for f in events
        if isinstance(f, EngineFilled) and f.liquidity is Liquidity.MAKER
    ]


def ends(events: list) -> list[tuple[int, str, str, CancelStatus]]:
    """(order id, quantity, reason, status) of every cancel or expiry."""
    return [
        (e.order_id, BTC.format_size(e.quantity), e.reason, e.status)
        for e in events
        if isinstance(e, EngineCanceled)
    ]


class TestExpiry:
    """FOK, IOC and market leftovers: accepted (NEW) first, then EXPIRED."""

    def test_an_unfillable_fok_is_accepted_then_expires_and_trades_nothing(self, venue):
        venue.place("m", SELL, "1.00", "100.0")
        events = venue.place("t", BUY, "2.00", "100.0", tif=TimeInForce.FOK)
        first = accepted_id(events)
        assert isinstance(events[0], EngineAccepted)
        assert ends(events) == [(first, "2.00", "fok", CancelStatus.EXPIRED)]
        assert not any(isinstance(e, EngineFilled) for e in events)
        assert venue.open("m") == [(1, "100.0", "1.00")]
        again = venue.place("t", BUY, "1.00", "100.0", client_order_id="c2")
        assert isinstance(again[0], EngineRejected)  # the expired FOK used its client id
        assert again[0].reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID

    def test_an_ioc_that_fills_nothing_is_accepted_then_expires(self, venue):
        events = venue.place("t", BUY, "1.00", "100.0", tif=TimeInForce.IOC)
        assert [type(e) for e in events] == [EngineAccepted, EngineCanceled]
        assert ends(events) == [(accepted_id(events), "1.00", "ioc", CancelStatus.EXPIRED)]

    def test_a_market_order_that_empties_the_book_expires_for_lack_of_liquidity(self, venue):
        venue.place("m", SELL, "0.50", "100.0")
        events = venue.place("t", BUY, "2.00", "200.0", tif=TimeInForce.IOC, market=True)
        assert ends(events) == [
            (accepted_id(events), "1.50", "insufficient_liquidity", CancelStatus.EXPIRED)
        ]

    def test_a_user_cancel_is_a_cancel_not_an_expiry(self, venue):
        resting = accepted_id(venue.place("m", SELL, "0.50", "100.0"))
        (cancelled,) = venue.engine.cancel(account="m", order_id=resting)
        assert ends([cancelled]) == [(resting, "0.50", "user", CancelStatus.CANCELED)]
        resting = accepted_id(venue.place("m", SELL, "0.50", "100.0"))
        assert ends(venue.engine.cancel_all(account="m")) == [
            (resting, "0.50", "user", CancelStatus.CANCELED)
        ]


class TestSelfTradePrevention:
    """The engine's STP is Binance's EXPIRE_MAKER; the examples are its STP FAQ's."""

    def test_scenario_b_expire_maker_expires_the_resting_orders_and_the_taker_rests(self, venue):
        # Maker 1: BUY 1.2 @ 1.2, Maker 2: BUY 1.3 @ 1.1, Maker 3: BUY 8.1 @ 1
        makers = [
            accepted_id(venue.place("me", BUY, quantity, price))
            for quantity, price in (("1.20", "1.2"), ("1.30", "1.1"), ("8.10", "1.0"))
        ]
        # Taker: SELL 3 @ 1 -> the three makers EXPIRED_IN_MATCH, the taker NEW on the book
        events = venue.place("me", SELL, "3.00", "1.0")
        taker = accepted_id(events)
        assert ends(events) == [
            (makers[0], "1.20", "self_trade", CancelStatus.EXPIRED_IN_MATCH),
            (makers[1], "1.30", "self_trade", CancelStatus.EXPIRED_IN_MATCH),
            (makers[2], "8.10", "self_trade", CancelStatus.EXPIRED_IN_MATCH),
        ]
        assert not any(isinstance(e, EngineFilled) for e in events)
        assert venue.open("me") == [(taker, "1.0", "3.00")]

    def test_scenario_f_a_market_order_expires_the_maker_and_then_expires_itself(self, venue):
        # Maker: BUY 1 @ 1; Taker: SELL MARKET 1 -> maker EXPIRED_IN_MATCH, taker EXPIRED
        maker = accepted_id(venue.place("me", BUY, "1.00", "1.0"))
        events = venue.place("me", SELL, "1.00", "0.1", tif=TimeInForce.IOC, market=True)
        assert ends(events) == [
            (maker, "1.00", "self_trade", CancelStatus.EXPIRED_IN_MATCH),
            (accepted_id(events), "1.00", "insufficient_liquidity", CancelStatus.EXPIRED),
        ]


class TestAmendKeepPriority:
    """Binance's order amend keep priority FAQ: the book at 87,000, your order second."""

    @pytest.fixture
    def book(self, venue) -> dict[str, int]:
        return {
            "A": accepted_id(venue.place("A", BUY, "1.00", "87000.0")),
            "YOU": accepted_id(venue.place("YOU", BUY, "5.50", "87000.0")),
            "B": accepted_id(venue.place("B", BUY, "4.00", "87000.0")),
            "C": accepted_id(venue.place("C", BUY, "2.00", "86999.0")),
        }

    def test_lowering_the_quantity_keeps_the_order_id_and_its_place(self, venue, book):
        (amended,) = venue.amend("YOU", book["YOU"], remaining=BTC.size("5.00"))
        assert isinstance(amended, EngineAmended)
        assert (amended.order_id, amended.kept_priority) == (book["YOU"], True)
        assert venue.open("YOU") == [(book["YOU"], "87000.0", "5.00")]
        events = venue.place("S", SELL, "6.00", "87000.0")  # A's 1.00, then all of yours
        assert [(account, quantity) for account, _, quantity in makers(events)] == [
            ("A", 100),
            ("YOU", 500),
        ]

    @pytest.mark.parametrize(
        ("quantity", "reason"),
        [
            ("6.00", RejectReason.AMEND_QUANTITY_INCREASE),
            ("5.50", RejectReason.AMEND_NO_CHANGE),
            ("0", RejectReason.LOT_SIZE),  # Binance: newQty must be greater than 0
        ],
    )
    def test_a_raise_no_change_or_zero_is_refused_and_changes_nothing(
        self, venue, book, quantity, reason
    ):
        (refused,) = venue.amend("YOU", book["YOU"], remaining=BTC.size(quantity))
        assert isinstance(refused, EngineRejected)
        assert (refused.reason, refused.order_id) == (reason, book["YOU"])
        assert venue.open("YOU") == [(book["YOU"], "87000.0", "5.50")]
        assert RejectReason.AMEND_QUANTITY_INCREASE.code == -2038
        assert (
            RejectReason.AMEND_QUANTITY_INCREASE.message
            == "Order amend (quantity increase) is not supported."
        )

    def test_a_price_change_is_a_cancel_replace_a_new_order_at_the_back(self, venue, book):
        events = venue.amend("YOU", book["YOU"], price=BTC.price("86999.0"))
        new = accepted_id(events)
        assert new != book["YOU"]
        assert ends(events) == [(book["YOU"], "5.50", "replaced", CancelStatus.CANCELED)]
        (accepted,) = [e for e in events if isinstance(e, EngineAccepted)]
        assert (accepted.client_order_id, BTC.format_size(accepted.quantity)) == ("c2", "5.50")
        events = venue.place("S", SELL, "8.00", "86999.0")  # the level's queue: C, then you
        assert makers(events) == [
            ("A", 870_000, 100),
            ("B", 870_000, 400),
            ("C", 869_990, 200),
            ("YOU", 869_990, 100),
        ]

    def test_a_cancel_replace_may_change_the_quantity_as_a_new_order_does(self, venue, book):
        events = venue.amend(
            "YOU", book["YOU"], price=BTC.price("86998.0"), remaining=BTC.size("7.00")
        )
        assert venue.open("YOU") == [(accepted_id(events), "86998.0", "7.00")]

    def test_a_cancel_replace_that_fails_a_filter_leaves_the_order_as_it_was(self, venue, book):
        (refused,) = venue.amend("YOU", book["YOU"], price=10**30)
        assert refused.reason is RejectReason.PRICE_FILTER
        assert venue.open("YOU") == [(book["YOU"], "87000.0", "5.50")]


class TestPostOnly:
    """Post-only is LIMIT_MAKER: refused whenever it would take."""

    def test_a_post_only_order_that_would_take_is_refused(self, venue):
        venue.place("m", SELL, "1.00", "101.0")
        (refused,) = venue.place("t", BUY, "1.00", "101.0", post_only=True)
        assert refused.reason is RejectReason.POST_ONLY_WOULD_TAKE
        assert RejectReason.POST_ONLY_WOULD_TAKE.code == -2010
        assert RejectReason.POST_ONLY_WOULD_TAKE.message == (
            "Order would immediately match and take."
        )

    def test_a_post_only_order_amended_to_a_crossing_price_is_refused_and_stays(self, venue):
        venue.place("m", SELL, "1.00", "101.0")
        resting = accepted_id(venue.place("t", BUY, "1.00", "100.0", post_only=True))
        (refused,) = venue.amend("t", resting, price=BTC.price("101.0"))
        assert (refused.reason, refused.order_id) == (RejectReason.POST_ONLY_WOULD_TAKE, resting)
        assert venue.open("t") == [(resting, "100.0", "1.00")]
        assert venue.engine.position("t", "BTCUSDT") == 0

    def test_a_post_only_order_stays_post_only_after_a_cancel_replace(self, venue):
        venue.place("m", SELL, "1.00", "101.0")
        resting = accepted_id(venue.place("t", BUY, "1.00", "99.0", post_only=True))
        moved = accepted_id(venue.amend("t", resting, price=BTC.price("100.0")))
        (refused,) = venue.amend("t", moved, price=BTC.price("101.0"))
        assert refused.reason is RejectReason.POST_ONLY_WOULD_TAKE
        assert venue.open("t") == [(moved, "100.0", "1.00")]

    def test_an_ordinary_order_amended_to_a_crossing_price_trades_as_a_taker(self, venue):
        venue.place("m", SELL, "1.00", "101.0")
        resting = accepted_id(venue.place("t", BUY, "1.00", "100.0"))
        events = venue.amend("t", resting, price=BTC.price("101.0"))
        taker = [(f.account, f.liquidity) for f in events if isinstance(f, EngineFilled)]
        assert taker == [("m", Liquidity.MAKER), ("t", Liquidity.TAKER)]


requests = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.sampled_from(["a", "b"]),
            st.sampled_from([BUY, SELL]),
            st.integers(1, 5),
            st.integers(97, 103),
            st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
            st.booleans(),
        ),
        st.tuples(
            st.just("amend"),
            st.sampled_from(["a", "b"]),
            st.integers(1, 40),
            st.one_of(st.none(), st.integers(0, 6)),
            st.one_of(st.none(), st.integers(97, 103)),
        ),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(requests)
def test_every_order_is_accepted_before_it_ends_and_a_refused_amend_changes_nothing(stream):
    engine = MatchingEngine()
    accepted: set[int] = set()
    post_only: set[int] = set()
    for number, request in enumerate(stream):
        before = engine.open_orders("a") + engine.open_orders("b")
        if request[0] == "submit":
            _, account, side, quantity, price, tif, maker = request
            events = engine.submit(
                account=account, client_order_id=str(number), instrument="X", side=side,
                quantity=quantity, price=price, tif=tif, post_only=maker,
            )  # fmt: skip
        else:
            _, account, order_id, remaining, price = request
            events = engine.amend(account=account, order_id=order_id, remaining=remaining,
                                  price=price)  # fmt: skip
        # a cancel-replace keeps the order's post-only flag
        maker = request[-1] if request[0] == "submit" else request[2] in post_only
        for event in events:
            if isinstance(event, EngineAccepted):
                accepted.add(event.order_id)
                if maker:
                    post_only.add(event.order_id)
            elif isinstance(event, EngineFilled | EngineCanceled | EngineAmended):
                assert event.order_id in accepted  # NEW comes first, always
            if isinstance(event, EngineFilled) and event.liquidity is Liquidity.TAKER:
                assert event.order_id not in post_only  # a maker never takes
            if isinstance(event, EngineCanceled) and event.reason in ("ioc", "fok"):
                assert event.status is CancelStatus.EXPIRED
        if [type(e) for e in events] == [EngineRejected]:
            assert engine.open_orders("a") + engine.open_orders("b") == before
        engine.check_invariants()
        open_ids = {o.order_id for o in engine.open_orders("a") + engine.open_orders("b")}
        assert all(o in accepted for o in open_ids)
