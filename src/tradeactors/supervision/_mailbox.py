"""Mailboxes that outlive the actor incarnations reading them.

A supervised actor's mailbox belongs to its path, not to one pykka actor object: when
the actor crashes, what is queued behind the failing message waits here for the next
incarnation. Only the incarnation holding the current *token* may take messages; a
supervisor revokes the token of an incarnation it stops, so a late or hung one can
never take a message meant for its successor.

Items are ``(enqueued_ns, message, reply_to)`` (lists with a fourth field, the
conflation key, in bounded mailboxes, so that conflation can replace in place).
``reply_to`` is the future of an ``ask``, or None for a ``tell``.
"""

from __future__ import annotations

import enum
import queue
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from pykka import messages as pykka_messages
from pykka._envelope import Envelope

from tradeactors.clock import perf_ns
from tradeactors.errors import AddressClosedError, MailboxFullError, MessageDroppedError
from tradeactors.supervision._deadletters import DeadLetterReason
from tradeactors.supervision._spec import MailboxSpec, Overflow
from tradeactors.supervision.runtime import current_runtime

if TYPE_CHECKING:
    from collections.abc import Hashable

    import pykka

    from tradeactors.supervision._stats import ActorStats

__all__ = ["BoundedMailbox", "FifoMailbox", "Mailbox", "Signal", "make_mailbox"]

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
    REVOKED = "revoked"
    """The supervisor gave up on this incarnation (it overran a timeout): exit at once,
    no ``on_stop`` (OTP's brutal kill), and touch nothing its successor owns."""


class Mailbox:
    """What every mailbox shares: identity, counters, how refused messages are recorded."""

    def __init__(self, path: str, stats: ActorStats, dead_letter: DeadLetterSink, log: Any) -> None:
        self.path = path
        self._stats = stats
        self._dead_letter = dead_letter
        self._log = log
        self._owner: object | None = None
        self._signal: Signal | None = None
        self._closed = False

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """True while the actor behind this mailbox is gone for good."""
        return self._closed

    def post(self, message: Any, reply_to: pykka.Future[Any] | None = None) -> None:
        """Queue ``message`` (an ask if ``reply_to`` is set).

        On a closed mailbox a tell becomes a dead letter and an ask fails.
        """
        raise NotImplementedError

    def put(self, envelope: Envelope[Any]) -> None:
        """Queue a pykka envelope (``ActorRef.tell``/``ask`` from inside the actor)."""
        self.post(envelope.message, envelope.reply_to)

    def claim(self, token: object) -> None:
        """Make ``token`` the only incarnation allowed to take messages; reopen if closed."""
        raise NotImplementedError

    def owns(self, token: object) -> bool:
        """True while ``token`` may take messages."""
        return self._owner is token

    def revoke(self, token: object) -> None:
        """Forbid ``token`` from taking more messages (its next take returns STOP)."""
        raise NotImplementedError

    def signal(self, token: object, signal: Signal) -> bool:
        """Deliver ``signal`` to ``token`` ahead of queued messages; False if not the owner."""
        raise NotImplementedError

    def take(self, token: object) -> Any:
        """Block for the next ``(enqueued_ns, message, reply_to)``, or return a `Signal`.

        REVOKED once ``token`` is revoked. A signal overtakes queued messages.
        """
        raise NotImplementedError

    def close(self) -> int:
        """Close for good: queued tells become dead letters, queued asks fail.

        Later sends are rejected the same way until a new incarnation claims the
        mailbox. Returns how many queued messages were drained.
        """
        raise NotImplementedError

    # pykka's ActorInbox protocol (used only when an actor runs unsupervised)

    def get(self) -> Envelope[Any]:
        """Block for the next envelope, ignoring ownership (pykka's inbox protocol)."""
        raise NotImplementedError

    def empty(self) -> bool:
        """True when nothing is queued."""
        return len(self) == 0

    # shared helpers

    def _reject_closed(self, message: Any, reply_to: pykka.Future[Any] | None) -> None:
        if reply_to is not None:
            if isinstance(message, pykka_messages._ActorStop):
                reply_to.set(None)
            else:
                _fail(reply_to, AddressClosedError(self.path))
        else:
            # A producer that keeps sending to a dead actor must not flood the log.
            closed = self._stats.dead_letters.get(DeadLetterReason.CLOSED, 0) + 1
            log = closed & (closed - 1) == 0 and not _expected_at_a_stop(message)
            self._dead_letter(message, DeadLetterReason.CLOSED, None, log=log)

    def _dead_drained(self, drained: list[Any]) -> None:
        for item in drained:
            message, reply_to = item[1], item[2]
            if reply_to is None:
                self._dead_letter(message, DeadLetterReason.STOPPED, None, log=False)
            elif isinstance(message, pykka_messages._ActorStop):
                reply_to.set(None)
            else:
                _fail(reply_to, AddressClosedError(self.path))
        if drained:
            # What a stop leaves behind is expected when it is an actor's own plumbing
            # or market data (`_expected_at_a_stop`): dead letters, logged at debug.
            # Anything else is a warning, with its types.
            kinds = sorted({type(item[1]).__name__ for item in drained})
            public = sorted(
                {type(item[1]).__name__ for item in drained if not _expected_at_a_stop(item[1])}
            )
            log = self._log.warning if public else self._log.debug
            log("mailbox_drained", dead_letters=len(drained), message_types=public or kinds)


