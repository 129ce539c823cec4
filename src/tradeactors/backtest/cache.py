"""Captures converted once into integer columns for the backtest, and cached on disk.

A backtest spends most of its time reading the capture, not trading on it: decoding
every JSON frame and parsing every price and size string of every depth level into
ticks and lots. `compile_frames` does that once for one instrument and keeps the
result as a `CompiledCapture`: the frames' receive times and kinds, the instrument's
depth updates (update ids, levels already in the book's integer units, or the fact that
a level does not parse), its trades (price, quantity, aggressor) and, as text, the REST
answers (the snapshots: rare, and their use depends on the book's state). Every other
frame (other symbols, tickers, frames that do not decode) is kept as its receive time
alone: it still counts, and still moves time. `run_backtest` replays a compiled capture
exactly as it replays the frames it was made from: the same report, byte for byte.

`CaptureCache` keeps compiled captures (and each capture's list of symbols with depth
updates) in a directory: ``--cache-dir``, else ``$XDG_CACHE_HOME/tradeactors``, else
``~/.cache/tradeactors`` (never beside the capture). An entry is keyed by:

- the SHA-256 of the whole capture file, computed on every use (about 3 ms for the
  1 MB ETHUSDT capture; a capture changed in place, copied or moved is never mistaken
  for another: its content is the key, not its name, size or modification time);
- the instrument (symbol, tick and lot size: the units its levels were parsed in);
- this module's `FORMAT`, the package's version and the machine's byte order.

Each file starts with `MAGIC` and a header holding its full key and the SHA-256 of its
body. A file that is cut short, corrupt, of another format or version, or written for
another key (a foreign file under the name) is ignored and rebuilt: never read into a
wrong result. Writes go to a temporary file in the same directory, then an atomic
rename: concurrent backtests of the same capture each build it and the last rename
wins, and a reader sees a whole file or none. A cache that cannot be written is not an
error: the backtest runs on what it compiled, and `CaptureCache.problems` says why.
"""

from __future__ import annotations

import hashlib
import operator
import os
import re
import struct
import sys
import tempfile
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from tradeactors import __version__
from tradeactors.core.book import BookView, Level, OrderBook, book_instrument
from tradeactors.core.instrument import LevelParser
from tradeactors.core.messages import Side
from tradeactors.errors import ParseError
from tradeactors.venues import binance
from tradeactors.venues.capture import Frame, read_capture
from tradeactors.venues.paper import PaperVenue, SyncLoss, VenueModel

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tradeactors.core.instrument import Instrument

__all__ = [
    "FORMAT",
    "MAGIC",
    "TOP_DEPTH",
    "CaptureCache",
    "CompiledCapture",
    "ParsedDepthSync",
    "ParsedDepthUpdate",
    "PreparedCapture",
    "ReplayedBook",
    "ReplayedSync",
    "compile_frames",
    "default_cache_dir",
    "depth_symbols",
]

FORMAT: Final = 2
"""The version of the compiled form: bumped whenever its layout or meaning changes."""
TOP_DEPTH: Final = 20
"""Levels a side kept of each book the replay publishes (`ReplayedBook` reads deeper ones
from the whole book, rebuilt when asked)."""
MAGIC: Final = b"TACAPC\x00\n"
"""The first bytes of every cache file."""

_OTHER, _DIFF, _TRADE, _RAW = 0, 1, 2, 3  # a frame's kind in `CompiledCapture.kinds`
_EMPTY = -1  # the book's state after a loss of sync (or before the first sync): no levels
_BOOK = 9  # ints per published book in `CompiledCapture.books` (see `_Columns.books`)
_UPDATED, _RESET = 0, 1  # a published book: a diff applied, or a snapshot (with diffs)
_MAX = 2**63 - 1  # what a signed 64-bit column holds
_HEAD = struct.Struct("<I")  # the header's length


class ParsedDepthUpdate(binance.DepthUpdate, frozen=True, kw_only=True):
    """A depth update whose levels were parsed beforehand (``bad``: one does not parse)."""

    bids: list[tuple[int, int]] = []  # noqa: RUF012 - a frozen struct's field
    asks: list[tuple[int, int]] = []  # noqa: RUF012 - a frozen struct's field
    bad: bool = False


