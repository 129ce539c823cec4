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

import json
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.core.execution import Tracked
from tradeactors.core.killswitch import ALL, TripSource
from tradeactors.core.messages import Side, SubmitOrder, TimeInForce
from tradeactors.core.orders import Order, OrderStatus, Position
from tradeactors.core.risk import TradingState
from tradeactors.journal._schema import JournalCorruptError, connect

if TYPE_CHECKING:
    from pathlib import Path

    from tradeactors.core.execution import OrderStore

__all__ = ["LatchedScope", "RecoveredFill", "Recovery", "read_recovery", "restore"]

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

    @property
    def empty(self) -> bool:
        """True if the journal holds no event (a new file)."""
        return self.events == 0

    def open_orders(self) -> list[SubmitOrder]:
        """The orders still open when the journal ends."""
        return [order for order, status, _filled in self.orders if status.open]


def read_recovery(path: str | Path) -> Recovery:
    """Read what ``path`` says of the orders, fills and kill switch (read-only).

    Raises:
        JournalError: the errors of `connect` (missing, not a journal, corrupt, version).

    """
    db = connect(path, create=False, read_only=True)
    try:
        return _read(db)
    except (sqlite3.DatabaseError, msgspec.ValidationError, ValueError, KeyError) as exc:
        raise JournalCorruptError(path, f"cannot be recovered from: {exc}") from exc
    finally:
        db.close()


_ORDER_EVENTS = "('submitted', 'order_update', 'fill', 'denial')"
_DECODE_ORDER = msgspec.json.Decoder(SubmitOrder).decode


def _read(db: sqlite3.Connection) -> Recovery:
    recovery = Recovery()
    row = db.execute("SELECT COUNT(*), COALESCE(MAX(time_ns), 0) FROM events").fetchone()
    recovery.events, recovery.last_time_ns = row[0], row[1]
    if not recovery.events:
        return recovery
    requests = _requests(db)
    # each order's last state: status and cumulative filled, terms after any amend
    last: dict[str, tuple[OrderStatus, int, int, int]] = {}
    owners: dict[str, str] = {cid: order.owner for cid, order in requests.items()}
    query = (
        "SELECT kind, client_order_id, status, filled_lots, payload FROM events "  # noqa: S608
        f"WHERE kind IN {_ORDER_EVENTS} OR kind = 'kill_switch' ORDER BY sequence"
    )
    latched: dict[str, LatchedScope | None] = {}
    for kind, cid, status, filled, payload in db.execute(query):
        if kind == "kill_switch":
            _latch(latched, json.loads(payload))
            continue
        if kind == "fill" and status is None:  # an order not known then
            fill = json.loads(payload)["fill"]
            recovery.fills.append(_fill(fill, fill["execution_id"], owner=None))
            continue
        if cid not in requests or status is None:
            continue  # a denial: never tracked
        update = json.loads(payload)
        order = requests[cid]
        price, quantity = update.get("price", order.price), update.get("quantity", order.quantity)
        last[cid] = (OrderStatus(status), filled or 0, price, quantity)
        if kind == "fill":
            fill = {
                "venue": order.venue,
                "instrument": order.instrument,
                "client_order_id": cid,
                "side": order.side.value,
                "quantity": update["fill_quantity"],
                "price": update["fill_price"],
            }
            recovery.fills.append(_fill(fill, update["execution_id"], owner=owners[cid]))
    for cid, (status, filled, price, quantity) in last.items():
        if status is OrderStatus.DENIED:
            continue
        order = msgspec.structs.replace(requests[cid], price=price, quantity=quantity)
        recovery.orders.append((order, status, filled))
    recovery.kill_switch = [scope for scope in latched.values() if scope is not None]
    return recovery


def _requests(db: sqlite3.Connection) -> dict[str, SubmitOrder]:
    """Every order's request: its `OrderSubmitted` record, or its row (older journals)."""
    requests: dict[str, SubmitOrder] = {}
    for row in db.execute(
        "SELECT client_order_id, owner, venue, instrument, side, price_ticks, quantity_lots, "
        "tif FROM orders ORDER BY first_seen_ns"
    ):
        cid, owner, venue, instrument, side, price, quantity, tif = row
        requests[cid] = SubmitOrder(
            client_order_id=cid,
            venue=venue,
            instrument=instrument,
            side=Side(side),
            price=price,
            quantity=quantity,
            owner=owner,
            tif=TimeInForce(tif) if tif else TimeInForce.GTC,
        )
    for (payload,) in db.execute("SELECT payload FROM events WHERE kind = 'submitted'"):
        order = _DECODE_ORDER(json.dumps(json.loads(payload)["order"]))
        requests[order.client_order_id] = order
    return requests


def _fill(fields: dict[str, Any], execution_id: int | str, *, owner: str | None) -> RecoveredFill:
    return RecoveredFill(
        venue=fields["venue"],
        instrument=fields["instrument"],
        client_order_id=fields["client_order_id"],
        side=Side(fields["side"]),
        quantity=int(fields["quantity"]),
        price=int(fields["price"]),
        execution_id=execution_id,
        owner=owner,
    )


def _latch(latched: dict[str, LatchedScope | None], change: dict[str, Any]) -> None:
    """Follow one recorded kill-switch change (its JSON payload)."""
    if change["source"] in NOT_KEPT:
        return
    scope = change.get("scope", ALL)
    state = TradingState(change["state"])
    latched[scope] = (
        None
        if state is TradingState.ACTIVE
        else LatchedScope(
            scope=scope, state=state, source=change["source"], reason=change["reason"]
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
    for request, status, filled in recovery.orders:
        order = Order(
            request.client_order_id,
            request.instrument,
            side=request.side,
            price=request.price,
            quantity=request.quantity,
        )
        order.status, order.filled = status, filled
        store.orders[request.client_order_id] = Tracked(order=order, request=request)
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
