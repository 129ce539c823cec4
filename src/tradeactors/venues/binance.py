"""Binance spot market data: narrow msgspec decoders and the local-book sync procedure.

Decoders are made once and reused; each decodes only the fields we use. The sync
follows Binance's documented procedure for a local order book:

1. buffer ``depthUpdate`` events; get a REST snapshot (``lastUpdateId``);
2. drop buffered events with ``u <= lastUpdateId``;
3. the first event applied must have ``U <= lastUpdateId + 1 <= u``;
4. afterwards each event's ``U`` must be the previous event's ``u + 1`` (spot), or
   its ``pu`` the previous ``u`` (USD-M futures);
5. on any break: clear the book, buffer, and resync from a new snapshot.

A level that does not parse (bad number, finer than the tick, a zero price, beyond
`MAX_UNITS`) cannot be applied partly, so it is handled as a break: the book is rebuilt
rather than left wrong. A size finer than the order lot is no such level: Binance
writes 8 decimals and real books hold them, so it is rounded up to the next lot
(`tradeactors.core.book`). So is a snapshot or diff that leaves the book crossed (best
bid at or above best ask): it is never published.

Decoding never lets bad input through as anything but ``msgspec.DecodeError`` (the
public ``decode_*`` functions) or `FrameDroppedError` (the adapter): JSON nested too
deep for the decoder's recursion limit, numbers out of range (update ids and times are
non-negative 64-bit integers), text that is not UTF-8 are all malformed frames.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections import deque
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from tradeactors.core.book import MAX_UNITS, Level, OrderBook, book_instrument
from tradeactors.core.instrument import Instrument, LevelParser, ParseError
from tradeactors.core.messages import Side, TradeTick
from tradeactors.errors import FrameDroppedError
from tradeactors.venues.adapter import BookOutcome, EventKind, VenueEvent

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tradeactors.venues.capture import Frame

__all__ = [
    "ADAPTER",
    "BinanceBookSync",
    "BinanceMarketData",
    "BookTicker",
    "DepthSnapshot",
    "DepthSync",
    "DepthUpdate",
    "FrameKind",
    "ReplayReport",
    "SyncResult",
    "TickerCheck",
    "Trade",
    "decode_frame",
    "decode_snapshot",
    "replay",
    "url_symbol",
]

RawLevel = tuple[str, str]
Id = Annotated[int, msgspec.Meta(ge=0, le=MAX_UNITS)]
"""An update id or a time in ms: Binance's are non-negative 64-bit integers."""


class DepthUpdate(msgspec.Struct, frozen=True):
    """A ``depthUpdate`` diff: levels to set (size ``"0..."`` deletes)."""

    s: str  # symbol
    U: Id  # first update id in the event
    u: Id  # final update id in the event
    b: tuple[RawLevel, ...]
    a: tuple[RawLevel, ...]
    E: Id = 0  # event time, ms
    pu: Id | None = None  # futures: final update id of the previous event


class BookTicker(msgspec.Struct, frozen=True):
    """The venue's own best bid and ask after update ``u``."""

    u: Id
    s: str
    b: str
    B: str
    a: str
    A: str


class Trade(msgspec.Struct, frozen=True):
    """A ``trade`` or ``aggTrade`` event."""

    e: str
    s: str
    p: str
    q: str
    T: Id  # trade time, ms
    m: bool  # buyer is the maker


class DepthSnapshot(msgspec.Struct, frozen=True):
    """The REST ``/api/v3/depth`` answer."""

    lastUpdateId: Id  # noqa: N815
    bids: tuple[RawLevel, ...]
    asks: tuple[RawLevel, ...]


class _Envelope(msgspec.Struct, frozen=True):
    stream: str
    data: msgspec.Raw


class FrameKind(enum.Enum):
    """What a websocket frame turned out to be."""

    DEPTH = "depth"
    BOOK_TICKER = "book_ticker"
    TRADE = "trade"
    OTHER = "other"  # a known stream we do not use (klines)


