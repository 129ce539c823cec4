"""The journal's file: round trip, decimal text, schema refusal, corruption, unwritable."""

from __future__ import annotations

import sqlite3

import pytest

from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.messages import (
    OrderFilled,
    OrderSubmitted,
    OrderUpdate,
    ReconciliationReport,
    Side,
    SubmitOrder,
    TimeInForce,
    UnknownOrderFilled,
)
from tradeactors.core.orders import OrderStatus
from tradeactors.core.risk import TradingState
from tradeactors.journal import (
    SCHEMA_VERSION,
    Filters,
    JournalCorruptError,
    JournalError,
    JournalReader,
    JournalUnavailableError,
    JournalVersionError,
    JournalWriter,
    PositionsRecorded,
)

BTC = Instrument(venue="sim", symbol="BTCUSDT", tick_size="0.01", lot_size="0.001")
OWNER = "strategies/mm/strategy"


def update(cid="o1", status=OrderStatus.ACCEPTED, filled=0, **fields):
    base = {
        "client_order_id": cid,
        "venue": "sim",
        "instrument": "BTCUSDT",
        "side": Side.BUY,
        "price": 10_000_012,
        "quantity": 1500,
        "status": status,
        "filled": filled,
        "owner": OWNER,
    }
    return OrderUpdate(**{**base, **fields})


def fill(cid="o1", filled=500, quantity=500, execution_id=1, **fields):
    status = OrderStatus.FILLED if filled == 1500 else OrderStatus.PARTIALLY_FILLED
    return update(
        cid,
        status,
        filled,
        fill_quantity=quantity,
        fill_price=10_000_012,
        execution_id=execution_id,
        **fields,
    )


def strategy_of(owner):
    return owner.split("/")[1] if owner.startswith("strategies/") else None


@pytest.fixture
def writer(tmp_path):
    journal = JournalWriter(
        tmp_path / "j.sqlite",
        clock=FakeClock(),
        instruments={"BTCUSDT": BTC},
        strategy_of=strategy_of,
    )
    yield journal
    journal.close()


def test_a_batch_reads_back_in_order_with_the_venues_decimal_text(writer):
    change = KillSwitchChanged(
        previous=TradingState.ACTIVE,
        state=TradingState.HALTED,
        source=TripSource.MANUAL.value,
        reason="operator: lunch",
        timestamp_ns=5,
        scope="strategy:mm",
    )
    report = ReconciliationReport(
        venue="sim",
        missed_fills=1,
        duplicate_fills=0,
        closed=("o9",),
        unknown_at_venue=(),
        closed_here_open_there=(),
        timestamp_ns=6,
    )
    commit = writer.append(
        [(1, update()), (2, fill()), (3, fill(filled=1500, quantity=1000, execution_id=2))]
    )
    writer.append([(4, change), (7, report)])
    assert (commit.events, writer.commits, writer.events) == (3, 2, 5)
    with JournalReader(writer.path) as reader:
        (order,) = reader.orders()
        fills = reader.fills()
        events = reader.events()
    assert order["client_order_id"] == "o1"
    assert (order["owner"], order["strategy"], order["side"]) == (OWNER, "mm", "buy")
    assert (order["price"], order["quantity"]) == ("100000.12", "1.500")
    assert (order["price_ticks"], order["quantity_lots"]) == (10_000_012, 1500)
    assert (order["status"], order["filled_lots"], order["first_seen_ns"]) == ("filled", 1500, 1)
    assert [(f["fill_quantity"], f["fill_price"], f["execution_id"]) for f in fills] == [
        ("0.500", "100000.12", "1"),
        ("1.000", "100000.12", "2"),
    ]
    assert [e["kind"] for e in events] == [
        "order_update",
        "fill",
        "fill",
        "kill_switch",
        "reconciliation",
    ]
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)
    ks = events[3]
    assert (ks["scope"], ks["state"], ks["source"], ks["reason"]) == (
        "strategy:mm",
        "halted",
        "manual",
        "operator: lunch",
    )
    assert ks["payload"]["type"] == "KillSwitchChanged"
    assert events[4]["detail"].startswith("missed_fills=1 ")
    assert events[1]["payload"]["execution_id"] == 1


def test_a_denial_is_recorded_with_its_reason_and_detail(writer):
    writer.append(
        [(1, update("d1", OrderStatus.DENIED, reason="max_position", detail="strategy mm"))]
    )
    with JournalReader(writer.path) as reader:
        (event,) = reader.events()
        (order,) = reader.orders(Filters(status="denied"))
    assert (event["kind"], event["reason"], event["detail"]) == (
        "denial",
        "max_position",
        "strategy mm",
    )
    assert order["client_order_id"] == "d1"


def test_filters_keep_the_strategy_instrument_time_and_status_asked(writer):
    writer.append(
        [
            (10, update("a")),
            (20, update("b", owner="")),
            (30, update("c", instrument="ETHUSDT")),
            (40, fill("a")),
        ]
    )
    with JournalReader(writer.path) as reader:
        assert [o["client_order_id"] for o in reader.orders(Filters(strategy="mm"))] == ["a", "c"]
        assert [o["client_order_id"] for o in reader.orders(Filters(instrument="ETHUSDT"))] == ["c"]
        assert [o["client_order_id"] for o in reader.orders(Filters(since_ns=15, until_ns=30))] == [
            "b",
            "c",
        ]
        assert [
            o["client_order_id"] for o in reader.orders(Filters(status="partially_filled"))
        ] == ["a"]
        assert len(reader.events(Filters(since_ns=40))) == 1
        assert reader.fills(Filters(strategy="nobody")) == []