def _expected_at_a_stop(message: Any) -> bool:
    """True for a message whose loss at a stop is no news.

    An actor's own plumbing (a private class: a reader's "closed", a tick) or a message
    that says it is ``ephemeral`` (market data, superseded by the next update).
    """
    return type(message).__name__.startswith("_") or getattr(message, "ephemeral", False) is True


WAKE = object()
"""Put in a FIFO mailbox to wake a consumer blocked on it; never handed to an actor."""


def _gevent() -> bool:
    return current_runtime() == "gevent"


def _fifo_queue() -> Any:
    """``queue.SimpleQueue`` (C) under threads; a `HandoffQueue` under gevent."""
    if _gevent():
        from tradeactors.supervision._handoff import HandoffQueue  # noqa: PLC0415

        return HandoffQueue()
    return queue.SimpleQueue()


def _rlock() -> Any:
    """The C ``threading.RLock`` under threads; gevent's Cython RLock under gevent.

    Patched ``threading.RLock`` is the pure-Python ``_RLock`` over a gevent lock,
    twice the price per acquire and release.
    """
    if _gevent():
        from gevent.lock import RLock  # noqa: PLC0415

        return RLock()
    return threading.RLock()


def _parker() -> Any:
    """A `Parker` under gevent, None under threads."""
    if _gevent():
        from tradeactors.supervision._handoff import Parker  # noqa: PLC0415

        return Parker()
    return None


