"""Dynamic children: `Supervisor.start_child` / `stop_child` on a running tree (OTP's
DynamicSupervisor), and temporary sub-supervisors that give up alone."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
from _actors import CRASH, FailingConstructor, FailingStart, Worker

from tradeactors.clock import FakeClock
from tradeactors.errors import (
    AddressClosedError,
    ChildStartError,
    ConfigError,
    RestartIntensityExceededError,
    SupervisionError,
)
from tradeactors.supervision import (
    ActorEnded,
    ActorExited,
    ActorStarted,
    ChildSpec,
    DeadLetterReason,
    Restart,
    Strategy,
    SupervisedActor,
    SupervisorEscalated,
    SupervisorSpec,
)
from tradeactors.supervision.testing import Inbox

if TYPE_CHECKING:
    from tradeactors.supervision import Supervisor

pytestmark = pytest.mark.supervision


def _worker(name: str, inbox: Inbox, lifecycle: Inbox, **kwargs: Any) -> ChildSpec:
    return ChildSpec(name=name, actor=Worker, args=(inbox, lifecycle), **kwargs)


def _tree_spec(inbox: Inbox, lifecycle: Inbox, **kwargs: Any) -> SupervisorSpec:
    """root: a (worker), pool (supervisor: w), b (worker)."""
    return SupervisorSpec(
        name="root",
        children=(
            _worker("a", inbox, lifecycle),
            SupervisorSpec(name="pool", children=(_worker("w", inbox, lifecycle),)),
            _worker("b", inbox, lifecycle),
        ),
        **kwargs,
    )


def _marks(lifecycle: Inbox, what: str) -> list[str]:
    return [path for mark, path, _ in lifecycle.snapshot() if mark == what]


class Holder(SupervisedActor):
    """Records numbers; ``"hold"`` blocks its handler until ``release`` is set."""

    def __init__(self, inbox: Inbox, entered: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self._inbox = inbox
        self._entered = entered
        self._release = release

    def on_receive(self, message: Any) -> Any:
        if message == "hold":
            self._entered.set()
            self._release.wait(10)
        elif message == CRASH:
            raise RuntimeError("asked to crash")
        else:
            self._inbox.append((self.context.incarnation, message))
        return message


class SlowStart(SupervisedActor):
    """Its ``on_start`` waits until ``release`` is set."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self._release = release

    def on_start(self) -> None:
        self._release.wait(10)


class Manager(SupervisedActor):
    """Adds and removes children of ``pool`` from inside its handlers (blocking calls)."""

    def __init__(self, trees: list[Supervisor], inbox: Inbox) -> None:
        super().__init__()
        self._trees = trees
        self._inbox = inbox

    def on_receive(self, message: Any) -> Any:
        tree = self._trees[0]
        command, argument = message
        if command == "add":
            spec = ChildSpec(name=argument, actor=Worker, args=(self._inbox, Inbox()))
            return tree.start_child(spec, under="pool", timeout=10)
        if command == "add_many":
            for name in argument:
                tree.start_child(
                    ChildSpec(name=name, actor=Worker, args=(self._inbox, Inbox())),
                    under="pool",
                    timeout=10,
                )
            self._inbox.append(("added", tuple(argument)))
            return None
        if command == "remove":
            tree.stop_child(argument, timeout=10)
            return None
        if command == "remove_self_blocking":
            tree.stop_child(self.context.path, timeout=10)
            return None
        if command == "remove_self_later":
            tree.stop_child_future(self.context.path)
            return "requested"
        if command == "forward":
            self.context.address_of(argument[0]).tell(argument[1])
            return None
        raise ValueError(message)


