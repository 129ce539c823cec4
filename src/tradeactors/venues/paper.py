"""The paper venue: our orders matched against a real market's recorded or live book.

`PaperVenue` is the simulated venue of ``tradeactors backtest`` and of paper trading
(``[venue] kind = "paper"``): one model, driven by two shells. The backtest
(`tradeactors.backtest.engine`) calls it from a loop with the strategy in the same
thread; the paper execution actor (`tradeactors.actors.paper`) takes the gateway's
place in the live tree and calls it from its handlers, with the tree's clock.

It reads the market's frames with the same book code as live: Binance's depth diffs,
REST depth snapshots and trades with `tradeactors.venues.binance.DepthSync` (the
default, and the backtest's), or any other venue's through its adapter's `MarketData`
(``market``: its ``decode``, its ``book_sync`` at ``book_depth`` levels, its
``trade_tick``; Kraken's checksummed ``book`` and its ``trade`` channel), and models:

- **latency**: an order or cancel reaches the venue ``order_latency_ms`` after it was
  sent (constant, or drawn per message from a seeded log-normal); the venue's answer
  reaches the sender ``response_latency_ms`` later. Market data reaches the strategy at
  its recorded receive time (the feed latency is in the recording);
- **matching**: at arrival, a marketable order takes the book's opposite levels up to
  its limit, level by level (taker fee), without taking more than a level shows (what
  it took is remembered until that level next changes); a post-only order that would
  take is rejected; the rest of a GTC order rests;
- **queue position** of a resting order: the size at its price when it arrived is ahead
  of it. ``conservative``: the queue advances only by trades at that price;
  ``probabilistic``: also by a share of each size decrease at that level not explained
  by trades, in proportion to the part of the level ahead of the order. A trade through
  its price, or the opposite side of the book reaching it, fills it (maker fee);
- **fees** in basis points of notional (negative: a rebate);
- **amends** (`amend`) reach the venue ``order_latency_ms`` later, like cancels: a
  lower quantity at the same price keeps the order's queue position (answered
  ``amended in place``); a new price or a higher quantity loses it (answered
  ``amended``: the order goes to the back of the queue at its price, and takes at once
  if the new price crosses; a post-only one that would cross is refused
  ``post_only_would_take`` and stays as it was). An amend of an order that no longer
  rests (filled, cancelled, not arrived) is refused ``unknown_order``; one that would
  leave nothing open, or change nothing, ``invalid_order`` / ``amend_no_change``. The
  answer is an `OrderUpdate` with ``amend`` set (`AmendOutcome.AMENDED` or
  ``REJECTED``). The venue takes whatever amends come; one at a time per order is the
  sender's rule (the backtest's context, the live order manager).

Time is the model's own ``now_ns``, moved by the frames' receive times (`on_frame`) and
by `run_until`; its scheduled events (arrivals, answers, and whatever a shell schedules
with `at`) run in time order, ties broken by a sequence number, so the same inputs give
the same fills. Answers are handed to the ``deliver`` callback at their delivery time.

It also follows how much of the market the book followed (updates seen and applied,
time in sync, every loss of sync) and keeps the account: positions, realized PnL,
fees, drawdown, every fill (`FillPoint`) and a sampled series (`Sample`).

Binance's rules keep its update ids in the accounts (`SyncLoss.update_id`, the diffs a
snapshot replays counted as applied); through another adapter, an update is counted
applied when its book applied it, a snapshot in the stream is counted as a snapshot,
not as an update, and a loss's ``update_id`` is the rank of the update that broke it.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from bisect import bisect_left
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

import msgspec

from tradeactors.core.messages import (
    AmendOutcome,
    MarketDataKind,
    OrderStatus,
    OrderUpdate,
    Side,
    TimeInForce,
    TradeTick,
)
from tradeactors.core.orders import Position
from tradeactors.errors import FrameDroppedError, ParseError
from tradeactors.venues import binance
from tradeactors.venues.adapter import BookOutcome

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tradeactors.core.book import OrderBook
    from tradeactors.core.instrument import Instrument
    from tradeactors.venues.adapter import BookSync, MarketData
    from tradeactors.venues.capture import Frame

__all__ = [
    "FillPoint",
    "PaperOrder",
    "PaperVenue",
    "QueueModel",
    "Sample",
    "SyncLoss",
    "VenueModel",
]

QueueModel = Literal["conservative", "probabilistic"]

AMENDED = "amended"
"""An applied amend's reason: it lost the order's queue position (new price, more)."""
AMENDED_IN_PLACE = "amended in place"
"""An applied amend's reason: less at the same price, the queue position kept."""


