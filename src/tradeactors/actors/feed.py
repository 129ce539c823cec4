"""Feed actors: read a venue's frames (recorded or live) and route them to book actors.

A feed knows no venue by name: the venue adapter (`tradeactors.venues.adapter`) decodes
each frame into events (`VenueData` to the book actor of their symbol) and says where a
snapshot comes from. ``ReplayFeed`` reads a recorded capture; ``LiveFeed`` a venue's
websocket, and fetches REST snapshots where the venue has them.

A feed may also tell every frame it reads, as it is, to ``taps`` (the paper venue,
`tradeactors.actors.paper`, matches orders against the market it reads).

Bad input never crashes a feed: malformed JSON, unknown streams and unknown symbols are
counted by reason (``FeedStats.dropped``, and the ``tradeactors_feed_dropped_total``
metric when a registry is given) and dropped.
"""

from __future__ import annotations

import threading
import urllib.request
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from prometheus_client import CollectorRegistry, Counter

from tradeactors._websocket import close, connect
from tradeactors.core.messages import GetReport, MarketDataKind, Message, SnapshotNeeded
from tradeactors.errors import FeedDisconnectedError, FeedStaleError, FrameDroppedError
from tradeactors.supervision import SupervisedActor
from tradeactors.venues.adapter import venue_adapter
from tradeactors.venues.capture import Frame

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import websocket

    from tradeactors.clock import Timer
    from tradeactors.venues.adapter import VenueAdapter, VenueEvent

__all__ = [
    "FeedStats",
    "LiveFeed",
    "MarketDataMetrics",
    "ReplayFeed",
    "book_name",
]


def book_name(symbol: str) -> str:
    """The child name of a symbol's book actor (``XBT/USD`` -> ``book.XBT-USD``)."""
    return "book." + symbol.replace("/", "-")


class _Pump(Message, frozen=True, kw_only=True, tag="feed.pump"):
    pass


class FeedStats(msgspec.Struct, kw_only=True):
    """What a feed has seen."""

    frames: int = 0
    routed: int = 0
    dropped: dict[str, int] = msgspec.field(default_factory=dict)
    snapshot_requests: int = 0
    resubscriptions: int = 0  # snapshots asked for by resubscribing (Kraken)
    finished: bool = False


