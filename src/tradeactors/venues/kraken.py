"""Kraken websocket ``book`` (v1 and v2): snapshot, updates, depth trimming, CRC32 checksum.

A v1 book message is a JSON array ``[channelID, payload..., channelName, pair]``:
a snapshot payload has ``as``/``bs``; an update has ``a`` and/or ``b`` (possibly in two
objects) and ``c``, the CRC32 of the top 10 asks then top 10 bids, each price and
volume written as sent with the ``.`` removed and leading zeros stripped. Levels are
``[price, volume, timestamp]`` plus ``"r"`` when republished; volume 0 deletes.
After each update the book is trimmed to the subscribed depth, then checked: the
checksum, then that it is not crossed (best bid at or above best ask). A book that
fails either, or a level the book must not hold (not a decimal, off the tick, a zero
price, beyond `MAX_UNITS`), is cleared and resynced, never published. A volume finer
than the instrument's lot is rounded up to the next lot, as in every book
(`tradeactors.core.book`); the checksum needs volumes as sent, so a Kraken book's lot
is the precision Kraken writes them in (`KrakenBook.instrument_for`).

Decoding never lets bad input through as anything but ``msgspec.DecodeError`` or
``ValueError`` (the public ``decode_*`` functions) or `FrameDroppedError` (the
adapter): JSON nested too deep for the decoder's recursion limit and text that is not
UTF-8 are malformed; error messages show bad values through `reprlib`, so a deeply
nested value cannot make them recurse either.

Order entry (`KrakenOrderEntry`) is Kraken spot's WebSocket v2 (``add_order``,
``cancel_order``, ``cancel_all``, ``cancel_all_orders_after``, the ``executions``
channel), authenticated by a token from the REST ``GetWebSocketsToken`` call signed as
Kraken documents (`api_sign`); `instrument_from_asset_pairs` reads an instrument's tick,
lot and minimums from ``AssetPairs``. The codec builds requests and reads answers: the
caller does the I/O (the gateway makes the token call before every connection, see
`KrakenOrderEntry.session_request`). Its decoding raises only ``msgspec.DecodeError`` or
``ValueError``.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import math
import re
import reprlib
import threading
import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from tradeactors.clock import SystemClock
from tradeactors.core.book import MAX_UNITS, OrderBook, book_instrument
from tradeactors.core.instrument import Instrument, LevelParser, ParseError, decimal_places
from tradeactors.core.messages import (
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderFilled,
    Side,
    TradeTick,
    VenueOrder,
)
from tradeactors.core.ratelimit import RateKind, VenueRateLimit
from tradeactors.errors import ConfigError, FrameDroppedError, GatewayError, VenueRequestError
from tradeactors.venues.adapter import (
    BookOutcome,
    Credentials,
    EventKind,
    FillIds,
    InstrumentSource,
    Reply,
    Request,
    RestRequest,
    SessionEnded,
    VenueEvent,
    json_errors,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from tradeactors.clock import Clock
    from tradeactors.core.messages import AmendAtVenue, Message, SubmitOrder
    from tradeactors.venues.adapter import OrderEntry
    from tradeactors.venues.capture import Frame

__all__ = [
    "ADAPTER",
    "BOOK_DEPTHS",
    "REST_URL",
    "WS_AUTH_URL",
    "WS_URL",
    "BookMessage",
    "KrakenBook",
    "KrakenBookSync",
    "KrakenMarketData",
    "KrakenOrderEntry",
    "KrakenRestRequest",
    "KrakenResult",
    "KrakenTrade",
    "api_sign",
    "asset_pairs_url",
    "checksum",
    "cl_ord_id_for",
    "client_order_id_from",
    "decode_any_book_messages",
    "decode_book_message",
    "decode_v2_book_messages",
    "decode_v2_trades",
    "instrument_from_asset_pairs",
    "kraken_reason",
    "order_number",
    "private_request",
    "v2_symbol",
    "websockets_token",
]

_decoder = msgspec.json.Decoder()


class BookMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded v1 book message for one pair."""

    pair: str
    snapshot: bool
    asks: tuple[tuple[str, str], ...]
    bids: tuple[tuple[str, str], ...]
    checksum: int | None
    depth: int | None = None  # the subscribed depth, when the message says it (v1 "book-N")


"""The message of the ``msgspec.DecodeError`` for JSON deeper than the decoder recurses."""

_CRC_DIGITS = 10  # a CRC32 is at most 4294967295
_DEPTH_DIGITS = 6  # Kraken's depths are 10 to 1000


def decode_book_message(frame: bytes | str) -> BookMessage | None:
    """The book message in ``frame``, or None for events (heartbeat, status...).

    Raises:
        msgspec.DecodeError: malformed JSON (also: nested too deeply, not UTF-8).
        ValueError: an array that is not a well-formed book message.

    """
    with json_errors:
        return _decode_book_message(frame)


def _decode_book_message(frame: bytes | str) -> BookMessage | None:
    """`decode_book_message`, letting `RecursionError` and `UnicodeError` through."""
    value: Any = _decoder.decode(frame)
    if isinstance(value, dict):
        return None  # {"event": ...}
    if not (
        isinstance(value, list)
        and len(value) >= 4  # noqa: PLR2004 - channel id, payload, channel name, pair
        and isinstance(value[-1], str)
        and isinstance(value[-2], str)
    ):
        raise ValueError("not a Kraken v1 channel message")
    channel: str = value[-2]
    if not channel.startswith("book"):
        return None  # another channel
    asks: list[tuple[str, str]] = []
    bids: list[tuple[str, str]] = []
    snapshot = False
    crc: int | None = None
    for payload in value[1:-2]:
        if not isinstance(payload, dict):
            raise ValueError("book payload is not an object")  # noqa: TRY004 - a bad frame
        for key, levels in payload.items():
            if key == "c":
                if not (
                    isinstance(levels, str)
                    and levels.isascii()
                    and levels.isdigit()
                    and len(levels) <= _CRC_DIGITS
                ):
                    raise ValueError(f"checksum is not a CRC32 string: {reprlib.repr(levels)}")
                crc = int(levels)
                continue
            side = {"as": asks, "a": asks, "bs": bids, "b": bids}.get(key)
            if side is None:
                raise ValueError(f"unknown book field {reprlib.repr(key)}")
            snapshot = snapshot or key in ("as", "bs")
            side.extend(_levels(levels))
    _, _, depth = channel.partition("-")
    subscribed = (
        int(depth) if depth.isascii() and depth.isdigit() and len(depth) <= _DEPTH_DIGITS else None
    )
    return BookMessage(
        pair=value[-1],
        snapshot=snapshot,
        asks=tuple(asks),
        bids=tuple(bids),
        checksum=crc,
        depth=subscribed or None,  # "book-0" says nothing
    )


def _levels(levels: Any) -> list[tuple[str, str]]:
    """``[[price, volume, time, ...], ...]`` with string price and volume, or ValueError.

    The strings are checked by the book (`KrakenBook`): a bad one makes it resync.
    """
    if not isinstance(levels, list):
        raise ValueError("book levels are not a list")  # noqa: TRY004 - a bad frame
    out = []
    for level in levels:
        if not (
            isinstance(level, list)
            and len(level) >= 2  # noqa: PLR2004 - price and volume
            and isinstance(level[0], str)
            and isinstance(level[1], str)
        ):
            raise ValueError(f"malformed book level: {reprlib.repr(level)}")
        out.append((level[0], level[1]))
    return out


def _step(places: int) -> str:
    return "1" if places == 0 else "0." + "0" * (places - 1) + "1"


def checksum(book: OrderBook) -> int:
    """Kraken's CRC32 of the top 10 asks then the top 10 bids of ``book``."""
    instrument = book.instrument
    parts: list[str] = []
    for price, size in [*book.asks(10), *book.bids(10)]:
        parts.append(instrument.format_price(price).replace(".", "").lstrip("0"))
        parts.append(instrument.format_size(size).replace(".", "").lstrip("0"))
    return zlib.crc32("".join(parts).encode()) & 0xFFFFFFFF


class KrakenResult(enum.Enum):
    """What `KrakenBook` did with a message."""

    SNAPSHOT = "snapshot"
    APPLIED = "applied"  # and the checksum matched (or none was sent)
    CHECKSUM_MISMATCH = "checksum_mismatch"  # book cleared: resubscribe for a snapshot
    BAD_LEVEL = "bad_level"  # a level did not parse: book cleared, resubscribe
    CROSSED = "crossed"  # the result was crossed (bid >= ask): book cleared, resubscribe
    NOT_SYNCED = "not_synced"  # an update before any snapshot: dropped


class KrakenBook:
    """One pair's book, kept in sync with Kraken's stream (v1 or v2) and its checksum.

    The book holds integers in ``instrument``'s ticks and lots: a volume finer than the
    lot is rounded up (`tradeactors.core.book`), so the order lot of a config (say
    ``0.0001`` BTC where Kraken writes 8 decimals) gives a book in that lot. The checksum
    is computed from the strings as sent, kept beside the book for each level (`checksum`),
    never from the integers: it matches whatever the lot, and whatever precision the
    venue writes (v1: 8 decimals; v2: the pair's ``lot_decimals``).
    """

    def __init__(self, instrument: Instrument, depth: int = 10) -> None:
        self.instrument = instrument
        self.depth = depth
        self.book = OrderBook(instrument)
        self._level = LevelParser(book_instrument(instrument)).level  # refuses zero prices
        self.synced = False
        # ticks -> the level's checksum text (price and volume as sent, without the "."
        # and leading zeros); levels the book no longer holds are pruned (`_prune`)
        self._sent_bids: dict[int, str] = {}
        self._sent_asks: dict[int, str] = {}

    @staticmethod
    def instrument_for(
        pair: str, message: BookMessage, volume_places: int | None = 8
    ) -> Instrument:
        """An instrument with the decimal places of the prices written in ``message``.

        Volumes get ``volume_places`` (v1 writes 8), or those written, if it is None.
        Only plain decimals with at most 18 decimal places count: a malformed level
        cannot make a tick of a million places.
        """
        levels = [(p, q) for p, q in (*message.asks, *message.bids) if _plain(p) and _plain(q)]
        places = max((decimal_places(p) for p, _ in levels), default=0)
        if volume_places is None:
            volume_places = max((decimal_places(q) for _, q in levels), default=0)
        return Instrument(
            venue="kraken", symbol=pair, tick_size=_step(places), lot_size=_step(volume_places)
        )

    def on_message(self, message: BookMessage) -> KrakenResult:
        """Apply a snapshot or an update; verify the checksum, then that it is not crossed."""
        try:
            asks = [self._level(p, q) for p, q in message.asks]
            bids = [self._level(p, q) for p, q in message.bids]
        except ParseError:
            return self._break(KrakenResult.BAD_LEVEL)
        if message.snapshot:
            self.book.apply_snapshot(bids, asks, update_id=0)
            self._sent_bids.clear()
            self._sent_asks.clear()
            _remember(self._sent_bids, bids, message.bids)
            _remember(self._sent_asks, asks, message.asks)
            self.synced = True
            return self._verify(message, KrakenResult.SNAPSHOT)
        if not self.synced:
            return KrakenResult.NOT_SYNCED
        self.book.apply_levels(bids, asks, self.book.update_id + 1)
        self.book.trim(self.depth)
        _remember(self._sent_bids, bids, message.bids)
        _remember(self._sent_asks, asks, message.asks)
        self._prune()
        return self._verify(message, KrakenResult.APPLIED)

    def checksum(self) -> int:
        """Kraken's CRC32 of the top 10 asks then the top 10 bids, as they were sent."""
        sent_asks, sent_bids = self._sent_asks, self._sent_bids
        text = "".join(
            [
                *(sent_asks[price] for price, _ in self.book.asks(10)),
                *(sent_bids[price] for price, _ in self.book.bids(10)),
            ]
        )
        return zlib.crc32(text.encode()) & 0xFFFFFFFF

    def _prune(self) -> None:
        """Forget the texts of levels the book dropped (trimmed below the depth)."""
        book = self.book
        if len(self._sent_bids) + len(self._sent_asks) > 2 * len(book) + _SLACK:
            self._sent_bids = {p: self._sent_bids[p] for p, _ in book.bids()}
            self._sent_asks = {p: self._sent_asks[p] for p, _ in book.asks()}

    def _verify(self, message: BookMessage, ok: KrakenResult) -> KrakenResult:
        if message.checksum is not None and self.checksum() != message.checksum:
            return self._break(KrakenResult.CHECKSUM_MISMATCH)
        if self.book.crossed():  # even if the venue's checksum agrees: never published
            return self._break(KrakenResult.CROSSED)
        return ok

    def _break(self, result: KrakenResult) -> KrakenResult:
        self.synced = False
        self.book.clear()
        self._sent_bids.clear()
        self._sent_asks.clear()
        return result


