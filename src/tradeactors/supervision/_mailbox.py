"""Mailboxes that outlive the actor incarnations reading them.

A supervised actor's mailbox belongs to its path, not to one pykka actor object: when
the actor crashes, what is queued behind the failing message waits here for the next
incarnation. Only the incarnation holding the current *token* may take messages; a
supervisor revokes the token of an incarnation it stops, so a late or hung one can
never take a message meant for its successor.

Items are ``(enqueued_ns, envelope)`` pairs (lists in bounded mailboxes, so that
conflation can replace an envelope in place).
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from pykka import messages as pykka_messages

from tradeactors.clock import perf_ns
from tradeactors.errors import AddressClosedError, MailboxFullError, MessageDroppedError
from tradeactors.supervision._deadletters import DeadLetterReason
from tradeactors.supervision._spec import MailboxSpec, Overflow

if TYPE_CHECKING:
    from collections.abc import Hashable

    from pykka._envelope import Envelope

    from tradeactors.supervision._stats import ActorStats

__all__ = ["BoundedMailbox", "Mailbox", "Signal", "make_mailbox"]

_DROP_OLDEST = Overflow.DROP_OLDEST.value


class DeadLetterSink(Protocol):
    """Records a message that will never be handled."""

    def __call__(
        self, message: Any, reason: str, error: BaseException | None, *, log: bool = True
    ) -> None: ...


class Signal(enum.Enum):
    """Out-of-band instructions to the incarnation that owns a mailbox."""

    STOP = "stop"
    """Finish the current message, run ``on_stop``, exit (a stop on purpose)."""
    KILL = "kill"
    """Finish the current message and exit at once, no ``on_stop`` (an abnormal exit)."""


class Mailbox:
    """An unbounded FIFO mailbox; also pykka's ``ActorInbox`` (``put``/``get``/``empty``)."""

    def __init__(self, path: str, stats: ActorStats, dead_letter: DeadLetterSink, log: Any) -> None:
        self.path = path
        self._stats = stats
        self._dead_letter = dead_letter
        self._log = log
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: deque[Any] = deque()
        self._waiting = 0
        self._owner: object | None = None
        self._signal: Signal | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        """True while the actor behind this mailbox is gone for good."""
        return self._closed

    # -- senders ---------------------------------------------------------------------

    def put(self, envelope: Envelope[Any]) -> None:
        """Queue ``envelope``; on a closed mailbox it becomes a dead letter (asks fail)."""
        item = (perf_ns(), envelope)
        with self._lock:
            if not self._closed:
                self._queue.append(item)
                if self._waiting:
                    self._ready.notify()
                return
        self._reject_closed(envelope)

    def _reject_closed(self, envelope: Envelope[Any]) -> None:
        if envelope.reply_to is not None:
            if isinstance(envelope.message, pykka_messages._ActorStop):
                envelope.reply_to.set(None)
            else:
                _fail(envelope, AddressClosedError(self.path))
        else:
            # A producer that keeps sending to a dead actor must not flood the log.
            closed = self._stats.dead_letters.get(DeadLetterReason.CLOSED, 0) + 1
            log = closed & (closed - 1) == 0
            self._dead_letter(envelope.message, DeadLetterReason.CLOSED, None, log=log)

    # -- the owning incarnation -------------------------------------------------------

    def claim(self, token: object) -> None:
        """Make ``token`` the only incarnation allowed to take messages; reopen if closed."""
        with self._lock:
            self._owner = token
            self._signal = None
            self._closed = False

    def revoke(self, token: object) -> None:
        """Forbid ``token`` from taking more messages (its next take returns STOP)."""
        with self._lock:
            if self._owner is token:
                self._owner = None
                self._ready.notify_all()

    def signal(self, token: object, signal: Signal) -> bool:
        """Deliver ``signal`` to ``token`` ahead of queued messages; False if not the owner."""
        with self._lock:
            if self._owner is not token:
                return False
            if self._signal is not Signal.KILL:
                self._signal = signal
            self._ready.notify_all()
            return True

    def take(self, token: object) -> Any:
        """Block for the next item, or return a `Signal` (STOP once ``token`` is revoked)."""
        with self._lock:
            while True:
                if self._owner is not token:
                    return Signal.STOP
                if self._signal is not None:
                    signal, self._signal = self._signal, None
                    return signal
                if self._queue:
                    return self._pop()
                self._waiting += 1
                try:
                    self._ready.wait()
                finally:
                    self._waiting -= 1

    def _pop(self) -> Any:
        return self._queue.popleft()

    # -- pykka's ActorInbox protocol (used only when an actor runs unsupervised) -----

    def get(self) -> Envelope[Any]:
        """Block for the next envelope, ignoring ownership (pykka's inbox protocol)."""
        with self._lock:
            while not self._queue:
                self._waiting += 1
                try:
                    self._ready.wait()
                finally:
                    self._waiting -= 1
            envelope: Envelope[Any] = self._pop()[1]
            return envelope

    def empty(self) -> bool:
        """True when nothing is queued."""
        return not self._queue

    # -- the end ----------------------------------------------------------------------

    def close(self) -> int:
        """Close for good: queued tells become dead letters, queued asks fail.

        Later sends are rejected the same way until a new incarnation claims the
        mailbox. Returns how many queued messages were drained.
        """
        with self._lock:
            self._closed = True
            self._owner = None
            drained = [item[1] for item in self._queue]
            self._queue.clear()
            self._on_cleared()
            self._ready.notify_all()
        for envelope in drained:
            if envelope.reply_to is None:
                self._dead_letter(envelope.message, DeadLetterReason.STOPPED, None, log=False)
            elif isinstance(envelope.message, pykka_messages._ActorStop):
                envelope.reply_to.set(None)
            else:
                _fail(envelope, AddressClosedError(self.path))
        if drained:
            self._log.warning("mailbox_drained", dead_letters=len(drained))
        return len(drained)

    def _on_cleared(self) -> None:
        """Hook for subclasses that index the queue."""