class TestStartChild:
    """A child added to a running supervisor starts, is listed, and is reachable."""

    def test_a_worker_added_to_the_root_starts_and_is_listed_last(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_tree_spec(inbox, lifecycle))
        tree.subscribe(events)
        path = tree.start_child(_worker("dyn", inbox, lifecycle))
        assert path == "dyn"
        assert _marks(lifecycle, "start") == ["a", "pool/w", "b", "dyn"]
        events.wait_for(ActorStarted, "dyn", where=lambda e: e.incarnation == 1)
        infos = tree.children()
        assert [c.name for c in infos] == ["a", "pool", "b", "dyn"]
        assert (infos[-1].path, infos[-1].kind, infos[-1].state) == ("dyn", "worker", "running")
        assert tree.paths()[-1] == "dyn"
        assert tree.address("dyn").ask("hi", timeout=5) == "hi"
        assert tree.stats("dyn").processed  # the metrics (and top) see it

    def test_a_subtree_added_under_a_nested_supervisor_starts_depth_first(self, make_tree):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_tree_spec(inbox, lifecycle))
        subtree = SupervisorSpec(
            name="sub",
            strategy=Strategy.REST_FOR_ONE,
            children=(_worker("x", inbox, lifecycle), _worker("y", inbox, lifecycle)),
        )
        assert tree.start_child(subtree, under="pool") == "pool/sub"
        assert _marks(lifecycle, "start")[-2:] == ["pool/sub/x", "pool/sub/y"]
        assert [c.name for c in tree.children("pool")] == ["w", "sub"]
        assert [c.kind for c in tree.children("pool")] == ["worker", "supervisor"]
        assert [c.name for c in tree.children("pool/sub")] == ["x", "y"]
        assert tree.address("pool/sub/y").ask("hello", timeout=5) == "hello"

    def test_messages_queued_behind_a_crash_of_a_dynamic_child_reach_its_successor(self, make_tree):
        inbox = Inbox()
        entered, release = threading.Event(), threading.Event()
        tree = make_tree(_tree_spec(Inbox(), Inbox()))
        tree.start_child(
            ChildSpec(name="holder", actor=Holder, args=(inbox, entered, release)), under="pool"
        )
        address = tree.address("pool/holder")
        address.tell("hold")
        assert entered.wait(5)
        # All of these wait in the mailbox while the handler holds: the crash is
        # handled first, the numbers behind it by the next incarnation.
        address.tell(CRASH)
        for n in range(500):
            address.tell(n)
        release.set()
        assert address.ask("done", timeout=10) == "done"
        assert inbox.snapshot() == [*((2, n) for n in range(500)), (2, "done")]
        letters = [(d.path, d.reason, d.message) for d in tree.dead_letters.recent()]
        assert letters == [("pool/holder", DeadLetterReason.CRASHED, CRASH)]

    def test_restarts_of_a_dynamic_child_count_in_its_supervisors_intensity(
        self, make_tree, events
    ):
        escalated = threading.Event()
        errors: list[BaseException] = []

        def on_escalation(error: BaseException) -> None:
            errors.append(error)
            escalated.set()

        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(
            _tree_spec(inbox, lifecycle, intensity=1),
            clock=FakeClock(),
            on_escalation=on_escalation,
        )
        tree.subscribe(events)
        tree.start_child(_worker("dyn", inbox, lifecycle))
        tree.address("a").tell(CRASH)  # restart 1 of 1: allowed
        events.wait_for(ActorStarted, "a", where=lambda e: e.incarnation == 2)
        tree.address("dyn").tell(CRASH)  # restart 2: one too many
        assert escalated.wait(10)
        assert tree.wait(10)
        (error,) = errors
        assert isinstance(error, RestartIntensityExceededError)
        assert (error.path, error.restarts, error.child) == ("/", 2, "dyn")

    def test_rest_for_one_restarts_a_dynamic_child_after_a_crash_before_it(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_tree_spec(inbox, lifecycle, strategy=Strategy.REST_FOR_ONE))
        tree.subscribe(events)
        tree.start_child(_worker("dyn", inbox, lifecycle))
        tree.address("b").tell(CRASH)
        events.wait_for(ActorStarted, "dyn", where=lambda e: e.incarnation == 2)
        assert tree.stats("a").incarnations == 1
        assert tree.stats("b").incarnations == 2
        assert _marks(lifecycle, "start")[-2:] == ["b", "dyn"]  # in order, dyn last


