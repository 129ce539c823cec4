"""The risk actor: pre-trade checks on the hot path, exposure kept from the order manager.

Every `SubmitOrder` is checked against `tradeactors.core.risk.RiskEngine` with the
kill switch's state read from the `TradingGate` at that moment (so an order queued
here when the switch trips is denied). Passed orders go to the order manager and count
against the limits at once; denied ones go back to their owner as an `OrderUpdate`
with status ``denied`` and the reason code, and are events.

On every (re)start risk rebuilds its exposure from the order manager before it checks
any order, so a restarted risk never starts "empty and trusting". Nothing blocks in
``on_start``: it tells the order manager `GetExposure` with its own path as
``reply_to`` and arms a timer. Until the `ExposureSnapshot` arrives, `SubmitOrder`,
`ExposureChange` and `ReleaseOrder` are stashed in arrival order and then replayed as if
they had arrived just after it (books and `GetRiskReport` are handled at once; a report
shows the empty state until then). Past ``max_stashed_orders`` waiting orders, new ones
are denied ``lost``; orders still stashed when risk stops or fails are denied ``lost``
too, never dropped in silence. No snapshot within ``snapshot_timeout`` seconds fails
risk (`ExposureSnapshotTimeoutError`), so its supervisor restarts it and it asks again. Only the
first snapshot of an incarnation is applied: a late answer to a predecessor's request
may be that one (it is as good as any), and every later snapshot is ignored.

An `AmendOrder` is checked the same way (`RiskEngine.check_amend`): passed, it goes to
the order manager as `SendAmend`; denied, as `AmendDenied`, since only the order manager
knows the order well enough to tell its owner (the order stays as it was).

The order manager's `ExposureChange`s carry a sequence number: those already contained
in the snapshot (stashed, or still queued in this mailbox from before the restart) are
skipped.

Risk also trips the kill switch: HALTED when the loss (realized + unrealized, marked at
the mid) goes past ``max_loss``, or after ``max_denials`` denials within
``denial_window`` seconds.

Scopes: an order's strategy is ``strategy_of(order.owner)``. It is checked against the
account's limits, its instrument's (``instrument_limits``, every strategy together) and
its strategy's own (``strategy_limits``, that strategy's orders and positions only), and
in the kill switch's state for it: the strictest of ``all``, ``strategy:<name>`` and
``venue:<its venue>`` (REDUCING in the strategy's scope admits only orders that reduce
that strategy's own position; in ``all`` or the venue's, the account's). A denial's
``detail`` names the scope that denied it (``strategy mm_eth``; empty for the account).
A strategy whose own loss passes its ``strategy_max_loss`` trips its scope
(``strategy:<name>``) HALTED, not everything. The strategies' own positions and PnL
come from the order manager's `ExposureChange` (``owner``) and, after a restart, its
snapshot's ``owner_positions``.

A strategy's own limits change while the tree runs (a strategy added or removed at run
time): `SetStrategyLimits` gives them to the running risk at once (told before the
strategy starts, so that its first order is checked against them), and the
system-owned `StrategyLimitsTable` (``limits_table``) holds them for every later
incarnation: a restarted risk reads the table when it is built. The owner writes the
table first and tells the message second, so every incarnation has them: one built
before the write still has the message in its mailbox (which survives restarts).
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.actors.gate import default_strategy_of
from tradeactors.core.book import BookView
from tradeactors.core.killswitch import TripSource, strategy_scope
from tradeactors.core.messages import (
    TIME_IN_FORCE_VALUES,
    AmendDenied,
    AmendOrder,
    DenyReason,
    ExposureChange,
    ExposureSnapshot,
    GetExposure,
    GetRiskReport,
    Message,
    PlaceOrder,
    ReleaseOrder,
    RiskReport,
    SendAmend,
    SubmitOrder,
    denied_update,
    symbol_of,
)
from tradeactors.core.orders import Position
from tradeactors.core.risk import (
    AmendRequest,
    OrderRequest,
    RiskEngine,
    RiskLimits,
    TradingState,
)
from tradeactors.errors import ExposureSnapshotTimeoutError, UnknownScopeError
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from tradeactors.actors.gate import TradingGate
    from tradeactors.clock import Timer
    from tradeactors.core.instrument import Instrument

# GetRiskReport, ReleaseOrder and RiskReport live in tradeactors.core.messages,
# default_strategy_of in tradeactors.actors.gate.
__all__ = [
    "GetRiskReport",
    "ReleaseOrder",
    "RiskActor",
    "RiskReport",
    "SetStrategyLimits",
    "StrategyLimitsTable",
    "default_strategy_of",
]

MAX_STASHED_ORDERS = 10_000


_Held = SubmitOrder | ExposureChange | ReleaseOrder | AmendOrder
"""What waits for the exposure snapshot (in arrival order)."""


class _SnapshotDue(Message, frozen=True, kw_only=True, tag="risk.snapshot_due"):
    incarnation: int  # a predecessor's timer must not fail this incarnation


class SetStrategyLimits(Message, frozen=True, kw_only=True, tag=True):
    """To risk: ``strategy``'s own limits from now on (``limits`` None: none any more).

    ``max_loss`` (quote currency): past it the strategy's scope trips HALTED (None: no
    loss limit of its own).
    """

    strategy: str
    limits: RiskLimits | None
    max_loss: float | None = None


class StrategyLimitsTable:
    """Each strategy's own limits, owned by the system and read by every risk incarnation.

    Like the `TradingGate` and the strategy routes, it belongs to the `TradingSystem`,
    not to an actor: a restarted risk is built with the limits of now, those of the
    strategies added at run time included (see the module doc). Thread-safe.

    Args:
        limits: strategy name -> its limits, to start with.
        max_loss: strategy name -> its loss limit, to start with.

    """

    def __init__(
        self,
        limits: Mapping[str, RiskLimits] | None = None,
        max_loss: Mapping[str, float] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._limits = dict(limits or {})
        self._max_loss = dict(max_loss or {})

    def set(
        self, strategy: str, limits: RiskLimits | None, max_loss: float | None = None
    ) -> SetStrategyLimits:
        """Keep ``strategy``'s limits (None: drop them); returns the message for risk."""
        with self._lock:
            if limits is None:
                self._limits.pop(strategy, None)
                self._max_loss.pop(strategy, None)
                max_loss = None
            else:
                self._limits[strategy] = limits
                if max_loss is None:
                    self._max_loss.pop(strategy, None)
                else:
                    self._max_loss[strategy] = max_loss
        return SetStrategyLimits(strategy=strategy, limits=limits, max_loss=max_loss)

    def snapshot(self) -> tuple[dict[str, RiskLimits], dict[str, float]]:
        """Copies of (strategy -> limits, strategy -> loss limit) now."""
        with self._lock:
            return dict(self._limits), dict(self._max_loss)