_SLACK = 64  # texts of dropped levels kept before a prune: pruning is O(levels)


def _remember(
    sent: dict[int, str], parsed: list[tuple[int, int]], written: tuple[tuple[str, str], ...]
) -> None:
    """Keep the checksum text of each level applied (a volume of 0 deletes it)."""
    for (price, size), (price_text, volume_text) in zip(parsed, written, strict=True):
        if size:
            sent[price] = price_text.replace(".", "").lstrip("0") + volume_text.replace(
                ".", ""
            ).lstrip("0")
        else:
            sent.pop(price, None)


class _V2Level(msgspec.Struct, frozen=True):
    price: msgspec.Raw  # the number exactly as written: its digits feed the checksum
    qty: msgspec.Raw


class _V2Book(msgspec.Struct, frozen=True):
    symbol: str
    bids: tuple[_V2Level, ...] = ()
    asks: tuple[_V2Level, ...] = ()
    checksum: int | None = None


class _V2Message(msgspec.Struct, frozen=True):
    channel: str = ""  # absent from acknowledgements ({"method": ..., "result": ...})
    type: str = ""
    # decoded as books only on the book channel: other channels' data (``status``,
    # ``heartbeat``, ``executions``) has other shapes
    data: msgspec.Raw = msgspec.Raw(b"[]")


_v2_decoder = msgspec.json.Decoder(_V2Message)
_v2_books = msgspec.json.Decoder(tuple[_V2Book, ...])
_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_PLAIN_PLACES = re.compile(r"[0-9]+(?:\.[0-9]{1,18})?")


def _plain(text: str) -> bool:
    """A plain decimal with at most 18 decimal places (``"1"``, ``"0.25"``)."""
    return _PLAIN_PLACES.fullmatch(text) is not None


def _v2_text(raw: msgspec.Raw) -> str:
    text = bytes(raw).decode()
    if _PLAIN.fullmatch(text) is None:  # also refuses strings, arrays, objects, literals
        raise ValueError(f"not a plain non-negative JSON number: {text[:40]}")
    return text


def decode_v2_book_messages(frame: bytes | str) -> tuple[BookMessage, ...] | None:
    """The book messages in a websocket v2 frame, or None for other channels.

    v2 writes prices and quantities as JSON numbers with the pair's full precision;
    they are kept as the exact text sent (never through float), so the checksum and
    the integer parsing see the venue's own digits. Snapshots carry a checksum too.

    Raises:
        msgspec.DecodeError: malformed JSON (also: nested too deeply, not UTF-8) or a
            book message of the wrong shape.
        ValueError: a price or quantity that is not a plain decimal number.

    """
    with json_errors:
        return _decode_v2_book_messages(frame)


def _decode_v2_book_messages(frame: bytes | str) -> tuple[BookMessage, ...] | None:
    return _v2_book_messages(_v2_decoder.decode(frame))


def _v2_book_messages(message: _V2Message) -> tuple[BookMessage, ...] | None:
    if message.channel != "book" or message.type not in ("snapshot", "update"):
        return None
    return tuple(
        BookMessage(
            pair=book.symbol,
            snapshot=message.type == "snapshot",
            asks=tuple((_v2_text(level.price), _v2_text(level.qty)) for level in book.asks),
            bids=tuple((_v2_text(level.price), _v2_text(level.qty)) for level in book.bids),
            checksum=book.checksum,
        )
        for book in _v2_books.decode(message.data)
    )


def decode_any_book_messages(frame: bytes | str) -> tuple[BookMessage, ...]:
    """Book messages of a v1 or v2 frame (v2 frames are objects with a ``channel``).

    Events and other channels give an empty tuple. Raises as the decoders do.
    """
    with json_errors:
        return _decode_any_book_messages(frame)


def _decode_any_book_messages(frame: bytes | str) -> tuple[BookMessage, ...]:
    """`decode_any_book_messages`, letting `RecursionError` and `UnicodeError` through."""
    text = frame if isinstance(frame, str) else frame.decode()
    if text.lstrip().startswith("{") and '"channel"' in text:
        return _decode_v2_book_messages(text) or ()
    message = _decode_book_message(text)
    return () if message is None else (message,)


# -- public trades: the v2 ``trade`` channel (websocket-v2/trade) ----------------------------


class KrakenTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One public trade of the v2 ``trade`` channel; price and quantity as sent.

    ``side`` is the taker's (Kraken: "Taker order direction"); ``timestamp_ns`` the
    venue's time of the trade (RFC 3339 on the wire).
    """

    symbol: str
    side: Side
    price: str
    qty: str
    trade_id: int
    timestamp_ns: int


class _V2Trade(msgspec.Struct, frozen=True):
    symbol: str
    side: Side
    price: msgspec.Raw
    qty: msgspec.Raw
    trade_id: int = 0
    timestamp: dt.datetime | None = None


_v2_trades = msgspec.json.Decoder(tuple[_V2Trade, ...])
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def decode_v2_trades(frame: bytes | str) -> tuple[KrakenTrade, ...] | None:
    """The trades of a websocket v2 ``trade`` update, or None for other channels.

    A ``snapshot`` (the last trades before the subscription, if one was asked for)
    gives ``()``: those trades are history, not the market now.

    Raises:
        msgspec.DecodeError: malformed JSON (also: nested too deeply, not UTF-8) or a
            trade message of the wrong shape (a side other than buy/sell, a time that
            is not RFC 3339).
        ValueError: a price or quantity that is not a plain decimal number.

    """
    with json_errors:
        return _decode_v2_trades(frame)


def _decode_v2_trades(frame: bytes | str) -> tuple[KrakenTrade, ...] | None:
    return _v2_trades_of(_v2_decoder.decode(frame))


def _v2_trades_of(message: _V2Message) -> tuple[KrakenTrade, ...] | None:
    if message.channel != "trade":
        return None
    if message.type != "update":
        return ()
    return tuple(
        KrakenTrade(
            symbol=trade.symbol,
            side=trade.side,
            price=_v2_text(trade.price),
            qty=_v2_text(trade.qty),
            trade_id=trade.trade_id,
            timestamp_ns=_ns(trade.timestamp),
        )
        for trade in _v2_trades.decode(message.data)
    )


def _ns(when: dt.datetime | None) -> int:
    """Nanoseconds since the epoch of an aware time (0: none, or naive)."""
    if when is None or when.tzinfo is None:
        return 0
    return (when - _EPOCH) // _MICROSECOND * 1_000


# -- order entry: REST signing and the WebSocket token -------------------------------------
#
# Kraken spot, from its documentation (docs.kraken.com/api/docs/...):
# - guides/spot-rest-auth: API-Sign = base64(HMAC-SHA512(base64-decoded secret,
#   URI path + SHA256(nonce + POST data))), headers API-Key and API-Sign, the nonce an
#   always increasing integer in the form-encoded body.
# - rest-api/get-websockets-token: the token that authenticates every private WebSocket
#   request; used within 15 minutes, it lasts as long as the connection and its private
#   subscription.
# - websocket-v2/executions, add_order, cancel_order, cancel_all, cancel_after, ping.
# - rest-api/get-tradable-asset-pairs: tick_size, lot_decimals, ordermin, costmin.
#
# The codec builds requests and reads answers; the gateway does the I/O.

REST_URL = "https://api.kraken.com"
"""Kraken's spot REST API (``GetWebSocketsToken``, ``AssetPairs``)."""

WS_URL = "wss://ws.kraken.com/v2"
"""Kraken's public WebSocket v2 endpoint: the ``book`` channel (market data)."""

WS_AUTH_URL = "wss://ws-auth.kraken.com/v2"
"""Kraken's authenticated WebSocket v2 endpoint: order entry and the ``executions`` channel."""

TOKEN_PATH = "/0/private/GetWebSocketsToken"  # noqa: S105 - a URL path, not a secret
ASSET_PAIRS_PATH = "/0/public/AssetPairs"


class KrakenRestRequest(NamedTuple):
    """A REST call for the caller to make (the codec does no I/O); ``API-Sign`` never shown."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def __repr__(self) -> str:
        shown = {k: "***" if k == "API-Sign" else v for k, v in self.headers.items()}
        return (
            f"KrakenRestRequest(method={self.method!r}, url={self.url!r}, "
            f"headers={shown!r}, body={self.body!r})"
        )


def api_sign(credentials: Credentials, url_path: str, nonce: int | str, post_data: str) -> str:
    """Kraken's ``API-Sign`` of a private REST request (the spot REST authentication guide).

    ``base64(HMAC-SHA512(base64-decoded secret, url_path + SHA256(nonce + post_data)))``,
    where ``post_data`` is the form-encoded body exactly as sent (nonce included).

    Raises:
        ValueError: the secret is not base64 (the message never shows it).

    """
    digest = hashlib.sha256(f"{nonce}{post_data}".encode()).digest()
    return credentials.hmac_sha512_b64(url_path.encode() + digest)


def private_request(
    credentials: Credentials, path: str, nonce: int, base_url: str = REST_URL
) -> KrakenRestRequest:
    """A signed ``POST`` of ``path`` whose form body is just the nonce."""
    body = f"nonce={nonce}"
    return KrakenRestRequest(
        method="POST",
        url=base_url.rstrip("/") + path,
        headers={
            "API-Key": credentials.api_key,
            "API-Sign": api_sign(credentials, path, nonce, body),
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "tradeactors",
        },
        body=body.encode(),
    )


class _RestAnswer(msgspec.Struct):
    """Kraken's REST envelope: ``{"error": [...], "result": ...}`` (errors start with E)."""

    error: tuple[str, ...] = ()
    result: msgspec.Raw = msgspec.Raw()


class _Token(msgspec.Struct):
    token: str
    expires: int = 0


_rest_answer_decoder = msgspec.json.Decoder(_RestAnswer)
_token_decoder = msgspec.json.Decoder(_Token)
_TOKEN = re.compile(r"[!-~]{1,512}")  # printable ASCII, no spaces


