"""Supervision events a host application can subscribe to (``Supervisor.subscribe``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import msgspec
import structlog

if TYPE_CHECKING:
    from collections.abc import Callable

_log = structlog.get_logger("tradeactors.events")

__all__ = [
    "ActorExited",
    "ActorStarted",
    "Events",
    "RestartScheduled",
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


class RestartScheduled(SupervisionEvent, frozen=True, kw_only=True, tag=True):
    """A supervisor will restart ``path`` after ``delay`` seconds of backoff."""

    delay: float


class SupervisorEscalated(SupervisionEvent, frozen=True, kw_only=True, tag=True):
    """A supervisor exceeded its restart intensity and failed; its parent decides."""

    restarts: int
    period: float
    child: str


class Events:
    """Synchronous fan-out of events; subscribers run in the emitting actor's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Callable[[SupervisionEvent], None], ...] = ()

    def subscribe(self, callback: Callable[[SupervisionEvent], None]) -> Callable[[], None]:
        """Call ``callback`` with every event; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    def emit(self, event: SupervisionEvent) -> None:
        """Deliver ``event`` to every subscriber; one that raises is logged and skipped."""
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - a subscriber's bug must not break supervision
                _log.exception("event_subscriber_raised", event_type=type(event).__name__)
