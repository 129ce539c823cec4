"""[[venues]], [[instruments]], [[strategies]]: what they mean, and what is refused.

Every mistake across the lists is refused by `load_config` before anything starts,
each on a line of its own with the file, the line, the entry and the key.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import msgspec
import pytest

from tradeactors.config import (
    Config,
    InstrumentConfig,
    RunConfig,
    StrategyEntryConfig,
    VenueConfig,
    load_config,
)
from tradeactors.errors import InvalidConfigError
from tradeactors.trading.paths import actor_paths, strategy_of

MULTI = Path(__file__).resolve().parents[2] / "config" / "multi.toml"


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "trading.toml"
    path.write_text(textwrap.dedent(text))
    return load_config(path)


def _errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InvalidConfigError) as raised:
        _load(tmp_path, text)
    return str(raised.value).splitlines()


TWO = """
    [[venues]]
    name = "sim"

    [[instruments]]
    symbol = "BTCUSDT"

    [[instruments]]
    symbol = "ETHUSDT"
    lot_size = "0.01"
    risk = { max_position = 40 }

    [[strategies]]
    name = "mm_btc"
    class = "market_maker"
    instruments = ["BTCUSDT"]
    params = { size = 2, max_inventory = 10 }
    risk = { max_position = 20, max_loss = 5.0 }
    intensity = 2
    period = 7.5

    [[strategies]]
    name = "both"
    class = "momentum"
    instruments = ["ETHUSDT", "BTCUSDT"]
