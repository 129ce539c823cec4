"""Paper trading: the live tree against a real market, with the backtest's venue model.

``[venue] kind = "paper"`` (docs/paper.md). The tree is the usual one, but the gateway's
place under ``execution`` is taken by `tradeactors.actors.paper.PaperExecution`, which
runs `tradeactors.venues.paper.PaperVenue` (the backtest's venue: latency, queue
position, fees) on the frames the feed reads. The market (``[paper] market``: Binance
or Kraken) is ``[paper] capture`` (a recorded capture of it) or ``[paper] url`` (its
live stream, with ``rest_url`` for the instrument's steps, and Binance's depth
snapshots). The paper venue reads the frames through the market's venue adapter
(`tradeactors.venues.adapter.MarketData`), with the book's depth the feed subscribed
(Kraken: ``[venue] book_depth``, or the depth a capture says it was recorded at).

Two paces:

- ``recorded``: the system clock; a capture is replayed at its recorded pace
  (`ReplayFeed`, ``speed`` times faster), a live stream as it comes.
- ``lockstep`` (a capture only): the tree's clock is a `FakeClock` in the capture's
  time, and `LockstepDriver` releases the next frame only when the tree is quiescent.
  The market maker's fills then equal ``tradeactors backtest``'s on the same capture.

Quiescence is decided exactly, not by waiting: `settle` asks every actor
of the tree a no-op (pykka's own attribute read), waits for every answer, and repeats
until a whole round went by in which no actor handled anything else. An actor busy, or
a message queued anywhere, when a round starts is handled before that actor answers,
and counted; anything it sends is handled before the round's last answer, or by a
handler still running, which is counted before the next round ends. So two rounds in
a row with the same count mean no message is left and no handler runs. Nothing outside
the tree may send meanwhile: the driver is the only one (it fires the clock's timers
and hands the feed its frames between settles); an operator's command (``kill``)
sent at that moment is simply handled in the next step.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import msgspec
import structlog
from pykka.messages import ProxyGetAttr

from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import MarketDataKind
from tradeactors.errors import CaptureFormatError, ConfigError, FrameDroppedError, TradeActorsError
from tradeactors.venues import binance
from tradeactors.venues.adapter import venue_adapter
from tradeactors.venues.capture import read_capture
from tradeactors.venues.instrument_file import load_instrument_file
from tradeactors.venues.paper import PaperVenue, VenueModel

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tradeactors.config import Config
    from tradeactors.supervision import Supervisor
    from tradeactors.venues.adapter import MarketData
    from tradeactors.venues.capture import Frame

__all__ = ["MARKETS", "LockstepDriver", "PaperMarket", "settle"]

MARKETS = ("binance", "kraken")
"""The markets a paper venue reads: Binance spot (depth diffs, depth snapshots, trades) and
Kraken spot (the ``book`` channel with its checksum, the ``trade`` channel)."""

_ACTED_ON = (MarketDataKind.BOOK, MarketDataKind.TRADE)
_PING = ProxyGetAttr(attr_path=("__class__",))  # answered by pykka itself, by every actor


class PaperMarket:
    """The market of a paper system: its frames (a capture's) or its URLs, and the instrument.

    ``book_depth``: the levels a side the books keep where the venue's sync rule bounds
    them (Kraken's checksummed book): ``[venue] book_depth``, or on a capture that says
    the depth it was recorded at (Kraken v1's ``book-1000``), that depth.

    Raises:
        ConfigError: an unreadable capture or one without book updates of the symbol, a
            market other than Binance or Kraken, or steps neither configured nor in the
            instrument file (for a capture).

    """

    def __init__(self, config: Config) -> None:
        paper, venue = config.paper, config.venue
        if paper.market not in MARKETS:
            raise ConfigError(
                f"[paper] market {paper.market!r}: paper trading reads {', '.join(MARKETS)} "
                "markets only"
            )
        self.config = paper
        self.symbol = venue.symbol
        self._market_data = venue_adapter(paper.market).market_data
        self.book_depth = venue.book_depth
        self.frames: tuple[Frame, ...] = ()
        self.instrument: Instrument | None = None  # None: ask the venue at start (live)
        if paper.capture:
            self.frames = _read(paper.capture)
            if paper.market == "binance":
                _check_has_depth(self.frames, venue.symbol, paper.capture)
            else:
                recorded = _check_has_book(
                    self.frames, venue.symbol, paper.capture, paper.market, self._market_data
                )
                self.book_depth = recorded or self.book_depth
            self.instrument = _offline_instrument(
                venue.name, paper.market, venue.symbol, venue.tick_size, venue.lot_size
            )
        elif venue.tick_size and venue.lot_size:
            self.instrument = Instrument(
                venue=venue.name,
                symbol=venue.symbol,
                tick_size=venue.tick_size,
                lot_size=venue.lot_size,
            )

    @property
    def lockstep(self) -> bool:
        """Whether the tree runs in the capture's time, a frame at a time."""
        return self.config.pace == "lockstep"

    def clock(self) -> FakeClock:
        """The lockstep tree's clock: the capture's first receive time, wall = monotonic."""
        first = self.frames[0].received_ns if self.frames else 0
        return FakeClock(first, wall_offset_ns=0)

    def inert(self, frame: Frame) -> bool:
        """Whether ``frame`` holds nothing the tree acts on (no book update, no trade)."""
        if frame.source == "rest":
            return False
        try:
            events = self._market_data.decode(frame)
        except FrameDroppedError:
            return True  # the feed drops it, the venue cannot read it
        return not any(
            event.kind in _ACTED_ON and event.symbol in (self.symbol, "") for event in events
        )

    def model(self, instrument: Instrument, venue: str) -> PaperVenue:
        """A new paper venue for ``instrument``."""
        return PaperVenue(
            instrument,
            VenueModel.of(self.config),
            venue=venue,
            market=self._market_data,
            book_depth=self.book_depth,
        )


def _read(path: str) -> tuple[Frame, ...]:
    try:
        return tuple(read_capture(path))
    except OSError as exc:
        raise ConfigError(f"[paper] capture {path}: cannot read it: {exc.strerror or exc}") from exc
    except CaptureFormatError as exc:
        raise ConfigError(f"[paper] capture {path}: {exc}") from exc


def _check_has_depth(frames: Sequence[Frame], symbol: str, path: str) -> None:
    """Raise `ConfigError` unless ``frames`` hold Binance depth updates of ``symbol``."""
    symbols: dict[str, None] = {}
    for frame in frames:
        if frame.source != "ws" or '"depthUpdate"' not in frame.payload:
            continue
        try:
            _kind, event = binance.decode_frame(frame.payload)
        except (msgspec.DecodeError, ValueError):
            continue
        if isinstance(event, binance.DepthUpdate):
            if event.s == symbol:
                return
            symbols[event.s] = None
    if not symbols:
        raise ConfigError(
            f"[paper] capture {path} has no Binance depth updates (depthUpdate): with "
            '[paper] market = "binance" it replays Binance captures only (a Kraken '
            'capture: market = "kraken")'
        )
    raise ConfigError(
        f"[paper] capture {path} has no depth updates of {symbol} (it has: "
        f"{', '.join(symbols)}); set [venue] symbol to one of them"
    )


def _check_has_book(
    frames: Sequence[Frame], symbol: str, path: str, market: str, market_data: MarketData
) -> int | None:
    """The depth the capture says its book of ``symbol`` was recorded at (None: it does not).

    Raises:
        ConfigError: ``frames`` hold no book message of ``symbol`` (the venue's decoder
            finds none, or only other symbols').

    """
    symbols: dict[str, None] = {}
    depth: int | None = None
    found = False
    for frame in frames:
        try:
            events = market_data.decode(frame)
        except FrameDroppedError:
            continue
        for event in events:
            if event.kind is not MarketDataKind.BOOK:
                continue
            if event.symbol != symbol:
                symbols[event.symbol] = None
                continue
            found = True
            # a venue whose book messages say the subscribed depth (Kraken v1's book-N)
            stated = getattr(event.data, "depth", None)
            if depth is None and isinstance(stated, int):
                depth = stated
    if found:
        return depth
    if not symbols:
        raise ConfigError(
            f"[paper] capture {path} has no {market} book messages: with [paper] market = "
            f'"{market}" it replays {market} captures only'
        )
    raise ConfigError(
        f"[paper] capture {path} has no book updates of {symbol} (it has: "
        f"{', '.join(symbols)}); set [venue] symbol to one of them"
    )


def _offline_instrument(name: str, market: str, symbol: str, tick: str, lot: str) -> Instrument:
    """The configured steps, or the instrument file's (`config/instruments.toml`)."""
    if not (tick and lot):
        try:
            instruments = load_instrument_file()
        except ConfigError as exc:
            raise ConfigError(f"{exc}; or give [venue] tick_size and lot_size") from exc
        saved = instruments.get(market, symbol)
        if saved is None:
            raise ConfigError(
                f"{symbol} is not in {instruments.path}: give [venue] tick_size and lot_size "
                f"(or add [{market}.{symbol}] to that file)"
            )
        tick, lot = tick or saved.tick_size, lot or saved.lot_size
    return Instrument(venue=name, symbol=symbol, tick_size=tick, lot_size=lot)


class LockstepDriver:
    """Steps a tree on a `FakeClock` through a capture, one event at a time.

    Each step is the earliest of: the clock's next timer (the paper venue's next
    arrival or answer, a strategy's timer, the kill switch's watch), fired at its own
    time; or the next frame, handed to the feed at its receive time (a timer due at the
    same nanosecond goes first, as the backtest runs what is due before a frame). After
    each step the driver waits until the tree is quiescent (`settle`), but after a frame
    that changes nothing (``inert``: no book update or trade of the instrument in it,
    e.g. a ``bookTicker``; the feed and the venue read it and do nothing) when the next
    frame comes before any timer: nothing can happen in between.

    When the capture is over, `finished` is set; the driver then follows only what the
    paper venue still has to do (the answers in flight, and the cancels of the stop),
    moving the clock to each, and otherwise waits to be nudged (`poke`) until `stop`.
    """

    def __init__(
        self,
        tree: Supervisor,
        clock: FakeClock,
        frames: Sequence[Frame],
        *,
        feed_path: str,
        model: PaperVenue,
        inert: Callable[[Frame], bool] = lambda _frame: False,
        timeout: float = 30.0,
    ) -> None:
        self._tree = tree
        self._clock = clock
        self._frames = frames
        self._feed = tree.address(feed_path)
        self._model = model
        self._inert = inert
        self._timeout = timeout
        self.finished = threading.Event()
        """Set once every frame was handed over and the tree settled after it."""
        self.drained = threading.Event()
        """Set whenever, after the capture, the paper venue has nothing left to do."""
        self.error: BaseException | None = None
        self.steps = 0
        self.settles = 0
        self._stop = threading.Event()
        self._nudged = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = structlog.get_logger("tradeactors.paper")

    def start(self) -> None:
        """Step on a thread of its own (a greenlet under gevent)."""
        self._thread = threading.Thread(target=self._run, name="paper-lockstep", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Something was scheduled at the paper venue: look again (called by its actor)."""
        self._nudged.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop stepping (before the tree stops: it asks the actors)."""
        self._stop.set()
        self._nudged.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._steps()
        except Exception as exc:  # noqa: BLE001 - said, and the run ends as at the capture's end
            self.error = exc
            self._log.error("lockstep_failed", error=repr(exc))
            self.finished.set()

    def _steps(self) -> None:
        clock, stop, frames, inert = self._clock, self._stop, self._frames, self._inert
        self.settle()
        for index, frame in enumerate(frames):
            when = frame.received_ns
            while not stop.is_set():
                due = clock.next_due_ns()
                if due is None or due > when:
                    break
                self._step(due)
            if stop.is_set():
                return
            clock.advance_to(when)
            self._feed.tell(frame)
            self.steps += 1
            after = frames[index + 1].received_ns if index + 1 < len(frames) else None
            due = clock.next_due_ns()
            if index and after is not None and (due is None or due > after) and inert(frame):
                continue  # nothing to wait for (see the class doc)
            self.settle()
        self.settle()
        self.finished.set()
        self._log.info("capture_replayed", frames=len(self._frames), steps=self.steps)
        while not stop.is_set():
            if self._model.next_due_ns() is None:
                self.drained.set()
                self._nudged.wait(1.0)  # a nudge, or a look now and then
                self._nudged.clear()
                self.settle()
                continue
            self.drained.clear()
            due = clock.next_due_ns()
            if due is None:  # the venue's wake-up is not armed yet: settle and look again
                self.settle()
                continue
            self._step(due)

    def _step(self, due: int) -> None:
        self._clock.advance_to(due)
        self.steps += 1
        self.settle()

    def settle(self) -> None:
        """Return once every actor of the tree is idle with an empty mailbox (`settle`)."""
        if settle(self._tree, timeout=self._timeout, stopping=self._stop) is not None:
            self.settles += 1


def settle(
    tree: Supervisor, *, timeout: float = 30.0, stopping: threading.Event | None = None
) -> int | None:
    """Return once every actor of ``tree`` is idle with an empty mailbox (see the module doc).

    Nothing outside the tree may send to it meanwhile. Returns the rounds of asks it
    took (two at least), or None if ``stopping`` was set and an actor did not answer.

    Raises:
        TradeActorsError: an actor did not answer within ``timeout``.

    """
    paths = tree.paths()
    addresses = [tree.address(path) for path in paths]
    stats = [tree.stats(path) for path in paths]
    last: int | None = None
    rounds = 0
    while True:
        futures = [a.ask_future(_PING) for a in addresses if not a.is_closed()]
        for future in futures:
            try:
                future.get(timeout=timeout)
            except Exception as exc:
                if stopping is not None and stopping.is_set():
                    return None  # the tree is stopping: nothing to settle
                raise TradeActorsError(f"the tree did not settle: {exc!r}") from exc
        total = sum(_handled(s.processed) for s in stats)
        rounds += 1
        if total == last:
            return rounds
        last = total


def _handled(processed: dict[type, int]) -> int:
    """Messages handled, but the driver's own pings."""
    counts = processed.copy()
    return sum(counts.values()) - counts.get(ProxyGetAttr, 0)
