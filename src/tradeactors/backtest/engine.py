"""A deterministic, single-threaded backtest of one strategy on a recorded capture.

The recorded frames are replayed in receive-time order through the same book code as
live (`tradeactors.venues.binance.DepthSync`, `OrderBook`, `BookView`), and the same
`Strategy` object gets the same callbacks. Its orders go to the paper venue
(`tradeactors.venues.paper.PaperVenue`, the model paper trading runs too):

- **latency**: an order or cancel reaches the venue ``order_latency`` after the
  strategy sent it (constant, or drawn per message from a seeded log-normal); the
  venue's answer reaches the strategy ``response_latency`` later. Market data reaches
  the strategy at its recorded receive time (the feed latency is in the recording);
- **matching**: at arrival, a marketable order takes the recorded book's opposite
  levels up to its limit, level by level (taker fee), without taking more than a
  level shows (what it took is remembered until that level next changes); a post-only
  order that would take is rejected; the rest of a GTC order rests;
- **queue position** of a resting order: the recorded size at its price when it
  arrived is ahead of it. ``conservative``: the queue advances only by recorded trades
  at that price; ``probabilistic``: also by a share of each size decrease at that level
  not explained by trades, in proportion to the part of the level ahead of the order.
  A trade through its price, or the opposite side of the book reaching it, fills it
  (maker fee);
- **fees** in basis points of notional (negative: a rebate);
- **amends** (``ctx.amend``) reach the venue ``order_latency`` later, like cancels: a
  lower quantity at the same price keeps the order's queue position; a new price or a
  higher quantity loses it (the order goes to the back of the queue at its price, and
  takes at once if the new price crosses; a post-only one that would cross is refused
  and stays as it was). An amend of an order that is no longer resting, or that would
  leave nothing open, is refused. As live, one amend at a time per order: a second one
  before the first is answered is denied ``amend_pending`` at once.

The report says how much of the capture the book followed: the depth updates of the
instrument seen and applied, the seconds in sync, and every loss of sync (gap, bad
level, crossed book) with when it resynced. Only Binance captures (diffs and a REST
depth snapshot) can be replayed. A REST snapshot applies to the symbol in its URL;
one without a URL (hftbacktest's) only when diffs of the instrument wait for it, so
the snapshot of another symbol is never taken for this one's. `BacktestReport.problem`
says when the report cannot be trusted: no data for the instrument, a book that never
synced, or one that lost sync and never resynced.

Same inputs, same report, byte for byte: no wall clock, no unseeded randomness, and
ties in time are broken by a sequence number.

A backtest replays one instrument: the strategy's ``ctx.instruments`` is that one
symbol, a ``ctx.submit`` of another raises ValueError, and `run_backtest` refuses a
strategy configured with several (``instruments=``).
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from tradeactors.backtest.cache import CompiledCapture
from tradeactors.backtest.journal import BacktestJournal
from tradeactors.core.messages import (
    AmendOutcome,
    DenyReason,
    OrderUpdate,
    Side,
    TimeInForce,
    TradeTick,
)
from tradeactors.strategy.api import OrderTracking, Strategy, describe, view_depth_of
from tradeactors.venues.binance import BinanceMarketData
from tradeactors.venues.paper import (
    FillPoint,
    PaperVenue,
    QueueModel,
    Sample,
    SyncLoss,
    VenueModel,
    money,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Sequence

    from tradeactors.core.book import OrderBook
    from tradeactors.core.instrument import Instrument
    from tradeactors.strategy.api import OpenOrder
    from tradeactors.venues.adapter import MarketData
    from tradeactors.venues.binance import DepthSync
    from tradeactors.venues.capture import Frame

__all__ = [
    "BacktestConfig",
    "BacktestReport",
    "FillPoint",
    "Sample",
    "SyncLoss",
    "run_backtest",
    "venue_report",
]


class BacktestConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the simulated venue behaves."""

    order_latency_ms: float = 5.0  # strategy -> venue (median if lognormal)
    response_latency_ms: float = 5.0  # venue -> strategy
    latency_sigma: float = 0.0  # > 0: per message log-normal around the medians
    seed: int = 1
    queue: QueueModel = "conservative"
    maker_fee_bps: float = 1.0
    taker_fee_bps: float = 5.0
    depth: int = 20  # levels in the book views the strategy gets
    sample_interval_s: float = 1.0  # of the inventory / PnL series in the report

    def __post_init__(self) -> None:
        if self.order_latency_ms < 0 or self.response_latency_ms < 0 or self.latency_sigma < 0:
            raise ValueError("latencies and latency_sigma must not be negative")
        if self.depth < 1 or not self.sample_interval_s > 0:
            raise ValueError("depth must be >= 1 and sample_interval_s positive")