class ParsedDepthSync(binance.DepthSync):
    """`DepthSync` that applies `ParsedDepthUpdate`s' parsed levels (others as usual)."""

    def _apply(self, diff: binance.DepthUpdate) -> binance.SyncResult:
        if not isinstance(diff, ParsedDepthUpdate):
            return super()._apply(diff)
        if diff.bad:  # as the parse's ParseError in DepthSync._apply
            return self._break(diff, binance.SyncResult.BAD_LEVEL)
        book = self.book
        book.apply_levels(diff.bids, diff.asks, diff.u)
        if book.crossed():
            return self._break(diff, binance.SyncResult.CROSSED)
        self._last_u = diff.u
        self._first_after_snapshot = False
        return binance.SyncResult.APPLIED


class _Accounts(msgspec.Struct, frozen=True, array_like=True):
    """`PaperVenue`'s accounts of the book's sync at the end of the frames."""

    updates_seen: int
    updates_applied: int
    snapshots: int
    synced_since: int | None
    synced_ns: int
    first_synced_ns: int | None
    losses: list[SyncLoss]
    synced: bool


class _Columns(msgspec.Struct, frozen=True, array_like=True):
    """`CompiledCapture`'s columns as stored (arrays as native-order bytes)."""

    instrument: str  # the instrument's JSON
    times: bytes  # q per frame: receive ns
    kinds: bytes  # one byte per frame
    diff_ids: bytes  # q x 3 per depth update: U, u, pu (-1: none)
    diff_counts: bytes  # q x 2 per depth update: bid levels, ask levels (-1, -1: bad)
    levels: bytes  # q x 2 per level: ticks, lots
    trades: bytes  # q x 3 per trade: price, quantity, 1 if the buyer was the maker
    raw: list[tuple[str, str, str]]  # (source, url, payload) of each raw frame
    # the book as the venue follows it: the same whatever the strategy (see `_record`)
    diff_states: bytes  # q per depth update: the book after it (a `books` row; -1: empty)
    raw_states: bytes  # q per raw frame: likewise
    books: bytes  # q x 9 per published book: update id, the row of the snapshot it grew
    # from, _UPDATED or _RESET, its levels' first pair (in `levels`, or `reset_levels`),
    # bid and ask levels, its top's first level in `top`, top bid and ask levels
    reset_levels: bytes  # q x 2 per level of each book a snapshot made (bids, then asks)
    top: bytes  # I per level: each book's best TOP_DEPTH bids then asks, best first, as
    # the row of the level (price, size) in `pairs` (few: a level stays for many books)
    top_prices: bytes  # q per level of `top`: its price
    pairs: bytes  # q x 2 per distinct level of the tops: ticks, lots
    top_depth: int  # TOP_DEPTH when it was made
    ascending: bool  # no frame's receive time is before the one before it
    eventful: bytes  # q per frame of another kind than _OTHER: its index
    accounts: _Accounts  # how much of the market the book followed, at the last frame