def _rest_result(body: bytes | str, op: str) -> msgspec.Raw:
    """The ``result`` of a REST answer, or `VenueRequestError` if it carries errors."""
    with json_errors:
        answer = _rest_answer_decoder.decode(body)
    errors = [e for e in answer.error if not e.startswith("W")]  # W...: warnings
    if errors:
        raise VenueRequestError(op, kraken_reason(op, errors[0]), "; ".join(errors)[:300])
    if not answer.result:
        raise ValueError(f"a {op} answer without a result")
    return answer.result


def websockets_token(body: bytes | str) -> str:
    """The token in a ``GetWebSocketsToken`` answer.

    Raises:
        tradeactors.errors.VenueRequestError: Kraken refused (``error`` not empty), its
            ``code`` the contract's reason (``auth_failed``, ``replayed_nonce``...).
        msgspec.DecodeError, ValueError: not such an answer.

    """
    token = _token_decoder.decode(_rest_result(body, "GetWebSocketsToken")).token
    if _TOKEN.fullmatch(token) is None:
        raise ValueError("the WebSocket token is not printable ASCII")  # never shown
    return token


# -- order entry: instruments from AssetPairs ---------------------------------------------


class _AssetPair(msgspec.Struct, kw_only=True):
    """The fields of an ``AssetPairs`` entry an `Instrument` needs."""

    altname: str = ""
    wsname: str = ""
    pair_decimals: int
    lot_decimals: int
    tick_size: str = ""
    ordermin: str = ""
    costmin: str = ""


_asset_pairs_decoder = msgspec.json.Decoder(dict[str, _AssetPair])
_MAX_DECIMALS = 18
# Kraken's WebSocket v2 writes BTC and DOGE where v1 (``wsname``) writes XBT and XDG.
_V2_ASSETS = {"XBT": "BTC", "XDG": "DOGE"}


def v2_symbol(wsname: str) -> str:
    """The WebSocket v2 symbol of an ``AssetPairs`` ``wsname`` (``XBT/USD`` -> ``BTC/USD``)."""
    base, slash, quote = wsname.partition("/")
    if not slash:
        return wsname
    return f"{_V2_ASSETS.get(base, base)}/{_V2_ASSETS.get(quote, quote)}"


def asset_pairs_url(pair: str | None = None, base_url: str = REST_URL) -> str:
    """Where ``AssetPairs`` is fetched (one pair, or all)."""
    url = base_url.rstrip("/") + ASSET_PAIRS_PATH
    return url if pair is None else f"{url}?pair={pair}"


def instrument_from_asset_pairs(
    body: bytes | str, pair: str, *, venue: str = "kraken", symbol: str | None = None
) -> Instrument:
    """The `Instrument` of ``pair`` in an ``AssetPairs`` answer.

    ``pair`` is the entry's key (``XXBTZUSD``), ``altname`` (``XBTUSD``), ``wsname``
    (``XBT/USD``) or v2 symbol (``BTC/USD``). The instrument is named by its v2 symbol
    (or ``symbol``); its tick is ``tick_size`` (``10**-pair_decimals`` if absent), its lot
    ``10**-lot_decimals``, its minimum quantity ``ordermin`` and minimum notional
    ``costmin``. The pair's ``status`` (``online``, ``cancel_only``...) has no place in an
    `Instrument` and is not checked here.

    Raises:
        tradeactors.errors.VenueRequestError: Kraken answered with an error.
        msgspec.DecodeError, ValueError: not such an answer, ``pair`` not in it, or a
            field that is not a plain decimal.

    """
    pairs = _asset_pairs_decoder.decode(_rest_result(body, "AssetPairs"))
    for key, info in pairs.items():
        if pair in (key, info.altname, info.wsname, v2_symbol(info.wsname)):
            break
    else:
        raise ValueError(f"no pair {reprlib.repr(pair)} in the AssetPairs answer")
    for name, places in (
        ("pair_decimals", info.pair_decimals),
        ("lot_decimals", info.lot_decimals),
    ):
        if not 0 <= places <= _MAX_DECIMALS:
            raise ValueError(f"{name} out of range: {places}")
    for name, text in (
        ("tick_size", info.tick_size),
        ("ordermin", info.ordermin),
        ("costmin", info.costmin),
    ):
        if text and not _plain(text):
            raise ValueError(f"{name} is not a plain decimal: {reprlib.repr(text)}")
    try:
        return Instrument(
            venue=venue,
            symbol=symbol or v2_symbol(info.wsname) or key,
            tick_size=info.tick_size or _step(info.pair_decimals),
            lot_size=_step(info.lot_decimals),
            min_quantity=info.ordermin,
            min_notional=info.costmin,
        )
    except ConfigError as exc:  # a tick of zero
        raise ValueError(str(exc)) from None


# -- order entry: client order ids --------------------------------------------------------
#
# cl_ord_id (websocket-v2/add_order, guides/spot-clordid) is a long UUID (36), a short
# UUID (32 hex) or "free format ascii text up to 18 characters"; Kraken keeps it as a
# 128-bit integer and checks it is unique among the account's open orders. Ours
# (`ClientOrderIds`: tag, 12 base-36 digits, "-", a counter) outgrow 18 characters, so:
# 1. up to 18 of [0-9A-Za-z-]: sent as it is (free text);
# 2. already a UUID: sent as it is;
# 3. up to 23 of [0-9a-z-]: packed, reversibly, into the 122 free bits of a version-4
#    short UUID (base 38, digit 0 never used), so it comes back from any codec;
# 4. anything else: a version-4 UUID from its BLAKE2b hash, remembered by this codec
#    only (the codec lives as long as the system; a process restart forgets it).

_FREE_TEXT = re.compile(r"[0-9A-Za-z-]{1,18}")
_PACKABLE = re.compile(r"[0-9a-z-]{19,23}")
_SHORT_UUID = re.compile(r"[0-9a-fA-F]{32}")
_LONG_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz-"
_RADIX = len(_ALPHABET) + 1  # digit 0 is never a character: leading zeros are no text
_LOW_62 = (1 << 62) - 1


def _uuid_hex(cl_ord_id: str) -> str | None:
    """The 32 lower-case hex digits of a UUID (short or long form), or None."""
    if _SHORT_UUID.fullmatch(cl_ord_id) or _LONG_UUID.fullmatch(cl_ord_id):
        return cl_ord_id.replace("-", "").lower()
    return None


def _as_v4(payload: int) -> int:
    """A 128-bit version-4 UUID holding the 122-bit ``payload``."""
    return (
        (payload >> 74) << 80
        | 0x4 << 76
        | ((payload >> 62) & 0xFFF) << 64
        | 0b10 << 62
        | (payload & _LOW_62)
    )


def _pack(text: str) -> str:
    """``text`` (19 to 23 of `_ALPHABET`) as the hex of a version-4 UUID."""
    payload = 0
    for char in text:
        payload = payload * _RADIX + _ALPHABET.index(char) + 1
    return f"{_as_v4(payload):032x}"


def _unpack(hex32: str) -> str | None:
    """The text `_pack` packed into ``hex32``, or None if it holds none."""
    value = int(hex32, 16)
    if (value >> 76) & 0xF != 0x4 or (value >> 62) & 0b11 != 0b10:  # noqa: PLR2004 - v4 bits
        return None
    payload = (value >> 80) << 74 | ((value >> 64) & 0xFFF) << 62 | (value & _LOW_62)
    chars: list[str] = []
    while payload:
        payload, digit = divmod(payload, _RADIX)
        if digit == 0:
            return None
        chars.append(_ALPHABET[digit - 1])
    text = "".join(reversed(chars))
    return text if _PACKABLE.fullmatch(text) else None


def _hashed_uuid(client_order_id: str) -> str:
    digest = hashlib.blake2b(client_order_id.encode(), digest_size=16).digest()
    value = int.from_bytes(digest, "big")
    value = value & ~(0xF << 76) | 0x4 << 76
    value = value & ~(0b11 << 62) | 0b10 << 62
    return f"{value:032x}"


def cl_ord_id_for(client_order_id: str) -> str | None:
    """Kraken's ``cl_ord_id`` for ``client_order_id`` without any memory, or None.

    Free text up to 18 characters, a UUID, or (19 to 23 of ``[0-9a-z-]``) a short UUID
    that `client_order_id_from` turns back into it. None: the id fits none of these (the
    codec then sends a hash and remembers it).
    """
    if _FREE_TEXT.fullmatch(client_order_id) or _uuid_hex(client_order_id):
        return client_order_id
    if _PACKABLE.fullmatch(client_order_id):
        return _pack(client_order_id)
    return None


def client_order_id_from(cl_ord_id: str) -> str:
    """Our client order id from a ``cl_ord_id`` Kraken echoes (the text itself if not packed)."""
    hex32 = _uuid_hex(cl_ord_id)
    if hex32 is not None:
        unpacked = _unpack(hex32)
        if unpacked is not None:
            return unpacked
    return cl_ord_id


