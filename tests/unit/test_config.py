"""Configuration files: defaults, and errors that name the file, line, section and key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from tradeactors.config import (
    SIM_LOT_SIZE,
    SIM_TICK_SIZE,
    Config,
    DemoConfig,
    RiskConfig,
    RunConfig,
    VenueConfig,
    _KeyLines,
    load_config,
)
from tradeactors.errors import ConfigError, ConfigKeyError, InvalidConfigError
from tradeactors.venues.instrument_file import load_instrument_file

ROOT = Path(__file__).resolve().parents[2]


def _fields(struct: type[msgspec.Struct]) -> str:
    return ", ".join(field.name for field in msgspec.structs.fields(struct))


def _errors(path: Path) -> list[str]:
    """The lines of the error ``load_config(path)`` raises."""
    with pytest.raises(InvalidConfigError) as raised:
        load_config(path)
    return str(raised.value).splitlines()


@pytest.fixture
def toml(tmp_path):
    """Write a config file and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "trading.toml"
        path.write_text(text)
        return path

    return write


def test_config_default_toml_spells_out_exactly_the_embedded_defaults():
    assert load_config(ROOT / "config" / "default.toml") == Config()
    assert load_config(None) == Config()


def test_an_unknown_key_is_named(toml):
    bad = toml("[supervision]\nintensity = 3\nintensty = 4\n")
    with pytest.raises(ConfigError, match=r'\[supervision\] unknown key "intensty"'):
        load_config(bad)


def test_a_wrong_type_is_named_with_its_path(toml):
    bad = toml('[demo]\nduration = "long"\n')
    with pytest.raises(ConfigError, match=r'\[demo\] duration: expected a number, got "long"'):
        load_config(bad)


def test_invalid_toml_and_missing_files_are_config_errors(toml, tmp_path):
    bad = toml("[demo\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")


def test_values_out_of_range_are_refused(toml):
    bad = toml("[demo]\ncrash_every = 0\n")
    with pytest.raises(ConfigError, match="crash_every"):
        load_config(bad)


