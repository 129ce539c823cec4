"""Running a pykka actor under supervision.

`supervised_class` derives, from any ``pykka.ThreadingActor`` subclass, a class whose
instances read the path's persistent mailbox and run a loop that:

- reports every exit to the supervisor, with a reason (crash in a ``tell`` handler,
  failure in the constructor or ``on_start``, normal stop, kill, stop on purpose);
- leaves the messages queued behind a crash in the mailbox for the next incarnation,
  and records the failing message as a dead letter (it is not handled again);
- times every message (wait in the mailbox, time in the handler) and counts it.

Exceptions raised by a handler reached by ``ask`` go back to the caller and do not
crash the actor (pykka's semantics).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from typing import TYPE_CHECKING, Any

import pykka
from pykka import messages as pykka_messages

from tradeactors.clock import perf_ns
from tradeactors.errors import ConfigError, SupervisionError
from tradeactors.supervision._cell import ExitReason
from tradeactors.supervision._deadletters import DeadLetterReason
from tradeactors.supervision._mailbox import WAKE, FifoMailbox, Signal

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

    from tradeactors.clock import Clock
    from tradeactors.supervision._cell import ActorCell, Address, Incarnation

__all__ = ["ActorContext", "Escalation", "SupervisedActor", "current_cell", "supervised_class"]

_ActorStop = pykka_messages._ActorStop
_PYKKA_MESSAGES = frozenset(
    {
        _ActorStop,
        pykka_messages.ProxyCall,
        pykka_messages.ProxyGetAttr,
        pykka_messages.ProxySetAttr,
    }
)
"""Messages pykka itself handles (stop, proxy calls); everything else goes to on_receive."""


_running = threading.local()  # greenlet-local under gevent (patched before this import)


def current_cell() -> ActorCell | None:
    """The cell of the supervised actor whose thread (greenlet) calls this, if any.

    Set while the incarnation starts and handles messages, cleared before its exit is
    reported: the exit callbacks (events, the parent's notice) run as in any thread.
    """
    cell: ActorCell | None = getattr(_running, "cell", None)
    return cell


class Escalation(Exception):  # noqa: N818 - control flow, never seen by users
    """Raised by a supervisor's handler to fail itself with ``error``, without a dead letter."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class ActorContext:
    """What a `SupervisedActor` knows about its place in the tree."""

    __slots__ = ("_addresses", "_cell", "incarnation")

    def __init__(self, cell: ActorCell, incarnation: int) -> None:
        self._cell = cell
        self._addresses: dict[str, Address] = {}  # looked up again once closed
        self.incarnation = incarnation
        """1 for the first start, 2 after the first restart, and so on."""

    @property
    def path(self) -> str:
        """This actor's path, e.g. ``execution/gateway``."""
        return self._cell.path

    @property
    def address(self) -> Address:
        """This actor's own stable address (give it to others instead of ``actor_ref``)."""
        return self._cell.address

    @property
    def log(self) -> FilteringBoundLogger:
        """A structlog logger bound with this actor's path."""
        logger: FilteringBoundLogger = self._cell.log
        return logger

    @property
    def clock(self) -> Clock:
        """The tree's clock: read time and set timers here, never from ``time``."""
        return self._cell.clock

    def address_of(self, path: str) -> Address:
        """The address of another actor of the same tree, by its path.

        A closed address is looked up again: a dynamic child removed with
        ``Supervisor.stop_child`` and started again under the same name has a new one.
        """
        address = self._addresses.get(path)
        if address is None:
            address = self._addresses[path] = self._cell.resolve(path)
        elif address.is_closed():
            # Removed for good (ConfigError): the closed address makes tells dead letters.
            with contextlib.suppress(ConfigError):
                address = self._addresses[path] = self._cell.resolve(path)
        return address


class _SupervisionMixin:
    """The supervised run loop. Mixed in front of a ``pykka.ThreadingActor`` subclass."""

    _ta_incarnation: Incarnation | None = None
    actor_inbox: Any
    actor_stopped: threading.Event

    def _create_actor_inbox(self) -> Any:  # pykka calls this from Actor.__init__
        incarnation = self._ta_incarnation
        if incarnation is None:  # started by plain pykka, outside any tree
            return super()._create_actor_inbox()  # type: ignore[misc]
        return incarnation.cell.mailbox

    def _start_actor_loop(self) -> None:
        incarnation = self._ta_incarnation
        if incarnation is None:
            super()._start_actor_loop()  # type: ignore[misc]
            return
        thread = threading.Thread(
            target=self._ta_run,
            name=f"tradeactors:{incarnation.cell.path}#{incarnation.number}",
            daemon=True,
        )
        thread.start()

    def _ta_terminate(self, reason: ExitReason) -> None:
        """Last words of every incarnation, whatever the reason (supervisors stop children)."""

    def _ta_run(self) -> None:
        incarnation = self._ta_incarnation
        assert incarnation is not None  # noqa: S101 - set before the thread starts
        reason = ExitReason.CRASHED
        error: BaseException | None = None
        _running.cell = incarnation.cell
        try:
            reason, error = self._ta_loop(incarnation)
        except BaseException as exc:  # greenlet kill, SystemExit: exit abnormally, loudly
            error = exc
            incarnation.cell.log.exception("actor_loop_aborted")
        finally:
            try:
                self._ta_terminate(reason)
            finally:
                _running.cell = None
                self.actor_stopped.set()
                incarnation.finish(reason, error)

    def _ta_loop(  # noqa: C901, PLR0911, PLR0912, PLR0915 - the hot loop is one frame on purpose
        self, incarnation: Incarnation
    ) -> tuple[ExitReason, BaseException | None]:
        cell = incarnation.cell
        actor: pykka.Actor = self  # type: ignore[assignment]
        try:
            actor.on_start()
        except BaseException as exc:
            cell.log.exception("actor_start_failed", incarnation=incarnation.number)
            return ExitReason.START_FAILED, exc
        if not incarnation.commit_start():
            # The supervisor gave up waiting (start timeout): exit without on_stop.
            cell.log.warning("actor_abandoned", incarnation=incarnation.number)
            return ExitReason.START_FAILED, None

        # The hot loop: everything it touches per message is a local.
        mailbox = cell.mailbox
        take = mailbox.take
        # A FIFO mailbox is read directly while no signal is pending (FifoMailbox.take
        # inlined): the owner and signal checks are the same, one call fewer.
        fifo = mailbox if isinstance(mailbox, FifoMailbox) else None
        fifo_get: Any = None if fifo is None else fifo.raw_get
        token = incarnation.token
        stats = cell.stats
        counters = stats.counters
        wait, handler = stats.wait, stats.handler
        wait_counts, handler_counts = wait.counts, handler.counts
        ended_ns = started_ns = 0
        # The counter of the last message type handled: an actor mostly handles runs of
        # one type, so a message costs an identity test and a list increment, and only a
        # change of type a dict lookup. Counters are shared with the stats: nothing to flush.
        last_kind: Any = None
        counter = [0]
        instrumented = stats.instrumented
        pykka_kinds = _PYKKA_MESSAGES
        dispatch = actor._handle_receive  # pykka's: stop and proxy messages
        on_receive = actor.on_receive
        while True:
            if fifo is None or fifo._owner is not token or fifo._signal is not None:
                item = take(token)
            else:
                item = fifo_get()
                if item is WAKE:
                    fifo.woken()
                    continue
            if item.__class__ is Signal:
                if item is Signal.KILL:
                    cell.log.warning("actor_killed", incarnation=incarnation.number)
                    return ExitReason.KILLED, None
                if item is Signal.REVOKED:
                    # Abandoned after a timeout: a successor may already run. Exit at
                    # once, without on_stop (OTP's brutal kill), touching nothing.
                    cell.log.warning("actor_abandoned", incarnation=incarnation.number)
                    return ExitReason.SHUTDOWN, None
                self._ta_on_stop(cell)
                return ExitReason.SHUTDOWN, None
            message = item[1]
            reply_to = item[2]
            if instrumented:
                # A message queued before the previous handler finished started when
                # that one ended (give or take this loop's sub-microsecond overhead):
                # reuse the timestamp. Only a message that arrived while the actor idled
                # needs a new one.
                enqueued_ns = item[0]
                started_ns = ended_ns if enqueued_ns <= ended_ns else perf_ns()
                waited = started_ns - enqueued_ns
                wait_counts[(waited - 1).bit_length()] += 1  # Histogram.observe, inlined
                wait.sum_ns += waited
            kind = message.__class__
            try:
                fault = cell.fault
                if fault is not None:
                    fault.before_handle(message)
                if kind in pykka_kinds:
                    if kind is _ActorStop:
                        self._ta_on_stop(cell)
                        if reply_to is not None:
                            reply_to.set(None)
                        return ExitReason.NORMAL, None
                    response = dispatch(message)
                else:
                    response = on_receive(message)
            except Escalation as escalation:
                return ExitReason.CRASHED, escalation.error
            except Exception as exc:  # noqa: BLE001 - any handler error is a crash or a reply
                if reply_to is None:
                    return self._ta_crash(cell, incarnation, message, exc), exc
                reply_to.set_exception()
            except BaseException as exc:
                # SystemExit, GreenletExit, gevent.Timeout...: the thread ends, but the
                # message is accounted for first (dead letter, or the asker's error).
                if reply_to is None:
                    cell.dead_letter(message, DeadLetterReason.CRASHED, exc)
                else:
                    reply_to.set_exception()
                raise
            else:
                if reply_to is not None:
                    reply_to.set(response)
            if instrumented:
                ended_ns = perf_ns()
                took = ended_ns - started_ns
                handler_counts[(took - 1).bit_length()] += 1
                handler.sum_ns += took
                if kind is not last_kind:
                    last_kind = kind
                    counter = counters.get(kind) or counters.setdefault(kind, [0])
                counter[0] += 1

    def _ta_crash(
        self, cell: ActorCell, incarnation: Incarnation, message: Any, exc: Exception
    ) -> ExitReason:
        cell.log.error(
            "actor_crashed",
            exc_info=exc,
            error=repr(exc),
            incarnation=incarnation.number,
            message_type=type(message).__name__,
        )
        cell.dead_letter(message, DeadLetterReason.CRASHED, exc, log=False)
        actor: pykka.Actor = self  # type: ignore[assignment]
        try:
            actor.on_failure(*sys.exc_info())
        except Exception:
            cell.log.exception("actor_on_failure_raised")
        return ExitReason.CRASHED

    def _ta_on_stop(self, cell: ActorCell) -> None:
        actor: pykka.Actor = self  # type: ignore[assignment]
        try:
            actor.on_stop()
        except Exception:
            cell.log.exception("actor_on_stop_raised")


class SupervisedActor(_SupervisionMixin, pykka.ThreadingActor):
    """Base class for actors written for tradeactors: adds `context` to a ThreadingActor.

    Any ``pykka.ThreadingActor`` subclass can be a child; this base only adds the
    context (path, own address, addresses of others, bound logger, clock).
    The class also runs under plain pykka (``Probe.start()``), without a context.
    """

    _ta_context: ActorContext | None = None

    @property
    def context(self) -> ActorContext:
        """This actor's place in its tree (path, address, logger, clock).

        Raises:
            SupervisionError: the actor was started by plain pykka, outside a tree.

        """
        context = self._ta_context
        if context is None:
            raise SupervisionError(f"{type(self).__name__} is not running in a supervision tree")
        return context

    @property
    def in_tree(self) -> bool:
        """True when started by a supervision tree (so `context` is available)."""
        return self._ta_context is not None


@functools.cache
def supervised_class(actor: type[pykka.ThreadingActor]) -> type[pykka.ThreadingActor]:
    """The class to instantiate for ``actor`` inside a tree (itself if already supervised)."""
    if issubclass(actor, _SupervisionMixin):
        return actor
    derived: type[pykka.ThreadingActor] = type(
        actor.__name__,
        (_SupervisionMixin, actor),
        {"__module__": actor.__module__, "__qualname__": actor.__qualname__},
    )
    return derived


def instantiate(
    actor: type[pykka.ThreadingActor],
    incarnation: Incarnation,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> pykka.ThreadingActor:
    """Build (not start) an actor object bound to ``incarnation``'s cell."""
    cls = supervised_class(actor)
    obj = cls.__new__(cls)
    obj._ta_incarnation = incarnation  # type: ignore[attr-defined]
    if isinstance(obj, SupervisedActor):
        obj._ta_context = ActorContext(incarnation.cell, incarnation.number)
    obj.__init__(*args, **kwargs)  # type: ignore[misc]
    return obj
