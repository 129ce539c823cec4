"""`StrategyRoutes`: which strategies hear what, changeable while the tree runs.

Book actors tell each strategy trading their instrument every `BookView` and
`TradeTick`; the order manager tells every strategy each `VenueStatus`; the kill
switch tells every strategy each `KillSwitchChanged`. Those recipients used to be
fixed when the tree was built; strategies added or removed at run time
(`TradingSystem.add_strategy` / ``remove_strategy``) change them here instead.

Like the `TradingGate`, the routes belong to the `TradingSystem`, not to an actor:
each actor is given the same object at every (re)start, so a restarted book or order
manager routes to the strategies of now, not to those of the tree's start.

Each route may carry the depth of the book views its strategy asked for
(`Strategy.view_depth`): a book builds one view per depth asked, so a strategy that
reads only the top of the book is handed a one-level view, cheaper to build.

A strategy routed at run time is announced with `StrategyRouted` to the actors that
route to it, so that it starts from the state of now.

Readers take no lock. The routes are an immutable `Routing` snapshot replaced whole
under a lock, and ``version`` counts the replacements; a reader on the hot path (the
book, once per update) compares ``version`` with the one it resolved its tells at,
and re-resolves only when it changed. A writer publishes the snapshot before it bumps
the version, so a reader that saw a version sees that snapshot or a newer one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tradeactors.core.messages import Message

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["Routing", "StrategyRouted", "StrategyRoutes"]


class StrategyRouted(Message, frozen=True, kw_only=True, tag=True):
    """To a book, the order manager and the kill switch: ``path`` was just routed.

    Each tells it the state of now, in its own order (so nothing it tells later can be
    overtaken by it): the book its current view, the order manager the venues that are
    down, the kill switch its latest change. A strategy added while the market is still,
    a venue down or the switch tripped would otherwise hear of it only at the next change.
    """

    path: str


@dataclass(frozen=True, slots=True)
class Routing:
    """One version of the routes: every strategy's actor path and its instruments."""

    strategies: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """Actor path -> the (venue, symbol) pairs it trades, in the order they were added."""
    depths: dict[str, int] = field(default_factory=dict)
    """Actor path -> the levels a side of the book views it asked for (`Strategy.view_depth`);
    a path not here gets the book's own depth."""

    def paths(self) -> tuple[str, ...]:
        """Every routed strategy's path."""
        return tuple(self.strategies)

    def trading(self, symbol: str) -> tuple[str, ...]:
        """The paths of the strategies that trade ``symbol`` (unique in a system)."""
        return tuple(
            path
            for path, pairs in self.strategies.items()
            if any(traded == symbol for _venue, traded in pairs)
        )


class StrategyRoutes:
    """Thread-safe, versioned routes to the strategies (see the module doc).

    Args:
        strategies: the initial routes: (actor path, its (venue, symbol) pairs).

    """

    def __init__(self, strategies: Iterable[tuple[str, Sequence[tuple[str, str]]]] = ()) -> None:
        self._lock = threading.Lock()
        self._routing = Routing({path: tuple(pairs) for path, pairs in strategies})
        self.version = 0
        """Bumped after every change (read without a lock)."""

    @property
    def current(self) -> Routing:
        """The routes now (an immutable snapshot)."""
        return self._routing

    def add(self, path: str, instruments: Sequence[tuple[str, str]]) -> None:
        """Route ``instruments``' market data, venue status and kill-switch changes to ``path``.

        Raises:
            ValueError: ``path`` is routed already.

        """
        with self._lock:
            routes = self._routing.strategies
            if path in routes:
                raise ValueError(f"{path} is routed already")
            self._publish({**routes, path: tuple(instruments)}, self._routing.depths)

    def remove(self, path: str) -> bool:
        """Route nothing more to ``path``; False if it was not routed."""
        with self._lock:
            routes = dict(self._routing.strategies)
            routed = routes.pop(path, None) is not None
            depths = self._routing.depths
            if routed or path in depths:
                self._publish(routes, {p: d for p, d in depths.items() if p != path})
            return routed

    def set_depth(self, path: str, depth: int | None) -> None:
        """Books hand ``path`` views ``depth`` levels a side (None: the book's own depth).

        Kept for a path not routed yet (a strategy sets it as it starts, before it is
        routed); forgotten when the path is removed. Nothing changes (no new version)
        when ``path`` has that depth already.
        """
        with self._lock:
            depths = self._routing.depths
            if depths.get(path) == depth:
                return
            changed = {p: d for p, d in depths.items() if p != path}
            if depth is not None:
                changed[path] = depth
            self._publish(self._routing.strategies, changed)

    def _publish(
        self, routes: dict[str, tuple[tuple[str, str], ...]], depths: dict[str, int]
    ) -> None:
        self._routing = Routing(routes, depths)  # first the snapshot, then the version
        self.version += 1
