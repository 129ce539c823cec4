"""Replaying recorded market data through the real feed and book actors.

`run_replay` builds a supervision tree (``market_data``: the feed, then one book actor
per instrument, ``rest_for_one``), replays the capture at full speed, and returns a
`ReplaySummary`. A book holds prices and sizes as the venue writes them: Binance writes
both with 8 decimals, so its sizes are counted in 1e-8; Kraken's prices keep the
decimals of each pair's snapshot (its checksum needs them), its sizes 1e-8 (v1) or the
decimals of the snapshot's quantities (v2). The price tick is the instrument file's
(`tradeactors.venues.instrument_file`, ``config/instruments.toml``) for the instruments
it has, so a price off the tick is a bad level there; for the others it is the
precision written (Binance 1e-8; Kraken the snapshot's decimals), which is exact too.
Kraken v1 and v2 frames are both understood.

A Binance book starts from a REST depth snapshot: a Binance capture with none (a
cryptofeed ``*.ws.*`` file alone: cryptofeed writes the REST answers to a separate
``*.http.*`` file) is refused before anything runs, naming the capture of the REST
answers found beside it, if any.
"""

from __future__ import annotations

import heapq
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from tradeactors.actors.marketdata import (
    BookActor,
    BookReport,
    FeedStats,
    MarketDataMetrics,
    ReplayFeed,
    book_name,
)
from tradeactors.core.instrument import Instrument, decimal_places
from tradeactors.core.messages import GetReport
from tradeactors.errors import TradeActorsError
from tradeactors.supervision import ChildSpec, Strategy, Supervisor, SupervisorSpec
from tradeactors.venues import binance, kraken
from tradeactors.venues.capture import Frame, read_capture
from tradeactors.venues.instrument_file import (
    INSTRUMENT_FILE,
    InstrumentFile,
    load_instrument_file,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from prometheus_client import CollectorRegistry

__all__ = ["ReplaySummary", "load_frames", "run_replay"]

Venue = Literal["binance", "kraken"]
BINANCE_STEP = "0.00000001"


class ReplaySummary(msgspec.Struct, kw_only=True):
    """The outcome of a replay."""

    venue: str
    feed: FeedStats
    books: dict[str, BookReport]

    @property
    def unsynced(self) -> list[str]:
        """Instruments that received updates but were not in sync at the end.

        A gap, a checksum mismatch or a stale snapshot the capture gave no way to recover
        from.
        """
        return [s for s, r in self.books.items() if r.updates and not r.synced]

    @property
    def ok(self) -> bool:
        """Every book in sync, no checksum or persistent ticker mismatch."""
        return all(
            r.synced and not r.checksum_mismatched and not r.ticker_persistent_mismatches
            for r in self.books.values()
        )


def load_frames(paths: Iterable[str | Path]) -> list[Frame]:
    """All frames of ``paths``, merged in receive-time order."""
    return list(heapq.merge(*(read_capture(p) for p in paths), key=lambda f: f.received_ns))


def _instruments(
    venue: Venue, frames: list[Frame], saved: InstrumentFile | None
) -> tuple[dict[str, Instrument], dict[str, int]]:
    """Instruments seen in ``frames`` (ticks from ``saved``), and Kraken's depth per pair."""
    found: dict[str, Instrument] = {}
    depths: dict[str, int] = {}
    for frame in frames:
        if venue == "binance":
            symbol = binance.url_symbol(frame.url) if frame.source == "rest" else None
            if frame.source == "ws" and '"depthUpdate"' in frame.payload:
                try:
                    _, event = binance.decode_frame(frame.payload)
                except (msgspec.DecodeError, ValueError):
                    continue
                symbol = getattr(event, "s", None)
            if symbol and symbol not in found:
                known = saved.get("binance", symbol) if saved is not None else None
                found[symbol] = Instrument(
                    venue="binance",
                    symbol=symbol,
                    tick_size=BINANCE_STEP if known is None else known.tick_size,
                    lot_size=BINANCE_STEP,  # the book's sizes: as written, never rounded
                )
        else:
            try:
                messages = kraken.decode_any_book_messages(frame.payload)
            except (msgspec.DecodeError, ValueError):
                continue
            v1 = not frame.payload.lstrip().startswith("{")
            for message in messages:
                if message.depth is not None:
                    depths.setdefault(message.pair, message.depth)
                if (
                    message.snapshot
                    and message.pair not in found
                    and (message.asks or message.bids)
                ):
                    # v1 writes volumes with 8 decimals; v2 with the pair's precision
                    written = kraken.KrakenBook.instrument_for(
                        message.pair, message, volume_places=8 if v1 else None
                    )
                    known = saved.get("kraken", message.pair) if saved is not None else None
                    found[message.pair] = written if known is None else _on_tick(written, known)
    return found, depths


def _on_tick(written: Instrument, saved: Instrument) -> Instrument:
    """``written`` with ``saved``'s tick, at the decimals written (``"0.1"`` -> ``"0.10000"``).

    Kraken's checksum covers prices as sent: the tick keeps the decimals of the capture.
    """
    places = decimal_places(written.tick_size)
    tick = saved.tick_size
    missing = places - decimal_places(tick)
    if missing > 0:
        tick += ("" if "." in tick else ".") + "0" * missing
    return msgspec.structs.replace(written, tick_size=tick)


def _saved_instruments(path: str | Path | None) -> InstrumentFile | None:
    """The instrument file at ``path``; with None, the project's if there is one."""
    if path is None:
        if not INSTRUMENT_FILE.is_file():  # not a source checkout: ticks as written
            return None
        path = INSTRUMENT_FILE
    return load_instrument_file(path)


def _snapshot_symbols(frames: list[Frame], instruments: dict[str, Instrument]) -> set[str]:
    """The Binance symbols a REST snapshot of ``frames`` applies to (see `binance.replay`)."""
    only = next(iter(instruments)) if len(instruments) == 1 else None
    found: set[str] = set()
    for frame in frames:
        if frame.source == "rest":
            symbol = binance.url_symbol(frame.url) or only
            if symbol is not None:
                found.add(symbol)
    return found


def _rest_captures_beside(paths: Iterable[str | Path]) -> list[Path]:
    """Captures of Binance REST depth answers in the folders of ``paths``, not among them.

    A file counts if one of its first two lines is a REST answer of ``/api/v3/depth``
    (cryptofeed's ``*.http.*``, or a tradeactors recording); those whose name starts
    like one of ``paths`` (``BINANCE.``) come first.
    """
    given = [Path(p) for p in paths]
    resolved = {p.resolve() for p in given}
    found: dict[Path, bool] = {}
    for path in given:
        prefix = path.name.partition(".")[0] + "."
        try:
            siblings = sorted(path.parent.iterdir())
        except OSError:
            continue
        for sibling in siblings:
            if sibling in found or sibling.resolve() in resolved or sibling.suffix == ".gz":
                continue
            if sibling.is_file() and _has_depth_answer(sibling):
                found[sibling] = sibling.name.startswith(prefix)
    return sorted(found, key=lambda p: not found[p])


def _has_depth_answer(path: Path) -> bool:
    try:
        with path.open("rb") as head:
            lines = [head.readline(4096) for _ in range(2)]
    except OSError:
        return False
    return any(
        b"/api/v3/depth" in line and (b" -> " in line or b" rest " in line) for line in lines
    )


def _no_snapshot_error(
    paths: list[str | Path], symbols: list[str], *, verify: bool
) -> TradeActorsError:
    beside = _rest_captures_beside(paths)
    what = f"no depth snapshot in the capture for {', '.join(symbols)}"
    if beside:
        files = " ".join(str(p) for p in [*beside[:1], *paths])
        command = f"tradeactors replay --venue binance{' --verify' if verify else ''} {files}"
        return TradeActorsError(
            f"{what}: a Binance book starts from a REST /api/v3/depth answer, and "
            f"{beside[0]} beside it has them: {command}"
        )
    return TradeActorsError(
        f"{what}: a Binance book starts from a REST /api/v3/depth answer; give the capture "
        f"of those answers too (cryptofeed writes them to a separate *.http.* file)"
    )


def run_replay(
    paths: Iterable[str | Path],
    venue: Venue,
    *,
    frames: list[Frame] | None = None,
    verify: bool = False,
    pace: Literal["full", "recorded"] = "full",
    speed: float = 1.0,
    registry: CollectorRegistry | None = None,
    timeout: float = 300.0,
    instrument_file: str | Path | None = None,
) -> ReplaySummary:
    """Replay captures (or ``frames``, e.g. synthetic ones) through feed and book actors.

    See the module docstring. ``instrument_file``: where the ticks of known instruments
    come from (None: ``config/instruments.toml`` of a source checkout, if there is one).

    Raises:
        TradeActorsError: no instrument found in the capture, a Binance capture with no
            depth snapshot at all (naming the capture of them beside it, if any), or the
            replay overran ``timeout`` seconds.
        ConfigError: the instrument file cannot be read or is wrong.

    """
    paths = list(paths)
    frames = load_frames(paths) if frames is None else frames
    instruments, depths = _instruments(venue, frames, _saved_instruments(instrument_file))
    if not instruments:
        raise TradeActorsError(f"no {venue} instrument found in the capture")
    if venue == "binance" and not _snapshot_symbols(frames, instruments):
        raise _no_snapshot_error(paths, list(instruments), verify=verify)
    done = threading.Event()
    metrics = MarketDataMetrics(registry) if registry is not None else None
    feed_path = "market_data/feed"
    books = tuple(
        ChildSpec(
            name=book_name(symbol),
            actor=BookActor,
            args=(venue, instrument, feed_path),
            kwargs={
                "verify": verify,
                "metrics": metrics,
                "max_depth": depths.get(symbol, 1000),
            },
        )
        for symbol, instrument in instruments.items()
    )
    spec = SupervisorSpec(
        name="replay",
        children=(
            SupervisorSpec(
                name="market_data",
                strategy=Strategy.REST_FOR_ONE,
                children=(
                    ChildSpec(
                        name="feed",
                        actor=ReplayFeed,
                        args=(venue, frames),
                        kwargs={
                            "symbols": tuple(instruments),
                            "books_path": "market_data",
                            "done": done,
                            "metrics": metrics,
                            "pace": pace,
                            "speed": speed,
                            "route_tickers": verify,
                        },
                    ),
                    *books,
                ),
            ),
        ),
    )
    # a tree that fails (a feed crash-looping past its intensity) ends the wait too
    with Supervisor(spec, registry=registry, on_escalation=lambda _error: done.set()) as tree:
        if not done.wait(timeout):
            raise TradeActorsError(f"replay did not finish within {timeout} s")
        if tree.failure is not None:
            raise TradeActorsError(f"replay failed: {tree.failure!r}") from tree.failure
        feed: FeedStats = tree.address(feed_path).ask(GetReport(), timeout=timeout)
        reports = {
            symbol: tree.address(f"market_data/{book_name(symbol)}").ask(
                GetReport(), timeout=timeout
            )
            for symbol in instruments
        }
    return ReplaySummary(venue=venue, feed=feed, books=reports)
