"""The trading tree against a real simulated exchange on 127.0.0.1 (both runtimes).

Cancel-on-disconnect, reconciliation of missed fills, the kill switch stopping queued
orders, escalation, risk limits holding across a risk restart and under concurrent
submitters. Every wait is on an event or the venue's change condition, with a timeout.
"""

from __future__ import annotations

import threading
import time
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
    gateway_started,
    open_at_venue,
    resting_buy,
    submit,
    wait_open_at_venue,
)

from tradeactors.actors.order_manager import ReconciliationReport
from tradeactors.actors.risk import GetRiskReport
from tradeactors.core.killswitch import KillSwitchChanged
from tradeactors.core.messages import OrderUpdate, Side, VenueStatus
from tradeactors.core.risk import TradingState
from tradeactors.supervision import ActorStarted
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

GATEWAY = "execution/gateway.sim"


@pytest.fixture
def venue(sim_venue: SimExchange) -> SimExchange:
    return sim_venue


@pytest.fixture
def make_system(venue, monkeypatch):
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    systems: list[tuple[TradingSystem, TradingEvents]] = []

    def make(registry=None, **sections):
        system = TradingSystem(config_for(venue, **sections), registry=registry)
        events = TradingEvents()
        system.subscribe(events)
        system.start(timeout=20)
        events.wait_for(VenueStatus, up=True)
        systems.append((system, events))
        return system, events

    yield make
    for system, _events in systems:
        if system.tree.running:
            system.stop(timeout=10)


def _accepted(events: TradingEvents, count: int) -> None:
    events.wait_for(OrderUpdate, count=count, status="accepted")


def _take_unheard(venue: SimExchange, quantity: int) -> None:
    """Another account buys ``quantity`` lots at MID + 400 (IOC) while the venue sends
    our session no reports: our resting sell there fills and we are not told."""
    venue.mute_reports("demo")
    taker = Taker(venue)
    try:
        taker.request(
            "place", client_order_id="t1", side="buy", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(MID + 400), quantity=INSTRUMENT.format_size(quantity),
        )  # fmt: skip
    finally:
        taker.close()
    venue.mute_reports("demo", muted=False)


@pytest.mark.parametrize("how", ["crash", "kill"])
def test_a_dead_gateway_leaves_nothing_open_at_the_venue_and_trading_resumes(
    venue, make_system, how
):
    system, events = make_system()
    for _ in range(3):
        resting_buy(system)
    _accepted(events, 3)
    assert open_at_venue(venue) == 3
    restarted = gateway_started(system, 2)

    died = time.monotonic()
    faults = system.tree.faults(GATEWAY)
    if how == "crash":
        faults.crash_next()
        system.tree.address(GATEWAY).tell("poke")  # the next message it handles
    else:
        faults.kill()  # no on_failure: the supervisor's hook closes the socket
    assert wait_open_at_venue(venue, lambda n: n == 0, timeout=1.0), "orders left at the venue"
    cancelled_after = time.monotonic() - died

    assert system.wait_for_no_open_orders(5.0)
    down = events.wait_for(VenueStatus, up=False)
    assert down[0].venue == "sim"
    assert restarted.wait(10)
    events.wait_for(VenueStatus, count=2, up=True)  # reconciled and up again
    report = system.orders()
    assert report.open_orders == 0
    assert {o.status for o in report.orders} == {"cancelled"}

    resting_buy(system)  # trading resumes
    assert wait_open_at_venue(venue, lambda n: n == 1, timeout=5.0)
    summary = system.stop()
    assert summary.open_at_venue == 0
    assert summary.clean
    assert cancelled_after < 1.0


