"""Every actor path of a trading tree, computed from the config in one place.

The composition root (`tradeactors.trading.system`) names its children from these
paths, and every actor that tells another gets the path from here: no path is spelled
anywhere else (the feed finds its books by `book_name` under its supervisor, the
same rule). Paths are ``/``-separated from the root, the last part being the
child's name in its supervisor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tradeactors.actors.feed import book_name
from tradeactors.actors.gate import default_strategy_of as strategy_of
from tradeactors.actors.gate import strategy_path

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tradeactors.config import Config

__all__ = ["ActorPaths", "actor_paths", "leaf", "strategy_of", "strategy_path"]

EXECUTION = "execution"
MARKET_DATA = "market_data"
STRATEGIES = "strategies"
# A strategy's actor is `strategy_path(name)` (strategies/<name>/strategy), and an order's
# owner path gives its strategy back by `strategy_of`: both from actors.gate, where the
# actors that read owners (risk, order manager, kill switch, gateway) take them.


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorPaths:
    """The paths of one tree's actors (venue- and instrument-keyed where many)."""

    events: str
    killswitch: str
    risk: str
    execution: str
    order_manager: str
    gateways: dict[str, str]  # venue -> path
    market_data: str
    feeds: dict[str, str]  # venue -> path
    books: dict[tuple[str, str], str]  # (venue, symbol) -> path
    strategies_supervisor: str
    strategies: dict[str, str]  # strategy name -> its actor's path
    strategy_supervisors: dict[str, str]  # strategy name -> its own supervisor's path

    def gateway(self, venue: str) -> str:
        """The gateway of ``venue``."""
        return self.gateways[venue]

    def book(self, venue: str, symbol: str) -> str:
        """The book actor of ``symbol`` at ``venue``."""
        return self.books[(venue, symbol)]

    def pairs(self, symbols: Iterable[str]) -> list[tuple[str, str]]:
        """``(venue, symbol)`` of each of ``symbols`` (a symbol is at one venue)."""
        venue_of = {symbol: venue for venue, symbol in self.books}
        return [(venue_of[symbol], symbol) for symbol in symbols]


def actor_paths(config: Config, *, strategy: str | None = None) -> ActorPaths:
    """The paths for ``config``: every venue, every instrument, every strategy.

    A strategy's actor is ``strategies/<name>/strategy``, under a supervisor of its own
    (``strategies/<name>``); ``strategy`` names the one strategy of a class passed to
    `TradingSystem` instead of the config's.
    """
    venues = config.all_venues
    names = [entry.name for entry in config.all_strategies]
    if strategy is not None:
        names = [strategy]
    return ActorPaths(
        events="events",
        killswitch="killswitch",
        risk="risk",
        execution=EXECUTION,
        order_manager=f"{EXECUTION}/order_manager",
        gateways={v.name: f"{EXECUTION}/gateway.{v.name}" for v in venues},
        market_data=MARKET_DATA,
        feeds={v.name: f"{MARKET_DATA}/feed.{v.name}" for v in venues},
        books={
            (i.venue, i.symbol): f"{MARKET_DATA}/{book_name(i.symbol)}"
            for i in config.all_instruments
        },
        strategies_supervisor=STRATEGIES,
        strategies={name: strategy_path(name) for name in names},
        strategy_supervisors={name: f"{STRATEGIES}/{name}" for name in names},
    )


def leaf(path: str) -> str:
    """The child's name in its supervisor: the last part of ``path``."""
    return path.rsplit("/", 1)[-1]
