"""The trading gate: latched, trips only raise it, resets are explicit, changes are heard."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tradeactors.actors.gate import TradingGate
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.risk import TradingState

A, R, H = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


@pytest.fixture
def gate() -> TradingGate:
    return TradingGate(FakeClock())


def test_trips_only_ever_raise_the_state(gate):
    assert gate.trip(R, source=TripSource.RISK, reason="breach") is not None
    assert gate.state is R
    assert gate.trip(R, source=TripSource.RISK, reason="again") is None
    assert gate.trip(A, source=TripSource.MANUAL, reason="undo?") is None
    assert gate.state is R
    change = gate.trip(H, source=TripSource.STALE_MARKET_DATA, reason="stale")
    assert change is not None
    assert (change.previous, change.state, change.source) == (R, H, "stale_market_data")
    assert gate.trip(R, source=TripSource.MANUAL, reason="milder") is None
    assert gate.state is H
    assert [c.state for c in gate.history] == [R, H]


def test_a_change_carries_the_clocks_wall_time():
    clock = FakeClock()
    gate = TradingGate(clock)
    clock.advance(2.5)
    change = gate.trip(H, source=TripSource.MANUAL, reason="now")
    assert change is not None
    assert change.timestamp_ns == clock.time_ns()


@pytest.mark.parametrize(("by", "reason"), [("", "venue back"), ("ops", "")])
def test_a_reset_needs_who_and_why(gate, by, reason):
    gate.trip(H, source=TripSource.MANUAL, reason="panic")
    with pytest.raises(ValueError, match="who did it and why"):
        gate.reset(A, by=by, reason=reason)
    assert gate.state is H
    assert len(gate.history) == 1


def test_a_reset_must_lower_the_state(gate):
    gate.trip(R, source=TripSource.MANUAL, reason="careful")
    with pytest.raises(ValueError, match="must lower"):
        gate.reset(H, by="ops", reason="stricter is a trip, not a reset")
    with pytest.raises(ValueError, match="must lower"):
        gate.reset(R, by="ops", reason="same")
    assert gate.state is R


def test_a_reset_with_who_and_why_lowers_the_state_and_records_them(gate):
    gate.trip(H, source=TripSource.MANUAL, reason="panic")
    change = gate.reset(A, by="ops", reason="venue back")
    assert gate.state is A
    assert (change.previous, change.state, change.source, change.reason) == (
        H,
        A,
        "reset",
        "ops: venue back",
    )


def test_subscribers_hear_each_change_once_in_order(gate):
    first: list[KillSwitchChanged] = []
    second: list[KillSwitchChanged] = []
    gate.subscribe(first.append)
    gate.subscribe(second.append)
    gate.trip(R, source=TripSource.RISK, reason="r")
    gate.trip(R, source=TripSource.RISK, reason="no change")
    gate.trip(H, source=TripSource.MANUAL, reason="h")
    gate.trip(H, source=TripSource.MANUAL, reason="no change")
    with pytest.raises(ValueError, match="who did it and why"):
        gate.reset(A, by="", reason="refused")
    gate.reset(A, by="ops", reason="ok")
    assert first == list(gate.history)
    assert second == list(gate.history)
    assert [c.state for c in first] == [R, H, A]


def test_an_unsubscribed_callback_hears_nothing_more(gate):
    heard: list[KillSwitchChanged] = []
    unsubscribe = gate.subscribe(heard.append)
    gate.trip(R, source=TripSource.RISK, reason="r")
    unsubscribe()
    gate.trip(H, source=TripSource.RISK, reason="h")
    assert [c.state for c in heard] == [R]


def test_a_raising_subscriber_neither_stops_the_trip_nor_the_other_subscribers(gate):
    def raising(_change: KillSwitchChanged) -> None:
        raise RuntimeError("subscriber bug")

    heard: list[KillSwitchChanged] = []
    gate.subscribe(raising)
    gate.subscribe(heard.append)
    assert gate.trip(H, source=TripSource.MANUAL, reason="h") is not None
    assert gate.state is H
    assert len(heard) == 1


class WatchedSwitch:
    """Wraps the gate's switch: notes how many trips are inside it at once.

    Each trip lingers up to 0.2 s unless a second one comes in, so that trips the gate
    failed to serialise would overlap here.
    """

    def __init__(self, switch: Any) -> None:
        self._switch = switch
        self._lock = threading.Lock()
        self._overlap = threading.Event()
        self.inside = 0
        self.most = 0

    def trip(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
            if self.inside > 1:
                self._overlap.set()
        self._overlap.wait(0.2)
        try:
            return self._switch.trip(*args, **kwargs)
        finally:
            with self._lock:
                self.inside -= 1


def test_concurrent_trips_are_serialised_and_make_exactly_one_change(gate):
    watched = WatchedSwitch(gate._switch)
    gate._switch = watched
    heard: list[KillSwitchChanged] = []
    gate.subscribe(heard.append)
    barrier = threading.Barrier(3)
    results: list[KillSwitchChanged | None] = []

    def trip() -> None:
        barrier.wait(timeout=10)
        results.append(gate.trip(H, source=TripSource.RISK, reason="race"))

    threads = [threading.Thread(target=trip) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 3
    assert watched.most == 1
    assert len([r for r in results if r is not None]) == 1
    assert len(heard) == 1
    assert gate.state is H
