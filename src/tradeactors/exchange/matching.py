"""A price-time priority matching engine: pure, deterministic, in-process.

Prices are integer ticks and quantities integer lots. Orders: limit (GTC, IOC, FOK,
post-only) and market (with a protection price: it never trades through it). Cancel,
cancel-all (per account, optionally per instrument), amend (a size decrease keeps the
order's place in the queue; a price change or size increase sends it to the back, and
it may trade at its new price). Self-trade prevention cancels the resting order of the
same account. Every fill has a maker and a taker; each account's execution ids increase
by one per fill. Fees are in basis points of notional, kept exact as integers in units
of ``tick * lot / 10_000``.

The engine returns events (accepted, rejected with a reason, filled, cancelled,
amended); it never raises for a bad request. ``check_invariants()`` asserts: books not
crossed, no empty or zero-size resting order, every order's quantity conserved
(filled + resting + cancelled == original), positions summing to zero per instrument.
"""

from __future__ import annotations

import enum
from bisect import bisect_left, insort
from collections import deque

import msgspec

from tradeactors.core.messages import Side, TimeInForce

__all__ = [
    "EngineAccepted",
    "EngineAmended",
    "EngineCanceled",
    "EngineFilled",
    "EngineRejected",
    "Event",
    "Liquidity",
    "MatchingEngine",
    "OrderView",
    "RejectReason",
    "Side",
    "TimeInForce",
]


class Liquidity(enum.Enum):
    """Which side of a fill an order was on."""

    MAKER = "maker"
    TAKER = "taker"


class RejectReason(enum.Enum):
    """Why a request was refused (an event, never an exception)."""

    INVALID_QUANTITY = "invalid_quantity"
    INVALID_PRICE = "invalid_price"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    FOK_NOT_FILLABLE = "fok_not_fillable"
    UNKNOWN_ORDER = "unknown_order"
    NOT_YOUR_ORDER = "not_your_order"


