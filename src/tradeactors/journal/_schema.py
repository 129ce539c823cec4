"""The journal's file: SQLite (WAL), a versioned schema, and the errors of opening it.

One file per system. ``meta`` holds the schema version; ``orders`` one row per client
order id (first seen); ``events`` one row per recorded event, in order, each with its
JSON payload (the event as msgspec encodes it) beside the columns queries filter on.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from pathlib import Path

from tradeactors.errors import TradeActorsError

__all__ = [
    "SCHEMA_VERSION",
    "JournalCorruptError",
    "JournalError",
    "JournalLock",
    "JournalUnavailableError",
    "JournalVersionError",
    "connect",
]

SCHEMA_VERSION = 1
"""The version this code writes and reads; a file of another version is refused."""

_SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,           -- the submitting actor's path ('': the host's)
    strategy TEXT,                 -- the owner's strategy name (NULL: none)
    venue TEXT NOT NULL,
    instrument TEXT NOT NULL,
    side TEXT NOT NULL,
    price TEXT NOT NULL,           -- the venue's decimal text
    quantity TEXT NOT NULL,        -- the venue's decimal text
    price_ticks INTEGER NOT NULL,
    quantity_lots INTEGER NOT NULL,
    tif TEXT,                      -- NULL: not carried by the events recorded
    first_seen_ns INTEGER NOT NULL
);
CREATE TABLE events (
    sequence INTEGER PRIMARY KEY,  -- the order recorded, increasing across runs
    time_ns INTEGER NOT NULL,      -- wall clock, ns since the epoch
    kind TEXT NOT NULL,            -- order_update, fill, denial, kill_switch, reconciliation,
                                   -- positions
    client_order_id TEXT,
    venue TEXT,
    instrument TEXT,
    status TEXT,                   -- the order's status after the event
    filled_lots INTEGER,           -- the order's cumulative filled after the event
    fill_lots INTEGER,
    fill_price_ticks INTEGER,
    fill_quantity TEXT,            -- decimal text
    fill_price TEXT,               -- decimal text
    execution_id TEXT,             -- the venue's, of a fill
    reason TEXT,
    detail TEXT,
    scope TEXT,                    -- kill_switch: all, strategy:NAME, venue:NAME
    state TEXT,                    -- kill_switch: the new state
    source TEXT,                   -- kill_switch: who (a trip source, or reset)
    payload TEXT NOT NULL          -- the event as JSON (msgspec)
);
CREATE INDEX events_order ON events (client_order_id);
CREATE INDEX events_kind ON events (kind, time_ns);
"""


class JournalError(TradeActorsError):
    """A journal file cannot be used; the message names the file."""

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(f"journal {path}: {message}")
        self.path = str(path)


class JournalCorruptError(JournalError):
    """The file is not a readable SQLite database (what SQLite said is in the message)."""


class JournalVersionError(JournalError):
    """The file is a journal of a schema version this code does not know."""


class JournalUnavailableError(JournalError):
    """The journal cannot be written (read-only, full, locked): nothing may go unrecorded."""


def connect(
    path: str | Path,
    *,
    create: bool,
    read_only: bool = False,
    synchronous: str = "normal",
    max_page_count: int | None = None,
) -> sqlite3.Connection:
    """Open (``create``: or make) the journal at ``path``, schema checked.

    Never recreates a file it cannot read: a corrupt file raises `JournalCorruptError`,
    a database that is not a journal `JournalError`, another version `JournalVersionError`.
    ``max_page_count`` caps the file's pages (SQLite's own limit: writes past it fail as
    a full disk would).

    Raises:
        JournalError: missing (without ``create``), not a journal, corrupt, other version.
        JournalUnavailableError: a new journal cannot be written where asked.

    """
    file = Path(path)
    if not file.exists() and (read_only or not create):
        raise JournalError(file, "no such file")
    uri = f"{file.absolute().as_uri()}?mode={'ro' if read_only else 'rwc'}"
    try:
        connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0.5)
    except sqlite3.Error as exc:
        raise JournalUnavailableError(file, f"cannot open: {exc}") from exc
    try:
        _check(connection, file, create=create and not read_only)
        if not read_only:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(f"PRAGMA synchronous = {_synchronous(synchronous)}")
        if max_page_count is not None:
            connection.execute(f"PRAGMA max_page_count = {int(max_page_count)}")
    except BaseException:
        connection.close()
        raise
    return connection


def _synchronous(value: str) -> str:
    if value not in ("normal", "full"):
        raise ValueError(f"synchronous {value!r}: expected 'normal' or 'full'")
    return value.upper()


def _check(connection: sqlite3.Connection, file: Path, *, create: bool) -> None:
    """Refuse what is not a journal of `SCHEMA_VERSION`; make the schema in an empty file."""
    try:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not tables and create:
            connection.executescript(  # constant text: no value from outside
                f"BEGIN; {_SCHEMA} INSERT INTO meta VALUES "  # noqa: S608
                f"('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
            )
            return
        if "meta" not in tables:
            raise JournalError(file, "not a tradeactors journal (no meta table)")
        row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and _unwritable(exc):
            raise JournalUnavailableError(file, f"cannot be written: {exc}") from exc
        raise JournalCorruptError(file, f"not a readable SQLite database: {exc}") from exc
    if row is None:
        raise JournalError(file, "not a tradeactors journal (no schema_version in meta)")
    if row[0] != str(SCHEMA_VERSION):
        raise JournalVersionError(
            file,
            f"schema version {row[0]!r}; this tradeactors reads version {SCHEMA_VERSION} only",
        )


def _unwritable(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return any(s in text for s in ("readonly", "locked", "full", "unable to open"))


class JournalLock:
    """One process at a time on a journal: an exclusive lock on ``FILE.lock``, beside it.

    Two processes on one journal would each recover the other's orders, cancel them as
    unknown, and write one history of two. The lock (``flock``: released by the kernel
    when the process dies, SIGKILL too) is taken before the journal is read and held
    until `release`; the file says which process holds it.

    Raises (at construction):
        JournalError: another process holds it (the message names the file and its pid).
        JournalUnavailableError: the lock file cannot be made.

    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(f"{path}.lock")
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalUnavailableError(path, f"cannot make its lock {self.path}: {exc}") from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            raise JournalError(
                path, f"in use by another process (pid {holder}): one process per journal"
            ) from None
        try:
            same = os.fstat(self._fd).st_ino == self.path.stat().st_ino
        except OSError:
            same = False
        if not same:  # its holder removed it as this process opened it: taken meanwhile
            os.close(self._fd)
            self._fd = None
            raise JournalError(path, "in use by another process: one process per journal")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Let another process take the journal (idempotent); the lock file goes.

        Removed while still locked, then closed: a process that opened it meanwhile
        finds, once it has the lock, that the path is no longer its file, and refuses.
        """
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)  # closing releases the flock
            self._fd = None