_envelope = msgspec.json.Decoder(_Envelope)
_depth = msgspec.json.Decoder(DepthUpdate)
_ticker = msgspec.json.Decoder(BookTicker)
_trade = msgspec.json.Decoder(Trade)
_snapshot = msgspec.json.Decoder(DepthSnapshot)

Decoded = tuple[FrameKind, DepthUpdate | BookTicker | Trade | None]

TOO_DEEP = "JSON nested too deeply"
"""The message of the ``msgspec.DecodeError`` for JSON deeper than the decoder recurses."""


def decode_frame(frame: bytes | str) -> Decoded:
    """Decode a combined-stream frame (``{"stream": ..., "data": ...}``).

    Raises:
        msgspec.DecodeError: malformed JSON (also: nested too deeply, not UTF-8), or a
            known stream with a bad payload (``msgspec.ValidationError`` is a subclass).
        ValueError: an unknown stream.

    """
    try:
        return _decode_frame(frame)
    except RecursionError:
        raise msgspec.DecodeError(TOO_DEEP) from None
    except UnicodeError as exc:  # a str with lone surrogates: no UTF-8 to decode
        raise msgspec.DecodeError(f"not UTF-8: {str(exc)[:100]}") from None


def _decode_frame(frame: bytes | str) -> Decoded:
    """`decode_frame`, letting `RecursionError` and `UnicodeError` through."""
    envelope = _envelope.decode(frame)
    stream = envelope.stream
    _, _, kind = stream.partition("@")
    if kind.startswith("depth"):
        depth = _depth.decode(envelope.data)
        if depth.U > depth.u:  # noqa: SIM300 - reads as the venue's rule
            raise msgspec.ValidationError(f"first update id {depth.U} after the last {depth.u}")
        return FrameKind.DEPTH, depth
    if kind == "bookTicker":
        return FrameKind.BOOK_TICKER, _ticker.decode(envelope.data)
    if kind in ("trade", "aggTrade"):
        return FrameKind.TRADE, _trade.decode(envelope.data)
    if kind.startswith("kline"):
        return FrameKind.OTHER, None
    raise ValueError(f"unknown stream {stream[:100]!r}")


def decode_snapshot(body: bytes | str) -> DepthSnapshot:
    """Decode a REST depth snapshot.

    Raises:
        msgspec.DecodeError: malformed JSON (also: nested too deeply, not UTF-8), or not
            a depth snapshot (``msgspec.ValidationError`` is a subclass).

    """
    try:
        return _snapshot.decode(body)
    except RecursionError:
        raise msgspec.DecodeError(TOO_DEEP) from None
    except UnicodeError as exc:
        raise msgspec.DecodeError(f"not UTF-8: {str(exc)[:100]}") from None


class SyncResult(enum.Enum):
    """What `DepthSync` did with an event or snapshot."""

    APPLIED = "applied"
    BUFFERED = "buffered"  # waiting for a snapshot
    STALE = "stale"  # already covered by the snapshot (u <= lastUpdateId): dropped
    GAP = "gap"  # continuity broke: book cleared, a new snapshot is needed
    BAD_LEVEL = "bad_level"  # a level did not parse: book cleared, new snapshot needed
    CROSSED = "crossed"  # the result was crossed (bid >= ask): cleared, new snapshot needed
    SYNCED = "synced"  # snapshot applied, buffered events replayed
    SNAPSHOT_TOO_OLD = "snapshot_too_old"  # buffered events start after it: get another


