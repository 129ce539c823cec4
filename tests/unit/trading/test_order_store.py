"""`OrderStore`'s execution-id bookkeeping: exactly once, and gaps remembered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tradeactors.core.execution import OrderStore
from tradeactors.core.messages import Side


def test_the_watermark_is_the_last_id_below_which_nothing_is_missing():
    store = OrderStore()
    assert [store.record_execution("v", i) for i in (1, 2, 4)] == [True, True, True]
    assert store.last_execution_id("v") == 2
    assert store.has_gap("v")
    assert store.record_execution("v", 3)
    assert (store.last_execution_id("v"), store.has_gap("v")) == (4, False)
    assert not store.record_execution("v", 2)  # seen
    assert store.last_execution_id("other") == 0


@given(st.lists(st.integers(1, 40), max_size=80))
def test_every_id_is_applied_once_whatever_the_order_and_repeats(ids):
    store = OrderStore()
    applied = [i for i in ids if store.record_execution("v", i)]
    assert sorted(applied) == sorted(set(ids))
    contiguous = 0
    while contiguous + 1 in set(ids):
        contiguous += 1
    assert store.last_execution_id("v") == contiguous
    assert store.ids_of("v").above == {i for i in set(ids) if i > contiguous}


def test_prune_forgets_only_the_oldest_closed_orders_beyond_the_limit():
    from tradeactors.core.execution import Tracked as _Tracked
    from tradeactors.core.messages import SubmitOrder
    from tradeactors.core.orders import Order, Trigger

    store = OrderStore(keep_closed=3)
    for i in range(8):
        order = Order(f"c{i}", "X", side=Side.BUY, price=1, quantity=1)
        order.apply(Trigger.SUBMIT)
        if i % 4 != 3:  # c3 and c7 stay open
            order.apply(Trigger.REJECT)
        request = SubmitOrder(
            client_order_id=f"c{i}", venue="v", instrument="X", side=Side.BUY, price=1, quantity=1
        )
        store.orders[f"c{i}"] = _Tracked(order=order, request=request)
    assert store.prune() == 3  # 6 closed, keep 3: c0, c1, c2 go
    assert list(store.orders) == ["c3", "c4", "c5", "c6", "c7"]
    assert store.pruned == 3
    assert store.prune() == 0
