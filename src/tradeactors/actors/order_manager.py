"""The order manager: every order's state, positions and PnL, and reconciliation.

`OrderManagerActor` is the only writer of `OrderStore`. The store belongs to the
`TradingSystem`, not to the actor: a restarted order manager continues with its
predecessor's orders, positions and seen execution ids (like an ETS table owned by a
supervisor), and since ``execution`` is ``rest_for_one`` the gateway restarts behind it
and reconciles the store with the venue at once.

Venue reports are facts: one that does not fit an order's state (an illegal
transition) is counted, logged and kept out of the state machine rather than crashing
the actor; the next reconciliation settles it. Fills are applied exactly once, by
execution id, whether they arrive pushed, during reconciliation, or both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tradeactors.core.messages import (
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
    OrderCanceled,
    OrderFilled,
    OrderInfo,
    OrderRejected,
    OrdersReport,
    OrderUpdate,
    PlaceOrder,
    Reconciliation,
    ReconciliationReport,
    Side,
    StartReconciliation,
    SubmitOrder,
    TimeInForce,
    VenueDown,
    VenueSessionStarted,
    VenueStatus,
    denied_update,
)
from tradeactors.core.orders import (
    IllegalTransitionError,
    Ledger,
    Order,
    OrderStatus,
    Trigger,
)
from tradeactors.core.risk import TradingState
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.actors.gate import TradingGate

# The messages re-exported here live in tradeactors.core.messages (import them there).
__all__ = [
    "CancelAllDone",
    "CancelAtVenue",
    "CancelEverythingAtVenue",
    "FetchFills",
    "FillsFetched",
    "OrderInfo",
    "OrderManagerActor",
    "OrderStore",
    "OrdersReport",
    "ReconciliationReport",
]


@dataclass(slots=True)
class _Tracked:
    order: Order
    request: SubmitOrder
    order_id: int | None = None
    cancel_wanted: bool = False
    cancel_sent: int = -1  # the venue session a cancel was last sent in (-1: none)


@dataclass(slots=True)
class OrderStore:
    """The order manager's state; outlives its incarnations (see the module doc)."""

    orders: dict[str, _Tracked] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    # Execution ids are 1, 2, 3... per account at the simulated exchange. Per venue:
    # every id up to the watermark was applied; ``executions`` holds those above it.
    watermarks: dict[str, int] = field(default_factory=dict)
    executions: dict[str, set[int]] = field(default_factory=dict)
    sequence: int = 0  # of ExposureChange to risk
    fills: int = 0
    duplicate_fills: int = 0
    inconsistencies: int = 0
    reconciliations: int = 0
    sessions: dict[str, int] = field(default_factory=dict)  # venue -> reconciliations
    keep_closed: int = 10_000  # closed orders kept (for late fills and reports)
    pruned: int = 0  # closed orders forgotten so far

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

    def last_execution_id(self, venue: str) -> int:
        """The id after which fills may be missing: every id up to it was applied.

        A fill lost on a live link leaves a gap below later ones; fetching from here
        (not from the highest id seen) brings it back. Ids above it that were applied
        are skipped as duplicates.
        """
        return self.watermarks.get(venue, 0)

    def record_execution(self, venue: str, execution_id: int) -> bool:
        """Note ``execution_id`` as applied; False if it was already."""
        watermark = self.watermarks.get(venue, 0)
        seen = self.executions.setdefault(venue, set())
        if execution_id <= watermark or execution_id in seen:
            return False
        seen.add(execution_id)
        while watermark + 1 in seen:
            watermark += 1
            seen.discard(watermark)
        self.watermarks[venue] = watermark
        return True

    def has_gap(self, venue: str) -> bool:
        """True if some fill above the watermark was applied while one below it was not."""
        return bool(self.executions.get(venue))

    def open_orders(self, venue: str | None = None) -> list[_Tracked]:
        """Orders that may still trade (of ``venue``, or everywhere)."""
        return [
            t
            for t in self.orders.values()
            if t.order.status.open and (venue is None or t.request.venue == venue)
        ]


