"""The simulated exchange's order-entry protocol: JSON over websocket (docs/protocol.md).

`OrderEntry` holds the sessions and turns requests into matching-engine calls and
engine events into execution reports. It is transport-free: the server feeds it text
and a send function per connection, under the exchange's lock, so it is tested and
reasoned about like a pure core. Secrets never leave it, never reach logs.

Every request gets a reply and none ends its session: malformed JSON, wrong types,
numbers out of range, unknown ops and frames nested too deep for the decoder are
``bad_request`` errors. A logon is signed over a timestamp and a nonce; one outside
the venue's window, or a nonce already used within it, is refused, so a captured logon
cannot be replayed.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import structlog
from msgspec import Meta

from tradeactors.core.instrument import Instrument, ParseError
from tradeactors.core.ratelimit import TokenBucket
from tradeactors.exchange.matching import (
    CancelStatus,
    EngineAccepted,
    EngineAmended,
    EngineCanceled,
    EngineFilled,
    EngineRejected,
    RejectReason,
    Side,
    TimeInForce,
    read_price,
    read_quantity,
)

if TYPE_CHECKING:
    from tradeactors.exchange.matching import Event, MatchingEngine

__all__ = ["LOGON_WINDOW_MS", "MAX_CANCEL_ALL_AFTER", "OrderEntry", "Session", "sign"]

Send = Callable[[str], bool]
"""Queue one frame for a connection; False if the connection is gone or was dropped."""

LOGON_WINDOW_MS = 5_000
"""A logon's timestamp may be this far from the venue's clock, either way (skew)."""
MAX_CANCEL_ALL_AFTER = 86_400.0
"""The longest ``cancel_all_after`` timeout, in seconds (a day, as Kraken's)."""
_MAX_NONCES = 10_000  # accepted logons remembered per API key within the window
_OPS = frozenset(
    {"logon", "place", "cancel", "cancel_all", "amend", "open_orders", "fills", "cancel_all_after"}
)


def sign(secret: str, timestamp: int, nonce: str) -> str:
    """The logon signature: hex HMAC-SHA256 of ``"{timestamp}:{nonce}"`` under ``secret``."""
    message = f"{timestamp}:{nonce}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


_Int64 = Annotated[int, Meta(ge=0, le=2**63 - 1)]
_Text = Annotated[str, Meta(max_length=64)]
_Decimal = Annotated[str, Meta(max_length=40)]  # a price or quantity, "100.25"


class _Id(msgspec.Struct, frozen=True):
    """Just the request id, to answer a request that failed to decode."""

    id: Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)] | _Text | None = None


class _Request(_Id, frozen=True, kw_only=True):
    op: _Text
    api_key: _Text = ""
    timestamp: _Int64 = 0  # logon: ms since the epoch
    nonce: _Text = ""
    signature: _Text = ""
    cancel_on_disconnect: bool = False
    client_order_id: _Text = ""
    side: _Text = ""
    quantity: _Decimal = ""
    price: _Decimal = ""
    tif: _Text = "gtc"
    type: _Text = "limit"
    post_only: bool = False
    order_id: _Int64 = 0
    symbol: _Text = ""  # place (required if the venue serves several), cancel_all, open_orders
    since: _Int64 = 0
    timeout: Annotated[float, Meta(ge=0, le=MAX_CANCEL_ALL_AFTER)] = 0.0


_decode = msgspec.json.Decoder(_Request).decode
_decode_id = msgspec.json.Decoder(_Id).decode
_encode = msgspec.json.Encoder().encode


def _id_of(text: str | bytes) -> int | str | None:
    """The id of a request that did not decode, if it has a valid one."""
    try:
        return _decode_id(text).id
    except (msgspec.DecodeError, RecursionError):
        return None


class _Nonces:
    """The nonces of one key's accepted logons.

    Each is kept until its logon's timestamp leaves the window; after that the
    timestamp alone refuses a replay.
    """

    def __init__(self) -> None:
        self._forget: dict[str, int] = {}  # nonce -> forget after (ms)
        self._order: list[tuple[int, str]] = []  # heap of (forget after, nonce)

    def __contains__(self, nonce: str) -> bool:
        return nonce in self._forget

    def __len__(self) -> int:
        return len(self._forget)

    def add(self, nonce: str, *, forget_ms: int) -> None:
        """Remember ``nonce`` until ``forget_ms``. O(log n)."""
        self._forget[nonce] = forget_ms
        heapq.heappush(self._order, (forget_ms, nonce))

    def forget_before(self, now_ms: int) -> None:
        """Drop the nonces whose logons are outside the window. O(k log n) for k dropped."""
        while self._order and self._order[0][0] < now_ms:
            _, nonce = heapq.heappop(self._order)
            del self._forget[nonce]


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


