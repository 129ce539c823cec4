"""A venue of our own invention ("fakex"), to prove that a venue is one place.

It lives entirely in the test folder: the trading tree trades at it through
`FAKE_ADAPTER`, registered with `register_venue`, and nothing under ``src/`` names it.

Order entry (``ws://HOST:PORT/trade``) is a made-up JSON-RPC-ish protocol, deliberately
unlike the simulated exchange's (docs/protocol.md):

- request ``{"method": M, "params": {...}, "rid": N}``; reply ``{"rid": N, "ok": RESULT}``
  or ``{"rid": N, "err": {"code": "E_...", "msg": TEXT}}``;
- pushed, unasked: ``{"type": "hello"}`` on connect (nothing for a gateway) and
  ``{"type": "exec", "kind": "new"|"fill"|"cxl", "oid": "O-7", "cl": ..., ...}``;
- methods ``auth`` (``key``, ``nonce``, ``sig`` = HMAC-SHA256 of ``fakex|KEY|NONCE``,
  ``cod``: cancel-on-disconnect), ``order.new`` (``cl``, ``side`` ``B``/``S``, ``px``,
  ``qty``, ``tif`` ``GTC``/``IOC``/``FOK``, ``post``), ``order.cancel`` (``oid`` or
  ``cl``), ``order.cancel_all``, ``order.list``, ``fills.since`` (``after``: a fill
  id), ``deadman`` (``secs``; 0 disarms);
- order ids are strings ``O-N``, fill ids strings ``X-N`` numbered 1, 2, 3... per
  account (the codec reads them as integers: `FillIds.SEQUENTIAL`).

Nothing trades at the venue unless a test says so: `FakeVenue.trade_against` fills a
resting order at its price, as if another account had taken it.

With ``tokens=True`` the venue works like Kraken's (`TokenFakeOrderEntry`, the adapter
`FAKE_TOKEN_ADAPTER`, kind ``fake-token``): ``auth`` also needs ``tok``, a session token
fetched over REST before connecting (``POST http://HOST:PORT2/session``, body
``nonce=N``, headers ``X-Key`` and ``X-Sig`` = HMAC-SHA256 of ``fakex-session|KEY|N``;
answer ``{"token": T}`` or ``{"err": {...}}``), each good for one ``auth``; there is no
cancel-on-disconnect (a dead session's orders wait for the next session's cancel-all
or the dead-man's switch); and the reports a request causes go out in one frame with
its reply, as a JSON array (`FakeVenue.trade_against` can send several fills in one
frame too). `FakeVenue.fail_sessions` makes the next token calls fail.

Market data is Binance spot's format (``BinanceMarketData``), served by the venue
itself: depth diffs on ``ws://HOST:PORT/stream`` (one every 50 ms, a still book around
``mid``) and the snapshot on ``http://HOST:PORT2/api/v3/depth``.
"""

from __future__ import annotations

import contextlib
import hmac
import http.server
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Self

import msgspec
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tradeactors.core.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Side,
    TimeInForce,
    VenueOrder,
)
from tradeactors.errors import GatewayError, ParseError, VenueRequestError
from tradeactors.venues.adapter import Credentials, FillIds, Reply, Request, RestRequest
from tradeactors.venues.binance import BinanceMarketData

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.core.instrument import Instrument
    from tradeactors.core.messages import Message, SubmitOrder

__all__ = [
    "FAKE_ADAPTER",
    "FAKE_TOKEN_ADAPTER",
    "FakeOrderEntry",
    "FakeVenue",
    "TokenFakeOrderEntry",
    "auth_message",
    "session_message",
]


def auth_message(api_key: str, nonce: str) -> str:
    """What ``auth`` signs."""
    return f"fakex|{api_key}|{nonce}"


def session_message(api_key: str, nonce: str) -> str:
    """What the token call (``POST /session``) signs."""
    return f"fakex-session|{api_key}|{nonce}"


# -- the codec (the client side: what the gateway uses) ------------------------------------

