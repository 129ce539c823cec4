"""The parts of a supervised actor that outlive its incarnations: cell and address."""

from __future__ import annotations

import enum
import threading
from typing import TYPE_CHECKING, Any

import pykka
import structlog

from tradeactors.supervision._deadletters import DeadLetter, DeadLetters
from tradeactors.supervision._faults import FaultInjector
from tradeactors.supervision._mailbox import make_mailbox
from tradeactors.supervision._stats import ActorStats

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.clock import Clock
    from tradeactors.supervision._spec import MailboxSpec

__all__ = ["ActorCell", "Address", "ExitReason", "Incarnation"]


class ExitReason(enum.Enum):
    """Why an incarnation ended."""

    NORMAL = "normal"
    """The actor stopped itself (``self.stop()``)."""
    SHUTDOWN = "shutdown"
    """Its supervisor stopped it on purpose."""
    CRASHED = "crashed"
    """A handler reached by ``tell`` raised (or a supervisor escalated)."""
    START_FAILED = "start_failed"
    """Its constructor or ``on_start`` raised, or ``on_start`` overran its timeout."""
    KILLED = "killed"
    """It was killed abruptly (fault injection)."""

    @property
    def abnormal(self) -> bool:
        """OTP's abnormal exit: a transient child is restarted after one."""
        return self not in (ExitReason.NORMAL, ExitReason.SHUTDOWN)


class Incarnation:
    """One pykka actor object running for a path, from start to exit."""

    __slots__ = (
        "_start_lock",
        "abandoned",
        "cell",
        "exit_error",
        "exit_reason",
        "exited",
        "number",
        "on_exit",
        "start_error",
        "started",
        "token",
    )

    def __init__(
        self,
        cell: ActorCell,
        number: int,
        on_exit: Callable[[Incarnation], None],
    ) -> None:
        self.cell = cell
        self.number = number
        self.token = object()
        self.on_exit = on_exit
        self.started = threading.Event()
        self.exited = threading.Event()
        self.start_error: BaseException | None = None
        self.exit_reason: ExitReason | None = None
        self.exit_error: BaseException | None = None
        self.abandoned = False
        self._start_lock = threading.Lock()

    def commit_start(self) -> bool:
        """Called by the actor after ``on_start``: False if its supervisor gave up first."""
        with self._start_lock:
            if self.abandoned:
                return False
            self.cell.stats.up = True
            self.started.set()
            return True

    def abandon_start(self) -> bool:
        """Called by the supervisor on a start timeout: False if the start won the race.

        Either the incarnation starts and serves, or it is abandoned and never takes a
        message: the two cannot both happen.
        """
        with self._start_lock:
            if self.started.is_set():
                return False
            self.abandoned = True
            self.cell.mailbox.revoke(self.token)
            return True

    def finish(self, reason: ExitReason, error: BaseException | None) -> None:
        """Record the exit, wake waiters, tell the parent. Called once, by the actor thread."""
        self.exit_reason = reason
        self.exit_error = error
        if self.cell.mailbox.owns(self.token):
            # A revoked incarnation ending late must not mark its successor down.
            self.cell.stats.up = False
        if reason is ExitReason.START_FAILED:
            self.start_error = error
        self.started.set()
        self.exited.set()
        self.on_exit(self)


class ActorCell:
    """Mailbox, statistics, faults and address of one path, shared by its incarnations."""

    def __init__(
        self,
        path: str,
        mailbox_spec: MailboxSpec,
        dead_letters: DeadLetters,
        clock: Clock,
        resolve: Callable[[str], Address],
    ) -> None:
        self.path = path
        self.stats = ActorStats(path)
        self.log = structlog.get_logger("tradeactors.actor").bind(path=path)
        self._dead_letters = dead_letters
        self._clock = clock
        self.resolve = resolve
        self.mailbox = make_mailbox(path, mailbox_spec, self.stats, self.dead_letter, self.log)
        self.incarnation: Incarnation | None = None
        self.fault: FaultInjector | None = None
        self.faults = FaultInjector(self)
        self.address = Address(self)

    @property
    def clock(self) -> Clock:
        """The tree's clock."""
        return self._clock

    def new_incarnation(self, on_exit: Callable[[Incarnation], None]) -> Incarnation:
        """Make the next incarnation the mailbox owner."""
        self.stats.incarnations += 1
        incarnation = Incarnation(self, self.stats.incarnations, on_exit)
        self.incarnation = incarnation
        self.mailbox.claim(incarnation.token)
        return incarnation

    def dead_letter(
        self, message: Any, reason: str, error: BaseException | None, *, log: bool = True
    ) -> None:
        """Record ``message`` as never handled, for ``reason``."""
        letter = DeadLetter(
            path=self.path,
            message_type=type(message).__name__,
            message=message,
            reason=reason,
            error=error,
            timestamp_ns=self._clock.time_ns(),
        )
        self._dead_letters.record(letter, self.stats, log=log)


class Address:
    """A stable handle on an actor path: it reaches whichever incarnation is current.

    Messages sent while the actor restarts wait in its mailbox. Once the actor is gone
    for good, ``tell`` records a dead letter and ``ask`` raises `AddressClosedError`.
    """

    __slots__ = ("_cell", "_mailbox", "tell")

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell
        self._mailbox = cell.mailbox
        self.tell: Callable[[Any], None] = cell.mailbox.post
        """Send ``message`` without waiting for it to be handled."""

    @property
    def path(self) -> str:
        """The actor's path in its tree, e.g. ``execution/gateway``."""
        return self._cell.path

    def __repr__(self) -> str:
        return f"Address({self._cell.path!r})"

    def ask_future(self, message: Any) -> pykka.Future[Any]:
        """Send ``message``; the returned future gets the handler's result or exception."""
        future: pykka.Future[Any] = pykka.ThreadingFuture()
        self._mailbox.post(message, future)
        return future

    def ask(self, message: Any, *, timeout: float) -> Any:
        """Send ``message`` and wait up to ``timeout`` s for the result (never inside a handler).

        Raises:
            pykka.Timeout: no answer in time (the message may still be handled later).
            AddressClosedError: the actor is gone for good.

        """
        return self.ask_future(message).get(timeout=timeout)

    @property
    def mailbox_depth(self) -> int:
        """Messages waiting in the mailbox now."""
        return len(self._mailbox)

    def is_alive(self) -> bool:
        """True while an incarnation is running (False while restarting or gone)."""
        return self._cell.stats.up

    def is_closed(self) -> bool:
        """True when the actor is gone for good and messages become dead letters."""
        return self._mailbox.closed
