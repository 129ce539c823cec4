"""The command line, end to end, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.supervision


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch):
    """Runs leave their state here (the processes inherit it), never in the real home."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "tradeactors"


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
    assert f'{bad}:2: [demo] unknown key "speed"; valid keys: duration, ' in result.stderr
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


def test_the_exchange_command_serves_the_symbol_run_trades_by_default():
    from tradeactors.config import Config

    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "exchange", "--duration", "0.5"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "market data: ws://127.0.0.1:" in result.stdout
    assert f"/api/v3/depth?symbol={Config().venue.symbol}&" in result.stdout


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("bogus=1", "--liquidity: Object contains unknown field `bogus`"),
        ("market_rate=fast", "--liquidity: Expected `float`, got `str` - at `$.market_rate`"),
        ("market_rate", "--liquidity 'market_rate': KEY=VALUE"),
    ],
)
def test_a_bad_liquidity_setting_of_the_exchange_is_one_line_and_exit_2(setting, said):
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "exchange", "--liquidity", setting],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == f"tradeactors exchange: {said}\n"


def test_liquidity_settings_of_the_exchange_become_its_liquidity_config():
    from tradeactors.cli import _exchange_liquidity
    from tradeactors.exchange.liquidity import LiquidityConfig

    assert _exchange_liquidity([]) is None  # the exchange's defaults
    assert _exchange_liquidity(["market_rate=10", "volatility = 4", "depth_ticks=20"]) == (
        LiquidityConfig(market_rate=10.0, volatility=4.0, depth_ticks=20)
    )


def _tradeactors(*args: str) -> list[str]:
    return [sys.executable, "-m", "tradeactors.cli", *args]


