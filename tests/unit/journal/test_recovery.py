"""Recovery from a journal: what `read_recovery` reads back and `restore` rebuilds, and the
records it refuses (naming the file and the event) rather than recover nonsense."""

from __future__ import annotations

import sqlite3

import pytest

from tradeactors.clock import FakeClock
from tradeactors.core.execution import OrderStore
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.messages import (
    OrderFilled,
    OrderSubmitted,
    OrderUpdate,
    Side,
    SubmitOrder,
    UnknownOrderFilled,
)
from tradeactors.core.orders import OrderStatus
from tradeactors.core.risk import TradingState
from tradeactors.journal import (
    JournalCorruptError,
    JournalWriter,
    checkpoint_of,
    read_recovery,
    restore,
)

OWNER = "strategies/mm/strategy"


def order(cid: str, side: Side = Side.BUY, price: int = 1000, quantity: int = 10) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=cid, venue="sim", instrument="BTCUSDT", side=side, price=price,
        quantity=quantity, owner=OWNER,
    )  # fmt: skip


def update(request: SubmitOrder, status: OrderStatus, filled: int = 0, **fields) -> OrderUpdate:
    return OrderUpdate(
        client_order_id=request.client_order_id, venue=request.venue,
        instrument=request.instrument, side=request.side,
        price=fields.pop("price", request.price), quantity=request.quantity, status=status,
        filled=filled, owner=request.owner, **fields,
    )  # fmt: skip


def change(state, source, reason, scope="all", previous=TradingState.ACTIVE):
    return KillSwitchChanged(
        previous=previous, state=state, source=source, reason=reason, timestamp_ns=1, scope=scope
    )


@pytest.fixture
def path(tmp_path):
    return tmp_path / "journal.sqlite"


def write(path, *records) -> None:
    writer = JournalWriter(path, clock=FakeClock())
    try:
        writer.append([(n, record) for n, record in enumerate(records, start=1)])
    finally:
        writer.close()


def test_orders_fills_positions_and_the_kill_switch_come_back(path):
    buy, sell = order("b1"), order("s1", Side.SELL, price=1100, quantity=5)
    foreign = OrderFilled(
        venue="sim", instrument="BTCUSDT", client_order_id="x", order_id=9, execution_id=3,
        side=Side.BUY, price=900, quantity=2, remaining=0,
    )  # fmt: skip
    write(
        path,
        OrderSubmitted(order=buy, timestamp_ns=1),
        update(buy, OrderStatus.ACCEPTED),
        update(
            buy, OrderStatus.PARTIALLY_FILLED, 4, fill_quantity=4, fill_price=1000, execution_id=1
        ),
        OrderSubmitted(order=sell, timestamp_ns=2),
        update(sell, OrderStatus.ACCEPTED),
        update(sell, OrderStatus.ACCEPTED, price=1200),  # amended: its new price
        update(
            sell,
            OrderStatus.FILLED,
            5,
            price=1200,
            fill_quantity=5,
            fill_price=1200,
            execution_id=2,
        ),
        UnknownOrderFilled(fill=foreign, timestamp_ns=3),
        update(order("d1"), OrderStatus.DENIED, reason="max_position"),  # never tracked
        change(TradingState.HALTED, "manual", "operator", scope="venue:sim"),
        change(TradingState.HALTED, "strategy_removed", "removed", scope="strategy:old"),
        change(TradingState.REDUCING, "risk", "loss"),
        change(TradingState.HALTED, "shutdown", "shutdown", previous=TradingState.REDUCING),
        update(order("d2"), OrderStatus.DENIED, reason="venue_down"),  # not risk's to count
    )
    recovery = read_recovery(path)
    assert recovery.denials == [(OWNER, 9)]  # risk's own, with its owner and time
    assert [(o.client_order_id, s, f) for o, s, f in recovery.orders] == [
        ("b1", OrderStatus.PARTIALLY_FILLED, 4),
        ("s1", OrderStatus.FILLED, 5),
    ]
    assert recovery.orders[1][0].price == 1200  # the terms after the amend
    assert [o.client_order_id for o in recovery.open_orders()] == ["b1"]
    assert [(f.client_order_id, f.execution_id, f.owner) for f in recovery.fills] == [
        ("b1", 1, OWNER),
        ("s1", 2, OWNER),
        ("x", 3, None),
    ]
    # the shutdown's trip and the removed strategy's fence are not taken back
    assert [(s.scope, s.state, s.source) for s in recovery.kill_switch] == [
        ("venue:sim", TradingState.HALTED, "manual"),
        ("all", TradingState.REDUCING, "risk"),
    ]

    store = OrderStore()
    restore(store, recovery)
    assert store.orders["b1"].request.owner == OWNER
    assert store.orders["b1"].order.filled == 4
    position = store.ledger.position("BTCUSDT")
    assert position.net == 4 - 5 + 2
    # 4 bought at 1000 and sold at 1200; then 1 short at 1200 bought back at 900
    assert position.realized == 4 * (1200 - 1000) + 1 * (1200 - 900)
    assert position.average_price == 900  # the long lot left
    assert store.owner_positions[(OWNER, "BTCUSDT")].net == -1
    assert store.owner_positions[(None, "BTCUSDT")].net == 2
    assert store.last_execution_id("sim") == 3  # the watermark the reconciliation starts at
    assert store.fills == 3
    assert not store.record_execution("sim", 2)  # applied once: a repeat is a duplicate