class DepthSync:
    """One symbol's local book, kept in sync with Binance's diff stream.

    ``mode="spot"`` checks ``U == previous u + 1``; ``mode="futures"`` checks
    ``pu == previous u`` (USD-M futures). `needs_snapshot` says when to fetch one.
    """

    def __init__(
        self,
        instrument: Instrument,
        *,
        mode: Literal["spot", "futures"] = "spot",
        max_buffer: int = 10_000,
    ) -> None:
        self.instrument = instrument
        self.book = OrderBook(instrument)
        self._units = book_instrument(instrument)  # refuses zero prices, > MAX_UNITS
        self._level = LevelParser(self._units).level
        self.mode = mode
        self.synced = False
        self._buffer: deque[DepthUpdate] = deque(maxlen=max_buffer)
        self._last_u = 0
        self._first_after_snapshot = False

    @property
    def needs_snapshot(self) -> bool:
        """True until a snapshot has been applied (and after every break)."""
        return not self.synced

    def on_diff(self, diff: DepthUpdate) -> SyncResult:
        """Apply, buffer or drop ``diff``; GAP/BAD_LEVEL/CROSSED mean: fetch a new snapshot."""
        if not self.synced:
            self._buffer.append(diff)
            return SyncResult.BUFFERED
        if diff.u < self._last_u or (diff.u == self._last_u and not self._may_end_at_last()):
            return SyncResult.STALE
        if not self._in_sequence(diff):
            return self._break(diff, SyncResult.GAP)
        return self._apply(diff)

    def on_snapshot(self, snapshot: DepthSnapshot) -> SyncResult:
        """Apply ``snapshot`` and replay the buffered diffs it does not cover.

        BAD_LEVEL or CROSSED (nothing applied, a new snapshot is needed) if a level does
        not parse or the snapshot is crossed, or if a buffered diff after it does or
        leaves the book so.
        """
        last = snapshot.lastUpdateId
        # spot drops u <= lastUpdateId and wants U <= lastUpdateId + 1 <= u first;
        # futures drops u < lastUpdateId and wants U <= lastUpdateId <= u first.
        edge = last + 1 if self.mode == "spot" else last
        pending = [d for d in self._buffer if d.u >= edge]
        if pending and edge < pending[0].U:
            return SyncResult.SNAPSHOT_TOO_OLD  # keep buffering; fetch a newer one
        try:
            # not through the memo: a deep snapshot would only evict the hot strings
            price, size = self._units.price, self._units.size
            bids = [(price(p), size(q)) for p, q in snapshot.bids]
            asks = [(price(p), size(q)) for p, q in snapshot.asks]
        except ParseError:
            self._buffer.clear()
            return SyncResult.BAD_LEVEL
        self.book.apply_snapshot(bids, asks, last)
        if self.book.crossed():
            self.book.clear()
            self._buffer.clear()
            return SyncResult.CROSSED
        self._buffer.clear()
        self._last_u = last
        self._first_after_snapshot = True
        self.synced = True
        for index, diff in enumerate(pending):
            result = self.on_diff(diff)
            if result is SyncResult.GAP:
                # the gapping diff is buffered by _break; keep the ones after it too, so
                # the next snapshot can use them
                self._buffer.extend(pending[index + 1 :])
                return result
            if result is SyncResult.BAD_LEVEL or result is SyncResult.CROSSED:
                return result
        return SyncResult.SYNCED

    def _may_end_at_last(self) -> bool:
        # Only futures' first event after a snapshot may end at lastUpdateId itself.
        return self.mode == "futures" and self._first_after_snapshot

    def _in_sequence(self, diff: DepthUpdate) -> bool:
        spot = self.mode == "spot"
        if self._first_after_snapshot:
            edge = self._last_u + 1 if spot else self._last_u
            return diff.U <= edge <= diff.u
        if spot:
            return diff.U == self._last_u + 1  # noqa: SIM300 - reads as the venue's rule
        return diff.pu == self._last_u

    def _apply(self, diff: DepthUpdate) -> SyncResult:
        level = self._level
        try:
            bids = [level(p, q) for p, q in diff.b]
            asks = [level(p, q) for p, q in diff.a]
        except ParseError:
            return self._break(diff, SyncResult.BAD_LEVEL)
        book = self.book
        book.apply_levels(bids, asks, diff.u)
        if book.crossed():
            return self._break(diff, SyncResult.CROSSED)
        self._last_u = diff.u
        self._first_after_snapshot = False
        return SyncResult.APPLIED

    def _break(self, diff: DepthUpdate, result: SyncResult) -> SyncResult:
        self.synced = False
        self.book.clear()
        self._buffer.clear()
        if result is SyncResult.GAP:
            self._buffer.append(diff)  # it may be the first event after the next snapshot
        return result


