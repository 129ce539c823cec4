"""The execution core: the order manager's logic, with no actor and no I/O.

`ExecutionCore.handle` takes one message and returns a `Step`: the change to the
`OrderStore` and everything to send (paths and messages), host events and log lines.
It is computed in full before anything is committed: the store is only read while
computing (orders, positions and execution ids that change are copied on first write),
and `ExecutionCore.commit` applies the step at the end. An exception while computing
leaves the store as it was, so a crash mid-handler never leaves a fill half applied
(its execution id marked as seen but its position not moved, say). The actor shell
(`tradeactors.actors.order_manager`) sends the step's messages after the commit.

Fill identity is the venue's (`FillIds`): the simulated exchange numbers fills 1, 2,
3... per account, so a missing id is a lost fill, detected and fetched again from the
watermark; venues with unique ids in no usable order (Binance trade ids shared by all
accounts of a symbol, Kraken's strings) get exactly-once by id only, with a bounded
memory of the ids seen, and their missed fills are fetched on reconnect.

Amends (`SendAmend`, after risk) keep the order's state and client order id; the order
carries the amend in flight (`Tracked.amend`) until the venue answers, one at a time:

- done in place: the venue's `OrderAmended` sets the new price and open quantity;
- a cancel-replace (the simulator, Binance): the venue cancels the order, then accepts
  a new one (new venue order id, same client order id). A cancel report for an order
  with an amend in flight is held (`Tracked.held_cancel`), not applied; the new order's
  `OrderAccepted` is the amend done (with the terms sent), and the held cancel is
  dropped: it was the replace's. If the venue refuses the amend instead
  (`AmendRejected`) the held cancel is applied: the order was cancelled (by the venue,
  or by a cancel-replace that then failed to place: Binance's ``-2021``);
- refused: the order stays as it was (an ``unknown_order`` refusal is handled as a
  cancel's: the fills are fetched, and what is still open after them is gone);
- fills racing the amend apply as they come (the order's filled quantity never
  changes by an amend: a new total quantity leaves ``quantity - filled`` open);
- a cancel asked while an amend is in flight waits for its answer (the venue order id
  may change), then goes out;
- a reconnect settles amends in flight from what the venue says is open.

The owner hears each outcome as an `OrderUpdate` with ``amend`` set, and risk the
order's terms after it (`ExposureChange` with ``terms``).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.core.messages import (
    CANCEL_REQUESTED,
    TIME_IN_FORCE_VALUES,
    AmendAtVenue,
    AmendDenied,
    AmendOrder,
    AmendOutcome,
    AmendRejected,
    CancelAllDone,
    CancelAllOrders,
    CancelAtVenue,
    CancelEverythingAtVenue,
    CancelOrder,
    CancelRejected,
    DenyReason,
    ExposureChange,
    ExposureSnapshot,
    FetchFills,
    FillsFetched,
    GatewayConnected,
    GetExposure,
    GetOrders,
    LastExecutionId,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderFilled,
    OrderInfo,
    OrderLost,
    OrderRejected,
    OrdersReport,
    OrderUpdate,
    OwnerPosition,
    PlaceOrder,
    Reconciliation,
    ReconciliationReport,
    ReleaseOrder,
    SendAmend,
    Side,
    StartReconciliation,
    SubmitOrder,
    UnknownOrderFilled,
    VenueDown,
    VenueOrder,
    VenueSessionStarted,
    VenueStatus,
    denied_update,
)
from tradeactors.core.orders import (
    TRANSITIONS,
    IllegalTransitionError,
    Ledger,
    Order,
    OrderStatus,
    Position,
    Trigger,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "ExecutionCore",
    "FillIds",
    "OrderStore",
    "OwnerKey",
    "SequentialIds",
    "Step",
    "Tracked",
    "UniqueIds",
]

ExecutionId = int | str

OwnerKey = tuple[str | None, str]
"""``(owner, instrument)``: an order's owner path (``""``: a host's order with no owner;
None: fills of orders not known here) and the instrument (`OrdersReport.owners`)."""


class FillIds(enum.Enum):
    """How a venue identifies fills, and so what the order manager can check."""

    SEQUENTIAL = "sequential"
    """Integer ids 1, 2, 3... per account (the simulated exchange): a missing id is a
    fill lost on the link, detected and fetched again from the last id before it."""

    UNIQUE = "unique"
    """Unique ids in no usable order (Binance trade ids are per symbol and shared by all
    accounts; Kraken's are strings): repeats are dropped, gaps cannot be detected, and
    missed fills are fetched on reconnect (the adapter decides how far back)."""


# -- execution ids -------------------------------------------------------------------------


class SequentialIds:
    """Ids 1, 2, 3...: every id up to ``watermark`` applied, ``above`` those beyond it."""

    __slots__ = ("above", "watermark")

    def __init__(self, watermark: int = 0, above: set[int] | None = None) -> None:
        self.watermark = watermark
        self.above: set[int] = above if above is not None else set()

    def record(self, execution_id: ExecutionId) -> bool:
        """Note ``execution_id`` as applied; False if it was already (or is not an int)."""
        if not isinstance(execution_id, int) or isinstance(execution_id, bool):
            return False
        if execution_id <= self.watermark or execution_id in self.above:
            return False
        self.above.add(execution_id)
        while self.watermark + 1 in self.above:
            self.watermark += 1
            self.above.discard(self.watermark)
        return True

    @property
    def since(self) -> int:
        """Fetch fills from here: every id up to it was applied."""
        return self.watermark

    @property
    def gap(self) -> bool:
        """True if a fill above the watermark was applied while one below it was not."""
        return bool(self.above)

    def fork(self) -> SequentialIds:
        """A copy to compute on (``above`` is small: only ids past a gap)."""
        return SequentialIds(self.watermark, set(self.above))


class UniqueIds:
    """Unique ids in no usable order: the last ``keep`` seen, oldest forgotten first."""

    __slots__ = ("_base", "keep", "seen")

    def __init__(self, keep: int = 100_000, *, base: UniqueIds | None = None) -> None:
        self.keep = keep
        self.seen: dict[ExecutionId, None] = {}  # insertion ordered
        self._base = base

    def record(self, execution_id: ExecutionId) -> bool:
        """Note ``execution_id`` as applied; False if it was already."""
        if execution_id in self.seen or (
            self._base is not None and execution_id in self._base.seen
        ):
            return False
        self.seen[execution_id] = None
        return True

    @property
    def since(self) -> int:
        """Nothing to fetch from: the adapter fetches its recent window on reconnect."""
        return 0

    @property
    def gap(self) -> bool:
        """Gaps cannot be seen in unique ids."""
        return False

    def fork(self) -> UniqueIds:
        """An overlay holding only what this step adds (the memory is not copied)."""
        return UniqueIds(self.keep, base=self)

    def absorb(self, fork: UniqueIds) -> None:
        """Take a fork's new ids, forgetting the oldest beyond ``keep``."""
        self.seen.update(fork.seen)
        excess = len(self.seen) - self.keep
        if excess > 0:
            for old in list(self.seen)[:excess]:
                del self.seen[old]


Ids = SequentialIds | UniqueIds


_SUBMITTED = TRANSITIONS[OrderStatus.NEW, Trigger.SUBMIT]
"""Where a new order goes once submitted (the order manager's hot path sets it directly)."""

_SETTLED = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.FILLED})
"""Closed by the venue: a cancel report after one of these is a repeat, not news."""


