"""Venues are adapters: what the feed, the book and the gateway need from a venue.

A venue is one module in `tradeactors.venues` that builds a `VenueAdapter`, plus one
line in the registry below. The feed, book and gateway actors name no venue: they ask
the adapter of the configured *kind* (``sim``, ``binance``, ``kraken``, or one a user
registered with `register_venue`).

- **Market data** (`MarketData`): decode a frame into the events a book actor needs
  (book updates and snapshots, the venue's own top of book, public trades), the
  subscribe messages, where a snapshot comes from (a REST URL, or a resubscription), and
  the sync rule of one instrument's book (`BookSync`: Binance's ``U``/``u`` continuity,
  Kraken's checksum, ...).
- **Order entry** (`OrderEntry`, or None for a venue that has none yet): say what REST
  call opens a session, if the venue needs one (Kraken's WebSocket token), encode the
  gateway's requests (log on, place, cancel, amend, cancel all, arm the venue's
  dead-man's switch, fetch open orders and fills since a watermark), decode what comes
  back into replies and the contract's events, and say how fills are identified
  (`FillIds`).

The gateway owns the connections (the websocket, and the REST call before it), the
message budget, retries and the reconnect procedure; the adapter owns only the venue's
wire format and rules: a codec does no I/O.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import http.client
import importlib
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast, runtime_checkable

import msgspec

from tradeactors._websocket import close, connect
from tradeactors.core.execution import FillIds
from tradeactors.core.messages import MarketDataKind, VenueData
from tradeactors.errors import UnknownVenueKindError, VenueRequestError

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Mapping

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tradeactors.core.book import OrderBook
    from tradeactors.core.instrument import Instrument
    from tradeactors.core.messages import Message, OrderFilled, TradeTick, VenueOrder
    from tradeactors.core.ratelimit import VenueRateLimit
    from tradeactors.venues.capture import Frame

__all__ = [
    "BookOutcome",
    "BookSync",
    "Credentials",
    "EventKind",
    "FillIds",
    "InstrumentSource",
    "MarketData",
    "OrderEntry",
    "RateLimitReporter",
    "Reply",
    "Request",
    "RestRequest",
    "SessionEnded",
    "TickerVerifier",
    "VenueAdapter",
    "VenueEvent",
    "decoded_items",
    "frames",
    "instrument_kinds",
    "instrument_source",
    "json_errors",
    "open_orders_at_venue",
    "prepare_session",
    "register_venue",
    "venue_adapter",
    "venue_kinds",
]


# -- decoding ----------------------------------------------------------------------------


TOO_DEEP = "JSON nested too deeply"


class _JsonErrors:
    """``with json_errors: ...``: JSON msgspec refuses otherwise is a `msgspec.DecodeError` too.

    A decoder's callers then catch one error: msgspec raises `RecursionError` for JSON
    nested beyond its recursion limit, and a `str` with lone surrogates has no UTF-8 to
    decode (`UnicodeError`). Stateless: one shared instance serves every ``with``, on
    any thread.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if kind is None:
            return
        if issubclass(kind, RecursionError):
            raise msgspec.DecodeError(TOO_DEEP) from None
        if issubclass(kind, UnicodeError):
            raise msgspec.DecodeError(f"not UTF-8: {str(error)[:100]}") from None


json_errors = _JsonErrors()


# -- market data -------------------------------------------------------------------------


EventKind = MarketDataKind
"""What a decoded market-data event is for (the contract's `MarketDataKind`)."""


VenueEvent = VenueData
"""One decoded event of a frame: the symbol it is for, its kind, the venue's data
(``VenueEvent(symbol, kind, data)``); it is the message the feed sends to the book."""


