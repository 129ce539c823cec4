"""`OrderStore`'s execution-id bookkeeping: exactly once, and gaps remembered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tradeactors.trading.order_manager import OrderStore


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
    assert store.executions.get("v", set()) == {i for i in set(ids) if i > contiguous}
