"""The simulator's codec: amends as its protocol's ``amend`` (docs/protocol.md)."""

from __future__ import annotations

import json

from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import AmendAtVenue, OrderAmended, Side, SubmitOrder
from tradeactors.venues.adapter import Request
from tradeactors.venues.sim import SimOrderEntry

INSTRUMENT = Instrument(venue="sim", symbol="BTCUSDT", tick_size="0.01", lot_size="0.001")
ORDER = SubmitOrder(
    client_order_id="c1", venue="sim", instrument="BTCUSDT", side=Side.BUY, price=10_000,
    quantity=5_000,
)  # fmt: skip


def _encoded(**terms: int) -> dict:
    amend = AmendAtVenue(order=ORDER, order_id=42, **terms)
    return json.loads(SimOrderEntry("sim", INSTRUMENT).encode(Request.AMEND, 3, {"amend": amend}))


def test_less_at_the_same_price_sends_the_new_remaining_and_no_price():
    assert _encoded(price=10_000, quantity=4_000, remaining=3_000) == {
        "op": "amend", "id": 3, "order_id": 42, "quantity": "3.000",
    }  # fmt: skip


def test_a_new_price_is_sent_with_what_is_left():
    assert _encoded(price=10_050, quantity=5_000, remaining=5_000) == {
        "op": "amend", "id": 3, "order_id": 42, "quantity": "5.000", "price": "100.50",
    }  # fmt: skip


def test_the_amended_event_is_the_order_amended_in_place():
    event = {"event": "amended", "order_id": 42, "client_order_id": "c1", "price": "100.00",
             "remaining": "2.500", "kept_priority": True}  # fmt: skip
    assert SimOrderEntry("sim", INSTRUMENT).decode(json.dumps(event)) == OrderAmended(
        venue="sim", client_order_id="c1", order_id=42, price=10_000, remaining=2_500,
        kept_priority=True,
    )  # fmt: skip


def test_a_refused_amend_s_event_is_left_to_its_reply():
    event = {"event": "rejected", "order_id": 42, "client_order_id": "c1",
             "reason": "amend_quantity_increase"}  # fmt: skip
    entry = SimOrderEntry("sim", INSTRUMENT)
    assert entry.decode(json.dumps(event)) is None
    assert not entry.amend_increases