def test_an_empty_journal_recovers_nothing_and_a_full_store_is_not_restored_into(path):
    write(path)
    recovery = read_recovery(path)
    assert recovery.empty
    store = OrderStore()
    # sent, and nothing more recorded (the process died before the venue answered)
    write(path, OrderSubmitted(order=order("b1"), timestamp_ns=1))
    recovery = read_recovery(path)
    assert [(o.client_order_id, s) for o, s, _f in recovery.orders] == [("b1", OrderStatus.PENDING)]
    restore(store, recovery)
    assert store.orders["b1"].order.status is OrderStatus.PENDING
    with pytest.raises(ValueError, match="not empty"):
        restore(store, recovery)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("quantity", 10**60, "quantity"),  # 60 digits
        ("price", -5, "price"),
        ("filled", 11, "filled 11 of a quantity of 10"),
        ("status", "exploded", "exploded"),
    ],
)
def test_a_record_that_cannot_be_true_is_an_error_naming_the_file_and_the_event(
    path, field, value, says
):
    buy = order("b1")
    write(path, OrderSubmitted(order=buy, timestamp_ns=1), update(buy, OrderStatus.ACCEPTED))
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "UPDATE events SET payload = json_set(payload, ?, ?) WHERE sequence = 2",
            (f"$.{field}", value if field != "quantity" else str(value)),
        )
        if field == "quantity":  # a 60-digit JSON number, not a string
            db.execute(
                "UPDATE events SET payload = replace(payload, ?, ?) WHERE sequence = 2",
                (f'"{value}"', str(value)),
            )
    db.close()
    with pytest.raises(JournalCorruptError) as raised:
        read_recovery(path)
    message = str(raised.value)
    assert message.startswith(f"journal {path}: cannot be recovered from: event 2 (order_update)")
    assert says in message


def test_a_kill_switch_change_of_a_state_it_cannot_have_is_refused(path):
    write(path, change(TradingState.HALTED, TripSource.MANUAL.value, "x"))
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE events SET payload = json_set(payload, '$.state', 'melted')")
    db.close()
    with pytest.raises(JournalCorruptError, match=r"event 1 \(kill_switch\)"):
        read_recovery(path)


def _state(store: OrderStore) -> dict:
    """What a recovered store must agree on, whichever way it was recovered."""

    def rows(positions):
        return {k: (p.net, p.average_price, p.realized) for k, p in positions.items()}

    return {
        "ledger": rows({i: store.ledger.position(i) for i in store.ledger.instruments()}),
        "owners": rows(store.owner_positions),
        "owner_fills": dict(store.owner_fills),
        "fills": store.fills,
        "watermark": store.last_execution_id("sim"),
        "open": {
            cid: (t.order.status, t.order.filled, t.order.price, t.request.owner)
            for cid, t in store.orders.items()
            if t.order.status.open
        },
    }


def test_a_restart_from_a_checkpoint_equals_one_from_the_whole_journal(path):
    buy, sell, late = order("b1"), order("s1", Side.SELL, price=1100, quantity=5), order("b2")
    write(
        path,
        OrderSubmitted(order=buy, timestamp_ns=1),
        update(buy, OrderStatus.ACCEPTED),
        update(
            buy, OrderStatus.PARTIALLY_FILLED, 4, fill_quantity=4, fill_price=1000, execution_id=1
        ),
        OrderSubmitted(order=sell, timestamp_ns=2),
        update(sell, OrderStatus.ACCEPTED),
    )
    before = OrderStore()
    restore(before, read_recovery(path))
    writer = JournalWriter(path, clock=FakeClock())
    writer.append([(9, checkpoint_of(before, 9))])
    writer.append(
        [
            (
                10,
                update(
                    sell, OrderStatus.FILLED, 5, fill_quantity=5, fill_price=1200, execution_id=2
                ),
            ),
            (11, OrderSubmitted(order=late, timestamp_ns=11)),
            (
                12,
                update(
                    buy, OrderStatus.FILLED, 10, fill_quantity=6, fill_price=990, execution_id=3
                ),
            ),
        ]
    )
    writer.close()
    from_checkpoint, whole = read_recovery(path), read_recovery(path, from_checkpoint=False)
    assert from_checkpoint.checkpoint is not None
    assert whole.checkpoint is None
    assert len(from_checkpoint.fills) == 2  # only those after the checkpoint were read
    stores = []
    for recovery in (from_checkpoint, whole):
        store = OrderStore()
        restore(store, recovery)
        stores.append(store)
    assert _state(stores[0]) == _state(stores[1])
    assert _state(stores[0])["open"] == {"b2": (OrderStatus.PENDING, 0, 1000, OWNER)}
    assert stores[0].ledger.position("BTCUSDT").net == 4 - 5 + 6


def test_a_checkpoint_that_cannot_be_true_is_refused_naming_the_event(path):
    store = OrderStore()
    store.ledger.apply_fill("BTCUSDT", 3, 1000)
    write(path, checkpoint_of(store, 1))
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE events SET payload = json_set(payload, '$.positions[0].average[1]', 0)")
    db.close()
    with pytest.raises(JournalCorruptError, match=r"event 1 \(checkpoint\): a position of BTCUSDT"):
        read_recovery(path)
