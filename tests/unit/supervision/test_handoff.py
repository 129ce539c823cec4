"""The gevent runtime's mailbox queue: direct handoff between greenlets, the hub kept fed.

These use gevent's greenlets and hub directly, so they run in both test sessions
(the threads session's main thread gets a hub of its own; nothing is patched there).
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

import gevent
import pytest

from tradeactors.supervision._handoff import HandoffQueue, Parker, _scheduler

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.supervision

TIMEOUT = 10.0


def _join(*greenlets: gevent.Greenlet) -> None:
    done = gevent.joinall(greenlets, timeout=TIMEOUT, raise_error=True)
    assert len(done) == len(greenlets), "a greenlet is still blocked"


def test_items_come_out_in_order_and_a_blocked_getter_is_woken():
    queue = HandoffQueue()
    got: list[int] = []

    def consume() -> None:
        got.extend(queue.get() for _ in range(5))

    consumer = gevent.spawn(consume)
    gevent.sleep(0)  # it blocks on the empty queue
    assert got == []
    for item in range(5):
        queue.put(item)
    _join(consumer)
    assert got == [0, 1, 2, 3, 4]
    assert queue.qsize() == 0


def test_get_nowait_on_an_empty_queue_raises_empty():
    import queue as stdlib_queue

    handoff = HandoffQueue()
    with pytest.raises(stdlib_queue.Empty):
        handoff.get_nowait()
    handoff.put("x")
    assert handoff.get_nowait() == "x"


def test_blocked_greenlets_are_woken_oldest_first():
    parker = Parker()
    order: list[str] = []

    def wait(name: str) -> None:
        parker.park()
        order.append(name)

    first, second = gevent.spawn(wait, "first"), gevent.spawn(wait, "second")
    gevent.sleep(0)  # both blocked, first before second
    parker.unpark()
    gevent.sleep(0)
    assert order == ["first"]
    parker.unpark()
    _join(first, second)
    assert order == ["first", "second"]


def test_a_wake_with_nobody_blocked_is_kept_for_the_next_park():
    parker = Parker()
    parker.unpark()
    parker.park()  # returns at once: it would block for ever otherwise (LoopExit)


def test_a_chain_of_greenlets_passes_messages_without_the_hub():
    queues = [HandoffQueue() for _ in range(6)]
    out: list[int] = []

    def stage(index: int) -> None:
        while (item := queues[index].get()) is not None:
            if index + 1 < len(queues):
                queues[index + 1].put(item)
            else:
                out.append(item)
        if index + 1 < len(queues):
            queues[index + 1].put(None)

    stages = [gevent.spawn(stage, index) for index in range(len(queues))]
    for item in range(1000):
        queues[0].put(item)
    queues[0].put(None)
    _join(*stages)
    assert out == list(range(1000))


@pytest.fixture
def slow_clock() -> Iterator[None]:
    """Each reading of the handoff's clock is 1 ms later: a turn's window (gevent's
    switch interval, 5 ms) then closes after a handful of direct switches."""
    scheduler = _scheduler()
    real, ticks = scheduler.now_ns, itertools.count()
    scheduler.now_ns = lambda: real() + next(ticks) * 1_000_000
    try:
        yield
    finally:
        scheduler.now_ns = real
        scheduler.turn_ends_ns, scheduler.iteration = 0, -1  # no window from the fake clock


def test_a_busy_ping_pong_still_lets_the_hub_run_other_greenlets(slow_clock):
    """Once a turn's window has passed, the hub's other callbacks run (a spawned greenlet)."""
    ping, pong = HandoffQueue(), HandoffQueue()
    exchanged = [0]
    rounds = 5000

    def player(inbox: HandoffQueue, outbox: HandoffQueue) -> None:
        while (item := inbox.get()) is not None:
            exchanged[0] += 1
            outbox.put(item - 1 if item > 0 else None)
        outbox.put(None)

    seen_at: list[int] = []
    players = [gevent.spawn(player, ping, pong), gevent.spawn(player, pong, ping)]
    gevent.sleep(0)  # both blocked
    ping.put(rounds)
    bystander = gevent.spawn(lambda: seen_at.append(exchanged[0]))
    _join(*players, bystander)
    assert exchanged[0] >= rounds
    assert seen_at, "the bystander never ran"
    assert seen_at[0] <= 20, f"the hub waited {seen_at[0]} handoffs"


def _handlers_before_a_1ms_timer(handler_seconds: float, limit: int) -> int | None:
    """Two actors keep each other busy (each handler computing ``handler_seconds``); a
    1 ms hub timer is started. How many handlers ran before it fired (None: never)."""
    ping, pong = HandoffQueue(), HandoffQueue()
    fired_after: list[int] = []
    handled = [0]

    def player(inbox: HandoffQueue, outbox: HandoffQueue) -> None:
        while not fired_after and handled[0] < limit:
            inbox.get()
            if handler_seconds:
                _spin(handler_seconds)
            handled[0] += 1
            outbox.put(1)
        outbox.put(1)  # let the other one see the end

    players = [gevent.spawn(player, ping, pong), gevent.spawn(player, pong, ping)]
    gevent.sleep(0)
    timer = gevent.get_hub().loop.timer(0.001)
    timer.start(lambda: fired_after.append(handled[0]))
    ping.put(1)
    try:
        _join(*players)
    finally:
        timer.close()
    return fired_after[0] if fired_after else None


def _spin(seconds: float) -> None:
    """A handler's computation: holds the CPU without yielding, as Python code does."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_timer_fires_while_actors_keep_each_other_busy():
    fired_after = _handlers_before_a_1ms_timer(0.0, limit=10_000_000)
    assert fired_after is not None, "the timer never fired: the ping-pong starved the hub"


def test_a_killed_waiter_is_skipped_and_the_next_one_woken():
    parker = Parker()
    woken: list[str] = []

    def wait(name: str) -> None:
        parker.park()
        woken.append(name)

    doomed, survivor = gevent.spawn(wait, "doomed"), gevent.spawn(wait, "survivor")
    gevent.sleep(0)
    doomed.kill(block=True, timeout=TIMEOUT)
    parker.unpark()
    _join(survivor)
    assert woken == ["survivor"]


def test_a_timer_is_not_held_back_by_busy_handlers_beyond_the_cap():
    """Handlers computing ~100 µs each: a 1 ms timer fires after a bounded number of them.

    gevent's own queues run callbacks for up to its switch interval (5 ms, ~50 of these
    handlers) before polling; handoff switches directly for up to that long in a turn,
    then leaves the rest to the hub's callbacks. (An earlier version renewed its budget
    per hub callback and let ~1,400 run first: 150 ms.)
    """
    fired_after = _handlers_before_a_1ms_timer(100e-6, limit=5000)
    assert fired_after is not None, "the timer never fired"
    per_interval = int(gevent.getswitchinterval() / 100e-6)
    assert fired_after <= 2 * per_interval + 60, f"{fired_after} handlers ran first"


def test_a_wake_is_passed_on_when_the_woken_greenlet_dies_before_it_runs():
    """Two getters; the first is woken by a put but killed before it resumes."""
    queue = HandoffQueue()
    got: list[tuple[str, object]] = []

    def getter(name: str) -> None:
        got.append((name, queue.get()))

    doomed, survivor = gevent.spawn(getter, "doomed"), gevent.spawn(getter, "survivor")
    gevent.sleep(0)  # both blocked, doomed first
    doomed.kill(block=False)  # the kill is scheduled first ...
    queue.put("x")  # ... and the put's wake goes to doomed, which dies before running
    _join(survivor)
    assert got == [("survivor", "x")]
    assert queue.qsize() == 0