class BoundedMailbox(Mailbox):
    """A mailbox with a capacity and an overflow policy, optionally conflating by key."""

    def __init__(
        self,
        path: str,
        stats: ActorStats,
        dead_letter: DeadLetterSink,
        log: Any,
        spec: MailboxSpec,
    ) -> None:
        super().__init__(path, stats, dead_letter, log)
        self._capacity = spec.capacity
        self._overflow = spec.overflow
        self._block_timeout = spec.block_timeout
        self._key_fn = spec.conflate_key
        self._keyed: dict[Hashable, list[Any]] = {}
        self._room = threading.Condition(self._lock)

    def put(self, envelope: Envelope[Any]) -> None:
        """Queue ``envelope`` under the overflow policy (see `Overflow`)."""
        key = None
        if self._key_fn is not None and envelope.reply_to is None:
            key = self._key_fn(envelope.message)
        with self._lock:
            queued, dropped, drops = self._enqueue(envelope, key)
        if dropped is not None:
            if dropped.reply_to is not None:
                _fail(dropped, MessageDroppedError(self.path, _DROP_OLDEST))
            if drops & (drops - 1) == 0:  # the 1st, 2nd, 4th, 8th, ... drop
                self._log.warning("mailbox_dropped", reason=_DROP_OLDEST, dropped_total=drops)
        if not queued:
            self._reject_closed(envelope)

    def _enqueue(
        self, envelope: Envelope[Any], key: Hashable | None
    ) -> tuple[bool, Envelope[Any] | None, int]:
        """With the lock held: (queued or conflated, envelope dropped, drops so far)."""
        while not self._closed:
            slot = None if key is None else self._keyed.get(key)
            if slot is not None:
                slot[0] = perf_ns()
                slot[1] = envelope
                self._stats.conflated += 1
                return True, None, 0
            if self._capacity is None or len(self._queue) < self._capacity:
                break
            if self._overflow is Overflow.DROP_OLDEST:
                dropped = self._pop()[1]
                drops = self._stats.dropped.get(_DROP_OLDEST, 0) + 1
                self._stats.dropped[_DROP_OLDEST] = drops
                self._append(envelope, key)
                return True, dropped, drops
            self._wait_for_room()  # then re-check: closed, or the key queued meanwhile
        else:
            return False, None, 0
        self._append(envelope, key)
        return True, None, 0

    def _append(self, envelope: Envelope[Any], key: Hashable | None) -> None:
        slot = [perf_ns(), envelope, key]
        self._queue.append(slot)
        if key is not None:
            self._keyed[key] = slot
        if self._waiting:
            self._ready.notify()

    def _wait_for_room(self) -> None:
        """Wait (lock held) until there is room or the mailbox closes; raise on timeout."""
        assert self._capacity is not None  # noqa: S101 - only called when bounded
        deadline = None if self._block_timeout is None else perf_ns() + self._block_timeout * 1e9
        while len(self._queue) >= self._capacity and not self._closed:
            remaining = None if deadline is None else (deadline - perf_ns()) / 1e9
            if remaining is not None and remaining <= 0:
                count = self._stats.dropped.get("block_timeout", 0) + 1
                self._stats.dropped["block_timeout"] = count
                raise MailboxFullError(self.path, self._capacity, self._block_timeout or 0.0)
            self._room.wait(remaining)

    def _pop(self) -> Any:
        slot = self._queue.popleft()
        key = slot[2]
        if key is not None and self._keyed.get(key) is slot:
            del self._keyed[key]
        self._room.notify()
        return slot

    def _on_cleared(self) -> None:
        self._keyed.clear()
        self._room.notify_all()


def _fail(envelope: Envelope[Any], error: BaseException) -> None:
    assert envelope.reply_to is not None  # noqa: S101 - callers check
    envelope.reply_to.set_exception((type(error), error, None))


def make_mailbox(
    path: str,
    spec: MailboxSpec,
    stats: ActorStats,
    dead_letter: DeadLetterSink,
    log: Any,
) -> Mailbox:
    """The cheapest mailbox implementing ``spec``; ``log`` is a structlog logger."""
    if spec.bounded:
        return BoundedMailbox(path, stats, dead_letter, log, spec)
    return Mailbox(path, stats, dead_letter, log)
