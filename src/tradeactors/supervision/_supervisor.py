"""Supervisors (OTP semantics) and the `Supervisor` handle a host application holds."""

from __future__ import annotations

import itertools
import random
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Literal, Self

import msgspec
import pykka
import structlog

from tradeactors.clock import Clock, SystemClock
from tradeactors.errors import (
    ChildStartError,
    ConfigError,
    RestartIntensityExceededError,
    ShutdownTimeoutError,
    SupervisionError,
)
from tradeactors.supervision._actor import (
    Escalation,
    SupervisedActor,
    current_cell,
    instantiate,
)
from tradeactors.supervision._cell import ActorCell, Address, ExitReason, Incarnation
from tradeactors.supervision._deadletters import DeadLetters
from tradeactors.supervision._events import (
    ActorEnded,
    ActorExited,
    ActorStarted,
    Events,
    RestartScheduled,
    SupervisionEvent,
    SupervisorEscalated,
)
from tradeactors.supervision._mailbox import Signal
from tradeactors.supervision._spec import ChildSpec, Restart, Strategy, SupervisorSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType

    from prometheus_client import CollectorRegistry

    from tradeactors.clock import Timer
    from tradeactors.supervision._faults import FaultInjector
    from tradeactors.supervision._stats import ActorStats

__all__ = ["ROOT_PATH", "ChildInfo", "Supervisor"]

ROOT_PATH = "/"
"""The path of a tree's root supervisor; its children are ``name``, theirs ``name/child``."""

_NS = 1_000_000_000


def join_path(parent: str, name: str) -> str:
    """The path of child ``name`` under ``parent``."""
    return name if parent == ROOT_PATH else f"{parent}/{name}"


# -- messages a supervisor receives ----------------------------------------------------


class ChildExited(msgspec.Struct, frozen=True, kw_only=True):
    """An incarnation of child ``name`` ended (``token``: which one, unambiguously)."""

    name: str
    incarnation: int
    token: object
    reason: ExitReason
    error: BaseException | None


class RestartDue(msgspec.Struct, frozen=True, kw_only=True):
    """The backoff of the children holding ``ticket`` is over."""

    ticket: int


class WhichChildren(msgspec.Struct, frozen=True, kw_only=True):
    """Ask a supervisor for `ChildInfo` of each child."""


class StartChild(msgspec.Struct, frozen=True, kw_only=True):
    """Ask a supervisor to add ``spec`` as its last child and start it; answers its path."""

    spec: ChildSpec | SupervisorSpec


class StopChild(msgspec.Struct, frozen=True, kw_only=True):
    """Ask a supervisor to stop child ``name`` and remove it for good.

    With ``spec``, only if the child is still the one started from that very spec
    object (the cleanup of a `StartChild` whose caller stopped waiting).
    """

    name: str
    spec: ChildSpec | SupervisorSpec | None = None


class ChildInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A child as its supervisor sees it."""

    name: str
    path: str
    kind: Literal["worker", "supervisor"]
    restart: str
    state: Literal["running", "restarting", "stopped"]
    incarnation: int
    restarts: int
    mailbox_depth: int


# -- the tree's shared runtime ---------------------------------------------------------


class _Tree:
    """State shared by every supervisor of one tree. Owns no global state."""

    def __init__(
        self,
        spec: SupervisorSpec,
        clock: Clock,
        dead_letters: DeadLetters,
        rng: random.Random,
        *,
        instrument: bool = True,
    ) -> None:
        self.clock = clock
        self.instrument = instrument
        self.dead_letters = dead_letters
        self.events = Events()
        self.rng = rng
        self.tickets = itertools.count(1)  # tree-wide: a stale RestartDue never matches
        self.cells: dict[str, ActorCell] = {}
        self.supervisors: set[str] = set()  # paths of the cells that are supervisors
        # the closed addresses of children removed for good (stop_child), by path: a tell
        # to one (a late reply to a removed strategy, say) is a dead letter, not an error
        self.removed: dict[str, Address] = {}
        self._cells_lock = threading.Lock()  # writers only; readers take snapshots
        self.stopping = False  # set when the root starts stopping its children
        self._add_cells(ROOT_PATH, spec)

    def _add_cells(self, path: str, spec: SupervisorSpec | ChildSpec) -> None:
        self.cells[path] = cell = ActorCell(
            path, spec.mailbox, self.dead_letters, self.clock, self.address
        )
        cell.stats.instrumented = self.instrument
        if isinstance(spec, SupervisorSpec):
            self.supervisors.add(path)
            for child in spec.children:
                self._add_cells(join_path(path, child.name), child)

    def add_subtree(self, path: str, spec: SupervisorSpec | ChildSpec) -> None:
        """Make cells for a dynamic child (replacing the closed ones of an ended child)."""
        self.close_subtree(path)
        with self._cells_lock:
            self._remove_cells(path)
            self._add_cells(path, spec)

    def static_cell(self, path: str, spec: SupervisorSpec | ChildSpec) -> ActorCell:
        """The cell of a static child, made again if `stop_child` removed it for good.

        A restarted supervisor comes back with every child of its spec (OTP's init runs
        again), a removed one included: with a new cell and address, the old one closed.
        """
        cell = self.cells.get(path)
        if cell is None:
            self.add_subtree(path, spec)
            cell = self.cells[path]
        return cell

    def remove_subtree(self, path: str) -> None:
        """Close and forget the cells of ``path`` and below (a child removed for good)."""
        self.close_subtree(path)
        with self._cells_lock:
            self._remove_cells(path)

    def _remove_cells(self, path: str) -> None:
        for cell in tuple(self.subtree(path)):
            del self.cells[cell.path]
            self.supervisors.discard(cell.path)
            self.removed[cell.path] = cell.address  # closed: see `address`

    def cell(self, path: str) -> ActorCell:
        try:
            return self.cells[path]
        except KeyError:
            raise ConfigError(f"no actor at path {path!r} in this tree") from None

    def address(self, path: str) -> Address:
        """The address at ``path``; a child removed for good: its closed address.

        Tells to a closed address are dead letters (reason ``closed``), asks raise
        `AddressClosedError`: an actor replying to a removed one (the order manager to a
        removed strategy) is not crashed by it. A path never in the tree is a `ConfigError`.
        """
        cell = self.cells.get(path)
        if cell is not None:
            return cell.address
        removed = self.removed.get(path)
        if removed is not None:
            return removed
        return self.cell(path).address

    def subtree(self, path: str) -> Iterator[ActorCell]:
        prefix = "" if path == ROOT_PATH else f"{path}/"
        for cell_path, cell in tuple(self.cells.items()):
            if cell_path == path or cell_path.startswith(prefix):
                yield cell

    def close_subtree(self, path: str) -> None:
        for cell in self.subtree(path):
            cell.mailbox.close()

    def now_ns(self) -> int:
        return self.clock.time_ns()

    def build(self, spec: SupervisorSpec | ChildSpec, incarnation: Incarnation) -> pykka.Actor:
        """Construct the actor object of ``incarnation`` (raises ChildStartError)."""
        try:
            if isinstance(spec, SupervisorSpec):
                return instantiate(_SupervisorActor, incarnation, (spec, self), {})
            return instantiate(spec.actor, incarnation, spec.args, dict(spec.kwargs))
        except Exception as exc:
            incarnation.cell.mailbox.revoke(incarnation.token)
            raise ChildStartError(incarnation.cell.path, f"constructor raised {exc!r}") from exc

    def report_exit(self, incarnation: Incarnation) -> None:
        reason = incarnation.exit_reason
        assert reason is not None  # noqa: S101 - set by Incarnation.finish
        error = incarnation.exit_error
        cell = incarnation.cell
        if not reason.abnormal:
            cell.log.info("actor_stopped", incarnation=incarnation.number, reason=reason.value)
        self.events.emit(
            ActorExited(
                path=cell.path,
                timestamp_ns=self.now_ns(),
                incarnation=incarnation.number,
                reason=reason.value,
                error=None if error is None else repr(error),
            )
        )


# -- supervisors -----------------------------------------------------------------------


class _Child:
    __slots__ = ("attempts", "cell", "dynamic", "incarnation", "spec", "started_ns", "ticket")

    def __init__(
        self, spec: SupervisorSpec | ChildSpec, cell: ActorCell, *, dynamic: bool = False
    ) -> None:
        self.spec = spec
        self.cell = cell
        self.dynamic = dynamic  # added by start_child: not in the supervisor's spec
        self.incarnation: Incarnation | None = None
        self.ticket: int | None = None
        self.attempts = 0
        self.started_ns: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name


class _SupervisorActor(SupervisedActor):
    """One supervisor of the tree, as an actor: children's exits arrive in its mailbox."""

    def __init__(self, spec: SupervisorSpec, tree: _Tree) -> None:
        super().__init__()
        self._spec = spec
        self._tree = tree
        self._path = self.context.path
        self._self = self.context.address
        self._log = self.context.log
        self._children = [
            _Child(child, tree.static_cell(join_path(self._path, child.name), child))
            for child in spec.children
        ]
        self._restarts: deque[int] = deque()
        self._timers: dict[int, Timer] = {}

    # lifecycle

    def on_start(self) -> None:
        for index, child in enumerate(self._children):
            try:
                self._start_child(child)
            except ChildStartError:
                for started in reversed(self._children[:index]):
                    self._stop_child(started)
                raise

    def _ta_terminate(self, reason: ExitReason) -> None:  # noqa: ARG002 - every reason
        tree = self._tree
        if self._path == ROOT_PATH:
            tree.stopping = True  # the root is never restarted: from here, stops are for good
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        children = list(reversed(self._children))
        if self._spec.parallel_shutdown:  # all told first, then each waited for (see the spec)
            for child, incarnation in [(c, self._signal_stop(c)) for c in children]:
                child.ticket = None
                self._await_stop(child, incarnation)
                self._after_stop(child)
            return
        for child in children:
            child.ticket = None
            self._stop_child(child)
            self._after_stop(child)

    def _after_stop(self, child: _Child) -> None:
        tree = self._tree
        if tree.stopping:
            # Gone for good: what is sent to it from now on fails at once (a dead
            # letter, AddressClosedError) instead of waiting in a mailbox nobody will
            # read, or blocking its sender on a full one until a shutdown timeout.
            tree.close_subtree(child.cell.path)
        elif child.dynamic:
            # Whatever comes next (a restart from the static spec, an end for good),
            # this supervisor's dynamic children do not come back (OTP: a restarted
            # DynamicSupervisor starts empty).
            tree.remove_subtree(child.cell.path)
            self._ended(child, ExitReason.SHUTDOWN, None)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExited):
            self._on_child_exited(message)
            return None
        if isinstance(message, RestartDue):
            self._timers.pop(message.ticket, None)
            self._start_group([c for c in self._children if c.ticket == message.ticket])
            return None
        if isinstance(message, WhichChildren):
            return tuple(self._info(child) for child in self._children)
        if isinstance(message, StartChild):
            return self._add_child(message.spec)
        if isinstance(message, StopChild):
            self._remove_child(message.name, message.spec)
            return None
        # Not pykka's default (it logs the whole message to stdlib logging): the type only.
        self._log.warning("supervisor_unknown_message", message_type=type(message).__name__)
        return None

    # starting and stopping children

    def _start_child(self, child: _Child) -> None:
        """Start ``child`` and wait for its ``on_start``; raise ChildStartError on failure."""
        incarnation = child.cell.new_incarnation(self._child_exited_callback(child))
        child.incarnation = incarnation
        actor = self._tree.build(child.spec, incarnation)
        actor._start_actor_loop()
        timeout = child.spec.start_timeout
        if not incarnation.started.wait(timeout) and incarnation.abandon_start():
            raise ChildStartError(child.cell.path, f"on_start did not finish within {timeout} s")
        error = incarnation.start_error
        if isinstance(error, ChildStartError):  # a nested supervisor's child: keep its path
            raise ChildStartError(error.path, error.reason) from error
        if error is not None:
            raise ChildStartError(child.cell.path, f"{error!r}") from error
        child.started_ns = self._tree.clock.monotonic_ns()
        if incarnation.number > 1:
            child.cell.log.info("actor_restarted", incarnation=incarnation.number)
        else:
            child.cell.log.info("actor_started")
        self._tree.events.emit(
            ActorStarted(
                path=child.cell.path,
                timestamp_ns=self._tree.now_ns(),
                incarnation=incarnation.number,
            )
        )

    def _child_exited_callback(self, child: _Child) -> Callable[[Incarnation], None]:
        def exited(incarnation: Incarnation) -> None:
            # Runs in the child's thread as it ends. A child stopped on purpose is no
            # longer the current incarnation: its exit is not news to this supervisor.
            # The supervisor hears first, so that anything asked of it after the event
            # is answered after it handled the exit.
            if child.incarnation is incarnation:
                self._self.tell(
                    ChildExited(
                        name=child.name,
                        incarnation=incarnation.number,
                        token=incarnation.token,
                        reason=incarnation.exit_reason or ExitReason.CRASHED,
                        error=incarnation.exit_error,
                    )
                )
            self._tree.report_exit(incarnation)

        return exited

    def _stop_child(self, child: _Child) -> None:
        self._await_stop(child, self._signal_stop(child))

    def _signal_stop(self, child: _Child) -> Incarnation | None:
        """Tell ``child`` to stop; its incarnation to wait for (None: nothing to wait for)."""
        incarnation = child.incarnation
        if incarnation is None:
            return None
        child.incarnation = None
        if not child.cell.mailbox.signal(incarnation.token, Signal.STOP):
            return None  # revoked (never ran, or abandoned): it cannot take another message
        return incarnation

    def _await_stop(self, child: _Child, incarnation: Incarnation | None) -> None:
        """Wait for ``child`` to exit, within its ``shutdown``; abandoned past it."""
        if incarnation is None:
            return
        if not incarnation.exited.wait(child.spec.shutdown):
            child.cell.mailbox.revoke(incarnation.token)
            child.cell.stats.up = False
            child.cell.log.error(
                "actor_shutdown_timeout",
                incarnation=incarnation.number,
                timeout=child.spec.shutdown,
            )

    def _start_group(self, group: list[_Child]) -> None:
        """Start ``group`` in order; a failure becomes that child's exit, to be handled next."""
        for child in group:
            child.ticket = None
            try:
                self._start_child(child)
            except ChildStartError as error:
                incarnation = child.incarnation
                # It never came up: its backoff keeps growing (an uptime measured from an
                # earlier, successful start would reset it to the minimum every time).
                child.started_ns = None
                child.cell.log.exception("actor_restart_failed", error=str(error))
                if incarnation is not None and not incarnation.exited.is_set():
                    # No thread will report this failure (constructor raised, or on_start
                    # overran): report it ourselves so it is handled like any exit.
                    self._self.tell(
                        ChildExited(
                            name=child.name,
                            incarnation=incarnation.number,
                            token=incarnation.token,
                            reason=ExitReason.START_FAILED,
                            error=error,
                        )
                    )
                return

    # deciding

    def _find(self, name: str) -> _Child | None:
        for child in self._children:
            if child.name == name:
                return child
        return None

    def _on_child_exited(self, exited: ChildExited) -> None:
        try:
            self._child_exited(exited)
        finally:
            if exited.reason is ExitReason.CRASHED and exited.error is not None:
                # Handled: the crash was logged with its traceback, the hooks had it. From
                # now on its dead letter keeps the error, without the frames (and all
                # they reference: the dead incarnation, its messages) that would keep
                # the collector busy for as long as the letter is kept.
                _drop_frames(exited.error)

    def _child_exited(self, exited: ChildExited) -> None:
        child = self._find(exited.name)
        if child is None or child.incarnation is None:
            return
        if child.incarnation.token is not exited.token:
            return  # an earlier incarnation, or a removed child of the same name
        child.incarnation = None
        if exited.reason.abnormal and isinstance(child.spec, ChildSpec):
            self._notify_failure(child.spec, child.cell.path, exited.error)
        restart = child.spec.restart
        if restart is Restart.TEMPORARY or (
            restart is Restart.TRANSIENT and not exited.reason.abnormal
        ):
            self._end_child(child)
            self._ended(child, exited.reason, exited.error)
            return
        self._restart(child)

    def _notify_failure(self, spec: ChildSpec, path: str, error: BaseException | None) -> None:
        if spec.on_failure is None:
            return
        try:
            spec.on_failure(path, error)
        except Exception:  # noqa: BLE001 - a hook's bug must not stop the restart
            self._log.exception("on_failure_failed", child=spec.name)

    def _end_child(self, child: _Child) -> None:
        """``child`` is not restarted: close its mailboxes; forget it if temporary (OTP)."""
        self._tree.close_subtree(child.cell.path)
        if child.spec.restart is Restart.TEMPORARY:
            self._children.remove(child)

    def _ended(self, child: _Child, reason: ExitReason, error: BaseException | None) -> None:
        self._tree.events.emit(
            ActorEnded(
                path=child.cell.path,
                timestamp_ns=self._tree.now_ns(),
                kind="supervisor" if isinstance(child.spec, SupervisorSpec) else "worker",
                reason=reason.value,
                error=None if error is None else repr(error),
                abnormal=reason.abnormal,
            )
        )

    # dynamic children

    def _add_child(self, spec: ChildSpec | SupervisorSpec) -> str:
        """Add ``spec`` as the last child and start it (StartChild); its path, or raise."""
        if self._find(spec.name) is not None:
            raise ConfigError(f"supervisor {self._path!r} already has a child named {spec.name!r}")
        path = join_path(self._path, spec.name)
        tree = self._tree
        tree.add_subtree(path, spec)
        child = _Child(spec, tree.cell(path), dynamic=True)
        self._children.append(child)
        try:
            self._start_child(child)
        except ChildStartError:
            # Nothing left behind: not a child, no cells, its (closed) mailbox refuses.
            self._children.remove(child)
            child.incarnation = None
            tree.remove_subtree(path)
            raise
        return path

    def _remove_child(self, name: str, spec: ChildSpec | SupervisorSpec | None) -> None:
        """Stop child ``name`` (and its subtree) and remove it for good (StopChild)."""
        path = join_path(self._path, name)
        child = self._find(name)
        if child is None:
            if spec is not None:
                return  # the start this cleans up after failed: nothing to do
            cell = self._tree.cells.get(path)
            if cell is None or not cell.mailbox.closed:
                raise ConfigError(f"supervisor {self._path!r} has no child named {name!r}")
            self._tree.remove_subtree(path)  # an ended temporary child's closed cells
            return
        if spec is not None and child.spec is not spec:
            return
        self._children.remove(child)
        ticket, child.ticket = child.ticket, None
        if ticket is not None and not any(c.ticket == ticket for c in self._children):
            timer = self._timers.pop(ticket, None)
            if timer is not None:
                timer.cancel()
        self._stop_child(child)
        self._tree.remove_subtree(path)
        child.cell.log.info("actor_removed")
        self._ended(child, ExitReason.SHUTDOWN, None)

    def _group(self, child: _Child) -> list[_Child]:
        strategy = self._spec.strategy
        if strategy is Strategy.ONE_FOR_ONE:
            return [child]
        if strategy is Strategy.ONE_FOR_ALL:
            return list(self._children)
        return self._children[self._children.index(child) :]

    def _restart(self, child: _Child) -> None:
        now = self._tree.clock.monotonic_ns()
        self._restarts.append(now)
        horizon = now - int(self._spec.period * _NS)
        while self._restarts and self._restarts[0] <= horizon:
            self._restarts.popleft()
        if len(self._restarts) > self._spec.intensity:
            self._escalate(child)
        group = self._group(child)
        for sibling in reversed(group):
            if sibling is not child:
                self._stop_child(sibling)
        for sibling in group:
            if sibling is not child and sibling.spec.restart is Restart.TEMPORARY:
                self._end_child(sibling)
                self._ended(sibling, ExitReason.SHUTDOWN, None)
        group = [c for c in group if c is child or c.spec.restart is not Restart.TEMPORARY]
        delay = self._backoff_delay(child, now)
        if delay <= 0:
            self._start_group(group)
            return
        ticket = next(self._tree.tickets)
        for member in group:
            member.ticket = ticket
        address = self._self
        self._timers[ticket] = self._tree.clock.call_later(
            delay, lambda: address.tell(RestartDue(ticket=ticket))
        )
        child.cell.log.warning("restart_backoff", delay=round(delay, 6), attempt=child.attempts)
        self._tree.events.emit(
            RestartScheduled(path=child.cell.path, timestamp_ns=self._tree.now_ns(), delay=delay)
        )

    def _backoff_delay(self, child: _Child, now: int) -> float:
        backoff = child.spec.backoff
        if backoff is None:
            return 0.0
        if child.started_ns is not None and now - child.started_ns >= backoff.stable_after * _NS:
            child.attempts = 0
        delay = backoff.delay(child.attempts, self._tree.rng.random())
        child.attempts += 1
        return delay

    def _escalate(self, child: _Child) -> None:
        error = RestartIntensityExceededError(
            self._path, len(self._restarts), self._spec.period, child.name
        )
        self._log.error(
            "supervisor_escalated",
            restarts=len(self._restarts),
            period=self._spec.period,
            child=child.name,
        )
        self._tree.events.emit(
            SupervisorEscalated(
                path=self._path,
                timestamp_ns=self._tree.now_ns(),
                restarts=len(self._restarts),
                period=self._spec.period,
                child=child.name,
            )
        )
        raise Escalation(error)

    def _info(self, child: _Child) -> ChildInfo:
        incarnation = child.incarnation
        if incarnation is not None:
            state: Literal["running", "restarting", "stopped"] = "running"
        elif child.ticket is not None:
            state = "restarting"
        else:
            state = "stopped"
        return ChildInfo(
            name=child.name,
            path=child.cell.path,
            kind="supervisor" if isinstance(child.spec, SupervisorSpec) else "worker",
            restart=child.spec.restart.value,
            state=state,
            incarnation=child.cell.stats.incarnations,
            restarts=child.cell.stats.restarts,
            mailbox_depth=len(child.cell.mailbox),
        )


