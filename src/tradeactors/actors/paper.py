"""Paper trading in the live tree: the paper venue in the gateway's place, and its feed.

`PaperExecution` takes the gateway's place under ``execution`` and keeps its contract
with the order manager: the same handshake on every start (`GatewayConnected`, then
the `Reconciliation` the order manager asks for, then `VenueSessionStarted`), the same
requests (`PlaceOrder`, `AmendAtVenue`, `CancelAtVenue`, `CancelEverythingAtVenue`,
`FetchFills`) and the same reports (`OrderAccepted`, `OrderFilled`, `OrderAmended`,
`AmendRejected`, `OrderCanceled`, `OrderRejected`, `CancelRejected`, `CancelAllDone`,
`FillsFetched`). Behind it is no connection but a
`tradeactors.venues.paper.PaperVenue`, the backtest's venue model, which matches the
orders against the market the feed reads: the feed tells it every frame (``taps``).

Time is the tree's clock (``monotonic_ns``): frames are stamped with it when they
arrive here, the model's latencies run on it, and one clock timer wakes the actor
when the model's next event (an arrival, an answer) is due. On a `FakeClock` stepped
by `tradeactors.trading.paper.LockstepDriver` the tree runs in the capture's time.

The model belongs to the system, not to an incarnation: a restarted actor continues
with it. Every start drops the previous session (its resting orders are cancelled,
what was on its way is lost: cancel-on-disconnect), then reconciles as a gateway does.
A cancel that reaches the venue after its order filled is not answered (the fill's
report closes the order), as in the backtest; one for an order the venue never heard
of is refused ``unknown_order``.

Amends are the model's (`PaperVenue.amend`): done in place, never as a cancel-replace,
so the venue order id stays. An applied amend is answered `OrderAmended` (its price,
what is left open, the venue's filled quantity, ``kept_priority`` for less at the same
price), a refusal `AmendRejected` with the model's reason (``unknown_order``,
``invalid_order``, ``amend_no_change``, ``post_only_would_take``). As the gateway does,
an amend queued for a predecessor's session is refused ``stale_session`` and one that
waited here while HALTED ``halted``, unsent. More quantity at the same price is taken
(it loses the queue place), as Binance and Kraken do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeactors.actors.gate import default_strategy_of
from tradeactors.core.messages import (
    AmendAtVenue,
    AmendOutcome,
    AmendRejected,
    CancelAllDone,
    CancelAtVenue,
    CancelEverythingAtVenue,
    CancelRejected,
    FetchFills,
    FillsFetched,
    GatewayConnected,
    GetReport,
    Message,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderUpdate,
    PlaceOrder,
    Reconciliation,
    SnapshotNeeded,
    StartReconciliation,
    VenueOrder,
    VenueSessionStarted,
)
from tradeactors.core.risk import TradingState
from tradeactors.supervision import SupervisedActor
from tradeactors.venues.capture import Frame
from tradeactors.venues.paper import AMENDED_IN_PLACE

from .feed import FeedStats, _Feed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tradeactors.actors.feed import MarketDataMetrics
    from tradeactors.actors.gate import TradingGate
    from tradeactors.clock import Timer
    from tradeactors.venues.adapter import VenueAdapter
    from tradeactors.venues.paper import PaperVenue

__all__ = ["LockstepFeed", "PaperExecution"]


class _Wake(Message, frozen=True, kw_only=True, tag="paper.wake"):
    incarnation: int
    due_ns: int  # the model event it was armed for (a cancelled timer's may still come)


class PaperExecution(SupervisedActor):
    """The paper venue's execution side, in the gateway's place (see the module doc).

    Args:
        venue: the venue's name in the system.
        model: the paper venue (the system's; it outlives incarnations).
        order_manager_path: where reports and the reconciliation go.
        gate: the kill switch's state; an order that waited here while HALTED is refused.
        on_scheduled: called (from this actor) after each message that left events
            scheduled in the model (the lockstep driver's nudge; None: nobody listens).

    """

    def __init__(
        self,
        *,
        venue: str,
        model: PaperVenue,
        order_manager_path: str,
        gate: TradingGate,
        on_scheduled: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._venue = venue
        self._model = model
        self._om_path = order_manager_path
        self._gate = gate
        self._on_scheduled = on_scheduled
        self._session = -1  # the order manager's number for this session, once reconciled
        self._incarnation = 0
        self._timer: Timer | None = None
        self._timer_due: int | None = None

    def on_start(self) -> None:
        """Drop the previous session (cancel-on-disconnect), then start the handshake."""
        self._incarnation = self.context.incarnation
        model = self._model
        self._advance()
        model.deliver = self._deliver
        cancelled = model.drop_session()
        self.context.log.info("paper_venue_connected", cancelled_on_logon=cancelled)
        self.context.address_of(self._om_path).tell(
            GatewayConnected(venue=self._venue, incarnation=self._incarnation)
        )

    def on_stop(self) -> None:
        """The session closes: the venue cancels its orders (cancel-on-disconnect)."""
        self._close()

    def on_failure(self, *_exc_info: object) -> None:
        """The session closes before the supervisor restarts the actor."""
        self._close()

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._advance()
        self._model.drop_session()

    def on_receive(self, message: Any) -> Any:  # noqa: C901, PLR0912 - one branch per message
        """Run what is due, handle ``message``, then wake up for the next event."""
        self._advance()
        model = self._model
        if isinstance(message, Frame):
            model.on_frame(
                Frame(
                    received_ns=model.now_ns,
                    source=message.source,
                    payload=message.payload,
                    url=message.url,
                )
            )
        elif isinstance(message, _Wake):
            if message.incarnation == self._incarnation and message.due_ns == self._timer_due:
                self._timer = self._timer_due = None
        elif isinstance(message, PlaceOrder):
            self._place(message)
        elif isinstance(message, AmendAtVenue):
            self._amend(message)
        elif isinstance(message, CancelAtVenue):
            if not model.cancel(message.client_order_id):
                self._tell_om(
                    CancelRejected(
                        venue=self._venue,
                        client_order_id=message.client_order_id,
                        reason="unknown_order",
                    )
                )
        elif isinstance(message, CancelEverythingAtVenue):
            om, done = self.context.address_of(self._om_path), CancelAllDone(venue=self._venue)
            model.cancel_all(lambda: om.tell(done))
        elif isinstance(message, FetchFills):
            for fill in self._fills_since(message.since):
                self._tell_om(fill)
            self._tell_om(FillsFetched(venue=self._venue))
        elif isinstance(message, StartReconciliation):
            if message.incarnation == self._incarnation:
                self._reconcile(message.since)
        elif isinstance(message, VenueSessionStarted):
            if message.incarnation == self._incarnation:
                self._session = message.session
        elif isinstance(message, GetReport):
            return model.counts.copy()
        self._rearm()
        return None

    # -- requests --------------------------------------------------------------------

    def _place(self, message: PlaceOrder) -> None:
        order = message.order
        reason = ""
        if message.session != self._session:
            reason = "stale_session"  # queued for a predecessor's session
        elif (
            self._gate.state_of(default_strategy_of(order.owner), self._venue)
            is TradingState.HALTED
        ):
            reason = "halted"  # tripped while the order waited in this mailbox
        if reason:
            self._tell_om(
                OrderRejected(
                    venue=self._venue, client_order_id=order.client_order_id, reason=reason
                )
            )
            return
        self._model.submit(
            order.client_order_id,
            side=order.side,
            price=order.price,
            quantity=order.quantity,
            tif=order.tif,
            post_only=order.post_only,
        )

    def _amend(self, message: AmendAtVenue) -> None:
        coid = message.order.client_order_id
        reason = ""
        if message.session != self._session:
            reason = "stale_session"  # the reconciliation settled the order's amend
        elif (
            self._gate.state_of(default_strategy_of(message.order.owner), self._venue)
            is TradingState.HALTED
        ):
            reason = "halted"
        elif not self._model.amend(coid, price=message.price, quantity=message.quantity):
            reason = "unknown_order"  # never placed here
        if reason:
            self._tell_om(AmendRejected(venue=self._venue, client_order_id=coid, reason=reason))

    def _reconcile(self, since: int) -> None:
        orders = tuple(
            VenueOrder(
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                side=order.side,
                price=order.price,
                remaining=order.remaining,
                filled=order.filled,
            )
            for order in self._model.open_orders()
        )
        self._tell_om(
            Reconciliation(
                venue=self._venue,
                open_orders=orders,
                fills=self._fills_since(since),
                incarnation=self._incarnation,
                since=since,
            )
        )

    def _fills_since(self, since: int) -> tuple[OrderFilled, ...]:
        log = self._model.fill_log  # execution ids are 1, 2, 3...: the rank in the log
        return tuple(self._filled(update) for update in log[max(0, since) :])

    # -- answers ---------------------------------------------------------------------

    def _deliver(self, update: OrderUpdate) -> None:
        """An answer of the model reaches the order manager (its delivery time)."""
        status = update.status
        coid = update.client_order_id
        venue = self._venue
        order = self._model.orders.get(coid)
        order_id = order.order_id if order is not None else 0
        if update.amend is AmendOutcome.AMENDED:
            self._tell_om(
                OrderAmended(
                    venue=venue,
                    client_order_id=coid,
                    order_id=order_id,
                    price=update.price,
                    remaining=update.quantity - update.filled,
                    filled=update.filled,
                    kept_priority=update.reason == AMENDED_IN_PLACE,
                )
            )
        elif update.amend is not None:  # refused: the order is as it was
            self._tell_om(AmendRejected(venue=venue, client_order_id=coid, reason=update.reason))
        elif update.fill_quantity:
            self._tell_om(self._filled(update))
        elif status is OrderStatus.ACCEPTED:
            self._tell_om(OrderAccepted(venue=venue, client_order_id=coid, order_id=order_id))
        elif status is OrderStatus.REJECTED:
            self._tell_om(OrderRejected(venue=venue, client_order_id=coid, reason=update.reason))
        elif status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
            self._tell_om(
                OrderCanceled(
                    venue=venue,
                    client_order_id=coid,
                    order_id=order_id,
                    reason=update.reason,
                    remaining=update.quantity - update.filled,
                    expired=status is OrderStatus.EXPIRED,
                )
            )

    def _filled(self, update: OrderUpdate) -> OrderFilled:
        order = self._model.orders.get(update.client_order_id)
        return OrderFilled(
            venue=self._venue,
            instrument=update.instrument,
            client_order_id=update.client_order_id,
            order_id=order.order_id if order is not None else 0,
            execution_id=update.execution_id,
            side=update.side,
            price=update.fill_price,
            quantity=update.fill_quantity,
            remaining=update.quantity - update.filled,
        )

    def _tell_om(self, message: Any) -> None:
        self.context.address_of(self._om_path).tell(message)

    # -- time ------------------------------------------------------------------------

    def _advance(self) -> None:
        """Run the model's events due by now (the tree's clock), and move it to now."""
        model = self._model
        now = self.context.clock.monotonic_ns()
        model.run_until(now)
        model.now_ns = max(model.now_ns, now)

    def _rearm(self) -> None:
        """One clock timer, at the model's next event (re-armed if that changed)."""
        due = self._model.next_due_ns()
        if due == self._timer_due:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_due = due
        if due is None:
            return
        clock = self.context.clock
        me, wake = self.context.address, _Wake(incarnation=self._incarnation, due_ns=due)
        # +0.5 ns: the float seconds never round below the event's nanosecond
        delay = (due - clock.monotonic_ns() + 0.5) / 1e9
        self._timer = clock.call_later(max(0.0, delay), lambda: me.tell(wake))
        if self._on_scheduled is not None:
            self._on_scheduled()


class LockstepFeed(_Feed):
    """A feed told its frames one by one (by the lockstep driver), as a capture's.

    Each `Frame` it is told goes to its ``taps`` and is decoded and routed as any feed's.
    A book's snapshot request is counted: the next recorded snapshot serves (as in
    `ReplayFeed`).
    """

    def __init__(
        self,
        venue: str | VenueAdapter,
        *,
        symbols: Iterable[str],
        books_path: str,
        taps: tuple[str, ...] = (),
        metrics: MarketDataMetrics | None = None,
        route_trades: bool = False,
    ) -> None:
        super().__init__(
            venue,
            symbols=symbols,
            books_path=books_path,
            metrics=metrics,
            route_trades=route_trades,
            taps=taps,
        )

    def on_receive(self, message: Any) -> Any:
        """Route a frame, note a snapshot request, or report."""
        if isinstance(message, Frame):
            self._count_frames(1)
            self._route(message)
        elif isinstance(message, SnapshotNeeded):
            self.stats.snapshot_requests += 1
        elif isinstance(message, GetReport):
            report: FeedStats = self._report()
            return report
        return None