class CompiledCapture:
    """One capture's frames, read for one instrument into integer columns.

    Made by `compile_frames` (or loaded by `CaptureCache`); replayed by `run_backtest`.
    """

    def __init__(self, columns: _Columns, instrument: Instrument) -> None:
        self.instrument = instrument
        self.times = _ints(columns.times)
        self.kinds = columns.kinds
        self.diff_ids = _ints(columns.diff_ids)
        self.diff_counts = _ints(columns.diff_counts)
        self.levels = _ints(columns.levels)
        self.trades = _ints(columns.trades)
        self.raw = columns.raw
        self.diff_states = _ints(columns.diff_states)
        self.raw_states = _ints(columns.raw_states)
        self.books = _ints(columns.books)
        self.reset_levels = _ints(columns.reset_levels)
        self.top = array("I")  # unsigned: a row that is not one raises IndexError
        self.top.frombytes(columns.top)
        self.top_prices = _ints(columns.top_prices)
        self.pairs = _ints(columns.pairs)
        self.top_depth = columns.top_depth
        self.accounts = columns.accounts
        self.ascending = columns.ascending
        self.eventful = _ints(columns.eventful)
        self._columns = columns
        self._check()

    def __len__(self) -> int:
        """The number of frames."""
        return len(self.times)

    @property
    def published(self) -> int:
        """How many books the replay publishes (its `ReplayedBook`'s states: 0...)."""
        return len(self.books) // _BOOK

    def __reduce__(self) -> tuple[type[CompiledCapture], tuple[_Columns, Instrument]]:
        """Pickled as its stored columns (what a sweep's worker processes receive)."""
        return (CompiledCapture, (self._columns, self.instrument))

    def _check(self) -> None:
        """Raise ValueError unless the columns fit together (a damaged or foreign file)."""
        kinds = self.kinds
        diffs, trades, raw = kinds.count(_DIFF), kinds.count(_TRADE), kinds.count(_RAW)
        counts = self.diff_counts
        levels = sum(c for c in counts if c > 0)
        books = self.books
        published = len(books) // _BOOK
        made = zip(books[2::_BOOK], books[4::_BOOK], books[5::_BOOK], strict=True)
        resets = sum(bids + asks for kind, bids, asks in made if kind == _RESET)
        top = sum(books[7::_BOOK]) + sum(books[8::_BOOK])
        states = (self.diff_states, self.raw_states)
        if (
            len(self.times) != len(kinds)
            or diffs + trades + raw + kinds.count(_OTHER) != len(kinds)
            or len(self.diff_ids) != 3 * diffs
            or len(counts) != 2 * diffs
            or len(self.levels) != 2 * levels
            or len(self.trades) != 3 * trades
            or len(self.raw) != raw
            or len(self.eventful) != diffs + trades + raw
            or len(self.diff_states) != diffs
            or len(self.raw_states) != raw
            or len(books) % _BOOK
            or len(self.reset_levels) != 2 * resets
            or len(self.top) != top
            or len(self.top_prices) != top
            or len(self.pairs) % 2
            or self.top_depth < 1
            or any(
                column and not _EMPTY <= min(column) <= max(column) < published for column in states
            )
        ):
            raise ValueError("the compiled capture's columns do not fit together")

    def to_bytes(self) -> bytes:
        """The columns, msgpack-encoded (what `CaptureCache` stores)."""
        return msgspec.msgpack.encode(self._columns)

    @classmethod
    def from_bytes(cls, body: bytes, instrument: Instrument) -> CompiledCapture:
        """The inverse of `to_bytes`, for ``instrument`` (ValueError if it is another's)."""
        try:
            columns = _COLUMNS.decode(body)
        except msgspec.DecodeError as exc:
            raise ValueError(f"not a compiled capture: {exc}") from exc
        if columns.instrument != msgspec.json.encode(instrument).decode():
            raise ValueError("a compiled capture of another instrument")
        return cls(columns, instrument)

    def depth_sync(self) -> ReplayedSync:
        """The sync a `PaperVenue` that `replay` drives is made with."""
        return ReplayedSync(self)

    def replay(self, venue: PaperVenue, start: Callable[[int], None]) -> None:
        """Give ``venue`` every frame as `PaperVenue.on_frame` would; ``start(t)`` first.

        ``venue`` must follow the book with this capture's `depth_sync`: the book's
        states were worked out when the capture was compiled (they do not depend on the
        strategy), so each depth update is only the book it leaves, published when it
        is a new one (matched against the orders, then shown to the strategy).
        """
        book = self._book_of(venue)
        times, kinds, ascending = self.times, self.kinds, self.ascending
        trades, diff_states = self.trades, self.diff_states
        begin, on_trade = venue.begin_frame, venue.on_public_trade
        quiet, changed, before = venue.quiet_frames, venue.book_changed, venue.levels_before
        show = book.show
        probabilistic = venue.model.queue == "probabilistic"  # (else no levels before)
        sides = (Side.BUY, Side.SELL)  # the aggressor: the seller if the buyer made it
        state = _EMPTY
        diff = trade = raw = after = 0
        if times:
            start(times[0])
        for index in self.eventful:  # the frames that are not only a time
            if index > after:
                if after and ascending:
                    # in time order, frames between two others only count: what falls
                    # due among them runs at the next frame's `begin_frame`, at the time
                    # it is due (``now_ns`` never passed it), in the same order
                    venue.frames += index - after
                else:
                    quiet(times[after:index], ascending=ascending)
            after = index + 1
            when, kind = times[index], kinds[index]
            begin(when)
            if kind == _DIFF:
                new = diff_states[diff]
                diff += 1
                if new != state:
                    state = new
                    if new == _EMPTY:
                        show(new)
                    else:
                        levels = before() if probabilistic else None  # before the update
                        show(new)
                        changed(levels)
            elif kind == _TRADE:
                price, quantity, maker = trades[trade : trade + 3]
                trade += 3
                on_trade(price, quantity, sides[maker])
            else:
                state = self._raw_frame(venue, book, when, raw, state)
                raw += 1
        if after < len(times):
            quiet(times[after:], ascending=ascending)
        self._settle(venue)

    def _book_of(self, venue: PaperVenue) -> ReplayedBook:
        """The book ``venue`` follows: TypeError unless this capture's `ReplayedBook`."""
        sync = venue.sync
        if not isinstance(sync, ReplayedSync) or sync.capture is not self:
            raise TypeError("the venue does not follow this capture's book (depth_sync())")
        return sync.book

    def _raw_frame(
        self, venue: PaperVenue, book: ReplayedBook, when: int, raw: int, state: int
    ) -> int:
        """Raw frame number ``raw``, received ``when``: the book's state after it."""
        source, _url, payload = self.raw[raw]
        if source != "rest":  # a trade too large for the columns
            venue.apply_frame(Frame(received_ns=when, source="ws", payload=payload))
            return state
        new = self.raw_states[raw]
        if new != state:  # a snapshot taken: no queue advances (as the venue's)
            book.show(new)
            if new != _EMPTY:
                venue.book_changed(None)
        return new

    def _settle(self, venue: PaperVenue) -> None:
        """Leave the accounts of the book's sync in ``venue`` (as at the last frame)."""
        accounts = self.accounts
        venue.updates_seen = accounts.updates_seen
        venue.updates_applied = accounts.updates_applied
        venue.snapshots = accounts.snapshots
        venue.synced_since = accounts.synced_since
        venue.synced_ns = accounts.synced_ns
        venue.first_synced_ns = accounts.first_synced_ns
        venue.losses = list(accounts.losses)
        venue.sync.synced = accounts.synced