class TestStopChild:
    """A child stopped on purpose goes for good: in order, not restarted, address closed."""

    def test_stop_child_stops_the_subtree_in_reverse_and_removes_it_for_good(
        self, make_tree, events
    ):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_tree_spec(inbox, lifecycle, intensity=1), clock=FakeClock())
        tree.subscribe(events)
        subtree = SupervisorSpec(
            name="sub",
            children=(_worker("x", inbox, lifecycle), _worker("y", inbox, lifecycle)),
        )
        tree.start_child(subtree)
        old_x = tree.address("sub/x")
        tree.stop_child("sub")
        assert _marks(lifecycle, "stop") == ["sub/y", "sub/x"]
        (ended,) = events.matching(ActorEnded)
        assert (ended.path, ended.kind, ended.reason, ended.abnormal) == (
            "sub",
            "supervisor",
            "shutdown",
            False,
        )
        assert [c.name for c in tree.children()] == ["a", "pool", "b"]
        assert not {"sub", "sub/x", "sub/y"} & set(tree.paths())
        # Its address by path is the closed one: a late tell to it is a dead letter.
        assert tree.address("sub/x") is old_x
        assert old_x.is_closed()
        # The address callers still hold is closed: tells are dead letters, asks fail.
        assert old_x.is_closed()
        old_x.tell("after the stop")
        letter = tree.dead_letters.recent()[-1]
        assert (letter.path, letter.reason, letter.message) == (
            "sub/x",
            DeadLetterReason.CLOSED,
            "after the stop",
        )
        with pytest.raises(AddressClosedError):
            old_x.ask("anyone?", timeout=5)
        # Not a failure: the root's single allowed restart is still there.
        tree.address("a").tell(CRASH)
        events.wait_for(ActorStarted, "a", where=lambda e: e.incarnation == 2)
        assert tree.running
        assert not events.matching(SupervisorEscalated)
        assert not events.matching(ActorStarted, "sub")[1:]  # never restarted

    def test_a_static_child_can_be_stopped_and_removed(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_tree_spec(inbox, lifecycle))
        tree.subscribe(events)
        tree.stop_child("pool/w")
        assert _marks(lifecycle, "stop") == ["pool/w"]
        assert tree.children("pool") == ()
        events.wait_for(ActorEnded, "pool/w")
        assert tree.address("a").ask("still here", timeout=5) == "still here"

    def test_a_tell_to_a_removed_child_never_resolved_before_is_a_dead_letter(self, make_tree):
        # The order manager answering a strategy removed a moment ago: it never looked
        # that path up before, and must not crash on it.
        trees: list[Supervisor] = []
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="manager", actor=Manager, args=(trees, Inbox())),
                SupervisorSpec(name="pool", children=()),
            ),
        )
        tree = make_tree(spec)
        trees.append(tree)
        tree.start_child(_worker("gone", Inbox(), Inbox()), under="pool")
        tree.stop_child("pool/gone")
        manager = tree.address("manager")
        assert manager.ask(("forward", ("pool/gone", "late reply")), timeout=5) is None
        letter = tree.dead_letters.recent()[-1]
        assert (letter.path, letter.reason, letter.message) == ("pool/gone", "closed", "late reply")
        assert tree.stats("manager").restarts == 0
        with pytest.raises(ConfigError, match="'pool/never'"):  # never there: still an error
            tree.address("pool/never")

    def test_a_removed_name_can_be_started_again_and_actors_reach_the_new_one(self, make_tree):
        trees: list[Supervisor] = []
        inbox = Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="manager", actor=Manager, args=(trees, Inbox())),
                SupervisorSpec(name="pool", children=()),
            ),
        )
        tree = make_tree(spec)
        trees.append(tree)
        tree.start_child(_worker("d", inbox, Inbox()), under="pool")
        manager = tree.address("manager")
        manager.ask(("forward", ("pool/d", "first")), timeout=5)  # caches the address
        old = tree.address("pool/d")
        tree.stop_child("pool/d")
        tree.start_child(_worker("d", inbox, Inbox()), under="pool")
        assert old.is_closed()
        assert tree.address("pool/d") is not old
        manager.ask(("forward", ("pool/d", "second")), timeout=5)
        assert tree.address("pool/d").ask("sync", timeout=5) == "sync"
        assert inbox.snapshot() == [(1, "first"), (1, "second"), (1, "sync")]

    def test_unknown_paths_and_workers_as_parents_are_refused(self, make_tree):
        tree = make_tree(_tree_spec(Inbox(), Inbox()))
        with pytest.raises(ConfigError, match="'pool/nope'"):
            tree.stop_child("pool/nope")
        with pytest.raises(ConfigError, match="stop"):
            tree.stop_child("/")
        with pytest.raises(ConfigError, match="'nowhere'"):
            tree.start_child(_worker("x", Inbox(), Inbox()), under="nowhere")
        with pytest.raises(ConfigError, match="'a' is a worker"):
            tree.start_child(_worker("x", Inbox(), Inbox()), under="a")
        assert [c.name for c in tree.children()] == ["a", "pool", "b"]


