"""The built-in strategies: ``market_maker``, ``momentum`` and ``vwap``.

Each is a `Strategy` built from one frozen parameter struct (`make_strategy` converts
a mapping of parameters, strings included, with `msgspec.convert` and reports bad
values as `ConfigError`). Prices are integer ticks and quantities integer lots; the
defaults suit ETHUSDT-like data (ticks of 0.01, lots of 0.0001, ETH near 2680.00, i.e.
about 268000 ticks). Time is ``ctx.now_ns`` only (the replayed time in a backtest), so
the same inputs give the same decisions, and everything is done through the context.

Every strategy tracks its own orders from the order updates (`_OrderBookkeeping`): an
order is known from ``submit`` until an update says it ended (filled, cancelled,
rejected, denied, expired). Fills are handled in ``on_order_update``, never again in
``on_fill``. After ``on_stop`` a strategy sends nothing more, whatever still calls it
(a backtest may run timers past the end).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec

from tradeactors.core.messages import Side, TimeInForce
from tradeactors.strategy.api import ENDED, Strategy

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.core.book import BookView
    from tradeactors.core.messages import OrderUpdate
    from tradeactors.strategy.api import StrategyContext, TradeTick

__all__ = [
    "BUILTINS",
    "MarketMaker",
    "MarketMakerParams",
    "Momentum",
    "MomentumParams",
    "Vwap",
    "VwapParams",
]

_NS: Final = 1_000_000_000
"""Statuses after which an order can no longer trade (``new`` is never reported)."""


def _seconds_ns(seconds: float) -> int:
    return round(seconds * _NS)


def _finite(**values: float) -> None:
    for key, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{key} must be a finite number, not {value!r}")


def _top(view: BookView) -> tuple[int, int] | None:
    """``(best bid, best ask)`` of a two-sided, uncrossed book, else None."""
    bids, asks = view.bids, view.asks  # (not best_bid/best_ask: this runs per book)
    if not bids or not asks:
        return None
    bid, ask = bids[0][0], asks[0][0]
    if not 0 < bid < ask:
        return None
    return bid, ask


# -- order bookkeeping -------------------------------------------------------------------


@dataclass(slots=True)
class _Order:
    """One of the strategy's orders, from submit to its end."""

    client_order_id: str
    role: str  # what the strategy sent it for ("quote", "entry", "exit", "child")
    side: Side
    price: int
    quantity: int
    tif: TimeInForce
    filled: int = 0
    cancelling: bool = False

    @property
    def remaining(self) -> int:
        """Lots that may still fill."""
        return max(0, self.quantity - self.filled)