_REASONS = {"gap": "a gap", "bad_level": "a bad level", "crossed": "a crossed book"}


class BacktestReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the strategy did and earned (money in the quote currency).

    ``book_updates`` counts the books the strategy saw; ``book_updates_seen`` the depth
    updates of the instrument in the capture, ``book_updates_applied`` those applied to
    the book in sync (directly, or replayed after a snapshot). ``synced_s`` is how long
    the book was in sync, of the ``duration_s`` replayed; ``first_synced_s`` when it
    first was (None: never). ``series`` positions are in lots; ``fill_series``
    quantities in base units.
    """

    strategy: str
    params: dict[str, Any]
    instrument: str
    tick_size: str  # the instrument's price step
    lot_size: str  # its order lot: the unit of ``series`` positions
    config: BacktestConfig
    frames: int
    book_updates: int
    book_updates_seen: int
    book_updates_applied: int
    snapshots: int  # depth snapshots of the instrument offered to the book
    synced_s: float
    first_synced_s: float | None
    synced_at_end: bool
    sync_losses: list[SyncLoss]
    trades_seen: int
    events: int
    duration_s: float
    orders_sent: int
    orders_cancelled: int
    orders_rejected: int
    fills: int
    maker_fills: int
    taker_fills: int
    volume: float  # in the instrument's base unit
    fill_ratio: float  # filled quantity / submitted quantity
    realized_pnl: float
    unrealized_pnl: float
    fees: float
    net_pnl: float
    max_drawdown: float
    final_position: float
    series: list[Sample]
    fill_series: list[FillPoint]

    @property
    def synced_percent(self) -> float:
        """The percentage of the replayed time the book was in sync, rounded *down* to 0.1.

        100.0 only if it was in sync all the time (99.96 shows as 99.9).
        """
        if self.duration_s <= 0:
            return 100.0 if self.synced_at_end else 0.0
        return math.floor(min(1.0, self.synced_s / self.duration_s) * 1000) / 10

    def problem(self) -> str | None:
        """Why the report cannot be trusted, in one sentence; None if it can.

        No depth data for the instrument; a book that never synced (no snapshot of it,
        or none that fitted its updates); a book that lost sync and never resynced.
        """
        symbol = self.instrument
        if not self.book_updates_seen and not self.snapshots:
            return f"the capture has no depth updates or snapshots of {symbol}"
        if self.first_synced_s is None:
            if not self.book_updates_seen:
                return f"the capture has no depth updates of {symbol}, only a snapshot"
            if not self.snapshots:
                return (
                    f"the {symbol} book never synced: the capture has no depth snapshot "
                    f"of it (a REST /api/v3/depth answer) to start from"
                )
            return (
                f"the {symbol} book never synced: none of the capture's {self.snapshots} "
                f"depth snapshots of it fitted its depth updates"
            )
        if not self.synced_at_end and self.sync_losses:
            loss = self.sync_losses[-1]
            return (
                f"the {symbol} book lost sync at {loss.t:.1f} s "
                f"({_REASONS.get(loss.reason, loss.reason)} at update {loss.update_id}) and "
                f"never resynced: {self.book_updates_applied} of {self.book_updates_seen} "
                f"depth updates applied, in sync {self.synced_percent:.1f}% of the time"
            )
        return None


class _Context(OrderTracking):
    """The `StrategyContext` of a backtest: commands become timed venue events."""

    def __init__(self, engine: _Engine) -> None:
        name = describe(engine.strategy)
        log = structlog.get_logger("tradeactors.backtest")
        super().__init__(log, (engine.instrument.symbol,), name=name)
        self._engine = engine
        self._ids = itertools.count(1)

    @property
    def now_ns(self) -> int:
        return self._engine.venue.now_ns

    def submit(
        self,
        *,
        side: Side,
        price: int,
        quantity: int,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        instrument: str | None = None,
    ) -> str:
        self.instrument_for(instrument)  # raises for one it does not trade
        coid = f"bt-{next(self._ids)}"
        self.track(coid, side=side, price=price, quantity=quantity)
        self._engine.venue.submit(
            coid, side=side, price=price, quantity=quantity, tif=tif, post_only=post_only
        )
        return coid

    def cancel(self, client_order_id: str) -> None:
        if self.is_open(client_order_id):
            self._engine.venue.cancel(client_order_id)

    def amend(
        self, client_order_id: str, *, price: int | None = None, quantity: int | None = None
    ) -> None:
        if self.is_open(client_order_id):
            self._engine.amend(client_order_id, price=price, quantity=quantity)

    def deny_later(self, client_order_id: str, reason: DenyReason) -> None:
        """Deny an amend of an open order: told as its own event, with the terms then."""
        asked = self._orders[client_order_id]
        engine = self._engine

        def deny() -> None:
            order = self._orders.get(client_order_id, asked)  # (asked: it ended meanwhile)
            engine.deliver(self._denied(order, reason))

        engine.venue.at(engine.venue.now_ns, deny)

    def _denied(self, order: OpenOrder, reason: DenyReason) -> OrderUpdate:
        client_order_id = order.client_order_id
        return OrderUpdate(
            client_order_id=client_order_id,
            venue=self._engine.venue.venue,
            instrument=self.instrument,
            side=order.side,
            price=order.price,
            quantity=order.quantity,
            status=order.status,
            filled=order.filled,
            reason=reason,
            amend=AmendOutcome.DENIED,
        )

    def cancel_all(self, instrument: str | None = None) -> None:
        for order in self.open_orders(instrument):
            self._engine.venue.cancel(order.client_order_id)

    def set_timer(self, name: str, delay: float) -> None:
        self._engine.set_timer(name, delay)


class _Engine:
    """The strategy, in the same thread as the paper venue it trades at."""

    def __init__(
        self,
        instrument: Instrument,
        strategy: Strategy,
        config: BacktestConfig,
        *,
        market: MarketData | None = None,
        book_depth: int = 1000,
        depth_sync: DepthSync | None = None,
    ) -> None:
        self.instrument = instrument
        self.journal: BacktestJournal | None = None  # set by `run_backtest` if it keeps one
        self.strategy = strategy
        self.config = config
        # as live: the depth the strategy asked for (`Strategy.view_depth`), else the config's
        self.depth = view_depth_of(strategy) or config.depth  # ValueError: no depth
        self.venue = PaperVenue(
            instrument,
            VenueModel.of(config),
            venue="backtest",
            deliver=self.deliver,
            on_book=self._on_book,
            on_trade=self._on_trade if _hears_trades(strategy) else None,
            sample_interval_s=config.sample_interval_s,
            market=market,
            book_depth=book_depth,
            depth_sync=depth_sync,
        )
        self._timers: dict[str, int] = {}
        self._amending: set[str] = set()  # amends sent, their answers not yet delivered
        self.stopped = False
        self.ctx = _Context(self)

    def amend(self, coid: str, *, price: int | None, quantity: int | None) -> None:
        """An amend from the strategy: to the venue, unless one is already in flight."""
        venue = self.venue
        if coid in self._amending:  # as live: one at a time
            self.ctx.deny_later(coid, DenyReason.AMEND_PENDING)
            return
        if venue.amend(coid, price=price, quantity=quantity):
            self._amending.add(coid)

    def set_timer(self, name: str, delay: float) -> None:
        venue = self.venue
        token = next(venue.seq)
        self._timers[name] = token

        def fire() -> None:
            if not self.stopped and self._timers.get(name) == token:
                del self._timers[name]
                self.strategy.on_timer(self.ctx, name)

        venue.at(venue.now_ns + max(0, int(delay * 1e9)), fire)

    def deliver(self, update: OrderUpdate) -> None:
        """An update reaches the strategy (its delivery time)."""
        if self.journal is not None:  # as live: recorded before the strategy hears it
            self.journal.record(self.venue.now_ns, update)
        if update.amend is not None and update.amend is not AmendOutcome.DENIED:
            self._amending.discard(update.client_order_id)  # answered: the next may go
        self.ctx.apply(update)
        if self.stopped:
            return  # nothing reaches a stopped strategy (as live: its actor is gone)
        self.strategy.on_order_update(self.ctx, update)
        if update.fill_quantity:
            self.strategy.on_fill(self.ctx, update)

    def _on_book(self, book: OrderBook) -> None:
        self.strategy.on_book(self.ctx, book.view(self.depth, self.venue.now_ns))

    def _on_trade(self, trade: TradeTick) -> None:
        self.strategy.on_trade(self.ctx, trade)


def _hears_trades(strategy: Strategy) -> bool:
    """Whether ``strategy`` does something with public trades (not `Strategy`'s no-op)."""
    return getattr(strategy.on_trade, "__func__", None) is not Strategy.on_trade


def run_backtest(
    frames: Iterable[Frame] | CompiledCapture,
    instrument: Instrument,
    strategy: Strategy,
    config: BacktestConfig | None = None,
    *,
    params: dict[str, Any] | None = None,
    market: MarketData | None = None,
    book_depth: int = 1000,
    instruments: Sequence[str] | None = None,
    journal: str | os.PathLike[str] | None = None,
) -> BacktestReport:
    """Replay ``frames`` through ``strategy`` against the simulated venue; the report.

    ``frames`` may be a `CompiledCapture` of ``instrument`` (`tradeactors.backtest.cache`,
    Binance's market data only): the same report as from the frames it was made from,
    without decoding and parsing them again.

    ``market``: the venue adapter's market data the frames are read with (None:
    Binance's, see `PaperVenue`), its books kept ``book_depth`` levels a side where the
    venue's rule bounds them (Kraken's: the depth the capture was recorded at).
    ``instruments``: the symbols the strategy is configured to trade (a
    ``[[strategies]]`` entry's), if any: a backtest replays one instrument, so anything
    but ``instrument``'s symbol alone is refused (ValueError) before anything runs.
    ``journal``: a new file to write the run's journal to (`BacktestJournal`: the
    order updates the strategy hears and the final position, in the live format), made
    before anything runs; the report is the same with or without it.

    Raises:
        JournalError: ``journal`` exists (`JournalExistsError`), cannot be made or
            written (`JournalUnavailableError`).

    """
    if instruments is not None:
        wanted = (instruments,) if isinstance(instruments, str) else tuple(instruments)
        if wanted != (instrument.symbol,):
            raise ValueError(
                f"a backtest replays one instrument ({instrument.symbol}); strategy "
                f"{describe(strategy)!r} is configured to trade {', '.join(wanted) or 'none'}"
            )
    config = config or BacktestConfig()
    depth_sync = None
    if isinstance(frames, CompiledCapture):
        if market is not None and not isinstance(market, BinanceMarketData):
            raise ValueError("a compiled capture holds Binance market data only")
        if frames.instrument != instrument:
            raise ValueError(
                f"the compiled capture was read for {frames.instrument.key}, "
                f"not {instrument.key} ({instrument.tick_size}, {instrument.lot_size})"
            )
        depth_sync = frames.depth_sync()
    engine = _Engine(
        instrument, strategy, config, market=market, book_depth=book_depth, depth_sync=depth_sync
    )
    if journal is None:
        return _replay(frames, engine, params)
    with BacktestJournal(journal, instrument=instrument, strategy=describe(strategy)) as record:
        engine.journal = record
        return _replay(frames, engine, params)


def _replay(
    frames: Iterable[Frame] | CompiledCapture, engine: _Engine, params: dict[str, Any] | None
) -> BacktestReport:
    """`run_backtest` once its arguments are checked (and its journal, if any, made)."""
    strategy, config, journal = engine.strategy, engine.config, engine.journal
    venue = engine.venue
    ctx = engine.ctx

    def start(first_ns: int) -> None:
        venue.now_ns = first_ns
        strategy.on_start(ctx)

    if isinstance(frames, CompiledCapture):
        frames.replay(venue, start)
    else:
        started = False
        for frame in frames:
            if not started:
                start(frame.received_ns)
                started = True
            venue.on_frame(frame)
    venue.run_until(venue.now_ns)
    strategy.on_stop(ctx)
    engine.stopped = True
    venue.run_until(None)  # the stop's cancels and their answers (not passed on)
    venue.finish()
    if journal is not None:
        journal.finish(venue.now_ns, venue.ledger.net)
    return venue_report(venue, describe(strategy), params or {}, config)


def venue_report(
    venue: PaperVenue, strategy: str, params: dict[str, Any], config: BacktestConfig
) -> BacktestReport:
    """The report of what was done at ``venue`` (after `PaperVenue.finish`)."""
    instrument = venue.instrument
    first_synced = venue.first_synced_ns
    mid = venue.last_mid if venue.last_mid is not None else Fraction(0)
    value = venue.value
    ledger = venue.ledger
    realized = ledger.realized
    unrealized = (mid - ledger.average_price) * ledger.net if ledger.net else Fraction(0)
    realized_and_unrealized = realized + unrealized
    counts = venue.counts
    submitted = counts["submitted_qty"]
    lot = Fraction(instrument.lot_size)
    start = venue.start_ns or 0
    return BacktestReport(
        strategy=strategy,
        params=dict(params),
        instrument=instrument.symbol,
        tick_size=instrument.tick_size,
        lot_size=instrument.lot_size,
        config=config,
        frames=venue.frames,
        book_updates=venue.books,
        book_updates_seen=venue.updates_seen,
        book_updates_applied=venue.updates_applied,
        snapshots=venue.snapshots,
        synced_s=round(venue.synced_ns / 1e9, 6),
        first_synced_s=None if first_synced is None else venue.seconds(first_synced),
        synced_at_end=venue.sync.synced,
        sync_losses=venue.losses,
        trades_seen=venue.trades,
        events=venue.events,
        duration_s=round((venue.last_frame_ns - start) / 1e9, 6) if venue.frames else 0.0,
        orders_sent=counts["sent"],
        orders_cancelled=counts["cancelled"],
        orders_rejected=counts["rejected"],
        fills=counts["fills"],
        maker_fills=counts["maker"],
        taker_fills=counts["taker"],
        volume=money(venue.volume * lot),
        fill_ratio=round(venue.volume / submitted, 8) if submitted else 0.0,
        realized_pnl=money(realized * value),
        unrealized_pnl=money(unrealized * value),
        fees=money(venue.fees * value),
        net_pnl=money((realized_and_unrealized - venue.fees) * value),
        max_drawdown=money(venue.max_drawdown * value),
        final_position=money(venue.ledger.net * lot),
        series=venue.series,
        fill_series=venue.fill_series,
    )
