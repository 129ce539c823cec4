"""The simulated exchange speaking Binance spot: the WebSocket API and the user data stream.

`BinanceApi` is a front-end over the same `MatchingEngine` as the simulator's own
protocol (`tradeactors.exchange.orderentry`), read from Binance's documentation
(binance-spot-api-docs: web-socket-api.md, user-data-stream.md, errors.md, filters.md,
enums.md, faqs/order_amend_keep_priority.md) and from nothing else: it shares no code
with the Binance client in ``tradeactors.venues``, so the two are two readings of the
documents, not one reading copied twice.

It is transport-free like `OrderEntry`: the server feeds it each text frame with the
connection it came from, under the exchange's lock, and it answers through the send
function it was given for that connection (a bounded queue: nothing blocks here).

What a client with an HMAC key can do (web-socket-api.md):

- requests ``{"id", "method", "params"}`` answered ``{"id", "status", "result" |
  "error", "rateLimits"}``; ``returnRateLimits`` (per request, or ``?returnRateLimits=
  false`` on the connection) hides ``rateLimits``;
- ``ping``, ``time``, ``exchangeInfo``, ``session.status``;
- SIGNED requests: ``apiKey``, ``timestamp`` (milliseconds or microseconds),
  ``recvWindow`` (default 5000, at most 60000, three decimals) and ``signature``, the
  hex HMAC-SHA256 of every other parameter sorted by name as ``name=value`` joined by
  ``&`` (`signature_payload`), compared without regard to case;
- ``order.place`` (LIMIT GTC/IOC/FOK, LIMIT_MAKER, MARKET by ``quantity``;
  ``newClientOrderId``; ``newOrderRespType`` ACK/RESULT/FULL), ``order.cancel``
  (``orderId`` and/or ``origClientOrderId``; ``newClientOrderId``;
  ``cancelRestrictions``), ``openOrders.cancelAll``, ``order.cancelReplace``
  (STOP_ON_FAILURE/ALLOW_FAILURE, ``orderRateLimitExceededMode``),
  ``order.amend.keepPriority`` (``newQty`` below the order's quantity),
  ``openOrders.status``, ``myTrades`` (``orderId``, ``fromId``, ``startTime``,
  ``endTime``, ``limit``);
- the user data stream on the same connection: ``userDataStream.subscribe.signature``
  (one subscription per account and connection), ``userDataStream.unsubscribe``,
  ``session.subscriptions``; events ``{"subscriptionId", "event"}`` carrying
  ``executionReport`` (NEW, TRADE, CANCELED, EXPIRED with ``eR``, TRADE_PREVENTION,
  REPLACED) and ``eventStreamTerminated``;
- an account keyed with an Ed25519 public key (PEM) signs with base64 Ed25519
  signatures of the same payload, and may use "Session Authentication":
  ``session.logon`` (its signature checked: ``-1022``; an HMAC key ``-1020``), after
  which SIGNED requests without ``apiKey`` and ``signature`` are the session's (their
  ``timestamp`` still checked), ``userDataStream.subscribe``, ``session.status``
  showing the key, ``session.logout``.

Rate limits (`RateLimits`) as documented: request weight per IP and minute, unfilled
order count per account per 10 seconds and per day (intervals aligned to the wall
clock), both ``429``; a peer that keeps sending after 429s is banned (``418``) for
``ban_seconds``. Successful trading requests weigh nothing (the 2026-04-02 change).

Not emulated, and answered as Binance answers a feature its symbol does not enable
(``-2010 ... are not supported for this symbol.``) or an unknown method (``-1020``):
stop, take-profit, iceberg, trailing, pegged and quote-quantity orders, order lists,
SOR, ``session.logon`` (Ed25519 keys only) and ``userDataStream.subscribe`` after it,
balances (no ``outboundAccountPosition``, no insufficient-balance rejects), and other
self-trade prevention modes than the engine's EXPIRE_MAKER. Binance spot has no
cancel-on-disconnect and no dead-man's switch, so neither has this front-end: a
connection that drops leaves its orders working.

Never raises for a bad request and never ends a session: malformed JSON, frames nested
too deep, wrong types, 60-digit numbers, ``1e300``, unknown methods and parameters are
answered with Binance's error codes. Secrets never leave it and never reach logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import urllib.parse
from bisect import bisect_left
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tradeactors.core.instrument import Instrument, ParseError, decimal_places, parse_units
from tradeactors.core.units import base_quote
from tradeactors.errors import ConfigError
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
    "DEFAULT_RECV_WINDOW_MS",
    "MAX_RECV_WINDOW_MS",
    "BinanceApi",
    "RateLimits",
    "exchange_info",
    "rest_exchange_info",
    "sign",
    "signature_payload",
    "split_symbol",
]

Send = Callable[[str], bool]
"""Queue one frame for a connection; False if the connection is gone or was dropped."""

DEFAULT_RECV_WINDOW_MS = 5_000
"""``recvWindow`` when a SIGNED request sends none (web-socket-api.md, Timing security)."""
MAX_RECV_WINDOW_MS = 60_000
"""The largest ``recvWindow`` accepted."""
_AHEAD_US = 1_000_000  # a timestamp this far ahead of the server's clock is refused
_MICROSECONDS = 10**14  # a timestamp at least this large is in microseconds, not milliseconds
_MAX_VALUE_CHARS = 128  # longer parameter values are malformed
_MAX_SUBSCRIPTION_ID = 65_535  # subscriptions one connection may start in its lifetime
_MAX_TRADES = 1_000  # myTrades' largest limit
_DAY_MS = 86_400_000
_ZERO = "0.00000000"
_WIRE_PLACES = 8  # Binance writes prices, quantities and amounts with 8 decimals
_TOO_MANY = 429  # the status of a rate limit reached
_MIN_STRATEGY_TYPE = 1_000_000  # smaller strategyType values are Binance's own
_MAX_SYMBOLS = 100  # in exchangeInfo's symbols
_STP = "EXPIRE_MAKER"  # the engine's self-trade prevention (matching.py)


class RateLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The venue's limits (web-socket-api.md, Rate limits), published by ``exchangeInfo``.

    ``request_weight_per_minute`` per IP, ``orders_per_10_seconds`` and ``orders_per_day``
    per account. A peer answered 429 that sends more than ``ban_after`` further requests
    before the ``retryAfter`` it was given is banned for ``ban_seconds`` (Binance: "from
    2 minutes to 3 days"); a request arriving after ``retryAfter`` forgives the past.
    """

    request_weight_per_minute: int = 6_000
    orders_per_10_seconds: int = 50
    orders_per_day: int = 160_000
    ban_after: int = 10
    ban_seconds: int = 120

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"rate limit {name} must be at least 1, not {getattr(self, name)}"
                )


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base asset, quote asset) of ``symbol``: ``"ETHUSDT"`` -> ``("ETH", "USDT")``.

    The project's one reading of a symbol (`tradeactors.core.units.base_quote`); a
    symbol that ends in no quote asset it knows is all base, no quote.
    """
    base, quote = base_quote(symbol)
    return (base, "") if quote == "quote" else (base, quote)


def signature_payload(params: Mapping[str, str]) -> str:
    """What a SIGNED request signs: every parameter but ``signature``, sorted by name.

    ``name=value`` pairs joined by ``&``, values as sent (not percent-encoded), as in
    web-socket-api.md's "SIGNED request example (HMAC)".
    """
    return "&".join(f"{name}={params[name]}" for name in sorted(params) if name != "signature")


_PEM_PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----"


def _ed25519_public_key(api_key: str, pem: str) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ConfigError(f"API key {api_key[:16]!r}: not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"API key {api_key[:16]!r}: not an Ed25519 public key")
    return key


def _verify_ed25519(key: Ed25519PublicKey, payload: str, signature: str) -> None:
    """Refuse (``-1022``) unless ``signature`` is the base64 Ed25519 signature of ``payload``."""
    try:
        key.verify(base64.b64decode(signature, validate=True), payload.encode())
    except (InvalidSignature, ValueError):  # binascii.Error is a ValueError
        raise _Refusal(400, -1022, "Signature for this request is not valid.") from None


def sign(secret: str, params: Mapping[str, str]) -> str:
    """The hex HMAC-SHA256 signature of ``params`` (`signature_payload`) under ``secret``."""
    payload = signature_payload(params).encode()
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


# -- the wire's decimals ------------------------------------------------------------


class _Wire:
    """Ticks, lots and their products as Binance writes them: at least 8 decimals.

    Exact: a value that needs more decimals (a fine tick times a fine lot) keeps them.
    """

    def __init__(self, instrument: Instrument) -> None:
        self._price_places = decimal_places(instrument.tick_size)
        self._tick = parse_units(instrument.tick_size, self._price_places)
        self._size_places = decimal_places(instrument.lot_size)
        self._lot = parse_units(instrument.lot_size, self._size_places)

    def price(self, ticks: int) -> str:
        return _decimal(ticks * self._tick, self._price_places)

    def qty(self, lots: int) -> str:
        return _decimal(lots * self._lot, self._size_places)

    def quote(self, ticks_lots: int) -> str:
        """A price times a quantity (in ticks x lots) in the quote asset."""
        return _decimal(ticks_lots * self._tick * self._lot, self._price_places + self._size_places)

    def fee(self, fee_e4: int) -> str:
        """A fee in the engine's units (tick x lot / 10,000) in the quote asset."""
        return _decimal(fee_e4 * self._tick * self._lot, self._price_places + self._size_places + 4)


def _decimal(units: int, places: int) -> str:
    """``units`` of ``10**-places`` as a decimal with at least 8 places, exactly."""
    digits = str(units).rjust(places + 1, "0")
    whole, fraction = (digits[:-places], digits[-places:]) if places else (digits, "")
    fraction = fraction.ljust(_WIRE_PLACES, "0")
    if len(fraction) > _WIRE_PLACES:
        fraction = fraction[:_WIRE_PLACES] + fraction[_WIRE_PLACES:].rstrip("0")
    return f"{whole}.{fraction}"


