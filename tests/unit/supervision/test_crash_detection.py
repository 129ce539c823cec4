"""Which exits a supervisor sees, and how restarted actors find their messages."""

from __future__ import annotations

import threading

import pytest
from _actors import CRASH, FailingConstructor, FailingStart, Hang, PlainPykka, Worker

from tradeactors.errors import ChildStartError, InjectedFaultError
from tradeactors.supervision import (
    ActorExited,
    ActorStarted,
    ChildSpec,
    Restart,
    SupervisorSpec,
)
from tradeactors.supervision.testing import Inbox

pytestmark = pytest.mark.supervision


def _one_worker(inbox: Inbox, lifecycle: Inbox, **child: object) -> SupervisorSpec:
    """A root supervising one `Worker` named ``w``."""
    return SupervisorSpec(
        name="root",
        children=(ChildSpec(name="w", actor=Worker, args=(inbox, lifecycle), **child),),  # type: ignore[arg-type]
    )


class TestCrashDetection:
    def test_exception_in_a_told_handler_is_a_crash(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_one_worker(inbox, lifecycle))
        tree.subscribe(events)
        tree.address("w").tell(CRASH)
        (exited,) = events.wait_for(ActorExited, "w")
        assert exited.reason == "crashed"
        assert "asked to crash" in exited.error
        events.wait_for(ActorStarted, "w", where=lambda e: e.incarnation == 2)

    def test_exception_in_an_asked_handler_goes_to_the_caller_and_is_not_a_crash(self, make_tree):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_one_worker(inbox, lifecycle))
        with pytest.raises(RuntimeError, match="asked to crash"):
            tree.address("w").ask(CRASH, timeout=5)
        assert tree.address("w").ask("after", timeout=5) == "after"
        assert tree.stats("w").incarnations == 1
        assert tree.dead_letters.count == 0

    def test_failure_in_on_start_during_a_restart_counts_as_a_crash_and_is_retried(
        self, make_tree, events
    ):
        inbox, lifecycle = Inbox(), Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="w", actor=FailingStart, args=(inbox, lifecycle, frozenset({2}))),
            ),
        )
        tree = make_tree(spec)
        tree.subscribe(events)
        tree.faults("w").crash_next()
        tree.address("w").tell("crashes: injected")
        tree.address("w").tell("kept for incarnation 3")
        events.wait_for(ActorStarted, "w", where=lambda e: e.incarnation == 3)
        reasons = [e.reason for e in events.matching(ActorExited, "w")]
        assert reasons == ["crashed", "start_failed"]
        assert inbox.wait_for_count(1) == [(3, "kept for incarnation 3")]

    def test_failure_in_on_start_at_tree_start_fails_the_start_and_stops_what_started(
        self, make_tree
    ):
        inbox, lifecycle = Inbox(), Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="ok", actor=Worker, args=(inbox, lifecycle)),
                SupervisorSpec(
                    name="sub",
                    children=(
                        ChildSpec(
                            name="bad",
                            actor=FailingStart,
                            args=(inbox, lifecycle, frozenset({1})),
                        ),
                    ),
                ),
            ),
        )
        tree = make_tree(spec, start=False)
        with pytest.raises(ChildStartError, match="sub/bad") as caught:
            tree.start(timeout=10)
        assert "on_start fails on incarnation 1" in str(caught.value)
        assert lifecycle.snapshot() == [("start", "ok", 1), ("stop", "ok", 1)]
        assert not tree.running

    def test_failure_in_the_constructor_fails_the_start(self, make_tree):
        spec = SupervisorSpec(
            name="root", children=(ChildSpec(name="bad", actor=FailingConstructor),)
        )
        tree = make_tree(spec, start=False)
        with pytest.raises(ChildStartError, match="bad constructor argument"):
            tree.start(timeout=10)

    def test_actor_stopped_by_its_supervisor_is_not_a_crash(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_one_worker(inbox, lifecycle, restart=Restart.TRANSIENT))
        tree.subscribe(events)
        tree.stop(timeout=10)
        (exited,) = events.matching(ActorExited, "w")
        assert exited.reason == "shutdown"
        assert lifecycle.snapshot() == [("start", "w", 1), ("stop", "w", 1)]

    def test_a_host_pykka_actor_class_can_be_a_supervised_child(self, make_tree, events):
        inbox = Inbox()
        tree = make_tree(
            SupervisorSpec(
                name="root", children=(ChildSpec(name="p", actor=PlainPykka, args=(inbox,)),)
            )
        )
        tree.subscribe(events)
        tree.address("p").tell(CRASH)
        tree.address("p").tell("after the crash")
        events.wait_for(ActorStarted, "p", where=lambda e: e.incarnation == 2)
        assert inbox.wait_for_count(1) == ["after the crash"]


