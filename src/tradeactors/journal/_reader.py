"""Reading a journal: `JournalReader` queries orders, fills and events, and `verify`."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from tradeactors.journal._schema import JournalCorruptError, connect

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Check", "Filters", "JournalReader"]


@dataclass(frozen=True)
class Filters:
    """What to keep of a query (None: everything). Times in ns since the epoch, inclusive."""

    strategy: str | None = None
    instrument: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    status: str | None = None


@dataclass(frozen=True)
class Check:
    """One invariant `verify` checked: ``PASS``, ``FAIL`` or ``SKIP``, and what it found."""

    name: str
    verdict: str
    detail: str


_LAST = (
    "(SELECT {col} FROM events e WHERE e.client_order_id = o.client_order_id "
    "AND e.kind IN ('submitted', 'order_update', 'fill', 'denial') "
    "ORDER BY e.sequence DESC LIMIT 1)"
)
# constant text: every value a query takes is a bound parameter
_ORDERS = (
    "SELECT o.client_order_id, o.first_seen_ns, o.strategy, o.owner, o.venue, o.instrument, "  # noqa: S608
    "o.side, o.price, o.quantity, o.price_ticks, o.quantity_lots, o.tif, "
    f"{_LAST.format(col='status')} AS status, "
    "(SELECT COALESCE(MAX(filled_lots), 0) FROM events e "
    "WHERE e.client_order_id = o.client_order_id) AS filled_lots FROM orders o"
)
# an order's side; a fill of an order not known (`UnknownOrderFilled`) carries its own
_SIDE = "COALESCE(o.side, json_extract(e.payload, '$.fill.side'))"
_FILLS = (
    "SELECT e.sequence, e.time_ns, o.strategy, e.venue, e.instrument, e.client_order_id, "  # noqa: S608
    f"{_SIDE} AS side, e.fill_price, e.fill_quantity, e.fill_price_ticks, e.fill_lots, "
    "e.execution_id, "
    "e.status FROM events e LEFT JOIN orders o USING (client_order_id) WHERE e.kind = 'fill'"
)
_EVENTS = (
    "SELECT e.sequence, e.time_ns, e.kind, o.strategy, e.client_order_id, e.venue, "
    "e.instrument, e.status, e.filled_lots, e.fill_lots, e.fill_price_ticks, e.execution_id, "
    "e.reason, e.detail, e.scope, e.state, e.source, e.payload "
    "FROM events e LEFT JOIN orders o USING (client_order_id) WHERE 1 = 1"
)


class JournalReader:
    """A journal opened read-only: `orders`, `fills`, `events`, `verify`.

    Raises (at construction): the errors of `connect` (missing, not a journal, corrupt,
    another schema version).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._db = connect(path, create=False, read_only=True)
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def orders(self, filters: Filters = Filters()) -> list[dict[str, Any]]:
        """Each order (first seen), with its last status and cumulative filled lots."""
        sql, args = _where(
            f"SELECT * FROM ({_ORDERS}) WHERE 1 = 1",  # noqa: S608 - constant text
            filters,
            time="first_seen_ns",
            table="",
        )
        return self._rows(f"{sql} ORDER BY first_seen_ns, client_order_id", args)

    def fills(self, filters: Filters = Filters()) -> list[dict[str, Any]]:
        """Each fill, in the order recorded."""
        sql, args = _where(_FILLS, filters, time="e.time_ns", table="e.")
        return self._rows(f"{sql} ORDER BY e.sequence", args)

    def events(self, filters: Filters = Filters()) -> list[dict[str, Any]]:
        """Every event, in the order recorded (its JSON payload decoded)."""
        sql, args = _where(_EVENTS, filters, time="e.time_ns", table="e.")
        rows = self._rows(f"{sql} ORDER BY e.sequence", args)
        for row in rows:
            try:
                row["payload"] = json.loads(row["payload"])
            except (TypeError, ValueError, RecursionError) as exc:
                raise JournalCorruptError(
                    self.path, f"event {row['sequence']}: its payload is not JSON: {exc}"
                ) from exc
        return rows

    def _rows(self, sql: str, args: list[Any]) -> list[dict[str, Any]]:
        try:
            return [dict(row) for row in self._db.execute(sql, args)]
        except sqlite3.DatabaseError as exc:
            raise JournalCorruptError(self.path, f"cannot be read: {exc}") from exc

    def verify(self) -> list[Check]:
        """Replay the journal and check its invariants (see docs/journal.md)."""
        try:
            return self._verify()
        except sqlite3.DatabaseError as exc:
            raise JournalCorruptError(self.path, f"cannot be read: {exc}") from exc

    def _verify(self) -> list[Check]:
        checks = [_integrity(self._db)]
        orders = {
            row["client_order_id"]: row
            for row in self._db.execute("SELECT * FROM orders ORDER BY first_seen_ns")
        }
        fills = list(
            self._db.execute(
                f"SELECT e.*, {_SIDE} AS side FROM events e "  # noqa: S608 - constant text
                "LEFT JOIN orders o USING (client_order_id) "
                "WHERE kind = 'fill' ORDER BY sequence"
            )
        )
        unknown = [f["client_order_id"] for f in fills if f["client_order_id"] not in orders]
        checks.append(
            _check(
                "fills_of_known_orders",
                not unknown,
                f"{len(fills)} fills, all of known orders"
                if not unknown
                else f"{len(unknown)} fills of unknown orders, first {unknown[0]}",
                skip=not fills,
            )
        )
        checks.extend(self._quantities(orders, fills))
        checks.append(_execution_ids(fills))
        checks.append(self._positions(fills))
        return checks

    def _quantities(self, orders: dict[str, sqlite3.Row], fills: list[sqlite3.Row]) -> list[Check]:
        summed: dict[str, int] = {}
        for fill in fills:
            cid = fill["client_order_id"]
            summed[cid] = summed.get(cid, 0) + fill["fill_lots"]
        cumulative = dict(
            self._db.execute(
                "SELECT client_order_id, MAX(filled_lots) FROM events "
                "WHERE client_order_id IS NOT NULL GROUP BY client_order_id"
            ).fetchall()
        )
        # an amend changes an order's quantity: its largest, as its updates carry it
        amended = dict(
            self._db.execute(
                "SELECT client_order_id, MAX(json_extract(payload, '$.quantity')) FROM events "
                "WHERE kind IN ('order_update', 'fill') GROUP BY client_order_id"
            ).fetchall()
        )
        over = [
            cid
            for cid, row in orders.items()
            if (cumulative.get(cid) or 0) > max(row["quantity_lots"], amended.get(cid) or 0)
        ]
        unequal = [cid for cid in orders if (cumulative.get(cid) or 0) != summed.get(cid, 0)]
        return [
            _check(
                "filled_within_quantity",
                not over,
                f"{len(orders)} orders" if not over else f"{len(over)} overfilled, first {over[0]}",
                skip=not orders,
            ),
            _check(
                "filled_equals_sum_of_fills",
                not unequal,
                f"{len(orders)} orders"
                if not unequal
                else (
                    f"{len(unequal)} orders differ, first {unequal[0]}: filled "
                    f"{cumulative.get(unequal[0]) or 0} lots, fills add up to "
                    f"{summed.get(unequal[0], 0)}"
                ),
                skip=not orders,
            ),
        ]

    def _positions(self, fills: list[sqlite3.Row]) -> Check:
        snapshot = self._db.execute(
            "SELECT sequence, payload FROM events WHERE kind = 'positions' "
            "ORDER BY sequence DESC LIMIT 1"
        ).fetchone()
        if snapshot is None:
            return Check("positions_equal_sum_of_fills", "SKIP", "no positions recorded")
        positions: dict[str, int] = {}
        for fill in fills:
            if fill["sequence"] < snapshot["sequence"]:
                sign = -1 if fill["side"] == "sell" else 1
                positions[fill["instrument"]] = (
                    positions.get(fill["instrument"], 0) + sign * fill["fill_lots"]
                )
        recorded = {k: v for k, v in json.loads(snapshot["payload"])["positions"].items() if v}
        summed = {k: v for k, v in positions.items() if v}
        return _check(
            "positions_equal_sum_of_fills",
            recorded == summed,
            f"{summed or 'flat in every instrument'}, from {len(fills)} fills"
            if recorded == summed
            else f"recorded {recorded}, fills add up to {summed}",
        )


