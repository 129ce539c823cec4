"""Kill-switch scopes on a real `TradingSystem`: a venue's scope halts its orders alone."""

from __future__ import annotations

import threading
import urllib.error

import pytest
from trading_helpers import SYMBOL

from tradeactors.core.messages import OrderUpdate, Side, SubmitOrder
from tradeactors.core.risk import TradingState
from tradeactors.trading.control import call_control

pytestmark = pytest.mark.supervision


def test_a_halted_venue_scope_denies_its_orders_until_reset(control):
    system, server = control
    assert call_control(server.url, "/status")["kill_switch_scopes"] == {
        "all": "active",
        "venue:sim": "active",
    }
    answer = call_control(server.url, "/kill", {"reason": "venue maintenance", "venue": "sim"})
    assert (answer["state"], answer["scope_state"]) == ("active", "halted")
    denied = threading.Event()
    updates: list[OrderUpdate] = []

    def heard(event: object) -> None:
        if isinstance(event, OrderUpdate) and event.client_order_id == "scoped-1":
            updates.append(event)
            denied.set()

    unsubscribe = system.subscribe(heard)
    try:
        system.submit(
            SubmitOrder(
                client_order_id="scoped-1",
                venue="sim",
                instrument=SYMBOL,
                side=Side.BUY,
                price=1,
                quantity=1,
            )
        )
        assert denied.wait(10)
    finally:
        unsubscribe()
    assert (updates[0].status, updates[0].reason) == ("denied", "halted")
    # no strategy scope exists in this tree: naming one is refused with what there is
    with pytest.raises(urllib.error.HTTPError) as refused:
        call_control(server.url, "/kill", {"reason": "x", "strategy": "market_maker"})
    with refused.value as error:
        assert error.code == 404
    body = {"by": "ops", "reason": "venue back", "venue": "sim"}
    assert call_control(server.url, "/reset", body, token=server.token)["scope_state"] == "active"
    assert system.gate.state is TradingState.ACTIVE
    assert [c.scope for c in system.gate.history] == ["venue:sim", "venue:sim"]
