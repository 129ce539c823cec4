"""``tradeactors backtest`` on the recorded ETHUSDT capture, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CAPTURE = Path(__file__).resolve().parents[2].parent / "shared/data/hftbacktest/ethusdt_20240808.gz"
pytestmark = pytest.mark.skipif(not CAPTURE.exists(), reason="../shared/data is not beside")


def _backtest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "backtest", "--data", str(CAPTURE), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("strategy", ["market_maker", "momentum", "vwap"])
def test_each_built_in_runs_on_the_capture_and_writes_the_same_json_twice(strategy, tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    result = _backtest("--strategy", strategy, "--json", str(first))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "net PnL" in result.stdout
    assert _backtest("--strategy", strategy, "--json", str(second)).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    report = json.loads(first.read_bytes())
    assert report["frames"] == 33618
    assert report["book_updates"] == 3433  # the book stayed in sync to the end
    assert report["fills"] > 0
    assert report["series"]


def test_vwap_works_its_whole_parent_order():
    result = _backtest("--strategy", "vwap", "--param", "quantity=5000", "--param", "side=sell")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "final position  -0.05" in result.stdout  # 5,000 lots of 0.00001 sold


def test_bad_arguments_are_refused_with_a_clear_message():
    unknown = _backtest("--strategy", "nope")
    assert unknown.returncode == 2
    assert "unknown strategy 'nope' (known: market_maker, momentum, vwap)" in unknown.stderr
    bogus = _backtest("--strategy", "vwap", "--param", "bogus=1")
    assert bogus.returncode == 2
    assert "unknown field `bogus`" in bogus.stderr
    malformed = _backtest("--strategy", "vwap", "--param", "quantity")
    assert malformed.returncode == 2
    assert "expected KEY=VALUE" in malformed.stderr
