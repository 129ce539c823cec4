"""``tradeactors cluster``: a system on several processes over Redis, on this machine.

It starts ``redis-server`` (the system's binary) on a free loopback port, the simulated
exchange as a process of its own, and one ``tradeactors run`` per role: a market-data
host, an execution host and two strategy hosts, each with one market maker of the demo
config. It prints where each is (and where its log is), and stops them all on Ctrl-C,
SIGTERM or after ``duration``: the strategy hosts first, then the market-data host,
then the execution host (which cancels everything and asks the venue what is left
open), then the exchange and Redis. Exit 0 if nothing is left open at the venue.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tradeactors.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["INSTALL_HINT", "run_cluster"]

INSTALL_HINT = (
    "redis-server is not installed: `tradeactors cluster` starts one. Install it with "
    "`sudo apt-get install -y redis-server` (Debian/Ubuntu), or run the roles yourself "
    "against a Redis of yours: tradeactors run --role ... --bus redis://host:port/0"
)
_START_TIMEOUT = 60.0  # seconds a process may take to say it is up
_STOP_TIMEOUT = 30.0  # seconds a process may take to stop after SIGTERM
_SYMBOL = "BTCUSDT"
_SECRET_ENV = "TRADEACTORS_CLUSTER_SECRET"  # noqa: S105 - a variable's name
_STRATEGIES = (("mm1", "strategy-1", 2), ("mm2", "strategy-2", 4))  # name, host, half spread


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Process:
    """A child process whose stdout lines go to a log file, with a wait on a line."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self.lines: list[str] = []
        self._cond = threading.Condition()
        # a session of its own: the terminal's Ctrl-C reaches the cluster, which stops
        # the processes in order (the exchange last but Redis)
        self.process = subprocess.Popen(  # noqa: S603 - our own argv
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        self._thread = threading.Thread(target=self._read, name=f"cluster-{name}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None  # noqa: S101 - PIPE
        with self.log.open("a", encoding="utf-8") as file:
            for line in stdout:
                file.write(line)
                file.flush()
                with self._cond:
                    self.lines.append(line.rstrip("\n"))
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str | None:
        """The first line that ``predicate`` holds for; None if the process ended first."""

        def found() -> str | None:
            return next((line for line in self.lines if predicate(line)), None)

        with self._cond:
            self._cond.wait_for(
                lambda: found() is not None or self.process.poll() is not None, timeout
            )
            return found()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not ended within `_STOP_TIMEOUT`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self._thread.join(10)
        return code


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tradeactors", *args]


def _config(urls: dict[str, str], bus: str, strategies: list[str]) -> str:
    """The demo config: one venue (the exchange process), two market makers, the bus."""
    lines = [
        "[venue]",
        f'symbol = "{_SYMBOL}"',
        f'trade_url = "{urls["trade"]}"',
        f'stream_url = "{urls["stream"]}"',
        f'rest_url = "{urls["rest"]}"',
        f'secret_env = "{_SECRET_ENV}"',
        "[run]",
        "duration = 0",
        "[bus]",
        f'url = "{bus}"',
        "lease = 3.0",
        "heartbeat = 0.5",
        "strategies = [" + ", ".join(f'"{name}"' for name in strategies) + "]",
    ]
    for name, _host, half_spread in _STRATEGIES:
        params = f"half_spread = {half_spread}, size = 5, max_inventory = 25, requote = 2"
        lines += [
            "[[strategies]]",
            f'name = "{name}"',
            'class = "market_maker"',
            f"params = {{ {params} }}",
        ]
    return "\n".join(lines) + "\n"


class _Cluster:
    """The processes of one cluster, started in order and stopped in order."""

    def __init__(self, out: IO[str], runtime: str, directory: str | None) -> None:
        self.out = out
        self.runtime = runtime
        if directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="tradeactors-cluster-"))
        else:
            self.directory = Path(directory)
            self.directory.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_hex(24)
        self.env = {**os.environ, _SECRET_ENV: secret, "TRADEACTORS_SECRET_DEMO": secret}
        self.bus = ""
        self.started: list[_Process] = []
        self.runs: dict[str, _Process] = {}

    def _start(self, name: str, argv: list[str]) -> _Process:
        process = _Process(name, argv, self.directory / f"{name}.log", self.env)
        self.started.append(process)
        return process

    def _line(self, process: _Process, prefix: str, timeout: float) -> str:
        line = process.wait_for(lambda text: text.startswith(prefix), timeout)
        if line is None:
            raise ConfigError(f"{process.name} did not start: see {process.log}")
        return line.removeprefix(prefix)

    def start_redis(self, binary: str) -> None:
        port = _free_port()
        self.bus = f"redis://127.0.0.1:{port}/0"
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.directory), "--daemonize", "no"]
        redis = self._start("redis", argv)
        if redis.wait_for(lambda text: "Ready to accept connections" in text, 10) is None:
            raise ConfigError(f"redis-server did not start: see {redis.log}")

    def start_exchange(self) -> dict[str, str]:
        exchange = self._start(
            "exchange", _cli("exchange", "--symbol", _SYMBOL, "--api-key", "demo")
        )
        stream = self._line(exchange, "market data: ", _START_TIMEOUT)
        trade = self._line(exchange, "order entry: ", 10)
        rest = self._line(exchange, "depth snapshot: ", 10)
        return {
            "stream": stream.split(" ", 1)[0],
            "trade": trade.split(" ", 1)[0],
            "rest": rest.split("/api/", 1)[0],
        }

    def start_hosts(self, urls: dict[str, str]) -> None:
        hosts: list[tuple[str, str, list[str]]] = [
            ("market-data", "market-data", []),
            ("execution", "execution", []),
        ]
        hosts += [("strategy", host, [name]) for name, host, _ in _STRATEGIES]
        for role, host, strategies in hosts:
            config = self.directory / f"{host}.toml"
            config.write_text(_config(urls, self.bus, strategies), encoding="utf-8")
            argv = _cli("run", "--config", str(config), "--role", role, "--host-id", host)
            argv += ["--runtime", self.runtime, "--state-dir", str(self.directory / "state")]
            self.runs[host] = self._start(host, argv)
        print(f"tradeactors cluster: redis {self.bus}   exchange {urls['trade']}", file=self.out)
        for host, run in self.runs.items():
            self._line(run, "tradeactors: trading", _START_TIMEOUT)
            where = run.wait_for(lambda text: text.strip().startswith("metrics "), 5) or ""
            print(f"  {host:12} pid {run.process.pid:<7} {where.strip()}", file=self.out)
        print(f"  logs and configs: {self.directory}", file=self.out)

    def wait(self, stopping: threading.Event, duration: float) -> None:
        """Until ``stopping``, ``duration`` (0: none) or a process ended by itself."""
        deadline = time.monotonic() + duration if duration else None
        while not stopping.is_set():
            ended = [process.name for process in self.started if process.process.poll() is not None]
            if ended:
                print(f"tradeactors cluster: {', '.join(ended)} ended: stopping", file=self.out)
                return
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            stopping.wait(0.5 if left is None else min(0.5, left))

    def stop_hosts(self) -> str | None:
        """Stop the strategy hosts, market data, then execution: what it left open."""
        for name in (*(host for _, host, _ in _STRATEGIES), "market-data", "execution"):
            if name in self.runs:
                self.runs[name].stop()
        execution = self.runs.get("execution")
        prefix = "orders still open at the venue:"
        lines = execution.lines if execution is not None else []
        return next(
            (line.removeprefix(prefix).strip() for line in lines if line.startswith(prefix)), None
        )

    def close(self) -> None:
        for process in reversed(self.started):
            with contextlib.suppress(Exception):
                process.stop()


def run_cluster(
    out: IO[str], *, duration: float, runtime: str, directory: str | None = None
) -> int:
    """Run the demo cluster (see the module doc); the exit status.

    ``directory``: where the configs and logs go (None: a new temporary directory).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise ConfigError(INSTALL_HINT)
    stopping = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {
            sig: signal.signal(sig, lambda *_: stopping.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
    cluster = _Cluster(out, runtime, directory)
    left_open: str | None = None
    try:
        cluster.start_redis(binary)
        cluster.start_hosts(cluster.start_exchange())
        print("  Ctrl-C stops them all" if not duration else f"  for {duration} s", file=out)
        out.flush()
        cluster.wait(stopping, duration)
        left_open = cluster.stop_hosts()
    finally:
        cluster.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if left_open is None:  # the execution host ended before it could ask the venue
        print(
            "tradeactors cluster: stopped; orders still open at the venue: unknown (the "
            "execution host did not report them: see its log)",
            file=out,
        )
        return 1
    print(f"tradeactors cluster: stopped; orders still open at the venue: {left_open}", file=out)
    return 0 if left_open == "0" else 1
