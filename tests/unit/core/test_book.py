"""The L2 book: levels, best prices, views, invariants; a state machine against a model."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tradeactors.core.book import MAX_UNITS, BookError, BookView, OrderBook, book_instrument
from tradeactors.core.instrument import Instrument, LevelParser, ParseError

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

    def test_a_level_beyond_64_bits_is_reported(self):
        book = _book()
        book.set_ask(MAX_UNITS + 1, 1)
        with pytest.raises(BookError, match="exceeds"):
            book.check_invariants()


class TestCrossed:
    """`OrderBook.crossed`: what the venues' sync rules check after every update."""

    def test_a_book_with_bids_below_asks_is_not_crossed(self):
        assert not _book().crossed()

    def test_a_locked_book_counts_as_crossed(self):
        book = _book()
        book.set_bid(101, 1)
        assert book.crossed()

    def test_a_crossed_book_is_crossed_until_the_crossing_level_goes(self):
        book = _book()
        book.apply_levels([(102, 1)], [], update_id=11)
        assert book.crossed()
        book.apply_levels([(102, 0)], [], update_id=12)
        assert not book.crossed()

    def test_a_book_with_an_empty_side_is_never_crossed(self):
        book = OrderBook(INSTRUMENT)
        assert not book.crossed()
        book.set_bid(100, 1)
        assert not book.crossed()


class TestBookInstrument:
    """`book_instrument`: level strings a book must not hold are refused before applying."""

    UNITS = book_instrument(Instrument(venue="t", symbol="T", tick_size="0.01", lot_size="0.001"))

    @pytest.mark.parametrize("text", ["0", "0.00", "-0", "-1.00", "1e5", "NaN", "Infinity",
                                      "0.0000000000000000000000001", "1" + "0" * 59,
                                      "92233720368547758.08", ""])  # fmt: skip
    def test_prices_of_zero_off_the_tick_or_beyond_64_bits_are_parse_errors(self, text):
        with pytest.raises(ParseError):
            self.UNITS.price(text)

    def test_a_size_of_zero_deletes_and_one_beyond_64_bits_is_a_parse_error(self):
        assert self.UNITS.size("0.000") == 0
        assert self.UNITS.size("9223372036854775.807") == MAX_UNITS
        with pytest.raises(ParseError, match="more than"):
            self.UNITS.size("9223372036854775.808")

    def test_a_size_finer_than_the_lot_is_rounded_up_to_a_lot_not_refused(self):
        # real Binance books hold sizes finer than the order lot: 200000.00 x 25.42618900
        assert self.UNITS.size("25.42618900") == 25427
        assert self.UNITS.size("0.00000001") == 1  # a level that is there never vanishes
        assert self.UNITS.size("9223372036854775.8061") == MAX_UNITS  # rounded up to it
        with pytest.raises(ParseError, match="more than"):
            self.UNITS.size("9223372036854775.8071")  # rounded up beyond 64 bits

    def test_a_memoised_parser_keeps_a_rounded_size_as_rounded(self):
        parser = LevelParser(self.UNITS)
        for _ in range(2):
            assert parser.level("200000.00", "25.42618900") == (20_000_000, 25427)

    def test_the_largest_price_and_the_smallest_are_held(self):
        assert self.UNITS.price("0.01") == 1
        assert self.UNITS.price("92233720368547758.07") == MAX_UNITS

    def test_it_keeps_the_instrument_it_wraps(self):
        plain = Instrument(venue="t", symbol="T", tick_size="0.01", lot_size="0.001")
        assert self.UNITS.key == plain.key
        assert self.UNITS.format_price(12345) == plain.format_price(12345)

    def test_a_memoised_parser_over_it_refuses_every_time(self):
        parser = LevelParser(self.UNITS)
        assert parser.level("1.00", "2.000") == (100, 2000)
        for _ in range(2):
            with pytest.raises(ParseError):
                parser.level("0.00", "1.000")


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
        assert not self.book.crossed()  # bids stay below 30 < asks


TestBookMachine = BookMachine.TestCase
