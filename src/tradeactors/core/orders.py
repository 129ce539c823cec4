"""The order state machine, client order ids, and the position ledger (pure).

States and the triggers that move them, as one explicit ``(state, trigger) -> state``
table (`TRANSITIONS`); anything not in it raises `IllegalTransitionError` and changes
nothing. Two races are handled as venues produce them:

- a cancel that loses to a fill: the fill arrives while the order is PENDING_CANCEL; it
  is applied (partially filled stays pending cancel, a complete fill ends FILLED), and a
  later cancel reject returns the order to where it was;
- a fill for an order already CANCELLED locally (the venue filled it before it saw the
  cancel): the fill is applied to the order and the position, never dropped.

The ledger keeps, per instrument, the net position in lots, the average entry price as
an exact fraction of ticks, and realized PnL in ``tick * lot`` units (exact).
"""

from __future__ import annotations

import enum
import itertools
from fractions import Fraction
from typing import TYPE_CHECKING

from tradeactors.errors import IllegalTransitionError

if TYPE_CHECKING:
    from tradeactors.core.messages import Side

__all__ = [
    "TRANSITIONS",
    "ClientOrderIds",
    "IllegalTransitionError",
    "Ledger",
    "Order",
    "OrderStatus",
    "Position",
    "Trigger",
]


class OrderStatus(enum.StrEnum):
    """Where an order is in its life (a string: ``OrderStatus.FILLED == "filled"``)."""

    NEW = "new"
    PENDING = "pending"  # sent, not yet acknowledged
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # by the venue
    EXPIRED = "expired"
    DENIED = "denied"  # before it left (risk, the order manager, or lost): terminal

    @property
    def open(self) -> bool:
        """True while the order may still trade at the venue."""
        return self in _OPEN


_OPEN = frozenset(
    {
        OrderStatus.PENDING,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
    }
)


class Trigger(enum.Enum):
    """What happens to an order."""

    SUBMIT = "submit"
    DENY = "deny"
    ACCEPT = "accept"
    REJECT = "reject"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"  # the order is now completely filled
    REQUEST_CANCEL = "request_cancel"
    CANCEL_REJECTED = "cancel_rejected"
    CANCELLED = "cancelled"
    EXPIRE = "expire"


S, T = OrderStatus, Trigger
TRANSITIONS: dict[tuple[OrderStatus, Trigger], OrderStatus] = {
    (S.NEW, T.SUBMIT): S.PENDING,
    (S.NEW, T.DENY): S.DENIED,
    (S.PENDING, T.ACCEPT): S.ACCEPTED,
    (S.PENDING, T.REJECT): S.REJECTED,
    (S.PENDING, T.PARTIAL_FILL): S.PARTIALLY_FILLED,  # a fill may overtake the ack
    (S.PENDING, T.FILL): S.FILLED,
    (S.PENDING, T.CANCELLED): S.CANCELLED,  # cancel-on-disconnect before the ack
    (S.PENDING, T.EXPIRE): S.EXPIRED,  # an IOC/FOK remainder's end overtook the ack
    (S.PENDING, T.REQUEST_CANCEL): S.PENDING_CANCEL,  # the venue went down before the ack
    (S.ACCEPTED, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.ACCEPTED, T.FILL): S.FILLED,
    (S.ACCEPTED, T.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.ACCEPTED, T.CANCELLED): S.CANCELLED,
    (S.ACCEPTED, T.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, T.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, T.CANCELLED): S.CANCELLED,
    (S.PARTIALLY_FILLED, T.EXPIRE): S.EXPIRED,
    (S.PENDING_CANCEL, T.PARTIAL_FILL): S.PENDING_CANCEL,  # the cancel lost a race
    (S.PENDING_CANCEL, T.FILL): S.FILLED,  # ... and lost it completely
    (S.PENDING_CANCEL, T.CANCELLED): S.CANCELLED,
    (S.PENDING_CANCEL, T.EXPIRE): S.EXPIRED,
    # (PENDING_CANCEL, REJECT) -> REJECTED only for an order cancelled while still pending
    # and never filled (the venue refused it after all): see Order.apply
    # CANCEL_REJECTED from PENDING_CANCEL returns to the state before the request
    (S.CANCELLED, T.PARTIAL_FILL): S.CANCELLED,  # a late fill: applied, stays cancelled
    (S.CANCELLED, T.FILL): S.FILLED,
}
del S, T


