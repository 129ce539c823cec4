"""What a supervision tree is made of: child specs, supervisor specs, policies.

Specs are frozen and validated when built, so a mistake in a tree's shape is an
error at construction with the offending name, not a surprise at the first crash.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import msgspec
import pykka

from tradeactors.errors import ConfigError

__all__ = [
    "Backoff",
    "ChildSpec",
    "MailboxSpec",
    "Overflow",
    "Restart",
    "Strategy",
    "SupervisorSpec",
]


class Restart(enum.Enum):
    """When a supervisor restarts a child that exited (OTP's restart types)."""

    PERMANENT = "permanent"
    """Always restarted, whatever the exit."""
    TRANSIENT = "transient"
    """Restarted only after an abnormal exit (a crash, a failed start, a kill)."""
    TEMPORARY = "temporary"
    """Never restarted, not even when a sibling's restart took it down."""


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one of them must be restarted."""

    ONE_FOR_ONE = "one_for_one"
    """Only the child that exited."""
    ONE_FOR_ALL = "one_for_all"
    """All children: the others are stopped in reverse order, then all start in order."""
    REST_FOR_ONE = "rest_for_one"
    """The child that exited and every child declared after it."""


class Overflow(enum.Enum):
    """What a bounded mailbox does with a message that arrives when it is full."""

    BLOCK = "block"
    """The sender waits for room (backpressure), up to the block timeout."""
    DROP_OLDEST = "drop_oldest"
    """The oldest queued message is dropped (counted) to make room."""
    CONFLATE = "conflate"
    """A message whose key is already queued replaces that message in place; a message
    with a new key, or no key, waits for room like ``BLOCK``."""


class Backoff(msgspec.Struct, frozen=True, kw_only=True):
    """Exponential restart delay with jitter, reset after a stable period (Akka's formula).

    The n-th consecutive restart (n from 0) waits
    ``min(max_delay, min_delay * 2**n) * (1 + random * random_factor)`` seconds, where
    ``random`` is uniform in [0, 1). If the child then stays up for ``reset_after``
    seconds (default: ``min_delay``, as Akka), the next crash counts from n = 0 again.
    """

    min_delay: float = 0.1
    max_delay: float = 10.0
    random_factor: float = 0.2
    reset_after: float | None = None

    def __post_init__(self) -> None:
        if not (self.min_delay > 0 and math.isfinite(self.min_delay)):
            raise ConfigError(f"backoff.min_delay must be a positive number, not {self.min_delay}")
        if not self.max_delay >= self.min_delay:
            raise ConfigError(
                f"backoff.max_delay ({self.max_delay}) must be >= min_delay ({self.min_delay})"
            )
        if not 0 <= self.random_factor <= 1:
            raise ConfigError(
                f"backoff.random_factor must be within [0, 1], not {self.random_factor}"
            )
        if self.reset_after is not None and not self.reset_after > 0:
            raise ConfigError(f"backoff.reset_after must be positive, not {self.reset_after}")

    @property
    def stable_after(self) -> float:
        """Seconds of uptime after which the attempt count resets."""
        return self.min_delay if self.reset_after is None else self.reset_after

    def delay(self, attempt: int, random: float) -> float:
        """Delay in seconds before restart number ``attempt`` (0-based), given ``random``."""
        base = self.max_delay if attempt >= 64 else min(self.max_delay, self.min_delay * 2**attempt)  # noqa: PLR2004
        return base * (1.0 + random * self.random_factor)


class MailboxSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How a child's mailbox is bounded. The default is unbounded FIFO.

    ``conflate_key`` maps a ``tell``'d message to its conflation key (for example the
    instrument of a book update), or ``None`` for a message that must never be
    conflated. ``ask`` messages are never conflated or dropped silently: a dropped
    ask fails its future with `MessageDroppedError`.
    """

    capacity: int | None = None
    overflow: Overflow = Overflow.BLOCK
    block_timeout: float | None = None
    conflate_key: Callable[[Any], Hashable | None] | None = None

    def __post_init__(self) -> None:
        if self.capacity is not None and self.capacity < 1:
            raise ConfigError(f"mailbox.capacity must be >= 1, not {self.capacity}")
        if self.overflow is Overflow.CONFLATE and self.conflate_key is None:
            raise ConfigError("mailbox.overflow 'conflate' needs a conflate_key function")
        if self.overflow is not Overflow.CONFLATE and self.conflate_key is not None:
            raise ConfigError("mailbox.conflate_key is only used with overflow 'conflate'")
        if self.overflow is Overflow.DROP_OLDEST and self.capacity is None:
            raise ConfigError("mailbox.overflow 'drop_oldest' needs a capacity")
        if self.block_timeout is not None and not self.block_timeout > 0:
            raise ConfigError(f"mailbox.block_timeout must be positive, not {self.block_timeout}")

    @property
    def bounded(self) -> bool:
        """True when this mailbox needs the bounded implementation."""
        return self.capacity is not None or self.conflate_key is not None


def _check_name(name: str) -> None:
    if not name or "/" in name or name != name.strip():
        raise ConfigError(f"child name {name!r} must be non-empty, without '/' or edge spaces")


def _check_timeout(name: str, field: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ConfigError(f"{field} of {name!r} must be positive (or None), not {value}")


class ChildSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A worker child: which pykka actor class to start, with what, and how to treat its exits.

    ``actor`` is any ``pykka.ThreadingActor`` subclass (a `SupervisedActor` also gets a
    `context`). It is constructed with ``*args, **kwargs`` at every (re)start, so
    arguments should describe where to find state, not be the state.
    ``shutdown`` is how long the supervisor waits for the actor to finish its current
    message and ``on_stop`` when stopping it; ``start_timeout`` bounds ``on_start``.
    ``on_failure``, if given, is called by the supervisor (in its own thread) with the
    child's path and error each time the child exits abnormally, before the supervisor
    decides on the restart: the place for "tell the others before restarting it" (the
    trading tree uses it for cancel-on-disconnect). An exception it raises is logged.
    """

    name: str
    actor: type[pykka.ThreadingActor]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = msgspec.field(default_factory=dict)
    restart: Restart = Restart.PERMANENT
    shutdown: float | None = 5.0
    start_timeout: float | None = 10.0
    mailbox: MailboxSpec = MailboxSpec()
    backoff: Backoff | None = None
    on_failure: Callable[[str, BaseException | None], None] | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not (isinstance(self.actor, type) and issubclass(self.actor, pykka.ThreadingActor)):
            raise ConfigError(
                f"child {self.name!r}: actor must be a pykka.ThreadingActor subclass, "
                f"not {self.actor!r}"
            )
        _check_timeout(self.name, "shutdown", self.shutdown)
        _check_timeout(self.name, "start_timeout", self.start_timeout)


class SupervisorSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A supervisor: its children (workers or supervisors), strategy and restart intensity.

    More than ``intensity`` restarts within ``period`` seconds make the supervisor stop
    its children in reverse order and fail, so that its parent decides (OTP).
    ``shutdown`` of None means a parent waits for the whole subtree to stop (OTP's
    ``infinity`` for supervisors). ``parallel_shutdown``: when it stops, every child is
    told to stop at once and then waited for (each within its own ``shutdown``), instead
    of one after the other in reverse order; for children that do not depend on each
    other (the trading tree's strategies: hundreds stop in the time of the slowest).
    """

    name: str
    children: tuple[ChildSpec | SupervisorSpec, ...]
    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = 3
    period: float = 5.0
    restart: Restart = Restart.PERMANENT
    shutdown: float | None = None
    mailbox: MailboxSpec = MailboxSpec()
    backoff: Backoff | None = None
    parallel_shutdown: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.intensity < 0:
            raise ConfigError(f"supervisor {self.name!r}: intensity must be >= 0")
        if not (self.period > 0 and math.isfinite(self.period)):
            raise ConfigError(f"supervisor {self.name!r}: period must be a positive number")
        _check_timeout(self.name, "shutdown", self.shutdown)
        seen: set[str] = set()
        for child in self.children:
            if child.name in seen:
                raise ConfigError(f"supervisor {self.name!r} has two children named {child.name!r}")
            seen.add(child.name)

    @property
    def start_timeout(self) -> float | None:
        """A supervisor's start is bounded by its children's own start timeouts."""
        return None
