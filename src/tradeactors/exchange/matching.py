"""A price-time priority matching engine: pure, deterministic, in-process.

Prices are integer ticks and quantities integer lots. Orders: limit (GTC, IOC, FOK,
post-only) and market (with a protection price: it never trades through it). Cancel,
cancel-all (per account, optionally per instrument) and amend. The semantics are
Binance spot's:

- **Filters** (`Filters`, Binance's PRICE_FILTER, LOT_SIZE and MIN_NOTIONAL) are
  checked before anything else; an order or amend that fails one is rejected with the
  filter's name and changes nothing. A resting level never grows past what a client's
  book can parse (``max_level_quantity``): the order that would push it past is
  refused.
- **Post-only** is Binance's LIMIT_MAKER: rejected if it would take, also when an amend
  moves it to a crossing price.
- **Expiry**: an IOC or market remainder and an unfillable FOK are accepted first, then
  expire (`CancelStatus.EXPIRED`); self-trade prevention (Binance's ``EXPIRE_MAKER``:
  the resting order of the same account goes) expires the resting order
  (`CancelStatus.EXPIRED_IN_MATCH`). Only what an account asked for (cancel, cancel-all,
  disconnect, dead-man's switch, the cancel half of a cancel-replace) is
  `CancelStatus.CANCELED`.
- **Amend**: at the same price it is Binance's ``order.amend.keepPriority``: the
  quantity may only go down and the order keeps its place; a price change is Binance's
  ``order.cancelReplace``: the order is cancelled and a new one (new order id, same
  client order id, any quantity) joins the back of the queue at the new price, where it
  may trade at once unless it is post-only. Both are checked in full first: a refused
  amend leaves the order as it was.

Every fill has a maker and a taker; each account's execution ids increase by one per
fill. Fees are in basis points of notional, kept exact as integers in units of
``tick * lot / 10_000``.

The engine returns events (accepted, rejected with a reason, filled, cancelled or
expired, amended); it never raises for a bad request. ``check_invariants()`` asserts:
books not crossed, no empty or zero-size resting order, every level's size the sum of
its orders and within the filters, every order's quantity conserved (filled + resting +
cancelled == original), positions summing to zero per instrument.
"""

from __future__ import annotations

import enum
import math
import re
from bisect import bisect_left, insort
from collections import deque
from fractions import Fraction
from typing import TYPE_CHECKING

import msgspec

from tradeactors.core.instrument import Instrument, ParseError, decimal_places, parse_units
from tradeactors.core.messages import Side, TimeInForce
from tradeactors.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "DEFAULT_FILTERS",
    "CancelStatus",
    "EngineAccepted",
    "EngineAmended",
    "EngineCanceled",
    "EngineFilled",
    "EngineRejected",
    "Event",
    "Filters",
    "Liquidity",
    "MatchingEngine",
    "OrderView",
    "RejectReason",
    "Side",
    "TimeInForce",
    "read_price",
    "read_quantity",
]


class Liquidity(enum.Enum):
    """Which side of a fill an order was on."""

    MAKER = "maker"
    TAKER = "taker"


class RejectReason(enum.Enum):
    """Why a request was refused (an event, never an exception).

    ``code`` and ``message`` are Binance's for the same refusal (its errors.md), so a
    client can show what a Binance user would see.
    """

    PRICE_FILTER = "price_filter"  # below min_price, above max_price (or not on the tick)
    LOT_SIZE = "lot_size"  # below min_quantity, above max_quantity (or not on the lot)
    MIN_NOTIONAL = "min_notional"  # price x quantity below min_notional
    MAX_LEVEL_SIZE = "max_level_size"  # the price level would outgrow max_level_quantity
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    AMEND_QUANTITY_INCREASE = "amend_quantity_increase"  # same price, more quantity
    AMEND_NO_CHANGE = "amend_no_change"  # same price, same quantity
    UNKNOWN_ORDER = "unknown_order"
    NOT_YOUR_ORDER = "not_your_order"

    @property
    def code(self) -> int:
        """Binance's error code for this refusal (-1013 a filter, -2010 a new order...)."""
        return _BINANCE[self][0]

    @property
    def message(self) -> str:
        """Binance's error message for this refusal."""
        return _BINANCE[self][1]


