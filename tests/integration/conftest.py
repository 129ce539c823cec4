"""Fixtures for integration tests: a Binance look-alike venue on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.server
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
from redis_server import RedisServer, fast_settings
from websockets.sync.server import ServerConnection, serve

from tradeactors.venues.capture import read_capture

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tradeactors.bus import BusSettings
    from tradeactors.exchange.server import SimExchange
    from tradeactors.trading.control import ControlServer
    from tradeactors.trading.system import TradingSystem

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


class Venue:
    """A tiny Binance look-alike: replays captured frames over ws, serves the snapshot.

    Each connection gets the subscription read, then ``stream`` sent, then (unless
    ``hold`` is set) the connection closed.
    """

    def __init__(self) -> None:
        self.connections = 0
        self._connected = threading.Condition()
        self.snapshot_requests = 0
        self.hold = threading.Event()
        # With snapshot_first, the stream waits until the snapshot was served: diffs
        # buffered before a snapshot are applied with it as one published view, so a
        # count of views depends on that order (a race under load otherwise).
        self.snapshot_first = False
        self.snapshot_served = threading.Event()
        # False: stream without waiting for a subscription (Binance's combined-stream URL
        # names the streams; the tree's feed sends none)
        self.subscription = True
        frames = list(read_capture(DATA / "hftbacktest" / "ethusdt_20240808.gz"))
        self.snapshot = next(f.payload for f in frames if f.source == "rest")
        self.stream = [f.payload for f in frames if f.source == "ws"][:400]
        self.received: list[str] = []

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` connections have been accepted (the handler runs after the
        client's handshake completes, so the client may know before the server counts)."""
        with self._connected:
            return self._connected.wait_for(lambda: self.connections >= count, timeout)

    def handler(self, connection: ServerConnection) -> None:
        with self._connected:
            self.connections += 1
            self._connected.notify_all()
        if self.subscription:
            self.received.append(str(connection.recv(timeout=10)))  # the subscription
        if self.snapshot_first:
            self.snapshot_served.wait(10)
        for payload in self.stream:
            connection.send(payload)
        if self.hold.is_set():
            with contextlib.suppress(Exception):
                connection.recv(timeout=30)  # keep it open until the client goes away

    def http_handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        body = self.snapshot.encode()
        venue = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                venue.snapshot_requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                venue.snapshot_served.set()

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


@pytest.fixture
def venue() -> Iterator[tuple[Venue, str, str]]:
    fake = Venue()
    ws_server = serve(fake.handler, "127.0.0.1", 0)
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), fake.http_handler())
    threads = [
        threading.Thread(target=ws_server.serve_forever),
        threading.Thread(target=http_server.serve_forever),
    ]
    for thread in threads:
        thread.start()
    ws_port = ws_server.socket.getsockname()[1]
    http_port = http_server.server_address[1]
    try:
        yield (
            fake,
            f"ws://127.0.0.1:{ws_port}/stream",
            f"http://127.0.0.1:{http_port}/api/v3/depth?symbol=ETHUSDT&limit=1000",
        )
    finally:
        ws_server.shutdown()
        http_server.shutdown()
        http_server.server_close()
        for thread in threads:
            thread.join(10)


@pytest.fixture
def sim_venue_rate() -> float:
    """The test venue's order-entry rate limit (override with parametrize)."""
    return 10_000


@pytest.fixture
def sim_venue(sim_venue_rate: float) -> Iterator[SimExchange]:
    """The simulated exchange with an empty, still book: nothing trades unless a test
    makes it. Accounts ``demo`` and ``taker`` (secrets in trading_helpers)."""
    from trading_helpers import SECRET, TAKER_SECRET, still_exchange

    keys = {"demo": SECRET, "taker": TAKER_SECRET}
    with still_exchange(keys=keys, rate_per_second=sim_venue_rate) as exchange:
        yield exchange


@pytest.fixture
def control(
    sim_venue: SimExchange, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TradingSystem, ControlServer]]:
    """A system trading at ``sim_venue`` (no strategy) and its control endpoint; both
    stopped after the test."""
    from trading_helpers import SECRET, config_for

    from tradeactors.trading.control import ControlServer
    from tradeactors.trading.system import TradingSystem

    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    system = TradingSystem(config_for(sim_venue)).start(timeout=20)
    server = ControlServer(system)
    try:
        yield system, server
    finally:
        server.close()
        system.stop()


# -- the bus: one redis-server per test module, an empty database per test ----------------


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, stopped after the module's tests."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bus_url(redis_server: RedisServer) -> str:
    """The server's URL, its database emptied: every test starts on an empty bus."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return redis_server.url


@pytest.fixture
def settings(bus_url: str) -> BusSettings:
    """Fast-failing bus settings on the empty bus (`fast_settings`)."""
    return fast_settings(bus_url)


@pytest.fixture
def client(settings: BusSettings) -> Iterator[redis.Redis]:
    """A plain redis-py client of the bus, closed after the test."""
    connection = redis.Redis.from_url(settings.url)
    yield connection
    connection.close()
