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
"""

from __future__ import annotations

import enum
import re
import reprlib
import zlib
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.core.book import OrderBook, book_instrument
from tradeactors.core.instrument import Instrument, LevelParser, ParseError, decimal_places
from tradeactors.errors import FrameDroppedError
from tradeactors.venues.adapter import BookOutcome, EventKind, VenueEvent

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tradeactors.core.messages import TradeTick
    from tradeactors.venues.capture import Frame

__all__ = [
    "ADAPTER",
    "BookMessage",
    "KrakenBook",
    "KrakenBookSync",
    "KrakenMarketData",
    "KrakenResult",
    "checksum",
    "decode_any_book_messages",
    "decode_book_message",
    "decode_v2_book_messages",
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


TOO_DEEP = "JSON nested too deeply"
"""The message of the ``msgspec.DecodeError`` for JSON deeper than the decoder recurses."""

_CRC_DIGITS = 10  # a CRC32 is at most 4294967295
_DEPTH_DIGITS = 6  # Kraken's depths are 10 to 1000


def decode_book_message(frame: bytes | str) -> BookMessage | None:
    """The book message in ``frame``, or None for events (heartbeat, status...).

    Raises:
        msgspec.DecodeError: malformed JSON (also: nested too deeply, not UTF-8).
        ValueError: an array that is not a well-formed book message.

    """
    try:
        return _decode_book_message(frame)
    except RecursionError:
        raise msgspec.DecodeError(TOO_DEEP) from None
    except UnicodeError as exc:  # a str with lone surrogates: no UTF-8 to decode
        raise msgspec.DecodeError(f"not UTF-8: {str(exc)[:100]}") from None


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
    """One pair's book, kept in sync with Kraken's v1 stream and its checksum."""

    def __init__(self, instrument: Instrument, depth: int = 10) -> None:
        self.instrument = instrument
        self.depth = depth
        self.book = OrderBook(instrument)
        self._level = LevelParser(book_instrument(instrument)).level  # refuses zero prices
        self.synced = False

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
            self.synced = True
            return self._verify(message, KrakenResult.SNAPSHOT)
        if not self.synced:
            return KrakenResult.NOT_SYNCED
        self.book.apply_levels(bids, asks, self.book.update_id + 1)
        self.book.trim(self.depth)
        return self._verify(message, KrakenResult.APPLIED)

    def _verify(self, message: BookMessage, ok: KrakenResult) -> KrakenResult:
        if message.checksum is not None and checksum(self.book) != message.checksum:
            return self._break(KrakenResult.CHECKSUM_MISMATCH)
        if self.book.crossed():  # even if the venue's checksum agrees: never published
            return self._break(KrakenResult.CROSSED)
        return ok

    def _break(self, result: KrakenResult) -> KrakenResult:
        self.synced = False
        self.book.clear()
        return result


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
    data: tuple[_V2Book, ...] = ()


_v2_decoder = msgspec.json.Decoder(_V2Message)
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
    try:
        return _decode_v2_book_messages(frame)
    except RecursionError:
        raise msgspec.DecodeError(TOO_DEEP) from None
    except UnicodeError as exc:
        raise msgspec.DecodeError(f"not UTF-8: {str(exc)[:100]}") from None


def _decode_v2_book_messages(frame: bytes | str) -> tuple[BookMessage, ...] | None:
    message = _v2_decoder.decode(frame)
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
        for book in message.data
    )


def decode_any_book_messages(frame: bytes | str) -> tuple[BookMessage, ...]:
    """Book messages of a v1 or v2 frame (v2 frames are objects with a ``channel``).

    Events and other channels give an empty tuple. Raises as the decoders do.
    """
    try:
        return _decode_any_book_messages(frame)
    except RecursionError:
        raise msgspec.DecodeError(TOO_DEEP) from None
    except UnicodeError as exc:
        raise msgspec.DecodeError(f"not UTF-8: {str(exc)[:100]}") from None


def _decode_any_book_messages(frame: bytes | str) -> tuple[BookMessage, ...]:
    """`decode_any_book_messages`, letting `RecursionError` and `UnicodeError` through."""
    text = frame if isinstance(frame, str) else frame.decode()
    if text.lstrip().startswith("{") and '"channel"' in text:
        return _decode_v2_book_messages(text) or ()
    message = _decode_book_message(text)
    return () if message is None else (message,)


# -- the venue adapter (market data; order entry comes with the real-venues issue) ---------

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


class KrakenMarketData:
    """Kraken websocket v1/v2 ``book``: snapshots come with every (re)subscription."""

    def decode(self, frame: Frame) -> tuple[VenueEvent, ...]:
        """The book messages of a v1 or v2 frame.

        Raises:
            FrameDroppedError: ``malformed`` (not JSON, not UTF-8, a v2 message of the
                wrong shape), ``too_deep`` (JSON nested beyond the decoder's recursion
                limit), ``not_a_book_message`` (a v1 array of the wrong shape, a v2
                number that is not a plain decimal). Nothing else, whatever the payload.

        """
        try:
            messages = _decode_any_book_messages(frame.payload)
        except RecursionError:
            raise FrameDroppedError("too_deep") from None
        except (msgspec.DecodeError, UnicodeError):
            raise FrameDroppedError("malformed") from None
        except ValueError:
            raise FrameDroppedError("not_a_book_message") from None
        return tuple(VenueEvent(m.pair, EventKind.BOOK, m) for m in messages)

    def subscribe_messages(self, symbols: Iterable[str]) -> tuple[str, ...]:  # noqa: ARG002
        """None by default: the caller passes its own ``subscribe`` (depth, version)."""
        return ()

    def snapshot_url(self, rest_base_url: str, symbol: str) -> None:  # noqa: ARG002
        """None: Kraken sends a snapshot on (re)subscribing."""
        return

    def book_sync(self, instrument: Instrument, *, mode: str, max_depth: int) -> KrakenBookSync:  # noqa: ARG002
        """A checksum-verified book trimmed to the subscribed depth ``max_depth``."""
        return KrakenBookSync(instrument, max_depth)

    def ticker_verifier(self, instrument: Instrument) -> None:  # noqa: ARG002
        """None: the checksum verifies every update already."""
        return

    def trade_tick(self, instrument: Instrument, data: Any) -> TradeTick:  # noqa: ARG002
        """Kraken trades are not decoded yet (the feed never routes any)."""
        raise ParseError(f"Kraken trades are not decoded: {data!r}"[:200])


class _KrakenAdapter:
    kind = "kraken"
    market_data = KrakenMarketData()
    order_entry = None  # Kraken order entry: the real-venues issue


ADAPTER = _KrakenAdapter()
"""Kraken as a venue adapter: market data only, for now."""