_BINANCE: dict[RejectReason, tuple[int, str]] = {
    RejectReason.PRICE_FILTER: (-1013, "Filter failure: PRICE_FILTER"),
    RejectReason.LOT_SIZE: (-1013, "Filter failure: LOT_SIZE"),
    RejectReason.MIN_NOTIONAL: (-1013, "Filter failure: MIN_NOTIONAL"),
    # not a Binance filter (Binance has no such limit to publish): named like one
    RejectReason.MAX_LEVEL_SIZE: (-1013, "Filter failure: MAX_LEVEL_SIZE"),
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: (-2010, "Duplicate order sent."),
    RejectReason.POST_ONLY_WOULD_TAKE: (-2010, "Order would immediately match and take."),
    RejectReason.AMEND_QUANTITY_INCREASE: (
        -2038,
        "Order amend (quantity increase) is not supported.",
    ),
    RejectReason.AMEND_NO_CHANGE: (-2038, "The requested action would change no state; rejecting"),
    RejectReason.UNKNOWN_ORDER: (-2011, "Unknown order sent."),
    RejectReason.NOT_YOUR_ORDER: (-2011, "Unknown order sent."),  # Binance shows no one else's
}


class CancelStatus(enum.Enum):
    """How quantity that left the book without trading ended (Binance's order status).

    ``EngineCanceled.reason`` says why, in Binance's terms (its expiry reason ``eR``):
    ``"ioc"`` UNFILLED_IOC_QUANTITY_EXPIRED, ``"fok"`` UNFILLED_FOK_ORDER_EXPIRED,
    ``"insufficient_liquidity"`` INSUFFICIENT_LIQUIDITY (a market order that emptied the
    other side), ``"market_protection"`` EXECUTION_RULE_PRICE_RANGE_EXCEEDED (a market
    order at its protection price), ``"self_trade"`` (execution type TRADE_PREVENTION);
    ``"user"`` and ``"replaced"`` are cancels.
    """

    CANCELED = "canceled"  # the account asked: cancel, cancel-all, cancel-replace, session end
    EXPIRED = "expired"  # the order's own rules: IOC/market remainder, unfillable FOK
    EXPIRED_IN_MATCH = "expired_in_match"  # self-trade prevention


WIRE_DECIMALS = 8
"""Binance writes prices and sizes with 8 decimals (``"2683.80000000"``)."""

