"""The state directory: where a ``tradeactors run`` leaves what other commands need.

The state directory is ``$XDG_STATE_HOME/tradeactors`` (``~/.local/state/tradeactors``
when the variable is unset or relative, as the XDG spec says), or the ``--state-dir``
given. Each run has a directory of its own, ``runs/RUN-ID/`` (0700), with:

- ``run.json``: how to reach the run (`RunInfo`: pid, start, symbol, its trade,
  metrics and control URLs), written once it serves, removed when it starts to stop;
- ``lock``: locked (``flock``) by the run's process for its whole life. The kernel
  releases the lock when the process ends, however it ends (SIGKILL included), so a
  run is live while its ``run.json`` is there and its ``lock`` is held: no recycled
  pid can pass for it;
- ``control.token``: the control endpoint's token, mode 0600;
- ``log.jsonl``: the JSON log lines, when ``run`` writes them to a file (on a
  terminal);
- ``journal.sqlite``: the run's order and fill journal (docs/journal.md); it stays
  after the run, so the run's directory does too.

A clean stop removes ``run.json``, the token and the lock, then the directory if
nothing is left in it (a log file stays, for reading after the run). `live_runs`
skips a run whose process is gone and tidies its directory the same way.

Only the standard library and msgspec: ``cli``, ``top``, ``_run`` and the control
endpoint all use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "JOURNAL_FILE",
    "LOG_FILE",
    "RUNS",
    "RUN_FILE",
    "TOKEN_FILE",
    "LiveRun",
    "RunDirectory",
    "RunInfo",
    "latest_run",
    "live_runs",
    "no_live_run",
    "state_dir",
    "state_home",
]

RUNS = "runs"
RUN_FILE = "run.json"
TOKEN_FILE = "control.token"  # noqa: S105 - a file's name
LOG_FILE = "log.jsonl"
JOURNAL_FILE = "journal.sqlite"
_LOCK_FILE = "lock"
_NS = 1_000_000_000


class RunInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What ``run.json`` holds: who the run is and how to reach it."""

    run_id: str
    pid: int
    started_ns: int  # wall clock, ns since the epoch
    symbol: str = ""
    trade_url: str = ""  # the venue's order entry
    metrics_url: str = ""  # Prometheus text: `tradeactors top --url`
    control_url: str = ""  # `tradeactors status/kill/reset --url`


_INFO = msgspec.json.Decoder(RunInfo)


