"""Regressions for faults found in review: abandoned incarnations, raising subscribers
and timers, BaseException in handlers, control messages in bounded mailboxes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from _actors import CRASH, FailingStart, Worker

from tradeactors.clock import FakeClock, SystemClock
from tradeactors.errors import ChildStartError
from tradeactors.supervision import (
    ActorExited,
    ActorStarted,
    Backoff,
    ChildSpec,
    DeadLetterReason,
    MailboxSpec,
    Overflow,
    Restart,
    RestartScheduled,
    Strategy,
    SupervisedActor,
    SupervisorSpec,
)
from tradeactors.supervision.testing import Inbox

pytestmark = pytest.mark.supervision


class Stuck(SupervisedActor):
    """Blocks in its handler on ``"hang"`` until ``release``; marks start and stop."""

    def __init__(self, lifecycle: Inbox, entered: threading.Event, release: threading.Event):
        super().__init__()
        self._lifecycle = lifecycle
        self._entered = entered
        self._release = release

    def on_start(self) -> None:
        self._lifecycle.append(("start", self.context.incarnation))

    def on_stop(self) -> None:
        self._lifecycle.append(("stop", self.context.incarnation))

    def on_receive(self, message: Any) -> Any:
        if message == "hang":
            self._entered.set()
            self._release.wait(30)
        return (self.context.incarnation, message)


def test_an_abandoned_incarnation_neither_runs_on_stop_nor_marks_its_successor_down(
    make_tree, events
):
    lifecycle, entered, release = Inbox(), threading.Event(), threading.Event()
    spec = SupervisorSpec(
        name="root",
        strategy=Strategy.ONE_FOR_ALL,
        children=(
            ChildSpec(name="stuck", actor=Stuck, args=(lifecycle, entered, release), shutdown=0.1),
            ChildSpec(name="w", actor=Worker, args=(Inbox(), Inbox())),
        ),
    )
    tree = make_tree(spec)
    tree.subscribe(events)
    try:
        tree.address("stuck").tell("hang")
        assert entered.wait(10)
        tree.address("w").tell(CRASH)  # one_for_all: stuck must stop, overruns, is abandoned
        events.wait_for(ActorStarted, "stuck", where=lambda e: e.incarnation == 2)
    finally:
        release.set()
    events.wait_for(ActorExited, "stuck", where=lambda e: e.incarnation == 1)
    assert lifecycle.snapshot() == [("start", 1), ("start", 2)]  # no on_stop from #1
    assert tree.address("stuck").is_alive()
    assert tree.address("stuck").ask("ping", timeout=5) == (2, "ping")


def test_incarnation_start_commit_and_abandon_exclude_each_other(make_tree):
    tree = make_tree(
        SupervisorSpec(
            name="root", children=(ChildSpec(name="w", actor=Worker, args=(Inbox(), Inbox())),)
        )
    )
    live = tree._tree.cell("w").incarnation
    assert live is not None
    assert live.abandon_start() is False  # it already started: it stays
    assert tree.address("w").ask("still served", timeout=5) == "still served"


class Raising:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, _event: object) -> None:
        self.calls += 1
        raise RuntimeError("subscriber bug")


def test_a_raising_event_subscriber_breaks_neither_restarts_nor_stop(make_tree, events):
    inbox = Inbox()
    tree = make_tree(
        SupervisorSpec(
            name="root", children=(ChildSpec(name="w", actor=Worker, args=(inbox, Inbox())),)
        )
    )
    raising = Raising()
    tree.subscribe(raising)
    tree.subscribe(events)
    tree.address("w").tell(CRASH)
    events.wait_for(ActorStarted, "w", where=lambda e: e.incarnation == 2)
    assert tree.running
    tree.stop(timeout=10)
    assert not tree.running
    assert raising.calls >= 3


def test_a_raising_dead_letter_subscriber_loses_no_letter_and_no_ask(make_tree):
    tree = make_tree(
        SupervisorSpec(
            name="root", children=(ChildSpec(name="w", actor=Worker, args=(Inbox(), Inbox())),)
        )
    )
    tree.dead_letters.subscribe(Raising())
    tree.faults("w").slow(0.05)
    tree.address("w").tell("first")
    tree.address("w").tell("second")
    future = tree.address("w").ask_future("asked")
    tree.stop(timeout=10)
    with pytest.raises(Exception, match="not running"):
        future.get(timeout=5)
    assert tree.dead_letters.count >= 1


def test_a_raising_timer_callback_does_not_stop_the_clock():
    clock = SystemClock()
    fired = threading.Event()
    try:
        clock.call_later(0.0, lambda: 1 / 0)
        clock.call_later(0.01, fired.set)
        assert fired.wait(10)
    finally:
        clock.close()


def test_a_raising_fake_clock_timer_does_not_stop_later_timers():
    clock = FakeClock()
    fired: list[int] = []
    clock.call_later(1, lambda: 1 / 0)
    clock.call_later(2, lambda: fired.append(2))
    clock.advance(3)
    assert fired == [2]


class Exits(SupervisedActor):
    def on_receive(self, message: Any) -> Any:
        if message == "exit":
            raise SystemExit(3)
        return message


def test_a_base_exception_in_a_handler_dead_letters_the_message_and_the_actor_restarts(
    make_tree, events
):
    tree = make_tree(SupervisorSpec(name="root", children=(ChildSpec(name="x", actor=Exits),)))
    tree.subscribe(events)
    tree.address("x").tell("exit")
    tree.address("x").tell("after")
    events.wait_for(ActorStarted, "x", where=lambda e: e.incarnation == 2)
    (letter,) = tree.dead_letters.recent()
    assert (letter.message, letter.reason) == ("exit", DeadLetterReason.CRASHED)
    assert isinstance(letter.error, SystemExit)
    assert tree.address("x").ask("ping", timeout=5) == "ping"
    future = tree.address("x").ask_future("exit")
    with pytest.raises(SystemExit):
        future.get(timeout=5)


class Quote:
    def __init__(self, instrument: str) -> None:
        self.instrument = instrument


class StopsItself(SupervisedActor):
    def on_receive(self, message: Any) -> Any:
        if message.instrument == "STOP":
            self.stop()
        return None


def test_a_conflating_mailbox_never_applies_its_key_to_pykkas_stop(make_tree, events):
    spec = SupervisorSpec(
        name="root",
        children=(
            ChildSpec(
                name="s",
                actor=StopsItself,
                restart=Restart.TRANSIENT,
                mailbox=MailboxSpec(
                    overflow=Overflow.CONFLATE, conflate_key=lambda m: m.instrument
                ),
            ),
        ),
    )
    tree = make_tree(spec)
    tree.subscribe(events)
    tree.address("s").tell(Quote("STOP"))
    (exited,) = events.wait_for(ActorExited, "s")
    assert exited.reason == "normal"


def test_kill_is_refused_while_the_actor_waits_for_its_restart(make_tree, events):
    clock = FakeClock()
    tree = make_tree(
        SupervisorSpec(
            name="root",
            children=(
                ChildSpec(
                    name="w", actor=Worker, args=(Inbox(), Inbox()), backoff=Backoff(min_delay=1.0)
                ),
            ),
        ),
        clock=clock,
    )
    tree.subscribe(events)
    tree.address("w").tell(CRASH)
    events.wait_for(RestartScheduled, "w")
    assert tree.faults("w").kill() is False


def test_a_failed_start_names_the_innermost_failing_path(make_tree):
    lifecycle = Inbox()
    spec = SupervisorSpec(
        name="root",
        children=(
            SupervisorSpec(
                name="g",
                children=(
                    ChildSpec(
                        name="bad", actor=FailingStart, args=(Inbox(), lifecycle, frozenset({1}))
                    ),
                ),
            ),
        ),
    )
    tree = make_tree(spec, start=False)
    with pytest.raises(ChildStartError) as caught:
        tree.start(timeout=10)
    assert caught.value.path == "g/bad"


def test_two_message_classes_with_one_name_make_one_metric_series(make_tree, registry):
    first = type("Tick", (), {})
    second = type("Tick", (), {"__module__": "elsewhere"})
    tree = make_tree(
        SupervisorSpec(
            name="root", children=(ChildSpec(name="w", actor=Worker, args=(Inbox(), Inbox())),)
        ),
        registry=registry,
    )
    tree.address("w").tell(first())
    tree.address("w").ask(second(), timeout=5)
    value = registry.get_sample_value(
        "tradeactors_messages_processed_total", {"path": "w", "message_type": "Tick"}
    )
    assert value == 2
