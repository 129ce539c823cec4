"""The kill switch's state machine (pure): ACTIVE, REDUCING, HALTED, latched.

Trips come from a person (CLI, embedding API), risk (loss limit, repeated breaches),
stale market data, or supervision escalation. A trip only ever makes things stricter
(ACTIVE < REDUCING < HALTED); going back needs an explicit `reset` to a less strict
state, with who and why, so a trip cannot be undone by a later, milder one. Every
change is returned as a `KillSwitchChanged` event for the log and the actors.

Scopes: ``all`` (everything), ``strategy:<name>`` (one strategy's orders) and
``venue:<name>`` (every order to one venue) each have their own latched switch
(`TradingGate` keeps one `KillSwitch` per scope). An order is allowed in the strictest
of the states of the scopes it belongs to (`strictest`); resetting one scope never
resets another.
"""

from __future__ import annotations

import enum
from collections import deque

from tradeactors.core.messages import Message
from tradeactors.core.risk import TradingState

__all__ = [
    "ALL",
    "KillSwitch",
    "KillSwitchChanged",
    "TripSource",
    "parse_scope",
    "strategy_scope",
    "strictest",
    "venue_scope",
]

_STRICTNESS = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}

ALL = "all"
"""The scope of everything (the global switch)."""

_KINDS = ("strategy", "venue")


def strategy_scope(name: str) -> str:
    """The scope of one strategy's orders: ``strategy:<name>``."""
    return f"strategy:{name}"


def venue_scope(name: str) -> str:
    """The scope of every order to one venue: ``venue:<name>``."""
    return f"venue:{name}"


def parse_scope(scope: str) -> tuple[str, str]:
    """``(kind, name)`` of a scope: ``("all", "")``, ``("strategy", name)``, ``("venue", name)``.

    Raises:
        ValueError: ``scope`` is none of ``all``, ``strategy:<name>``, ``venue:<name>``.

    """
    if scope == ALL:
        return ALL, ""
    kind, colon, name = scope.partition(":")
    if not colon or kind not in _KINDS or not name or name != name.strip():
        raise ValueError(
            f"kill-switch scope {scope!r}: expected 'all', 'strategy:<name>' or 'venue:<name>'"
        )
    return kind, name


def strictest(*states: TradingState) -> TradingState:
    """The strictest of ``states`` (ACTIVE < REDUCING < HALTED); ACTIVE if none."""
    return max(states, key=_STRICTNESS.__getitem__, default=TradingState.ACTIVE)


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
    JOURNAL_UNAVAILABLE = "journal_unavailable"  # the journal cannot be written: trade nothing
    STRATEGY_REMOVED = "strategy_removed"  # the fence of a strategy removed at run time


HISTORY = 1000
"""Changes a switch (and the gate, over all scopes) remembers: the most recent."""


class KillSwitchChanged(Message, frozen=True, kw_only=True, tag=True):
    """The trading state of ``scope`` changed (``all``, ``strategy:<name>``, ``venue:<name>``)."""

    previous: TradingState
    state: TradingState
    source: str  # a TripSource value, or "reset"
    reason: str
    timestamp_ns: int
    scope: str = ALL


class KillSwitch:
    """Latched trading state of one ``scope``: trips raise it, only `reset` lowers it."""

    def __init__(self, scope: str = ALL) -> None:
        parse_scope(scope)
        self.scope = scope
        self.state = TradingState.ACTIVE
        # the last changes (a switch tripped and reset for ever keeps a bounded record;
        # the logs and the events keep every one)
        self.history: deque[KillSwitchChanged] = deque(maxlen=HISTORY)

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
            previous=self.state,
            state=to,
            source=source,
            reason=reason,
            timestamp_ns=now_ns,
            scope=self.scope,
        )
        self.state = to
        self.history.append(event)
        return event
