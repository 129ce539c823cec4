"""The gateway: order entry at one venue, through the venue's adapter, over websocket-client.

One `Gateway` per venue; it knows no venue by name: the venue's `OrderEntry` codec
(`tradeactors.venues.adapter`) writes its requests and reads what comes back. Its start
is the reconnect procedure of the design, as a handshake of tells (nothing blocks on
another actor):

1. ``on_start``: make the venue's REST call before connecting if its codec has one
   (`OrderEntry.session_request`: Kraken's WebSocket token), connect, log on with
   cancel-on-disconnect, cancel everything (belt and braces: the venue already did when
   the old session dropped), arm the venue's dead-man's switch, start the reader, and
   tell the order manager `GatewayConnected`;
2. the order manager answers `StartReconciliation` with the fill watermark; the gateway
   asks the venue for the fills since it and the open orders, and tells the order
   manager the `Reconciliation`;
3. the order manager applies it and answers `VenueSessionStarted`: from then on the
   venue is up and orders of that session are sent.

A venue that cannot be reached (connection refused or timing out, or dropped during
the logon; its REST call before connecting failing, or answered with an HTTP error,
with something that is not an answer, or with "try later") does not fail the gateway:
it tells the order manager `VenueDown` (orders to the venue are denied
``venue_down``; strategies, the kill switch and the host hear it) and tries again
itself, with a backoff that grows to ``max_reconnect_delay`` with jitter, for ever;
past ``halt_after_down`` seconds down it trips the kill switch (HALTED) and keeps
trying. A venue outage thus costs one gateway restart (the lost connection), never the
supervisor's intensity. A refused request (bad credentials, say: a refused logon, or a
refused REST call before it, is `VenueLogonRefusedError`) or a handshake not done
within ``timeout`` still fails the gateway, and its supervisor restarts it.

The reader thread (a greenlet under gevent) forwards pushed execution reports straight
to the order manager and hands replies to the gateway's mailbox; a frame holding several
(`OrderEntry.decode` returned a tuple) has each forwarded, in order. A dropped connection
crashes the gateway - it never reconnects inside - so its supervisor sees it and runs
cancel-on-disconnect (see `tradeactors.trading.system`). The dead-man's switch is
refreshed every ``refresh`` seconds from the actor, so a hung gateway (or process) lets
it expire and the venue cancels everything. At the same ticks, a codec whose venue can
lose its last reports unseen (Kraken: no fill watermark) is asked whether to re-read
them (a FILLS request, `_reread_if_due`); a heartbeat or a re-read unanswered for two
ticks counts as a lost connection.

A frame the codec cannot read (an execution report that is malformed, or of a kind it
does not know) is counted (``bad_frames``, and `GatewayMetrics` when given) and dropped;
the first `BAD_FRAMES_SHOWN` of an incarnation are logged in full (``bad_frame_dropped``,
the frame cut at `BAD_FRAME_SHOWN_CHARS` and any credential-looking value masked), the
rest only counted. Since the report may have been a fill (and at a venue whose fill ids
are unique, Binance or Kraken, no gap would show it), the gateway then fetches the fills
again (``FILLS`` since the session's watermark; repeats are dropped by the order manager),
at most once per ``refetch_interval`` seconds and always after the last bad frame, each
time with a summary line (``fills_refetched_after_bad_frames``): a flood of garbage costs
bounded logs and bounded requests, and loses no fill.

The secret never leaves `Credentials`: its repr hides it, and it is used only to sign.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter
from websocket import _exceptions as websocket_errors

from tradeactors._websocket import close, connect
from tradeactors.actors.gate import default_strategy_of
from tradeactors.core.killswitch import TripSource
from tradeactors.core.messages import (
    AmendAtVenue,
    AmendRejected,
    CancelAllDone,
    CancelAtVenue,
    CancelEverythingAtVenue,
    CancelRejected,
    FetchFills,
    FillsFetched,
    GatewayConnected,
    Message,
    OrderRejected,
    PlaceOrder,
    Reconciliation,
    StartReconciliation,
    SubmitOrder,
    VenueDown,
    VenueSessionStarted,
)
from tradeactors.core.ratelimit import TokenBucket, venue_budget
from tradeactors.core.risk import TradingState
from tradeactors.errors import (
    GatewayError,
    VenueDisconnectedError,
    VenueLogonRefusedError,
    VenueRequestError,
)
from tradeactors.supervision import Backoff, SupervisedActor
from tradeactors.venues.adapter import (
    Credentials,
    RateLimitReporter,
    Reply,
    Request,
    SessionEnded,
    decoded_items,
    frames,
    prepare_session,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import websocket

    from tradeactors.actors.gate import TradingGate
    from tradeactors.clock import Timer
    from tradeactors.core.ratelimit import VenueRateLimit
    from tradeactors.supervision import Address
    from tradeactors.venues.adapter import OrderEntry

__all__ = [
    "ConnectionLinks",
    "Credentials",
    "Gateway",
    "GatewayError",
    "GatewayMetrics",
    "VenueDisconnectedError",
    "VenueRequestError",
]


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


class GatewayMetrics:
    """Gateway counters on a registry you pass; made once, outside the tree, so restarts share it.

    ``tradeactors_gateway_bad_frames_total{venue}``: frames from the venue that could not
    be read (malformed or unknown execution reports, replies) and were dropped;
    ``tradeactors_gateway_fills_refetched_total{venue}``: fills fetches they caused.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.bad_frames = Counter(
            "tradeactors_gateway_bad_frames",
            "Frames from the venue that could not be read, dropped",
            ["venue"],
            registry=registry,
        )
        self.refetches = Counter(
            "tradeactors_gateway_fills_refetched",
            "Fills fetched again because a frame that may have been a fill was dropped",
            ["venue"],
            registry=registry,
        )


