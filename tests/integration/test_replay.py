"""Replays of the shared real captures through the feed and book actors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tradeactors.errors import ConfigError, TradeActorsError
from tradeactors.replay import run_replay
from tradeactors.venues.capture import Frame

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = [
    pytest.mark.supervision,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}"),
]
CRYPTOFEED_BINANCE = [
    DATA / "cryptofeed" / "BINANCE.http.0.0",
    DATA / "cryptofeed" / "BINANCE.ws.1.0",
]


def test_every_kraken_update_matches_its_checksum_through_the_actors(registry):
    summary = run_replay(
        [DATA / "cryptofeed" / "KRAKEN.ws.50.0"], "kraken", verify=True, registry=registry
    )
    assert summary.ok
    assert len(summary.books) == 10
    assert sum(b.checksum_matched for b in summary.books.values()) == 4269
    assert sum(b.checksum_mismatched for b in summary.books.values()) == 0
    assert registry.get_sample_value("tradeactors_feed_frames_total", {"venue": "kraken"}) == 4321


def test_every_cryptofeed_binance_symbol_syncs_and_agrees_with_book_ticker():
    summary = run_replay(CRYPTOFEED_BINANCE, "binance", verify=True)
    assert summary.ok
    assert set(summary.books) == {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"}
    assert sum(b.updates for b in summary.books.values()) == 177
    assert not summary.unsynced


def test_six_minutes_of_ethusdt_agree_with_book_ticker_after_every_diff():
    summary = run_replay([DATA / "hftbacktest" / "ethusdt_20240808.gz"], "binance", verify=True)
    (book,) = summary.books.values()
    assert book.synced
    assert book.applied == 3432
    assert book.tickers_compared == 3432
    assert book.ticker_persistent_mismatches == 0


def test_bad_frames_are_counted_and_dropped_and_a_gap_without_a_later_snapshot_is_reported(
    tmp_path,
):
    lines = (DATA / "cryptofeed" / "BINANCE.ws.1.0").read_text().splitlines()
    nkn = [line for line in lines if "nknusdt@depth" in line]
    broken = [
        lines[0],
        nkn[0],
        "1633998512.1: {not json",
        '1633998512.2: {"stream":"nknusdt@mystery","data":{}}',
        '1633998512.3: {"stream":"zzz@depth","data":{"s":"ZZZ","U":1,"u":2,"b":[],"a":[]}}',
        *nkn[1:5],
        *nkn[6:],  # nkn[5] is missing: a gap
    ]
    capture = tmp_path / "BINANCE.ws.broken"
    capture.write_text("\n".join(broken) + "\n")
    registry = CollectorRegistry()
    summary = run_replay([CRYPTOFEED_BINANCE[0], capture], "binance", registry=registry)
    for reason in ("malformed", "unknown_stream", "unknown_symbol"):
        labels = {"venue": "binance", "reason": reason}
        assert registry.get_sample_value("tradeactors_feed_dropped_total", labels) == 1
    labels = {"venue": "binance", "reason": "gap"}
    assert registry.get_sample_value("tradeactors_book_resyncs_total", labels) == 1
    assert summary.feed.dropped == {"malformed": 1, "unknown_stream": 1, "unknown_symbol": 1}
    nkn_book = summary.books["NKNUSDT"]
    assert nkn_book.gaps == 1
    assert not nkn_book.synced
    assert summary.unsynced == ["NKNUSDT"]
    assert not summary.ok


@pytest.mark.parametrize("runtime", ["threads", "gevent"])
def test_the_replay_command_verifies_and_sets_its_exit_status(runtime, tmp_path):
    ok = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "replay", "--venue", "kraken", "--verify",
         "--runtime", runtime, str(DATA / "cryptofeed" / "KRAKEN.ws.50.0")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "verdict: ok" in ok.stdout
    corrupted = tmp_path / "KRAKEN.corrupt"
    text = (DATA / "cryptofeed" / "KRAKEN.ws.50.0").read_text()
    corrupted.write_text(text.replace('"c":"2583817756"', '"c":"1"', 1))
    bad = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "replay", "--venue", "kraken", "--verify",
         "--runtime", runtime, str(corrupted)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "verdict: FAILED" in bad.stdout


def test_frames_are_plain_immutable_records():
    frame = Frame(received_ns=1, source="ws", payload="{}")
    with pytest.raises(AttributeError):
        frame.payload = "x"  # type: ignore[misc]


def test_a_synthetic_market_replays_through_the_actors_in_both_runtimes(tmp_path):
    from tradeactors.core.instrument import Instrument
    from tradeactors.venues.recording import HEADER, write_frame
    from tradeactors.venues.synthetic import synthetic_binance

    instrument = Instrument(
        venue="binance", symbol="SYNUSDT", tick_size="0.00000001", lot_size="0.00000001"
    )
    capture = tmp_path / "synthetic.capture"
    with capture.open("w") as out:
        out.write(HEADER + "\n")
        for frame in synthetic_binance(instrument, seed=11, diffs=800):
            write_frame(out, frame)
    summary = run_replay([capture], "binance", verify=True)
    (book,) = summary.books.values()
    assert summary.ok
    assert book.applied == 800
    assert book.tickers_compared == 800


HERE = Path(__file__).resolve().parent


def test_kraken_books_are_trimmed_to_the_depth_the_capture_subscribed():
    # book-10: a new best ask pushes the 10th out of scope; Kraken then sends no delete
    summary = run_replay([HERE / "data" / "kraken_depth10.cf"], "kraken", verify=True)
    (book,) = summary.books.values()
    assert book.checksum_mismatched == 0
    assert book.levels == 20
    assert summary.ok


def test_a_book_never_in_sync_fails_the_verdict(tmp_path):
    capture = tmp_path / "stale.capture"
    snapshot = '{"lastUpdateId":10,"bids":[["1.00000000","1.00000000"]],"asks":[]}'
    diff = '{"e":"depthUpdate","s":"ABCUSDT","U":50,"u":51,"b":[],"a":[]}'
    capture.write_text(
        "# tradeactors-capture v1\n"
        f"1 rest http://x/api/v3/depth?symbol=ABCUSDT {snapshot}\n"
        f'2 ws {{"stream":"abcusdt@depth@100ms","data":{diff}}}\n'
    )
    summary = run_replay([capture], "binance")
    assert summary.unsynced == ["ABCUSDT"]
    assert not summary.ok
    assert (
        summary.books["ABCUSDT"].stale_snapshots == 0
    )  # the snapshot came first: buffered, never usable


def test_a_binance_capture_without_its_snapshot_names_the_rest_capture_beside_it():
    ws = DATA / "cryptofeed" / "BINANCE.ws.1.0"
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "replay", "--venue", "binance", "--verify",
         str(ws)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2  # was 1, with four books "synced NO" and no reason why
    assert "Traceback" not in result.stderr
    rest = DATA / "cryptofeed" / "BINANCE.http.0.0"
    assert result.stderr.splitlines() == [
        (
            "tradeactors replay: no depth snapshot in the capture for NKNUSDT, BLZETH, LRCBTC, "
            f"RUNEEUR: a Binance book starts from a REST /api/v3/depth answer, and {rest} beside "
            f"it has them: tradeactors replay --venue binance --verify {rest} {ws}"
        )
    ]


def test_a_capture_without_a_snapshot_and_none_beside_it_says_what_to_give(tmp_path):
    capture = tmp_path / "BINANCE.ws.1.0"
    capture.write_bytes((DATA / "cryptofeed" / "BINANCE.ws.1.0").read_bytes())
    with pytest.raises(TradeActorsError, match=r"give the capture of those answers too"):
        run_replay([capture], "binance")


class TestInstrumentFile:
    """Prices are parsed in the instrument file's tick: a price off it is a bad level."""

    def _file(self, tmp_path, venue: str, symbol: str, tick: str) -> Path:
        path = tmp_path / "instruments.toml"
        path.write_text(
            f'[{venue}."{symbol}"]\ntick_size = "{tick}"\nlot_size = "0.00000001"\n'
            'source = "a test: a tick coarser than the capture\'s prices"\n'
        )
        return path

    def test_a_binance_tick_coarser_than_the_capture_s_prices_breaks_its_book(self, tmp_path):
        path = self._file(tmp_path, "binance", "NKNUSDT", "0.001")  # the capture's: 0.00001
        summary = run_replay(CRYPTOFEED_BINANCE, "binance", verify=True, instrument_file=path)
        assert summary.books["NKNUSDT"].bad_levels > 0
        assert not summary.ok
        assert summary.books["BLZETH"].synced  # not in that file: the precision written

    def test_a_kraken_tick_coarser_than_the_capture_s_prices_breaks_its_book(self, tmp_path):
        path = self._file(tmp_path, "kraken", "XBT/CHF", "1")  # the capture's: 0.1
        summary = run_replay(
            [DATA / "cryptofeed" / "KRAKEN.ws.50.0"], "kraken", verify=True, instrument_file=path
        )
        assert summary.books["XBT/CHF"].bad_levels > 0
        assert not summary.ok
        assert summary.books["ETH/CHF"].checksum_mismatched == 0

    def test_the_shipped_file_s_ticks_fit_every_price_of_the_shipped_captures(self):
        # the file's Kraken ticks are coarser than the decimals Kraken v1 writes
        # ("56218.30000" on a 0.1 tick): written back at those decimals, checksums match
        kraken = run_replay([DATA / "cryptofeed" / "KRAKEN.ws.50.0"], "kraken", verify=True)
        assert kraken.ok
        assert sum(b.bad_levels for b in kraken.books.values()) == 0
        binance = run_replay(CRYPTOFEED_BINANCE, "binance", verify=True)
        assert binance.ok
        assert sum(b.bad_levels for b in binance.books.values()) == 0

    def test_an_unreadable_instrument_file_is_one_config_error(self, tmp_path):
        missing = tmp_path / "missing.toml"
        with pytest.raises(ConfigError, match=rf"^cannot read instrument file {missing}"):
            run_replay(CRYPTOFEED_BINANCE, "binance", instrument_file=missing)