class TestFileErrors:
    """Each error of a file is one line: file:line, [section], key, what is wrong, in words."""

    def test_an_unknown_key_names_the_closest_and_every_valid_key(self, toml):
        bad = toml("[risk]\nmax_position = 3\nmax_positon = 10\n")
        assert _errors(bad) == [
            (
                f'{bad}:3: [risk] unknown key "max_positon" (did you mean "max_position"?); '
                f"valid keys: {_fields(RiskConfig)}"
            )
        ]

    def test_a_value_of_the_wrong_type_says_what_was_expected_and_what_came(self, toml):
        bad = toml('[metrics]\nhost = "0.0.0.0"\nport = "abc"\n')
        assert _errors(bad) == [
            f'{bad}:3: [metrics] port: expected an integer from 0 to 65535, got "abc"'
        ]

    def test_a_value_out_of_range_says_the_range(self, toml):
        bad = toml("[metrics]\nport = 70000\n")
        assert _errors(bad) == [
            f"{bad}:2: [metrics] port: expected an integer from 0 to 65535, got 70000"
        ]

    @pytest.mark.parametrize(
        ("text", "wrong"),
        [
            ("[supervision]\nintensity = true\n", "intensity: expected an integer, got true"),
            ("[supervision]\nperiod = 1979-05-27\n", "period: expected a number, got a date"),
            ('[venue]\nseed = "1"\n', 'seed: expected an integer, got "1"'),
            ("[venue]\nsymbol = 5\n", "symbol: expected a string, got 5"),
            (
                "[risk]\nmax_loss = [1]\n",
                "max_loss: expected a number > 0 and <= 1000000000000000.0, got a list",
            ),
        ],
    )
    def test_each_toml_type_is_named_in_words(self, toml, text, wrong):
        (line,) = _errors(toml(text))
        assert line.endswith(f"] {wrong}"), line
        assert "$" not in line
        assert "`" not in line

    def test_an_unknown_section_names_the_valid_sections(self, toml):
        bad = toml("[riks]\nmax_position = 1\n")
        assert _errors(bad) == [
            (
                f"{bad}:1: unknown section [riks] (did you mean [risk]?); "
                f"valid sections: {_fields(Config)}"
            )
        ]

    def test_a_section_given_as_a_value_is_named(self, toml):
        bad = toml("risk = 5\n")
        assert _errors(bad) == [f"{bad}:1: risk: expected a table [risk], got 5"]

    def test_every_error_of_a_file_is_reported_at_once_in_file_order(self, toml):
        bad = toml(
            "[venue]\n"
            "port = 1\n"  # 2: not a venue key
            'tick_size = "0.0x"\n'  # 3: checked beyond its type, all the same
            "[risk]\n"
            "max_positon = 10\n"  # 5
            "[metrics]\n"
            'port = "abc"\n'  # 7
            "[strategy.params]\n"
            "half_sprd = 2\n"  # 9
        )
        lines = _errors(bad)
        assert [line.split(": ", 1)[0] for line in lines] == [f"{bad}:{n}" for n in (2, 3, 5, 7, 9)]
        assert '[venue] unknown key "port"' in lines[0]
        assert "[venue] tick_size: expected a positive decimal" in lines[1]
        assert '[risk] unknown key "max_positon"' in lines[2]
        assert "[metrics] port: expected an integer" in lines[3]
        assert '[strategy.params] unknown key "half_sprd"' in lines[4]

    def test_strategy_parameters_are_not_checked_against_a_wrong_strategy_name(self, toml):
        bad = toml("[strategy]\nname = 5\n[strategy.params]\nwindow = 3\n")
        assert _errors(bad) == [f"{bad}:2: [strategy] name: expected a string, got 5"]

    def test_each_error_carries_its_file_line_section_and_key(self, toml):
        bad = toml('[metrics]\nport = "abc"\n\n[risk]\nmax_positon = 10\n')
        with pytest.raises(InvalidConfigError) as raised:
            load_config(bad)
        assert isinstance(raised.value, ConfigError)
        found = [(e.path, e.line, e.section, e.key) for e in raised.value.errors]
        assert found == [
            (str(bad), 2, "metrics", "port"),
            (str(bad), 5, "risk", "max_positon"),
        ]
        assert all(isinstance(error, ConfigKeyError) for error in raised.value.errors)

    def test_checks_across_keys_come_with_the_others_and_their_lines(self, toml):
        bad = toml(
            "run = { duration = -1 }\n"
            "demo.crash_every = 0\n"
            '[strategy]\nname = "vwap"\n'
            "[strategy.params]\nquantity = 0\n"
        )
        assert _errors(bad) == [
            f"{bad}:1: [run] duration must be positive, or 0 to run until stopped",
            f"{bad}:2: [demo] crash_every must be >= 1",
            f"{bad}:6: [strategy.params] quantity must be >= 1 lot, not 0",
        ]

    def test_a_check_about_a_key_the_file_does_not_set_has_no_line(self, toml):
        bad = toml("[execution]\ncancel_all_after = 0.5\n")  # refresh stays 1.0
        assert _errors(bad) == [
            f"{bad}: [execution] refresh must be positive and below cancel_all_after"
        ]

    def test_invalid_toml_says_the_line(self, toml):
        bad = toml('[demo]\nduration = 1\n[run\nduration = "x"\n')
        with pytest.raises(ConfigError, match=rf"^{bad}:3: invalid TOML: .* \(column \d+\)$"):
            load_config(bad)


