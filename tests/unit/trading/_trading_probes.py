"""Stand-ins and helpers for the trading actor tests: neighbours, messages, syncing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeactors.core.book import BookView
from tradeactors.core.messages import (
    OrderAccepted,
    OrderFilled,
    Side,
    SubmitOrder,
)

if TYPE_CHECKING:
    from tradeactors.supervision import Address
    from tradeactors.supervision.testing import Inbox

VENUE = "sim"
SYMBOL = "X"


class Flush:
    """Asked of a probe: once it answers, everything told to it before has arrived."""


def flush(address: Address) -> None:
    """Wait until ``address`` has handled everything already in its mailbox."""
    address.ask(Flush(), timeout=10)


def received(inbox: Inbox, kind: type | None = None) -> list[Any]:
    """The messages a `Probe` recorded (without incarnations and flushes), of ``kind``."""
    return [
        message
        for _incarnation, message in inbox.snapshot()
        if not isinstance(message, Flush) and (kind is None or isinstance(message, kind))
    ]


def submit(
    cid: str,
    *,
    side: Side = Side.BUY,
    price: int = 100,
    quantity: int = 10,
    owner: str = "owner",
    instrument: str = SYMBOL,
) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=cid,
        venue=VENUE,
        instrument=instrument,
        side=side,
        price=price,
        quantity=quantity,
        owner=owner,
    )


def accepted(cid: str, order_id: int) -> OrderAccepted:
    return OrderAccepted(venue=VENUE, client_order_id=cid, order_id=order_id)


def filled(
    cid: str,
    *,
    order_id: int,
    execution_id: int,
    quantity: int,
    remaining: int,
    side: Side = Side.BUY,
    price: int = 100,
) -> OrderFilled:
    return OrderFilled(
        venue=VENUE,
        instrument=SYMBOL,
        client_order_id=cid,
        order_id=order_id,
        execution_id=execution_id,
        side=side,
        price=price,
        quantity=quantity,
        remaining=remaining,
    )


def book(bid: int, ask: int, update_id: int = 1, symbol: str = SYMBOL) -> BookView:
    return BookView(
        instrument=f"{VENUE}:{symbol}",
        update_id=update_id,
        timestamp_ns=0,
        bids=((bid, 1),),
        asks=((ask, 1),),
    )
