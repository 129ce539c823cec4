"""Process level: `tradeactors run` against a `tradeactors exchange` that is stopped 10 s.

SIGSTOP keeps the exchange's state and sockets (nothing is closed; only silence shows
it), as a venue that freezes or is cut off. Seen from outside: the run stays alive,
says the venue is down, sends nothing meanwhile, says it is up again after SIGCONT,
trades again, and ends with exit 0 and nothing open at the venue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.supervision

SECRET = "outage-secret-" + "z" * 20
OUTAGE = 10.0  # seconds the exchange is stopped: the scenario, not a wait for actors


def _cli(*args: str) -> list[str]:
    code = "import sys; from tradeactors.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, *args]


class Lines:
    """A process's stdout lines as they come, with waits on them."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._cond = threading.Condition()
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, predicate, timeout: float, what: str) -> str:
        def found() -> str | None:
            return next((line for line in self.lines if predicate(line)), None)

        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"no line {what} within {timeout} s: {self.lines[-15:]}")
            line = found()
        assert line is not None
        return line

    def join(self) -> None:
        self._thread.join(10)


def _orders(line: str) -> int:
    # "ACTIVE   sim:up | orders 12 (open 2) | fills ..." -> 12
    return int(line.split("| orders ", 1)[1].split(" ", 1)[0])


def test_run_survives_a_stopped_exchange_and_trades_again(tmp_path: Path):
    env = {**os.environ, "TRADEACTORS_SECRET_DEMO": SECRET, "TRADEACTORS_TEST_SECRET": SECRET}
    exchange = subprocess.Popen(
        _cli("exchange", "--symbol", "BTCUSDT", "--api-key", "demo", "--duration", "120"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    run: subprocess.Popen[str] | None = None
    stopped = False
    try:
        assert exchange.stdout is not None
        stream = exchange.stdout.readline().split(": ", 1)[1].strip()
        trade = exchange.stdout.readline().split(": ", 1)[1].split(" ", 1)[0]
        rest = exchange.stdout.readline().split(": ", 1)[1].split("/api/", 1)[0]
        config = tmp_path / "outage.toml"
        config.write_text(
            f'[venue]\ntrade_url = "{trade}"\nstream_url = "{stream}"\nrest_url = "{rest}"\n'
            'secret_env = "TRADEACTORS_TEST_SECRET"\n'
            "[run]\nduration = 40.0\nstatus_interval = 0.5\n"
            "[metrics]\nport = 0\n"
        )
        run = subprocess.Popen(
            _cli("run", "--config", str(config)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**env, "XDG_STATE_HOME": str(tmp_path)},
        )  # fmt: skip
        out = Lines(run)
        out.wait_for(lambda line: line.startswith("tradeactors: trading"), 30, "trading")
        out.wait_for(lambda line: "| orders " in line and _orders(line) > 0, 30, "with orders")
        os.kill(exchange.pid, signal.SIGSTOP)
        stopped = True
        down = out.wait_for(lambda line: "venue sim: DOWN" in line, 15, "venue down")
        assert "retrying" in down
        threading.Event().wait(OUTAGE)  # the outage lasts; the run must stay alive
        assert run.poll() is None, "the run died during the outage"
        count = len(out.lines)
        os.kill(exchange.pid, signal.SIGCONT)
        stopped = False
        out.wait_for(lambda line: "venue sim: up again" in line, 30, "venue up again")
        before = max(_orders(line) for line in out.lines[:count] if "| orders " in line)
        out.wait_for(lambda line: "| orders " in line and _orders(line) > before, 30, "new orders")
        code = run.wait(60)
        out.join()
        assert "orders still open at the venue: 0" in out.lines, out.lines[-5:]
        assert code == 0, out.lines[-5:]
    finally:
        if stopped:
            os.kill(exchange.pid, signal.SIGCONT)
        if run is not None and run.poll() is None:
            run.kill()
        if run is not None:
            _out, err = run.communicate(timeout=10)
            sys.stderr.write(err[-6000:])  # shown by pytest when the test fails
        exchange.kill()
        exchange.communicate(timeout=10)