class EngineAccepted(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The order was accepted (it may then fill, rest or be cancelled)."""

    account: str
    order_id: int
    client_order_id: str
    instrument: str
    side: Side
    price: int
    quantity: int


class EngineRejected(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A request was refused."""

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
    """Quantity left the book without trading."""

    account: str
    order_id: int
    client_order_id: str
    quantity: int
    reason: str  # "user", "ioc", "self_trade", "market_protection", "amend"


class EngineAmended(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """An order's price or remaining quantity changed; ``kept_priority`` says where it is."""

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


class _Side:
    """Resting orders of one side: FIFO queues by price, best price last in ``keys``."""

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 bids (higher is better), -1 asks
        self.levels: dict[int, deque[_Order]] = {}
        self.keys: list[int] = []  # sign * price, ascending: best last

    def best_price(self) -> int | None:
        return self.keys[-1] * self.sign if self.keys else None

    def add(self, order: _Order) -> None:
        queue = self.levels.get(order.price)
        if queue is None:
            queue = self.levels[order.price] = deque()
            insort(self.keys, order.price * self.sign)
        queue.append(order)

    def remove(self, order: _Order) -> None:
        queue = self.levels[order.price]
        queue.remove(order)
        if not queue:
            self._drop_level(order.price)

    def _drop_level(self, price: int) -> None:
        del self.levels[price]
        del self.keys[bisect_left(self.keys, price * self.sign)]


class _Book:
    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = _Side(+1)
        self.asks = _Side(-1)

    def side(self, side: Side) -> _Side:
        return self.bids if side is Side.BUY else self.asks


class MatchingEngine:
    """Books per instrument, orders and fills per account. Not thread-safe: one owner."""

    def __init__(self, *, maker_fee_bps: int = 0, taker_fee_bps: int = 0) -> None:
        self._maker_bps = maker_fee_bps
        self._taker_bps = taker_fee_bps
        self._books: dict[str, _Book] = {}
        self._orders: dict[int, _Order] = {}  # every order ever accepted
        self._open: dict[int, _Order] = {}
        self._client_ids: set[tuple[str, str]] = set()
        self._next_order_id = 1
        self._fills: dict[str, list[EngineFilled]] = {}
        self._positions: dict[tuple[str, str], int] = {}

    # -- queries -------------------------------------------------------------------

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
        """Aggregated ``(price, quantity)`` levels of one side, best first."""
        book = self._books.get(instrument)
        if book is None:
            return []
        book_side = book.side(side)
        out = []
        for key in reversed(book_side.keys[-levels:] if levels > 0 else []):
            price = key * book_side.sign
            out.append((price, sum(o.remaining for o in book_side.levels[price])))
        return out

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
        reject = self._check_new(account, client_order_id, quantity, price)
        if reject is not None:
            return [self._rejected(account, client_order_id, reject)]
        book = self._books.setdefault(instrument, _Book())
        contra = book.side(Side.SELL if side is Side.BUY else Side.BUY)
        if post_only and self._crosses(contra, side, price):
            return [self._rejected(account, client_order_id, RejectReason.POST_ONLY_WOULD_TAKE)]
        if tif is TimeInForce.FOK and self._fillable(contra, side, price, account) < quantity:
            return [self._rejected(account, client_order_id, RejectReason.FOK_NOT_FILLABLE)]
        order = _Order(
            order_id=self._next_order_id,
            account=account,
            client_order_id=client_order_id,
            instrument=instrument,
            side=side,
            price=price,
            quantity=quantity,
        )
        self._next_order_id += 1
        self._orders[order.order_id] = order
        self._client_ids.add((account, client_order_id))
        events: list[Event] = [
            EngineAccepted(
                account=account,
                order_id=order.order_id,
                client_order_id=client_order_id,
                instrument=instrument,
                side=side,
                price=price,
                quantity=quantity,
            )
        ]
        self._match(book, order, events)
        if order.remaining:
            if market or tif is not TimeInForce.GTC:
                reason = "market_protection" if market else "ioc"
                events.append(self._cancel_quantity(order, reason))
            else:
                book.side(side).add(order)
                self._open[order.order_id] = order
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
        """Change a resting order's remaining quantity and/or price.

        A pure decrease keeps the order's queue position; a price change or an increase
        sends it to the back, and at a new price it may trade at once (as a taker).
        ``remaining=0`` cancels it.
        """
        order = self._resting(account, order_id)
        if isinstance(order, EngineRejected):
            return [order]
        new_remaining = order.remaining if remaining is None else remaining
        new_price = order.price if price is None else price
        if new_remaining < 0 or new_price <= 0:
            reason = (
                RejectReason.INVALID_QUANTITY if new_remaining < 0 else RejectReason.INVALID_PRICE
            )
            return [self._rejected(account, order.client_order_id, reason, order_id)]
        if new_remaining == 0:
            return [self._cancel_resting(order, "user")]
        book = self._books[order.instrument]
        side = book.side(order.side)
        if new_price == order.price and new_remaining <= order.remaining:
            order.cancelled += order.remaining - new_remaining
            order.remaining = new_remaining
            return [self._amended(order, kept_priority=True)]
        side.remove(order)
        del self._open[order.order_id]
        order.original += new_remaining - order.remaining
        order.remaining = new_remaining
        order.price = new_price
        events: list[Event] = [self._amended(order, kept_priority=False)]
        self._match(book, order, events)
        if order.remaining:
            side.add(order)
            self._open[order.order_id] = order
        return events

    # -- matching ------------------------------------------------------------------

    def _match(self, book: _Book, taker: _Order, events: list[Event]) -> None:
        contra = book.side(Side.SELL if taker.side is Side.BUY else Side.BUY)
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
                if maker.account == taker.account:  # self-trade prevention: cancel resting
                    events.append(self._cancel_resting(maker, "self_trade"))
                    if price not in contra.levels:
                        break
                    continue
                quantity = min(taker.remaining, maker.remaining)
                self._fill(maker, price, quantity, Liquidity.MAKER, events)
                self._fill(taker, price, quantity, Liquidity.TAKER, events)
                if not maker.remaining:
                    queue.popleft()
                    del self._open[maker.order_id]
            if price in contra.levels and not queue:
                contra._drop_level(price)

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

    def _check_new(
        self, account: str, client_order_id: str, quantity: int, price: int
    ) -> RejectReason | None:
        if quantity <= 0:
            return RejectReason.INVALID_QUANTITY
        if price <= 0:
            return RejectReason.INVALID_PRICE
        if (account, client_order_id) in self._client_ids:
            return RejectReason.DUPLICATE_CLIENT_ORDER_ID
        return None

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

    def _cancel_quantity(self, order: _Order, reason: str) -> EngineCanceled:
        quantity = order.remaining
        order.cancelled += quantity
        order.remaining = 0
        return EngineCanceled(
            account=order.account,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            quantity=quantity,
            reason=reason,
        )

    def _cancel_resting(self, order: _Order, reason: str) -> EngineCanceled:
        self._books[order.instrument].side(order.side).remove(order)
        del self._open[order.order_id]
        return self._cancel_quantity(order, reason)

    def _amended(self, order: _Order, *, kept_priority: bool) -> EngineAmended:
        return EngineAmended(
            account=order.account,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            price=order.price,
            remaining=order.remaining,
            kept_priority=kept_priority,
        )

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
            for price, queue in side.levels.items():
                if not queue:
                    raise AssertionError(f"{instrument}: empty level {price}")
                for order in queue:
                    if order.remaining <= 0 or order.price != price:
                        raise AssertionError(f"order {order.order_id} rests wrongly")
                    if self._open.get(order.order_id) is not order:
                        raise AssertionError(f"order {order.order_id} rests but is not open")
