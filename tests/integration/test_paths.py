"""Every actor of a running trading tree is at a path `actor_paths` computed (both runtimes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from trading_helpers import SECRET, TradingEvents, config_for

from tradeactors.core.messages import VenueStatus
from tradeactors.supervision import ROOT_PATH
from tradeactors.trading.paths import ActorPaths, actor_paths
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision


def _flatten(paths: ActorPaths) -> set[str]:
    out: set[str] = set()
    for value in (
        paths.events,
        paths.killswitch,
        paths.risk,
        paths.execution,
        paths.order_manager,
        paths.market_data,
        *paths.gateways.values(),
        *paths.feeds.values(),
        *paths.books.values(),
        *paths.strategies.values(),
        *paths.strategy_supervisors.values(),
        paths.strategies_supervisor,  # always there: strategies can be added while running
    ):
        out.add(value)
    return out


@pytest.mark.parametrize("strategy", ["market_maker", "none"])
def test_the_tree_is_exactly_the_computed_paths(sim_venue: SimExchange, monkeypatch, strategy):
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    config = config_for(sim_venue, strategy={"name": strategy})
    system = TradingSystem(config)
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    try:
        events.wait_for(VenueStatus, up=True)
        expected = _flatten(actor_paths(config))
        assert set(system.tree.paths()) - {ROOT_PATH} == expected
        assert system.paths == actor_paths(config)
        assert (system.strategy_path is None) == (strategy == "none")
    finally:
        system.stop(timeout=10)