BAD_FRAMES_SHOWN = 5
"""Bad frames logged in full per gateway incarnation; later ones are only counted."""

BAD_FRAME_SHOWN_CHARS = 4096
"""A logged bad frame is cut here (a venue frame is a few hundred characters)."""

# a JSON string value under a key that smells of a credential: masked before logging
_CREDENTIAL = re.compile(
    r'("[^"]*(?:token|signature|secret|api_?key|password)[^"]*"\s*:\s*)"[^"]*"', re.IGNORECASE
)


def shown_frame(payload: str | bytes) -> str:
    """``payload`` as a log shows it: text, credential-looking values masked, cut short."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    cut = text[:BAD_FRAME_SHOWN_CHARS]
    shown = _CREDENTIAL.sub(r'\1"***"', cut)
    if len(text) > len(cut):
        shown += f"... ({len(text)} characters)"
    return shown


class _ConnectionLost(Message, frozen=True, kw_only=True, tag="gateway.connection_lost"):
    incarnation: int
    reason: str


class _ReplyReceived(Message, frozen=True, kw_only=True, tag="gateway.reply"):
    incarnation: int
    request_id: int
    result: Any = None
    error: str | None = None
    message: str = ""
    retry_after: float = 0.0


class _Drain(Message, frozen=True, kw_only=True, tag="gateway.drain"):
    incarnation: int


class _Retry(Message, frozen=True, kw_only=True, tag="gateway.retry"):
    incarnation: int
    request: Request
    ref: str
    fields: dict[str, Any]


class _Refresh(Message, frozen=True, kw_only=True, tag="gateway.refresh"):
    incarnation: int  # a killed predecessor's timer must not start a second chain


class _HandshakeDue(Message, frozen=True, kw_only=True, tag="gateway.handshake_due"):
    incarnation: int


class _Reconnect(Message, frozen=True, kw_only=True, tag="gateway.reconnect"):
    incarnation: int


class _Refetch(Message, frozen=True, kw_only=True, tag="gateway.refetch"):
    incarnation: int  # bad frames were dropped: fetch the fills again (when allowed)


def _received(reply: Reply, incarnation: int) -> _ReplyReceived:
    """A reply, for the gateway's mailbox (the reader thread hands it over)."""
    return _ReplyReceived(
        incarnation=incarnation,
        request_id=reply.request_id,
        result=reply.result,
        error=reply.error,
        message=reply.message,
        retry_after=reply.retry_after,
    )


def _forward_all(
    items: tuple[Any, ...], me: Address, om: Address, incarnation: int
) -> SessionEnded | None:
    """Forward the items of one frame, in order (see `Gateway._read`).

    A `SessionEnded` stops it and is returned (what came before it is forwarded).
    """
    for item in items:
        if isinstance(item, SessionEnded):
            return item
        if isinstance(item, Reply):
            me.tell(_received(item, incarnation))
        else:
            om.tell(item)
    return None


# How an unreachable venue shows: refused, reset, timed out, closed during the logon.
_UNREACHABLE = (OSError, TimeoutError, websocket_errors.WebSocketException)


def _symbol_of(request: Request, fields: dict[str, Any]) -> str:
    """The symbol of a new order or an amend ("" for anything else)."""
    if request is Request.PLACE:
        order = fields.get("order")
        return order.instrument if isinstance(order, SubmitOrder) else ""
    if request is Request.AMEND:
        amend = fields.get("amend")
        return amend.order.instrument if isinstance(amend, AmendAtVenue) else ""
    return ""


_HELD = (PlaceOrder, AmendAtVenue, CancelAtVenue, CancelEverythingAtVenue, FetchFills)
_RESERVE = 10  # tokens new orders may not use: kept for cancels and the refresh
_RATE_LIMIT_PAUSE = 1.0  # seconds without new orders after a rate-limit answer, at least
_RETRY_DELAY = 0.05  # seconds before re-sending a control request the venue refused