# -- exchangeInfo ---------------------------------------------------------------------


def exchange_info(
    instrument: Instrument | Sequence[Instrument],
    filters: Filters | Callable[[str], Filters],
    *,
    server_time_ms: int,
    limits: RateLimits,
) -> dict[str, Any]:
    """The ``exchangeInfo`` document for the venue's instruments (filters.md).

    ``instrument``: one, or several in the order listed; ``filters``: the one
    instrument's, or the filters by symbol (``MatchingEngine.filters``). PRICE_FILTER,
    LOT_SIZE and NOTIONAL (``maxNotional`` is what the largest price and quantity
    make: the engine has no notional ceiling of its own).
    """
    instruments = (instrument,) if isinstance(instrument, Instrument) else tuple(instrument)
    filters_of = filters if callable(filters) else (lambda _symbol: filters)
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": [
            _limit("REQUEST_WEIGHT", "MINUTE", 1, limits.request_weight_per_minute),
            _limit("ORDERS", "SECOND", 10, limits.orders_per_10_seconds),
            _limit("ORDERS", "DAY", 1, limits.orders_per_day),
        ],
        "exchangeFilters": [],
        "symbols": [_symbol_info(i, filters_of(i.symbol)) for i in instruments],
    }


def _symbol_info(instrument: Instrument, filters: Filters) -> dict[str, Any]:
    """One symbol of ``exchangeInfo``."""
    wire = _Wire(instrument)
    base, quote = split_symbol(instrument.symbol)
    symbol_filters = [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": wire.price(filters.min_price),
            "maxPrice": wire.price(filters.max_price),
            "tickSize": wire.price(1),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": wire.qty(filters.min_quantity),
            "maxQty": wire.qty(filters.max_quantity),
            "stepSize": wire.qty(1),
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": wire.quote(filters.min_notional),
            "applyMinToMarket": False,
            "maxNotional": wire.quote(filters.max_price * filters.max_quantity),
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
    ]
    return {
        "symbol": instrument.symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": _WIRE_PLACES,
        "quoteAsset": quote,
        "quotePrecision": _WIRE_PLACES,
        "quoteAssetPrecision": _WIRE_PLACES,
        "baseCommissionPrecision": _WIRE_PLACES,
        "quoteCommissionPrecision": _WIRE_PLACES,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": symbol_filters,
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": _STP,
        "allowedSelfTradePreventionModes": [_STP],
    }


def rest_exchange_info(
    query: str,
    instrument: Instrument | Sequence[Instrument],
    filters: Filters | Callable[[str], Filters],
    *,
    server_time_ms: int,
    limits: RateLimits,
) -> tuple[int, str]:
    """``GET /api/v3/exchangeInfo?{query}``: (HTTP status, JSON body).

    ``symbol=X`` or ``symbols=["X",...]`` must name the venue's instruments
    (``-1121 Invalid symbol.``), and only those are listed; no parameter lists all.
    """
    instruments = (instrument,) if isinstance(instrument, Instrument) else tuple(instrument)
    params = urllib.parse.parse_qs(query)
    wanted: list[str] = []
    if "symbol" in params:
        wanted = params["symbol"][:1]
    elif "symbols" in params:
        try:
            wanted = _decode_symbols(params["symbols"][0])
        except (msgspec.DecodeError, RecursionError):
            return 400, _rest_error(-1100, "Illegal characters found in parameter 'symbols'.")
    served = {i.symbol for i in instruments}
    if any(symbol not in served for symbol in wanted):
        return 400, _rest_error(-1121, "Invalid symbol.")
    listed = [i for i in instruments if not wanted or i.symbol in wanted]
    document = exchange_info(listed, filters, server_time_ms=server_time_ms, limits=limits)
    return 200, _encode(document).decode()


def _rest_error(code: int, msg: str) -> str:
    return _encode({"code": code, "msg": msg}).decode()


def _limit(kind: str, interval: str, number: int, limit: int) -> dict[str, Any]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": number, "limit": limit}


# -- requests and their refusals -------------------------------------------------------

_encode = msgspec.json.Encoder().encode


class _Envelope(msgspec.Struct, frozen=True):
    """A request as framed, each part still raw: checked one by one below."""

    id: msgspec.Raw = msgspec.Raw(b"")
    method: msgspec.Raw = msgspec.Raw(b"")
    params: msgspec.Raw = msgspec.Raw(b"{}")


class _IdOnly(msgspec.Struct, frozen=True):
    id: msgspec.Raw = msgspec.Raw(b"")


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_decode_id_only = msgspec.json.Decoder(_IdOnly).decode
_decode_params = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_id = msgspec.json.Decoder(int | str | None).decode
_decode_str = msgspec.json.Decoder(str).decode
_decode_symbols = msgspec.json.Decoder(list[str]).decode

RequestId = int | str | None
_INT64 = 2**63 - 1
_MAX_ID_CHARS = 64


def _request_id(raw: msgspec.Raw) -> RequestId:
    """The request's ``id`` (INT / STRING / null), or raise `_Refusal` if it has none."""
    if not bytes(raw):
        raise _Refusal.missing("id")
    try:
        value: RequestId = _decode_id(raw)
    except msgspec.DecodeError as exc:
        raise _Refusal.missing("id") from exc
    if isinstance(value, bool) or (isinstance(value, int) and abs(value) > _INT64):
        raise _Refusal.missing("id")
    if isinstance(value, str) and len(value) > _MAX_ID_CHARS:
        raise _Refusal.missing("id")
    return value


def _id_of(text: str | bytes) -> RequestId:
    """The id of a request that did not decode, if it has a valid one."""
    try:
        return _request_id(_decode_id_only(text).id)
    except (msgspec.DecodeError, RecursionError, _Refusal):
        return None


class _Refusal(Exception):  # noqa: N818 - not an error of this package: an answer to a client
    """A request answered with an error: status, Binance's code and message, data."""

    def __init__(
        self, status: int, code: int, msg: str, data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.data = data

    @classmethod
    def missing(cls, name: str) -> _Refusal:
        return cls(
            400,
            -1102,
            f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
        )

    @classmethod
    def illegal(cls, name: str, legal: str) -> _Refusal:
        return cls(
            400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
        )

    @classmethod
    def invalid(cls, name: str) -> _Refusal:
        return cls(400, -1130, f"Data sent for parameter '{name}' is not valid.")

    @classmethod
    def not_required(cls, name: str) -> _Refusal:
        return cls(400, -1106, f"Parameter '{name}' sent when not required.")

    @classmethod
    def rejected(cls, msg: str) -> _Refusal:
        """The matching engine refused a new order (errors.md: -2010 NEW_ORDER_REJECTED)."""
        return cls(400, -2010, msg)

    @classmethod
    def unknown_order(cls) -> _Refusal:
        return cls(400, -2011, "Unknown order sent.")

    @classmethod
    def of(cls, reason: RejectReason) -> _Refusal:
        """The engine's refusal, as Binance words it (errors.md)."""
        if reason is RejectReason.MIN_NOTIONAL:  # the filter exchangeInfo publishes
            return cls(400, -1013, "Filter failure: NOTIONAL")
        return cls(400, reason.code, reason.message)

    def error(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            body["data"] = self.data
        return body


_LONG_RANGE = "^[0-9]{1,19}$"
_DECIMAL_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
_CLIENT_ID_RANGE = "^[\\.A-Z\\:/a-z0-9_-]{1,36}$"
_LONG = re.compile(r"[0-9]{1,19}")
_DECIMAL = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,20})?")
_DIGITS = re.compile(r"[0-9]+(?:\.[0-9]*)?")
_CLIENT_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
_API_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RECV_WINDOW = re.compile(r"[0-9]{1,5}(?:\.[0-9]{1,3})?")


class _Params:
    """A request's parameters, read on demand with Binance's refusals."""

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, msgspec.Raw]) -> None:
        self._raw = raw

    def names(self) -> set[str]:
        return set(self._raw)

    def raw(self, name: str) -> bytes | None:
        """The value's JSON text, as sent."""
        raw = self._raw.get(name)
        return None if raw is None else bytes(raw)

    def texts(self) -> dict[str, str]:
        """Every parameter as text (what a signature covers); null ones left out."""
        out: dict[str, str] = {}
        for name in self._raw:
            value = self.text(name)
            if value is not None:
                out[name] = value
        return out

    def text(self, name: str, *, required: bool = False) -> str | None:
        """The value as sent (a JSON string decoded, any other scalar as written)."""
        raw = self._raw.get(name)
        data = b"null" if raw is None else bytes(raw)
        if data == b"null":
            if required:
                raise _Refusal.missing(name)
            return None
        if data[:1] in (b"{", b"["):
            raise _Refusal.missing(name)  # malformed: not a scalar
        try:
            value = _decode_str(data) if data[:1] == b'"' else data.decode()
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # (the frame decoded: unlikely)
            raise _Refusal.missing(name) from exc
        if not value:
            if required:
                raise _Refusal.missing(name)
            raise _Refusal(400, -1105, f"Parameter '{name}' was empty.")
        if len(value) > _MAX_VALUE_CHARS:
            raise _Refusal.illegal(name, "^.{1,128}$")
        return value

    def long(self, name: str, *, required: bool = False) -> int | None:
        """A LONG: a JSON number or a string of digits, within a signed 64-bit integer."""
        text = self.text(name, required=required)
        if text is None:
            return None
        if not _LONG.fullmatch(text):
            if _DIGITS.fullmatch(text):
                raise _Refusal(400, -1108, f"Parameter '{name}' overflowed.")
            raise _Refusal.illegal(name, _LONG_RANGE)
        value = int(text)
        if value > _INT64:
            raise _Refusal(400, -1108, f"Parameter '{name}' overflowed.")
        return value

    def decimal(self, name: str, *, required: bool = False) -> str | None:
        """A DECIMAL, as its text: up to 20 digits either side of the point."""
        text = self.text(name, required=required)
        if text is None:
            return None
        if not _DECIMAL.fullmatch(text):
            if _DIGITS.fullmatch(text):
                raise _Refusal(400, -1108, f"Parameter '{name}' overflowed.")
            raise _Refusal.illegal(name, _DECIMAL_RANGE)
        return text

    def choice(self, name: str, allowed: Iterable[str], refusal: _Refusal) -> str | None:
        text = self.text(name)
        if text is not None and text not in allowed:
            raise refusal
        return text

    def boolean(self, name: str) -> bool | None:
        text = self.text(name)
        if text is None:
            return None
        if text not in ("true", "false"):
            raise _Refusal.invalid(name)
        return text == "true"

    def recv_window_us(self) -> int:
        """``recvWindow`` in microseconds (milliseconds with up to three decimals)."""
        text = self.text("recvWindow")
        if text is None:
            return DEFAULT_RECV_WINDOW_MS * 1_000
        if not _RECV_WINDOW.fullmatch(text):
            if _DIGITS.fullmatch(text):
                raise _too_long_window()
            raise _Refusal.illegal("recvWindow", "^[0-9]{1,5}(\\.[0-9]{1,3})?$")
        micros = parse_units(text, 3)
        if micros > MAX_RECV_WINDOW_MS * 1_000:
            raise _too_long_window()
        return micros


