"""Helpers for testing code that runs in a supervision tree: wait on facts, not sleeps.

`EventRecorder` collects supervision events and dead letters and lets a test wait
until a predicate holds; `Probe` is an actor that records what it receives.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from tradeactors.errors import WaitTimeoutError
from tradeactors.supervision._actor import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.supervision._events import SupervisionEvent

__all__ = ["EventRecorder", "Inbox", "Probe", "WaitTimeoutError"]


class _Waitable:
    def __init__(self) -> None:
        self._cond = threading.Condition()

    def _wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(ready, timeout):
                raise WaitTimeoutError(f"timed out after {timeout} s waiting for {what}")


class EventRecorder(_Waitable):
    """Records every event it is called with; subscribe it with ``tree.subscribe(recorder)``."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[SupervisionEvent] = []

    def __call__(self, event: SupervisionEvent) -> None:
        """Record ``event`` (this is the subscriber callback)."""
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def matching(self, kind: type[SupervisionEvent], path: str | None = None) -> list[Any]:
        """Events of ``kind`` (for ``path`` if given), in order."""
        with self._cond:
            return [
                e for e in self.events if isinstance(e, kind) and (path is None or e.path == path)
            ]

    def wait_for(
        self,
        kind: type[SupervisionEvent],
        path: str | None = None,
        *,
        count: int = 1,
        where: Callable[[Any], bool] | None = None,
        timeout: float = 10.0,
    ) -> list[Any]:
        """Wait until ``count`` events of ``kind`` (for ``path``, satisfying ``where``) exist."""

        def found() -> list[Any]:
            return [
                e
                for e in self.events
                if isinstance(e, kind)
                and (path is None or e.path == path)
                and (where is None or where(e))
            ]

        self._wait_until(
            lambda: len(found()) >= count, timeout, f"{count} x {kind.__name__} at {path!r}"
        )
        with self._cond:
            return found()


class Inbox(_Waitable):
    """A thread-safe list that tests can wait on; `Probe` actors append to it."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Any] = []

    def append(self, item: Any) -> None:
        """Add ``item`` and wake waiters."""
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for_count(self, count: int, timeout: float = 10.0) -> list[Any]:
        """Wait until at least ``count`` items arrived; return a copy of them."""
        self._wait_until(lambda: len(self.items) >= count, timeout, f"{count} items")
        with self._cond:
            return list(self.items)

    def snapshot(self) -> list[Any]:
        """A copy of the items so far."""
        with self._cond:
            return list(self.items)


class Probe(SupervisedActor):
    """Appends ``(incarnation, message)`` for every message to ``inbox``; answers asks with it.

    Lifecycle marks go to ``lifecycle`` if given: ``("start", path, incarnation)``,
    ``("stop", ...)``, ``("failure", ...)``.
    """

    def __init__(self, inbox: Inbox, lifecycle: Inbox | None = None) -> None:
        super().__init__()
        self._inbox = inbox
        self._lifecycle = lifecycle

    def _mark(self, what: str) -> None:
        if self._lifecycle is not None and self.in_tree:
            self._lifecycle.append((what, self.context.path, self.context.incarnation))

    def on_start(self) -> None:
        """Mark the start."""
        self._mark("start")

    def on_stop(self) -> None:
        """Mark the stop."""
        self._mark("stop")

    def on_failure(self, *_exc_info: object) -> None:
        """Mark the failure."""
        self._mark("failure")

    def on_receive(self, message: Any) -> Any:
        """Record ``message`` with the incarnation that handled it, and echo it."""
        incarnation = self.context.incarnation if self.in_tree else 0
        self._inbox.append((incarnation, message))
        return message