def _where(sql: str, filters: Filters, *, time: str, table: str) -> tuple[str, list[Any]]:
    strategy = "strategy" if not table else "o.strategy"
    parts, args = [sql], list[Any]()
    for column, value in (
        (strategy, filters.strategy),
        (f"{table}instrument", filters.instrument),
        (f"{table}status", filters.status),
    ):
        if value is not None:
            parts.append(f"AND {column} = ?")
            args.append(value)
    if filters.since_ns is not None:
        parts.append(f"AND {time} >= ?")
        args.append(filters.since_ns)
    if filters.until_ns is not None:
        parts.append(f"AND {time} <= ?")
        args.append(filters.until_ns)
    return " ".join(parts), args


def _check(name: str, ok: bool, detail: str, *, skip: bool = False) -> Check:  # noqa: FBT001
    if skip:
        return Check(name, "SKIP", "nothing to check")
    return Check(name, "PASS" if ok else "FAIL", detail)


def _integrity(db: sqlite3.Connection) -> Check:
    found = [row[0] for row in db.execute("PRAGMA quick_check")]
    ok = found == ["ok"]
    return _check("sqlite_quick_check", ok, "ok" if ok else "; ".join(found[:3]))


def _execution_ids(fills: list[sqlite3.Row]) -> Check:
    seen: set[tuple[str, str]] = set()
    twice: list[str] = []
    for fill in fills:
        key = (fill["venue"], fill["execution_id"])
        if key in seen:
            twice.append(f"{key[0]}:{key[1]}")
        seen.add(key)
    return _check(
        "execution_ids_unique",
        not twice,
        f"{len(seen)} execution ids" if not twice else f"{len(twice)} repeated, first {twice[0]}",
        skip=not fills,
    )