def _too_long_window() -> _Refusal:
    return _Refusal(
        400,
        -1102,
        f"'recvWindow' contains unexpected value. Cannot be greater than {MAX_RECV_WINDOW_MS}.",
    )


# -- methods -----------------------------------------------------------------------------

_SIGNED = frozenset({"apiKey", "signature", "timestamp", "recvWindow"})
_COMMON = frozenset({"returnRateLimits"})
_NEW_ORDER = frozenset(
    {
        "symbol", "side", "type", "timeInForce", "price", "quantity", "quoteOrderQty",
        "newClientOrderId", "newOrderRespType", "stopPrice", "trailingDelta", "icebergQty",
        "strategyId", "strategyType", "selfTradePreventionMode", "pegPriceType",
        "pegOffsetValue", "pegOffsetType",
    }
)  # fmt: skip


class _Method(NamedTuple):
    """One WebSocket API method: its weight, security and parameters."""

    weight: int
    signed: bool
    params: frozenset[str]
    op: str = ""  # the simulator's name for it, counted in `BinanceApi.requests`
    free_on_success: bool = False  # weight 0 when it succeeds (changelog, 2026-03-27)
    places_order: bool = False  # counts towards the unfilled order count


_METHODS: dict[str, _Method] = {
    "ping": _Method(1, signed=False, params=_COMMON),
    "time": _Method(1, signed=False, params=_COMMON),
    "exchangeInfo": _Method(20, signed=False, params=_COMMON | {"symbol", "symbols"}),
    "session.status": _Method(2, signed=False, params=_COMMON),
    # session.logon checks its own signature (Ed25519 keys only): not `signed` here
    "session.logon": _Method(2, signed=False, params=_COMMON | _SIGNED),
    "session.logout": _Method(2, signed=False, params=_COMMON),
    "userDataStream.subscribe": _Method(2, signed=False, params=_COMMON),
    "session.subscriptions": _Method(2, signed=False, params=_COMMON),
    "userDataStream.subscribe.signature": _Method(2, signed=True, params=_COMMON | _SIGNED),
    "userDataStream.unsubscribe": _Method(2, signed=False, params=_COMMON | {"subscriptionId"}),
    "order.place": _Method(
        1,
        signed=True,
        params=_COMMON | _SIGNED | _NEW_ORDER,
        op="place",
        free_on_success=True,
        places_order=True,
    ),
    "order.cancel": _Method(
        1,
        signed=True,
        params=_COMMON
        | _SIGNED
        | {"symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"},
        op="cancel",
        free_on_success=True,
    ),
    "openOrders.cancelAll": _Method(
        1, signed=True, params=_COMMON | _SIGNED | {"symbol"}, op="cancel_all", free_on_success=True
    ),
    "order.cancelReplace": _Method(
        1,
        signed=True,
        params=_COMMON
        | _SIGNED
        | _NEW_ORDER
        | {
            "cancelReplaceMode",
            "cancelOrderId",
            "cancelOrigClientOrderId",
            "cancelNewClientOrderId",
            "cancelRestrictions",
            "orderRateLimitExceededMode",
        },
        op="amend",
        free_on_success=True,
        places_order=True,
    ),
    "order.amend.keepPriority": _Method(
        4,
        signed=True,
        params=_COMMON
        | _SIGNED
        | {"symbol", "orderId", "origClientOrderId", "newClientOrderId", "newQty"},
        op="amend",
    ),
    "openOrders.status": _Method(
        6, signed=True, params=_COMMON | _SIGNED | {"symbol"}, op="open_orders"
    ),
    "myTrades": _Method(
        20,
        signed=True,
        params=_COMMON | _SIGNED | {"symbol", "orderId", "startTime", "endTime", "fromId", "limit"},
        op="fills",
    ),
}
_MAX_METHOD_CHARS = 64
_UNSUPPORTED_TYPES = {
    "STOP_LOSS": "Stop loss orders are not supported for this symbol.",
    "STOP_LOSS_LIMIT": "Stop loss limit orders are not supported for this symbol.",
    "TAKE_PROFIT": "Take profit orders are not supported for this symbol.",
    "TAKE_PROFIT_LIMIT": "Take profit limit orders are not supported for this symbol.",
}
_TYPES = frozenset({"LIMIT", "LIMIT_MAKER", "MARKET", *_UNSUPPORTED_TYPES})
_TIFS = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_EXPIRY = {  # the engine's reason -> Binance's expiry reason (user-data-stream.md)
    "ioc": "UNFILLED_IOC_QUANTITY_EXPIRED",
    "fok": "UNFILLED_FOK_ORDER_EXPIRED",
    "insufficient_liquidity": "INSUFFICIENT_LIQUIDITY",
    "market_protection": "EXECUTION_RULE_PRICE_RANGE_EXCEEDED",
}
_STATUS = {
    CancelStatus.CANCELED: ("CANCELED", "CANCELED"),  # (execution type, order status)
    CancelStatus.EXPIRED: ("EXPIRED", "EXPIRED"),
    CancelStatus.EXPIRED_IN_MATCH: ("TRADE_PREVENTION", "EXPIRED_IN_MATCH"),
}
_OPEN = frozenset({"NEW", "PARTIALLY_FILLED"})


class _NewOrder(NamedTuple):
    """A new order's parameters, checked (order.place, order.cancelReplace)."""

    side: Side
    type: str
    tif: str
    price: int  # ticks; 0 for MARKET
    quantity: int  # lots
    client_order_id: str | None
    response: str  # ACK, RESULT or FULL
    strategy_id: int | None
    strategy_type: int | None
    symbol: str


class _Order:
    """An order placed through this front-end, as Binance shows it."""

    __slots__ = (
        "account", "cancel_client_id", "client_order_id", "executed", "expiry_reason",
        "order_id", "price", "quantity", "quote", "side", "status", "strategy_id",
        "strategy_type", "symbol", "tif", "time_ms", "type", "update_ms",
    )  # fmt: skip

    def __init__(self, account: str, new: _NewOrder, client_order_id: str, now_ms: int) -> None:
        self.account = account
        self.symbol = new.symbol
        self.order_id = 0  # the engine's, once accepted
        self.client_order_id = client_order_id
        self.cancel_client_id: str | None = None  # set by a cancel request
        self.side = new.side
        self.type = new.type
        self.tif = new.tif
        self.price = new.price
        self.quantity = new.quantity
        self.executed = 0
        self.quote = 0  # ticks x lots
        self.status = "NEW"
        self.expiry_reason = ""
        self.strategy_id = new.strategy_id
        self.strategy_type = new.strategy_type
        self.time_ms = now_ms
        self.update_ms = now_ms


class _Trade(NamedTuple):
    trade_id: int
    order_id: int
    price: int
    quantity: int
    fee_e4: int
    time_ms: int
    buyer: bool
    maker: bool
    symbol: str


class _Account:
    """An account's orders and trades, and its unfilled order count."""

    __slots__ = ("day", "day_count", "open", "second", "second_count", "trades")

    def __init__(self) -> None:
        self.open: dict[str, int] = {}  # clientOrderId -> order id, of its open orders
        self.trades: list[_Trade] = []  # trade ids ascending
        self.second = self.second_count = 0  # the 10-second interval and its count
        self.day = self.day_count = 0


class _Peer:
    """One IP address: its request weight this minute, its 429s, its ban."""

    __slots__ = ("banned_until_ms", "connections", "minute", "retry_after_ms", "strikes", "weight")

    def __init__(self) -> None:
        self.connections = 0
        self.minute = 0
        self.weight = 0
        self.strikes = 0  # requests answered 429 since the client last backed off
        self.retry_after_ms = 0
        self.banned_until_ms = 0


class _Session:
    """One connection: its peer, its user data stream subscriptions, who it acted for."""

    __slots__ = (
        "accounts", "authorized_ms", "connected_ms", "logged_on", "next_subscription", "peer",
        "rate_limits", "send", "subscriptions",
    )  # fmt: skip

    def __init__(self, send: Send, peer: str, *, rate_limits: bool, now_ms: int) -> None:
        self.send = send
        self.peer = peer
        self.rate_limits = rate_limits  # include rateLimits in answers by default
        self.connected_ms = now_ms
        self.subscriptions: dict[str, int] = {}  # account -> subscriptionId
        self.next_subscription = 0
        self.accounts: set[str] = set()  # accounts it sent a correctly signed request for
        self.logged_on: str | None = None  # the API key of its session.logon (Ed25519)
        self.authorized_ms: int | None = None


