"""Mailboxes survive restarts: nothing lost, nothing duplicated, order kept."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tradeactors.supervision import (
    ActorStarted,
    ChildSpec,
    DeadLetterReason,
    Strategy,
    SupervisedActor,
    SupervisorSpec,
)
from tradeactors.supervision.testing import Inbox

pytestmark = pytest.mark.supervision

SENT = 20_000


class CrashOnSome(SupervisedActor):
    """Records each number it handles; crashes on the numbers in ``poison``."""

    def __init__(self, inbox: Inbox, poison: frozenset[int]) -> None:
        super().__init__()
        self._inbox = inbox
        self._poison = poison

    def on_receive(self, message: Any) -> Any:
        if message in self._poison:
            raise ValueError(f"poison {message}")
        self._inbox.append(message)
        return message


def test_numbered_messages_across_about_100_crashes_are_each_processed_or_dead_lettered_once(
    make_tree,
):
    rng = random.Random(20261125)
    poison = frozenset(n for n in range(SENT) if rng.random() < 1 / 200)
    assert 60 < len(poison) < 140
    inbox = Inbox()
    spec = SupervisorSpec(
        name="root",
        intensity=10 * len(poison),
        period=1.0,
        children=(ChildSpec(name="w", actor=CrashOnSome, args=(inbox, poison)),),
    )
    tree = make_tree(spec)
    address = tree.address("w")
    for n in range(SENT):
        address.tell(n)
    # The ask is queued behind every tell: when it returns, all were handled or dead.
    assert address.ask("done", timeout=60) == "done"
    processed = [m for m in inbox.snapshot() if m != "done"]
    letters = [d for d in tree.dead_letters.recent() if d.path == "w"]
    dead = [d.message for d in letters]

    assert len(processed) + len(dead) == SENT
    assert len(set(processed)) == len(processed), "a message was processed twice"
    assert processed == sorted(processed), "order was not kept"
    assert set(dead) == poison
    assert set(processed) | set(dead) == set(range(SENT))
    assert all(d.reason == DeadLetterReason.CRASHED for d in letters)
    assert all(isinstance(d.error, ValueError) for d in letters)
    assert tree.stats("w").restarts == len(poison)
    assert tree.dead_letters.count == len(poison)


def test_messages_queued_behind_a_crash_are_handled_by_the_next_incarnation_in_order(
    make_tree, events
):
    inbox = Inbox()
    spec = SupervisorSpec(
        name="root",
        children=(ChildSpec(name="w", actor=CrashOnSome, args=(inbox, frozenset({0}))),),
    )
    tree = make_tree(spec)
    tree.subscribe(events)
    tree.address("w").tell(0)
    for n in range(1, 11):
        tree.address("w").tell(n)
    events.wait_for(ActorStarted, "w", where=lambda e: e.incarnation == 2)
    assert inbox.wait_for_count(10) == list(range(1, 11))


def test_an_ask_queued_behind_a_crash_is_answered_by_the_next_incarnation(make_tree):
    inbox = Inbox()
    spec = SupervisorSpec(
        name="root",
        children=(ChildSpec(name="w", actor=CrashOnSome, args=(inbox, frozenset({0}))),),
    )
    tree = make_tree(spec)
    future = tree.address("w").ask_future(1)
    tree.address("w").tell(0)
    second = tree.address("w").ask_future(2)
    assert future.get(timeout=10) == 1
    assert second.get(timeout=10) == 2
    assert tree.stats("w").incarnations == 2


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
def test_siblings_stopped_by_group_restarts_lose_nothing_either(make_tree, strategy):
    rng = random.Random(7)
    names = ("a", "b", "c")
    per_child = 3000
    poison = {
        name: frozenset(n for n in range(per_child) if rng.random() < 1 / 150) for name in names
    }
    inboxes = {name: Inbox() for name in names}
    spec = SupervisorSpec(
        name="root",
        strategy=strategy,
        intensity=1000,
        period=1.0,
        children=tuple(
            ChildSpec(name=name, actor=CrashOnSome, args=(inboxes[name], poison[name]))
            for name in names
        ),
    )
    tree = make_tree(spec)
    for n in range(per_child):
        for name in names:
            tree.address(name).tell(n)
    for name in names:
        assert tree.address(name).ask("done", timeout=60) == "done"
    for name in names:
        processed = [m for m in inboxes[name].snapshot() if m != "done"]
        dead = [d.message for d in tree.dead_letters.recent() if d.path == name]
        assert len(processed) + len(dead) == per_child, name
        assert processed == sorted(set(processed)), name
        assert set(dead) == poison[name], name
    # siblings were restarted by others' crashes, beyond their own
    assert sum(tree.stats(n).restarts for n in names) > sum(len(p) for p in poison.values())
