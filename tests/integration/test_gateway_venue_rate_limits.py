"""The gateway keeps within the venue's own rate limits, never walking into a refusal.

Against the simulated exchange speaking Binance with small limits (its exchangeInfo
states them; its replies count them), over real sockets: the budget is cut to the
short windows at start, and a count nearing a long window's limit stops new orders
until the window ends. What cannot be sent is rejected ``throttled``, never dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import structlog
from trading_helpers import INSTRUMENT, SECRET, TradingEvents, config_for, resting_buy

from tradeactors.clock import SystemClock
from tradeactors.core.messages import OrderStatus, OrderUpdate, VenueStatus
from tradeactors.exchange.binance_api import RateLimits
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.server import SimExchange
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.supervision


@pytest.fixture
def start(monkeypatch) -> Iterator[Callable[..., tuple[SimExchange, TradingSystem, Any, list]]]:
    """Start a Binance-speaking venue with ``limits`` and a system trading at it."""
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    clock = SystemClock()
    venues: list[SimExchange] = []
    systems: list[TradingSystem] = []
    with structlog.testing.capture_logs() as logs:

        def start(limits: RateLimits) -> tuple[SimExchange, TradingSystem, Any, list]:
            venue = SimExchange(
                INSTRUMENT,
                clock,
                seed=7,
                interval=0.02,
                keys={"demo": SECRET},
                liquidity=LiquidityConfig(
                    limit_rate=0, cancel_rate=0, market_rate=0, depth_ticks=0
                ),
                protocol="binance",
                binance_limits=limits,
            ).start()
            venues.append(venue)
            config = config_for(venue, execution={"refresh": 0.1})
            config = msgspec.structs.replace(
                config, venue=msgspec.structs.replace(config.venue, kind="binance")
            )
            system = TradingSystem(config)
            systems.append(system)
            events = TradingEvents()
            system.subscribe(events)
            system.start(timeout=20)
            events.wait_for(VenueStatus, up=True)
            return venue, system, events, logs

        try:
            yield start
        finally:
            for system in systems:
                if system.tree.running:
                    system.stop(timeout=10)
            for venue in venues:
                venue.close()
            clock.close()


def test_the_budget_is_cut_to_the_venue_s_short_window_at_start(start):
    # 4 orders per 10 s: one at once, then one every 3.3 s (1 + 0.3 x 10 <= 4)
    venue, system, events, logs = start(RateLimits(orders_per_10_seconds=4))
    (budget,) = [e for e in logs if e["event"] == "gateway_budget"]
    assert (budget["order_burst"], budget["order_rate"]) == (1, 0.3)
    assert (budget["configured_rate"], budget["configured_burst"]) == (40.0, 80)
    assert "4 orders per 10 s" in budget["venue_limits"]
    assert budget["follows_venue_counts"]

    first, second, third = resting_buy(system), resting_buy(system), resting_buy(system)
    events.wait_for(OrderUpdate, client_order_id=first, status=OrderStatus.ACCEPTED)
    for cid in (second, third):  # refused here, with a reason: never sent, never lost
        events.wait_for(OrderUpdate, client_order_id=cid, status="rejected", reason="throttled")
    assert venue.requests("demo", "place") == 1
    assert not events.of(OrderUpdate, reason="rate_limited")  # the venue never had to say no
    assert system.stop(timeout=10).clean


def test_a_reported_count_near_the_limit_stops_new_orders_until_its_window_ends(start):
    # 2 orders a day: a day is no window for a bucket; the replies' counts keep it
    venue, system, events, logs = start(RateLimits(orders_per_day=2))
    (budget,) = [e for e in logs if e["event"] == "gateway_budget"]
    assert budget["order_burst"] == 12  # the 10 s window's (50), not the day's
    first = resting_buy(system)
    events.wait_for(OrderUpdate, client_order_id=first, status=OrderStatus.ACCEPTED)

    def near() -> list[dict]:
        return [e for e in logs if e["event"] == "venue_rate_limit_near"]

    # the reply said 1 of 2 used: within a tenth (at least one) of the limit. Re-checked
    # at each request the venue takes (the gateway's heartbeat, every 0.1 s)
    assert venue.wait_until(lambda: bool(near()), timeout=10)
    (said,) = near()
    assert (said["kind"], said["used"], said["limit"], said["window_seconds"]) == (
        "orders",
        1,
        2,
        86_400,
    )
    assert 0 < said["no_new_orders_for"] <= 86_400  # until UTC midnight
    second = resting_buy(system)
    events.wait_for(OrderUpdate, client_order_id=second, status="rejected", reason="throttled")
    assert venue.requests("demo", "place") == 1
    # cancels still go: the limit is on new orders
    system.cancel(first)
    events.wait_for(OrderUpdate, client_order_id=first, status=OrderStatus.CANCELLED)
    assert system.stop(timeout=10).clean
