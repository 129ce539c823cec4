"""A backtest's journal: the same file format as a live system's (docs/journal.md).

`BacktestJournal` records what the strategy of a backtest hears of its orders (every
`OrderUpdate` the simulated venue delivers: acceptances, fills with their execution ids,
cancels, rejects, amend answers and denials), each at its delivery time in the
backtest's simulated clock (the capture's receive times, ns since the epoch), with the
order's owner set as the live order manager sets it (``strategies/<name>/strategy``, so
the journal's ``strategy`` column is the strategy's name). At the end of the run it
records the final positions (`PositionsRecorded`), which ``tradeactors journal
verify`` checks the fills against.

One file per run: a path that exists is refused (`JournalExistsError`) before anything
runs. A second run appended to a file would restart its client order ids at ``bt-1``
and its positions at zero, so the orders of the two runs would merge and ``verify``
would compare the second run's positions with the fills of both.

Events are committed in batches of `BATCH` (one transaction each) and at the end; the
file is closed whatever happens, so a run that fails half-way leaves a journal of what
it did until then (without the final positions).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import msgspec

from tradeactors.actors.gate import strategy_path
from tradeactors.clock import FakeClock
from tradeactors.journal import (
    JournalError,
    JournalUnavailableError,
    JournalWriter,
    PositionsRecorded,
)

if TYPE_CHECKING:
    import os

    from tradeactors.core.instrument import Instrument
    from tradeactors.core.messages import OrderUpdate

__all__ = ["BATCH", "BacktestJournal", "JournalExistsError"]

BATCH = 1024
"""Events per transaction: a 6-minute backtest's thousands of updates take a few commits."""


class JournalExistsError(JournalError):
    """A backtest journal goes to a new file: this one exists (one run per file)."""


class BacktestJournal:
    """The journal of one backtest of ``strategy`` (its name) on ``instrument``, at ``path``.

    The file is made here (exclusively: it must not exist); the backtest's own clock is
    the events' time, no wall clock is read (the writer's commit timing reads a clock
    that never moves).

    Raises (at construction):
        JournalExistsError: ``path`` exists.
        JournalUnavailableError: the file cannot be made there (no such directory,
            not writable).

    """

    def __init__(
        self, path: str | os.PathLike[str], *, instrument: Instrument, strategy: str
    ) -> None:
        self.path = Path(path)
        self.owner = strategy_path(strategy)
        try:
            self.path.open("xb").close()  # exclusively: two runs never share a file
        except FileExistsError:
            raise JournalExistsError(
                self.path,
                "exists: a backtest journal records one run; give a new file (or remove this one)",
            ) from None
        except OSError as exc:
            raise JournalUnavailableError(self.path, f"cannot be made: {exc.strerror}") from exc
        self._writer = JournalWriter(
            self.path,
            clock=FakeClock(),
            instruments={instrument.symbol: instrument},
            strategy_of=lambda owner: strategy if owner == self.owner else None,
        )
        self._symbol = instrument.symbol
        self._queue: list[tuple[int, Any]] = []
        self.events = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def record(self, time_ns: int, update: OrderUpdate) -> None:
        """Queue ``update`` as delivered at ``time_ns``, its owner the strategy's path.

        Raises:
            JournalUnavailableError: a batch could not be written (full disk, ...).

        """
        self._queue.append((time_ns, msgspec.structs.replace(update, owner=self.owner)))
        if len(self._queue) >= BATCH:
            self._commit()

    def finish(self, time_ns: int, position_lots: int) -> None:
        """Record the final position (lots of the instrument) at ``time_ns`` and commit.

        Raises:
            JournalUnavailableError: the file could not be written.

        """
        positions = PositionsRecorded(positions={self._symbol: position_lots}, timestamp_ns=time_ns)
        self._queue.append((time_ns, positions))
        self._commit()

    def close(self) -> None:
        """Commit what is queued (if the file takes it) and close the file."""
        try:
            self._commit()
        finally:
            self._writer.close()

    def _commit(self) -> None:
        batch, self._queue = self._queue, []
        if batch:
            self.events += self._writer.append(batch).events
