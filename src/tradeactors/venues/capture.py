"""Reading recorded market data: the cryptofeed and hftbacktest capture formats.

Every reader yields `Frame`s in file order: when it was received (ns), whether it came
from a websocket or a REST answer (with its URL), and the raw text.

- cryptofeed: ``<unix seconds>: <json>`` for received frames; ``URL -> <seconds>: <body>``
  for REST answers; lines with ``<-`` (sent by the client) or ``<->`` (connection
  opened) are skipped.
- hftbacktest (gzip): ``<receive ns> <json>``; the REST snapshot line is the one
  without a combined-stream envelope.

A line that is not in its format raises `CaptureFormatError` naming the file and the
line, and nothing else does (but `OSError` for a file that cannot be opened): a
timestamp must be plain digits (seconds with an optional fraction, or nanoseconds)
within 64-bit nanoseconds, so ``Infinity``, ``NaN``, ``1e999999``, ``-1`` or ``1_0``
are refused; so are text that is not UTF-8 and a gzip file that is corrupt or cut
short. Payloads are not parsed here: a malformed one (deeply nested JSON, say) is a
frame the venue's decoder drops.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from tradeactors.errors import CaptureFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "MAX_NS",
    "CaptureFormatError",
    "Frame",
    "cryptofeed_frames",
    "hftbacktest_frames",
    "integer_ns",
    "numbered_lines",
    "read_capture",
    "read_cryptofeed",
    "read_hftbacktest",
]

MAX_NS = 2**63 - 1
"""The latest receive time a capture may give: 64-bit nanoseconds (year 2262)."""


class Frame(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded frame."""

    received_ns: int
    source: Literal["ws", "rest"]
    payload: str
    url: str = ""


_SECONDS = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,30}))?")


def _seconds_to_ns(text: str, path: str | Path, number: int) -> int:
    """Plain decimal seconds to ns, exactly (truncated past the ns), never through float."""
    match = _SECONDS.fullmatch(text.strip(" "))
    if match is not None:
        whole, fraction = match.groups()
        ns = int(whole) * 1_000_000_000 + int((fraction or "")[:9].ljust(9, "0"))
        if ns <= MAX_NS:
            return ns
    raise CaptureFormatError(f"{path}:{number}: not a timestamp in seconds: {text[:40]!r}")


def integer_ns(text: str) -> int | None:
    """``text`` as a receive time in ns if it is plain digits within `MAX_NS`, else None."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_NS))):
        return None
    ns = int(text)
    return ns if ns <= MAX_NS else None


def numbered_lines(
    path: str | Path, lines: Iterable[bytes], first: int = 1
) -> Iterator[tuple[int, str]]:
    """``(number, text)`` of each line of a capture read in binary, without its line end.

    Each line is decoded on its own, so text that is not UTF-8 is a `CaptureFormatError`
    naming its line; so is a gzip file that is corrupt or cut short.
    """
    number = first - 1
    try:
        for number, raw in enumerate(lines, first):
            try:
                text = raw.decode()
            except UnicodeDecodeError as exc:
                raise CaptureFormatError(
                    f"{path}:{number}: not UTF-8 ({exc.reason} at byte {exc.start})"
                ) from None
            yield number, text.removesuffix("\n").removesuffix("\r")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CaptureFormatError(f"{path}:{number + 1}: unreadable gzip: {exc}") from exc


def read_cryptofeed(path: str | Path) -> Iterator[Frame]:
    """Frames of a cryptofeed ``*.ws.*`` or ``*.http.*`` capture."""
    with Path(path).open("rb") as lines:
        yield from cryptofeed_frames(path, lines)


def cryptofeed_frames(path: str | Path, lines: Iterable[bytes]) -> Iterator[Frame]:
    """Frames of the cryptofeed capture lines ``lines`` (of the file ``path``)."""
    for number, line in numbered_lines(path, lines):
        if not line:
            continue
        head, sep, body = line.partition(": ")
        if " <- " in head or " <-> " in head:
            continue  # what the client sent, or a connection opening
        if not sep:
            raise CaptureFormatError(f"{path}:{number}: no ': ' separator")
        if " -> " in head:
            url, _, stamp = head.partition(" -> ")
            received_ns = _seconds_to_ns(stamp, path, number)
            yield Frame(received_ns=received_ns, source="rest", payload=body, url=url)
        else:
            yield Frame(received_ns=_seconds_to_ns(head, path, number), source="ws", payload=body)


def read_hftbacktest(path: str | Path) -> Iterator[Frame]:
    """Frames of an hftbacktest gzip capture (Binance)."""
    with gzip.open(path, "rb") as lines:
        yield from hftbacktest_frames(path, lines)


def hftbacktest_frames(path: str | Path, lines: Iterable[bytes]) -> Iterator[Frame]:
    """Frames of the hftbacktest capture lines ``lines`` (of the file ``path``)."""
    for number, line in numbered_lines(path, lines):
        stamp, sep, body = line.partition(" ")
        received_ns = integer_ns(stamp)
        if not sep or received_ns is None:
            raise CaptureFormatError(f"{path}:{number}: expected '<ns> <json>'")
        source: Literal["ws", "rest"] = "rest" if body.startswith('{"lastUpdateId"') else "ws"
        yield Frame(received_ns=received_ns, source=source, payload=body)


def read_capture(path: str | Path) -> Iterator[Frame]:
    """Frames of ``path`` in any supported format.

    tradeactors' own (recognised by its header), hftbacktest (``.gz``) or cryptofeed.
    """
    if str(path).endswith(".gz"):
        return read_hftbacktest(path)
    from tradeactors.venues.recording import HEADER, read_recording  # noqa: PLC0415 - cycle

    with Path(path).open("rb") as head:
        first = head.readline()
    if first.removesuffix(b"\n").removesuffix(b"\r") == HEADER.encode():
        return read_recording(path)
    return read_cryptofeed(path)