class RiskActor(SupervisedActor):
    """Pre-trade risk (see the module doc).

    Args:
        limits: global limits; ``per_instrument`` overrides them field by field.
        order_manager_path: where passed orders go, and whom to ask for exposure.
        gate: the kill switch's state.
        instruments: symbol -> instrument: its venue's filters are checked (orders the
            venue would refuse are denied ``venue_min_price`` ... ``venue_min_notional``),
            and the loss limit is in its quote currency.
        max_loss: trip HALTED when PnL falls below ``-max_loss`` (quote currency).
        max_denials, denial_window: trip HALTED after this many denials in the window.
        emit: the system's event fan-out.
        snapshot_timeout: seconds to wait for the order manager's `ExposureSnapshot`
            before failing (so the supervisor restarts risk, which asks again).
        max_stashed_orders: orders held while waiting for the snapshot; later ones
            are denied ``lost``.
        instrument_limits: symbol -> the limits of every strategy together on it.
        strategy_limits: strategy name -> that strategy's own limits.
        strategy_max_loss: strategy name -> the loss (quote currency) past which its
            scope (``strategy:<name>``) trips HALTED.
        strategy_of: an order's owner path -> its strategy's name (None: no strategy).
        limits_table: the system's table of strategy limits, read at every (re)start on
            top of ``strategy_limits`` and ``strategy_max_loss`` (the table wins).
        recent_denials: (owner path, wall time ns) of denials before this process (its
            journal's): the first incarnation counts those still within the window.

    """

    def __init__(
        self,
        limits: RiskLimits,
        order_manager_path: str,
        gate: TradingGate,
        *,
        per_instrument: dict[str, RiskLimits] | None = None,
        instruments: dict[str, Instrument] | None = None,
        max_loss: float | None = None,
        max_denials: int | None = None,
        denial_window: float = 10.0,
        emit: Callable[[Any], None] | None = None,
        snapshot_timeout: float = 5.0,
        max_stashed_orders: int = MAX_STASHED_ORDERS,
        instrument_limits: Mapping[str, RiskLimits] | None = None,
        strategy_limits: Mapping[str, RiskLimits] | None = None,
        strategy_max_loss: Mapping[str, float] | None = None,
        strategy_of: Callable[[str], str | None] = default_strategy_of,
        limits_table: StrategyLimitsTable | None = None,
        recent_denials: Sequence[tuple[str, int]] = (),
    ) -> None:
        super().__init__()
        self._recent_denials = tuple(recent_denials)
        by_strategy, max_losses = dict(strategy_limits or {}), dict(strategy_max_loss or {})
        if limits_table is not None:  # those of now, added ones included
            table_limits, table_losses = limits_table.snapshot()
            by_strategy.update(table_limits)
            max_losses.update(table_losses)
        self._engine = RiskEngine(
            limits,
            per_instrument,
            instruments=instruments,
            instrument_limits=instrument_limits,
            strategy_limits=by_strategy,
        )
        self._strategy_of = strategy_of
        self._scopes: dict[str, tuple[str, str] | None] = {}  # owner -> (strategy, scope)
        self._strategy_max_loss = max_losses
        self._strategy_pnl: dict[str, dict[str, Position]] = {}  # strategy -> symbol -> PnL
        self._om_path = order_manager_path
        self._gate = gate
        self._instruments = dict(instruments or {})
        self._max_loss = max_loss
        self._max_denials = max_denials
        self._denial_window_ns = int(denial_window * 1e9)
        self._denials: deque[int] = deque()  # the host's (no strategy's)
        self._strategy_denials: defaultdict[str, deque[int]] = defaultdict(deque)
        self._emit = emit or (lambda _event: None)
        self._snapshot_timeout = snapshot_timeout
        self._max_stashed_orders = max_stashed_orders
        self._rebuilt = False
        self._stash: deque[_Held] = deque()
        self._stashed_orders = 0
        self._snapshot_timer: Timer | None = None
        self._sequence = 0
        self._pnl: dict[str, Position] = {}
        self._mids: dict[str, Fraction] = {}
        self.denied: dict[str, int] = {}

    def on_start(self) -> None:
        """Ask the order manager for the exposure (answered by a tell); arm the timeout."""
        context = self.context
        if context.incarnation == 1 and self._max_denials is not None:
            self._count_recent_denials()
        me, incarnation = context.address, context.incarnation
        self._snapshot_timer = context.clock.call_later(
            self._snapshot_timeout, lambda: me.tell(_SnapshotDue(incarnation=incarnation))
        )
        context.address_of(self._om_path).tell(GetExposure(reply_to=context.path))

    def on_stop(self) -> None:
        """Deny the orders still waiting for the snapshot; stop the timer."""
        self._close("stopped")

    def on_failure(self, *_exc_info: object) -> None:
        """Deny the orders still waiting for the snapshot; stop the timer."""
        self._close("failed")

    def on_receive(self, message: Any) -> Any:
        """Check orders; follow exposure; take reference prices from books."""
        if type(message) is SubmitOrder and self._rebuilt:  # the hot path, first
            self._check(message)
            return None
        if isinstance(message, SubmitOrder | ExposureChange | ReleaseOrder | AmendOrder):
            if self._rebuilt:
                self._handle(message)
            else:
                self._hold(message)
        elif isinstance(message, BookView):
            self._reference(message)
        elif isinstance(message, GetRiskReport):
            return RiskReport(
                positions={i: self._engine.position(i) for i in self._pnl},
                open_orders=self._engine.open_orders,
                denied=dict(self.denied),
                sequence=self._sequence,
                strategy_positions=self._engine.strategy_positions(),
            )
        elif isinstance(message, SetStrategyLimits):
            self._set_strategy_limits(message)
        elif isinstance(message, ExposureSnapshot):
            self._snapshot(message)
        elif isinstance(message, _SnapshotDue):
            self._snapshot_due(message)
        return None

    def _handle(self, message: _Held) -> None:
        if isinstance(message, SubmitOrder):
            self._check(message)
        elif isinstance(message, ExposureChange):
            self._exposure(message)
        elif isinstance(message, AmendOrder):
            self._check_amend(message)
        else:
            self._engine.order_closed(message.client_order_id)

    def _set_strategy_limits(self, message: SetStrategyLimits) -> None:
        """A strategy's own limits from now on (applied at once, even while rebuilding)."""
        strategy = message.strategy
        self._engine.set_strategy_limits(strategy, message.limits)
        if message.max_loss is None:
            self._strategy_max_loss.pop(strategy, None)
        else:
            self._strategy_max_loss[strategy] = message.max_loss
        self.context.log.info(
            "strategy_limits_set",
            strategy=strategy,
            limits=_set_fields(message.limits),
            max_loss=message.max_loss,
        )
        if self._rebuilt:
            self._check_loss()

    # -- the start handshake ---------------------------------------------------------

    def _hold(self, message: _Held) -> None:
        if isinstance(message, SubmitOrder):
            if self._stashed_orders >= self._max_stashed_orders:
                self._deny(
                    message,
                    DenyReason.LOST,
                    f"risk at {self.context.path} is rebuilding and holds "
                    f"{self._stashed_orders} orders already",
                )
                return
            self._stashed_orders += 1
        self._stash.append(message)

    def _snapshot(self, snapshot: ExposureSnapshot) -> None:
        if self._rebuilt:
            self.context.log.info(
                "exposure_snapshot_ignored", sequence=snapshot.sequence, rebuilt_at=self._sequence
            )
            return
        if self._snapshot_timer is not None:
            self._snapshot_timer.cancel()
            self._snapshot_timer = None
        self._rebuild(snapshot)
        stash = self._stash
        self.context.log.info(
            "risk_rebuilt",
            sequence=snapshot.sequence,
            positions=snapshot.positions,
            open_orders=len(snapshot.open_orders),
            stashed=len(stash),
        )
        while stash:  # what is left if a replayed message crashes risk is denied in _close
            message = stash.popleft()
            if isinstance(message, SubmitOrder):
                self._stashed_orders -= 1
            self._handle(message)

    def _rebuild(self, snapshot: ExposureSnapshot) -> None:
        self._rebuilt = True
        self._sequence = snapshot.sequence
        held: dict[str, dict[str, int]] = {}
        for owned in snapshot.owner_positions:
            scope = self._scope_of(owned.owner) if owned.owner else None
            if scope is None:
                continue
            strategy = scope[0]
            mine = held.setdefault(strategy, {})
            mine[owned.instrument] = mine.get(owned.instrument, 0) + owned.position
            position = Position()
            position.net = owned.position
            position.average_price = Fraction(*owned.average_price)
            position.realized = Fraction(*owned.realized)
            self._strategy_pnl.setdefault(strategy, {})[owned.instrument] = position
        self._engine.rebuild(
            snapshot.positions,
            [self._request(o) for o in snapshot.open_orders],
            snapshot.remaining,
            strategy_positions=held,
        )
        for instrument, net in snapshot.positions.items():
            position = Position()
            position.net = net
            position.average_price = Fraction(*snapshot.average_prices.get(instrument, (0, 1)))
            position.realized = Fraction(*snapshot.realized.get(instrument, (0, 1)))
            self._pnl[instrument] = position

    def _snapshot_due(self, due: _SnapshotDue) -> None:
        if due.incarnation != self.context.incarnation or self._rebuilt:
            return  # a predecessor's timer, or the snapshot came in time
        raise ExposureSnapshotTimeoutError(
            f"risk {self.context.path!r}: no exposure snapshot from "
            f"{self._om_path!r} within {self._snapshot_timeout:g} s"
        )

    def _close(self, why: str) -> None:
        if self._snapshot_timer is not None:
            self._snapshot_timer.cancel()
            self._snapshot_timer = None
        # Exposure changes and releases held here are in any snapshot the next
        # incarnation gets; orders are not: their owners must hear of them.
        detail = f"risk at {self.context.path} {why} before its exposure snapshot"
        for message in self._stash:
            if isinstance(message, SubmitOrder):
                self._deny(message, DenyReason.LOST, detail)
            elif isinstance(message, AmendOrder):  # the order stays as it was
                self.context.address_of(self._om_path).tell(
                    AmendDenied(amend=message, reason=DenyReason.LOST, detail=detail)
                )
        self._stash.clear()
        self._stashed_orders = 0

    # -- the checks ------------------------------------------------------------------

    def _scope_of(self, owner: str) -> tuple[str, str] | None:
        """``(strategy, its kill-switch scope)`` of an owner path (cached), or None."""
        try:
            return self._scopes[owner]
        except KeyError:
            strategy = self._strategy_of(owner) if owner else None
            scope = None if strategy is None else (strategy, strategy_scope(strategy))
            self._scopes[owner] = scope
            return scope

    def _request(self, order: SubmitOrder, now_ns: int = 0) -> OrderRequest:
        scope = self._scope_of(order.owner)
        return _request(order, now_ns, None if scope is None else scope[0])

    def _set_state(self, owner: str, venue: str | None) -> None:
        """Give the engine the kill switch's states for an order of ``owner`` to ``venue``."""
        gate, engine = self._gate, self._engine
        engine.state = gate.state_of(None, venue)  # all and the venue's
        scope = self._scope_of(owner)
        engine.strategy_state = TradingState.ACTIVE if scope is None else gate.scope_state(scope[1])

    def _check(self, order: SubmitOrder) -> None:
        engine, gate = self._engine, self._gate
        # _set_state and _request, with the owner's scope looked up once
        scope = self._scope_of(order.owner)
        engine.state = gate.state_of(None, order.venue)
        engine.strategy_state = TradingState.ACTIVE if scope is None else gate.scope_state(scope[1])
        context = self.context
        request = _request(order, context.clock.time_ns(), None if scope is None else scope[0])
        valid = order.tif in TIME_IN_FORCE_VALUES
        reason = engine.check(request) if valid else DenyReason.INVALID_ORDER
        if reason is None:
            context.address_of(self._om_path).tell(PlaceOrder(order=order))
            return
        self._deny(order, reason, engine.detail if valid else "")
        if reason is not DenyReason.HALTED:
            self._count_denial(reason.value, order.owner)

    def _check_amend(self, amend: AmendOrder) -> None:
        engine = self._engine
        self._set_state(amend.owner, engine.venue_of_order(amend.client_order_id))
        reason = engine.check_amend(
            AmendRequest(
                client_order_id=amend.client_order_id,
                price=amend.price,
                quantity=amend.quantity,
                timestamp_ns=self.context.clock.time_ns(),
            )
        )
        om = self.context.address_of(self._om_path)
        if reason is None:
            om.tell(SendAmend(amend=amend))
            return
        self.denied[reason.value] = self.denied.get(reason.value, 0) + 1
        om.tell(AmendDenied(amend=amend, reason=reason, detail=engine.detail))  # it tells the owner
        if reason is not DenyReason.HALTED:
            self._count_denial(reason.value, amend.owner)

    def _deny(self, order: SubmitOrder, reason: DenyReason, detail: str = "") -> None:
        self.denied[reason.value] = self.denied.get(reason.value, 0) + 1
        update = denied_update(order, reason, detail)
        if order.owner:
            self.context.address_of(order.owner).tell(update)
        self._emit(update)

    def _count_recent_denials(self) -> None:
        """Count the denials of before this process that are still within the window.

        No trip for them: one that was due happened then, and the kill switch recovered it.
        """
        clock = self.context.clock
        now_wall, now = clock.time_ns(), clock.monotonic_ns()
        for owner, wall_ns in sorted(self._recent_denials, key=lambda d: d[1]):
            age = now_wall - wall_ns
            if 0 <= age < self._denial_window_ns:
                scope = self._scope_of(owner)
                denials = self._denials if scope is None else self._strategy_denials[scope[0]]
                denials.append(now - age)

    def _count_denial(self, reason: str, owner: str = "") -> None:
        """Count a denial in its window: a strategy's trip its own scope, others ``all``.

        A strategy whose orders keep being denied (too large for the limits, say) halts
        alone, as a strategy that keeps crashing does; denials of the host's orders (and
        of a strategy whose scope the gate does not know) count for the account.
        """
        if self._max_denials is None:
            return
        now = self.context.clock.monotonic_ns()
        scope = self._scope_of(owner)
        denials = self._denials if scope is None else self._strategy_denials[scope[0]]
        denials.append(now)
        while denials and denials[0] <= now - self._denial_window_ns:
            denials.popleft()
        if len(denials) < self._max_denials:
            return
        why = f"{len(denials)} denials within the window (last: {reason})"
        if scope is not None:
            try:
                self._gate.trip(
                    TradingState.HALTED, source=TripSource.RISK, reason=why, scope=scope[1]
                )
            except UnknownScopeError:
                pass  # a strategy the gate was not told of: the account's limit
            else:
                return
        self._gate.trip(TradingState.HALTED, source=TripSource.RISK, reason=why)

    def _exposure(self, change: ExposureChange) -> None:
        if change.sequence <= self._sequence:
            return  # already in the snapshot this incarnation started from
        self._sequence = change.sequence
        engine = self._engine
        if change.fill_quantity:
            scope = self._scope_of(change.owner)
            strategy = None if scope is None else scope[0]
            engine.fill(
                change.client_order_id,
                change.fill_quantity,
                change.fill_price,
                instrument=change.instrument,
                side=change.side,
                strategy=strategy,
            )
            signed = change.side.sign * change.fill_quantity
            self._pnl.setdefault(change.instrument, Position()).apply_fill(
                signed, change.fill_price
            )
            if strategy is not None:
                self._strategy_pnl.setdefault(strategy, {}).setdefault(
                    change.instrument, Position()
                ).apply_fill(signed, change.fill_price)
            self._check_loss()
        if change.terms:
            engine.amend_settled(
                change.client_order_id,
                price=change.price,
                quantity=change.quantity,
                remaining=change.remaining,
            )
        if change.closed:
            engine.order_closed(change.client_order_id)

    def _reference(self, view: BookView) -> None:
        bid, ask = view.best_bid, view.best_ask
        if bid is None or ask is None:
            return
        mid2 = bid[0] + ask[0]
        symbol = symbol_of(view.instrument)
        self._engine.set_reference(symbol, mid2 // 2)
        self._mids[symbol] = Fraction(mid2, 2)
        self._check_loss()

    def _check_loss(self) -> None:
        for strategy, max_loss in self._strategy_max_loss.items():
            scope = strategy_scope(strategy)
            if self._gate.scope_state(scope) is TradingState.HALTED:
                continue
            total = self._loss(self._strategy_pnl.get(strategy, {}))
            if total < -Fraction(max_loss):
                try:
                    self._gate.trip(
                        TradingState.HALTED,
                        source=TripSource.RISK,
                        reason=f"loss {float(total):.2f} of {strategy} past its limit {max_loss}",
                        scope=scope,
                    )
                except UnknownScopeError:
                    self.context.log.exception("strategy_loss_limit_unknown_scope", scope=scope)
                    del self._strategy_max_loss[strategy]  # logged once, not per book update
                    return
        if self._max_loss is None:
            return
        total = self._loss(self._pnl)
        if total < -Fraction(self._max_loss):
            self._gate.trip(
                TradingState.HALTED,
                source=TripSource.RISK,
                reason=f"loss {float(total):.2f} past the limit {self._max_loss}",
            )

    def _loss(self, positions: Mapping[str, Position]) -> Fraction:
        """Realized + unrealized (at the mid) PnL of ``positions`` in the quote currency."""
        total = Fraction(0)
        for symbol, position in positions.items():
            instrument = self._instruments.get(symbol)
            if instrument is None:
                continue
            pnl = position.realized
            mid = self._mids.get(symbol)
            if mid is not None and position.net:
                pnl += (mid - position.average_price) * position.net
            total += pnl * Fraction(instrument.tick_size) * Fraction(instrument.lot_size)
        return total


def _set_fields(limits: RiskLimits | None) -> dict[str, Any] | None:
    """The limits that are set (None: no limits)."""
    if limits is None:
        return None
    return {k: v for k, v in msgspec.structs.asdict(limits).items() if v is not None}


def _request(order: SubmitOrder, now_ns: int = 0, strategy: str | None = None) -> OrderRequest:
    return OrderRequest(
        client_order_id=order.client_order_id,
        instrument=order.instrument,
        side=order.side,
        price=order.price,
        quantity=order.quantity,
        timestamp_ns=now_ns or order.timestamp_ns,
        venue=order.venue,
        strategy=strategy,
    )
