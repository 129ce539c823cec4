"""The kill switch's state, shared by everything on the order path.

The state lives here, outside any actor, for two reasons. A trip must act *at once*:
risk, the order manager and the gateway read `TradingGate.state` as they handle each
order, so orders already waiting in their mailboxes are denied the moment the switch
trips, not after the kill switch actor gets round to telling them. And it is latched:
a restarted kill switch actor must not come back ACTIVE (like an ETS table that
outlives the process using it, the gate belongs to the `TradingSystem`).

Reading ``state`` takes no lock (one attribute read); trips and resets are serialised.

Scopes (see `tradeactors.core.killswitch`): ``state`` is the ``all`` scope's, the one
the hot paths read first; `state_of` is the strictest of ``all``, a strategy's and a
venue's (one or two dict lookups). Each scope is latched on its own and reset on its
own. Given the ``strategies`` and ``venues`` of the system, a trip or reset of a scope
naming another one raises `UnknownScopeError` (`add_scope` adds one, e.g. a strategy
added while running); without them any well-formed scope is accepted.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from tradeactors.core.killswitch import (
    ALL,
    HISTORY,
    KillSwitch,
    KillSwitchChanged,
    TripSource,
    parse_scope,
    strategy_scope,
    strictest,
    venue_scope,
)
from tradeactors.core.risk import TradingState
from tradeactors.errors import UnknownScopeError
from tradeactors.supervision._events import Subscribers

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tradeactors.clock import Clock

__all__ = ["TradingGate", "default_strategy_of", "strategy_path"]

_STRATEGIES = "strategies"
_STRATEGY = "strategy"


def default_strategy_of(owner: str) -> str | None:
    """The strategy of an order's owner path: ``strategies/<name>/strategy`` -> ``<name>``.

    The trading tree's layout (`tradeactors.trading.paths`); anything else -> None.
    """
    first, _, rest = owner.partition("/")
    name, _, last = rest.partition("/")
    if first == _STRATEGIES and last == _STRATEGY and name:
        return name
    return None


def strategy_path(name: str) -> str:
    """The owner path of strategy ``name``'s orders (the inverse of `default_strategy_of`)."""
    return f"{_STRATEGIES}/{name}/{_STRATEGY}"


class TradingGate:
    """ACTIVE / REDUCING / HALTED per scope, latched; subscribers hear every change.

    Args:
        clock: timestamps of the changes.
        strategies, venues: the names scopes may name (None: any name).

    """

    def __init__(
        self,
        clock: Clock,
        *,
        strategies: Iterable[str] | None = None,
        venues: Iterable[str] | None = None,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._switch = KillSwitch()
        self._switches: dict[str, KillSwitch] = {ALL: self._switch}
        self._history: deque[KillSwitchChanged] = deque(maxlen=HISTORY)  # the most recent
        # the states of the strategy and venue scopes, by name (absent: ACTIVE)
        self._strategies: dict[str, TradingState] = {}
        self._venues: dict[str, TradingState] = {}
        self._checked = strategies is not None or venues is not None
        for name in strategies or ():
            self.add_scope(strategy_scope(name))
        for name in venues or ():
            self.add_scope(venue_scope(name))
        self._subscribers: Subscribers[KillSwitchChanged] = Subscribers("gate_subscriber_raised")
        self.state = TradingState.ACTIVE

    @property
    def history(self) -> tuple[KillSwitchChanged, ...]:
        """Every change so far, of every scope, oldest first."""
        return tuple(self._history)

    def history_of(self, scope: str = ALL) -> tuple[KillSwitchChanged, ...]:
        """The changes of one scope, oldest first."""
        switch = self._switches.get(scope)
        return () if switch is None else tuple(switch.history)

    def state_of(self, strategy: str | None = None, venue: str | None = None) -> TradingState:
        """The strictest of the states of ``all``, ``strategy:<strategy>``, ``venue:<venue>``."""
        state = self.state
        if state is TradingState.HALTED:
            return state
        if strategy is not None:
            scoped = self._strategies.get(strategy)
            if scoped is not None and scoped is not state:
                state = strictest(state, scoped)
        if venue is not None:
            scoped = self._venues.get(venue)
            if scoped is not None and scoped is not state:
                state = strictest(state, scoped)
        return state

    def scope_state(self, scope: str) -> TradingState:
        """The state of one scope on its own (ACTIVE if it never changed)."""
        switch = self._switches.get(scope)
        return TradingState.ACTIVE if switch is None else switch.state

    def scopes(self) -> dict[str, TradingState]:
        """Every scope known (or changed so far) and its state, ``all`` first."""
        return {scope: switch.state for scope, switch in list(self._switches.items())}

    def add_scope(self, scope: str) -> None:
        """Accept ``scope`` (ACTIVE until tripped); nothing if it is known already.

        Raises:
            ValueError: ``scope`` is not well formed (see `parse_scope`).

        """
        parse_scope(scope)
        with self._lock:
            self._switches.setdefault(scope, KillSwitch(scope))

    def _switch_of(self, scope: str) -> KillSwitch:
        """The scope's switch (with the lock held); created if any name is accepted."""
        if scope == ALL:
            return self._switch
        switch = self._switches.get(scope)
        if switch is None:
            parse_scope(scope)
            if self._checked:
                raise UnknownScopeError(scope, list(self._switches))
            switch = self._switches[scope] = KillSwitch(scope)
        return switch

    def _apply(self, change: KillSwitchChanged) -> None:
        """Publish a committed change to the readers (with the lock held)."""
        self._history.append(change)
        kind, name = parse_scope(change.scope)
        if kind == ALL:
            self.state = change.state
        elif kind == "strategy":
            self._strategies[name] = change.state
        else:
            self._venues[name] = change.state

    def subscribe(self, callback: Callable[[KillSwitchChanged], None]) -> Callable[[], None]:
        """Call ``callback`` (in the tripping thread) after each change."""
        return self._subscribers.subscribe(callback)

    def trip(
        self, to: TradingState, *, source: TripSource, reason: str, scope: str = ALL
    ) -> KillSwitchChanged | None:
        """Make ``scope`` stricter; None if its state is already at least ``to``.

        Raises:
            ValueError: ``scope`` is not well formed.
            UnknownScopeError: it names a strategy or venue the gate was not given.

        """
        with self._lock:
            change = self._switch_of(scope).trip(
                to, source=source, reason=reason, now_ns=self._clock.time_ns()
            )
            if change is not None:
                self._apply(change)
        if change is not None:
            self._subscribers.emit(change)
        return change

    def reset(
        self, to: TradingState, *, by: str, reason: str, scope: str = ALL
    ) -> KillSwitchChanged:
        """Lower ``scope``'s state explicitly, recording who and why; other scopes stay.

        Raises:
            ValueError: that is not lower, no one is named, or ``scope`` is not well formed.
            UnknownScopeError: it names a strategy or venue the gate was not given.

        """
        with self._lock:
            change = self._switch_of(scope).reset(
                to, by=by, reason=reason, now_ns=self._clock.time_ns()
            )
            self._apply(change)
        self._subscribers.emit(change)
        return change
