"""`JournalWriter`: appends batches of events to the journal, one transaction each."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.core.killswitch import KillSwitchChanged
from tradeactors.core.messages import (
    Message,
    OrderSubmitted,
    OrderUpdate,
    ReconciliationReport,
    UnknownOrderFilled,
)
from tradeactors.core.orders import OrderStatus
from tradeactors.journal._checkpoint import StateCheckpoint
from tradeactors.journal._schema import JournalUnavailableError, connect

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path

    from tradeactors.clock import Clock
    from tradeactors.core.instrument import Instrument
    from tradeactors.core.messages import SubmitOrder

__all__ = ["JOURNALED", "Commit", "JournalWriter", "PositionsRecorded", "event_kind"]


class PositionsRecorded(Message, frozen=True, kw_only=True, tag=True):
    """The order manager's positions (lots per instrument) at a moment: `verify` checks them."""

    positions: dict[str, int]
    timestamp_ns: int


JOURNALED = (
    OrderUpdate,
    KillSwitchChanged,
    ReconciliationReport,
    PositionsRecorded,
    OrderSubmitted,
    UnknownOrderFilled,
    StateCheckpoint,
)
"""The event types the journal records (others are not its business)."""

_ENCODE = msgspec.json.Encoder().encode

_EVENT_COLUMNS = (
    "time_ns, kind, client_order_id, venue, instrument, status, filled_lots, fill_lots, "
    "fill_price_ticks, fill_quantity, fill_price, execution_id, reason, detail, scope, state, "
    "source, payload"
)
_INSERT_EVENT = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({', '.join('?' * 18)})"  # noqa: S608
_INSERT_ORDER = "INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class Commit:
    """One committed batch: how many events, how long the commit took (s)."""

    events: int
    seconds: float


def event_kind(event: Any) -> str:
    """The ``kind`` column of ``event``."""
    if isinstance(event, OrderUpdate):
        if event.fill_quantity:
            return "fill"
        return "denial" if event.status == OrderStatus.DENIED else "order_update"
    kind = _KINDS.get(type(event))
    if kind is None:
        raise TypeError(f"the journal does not record {type(event).__name__}")
    return kind


_KINDS: dict[type, str] = {
    KillSwitchChanged: "kill_switch",
    ReconciliationReport: "reconciliation",
    PositionsRecorded: "positions",
    OrderSubmitted: "submitted",
    UnknownOrderFilled: "fill",  # of an order not known here (reason ``unknown_order``)
    StateCheckpoint: "checkpoint",
}


