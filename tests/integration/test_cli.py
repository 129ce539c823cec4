"""The command line, end to end, as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.supervision


@pytest.mark.parametrize("runtime", ["threads", "gevent"])
def test_run_crashes_and_restarts_the_pricer_and_the_books_balance(runtime, tmp_path):
    config = tmp_path / "fast.toml"
    config.write_text(
        "[supervision]\nintensity = 1000\n"
        "[demo]\nduration = 0.5\ntick_interval = 0.001\ncrash_every = 20\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "demo", "--runtime", runtime,
         "--config", str(config), "--print-metrics"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "balanced" in result.stdout
    assert "NOT BALANCED" not in result.stdout
    assert '"event": "actor_crashed"' in result.stderr
    assert '"event": "actor_restarted"' in result.stderr
    assert 'tradeactors_restarts_total{path="desk/pricer"}' in result.stdout


def test_a_bad_config_file_is_reported_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[demo]\nspeed = 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "run", "--config", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown field `speed`" in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_of_a_synthetic_market_verifies_from_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "replay", "--venue", "binance",
         "--synthetic", "3", "--diffs", "500", "--verify"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "SYNUSDT" in result.stdout
    assert "verdict: ok" in result.stdout


def test_replay_without_input_is_a_usage_error():
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "replay", "--venue", "binance"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "give capture files or --synthetic SEED" in result.stderr


def test_the_exchange_command_serves_market_data_for_its_duration():
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "exchange", "--duration", "0.5"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "market data: ws://127.0.0.1:" in result.stdout
    assert "/api/v3/depth?symbol=SIMUSDT" in result.stdout