def test_a_batch_is_all_or_nothing(writer):
    with pytest.raises(TypeError, match="does not record"):
        writer.append([(1, update("x")), (2, object())])
    with JournalReader(writer.path) as reader:
        assert reader.events() == []


def test_a_newer_schema_version_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "j.sqlite"
    JournalWriter(path, clock=FakeClock()).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    db.close()
    with pytest.raises(JournalVersionError, match=rf"journal {path}: schema version '2'"):
        JournalWriter(path, clock=FakeClock())
    with pytest.raises(JournalVersionError):
        JournalReader(path)


def test_a_corrupted_file_is_an_error_naming_it_and_never_recreated(tmp_path):
    path = tmp_path / "j.sqlite"
    garbage = b"this is not an sqlite file at all" * 200
    path.write_bytes(garbage)
    with pytest.raises(JournalCorruptError, match=rf"journal {path}: .*file is not a database"):
        JournalWriter(path, clock=FakeClock())
    assert path.read_bytes() == garbage


def test_another_sqlite_database_is_not_taken_for_a_journal(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(JournalError, match="not a tradeactors journal"):
        JournalWriter(path, clock=FakeClock())


def test_a_missing_file_is_not_made_by_a_reader(tmp_path):
    with pytest.raises(JournalError, match="no such file"):
        JournalReader(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()


def test_a_read_only_journal_refuses_a_batch(tmp_path):
    path = tmp_path / "j.sqlite"
    JournalWriter(path, clock=FakeClock()).close()
    writer = JournalWriter(path, clock=FakeClock(), read_only=True)
    try:
        with pytest.raises(JournalUnavailableError, match="readonly"):
            writer.append([(1, update())])
    finally:
        writer.close()


def test_a_full_journal_refuses_a_batch_and_keeps_what_was_committed(tmp_path):
    path = tmp_path / "j.sqlite"
    writer = JournalWriter(path, clock=FakeClock(), max_page_count=8)
    try:
        writer.append([(1, update("kept"))])
        big = [(2, update(f"o{i}", detail="x" * 500)) for i in range(200)]
        with pytest.raises(JournalUnavailableError, match="full"):
            writer.append(big)
    finally:
        writer.close()
    with JournalReader(path) as reader:
        assert [o["client_order_id"] for o in reader.orders()] == ["kept"]


def test_positions_are_recorded_for_verify(writer):
    writer.append([(1, PositionsRecorded(positions={"BTCUSDT": 3}, timestamp_ns=9))])
    with JournalReader(writer.path) as reader:
        (event,) = reader.events()
    assert (event["kind"], event["time_ns"], event["payload"]["positions"]) == (
        "positions",
        9,
        {"BTCUSDT": 3},
    )


def _verdicts(path):
    with JournalReader(path) as reader:
        return {check.name: check.verdict for check in reader.verify()}


def test_an_order_amended_up_and_filled_past_its_first_quantity_verifies(writer):
    amended_fill = update(
        status=OrderStatus.PARTIALLY_FILLED, filled=1800, quantity=2000,
        fill_quantity=1800, fill_price=10_000_012, execution_id=1,
    )  # fmt: skip
    writer.append([(1, update()), (2, update(quantity=2000)), (3, amended_fill)])
    assert _verdicts(writer.path)["filled_within_quantity"] == "PASS"
    writer.append([(4, update(status=OrderStatus.FILLED, filled=2100, quantity=2000))])
    assert _verdicts(writer.path)["filled_within_quantity"] == "FAIL"


def test_a_submitted_order_and_a_fill_of_an_unknown_order_are_recorded(writer):
    order = SubmitOrder(
        client_order_id="o9", venue="sim", instrument="BTCUSDT", side=Side.SELL,
        price=10_000_012, quantity=1500, owner=OWNER, tif=TimeInForce.IOC,
    )  # fmt: skip
    foreign = OrderFilled(
        venue="sim", instrument="BTCUSDT", client_order_id="elsewhere-1", order_id=4,
        execution_id=7, side=Side.SELL, price=10_000_000, quantity=200, remaining=0,
    )  # fmt: skip
    writer.append(
        [
            (1, OrderSubmitted(order=order, timestamp_ns=5)),
            (2, UnknownOrderFilled(fill=foreign, timestamp_ns=6)),
            (3, PositionsRecorded(positions={"BTCUSDT": -200}, timestamp_ns=7)),
        ]
    )
    with JournalReader(writer.path) as reader:
        (row,) = reader.orders()
        (fill_row,) = reader.fills()
    assert (row["client_order_id"], row["status"], row["tif"], row["strategy"]) == (
        "o9",
        "pending",
        "ioc",
        "mm",
    )
    assert (fill_row["client_order_id"], fill_row["side"], fill_row["fill_quantity"]) == (
        "elsewhere-1",
        "sell",
        "0.200",
    )
    verdicts = _verdicts(writer.path)
    assert verdicts["fills_of_known_orders"] == "FAIL"  # worth a look
    assert verdicts["positions_equal_sum_of_fills"] == "PASS"  # it moved the position


def test_one_process_holds_a_journal_and_its_lock_file_goes_with_it(tmp_path):
    import os

    from tradeactors.journal import JournalLock

    path = tmp_path / "j.sqlite"
    held = JournalLock(path)
    assert held.path.read_text() == f"{os.getpid()}\n"
    # another open file description of the lock (as another process has): refused
    with pytest.raises(JournalError, match=rf"in use by another process \(pid {os.getpid()}\)"):
        JournalLock(path)
    held.release()
    assert not held.path.exists()
    again = JournalLock(path)  # free again
    again.release()
    again.release()  # idempotent
