"""`StrategyActor`: one `Strategy` object, live, inside the trading tree.

Each incarnation builds a fresh strategy from its factory (a restarted strategy starts
from its parameters, never from a half-updated predecessor) and, before anything else,
asks the order manager to cancel the orders its predecessor left open. Book views may
reach it through a conflating mailbox (`book_mailbox`): a slow strategy then sees the
newest book, not a backlog.

A strategy may trade several instruments, each a (venue, symbol) pair, the first the
primary (``ctx.instrument``); it gets the books and trades of each of them, and books
or trades of any other instrument that reach it are dropped and counted
(``StrategyReport.ignored``). While an instrument's venue is down or the kill switch
is not ACTIVE, the actor does not pass that instrument's book views or trades to the
strategy (there is nothing it could do at the venue); order updates and timers always
pass. The strategy's orders go through risk like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.core.book import BookView
from tradeactors.core.killswitch import KillSwitchChanged
from tradeactors.core.messages import (
    STRATEGY_CANCEL_ALL,
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    GetStrategyReport,
    Message,
    OrderStatus,
    OrderUpdate,
    Side,
    SubmitOrder,
    TimeInForce,
    TradeTick,
    VenueStatus,
    symbol_of,
)
from tradeactors.core.orders import ClientOrderIds
from tradeactors.core.risk import TradingState
from tradeactors.strategy.api import OpenOrder, OrderTracking, Strategy, describe, view_depth_of
from tradeactors.supervision import MailboxSpec, Overflow, SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Sequence

    from tradeactors.actors.routing import StrategyRoutes
    from tradeactors.clock import Timer

# GetStrategyReport lives in tradeactors.core.messages.
__all__ = ["GetStrategyReport", "StrategyActor", "StrategyReport", "book_mailbox"]


def _book_key(message: Any) -> Hashable | None:
    return ("book", message.instrument) if isinstance(message, BookView) else None


def book_mailbox(capacity: int | None = None) -> MailboxSpec:
    """A mailbox in which a newer book view of an instrument replaces a queued one.

    Unbounded by default, on purpose: book views cannot pile up (one per instrument),
    and everything else (order updates, fills, trades, timers) must neither be dropped
    nor make its sender wait. With a ``capacity``, a sender waits for room when it is
    full, and the sender of order updates is the order manager: a strategy that fell
    behind would stall every order, the kill switch's cancels included. A strategy too
    slow for its trades grows its mailbox instead (``tradeactors_mailbox_depth``).
    """
    return MailboxSpec(capacity=capacity, overflow=Overflow.CONFLATE, conflate_key=_book_key)


class StrategyReport(msgspec.Struct, kw_only=True):
    """What a strategy did (this incarnation).

    ``position`` is its primary instrument's, ``positions`` each instrument's (by
    symbol); ``ignored`` counts the books and trades of instruments it does not trade
    that reached it (dropped).
    """

    submitted: int = 0
    denied: int = 0
    rejected: int = 0
    fills: int = 0
    volume: int = 0
    position: int = 0
    books: int = 0
    positions: dict[str, int] = msgspec.field(default_factory=dict)
    ignored: int = 0


class _StrategyTimer(Message, frozen=True, kw_only=True, tag=True):
    incarnation: int
    name: str
    token: int


class _LiveContext(OrderTracking):
    """The `StrategyContext` of a live strategy."""

    def __init__(self, actor: StrategyActor) -> None:
        context = actor.context
        name = describe(actor.strategy)
        symbols = [symbol for _venue, symbol in actor.instruments]
        super().__init__(context.log.bind(strategy=name), symbols, name=name)
        self._actor = actor
        self._clock = context.clock
        self._risk = context.address_of(actor.risk_path)
        self._om = context.address_of(actor.order_manager_path)
        self._me = context.address
        self._path = context.path
        self._incarnation = context.incarnation
        epoch = actor.ids_epoch() if actor.ids_epoch is not None else self._clock.time_ns()
        self._ids = ClientOrderIds(epoch, actor.tag)
        self._timers: dict[str, tuple[int, Timer]] = {}
        self._tokens = 0
        self.venue = actor.venue
        self._venue_of = {symbol: venue for venue, symbol in actor.instruments}

    @property
    def now_ns(self) -> int:
        return self._clock.time_ns()

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
        symbol = self.instrument_for(instrument)  # raises for one it does not trade
        client_order_id = self._ids.next()
        # what self.track() does, with the symbol known
        self._orders[client_order_id] = OpenOrder(
            client_order_id=client_order_id,
            side=side,
            price=price,
            quantity=quantity,
            filled=0,
            status=OrderStatus.PENDING,
            instrument=symbol,
        )
        self._actor.report.submitted += 1
        self._risk.tell(
            SubmitOrder(
                client_order_id=client_order_id,
                venue=self._venue_of[symbol],
                instrument=symbol,
                side=side,
                price=price,
                quantity=quantity,
                owner=self._path,
                tif=tif,
                post_only=post_only,
                timestamp_ns=self._clock.time_ns(),
            )
        )
        return client_order_id

    def cancel(self, client_order_id: str) -> None:
        if self.is_open(client_order_id):
            self._om.tell(CancelOrder(client_order_id=client_order_id))

    def amend(
        self, client_order_id: str, *, price: int | None = None, quantity: int | None = None
    ) -> None:
        if self.is_open(client_order_id):
            self._risk.tell(
                AmendOrder(
                    client_order_id=client_order_id,
                    price=price,
                    quantity=quantity,
                    owner=self._path,
                    timestamp_ns=self._clock.time_ns(),
                )
            )

    def cancel_all(self, instrument: str | None = None) -> None:
        if instrument is None:
            self._om.tell(CancelAllOrders(reason=STRATEGY_CANCEL_ALL, owner=self._path))
            return
        for order in self.open_orders(instrument):  # (raises for one it does not trade)
            self._om.tell(CancelOrder(client_order_id=order.client_order_id))

    def set_timer(self, name: str, delay: float) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old[1].cancel()
        self._tokens += 1
        token, me, incarnation = self._tokens, self._me, self._incarnation
        timer = self._clock.call_later(
            max(0.0, delay),
            lambda: me.tell(_StrategyTimer(incarnation=incarnation, name=name, token=token)),
        )
        self._timers[name] = (token, timer)

    # -- the actor's side --------------------------------------------------------------

    def timer_due(self, message: _StrategyTimer) -> bool:
        current = self._timers.get(message.name)
        if message.incarnation != self._incarnation or current is None:
            return False
        if current[0] != message.token:
            return False
        del self._timers[message.name]
        return True

    def cancel_timers(self) -> None:
        for _token, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


class StrategyActor(SupervisedActor):
    """Runs one strategy live (see the module doc).

    Args:
        factory: builds the strategy (called at every start).
        venue, instrument: where it trades (the instrument's symbol), if it trades one.
        risk_path, order_manager_path: where orders and cancels go (required).
        tag: a short prefix of its client order ids (unique across its instruments).
        instruments: instead of ``venue`` and ``instrument``, the (venue, symbol) pairs
            it trades, the first the primary; a symbol at most once.
        routes: the system's routes, told the depth of the book views the strategy
            asks for (`Strategy.view_depth`) as it starts.
        ids_epoch: gives its client order ids' prefix (ns) at each start (None: the
            clock's time); a system's gives strictly increasing ones, after every id its
            journal holds, so no incarnation repeats an id recorded or sent before.

    Raises:
        TypeError: neither or both of ``venue``/``instrument`` and ``instruments``, or
            no ``risk_path``/``order_manager_path``.
        ValueError: no instruments, a symbol listed twice, or a strategy whose
            ``view_depth`` is no depth.

    """

    def __init__(
        self,
        factory: Callable[[], Strategy],
        venue: str | None = None,
        instrument: str | None = None,
        risk_path: str = "",
        order_manager_path: str = "",
        *,
        tag: str = "s",
        instruments: Sequence[tuple[str, str]] | None = None,
        ids_epoch: Callable[[], int] | None = None,
        routes: StrategyRoutes | None = None,
    ) -> None:
        pairs = _instruments(venue, instrument, instruments)  # refused before anything
        if not risk_path or not order_manager_path:
            raise TypeError("StrategyActor needs risk_path and order_manager_path")
        super().__init__()
        self.instruments = pairs
        self.venue, self.instrument = self.instruments[0]  # the primary
        self.risk_path = risk_path
        self.order_manager_path = order_manager_path
        self.tag = tag
        self.ids_epoch = ids_epoch
        self.strategy = factory()
        self.view_depth = view_depth_of(self.strategy)  # ValueError: no depth
        self._routes = routes
        self.report = StrategyReport()
        self._ctx: _LiveContext | None = None
        self._venue_of = {symbol: venue for venue, symbol in self.instruments}
        self._venues_down: set[str] = set()
        self._active = True
        self._scopes: dict[str, TradingState] = {}  # kill-switch scope -> its state

    def on_start(self) -> None:
        """Cancel what a predecessor left open, then start the strategy."""
        self.context.address_of(self.order_manager_path).tell(
            CancelAllOrders(reason="strategy (re)started", owner=self.context.path)
        )
        if self._routes is not None:  # its books build views as deep as it asked
            self._routes.set_depth(self.context.path, self.view_depth)
        self._ctx = _LiveContext(self)
        self.strategy.on_start(self._ctx)

    def on_stop(self) -> None:
        """Stop the strategy and cancel its orders."""
        if self._ctx is None:
            return
        self._ctx.cancel_timers()
        try:
            self.strategy.on_stop(self._ctx)
        finally:
            self._ctx.cancel_all()

    def on_failure(self, *_exc_info: object) -> None:
        """Stop its timers; the successor cancels its orders when it starts."""
        if self._ctx is not None:
            self._ctx.cancel_timers()

    def on_receive(self, message: Any) -> Any:  # noqa: C901 - one branch per message
        """Pass callbacks to the strategy."""
        ctx = self._ctx
        assert ctx is not None  # noqa: S101 - set by on_start
        strategy = self.strategy
        if isinstance(message, BookView):
            if self._trading(symbol_of(message.instrument), message):
                self.report.books += 1
                strategy.on_book(ctx, message)
        elif isinstance(message, OrderUpdate):
            self._count(message)
            ctx.apply(message)
            strategy.on_order_update(ctx, message)
            if message.fill_quantity:
                strategy.on_fill(ctx, message)
        elif isinstance(message, TradeTick):
            if self._trading(message.instrument, message):
                strategy.on_trade(ctx, message)
        elif isinstance(message, _StrategyTimer):
            if ctx.timer_due(message):  # timers run on (a schedule must not die)
                strategy.on_timer(ctx, message.name)
        elif isinstance(message, VenueStatus):
            self._venue_status(message)
        elif isinstance(message, KillSwitchChanged):
            self._kill_switch_changed(message)
        elif isinstance(message, GetStrategyReport):
            report = msgspec.structs.replace(self.report)
            report.position = ctx.position
            report.positions = ctx.positions
            return report
        return None

    def _venue_status(self, message: VenueStatus) -> None:
        if message.up:
            self._venues_down.discard(message.venue)
        elif message.venue in self._venue_of.values():
            self._venues_down.add(message.venue)

    def _trading(self, symbol: str, message: BookView | TradeTick) -> bool:
        """True to pass market data of ``symbol`` on: its own, its venue up, switch ACTIVE."""
        venue = self._venue_of.get(symbol)
        if venue is None:
            self.report.ignored += 1
            if self.report.ignored == 1:  # a wiring error: say so once, count the rest
                self.context.log.warning(
                    "market_data_of_other_instrument_ignored",
                    message=type(message).__name__,
                    instrument=message.instrument,
                    instruments=self.instrument_keys,
                )
            return False
        return self._active and venue not in self._venues_down

    def _kill_switch_changed(self, change: KillSwitchChanged) -> None:
        """Trade only while all, its own strategy scope and its venues' scopes are ACTIVE."""
        venue = change.scope.removeprefix("venue:")
        if venue == change.scope or venue in self._venue_of.values():
            self._scopes[change.scope] = change.state
            self._active = all(s is TradingState.ACTIVE for s in self._scopes.values())

    @property
    def instrument_keys(self) -> tuple[str, ...]:
        """Its instruments as ``venue:symbol``."""
        return tuple(f"{venue}:{symbol}" for venue, symbol in self.instruments)

    def _count(self, update: OrderUpdate) -> None:
        report = self.report
        if update.fill_quantity:
            report.fills += 1
            report.volume += update.fill_quantity
        if update.amend is not None:
            return  # an amend's outcome: the order was not denied or rejected
        if update.status == OrderStatus.DENIED:
            report.denied += 1
        elif update.status == OrderStatus.REJECTED:
            report.rejected += 1


def _instruments(
    venue: str | None, instrument: str | None, instruments: Sequence[tuple[str, str]] | None
) -> tuple[tuple[str, str], ...]:
    """The (venue, symbol) pairs of `StrategyActor`'s arguments (see its doc)."""
    if instruments is None:
        if venue is None or instrument is None:
            raise TypeError("StrategyActor needs venue and instrument, or instruments")
        return ((venue, instrument),)
    if venue is not None or instrument is not None:
        raise TypeError("StrategyActor takes venue and instrument, or instruments, not both")
    if isinstance(instruments, str):
        raise TypeError(f"StrategyActor: instruments are (venue, symbol) pairs: {instruments!r}")
    pairs: list[tuple[str, str]] = []
    for pair in instruments:
        match pair:
            case (str() as pair_venue, str() as symbol):
                pairs.append((pair_venue, symbol))
            case _:
                raise TypeError(f"StrategyActor: instruments are (venue, symbol) pairs: {pair!r}")
    if not pairs:
        raise ValueError("StrategyActor needs at least one instrument")
    symbols = [symbol for _venue, symbol in pairs]
    twice = sorted({symbol for symbol in symbols if symbols.count(symbol) > 1})
    if twice:
        raise ValueError(f"StrategyActor: an instrument listed twice: {', '.join(twice)}")
    return tuple(pairs)