# -- the store -----------------------------------------------------------------------------


@dataclass(slots=True)
class Tracked:
    """One order as tracked: its state machine, the request, the venue's id."""

    order: Order
    request: SubmitOrder
    order_id: int | None = None
    cancel_wanted: bool = False
    cancel_sent: int = -1  # the venue session a cancel was last sent in (-1: none)
    amend: AmendAtVenue | None = None  # the amend in flight (see the module doc)
    held_cancel: OrderCanceled | None = None  # a cancel report held while it is

    def copy(self) -> Tracked:
        """A copy to change (the request is immutable)."""
        return Tracked(
            self.order.copy(),
            self.request,
            self.order_id,
            self.cancel_wanted,
            self.cancel_sent,
            self.amend,
            self.held_cancel,
        )

    def exposure(self) -> tuple[int, int, int]:
        """``(price, quantity, remaining)`` risk is to count.

        With an amend in flight, the larger of the old and the new: either may trade
        until the venue answers.
        """
        order, amend = self.order, self.amend
        if amend is None:
            return order.price, order.quantity, order.remaining
        return (
            max(order.price, amend.price),
            max(order.quantity, amend.quantity),
            max(order.remaining, amend.remaining),
        )


@dataclass(slots=True)
class OrderStore:
    """The order manager's state; outlives its incarnations.

    Written only by `ExecutionCore.commit` (in the order manager's thread); others read
    it through the order manager (``ask``), or once the tree has stopped.
    """

    orders: dict[str, Tracked] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    # the same positions split by owner: the rows of an instrument add up to its ledger's
    owner_positions: dict[OwnerKey, Position] = field(default_factory=dict)
    owner_fills: dict[OwnerKey, int] = field(default_factory=dict)
    fill_ids: dict[str, FillIds] = field(default_factory=dict)  # venue -> kind (default SEQ.)
    ids: dict[str, Ids] = field(default_factory=dict)
    sequence: int = 0  # of ExposureChange to risk
    fills: int = 0
    duplicate_fills: int = 0
    inconsistencies: int = 0
    reconciliations: int = 0
    sessions: dict[str, int] = field(default_factory=dict)  # venue -> reconciliations
    keep_closed: int = 10_000  # closed orders kept (for late fills and reports)
    pruned: int = 0  # closed orders forgotten so far

    def ids_of(self, venue: str) -> Ids:
        """The execution ids of ``venue`` (created on first use, by its `FillIds`)."""
        ids = self.ids.get(venue)
        if ids is None:
            kind = self.fill_ids.get(venue, FillIds.SEQUENTIAL)
            ids = SequentialIds() if kind is FillIds.SEQUENTIAL else UniqueIds()
            self.ids[venue] = ids
        return ids

    def record_execution(self, venue: str, execution_id: ExecutionId) -> bool:
        """Note ``execution_id`` as applied; False if it was already."""
        ids = self.ids_of(venue)
        fork = ids.fork()
        if not fork.record(execution_id):
            return False
        self._join(venue, ids, fork)
        return True

    def _join(self, venue: str, ids: Ids, fork: Ids) -> None:
        if isinstance(ids, UniqueIds) and isinstance(fork, UniqueIds):
            ids.absorb(fork)
        else:
            self.ids[venue] = fork

    def last_execution_id(self, venue: str) -> int:
        """The id after which fills may be missing: every id up to it was applied.

        A fill lost on a live link leaves a gap below later ones; fetching from here
        (not from the highest id seen) brings it back. Ids above it that were applied
        are skipped as duplicates. Always 0 for venues with `FillIds.UNIQUE`.
        """
        ids = self.ids.get(venue)
        return 0 if ids is None else ids.since

    def has_gap(self, venue: str) -> bool:
        """True if some fill above the watermark was applied while one below it was not."""
        ids = self.ids.get(venue)
        return ids is not None and ids.gap

    def open_orders(self, venue: str | None = None) -> list[Tracked]:
        """Orders that may still trade (of ``venue``, or everywhere)."""
        return [
            t
            for t in self.orders.values()
            if t.order.status.open and (venue is None or t.request.venue == venue)
        ]

    def prune(self) -> int:
        """Forget the oldest closed orders beyond ``keep_closed``; how many went.

        Open orders are never forgotten. A late report for a forgotten order is handled
        like one for an unknown order (a fill still moves the position).
        """
        closed = [cid for cid, t in self.orders.items() if not t.order.status.open]
        excess = len(closed) - self.keep_closed
        if excess <= 0:
            return 0
        for cid in closed[:excess]:  # insertion order: the oldest first
            del self.orders[cid]
        self.pruned += excess
        return excess


# -- a step: computed on copies, then committed --------------------------------------------