def test_a_fill_missed_while_the_link_was_deaf_is_applied_exactly_once(venue, make_system):
    system, events = make_system()
    price = MID + 400
    client_order_id = submit(system, side=Side.SELL, price=price, quantity=5)
    _accepted(events, 1)
    venue.mute_reports("demo")  # the venue's reports to us are lost from now on
    taker = Taker(venue)
    try:
        taker.request(
            "place", client_order_id="t1", side="buy", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(price), quantity=INSTRUMENT.format_size(2),
        )  # fmt: skip
    finally:
        taker.close()
    assert venue.position("demo") == -2
    assert system.orders().fills == 0  # we never heard of it

    restarted = gateway_started(system, 2)
    system.tree.faults(GATEWAY).kill()
    venue.mute_reports("demo", muted=False)
    assert restarted.wait(10)
    reconciled = events.wait_for(ReconciliationReport, count=2)[-1]
    assert reconciled.missed_fills == 1
    assert reconciled.closed == (client_order_id,)  # its rest went with the old session

    report = system.orders()
    assert report.fills == 1
    assert report.positions[SYMBOL] == venue.position("demo") == -2
    (order,) = report.orders
    assert (order.filled, order.status) == (2, "cancelled")
    fills = [e for e in events.of(OrderUpdate) if e.fill_quantity]
    assert [f.fill_quantity for f in fills] == [2]

    # Another reconnect fetches from the last applied execution id: nothing twice.
    restarted = gateway_started(system, 3)
    system.tree.faults(GATEWAY).kill()
    assert restarted.wait(10)
    again = events.wait_for(ReconciliationReport, count=3)[-1]
    assert (again.missed_fills, again.duplicate_fills) == (0, 0)
    assert system.orders().positions[SYMBOL] == -2
    assert system.stop().clean


@pytest.mark.parametrize("stage", ["risk", "execution/order_manager", GATEWAY])
def test_tripping_the_kill_switch_stops_orders_already_queued_in_a_mailbox(
    venue, make_system, stage
):
    system, events = make_system()
    resting = resting_buy(system)
    _accepted(events, 1)
    places_before = venue.requests("demo", "place")

    system.tree.faults(stage).slow(0.05)  # orders pile up in this actor's mailbox
    queued = [submit(system, side=Side.BUY, price=MID - 300, quantity=1) for _ in range(10)]
    if stage != "risk":  # let risk pass them on, so they wait further down the path
        system.tree.address("risk").ask(GetRiskReport(), timeout=10)
    if stage == GATEWAY:
        system.orders(timeout=10)
    assert system.kill("test: halt with orders in flight") is not None
    system.tree.faults(stage).clear()

    assert wait_open_at_venue(venue, lambda n: n == 0, timeout=5.0)
    assert system.wait_for_no_open_orders(10)
    # risk and the order manager deny it; the gateway hands it back as rejected (after
    # the kill switch's cancel-all marked it cancel-pending)
    status = "rejected" if stage == GATEWAY else "denied"
    for client_order_id in queued:
        (update,) = events.wait_for(OrderUpdate, client_order_id=client_order_id, status=status)
        assert update.reason == "halted"
    assert venue.requests("demo", "place") == places_before  # none reached the venue
    # host events come through the events actor: wait for it, then check it is the last
    events.wait_for(OrderUpdate, client_order_id=resting, status="cancelled")
    resting_update = events.of(OrderUpdate, client_order_id=resting)[-1]
    assert resting_update.status == "cancelled"
    assert system.gate.state is TradingState.HALTED  # latched
    assert system.stop().clean


def test_a_gateway_crash_loop_past_intensity_trips_the_kill_switch_and_leaves_nothing_open(
    venue, make_system
):
    system, events = make_system(execution={"intensity": 2, "period": 30.0})
    for _ in range(2):
        resting_buy(system)
    _accepted(events, 2)
    for incarnation in (2, 3):
        restarted = gateway_started(system, incarnation)
        system.tree.faults(GATEWAY).kill()
        assert restarted.wait(10)
    system.tree.faults(GATEWAY).kill()  # the third restart within the period: too many

    (tripped,) = events.wait_for(KillSwitchChanged, state=TradingState.HALTED)
    assert tripped.source == "escalation"
    assert wait_open_at_venue(venue, lambda n: n == 0, timeout=2.0)
    assert system.wait_for_no_open_orders(10)
    resting_buy(system)  # denied: halted
    events.wait_for(OrderUpdate, status="denied", reason="halted")
    assert open_at_venue(venue) == 0
    summary = system.stop()
    assert summary.open_at_venue == 0


