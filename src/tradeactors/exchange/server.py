"""The simulated exchange's servers on 127.0.0.1: market data over websocket and HTTP.

`SimExchange` runs a matching engine with seeded background liquidity for one
instrument or several (a book and a liquidity generator per symbol), steps it every
``interval`` seconds on its own thread, and serves, for every symbol:

- ``ws://HOST:PORT/stream``: a Binance-style combined stream (``depthUpdate``,
  ``bookTicker``, ``trade``) that every connected client receives from when it joins
  (with the Kraken protocol, market data is the ``book`` channel at ``/v2``: `ws_url`);
- ``http://HOST:HTTP_PORT/api/v3/depth?symbol=...&limit=...``: the REST snapshot,
  consistent with the stream (``lastUpdateId``).

- order entry for the API keys given, in the ``protocol`` chosen: ``"sim"``, the
  simulator's own (docs/protocol.md) at ``ws://HOST:PORT/trade``; ``"binance"``,
  Binance spot's WebSocket API and user data stream (`tradeactors.exchange.binance_api`)
  at ``ws://HOST:PORT/ws-api/v3``; or ``"kraken"``, Kraken spot's WebSocket v2
  (`tradeactors.exchange.kraken_api`: order entry, the ``executions`` channel and the
  ``book`` channel with its checksum) at ``ws://HOST:PORT/v2``. Either way `trade_url`
  says where;
- ``http://HOST:HTTP_PORT/api/v3/exchangeInfo``, ``/api/v3/time`` and ``/api/v3/ping``,
  as Binance serves them, and ``/0/public/AssetPairs``, ``/0/public/Depth`` and
  ``/0/public/Time``, as Kraken serves them, whatever the protocol; with the Kraken
  protocol, ``POST /0/private/GetWebSocketsToken`` (signed as Kraken documents).

Ports 0 pick free ones (see `ws_url`, `http_url`). Nothing is sent under the market's
lock: each connection has a bounded outgoing queue and a writer thread of its own, so a
client that stops reading stalls only itself. When its queue is full it is dropped, as
real venues drop slow consumers: a market-data client is disconnected, an order-entry
session too (and its ``cancel_on_disconnect`` applies, as for any disconnect). Both
are counted (`slow_consumers_dropped`) and logged.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import http.server
import socket
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Self

import msgspec
import structlog
from websockets.sync.server import ServerConnection, serve

from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side, TimeInForce
from tradeactors.errors import ConfigError
from tradeactors.exchange.binance_api import BinanceApi, RateLimits, rest_exchange_info
from tradeactors.exchange.kraken_api import (
    ASSET_PAIRS_PATH,
    DEPTH_PATH,
    MAX_BODY_BYTES,
    TIME_PATH,
    TOKEN_PATH,
    KrakenApi,
    KrakenLimits,
    depth_pair,
    rest_asset_pairs,
    rest_depth,
    rest_time,
)
from tradeactors.exchange.liquidity import BackgroundLiquidity, LiquidityConfig
from tradeactors.exchange.matching import EngineFilled, Filters, MatchingEngine
from tradeactors.exchange.orderentry import OrderEntry
from tradeactors.exchange.publisher import BinancePublisher

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from tradeactors.clock import Clock
    from tradeactors.exchange.matching import Event, OrderView

__all__ = ["MAX_FRAME_BYTES", "PROTOCOLS", "SimExchange", "symbol_seed"]

MAX_FRAME_BYTES = 65_536
"""The largest frame a client may send; a larger one closes its connection (1009)."""
CLOSE_TIMEOUT = 2.0
"""How long the venue waits for a client to finish a closing handshake, in seconds."""
MARKET_DATA = "market_data"
ORDER_ENTRY = "order_entry"
PROTOCOLS = {"sim": "/trade", "binance": "/ws-api/v3", "kraken": "/v2"}
"""The order-entry protocols the exchange speaks, and the path each is served at."""


def symbol_seed(seed: int, symbol: str, *, first: bool) -> int:
    """The seed of ``symbol``'s background liquidity on an exchange seeded ``seed``.

    The first instrument's market is seeded with ``seed`` itself, so a one-instrument
    exchange is the market it always was; every other symbol's seed is derived from
    ``seed`` and its symbol (SHA-256), so it is reproducible and differs per symbol.
    """
    if first:
        return seed
    digest = hashlib.sha256(f"{seed}:{symbol}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class _Connection(ServerConnection):
    """A server connection whose socket only its reader thread ever closes.

    websockets closes the socket from whichever thread notices a failure (a writer
    whose send failed, a close timeout), while its reader may be parked in a
    selector on it. With threads that is harmless; under gevent, closing a file
    descriptor that a selector watches aborts the process (libev). So another
    thread only shuts the socket down, which wakes the reader: it reads the end of
    the stream, feeds it to the protocol, wakes the threads waiting in ``recv`` and
    closes the socket on its way out. (Feeding the end from this thread as well raced
    with data the reader had already read: websockets logged an "unexpected internal
    error", EOFError "stream ended", with its traceback.)
    """

    def close_socket(self) -> None:
        reader = self.recv_events_thread
        if reader.ident is None or threading.get_ident() == reader.ident:
            super().close_socket()
            return
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)


class _Outbox:
    """One connection's bounded outgoing queue, drained by its own writer thread.

    `put` never blocks: it is called under the market's lock. When the queue is full
    the client is not keeping up: its socket is shut down at once (which also wakes a
    writer stuck in a send), the queue is emptied and ``on_overflow`` is called. A send
    that cannot complete within the socket's timeout ends the connection the same way
    (``timed_out``; counted when the connection's handler ends).
    """

    def __init__(
        self,
        connection: ServerConnection,
        kind: str,
        limit: int,
        on_overflow: Callable[[_Outbox], None],
    ) -> None:
        self.connection = connection
        self.kind = kind  # MARKET_DATA or ORDER_ENTRY
        self.peer = str(connection.remote_address)  # read now: the socket may be closed later
        address = connection.remote_address
        self.peer_host = str(address[0]) if isinstance(address, tuple) and address else self.peer
        self._limit = limit
        self._on_overflow = on_overflow
        self._frames: collections.deque[str] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._closed = False
        self._sending = False
        self.timed_out = False
        self._writer = threading.Thread(target=self._write, name="sim-writer", daemon=True)
        self._writer.start()

    def put(self, frame: str) -> bool:
        """Queue ``frame``; False if the connection is closed or has just been dropped."""
        with self._cond:
            if self._closed:
                return False
            if len(self._frames) < self._limit:
                self._frames.append(frame)
                self._cond.notify()
                return True
            self._closed = True
            self._frames.clear()
            self._cond.notify()
        self._abort()
        self._on_overflow(self)
        return False

    def finish(self) -> None:
        """Send nothing more; a writer caught in a send is cut off (the server closes)."""
        with self._cond:
            self._closed = True
            self._frames.clear()
            self._cond.notify()
            sending = self._sending
        if sending:
            self._abort()

    def close(self) -> None:
        """The connection ended: stop the writer and wait for it."""
        self.finish()
        self._writer.join(10)

    def _abort(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.socket.shutdown(socket.SHUT_RDWR)

    def _write(self) -> None:
        while True:
            with self._cond:
                self._sending = False
                while not self._frames and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                frame = self._frames.popleft()
                self._sending = True
            try:
                self.connection.send(frame)
            except Exception as exc:  # noqa: BLE001 - the connection is gone; its handler ends it
                with self._cond:
                    self._closed = True
                    self._frames.clear()
                    self.timed_out = isinstance(exc.__cause__, TimeoutError)
                return


class SimExchange:
    """A simulated venue for one instrument or several; `start` it, `close` it (or ``with``).

    Args (beyond the obvious):
        instrument: one `Instrument`, or several (distinct symbols): the first is the
            default of the methods that take an optional ``symbol`` (`best`, `take`...).
            One engine holds a book per symbol; each symbol has its own background
            liquidity, seeded by `symbol_seed` (the first with ``seed`` itself).
        liquidity: one `LiquidityConfig` for every symbol, or one per symbol (a symbol
            left out gets the defaults).
        max_queued_frames: each connection's outgoing queue; a client with this many
            frames unsent is dropped as a slow consumer.
        send_timeout: seconds one frame may take to go out; a client that takes no
            data for that long is dropped as a slow consumer too.
        send_buffer_bytes: each connection's kernel send buffer (``SO_SNDBUF``); None
            keeps the system's (autotuned: megabytes on loopback), so a client that
            stops reading is noticed only once that much is stuck in the kernel.
        protocol: the order-entry protocol (`PROTOCOLS`): ``"sim"`` (rate limited by
            ``rate_per_second``), ``"binance"`` (limited by ``binance_limits``, as
            Binance limits: request weight per IP, orders per account, 429 then 418) or
            ``"kraken"`` (limited by ``kraken_limits``, as Kraken limits: a trading rate
            counter and open orders per account, the REST API counter per key; its
            ``keys`` are API key -> base64 secret, as Kraken issues them).
        cancel_on_disconnect: False makes the ``"sim"`` protocol a venue without
            cancel-on-disconnect (as Binance and Kraken spot, which have none): the
            logon flag is ignored and a dropped session's orders stay on the book
            (until cancelled, or the account's ``cancel_all_after`` runs out). For
            trials of a trading process killed and started again with its orders
            still open (bench/kill_trials.py).

    """

    def __init__(
        self,
        instrument: Instrument | Sequence[Instrument],
        clock: Clock,
        *,
        seed: int = 1,
        interval: float = 0.05,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int = 0,
        liquidity: LiquidityConfig | Mapping[str, LiquidityConfig] | None = None,
        keys: dict[str, str] | None = None,
        rate_per_second: float = 50.0,
        max_queued_frames: int = 1024,
        send_timeout: float = 10.0,
        send_buffer_bytes: int | None = None,
        protocol: str = "sim",
        binance_limits: RateLimits | None = None,
        kraken_limits: KrakenLimits | None = None,
        cancel_on_disconnect: bool = True,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ConfigError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        listed = (instrument,) if isinstance(instrument, Instrument) else tuple(instrument)
        if not listed:
            raise ConfigError("the exchange needs at least one instrument")
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in listed}
        """The instruments served, by symbol, in the order given."""
        if len(self.instruments) != len(listed):
            symbols = [i.symbol for i in listed]
            repeated = sorted({symbol for symbol in symbols if symbols.count(symbol) > 1})
            raise ConfigError(f"the exchange's instruments repeat a symbol: {', '.join(repeated)}")
        self.instrument = listed[0]
        """The first instrument (the only one on a one-instrument exchange)."""
        self.protocol = protocol
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self.engine = MatchingEngine(
            filters={symbol: Filters.of(i) for symbol, i in self.instruments.items()}
        )
        self._liquidities = {
            symbol: BackgroundLiquidity(
                self.engine,
                symbol,
                seed=symbol_seed(seed, symbol, first=index == 0),
                config=(
                    liquidity
                    if liquidity is None or isinstance(liquidity, LiquidityConfig)
                    else liquidity.get(symbol)
                ),
            )
            for index, symbol in enumerate(self.instruments)
        }
        self._publishers = {
            symbol: BinancePublisher(self.engine, i) for symbol, i in self.instruments.items()
        }
        self._binance_limits = binance_limits or RateLimits()
        self.orders: OrderEntry | BinanceApi | KrakenApi
        if protocol == "binance":
            self.orders = BinanceApi(
                self.engine, self.instruments, keys or {}, clock, limits=self._binance_limits
            )
        elif protocol == "kraken":
            self.orders = KrakenApi(
                self.engine,
                tuple(self.instruments.values()),
                keys or {},
                clock,
                limits=kraken_limits,
            )
        else:
            self.orders = OrderEntry(
                self.engine,
                self.instruments,
                keys or {},
                rate_per_second=rate_per_second,
                cancel_on_disconnect=cancel_on_disconnect,
            )
        self._changed = threading.Condition(self._lock)
        self._takes = 0  # IOCs sent by `take`
        self._clients: set[_Outbox] = set()  # market-data clients
        self._outboxes: set[_Outbox] = set()  # every connection's
        self._max_queued = max_queued_frames
        self._send_timeout = send_timeout
        self._send_buffer = send_buffer_bytes
        # clients dropped for not reading, by kind; under the lock (`wait_until` may read it)
        self.slow_consumers = {MARKET_DATA: 0, ORDER_ENTRY: 0}
        self._stop = threading.Event()
        self._log = structlog.get_logger("tradeactors.exchange").bind(
            symbol=",".join(self.instruments)
        )
        self._ws = serve(
            self._serve_client,
            host,
            port,
            create_connection=_Connection,
            max_size=MAX_FRAME_BYTES,
            close_timeout=CLOSE_TIMEOUT,
        )
        self._http = http.server.ThreadingHTTPServer((host, http_port), self._http_handler())
        self._threads: list[threading.Thread] = []
        self._corrupt = 0
        self._drop = 0
        self._paused = False
        self.host = host

    @property
    def ws_url(self) -> str:
        """Where the market-data stream is, in the exchange's protocol.

        Binance's combined stream at ``/stream`` (protocols ``sim`` and ``binance``);
        with ``kraken``, the WebSocket v2 endpoint (`trade_url`), whose ``book``
        channel a client subscribes to, as at ``wss://ws.kraken.com/v2``.
        """
        path = PROTOCOLS["kraken"] if self.protocol == "kraken" else "/stream"
        return f"ws://{self.host}:{self._ws.socket.getsockname()[1]}{path}"

    @property
    def trade_url(self) -> str:
        """Where order entry is, in the exchange's protocol (`PROTOCOLS`)."""
        return f"ws://{self.host}:{self._ws.socket.getsockname()[1]}{PROTOCOLS[self.protocol]}"

    def _symbol(self, symbol: str | None) -> str:
        """``symbol`` if the exchange serves it; None: the first instrument's."""
        if symbol is None:
            return self.instrument.symbol
        if symbol not in self.instruments:
            raise KeyError(f"the exchange does not serve {symbol!r}")
        return symbol

    def open_orders(self, account: str, symbol: str | None = None) -> list[OrderView]:
        """The account's resting orders, of every symbol or of ``symbol`` (under the lock)."""
        with self._lock:
            return self.engine.open_orders(account, symbol)

    def best(self, symbol: str | None = None) -> tuple[int | None, int | None]:
        """(best bid, best ask) in ticks of ``symbol`` (default: the first instrument)."""
        symbol = self._symbol(symbol)
        with self._lock:
            return self.engine.best(symbol)

    def position(self, account: str, symbol: str | None = None) -> int:
        """The account's net position in lots of ``symbol`` (default: the first)."""
        symbol = self._symbol(symbol)
        with self._lock:
            return self.engine.position(account, symbol)

    def take(
        self,
        side: Side,
        price: int,
        quantity: int,
        *,
        account: str = "taker",
        symbol: str | None = None,
    ) -> int:
        """Send an IOC of ``account`` into ``symbol``'s book now (default: the first's).

        What a test (or a demo) uses to trade against resting orders at a known price:
        the fills are reported to their owners and published like any other. Returns
        the lots it took.
        """
        symbol = self._symbol(symbol)
        with self._lock:
            self._takes += 1
            events = self.engine.submit(
                account=account,
                client_order_id=f"take-{self._takes}",
                instrument=symbol,
                side=side,
                quantity=quantity,
                price=price,
                tif=TimeInForce.IOC,
            )
            self.orders.report(events)
            self._broadcast(self._publish(events, self._clock.time_ns()))
            self._changed.notify_all()
        return sum(
            e.quantity for e in events if isinstance(e, EngineFilled) and e.account == account
        )

    def requests(self, account: str, op: str) -> int:
        """How many ``op`` requests the venue took from ``account`` (logged-on ones).

        ``op`` is the simulator's name whatever the protocol (Binance's ``order.place``
        counts as ``place``, ``order.cancelReplace`` as ``amend``: see `BinanceApi`;
        Kraken's ``add_order`` as ``place``, an ``executions`` subscription with its
        snapshot as ``open_orders`` and ``fills``: see `KrakenApi`).
        """
        with self._lock:
            return self.orders.requests.get((account, op), 0)

    def slow_consumers_dropped(self) -> dict[str, int]:
        """How many clients were dropped for not reading: ``market_data``, ``order_entry``."""
        with self._lock:
            return dict(self.slow_consumers)

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
        """Fault injection: cut the next ``count`` depth frames in half (bad JSON).

        With the Kraken protocol: its next ``count`` ``book`` updates.
        """
        with self._lock:
            if isinstance(self.orders, KrakenApi):
                self.orders.corrupt_book_updates += count
            else:
                self._corrupt += count

    def drop_frames(self, count: int) -> None:
        """Fault injection: never send the next ``count`` depth frames (a sequence gap).

        With the Kraken protocol: its next ``count`` ``book`` updates (Kraken's book has
        no sequence: the next update's checksum shows the loss).
        """
        with self._lock:
            if isinstance(self.orders, KrakenApi):
                self.orders.drop_book_updates += count
            else:
                self._drop += count

    def reject_orders(self, seconds: float) -> None:
        """Fault injection: refuse every new order (``venue_unavailable``) for a while."""
        with self._lock:
            self.orders.reject_until_ns = self._clock.monotonic_ns() + int(seconds * 1e9)

    def spend_rate_count(self, account: str, count: float, symbol: str | None = None) -> None:
        """Fault injection (Kraken protocol): another client spends ``account``'s counter.

        ``count`` is added to the trading rate counter of ``symbol``'s pair (None: the
        first instrument's); the next ``executions`` updates of that pair show it
        (``ratecount``).
        """
        if not isinstance(self.orders, KrakenApi):
            raise NotImplementedError("a trading rate counter is the kraken protocol's only")
        with self._lock:
            self.orders.spend_rate_count(account, count, self._clock.monotonic_ns(), symbol)

    def pause(self) -> None:
        """Stop the market (no steps, no frames) until `resume`; order entry still works."""
        self._paused = True

    def resume(self) -> None:
        """Start the market again after `pause`."""
        self._paused = False

    @property
    def update_id(self) -> int:
        """The last depth update id published (of the first instrument: `update_id_of`)."""
        return self.update_id_of(None)

    def update_id_of(self, symbol: str | None) -> int:
        """The last depth update id published for ``symbol`` (None: the first's)."""
        symbol = self._symbol(symbol)
        with self._lock:
            return self._publishers[symbol].update_id

    def depth(
        self, levels: int, symbol: str | None = None
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The top ``levels`` (price, size) of each side of ``symbol`` (default: the first).

        As last published on the Binance-format stream (`update_id`); with the Kraken
        protocol, the engine's book now (its ``book`` channel publishes every change at
        once).
        """
        symbol = self._symbol(symbol)
        with self._lock:
            if isinstance(self.orders, KrakenApi):
                return (
                    self.engine.depth(symbol, Side.BUY, levels),
                    self.engine.depth(symbol, Side.SELL, levels),
                )
            return self._publishers[symbol].top(levels)

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

    def garble_reports(self, account: str, count: int) -> None:
        """Fault injection (Binance protocol): ``account``'s next ``count`` reports garbled.

        They go out with an execution type no client knows. The orders and trades behind
        them are real (``myTrades`` lists the trades): an unreadable report that was a
        fill, the case a fills fetch exists for.
        """
        if not isinstance(self.orders, BinanceApi):
            raise NotImplementedError("garbled reports are made by the binance protocol only")
        with self._lock:
            self.orders.garbled[account] = count

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds, re-checked after every change.

        The predicate runs under the market's lock, so it may read ``engine`` and
        ``slow_consumers`` directly.
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
            self._broadcast(self._publish(self._step(self._clock.monotonic_ns()), 0))
        for target, name, args in (
            (self._ws.serve_forever, "sim-ws", ()),
            # how long close() waits for the accept loop to notice (0.5 s by default)
            (self._http.serve_forever, "sim-http", (0.05,)),
            (self._run, "sim-market", ()),
        ):
            thread = threading.Thread(target=target, name=name, args=args, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._log.info("exchange_started", ws=self.ws_url, http=self.http_url)
        return self

    def close(self) -> None:
        """Stop the market and both servers; clients are disconnected."""
        self._stop.set()
        market = next((t for t in self._threads if t.name == "sim-market"), None)
        if market is not None:
            market.join(10)  # no market frame is queued after this
        with self._lock:
            outboxes = list(self._outboxes)
        for outbox in outboxes:  # a writer stuck in a send would hold its close forever
            outbox.finish()
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
                events = self._step(now)
                events.extend(self.orders.expire(now))
                self.orders.report(events)  # background fills against users' orders
                frames = self._publish(events, self._clock.time_ns())
                self._broadcast(frames)
                self._changed.notify_all()

    def _step(self, now_ns: int) -> list[Event]:
        """Every symbol's background liquidity steps to ``now_ns`` (under the lock)."""
        events: list[Event] = []
        for liquidity in self._liquidities.values():
            events.extend(liquidity.step(now_ns))
        return events

    def _publish(self, events: list[Event], now_ns: int) -> list[str]:
        """Every symbol's Binance-format frames for what changed (under the lock)."""
        frames: list[str] = []
        for publisher in self._publishers.values():
            frames.extend(publisher.publish(events, now_ns))
        return frames

    def _broadcast(self, frames: list[str]) -> None:
        """Queue ``frames`` to every market-data client (under the lock; never blocks)."""
        if self._corrupt or self._drop:
            frames = self._faulty(frames)
        for client in list(self._clients):
            for frame in frames:
                if not client.put(frame):
                    self._clients.discard(client)
                    break

    def _dropped_slow(self, outbox: _Outbox, reason: str) -> None:
        """Count and log a slow consumer dropped (under the lock)."""
        self.slow_consumers[outbox.kind] += 1
        self._changed.notify_all()
        self._log.warning(
            "slow_consumer_dropped", kind=outbox.kind, peer=outbox.peer, reason=reason
        )

    def _open(self, connection: ServerConnection, kind: str) -> _Outbox:
        with contextlib.suppress(OSError):
            connection.socket.settimeout(self._send_timeout)  # reads wait in a selector
            if self._send_buffer is not None:
                connection.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._send_buffer)
        outbox = _Outbox(
            connection,
            kind,
            self._max_queued,
            lambda outbox: self._dropped_slow(outbox, "queue_full"),
        )
        with self._lock:
            self._outboxes.add(outbox)
        return outbox

    def _closed(self, outbox: _Outbox) -> None:
        outbox.close()
        with self._lock:
            self._outboxes.discard(outbox)
            self._clients.discard(outbox)
            if outbox.timed_out:
                self._dropped_slow(outbox, "send_timeout")

    def _serve_client(self, connection: ServerConnection) -> None:
        request = connection.request
        if request is not None and request.path.startswith(PROTOCOLS[self.protocol]):
            self._serve_trader(connection, request.path)
            return
        outbox = self._open(connection, MARKET_DATA)
        try:
            with self._lock:
                self._clients.add(outbox)
            with contextlib.suppress(Exception):
                for _ in connection:  # clients may send subscriptions; the stream is fixed
                    pass
        finally:
            self._closed(outbox)

    def _serve_trader(self, connection: ServerConnection, path: str) -> None:
        outbox = self._open(connection, ORDER_ENTRY)
        clock = self._clock
        with self._lock:
            if isinstance(self.orders, BinanceApi):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
                self.orders.connect(
                    connection,
                    outbox.put,
                    clock.monotonic_ns(),
                    peer=outbox.peer_host,
                    return_rate_limits=query.get("returnRateLimits", ["true"])[0] != "false",
                )
            elif isinstance(self.orders, KrakenApi):
                self.orders.connect(
                    connection, outbox.put, clock.monotonic_ns(), peer=outbox.peer_host
                )
            else:
                self.orders.connect(connection, outbox.put, clock.monotonic_ns())
        try:
            for message in connection:
                with self._lock:
                    self.orders.handle(
                        connection, message, clock.monotonic_ns(), wall_ns=clock.time_ns()
                    )
                    self._changed.notify_all()
        except Exception:  # noqa: BLE001 - a dropped socket ends the session like a close
            self._log.info("session_dropped")
        finally:
            with self._lock:
                self.orders.disconnect(connection)
                self._changed.notify_all()
            self._closed(outbox)

    def _snapshot(self, query: str) -> tuple[int, str]:
        params = urllib.parse.parse_qs(query)
        publisher = self._publishers.get(params.get("symbol", [""])[0])
        if publisher is None:
            return 400, '{"code":-1121,"msg":"Invalid symbol."}'
        try:
            limit = int(params.get("limit", ["100"])[0])
        except ValueError:
            return 400, '{"code":-1100,"msg":"Illegal characters found in parameter limit."}'
        with self._lock:
            return 200, publisher.snapshot(max(1, min(limit, 5000)))

    def _rest(self, path: str, query: str) -> tuple[int, str]:  # noqa: PLR0911 - one per path
        """A GET request's (status, JSON body), as Binance (or Kraken) answers it."""
        if path == "/api/v3/depth":
            return self._snapshot(query)
        instruments = list(self.instruments.values())
        if path == ASSET_PAIRS_PATH:  # the filters are immutable: no lock needed
            return rest_asset_pairs(query, instruments, self.engine.filters)
        if path == DEPTH_PATH:
            # the pair asked for; none served: the first's answer is the refusal
            pair = depth_pair(query, instruments) or self.instrument
            with self._lock:
                return rest_depth(
                    query,
                    pair,
                    lambda side, levels: self.engine.depth(pair.symbol, side, levels),
                    self._clock.time_ns(),
                )
        if path == TIME_PATH:
            return rest_time(self._clock.time_ns())
        now_ms = self._clock.time_ns() // 1_000_000
        if path == "/api/v3/exchangeInfo":
            return rest_exchange_info(
                query,
                instruments,
                self.engine.filters,  # immutable: no lock needed
                server_time_ms=now_ms,
                limits=self._binance_limits,
            )
        if path == "/api/v3/time":
            return 200, msgspec.json.encode({"serverTime": now_ms}).decode()
        if path == "/api/v3/ping":
            return 200, "{}"
        if path.startswith("/0/"):
            return 404, '{"error":["EGeneral:Unknown method"]}'
        return 404, '{"code":-1,"msg":"Not found."}'

    def _rest_post(
        self, path: str, api_key: str | None, signature: str | None, body: bytes
    ) -> tuple[int, str]:
        """A POST request's (status, JSON body): Kraken's token call, with that protocol."""
        if path == TOKEN_PATH and isinstance(self.orders, KrakenApi):
            with self._lock:
                return self.orders.rest_token(
                    path=path,
                    api_key=api_key,
                    signature=signature,
                    body=body,
                    now_ns=self._clock.monotonic_ns(),
                )
        return 404, '{"error":["EGeneral:Unknown method"]}'

    def _http_handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        exchange = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = CLOSE_TIMEOUT * 5  # a client that stops sending mid-request is cut off

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                self._answer(*exchange._rest(path, query))

            def do_POST(self) -> None:
                path = self.path.partition("?")[0]
                length = self.headers.get("Content-Length", "0")
                if not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY_BYTES:
                    self.close_connection = True  # the body is not read
                    self._answer(413, '{"error":["EGeneral:Invalid arguments"]}')
                    return
                body = self.rfile.read(int(length))
                api_key, signature = self.headers.get("API-Key"), self.headers.get("API-Sign")
                self._answer(*exchange._rest_post(path, api_key, signature, body))

            def _answer(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler
