"""The simulated exchange's servers on 127.0.0.1: market data over websocket and HTTP.

`SimExchange` runs a matching engine with seeded background liquidity for one
instrument, steps it every ``interval`` seconds on its own thread, and serves:

- ``ws://HOST:PORT/stream``: a Binance-style combined stream (``depthUpdate``,
  ``bookTicker``, ``trade``) that every connected client receives from when it joins;
- ``http://HOST:HTTP_PORT/api/v3/depth?symbol=...&limit=...``: the REST snapshot,
  consistent with the stream (``lastUpdateId``).

- ``ws://HOST:PORT/trade``: order entry (docs/protocol.md), for the API keys given.

Ports 0 pick free ones (see `ws_url`, `http_url`). Frames are sent to
clients under the market's lock, so a client that stops reading slows the market
down (a real venue would drop it); fine for tests and demos on loopback.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Self

import structlog
from websockets.sync.server import ServerConnection, serve

from tradeactors.exchange.liquidity import BackgroundLiquidity, LiquidityConfig
from tradeactors.exchange.matching import MatchingEngine
from tradeactors.exchange.orderentry import OrderEntry
from tradeactors.exchange.publisher import BinancePublisher

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.clock import Clock
    from tradeactors.core.instrument import Instrument
    from tradeactors.exchange.matching import OrderView

__all__ = ["SimExchange"]


class SimExchange:
    """A simulated venue for one instrument; `start` it, `close` it (or use ``with``)."""

    def __init__(
        self,
        instrument: Instrument,
        clock: Clock,
        *,
        seed: int = 1,
        interval: float = 0.05,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int = 0,
        liquidity: LiquidityConfig | None = None,
        keys: dict[str, str] | None = None,
        rate_per_second: float = 50.0,
    ) -> None:
        self.instrument = instrument
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self.engine = MatchingEngine()
        self._liquidity = BackgroundLiquidity(
            self.engine, instrument.symbol, seed=seed, config=liquidity
        )
        self._publisher = BinancePublisher(self.engine, instrument)
        self.orders = OrderEntry(
            self.engine, instrument, keys or {}, rate_per_second=rate_per_second
        )
        self._changed = threading.Condition(self._lock)
        self._clients: set[ServerConnection] = set()
        self._stop = threading.Event()
        self._log = structlog.get_logger("tradeactors.exchange").bind(symbol=instrument.symbol)
        self._ws = serve(self._serve_client, host, port)
        self._http = http.server.ThreadingHTTPServer((host, http_port), self._http_handler())
        self._threads: list[threading.Thread] = []
        self._corrupt = 0
        self._drop = 0
        self._paused = False
        self.host = host

    @property
    def ws_url(self) -> str:
        """Where the market-data stream is."""
        return f"ws://{self.host}:{self._ws.socket.getsockname()[1]}/stream"

    @property
    def trade_url(self) -> str:
        """Where order entry is (docs/protocol.md)."""
        return f"ws://{self.host}:{self._ws.socket.getsockname()[1]}/trade"

    def open_orders(self, account: str) -> list[OrderView]:
        """The account's resting orders (read under the market's lock)."""
        with self._lock:
            return self.engine.open_orders(account)

    def best(self) -> tuple[int | None, int | None]:
        """(best bid, best ask) in ticks (read under the market's lock)."""
        with self._lock:
            return self.engine.best(self.instrument.symbol)

    def position(self, account: str) -> int:
        """The account's net position in lots (read under the market's lock)."""
        with self._lock:
            return self.engine.position(account, self.instrument.symbol)

    def requests(self, account: str, op: str) -> int:
        """How many ``op`` requests the venue took from ``account`` (logged-on ones)."""
        with self._lock:
            return self.orders.requests.get((account, op), 0)

    def drop_sessions(self, account: str) -> int:
        """Fault injection: close, from the venue's side, every session of ``account``.

        Returns how many were closed. Each ends like any dropped connection (with
        ``cancel_on_disconnect``, the account's orders are cancelled).
        """
        with self._lock:
            connections = self.orders.connections_of(account)
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.close()  # type: ignore[attr-defined]
        return len(connections)

    # -- fault injection on the market-data side (chaos scenarios) ------------------------

    def corrupt_frames(self, count: int) -> None:
        """Fault injection: cut the next ``count`` depth frames in half (bad JSON)."""
        with self._lock:
            self._corrupt += count

    def drop_frames(self, count: int) -> None:
        """Fault injection: never send the next ``count`` depth frames (a sequence gap)."""
        with self._lock:
            self._drop += count

    def reject_orders(self, seconds: float) -> None:
        """Fault injection: refuse every new order (``venue_unavailable``) for a while."""
        with self._lock:
            self.orders.reject_until_ns = self._clock.monotonic_ns() + int(seconds * 1e9)

    def pause(self) -> None:
        """Stop the market (no steps, no frames) until `resume`; order entry still works."""
        self._paused = True

    def resume(self) -> None:
        """Start the market again after `pause`."""
        self._paused = False

    @property
    def update_id(self) -> int:
        """The last depth update id published."""
        with self._lock:
            return self._publisher.update_id

    def depth(self, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The top ``levels`` (price, size) of each side, as the venue has them."""
        with self._lock:
            return self._publisher.top(levels)

    def _faulty(self, frames: list[str]) -> list[str]:
        out = []
        for frame in frames:
            if '"depthUpdate"' in frame and self._drop:
                self._drop -= 1
                continue
            if '"depthUpdate"' in frame and self._corrupt:
                self._corrupt -= 1
                out.append(frame[: len(frame) // 2])
                continue
            out.append(frame)
        return out

    def mute_reports(self, account: str, *, muted: bool = True) -> None:
        """Fault injection: lose (or stop losing) the reports pushed to ``account``.

        Replies still arrive, and ``fills`` still lists every fill: this is a link
        that went deaf, the case reconciliation exists for.
        """
        with self._lock:
            if muted:
                self.orders.muted.add(account)
            else:
                self.orders.muted.discard(account)

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds, re-checked after every change.

        The predicate runs under the market's lock, so it may read ``engine`` directly.
        """
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    @property
    def http_url(self) -> str:
        """The REST base URL (``/api/v3/depth`` is under it)."""
        return f"http://{self.host}:{self._http.server_address[1]}"

    def start(self) -> Self:
        """Serve and start the market."""
        with self._lock:
            self._broadcast(
                self._publisher.publish(self._liquidity.step(self._clock.monotonic_ns()), 0)
            )
        for target, name in (
            (self._ws.serve_forever, "sim-ws"),
            (self._http.serve_forever, "sim-http"),
            (self._run, "sim-market"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._log.info("exchange_started", ws=self.ws_url, http=self.http_url)
        return self

    def close(self) -> None:
        """Stop the market and both servers; clients are disconnected."""
        self._stop.set()
        self._ws.shutdown()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            now = self._clock.monotonic_ns()
            if self._paused:
                continue
            with self._lock:
                events = self._liquidity.step(now)
                events.extend(self.orders.expire(now))
                self.orders.report(events)  # background fills against users' orders
                frames = self._publisher.publish(events, self._clock.time_ns())
                self._broadcast(frames)
                self._changed.notify_all()

    def _broadcast(self, frames: list[str]) -> None:
        if self._corrupt or self._drop:
            frames = self._faulty(frames)
        for client in list(self._clients):
            try:
                for frame in frames:
                    client.send(frame)
            except Exception:  # noqa: BLE001 - a client gone is dropped, the market goes on
                self._clients.discard(client)

    def _serve_client(self, connection: ServerConnection) -> None:
        request = connection.request
        if request is not None and request.path.startswith("/trade"):
            self._serve_trader(connection)
            return
        with self._lock:
            self._clients.add(connection)
        with contextlib.suppress(Exception):
            for _ in connection:  # clients may send subscriptions; the stream is fixed
                pass
        with self._lock:
            self._clients.discard(connection)

    def _serve_trader(self, connection: ServerConnection) -> None:
        def send(text: str) -> None:
            with contextlib.suppress(Exception):  # the session may be gone already
                connection.send(text)

        with self._lock:
            self.orders.connect(connection, send, self._clock.monotonic_ns())
        try:
            for message in connection:
                with self._lock:
                    self.orders.handle(connection, message, self._clock.monotonic_ns())
                    self._changed.notify_all()
        except Exception:  # noqa: BLE001 - a dropped socket ends the session like a close
            self._log.info("session_dropped")
        finally:
            with self._lock:
                self.orders.disconnect(connection)
                self._changed.notify_all()

    def _snapshot(self, query: str) -> tuple[int, str]:
        params = urllib.parse.parse_qs(query)
        symbol = params.get("symbol", [""])[0]
        if symbol != self.instrument.symbol:
            return 400, '{"code":-1121,"msg":"Invalid symbol."}'
        try:
            limit = int(params.get("limit", ["100"])[0])
        except ValueError:
            return 400, '{"code":-1100,"msg":"Illegal characters found in parameter limit."}'
        with self._lock:
            return 200, self._publisher.snapshot(max(1, min(limit, 5000)))

    def _http_handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        exchange = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path != "/api/v3/depth":
                    status, body = 404, '{"code":-1,"msg":"Not found."}'
                else:
                    status, body = exchange._snapshot(query)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler
