"""Trees embedded in a host application: no global state, host actors untouched."""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from tradeactors.supervision import ChildSpec, SupervisedActor, SupervisorSpec
from tradeactors.supervision.testing import Inbox, Probe

pytestmark = pytest.mark.supervision


class Crashy(Probe):
    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("crash")
        return super().on_receive(message)


class HostActor(pykka.ThreadingActor):
    """The host application's own actor, started by plain pykka."""

    def on_receive(self, message: Any) -> Any:
        return ("host", message)


def _spec(inbox: Inbox) -> SupervisorSpec:
    return SupervisorSpec(
        name="root", intensity=0, children=(ChildSpec(name="w", actor=Crashy, args=(inbox,)),)
    )


def test_two_trees_in_one_process_do_not_interfere(make_tree):
    first_inbox, second_inbox = Inbox(), Inbox()
    failed = []
    first = make_tree(_spec(first_inbox), on_escalation=failed.append)
    second = make_tree(_spec(second_inbox))
    first.address("w").tell("crash")  # intensity 0: the first tree fails
    assert first.wait(10)
    assert len(failed) == 1
    assert second.running
    assert second.address("w").ask("still here", timeout=5) == "still here"
    assert second_inbox.snapshot() == [(1, "still here")]


def test_stopping_a_tree_leaves_other_trees_and_host_actors_running(make_tree):
    host = HostActor.start()
    try:
        first = make_tree(_spec(Inbox()))
        second = make_tree(_spec(Inbox()))
        first.stop(timeout=10)
        assert host.is_alive()
        assert host.ask("ping", timeout=5) == ("host", "ping")
        assert second.address("w").ask("ping", timeout=5) == "ping"
        assert pykka.ActorRegistry.get_all() == [host]  # trees register nothing globally
    finally:
        host.stop(timeout=10)


def test_a_supervised_actor_class_also_runs_unsupervised_under_plain_pykka():
    inbox = Inbox()
    ref = Probe.start(inbox)
    try:
        assert ref.ask("plain", timeout=5) == "plain"
        assert inbox.snapshot() == [(0, "plain")]
    finally:
        ref.stop(timeout=10)


def test_actors_find_each_other_by_path_through_their_context(make_tree):
    inbox = Inbox()

    class Forwarder(SupervisedActor):
        def on_receive(self, message: Any) -> Any:
            self.context.address_of("sink").tell(("forwarded", message))

    tree = make_tree(
        SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="sink", actor=Probe, args=(inbox,)),
                ChildSpec(name="fwd", actor=Forwarder),
            ),
        )
    )
    tree.address("fwd").tell("hello")
    assert inbox.wait_for_count(1) == [(1, ("forwarded", "hello"))]
