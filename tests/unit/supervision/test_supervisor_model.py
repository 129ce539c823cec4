"""Random sequences of exits against a model of OTP's restart decisions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from _actors import CRASH, STOP, Worker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeactors.supervision import (
    ActorExited,
    ChildSpec,
    Restart,
    Strategy,
    Supervisor,
    SupervisorSpec,
)
from tradeactors.supervision.testing import EventRecorder, Inbox

pytestmark = pytest.mark.supervision

NAMES = ("a", "b", "c", "d")


@dataclass
class ModelChild:
    name: str
    restart: Restart
    incarnations: int = 1
    running: bool = True


class Model:
    """What OTP says the supervisor's children look like after each exit."""

    def __init__(self, strategy: Strategy, restarts: tuple[Restart, ...]) -> None:
        self.strategy = strategy
        self.children = [ModelChild(n, r) for n, r in zip(NAMES, restarts, strict=True)]

    def running(self) -> list[ModelChild]:
        return [c for c in self.children if c.running]

    def exit(self, child: ModelChild, *, abnormal: bool) -> None:
        if child.restart is Restart.TEMPORARY:
            self.children.remove(child)
            return
        if child.restart is Restart.TRANSIENT and not abnormal:
            child.running = False
            return
        index = self.children.index(child)
        if self.strategy is Strategy.ONE_FOR_ONE:
            group = [child]
        elif self.strategy is Strategy.ONE_FOR_ALL:
            group = list(self.children)
        else:
            group = self.children[index:]
        for member in group:
            if member is not child and member.restart is Restart.TEMPORARY:
                self.children.remove(member)
                continue
            member.incarnations += 1
            member.running = True


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    strategy=st.sampled_from(list(Strategy)),
    restarts=st.tuples(*[st.sampled_from(list(Restart))] * len(NAMES)),
    ops=st.lists(
        st.tuples(st.integers(0, 10), st.sampled_from(["crash", "kill", "stop"])), max_size=8
    ),
)
def test_children_match_the_otp_model_after_every_exit(strategy, restarts, ops):
    inbox, lifecycle = Inbox(), Inbox()
    spec = SupervisorSpec(
        name="root",
        strategy=strategy,
        intensity=1000,
        children=tuple(
            ChildSpec(name=n, actor=Worker, args=(inbox, lifecycle), restart=r)
            for n, r in zip(NAMES, restarts, strict=True)
        ),
    )
    model = Model(strategy, restarts)
    events = EventRecorder()
    tree = Supervisor(spec).start(timeout=10)
    try:
        tree.subscribe(events)
        for pick, kind in ops:
            running = model.running()
            if not running:
                break
            child = running[pick % len(running)]
            number = tree.stats(child.name).incarnations
            if kind == "kill":
                assert tree.faults(child.name).kill()
            else:
                tree.address(child.name).tell(CRASH if kind == "crash" else STOP)
            events.wait_for(
                ActorExited,
                child.name,
                where=lambda e, n=number: e.incarnation == n and e.reason != "shutdown",
            )
            model.exit(child, abnormal=kind != "stop")
            infos = tree.children()  # answered after the supervisor handled the exit
            assert [i.name for i in infos] == [c.name for c in model.children]
            for info, expected in zip(infos, model.children, strict=True):
                assert info.incarnation == expected.incarnations, (info, expected)
                assert (info.state == "running") == expected.running, (info, expected)
                assert tree.address(info.name).is_alive() == expected.running
    finally:
        tree.stop(timeout=10)
