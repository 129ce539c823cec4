"""The instrument file: saved venue metadata for offline runs, and its errors."""

from __future__ import annotations

import pytest

from tradeactors.core.instrument import Instrument
from tradeactors.errors import ConfigError
from tradeactors.venues.instrument_file import INSTRUMENT_FILE, load_instrument_file


@pytest.fixture
def write(tmp_path):
    def write(text: str):
        path = tmp_path / "instruments.toml"
        path.write_text(text)
        return path

    return write


def test_each_table_is_an_instrument_of_its_venue_kind_with_its_limits(write):
    path = write(
        '[binance.ETHUSDT]\ntick_size = "0.01"\nlot_size = "0.0001"\nmin_notional = "5"\n'
        'source = "exchangeInfo, 2024-08-08"\n'
        '[kraken."XBT/USD"]\ntick_size = "0.1"\nlot_size = "0.00000001"\nsource = "AssetPairs"\n'
    )
    instruments = load_instrument_file(path)
    assert instruments.get("binance", "ETHUSDT") == Instrument(
        venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.0001", min_notional="5"
    )
    assert instruments.get("kraken", "XBT/USD").tick_size == "0.1"
    assert instruments.get("binance", "XBT/USD") is None
    assert instruments.symbols("kraken") == ("XBT/USD",)
    assert instruments.path == path


def test_the_project_s_file_is_beside_the_example_configs():
    assert INSTRUMENT_FILE.parent.name == "config"
    assert (INSTRUMENT_FILE.parent / "default.toml").is_file()
    assert len(load_instrument_file()) >= 6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[binance.ETHUSDT]\ntick_size = "0.01"\nlot_size = "0.0001"\n',
            r'\[binance\."ETHUSDT"\] Object missing required field `source`',
        ),
        (
            '[binance.ETHUSDT]\ntick = "0.01"\nlot_size = "1"\nsource = "x"\n',
            r'\[binance\."ETHUSDT"\] Object contains unknown field `tick`',
        ),
        (
            '[binance.ETHUSDT]\ntick_size = "0"\nlot_size = "1"\nsource = "x"\n',
            r'\[binance\."ETHUSDT"\] step size must be positive, not \'0\'',
        ),
        (
            '[binance.ETHUSDT]\ntick_size = "0.01"\nlot_size = "1"\nsource = " "\n',
            r'\[binance\."ETHUSDT"\] source: say where the values came from',
        ),
        ('binance = "ETHUSDT"\n', r"binance must be a table of instruments"),
        ("[binance\n", r"invalid TOML"),
        (
            (
                '[binance.ETHUSDT]\ntick_size = "0.01"\nlot_size = "1"\nsource = "x"\n'
                f'max_price = "{"9" * 59}.99"\n'
            ),
            r'\[binance\."ETHUSDT"\] binance:ETHUSDT: max_price: number too long \(61 digits\)',
        ),
        (
            (
                '[binance.ETHUSDT]\ntick_size = "0.01"\nlot_size = "1"\nsource = "x"\n'
                'min_quantity = "5"\nmax_quantity = "4"\n'
            ),
            r'\[binance\."ETHUSDT"\] binance:ETHUSDT: no quantity is both >= min_quantity',
        ),
    ],
    ids=[
        "no_source",
        "unknown_key",
        "zero_step",
        "empty_source",
        "not_a_table",
        "not_toml",
        "61_digit_limit",
        "impossible_limits",
    ],
)
def test_a_wrong_file_is_one_config_error_naming_the_file_and_the_table(write, text, message):
    path = write(text)
    with pytest.raises(ConfigError, match=rf"^{path}: {message}"):
        load_instrument_file(path)


def test_a_missing_file_is_one_config_error_naming_it(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=rf"^cannot read instrument file {missing}: No such"):
        load_instrument_file(missing)
