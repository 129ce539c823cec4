"""Injected time: a fake clock that jumps, a system clock whose timers fire."""

from __future__ import annotations

import threading

from tradeactors.clock import FakeClock, SystemClock


class TestFakeClock:
    def test_timers_fire_in_due_order_when_time_is_advanced_past_them(self):
        clock = FakeClock()
        fired: list[tuple[str, int]] = []
        clock.call_later(2.0, lambda: fired.append(("late", clock.monotonic_ns())))
        clock.call_later(1.0, lambda: fired.append(("early", clock.monotonic_ns())))
        clock.call_later(1.0, lambda: fired.append(("early-second", clock.monotonic_ns())))
        clock.advance(0.5)
        assert fired == []
        clock.advance(2.0)
        assert fired == [
            ("early", 1_000_000_000),
            ("early-second", 1_000_000_000),
            ("late", 2_000_000_000),
        ]
        assert clock.monotonic_ns() == 2_500_000_000

    def test_a_cancelled_timer_never_fires(self):
        clock = FakeClock()
        fired: list[int] = []
        timer = clock.call_later(1.0, lambda: fired.append(1))
        timer.cancel()
        clock.advance(5)
        assert fired == []
        assert clock.pending() == 0

    def test_a_timer_scheduled_by_a_timer_fires_within_the_same_advance(self):
        clock = FakeClock()
        fired: list[int] = []
        clock.call_later(
            1.0, lambda: clock.call_later(1.0, lambda: fired.append(clock.monotonic_ns()))
        )
        clock.advance(3.0)
        assert fired == [2_000_000_000]

    def test_wall_time_moves_with_monotonic_time(self):
        clock = FakeClock(start_ns=0, wall_offset_ns=10)
        clock.advance(1)
        assert clock.time_ns() == 1_000_000_010


class TestSystemClock:
    def test_a_timer_fires_on_the_scheduler_thread_and_close_stops_it(self):
        clock = SystemClock()
        fired = threading.Event()
        clock.call_later(0.001, fired.set)
        try:
            assert fired.wait(10)
        finally:
            clock.close()
        later = threading.Event()
        clock.call_later(0.0, later.set)
        assert not later.is_set()

    def test_monotonic_time_never_goes_back(self):
        clock = SystemClock()
        readings = [clock.monotonic_ns() for _ in range(1000)]
        assert readings == sorted(readings)
        clock.close()


class TestFakeClockStepping:
    """What the lockstep driver steps with: the next timer's time, and exact jumps."""

    def test_next_due_is_the_earliest_pending_timer(self):
        clock = FakeClock(start_ns=100)
        assert clock.next_due_ns() is None
        late = clock.call_later(2e-9, lambda: None)
        clock.call_later(1e-9, lambda: None).cancel()
        assert clock.next_due_ns() == 102
        late.cancel()
        assert clock.next_due_ns() is None

    def test_advance_to_lands_on_the_exact_nanosecond_running_what_falls_due(self):
        clock = FakeClock(start_ns=1_723_075_200_123_456_789, wall_offset_ns=0)
        fired: list[int] = []
        clock.call_later(0.005, lambda: fired.append(clock.monotonic_ns()))
        clock.advance_to(1_723_075_200_128_456_788)
        assert fired == []
        clock.advance_to(1_723_075_200_128_456_789)
        assert fired == [1_723_075_200_128_456_789]
        assert clock.time_ns() == clock.monotonic_ns() == 1_723_075_200_128_456_789

    def test_advance_to_the_past_leaves_the_time_as_it_is(self):
        clock = FakeClock(start_ns=1_000)
        clock.advance_to(10)
        assert clock.monotonic_ns() == 1_000