class Order:
    """One order as the order manager tracks it."""

    __slots__ = (
        "_before_cancel",
        "client_order_id",
        "filled",
        "instrument",
        "price",
        "quantity",
        "side_sign",
        "status",
    )

    def __init__(
        self, client_order_id: str, instrument: str, *, side: Side, price: int, quantity: int
    ) -> None:
        if quantity <= 0:
            raise ValueError(f"quantity must be positive, not {quantity}")
        self.client_order_id = client_order_id
        self.instrument = instrument
        self.side_sign = 1 if side == "buy" else -1  # Side.BUY; not side.sign (a property call)
        self.price = price
        self.quantity = quantity
        self.filled = 0
        self.status = OrderStatus.NEW
        self._before_cancel: OrderStatus | None = None

    def copy(self) -> Order:
        """A copy with the same state (the execution core changes copies, then commits)."""
        twin = Order.__new__(Order)
        twin.client_order_id = self.client_order_id
        twin.instrument = self.instrument
        twin.side_sign = self.side_sign
        twin.price = self.price
        twin.quantity = self.quantity
        twin.filled = self.filled
        twin.status = self.status
        twin._before_cancel = self._before_cancel
        return twin

    @property
    def remaining(self) -> int:
        """Lots not filled (whether or not still working)."""
        return self.quantity - self.filled

    def apply(self, trigger: Trigger) -> OrderStatus:
        """Move by ``trigger`` (not a fill: use `fill`). Raises `IllegalTransitionError`."""
        if trigger in (Trigger.FILL, Trigger.PARTIAL_FILL):
            raise ValueError("use fill() for fills: it needs the quantity")
        if trigger is Trigger.CANCEL_REJECTED:
            if self.status is not OrderStatus.PENDING_CANCEL or self._before_cancel is None:
                raise IllegalTransitionError(self.client_order_id, self.status, trigger)
            self.status, self._before_cancel = self._before_cancel, None
            return self.status
        target = TRANSITIONS.get((self.status, trigger))
        if (
            trigger is Trigger.REJECT
            and self.status is OrderStatus.PENDING_CANCEL
            and self._before_cancel is OrderStatus.PENDING
            and self.filled == 0
        ):
            target = OrderStatus.REJECTED
        if target is None:
            raise IllegalTransitionError(self.client_order_id, self.status, trigger)
        if trigger is Trigger.REQUEST_CANCEL:
            self._before_cancel = self.status
        self.status = target
        return target

    def fill(self, quantity: int) -> OrderStatus:
        """Apply a fill of ``quantity`` lots (never more than what remains)."""
        if not 0 < quantity <= self.remaining:
            raise ValueError(
                f"order {self.client_order_id!r}: fill of {quantity} with {self.remaining} left"
            )
        trigger = Trigger.FILL if quantity == self.remaining else Trigger.PARTIAL_FILL
        target = TRANSITIONS.get((self.status, trigger))
        if target is None:
            raise IllegalTransitionError(self.client_order_id, self.status, trigger)
        self.filled += quantity
        if self.status is OrderStatus.PENDING_CANCEL and target is OrderStatus.PENDING_CANCEL:
            # the cancel may still be rejected: it then returns to partially filled
            self._before_cancel = OrderStatus.PARTIALLY_FILLED
        self.status = target
        return target


class ClientOrderIds:
    """Client order ids unique across restarts of the actor and of the process.

    Each generator takes a prefix from the wall clock at its creation (ns, base 36),
    so a restarted order manager never repeats an id of its predecessor as long as the
    clock does not go back; then a counter.
    """

    def __init__(self, started_ns: int, tag: str = "ta") -> None:
        self._prefix = f"{tag}{_base36(started_ns)}"
        self._counter = itertools.count(1)

    def next(self) -> str:
        """A fresh id."""
        return f"{self._prefix}-{next(self._counter)}"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


class Position:
    """Net lots, average entry price (exact, in ticks) and realized PnL of one instrument."""

    __slots__ = ("average_price", "net", "realized")

    def __init__(self) -> None:
        self.net = 0
        self.average_price = Fraction(0)
        self.realized = Fraction(0)  # tick * lot units

    def apply_fill(self, signed_quantity: int, price: int) -> None:
        """Add a fill: positive lots bought, negative sold, at ``price`` ticks."""
        if self.net == 0 or (self.net > 0) == (signed_quantity > 0):
            total = self.net + signed_quantity
            self.average_price = (
                self.average_price * abs(self.net) + price * abs(signed_quantity)
            ) / abs(total)
            self.net = total
            return
        closing = min(abs(signed_quantity), abs(self.net))
        direction = 1 if self.net > 0 else -1
        self.realized += (price - self.average_price) * closing * direction
        self.net += signed_quantity
        if self.net == 0:
            self.average_price = Fraction(0)
        elif (self.net > 0) != (direction > 0):  # flipped: the rest opens at this price
            self.average_price = Fraction(price)

    def copy(self) -> Position:
        """A copy with the same state."""
        twin = Position()
        twin.net, twin.average_price, twin.realized = self.net, self.average_price, self.realized
        return twin

    def unrealized(self, mark: int) -> Fraction:
        """PnL of the open position marked at ``mark`` ticks, in ``tick * lot`` units."""
        return (mark - self.average_price) * self.net


class Ledger:
    """Positions per instrument, fed with fills."""

    def __init__(self) -> None:
        self._positions: dict[str, Position] = {}

    def apply_fill(self, instrument: str, signed_quantity: int, price: int) -> None:
        """Record a fill."""
        self._positions.setdefault(instrument, Position()).apply_fill(signed_quantity, price)

    def replace(self, instrument: str, position: Position) -> None:
        """Set the position of ``instrument`` (a changed copy, committed)."""
        self._positions[instrument] = position

    def position(self, instrument: str) -> Position:
        """The position of ``instrument`` (flat if never traded)."""
        return self._positions.get(instrument) or Position()

    def instruments(self) -> list[str]:
        """Every instrument that has traded."""
        return list(self._positions)