class BookOutcome(enum.Enum):
    """What a `BookSync` did with an event; the book actor acts on it."""

    APPLIED = "applied"  # the book changed: publish it
    SYNCED = "synced"  # a snapshot (and what was buffered) applied: publish it
    IGNORED = "ignored"  # buffered, already covered, or before any snapshot: nothing to do
    GAP = "gap"  # continuity broke: the book was cleared, get a snapshot
    BAD_LEVEL = "bad_level"  # a level did not parse: cleared, get a snapshot
    CROSSED = "crossed"  # the result would be crossed (bid >= ask): cleared, get a snapshot
    CHECKSUM_MISMATCH = "checksum_mismatch"  # the venue's checksum disagrees: cleared
    SNAPSHOT_TOO_OLD = "snapshot_too_old"  # the snapshot predates the buffer: get another

    @property
    def publishes(self) -> bool:
        """The book changed and is in sync."""
        return self is BookOutcome.APPLIED or self is BookOutcome.SYNCED

    @property
    def resyncs(self) -> bool:
        """The book needs a (new) snapshot."""
        return not self.publishes and self is not BookOutcome.IGNORED


class BookSync(Protocol):
    """One instrument's book kept in sync with a venue's stream by the venue's rules."""

    book: OrderBook
    synced: bool
    updates: int  # update events seen so far (snapshots too, where they come in-stream)
    snapshots: int  # snapshots used (or tried) so far
    checksums_matched: int  # updates the venue's own checksum confirmed

    def on_event(self, data: Any) -> BookOutcome:
        """Apply one `EventKind.BOOK` event."""
        ...


class TickerVerifier(Protocol):
    """Compares a book with the venue's own top of book (``replay --verify``)."""

    def add_ticker(self, data: Any) -> None:
        """Remember one `EventKind.TICKER` event."""

    def record(self, book: OrderBook) -> None:
        """Compare ``book`` (just updated) with the tickers it covers."""

    def resynced(self) -> None:
        """The book was cleared: comparisons start over."""

    def tally(self) -> tuple[int, int, int]:
        """Compared, mismatched, and persistently mismatched (two in a row)."""
        ...


class MarketData(Protocol):
    """What the feed and the book actors need from a venue's market data."""

    def decode(self, frame: Frame) -> tuple[VenueEvent, ...]:
        """The events in ``frame``.

        Raises:
            tradeactors.errors.FrameDroppedError: the frame is malformed or of no use;
                its ``reason`` is the drop counter's label.

        """
        ...

    def subscribe_messages(self, symbols: Iterable[str], *, depth: int = 10) -> tuple[str, ...]:
        """What to send after connecting to stream ``symbols`` (none: the URL says).

        ``depth``: the levels a side to subscribe to, where the venue's subscription
        takes a depth (Kraken's ``book``); the book then keeps that many (``max_depth``).

        Raises:
            ValueError: a depth the venue does not offer.

        """
        ...

    def snapshot_url(self, rest_base_url: str, symbol: str) -> str | None:
        """Where a snapshot of ``symbol`` is fetched; None: resubscribe to get one."""
        ...

    def resubscribe_messages(self, symbol: str, *, depth: int = 10) -> tuple[str, ...]:
        """What to send, on the open connection, for a fresh snapshot of ``symbol``.

        For a venue whose snapshots come with a subscription (`snapshot_url` None):
        Kraken's ``unsubscribe`` then ``subscribe``. None (``()``): reconnect instead.
        """
        ...

    def book_sync(self, instrument: Instrument, *, mode: str, max_depth: int) -> BookSync:
        """A new, empty book for ``instrument`` with its sync rule.

        ``mode`` selects a variant of the rule where the venue has several (Binance:
        ``spot`` or ``futures``); ``max_depth`` bounds the levels kept a side where the
        venue's rule needs it (Kraken's checksum covers the subscribed depth).
        """
        ...

    def ticker_verifier(self, instrument: Instrument) -> TickerVerifier | None:
        """A verifier of books against the venue's tickers, if the venue sends any."""
        ...

    def trade_tick(self, instrument: Instrument, data: Any) -> TradeTick:
        """A public trade in ticks and lots.

        Raises:
            tradeactors.errors.ParseError: a price or size the instrument cannot hold.

        """
        ...


# -- order entry ---------------------------------------------------------------------------