class VenueModel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the paper venue behaves: latencies, queue model, fees (see the module doc)."""

    order_latency_ms: float = 5.0  # sender -> venue (median if lognormal)
    response_latency_ms: float = 5.0  # venue -> sender
    latency_sigma: float = 0.0  # > 0: per message log-normal around the medians
    seed: int = 1
    queue: QueueModel = "conservative"
    maker_fee_bps: float = 1.0
    taker_fee_bps: float = 5.0

    @classmethod
    def of(cls, settings: object) -> VenueModel:
        """The model of settings that name its fields (a backtest's, ``[paper]``'s)."""
        return cls(**{name: getattr(settings, name) for name in cls.__struct_fields__})

    def __post_init__(self) -> None:
        if self.order_latency_ms < 0 or self.response_latency_ms < 0 or self.latency_sigma < 0:
            raise ValueError("latencies and latency_sigma must not be negative")
        values = (
            self.order_latency_ms,
            self.response_latency_ms,
            self.latency_sigma,
            self.maker_fee_bps,
            self.taker_fee_bps,
        )
        if not all(math.isfinite(value) for value in values):
            raise ValueError("latencies, latency_sigma and fees must be finite numbers")


class Sample(msgspec.Struct, frozen=True, array_like=True):
    """One point of the series: seconds from the start, and the state then.

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
    book cannot hold), ``crossed`` (an update left the book crossed) or
    ``checksum_mismatch`` (the venue's checksum disagreed: Kraken); ``update_id``: the
    last update id of the event that broke it (a venue without update ids: the rank of
    the update in the stream).
    """

    t: float
    reason: str
    update_id: int
    resynced_t: float | None = None


class PaperOrder:
    """One order at the paper venue."""

    __slots__ = (
        "buy",
        "client_order_id",
        "filled",
        "order_id",
        "post_only",
        "price",
        "quantity",
        "queue_ahead",
        "resting",
        "session",
        "side",
        "status",
        "tif",
    )

    def __init__(
        self,
        coid: str,
        *,
        side: Side,
        price: int,
        quantity: int,
        tif: TimeInForce,
        post_only: bool,
        order_id: int = 0,
        session: int = 0,
    ) -> None:
        self.client_order_id = coid
        self.side = side
        self.buy = side is Side.BUY  # which side of the book it rests on (bid?)
        self.price = price
        self.quantity = quantity
        self.tif = tif
        self.post_only = post_only
        self.order_id = order_id
        self.session = session
        self.filled = 0
        self.status = OrderStatus.PENDING
        self.queue_ahead = 0
        self.resting = False

    @property
    def remaining(self) -> int:
        """Lots not filled."""
        return self.quantity - self.filled


def _nothing(_update: OrderUpdate) -> None:
    return None


class PaperVenue:
    """The paper venue's model (see the module doc); one thread at a time calls it.

    Args:
        instrument: the instrument traded (its book is followed).
        model: latencies, queue model, fees, seed.
        venue: the venue's name in the `OrderUpdate`s it delivers.
        deliver: called with each answer at its delivery time (``now_ns`` is then the
            delivery time).
        on_book: called after each book change was matched against the orders.
        on_trade: called with each public trade, after it was matched.
        sample_interval_s: of the `Sample` series.
        market: the market data's adapter side (None or Binance's: Binance's depth
            diffs, snapshots and trades, with its update ids in the accounts).
        book_depth: levels a side the book keeps, where the venue's sync rule bounds
            them (Kraken: the subscribed depth its checksum follows).
        depth_sync: the Binance `DepthSync` to follow the book with (None: a new one for
            ``instrument``); the backtest's cached captures give one that takes levels
            parsed beforehand (`tradeactors.backtest.cache`).

    """

    def __init__(
        self,
        instrument: Instrument,
        model: VenueModel,
        *,
        venue: str = "paper",
        deliver: Callable[[OrderUpdate], None] = _nothing,
        on_book: Callable[[OrderBook], None] | None = None,
        on_trade: Callable[[TradeTick], None] | None = None,
        sample_interval_s: float = 1.0,
        market: MarketData | None = None,
        book_depth: int = 1000,
        depth_sync: binance.DepthSync | None = None,
    ) -> None:
        self.instrument = instrument
        self.model = model
        self.venue = venue
        self.deliver = deliver
        self._on_book = on_book
        self._on_trade_hook = on_trade
        self.now_ns = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        self._rng = random.Random(model.seed)  # noqa: S311 - a reproducible latency model
        # Binance's rules (market None), or the adapter's (`_on_market_frame`)
        self._market = None if isinstance(market, binance.BinanceMarketData) else market
        self._depth = depth_sync if depth_sync is not None else binance.DepthSync(instrument)
        self.sync: binance.DepthSync | BookSync = (
            self._depth
            if self._market is None
            else self._market.book_sync(instrument, mode="spot", max_depth=book_depth)
        )
        self.orders: dict[str, PaperOrder] = {}
        self.resting: dict[str, PaperOrder] = {}  # in the order they came to rest
        self._taken: dict[tuple[bool, int], int] = {}  # (bid side?, price) -> lots taken
        self._order_ids = itertools.count(1)
        self.session = 0  # orders of an older session are gone (see `drop_session`)
        self._value = Fraction(instrument.tick_size) * Fraction(instrument.lot_size)
        self._maker = Fraction(model.maker_fee_bps) / 10_000
        self._taker = Fraction(model.taker_fee_bps) / 10_000
        # the accounts, exact, in ticks * lots
        self._notional = [0, 0]  # ticks * lots filled as taker, as maker: what `fees` is of
        self.ledger = Position()  # net lots, average entry, realized PnL
        self.counts = dict.fromkeys(
            ("sent", "cancelled", "rejected", "fills", "maker", "taker", "submitted_qty"), 0
        )
        self.volume = 0
        self.books = 0
        self.trades = 0
        self.events = 0
        self.frames = 0
        # the peak equity, and the largest drawdown from a peak: exact, as (numerator,
        # positive denominator)
        self._peak = self._drawdown = (0, 1)
        self.series: list[Sample] = []
        self.fill_series: list[FillPoint] = []
        self.fill_log: list[OrderUpdate] = []  # every fill, its execution id its rank (1...)
        self._tick = Fraction(instrument.tick_size)
        self._lot = Fraction(instrument.lot_size)
        self._sample_interval_ns = int(sample_interval_s * 1e9)
        # how much of the market the book followed
        self.updates_seen = 0
        self.updates_applied = 0
        self.snapshots = 0
        self._waiting: list[int] = []  # final ids of the diffs the sync holds for a snapshot
        self.synced_since: int | None = None
        self.synced_ns = 0
        self.first_synced_ns: int | None = None
        self.losses: list[SyncLoss] = []
        self.start_ns: int | None = None
        self.last_frame_ns = 0
        self._next_sample_ns = 0
        self._last_mid2: int | None = None  # twice the last mid (`last_mid`)
        self._base: tuple[Fraction, Fraction, int, list[int], int, int] | None = None
        self._marked_base: tuple[object, ...] | None = None  # `_base` when last marked

    # -- time ----------------------------------------------------------------------------

    def at(self, when_ns: int, action: Callable[[], None]) -> None:
        """Run ``action`` at ``when_ns`` (after what is already due then)."""
        heapq.heappush(self._queue, (when_ns, next(self.seq), action))

    def next_due_ns(self) -> int | None:
        """When the next scheduled event is due (None: nothing is scheduled)."""
        return self._queue[0][0] if self._queue else None

    def run_until(self, when_ns: int | None) -> None:
        """Run every scheduled action due at or before ``when_ns`` (all if None)."""
        queue = self._queue
        while queue and (when_ns is None or queue[0][0] <= when_ns):
            due, _seq, action = heapq.heappop(queue)
            if due > self.now_ns:  # noqa: PLR1730 - max() is a call, this runs per event
                self.now_ns = due
            self.events += 1
            action()

    def _latency_ns(self, median_ms: float) -> int:
        sigma = self.model.latency_sigma
        if sigma == 0 or median_ms == 0:
            return int(median_ms * 1e6)
        return int(median_ms * math.exp(self._rng.gauss(0.0, sigma)) * 1e6)

    # -- orders and cancels, sent now ------------------------------------------------------

    def submit(
        self, coid: str, *, side: Side, price: int, quantity: int, tif: TimeInForce, post_only: bool
    ) -> PaperOrder:
        """An order sent now: it reaches the venue after the order latency."""
        order = PaperOrder(
            coid,
            side=side,
            price=price,
            quantity=quantity,
            tif=tif,
            post_only=post_only,
            order_id=next(self._order_ids),
            session=self.session,
        )
        self.orders[coid] = order
        self.counts["sent"] += 1
        self.counts["submitted_qty"] += max(0, quantity)
        self.at(
            self.now_ns + self._latency_ns(self.model.order_latency_ms),
            lambda: self._arrive(order),
        )
        return order

    def cancel(self, coid: str) -> bool:
        """A cancel sent now (False: no such order here; nothing is sent)."""
        order = self.orders.get(coid)
        if order is None:
            return False
        self.at(
            self.now_ns + self._latency_ns(self.model.order_latency_ms),
            lambda: self._cancel_arrives(order),
        )
        return True

    def amend(self, coid: str, *, price: int | None, quantity: int | None) -> bool:
        """An amend sent now: it reaches the venue after the order latency.

        ``price`` (ticks) and ``quantity`` (lots: the new *total*, filled included); None
        keeps it. False: no such order here; nothing is sent. The answer is delivered
        as an `OrderUpdate` with ``amend`` set (see the module doc).
        """
        order = self.orders.get(coid)
        if order is None:
            return False
        session = self.session
        self.at(
            self.now_ns + self._latency_ns(self.model.order_latency_ms),
            lambda: self._amend_arrives(order, price, quantity, session),
        )
        return True

    def cancel_all(self, on_done: Callable[[], None] | None = None) -> None:
        """A cancel-all sent now: at arrival every resting order is cancelled, then answered.

        ``on_done`` is called a response latency after the arrival (after the cancels'
        own answers).
        """

        def arrives() -> None:
            for order in list(self.resting.values()):
                self._cancel_arrives(order)
            if on_done is not None:
                self.at(self.now_ns + self._latency_ns(self.model.response_latency_ms), on_done)

        self.at(self.now_ns + self._latency_ns(self.model.order_latency_ms), arrives)

    def drop_session(self) -> int:
        """The session dropped: cancel its resting orders now, unanswered; forget its flights.

        Orders still on their way never arrive, and answers still on their way are never
        delivered (cancel-on-disconnect, as the simulated exchange does). Returns how
        many resting orders were cancelled.
        """
        self.session += 1
        cancelled = 0
        for order in list(self.resting.values()):
            order.resting = False
            self.resting.pop(order.client_order_id, None)
            order.status = OrderStatus.CANCELLED
            self.counts["cancelled"] += 1
            cancelled += 1
        return cancelled

    def open_orders(self) -> list[PaperOrder]:
        """The orders resting at the venue now, in the order they came to rest."""
        return list(self.resting.values())

    # -- the venue -------------------------------------------------------------------

    def _arrive(self, order: PaperOrder) -> None:
        if order.session != self.session:
            return  # sent by a session that dropped: it never reached the venue
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

    def _take(self, order: PaperOrder, book: OrderBook) -> None:
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

    def _cancel_arrives(self, order: PaperOrder) -> None:
        if not order.status.open or not order.resting:
            return  # filled, cancelled or not arrived: the venue has nothing to cancel
        order.resting = False
        self.resting.pop(order.client_order_id, None)
        order.status = OrderStatus.CANCELLED
        self.counts["cancelled"] += 1
        self._report(order, OrderStatus.CANCELLED, reason="user")

    def _amend_arrives(
        self, order: PaperOrder, price: int | None, quantity: int | None, session: int
    ) -> None:
        if session != self.session:
            return  # sent by a session that dropped: it never reached the venue
        new_price = order.price if price is None else price
        new_quantity = order.quantity if quantity is None else quantity
        reason = ""
        if not order.status.open or not order.resting:
            reason = "unknown_order"  # filled, cancelled (or not arrived): nothing to amend
        elif new_price <= 0 or new_quantity <= order.filled:
            reason = "invalid_order"
        elif new_price == order.price and new_quantity == order.quantity:
            reason = "amend_no_change"
        elif new_price != order.price and order.post_only:
            book = self.sync.book
            opposite = book.best_ask() if order.buy else book.best_bid()
            if opposite is not None and (
                new_price >= opposite[0] if order.buy else new_price <= opposite[0]
            ):
                reason = "post_only_would_take"
        if reason:
            self._report(order, order.status, reason=reason, amend=AmendOutcome.REJECTED)
            return
        self.counts["submitted_qty"] += max(0, new_quantity - order.quantity)  # more offered
        if new_price == order.price and new_quantity < order.quantity:
            order.quantity = new_quantity  # in place: its queue position is kept
            self._report(order, order.status, reason=AMENDED_IN_PLACE, amend=AmendOutcome.AMENDED)
            return
        # anything else loses the queue position: out of the book, and in again at the back
        order.resting = False
        self.resting.pop(order.client_order_id, None)
        order.price, order.quantity = new_price, new_quantity
        self._report(order, order.status, reason=AMENDED, amend=AmendOutcome.AMENDED)
        self._arrive(order)  # takes what the new price crosses, rests the rest

    def _fill(self, order: PaperOrder, quantity: int, price: int, *, maker: bool) -> None:
        order.filled += quantity
        signed = order.side.sign * quantity
        self.ledger.apply_fill(signed, price)
        self._notional[maker] += price * quantity  # the fees: `fees`
        self.volume += quantity
        self.counts["fills"] += 1
        self.counts["maker" if maker else "taker"] += 1
        self.fill_series.append(
            FillPoint(
                t=self.seconds(self.now_ns),
                side=order.side,
                price=_float(price * self._tick.numerator, self._tick.denominator),
                quantity=_float(quantity * self._lot.numerator, self._lot.denominator),
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
        order: PaperOrder,
        status: OrderStatus,
        *,
        reason: str = "",
        fill: tuple[int, int] | None = None,
        amend: AmendOutcome | None = None,
    ) -> None:
        if status is OrderStatus.REJECTED and amend is None:
            order.status = status
            self.counts["rejected"] += 1
        update = OrderUpdate(
            client_order_id=order.client_order_id,
            venue=self.venue,
            instrument=self.instrument.symbol,
            side=order.side,
            price=order.price,
            quantity=order.quantity,
            status=status,
            filled=order.filled,
            reason=reason,
            fill_quantity=fill[0] if fill else 0,
            fill_price=fill[1] if fill else 0,
            execution_id=self.counts["fills"] if fill else 0,
            amend=amend,
        )
        if fill:
            self.fill_log.append(update)
        session = order.session

        def delivered() -> None:
            if session == self.session:  # a dropped session hears nothing more
                self.deliver(update)

        self.at(self.now_ns + self._latency_ns(self.model.response_latency_ms), delivered)

    # -- market data -----------------------------------------------------------------

    def on_frame(self, frame: Frame) -> None:
        """Run what is due by the frame's receive time, then apply the frame."""
        self.begin_frame(frame.received_ns)
        self.apply_frame(frame)

    def begin_frame(self, received_ns: int) -> None:
        """A frame received at ``received_ns``: count it, run what is due by then."""
        if self.start_ns is None:
            self.start_ns = received_ns
            self._next_sample_ns = received_ns
        self.frames += 1
        self.last_frame_ns = received_ns
        queue = self._queue
        if queue and queue[0][0] <= received_ns:
            self.run_until(received_ns)
        if received_ns > self.now_ns:  # noqa: PLR1730 - max() is a call, this runs per frame
            self.now_ns = received_ns

    def quiet_frames(self, times: Sequence[int], *, ascending: bool = False) -> None:
        """Frames received at ``times`` that change nothing but the time (`begin_frame` each).

        What a replay gives for the frames it knows are not the instrument's (tickers,
        other symbols), without a call per frame. ``ascending``: the caller knows
        ``times`` never decrease, so only the frames at which something falls due are
        visited (a binary search for each).
        """
        if not times:
            return
        if self.start_ns is None:
            self.begin_frame(times[0])
            times = times[1:]
            if not times:
                return
        queue = self._queue
        frames = self.frames
        if ascending:
            start = 0
            last = times[-1]
            while queue and queue[0][0] <= last:
                index = bisect_left(times, queue[0][0], start)  # the first frame it is due by
                received_ns = times[index]
                self.frames, self.last_frame_ns = frames + index + 1, received_ns
                self.run_until(received_ns)
                self.now_ns = max(self.now_ns, received_ns)
                start = index + 1
        else:
            for index, received_ns in enumerate(times, 1):
                if queue and queue[0][0] <= received_ns:
                    self.frames, self.last_frame_ns = frames + index, received_ns
                    self.run_until(received_ns)
                self.now_ns = max(self.now_ns, received_ns)
        self.frames, self.last_frame_ns = frames + len(times), times[-1]
        self.now_ns = max(self.now_ns, max(times))  # noqa: PLW3301 - C's max of a sequence

    def apply_frame(self, frame: Frame) -> None:
        """Apply ``frame`` (after `begin_frame` of its receive time)."""
        if self._market is not None:
            self._on_market_frame(self._market, frame)
            return
        if frame.source == "rest":
            if self._depth.needs_snapshot and self._snapshot_of_ours(frame.url):
                try:
                    snapshot = binance.decode_snapshot(frame.payload)
                except msgspec.DecodeError:
                    return
                self.snapshots += 1
                result = self._depth.on_snapshot(snapshot)
                self._follow_snapshot(result, snapshot.lastUpdateId)
                self._after_book(result, before=None)
            return
        try:
            _kind, event = binance.decode_frame(frame.payload)
        except (msgspec.DecodeError, ValueError):
            return
        if isinstance(event, binance.DepthUpdate) and event.s == self.instrument.symbol:
            self.on_depth_update(event)
        elif isinstance(event, binance.Trade) and event.s == self.instrument.symbol:
            self._on_trade(event)

    def on_depth_update(self, diff: binance.DepthUpdate) -> None:
        """A Binance depth update of the instrument (after `begin_frame` of its frame)."""
        self.updates_seen += 1
        before = self._resting_levels_before()
        result = self._depth.on_diff(diff)
        self._follow_diff(result, diff.u)
        self._after_book(result, before=before)

    def on_public_trade(self, price: int, quantity: int, aggressor: Side) -> None:
        """A public trade of the instrument, parsed (after `begin_frame` of its frame)."""
        self.trades += 1
        self._match_trade(price, quantity, aggressor)

    def _on_market_frame(self, market: MarketData, frame: Frame) -> None:
        """A frame read through the venue adapter's market data (not Binance's rules)."""
        try:
            events = market.decode(frame)
        except FrameDroppedError:
            return
        instrument = self.instrument
        for event in events:
            if event.symbol != instrument.symbol:
                continue
            if event.kind is MarketDataKind.BOOK:
                self._on_book_event(event.data)
            elif event.kind is MarketDataKind.TRADE:
                try:
                    tick = market.trade_tick(instrument, event.data)
                except ParseError:
                    continue
                self.trades += 1
                self._match_trade(tick.price, tick.quantity, tick.side)

    def _on_book_event(self, data: object) -> None:
        sync = self.sync
        assert not isinstance(sync, binance.DepthSync)  # noqa: S101 - an adapter's market
        before = self._resting_levels_before()
        outcome = sync.on_event(data)
        snapshot = outcome is BookOutcome.SYNCED  # a snapshot in the stream
        if snapshot:
            self.snapshots += 1
        else:
            self.updates_seen += 1
            if outcome is BookOutcome.APPLIED:
                self.updates_applied += 1
        self._follow_state(outcome, self.updates_seen)
        if outcome.publishes:  # after a snapshot no queue advances (as Binance's)
            self.book_changed(None if snapshot else before)

    def finish(self) -> None:
        """The market ended (at the last frame): close the time in sync."""
        if self.synced_since is not None:  # in sync to the end
            self.synced_ns += max(self.last_frame_ns, self.synced_since) - self.synced_since
            self.synced_since = self.last_frame_ns

    # -- how much of the market the book followed ---------------------------------------

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

    def _follow_state(self, result: binance.SyncResult | BookOutcome, update_id: int) -> None:
        synced = self.sync.synced
        if synced == (self.synced_since is not None):
            return
        now = self.now_ns
        if synced:
            self.synced_since = now
            if self.first_synced_ns is None:
                self.first_synced_ns = now
            if self.losses and self.losses[-1].resynced_t is None:
                lost = self.losses[-1]
                self.losses[-1] = SyncLoss(
                    t=lost.t,
                    reason=lost.reason,
                    update_id=lost.update_id,
                    resynced_t=self.seconds(now),
                )
        else:
            assert self.synced_since is not None  # noqa: S101 - synced until now
            self.synced_ns += now - self.synced_since
            self.synced_since = None
            self.losses.append(
                SyncLoss(t=self.seconds(now), reason=result.value, update_id=update_id)
            )

    def seconds(self, when_ns: int) -> float:
        """``when_ns`` as seconds from the first frame."""
        return round((when_ns - (self.start_ns or 0)) / 1e9, 6)

    def _resting_levels(self) -> dict[tuple[bool, int], int]:
        book = self.sync.book
        return {(o.buy, o.price): book.size_at(o.price, bid=o.buy) for o in self.resting.values()}

    def _resting_levels_before(self) -> dict[tuple[bool, int], int] | None:
        """The resting orders' levels before a change, where the queue model reads them."""
        return self._resting_levels() if self.model.queue == "probabilistic" else None

    def levels_before(self) -> dict[tuple[bool, int], int] | None:
        """What `book_changed` needs of the book before a change of depth (the queue model's).

        For a shell that moves the book itself (a compiled capture's replay).
        """
        return self._resting_levels() if self.model.queue == "probabilistic" else None

    def _after_book(
        self, result: binance.SyncResult, before: dict[tuple[bool, int], int] | None
    ) -> None:
        if result not in (binance.SyncResult.APPLIED, binance.SyncResult.SYNCED):
            return
        self.book_changed(before)

    def book_changed(self, before: dict[tuple[bool, int], int] | None) -> None:
        """The book (``sync.book``) changed, in sync: match the orders, tell ``on_book``.

        ``before``: `levels_before` read before the change (None: a snapshot, after
        which no queue advances). Public for a shell that moves the book itself.
        """
        self.books += 1
        self._taken.clear()  # the levels changed: what we took is replenished
        book = self.sync.book
        if before and self.model.queue == "probabilistic":
            self._advance_on_decreases(before)
        self._fill_crossed()
        self._mark()
        if self._on_book is not None:
            self._on_book(book)

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
        if not self.resting:
            return
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
        self._match_trade(price, quantity, aggressor)

    def _match_trade(self, price: int, quantity: int, aggressor: Side) -> None:
        """A public trade: it fills what it trades through, and advances the queues at its price."""
        instrument = self.instrument
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
        if self._on_trade_hook is not None:
            self._on_trade_hook(
                TradeTick(instrument=instrument.symbol, price=price, quantity=quantity,
                          side=aggressor, timestamp_ns=self.now_ns)
            )  # fmt: skip

    # -- accounting ------------------------------------------------------------------

    @property
    def value(self) -> Fraction:
        """Quote currency per tick * lot."""
        return self._value

    def mid(self) -> Fraction | None:
        """The book's mid (ticks), or None: not two-sided."""
        book = self.sync.book
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return None
        return Fraction(bid[0] + ask[0], 2)

    def equity(self, mid: Fraction) -> Fraction:
        """Realized plus unrealized PnL at the mid, less fees (ticks * lots)."""
        ledger = self.ledger
        return ledger.realized + (mid - ledger.average_price) * ledger.net - self.fees

    @property
    def peak(self) -> Fraction:
        """The highest equity marked (ticks * lots; 0 before any)."""
        return Fraction(*self._peak)

    @property
    def max_drawdown(self) -> Fraction:
        """The largest fall of the equity from a peak before it (ticks * lots)."""
        return Fraction(*self._drawdown)

    @property
    def last_mid(self) -> Fraction | None:
        """The mid (ticks) at the last book change that had one (None: none had)."""
        return None if self._last_mid2 is None else Fraction(self._last_mid2, 2)

    @property
    def fees(self) -> Fraction:
        """The fees paid (negative: rebates received), exact, in ticks * lots."""
        taker, maker = self._notional
        return self._maker * maker + self._taker * taker

    def _equity_base(self) -> tuple[int, int]:
        """``(2a, b)``: the equity at a doubled mid ``m2`` is ``(2a + m2 * net * b) / 2b``.

        ``a / b`` is realized PnL less fees less the position at its average price: it
        changes with fills only, so it is kept until the ledger or the fees change.
        Worked out in ints (``b`` > 0, not in lowest terms): every use compares or
        divides exactly, so the values are `Fraction`'s.
        """
        ledger = self.ledger
        realized, average, net = ledger.realized, ledger.average_price, ledger.net
        cached = self._base
        if (
            cached is not None
            and cached[0] is realized
            and cached[1] is average
            and cached[2] == net
            and cached[3] == self._notional
        ):
            return cached[4], cached[5]
        taker, maker = self._notional
        maker_rate, taker_rate = self._maker, self._taker
        fees = maker_rate.numerator * maker * taker_rate.denominator + (
            taker_rate.numerator * taker * maker_rate.denominator
        )  # / fees_scale
        fees_scale = maker_rate.denominator * taker_rate.denominator
        r_num, r_den = realized.numerator, realized.denominator
        a_num, a_den = average.numerator, average.denominator
        denominator = r_den * a_den * fees_scale
        numerator = (
            r_num * a_den * fees_scale - a_num * net * r_den * fees_scale - fees * r_den * a_den
        )
        twice = 2 * numerator
        self._base = (realized, average, net, list(self._notional), twice, denominator)
        return twice, denominator

    def _mark(self) -> None:
        """Mark the account at the mid: peak, drawdown and the series (exact, in ints).

        The same values as `equity` at `mid` in `Fraction`s; kept as (numerator,
        denominator) pairs and compared by cross multiplication, a `Fraction` made
        only for a sample.
        """
        mid2 = self.sync.book.mid_x2()
        if mid2 is None:
            return
        twice, denominator = self._equity_base()
        equity = twice + mid2 * self.ledger.net * denominator  # / scale
        scale = 2 * denominator
        if mid2 != self._last_mid2 or self._base is not self._marked_base:
            # else the equity is the one last marked: no new peak, no deeper drawdown
            self._last_mid2, self._marked_base = mid2, self._base
            peak, peak_scale = self._peak
            if equity * peak_scale > peak * scale:
                self._peak = (equity, scale)  # drawdown 0: the max is unchanged
            else:
                gap = peak * scale - equity * peak_scale  # / (peak_scale * scale)
                drawdown, drawdown_scale = self._drawdown
                if gap * drawdown_scale > drawdown * peak_scale * scale:
                    self._drawdown = (gap, peak_scale * scale)
        if self.start_ns is not None and self.now_ns >= self._next_sample_ns:
            lot, tick, value = self._lot, self._tick, self._value
            self.series.append(
                Sample(
                    t=self.seconds(self.now_ns),
                    position=_float(self.ledger.net * lot.numerator, lot.denominator),
                    mid=_float(mid2 * tick.numerator, 2 * tick.denominator),
                    pnl=round(
                        _float(equity * value.numerator, scale * value.denominator), 12
                    ),  # money(Fraction(equity, scale) * value)
                )
            )
            interval = self._sample_interval_ns
            self._next_sample_ns += interval * (
                1 + (self.now_ns - self._next_sample_ns) // interval
            )


def _float(numerator: int, denominator: int) -> float:
    """``float(Fraction(numerator, denominator))``, without the Fraction.

    The same float: both are the true quotient correctly rounded (int / int is, and
    `Fraction`'s float is its lowest terms' int / int).
    """
    return numerator / denominator


def money(value: Fraction) -> float:
    """An exact amount as the float a report shows (12 decimals at most)."""
    return round(float(value), 12)
