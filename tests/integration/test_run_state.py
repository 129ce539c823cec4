"""`tradeactors run` and the commands that find it: the state directory, `status` for
people and for machines, kill and reset shown on the run's terminal, and a terminal on
which no JSON log line lands between the status line and the summary."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.supervision

TIMEOUT = 60.0


def _tradeactors(*args: str) -> list[str]:
    return [sys.executable, "-m", "tradeactors", *args]


class Output:
    """Text a process writes, as it comes, with waits on it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.text = ""

    def add(self, chunk: str) -> None:
        with self._cond:
            self.text += chunk
            self._cond.notify_all()

    def wait_for(self, what: str, timeout: float = TIMEOUT) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: what in self.text, timeout):
                raise AssertionError(f"no {what!r} within {timeout} s: {self.text[-3000:]}")

    def lines(self) -> list[str]:
        with self._cond:
            return self.text.splitlines()


class Run:
    """A `tradeactors run` in its own process, its stdout and stderr read as they come."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen(
            _tradeactors("run", *args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.out = Output()
        self.err = Output()
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str] | None, into: Output) -> None:
        assert stream is not None
        for line in stream:
            into.add(line)

    def banner(self, name: str) -> str:
        """What the banner's ``NAME:`` line says."""
        self.out.wait_for("PnL")  # the first status line: the banner is whole
        line = next(ln for ln in self.out.lines() if ln.startswith(f"  {name}:"))
        return line.split(":", 1)[1].strip()

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _tradeactors(*args), capture_output=True, text=True, timeout=TIMEOUT, check=False,
            env=self.env,
        )  # fmt: skip

    def stop(self) -> tuple[int, str]:
        """SIGINT (if still running), then its exit status and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(TIMEOUT)
        for reader in self._readers:  # they end at the end of the output
            reader.join(TIMEOUT)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code, self.err.text


@pytest.fixture
def state(tmp_path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def env(state) -> dict[str, str]:
    """The processes' environment: the state directory under tmp_path, no token given."""
    environment = {k: v for k, v in os.environ.items() if k != "TRADEACTORS_CONTROL_TOKEN"}
    environment["XDG_STATE_HOME"] = str(state)
    return environment


