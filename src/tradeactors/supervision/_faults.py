"""Fault injection: make a supervised actor crash, die or slow down, on demand.

For tests and for fault scenarios. A fault lives on the actor's path, so it
survives restarts until it fires (crashes) or is cleared (slowness).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from tradeactors.errors import InjectedFaultError
from tradeactors.supervision._mailbox import Signal

if TYPE_CHECKING:
    from tradeactors.supervision._cell import ActorCell

__all__ = ["FaultInjector"]


class FaultInjector:
    """Faults for one actor path. Get one with ``Supervisor.faults(path)``."""

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell
        self._lock = threading.Lock()
        self._crash_countdown: int | None = None
        self._delay = 0.0

    @property
    def path(self) -> str:
        """The path these faults apply to."""
        return self._cell.path

    @property
    def armed(self) -> bool:
        """True while a crash is pending or handlers are slowed."""
        return self._cell.fault is self

    def crash_next(self) -> None:
        """The next message the actor takes makes its handler raise `InjectedFaultError`."""
        self.crash_after(0)

    def crash_after(self, messages: int) -> None:
        """Let ``messages`` more messages through, then crash on the one after.

        The message it crashes on is a dead letter, as for any crash.
        """
        if messages < 0:
            raise ValueError(f"messages must be >= 0, not {messages}")
        with self._lock:
            self._crash_countdown = messages
            self._arm()

    def kill(self) -> bool:
        """Stop the current incarnation abruptly: after its current message, no ``on_stop``.

        The supervisor sees an abnormal exit (``killed``). Python cannot interrupt a
        handler mid-way, so a handler that never returns is never killed.
        Returns False if the actor was not running.
        """
        incarnation = self._cell.incarnation
        if incarnation is None or incarnation.exited.is_set():
            return False
        return self._cell.mailbox.signal(incarnation.token, Signal.KILL)

    def slow(self, seconds_per_message: float) -> None:
        """Sleep ``seconds_per_message`` before handling each message (0 to stop)."""
        if seconds_per_message < 0:
            raise ValueError("seconds_per_message must be >= 0")
        with self._lock:
            self._delay = seconds_per_message
            self._arm()

    def clear(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._crash_countdown = None
            self._delay = 0.0
            self._arm()

    def _arm(self) -> None:
        active = self._crash_countdown is not None or self._delay > 0
        self._cell.fault = self if active else None

    def before_handle(self, message: Any) -> None:  # noqa: ARG002 - the hook's signature
        """Called by the actor loop before each handler while a fault is armed."""
        crash = False
        with self._lock:
            delay = self._delay
            if self._crash_countdown is not None:
                if self._crash_countdown == 0:
                    self._crash_countdown = None
                    crash = True
                    self._arm()
                else:
                    self._crash_countdown -= 1
        if delay > 0:
            time.sleep(delay)
        if crash:
            raise InjectedFaultError(self._cell.path)