def test_risk_rebuilds_its_exposure_after_being_killed_and_the_limits_hold(venue, make_system):
    system, events = make_system(risk={"max_position": 10})
    resting_buy(system, quantity=5)
    resting_buy(system, quantity=5)
    _accepted(events, 2)

    started = threading.Event()
    system.tree.subscribe(
        lambda e: isinstance(e, ActorStarted) and e.path == "risk" and started.set()
    )
    system.tree.faults("risk").kill()
    assert started.wait(10)
    # Risk asks the order manager for its exposure without blocking; until the snapshot
    # is in, a report shows the empty state (actors/risk.py): ask until it is rebuilt.
    deadline = time.monotonic() + 10
    rebuilt = system.tree.address("risk").ask(GetRiskReport(), timeout=10)
    while rebuilt.open_orders != 2 and time.monotonic() < deadline:
        rebuilt = system.tree.address("risk").ask(GetRiskReport(), timeout=10)
    assert rebuilt.open_orders == 2

    one_more = resting_buy(system, quantity=1)
    (denied,) = events.wait_for(OrderUpdate, client_order_id=one_more)
    assert (denied.status, denied.reason) == ("denied", "max_position")
    sell = submit(system, side=Side.SELL, price=MID + 300, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=sell, status="accepted")  # other side: fine
    assert open_at_venue(venue) == 3
    assert system.stop().clean


def test_several_submitters_hammering_one_instrument_never_breach_the_max_position_at_the_venue(
    venue, make_system
):
    limit = 10
    system, events = make_system(risk={"max_position": limit, "max_order_quantity": 3})
    seller = Taker(venue)  # liquidity to take: 20 asks of 5 lots
    try:
        for i in range(20):
            seller.request(
                "place", client_order_id=f"ask{i}", side="sell", type="limit", tif="gtc",
                price=INSTRUMENT.format_price(MID + 10 + i), quantity=INSTRUMENT.format_size(5),
            )  # fmt: skip
        per_submitter = 15
        ids: list[list[str]] = [[] for _ in range(3)]

        def hammer(mine: list[str]) -> None:
            mine.extend(
                submit(system, side=Side.BUY, price=MID + 200, quantity=3, tif="ioc")
                for _ in range(per_submitter)
            )

        submitters = [threading.Thread(target=hammer, args=(mine,)) for mine in ids]
        for thread in submitters:
            thread.start()
        for thread in submitters:
            thread.join(10)
        for client_order_id in (cid for mine in ids for cid in mine):
            updates = events.wait_for(OrderUpdate, client_order_id=client_order_id, timeout=20)
            assert updates[0].status in ("denied", "pending", "accepted", "filled", "cancelled")
        assert system.wait_for_no_open_orders(10)
        # Buys only: the venue's position only grows, so its final value is its maximum.
        position = venue.position("demo")
        assert 0 < position <= limit
        assert position == system.orders().positions[SYMBOL]
        assert events.of(OrderUpdate, status="denied", reason="max_position")
    finally:
        seller.close()
    assert system.stop().clean


def test_the_trading_metrics_show_open_orders_venue_state_and_the_kill_switch(venue, make_system):
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    system, events = make_system(registry=registry)
    resting_buy(system)
    _accepted(events, 1)
    exposition = generate_latest(registry).decode()
    assert 'tradeactors_open_orders{venue="sim"} 1.0' in exposition
    assert 'tradeactors_venue_up{venue="sim"} 1.0' in exposition
    assert "tradeactors_kill_switch_state 0.0" in exposition
    assert 'tradeactors_order_updates_total{status="accepted"} 1.0' in exposition
    assert 'tradeactors_actor_up{path="execution/gateway.sim"} 1.0' in exposition

    system.kill("metrics test")
    assert system.wait_for_no_open_orders(5)
    resting_buy(system)
    events.wait_for(OrderUpdate, status="denied")
    exposition = generate_latest(registry).decode()
    assert "tradeactors_kill_switch_state 2.0" in exposition
    assert 'tradeactors_open_orders{venue="sim"} 0.0' in exposition
    assert 'tradeactors_orders_denied_total{reason="halted"} 1.0' in exposition
    assert system.stop().clean


