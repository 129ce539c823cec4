"""`tradeactors top` against a running trading tree's Prometheus endpoint."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry
from rich.console import Console
from trading_helpers import TradingEvents

from tradeactors.config import Config
from tradeactors.core.messages import OrderUpdate, VenueStatus
from tradeactors.observability import serve_metrics
from tradeactors.top import actor_rows, fetch_snapshot, run_top
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tradeactors.observability import MetricsServer

pytestmark = pytest.mark.supervision

PATHS = (
    "killswitch",
    "execution/order_manager",
    "execution/gateway.sim",
    "risk",
    "market_data/feed.sim",
    "market_data/book.BTCUSDT",
    "strategies/market_maker/strategy",
)
ORDER_MANAGER = "execution/order_manager"

Running = tuple[TradingSystem, TradingEvents, "MetricsServer"]


@pytest.fixture
def running() -> Iterator[Running]:
    """The default config (embedded exchange, market maker), its metrics served, venue up."""
    registry = CollectorRegistry()
    system = TradingSystem(Config(), registry=registry)
    events = TradingEvents()
    unsubscribe = system.subscribe(events)
    system.start(timeout=30)
    try:
        server = serve_metrics(registry, port=0)
        try:
            events.wait_for(VenueStatus, venue="sim", up=True, timeout=20)
            yield system, events, server
        finally:
            server.close()
    finally:
        unsubscribe()
        system.stop()


def frame(url: str) -> str:
    """One ``tradeactors top --once`` frame, as text."""
    console = Console(record=True, width=160, file=io.StringIO())
    assert run_top(url, interval=0.2, once=True, console=console) == 0
    return console.export_text()


def row(text: str, path: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.split()[:1] == [path])


def test_top_shows_the_running_tree_then_the_kill_switch_halted(running):
    system, _, server = running
    text = frame(server.url)
    for path in ("/", "execution", "market_data", "strategies", *PATHS):
        assert row(text, path)[1] == "up", text
    assert "kill switch ACTIVE" in text
    assert "venues sim up" in text
    assert "positions" in text
    system.kill("x")
    text = frame(server.url)
    assert "kill switch HALTED" in text
    assert "venues sim up" in text
    assert row(text, "execution/gateway.sim")[1] == "up"


def test_rates_and_latencies_come_from_the_traffic_between_two_scrapes(running):
    system, events, server = running
    before = fetch_snapshot(server.url)
    seen = len(events.of(OrderUpdate))
    events.wait_for(OrderUpdate, count=seen + 2, timeout=20)  # the market maker requotes
    # The order manager counts a message once its handler returned: an ask answered
    # after the updates means the messages that made them are counted.
    system.orders()
    after = fetch_snapshot(server.url)
    rows = {r.path: r for r in actor_rows(before, after)}
    manager = rows[ORDER_MANAGER]
    assert manager.rate is not None
    assert manager.rate > 0
    assert manager.handler_p99 is not None
    assert manager.handler_p99.recent
    assert manager.wait_p99 is not None
    assert set(PATHS) <= set(rows)
    assert all(r.up for r in rows.values())
    assert all(r.restarts == 0 for r in rows.values())
    assert rows["/"].supervisor
    assert not rows[ORDER_MANAGER].supervisor