class UnknownSymbolError(ValueError):
    """A request named a symbol the venue does not serve (error ``unknown_symbol``)."""


class OrderEntry:
    """Sessions, requests and execution reports for the instruments of ``engine``.

    ``instruments``: one `Instrument`, or several by symbol. A ``place`` names its
    ``symbol`` (it may leave it out when the venue serves one instrument); a symbol the
    venue does not serve is refused (``unknown_symbol``). ``open_orders``,
    ``cancel_all`` and ``fills`` cover every symbol unless a ``symbol`` narrows them
    (``fills`` always covers all: its watermark is per account).

    ``cancel_on_disconnect=False``: a venue that has none (as Binance and Kraken spot):
    the logon flag is accepted and ignored, so a dropped session's orders stay on the
    book until cancelled or until the account's ``cancel_all_after`` runs out.
    """

    def __init__(
        self,
        engine: MatchingEngine,
        instruments: Instrument | Mapping[str, Instrument],
        keys: dict[str, str],
        *,
        rate_per_second: float = 50.0,
        burst: int = 100,
        cancel_on_disconnect: bool = True,
    ) -> None:
        self._engine = engine
        self._honours_cancel_on_disconnect = cancel_on_disconnect
        self._instruments = (
            {instruments.symbol: instruments}
            if isinstance(instruments, Instrument)
            else dict(instruments)
        )
        if not self._instruments:
            raise ValueError("an order entry needs at least one instrument")
        self._keys = dict(keys)  # api key -> secret (the api key is also the account)
        self._rate = rate_per_second
        self._burst = burst
        self._sessions: dict[object, Session] = {}
        self._log = structlog.get_logger("tradeactors.exchange").bind(
            symbol=",".join(self._instruments)
        )
        self._nonces: dict[str, _Nonces] = {}  # api key -> nonces of accepted logons
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

    def handle(
        self, connection: object, text: str | bytes, now_ns: int, *, wall_ns: int
    ) -> list[Event]:
        """Handle one request; answers go to the session. Returns engine events.

        ``now_ns`` is monotonic (rates, deadlines), ``wall_ns`` the venue's wall clock
        (logon timestamps). Never raises for a bad request: every request is answered
        and the session stays.
        """
        session = self._sessions[connection]
        try:
            return self._handle(session, text, now_ns, wall_ns)
        except Exception as exc:  # noqa: BLE001 - a bug must not end the session: answer, log
            self._log.exception("request_failed", error=type(exc).__name__)
            session.send(_error(_id_of(text), "internal_error", type(exc).__name__))
            return []

    def _handle(  # noqa: PLR0911 - one return per way a request ends
        self, session: Session, text: str | bytes, now_ns: int, wall_ns: int
    ) -> list[Event]:
        allowed = session.allow(now_ns)  # every message counts, malformed ones too
        try:
            request = _decode(text)
        except RecursionError:
            session.send(_error(None, "bad_request" if allowed else "rate_limited", "too deep"))
            return []
        except msgspec.DecodeError as exc:
            code = "bad_request" if allowed else "rate_limited"
            session.send(_error(_id_of(text), code, str(exc)))
            return []
        if not allowed:
            session.send(_error(request.id, "rate_limited", "too many messages"))
            return []
        if request.op == "logon":
            self._logon(session, request, wall_ns // 1_000_000)
            return []
        if session.account is None:
            session.send(_error(request.id, "not_logged_on", "log on first"))
            return []
        if request.op not in _OPS:  # not counted: the set of ops counted stays bounded
            session.send(_error(request.id, "bad_request", f"unknown op {request.op!r}"))
            return []
        key = (session.account, request.op)
        self.requests[key] = self.requests.get(key, 0) + 1
        if request.op == "place" and now_ns < self.reject_until_ns:
            session.send(_error(request.id, "venue_unavailable", "not taking orders"))
            return []
        try:
            events = self._dispatch(session, session.account, request, now_ns)
        except UnknownSymbolError as exc:
            session.send(_error(request.id, "unknown_symbol", str(exc)))
            return []
        except (ParseError, ValueError, KeyError) as exc:
            session.send(_error(request.id, "bad_request", str(exc)))
            return []
        self.report(events)
        self._answer(session, session.account, request, events)
        return events

    @staticmethod
    def _answer(session: Session, account: str, request: _Request, events: list[Event]) -> None:
        """Answer a request that changed orders, after its reports went out."""
        if request.op in ("place", "cancel", "amend"):
            session.send(_answer(request.id, account=account, events=events))
        elif request.op == "cancel_all":
            # Each cancellation is reported before the answer: a client may take an
            # order still open at the answer as lost (and fetch its fills).
            session.send(_encode({"id": request.id, "result": {"cancelled": len(events)}}).decode())

    def _logon(self, session: Session, request: _Request, now_ms: int) -> None:
        """Check key, signature, timestamp window and nonce reuse, in that order.

        Only a correctly signed logon is remembered, so only a key's holder can fill
        its nonce set, and only up to `_MAX_NONCES` within one window.
        """
        secret = self._keys.get(request.api_key)
        if (
            secret is None
            or not request.nonce
            or not hmac.compare_digest(
                sign(secret, request.timestamp, request.nonce), request.signature
            )
        ):
            session.send(_error(request.id, "auth_failed", "unknown key or bad signature"))
            return
        skew = request.timestamp - now_ms
        if abs(skew) > LOGON_WINDOW_MS:
            message = f"timestamp is {skew} ms from the venue's clock (allowed: {LOGON_WINDOW_MS})"
            session.send(_error(request.id, "invalid_timestamp", message))
            return
        seen = self._nonces.setdefault(request.api_key, _Nonces())
        seen.forget_before(now_ms)
        if request.nonce in seen:
            session.send(_error(request.id, "replayed_nonce", "nonce already used: log on anew"))
            return
        if len(seen) >= _MAX_NONCES:
            session.send(_error(request.id, "rate_limited", "too many logons"))
            return
        seen.add(request.nonce, forget_ms=request.timestamp + LOGON_WINDOW_MS)
        session.account = request.api_key
        session.cancel_on_disconnect = (
            request.cancel_on_disconnect and self._honours_cancel_on_disconnect
        )
        session.send(_encode({"id": request.id, "result": {"account": request.api_key}}).decode())

    def _dispatch(  # noqa: PLR0911 - one return per op
        self, session: Session, account: str, request: _Request, now_ns: int
    ) -> list[Event]:
        engine, op = self._engine, request.op
        if op == "place":
            return self._place(account, request)
        if op == "cancel":
            return engine.cancel(account=account, order_id=request.order_id)
        if op == "cancel_all":  # answered after its reports (by the caller)
            symbol = self._symbol(request, required=False)
            return engine.cancel_all(account=account, instrument=symbol)
        if op == "amend":
            return self._amend(account, request)
        if op == "open_orders":
            symbol = self._symbol(request, required=False)
            orders = [self._order(o) for o in engine.open_orders(account, symbol)]
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

    def _symbol(self, request: _Request, *, required: bool) -> str | None:
        """The request's ``symbol``: one the venue serves, or None for all (if allowed).

        A ``place`` without one is for the venue's only instrument; with several, it
        must say which.
        """
        if not request.symbol:
            if not required:
                return None
            if len(self._instruments) == 1:
                return next(iter(self._instruments))
            raise ValueError("symbol is required: the venue serves several instruments")
        if request.symbol not in self._instruments:
            raise UnknownSymbolError(f"unknown symbol {request.symbol!r}")
        return request.symbol

    def _place(self, account: str, request: _Request) -> list[Event]:
        side = {"buy": Side.BUY, "sell": Side.SELL}[request.side]
        tif = {"gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}[request.tif]
        if request.type not in ("limit", "market"):
            raise ValueError(f"unknown order type {request.type!r}")
        symbol = self._symbol(request, required=True)
        assert symbol is not None  # noqa: S101 - required
        instrument = self._instruments[symbol]
        # a decimal off the tick or lot fails the venue's filter (a reject, as Binance's
        # -1013); only what is not a decimal at all is a bad request (ParseError)
        price = read_price(instrument, request.price)
        if isinstance(price, RejectReason):
            return [_refused(account, request.client_order_id, price, None)]
        quantity = read_quantity(instrument, request.quantity)
        if isinstance(quantity, RejectReason):
            return [_refused(account, request.client_order_id, quantity, None)]
        return self._engine.submit(
            account=account,
            client_order_id=request.client_order_id,
            instrument=symbol,
            side=side,
            quantity=quantity,
            price=price,
            tif=TimeInForce.IOC if request.type == "market" else tif,
            post_only=request.post_only,
            market=request.type == "market",
        )

    def _amend(self, account: str, request: _Request) -> list[Event]:
        instrument = self._instrument_of(request.order_id)
        if instrument is None:  # never an order here: the engine says which way
            return self._engine.amend(account=account, order_id=request.order_id)
        price = read_price(instrument, request.price) if request.price else None
        if isinstance(price, RejectReason):
            return [_refused(account, "", price, request.order_id)]
        quantity = read_quantity(instrument, request.quantity) if request.quantity else None
        if isinstance(quantity, RejectReason):
            return [_refused(account, "", quantity, request.order_id)]
        return self._engine.amend(
            account=account, order_id=request.order_id, remaining=quantity, price=price
        )

    # -- formatting ------------------------------------------------------------------

    def _instrument_of(self, order_id: int | None) -> Instrument | None:
        """The instrument of an order the engine took, None if it took none by that id."""
        symbol = self._engine.instrument_of(order_id) if order_id is not None else None
        return self._instruments.get(symbol) if symbol is not None else None

    def _order(self, order: Any) -> dict[str, Any]:
        instrument = self._instruments[order.instrument]
        return {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "symbol": order.instrument,
            "side": order.side.value,
            "price": instrument.format_price(order.price),
            "remaining": instrument.format_size(order.remaining),
            "filled": instrument.format_size(order.filled),
        }

    def _fill(self, fill: EngineFilled) -> dict[str, Any]:
        instrument = self._instruments[fill.instrument]
        return {
            "execution_id": fill.execution_id,
            "order_id": fill.order_id,
            "client_order_id": fill.client_order_id,
            "symbol": fill.instrument,
            "side": fill.side.value,
            "price": instrument.format_price(fill.price),
            "quantity": instrument.format_size(fill.quantity),
            "liquidity": fill.liquidity.value,
            "fee_e4": fill.fee_e4,
            "remaining": instrument.format_size(fill.remaining),
        }

    def _report(self, event: Event) -> str:
        known = self._instrument_of(event.order_id)
        # a refusal of an order the venue never took has no amounts to format
        instrument = known if known is not None else next(iter(self._instruments.values()))
        fmt_price, fmt_size = instrument.format_price, instrument.format_size
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
            # Binance's execution types: CANCELED when asked for, EXPIRED by the order's
            # rules (IOC/FOK/market) or by self-trade prevention (EXPIRED_IN_MATCH)
            expired = event.status is not CancelStatus.CANCELED
            body = {
                "event": "expired" if expired else "cancelled",
                "order_id": event.order_id,
                "client_order_id": event.client_order_id,
                "quantity": fmt_size(event.quantity),
                "reason": event.reason,
                "status": event.status.value,
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
        if known is not None:
            body.setdefault("symbol", known.symbol)
        return _encode(body).decode()


def _answer(request_id: int | str | None, *, account: str, events: list[Event]) -> str:
    """The reply to place/cancel/amend: the order id, or the reject reason as an error."""
    for event in events:
        if getattr(event, "account", None) != account:
            continue
        if isinstance(event, EngineRejected):
            return _error(request_id, event.reason.value, event.reason.message)
        if isinstance(event, EngineCanceled) and event.reason == "replaced":
            continue  # a cancel-replace: answer with the new order's id, which follows
        if isinstance(event, EngineAccepted | EngineCanceled | EngineAmended):
            return _encode({"id": request_id, "result": {"order_id": event.order_id}}).decode()
    return _encode({"id": request_id, "result": {}}).decode()


def _refused(
    account: str, client_order_id: str, reason: RejectReason, order_id: int | None
) -> EngineRejected:
    return EngineRejected(
        account=account, client_order_id=client_order_id, order_id=order_id, reason=reason
    )


def _error(request_id: int | str | None, code: str, message: str) -> str:
    return _encode({"id": request_id, "error": {"code": code, "message": message[:200]}}).decode()
