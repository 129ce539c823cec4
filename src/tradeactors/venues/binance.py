"""Binance spot: market data (decoders, local-book sync) and order entry (WebSocket API).

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

Order entry (`BinanceOrderEntry`, at the end of the module) is Binance's WebSocket API
with HMAC-signed requests, the user data stream on the same connection for execution
reports, and the instrument's filters from ``exchangeInfo`` (`symbol_rules`); its
section says which pages of Binance's documentation each rule comes from.
"""

from __future__ import annotations

import enum
import threading
from bisect import bisect_right
from collections import Counter, deque
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

import msgspec

from tradeactors.clock import SystemClock
from tradeactors.core.book import MAX_UNITS, Level, OrderBook, book_instrument
from tradeactors.core.instrument import (
    MAX_DIGITS,
    Instrument,
    LevelParser,
    ParseError,
    decimal_places,
    parse_units,
)
from tradeactors.core.messages import (
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Side,
    TradeTick,
    VenueOrder,
)
from tradeactors.core.ratelimit import RateKind, VenueRateLimit
from tradeactors.core.units import base_quote
from tradeactors.errors import FrameDroppedError
from tradeactors.venues.adapter import (
    BookOutcome,
    Credentials,
    EventKind,
    FillIds,
    InstrumentSource,
    Reply,
    Request,
    SessionEnded,
    VenueEvent,
    json_errors,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from tradeactors.clock import Clock
    from tradeactors.core.messages import AmendAtVenue, Message, SubmitOrder
    from tradeactors.venues.adapter import OrderEntry, RestRequest
    from tradeactors.venues.capture import Frame

__all__ = [
    "ADAPTER",
    "RECV_WINDOW_MAX_MS",
    "STOP_SENDING",
    "BinanceBookSync",
    "BinanceMarketData",
    "BinanceOrderEntry",
    "BookTicker",
    "DepthSnapshot",
    "DepthSync",
    "DepthUpdate",
    "ExecutionReport",
    "FrameKind",
    "RateLimit",
    "ReplayReport",
    "SymbolRules",
    "SyncResult",
    "TickerCheck",
    "Trade",
    "decode_frame",
    "decode_snapshot",
    "error_reason",
    "exchange_info_rate_limits",
    "instrument_from_exchange_info",
    "replay",
    "rest_query",
    "sign_rest",
    "signature_payload",
    "signed_request",
    "symbol_rules",
    "url_symbol",
    "venue_rate_limits",
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

"""The message of the ``msgspec.DecodeError`` for JSON deeper than the decoder recurses."""


def decode_frame(frame: bytes | str) -> Decoded:
    """Decode a combined-stream frame (``{"stream": ..., "data": ...}``).

    Raises:
        msgspec.DecodeError: malformed JSON (also: nested too deeply, not UTF-8), or a
            known stream with a bad payload (``msgspec.ValidationError`` is a subclass).
        ValueError: an unknown stream.

    """
    with json_errors:
        return _decode_frame(frame)


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
    with json_errors:
        return _snapshot.decode(body)


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


# -- market data as the venue adapter's ---------------------------------------------------------

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

    def subscribe_messages(self, symbols: Iterable[str], *, depth: int = 10) -> tuple[str, ...]:  # noqa: ARG002
        """None: Binance's combined-stream URL names the streams."""
        return ()

    def resubscribe_messages(self, symbol: str, *, depth: int = 10) -> tuple[str, ...]:  # noqa: ARG002
        """None: Binance's snapshots come from REST (`snapshot_url`)."""
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


# -- order entry: Binance spot's WebSocket API ------------------------------------------------
#
# Everything below follows Binance's spot API documentation (the public repository
# binance/binance-spot-api-docs): web-socket-api.md for the request and response format,
# SIGNED requests and timing security, rate limits, the methods used (order.place,
# order.cancel, openOrders.cancelAll, openOrders.status, myTrades, time,
# userDataStream.subscribe.signature, exchangeInfo); user-data-stream.md for the events;
# errors.md for the codes; filters.md for the filters; rest-api.md for REST signing.

RECV_WINDOW_MAX_MS = 60_000
"""The largest ``recvWindow`` Binance takes (web-socket-api.md, "Timing security")."""

STOP_SENDING = frozenset({"banned"})
"""`Reply.error` values after which nothing may be sent to the venue: an IP ban (HTTP 418,
repeated rate-limit violations; bans grow from 2 minutes to 3 days for repeat offenders)
or a block by Binance's web application firewall (HTTP 403, also a rate-limit violation
or a security block). The gateway halts and never retries into it (`Gateway._banned`);
`BinanceOrderEntry.banned_until_ms` says when a ban ends."""

Param = str | int | bool
"""A request parameter's value: strings (decimals are strings), integers, booleans."""

_CLIENT_IDS_KEPT = 100_000  # order id -> client order id, for myTrades (see fills)
_ACCEPTED, _CLOSED = 1, 2  # what was said of an order id (`BinanceOrderEntry._said`)
_SENT_KEPT = 10_000  # request id -> what it was, until its reply (bounded if none comes)
_MAX_PLACES = 18  # decimal places of a filter value: Binance writes 8; more is malformed


def _text(value: Param) -> str:
    """A parameter as it is written in a signature payload (JSON's ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise TypeError(f"a request parameter is a str, int or bool, not {type(value).__name__}")


def signature_payload(params: Mapping[str, Param]) -> str:
    """What a signed WebSocket API request signs: ``name=value`` sorted by name, ``&``-joined.

    Every parameter but ``signature`` (``apiKey``, ``timestamp``, ``recvWindow`` and the
    request's own), sorted by name (code point order: Binance's names are ASCII), values
    as written in the request and not percent-encoded (web-socket-api.md, "SIGNED request
    example (HMAC)", step 1).
    """
    return "&".join(
        f"{name}={_text(params[name])}" for name in sorted(params) if name != "signature"
    )


def signed_request(
    request_id: int | str, method: str, params: Mapping[str, Param], credentials: Credentials
) -> str:
    """The frame of a SIGNED WebSocket API request: ``params`` plus ``apiKey`` and ``signature``.

    ``params`` must hold the ``timestamp`` (and ``recvWindow``, to change the venue's
    default of 5000 ms). The signature is the hex HMAC-SHA256 of `signature_payload`
    with the secret, or with an Ed25519 key its base64 Ed25519 signature ("SIGNED
    request example (Ed25519)"); the key never leaves ``credentials``.
    """
    signed: dict[str, Param] = {**params, "apiKey": credentials.api_key}
    payload = signature_payload(signed)
    signed["signature"] = (
        credentials.ed25519_b64(payload)
        if credentials.has_ed25519
        else credentials.hmac_sha256(payload)
    )
    return _encode({"id": request_id, "method": method, "params": signed}).decode()


def rest_query(params: Iterable[tuple[str, Param]]) -> str:
    """A REST query string, in the order given, percent-encoded as Binance signs it.

    REST signs the query string as sent (not sorted), with non-ASCII characters
    percent-encoded first (rest-api.md, "SIGNED Endpoint Examples", step 1).
    """
    return "&".join(
        f"{quote(name, safe='')}={quote(_text(value), safe='')}" for name, value in params
    )


def sign_rest(credentials: Credentials, query: str, body: str = "") -> str:
    """The ``signature`` of a REST request: hex HMAC-SHA256 of its query string then its body."""
    return credentials.hmac_sha256(query + body)


# The contract's reasons for Binance's codes (errors.md). Anything else is reported
# as the venue's own code ("-1121").
_CODE_REASONS = {
    -1003: "rate_limited",  # TOO_MANY_REQUESTS (with HTTP 418 it is a ban: see _STATUS)
    -1006: "status_unknown",  # UNEXPECTED_RESP: execution status unknown
    -1007: "status_unknown",  # TIMEOUT: the order may exist: the user data stream says
    -1013: "filter_failure",  # INVALID_MESSAGE: a filter (PRICE_FILTER, LOT_SIZE, ...)
    -1015: "rate_limited",  # TOO_MANY_ORDERS
    -1021: "timestamp_outside_recv_window",  # INVALID_TIMESTAMP: the clock offset is off
    -1022: "invalid_signature",
    -2010: "rejected",  # NEW_ORDER_REJECTED (refined by message below)
    -2011: "unknown_order",  # CANCEL_REJECTED: "Unknown order sent." (see below)
    -2013: "unknown_order",  # NO_SUCH_ORDER
    -2014: "invalid_api_key",  # BAD_API_KEY_FMT
    -2015: "invalid_api_key",  # REJECTED_MBX_KEY: key, IP or permissions
    -2035: "subscription_active",  # the user data stream is subscribed already
    -2038: "amend_rejected",  # ORDER_AMEND_REJECTED (refined by message below)
}
# -2038's messages with a reason of their own (errors.md; order.amend.keepPriority).
_AMEND_MESSAGES = {
    "Order amend (quantity increase) is not supported.": "amend_quantity_increase",
    "The requested action would change no state; rejecting": "amend_no_change",
    "Order amend is not supported for this symbol.": "amend_not_supported",
}
# -2010's messages that have a reason of their own in the contract (errors.md, "Messages
# for -1010, -2010, -2011 and -2038"); the simulated exchange uses the same names.
_REJECT_MESSAGES = {
    "Duplicate order sent.": "duplicate_client_order_id",
    "Order would immediately match and take.": "post_only_would_take",
    "Account has insufficient balance for requested action.": "insufficient_balance",
}
# -2011's messages that do not mean the order is gone: the cancel was refused, the order
# may still be working (it must not be closed as unknown).
_CANCEL_REFUSED_MESSAGES = frozenset(
    {
        "Order was not canceled due to cancel restrictions.",
        "This action is disabled on this account.",
        "This account may not place or cancel orders.",
        "Market is closed.",
    }
)
# HTTP statuses that decide the reason whatever the code (web-socket-api.md, "Status codes").
_STATUS = {403: "banned", 418: "banned", 429: "rate_limited"}


def error_reason(status: int, code: int, message: str) -> str:
    """The contract's reason for an error reply (``status``, Binance's ``code`` and ``msg``).

    HTTP 418 (an IP ban) and 403 (the firewall's block) are ``banned`` (`STOP_SENDING`),
    429 ``rate_limited``;
    a 5xx ``status_unknown`` (Binance: the request may have succeeded). Then by code:
    ``-1013`` ``filter_failure``, ``-1015`` ``rate_limited``, ``-1021``
    ``timestamp_outside_recv_window``, ``-2010`` ``rejected`` (``duplicate_client_order_id``,
    ``post_only_would_take`` or ``insufficient_balance`` by its message), ``-2011``
    ``unknown_order`` (``cancel_rejected`` when its message says the order is still
    there), ``-2013`` ``unknown_order``, ...; an unknown code is returned as it is.
    """
    by_status = _STATUS.get(status)
    if by_status is not None:
        return by_status
    if status >= 500:  # noqa: PLR2004 - HTTP's server errors
        return "status_unknown"
    if code == -2010:  # noqa: PLR2004 - Binance's code
        return _REJECT_MESSAGES.get(message, "rejected")
    if code == -2011 and message in _CANCEL_REFUSED_MESSAGES:  # noqa: PLR2004
        return "cancel_rejected"
    if code == -2038:  # noqa: PLR2004 - Binance's code
        return _AMEND_MESSAGES.get(message, "amend_rejected")
    return _CODE_REASONS.get(code, str(code))


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """One of the venue's rate limits as a reply reports it (its ``rateLimits``).

    ``count`` of ``limit`` used in the current ``interval_num`` x ``interval``
    (``REQUEST_WEIGHT`` per IP, ``ORDERS`` per account); -1 where not said.
    """

    kind: str = msgspec.field(name="rateLimitType")
    interval: str
    interval_num: int = msgspec.field(name="intervalNum")
    limit: int
    count: int = -1


ErrorCode = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31)]
Status = Annotated[int, msgspec.Meta(ge=100, le=599)]
TradeId = Annotated[int, msgspec.Meta(ge=-1, le=MAX_UNITS)]
"""A trade id, or -1 where there is none (an execution report that is not a trade)."""


class _Error(msgspec.Struct, frozen=True):
    code: ErrorCode
    msg: str = ""
    data: Any = None  # {"serverTime": ..., "retryAfter": ...} with a 418/429, or others


class _Frame(msgspec.Struct, frozen=True):
    """Any frame of the WebSocket API: a reply (``status``) or a pushed event (``event``)."""

    id: int | str | None = None
    status: Status | None = None
    result: Any = None
    error: _Error | None = None
    rate_limits: tuple[RateLimit, ...] = msgspec.field(name="rateLimits", default=())
    event: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    subscription_id: int | None = msgspec.field(name="subscriptionId", default=None)


class _EventHead(msgspec.Struct, frozen=True):
    e: str


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    """An ``executionReport`` of the user data stream: the fields we use, named in full."""

    symbol: str = msgspec.field(name="s")
    client_order_id: str = msgspec.field(name="c")
    side: Literal["BUY", "SELL"] = msgspec.field(name="S")
    execution_type: str = msgspec.field(name="x")
    order_status: str = msgspec.field(name="X")
    order_id: Id = msgspec.field(name="i")
    quantity: str = msgspec.field(name="q")
    price: msgspec.Raw = msgspec.field(name="p", default_factory=msgspec.Raw)  # REPLACED only
    cumulative_quantity: str = msgspec.field(name="z")
    last_quantity: str = msgspec.field(name="l")
    last_price: str = msgspec.field(name="L")
    trade_id: TradeId = msgspec.field(name="t", default=-1)
    commission: str = msgspec.field(name="n", default="0")
    commission_asset: str | None = msgspec.field(name="N", default=None)
    original_client_order_id: str = msgspec.field(name="C", default="")
    reject_reason: str = msgspec.field(name="r", default="NONE")
    expiry_reason: str = msgspec.field(name="eR", default="")
    event_time: Id = msgspec.field(name="E", default=0)

    @property
    def ours(self) -> str:
        """Our client order id: on a cancel, ``c`` is the cancel's own id and ``C`` ours."""
        return self.original_client_order_id or self.client_order_id


class _AccountTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One of ``myTrades``' trades."""

    symbol: str
    id: Id
    order_id: Id = msgspec.field(name="orderId")
    price: str
    qty: str
    commission: str = "0"
    commission_asset: str = msgspec.field(name="commissionAsset", default="")
    is_buyer: bool = msgspec.field(name="isBuyer")
    time: Id = 0  # ms


class _OpenOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One of ``openOrders.status``' orders."""

    symbol: str
    order_id: Id = msgspec.field(name="orderId")
    client_order_id: str = msgspec.field(name="clientOrderId")
    side: Literal["BUY", "SELL"]
    price: str
    orig_qty: str = msgspec.field(name="origQty")
    executed_qty: str = msgspec.field(name="executedQty")


class _Placed(msgspec.Struct, frozen=True):
    """An ``order.place`` reply (any ``newOrderRespType``): the ids (and RESULT's status)."""

    orderId: Id  # noqa: N815 - Binance's name
    clientOrderId: str  # noqa: N815
    status: str = ""  # RESULT and FULL only (the codec asks for ACK)


class _ServerTime(msgspec.Struct, frozen=True):
    serverTime: Id  # noqa: N815 - Binance's name


class _Subscribed(msgspec.Struct, frozen=True):
    subscriptionId: int  # noqa: N815 - Binance's name


_frame = msgspec.json.Decoder(_Frame)
_event_head = msgspec.json.Decoder(_EventHead)
_execution_report = msgspec.json.Decoder(ExecutionReport)
_price_text = msgspec.json.Decoder(str)
_encode = msgspec.json.Encoder().encode
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_BINANCE_SIDES = {Side.BUY: "BUY", Side.SELL: "SELL"}
_TIME_IN_FORCE = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK"}
# Events of the user data stream with nothing for the order manager (user-data-stream.md).
_OTHER_EVENTS = frozenset(
    {"outboundAccountPosition", "balanceUpdate", "listStatus", "externalLockUpdate"}
)
_EXPIRED_STATUSES = frozenset({"EXPIRED", "EXPIRED_IN_MATCH"})
_CLOSED_STATUSES = frozenset({"FILLED", "CANCELED", "REJECTED", *_EXPIRED_STATUSES})


class BinanceOrderEntry:
    """Binance spot order entry over the WebSocket API, for one gateway (venue, instruments).

    **Several symbols**: ``instrument`` is one `Instrument` or several by symbol; orders,
    reports, open orders and trades are read in their own symbol's tick and lot.
    CANCEL_ALL and FILLS are per symbol on Binance (``openOrders.cancelAll`` and
    ``myTrades`` require ``symbol``): with several symbols they are one request per
    symbol, with ids ``"{id}.{n}"``, answered to the gateway as one `Reply` (their
    results joined, or the first error) once every part is in. OPEN_ORDERS is one
    ``openOrders.status`` without ``symbol`` (every symbol, weight 80). A fill's
    execution id is then ``"{symbol}:{trade id}"`` (trade ids are per symbol, so two
    symbols' would collide); with one symbol it stays the trade id.

    **No venue-side protection.** Binance spot has neither a dead-man's switch nor
    cancel-on-disconnect: orders stay on the book when the connection drops or the
    process dies. What protects the user is the gateway's cancel-all on every
    (re)connect and the kill switch; a user must know that an outage of this process
    leaves its orders working until it comes back.

    **Logon** (`logon`) is ``userDataStream.subscribe.signature``: a signed request that
    checks the key and its signature (a bad key or signature is refused: ``-2015``,
    ``-1022``) and subscribes this connection to the account's user data stream, so
    execution reports arrive on the connection the orders go out on. It works with
    every key type (Binance's changelog, 2025: "doesn't require an Ed25519 API key").
    The credentials given to `logon` sign every later request (the secret stays in
    `Credentials`). ``cancel_on_disconnect`` is ignored: Binance has none.

    **With an Ed25519 key** (`Credentials.from_key_file`) the logon is ``session.logon``
    instead ("Session Authentication": ``apiKey``, ``timestamp``, ``recvWindow``, and the
    base64 Ed25519 signature of their `signature_payload`), then `after_logon` is
    ``userDataStream.subscribe`` (unsigned: the session is authenticated), and every
    later request carries its ``timestamp`` and ``recvWindow`` but no ``apiKey`` nor
    ``signature`` (web-socket-api.md: "you can omit apiKey and signature parameters for
    future requests"; "You still have to specify the timestamp parameter").

    **Requests**: PLACE ``order.place`` (``LIMIT`` with ``timeInForce`` GTC/IOC/FOK, or
    ``LIMIT_MAKER`` for post-only, which rests until cancelled; ``newClientOrderId`` is
    our client order id; ``newOrderRespType=ACK``: the execution report says the rest),
    CANCEL ``order.cancel`` (by ``orderId`` when known, Binance's fastest, else by
    ``origClientOrderId``), CANCEL_ALL ``openOrders.cancelAll`` (its ``-2011`` when
    nothing is open is answered as nothing cancelled), OPEN_ORDERS ``openOrders.status``,
    FILLS ``myTrades``, HEARTBEAT ``time``. All are for the gateway's symbols only.

    **Fills** are identified by Binance's trade id (``t``), which is per symbol and
    shared by every account: our fills' ids have gaps that lose nothing, so fill ids
    are `FillIds.UNIQUE` (exactly-once by id; gaps cannot be detected). FILLS ``since``
    is a trade id: ``fromId = since + 1``; with ``since`` 0 (what the order manager asks
    of a venue with unique ids) the most recent ``fills_limit`` trades (at most 1000),
    of which `fills` keeps those since the first logon (`fills_since_ms`).

    **Heartbeat**: there is no dead-man's switch to refresh, so HEARTBEAT is ``time``
    (weight 1): a cheap request whose answer shows the venue is alive and, as a bonus,
    re-measures the clock offset. (``timeout`` is ignored.)

    **Clock**: signed requests carry ``timestamp`` = the local wall clock + the offset
    to the server's clock, and ``recvWindow``; a request whose timestamp is more than
    ``recvWindow`` behind or 1 s ahead of the server's clock is refused (``-1021``).
    The offset is measured from every reply to a ``time`` request the codec wrote
    (`encode_time`, HEARTBEAT): server time minus the midpoint of send and receive. Send
    `encode_time` first on every connection, before the logon, so the first signed
    request is already on the server's clock; or set it with `set_clock_offset` /
    `observe_server_time` (from REST ``/api/v3/time``).

    **Replies**: `decode` turns ``{"id", "status", "result" | "error", "rateLimits"}``
    into a `Reply` whose ``error`` is `error_reason` (``message``: the code and Binance's
    text); the latest ``rateLimits`` are `rate_limits`; a ban sets `banned_until_ms`
    (see `STOP_SENDING`). Pushed events become the contract's events: ``executionReport``
    NEW -> `OrderAccepted`, TRADE -> `OrderFilled` (execution id ``t``, price ``L``,
    quantity ``l``, remaining ``q - z``), CANCELED -> `OrderCanceled`, EXPIRED (and
    self-trade prevention's) -> `OrderCanceled` with ``expired``, REJECTED ->
    `OrderRejected`; reports of other symbols and the account's other events are
    counted in `ignored` and give None.

    **Acknowledgement**: ``order.place``'s success (its ``orderId``) is the order's
    `OrderAccepted` when no report of that order came before it, so that an order whose
    NEW report is lost or unreadable is still known taken (and can be cancelled in the
    same session); the NEW report that follows says nothing more. A report that closed
    the order first (an IOC's trades or expiry) leaves the reply silent: an acceptance
    after its end would make the order manager cancel an order that is no longer there.
    (A ``LIMIT_MAKER`` that would take is refused by the reply itself, ``-2010``: no
    report, no acceptance.) Both are decoded in the order the venue sent them, on the
    reader's thread; the decision is per order id (``order.cancelReplace`` reuses our
    client order id for a new order id).

    Thread-safety: `encode` runs on the gateway's thread and `decode` on its reader's;
    what they share (the requests awaiting replies, the clock offset, the ids learnt)
    is guarded by a lock.

    **Amends** (AMEND): a lower quantity at the same price is
    ``order.amend.keepPriority`` (``newQty``: the new total; the order keeps its id and
    its place; the report is ``executionReport`` REPLACED -> `OrderAmended`); anything
    else (a new price, a higher quantity) is ``order.cancelReplace`` with
    ``cancelReplaceMode=STOP_ON_FAILURE`` by ``cancelOrderId``: the old order's CANCELED
    report, then the new order's NEW (a new order id) with our client order id again as
    ``newClientOrderId`` (Binance lets a cancelled order's id be reused), for what is
    left to fill. Both keep our client order id (``newClientOrderId``), so every report
    names the order as before. Its errors: ``-2022`` (the cancel failed: nothing
    changed; the reason is the cancel's, e.g. ``unknown_order``), ``-2021`` (the cancel
    worked, the new order failed: the reply's ``result`` is ``{"canceled": true}``, so
    the order manager closes the order), ``-2038`` (keepPriority refused:
    ``amend_quantity_increase``, ``amend_no_change``...).
    """

    fill_ids = FillIds.UNIQUE
    has_dead_man_switch = False
    has_cancel_on_disconnect = False
    amend_increases = True  # by order.cancelReplace (the queue place is lost)

    def __init__(
        self,
        venue: str,
        instrument: Instrument | Mapping[str, Instrument],
        *,
        clock: Clock | None = None,
        recv_window_ms: int = 5000,
        fills_limit: int = 1000,
        quote_asset: str | Mapping[str, str] = "",
    ) -> None:
        if not 0 < recv_window_ms <= RECV_WINDOW_MAX_MS:
            raise ValueError(f"recv_window_ms must be in 1..{RECV_WINDOW_MAX_MS} (ms)")
        if not 0 < fills_limit <= 1000:  # noqa: PLR2004 - myTrades' maximum
            raise ValueError("fills_limit must be in 1..1000 (myTrades' maximum)")
        self._venue = venue
        self._instruments = (
            {instrument.symbol: instrument}
            if isinstance(instrument, Instrument)
            else dict(instrument)
        )
        if not self._instruments:
            raise ValueError("an order-entry codec needs at least one instrument")
        self._several = len(self._instruments) > 1
        self._only = next(iter(self._instruments.values()))
        self._clock: Clock = clock if clock is not None else SystemClock()  # wall time only
        self.recv_window_ms = recv_window_ms
        self.fills_limit = fills_limit
        # commissions in a symbol's quote asset become OrderFilled.fee_e4
        self._quote_assets = (
            dict.fromkeys(self._instruments, quote_asset)
            if isinstance(quote_asset, str)
            else {symbol: quote_asset.get(symbol, "") for symbol in self._instruments}
        )
        self._parts: dict[int, _Parts] = {}  # request id -> a request sent per symbol
        self._symbols: dict[str, str] = {}  # client order id -> symbol (several symbols)
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._offset_ms = 0
        self._sent: dict[int | str, tuple[str, int]] = {}  # request id -> (what, sent at ns)
        self._client_ids: dict[int, str] = {}  # order id -> our client order id
        self._said: dict[int, int] = {}  # order id -> _ACCEPTED | _CLOSED (see Acknowledgement)
        self.rate_limits: tuple[RateLimit, ...] = ()
        """The ``rateLimits`` of the latest reply that had them."""
        self.banned_until_ms = 0
        """When the venue's IP ban ends (its ``retryAfter``, ms); 0: never banned."""
        self.retry_after_ms = 0
        """The latest ``retryAfter`` of a 418 or 429 (ms since the epoch)."""
        self.subscription_id: int | None = None
        """The user data stream subscription of the current connection."""
        self.session_authenticated = False
        """The current connection logged on with ``session.logon`` (an Ed25519 key):
        requests go without ``apiKey`` and ``signature``."""
        self.ignored: Counter[str] = Counter()
        """Events that gave None, by kind (``outboundAccountPosition``, ``other_symbol``...)."""
        self.fills_since_ms: int | None = None
        """`fills` leaves out trades before this (ms, the server's clock): the first logon's
        time, unless set before it (0: none left out). Trades before the process started
        are not fills it missed: counting them would move its positions."""

    # -- the clock --------------------------------------------------------------------------

    @property
    def clock_offset_ms(self) -> int:
        """The server's clock minus the local wall clock, ms (added to every ``timestamp``)."""
        with self._lock:
            return self._offset_ms

    def set_clock_offset(self, offset_ms: int) -> None:
        """Set the offset to the server's clock (ms), measured elsewhere."""
        with self._lock:
            self._offset_ms = offset_ms

    def observe_server_time(self, server_time_ms: int, *, sent_ns: int, received_ns: int) -> int:
        """Set the offset from a server time asked at ``sent_ns`` and answered at ``received_ns``.

        Both are the local wall clock (``Clock.time_ns``); the server's time is taken to
        be at the midpoint, so the error is at most half the round trip. Returns the
        new offset (ms).
        """
        if received_ns < sent_ns:
            raise ValueError("the answer came before the question: not a round trip")
        offset = server_time_ms - (sent_ns + received_ns) // 2_000_000
        self.set_clock_offset(offset)
        return offset

    def timestamp_ms(self) -> int:
        """The ``timestamp`` of a request signed now: the local wall clock on the server's."""
        return self._clock.time_ns() // 1_000_000 + self.clock_offset_ms

    def encode_time(self, request_id: int) -> str:
        """``time``: its reply sets the clock offset (send it before the logon)."""
        self._note(request_id, "time")
        return _encode({"id": request_id, "method": "time"}).decode()

    def session_request(
        self,
        credentials: Credentials,  # noqa: ARG002 - the protocol's
        rest_url: str,  # noqa: ARG002
    ) -> RestRequest | None:
        """No REST call before connecting: every request is signed (`prelude`: the time)."""
        return None

    def prelude(self, request_id: int) -> str:
        """``time`` before every logon: the signed timestamps carry the server's clock."""
        return self.encode_time(request_id)

    # -- requests ---------------------------------------------------------------------------

    def logon(
        self,
        request_id: int,
        credentials: Credentials,
        *,
        cancel_on_disconnect: bool,  # noqa: ARG002 - Binance spot has none
    ) -> str:
        """``userDataStream.subscribe.signature``: check the key, subscribe to its reports.

        ``credentials`` sign every later request of this codec.
        """
        with self._lock:
            self._credentials = credentials
            self._sent.clear()  # a new connection: the old one's requests get no replies
        self.subscription_id = None
        self.session_authenticated = False
        if self.fills_since_ms is None:
            self.fills_since_ms = self.timestamp_ms()
        if credentials.has_ed25519:  # signed like any request; later ones need no signature
            frame = self._signed(request_id, "session_logon", "session.logon", {})
            self.session_authenticated = True
            return frame
        return self._signed(request_id, "logon", "userDataStream.subscribe.signature", {})

    def after_logon(self, request_id: int) -> str | None:
        """``userDataStream.subscribe`` after a ``session.logon``; None after the other logon.

        The gateway sends it right after the logon's reply, on every connection.
        """
        if not self.session_authenticated:
            return None
        self._note(request_id, "logon")  # its reply gives the subscription id
        return _encode({"id": request_id, "method": "userDataStream.subscribe"}).decode()

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols this codec trades, in the order given."""
        return tuple(self._instruments)

    def encode(  # noqa: C901, PLR0911 - one return per request
        self, request: Request, request_id: int, fields: dict[str, Any]
    ) -> str | tuple[str, ...]:
        """Any request but the logon (see the class doc for what each one is)."""
        if request is Request.PLACE:
            return self._signed(request_id, "place", "order.place", self._place(fields["order"]))
        if request is Request.CANCEL:
            order_id = fields.get("order_id") or 0
            params: dict[str, Param] = {"symbol": self._symbol_of(fields)}
            if isinstance(order_id, int) and order_id > 0:
                params["orderId"] = order_id
            else:
                params["origClientOrderId"] = fields["client_order_id"]
            return self._signed(request_id, "cancel", "order.cancel", params)
        if request is Request.CANCEL_ALL:
            return self._per_symbol(
                request_id, "cancel_all", "openOrders.cancelAll", lambda symbol: {"symbol": symbol}
            )
        if request is Request.OPEN_ORDERS:
            # without a symbol: every symbol's (weight 80); with one, that symbol's (6)
            params = {} if self._several else {"symbol": next(iter(self._instruments))}
            return self._signed(request_id, "open_orders", "openOrders.status", params)
        if request is Request.FILLS:
            since = int(fields.get("since", 0))

            def trades(symbol: str) -> dict[str, Param]:
                params: dict[str, Param] = {"symbol": symbol, "limit": self.fills_limit}
                if since > 0 and not self._several:  # trade ids are per symbol
                    params["fromId"] = since + 1  # fromId is inclusive; fills after `since`
                return params

            return self._per_symbol(request_id, "fills", "myTrades", trades)
        if request is Request.HEARTBEAT:
            return self.encode_time(request_id)
        if request is Request.AMEND:
            return self._amend(request_id, fields["amend"])
        raise ValueError(f"no such request for Binance: {request!r}")

    def _instrument(self, symbol: str) -> Instrument:
        """The instrument of ``symbol``; ValueError if this codec does not trade it.

        A codec of one instrument writes every order in it, whatever its symbol says
        (as before codecs had several).
        """
        instrument = self._instruments.get(symbol) if self._several else self._only
        if instrument is None:
            raise ValueError(f"symbol {symbol[:40]!r} is not one of this gateway's")
        return instrument

    def _symbol_of(self, fields: dict[str, Any]) -> str:
        """The symbol of a cancel: its order's (``instrument``), else the only one.

        Binance cancels by symbol and order id. With several symbols and no
        ``instrument``, the symbol learnt for the client order id (from the orders this
        codec placed, its reports and open orders). ValueError if none.
        """
        symbol = fields.get("instrument") or ""
        if not symbol and self._several:
            with self._lock:
                symbol = self._symbols.get(str(fields.get("client_order_id", "")), "")
        if symbol:
            return self._instrument(str(symbol)).symbol
        if self._several:
            raise ValueError("a cancel at a venue of several symbols needs its order's symbol")
        return next(iter(self._instruments))

    def _per_symbol(
        self,
        request_id: int,
        what: str,
        method: str,
        params: Callable[[str], dict[str, Param]],
    ) -> str | tuple[str, ...]:
        """One request, or one per symbol (ids ``"{id}.{n}"``) answered as one `Reply`."""
        if not self._several:
            return self._signed(request_id, what, method, params(next(iter(self._instruments))))
        with self._lock:
            self._parts[request_id] = _Parts(what, len(self._instruments))
            while len(self._parts) > _SENT_KEPT:
                del self._parts[next(iter(self._parts))]
        return tuple(
            self._signed(f"{request_id}.{n}", what, method, params(symbol))
            for n, symbol in enumerate(self._instruments)
        )

    def _amend(self, request_id: int, amend: AmendAtVenue) -> str:
        instrument = self._instrument(amend.order.instrument)
        cid = amend.order.client_order_id
        if amend.keeps_priority:
            params: dict[str, Param] = {
                "symbol": instrument.symbol,
                "orderId": amend.order_id,
                "newClientOrderId": cid,  # keep ours (Binance would make one up)
                "newQty": instrument.format_size(amend.quantity),
            }
            return self._signed(request_id, "amend", "order.amend.keepPriority", params)
        order = msgspec.structs.replace(amend.order, price=amend.price, quantity=amend.remaining)
        params = {
            "symbol": instrument.symbol,
            "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrderId": amend.order_id,
            **self._place(order),
        }
        return self._signed(request_id, "replace", "order.cancelReplace", params)

    def _place(self, order: SubmitOrder) -> dict[str, Param]:
        instrument = self._instrument(order.instrument)
        if self._several:
            with self._lock:
                self._learn_symbol(order.client_order_id, instrument.symbol)
        params: dict[str, Param] = {
            "symbol": instrument.symbol,
            "side": _BINANCE_SIDES[Side(order.side)],
            "type": "LIMIT_MAKER" if order.post_only else "LIMIT",
        }
        if not order.post_only:  # LIMIT_MAKER takes no timeInForce (-1114 TIF_NOT_REQUIRED)
            params["timeInForce"] = _TIME_IN_FORCE[str(order.tif)]
        params["price"] = instrument.format_price(order.price)
        params["quantity"] = instrument.format_size(order.quantity)
        params["newClientOrderId"] = order.client_order_id
        params["newOrderRespType"] = "ACK"
        return params

    def _signed(
        self, request_id: int | str, what: str, method: str, params: dict[str, Param]
    ) -> str:
        with self._lock:
            credentials = self._credentials
        if credentials is None:
            raise RuntimeError("log on first: Binance signs every request with the logon's key")
        self._note(request_id, what)
        params["timestamp"] = self.timestamp_ms()
        params["recvWindow"] = self.recv_window_ms
        if self.session_authenticated:  # after session.logon: the timestamp, no signature
            return _encode({"id": request_id, "method": method, "params": params}).decode()
        return signed_request(request_id, method, params, credentials)

    def _note(self, request_id: int | str, what: str) -> None:
        now = self._clock.time_ns()
        with self._lock:
            sent = self._sent
            sent.pop(request_id, None)  # re-inserted last: the oldest go first
            sent[request_id] = (what, now)
            while len(sent) > _SENT_KEPT:
                del sent[next(iter(sent))]

    # -- what comes back --------------------------------------------------------------------

    def decode(
        self, payload: str | bytes
    ) -> Reply | Message | SessionEnded | tuple[OrderAccepted, Reply] | None:
        """A reply (by ``id``), or a pushed event as a contract event (None: nothing for us).

        A place's success that acknowledges the order is two items: the `OrderAccepted`,
        then the `Reply` (see the class doc).

        Raises:
            msgspec.DecodeError: not JSON (also: nested too deeply, not UTF-8), or the
                wrong shape or types (``msgspec.ValidationError`` is a subclass).
            ValueError: an unknown event or execution type, or a price or quantity the
                instrument cannot hold (`ParseError`).

        """
        with json_errors:
            frame = _frame.decode(payload)
            if frame.event:
                return self._event(frame.event)
        if frame.status is None:
            raise ValueError("neither a reply (status) nor an event")
        return self._reply(frame, frame.status)

    def _reply(  # noqa: PLR0911 - one return per way a reply ends
        self, frame: _Frame, status: int
    ) -> Reply | tuple[OrderAccepted, Reply] | None:
        if frame.rate_limits:
            self.rate_limits = frame.rate_limits
        request_id = frame.id
        if isinstance(request_id, str):
            return self._part(frame, request_id, status)
        if not isinstance(request_id, int) or not 0 <= request_id <= MAX_UNITS:
            return None  # not one of our requests (the gateway's ids are integers)
        received_ns = self._clock.time_ns()
        with self._lock:
            what, sent_ns = self._sent.pop(request_id, ("", 0))
        error = frame.error
        if error is None:
            if status >= 300:  # noqa: PLR2004 - HTTP: not a success, and no error said
                return Reply(request_id, error=error_reason(status, 0, ""), message=str(status))
            accepted = self._learn(what, frame.result, sent_ns, received_ns)
            reply = Reply(request_id, result=frame.result)
            return reply if accepted is None else (accepted, reply)
        if what == "cancel_all" and error.code == -2011:  # noqa: PLR2004
            return Reply(request_id, result=[])  # nothing was open: nothing cancelled
        if what == "replace" and error.code in (-2021, -2022):
            return _replace_failed(request_id, error)
        reason = error_reason(status, error.code, error.msg)
        message = f"{error.code} {error.msg[:200]}"
        retry_after = _retry_after(error.data)
        if retry_after:
            self.retry_after_ms = retry_after
            message += f" (retry after {retry_after} ms since the epoch)"
        if reason == "banned":
            self.banned_until_ms = max(self.banned_until_ms, retry_after)
            message += f": HTTP {status}, banned: stop sending"
        wait = max(0.0, (retry_after - self.timestamp_ms()) / 1000) if retry_after else 0.0
        return Reply(request_id, error=reason, message=message, retry_after=wait)

    def _part(self, frame: _Frame, part_id: str, status: int) -> Reply | None:
        """A reply to one symbol's part of a request (`_per_symbol`): the whole, once all in."""
        head, _, _ = part_id.partition(".")
        if not (head.isascii() and head.isdigit()) or len(head) > len(str(MAX_UNITS)):
            return None  # not one of ours
        request_id = int(head)
        with self._lock:
            what, _ = self._sent.pop(part_id, ("", 0))
            parts = self._parts.get(request_id)
            if parts is None or not what:
                return None  # not ours, or its request was forgotten (a new connection)
            error = frame.error
            if error is None and status >= 300:  # noqa: PLR2004 - HTTP: not a success
                parts.error = parts.error or Reply(
                    request_id, error=error_reason(status, 0, ""), message=str(status)
                )
            elif error is not None and not (what == "cancel_all" and error.code == -2011):  # noqa: PLR2004
                message = f"{error.code} {error.msg[:200]}"
                parts.error = parts.error or Reply(
                    request_id, error=error_reason(status, error.code, error.msg), message=message
                )
            elif error is None and isinstance(frame.result, list):
                parts.results.extend(frame.result)  # -2011: nothing was open there
            parts.waiting -= 1
            if parts.waiting > 0:
                return None
            del self._parts[request_id]
        return parts.error or Reply(request_id, result=parts.results)

    def _learn(
        self, what: str, result: Any, sent_ns: int, received_ns: int
    ) -> OrderAccepted | None:
        """Take what a successful reply teaches: the clock offset, ids, the subscription.

        A place's: the order's acknowledgement, unless a report said more first.
        """
        if what == "time":
            server = msgspec.convert(result, _ServerTime)
            self.observe_server_time(server.serverTime, sent_ns=sent_ns, received_ns=received_ns)
        elif what == "logon":
            self.subscription_id = msgspec.convert(result, _Subscribed).subscriptionId
        elif what == "place":
            placed = msgspec.convert(result, _Placed)
            self._remember(placed.orderId, placed.clientOrderId)
            closed = placed.status in _CLOSED_STATUSES
            if self._say(placed.orderId, _CLOSED if closed else _ACCEPTED) or closed:
                return None
            return OrderAccepted(
                venue=self._venue, client_order_id=placed.clientOrderId, order_id=placed.orderId
            )
        elif what == "open_orders":
            for order in msgspec.convert(result, list[_OpenOrder]):
                if order.symbol in self._instruments:
                    self._remember(order.order_id, order.client_order_id, order.symbol)
        return None

    def _remember(self, order_id: int, client_order_id: str, symbol: str = "") -> None:
        with self._lock:
            ids = self._client_ids
            ids[order_id] = client_order_id
            if len(ids) > _CLIENT_IDS_KEPT:
                del ids[next(iter(ids))]
            if symbol and self._several:
                self._learn_symbol(client_order_id, symbol)

    def _learn_symbol(self, client_order_id: str, symbol: str) -> None:
        """Note ``client_order_id``'s symbol, for a cancel that does not say it (under lock)."""
        symbols = self._symbols
        symbols.pop(client_order_id, None)  # re-inserted last: the oldest go first
        symbols[client_order_id] = symbol
        if len(symbols) > _CLIENT_IDS_KEPT:
            del symbols[next(iter(symbols))]

    def _say(self, order_id: int, said: int) -> int:
        """Note ``said`` (`_ACCEPTED`, `_CLOSED`) of an order; what was said of it before."""
        with self._lock:
            before = self._said.pop(order_id, 0)  # re-inserted last: the oldest go first
            self._said[order_id] = before | said
            if len(self._said) > _CLIENT_IDS_KEPT:
                del self._said[next(iter(self._said))]
        return before

    def venue_rate_limits(self) -> tuple[VenueRateLimit, ...]:
        """The ``ORDERS`` and ``REQUEST_WEIGHT`` counts of the latest reply that had them.

        The gateway stops new orders while one nears its limit (`RateLimitReporter`).
        """
        return venue_rate_limits(self.rate_limits)

    def _client_id(self, order_id: int) -> str:
        with self._lock:
            return self._client_ids.get(order_id, "")

    def _event(self, raw: msgspec.Raw) -> Message | SessionEnded | None:
        kind = _event_head.decode(raw).e
        if kind == "executionReport":
            report = _execution_report.decode(raw)
            event = self._report(report)  # an unreadable report says nothing of its order
            if report.symbol in self._instruments:
                closes = report.order_status in _CLOSED_STATUSES
                said = self._say(report.order_id, _CLOSED if closes else _ACCEPTED)
                if said and isinstance(event, OrderAccepted):
                    return None  # the place's reply acknowledged it: nothing more to say
            return event
        if kind in _OTHER_EVENTS:
            self.ignored[kind] += 1
            return None
        if kind in ("serverShutdown", "eventStreamTerminated"):
            # the connection is about to close / the reports stopped: the gateway must
            # reconnect (it does on a SessionEnded, as on a closed connection)
            self.ignored[kind] += 1
            return SessionEnded(f"the venue said {kind}")
        raise ValueError(f"unknown event {kind[:40]!r}")

    def _report(  # noqa: C901, PLR0911 - one branch per execution type
        self, report: ExecutionReport
    ) -> Message | None:
        if report.symbol not in self._instruments:
            self.ignored["other_symbol"] += 1
            return None
        venue, kind = self._venue, report.execution_type
        ours = report.ours
        self._remember(report.order_id, ours, report.symbol)
        if kind == "NEW":
            return OrderAccepted(venue=venue, client_order_id=ours, order_id=report.order_id)
        if kind == "TRADE":
            return self._filled(report)
        if kind == "CANCELED":
            return self._canceled(report, "canceled", expired=False)
        if kind == "EXPIRED" or (
            kind == "TRADE_PREVENTION" and report.order_status in _EXPIRED_STATUSES
        ):
            reason = (report.expiry_reason or "expired").lower()
            if kind == "TRADE_PREVENTION":
                reason = "self_trade_prevention"
            return self._canceled(report, reason, expired=True)
        if kind == "REJECTED":
            reason = report.reject_reason
            return OrderRejected(
                venue=venue,
                client_order_id=ours,
                reason="rejected" if reason == "NONE" else reason.lower()[:60],
            )
        if kind == "REPLACED":  # order.amend.keepPriority: the same order, less of it
            instrument = self._instruments[report.symbol]
            size = instrument.size
            filled = size(report.cumulative_quantity)
            remaining = size(report.quantity) - filled
            if remaining < 0:
                raise ValueError("an execution report with more filled than ordered")
            return OrderAmended(
                venue=venue,
                client_order_id=ours,
                order_id=report.order_id,
                price=instrument.price(_price_text.decode(report.price or b'""')),
                remaining=remaining,
                filled=filled,
                kept_priority=True,
            )
        if kind == "TRADE_PREVENTION":
            # STP that decremented an order that is still working (its quantity shows
            # in the next report)
            self.ignored[kind.lower()] += 1
            return None
        raise ValueError(f"unknown execution type {kind[:40]!r}")

    def _canceled(self, report: ExecutionReport, reason: str, *, expired: bool) -> OrderCanceled:
        size = self._instruments[report.symbol].size
        remaining = size(report.quantity) - size(report.cumulative_quantity)
        if remaining < 0:
            raise ValueError("an execution report with more filled than ordered")
        return OrderCanceled(
            venue=self._venue,
            client_order_id=report.ours,
            order_id=report.order_id,
            reason=reason,
            remaining=remaining,
            expired=expired,
        )

    def _filled(self, report: ExecutionReport) -> OrderFilled:
        instrument = self._instruments[report.symbol]
        price, quantity = instrument.price(report.last_price), instrument.size(report.last_quantity)
        remaining = instrument.size(report.quantity) - instrument.size(report.cumulative_quantity)
        if report.trade_id < 0 or price <= 0 or quantity <= 0 or remaining < 0:
            raise ValueError("a trade report without a trade id, price or quantity, or overfilled")
        return OrderFilled(
            venue=self._venue,
            instrument=instrument.symbol,
            client_order_id=report.ours,
            order_id=report.order_id,
            execution_id=self._execution_id(instrument.symbol, report.trade_id),
            side=_SIDES[report.side],
            price=price,
            quantity=quantity,
            remaining=remaining,
            fee_e4=self._fee_e4(instrument, report.commission, report.commission_asset),
        )

    def _execution_id(self, symbol: str, trade_id: int) -> int | str:
        """A fill's id: the trade id; ``"{symbol}:{trade id}"`` with several symbols."""
        return f"{symbol}:{trade_id}" if self._several else trade_id

    @property
    def quote_asset(self) -> str:
        """The quote asset of the (first) symbol: commissions in it become fees."""
        return next(iter(self._quote_assets.values()))

    @quote_asset.setter
    def quote_asset(self, asset: str) -> None:
        self._quote_assets = dict.fromkeys(self._instruments, asset)

    def _fee_e4(self, instrument: Instrument, commission: str, asset: str | None) -> int:
        """A commission in the quote asset in units of tick x lot / 10_000 (else 0)."""
        quote_asset = self._quote_assets.get(instrument.symbol, "")
        if not quote_asset or asset != quote_asset:
            return 0  # in another asset (BNB, the base asset): no quote value to give
        if len(commission) > MAX_DIGITS + 2:
            raise ParseError(f"commission {commission[:40]!r}... is too long")
        places = decimal_places(commission)
        units = parse_units(commission, places)
        tick_places, tick = _steps(instrument.tick_size)
        lot_places, lot = _steps(instrument.lot_size)
        numerator: int = units * 10 ** (tick_places + lot_places) * 10_000
        denominator: int = 10**places * tick * lot
        return (2 * numerator + denominator) // (2 * denominator)  # rounded half up

    def fills(self, result: Any) -> tuple[OrderFilled, ...]:
        """The fills of a ``myTrades`` reply (other symbols' are left out).

        ``myTrades`` does not say the client order id: it is the one learnt for the
        order id from this connection's execution reports, ``order.place`` replies and
        open orders, else ``""``; nor the remaining quantity (``remaining`` is -1).
        Trades before `fills_since_ms` are left out too.
        """
        fills, since = [], self.fills_since_ms or 0
        for trade in msgspec.convert(result, list[_AccountTrade]):
            instrument = self._instruments.get(trade.symbol)
            if instrument is None or trade.time < since:
                continue
            price, quantity = instrument.price(trade.price), instrument.size(trade.qty)
            if price <= 0 or quantity <= 0:
                raise ValueError("a trade without a price or a quantity")
            fills.append(
                OrderFilled(
                    venue=self._venue,
                    instrument=instrument.symbol,
                    client_order_id=self._client_id(trade.order_id),
                    order_id=trade.order_id,
                    execution_id=self._execution_id(instrument.symbol, trade.id),
                    side=Side.BUY if trade.is_buyer else Side.SELL,
                    price=price,
                    quantity=quantity,
                    remaining=-1,
                    fee_e4=self._fee_e4(instrument, trade.commission, trade.commission_asset),
                )
            )
        return tuple(fills)

    def open_orders(self, result: Any) -> tuple[VenueOrder, ...]:
        """The orders of an ``openOrders.status`` reply (other symbols' are left out)."""
        orders = []
        for order in msgspec.convert(result, list[_OpenOrder]):
            instrument = self._instruments.get(order.symbol)
            if instrument is None:
                continue
            filled = instrument.size(order.executed_qty)
            remaining = instrument.size(order.orig_qty) - filled
            if remaining < 0:
                raise ValueError("an open order with more filled than ordered")
            orders.append(
                VenueOrder(
                    order_id=order.order_id,
                    client_order_id=order.client_order_id,
                    side=_SIDES[order.side],
                    price=instrument.price(order.price),
                    remaining=remaining,
                    filled=filled,
                )
            )
        return tuple(orders)

    def cancelled(self, result: Any) -> int:
        """How many orders ``openOrders.cancelAll`` cancelled (a list counts its orders)."""
        if not isinstance(result, list):
            return 0
        count = 0
        for entry in result:
            if isinstance(entry, dict):
                reports = entry.get("orderReports")
                count += len(reports) if isinstance(reports, list) else 1
        return count


class _Parts:
    """A request sent once per symbol: what it is, the parts still awaited, what came."""

    __slots__ = ("error", "results", "waiting", "what")

    def __init__(self, what: str, parts: int) -> None:
        self.what = what
        self.waiting = parts
        self.results: list[Any] = []
        self.error: Reply | None = None


class _ReplaceData(msgspec.Struct, frozen=True):
    """The ``data`` of an ``order.cancelReplace`` error (``-2021``, ``-2022``)."""

    cancelResult: str = ""  # noqa: N815 - Binance's names
    newOrderResult: str = ""  # noqa: N815
    cancelResponse: Any = None  # noqa: N815
    newOrderResponse: Any = None  # noqa: N815


def _replace_failed(request_id: int, error: _Error) -> Reply:
    """A failed ``order.cancelReplace`` (STOP_ON_FAILURE): why, and whether it cancelled.

    ``-2022``: the cancel failed, nothing was placed: the cancel's reason. ``-2021``:
    the cancel worked and the new order failed (the order is gone: ``{"canceled":
    true}``), or the other way round (not in STOP_ON_FAILURE): the failed part's reason.
    """
    try:
        data = msgspec.convert(error.data, _ReplaceData)
    except msgspec.ValidationError:
        data = _ReplaceData()
    canceled = data.cancelResult == "SUCCESS"
    failed = data.newOrderResponse if canceled else data.cancelResponse
    code, msg = error.code, error.msg
    if isinstance(failed, dict):
        inner_code, inner_msg = failed.get("code"), failed.get("msg")
        if isinstance(inner_code, int) and isinstance(inner_msg, str):
            code, msg = inner_code, inner_msg
    reason = error_reason(400, code, msg)
    message = f"{error.code} {error.msg[:100]}: {code} {msg[:100]}"
    return Reply(request_id, result={"canceled": canceled}, error=reason, message=message)


def _retry_after(data: Any) -> int:
    """The ``retryAfter`` (ms since the epoch) of an error's ``data``, or 0."""
    value = data.get("retryAfter") if isinstance(data, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_UNITS:
        return value
    return 0


def _steps(step: str) -> tuple[int, int]:
    """``(places, units)`` of a step such as ``"0.05"`` (5 units of ``10**-2``)."""
    places = decimal_places(step)
    return places, parse_units(step, places)


if TYPE_CHECKING:

    def _is_an_order_entry(venue: str, instrument: Instrument) -> OrderEntry:
        return BinanceOrderEntry(venue, instrument)  # mypy checks the protocol here


# -- instrument metadata from exchangeInfo ----------------------------------------------------


class _Filter(msgspec.Struct, frozen=True, kw_only=True):
    """A symbol filter (filters.md): the fields of PRICE_FILTER, LOT_SIZE, (MIN_)NOTIONAL."""

    filter_type: str = msgspec.field(name="filterType")
    min_price: str = msgspec.field(name="minPrice", default="")
    max_price: str = msgspec.field(name="maxPrice", default="")
    tick_size: str = msgspec.field(name="tickSize", default="")
    min_qty: str = msgspec.field(name="minQty", default="")
    max_qty: str = msgspec.field(name="maxQty", default="")
    step_size: str = msgspec.field(name="stepSize", default="")
    min_notional: str = msgspec.field(name="minNotional", default="")
    max_notional: str = msgspec.field(name="maxNotional", default="")


class _SymbolInfo(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    status: str = ""
    base_asset: str = msgspec.field(name="baseAsset", default="")
    quote_asset: str = msgspec.field(name="quoteAsset", default="")
    order_types: tuple[str, ...] = msgspec.field(name="orderTypes", default=())
    cancel_replace_allowed: bool = msgspec.field(name="cancelReplaceAllowed", default=False)
    amend_allowed: bool = msgspec.field(name="amendAllowed", default=False)
    filters: tuple[_Filter, ...] = ()


class _ExchangeInfo(msgspec.Struct, frozen=True):
    symbols: tuple[_SymbolInfo, ...] = ()


class _ExchangeInfoDocument(msgspec.Struct, frozen=True):
    """REST's ``/api/v3/exchangeInfo`` body, or the WebSocket API's reply (``result``)."""

    symbols: tuple[_SymbolInfo, ...] = ()
    result: _ExchangeInfo | None = None


class SymbolRules(msgspec.Struct, frozen=True, kw_only=True):
    """What ``exchangeInfo`` says of one symbol: its `Instrument`, and what it cannot hold.

    ``max_notional`` (NOTIONAL's, ``""`` for none), the trading ``status``
    (``TRADING``...), the ``order_types`` allowed (``LIMIT_MAKER`` is post-only), and
    whether amends are allowed, have no place in `Instrument` yet.
    """

    instrument: Instrument
    status: str
    base_asset: str
    quote_asset: str
    order_types: tuple[str, ...]
    max_notional: str
    cancel_replace_allowed: bool
    amend_allowed: bool


_WIRE_STEP = "0.00000001"  # Binance writes prices and quantities with 8 decimals


def symbol_rules(
    exchange_info: bytes | str | Mapping[str, Any], symbol: str, *, venue: str = "binance"
) -> SymbolRules:
    """``symbol``'s rules from an ``exchangeInfo`` answer (its JSON, or the decoded object).

    PRICE_FILTER gives the tick size and the minimum and maximum price, LOT_SIZE the lot
    size and the minimum and maximum quantity, NOTIONAL (or the older MIN_NOTIONAL; the
    larger if both) the minimum notional (filters.md). A value of 0 disables a rule at
    Binance: a limit is then ``""`` (the instrument's default) and a step Binance's wire
    precision, 8 decimals. Steps and limits are written without trailing zeros
    (``"0.01000000"`` -> ``"0.01"``): the venue's strings still parse (``Instrument``
    accepts zeros past the step), and a power-of-ten step keeps the book's fast path.

    Raises:
        msgspec.DecodeError: not JSON (also: nested too deeply, not UTF-8), or not the
            shape of ``exchangeInfo`` (``msgspec.ValidationError`` is a subclass).
        ValueError: ``symbol`` is not in it, or a filter value is not a plain decimal
            (`ParseError`).

    """
    with json_errors:
        if isinstance(exchange_info, bytes | str):
            document = msgspec.json.decode(exchange_info, type=_ExchangeInfoDocument)
        else:
            document = msgspec.convert(exchange_info, _ExchangeInfoDocument)
    symbols = document.result.symbols if document.result is not None else document.symbols
    info = next((s for s in symbols if s.symbol == symbol), None)
    if info is None:
        raise ValueError(f"{symbol[:40]!r} is not in the exchangeInfo")
    filters = {f.filter_type: f for f in info.filters}
    price = filters.get("PRICE_FILTER", _Filter(filter_type="PRICE_FILTER"))
    lot = filters.get("LOT_SIZE", _Filter(filter_type="LOT_SIZE"))
    notional = filters.get("NOTIONAL", _Filter(filter_type="NOTIONAL"))
    old_notional = filters.get("MIN_NOTIONAL", _Filter(filter_type="MIN_NOTIONAL"))
    min_notional = max(
        (_plain(notional.min_notional), _plain(old_notional.min_notional)),
        key=lambda text: parse_units(text, _MAX_PLACES) if text else -1,
    )
    instrument = Instrument(
        venue=venue,
        symbol=symbol,
        tick_size=_plain(price.tick_size) or _WIRE_STEP,
        lot_size=_plain(lot.step_size) or _WIRE_STEP,
        min_price=_plain(price.min_price),
        max_price=_plain(price.max_price),
        min_quantity=_plain(lot.min_qty),
        max_quantity=_plain(lot.max_qty),
        min_notional=min_notional,
    )
    return SymbolRules(
        instrument=instrument,
        status=info.status,
        base_asset=info.base_asset,
        quote_asset=info.quote_asset,
        order_types=info.order_types,
        max_notional=_plain(notional.max_notional),
        cancel_replace_allowed=info.cancel_replace_allowed,
        amend_allowed=info.amend_allowed,
    )


def instrument_from_exchange_info(
    exchange_info: bytes | str | Mapping[str, Any], symbol: str, *, venue: str = "binance"
) -> Instrument:
    """``symbol``'s `Instrument` from an ``exchangeInfo`` answer (see `symbol_rules`)."""
    return symbol_rules(exchange_info, symbol, venue=venue).instrument


def _plain(text: str) -> str:
    """A filter value without trailing zeros (``"0.00100000"`` -> ``"0.001"``); 0 -> ``""``.

    Raises:
        ParseError: not a plain non-negative decimal, or more than 18 decimal places.

    """
    if not text:
        return ""
    places = decimal_places(text)
    if places > _MAX_PLACES:
        raise ParseError(f"filter value {text[:40]!r} has more than {_MAX_PLACES} decimals")
    if not parse_units(text, places):  # raises ParseError if malformed
        return ""  # 0 disables the rule
    whole, _, fraction = text.partition(".")
    whole, fraction = whole.lstrip("0") or "0", fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


# -- the venue adapter -------------------------------------------------------------------------


def _order_entry(
    venue: str, instrument: Instrument | Mapping[str, Instrument]
) -> BinanceOrderEntry:
    """The codec of one gateway: commissions in each symbol's quote asset become fees."""
    if isinstance(instrument, Instrument):
        return BinanceOrderEntry(venue, instrument, quote_asset=base_quote(instrument.symbol)[1])
    quotes = {symbol: base_quote(symbol)[1] for symbol in instrument}
    return BinanceOrderEntry(venue, instrument, quote_asset=quotes)


def _exchange_info_url(rest_url: str, symbol: str) -> str:
    return f"{rest_url.rstrip('/')}/api/v3/exchangeInfo?symbol={quote(symbol, safe='')}"


def _instrument(body: bytes, symbol: str, venue: str) -> Instrument:
    return instrument_from_exchange_info(body, symbol, venue=venue)


class _RateLimitsDocument(msgspec.Struct, frozen=True):
    """``exchangeInfo``'s ``rateLimits`` (REST body, or the WebSocket API's ``result``)."""

    rate_limits: tuple[RateLimit, ...] = msgspec.field(name="rateLimits", default=())
    result: _RateLimitsDocument | None = None


def exchange_info_rate_limits(exchange_info: bytes | str) -> tuple[VenueRateLimit, ...]:
    """The ``ORDERS`` and ``REQUEST_WEIGHT`` limits an ``exchangeInfo`` answer states.

    Others (``RAW_REQUESTS``, an unknown interval) are left out: the gateway keeps within
    what it can count.

    Raises:
        msgspec.DecodeError: not JSON, or ``rateLimits`` not of the documented shape.

    """
    with json_errors:
        document = msgspec.json.decode(exchange_info, type=_RateLimitsDocument)
    limits = document.result.rate_limits if document.result is not None else document.rate_limits
    return venue_rate_limits(limits)


_RATE_KINDS = {"ORDERS": RateKind.ORDERS, "REQUEST_WEIGHT": RateKind.REQUESTS}
_INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}


def venue_rate_limits(limits: Iterable[RateLimit]) -> tuple[VenueRateLimit, ...]:
    """Binance's ``rateLimits`` entries as venue rate limits (those the gateway counts)."""
    out = []
    for limit in limits:
        kind, seconds = _RATE_KINDS.get(limit.kind), _INTERVAL_SECONDS.get(limit.interval)
        if kind is None or seconds is None or limit.interval_num < 1 or limit.limit < 1:
            continue
        out.append(VenueRateLimit(kind, limit.limit, seconds * limit.interval_num, limit.count))
    return tuple(out)


class _BinanceAdapter:
    kind = "binance"
    market_data = BinanceMarketData()
    order_entry = staticmethod(_order_entry)
    instruments = InstrumentSource(
        "exchangeInfo", _exchange_info_url, _instrument, exchange_info_rate_limits
    )


ADAPTER = _BinanceAdapter()
"""Binance spot as a venue adapter: market data, and order entry (`BinanceOrderEntry`)."""
