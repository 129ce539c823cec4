"""The order manager by kill-switch scope: cancels and denies only the halted scope's orders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from _trading_probes import VENUE, accepted, flush, received, submit

from tradeactors.actors.gate import TradingGate
from tradeactors.actors.order_manager import CancelAtVenue, OrderManagerActor, OrderStore
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import TripSource
from tradeactors.core.messages import (
    CANCEL_REQUESTED,
    CancelAllOrders,
    CancelOrder,
    GetOrders,
    OrderUpdate,
    PlaceOrder,
    Reconciliation,
)
from tradeactors.core.risk import TradingState
from tradeactors.supervision import ChildSpec, Supervisor, SupervisorSpec
from tradeactors.supervision.testing import Inbox, Probe

pytestmark = pytest.mark.supervision

OM = "om"
NEIGHBOURS = ("gw", "risk", "sa", "sb")  # sa, sb: the actors of strategies a and b


@dataclass
class Harness:
    tree: Supervisor
    gate: TradingGate
    inboxes: dict[str, Inbox]

    def tell(self, *messages: Any) -> None:
        for message in messages:
            self.tree.address(OM).tell(message)

    def settle(self) -> None:
        self.tree.address(OM).ask(GetOrders(), timeout=10)
        for path in NEIGHBOURS:
            flush(self.tree.address(path))

    def sent_to_venue(self, kind: type) -> list[str]:
        messages = received(self.inboxes["gw"], kind)
        return [
            m.order.client_order_id if kind is PlaceOrder else m.client_order_id for m in messages
        ]


@pytest.fixture
def om(make_tree) -> Harness:
    gate = TradingGate(FakeClock(), strategies=("a", "b"), venues=(VENUE,))
    inboxes = {name: Inbox() for name in NEIGHBOURS}
    spec = SupervisorSpec(
        name="root",
        children=(
            *(ChildSpec(name=name, actor=Probe, args=(inboxes[name],)) for name in NEIGHBOURS),
            ChildSpec(
                name=OM,
                actor=OrderManagerActor,
                args=(OrderStore(), {VENUE: "gw"}, "risk", gate),
                kwargs={"strategy_of": {"sa": "a", "sb": "b"}.get},
            ),
        ),
    )
    harness = Harness(tree=make_tree(spec), gate=gate, inboxes=inboxes)
    harness.tell(Reconciliation(venue=VENUE, open_orders=(), fills=()))
    return harness


def test_a_cancel_all_for_a_halted_strategy_cancels_only_its_orders(om):
    om.tell(
        PlaceOrder(order=submit("a1", owner="sa")),
        PlaceOrder(order=submit("b1", owner="sb")),
        PlaceOrder(order=submit("a2", owner="sa")),
        accepted("a1", 1),
        accepted("b1", 2),
        accepted("a2", 3),
    )
    om.tell(CancelAllOrders(reason="kill switch: loss", owner="sa"))  # as the kill switch sends
    om.settle()
    assert om.sent_to_venue(CancelAtVenue) == ["a1", "a2"]
    report = om.tree.address(OM).ask(GetOrders(), timeout=10)
    assert {o.client_order_id: o.status for o in report.orders} == {
        "a1": "pending_cancel",
        "b1": "accepted",
        "a2": "pending_cancel",
    }


def test_a_cancel_says_who_asked_for_it_and_the_report_says_whose_each_order_is(om):
    """Its own cancel: `CANCEL_REQUESTED`; a cancel-all of its orders: that one's reason."""
    om.tell(
        PlaceOrder(order=submit("a1", owner="sa")),
        PlaceOrder(order=submit("a2", owner="sa")),
        PlaceOrder(order=submit("b1", owner="sb")),
        accepted("a1", 1),
        accepted("a2", 2),
        accepted("b1", 3),
        CancelOrder(client_order_id="b1"),
        CancelAllOrders(reason="kill switch: loss", owner="sa"),
    )
    om.settle()
    why = {
        u.client_order_id: u.reason
        for path in ("sa", "sb")
        for u in received(om.inboxes[path], OrderUpdate)
        if u.status == "pending_cancel"
    }
    assert why == {"a1": "kill switch: loss", "a2": "kill switch: loss", "b1": CANCEL_REQUESTED}
    report = om.tree.address(OM).ask(GetOrders(), timeout=10)
    assert {o.client_order_id: o.owner for o in report.orders} == {
        "a1": "sa",
        "a2": "sa",
        "b1": "sb",
    }


def test_orders_of_a_halted_strategy_still_queued_are_denied_and_others_go_out(om):
    om.gate.trip(TradingState.HALTED, source=TripSource.RISK, reason="x", scope="strategy:a")
    om.tell(PlaceOrder(order=submit("a1", owner="sa")), PlaceOrder(order=submit("b1", owner="sb")))
    om.settle()
    assert om.sent_to_venue(PlaceOrder) == ["b1"]
    (update,) = received(om.inboxes["sa"], OrderUpdate)
    assert (update.client_order_id, update.reason, update.detail) == ("a1", "halted", "scope")


def test_a_halted_venue_scope_denies_every_strategys_orders_to_it(om):
    om.gate.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="x", scope=f"venue:{VENUE}")
    om.tell(PlaceOrder(order=submit("a1", owner="sa")), PlaceOrder(order=submit("b1", owner="sb")))
    om.settle()
    assert om.sent_to_venue(PlaceOrder) == []
    for owner, cid in (("sa", "a1"), ("sb", "b1")):
        (update,) = received(om.inboxes[owner], OrderUpdate)
        assert (update.client_order_id, update.reason) == (cid, "halted")
