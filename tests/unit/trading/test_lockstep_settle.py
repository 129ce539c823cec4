"""`settle`: the lockstep driver's test that a tree is quiescent, exact and without sleeps."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tradeactors.supervision import ChildSpec, SupervisedActor, SupervisorSpec
from tradeactors.trading.paper import settle

pytestmark = pytest.mark.supervision


class Relay(SupervisedActor):
    """Passes a countdown on to the next relay (in a ring), working a little at each hop."""

    def __init__(self, next_path: str, seen: list[int], lock: threading.Lock) -> None:
        super().__init__()
        self._next = next_path
        self._seen = seen
        self._lock = lock

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, int):
            sum(range(2_000))  # long enough that a hop is often in flight when asked
            with self._lock:
                self._seen.append(message)
            if message > 0:
                self.context.address_of(self._next).tell(message - 1)
                if message % 7 == 0:  # and a branch now and then: two messages in flight
                    self.context.address_of(self._next).tell(0)
        return None


def test_a_settled_tree_has_handled_every_message_its_actors_sent_each_other(make_tree):
    seen: list[int] = []
    lock = threading.Lock()
    names = ("a", "b", "c")
    spec = SupervisorSpec(
        name="root",
        children=tuple(
            ChildSpec(name=name, actor=Relay, args=(names[(i + 1) % 3], seen, lock))
            for i, name in enumerate(names)
        ),
    )
    tree = make_tree(spec)
    for start in (60, 35, 90):
        before = len(seen)
        tree.address("a").tell(start)
        rounds = settle(tree, timeout=10)
        assert rounds is not None
        assert rounds >= 2
        branches = sum(1 for n in range(1, start + 1) if n % 7 == 0)
        with lock:  # nothing is left anywhere: every hop and branch was handled
            assert len(seen) - before == start + 1 + branches


def test_an_idle_tree_settles_in_two_rounds(make_tree):
    spec = SupervisorSpec(
        name="root",
        children=(ChildSpec(name="a", actor=Relay, args=("a", [], threading.Lock())),),
    )
    assert settle(make_tree(spec), timeout=10) == 2
