"""``ChildSpec.on_failure``: the supervisor's "tell the others before restarting it"."""

from __future__ import annotations

import threading

import pytest
from _actors import CRASH, STOP, Worker

from tradeactors.supervision import ActorStarted, ChildSpec, Strategy, SupervisorSpec
from tradeactors.supervision.testing import Inbox

pytestmark = pytest.mark.supervision


def _spec(hook, inbox: Inbox, lifecycle: Inbox) -> SupervisorSpec:
    return SupervisorSpec(
        name="root",
        strategy=Strategy.REST_FOR_ONE,
        children=(
            ChildSpec(name="manager", actor=Worker, args=(inbox, lifecycle)),
            ChildSpec(name="gateway", actor=Worker, args=(Inbox(), lifecycle), on_failure=hook),
        ),
    )


def test_the_hook_runs_on_a_crash_before_the_successor_starts(make_tree, events):
    inbox, lifecycle = Inbox(), Inbox()
    calls: list[tuple[str, str, list]] = []

    def hook(path, error):
        calls.append((path, repr(error), list(lifecycle.snapshot())))
        tree.address("manager").tell(("venue down", path))

    tree = make_tree(_spec(hook, inbox, lifecycle), start=False)
    tree.subscribe(events)
    tree.start(timeout=10)
    tree.address("gateway").tell(CRASH)
    events.wait_for(ActorStarted, path="gateway", count=2)
    (path, error, seen) = calls[0]
    assert (path, len(calls)) == ("gateway", 1)
    assert "asked to crash" in error
    assert ("start", "gateway", 2) not in seen  # it ran before the restart
    # the manager heard it before anything the successor could send
    assert inbox.wait_for_count(1) == [(1, ("venue down", "gateway"))]  # (incarnation, msg)


def test_the_hook_runs_on_a_kill_but_not_on_a_normal_stop_or_shutdown(make_tree, events):
    calls: list[str] = []
    called = threading.Event()

    def hook(path, _error):
        calls.append(path)
        called.set()

    tree = make_tree(_spec(hook, Inbox(), Inbox()), start=False)
    tree.subscribe(events)
    tree.start(timeout=10)
    tree.faults("gateway").kill()
    assert called.wait(10)
    events.wait_for(ActorStarted, path="gateway", count=2)
    tree.address("gateway").tell(STOP)  # a normal exit: permanent, restarted, no hook
    events.wait_for(ActorStarted, path="gateway", count=3)
    tree.stop(timeout=10)
    assert calls == ["gateway"]


def test_a_hook_that_raises_is_logged_and_the_child_still_restarts(make_tree, events):
    def hook(_path, _error):
        raise RuntimeError("hook bug")

    tree = make_tree(_spec(hook, Inbox(), Inbox()), start=False)
    tree.subscribe(events)
    tree.start(timeout=10)
    tree.address("gateway").tell(CRASH)
    events.wait_for(ActorStarted, path="gateway", count=2)
    assert tree.running
