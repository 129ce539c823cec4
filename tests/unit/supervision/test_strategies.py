"""Restart strategies, restart types and start/stop order (OTP semantics)."""

from __future__ import annotations

import pytest
from _actors import CRASH, STOP, Worker

from tradeactors.errors import AddressClosedError
from tradeactors.supervision import (
    ActorExited,
    ActorStarted,
    ChildSpec,
    DeadLetterReason,
    Restart,
    Strategy,
    SupervisorSpec,
)
from tradeactors.supervision.testing import Inbox

pytestmark = pytest.mark.supervision


def _three(
    strategy: Strategy, inbox: Inbox, lifecycle: Inbox, **restart: Restart
) -> SupervisorSpec:
    return SupervisorSpec(
        name="root",
        strategy=strategy,
        children=tuple(
            ChildSpec(
                name=name,
                actor=Worker,
                args=(inbox, lifecycle),
                restart=restart.get(name, Restart.PERMANENT),
            )
            for name in ("a", "b", "c")
        ),
    )


class TestStartAndStopOrder:
    def test_children_start_in_order_and_stop_in_reverse(self, make_tree):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_three(Strategy.ONE_FOR_ONE, inbox, lifecycle))
        assert lifecycle.snapshot() == [("start", p, 1) for p in ("a", "b", "c")]
        tree.stop(timeout=10)
        assert lifecycle.snapshot()[3:] == [("stop", p, 1) for p in ("c", "b", "a")]

    def test_nested_supervisors_start_depth_first_and_stop_in_reverse(self, make_tree):
        inbox, lifecycle = Inbox(), Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="a", actor=Worker, args=(inbox, lifecycle)),
                SupervisorSpec(
                    name="sub",
                    children=(
                        ChildSpec(name="x", actor=Worker, args=(inbox, lifecycle)),
                        ChildSpec(name="y", actor=Worker, args=(inbox, lifecycle)),
                    ),
                ),
                ChildSpec(name="b", actor=Worker, args=(inbox, lifecycle)),
            ),
        )
        tree = make_tree(spec)
        starts = [path for _, path, _ in lifecycle.snapshot()]
        assert starts == ["a", "sub/x", "sub/y", "b"]
        tree.stop(timeout=10)
        stops = [path for what, path, _ in lifecycle.snapshot() if what == "stop"]
        assert stops == ["b", "sub/y", "sub/x", "a"]


class TestStrategies:
    def test_one_for_one_restarts_only_the_crashed_child(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_three(Strategy.ONE_FOR_ONE, inbox, lifecycle))
        tree.subscribe(events)
        tree.address("b").tell(CRASH)
        events.wait_for(ActorStarted, "b", where=lambda e: e.incarnation == 2)
        assert lifecycle.snapshot()[3:] == [("failure", "b", 1), ("start", "b", 2)]
        assert [tree.stats(p).incarnations for p in ("a", "b", "c")] == [1, 2, 1]

    def test_one_for_all_stops_the_others_in_reverse_then_restarts_all_in_order(
        self, make_tree, events
    ):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_three(Strategy.ONE_FOR_ALL, inbox, lifecycle))
        tree.subscribe(events)
        tree.address("b").tell(CRASH)
        events.wait_for(ActorStarted, "c", where=lambda e: e.incarnation == 2)
        assert lifecycle.snapshot()[3:] == [
            ("failure", "b", 1),
            ("stop", "c", 1),
            ("stop", "a", 1),
            ("start", "a", 2),
            ("start", "b", 2),
            ("start", "c", 2),
        ]

    def test_rest_for_one_restarts_the_crashed_child_and_those_after_it(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_three(Strategy.REST_FOR_ONE, inbox, lifecycle))
        tree.subscribe(events)
        tree.address("b").tell(CRASH)
        events.wait_for(ActorStarted, "c", where=lambda e: e.incarnation == 2)
        assert lifecycle.snapshot()[3:] == [
            ("failure", "b", 1),
            ("stop", "c", 1),
            ("start", "b", 2),
            ("start", "c", 2),
        ]
        assert tree.stats("a").incarnations == 1

    def test_siblings_stopped_for_a_restart_exit_with_shutdown_not_as_crashes(
        self, make_tree, events
    ):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_three(Strategy.ONE_FOR_ALL, inbox, lifecycle))
        tree.subscribe(events)
        tree.address("a").tell(CRASH)
        events.wait_for(ActorStarted, "c", where=lambda e: e.incarnation == 2)
        reasons = {e.path: e.reason for e in events.matching(ActorExited)}
        assert reasons == {"a": "crashed", "b": "shutdown", "c": "shutdown"}
        # only the crashed child's failing message is a dead letter
        assert [d.path for d in tree.dead_letters.recent()] == ["a"]


class TestRestartTypes:
    def test_permanent_child_is_restarted_after_a_normal_stop(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_three(Strategy.ONE_FOR_ONE, inbox, lifecycle))
        tree.subscribe(events)
        tree.address("a").tell(STOP)
        events.wait_for(ActorStarted, "a", where=lambda e: e.incarnation == 2)
        assert tree.address("a").ask("ping", timeout=5) == "ping"

    def test_transient_child_is_not_restarted_after_a_normal_stop(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_three(Strategy.ONE_FOR_ONE, inbox, lifecycle, a=Restart.TRANSIENT))
        tree.subscribe(events)
        tree.address("a").tell(STOP)
        events.wait_for(ActorExited, "a")
        # The supervisor has handled the exit once it answers a later request.
        info = {c.name: c for c in tree.children()}
        assert info["a"].state == "stopped"
        assert tree.address("a").is_closed()
        with pytest.raises(AddressClosedError):
            tree.address("a").ask("ping", timeout=5)

    def test_transient_child_is_restarted_after_a_crash(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_three(Strategy.ONE_FOR_ONE, inbox, lifecycle, a=Restart.TRANSIENT))
        tree.subscribe(events)
        tree.address("a").tell(CRASH)
        events.wait_for(ActorStarted, "a", where=lambda e: e.incarnation == 2)

    def test_temporary_child_is_never_restarted_and_its_messages_become_dead_letters(
        self, make_tree, events
    ):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_three(Strategy.ONE_FOR_ONE, inbox, lifecycle, a=Restart.TEMPORARY))
        tree.subscribe(events)
        tree.address("a").tell(CRASH)
        tree.address("a").tell("queued behind the crash")
        events.wait_for(ActorExited, "a")
        assert [c.name for c in tree.children()] == ["b", "c"]
        tree.address("a").tell("sent after the end")
        reasons = [(d.reason, d.message) for d in tree.dead_letters.recent()]
        assert reasons == [
            (DeadLetterReason.CRASHED, CRASH),
            (DeadLetterReason.STOPPED, "queued behind the crash"),
            (DeadLetterReason.CLOSED, "sent after the end"),
        ]
        assert tree.stats("a").incarnations == 1

    def test_temporary_child_taken_down_by_a_siblings_restart_is_not_restarted(
        self, make_tree, events
    ):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_three(Strategy.ONE_FOR_ALL, inbox, lifecycle, c=Restart.TEMPORARY))
        tree.subscribe(events)
        tree.address("a").tell(CRASH)
        events.wait_for(ActorStarted, "b", where=lambda e: e.incarnation == 2)
        assert [c.name for c in tree.children()] == ["a", "b"]
        assert tree.stats("c").incarnations == 1
        assert tree.address("c").is_closed()
