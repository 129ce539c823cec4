"""The risk actor: pre-trade checks on the hot path, exposure kept from the order manager.

Every `SubmitOrder` is checked against `tradeactors.core.risk.RiskEngine` with the
kill switch's state read from the `TradingGate` at that moment (so an order queued
here when the switch trips is denied). Passed orders go to the order manager and count
against the limits at once; denied ones go back to their owner as an `OrderUpdate`
with status ``denied`` and the reason code, and are events.

On every (re)start risk asks the order manager for its exposure before it takes any
order, so a restarted risk never starts "empty and trusting". The order manager's
`ExposureChange`s carry a sequence number: those already contained in the snapshot
(still queued in this mailbox from before the restart) are skipped.

Risk also trips the kill switch: HALTED when the loss (realized + unrealized, marked at
the mid) goes past ``max_loss``, or after ``max_denials`` denials within
``denial_window`` seconds.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from tradeactors.core.book import BookView
from tradeactors.core.killswitch import TripSource
from tradeactors.core.messages import (
    DenyReason,
    ExposureChange,
    ExposureSnapshot,
    GetExposure,
    GetRiskReport,
    PlaceOrder,
    ReleaseOrder,
    RiskReport,
    SubmitOrder,
    TimeInForce,
    denied_update,
    symbol_of,
)
from tradeactors.core.orders import Position
from tradeactors.core.risk import (
    OrderRequest,
    RiskEngine,
    RiskLimits,
    TradingState,
)
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.actors.gate import TradingGate
    from tradeactors.core.instrument import Instrument

# GetRiskReport, ReleaseOrder and RiskReport live in tradeactors.core.messages.
__all__ = ["GetRiskReport", "ReleaseOrder", "RiskActor", "RiskReport"]


class RiskActor(SupervisedActor):
    """Pre-trade risk (see the module doc).

    Args:
        limits: global limits; ``per_instrument`` overrides them field by field.
        order_manager_path: where passed orders go, and whom to ask for exposure.
        gate: the kill switch's state.
        instruments: symbol -> instrument (for the loss limit in quote currency).
        max_loss: trip HALTED when PnL falls below ``-max_loss`` (quote currency).
        max_denials, denial_window: trip HALTED after this many denials in the window.
        emit: the system's event fan-out.

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
    ) -> None:
        super().__init__()
        self._engine = RiskEngine(limits, per_instrument)
        self._om_path = order_manager_path
        self._gate = gate
        self._instruments = dict(instruments or {})
        self._max_loss = max_loss
        self._max_denials = max_denials
        self._denial_window_ns = int(denial_window * 1e9)
        self._denials: deque[int] = deque()
        self._emit = emit or (lambda _event: None)
        self._snapshot_timeout = snapshot_timeout
        self._sequence = 0
        self._pnl: dict[str, Position] = {}
        self._mids: dict[str, Fraction] = {}
        self.denied: dict[str, int] = {}

    def on_start(self) -> None:
        """Rebuild exposure from the order manager before taking any order."""
        snapshot: ExposureSnapshot = self.context.address_of(self._om_path).ask(
            GetExposure(), timeout=self._snapshot_timeout
        )
        self._sequence = snapshot.sequence
        self._engine.rebuild(
            snapshot.positions,
            [_request(o) for o in snapshot.open_orders],
            snapshot.remaining,
        )
        for instrument, net in snapshot.positions.items():
            position = Position()
            position.net = net
            position.average_price = Fraction(*snapshot.average_prices.get(instrument, (0, 1)))
            position.realized = Fraction(*snapshot.realized.get(instrument, (0, 1)))
            self._pnl[instrument] = position
        self.context.log.info(
            "risk_rebuilt",
            sequence=snapshot.sequence,
            positions=snapshot.positions,
            open_orders=len(snapshot.open_orders),
        )

    def on_receive(self, message: Any) -> Any:
        """Check orders; follow exposure; take reference prices from books."""
        if isinstance(message, SubmitOrder):
            self._check(message)
        elif isinstance(message, ExposureChange):
            self._exposure(message)
        elif isinstance(message, BookView):
            self._reference(message)
        elif isinstance(message, ReleaseOrder):
            self._engine.order_closed(message.client_order_id)
        elif isinstance(message, GetRiskReport):
            return RiskReport(
                positions={i: self._engine.position(i) for i in self._pnl},
                open_orders=self._engine.open_orders,
                denied=dict(self.denied),
                sequence=self._sequence,
            )
        return None

    def _check(self, order: SubmitOrder) -> None:
        engine = self._engine
        engine.state = self._gate.state
        request = _request(order, self.context.clock.time_ns())
        reason = engine.check(request) if TimeInForce.valid(order.tif) else DenyReason.INVALID_ORDER
        if reason is None:
            self.context.address_of(self._om_path).tell(PlaceOrder(order=order))
            return
        self.denied[reason.value] = self.denied.get(reason.value, 0) + 1
        update = denied_update(order, reason)
        if order.owner:
            self.context.address_of(order.owner).tell(update)
        self._emit(update)
        if reason is not DenyReason.HALTED:
            self._count_denial(reason.value)

    def _count_denial(self, reason: str) -> None:
        if self._max_denials is None:
            return
        now = self.context.clock.monotonic_ns()
        self._denials.append(now)
        while self._denials and self._denials[0] <= now - self._denial_window_ns:
            self._denials.popleft()
        if len(self._denials) >= self._max_denials:
            self._gate.trip(
                TradingState.HALTED,
                source=TripSource.RISK,
                reason=f"{len(self._denials)} denials within the window (last: {reason})",
            )

    def _exposure(self, change: ExposureChange) -> None:
        if change.sequence <= self._sequence:
            return  # already in the snapshot this incarnation started from
        self._sequence = change.sequence
        engine = self._engine
        if change.fill_quantity:
            engine.fill(
                change.client_order_id,
                change.fill_quantity,
                change.fill_price,
                instrument=change.instrument,
                side=change.side,
            )
            signed = change.side.sign * change.fill_quantity
            self._pnl.setdefault(change.instrument, Position()).apply_fill(
                signed, change.fill_price
            )
            self._check_loss()
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
        if self._max_loss is None:
            return
        total = Fraction(0)
        for symbol, position in self._pnl.items():
            instrument = self._instruments.get(symbol)
            if instrument is None:
                continue
            pnl = position.realized
            mid = self._mids.get(symbol)
            if mid is not None and position.net:
                pnl += (mid - position.average_price) * position.net
            total += pnl * Fraction(instrument.tick_size) * Fraction(instrument.lot_size)
        if total < -Fraction(self._max_loss):
            self._gate.trip(
                TradingState.HALTED,
                source=TripSource.RISK,
                reason=f"loss {float(total):.2f} past the limit {self._max_loss}",
            )


def _request(order: SubmitOrder, now_ns: int = 0) -> OrderRequest:
    return OrderRequest(
        client_order_id=order.client_order_id,
        instrument=order.instrument,
        side=order.side,
        price=order.price,
        quantity=order.quantity,
        timestamp_ns=now_ns or order.timestamp_ns,
    )