class TestRefusals:
    """A name clash or a failed start is a clear error and leaves the tree as it was."""

    def test_a_name_already_used_under_that_supervisor_is_refused(self, make_tree):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_tree_spec(inbox, lifecycle))
        with pytest.raises(ConfigError, match="already has a child named 'w'"):
            tree.start_child(_worker("w", inbox, lifecycle), under="pool")
        tree.start_child(_worker("d", inbox, lifecycle), under="pool")
        with pytest.raises(ConfigError, match="already has a child named 'd'"):
            tree.start_child(_worker("d", inbox, lifecycle), under="pool")
        assert [c.name for c in tree.children("pool")] == ["w", "d"]
        assert tree.stats("pool/w").incarnations == tree.stats("pool/d").incarnations == 1
        assert tree.address("pool/d").ask("ok", timeout=5) == "ok"

    def test_a_child_that_fails_to_start_raises_and_leaves_nothing_behind(self, make_tree, events):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_tree_spec(inbox, lifecycle))
        tree.subscribe(events)
        failing = ChildSpec(name="bad", actor=FailingStart, args=(inbox, lifecycle, frozenset({1})))
        with pytest.raises(ChildStartError, match="'pool/bad'"):
            tree.start_child(failing, under="pool")
        with pytest.raises(ChildStartError, match="bad constructor argument"):
            tree.start_child(ChildSpec(name="ctor", actor=FailingConstructor), under="pool")
        # A subtree whose second worker fails: the first one is stopped again.
        subtree = SupervisorSpec(
            name="sub",
            children=(
                _worker("x", inbox, lifecycle),
                ChildSpec(name="y", actor=FailingStart, args=(inbox, lifecycle, frozenset({1}))),
            ),
        )
        with pytest.raises(ChildStartError, match="'pool/sub/y'"):
            tree.start_child(subtree, under="pool")
        assert _marks(lifecycle, "stop") == ["pool/sub/x"]
        assert [c.name for c in tree.children("pool")] == ["w"]
        assert not [p for p in tree.paths() if p.startswith(("pool/bad", "pool/ctor", "pool/sub"))]
        assert not events.matching(ActorStarted, "pool")[1:]  # the pool did not restart
        # The same names start fine afterwards.
        assert tree.start_child(_worker("bad", inbox, lifecycle), under="pool") == "pool/bad"
        assert tree.address("pool/bad").ask("fine", timeout=5) == "fine"
        assert tree.stats("pool/bad").incarnations == 1

    def test_a_start_the_caller_stopped_waiting_for_is_undone_once_it_finishes(
        self, make_tree, events
    ):
        tree = make_tree(_tree_spec(Inbox(), Inbox()))
        tree.subscribe(events)
        release = threading.Event()
        slow = ChildSpec(name="slow", actor=SlowStart, args=(release,), start_timeout=None)
        with pytest.raises(ChildStartError, match=r"'pool/slow'.*did not answer within 0\.2 s"):
            tree.start_child(slow, under="pool", timeout=0.2)
        release.set()  # it starts after all; the stop queued behind the start removes it
        events.wait_for(ActorEnded, "pool/slow")
        assert [e.path for e in events.matching(ActorStarted)] == ["pool/slow"]
        assert [c.name for c in tree.children("pool")] == ["w"]
        assert "pool/slow" not in tree.paths()

    def test_a_failed_starts_exit_notice_never_hits_a_new_child_of_the_same_name(
        self, make_tree, events
    ):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_tree_spec(inbox, lifecycle))
        tree.subscribe(events)
        bad = ChildSpec(name="x", actor=FailingStart, args=(inbox, lifecycle, frozenset({1})))
        # Both queued at once: the failed child's exit notice arrives after the second
        # start, when a new child "x" (incarnation 1 of a new cell) is current.
        first = tree.start_child_future(bad, under="pool")
        second = tree.start_child_future(_worker("x", inbox, lifecycle), under="pool")
        with pytest.raises(ChildStartError, match="'pool/x'"):
            first.get(timeout=10)
        assert second.get(timeout=10) == "pool/x"
        events.wait_for(ActorExited, "pool/x", where=lambda e: e.reason == "start_failed")
        (info,) = [c for c in tree.children("pool") if c.name == "x"]  # queued behind it
        assert (info.state, info.incarnation) == ("running", 1)
        assert [e.incarnation for e in events.matching(ActorStarted, "pool/x")] == [1]