class _Call:
    """One request being handled."""

    __slots__ = (
        "account", "events", "method", "now_ms", "order_limit", "params", "request_id",
        "session", "weight",
    )  # fmt: skip

    def __init__(
        self,
        session: _Session,
        request_id: RequestId,
        method: _Method,
        params: _Params,
        now_ms: int,
    ) -> None:
        self.session = session
        self.request_id = request_id
        self.method = method
        self.params = params
        self.now_ms = now_ms
        self.account = ""
        self.weight = method.weight
        self.events: list[Event] = []
        self.order_limit: _Refusal | None = None  # over the order count, cancel-replace may cancel


class BinanceApi:
    """Binance spot's WebSocket API over the instruments of ``engine``.

    ``instruments``: one `Instrument`, or several by symbol. Every trading method names
    its ``symbol`` (``-1121 Invalid symbol.`` for one not served); ``openOrders.status``
    without one lists every symbol's (weight 80), ``openOrders.cancelAll`` and
    ``myTrades`` are per symbol, as on Binance. Trade ids are per symbol.

    ``keys`` maps API key to HMAC secret, or to an Ed25519 public key in PEM (``-----BEGIN
    PUBLIC KEY-----``): that account signs with Ed25519 (base64 signatures) and may log a
    connection on with ``session.logon``. The API key is also the engine's account.
    ``clock`` times what happens between requests (fills against resting orders).
    """

    def __init__(
        self,
        engine: MatchingEngine,
        instruments: Instrument | Mapping[str, Instrument],
        keys: Mapping[str, str],
        clock: Clock,
        *,
        limits: RateLimits | None = None,
    ) -> None:
        for key in keys:
            if not _API_KEY.fullmatch(key):
                raise ConfigError(
                    f"API key {key[:16]!r} is not a Binance API key: 1 to 64 of A-Z a-z 0-9 _ -"
                )
        self._engine = engine
        self._instruments = (
            {instruments.symbol: instruments}
            if isinstance(instruments, Instrument)
            else dict(instruments)
        )
        self._wires = {symbol: _Wire(i) for symbol, i in self._instruments.items()}
        self._quote_assets = {symbol: split_symbol(symbol)[1] for symbol in self._instruments}
        self._keys = dict(keys)
        self._ed25519 = {
            key: _ed25519_public_key(key, value)
            for key, value in keys.items()
            if value.startswith(_PEM_PUBLIC_KEY)
        }
        self._clock = clock
        self.limits = limits or RateLimits()
        self._sessions: dict[object, _Session] = {}
        self._peers: dict[str, _Peer] = {}
        self._accounts: dict[str, _Account] = {key: _Account() for key in keys}
        self._orders: dict[int, _Order] = {}  # engine order id -> order
        self._pending: dict[
            str, _Order
        ] = {}  # the engine's client order id -> order not yet accepted
        self._ids = 0  # client order ids this venue made up, and engine client ids
        # the last trade id of each symbol (both sides of a trade see the same)
        self._trade_ids = dict.fromkeys(self._instruments, 0)
        self._execution_id = 0  # one per execution report on the symbol
        self._prevented = 0  # prevented match ids (self-trade prevention)
        self._taker = 0  # the order id last accepted: the taker of fills that follow
        self._log = structlog.get_logger("tradeactors.exchange").bind(
            symbol=",".join(self._instruments), protocol="binance"
        )
        self._handlers: dict[str, Callable[[_Call], Any]] = {
            "ping": lambda _call: {},
            "time": lambda call: {"serverTime": call.now_ms},
            "exchangeInfo": self._exchange_info,
            "session.status": self._session_status,
            "session.logon": self._session_logon,
            "session.logout": self._session_logout,
            "userDataStream.subscribe": self._subscribe_session,
            "session.subscriptions": self._session_subscriptions,
            "userDataStream.subscribe.signature": self._subscribe,
            "userDataStream.unsubscribe": self._unsubscribe,
            "order.place": self._place,
            "order.cancel": self._cancel,
            "openOrders.cancelAll": self._cancel_all,
            "order.cancelReplace": self._cancel_replace,
            "order.amend.keepPriority": self._amend,
            "openOrders.status": self._open_orders,
            "myTrades": self._my_trades,
        }
        self.requests: dict[tuple[str, str], int] = {}  # (account, sim op) -> requests taken
        self.muted: set[str] = set()  # accounts whose pushed events are lost (fault)
        # fault: account -> how many of its next executionReports go out unreadable
        self.garbled: dict[str, int] = {}
        self.reject_until_ns = 0  # fault: new orders refused until then (monotonic ns)

    # -- connections -----------------------------------------------------------------

    def connect(
        self,
        connection: object,
        send: Send,
        now_ns: int,  # noqa: ARG002 - the same call as OrderEntry.connect
        *,
        peer: str = "",
        return_rate_limits: bool = True,
    ) -> None:
        """A connection opened from ``peer`` (its IP address): it costs 2 weight."""
        now_ms = self._clock.time_ns() // 1_000_000
        self._forget_idle_peers(now_ms)
        self._sessions[connection] = _Session(
            send, peer, rate_limits=return_rate_limits, now_ms=now_ms
        )
        state = self._peer(peer, now_ms)
        state.connections += 1
        state.weight += 2

    def connections_of(self, account: str) -> list[object]:
        """The connections that acted for ``account`` (signed for it, or follow its stream)."""
        return [c for c, s in self._sessions.items() if account in s.accounts]

    def disconnect(self, connection: object) -> list[Event]:
        """A connection closed. Binance spot cancels nothing on a disconnect."""
        session = self._sessions.pop(connection, None)
        if session is not None and session.peer in self._peers:
            self._peers[session.peer].connections -= 1  # its weight stays: it is the IP's
        return []

    def _forget_idle_peers(self, now_ms: int) -> None:
        """Forget the IPs with no connection whose minute, strikes and ban are all over.

        Until then a reconnection finds its IP's weight, strikes and ban where it left
        them. O(IPs seen within the last minute or still banned).
        """
        minute = now_ms // 60_000
        for address, peer in list(self._peers.items()):
            if (
                peer.connections <= 0
                and peer.minute < minute
                and now_ms >= peer.banned_until_ms
                and now_ms >= peer.retry_after_ms
            ):
                del self._peers[address]

    def expire(self, now_ns: int) -> list[Event]:  # noqa: ARG002 - OrderEntry's call
        """Binance spot has no dead-man's switch: nothing expires by the clock."""
        return []

    def report(self, events: list[Event]) -> None:
        """Apply the engine's ``events`` to the orders and push execution reports."""
        self._apply(events, self._clock.time_ns() // 1_000_000)

    # -- requests --------------------------------------------------------------------

    def handle(
        self, connection: object, text: str | bytes, now_ns: int, *, wall_ns: int
    ) -> list[Event]:
        """Answer one request frame; return the engine's events.

        ``now_ns`` is monotonic (the rejecting fault), ``wall_ns`` the venue's wall clock
        (timestamps, rate-limit intervals). Never raises for a bad request.
        """
        session = self._sessions[connection]
        now_ms = wall_ns // 1_000_000
        try:
            return self._handle(session, text, now_ns, now_ms)
        except Exception as exc:  # noqa: BLE001 - a bug must not end the session: answer, log
            self._log.exception("request_failed", error=type(exc).__name__)
            error = {
                "code": -1000,
                "msg": "An unknown error occurred while processing the request.",
            }
            session.send(_encode({"id": _id_of(text), "status": 500, "error": error}).decode())
            return []

    def _handle(  # noqa: C901, PLR0911 - one step after another, as the docs order them
        self, session: _Session, text: str | bytes, now_ns: int, now_ms: int
    ) -> list[Event]:
        peer = self._peer(session.peer, now_ms)
        if now_ms < peer.banned_until_ms:
            self._banned(session, _id_of(text), peer, now_ms)
            return []
        try:
            envelope = _decode_envelope(text)
            request_id = _request_id(envelope.id)
        except (msgspec.DecodeError, RecursionError):
            self._refuse_unread(session, _id_of(text), peer, now_ms, _invalid_json())
            return []
        except _Refusal as refusal:
            self._refuse_unread(session, None, peer, now_ms, refusal)
            return []
        try:
            method_name, method, params = _read_request(envelope)
        except _Refusal as refusal:
            self._refuse_unread(session, request_id, peer, now_ms, refusal)
            return []
        call = _Call(session, request_id, method, params, now_ms)
        if self._over_weight(peer):
            self._answer_refusal(call, self._too_much_weight(peer, now_ms))
            return []
        show: bool | None = None
        try:
            _check_names(params, method)
            show = params.boolean("returnRateLimits")
            if method.signed:
                call.account = self._authenticate(call)
                session.accounts.add(call.account)
                if method.op:
                    key = (call.account, method.op)
                    self.requests[key] = self.requests.get(key, 0) + 1
            if method.places_order:
                self._count_order(call, now_ns)
            result = self._handlers[method_name](call)
        except _Refusal as refusal:
            peer.weight += call.weight
            self._answer_refusal(call, refusal, show=show)
            return call.events
        if not method.free_on_success:
            peer.weight += call.weight
        self._answer(call, {"status": 200, "result": result}, show=show)
        return call.events

    # -- answers ---------------------------------------------------------------------

    def _answer(self, call: _Call, body: dict[str, Any], *, show: bool | None = None) -> None:
        message: dict[str, Any] = {"id": call.request_id, **body}
        if call.session.rate_limits if show is None else show:
            message["rateLimits"] = self._rate_limits(call)
        call.session.send(_encode(message).decode())

    def _answer_refusal(self, call: _Call, refusal: _Refusal, *, show: bool | None = None) -> None:
        self._answer(call, {"status": refusal.status, "error": refusal.error()}, show=show)

    def _refuse_unread(
        self, session: _Session, request_id: RequestId, peer: _Peer, now_ms: int, refusal: _Refusal
    ) -> None:
        """Refuse a request too malformed to read (it still costs weight 1)."""
        if self._over_weight(peer):
            refusal = self._too_much_weight(peer, now_ms)
        else:
            peer.weight += 1
        body: dict[str, Any] = {
            "id": request_id,
            "status": refusal.status,
            "error": refusal.error(),
        }
        if session.rate_limits:
            body["rateLimits"] = [self._weight_limit(peer)]
        session.send(_encode(body).decode())

    def _rate_limits(self, call: _Call) -> list[dict[str, Any]]:
        limits: list[dict[str, Any]] = []
        account = self._accounts.get(call.account)
        if call.method.places_order and account is not None:
            limits.append(
                {
                    **_limit("ORDERS", "SECOND", 10, self.limits.orders_per_10_seconds),
                    "count": account.second_count,
                }
            )
            limits.append(
                {
                    **_limit("ORDERS", "DAY", 1, self.limits.orders_per_day),
                    "count": account.day_count,
                }
            )
        limits.append(self._weight_limit(self._peers[call.session.peer]))
        return limits

    def _weight_limit(self, peer: _Peer) -> dict[str, Any]:
        return {
            **_limit("REQUEST_WEIGHT", "MINUTE", 1, self.limits.request_weight_per_minute),
            "count": peer.weight,
        }

    # -- rate limits -----------------------------------------------------------------

    def _peer(self, address: str, now_ms: int) -> _Peer:
        """``address``'s state, its weight reset when a new minute starts."""
        peer = self._peers.get(address)
        if peer is None:
            peer = self._peers[address] = _Peer()
        minute = now_ms // 60_000
        if minute != peer.minute:
            peer.minute, peer.weight = minute, 0
        if peer.banned_until_ms and now_ms >= peer.banned_until_ms:
            peer.banned_until_ms = peer.strikes = 0
        if peer.strikes and now_ms >= peer.retry_after_ms:
            peer.strikes = 0  # it backed off
        return peer

    def _over_weight(self, peer: _Peer) -> bool:
        """Whether ``peer`` used its weight this minute (`_peer` rolled the minute over)."""
        return peer.weight >= self.limits.request_weight_per_minute

    def _too_much_weight(self, peer: _Peer, now_ms: int) -> _Refusal:
        retry_after = (now_ms // 60_000 + 1) * 60_000
        limit = self.limits.request_weight_per_minute
        refusal = _Refusal(
            429,
            -1003,
            f"Too much request weight used; current limit is {limit} request weight per 1 "
            "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
            {"serverTime": now_ms, "retryAfter": retry_after},
        )
        return self._strike(peer, now_ms, retry_after, refusal)

    def _strike(self, peer: _Peer, now_ms: int, retry_after: int, refusal: _Refusal) -> _Refusal:
        """A 429 answer: the peer's strike; past ``ban_after`` of them it is banned (418)."""
        peer.retry_after_ms = max(peer.retry_after_ms, retry_after)
        peer.strikes += 1
        if peer.strikes > self.limits.ban_after:
            peer.banned_until_ms = now_ms + self.limits.ban_seconds * 1_000
            return self._ban_refusal(peer, now_ms)
        return refusal

    def _ban_refusal(self, peer: _Peer, now_ms: int) -> _Refusal:
        until = peer.banned_until_ms
        return _Refusal(
            418,
            -1003,
            f"Way too much request weight used; IP banned until {until}. Please use WebSocket "
            "Streams for live updates to avoid bans.",
            {"serverTime": now_ms, "retryAfter": until},
        )

    def _banned(self, session: _Session, request_id: RequestId, peer: _Peer, now_ms: int) -> None:
        refusal = self._ban_refusal(peer, now_ms)
        body: dict[str, Any] = {"id": request_id, "status": 418, "error": refusal.error()}
        if session.rate_limits:
            body["rateLimits"] = [self._weight_limit(peer)]
        session.send(_encode(body).decode())

    def _count_order(self, call: _Call, now_ns: int) -> None:
        """Count a new order against the account's unfilled order count, or refuse it.

        Over the count, ``order.cancelReplace`` with ``orderRateLimitExceededMode=
        CANCEL_ONLY`` still cancels: the refusal waits in ``call.order_limit``.
        """
        account = self._accounts[call.account]
        now_ms = call.now_ms
        second, day = now_ms // 10_000, now_ms // _DAY_MS
        if account.second != second:
            account.second, account.second_count = second, 0
        if account.day != day:
            account.day, account.day_count = day, 0
        limits = self.limits
        if account.second_count >= limits.orders_per_10_seconds:
            retry = (second + 1) * 10_000
            text = f"{limits.orders_per_10_seconds} orders per 10 SECOND"
        elif account.day_count >= limits.orders_per_day:
            retry, text = (day + 1) * _DAY_MS, f"{limits.orders_per_day} orders per 1 DAY"
        else:
            account.second_count += 1
            account.day_count += 1
            if now_ns < self.reject_until_ns:  # fault injection: the venue takes no order
                raise _Refusal.rejected("Market is closed.")
            return
        refusal = _Refusal(
            429,
            -1015,
            f"Too many new orders; current limit is {text}.",
            {"serverTime": now_ms, "retryAfter": retry},
        )
        refusal = self._strike(self._peers[call.session.peer], now_ms, retry, refusal)
        mode = call.params.text("orderRateLimitExceededMode")
        if refusal.status != _TOO_MANY or mode != "CANCEL_ONLY":
            raise refusal
        call.order_limit = refusal

    # -- authentication --------------------------------------------------------------

    def _authenticate(self, call: _Call) -> str:
        """The account of a SIGNED request, after its key, signature and timing.

        On a connection logged on with ``session.logon``, a request without ``apiKey``
        and ``signature`` is the session's account's (its timing is still checked).
        """
        params = call.params
        logged_on = call.session.logged_on
        if logged_on is not None and not {"apiKey", "signature"} & params.names():
            timestamp = params.long("timestamp", required=True)
            assert timestamp is not None  # noqa: S101 - required
            self._check_timing(call, timestamp)
            return logged_on
        api_key = params.text("apiKey", required=True)
        assert api_key is not None  # noqa: S101 - required
        if not _API_KEY.fullmatch(api_key):
            raise _Refusal(401, -2014, "API-key format invalid.")
        secret = self._keys.get(api_key)
        if secret is None:
            raise _Refusal(401, -2015, "Invalid API-key, IP, or permissions for action.")
        timestamp = params.long("timestamp", required=True)
        given = params.text("signature", required=True)
        assert timestamp is not None  # noqa: S101 - required
        assert given is not None  # noqa: S101 - required
        public_key = self._ed25519.get(api_key)
        if public_key is not None:
            _verify_ed25519(public_key, signature_payload(params.texts()), given)
        else:
            expected = sign(secret, params.texts())
            if not hmac.compare_digest(expected.encode(), given.lower().encode()):
                raise _Refusal(400, -1022, "Signature for this request is not valid.")
        self._check_timing(call, timestamp)
        return api_key

    def _check_timing(self, call: _Call, timestamp: int) -> None:
        """Refuse a ``timestamp`` ahead of the server or behind by more than ``recvWindow``."""
        params = call.params
        window_us = params.recv_window_us()
        stamp_us = timestamp if timestamp >= _MICROSECONDS else timestamp * 1_000
        server_us = call.now_ms * 1_000
        if stamp_us >= server_us + _AHEAD_US:
            raise _Refusal(
                400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if server_us - stamp_us > window_us:
            raise _Refusal(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _session_logon(self, call: _Call) -> dict[str, Any]:
        """``session.logon``: an Ed25519 key's signed logon; later requests need no signature."""
        api_key = call.params.text("apiKey", required=True)
        if api_key is not None and api_key in self._keys and api_key not in self._ed25519:
            # "Only Ed25519 keys are supported for this feature."
            raise _Refusal(400, -1020, "This operation is not supported.")
        account = self._authenticate(call)
        session = call.session
        session.logged_on, session.authorized_ms = account, call.now_ms
        session.accounts.add(account)
        return self._session_status(call)

    def _session_logout(self, call: _Call) -> dict[str, Any]:
        """``session.logout``: forget the key; its ``userDataStream.subscribe`` ends too."""
        session = call.session
        if session.logged_on is not None:
            sid = session.subscriptions.pop(session.logged_on, None)
            if sid is not None:
                event = {"e": "eventStreamTerminated", "E": call.now_ms}
                session.send(_encode({"subscriptionId": sid, "event": event}).decode())
        session.logged_on = session.authorized_ms = None
        return self._session_status(call)

    def _subscribe_session(self, call: _Call) -> dict[str, int]:
        """``userDataStream.subscribe``: the logged-on account's stream on this connection."""
        if call.session.logged_on is None:
            raise _Refusal(401, -1002, "You are not authorized to execute this request.")
        call.account = call.session.logged_on
        return self._subscribe(call)

    # -- general and session methods ---------------------------------------------------

    def _exchange_info(self, call: _Call) -> dict[str, Any]:
        params = call.params
        wanted: list[str] = []
        symbol = params.text("symbol")
        if symbol is not None:
            wanted.append(symbol)
        raw = params.raw("symbols")  # an ARRAY of STRING, or such an array as a string
        if raw is not None:
            wanted.extend(_symbols(raw))
        if any(s not in self._instruments for s in wanted):
            raise _Refusal(400, -1121, "Invalid symbol.")
        listed = [i for s, i in self._instruments.items() if not wanted or s in wanted]
        return exchange_info(
            listed, self._engine.filters, server_time_ms=call.now_ms, limits=self.limits
        )

    def _session_status(self, call: _Call) -> dict[str, Any]:
        session = call.session
        return {
            "apiKey": session.logged_on,  # None unless logged on (session.logon)
            "authorizedSince": session.authorized_ms,
            "connectedSince": session.connected_ms,
            "returnRateLimits": session.rate_limits,
            "serverTime": call.now_ms,
            "userDataStream": bool(session.subscriptions),
        }

    def _session_subscriptions(self, call: _Call) -> list[dict[str, int]]:
        ids = sorted(call.session.subscriptions.values())
        return [{"subscriptionId": sid} for sid in ids]

    def _subscribe(self, call: _Call) -> dict[str, int]:
        session = call.session
        if call.account in session.subscriptions:
            raise _Refusal(400, -2035, "User Data Stream subscription already active.")
        if session.next_subscription > _MAX_SUBSCRIPTION_ID:
            raise _Refusal(400, -2042, "Maximum subscription ID reached for this connection.")
        sid = session.next_subscription
        session.next_subscription += 1
        session.subscriptions[call.account] = sid
        return {"subscriptionId": sid}

    def _unsubscribe(self, call: _Call) -> dict[str, Any]:
        session = call.session
        wanted = call.params.long("subscriptionId")
        for account, sid in list(session.subscriptions.items()):
            if wanted is None or sid == wanted:
                del session.subscriptions[account]
                event = {"e": "eventStreamTerminated", "E": call.now_ms}
                session.send(_encode({"subscriptionId": sid, "event": event}).decode())
        return {}

    # -- trading -------------------------------------------------------------------------

    def _symbol_param(self, params: _Params, *, required: bool = True) -> str | None:
        symbol = params.text("symbol", required=required)
        if symbol is not None and symbol not in self._instruments:
            raise _Refusal(400, -1121, "Invalid symbol.")
        return symbol

    def _symbol_required(self, params: _Params) -> str:
        symbol = self._symbol_param(params)
        assert symbol is not None  # noqa: S101 - required
        return symbol

    def _new_order(self, params: _Params, symbol: str) -> _NewOrder:  # noqa: C901, PLR0912 - Binance's checks, in order
        """The new order in ``params``, or the refusal Binance would answer."""
        side_text = params.choice("side", _SIDES, _Refusal(400, -1117, "Invalid side."))
        if side_text is None:
            raise _Refusal.missing("side")
        kind = params.choice("type", _TYPES, _Refusal(400, -1116, "Invalid orderType."))
        if kind is None:
            raise _Refusal.missing("type")
        if kind in _UNSUPPORTED_TYPES:
            raise _Refusal.rejected(_UNSUPPORTED_TYPES[kind])
        for name, message in (
            ("quoteOrderQty", "Quote order qty market orders are not support for this symbol."),
            ("icebergQty", "Iceberg orders are not supported for this symbol."),
            ("trailingDelta", "Trailing stop orders are not supported for this symbol."),
            ("pegPriceType", "Pegged orders are not supported for this symbol."),
            ("pegOffsetValue", "Pegged orders are not supported for this symbol."),
            ("pegOffsetType", "Pegged orders are not supported for this symbol."),
        ):
            if params.text(name) is not None:
                raise _Refusal.rejected(message)
        if params.text("stopPrice") is not None:
            raise _Refusal.not_required("stopPrice")
        tif = params.choice("timeInForce", _TIFS, _Refusal(400, -1115, "Invalid timeInForce."))
        if kind == "LIMIT" and tif is None:
            raise _Refusal.missing("timeInForce")
        if kind != "LIMIT" and tif is not None:
            raise _Refusal(400, -1114, "TimeInForce parameter sent when not required.")
        price_text = params.decimal("price", required=kind != "MARKET")
        if kind == "MARKET" and price_text is not None:
            raise _Refusal.not_required("price")
        quantity_text = params.decimal("quantity", required=True)
        assert quantity_text is not None  # noqa: S101 - required
        client_order_id = params.text("newClientOrderId")
        if client_order_id is not None and not _CLIENT_ID.fullmatch(client_order_id):
            raise _Refusal.illegal("newClientOrderId", _CLIENT_ID_RANGE)
        default = "FULL" if kind in ("LIMIT", "MARKET") else "ACK"
        response = params.choice(
            "newOrderRespType", ("ACK", "RESULT", "FULL"), _Refusal.invalid("newOrderRespType")
        )
        params.choice(
            "selfTradePreventionMode", (_STP,), _Refusal.invalid("selfTradePreventionMode")
        )
        strategy_id = params.long("strategyId")
        strategy_type = params.long("strategyType")
        if strategy_type is not None and strategy_type < _MIN_STRATEGY_TYPE:
            raise _Refusal(400, -1134, "`strategyType` was less than 1000000.")
        filters, instrument = self._engine.filters(symbol), self._instruments[symbol]
        if price_text is None:  # MARKET: it may take anything (the engine's protection price)
            price = filters.max_price if side_text == "BUY" else filters.min_price
        else:
            price = _read(read_price, instrument, price_text, "price")
        quantity = _read(read_quantity, instrument, quantity_text, "quantity")
        if price_text is not None:
            reason = filters.check(price, quantity, market=kind == "MARKET")
        else:
            reason = filters.check(filters.min_price, quantity, market=True)
        if reason is not None:
            raise _Refusal.of(reason)
        return _NewOrder(
            side=_SIDES[side_text],
            type=kind,
            tif=tif or "GTC",
            price=price if price_text is not None else 0,
            quantity=quantity,
            client_order_id=client_order_id,
            response=response or default,
            strategy_id=strategy_id,
            strategy_type=strategy_type,
            symbol=symbol,
        )

    def _submit(self, call: _Call, new: _NewOrder) -> _Order:
        """Send ``new`` to the engine; the order (accepted), or the refusal."""
        account = self._accounts[call.account]
        client_order_id = new.client_order_id or self._new_client_id()
        if client_order_id in account.open:
            raise _Refusal.rejected("Duplicate order sent.")
        order = _Order(call.account, new, client_order_id, call.now_ms)
        self._ids += 1
        internal = f"binance-{self._ids}"  # unique for ever, as the engine wants
        self._pending[internal] = order
        filters = self._engine.filters(new.symbol)
        market = new.type == "MARKET"
        protection = filters.max_price if new.side is Side.BUY else filters.min_price
        events = self._engine.submit(
            account=call.account,
            client_order_id=internal,
            instrument=new.symbol,
            side=new.side,
            quantity=new.quantity,
            price=protection if market else new.price,
            tif=TimeInForce.IOC if market else _TIFS[new.tif],
            post_only=new.type == "LIMIT_MAKER",
            market=market,
        )
        call.events.extend(events)
        self._apply(events, call.now_ms)  # an accepted order leaves `_pending` here
        self._pending.pop(internal, None)
        for event in events:
            if isinstance(event, EngineRejected) and event.client_order_id == internal:
                raise _Refusal.of(event.reason)
        return order

    def _place(self, call: _Call) -> dict[str, Any]:
        new = self._new_order(call.params, self._symbol_required(call.params))
        trades_before = len(self._accounts[call.account].trades)
        order = self._submit(call, new)
        return self._placed(order, new.response, call.now_ms, trades_before)

    def _placed(
        self, order: _Order, response: str, now_ms: int, trades_before: int
    ) -> dict[str, Any]:
        """The answer to a new order: ACK, RESULT or FULL (web-socket-api.md)."""
        result: dict[str, Any] = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "transactTime": now_ms,
        }
        if response == "ACK":
            return result
        result.update(self._order_fields(order))
        result["workingTime"] = order.time_ms
        result["selfTradePreventionMode"] = _STP
        if response == "FULL":
            trades = self._accounts[order.account].trades[trades_before:]
            wire = self._wires[order.symbol]
            result["fills"] = [
                {
                    "price": wire.price(t.price),
                    "qty": wire.qty(t.quantity),
                    "commission": wire.fee(t.fee_e4),
                    "commissionAsset": self._quote_assets[order.symbol],
                    "tradeId": t.trade_id,
                }
                for t in trades
                if t.order_id == order.order_id
            ]
        return result

    def _order_fields(self, order: _Order) -> dict[str, Any]:
        wire = self._wires[order.symbol]
        fields: dict[str, Any] = {
            "price": wire.price(order.price),
            "origQty": wire.qty(order.quantity),
            "executedQty": wire.qty(order.executed),
            "origQuoteOrderQty": _ZERO,
            "cummulativeQuoteQty": wire.quote(order.quote),
            "status": order.status,
            "timeInForce": order.tif,
            "type": order.type,
            "side": order.side.name,
        }
        if order.strategy_id is not None:
            fields["strategyId"] = order.strategy_id
        if order.strategy_type is not None:
            fields["strategyType"] = order.strategy_type
        if order.expiry_reason:
            fields["expiryReason"] = order.expiry_reason
        return fields

    def _find(
        self, call: _Call, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> _Order:
        """The account's open order on ``symbol`` by id and/or client id (``-2011``, ``-2039``)."""
        account = self._accounts[call.account]
        if order_id is not None:
            order = self._orders.get(order_id)
            if (
                order is None
                or order.account != call.account
                or order.status not in _OPEN
                or order.symbol != symbol
            ):
                raise _Refusal.unknown_order()
            if client_order_id is not None and client_order_id != order.client_order_id:
                raise _Refusal(400, -2039, "Client order ID is not correct for this order ID.")
            return order
        found = account.open.get(client_order_id or "")
        if found is None or self._orders[found].symbol != symbol:
            raise _Refusal.unknown_order()
        return self._orders[found]

    def _cancel_one(  # noqa: PLR0917 - Binance's parameters of a cancel
        self,
        call: _Call,
        symbol: str,
        order_id: int | None,
        client_order_id: str | None,
        new_client_id: str | None,
        restriction: str | None,
    ) -> dict[str, Any]:
        """Cancel one open order; its report (the format of ``order.cancel``)."""
        if order_id is None and client_order_id is None:
            raise _Refusal(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        order = self._find(call, symbol, order_id, client_order_id)
        if (restriction == "ONLY_NEW" and order.status != "NEW") or (
            restriction == "ONLY_PARTIALLY_FILLED" and order.status != "PARTIALLY_FILLED"
        ):
            raise _Refusal(400, -2011, "Order was not canceled due to cancel restrictions.")
        original = order.client_order_id
        order.cancel_client_id = new_client_id or self._new_client_id()
        events = self._engine.cancel(account=call.account, order_id=order.order_id)
        call.events.extend(events)
        self._apply(events, call.now_ms)
        if order.status != "CANCELED":  # pragma: no cover - the order was open, under the lock
            raise _Refusal.unknown_order()
        return self._canceled(order, original, call.now_ms)

    def _canceled(self, order: _Order, original: str, now_ms: int) -> dict[str, Any]:
        return {
            "symbol": order.symbol,
            "origClientOrderId": original,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "transactTime": now_ms,
            **self._order_fields(order),
            "selfTradePreventionMode": _STP,
        }

    def _cancel_restriction(self, params: _Params) -> str | None:
        refusal = _Refusal(
            400,
            -1145,
            "`cancelRestrictions` has to be either `ONLY_NEW` or `ONLY_PARTIALLY_FILLED`.",
        )
        return params.choice("cancelRestrictions", ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"), refusal)

    def _client_id_param(self, params: _Params, name: str) -> str | None:
        value = params.text(name)
        if value is not None and not _CLIENT_ID.fullmatch(value):
            raise _Refusal.illegal(name, _CLIENT_ID_RANGE)
        return value

    def _cancel(self, call: _Call) -> dict[str, Any]:
        params = call.params
        symbol = self._symbol_required(params)
        order_id = params.long("orderId")
        client_order_id = params.text("origClientOrderId")
        new_client_id = self._client_id_param(params, "newClientOrderId")
        restriction = self._cancel_restriction(params)
        return self._cancel_one(call, symbol, order_id, client_order_id, new_client_id, restriction)

    def _cancel_all(self, call: _Call) -> list[dict[str, Any]]:
        symbol = self._symbol_required(call.params)  # per symbol, as on Binance
        account = self._accounts[call.account]
        ids = [i for i in account.open.values() if self._orders[i].symbol == symbol]
        if not ids:
            raise _Refusal.unknown_order()
        originals: dict[int, str] = {}
        for order_id in ids:
            order = self._orders[order_id]
            originals[order_id] = order.client_order_id
            order.cancel_client_id = self._new_client_id()
        events = self._engine.cancel_all(account=call.account, instrument=symbol)
        call.events.extend(events)
        self._apply(events, call.now_ms)
        return [
            self._canceled(self._orders[order_id], original, call.now_ms)
            for order_id, original in originals.items()
            if self._orders[order_id].status == "CANCELED"
        ]

    def _cancel_replace(self, call: _Call) -> dict[str, Any]:
        params = call.params
        symbol = self._symbol_required(params)
        mode = params.choice(
            "cancelReplaceMode",
            ("STOP_ON_FAILURE", "ALLOW_FAILURE"),
            _Refusal.invalid("cancelReplaceMode"),
        )
        if mode is None:
            raise _Refusal.missing("cancelReplaceMode")
        params.choice(
            "orderRateLimitExceededMode",
            ("DO_NOTHING", "CANCEL_ONLY"),
            _Refusal.invalid("orderRateLimitExceededMode"),
        )
        order_id = params.long("cancelOrderId")
        client_order_id = params.text("cancelOrigClientOrderId")
        if order_id is None and client_order_id is None:
            raise _Refusal(
                400,
                -1102,
                "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were "
                "empty/null!",
            )
        cancel_client_id = self._client_id_param(params, "cancelNewClientOrderId")
        restriction = self._cancel_restriction(params)
        new = self._new_order(params, symbol)  # filters before anything is cancelled
        cancel: dict[str, Any]
        try:
            cancel = self._cancel_one(
                call, symbol, order_id, client_order_id, cancel_client_id, restriction
            )
            cancelled = True
        except _Refusal as refusal:
            cancel, cancelled = refusal.error(), False
        placed: dict[str, Any] | None = None
        if call.order_limit is not None:  # CANCEL_ONLY over the unfilled order count
            if not cancelled:
                raise call.order_limit
            data = _replace_data(cancel, call.order_limit.error(), cancelled=True, placed=False)
            raise _Refusal(409, -2021, "Order cancel-replace partially failed.", data)
        if cancelled or mode == "ALLOW_FAILURE":
            trades_before = len(self._accounts[call.account].trades)
            try:
                order = self._submit(call, new)
                placed = self._placed(order, new.response, call.now_ms, trades_before)
                new_ok = True
            except _Refusal as refusal:
                placed, new_ok = refusal.error(), False
        else:
            new_ok = False
        data = _replace_data(cancel, placed, cancelled=cancelled, placed=new_ok)
        if cancelled and new_ok:
            return data
        if cancelled or new_ok:
            raise _Refusal(409, -2021, "Order cancel-replace partially failed.", data)
        raise _Refusal(400, -2022, "Order cancel-replace failed.", data)

    def _amend(self, call: _Call) -> dict[str, Any]:
        params = call.params
        symbol = self._symbol_required(params)
        order_id = params.long("orderId")
        client_order_id = params.text("origClientOrderId")
        if order_id is None and client_order_id is None:
            raise _Refusal(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        new_client_id = self._client_id_param(params, "newClientOrderId")
        quantity_text = params.decimal("newQty", required=True)
        assert quantity_text is not None  # noqa: S101 - required
        order = self._find(call, symbol, order_id, client_order_id)
        quantity = _read(read_quantity, self._instruments[symbol], quantity_text, "newQty")
        reason = self._engine.filters(symbol).check(order.price, quantity)
        if reason is not None:
            raise _Refusal.of(reason)
        if quantity > order.quantity:
            raise _Refusal.of(RejectReason.AMEND_QUANTITY_INCREASE)
        if quantity == order.quantity:
            raise _Refusal.of(RejectReason.AMEND_NO_CHANGE)
        if quantity <= order.executed:
            # Binance expires the order then (changelog, 2026-04-02); not emulated
            raise _Refusal(400, -2038, "Order amend below the executed quantity is not emulated.")
        original = order.client_order_id
        order.cancel_client_id = new_client_id or self._new_client_id()
        events = self._engine.amend(
            account=call.account, order_id=order.order_id, remaining=quantity - order.executed
        )
        call.events.extend(events)
        self._apply(events, call.now_ms)
        for event in events:
            if isinstance(event, EngineRejected):
                order.cancel_client_id = None
                raise _Refusal.of(event.reason)
        wire = self._wires[symbol]
        return {
            "transactTime": call.now_ms,
            "executionId": self._execution_id,
            "amendedOrder": {
                "symbol": symbol,
                "orderId": order.order_id,
                "orderListId": -1,
                "origClientOrderId": original,
                "clientOrderId": order.client_order_id,
                "price": wire.price(order.price),
                "qty": wire.qty(order.quantity),
                "executedQty": wire.qty(order.executed),
                "preventedQty": _ZERO,
                "quoteOrderQty": _ZERO,
                "cumulativeQuoteQty": wire.quote(order.quote),
                "status": order.status,
                "timeInForce": order.tif,
                "type": order.type,
                "side": order.side.name,
                "workingTime": order.time_ms,
                "selfTradePreventionMode": _STP,
            },
        }

    def _open_orders(self, call: _Call) -> list[dict[str, Any]]:
        symbol = self._symbol_param(call.params, required=False)
        if symbol is None:
            call.weight = 80  # every symbol
        account = self._accounts[call.account]
        orders = [self._orders[i] for i in sorted(account.open.values())]
        return [self._status(o) for o in orders if symbol is None or o.symbol == symbol]

    def _status(self, order: _Order) -> dict[str, Any]:
        """An order as ``order.status`` shows it."""
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            **self._order_fields(order),
            "stopPrice": _ZERO,
            "icebergQty": _ZERO,
            "time": order.time_ms,
            "updateTime": order.update_ms,
            "isWorking": True,
            "workingTime": order.time_ms,
            "selfTradePreventionMode": _STP,
        }

    def _my_trades(self, call: _Call) -> list[dict[str, Any]]:
        params = call.params
        symbol = self._symbol_required(params)
        order_id = params.long("orderId")
        start = params.long("startTime")
        end = params.long("endTime")
        from_id = params.long("fromId")
        limit = params.long("limit")
        if order_id is not None:
            call.weight = 5
        if limit is None:
            limit = 500
        elif not 1 <= limit <= _MAX_TRADES:
            raise _Refusal.invalid("limit")
        timed = start is not None or end is not None
        if timed and (from_id is not None or order_id is not None):
            raise _Refusal(400, -1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and end - start > _DAY_MS:
            raise _Refusal(400, -1127, "More than 24 hours between startTime and endTime.")
        trades = [t for t in self._accounts[call.account].trades if t.symbol == symbol]
        if from_id is not None:
            trades = trades[bisect_left(trades, from_id, key=lambda t: t.trade_id) :]
        if order_id is not None:
            trades = [t for t in trades if t.order_id == order_id]
        if timed:
            low = start if start is not None else 0
            high = end if end is not None else _INT64
            trades = [t for t in trades if low <= t.time_ms <= high]
        chosen = trades[:limit] if from_id is not None or start is not None else trades[-limit:]
        wire = self._wires[symbol]
        return [
            {
                "symbol": symbol,
                "id": t.trade_id,
                "orderId": t.order_id,
                "orderListId": -1,
                "price": wire.price(t.price),
                "qty": wire.qty(t.quantity),
                "quoteQty": wire.quote(t.price * t.quantity),
                "commission": wire.fee(t.fee_e4),
                "commissionAsset": self._quote_assets[symbol],
                "time": t.time_ms,
                "isBuyer": t.buyer,
                "isMaker": t.maker,
                "isBestMatch": True,
            }
            for t in chosen
        ]

    # -- the engine's events -> orders, trades, execution reports ------------------------

    def _new_client_id(self) -> str:
        """A client order id as Binance makes one up: 22 characters, unique here."""
        self._ids += 1
        return f"sim{self._ids:019d}"

    def _apply(self, events: Iterable[Event], now_ms: int) -> None:  # noqa: C901 - one branch per event
        for event in events:
            if isinstance(event, EngineAccepted):
                self._taker = event.order_id
                order = self._pending.pop(event.client_order_id, None)
                if order is not None:
                    order.order_id = event.order_id
                    self._orders[event.order_id] = order
                    self._accounts[order.account].open[order.client_order_id] = event.order_id
                    self._execution(order, "NEW", now_ms)
            elif isinstance(event, EngineFilled):
                if (
                    event.liquidity is Liquidity.MAKER and event.instrument in self._trade_ids
                ):  # each trade: the maker's fill, then the taker's
                    self._trade_ids[event.instrument] += 1
                order = self._orders.get(event.order_id)
                if order is not None:
                    self._filled(order, event, now_ms)
            elif isinstance(event, EngineCanceled):
                order = self._orders.get(event.order_id)
                if order is not None:
                    self._ended(order, event, now_ms)
            elif isinstance(event, EngineAmended):
                order = self._orders.get(event.order_id)
                if order is not None:
                    self._amended(order, event, now_ms)

    def _filled(self, order: _Order, fill: EngineFilled, now_ms: int) -> None:
        order.executed += fill.quantity
        order.quote += fill.price * fill.quantity
        order.update_ms = now_ms
        order.status = "PARTIALLY_FILLED" if fill.remaining else "FILLED"
        trade = _Trade(
            trade_id=self._trade_ids[order.symbol],
            order_id=order.order_id,
            price=fill.price,
            quantity=fill.quantity,
            fee_e4=fill.fee_e4,
            time_ms=now_ms,
            buyer=fill.side is Side.BUY,
            maker=fill.liquidity is Liquidity.MAKER,
            symbol=order.symbol,
        )
        self._accounts[order.account].trades.append(trade)
        if not fill.remaining:
            self._close(order)
        self._execution(order, "TRADE", now_ms, trade=trade)

    def _ended(self, order: _Order, event: EngineCanceled, now_ms: int) -> None:
        execution_type, order.status = _STATUS[event.status]
        order.update_ms = now_ms
        self._close(order)
        if event.status is CancelStatus.CANCELED:
            original = order.client_order_id
            order.client_order_id = order.cancel_client_id or self._new_client_id()
            order.cancel_client_id = None
            self._execution(order, execution_type, now_ms, original=original)
            return
        extra: dict[str, Any] = {}
        if event.status is CancelStatus.EXPIRED:
            order.expiry_reason = _EXPIRY.get(event.reason, "EXCHANGE_CANCELED")
            extra["eR"] = order.expiry_reason
        else:  # self-trade prevention: the conditional fields of user-data-stream.md
            self._prevented += 1
            prevented = self._wires[order.symbol].qty(event.quantity)
            extra.update(
                {
                    "v": self._prevented,
                    "A": prevented,
                    "B": prevented,
                    "U": self._taker,
                    "Cs": order.symbol,
                }
            )
        self._execution(order, execution_type, now_ms, extra=extra)

    def _amended(self, order: _Order, event: EngineAmended, now_ms: int) -> None:
        original = order.client_order_id
        self._accounts[order.account].open.pop(original, None)
        order.client_order_id = order.cancel_client_id or original
        order.cancel_client_id = None
        order.quantity = order.executed + event.remaining
        order.update_ms = now_ms
        self._accounts[order.account].open[order.client_order_id] = order.order_id
        self._execution(order, "REPLACED", now_ms, original=original)

    def _close(self, order: _Order) -> None:
        open_orders = self._accounts[order.account].open
        if open_orders.get(order.client_order_id) == order.order_id:
            del open_orders[order.client_order_id]

    def _execution(
        self,
        order: _Order,
        execution_type: str,
        now_ms: int,
        *,
        trade: _Trade | None = None,
        original: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Number an ``executionReport`` for ``order`` and push it to its subscribers."""
        self._execution_id += 1
        wire = self._wires[order.symbol]
        working = execution_type in ("NEW", "REPLACED") or (
            order.status in _OPEN and order.type != "MARKET" and order.tif == "GTC"
        )
        event: dict[str, Any] = {
            "e": "executionReport",
            "E": now_ms,
            "s": order.symbol,
            "c": order.client_order_id,
            "S": order.side.name,
            "o": order.type,
            "f": order.tif,
            "q": wire.qty(order.quantity),
            "p": wire.price(order.price),
            "P": _ZERO,
            "F": _ZERO,
            "g": -1,
            "C": original,
            "x": execution_type,
            "X": order.status,
            "r": "NONE",
            "i": order.order_id,
            "l": wire.qty(trade.quantity) if trade else _ZERO,
            "z": wire.qty(order.executed),
            "L": wire.price(trade.price) if trade else _ZERO,
            "n": wire.fee(trade.fee_e4) if trade else "0",
            "N": self._quote_assets[order.symbol] if trade else None,
            "T": now_ms,
            "t": trade.trade_id if trade else -1,
            "I": self._execution_id,
            "w": working,
            "m": trade.maker if trade else False,
            "M": trade is not None,
            "O": order.time_ms,
            "Z": wire.quote(order.quote),
            "Y": wire.quote(trade.price * trade.quantity) if trade else _ZERO,
            "Q": _ZERO,
            "W": order.time_ms,
            "V": _STP,
        }
        if order.strategy_id is not None:
            event["j"] = order.strategy_id
        if order.strategy_type is not None:
            event["J"] = order.strategy_type
        if extra:
            event.update(extra)
        if order.account in self.muted:
            return
        if self.garbled.get(order.account):
            self.garbled[order.account] -= 1
            event["x"] = "GARBLED"  # an execution type no client knows: unreadable
        body = _encode(event).decode()
        for session in self._sessions.values():
            sid = session.subscriptions.get(order.account)
            if sid is not None:
                session.send(f'{{"subscriptionId":{sid},"event":{body}}}')


def _replace_data(
    cancel: dict[str, Any], new: dict[str, Any] | None, *, cancelled: bool, placed: bool
) -> dict[str, Any]:
    """What ``order.cancelReplace`` answers (or puts in its error's ``data``)."""
    return {
        "cancelResult": "SUCCESS" if cancelled else "FAILURE",
        "newOrderResult": "SUCCESS"
        if placed
        else "FAILURE"
        if new is not None
        else "NOT_ATTEMPTED",
        "cancelResponse": cancel,
        "newOrderResponse": new,
    }


def _read_request(envelope: _Envelope) -> tuple[str, _Method, _Params]:
    """The method's name, the method and its parameters; `_Refusal` if unreadable."""
    name = _method_name(envelope.method)
    method = _METHODS.get(name)
    if method is None:
        raise _Refusal(400, -1020, "This operation is not supported.")
    try:
        return name, method, _Params(_decode_params(envelope.params))
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _Refusal(400, -1135, "Invalid 'params' in JSON request; expected an object.") from exc


def _check_names(params: _Params, method: _Method) -> None:
    """Refuse a parameter the method does not read (errors.md, -1104)."""
    unknown = params.names() - method.params
    if unknown:
        read = len(params.names()) - len(unknown)
        raise _Refusal(
            400,
            -1104,
            f"Not all sent parameters were read; read '{read}' parameter(s) but was sent "
            f"'{len(params.names())}'.",
        )


def _method_name(raw: msgspec.Raw) -> str:
    """The method's name, without the optional ``v3/`` prefix."""
    if not bytes(raw):
        raise _Refusal.missing("method")
    try:
        name = _decode_str(raw)
    except msgspec.DecodeError as exc:
        raise _Refusal.missing("method") from exc
    if not name or len(name) > _MAX_METHOD_CHARS:
        raise _Refusal.missing("method")
    return name.removeprefix("v3/")


def _invalid_json() -> _Refusal:
    return _Refusal(400, -1135, "Invalid JSON Request")


def _symbols(raw: bytes) -> list[str]:
    """``symbols``: an array of strings, or such an array written as a string."""
    try:
        value: Any = msgspec.json.decode(raw)
        if isinstance(value, str):
            value = msgspec.json.decode(value)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _Refusal(400, -1135, "JSON sent for parameter 'symbols' is not valid") from exc
    if (
        not (isinstance(value, list) and all(isinstance(s, str) for s in value))
        or len(value) > _MAX_SYMBOLS
    ):
        raise _Refusal(400, -1135, "JSON sent for parameter 'symbols' is not valid")
    return value


def _read(
    reader: Callable[[Instrument, str], int | RejectReason],
    instrument: Instrument,
    text: str,
    name: str,
) -> int:
    """A price or quantity in steps; off its step it fails its filter (-1013)."""
    try:
        value = reader(instrument, text)
    except ParseError as exc:
        raise _Refusal.illegal(name, _DECIMAL_RANGE) from exc
    if isinstance(value, RejectReason):
        raise _Refusal.of(value)
    return value
