"""Recovery: a restarted system rebuilds its order manager's state from the journal.

`read_recovery` reads what a journal says of the system's orders, fills and kill
switch; `restore` puts the orders and fills into an empty `OrderStore`: each order with
its owner, terms, status and filled quantity, each fill applied once to the positions
(average price and realized PnL as the live order manager computes them) and its
execution id marked as seen, so the reconciliation that follows (at the gateway's first
logon, as after any reconnect) fetches only the fills after the watermark and compares
the venue's open orders with the recovered ones: what the venue says wins.

The kill switch's latched states come back too (`Recovery.kill_switch`), but the trip
of a system stopping (``shutdown``) and the fence of a strategy removed at run time
(``strategy_removed``): those are not an operator's or a check's decision to keep.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.core.execution import SequentialIds, Tracked, UniqueIds
from tradeactors.core.killswitch import KillSwitchChanged, TripSource, parse_scope
from tradeactors.core.messages import (
    DenyReason,
    OrderSubmitted,
    OrderUpdate,
    Side,
    SubmitOrder,
    TimeInForce,
    UnknownOrderFilled,
)
from tradeactors.core.orders import Order, OrderStatus, Position
from tradeactors.core.risk import TradingState
from tradeactors.journal._checkpoint import StateCheckpoint
from tradeactors.journal._schema import (
    JournalCorruptError,
    JournalUnavailableError,
    connect,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tradeactors.core.execution import OrderStore

__all__ = [
    "LatchedScope",
    "RecoveredFill",
    "Recovery",
    "read_recovery",
    "restore",
    "write_meta",
]

NOT_KEPT = frozenset({TripSource.SHUTDOWN.value, TripSource.STRATEGY_REMOVED.value})
"""Trip sources whose state a restarted system does not take back (see the module doc)."""


@dataclass(frozen=True)
class RecoveredFill:
    """One fill as recorded (``owner`` None: a fill of an order not known then)."""

    venue: str
    instrument: str
    client_order_id: str
    side: Side
    quantity: int
    price: int
    execution_id: int | str
    owner: str | None


@dataclass(frozen=True)
class LatchedScope:
    """A kill-switch scope's state as last recorded (not ACTIVE), with its trip's source."""

    scope: str
    state: TradingState
    source: str
    reason: str


@dataclass
class Recovery:
    """What a journal holds of a system's state (`read_recovery`)."""

    orders: list[tuple[SubmitOrder, OrderStatus, int]] = field(default_factory=list)
    fills: list[RecoveredFill] = field(default_factory=list)
    kill_switch: list[LatchedScope] = field(default_factory=list)
    last_time_ns: int = 0  # the latest event's time: new client order ids start after it
    events: int = 0
    meta: dict[str, str] = field(default_factory=dict)  # the journal's own (`write_meta`)
    checkpoint: StateCheckpoint | None = None  # the last one: orders and fills after it
    # (owner path, time ns) of the latest denials risk counts (`RECOVERED_DENIALS` at most)
    denials: list[tuple[str, int]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True if the journal holds no event (a new file)."""
        return self.events == 0

    def venues(self) -> set[str]:
        """The venues the recovered orders, fills and checkpoint are at."""
        names = {order.venue for order, _status, _filled in self.orders}
        names |= {fill.venue for fill in self.fills}
        if self.checkpoint is not None:
            names |= {ids.venue for ids in self.checkpoint.ids}
            names |= {kept.order.venue for kept in self.checkpoint.orders}
        return names

    def open_orders(self) -> list[SubmitOrder]:
        """The orders still open when the journal ends."""
        return [order for order, status, _filled in self.orders if status.open]


def read_recovery(path: str | Path, *, from_checkpoint: bool = True) -> Recovery:
    """Read what ``path`` says of the orders, fills and kill switch (read-only).

    Every record used is decoded as the message it was written from and checked
    (positive prices and quantities within 63 bits, filled within the quantity): a
    record that is not is an error naming the file and its sequence, never skipped.

    Raises:
        JournalError: the errors of `connect` (missing, not a journal, corrupt, version).
        JournalCorruptError: a record that cannot be what the journal writes.

    """
    db = connect(path, create=False, read_only=True)
    try:
        return _Reading(db, path, from_checkpoint=from_checkpoint).read()
    except sqlite3.DatabaseError as exc:
        raise JournalCorruptError(path, f"cannot be recovered from: {exc}") from exc
    finally:
        db.close()


_ORDER_EVENTS = "('submitted', 'order_update', 'fill', 'denial')"
# denials that are not risk's own (the order manager's, or lost): its window skips them
_NOT_RISKS = tuple(
    reason.value
    for reason in (
        DenyReason.HALTED,
        DenyReason.DUPLICATE_ID,
        DenyReason.UNKNOWN_VENUE,
        DenyReason.VENUE_DOWN,
        DenyReason.LOST,
    )
)
RECOVERED_DENIALS = 10_000
"""The latest denials a recovery gives risk (its windows count those within them)."""
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "fill": msgspec.json.Decoder(OrderUpdate | UnknownOrderFilled),
    "submitted": msgspec.json.Decoder(OrderSubmitted),
    "order_update": msgspec.json.Decoder(OrderUpdate),
    "denial": msgspec.json.Decoder(OrderUpdate),
    "kill_switch": msgspec.json.Decoder(KillSwitchChanged),
}
_MAX = 2**63  # prices and quantities are 63-bit integers at every venue adapter


class _Reading:
    """One pass over the events, in the order recorded."""

    def __init__(self, db: sqlite3.Connection, path: str | Path, *, from_checkpoint: bool) -> None:
        self._db = db
        self._path = path
        self._from_checkpoint = from_checkpoint
        self._after = 0  # the sequence of the checkpoint read from (0: none)
        self.recovery = Recovery()
        self.requests: dict[str, SubmitOrder] = {}
        # each order's last state: status, cumulative filled, terms after any amend
        self.last: dict[str, tuple[OrderStatus, int, int, int]] = {}
        self.latched: dict[str, LatchedScope | None] = {}

    def read(self) -> Recovery:
        recovery = self.recovery
        recovery.meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        row = self._db.execute("SELECT COUNT(*), COALESCE(MAX(time_ns), 0) FROM events").fetchone()
        recovery.events, recovery.last_time_ns = row[0], row[1]
        if not recovery.events:
            return recovery
        if self._from_checkpoint:
            self._checkpoint()
        self._older_orders()
        self._replay(
            "SELECT sequence, kind, payload FROM events WHERE kind = 'kill_switch' "
            "ORDER BY sequence",
            (),
            lambda kind, payload: _latch(self.latched, _DECODERS[kind].decode(payload)),
        )
        not_risks = ", ".join("?" * len(_NOT_RISKS))
        recovery.denials = [
            (owner or "", int(time_ns))
            for time_ns, owner in self._db.execute(
                "SELECT e.time_ns, o.owner FROM events e LEFT JOIN orders o "  # noqa: S608
                "USING (client_order_id) WHERE e.kind = 'denial' AND e.reason NOT IN "
                f"({not_risks}) ORDER BY e.time_ns DESC LIMIT ?",
                (*_NOT_RISKS, RECOVERED_DENIALS),
            )
            if isinstance(time_ns, int)
        ]
        self._replay(
            "SELECT sequence, kind, payload FROM events "  # noqa: S608 - constant text
            f"WHERE sequence > ? AND kind IN {_ORDER_EVENTS} ORDER BY sequence",
            (self._after,),
            self._event,
        )
        for cid, (status, filled, price, quantity) in self.last.items():
            if status is not OrderStatus.DENIED:
                order = msgspec.structs.replace(self.requests[cid], price=price, quantity=quantity)
                recovery.orders.append((order, status, filled))
        recovery.kill_switch = [scope for scope in self.latched.values() if scope is not None]
        return recovery

    def _replay(
        self, query: str, args: tuple[Any, ...], handle: Callable[[str, str], None]
    ) -> None:
        """``handle(kind, payload)`` each event ``query`` selects (sequence, kind, payload)."""
        for sequence, kind, payload in self._db.execute(query, args):
            try:
                handle(kind, payload)
            except (msgspec.DecodeError, ValueError, TypeError, KeyError) as exc:
                raise self._corrupt(sequence, kind, exc) from exc

    def _corrupt(self, sequence: int, kind: str, exc: Exception) -> JournalCorruptError:
        return JournalCorruptError(
            self._path, f"cannot be recovered from: event {sequence} ({kind}): {exc}"
        )

    def _checkpoint(self) -> None:
        """Start from the last checkpoint, if the journal has one."""
        row = self._db.execute(
            "SELECT sequence, payload FROM events WHERE kind = 'checkpoint' "
            "ORDER BY sequence DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return
        sequence, payload = row
        try:
            checkpoint = _checked_checkpoint(_DECODE_CHECKPOINT(payload))
        except (msgspec.DecodeError, ValueError, TypeError) as exc:
            raise self._corrupt(sequence, "checkpoint", exc) from exc
        for kept in checkpoint.orders:
            order = kept.order
            self.requests[order.client_order_id] = order
            self.last[order.client_order_id] = (
                kept.status,
                kept.filled,
                order.price,
                order.quantity,
            )
        self._after = sequence
        self.recovery.checkpoint = checkpoint

    def _older_orders(self) -> None:
        """Orders of journals written before `OrderSubmitted` existed: from their rows.

        Only those with an event after the checkpoint read from (all without one).
        """
        for row in self._db.execute(
            "SELECT client_order_id, owner, venue, instrument, side, price_ticks, quantity_lots, "
            "tif FROM orders WHERE client_order_id IN (SELECT client_order_id FROM events "
            "WHERE sequence > ?) ORDER BY first_seen_ns",
            (self._after,),
        ):
            cid, owner, venue, instrument, side, price, quantity, tif = row
            try:
                self.requests[cid] = _checked_order(
                    SubmitOrder(
                        client_order_id=cid,
                        venue=venue,
                        instrument=instrument,
                        side=Side(side),
                        price=price,
                        quantity=quantity,
                        owner=owner,
                        tif=TimeInForce(tif) if tif else TimeInForce.GTC,
                    )
                )
            except (ValueError, TypeError) as exc:
                raise JournalCorruptError(
                    self._path, f"cannot be recovered from: order {cid!r}: {exc}"
                ) from exc

    def _event(self, kind: str, payload: str) -> None:
        record = _DECODERS[kind].decode(payload)
        if isinstance(record, OrderSubmitted):
            order = _checked_order(record.order)
            self.requests[order.client_order_id] = order
            # sent: pending until an update says more (the process may have died first)
            self.last.setdefault(
                order.client_order_id, (OrderStatus.PENDING, 0, order.price, order.quantity)
            )
        elif isinstance(record, UnknownOrderFilled):
            fill = record.fill
            _positive(fill.quantity, "fill quantity")
            _positive(fill.price, "fill price")
            self.recovery.fills.append(
                RecoveredFill(
                    venue=fill.venue,
                    instrument=fill.instrument,
                    client_order_id=fill.client_order_id,
                    side=fill.side,
                    quantity=fill.quantity,
                    price=fill.price,
                    execution_id=fill.execution_id,
                    owner=None,
                )
            )
        else:
            self._update(record)

    def _update(self, update: OrderUpdate) -> None:
        cid = update.client_order_id
        order = self.requests.get(cid)
        if order is None or update.status is OrderStatus.DENIED:
            return  # denied before it was tracked
        _positive(update.price, "price")
        _positive(update.quantity, "quantity")
        if not 0 <= update.filled <= update.quantity:
            raise ValueError(f"filled {update.filled} of a quantity of {update.quantity}")
        self.last[cid] = (update.status, update.filled, update.price, update.quantity)
        if update.fill_quantity:
            _positive(update.fill_quantity, "fill quantity")
            _positive(update.fill_price, "fill price")
            self.recovery.fills.append(
                RecoveredFill(
                    venue=order.venue,
                    instrument=order.instrument,
                    client_order_id=cid,
                    side=order.side,
                    quantity=update.fill_quantity,
                    price=update.fill_price,
                    execution_id=update.execution_id,
                    owner=order.owner,
                )
            )


_DECODE_CHECKPOINT = msgspec.json.Decoder(StateCheckpoint).decode


def _checked_checkpoint(checkpoint: StateCheckpoint) -> StateCheckpoint:
    for kept in checkpoint.orders:
        order = _checked_order(kept.order)
        if not 0 <= kept.filled <= order.quantity:
            raise ValueError(f"filled {kept.filled} of a quantity of {order.quantity}")
    for position in checkpoint.positions:
        if position.average[1] <= 0 or position.realized[1] <= 0:
            raise ValueError(f"a position of {position.instrument} without a denominator")
    return checkpoint


def _positive(value: int, what: str) -> None:
    if not 0 < value < _MAX:
        raise ValueError(f"{what} {value}: not a positive 63-bit integer")


def _checked_order(order: SubmitOrder) -> SubmitOrder:
    _positive(order.price, "price")
    _positive(order.quantity, "quantity")
    if not order.client_order_id or not order.venue or not order.instrument:
        raise ValueError("an order without a client order id, venue or instrument")
    return order


def _latch(latched: dict[str, LatchedScope | None], change: KillSwitchChanged) -> None:
    """Follow one recorded kill-switch change."""
    if change.source in NOT_KEPT:
        return
    parse_scope(change.scope)  # a scope the journal cannot have written: an error
    latched[change.scope] = (
        None
        if change.state is TradingState.ACTIVE
        else LatchedScope(
            scope=change.scope, state=change.state, source=change.source, reason=change.reason
        )
    )


def restore(store: OrderStore, recovery: Recovery) -> None:
    """Put the recovered orders and fills into ``store`` (an empty one).

    Fills are applied in the order recorded, once each: a repeated execution id (a
    journal written by a bug) is counted as a duplicate, not applied.

    Raises:
        ValueError: ``store`` already holds orders or fills.

    """
    if store.orders or store.fills:
        raise ValueError("the store is not empty: recovery restores into a new one")
    order_ids: dict[str, int | None] = {}
    if recovery.checkpoint is not None:
        order_ids = _restore_checkpoint(store, recovery.checkpoint)
    for request, status, filled in recovery.orders:
        order = Order(
            request.client_order_id,
            request.instrument,
            side=request.side,
            price=request.price,
            quantity=request.quantity,
        )
        order.status, order.filled = status, filled
        store.orders[request.client_order_id] = Tracked(
            order=order, request=request, order_id=order_ids.get(request.client_order_id)
        )
    for fill in recovery.fills:
        if not store.record_execution(fill.venue, fill.execution_id):
            store.duplicate_fills += 1
            continue
        signed = fill.side.sign * fill.quantity
        store.ledger.apply_fill(fill.instrument, signed, fill.price)
        key = (fill.owner, fill.instrument)
        position = store.owner_positions.get(key)
        if position is None:
            position = store.owner_positions[key] = Position()
        position.apply_fill(signed, fill.price)
        store.owner_fills[key] = store.owner_fills.get(key, 0) + 1
        store.fills += 1
    store.prune()


def _restore_checkpoint(store: OrderStore, checkpoint: StateCheckpoint) -> dict[str, int | None]:
    """Positions, execution ids and the fill count of ``checkpoint``; its orders' venue ids."""
    for row in checkpoint.positions:
        position = Position()
        position.net = row.net
        position.average_price = Fraction(*row.average)
        position.realized = Fraction(*row.realized)
        if row.account:
            store.ledger.replace(row.instrument, position)
        else:
            store.owner_positions[(row.owner, row.instrument)] = position
            store.owner_fills[(row.owner, row.instrument)] = row.fills
    for ids in checkpoint.ids:
        if ids.unique:
            unique = UniqueIds()
            unique.seen.update(dict.fromkeys(ids.seen))
            store.ids[ids.venue] = unique
        else:
            store.ids[ids.venue] = SequentialIds(ids.watermark, set(ids.above))
    store.fills = checkpoint.fills
    return {kept.order.client_order_id: kept.order_id for kept in checkpoint.orders}


def write_meta(path: str | Path, items: dict[str, str]) -> None:
    """Set ``items`` in the journal's ``meta`` table (one transaction; not the schema's).

    Raises:
        JournalError: the errors of `connect`.
        JournalUnavailableError: the file cannot be written.

    """
    db = connect(path, create=True)
    try:
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(k, v) for k, v in items.items() if k != "schema_version"],
            )
    except sqlite3.OperationalError as exc:
        raise JournalUnavailableError(path, f"cannot be written: {exc}") from exc
    finally:
        db.close()