class FifoMailbox(Mailbox):
    """An unbounded FIFO mailbox over ``queue.SimpleQueue`` (or a `HandoffQueue`).

    ``SimpleQueue`` is C code under threads; under gevent the `HandoffQueue` hands the
    CPU straight to the actor it wakes (see `tradeactors.supervision._handoff`).
    Sending takes no Python-level lock.

    Signals and ownership changes are flags the owner reads before each take, plus a
    `WAKE` marker in the queue in case it is blocked. An incarnation that passed the
    ownership check just before being stopped may still take one more message; it then
    handles it before seeing the signal, so no message is lost or handled twice.
    """

    def __init__(self, path: str, stats: ActorStats, dead_letter: DeadLetterSink, log: Any) -> None:
        super().__init__(path, stats, dead_letter, log)
        self._queue: Any = _fifo_queue()
        self.raw_get: Any = self._queue.get
        """The queue's own blocking get, for the actor loop's inlined `take`."""
        self._wakes = 0  # WAKE markers in the queue; changed only on rare paths
        self._wakes_lock = threading.Lock()
        # Ownership, signals and open/closed change together under this lock (rare
        # paths only: the send and take paths read the flags without it).
        self._control = threading.Lock()

    def __len__(self) -> int:
        depth: int = self._queue.qsize() - self._wakes
        return max(0, depth)

    def post(self, message: Any, reply_to: pykka.Future[Any] | None = None) -> None:
        if self._closed:
            self._reject_closed(message, reply_to)
            return
        self._queue.put((perf_ns(), message, reply_to))
        if self._closed:  # closed while we put: drain, unless reopened meanwhile
            with self._control:
                drained = self._drain() if self._closed else []
            self._dead_drained(drained)

    def _wake(self) -> None:
        with self._wakes_lock:
            self._wakes += 1
        self._queue.put(WAKE)

    def woken(self) -> None:
        """Account for a `WAKE` marker taken out of the queue."""
        with self._wakes_lock:
            self._wakes -= 1

    def claim(self, token: object) -> None:
        with self._control:
            self._owner = token
            self._signal = None
            self._closed = False

    def revoke(self, token: object) -> None:
        with self._control:
            if self._owner is not token:
                return
            self._owner = None
        self._wake()

    def signal(self, token: object, signal: Signal) -> bool:
        with self._control:
            if self._owner is not token:
                return False
            if self._signal is not Signal.KILL:
                self._signal = signal
        self._wake()
        return True

    def take(self, token: object) -> Any:
        get = self._queue.get
        while True:
            if self._owner is not token:
                return Signal.REVOKED
            signal = self._signal
            if signal is not None:
                self._signal = None
                return signal
            item = get()
            if item is WAKE:
                self.woken()
                continue
            return item

    def get(self) -> Envelope[Any]:
        while True:
            item = self._queue.get()
            if item is WAKE:
                self.woken()
                continue
            return Envelope(item[1], reply_to=item[2])

    def _drain(self) -> list[Any]:
        drained: list[Any] = []
        get = self._queue.get_nowait
        while True:
            try:
                item = get()
            except queue.Empty:
                return drained
            if item is WAKE:
                self.woken()
            else:
                drained.append(item)

    def close(self) -> int:
        with self._control:
            self._closed = True
            self._owner = None
            drained = self._drain()
        self._wake()  # a consumer still blocked (there should be none) returns REVOKED
        self._dead_drained(drained)
        return len(drained)


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
        # An RLock: Condition uses its _is_owned; over a plain Lock, Condition falls back
        # to a failing acquire(False), which under gevent yields on every notify.
        self._lock: Any = _rlock()
        self._ready = threading.Condition(self._lock)
        # Under gevent the consumer blocks on a Parker instead: direct handoff (see
        # tradeactors.supervision._handoff); senders hold the lock while waking it.
        self._parker: Any = _parker()
        self._queue: deque[list[Any]] = deque()  # [enqueued_ns, message, reply_to, key]
        self._waiting = 0
        self._capacity = spec.capacity
        self._overflow = spec.overflow
        self._block_timeout = spec.block_timeout
        self._key_fn = spec.conflate_key
        self._keyed: dict[Hashable, list[Any]] = {}
        self._room = threading.Condition(self._lock)
        # Under gevent an unbounded mailbox's post never waits (no room to wait for),
        # so nothing in it yields: no other greenlet can run halfway through it, and it
        # needs no lock (every actor is a greenlet of one OS thread, see _handoff).
        self._lockless = self._parker is not None and self._capacity is None
        # Under threads an unbounded one wakes its consumer with a token through a C
        # SimpleQueue rather than a Condition (whose wait and notify are Python code):
        # one token at most per waiting consumer (``_tokens_out`` counts those given
        # and not yet taken); a consumer woken re-checks, as after a notify.
        self._tokens: queue.SimpleQueue[None] | None = (
            queue.SimpleQueue() if self._parker is None and self._capacity is None else None
        )
        self._tokens_out = 0

    def post(self, message: Any, reply_to: pykka.Future[Any] | None = None) -> None:
        """Queue ``message`` under the overflow policy (see `Overflow`)."""
        key = None
        if self._key_fn is not None and reply_to is None and not _is_control(message):
            key = self._key_fn(message)
        if self._lockless:
            if not self._enqueue(message, reply_to, key)[0]:
                self._reject_closed(message, reply_to)
            return
        with self._lock:
            queued, dropped, drops = self._enqueue(message, reply_to, key)
        if dropped is not None:
            if dropped[2] is not None:
                _fail(dropped[2], MessageDroppedError(self.path, _DROP_OLDEST))
            if drops & (drops - 1) == 0:  # the 1st, 2nd, 4th, 8th, ... drop
                self._log.warning("mailbox_dropped", reason=_DROP_OLDEST, dropped_total=drops)
        if not queued:
            self._reject_closed(message, reply_to)

    def _enqueue(
        self, message: Any, reply_to: pykka.Future[Any] | None, key: Hashable | None
    ) -> tuple[bool, list[Any] | None, int]:
        """With the lock held: (queued or conflated, slot dropped, drops so far)."""
        while not self._closed:
            slot = None if key is None else self._keyed.get(key)
            if slot is not None:
                slot[0] = perf_ns()
                slot[1] = message
                self._stats.conflated += 1
                return True, None, 0
            if self._capacity is None or len(self._queue) < self._capacity:
                break
            if self._overflow is Overflow.DROP_OLDEST:
                dropped = self._pop_droppable()
                drops = self._stats.dropped.get(_DROP_OLDEST, 0) + 1
                self._stats.dropped[_DROP_OLDEST] = drops
                self._append(message, reply_to, key)
                return True, dropped, drops
            self._wait_for_room()  # then re-check: closed, or the key queued meanwhile
        else:
            return False, None, 0
        self._append(message, reply_to, key)
        return True, None, 0

    def _append(
        self, message: Any, reply_to: pykka.Future[Any] | None, key: Hashable | None
    ) -> None:
        slot = [perf_ns(), message, reply_to, key]
        self._queue.append(slot)
        if key is not None:
            self._keyed[key] = slot
        if self._waiting:
            if self._parker is not None:
                self._parker.unpark()
            elif self._tokens is not None:
                self._give_token()
            else:
                self._ready.notify()

    def _give_token(self) -> None:
        """Wake one waiting consumer (lock held), unless each has a token already."""
        if self._waiting > self._tokens_out:
            self._tokens_out += 1
            assert self._tokens is not None  # noqa: S101 - only for an unbounded one
            self._tokens.put(None)

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

    def __len__(self) -> int:
        return len(self._queue)

    def claim(self, token: object) -> None:
        with self._lock:
            self._owner = token
            self._signal = None
            self._closed = False

    def revoke(self, token: object) -> None:
        with self._lock:
            if self._owner is token:
                self._owner = None
                self._wake_all()

    def signal(self, token: object, signal: Signal) -> bool:
        with self._lock:
            if self._owner is not token:
                return False
            if self._signal is not Signal.KILL:
                self._signal = signal
            self._wake_all()
            return True

    def take(self, token: object) -> Any:
        if self._lockless:  # the same, without the lock (see __init__)
            while True:
                if self._owner is not token:
                    return Signal.REVOKED
                if self._signal is not None:
                    signal, self._signal = self._signal, None
                    return signal
                if self._queue:
                    return self._pop()
                self._waiting += 1
                try:
                    self._parker.park()
                finally:
                    self._waiting -= 1
        with self._lock:
            while True:
                if self._owner is not token:
                    return Signal.REVOKED
                if self._signal is not None:
                    signal, self._signal = self._signal, None
                    return signal
                if self._queue:
                    return self._pop()
                self._sleep()

    def get(self) -> Envelope[Any]:
        with self._lock:
            while not self._queue:
                self._sleep()
            slot = self._pop()
            return Envelope(slot[1], reply_to=slot[2])

    def _sleep(self) -> None:
        self._waiting += 1
        try:
            parker, tokens = self._parker, self._tokens
            if parker is not None:
                self._lock.release()  # held once, by take or get
                try:
                    parker.park()
                finally:
                    self._lock.acquire()
            elif tokens is not None:
                self._lock.release()  # held once, by take or get
                try:
                    tokens.get()
                finally:
                    self._lock.acquire()
                self._tokens_out -= 1
            else:
                self._ready.wait()
        finally:
            self._waiting -= 1

    def _wake_all(self) -> None:
        if self._parker is not None:
            self._parker.unpark_all()
        elif self._tokens is not None:
            while self._waiting > self._tokens_out:
                self._give_token()
        else:
            self._ready.notify_all()

    def close(self) -> int:
        with self._lock:
            self._closed = True
            self._owner = None
            drained = list(self._queue)
            self._queue.clear()
            self._keyed.clear()
            self._wake_all()
            self._room.notify_all()
        self._dead_drained(drained)
        return len(drained)

    def _pop_droppable(self) -> Any:
        """The oldest slot that is not a pykka control message (a stop is never dropped)."""
        queue_ = self._queue
        if not _is_control(queue_[0][1]):
            return self._pop()
        for index, slot in enumerate(queue_):
            if not _is_control(slot[1]):
                del queue_[index]
                key = slot[3]
                if key is not None and self._keyed.get(key) is slot:
                    del self._keyed[key]
                return slot
        return self._pop()  # only control messages queued: capacity must still hold

    def _pop(self) -> Any:
        slot = self._queue.popleft()
        key = slot[3]
        if key is not None and self._keyed.get(key) is slot:
            del self._keyed[key]
        if self._capacity is not None:  # unbounded (a conflating book mailbox): none wait
            self._room.notify()
        return slot


def _is_control(message: Any) -> bool:
    return isinstance(message, pykka_messages._ActorStop)


def _fail(reply_to: pykka.Future[Any], error: BaseException) -> None:
    reply_to.set_exception((type(error), error, None))


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
    return FifoMailbox(path, stats, dead_letter, log)
