"""Under gevent: waking an actor hands the CPU straight to it, not through the hub.

gevent's own queues and conditions wake a blocked greenlet through the hub: ``put``
schedules a hub callback, and the woken greenlet runs only once the running one has
switched to the hub and the hub has gone round its loop (an epoll poll included).
On the machines this was measured on that is ~5 µs per actor hop, against ~0.2 µs for
switching from one greenlet to another directly.

Here a greenlet that blocks (`Parker.park`) while another actor has been woken
(`Parker.unpark`) switches straight to that actor. The hub keeps its turn:

- every wake also schedules one hub callback that resumes whatever is still waiting to
  run, so a wake from a greenlet that then blocks on something else (a socket, an
  event, the host's main greenlet) is served by the hub as gevent would serve it;
- a greenlet blocks through the hub when nobody is waiting to run, and once a turn of
  the hub's loop has lasted gevent's switch interval (5 ms by default: how long gevent
  itself runs callbacks before it polls again); past that, woken actors run from hub
  callbacks, as with gevent's queues, until the hub has polled its sockets and timers.
  So these wait about as long as they would with gevent's own queues.

A parker belongs to one OS thread's hub: under the gevent runtime every actor, timer and
supervisor is a greenlet of the main thread. Waking a parker from another OS thread is
not supported (neither is it with gevent's own queues).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from greenlet import getcurrent

__all__ = ["HandoffQueue", "Parker"]


class _Wait:
    """One greenlet blocked in `Parker.park`.

    ``greenlet`` is None once it has resumed; ``waiting`` is True until it is woken.
    """

    __slots__ = ("greenlet", "waiting")

    def __init__(self, greenlet: Any) -> None:
        self.greenlet: Any = greenlet
        self.waiting = True


class _Scheduler:
    """The greenlets woken and not yet resumed, for one hub."""

    __slots__ = (
        "hub",
        "iteration",
        "loop",
        "now_ns",
        "ready",
        "run_callback",
        "scheduled",
        "turn_ends_ns",
        "window_ns",
    )

    def __init__(self, hub: Any) -> None:
        from gevent import getswitchinterval  # noqa: PLC0415 - only under gevent

        self.hub = hub
        self.loop = hub.loop
        self.ready: deque[_Wait] = deque()
        self.scheduled = False
        self.run_callback = hub.loop.run_callback
        self.now_ns = time.perf_counter_ns
        self.window_ns = int(getswitchinterval() * 1e9)
        # The hub loop's turn that opened the window; None for a loop that does not
        # count its turns (libev's does: ``iteration``).
        self.iteration: int | None = -1 if hasattr(hub.loop, "iteration") else None
        self.turn_ends_ns = 0

    def wake(self, wait: _Wait) -> None:
        self.ready.append(wait)
        if not self.scheduled:
            self.scheduled = True
            self.run_callback(self._run_ready)

    def _run_ready(self) -> None:
        """In the hub: resume what was waiting to run when it was called, oldest first.

        Only those: what they wake in turn waits for the next call, after the hub's
        other callbacks. The first call in a turn of the hub's loop (after a poll of
        sockets and timers) opens the window for direct switches.
        """
        self.scheduled = False
        now = self.now_ns()
        if self.iteration is None:  # a loop that does not count its turns: alternate
            if now >= self.turn_ends_ns + self.window_ns:
                self.turn_ends_ns = now + self.window_ns
        elif self.loop.iteration != self.iteration:
            self.iteration = self.loop.iteration
            self.turn_ends_ns = now + self.window_ns
        ready = self.ready
        for _ in range(len(ready)):
            if not ready:
                return
            greenlet = ready.popleft().greenlet
            if greenlet is not None:  # else it resumed some other way (killed)
                greenlet.switch()

    def block(self, wait: _Wait) -> None:
        """Switch away from ``wait``'s greenlet until something resumes it."""
        ready = self.ready
        if ready and self.now_ns() < self.turn_ends_ns:
            while ready:
                target = ready.popleft().greenlet
                if target is None:
                    continue
                if target is wait.greenlet:  # woken again before it could block: go on
                    return
                target.switch()
                return
        self.hub.switch()


def _scheduler() -> _Scheduler:
    from gevent import get_hub  # noqa: PLC0415 - only under the gevent runtime

    hub = get_hub()
    scheduler: _Scheduler | None = getattr(hub, "_tradeactors_scheduler", None)
    if scheduler is None:
        scheduler = _Scheduler(hub)
        hub._tradeactors_scheduler = scheduler
    return scheduler


class Parker:
    """Blocks greenlets until woken, waking them in the order they blocked.

    A wake with nobody blocked is kept (one permit): the next `park` returns at once.
    So a caller re-checks its condition in a loop, as with a condition variable, and
    no wake is ever lost.
    """

    __slots__ = ("_permit", "_scheduler", "_waits")

    def __init__(self) -> None:
        self._scheduler = _scheduler()
        self._waits: deque[_Wait] = deque()
        self._permit = False

    def park(self) -> None:
        """Block the calling greenlet until `unpark` (returns at once if one is pending)."""
        if self._permit:
            self._permit = False
            return
        wait = _Wait(getcurrent())
        self._waits.append(wait)
        resumed = False
        try:
            self._scheduler.block(wait)
            resumed = True
        finally:
            wait.greenlet = None  # a wake still queued for it is skipped
            if wait.waiting:  # left without being woken (killed, timed out)
                self._waits.remove(wait)
            elif not resumed:  # woken, then killed before it could run: pass it on
                self.unpark()

    def unpark(self) -> None:
        """Wake the oldest blocked greenlet, or keep a permit if none is blocked."""
        if self._waits:
            wait = self._waits.popleft()
            wait.waiting = False
            self._scheduler.wake(wait)
        else:
            self._permit = True

    def unpark_all(self) -> None:
        """Wake every blocked greenlet (and keep a permit)."""
        waits = self._waits
        while waits:
            wait = waits.popleft()
            wait.waiting = False
            self._scheduler.wake(wait)
        self._permit = True


class HandoffQueue:
    """An unbounded FIFO with ``queue.SimpleQueue``'s methods, over a `Parker`."""

    __slots__ = ("_items", "_parker")

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._parker = Parker()

    def put(self, item: Any) -> None:
        """Append ``item`` and wake the oldest blocked getter."""
        self._items.append(item)
        self._parker.unpark()

    def get(self) -> Any:
        """The oldest item, blocking the calling greenlet until there is one."""
        items = self._items
        while not items:
            self._parker.park()
        return items.popleft()

    def get_nowait(self) -> Any:
        """The oldest item. Raises ``queue.Empty`` if there is none."""
        try:
            return self._items.popleft()
        except IndexError:
            import queue  # noqa: PLC0415 - the rare path

            raise queue.Empty from None

    def qsize(self) -> int:
        """How many items are queued."""
        return len(self._items)
