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
from tradeactors.strategy import strategy_actor_name

if TYPE_CHECKING:
    from tradeactors.config import Config

__all__ = ["ActorPaths", "actor_paths", "leaf"]

EXECUTION = "execution"
MARKET_DATA = "market_data"
STRATEGIES = "strategies"


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
    strategies: dict[str, str]  # strategy name -> path

    def gateway(self, venue: str) -> str:
        """The gateway of ``venue``."""
        return self.gateways[venue]

    def book(self, venue: str, symbol: str) -> str:
        """The book actor of ``symbol`` at ``venue``."""
        return self.books[(venue, symbol)]


def actor_paths(config: Config, *, strategy: str | None = None) -> ActorPaths:
    """The paths for ``config``: every venue of ``[[venues]]``, its symbol, the strategy.

    The strategy's actor is named by `strategy_actor_name` (a built-in's name, a user's
    class in snake case), or ``strategy`` when given (a class passed to `TradingSystem`).
    """
    venues = config.all_venues
    name = config.strategy.name
    strategy = strategy or ("none" if name == "none" else strategy_actor_name(name))
    return ActorPaths(
        events="events",
        killswitch="killswitch",
        risk="risk",
        execution=EXECUTION,
        order_manager=f"{EXECUTION}/order_manager",
        gateways={v.name: f"{EXECUTION}/gateway.{v.name}" for v in venues},
        market_data=MARKET_DATA,
        feeds={v.name: f"{MARKET_DATA}/feed.{v.name}" for v in venues},
        books={(v.name, v.symbol): f"{MARKET_DATA}/{book_name(v.symbol)}" for v in venues},
        strategies_supervisor=STRATEGIES,
        strategies={} if strategy == "none" else {strategy: f"{STRATEGIES}/{strategy}"},
    )


def leaf(path: str) -> str:
    """The child's name in its supervisor: the last part of ``path``."""
    return path.rsplit("/", 1)[-1]
