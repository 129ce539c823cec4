"""A system started again on its journal comes back with its orders, positions and kill
switch, and reconciles them with a venue that outlived it (both runtimes).

The venue is the test's own simulated exchange; the first system's session asks for no
cancel-on-disconnect and no dead-man's switch, so its orders stay open at the venue when
its tree dies without the orderly stop (which would cancel them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import pytest
from trading_helpers import (
    INSTRUMENT,
    MID,
    SECRET,
    SYMBOL,
    TAKER_SECRET,
    Taker,
    TradingEvents,
    config_for,
    resting_buy,
)

from tradeactors import cli
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.messages import (
    OrderUpdate,
    ReconciliationReport,
    Side,
    SubmitOrder,
    VenueStatus,
)
from tradeactors.core.risk import TradingState
from tradeactors.errors import ConfigError
from tradeactors.journal import JournalError, JournalReader
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

    monkeypatch.setenv("TRADEACTORS_TAKER_SECRET", TAKER_SECRET)

    def make(**sections) -> tuple[TradingSystem, TradingEvents]:
        execution = {
            "restart_delay": 0.01,
            "max_restart_delay": 0.05,
            "intensity": 20,
            "cancel_on_disconnect": False,
            "cancel_all_after": 0.0,
        }
        venue = sections.pop("venue", {})
        config = config_for(sim_venue, journal={"path": str(path)}, execution=execution, **sections)
        config = msgspec.structs.replace(
            config, venue=msgspec.structs.replace(config.venue, **venue)
        )
        system = TradingSystem(config)
        events = TradingEvents()
        system.subscribe(events)
        made.append(system)
        system.start(timeout=20)
        events.wait_for(VenueStatus, up=True)
        return system, events

    yield make, path
    for system in made:
        try:
            running = system.tree.running
        except RuntimeError:  # its start was refused
            continue
        if running:
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


def test_one_process_at_a_time_on_a_journal(systems, sim_venue, tmp_path):
    make, path = systems
    make()  # running: it holds the journal
    second = TradingSystem(config_for(sim_venue, journal={"path": str(path)}))
    with pytest.raises(JournalError, match=rf"journal {path}: in use by another process \(pid"):
        second.start(timeout=20)


def test_a_journal_of_another_account_or_venue_name_is_refused(systems, sim_venue):
    make, _path = systems
    first, events = make()
    resting_buy(first)
    events.wait_for(OrderUpdate, status="accepted")
    _sell_into(sim_venue, MID - 300, 1, "r")  # a fill: the journal has a position there
    events.wait_for(OrderUpdate, status="partially_filled")
    first.stop(timeout=10)
    taker = {"api_key": "taker", "secret_env": "TRADEACTORS_TAKER_SECRET"}
    with pytest.raises(ConfigError, match="as account 'sim demo'; this config trades 'sim taker'"):
        make(venue=taker)
    with pytest.raises(ConfigError, match="venue 'sim', which this config does not name"):
        make(venue={"name": "elsewhere"})


def test_orders_of_an_owner_that_does_not_run_any_more_are_cancelled(systems, sim_venue):
    make, _path = systems
    first, events = make()
    gone = "strategies/gone/strategy"  # no such actor: its updates go nowhere, logged
    order = SubmitOrder(
        client_order_id=first.new_order_id(), venue="sim", instrument=SYMBOL, side=Side.BUY,
        price=MID - 300, quantity=2, owner=gone,
    )  # fmt: skip
    first.submit(order)
    events.wait_for(OrderUpdate, client_order_id=order.client_order_id, status="accepted")
    _die(first)
    assert [o.client_order_id for o in sim_venue.open_orders(ACCOUNT)] == [order.client_order_id]
    _second, events = make()
    (cancelled,) = events.wait_for(
        OrderUpdate, client_order_id=order.client_order_id, status="cancelled"
    )
    assert cancelled.owner == gone
    assert sim_venue.open_orders(ACCOUNT) == []


def test_client_order_ids_never_repeat_across_restarts_even_with_the_clock_behind(
    systems, sim_venue
):
    import sqlite3
    import time

    make, path = systems
    first, events = make()
    resting_buy(first)
    events.wait_for(OrderUpdate, status="accepted")
    _die(first)
    day_ahead = time.time_ns() + 86_400 * 10**9  # as if the clock went back a day since
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE events SET time_ns = ? WHERE sequence = 1", (day_ahead,))
    db.close()
    ids = []
    for _ in range(2):  # twice: the floor must move even though the journal's last does not
        system, _events = make()
        ids.append(system.new_order_id())
        _die(system)
    prefixes = [i.rsplit("-", 1)[0] for i in ids]
    assert len(set(prefixes)) == 2
    assert all(_epoch(p) > day_ahead for p in prefixes)


def _epoch(prefix: str) -> int:
    return int(prefix.removeprefix("host"), 36)


def test_a_halted_strategy_added_again_after_the_restart_is_still_halted(systems, sim_venue):
    make, _path = systems
    first, _events = make()
    first.add_strategy("foo", "market_maker", params={"size": 1}, timeout=20)
    first.kill(reason="operator: foo misbehaves", scope="strategy:foo")
    _die(first)
    second, _events = make()  # foo is not configured: its scope waits for it
    assert "strategy:foo" not in second.gate.scopes()
    second.add_strategy("foo", "market_maker", params={"size": 1}, timeout=20)
    assert second.gate.scope_state("strategy:foo") is TradingState.HALTED
    (change,) = second.gate.history_of("strategy:foo")[-1:]
    assert change.reason == "recovered from the journal: operator: foo misbehaves"


def test_a_clean_stop_leaves_a_checkpoint_the_next_start_reads_from(systems, sim_venue):
    make, path = systems
    first, events = make()
    buy = resting_buy(first, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=buy, status="accepted")
    _sell_into(sim_venue, MID - 300, 2, "c")
    events.wait_for(OrderUpdate, client_order_id=buy, status="partially_filled")
    first.stop(timeout=10)
    with JournalReader(path) as reader:
        kinds = [e["kind"] for e in reader.events()]
    assert kinds[-1] == "checkpoint"  # after the positions, the last thing recorded
    second, _events = make()
    recovery = second.recovery
    assert recovery is not None
    assert recovery.checkpoint is not None
    assert (recovery.orders, recovery.fills) == ([], [])  # nothing after it to read
    assert (
        second.orders(timeout=5).positions
        == {SYMBOL: 2}
        == {SYMBOL: sim_venue.position(ACCOUNT, SYMBOL)}
    )
