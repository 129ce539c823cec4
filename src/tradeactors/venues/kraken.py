"""Kraken websocket v1 ``book``: snapshot, updates, depth trimming and CRC32 checksum.

A v1 book message is a JSON array ``[channelID, payload..., channelName, pair]``:
a snapshot payload has ``as``/``bs``; an update has ``a`` and/or ``b`` (possibly in two
objects) and ``c``, the CRC32 of the top 10 asks then top 10 bids, each price and
volume written as sent with the ``.`` removed and leading zeros stripped. Levels are
``[price, volume, timestamp]`` plus ``"r"`` when republished; volume 0 deletes.
After each update the book is trimmed to the subscribed depth, then checked.
"""

from __future__ import annotations

import enum
import zlib
from typing import Any

import msgspec

from tradeactors.core.book import OrderBook
from tradeactors.core.instrument import Instrument, ParseError, decimal_places

__all__ = ["BookMessage", "KrakenBook", "KrakenResult", "checksum", "decode_book_message"]

_decoder = msgspec.json.Decoder()


class BookMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded v1 book message for one pair."""

    pair: str
    snapshot: bool
    asks: tuple[tuple[str, str], ...]
    bids: tuple[tuple[str, str], ...]
    checksum: int | None


def decode_book_message(frame: bytes | str) -> BookMessage | None:
    """The book message in ``frame``, or None for events (heartbeat, status...).

    Raises:
        msgspec.DecodeError: malformed JSON.
        ValueError: an array that is not a well-formed book message.

    """
    value: Any = _decoder.decode(frame)
    if isinstance(value, dict):
        return None  # {"event": ...}
    if not (isinstance(value, list) and len(value) >= 4 and isinstance(value[-1], str)):  # noqa: PLR2004
        raise ValueError("not a Kraken v1 channel message")
    if not str(value[-2]).startswith("book"):
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
                crc = int(levels)
                continue
            side = {"as": asks, "a": asks, "bs": bids, "b": bids}.get(key)
            if side is None:
                raise ValueError(f"unknown book field {key!r}")
            snapshot = snapshot or key in ("as", "bs")
            for level in levels:
                side.append((str(level[0]), str(level[1])))
    return BookMessage(
        pair=value[-1], snapshot=snapshot, asks=tuple(asks), bids=tuple(bids), checksum=crc
    )


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
    NOT_SYNCED = "not_synced"  # an update before any snapshot: dropped


class KrakenBook:
    """One pair's book, kept in sync with Kraken's v1 stream and its checksum."""

    def __init__(self, instrument: Instrument, depth: int = 10) -> None:
        self.instrument = instrument
        self.depth = depth
        self.book = OrderBook(instrument)
        self.synced = False

    @staticmethod
    def instrument_for(pair: str, message: BookMessage, volume_places: int = 8) -> Instrument:
        """An instrument whose tick has the decimal places of the prices in ``message``."""
        places = max((decimal_places(p) for p, _ in (*message.asks, *message.bids)), default=0)
        tick = "1" if places == 0 else "0." + "0" * (places - 1) + "1"
        lot = "0." + "0" * (volume_places - 1) + "1"
        return Instrument(venue="kraken", symbol=pair, tick_size=tick, lot_size=lot)

    def on_message(self, message: BookMessage) -> KrakenResult:
        """Apply a snapshot or an update and verify the checksum."""
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
        for price, size in asks:
            self.book.set_ask(price, size)
        for price, size in bids:
            self.book.set_bid(price, size)
        self.book.trim(self.depth)
        self.book.update_id += 1
        return self._verify(message, KrakenResult.APPLIED)

    def _level(self, price: str, volume: str) -> tuple[int, int]:
        return self.instrument.price(price), self.instrument.size(volume)

    def _verify(self, message: BookMessage, ok: KrakenResult) -> KrakenResult:
        if message.checksum is not None and checksum(self.book) != message.checksum:
            return self._break(KrakenResult.CHECKSUM_MISMATCH)
        return ok

    def _break(self, result: KrakenResult) -> KrakenResult:
        self.synced = False
        self.book.clear()
        return result