class ReplayedSync(binance.DepthSync):
    """The `DepthSync` of a compiled capture's replay: its book is a `ReplayedBook`.

    `CompiledCapture.replay` moves the book from state to state; the sync itself
    takes no updates or snapshots (RuntimeError).
    """

    def __init__(self, capture: CompiledCapture) -> None:
        super().__init__(capture.instrument)
        self.capture = capture
        self.book: ReplayedBook = ReplayedBook(capture)

    def on_diff(self, diff: binance.DepthUpdate) -> binance.SyncResult:
        """Not taken: the replay shows the book each update left (RuntimeError)."""
        raise RuntimeError(f"a replayed book takes no depth update ({diff.u})")

    def on_snapshot(self, snapshot: binance.DepthSnapshot) -> binance.SyncResult:
        """Not taken: the replay shows the book each snapshot made (RuntimeError)."""
        raise RuntimeError(f"a replayed book takes no snapshot ({snapshot.lastUpdateId})")


class ReplayedBook(OrderBook):
    """The book of a compiled capture's replay, read-only: each state from the columns.

    `show` moves it to a published book (a row of `CompiledCapture.books`) or to the
    empty book of a loss of sync. The best ``top_depth`` levels a side of each book are
    in the capture: reading within them (the best levels, views as deep, the size at a
    price no deeper than the last of them) costs a slice, and the rest of the book is
    rebuilt only when something reads deeper, by applying the updates since the last
    time it was (or since the book's snapshot). Every answer is `OrderBook`'s for the
    same book. Writing to it raises TypeError.
    """

    __slots__ = (
        "_at",
        "_books",
        "_capture",
        "_full",
        "_na",
        "_nb",
        "_oa",
        "_ob",
        "_prices",
        "_state",
        "_table",
        "_top",
    )

    def __init__(self, capture: CompiledCapture) -> None:
        super().__init__(capture.instrument)
        self._capture = capture
        self._full = capture.top_depth  # a side with this many top levels may have more
        self._state = self._at = _EMPTY  # what is shown; what OrderBook's levels hold
        self._ob = self._oa = self._nb = self._na = 0  # the top's bids and asks in `top`
        self._prices = capture.top_prices
        self._top = capture.top  # rows of `_table`
        flat = iter(capture.pairs)  # the distinct levels as a view holds them, made once a run
        self._table: list[Level] = list(zip(flat, flat, strict=True))
        self._books = capture.books

    def show(self, state: int) -> None:
        """Show published book ``state`` (a row of `CompiledCapture.books`; -1: empty)."""
        self._state = state
        if state == _EMPTY:
            self.update_id = 0
            self._nb = self._na = 0
            return
        books, row = self._books, _BOOK * state
        self.update_id, first, bids = books[row], books[row + 6], books[row + 7]
        self._ob, self._nb, self._na, self._oa = first, bids, books[row + 8], first + bids

    def _levels(self) -> None:
        """Bring `OrderBook`'s levels to the book shown (what reading deeper needs)."""
        state = self._state
        if state == self._at:
            return
        if state == _EMPTY:
            OrderBook.clear(self)
            self._at = state
            return
        capture = self._capture
        books, at = capture.books, self._at
        base = books[_BOOK * state + 1]
        first = at + 1 if _EMPTY < at < state and books[_BOOK * at + 1] == base else base
        for row in range(_BOOK * first, _BOOK * (state + 1), _BOOK):
            update_id, _, kind, offset, bids, asks = books[row : row + 6]
            source = capture.reset_levels if kind == _RESET else capture.levels
            flat = source[2 * offset : 2 * (offset + bids + asks)]
            pairs = list(zip(flat[0::2], flat[1::2], strict=True))
            if kind == _RESET:
                OrderBook.apply_snapshot(self, pairs[:bids], pairs[bids:], update_id)
            else:
                OrderBook.apply_levels(self, pairs[:bids], pairs[bids:], update_id)
        self._at = state

    def _read_only(self, *_args: object) -> None:
        raise TypeError("a replayed book is read-only: its states come from the capture")

    clear = apply_snapshot = set_bid = set_ask = apply_levels = trim = _read_only  # type: ignore[assignment]

    def best_bid(self) -> Level | None:
        """The highest bid, or None. O(1)."""
        if not self._nb:
            return None
        return self._table[self._top[self._ob]]

    def best_ask(self) -> Level | None:
        """The lowest ask, or None. O(1)."""
        if not self._na:
            return None
        return self._table[self._top[self._oa]]

    def crossed(self) -> bool:
        """Best bid at or above best ask (never, for a published book). O(1)."""
        prices = self._prices
        return bool(self._nb and self._na) and prices[self._ob] >= prices[self._oa]

    def spread(self) -> int | None:
        """Best ask minus best bid in ticks, or None if a side is empty."""
        if not (self._nb and self._na):
            return None
        prices = self._prices
        return prices[self._oa] - prices[self._ob]

    def mid_x2(self) -> int | None:
        """Twice the mid price in ticks (an integer), or None if a side is empty."""
        if not (self._nb and self._na):
            return None
        prices = self._prices
        return prices[self._oa] + prices[self._ob]

    def size_at(self, price: int, *, bid: bool) -> int:
        """The size resting at ``price`` on one side (0 if no level)."""
        first, count = (self._ob, self._nb) if bid else (self._oa, self._na)
        if not count:
            return 0
        prices = self._prices
        last = prices[first + count - 1]
        if count < self._full or (price >= last if bid else price <= last):
            try:
                index = prices.index(price, first, first + count)
            except ValueError:
                return 0
            return self._table[self._top[index]][1]
        self._levels()
        return OrderBook.size_at(self, price, bid=bid)

    def _side(self, depth: int | None, *, bid: bool) -> list[Level] | None:
        """The best ``depth`` levels of a side from the top kept (None: it is not enough)."""
        first, count = (self._ob, self._nb) if bid else (self._oa, self._na)
        if depth is None or depth > count:
            if count >= self._full:
                return None
            depth = count
        depth = max(depth, 0)
        return list(map(self._table.__getitem__, self._top[first : first + depth]))

    def bids(self, depth: int | None = None) -> list[Level]:
        """Bid levels, best first, at most ``depth``."""
        levels = self._side(depth, bid=True)
        if levels is None:
            self._levels()
            return OrderBook.bids(self, depth)
        return levels

    def asks(self, depth: int | None = None) -> list[Level]:
        """Ask levels, best first, at most ``depth``."""
        levels = self._side(depth, bid=False)
        if levels is None:
            self._levels()
            return OrderBook.asks(self, depth)
        return levels

    def __len__(self) -> int:
        self._levels()
        return OrderBook.__len__(self)

    def view(self, depth: int, timestamp_ns: int = 0) -> BookView:
        """An immutable view of the top ``depth`` levels of each side."""
        nb, na = self._nb, self._na
        full = self._full
        if depth > 0 and (depth > nb >= full or depth > na >= full):
            self._levels()
            return OrderBook.view(self, depth, timestamp_ns)
        top, level, first_bid, first_ask = self._top, self._table.__getitem__, self._ob, self._oa
        if depth >= nb:  # every bid kept, then the asks: one slice
            levels = tuple(map(level, top[first_bid : first_ask + min(depth, na)]))
            bids, asks = levels[:nb], levels[nb:]
        else:
            depth = max(depth, 0)
            bids = tuple(map(level, top[first_bid : first_bid + depth]))
            asks = tuple(map(level, top[first_ask : first_ask + min(depth, na)]))
        return BookView(
            instrument=self._key,
            update_id=self.update_id,
            timestamp_ns=timestamp_ns,
            bids=bids,
            asks=asks,
        )

    def check_invariants(self) -> None:
        """`OrderBook.check_invariants` of the book shown."""
        self._levels()
        OrderBook.check_invariants(self)