def _order_number(order_id: str) -> int:
    """The contract's integer ``order_id`` for Kraken's string one (a 63-bit hash, not 0)."""
    digest = hashlib.blake2b(order_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1 or 1


# -- order entry: errors --------------------------------------------------------------------

# Kraken's error strings (guides/spot-errors, and the replies' ``error``) by prefix: Kraken
# may append detail (``EGeneral:Invalid arguments:...``). Those absent keep their own text.
_REASONS: tuple[tuple[str, str], ...] = (
    ("EOrder:Rate limit exceeded", "rate_limited"),
    ("EOrder:Domain rate limit exceeded", "rate_limited"),
    ("EAPI:Rate limit exceeded", "rate_limited"),
    ("EGeneral:Too many requests", "rate_limited"),
    ("EOrder:Unknown order", "unknown_order"),
    ("EAPI:Invalid nonce", "replayed_nonce"),
    ("EAPI:Invalid key", "auth_failed"),
    ("EAPI:Invalid signature", "auth_failed"),
    ("EAPI:Invalid token", "auth_failed"),
    ("EAPI:Permission denied", "auth_failed"),
    ("EGeneral:Permission denied", "auth_failed"),
    ("EGeneral:Temporary lockout", "auth_failed"),
    ("ESession:Invalid session", "auth_failed"),
    ("EAuth:", "auth_failed"),
    ("EOrder:Order minimum not met", "lot_size"),
    ("EOrder:Cost minimum not met", "min_notional"),
    ("EOrder:Tick size check failed", "price_filter"),
    ("EService:Unavailable", "venue_unavailable"),
    ("EService:Busy", "venue_unavailable"),
    ("EService:Market in cancel_only mode", "venue_unavailable"),
    ("EService:Market in post_only mode", "venue_unavailable"),
    ("EService:Market in limit_only mode", "venue_unavailable"),
    ("EGeneral:Invalid arguments", "bad_request"),
)


def kraken_reason(method: str, error: str) -> str:
    """The contract's reason for Kraken's ``error`` string (else the string itself).

    ``EOrder:Invalid order`` answering a ``cancel_order`` means the venue does not have
    that order: ``unknown_order``.
    """
    if method == "cancel_order" and error.startswith("EOrder:Invalid order"):
        return "unknown_order"
    for prefix, reason in _REASONS:
        if error.startswith(prefix):
            return reason
    return error[:200] or "error"


# -- order entry: the WebSocket v2 codec ------------------------------------------------------


class _Fee(msgspec.Struct, kw_only=True):
    asset: str = ""
    qty: msgspec.Raw = msgspec.Raw()


class _Execution(msgspec.Struct, kw_only=True):
    """The fields of an ``executions`` report the contract needs (numbers as written)."""

    exec_type: str = ""
    order_id: str = ""
    cl_ord_id: str | None = None
    exec_id: str | None = None
    symbol: str | None = None
    side: str | None = None
    order_qty: msgspec.Raw = msgspec.Raw()
    limit_price: msgspec.Raw = msgspec.Raw()
    cum_qty: msgspec.Raw = msgspec.Raw()
    last_qty: msgspec.Raw = msgspec.Raw()
    last_price: msgspec.Raw = msgspec.Raw()
    fees: tuple[_Fee, ...] = ()
    reason: str | None = None
    ratecount: Any = None  # with ``ratecounter``: the pair's rate counter (read leniently)


class _WsMessage(msgspec.Struct, kw_only=True):
    """Any v2 frame: a method's reply (``method``, ``req_id``) or a channel's message."""

    method: str | None = None
    req_id: int | None = None
    success: bool | None = None
    error: str | None = None
    result: Any = None
    channel: str | None = None
    type: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    sequence: int | None = None


_ws_decoder = msgspec.json.Decoder(_WsMessage)
_executions_decoder = msgspec.json.Decoder(tuple[_Execution, ...])
_ws_encode = msgspec.json.Encoder().encode
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_MAX_NUMBER_CHARS = 40  # Kraken writes prices and sizes in far fewer
_MAX_EXPONENT = 30
_MAX_ID_CHARS = 64
_KEEP_ORDERS = 100_000  # orders followed (the oldest forgotten first)
_KEEP_FILLS = 1_000  # fills kept for a FILLS request
_TIFS = {"gtc": None, "ioc": "ioc", "fok": "fok"}  # gtc is Kraken's default: not sent
_MAX_TIMEOUT = 86_399  # cancel_all_orders_after: "less than 86400 seconds"
_NOT_OPEN = "not open at the venue (executions snapshot)"  # a cancel a re-read found
RATE_TIERS = {"starter": (60, 1.0), "intermediate": (125, 2.34), "pro": (180, 3.75)}
"""Kraken's trading rate counter per verification tier (guides/spot-ratelimits): the
threshold (``EOrder:Rate limit exceeded`` at it) and the decay per second."""
# guides/spot-ratelimits: a transaction's count beyond the fixed +1, by the order's age
# (seconds since it was placed or amended); a cancel has no fixed part
_AMEND_COUNTS = ((5, 3), (10, 2), (15, 1))
_CANCEL_COUNTS = ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1))
_MAX_RATE_COUNT = 1_000_000  # a counter beyond this is not one (Kraken's tiers stop at 180)


def _decaying_count(age_ns: int | None, counts: tuple[tuple[int, int], ...]) -> int:
    """The decaying part of a transaction on an order of ``age_ns`` (None: not known, 0)."""
    if age_ns is None:
        return 0
    return next((count for below, count in counts if age_ns < below * 1_000_000_000), 0)


def _text(raw: msgspec.Raw) -> str | None:
    """A number as written (a JSON number, or one in a string), plain; None if absent."""
    if not raw:
        return None
    text = bytes(raw).decode()
    if text == "null":
        return None
    if len(text) >= 2 and text[0] == text[-1] == '"':  # noqa: PLR2004 - the quotes
        text = text[1:-1]
    if len(text) > _MAX_NUMBER_CHARS or _NUMBER.fullmatch(text) is None:
        raise ValueError(f"not a number: {text[:_MAX_NUMBER_CHARS]!r}")
    if text.startswith("-"):
        raise ValueError(f"a negative number: {text!r}")
    if "e" in text or "E" in text:
        value = Decimal(text)
        if not -_MAX_EXPONENT <= value.adjusted() <= _MAX_EXPONENT:
            raise ValueError(f"a number out of range: {text!r}")
        text = format(value, "f")
    return text


def _wire_number(text: str) -> msgspec.Raw:
    """A decimal string as a JSON number, without trailing zeros (``1.20000000`` -> 1.2)."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return msgspec.Raw(text.encode())


def _bounded(value: str | None, what: str) -> str:
    if value is None or not value:
        return ""
    if len(value) > _MAX_ID_CHARS:
        raise ValueError(f"{what} longer than {_MAX_ID_CHARS} characters")
    return value


@dataclass(slots=True)
class _RateCounter:
    """A pair's trading rate counter as the codec follows it (see `KrakenOrderEntry`)."""

    count: float  # as of ``ns`` (monotonic)
    ns: int


@dataclass(slots=True)
class _Order:
    """One of the account's orders as the codec follows it (by Kraken's order id)."""

    number: int  # the contract's order_id
    symbol: str
    client_order_id: str = ""
    side: Side | None = None
    price: int = 0  # ticks (0: not known)
    quantity: int = 0  # lots (0: not known)
    filled: int = 0
    ours: bool = False  # placed through this codec
    accepted: bool = False  # OrderAccepted told, or implied by a later report
    closed: bool = False  # filled, cancelled or expired (reported, or found by a re-read)


class _Placed(NamedTuple):
    client_order_id: str
    symbol: str
    side: Side
    price: int
    quantity: int


class _Report(NamedTuple):
    """An execution report, checked; numbers in ticks and lots (None: not said)."""

    kind: str  # exec_type
    order_id: str
    cl_ord_id: str
    symbol: str  # "": not said, and the order unknown
    trade: bool = False
    side: Side | None = None
    quantity: int | None = None
    price: int | None = None
    cumulative: int | None = None
    reason: str = ""
    execution_id: str = ""
    last_quantity: int | None = None
    last_price: int | None = None
    fee_e4: int = 0