class Gateway(SupervisedActor):
    """Order entry at one venue (see the module doc).

    Args:
        venue: the venue's name in the system.
        url: the venue's order-entry websocket URL.
        rest_url: the venue's REST base URL, for the codec's call before connecting
            (`OrderEntry.session_request`; empty: the codec's default).
        order_entry: the venue adapter's codec for this venue and instrument.
        credentials: key and secret.
        order_manager_path: where reports and the reconciliation go.
        gate: the kill switch's state; nothing is sent while HALTED.
        links: where the connection is registered (closed by the supervisor's hook).
        cancel_on_disconnect: ask the venue to cancel the session's orders when it drops
            (where the venue can: ``OrderEntry.has_cancel_on_disconnect``), and cancel
            everything at each logon. False: the orders of a session outlive it (until
            the dead-man's switch): no cancel at logon, the reconciliation takes back the
            orders the order store knows (recovered from the journal after a restart)
            and cancels only the others.
        cancel_all_after: the dead-man's switch timeout, seconds (0 disables it; a venue
            without one ignores it).
        refresh: how often it is refreshed, seconds.
        timeout: REST call, connect, request and handshake timeout during the start,
            seconds.
        reconnect_delay, max_reconnect_delay: the backoff between attempts to reach an
            unreachable venue (doubling, with up to 20% jitter).
        halt_after_down: seconds the venue may stay unreachable before the kill switch
            trips HALTED (None: never; the gateway keeps trying either way).
        rate_per_second, burst: the gateway's own message budget (token bucket), kept
            below the venue's so that cancels and the dead-man's switch always get
            through: new orders may not use the last few tokens and are rejected
            (``throttled``) when the budget is short; cancels, cancel-all, the
            refresh and fill fetches wait for a token instead, in order, and are sent
            again if the venue still refuses them (``rate_limited``).
        venue_rate_limits: the venue's own limits (Binance's ``exchangeInfo``
            ``rateLimits``): the budget is cut to stay within their short windows
            (`tradeactors.core.ratelimit.venue_budget`; new orders get a bucket of their
            own), and while a count the codec reports (`RateLimitReporter`: Binance's
            replies; Kraken's rate counter, checked before each new order too) nears a
            limit, new orders are rejected ``throttled`` until its window ends (a
            decaying counter: until it is back below the line). The start logs the
            budget in force (``gateway_budget``).
        refetch_interval: the least time between two fills fetches after bad frames,
            seconds (see the module doc).
        metrics: counters on the system's registry (None: the attributes only).

    """

    def __init__(  # noqa: PLR0915 - one statement per piece of state
        self,
        *,
        venue: str,
        url: str,
        order_entry: OrderEntry,
        credentials: Credentials,
        order_manager_path: str,
        gate: TradingGate,
        links: ConnectionLinks,
        cancel_all_after: float = 5.0,
        refresh: float = 1.0,
        timeout: float = 5.0,
        rate_per_second: float = 40.0,
        burst: int = 80,
        reconnect_delay: float = 0.5,
        max_reconnect_delay: float = 10.0,
        halt_after_down: float | None = 300.0,
        rest_url: str = "",
        refetch_interval: float = 5.0,
        metrics: GatewayMetrics | None = None,
        venue_rate_limits: tuple[VenueRateLimit, ...] = (),
        cancel_on_disconnect: bool = True,
    ) -> None:
        super().__init__()
        if not refetch_interval > 0:
            raise ValueError("refetch_interval must be positive")
        if not (rate_per_second > 0 and burst >= _RESERVE + 1):
            raise ValueError(f"rate_per_second must be positive and burst >= {_RESERVE + 1}")
        if not order_entry.has_dead_man_switch:
            cancel_all_after = 0.0
        # Heartbeats refresh the venue's dead-man's switch; at a venue without one they
        # still show that it answers (liveness), so they are sent there too.
        self._heartbeats = bool(cancel_all_after) or not order_entry.has_dead_man_switch
        # A codec whose venue can lose its last reports unseen (Kraken) says when to
        # re-read them: asked at each refresh (see `_reread_if_due`).
        self._reread_due: Callable[[], bool] | None = getattr(order_entry, "reread_due", None)
        if cancel_all_after and not 0 < refresh < cancel_all_after:
            raise ValueError("refresh must be positive and shorter than cancel_all_after")
        self._venue = venue
        self._url = url
        self._rest_url = rest_url
        self._codec = order_entry
        self._credentials = credentials
        self._om_path = order_manager_path
        self._gate = gate
        self._links = links
        self._cancel_all_after = cancel_all_after
        self._cancel_on_disconnect = cancel_on_disconnect and order_entry.has_cancel_on_disconnect
        self._keep_orders = not cancel_on_disconnect
        self._refresh = refresh
        self._timeout = timeout
        self._connection: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._timer: Timer | None = None
        self._handshake_timer: Timer | None = None
        self._ids = itertools.count(1)
        # request id -> (request, client order id, fields): what a reply is about
        self._pending: dict[int, tuple[Request, str, dict[str, Any]]] = {}
        # the client-side message budget (below the venue's), see _send
        self._configured = (rate_per_second, burst)
        self._venue_limits = venue_rate_limits
        self._effective = venue_budget(rate_per_second, burst, venue_rate_limits, keep=_RESERVE)
        self._budget = TokenBucket(self._effective.rate, self._effective.burst)
        self._order_budget = TokenBucket(self._effective.order_rate, self._effective.order_burst)
        self._counts = order_entry if isinstance(order_entry, RateLimitReporter) else None
        self._deferred: deque[tuple[Request, str, dict[str, Any]]] = deque()
        self._drain_timer: Timer | None = None
        self._session = -1  # the order manager's number for this session, once reconciled
        # the reconciliation being gathered: the replies to its two requests
        self._reconciling: dict[Request, Any] = {}
        self._waiting = 0  # replies the reconciliation still waits for
        self._held: list[Any] = []  # the order manager's requests until reconciled
        self._cancelled_on_logon = 0
        self._since = -1  # the watermark the reconciliation's fills were fetched after
        self._beats: dict[int, int] = {}  # heartbeat request id -> sent (monotonic ns)
        self._alive_within = min(timeout, max(2 * refresh, 1.0))
        self.bad_frames = 0
        self.throttled = 0
        self.retried = 0
        self.refused = 0  # requests not sent (banned)
        self._quiet_until_ns = 0  # no new order before (monotonic): the venue's rate limit
        self._quiet_pairs: dict[str, int] = {}  # the same, of a limit on one symbol's orders
        self._is_banned = False
        self._incarnation = 0
        self._reconnect = Backoff(min_delay=reconnect_delay, max_delay=max_reconnect_delay)
        self._halt_after_down_ns = None if halt_after_down is None else int(halt_after_down * 1e9)
        self._reconnect_timer: Timer | None = None
        self._attempts = 0  # failed attempts to reach the venue in a row
        self._down_since: int | None = None  # monotonic ns, while unreachable
        self.unreachable = 0  # failed attempts, in this incarnation
        self._metrics = metrics
        self._refetch_interval_ns = int(refetch_interval * 1e9)
        self._refetch_wanted = False  # set by the reader on a bad frame, cleared by a fetch
        self._next_refetch_ns = 0  # monotonic: no fetch for bad frames before
        self._refetch_timer: Timer | None = None
        self._bad_at_last_refetch = 0
        self.refetches = 0  # fills fetches caused by bad frames, in this incarnation

    # -- the (re)connect procedure ----------------------------------------------------

    def on_start(self) -> None:
        """Connect, log on, cancel all, arm the dead-man's switch; start the handshake.

        An unreachable venue is not a failure: see `_unreachable`.
        """
        self._incarnation = self.context.incarnation
        budget = self._effective
        self.context.log.info(
            "gateway_budget",
            venue=self._venue,
            configured_rate=self._configured[0],
            configured_burst=self._configured[1],
            rate=round(budget.rate, 3),
            burst=budget.burst,
            order_rate=round(budget.order_rate, 3),
            order_burst=budget.order_burst,
            venue_limits=[
                f"{limit.limit} {limit.kind} per {limit.seconds} s" for limit in self._venue_limits
            ],
            follows_venue_counts=self._counts is not None,
        )
        self._try_connect()

    def _try_connect(self) -> None:
        try:
            # e.g. Kraken's WebSocket token: a fresh one for every connection
            prepare_session(self._codec, self._credentials, self._rest_url, timeout=self._timeout)
            connection = connect(self._url, timeout=self._timeout)
        except VenueRequestError as exc:  # the venue said no: retrying will not help
            raise self._refused(exc) from None  # it says it all: `run` shows one line
        except _UNREACHABLE as exc:
            self._unreachable(exc)
            return
        self._connection = connection
        self._links.set(self.context.path, connection)
        try:
            self._connect(connection)
        except _UNREACHABLE as exc:
            self._links.close(self.context.path, connection)
            self._connection = None
            self._unreachable(exc)
        except BaseException:
            self._links.close(self.context.path, connection)  # on_stop never runs here
            raise

    def _refused(self, error: VenueRequestError) -> VenueLogonRefusedError:
        """The venue refused the call that opens a session: a refused logon."""
        text, head = str(error), f"{error.op}: {error.code} ("
        message = text[len(head) : -1] if text.startswith(head) and text.endswith(")") else text
        return VenueLogonRefusedError(
            self._venue, self._credentials.api_key, error.code, f"{error.op}: {message}"
        )

    def _unreachable(self, error: BaseException) -> None:
        """Say the venue is down (once per outage), try again later, halt past the limit."""
        context = self.context
        now = context.clock.monotonic_ns()
        self.unreachable += 1
        reason = f"unreachable: {error!r}"[:300]
        if self._down_since is None:
            self._down_since = now
            context.address_of(self._om_path).tell(VenueDown(venue=self._venue, reason=reason))
        down_for = (now - self._down_since) / 1e9
        limit = self._halt_after_down_ns
        if (
            limit is not None
            and now - self._down_since >= limit
            and self._gate.state is not TradingState.HALTED
        ):
            self._gate.trip(
                TradingState.HALTED,
                source=TripSource.VENUE_DOWN,
                reason=f"venue {self._venue} unreachable for {down_for:.0f} s",
            )
        delay = self._reconnect.delay(self._attempts, random.random())  # noqa: S311 - jitter
        self._attempts += 1
        context.log.warning(
            "venue_unreachable",
            venue=self._venue,
            url=self._url,
            error=repr(error)[:200],
            attempt=self._attempts,
            down_for=round(down_for, 3),
            retry_in=round(delay, 3),
        )
        me, incarnation = context.address, context.incarnation
        self._reconnect_timer = context.clock.call_later(
            delay, lambda: me.tell(_Reconnect(incarnation=incarnation))
        )

    def _connect(self, connection: websocket.WebSocket) -> None:
        codec = self._codec
        prelude = next(self._ids)
        frame = codec.prelude(prelude)
        if frame is not None:  # e.g. Binance's server time: the offset of what is signed
            self._request(prelude, frame, "prelude")
        logon = next(self._ids)
        self._request(
            logon,
            codec.logon(logon, self._credentials, cancel_on_disconnect=self._cancel_on_disconnect),
            "logon",
        )
        after_logon = getattr(codec, "after_logon", None)  # optional: see OrderEntry's doc
        follow = next(self._ids)
        frame = after_logon(follow) if after_logon is not None else None
        if frame is not None:  # e.g. Binance's user data stream after a session.logon
            self._request(follow, frame, "logon")
        if self._keep_orders:
            self._cancelled_on_logon = 0  # the reconciliation cancels only what is unknown
        else:
            cancel_all = next(self._ids)
            self._cancelled_on_logon = codec.cancelled(
                self._request(
                    cancel_all, codec.encode(Request.CANCEL_ALL, cancel_all, {}), "cancel_all"
                )
            )
        if self._cancel_all_after:
            heartbeat = next(self._ids)
            fields = {"timeout": self._cancel_all_after}
            self._request(
                heartbeat, codec.encode(Request.HEARTBEAT, heartbeat, fields), "heartbeat"
            )
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
        me = self.context.address
        self._handshake_timer = self.context.clock.call_later(
            self._timeout, lambda: me.tell(_HandshakeDue(incarnation=incarnation))
        )
        self.context.address_of(self._om_path).tell(
            GatewayConnected(venue=self._venue, incarnation=incarnation)
        )

    def _request(self, request_id: int, frame: str | tuple[str, ...], op: str) -> Any:
        """Send one request of the start and read until its reply, forwarding reports."""
        connection = self._connection
        assert connection is not None  # noqa: S101 - set by on_start
        for each in frames(frame):
            connection.send(each)
        om = self.context.address_of(self._om_path)
        answer: Reply | None = None
        while answer is None:
            payload = connection.recv()
            try:
                decoded = self._codec.decode(payload)
            except ValueError as exc:  # the reconciliation after the start fetches fills
                self._bad_frame(payload, exc)
                continue
            # every report of a frame is forwarded, in order, also those after the reply
            for item in decoded_items(decoded):
                if isinstance(item, SessionEnded):
                    raise VenueDisconnectedError(f"{self._url}: {item.reason}")
                if isinstance(item, Reply):
                    if item.request_id == request_id:
                        answer = item
                else:
                    om.tell(item)
        if answer.error is not None:
            if op == "logon":
                raise VenueLogonRefusedError(
                    self._venue, self._credentials.api_key, answer.error, answer.message
                )
            raise VenueRequestError(op, answer.error, answer.message)
        return answer.result

    # -- the reader ----------------------------------------------------------------------

    def _read(self, connection: websocket.WebSocket, incarnation: int) -> None:
        # Runs on the reader thread: decode; reports go straight to the order manager,
        # replies to this gateway's mailbox (its request table is the actor's alone).
        om = self.context.address_of(self._om_path)
        me = self.context.address
        decode = self._codec.decode
        reason = "the venue closed the connection"
        try:
            while payload := connection.recv():
                try:
                    decoded = decode(payload)
                except ValueError as exc:  # msgspec.DecodeError is one
                    # counted and dropped; the fills are fetched again (see the module doc)
                    self._bad_frame(payload, exc)
                    if not self._refetch_wanted:  # one tell per fetch, however many frames
                        self._refetch_wanted = True
                        me.tell(_Refetch(incarnation=incarnation))
                    continue
                if type(decoded) is tuple:  # several items (Kraken): each, in order
                    ended = _forward_all(decoded, me, om, incarnation)
                    if ended is not None:
                        reason = ended.reason
                        break
                elif isinstance(decoded, SessionEnded):  # one item (the sim, Binance)
                    reason = decoded.reason
                    break
                elif isinstance(decoded, Reply):
                    me.tell(_received(decoded, incarnation))
                elif decoded is not None:
                    om.tell(decoded)
        except Exception as exc:  # noqa: BLE001 - every way the socket ends is reported
            reason = repr(exc)
        me.tell(_ConnectionLost(incarnation=incarnation, reason=reason))

    def _bad_frame(self, payload: str | bytes, error: ValueError) -> None:
        """Count a frame that could not be read; log the first few in full (any thread)."""
        self.bad_frames += 1
        if self._metrics is not None:
            self._metrics.bad_frames.labels(self._venue).inc()
        if self.bad_frames <= BAD_FRAMES_SHOWN:
            self.context.log.warning(
                "bad_frame_dropped",
                venue=self._venue,
                error=str(error)[:300],
                frame=shown_frame(payload),
                count=self.bad_frames,
                shown_in_full=BAD_FRAMES_SHOWN,
            )

    def _refetch(self, message: _Refetch) -> None:
        """Fetch the fills again after bad frames, at most once per ``refetch_interval``."""
        if message.incarnation != self.context.incarnation:
            return
        context = self.context
        now = context.clock.monotonic_ns()
        if now < self._next_refetch_ns:  # too soon: once the interval is over
            if self._refetch_timer is None:
                me, incarnation = context.address, context.incarnation
                self._refetch_timer = context.clock.call_later(
                    (self._next_refetch_ns - now) / 1e9,
                    lambda: me.tell(_Refetch(incarnation=incarnation)),
                )
            return
        self._refetch_timer = None
        # cleared before the request leaves: a bad frame read after it asks for another
        self._refetch_wanted = False
        self._next_refetch_ns = now + self._refetch_interval_ns
        self.refetches += 1
        if self._metrics is not None:
            self._metrics.refetches.labels(self._venue).inc()
        bad = self.bad_frames
        context.log.warning(
            "fills_refetched_after_bad_frames",
            venue=self._venue,
            bad_frames=bad,
            since_last_refetch=bad - self._bad_at_last_refetch,
            since=self._since,
            refetches=self.refetches,
        )
        self._bad_at_last_refetch = bad
        fetch = FetchFills(since=self._since)
        if self._session < 0:
            self._held.append(fetch)  # after the reconciliation, like the others held
        else:
            self._send(Request.FILLS, "", since=fetch.since)

    def _follow_venue_counts(self) -> None:
        """No new order until the window ends of a limit whose reported count nears it."""
        assert self._counts is not None  # noqa: S101 - only called then
        clock = self.context.clock
        for limit in self._counts.venue_rate_limits():
            if not limit.near():
                continue
            now_ms = clock.time_ns() // 1_000_000
            wait_ms = limit.window_end_ms(now_ms) - now_ms
            now = clock.monotonic_ns()
            until = now + wait_ms * 1_000_000
            # a limit on one symbol (Kraken's per pair) holds back that symbol's orders only
            before = (
                self._quiet_pairs.get(limit.symbol, 0) if limit.symbol else self._quiet_until_ns
            )
            if until > before:
                # a decaying counter moves the end at each look: said when a pause begins
                pausing = before <= now
                if limit.symbol:
                    self._quiet_pairs[limit.symbol] = until
                else:
                    self._quiet_until_ns = until
                if not pausing:
                    continue
                self.context.log.warning(
                    "venue_rate_limit_near",
                    venue=self._venue,
                    symbol=limit.symbol or None,
                    kind=str(limit.kind),
                    used=limit.used,
                    limit=limit.limit,
                    window_seconds=limit.seconds,
                    no_new_orders_for=round(wait_ms / 1000, 3),
                )

    def _amend_refused(
        self, ref: str, fields: dict[str, Any], reply: _ReplyReceived, error: str
    ) -> None:
        """An amend is never retried (the order may have moved on): it is refused."""
        result = reply.result
        canceled = isinstance(result, dict) and result.get("canceled") is True
        self.context.address_of(self._om_path).tell(
            AmendRejected(
                venue=self._venue,
                client_order_id=ref,
                reason=error,
                canceled=canceled,
            )
        )
        if error in ("banned", "rate_limited"):  # and what they say to do
            self._on_error_reply(
                Request.AMEND,
                ref,
                fields,
                error,
                message=reply.message,
                retry_after=reply.retry_after,
            )

    def _on_reply(self, reply: _ReplyReceived) -> None:
        if self._counts is not None:
            self._follow_venue_counts()
        request, ref, fields = self._pending.pop(reply.request_id, (None, "", {}))
        self._beats.pop(reply.request_id, None)
        if request is None:
            return
        if reply.error is not None:
            if request is Request.AMEND:
                self._amend_refused(ref, fields, reply, reply.error)
                return
            self._on_error_reply(
                request,
                ref,
                fields,
                reply.error,
                message=reply.message,
                retry_after=reply.retry_after,
            )
            return
        om = self.context.address_of(self._om_path)
        try:
            if request in self._reconciling:
                self._reconciling[request] = reply.result
                self._maybe_reconcile()
            elif request is Request.CANCEL_ALL:
                om.tell(CancelAllDone(venue=self._venue))
            elif request is Request.FILLS:
                try:
                    for fill in self._codec.fills(reply.result):  # fills a gap had lost
                        om.tell(fill)
                finally:
                    om.tell(FillsFetched(venue=self._venue))
        except ValueError as exc:  # a malformed result: counted like a bad frame
            self.bad_frames += 1
            self.context.log.warning(
                "bad_reply_dropped", request=request.value, error=str(exc)[:200]
            )

    def _on_error_reply(
        self,
        request: Request,
        client_order_id: str,
        fields: dict[str, Any],
        code: str,
        *,
        message: str = "",
        retry_after: float = 0.0,
    ) -> None:
        om = self.context.address_of(self._om_path)
        if code == "banned":
            self._banned(message)
        elif code == "rate_limited":
            # The venue's own budget ran out before ours: no new order until it said (or
            # a pause), so that we never walk on into a ban (Binance: 429, then 418).
            now = self.context.clock.monotonic_ns()
            self._budget.empty(now)
            self._order_budget.empty(now)
            pause = max(retry_after, _RATE_LIMIT_PAUSE)
            self._quiet_until_ns = max(self._quiet_until_ns, now + int(pause * 1e9))
        if request in self._reconciling:
            raise VenueRequestError(request.value, code, "during the reconciliation")
        if code == "rate_limited" and request.control:
            # a cancel or the dead-man's switch must not be lost: send it again
            me, retry = (
                self.context.address,
                _Retry(
                    incarnation=self._incarnation,
                    request=request,
                    ref=client_order_id,
                    fields=fields,
                ),
            )
            # the venue's budget is out: wait for it to refill a little, and go first
            self.context.clock.call_later(_RETRY_DELAY, lambda: me.tell(retry))
        elif request is Request.PLACE:
            om.tell(
                OrderRejected(
                    venue=self._venue, client_order_id=client_order_id, reason=code, detail=message
                )
            )
        elif request is Request.CANCEL:
            om.tell(CancelRejected(venue=self._venue, client_order_id=client_order_id, reason=code))
        else:
            self.context.log.warning("request_refused", request=request.value, code=code)

    # -- the handshake -------------------------------------------------------------------

    def _start_reconciliation(self, message: StartReconciliation) -> None:
        self._reconciling = {Request.FILLS: None, Request.OPEN_ORDERS: None}
        self._waiting = 2
        self._since = message.since
        self._write(Request.FILLS, "", {"since": message.since})
        self._write(Request.OPEN_ORDERS, "", {})

    def _maybe_reconcile(self) -> None:
        self._waiting -= 1
        if self._waiting:
            return
        fills = self._codec.fills(self._reconciling[Request.FILLS])
        orders = self._codec.open_orders(self._reconciling[Request.OPEN_ORDERS])
        self._reconciling = {}
        self.context.address_of(self._om_path).tell(
            Reconciliation(
                venue=self._venue,
                open_orders=orders,
                fills=fills,
                incarnation=self._incarnation,
                since=self._since,
            )
        )
        self.context.log.info(
            "gateway_connected",
            url=self._url,
            account=self._credentials.api_key,
            cancelled_on_logon=self._cancelled_on_logon,
            missed_fills_fetched=len(fills),
            open_at_venue=len(orders),
        )

    # -- the actor -------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        """Hold the order manager's requests until the handshake is done, then serve them.

        What waited in the mailbox (for a predecessor's session, or sent before this one
        was reconciled) is handled after the reconciliation, in order, as if the start
        had done it all: stale orders are refused, cancels go out.
        """
        if self._session < 0 and isinstance(message, _HELD):
            self._held.append(message)
            return None
        result = self._receive(message)
        if self._held and self._session >= 0:
            held, self._held = self._held, []
            for earlier in held:
                self._receive(earlier)
        return result

    def _receive(self, message: Any) -> Any:  # noqa: C901, PLR0912 - one branch per message
        """Send orders and cancels; refresh the dead-man's switch; fail on a lost link."""
        if isinstance(message, PlaceOrder):
            self._place(message)
        elif isinstance(message, AmendAtVenue):
            self._amend(message)
        elif isinstance(message, CancelAtVenue):
            self._send(
                Request.CANCEL,
                message.client_order_id,
                client_order_id=message.client_order_id,
                order_id=message.order_id,
                instrument=message.instrument,
            )
        elif isinstance(message, CancelEverythingAtVenue):
            self._send(Request.CANCEL_ALL, "")
        elif isinstance(message, FetchFills):
            self._send(Request.FILLS, "", since=message.since)
        elif isinstance(message, _ReplyReceived):
            if message.incarnation == self.context.incarnation:
                self._on_reply(message)
        elif isinstance(message, StartReconciliation):
            if message.incarnation == self.context.incarnation:
                self._start_reconciliation(message)
        elif isinstance(message, _Reconnect):
            if message.incarnation == self.context.incarnation and self._connection is None:
                self._reconnect_timer = None
                self._try_connect()
        elif isinstance(message, VenueSessionStarted):
            if message.incarnation == self.context.incarnation:
                self._session = message.session
                if self._down_since is not None:
                    self.context.log.info(
                        "venue_reachable_again",
                        venue=self._venue,
                        attempts=self._attempts,
                        down_for=round(
                            (self.context.clock.monotonic_ns() - self._down_since) / 1e9, 3
                        ),
                    )
                self._down_since = None
                self._attempts = 0
                if self._handshake_timer is not None:
                    self._handshake_timer.cancel()
                    self._handshake_timer = None
        elif isinstance(message, _HandshakeDue):
            if message.incarnation == self.context.incarnation and self._session < 0:
                raise GatewayError(
                    f"{self._venue}: the reconciliation did not finish within {self._timeout} s"
                )
        elif isinstance(message, _Drain):
            if message.incarnation == self.context.incarnation:
                self._drain_timer = None
                self._drain()
        elif isinstance(message, _Retry):
            if message.incarnation == self.context.incarnation:
                self.retried += 1
                self._defer(message.request, message.ref, message.fields)
        elif isinstance(message, _Refetch):
            self._refetch(message)
        elif isinstance(message, _Refresh):
            if message.incarnation != self.context.incarnation:
                return None
            self._on_refresh()
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
        if (
            self._gate.state_of(default_strategy_of(order.owner), self._venue)
            is TradingState.HALTED
        ):
            # tripped while the order waited in this mailbox: it never leaves
            self.context.address_of(self._om_path).tell(
                OrderRejected(
                    venue=self._venue, client_order_id=order.client_order_id, reason="halted"
                )
            )
            return
        self._send(Request.PLACE, order.client_order_id, order=order)

    def _amend(self, message: AmendAtVenue) -> None:
        """Send an amend, unless it is stale, halted, or one the venue cannot take."""
        cid = message.order.client_order_id
        reason = None
        if message.session != self._session:
            reason = "stale_session"  # the reconciliation settled the order's amend
        elif (
            self._gate.state_of(default_strategy_of(message.order.owner), self._venue)
            is TradingState.HALTED
        ):
            reason = "halted"
        elif (
            message.price == message.order.price
            and message.quantity > message.order.quantity
            and not getattr(self._codec, "amend_increases", False)
        ):
            reason = "amend_quantity_increase"  # this venue refuses it: not sent
        if reason is not None:
            self.context.address_of(self._om_path).tell(
                AmendRejected(venue=self._venue, client_order_id=cid, reason=reason)
            )
            return
        self._send(Request.AMEND, cid, amend=message)

    def _not_sent(self, request: Request, order_ref: str, reason: str) -> None:
        """A new order or an amend was not sent: say so to the order manager."""
        om = self.context.address_of(self._om_path)
        if request is Request.AMEND:
            om.tell(AmendRejected(venue=self._venue, client_order_id=order_ref, reason=reason))
        else:
            om.tell(OrderRejected(venue=self._venue, client_order_id=order_ref, reason=reason))

    def _send(self, request: Request, order_ref: str, **fields: Any) -> None:
        """Send within the budget (see the class doc): refuse or defer when it is short."""
        now = self.context.clock.monotonic_ns()
        if not request.control:
            if self._counts is not None:  # a count the codec keeps moves between replies too
                self._follow_venue_counts()
            quiet = self._quiet_until_ns
            if self._quiet_pairs:
                quiet = max(quiet, self._quiet_pairs.get(_symbol_of(request, fields), 0))
            if self._deferred or now < quiet or not self._take_order_tokens(now):
                self.throttled += 1
                self._not_sent(request, order_ref, "throttled")
                return
        elif self._deferred or not self._budget.take(now):
            self._defer(request, order_ref, fields)
            return
        self._write(request, order_ref, fields)

    def _take_order_tokens(self, now: int) -> bool:
        """A new order's token from both buckets (none taken if either is short)."""
        if not self._order_budget.take(now):
            return False
        if self._budget.take(now, keep=_RESERVE):
            return True
        self._order_budget.give_back()
        return False

    def _defer(self, request: Request, order_ref: str, fields: dict[str, Any]) -> None:
        """Queue a control request for the next token, most urgent first, no duplicates.

        A cancel-all and the dead-man's refresh go ahead of queued cancels (a backlog
        of cancels must not let the venue's timer run out, nor delay a kill), and a
        cancel-all makes queued single cancels redundant.
        """
        deferred = self._deferred
        if request is Request.CANCEL_ALL:
            kept = [d for d in deferred if d[0] not in (Request.CANCEL, Request.CANCEL_ALL)]
            deferred.clear()
            deferred.extend(kept)
            deferred.appendleft((request, order_ref, fields))
        elif request is Request.HEARTBEAT:
            if not any(d[0] is request for d in deferred):
                deferred.appendleft((request, order_ref, fields))
        elif not any(d[0] is request and d[1] == order_ref and d[2] == fields for d in deferred):
            deferred.append((request, order_ref, fields))
        self._schedule_drain()

    def _banned(self, message: str) -> None:
        """The venue banned this client: send nothing more to it, and halt trading.

        Retrying into a ban only lengthens it (Binance: 418 after ignoring 429s). This
        incarnation sends nothing more; orders and cancels are refused ``banned``; the
        kill switch trips HALTED so that an operator looks before anything resumes (a
        restart of the gateway, e.g. after the reset, tries again).
        """
        if self._is_banned:
            return
        self._is_banned = True
        reason = f"venue {self._venue} banned this client: {message}"[:300]
        self.context.log.error("venue_banned", venue=self._venue, message=message[:200])
        if self._gate.state is not TradingState.HALTED:
            self._gate.trip(TradingState.HALTED, source=TripSource.VENUE_BANNED, reason=reason)

    def _refuse(self, request: Request, order_ref: str, reason: str) -> None:
        """Say a request was not sent: an order rejected, a cancel refused; else counted."""
        om = self.context.address_of(self._om_path)
        if request in (Request.PLACE, Request.AMEND):
            self._not_sent(request, order_ref, reason)
        elif request is Request.CANCEL:
            om.tell(CancelRejected(venue=self._venue, client_order_id=order_ref, reason=reason))
        self.refused += 1

    def _write(self, request: Request, order_ref: str, fields: dict[str, Any]) -> None:
        connection = self._connection
        assert connection is not None  # noqa: S101 - set by on_start
        if self._is_banned:  # never into a ban: not even a cancel or a heartbeat
            self._refuse(request, order_ref, "banned")
            return
        request_id = next(self._ids)
        self._pending[request_id] = (request, order_ref, fields)
        if request is Request.HEARTBEAT or (
            request is Request.FILLS and self._reread_due is not None
        ):
            # answered soon, or the link is lost (`_check_alive`): a re-read too
            self._beats[request_id] = self.context.clock.monotonic_ns()
        try:
            frame = self._codec.encode(request, request_id, fields)
        except (ValueError, KeyError):
            if request is Request.CANCEL:  # an order of a symbol the codec cannot name
                del self._pending[request_id]
                self._refuse(request, order_ref, "unknown_symbol")
                return
            if request is not Request.AMEND:
                raise
            del self._pending[request_id]  # a venue whose codec writes no amend
            self._not_sent(request, order_ref, "amend_not_supported")
            return
        try:
            for each in frames(frame):
                connection.send(each)
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

    def _check_alive(self) -> None:
        """Fail if a heartbeat (or a re-read) went unanswered too long: the venue froze.

        A frozen venue (a stopped process, a black-holed link) closes nothing: only its
        silence shows it. Unanswered for two refresh periods (at most ``timeout``), the
        link counts as lost, like a closed one.
        """
        if not self._beats:
            return
        oldest = min(self._beats, key=self._beats.__getitem__)
        silent = (self.context.clock.monotonic_ns() - self._beats[oldest]) / 1e9
        if silent > self._alive_within:
            request = self._pending.get(oldest, (Request.HEARTBEAT, "", {}))[0]
            raise VenueDisconnectedError(
                f"{self._url}: no answer to the {request.value} request in {silent:.1f} s "
                "(the venue froze?)"
            )

    def _on_refresh(self) -> None:
        """Check the link, refresh the dead-man's switch, re-read if due; again later."""
        self._check_alive()
        if self._heartbeats:
            self._send(Request.HEARTBEAT, "", timeout=self._cancel_all_after)
        self._reread_if_due()
        self._schedule_refresh()

    def _reread_if_due(self) -> None:
        """Re-read the venue's reports (a FILLS request) if its codec says they may be lost.

        Kraken's executions carry no fill watermark: the loss of the last ones before a
        silence shows at no later message (``KrakenOrderEntry.reread_due``). Only once
        the session is reconciled; what the re-read finds reaches the order manager as
        reports, its answer as `FillsFetched`.
        """
        due = self._reread_due
        if due is not None and self._session >= 0 and due():
            self._send(Request.FILLS, "", since=0)

    def _schedule_refresh(self) -> None:
        if not self._heartbeats and self._reread_due is None:
            return
        me, incarnation = self.context.address, self.context.incarnation
        self._timer = self.context.clock.call_later(
            self._refresh, lambda: me.tell(_Refresh(incarnation=incarnation))
        )

    def on_stop(self) -> None:
        """Close the session (the venue cancels its orders: cancel-on-disconnect)."""
        self._close()

    def on_failure(self, *_exc_info: object) -> None:
        """Close the session before the supervisor restarts the gateway."""
        self._close()

    def _close(self) -> None:
        for timer in (
            self._timer,
            self._drain_timer,
            self._handshake_timer,
            self._reconnect_timer,
            self._refetch_timer,
        ):
            if timer is not None:
                timer.cancel()
        if self._connection is not None:
            self._links.close(self.context.path, self._connection)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(self._timeout)
