"""Recording from a websocket venue on 127.0.0.1, then replaying what was recorded."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from websockets.sync.server import ServerConnection, serve

from tradeactors.replay import run_replay
from tradeactors.venues.capture import read_capture
from tradeactors.venues.recording import HEADER, read_recording

if TYPE_CHECKING:
    from collections.abc import Iterator

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}")


class Venue:
    """A tiny Binance look-alike: replays captured frames over ws, serves the snapshot."""

    def __init__(self) -> None:
        frames = list(read_capture(DATA / "hftbacktest" / "ethusdt_20240808.gz"))
        self.snapshot = next(f.payload for f in frames if f.source == "rest")
        self.stream = [f.payload for f in frames if f.source == "ws"][:400]
        self.received: list[str] = []

    def handler(self, connection: ServerConnection) -> None:
        self.received.append(str(connection.recv(timeout=10)))  # the subscription
        for payload in self.stream:
            connection.send(payload)

    def http_handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        body = self.snapshot.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


@pytest.fixture
def venue() -> Iterator[tuple[Venue, str, str]]:
    fake = Venue()
    ws_server = serve(fake.handler, "127.0.0.1", 0)
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), fake.http_handler())
    threads = [
        threading.Thread(target=ws_server.serve_forever),
        threading.Thread(target=http_server.serve_forever),
    ]
    for thread in threads:
        thread.start()
    ws_port = ws_server.socket.getsockname()[1]
    http_port = http_server.server_address[1]
    try:
        yield (
            fake,
            f"ws://127.0.0.1:{ws_port}/stream",
            f"http://127.0.0.1:{http_port}/api/v3/depth?symbol=ETHUSDT&limit=1000",
        )
    finally:
        ws_server.shutdown()
        http_server.shutdown()
        http_server.server_close()
        for thread in threads:
            thread.join(10)


def test_record_writes_every_frame_with_its_receive_time_and_replay_syncs_from_it(venue, tmp_path):
    fake, ws_url, rest_url = venue
    out = tmp_path / "eth.capture"
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "record", "--venue", "binance",
         "--url", ws_url, "--out", str(out), "--send", '{"method":"SUBSCRIBE","id":1}',
         "--rest", rest_url, "--max-frames", "401"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "recorded 401 frames" in result.stdout
    assert fake.received == ['{"method":"SUBSCRIBE","id":1}']
    assert out.read_text().splitlines()[0] == HEADER
    frames = list(read_recording(out))
    assert [f.source for f in frames[:2]] == ["rest", "ws"]
    assert [f.payload for f in frames[1:]] == fake.stream
    stamps = [f.received_ns for f in frames]
    assert stamps == sorted(stamps)
    summary = run_replay([out], "binance", verify=True)
    (book,) = summary.books.values()
    assert book.synced
    assert book.applied > 0
    assert book.ticker_persistent_mismatches == 0


def test_an_unreachable_venue_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "record", "--venue", "binance",
         "--url", "ws://127.0.0.1:9/none", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "tradeactors record: ws://127.0.0.1:9/none" in result.stderr
    assert "Traceback" not in result.stderr