class _OrderBookkeeping(Strategy):
    """A strategy that knows its live orders from its submits and their updates.

    Subclasses submit with `_submit` and cancel with `_cancel`, and hear about their
    orders through `_on_order_fill` and `_on_order_end`. An update may arrive inside
    ``ctx.submit`` (a context that answers synchronously): it is kept until ``submit``
    has returned the order's id, then applied.
    """

    def __init__(self) -> None:
        self._orders: dict[str, _Order] = {}  # by client order id, oldest first
        self._submitting = 0
        self._early: list[OrderUpdate] = []
        self.stopped = False  # after on_stop it sends nothing more

    def _submit(
        self,
        ctx: StrategyContext,
        role: str,
        *,
        side: Side,
        price: int,
        quantity: int,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
    ) -> _Order | None:
        """Send an order; None (and nothing sent) if stopped or a value is not positive."""
        if self.stopped:
            return None
        if price <= 0 or quantity <= 0:
            ctx.log.warning("order not sent", role=role, side=side, price=price, quantity=quantity)
            return None
        self._submitting += 1
        try:
            client_order_id = ctx.submit(
                side=side, price=price, quantity=quantity, tif=tif, post_only=post_only
            )
        finally:
            self._submitting -= 1
        order = _Order(client_order_id, role, side, price, quantity, tif)
        self._orders[client_order_id] = order
        early = [u for u in self._early if u.client_order_id == client_order_id]
        if self._submitting:
            self._early = [u for u in self._early if u.client_order_id != client_order_id]
        else:
            self._early = []
        for update in early:
            self._apply(ctx, update)
        return order

    def _cancel(self, ctx: StrategyContext, order: _Order) -> None:
        """Ask to cancel ``order`` (once); it stays known until its end is reported."""
        if order.cancelling or order.client_order_id not in self._orders:
            return
        order.cancelling = True
        ctx.cancel(order.client_order_id)

    def _stop(self, ctx: StrategyContext) -> None:
        """Send nothing more; cancel all its orders."""
        self.stopped = True
        for order in self._orders.values():
            order.cancelling = True
        ctx.cancel_all()

    def _live(self, role: str | None = None) -> list[_Order]:
        """Its known orders not being cancelled (of ``role``), oldest first."""
        return [
            order
            for order in self._orders.values()
            if not order.cancelling and (role is None or order.role == role)
        ]

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        """Apply the update to the order it is about (others' updates are ignored)."""
        if update.client_order_id in self._orders:
            self._apply(ctx, update)
        elif self._submitting:
            self._early.append(update)

    def _apply(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        order = self._orders[update.client_order_id]
        if update.fill_quantity > 0:
            order.filled = min(
                order.quantity, max(order.filled + update.fill_quantity, update.filled)
            )
            self._on_order_fill(ctx, order, update)
        if update.status in ENDED and self._orders.pop(update.client_order_id, None) is not None:
            self._on_order_end(ctx, order, update)

    def _on_order_fill(self, ctx: StrategyContext, order: _Order, update: OrderUpdate) -> None:
        """``order`` filled ``update.fill_quantity`` at ``update.fill_price``."""

    def _on_order_end(self, ctx: StrategyContext, order: _Order, update: OrderUpdate) -> None:
        """``order`` ended (it is no longer known)."""


# -- market maker ------------------------------------------------------------------------


class MarketMakerParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The market maker's parameters (prices in ticks, sizes in lots)."""

    half_spread: int = 3
    """Ticks from the mid to each quote (the mid rounded away from the quote)."""
    size: int = 100
    """Lots per quote (100 lots = 0.01 ETH)."""
    max_inventory: int = 500
    """No quote on a side whose fill would take the position past this (lots)."""
    skew: float = 0.01
    """Ticks both quotes move against the position, per lot of position."""
    requote: int = 2
    """Re-quote when the mid has moved this many ticks since the last quote."""
    min_interval: float = 0.25
    """Seconds between two re-quotes, at least."""

    def __post_init__(self) -> None:
        _finite(skew=self.skew, min_interval=self.min_interval)
        if self.half_spread < 1:
            raise ValueError(f"half_spread must be >= 1 tick, not {self.half_spread}")
        if self.size < 1:
            raise ValueError(f"size must be >= 1 lot, not {self.size}")
        if self.max_inventory < self.size:
            raise ValueError(f"max_inventory ({self.max_inventory}) must be >= size ({self.size})")
        if self.skew < 0:
            raise ValueError(f"skew must not be negative, not {self.skew}")
        if self.requote < 1:
            raise ValueError(f"requote must be >= 1 tick, not {self.requote}")
        if self.min_interval < 0:
            raise ValueError(f"min_interval must not be negative, not {self.min_interval}")


class MarketMaker(_OrderBookkeeping):
    """Quotes one bid and one ask around the mid, skewed against its inventory.

    On a book, at most once per ``min_interval``, it (re-)quotes when it has never
    quoted, when none of its quotes is left, when its position changed since it last
    quoted, or when the mid moved ``requote`` ticks since. A re-quote keeps a quote
    already at the wanted price and cancels the others. Prices: ``mid - half_spread -
    skew`` and ``mid + half_spread - skew`` (``skew = round(position * params.skew)``;
    a half-tick mid is rounded down for the bid and up for the ask), never through the
    opposite touch; quotes are post-only GTC. No bid when ``position + size`` would pass
    ``max_inventory``, no ask when ``position - size`` would pass ``-max_inventory``.
    """

    name = "market_maker"
    view_depth = 1  # reads the top of the book only (a subclass reading deeper sets its own)

    def __init__(self, params: MarketMakerParams | None = None) -> None:
        super().__init__()
        self.params = params or MarketMakerParams()
        self._min_interval_ns = _seconds_ns(self.params.min_interval)
        self._quoted_mid2: int | None = None  # twice the mid when it last quoted
        self._quoted_position = 0
        self._last_quote_ns: int | None = None

    def on_book(self, ctx: StrategyContext, view: BookView) -> None:
        """Re-quote if due (see the class doc)."""
        top = _top(view)
        if top is None or self.stopped:
            return
        now = ctx.now_ns
        if self._last_quote_ns is not None and now - self._last_quote_ns < self._min_interval_ns:
            return
        bid, ask = top
        mid2 = bid + ask
        position = ctx.position
        if (
            self._quoted_mid2 is not None
            and position == self._quoted_position
            and abs(mid2 - self._quoted_mid2) < 2 * self.params.requote
            and self._live()  # (last: the dearest test)
        ):
            return
        self._last_quote_ns = now
        self._quoted_mid2 = mid2
        self._quoted_position = position
        self._quote(ctx, bid, ask, position)

    def quotes(self, bid: int, ask: int, position: int) -> tuple[int | None, int | None]:
        """The bid and ask prices it wants for this touch and position (None: no quote)."""
        params = self.params
        mid2 = bid + ask
        mid = mid2 // 2
        skew = round(position * params.skew)
        want_bid: int | None = None
        want_ask: int | None = None
        if position + params.size <= params.max_inventory:
            want_bid = min(mid - params.half_spread - skew, ask - 1)
            if want_bid <= 0:
                want_bid = None
        if position - params.size >= -params.max_inventory:
            want_ask = max(mid + mid2 % 2 + params.half_spread - skew, bid + 1)
        return want_bid, want_ask

    def _quote(self, ctx: StrategyContext, bid: int, ask: int, position: int) -> None:
        want_bid, want_ask = self.quotes(bid, ask, position)
        wanted = {Side.BUY: want_bid, Side.SELL: want_ask}
        for order in self._live():
            if wanted[order.side] == order.price:
                wanted[order.side] = None  # already there: keep its queue place
            else:
                self._cancel(ctx, order)
        for side, price in wanted.items():
            if price is not None:
                self._submit(
                    ctx, "quote", side=side, price=price, quantity=self.params.size, post_only=True
                )

    def on_stop(self, ctx: StrategyContext) -> None:
        """Cancel its quotes."""
        self._stop(ctx)


# -- momentum ----------------------------------------------------------------------------


class MomentumParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The momentum strategy's parameters (prices in ticks, sizes in lots)."""

    window: float = 10.0
    """Seconds of lookback of the mid move (and of the trade flow)."""
    threshold_bps: float = 5.0
    """Enter when the mid moved more than this over ``window`` (basis points)."""
    use_flow: bool = False
    """Also require the trade flow over ``window`` to agree with the move."""
    min_flow: int = 0
    """With ``use_flow``: the signed flow must be more than this (lots) in the direction."""
    size: int = 100
    """Lots per entry (100 lots = 0.01 ETH)."""
    slippage: int = 2
    """Ticks through the opposite touch of the IOC limit of an entry or exit."""
    target_bps: float = 8.0
    """Take profit when the mid is this far in favour of the entry price (bps)."""
    stop_bps: float = 4.0
    """Stop out when the mid is this far against the entry price (bps)."""
    max_hold: float = 30.0
    """Exit after this many seconds in a position whatever the PnL."""
    cooldown: float = 10.0
    """Seconds from one entry to the next, at least."""

    def __post_init__(self) -> None:
        _finite(
            window=self.window,
            threshold_bps=self.threshold_bps,
            target_bps=self.target_bps,
            stop_bps=self.stop_bps,
            max_hold=self.max_hold,
            cooldown=self.cooldown,
        )
        if not self.window > 0:
            raise ValueError(f"window must be positive seconds, not {self.window}")
        for key, value in (
            ("threshold_bps", self.threshold_bps),
            ("target_bps", self.target_bps),
            ("stop_bps", self.stop_bps),
            ("max_hold", self.max_hold),
        ):
            if not value > 0:
                raise ValueError(f"{key} must be positive, not {value}")
        if self.size < 1:
            raise ValueError(f"size must be >= 1 lot, not {self.size}")
        if self.slippage < 0 or self.min_flow < 0 or self.cooldown < 0:
            raise ValueError("slippage, min_flow and cooldown must not be negative")


class Momentum(_OrderBookkeeping):
    """Follows a move of the mid with a taker order, one position at a time.

    The signal: the mid now against the mid ``window`` seconds ago (the latest book at
    or before then; no signal before a full window has been seen); with ``use_flow``,
    the aggressor buy volume minus sell volume of the trades in the last ``window``
    seconds must also be more than ``min_flow`` in the same direction. Flat, with no
    order in flight and ``cooldown`` past since the last entry, a move of more than
    ``threshold_bps`` enters: an IOC of ``size`` lots at the opposite touch plus
    ``slippage`` ticks. In a position (``ctx.position``), the entry price is the average
    of the entry's fills, and the whole position is closed by an IOC likewise when the
    mid reaches ``target_bps`` in favour, ``stop_bps`` against, or ``max_hold`` seconds
    after the first entry fill (an exit that fills only in part is sent again for the
    rest at the next book, whatever the mid). A position it did not open (e.g.
    inherited) is taken at the mid of the moment it is first seen. Nothing new is sent
    while an IOC is in flight. It does not flatten on stop (only cancels).
    """

    name = "momentum"
    view_depth = 1  # reads the top of the book only (a subclass reading deeper sets its own)
    MAX_HOLD_TIMER: Final = "momentum.max_hold"

    def __init__(self, params: MomentumParams | None = None) -> None:
        super().__init__()
        self.params = params or MomentumParams()
        self._window_ns = _seconds_ns(self.params.window)
        self._cooldown_ns = _seconds_ns(self.params.cooldown)
        self._max_hold_ns = _seconds_ns(self.params.max_hold)
        self._top: tuple[int, int] | None = None
        self._mids: deque[tuple[int, int]] = deque()  # (ns, twice the mid), oldest first
        self._trades: deque[tuple[int, int]] = deque()  # (ns, signed lots)
        self.flow = 0  # signed aggressor lots over the window
        self._last_entry_ns: int | None = None
        self._entry_side = 0  # +1 long, -1 short, 0 none
        self._entry_lots = 0
        self._entry_notional = 0  # ticks * lots of the entry fills
        self._entry_ns: int | None = None  # first entry fill
        self.entry_price: float | None = None
        self.exiting: str | None = None  # why it is closing the position
        self.exits: dict[str, int] = {}  # exit reason -> count

    # -- signal --------------------------------------------------------------------------

    def on_book(self, ctx: StrategyContext, view: BookView) -> None:
        """Record the mid, then enter or exit if due."""
        top = _top(view)
        if top is None:
            return
        now = ctx.now_ns
        self._top = top
        mids = self._mids
        mids.append((now, top[0] + top[1]))
        since = now - self._window_ns
        while len(mids) > 1 and mids[1][0] <= since:
            mids.popleft()
        self._expire_trades(now)
        self._step(ctx, now)

    def on_trade(self, ctx: StrategyContext, trade: TradeTick) -> None:
        """Count the trade's aggressor volume in the flow."""
        if trade.quantity <= 0:
            return
        now = ctx.now_ns
        signed = trade.side.sign * trade.quantity
        self._trades.append((now, signed))
        self.flow += signed
        self._expire_trades(now)

    def _expire_trades(self, now: int) -> None:
        since = now - self._window_ns
        trades = self._trades
        while trades and trades[0][0] <= since:
            self.flow -= trades.popleft()[1]

    def move_bps(self, now: int) -> float | None:
        """The mid's move over the window in basis points (None before a full window)."""
        if not self._mids:
            return None
        then, ref2 = self._mids[0]
        if then > now - self._window_ns:
            return None
        return (self._mids[-1][1] - ref2) * 10_000 / ref2

    def signal(self, now: int) -> int:
        """+1 to buy, -1 to sell, 0 for nothing."""
        move = self.move_bps(now)
        if move is None or abs(move) <= self.params.threshold_bps:
            return 0
        direction = 1 if move > 0 else -1
        if self.params.use_flow and direction * self.flow <= self.params.min_flow:
            return 0
        return direction

    # -- trading -------------------------------------------------------------------------

    def _step(self, ctx: StrategyContext, now: int) -> None:
        if self._top is None or self._orders or self.stopped:  # an IOC in flight: wait
            return
        position = ctx.position
        if position:
            self._manage(ctx, position, now)
            return
        self._reset_entry()
        if self._last_entry_ns is not None and now - self._last_entry_ns < self._cooldown_ns:
            return
        direction = self.signal(now)
        if direction:
            self._last_entry_ns = now
            ctx.log.info("momentum entry", direction=direction, move_bps=self.move_bps(now))
            side = Side.BUY if direction > 0 else Side.SELL
            self._take(ctx, "entry", side=side, quantity=self.params.size)

    def _take(self, ctx: StrategyContext, role: str, *, side: Side, quantity: int) -> None:
        assert self._top is not None  # noqa: S101 - checked by the caller
        bid, ask = self._top
        slippage = self.params.slippage
        price = ask + slippage if side is Side.BUY else max(1, bid - slippage)
        self._submit(ctx, role, side=side, price=price, quantity=quantity, tif=TimeInForce.IOC)

    def _manage(self, ctx: StrategyContext, position: int, now: int) -> None:
        assert self._top is not None  # noqa: S101 - checked by the caller
        side = 1 if position > 0 else -1
        mid = (self._top[0] + self._top[1]) / 2
        if self.entry_price is None or self._entry_ns is None or side != self._entry_side:
            ctx.log.info("momentum adopts a position", position=position, mid=mid)
            self._reset_entry()
            self._entry_side, self.entry_price, self._entry_ns = side, mid, now
        entry = self.entry_price
        assert entry is not None  # noqa: S101
        pnl_bps = side * (mid - entry) * 10_000 / entry
        params = self.params
        reason = (
            self.exiting  # an exit that filled only in part goes on
            if self.exiting is not None
            else "target"
            if pnl_bps >= params.target_bps
            else "stop"
            if pnl_bps <= -params.stop_bps
            else "max_hold"
            if now - self._entry_ns >= self._max_hold_ns
            else None
        )
        if reason is None:
            return
        if self.exiting is None:
            self.exiting = reason
            self.exits[reason] = self.exits.get(reason, 0) + 1
        ctx.log.info("momentum exit", reason=reason, position=position, pnl_bps=pnl_bps)
        self._take(
            ctx, "exit", side=Side.BUY if position < 0 else Side.SELL, quantity=abs(position)
        )

    def _reset_entry(self) -> None:
        self._entry_side = self._entry_lots = self._entry_notional = 0
        self._entry_ns = self.entry_price = self.exiting = None

    def _on_order_fill(self, ctx: StrategyContext, order: _Order, update: OrderUpdate) -> None:
        if order.role != "entry":
            return
        side = order.side.sign
        if side != self._entry_side:
            self._reset_entry()
            self._entry_side = side
        if self._entry_ns is None:
            self._entry_ns = ctx.now_ns
            ctx.set_timer(self.MAX_HOLD_TIMER, self.params.max_hold)
        self._entry_lots += update.fill_quantity
        self._entry_notional += update.fill_quantity * update.fill_price
        self.entry_price = self._entry_notional / self._entry_lots

    def on_timer(self, ctx: StrategyContext, name: str) -> None:
        """``max_hold`` may be over while the book is quiet."""
        if name == self.MAX_HOLD_TIMER:
            self._step(ctx, ctx.now_ns)

    def on_stop(self, ctx: StrategyContext) -> None:
        """Cancel whatever is in flight (the position is left as it is)."""
        self._stop(ctx)


# -- vwap --------------------------------------------------------------------------------


class VwapParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The VWAP execution's parameters (prices in ticks, sizes in lots)."""

    side: str = "buy"
    """``buy`` or ``sell`` (a `Side` value)."""
    quantity: int = 10_000
    """Lots to trade in all (10000 lots = 1 ETH)."""
    horizon: float = 300.0
    """Seconds from the start by which it should be done."""
    buckets: int = 10
    """Equal time buckets of a flat profile (when ``profile`` is empty)."""
    profile: tuple[float, ...] | str = ()
    """Weights of equal time buckets (a list, or a string ``"1,2,1"``); empty: flat."""
    participation: float = 0.0
    """> 0: at most this share of the volume traded in a bucket (0 < p <= 1)."""
    limit_price: int = 0
    """Ticks; never buy above / sell below it (0: no limit)."""
    slice_interval: float = 5.0
    """Seconds between two looks at the schedule."""

    def __post_init__(self) -> None:
        _finite(
            horizon=self.horizon,
            participation=self.participation,
            slice_interval=self.slice_interval,
        )
        if self.side not in {"buy", "sell"}:
            raise ValueError(f"side must be 'buy' or 'sell', not {self.side!r}")
        if self.quantity < 1:
            raise ValueError(f"quantity must be >= 1 lot, not {self.quantity}")
        if not self.horizon > 0:
            raise ValueError(f"horizon must be positive seconds, not {self.horizon}")
        if self.buckets < 1:
            raise ValueError(f"buckets must be >= 1, not {self.buckets}")
        if not 0 <= self.participation <= 1:
            raise ValueError(f"participation must be within [0, 1], not {self.participation}")
        if self.limit_price < 0:
            raise ValueError(f"limit_price must be >= 0 ticks (0: none), not {self.limit_price}")
        if not 0 < self.slice_interval <= self.horizon:
            raise ValueError(
                f"slice_interval must be positive and at most horizon ({self.horizon}), "
                f"not {self.slice_interval}"
            )
        self.weights()  # checks the profile

    def weights(self) -> tuple[float, ...]:
        """The bucket weights, normalised to sum to 1.

        Raises:
            ValueError: a weight is negative or not a number, or they sum to 0.

        """
        raw: tuple[float, ...]
        if isinstance(self.profile, str):
            text = self.profile.strip().strip("[]()")
            try:
                raw = tuple(float(part) for part in text.split(",") if part.strip())
            except ValueError:
                raise ValueError(
                    f"profile must be numbers separated by commas, not {self.profile!r}"
                ) from None
        else:
            raw = self.profile
        if not raw:
            raw = (1.0,) * self.buckets
        if not all(math.isfinite(w) and w >= 0 for w in raw):
            raise ValueError(f"profile weights must be finite and >= 0, not {raw}")
        total = math.fsum(raw)
        if not total > 0:
            raise ValueError("profile weights must not all be 0")
        return tuple(w / total for w in raw)


class Vwap(_OrderBookkeeping):
    """Works a parent order over ``horizon`` seconds along a volume profile.

    The schedule: the cumulative quantity due at time ``t`` rises linearly within each
    of the equal time buckets, by each bucket's share of ``quantity`` (rounded down;
    all of it at the horizon). Every ``slice_interval`` seconds (a timer, starting at
    ``on_start``) it sends one child for what it is behind, i.e. the schedule now less
    what filled less what its live children may still fill, as a GTC limit joining the
    touch (best bid for a buy, best ask for a sell), and cancels its resting children
    that are no longer at that price; when the last cancel it asked for completes it
    sends one replacement at once. In the last bucket (and on the last slice before the
    horizon, should the buckets be shorter than a slice) it aims at the schedule one
    slice ahead (all of it on the last slice) and crosses: an IOC at the opposite
    touch, its resting children cancelled. ``limit_price`` bounds every price: a buy never above
    it (a passive child sits at the limit when the bid is above it; no crossing when
    the ask is); a sell never below it. With ``participation`` > 0, what filled in the
    current bucket plus what its children may still fill never exceeds
    ``participation`` times the volume of the public trades seen in that bucket (none
    seen: nothing is sent). It never has more out than the parent's remainder, so it
    never over-fills. Done when all filled, or at the horizon (children cancelled,
    the rest left undone); ``on_stop`` cancels its children.
    """

    name = "vwap"
    view_depth = 1  # reads the top of the book only (a subclass reading deeper sets its own)
    SLICE_TIMER: Final = "vwap.slice"

    def __init__(self, params: VwapParams | None = None) -> None:
        super().__init__()
        self.params = params = params or VwapParams()
        self._side = Side(params.side)
        self._buy = self._side is Side.BUY
        self._weights = params.weights()
        self._n = len(self._weights)
        cumulative = [0.0]
        for weight in self._weights:
            cumulative.append(cumulative[-1] + weight)
        cumulative[-1] = 1.0
        self._cumulative = tuple(cumulative)
        self._horizon_ns = _seconds_ns(params.horizon)
        self._slice_ns = _seconds_ns(params.slice_interval)
        self.start_ns: int | None = None
        self._top: tuple[int, int] | None = None
        self.volume = [0] * self._n  # public traded lots per bucket
        self.filled_by_bucket = [0] * self._n
        self.filled = 0
        self.done = False
        self._working = False
        self._again = False

    @property
    def end_ns(self) -> int | None:
        """When the horizon is over (None before the start)."""
        return None if self.start_ns is None else self.start_ns + self._horizon_ns

    def bucket(self, t_ns: int) -> int:
        """The bucket of time ``t_ns`` (clamped to the first and last)."""
        start = self.start_ns if self.start_ns is not None else t_ns
        index = (t_ns - start) * self._n // self._horizon_ns
        return min(self._n - 1, max(0, index))

    def scheduled(self, t_ns: int) -> int:
        """Lots due by time ``t_ns``."""
        if self.start_ns is None:
            return 0
        quantity, horizon = self.params.quantity, self._horizon_ns
        elapsed = t_ns - self.start_ns
        if elapsed <= 0:
            return 0
        if elapsed >= horizon:
            return quantity
        index = elapsed * self._n // horizon
        within = (elapsed * self._n - index * horizon) / horizon
        share = self._cumulative[index] + self._weights[index] * within
        return min(quantity, math.floor(quantity * share + 1e-9))

    def on_start(self, ctx: StrategyContext) -> None:
        """The horizon starts now; the first slice is one interval later."""
        self.start_ns = ctx.now_ns
        ctx.set_timer(self.SLICE_TIMER, self.params.slice_interval)

    def on_book(self, ctx: StrategyContext, view: BookView) -> None:  # noqa: ARG002 - API signature
        """Remember the touch (children go out on the slice timer)."""
        top = _top(view)
        if top is not None:
            self._top = top

    def on_trade(self, ctx: StrategyContext, trade: TradeTick) -> None:
        """Count the public volume of the current bucket."""
        end = self.end_ns
        now = ctx.now_ns
        if end is not None and self.start_ns is not None and self.start_ns <= now < end:
            self.volume[self.bucket(now)] += max(0, trade.quantity)

    def on_timer(self, ctx: StrategyContext, name: str) -> None:
        """A slice: send what is behind, or finish at the horizon."""
        end = self.end_ns
        if name != self.SLICE_TIMER or self.done or end is None:
            return
        now = ctx.now_ns
        if now >= end:
            self._finish(ctx, "horizon")
            return
        self._work(ctx, replace_stale=True)
        if not self.done:
            ctx.set_timer(self.SLICE_TIMER, min(self._slice_ns, end - now) / _NS)

    def _work(self, ctx: StrategyContext, *, replace_stale: bool) -> None:
        if self._working:  # a cancel completed inside our own cancel: once more after
            self._again = True
            return
        self._working = True
        try:
            self._slice(ctx, replace_stale=replace_stale)
            while self._again and not self.done:
                self._again = False
                self._slice(ctx, replace_stale=False)
        finally:
            self._working = self._again = False

    def child_price(self, bid: int, ask: int, *, cross: bool) -> tuple[int, bool]:
        """The price of a child now, and whether it is an IOC crossing the spread."""
        limit = self.params.limit_price
        if self._buy:
            if cross and (not limit or ask <= limit):
                return ask, True
            return (min(bid, limit) if limit else bid), False
        if cross and (not limit or bid >= limit):
            return bid, True
        return (max(ask, limit) if limit else ask), False

    def _slice(self, ctx: StrategyContext, *, replace_stale: bool) -> None:
        end = self.end_ns
        if self.done or self._top is None or end is None:
            return
        now = ctx.now_ns
        if now >= end:
            return
        bucket = self.bucket(now)
        last = bucket == self._n - 1 or now + self._slice_ns >= end  # time to finish
        price, ioc = self.child_price(*self._top, cross=last)
        if replace_stale:
            for order in self._live():
                if order.tif is not TimeInForce.IOC and (ioc or order.price != price):
                    self._cancel(ctx, order)
        target = self.scheduled(min(end, now + self._slice_ns) if last else now)
        outstanding = sum(order.remaining for order in self._orders.values())
        want = target - self.filled - outstanding
        participation = self.params.participation
        if participation > 0:
            cap = math.floor(participation * self.volume[bucket] + 1e-9)
            want = min(want, cap - self.filled_by_bucket[bucket] - outstanding)
        if want <= 0:
            return
        tif = TimeInForce.IOC if ioc else TimeInForce.GTC
        self._submit(ctx, "child", side=self._side, price=price, quantity=want, tif=tif)

    def _on_order_fill(
        self,
        ctx: StrategyContext,
        order: _Order,  # noqa: ARG002 - the hook's signature
        update: OrderUpdate,
    ) -> None:
        self.filled += update.fill_quantity
        self.filled_by_bucket[self.bucket(ctx.now_ns)] += update.fill_quantity
        if self.filled >= self.params.quantity and not self.done:
            self._finish(ctx, "filled")

    def _on_order_end(
        self,
        ctx: StrategyContext,
        order: _Order,
        update: OrderUpdate,  # noqa: ARG002 - the hook's signature
    ) -> None:
        if (
            order.cancelling
            and not self.done
            and not any(o.cancelling for o in self._orders.values())
        ):
            self._work(ctx, replace_stale=False)  # the stale children are gone: replace them

    def _finish(self, ctx: StrategyContext, reason: str) -> None:
        self.done = True
        for order in self._live():
            self._cancel(ctx, order)
        ctx.log.info("vwap done", reason=reason, filled=self.filled, quantity=self.params.quantity)

    def on_stop(self, ctx: StrategyContext) -> None:
        """Cancel its children."""
        self.done = True
        self._stop(ctx)


BUILTINS: dict[str, tuple[Callable[[Any], Strategy], type[msgspec.Struct]]] = {
    "market_maker": (MarketMaker, MarketMakerParams),
    "momentum": (Momentum, MomentumParams),
    "vwap": (Vwap, VwapParams),
}
"""The built-in strategies by name: ``(strategy class, parameter struct)``."""