class Step:
    """What one message changes and sends; `ExecutionCore.commit` applies the change."""

    # Defaults on the class: a step sets only what its message touches (most set none
    # of these), so creating one on the hot path costs a few attributes, not sixteen.
    _positions: dict[str, Position] | None = None
    _owner_positions: dict[OwnerKey, Position] | None = None
    _owner_fills: dict[OwnerKey, int] | None = None
    _ids: dict[str, Ids] | None = None
    _sessions: dict[str, int] | None = None
    _up: dict[str, bool] | None = None
    _fetching: dict[str, int] | None = None
    _gone: set[str] | None = None
    closed = False  # some order closed (the store may be pruned after the commit)
    halt: str | None = None  # trip the kill switch (HALTED) with this reason
    fills = 0
    duplicate_fills = 0
    inconsistencies = 0
    reconciliations = 0
    reply: Any = None

    def __init__(self, core: ExecutionCore) -> None:
        store = core.store
        self._store = store
        self._orders: dict[str, Tracked] = {}
        self.sequence = store.sequence
        self.sends: list[tuple[str, Any]] = []  # (actor path, message), in order
        self.events: list[Any] = []  # for hosts, in order
        self.records: list[Any] = []  # for the journal only (`UnknownOrderFilled`)
        self.logs: list[tuple[str, str, dict[str, Any]]] = []  # (level, event, fields)

    # reading and writing orders
    def get(self, client_order_id: str) -> Tracked | None:
        """The order as this step sees it (do not change it: use `edit`)."""
        tracked = self._orders.get(client_order_id)
        return tracked if tracked is not None else self._store.orders.get(client_order_id)

    def edit(self, client_order_id: str) -> Tracked | None:
        """The order, copied into this step on first use, to change."""
        tracked = self._orders.get(client_order_id)
        if tracked is None:
            stored = self._store.orders.get(client_order_id)
            if stored is None:
                return None
            tracked = self._orders[client_order_id] = stored.copy()
        return tracked

    def add(self, tracked: Tracked) -> None:
        """A new order."""
        self._orders[tracked.order.client_order_id] = tracked

    def open_ids(self, venue: str | None = None) -> list[str]:
        """Client order ids of the orders that may still trade, oldest first."""
        seen = self._orders
        out = [
            cid
            for cid, stored in self._store.orders.items()
            if (t := seen.get(cid, stored)).order.status.open
            and (venue is None or t.request.venue == venue)
        ]
        out.extend(
            cid
            for cid, t in seen.items()
            if cid not in self._store.orders
            and t.order.status.open
            and (venue is None or t.request.venue == venue)
        )
        return out

    def position(self, instrument: str) -> Position:
        """The position of ``instrument``, copied into this step to change."""
        if self._positions is None:
            self._positions = {}
        position = self._positions.get(instrument)
        if position is None:
            position = self._positions[instrument] = self._store.ledger.position(instrument).copy()
        return position

    def owner_fill(self, key: OwnerKey, signed_quantity: int, price: int) -> None:
        """Apply a fill to the position of ``key`` (owner, instrument) and count it."""
        if self._owner_positions is None:
            self._owner_positions, self._owner_fills = {}, {}
        assert self._owner_fills is not None  # noqa: S101 - made together just above
        position = self._owner_positions.get(key)
        if position is None:
            stored = self._store.owner_positions.get(key)
            position = self._owner_positions[key] = Position() if stored is None else stored.copy()
        position.apply_fill(signed_quantity, price)
        self._owner_fills[key] = self._owner_fills.get(key, 0) + 1

    def ids(self, venue: str) -> Ids:
        """The venue's execution ids as this step sees them (a fork to record into)."""
        if self._ids is None:
            self._ids = {}
        ids = self._ids.get(venue)
        if ids is None:
            ids = self._ids[venue] = self._store.ids_of(venue).fork()
        return ids

    # the venue sessions of this incarnation
    def session(self, venue: str) -> int:
        """The venue's session number (reconciliations so far)."""
        session = None if self._sessions is None else self._sessions.get(venue)
        return self._store.sessions.get(venue, 0) if session is None else session

    def new_session(self, venue: str) -> int:
        """The venue's next session (a reconciliation)."""
        if self._sessions is None:
            self._sessions = {}
        session = self._sessions[venue] = self.session(venue) + 1
        return session

    def up(self, core: ExecutionCore) -> dict[str, bool]:
        """Venues up, to change."""
        if self._up is None:
            self._up = dict(core.up)
        return self._up

    def fetching(self, core: ExecutionCore) -> dict[str, int]:
        """Venue -> watermark of its last gap fetch, to change."""
        if self._fetching is None:
            self._fetching = dict(core.fetching)
        return self._fetching

    def gone(self, core: ExecutionCore) -> set[str]:
        """Orders the venue said it does not know, to change."""
        if self._gone is None:
            self._gone = set(core.gone)
        return self._gone

    def log(self, level: str, event: str, **fields: Any) -> None:
        """A log line, written after the commit."""
        self.logs.append((level, event, fields))


# -- the core ------------------------------------------------------------------------------


