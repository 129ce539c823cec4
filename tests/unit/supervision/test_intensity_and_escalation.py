"""Restart intensity, escalation to the parent, and the root's escalation hook."""

from __future__ import annotations

import threading

import pytest
from _actors import CRASH, Worker

from tradeactors.clock import FakeClock
from tradeactors.errors import RestartIntensityExceededError
from tradeactors.supervision import (
    ActorStarted,
    ChildSpec,
    SupervisorEscalated,
    SupervisorSpec,
)
from tradeactors.supervision.testing import Inbox

pytestmark = pytest.mark.supervision


def _crash_and_wait(tree, events, path: str, incarnation: int) -> None:
    tree.address(path).tell(CRASH)
    events.wait_for(ActorStarted, path, where=lambda e: e.incarnation == incarnation)


class Escalations:
    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.called = threading.Event()

    def __call__(self, error: BaseException) -> None:
        self.errors.append(error)
        self.called.set()


def _root(inbox: Inbox, lifecycle: Inbox, **kwargs: object) -> SupervisorSpec:
    return SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="a", actor=Worker, args=(inbox, lifecycle)),
            ChildSpec(name="b", actor=Worker, args=(inbox, lifecycle)),
        ),
        **kwargs,  # type: ignore[arg-type]
    )


class TestIntensity:
    def test_three_restarts_within_the_period_are_allowed(self, make_tree, events):
        clock = FakeClock()
        tree = make_tree(_root(Inbox(), Inbox()), clock=clock)
        tree.subscribe(events)
        for incarnation in (2, 3, 4):
            _crash_and_wait(tree, events, "a", incarnation)
        assert tree.running
        assert not events.matching(SupervisorEscalated)

    def test_the_fourth_restart_within_the_period_escalates_and_stops_children_in_reverse(
        self, make_tree, events
    ):
        clock = FakeClock()
        escalations = Escalations()
        lifecycle = Inbox()
        tree = make_tree(_root(Inbox(), lifecycle), clock=clock, on_escalation=escalations)
        tree.subscribe(events)
        for incarnation in (2, 3, 4):
            _crash_and_wait(tree, events, "a", incarnation)
        tree.address("a").tell(CRASH)
        assert escalations.called.wait(10)
        assert tree.wait(10)
        assert not tree.running
        (error,) = escalations.errors
        assert isinstance(error, RestartIntensityExceededError)
        assert (error.path, error.restarts, error.child) == ("/", 4, "a")
        assert isinstance(tree.failure, RestartIntensityExceededError)
        stops = [(p, n) for what, p, n in lifecycle.snapshot() if what == "stop"]
        assert stops == [("b", 1)]  # a had crashed; b stopped by the escalation
        assert tree.address("b").is_closed()

    def test_restarts_older_than_the_period_no_longer_count(self, make_tree, events):
        clock = FakeClock()
        tree = make_tree(_root(Inbox(), Inbox()), clock=clock)
        tree.subscribe(events)
        for incarnation in (2, 3, 4):
            _crash_and_wait(tree, events, "a", incarnation)
        clock.advance(5.0)
        for incarnation in (5, 6, 7):
            _crash_and_wait(tree, events, "a", incarnation)
        assert tree.running

    def test_intensity_zero_escalates_on_the_first_crash(self, make_tree):
        escalations = Escalations()
        tree = make_tree(_root(Inbox(), Inbox(), intensity=0), on_escalation=escalations)
        tree.address("b").tell(CRASH)
        assert escalations.called.wait(10)
        assert isinstance(escalations.errors[0], RestartIntensityExceededError)

    def test_a_nested_supervisor_that_escalates_is_restarted_by_its_parent(self, make_tree, events):
        clock = FakeClock()
        inbox, lifecycle = Inbox(), Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="a", actor=Worker, args=(inbox, lifecycle)),
                SupervisorSpec(
                    name="sub",
                    intensity=1,
                    children=(
                        ChildSpec(name="x", actor=Worker, args=(inbox, lifecycle)),
                        ChildSpec(name="y", actor=Worker, args=(inbox, lifecycle)),
                    ),
                ),
            ),
        )
        tree = make_tree(spec, clock=clock)
        tree.subscribe(events)
        _crash_and_wait(tree, events, "sub/x", 2)
        tree.address("sub/y").tell("queued for y while its supervisor restarts")
        tree.address("sub/x").tell(CRASH)
        events.wait_for(SupervisorEscalated, "sub")
        events.wait_for(ActorStarted, "sub", where=lambda e: e.incarnation == 2)
        assert tree.running
        assert tree.stats("a").incarnations == 1
        assert tree.stats("sub/x").incarnations == 3
        assert tree.stats("sub/y").incarnations == 2
        # The subtree restarted under the same addresses, nothing queued was lost.
        assert tree.address("sub/y").ask("ping", timeout=5) == "ping"
        handled = [m for _, m in inbox.snapshot()]
        assert handled.count("queued for y while its supervisor restarts") == 1

    def test_escalation_hook_may_stop_the_tree(self, make_tree):
        done = threading.Event()
        holder: dict[str, object] = {}

        def hook(error: BaseException) -> None:
            holder["tree"].stop(timeout=5)  # type: ignore[attr-defined]
            done.set()

        tree = make_tree(_root(Inbox(), Inbox(), intensity=0), on_escalation=hook)
        holder["tree"] = tree
        tree.address("a").tell(CRASH)
        assert done.wait(10)
        assert not tree.running
