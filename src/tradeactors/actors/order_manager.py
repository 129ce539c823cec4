"""The order manager: the actor shell around `tradeactors.core.execution`.

`OrderManagerActor` is the only writer of `OrderStore`. The store belongs to the
`TradingSystem`, not to the actor: a restarted order manager continues with its
predecessor's orders, positions and seen execution ids (like an ETS table owned by a
supervisor), and since ``execution`` is ``rest_for_one`` the gateway restarts behind it
and reconciles the store with the venue at once.

Each message is computed by `ExecutionCore.handle` into a `Step` without touching the
store, committed, and only then are its messages sent, its host events emitted and its
lines logged: an exception while computing leaves the store as it was (the supervisor
restarts the actor with it), so a fill is never half applied.

Venue reports are facts: one that does not fit an order's state (an illegal
transition) is counted, logged and kept out of the state machine rather than crashing
the actor; the next reconciliation settles it. Fills are applied exactly once, by
execution id (as the venue's adapter identifies fills), whether they arrive pushed,
during reconciliation, or both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeactors.actors.gate import default_strategy_of
from tradeactors.actors.routing import StrategyRouted
from tradeactors.core.execution import ExecutionCore, OrderStore, Step, Tracked
from tradeactors.core.killswitch import TripSource
from tradeactors.core.messages import (
    CancelAllDone,
    CancelAtVenue,
    CancelEverythingAtVenue,
    FetchFills,
    FillsFetched,
    OrderInfo,
    OrdersReport,
    OrderSubmitted,
    PlaceOrder,
    ReconciliationReport,
    TakeCheckpoint,
    VenueStatus,
    WriteAhead,
)
from tradeactors.core.risk import TradingState
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.actors.gate import TradingGate
    from tradeactors.actors.routing import StrategyRoutes

# The messages re-exported here live in tradeactors.core.messages, the store in
# tradeactors.core.execution (import them there).
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
    "Tracked",
]


class OrderManagerActor(SupervisedActor):
    """Tracks orders between risk and the gateways; reconciles after every reconnect.

    Args:
        store: the state (kept by the system across restarts).
        gateways: venue -> gateway path.
        risk_path: where `ExposureChange`s go.
        gate: the kill switch's state; HALTED (in ``all``, or the order's strategy or venue
            scope) denies orders still in this mailbox.
        notify: paths told of `VenueStatus` changes (strategies, kill switch).
        routes: the strategies told of them too, as they are now (they change at run time).
        emit: the system's event fan-out (called after each commit).
        strategy_of: an order's owner path -> its strategy's name (its kill-switch scope).
        journal: the journal actor's path ("": no journal). With a journal, everything a
            change sends and publishes goes through it as a `WriteAhead` (write-ahead: an
            order reaches its gateway, a fill its owner and risk, only once recorded).
        checkpoint: makes the journal record of the store's whole state (with a journal:
            on `TakeCheckpoint`, and every ``checkpoint_interval`` seconds if positive).

    """

    def __init__(
        self,
        store: OrderStore,
        gateways: dict[str, str],
        risk_path: str,
        gate: TradingGate,
        *,
        notify: tuple[str, ...] = (),
        routes: StrategyRoutes | None = None,
        emit: Callable[[Any], None] | None = None,
        strategy_of: Callable[[str], str | None] = default_strategy_of,
        journal: str = "",
        checkpoint: Callable[[OrderStore, int], Any] | None = None,
        checkpoint_interval: float = 0.0,
    ) -> None:
        super().__init__()
        self._journal_path = journal
        self._checkpoint = checkpoint
        self._checkpoint_interval = checkpoint_interval
        self._checkpoint_timer: Any = None
        self._recorded = 0  # changes handed to the journal by this incarnation
        self._checkpointed = -1  # ``_recorded`` at the last checkpoint
        self._journal: Any = None  # its address, from on_start
        self._notify = notify
        self._routes = routes
        self._routes_seen = -1
        self._store = store
        self._gate = gate
        strategies: dict[str, str | None] = {}  # owner -> strategy, cached

        def halted_for(owner: str, venue: str) -> bool:
            if owner in strategies:
                strategy = strategies[owner]
            else:
                strategy = strategies[owner] = strategy_of(owner) if owner else None
            return gate.state_of(strategy, venue) is TradingState.HALTED

        self._emit = emit or (lambda _event: None)
        # Every (re)start: venues are down until their gateway reconciled.
        self._core = ExecutionCore(
            store,
            gateways=gateways,
            risk_path=risk_path,
            notify=notify,
            now_ns=lambda: self.context.clock.time_ns(),  # noqa: PLW0108 - no context yet
            halted=lambda: gate.state is TradingState.HALTED,
            halted_for=halted_for,
        )

    def on_start(self) -> None:
        """Say every venue is down until reconciled; a restart continues with the store.

        After a crash of the order manager, ``rest_for_one`` restarts the gateways too
        (their sessions close and the venues cancel): strategies, the kill switch and
        the host hear the venues are down from here, since no gateway failed on its own.
        """
        if self._journal_path:
            self._journal = self.context.address_of(self._journal_path)
            self._arm_checkpoint()
        self._route()
        store = self._store
        self.context.log.info(
            "order_manager_started",
            orders=len(store.orders),
            open_orders=len(store.open_orders()),
        )
        if self.context.incarnation > 1:
            core = self._core
            step = core.step()
            for venue in core.up:
                core.status(step, venue, up=False, reason="order manager restarted")
            self._finish(step)

    def on_receive(self, message: Any) -> Any:
        """Compute, commit, then send (see the module doc)."""
        core = self._core
        if type(message) is PlaceOrder:  # the hot path: no Step when the order goes out
            placed = core.place(message.order)
            if isinstance(placed, tuple):
                gateway, out = placed
                if self._journal is None:
                    self.context.address_of(gateway).tell(out)
                else:  # recorded first: the journal sends it once committed
                    now = self.context.clock.time_ns()
                    self._recorded += 1
                    self._journal.tell(
                        WriteAhead(
                            records=(OrderSubmitted(order=out.order, timestamp_ns=now),),
                            sends=((gateway, out),),
                            origin=self.context.path,
                        )
                    )
                return None
            return self._finish(placed)
        if type(message) is TakeCheckpoint:
            self._take_checkpoint(periodic=message.periodic)
            return None
        if self._routes is not None and self._routes.version != self._routes_seen:
            self._route()
        if type(message) is StrategyRouted:
            self._welcome(message.path)
            return None
        return self._finish(core.handle(message))

    def on_stop(self) -> None:
        """Stop the checkpoints' timer."""
        if self._checkpoint_timer is not None:
            self._checkpoint_timer.cancel()
            self._checkpoint_timer = None

    def on_failure(self, *_exc_info: object) -> None:
        """Stop the checkpoints' timer (the next incarnation arms its own)."""
        self.on_stop()

    def _arm_checkpoint(self) -> None:
        if self._checkpoint is None or self._checkpoint_interval <= 0:
            return
        me = self.context.address
        self._checkpoint_timer = self.context.clock.call_later(
            self._checkpoint_interval, lambda: me.tell(TakeCheckpoint(periodic=True))
        )

    def _take_checkpoint(self, *, periodic: bool) -> None:
        """Record the store's whole state in the journal, behind what it recorded so far.

        A periodic one is skipped when nothing was recorded since the last. Orders alone
        count too: a long session that places and cancels without a fill would otherwise
        be read whole at the next start (1.5 million events: ~23 s).
        """
        if periodic:
            self._arm_checkpoint()
            if self._recorded == self._checkpointed:
                return
        if self._journal is None or self._checkpoint is None:
            return
        self._checkpointed = self._recorded
        record = self._checkpoint(self._store, self.context.clock.time_ns())
        self._journal.tell(WriteAhead(records=(record,), origin=self.context.path))

    def _welcome(self, path: str) -> None:
        """A strategy just routed: the venues down now (it takes every venue as up)."""
        now = self.context.clock.time_ns()
        for venue, up in self._core.up.items():
            if not up:
                status = VenueStatus(venue=venue, up=False, reason="down", timestamp_ns=now)
                self.context.address_of(path).tell(status)

    def _route(self) -> None:
        """Who hears of `VenueStatus` changes: ``notify``, and the strategies routed now."""
        routes = self._routes
        if routes is None:
            return
        self._routes_seen = routes.version  # before reading: a later change re-routes
        self._core.notify = (*self._notify, *routes.current.paths())

    def _finish(self, step: Step) -> Any:
        """Commit ``step``, then send, emit and log what it says; its reply."""
        self._core.commit(step)
        if self._journal is not None:
            self._write_ahead(step)
        else:
            address_of = self.context.address_of
            for path, out in step.sends:
                address_of(path).tell(out)
            if step.events:
                emit = self._emit
                for event in step.events:
                    emit(event)
        if step.logs:
            log = self.context.log
            for level, name, fields in step.logs:
                getattr(log, level)(name, **fields)
        if step.halt is not None:
            self._gate.trip(
                TradingState.HALTED, source=TripSource.VENUE_STATE_LOST, reason=step.halt
            )
        return step.reply

    def _write_ahead(self, step: Step) -> None:
        """Hand the step's sends and events to the journal, with what it must record first.

        The records: each order sent (`OrderSubmitted`), the step's journal-only records,
        and (picked by the journal) its events; all committed before anything is sent.
        """
        if not (step.sends or step.events or step.records):
            return
        now = self.context.clock.time_ns()
        submitted = [
            OrderSubmitted(order=out.order, timestamp_ns=now)
            for _path, out in step.sends
            if type(out) is PlaceOrder
        ]
        if submitted or step.records or step.events:
            self._recorded += 1
        self._journal.tell(
            WriteAhead(
                records=(*submitted, *step.records),
                sends=tuple(step.sends),
                events=tuple(step.events),
                origin=self.context.path,
            )
        )
