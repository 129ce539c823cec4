"""Exact parsing of venue decimal strings into ticks and lots, and back."""

from __future__ import annotations

from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeactors.core.instrument import (
    Instrument,
    LevelParser,
    OrderBounds,
    ParseError,
    parse_units,
)
from tradeactors.errors import ConfigError

ETH = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.0001")


class TestParsing:
    def test_binance_strings_parse_exactly_without_float(self):
        assert ETH.price("2683.80000000") == 268380
        assert ETH.size("3.02920000") == 30292
        assert ETH.price("0.10") == 10

    def test_a_price_between_ticks_is_refused_not_rounded(self):
        with pytest.raises(ParseError, match=r"not a multiple of tick 0\.01"):
            ETH.price("2683.805")

    def test_a_tick_that_is_not_a_power_of_ten_is_exact_too(self):
        half = Instrument(venue="x", symbol="Y", tick_size="0.5", lot_size="1")
        assert half.price("10.5") == 21
        with pytest.raises(ParseError, match="multiple of tick"):
            half.price("10.25")

    @pytest.mark.parametrize(
        "text", ["", "-1.0", "+1", "1e5", " 1", "1.", ".5", "1.2.3", "nan", "١٢"]
    )
    def test_malformed_or_negative_numbers_are_refused(self, text):
        with pytest.raises(ParseError):
            parse_units(text, 8)

    def test_extra_zeros_beyond_the_precision_are_accepted(self):
        assert parse_units("1.50000000000", 2) == 150

    @given(st.integers(0, 10**15))
    def test_format_then_parse_round_trips(self, ticks):
        assert ETH.price(ETH.format_price(ticks)) == ticks
        assert ETH.size(ETH.format_size(ticks)) == ticks

    def test_formatting_writes_the_step_size_decimal_places(self):
        assert ETH.format_price(268380) == "2683.80"
        assert ETH.format_size(5) == "0.0005"
        whole = Instrument(venue="x", symbol="Y", tick_size="1", lot_size="1")
        assert whole.format_price(42) == "42"

    @pytest.mark.parametrize("step", ["0", "0.000", "-0.01", "abc"])
    def test_invalid_step_sizes_are_config_errors(self, step):
        with pytest.raises(ConfigError):
            Instrument(venue="x", symbol="Y", tick_size=step, lot_size="1")


def test_absurdly_long_numbers_are_parse_errors_and_leading_zeros_do_not_count():
    with pytest.raises(ParseError, match="too long"):
        ETH.price("9" * 5000 + ".00")
    assert ETH.price("0" * 5000 + "1.00") == 100


class TestLevelParser:
    """The memoised parser a book uses for its stream's levels."""

    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["2683.80", "2683.81000000", "0.01", "2683.805", "x", "1e5"]),
                st.sampled_from(["3.0292", "0.00000000", "1", "0.00005", "-1", ""]),
            ),
            max_size=40,
        )
    )
    def test_answers_exactly_what_the_instrument_answers_good_or_bad(self, levels):
        parser = LevelParser(ETH, capacity=3)  # small: the memo is emptied along the way
        for price, size in levels:
            try:
                expected = (ETH.price(price), ETH.size(size))
            except ParseError as exc:
                with pytest.raises(ParseError, match=str(exc)[:20]):
                    parser.level(price, size)
            else:
                assert parser.level(price, size) == expected

    def test_a_bad_string_is_refused_every_time_not_remembered(self):
        parser = LevelParser(ETH)
        for _ in range(3):
            with pytest.raises(ParseError):
                parser.level("2683.805", "1")
        assert parser.level("2683.80", "1") == (268380, 10000)

    def test_the_memo_never_grows_past_its_capacity(self):
        parser = LevelParser(ETH, capacity=100)
        for ticks in range(1000):
            parser.level(ETH.format_price(ticks), ETH.format_size(ticks))
        assert len(parser._ticks) <= 100
        assert len(parser._lots) <= 100
        assert parser.level("9.99", "0.0999") == (999, 999)


class TestSizeRoundedUp:
    """Sizes a venue shows may be finer than the order lot: counted as the next lot up."""

    BTC = Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.01", lot_size="0.00001")

    @pytest.mark.parametrize(
        ("text", "lots"),
        [("25.42618900", 2542619), ("0.00000001", 1), ("0.00001000", 1), ("0.00000000", 0),
         ("3.02920000", 302920), ("7", 700000), ("0.000011", 2)],
    )  # fmt: skip
    def test_a_real_level_finer_than_the_lot_is_counted_not_refused(self, text, lots):
        assert self.BTC.size_rounded_up(text) == lots

    def test_size_still_refuses_what_size_rounded_up_rounds(self):
        with pytest.raises(ParseError, match=r"not a multiple of lot 0\.00001"):
            self.BTC.size("25.42618900")

    def test_a_lot_that_is_not_a_power_of_ten_rounds_up_too(self):
        nickel = Instrument(venue="x", symbol="Y", tick_size="1", lot_size="0.05")
        sizes = ("0.05", "0.051", "0.07", "0.10")
        assert [nickel.size_rounded_up(t) for t in sizes] == [1, 2, 2, 2]

    @pytest.mark.parametrize(
        "text", ["", "-1.0", "+1", "1e5", " 1", "1.", ".5", "1.2.3", "nan", "0." + "0" * 60 + "1"]
    )
    def test_malformed_or_absurdly_precise_sizes_are_still_refused(self, text):
        with pytest.raises(ParseError):
            self.BTC.size_rounded_up(text)

    @given(st.integers(0, 10**12), st.integers(0, 12), st.sampled_from(["0.00001", "0.05", "1"]))
    def test_it_is_the_ceiling_of_the_exact_ratio(self, units, places, lot):
        digits = str(units).rjust(places + 1, "0")
        text = f"{digits[:-places]}.{digits[-places:]}" if places else digits
        instrument = Instrument(venue="x", symbol="Y", tick_size="1", lot_size=lot)
        assert instrument.size_rounded_up(text) == ceil(Fraction(units, 10**places) / Fraction(lot))


