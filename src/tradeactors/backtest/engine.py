"""A deterministic, single-threaded backtest of one strategy on a recorded capture.

The recorded frames are replayed in receive-time order through the same book code as
live (`tradeactors.venues.binance.DepthSync`, `OrderBook`, `BookView`), and the same
`Strategy` object gets the same callbacks. Its orders go to a simulated venue:

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
- **amends** reach the venue ``order_latency`` later, like cancels: a lower quantity at
  the same price keeps the order's queue position; a new price or a higher quantity
  loses it (the order goes to the back of the queue at its price, and takes at once if
  the new price crosses; a post-only one that would cross is refused and stays as it
  was). An amend of an order that is no longer resting, or that would leave nothing
  open, is refused. As live, one amend at a time per order (``amend_pending``).

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
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import structlog

from tradeactors.core.messages import (
    AmendOutcome,
    DenyReason,
    OrderStatus,
    OrderUpdate,
    Side,
    TimeInForce,
    TradeTick,
)
from tradeactors.core.orders import Position
from tradeactors.strategy.api import ENDED, OrderTracking, describe
from tradeactors.venues import binance

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tradeactors.core.book import OrderBook
    from tradeactors.core.instrument import Instrument
    from tradeactors.strategy.api import Strategy
    from tradeactors.venues.capture import Frame

__all__ = ["BacktestConfig", "BacktestReport", "FillPoint", "Sample", "SyncLoss", "run_backtest"]

QueueModel = Literal["conservative", "probabilistic"]


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


class Sample(msgspec.Struct, frozen=True, array_like=True):
    """One point of the report's series: seconds from the start, and the state then.

    ``position`` in base units (as ``final_position``), ``mid`` and ``pnl`` (net) in the
    quote currency.
    """

    t: float
    position: float
    mid: float
    pnl: float


class FillPoint(msgspec.Struct, frozen=True, array_like=True):
    """One fill: seconds from the start, side, price (quote currency), quantity (base units)."""

    t: float
    side: Side
    price: float
    quantity: float
    maker: bool


class SyncLoss(msgspec.Struct, frozen=True, kw_only=True):
    """The book lost sync ``t`` s from the start, and resynced at ``resynced_t`` (or never).

    ``reason``: ``gap`` (an update missing from the stream), ``bad_level`` (a level the
    book cannot hold) or ``crossed`` (an update left the book crossed); ``update_id``:
    the last update id of the event that broke it.
    """

    t: float
    reason: str
    update_id: int
    resynced_t: float | None = None


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


class _SimOrder:
    __slots__ = (
        "amending",
        "buy",
        "client_order_id",
        "filled",
        "post_only",
        "price",
        "quantity",
        "queue_ahead",
        "resting",
        "side",
        "status",
        "tif",
    )

    def __init__(
        self, coid: str, *, side: Side, price: int, quantity: int, tif: TimeInForce, post_only: bool
    ) -> None:
        self.client_order_id = coid
        self.side = side
        self.buy = side is Side.BUY  # which side of the book it rests on (bid?)
        self.price = price
        self.quantity = quantity
        self.tif = tif
        self.post_only = post_only
        self.filled = 0
        self.status = OrderStatus.PENDING
        self.queue_ahead = 0
        self.resting = False
        self.amending = False  # an amend sent, its outcome not yet delivered

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled


class _Context(OrderTracking):
    """The `StrategyContext` of a backtest: commands become timed venue events."""

    def __init__(self, engine: _Engine) -> None:
        super().__init__(structlog.get_logger("tradeactors.backtest"))
        self._engine = engine
        self._ids = itertools.count(1)

    @property
    def instrument(self) -> str:
        return self._engine.instrument.symbol

    @property
    def now_ns(self) -> int:
        return self._engine.now_ns

    def submit(
        self,
        *,
        side: Side,
        price: int,
        quantity: int,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
    ) -> str:
        coid = f"bt-{next(self._ids)}"
        self.track(coid, side=side, price=price, quantity=quantity)
        self._engine.submit(
            coid, side=side, price=price, quantity=quantity, tif=tif, post_only=post_only
        )
        return coid

    def cancel(self, client_order_id: str) -> None:
        if self.is_open(client_order_id):
            self._engine.cancel(client_order_id)

    def amend(
        self, client_order_id: str, *, price: int | None = None, quantity: int | None = None
    ) -> None:
        if self.is_open(client_order_id):
            self._engine.amend(client_order_id, price=price, quantity=quantity)

    def cancel_all(self) -> None:
        for order in self.open_orders():
            self._engine.cancel(order.client_order_id)

    def set_timer(self, name: str, delay: float) -> None:
        self._engine.set_timer(name, delay)


class _Engine:
    def __init__(self, instrument: Instrument, strategy: Strategy, config: BacktestConfig) -> None:
        self.instrument = instrument
        self.strategy = strategy
        self.config = config
        self.now_ns = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._rng = random.Random(config.seed)  # noqa: S311 - a reproducible latency model
        self.sync = binance.DepthSync(instrument)
        self.orders: dict[str, _SimOrder] = {}
        self.resting: dict[str, _SimOrder] = {}  # in the order they came to rest
        self._taken: dict[tuple[bool, int], int] = {}  # (bid side?, price) -> lots taken
        self._timers: dict[str, int] = {}
        self.ctx = _Context(self)
        value = Fraction(instrument.tick_size) * Fraction(instrument.lot_size)
        self._value = value  # quote currency per tick * lot
        self._maker = Fraction(config.maker_fee_bps) / 10_000
        self._taker = Fraction(config.taker_fee_bps) / 10_000
        # the accounts, exact, in ticks * lots
        self.fees = Fraction(0)
        self.ledger = Position()  # net lots, average entry, realized PnL
        self.counts = dict.fromkeys(
            ("sent", "cancelled", "rejected", "fills", "maker", "taker", "submitted_qty"), 0
        )
        self.volume = 0
        self.books = 0
        self.trades = 0
        self.events = 0
        self.peak = Fraction(0)
        self.max_drawdown = Fraction(0)
        self.series: list[Sample] = []
        self.fill_series: list[FillPoint] = []
        self._tick = Fraction(instrument.tick_size)
        self._lot = Fraction(instrument.lot_size)
        # how much of the capture the book followed
        self.updates_seen = 0
        self.updates_applied = 0
        self.snapshots = 0
        self._waiting: list[int] = []  # final ids of the diffs the sync holds for a snapshot
        self._synced_since: int | None = None
        self.synced_ns = 0
        self.first_synced_ns: int | None = None
        self.losses: list[SyncLoss] = []
        self.start_ns: int | None = None
        self._next_sample_ns = 0
        self.stopped = False
        self.last_mid: Fraction | None = None

    # -- time ----------------------------------------------------------------------------

    def at(self, when_ns: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when_ns, next(self._seq), action))

    def run_until(self, when_ns: int | None) -> None:
        """Run every scheduled action due at or before ``when_ns`` (all if None)."""
        queue = self._queue
        while queue and (when_ns is None or queue[0][0] <= when_ns):
            due, _seq, action = heapq.heappop(queue)
            self.now_ns = max(self.now_ns, due)
            self.events += 1
            action()

    def _latency_ns(self, median_ms: float) -> int:
        sigma = self.config.latency_sigma
        if sigma == 0 or median_ms == 0:
            return int(median_ms * 1e6)
        return int(median_ms * math.exp(self._rng.gauss(0.0, sigma)) * 1e6)

    # -- strategy commands -----------------------------------------------------------

    def submit(
        self, coid: str, *, side: Side, price: int, quantity: int, tif: TimeInForce, post_only: bool
    ) -> None:
        order = _SimOrder(
            coid, side=side, price=price, quantity=quantity, tif=tif, post_only=post_only
        )
        self.orders[coid] = order
        self.counts["sent"] += 1
        self.counts["submitted_qty"] += max(0, quantity)
        self.at(
            self.now_ns + self._latency_ns(self.config.order_latency_ms),
            lambda: self._arrive(order),
        )

    def cancel(self, coid: str) -> None:
        order = self.orders.get(coid)
        if order is not None:
            self.at(
                self.now_ns + self._latency_ns(self.config.order_latency_ms),
                lambda: self._cancel_arrives(order),
            )

    def amend(self, coid: str, *, price: int | None, quantity: int | None) -> None:
        order = self.orders.get(coid)
        if order is None:
            return
        if order.amending:  # as live: one amend at a time (told later, as its own callback)
            update = self._update(
                order, order.status, reason=DenyReason.AMEND_PENDING, amend=AmendOutcome.DENIED
            )
            self.at(self.now_ns, lambda: self._deliver(update))
            return
        order.amending = True
        self.at(
            self.now_ns + self._latency_ns(self.config.order_latency_ms),
            lambda: self._amend_arrives(order, price, quantity),
        )

    def set_timer(self, name: str, delay: float) -> None:
        token = next(self._seq)
        self._timers[name] = token

        def fire() -> None:
            if not self.stopped and self._timers.get(name) == token:
                del self._timers[name]
                self.strategy.on_timer(self.ctx, name)

        self.at(self.now_ns + max(0, int(delay * 1e9)), fire)

    # -- the venue -------------------------------------------------------------------

    def _arrive(self, order: _SimOrder) -> None:
        if order.quantity <= 0 or order.price <= 0 or not TimeInForce.valid(order.tif):
            self._report(order, OrderStatus.REJECTED, reason="invalid_order")
            return
        book = self.sync.book
        opposite = book.best_ask() if order.buy else book.best_bid()
        marketable = opposite is not None and (
            order.price >= opposite[0] if order.buy else order.price <= opposite[0]
        )
        if marketable and order.post_only:
            self._report(order, OrderStatus.REJECTED, reason="post_only_would_take")
            return
        if marketable:
            self._take(order, book)
        if order.remaining == 0:
            return
        if order.tif != TimeInForce.GTC:  # an IOC/FOK remainder expires, as at the venues
            order.status = OrderStatus.EXPIRED
            self.counts["cancelled"] += 1
            self._report(order, OrderStatus.EXPIRED, reason=str(order.tif))
            return
        order.resting = True
        self.resting[order.client_order_id] = order
        order.queue_ahead = book.size_at(order.price, bid=order.buy)
        if order.status is OrderStatus.PENDING:
            order.status = OrderStatus.ACCEPTED
            self._report(order, OrderStatus.ACCEPTED)

    def _take(self, order: _SimOrder, book: OrderBook) -> None:
        levels = book.asks() if order.buy else book.bids()
        for price, size in levels:
            if order.remaining == 0 or (price > order.price if order.buy else price < order.price):
                break
            key = (not order.buy, price)
            available = size - self._taken.get(key, 0)
            if available <= 0:
                continue
            quantity = min(available, order.remaining)
            self._taken[key] = self._taken.get(key, 0) + quantity
            self._fill(order, quantity, price, maker=False)

    def _cancel_arrives(self, order: _SimOrder) -> None:
        if order.status in ENDED or not order.resting:
            return  # filled, cancelled or not arrived: the venue has nothing to cancel
        order.resting = False
        self.resting.pop(order.client_order_id, None)
        order.status = OrderStatus.CANCELLED
        self.counts["cancelled"] += 1
        self._report(order, OrderStatus.CANCELLED, reason="user")

    def _amend_arrives(self, order: _SimOrder, price: int | None, quantity: int | None) -> None:
        new_price = order.price if price is None else price
        new_quantity = order.quantity if quantity is None else quantity
        reason = ""
        if order.status in ENDED or not order.resting:
            reason = "unknown_order"  # filled, cancelled (or never rested): nothing to amend
        elif new_price <= 0 or new_quantity <= order.filled:
            reason = "invalid_order"
        elif new_price == order.price and new_quantity == order.quantity:
            reason = "amend_no_change"
        if not reason and new_price != order.price and order.post_only:
            book = self.sync.book
            opposite = book.best_ask() if order.buy else book.best_bid()
            if opposite is not None and (
                new_price >= opposite[0] if order.buy else new_price <= opposite[0]
            ):
                reason = "post_only_would_take"
        if reason:
            self._report(order, order.status, reason=reason, amend=AmendOutcome.REJECTED)
            return
        if new_price == order.price and new_quantity < order.quantity:
            order.quantity = new_quantity  # in place: its queue position is kept
            self._report(order, order.status, reason="amended", amend=AmendOutcome.AMENDED)
            return
        # anything else loses the queue position: out of the book, and in again
        order.resting = False
        self.resting.pop(order.client_order_id, None)
        order.price, order.quantity = new_price, new_quantity
        self._report(order, order.status, reason="amended", amend=AmendOutcome.AMENDED)
        self._arrive(order)

    def _fill(self, order: _SimOrder, quantity: int, price: int, *, maker: bool) -> None:
        order.filled += quantity
        signed = order.side.sign * quantity
        self.ledger.apply_fill(signed, price)
        notional = Fraction(price * quantity)
        self.fees += notional * (self._maker if maker else self._taker)
        self.volume += quantity
        self.counts["fills"] += 1
        self.counts["maker" if maker else "taker"] += 1
        self.fill_series.append(
            FillPoint(
                t=self._seconds(self.now_ns),
                side=order.side,
                price=float(price * self._tick),
                quantity=float(quantity * self._lot),
                maker=maker,
            )
        )
        if order.remaining == 0:
            order.resting = False
            self.resting.pop(order.client_order_id, None)
            order.status = OrderStatus.FILLED
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
        self._report(order, order.status, fill=(quantity, price))

    def _report(
        self,
        order: _SimOrder,
        status: OrderStatus,
        *,
        reason: str = "",
        fill: tuple[int, int] | None = None,
        amend: AmendOutcome | None = None,
    ) -> None:
        if status is OrderStatus.REJECTED:
            order.status = status
            self.counts["rejected"] += 1
        update = self._update(order, status, reason=reason, fill=fill, amend=amend)
        self.at(
            self.now_ns + self._latency_ns(self.config.response_latency_ms),
            lambda: self._deliver(update),
        )

    def _update(
        self,
        order: _SimOrder,
        status: OrderStatus,
        *,
        reason: str = "",
        fill: tuple[int, int] | None = None,
        amend: AmendOutcome | None = None,
    ) -> OrderUpdate:
        return OrderUpdate(
            client_order_id=order.client_order_id,
            venue="backtest",
            instrument=self.instrument.symbol,
            side=order.side,
            price=order.price,
            quantity=order.quantity,
            status=status,
            filled=order.filled,
            reason=reason,
            fill_quantity=fill[0] if fill else 0,
            fill_price=fill[1] if fill else 0,
            amend=amend,
        )

    def _deliver(self, update: OrderUpdate) -> None:
        if update.amend is not None and update.amend is not AmendOutcome.DENIED:
            order = self.orders.get(update.client_order_id)
            if order is not None:
                order.amending = False
        self.ctx.apply(update)
        if self.stopped:
            return  # nothing reaches a stopped strategy (as live: its actor is gone)
        self.strategy.on_order_update(self.ctx, update)
        if update.fill_quantity:
            self.strategy.on_fill(self.ctx, update)

    # -- market data -----------------------------------------------------------------

    def on_frame(self, frame: Frame) -> None:
        if self.start_ns is None:
            self.start_ns = frame.received_ns
            self._next_sample_ns = frame.received_ns
        self.run_until(frame.received_ns)
        self.now_ns = max(self.now_ns, frame.received_ns)
        if frame.source == "rest":
            if self.sync.needs_snapshot and self._snapshot_of_ours(frame.url):
                try:
                    snapshot = binance.decode_snapshot(frame.payload)
                except msgspec.DecodeError:
                    return
                self.snapshots += 1
                result = self.sync.on_snapshot(snapshot)
                self._follow_snapshot(result, snapshot.lastUpdateId)
                self._after_book(result, before=None)
            return
        try:
            _kind, event = binance.decode_frame(frame.payload)
        except (msgspec.DecodeError, ValueError):
            return
        if isinstance(event, binance.DepthUpdate) and event.s == self.instrument.symbol:
            self.updates_seen += 1
            before = self._resting_levels()
            result = self.sync.on_diff(event)
            self._follow_diff(result, event.u)
            self._after_book(result, before=before)
        elif isinstance(event, binance.Trade) and event.s == self.instrument.symbol:
            self._on_trade(event)

    # -- how much of the capture the book followed --------------------------------------

    def _snapshot_of_ours(self, url: str) -> bool:
        """Whether a REST snapshot from ``url`` is of the instrument.

        Yes if its URL names the symbol; with no symbol in its URL (hftbacktest's), if
        diffs of the instrument wait for a snapshot.
        """
        symbol = binance.url_symbol(url)
        return symbol == self.instrument.symbol if symbol else bool(self._waiting)

    def _follow_diff(self, result: binance.SyncResult, update_id: int) -> None:
        results = binance.SyncResult
        if result is results.APPLIED:
            self.updates_applied += 1
        elif result is results.BUFFERED:
            self._waiting.append(update_id)
        elif result is results.GAP:
            self._waiting = [update_id]  # the sync keeps it for the next snapshot
        elif result is not results.STALE:  # BAD_LEVEL, CROSSED: the sync dropped it
            self._waiting = []
        self._follow_state(result, update_id)

    def _follow_snapshot(self, result: binance.SyncResult, last_update_id: int) -> None:
        results = binance.SyncResult
        if result is results.SYNCED:  # every buffered diff after the snapshot was applied
            applied_to = self.sync.book.update_id
            self.updates_applied += sum(
                1 for u in self._waiting if last_update_id < u <= applied_to
            )
            self._waiting = []
        elif result is results.GAP:  # it applied some, then broke: the rest wait again
            self._waiting = [u for u in self._waiting if u > last_update_id]
        elif result is not results.SNAPSHOT_TOO_OLD:  # BAD_LEVEL, CROSSED: buffer dropped
            self._waiting = []
        self._follow_state(result, last_update_id)

    def _follow_state(self, result: binance.SyncResult, update_id: int) -> None:
        synced = self.sync.synced
        if synced == (self._synced_since is not None):
            return
        now = self.now_ns
        if synced:
            self._synced_since = now
            if self.first_synced_ns is None:
                self.first_synced_ns = now
            if self.losses and self.losses[-1].resynced_t is None:
                lost = self.losses[-1]
                self.losses[-1] = SyncLoss(
                    t=lost.t,
                    reason=lost.reason,
                    update_id=lost.update_id,
                    resynced_t=self._seconds(now),
                )
        else:
            assert self._synced_since is not None  # noqa: S101 - synced until now
            self.synced_ns += now - self._synced_since
            self._synced_since = None
            self.losses.append(
                SyncLoss(t=self._seconds(now), reason=result.value, update_id=update_id)
            )

    def _seconds(self, when_ns: int) -> float:
        """``when_ns`` as seconds from the start of the capture."""
        return round((when_ns - (self.start_ns or 0)) / 1e9, 6)

    def _resting_levels(self) -> dict[tuple[bool, int], int]:
        book = self.sync.book
        return {(o.buy, o.price): book.size_at(o.price, bid=o.buy) for o in self.resting.values()}

    def _after_book(
        self, result: binance.SyncResult, before: dict[tuple[bool, int], int] | None
    ) -> None:
        if result not in (binance.SyncResult.APPLIED, binance.SyncResult.SYNCED):
            return
        self.books += 1
        self._taken.clear()  # the recorded levels changed: what we took is replenished
        book = self.sync.book
        if before and self.config.queue == "probabilistic":
            self._advance_on_decreases(before)
        self._fill_crossed()
        self._mark()
        self.strategy.on_book(self.ctx, book.view(self.config.depth, self.now_ns))

    def _advance_on_decreases(self, before: dict[tuple[bool, int], int]) -> None:
        book = self.sync.book
        for order in self.resting.values():
            if order.queue_ahead == 0:
                continue
            old = before.get((order.buy, order.price), 0)
            new = book.size_at(order.price, bid=order.buy)
            if new < old:
                share = Fraction(order.queue_ahead, old) if old else Fraction(0)
                order.queue_ahead = max(0, order.queue_ahead - math.ceil((old - new) * share))

    def _fill_crossed(self) -> None:
        book = self.sync.book
        bid, ask = book.best_bid(), book.best_ask()
        for order in list(self.resting.values()):
            crossed = (
                (ask is not None and ask[0] <= order.price)
                if order.buy
                else (bid is not None and bid[0] >= order.price)
            )
            if crossed:
                self._fill(order, order.remaining, order.price, maker=True)

    def _on_trade(self, trade: binance.Trade) -> None:
        instrument = self.instrument
        try:
            price, quantity = instrument.price(trade.p), instrument.size(trade.q)
        except ValueError:
            return
        self.trades += 1
        aggressor = Side.SELL if trade.m else Side.BUY  # m: the buyer was the maker
        for order in list(self.resting.values()):
            if order.side is aggressor:
                continue
            through = price < order.price if order.buy else price > order.price
            if through:
                self._fill(order, order.remaining, order.price, maker=True)
            elif price == order.price:
                order.queue_ahead -= quantity
                if order.queue_ahead < 0:
                    self._fill(
                        order, min(order.remaining, -order.queue_ahead), order.price, maker=True
                    )
                    order.queue_ahead = 0
        self.strategy.on_trade(
            self.ctx,
            TradeTick(instrument=instrument.symbol, price=price, quantity=quantity,
                      side=aggressor, timestamp_ns=self.now_ns),
        )  # fmt: skip

    # -- accounting ------------------------------------------------------------------

    def mid(self) -> Fraction | None:
        book = self.sync.book
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return None
        return Fraction(bid[0] + ask[0], 2)

    def equity(self, mid: Fraction) -> Fraction:
        """Realized plus unrealized PnL at the mid, less fees (ticks * lots)."""
        ledger = self.ledger
        return ledger.realized + (mid - ledger.average_price) * ledger.net - self.fees

    def _mark(self) -> None:
        mid = self.mid()
        if mid is None:
            return
        self.last_mid = mid
        equity = self.equity(mid)
        self.peak = max(self.peak, equity)
        self.max_drawdown = max(self.max_drawdown, self.peak - equity)
        if self.start_ns is not None and self.now_ns >= self._next_sample_ns:
            self.series.append(
                Sample(
                    t=self._seconds(self.now_ns),
                    position=float(self.ledger.net * Fraction(self.instrument.lot_size)),
                    mid=float(mid * Fraction(self.instrument.tick_size)),
                    pnl=_money(equity * self._value),
                )
            )
            interval = int(self.config.sample_interval_s * 1e9)
            self._next_sample_ns += interval * (
                1 + (self.now_ns - self._next_sample_ns) // interval
            )


def _money(value: Fraction) -> float:
    return round(float(value), 12)


def run_backtest(
    frames: Iterable[Frame],
    instrument: Instrument,
    strategy: Strategy,
    config: BacktestConfig | None = None,
    *,
    params: dict[str, Any] | None = None,
) -> BacktestReport:
    """Replay ``frames`` through ``strategy`` against the simulated venue; the report."""
    config = config or BacktestConfig()
    engine = _Engine(instrument, strategy, config)
    ctx = engine.ctx
    count = 0
    started = False
    last_ns = 0
    for frame in frames:
        if not started:
            engine.now_ns = frame.received_ns
            strategy.on_start(ctx)
            started = True
        count += 1
        engine.on_frame(frame)
        last_ns = frame.received_ns
    engine.run_until(engine.now_ns)
    strategy.on_stop(ctx)
    engine.stopped = True
    engine.run_until(None)  # the stop's cancels and their answers (not passed on)
    if engine._synced_since is not None:  # in sync to the end
        engine.synced_ns += max(last_ns, engine._synced_since) - engine._synced_since
    first_synced = engine.first_synced_ns
    mid = engine.last_mid if engine.last_mid is not None else Fraction(0)
    value = engine._value
    ledger = engine.ledger
    realized = ledger.realized
    unrealized = (mid - ledger.average_price) * ledger.net if ledger.net else Fraction(0)
    realized_and_unrealized = realized + unrealized
    counts = engine.counts
    submitted = counts["submitted_qty"]
    lot = Fraction(instrument.lot_size)
    start = engine.start_ns or 0
    return BacktestReport(
        strategy=describe(strategy),
        params=dict(params or {}),
        instrument=instrument.symbol,
        tick_size=instrument.tick_size,
        lot_size=instrument.lot_size,
        config=config,
        frames=count,
        book_updates=engine.books,
        book_updates_seen=engine.updates_seen,
        book_updates_applied=engine.updates_applied,
        snapshots=engine.snapshots,
        synced_s=round(engine.synced_ns / 1e9, 6),
        first_synced_s=None if first_synced is None else engine._seconds(first_synced),
        synced_at_end=engine.sync.synced,
        sync_losses=engine.losses,
        trades_seen=engine.trades,
        events=engine.events,
        duration_s=round((last_ns - start) / 1e9, 6) if count else 0.0,
        orders_sent=counts["sent"],
        orders_cancelled=counts["cancelled"],
        orders_rejected=counts["rejected"],
        fills=counts["fills"],
        maker_fills=counts["maker"],
        taker_fills=counts["taker"],
        volume=_money(engine.volume * lot),
        fill_ratio=round(engine.volume / submitted, 8) if submitted else 0.0,
        realized_pnl=_money(realized * value),
        unrealized_pnl=_money(unrealized * value),
        fees=_money(engine.fees * value),
        net_pnl=_money((realized_and_unrealized - engine.fees) * value),
        max_drawdown=_money(engine.max_drawdown * value),
        final_position=_money(engine.ledger.net * lot),
        series=engine.series,
        fill_series=engine.fill_series,
    )