class TestFromActorsAndRestarts:
    """Calls from actors and hooks do not deadlock; a supervisor's restart drops them."""

    def test_actors_and_a_thread_add_children_concurrently(self, make_tree):
        trees: list[Supervisor] = []
        inbox = Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="m1", actor=Manager, args=(trees, inbox)),
                ChildSpec(name="m2", actor=Manager, args=(trees, inbox)),
                SupervisorSpec(name="pool", children=()),
            ),
        )
        tree = make_tree(spec)
        trees.append(tree)
        ones = tuple(f"one{i}" for i in range(5))
        twos = tuple(f"two{i}" for i in range(5))
        tree.address("m1").tell(("add_many", ones))
        tree.address("m2").tell(("add_many", twos))
        for i in range(5):
            tree.start_child(_worker(f"main{i}", Inbox(), Inbox()), under="pool", timeout=10)
        inbox.wait_for_count(2)
        names = sorted(c.name for c in tree.children("pool"))
        assert names == sorted((*ones, *twos, *(f"main{i}" for i in range(5))))
        assert tree.address("m1").ask(("remove", "pool/two3"), timeout=10) is None
        assert "two3" not in {c.name for c in tree.children("pool")}
        assert tree.address("m2").ask(("add", "late"), timeout=10) == "pool/late"

    def test_an_actor_may_not_wait_for_its_own_stop_but_may_request_it(self, make_tree, events):
        trees: list[Supervisor] = []
        spec = SupervisorSpec(
            name="root",
            children=(
                SupervisorSpec(name="pool", children=()),
                ChildSpec(name="m", actor=Manager, args=(trees, Inbox())),
            ),
        )
        tree = make_tree(spec)
        trees.append(tree)
        tree.subscribe(events)
        manager = tree.address("m")
        with pytest.raises(SupervisionError, match="use stop_child_future"):
            manager.ask(("remove_self_blocking", None), timeout=5)
        assert manager.ask(("remove_self_later", None), timeout=5) == "requested"
        events.wait_for(ActorEnded, "m")
        assert manager.is_closed()
        assert [c.name for c in tree.children()] == ["pool"]

    def test_in_a_supervisors_thread_blocking_is_refused_and_the_future_works(
        self, make_tree, events
    ):
        trees: list[Supervisor] = []
        outcomes = Inbox()

        def on_failure(path: str, error: BaseException | None) -> None:
            tree = trees[0]
            spec = _worker("spare", Inbox(), Inbox())
            try:
                tree.start_child(spec, under="pool", timeout=1)
            except SupervisionError as exc:
                outcomes.append(("refused", str(exc)))
            outcomes.append(("future", tree.start_child_future(spec, under="pool")))

        spec = SupervisorSpec(
            name="root",
            children=(
                SupervisorSpec(
                    name="pool",
                    children=(
                        ChildSpec(name="w", actor=Worker, args=(Inbox(),), on_failure=on_failure),
                    ),
                ),
            ),
        )
        tree = make_tree(spec)
        trees.append(tree)
        tree.subscribe(events)
        tree.address("pool/w").tell(CRASH)
        (refused, future) = outcomes.wait_for_count(2)
        assert refused[0] == "refused"
        assert "'pool'" in refused[1]
        assert future[1].get(timeout=5) == "pool/spare"
        assert [c.name for c in tree.children("pool")] == ["w", "spare"]

    def test_a_restarted_supervisor_comes_back_without_its_dynamic_children(
        self, make_tree, events
    ):
        inbox, lifecycle = Inbox(), Inbox()
        tree = make_tree(_tree_spec(inbox, lifecycle))
        tree.subscribe(events)
        tree.start_child(_worker("d", inbox, lifecycle), under="pool")
        dynamic = tree.address("pool/d")
        assert tree.faults("pool").kill()
        # Queued behind the kill signal: the next incarnation of pool handles it.
        late = tree.start_child_future(_worker("late", inbox, lifecycle), under="pool")
        assert late.get(timeout=10) == "pool/late"
        events.wait_for(ActorStarted, "pool", where=lambda e: e.incarnation == 2)
        ended = events.wait_for(ActorEnded, "pool/d")
        assert (ended[0].reason, ended[0].abnormal) == ("shutdown", False)
        assert [c.name for c in tree.children("pool")] == ["w", "late"]
        assert dynamic.is_closed()
        assert "pool/d" not in tree.paths()
        assert tree.stats("pool/w").incarnations == 2  # static: restarted with its parent

    def test_a_restarted_supervisor_brings_back_a_static_child_removed_or_replaced(
        self, make_tree, events
    ):
        inbox, lifecycle = Inbox(), Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                SupervisorSpec(
                    name="pool",
                    children=(
                        _worker("w", inbox, lifecycle),
                        _worker("t", inbox, lifecycle, restart=Restart.TEMPORARY),
                    ),
                ),
            ),
        )
        tree = make_tree(spec)
        tree.subscribe(events)
        tree.stop_child("pool/w")
        tree.address("pool/t").tell(CRASH)  # temporary: ends; a dynamic "t" replaces it
        events.wait_for(ActorEnded, "pool/t")
        tree.start_child(ChildSpec(name="t", actor=Worker, args=(Inbox(),)), under="pool")
        assert [c.name for c in tree.children("pool")] == ["t"]
        assert tree.faults("pool").kill()
        events.wait_for(ActorStarted, "pool", where=lambda e: e.incarnation == 2)
        assert [c.name for c in tree.children("pool")] == ["w", "t"]  # its spec, again
        assert tree.address("pool/w").ask("w is back", timeout=5) == "w is back"
        assert tree.address("pool/t").ask("t is back", timeout=5) == "t is back"
        assert inbox.snapshot()[-2:] == [(1, "w is back"), (1, "t is back")]