WIRE_MAX_UNITS = 10**18 - 1
"""The largest published price or level size, in units of ``10**-WIRE_DECIMALS``.

18 digits at 8 decimals: 9,999,999,999.99999999. It fits a signed 64-bit integer
(9.2e18), as Binance's own SBE encoding holds prices and sizes (an int64 mantissa), and
is far inside what this package's parser reads (60 digits, `core.instrument`). A
published level beyond what clients parse makes every client's book reject it as a bad
level for ever, so no order may build one.
"""


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    """One instrument's order limits, in ticks and lots.

    Binance's PRICE_FILTER (``min_price`` <= price <= ``max_price``; on the tick by
    construction), LOT_SIZE (``min_quantity`` <= quantity <= ``max_quantity``; on the lot
    by construction) and MIN_NOTIONAL (price x quantity >= ``min_notional``, in units of
    tick x lot; 0 disables it; not applied to market orders, like Binance's default
    ``applyMinToMarket=false``), plus ``max_level_quantity``: the most one price level
    may hold. `Filters.of` derives them from an `Instrument`.
    """

    min_price: int = 1
    max_price: int
    min_quantity: int = 1
    max_quantity: int
    min_notional: int = 0
    max_level_quantity: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_price <= self.max_price:
            raise ConfigError(f"need 1 <= min_price <= max_price: {self}")
        if not 1 <= self.min_quantity <= self.max_quantity <= self.max_level_quantity:
            raise ConfigError(
                f"need 1 <= min_quantity <= max_quantity <= max_level_quantity: {self}"
            )
        if self.min_notional < 0:
            raise ConfigError(f"min_notional must not be negative: {self}")

    @classmethod
    def of(cls, instrument: Instrument) -> Filters:
        """The filters of ``instrument``: its limits, or these defaults.

        - ``min_price``: one tick; ``min_quantity``: one lot; ``min_notional``: none.
        - ``max_price`` and ``max_quantity``: the largest multiple of the step whose
          decimal string stays within `WIRE_MAX_UNITS` at Binance's 8 decimals (at the
          instrument's own decimals if it has more): with a tick of ``"0.01"``,
          9,999,999,999.99; with a lot of ``"0.001"``, 9,999,999,999.999.
        - ``max_level_quantity``: the same ceiling for a whole level, whatever
          ``max_quantity`` is configured.

        Raises:
            ConfigError: a limit that is not a decimal on its step, or beyond the ceiling.

        """
        max_ticks = _wire_ceiling(instrument.tick_size)
        max_lots = _wire_ceiling(instrument.lot_size)
        price, size = instrument.price, instrument.size
        filters = cls(
            min_price=_limit(price, instrument.min_price, "min_price", 1),
            max_price=_limit(price, instrument.max_price, "max_price", max_ticks),
            min_quantity=_limit(size, instrument.min_quantity, "min_quantity", 1),
            max_quantity=_limit(size, instrument.max_quantity, "max_quantity", max_lots),
            min_notional=_notional(instrument),
            max_level_quantity=max_lots,
        )
        if filters.max_price > max_ticks or filters.max_quantity > max_lots:
            raise ConfigError(
                f"{instrument.key}: max_price {instrument.max_price!r} or max_quantity "
                f"{instrument.max_quantity!r} is above what the wire carries "
                f"({instrument.format_price(max_ticks)}, {instrument.format_size(max_lots)})"
            )
        return filters

    def check(self, price: int, quantity: int, *, market: bool = False) -> RejectReason | None:
        """The filter ``price`` and ``quantity`` fail, or None."""
        if not self.min_price <= price <= self.max_price:
            return RejectReason.PRICE_FILTER
        if not self.min_quantity <= quantity <= self.max_quantity:
            return RejectReason.LOT_SIZE
        if not market and price * quantity < self.min_notional:
            return RejectReason.MIN_NOTIONAL
        return None


def _wire_ceiling(step: str) -> int:
    """The most steps of ``step`` whose decimal string stays within `WIRE_MAX_UNITS`."""
    places = decimal_places(step)
    units = parse_units(step, places)  # Instrument already checked it
    scale: int = 10 ** (max(WIRE_DECIMALS, places) - places)
    return WIRE_MAX_UNITS // (units * scale)


def _limit(parse: Callable[[str], int], text: str, name: str, default: int) -> int:
    if not text:
        return default
    try:
        return parse(text)
    except ParseError as exc:
        raise ConfigError(f"instrument {name} {text!r}: {exc}") from exc


def _notional(instrument: Instrument) -> int:
    """``min_notional`` in units of tick x lot, rounded up (0: none)."""
    text = instrument.min_notional
    if not text:
        return 0
    try:
        parse_units(text, decimal_places(text))  # a plain non-negative decimal
    except ParseError as exc:
        raise ConfigError(f"instrument min_notional {text!r}: {exc}") from exc
    step = Fraction(instrument.tick_size) * Fraction(instrument.lot_size)
    return math.ceil(Fraction(text) / step)


DEFAULT_FILTERS = Filters.of(
    Instrument(venue="sim", symbol="SIM", tick_size="0.01", lot_size="0.001")
)
"""For an instrument the engine was given no filters for: those of the default
instrument (config's tick 0.01, lot 0.001): prices up to 999,999,999,999 ticks, order
and level sizes up to 9,999,999,999,999 lots."""

_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def read_price(instrument: Instrument, text: str) -> int | RejectReason:
    """The venue's reading of a price string: ticks, or ``PRICE_FILTER``.

    A decimal the instrument refuses (off the tick, finer than it, longer than any
    venue writes) fails the PRICE_FILTER, as on Binance ("``price`` % ``tickSize`` ==
    0"). Raises `ParseError` if ``text`` is not a plain decimal at all (a bad request:
    Binance's -1100 "Illegal characters found in parameter").
    """
    return _read(instrument.price, text, RejectReason.PRICE_FILTER)