def test_run_trades_against_the_embedded_exchange_speaking_kraken_and_leaves_nothing_open():
    config = Path(__file__).resolve().parents[2] / "config" / "kraken-embedded.toml"
    result = subprocess.run(
        _tradeactors("run", "--config", str(config), "--duration", "2"),
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "tradeactors: trading BTC/USDT at ws://127.0.0.1:" in result.stdout
    assert "ACTIVE   sim:up | orders" in result.stdout  # a book arrived: quotes, no stale trip
    assert "orders still open at the venue: 0" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("runtime", ["threads", "gevent"])
def test_run_trades_against_the_simulated_exchange_and_leaves_nothing_open(runtime):
    result = subprocess.run(
        _tradeactors("run", "--duration", "3", "--runtime", runtime),
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "sim:up | orders" in result.stdout  # the live status line
    assert "orders still open at the venue: 0" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("runtime", ["threads", "gevent"])
def test_kill_halts_a_running_system_and_ctrl_c_stops_it_cleanly(runtime):
    run = subprocess.Popen(
        _tradeactors("run", "--duration", "60", "--runtime", runtime),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        url = None
        for line in run.stdout:
            if "control http://" in line:
                url = line.split("control ")[1].split()[0]
                break
        assert url is not None
        killed = subprocess.run(
            _tradeactors("kill", "--url", url, "--reason", "test says stop"),
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert killed.returncode == 0, killed.stderr
        assert killed.stdout.strip() == "kill switch HALTED"
        told = status_shows = False
        for line in run.stdout:  # one line says it, then the status line shows it
            told = told or line.startswith("kill switch HALTED (manual: test says stop)")
            status_shows = status_shows or line.startswith("HALTED")
            if told and status_shows:
                break
        assert told
        run.send_signal(signal.SIGINT)
        rest, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate(timeout=10)
    assert run.returncode == 0, err[-2000:]
    assert "interrupted:" in rest
    assert "kill switch halted" in rest
    assert "orders still open at the venue: 0" in rest
    assert '"source": "manual", "reason": "test says stop"' in err


def test_kill_without_a_running_system_says_so():
    result = subprocess.run(
        _tradeactors("kill", "--url", "http://127.0.0.1:9"),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "nothing answers at http://127.0.0.1:9" in result.stderr


def test_the_api_secret_never_reaches_the_output_even_at_debug_level():
    secret = "s3cr3t-" + "q" * 30
    env = {**os.environ, "TRADEACTORS_SIM_SECRET": secret}
    result = subprocess.run(
        _tradeactors("run", "--duration", "2", "--log-level", "debug"),
        capture_output=True, text=True, timeout=90, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"event": "gateway_connected"' in result.stderr  # debug logs were written
    assert secret not in result.stdout + result.stderr


def test_a_wrong_secret_fails_the_logon_with_a_clear_error_and_no_secret(tmp_path):
    """An external venue with a wrong secret: the gateway cannot log on; the tree's
    start fails with the venue's reason, and the secret is nowhere in the output."""
    script = tmp_path / "wrong_secret.py"
    script.write_text(
        "import msgspec, os\n"
        "from tradeactors.clock import SystemClock\n"
        "from tradeactors.config import Config\n"
        "from tradeactors.core.instrument import Instrument\n"
        "from tradeactors.exchange.server import SimExchange\n"
        "from tradeactors.trading.system import TradingSystem\n"
        "instrument = Instrument(venue='sim', symbol='BTCUSDT', tick_size='0.01', "
        "lot_size='0.001')\n"
        "clock = SystemClock()\n"
        "venue = SimExchange(instrument, clock, keys={'demo': 'the-right-one'}).start()\n"
        "config = msgspec.convert({'venue': {'trade_url': venue.trade_url, "
        "'stream_url': venue.ws_url, 'rest_url': venue.http_url}, "
        "'strategy': {'name': 'none'}}, Config)\n"
        "try:\n"
        "    TradingSystem(config).start(timeout=10)\n"
        "except Exception as exc:\n"
        "    print('FAILED', type(exc).__name__, exc)\n"
        "finally:\n"
        "    venue.close(); clock.close()\n"
    )
    wrong = "wrong-" + "z" * 30
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=90,
        check=False, env={**os.environ, "TRADEACTORS_SIM_SECRET": wrong},
    )  # fmt: skip
    assert "FAILED ChildStartError" in result.stdout, result.stdout + result.stderr[-2000:]
    assert "auth_failed" in result.stdout + result.stderr
    assert wrong not in result.stdout + result.stderr


def test_run_can_be_pinned_to_one_cpu_and_refuses_a_cpu_that_does_not_exist():
    pinned = subprocess.run(
        _tradeactors("run", "--duration", "2", "--pin-cpu", "0"),
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert pinned.returncode == 0, pinned.stderr[-2000:]
    assert "orders still open at the venue: 0" in pinned.stdout
    bad = subprocess.run(
        _tradeactors("run", "--pin-cpu", "4096"),
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "cannot pin to CPU 4096" in bad.stderr


def _sigterm_when(seen: Callable[[str], bool]) -> tuple[int, str, str]:
    """``tradeactors run --duration 0``, sent SIGTERM at the first stdout line ``seen``
    accepts: its exit code, the rest of its stdout, its stderr."""
    run = subprocess.Popen(
        _tradeactors("run", "--duration", "0"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        for line in run.stdout:
            if seen(line):
                break
        run.send_signal(signal.SIGTERM)
        rest, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate(timeout=10)
    return run.returncode, rest, err


def test_a_sigterm_right_after_the_banner_stops_the_run_gracefully():
    # A service manager may stop the run as soon as it said it trades: the signal is
    # caught from before the start (it once came while start-up's garbage was frozen,
    # before the handler, and killed the process without its summary).
    code, rest, err = _sigterm_when(lambda line: line.startswith("tradeactors: trading"))
    assert code == 0, err[-2000:]
    assert "interrupted:" in rest
    assert "orders still open at the venue: 0" in rest


def test_run_with_duration_zero_runs_until_sigterm_and_then_stops_cleanly():
    code, rest, err = _sigterm_when(lambda line: "sim:up | orders" in line)  # a status line
    assert code == 0, err[-2000:]
    assert "interrupted:" in rest
    assert "orders still open at the venue: 0" in rest


def test_a_run_whose_stdout_closes_stops_in_order_and_says_so_in_one_line():
    # `tradeactors run | head -1`: the banner's second line meets a closed pipe; the
    # tree is stopped as at any end (its journal ends with the stop's checkpoint)
    run = subprocess.Popen(
        _tradeactors("run", "--duration", "0"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        assert run.stdout.readline().startswith("tradeactors: trading")
        run.stdout.close()
        assert run.stderr is not None
        err = run.stderr.read()  # to its end, when the process ends (pytest-timeout bounds it)
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)
        if run.stderr is not None:
            run.stderr.close()
    assert run.returncode == 2
    assert err.strip().splitlines()[-1] == (
        "tradeactors run: [Errno 32] Broken pipe (--debug shows the traceback)"
    )
    events = subprocess.run(
        _tradeactors("journal", "events", "--json"),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(events.stdout.strip().splitlines()[-1])["kind"] == "checkpoint"