_SIDES = {Side.BUY: "B", Side.SELL: "S"}
_SIDE_OF = {"B": Side.BUY, "S": Side.SELL}
_TIFS = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
# the venue's error codes -> the contract's reasons (others pass through, lower-cased)
_REASONS = {
    "E_AUTH": "auth_failed",
    "E_DUP": "duplicate_client_order_id",
    "E_NOORDER": "unknown_order",
    "E_QTY": "invalid_quantity",
    "E_PX": "invalid_price",
    "E_FOK": "fok_not_fillable",
    "E_POST": "post_only_would_take",
    "E_THROTTLE": "rate_limited",
    "E_BANNED": "banned",
}
_METHODS = {
    Request.PLACE: "order.new",
    Request.CANCEL: "order.cancel",
    Request.CANCEL_ALL: "order.cancel_all",
    Request.HEARTBEAT: "deadman",
    Request.FILLS: "fills.since",
    Request.OPEN_ORDERS: "order.list",
}


class _Wire(msgspec.Struct, kw_only=True):
    """Any frame from the venue: a reply (``rid``) or a push (``type``)."""

    rid: int | str | None = None
    ok: Any = None
    err: dict[str, str] | None = None
    push: str | None = msgspec.field(default=None, name="type")
    kind: str = ""
    oid: str = ""
    cl: str = ""
    fid: str = ""
    side: str = ""
    px: str = "0"
    qty: str = "0"
    left: str = "0"
    why: str = ""


class _Listed(msgspec.Struct, kw_only=True):
    oid: str
    cl: str
    side: str
    px: str
    left: str
    done: str


_decode = msgspec.json.Decoder(_Wire).decode
_encode = msgspec.json.Encoder().encode


def _number(text: str, prefix: str) -> int:
    """7 from ``O-7`` (prefix ``O-``); ValueError otherwise."""
    if not text.startswith(prefix):
        raise ValueError(f"not a {prefix}N id: {text!r}")
    return int(text.removeprefix(prefix))


class FakeOrderEntry:
    """fakex's order-entry codec for one gateway (venue name, instrument)."""

    fill_ids = FillIds.SEQUENTIAL  # ... per account
    has_dead_man_switch = True
    has_cancel_on_disconnect = True

    def __init__(self, venue: str, instrument: Instrument) -> None:
        self._venue = venue
        self._instrument = instrument

    def session_request(self, credentials: Credentials, rest_url: str) -> RestRequest | None:
        """No REST call before connecting."""
        return None

    def prelude(self, request_id: int) -> str | None:
        """Nothing to send before the logon."""
        return None

    def logon(
        self, request_id: int, credentials: Credentials, *, cancel_on_disconnect: bool
    ) -> str:
        """``auth``, signed with HMAC-SHA256 of ``fakex|KEY|NONCE``."""
        nonce = secrets.token_hex(8)
        params = {
            "key": credentials.api_key,
            "nonce": nonce,
            "sig": credentials.hmac_sha256(auth_message(credentials.api_key, nonce)),
            "cod": cancel_on_disconnect,
        }
        return self._frame("auth", request_id, params)

    def encode(self, request: Request, request_id: int, fields: dict[str, Any]) -> str:
        """Any request but the logon."""
        params: dict[str, Any] = {}
        if request is Request.PLACE:
            order: SubmitOrder = fields["order"]
            params = {
                "cl": order.client_order_id,
                "side": _SIDES[order.side],
                "px": self._instrument.format_price(order.price),
                "qty": self._instrument.format_size(order.quantity),
                "tif": _TIFS[order.tif],
                "post": order.post_only,
            }
        elif request is Request.CANCEL:
            order_id = fields.get("order_id") or 0
            params = {"cl": fields.get("client_order_id", "")}
            if order_id:
                params["oid"] = f"O-{order_id}"
        elif request is Request.HEARTBEAT:
            params = {"secs": fields["timeout"]}
        elif request is Request.FILLS:
            params = {"after": f"X-{int(fields['since'])}"}
        elif request is Request.LOGON:
            raise ValueError("log on with logon()")
        return self._frame(_METHODS[request], request_id, params)

    def decode(self, payload: str | bytes) -> Reply | Message | None:
        """A reply (by ``rid``), a pushed execution report, or None (``hello``...)."""
        wire = _decode(payload)
        if wire.push is not None:
            return self._report(wire) if wire.push == "exec" else None
        if not isinstance(wire.rid, int):
            return None  # not an answer to one of the gateway's requests
        if wire.err is not None:
            code = wire.err.get("code", "?")
            return Reply(
                wire.rid, error=_REASONS.get(code, code.lower()), message=wire.err.get("msg", "")
            )
        return Reply(wire.rid, result=wire.ok)

    def fills(self, result: Any) -> tuple[OrderFilled, ...]:
        """The fills of a ``fills.since`` reply."""
        return tuple(self._filled(f) for f in msgspec.convert(result, list[_Wire]))

    def open_orders(self, result: Any) -> tuple[VenueOrder, ...]:
        """The orders of an ``order.list`` reply."""
        instrument = self._instrument
        return tuple(
            VenueOrder(
                order_id=_number(o.oid, "O-"),
                client_order_id=o.cl,
                side=_SIDE_OF[o.side],
                price=instrument.price(o.px),
                remaining=instrument.size(o.left),
                filled=instrument.size(o.done),
            )
            for o in msgspec.convert(result, list[_Listed])
        )

    def cancelled(self, result: Any) -> int:
        """``{"n": N}``."""
        count = result.get("n", 0) if isinstance(result, dict) else 0
        return count if isinstance(count, int) else 0

    @staticmethod
    def _frame(method: str, request_id: int, params: dict[str, Any]) -> str:
        return _encode({"method": method, "params": params, "rid": request_id}).decode()

    def _report(self, wire: _Wire) -> Message | None:
        if wire.kind == "fill":
            return self._filled(wire)
        if wire.kind == "new":
            return OrderAccepted(
                venue=self._venue, client_order_id=wire.cl, order_id=_number(wire.oid, "O-")
            )
        if wire.kind == "cxl":
            return OrderCanceled(
                venue=self._venue,
                client_order_id=wire.cl,
                order_id=_number(wire.oid, "O-"),
                reason=wire.why,
                remaining=self._instrument.size(wire.left),
            )
        if wire.kind == "rej":
            return OrderRejected(
                venue=self._venue, client_order_id=wire.cl, reason=_REASONS.get(wire.why, wire.why)
            )
        return None

    def _filled(self, wire: _Wire) -> OrderFilled:
        instrument = self._instrument
        return OrderFilled(
            venue=self._venue,
            instrument=instrument.symbol,
            client_order_id=wire.cl,
            order_id=_number(wire.oid, "O-"),
            execution_id=_number(wire.fid, "X-"),
            side=_SIDE_OF[wire.side],
            price=instrument.price(wire.px),
            quantity=instrument.size(wire.qty),
            remaining=instrument.size(wire.left),
        )