def test_a_connection_dropped_by_the_venue_fails_the_gateway_and_its_supervisor_recovers(
    venue, make_system
):
    system, events = make_system()
    resting_buy(system)
    _accepted(events, 1)
    restarted = gateway_started(system, 2)
    assert venue.drop_sessions("demo") == 1
    assert wait_open_at_venue(venue, lambda n: n == 0, timeout=1.0)
    assert restarted.wait(10)
    events.wait_for(VenueStatus, count=2, up=True)
    exits = [e for e in events.of(VenueStatus, up=False) if "VenueDisconnectedError" in e.reason]
    assert exits, "the venue went down because the gateway failed on the lost connection"
    assert system.orders().open_orders == 0
    resting_buy(system)
    assert wait_open_at_venue(venue, lambda n: n == 1, timeout=5.0)
    assert system.stop().clean


def test_killing_the_gateway_does_not_multiply_its_dead_mans_switch_refreshes(venue, make_system):
    """A killed gateway never cancels its refresh timer; the successor must not let the
    predecessor's timer start a second refresh chain (the venue would see 2x, 3x...)."""
    system, _events = make_system(execution={"refresh": 0.05, "cancel_all_after": 2.0})
    for incarnation in (2, 3, 4):
        restarted = gateway_started(system, incarnation)
        system.tree.faults(GATEWAY).kill()
        assert restarted.wait(10)
    before = venue.requests("demo", "cancel_all_after")
    started = time.monotonic()
    assert venue.wait_until(
        lambda: venue.orders.requests.get(("demo", "cancel_all_after"), 0) >= before + 20, 10
    )
    elapsed = time.monotonic() - started
    # one chain: 20 refreshes take about 20 * 0.05 s; four chains would take a quarter
    assert elapsed > 20 * 0.05 * 0.6, f"{elapsed:.2f} s for 20 refreshes: several chains"
    assert system.stop().clean


def test_orders_queued_for_a_dead_gateway_are_not_sent_by_its_successor(venue, make_system):
    """The gateway's mailbox survives its restart; what waited there was meant for the
    old session and was closed by the new session's reconciliation: never sent."""
    system, events = make_system()
    faults = system.tree.faults(GATEWAY)
    faults.slow(0.2)
    queued = [submit(system, side=Side.BUY, price=MID - 300, quantity=1) for _ in range(4)]
    system.orders(timeout=10)  # the order manager passed all four to the gateway
    restarted = gateway_started(system, 2)
    faults.kill()  # acts after the message in hand: the rest stay queued
    faults.clear()
    assert restarted.wait(10)
    first, report = events.wait_for(ReconciliationReport, count=2)[:2]
    assert first.closed == ()  # the one at start
    system.orders(timeout=10)
    system.tree.address(GATEWAY).ask("flush", timeout=10)  # it has handled its mailbox
    assert venue.requests("demo", "place") <= 1  # at most the one in hand when killed
    assert open_at_venue(venue) == 0
    assert set(report.closed) == set(queued)
    assert system.orders().open_orders == 0
    assert system.stop().clean


def test_a_fill_lost_on_a_live_link_is_fetched_again_when_the_next_one_shows_the_gap(
    venue, make_system
):
    system, events = make_system()
    price = MID + 400
    submit(system, side=Side.SELL, price=price, quantity=10)
    _accepted(events, 1)
    taker = Taker(venue)
    try:
        venue.mute_reports("demo")
        taker.request(  # execution 1: its report is lost
            "place", client_order_id="t1", side="buy", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(price), quantity=INSTRUMENT.format_size(2),
        )  # fmt: skip
        venue.mute_reports("demo", muted=False)
        taker.request(  # execution 2 arrives: 1 is missing below it
            "place", client_order_id="t2", side="buy", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(price), quantity=INSTRUMENT.format_size(3),
        )  # fmt: skip
    finally:
        taker.close()
    fills = events.wait_for(OrderUpdate, count=2, status="partially_filled")
    assert sorted(f.execution_id for f in fills) == [1, 2]
    report = system.orders()
    assert report.positions[SYMBOL] == venue.position("demo") == -5
    assert report.fills == 2  # the refetch also returns 2 again: skipped as a duplicate
    assert system.stop().clean


