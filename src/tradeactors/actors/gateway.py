"""The gateway to the simulated exchange's order entry (docs/protocol.md), over websocket-client.

One `SimGateway` per venue. Its start is the reconnect procedure of the design:
connect, log on with ``cancel_on_disconnect``, cancel everything (belt and braces: the
venue already did when the old session dropped), arm ``cancel_all_after``, fetch the
fills since the last execution id the order manager applied and the open orders, and
hand both to the order manager, which reconciles and only then reports the venue up.
A failed step fails the start, and the supervisor retries.

After that a reader thread (a greenlet under gevent) forwards pushed execution reports
straight to the order manager and turns error replies into rejects. A dropped
connection crashes the gateway - it never reconnects inside - so its supervisor sees
it and runs cancel-on-disconnect (see `tradeactors.trading.system`). The dead-man's
switch is refreshed every ``refresh`` seconds from the actor, so a hung gateway (or
process) lets it expire and the venue cancels everything.

The secret never leaves `Credentials`: its repr hides it, and it is used only to sign
the logon nonce.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors._websocket import close, connect
from tradeactors.core.messages import (
    CancelAllDone,
    CancelAtVenue,
    CancelEverythingAtVenue,
    CancelRejected,
    FetchFills,
    FillsFetched,
    LastExecutionId,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    PlaceOrder,
    Reconciliation,
    Side,
    VenueOrder,
)
from tradeactors.core.ratelimit import TokenBucket
from tradeactors.core.risk import TradingState
from tradeactors.errors import GatewayError, VenueDisconnectedError, VenueRequestError
from tradeactors.exchange.orderentry import sign
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    import websocket

    from tradeactors.clock import Timer
    from tradeactors.core.instrument import Instrument
    from tradeactors.trading.gate import TradingGate

__all__ = [
    "ConnectionLinks",
    "Credentials",
    "GatewayError",
    "SimGateway",
    "VenueDisconnectedError",
    "VenueRequestError",
]


class Credentials:
    """An API key and its secret; the secret is never shown."""

    __slots__ = ("_secret", "api_key")

    def __init__(self, api_key: str, secret: str) -> None:
        if not api_key or not secret:
            raise ValueError("an API key and a secret are both needed")
        self.api_key = api_key
        self._secret = secret

    def sign(self, nonce: str) -> str:
        """Hex HMAC-SHA256 of ``nonce`` with the secret."""
        return sign(self._secret, nonce)

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.api_key!r}, secret=***)"

    __str__ = __repr__


class ConnectionLinks:
    """The open order-entry connection of each gateway path.

    The gateway registers its socket here; when the gateway dies abnormally its
    supervisor's hook closes what is left (an actor killed abruptly never runs
    ``on_failure``), so the venue sees the disconnect and cancels - like an Erlang port
    closed when its owner dies.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._links: dict[str, websocket.WebSocket] = {}

    def set(self, path: str, connection: websocket.WebSocket) -> None:
        """Register ``connection`` as ``path``'s (closing any older one)."""
        with self._lock:
            old = self._links.get(path)
            self._links[path] = connection
        if old is not None and old is not connection:
            close(old, timeout=0.2)

    def close(self, path: str, connection: websocket.WebSocket | None = None) -> bool:
        """Close ``path``'s connection (only if it is ``connection``, when given)."""
        with self._lock:
            current = self._links.get(path)
            if current is None or (connection is not None and current is not connection):
                return False
            del self._links[path]
        close(current, timeout=0.2)
        return True


class _Frame(msgspec.Struct, kw_only=True):
    """Any frame from the venue: a reply (``id``) or a pushed report (``event``)."""

    id: int | str | None = None
    result: Any = None
    error: dict[str, str] | None = None
    event: str | None = None
    order_id: int | None = None  # None in a reject of an order the venue never took
    client_order_id: str = ""
    execution_id: int = 0
    side: str = ""
    price: str = "0"
    quantity: str = "0"
    remaining: str = "0"
    filled: str = "0"
    fee_e4: int = 0
    reason: str = ""


