"""The strategy API: what a strategy implements, and the context it acts through.

A strategy is a plain object. It never touches threads, sockets or the clock: it
reacts to callbacks and acts through its `StrategyContext`. The same object runs live
inside `tradeactors.actors.strategy.StrategyActor` (the context talks to risk and the
order manager) and offline in `tradeactors.backtest` (the context talks to a simulated
venue), and gives the same decisions for the same inputs.

Prices are integer ticks and quantities integer lots of the instrument. A strategy
may trade several instruments (``ctx.instruments``, the first the primary: the one
``ctx.instrument``, ``ctx.position`` and a ``ctx.submit`` without ``instrument=`` are
about). Callbacks:

- ``on_start(ctx)``, ``on_stop(ctx)``;
- ``on_book(ctx, view)``: a new immutable `BookView` of one of the strategy's
  instruments;
- ``on_trade(ctx, trade)``: a public trade (`TradeTick`);
- ``on_order_update(ctx, update)``: any change of one of its orders (`OrderUpdate`),
  and the outcome of each amend (``update.amend``);
- ``on_fill(ctx, update)``: the same update, when it carries a fill (called after
  ``on_order_update``);
- ``on_timer(ctx, name)``: a timer it set with ``ctx.set_timer``.

Subclass `Strategy` (every callback does nothing by default).

Guarantees, in both homes: no callback runs inside a ``ctx`` call (what a command
causes arrives later, as its own callback); ``ctx.position`` and ``ctx.open_orders()``
already include an update when ``on_order_update``/``on_fill`` get it; nothing is
called after ``on_stop``. Book views name their instrument ``venue:symbol``
(`tradeactors.core.messages.symbol_of` gives the symbol); trades name the symbol.
There is no way to cancel a timer: set it again to replace it, or ignore it when due.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from tradeactors.core.messages import OrderStatus, Side, TimeInForce, TradeTick

if TYPE_CHECKING:
    from collections.abc import Sequence

    from structlog.typing import FilteringBoundLogger

    from tradeactors.core.book import BookView
    from tradeactors.core.messages import OrderUpdate

__all__ = [
    "ENDED",
    "MAX_VIEW_DEPTH",
    "OpenOrder",
    "OrderTracking",
    "Strategy",
    "StrategyContext",
    "TradeTick",
    "view_depth_of",
]


class OpenOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One of the strategy's orders that may still trade.

    ``instrument`` is its symbol (``""`` where built by code that predates it).
    """

    client_order_id: str
    side: Side
    price: int
    quantity: int
    filled: int
    status: OrderStatus
    instrument: str = ""


class StrategyContext(Protocol):
    """What a strategy may do and know."""

    @property
    def instrument(self) -> str:
        """The symbol of its primary instrument (the first of ``instruments``)."""
        ...

    @property
    def instruments(self) -> tuple[str, ...]:
        """The symbols it trades, the primary first."""
        ...

    @property
    def now_ns(self) -> int:
        """The time: wall clock live, the replayed time in a backtest."""
        ...

    @property
    def position(self) -> int:
        """Its net position in lots in its primary instrument (from its own fills)."""
        ...

    def position_of(self, instrument: str) -> int:
        """Its net position in lots in ``instrument`` (a symbol it trades, else ValueError)."""
        ...

    @property
    def log(self) -> FilteringBoundLogger:
        """A logger bound with the strategy's name."""
        ...

    def open_orders(self, instrument: str | None = None) -> list[OpenOrder]:
        """Its orders that may still trade, oldest first (of ``instrument``; None: all)."""
        ...

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
        """Send an order (through risk); returns its client order id.

        ``instrument``: the symbol to trade (None: the primary). One it does not trade
        raises ValueError, naming it and its instruments.
        """
        ...

    def cancel(self, client_order_id: str) -> None:
        """Cancel one of its orders (of any of its instruments)."""
        ...

    def amend(
        self, client_order_id: str, *, price: int | None = None, quantity: int | None = None
    ) -> None:
        """Change one of its open orders' price and/or total quantity (None: keep it).

        ``quantity`` is the new total, filled included. A lower quantity at the same
        price keeps the order's place in the queue; anything else loses it. The outcome
        comes as an ``on_order_update`` with ``update.amend`` set: ``amended`` (the
        update has the new price and quantity), ``rejected`` (by the venue: ``reason``)
        or ``denied`` (by risk: ``reason``); the order is unchanged unless amended.
        One amend at a time per order: another before the answer is denied
        ``amend_pending``.
        """
        ...

    def cancel_all(self, instrument: str | None = None) -> None:
        """Cancel all of its orders (of ``instrument``; None: of all its instruments)."""
        ...

    def set_timer(self, name: str, delay: float) -> None:
        """Call ``on_timer(ctx, name)`` after ``delay`` seconds (replaces a timer of that name)."""
        ...


MAX_VIEW_DEPTH = 1000
"""The deepest view a strategy may ask for (`Strategy.view_depth`)."""


def view_depth_of(strategy: object) -> int | None:
    """``strategy``'s `Strategy.view_depth` (None: none asked); ValueError if it is no depth.

    Read with ``getattr``: a strategy need not subclass `Strategy`.
    """
    depth = getattr(strategy, "view_depth", None)
    if depth is None:
        return None
    if type(depth) is not int or not 1 <= depth <= MAX_VIEW_DEPTH:
        raise ValueError(
            f"view_depth = {depth!r}: a whole number of levels from 1 to {MAX_VIEW_DEPTH}, "
            f"or None for the system's depth"
        )
    return depth