def read_quantity(instrument: Instrument, text: str) -> int | RejectReason:
    """The venue's reading of a quantity string: lots, or ``LOT_SIZE`` (as `read_price`)."""
    return _read(instrument.size, text, RejectReason.LOT_SIZE)


def _read(parse: Callable[[str], int], text: str, reason: RejectReason) -> int | RejectReason:
    try:
        return parse(text)
    except ParseError:
        if _DECIMAL.fullmatch(text):
            return reason
        raise


class EngineAccepted(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The order was accepted (it may then fill, rest, or expire)."""

    account: str
    order_id: int
    client_order_id: str
    instrument: str
    side: Side
    price: int
    quantity: int


class EngineRejected(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A request was refused; nothing changed."""

    account: str
    client_order_id: str
    order_id: int | None
    reason: RejectReason


class EngineFilled(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """One side of a trade."""

    account: str
    execution_id: int
    order_id: int
    client_order_id: str
    instrument: str
    side: Side
    price: int
    quantity: int
    liquidity: Liquidity
    fee_e4: int  # fee in units of tick * lot / 10_000
    remaining: int  # still open on this order after the fill


class EngineCanceled(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Quantity left the book without trading: cancelled or expired (``status``)."""

    account: str
    order_id: int
    client_order_id: str
    quantity: int
    reason: str  # see CancelStatus
    status: CancelStatus = CancelStatus.CANCELED


class EngineAmended(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A keep-priority amend lowered an order's remaining quantity.

    ``kept_priority`` is always true: a price change is a cancel-replace (an
    `EngineCanceled` with reason ``"replaced"``, then an `EngineAccepted`).
    """

    account: str
    order_id: int
    client_order_id: str
    price: int
    remaining: int
    kept_priority: bool


Event = EngineAccepted | EngineRejected | EngineFilled | EngineCanceled | EngineAmended


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    """A resting order as its account sees it."""

    order_id: int
    client_order_id: str
    instrument: str
    side: Side
    price: int
    remaining: int
    filled: int


class _Order:
    __slots__ = (
        "account",
        "cancelled",
        "client_order_id",
        "filled",
        "instrument",
        "order_id",
        "original",
        "post_only",
        "price",
        "remaining",
        "side",
    )

    def __init__(
        self,
        *,
        order_id: int,
        account: str,
        client_order_id: str,
        instrument: str,
        side: Side,
        price: int,
        quantity: int,
        post_only: bool,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.client_order_id = client_order_id
        self.instrument = instrument
        self.side = side
        self.price = price
        self.original = quantity
        self.remaining = quantity
        self.filled = 0
        self.cancelled = 0
        self.post_only = post_only


class _Side:
    """Resting orders of one side: FIFO queues by price, best price last in ``keys``."""

    __slots__ = ("keys", "levels", "sign", "sizes")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 bids (higher is better), -1 asks
        self.levels: dict[int, deque[_Order]] = {}
        self.sizes: dict[int, int] = {}  # price -> sum of the remaining quantities
        self.keys: list[int] = []  # sign * price, ascending: best last

    def best_price(self) -> int | None:
        return self.keys[-1] * self.sign if self.keys else None

    def add(self, order: _Order) -> None:
        queue = self.levels.get(order.price)
        if queue is None:
            queue = self.levels[order.price] = deque()
            self.sizes[order.price] = 0
            insort(self.keys, order.price * self.sign)
        queue.append(order)
        self.sizes[order.price] += order.remaining

    def remove(self, order: _Order) -> None:
        queue = self.levels[order.price]
        queue.remove(order)
        self.sizes[order.price] -= order.remaining
        if not queue:
            self.drop_level(order.price)

    def drop_level(self, price: int) -> None:
        del self.levels[price]
        del self.sizes[price]
        del self.keys[bisect_left(self.keys, price * self.sign)]


class _Book:
    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = _Side(+1)
        self.asks = _Side(-1)

    def side(self, side: Side) -> _Side:
        return self.bids if side is Side.BUY else self.asks

    def contra(self, side: Side) -> _Side:
        return self.asks if side is Side.BUY else self.bids


class MatchingEngine:
    """Books per instrument, orders and fills per account. Not thread-safe: one owner.

    ``filters``: per instrument symbol (`Filters.of` an `Instrument`); an instrument
    not in it gets `DEFAULT_FILTERS`.
    """

    def __init__(
        self,
        *,
        maker_fee_bps: int = 0,
        taker_fee_bps: int = 0,
        filters: Mapping[str, Filters] | None = None,
    ) -> None:
        self._maker_bps = maker_fee_bps
        self._taker_bps = taker_fee_bps
        self._filters = dict(filters or {})
        self._books: dict[str, _Book] = {}
        self._orders: dict[int, _Order] = {}  # every order ever accepted
        self._open: dict[int, _Order] = {}
        self._client_ids: set[tuple[str, str]] = set()
        self._next_order_id = 1
        self._fills: dict[str, list[EngineFilled]] = {}
        self._positions: dict[tuple[str, str], int] = {}

    # -- queries -------------------------------------------------------------------

    def filters(self, instrument: str) -> Filters:
        """The filters orders on ``instrument`` must pass."""
        return self._filters.get(instrument, DEFAULT_FILTERS)

    def open_orders(self, account: str, instrument: str | None = None) -> list[OrderView]:
        """The account's resting orders, oldest first."""
        return [
            OrderView(
                order_id=o.order_id,
                client_order_id=o.client_order_id,
                instrument=o.instrument,
                side=o.side,
                price=o.price,
                remaining=o.remaining,
                filled=o.filled,
            )
            for o in self._open.values()
            if o.account == account and (instrument is None or o.instrument == instrument)
        ]

    def instrument_of(self, order_id: int) -> str | None:
        """The instrument of order ``order_id`` (open or not), None if it never rested."""
        order = self._orders.get(order_id)
        return order.instrument if order is not None else None

    def fills_since(self, account: str, execution_id: int = 0) -> list[EngineFilled]:
        """The account's fills with an execution id above ``execution_id``."""
        fills = self._fills.get(account, [])
        return fills[execution_id:] if execution_id >= 0 else list(fills)

    def position(self, account: str, instrument: str) -> int:
        """Net lots: bought minus sold."""
        return self._positions.get((account, instrument), 0)

    def best(self, instrument: str) -> tuple[int | None, int | None]:
        """(best bid, best ask) prices of ``instrument``."""
        book = self._books.get(instrument)
        if book is None:
            return None, None
        return book.bids.best_price(), book.asks.best_price()

    def depth(self, instrument: str, side: Side, levels: int = 10) -> list[tuple[int, int]]:
        """Aggregated ``(price, quantity)`` levels of one side, best first. O(levels)."""
        book = self._books.get(instrument)
        if book is None:
            return []
        book_side = book.side(side)
        sign, sizes = book_side.sign, book_side.sizes
        keys = book_side.keys[-levels:] if levels > 0 else []
        return [(key * sign, sizes[key * sign]) for key in reversed(keys)]

    # -- requests ------------------------------------------------------------------

    def submit(
        self,
        *,
        account: str,
        client_order_id: str,
        instrument: str,
        side: Side,
        quantity: int,
        price: int,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        market: bool = False,
    ) -> list[Event]:
        """Place an order. For a market order ``price`` is the protection limit."""
        book = self._books.get(instrument) or _Book()
        rests = tif is TimeInForce.GTC and not market
        reason = self.filters(instrument).check(price, quantity, market=market)
        if reason is None and (account, client_order_id) in self._client_ids:
            reason = RejectReason.DUPLICATE_CLIENT_ORDER_ID
        if reason is None:
            reason = self._placement(
                book, instrument, side, price, quantity, post_only=post_only, rests=rests
            )
        if reason is not None:
            return [self._rejected(account, client_order_id, reason)]
        self._books[instrument] = book
        order, events = self._accept(
            account=account,
            client_order_id=client_order_id,
            instrument=instrument,
            side=side,
            price=price,
            quantity=quantity,
            post_only=post_only,
        )
        contra = book.contra(side)
        if tif is TimeInForce.FOK and self._fillable(contra, side, price, account) < quantity:
            events.append(self._expire(order, "fok"))
            return events
        self._match(book, order, events)
        if not order.remaining:
            return events
        if rests:
            self._rest(book, order)
        elif market:
            reason_text = "market_protection" if contra.keys else "insufficient_liquidity"
            events.append(self._expire(order, reason_text))
        else:
            events.append(self._expire(order, "ioc" if tif is TimeInForce.IOC else "fok"))
        return events

    def cancel(self, *, account: str, order_id: int) -> list[Event]:
        """Cancel one resting order of ``account``."""
        order = self._resting(account, order_id)
        if isinstance(order, EngineRejected):
            return [order]
        return [self._cancel_resting(order, "user")]

    def cancel_all(self, *, account: str, instrument: str | None = None) -> list[Event]:
        """Cancel every resting order of ``account`` (on ``instrument`` if given)."""
        return [
            self._cancel_resting(order, "user")
            for order in list(self._open.values())
            if order.account == account and (instrument is None or order.instrument == instrument)
        ]

    def amend(
        self,
        *,
        account: str,
        order_id: int,
        remaining: int | None = None,
        price: int | None = None,
    ) -> list[Event]:
        """Change a resting order's remaining quantity, or its price (and quantity).

        At the same price (Binance's ``order.amend.keepPriority``): ``remaining`` must be
        lower than now and pass LOT_SIZE (so above 0); the order keeps its queue place.
        At a new price (Binance's ``order.cancelReplace``): the order is cancelled and a
        new one (new order id, same client order id) for ``remaining`` (default: what
        is left) joins the back of the queue there, trading at once if it crosses;
        a post-only one that would cross is refused. Either way the filters and the
        post-only rule are checked before anything changes.
        """
        order = self._resting(account, order_id)
        if isinstance(order, EngineRejected):
            return [order]
        new_remaining = order.remaining if remaining is None else remaining
        new_price = order.price if price is None else price
        if new_price == order.price:
            return [self._amend_in_place(order, new_remaining)]
        return self._cancel_replace(order, new_price, new_remaining)

    def _amend_in_place(self, order: _Order, remaining: int) -> Event:
        reason = self.filters(order.instrument).check(order.price, remaining)
        if reason is None and remaining > order.remaining:
            reason = RejectReason.AMEND_QUANTITY_INCREASE
        elif reason is None and remaining == order.remaining:
            reason = RejectReason.AMEND_NO_CHANGE
        if reason is not None:
            return self._rejected(order.account, order.client_order_id, reason, order.order_id)
        decrease = order.remaining - remaining
        self._books[order.instrument].side(order.side).sizes[order.price] -= decrease
        order.cancelled += decrease
        order.remaining = remaining
        return EngineAmended(
            account=order.account,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            price=order.price,
            remaining=order.remaining,
            kept_priority=True,
        )

    def _cancel_replace(self, old: _Order, price: int, quantity: int) -> list[Event]:
        book = self._books[old.instrument]
        reason = self.filters(old.instrument).check(price, quantity)
        if reason is None:
            reason = self._placement(
                book, old.instrument, old.side, price, quantity, post_only=old.post_only, rests=True
            )
        if reason is not None:
            return [self._rejected(old.account, old.client_order_id, reason, old.order_id)]
        events: list[Event] = [self._cancel_resting(old, "replaced")]
        new, accepted = self._accept(
            account=old.account,
            client_order_id=old.client_order_id,
            instrument=old.instrument,
            side=old.side,
            price=price,
            quantity=quantity,
            post_only=old.post_only,
        )
        events.extend(accepted)
        self._match(book, new, events)
        if new.remaining:
            self._rest(book, new)
        return events

    # -- matching ------------------------------------------------------------------

    def _match(self, book: _Book, taker: _Order, events: list[Event]) -> None:
        contra = book.contra(taker.side)
        while taker.remaining and contra.keys:
            price = contra.best_price()
            assert price is not None  # noqa: S101 - keys is not empty
            if (taker.side is Side.BUY and price > taker.price) or (
                taker.side is Side.SELL and price < taker.price
            ):
                break
            queue = contra.levels[price]
            while taker.remaining and queue:
                maker = queue[0]
                if maker.account == taker.account:  # self-trade prevention: EXPIRE_MAKER
                    events.append(
                        self._cancel_resting(maker, "self_trade", CancelStatus.EXPIRED_IN_MATCH)
                    )
                    if price not in contra.levels:
                        break
                    continue
                quantity = min(taker.remaining, maker.remaining)
                contra.sizes[price] -= quantity
                self._fill(maker, price, quantity, Liquidity.MAKER, events)
                self._fill(taker, price, quantity, Liquidity.TAKER, events)
                if not maker.remaining:
                    queue.popleft()
                    del self._open[maker.order_id]
            if price in contra.levels and not queue:
                contra.drop_level(price)

    def _fill(
        self, order: _Order, price: int, quantity: int, liquidity: Liquidity, events: list[Event]
    ) -> None:
        order.remaining -= quantity
        order.filled += quantity
        fills = self._fills.setdefault(order.account, [])
        bps = self._maker_bps if liquidity is Liquidity.MAKER else self._taker_bps
        signed = quantity if order.side is Side.BUY else -quantity
        key = (order.account, order.instrument)
        self._positions[key] = self._positions.get(key, 0) + signed
        fill = EngineFilled(
            account=order.account,
            execution_id=len(fills) + 1,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            instrument=order.instrument,
            side=order.side,
            price=price,
            quantity=quantity,
            liquidity=liquidity,
            fee_e4=price * quantity * bps,
            remaining=order.remaining,
        )
        fills.append(fill)
        events.append(fill)

    # -- helpers -------------------------------------------------------------------

    def _placement(
        self,
        book: _Book,
        instrument: str,
        side: Side,
        price: int,
        quantity: int,
        *,
        post_only: bool,
        rests: bool,
    ) -> RejectReason | None:
        """Why an order that passed the filters may still not be placed, or None."""
        if post_only and self._crosses(book.contra(side), side, price):
            return RejectReason.POST_ONLY_WOULD_TAKE
        # A resting order's own side has orders at ``price`` only if it does not cross
        # there (the book is never crossed): then all of it rests, so the level becomes
        # exactly size + quantity. If the level is empty, what rests is at most
        # quantity <= max_quantity <= max_level_quantity.
        level = book.side(side).sizes.get(price, 0)
        if rests and level + quantity > self.filters(instrument).max_level_quantity:
            return RejectReason.MAX_LEVEL_SIZE
        return None

    def _accept(
        self,
        *,
        account: str,
        client_order_id: str,
        instrument: str,
        side: Side,
        price: int,
        quantity: int,
        post_only: bool,
    ) -> tuple[_Order, list[Event]]:
        order = _Order(
            order_id=self._next_order_id,
            account=account,
            client_order_id=client_order_id,
            instrument=instrument,
            side=side,
            price=price,
            quantity=quantity,
            post_only=post_only,
        )
        self._next_order_id += 1
        self._orders[order.order_id] = order
        self._client_ids.add((account, client_order_id))
        accepted = EngineAccepted(
            account=account,
            order_id=order.order_id,
            client_order_id=client_order_id,
            instrument=instrument,
            side=side,
            price=price,
            quantity=quantity,
        )
        return order, [accepted]

    def _rest(self, book: _Book, order: _Order) -> None:
        book.side(order.side).add(order)
        self._open[order.order_id] = order

    @staticmethod
    def _crosses(contra: _Side, side: Side, price: int) -> bool:
        best = contra.best_price()
        if best is None:
            return False
        return best <= price if side is Side.BUY else best >= price

    @staticmethod
    def _fillable(contra: _Side, side: Side, price: int, account: str) -> int:
        """Quantity an order at ``price`` could take now from other accounts."""
        total = 0
        for key in reversed(contra.keys):
            level_price = key * contra.sign
            if (side is Side.BUY and level_price > price) or (
                side is Side.SELL and level_price < price
            ):
                break
            total += sum(o.remaining for o in contra.levels[level_price] if o.account != account)
        return total

    def _resting(self, account: str, order_id: int) -> _Order | EngineRejected:
        """``account``'s resting order ``order_id``, or the rejection saying why not."""
        order = self._open.get(order_id)
        if order is None:
            return self._rejected(account, "", RejectReason.UNKNOWN_ORDER, order_id)
        if order.account != account:
            return self._rejected(account, "", RejectReason.NOT_YOUR_ORDER, order_id)
        return order

    def _rejected(
        self, account: str, client_order_id: str, reason: RejectReason, order_id: int | None = None
    ) -> EngineRejected:
        return EngineRejected(
            account=account, client_order_id=client_order_id, order_id=order_id, reason=reason
        )

    def _expire(self, order: _Order, reason: str) -> EngineCanceled:
        """An accepted order that never rested ends (IOC/FOK/market rules)."""
        return self._cancel_quantity(order, reason, CancelStatus.EXPIRED)

    def _cancel_quantity(
        self, order: _Order, reason: str, status: CancelStatus = CancelStatus.CANCELED
    ) -> EngineCanceled:
        quantity = order.remaining
        order.cancelled += quantity
        order.remaining = 0
        return EngineCanceled(
            account=order.account,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            quantity=quantity,
            reason=reason,
            status=status,
        )

    def _cancel_resting(
        self, order: _Order, reason: str, status: CancelStatus = CancelStatus.CANCELED
    ) -> EngineCanceled:
        self._books[order.instrument].side(order.side).remove(order)
        del self._open[order.order_id]
        return self._cancel_quantity(order, reason, status)

    # -- invariants ----------------------------------------------------------------

    def check_invariants(self) -> None:
        """Raise AssertionError if any invariant in the module docstring is broken."""
        for instrument, book in self._books.items():
            self._check_book(instrument, book)
        resting = sum(
            len(q)
            for b in self._books.values()
            for s in (b.bids, b.asks)
            for q in s.levels.values()
        )
        if resting != len(self._open):
            raise AssertionError("open orders and resting orders differ")
        for order in self._orders.values():
            if order.filled + order.remaining + order.cancelled != order.original:
                raise AssertionError(f"order {order.order_id} does not conserve its quantity")
        totals: dict[str, int] = {}
        for (_, instrument), position in self._positions.items():
            totals[instrument] = totals.get(instrument, 0) + position
        if any(totals.values()):
            raise AssertionError(f"positions do not sum to zero: {totals}")
        for account, fills in self._fills.items():
            if [f.execution_id for f in fills] != list(range(1, len(fills) + 1)):
                raise AssertionError(f"{account}: execution ids are not 1, 2, 3, ...")

    def _check_book(self, instrument: str, book: _Book) -> None:
        bid, ask = book.bids.best_price(), book.asks.best_price()
        if bid is not None and ask is not None and bid >= ask:
            raise AssertionError(f"{instrument}: crossed after matching ({bid} >= {ask})")
        for side in (book.bids, book.asks):
            if side.keys != sorted(p * side.sign for p in side.levels):
                raise AssertionError(f"{instrument}: price index disagrees with levels")
            if side.sizes.keys() != side.levels.keys():
                raise AssertionError(f"{instrument}: level sizes and levels differ")
            for price, queue in side.levels.items():
                self._check_level(instrument, price, queue, side.sizes[price])

    def _check_level(self, instrument: str, price: int, queue: deque[_Order], size: int) -> None:
        filters = self.filters(instrument)
        if not queue:
            raise AssertionError(f"{instrument}: empty level {price}")
        if size != sum(o.remaining for o in queue):
            raise AssertionError(f"{instrument}: size of level {price} is wrong")
        if size > filters.max_level_quantity:
            raise AssertionError(f"{instrument}: level {price} is over its maximum")
        if not filters.min_price <= price <= filters.max_price:
            raise AssertionError(f"{instrument}: level {price} fails PRICE_FILTER")
        for order in queue:
            if order.remaining <= 0 or order.price != price:
                raise AssertionError(f"order {order.order_id} rests wrongly")
            if self._open.get(order.order_id) is not order:
                raise AssertionError(f"order {order.order_id} rests but is not open")