class Request(enum.Enum):
    """What the gateway asks a venue; the adapter writes it in the venue's format."""

    LOGON = "logon"
    PLACE = "place"
    CANCEL = "cancel"
    CANCEL_ALL = "cancel_all"
    HEARTBEAT = "heartbeat"  # arm or refresh the venue's dead-man's switch
    FILLS = "fills"  # fills since a watermark
    OPEN_ORDERS = "open_orders"
    AMEND = "amend"  # change an open order's price and/or quantity (`AmendAtVenue`)

    @property
    def control(self) -> bool:
        """A request that must not be lost (waits for the budget instead of failing)."""
        return self in _CONTROL


_CONTROL = frozenset({Request.CANCEL, Request.CANCEL_ALL, Request.HEARTBEAT, Request.FILLS})


class Reply(NamedTuple):
    """The venue's answer to request ``request_id``: a result, or an error.

    ``error`` is one of the contract's reasons where the venue's code has one
    (``rate_limited``, ``unknown_order``, ``duplicate_client_order_id``, ...), else the
    venue's own code. ``retry_after``: seconds the venue asked us to wait before sending
    again (a rate limit's ``retryAfter``; 0: not said).
    """

    request_id: int
    result: Any = None
    error: str | None = None
    message: str = ""
    retry_after: float = 0.0


class SessionEnded(NamedTuple):
    """What `OrderEntry.decode` returns when the venue says the session is over.

    E.g. Binance's ``eventStreamTerminated`` (execution reports stopped) or
    ``serverShutdown``: the gateway treats it as a lost connection and reconnects.
    """

    reason: str


class RestRequest(NamedTuple):
    """A REST call a codec needs made (`OrderEntry.session_request`), and who reads the answer.

    The codec does no I/O: the gateway sends ``method`` to ``url`` with ``headers`` and
    ``body``, and gives the body of the answer to ``accept``, which keeps what the codec
    needs (Kraken: the token) or raises `VenueRequestError` if the venue refused. The
    headers and the body carry the key and a signature: its repr shows neither.
    """

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    accept: Callable[[bytes], None]

    def __repr__(self) -> str:
        return (
            f"RestRequest(method={self.method!r}, url={self.url!r}, "
            f"headers={sorted(self.headers)!r}, body=<{len(self.body)} bytes>)"
        )