_COLUMNS = msgspec.msgpack.Decoder(_Columns)
_EVENTFUL = re.compile(b"[^\x00]")  # a frame of another kind than _OTHER


def _ints(data: bytes) -> array[int]:
    column = array("q")
    column.frombytes(data)
    return column


def _none(value: int) -> int | None:
    return None if value < 0 else value


def compile_frames(frames: Iterable[Frame], instrument: Instrument) -> CompiledCapture:
    """``frames`` read for ``instrument`` once: what `PaperVenue.on_frame` reads, as ints.

    Read with the same decoder and parsers as `PaperVenue` (Binance's rules): a frame
    that does not decode, or is not the instrument's depth update or trade, is kept as
    its time; a depth update with a level that does not parse as marked bad; a trade
    that does not parse as nothing (as the venue ignores it); REST answers, and
    anything a 64-bit column cannot hold, as the frame itself.
    """
    compiler = _Compiler(instrument)
    symbol = instrument.symbol
    for frame in frames:
        compiler.times.append(frame.received_ns)
        if frame.source != "ws":
            compiler.keep(frame)
            continue
        try:
            _kind, event = binance.decode_frame(frame.payload)
        except (msgspec.DecodeError, ValueError):
            compiler.kinds.append(_OTHER)
            continue
        if isinstance(event, binance.DepthUpdate) and event.s == symbol:
            compiler.diff(event)
        elif isinstance(event, binance.Trade) and event.s == symbol:
            compiler.trade(frame, event)
        else:
            compiler.kinds.append(_OTHER)
    return compiler.compiled()


