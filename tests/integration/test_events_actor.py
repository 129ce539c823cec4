"""A host callback that blocks stalls only the events actor, never trading (both runtimes)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
from trading_helpers import SECRET, TradingEvents, config_for, resting_buy, wait_open_at_venue

from tradeactors.core.messages import OrderUpdate, VenueStatus
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision


def test_a_blocked_subscriber_does_not_stall_the_order_manager(sim_venue: SimExchange, monkeypatch):
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    system = TradingSystem(config_for(sim_venue))
    events = TradingEvents()
    system.subscribe(events)
    blocked, release = threading.Event(), threading.Event()

    def slow(event: Any) -> None:
        if isinstance(event, OrderUpdate) and not blocked.is_set():
            blocked.set()
            release.wait(20)  # a host callback that hangs

    system.start(timeout=20)
    try:
        events.wait_for(VenueStatus, up=True)
        system.subscribe(slow)
        first = resting_buy(system)
        assert blocked.wait(10), "the callback was never called"
        # the callback hangs; trading goes on: two more orders reach the venue and the
        # order manager answers
        second, third = resting_buy(system), resting_buy(system)
        assert wait_open_at_venue(sim_venue, lambda n: n == 3, timeout=10)
        report = system.orders(timeout=5)
        assert {first, second, third} <= {o.client_order_id for o in report.orders}
        # nothing was lost behind the hung callback: released, the host hears it all
        assert not events.of(OrderUpdate, client_order_id=third, status="accepted")
        release.set()
        events.wait_for(OrderUpdate, client_order_id=third, status="accepted")
    finally:
        release.set()
        system.stop(timeout=10)