class ExecutionCore:
    """The order manager's logic (see the module doc).

    Args:
        store: the state (kept by the system across restarts).
        gateways: venue -> gateway path.
        risk_path: where `ExposureChange`s and releases go.
        notify: paths told of `VenueStatus` changes (strategies, kill switch).
        now_ns: the clock (wall time, ns) for reports' timestamps.
        halted: whether the kill switch is HALTED now (orders still queued are denied).
        halted_for: whether an order of (owner, venue) is HALTED now by its strategy's or
            its venue's kill-switch scope (None: only ``halted`` counts).

    """

    def __init__(
        self,
        store: OrderStore,
        *,
        gateways: Mapping[str, str],
        risk_path: str,
        notify: tuple[str, ...] = (),
        now_ns: Callable[[], int] = time.time_ns,
        halted: Callable[[], bool] = lambda: False,
        halted_for: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.store = store
        self._now_ns = now_ns
        self._halted = halted
        self._halted_for = halted_for
        self.gateways = dict(gateways)
        self.risk_path = risk_path
        self.notify = notify
        # Per incarnation: venues are down until their gateway reconciled.
        self.up: dict[str, bool] = dict.fromkeys(gateways, False)
        self.fetching: dict[str, int] = {}  # venue -> watermark of the last gap fetch
        self.gone: set[str] = set()  # orders the venue said it does not know

    # -- the two phases ------------------------------------------------------------------

    def step(self) -> Step:
        """An empty step (to compute into with `status`, say)."""
        return Step(self)

    def handle(  # noqa: C901, PLR0912, PLR0915 - one branch per message
        self, message: Any
    ) -> Step:
        """Compute what ``message`` changes and sends; nothing is changed yet."""
        step = Step(self)
        kind = type(message)
        if kind is PlaceOrder:  # the hot path first, by exact type
            self._place(step, message.order)
        elif kind is OrderAccepted:
            self._on_accepted(step, message)
        elif isinstance(message, OrderFilled):
            self._on_fill(step, message, reconciling=False)
        elif isinstance(message, OrderAccepted):
            self._on_accepted(step, message)
        elif isinstance(message, OrderCanceled):
            self._on_cancelled(step, message)
        elif isinstance(message, PlaceOrder):
            self._place(step, message.order)
        elif isinstance(message, CancelOrder):
            self._cancel(step, message.client_order_id)
        elif isinstance(message, OrderAmended):
            self._on_amended(step, message)
        elif isinstance(message, SendAmend):
            self._amend(step, message.amend)
        elif isinstance(message, AmendRejected):
            self._on_amend_rejected(step, message)
        elif isinstance(message, AmendDenied):
            self._deny_amend(
                step, message.amend, message.reason, detail=message.detail, counted=False
            )
        elif isinstance(message, OrderRejected):
            self._on_rejected(step, message)
        elif isinstance(message, CancelRejected):
            self._on_cancel_rejected(step, message)
        elif isinstance(message, FillsFetched):
            self._settle_gone(step, message.venue)
        elif isinstance(message, CancelAllDone):
            # The venue reports each cancellation before its answer: an order still
            # cancel-pending here is not at the venue (filled with its report lost, or
            # cancelled unheard). Fetch the fills; what is still open after them is gone.
            pending = [
                cid
                for cid in step.open_ids(message.venue)
                if (t := step.get(cid)) is not None and t.order.status is OrderStatus.PENDING_CANCEL
            ]
            if pending:
                step.gone(self).update(pending)
                self._fetch_missing(step, message.venue, force=True)
        elif isinstance(message, CancelAllOrders):
            if message.owner is None:
                self._cancel_all(step, message.venue, message.reason)
            else:
                for cid in step.open_ids(message.venue):
                    if (t := step.get(cid)) is not None and t.request.owner == message.owner:
                        self._cancel(step, cid, message.reason)
        elif isinstance(message, VenueDown):
            self._venue_down(step, message, self._now_ns())
        elif isinstance(message, GatewayConnected):
            self._gateway_connected(step, message)
        elif isinstance(message, Reconciliation):
            step.reply = self._reconcile(step, message, self._now_ns())
        elif isinstance(message, OrderLost):
            self._lost(step, message)
        elif isinstance(message, LastExecutionId):
            step.reply = self.store.last_execution_id(message.venue)
        elif isinstance(message, GetExposure):
            snapshot = self.exposure()
            if message.reply_to is not None:
                step.sends.append((message.reply_to, snapshot))
            else:
                step.reply = snapshot
        elif isinstance(message, GetOrders):
            if message.open_count_only:
                open_orders = self.store.open_orders()
                owner = message.owner
                if owner is not None:
                    open_orders = [t for t in open_orders if t.request.owner == owner]
                step.reply = len(open_orders)
            else:
                step.reply = self.report(with_orders=message.with_orders)
        else:
            step.log("warning", "unknown_message", message_type=type(message).__name__)
        return step

    def commit(self, step: Step) -> None:  # noqa: C901, PLR0912 - a branch per part of the step
        """Apply ``step`` to the store (nothing here can fail halfway on valid input)."""
        store = self.store
        if step._orders:
            store.orders.update(step._orders)
        if step._positions is not None:
            for instrument, position in step._positions.items():
                store.ledger.replace(instrument, position)
        if step._owner_positions is not None and step._owner_fills is not None:
            store.owner_positions.update(step._owner_positions)
            for key, count in step._owner_fills.items():
                store.owner_fills[key] = store.owner_fills.get(key, 0) + count
        if step._ids is not None:
            for venue, ids in step._ids.items():
                store._join(venue, store.ids_of(venue), ids)
        if step._sessions is not None:
            store.sessions.update(step._sessions)
        store.sequence = step.sequence
        if step.fills or step.duplicate_fills or step.inconsistencies or step.reconciliations:
            store.fills += step.fills
            store.duplicate_fills += step.duplicate_fills
            store.inconsistencies += step.inconsistencies
            store.reconciliations += step.reconciliations
        if step._up is not None:
            self.up = step._up
        if step._fetching is not None:
            self.fetching = step._fetching
        if step._gone is not None:
            self.gone = step._gone
        if step.closed and len(store.orders) > store.keep_closed + store.keep_closed // 10 + 1000:
            store.prune()

    # -- orders going out ------------------------------------------------------------

    def place(self, request: SubmitOrder) -> tuple[str, PlaceOrder] | Step:
        """`handle` of a `PlaceOrder`, without a `Step` when the order goes out.

        The hot path: when every check passes the order is tracked (the whole change: one
        new order) and the gateway and its `PlaceOrder` are returned for the caller to
        send. Otherwise the denial is computed as `handle` does, into a `Step` to commit.
        """
        venue = request.venue
        gateway = self.gateways.get(venue)
        cid = request.client_order_id
        store = self.store
        if (
            gateway is None
            or cid in store.orders
            or not self.up.get(venue, False)
            or request.quantity <= 0
            or request.price <= 0
            or request.tif not in TIME_IN_FORCE_VALUES
            or self._halted()
            or (self._halted_for is not None and self._halted_for(request.owner, venue))
        ):
            step = Step(self)
            self._place(step, request)  # the same checks, in their order: the reason
            return step
        order = Order(
            cid,
            request.instrument,
            side=request.side,
            price=request.price,
            quantity=request.quantity,
        )
        order.status = _SUBMITTED  # order.apply(Trigger.SUBMIT) of a new order, looked up once
        store.orders[cid] = Tracked(order=order, request=request)
        return gateway, PlaceOrder(order=request, session=store.sessions.get(venue, 0))

    def _place(self, step: Step, request: SubmitOrder) -> None:
        cid = request.client_order_id
        if cid in self.store.orders or cid in step._orders:
            self._deny(step, request, DenyReason.DUPLICATE_ID, tracked=False)
            return
        if self._halted():
            self._deny(step, request, DenyReason.HALTED)
            return
        if self._halted_for is not None and self._halted_for(request.owner, request.venue):
            self._deny(step, request, DenyReason.HALTED, detail="scope")
            return
        gateway = self.gateways.get(request.venue)
        if gateway is None:
            self._deny(step, request, DenyReason.UNKNOWN_VENUE)
            return
        if not self.up.get(request.venue, False):
            self._deny(step, request, DenyReason.VENUE_DOWN)
            return
        if request.quantity <= 0 or request.price <= 0 or request.tif not in TIME_IN_FORCE_VALUES:
            # risk checks this too; never crash on it
            self._deny(step, request, DenyReason.INVALID_ORDER)
            return
        order = Order(
            cid,
            request.instrument,
            side=request.side,
            price=request.price,
            quantity=request.quantity,
        )
        order.apply(Trigger.SUBMIT)
        step.add(Tracked(order=order, request=request))
        step.sends.append((gateway, PlaceOrder(order=request, session=step.session(request.venue))))

    def _deny(
        self,
        step: Step,
        request: SubmitOrder,
        reason: DenyReason,
        *,
        tracked: bool = True,
        detail: str = "",
    ) -> None:
        """Refuse an order risk passed; risk stops counting it."""
        update = denied_update(request, reason, detail)
        if tracked:
            self._to_risk(step, request, closed=True)
        if request.owner:
            step.sends.append((request.owner, update))
        step.events.append(update)

    def _lost(self, step: Step, message: OrderLost) -> None:
        """A `PlaceOrder` for this order was lost in a mailbox (the system's dead letters).

        Stored (lost on its way to a gateway): the reconciliation settles it. Not stored
        (lost on its way here): risk still counts it, so release it there; the owner
        hears it was lost.
        """
        order = message.order
        if step.get(order.client_order_id) is not None:
            return
        step.sends.append((self.risk_path, ReleaseOrder(client_order_id=order.client_order_id)))
        update = denied_update(order, DenyReason.LOST, message.detail)
        if order.owner:
            step.sends.append((order.owner, update))
        step.events.append(update)

    def _cancel(self, step: Step, client_order_id: str, reason: str = CANCEL_REQUESTED) -> None:
        """Cancel one order; ``reason``: why, in its pending-cancel update.

        `CANCEL_REQUESTED` for a `CancelOrder`; a `CancelAllOrders`'s own reason for the
        orders of its owner (a restart, a halted scope, a removal, the strategy's own).
        """
        tracked = step.edit(client_order_id)  # a needless copy if closed: harmless
        if tracked is None or not tracked.order.status.open:
            return
        if tracked.order.status is not OrderStatus.PENDING_CANCEL:
            self._move(step, tracked, Trigger.REQUEST_CANCEL, reason)
        self._send_cancel(step, tracked)

    def _send_cancel(self, step: Step, tracked: Tracked) -> None:
        """``tracked`` is the step's copy (from `Step.edit`)."""
        venue = tracked.request.venue
        if not self._is_up(step, venue):
            return  # the venue cancelled it on disconnect; reconciliation will confirm
        if tracked.order_id is None or tracked.amend is not None:
            # sent when the venue acknowledges it, or answers the amend in flight
            tracked.cancel_wanted = True
            return
        session = step.session(venue)
        if tracked.cancel_sent == session:
            return  # in flight already: asking again only queues duplicates at the venue
        tracked.cancel_sent = session
        step.sends.append(
            (
                self.gateways[venue],
                CancelAtVenue(
                    client_order_id=tracked.order.client_order_id,
                    order_id=tracked.order_id,
                    instrument=tracked.request.instrument,
                ),
            )
        )

    def _cancel_at_venue(self, step: Step, venue: str, client_order_id: str, order_id: int) -> None:
        gateway = self.gateways.get(venue)
        if gateway is not None and self._is_up(step, venue):
            tracked = step.get(client_order_id)  # unknown here: the venue's codec may know it
            instrument = tracked.request.instrument if tracked is not None else ""
            cancel = CancelAtVenue(
                client_order_id=client_order_id, order_id=order_id, instrument=instrument
            )
            step.sends.append((gateway, cancel))

    def _cancel_all(self, step: Step, venue: str | None, reason: str) -> None:
        venues = [venue] if venue is not None else list(self.gateways)
        for name in venues:
            for cid in step.open_ids(name):
                tracked = step.edit(cid)
                assert tracked is not None  # noqa: S101 - listed just above
                if tracked.order.status is not OrderStatus.PENDING_CANCEL:
                    self._move(step, tracked, Trigger.REQUEST_CANCEL, reason)
            if self._is_up(step, name):
                step.sends.append((self.gateways[name], CancelEverythingAtVenue(reason=reason)))
        step.log("info", "cancel_all", venues=venues, reason=reason)

    # -- amends ---------------------------------------------------------------------------

    def _amend(self, step: Step, amend: AmendOrder) -> None:
        """Send an amend risk passed, or deny it (see the module doc)."""
        current = step.get(amend.client_order_id)
        if current is None or not current.order.status.open:
            self._deny_amend(step, amend, DenyReason.UNKNOWN_ORDER, counted=False)
            return
        if amend.owner and amend.owner != current.request.owner:  # not its order
            self._deny_amend(step, amend, DenyReason.UNKNOWN_ORDER, counted=True, foreign=True)
            return
        venue, order = current.request.venue, current.order
        reason, detail = None, ""
        price = order.price if amend.price is None else amend.price
        quantity = order.quantity if amend.quantity is None else amend.quantity
        if self._halted() or (
            self._halted_for is not None and self._halted_for(current.request.owner, venue)
        ):
            reason = DenyReason.HALTED
        elif not self._is_up(step, venue):
            reason = DenyReason.VENUE_DOWN
        elif current.amend is not None:
            reason = DenyReason.AMEND_PENDING
        elif current.order_id is None or order.status is OrderStatus.PENDING_CANCEL:
            reason = DenyReason.NOT_AMENDABLE
            detail = "being cancelled" if current.order_id is not None else "not acknowledged"
        elif (
            price <= 0
            or quantity <= order.filled
            or (price == order.price and quantity == order.quantity)
        ):
            reason = DenyReason.INVALID_ORDER
            detail = "nothing left open" if quantity <= order.filled else "nothing changes"
        if reason is not None:
            self._deny_amend(step, amend, reason, detail=detail, counted=True)
            return
        tracked = step.edit(amend.client_order_id)
        assert tracked is not None  # noqa: S101 - checked above
        assert tracked.order_id is not None  # noqa: S101
        tracked.amend = AmendAtVenue(
            order=tracked.request,
            order_id=tracked.order_id,
            price=price,
            quantity=quantity,
            remaining=quantity - order.filled,
            session=step.session(venue),
        )
        step.sends.append((self.gateways[venue], tracked.amend))

    def _deny_amend(
        self,
        step: Step,
        amend: AmendOrder,
        reason: DenyReason,
        *,
        detail: str = "",
        counted: bool,
        foreign: bool = False,
    ) -> None:
        """Tell the owner an amend never left; ``counted``: risk counts it, settle it there.

        ``foreign``: the order is another owner's: its sender hears no more of it than
        of an order unknown here, and its owner nothing.
        """
        tracked = step.get(amend.client_order_id)
        if tracked is not None and foreign:
            if counted and tracked.order.status.open:
                self._settle(step, tracked)
            tracked = None
        if tracked is None:  # not (or no longer) known here: nothing to say of it but no
            update = OrderUpdate(
                client_order_id=amend.client_order_id,
                venue="",
                instrument="",
                side=Side.BUY,
                price=0,
                quantity=0,
                status=OrderStatus.DENIED,
                filled=0,
                reason=reason,
                detail=detail or "no such order",
                amend=AmendOutcome.DENIED,
                owner=amend.owner,
            )
            if amend.owner:
                step.sends.append((amend.owner, update))
            step.events.append(update)
            return
        self._update(step, tracked, reason, detail=detail, amend=AmendOutcome.DENIED)
        if counted and tracked.order.status.open:
            self._settle(step, tracked)

    def _settle(self, step: Step, tracked: Tracked) -> None:
        """Tell risk the order's terms now (an amend was answered or denied)."""
        price, quantity, remaining = tracked.exposure()
        request = tracked.request
        step.sequence += 1
        step.sends.append(
            (
                self.risk_path,
                ExposureChange(
                    sequence=step.sequence,
                    client_order_id=request.client_order_id,
                    instrument=request.instrument,
                    side=request.side,
                    terms=True,
                    price=price,
                    quantity=quantity,
                    remaining=remaining,
                ),
            )
        )

    def _on_amended(self, step: Step, report: OrderAmended) -> None:
        """The venue amended an order in place (or says so of a cancel-replace)."""
        tracked = step.edit(report.client_order_id)
        if tracked is None:
            self._inconsistent(step, "unknown_order_amended", report.client_order_id)
            return
        if not tracked.order.status.open:
            self._inconsistent(
                step,
                "closed_order_amended",
                report.client_order_id,
                status=tracked.order.status.value,
            )
            return
        self._amended(
            step,
            tracked,
            order_id=report.order_id,
            price=report.price,
            remaining=report.remaining,
            venue_filled=report.filled,
            kept_priority=report.kept_priority,
        )

    def _amended(
        self,
        step: Step,
        tracked: Tracked,
        *,
        order_id: int,
        price: int,
        remaining: int,
        venue_filled: int,
        kept_priority: bool = False,
    ) -> None:
        order = tracked.order
        if venue_filled > order.filled:
            # the venue counts fills that have not reached us: make room for them
            self._fetch_missing(step, tracked.request.venue, force=True)
        order.price = price
        order.quantity = max(order.filled, venue_filled) + max(remaining, 0)
        tracked.order_id = order_id
        tracked.request = msgspec.structs.replace(
            tracked.request, price=price, quantity=order.quantity
        )
        tracked.amend = None
        tracked.held_cancel = None  # a cancel-replace's own cancel
        self._update(
            step,
            tracked,
            "amended in place" if kept_priority else "amended",
            amend=AmendOutcome.AMENDED,
        )
        self._settle(step, tracked)
        self._after_amend(step, tracked)

    def _on_amend_rejected(self, step: Step, report: AmendRejected) -> None:
        current = step.get(report.client_order_id)
        if current is None or current.amend is None:
            return  # answered already (a reconciliation settled it), or never ours
        tracked = step.edit(report.client_order_id)
        assert tracked is not None  # noqa: S101 - found just above
        held, tracked.held_cancel, tracked.amend = tracked.held_cancel, None, None
        self._update(step, tracked, report.reason, amend=AmendOutcome.REJECTED)
        if tracked.order.status.open:
            self._settle(step, tracked)
        if held is None and report.canceled and tracked.order.status.open:
            held = OrderCanceled(
                venue=report.venue,
                client_order_id=report.client_order_id,
                order_id=tracked.order_id or 0,
                reason=report.reason,
            )
        if held is not None:
            self._on_cancelled(step, held)
        elif report.reason == "unknown_order" and tracked.order.status.open:
            # like a cancel refused as unknown: filled (its report lost?) or cancelled
            step.gone(self).add(report.client_order_id)
            self._fetch_missing(step, report.venue, force=True)
        self._after_amend(step, tracked)

    def _after_amend(self, step: Step, tracked: Tracked) -> None:
        """A cancel asked while the amend was in flight goes out now."""
        if tracked.cancel_wanted and tracked.order_id is not None:
            tracked.cancel_wanted = False
            if tracked.order.status is OrderStatus.PENDING_CANCEL:
                self._send_cancel(step, tracked)

    def _settle_amend_on_reconnect(self, step: Step, tracked: Tracked, at_venue: Any) -> None:
        """An amend in flight when the venue went: what it has open now says its outcome."""
        amend = tracked.amend
        if amend is None:
            return
        tracked.amend, tracked.held_cancel = None, None
        order = tracked.order
        if at_venue is None:  # closed by the reconciliation: the rest follows from that
            return
        if at_venue.price != order.price or at_venue.remaining != order.remaining:
            order.price = at_venue.price
            order.quantity = max(order.filled, at_venue.filled) + at_venue.remaining
            tracked.request = msgspec.structs.replace(
                tracked.request, price=order.price, quantity=order.quantity
            )
            outcome, reason = AmendOutcome.AMENDED, "amended (reconciled)"
        else:
            outcome, reason = AmendOutcome.REJECTED, "not answered before the venue went"
        tracked.order_id = at_venue.order_id
        self._update(step, tracked, reason, amend=outcome)
        self._settle(step, tracked)

    # -- reports coming in ---------------------------------------------------------------

    def _on_accepted(self, step: Step, report: OrderAccepted) -> None:
        tracked = step.edit(report.client_order_id)
        if tracked is None:
            self._inconsistent(step, "unknown_order_accepted", report.client_order_id)
            return
        amend = tracked.amend
        if (
            amend is not None
            and tracked.order_id is not None
            and report.order_id != tracked.order_id
            and tracked.order.status.open
        ):
            # the new order of a cancel-replace: the amend is done, with the terms sent
            self._amended(
                step,
                tracked,
                order_id=report.order_id,
                price=amend.price,
                remaining=amend.remaining,
                venue_filled=-1,
            )
            return
        tracked.order_id = report.order_id
        if not tracked.order.status.open:
            # The venue took an order that is closed here (e.g. one a gateway sent from
            # its mailbox after a reconciliation had closed it): it must not stay there.
            self._inconsistent(
                step,
                "closed_order_accepted",
                report.client_order_id,
                status=tracked.order.status.value,
            )
            self._cancel_at_venue(step, report.venue, report.client_order_id, report.order_id)
            return
        if tracked.order.status is OrderStatus.PENDING:
            self._move(step, tracked, Trigger.ACCEPT, "")
        if tracked.cancel_wanted:
            tracked.cancel_wanted = False
            self._send_cancel(step, tracked)

    def _on_fill(self, step: Step, fill: OrderFilled, *, reconciling: bool) -> bool:
        """Apply ``fill`` unless its execution id was seen; True if applied."""
        ids = step.ids(fill.venue)
        if not ids.record(fill.execution_id):
            step.duplicate_fills += 1
            return False
        step.fills += 1
        if not reconciling and ids.gap:
            self._fetch_missing(step, fill.venue, since=ids.since)
        signed = fill.side.sign * fill.quantity
        tracked = step.edit(fill.client_order_id)
        if tracked is None:
            # Not ours to track (placed before a process restart, or by another session
            # of the account): the position is still the venue's, so it counts.
            step.position(fill.instrument).apply_fill(signed, fill.price)
            step.owner_fill((None, fill.instrument), signed, fill.price)
            self._exposure_change(
                step,
                fill.client_order_id,
                fill.instrument,
                side=fill.side,
                fill_quantity=fill.quantity,
                fill_price=fill.price,
            )
            self._inconsistent(step, "unknown_order_filled", fill.client_order_id)
            step.records.append(UnknownOrderFilled(fill=fill, timestamp_ns=self._now_ns()))
            return True
        step.position(tracked.order.instrument).apply_fill(signed, fill.price)
        step.owner_fill((tracked.request.owner, tracked.order.instrument), signed, fill.price)
        if tracked.order_id is None:
            tracked.order_id = fill.order_id
        order = tracked.order
        try:
            order.fill(fill.quantity)
        except (IllegalTransitionError, ValueError) as exc:
            self._inconsistent(step, "fill_does_not_fit", order.client_order_id, error=str(exc))
        self._to_risk(
            step,
            tracked.request,
            fill_quantity=fill.quantity,
            fill_price=fill.price,
            closed=not order.status.open,
        )
        self._update(
            step,
            tracked,
            "reconciled" if reconciling else "",
            fill_quantity=fill.quantity,
            fill_price=fill.price,
            execution_id=fill.execution_id,
        )
        return True

    def _fetch_missing(
        self, step: Step, venue: str, *, force: bool = False, since: int | None = None
    ) -> None:
        """Ask the venue for the fills since the watermark: one may have been lost.

        Once per watermark value, unless ``force``.
        """
        if since is None:
            since = step.ids(venue).since
        fetching = step.fetching(self)
        if not self._is_up(step, venue) or (not force and fetching.get(venue) == since):
            return  # asked already for this gap (or the reconnect will fetch it)
        fetching[venue] = since
        step.log("warning", "fill_gap", venue=venue, since=since)
        step.sends.append((self.gateways[venue], FetchFills(since=since)))

    def _on_cancel_rejected(self, step: Step, message: CancelRejected) -> None:
        current = step.get(message.client_order_id)
        if current is None or current.order.status is not OrderStatus.PENDING_CANCEL:
            return
        tracked = step.edit(message.client_order_id)
        assert tracked is not None  # noqa: S101 - found just above
        tracked.cancel_sent = -1
        self._move(step, tracked, Trigger.CANCEL_REJECTED, message.reason)
        if message.reason == "unknown_order":
            # The venue no longer has it: filled (its report lost?) or cancelled.
            # Fetch the fills; what is still open after them is gone.
            step.gone(self).add(message.client_order_id)
            self._fetch_missing(step, message.venue, force=True)

    def _settle_gone(self, step: Step, venue: str) -> None:
        """After a fetch of fills: orders the venue said it no longer has are closed."""
        gone = step.gone(self)
        for client_order_id in sorted(gone):
            tracked = step.edit(client_order_id)
            if tracked is None or tracked.request.venue != venue:
                continue
            gone.discard(client_order_id)
            if tracked.amend is not None:
                continue  # the amend's answer settles it (a cancel it held, or unknown)
            if tracked.order.status.open:
                self._inconsistent(step, "order_gone_at_venue", client_order_id)
                if tracked.order.status is not OrderStatus.PENDING_CANCEL:
                    self._move(step, tracked, Trigger.REQUEST_CANCEL, "not at the venue")
                if self._move(step, tracked, Trigger.CANCELLED, "not at the venue"):
                    self._to_risk(step, tracked.request, closed=True)

    def _on_cancelled(self, step: Step, report: OrderCanceled) -> None:
        current = step.get(report.client_order_id)
        if current is None:
            self._inconsistent(step, "unknown_order_cancelled", report.client_order_id)
            return
        if current.order.status in _SETTLED:
            return  # already settled (e.g. by reconciliation)
        tracked = step.edit(report.client_order_id)
        assert tracked is not None  # noqa: S101 - found just above
        if tracked.amend is not None and report.order_id == tracked.order_id:
            # a cancel-replace's first half, or the venue ended the order before the
            # amend reached it: its answer says which (see the module doc)
            tracked.held_cancel = report
            return
        missing = 0 <= report.remaining < tracked.order.remaining
        trigger = Trigger.EXPIRE if report.expired else Trigger.CANCELLED
        if self._move(step, tracked, trigger, report.reason):
            self._to_risk(step, tracked.request, closed=True)
        if missing:
            # it cancelled less than we think was left: a fill of it never reached us
            self._fetch_missing(step, report.venue, force=True)

    def _on_rejected(self, step: Step, report: OrderRejected) -> None:
        current = step.get(report.client_order_id)
        if current is None or not current.order.status.open:
            return  # said twice (pushed and as the reply), or already settled here
        if current.amend is not None and current.order_id is not None:
            # the new order of a cancel-replace refused (Binance: an executionReport
            # REJECTED after the old one's CANCELED): the order is gone
            self._on_amend_rejected(
                step,
                AmendRejected(
                    venue=report.venue,
                    client_order_id=report.client_order_id,
                    reason=report.reason,
                    canceled=True,
                ),
            )
            return
        tracked = step.edit(report.client_order_id)
        assert tracked is not None  # noqa: S101 - found just above
        if self._move(step, tracked, Trigger.REJECT, report.reason, detail=report.detail):
            self._to_risk(step, tracked.request, closed=True)

    # -- venue up and down -----------------------------------------------------------

    def _is_up(self, step: Step, venue: str) -> bool:
        up = step._up if step._up is not None else self.up
        return up.get(venue, False)

    def _venue_down(self, step: Step, message: VenueDown, now_ns: int) -> None:
        if message.venue not in self.up:
            return
        step.up(self)[message.venue] = False
        marked = 0
        for cid in step.open_ids(message.venue):
            tracked = step.edit(cid)
            assert tracked is not None  # noqa: S101 - listed just above
            if tracked.order.status is not OrderStatus.PENDING_CANCEL:
                marked += self._move(step, tracked, Trigger.REQUEST_CANCEL, "venue down")
        step.log(
            "warning",
            "venue_down",
            venue=message.venue,
            reason=message.reason,
            cancel_pending=marked,
        )
        self.status(step, message.venue, up=False, reason=message.reason, now_ns=now_ns)

    def _gateway_connected(self, step: Step, message: GatewayConnected) -> None:
        """A gateway logged on: tell it from which fill to reconcile (handshake step 2)."""
        gateway = self.gateways.get(message.venue)
        if gateway is None:
            step.log("warning", "unknown_venue_connected", venue=message.venue)
            return
        step.sends.append(
            (
                gateway,
                StartReconciliation(
                    # one before the watermark: the venue must still have that fill
                    # (see `_state_lost`); 0 if nothing was applied yet
                    since=max(self.store.last_execution_id(message.venue) - 1, 0),
                    incarnation=message.incarnation,
                ),
            )
        )

    def _reconcile(self, step: Step, message: Reconciliation, now_ns: int) -> int:
        venue = message.venue
        step.reconciliations += 1
        missed = duplicates = 0
        probe = self._state_lost(step, message)
        for fill in sorted(message.fills, key=_fill_order):
            if fill.execution_id == probe:
                continue  # fetched to check the venue still has it: not news
            if self._on_fill(step, fill, reconciling=True):
                missed += 1
            else:
                duplicates += 1
        at_venue = {o.client_order_id: o for o in message.open_orders}
        closed: list[str] = []
        for cid in step.open_ids(venue):
            tracked = step.edit(cid)
            assert tracked is not None  # noqa: S101 - listed just above
            if not self._settle_open(step, tracked, at_venue.get(cid)):
                closed.append(cid)
        unknown = [cid for cid in at_venue if step.get(cid) is None]
        closed_here = [
            cid for cid in at_venue if (t := step.get(cid)) is not None and not t.order.status.open
        ]
        step.up(self)[venue] = True
        session = step.new_session(venue)
        for cid in (*unknown, *closed_here):
            self._cancel_at_venue(step, venue, cid, at_venue[cid].order_id)
        for cid in step.open_ids(venue):
            # still open at the venue but cancel-pending here: the cancel is re-sent
            tracked = step.edit(cid)
            assert tracked is not None  # noqa: S101 - listed just above
            if tracked.order.status is OrderStatus.PENDING_CANCEL:
                self._send_cancel(step, tracked)
        report = ReconciliationReport(
            venue=venue,
            missed_fills=missed,
            duplicate_fills=duplicates,
            closed=tuple(closed),
            unknown_at_venue=tuple(unknown),
            closed_here_open_there=tuple(closed_here),
            timestamp_ns=now_ns,
        )
        step.log(
            "info",
            "venue_reconciled",
            venue=venue,
            missed_fills=missed,
            duplicate_fills=duplicates,
            closed=len(closed),
            unknown_at_venue=len(unknown),
            closed_here_open_there=len(closed_here),
        )
        step.events.append(report)
        self.status(step, venue, up=True, reason="reconciled", now_ns=now_ns)
        gateway = self.gateways.get(venue)
        if gateway is not None and message.incarnation:  # told by a gateway: tell back
            step.sends.append(
                (
                    gateway,
                    VenueSessionStarted(
                        venue=venue, session=session, incarnation=message.incarnation
                    ),
                )
            )
        return session

    def _settle_open(self, step: Step, tracked: Tracked, venue_order: VenueOrder | None) -> bool:
        """An order open here, as the venue lists it (None: not open there); False if closed."""
        self._settle_amend_on_reconnect(step, tracked, venue_order)
        if venue_order is None:
            if self._move(step, tracked, Trigger.CANCELLED, "not open at the venue"):
                self._to_risk(step, tracked.request, closed=True)
            return False
        if tracked.order_id is None:
            tracked.order_id = venue_order.order_id
        if tracked.order.status is OrderStatus.PENDING:
            # its acknowledgement was lost with the session (or the process): the venue
            # lists it open, so it was accepted
            self._move(step, tracked, Trigger.ACCEPT, "reconciled")
        return True

    def _state_lost(self, step: Step, message: Reconciliation) -> int | None:
        """The watermark fill the venue must still have; halt if it lost it.

        A gateway fetches fills from one before the watermark. A venue with sequential
        ids that comes back without that fill lost its state (restarted empty, or a
        different account): its new fills would carry ids already applied here and be
        dropped as duplicates, so trading is halted (`Step.halt`) for an operator.
        Returns the probed id (to leave out of the counts), or None.
        """
        venue = message.venue
        watermark = self.store.last_execution_id(venue)
        if message.since < 0 or watermark == 0 or message.since != watermark - 1:
            return None
        if self.store.fill_ids.get(venue, FillIds.SEQUENTIAL) is not FillIds.SEQUENTIAL:
            return None
        if not any(f.execution_id == watermark for f in message.fills):
            step.halt = (
                f"venue {venue} lost its state: it no longer has fill {watermark} "
                "(its execution ids went back)"
            )
            step.log("error", "venue_state_lost", venue=venue, watermark=watermark)
        return watermark

    def status(
        self, step: Step, venue: str, *, up: bool, reason: str, now_ns: int | None = None
    ) -> None:
        """Tell the watchers and hosts that ``venue`` is up or down."""
        if now_ns is None:
            now_ns = self._now_ns()
        status = VenueStatus(venue=venue, up=up, reason=reason, timestamp_ns=now_ns)
        step.sends.extend((path, status) for path in self.notify)
        step.events.append(status)

    # -- helpers ---------------------------------------------------------------------

    def _move(
        self, step: Step, tracked: Tracked, trigger: Trigger, reason: str, *, detail: str = ""
    ) -> bool:
        try:
            tracked.order.apply(trigger)
        except IllegalTransitionError as exc:
            self._inconsistent(
                step, "illegal_transition", tracked.order.client_order_id, error=str(exc)
            )
            return False
        self._update(step, tracked, reason, detail=detail)
        return True

    def _inconsistent(self, step: Step, what: str, client_order_id: str, **details: Any) -> None:
        step.inconsistencies += 1
        step.log("warning", what, client_order_id=client_order_id, **details)

    def _update(
        self,
        step: Step,
        tracked: Tracked,
        reason: str,
        *,
        fill_quantity: int = 0,
        fill_price: int = 0,
        execution_id: int | str = 0,
        amend: AmendOutcome | None = None,
        detail: str = "",
    ) -> None:
        order, request = tracked.order, tracked.request
        update = OrderUpdate(
            client_order_id=order.client_order_id,
            venue=request.venue,
            instrument=order.instrument,
            side=request.side,
            price=order.price,
            quantity=order.quantity,
            status=order.status,
            filled=order.filled,
            reason=reason,
            fill_quantity=fill_quantity,
            fill_price=fill_price,
            execution_id=execution_id,
            amend=amend,
            detail=detail,
            owner=request.owner,
        )
        if request.owner:
            step.sends.append((request.owner, update))
        step.events.append(update)
        if not order.status.open:
            step.closed = True

    def _to_risk(
        self,
        step: Step,
        request: SubmitOrder,
        *,
        fill_quantity: int = 0,
        fill_price: int = 0,
        closed: bool = False,
    ) -> None:
        self._exposure_change(
            step,
            request.client_order_id,
            request.instrument,
            side=request.side,
            fill_quantity=fill_quantity,
            fill_price=fill_price,
            closed=closed,
            owner=request.owner,
        )

    def _exposure_change(
        self,
        step: Step,
        client_order_id: str,
        instrument: str,
        *,
        side: Side,
        fill_quantity: int = 0,
        fill_price: int = 0,
        closed: bool = False,
        owner: str = "",
    ) -> None:
        step.sequence += 1
        step.sends.append(
            (
                self.risk_path,
                ExposureChange(
                    sequence=step.sequence,
                    client_order_id=client_order_id,
                    instrument=instrument,
                    side=side,
                    owner=owner,
                    fill_quantity=fill_quantity,
                    fill_price=fill_price,
                    closed=closed,
                ),
            )
        )

    # -- reading (answers to asks) ---------------------------------------------------

    def exposure(self) -> ExposureSnapshot:
        """Positions and open orders for risk's rebuild."""
        store = self.store
        open_orders = store.open_orders()
        positions: dict[str, int] = {}
        averages: dict[str, tuple[int, int]] = {}
        realized: dict[str, tuple[int, int]] = {}
        for instrument in store.ledger.instruments():
            position = store.ledger.position(instrument)
            positions[instrument] = position.net
            averages[instrument] = position.average_price.as_integer_ratio()
            realized[instrument] = position.realized.as_integer_ratio()
        return ExposureSnapshot(
            sequence=store.sequence,
            positions=positions,
            average_prices=averages,
            realized=realized,
            open_orders=tuple(_counted(t) for t in open_orders),
            remaining={t.order.client_order_id: t.exposure()[2] for t in open_orders},
            owner_positions=tuple(
                OwnerPosition(
                    owner=owner,
                    instrument=instrument,
                    position=position.net,
                    average_price=position.average_price.as_integer_ratio(),
                    realized=position.realized.as_integer_ratio(),
                )
                for (owner, instrument), position in store.owner_positions.items()
                if owner  # a strategy's (risk's per-strategy limits): not a host's, not unknown
            ),
        )

    def report(self, *, with_orders: bool = True) -> OrdersReport:
        """The order manager's view (every order kept only ``with_orders``)."""
        store = self.store
        instruments = store.ledger.instruments()
        open_by_venue = dict.fromkeys(self.gateways, 0)
        open_by_owner: dict[OwnerKey, int] = {}
        for tracked in _open(store):
            venue = tracked.request.venue
            open_by_venue[venue] = open_by_venue.get(venue, 0) + 1
            key = (tracked.request.owner, tracked.order.instrument)
            open_by_owner[key] = open_by_owner.get(key, 0) + 1
        return OrdersReport(
            orders=tuple(_info(t) for t in store.orders.values()) if with_orders else (),
            open_orders=sum(open_by_venue.values()),
            open_by_venue=open_by_venue,
            positions={i: store.ledger.position(i).net for i in instruments},
            realized={i: float(store.ledger.position(i).realized) for i in instruments},
            venues=dict(self.up),
            fills=store.fills,
            duplicate_fills=store.duplicate_fills,
            inconsistencies=store.inconsistencies,
            reconciliations=store.reconciliations,
            owners=_owner_rows(store, open_by_owner),
        )


def _owner_rows(
    store: OrderStore, open_by_owner: Mapping[OwnerKey, int]
) -> tuple[OwnerPosition, ...]:
    """One row per (owner, instrument) that traded or has orders open, by instrument, owner."""
    keys = set(store.owner_positions) | set(open_by_owner)
    rows = []
    for key in sorted(keys, key=lambda k: (k[1], k[0] is None, k[0] or "")):
        position = store.owner_positions.get(key) or Position()
        rows.append(
            OwnerPosition(
                owner=key[0],
                instrument=key[1],
                position=position.net,
                average_price=position.average_price.as_integer_ratio(),
                realized=position.realized.as_integer_ratio(),
                open_orders=open_by_owner.get(key, 0),
                fills=store.owner_fills.get(key, 0),
            )
        )
    return tuple(rows)


def _counted(tracked: Tracked) -> SubmitOrder:
    """The request as risk is to count it (`Tracked.exposure`)."""
    if tracked.amend is None:
        return tracked.request
    price, quantity, _remaining = tracked.exposure()
    return msgspec.structs.replace(tracked.request, price=price, quantity=quantity)


def _open(store: OrderStore) -> Iterator[Tracked]:
    return (t for t in store.orders.values() if t.order.status.open)


def _info(tracked: Tracked) -> OrderInfo:
    order, request = tracked.order, tracked.request
    return OrderInfo(
        client_order_id=order.client_order_id,
        venue=request.venue,
        instrument=order.instrument,
        side=request.side,
        price=order.price,
        quantity=order.quantity,
        filled=order.filled,
        status=order.status,
        order_id=tracked.order_id,
        owner=request.owner,
    )


def _fill_order(fill: OrderFilled) -> tuple[int, int | str]:
    """Sort key: integer ids by value, then any others as given (strings sort apart)."""
    eid = fill.execution_id
    return (0, eid) if isinstance(eid, int) else (1, eid)
