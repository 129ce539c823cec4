"""Recording from a websocket venue on 127.0.0.1, then replaying what was recorded."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from tradeactors.clock import FakeClock
from tradeactors.replay import run_replay
from tradeactors.venues.recording import HEADER, Recorder, read_recording

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}")


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


def test_a_recording_that_cannot_connect_writes_nothing_not_even_the_header():
    recorder = Recorder("ws://127.0.0.1:9/none", FakeClock(), timeout=5)
    out = io.StringIO()
    with pytest.raises(ConnectionRefusedError):
        recorder.record(out)
    assert out.getvalue() == ""  # was the header alone: a capture of nothing
    assert recorder.frames_written == 0


def test_a_record_command_that_fails_leaves_no_capture_file_behind(tmp_path):
    out = tmp_path / "x.capture"
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "record", "--venue", "binance",
         "--url", "ws://127.0.0.1:9/none", "--out", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert not out.exists()  # was a header-only capture
