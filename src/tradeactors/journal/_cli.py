"""``tradeactors journal orders|fills|events|verify``: read a journal from the command line."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeactors._state import JOURNAL_FILE, RUNS, state_dir
from tradeactors.errors import TradeActorsError
from tradeactors.journal._reader import Filters, JournalReader
from tradeactors.journal._schema import JournalCorruptError, JournalError

if TYPE_CHECKING:
    import argparse
    from typing import TextIO

__all__ = ["journal_command", "latest_journal", "parse_time"]

_COLUMNS = {
    "orders": (
        "time",
        "client_order_id",
        "strategy",
        "owner",
        "venue",
        "instrument",
        "side",
        "price",
        "quantity",
        "status",
        "filled_lots",
    ),
    "fills": (
        "time",
        "client_order_id",
        "strategy",
        "venue",
        "instrument",
        "side",
        "fill_price",
        "fill_quantity",
        "execution_id",
        "status",
    ),
    "events": (
        "sequence",
        "time",
        "kind",
        "client_order_id",
        "instrument",
        "status",
        "fill_lots",
        "execution_id",
        "reason",
        "scope",
        "state",
        "source",
    ),
}


def journal_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``tradeactors journal ACTION``; 0, or 1 when ``verify`` finds a FAIL.

    Raises:
        JournalError: no journal there, not a journal, corrupt, another schema version.
        TradeActorsError: a time that is not ISO 8601.

    """
    path = Path(args.journal) if args.journal else latest_journal(state_dir(args.state_dir))
    try:
        return _journal_action(args, path, out)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        if isinstance(exc, TradeActorsError):
            raise
        # a record the journal cannot have written (edited by hand, say): one line
        raise JournalCorruptError(path, f"a record cannot be read: {exc}") from exc


def _journal_action(args: argparse.Namespace, path: Path, out: TextIO) -> int:
    if args.action == "verify":
        with JournalReader(path) as reader:
            checks = reader.verify()
        out.writelines(f"{c.verdict:4}  {c.name}: {c.detail}\n" for c in checks)
        failed = sum(check.verdict == "FAIL" for check in checks)
        out.write(f"{path}: {'FAIL' if failed else 'PASS'} ({failed} of {len(checks)} failed)\n")
        return 1 if failed else 0
    filters = Filters(
        strategy=args.strategy,
        instrument=args.instrument,
        since_ns=parse_time(args.since, "--since"),
        until_ns=parse_time(args.until, "--until"),
        status=args.status,
    )
    with JournalReader(path) as reader:
        rows = getattr(reader, args.action)(filters)
    for row in rows:
        time_ns = row.get("first_seen_ns", row.get("time_ns"))
        row["time"] = _iso(time_ns)
    if args.json:
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
    elif args.csv:
        _csv(out, rows)
    else:
        _table(out, rows, _COLUMNS[args.action])
    return 0


def latest_journal(directory: Path) -> Path:
    """The journal of the latest run in the state directory ``directory``.

    Raises:
        JournalError: no run there left a journal.

    """
    found = sorted(
        (path.stat().st_mtime_ns, path) for path in (directory / RUNS).glob(f"*/{JOURNAL_FILE}")
    )
    if not found:
        raise JournalError(directory / RUNS, "no run journal here (give --journal FILE)")
    return found[-1][1]


def parse_time(text: str | None, option: str) -> int | None:
    """Nanoseconds since the epoch of ISO 8601 ``text`` (UTC if no zone); None: no bound.

    Raises:
        TradeActorsError: not ISO 8601.

    """
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise TradeActorsError(
            f"{option} {text!r}: expected an ISO 8601 time, e.g. 2026-12-04T10:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    delta = when - epoch
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _iso(time_ns: int | None) -> str:
    if time_ns is None:
        return ""
    seconds, ns = divmod(time_ns, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ns:09d}Z"


def _csv(out: TextIO, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        payload = row.get("payload")
        writer.writerow(
            row
            if payload is None
            else {**row, "payload": json.dumps(payload, separators=(",", ":"))}
        )


def _table(out: TextIO, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    cells = [[("" if row.get(c) is None else str(row[c])) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    out.writelines(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in cells
    )
    out.write(f"({len(rows)} rows)\n")
