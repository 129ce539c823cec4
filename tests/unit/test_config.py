"""Configuration files: defaults, and errors that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeactors.config import Config, load_config
from tradeactors.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_config_default_toml_spells_out_exactly_the_embedded_defaults():
    assert load_config(ROOT / "config" / "default.toml") == Config()
    assert load_config(None) == Config()


def test_an_unknown_key_is_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[supervision]\nintensity = 3\nintensty = 4\n")
    with pytest.raises(ConfigError, match=r"unknown field `intensty`.*\$\.supervision"):
        load_config(bad)


def test_a_wrong_type_is_named_with_its_path(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[demo]\nduration = "long"\n')
    with pytest.raises(ConfigError, match=r"\$\.demo\.duration"):
        load_config(bad)


def test_invalid_toml_and_missing_files_are_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[demo\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")


def test_values_out_of_range_are_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[demo]\ncrash_every = 0\n")
    with pytest.raises(ConfigError, match="crash_every"):
        load_config(bad)