class MarketDataMetrics:
    """Feed counters on a registry you pass; made once, outside the tree, so restarts share it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.frames = Counter(
            "tradeactors_feed_frames",
            "Frames read by a feed.",
            labelnames=("venue",),
            registry=registry,
        )
        self.dropped = Counter(
            "tradeactors_feed_dropped",
            "Frames or events a feed dropped, by reason.",
            labelnames=("venue", "reason"),
            registry=registry,
        )
        self.resyncs = Counter(
            "tradeactors_book_resyncs",
            "Times a book was cleared to resync, by reason (gap, bad_level, crossed, "
            "checksum_mismatch, snapshot_too_old).",
            labelnames=("venue", "reason"),
            registry=registry,
        )


class _Feed(SupervisedActor):
    """What every feed does: decode frames, route them to book actors, count drops."""

    def __init__(
        self,
        venue: str | VenueAdapter,
        *,
        symbols: Iterable[str],
        books_path: str,
        metrics: MarketDataMetrics | None = None,
        route_tickers: bool = False,
        route_trades: bool = False,
        taps: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self._adapter = venue if not isinstance(venue, str) else venue_adapter(venue)
        self._taps = taps  # paths told every `Frame` read, as it is (the paper venue)
        self._market_data = self._adapter.market_data
        self._venue = self._adapter.kind
        self._route_tickers = route_tickers  # bookTickers only matter to verifying books
        self._route_trades = route_trades  # trades matter to strategies (through books)
        prefix = "" if books_path in ("", "/") else books_path + "/"  # "/" is the root
        self._books = {s: prefix + book_name(s) for s in symbols}
        self._tells: dict[str, Callable[[Any], None]] = {}  # symbol -> its book's tell
        self._metrics = metrics
        self.stats = FeedStats()

    def _report(self) -> FeedStats:
        return msgspec.structs.replace(self.stats, dropped=dict(self.stats.dropped))

    def _count_frames(self, count: int) -> None:
        self.stats.frames += count
        if self._metrics is not None:
            self._metrics.frames.labels(self._venue).inc(count)

    def _drop(self, reason: str) -> None:
        count = self.stats.dropped.get(reason, 0) + 1
        self.stats.dropped[reason] = count
        if self._metrics is not None:
            self._metrics.dropped.labels(self._venue, reason).inc()
        if count & (count - 1) == 0:  # logged at the 1st, 2nd, 4th, 8th, ... of each reason
            self.context.log.warning("feed_dropped", reason=reason, dropped_total=count)

    def _send(self, event: VenueEvent) -> None:
        tell = self._tells.get(event.symbol)
        if tell is None:
            path = self._books.get(event.symbol)
            if path is None:
                if event.symbol or len(self._books) != 1:
                    self._drop("unknown_symbol")
                    return
                path = next(iter(self._books.values()))  # a snapshot URL without a symbol
            # resolved once per symbol: an address reaches every later incarnation
            tell = self._tells[event.symbol] = self.context.address_of(path).tell
        self.stats.routed += 1
        tell(event)  # the adapter's VenueData, as it is

    def _tap(self, frame: Frame) -> None:
        for path in self._taps:
            self.context.address_of(path).tell(frame)

    def _route(self, frame: Frame) -> None:
        if self._taps:
            self._tap(frame)
        try:
            events = self._market_data.decode(frame)
        except FrameDroppedError as exc:
            self._drop(exc.reason)
            return
        for event in events:
            kind = event.kind
            if kind is MarketDataKind.BOOK or (
                self._route_trades if kind is MarketDataKind.TRADE else self._route_tickers
            ):
                self._send(event)


class ReplayFeed(_Feed):
    """Replays ``frames`` to the book actors under ``books_path``.

    ``pace="full"`` replays as fast as possible, in batches of ``batch`` frames, telling
    itself to continue so the other actors (and, under gevent, the other greenlets) run
    in between. ``pace="recorded"`` keeps the recorded gaps between frames, divided by
    ``speed``, with timers from the tree's clock (a fake clock makes it deterministic).
    ``done`` is set when the capture is exhausted. A restarted feed starts over.
    """

    def __init__(
        self,
        venue: str | VenueAdapter,
        frames: Iterable[Frame],
        *,
        symbols: Iterable[str],
        books_path: str,
        done: threading.Event,
        metrics: MarketDataMetrics | None = None,
        route_tickers: bool = False,
        route_trades: bool = False,
        batch: int = 256,
        pace: Literal["full", "recorded"] = "full",
        speed: float = 1.0,
        taps: tuple[str, ...] = (),
    ) -> None:
        super().__init__(
            venue,
            symbols=symbols,
            books_path=books_path,
            metrics=metrics,
            route_tickers=route_tickers,
            route_trades=route_trades,
            taps=taps,
        )
        if not speed > 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self._frames = tuple(frames)
        self._done = done
        self._batch = batch
        self._position = 0
        self._pace = pace
        self._speed = speed
        self._started_ns = 0
        self._timer: Timer | None = None

    def on_start(self) -> None:
        """Begin the replay."""
        self._started_ns = self.context.clock.monotonic_ns()
        self.context.address.tell(_Pump())

    def on_stop(self) -> None:
        """Cancel the next paced step."""
        if self._timer is not None:
            self._timer.cancel()

    def on_receive(self, message: Any) -> Any:
        """Replay the next batch, note snapshot requests, or report."""
        if isinstance(message, _Pump):
            self._pump()
        elif isinstance(message, SnapshotNeeded):
            # A replay cannot fetch: the next recorded snapshot of the symbol serves.
            self.stats.snapshot_requests += 1
        elif isinstance(message, GetReport):
            return self._report()
        return None

    def _pump(self) -> None:
        frames = self._frames
        end = min(self._position + self._batch, len(frames))
        delay = 0.0
        if self._pace == "recorded" and self._position < len(frames):
            first_ns = frames[0].received_ns
            elapsed_ns = (self.context.clock.monotonic_ns() - self._started_ns) * self._speed
            end = self._position
            while end < len(frames) and frames[end].received_ns - first_ns <= elapsed_ns:
                end += 1
            if end < len(frames):
                delay = (frames[end].received_ns - first_ns - elapsed_ns) / self._speed / 1e9
        for frame in frames[self._position : end]:
            self._route(frame)
        self._count_frames(end - self._position)
        self._position = end
        if end >= len(frames):
            self.stats.finished = True
            self._done.set()
        elif delay > 0:
            me = self.context.address
            self._timer = self.context.clock.call_later(delay, lambda: me.tell(_Pump()))
        else:
            self.context.address.tell(_Pump())


class _Received(Message, frozen=True, kw_only=True, tag="feed.received"):
    connection: int
    received_ns: int
    payload: str


class _Closed(Message, frozen=True, kw_only=True, tag="feed.closed"):
    connection: int
    reason: str


class _FeedTick(Message, frozen=True, kw_only=True, tag="feed.tick"):
    incarnation: int  # a killed predecessor's timer must not start a second chain


class LiveFeed(_Feed):
    """A venue's websocket, read on its own thread (a greenlet under gevent).

    Reconnecting is supervision's job: a closed or failed connection, or no frame for
    ``stale_after`` seconds, crashes the feed, and its supervisor restarts it (give the
    child a `Backoff`); with ``rest_for_one`` the book actors after it restart too and
    resync. Where the venue adapter names a snapshot URL (Binance), snapshots are
    fetched over HTTP from ``rest_base_url`` when a book asks, at most once per symbol
    per ``snapshot_interval`` (a snapshot older than the stream is retried on a later
    tick, not in a tight loop); a failed fetch is counted and retried. Where it names
    none (Kraken sends a snapshot with each subscription), a book that loses sync makes
    the feed resubscribe that symbol on the open connection (the adapter's
    `resubscribe_messages`, at most once per symbol per ``snapshot_interval``; a venue
    with none makes the feed reconnect), as it does for a book that restarted alone;
    the first book incarnation to ask at its start gets this connection's snapshot,
    which is on its way (or in its mailbox). ``send`` is what to send after connecting
    (by default the adapter's subscribe messages at ``depth`` levels a side, where the
    venue's subscription takes a depth).
    Pings are answered by websocket-client; the feed also pings every ``ping_interval``.
    """

    def __init__(
        self,
        venue: str | VenueAdapter,
        url: str,
        *,
        symbols: Iterable[str],
        books_path: str,
        rest_base_url: str = "",
        send: tuple[str, ...] = (),
        stale_after: float = 10.0,
        ping_interval: float = 20.0,
        timeout: float = 10.0,
        snapshot_interval: float = 2.0,
        depth: int = 10,
        metrics: MarketDataMetrics | None = None,
        route_tickers: bool = False,
        route_trades: bool = False,
        taps: tuple[str, ...] = (),
    ) -> None:
        symbols = tuple(symbols)
        super().__init__(
            venue,
            symbols=symbols,
            books_path=books_path,
            metrics=metrics,
            route_tickers=route_tickers,
            route_trades=route_trades,
            taps=taps,
        )
        self._url = url
        self._rest = rest_base_url.rstrip("/")
        self._depth = depth
        self._send_on_connect = send or self._market_data.subscribe_messages(symbols, depth=depth)
        self._stale_after = stale_after
        self._ping_interval = ping_interval
        self._timeout = timeout
        self._connection: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._timer: Timer | None = None
        self._last_frame_ns = 0
        self._last_ping_ns = 0
        self._wanted: set[str] = set()
        self._snapshot_interval_ns = int(snapshot_interval * 1e9)
        # per symbol: the book incarnation that started with this connection (its
        # snapshot comes with the subscription)
        self._first_book: dict[str, int] = {}
        self._fetched_ns: dict[str, int] = {}  # per symbol: when its snapshot was last fetched

    def on_start(self) -> None:
        """Connect and subscribe; a failure here is a failed start (and retried)."""
        connection = connect(self._url, timeout=self._timeout)
        try:
            for message in self._send_on_connect:
                connection.send(message)
        except Exception:
            connection.close(timeout=1)  # on_stop never runs after a failed start
            raise
        connection.settimeout(None)  # the reader blocks; staleness is the watchdog's job
        self._connection = connection
        self._last_frame_ns = self._last_ping_ns = self.context.clock.monotonic_ns()
        number = self.context.incarnation
        me = self.context.address
        self._reader = threading.Thread(
            target=self._read,
            args=(connection, number, me),
            name=f"ws:{self.context.path}",
            daemon=True,
        )
        self._reader.start()
        self._schedule()
        self.context.log.info("feed_connected", url=self._url)

    def _read(self, connection: websocket.WebSocket, number: int, me: Any) -> None:
        # Runs on the reader thread: it only tells the feed what arrived.
        clock = self.context.clock
        reason = "the venue closed the connection"
        try:
            while payload := connection.recv():
                text = payload if isinstance(payload, str) else payload.decode()
                me.tell(_Received(connection=number, received_ns=clock.time_ns(), payload=text))
        except Exception as exc:  # noqa: BLE001 - every way the socket ends is reported
            reason = repr(exc)
        me.tell(_Closed(connection=number, reason=reason))

    def _schedule(self) -> None:
        me, incarnation = self.context.address, self.context.incarnation
        period = max(0.01, min(self._stale_after, self._ping_interval) / 4)
        self._timer = self.context.clock.call_later(
            period, lambda: me.tell(_FeedTick(incarnation=incarnation))
        )

    def on_stop(self) -> None:
        """Close the connection and let the reader end."""
        self._close()

    def on_failure(self, *_exc_info: object) -> None:
        """Close the connection before the supervisor restarts the feed."""
        self._close()

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._connection is not None:
            close(self._connection, timeout=1)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(self._timeout)

    def on_receive(self, message: Any) -> Any:
        """Route frames; reconnect on close or staleness; fetch snapshots; report."""
        number = self.context.incarnation
        if isinstance(message, _Received):
            if message.connection == number:
                self._last_frame_ns = self.context.clock.monotonic_ns()
                self._count_frames(1)
                self._route(
                    Frame(received_ns=message.received_ns, source="ws", payload=message.payload)
                )
        elif isinstance(message, _Closed):
            if message.connection == number:
                raise FeedDisconnectedError(f"{self._url}: {message.reason}")
        elif isinstance(message, _FeedTick):
            if message.incarnation == number:
                self._on_tick()
        elif isinstance(message, SnapshotNeeded):
            self.stats.snapshot_requests += 1
            if (
                self._market_data.snapshot_url(self._rest, message.symbol) is None
                and message.reason == "start"
                and self._first_book.setdefault(message.symbol, message.incarnation)
                == message.incarnation
            ):
                # The subscription sent on connecting brings this book its snapshot.
                # A loss of sync, or a book restarted alone, needs another.
                return None
            self._wanted.add(message.symbol)
            self._fetch_snapshots()
        elif isinstance(message, GetReport):
            return self._report()
        return None

    def _on_tick(self) -> None:
        now = self.context.clock.monotonic_ns()
        if now - self._last_frame_ns > self._stale_after * 1e9:
            raise FeedStaleError(f"no frame from {self._url} for {self._stale_after} s")
        if self._connection is not None and now - self._last_ping_ns > self._ping_interval * 1e9:
            self._last_ping_ns = now
            self._connection.ping()
        self._fetch_snapshots()
        self._schedule()

    def _resubscribe(self, symbol: str) -> None:
        """Ask the venue for a fresh snapshot of ``symbol`` on this connection."""
        messages = self._market_data.resubscribe_messages(symbol, depth=self._depth)
        if not messages or self._connection is None:
            raise FeedDisconnectedError(f"reconnecting for a {symbol} snapshot")
        self._wanted.discard(symbol)
        for message in messages:
            self._connection.send(message)
        self.stats.resubscriptions += 1
        self.context.log.info("feed_resubscribed", symbol=symbol)

    def _fetch_snapshots(self) -> None:
        now = self.context.clock.monotonic_ns()
        for symbol in sorted(self._wanted):
            last = self._fetched_ns.get(symbol)
            if last is not None and now - last < self._snapshot_interval_ns:
                continue  # at most one fetch per symbol per interval: venues ban floods
            self._fetched_ns[symbol] = now
            url = self._market_data.snapshot_url(self._rest, symbol)
            if url is None:
                self._resubscribe(symbol)
                continue
            try:
                with urllib.request.urlopen(url, timeout=self._timeout) as answer:  # noqa: S310 - configured URL
                    body = answer.read().decode()
            except Exception as exc:  # noqa: BLE001 - OSError, HTTPException, bad bytes: retry
                self._drop("snapshot_failed")
                self.context.log.warning("snapshot_failed", symbol=symbol, error=repr(exc))
                continue  # retried on the next tick
            frame = Frame(
                received_ns=self.context.clock.time_ns(), source="rest", url=url, payload=body
            )
            self._tap(frame)
            try:
                events = self._market_data.decode(frame)
            except FrameDroppedError as exc:
                self._drop(exc.reason)  # still wanted: fetched again after snapshot_interval
                continue
            self._wanted.discard(symbol)
            for event in events:
                self._send(event)
