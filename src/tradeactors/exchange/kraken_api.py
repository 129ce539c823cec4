"""The simulated exchange speaking Kraken spot: WebSocket v2 and the REST calls around it.

`KrakenApi` is a front-end over the same `MatchingEngine` as the simulator's own
protocol (`tradeactors.exchange.orderentry`) and the Binance one
(`tradeactors.exchange.binance_api`), read from Kraken's documentation
(docs.kraken.com/api/docs: guides/spot-rest-auth, guides/spot-ws-auth,
guides/spot-errors, guides/spot-ratelimits, rest-api/get-websockets-token,
rest-api/get-tradable-asset-pairs, rest-api/get-order-book, websocket-v2/add_order,
amend_order, cancel_order, cancel_all, cancel_after, executions, book, ping, heartbeat,
status) and from nothing else: it shares no code with the Kraken client in
``tradeactors.venues``, so the two are two readings of the documents, not one reading
copied twice.

It is transport-free like `OrderEntry`: the server feeds it each text frame with the
connection it came from, and each REST call, under the exchange's lock; it answers
through the send function it was given for that connection (a bounded queue: nothing
blocks here) or with the REST answer's (status, body).

What it serves:

- REST ``POST /0/private/GetWebSocketsToken`` (`KrakenApi.rest_token`): headers
  ``API-Key`` and ``API-Sign`` = base64(HMAC-SHA512(base64-decoded secret, URI path +
  SHA256(nonce + POST data))) (`api_sign`), the nonce strictly increasing per key, the
  API counter per key (``EAPI:Rate limit exceeded``); answers ``{"error": [], "result":
  {"token", "expires": 900}}``. A token must be used within 15 minutes; once a
  connection used it, it lasts while a connection that used it is open.
- REST ``GET /0/public/AssetPairs``, ``/0/public/Depth`` and ``/0/public/Time``
  (`rest_asset_pairs`, `rest_depth`, `rest_time`), pure functions of the instrument.
- WebSocket v2 (``wss://ws-auth.kraken.com/v2``'s shape, and ``ws.kraken.com/v2``'s
  ``book``): requests ``{"method", "params", "req_id"}`` answered ``{"method",
  "req_id", "result" | "error", "success", "time_in", "time_out"}``; ``ping`` ->
  ``pong``; a ``status`` message on connection and a ``heartbeat`` each second without
  other traffic once a channel is subscribed;
- ``add_order`` (limit, and market with a protection price; ``time_in_force`` gtc /
  ioc / fok; ``post_only``; ``cl_ord_id``: a UUID, long or short, or up to 18 ASCII
  characters; ``order_userref``; ``order_qty`` and ``limit_price`` as JSON numbers),
  ``amend_order`` (a lower ``order_qty`` keeps the queue place, a new ``limit_price``
  loses it; the order id stays), ``cancel_order`` (lists of ``order_id``, ``cl_ord_id``
  or ``order_userref``: one answer per order), ``cancel_all`` (``count``),
  ``cancel_all_orders_after`` (the dead-man's switch: ``currentTime`` /
  ``triggerTime``, 0 disables; when it fires every order of the account is cancelled
  and it stays off until the next request);
- the ``executions`` channel (a snapshot of open orders and, with ``snap_trades``, the
  last 50 fills; then one update per event: ``pending_new``, ``new``, ``trade``,
  ``filled``, ``canceled``, ``expired``, ``amended``), order ids like
  ``OQCLML-BW3P3-BUCMWZ``, execution ids like ``TCCCTY-WE2O6-P3NB37``, RFC 3339
  timestamps, quantities and prices as JSON numbers at the pair's decimals;
- the ``book`` channel (depth 10, 25, 100, 500 or 1000): a snapshot, then updates with
  Kraken's CRC32 ``checksum`` of the top 10 asks then bids (`book_checksum`);
- the ``trade`` channel (websocket-v2/trade): one ``update`` per batch of the engine's
  trades (``side`` the taker's, ``ord_type`` the taker's where it is a client's order,
  else ``limit``, ``trade_id`` counting the pair's trades), a ``snapshot`` of the last
  50 only when asked (``snapshot``: false by default).

Rate limits as documented (guides/spot-ratelimits, `KrakenLimits`): a trading rate
counter per account and pair that decays each second (``add_order`` +1, ``amend_order``
+1 and more for a young order, ``cancel_order`` by the order's age), refused at the
threshold with ``EOrder:Rate limit exceeded``, and shown in each ``executions``
update's reports (``ratecount``) to a subscription with ``ratecounter``; open orders
per pair (``EOrder:Orders limit exceeded``); the REST API counter; and a message
budget per connection (the emulator's own bound: Kraken publishes none for trading
requests).

Not emulated, and refused with ``EGeneral:Invalid arguments:<field> is not emulated``:
order types other than limit and market, ``gtd``, triggers, conditional close,
iceberg (``display_qty``), ``margin``, ``reduce_only``, ``validate``, ``cash_order_qty``,
scheduled orders, quantity increases by ``amend_order``; no ``edit_order``,
``batch_add``, ``batch_cancel``, and no channels but ``executions``, ``book`` and
``trade`` (``unsubscribe`` works for each). Balances are not kept, so ``EOrder:Insufficient funds``
never happens. Self-trade prevention is the engine's (the resting order expires,
Kraken's ``cancel_oldest``) whatever ``stp_type`` says. Kraken spot has no
cancel-on-disconnect: a connection that drops leaves its orders working; the
dead-man's switch is what cancels them. Reason texts other than ``User requested`` and
``Post only order`` are this emulator's words, not Kraken's.

Never raises for a bad request and never ends a session: malformed JSON, frames nested
too deep, wrong types, 60-digit numbers, ``1e300``, unknown methods and parameters are
answered with Kraken's error strings. Secrets and tokens never reach logs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
import urllib.parse
import zlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import structlog

from tradeactors.core.instrument import Instrument, ParseError, decimal_places, parse_units
from tradeactors.core.ratelimit import TokenBucket
from tradeactors.errors import ConfigError
from tradeactors.exchange.binance_api import split_symbol
from tradeactors.exchange.matching import (
    CancelStatus,
    EngineAccepted,
    EngineAmended,
    EngineCanceled,
    EngineFilled,
    EngineRejected,
    Liquidity,
    RejectReason,
    Side,
    TimeInForce,
    read_price,
    read_quantity,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from tradeactors.clock import Clock
    from tradeactors.exchange.matching import Event, Filters, MatchingEngine

__all__ = [
    "ASSET_PAIRS_PATH",
    "BOOK_DEPTHS",
    "DEPTH_PATH",
    "MAX_BODY_BYTES",
    "TIME_PATH",
    "TOKEN_PATH",
    "TOKEN_SECONDS",
    "KrakenApi",
    "KrakenLimits",
    "PairNames",
    "api_sign",
    "asset_pairs",
    "book_checksum",
    "depth_pair",
    "pair_names",
    "rest_asset_pairs",
    "rest_depth",
    "rest_time",
    "rfc3339",
]

Send = Callable[[str], bool]
"""Queue one frame for a connection; False if the connection is gone or was dropped."""

TOKEN_PATH = "/0/private/GetWebSocketsToken"  # noqa: S105 - a URL path, not a secret
"""The REST call that issues a WebSocket token (POST, signed)."""
ASSET_PAIRS_PATH = "/0/public/AssetPairs"
DEPTH_PATH = "/0/public/Depth"
TIME_PATH = "/0/public/Time"
TOKEN_SECONDS = 900
"""How long a token may wait for its first use (rest-api/get-websockets-token)."""
BOOK_DEPTHS = (10, 25, 100, 500, 1000)
"""The depths a ``book`` subscription may ask for (websocket-v2/book)."""
MAX_BODY_BYTES = 4_096
"""The largest REST request body read; a larger one is refused unread."""
MAX_CANCEL_AFTER_SECONDS = 86_400
"""``cancel_all_orders_after``'s timeout must be below this (websocket-v2/cancel_after)."""

# Kraken's error strings (guides/spot-errors, websocket-v2 pages)
INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
UNKNOWN_METHOD = "EGeneral:Unknown method"
INTERNAL_ERROR = "EGeneral:Internal error"
INVALID_KEY = "EAPI:Invalid key"
INVALID_SIGNATURE = "EAPI:Invalid signature"
INVALID_NONCE = "EAPI:Invalid nonce"
API_RATE_LIMIT = "EAPI:Rate limit exceeded"
INVALID_SESSION = "ESession:Invalid session"
ORDER_RATE_LIMIT = "EOrder:Rate limit exceeded"
ORDERS_LIMIT = "EOrder:Orders limit exceeded"
UNKNOWN_ORDER = "EOrder:Unknown order"
TICK_SIZE_FAILED = "EOrder:Tick size check failed"
ORDER_MINIMUM = "EOrder:Order minimum not met"
COST_MINIMUM = "EOrder:Cost minimum not met"
INVALID_PRICE = "EOrder:Invalid price"
INVALID_ORDER = "EOrder:Invalid order"
UNKNOWN_PAIR = "EQuery:Unknown asset pair"
UNAVAILABLE = "EService:Unavailable"

_NS = 1_000_000_000
_HEARTBEAT_NS = _NS  # "approximately once every second in the absence of other updates"
_SNAP_TRADES = 50  # the fills an executions snapshot carries (websocket-v2/executions)
_TRADE_SNAPSHOT = 50  # the trades a trade snapshot carries (websocket-v2/trade)
_MAX_IDS = 100  # ids in one cancel_order
_MAX_TEXT = 64  # characters of a string parameter
_MAX_TOKEN = 128
_MAX_NONCE = 2**64 - 1
_INT64 = 2**63 - 1
_INT32 = 2**31
_MAX_FORM_FIELDS = 20
_MAX_REST_PAIRS = 20
_DEPTH_COUNT = (1, 500, 100)  # REST Depth's count: lowest, highest, default
_CHECKSUM_LEVELS = 10
_ID_MULTIPLIER = 7**29  # coprime to 36, near 36**16 * 0.4: counter -> id is one-to-one
_ID_SPACE = 36**16
_ID_OFFSET = _ID_SPACE // 7  # counter * multiplier + offset: still one-to-one
_ID_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TIF = {"gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
# guides/spot-ratelimits: the decaying part of a transaction's count, by the order's age
_AMEND_PENALTY = ((5, 3), (10, 2), (15, 1))
_CANCEL_PENALTY = ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1))
_USER_REQUESTED = "User requested"
_POST_ONLY = "Post only order"
_EXPIRY_REASONS = {  # the engine's reason -> this emulator's words
    "ioc": "Immediate or cancel",
    "fok": "Fill or kill",
    "insufficient_liquidity": "Insufficient liquidity",
    "market_protection": "Market price protection",
    "self_trade": "Self trade prevention",
}
_DEAD_MAN = "Cancel all orders after"
_NOT_EMULATED = (  # add_order parameters whose non-default values are not emulated
    ("triggers", None),
    ("conditional", None),
    ("display_qty", None),
    ("effective_time", None),
    ("expire_time", None),
    ("cash_order_qty", None),
    ("margin", b"false"),
    ("reduce_only", b"false"),
    ("validate", b"false"),
)


class KrakenLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The venue's limits (guides/spot-ratelimits, guides/spot-rest-ratelimits).

    The defaults are Kraken's Intermediate tier: a trading rate counter per pair of at
    most ``max_rate_count`` decaying by ``rate_decay_per_second``, ``max_open_orders``
    per pair, the REST API counter (``rest_counter_max``, ``rest_decay_per_second``).
    ``messages_per_second`` and ``message_burst`` bound each connection's requests.
    """

    max_rate_count: int = 125
    rate_decay_per_second: float = 2.34
    max_open_orders: int = 80
    rest_counter_max: int = 20
    rest_decay_per_second: float = 0.5
    messages_per_second: float = 50.0
    message_burst: int = 100

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"Kraken limit {name} must be positive, not {getattr(self, name)}"
                )


class PairNames(NamedTuple):
    """How Kraken names the venue's one pair: ``AssetPairs``' key, ``altname``, ``wsname``.

    ``wsname`` is also the WebSocket v2 ``symbol`` (``"ETH/USDT"``).
    """

    key: str
    altname: str
    wsname: str
    base: str
    quote: str


def pair_names(instrument: Instrument) -> PairNames:
    """The pair's names: ``"ETHUSDT"`` or ``"ETH/USDT"`` -> key ETHUSDT, wsname ETH/USDT."""
    symbol = instrument.symbol
    if "/" in symbol:
        base, _, quote = symbol.partition("/")
    else:
        base, quote = split_symbol(symbol)
    altname = base + quote
    return PairNames(altname, altname, f"{base}/{quote}" if quote else base, base, quote)


def api_sign(secret: str, path: str, nonce: str | int, body: str) -> str:
    """The ``API-Sign`` of a private REST call (guides/spot-rest-auth).

    base64(HMAC-SHA512(base64-decoded ``secret``, ``path`` + SHA256(``nonce`` + ``body``))).
    """
    return _sign(base64.b64decode(secret), path, str(nonce), body)


def _sign(key: bytes, path: str, nonce: str, body: str) -> str:
    digest = hashlib.sha256((nonce + body).encode()).digest()
    mac = hmac.new(key, path.encode() + digest, hashlib.sha512).digest()
    return base64.b64encode(mac).decode()


def book_checksum(asks: Sequence[tuple[str, str]], bids: Sequence[tuple[str, str]]) -> int:
    """Kraken's CRC32 of a book (websocket-v2/book): the top 10 asks, then the top 10 bids.

    Each level's price then quantity, as written, without the ``.`` and leading zeros.
    ``asks`` best (lowest) first, ``bids`` best (highest) first.
    """
    parts: list[str] = []
    for price, qty in (*asks[:_CHECKSUM_LEVELS], *bids[:_CHECKSUM_LEVELS]):
        parts.append(price.replace(".", "").lstrip("0"))
        parts.append(qty.replace(".", "").lstrip("0"))
    return zlib.crc32("".join(parts).encode()) & 0xFFFFFFFF