"""


def test_lists_give_instruments_strategies_and_their_paths(tmp_path):
    config = _load(tmp_path, TWO)
    btc, eth = config.all_instruments
    assert (btc.venue, btc.symbol, btc.tick_size) == ("sim", "BTCUSDT", "0.01")
    assert btc.lot_size == "0.001"
    assert (eth.lot_size, eth.risk.max_position) == ("0.01", 40)
    mm, both = config.all_strategies
    assert (mm.class_, mm.instruments, mm.intensity, mm.period) == (
        "market_maker",
        ("BTCUSDT",),
        2,
        7.5,
    )
    assert (mm.risk.max_position, mm.risk.max_loss) == (20, 5.0)
    # left out: [supervision]'s intensity and period, the class's own parameters
    assert (both.intensity, both.period, both.params) == (10, 5.0, {})
    paths = actor_paths(config)
    assert paths.strategies == {
        "mm_btc": "strategies/mm_btc/strategy",
        "both": "strategies/both/strategy",
    }
    assert paths.strategy_supervisors["both"] == "strategies/both"
    assert set(paths.books) == {("sim", "BTCUSDT"), ("sim", "ETHUSDT")}
    assert strategy_of("strategies/mm_btc/strategy") == "mm_btc"
    assert strategy_of("strategies/mm_btc") is None
    assert strategy_of("") is None


def test_the_single_sections_still_mean_one_of_each():
    config = Config()
    (instrument,) = config.all_instruments
    assert instrument == InstrumentConfig(
        venue="sim", symbol="BTCUSDT", tick_size="0.01", lot_size="0.001"
    )
    (strategy,) = config.all_strategies
    assert (strategy.name, strategy.class_, strategy.instruments) == (
        "market_maker",
        "market_maker",
        ("BTCUSDT",),
    )
    assert actor_paths(config).strategies == {"market_maker": "strategies/market_maker/strategy"}


def test_strategy_none_means_no_strategy(tmp_path):
    config = _load(tmp_path, '[strategy]\nname = "none"\n')
    assert config.all_strategies == ()
    assert actor_paths(config).strategies == {}


def test_two_strategies_of_one_name_are_refused_with_the_line(tmp_path):
    lines = _errors(
        tmp_path,
        """
        [[strategies]]
        name = "a"

        [[strategies]]
        name = "a"
        """,
    )
    assert len(lines) == 1
    assert lines[0].endswith(':6: [[strategies]] #2 name: strategy "a" is already strategies[0]')


def test_an_instrument_no_venue_offers_is_refused(tmp_path):
    lines = _errors(
        tmp_path,
        """
        [[venues]]
        name = "sim"

        [[venues]]
        name = "other"
        symbol = "ETHUSDT"

        [[instruments]]
        venue = "nowhere"
        symbol = "BTCUSDT"

        [[instruments]]
        symbol = "ETHUSDT"
        """,
    )
    assert any(
        ':10: [[instruments]] #1 venue: no venue is named "nowhere"; configured: sim, other' in line
        for line in lines
    ), lines
    assert any(
        ":13: [[instruments]] #2 venue: needed with several venues" in line for line in lines
    ), lines


def test_a_strategy_trading_an_unconfigured_instrument_is_refused(tmp_path):
    lines = _errors(
        tmp_path,
        """
        [[strategies]]
        name = "a"
        instruments = ["BTCUSDT", "DOGEUSDT"]
        """,
    )
    where = tmp_path / "trading.toml"
    expected = f'{where}:4: [[strategies]] #1 instruments: "DOGEUSDT" is not configured; '
    assert lines == [expected + "instruments: BTCUSDT"]


def test_a_symbol_twice_a_venue_without_instruments_and_both_forms_are_refused(tmp_path):
    lines = _errors(
        tmp_path,
        """
        [[venues]]
        name = "sim"

        [[venues]]
        name = "b"

        [[instruments]]
        venue = "sim"
        symbol = "BTCUSDT"

        [[instruments]]
        venue = "sim"
        symbol = "BTCUSDT"

        [strategy]
        name = "momentum"

        [[strategies]]
        name = "x"
        """,
    )
    text = "\n".join(lines)
    assert '[[instruments]] #2 symbol: "BTCUSDT" is already instruments[0]' in text
    assert 'name: venue "b" has no instrument in [[instruments]]' in text
    assert "strategies: give either [strategy] or [[strategies]], not both" in text


def test_a_strategy_class_and_its_parameters_are_checked_per_entry(tmp_path):
    lines = _errors(
        tmp_path,
        """
        [[strategies]]
        name = "a"
        class = "market_makr"

        [[strategies]]
        name = "b"
        params = { size = "big" }

        [[strategies]]
        name = "c/d"
        """,
    )
    text = "\n".join(lines)
    assert ':4: [[strategies]] #1 class: unknown strategy "market_makr"' in text
    assert ':8: [[strategies]] #2 params.size: expected an integer, got "big"' in text
    assert ':11: [[strategies]] #3 name: "c/d" is not a name' in text


def test_paper_trades_one_instrument(tmp_path):
    lines = _errors(
        tmp_path,
        """
        [[venues]]
        kind = "paper"
        name = "paper"

        [[instruments]]
        symbol = "BTCUSDT"
        tick_size = "0.01"
        lot_size = "0.001"

        [[instruments]]
        symbol = "ETHUSDT"
        tick_size = "0.01"
        lot_size = "0.001"

        [paper]
        capture = "x.jsonl"
        """,
    )
    assert any('kind: "paper" trades one instrument at one venue' in line for line in lines)


def test_entries_built_in_code_are_checked_too():
    with pytest.raises(InvalidConfigError, match="is not configured"):
        Config(strategies=(StrategyEntryConfig(name="a", instruments=("XRPUSDT",)),))


def test_a_copy_of_a_config_with_venues_is_still_valid():
    # msgspec.structs.replace re-runs the checks; [venue] is then the first venue (the
    # probe: `run --duration` refused every [[venues]] config but the default one)
    west = VenueConfig(name="west", symbol="ETHUSDT")
    config = Config(venues=(VenueConfig(name="east", seed=3), west))
    copy = msgspec.structs.replace(config, run=RunConfig(duration=2.0))
    assert copy.venue.name == "east"
    assert [v.name for v in copy.all_venues] == ["east", "west"]


def test_limits_must_be_finite_and_positive(tmp_path):
    lines = _errors(
        tmp_path,
        """
        [risk]
        max_loss = inf

        [[strategies]]
        name = "a"
        risk = { max_gross_exposure = nan, max_position = -5 }
        period = inf
        """,
    )
    text = "\n".join(lines)
    assert ":3: [risk] max_loss: expected a number > 0 and <= 1000000000000000.0, got inf" in text
    assert "risk.max_gross_exposure: expected a number > 0" in text
    assert "risk.max_position: expected an integer >= 1, got -5" in text
    assert ":8: [[strategies]] #1 period: expected a number > 0 and <= 86400, got inf" in text


def test_empty_lists_empty_symbols_and_a_symbol_given_two_ways_are_refused(tmp_path):
    (line,) = _errors(tmp_path, "strategies = []\n")
    assert line.endswith(':1: strategies: an empty list; for no strategy: [strategy] name = "none"')
    (line,) = _errors(tmp_path, '[[strategies]]\nname = "a"\ninstruments = []\n')
    assert line.endswith(
        ":3: [[strategies]] #1 instruments: an empty list; a strategy trades one instrument or more"
    )
    lines = _errors(tmp_path, '[venue]\nsymbol = "ETHUSDT"\n\n[[instruments]]\nsymbol = ""\n')
    text = "\n".join(lines)
    assert ':5: [[instruments]] #1 symbol: "" is not a symbol' in text
    assert ":2: [venue] symbol: give [venue] symbol or [[instruments]], not both" in text
