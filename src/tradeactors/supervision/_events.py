"""Supervision events a host application can subscribe to (``Supervisor.subscribe``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Generic, TypeVar

import msgspec
import structlog

if TYPE_CHECKING:
    from collections.abc import Callable

_log = structlog.get_logger("tradeactors.events")
T = TypeVar("T")

__all__ = [
    "ActorEnded",
    "ActorExited",
    "ActorStarted",
    "Events",
    "RestartScheduled",
    "Subscribers",
    "SupervisionEvent",
    "SupervisorEscalated",
]


class SupervisionEvent(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base of every supervision event: which path, and when (wall clock, ns)."""

    path: str
    timestamp_ns: int


class ActorStarted(SupervisionEvent, frozen=True, kw_only=True, tag=True):
    """An incarnation finished ``on_start`` and takes messages (``incarnation`` > 1: restart)."""

    incarnation: int


class ActorExited(SupervisionEvent, frozen=True, kw_only=True, tag=True):
    """An incarnation ended; ``reason`` is an `ExitReason` value, ``error`` its repr."""

    incarnation: int
    reason: str
    error: str | None


class ActorEnded(SupervisionEvent, frozen=True, kw_only=True, tag=True):
    """Its supervisor will not restart ``path``: it is gone for good, its address closed.

    Emitted by the supervisor after the `ActorExited` of the last incarnation, when:
    a ``temporary`` child exited (whatever the reason), a ``transient`` one exited
    normally, a ``temporary`` sibling was taken down by a group restart, a child was
    removed with ``Supervisor.stop_child``, or a dynamic child was dropped because its
    supervisor exited (a restarted supervisor comes back with its static children only).
    Not emitted while the whole tree stops.

    ``kind`` is ``"worker"`` or ``"supervisor"``; ``reason`` the `ExitReason` value of
    the exit (``"shutdown"`` when its supervisor stopped it on purpose), ``error`` the
    repr of what ended it (a supervisor that gave up: its
    `RestartIntensityExceededError`), ``abnormal`` whether the exit was abnormal.
    """

    kind: str
    reason: str
    error: str | None
    abnormal: bool


class RestartScheduled(SupervisionEvent, frozen=True, kw_only=True, tag=True):
    """A supervisor will restart ``path`` after ``delay`` seconds of backoff."""

    delay: float


class SupervisorEscalated(SupervisionEvent, frozen=True, kw_only=True, tag=True):
    """A supervisor exceeded its restart intensity and failed; its parent decides."""

    restarts: int
    period: float
    child: str


class Subscribers(Generic[T]):
    """Synchronous fan-out: subscribers run in the emitting thread, in subscription order.

    One that raises is logged (as ``failure_event``) and skipped, so a subscriber's
    bug never breaks the code that emits.
    """

    def __init__(self, failure_event: str) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Callable[[T], None], ...] = ()
        self._failure_event = failure_event

    def subscribe(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Call ``callback`` with everything emitted; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    def emit(self, item: T) -> None:
        """Deliver ``item`` to every subscriber."""
        for callback in self._subscribers:
            try:
                callback(item)
            except Exception:  # noqa: BLE001 - a subscriber's bug must not break the emitter
                _log.exception(self._failure_event, item_type=type(item).__name__)


class Events(Subscribers[SupervisionEvent]):
    """Supervision events of one tree."""

    def __init__(self) -> None:
        super().__init__("event_subscriber_raised")