class TestTemporarySupervisors:
    """A temporary sub-supervisor that exceeds its intensity ends alone (OTP)."""

    @pytest.mark.parametrize("added", ["static", "dynamic"])
    def test_a_temporary_sub_supervisor_that_gives_up_ends_without_escalating(
        self, make_tree, events, added
    ):
        inbox = Inbox()

        def strategy(name: str) -> SupervisorSpec:
            return SupervisorSpec(
                name=name,
                restart=Restart.TEMPORARY,
                intensity=2,
                period=10.0,
                children=(ChildSpec(name="strategy", actor=Worker, args=(inbox,)),),
            )

        sub = (strategy("s1"), strategy("s2"))
        spec = SupervisorSpec(
            name="root",
            children=(
                # intensity 0: had the loss of s1 counted as a restart, it would escalate
                SupervisorSpec(
                    name="strategies", intensity=0, children=sub if added == "static" else ()
                ),
            ),
        )
        tree = make_tree(spec, clock=FakeClock())
        if added == "dynamic":
            for child in sub:
                tree.start_child(child, under="strategies")
        tree.subscribe(events)
        crashing = tree.address("strategies/s1/strategy")
        for incarnation in (2, 3):
            crashing.tell(CRASH)
            events.wait_for(
                ActorStarted,
                "strategies/s1/strategy",
                where=lambda e, n=incarnation: e.incarnation == n,
            )
        crashing.tell(CRASH)  # the third restart within 10 s: s1 gives up
        (ended,) = events.wait_for(ActorEnded, "strategies/s1")
        assert (ended.kind, ended.reason, ended.abnormal) == ("supervisor", "crashed", True)
        assert ended.error.startswith("RestartIntensityExceededError(")
        (gave_up,) = events.matching(SupervisorEscalated)
        assert (gave_up.path, gave_up.child, gave_up.restarts) == ("strategies/s1", "strategy", 3)
        assert [c.name for c in tree.children("strategies")] == ["s2"]
        assert crashing.is_closed()
        # Untouched: the parent, the other sub-supervisor and its worker.
        for path in ("strategies", "strategies/s2", "strategies/s2/strategy"):
            assert tree.stats(path).incarnations == 1, path
        assert tree.address("strategies/s2/strategy").ask("alive", timeout=5) == "alive"
        assert {e.path for e in events.matching(ActorExited)} == {
            "strategies/s1/strategy",
            "strategies/s1",
        }
        assert tree.running
        # Its closed leftovers can be cleaned away.
        tree.stop_child("strategies/s1")
        assert not [p for p in tree.paths() if p.startswith("strategies/s1")]


class _MeetsAtStop(SupervisedActor):
    """Its on_stop waits at ``barrier`` for every sibling: only a parallel stop passes."""

    def __init__(self, barrier: threading.Barrier, passed: Inbox) -> None:
        super().__init__()
        self._barrier = barrier
        self._passed = passed

    def on_stop(self) -> None:
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            return
        self._passed.append(self.context.path)


@pytest.mark.parametrize("parallel", [True, False])
def test_parallel_shutdown_tells_every_child_to_stop_at_once(make_tree, parallel):
    barrier, passed = threading.Barrier(4, timeout=1.0), Inbox()
    spec = SupervisorSpec(
        name="root",
        children=(
            SupervisorSpec(
                name="pool",
                parallel_shutdown=parallel,
                children=tuple(
                    ChildSpec(name=f"c{i}", actor=_MeetsAtStop, args=(barrier, passed))
                    for i in range(4)
                ),
            ),
        ),
    )
    tree = make_tree(spec)
    tree.stop(timeout=10)
    # in parallel all four meet at the barrier; one after the other, the first waits
    # alone until the barrier's timeout breaks it, and nobody passes
    assert sorted(passed.snapshot()) == ([f"pool/c{i}" for i in range(4)] if parallel else [])