class TestStrategyAndVenueErrors:
    """[strategy.params], the strategy's name, the venue's kind and steps name their key."""

    def test_an_unknown_strategy_parameter_names_the_valid_ones(self, toml):
        bad = toml('[strategy]\nname = "market_maker"\n[strategy.params]\nhalf_sprd = 2\n')
        assert _errors(bad) == [
            (
                f'{bad}:4: [strategy.params] unknown key "half_sprd" '
                '(did you mean "half_spread"?); '
                "valid keys: half_spread, size, max_inventory, skew, requote, min_interval"
            )
        ]

    def test_a_strategy_parameter_of_the_wrong_type_is_named(self, toml):
        bad = toml('[strategy.params]\nsize = "big"\n')
        assert _errors(bad) == [f'{bad}:2: [strategy.params] size: expected an integer, got "big"']

    def test_a_check_across_strategy_parameters_names_the_first_key_it_mentions(self, toml):
        bad = toml("[strategy]\nparams = { size = 5, max_inventory = 3 }\n")
        assert _errors(bad) == [f"{bad}:2: [strategy.params] max_inventory (3) must be >= size (5)"]

    def test_an_unknown_strategy_names_the_valid_ones(self, toml):
        bad = toml('\n[strategy]\nname = "twap"\n')
        assert _errors(bad) == [
            (
                f'{bad}:3: [strategy] name: unknown strategy "twap"; '
                "valid values: market_maker, momentum, vwap, none"
            )
        ]

    def test_a_strategy_named_without_params_runs_with_its_own_defaults(self, toml):
        # the embedded defaults are the market maker's: not parameters of momentum
        config = load_config(toml('[strategy]\nname = "momentum"\n'))
        assert config.strategy.params == {}

    def test_a_bad_tick_size_and_lot_size_name_their_key(self, toml):
        bad = toml('[venue]\ntick_size = "0.0x"\nlot_size = "0"\n')
        assert _errors(bad) == [
            (f'{bad}:2: [venue] tick_size: expected a positive decimal such as "0.01", got "0.0x"'),
            f'{bad}:3: [venue] lot_size: expected a positive decimal such as "0.01", got "0"',
        ]

    def test_an_unknown_venue_kind_in_an_array_of_tables_names_the_entry(self, toml):
        bad = toml('[[venues]]\nname = "a"\nkind = "nope"\n')
        (line,) = _errors(bad)
        assert line.startswith(f"{bad}:3: [[venues]] #1 kind: unknown venue kind 'nope'")
        assert "sim" in line


class TestInstrumentSteps:
    """``tick_size``/``lot_size`` left out: the venue's own (kind sim: the simulator's)."""

    def test_left_out_they_are_the_simulator_s_for_kind_sim(self, toml):
        assert (Config().venue.tick_size, Config().venue.lot_size) == ("0.01", "0.001")
        venue = load_config(toml('[venue]\nkind = "sim"\nsymbol = "ETHUSDT"\n')).venue
        assert (venue.tick_size, venue.lot_size) == (SIM_TICK_SIZE, SIM_LOT_SIZE)

    def test_left_out_or_empty_they_are_the_venue_s_for_a_venue_that_publishes_them(self, toml):
        venue = load_config(toml('[venue]\nkind = "binance"\ntick_size = ""\n')).venue
        assert (venue.tick_size, venue.lot_size) == ("", "")  # from exchangeInfo at start

    def test_given_they_are_kept_to_be_checked_against_the_venue_s(self, toml):
        venue = load_config(toml('[venue]\nkind = "binance"\nlot_size = "0.001"\n')).venue
        assert (venue.tick_size, venue.lot_size) == ("", "0.001")


