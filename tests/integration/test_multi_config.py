"""`config/multi.toml` as shipped: three strategies on two instruments of the simulator.

Each market maker quotes its own instrument (its orders carry it, tagged with its own
client-order-id prefix), both books sync from one feed, the tree has one supervisor per
strategy, and the stop leaves nothing open at the venue (both runtimes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from trading_helpers import TradingEvents

from tradeactors._run import _summary_lines
from tradeactors.config import load_config
from tradeactors.core.messages import OrderUpdate, VenueStatus
from tradeactors.trading.system import TradingSystem

pytestmark = pytest.mark.supervision

MULTI = Path(__file__).resolve().parents[2] / "config" / "multi.toml"


def test_the_shipped_multi_config_runs_each_strategy_on_its_instruments():
    config = load_config(MULTI)
    assert [s.name for s in config.all_strategies] == ["mm_btc", "mm_eth", "wide_btc"]
    system = TradingSystem(config)
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    try:
        events.wait_for(VenueStatus, up=True)
        assert set(system.exchange.instruments) == {"BTCUSDT", "ETHUSDT"}  # one venue, both
        assert {c.name for c in system.tree.children("strategies")} == {
            "mm_btc",
            "mm_eth",
            "wide_btc",
        }
        for tag, symbol in (("mmbt", "BTCUSDT"), ("mmet", "ETHUSDT")):
            assert events.wait_until(
                lambda tag=tag: any(
                    u.client_order_id.startswith(tag) and u.status == "accepted"
                    for u in events.of(OrderUpdate)
                ),
                timeout=15,
            ), f"{tag} never quoted"
            mine = [u for u in events.of(OrderUpdate) if u.client_order_id.startswith(tag)]
            assert {u.instrument for u in mine} == {symbol}
        status = system.status()
        assert status.venues == {"sim": True}
    finally:
        summary = system.stop(timeout=10)
    assert summary.open_at_venue == 0
    # the run's summary names every strategy: in the table, or as one with no fill
    lines = _summary_lines(system, summary, interrupted=False)
    assert lines[0].startswith("\ndone: ")
    assert "position" not in lines[0]  # several instruments: positions are in the table
    text = "\n".join(lines[1:])
    for name in ("mm_btc", "mm_eth", "wide_btc"):
        assert name in text
