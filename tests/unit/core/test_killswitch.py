"""The kill switch is latched: trips only make it stricter, only a reset lowers it."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeactors.core.killswitch import KillSwitch, KillSwitchChanged, TripSource
from tradeactors.core.risk import TradingState

A, R, H = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


def test_a_trip_raises_the_state_and_a_milder_trip_does_not_undo_it():
    switch = KillSwitch()
    event = switch.trip(H, source=TripSource.RISK, reason="loss limit", now_ns=1)
    assert event is not None
    assert (event.previous, event.state, event.source) == (A, H, "risk")
    assert switch.trip(R, source=TripSource.STALE_MARKET_DATA, reason="stale", now_ns=2) is None
    assert switch.state is H


def test_only_an_explicit_reset_with_who_and_why_lowers_the_state():
    switch = KillSwitch()
    switch.trip(H, source=TripSource.MANUAL, reason="panic button", now_ns=1)
    with pytest.raises(ValueError, match="who did it and why"):
        switch.reset(R, by="", reason="ok", now_ns=2)
    with pytest.raises(ValueError, match="must lower"):
        switch.reset(H, by="ops", reason="noop", now_ns=2)
    event = switch.reset(R, by="ops", reason="venue back", now_ns=3)
    assert (event.state, event.source, event.reason) == (R, "reset", "ops: venue back")
    assert [e.state for e in switch.history] == [H, R]


def test_events_round_trip_through_msgpack():
    event = KillSwitch().trip(R, source=TripSource.ESCALATION, reason="gateway", now_ns=5)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(event), type=KillSwitchChanged) == event


@given(st.lists(st.sampled_from([A, R, H]), max_size=20))
def test_whatever_the_trips_the_state_is_the_strictest_so_far(trips):
    switch = KillSwitch()
    order = {A: 0, R: 1, H: 2}
    strictest = A
    for state in trips:
        switch.trip(state, source=TripSource.RISK, reason="x", now_ns=0)
        strictest = max(strictest, state, key=order.__getitem__)
        assert switch.state is strictest
