"""A redis-server for the bus benchmarks: the system's binary, a free loopback port,
no persistence, a temporary directory; stopped (and its directory removed) on exit.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

INSTALL_HINT = (
    "redis-server is not installed: the bus benchmarks start a real one. "
    "Install it with `sudo apt-get install -y redis-server` (Debian/Ubuntu)"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """``with RedisServer() as server: server.url``."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit(INSTALL_HINT)
        self.binary = binary
        self.port = _free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def version(self) -> str:
        out = subprocess.run(  # noqa: S603 - the system's redis-server
            [self.binary, "--version"], capture_output=True, text=True, check=False
        ).stdout
        return out.strip()

    def __enter__(self) -> Self:
        import redis  # noqa: PLC0415 - only where a server is started

        self.process = subprocess.Popen(  # noqa: S603 - the system's redis-server
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
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
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)
        deadline = time.monotonic() + 10.0
        try:
            while True:  # an external process: nothing to wait on but its answer
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited ({self.process.returncode})")
                try:
                    client.ping()
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        self.__exit__(None, None, None)
                        raise RuntimeError("redis-server not ready after 10 s") from None
                    time.sleep(0.01)
                else:
                    return self
        finally:
            client.close()

    def flush(self) -> None:
        """Forget every stream and group: each measurement starts on an empty server."""
        import redis  # noqa: PLC0415

        client = redis.Redis(port=self.port, socket_connect_timeout=1.0, socket_timeout=5.0)
        try:
            client.flushall()
        finally:
            client.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
