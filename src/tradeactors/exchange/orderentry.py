"""The simulated exchange's order-entry protocol: JSON over websocket (docs/protocol.md).

`OrderEntry` holds the sessions and turns requests into matching-engine calls and
engine events into execution reports. It is transport-free: the server feeds it text
and a send function per connection, under the exchange's lock, so it is tested and
reasoned about like a pure core. Secrets never leave it, never reach logs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.core.instrument import ParseError
from tradeactors.core.ratelimit import TokenBucket
from tradeactors.exchange.matching import (
    EngineAccepted,
    EngineAmended,
    EngineCanceled,
    EngineFilled,
    EngineRejected,
    Side,
    TimeInForce,
)

if TYPE_CHECKING:
    from tradeactors.core.instrument import Instrument
    from tradeactors.exchange.matching import Event, MatchingEngine

__all__ = ["OrderEntry", "Session", "sign"]

Send = Callable[[str], None]


def sign(secret: str, nonce: str) -> str:
    """The logon signature: hex HMAC-SHA256 of ``nonce`` under ``secret``."""
    return hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()


class _Request(msgspec.Struct, frozen=True, kw_only=True):
    op: str
    id: int | str | None = None
    api_key: str = ""
    nonce: str = ""
    signature: str = ""
    cancel_on_disconnect: bool = False
    client_order_id: str = ""
    side: str = ""
    quantity: str = ""
    price: str = ""
    tif: str = "gtc"
    type: str = "limit"
    post_only: bool = False
    order_id: int = 0
    since: int = 0
    timeout: float = 0.0


_decode = msgspec.json.Decoder(_Request).decode
_encode = msgspec.json.Encoder().encode


class Session:
    """One connection: who logged on, its flags and its message budget."""

    def __init__(self, send: Send, now_ns: int, rate_per_second: float, burst: int) -> None:
        self.send = send
        self.account: str | None = None
        self.cancel_on_disconnect = False
        self._budget = TokenBucket(rate_per_second, burst, now_ns)

    def allow(self, now_ns: int) -> bool:
        """Token bucket: ``burst`` messages at once, ``rate`` per second sustained."""
        return self._budget.take(now_ns)


class OrderEntry:
    """Sessions, requests and execution reports for one instrument of ``engine``."""

    def __init__(
        self,
        engine: MatchingEngine,
        instrument: Instrument,
        keys: dict[str, str],
        *,
        rate_per_second: float = 50.0,
        burst: int = 100,
    ) -> None:
        self._engine = engine
        self._instrument = instrument
        self._keys = dict(keys)  # api key -> secret (the api key is also the account)
        self._rate = rate_per_second
        self._burst = burst
        self._sessions: dict[object, Session] = {}
        self._deadlines: dict[str, int] = {}  # account -> cancel_all_after deadline (ns)
        self.requests: dict[tuple[str, str], int] = {}  # (account, op) -> requests taken
        self.muted: set[str] = set()  # accounts whose pushed reports are lost (fault)
        self.reject_until_ns = 0  # fault: new orders refused until then (monotonic ns)

    # -- connections -----------------------------------------------------------------

    def connect(self, connection: object, send: Send, now_ns: int) -> None:
        """A connection opened."""
        self._sessions[connection] = Session(send, now_ns, self._rate, self._burst)

    def connections_of(self, account: str) -> list[object]:
        """The connections logged on as ``account``."""
        return [c for c, s in self._sessions.items() if s.account == account]

    def disconnect(self, connection: object) -> list[Event]:
        """A connection closed: with ``cancel_on_disconnect``, its account's orders go."""
        session = self._sessions.pop(connection, None)
        if session is None or session.account is None or not session.cancel_on_disconnect:
            return []
        events = self._engine.cancel_all(account=session.account)
        self.report(events)
        return events

    def expire(self, now_ns: int) -> list[Event]:
        """Cancel the orders of accounts whose ``cancel_all_after`` ran out.

        Not reported here: the caller reports them with the rest of its step.
        """
        events: list[Event] = []
        for account, deadline in list(self._deadlines.items()):
            if now_ns >= deadline:
                del self._deadlines[account]
                events.extend(self._engine.cancel_all(account=account))
        return events

    def report(self, events: list[Event]) -> None:
        """Push execution reports to the sessions of the accounts concerned."""
        for event in events:
            account = getattr(event, "account", None)
            if account is None or account in self.muted:
                continue
            message = self._report(event)
            for session in self._sessions.values():
                if session.account == account:
                    session.send(message)

    # -- requests --------------------------------------------------------------------

    def handle(  # noqa: PLR0911 - one return per way a request ends
        self, connection: object, text: str | bytes, now_ns: int
    ) -> list[Event]:
        """Handle one request; answers go to the session. Returns engine events."""
        session = self._sessions[connection]
        allowed = session.allow(now_ns)  # every message counts, malformed ones too
        try:
            request = _decode(text)
        except msgspec.DecodeError as exc:
            session.send(_error(None, "bad_request" if allowed else "rate_limited", str(exc)))
            return []
        if not allowed:
            session.send(_error(request.id, "rate_limited", "too many messages"))
            return []
        if request.op == "logon":
            self._logon(session, request)
            return []
        if session.account is None:
            session.send(_error(request.id, "not_logged_on", "log on first"))
            return []
        key = (session.account, request.op)
        self.requests[key] = self.requests.get(key, 0) + 1
        if request.op == "place" and now_ns < self.reject_until_ns:
            session.send(_error(request.id, "venue_unavailable", "not taking orders"))
            return []
        try:
            events = self._dispatch(session, session.account, request, now_ns)
        except (ParseError, ValueError, KeyError) as exc:
            session.send(_error(request.id, "bad_request", str(exc)))
            return []
        self.report(events)
        if request.op in ("place", "cancel", "amend"):
            session.send(_answer(request.id, account=session.account, events=events))
        return events

    def _logon(self, session: Session, request: _Request) -> None:
        secret = self._keys.get(request.api_key)
        if (
            secret is None
            or not request.nonce
            or not hmac.compare_digest(sign(secret, request.nonce), request.signature)
        ):
            session.send(_error(request.id, "auth_failed", "unknown key or bad signature"))
            return
        session.account = request.api_key
        session.cancel_on_disconnect = request.cancel_on_disconnect
        session.send(_encode({"id": request.id, "result": {"account": request.api_key}}).decode())

    def _dispatch(  # noqa: PLR0911 - one return per op
        self, session: Session, account: str, request: _Request, now_ns: int
    ) -> list[Event]:
        engine, op = self._engine, request.op
        if op == "place":
            return self._place(account, request)
        if op == "cancel":
            return engine.cancel(account=account, order_id=request.order_id)
        if op == "cancel_all":
            events = engine.cancel_all(account=account)
            session.send(_encode({"id": request.id, "result": {"cancelled": len(events)}}).decode())
            return events
        if op == "amend":
            return engine.amend(
                account=account,
                order_id=request.order_id,
                remaining=self._instrument.size(request.quantity) if request.quantity else None,
                price=self._instrument.price(request.price) if request.price else None,
            )
        if op == "open_orders":
            orders = [self._order(o) for o in engine.open_orders(account)]
            session.send(_encode({"id": request.id, "result": orders}).decode())
            return []
        if op == "fills":
            fills = [self._fill(f) for f in engine.fills_since(account, request.since)]
            session.send(_encode({"id": request.id, "result": fills}).decode())
            return []
        if op == "cancel_all_after":
            if request.timeout > 0:
                self._deadlines[account] = now_ns + int(request.timeout * 1e9)
            else:
                self._deadlines.pop(account, None)
            session.send(
                _encode({"id": request.id, "result": {"timeout": request.timeout}}).decode()
            )
            return []
        raise ValueError(f"unknown op {op!r}")

    def _place(self, account: str, request: _Request) -> list[Event]:
        side = {"buy": Side.BUY, "sell": Side.SELL}[request.side]
        tif = {"gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}[request.tif]
        if request.type not in ("limit", "market"):
            raise ValueError(f"unknown order type {request.type!r}")
        return self._engine.submit(
            account=account,
            client_order_id=request.client_order_id,
            instrument=self._instrument.symbol,
            side=side,
            quantity=self._instrument.size(request.quantity),
            price=self._instrument.price(request.price),
            tif=TimeInForce.IOC if request.type == "market" else tif,
            post_only=request.post_only,
            market=request.type == "market",
        )

    # -- formatting ------------------------------------------------------------------

    def _order(self, order: Any) -> dict[str, Any]:
        return {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "side": order.side.value,
            "price": self._instrument.format_price(order.price),
            "remaining": self._instrument.format_size(order.remaining),
            "filled": self._instrument.format_size(order.filled),
        }

    def _fill(self, fill: EngineFilled) -> dict[str, Any]:
        return {
            "execution_id": fill.execution_id,
            "order_id": fill.order_id,
            "client_order_id": fill.client_order_id,
            "side": fill.side.value,
            "price": self._instrument.format_price(fill.price),
            "quantity": self._instrument.format_size(fill.quantity),
            "liquidity": fill.liquidity.value,
            "fee_e4": fill.fee_e4,
            "remaining": self._instrument.format_size(fill.remaining),
        }

    def _report(self, event: Event) -> str:
        fmt_price, fmt_size = self._instrument.format_price, self._instrument.format_size
        body: dict[str, Any]
        if isinstance(event, EngineFilled):
            body = {"event": "fill", **self._fill(event)}
        elif isinstance(event, EngineAccepted):
            body = {
                "event": "accepted",
                "order_id": event.order_id,
                "client_order_id": event.client_order_id,
                "side": event.side.value,
                "price": fmt_price(event.price),
                "quantity": fmt_size(event.quantity),
            }
        elif isinstance(event, EngineCanceled):
            body = {
                "event": "cancelled",
                "order_id": event.order_id,
                "client_order_id": event.client_order_id,
                "quantity": fmt_size(event.quantity),
                "reason": event.reason,
            }
        elif isinstance(event, EngineAmended):
            body = {
                "event": "amended",
                "order_id": event.order_id,
                "client_order_id": event.client_order_id,
                "price": fmt_price(event.price),
                "remaining": fmt_size(event.remaining),
                "kept_priority": event.kept_priority,
            }
        elif isinstance(event, EngineRejected):
            body = {
                "event": "rejected",
                "order_id": event.order_id,
                "client_order_id": event.client_order_id,
                "reason": event.reason.value,
            }
        else:  # pragma: no cover - every engine event is listed above
            body = {"event": type(event).__name__}
        return _encode(body).decode()


def _answer(request_id: int | str | None, *, account: str, events: list[Event]) -> str:
    """The reply to place/cancel/amend: the order id, or the reject reason as an error."""
    for event in events:
        if getattr(event, "account", None) != account:
            continue
        if isinstance(event, EngineRejected):
            return _error(request_id, event.reason.value, "rejected")
        if isinstance(event, EngineAccepted | EngineCanceled | EngineAmended):
            return _encode({"id": request_id, "result": {"order_id": event.order_id}}).decode()
    return _encode({"id": request_id, "result": {}}).decode()


def _error(request_id: int | str | None, code: str, message: str) -> str:
    return _encode({"id": request_id, "error": {"code": code, "message": message[:200]}}).decode()
