"""The simulated exchange as a venue adapter (its client side; the server is `exchange`).

Market data is Binance spot's format (the simulator publishes it), so the market-data
side is Binance's. Order entry is the simulator's JSON protocol (docs/protocol.md):
one codec, used by the gateway, by the system's open-orders check and by tests.
Fill ids are 1, 2, 3... per account, so a fill lost on the link is detected.

Amends are the protocol's ``amend`` (``order_id``, ``quantity``: the new *remaining*
quantity, and ``price`` when it changes): a lower quantity at the same price is done in
place (event ``amended``: `OrderAmended`, priority kept); a new price is a cancel-replace
(``cancelled`` with reason ``replaced``, then ``accepted`` with a new order id: the order
manager reads the pair as the amend done). A higher quantity at the same price is
refused by the venue (``amend_quantity_increase``), so the gateway never sends one
(``amend_increases`` is False). The remaining quantity sent is the new total less what
the order manager counts as filled: a fill racing the amend leaves the order with more
in total than asked (never more open than asked).

Several instruments: the codec is made with them by symbol (`order_entry(venue,
{symbol: instrument})`); orders name their ``symbol``, reports and replies carry it and
each is read in its own instrument's tick and lot. A report of a symbol the codec does
not know is a bad frame (``ValueError``: counted and dropped by the gateway). Open
orders, fills and cancel-all cover every symbol of the account (one request each).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.clock import SystemClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import (
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Side,
    VenueOrder,
)
from tradeactors.venues.adapter import Credentials, FillIds, Reply, Request
from tradeactors.venues.binance import BinanceMarketData

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tradeactors.clock import Clock
    from tradeactors.core.messages import AmendAtVenue, Message, SubmitOrder
    from tradeactors.venues.adapter import RestRequest

__all__ = ["ADAPTER", "SimOrderEntry"]


class _Frame(msgspec.Struct, kw_only=True):
    """Any frame from the venue: a reply (``id``) or a pushed report (``event``)."""

    id: int | str | None = None
    result: Any = None
    error: dict[str, str] | None = None
    event: str | None = None
    order_id: int | None = None  # None in a reject of an order the venue never took
    client_order_id: str = ""
    symbol: str = ""  # absent: the venue serves one instrument
    execution_id: int = 0
    side: str = ""
    price: str = "0"
    quantity: str = "0"
    remaining: str = "0"
    filled: str = "0"
    fee_e4: int = 0
    reason: str = ""


class _OpenOrder(msgspec.Struct, kw_only=True):
    order_id: int
    client_order_id: str
    symbol: str = ""
    side: str
    price: str
    remaining: str
    filled: str


_decode = msgspec.json.Decoder(_Frame).decode
_encode = msgspec.json.Encoder().encode
_OPS = {
    Request.PLACE: "place",
    Request.CANCEL: "cancel",
    Request.CANCEL_ALL: "cancel_all",
    Request.HEARTBEAT: "cancel_all_after",
    Request.FILLS: "fills",
    Request.OPEN_ORDERS: "open_orders",
    Request.AMEND: "amend",
}


class SimOrderEntry:
    """The simulated exchange's order-entry codec for one gateway (venue, instruments).

    ``instruments``: the one `Instrument` the gateway trades, or several by symbol.
    """

    fill_ids = FillIds.SEQUENTIAL
    has_dead_man_switch = True
    has_cancel_on_disconnect = True
    amend_increases = False  # the venue refuses more quantity at the same price

    def __init__(
        self,
        venue: str,
        instruments: Instrument | Mapping[str, Instrument],
        *,
        clock: Clock | None = None,
    ) -> None:
        self._venue = venue
        self._instruments = (
            {instruments.symbol: instruments}
            if isinstance(instruments, Instrument)
            else dict(instruments)
        )
        if not self._instruments:
            raise ValueError("an order-entry codec needs at least one instrument")
        self._only = next(iter(self._instruments.values())) if len(self._instruments) == 1 else None
        self._clock: Clock = clock if clock is not None else SystemClock()  # wall time only

    def session_request(
        self,
        credentials: Credentials,  # noqa: ARG002 - the protocol's
        rest_url: str,  # noqa: ARG002
    ) -> RestRequest | None:
        """No REST call before connecting: the logon authenticates."""
        return None

    def prelude(self, request_id: int) -> str | None:  # noqa: ARG002 - the protocol's
        """Nothing to send before the logon."""
        return None

    def logon(
        self, request_id: int, credentials: Credentials, *, cancel_on_disconnect: bool
    ) -> str:
        """``logon`` signed with HMAC-SHA256 of ``"{timestamp}:{nonce}"``.

        The timestamp (ms) must be within the venue's window and the nonce fresh: a
        logon frame is good for one logon, a few seconds (docs/protocol.md).
        """
        timestamp = self._clock.time_ns() // 1_000_000
        nonce = secrets.token_hex(16)
        return _encode(
            {
                "op": "logon",
                "id": request_id,
                "api_key": credentials.api_key,
                "timestamp": timestamp,
                "nonce": nonce,
                "signature": credentials.hmac_sha256(f"{timestamp}:{nonce}"),
                "cancel_on_disconnect": cancel_on_disconnect,
            }
        ).decode()

    def encode(self, request: Request, request_id: int, fields: dict[str, Any]) -> str:
        """Any request but the logon."""
        body: dict[str, Any] = {"op": _OPS[request], "id": request_id}
        if request is Request.PLACE:
            order: SubmitOrder = fields["order"]
            instrument = self._only or self._instrument(order.instrument)
            body.update(
                client_order_id=order.client_order_id,
                symbol=instrument.symbol,
                side=str(order.side),  # a StrEnum, or its string
                price=instrument.format_price(order.price),
                quantity=instrument.format_size(order.quantity),
                type="limit",
                tif=str(order.tif),
                post_only=order.post_only,
            )
        elif request is Request.CANCEL:
            body["order_id"] = fields["order_id"]
        elif request is Request.AMEND:
            amend: AmendAtVenue = fields["amend"]
            instrument = self._only or self._instrument(amend.order.instrument)
            body["order_id"] = amend.order_id
            body["quantity"] = instrument.format_size(amend.remaining)
            if amend.price != amend.order.price:
                body["price"] = instrument.format_price(amend.price)
        elif request is Request.HEARTBEAT:
            body["timeout"] = fields["timeout"]
        elif request is Request.FILLS:
            body["since"] = fields["since"]
        return _encode(body).decode()

    def decode(self, payload: str | bytes) -> Reply | Message | None:
        """A reply (by ``id``), or a pushed report as a contract event."""
        frame = _decode(payload)
        if frame.event is not None:
            return self._report(frame)
        if not isinstance(frame.id, int):
            return None  # not one of our requests (the gateway's ids are integers)
        if frame.error is not None:
            return Reply(
                frame.id,
                error=frame.error.get("code", "?"),
                message=frame.error.get("message", ""),
            )
        return Reply(frame.id, result=frame.result)

    def fills(self, result: Any) -> tuple[OrderFilled, ...]:
        """The fills of a ``fills`` reply."""
        if not isinstance(result, list):
            raise ValueError("a fills reply is a list")  # noqa: TRY004 - a bad frame
        return tuple(self._filled(msgspec.convert(f, _Frame)) for f in result)

    def open_orders(self, result: Any) -> tuple[VenueOrder, ...]:
        """The orders of an ``open_orders`` reply (every symbol's).

        Raises:
            ValueError: an order of a symbol the codec does not know (the reply is bad:
                reconciliation cannot trust a list it cannot read whole).

        """
        orders = []
        for o in msgspec.convert(result, list[_OpenOrder]):
            instrument = self._instrument(o.symbol)
            orders.append(
                VenueOrder(
                    order_id=o.order_id,
                    client_order_id=o.client_order_id,
                    side=Side(o.side),
                    price=instrument.price(o.price),
                    remaining=instrument.size(o.remaining),
                    filled=instrument.size(o.filled),
                )
            )
        return tuple(orders)

    def cancelled(self, result: Any) -> int:
        """``{"cancelled": N}``."""
        count = result.get("cancelled", 0) if isinstance(result, dict) else 0
        return count if isinstance(count, int) else 0

    def _report(self, frame: _Frame) -> Message | None:
        venue = self._venue
        if frame.event == "fill":
            return self._filled(frame)
        if frame.event == "accepted":
            return OrderAccepted(
                venue=venue, client_order_id=frame.client_order_id, order_id=frame.order_id or 0
            )
        if frame.event in ("cancelled", "expired"):  # expired: IOC/FOK/market rules, STP
            return OrderCanceled(
                venue=venue,
                client_order_id=frame.client_order_id,
                order_id=frame.order_id or 0,
                reason=frame.reason,
                remaining=self._instrument(frame.symbol).size(frame.quantity),
                expired=frame.event == "expired",
            )
        if frame.event == "amended":
            instrument = self._instrument(frame.symbol)
            return OrderAmended(
                venue=venue,
                client_order_id=frame.client_order_id,
                order_id=frame.order_id or 0,
                price=instrument.price(frame.price),
                remaining=instrument.size(frame.remaining),
                kept_priority=True,
            )
        if frame.event == "rejected" and frame.order_id is None:
            return OrderRejected(
                venue=venue, client_order_id=frame.client_order_id, reason=frame.reason
            )
        return None  # a refused cancel or amend of an order: its reply says it

    def _instrument(self, symbol: str) -> Instrument:
        """The instrument of ``symbol``; "" (a one-instrument venue's frames): the only one.

        Raises:
            ValueError: a symbol this codec does not trade (a bad frame for the gateway).

        """
        instrument = self._instruments.get(symbol) if symbol else self._only
        if instrument is None:
            raise ValueError(f"a report of symbol {symbol[:40]!r}, not one of this gateway's")
        return instrument

    def _filled(self, frame: _Frame) -> OrderFilled:
        instrument = self._instrument(frame.symbol)
        return OrderFilled(
            venue=self._venue,
            instrument=instrument.symbol,
            client_order_id=frame.client_order_id,
            order_id=frame.order_id or 0,
            execution_id=frame.execution_id,
            side=Side(frame.side),
            price=instrument.price(frame.price),
            quantity=instrument.size(frame.quantity),
            remaining=instrument.size(frame.remaining),
            fee_e4=frame.fee_e4,
        )


class _SimAdapter:
    kind = "sim"
    market_data = BinanceMarketData()  # the simulator publishes Binance spot's format
    order_entry = SimOrderEntry


ADAPTER = _SimAdapter()
"""The simulated exchange (`tradeactors.exchange`) as a venue adapter."""