class _Token(msgspec.Struct):
    token: str | None = None
    err: dict[str, str] | None = None


_decode_token = msgspec.json.Decoder(_Token).decode
_decode_frame = msgspec.json.Decoder(list[msgspec.Raw] | dict[str, Any]).decode


class TokenFakeOrderEntry(FakeOrderEntry):
    """fakex with session tokens (``tokens=True``): Kraken's flow, in fakex's words.

    A token fetched over REST before every connection (`session_request`), no
    cancel-on-disconnect, and frames that hold several reports (a JSON array): `decode`
    returns them all, in order, as a tuple.
    """

    has_cancel_on_disconnect = False

    def __init__(self, venue: str, instrument: Instrument) -> None:
        super().__init__(venue, instrument)
        self._token: str | None = None
        self._nonces = itertools.count(1)
        self.sessions_requested = 0

    def session_request(self, credentials: Credentials, rest_url: str) -> RestRequest:
        """``POST {rest_url}/session``, signed; the answer goes to `accept_session`."""
        self.sessions_requested += 1
        nonce = str(next(self._nonces))
        signature = credentials.hmac_sha256(session_message(credentials.api_key, nonce))
        return RestRequest(
            method="POST",
            url=rest_url.rstrip("/") + "/session",
            headers={"X-Key": credentials.api_key, "X-Sig": signature},
            body=f"nonce={nonce}".encode(),
            accept=self.accept_session,
        )

    def accept_session(self, body: bytes) -> None:
        """Keep the token; VenueRequestError if the venue refused; ValueError if garbage."""
        answer = _decode_token(body)
        if answer.err is not None:
            code = answer.err.get("code", "?")
            raise VenueRequestError(
                "session", _REASONS.get(code, code.lower()), answer.err.get("msg", "")
            )
        if not answer.token:
            raise ValueError("a session answer without a token")
        self._token = answer.token

    def logon(
        self, request_id: int, credentials: Credentials, *, cancel_on_disconnect: bool
    ) -> str:
        """``auth`` with the token (and the signature, as plain fakex)."""
        if self._token is None:
            raise GatewayError("no session token: make the session request first")
        plain = super().logon(request_id, credentials, cancel_on_disconnect=cancel_on_disconnect)
        frame = msgspec.json.decode(plain)
        frame["params"]["tok"] = self._token
        return _encode(frame).decode()

    def decode(self, payload: str | bytes) -> Reply | Message | tuple[Reply | Message, ...] | None:
        """An object as fakex; an array: every item of it, in order, as a tuple."""
        frame = _decode_frame(payload)
        if isinstance(frame, dict):
            return super().decode(payload)
        one = super().decode
        return tuple(item for raw in frame if (item := one(bytes(raw))) is not None)


