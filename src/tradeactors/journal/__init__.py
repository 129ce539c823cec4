"""The order and fill journal: an audit trail of every order event, in SQLite (WAL).

Recorded after the fact from the system's event stream (`TradingSystem.subscribe`):
order updates (fills and denials included), kill-switch changes and reconciliation
results. Write-ahead and recovery from the journal: not yet (docs/journal.md).
"""

from __future__ import annotations

from tradeactors.journal._actor import FlushJournal, JournalActor
from tradeactors.journal._metrics import JournalMetrics
from tradeactors.journal._reader import Check, Filters, JournalReader
from tradeactors.journal._schema import (
    SCHEMA_VERSION,
    JournalCorruptError,
    JournalError,
    JournalUnavailableError,
    JournalVersionError,
)
from tradeactors.journal._writer import (
    JOURNALED,
    Commit,
    JournalWriter,
    PositionsRecorded,
    event_kind,
)

__all__ = [
    "JOURNALED",
    "SCHEMA_VERSION",
    "Check",
    "Commit",
    "Filters",
    "FlushJournal",
    "JournalActor",
    "JournalCorruptError",
    "JournalError",
    "JournalMetrics",
    "JournalReader",
    "JournalUnavailableError",
    "JournalVersionError",
    "JournalWriter",
    "PositionsRecorded",
    "event_kind",
]