class ReplayReport(msgspec.Struct, kw_only=True):
    """What a replay of one symbol's recorded stream found."""

    symbol: str
    diffs: int = 0
    applied: int = 0
    stale: int = 0
    buffered: int = 0
    gaps: int = 0
    bad_levels: int = 0
    crossed: int = 0
    snapshots: int = 0
    synced: bool = False
    tickers_compared: int = 0
    ticker_mismatches: int = 0
    """Diffs after which the book's top differed from the latest covered bookTicker."""
    ticker_persistent_mismatches: int = 0
    """Mismatches that were still there after the next diff too: real book errors."""

    @property
    def unhandled_gap(self) -> bool:
        """A break with no later snapshot to recover from."""
        return not self.synced and (self.gaps + self.bad_levels + self.crossed) > 0

    @property
    def ok(self) -> bool:
        """Synced, no unhandled gap, no persistent disagreement with the venue's ticker."""
        return self.synced and not self.ticker_persistent_mismatches


class TickerCheck:
    """Compares a book's top with the venue's ``bookTicker``s, after the fact.

    Record the book's top after every applied diff (`record`) and every ticker
    (`add_ticker`), in any order; `tally` then compares each recorded top with the
    latest ticker whose ``u`` is at most that top's update id (the rule in
    ``shared/data/README.md``: diffs are aggregated, so exact ``u`` matches are rare,
    and a ticker may arrive after the diff it covers). A mismatch still there at the
    next diff is a real book error (``persistent``).
    """

    def __init__(self, instrument: Instrument) -> None:
        self._instrument = book_instrument(instrument)  # sizes rounded as the book's are
        self._tickers: list[tuple[int, tuple[Level, Level]]] = []
        self._tops: list[tuple[int, Level | None, Level | None]] = []
        self.bad_tickers = 0

    def add_ticker(self, ticker: BookTicker) -> None:
        """Keep ``ticker`` for the comparison; one that does not parse is counted and dropped."""
        price, size = self._instrument.price, self._instrument.size
        try:
            top = ((price(ticker.b), size(ticker.B)), (price(ticker.a), size(ticker.A)))
        except ParseError:
            self.bad_tickers += 1
            return
        self._tickers.append((ticker.u, top))

    def record(self, book: OrderBook) -> None:
        """Keep the book's current top and update id."""
        self._tops.append((book.update_id, book.best_bid(), book.best_ask()))

    def resynced(self) -> None:
        """The book was rebuilt: a mismatch before and one after are not one persistent error."""
        self._tops.append((-1, None, None))

    def tally(self) -> tuple[int, int, int]:
        """``(compared, mismatches, persistent mismatches)`` over everything recorded."""
        tickers = sorted(self._tickers, key=lambda t: t[0])
        ids = [u for u, _ in tickers]
        compared = mismatches = persistent = 0
        before = False
        for update_id, bid, ask in self._tops:
            index = bisect_right(ids, update_id) - 1 if update_id >= 0 else -1
            if index < 0:  # nothing to compare with, or a resync: the streak ends
                before = False
                continue
            compared += 1
            if (bid, ask) == tickers[index][1]:
                before = False
                continue
            mismatches += 1
            persistent += before
            before = True
        return compared, mismatches, persistent