# -- the handle ------------------------------------------------------------------------


class Supervisor:
    """A supervision tree, started and stopped by its host application.

    It owns no global state: several trees live side by side in one process, each
    stops only its own actors, and metrics go to the registry given (if any).

    Args:
        spec: the root supervisor and, through it, the whole tree.
        registry: where the actors' metrics are registered (never the global default
            unless you pass it). None: no metrics are exported (they are still kept).
        clock: time and timers for restart intensity and backoff; default the system's.
        on_escalation: called with the error when the root itself fails (its restart
            intensity exceeded, or it crashed). The tree is then down. It runs in the
            root's thread as it ends: it may call `stop`, and must not wait on actors.
        dead_letter_capacity: how many recent dead letters `dead_letters` keeps.
        seed: seeds the backoff jitter, for reproducible runs.
        instrument: False to skip the per-message statistics (mailbox wait and handler
            time histograms, messages processed by type) in every actor of the tree;
            they are then neither kept nor exported. Depth, restarts, dead letters and
            drops are kept either way. ``bench/tick_to_trade.py`` measures the cost.

    Example:
        >>> spec = SupervisorSpec(name="root", children=(ChildSpec(name="echo", actor=Echo),))
        >>> with Supervisor(spec) as tree:  # doctest: +SKIP
        ...     tree.address("echo").ask("hi", timeout=1.0)

    """

    def __init__(
        self,
        spec: SupervisorSpec,
        *,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
        on_escalation: Callable[[BaseException], None] | None = None,
        dead_letter_capacity: int = 1000,
        seed: int | None = None,
        instrument: bool = True,
    ) -> None:
        self._spec = spec
        self._owns_clock = clock is None
        self._clock: Clock = SystemClock() if clock is None else clock
        rng = random.Random(seed)  # noqa: S311 - restart jitter, not cryptography
        self._tree = _Tree(
            spec, self._clock, DeadLetters(dead_letter_capacity), rng, instrument=instrument
        )
        self._on_escalation = on_escalation
        self._root: Incarnation | None = None
        self._done = threading.Event()
        self._failure: BaseException | None = None
        self._log = structlog.get_logger("tradeactors.tree").bind(tree=spec.name)
        self._registry = registry
        self._collector: Any = None
        if registry is not None:
            from tradeactors.observability.metrics import ActorMetricsCollector  # noqa: PLC0415

            self._collector = ActorMetricsCollector(self._metric_rows)
            try:
                registry.register(self._collector)
            except ValueError as exc:
                raise ConfigError(
                    "this registry already has tradeactors actor metrics: give each tree "
                    "its own prometheus_client.CollectorRegistry"
                ) from exc

    # lifecycle

    def start(self, timeout: float = 30.0) -> Self:
        """Start every actor, in order, waiting for each ``on_start``.

        Raises:
            ChildStartError: a child failed to start; everything started is stopped.

        """
        if self._root is not None:
            raise ConfigError(f"tree {self._spec.name!r} was already started")
        cell = self._tree.cell(ROOT_PATH)
        root = cell.new_incarnation(self._root_exited)
        self._root = root
        self._tree.build(self._spec, root)._start_actor_loop()
        if not root.started.wait(timeout):
            self.stop(timeout)
            raise ChildStartError(ROOT_PATH, f"the tree did not start within {timeout} s")
        if root.start_error is not None:
            self._done.wait(timeout)
            self._close()
            error = root.start_error
            if isinstance(error, ChildStartError):  # name the child that failed, not "/"
                raise ChildStartError(error.path, error.reason) from error
            raise ChildStartError(ROOT_PATH, repr(error)) from error
        self._log.info("tree_started", actors=len(self._tree.cells))
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every actor in reverse start order; queued messages become dead letters.

        Raises:
            ShutdownTimeoutError: the tree did not stop within ``timeout`` seconds.

        """
        root = self._root
        if root is None or self._done.is_set():
            self._close()
            return
        self._tree.cell(ROOT_PATH).mailbox.signal(root.token, Signal.STOP)
        if not self._done.wait(timeout):
            raise ShutdownTimeoutError(ROOT_PATH, timeout)
        self._close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _root_exited(self, root: Incarnation) -> None:
        reason = root.exit_reason or ExitReason.CRASHED
        failed = reason.abnormal and reason is not ExitReason.START_FAILED
        try:
            self._tree.report_exit(root)
            if failed:
                self._failure = root.exit_error
                self._log.critical("tree_failed", reason=reason.value, error=repr(root.exit_error))
            self._tree.close_subtree(ROOT_PATH)
            if self._owns_clock:
                self._clock.close()
        finally:
            self._done.set()  # whatever went wrong above, the tree is down
        if failed and self._on_escalation is not None:
            try:
                self._on_escalation(root.exit_error or RuntimeError(reason.value))
            except Exception:  # noqa: BLE001 - the hook's bug must not hide the failure
                self._log.exception("escalation_hook_raised")

    def _close(self) -> None:
        self._tree.close_subtree(ROOT_PATH)
        if self._owns_clock:
            self._clock.close()
        if self._collector is not None and self._registry is not None:
            self._registry.unregister(self._collector)
            self._collector = None

    # state

    @property
    def running(self) -> bool:
        """True from a successful `start` until the tree stops or fails."""
        return self._root is not None and not self._done.is_set()

    @property
    def failure(self) -> BaseException | None:
        """Why the root failed, if it did."""
        return self._failure

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the tree is down (stopped or failed); False on timeout."""
        return self._done.wait(timeout)

    # using the tree

    def address(self, path: str) -> Address:
        """The stable address of the actor at ``path`` (``ROOT_PATH`` for the root)."""
        return self._tree.address(path)

    def paths(self) -> tuple[str, ...]:
        """Every actor path of the tree, parents before children."""
        return tuple(self._tree.cells)

    def faults(self, path: str) -> FaultInjector:
        """Fault injection for the actor at ``path``."""
        return self._tree.cell(path).faults

    def stats(self, path: str) -> ActorStats:
        """Live counters of the actor at ``path`` (what the metrics export)."""
        return self._tree.cell(path).stats

    @property
    def dead_letters(self) -> DeadLetters:
        """The tree's dead-letter record."""
        return self._tree.dead_letters

    def subscribe(self, callback: Callable[[SupervisionEvent], None]) -> Callable[[], None]:
        """Get every supervision event; returns a function that unsubscribes."""
        return self._tree.events.subscribe(callback)

    def children(self, path: str = ROOT_PATH, *, timeout: float = 5.0) -> tuple[ChildInfo, ...]:
        """What the supervisor at ``path`` knows of its children (asks it)."""
        result: tuple[ChildInfo, ...] = self._tree.address(path).ask(
            WhichChildren(), timeout=timeout
        )
        return result

    # dynamic children

    def start_child(
        self,
        spec: ChildSpec | SupervisorSpec,
        *,
        under: str = ROOT_PATH,
        timeout: float = 30.0,
    ) -> str:
        """Add ``spec`` (a worker or a whole subtree) to the running supervisor at ``under``.

        The child is appended after the supervisor's other children, started like any
        child (waiting for its ``on_start``, and for a subtree every ``on_start`` in it),
        and from then on treated exactly like a static child (restarts, intensity,
        lossless mailbox). Callable from any thread and from a worker actor; refused in a
        supervisor's own thread (an ``on_failure`` hook, an `ActorStarted` subscriber):
        use `start_child_future` there. See docs/supervision.md, "Dynamic children".

        Returns:
            The child's path, e.g. ``strategies/mm``.

        Raises:
            ConfigError: ``under`` is not a supervisor of this tree, or it already has
                a child of that name.
            ChildStartError: the child failed to start (or did not within ``timeout``);
                nothing of it is left in the tree.
            AddressClosedError: the supervisor at ``under`` is gone for good.

        """
        self._refuse_blocking_in(under, "start_child")
        future = self.start_child_future(spec, under=under)
        path = join_path(under, spec.name)
        try:
            result: str = future.get(timeout=timeout)
        except pykka.Timeout:
            # Whether it starts later or not, it is stopped: nothing is left behind.
            self._tree.address(under).tell(StopChild(name=spec.name, spec=spec))
            raise ChildStartError(
                path, f"supervisor {under!r} did not answer within {timeout:g} s"
            ) from None
        return result

    def start_child_future(
        self, spec: ChildSpec | SupervisorSpec, *, under: str = ROOT_PATH
    ) -> pykka.Future[str]:
        """`start_child` without waiting: the future gets the path or the error.

        Safe from any thread, including a supervisor's own (hooks, event subscribers).
        """
        if not isinstance(spec, ChildSpec | SupervisorSpec):
            raise ConfigError(f"start_child takes a ChildSpec or SupervisorSpec, not {spec!r}")
        self._check_supervisor(under)
        return self._tree.address(under).ask_future(StartChild(spec=spec))

    def stop_child(self, path: str, *, timeout: float = 30.0) -> None:
        """Stop the child at ``path`` (and its subtree, in reverse order) and remove it.

        Its supervisor stops it as it would for a shutdown (waiting up to the child's
        ``shutdown`` timeout), forgets it (never restarted, not a failure, nothing
        escalates), closes its address (tells become dead letters, asks fail) and
        removes its paths from the tree. Works on static children too (OTP's
        ``terminate_child`` + ``delete_child``). Callable from any thread and from a
        worker actor outside the subtree being stopped; use `stop_child_future` in a
        supervisor's own thread or from inside that subtree.

        Raises:
            ConfigError: no child at ``path`` (or ``path`` is the root: use `stop`).
            ShutdownTimeoutError: not done within ``timeout`` (it still goes on).
            AddressClosedError: its supervisor is gone for good.

        """
        self._refuse_blocking_in(path, "stop_child")
        future = self.stop_child_future(path)
        try:
            future.get(timeout=timeout)
        except pykka.Timeout:
            raise ShutdownTimeoutError(path, timeout) from None

    def stop_child_future(self, path: str) -> pykka.Future[None]:
        """`stop_child` without waiting: the future is set once the child is removed."""
        if path == ROOT_PATH:
            raise ConfigError("the root is not a child: stop the tree with stop()")
        self._tree.cell(path)  # unknown path: ConfigError naming it
        parent, _, name = path.rpartition("/")
        parent = parent or ROOT_PATH
        self._check_running()
        return self._tree.address(parent).ask_future(StopChild(name=name))

    def _check_running(self) -> None:
        if not self.running:
            raise SupervisionError(f"tree {self._spec.name!r} is not running")

    def _check_supervisor(self, path: str) -> None:
        self._tree.cell(path)  # unknown path: ConfigError naming it
        if path not in self._tree.supervisors:
            raise ConfigError(f"{path!r} is a worker, not a supervisor: it has no children")
        self._check_running()

    def _refuse_blocking_in(self, path: str, what: str) -> None:
        """Refuse to wait where waiting would deadlock until the timeout.

        A supervisor's own thread (hooks, subscribers) would wait on a supervisor that
        may be itself; an actor inside the subtree being stopped would wait for its own
        stop. Nothing is sent then.
        """
        cell = current_cell()
        if cell is None or self._tree.cells.get(cell.path) is not cell:
            return  # not an actor of this tree
        prefix = "" if path == ROOT_PATH else f"{path}/"
        if cell.path in self._tree.supervisors or (
            what == "stop_child" and (cell.path == path or cell.path.startswith(prefix))
        ):
            raise SupervisionError(
                f"{what} called in the thread of {cell.path!r} would wait on itself: "
                f"use {what}_future there"
            )

    def _metric_rows(self) -> Iterator[tuple[ActorStats, int]]:
        for cell in tuple(self._tree.cells.values()):
            yield cell.stats, len(cell.mailbox)


def _drop_frames(error: BaseException) -> None:
    """Drop the tracebacks of ``error`` and of the exceptions chained to it."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += (current.__cause__, current.__context__)
