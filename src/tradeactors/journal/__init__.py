"""The order and fill journal: an audit trail of every order event, in SQLite (WAL).

Write-ahead for the order manager (`JournalActor`, `WriteAhead`): an order reaches its
gateway, a fill its owner and risk, only once recorded. The rest (kill-switch changes,
risk's denials) is recorded as it happens. A restarted system recovers its orders,
positions and kill switch from it (`read_recovery`, `restore`; docs/journal.md).
"""

from __future__ import annotations

from tradeactors.journal._actor import FlushJournal, JournalActor
from tradeactors.journal._checkpoint import StateCheckpoint, checkpoint_of
from tradeactors.journal._metrics import JournalMetrics
from tradeactors.journal._reader import Check, Filters, JournalReader
from tradeactors.journal._recovery import (
    LatchedScope,
    RecoveredFill,
    Recovery,
    read_recovery,
    restore,
    write_meta,
)
from tradeactors.journal._schema import (
    SCHEMA_VERSION,
    JournalCorruptError,
    JournalError,
    JournalLock,
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
    "JournalLock",
    "JournalMetrics",
    "JournalReader",
    "JournalUnavailableError",
    "JournalVersionError",
    "JournalWriter",
    "LatchedScope",
    "PositionsRecorded",
    "RecoveredFill",
    "Recovery",
    "StateCheckpoint",
    "checkpoint_of",
    "event_kind",
    "read_recovery",
    "restore",
    "write_meta",
]
