"""The exceptions tradeactors raises.

Kept in one module, apart from the code that raises them, to avoid import loops.
A risk denial or a venue reject is an event, never one of these.
"""

from __future__ import annotations

import pykka

__all__ = [
    "AddressClosedError",
    "ChildStartError",
    "ConfigError",
    "InjectedFaultError",
    "MailboxFullError",
    "MessageDroppedError",
    "RestartIntensityExceededError",
    "ShutdownTimeoutError",
    "SupervisionError",
    "TradeActorsError",
]


class TradeActorsError(Exception):
    """Root of every exception tradeactors raises on purpose."""


class ConfigError(TradeActorsError):
    """A configuration value is wrong; the message names the key."""


class SupervisionError(TradeActorsError):
    """Something went wrong in the supervision tree."""


class ChildStartError(SupervisionError):
    """A child failed to start (in its constructor or ``on_start``); see ``__cause__``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"child {path!r} failed to start: {reason}")
        self.path = path
        self.reason = reason


class RestartIntensityExceededError(SupervisionError):
    """A supervisor saw more restarts than its intensity allows within its period.

    The supervisor has stopped its children and failed itself so that its parent
    decides; at the root, the application's escalation hook receives this error.
    """

    def __init__(self, path: str, restarts: int, period: float, child: str) -> None:
        super().__init__(
            f"supervisor {path!r} exceeded its restart intensity: {restarts} restarts "
            f"within {period:g} s (last failing child {child!r})"
        )
        self.path = path
        self.restarts = restarts
        self.period = period
        self.child = child


class ShutdownTimeoutError(SupervisionError):
    """A tree did not finish stopping within the time it was given."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(f"{path!r} did not stop within {timeout:g} s")
        self.path = path
        self.timeout = timeout


class AddressClosedError(SupervisionError, pykka.ActorDeadError):
    """You asked an address whose actor is gone for good (stopped, or temporary and exited).

    It subclasses ``pykka.ActorDeadError`` so code written for pykka keeps working.
    """

    def __init__(self, path: str) -> None:
        super().__init__(f"actor {path!r} is not running and will not be restarted")
        self.path = path


class MailboxFullError(SupervisionError):
    """A bounded mailbox with the ``block`` policy stayed full for the whole block timeout."""

    def __init__(self, path: str, capacity: int, timeout: float) -> None:
        super().__init__(f"mailbox of {path!r} stayed full ({capacity}) for {timeout:g} s")
        self.path = path
        self.capacity = capacity
        self.timeout = timeout


class MessageDroppedError(SupervisionError):
    """Set on an ``ask`` future whose message a bounded mailbox dropped before handling."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"message to {path!r} was dropped: {reason}")
        self.path = path
        self.reason = reason


class InjectedFaultError(TradeActorsError):
    """The crash a fault injection asked for; it never comes from real code."""

    def __init__(self, path: str) -> None:
        super().__init__(f"injected crash in {path!r}")
        self.path = path
