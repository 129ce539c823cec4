"""`JournalActor`: the supervised writer of the journal, with group commit.

The system tells it every event its subscribers hear (`OrderUpdate`, fills included,
`KillSwitchChanged`, `ReconciliationReport`), after the fact. Each event is queued; the
queue is committed in one transaction when the mailbox is empty or the queue holds
``max_batch`` events, so a burst costs one commit, not one per event.

An unwritable journal (read-only, full, locked) calls ``on_unavailable`` once per
outage (the system trips its kill switch HALTED, ``journal_unavailable``): the system
refuses to trade rather than trade unrecorded. The events of a batch that could not be
written are counted as dropped and logged; later batches are tried again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.journal._schema import JournalUnavailableError
from tradeactors.journal._writer import JOURNALED
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.journal._metrics import JournalMetrics
    from tradeactors.journal._writer import JournalWriter

__all__ = ["FlushJournal", "JournalActor"]


class FlushJournal(msgspec.Struct, frozen=True):
    """Ask: commit what is queued; the reply is the count of events written so far."""


class JournalActor(SupervisedActor):
    """Writes the events it is told to the journal ``open_writer`` opens (in ``on_start``)."""

    def __init__(
        self,
        *,
        open_writer: Callable[[], JournalWriter],
        on_unavailable: Callable[[str], None],
        metrics: JournalMetrics | None = None,
        max_batch: int = 256,
    ) -> None:
        super().__init__()
        if max_batch < 1:
            raise ValueError(f"max_batch {max_batch}: at least 1")
        self._open_writer = open_writer
        self._on_unavailable = on_unavailable
        self._metrics = metrics
        self._max_batch = max_batch
        self._writer: JournalWriter | None = None
        self._queue: list[tuple[int, Any]] = []
        self._down = False

    def on_start(self) -> None:
        """Open the journal; unwritable: trip (a corrupt file raises: the start fails)."""
        self._open()

    def on_stop(self) -> None:
        """Commit what is queued and close the file."""
        self._commit()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def on_receive(self, message: Any) -> Any:
        """Queue a journaled event; commit when nothing else waits or the batch is full."""
        if isinstance(message, FlushJournal):
            self._commit()
            return 0 if self._writer is None else self._writer.events
        if not isinstance(message, JOURNALED):
            return None  # VenueStatus and the like: not the journal's
        self._queue.append((self.context.clock.time_ns(), message))
        if len(self._queue) >= self._max_batch or self.actor_inbox.empty():
            self._commit()
        return None

    def _open(self) -> None:
        try:
            self._writer = self._open_writer()
        except JournalUnavailableError as exc:
            self._unavailable(str(exc))

    def _commit(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            return
        if self._writer is None:
            self._open()  # tried again at each batch: the file may be writable again
        if self._writer is None:
            self._unavailable("the journal could not be opened", dropped=len(batch))
            return
        try:
            commit = self._writer.append(batch)
        except JournalUnavailableError as exc:
            self._unavailable(str(exc), dropped=len(batch))
            return
        if self._down:
            self._down = False
            self.context.log.warning("journal_writable_again", events=commit.events)
        if self._metrics is not None:
            self._metrics.written.inc(commit.events)
            self._metrics.batch.observe(commit.events)
            self._metrics.commit.observe(commit.seconds)
            self._metrics.lag.set(len(self.actor_inbox))

    def _unavailable(self, detail: str, dropped: int = 0) -> None:
        if self._metrics is not None:
            self._metrics.dropped.inc(dropped)
        self.context.log.error("journal_unavailable", error=detail, dropped=dropped)
        if self._down:
            return
        self._down = True
        if self._metrics is not None:
            self._metrics.unavailable.inc()
        self._on_unavailable(detail)
