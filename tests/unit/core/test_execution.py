"""The execution core: computed before committed, fills exactly once by the venue's ids."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeactors.core.execution import ExecutionCore, FillIds, OrderStore, UniqueIds
from tradeactors.core.messages import (
    DenyReason,
    ExposureChange,
    FetchFills,
    GatewayConnected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderLost,
    OrderRejected,
    OrderStatus,
    OrderUpdate,
    PlaceOrder,
    Reconciliation,
    ReconciliationReport,
    ReleaseOrder,
    Side,
    StartReconciliation,
    SubmitOrder,
    VenueOrder,
    VenueSessionStarted,
)

VENUE, SYMBOL, GATEWAY, RISK, OWNER = "v", "BTCUSDT", "execution/gateway.v", "risk", "strat"


def core_up(fill_ids: FillIds = FillIds.SEQUENTIAL) -> ExecutionCore:
    core = ExecutionCore(
        OrderStore(fill_ids={VENUE: fill_ids}), gateways={VENUE: GATEWAY}, risk_path=RISK
    )
    run(core, Reconciliation(venue=VENUE, open_orders=(), fills=()))
    return core


def run(core: ExecutionCore, message: object) -> object:
    step = core.handle(message)
    core.commit(step)
    return step


def submit(cid: str, quantity: int = 10) -> PlaceOrder:
    order = SubmitOrder(
        client_order_id=cid,
        venue=VENUE,
        instrument=SYMBOL,
        side=Side.BUY,
        price=100,
        quantity=quantity,
        owner=OWNER,
    )
    return PlaceOrder(order=order)


def fill(cid: str, execution_id: int | str, quantity: int = 4, remaining: int = 6) -> OrderFilled:
    return OrderFilled(
        venue=VENUE,
        instrument=SYMBOL,
        client_order_id=cid,
        order_id=11,
        execution_id=execution_id,
        side=Side.BUY,
        price=100,
        quantity=quantity,
        remaining=remaining,
    )


def placed_and_accepted(core: ExecutionCore, cid: str = "c1") -> None:
    run(core, submit(cid))
    run(core, OrderAccepted(venue=VENUE, client_order_id=cid, order_id=11))


def test_nothing_changes_until_the_step_is_committed():
    core = core_up()
    placed_and_accepted(core)
    step = core.handle(fill("c1", 1))
    store = core.store
    assert (store.fills, store.last_execution_id(VENUE), store.ledger.position(SYMBOL).net) == (
        0,
        0,
        0,
    )
    assert store.orders["c1"].order.filled == 0
    assert any(isinstance(m, ExposureChange) for _, m in step.sends)
    core.commit(step)
    assert (store.fills, store.last_execution_id(VENUE), store.ledger.position(SYMBOL).net) == (
        1,
        1,
        4,
    )
    assert store.orders["c1"].order.status is OrderStatus.PARTIALLY_FILLED


def test_a_crash_while_computing_a_fill_leaves_no_half_applied_fill(monkeypatch):
    core = core_up()
    placed_and_accepted(core)
    store = core.store
    before = (store.fills, store.sequence, store.last_execution_id(VENUE))

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("crash after the id was recorded and the position moved")

    monkeypatch.setattr(ExecutionCore, "_update", boom)
    with pytest.raises(RuntimeError):
        core.handle(fill("c1", 1))
    assert (store.fills, store.sequence, store.last_execution_id(VENUE)) == before
    assert store.ledger.position(SYMBOL).net == 0
    assert store.orders["c1"].order.filled == 0
    monkeypatch.undo()
    # the message handled again (the restarted actor) applies it exactly once
    run(core, fill("c1", 1))
    run(core, fill("c1", 1))
    assert (store.fills, store.duplicate_fills, store.ledger.position(SYMBOL).net) == (1, 1, 4)


def test_a_gap_in_sequential_ids_is_fetched_once_from_the_watermark():
    core = core_up()
    placed_and_accepted(core)
    run(core, fill("c1", 1, quantity=1, remaining=9))
    step = run(core, fill("c1", 3, quantity=1, remaining=8))
    assert [m for _, m in step.sends if isinstance(m, FetchFills)] == [FetchFills(since=1)]
    step = run(core, fill("c1", 4, quantity=1, remaining=7))
    assert not [m for _, m in step.sends if isinstance(m, FetchFills)]  # same gap: asked
    run(core, fill("c1", 2, quantity=1, remaining=6))
    assert (core.store.last_execution_id(VENUE), core.store.has_gap(VENUE)) == (4, False)


def test_unique_string_ids_are_applied_once_and_never_read_as_gaps():
    core = core_up(FillIds.UNIQUE)
    placed_and_accepted(core)
    sends = []
    for eid in ("TX-b", "TX-a", "TX-b", 7, "TX-a"):
        sends += run(core, fill("c1", eid, quantity=1, remaining=9)).sends
    store = core.store
    assert (store.fills, store.duplicate_fills) == (3, 2)
    assert not [m for _, m in sends if isinstance(m, FetchFills)]
    assert store.last_execution_id(VENUE) == 0
    updates = [m for _, m in sends if isinstance(m, OrderUpdate) and m.fill_quantity]
    assert [u.execution_id for u in updates] == ["TX-b", "TX-a", 7]


@given(st.lists(st.integers(0, 30), max_size=60), st.integers(1, 10))
def test_unique_ids_remember_the_last_keep_ids(ids, keep):
    memory, model, applied = UniqueIds(keep), [], []
    for eid in ids:
        fork = memory.fork()
        if fork.record(eid):
            memory.absorb(fork)
            applied.append(eid)
        if eid not in model:  # the model: the last `keep` distinct ids, oldest forgotten
            model = [*model, eid][-keep:]
    assert list(memory.seen) == model
    assert len(applied) >= len(set(ids))  # each applied at least once (again once forgotten)


def test_a_lost_place_order_is_released_in_risk_only_if_never_stored():
    core = core_up()
    never = submit("lost-before").order
    step = run(core, OrderLost(order=never, detail="crashed at order_manager"))
    assert (RISK, ReleaseOrder(client_order_id="lost-before")) in step.sends
    [(path, update)] = [(p, m) for p, m in step.sends if isinstance(m, OrderUpdate)]
    assert (path, update.status, update.reason, update.detail) == (
        OWNER,
        OrderStatus.DENIED,
        DenyReason.LOST,
        "crashed at order_manager",
    )
    placed_and_accepted(core, "c2")
    stored = core.store.orders["c2"].request
    assert run(core, OrderLost(order=stored, detail="at the gateway")).sends == []


def test_a_gateway_told_reconciliation_gets_its_session_back():
    core = core_up()
    step = run(core, Reconciliation(venue=VENUE, open_orders=(), fills=(), incarnation=3))
    assert step.reply == 2
    assert (GATEWAY, VenueSessionStarted(venue=VENUE, session=2, incarnation=3)) in step.sends


def test_orders_for_a_venue_not_reconciled_are_denied_venue_down():
    core = ExecutionCore(OrderStore(), gateways={VENUE: GATEWAY}, risk_path=RISK)
    step = run(core, submit("c1"))
    [update] = [m for _, m in step.sends if isinstance(m, OrderUpdate)]
    assert update.reason == DenyReason.VENUE_DOWN
    assert "c1" not in core.store.orders


def _three_fills(core: ExecutionCore) -> None:
    placed_and_accepted(core)
    for eid in (1, 2, 3):
        run(core, fill("c1", eid, quantity=1, remaining=10 - eid))


def test_a_reconnecting_gateway_fetches_from_one_before_the_watermark():
    core = core_up()
    _three_fills(core)
    step = run(core, GatewayConnected(venue=VENUE, incarnation=2))
    assert step.sends == [(GATEWAY, StartReconciliation(since=2, incarnation=2))]


def test_a_venue_that_still_has_the_watermark_fill_is_trusted_and_it_is_not_counted():
    core = core_up()
    _three_fills(core)
    step = run(
        core,
        Reconciliation(
            venue=VENUE, open_orders=(), fills=(fill("c1", 3, 1, 7),), incarnation=2, since=2
        ),
    )
    assert step.halt is None
    [report] = [e for e in step.events if isinstance(e, ReconciliationReport)]
    assert (report.missed_fills, report.duplicate_fills) == (0, 0)


def test_a_venue_that_lost_its_state_halts_trading():
    core = core_up()
    _three_fills(core)
    # the venue came back empty: it has no fill 3 any more (its ids start again at 1)
    step = run(core, Reconciliation(venue=VENUE, open_orders=(), fills=(), incarnation=2, since=2))
    assert step.halt is not None
    assert "lost its state" in step.halt
    assert [(level, name) for level, name, _ in step.logs if name == "venue_state_lost"] == [
        ("error", "venue_state_lost")
    ]


def _outcome(core: ExecutionCore, request: PlaceOrder, *, fast: bool) -> tuple[object, ...]:
    """What placing ``request`` sent and stored, by `place` or by `handle` + `commit`."""
    if fast:
        placed = core.place(request.order)
        if isinstance(placed, tuple):
            sends = [placed]
        else:
            core.commit(placed)
            sends = placed.sends
    else:
        sends = run(core, request).sends  # type: ignore[attr-defined]
    tracked = core.store.orders.get(request.order.client_order_id)
    stored = None if tracked is None else (tracked.order.status, tracked.request)
    return tuple(sends), stored


@pytest.mark.parametrize(
    "case", ["goes_out", "duplicate", "halted", "unknown_venue", "venue_down", "invalid"]
)
def test_place_decides_as_handle_does(case):
    """The order manager's hot path (`place`) and `handle` agree on every outcome."""
    outcomes = []
    for fast in (False, True):
        halted = case == "halted"
        core = ExecutionCore(
            OrderStore(), gateways={VENUE: GATEWAY}, risk_path=RISK, halted=lambda h=halted: h
        )
        if case != "venue_down":
            run(core, Reconciliation(venue=VENUE, open_orders=(), fills=()))
        request = submit("c1", quantity=0 if case == "invalid" else 10)
        if case == "unknown_venue":
            request = PlaceOrder(order=msgspec.structs.replace(request.order, venue="elsewhere"))
        if case == "duplicate":
            run(core, request)
        outcomes.append(_outcome(core, request, fast=fast))
    assert outcomes[0] == outcomes[1]
    sends, stored = outcomes[1]
    if case == "goes_out":
        assert sends == ((GATEWAY, PlaceOrder(order=request.order, session=1)),)
        assert stored == (OrderStatus.PENDING, request.order)
    else:
        [update] = [m for _, m in sends if isinstance(m, OrderUpdate)]
        assert update.status is OrderStatus.DENIED