class TestShippedConfigs:
    """Every example in config/ loads: the trading configs and the instrument file."""

    CONFIGS = sorted(
        p.name for p in (ROOT / "config").glob("*.toml") if p.name != "instruments.toml"
    )

    def test_the_examples_are_there(self):
        assert {"default.toml", "binance.toml", "kraken.toml"} <= set(self.CONFIGS)

    @pytest.mark.parametrize("name", CONFIGS)
    def test_each_loads_with_the_secret_its_file_names(self, name, monkeypatch):
        config = load_config(ROOT / "config" / name)
        monkeypatch.setenv(config.venue.secret_env, "a-secret-from-the-environment")
        assert config.venue.api_key  # a secret never is in the file: only its variable
        if config.venue.trade_url:  # a real venue: steps from the venue, orders in lots
            assert config.venue.tick_size == ""
            assert config.venue.rest_url.startswith("https://")
            assert config.strategy.name == "none"  # nothing trades before the user says so

    def test_the_real_endpoints_are_the_venues(self):
        binance = load_config(ROOT / "config" / "binance.toml").venue
        assert binance.trade_url == "wss://ws-api.binance.com:443/ws-api/v3"
        assert binance.stream_url.startswith("wss://stream.binance.com:9443/stream?streams=")
        assert binance.rest_url == "https://api.binance.com"
        kraken = load_config(ROOT / "config" / "kraken.toml").venue
        assert kraken.trade_url == "wss://ws-auth.kraken.com/v2"
        assert kraken.rest_url == "https://api.kraken.com"

    def test_the_instrument_file_loads_and_keeps_the_former_known_steps(self):
        instruments = load_instrument_file(ROOT / "config" / "instruments.toml")
        # what backtest's KNOWN_STEPS gave: backtests of the shipped captures stay identical
        for symbol in ("ETHUSDT", "BTCUSDT"):
            instrument = instruments.get("binance", symbol)
            assert instrument is not None
            assert (instrument.tick_size, instrument.lot_size) == ("0.01", "0.00001")
        assert set(instruments.symbols("binance")) >= {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"}
        assert len(instruments.symbols("kraken")) == 10


class TestConfigBuiltInCode:
    """A Config built in code reports its problems as ``section.key``, all of them."""

    def test_every_problem_is_a_line_naming_section_and_key(self):
        with pytest.raises(InvalidConfigError) as raised:
            Config(run=RunConfig(duration=-1), demo=DemoConfig(crash_every=0))
        assert str(raised.value).splitlines() == [
            "run.duration must be positive, or 0 to run until stopped",
            "demo.crash_every must be >= 1",
        ]
        assert [(e.section, e.key, e.line, e.path) for e in raised.value.errors] == [
            ("run", "duration", None, None),
            ("demo", "crash_every", None, None),
        ]

    def test_a_bad_tick_size_is_refused_naming_the_key(self):
        with pytest.raises(ConfigError, match=r"^venue\.tick_size: expected a positive decimal"):
            Config(venue=VenueConfig(tick_size="abc"))


class TestKeyLines:
    """The line of a table or key in a TOML text (tomllib gives no positions)."""

    LINES = (
        "# a comment",  # 1
        "top = 1",  # 2
        "risk.max_position = 3",  # 3
        "",  # 4
        "[venue]   # the venue",  # 5
        'symbol = "BTCUSDT"',  # 6
        '"tick_size" = "0.01"',  # 7
        'notes = """',  # 8
        "port = 1",  # 9: inside a string
        "[fake]",  # 10: inside a string
        '"""',  # 11
        "profile = [",  # 12
        "  [1],",  # 13: inside an array
        "]",  # 14
        "[strategy]",  # 15
        "params = { half_spread = 2, size = 5 }",  # 16
        "[[venues]]",  # 17
        'kind = "a"',  # 18
        "[[venues]]",  # 19
        'kind = "b"',  # 20
        "[venues.extra]",  # 21
        "x = 1",  # 22
    )
    TEXT = "\n".join(LINES)

    def test_the_text_is_toml(self):
        assert tomllib.loads(self.TEXT)["venues"][1]["extra"] == {"x": 1}

    @pytest.mark.parametrize(
        ("key", "line"),
        [
            (("top",), 2),
            (("risk", "max_position"), 3),
            (("venue",), 5),
            (("venue", "symbol"), 6),
            (("venue", "tick_size"), 7),
            (("venue", "notes"), 8),
            (("venue", "port"), None),
            (("fake",), None),
            (("venue", "profile"), 12),
            (("strategy",), 15),
            (("strategy", "params", "size"), 16),
            (("strategy", "params", "anything"), 16),
            (("venues", 0), 17),
            (("venues", 0, "kind"), 18),
            (("venues", 1, "kind"), 20),
            (("venues", 1, "extra", "x"), 22),
            (("venue", "lot_size"), None),
            (("demo",), None),
        ],
    )
    def test_the_line_of_each_table_and_key_or_none(self, key, line):
        assert _KeyLines(self.TEXT).line(key) == line


def test_a_burst_the_gateway_cannot_work_with_is_refused_at_load(tmp_path):
    """The gateway keeps 10 tokens for cancels: a smaller burst would fail only at start."""
    from tradeactors.config import load_config
    from tradeactors.errors import ConfigError

    path = tmp_path / "small.toml"
    path.write_text("[execution]\nburst = 5\n")
    wanted = r"small\.toml:2: \[execution\] burst must be at least 11"
    with pytest.raises(ConfigError, match=wanted):
        load_config(path)


def test_a_relative_key_file_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "binance.toml"
    path.write_text('[venue]\nkind = "binance"\nkey_file = "keys/ed25519.pem"\n')
    assert load_config(path).venue.key_file == str(tmp_path / "conf" / "keys/ed25519.pem")


class TestPaperConfig:
    """``[venue] kind = "paper"`` with ``[paper]``: the market, the pace, paths."""

    def test_a_relative_capture_is_relative_to_the_config_file(self, tmp_path):
        (tmp_path / "conf").mkdir()
        path = tmp_path / "conf" / "paper.toml"
        path.write_text('[venue]\nkind = "paper"\n[paper]\ncapture = "../data/eth.gz"\n')
        assert load_config(path).paper.capture == str(tmp_path / "conf" / "../data/eth.gz")

    def test_an_absolute_capture_stays_as_it_is(self, toml):
        path = toml('[venue]\nkind = "paper"\n[paper]\ncapture = "/data/eth.gz"\n')
        assert load_config(path).paper.capture == "/data/eth.gz"

    def test_the_shipped_paper_config_reads_the_shared_capture(self):
        config = load_config(ROOT / "config" / "paper-ethusdt.toml")
        assert config.venue.kind == "paper"
        capture = Path(config.paper.capture).resolve()
        assert capture == (ROOT.parent / "shared/data/hftbacktest/ethusdt_20240808.gz").resolve()
        assert config.run.duration == 0  # until the capture is over

    @pytest.mark.parametrize(
        ("paper", "error"),
        [
            ("", 'trading.toml: [paper] capture: kind "paper" needs a market'),
            (
                'capture = "a.gz"\nurl = "wss://x"\nrest_url = "https://x"',
                "trading.toml:5: [paper] url: give capture or url, not both",
            ),
            ('url = "wss://x"', "trading.toml: [paper] rest_url: a live market needs its"),
            (
                'url = "wss://x"\nrest_url = "https://x"\npace = "lockstep"',
                'trading.toml:6: [paper] pace: "lockstep" steps through a capture',
            ),
            (
                'capture = "a.gz"\npace = "fast"',
                'trading.toml:5: [paper] pace: expected one of "lockstep", "recorded", got "fast"',
            ),
        ],
    )
    def test_a_paper_venue_without_a_usable_market_is_refused_naming_the_key(
        self, toml, paper, error
    ):
        lines = _errors(toml(f'[venue]\nkind = "paper"\n[paper]\n{paper}\n'))
        assert len(lines) == 1
        assert lines[0].split("/")[-1].startswith(error)

    def test_paper_keys_mean_nothing_to_other_venues(self, toml):
        assert load_config(toml('[paper]\npace = "lockstep"\n')).venue.kind == "sim"