def _flood(system: TradingSystem, stop: threading.Event, limit: int = 5000) -> None:
    for i in range(limit):
        if stop.is_set():
            return
        submit(system, side=Side.BUY, price=MID - 300 - (i % 50), quantity=1)


@pytest.mark.parametrize("sim_venue_rate", [50])  # the venue's real limit
def test_a_kill_at_the_rate_limit_still_cancels_everything_at_the_venue(venue, make_system):
    system, events = make_system(
        risk={"max_position": None, "max_open_orders": None, "max_messages": None}
    )
    stop = threading.Event()
    flooders = [threading.Thread(target=_flood, args=(system, stop)) for _ in range(2)]
    for thread in flooders:
        thread.start()
    try:
        # the gateway's own budget runs out before the venue's
        events.wait_for(OrderUpdate, status="rejected", reason="throttled", timeout=20)
        assert wait_open_at_venue(venue, lambda n: n > 0, timeout=10)
        system.kill("test: halt at the rate limit")
    finally:
        stop.set()
        for thread in flooders:
            thread.join(10)
    assert wait_open_at_venue(venue, lambda n: n == 0, timeout=5.0)
    assert system.wait_for_no_open_orders(10)
    assert not events.of(OrderUpdate, reason="rate_limited")  # the venue refused nothing
    assert system.stop().clean


@pytest.mark.parametrize("sim_venue_rate", [50])
def test_the_dead_mans_switch_is_refreshed_even_when_orders_exceed_the_rate_limit(
    venue, make_system
):
    system, events = make_system(
        execution={"cancel_all_after": 1.0, "refresh": 0.25},
        risk={"max_position": None, "max_open_orders": None, "max_messages": None},
    )
    keep = resting_buy(system)
    _accepted(events, 1)
    refreshes = venue.requests("demo", "cancel_all_after")
    stop = threading.Event()
    flooders = [threading.Thread(target=_flood, args=(system, stop)) for _ in range(2)]
    for thread in flooders:
        thread.start()
    try:
        events.wait_for(OrderUpdate, status="rejected", reason="throttled", timeout=20)
        # 3 s of flooding: three times the dead-man's timeout
        assert venue.wait_until(
            lambda: venue.orders.requests.get(("demo", "cancel_all_after"), 0) >= refreshes + 12,
            timeout=20,
        )
    finally:
        stop.set()
        for thread in flooders:
            thread.join(10)
    assert events.of(OrderUpdate, client_order_id=keep)[-1].status == "accepted"
    assert any(o.client_order_id == keep for o in venue.open_orders("demo"))
    assert system.stop().clean


def test_an_order_manager_crash_is_heard_as_venue_down_and_the_lost_order_is_released(
    venue, make_system
):
    system, events = make_system(risk={"max_open_orders": 1})
    system.tree.faults("execution/order_manager").crash_next()
    lost = resting_buy(system)  # the order manager crashes on it
    (update,) = events.wait_for(OrderUpdate, client_order_id=lost)
    assert update.status == "denied"
    assert update.reason == "lost"
    assert update.detail.startswith("crashed at execution/order_manager")
    events.wait_for(VenueStatus, up=False, reason="order manager restarted")
    events.wait_for(VenueStatus, count=2, up=True)  # the gateway restarted and reconciled
    assert system.tree.address("risk").ask(GetRiskReport(), timeout=10).open_orders == 0
    resting_buy(system)  # max_open_orders 1: it fits only if the lost one was released
    _accepted(events, 1)
    assert open_at_venue(venue) == 1
    assert system.stop().clean