class _ConnectionLost(Message, frozen=True, kw_only=True, tag=True):
    incarnation: int
    reason: str


class _Drain(Message, frozen=True, kw_only=True, tag=True):
    incarnation: int


class _Retry(Message, frozen=True, kw_only=True, tag=True):
    incarnation: int
    op: str
    ref: str
    fields: dict[str, Any]


_CONTROL = frozenset({"cancel", "cancel_all", "cancel_all_after", "fills"})
_RESERVE = 10  # tokens new orders may not use: kept for cancels and the refresh
_RETRY_DELAY = 0.05  # seconds before re-sending a control request the venue refused


class _Refresh(Message, frozen=True, kw_only=True, tag=True):
    incarnation: int  # a killed predecessor's timer must not start a second chain


_decode = msgspec.json.Decoder(_Frame).decode
_encode = msgspec.json.Encoder().encode


class SimGateway(SupervisedActor):
    """Order entry at one simulated-exchange venue (see the module doc).

    Args:
        venue: the venue's name in the system.
        url: ``ws://.../trade``.
        instrument: the venue's instrument (prices and sizes are converted with it).
        credentials: key and secret.
        order_manager_path: where reports and the reconciliation go.
        gate: the kill switch's state; nothing is sent while HALTED.
        links: where the connection is registered (closed by the supervisor's hook).
        cancel_all_after: the dead-man's switch timeout, seconds (0 disables it).
        refresh: how often it is refreshed, seconds.
        timeout: connect and request timeout during the start, seconds.
        rate_per_second, burst: the gateway's own message budget (token bucket), kept
            below the venue's so that cancels and the dead-man's switch always get
            through: new orders may not use the last few tokens and are rejected
            (``throttled``) when the budget is short; cancels, cancel-all, the
            refresh and fill fetches wait for a token instead, in order, and are sent
            again if the venue still refuses them (``rate_limited``).

    """

    def __init__(  # noqa: PLR0917 - the child spec passes these positionally
        self,
        venue: str,
        url: str,
        instrument: Instrument,
        credentials: Credentials,
        order_manager_path: str,
        gate: TradingGate,
        links: ConnectionLinks,
        *,
        cancel_all_after: float = 5.0,
        refresh: float = 1.0,
        timeout: float = 5.0,
        rate_per_second: float = 40.0,
        burst: int = 80,
    ) -> None:
        super().__init__()
        if not (rate_per_second > 0 and burst >= _RESERVE + 1):
            raise ValueError(f"rate_per_second must be positive and burst >= {_RESERVE + 1}")
        if cancel_all_after and not 0 < refresh < cancel_all_after:
            raise ValueError("refresh must be positive and shorter than cancel_all_after")
        self._venue = venue
        self._url = url
        self._instrument = instrument
        self._credentials = credentials
        self._om_path = order_manager_path
        self._gate = gate
        self._links = links
        self._cancel_all_after = cancel_all_after
        self._refresh = refresh
        self._timeout = timeout
        self._connection: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._timer: Timer | None = None
        self._ids = itertools.count(1)
        # request id -> (op, client order id, fields): what a refusal is about
        self._pending: dict[int, tuple[str, str, dict[str, Any]]] = {}
        # the client-side message budget (below the venue's), see _send
        self._budget = TokenBucket(rate_per_second, burst)
        self._deferred: deque[tuple[str, str, dict[str, Any]]] = deque()
        self._drain_timer: Timer | None = None
        self._session = -1  # the order manager's number for this session, after reconciling
        self.bad_frames = 0
        self.throttled = 0
        self.retried = 0
        self._incarnation = 0

    # -- the (re)connect procedure ----------------------------------------------------

    def on_start(self) -> None:
        """Connect, log on, cancel all, arm the dead-man's switch, reconcile."""
        self._incarnation = self.context.incarnation
        connection = connect(self._url, timeout=self._timeout)
        self._connection = connection
        self._links.set(self.context.path, connection)
        try:
            self._connect()
        except BaseException:
            self._links.close(self.context.path, connection)  # on_stop never runs here
            raise

    def _connect(self) -> None:
        nonce = secrets.token_hex(16)
        self._request(
            "logon",
            api_key=self._credentials.api_key,
            nonce=nonce,
            signature=self._credentials.sign(nonce),
            cancel_on_disconnect=True,
        )
        cancelled = self._request("cancel_all")
        if self._cancel_all_after:
            self._request("cancel_all_after", timeout=self._cancel_all_after)
        om = self.context.address_of(self._om_path)
        since = om.ask(LastExecutionId(venue=self._venue), timeout=self._timeout)
        fills = tuple(
            self._filled(msgspec.convert(f, _Frame)) for f in self._request("fills", since=since)
        )
        orders = tuple(
            VenueOrder(
                order_id=o["order_id"],
                client_order_id=o["client_order_id"],
                side=Side(o["side"]),
                price=self._instrument.price(o["price"]),
                remaining=self._instrument.size(o["remaining"]),
                filled=self._instrument.size(o["filled"]),
            )
            for o in self._request("open_orders")
        )
        self._session = om.ask(
            Reconciliation(venue=self._venue, open_orders=orders, fills=fills),
            timeout=self._timeout,
        )
        connection = self._connection
        assert connection is not None  # noqa: S101 - set by on_start
        connection.settimeout(None)  # the reader blocks; the venue's ping keeps it honest
        incarnation = self.context.incarnation
        self._reader = threading.Thread(
            target=self._read,
            args=(connection, incarnation),
            name=f"ws:{self.context.path}",
            daemon=True,
        )
        self._reader.start()
        self._schedule_refresh()
        self.context.log.info(
            "gateway_connected",
            url=self._url,
            account=self._credentials.api_key,
            cancelled_on_logon=cancelled.get("cancelled", 0) if cancelled else 0,
            missed_fills_fetched=len(fills),
            open_at_venue=len(orders),
        )

    def _request(self, op: str, **fields: Any) -> Any:
        """Send one request and read until its reply, forwarding pushed reports."""
        connection = self._connection
        assert connection is not None  # noqa: S101 - set by on_start
        request_id = next(self._ids)
        connection.send(_encode({"op": op, "id": request_id, **fields}).decode())
        om = self.context.address_of(self._om_path)
        while True:
            payload = connection.recv()
            frame = _decode(payload)
            if frame.event is not None:
                report = self._report(frame)
                if report is not None:
                    om.tell(report)
                continue
            if frame.id != request_id:
                continue
            if frame.error is not None:
                raise VenueRequestError(
                    op, frame.error.get("code", "?"), frame.error.get("message", "")
                )
            return frame.result

    # -- the reader ----------------------------------------------------------------------

    def _read(self, connection: websocket.WebSocket, incarnation: int) -> None:
        # Runs on the reader thread: decode, forward, and say when the socket ends.
        om = self.context.address_of(self._om_path)
        me = self.context.address
        log = self.context.log
        reason = "the venue closed the connection"
        try:
            while payload := connection.recv():
                try:
                    self._on_frame(payload, om)
                except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                    # counted and dropped; a fill lost this way is fetched again (gap)
                    self.bad_frames += 1
                    log.warning("bad_frame_dropped", error=str(exc)[:200])
        except Exception as exc:  # noqa: BLE001 - every way the socket ends is reported
            reason = repr(exc)
        me.tell(_ConnectionLost(incarnation=incarnation, reason=reason))

    def _on_frame(self, payload: str | bytes, om: Any) -> None:
        frame = _decode(payload)
        if frame.event is not None:
            report = self._report(frame)
            if report is not None:
                om.tell(report)
        elif frame.error is not None and isinstance(frame.id, int):
            self._on_error_reply(frame.id, frame.error, om)
        elif isinstance(frame.id, int):
            op, _ref, _fields = self._pending.pop(frame.id, ("", "", {}))
            if op == "cancel_all":
                om.tell(CancelAllDone(venue=self._venue))
            elif op == "fills" and isinstance(frame.result, list):
                try:
                    for fill in frame.result:  # fills a gap on the link had lost
                        om.tell(self._filled(msgspec.convert(fill, _Frame)))
                finally:
                    om.tell(FillsFetched(venue=self._venue))

    def _on_error_reply(self, request_id: int, error: dict[str, str], om: Any) -> None:
        op, client_order_id, fields = self._pending.pop(request_id, ("", "", {}))
        code = error.get("code", "?")
        if code == "rate_limited" and op in _CONTROL:
            # a cancel or the dead-man's switch must not be lost: send it again
            me, retry = (
                self.context.address,
                _Retry(incarnation=self._incarnation, op=op, ref=client_order_id, fields=fields),
            )
            # the venue's budget is out: wait for it to refill a little, and go first
            self.context.clock.call_later(_RETRY_DELAY, lambda: me.tell(retry))
        elif op == "place":
            om.tell(OrderRejected(venue=self._venue, client_order_id=client_order_id, reason=code))
        elif op == "cancel":
            om.tell(CancelRejected(venue=self._venue, client_order_id=client_order_id, reason=code))
        else:
            self.context.log.warning("request_refused", op=op or "?", code=code)

    def _report(self, frame: _Frame) -> Message | None:
        if frame.event == "fill":
            return self._filled(frame)
        if frame.event == "accepted":
            return OrderAccepted(
                venue=self._venue,
                client_order_id=frame.client_order_id,
                order_id=frame.order_id or 0,
            )
        if frame.event == "cancelled":
            return OrderCanceled(
                venue=self._venue,
                client_order_id=frame.client_order_id,
                order_id=frame.order_id or 0,
                reason=frame.reason,
                remaining=self._instrument.size(frame.quantity),
            )
        if frame.event == "rejected":
            return OrderRejected(
                venue=self._venue, client_order_id=frame.client_order_id, reason=frame.reason
            )
        return None  # "amended": the system never amends

    def _filled(self, frame: _Frame) -> OrderFilled:
        instrument = self._instrument
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

    # -- the actor -------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:  # noqa: C901 - one branch per message
        """Send orders and cancels; refresh the dead-man's switch; fail on a lost link."""
        if isinstance(message, PlaceOrder):
            self._place(message)
        elif isinstance(message, CancelAtVenue):
            self._send("cancel", message.client_order_id, order_id=message.order_id)
        elif isinstance(message, CancelEverythingAtVenue):
            self._send("cancel_all", "")
        elif isinstance(message, FetchFills):
            self._send("fills", "", since=message.since)
        elif isinstance(message, _Drain):
            if message.incarnation == self.context.incarnation:
                self._drain_timer = None
                self._drain()
        elif isinstance(message, _Retry):
            if message.incarnation == self.context.incarnation:
                self.retried += 1
                self._defer(message.op, message.ref, message.fields)
        elif isinstance(message, _Refresh):
            if message.incarnation != self.context.incarnation:
                return None
            self._send("cancel_all_after", "", timeout=self._cancel_all_after)
            self._schedule_refresh()
        elif (
            isinstance(message, _ConnectionLost) and message.incarnation == self.context.incarnation
        ):
            raise VenueDisconnectedError(f"{self._url}: {message.reason}")
        return None

    def _place(self, message: PlaceOrder) -> None:
        order = message.order
        if message.session != self._session:
            # Queued for a predecessor's session, and already closed by this session's
            # reconciliation: sending it now would open an order nobody tracks.
            self.context.log.warning(
                "stale_order_dropped",
                client_order_id=order.client_order_id,
                session=message.session,
                current=self._session,
            )
            self.context.address_of(self._om_path).tell(  # a no-op if already closed there
                OrderRejected(
                    venue=self._venue,
                    client_order_id=order.client_order_id,
                    reason="stale_session",
                )
            )
            return
        if self._gate.state is TradingState.HALTED:
            # tripped while the order waited in this mailbox: it never leaves
            self.context.address_of(self._om_path).tell(
                OrderRejected(
                    venue=self._venue, client_order_id=order.client_order_id, reason="halted"
                )
            )
            return
        instrument = self._instrument
        self._send(
            "place",
            order.client_order_id,
            client_order_id=order.client_order_id,
            side=str(order.side),
            price=instrument.format_price(order.price),
            quantity=instrument.format_size(order.quantity),
            type="limit",
            tif=str(order.tif),
            post_only=order.post_only,
        )

    def _send(self, op: str, order_ref: str, **fields: Any) -> None:
        """Send within the budget (see the class doc): refuse or defer when it is short."""
        now = self.context.clock.monotonic_ns()
        if op not in _CONTROL:
            if self._deferred or not self._budget.take(now, keep=_RESERVE):
                self.throttled += 1
                self.context.address_of(self._om_path).tell(
                    OrderRejected(venue=self._venue, client_order_id=order_ref, reason="throttled")
                )
                return
        elif self._deferred or not self._budget.take(now):
            self._defer(op, order_ref, fields)
            return
        self._write(op, order_ref, fields)

    def _defer(self, op: str, order_ref: str, fields: dict[str, Any]) -> None:
        """Queue a control request for the next token, most urgent first, no duplicates.

        ``cancel_all`` and the dead-man's refresh go ahead of queued cancels (a backlog
        of cancels must not let the venue's timer run out, nor delay a kill), and a
        ``cancel_all`` makes queued single cancels redundant.
        """
        deferred = self._deferred
        if op == "cancel_all":
            kept = [d for d in deferred if d[0] not in ("cancel", "cancel_all")]
            deferred.clear()
            deferred.extend(kept)
            deferred.appendleft((op, order_ref, fields))
        elif op == "cancel_all_after":
            if not any(d[0] == op for d in deferred):
                deferred.appendleft((op, order_ref, fields))
        elif not any(d[0] == op and d[1] == order_ref and d[2] == fields for d in deferred):
            deferred.append((op, order_ref, fields))
        self._schedule_drain()

    def _write(self, op: str, order_ref: str, fields: dict[str, Any]) -> None:
        connection = self._connection
        assert connection is not None  # noqa: S101 - set by on_start
        request_id = next(self._ids)
        self._pending[request_id] = (op, order_ref, fields)
        try:
            connection.send(_encode({"op": op, "id": request_id, **fields}).decode())
        except Exception as exc:
            raise VenueDisconnectedError(f"{self._url}: send failed: {exc!r}") from exc

    def _drain(self) -> None:
        now = self.context.clock.monotonic_ns()
        while self._deferred and self._budget.take(now):
            self._write(*self._deferred.popleft())
        if self._deferred:
            self._schedule_drain()

    def _schedule_drain(self) -> None:
        if self._drain_timer is not None:
            return
        me, incarnation = self.context.address, self.context.incarnation
        wait = max(0.001, self._budget.seconds_to_next())

        def due() -> None:
            me.tell(_Drain(incarnation=incarnation))

        self._drain_timer = self.context.clock.call_later(wait, due)

    def _schedule_refresh(self) -> None:
        if not self._cancel_all_after:
            return
        me, incarnation = self.context.address, self.context.incarnation
        self._timer = self.context.clock.call_later(
            self._refresh, lambda: me.tell(_Refresh(incarnation=incarnation))
        )

    def on_stop(self) -> None:
        """Close the session (the venue cancels its orders: cancel_on_disconnect)."""
        self._close()

    def on_failure(self, *_exc_info: object) -> None:
        """Close the session before the supervisor restarts the gateway."""
        self._close()

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        if self._connection is not None:
            self._links.close(self.context.path, self._connection)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(self._timeout)