class OrderManagerActor(SupervisedActor):
    """Tracks orders between risk and the gateways; reconciles after every reconnect.

    Args:
        store: the state (kept by the system across restarts).
        gateways: venue -> gateway path.
        risk_path: where `ExposureChange`s go.
        gate: the kill switch's state; HALTED denies orders still in this mailbox.
        notify: paths told of `VenueStatus` changes (strategies, kill switch).
        emit: the system's event fan-out (runs in this actor's thread).

    """

    def __init__(
        self,
        store: OrderStore,
        gateways: dict[str, str],
        risk_path: str,
        gate: TradingGate,
        *,
        notify: tuple[str, ...] = (),
        emit: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__()
        self._store = store
        self._gateways = dict(gateways)
        self._risk_path = risk_path
        self._gate = gate
        self._notify = notify
        self._emit = emit or (lambda _event: None)
        # Every (re)start: venues are down until their gateway reconciled.
        self._up: dict[str, bool] = dict.fromkeys(gateways, False)
        self._fetching: dict[str, int] = {}  # venue -> watermark of the last gap fetch
        self._gone: set[str] = set()  # orders the venue said it does not know

    def on_start(self) -> None:
        """Say every venue is down until reconciled; a restart continues with the store.

        After a crash of the order manager, ``rest_for_one`` restarts the gateways too
        (their sessions close and the venues cancel): strategies, the kill switch and
        the host hear the venues are down from here, since no gateway failed on its own.
        """
        store = self._store
        self.context.log.info(
            "order_manager_started",
            orders=len(store.orders),
            open_orders=len(store.open_orders()),
        )
        if self.context.incarnation > 1:
            for venue in self._up:
                self._status(venue, up=False, reason="order manager restarted")

    def on_receive(self, message: Any) -> Any:  # noqa: C901, PLR0912 - one branch per message
        """Dispatch by message type."""
        if isinstance(message, OrderFilled):
            self._on_fill(message, reconciling=False)
        elif isinstance(message, OrderAccepted):
            self._on_accepted(message)
        elif isinstance(message, OrderCanceled):
            self._on_cancelled(message)
        elif isinstance(message, PlaceOrder):
            self._place(message.order)
        elif isinstance(message, CancelOrder):
            self._cancel(message.client_order_id)
        elif isinstance(message, OrderRejected):
            self._on_rejected(message)
        elif isinstance(message, CancelRejected):
            tracked = self._store.orders.get(message.client_order_id)
            if tracked is not None and tracked.order.status is OrderStatus.PENDING_CANCEL:
                tracked.cancel_sent = -1
                self._move(tracked, Trigger.CANCEL_REJECTED, message.reason)
                if message.reason == "unknown_order":
                    # The venue no longer has it: filled (its report lost?) or cancelled.
                    # Fetch the fills; what is still open after them is gone.
                    self._gone.add(message.client_order_id)
                    self._fetch_missing(message.venue, force=True)
        elif isinstance(message, FillsFetched):
            self._settle_gone(message.venue)
        elif isinstance(message, CancelAllDone):
            # The venue reports each cancellation before its answer: an order still
            # cancel-pending here is not at the venue (filled with its report lost, or
            # cancelled unheard). Fetch the fills; what is still open after them is gone.
            pending = [
                t.order.client_order_id
                for t in self._store.open_orders(message.venue)
                if t.order.status is OrderStatus.PENDING_CANCEL
            ]
            if pending:
                self._gone.update(pending)
                self._fetch_missing(message.venue, force=True)
        elif isinstance(message, CancelAllOrders):
            if message.owner is None:
                self._cancel_all(message.venue, message.reason)
            else:
                for tracked in self._store.open_orders(message.venue):
                    if tracked.request.owner == message.owner:
                        self._cancel(tracked.order.client_order_id)
        elif isinstance(message, VenueDown):
            self._venue_down(message)
        elif isinstance(message, GatewayConnected):
            self._gateway_connected(message)
        elif isinstance(message, LastExecutionId):
            return self._store.last_execution_id(message.venue)
        elif isinstance(message, Reconciliation):
            session = self._reconcile(message)
            gateway = self._gateways.get(message.venue)
            if gateway is not None and message.incarnation:  # told by a gateway: tell back
                self.context.address_of(gateway).tell(
                    VenueSessionStarted(
                        venue=message.venue, session=session, incarnation=message.incarnation
                    )
                )
            return session
        elif isinstance(message, GetExposure):
            return self._exposure()
        elif isinstance(message, GetOrders):
            if message.open_count_only:
                return len(self._store.open_orders())
            return self._report()
        else:
            self.context.log.warning("unknown_message", message_type=type(message).__name__)
        return None

    # -- orders going out ------------------------------------------------------------

    def _place(self, request: SubmitOrder) -> None:
        store = self._store
        if request.client_order_id in store.orders:
            self._deny(request, DenyReason.DUPLICATE_ID, tracked=False)
            return
        if self._gate.state is TradingState.HALTED:
            self._deny(request, DenyReason.HALTED)
            return
        gateway = self._gateways.get(request.venue)
        if gateway is None:
            self._deny(request, DenyReason.UNKNOWN_VENUE)
            return
        if not self._up[request.venue]:
            self._deny(request, DenyReason.VENUE_DOWN)
            return
        if request.quantity <= 0 or request.price <= 0 or not TimeInForce.valid(request.tif):
            # risk checks this too; never crash on it
            self._deny(request, DenyReason.INVALID_ORDER)
            return
        order = Order(
            request.client_order_id,
            request.instrument,
            side=request.side,
            price=request.price,
            quantity=request.quantity,
        )
        order.apply(Trigger.SUBMIT)
        store.orders[request.client_order_id] = _Tracked(order=order, request=request)
        self.context.address_of(gateway).tell(
            PlaceOrder(order=request, session=store.sessions.get(request.venue, 0))
        )

    def _deny(self, request: SubmitOrder, reason: DenyReason, *, tracked: bool = True) -> None:
        """Refuse an order risk passed; risk stops counting it."""
        update = denied_update(request, reason)
        if tracked:
            self._to_risk(request, closed=True)
        if request.owner:
            self.context.address_of(request.owner).tell(update)
        self._emit(update)

    def _cancel(self, client_order_id: str) -> None:
        tracked = self._store.orders.get(client_order_id)
        if tracked is None or not tracked.order.status.open:
            return
        if tracked.order.status is not OrderStatus.PENDING_CANCEL:
            self._move(tracked, Trigger.REQUEST_CANCEL, "cancel requested")
        self._send_cancel(tracked)

    def _send_cancel(self, tracked: _Tracked) -> None:
        venue = tracked.request.venue
        if not self._up.get(venue, False):
            return  # the venue cancelled it on disconnect; reconciliation will confirm
        if tracked.order_id is None:
            tracked.cancel_wanted = True  # sent when the venue acknowledges it
            return
        session = self._store.sessions.get(venue, 0)
        if tracked.cancel_sent == session:
            return  # in flight already: asking again only queues duplicates at the venue
        tracked.cancel_sent = session
        self.context.address_of(self._gateways[venue]).tell(
            CancelAtVenue(client_order_id=tracked.order.client_order_id, order_id=tracked.order_id)
        )

    def _cancel_at_venue(self, venue: str, client_order_id: str, order_id: int) -> None:
        gateway = self._gateways.get(venue)
        if gateway is not None and self._up.get(venue, False):
            self.context.address_of(gateway).tell(
                CancelAtVenue(client_order_id=client_order_id, order_id=order_id)
            )

    def _cancel_all(self, venue: str | None, reason: str) -> None:
        venues = [venue] if venue is not None else list(self._gateways)
        for name in venues:
            for tracked in self._store.open_orders(name):
                if tracked.order.status is not OrderStatus.PENDING_CANCEL:
                    self._move(tracked, Trigger.REQUEST_CANCEL, reason)
            if self._up.get(name, False):
                self.context.address_of(self._gateways[name]).tell(
                    CancelEverythingAtVenue(reason=reason)
                )
        self.context.log.info("cancel_all", venues=venues, reason=reason)

    # -- reports coming in ---------------------------------------------------------------

    def _on_accepted(self, report: OrderAccepted) -> None:
        tracked = self._store.orders.get(report.client_order_id)
        if tracked is None:
            self._inconsistent("unknown_order_accepted", report.client_order_id)
            return
        tracked.order_id = report.order_id
        if not tracked.order.status.open:
            # The venue took an order that is closed here (e.g. one a gateway sent from
            # its mailbox after a reconciliation had closed it): it must not stay there.
            self._inconsistent(
                "closed_order_accepted",
                report.client_order_id,
                status=tracked.order.status.value,
            )
            self._cancel_at_venue(report.venue, report.client_order_id, report.order_id)
            return
        if tracked.order.status is OrderStatus.PENDING:
            self._move(tracked, Trigger.ACCEPT, "")
        if tracked.cancel_wanted:
            tracked.cancel_wanted = False
            self._send_cancel(tracked)

    def _on_fill(self, fill: OrderFilled, *, reconciling: bool) -> bool:
        """Apply ``fill`` unless its execution id was seen; True if applied."""
        store = self._store
        if not store.record_execution(fill.venue, fill.execution_id):
            store.duplicate_fills += 1
            return False
        store.fills += 1
        if not reconciling and store.has_gap(fill.venue):
            self._fetch_missing(fill.venue)
        tracked = store.orders.get(fill.client_order_id)
        signed = fill.side.sign * fill.quantity
        if tracked is None:
            # Not ours to track (placed before a process restart, or by another session
            # of the account): the position is still the venue's, so it counts.
            store.ledger.apply_fill(fill.instrument, signed, fill.price)
            self._exposure_change(
                fill.client_order_id,
                fill.instrument,
                side=fill.side,
                fill_quantity=fill.quantity,
                fill_price=fill.price,
            )
            self._inconsistent("unknown_order_filled", fill.client_order_id)
            return True
        store.ledger.apply_fill(tracked.order.instrument, signed, fill.price)
        if tracked.order_id is None:
            tracked.order_id = fill.order_id
        order = tracked.order
        try:
            order.fill(fill.quantity)
        except (IllegalTransitionError, ValueError) as exc:
            self._inconsistent("fill_does_not_fit", order.client_order_id, error=str(exc))
        self._to_risk(
            tracked.request,
            fill_quantity=fill.quantity,
            fill_price=fill.price,
            closed=not order.status.open,
        )
        self._update(
            tracked,
            "reconciled" if reconciling else "",
            fill_quantity=fill.quantity,
            fill_price=fill.price,
            execution_id=fill.execution_id,
        )
        return True

    def _fetch_missing(self, venue: str, *, force: bool = False) -> None:
        """Ask the venue for the fills since the watermark: one may have been lost.

        Once per watermark value, unless ``force``.
        """
        since = self._store.last_execution_id(venue)
        if not self._up.get(venue, False) or (not force and self._fetching.get(venue) == since):
            return  # asked already for this gap (or the reconnect will fetch it)
        self._fetching[venue] = since
        self.context.log.warning("fill_gap", venue=venue, since=since)
        self.context.address_of(self._gateways[venue]).tell(FetchFills(since=since))

    def _settle_gone(self, venue: str) -> None:
        """After a fetch of fills: orders the venue said it no longer has are closed."""
        for client_order_id in sorted(self._gone):
            tracked = self._store.orders.get(client_order_id)
            if tracked is None or tracked.request.venue != venue:
                continue
            self._gone.discard(client_order_id)
            if tracked.order.status.open:
                self._inconsistent("order_gone_at_venue", client_order_id)
                if tracked.order.status is not OrderStatus.PENDING_CANCEL:
                    self._move(tracked, Trigger.REQUEST_CANCEL, "not at the venue")
                if self._move(tracked, Trigger.CANCELLED, "not at the venue"):
                    self._to_risk(tracked.request, closed=True)

    def _on_cancelled(self, report: OrderCanceled) -> None:
        tracked = self._store.orders.get(report.client_order_id)
        if tracked is None:
            self._inconsistent("unknown_order_cancelled", report.client_order_id)
            return
        if tracked.order.status in (OrderStatus.CANCELLED, OrderStatus.FILLED):
            return  # already settled (e.g. by reconciliation)
        missing = 0 <= report.remaining < tracked.order.remaining
        if self._move(tracked, Trigger.CANCELLED, report.reason):
            self._to_risk(tracked.request, closed=True)
        if missing:
            # it cancelled less than we think was left: a fill of it never reached us
            self._fetch_missing(report.venue, force=True)

    def _on_rejected(self, report: OrderRejected) -> None:
        tracked = self._store.orders.get(report.client_order_id)
        if tracked is None or not tracked.order.status.open:
            return  # said twice (pushed and as the reply), or already settled here
        if self._move(tracked, Trigger.REJECT, report.reason):
            self._to_risk(tracked.request, closed=True)

    # -- venue up and down -----------------------------------------------------------

    def _venue_down(self, message: VenueDown) -> None:
        if message.venue not in self._up:
            return
        self._up[message.venue] = False
        marked = 0
        for tracked in self._store.open_orders(message.venue):
            if tracked.order.status is not OrderStatus.PENDING_CANCEL:
                marked += self._move(tracked, Trigger.REQUEST_CANCEL, "venue down")
        self.context.log.warning(
            "venue_down", venue=message.venue, reason=message.reason, cancel_pending=marked
        )
        self._status(message.venue, up=False, reason=message.reason)

    def _gateway_connected(self, message: GatewayConnected) -> None:
        """A gateway logged on: tell it from which fill to reconcile (handshake step 2)."""
        gateway = self._gateways.get(message.venue)
        if gateway is None:
            self.context.log.warning("unknown_venue_connected", venue=message.venue)
            return
        self.context.address_of(gateway).tell(
            StartReconciliation(
                since=self._store.last_execution_id(message.venue),
                incarnation=message.incarnation,
            )
        )

    def _reconcile(self, message: Reconciliation) -> int:
        venue = message.venue
        store = self._store
        store.reconciliations += 1
        missed = duplicates = 0
        for fill in sorted(message.fills, key=lambda f: f.execution_id):
            if self._on_fill(fill, reconciling=True):
                missed += 1
            else:
                duplicates += 1
        at_venue = {o.client_order_id: o for o in message.open_orders}
        closed: list[str] = []
        for tracked in store.open_orders(venue):
            venue_order = at_venue.get(tracked.order.client_order_id)
            if venue_order is None:
                closed.append(tracked.order.client_order_id)
                if self._move(tracked, Trigger.CANCELLED, "not open at the venue"):
                    self._to_risk(tracked.request, closed=True)
            elif tracked.order_id is None:
                tracked.order_id = venue_order.order_id
        unknown = [cid for cid in at_venue if cid not in store.orders]
        closed_here = [
            cid
            for cid in at_venue
            if cid in store.orders and not store.orders[cid].order.status.open
        ]
        self._up[venue] = True
        store.sessions[venue] = store.sessions.get(venue, 0) + 1
        for cid in (*unknown, *closed_here):
            self._cancel_at_venue(venue, cid, at_venue[cid].order_id)
        for tracked in store.open_orders(venue):
            # still open at the venue but cancel-pending here: the cancel is re-sent
            if tracked.order.status is OrderStatus.PENDING_CANCEL:
                self._send_cancel(tracked)
        report = ReconciliationReport(
            venue=venue,
            missed_fills=missed,
            duplicate_fills=duplicates,
            closed=tuple(closed),
            unknown_at_venue=tuple(unknown),
            closed_here_open_there=tuple(closed_here),
            timestamp_ns=self.context.clock.time_ns(),
        )
        self.context.log.info(
            "venue_reconciled",
            venue=venue,
            missed_fills=missed,
            duplicate_fills=duplicates,
            closed=len(closed),
            unknown_at_venue=len(unknown),
            closed_here_open_there=len(closed_here),
        )
        self._emit(report)
        self._status(venue, up=True, reason="reconciled")
        return store.sessions[venue]

    def _status(self, venue: str, *, up: bool, reason: str) -> None:
        status = VenueStatus(
            venue=venue, up=up, reason=reason, timestamp_ns=self.context.clock.time_ns()
        )
        for path in self._notify:
            self.context.address_of(path).tell(status)
        self._emit(status)

    # -- helpers ---------------------------------------------------------------------

    def _move(self, tracked: _Tracked, trigger: Trigger, reason: str) -> bool:
        try:
            tracked.order.apply(trigger)
        except IllegalTransitionError as exc:
            self._inconsistent("illegal_transition", tracked.order.client_order_id, error=str(exc))
            return False
        self._update(tracked, reason)
        return True

    def _inconsistent(self, what: str, client_order_id: str, **details: Any) -> None:
        self._store.inconsistencies += 1
        self.context.log.warning(what, client_order_id=client_order_id, **details)

    def _maybe_prune(self) -> None:
        store = self._store
        if len(store.orders) > store.keep_closed + store.keep_closed // 10 + 1000:
            store.prune()

    def _update(
        self,
        tracked: _Tracked,
        reason: str,
        *,
        fill_quantity: int = 0,
        fill_price: int = 0,
        execution_id: int = 0,
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
        )
        if request.owner:
            self.context.address_of(request.owner).tell(update)
        self._emit(update)
        if not order.status.open:
            self._maybe_prune()

    def _to_risk(
        self,
        request: SubmitOrder,
        *,
        fill_quantity: int = 0,
        fill_price: int = 0,
        closed: bool = False,
    ) -> None:
        self._exposure_change(
            request.client_order_id,
            request.instrument,
            side=request.side,
            fill_quantity=fill_quantity,
            fill_price=fill_price,
            closed=closed,
        )

    def _exposure_change(
        self,
        client_order_id: str,
        instrument: str,
        *,
        side: Side,
        fill_quantity: int = 0,
        fill_price: int = 0,
        closed: bool = False,
    ) -> None:
        self._store.sequence += 1
        self.context.address_of(self._risk_path).tell(
            ExposureChange(
                sequence=self._store.sequence,
                client_order_id=client_order_id,
                instrument=instrument,
                side=side,
                fill_quantity=fill_quantity,
                fill_price=fill_price,
                closed=closed,
            )
        )

    def _exposure(self) -> ExposureSnapshot:
        store = self._store
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
            open_orders=tuple(t.request for t in open_orders),
            remaining={t.order.client_order_id: t.order.remaining for t in open_orders},
        )

    def _report(self) -> OrdersReport:
        store = self._store
        instruments = store.ledger.instruments()
        return OrdersReport(
            orders=tuple(
                OrderInfo(
                    client_order_id=t.order.client_order_id,
                    venue=t.request.venue,
                    instrument=t.order.instrument,
                    side=t.request.side,
                    price=t.order.price,
                    quantity=t.order.quantity,
                    filled=t.order.filled,
                    status=t.order.status,
                    order_id=t.order_id,
                )
                for t in store.orders.values()
            ),
            open_orders=len(store.open_orders()),
            positions={i: store.ledger.position(i).net for i in instruments},
            realized={i: float(store.ledger.position(i).realized) for i in instruments},
            venues=dict(self._up),
            fills=store.fills,
            duplicate_fills=store.duplicate_fills,
            inconsistencies=store.inconsistencies,
            reconciliations=store.reconciliations,
        )