def replay(frames: Iterable[Frame], instruments: dict[str, Instrument]) -> dict[str, ReplayReport]:
    """Run recorded frames through `DepthSync` per symbol, in process, and check the books.

    Each applied diff's resulting top is checked with `TickerCheck`. REST snapshots
    apply to the symbol in their URL (or to the only instrument).
    """
    syncs = {symbol: DepthSync(instrument) for symbol, instrument in instruments.items()}
    checks = {symbol: TickerCheck(instrument) for symbol, instrument in instruments.items()}
    reports = {symbol: ReplayReport(symbol=symbol) for symbol in instruments}
    only = next(iter(instruments)) if len(instruments) == 1 else None
    for frame in frames:
        if frame.source == "rest":
            symbol = url_symbol(frame.url) or only
            if symbol in syncs and syncs[symbol].needs_snapshot:
                reports[symbol].snapshots += 1
                result = syncs[symbol].on_snapshot(decode_snapshot(frame.payload))
                _count(reports[symbol], result, synced=syncs[symbol].synced)
            continue
        _, event = decode_frame(frame.payload)
        if isinstance(event, BookTicker) and event.s in checks:
            checks[event.s].add_ticker(event)
        if not isinstance(event, DepthUpdate) or event.s not in syncs:
            continue
        sync, report = syncs[event.s], reports[event.s]
        report.diffs += 1
        result = sync.on_diff(event)
        _count(report, result, synced=sync.synced)
        if result is SyncResult.APPLIED:
            checks[event.s].record(sync.book)
    for symbol, report in reports.items():
        compared, mismatches, persistent = checks[symbol].tally()
        report.tickers_compared = compared
        report.ticker_mismatches = mismatches
        report.ticker_persistent_mismatches = persistent
    return reports


def _count(report: ReplayReport, result: SyncResult, *, synced: bool) -> None:
    report.synced = synced
    if result is SyncResult.APPLIED:
        report.applied += 1
    elif result is SyncResult.STALE:
        report.stale += 1
    elif result is SyncResult.BUFFERED:
        report.buffered += 1
    elif result is SyncResult.GAP:
        report.gaps += 1
    elif result is SyncResult.BAD_LEVEL:
        report.bad_levels += 1
    elif result is SyncResult.CROSSED:
        report.crossed += 1


def url_symbol(url: str) -> str | None:
    """The ``symbol`` query parameter of a REST URL, if any."""
    _, _, query = url.partition("?")
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "symbol":
            return value
    return None


# -- the venue adapter (market data; order entry comes with the real-venues issue) ---------

_SYNC_OUTCOMES = {
    SyncResult.APPLIED: BookOutcome.APPLIED,
    SyncResult.SYNCED: BookOutcome.SYNCED,
    SyncResult.BUFFERED: BookOutcome.IGNORED,
    SyncResult.STALE: BookOutcome.IGNORED,
    SyncResult.GAP: BookOutcome.GAP,
    SyncResult.BAD_LEVEL: BookOutcome.BAD_LEVEL,
    SyncResult.CROSSED: BookOutcome.CROSSED,
    SyncResult.SNAPSHOT_TOO_OLD: BookOutcome.SNAPSHOT_TOO_OLD,
}


class BinanceBookSync:
    """`DepthSync` behind the adapter's `BookSync` protocol (diffs and REST snapshots)."""

    def __init__(self, instrument: Instrument, mode: Literal["spot", "futures"]) -> None:
        self._sync = DepthSync(instrument, mode=mode)
        self.book = self._sync.book
        self.updates = 0
        self.snapshots = 0
        self.checksums_matched = 0  # Binance sends no checksum

    @property
    def synced(self) -> bool:
        """The book follows the stream."""
        return self._sync.synced

    def on_event(self, data: Any) -> BookOutcome:
        """Apply a `DepthUpdate`, or a `DepthSnapshot` if one is needed."""
        if isinstance(data, DepthSnapshot):
            if not self._sync.needs_snapshot:
                return BookOutcome.IGNORED  # a second answer to one request
            self.snapshots += 1
            return _SYNC_OUTCOMES[self._sync.on_snapshot(data)]
        self.updates += 1
        return _SYNC_OUTCOMES[self._sync.on_diff(data)]