class KrakenOrderEntry:
    """Kraken spot order entry over WebSocket v2 (``wss://ws-auth.kraken.com/v2``).

    One per gateway (venue, instrument); its state (the orders it follows, the id maps)
    outlives the gateway's restarts, as the system keeps one codec. Before each
    connection the gateway fetches a token: `session_request` is the signed REST
    ``GetWebSocketsToken`` call (`token_request`) whose answer goes to `accept_token`;
    every request carries the token, never the secret. A refusal (a bad key or
    signature, a stale nonce) is `VenueRequestError` with the contract's reason.

    - logon: subscribe to ``executions`` with ``snap_orders`` and ``snap_trades`` (the
      open orders and the last 50 fills, for the reconciliation);
    - PLACE ``add_order`` (limit; ``time_in_force`` ioc/fok, gtc by default;
      ``post_only``; ``cl_ord_id`` from our id, see `cl_ord_id_for`); AMEND
      ``amend_order`` by ``cl_ord_id`` with ``order_qty`` (the new total, as Kraken's)
      and ``limit_price`` when it changes: the order keeps its ids (Kraken's atomic
      amend), its ``amended`` report is `OrderAmended`; CANCEL
      ``cancel_order`` by ``cl_ord_id`` (by ``order_id`` when we have no client id);
      CANCEL_ALL ``cancel_all``; HEARTBEAT ``cancel_all_orders_after`` (whole seconds,
      rounded up; 0 disarms);
    - OPEN_ORDERS and FILLS: Kraken has no such request on the WebSocket, so they are a
      ``ping`` whose ``pong`` is answered from the ``executions`` snapshot and the updates
      since (TCP keeps them in order: what came before the pong is in the answer; a pong
      before the snapshot waits for it). FILLS ignores ``since`` (unique ids have no
      watermark): it answers the snapshot's fills of orders this codec placed (the
      account's last 50 fills are all Kraken sends) and the fills streamed since; fills
      of a fresh process's predecessors are not ours to count again. That is the first
      FILLS after a snapshot (a new session's reconciliation); any later one (a fill
      may have been lost) *re-reads* the snapshot: ``unsubscribe`` and ``subscribe``
      ``executions`` again (two frames under the request's ``req_id``), and the fresh
      snapshot is compared with what the codec followed: see `reread_due`.

    Acknowledgement: ``add_order``'s success (it carries Kraken's ``order_id``) is the
    order's `OrderAccepted` when no report of the order came before it, so that an
    order whose ``new`` was lost is still known taken (and can be cancelled); the
    ``new`` that follows says nothing more. A report that closed the order first (a
    taker's trades, a post-only cancel) leaves the answer silent: an acceptance after
    its end would reopen nothing, but it would make the order manager cancel an order
    that is no longer there.

    Rate counter (guides/spot-ratelimits): Kraken counts each account's transactions per
    pair (``add_order`` +1, ``amend_order`` +1 and up to +3 for a young order,
    ``cancel_order`` up to +8 for a young order), decays the counter each second by the
    tier's rate, and refuses at the tier's threshold (`RATE_TIERS`). The codec follows
    it (`venue_rate_limits`, a `RateLimitReporter`: the gateway rejects new orders
    ``throttled`` while it is within a tenth of the threshold, cancels still go): it
    counts what it sends (the age of an order from when this codec placed or amended
    it; an order it did not, counts as old), decays it at the tier's rate, and takes
    the venue's own count when the stream says more (subscribed with ``ratecounter``,
    "the rate-limit counter is included in the stream"; taken from each report's
    ``ratecount``, our unverified reading: no documented v2 example shows the field. It
    counts the account's other processes and keys too). The threshold is ``rate_tier``'s until
    the subscription's answer says the account's (``maxratecount``); the decay is
    that of the tier whose threshold it is (the slowest, Starter's, for a threshold
    no tier has below it).

    A lost report: Kraken's reports carry no fill watermark, only the channel's
    ``sequence``, so a loss shows at the next message (its ``sequence`` jumps: the
    session ends, and the next one cancels all and reconciles), and the loss of the last
    messages before a silence shows never. `reread_due` says when to re-read the
    snapshot to find those: what it finds is reported as the channel would have, in
    order, ahead of the FILLS answer (which then holds no fill): acceptances, fills of
    orders this codec placed (by ``exec_id``), amends, and orders of ours open when the
    re-read was sent, absent from its snapshot, that their fills do not explain, as
    cancelled ``not open at the venue`` (remaining not said: their fills may be older
    than the last 50). An order acknowledged after the re-read was sent is not judged by
    it (the snapshot may be older than the order).

    Execution ids are Kraken's strings (`FillIds.UNIQUE`); Kraken's order ids are strings
    too, and the contract's ``order_id`` is a 63-bit hash of them. Kraken's
    ``cancel_all`` and dead-man's switch act on the whole account: one system per
    account (or sub-account). The ``executions`` channel streams every pair's orders:
    those of other symbols are ignored.

    A frame may hold several reports (``data`` is a list; the snapshot may also answer
    requests that waited for it): `decode` returns them all, in order, as a tuple (one
    alone as is, none as None), as `OrderEntry.decode` allows; `decode_all` always
    returns a tuple.
    """

    fill_ids = FillIds.UNIQUE
    has_dead_man_switch = True  # cancel_all_orders_after
    has_cancel_on_disconnect = False  # Kraken spot documents none
    amend_increases = True  # Kraken's amend_order may raise order_qty (the place is lost)

    def __init__(
        self,
        venue: str,
        instrument: Instrument | Mapping[str, Instrument],
        *,
        clock: Clock | None = None,
        rest_url: str = REST_URL,
        reread_after: float = 1.0,
        max_reread_after: float = 30.0,
        rate_tier: str = "starter",
    ) -> None:
        if not 0 < reread_after <= max_reread_after:
            raise ValueError("reread_after must be positive and at most max_reread_after")
        if rate_tier not in RATE_TIERS:
            raise ValueError(f"rate_tier must be one of {', '.join(RATE_TIERS)}")
        instruments = (
            {instrument.symbol: instrument}
            if isinstance(instrument, Instrument)
            else dict(instrument)
        )
        if not instruments:
            raise ValueError("a Kraken gateway trades one instrument or more")
        for symbol, each in instruments.items():
            if each.symbol != symbol:
                raise ValueError(f"instrument {each.symbol!r} given under symbol {symbol!r}")
        self._venue = venue
        self._instruments = instruments  # Kraken's v2 symbol (BTC/USD) -> instrument
        self._instrument = next(iter(instruments.values()))  # the first
        self._symbol = self._instrument.symbol
        self._clock: Clock = clock if clock is not None else SystemClock()  # wall time only
        self._rest_url = rest_url
        self._lock = threading.Lock()  # encode runs on the actor, decode on the reader
        self._token: str | None = None
        self._last_nonce = 0
        self._orders: OrderedDict[str, _Order] = OrderedDict()  # Kraken order id -> order
        self._kraken_ids: dict[int, str] = {}  # contract order_id -> Kraken's
        self._placed: OrderedDict[str, _Placed] = OrderedDict()  # cl_ord_id -> order sent
        self._place_requests: OrderedDict[int, str] = OrderedDict()  # req_id -> cl_ord_id
        self._hashed: OrderedDict[str, str] = OrderedDict()  # 32 hex -> client order id
        # the session (reset at each logon)
        self._logon_id: int | None = None
        self._snapshot = False
        self._open: dict[str, _Order] = {}
        self._fills: deque[OrderFilled] = deque(maxlen=_KEEP_FILLS)
        self._barriers: dict[int, Request] = {}  # ping req_id -> OPEN_ORDERS or FILLS
        self._waiting: list[tuple[int, Request]] = []  # pongs before the snapshot
        self._sequence: int | None = None
        self.sequence_gaps = 0  # executions messages missed (their sequence jumped)
        # re-reads of the snapshot (see reread_due)
        self._unread = False  # a snapshot no FILLS request has been answered from yet
        self._rereading: list[int] = []  # FILLS req_ids the re-read in flight answers
        self._open_at_reread: set[str] = set()  # our orders open when it was sent
        self._reread_after_ns = int(reread_after * 1e9)
        self._max_reread_after_ns = int(max_reread_after * 1e9)
        self._quiet_ns = self._reread_after_ns  # silence before the next re-read
        self._heard_ns = 0  # monotonic: the channel's last message (or re-read's start)
        self.rereads = 0  # snapshots re-read
        self.found_by_reread = 0  # reports the channel lost that a re-read found
        # the pair's trading rate counter (see the class doc)
        self._rate_limit, self._rate_decay = RATE_TIERS[rate_tier]
        now = self._clock.monotonic_ns()
        self._rates = {symbol: _RateCounter(0.0, now) for symbol in instruments}
        # client order id -> (its pair, when placed or amended: monotonic)
        self._since: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self.rate_counts_read = 0  # ``ratecount`` values the stream gave
        self.bad_rate_counts = 0  # ``ratecount`` values that were no counter (ignored)

    def __repr__(self) -> str:
        token = "***" if self._token is not None else None
        if len(self._instruments) > 1:
            symbols = tuple(self._instruments)
            return f"KrakenOrderEntry(venue={self._venue!r}, symbols={symbols!r}, token={token})"
        return f"KrakenOrderEntry(venue={self._venue!r}, symbol={self._symbol!r}, token={token})"

    # -- the token (REST) ---------------------------------------------------------------

    def session_request(self, credentials: Credentials, rest_url: str) -> RestRequest:
        """The token call before each connection (`OrderEntry.session_request`).

        ``rest_url``: Kraken's REST base URL (``[venue] rest_url``; empty: the one given
        to the codec, `REST_URL` by default). The answer goes to `accept_token`.

        Raises:
            ValueError: the secret is not base64 (never shown).

        """
        request = self.token_request(credentials, rest_url)
        return RestRequest(
            method=request.method,
            url=request.url,
            headers=request.headers,
            body=request.body,
            accept=self.accept_token,
        )

    def token_request(self, credentials: Credentials, rest_url: str = "") -> KrakenRestRequest:
        """The signed ``GetWebSocketsToken`` call to make before each logon.

        At ``rest_url`` (empty: the codec's own, `REST_URL` by default); the nonce is
        the wall clock in milliseconds, and always more than the last one.
        """
        with self._lock:
            nonce = max(self._clock.time_ns() // 1_000_000, self._last_nonce + 1)
            self._last_nonce = nonce
        return private_request(credentials, TOKEN_PATH, nonce, rest_url or self._rest_url)

    def accept_token(self, body: bytes | str) -> None:
        """Keep the token of a ``GetWebSocketsToken`` answer for the next logon.

        Raises:
            tradeactors.errors.VenueRequestError: Kraken refused (bad key, nonce...).
            msgspec.DecodeError, ValueError: not such an answer.

        """
        token = websockets_token(body)
        with self._lock:
            self._token = token

    @property
    def has_token(self) -> bool:
        """A token was accepted (it is needed by every request)."""
        return self._token is not None

    # -- requests -------------------------------------------------------------------------

    def prelude(self, request_id: int) -> str | None:  # noqa: ARG002 - the protocol's
        """Nothing to send before the logon (the token comes over REST)."""
        return None

    def logon(
        self,
        request_id: int,
        credentials: Credentials,  # noqa: ARG002 - the token authenticates
        *,
        cancel_on_disconnect: bool,  # noqa: ARG002 - Kraken spot has no such thing
    ) -> str:
        """Subscribe to ``executions`` with its snapshot of open orders and last fills.

        Raises:
            tradeactors.errors.GatewayError: no token (`accept_token` first).

        """
        token = self._require_token()
        with self._lock:
            self._logon_id = request_id
            self._snapshot = False
            self._open.clear()
            self._fills.clear()
            self._barriers.clear()
            self._waiting.clear()
            self._sequence = None
            self._unread = False
            self._rereading.clear()
            self._quiet_ns = self._reread_after_ns
        return self._subscribe(token, request_id)

    def _subscribe(self, token: str, request_id: int) -> str:
        return self._frame(
            "subscribe",
            {
                "channel": "executions",
                "token": token,
                "snap_orders": True,
                "snap_trades": True,
                "ratecounter": True,
            },
            request_id,
        )

    def reread_due(self) -> bool:
        """Whether the gateway should send a FILLS request now, to re-read the snapshot.

        When the ``executions`` channel has been silent for ``reread_after`` seconds
        while an order of ours is open (as far as the codec knows): the only loss a
        jump in ``sequence`` cannot show is that of the last messages before a silence,
        and only an open order can have one (a fill by someone else's order, a cancel by
        the venue, the report of a request of ours). Each re-read that finds nothing
        doubles the silence awaited before the next (up to ``max_reread_after``), each
        message heard or loss found resets it: a loss after activity (where losses come)
        is found within about ``reread_after``, one in a long quiet within
        ``max_reread_after``, and a quiet account costs a re-read per
        ``max_reread_after``. Not while the session's snapshot is awaited, nor while a
        re-read is in flight.
        """
        with self._lock:
            if not self._snapshot or self._rereading:
                return False
            if not any(order.ours for order in self._open.values()):
                return False
            return self._clock.monotonic_ns() - self._heard_ns >= self._quiet_ns

    def encode(
        self, request: Request, request_id: int, fields: dict[str, Any]
    ) -> str | tuple[str, ...]:
        """Any request but the logon (see the class doc); a re-read is two frames."""
        token = self._require_token()
        if request is Request.PLACE:
            return self._add_order(fields["order"], request_id, token)
        if request is Request.CANCEL:
            return self._cancel_order(fields, request_id, token)
        if request is Request.AMEND:
            return self._amend_order(fields["amend"], request_id, token)
        if request is Request.CANCEL_ALL:
            with self._lock:
                for order in list(self._open.values()):
                    if order.ours:  # each on its own pair's counter
                        self._charge(
                            order.symbol, order.client_order_id, 0, _CANCEL_COUNTS, placed=False
                        )
            return self._frame("cancel_all", {"token": token}, request_id)
        if request is Request.HEARTBEAT:
            timeout = fields["timeout"]
            seconds = 0 if timeout <= 0 else min(_MAX_TIMEOUT, max(1, math.ceil(timeout)))
            return self._frame(
                "cancel_all_orders_after", {"timeout": seconds, "token": token}, request_id
            )
        if request in (Request.FILLS, Request.OPEN_ORDERS):
            return self._read_request(request, request_id, token)
        raise ValueError(f"{request.value} is not encoded here (logon: use logon())")

    def _read_request(self, request: Request, request_id: int, token: str) -> str | tuple[str, ...]:
        """A ping answered from the snapshot, or a FILLS re-read (see the class doc)."""
        with self._lock:
            if request is Request.OPEN_ORDERS or not self._snapshot or self._unread:
                self._unread = self._unread and request is Request.OPEN_ORDERS
                self._barriers[request_id] = request
                return _ws_encode({"method": "ping", "req_id": request_id}).decode()
            self._rereading.append(request_id)
            if len(self._rereading) > 1:
                return ()  # the re-read in flight answers it too
            self.rereads += 1
            self._heard_ns = self._clock.monotonic_ns()
            self._open_at_reread = {oid for oid, order in self._open.items() if order.ours}
        params = {"channel": "executions", "token": token}
        return (self._frame("unsubscribe", params, request_id), self._subscribe(token, request_id))

    # -- the rate counter (see the class doc) ---------------------------------------------

    def _charge(
        self,
        symbol: str,
        client_order_id: str,
        fixed: int,
        counts: tuple[tuple[int, int], ...],
        *,
        placed: bool = True,
    ) -> None:
        """Count a transaction on an order (under the lock); ``placed``: it (re)starts its age.

        On ``symbol``'s counter ("": the pair the codec placed the order on, else the
        first); a pair the codec does not trade is not counted.
        """
        now = self._clock.monotonic_ns()
        since = self._since.pop(client_order_id, None) if client_order_id else None
        symbol = symbol or (since[0] if since is not None else self._symbol)
        counter = self._rates.get(symbol)
        if counter is None:
            return
        age = None if since is None else now - since[1]
        counter.count = self._decayed(counter, now) + fixed + _decaying_count(age, counts)
        counter.ns = now
        if placed and client_order_id:
            self._since[client_order_id] = (symbol, now)
            _trim(self._since)

    def _decayed(self, counter: _RateCounter, now_ns: int) -> float:
        """``counter`` at ``now_ns`` (under the lock)."""
        elapsed = max(0, now_ns - counter.ns) / 1e9
        return max(0.0, counter.count - elapsed * self._rate_decay)

    def _read_rate_counts(self, reports: tuple[_Execution, ...]) -> None:
        """Each pair's counter as the stream says it: kept where it says more (under the lock).

        A report's pair: its ``symbol``, else that of the order it is about, else (one
        pair traded) that one; other pairs' counters are not ours to follow.
        """
        for report in reports:
            value = report.ratecount
            if value is None:
                continue
            symbol = report.symbol
            if symbol is None:
                known = self._orders.get(report.order_id)
                symbol = known.symbol if known is not None else None
            if symbol is None and len(self._rates) == 1:
                symbol = self._symbol
            counter = self._rates.get(symbol) if symbol is not None else None
            if counter is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.bad_rate_counts += 1
                continue
            if not 0 <= value <= _MAX_RATE_COUNT:  # NaN fails it too
                self.bad_rate_counts += 1
                continue
            now = self._clock.monotonic_ns()
            counter.count = max(self._decayed(counter, now), float(value))
            counter.ns = now
            self.rate_counts_read += 1

    def _read_threshold(self, result: Any) -> None:
        """The account's threshold from a subscription's answer (``maxratecount``)."""
        limit = result.get("maxratecount") if isinstance(result, dict) else None
        if isinstance(limit, bool) or not isinstance(limit, int):
            return
        if not 0 < limit <= _MAX_RATE_COUNT:
            return
        below = [tier for tier in RATE_TIERS.values() if tier[0] <= limit]
        self._rate_limit = limit
        self._rate_decay = max(below)[1] if below else RATE_TIERS["starter"][1]

    @property
    def rate_count(self) -> float:
        """The (first) pair's trading rate counter now, as far as the codec knows."""
        return self.rate_count_of(self._symbol)

    def rate_count_of(self, symbol: str) -> float:
        """``symbol``'s trading rate counter now, as far as the codec knows.

        Raises:
            KeyError: a pair this codec does not trade.

        """
        with self._lock:
            return self._decayed(self._rates[symbol], self._clock.monotonic_ns())

    def venue_rate_limits(self) -> tuple[VenueRateLimit, ...]:
        """Each pair's rate counter now, against the threshold (a `RateLimitReporter`).

        ``seconds`` is how long a counter at the threshold takes to empty; ``decay`` makes
        `VenueRateLimit.window_end_ms` the time it takes to fall back below the line.
        With several pairs each limit names its ``symbol`` (the gateway holds back the
        new orders of that pair only); with one it names none, as before.
        """
        with self._lock:
            now = self._clock.monotonic_ns()
            used = {s: math.ceil(self._decayed(c, now)) for s, c in self._rates.items()}
            limit, decay = self._rate_limit, self._rate_decay
        seconds = math.ceil(limit / decay)
        several = len(used) > 1
        return tuple(
            VenueRateLimit(
                RateKind.ORDERS,
                limit,
                seconds,
                used=count,
                decay=decay,
                symbol=symbol if several else "",
            )
            for symbol, count in used.items()
        )

    def _require_token(self) -> str:
        token = self._token
        if token is None:
            raise GatewayError(
                f"{self._venue}: no Kraken WebSocket token: make the token_request call "
                "and give its answer to accept_token before logging on"
            )
        return token

    @staticmethod
    def _frame(method: str, params: dict[str, Any], request_id: int) -> str:
        return _ws_encode({"method": method, "params": params, "req_id": request_id}).decode()

    def _add_order(self, order: SubmitOrder, request_id: int, token: str) -> str:
        instrument = self._instrument_of(order.instrument)
        tif = _TIFS[str(order.tif)]  # KeyError never: risk refuses other values
        side = Side(order.side)
        with self._lock:
            cl_ord_id = self._wire_id(order.client_order_id)
            self._placed[cl_ord_id] = _Placed(
                order.client_order_id, instrument.symbol, side, order.price, order.quantity
            )
            _trim(self._placed)
            self._place_requests[request_id] = cl_ord_id
            _trim(self._place_requests)
            self._charge(instrument.symbol, order.client_order_id, 1, ())
        params: dict[str, Any] = {
            "order_type": "limit",
            "side": side.value,
            "limit_price": _wire_number(instrument.format_price(order.price)),
            "cl_ord_id": cl_ord_id,
            "order_qty": _wire_number(instrument.format_size(order.quantity)),
            "symbol": instrument.symbol,
        }
        if tif is not None:
            params["time_in_force"] = tif
        if order.post_only:
            params["post_only"] = True
        params["token"] = token
        return self._frame("add_order", params, request_id)

    def _amend_order(self, amend: AmendAtVenue, request_id: int, token: str) -> str:
        instrument = self._instrument_of(amend.order.instrument)
        with self._lock:
            params: dict[str, Any] = {"cl_ord_id": self._wire_id(amend.order.client_order_id)}
            self._charge(instrument.symbol, amend.order.client_order_id, 1, _AMEND_COUNTS)
        params["order_qty"] = _wire_number(instrument.format_size(amend.quantity))
        if amend.price != amend.order.price:
            params["limit_price"] = _wire_number(instrument.format_price(amend.price))
        params["token"] = token
        return self._frame("amend_order", params, request_id)

    def _cancel_order(self, fields: dict[str, Any], request_id: int, token: str) -> str:
        client_order_id: str = fields.get("client_order_id") or ""
        symbol: str = fields.get("instrument") or ""  # "": the pair it was placed on
        with self._lock:
            self._charge(symbol, client_order_id, 0, _CANCEL_COUNTS, placed=False)
            if client_order_id:
                params: dict[str, Any] = {"cl_ord_id": [self._wire_id(client_order_id)]}
            else:
                number = fields.get("order_id")
                known = self._kraken_ids.get(number) if isinstance(number, int) else None
                # an id Kraken never gave: it answers "unknown order", which is the truth
                params = {"order_id": [known or str(number)]}
        params["token"] = token
        return self._frame("cancel_order", params, request_id)

    def _instrument_of(self, symbol: str) -> Instrument:
        """The instrument of an order's ``symbol`` (one pair traded: that one, as before).

        Raises:
            ValueError: a pair this codec does not trade.

        """
        if len(self._instruments) == 1:
            return self._instrument
        instrument = self._instruments.get(symbol)
        if instrument is None:
            raise ValueError(f"{self._venue}: this gateway does not trade {symbol[:40]!r}")
        return instrument

    def _wire_id(self, client_order_id: str) -> str:
        """Kraken's ``cl_ord_id`` for ours (under the lock), remembered if it must be."""
        wire = cl_ord_id_for(client_order_id)
        hex32 = _uuid_hex(client_order_id)
        if hex32 is not None:  # a UUID already: Kraken may echo it in the other form
            self._hashed[hex32] = client_order_id
            _trim(self._hashed)
        if wire is not None:
            return wire
        wire = _hashed_uuid(client_order_id)
        self._hashed[wire] = client_order_id
        _trim(self._hashed)
        return wire

    def _client_id(self, cl_ord_id: str | None) -> str:
        """Our client order id for a ``cl_ord_id`` Kraken sent (under the lock)."""
        if not cl_ord_id:
            return ""
        hex32 = _uuid_hex(cl_ord_id)
        if hex32 is not None:
            known = self._hashed.get(hex32)
            if known is not None:
                return known
        return client_order_id_from(cl_ord_id)

    # -- what comes back ----------------------------------------------------------------

    def decode(
        self, payload: str | bytes
    ) -> Reply | Message | SessionEnded | tuple[Reply | Message | SessionEnded, ...] | None:
        """A frame's replies and events: one as is, several as a tuple, none as None.

        In the frame's order (see the class doc).

        Raises:
            msgspec.DecodeError, ValueError: a malformed frame (nothing of it is used).

        """
        items = self.decode_all(payload)
        if len(items) > 1:
            return items
        return items[0] if items else None

    def decode_all(self, payload: str | bytes) -> tuple[Reply | Message | SessionEnded, ...]:
        """Every reply and contract event in a frame, in order (none: nothing for us).

        An ``executions`` message whose ``sequence`` jumps (messages were lost, a fill
        among them maybe) is `SessionEnded`: the gateway opens a new session, which
        cancels all and reconciles from its snapshot.

        Raises:
            msgspec.DecodeError: not JSON (also: nested too deeply, not UTF-8), or a
                field of the wrong type.
            ValueError: JSON of no known shape, or a value the contract cannot hold.

        """
        try:
            with json_errors:
                message = _ws_decoder.decode(payload)
                with self._lock:
                    if message.channel is not None:
                        return self._on_channel(message)
                    if message.method is not None or message.success is not None:
                        return self._on_reply(message)
        except ArithmeticError as exc:  # decimal's, on a number no regex let through
            raise ValueError(f"a bad number: {str(exc)[:100]}") from None
        raise ValueError("neither a method's reply nor a channel's message")

    def fills(self, result: Any) -> tuple[OrderFilled, ...]:
        """The fills answering a FILLS request."""
        if not isinstance(result, tuple) or not all(isinstance(f, OrderFilled) for f in result):
            raise ValueError("not the answer to a FILLS request")
        return tuple(f for f in result if isinstance(f, OrderFilled))

    def open_orders(self, result: Any) -> tuple[VenueOrder, ...]:
        """The orders answering an OPEN_ORDERS request."""
        if not isinstance(result, tuple) or not all(isinstance(o, VenueOrder) for o in result):
            raise ValueError("not the answer to an OPEN_ORDERS request")
        return tuple(o for o in result if isinstance(o, VenueOrder))

    def cancelled(self, result: Any) -> int:
        """``{"count": N}``."""
        count = result.get("count", 0) if isinstance(result, dict) else 0
        return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0

    # -- replies (under the lock) ---------------------------------------------------------

    def _on_reply(self, message: _WsMessage) -> tuple[Reply | Message | SessionEnded, ...]:
        method = message.method or ""
        request_id = message.req_id
        if request_id is None:
            return ()  # not one of ours: every request of ours has a req_id
        if method == "pong":
            return self._on_pong(request_id)
        if method == "subscribe" and message.success:
            self._read_threshold(message.result)
        if method in ("subscribe", "unsubscribe") and request_id != self._logon_id:
            return self._on_resubscribed(message, request_id)
        if message.success is False or message.error:
            error = message.error or "error"
            if method == "add_order":
                self._placed.pop(self._place_requests.pop(request_id, ""), None)
            return (Reply(request_id, error=kraken_reason(method, error), message=error[:300]),)
        if method == "add_order":
            accepted = self._placed_order(request_id, message.result)
            if accepted is not None:
                return (accepted, Reply(request_id, result=message.result))
        return (Reply(request_id, result=message.result),)

    def _on_resubscribed(self, message: _WsMessage, request_id: int) -> tuple[SessionEnded, ...]:
        """A re-read's ``unsubscribe`` and ``subscribe`` answers: its snapshot follows.

        A refused ``subscribe`` leaves the session without its executions: it ends.
        """
        if message.method == "subscribe" and request_id in self._rereading and not message.success:
            error = (message.error or "error")[:200]
            return (SessionEnded(f"executions could not be re-read: {error}"),)
        return ()

    def _on_pong(self, request_id: int) -> tuple[Reply, ...]:
        """The answer to an OPEN_ORDERS or FILLS ping: now, or once the snapshot is in."""
        barrier = self._barriers.pop(request_id, None)
        if barrier is None:
            return ()
        if not self._snapshot:
            self._waiting.append((request_id, barrier))
            return ()
        return (self._barrier_reply(request_id, barrier),)

    def _placed_order(self, request_id: int, result: Any) -> OrderAccepted | None:
        """Link an accepted ``add_order`` to Kraken's order id: its acknowledgement.

        The order's `OrderAccepted`, unless a report of it came first (see the class doc).
        """
        cl_ord_id = self._place_requests.pop(request_id, None)
        placed = self._placed.pop(cl_ord_id, None) if cl_ord_id is not None else None
        order_id = result.get("order_id") if isinstance(result, dict) else None
        if not isinstance(order_id, str) or not order_id or len(order_id) > _MAX_ID_CHARS:
            return None
        order = self._orders.get(order_id)
        if order is None:
            if placed is None:
                return None
            order = self._remember(order_id, placed.symbol)
        if placed is not None:
            self._adopt(order, placed)
        if not order.ours or order.accepted or order.closed:
            return None
        order.accepted = True
        self._open[order_id] = order
        return OrderAccepted(
            venue=self._venue, client_order_id=order.client_order_id, order_id=order.number
        )

    def _barrier_reply(self, request_id: int, barrier: Request) -> Reply:
        if barrier is Request.FILLS:
            return Reply(request_id, result=tuple(self._fills))
        return Reply(
            request_id,
            result=tuple(
                VenueOrder(
                    order_id=order.number,
                    client_order_id=order.client_order_id,
                    side=order.side,
                    price=order.price,
                    remaining=max(order.quantity - order.filled, 0),
                    filled=order.filled,
                )
                for order in self._open.values()
                if order.side is not None and order.quantity > 0
            ),
        )

    # -- the executions channel (under the lock) -------------------------------------------
    #
    # Each message is checked whole first (`_check`: ids, numbers in ticks and lots), and
    # only then applied: a malformed report drops its message without changing anything.

    def _on_channel(self, message: _WsMessage) -> tuple[Reply | Message | SessionEnded, ...]:
        if message.channel != "executions":
            return ()  # heartbeat, status, others: nothing for the contract
        if message.type not in ("snapshot", "update"):
            raise ValueError(f"an executions message of type {reprlib.repr(message.type)}")
        raw = _executions_decoder.decode(message.data) if message.data else ()
        reports = tuple(self._check(report) for report in raw)
        self._read_rate_counts(raw)
        self._heard_ns = self._clock.monotonic_ns()
        if message.type == "snapshot":
            self._sequence = message.sequence  # whatever came before: the snapshot holds it
            if self._rereading:
                return self._on_reread(reports)
            return self._on_snapshot(reports)
        self._quiet_ns = self._reread_after_ns
        if message.sequence is not None:
            if self._sequence is not None and message.sequence != self._sequence + 1:
                # reports were lost (a fill among them, maybe): this session's view of
                # the account is wrong. A new session reconciles from its snapshot (the
                # open orders, the last 50 fills) after its cancel-all.
                self.sequence_gaps += 1
                missed = message.sequence - self._sequence - 1
                self._sequence = message.sequence
                return (SessionEnded(f"executions sequence gap: {missed} message(s) missed"),)
            self._sequence = message.sequence
        return tuple(e for r in reports if (e := self._on_update(r)) is not None)

    def _check(self, report: _Execution) -> _Report:
        """``report`` checked, its numbers in our ticks and lots if it is of our symbol."""
        order_id = _bounded(report.order_id, "order_id")
        if not order_id:
            raise ValueError("an execution report without an order_id")
        cl_ord_id = _bounded(report.cl_ord_id, "cl_ord_id")
        execution_id = _bounded(report.exec_id, "exec_id")
        known = self._orders.get(order_id)
        placed = self._placed.get(cl_ord_id) if cl_ord_id else None
        symbol = _bounded(report.symbol, "symbol") or (
            known.symbol if known is not None else placed.symbol if placed is not None else ""
        )
        trade = report.exec_type == "trade" or bool(execution_id)
        instrument = self._instruments.get(symbol)
        if instrument is None:  # unknown, or another pair's in other ticks and lots
            return _Report(report.exec_type, order_id, cl_ord_id, symbol, trade=trade)
        side = Side(report.side) if report.side is not None else None
        checked = _Report(
            report.exec_type,
            order_id,
            cl_ord_id,
            symbol,
            trade=trade,
            side=side,
            quantity=_lots(instrument, report.order_qty),
            price=_price(instrument, report.limit_price),
            cumulative=_lots(instrument, report.cum_qty),
            reason=(report.reason or "")[:200],
        )
        if not trade:
            return checked
        last_quantity, last_price = _lots(instrument, report.last_qty), _text(report.last_price)
        side = side or (known.side if known is not None else None)
        side = side or (placed.side if placed is not None else None)
        if not execution_id or side is None or last_quantity is None or last_price is None:
            raise ValueError("a trade without its exec_id, side, last_qty or last_price")
        if last_quantity <= 0:
            raise ValueError("a trade of nothing")
        return checked._replace(
            side=side,
            execution_id=execution_id,
            last_quantity=last_quantity,
            last_price=_ticks(instrument, last_price),
            fee_e4=_fee_e4(instrument, report.fees),
        )

    def _on_snapshot(self, reports: tuple[_Report, ...]) -> tuple[Reply | Message, ...]:
        self._open.clear()
        for report in reports:
            order = self._learn(report)
            if order is None or order.symbol not in self._instruments:
                continue
            if report.trade:
                if order.ours:  # a fill of an order of this process (see the class doc)
                    self._fills.append(self._filled(report, order, live=False))
            else:
                self._open[report.order_id] = order
        self._snapshot = True
        waiting, self._waiting = self._waiting, []
        self._unread = all(barrier is not Request.FILLS for _, barrier in waiting)
        return tuple(self._barrier_reply(rid, barrier) for rid, barrier in waiting)

    def _on_reread(self, reports: tuple[_Report, ...]) -> tuple[Reply | Message, ...]:
        """A re-read's snapshot: what the channel lost, then the FILLS answers (class doc)."""
        was_open = {oid: order for oid, order in self._open.items() if order.ours}
        accepted: list[Message] = []
        fills: list[Message] = []
        amended: list[Message] = []
        self._open.clear()
        self._compare(reports, accepted, fills, amended)
        ended: list[Message] = []
        for order_id, order in was_open.items():
            if order_id in self._open or order.closed:
                continue
            if order_id not in self._open_at_reread:
                # acknowledged after the re-read was sent: the snapshot may be older
                self._open[order_id] = order
                continue
            order.closed = True
            if order.filled < order.quantity:  # else its fills closed it
                ended.append(
                    OrderCanceled(
                        venue=self._venue,
                        client_order_id=order.client_order_id,
                        order_id=order.number,
                        reason=_NOT_OPEN,
                    )
                )
        found = (*accepted, *fills, *amended, *ended)
        self.found_by_reread += len(found)
        if found:
            self._quiet_ns = self._reread_after_ns
        else:
            self._quiet_ns = min(2 * self._quiet_ns, self._max_reread_after_ns)
        answered, self._rereading = self._rereading, []
        self._unread = False
        return (*found, *(Reply(request_id, result=()) for request_id in answered))

    def _compare(
        self,
        reports: tuple[_Report, ...],
        accepted: list[Message],
        fills: list[Message],
        amended: list[Message],
    ) -> None:
        """Apply a re-read's snapshot; what the codec did not know goes to the lists."""
        seen = {fill.execution_id for fill in self._fills}
        for report in reports:
            known = self._orders.get(report.order_id)
            before = (known.price, known.quantity) if known is not None else None
            order = self._learn(report)
            if order is None or order.symbol not in self._instruments:
                continue
            if report.trade:
                order.accepted = True  # a fill says so (it never overtakes an answer here)
                if order.ours and report.execution_id not in seen:
                    seen.add(report.execution_id)
                    fill = self._filled(report, order, live=True)
                    self._fills.append(fill)
                    fills.append(fill)
                continue
            if order.closed:
                continue  # closed by a report: a snapshot does not reopen it
            self._open[report.order_id] = order
            if not order.ours:
                continue
            if not order.accepted:
                order.accepted = True
                accepted.append(
                    OrderAccepted(
                        venue=self._venue,
                        client_order_id=order.client_order_id,
                        order_id=order.number,
                    )
                )
            elif before is not None and all(before) and before != (order.price, order.quantity):
                amended.append(self._amended(order, before))

    def _on_update(self, report: _Report) -> Message | None:
        known = self._orders.get(report.order_id)
        before = (known.price, known.quantity) if known is not None else None
        order = self._learn(report)
        if order is None or order.symbol not in self._instruments:
            return None
        kind = report.kind
        event: Message | None = None  # pending_new, filled (its trades said it all),
        # restated, status, iceberg_refill: nothing for the contract
        if kind == "amended" and not report.trade:
            event = self._amended(order, before)
        elif report.trade:
            order.accepted = True  # a fill says so: an answer after it acknowledges nothing
            event = self._filled(report, order, live=True)
            self._fills.append(event)
        elif kind in ("pending_new", "new"):
            if not order.closed:
                self._open[report.order_id] = order
            if kind == "new" and not order.accepted:
                order.accepted = True
                event = OrderAccepted(
                    venue=self._venue, client_order_id=order.client_order_id, order_id=order.number
                )
        elif kind in ("filled", "canceled", "expired"):
            self._open.pop(report.order_id, None)
            order.closed = True
            if kind != "filled":
                event = self._canceled(report, order, expired=kind == "expired")
        return event

    def _amended(self, order: _Order, before: tuple[int, int] | None) -> OrderAmended:
        """``order``'s new terms (it was at ``before``: price, quantity)."""
        return OrderAmended(
            venue=self._venue,
            client_order_id=order.client_order_id,
            order_id=order.number,
            price=order.price,
            remaining=max(order.quantity - order.filled, 0),
            filled=order.filled,
            # "queue priority maintained where possible": less at the same price
            kept_priority=before is not None
            and before[0] == order.price
            and order.quantity < before[1],
        )

    def _learn(self, report: _Report) -> _Order | None:
        """The order ``report`` is about, created or completed from it; None if unknown."""
        order = self._orders.get(report.order_id)
        if order is None:
            placed = self._placed.pop(report.cl_ord_id, None) if report.cl_ord_id else None
            if placed is None and not report.symbol:
                return None  # about an order we never saw, of a symbol we cannot tell
            order = self._remember(report.order_id, report.symbol)
            if placed is not None:
                self._adopt(order, placed)
        if order.symbol not in self._instruments:
            return order
        if not order.client_order_id and report.cl_ord_id:
            order.client_order_id = self._client_id(report.cl_ord_id)
        order.side = report.side or order.side
        order.quantity = report.quantity if report.quantity is not None else order.quantity
        order.price = report.price if report.price is not None else order.price
        if report.cumulative is not None and not report.trade:
            order.filled = report.cumulative
        return order

    def _remember(self, order_id: str, symbol: str) -> _Order:
        order = _Order(number=_order_number(order_id), symbol=symbol)
        self._orders[order_id] = order
        self._kraken_ids[order.number] = order_id
        while len(self._orders) > _KEEP_ORDERS:
            old_id, old = self._orders.popitem(last=False)
            self._kraken_ids.pop(old.number, None)
            self._open.pop(old_id, None)
        return order

    @staticmethod
    def _adopt(order: _Order, placed: _Placed) -> None:
        order.ours = True
        order.client_order_id = placed.client_order_id
        order.side = placed.side
        order.price = order.price or placed.price
        order.quantity = order.quantity or placed.quantity

    def _filled(self, report: _Report, order: _Order, *, live: bool) -> OrderFilled:
        """The fill of a checked trade report (`_check` made sure of its fields)."""
        quantity = report.last_quantity or 0
        cumulative = report.cumulative if report.cumulative is not None else order.filled + quantity
        if live:
            order.filled = max(order.filled, cumulative)
        return OrderFilled(
            venue=self._venue,
            instrument=order.symbol,
            client_order_id=order.client_order_id,
            order_id=order.number,
            execution_id=report.execution_id,
            side=report.side or order.side or Side.BUY,  # _check: never the fallback
            price=report.last_price or 0,
            quantity=quantity,
            remaining=max(order.quantity - cumulative, 0),
            fee_e4=report.fee_e4,
        )

    def _canceled(self, report: _Report, order: _Order, *, expired: bool) -> OrderCanceled:
        remaining = -1  # not said, unless Kraken says what was filled
        if report.cumulative is not None and order.quantity:
            remaining = max(order.quantity - report.cumulative, 0)
        return OrderCanceled(
            venue=self._venue,
            client_order_id=order.client_order_id,
            order_id=order.number,
            reason=report.reason or ("expired" if expired else "canceled"),
            remaining=remaining,
            expired=expired,
        )


def _lots(instrument: Instrument, raw: msgspec.Raw) -> int | None:
    text = _text(raw)
    return None if text is None else instrument.size(text)


def _price(instrument: Instrument, raw: msgspec.Raw) -> int | None:
    text = _text(raw)
    return None if text is None else instrument.price(text)


def _ticks(instrument: Instrument, text: str) -> int:
    """``last_price`` in ticks: an average over levels may fall between two: nearest."""
    try:
        return instrument.price(text)
    except ParseError:
        tick = Fraction(Decimal(instrument.tick_size))
        return round(Fraction(Decimal(text)) / tick)


def _fee_e4(instrument: Instrument, fees: tuple[_Fee, ...]) -> int:
    """The fees (in the quote currency, as Kraken charges spot) in tick * lot / 10_000."""
    total = Fraction(0)
    for fee in fees:
        text = _text(fee.qty)
        if text is not None:
            total += Fraction(Decimal(text))
    unit = Fraction(Decimal(instrument.tick_size)) * Fraction(Decimal(instrument.lot_size))
    return round(total * 10_000 / unit)


def _trim(table: OrderedDict[Any, Any], keep: int = _KEEP_ORDERS) -> None:
    while len(table) > keep:
        table.popitem(last=False)


# -- the venue adapter ----------------------------------------------------------------------

_KRAKEN_OUTCOMES = {
    KrakenResult.SNAPSHOT: BookOutcome.SYNCED,
    KrakenResult.APPLIED: BookOutcome.APPLIED,
    KrakenResult.CHECKSUM_MISMATCH: BookOutcome.CHECKSUM_MISMATCH,
    KrakenResult.BAD_LEVEL: BookOutcome.BAD_LEVEL,
    KrakenResult.CROSSED: BookOutcome.CROSSED,
    KrakenResult.NOT_SYNCED: BookOutcome.IGNORED,
}


class KrakenBookSync:
    """`KrakenBook` behind the adapter's `BookSync` protocol."""

    def __init__(self, instrument: Instrument, depth: int) -> None:
        self._book = KrakenBook(instrument, depth=depth)
        self.book = self._book.book
        self.updates = 0
        self.snapshots = 0
        self.checksums_matched = 0

    @property
    def synced(self) -> bool:
        """The book follows the stream (and its checksums)."""
        return self._book.synced

    def on_event(self, data: Any) -> BookOutcome:
        """Apply a `BookMessage` (snapshot or update) and check its checksum."""
        message: BookMessage = data
        self.updates += 1
        outcome = _KRAKEN_OUTCOMES[self._book.on_message(message)]
        if outcome is BookOutcome.SYNCED:
            self.snapshots += 1
        if outcome.publishes and message.checksum is not None:
            self.checksums_matched += 1
        return outcome


BOOK_DEPTHS = (10, 25, 100, 500, 1000)
"""The depths a ``book`` subscription may ask for (websocket-v2/book)."""


def _book_request(
    method: str, symbols: tuple[str, ...], depth: int, *, snapshot: bool | None = None
) -> str:
    """A v2 ``subscribe`` or ``unsubscribe`` of the ``book`` channel."""
    if depth not in BOOK_DEPTHS:
        raise ValueError(
            f"Kraken's book depth is one of {', '.join(map(str, BOOK_DEPTHS))}, not {depth}"
        )
    params: dict[str, Any] = {"channel": "book", "symbol": list(symbols), "depth": depth}
    if snapshot is not None:
        params["snapshot"] = snapshot
    return msgspec.json.encode({"method": method, "params": params}).decode()


class KrakenMarketData:
    """Kraken websocket v1/v2 ``book``: snapshots come with every (re)subscription.

    Live, the feed subscribes with v2 (`subscribe_messages`) at ``wss://ws.kraken.com/v2``
    (`WS_URL`) and resubscribes one pair when its book loses sync
    (`resubscribe_messages`); recorded v1 and v2 captures decode alike.
    """

    def decode(self, frame: Frame) -> tuple[VenueEvent, ...]:
        """The book messages of a v1 or v2 frame, or the trades of a v2 ``trade`` update.

        Raises:
            FrameDroppedError: ``malformed`` (not JSON, not UTF-8, a v2 message of the
                wrong shape, a trade of the wrong shape), ``too_deep`` (JSON nested
                beyond the decoder's recursion limit), ``not_a_book_message`` (a v1
                array of the wrong shape, a v2 number that is not a plain decimal).
                Nothing else, whatever the payload.

        """
        try:
            payload: str | bytes = frame.payload  # bytes too, from a capture's reader
            text = payload if isinstance(payload, str) else payload.decode()
            if text.lstrip().startswith("{") and '"channel"' in text:
                message = _v2_decoder.decode(text)
                trades = _v2_trades_of(message)
                if trades is not None:
                    return tuple(VenueEvent(t.symbol, EventKind.TRADE, t) for t in trades)
                messages = _v2_book_messages(message) or ()
            else:
                messages = _decode_any_book_messages(text)
        except RecursionError:
            raise FrameDroppedError("too_deep") from None
        except (msgspec.DecodeError, UnicodeError):
            raise FrameDroppedError("malformed") from None
        except ValueError:
            raise FrameDroppedError("not_a_book_message") from None
        return tuple(VenueEvent(m.pair, EventKind.BOOK, m) for m in messages)

    def subscribe_messages(self, symbols: Iterable[str], *, depth: int = 10) -> tuple[str, ...]:
        """WebSocket v2's ``subscribe`` to the ``book`` and ``trade`` of ``symbols`` (``BTC/USD``).

        For ``wss://ws.kraken.com/v2`` (websocket-v2/book): ``depth`` levels a side, with
        a snapshot; Kraken's checksum covers the top 10 whatever the depth. Then
        websocket-v2/trade without its snapshot (the last 50 trades are history: a
        strategy or the paper venue must not take them for the market now).

        Raises:
            ValueError: ``depth`` is not one Kraken offers (`BOOK_DEPTHS`).

        """
        symbols = tuple(symbols)
        trades = {"channel": "trade", "symbol": list(symbols), "snapshot": False}
        return (
            _book_request("subscribe", symbols, depth, snapshot=True),
            msgspec.json.encode({"method": "subscribe", "params": trades}).decode(),
        )

    def snapshot_url(self, rest_base_url: str, symbol: str) -> None:  # noqa: ARG002
        """None: Kraken sends a snapshot on (re)subscribing."""
        return

    def resubscribe_messages(self, symbol: str, *, depth: int = 10) -> tuple[str, ...]:
        """``unsubscribe`` then ``subscribe`` the ``book`` of ``symbol``: a fresh snapshot.

        Updates of the old subscription still in flight reach a cleared book, which
        ignores them until the new snapshot.
        """
        return (
            _book_request("unsubscribe", (symbol,), depth),
            _book_request("subscribe", (symbol,), depth, snapshot=True),
        )

    def book_sync(self, instrument: Instrument, *, mode: str, max_depth: int) -> KrakenBookSync:  # noqa: ARG002
        """A checksum-verified book trimmed to the subscribed depth ``max_depth``."""
        return KrakenBookSync(instrument, max_depth)

    def ticker_verifier(self, instrument: Instrument) -> None:  # noqa: ARG002
        """None: the checksum verifies every update already."""
        return

    def trade_tick(self, instrument: Instrument, data: Any) -> TradeTick:
        """A ``trade`` update's trade (`KrakenTrade`) in ticks and lots.

        The quantity is written at the pair's lot decimals, which may be finer than the
        order lot: a quantity between two lots counts as the next lot up, as the book's
        sizes do (`Instrument.size_rounded_up`).

        Raises:
            ParseError: a price off the tick, a price or quantity of 0 or beyond
                `MAX_UNITS`, a time beyond 64-bit nanoseconds.

        """
        trade: KrakenTrade = data
        price, quantity = instrument.price(trade.price), instrument.size_rounded_up(trade.qty)
        if not (0 < price <= MAX_UNITS and 0 < quantity <= MAX_UNITS):
            raise ParseError(f"trade of {trade.qty[:40]!r} at {trade.price[:40]!r}: not a trade")
        if not 0 <= trade.timestamp_ns <= MAX_UNITS:
            raise ParseError(f"trade time {trade.timestamp_ns} ns is beyond 64-bit nanoseconds")
        return TradeTick(
            instrument=instrument.symbol,
            price=price,
            quantity=quantity,
            side=trade.side,  # the taker's
            timestamp_ns=trade.timestamp_ns,
        )


def order_number(order_id: str) -> int:
    """The contract's integer ``order_id`` of Kraken's ``order_id`` (what the codec reports)."""
    return _order_number(order_id)


if TYPE_CHECKING:

    def _is_an_order_entry(venue: str, instrument: Instrument) -> OrderEntry:
        return KrakenOrderEntry(venue, instrument)  # mypy checks the protocol here


def _order_entry(venue: str, instrument: Instrument | Mapping[str, Instrument]) -> KrakenOrderEntry:
    """The codec of one gateway; the REST base URL comes with each token call.

    The gateway passes ``[venue] rest_url`` to `KrakenOrderEntry.session_request` (the
    embedded simulated exchange's is known only once it runs), so the codec needs
    nothing more than the venue and the instrument (``instrument.symbol`` is Kraken's
    v2 symbol, ``BTC/USD``); several by symbol make one codec for all of them (one
    ``executions`` subscription covers every pair of the account).
    """
    return KrakenOrderEntry(venue, instrument)


def _asset_pairs_url(rest_url: str, symbol: str) -> str:  # noqa: ARG001 - every pair
    # all pairs: `instrument_from_asset_pairs` finds ours by key, altname, wsname or v2
    # symbol (BTC/USD), whichever the config gives, without guessing what ?pair= accepts
    return asset_pairs_url(None, rest_url.rstrip("/"))


def _instrument(body: bytes, symbol: str, venue: str) -> Instrument:
    return instrument_from_asset_pairs(body, symbol, venue=venue, symbol=symbol)


class _KrakenAdapter:
    kind = "kraken"
    market_data = KrakenMarketData()
    order_entry = staticmethod(_order_entry)
    instruments = InstrumentSource("AssetPairs", _asset_pairs_url, _instrument)


ADAPTER = _KrakenAdapter()
"""Kraken spot as a venue adapter: market data, and order entry (`KrakenOrderEntry`)."""