class TestAddresses:
    def test_an_address_reaches_the_current_incarnation_after_restarts(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(
            SupervisorSpec(
                name="root",
                intensity=10,
                children=(ChildSpec(name="w", actor=Worker, args=(inbox, lifecycle)),),
            )
        )
        tree.subscribe(events)
        address = tree.address("w")
        for incarnation in (2, 3):
            address.tell(CRASH)
            events.wait_for(ActorStarted, "w", where=lambda e, n=incarnation: e.incarnation == n)
            address.tell(f"to {incarnation}")
        assert inbox.wait_for_count(2) == [(2, "to 2"), (3, "to 3")]
        assert address.path == "w"
        assert address is tree.address("w")

    def test_unknown_path_is_a_clear_error(self, make_tree):
        tree = make_tree(SupervisorSpec(name="root", children=()))
        with pytest.raises(Exception, match="no actor at path 'nope'"):
            tree.address("nope")


class TestShutdown:
    def test_a_child_that_overruns_its_shutdown_timeout_is_abandoned_and_the_stop_goes_on(
        self, make_tree
    ):
        entered, release = threading.Event(), threading.Event()
        inbox, lifecycle = Inbox(), Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="first", actor=Worker, args=(inbox, lifecycle)),
                ChildSpec(name="hang", actor=Hang, args=(entered, release), shutdown=0.2),
            ),
        )
        tree = make_tree(spec)
        try:
            tree.stop(timeout=10)
            assert entered.is_set()
            assert ("stop", "first", 1) in lifecycle.snapshot()
            assert not tree.running
        finally:
            release.set()  # let the abandoned thread end, so the test leaks nothing


class TestDeadLetterOfACrash:
    def test_keeps_the_exception_without_its_frames_once_the_crash_is_handled(
        self, make_tree, events
    ):
        inbox, lifecycle = Inbox(), Inbox()
        hook_saw_traceback: list[bool] = []

        def on_failure(_path: str, error: BaseException | None) -> None:
            hook_saw_traceback.append(error is not None and error.__traceback__ is not None)

        tree = make_tree(_one_worker(inbox, lifecycle, on_failure=on_failure))
        tree.subscribe(events)
        tree.address("w").tell(CRASH)
        events.wait_for(ActorStarted, "w", where=lambda e: e.incarnation == 2)
        tree.children()  # an ask of the root: answered once it has handled the exit
        (letter,) = tree.dead_letters.recent()
        assert isinstance(letter.error, RuntimeError)
        assert repr(letter.error) == "RuntimeError('asked to crash')"
        assert letter.error.__traceback__ is None  # nor the frames it held
        assert hook_saw_traceback == [True]  # the supervisor's hook still had it


class TestFaultInjection:
    def test_crash_after_lets_n_messages_through_then_crashes_on_the_next(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_one_worker(inbox, lifecycle))
        tree.subscribe(events)
        tree.faults("w").crash_after(2)
        for n in range(5):
            tree.address("w").tell(n)
        assert inbox.wait_for_count(4) == [(1, 0), (1, 1), (2, 3), (2, 4)]
        (letter,) = tree.dead_letters.recent()
        assert letter.message == 2
        assert isinstance(letter.error, InjectedFaultError)

    def test_kill_is_an_abnormal_exit_without_on_stop(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_one_worker(inbox, lifecycle, restart=Restart.TRANSIENT))
        tree.subscribe(events)
        assert tree.faults("w").kill()
        events.wait_for(ActorStarted, "w", where=lambda e: e.incarnation == 2)
        assert [e.reason for e in events.matching(ActorExited, "w")] == ["killed"]
        assert ("stop", "w", 1) not in lifecycle.snapshot()

    def test_slow_adds_the_delay_to_every_handler_until_cleared(self, make_tree):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_one_worker(inbox, lifecycle))
        tree.faults("w").slow(0.02)
        tree.address("w").ask("slow", timeout=5)
        stats = tree.stats("w")
        assert stats.handler.sum_ns >= 20_000_000
        tree.faults("w").clear()
        assert not tree.faults("w").armed
        assert tree.address("w").ask("fast", timeout=5) == "fast"
