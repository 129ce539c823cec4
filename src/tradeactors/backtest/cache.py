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
import os
import re
import struct
import sys
import tempfile
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec

from tradeactors import __version__
from tradeactors.core.book import book_instrument
from tradeactors.core.instrument import LevelParser
from tradeactors.core.messages import Side
from tradeactors.errors import ParseError
from tradeactors.venues import binance
from tradeactors.venues.capture import Frame, read_capture

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tradeactors.core.instrument import Instrument
    from tradeactors.venues.paper import PaperVenue

__all__ = [
    "FORMAT",
    "MAGIC",
    "CaptureCache",
    "CompiledCapture",
    "ParsedDepthSync",
    "ParsedDepthUpdate",
    "PreparedCapture",
    "compile_frames",
    "default_cache_dir",
    "depth_symbols",
]

FORMAT: Final = 1
"""The version of the compiled form: bumped whenever its layout or meaning changes."""
MAGIC: Final = b"TACAPC\x00\n"
"""The first bytes of every cache file."""

_OTHER, _DIFF, _TRADE, _RAW = 0, 1, 2, 3  # a frame's kind in `CompiledCapture.kinds`
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
        self._columns = columns
        self._check()

    def __len__(self) -> int:
        """The number of frames."""
        return len(self.times)

    def __reduce__(self) -> tuple[type[CompiledCapture], tuple[_Columns, Instrument]]:
        """Pickled as its stored columns (what a sweep's worker processes receive)."""
        return (CompiledCapture, (self._columns, self.instrument))

    def _check(self) -> None:
        """Raise ValueError unless the columns fit together (a damaged or foreign file)."""
        kinds = self.kinds
        diffs, trades, raw = kinds.count(_DIFF), kinds.count(_TRADE), kinds.count(_RAW)
        counts = self.diff_counts
        levels = sum(c for c in counts if c > 0)
        if (
            len(self.times) != len(kinds)
            or diffs + trades + raw + kinds.count(_OTHER) != len(kinds)
            or len(self.diff_ids) != 3 * diffs
            or len(counts) != 2 * diffs
            or len(self.levels) != 2 * levels
            or len(self.trades) != 3 * trades
            or len(self.raw) != raw
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

    def replay(self, venue: PaperVenue, start: Callable[[int], None]) -> None:
        """Give ``venue`` every frame as `PaperVenue.on_frame` would; ``start(t)`` first."""
        times, kinds = self.times, self.kinds
        ids, counts, levels, trades = self.diff_ids, self.diff_counts, self.levels, self.trades
        raw = iter(self.raw)
        symbol = self.instrument.symbol
        begin, on_diff, on_trade = venue.begin_frame, venue.on_depth_update, venue.on_public_trade
        quiet = venue.quiet_frames
        diff = count = level = trade = after = 0
        if times:
            start(times[0])
        for match in _EVENTFUL.finditer(kinds):  # the frames that are not only a time
            index = match.start()
            if index > after:
                quiet(times[after:index])
            after = index + 1
            when, kind = times[index], kinds[index]
            begin(when)
            if kind == _DIFF:
                first, last, previous = ids[diff : diff + 3]
                n_bids, n_asks = counts[count : count + 2]
                diff += 3
                count += 2
                if n_bids < 0:
                    update = ParsedDepthUpdate(
                        s=symbol, U=first, u=last, b=(), a=(), pu=_none(previous), bad=True
                    )
                else:
                    end = level + 2 * (n_bids + n_asks)
                    flat = levels[level:end]
                    pairs = list(zip(flat[0::2], flat[1::2], strict=True))
                    level = end
                    update = ParsedDepthUpdate(
                        s=symbol, U=first, u=last, b=(), a=(), pu=_none(previous),
                        bids=pairs[:n_bids], asks=pairs[n_bids:],
                    )  # fmt: skip
                on_diff(update)
            elif kind == _TRADE:
                price, quantity, maker = trades[trade : trade + 3]
                trade += 3
                on_trade(price, quantity, Side.SELL if maker else Side.BUY)
            else:
                source, url, payload = next(raw)
                venue.apply_frame(
                    Frame(received_ns=when, source="rest" if source == "rest" else "ws",
                          payload=payload, url=url)
                )  # fmt: skip
        if after < len(times):
            quiet(times[after:])


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
        columns = _Columns(
            instrument=msgspec.json.encode(self.instrument).decode(),
            times=self.times.tobytes(),
            kinds=bytes(self.kinds),
            diff_ids=self.ids.tobytes(),
            diff_counts=self.counts.tobytes(),
            levels=self.levels.tobytes(),
            trades=self.trades.tobytes(),
            raw=self.raw,
        )
        return CompiledCapture(columns, self.instrument)


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
