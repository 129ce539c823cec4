"""One convention for what people read: base units with the base, money with the quote."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tradeactors.core.units import base_quote, money_places, money_text, quantity_text


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("BTCUSDT", ("BTC", "USDT")),
        ("ETHBTC", ("ETH", "BTC")),
        ("BTC/USD", ("BTC", "USD")),
        ("SOLFDUSD", ("SOL", "FDUSD")),
        ("XBTUSD", ("XBT", "USD")),
        ("USDT", ("USDT", "quote")),  # nothing left for a base: unknown
        ("WEIRD", ("WEIRD", "quote")),
    ],
)
def test_a_symbol_splits_into_base_and_quote(symbol, expected):
    assert base_quote(symbol) == expected


def test_a_quantity_is_exact_in_base_units_with_its_name():
    assert quantity_text(5, "0.001", "BTCUSDT") == "+0.005 BTC"
    assert quantity_text(-25, "0.001", "BTCUSDT") == "-0.025 BTC"
    assert quantity_text(0, "0.00001", "ETHUSDT") == "+0.00000 ETH"
    assert quantity_text(3, "1", "DOGEUSDT", signed=False) == "3 DOGE"


def test_money_has_the_digits_of_one_tick_times_one_lot_and_no_negative_zero():
    places = money_places("0.01", "0.001")
    assert places == 5
    assert money_text(Fraction(-1, 10**4), "BTCUSDT", places) == "-0.00010 USDT"
    assert money_text(-1e-9, "BTCUSDT", places) == "+0.00000 USDT"
    assert money_text(-0.004, "BTC/USD") == "+0.00 USD"  # rounds to zero: no "-0.00"
    assert money_places("1", "1") == 2