class JournalWriter:
    """Appends events to the journal at ``path`` (made if missing), a batch per transaction.

    ``synchronous``: ``"normal"`` (survives the death of the process; WAL) or ``"full"``
    (survives power loss too). ``instruments`` (by symbol) give the decimal text of
    prices and quantities; ``strategy_of`` the strategy of an order's owner path.
    ``read_only`` and ``max_page_count`` exist to prove the unwritable cases.

    Raises (at construction): the errors of `connect`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock,
        synchronous: str = "normal",
        instruments: Mapping[str, Instrument] | None = None,
        strategy_of: Callable[[str], str | None] = lambda _owner: None,
        read_only: bool = False,
        max_page_count: int | None = None,
    ) -> None:
        self.path = path
        self._clock = clock
        self._instruments = dict(instruments or {})
        self._strategy_of = strategy_of
        self._db = connect(
            path,
            create=True,
            read_only=read_only,
            synchronous=synchronous,
            max_page_count=max_page_count,
        )
        self.commits = 0
        self.events = 0

    def close(self) -> None:
        """Close the file (a checkpoint folds the WAL into it)."""
        self._db.close()

    def append(self, batch: Sequence[tuple[int, Any]]) -> Commit:
        """Record ``batch`` (receipt time ns, event) in one transaction; all or nothing.

        Raises:
            JournalUnavailableError: the file cannot be written (read-only, full, locked);
                nothing of the batch is recorded.

        """
        started = self._clock.monotonic_ns()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for time_ns, event in batch:
                    self._insert(time_ns, event)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise JournalUnavailableError(self.path, f"cannot be written: {exc}") from exc
        seconds = (self._clock.monotonic_ns() - started) / 1e9
        self.commits += 1
        self.events += len(batch)
        return Commit(events=len(batch), seconds=seconds)

    def _insert(self, time_ns: int, event: Any) -> None:
        kind = event_kind(event)
        payload = _ENCODE(event).decode()
        if isinstance(event, OrderUpdate):
            self._insert_order(time_ns, event)
            instrument = self._instruments.get(event.instrument)
            fill = event.fill_quantity != 0
            row: Iterable[Any] = (
                time_ns,
                kind,
                event.client_order_id,
                event.venue,
                event.instrument,
                event.status.value,
                event.filled,
                event.fill_quantity if fill else None,
                event.fill_price if fill else None,
                _text(instrument, event.fill_quantity, size=True) if fill else None,
                _text(instrument, event.fill_price, size=False) if fill else None,
                str(event.execution_id) if fill else None,
                event.reason,
                event.detail,
                None,
                None,
                None,
                payload,
            )
        elif isinstance(event, KillSwitchChanged):
            row = (event.timestamp_ns or time_ns, kind, *(None,) * 10, event.reason, None)
            row = (*row, event.scope, event.state.value, event.source, payload)
        elif isinstance(event, ReconciliationReport):
            detail = (
                f"missed_fills={event.missed_fills} duplicate_fills={event.duplicate_fills} "
                f"closed={len(event.closed)} unknown_at_venue={len(event.unknown_at_venue)} "
                f"closed_here_open_there={len(event.closed_here_open_there)}"
            )
            row = (event.timestamp_ns or time_ns, kind, None, event.venue, *(None,) * 8)
            row = (*row, None, detail, None, None, None, payload)
        elif isinstance(event, OrderSubmitted):
            order = event.order
            self._insert_submitted(event.timestamp_ns or time_ns, order)
            row = (event.timestamp_ns or time_ns, kind, order.client_order_id, order.venue)
            row = (*row, order.instrument, "pending", 0, *(None,) * 10, payload)
        elif isinstance(event, UnknownOrderFilled):
            foreign = event.fill
            instrument = self._instruments.get(foreign.instrument)
            row = (
                event.timestamp_ns or time_ns,
                kind,
                foreign.client_order_id,
                foreign.venue,
                foreign.instrument,
                None,  # no status: not an order of this system
                None,
                foreign.quantity,
                foreign.price,
                _text(instrument, foreign.quantity, size=True),
                _text(instrument, foreign.price, size=False),
                str(foreign.execution_id),
                "unknown_order",
                None,
                None,
                None,
                None,
                payload,
            )
        else:  # PositionsRecorded, StateCheckpoint
            row = (event.timestamp_ns or time_ns, kind, *(None,) * 15, payload)
        self._db.execute(_INSERT_EVENT, tuple(row))

    def _insert_submitted(self, time_ns: int, order: SubmitOrder) -> None:
        self._insert_order_row(time_ns, order, order.tif.value)

    def _insert_order(self, time_ns: int, update: OrderUpdate) -> None:
        if not update.instrument:  # an amend of an order not known: no order to record
            return
        self._insert_order_row(time_ns, update, None)  # no tif in an update

    def _insert_order_row(
        self, time_ns: int, order: SubmitOrder | OrderUpdate, tif: str | None
    ) -> None:
        """The order's row, the first time it is seen (its `OrderSubmitted`, or an update)."""
        instrument = self._instruments.get(order.instrument)
        self._db.execute(
            _INSERT_ORDER,
            (
                order.client_order_id,
                order.owner,
                self._strategy_of(order.owner) if order.owner else None,
                order.venue,
                order.instrument,
                order.side.value,
                _text(instrument, order.price, size=False),
                _text(instrument, order.quantity, size=True),
                order.price,
                order.quantity,
                tif,
                time_ns,
            ),
        )


def _text(instrument: Instrument | None, units: int, *, size: bool) -> str:
    """The decimal text of ``units`` (ticks or lots); the integer if the instrument is unknown."""
    if instrument is None:
        return str(units)
    return instrument.format_size(units) if size else instrument.format_price(units)
