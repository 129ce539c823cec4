"""Dead letters: messages that reached an actor but were never handled, and why."""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from tradeactors.supervision._events import Subscribers

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.supervision._stats import ActorStats

__all__ = ["DeadLetter", "DeadLetterReason", "DeadLetters"]


class DeadLetterReason:
    """The reasons a message becomes a dead letter (bounded, used as a metric label)."""

    CRASHED = "crashed"
    """Its handler raised: the actor crashed on it. It is not processed again."""
    STOPPED = "stopped"
    """It was queued when its actor stopped for good."""
    CLOSED = "closed"
    """It was sent after its actor stopped for good."""


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A message that was never handled: where it went, what it was, why, and when."""

    path: str
    message_type: str
    message: Any
    reason: str
    error: BaseException | None
    timestamp_ns: int


class DeadLetters:
    """The dead-letter record of one tree: exact counts, the most recent letters, subscribers.

    Subscribers are called in the thread that produced the letter; keep them short.
    """

    def __init__(self, capacity: int = 1000) -> None:
        self._lock = threading.Lock()
        self._recent: deque[DeadLetter] = deque(maxlen=capacity)
        self._count = 0
        self._subscribers: Subscribers[DeadLetter] = Subscribers("dead_letter_subscriber_raised")
        self._log = structlog.get_logger("tradeactors.dead_letters")

    @property
    def count(self) -> int:
        """Dead letters recorded since the tree was made, including those no longer kept."""
        return self._count

    def recent(self) -> tuple[DeadLetter, ...]:
        """The most recent letters, oldest first (at most the capacity given)."""
        with self._lock:
            return tuple(self._recent)

    def subscribe(self, callback: Callable[[DeadLetter], None]) -> Callable[[], None]:
        """Call ``callback`` with every new letter; returns a function that unsubscribes."""
        return self._subscribers.subscribe(callback)

    def record(self, letter: DeadLetter, stats: ActorStats, *, log: bool = True) -> None:
        """Keep ``letter``, count it on ``stats`` and tell the subscribers."""
        with self._lock:
            self._recent.append(letter)
            self._count += 1
            stats.dead_letters[letter.reason] = stats.dead_letters.get(letter.reason, 0) + 1
        if log:
            self._log.warning(
                "dead_letter",
                path=letter.path,
                message_type=letter.message_type,
                reason=letter.reason,
                error=repr(letter.error) if letter.error is not None else None,
            )
        self._subscribers.emit(letter)