class BinanceMarketData:
    """Binance spot (and USD-M futures) market data: combined streams + REST snapshots."""

    def decode(self, frame: Frame) -> tuple[VenueEvent, ...]:
        """A snapshot (REST) or a diff, ticker or trade (websocket); klines are dropped.

        Raises:
            FrameDroppedError: ``malformed`` / ``malformed_snapshot`` (not JSON, not
                UTF-8, the wrong shape or types, an id out of range), ``too_deep`` (JSON
                nested beyond the decoder's recursion limit), ``unknown_stream``,
                ``unused_stream`` (klines). Nothing else, whatever the payload.

        """
        if frame.source == "rest":
            try:
                snapshot = _snapshot.decode(frame.payload)
            except RecursionError:
                raise FrameDroppedError("too_deep") from None
            except (msgspec.DecodeError, UnicodeError):
                raise FrameDroppedError("malformed_snapshot") from None
            return (VenueEvent(url_symbol(frame.url) or "", EventKind.BOOK, snapshot),)
        try:
            _kind, event = _decode_frame(frame.payload)
        except RecursionError:
            raise FrameDroppedError("too_deep") from None
        except (msgspec.DecodeError, UnicodeError):
            raise FrameDroppedError("malformed") from None
        except ValueError:
            raise FrameDroppedError("unknown_stream") from None
        if isinstance(event, DepthUpdate):
            return (VenueEvent(event.s, EventKind.BOOK, event),)
        if isinstance(event, BookTicker):
            return (VenueEvent(event.s, EventKind.TICKER, event),)
        if isinstance(event, Trade):
            return (VenueEvent(event.s, EventKind.TRADE, event),)
        raise FrameDroppedError("unused_stream")

    def subscribe_messages(self, symbols: Iterable[str]) -> tuple[str, ...]:  # noqa: ARG002
        """None: Binance's combined-stream URL names the streams."""
        return ()

    def snapshot_url(self, rest_base_url: str, symbol: str) -> str:
        """``/api/v3/depth`` with the deepest snapshot Binance serves."""
        return f"{rest_base_url.rstrip('/')}/api/v3/depth?symbol={symbol}&limit=1000"

    def book_sync(self, instrument: Instrument, *, mode: str, max_depth: int) -> BinanceBookSync:  # noqa: ARG002
        """A `DepthSync` (``mode`` ``spot`` or ``futures``); Binance books keep every level."""
        if mode not in ("spot", "futures"):
            raise ValueError(f"Binance book mode must be 'spot' or 'futures', not {mode!r}")
        return BinanceBookSync(instrument, "spot" if mode == "spot" else "futures")

    def ticker_verifier(self, instrument: Instrument) -> TickerCheck:
        """Books checked against ``bookTicker``."""
        return TickerCheck(instrument)

    def trade_tick(self, instrument: Instrument, data: Any) -> TradeTick:
        """A ``trade``/``aggTrade`` event in ticks and lots (``m``: the buyer made).

        Raises:
            ParseError: a price or quantity the instrument cannot hold, a price or
                quantity of 0 or beyond `MAX_UNITS`, a time beyond 64-bit nanoseconds.

        """
        trade: Trade = data
        price, quantity = instrument.price(trade.p), instrument.size(trade.q)
        if not (0 < price <= MAX_UNITS and 0 < quantity <= MAX_UNITS):
            raise ParseError(f"trade of {trade.q[:40]!r} at {trade.p[:40]!r}: not a trade")
        if trade.T > _MAX_MS:
            raise ParseError(f"trade time {trade.T} ms is beyond 64-bit nanoseconds")
        return TradeTick(
            instrument=instrument.symbol,
            price=price,
            quantity=quantity,
            side=Side.SELL if trade.m else Side.BUY,  # the taker's side
            timestamp_ns=trade.T * 1_000_000,
        )


_MAX_MS = MAX_UNITS // 1_000_000  # the latest time in ms whose ns fit 64 bits


class _BinanceAdapter:
    kind = "binance"
    market_data = BinanceMarketData()
    order_entry = None  # Binance order entry: the real-venues issue


ADAPTER = _BinanceAdapter()
"""Binance as a venue adapter: market data only, for now."""
