"""Reading recorded market data: the cryptofeed and hftbacktest capture formats.

Every reader yields `Frame`s in file order: when it was received (ns), whether it came
from a websocket or a REST answer (with its URL), and the raw text.

- cryptofeed: ``<unix seconds>: <json>`` for received frames; ``URL -> <seconds>: <body>``
  for REST answers; lines with ``<-`` (sent by the client) or ``<->`` (connection
  opened) are skipped.
- hftbacktest (gzip): ``<receive ns> <json>``; the REST snapshot line is the one
  without a combined-stream envelope.
"""

from __future__ import annotations

import gzip
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from tradeactors.errors import CaptureFormatError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["CaptureFormatError", "Frame", "read_capture", "read_cryptofeed", "read_hftbacktest"]


class Frame(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded frame."""

    received_ns: int
    source: Literal["ws", "rest"]
    payload: str
    url: str = ""


def _seconds_to_ns(text: str) -> int:
    # Decimal, not float: keeps every recorded digit of the timestamp.
    try:
        return int(Decimal(text.strip()) * 1_000_000_000)
    except (InvalidOperation, ValueError):
        raise CaptureFormatError(f"not a timestamp in seconds: {text[:40]!r}") from None


def read_cryptofeed(path: str | Path) -> Iterator[Frame]:
    """Frames of a cryptofeed ``*.ws.*`` or ``*.http.*`` capture."""
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\n")  # noqa: PLW2901 - the stripped line is the line
            if not line:
                continue
            head, sep, body = line.partition(": ")
            if " <- " in head or " <-> " in head:
                continue  # what the client sent, or a connection opening
            if not sep:
                raise CaptureFormatError(f"{path}:{number}: no ': ' separator")
            if " -> " in head:
                url, _, stamp = head.partition(" -> ")
                yield Frame(received_ns=_seconds_to_ns(stamp), source="rest", payload=body, url=url)
            else:
                yield Frame(received_ns=_seconds_to_ns(head), source="ws", payload=body)


def read_hftbacktest(path: str | Path) -> Iterator[Frame]:
    """Frames of an hftbacktest gzip capture (Binance)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            stamp, sep, body = line.rstrip("\n").partition(" ")
            if not sep or not (stamp.isascii() and stamp.isdigit()):
                raise CaptureFormatError(f"{path}:{number}: expected '<ns> <json>'")
            source: Literal["ws", "rest"] = "rest" if body.startswith('{"lastUpdateId"') else "ws"
            yield Frame(received_ns=int(stamp), source=source, payload=body)


def read_capture(path: str | Path) -> Iterator[Frame]:
    """Frames of ``path`` in any supported format.

    tradeactors' own (recognised by its header), hftbacktest (``.gz``) or cryptofeed.
    """
    if str(path).endswith(".gz"):
        return read_hftbacktest(path)
    from tradeactors.venues.recording import HEADER, read_recording  # noqa: PLC0415 - cycle

    with Path(path).open(encoding="utf-8") as head:
        if head.readline().rstrip("\n") == HEADER:
            return read_recording(path)
    return read_cryptofeed(path)