class Strategy:
    """Base class: every callback does nothing. Parameters go to ``__init__``."""

    name = "strategy"

    view_depth: int | None = None
    """Levels a side of the book views (`BookView`) ``on_book`` is handed (1 to `MAX_VIEW_DEPTH`).

    None: the system's depth (10 live, ``[paper] depth`` in paper trading and
    backtests). A strategy that reads only the best bid and ask sets 1: its views are
    the cheapest to build, on every update of every book it trades. Several strategies
    on one book share one view per depth asked. Views that cross hosts over the bus
    keep the market data host's depth.
    """

    def on_start(self, ctx: StrategyContext) -> None:
        """Called once before anything else."""

    def on_book(self, ctx: StrategyContext, view: BookView) -> None:
        """A new book view of one of its instruments (``view.instrument``: venue:symbol)."""

    def on_trade(self, ctx: StrategyContext, trade: TradeTick) -> None:
        """A public trade in one of its instruments (``trade.instrument``: the symbol)."""

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        """One of its orders changed."""

    def on_fill(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        """One of its orders filled (after ``on_order_update`` for the same update)."""

    def on_timer(self, ctx: StrategyContext, name: str) -> None:
        """A timer it set went off."""

    def on_stop(self, ctx: StrategyContext) -> None:
        """Called once at the end (live: when the actor stops; backtest: at the end)."""


ENDED = frozenset(status for status in OrderStatus if not status.open)
"""`OrderUpdate.status` values of orders that can no longer trade."""


class OrderTracking:
    """What both contexts (live and backtest) keep of a strategy's own orders.

    Its open orders, from ``track`` at submit until an update says they ended, and its
    position in each of its ``instruments`` (symbols, the primary first) from the
    fills in the updates (`apply`). ``name`` is the strategy's, for errors.
    """

    def __init__(
        self, log: FilteringBoundLogger, instruments: Sequence[str], *, name: str = "strategy"
    ) -> None:
        if not instruments or isinstance(instruments, str):
            raise ValueError(f"a strategy trades one instrument or more, not {instruments!r}")
        if len(set(instruments)) != len(instruments):
            raise ValueError(f"an instrument is listed twice: {', '.join(instruments)}")
        self._name = name
        self._instruments = tuple(instruments)
        self._positions = dict.fromkeys(self._instruments, 0)
        self._orders: dict[str, OpenOrder] = {}
        self._log = log

    @property
    def instrument(self) -> str:
        """The primary instrument's symbol."""
        return self._instruments[0]

    @property
    def instruments(self) -> tuple[str, ...]:
        """The symbols it trades, the primary first."""
        return self._instruments

    @property
    def position(self) -> int:
        """Net lots of the primary instrument from its own fills."""
        return self._positions[self._instruments[0]]

    def position_of(self, instrument: str) -> int:
        """Net lots of ``instrument`` from its own fills."""
        return self._positions[self.instrument_for(instrument)]

    @property
    def positions(self) -> dict[str, int]:
        """Net lots of each of its instruments (a copy)."""
        return dict(self._positions)

    @property
    def log(self) -> FilteringBoundLogger:
        """The bound logger."""
        return self._log

    def instrument_for(self, instrument: str | None) -> str:
        """The symbol ``instrument`` names (None: the primary); ValueError if not its own."""
        if instrument is None:
            return self._instruments[0]
        if instrument not in self._positions:
            raise ValueError(
                f"strategy {self._name!r} does not trade {instrument!r}; "
                f"its instruments: {', '.join(self._instruments)}"
            )
        return instrument

    def open_orders(self, instrument: str | None = None) -> list[OpenOrder]:
        """Its orders that may still trade, oldest first (of ``instrument``; None: all)."""
        if instrument is None:
            return list(self._orders.values())
        symbol = self.instrument_for(instrument)
        return [order for order in self._orders.values() if order.instrument == symbol]

    def is_open(self, client_order_id: str) -> bool:
        """True while the order may still trade."""
        return client_order_id in self._orders

    def track(
        self,
        client_order_id: str,
        *,
        side: Side,
        price: int,
        quantity: int,
        instrument: str | None = None,
    ) -> None:
        """A new order was submitted (of ``instrument``; None: the primary)."""
        self._orders[client_order_id] = OpenOrder(
            client_order_id=client_order_id,
            side=side,
            price=price,
            quantity=quantity,
            filled=0,
            status=OrderStatus.PENDING,
            instrument=self.instrument_for(instrument),
        )

    def apply(self, update: OrderUpdate) -> None:
        """An update of one of its orders (before the strategy hears of it).

        A fill of an instrument it does not trade (a wiring error: its orders are all
        of its instruments) moves no position and is logged.
        """
        if update.fill_quantity:
            if update.instrument in self._positions:
                self._positions[update.instrument] += update.side.sign * update.fill_quantity
            else:
                self._log.error(
                    "fill_of_unknown_instrument",
                    client_order_id=update.client_order_id,
                    instrument=update.instrument,
                    instruments=self._instruments,
                )
        if update.status in ENDED:
            self._orders.pop(update.client_order_id, None)
        elif update.client_order_id in self._orders:
            self._orders[update.client_order_id] = OpenOrder(
                client_order_id=update.client_order_id,
                side=update.side,
                price=update.price,
                quantity=update.quantity,
                filled=update.filled,
                status=update.status,
                instrument=update.instrument,
            )


def describe(strategy: Any) -> str:
    """A short name for logs and reports: its ``name``, else its class's name."""
    name = getattr(strategy, "name", None)
    if isinstance(name, str) and name and name != Strategy.name:
        return name
    return type(strategy).__name__
