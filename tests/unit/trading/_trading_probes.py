"""Stand-ins and helpers for the trading actor tests: neighbours, messages, syncing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeactors.core.book import BookView
from tradeactors.core.messages import (
    ExposureSnapshot,
    GetExposure,
    OrderAccepted,
    OrderFilled,
    Side,
    SubmitOrder,
)
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from tradeactors.supervision import Address
    from tradeactors.supervision.testing import Inbox

VENUE = "sim"
SYMBOL = "X"


class Flush:
    """Asked of a probe: once it answers, everything told to it before has arrived."""


class OrderManagerStandIn(SupervisedActor):
    """The order manager as risk sees it: every `GetExposure` answered with ``snapshot``.

    Each ask is then recorded in ``asks`` (``inbox`` if None): once there, the snapshot
    is in risk's mailbox. Everything else but `Flush` is recorded in ``inbox``.
    """

    def __init__(self, snapshot: ExposureSnapshot, inbox: Inbox, asks: Inbox | None = None):
        super().__init__()
        self._snapshot = snapshot
        self._inbox = inbox
        self._asks = inbox if asks is None else asks

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, GetExposure):
            assert message.reply_to is not None
            self.context.address_of(message.reply_to).tell(self._snapshot)
            self._asks.append(message)
        elif not isinstance(message, Flush):
            self._inbox.append(message)
        return None


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