class _FakeAdapter:
    kind = "fake"
    market_data = BinanceMarketData()  # the venue serves Binance spot's format
    order_entry = FakeOrderEntry


FAKE_ADAPTER = _FakeAdapter()
"""fakex as a venue adapter (``[venue] kind = "fake"`` once registered)."""


class _FakeTokenAdapter:
    kind = "fake-token"
    market_data = BinanceMarketData()
    order_entry = TokenFakeOrderEntry


FAKE_TOKEN_ADAPTER = _FakeTokenAdapter()
"""fakex with session tokens (``[venue] kind = "fake-token"`` once registered)."""


# -- the venue (the server side) ------------------------------------------------------------


class VenueError(Exception):
    """A request the venue refuses: its code and text go back in ``err``."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class RestingOrder:
    """An order the venue holds (prices in ticks, sizes in lots)."""

    number: int
    account: str
    session: int
    client_order_id: str
    side: str  # "B" or "S"
    price: int
    quantity: int
    filled: int = 0
    open: bool = True

    @property
    def oid(self) -> str:
        return f"O-{self.number}"

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled


@dataclass
class _Session:
    number: int
    connection: ServerConnection
    account: str = ""
    cancel_on_disconnect: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: dict[str, Any] | list[dict[str, Any]]) -> None:
        with self.lock, contextlib.suppress(ConnectionClosed):
            self.connection.send(_encode(message).decode())


class FakeVenue:
    """fakex: order entry, market data and a snapshot endpoint on 127.0.0.1 (free ports).

    Args:
        instrument: what it trades (prices and sizes are checked against its steps).
        keys: API key -> secret.
        mid: the middle of its still market-data book, in ticks.
        tokens: Kraken's flow (see the module doc): session tokens, no
            cancel-on-disconnect, a request's reports in one frame with its reply.

    """

    def __init__(
        self, instrument: Instrument, keys: dict[str, str], *, mid: int, tokens: bool = False
    ) -> None:
        self.instrument = instrument
        self._keys = dict(keys)
        self._mid = mid
        self.tokens = tokens
        self._issued: dict[str, str] = {}  # session token -> account, until used
        self.token_requests = 0  # POST /session calls, answered or not
        self.tokens_used = 0
        self.issued: list[str] = []  # every token handed out (tests look for leaks)
        # what the next token calls get instead of a token, in order: an HTTP status,
        # "drop" (the connection closed unanswered), "garbage" (200, not JSON) or
        # "redirect" (307 to /session again: a client that followed it would get one)
        self.fail_sessions: list[int | str] = []
        self._changed = threading.Condition()  # guards everything below; notified on change
        self._orders: dict[int, RestingOrder] = {}
        self._order_numbers = itertools.count(1)
        self._session_numbers = itertools.count(1)
        self._sessions: dict[int, _Session] = {}
        self._client_ids: dict[str, set[str]] = {k: set() for k in keys}
        self._fills: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
        self._deadman: dict[str, threading.Timer] = {}
        self._update_id = 0
        self.logons = 0
        self.auth_failures = 0
        self.methods: list[str] = []  # every request's method, in order
        self.cancellations: list[tuple[str, str]] = []  # (client order id, why)
        self.fail_next: dict[str, tuple[str, str]] = {}  # method -> (code, message), once
        self._stopping = threading.Event()
        self._ws = serve(self._handle, "127.0.0.1", 0)
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._http_handler())
        self._threads = [
            threading.Thread(target=self._ws.serve_forever, name="fakex-ws", daemon=True),
            threading.Thread(target=self._http.serve_forever, name="fakex-http", daemon=True),
        ]
        ws_port = self._ws.socket.getsockname()[1]
        http_port = self._http.server_address[1]
        stream = f"{instrument.symbol.lower()}@depth@100ms"
        self.trade_url = f"ws://127.0.0.1:{ws_port}/trade"
        self.stream_url = f"ws://127.0.0.1:{ws_port}/stream?streams={stream}"
        self.rest_url = f"http://127.0.0.1:{http_port}"

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def close(self) -> None:
        """Stop the servers, close every connection, disarm timers; idempotent."""
        self._stopping.set()
        with self._changed:
            timers = list(self._deadman.values())
            self._deadman.clear()
        for timer in timers:
            timer.cancel()
        self._ws.shutdown()  # closes open connections and waits for their handlers
        self._http.shutdown()
        self._http.server_close()
        for thread in [*self._threads, *timers]:
            if thread.ident is not None:
                thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- what tests use -----------------------------------------------------------------

    def open_orders(self, account: str | None = None) -> list[RestingOrder]:
        """Open orders (of ``account``, or of everyone), oldest first."""
        with self._changed:
            return [
                o
                for o in self._orders.values()
                if o.open and (account is None or o.account == account)
            ]

    def open_client_ids(self, account: str | None = None) -> set[str]:
        return {o.client_order_id for o in self.open_orders(account)}

    def sessions(self) -> int:
        """Logged-on sessions now."""
        with self._changed:
            return sum(1 for s in self._sessions.values() if s.account)

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait (on the venue's changes, not by polling) until ``predicate()`` holds."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def trade_against(self, client_order_id: str, quantity: int | None = None) -> dict[str, Any]:
        """Fill the open order ``client_order_id`` (all of it, or ``quantity`` lots) at its
        price, as if another account took it; returns the fill as pushed."""
        fill, sessions = self._fill(client_order_id, quantity)
        for session in sessions:
            session.send(fill)
        return fill

    def trade_against_in_one_frame(
        self, client_order_id: str, *quantities: int
    ) -> list[dict[str, Any]]:
        """Fill ``client_order_id`` several times, the fills pushed in one frame (``tokens``
        only: plain fakex has no such frames); returns them."""
        if not self.tokens:
            raise ValueError("plain fakex sends one report a frame")
        fills: list[dict[str, Any]] = []
        sessions: list[_Session] = []
        for quantity in quantities:
            fill, sessions = self._fill(client_order_id, quantity)
            fills.append(fill)
        for session in sessions:
            session.send(fills)
        return fills

    def _fill(
        self, client_order_id: str, quantity: int | None
    ) -> tuple[dict[str, Any], list[_Session]]:
        with self._changed:
            order = next(
                (
                    o
                    for o in self._orders.values()
                    if o.open and o.client_order_id == client_order_id
                ),
                None,
            )
            if order is None:
                raise KeyError(f"no open order {client_order_id!r} at the venue")
            lots = order.remaining if quantity is None else quantity
            if not 0 < lots <= order.remaining:
                raise ValueError(f"cannot fill {lots} of {order.remaining} lots")
            order.filled += lots
            order.open = order.remaining > 0
            fills = self._fills[order.account]
            fill = {
                "type": "exec",
                "kind": "fill",
                "fid": f"X-{len(fills) + 1}",
                "oid": order.oid,
                "cl": order.client_order_id,
                "side": order.side,
                "px": self.instrument.format_price(order.price),
                "qty": self.instrument.format_size(lots),
                "left": self.instrument.format_size(order.remaining),
            }
            fills.append(fill)
            self._changed.notify_all()
            return fill, self._account_sessions(order.account)

    # -- order entry --------------------------------------------------------------------

    def _handle(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request is not None else ""
        if path.startswith("/stream"):
            self._stream(connection)
        elif path.startswith("/trade"):
            self._trade(connection)
        else:
            connection.close(code=1008, reason="unknown path")

    def _trade(self, connection: ServerConnection) -> None:
        with self._changed:
            session = _Session(next(self._session_numbers), connection)
            self._sessions[session.number] = session
        session.send({"type": "hello", "venue": "fakex", "session": f"S-{session.number}"})
        try:
            for payload in connection:
                self._on_request(session, payload)
        except ConnectionClosed:
            pass
        finally:
            self._disconnected(session)

    def _on_request(self, session: _Session, payload: str | bytes) -> None:
        try:
            request = msgspec.json.decode(payload)
        except msgspec.DecodeError:
            session.send({"rid": None, "err": {"code": "E_PARSE", "msg": "not JSON"}})
            return
        rid = request.get("rid") if isinstance(request, dict) else None
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            session.send({"rid": rid, "err": {"code": "E_METHOD", "msg": "no method"}})
            return
        method, params = request["method"], request.get("params") or {}
        with self._changed:
            self.methods.append(method)
        pushes: list[tuple[str, dict[str, Any]]] = []  # (account, report)
        try:
            result = self._answer(session, method, params, pushes)
        except VenueError as exc:
            reply: dict[str, Any] = {"rid": rid, "err": {"code": exc.code, "msg": exc.message}}
        else:
            reply = {"rid": rid, "ok": result}
        if self.tokens:  # one frame a session: the reports, and the reply last
            self._push(pushes, reply_to=(session, reply))
            return
        for account, report in pushes:  # reports first, then the reply (like most venues)
            for target in self._account_sessions(account):
                target.send(report)
        session.send(reply)

    def _push(
        self,
        pushes: list[tuple[str, dict[str, Any]]],
        reply_to: tuple[_Session, dict[str, Any]] | None = None,
    ) -> None:
        """Each session's reports in one frame (``tokens``), with the reply if it is its."""
        frames: dict[int, tuple[_Session, list[dict[str, Any]]]] = {}
        for account, report in pushes:
            for target in self._account_sessions(account):
                frames.setdefault(target.number, (target, []))[1].append(report)
        if reply_to is not None:
            session, reply = reply_to
            frames.setdefault(session.number, (session, []))[1].append(reply)
        for target, frame in frames.values():
            target.send(frame)

    def _answer(
        self,
        session: _Session,
        method: str,
        params: Any,
        pushes: list[tuple[str, dict[str, Any]]],
    ) -> Any:
        if not isinstance(params, dict):
            raise VenueError("E_PARAMS", "params must be an object")
        if method == "auth":
            return self._auth(session, params)
        if not session.account:
            raise VenueError("E_AUTH_REQUIRED", "auth first")
        return self._dispatch(session, method, params, pushes)

    def _auth(self, session: _Session, params: dict[str, Any]) -> dict[str, Any]:
        key, nonce, sig = params.get("key"), params.get("nonce"), params.get("sig")
        secret = self._keys.get(key) if isinstance(key, str) else None
        expected = (
            hmac.new(secret.encode(), auth_message(key, nonce).encode(), sha256).hexdigest()
            if secret is not None and isinstance(key, str) and isinstance(nonce, str)
            else None
        )
        with self._changed:
            if (
                expected is None
                or not isinstance(sig, str)
                or not hmac.compare_digest(sig, expected)
            ):
                self.auth_failures += 1
                raise VenueError("E_AUTH", "bad key or signature")
            if self.tokens:  # a token of this key's, never used before
                token = params.get("tok")
                if not isinstance(token, str) or self._issued.get(token) != key:
                    self.auth_failures += 1
                    raise VenueError("E_AUTH", "no session token, or a used one")
                del self._issued[token]
                self.tokens_used += 1
            session.account = key
            session.cancel_on_disconnect = bool(params.get("cod")) and not self.tokens
            self.logons += 1
            self._changed.notify_all()
        return {"session": f"S-{session.number}"}

    def _dispatch(
        self,
        session: _Session,
        method: str,
        params: dict[str, Any],
        pushes: list[tuple[str, dict[str, Any]]],
    ) -> Any:
        account = session.account
        with self._changed:
            failure = self.fail_next.pop(method, None)
            if failure is not None:  # fault injection: this request fails with that code
                raise VenueError(*failure)
            try:
                if method == "order.new":
                    return self._new(session, params, pushes)
                if method == "order.cancel":
                    order = self._find(account, params)
                    self._cancel(order, "user", pushes)
                    return {"oid": order.oid}
                if method == "order.cancel_all":
                    orders = [o for o in self._orders.values() if o.open and o.account == account]
                    for order in orders:
                        self._cancel(order, "user", pushes)
                    return {"n": len(orders)}
                if method == "order.list":
                    return [
                        self._listed(o)
                        for o in self._orders.values()
                        if o.open and o.account == account
                    ]
                if method == "fills.since":
                    after = _number(str(params.get("after", "X-0")), "X-")
                    return self._fills[account][after:]
                if method == "deadman":
                    return self._arm_deadman(account, params.get("secs"))
            except (ValueError, TypeError) as exc:
                raise VenueError("E_PARAMS", str(exc)) from None
            finally:
                self._changed.notify_all()
        raise VenueError("E_METHOD", f"unknown method {method!r}")

    def _new(
        self, session: _Session, params: dict[str, Any], pushes: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, Any]:
        account = session.account
        cl, side, tif = params.get("cl"), params.get("side"), params.get("tif", "GTC")
        if not isinstance(cl, str) or not cl or side not in _SIDE_OF or tif not in _TIFS.values():
            raise VenueError("E_PARAMS", "cl, side B/S and tif GTC/IOC/FOK are needed")
        try:
            price = self.instrument.price(str(params.get("px")))
        except ParseError as exc:
            raise VenueError("E_PX", str(exc)) from None
        try:
            quantity = self.instrument.size(str(params.get("qty")))
        except ParseError as exc:
            raise VenueError("E_QTY", str(exc)) from None
        if price <= 0:
            raise VenueError("E_PX", "price must be positive")
        if quantity <= 0:
            raise VenueError("E_QTY", "quantity must be positive")
        if cl in self._client_ids[account]:
            raise VenueError("E_DUP", f"client order id {cl!r} was used")
        if tif == "FOK":  # nobody else trades here: nothing is ever fillable at once
            raise VenueError("E_FOK", "not fillable")
        self._client_ids[account].add(cl)
        order = RestingOrder(
            number=next(self._order_numbers),
            account=account,
            session=session.number,
            client_order_id=cl,
            side=side,
            price=price,
            quantity=quantity,
        )
        self._orders[order.number] = order
        pushes.append((account, {"type": "exec", "kind": "new", "oid": order.oid, "cl": cl}))
        if tif == "IOC":
            self._cancel(order, "ioc", pushes)
        return {"oid": order.oid}

    def _find(self, account: str, params: dict[str, Any]) -> RestingOrder:
        oid, cl = params.get("oid"), params.get("cl")
        for order in self._orders.values():
            if (
                order.account == account
                and order.open
                and (
                    (isinstance(oid, str) and order.oid == oid)
                    or (not oid and isinstance(cl, str) and cl and order.client_order_id == cl)
                )
            ):
                return order
        raise VenueError("E_NOORDER", f"no open order {oid or cl!r}")

    def _cancel(
        self, order: RestingOrder, why: str, pushes: list[tuple[str, dict[str, Any]]]
    ) -> None:
        order.open = False
        self.cancellations.append((order.client_order_id, why))
        pushes.append(
            (
                order.account,
                {
                    "type": "exec",
                    "kind": "cxl",
                    "oid": order.oid,
                    "cl": order.client_order_id,
                    "left": self.instrument.format_size(order.remaining),
                    "why": why,
                },
            )
        )

    def _listed(self, order: RestingOrder) -> dict[str, Any]:
        fmt_size = self.instrument.format_size
        return {
            "oid": order.oid,
            "cl": order.client_order_id,
            "side": order.side,
            "px": self.instrument.format_price(order.price),
            "left": fmt_size(order.remaining),
            "done": fmt_size(order.filled),
        }

    def _arm_deadman(self, account: str, secs: Any) -> dict[str, Any]:
        if not isinstance(secs, int | float) or secs < 0:
            raise VenueError("E_PARAMS", "secs must be a number >= 0")
        old = self._deadman.pop(account, None)
        if old is not None:
            old.cancel()
        if secs and not self._stopping.is_set():
            timer = threading.Timer(secs, self._deadman_fired, args=(account,))
            timer.daemon = True
            timer.name = f"fakex-deadman-{account}"
            self._deadman[account] = timer
            timer.start()
        return {"secs": secs}

    def _deadman_fired(self, account: str) -> None:
        pushes: list[tuple[str, dict[str, Any]]] = []
        with self._changed:
            if self._deadman.get(account) is None or self._stopping.is_set():
                return
            del self._deadman[account]
            for order in [o for o in self._orders.values() if o.open and o.account == account]:
                self._cancel(order, "deadman", pushes)
            self._changed.notify_all()
            sessions = self._account_sessions(account)
        if self.tokens:
            self._push(pushes)
            return
        for _, report in pushes:
            for session in sessions:
                session.send(report)

    def _disconnected(self, session: _Session) -> None:
        pushes: list[tuple[str, dict[str, Any]]] = []
        with self._changed:
            del self._sessions[session.number]
            if session.cancel_on_disconnect:
                for order in [
                    o for o in self._orders.values() if o.open and o.session == session.number
                ]:
                    self._cancel(order, "disconnect", pushes)
            self._changed.notify_all()
            others = self._account_sessions(session.account) if session.account else []
        for _, report in pushes:
            for other in others:
                other.send(report)

    def _account_sessions(self, account: str) -> list[_Session]:
        with self._changed:
            return [s for s in self._sessions.values() if s.account == account]

    # -- market data (Binance spot's format) ----------------------------------------------

    def _levels(self) -> tuple[list[list[str]], list[list[str]]]:
        price, size = self.instrument.format_price, self.instrument.format_size
        return [[price(self._mid - 100), size(1000)]], [[price(self._mid + 100), size(1000)]]

    def _stream(self, connection: ServerConnection) -> None:
        symbol = self.instrument.symbol
        stream = f"{symbol.lower()}@depth@100ms"
        bids, asks = self._levels()
        with contextlib.suppress(ConnectionClosed):
            while not self._stopping.wait(0.05):  # the venue's own pace, not a test's wait
                with self._changed:
                    self._update_id += 1
                    update_id = self._update_id
                data = {"e": "depthUpdate", "E": 0, "s": symbol, "U": update_id, "u": update_id}
                connection.send(
                    _encode({"stream": stream, "data": {**data, "b": bids, "a": asks}}).decode()
                )

    def _snapshot(self) -> bytes:
        bids, asks = self._levels()
        with self._changed:
            update_id = self._update_id
        return _encode({"lastUpdateId": update_id, "bids": bids, "asks": asks})

    def _session_answer(self, key: str | None, signature: str | None, body: bytes) -> Any:
        """A token (the key's, good for one ``auth``), or why not (``err``); or a fault
        from `fail_sessions`."""
        with self._changed:
            self.token_requests += 1
            self._changed.notify_all()
            if self.fail_sessions:
                return self.fail_sessions.pop(0)
            nonce = body.decode(errors="replace").removeprefix("nonce=")
            secret = self._keys.get(key) if key is not None else None
            if (
                secret is None
                or signature is None
                or not hmac.compare_digest(
                    signature,
                    hmac.new(
                        secret.encode(), session_message(key or "", nonce).encode(), sha256
                    ).hexdigest(),
                )
            ):
                self.auth_failures += 1
                return {"err": {"code": "E_AUTH", "msg": "bad key or signature"}}
            token = "T-" + secrets.token_hex(8)
            self._issued[token] = key or ""
            self.issued.append(token)
            return {"token": token}

    def _session_http(self, answer: Any) -> tuple[int, bytes, str] | None:
        """``(status, body, location)`` of a `_session_answer`; None: drop the link."""
        if answer == "drop":
            return None
        if answer == "garbage":
            return 200, b"<html>not an answer</html>", ""
        if answer == "redirect":
            return 307, b"", f"{self.rest_url}/session"
        if isinstance(answer, int):
            return answer, b"", ""
        return 200, _encode(answer), ""

    def _http_handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        venue = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not self.path.startswith("/api/v3/depth"):
                    self.send_error(404)
                    return
                self._answer(200, venue._snapshot())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if not (venue.tokens and self.path == "/session"):
                    self.send_error(404)
                    return
                answer = venue._session_http(
                    venue._session_answer(
                        self.headers.get("X-Key"), self.headers.get("X-Sig"), body
                    )
                )
                if answer is None:  # no answer at all: the client sees the link close
                    self.close_connection = True
                    return
                self._answer(*answer)

            def _answer(self, status: int, body: bytes, location: str = "") -> None:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler
