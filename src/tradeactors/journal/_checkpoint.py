"""Checkpoints: the order manager's whole state as one journal record.

A restart restores the last checkpoint, then reads only what came after it, so its
start does not grow with the journal (docs/journal.md, "Recovery").
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import msgspec

from tradeactors.core.execution import SequentialIds
from tradeactors.core.messages import Message, SubmitOrder
from tradeactors.core.orders import OrderStatus

if TYPE_CHECKING:
    from tradeactors.core.execution import OrderStore
    from tradeactors.core.orders import Position

__all__ = [
    "CheckpointIds",
    "CheckpointOrder",
    "CheckpointPosition",
    "StateCheckpoint",
    "checkpoint_of",
]


class CheckpointPosition(msgspec.Struct, frozen=True, kw_only=True):
    """A position in a `StateCheckpoint`: the account's (``owner`` unset) or an owner's."""

    instrument: str
    net: int
    average: tuple[int, int]  # numerator, denominator (ticks)
    realized: tuple[int, int]  # tick * lot units
    owner: str | None = None
    fills: int = 0
    account: bool = False  # the instrument's row of the ledger, not an owner's


class CheckpointIds(msgspec.Struct, frozen=True, kw_only=True):
    """A venue's execution ids seen, in a `StateCheckpoint`."""

    venue: str
    unique: bool
    watermark: int = 0
    above: tuple[int, ...] = ()
    seen: tuple[int | str, ...] = ()  # unique ids, oldest first


class CheckpointOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An open order in a `StateCheckpoint` (its terms after any amend)."""

    order: SubmitOrder
    status: OrderStatus
    filled: int
    order_id: int | None = None


class StateCheckpoint(Message, frozen=True, kw_only=True, tag=True):
    """The order manager's whole state at one point of the journal (`checkpoint_of`).

    Its open orders, positions (the account's and each owner's, exact), execution ids
    seen and fill count: a restart restores it, then reads only what came after it.
    Closed orders are not in it: a late report of one is handled as one of an order
    not known (it still moves the position).
    """

    orders: tuple[CheckpointOrder, ...]
    positions: tuple[CheckpointPosition, ...]
    ids: tuple[CheckpointIds, ...]
    fills: int
    timestamp_ns: int


def checkpoint_of(store: OrderStore, now_ns: int) -> StateCheckpoint:
    """``store`` as a `StateCheckpoint` (called in the order manager's thread)."""
    positions = [
        _position_row(instrument, store.ledger.position(instrument), account=True)
        for instrument in store.ledger.instruments()
    ]
    positions += [
        _position_row(instrument, position, owner=owner, fills=store.owner_fills.get(key, 0))
        for key, position in store.owner_positions.items()
        for owner, instrument in (key,)
    ]
    ids = []
    for venue, seen in store.ids.items():
        if isinstance(seen, SequentialIds):
            ids.append(
                CheckpointIds(
                    venue=venue,
                    unique=False,
                    watermark=seen.watermark,
                    above=tuple(sorted(seen.above)),
                )
            )
        else:
            ids.append(CheckpointIds(venue=venue, unique=True, seen=tuple(seen.seen)))
    orders = tuple(
        CheckpointOrder(
            order=msgspec.structs.replace(
                t.request, price=t.order.price, quantity=t.order.quantity
            ),
            status=t.order.status,
            filled=t.order.filled,
            order_id=t.order_id,
        )
        for t in store.open_orders()
    )
    return StateCheckpoint(
        orders=orders,
        positions=tuple(positions),
        ids=tuple(ids),
        fills=store.fills,
        timestamp_ns=now_ns,
    )


def _position_row(
    instrument: str,
    position: Position,
    *,
    owner: str | None = None,
    fills: int = 0,
    account: bool = False,
) -> CheckpointPosition:
    average, realized = Fraction(position.average_price), Fraction(position.realized)
    return CheckpointPosition(
        instrument=instrument,
        net=position.net,
        average=(average.numerator, average.denominator),
        realized=(realized.numerator, realized.denominator),
        owner=owner,
        fills=fills,
        account=account,
    )
