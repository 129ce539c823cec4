"""structlog events for starts, crashes, restarts, backoff, escalation and dead letters."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from structlog.testing import capture_logs

from tradeactors.clock import FakeClock
from tradeactors.supervision import (
    ActorStarted,
    Backoff,
    ChildSpec,
    RestartScheduled,
    SupervisedActor,
    SupervisorSpec,
)

pytestmark = pytest.mark.supervision


class Crashy(SupervisedActor):
    def on_receive(self, message: Any) -> Any:
        raise RuntimeError(f"cannot handle {message}")


@pytest.fixture
def logs():
    with capture_logs() as captured:
        yield captured


def _by_event(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == event]


def test_start_crash_restart_and_dead_letter_are_logged_with_the_actor_path(
    make_tree, events, logs
):
    tree = make_tree(
        SupervisorSpec(
            name="root",
            children=(SupervisorSpec(name="sub", children=(ChildSpec(name="c", actor=Crashy),)),),
        )
    )
    tree.subscribe(events)
    tree.address("sub/c").tell("order 7")
    events.wait_for(ActorStarted, "sub/c", where=lambda e: e.incarnation == 2)
    assert [e["path"] for e in _by_event(logs, "actor_started")] == ["sub/c", "sub"]
    (crash,) = _by_event(logs, "actor_crashed")
    assert crash["path"] == "sub/c"
    assert crash["log_level"] == "error"
    assert isinstance(crash["exc_info"], RuntimeError)
    assert crash["error"] == "RuntimeError('cannot handle order 7')"
    assert crash["message_type"] == "str"
    (restart,) = _by_event(logs, "actor_restarted")
    assert (restart["path"], restart["incarnation"]) == ("sub/c", 2)


def test_dead_letters_are_logged_with_path_type_and_reason(make_tree, logs):
    tree = make_tree(SupervisorSpec(name="root", children=(ChildSpec(name="c", actor=Crashy),)))
    tree.stop(timeout=10)
    tree.address("c").tell("late")
    (letter,) = _by_event(logs, "dead_letter")
    assert (letter["path"], letter["message_type"], letter["reason"]) == ("c", "str", "closed")


def test_backoff_and_escalation_are_logged(make_tree, events, logs):
    escalated = threading.Event()
    clock = FakeClock()
    tree = make_tree(
        SupervisorSpec(
            name="root",
            intensity=1,
            children=(ChildSpec(name="c", actor=Crashy, backoff=Backoff(min_delay=0.5)),),
        ),
        clock=clock,
        on_escalation=lambda _error: escalated.set(),
    )
    tree.subscribe(events)
    tree.address("c").tell(1)
    events.wait_for(RestartScheduled, "c")
    clock.advance(1.0)
    events.wait_for(ActorStarted, "c", where=lambda e: e.incarnation == 2)
    tree.address("c").tell(2)
    assert escalated.wait(10)
    (backoff,) = _by_event(logs, "restart_backoff")
    assert backoff["path"] == "c"
    assert 0.5 <= backoff["delay"] <= 0.6
    (escalation,) = _by_event(logs, "supervisor_escalated")
    assert (escalation["path"], escalation["child"], escalation["restarts"]) == ("/", "c", 2)
    assert _by_event(logs, "tree_failed")


def test_secrets_passed_as_actor_arguments_are_not_logged(make_tree, events, logs):
    secret = "s3cr3t-api-key"

    class Holder(SupervisedActor):
        def __init__(self, key: str) -> None:
            super().__init__()
            self._key = key

        def on_receive(self, message: Any) -> Any:
            raise RuntimeError("boom")

    tree = make_tree(
        SupervisorSpec(name="root", children=(ChildSpec(name="h", actor=Holder, args=(secret,)),))
    )
    tree.subscribe(events)
    tree.address("h").tell("x")
    events.wait_for(ActorStarted, "h", where=lambda e: e.incarnation == 2)
    tree.stop(timeout=10)
    assert _by_event(logs, "actor_crashed")
    assert secret not in repr(logs)