def state_home(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_STATE_HOME/tradeactors``, or ``~/.local/state/tradeactors``.

    A relative ``XDG_STATE_HOME`` is ignored, as the XDG spec says.

    Raises:
        OSError: there is no home directory to put it in.

    """
    state = environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(state):  # noqa: PTH117 - a str from the environment
        return Path(state) / "tradeactors"
    try:
        home = Path.home()
    except RuntimeError as exc:  # no $HOME and no passwd entry
        raise OSError(f"no home directory for the state directory ({exc})") from exc
    return home / ".local" / "state" / "tradeactors"


def state_dir(given: str | os.PathLike[str] | None) -> Path:
    """The directory ``--state-dir`` gives, or `state_home`."""
    return Path(given) if given is not None else state_home()


@dataclass(frozen=True)
class LiveRun:
    """A run whose process is alive, as its ``run.json`` describes it."""

    path: Path
    info: RunInfo

    @property
    def token_file(self) -> Path:
        """Where the run wrote its control token."""
        return self.path / TOKEN_FILE

    def describe(self) -> str:
        """``run 20250611T101500Z-4242 (pid 4242)``."""
        return f"run {self.info.run_id} (pid {self.info.pid})"


class RunDirectory:
    """The directory of the run of this process; `create` it, `publish`, `close`.

    It holds the live marker (the ``lock``) from its creation to `close`.
    """

    def __init__(self, path: Path, run_id: str, started_ns: int, pid: int, lock: int) -> None:
        self.path = path
        self.run_id = run_id
        self.started_ns = started_ns
        self.pid = pid
        self._lock: int | None = lock

    @classmethod
    def create(
        cls, directory: str | os.PathLike[str], *, now_ns: int, pid: int | None = None
    ) -> RunDirectory:
        """Make ``runs/RUN-ID/`` in ``directory`` (0700) and hold its live marker.

        The run id is the start time (UTC, to the second) and the pid, e.g.
        ``20250611T101500Z-4242``.

        Raises:
            OSError: the directory cannot be made or written.

        """
        pid = os.getpid() if pid is None else pid
        base = Path(directory)
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        runs = base / RUNS
        runs.mkdir(mode=0o700, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ns // _NS))
        for attempt in itertools.count(1):
            run_id = f"{stamp}-{pid}" if attempt == 1 else f"{stamp}-{pid}.{attempt}"
            path = runs / run_id
            try:
                path.mkdir(mode=0o700)
                break
            except FileExistsError:
                continue
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            lock = os.open(path / _LOCK_FILE, flags, 0o600)
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody has it
        except OSError:
            _remove_if_empty(path)
            raise
        return cls(path, run_id, now_ns, pid, lock)

    @property
    def run_file(self) -> Path:
        """``run.json``."""
        return self.path / RUN_FILE

    @property
    def token_file(self) -> Path:
        """Where the control token goes (mode 0600)."""
        return self.path / TOKEN_FILE

    @property
    def log_file(self) -> Path:
        """Where the JSON log lines go when they go to a file."""
        return self.path / LOG_FILE

    @property
    def journal_file(self) -> Path:
        """The run's journal (docs/journal.md), kept after the run."""
        return self.path / JOURNAL_FILE

    def publish(
        self, *, symbol: str = "", trade_url: str = "", metrics_url: str = "", control_url: str = ""
    ) -> RunInfo:
        """Write ``run.json`` (0600, replaced atomically): other commands find the run now.

        Raises:
            OSError: it cannot be written.

        """
        info = RunInfo(
            run_id=self.run_id,
            pid=self.pid,
            started_ns=self.started_ns,
            symbol=symbol,
            trade_url=trade_url,
            metrics_url=metrics_url,
            control_url=control_url,
        )
        temporary = self.path / f".{RUN_FILE}.{secrets.token_hex(8)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        descriptor = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(msgspec.json.format(msgspec.json.encode(info)) + b"\n")
            temporary.replace(self.run_file)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return info

    def withdraw(self) -> None:
        """Remove ``run.json``: no command finds the run any more (it is stopping)."""
        self.run_file.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove ``run.json``, the token and the live marker; the directory if empty.

        Idempotent; never raises (a directory removed under it is gone already).
        """
        lock, self._lock = self._lock, None
        if lock is None:
            return
        _retire(self.path)
        os.close(lock)
        _remove_if_empty(self.path)


def live_runs(directory: str | os.PathLike[str]) -> list[LiveRun]:
    """The live runs in ``directory``, the latest started first.

    A run whose process is gone is skipped, and its directory tidied as a clean stop
    would have (its log stays). A directory that cannot be read gives no runs.
    """
    runs = Path(directory) / RUNS
    try:
        children = list(runs.iterdir())
    except OSError:
        return []
    found = []
    for child in children:
        try:
            info = _INFO.decode(child.joinpath(RUN_FILE).read_bytes())
        except (OSError, msgspec.DecodeError):
            continue  # starting (no run.json yet), stopped, or not ours
        if _is_live(child, info.pid):
            found.append(LiveRun(child, info))
    found.sort(key=lambda run: (run.info.started_ns, run.info.run_id), reverse=True)
    return found


def latest_run(directory: str | os.PathLike[str]) -> LiveRun | None:
    """The live run started last in ``directory``, or None."""
    runs = live_runs(directory)
    return runs[0] if runs else None


def no_live_run(directory: str | os.PathLike[str], url: str) -> str:
    """The one line saying that no run was found, and what to do instead."""
    return (
        f"no live run in {Path(directory) / RUNS} (start one with `tradeactors run`, or "
        f"pass --url with {url} `tradeactors run` printed)"
    )


def _is_live(path: Path, pid: int) -> bool:
    """Whether the run in ``path`` is alive; a dead one's directory is tidied."""
    try:
        lock = os.open(path / _LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:  # the process ended between withdraw and close
        _retire(path)
        _remove_if_empty(path)
        return False
    except OSError:
        return False
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held: by the run, or by another command tidying it
            return _process_exists(pid)
        _retire(path)  # we hold the dead run's lock: nobody else tidies it now
    finally:
        os.close(lock)
    _remove_if_empty(path)
    return False


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: it exists
        return True
    return True


def _retire(path: Path) -> None:
    """Remove what says a run is live or lets anyone act on it; keep its log."""
    for name in (RUN_FILE, TOKEN_FILE, _LOCK_FILE):
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            (path / name).unlink(missing_ok=True)


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (a log stays), or gone already
        path.rmdir()
