"""Pre-trade risk checks (MiFID II RTS 6 Art. 15, SEC 15c3-5 style): pure, exact.

`RiskEngine.check` answers an order request with None (accepted) or a `DenyReason`.
An accepted order counts against every limit at once, before it is even sent:
open-order quantity and notional, position-with-open-orders, gross exposure, open-order
count, message rate. `order_closed` and `fill` move the accounting as the order manager
learns what happened; `rebuild` restores it from the order manager after a restart, so
risk never restarts "empty and trusting".

An amend (`check_amend`) is checked as the order it makes would be as a new one, with
the order's own exposure taken out first (so moving an order is not refused for the
exposure it already holds, and cannot be used to get past a limit); one that only
lowers the quantity at the same price reduces every exposure and is checked only
against the kill switch and the message rate. While the venue has not answered, the
order counts with the larger of its old and new price and open quantity (either may
trade); `amend_settled` sets what the venue (or the order manager) said.

Prices are ticks, quantities lots, notional ``ticks * lots``; limits are optional (None:
no limit); per-instrument limits override the global ones field by field.

Scopes: the limits above are the account's (every order counts). ``instrument_limits``
(symbol -> `RiskLimits`) add the limits of one instrument, counted over the orders and
position of every strategy on it; ``strategy_limits`` (strategy name -> `RiskLimits`)
those of one strategy, counted over its own orders and its own positions only (an
order's strategy is `OrderRequest.strategy`; orders of no strategy count for the
account and the instrument only). Each scope checks price collar, order quantity and
notional, position, gross exposure (ticks x lots, and ``max_gross_exposure_quote`` in
money), open orders, message rate and credit limit; the duplicate-order window is the
account's only. A denial says which scope denied it in ``detail`` (``""``: the
account's, ``"instrument ETHUSDT"``, ``"strategy mm_eth"``). ``max_gross_exposure_quote``
is money: the positions (at their last fill price, or the reference) and the open orders
of the instruments *of the order's venue*, each converted with its ``tick_size x
lot_size``; all instruments of one venue are taken to be quoted in one currency (the
config refuses nothing here: do not mix quote currencies at one venue under this limit).
An order for an instrument whose sizes are not known is denied under that limit.

The kill switch's state comes in two parts: ``state`` (the ``all`` and venue scopes:
REDUCING admits only orders that reduce the account's position in the instrument) and
``strategy_state`` (the order's strategy scope: REDUCING admits only orders that reduce
that strategy's own position); HALTED in either denies every order.

Given the instruments, risk also refuses what their venue would refuse (its filters:
minimum and maximum price and quantity, minimum notional; `DenyReason.VENUE_MIN_PRICE`
and its siblings), from integer bounds computed once (`Instrument.order_bounds`).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from fractions import Fraction
from itertools import takewhile
from typing import TYPE_CHECKING

import msgspec

from tradeactors.core.messages import DenyReason, Side

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from tradeactors.core.instrument import Instrument, OrderBounds

__all__ = [
    "AmendRequest",
    "DenyReason",
    "OrderRequest",
    "RiskEngine",
    "RiskLimits",
    "TradingState",
]


class TradingState(enum.Enum):
    """The kill switch's state, as risk sees it."""

    ACTIVE = "active"
    REDUCING = "reducing"  # only orders that reduce a position pass
    HALTED = "halted"  # nothing passes


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits; None means no limit."""

    price_collar_bps: int | None = None
    max_order_quantity: int | None = None
    max_order_notional: int | None = None
    max_position: int | None = None  # |position + open orders on the same side|, lots
    max_gross_exposure: int | None = None  # sum over instruments, ticks * lots
    max_open_orders: int | None = None
    max_messages: int | None = None  # within message_window_ns
    message_window_ns: int = 1_000_000_000
    duplicate_window_ns: int | None = None  # same instrument, side, price, quantity
    credit_limit: int | None = None  # notional of all open orders, ticks * lots
    # sum over the instruments of the order's venue, in its quote currency (money)
    max_gross_exposure_quote: float | None = None


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a strategy wants to send."""

    client_order_id: str
    instrument: str
    side: Side
    price: int
    quantity: int
    timestamp_ns: int
    venue: str = ""
    strategy: str | None = None  # whose own limits and position it counts against


class AmendRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a strategy wants to change in an open order (None: keep it).

    ``quantity`` is the new total quantity of the order, filled included.
    """

    client_order_id: str
    price: int | None
    quantity: int | None
    timestamp_ns: int


class _Open(msgspec.Struct, kw_only=True):
    instrument: str
    side: Side
    price: int
    remaining: int
    quantity: int = 0  # the order's total, filled included (0: not known)
    amending: bool = False  # an amend is in flight: the larger terms count
    venue: str = ""
    strategy: str | None = None


class _Tally:
    """What one scope (a strategy, an instrument) counts: its open orders and position."""

    __slots__ = ("messages", "notional", "open_count", "open_notional", "positions", "side_open")

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}  # instrument -> net lots (strategies only)
        self.side_open: dict[tuple[str, Side], int] = {}  # (instrument, side) -> lots
        self.notional: dict[str, int] = {}  # instrument -> open notional, ticks * lots
        self.open_notional = 0
        self.open_count = 0
        self.messages: deque[int] = deque()  # when orders were accepted (if rate-limited)

    def count(self, order: _Open, lots: int) -> None:
        key = (order.instrument, order.side)
        self.side_open[key] = self.side_open.get(key, 0) + lots
        notional = order.price * lots
        self.notional[order.instrument] = self.notional.get(order.instrument, 0) + notional
        self.open_notional += notional


_NO_TALLY = _Tally()  # read-only stand-in for a scope with nothing yet


class RiskEngine:
    """Checks orders against limits and keeps the exposure they create.

    ``instruments`` (symbol -> `Instrument`): the venue filters of these are checked
    too; an order for a symbol not in it is checked against the limits only.
    """

    def __init__(
        self,
        limits: RiskLimits,
        per_instrument: dict[str, RiskLimits] | None = None,
        *,
        instruments: Mapping[str, Instrument] | None = None,
        instrument_limits: Mapping[str, RiskLimits] | None = None,
        strategy_limits: Mapping[str, RiskLimits] | None = None,
    ) -> None:
        self._global = limits
        self._instrument_limits = dict(instrument_limits or {})
        self._strategy_limits = dict(strategy_limits or {})
        # money per tick x lot, and the venue of each instrument (also learnt from orders)
        self._values = {
            symbol: Fraction(i.tick_size) * Fraction(i.lot_size)
            for symbol, i in (instruments or {}).items()
        }
        self._venue_of = {symbol: i.venue for symbol, i in (instruments or {}).items()}
        self._by_instrument: dict[str, _Tally] = {}
        self._by_strategy: dict[str, _Tally] = {}
        self.strategy_state = TradingState.ACTIVE  # the order's strategy scope (module doc)
        self.detail = ""  # the scope of the last denial ("": the account's)
        # the venue filters as (min price, max price, min quantity, max quantity, min
        # notional); an unknown maximum is infinity (ints compare with it exactly)
        self._bounds: dict[str, tuple[int, float, int, float, int]] = {
            symbol: _bounds(instrument.order_bounds)
            for symbol, instrument in (instruments or {}).items()
        }
        self._per_instrument = dict(per_instrument or {})
        self.state = TradingState.ACTIVE
        self._references: dict[str, int] = {}
        self._positions: dict[str, int] = {}
        self._marks: dict[str, int] = {}
        self._open: dict[str, _Open] = {}
        # running sums over _open, so a check costs the same with 5 or 5,000 open orders
        self._side_open: dict[tuple[str, Side], int] = {}  # (instrument, side) -> lots
        self._open_notional = 0  # sum of price * remaining, ticks * lots
        # Limits per instrument with the global ones filled in, merged once.
        self._merged = {i: self._merge(limits, o) for i, o in self._per_instrument.items()}
        # The sliding windows keep only what the longest configured window can need
        # (nothing when no limit uses them): timestamps of accepted orders, and when
        # each (instrument, side, price, quantity) was last accepted.
        every = [limits, *self._merged.values()]
        self._scoped = False
        self._scoped_window: int | None = None
        self._scopes_changed()
        # the open orders per instrument are counted only where a limit reads them
        self._by_instrument_needed = bool(self._instrument_limits) or any(
            lim.max_gross_exposure_quote is not None for lim in every
        )
        rates = [lim.message_window_ns for lim in every if lim.max_messages is not None]
        self._message_window = max(rates) if rates else None
        duplicates = [lim.duplicate_window_ns for lim in every if lim.duplicate_window_ns]
        self._duplicate_window = max(duplicates) if duplicates else None
        self._messages: deque[int] = deque()
        self._recent: deque[tuple[int, tuple[str, Side, int, int]]] = deque()
        self._recent_last: dict[tuple[str, Side, int, int], int] = {}

    def _scopes_changed(self) -> None:
        """Whether scoped limits are checked, and the longest window of their rates."""
        scoped = [*self._instrument_limits.values(), *self._strategy_limits.values()]
        self._scoped = bool(scoped)
        rates = [lim.message_window_ns for lim in scoped if lim.max_messages is not None]
        self._scoped_window = max(rates) if rates else None

    # -- what risk is told -----------------------------------------------------------

    def set_strategy_limits(self, strategy: str, limits: RiskLimits | None) -> None:
        """Give ``strategy`` its own limits from now on (None: it has none any more).

        Its orders and position already counted (`fill`, `check`, `rebuild`) count
        against the new limits at once; a message-rate limit counts the orders accepted
        from now on.
        """
        if limits is None:
            self._strategy_limits.pop(strategy, None)
        else:
            self._strategy_limits[strategy] = limits
        self._scopes_changed()

    def strategy_limits(self, strategy: str) -> RiskLimits | None:
        """``strategy``'s own limits (None: it has none)."""
        return self._strategy_limits.get(strategy)

    def set_reference(self, instrument: str, price: int) -> None:
        """The price collar's and exposure's reference (best bid/ask or last trade)."""
        self._references[instrument] = price

    def fill(
        self,
        client_order_id: str,
        quantity: int,
        price: int,
        *,
        instrument: str | None = None,
        side: Side | None = None,
        strategy: str | None = None,
    ) -> None:
        """An order filled ``quantity`` lots at ``price``.

        An order risk no longer counts as open (a late fill after a cancel, or one from
        before a restart) still moves the position when ``instrument`` and ``side`` say
        where (and ``strategy`` whose); without them such a fill is ignored.
        """
        order = self._open.get(client_order_id)
        if order is not None:
            instrument, side, strategy = order.instrument, order.side, order.strategy
            taken = min(quantity, order.remaining)
            order.remaining -= taken
            self._count_open(order, -taken)
            if order.remaining <= 0:
                self._remove_open(client_order_id)
        if instrument is None or side is None:
            return
        signed = side.sign * quantity
        self._positions[instrument] = self._positions.get(instrument, 0) + signed
        self._marks[instrument] = price
        if strategy is not None:
            positions = self._tally(self._by_strategy, strategy).positions
            positions[instrument] = positions.get(instrument, 0) + signed

    def order_closed(self, client_order_id: str) -> None:
        """An order is cancelled, rejected or expired: its open quantity stops counting."""
        order = self._open.get(client_order_id)
        if order is not None:
            self._count_open(order, -order.remaining)
            self._remove_open(client_order_id)

    def rebuild(
        self,
        positions: dict[str, int],
        open_orders: Iterable[OrderRequest],
        remaining: dict[str, int],
        *,
        strategy_positions: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        """Restore positions and open orders from the order manager (after a restart).

        ``strategy_positions``: strategy -> instrument -> net lots (its own fills).
        """
        self._positions = dict(positions)
        self._open = {}
        self._side_open = {}
        self._open_notional = 0
        self._by_instrument = {}
        self._by_strategy = {}
        for strategy, held in (strategy_positions or {}).items():
            self._tally(self._by_strategy, strategy).positions = dict(held)
        for o in open_orders:
            self._add_open(
                o.client_order_id,
                _Open(
                    instrument=o.instrument,
                    side=o.side,
                    price=o.price,
                    remaining=remaining.get(o.client_order_id, o.quantity),
                    quantity=o.quantity,
                    venue=o.venue,
                    strategy=o.strategy,
                ),
            )

    def position(self, instrument: str, strategy: str | None = None) -> int:
        """The net position risk counts for ``instrument`` (lots): ``strategy``'s own, or all."""
        if strategy is not None:
            return self._by_strategy.get(strategy, _NO_TALLY).positions.get(instrument, 0)
        return self._positions.get(instrument, 0)

    def venue_of_order(self, client_order_id: str) -> str | None:
        """The venue of an order that counts as open (None: not open, or not said)."""
        order = self._open.get(client_order_id)
        return order.venue or None if order is not None else None

    def strategy_positions(self) -> dict[str, dict[str, int]]:
        """Strategy -> instrument -> its own net position (lots), of those that traded."""
        return {s: dict(t.positions) for s, t in self._by_strategy.items() if t.positions}

    def strategy_open_orders(self, strategy: str) -> int:
        """How many of ``strategy``'s orders count as open."""
        return self._by_strategy.get(strategy, _NO_TALLY).open_count

    @property
    def open_orders(self) -> int:
        """How many orders count as open."""
        return len(self._open)

    # -- the check -------------------------------------------------------------------

    def check(self, request: OrderRequest) -> DenyReason | None:
        """None if ``request`` passes every check (and then it counts at once)."""
        now = request.timestamp_ns
        self._forget(now)
        reason = self._deny(request)
        if reason is None:
            self._add_open(
                request.client_order_id,
                _Open(
                    instrument=request.instrument,
                    side=request.side,
                    price=request.price,
                    remaining=request.quantity,
                    quantity=request.quantity,
                    venue=request.venue,
                    strategy=request.strategy,
                ),
            )
            if self._message_window is not None:
                self._messages.append(now)
            if self._scoped_window is not None:
                self._scoped_sent(request.instrument, request.strategy, now)
            if self._duplicate_window is not None:
                key = _key(request)
                self._recent.append((now, key))
                self._recent_last[key] = now
        return reason

    def check_amend(self, request: AmendRequest) -> DenyReason | None:  # noqa: PLR0911
        """None if the amend passes (see the module doc); it then counts at once."""
        now = request.timestamp_ns
        self._forget(now)
        self.detail = ""
        if self.state is TradingState.HALTED:
            return DenyReason.HALTED
        order = self._open.get(request.client_order_id)
        if self.strategy_state is TradingState.HALTED:
            self.detail = f"strategy {order.strategy}" if order is not None else "strategy"
            return DenyReason.HALTED
        if order is None:
            return DenyReason.UNKNOWN_ORDER
        if order.amending:
            return DenyReason.AMEND_PENDING
        total = order.quantity or order.remaining
        price = order.price if request.price is None else request.price
        quantity = total if request.quantity is None else request.quantity
        remaining = quantity - (total - order.remaining)  # what is filled stays filled
        if price <= 0 or remaining <= 0 or (price == order.price and quantity == total):
            return DenyReason.INVALID_ORDER  # nothing left open, or nothing changes
        if price == order.price and quantity < total:  # only less: every exposure falls
            reason = self._message_rate(self._limits(order.instrument), now)
        else:
            # the order as a new one, its own exposure taken out while it is checked
            candidate = OrderRequest(
                client_order_id=request.client_order_id,
                instrument=order.instrument,
                side=order.side,
                price=price,
                quantity=remaining,
                timestamp_ns=now,
                venue=order.venue,
                strategy=order.strategy,
            )
            self._count_open(order, -order.remaining)
            self._remove_open(request.client_order_id)
            try:
                reason = self._deny(candidate)
            finally:
                self._add_open(request.client_order_id, order)
        if reason is not None:
            return reason
        # until the venue answers, either the old or the new terms may trade
        self._count_open(order, -order.remaining)
        order.price = max(order.price, price)
        order.remaining = max(order.remaining, remaining)
        order.quantity = max(total, quantity)
        order.amending = True
        self._count_open(order, order.remaining)
        if self._message_window is not None:
            self._messages.append(now)
        if self._scoped_window is not None:
            self._scoped_sent(order.instrument, order.strategy, now)
        return None

    def amend_settled(
        self, client_order_id: str, *, price: int, quantity: int, remaining: int
    ) -> None:
        """An amend was answered: the order's terms are these now (see the module doc)."""
        order = self._open.get(client_order_id)
        if order is None:
            return
        self._count_open(order, -order.remaining)
        order.price, order.quantity, order.remaining = price, quantity, remaining
        order.amending = False
        if remaining <= 0:
            self._remove_open(client_order_id)
            return
        self._count_open(order, remaining)

    def _message_rate(self, limits: RiskLimits, now: int) -> DenyReason | None:
        if limits.max_messages is None:
            return None
        in_window = len(self._messages)
        if limits.message_window_ns != self._message_window:  # shorter than the longest
            horizon = now - limits.message_window_ns
            in_window -= sum(1 for _ in takewhile(horizon.__ge__, self._messages))
        return DenyReason.MESSAGE_RATE if in_window >= limits.max_messages else None

    def _forget(self, now: int) -> None:
        """Drop what has left the longest window (each entry once: O(1) amortised)."""
        if self._message_window is not None:
            horizon = now - self._message_window
            messages = self._messages
            while messages and messages[0] <= horizon:
                messages.popleft()
        if self._duplicate_window is not None:
            horizon = now - self._duplicate_window
            recent, last = self._recent, self._recent_last
            while recent and recent[0][0] <= horizon:
                sent, key = recent.popleft()
                if last.get(key) == sent:  # not sent again since
                    del last[key]

    def _add_open(self, client_order_id: str, order: _Open) -> None:
        self._open[client_order_id] = order
        if order.venue:
            self._venue_of.setdefault(order.instrument, order.venue)
        if self._by_instrument_needed:
            self._tally(self._by_instrument, order.instrument).open_count += 1
        if order.strategy is not None:
            self._tally(self._by_strategy, order.strategy).open_count += 1
        self._count_open(order, order.remaining)

    def _remove_open(self, client_order_id: str) -> None:
        """Forget an open order (its open lots already counted out)."""
        order = self._open.pop(client_order_id)
        if self._by_instrument_needed:
            self._by_instrument[order.instrument].open_count -= 1
        if order.strategy is not None:
            self._by_strategy[order.strategy].open_count -= 1

    def _count_open(self, order: _Open, lots: int) -> None:
        key = (order.instrument, order.side)
        self._side_open[key] = self._side_open.get(key, 0) + lots
        self._open_notional += order.price * lots
        if self._by_instrument_needed:
            self._tally(self._by_instrument, order.instrument).count(order, lots)
        if order.strategy is not None:
            self._tally(self._by_strategy, order.strategy).count(order, lots)

    @staticmethod
    def _tally(tallies: dict[str, _Tally], key: str) -> _Tally:
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally()
        return tally

    def _scoped_sent(self, instrument: str, strategy: str | None, now: int) -> None:
        """Note an accepted order in the message windows of its rate-limited scopes."""
        limits = self._instrument_limits.get(instrument)
        if limits is not None and limits.max_messages is not None:
            self._tally(self._by_instrument, instrument).messages.append(now)
        limits = None if strategy is None else self._strategy_limits.get(strategy)
        if strategy is not None and limits is not None and limits.max_messages is not None:
            self._tally(self._by_strategy, strategy).messages.append(now)

    def check_sums(self) -> None:
        """Raise AssertionError if the running sums differ from a recount (for tests)."""
        side: dict[tuple[str, Side], int] = {}
        for o in self._open.values():
            side[(o.instrument, o.side)] = side.get((o.instrument, o.side), 0) + o.remaining
        if {k: v for k, v in self._side_open.items() if v} != {k: v for k, v in side.items() if v}:
            raise AssertionError(f"open lots by side {self._side_open} != {side}")
        notional = sum(o.price * o.remaining for o in self._open.values())
        if notional != self._open_notional:
            raise AssertionError(f"open notional {self._open_notional} != {notional}")
        for name, tallies in (("instrument", self._by_instrument), ("strategy", self._by_strategy)):
            for key, tally in tallies.items():
                mine = [o for o in self._open.values() if getattr(o, name) == key]
                if tally.open_count != len(mine):
                    raise AssertionError(f"{name} {key}: {tally.open_count} open != {len(mine)}")
                if tally.open_notional != sum(o.price * o.remaining for o in mine):
                    raise AssertionError(f"{name} {key}: open notional differs")

    def _limits(self, instrument: str) -> RiskLimits:
        return self._merged.get(instrument, self._global)

    @staticmethod
    def _merge(base: RiskLimits, override: RiskLimits) -> RiskLimits:
        merged = {
            field: getattr(override, field)
            if getattr(override, field) is not None
            else getattr(base, field)
            for field in RiskLimits.__struct_fields__
        }
        return RiskLimits(**merged)

    def _deny(self, request: OrderRequest) -> DenyReason | None:  # noqa: C901, PLR0911, PLR0912
        self.detail = ""
        if self.state is TradingState.HALTED:
            return DenyReason.HALTED
        strategy = request.strategy
        if self.strategy_state is TradingState.HALTED:
            self.detail = f"strategy {strategy}"
            return DenyReason.HALTED
        if request.quantity <= 0 or request.price <= 0:
            return DenyReason.INVALID_ORDER
        if request.client_order_id in self._open:
            return DenyReason.DUPLICATE_ID
        if self.state is TradingState.REDUCING and not self._reduces(request):
            return DenyReason.REDUCE_ONLY
        if self.strategy_state is TradingState.REDUCING and not self._reduces(request, strategy):
            self.detail = f"strategy {strategy}"
            return DenyReason.REDUCE_ONLY
        bounds = self._bounds.get(request.instrument)
        if bounds is not None:  # the venue's filters, as Binance checks them
            min_price, max_price, min_quantity, max_quantity, min_notional = bounds
            if request.price < min_price:
                return DenyReason.VENUE_MIN_PRICE
            if request.price > max_price:
                return DenyReason.VENUE_MAX_PRICE
            if request.quantity < min_quantity:
                return DenyReason.VENUE_MIN_QUANTITY
            if request.quantity > max_quantity:
                return DenyReason.VENUE_MAX_QUANTITY
            if request.price * request.quantity < min_notional:
                return DenyReason.VENUE_MIN_NOTIONAL
        limits = self._limits(request.instrument)
        notional = request.price * request.quantity
        reason = self._deny_terms(request, limits, notional)
        if reason is not None:
            return reason
        if limits.max_position is not None:
            same_side = self._side_open.get((request.instrument, request.side), 0)
            position = self._positions.get(request.instrument, 0)
            worst = position + request.side.sign * (same_side + request.quantity)
            if abs(worst) > limits.max_position:
                return DenyReason.MAX_POSITION
        gross_limit = limits.max_gross_exposure
        if gross_limit is not None and self._gross() + notional > gross_limit:
            return DenyReason.MAX_GROSS_EXPOSURE
        if limits.max_open_orders is not None and len(self._open) >= limits.max_open_orders:
            return DenyReason.MAX_OPEN_ORDERS
        if limits.max_messages is not None and self._message_rate(limits, request.timestamp_ns):
            return DenyReason.MESSAGE_RATE
        if limits.duplicate_window_ns is not None:
            last = self._recent_last.get(_key(request))
            if last is not None and last > request.timestamp_ns - limits.duplicate_window_ns:
                return DenyReason.DUPLICATE_ORDER
        if limits.credit_limit is not None and self._open_notional + notional > limits.credit_limit:
            return DenyReason.CREDIT_LIMIT
        if limits.max_gross_exposure_quote is not None:
            reason = self._gross_quote(request, limits.max_gross_exposure_quote, None)
            if reason is not None:
                return reason
        return self._deny_scoped(request) if self._scoped else None

    def _deny_terms(
        self, request: OrderRequest, limits: RiskLimits, notional: int
    ) -> DenyReason | None:
        """The order's own terms against one scope's limits: price collar, size, notional."""
        if limits.price_collar_bps is not None:
            reference = self._references.get(request.instrument)
            if reference is None:
                return DenyReason.NO_REFERENCE_PRICE
            if abs(request.price - reference) * 10_000 > reference * limits.price_collar_bps:
                return DenyReason.PRICE_COLLAR
        if limits.max_order_quantity is not None and request.quantity > limits.max_order_quantity:
            return DenyReason.MAX_ORDER_QUANTITY
        if limits.max_order_notional is not None and notional > limits.max_order_notional:
            return DenyReason.MAX_ORDER_NOTIONAL
        return None

    def _deny_scoped(self, request: OrderRequest) -> DenyReason | None:
        """The instrument's limits, then the strategy's (see the module doc)."""
        instrument, strategy = request.instrument, request.strategy
        limits = self._instrument_limits.get(instrument)
        if limits is not None:
            tally = self._by_instrument.get(instrument, _NO_TALLY)
            reason = self._deny_in(request, limits, tally, self._positions, None)
            if reason is not None:
                self.detail = f"instrument {instrument}"
                return reason
        limits = None if strategy is None else self._strategy_limits.get(strategy)
        if strategy is not None and limits is not None:
            tally = self._by_strategy.get(strategy, _NO_TALLY)
            reason = self._deny_in(request, limits, tally, tally.positions, tally)
            if reason is not None:
                self.detail = f"strategy {strategy}"
                return reason
        return None

    def _deny_in(  # noqa: C901, PLR0911, PLR0912
        self,
        request: OrderRequest,
        limits: RiskLimits,
        tally: _Tally,
        positions: Mapping[str, int],
        strategy: _Tally | None,
    ) -> DenyReason | None:
        """One scope's limits: ``tally`` counts its orders, ``positions`` its positions."""
        instrument = request.instrument
        notional = request.price * request.quantity
        reason = self._deny_terms(request, limits, notional)
        if reason is not None:
            return reason
        if limits.max_position is not None:
            side_open = self._side_open if strategy is None else tally.side_open
            same_side = side_open.get((instrument, request.side), 0)
            worst = positions.get(instrument, 0) + request.side.sign * (
                same_side + request.quantity
            )
            if abs(worst) > limits.max_position:
                return DenyReason.MAX_POSITION
        if limits.max_gross_exposure is not None:
            if strategy is not None:  # every instrument the strategy holds
                held = sum(abs(net) * self._mark(i) for i, net in positions.items())
            else:  # an instrument's scope: its own position
                held = abs(positions.get(instrument, 0)) * self._mark(instrument)
            if tally.open_notional + held + notional > limits.max_gross_exposure:
                return DenyReason.MAX_GROSS_EXPOSURE
        if limits.max_open_orders is not None and tally.open_count >= limits.max_open_orders:
            return DenyReason.MAX_OPEN_ORDERS
        if limits.max_messages is not None:
            horizon = request.timestamp_ns - limits.message_window_ns
            messages = tally.messages
            while messages and messages[0] <= horizon:
                messages.popleft()
            if len(messages) >= limits.max_messages:
                return DenyReason.MESSAGE_RATE
        if limits.credit_limit is not None and tally.open_notional + notional > limits.credit_limit:
            return DenyReason.CREDIT_LIMIT
        if limits.max_gross_exposure_quote is not None:
            return self._gross_quote(request, limits.max_gross_exposure_quote, strategy)
        return None

    def _mark(self, instrument: str) -> int:
        return self._marks.get(instrument) or self._references.get(instrument, 0)

    def _gross_quote(
        self, request: OrderRequest, limit: float, strategy: _Tally | None
    ) -> DenyReason | None:
        """Gross exposure in money at the order's venue, with the order (module doc)."""
        value = self._values.get(request.instrument)
        if value is None:
            self.detail = f"no tick and lot size for {request.instrument}"
            return DenyReason.MAX_GROSS_EXPOSURE
        venue = request.venue or self._venue_of.get(request.instrument, "")
        positions = self._positions if strategy is None else strategy.positions
        gross = Fraction(request.price * request.quantity) * value
        for instrument, price_of in self._values.items():
            if self._venue_of.get(instrument, venue) != venue and instrument != request.instrument:
                continue
            if strategy is None:
                open_notional = self._by_instrument.get(instrument, _NO_TALLY).open_notional
            else:
                open_notional = strategy.notional.get(instrument, 0)
            held = abs(positions.get(instrument, 0)) * self._mark(instrument)
            gross += (held + open_notional) * price_of
        return DenyReason.MAX_GROSS_EXPOSURE if gross > Fraction(limit) else None

    def _reduces(self, request: OrderRequest, strategy: str | None = None) -> bool:
        """Whether the order brings the position (the account's or ``strategy``'s) nearer 0."""
        if strategy is not None:
            tally = self._by_strategy.get(strategy, _NO_TALLY)
            side_open, position = tally.side_open, tally.positions.get(request.instrument, 0)
        else:
            side_open, position = self._side_open, self._positions.get(request.instrument, 0)
        pending = side_open.get((request.instrument, Side.BUY), 0) - side_open.get(
            (request.instrument, Side.SELL), 0
        )
        after = position + pending + request.side.sign * request.quantity
        return abs(after) < abs(position + pending) and (
            after == 0 or (after > 0) == (position > 0)
        )

    def _gross(self) -> int:
        """Positions at their last fill (or reference) price, plus open orders' notional."""
        gross = 0
        for instrument, position in self._positions.items():
            price = self._marks.get(instrument) or self._references.get(instrument, 0)
            gross += abs(position) * price
        return gross + self._open_notional


def _bounds(bounds: OrderBounds) -> tuple[int, float, int, float, int]:
    return (
        bounds.min_price,
        math.inf if bounds.max_price is None else bounds.max_price,
        bounds.min_quantity,
        math.inf if bounds.max_quantity is None else bounds.max_quantity,
        bounds.min_notional,
    )


def _key(request: OrderRequest) -> tuple[str, Side, int, int]:
    return (request.instrument, request.side, request.price, request.quantity)