class TestOrderBounds:
    """The venue's decimal limits as integer bounds in ticks, lots and ticks x lots."""

    def test_no_limits_given_is_one_tick_one_lot_no_maximum_no_notional(self):
        assert ETH.order_bounds == OrderBounds(
            min_price=1, max_price=None, min_quantity=1, max_quantity=None, min_notional=0
        )

    def test_limits_on_the_step_are_exact_counts_of_it(self):
        bounds = Instrument(
            venue="binance", symbol="BNBBTC", tick_size="0.000001", lot_size="0.001",
            min_price="0.000001", max_price="100000", min_quantity="0.001",
            max_quantity="100000", min_notional="5",
        ).order_bounds  # fmt: skip
        assert bounds == OrderBounds(
            min_price=1, max_price=100_000_000_000, min_quantity=1, max_quantity=100_000_000,
            min_notional=5_000_000_000,  # 5 / (0.000001 x 0.001)
        )  # fmt: skip

    def test_minimums_between_steps_round_up_and_maximums_down(self):
        bounds = Instrument(
            venue="x", symbol="Y", tick_size="0.05", lot_size="0.3", min_price="0.11",
            max_price="1.04", min_quantity="0.31", max_quantity="1.19", min_notional="0.016",
        ).order_bounds  # fmt: skip
        assert (bounds.min_price, bounds.max_price) == (3, 20)  # 0.15 .. 1.00
        assert (bounds.min_quantity, bounds.max_quantity) == (2, 3)  # 0.6 .. 0.9
        assert bounds.min_notional == 2  # 0.016 / 0.015 = 1.07 -> 2 ticks x lots

    @given(
        tick=st.sampled_from(["0.01", "0.05", "0.000001", "0.25", "3"]),
        lot=st.sampled_from(["0.001", "0.3", "1", "0.00000001"]),
        notional=st.decimals(min_value="0.00000001", max_value="100000", places=8),
        price=st.integers(1, 10**9),
        quantity=st.integers(1, 10**9),
    )
    def test_the_notional_bound_is_exactly_the_decimal_rule(
        self, tick, lot, notional, price, quantity
    ):
        instrument = Instrument(
            venue="x", symbol="Y", tick_size=tick, lot_size=lot, min_notional=f"{notional:f}"
        )
        bound, unit = instrument.order_bounds.min_notional, Fraction(tick) * Fraction(lot)
        # the smallest whole number of ticks x lots at or above the venue's minimum
        assert bound * unit >= Fraction(notional) > (bound - 1) * unit
        exact = price * quantity * unit >= Fraction(notional)
        assert (price * quantity >= bound) is exact

    @pytest.mark.parametrize(
        ("limits", "message"),
        [
            ({"min_notional": "abc"}, r"^binance:ETHUSDT: min_notional: not a non-negative"),
            ({"max_price": "-1"}, r"^binance:ETHUSDT: max_price: not a non-negative"),
            ({"max_quantity": "1e9"}, r"^binance:ETHUSDT: max_quantity: not a non-negative"),
            ({"max_price": "9" * 61}, r"^binance:ETHUSDT: max_price: number too long \(61 digits"),
            ({"min_notional": "0." + "0" * 60 + "1"}, r"min_notional: more than 60 decimal"),
            ({"min_price": "5", "max_price": "4.99"}, r"no price is both >= min_price '5'"),
            ({"min_quantity": "0.00015", "max_quantity": "0.00019"}, r"no quantity is both"),
        ],
        ids=["not_decimal", "negative", "exponent", "61_digits", "61_places", "price", "qty"],
    )
    def test_a_limit_that_is_not_a_sane_decimal_is_refused_at_construction(self, limits, message):
        with pytest.raises(ConfigError, match=message):
            Instrument(
                venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.0001", **limits
            )

    def test_sixty_digits_is_the_most_a_limit_may_have_and_it_stays_exact(self):
        sixty = "9" * 58 + ".99"  # 60 significant digits: accepted, as the parser takes them
        bounds = Instrument(
            venue="x", symbol="Y", tick_size="0.01", lot_size="1", max_price=sixty
        ).order_bounds
        assert bounds.max_price == 10**60 - 1