@pytest.mark.parametrize(("expired", "status"), [(True, "expired"), (False, "cancelled")])
def test_an_order_the_venue_expired_is_expired_not_cancelled(expired, status):
    """An IOC remainder (or self-trade prevention) ends EXPIRED; risk stops counting it."""
    core = core_up()
    placed_and_accepted(core)
    step = run(
        core,
        OrderCanceled(venue=VENUE, client_order_id="c1", order_id=11, reason="ioc",
                      remaining=10, expired=expired),
    )  # fmt: skip
    assert core.store.orders["c1"].order.status == status
    [change] = [m for _, m in step.sends if isinstance(m, ExposureChange)]
    assert change.closed
    [update] = [m for _, m in step.sends if isinstance(m, OrderUpdate)]
    assert update.status == status


def test_a_venue_reject_passes_the_venue_s_own_code_and_message_to_the_owner():
    core = core_up()
    run(core, submit("c1"))
    step = run(
        core,
        OrderRejected(venue=VENUE, client_order_id="c1", reason="rejected",
                      detail="-2010 Market is closed."),
    )  # fmt: skip
    [update] = [m for _, m in step.sends if isinstance(m, OrderUpdate)]
    assert (update.status, update.reason, update.detail) == (
        OrderStatus.REJECTED,
        "rejected",
        "-2010 Market is closed.",
    )
    assert [e for e in step.events if isinstance(e, OrderUpdate)] == [update]


def test_an_ioc_remainder_expiring_before_its_ack_is_expired():
    core = core_up()
    run(core, submit("c1"))
    run(core, OrderCanceled(venue=VENUE, client_order_id="c1", order_id=11, reason="ioc",
                            expired=True))  # fmt: skip
    assert core.store.orders["c1"].order.status == "expired"


def test_an_order_the_venue_lists_open_is_accepted_when_its_ack_was_lost():
    core = core_up()
    run(core, submit("c1"))  # sent; the session (or the process) died before the ack
    at_venue = VenueOrder(
        order_id=42, client_order_id="c1", side=Side.BUY, price=100, remaining=10, filled=0
    )
    step = run(core, Reconciliation(venue=VENUE, open_orders=(at_venue,), fills=(), incarnation=2))
    tracked = core.store.orders["c1"]
    assert (tracked.order.status, tracked.order_id) == (OrderStatus.ACCEPTED, 42)
    [update] = [e for e in step.events if isinstance(e, OrderUpdate)]
    assert (update.status, update.reason) == (OrderStatus.ACCEPTED, "reconciled")
    [report] = [e for e in step.events if isinstance(e, ReconciliationReport)]
    assert (report.closed, report.unknown_at_venue) == ((), ())
