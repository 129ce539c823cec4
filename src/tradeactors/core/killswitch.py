"""The kill switch's state machine (pure): ACTIVE, REDUCING, HALTED, latched.

Trips come from a person (CLI, embedding API), risk (loss limit, repeated breaches),
stale market data, or supervision escalation. A trip only ever makes things stricter
(ACTIVE < REDUCING < HALTED); going back needs an explicit `reset` to a less strict
state, with who and why, so a trip cannot be undone by a later, milder one. Every
change is returned as a `KillSwitchChanged` event for the log and the actors.
"""

from __future__ import annotations

import enum

from tradeactors.core.messages import Message
from tradeactors.core.risk import TradingState

__all__ = ["KillSwitch", "KillSwitchChanged", "TripSource"]

_STRICTNESS = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class TripSource(enum.Enum):
    """Who or what tripped the switch."""

    MANUAL = "manual"
    RISK = "risk"
    STALE_MARKET_DATA = "stale_market_data"
    ESCALATION = "escalation"
    VENUE_DOWN = "venue_down"  # unreachable past execution.halt_after_down
    VENUE_STATE_LOST = "venue_state_lost"  # came back without its fills (ids went back)
    SHUTDOWN = "shutdown"  # the system stopping: nothing new goes out while it cancels
    VENUE_BANNED = "venue_banned"  # the venue banned this client (Binance's 418): stop sending


class KillSwitchChanged(Message, frozen=True, kw_only=True, tag=True):
    """The trading state changed."""

    previous: TradingState
    state: TradingState
    source: str  # a TripSource value, or "reset"
    reason: str
    timestamp_ns: int


class KillSwitch:
    """Latched trading state: trips raise it, only `reset` lowers it."""

    def __init__(self) -> None:
        self.state = TradingState.ACTIVE
        self.history: list[KillSwitchChanged] = []

    def trip(
        self, to: TradingState, *, source: TripSource, reason: str, now_ns: int
    ) -> KillSwitchChanged | None:
        """Move to ``to`` if that is stricter than now; None if it changes nothing."""
        if _STRICTNESS[to] <= _STRICTNESS[self.state]:
            return None
        return self._change(to, source.value, reason, now_ns)

    def reset(self, to: TradingState, *, by: str, reason: str, now_ns: int) -> KillSwitchChanged:
        """Explicitly lower the state (an operator's decision, recorded with who and why).

        Raises:
            ValueError: ``to`` is not less strict than the current state, or no one is named.

        """
        if not by or not reason:
            raise ValueError("a reset needs who did it and why")
        if _STRICTNESS[to] >= _STRICTNESS[self.state]:
            raise ValueError(f"reset must lower the state: {self.state.value} -> {to.value}")
        return self._change(to, "reset", f"{by}: {reason}", now_ns)

    def _change(self, to: TradingState, source: str, reason: str, now_ns: int) -> KillSwitchChanged:
        event = KillSwitchChanged(
            previous=self.state, state=to, source=source, reason=reason, timestamp_ns=now_ns
        )
        self.state = to
        self.history.append(event)
        return event
