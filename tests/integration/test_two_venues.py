"""Two venues in one tree: a gateway and a feed each, each strategy's orders at its venue.

Two embedded simulated exchanges (`[[venues]]` without URLs start one each); halting one
venue's scope cancels that venue's orders only (both runtimes).
"""

from __future__ import annotations

import pytest
from trading_helpers import TradingEvents

from tradeactors.config import (
    Config,
    InstrumentConfig,
    StrategyEntryConfig,
    VenueConfig,
)
from tradeactors.core.messages import OrderUpdate, VenueStatus
from tradeactors.core.risk import TradingState
from tradeactors.trading.system import TradingSystem

pytestmark = pytest.mark.supervision

MM = {"half_spread": 2, "size": 2, "max_inventory": 10, "skew": 1.0, "requote": 2}


def _config() -> Config:
    return Config(
        venues=(
            VenueConfig(name="east", seed=3),
            VenueConfig(name="west", seed=4),
        ),
        instruments=(
            InstrumentConfig(venue="east", symbol="BTCUSDT"),
            InstrumentConfig(venue="west", symbol="ETHUSDT"),
        ),
        strategies=(
            StrategyEntryConfig(name="east_mm", instruments=("BTCUSDT",), params=MM),
            StrategyEntryConfig(name="west_mm", instruments=("ETHUSDT",), params=MM),
        ),
    )


def _quoting(events: TradingEvents, venue: str) -> bool:
    return any(u.venue == venue and u.status == "accepted" for u in events.of(OrderUpdate))


def test_two_venues_each_with_its_gateway_feed_and_strategy():
    system = TradingSystem(_config())
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    try:
        assert {e.venue for e in events.of(VenueStatus, up=True)} == {"east", "west"}
        assert set(system.exchanges) == {"east", "west"}  # one embedded exchange each
        assert system.exchanges["east"].instruments.keys() == {"BTCUSDT"}
        assert {p for p in system.tree.paths() if "gateway" in p or "feed" in p} == {
            "execution/gateway.east",
            "execution/gateway.west",
            "market_data/feed.east",
            "market_data/feed.west",
        }
        assert events.wait_until(lambda: _quoting(events, "east") and _quoting(events, "west"), 15)
        for update in events.of(OrderUpdate):  # each strategy at its own venue
            expected = "east" if update.client_order_id.startswith("east") else "west"
            assert (update.venue, update.instrument) == (
                expected,
                "BTCUSDT" if expected == "east" else "ETHUSDT",
            )
        # halting one venue's scope cancels its orders only; the other venue quotes on
        system.kill("west maintenance", scope="venue:west")
        west = system.exchanges["west"]
        assert west.wait_until(lambda: not west.engine.open_orders("demo"), 10)
        assert system.gate.scope_state("venue:east") is TradingState.ACTIVE
        assert system.gate.state is TradingState.ACTIVE
        east = system.exchanges["east"]
        assert east.open_orders("demo"), "the east market maker's quotes stay"
    finally:
        summary = system.stop(timeout=10)
    assert summary.open_at_venue == 0  # both venues asked