class _Compiler:
    """The columns `compile_frames` fills."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.level = LevelParser(book_instrument(instrument)).level  # DepthSync's parse
        self.times, self.kinds = array("q"), bytearray()
        self.ids, self.counts, self.levels, self.trades = (array("q") for _ in range(4))
        self.raw: list[tuple[str, str, str]] = []

    def keep(self, frame: Frame) -> None:
        self.kinds.append(_RAW)
        self.raw.append((frame.source, frame.url, frame.payload))

    def diff(self, event: binance.DepthUpdate) -> None:
        level = self.level
        try:
            parsed = [level(p, q) for p, q in event.b], [level(p, q) for p, q in event.a]
        except ParseError:
            parsed = None
        self.kinds.append(_DIFF)
        self.ids.extend((event.U, event.u, -1 if event.pu is None else event.pu))
        if parsed is None:
            self.counts.extend((-1, -1))
            return
        bids, asks = parsed
        self.counts.extend((len(bids), len(asks)))
        levels = self.levels
        for pair in (*bids, *asks):
            levels.extend(pair)

    def trade(self, frame: Frame, event: binance.Trade) -> None:
        try:
            price = self.instrument.price(event.p)
            quantity = self.instrument.size(event.q)
        except ValueError:
            self.kinds.append(_OTHER)  # the venue ignores it (but counts the frame)
            return
        if price > _MAX or quantity > _MAX:
            self.keep(frame)
            return
        self.kinds.append(_TRADE)
        self.trades.extend((price, quantity, int(event.m)))

    def compiled(self) -> CompiledCapture:
        base: dict[str, Any] = {
            "instrument": msgspec.json.encode(self.instrument).decode(),
            "times": self.times.tobytes(),
            "kinds": bytes(self.kinds),
            "diff_ids": self.ids.tobytes(),
            "diff_counts": self.counts.tobytes(),
            "levels": self.levels.tobytes(),
            "trades": self.trades.tobytes(),
            "raw": self.raw,
        }
        times = self.times
        ascending = all(map(operator.le, times, times[1:]))
        eventful = array("q", (match.start() for match in _EVENTFUL.finditer(self.kinds)))
        columns = _Columns(
            **base,
            **_record(self.instrument, self),
            ascending=ascending,
            eventful=eventful.tobytes(),
        )
        return CompiledCapture(columns, self.instrument)


def _record(instrument: Instrument, compiler: _Compiler) -> dict[str, Any]:
    """The book's states, as a `PaperVenue` with no orders follows the compiled frames.

    The venue follows the book with `ParsedDepthSync`, frame by frame as `on_frame` would
    (Binance's rules, the levels parsed beforehand): which book each depth update and
    snapshot leaves (a new published book, the same, or the empty book of a loss of
    sync), each published book (its update id, how it was made, its best levels), and
    the venue's accounts of the sync at the end. None of it depends on the strategy:
    its orders and time never change the book, and the venue's time at a frame is the
    latest receive time so far whatever ran before it.
    """
    symbol = instrument.symbol
    depth = TOP_DEPTH
    books, top, top_prices, resets = array("q"), array("I"), array("q"), array("q")
    rows: dict[Level, int] = {}  # a level -> its row in `pairs`
    diff_states, raw_states = array("q"), array("q")

    def published(book: OrderBook) -> None:
        bids, asks = book.bids(depth), book.asks(depth)
        books.extend((book.update_id, 0, 0, 0, 0, 0, len(top), len(bids), len(asks)))
        for pair in (*bids, *asks):
            top.append(rows.setdefault(pair, len(rows)))
            top_prices.append(pair[0])

    venue = PaperVenue(
        instrument, VenueModel(), on_book=published, depth_sync=ParsedDepthSync(instrument)
    )
    sync = venue.sync
    ids, counts, levels, raw = compiler.ids, compiler.counts, compiler.levels, iter(compiler.raw)
    state = _EMPTY
    diff = level = 0
    if compiler.times:
        venue.now_ns = compiler.times[0]
    for when, kind in zip(compiler.times, compiler.kinds, strict=True):
        venue.begin_frame(when)
        seen = venue.books
        if kind == _DIFF:
            n_bids, n_asks = counts[2 * diff : 2 * diff + 2]
            offset = level
            level += max(0, n_bids + n_asks)
            update = _parsed(symbol, ids[3 * diff : 3 * diff + 3], levels[2 * offset : 2 * level],
                             n_bids)  # fmt: skip
            diff += 1
            venue.on_depth_update(update)
            if venue.books > seen:  # row: its base is the book it was applied to
                row = len(books) - _BOOK
                books[row + 1 : row + 6] = array(
                    "q", (books[row - _BOOK + 1], _UPDATED, offset, n_bids, n_asks)
                )
            state = _state(venue, state, seen)
            diff_states.append(state)
        elif kind == _RAW:
            source, url, payload = next(raw)
            venue.apply_frame(
                Frame(received_ns=when, source="rest" if source == "rest" else "ws",
                      payload=payload, url=url)
            )  # fmt: skip
            if venue.books > seen:  # a snapshot (and the updates it waited for)
                row = len(books) - _BOOK
                bids, asks = sync.book.bids(), sync.book.asks()
                books[row + 1 : row + 6] = array(
                    "q", (row // _BOOK, _RESET, len(resets) // 2, len(bids), len(asks))
                )
                for pair in (*bids, *asks):
                    resets.extend(pair)
            state = _state(venue, state, seen)
            raw_states.append(state)
    return {
        "diff_states": diff_states.tobytes(),
        "raw_states": raw_states.tobytes(),
        "books": books.tobytes(),
        "reset_levels": resets.tobytes(),
        "top": top.tobytes(),
        "top_prices": top_prices.tobytes(),
        "pairs": array("q", (value for pair in rows for value in pair)).tobytes(),
        "top_depth": depth,
        "accounts": _Accounts(
            updates_seen=venue.updates_seen,
            updates_applied=venue.updates_applied,
            snapshots=venue.snapshots,
            synced_since=venue.synced_since,
            synced_ns=venue.synced_ns,
            first_synced_ns=venue.first_synced_ns,
            losses=venue.losses,
            synced=sync.synced,
        ),
    }


def _parsed(symbol: str, ids: array[int], flat: array[int], n_bids: int) -> ParsedDepthUpdate:
    """The update of ids ``U, u, pu`` and levels ``flat`` (``n_bids`` < 0: bad)."""
    first, last, previous = ids
    if n_bids < 0:
        return ParsedDepthUpdate(
            s=symbol, U=first, u=last, b=(), a=(), pu=_none(previous), bad=True
        )
    pairs = list(zip(flat[0::2], flat[1::2], strict=True))
    return ParsedDepthUpdate(
        s=symbol, U=first, u=last, b=(), a=(), pu=_none(previous),
        bids=pairs[:n_bids], asks=pairs[n_bids:],
    )  # fmt: skip


def _state(venue: PaperVenue, state: int, seen: int) -> int:
    """The book's state after a frame: published anew, unchanged, or empty."""
    if venue.books > seen:
        if venue.books != seen + 1:  # pragma: no cover - one frame, one book at most
            raise AssertionError("one frame published two books")
        return venue.books - 1
    return state if venue.sync.synced else _EMPTY


def depth_symbols(frames: Iterable[Frame]) -> list[str]:
    """The symbols with Binance depth updates in ``frames``, in order of appearance."""
    symbols: dict[str, None] = {}
    for frame in frames:
        if frame.source == "ws" and '"depthUpdate"' in frame.payload:
            try:
                _kind, event = binance.decode_frame(frame.payload)
            except (msgspec.DecodeError, ValueError):
                continue
            if isinstance(event, binance.DepthUpdate):
                symbols[event.s] = None
    return list(symbols)


class _Header(msgspec.Struct, frozen=True, array_like=True):
    key: str
    body_sha256: str
    body_size: int


_HEADER = msgspec.msgpack.Decoder(_Header)
_SYMBOLS = msgspec.msgpack.Decoder(list[str])


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tradeactors``, or ``~/.cache/tradeactors`` without it."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"  # noqa: PTH117
    return root / "tradeactors"


class CaptureCache:
    """Cache files in ``directory`` (None: `default_cache_dir`); see the module doc."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.problems: list[str] = []  # why something could not be stored
        self.rebuilt: list[str] = []  # keys of files found damaged or foreign

    def path(self, key: str) -> Path:
        """The file of ``key``."""
        name = hashlib.sha256(key.encode()).hexdigest()[:40]
        return self.directory / "backtest" / f"{name}.bin"

    def load(self, key: str) -> bytes | None:
        """The body stored for ``key``; None if there is none, or none whole and its own."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            self.rebuilt.append(key)
            return None
        body = _body(data, key)
        if body is None:
            self.rebuilt.append(key)
        return body

    def store(self, key: str, body: bytes) -> None:
        """Store ``body`` for ``key`` (a temporary file renamed into place)."""
        header = msgspec.msgpack.encode(
            _Header(key=key, body_sha256=hashlib.sha256(body).hexdigest(), body_size=len(body))
        )
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(MAGIC + _HEAD.pack(len(header)) + header + body)
                Path(temporary).replace(path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            self.problems.append(f"cannot write the capture cache in {self.directory}: {exc}")


def _body(data: bytes, key: str) -> bytes | None:
    """The body of cache file ``data`` if it is whole and ``key``'s, else None."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _HEAD.size:
        return None
    start = len(MAGIC) + _HEAD.size
    (size,) = _HEAD.unpack_from(data, len(MAGIC))
    try:
        header = _HEADER.decode(data[start : start + size])
    except msgspec.DecodeError:
        return None
    body = data[start + size :]
    if (
        header.key != key
        or header.body_size != len(body)
        or hashlib.sha256(body).hexdigest() != header.body_sha256
    ):
        return None
    return body


def _source_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class PreparedCapture:
    """A capture file as the backtest reads it: through ``cache`` if one is given.

    `depth_symbols` and `compiled` come from the cache when it has them; otherwise the
    frames are read (once) and what was made is stored. ``cache=None``: nothing is
    read from or written to disk but the capture.
    """

    def __init__(self, path: str | Path, cache: CaptureCache | None) -> None:
        self.path = path
        self.cache = cache
        self._frames: list[Frame] | None = None
        self._digest = _source_digest(path) if cache is not None else ""

    def frames(self) -> list[Frame]:
        """Every frame of the capture (read once)."""
        if self._frames is None:
            self._frames = list(read_capture(self.path))
        return self._frames

    def _key(self, what: str) -> str:
        version = f"format={FORMAT}|tradeactors={__version__}|{sys.byteorder}"
        return f"{what}|sha256={self._digest}|{version}"

    def depth_symbols(self) -> list[str]:
        """The symbols with Binance depth updates, in order of appearance."""
        cache = self.cache
        if cache is None:
            return depth_symbols(self.frames())
        key = self._key("depth-symbols")
        body = cache.load(key)
        if body is not None:
            try:
                return _SYMBOLS.decode(body)
            except msgspec.DecodeError:
                cache.rebuilt.append(key)
        symbols = depth_symbols(self.frames())
        cache.store(key, msgspec.msgpack.encode(symbols))
        return symbols

    def compiled(self, instrument: Instrument) -> CompiledCapture:
        """The capture compiled for ``instrument``."""
        cache = self.cache
        if cache is None:
            return compile_frames(self.frames(), instrument)
        key = self._key("compiled|" + msgspec.json.encode(instrument).decode())
        body = cache.load(key)
        if body is not None:
            try:
                return CompiledCapture.from_bytes(body, instrument)
            except ValueError:
                cache.rebuilt.append(key)
        compiled = compile_frames(self.frames(), instrument)
        cache.store(key, compiled.to_bytes())
        return compiled
