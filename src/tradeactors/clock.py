"""Time, injected: the only module that reads the system clock.

Actors and supervisors take a `Clock`. `SystemClock` reads the real clocks and runs
timers on one scheduler thread; `FakeClock` stands still until a test advances it,
and then runs the timers that fell due, in order, in the caller's thread.
Timer callbacks must be quick and must not block: the usual one ``tell``s an actor.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import TYPE_CHECKING, Protocol

import structlog

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Clock", "FakeClock", "SystemClock", "Timer", "perf_ns"]

perf_ns = time.perf_counter_ns
"""Monotonic high-resolution nanoseconds for measuring durations (metrics, benchmarks)."""

_NS = 1_000_000_000


class Timer:
    """A scheduled callback; `cancel` prevents it from running if it has not yet."""

    __slots__ = ("_callback", "cancelled", "due_ns")

    def __init__(self, due_ns: int, callback: Callable[[], None]) -> None:
        self.due_ns = due_ns
        self._callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Stop the callback from running. Cancelling twice or after it ran is harmless."""
        self.cancelled = True

    def _fire(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            try:
                self._callback()
            except Exception:  # noqa: BLE001 - one bad timer must not stop the others
                structlog.get_logger("tradeactors.clock").exception("timer_callback_raised")


class Clock(Protocol):
    """Where actors get the time and their timers."""

    def time_ns(self) -> int:
        """Wall-clock time, integer nanoseconds since the Unix epoch."""
        ...

    def monotonic_ns(self) -> int:
        """Monotonic time in integer nanoseconds, for intervals and deadlines."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once, ``delay`` seconds from now (monotonic)."""
        ...

    def close(self) -> None:
        """Release the clock's resources; pending timers never run."""
        ...


class _TimerHeap:
    """Timers ordered by due time, then by scheduling order."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Timer]] = []
        self._seq = itertools.count()

    def push(self, timer: Timer) -> None:
        heapq.heappush(self._heap, (timer.due_ns, next(self._seq), timer))

    def next_due_ns(self) -> int | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now_ns: int) -> list[Timer]:
        due: list[Timer] = []
        while self._heap and self._heap[0][0] <= now_ns:
            due.append(heapq.heappop(self._heap)[2])
        return due

    def clear(self) -> None:
        self._heap.clear()


class SystemClock:
    """The real clocks; timers run on one lazily started scheduler thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._timers = _TimerHeap()
        self._thread: threading.Thread | None = None
        self._closed = False

    def time_ns(self) -> int:  # noqa: D102
        return time.time_ns()

    def monotonic_ns(self) -> int:  # noqa: D102
        return time.monotonic_ns()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Schedule ``callback``; it runs on the clock's scheduler thread."""
        timer = Timer(time.monotonic_ns() + max(0, int(delay * _NS)), callback)
        with self._cond:
            if self._closed:
                timer.cancel()
                return timer
            self._timers.push(timer)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tradeactors-clock", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return timer

    def close(self) -> None:
        """Stop the scheduler thread; timers still pending are dropped."""
        with self._cond:
            self._closed = True
            self._timers.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    due_ns = self._timers.next_due_ns()
                    now = time.monotonic_ns()
                    if due_ns is not None and due_ns <= now:
                        due = self._timers.pop_due(now)
                        break
                    self._cond.wait(None if due_ns is None else (due_ns - now) / _NS)
            for timer in due:
                timer._fire()


class FakeClock:
    """A clock that only moves when told to; for deterministic tests.

    Example:
        >>> clock = FakeClock()
        >>> fired = []
        >>> _ = clock.call_later(2.0, lambda: fired.append(clock.monotonic_ns()))
        >>> clock.advance(1.0); fired
        []
        >>> clock.advance(1.0); fired
        [2000000000]

    """

    def __init__(self, start_ns: int = 0, wall_offset_ns: int = 1_700_000_000 * _NS) -> None:
        self._now_ns = start_ns
        self._wall_offset_ns = wall_offset_ns
        self._timers = _TimerHeap()
        self._lock = threading.Lock()

    def time_ns(self) -> int:  # noqa: D102
        return self._now_ns + self._wall_offset_ns

    def monotonic_ns(self) -> int:  # noqa: D102
        return self._now_ns

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Schedule ``callback``; it runs inside a later `advance` that reaches its time."""
        timer = Timer(self._now_ns + max(0, int(delay * _NS)), callback)
        with self._lock:
            self._timers.push(timer)
        return timer

    def pending(self) -> int:
        """How many timers are scheduled and not cancelled."""
        with self._lock:
            return sum(1 for _, _, t in self._timers._heap if not t.cancelled)

    def next_due_ns(self) -> int | None:
        """When the next pending timer is due (monotonic ns), or None: none is pending."""
        with self._lock:
            return self._timers.next_due_ns()

    def advance(self, seconds: float) -> None:
        """Move time forward, running each timer that falls due at its own time, in order."""
        self.advance_to(self._now_ns + int(seconds * _NS))

    def advance_to(self, target: int) -> None:
        """Move time forward to ``target`` (monotonic ns, exactly), running timers as `advance`.

        A target in the past leaves the time as it is (timers due by then still run).
        """
        while True:
            with self._lock:
                due_ns = self._timers.next_due_ns()
                if due_ns is None or due_ns > target:
                    break
                self._now_ns = max(self._now_ns, due_ns)
                due = self._timers.pop_due(due_ns)
            for timer in due:
                timer._fire()
        self._now_ns = max(self._now_ns, target)

    def close(self) -> None:
        """Drop every pending timer."""
        with self._lock:
            self._timers.clear()