def rfc3339(wall_ns: int) -> str:
    """``wall_ns`` as Kraken writes times: ``2023-09-22T10:33:05.709950Z``."""
    seconds, ns = divmod(wall_ns, _NS)
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{ns // 1_000:06d}Z"


def _rfc3339_seconds(wall_ns: int) -> str:
    """``wall_ns`` rounded up to the second: ``2022-12-25T09:30:59Z``."""
    seconds = -(-wall_ns // _NS)
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}Z"


# -- the wire's numbers ---------------------------------------------------------------


class _Wire:
    """Ticks and lots as Kraken writes them: the pair's decimals, exactly."""

    def __init__(self, instrument: Instrument) -> None:
        self.price_places = decimal_places(instrument.tick_size)
        self._tick = parse_units(instrument.tick_size, self.price_places)
        self.size_places = decimal_places(instrument.lot_size)
        self._lot = parse_units(instrument.lot_size, self.size_places)

    def price(self, ticks: int) -> str:
        return _decimal(ticks * self._tick, self.price_places)

    def qty(self, lots: int) -> str:
        return _decimal(lots * self._lot, self.size_places)

    def cost(self, ticks_lots: int) -> str:
        """A price times a quantity (ticks x lots) in the quote asset: ``cost_decimals``."""
        return _decimal(ticks_lots * self._tick * self._lot, self.price_places + self.size_places)

    def fee(self, fee_e4: int) -> str:
        """A fee in the engine's units (tick x lot / 10,000) in the quote asset."""
        places = self.price_places + self.size_places + 4
        return _decimal(fee_e4 * self._tick * self._lot, places)

    def average(self, ticks_lots: int, lots: int) -> str:
        """The average price of ``lots`` that cost ``ticks_lots``, to the tick (half up)."""
        if not lots:
            return self.price(0)
        return self.price((2 * ticks_lots + lots) // (2 * lots))


def _decimal(units: int, places: int) -> str:
    digits = str(units).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}" if places else digits


def _number(text: str) -> msgspec.Raw:
    """A decimal written into JSON as a number, digit for digit."""
    return msgspec.Raw(text.encode())


# -- REST ---------------------------------------------------------------------------

_encode = msgspec.json.Encoder().encode


def _rest_error(error: str) -> tuple[int, str]:
    """A refused REST call: Kraken answers 200 with the error in the ``error`` list."""
    return 200, _encode({"error": [error]}).decode()


def _rest_result(result: Any) -> tuple[int, str]:
    return 200, _encode({"error": [], "result": result}).decode()


def asset_pairs(instrument: Instrument, filters: Filters) -> dict[str, Any]:
    """``AssetPairs``' entry for the venue's pair (rest-api/get-tradable-asset-pairs)."""
    names = pair_names(instrument)
    wire = _Wire(instrument)
    return {
        "altname": names.altname,
        "wsname": names.wsname,
        "aclass_base": "currency",
        "base": names.base,
        "aclass_quote": "currency",
        "quote": names.quote,
        "lot": "unit",
        "cost_decimals": wire.price_places + wire.size_places,
        "pair_decimals": wire.price_places,
        "lot_decimals": wire.size_places,
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        "fees": [[0, 0.0]],
        "fees_maker": [[0, 0.0]],
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": wire.qty(filters.min_quantity),
        "costmin": wire.cost(filters.min_notional),
        "tick_size": instrument.tick_size,
        "status": "online",
    }


def _query(query: str) -> dict[str, list[str]] | None:
    try:
        return urllib.parse.parse_qs(query, max_num_fields=_MAX_FORM_FIELDS)
    except ValueError:
        return None


def _wanted_pair(names: PairNames, wanted: str) -> bool:
    return wanted in (names.key, names.altname, names.wsname)


def rest_asset_pairs(
    query: str,
    instrument: Instrument | Sequence[Instrument],
    filters: Filters | Callable[[str], Filters],
) -> tuple[int, str]:
    """``GET /0/public/AssetPairs?{query}``: (HTTP status, JSON body).

    ``instrument``: the venue's one, or several; ``filters``: the one's, or the filters
    by symbol (``MatchingEngine.filters``). ``pair`` (comma-separated) must name the
    venue's pairs by key, altname or wsname (``EQuery:Unknown asset pair``), and only
    those are listed; without it every pair is.
    """
    params = _query(query)
    if params is None:
        return _rest_error(INVALID_ARGUMENTS)
    instruments = (instrument,) if isinstance(instrument, Instrument) else tuple(instrument)
    filters_of = filters if callable(filters) else (lambda _symbol: filters)
    named = [(pair_names(i), i) for i in instruments]
    wanted = params.get("pair", [""])[0]
    pairs = [p for p in wanted.split(",") if p][:_MAX_REST_PAIRS] if wanted else []
    if any(not any(_wanted_pair(names, pair) for names, _ in named) for pair in pairs):
        return _rest_error(UNKNOWN_PAIR)
    return _rest_result(
        {
            names.key: asset_pairs(i, filters_of(i.symbol))
            for names, i in named
            if not pairs or any(_wanted_pair(names, pair) for pair in pairs)
        }
    )


def depth_pair(query: str, instruments: Iterable[Instrument]) -> Instrument | None:
    """The instrument a ``Depth`` query's ``pair`` names, None if none of ``instruments``."""
    params = _query(query)
    wanted = params.get("pair", [""])[0] if params is not None else ""
    return next((i for i in instruments if _wanted_pair(pair_names(i), wanted)), None)


def rest_depth(
    query: str,
    instrument: Instrument,
    depth: Callable[[Side, int], list[tuple[int, int]]],
    wall_ns: int,
) -> tuple[int, str]:
    """``GET /0/public/Depth?pair=...&count=...`` (rest-api/get-order-book).

    ``depth(side, levels)`` gives the book's best levels (called once per side).
    """
    params = _query(query)
    if params is None or "pair" not in params:
        return _rest_error(INVALID_ARGUMENTS)
    names = pair_names(instrument)
    if not _wanted_pair(names, params["pair"][0]):
        return _rest_error(UNKNOWN_PAIR)
    low, high, count = _DEPTH_COUNT
    if "count" in params:
        text = params["count"][0]
        if not (text.isascii() and text.isdigit() and len(text) <= len(str(high))):
            return _rest_error(INVALID_ARGUMENTS)
        count = max(low, min(int(text), high))
    wire = _Wire(instrument)
    stamp = wall_ns // _NS

    def levels(side: Side) -> list[list[Any]]:
        return [[wire.price(p), wire.qty(q), stamp] for p, q in depth(side, count)]

    return _rest_result({names.key: {"asks": levels(Side.SELL), "bids": levels(Side.BUY)}})


def rest_time(wall_ns: int) -> tuple[int, str]:
    """``GET /0/public/Time``: ``unixtime`` and ``rfc1123``."""
    seconds = wall_ns // _NS
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return _rest_result({"unixtime": seconds, "rfc1123": f"{stamp:%a, %d %b %y %H:%M:%S +0000}"})


# -- requests and their refusals -------------------------------------------------------


class _Envelope(msgspec.Struct, frozen=True):
    """A request as framed, each part still raw: checked one by one below."""

    method: msgspec.Raw = msgspec.Raw(b"")
    params: msgspec.Raw = msgspec.Raw(b"")
    req_id: msgspec.Raw = msgspec.Raw(b"")


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_decode_params = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_str = msgspec.json.Decoder(str).decode
_decode_int = msgspec.json.Decoder(int).decode
_decode_bool = msgspec.json.Decoder(bool).decode
_decode_strs = msgspec.json.Decoder(list[str]).decode
_decode_ints = msgspec.json.Decoder(list[int]).decode
_DECODE_ERRORS = (msgspec.DecodeError, RecursionError, UnicodeError)

_NUMBER = re.compile(rb"[0-9]{1,20}(?:\.[0-9]{1,20})?")
_LONG_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_SHORT_UUID = re.compile(r"[0-9a-fA-F]{32}")
_FREE_TEXT = re.compile(r"[\x21-\x7e]{1,18}")
_API_KEY = re.compile(r"[A-Za-z0-9+/=_-]{1,128}")
_NONCE = re.compile(r"[0-9]{1,20}")


class _Refusal(Exception):  # noqa: N818 - not an error of this package: an answer to a client
    """A request answered with an error: Kraken's string, and the fields it echoes."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    @classmethod
    def invalid(cls, name: str, why: str = "") -> _Refusal:
        return cls(f"{INVALID_ARGUMENTS}:{name}{' ' + why if why else ''}")


class _Params:
    """A request's parameters, read on demand with Kraken's refusals."""

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, msgspec.Raw]) -> None:
        self._raw = raw

    def names(self) -> set[str]:
        return set(self._raw)

    def raw(self, name: str) -> bytes | None:
        """The value's JSON text, or None if absent or null."""
        raw = self._raw.get(name)
        data = None if raw is None else bytes(raw)
        return None if data in (None, b"null") else data

    def _read(self, name: str, decode: Callable[[bytes], Any], *, required: bool) -> Any:
        data = self.raw(name)
        if data is None:
            if required:
                raise _Refusal.invalid(name, "is required")
            return None
        try:
            return decode(data)
        except _DECODE_ERRORS as exc:
            raise _Refusal.invalid(name) from exc

    def text(self, name: str, *, required: bool = False, limit: int = _MAX_TEXT) -> str | None:
        value: str | None = self._read(name, _decode_str, required=required)
        if value is not None and not 0 < len(value) <= limit:
            raise _Refusal.invalid(name)
        return value

    def choice(self, name: str, allowed: Iterable[str], *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is not None and value not in allowed:
            raise _Refusal.invalid(name)
        return value

    def boolean(self, name: str) -> bool | None:
        value: bool | None = self._read(name, _decode_bool, required=False)
        return value

    def integer(self, name: str, low: int, high: int, *, required: bool = False) -> int | None:
        value: int | None = self._read(name, _decode_int, required=required)
        if value is not None and not low <= value <= high:
            raise _Refusal.invalid(name)
        return value

    def number(self, name: str, *, required: bool = False) -> str | None:
        """A price or quantity: a plain decimal JSON number, kept as written."""
        data = self.raw(name)
        if data is None:
            if required:
                raise _Refusal.invalid(name, "is required")
            return None
        if not _NUMBER.fullmatch(data):  # strings, exponents, signs, 60 digits, 1e300
            raise _Refusal.invalid(name)
        return data.decode()

    def texts(self, name: str) -> list[str] | None:
        values: list[str] | None = self._read(name, _decode_strs, required=False)
        if values is not None and (
            not 0 < len(values) <= _MAX_IDS or any(not 0 < len(v) <= _MAX_TEXT for v in values)
        ):
            raise _Refusal.invalid(name)
        return values

    def integers(self, name: str) -> list[int] | None:
        values: list[int] | None = self._read(name, _decode_ints, required=False)
        if values is not None and (
            not 0 < len(values) <= _MAX_IDS or any(not -_INT32 <= v < _INT32 for v in values)
        ):
            raise _Refusal.invalid(name)
        return values


class _Method(NamedTuple):
    """One WebSocket v2 method: whether it needs a token, the parameters it reads."""

    private: bool
    params: frozenset[str]
    op: str = ""  # the simulator's name for it, counted in `KrakenApi.requests`


_ORDER_PARAMS = frozenset(
    {
        "order_type", "side", "order_qty", "symbol", "limit_price", "limit_price_type",
        "time_in_force", "post_only", "cl_ord_id", "order_userref", "deadline", "stp_type",
        "fee_preference", "no_mpp", "sender_sub_id", "triggers", "conditional",
        "display_qty", "effective_time", "expire_time", "cash_order_qty", "margin",
        "reduce_only", "validate",
    }
)  # fmt: skip
_SUBSCRIBE_PARAMS = frozenset(
    {
        "channel", "symbol", "depth", "snapshot", "snap_orders", "snap_trades",
        "order_status", "ratecounter", "snapshot_trades", "users",
    }
)  # fmt: skip
_METHODS: dict[str, _Method] = {
    "ping": _Method(private=False, params=frozenset()),
    "subscribe": _Method(private=False, params=_SUBSCRIBE_PARAMS | {"token"}),
    "unsubscribe": _Method(private=False, params=_SUBSCRIBE_PARAMS | {"token"}),
    "add_order": _Method(private=True, params=_ORDER_PARAMS | {"token"}, op="place"),
    "amend_order": _Method(
        private=True,
        params=frozenset(
            {
                "order_id",
                "cl_ord_id",
                "order_qty",
                "limit_price",
                "post_only",
                "deadline",
                "symbol",
                "display_qty",
                "limit_price_type",
                "trigger_price",
                "trigger_price_type",
                "token",
            }
        ),
        op="amend",
    ),
    "cancel_order": _Method(
        private=True,
        params=frozenset({"order_id", "cl_ord_id", "order_userref", "token"}),
        op="cancel",
    ),
    "cancel_all": _Method(private=True, params=frozenset({"token"}), op="cancel_all"),
    "cancel_all_orders_after": _Method(
        private=True, params=frozenset({"timeout", "token"}), op="cancel_all_after"
    ),
}
_MAX_METHOD_CHARS = 64


def _method_name(raw: msgspec.Raw) -> str | None:
    """The method's name, if it is a string of sensible length."""
    data = bytes(raw)
    if not data:
        return None
    try:
        name = _decode_str(data)
    except _DECODE_ERRORS:
        return None
    return name if 0 < len(name) <= _MAX_METHOD_CHARS else None


def _penalty(table: tuple[tuple[int, int], ...], age_ns: int) -> int:
    for seconds, count in table:
        if age_ns < seconds * _NS:
            return count
    return 0


def _kraken_id(prefix: str, number: int) -> str:
    """A Kraken-looking id (``OQCLML-BW3P3-BUCMWZ``), one-to-one with ``number``."""
    value = (number * _ID_MULTIPLIER + _ID_OFFSET) % _ID_SPACE
    digits = []
    for _ in range(16):
        value, digit = divmod(value, 36)
        digits.append(_ID_DIGITS[digit])
    text = "".join(digits)
    return f"{prefix}{text[:5]}-{text[5:10]}-{text[10:]}"


def _check_cl_ord_id(value: str) -> str:
    if not (
        _LONG_UUID.fullmatch(value) or _SHORT_UUID.fullmatch(value) or _FREE_TEXT.fullmatch(value)
    ):
        raise _Refusal.invalid("cl_ord_id")
    return value


# -- orders, accounts, sessions --------------------------------------------------------


class _NewOrder(NamedTuple):
    """A new order's parameters, checked (add_order)."""

    side: Side
    order_type: str  # limit or market
    tif: str  # gtc, ioc or fok
    price: int  # ticks (market: the protection price)
    quantity: int  # lots
    post_only: bool
    cl_ord_id: str | None
    userref: int | None
    pair: _Pair


class _Pair:
    """One pair the front-end serves: its names, its numbers, its public trades and books."""

    __slots__ = (
        "books", "instrument", "last_trades", "names", "symbol", "trade_id", "trades_out", "wire",
    )  # fmt: skip

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol  # the engine's
        self.names = pair_names(instrument)  # names.wsname: the WebSocket v2 symbol
        self.wire = _Wire(instrument)
        self.trade_id = 0  # one per trade on the pair (both sides see the same)
        self.trades_out: list[dict[str, Any]] = []  # public trades, to push (trade channel)
        self.last_trades: deque[dict[str, Any]] = deque(maxlen=_TRADE_SNAPSHOT)
        self.books: dict[int, tuple[dict[int, int], dict[int, int]]] = {}  # depth -> sent


class _Rate:
    """An account's trading rate counter on one pair."""

    __slots__ = ("count", "ns")

    def __init__(self) -> None:
        self.count = 0.0  # as of ns (monotonic)
        self.ns = 0


class _Order:
    """An order placed through this front-end, as Kraken shows it."""

    __slots__ = (
        "account", "amending", "cl_ord_id", "engine_id", "executed", "fees_e4", "internal",
        "kraken_id", "order_type", "pair", "post_only", "price", "quantity", "quote", "side",
        "since_ns", "status", "tif", "userref",
    )  # fmt: skip

    def __init__(
        self, kraken_id: str, account: str, internal: str, new: _NewOrder, now_ns: int
    ) -> None:
        self.kraken_id = kraken_id
        self.account = account
        self.pair = new.pair
        self.internal = internal  # the engine's client order id: one per order for ever
        self.engine_id = 0  # the engine's order id, once accepted (a new one if repriced)
        self.side = new.side
        self.order_type = new.order_type
        self.tif = new.tif.upper()
        self.price = new.price
        self.quantity = new.quantity
        self.post_only = new.post_only
        self.cl_ord_id = new.cl_ord_id
        self.userref = new.userref
        self.executed = 0
        self.quote = 0  # ticks x lots
        self.fees_e4 = 0
        self.status = "pending_new"
        self.since_ns = now_ns  # created or last amended (monotonic): the rate penalties
        self.amending = False


class _Account:
    """An account's open orders, last fills, rate counters, dead-man's switch, nonce."""

    __slots__ = (
        "by_cl_ord_id", "deadline_ns", "nonce", "open", "rates", "rest_count", "rest_ns",
        "trades",
    )  # fmt: skip

    def __init__(self) -> None:
        self.open: dict[str, _Order] = {}  # order_id -> order
        self.by_cl_ord_id: dict[str, _Order] = {}  # of open orders
        self.trades: deque[dict[str, Any]] = deque(maxlen=_SNAP_TRADES)
        self.rates: dict[str, _Rate] = {}  # the engine's symbol -> the pair's counter
        self.rest_count = 0.0
        self.rest_ns = 0
        self.deadline_ns: int | None = None  # cancel_all_orders_after (monotonic)
        self.nonce = 0  # the last nonce accepted


class _Token:
    __slots__ = ("account", "connections", "expires_ns")

    def __init__(self, account: str, expires_ns: int) -> None:
        self.account = account
        self.expires_ns = expires_ns  # monotonic: unless used by then
        self.connections: set[object] = set()  # open connections that used it


class _Executions:
    """A connection's ``executions`` subscription."""

    __slots__ = ("account", "order_status", "ratecounter", "sequence")

    def __init__(self, account: str, *, order_status: bool, ratecounter: bool = False) -> None:
        self.account = account
        self.order_status = order_status
        self.ratecounter = ratecounter  # each update's reports carry ``ratecount``
        self.sequence = 1  # the snapshot's


class _Session:
    """One connection: what it subscribed to, the tokens it used, its message budget."""

    __slots__ = (
        "accounts", "books", "budget", "executions", "last_sent_ns", "peer", "send", "tokens",
        "trades",
    )  # fmt: skip

    def __init__(self, send: Send, peer: str, now_ns: int, limits: KrakenLimits) -> None:
        self.send = send
        self.peer = peer
        self.tokens: set[str] = set()
        self.accounts: set[str] = set()
        self.executions: _Executions | None = None
        self.books: dict[str, int] = {}  # book subscriptions: wsname -> depth
        self.trades: set[str] = set()  # trade subscriptions (wsnames)
        self.last_sent_ns = now_ns
        self.budget = TokenBucket(limits.messages_per_second, limits.message_burst, now_ns)

    def push(self, frame: str, now_ns: int) -> None:
        self.last_sent_ns = now_ns
        self.send(frame)

    @property
    def subscribed(self) -> bool:
        return self.executions is not None or bool(self.books) or bool(self.trades)


class _Call:
    """One request being handled."""

    __slots__ = (
        "account", "connection", "events", "method", "now_ns", "params", "req_id", "session",
        "wall_ns",
    )  # fmt: skip

    def __init__(
        self,
        session: _Session,
        connection: object,
        *,
        method: str,
        req_id: int | None,
        params: _Params,
        now_ns: int,
        wall_ns: int,
    ) -> None:
        self.session = session
        self.connection = connection
        self.method = method
        self.req_id = req_id
        self.params = params
        self.now_ns = now_ns
        self.wall_ns = wall_ns
        self.account = ""
        self.events: list[Event] = []


class KrakenApi:
    """Kraken spot's WebSocket v2 and its REST token over instruments of ``engine``.

    ``instrument``: one, or several (each a pair: its ``book`` and ``trade`` channels,
    its orders in its tick and lot, its own trading rate counter and open-orders limit
    per account); the ``executions`` channel, ``cancel_all`` and the dead-man's switch
    cover every pair of the account, as Kraken's do.

    ``keys`` maps API key to its base64 secret (as Kraken issues them); the API key is
    also the engine's account. ``clock`` times what happens between requests (fills
    against resting orders, the dead-man's switch, tokens, rate counters).
    """

    def __init__(
        self,
        engine: MatchingEngine,
        instrument: Instrument | Sequence[Instrument],
        keys: Mapping[str, str],
        clock: Clock,
        *,
        limits: KrakenLimits | None = None,
    ) -> None:
        self._secrets: dict[str, bytes] = {}
        for key, secret in keys.items():
            if not _API_KEY.fullmatch(key):
                raise ConfigError(f"API key {key[:16]!r} is not a Kraken API key (base64 text)")
            try:
                self._secrets[key] = base64.b64decode(secret, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ConfigError(
                    f"the secret of API key {key[:16]!r} is not base64, as Kraken's secrets are"
                ) from exc
        self._engine = engine
        instruments = (instrument,) if isinstance(instrument, Instrument) else tuple(instrument)
        if not instruments:
            raise ConfigError("the kraken protocol serves one instrument or more")
        pairs = [_Pair(i) for i in instruments]
        self._pairs = {pair.names.wsname: pair for pair in pairs}  # v2 symbol -> pair
        self._by_symbol = {pair.symbol: pair for pair in pairs}  # the engine's -> pair
        if len(self._pairs) != len(pairs):
            raise ConfigError("two instruments are the same Kraken pair")
        self._first = pairs[0]
        self.names = self._first.names  # the first pair's
        self._clock = clock
        self.limits = limits or KrakenLimits()
        self._sessions: dict[object, _Session] = {}
        self._accounts: dict[str, _Account] = {key: _Account() for key in keys}
        self._tokens: dict[str, _Token] = {}
        self._by_engine: dict[int, _Order] = {}  # engine order id -> open order
        self._by_internal: dict[str, _Order] = {}  # engine client order id -> open order
        self._cancel_reasons: dict[int, str] = {}  # engine order id -> why it is cancelled
        # executions, to push: (account, the order's pair, record)
        self._outgoing: list[tuple[str, _Pair, dict[str, Any]]] = []
        self._ids = 0  # engine client ids, order ids, execution ids
        self._log = structlog.get_logger("tradeactors.exchange").bind(
            symbol=",".join(self._pairs), protocol="kraken"
        )
        self._handlers: dict[str, Callable[[_Call], None]] = {
            "ping": self._ping,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "add_order": self._add_order,
            "amend_order": self._amend_order,
            "cancel_order": self._cancel_order,
            "cancel_all": self._cancel_all,
            "cancel_all_orders_after": self._cancel_after,
        }
        self.requests: dict[tuple[str, str], int] = {}  # (account, sim op) -> requests taken
        self.muted: set[str] = set()  # accounts whose executions updates are lost (fault)
        self.reject_until_ns = 0  # fault: new orders refused until then (monotonic ns)
        # faults: the next book updates never sent (a lost frame) or cut in half (bad JSON)
        self.drop_book_updates = 0
        self.corrupt_book_updates = 0

    # -- connections -----------------------------------------------------------------

    def connect(self, connection: object, send: Send, now_ns: int, *, peer: str = "") -> None:
        """A connection opened: it is sent the ``status`` message (websocket-v2/status)."""
        session = self._sessions[connection] = _Session(send, peer, now_ns, self.limits)
        self._ids += 1
        status = {
            "channel": "status",
            "type": "update",
            "data": [
                {
                    "api_version": "v2",
                    "connection_id": self._ids,
                    "system": "online",
                    "version": "2.0.0",
                }
            ],
        }
        session.push(_encode(status).decode(), now_ns)

    def venue_ids(self, account: str) -> dict[int, tuple[str, str | None]]:
        """The account's open orders as Kraken names them, for checks (chaos).

        Engine order id -> (Kraken's ``order_id``, the ``cl_ord_id`` it was placed with).
        """
        return {
            engine_id: (order.kraken_id, order.cl_ord_id)
            for engine_id, order in self._by_engine.items()
            if order.account == account
        }

    def connections_of(self, account: str) -> list[object]:
        """The connections that used a token of ``account``."""
        return [c for c, s in self._sessions.items() if account in s.accounts]

    def disconnect(self, connection: object) -> list[Event]:
        """A connection closed. Kraken spot cancels nothing on a disconnect."""
        session = self._sessions.pop(connection, None)
        if session is None:
            return []
        for token in session.tokens:
            record = self._tokens.get(token)
            if record is not None:
                record.connections.discard(connection)
        for symbol, depth in session.books.items():
            self._forget_view(self._pairs[symbol], depth)
        return []

    def _forget_view(self, pair: _Pair, depth: int) -> None:
        """Stop following ``pair``'s top ``depth`` once no session subscribes to it."""
        wsname = pair.names.wsname
        if not any(s.books.get(wsname) == depth for s in self._sessions.values()):
            pair.books.pop(depth, None)

    def expire(self, now_ns: int) -> list[Event]:
        """Fire the dead-man's switches that ran out; send due heartbeats.

        The cancellations are not reported here: the caller reports them (`report`).
        """
        events: list[Event] = []
        for account, state in self._accounts.items():
            if state.deadline_ns is not None and now_ns >= state.deadline_ns:
                state.deadline_ns = None  # off until the next request
                cancelled = self._cancel_everything(account)
                for event in cancelled:
                    if isinstance(event, EngineCanceled):
                        self._cancel_reasons[event.order_id] = _DEAD_MAN
                events.extend(cancelled)
                self._log.info("dead_mans_switch_fired", account=account, orders=len(cancelled))
        for session in self._sessions.values():
            if session.subscribed and now_ns - session.last_sent_ns >= _HEARTBEAT_NS:
                session.push('{"channel":"heartbeat"}', now_ns)
        return events

    def report(self, events: list[Event]) -> None:
        """Apply the engine's ``events``: executions updates, book updates."""
        now_ns, wall_ns = self._clock.monotonic_ns(), self._clock.time_ns()
        self._apply(events, wall_ns)
        self._flush(now_ns)
        self._publish_trades(now_ns)
        self._publish_book(now_ns, wall_ns)

    # -- REST: the token -------------------------------------------------------------

    def rest_token(
        self,
        *,
        path: str,
        api_key: str | None,
        signature: str | None,
        body: bytes,
        now_ns: int,
    ) -> tuple[int, str]:
        """``POST /0/private/GetWebSocketsToken``: (HTTP status, JSON body).

        Checked in order: the key, the signature over ``path`` and ``body``, the nonce
        (above the key's last), the API counter. Refusals are Kraken's (HTTP 200).
        """
        secret = self._secrets.get(api_key or "")
        if api_key is None or secret is None:
            return _rest_error(INVALID_KEY)
        try:
            text = body.decode()
            nonce = _body_nonce(text)
        except (UnicodeError, ValueError):
            return _rest_error(INVALID_ARGUMENTS)
        expected = _sign(secret, path, nonce, text)
        if signature is None or not hmac.compare_digest(expected.encode(), signature.encode()):
            return _rest_error(INVALID_SIGNATURE)
        account = self._accounts[api_key]
        if not _NONCE.fullmatch(nonce) or not account.nonce < int(nonce) <= _MAX_NONCE:
            return _rest_error(INVALID_NONCE)
        account.nonce = int(nonce)
        limits = self.limits
        account.rest_count = max(
            0.0,
            account.rest_count - (now_ns - account.rest_ns) / _NS * limits.rest_decay_per_second,
        )
        account.rest_ns = now_ns
        if account.rest_count + 1 > limits.rest_counter_max:
            return _rest_error(API_RATE_LIMIT)
        account.rest_count += 1
        self._forget_tokens(now_ns)
        token = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        self._tokens[token] = _Token(api_key, now_ns + TOKEN_SECONDS * _NS)
        return _rest_result({"token": token, "expires": TOKEN_SECONDS})

    def _forget_tokens(self, now_ns: int) -> None:
        """Forget tokens past their 15 minutes that no open connection used. O(tokens)."""
        for token, record in list(self._tokens.items()):
            if not record.connections and now_ns >= record.expires_ns:
                del self._tokens[token]

    # -- requests --------------------------------------------------------------------

    def handle(
        self, connection: object, text: str | bytes, now_ns: int, *, wall_ns: int
    ) -> list[Event]:
        """Answer one request frame; return the engine's events.

        ``now_ns`` is monotonic (tokens, rate counters, the dead-man's switch, the
        rejecting fault), ``wall_ns`` the venue's wall clock (timestamps). Never raises
        for a bad request: every request is answered and the session stays.
        """
        session = self._sessions[connection]
        try:
            events = self._handle(session, connection, text, now_ns, wall_ns)
        except Exception as exc:  # noqa: BLE001 - a bug must not end the session: answer, log
            self._log.exception("request_failed", error=type(exc).__name__)
            answer = {"error": INTERNAL_ERROR, "success": False, "time_in": rfc3339(wall_ns)}
            answer["time_out"] = rfc3339(self._clock.time_ns())
            session.push(_encode(answer).decode(), now_ns)
            events = []
        self._flush(now_ns)
        self._publish_trades(now_ns)
        self._publish_book(now_ns, wall_ns)
        return events

    def _handle(  # noqa: C901 - one step after another, each refusal answered
        self, session: _Session, connection: object, text: str | bytes, now_ns: int, wall_ns: int
    ) -> list[Event]:
        bare = _Call(
            session,
            connection,
            method="",
            req_id=None,
            params=_Params({}),
            now_ns=now_ns,
            wall_ns=wall_ns,
        )
        allowed = session.budget.take(now_ns)  # every frame counts, malformed ones too
        try:
            envelope = _decode_envelope(text)
        except _DECODE_ERRORS:
            self._refuse(bare, INVALID_ARGUMENTS if allowed else API_RATE_LIMIT)
            return []
        name = _method_name(envelope.method)
        bare.method = name or ""
        req_id: int | None = None
        if bytes(envelope.req_id) not in (b"", b"null"):
            try:
                req_id = _decode_int(bytes(envelope.req_id))
            except _DECODE_ERRORS:
                req_id = None
            if req_id is None or not -_INT64 <= req_id <= _INT64:
                self._refuse(bare, _Refusal.invalid("req_id").error)
                return []
        bare.req_id = req_id
        if not allowed:
            self._refuse(bare, API_RATE_LIMIT)
            return []
        method = _METHODS.get(name or "")
        if name is None or method is None:
            self._refuse(bare, UNKNOWN_METHOD)
            return []
        params = _Params({})
        if bytes(envelope.params) not in (b"", b"null"):
            try:
                params = _Params(_decode_params(bytes(envelope.params)))
            except _DECODE_ERRORS:
                self._refuse(bare, _Refusal.invalid("params").error)
                return []
        call = _Call(
            session,
            connection,
            method=name,
            req_id=req_id,
            params=params,
            now_ns=now_ns,
            wall_ns=wall_ns,
        )
        try:
            unknown = sorted(params.names() - method.params)
            if unknown:
                raise _Refusal.invalid(unknown[0][:_MAX_TEXT])
            if method.private:
                call.account = self._authorize(call)
                self._count(call.account, method.op)
            self._handlers[name](call)
        except _Refusal as refusal:
            self._refuse(call, refusal.error, **refusal.extra)
        return call.events

    def _count(self, account: str, op: str) -> None:
        key = (account, op)
        self.requests[key] = self.requests.get(key, 0) + 1

    # -- answers ---------------------------------------------------------------------

    def _reply(self, call: _Call, result: dict[str, Any] | None = None) -> None:
        """A successful answer (the ``result`` omitted when None)."""
        body: dict[str, Any] = {"method": call.method}
        if result is not None:
            body["result"] = result
        body["success"] = True
        self._send_answer(call, body)

    def _refuse(self, call: _Call, error: str, **extra: Any) -> None:
        body: dict[str, Any] = {"error": error}
        if call.method:
            body["method"] = call.method
        body["success"] = False
        body.update(extra)
        self._send_answer(call, body)

    def _send_answer(self, call: _Call, body: dict[str, Any]) -> None:
        if call.req_id is not None:
            body["req_id"] = call.req_id
        body["time_in"] = rfc3339(call.wall_ns)
        body["time_out"] = rfc3339(max(call.wall_ns, self._clock.time_ns()))
        call.session.push(_encode(body).decode(), call.now_ns)

    # -- authentication and rate counters --------------------------------------------

    def _authorize(self, call: _Call) -> str:
        """The account of the request's token (websocket-v2: ``token``; guides/spot-ws-auth)."""
        token = call.params.text("token", required=True, limit=_MAX_TOKEN)
        assert token is not None  # noqa: S101 - required
        record = self._tokens.get(token)
        if record is None:
            raise _Refusal(INVALID_KEY)
        if not record.connections and call.now_ns >= record.expires_ns:
            del self._tokens[token]
            raise _Refusal(INVALID_SESSION)
        record.connections.add(call.connection)
        call.session.tokens.add(token)
        call.session.accounts.add(record.account)
        return record.account

    def _pair(self, symbol: str | None) -> _Pair:
        """The pair of ``symbol`` (the engine's or the v2 one; None: the first).

        Raises:
            KeyError: a pair not served.

        """
        if symbol is None:
            return self._first
        pair = self._pairs.get(symbol) or self._by_symbol.get(symbol)
        if pair is None:
            raise KeyError(symbol)
        return pair

    def rate_count(self, account: str, now_ns: int, symbol: str | None = None) -> float:
        """``account``'s trading rate counter on a pair at ``now_ns`` (monotonic).

        ``symbol``: the pair (the engine's symbol or the v2 one; None: the first). As
        the ``executions`` stream shows it with ``ratecounter`` (two decimals).
        """
        state = self._accounts.get(account)
        rate = state.rates.get(self._pair(symbol).symbol) if state is not None else None
        if rate is None:
            return 0.0
        decay = (now_ns - rate.ns) / _NS * self.limits.rate_decay_per_second
        return round(max(0.0, rate.count - decay), 2)

    def spend_rate_count(
        self, account: str, count: float, now_ns: int, symbol: str | None = None
    ) -> None:
        """Add ``count`` to ``account``'s counter on a pair (another client's transactions).

        ``symbol``: the pair (None: the first).
        """
        pair = self._pair(symbol)
        rate = self._accounts[account].rates.setdefault(pair.symbol, _Rate())
        rate.count = self.rate_count(account, now_ns, pair.symbol) + count
        rate.ns = now_ns

    def _charge(
        self, account: _Account, pair: _Pair, now_ns: int, fixed: int, decaying: int = 0
    ) -> None:
        """Count a transaction on the pair's rate counter, or refuse it at the threshold.

        The fixed count is applied even to a refused transaction (guides/spot-ratelimits).
        """
        limits = self.limits
        rate = account.rates.setdefault(pair.symbol, _Rate())
        rate.count = max(0.0, rate.count - (now_ns - rate.ns) / _NS * limits.rate_decay_per_second)
        rate.ns = now_ns
        over = rate.count >= limits.max_rate_count
        rate.count += fixed
        if over:
            raise _Refusal(ORDER_RATE_LIMIT)
        rate.count += decaying

    # -- methods ---------------------------------------------------------------------

    def _ping(self, call: _Call) -> None:
        body: dict[str, Any] = {"method": "pong"}
        self._send_answer(call, body)

    def _subscribe(self, call: _Call) -> None:
        channel = call.params.text("channel", required=True)
        if channel == "executions":
            self._subscribe_executions(call)
        elif channel == "book":
            self._subscribe_book(call)
        elif channel == "trade":
            self._subscribe_trade(call)
        else:
            raise _Refusal.invalid("channel", "is not emulated")

    def _unsubscribe(self, call: _Call) -> None:
        session = call.session
        channel = call.params.text("channel", required=True)
        if channel == "executions":
            if session.executions is None:
                raise _Refusal("Subscription Not Found")
            session.executions = None
            self._reply(call, {"channel": "executions"})
        elif channel == "book":
            symbols = self._symbols(call) or list(session.books)
            if not symbols or any(symbol not in session.books for symbol in symbols):
                raise _Refusal("Subscription Not Found")
            for symbol in symbols:  # one answer per symbol, as to a subscribe
                depth = session.books.pop(symbol)
                self._forget_view(self._pairs[symbol], depth)
                self._reply(call, {"channel": "book", "depth": depth, "symbol": symbol})
        elif channel == "trade":
            symbols = self._symbols(call) or sorted(session.trades)
            if not symbols or any(symbol not in session.trades for symbol in symbols):
                raise _Refusal("Subscription Not Found")
            for symbol in symbols:
                session.trades.discard(symbol)
                self._reply(call, {"channel": "trade", "symbol": symbol})
        else:
            raise _Refusal.invalid("channel", "is not emulated")

    def _subscribe_executions(self, call: _Call) -> None:
        params, session = call.params, call.session
        call.account = self._authorize(call)
        if session.executions is not None:
            raise _Refusal("Already subscribed")
        snapshot = params.boolean("snapshot")
        snap_orders = params.boolean("snap_orders")
        snap_orders = (
            (snapshot if snapshot is not None else True) if snap_orders is None else snap_orders
        )
        snap_trades = params.boolean("snap_trades")
        if snap_trades is None:
            snap_trades = bool(params.boolean("snapshot_trades"))
        order_status = params.boolean("order_status")
        ratecounter = params.boolean("ratecounter") is True
        if params.raw("users") is not None:
            raise _Refusal.invalid("users", "is not emulated")
        session.executions = _Executions(
            call.account, order_status=order_status is not False, ratecounter=ratecounter
        )
        if snap_orders:
            self._count(call.account, "open_orders")
        if snap_trades:
            self._count(call.account, "fills")
        self._reply(
            call,
            {
                "channel": "executions",
                "maxratecount": self.limits.max_rate_count,
                "snap_orders": snap_orders,
                "snap_trades": snap_trades,
            },
        )
        if not (snap_orders or snap_trades):
            session.executions.sequence = 0
            return
        account = self._accounts[call.account]
        data: list[dict[str, Any]] = []
        if snap_orders:
            data.extend(self._snapshot_record(o, call.wall_ns) for o in account.open.values())
        if snap_trades:
            data.extend(account.trades)
        frame = {"channel": "executions", "type": "snapshot", "data": data, "sequence": 1}
        session.push(_encode(frame).decode(), call.now_ns)

    def _symbols(self, call: _Call) -> list[str] | None:
        symbols = call.params.texts("symbol")
        for symbol in symbols or ():
            if symbol not in self._pairs:
                raise _Refusal(f"Currency pair not supported {symbol[:_MAX_TEXT]}", symbol=symbol)
        return list(dict.fromkeys(symbols)) if symbols is not None else None

    def _subscribe_book(self, call: _Call) -> None:
        params, session = call.params, call.session
        depth = params.integer("depth", 0, max(BOOK_DEPTHS))
        if depth is None:
            depth = BOOK_DEPTHS[0]
        elif depth not in BOOK_DEPTHS:
            raise _Refusal.invalid("depth")
        symbols = self._symbols(call)
        if not symbols:
            raise _Refusal.invalid("symbol", "is required")
        snapshot = params.boolean("snapshot") is not False
        taken = [symbol for symbol in symbols if symbol in session.books]
        if taken:
            raise _Refusal("Already subscribed", symbol=taken[0])
        self._publish_book(call.now_ns, call.wall_ns)  # every view up to date first
        for symbol in symbols:  # an answer, then a snapshot, for each symbol
            pair = self._pairs[symbol]
            session.books[symbol] = depth
            view = pair.books.get(depth)
            if view is None:
                view = pair.books[depth] = self._view(pair, depth)
            self._reply(
                call, {"channel": "book", "depth": depth, "snapshot": snapshot, "symbol": symbol}
            )
            if snapshot:
                bids, asks = sorted(view[0].items(), reverse=True), sorted(view[1].items())
                frame = {
                    "channel": "book",
                    "type": "snapshot",
                    "data": [self._book_data(pair, bids, asks, view, None)],
                }
                session.push(_encode(frame).decode(), call.now_ns)

    def _subscribe_trade(self, call: _Call) -> None:
        session = call.session
        symbols = self._symbols(call)
        if not symbols:
            raise _Refusal.invalid("symbol", "is required")
        snapshot = call.params.boolean("snapshot") is True  # websocket-v2/trade: false
        taken = [symbol for symbol in symbols if symbol in session.trades]
        if taken:
            raise _Refusal("Already subscribed", symbol=taken[0])
        self._publish_trades(call.now_ns)  # what came before is not news to this one
        for symbol in symbols:
            session.trades.add(symbol)
            self._reply(call, {"channel": "trade", "snapshot": snapshot, "symbol": symbol})
            if snapshot:
                trades = list(self._pairs[symbol].last_trades)
                frame = {"channel": "trade", "type": "snapshot", "data": trades}
                session.push(_encode(frame).decode(), call.now_ns)

    def _new_order(self, params: _Params) -> _NewOrder:  # noqa: C901, PLR0912 - the checks, in order
        """The new order in ``params``, or the refusal Kraken would answer."""
        order_type = params.text("order_type", required=True)
        if order_type not in ("limit", "market"):
            raise _Refusal.invalid("order_type", "is not emulated")
        side = params.choice("side", _SIDES, required=True)
        assert side is not None  # noqa: S101 - required
        qty_text = params.number("order_qty", required=True)
        assert qty_text is not None  # noqa: S101 - required
        pair = self._pairs.get(params.text("symbol", required=True) or "")
        if pair is None:
            raise _Refusal(UNKNOWN_PAIR)
        price_text = params.number("limit_price", required=order_type == "limit")
        if order_type == "market" and price_text is not None:
            raise _Refusal.invalid("limit_price")
        tif = params.choice("time_in_force", (*_TIF, "gtd")) or "gtc"
        if tif == "gtd":
            raise _Refusal.invalid("time_in_force", "gtd is not emulated")
        post_only = bool(params.boolean("post_only"))
        if post_only and (order_type != "limit" or tif != "gtc"):
            raise _Refusal.invalid("post_only")
        params.choice("limit_price_type", ("static",))  # "pct" and "quote" are not emulated
        for name, default in _NOT_EMULATED:
            data = params.raw(name)
            if data is not None and data != default:
                raise _Refusal.invalid(name, "is not emulated")
        cl_ord_id = params.text("cl_ord_id", limit=36)
        userref = params.integer("order_userref", -_INT32, _INT32 - 1)
        if cl_ord_id is not None:
            if userref is not None:
                raise _Refusal.invalid("cl_ord_id", "and order_userref are exclusive")
            _check_cl_ord_id(cl_ord_id)
        for name in ("deadline", "stp_type", "fee_preference", "sender_sub_id"):
            params.text(name)  # read (a wrong type is refused), not emulated
        params.boolean("no_mpp")
        filters = self._engine.filters(pair.symbol)
        quantity = self._read_quantity(pair, qty_text, filters)
        if price_text is None:  # market: it may take anything (the engine's protection price)
            price = filters.max_price if side == "buy" else filters.min_price
        else:
            price = self._read_price(pair, price_text, filters)
            if price * quantity < filters.min_notional:
                raise _Refusal(COST_MINIMUM)
        return _NewOrder(
            side=_SIDES[side],
            order_type=order_type,
            tif=tif,
            price=price,
            quantity=quantity,
            post_only=post_only,
            cl_ord_id=cl_ord_id,
            userref=userref,
            pair=pair,
        )

    def _read_price(self, pair: _Pair, text: str, filters: Filters) -> int:
        try:
            price = read_price(pair.instrument, text)
        except ParseError as exc:
            raise _Refusal.invalid("limit_price") from exc
        if isinstance(price, RejectReason):  # a decimal off the tick
            raise _Refusal(TICK_SIZE_FAILED)
        if not filters.min_price <= price <= filters.max_price:
            raise _Refusal(INVALID_PRICE)
        return price

    def _read_quantity(self, pair: _Pair, text: str, filters: Filters) -> int:
        try:
            quantity = read_quantity(pair.instrument, text)
        except ParseError as exc:
            raise _Refusal.invalid("order_qty") from exc
        if isinstance(quantity, RejectReason):  # finer than the pair's lot_decimals
            raise _Refusal.invalid("order_qty")
        if quantity < filters.min_quantity:
            raise _Refusal(ORDER_MINIMUM)
        if quantity > filters.max_quantity:
            raise _Refusal.invalid("order_qty")
        return quantity

    def _add_order(self, call: _Call) -> None:
        account = self._accounts[call.account]
        try:
            pair = self._pairs.get(call.params.text("symbol") or "")
        except _Refusal:  # refused below, in its turn
            pair = None
        if pair is not None:  # on its pair's counter (an unknown pair is refused below)
            self._charge(account, pair, call.now_ns, fixed=1)
        if call.now_ns < self.reject_until_ns:  # fault injection: the venue takes no order
            raise _Refusal(UNAVAILABLE)
        new = self._new_order(call.params)
        if sum(o.pair is new.pair for o in account.open.values()) >= self.limits.max_open_orders:
            raise _Refusal(ORDERS_LIMIT)  # open orders per pair (guides/spot-ratelimits)
        if new.cl_ord_id is not None and new.cl_ord_id in account.by_cl_ord_id:
            raise _Refusal.invalid("cl_ord_id", "is in use by an open order")
        self._ids += 1
        order = _Order(
            _kraken_id("O", self._ids), call.account, f"kraken-{self._ids}", new, call.now_ns
        )
        self._by_internal[order.internal] = order
        market = new.order_type == "market"
        events = self._engine.submit(
            account=call.account,
            client_order_id=order.internal,
            instrument=new.pair.symbol,
            side=new.side,
            quantity=new.quantity,
            price=new.price,
            tif=TimeInForce.IOC if market else _TIF[new.tif],
            post_only=new.post_only,
            market=market,
        )
        call.events.extend(events)
        rejected = next((e for e in events if isinstance(e, EngineRejected)), None)
        if rejected is not None:
            del self._by_internal[order.internal]
            if rejected.reason is not RejectReason.POST_ONLY_WOULD_TAKE:
                raise _Refusal(_refusal_of(rejected.reason))
            # Kraken takes a post-only order that would trade, then cancels it
            self._queue(order, self._pending_record(order, call.wall_ns))
            order.status = "canceled"
            self._queue(order, self._ended_record(order, "canceled", _POST_ONLY, call.wall_ns))
        else:
            self._apply(events, call.wall_ns)
        result: dict[str, Any] = {"order_id": order.kraken_id}
        if order.cl_ord_id is not None:
            result["cl_ord_id"] = order.cl_ord_id
        if order.userref is not None:
            result["order_userref"] = order.userref
        self._reply(call, result)

    def _find(self, call: _Call, order_id: str | None, cl_ord_id: str | None) -> _Order:
        account = self._accounts[call.account]
        order = (
            account.open.get(order_id)
            if order_id is not None
            else account.by_cl_ord_id.get(cl_ord_id or "")
        )
        if order is None:
            raise _Refusal(UNKNOWN_ORDER)
        return order

    def _amend_order(self, call: _Call) -> None:  # noqa: C901, PLR0912, PLR0915 - the checks, in order
        params = call.params
        order_id = params.text("order_id")
        cl_ord_id = params.text("cl_ord_id", limit=36)
        if (order_id is None) == (cl_ord_id is None):
            raise _Refusal.invalid("order_id", "or cl_ord_id, one of them")
        qty_text = params.number("order_qty", required=True)
        assert qty_text is not None  # noqa: S101 - required
        price_text = params.number("limit_price")
        post_only = params.boolean("post_only")
        for name in ("display_qty", "trigger_price", "trigger_price_type"):
            if params.raw(name) is not None:
                raise _Refusal.invalid(name, "is not emulated")
        params.choice("limit_price_type", ("static",))  # "pct" and "quote" are not emulated
        params.text("deadline")
        symbol = params.text("symbol")
        if symbol is not None and symbol not in self._pairs:
            raise _Refusal(UNKNOWN_PAIR)
        order = self._find(call, order_id, cl_ord_id)
        if symbol is not None and symbol != order.pair.names.wsname:
            raise _Refusal(UNKNOWN_ORDER)  # no such order on that pair
        pair = order.pair
        account = self._accounts[call.account]
        self._charge(
            account, pair, call.now_ns, 1, _penalty(_AMEND_PENALTY, call.now_ns - order.since_ns)
        )
        if post_only is not None and post_only != order.post_only:
            raise _Refusal.invalid("post_only", "changes are not emulated")
        filters = self._engine.filters(pair.symbol)
        quantity = self._read_quantity(pair, qty_text, filters)
        price = order.price if price_text is None else self._read_price(pair, price_text, filters)
        if quantity <= order.executed:
            raise _Refusal.invalid("order_qty", "is not above the filled quantity")
        if price == order.price and quantity > order.quantity:
            raise _Refusal.invalid("order_qty", "increases are not emulated")
        if price == order.price and quantity == order.quantity:
            raise _Refusal.invalid("order_qty", "changes nothing")
        order.amending = True
        try:
            events = self._engine.amend(
                account=call.account,
                order_id=order.engine_id,
                remaining=quantity - order.executed,
                price=None if price == order.price else price,
            )
            call.events.extend(events)
            for event in events:
                if isinstance(event, EngineRejected):
                    raise _Refusal(_refusal_of(event.reason))
            order.since_ns = call.now_ns
            order.quantity = quantity
            order.price = price
            self._apply(events, call.wall_ns)
        finally:
            order.amending = False
        self._ids += 1
        result: dict[str, Any] = {
            "amend_id": _kraken_id("T", self._ids),
            "order_id": order.kraken_id,
        }
        if order.cl_ord_id is not None:
            result["cl_ord_id"] = order.cl_ord_id
        self._reply(call, result)

    def _cancel_order(self, call: _Call) -> None:
        params = call.params
        order_ids = params.texts("order_id")
        cl_ord_ids = params.texts("cl_ord_id")
        userrefs = params.integers("order_userref")
        if [order_ids, cl_ord_ids, userrefs].count(None) != 2:  # noqa: PLR2004 - one of three
            raise _Refusal.invalid("order_id", "cl_ord_id or order_userref: one of them")
        account = self._accounts[call.account]
        targets: list[_Order | None]
        if order_ids is not None:
            targets = [account.open.get(i) for i in order_ids]
        elif cl_ord_ids is not None:
            targets = [account.by_cl_ord_id.get(i) for i in cl_ord_ids]
        else:
            wanted = set(userrefs or ())
            targets = [o for o in account.open.values() if o.userref in wanted] or [None]
        seen: set[str] = set()
        for order in targets:
            if order is None or order.kraken_id in seen or order.kraken_id not in account.open:
                self._refuse(call, UNKNOWN_ORDER)
                continue
            seen.add(order.kraken_id)
            try:
                self._charge(
                    account,
                    order.pair,
                    call.now_ns,
                    0,
                    _penalty(_CANCEL_PENALTY, call.now_ns - order.since_ns),
                )
            except _Refusal as refusal:
                self._refuse(call, refusal.error)
                continue
            events = self._engine.cancel(account=call.account, order_id=order.engine_id)
            call.events.extend(events)
            self._apply(events, call.wall_ns)
            result: dict[str, Any] = {"order_id": order.kraken_id}
            if order.cl_ord_id is not None:
                result["cl_ord_id"] = order.cl_ord_id
            self._reply(call, result)

    def _cancel_everything(self, account: str) -> list[Event]:
        """Cancel ``account``'s orders on every pair served (Kraken's are account-wide)."""
        events: list[Event] = []
        for pair in self._pairs.values():
            events.extend(self._engine.cancel_all(account=account, instrument=pair.symbol))
        return events

    def _cancel_all(self, call: _Call) -> None:
        events = self._cancel_everything(call.account)
        call.events.extend(events)
        self._apply(events, call.wall_ns)
        count = sum(1 for e in events if isinstance(e, EngineCanceled))
        self._reply(call, {"count": count})

    def _cancel_after(self, call: _Call) -> None:
        timeout = call.params.integer("timeout", 0, MAX_CANCEL_AFTER_SECONDS - 1, required=True)
        assert timeout is not None  # noqa: S101 - required
        account = self._accounts[call.account]
        current = _rfc3339_seconds(call.wall_ns)
        if timeout:
            account.deadline_ns = call.now_ns + timeout * _NS
            trigger = _rfc3339_seconds(call.wall_ns + timeout * _NS)
        else:
            account.deadline_ns = None
            trigger = "0"
        self._reply(call, {"currentTime": current, "triggerTime": trigger})

    # -- the engine's events -> orders and executions updates ----------------------------

    def _apply(self, events: Iterable[Event], wall_ns: int) -> None:  # noqa: C901, PLR0912 - one branch per event
        for event in events:
            if isinstance(event, EngineAccepted):
                order = self._by_internal.get(event.client_order_id)
                if order is None:
                    continue
                if order.engine_id:  # the amend of a price: the same order, repriced
                    self._by_engine.pop(order.engine_id, None)
                    order.engine_id = event.order_id
                    self._by_engine[event.order_id] = order
                    self._queue(order, self._amended_record(order, wall_ns))
                    continue
                order.engine_id = event.order_id
                self._by_engine[event.order_id] = order
                account = self._accounts[order.account]
                account.open[order.kraken_id] = order
                if order.cl_ord_id is not None:
                    account.by_cl_ord_id[order.cl_ord_id] = order
                self._queue(order, self._pending_record(order, wall_ns))
                order.status = "new"
                self._queue(order, self._new_record(order, wall_ns))
            elif isinstance(event, EngineFilled):
                order = self._by_engine.get(event.order_id)
                pair = self._by_symbol.get(event.instrument)
                if pair is None:
                    continue  # a symbol this front-end does not serve
                if event.liquidity is Liquidity.MAKER:  # each trade: the maker's, then the taker's
                    pair.trade_id += 1
                    self._public_trade(pair, event, wall_ns)
                elif order is not None and order.order_type == "market" and pair.trades_out:
                    pair.trades_out[-1]["ord_type"] = "market"  # the trade's taker
                if order is not None:
                    self._filled(order, event, wall_ns)
            elif isinstance(event, EngineCanceled):
                order = self._by_engine.get(event.order_id)
                reason = self._cancel_reasons.pop(event.order_id, None)
                if order is None or event.reason == "replaced":
                    continue
                if event.status is CancelStatus.CANCELED:
                    status, reason = "canceled", reason or _USER_REQUESTED
                else:
                    status, reason = "expired", _EXPIRY_REASONS.get(event.reason, event.reason)
                order.status = status
                self._close(order)
                self._queue(order, self._ended_record(order, status, reason, wall_ns))
            elif isinstance(event, EngineAmended):
                order = self._by_engine.get(event.order_id)
                if order is not None:
                    order.quantity = order.executed + event.remaining
                    self._queue(order, self._amended_record(order, wall_ns))

    def _public_trade(self, pair: _Pair, maker: EngineFilled, wall_ns: int) -> None:
        """A trade for the ``trade`` channel (websocket-v2/trade), from its maker's side."""
        wire = pair.wire
        trade = {
            "symbol": pair.names.wsname,
            "side": "sell" if maker.side is Side.BUY else "buy",  # the taker's
            "price": _number(wire.price(maker.price)),
            "qty": _number(wire.qty(maker.quantity)),
            "ord_type": "limit",
            "trade_id": pair.trade_id,
            "timestamp": rfc3339(wall_ns),
        }
        pair.trades_out.append(trade)
        pair.last_trades.append(trade)

    def _filled(self, order: _Order, fill: EngineFilled, wall_ns: int) -> None:
        order.executed += fill.quantity
        order.quote += fill.price * fill.quantity
        order.fees_e4 += fill.fee_e4
        order.status = "partially_filled" if fill.remaining else "filled"
        self._ids += 1
        pair = order.pair
        wire = pair.wire
        fee = wire.fee(fill.fee_e4)
        record: dict[str, Any] = {
            "order_id": order.kraken_id,
            "order_userref": order.userref or 0,
            "exec_id": _kraken_id("T", self._ids),
            "exec_type": "trade",
            "trade_id": pair.trade_id,
            "symbol": pair.names.wsname,
            "side": order.side.value,
            "last_qty": _number(wire.qty(fill.quantity)),
            "last_price": _number(wire.price(fill.price)),
            "liquidity_ind": "m" if fill.liquidity is Liquidity.MAKER else "t",
            "cost": _number(wire.cost(fill.price * fill.quantity)),
            "order_status": order.status,
            "order_type": order.order_type,
            "cum_qty": _number(wire.qty(order.executed)),
            "cum_cost": _number(wire.cost(order.quote)),
            "avg_price": _number(wire.average(order.quote, order.executed)),
            "timestamp": rfc3339(wall_ns),
            "fee_usd_equiv": _number(fee),
            "fees": [{"asset": pair.names.quote, "qty": _number(fee)}],
        }
        if order.cl_ord_id is not None:
            record["cl_ord_id"] = order.cl_ord_id
        self._accounts[order.account].trades.append(record)
        self._queue(order, record)
        if not fill.remaining:
            self._close(order)
            self._queue(order, self._ended_record(order, "filled", None, wall_ns))

    def _close(self, order: _Order) -> None:
        account = self._accounts[order.account]
        account.open.pop(order.kraken_id, None)
        if order.cl_ord_id is not None and account.by_cl_ord_id.get(order.cl_ord_id) is order:
            del account.by_cl_ord_id[order.cl_ord_id]
        self._by_engine.pop(order.engine_id, None)
        self._by_internal.pop(order.internal, None)

    # -- executions records (websocket-v2/executions) -----------------------------------

    def _ids_of(self, order: _Order, record: dict[str, Any]) -> dict[str, Any]:
        record["order_userref"] = order.userref or 0
        if order.cl_ord_id is not None:
            record["cl_ord_id"] = order.cl_ord_id
        if order.post_only:
            record["post_only"] = True
        record["order_id"] = order.kraken_id
        return record

    def _details(self, order: _Order, exec_type: str, wall_ns: int) -> dict[str, Any]:
        """Every field of an order, as a ``pending_new`` or snapshot record shows it."""
        wire = order.pair.wire
        record: dict[str, Any] = {
            "symbol": order.pair.names.wsname,
            "order_qty": _number(wire.qty(order.quantity)),
            "cum_qty": _number(wire.qty(order.executed)),
            "cum_cost": _number(wire.cost(order.quote)),
            "avg_price": _number(wire.average(order.quote, order.executed)),
            "time_in_force": order.tif,
            "exec_type": exec_type,
            "side": order.side.value,
            "order_type": order.order_type,
            "limit_price_type": "static",
            "limit_price": _number(wire.price(order.price if order.order_type == "limit" else 0)),
            "stop_price": _number(wire.price(0)),
            "order_status": order.status,
            "fee_usd_equiv": _number(wire.fee(order.fees_e4)),
            "fee_ccy_pref": "fciq",
            "timestamp": rfc3339(wall_ns),
        }
        return self._ids_of(order, record)

    def _pending_record(self, order: _Order, wall_ns: int) -> dict[str, Any]:
        return self._details(order, "pending_new", wall_ns)

    def _snapshot_record(self, order: _Order, wall_ns: int) -> dict[str, Any]:
        return self._details(order, "new", wall_ns)

    def _new_record(self, order: _Order, wall_ns: int) -> dict[str, Any]:
        record = {"timestamp": rfc3339(wall_ns), "order_status": "new", "exec_type": "new"}
        return self._ids_of(order, record)

    def _amended_record(self, order: _Order, wall_ns: int) -> dict[str, Any]:
        wire = order.pair.wire
        record: dict[str, Any] = {
            "timestamp": rfc3339(wall_ns),
            "order_status": order.status,
            "exec_type": "amended",
            "amended": True,
            "reason": _USER_REQUESTED,
            "order_qty": _number(wire.qty(order.quantity)),
            "limit_price": _number(wire.price(order.price)),
            "cum_qty": _number(wire.qty(order.executed)),
        }
        return self._ids_of(order, record)

    def _ended_record(
        self, order: _Order, status: str, reason: str | None, wall_ns: int
    ) -> dict[str, Any]:
        """``filled``, ``canceled`` or ``expired``: the order's totals, and why."""
        wire = order.pair.wire
        record: dict[str, Any] = {
            "timestamp": rfc3339(wall_ns),
            "order_status": status,
            "exec_type": status,
            "cum_qty": _number(wire.qty(order.executed)),
            "cum_cost": _number(wire.cost(order.quote)),
            "fee_usd_equiv": _number(wire.fee(order.fees_e4)),
            "avg_price": _number(wire.average(order.quote, order.executed)),
        }
        if reason is not None:
            record["cancel_reason"] = reason
            record["reason"] = reason
        return self._ids_of(order, record)

    def _queue(self, order: _Order, record: dict[str, Any]) -> None:
        self._outgoing.append((order.account, order.pair, record))

    def _flush(self, now_ns: int) -> None:
        """Push the queued executions updates, one message each, after the answers."""
        outgoing, self._outgoing = self._outgoing, []
        for account, pair, record in outgoing:
            lost = account in self.muted  # fault: sent, lost on the way (its number shows it)
            plain = "" if lost else _encode(record).decode()
            counted = ""  # with the account's rate counter on the order's pair, when wanted
            for session in self._sessions.values():
                subscription = session.executions
                if subscription is None or subscription.account != account:
                    continue
                if not subscription.order_status and record["exec_type"] == "pending_new":
                    continue
                subscription.sequence += 1
                if lost:
                    continue
                body = plain
                if subscription.ratecounter:
                    if not counted:
                        count = self.rate_count(account, now_ns, pair.symbol)
                        counted = _encode({**record, "ratecount": count}).decode()
                    body = counted
                session.push(
                    '{"channel":"executions","type":"update","data":['
                    f'{body}],"sequence":{subscription.sequence}}}',
                    now_ns,
                )

    # -- the book channel (websocket-v2/book) --------------------------------------------

    def _view(self, pair: _Pair, depth: int) -> tuple[dict[int, int], dict[int, int]]:
        """The engine's top ``depth`` levels of each side of ``pair`` now: (bids, asks)."""
        engine, symbol = self._engine, pair.symbol
        return (
            dict(engine.depth(symbol, Side.BUY, depth)),
            dict(engine.depth(symbol, Side.SELL, depth)),
        )

    def _book_data(
        self,
        pair: _Pair,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        view: tuple[dict[int, int], dict[int, int]],
        wall_ns: int | None,
    ) -> dict[str, Any]:
        """One ``book`` data entry: ``bids`` and ``asks`` sent, ``view`` checksummed."""
        wire = pair.wire

        def levels(side: list[tuple[int, int]]) -> list[dict[str, Any]]:
            return [{"price": _number(wire.price(p)), "qty": _number(wire.qty(q))} for p, q in side]

        best_bids = sorted(view[0].items(), reverse=True)[:_CHECKSUM_LEVELS]
        best_asks = sorted(view[1].items())[:_CHECKSUM_LEVELS]
        checksum = book_checksum(
            [(wire.price(p), wire.qty(q)) for p, q in best_asks],
            [(wire.price(p), wire.qty(q)) for p, q in best_bids],
        )
        data: dict[str, Any] = {
            "symbol": pair.names.wsname,
            "bids": levels(bids),
            "asks": levels(asks),
            "checksum": checksum,
        }
        if wall_ns is not None:
            data["timestamp"] = rfc3339(wall_ns)
        return data

    def _publish_trades(self, now_ns: int) -> None:
        """Send the ``trade`` subscribers the trades since the last call, one update a pair."""
        for pair in self._pairs.values():
            if not pair.trades_out:
                continue
            update = {"channel": "trade", "type": "update", "data": pair.trades_out}
            frame = _encode(update).decode()
            pair.trades_out = []
            wsname = pair.names.wsname
            for session in self._sessions.values():
                if wsname in session.trades:
                    session.push(frame, now_ns)

    def _publish_book(self, now_ns: int, wall_ns: int) -> None:
        """Send each pair's subscribers what changed in their top levels (`_publish_pair`).

        A level that left the top ``depth`` is sent with quantity 0 (whether it left the
        book or was pushed below): after applying and truncating to its depth, a
        subscriber holds exactly the venue's top levels, which the checksum covers.
        """
        for pair in self._pairs.values():
            if pair.books:
                self._publish_pair(pair, now_ns, wall_ns)

    def _publish_pair(self, pair: _Pair, now_ns: int, wall_ns: int) -> None:
        """Send each depth's subscribers of ``pair`` what changed in its top levels."""
        wsname = pair.names.wsname
        for depth, (old_bids, old_asks) in list(pair.books.items()):
            new_bids, new_asks = self._view(pair, depth)
            bids, asks = _changes(old_bids, new_bids), _changes(old_asks, new_asks)
            if not (bids or asks):
                continue
            pair.books[depth] = (new_bids, new_asks)
            data = self._book_data(
                pair, sorted(bids, reverse=True), sorted(asks), (new_bids, new_asks), wall_ns
            )
            frame = _encode({"channel": "book", "type": "update", "data": [data]}).decode()
            if self.drop_book_updates:  # fault: the subscribers' books miss this update
                self.drop_book_updates -= 1
                continue
            if self.corrupt_book_updates:  # fault: not JSON
                self.corrupt_book_updates -= 1
                frame = frame[: len(frame) // 2]
            for session in self._sessions.values():
                if session.books.get(wsname) == depth:
                    session.push(frame, now_ns)


def _changes(before: dict[int, int], after: dict[int, int]) -> list[tuple[int, int]]:
    changed = [(p, q) for p, q in after.items() if before.get(p) != q]
    changed.extend((p, 0) for p in before if p not in after)
    return changed


def _refusal_of(reason: RejectReason) -> str:
    """The engine's refusal of an order that passed this front-end's own checks."""
    if reason is RejectReason.MIN_NOTIONAL:
        return COST_MINIMUM
    if reason is RejectReason.LOT_SIZE:
        return ORDER_MINIMUM
    if reason is RejectReason.PRICE_FILTER:
        return INVALID_PRICE
    if reason in (RejectReason.UNKNOWN_ORDER, RejectReason.NOT_YOUR_ORDER):
        return UNKNOWN_ORDER
    if reason is RejectReason.POST_ONLY_WOULD_TAKE:
        return f"{INVALID_ARGUMENTS}:post_only order would trade"
    return INVALID_ORDER  # MAX_LEVEL_SIZE and anything new


def _body_nonce(text: str) -> str:
    """The ``nonce`` of a REST body (form-encoded, or a JSON object); "" if it has none.

    Raises:
        ValueError: a body that is neither, or has more than one nonce.

    """
    if text.lstrip().startswith("{"):
        try:
            fields = _decode_params(text)
        except _DECODE_ERRORS as exc:
            raise ValueError("not a JSON object") from exc
        raw = fields.get("nonce")
        if raw is None:
            return ""
        data = bytes(raw)
        try:
            return _decode_str(data) if data[:1] == b'"' else data.decode()
        except _DECODE_ERRORS as exc:
            raise ValueError("bad nonce") from exc
    form = urllib.parse.parse_qs(text, keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
    nonces = form.get("nonce", [""])
    if len(nonces) != 1:
        raise ValueError("more than one nonce")
    return nonces[0]
