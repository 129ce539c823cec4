"""Issue 18: capture readers refuse bad lines by line number, and bad frames never stop a replay.

Timestamps like ``Infinity``, ``1e999999``, ``NaN`` or ``-1`` crashed the capture reader
(``OverflowError``, ``decimal.Overflow``) or were accepted; a capture with three deeply
nested frames crash-looped the replay (``RecursionError`` in the feed) until the tree
failed and ``tradeactors replay`` hung. Now a reader yields frames or raises
``CaptureFormatError`` naming the line, and a replay drops such frames as ``too_deep``.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tradeactors.venues.capture import (
    CaptureFormatError,
    read_capture,
    read_cryptofeed,
    read_hftbacktest,
)
from tradeactors.venues.recording import HEADER, read_recording

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}")
DEPTH_LINE = (
    '1633998512.1: {"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate","s":"NKNUSDT",'
    '"U":1,"u":2,"b":[],"a":[]}}'
)
BAD_STAMPS = [
    "Infinity", "-Infinity", "NaN", "sNaN", "1e999999", "1E9", "-1", "-0.5", "+1", "1_000",
    "\uff11\uff12\uff13", "\u0661\u0662", "", "1.5e3", "0x10", "9" * 30, "99999999999.9",
    "1633998512.", ".5",
]  # fmt: skip


class TestTimestamps:
    @pytest.mark.parametrize("stamp", BAD_STAMPS)
    def test_a_cryptofeed_timestamp_that_is_not_plain_seconds_names_its_line(self, tmp_path, stamp):
        capture = tmp_path / "BINANCE.ws"
        capture.write_text(DEPTH_LINE + "\n" + DEPTH_LINE.replace("1633998512.1", stamp) + "\n")
        with pytest.raises(CaptureFormatError, match=r"BINANCE\.ws:2: not a timestamp"):
            list(read_capture(capture))

    @pytest.mark.parametrize("stamp", ["Infinity", "1e999999", "NaN", "-1"])
    def test_a_rest_answer_timestamp_is_checked_too(self, tmp_path, stamp):
        capture = tmp_path / "BINANCE.http"
        capture.write_text(f'https://x/api/v3/depth?symbol=X -> {stamp}: {{"lastUpdateId":1}}\n')
        with pytest.raises(CaptureFormatError, match=r"BINANCE\.http:1: not a timestamp"):
            list(read_cryptofeed(capture))

    def test_plain_seconds_keep_every_digit_down_to_the_nanosecond(self, tmp_path):
        capture = tmp_path / "BINANCE.ws"
        stamps = ["1633998512.0633569", "1633998512", "1633998512.1234567899", "0.000000001"]
        capture.write_text("".join(DEPTH_LINE.replace("1633998512.1", s) + "\n" for s in stamps))
        assert [f.received_ns for f in read_capture(capture)] == [
            1633998512063356900, 1633998512000000000, 1633998512123456789, 1,
        ]  # fmt: skip

    @pytest.mark.parametrize("stamp", ["Infinity", "-1", "9" * 30, "9223372036854775808", "1e9"])
    def test_an_hftbacktest_or_recording_timestamp_beyond_64_bit_ns_names_its_line(
        self, tmp_path, stamp
    ):
        good = '1 {"stream":"ethusdt@trade","data":{}}\n'
        hft = tmp_path / "eth.gz"
        hft.write_bytes(gzip.compress((good + f"{stamp} {{}}\n").encode()))
        with pytest.raises(CaptureFormatError, match=r"eth\.gz:2:"):
            list(read_hftbacktest(hft))
        recording = tmp_path / "own.capture"
        recording.write_text(f"{HEADER}\n1 ws {{}}\n{stamp} ws {{}}\n")
        with pytest.raises(CaptureFormatError, match=r"own\.capture:3:"):
            list(read_capture(recording))

    def test_the_latest_64_bit_receive_time_is_read(self, tmp_path):
        recording = tmp_path / "own.capture"
        recording.write_text(f"{HEADER}\n9223372036854775807 ws {{}}\n")
        assert [f.received_ns for f in read_recording(recording)] == [2**63 - 1]


class TestUnreadableFiles:
    def test_bytes_that_are_not_utf8_name_their_line(self, tmp_path):
        capture = tmp_path / "BINANCE.ws"
        capture.write_bytes((DEPTH_LINE + "\n").encode() * 2 + b"1633998512.2: {\xff}\n")
        with pytest.raises(CaptureFormatError, match=r"BINANCE\.ws:3: not UTF-8"):
            list(read_capture(capture))

    def test_a_first_line_that_is_not_utf8_is_a_format_error_not_a_unicode_error(self, tmp_path):
        capture = tmp_path / "BINANCE.ws"
        capture.write_bytes(b"\xed\xa0\x80: {}\n")  # an encoded surrogate
        with pytest.raises(CaptureFormatError, match=r"BINANCE\.ws:1: not UTF-8"):
            list(read_capture(capture))

    @pytest.mark.parametrize("cut", [5, 30, -8])
    def test_a_gzip_capture_cut_short_or_corrupt_is_a_format_error(self, tmp_path, cut):
        data = gzip.compress(b"".join(b'%d {"x":1}\n' % n for n in range(1, 2000)))
        broken = tmp_path / "cut.gz"
        broken.write_bytes(data[:cut] if cut > 0 else data[:cut] + b"\x00" * 3)
        with pytest.raises(CaptureFormatError, match=r"cut\.gz:\d+: unreadable gzip"):
            list(read_capture(broken))

    def test_a_file_that_is_not_gzip_is_a_format_error(self, tmp_path):
        fake = tmp_path / "fake.gz"
        fake.write_text("1 {}\n")
        with pytest.raises(CaptureFormatError, match=r"fake\.gz:1: unreadable gzip"):
            list(read_capture(fake))


def test_a_deeply_nested_payload_is_a_frame_for_the_decoder_not_a_format_error(tmp_path):
    capture = tmp_path / "BINANCE.ws"
    capture.write_text(DEPTH_LINE.replace('"a":[]', '"a":' + "[" * 100_000) + "\n")
    (frame,) = read_capture(capture)
    assert frame.payload.endswith("[" * 100 + "}}")


@needs_data
def test_fuzzed_capture_lines_are_read_or_refused_by_line_number_never_a_crash():
    from test_decoders_fuzz import load_harness

    report = load_harness().fuzz_captures(5_000, seed=18)
    assert report.crash_count == 0, "\n".join(report.samples)
    assert report.dropped["CaptureFormatError"] > 1000
    assert report.outcomes["read"] > 1000
    assert report.mutations["gzip"] == 200


# -- a replay with deeply nested frames runs to the end --------------------------------------

DEEP = "[" * 5000 + "]" * 5000
BINANCE_DEEP = [  # three places the decoder must skip deep JSON: Raw data, field, envelope
    '{"stream":"nknusdt@depth@100ms","data":%s}' % DEEP,  # noqa: UP031
    '{"stream":"nknusdt@trade","data":{"e":"trade","x":%s}}' % DEEP,  # noqa: UP031
    '{"x":%s,"stream":"nknusdt@bookTicker","data":{}}' % DEEP,  # noqa: UP031
]  # none says "depthUpdate": only the feed decodes them (the crash loop and hang)


def _binance_capture_with_deep_frames(tmp_path: Path) -> Path:
    lines = (DATA / "cryptofeed" / "BINANCE.ws.1.0").read_text().splitlines()
    out = []
    for number, line in enumerate(lines):
        out.append(line)
        if number in (20, 80, 150):  # between real frames, with their timestamps
            stamp = line.partition(": ")[0]
            out.append(f"{stamp}: {BINANCE_DEEP[len(out) % 3]}")
    capture = tmp_path / "BINANCE.ws.deep"
    capture.write_text("\n".join(out) + "\n")
    return capture


@needs_data
@pytest.mark.supervision
def test_a_binance_capture_with_three_deeply_nested_frames_replays_to_the_end(tmp_path):
    from tradeactors.replay import run_replay

    capture = _binance_capture_with_deep_frames(tmp_path)
    registry = CollectorRegistry()
    rest = DATA / "cryptofeed" / "BINANCE.http.0.0"
    clean = run_replay([rest, DATA / "cryptofeed" / "BINANCE.ws.1.0"], "binance", timeout=60)
    summary = run_replay([rest, capture], "binance", verify=True, registry=registry, timeout=60)
    assert summary.feed.finished
    assert summary.feed.dropped == {**clean.feed.dropped, "too_deep": 3}  # and the klines
    labels = {"venue": "binance", "reason": "too_deep"}
    assert registry.get_sample_value("tradeactors_feed_dropped_total", labels) == 3
    assert sum(b.updates for b in summary.books.values()) == 177
    assert summary.ok


@needs_data
@pytest.mark.supervision
def test_a_kraken_capture_with_three_deeply_nested_frames_replays_to_the_end(tmp_path):
    from tradeactors.replay import run_replay

    lines = (DATA / "cryptofeed" / "KRAKEN.ws.50.0").read_text().splitlines()
    for number in (100, 2000, 4000):
        stamp = lines[number].partition(": ")[0]
        lines.insert(number + 1, f'{stamp}: [1664,{{"a":[]}},"book-1000","WAVES/EUR",{DEEP}]')
    capture = tmp_path / "KRAKEN.ws.deep"
    capture.write_text("\n".join(lines) + "\n")
    summary = run_replay([capture], "kraken", verify=True, timeout=60)
    assert summary.feed.finished
    assert summary.feed.dropped == {"too_deep": 3}
    assert summary.feed.frames == 4321 + 3
    assert sum(b.checksum_matched for b in summary.books.values()) == 4269
    assert summary.ok


@needs_data
@pytest.mark.supervision
@pytest.mark.parametrize("runtime", ["threads", "gevent"])
def test_the_replay_command_counts_deeply_nested_frames_as_dropped_and_exits(runtime, tmp_path):
    capture = _binance_capture_with_deep_frames(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "replay", "--venue", "binance", "--verify",
         "--runtime", runtime, str(DATA / "cryptofeed" / "BINANCE.http.0.0"), str(capture)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "too_deep 3" in done.stdout.partition("dropped:")[2].splitlines()[0]
    assert "verdict: ok" in done.stdout
