"""The message contract: everything actors tell each other, and the events hosts hear.

Every message is a frozen, keyword-only `Message` with a unique tag (msgpack-able:
sequences are tuples). Commands are imperative (`SubmitOrder`), events past tense
(`OrderFilled`). Prices are ticks and quantities lots of the instrument
(``Instrument.price``/``size`` convert from venue strings); instruments are named by
their symbol at their venue. Sides, times in force, statuses and denial reasons are
`enum.StrEnum`s: on the wire (and compared with ``==``) they are their strings.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import msgspec

from tradeactors.core.orders import OrderStatus

__all__ = [
    "CANCEL_REQUESTED",
    "JOURNAL_UNAVAILABLE",
    "OWN_CANCEL_REASONS",
    "STRATEGY_CANCEL_ALL",
    "TIME_IN_FORCE_VALUES",
    "AmendAtVenue",
    "AmendDenied",
    "AmendOrder",
    "AmendOutcome",
    "AmendRejected",
    "CancelAllDone",
    "CancelAllOrders",
    "CancelAtVenue",
    "CancelEverythingAtVenue",
    "CancelOrder",
    "CancelRejected",
    "DenyReason",
    "ExposureChange",
    "ExposureSnapshot",
    "FetchFills",
    "FillsFetched",
    "GatewayConnected",
    "GetBook",
    "GetExposure",
    "GetOrders",
    "GetReport",
    "GetRiskReport",
    "GetStrategyReport",
    "LastExecutionId",
    "MarketDataKind",
    "Message",
    "OrderAccepted",
    "OrderAmended",
    "OrderCanceled",
    "OrderFilled",
    "OrderInfo",
    "OrderRejected",
    "OrderStatus",
    "OrderSubmitted",
    "OrderUpdate",
    "OrdersReport",
    "OwnerPosition",
    "PlaceOrder",
    "Reconciliation",
    "ReconciliationReport",
    "ReleaseOrder",
    "RiskReport",
    "SendAmend",
    "Side",
    "SnapshotNeeded",
    "StartReconciliation",
    "SubmitOrder",
    "TakeCheckpoint",
    "TimeInForce",
    "TradeTick",
    "UnknownOrderFilled",
    "VenueData",
    "VenueDown",
    "VenueOrder",
    "VenueSessionStarted",
    "VenueStatus",
    "WriteAhead",
    "denied_update",
    "symbol_of",
]


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """Base of actor messages: frozen, keyword-only, tagged in subclasses (msgpack-able).

    ``ephemeral`` (a class attribute, not a field): True for market data, which the next
    update supersedes; one dropped at a stop (a dead letter) is expected, not a warning.
    """

    ephemeral: ClassVar[bool] = False


class Side(enum.StrEnum):
    """Buy or sell (of an order, a fill, or a trade's aggressor)."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: ``side.sign * lots`` is the signed quantity."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side (the side an order trades against)."""
        return Side.SELL if self is Side.BUY else Side.BUY


class TimeInForce(enum.StrEnum):
    """How long an order may rest."""

    GTC = "gtc"
    IOC = "ioc"  # fill what crosses now, cancel the rest
    FOK = "fok"  # fill everything now or nothing

    @classmethod
    def valid(cls, value: object) -> bool:
        """True if ``value`` is one of the members (or its string)."""
        return value in TIME_IN_FORCE_VALUES


TIME_IN_FORCE_VALUES: frozenset[str] = frozenset(member.value for member in TimeInForce)
"""The valid `TimeInForce` values (a set lookup: the hot paths check it inline)."""


class DenyReason(enum.StrEnum):
    """Why an order never left: risk's checks, the order manager's, or a lost message.

    The ``reason`` of an `OrderUpdate` with status ``denied`` (a metric label and an
    event field).
    """

    HALTED = "halted"
    INVALID_ORDER = "invalid_order"  # quantity or price not positive, or unknown tif
    DUPLICATE_ID = "duplicate_client_order_id"  # an order with this id exists
    REDUCE_ONLY = "reduce_only"
    NO_REFERENCE_PRICE = "no_reference_price"
    PRICE_COLLAR = "price_collar"
    MAX_ORDER_QUANTITY = "max_order_quantity"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION = "max_position"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"
    MAX_OPEN_ORDERS = "max_open_orders"
    MESSAGE_RATE = "message_rate"
    DUPLICATE_ORDER = "duplicate_order"
    CREDIT_LIMIT = "credit_limit"
    # the venue's own filters (the instrument's `OrderBounds`): it would refuse the order
    VENUE_MIN_PRICE = "venue_min_price"
    VENUE_MAX_PRICE = "venue_max_price"
    VENUE_MIN_QUANTITY = "venue_min_quantity"
    VENUE_MAX_QUANTITY = "venue_max_quantity"
    VENUE_MIN_NOTIONAL = "venue_min_notional"  # price x quantity below the venue's minimum
    UNKNOWN_VENUE = "unknown_venue"  # the order manager has no gateway for it
    VENUE_DOWN = "venue_down"  # its venue is down (not reconciled yet)
    LOST = "lost"  # dropped in a mailbox on its way (``detail`` says where)
    # amends only (the order stays as it was; see `AmendOrder`)
    UNKNOWN_ORDER = "unknown_order"  # not an open order (of this owner) here
    AMEND_PENDING = "amend_pending"  # the order's previous amend is not answered yet
    NOT_AMENDABLE = "not_amendable"  # not acknowledged yet, or being cancelled


class AmendOutcome(enum.StrEnum):
    """What became of an amend (`OrderUpdate.amend`)."""

    AMENDED = "amended"  # the venue amended it: the update has the new price and quantity
    REJECTED = "rejected"  # the venue refused: ``reason`` is its reason; the order is as it was
    DENIED = "denied"  # it never left (risk, the order manager): ``reason`` a `DenyReason`


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
    side: Side
    price: int
    quantity: int
    owner: str = ""
    tif: TimeInForce = TimeInForce.GTC
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


class AmendOrder(Message, frozen=True, kw_only=True, tag=True):
    """Change an open order's price and/or quantity: strategies send it to risk.

    ``price`` (ticks) and ``quantity`` (lots: the new *total* quantity of the order, what
    is filled included, as Binance's ``newQty`` and Kraken's ``order_qty``); None keeps
    it. A lower quantity at the same price keeps the order's place in the queue; a new
    price (or, where the venue allows, a higher quantity) loses it, and at some venues
    (Binance, the simulator) gives the order a new venue order id; its client order id
    stays. Risk checks the amended order as it would a new one (a pure decrease only
    for the kill switch and the message rate); the outcome reaches ``owner`` as an
    `OrderUpdate` with its ``amend`` set.
    """

    client_order_id: str
    price: int | None = None
    quantity: int | None = None
    owner: str = ""
    timestamp_ns: int = 0


class SendAmend(Message, frozen=True, kw_only=True, tag=True):
    """Risk passed ``amend``: the order manager sends it unless the order cannot be."""

    amend: AmendOrder


class AmendDenied(Message, frozen=True, kw_only=True, tag=True):
    """Risk denied ``amend``: the order manager tells the owner (it knows the order)."""

    amend: AmendOrder
    reason: DenyReason
    detail: str = ""


class CancelAllOrders(Message, frozen=True, kw_only=True, tag=True):
    """Cancel every open order (of ``venue``, or everywhere), e.g. when the switch trips.

    With ``owner``, only that path's orders (a restarting strategy cancels its own).
    """

    reason: str
    venue: str | None = None
    owner: str | None = None


class GetOrders(Message, frozen=True, kw_only=True, tag=True):
    """Ask the order manager for an `OrdersReport`.

    With ``open_count_only``, it answers just the number of open orders (cheap), only
    ``owner``'s if given; without ``with_orders``, the report leaves the list of orders
    out (for scrapes).
    """

    open_count_only: bool = False
    with_orders: bool = True
    owner: str | None = None  # with open_count_only: count this owner's orders only


# -- order manager -> strategies, risk, kill switch ------------------------------------

CANCEL_REQUESTED = "cancel requested"
"""The ``reason`` of an order's pending-cancel update when its owner cancelled it alone."""
STRATEGY_CANCEL_ALL = "strategy cancel_all"
"""The reason of a strategy's own ``cancel_all()`` (a `CancelAllOrders` of its orders)."""
OWN_CANCEL_REASONS = frozenset({CANCEL_REQUESTED, STRATEGY_CANCEL_ALL})
"""Pending-cancel reasons of an order its owner asked to cancel; any other reason says
who else did (``strategy (re)started``, ``kill switch: ...``, ``strategy NAME removed``,
a cancel-all's own reason)."""


class OrderUpdate(Message, frozen=True, kw_only=True, tag=True):
    """An order changed: its new status, and the fill if any.

    ``reason`` is a `DenyReason` value when the status is ``denied``, else what moved
    it (the venue's reject reason, `CANCEL_REQUESTED`, ...); ``detail`` adds text to
    a denial (where a lost order was lost) or to a venue's reject (its own code and
    message).
    """

    client_order_id: str
    venue: str
    instrument: str
    side: Side
    price: int
    quantity: int
    status: OrderStatus
    filled: int
    reason: str = ""
    detail: str = ""
    fill_quantity: int = 0
    fill_price: int = 0
    execution_id: int | str = 0
    amend: AmendOutcome | None = None  # set when this update answers an `AmendOrder`
    owner: str = ""  # the order's owner path ("": a host's order), as `SubmitOrder.owner`


def denied_update(order: SubmitOrder, reason: DenyReason, detail: str = "") -> OrderUpdate:
    """The `OrderUpdate` that tells an order's owner it never left (status ``denied``)."""
    return OrderUpdate(
        client_order_id=order.client_order_id,
        venue=order.venue,
        instrument=order.instrument,
        side=order.side,
        price=order.price,
        quantity=order.quantity,
        status=OrderStatus.DENIED,
        filled=0,
        reason=reason,
        detail=detail,
        owner=order.owner,
    )


class VenueStatus(Message, frozen=True, kw_only=True, tag=True):
    """A venue went down (its gateway died) or came back (reconciled)."""

    venue: str
    up: bool
    reason: str
    timestamp_ns: int


class ExposureChange(Message, frozen=True, kw_only=True, tag=True):
    """To risk: an order it accepted filled, closed or was amended. ``sequence`` orders them.

    With ``terms``, the order's open terms are now ``price`` and ``remaining`` (an amend
    settled: done, refused or denied after risk passed it; while an amend is in flight,
    the larger of the old and the new).
    """

    sequence: int
    client_order_id: str
    instrument: str
    side: Side
    owner: str = ""  # the order's owner (its strategy's own position moves with a fill)
    fill_quantity: int = 0
    fill_price: int = 0
    closed: bool = False
    terms: bool = False
    price: int = 0
    quantity: int = 0  # the order's total (filled included), with ``terms``
    remaining: int = 0


class GetExposure(Message, frozen=True, kw_only=True, tag=True):
    """Risk (re)starting asks the order manager for an `ExposureSnapshot`.

    With ``reply_to`` (an actor path) the snapshot is told there (risk's start
    handshake: no blocking ``ask`` in ``on_start``); without, an ``ask`` gets it back.
    """

    reply_to: str | None = None


class ExposureSnapshot(Message, frozen=True, kw_only=True, tag=True):
    """Positions and open orders as of ``sequence`` (later `ExposureChange`s apply).

    ``owner_positions``: the same per owner (path) and instrument, for the owners' own
    limits (per strategy) after a restart of risk.
    """

    sequence: int
    positions: dict[str, int]
    average_prices: dict[str, tuple[int, int]]  # instrument -> (numerator, denominator)
    realized: dict[str, tuple[int, int]]
    open_orders: tuple[SubmitOrder, ...]
    remaining: dict[str, int]
    owner_positions: tuple[OwnerPosition, ...] = ()


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
    side: Side
    price: int
    remaining: int
    filled: int


class OrderAccepted(Message, frozen=True, kw_only=True, tag=True):
    """The venue accepted an order."""

    venue: str
    client_order_id: str
    order_id: int


class OrderAmended(Message, frozen=True, kw_only=True, tag=True):
    """The venue amended an order: its price and what is left open now.

    ``order_id`` is the venue's id after the amend (a cancel-replace gives a new one);
    ``filled`` the order's cumulative filled quantity where the venue says it (-1: not
    said); ``kept_priority`` whether it kept its place in the queue.
    """

    venue: str
    client_order_id: str
    order_id: int
    price: int
    remaining: int
    filled: int = -1
    kept_priority: bool = False


class AmendRejected(Message, frozen=True, kw_only=True, tag=True):
    """The venue refused an amend (or the gateway could not send it).

    ``canceled``: the venue says the order was cancelled all the same (Binance's
    cancel-replace that cancelled, then failed to place: ``-2021``).
    """

    venue: str
    client_order_id: str
    reason: str
    canceled: bool = False


class OrderFilled(Message, frozen=True, kw_only=True, tag=True):
    """A fill at the venue (``execution_id`` as the venue identifies fills: `FillIds`)."""

    venue: str
    instrument: str
    client_order_id: str
    order_id: int
    execution_id: int | str
    side: Side
    price: int
    quantity: int
    remaining: int
    fee_e4: int = 0


class OrderCanceled(Message, frozen=True, kw_only=True, tag=True):
    """The venue cancelled an order (asked, IOC remainder, disconnect, dead-man's switch)."""

    venue: str
    client_order_id: str
    order_id: int
    reason: str
    remaining: int = -1  # lots it cancelled (-1: not said)
    expired: bool = False  # the venue's rules ended it (IOC/FOK remainder, STP), unasked


class OrderRejected(Message, frozen=True, kw_only=True, tag=True):
    """The venue refused a new order.

    ``reason`` is the contract's (e.g. ``rejected``); ``detail`` the venue's own code and
    message when it answered the request (Binance ``-2010 Market is closed.``, Kraken
    ``EService:Unavailable``), passed on in the order's `OrderUpdate`.
    """

    venue: str
    client_order_id: str
    reason: str
    detail: str = ""


class CancelRejected(Message, frozen=True, kw_only=True, tag=True):
    """The venue refused a cancel (usually: the order is gone already)."""

    venue: str
    client_order_id: str
    reason: str


class Reconciliation(Message, frozen=True, kw_only=True, tag=True):
    """A gateway (re)connected: what the venue says is open, and the fills it missed.

    The order manager applies the fills exactly once, closes the orders the venue no
    longer has, and only then reports the venue up: it tells the gateway
    `VenueSessionStarted` (and, asked, answers the new session number).
    """

    venue: str
    open_orders: tuple[VenueOrder, ...]
    fills: tuple[OrderFilled, ...]
    incarnation: int = 0  # of the gateway that gathered it
    since: int = -1  # the fills are those after this execution id (-1: not said)


class GatewayConnected(Message, frozen=True, kw_only=True, tag=True):
    """A gateway logged on (and cancelled all): the order manager answers where from.

    The first step of the reconnect handshake: connected -> reconciled -> venue up.
    """

    venue: str
    incarnation: int


class StartReconciliation(Message, frozen=True, kw_only=True, tag=True):
    """To a gateway: fetch the fills after ``since`` and the open orders, and reconcile."""

    since: int
    incarnation: int


class VenueSessionStarted(Message, frozen=True, kw_only=True, tag=True):
    """To a gateway: reconciled; orders of session ``session`` are to be sent."""

    venue: str
    session: int
    incarnation: int


class CancelAtVenue(Message, frozen=True, kw_only=True, tag=True):
    """To a gateway: cancel one order (``instrument``: its symbol, "" if not known)."""

    client_order_id: str
    order_id: int
    instrument: str = ""


class AmendAtVenue(Message, frozen=True, kw_only=True, tag=True):
    """To a gateway: amend one order (see `AmendOrder`; the venue's codec picks its request).

    ``order`` is the order as it stands (its price and quantity before the amend);
    ``price`` and ``quantity`` the new terms (``quantity`` the total), ``remaining`` the
    new open quantity as the order manager counts it (``quantity`` - filled).
    """

    order: SubmitOrder
    order_id: int
    price: int
    quantity: int
    remaining: int
    session: int = 0

    @property
    def keeps_priority(self) -> bool:
        """A lower quantity at the same price: the order keeps its place in the queue."""
        return self.price == self.order.price and self.quantity < self.order.quantity


class CancelEverythingAtVenue(Message, frozen=True, kw_only=True, tag=True):
    """To a gateway: cancel all of the account's orders at its venue."""

    reason: str


class FetchFills(Message, frozen=True, kw_only=True, tag=True):
    """To a gateway: fetch the fills after ``since`` again (one was lost on the link)."""

    since: int


class FillsFetched(Message, frozen=True, kw_only=True, tag=True):
    """From a gateway: the fills of a `FetchFills` have all been passed on."""

    venue: str


class CancelAllDone(Message, frozen=True, kw_only=True, tag=True):
    """From a gateway: the venue answered a cancel-all (its cancellations came before)."""

    venue: str


# -- order manager -> host ---------------------------------------------------------------


class ReconciliationReport(Message, frozen=True, kw_only=True, tag=True):
    """What a reconciliation found (an event for the host and the log)."""

    venue: str
    missed_fills: int  # fills the venue had that had not reached us
    duplicate_fills: int  # fills we had already applied
    closed: tuple[str, ...]  # orders we thought open that the venue no longer has
    unknown_at_venue: tuple[str, ...]  # orders open at the venue we did not know (cancelled)
    closed_here_open_there: tuple[str, ...]  # orders we had closed, open at the venue
    timestamp_ns: int


class OrderInfo(Message, frozen=True, kw_only=True, tag=True):
    """One order in an `OrdersReport`."""

    client_order_id: str
    venue: str
    instrument: str
    side: Side
    price: int
    quantity: int
    filled: int
    status: OrderStatus
    order_id: int | None
    owner: str = ""  # the path of the actor that submitted it ("": a host, no owner)


class OwnerPosition(Message, frozen=True, kw_only=True, tag=True):
    """One owner's part of one instrument: a row of `OrdersReport.owners`.

    ``owner`` is the orders' owner path (a strategy actor's, ``""`` for orders a host
    submitted with no owner), or None for fills of orders not known here (placed
    before a restart, or by another session of the account): those count for the
    instrument and for no strategy. The positions of one instrument's rows add up to
    its position, and so does their PnL (realized plus unrealized at any one mark);
    their realized PnL alone need not: one owner's buy against another's sell closes
    the account's position (realized) but leaves each owner's open (unrealized).
    """

    owner: str | None
    instrument: str
    position: int  # lots
    average_price: tuple[int, int] = (0, 1)  # ticks, exact: (numerator, denominator)
    realized: tuple[int, int] = (0, 1)  # tick * lot units, exact
    open_orders: int = 0
    fills: int = 0


class OrdersReport(Message, frozen=True, kw_only=True, tag=True):
    """The order manager's view: orders, positions, venues, counters (see `GetOrders`).

    ``owners``: positions, realized PnL, open orders and fills per (owner, instrument),
    sorted by instrument then owner (`OwnerPosition`).
    """

    orders: tuple[OrderInfo, ...]
    open_orders: int
    positions: dict[str, int]
    open_by_venue: dict[str, int] = {}
    realized: dict[str, float]  # tick * lot units
    venues: dict[str, bool]  # venue -> up
    fills: int
    duplicate_fills: int
    inconsistencies: int
    reconciliations: int
    owners: tuple[OwnerPosition, ...] = ()


# -- risk ----------------------------------------------------------------------------------


class GetRiskReport(Message, frozen=True, kw_only=True, tag=True):
    """Ask risk for its `RiskReport` (answered after everything queued before it)."""


class ReleaseOrder(Message, frozen=True, kw_only=True, tag=True):
    """Stop counting an order that was lost before the order manager took it."""

    client_order_id: str


class OrderLost(Message, frozen=True, kw_only=True, tag=True):
    """The system to the order manager: a `PlaceOrder` of ``order`` was a dead letter.

    The order manager decides (it alone reads its store): an order it never stored is
    released in risk and denied to its owner as lost (``detail`` says where).
    """

    order: SubmitOrder
    detail: str


class RiskReport(Message, frozen=True, kw_only=True, tag=True):
    """What risk counts now."""

    positions: dict[str, int]
    open_orders: int
    denied: dict[str, int]  # reason -> denials by this incarnation
    sequence: int
    strategy_positions: dict[str, dict[str, int]] = {}  # strategy -> instrument -> lots


# -- market data -----------------------------------------------------------------------


class TradeTick(Message, frozen=True, kw_only=True, tag=True):
    """A public trade: ``side`` is the aggressor's (BUY when the taker bought)."""

    ephemeral: ClassVar[bool] = True

    instrument: str
    price: int
    quantity: int
    side: Side
    timestamp_ns: int


class MarketDataKind(enum.StrEnum):
    """What a venue's market-data event is for."""

    BOOK = "book"  # a book update or snapshot, for the book's sync rule
    TICKER = "ticker"  # the venue's own top of book, to verify a book against
    TRADE = "trade"  # a public trade, passed on to strategies as a `TradeTick`


class VenueData(Message, frozen=True, tag=True):
    """From a feed to a book actor: one event decoded by the venue adapter.

    ``data`` is the venue's own decoded type; only the venue's `BookSync` reads it.
    Adapters build it (positional: ``VenueData(symbol, kind, data)``, also known as
    `tradeactors.venues.adapter.VenueEvent`) and the feed sends it on as it is.
    """

    ephemeral: ClassVar[bool] = True

    symbol: str
    kind: MarketDataKind
    data: Any


class SnapshotNeeded(Message, frozen=True, kw_only=True, tag=True):
    """A book (re)started, or lost sync, and needs a snapshot.

    ``reason``: ``start``, or why the book was cleared (``gap``, ``checksum_mismatch``,
    ...); ``incarnation``: the book actor's (a feed whose venue sends a snapshot with
    each subscription tells a book that started with its connection, whose snapshot is
    on its way, from one that restarted alone).
    """

    symbol: str
    reason: str = "start"
    incarnation: int = 0


class GetReport(Message, frozen=True, kw_only=True, tag=True):
    """Ask a feed or book actor for its report."""


class GetBook(Message, frozen=True, kw_only=True, tag=True):
    """Ask a book actor for a `BookView` of its book now (``depth`` levels a side)."""

    depth: int = 10


# -- strategies ------------------------------------------------------------------------


class GetStrategyReport(Message, frozen=True, kw_only=True, tag=True):
    """Ask a strategy actor for its `tradeactors.actors.strategy.StrategyReport`."""


# -- order manager -> journal (write-ahead: tradeactors.journal) --------------------------


class OrderSubmitted(Message, frozen=True, kw_only=True, tag=True):
    """A journal record: the order manager is sending ``order`` to its venue now."""

    order: SubmitOrder
    timestamp_ns: int


class UnknownOrderFilled(Message, frozen=True, kw_only=True, tag=True):
    """A journal record: a fill of an order not known here (it still moved the position)."""

    fill: OrderFilled
    timestamp_ns: int


class WriteAhead(Message, frozen=True, kw_only=True, tag=True):
    """To the journal: commit ``records``, then tell ``sends`` and publish ``events``.

    What the order manager would send and publish after a change goes through the
    journal instead (when the system keeps one), so that an order reaches its gateway
    only once its record is committed, and a fill reaches its owner, risk and the hosts
    only once it is recorded. ``origin`` (the order manager's path) hears of the orders
    and amends that could not be recorded: they are not sent (`OrderRejected` /
    `AmendRejected` with reason ``journal_unavailable``).
    """

    records: tuple[Any, ...]
    sends: tuple[tuple[str, Any], ...] = ()
    events: tuple[Any, ...] = ()
    origin: str = ""


JOURNAL_UNAVAILABLE = "journal_unavailable"
"""The reason of an order or amend not sent because the journal could not record it."""


class TakeCheckpoint(Message, frozen=True, kw_only=True, tag=True):
    """To the order manager: record its whole state in the journal now (a checkpoint).

    A restart reads the journal from its last checkpoint on, not from its beginning.
    ``periodic``: its own timer's (skipped if no fill came since the last one).
    """

    periodic: bool = False
