"""The kill switch's state, shared by everything on the order path.

The state lives here, outside any actor, for two reasons. A trip must act *at once*:
risk, the order manager and the gateway read `TradingGate.state` as they handle each
order, so orders already waiting in their mailboxes are denied the moment the switch
trips, not after the kill switch actor gets round to telling them. And it is latched:
a restarted kill switch actor must not come back ACTIVE (like an ETS table that
outlives the process using it, the gate belongs to the `TradingSystem`).

Reading ``state`` takes no lock (one attribute read); trips and resets are serialised.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from tradeactors.core.killswitch import KillSwitch, KillSwitchChanged, TripSource
from tradeactors.core.risk import TradingState
from tradeactors.supervision._events import Subscribers

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.clock import Clock

__all__ = ["TradingGate"]


class TradingGate:
    """ACTIVE / REDUCING / HALTED, latched; subscribers hear every change."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._switch = KillSwitch()
        self._subscribers: Subscribers[KillSwitchChanged] = Subscribers("gate_subscriber_raised")
        self.state = TradingState.ACTIVE

    @property
    def history(self) -> tuple[KillSwitchChanged, ...]:
        """Every change so far, oldest first."""
        return tuple(self._switch.history)

    def subscribe(self, callback: Callable[[KillSwitchChanged], None]) -> Callable[[], None]:
        """Call ``callback`` (in the tripping thread) after each change."""
        return self._subscribers.subscribe(callback)

    def trip(
        self, to: TradingState, *, source: TripSource, reason: str
    ) -> KillSwitchChanged | None:
        """Make trading stricter; None if the state is already at least ``to``."""
        with self._lock:
            change = self._switch.trip(
                to, source=source, reason=reason, now_ns=self._clock.time_ns()
            )
            if change is not None:
                self.state = change.state
        if change is not None:
            self._subscribers.emit(change)
        return change

    def reset(self, to: TradingState, *, by: str, reason: str) -> KillSwitchChanged:
        """Lower the state explicitly (raises ValueError if that is not lower)."""
        with self._lock:
            change = self._switch.reset(to, by=by, reason=reason, now_ns=self._clock.time_ns())
            self.state = change.state
        self._subscribers.emit(change)
        return change