class Credentials:
    """An API key and its secret, or its Ed25519 private key; never shown, only used to sign.

    ``ed25519_key``: an Ed25519 private key instead of (or besides) the secret (Binance:
    the key a ``session.logon`` signs with; `from_key_file` reads one from a PEM file).
    """

    __slots__ = ("_ed25519", "_secret", "api_key")

    def __init__(
        self, api_key: str, secret: str = "", *, ed25519_key: Ed25519PrivateKey | None = None
    ) -> None:
        if not api_key or not (secret or ed25519_key is not None):
            raise ValueError("an API key and its secret (or Ed25519 private key) are needed")
        self.api_key = api_key
        self._secret = secret
        self._ed25519 = ed25519_key

    @classmethod
    def from_key_file(cls, api_key: str, path: str | os.PathLike[str]) -> Credentials:
        """``api_key`` with the Ed25519 private key in the PEM file ``path`` (unencrypted).

        Raises:
            ValueError: the file cannot be read, or holds no unencrypted Ed25519 private
                key in PEM; the message names the file, never shows what it holds.

        """
        from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415 - when used
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
            Ed25519PrivateKey,
        )
        from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
            load_pem_private_key,
        )

        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read key file {path}: {exc.strerror or exc}") from None
        try:
            key = load_pem_private_key(pem, password=None)
        except TypeError:  # a password is needed
            raise ValueError(
                f"key file {path}: the key is encrypted; give an unencrypted PEM file "
                "(readable by this user only)"
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise ValueError(f"key file {path}: not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"key file {path}: not an Ed25519 private key")  # noqa: TRY004 - a bad file, as the others
        return cls(api_key, ed25519_key=key)

    @property
    def has_ed25519(self) -> bool:
        """True if these credentials sign with an Ed25519 private key."""
        return self._ed25519 is not None

    def ed25519_public_pem(self) -> str:
        """The public half of the Ed25519 key, PEM (what the venue is given; not secret)."""
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - when used

        if self._ed25519 is None:
            raise ValueError("these credentials have no Ed25519 private key")
        return (
            self._ed25519.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def ed25519_b64(self, message: str) -> str:
        """Base64 Ed25519 signature of the UTF-8 bytes of ``message`` (Binance's)."""
        if self._ed25519 is None:
            raise ValueError("these credentials have no Ed25519 private key")
        return base64.b64encode(self._ed25519.sign(message.encode())).decode()

    def hmac_sha256(self, message: str) -> str:
        """Hex HMAC-SHA256 of ``message`` with the secret."""
        if not self._secret:
            raise ValueError("these credentials have no secret (an Ed25519 key signs instead)")
        return hmac.new(self._secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    def sign(self, nonce: str) -> str:
        """Hex HMAC-SHA256 of ``nonce`` (the simulated exchange signs ``timestamp:nonce``)."""
        return self.hmac_sha256(nonce)

    def hmac_sha512_b64(self, message: bytes) -> str:
        """Base64 HMAC-SHA512 of ``message`` keyed by the base64-decoded secret.

        Kraken's ``API-Sign`` (`tradeactors.venues.kraken.api_sign` builds ``message``:
        the URI path and SHA256(nonce + POST data)). The secret never leaves: only the
        signature does.

        Raises:
            ValueError: the secret is not base64 (the message does not show it).

        """
        try:
            key = base64.b64decode(self._secret, validate=True)
        except ValueError:  # binascii.Error is one
            raise ValueError("the API secret is not base64 (Kraken's secrets are)") from None
        return base64.b64encode(hmac.new(key, message, hashlib.sha512).digest()).decode()

    def __repr__(self) -> str:
        kind = "ed25519_key" if self._ed25519 is not None else "secret"
        return f"Credentials(api_key={self.api_key!r}, {kind}=***)"

    __str__ = __repr__


class OrderEntry(Protocol):
    """One venue's order-entry wire format over a websocket (one per gateway).

    Requests carry an integer id the venue echoes in its reply; execution reports are
    pushed unasked. Every ``encode_*`` returns the text frame to send.

    A session is opened in this order, on every (re)connection: `session_request` (a
    REST call, if the venue needs one), connect, `prelude` (if any), `logon`, then
    the optional ``after_logon(request_id) -> str | None`` if the codec has one (a
    request that needs the logon done: Binance's ``userDataStream.subscribe`` after an
    Ed25519 ``session.logon``); then cancel-all and the dead-man's switch (`encode`).
    """

    fill_ids: FillIds
    has_dead_man_switch: bool  # the venue cancels everything if not refreshed in time
    has_cancel_on_disconnect: bool  # the venue cancels a session's orders when it drops
    # An amend may raise the quantity at the same price (losing the queue place); where
    # it may not, the gateway refuses such an amend (``amend_quantity_increase``)
    # without sending it. A codec without the attribute counts as False.
    amend_increases: bool

    def session_request(self, credentials: Credentials, rest_url: str) -> RestRequest | None:
        """A REST call to make before connecting, on every connection; None: no such call.

        Kraken: the signed ``GetWebSocketsToken``, whose token authenticates the
        websocket session (a token must be used within 15 minutes: a fresh one is
        fetched for each connection). ``rest_url`` is the venue's REST base URL as
        configured (``[venue] rest_url``; empty: the codec's own default). The caller
        makes the call and gives the answer's body to the request's ``accept`` (see
        `RestRequest`, `prepare_session`).

        Raises:
            ValueError: the credentials cannot sign it (e.g. a secret that is not
                base64 where the venue's are); the message never shows the secret.

        """
        ...

    def logon(
        self, request_id: int, credentials: Credentials, *, cancel_on_disconnect: bool
    ) -> str:
        """Log on (authenticate), arming cancel-on-disconnect if asked and supported."""
        ...

    def prelude(self, request_id: int) -> str | None:
        """A request to send before the logon on every connection, or None.

        Binance: the server's time, so that signed timestamps carry the clock offset
        (``-1021`` never comes from drift). Its reply is read like any other (`decode`).
        """
        ...

    def encode(
        self, request: Request, request_id: int, fields: dict[str, Any]
    ) -> str | tuple[str, ...]:
        """Any other request: its frame, or a tuple of frames to send in order (`frames`).

        Fields: PLACE ``order`` (a `SubmitOrder`); CANCEL ``client_order_id``,
        ``order_id``; AMEND ``amend`` (an `AmendAtVenue`: the codec picks the venue's
        request, e.g. Binance's keep-priority amend or its cancel-replace); HEARTBEAT
        ``timeout`` (seconds); FILLS ``since`` (a watermark from the order manager);
        CANCEL_ALL, OPEN_ORDERS none. Several frames: Kraken's FILLS re-reads its
        ``executions`` snapshot (unsubscribe, subscribe); none: a request answered by one
        already in flight.

        A codec may also have ``reread_due() -> bool`` (Kraken's): True when the venue's
        report stream may have lost its last reports unseen; the gateway then sends a
        FILLS request (see ``KrakenOrderEntry.reread_due``). Without it: never.

        Raises:
            ValueError: a request this venue's codec cannot write (an AMEND at a venue
                without amends is refused to the order manager, never sent).

        """
        ...

    def decode(
        self, payload: str | bytes
    ) -> Reply | Message | SessionEnded | tuple[Reply | Message | SessionEnded, ...] | None:
        """What a frame holds, in order: one item, a tuple of several, or None.

        An item is a reply, a pushed report as a contract event, or `SessionEnded`.
        A venue whose frames carry one report returns it as is (no tuple to build on the
        hot path: the simulator, Binance); a venue that batches (Kraken's ``executions``
        lists several reports, and its snapshot may answer requests) returns a plain
        ``tuple`` of all of them, in the frame's order, so that none waits in the codec
        for the next frame. The gateway forwards every item, in order (`decoded_items`).

        Raises:
            msgspec.DecodeError, ValueError: a malformed frame (counted and dropped).

        """
        ...

    def fills(self, result: Any) -> tuple[OrderFilled, ...]:
        """The fills in the result of a FILLS request."""
        ...

    def open_orders(self, result: Any) -> tuple[VenueOrder, ...]:
        """The orders in the result of an OPEN_ORDERS request."""
        ...

    def cancelled(self, result: Any) -> int:
        """How many orders a CANCEL_ALL cancelled (0 if the venue does not say)."""
        ...


def frames(encoded: str | tuple[str, ...]) -> tuple[str, ...]:
    """What `OrderEntry.encode` returned, as the frames to send, in order."""
    return (encoded,) if isinstance(encoded, str) else encoded


@runtime_checkable
class RateLimitReporter(Protocol):
    """An `OrderEntry` codec that reads the venue's rate-limit counts from its replies.

    Optional: the gateway stops new orders while one nears its limit (Binance's
    ``rateLimits`` with each reply's ``count``; Kraken's per-pair rate counter).
    """

    def venue_rate_limits(self) -> tuple[VenueRateLimit, ...]:
        """The limits and their counts as the latest reply that had them said."""
        ...


def decoded_items(
    decoded: Reply | Message | SessionEnded | tuple[Reply | Message | SessionEnded, ...] | None,
) -> tuple[Reply | Message | SessionEnded, ...]:
    """What `OrderEntry.decode` returned, as a tuple of items in order (None: none).

    A plain ``tuple`` is several items; a `Reply` or a `SessionEnded` is one (a named
    tuple).
    """
    if decoded is None:
        return ()
    if type(decoded) is tuple:  # mypy cannot tell a plain tuple from a named one
        return cast("tuple[Reply | Message | SessionEnded, ...]", decoded)
    return (cast("Reply | Message | SessionEnded", decoded),)


_MAX_ANSWER = 1 << 20  # bytes of a session answer read at most (Kraken's is ~100)
_RETRY_LATER = frozenset({"rate_limited", "venue_unavailable"})  # refusals that pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: a signed request (and the key) goes nowhere else."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def prepare_session(
    order_entry: OrderEntry, credentials: Credentials, rest_url: str, *, timeout: float
) -> bool:
    """Make the codec's REST call before connecting (`OrderEntry.session_request`), if any.

    The answer's body goes to the request's ``accept``. Nothing of the request or the
    answer (headers, body) is logged or put in an error: only the method, the URL and
    the HTTP status. Returns whether a call was made.

    Raises:
        VenueRequestError: the venue refused (the codec read a refusal in the answer,
            whatever the HTTP status): retrying the same credentials does not help.
        OSError: the venue could not be reached (refused, reset, timed out), answered
            with an HTTP error status and no refusal the codec can read, answered
            something that is not an answer, or said to try later (a refusal
            ``rate_limited`` or ``venue_unavailable``): the venue is down, for now.
        ValueError: the request cannot be made (the credentials cannot sign it, the URL
            is not one).

    """
    request = order_entry.session_request(credentials, rest_url)
    if request is None:
        return False
    what = f"{request.method} {request.url}"
    http_request = urllib.request.Request(  # noqa: S310 - the configured venue's URL
        request.url, data=request.body, headers=request.headers, method=request.method
    )
    if http_request.type not in ("http", "https"):
        raise ValueError(f"{request.url!r} is not an http(s) URL")
    status = 0
    try:
        opener = urllib.request.build_opener(_NoRedirect)  # proxies from the environment
        with opener.open(http_request, timeout=timeout) as answer:
            body = answer.read(_MAX_ANSWER)
    except urllib.error.HTTPError as exc:  # an answer all the same: it may say why
        status = exc.code
        try:
            body = exc.read(_MAX_ANSWER)
        except (OSError, http.client.HTTPException):
            body = b""
        finally:
            exc.close()
    except http.client.HTTPException as exc:  # a broken answer (IncompleteRead...)
        raise ConnectionError(f"{what}: {type(exc).__name__}") from exc
    try:
        request.accept(body)
    except VenueRequestError as exc:
        if exc.code in _RETRY_LATER:
            raise ConnectionError(f"{what}: {exc}") from exc
        raise
    except ValueError as exc:  # msgspec.DecodeError is one
        detail = f"HTTP {status}" if status else f"not an answer: {str(exc)[:100]}"
        raise ConnectionError(f"{what}: {detail}") from exc
    if status:
        raise ConnectionError(f"{what}: HTTP {status}")
    return True


def open_orders_at_venue(
    order_entry: OrderEntry,
    url: str,
    credentials: Credentials,
    *,
    timeout: float = 5.0,
    rest_url: str = "",
) -> tuple[VenueOrder, ...]:
    """The account's open orders, asked over a fresh session without cancel-on-disconnect.

    What the system asks after it stopped, to say whether anything was left working.
    The session is opened as the gateway opens one (`OrderEntry.session_request` first,
    at ``rest_url``).

    Raises:
        VenueRequestError: the venue refused the session, the logon or the request.
        OSError, websocket.WebSocketException: the venue could not be reached.

    """
    prepare_session(order_entry, credentials, rest_url, timeout=timeout)
    connection = connect(url, timeout=timeout)
    reply = Reply(0)
    steps: tuple[tuple[int, str, Callable[[int], str | tuple[str, ...] | None]], ...] = (
        (1, "prelude", order_entry.prelude),
        (2, "logon", lambda i: order_entry.logon(i, credentials, cancel_on_disconnect=False)),
        (3, "open_orders", lambda i: order_entry.encode(Request.OPEN_ORDERS, i, {})),
    )
    try:
        for request_id, op, encode in steps:  # each encoded once the one before is answered
            encoded = encode(request_id)
            if encoded is None:
                continue
            for frame in frames(encoded):
                connection.send(frame)
            answered = False
            while not answered:
                for item in decoded_items(order_entry.decode(connection.recv())):
                    if isinstance(item, Reply) and item.request_id == request_id:
                        reply, answered = item, True
            if reply.error is not None:
                raise VenueRequestError(op, reply.error, reply.message)
        return order_entry.open_orders(reply.result)
    finally:
        close(connection, timeout=0.5)


# -- the adapter and the registry -----------------------------------------------------------


class VenueAdapter(Protocol):
    """A venue: its kind, its market data, and its order entry (None: not yet).

    ``order_entry(venue, instruments)`` makes the codec of one gateway: the venue's name
    in the system, and the instruments it trades at that venue, by symbol (or the one
    `Instrument`, as before). A codec reads each order and report in its own symbol's
    tick and lot; a report of a symbol it was not given is a bad frame.
    """

    @property
    def kind(self) -> str:
        """The name of the kind (``[venue] kind``)."""
        ...

    @property
    def market_data(self) -> MarketData:
        """The market-data side."""
        ...

    @property
    def order_entry(
        self,
    ) -> Callable[[str, Instrument | Mapping[str, Instrument]], OrderEntry] | None:
        """The order-entry side, or None if the venue has none yet."""
        ...


class InstrumentSource(NamedTuple):
    """Where a venue publishes its instruments, and how to read the answer.

    An adapter that has one gives it as its ``instruments`` attribute (optional: see
    `instrument_source`); the system then asks the venue for the instrument at start.
    """

    what: str  # the answer's name at the venue, for messages (``exchangeInfo``)
    url: Callable[[str, str], str]  # (REST base URL, symbol) -> the URL to GET
    # (body, symbol, venue name) -> the instrument; raises msgspec.DecodeError, ValueError
    # or VenueRequestError for an answer that does not say
    read: Callable[[bytes, str, str], Instrument]
    # body -> the venue's rate limits it states (Binance's ``rateLimits``), which the
    # gateway's budget is kept within; None: the answer states none
    rate_limits: Callable[[bytes], tuple[VenueRateLimit, ...]] | None = None


def instrument_source(adapter: VenueAdapter) -> InstrumentSource | None:
    """The adapter's `InstrumentSource` (its optional ``instruments``), or None."""
    source = getattr(adapter, "instruments", None)
    return source if isinstance(source, InstrumentSource) else None


def instrument_kinds() -> tuple[str, ...]:
    """The venue kinds whose adapter publishes its instruments, sorted."""
    return tuple(k for k in venue_kinds() if instrument_source(_adapter(k)) is not None)


# kind -> "module:attribute" of the built-in adapters, imported when first asked for.
_BUILTIN = {
    "sim": "tradeactors.venues.sim:ADAPTER",
    "binance": "tradeactors.venues.binance:ADAPTER",
    "kraken": "tradeactors.venues.kraken:ADAPTER",
}
_registered: dict[str, VenueAdapter] = {}
_lock = threading.Lock()


def register_venue(adapter: VenueAdapter, *, replace: bool = False) -> None:
    """Make ``adapter`` the venue of kind ``adapter.kind`` (``[venue] kind`` in config).

    Raises:
        ValueError: the kind is taken (by a built-in too) and ``replace`` is False.

    """
    kind = adapter.kind
    with _lock:
        if not replace and (kind in _registered or kind in _BUILTIN):
            raise ValueError(f"a venue of kind {kind!r} is registered already")
        _registered[kind] = adapter


def venue_kinds(*, trading: bool = False) -> tuple[str, ...]:
    """The kinds known (with ``trading``: only those with order entry), sorted."""
    kinds = sorted({*_BUILTIN, *_registered})
    if not trading:
        return tuple(kinds)
    return tuple(k for k in kinds if _adapter(k).order_entry is not None)


def venue_adapter(kind: str, *, trading: bool = False) -> VenueAdapter:
    """The adapter of ``kind``.

    Raises:
        UnknownVenueKindError: no such kind, or (with ``trading``) it has no order entry.

    """
    if kind not in _registered and kind not in _BUILTIN:
        raise UnknownVenueKindError(kind, venue_kinds())
    adapter = _adapter(kind)
    if trading and adapter.order_entry is None:
        raise UnknownVenueKindError(
            kind, venue_kinds(trading=True), what="venue kind with order entry"
        )
    return adapter


def _adapter(kind: str) -> VenueAdapter:
    with _lock:
        adapter = _registered.get(kind)
    if adapter is not None:
        return adapter
    module, _, name = _BUILTIN[kind].partition(":")
    builtin: VenueAdapter = getattr(importlib.import_module(module), name)
    return builtin
