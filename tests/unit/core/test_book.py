"""The L2 book: levels, best prices, views, invariants; a state machine against a model."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tradeactors.core.book import BookError, BookView, OrderBook
from tradeactors.core.instrument import Instrument

INSTRUMENT = Instrument(venue="test", symbol="T", tick_size="1", lot_size="1")


def _book() -> OrderBook:
    book = OrderBook(INSTRUMENT)
    book.apply_snapshot([(99, 5), (100, 3), (98, 0)], [(101, 2), (103, 7)], update_id=10)
    return book


class TestLevels:
    def test_snapshot_sorts_levels_best_first_and_skips_empty_ones(self):
        book = _book()
        assert book.bids() == [(100, 3), (99, 5)]
        assert book.asks() == [(101, 2), (103, 7)]
        assert book.update_id == 10
        assert len(book) == 4

    def test_best_spread_and_mid(self):
        book = _book()
        assert book.best_bid() == (100, 3)
        assert book.best_ask() == (101, 2)
        assert book.spread() == 1
        assert book.mid_x2() == 201

    def test_size_zero_deletes_a_level_and_deleting_a_missing_level_is_harmless(self):
        book = _book()
        book.set_bid(100, 0)
        book.set_ask(150, 0)
        assert book.best_bid() == (99, 5)
        book.set_ask(101, 9)
        assert book.best_ask() == (101, 9)

    def test_empty_sides(self):
        book = OrderBook(INSTRUMENT)
        assert book.best_bid() is None
        assert book.best_ask() is None
        assert book.spread() is None
        assert book.mid_x2() is None

    def test_trim_keeps_the_best_levels_of_each_side(self):
        book = _book()
        book.trim(1)
        assert book.bids() == [(100, 3)]
        assert book.asks() == [(101, 2)]

    def test_depth_limits_the_levels(self):
        book = _book()
        assert book.bids(1) == [(100, 3)]
        assert book.asks(10) == [(101, 2), (103, 7)]
        assert book.bids(0) == []


class TestViews:
    def test_a_view_is_immutable_and_does_not_change_with_the_book(self):
        book = _book()
        view = book.view(depth=1, timestamp_ns=5)
        book.set_bid(100, 0)
        assert view.bids == ((100, 3),)
        assert view.best_ask == (101, 2)
        with pytest.raises(AttributeError):
            view.bids = ()  # type: ignore[misc]

    def test_a_view_round_trips_through_msgpack(self):
        view = _book().view(depth=5)
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(view), type=BookView) == view


class TestInvariants:
    def test_a_crossed_book_is_reported(self):
        book = _book()
        book.set_bid(101, 1)
        with pytest.raises(BookError, match="crossed"):
            book.check_invariants()

    def test_a_consistent_book_passes(self):
        _book().check_invariants()


prices = st.integers(1, 60)
sizes = st.integers(0, 5)


class BookMachine(RuleBasedStateMachine):
    """Random level updates that keep bids below 30 < asks, checked against dict models."""

    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook(INSTRUMENT)
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    @rule(price=st.integers(1, 29), size=sizes)
    def set_bid(self, price, size):
        self.book.set_bid(price, size)
        if size:
            self.bids[price] = size
        else:
            self.bids.pop(price, None)

    @rule(price=st.integers(31, 60), size=sizes)
    def set_ask(self, price, size):
        self.book.set_ask(price, size)
        if size:
            self.asks[price] = size
        else:
            self.asks.pop(price, None)

    @rule(
        bids=st.lists(st.tuples(st.integers(1, 29), sizes), max_size=8),
        asks=st.lists(st.tuples(st.integers(31, 60), sizes), max_size=8),
    )
    def snapshot(self, bids, asks):
        self.book.apply_snapshot(bids, asks, update_id=1)
        self.bids = {p: s for p, s in bids if s}
        self.asks = {p: s for p, s in asks if s}

    @rule(
        bids=st.lists(st.tuples(st.integers(1, 29), sizes), max_size=6),
        asks=st.lists(st.tuples(st.integers(31, 60), sizes), max_size=6),
    )
    def apply_levels(self, bids, asks):
        self.book.apply_levels(bids, asks, update_id=7)
        for model, levels in ((self.bids, bids), (self.asks, asks)):
            for price, size in levels:
                if size:
                    model[price] = size
                else:
                    model.pop(price, None)

    @rule(depth=st.integers(0, 6))
    def trim(self, depth):
        self.book.trim(depth)
        self.bids = dict(sorted(self.bids.items(), reverse=True)[:depth])
        self.asks = dict(sorted(self.asks.items())[:depth])

    @invariant()
    def matches_the_model_and_holds_its_invariants(self):
        self.book.check_invariants()
        assert self.book.bids() == sorted(self.bids.items(), reverse=True)
        assert self.book.asks() == sorted(self.asks.items())
        best_bid = max(self.bids.items(), default=None)
        assert self.book.best_bid() == best_bid
        best_ask = min(self.asks.items(), default=None)
        assert self.book.best_ask() == best_ask


TestBookMachine = BookMachine.TestCase
