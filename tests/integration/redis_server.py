"""A real redis-server for the bus tests: on a free loopback port, no persistence (or AOF).

Missing redis-server is a failure, never a skip: `.ci/run` installs it with apt.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING

import pytest
import redis

from tradeactors.bus import BusSettings

if TYPE_CHECKING:
    from pathlib import Path

INSTALL_HINT = (
    "redis-server is not installed: the bus tests start a real one. "
    "Install it with `sudo apt-get install -y redis-server` (Debian/Ubuntu; .ci/run does this)"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process; `start` again after `kill` reuses the port."""

    def __init__(
        self, directory: Path, *, aof: bool = False, bind: tuple[str, ...] = ("127.0.0.1",)
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(INSTALL_HINT)
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.aof = aof  # append-only file, fsync always: a restart keeps every write
        self.bind = bind  # the addresses it listens on (the first is the URL's)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def start(self, timeout: float = 10.0) -> None:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                " ".join(self.bind),
                "--protected-mode",  # no password: reachable on each bound address
                "no",
                "--save",
                "",
                "--appendonly",
                "yes" if self.aof else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
                "--daemonize",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # An external process: nothing to wait on but its answer. Poll PING, bounded.
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    pytest.fail(f"redis-server exited ({self.process.returncode}):\n{self.log}")
                try:
                    client.ping()
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        self.stop()
                        pytest.fail(f"redis-server not ready after {timeout} s:\n{self.log}")
                    time.sleep(0.01)
                else:
                    return
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, as a crashed host's would be."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is answered (a hang)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # a paused server cannot terminate
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None


def fast_settings(url: str, **overrides: object) -> BusSettings:
    """Bus settings for tests: short timeouts and intervals, so failures show at once."""
    values: dict[str, object] = {
        "url": url,
        "socket_timeout": 0.5,
        "connect_timeout": 0.25,
        "retries": 1,
        "retry_backoff": 0.01,
        "reconnect_interval": 0.05,
        "block_ms": 50,
        "claim_min_idle_ms": 0,
        "stats_interval": 0.05,
    }
    values.update(overrides)
    return BusSettings(**values)  # type: ignore[arg-type]