def test_repeated_cancels_are_not_re_sent_and_a_kill_is_not_stuck_behind_them(venue, make_system):
    system, events = make_system(risk={"max_open_orders": None})
    keep = [resting_buy(system, quantity=1) for _ in range(10)]
    drop = [resting_buy(system, quantity=1) for _ in range(20)]
    _accepted(events, 30)
    for _ in range(15):  # a host's "cancel until it is gone" loop
        for client_order_id in drop:
            system.cancel(client_order_id)
    for client_order_id in drop:
        events.wait_for(OrderUpdate, client_order_id=client_order_id, status="cancelled")
    assert venue.requests("demo", "cancel") == len(drop)  # one each, not fifteen
    assert open_at_venue(venue) == len(keep)
    system.kill("halt after the cancels")
    assert wait_open_at_venue(venue, lambda n: n == 0, timeout=1.0)
    assert system.stop().clean


def test_the_last_fill_lost_on_the_link_is_found_when_a_cancel_is_refused(venue, make_system):
    """No later fill shows the gap: the venue's 'unknown order' answer to our cancel
    makes the order manager fetch the fills, and close what is gone."""
    system, events = make_system()
    sell = submit(system, side=Side.SELL, price=MID + 400, quantity=5)
    _accepted(events, 1)
    _take_unheard(venue, 5)
    system.cancel(sell)
    (filled,) = events.wait_for(OrderUpdate, client_order_id=sell, status="filled")
    assert filled.fill_quantity == 5
    report = system.orders()
    assert report.positions[SYMBOL] == venue.position("demo") == -5
    assert report.open_orders == 0
    assert system.tree.address("risk").ask(GetRiskReport(), timeout=10).open_orders == 0
    assert system.stop().clean


def test_an_order_cancelled_at_the_venue_unheard_is_closed_when_a_cancel_is_refused(
    venue, make_system
):
    system, events = make_system()
    order = resting_buy(system)
    _accepted(events, 1)
    venue.mute_reports("demo")
    other = Taker(venue, api_key="demo", secret=SECRET)  # another session of the account
    other.request("cancel_all")  # the venue cancels it; our session never hears it
    other.close()
    venue.mute_reports("demo", muted=False)
    assert open_at_venue(venue) == 0
    system.cancel(order)
    (update,) = events.wait_for(OrderUpdate, client_order_id=order, status="cancelled")
    assert update.reason == "not at the venue"
    assert system.orders().open_orders == 0
    assert system.tree.address("risk").ask(GetRiskReport(), timeout=10).open_orders == 0
    assert system.stop().clean


def test_a_fill_lost_before_a_cancel_all_is_found_when_the_venue_answers_it(venue, make_system):
    """Found by the gateway_stall chaos scenario: no later fill and no single cancel
    shows the gap; the kill switch's cancel-all does (what is still cancel-pending after
    the venue's answer is not at the venue)."""
    system, events = make_system()
    sell = submit(system, side=Side.SELL, price=MID + 400, quantity=5)
    _accepted(events, 1)
    _take_unheard(venue, 5)
    system.kill("halt")
    (filled,) = events.wait_for(OrderUpdate, client_order_id=sell, status="filled")
    assert filled.fill_quantity == 5
    assert system.wait_for_no_open_orders(5)
    assert system.orders().positions[SYMBOL] == venue.position("demo") == -5
    assert system.stop().clean


def test_a_partial_fill_lost_before_a_cancel_is_found_from_the_cancelled_quantity(
    venue, make_system
):
    system, events = make_system()
    sell = submit(system, side=Side.SELL, price=MID + 400, quantity=5)
    _accepted(events, 1)
    _take_unheard(venue, 2)
    system.cancel(sell)  # the venue cancels 3 lots, not the 5 we think are left
    events.wait_for(OrderUpdate, client_order_id=sell, status="cancelled")
    (late,) = events.wait_for(OrderUpdate, client_order_id=sell, fill_quantity=2)
    assert late.status == "cancelled"  # a late fill on a cancelled order is applied
    assert system.orders().positions[SYMBOL] == venue.position("demo") == -2
    assert system.stop().clean