@pytest.fixture
def start_run(env) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def start(*args: str) -> Run:
        run = Run(*args, env=env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_with_no_run_the_commands_say_how_to_give_the_url(env, state):
    for command in (["status"], ["kill"], ["reset", "--by", "a", "--reason", "b"], ["top"]):
        result = subprocess.run(
            _tradeactors(*command), capture_output=True, text=True, timeout=TIMEOUT,
            check=False, env=env,
        )  # fmt: skip
        assert result.returncode == 2, result
        line = _one_line(result.stderr)
        assert line.startswith(f"tradeactors {command[0]}: no live run in {state}")
        assert "--url" in line
        assert result.stdout == ""


def test_the_commands_find_the_latest_live_run_and_its_terminal_shows_kill_and_reset(
    start_run, state
):
    run = start_run("--duration", "60")
    watch = run.banner("watch")  # copy-pasteable
    assert watch.startswith("tradeactors top --url http://127.0.0.1:")
    metrics_url = watch.split()[-1]
    token_file = Path(run.banner("token").split()[0])
    run_dir = token_file.parent
    assert run_dir.parent == state / "tradeactors" / "runs"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    info = json.loads((run_dir / "run.json").read_text())
    assert info["pid"] == run.process.pid
    assert info["metrics_url"] == metrics_url
    assert info["symbol"] == "BTCUSDT"
    token = token_file.read_text().strip()

    status = run.command("status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0] == f"run {run_dir.name} (pid {run.process.pid}) at {info['control_url']}"
    assert lines[1] == "  kill switch  ACTIVE"
    assert lines[2] == "  venues       sim up"
    assert lines[3].startswith("  orders       ")
    assert lines[5].startswith("  position     ")
    assert lines[5].endswith(" BTC (BTCUSDT)")
    assert lines[6].startswith("  PnL          ")
    assert " USDT" in lines[6]
    machine = run.command("status", "--json")
    assert machine.returncode == 0, machine.stderr
    answer = json.loads(machine.stdout)
    assert answer["state"] == "active"
    assert answer["symbol"] == "BTCUSDT"

    killed = run.command("kill", "--reason", "test says stop")
    assert killed.returncode == 0, killed.stderr
    assert killed.stdout == "kill switch HALTED\n"  # a sentence; --json for machines
    assert f"run {run_dir.name}" in killed.stderr  # it says which run it acted on
    run.out.wait_for("\nkill switch HALTED (manual: test says stop)\n")
    reset = run.command("reset", "--by", "alice", "--reason", "checked")
    assert reset.returncode == 0, reset.stderr
    run.out.wait_for("\nkill switch reset to ACTIVE by alice: checked\n")

    top = run.command("top", "--once", "--interval", "0.2")
    assert top.returncode == 0, top.stderr
    assert metrics_url in top.stdout
    assert "kill switch ACTIVE" in top.stdout

    code, err = run.stop()
    assert code == 0, err[-2000:]
    # a clean stop leaves only the run's journal (its logs went to stderr)
    assert sorted(p.name for p in run_dir.iterdir()) == ["journal.sqlite"]
    after = run.command("status")
    assert after.returncode == 2
    assert "no live run" in _one_line(after.stderr)
    _the_kill_and_reset_are_in_the_runs_journal(run)
    everything = run.out.text + err + status.stdout + killed.stdout + killed.stderr
    assert token not in everything + reset.stdout + reset.stderr + top.stdout


def _the_kill_and_reset_are_in_the_runs_journal(run) -> None:
    """The run's journal is the default of `tradeactors journal`; it verifies."""
    journal = run.command("journal", "events", "--json")
    assert journal.returncode == 0, journal.stderr
    changes = [json.loads(line) for line in journal.stdout.splitlines()]
    reasons = [e["reason"] for e in changes if e["kind"] == "kill_switch"]
    assert reasons[:2] == ["test says stop", "alice: checked"]
    verified = run.command("journal", "verify")
    assert verified.returncode == 0, verified.stdout


def test_state_dir_puts_the_run_elsewhere_and_the_commands_look_there(start_run, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    run = start_run("--duration", "60", "--state-dir", str(elsewhere))
    assert Path(run.banner("state").split()[0]).parent == elsewhere / "runs"
    found = run.command("status", "--state-dir", str(elsewhere))
    assert found.returncode == 0, found.stderr
    assert "kill switch  ACTIVE" in found.stdout
    assert run.command("status").returncode == 2  # not in the default place
    code, err = run.stop()
    assert code == 0, err[-2000:]


class Terminal:
    """A process on a pseudo-terminal (stdout and stderr both), read as it comes."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self._master = master
        self.process = subprocess.Popen(
            _tradeactors(*args), stdin=slave, stdout=slave, stderr=slave, env=env,
            close_fds=True,
        )  # fmt: skip
        os.close(slave)
        self.out = Output()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self._master], [], [], TIMEOUT)
            if not ready:
                return
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the process closed the terminal
                return
            if not chunk:
                return
            self.out.add(chunk.decode("utf-8", errors="replace"))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        os.close(self._master)
        return code


def test_on_a_terminal_the_logs_go_to_the_runs_file_and_warnings_are_one_line(env, state):
    terminal = Terminal("run", "--duration", "60", "--log-level", "info", env=env)
    try:
        terminal.out.wait_for("PnL")  # trading: the status line
        runs = state / "tradeactors" / "runs"
        (run_dir,) = runs.iterdir()
        token_file = run_dir / "control.token"
        wrong = run_dir.parent.parent / "wrong.token"
        wrong.write_text("w" * 43)
        control = json.loads((run_dir / "run.json").read_text())["control_url"]
        refused = subprocess.run(
            _tradeactors("reset", "--url", control, "--by", "mallory", "--reason", "x",
                         "--token-file", str(wrong)),
            capture_output=True, text=True, timeout=TIMEOUT, check=False, env=env,
        )  # fmt: skip
        assert refused.returncode == 2
        # the warning the endpoint logs, as one short line on the run's terminal
        terminal.out.wait_for(
            "warning: control_request_refused code=403 method=POST error='wrong control token'"
        )
        token = token_file.read_text().strip()
    finally:
        code = terminal.stop()
    screen = terminal.out.text
    assert code == 0, screen[-3000:]
    assert "orders still open at the venue: 0" in screen
    log_file = run_dir / "log.jsonl"
    assert f"  logs:   {log_file} " in screen  # the banner says where they are
    assert '{"' not in screen  # no JSON line on the terminal
    assert "actor_started" not in screen  # info lines went to the file only
    assert "Traceback" not in screen
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    events = {entry["event"] for entry in entries}
    assert {"actor_started", "control_request_refused"} <= events
    # the log and the journal stay
    assert sorted(p.name for p in run_dir.iterdir()) == ["journal.sqlite", "log.jsonl"]
    assert token not in screen + log_file.read_text()
