"""Several strategies in one tree, each under its own supervisor (both runtimes).

One that crash-loops past its own intensity is stopped and its orders cancelled; the
other keeps trading, untouched: not restarted, none of its orders denied or cancelled,
the kill switch still ACTIVE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import pytest
from trading_helpers import INSTRUMENT, MID, SECRET, Taker, TradingEvents, config_for

from tradeactors.config import Config, StrategyConfig, StrategyEntryConfig
from tradeactors.core.messages import OrderUpdate, VenueStatus
from tradeactors.core.risk import TradingState
from tradeactors.supervision import ActorExited
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

CRASHY = "strategies/crashy/strategy"


def _of(events: TradingEvents, tag: str, **fields: object) -> list[OrderUpdate]:
    """The updates of the strategy whose client order ids start with ``tag``."""
    return [u for u in events.of(OrderUpdate, **fields) if u.client_order_id.startswith(tag)]


@pytest.fixture
def system(sim_venue: SimExchange, monkeypatch):
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    config = msgspec.structs.replace(
        config_for(sim_venue),
        strategy=StrategyConfig(),
        strategies=(
            StrategyEntryConfig(name="healthy", class_="multi_strategies:Bidder"),
            StrategyEntryConfig(
                name="crashy", class_="multi_strategies:CrashLoop", intensity=2, period=30.0
            ),
        ),
    )
    system = TradingSystem(msgspec.convert(msgspec.to_builtins(config), Config))  # checked
    events = TradingEvents()
    system.subscribe(events)
    supervision: list[object] = []
    system.start(timeout=20)
    system.tree.subscribe(supervision.append)
    events.wait_for(VenueStatus, up=True)
    try:
        yield system, events, supervision
    finally:
        system.stop(timeout=10)


def test_a_crash_looping_strategy_is_stopped_alone_and_the_other_keeps_trading(system, sim_venue):
    system, events, supervision = system
    # The crashing strategy: each incarnation rests a bid and crashes; the third crash
    # is past its intensity (2): its supervisor gives up, and its bids are cancelled.
    assert sim_venue.wait_until(
        lambda: "crashy" not in {c.name for c in system.tree.children("strategies")}, 15
    ), "the crashing strategy's supervisor should have given up"
    crashes = [e for e in supervision if isinstance(e, ActorExited) and e.path == CRASHY]
    assert len(crashes) >= 2  # (the first may come before the subscription)
    assert len(_of(events, "cras", status="accepted")) == 3
    assert sim_venue.wait_until(
        lambda: (
            not [
                o
                for o in sim_venue.engine.open_orders("demo")
                if o.client_order_id.startswith("cras")
            ]
        ),
        10,
    ), "the stopped strategy's orders should be cancelled at the venue"
    # The healthy one: the same incarnation, its bid resting all along, and it trades.
    (healthy,) = system.tree.children("strategies/healthy")
    assert (healthy.incarnation, healthy.restarts) == (1, 0)
    taker = Taker(sim_venue)
    try:
        taker.request(
            "place", client_order_id="t1", side="sell", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(MID - 10), quantity=INSTRUMENT.format_size(1),
        )  # fmt: skip
    finally:
        taker.close()
    events.wait_for(OrderUpdate, status="filled", timeout=10)
    (fill,) = _of(events, "heal", status="filled")
    assert fill.fill_quantity == 1
    assert _of(events, "heal", status="accepted")  # and its next bid after the fill
    bad = [u for u in _of(events, "heal") if u.status in ("denied", "cancelled", "rejected")]
    assert bad == []
    assert system.gate.state is TradingState.ACTIVE
