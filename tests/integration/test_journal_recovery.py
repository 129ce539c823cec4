"""A system started again on its journal comes back with its orders, positions and kill
switch, and reconciles them with a venue that outlived it (both runtimes).

The venue is the test's own simulated exchange; the first system's session asks for no
cancel-on-disconnect and no dead-man's switch, so its orders stay open at the venue when
its tree dies without the orderly stop (which would cancel them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from trading_helpers import (
    INSTRUMENT,
    MID,
    SECRET,
    SYMBOL,
    Taker,
    TradingEvents,
    config_for,
    resting_buy,
)

from tradeactors import cli
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.messages import OrderUpdate, ReconciliationReport, VenueStatus
from tradeactors.core.risk import TradingState
from tradeactors.errors import ConfigError
from tradeactors.journal import JournalReader
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from pathlib import Path

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

ACCOUNT = "demo"


def _sell_into(venue: SimExchange, price: int, lots: int, tag: str) -> None:
    taker = Taker(venue)
    try:
        taker.request(
            "place", client_order_id=f"t{tag}", side="sell", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(price), quantity=INSTRUMENT.format_size(lots),
        )  # fmt: skip
    finally:
        taker.close()


@pytest.fixture
def systems(sim_venue: SimExchange, monkeypatch, tmp_path):
    """Make systems on one journal; each is stopped (or its tree) when the test ends."""
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    path = tmp_path / "journal.sqlite"
    made: list[TradingSystem] = []

    def make(**sections) -> tuple[TradingSystem, TradingEvents]:
        execution = {
            "restart_delay": 0.01,
            "max_restart_delay": 0.05,
            "intensity": 20,
            "cancel_on_disconnect": False,
            "cancel_all_after": 0.0,
        }
        config = config_for(sim_venue, journal={"path": str(path)}, execution=execution, **sections)
        system = TradingSystem(config)
        events = TradingEvents()
        system.subscribe(events)
        made.append(system)
        system.start(timeout=20)
        events.wait_for(VenueStatus, up=True)
        return system, events

    yield make, path
    for system in made:
        if system.tree.running:
            system.stop(timeout=10)


def _die(system: TradingSystem) -> None:
    """The tree goes without the orderly stop: nothing is cancelled, the session drops."""
    system.tree.stop(timeout=10)
    system._close_venue()  # its clock's thread (the venue is the test's)


def test_a_restarted_system_recovers_its_orders_positions_and_state_from_the_journal(
    systems, sim_venue, capsys
):
    make, path = systems
    first, events = make()
    filled = resting_buy(first, quantity=5)
    resting = resting_buy(first, quantity=3)
    events.wait_for(OrderUpdate, client_order_id=resting, status="accepted")
    _sell_into(sim_venue, MID - 300, 2, "a")  # 2 of the first bid (time priority)
    events.wait_for(OrderUpdate, client_order_id=filled, status="partially_filled")
    before = first.orders(timeout=5)
    _die(first)
    assert len(sim_venue.open_orders(ACCOUNT)) == 2  # both bids still work at the venue
    _sell_into(sim_venue, MID - 300, 1, "b")  # a fill while no process runs

    second, events = make()
    recovery = second.recovery
    assert recovery is not None
    assert sorted(o.client_order_id for o in recovery.open_orders()) == sorted([filled, resting])
    (report,) = events.wait_for(ReconciliationReport)
    # nothing at the venue unknown, the fill made meanwhile fetched once, nothing closed
    assert (report.unknown_at_venue, report.closed, report.missed_fills) == ((), (), 1)
    after = second.orders(timeout=5)
    open_here = {o.client_order_id: o for o in after.orders if o.status.open}
    assert set(open_here) == {filled, resting}
    assert open_here[filled].filled == 3
    assert after.positions == {SYMBOL: 3} == {SYMBOL: sim_venue.position(ACCOUNT, SYMBOL)}
    assert before.positions == {SYMBOL: 2}
    assert after.fills == 2  # the first, recovered, and the one made meanwhile
    assert second.gate.state is TradingState.ACTIVE
    assert len(sim_venue.open_orders(ACCOUNT)) == 2  # known: not cancelled as unknown
    summary = second.stop(timeout=10)
    assert summary.open_at_venue == 0
    assert cli.main(["journal", "verify", "--journal", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PASS  positions_equal_sum_of_fills: {'BTCUSDT': 3}, from 2 fills" in out
    assert "PASS  execution_ids_unique: 2 execution ids" in out


def test_a_halted_switch_is_still_halted_but_a_shutdown_is_not_kept(systems, sim_venue):
    make, _path = systems
    first, _events = make()
    first.kill(reason="operator halt")
    _die(first)
    second, events = make()
    assert second.gate.state is TradingState.HALTED
    (restored,) = events.of(KillSwitchChanged)
    assert (restored.source, restored.scope) == (TripSource.MANUAL.value, "all")
    assert restored.reason == "recovered from the journal: operator halt"
    second.reset(by="test", reason="looked at it")
    second.stop(timeout=10)  # the orderly stop trips HALTED (shutdown): not taken back
    third, _events = make()
    assert third.gate.state is TradingState.ACTIVE


def test_a_journal_is_not_recovered_against_a_venue_born_empty(systems, tmp_path):
    make, path = systems
    first, events = make()
    resting_buy(first)
    events.wait_for(OrderUpdate, status="accepted")
    _die(first)
    embedded = config_for_embedded(path)
    system = TradingSystem(embedded)
    with pytest.raises(ConfigError, match="started empty with this process"):
        system.start(timeout=20)
    with JournalReader(path) as reader:  # untouched
        assert [o["status"] for o in reader.orders()] == ["accepted"]


def config_for_embedded(path: Path):
    import msgspec

    from tradeactors.config import Config

    return msgspec.convert({"journal": {"path": str(path)}, "strategy": {"name": "none"}}, Config)
