"""The message contract: everything actors tell each other, and the events hosts hear.

Every message is a frozen, keyword-only `Message` with a unique tag (msgpack-able:
sequences are tuples). Prices are ticks and quantities lots of the instrument
(``Instrument.price``/``size`` convert from venue strings); instruments are named by
their symbol at their venue.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "TIME_IN_FORCE",
    "Accepted",
    "CancelAllOrders",
    "CancelOrder",
    "CancelRejected",
    "Cancelled",
    "ExposureChange",
    "ExposureSnapshot",
    "Filled",
    "GetExposure",
    "GetOrders",
    "LastExecutionId",
    "Message",
    "OrderUpdate",
    "PlaceOrder",
    "Reconciliation",
    "Rejected",
    "SubmitOrder",
    "VenueDown",
    "VenueOrder",
    "VenueStatus",
    "denied_update",
    "symbol_of",
]


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """Base of actor messages: frozen, keyword-only, tagged in subclasses (msgpack-able)."""


TIME_IN_FORCE = frozenset({"gtc", "ioc", "fok"})
"""The ``tif`` values a `SubmitOrder` may carry."""


def symbol_of(instrument_key: str) -> str:
    """The symbol in a `BookView`'s ``instrument`` (``venue:symbol``)."""
    return instrument_key.rpartition(":")[2]


# -- strategy -> risk -> order manager -------------------------------------------------


class SubmitOrder(Message, frozen=True, kw_only=True, tag=True):
    """A new order: strategies send it to risk, which passes it on to the order manager.

    ``owner`` is the path that gets the `OrderUpdate`s; ``client_order_id`` must be
    unique for ever (use `tradeactors.core.orders.ClientOrderIds`).
    """

    client_order_id: str
    venue: str
    instrument: str
    buy: bool
    price: int
    quantity: int
    owner: str = ""
    tif: str = "gtc"  # gtc | ioc | fok
    post_only: bool = False
    timestamp_ns: int = 0


class PlaceOrder(Message, frozen=True, kw_only=True, tag=True):
    """Risk accepted ``order``: the order manager sends it unless halted or venue down.

    ``session`` (set by the order manager for the gateway) is the venue session the
    order was meant for: a restarted gateway drops orders queued for its predecessor's
    session, which the reconciliation has already closed.
    """

    order: SubmitOrder
    session: int = 0


class CancelOrder(Message, frozen=True, kw_only=True, tag=True):
    """Cancel one order (to the order manager)."""

    client_order_id: str


class CancelAllOrders(Message, frozen=True, kw_only=True, tag=True):
    """Cancel every open order (of ``venue``, or everywhere), e.g. when the switch trips.

    With ``owner``, only that path's orders (a restarting strategy cancels its own).
    """

    reason: str
    venue: str | None = None
    owner: str | None = None


class GetOrders(Message, frozen=True, kw_only=True, tag=True):
    """Ask the order manager for a `tradeactors.actors.order_manager.OrdersReport`.

    With ``open_count_only``, it answers just the number of open orders (cheap).
    """

    open_count_only: bool = False


# -- order manager -> strategies, risk, kill switch ------------------------------------


class OrderUpdate(Message, frozen=True, kw_only=True, tag=True):
    """An order changed: its new status (an `OrderStatus` value), and the fill if any."""

    client_order_id: str
    venue: str
    instrument: str
    buy: bool
    price: int
    quantity: int
    status: str
    filled: int
    reason: str = ""
    fill_quantity: int = 0
    fill_price: int = 0
    execution_id: int = 0


def denied_update(order: SubmitOrder, reason: str) -> OrderUpdate:
    """The `OrderUpdate` that tells an order's owner it never left (status ``denied``)."""
    return OrderUpdate(
        client_order_id=order.client_order_id,
        venue=order.venue,
        instrument=order.instrument,
        buy=order.buy,
        price=order.price,
        quantity=order.quantity,
        status="denied",
        filled=0,
        reason=reason,
    )


class VenueStatus(Message, frozen=True, kw_only=True, tag=True):
    """A venue went down (its gateway died) or came back (reconciled)."""

    venue: str
    up: bool
    reason: str
    timestamp_ns: int


class ExposureChange(Message, frozen=True, kw_only=True, tag=True):
    """To risk: an order it accepted filled or closed. ``sequence`` orders them."""

    sequence: int
    client_order_id: str
    instrument: str
    buy: bool
    fill_quantity: int = 0
    fill_price: int = 0
    closed: bool = False


class GetExposure(Message, frozen=True, kw_only=True, tag=True):
    """Risk (re)starting asks the order manager for an `ExposureSnapshot`."""


class ExposureSnapshot(Message, frozen=True, kw_only=True, tag=True):
    """Positions and open orders as of ``sequence`` (later `ExposureChange`s apply)."""

    sequence: int
    positions: dict[str, int]
    average_prices: dict[str, tuple[int, int]]  # instrument -> (numerator, denominator)
    realized: dict[str, tuple[int, int]]
    open_orders: list[SubmitOrder]
    remaining: dict[str, int]


# -- gateway <-> order manager -----------------------------------------------------------


class VenueDown(Message, frozen=True, kw_only=True, tag=True):
    """From the gateway's supervisor, before it restarts the gateway."""

    venue: str
    reason: str


class LastExecutionId(Message, frozen=True, kw_only=True, tag=True):
    """A gateway asks from which execution id to fetch the fills it missed."""

    venue: str


class VenueOrder(Message, frozen=True, kw_only=True, tag=True):
    """An order open at the venue, as it reports it."""

    order_id: int
    client_order_id: str
    buy: bool
    price: int
    remaining: int
    filled: int


class Accepted(Message, frozen=True, kw_only=True, tag=True):
    """The venue accepted an order."""

    venue: str
    client_order_id: str
    order_id: int


class Filled(Message, frozen=True, kw_only=True, tag=True):
    """A fill at the venue (``execution_id`` is unique per account and increasing)."""

    venue: str
    instrument: str
    client_order_id: str
    order_id: int
    execution_id: int
    buy: bool
    price: int
    quantity: int
    remaining: int
    fee_e4: int = 0


class Cancelled(Message, frozen=True, kw_only=True, tag=True):
    """The venue cancelled an order (asked, IOC remainder, disconnect, dead-man's switch)."""

    venue: str
    client_order_id: str
    order_id: int
    reason: str
    remaining: int = -1  # lots it cancelled (-1: not said)


class Rejected(Message, frozen=True, kw_only=True, tag=True):
    """The venue refused a new order."""

    venue: str
    client_order_id: str
    reason: str


class CancelRejected(Message, frozen=True, kw_only=True, tag=True):
    """The venue refused a cancel (usually: the order is gone already)."""

    venue: str
    client_order_id: str
    reason: str


class Reconciliation(Message, frozen=True, kw_only=True, tag=True):
    """A gateway (re)connected: what the venue says is open, and the fills it missed.

    The order manager applies the fills exactly once, closes the orders the venue no
    longer has, and only then reports the venue up. Asked, it answers the new session
    number.
    """

    venue: str
    open_orders: list[VenueOrder]
    fills: list[Filled]
