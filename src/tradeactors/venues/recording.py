"""Recording live market data, and tradeactors' own capture format.

One frame per line, after a header line::

    # tradeactors-capture v1
    <received_ns> ws <payload>
    <received_ns> rest <url> <payload>

Payloads are the raw text as received (single-line JSON for both venues); the URL of a
REST answer never contains a space. `Recorder` connects with websocket-client, sends
the subscription messages given, fetches the REST URLs given (Binance depth snapshots)
right after connecting, and writes every received frame with its receive time. It writes
nothing, not even the header, until the venue has answered: a recording that fails to
connect leaves its file empty, and `Recorder.frames_written` tells a caller whether
the file has anything worth keeping.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import websocket

from tradeactors._websocket import connect
from tradeactors.venues.capture import CaptureFormatError, Frame, integer_ns, numbered_lines

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from tradeactors.clock import Clock

__all__ = ["HEADER", "Recorder", "read_recording", "recording_frames", "write_frame"]

HEADER = "# tradeactors-capture v1"


def write_frame(out: TextIO, frame: Frame) -> None:
    """Append ``frame`` to ``out`` in the capture format."""
    payload = frame.payload.replace("\r", " ").replace("\n", " ")  # JSON whitespace
    if frame.source == "rest":
        out.write(f"{frame.received_ns} rest {frame.url} {payload}\n")
    else:
        out.write(f"{frame.received_ns} ws {payload}\n")


def read_recording(path: str | Path) -> Iterator[Frame]:
    """Frames of a file written by `Recorder` (or `write_frame`).

    Raises:
        CaptureFormatError: a line not in the format (naming it), e.g. a receive time
            that is not plain digits within 64-bit nanoseconds, or text not UTF-8.
        OSError: the file cannot be read.

    """
    with Path(path).open("rb") as lines:
        yield from recording_frames(path, lines)


def recording_frames(path: str | Path, lines: Iterable[bytes]) -> Iterator[Frame]:
    """Frames of the capture lines ``lines`` (of the file ``path``), header first."""
    numbered = numbered_lines(path, lines)
    if next(numbered, (1, ""))[1] != HEADER:
        raise CaptureFormatError(f"{path}:1: missing header {HEADER!r}")
    for number, line in numbered:
        stamp, _, rest = line.partition(" ")
        source, _, body = rest.partition(" ")
        received_ns = integer_ns(stamp)
        if received_ns is None or source not in ("ws", "rest"):
            raise CaptureFormatError(f"{path}:{number}: expected '<ns> ws|rest ...'")
        if source == "rest":
            url, _, payload = body.partition(" ")
            yield Frame(received_ns=received_ns, source="rest", url=url, payload=payload)
        else:
            yield Frame(received_ns=received_ns, source="ws", payload=body)


class Recorder:
    """Records one websocket connection (and REST answers) to a capture file."""

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        send: Iterable[str] = (),
        rest: Iterable[str] = (),
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self._clock = clock
        self._send = tuple(send)
        self._rest = tuple(rest)
        self._timeout = timeout
        self.frames_written = 0
        """Frames written by the current (or last) `record`, so far."""

    def record(
        self, out: TextIO, *, duration: float | None = None, max_frames: int | None = None
    ) -> int:
        """Record until ``duration`` s pass, ``max_frames`` arrive, or the venue closes.

        Returns the number of frames written (also in `frames_written` as it goes).
        The header is written once connected: a connection that fails writes nothing.
        Network errors propagate (``websocket.WebSocketException``, ``OSError``).
        """
        self.frames_written = 0
        deadline = None if duration is None else self._clock.monotonic_ns() + int(duration * 1e9)
        connection = connect(self.url, timeout=self._timeout)
        written = 0
        try:
            out.write(HEADER + "\n")
            for message in self._send:
                connection.send(message)
            for url in self._rest:
                with urllib.request.urlopen(url, timeout=self._timeout) as answer:  # noqa: S310 - the user's URL
                    body = answer.read().decode()
                write_frame(
                    out,
                    Frame(received_ns=self._clock.time_ns(), source="rest", url=url, payload=body),
                )
                written = self.frames_written = written + 1
            while max_frames is None or written < max_frames:
                if deadline is not None:
                    remaining = (deadline - self._clock.monotonic_ns()) / 1e9
                    if remaining <= 0:
                        break
                    connection.settimeout(min(self._timeout, remaining))
                try:
                    payload = connection.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                except websocket.WebSocketConnectionClosedException:
                    break
                if not payload:
                    break
                text = payload if isinstance(payload, str) else payload.decode()
                write_frame(
                    out, Frame(received_ns=self._clock.time_ns(), source="ws", payload=text)
                )
                written = self.frames_written = written + 1
        finally:
            connection.close()
            out.flush()
        return written
