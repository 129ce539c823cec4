"""Binance spot decoding and the local-book procedure, on rules and on real captures."""

from __future__ import annotations

import heapq
from pathlib import Path

import msgspec
import pytest

from tradeactors.core.instrument import Instrument
from tradeactors.venues.binance import (
    BookTicker,
    DepthSnapshot,
    DepthSync,
    DepthUpdate,
    FrameKind,
    SyncResult,
    Trade,
    decode_frame,
    replay,
)
from tradeactors.venues.capture import read_capture

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}")
INSTRUMENT = Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.01", lot_size="0.00001")


def diff(first: int, last: int, bids=(), asks=(), pu: int | None = None) -> DepthUpdate:
    return DepthUpdate(s="BTCUSDT", U=first, u=last, b=tuple(bids), a=tuple(asks), pu=pu)


def snapshot(last: int) -> DepthSnapshot:
    return DepthSnapshot(
        lastUpdateId=last,
        bids=(("100.00", "1.00000"), ("99.00", "2.00000")),
        asks=(("101.00", "1.50000"),),
    )


class TestDecoding:
    def test_combined_stream_frames_decode_into_narrow_structs(self):
        kind, event = decode_frame(
            '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT",'
            '"U":5,"u":7,"b":[["100.00","1.0"]],"a":[],"extra":"ignored"}}'
        )
        assert kind is FrameKind.DEPTH
        assert event == DepthUpdate(s="BTCUSDT", U=5, u=7, b=(("100.00", "1.0"),), a=(), E=1)
        kind, event = decode_frame(
            '{"stream":"btcusdt@bookTicker","data":{"u":9,"s":"BTCUSDT","b":"1","B":"2","a":"3","A":"4"}}'
        )
        assert (kind, event) == (
            FrameKind.BOOK_TICKER,
            BookTicker(u=9, s="BTCUSDT", b="1", B="2", a="3", A="4"),
        )
        kind, event = decode_frame(
            '{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","p":"1","q":"2","T":3,"m":true}}'
        )
        assert kind is FrameKind.TRADE
        assert isinstance(event, Trade)

    @pytest.mark.parametrize(
        "frame",
        ["not json", '{"stream":"x@depth","data":{"s":"X"}}', '{"data":{}}', "[1,2]"],
    )
    def test_malformed_frames_raise_decode_errors(self, frame):
        with pytest.raises(msgspec.DecodeError):
            decode_frame(frame)

    def test_an_unknown_stream_is_a_value_error(self):
        with pytest.raises(ValueError, match="unknown stream"):
            decode_frame('{"stream":"btcusdt@mystery","data":{}}')


class TestSpotProcedure:
    def test_diffs_are_buffered_until_the_snapshot_and_those_it_covers_dropped(self):
        sync = DepthSync(INSTRUMENT)
        assert sync.needs_snapshot
        assert sync.on_diff(diff(1, 10, bids=[("100.00", "9.00000")])) is SyncResult.BUFFERED
        assert sync.on_diff(diff(11, 12, asks=[("101.00", "0")])) is SyncResult.BUFFERED
        assert sync.on_snapshot(snapshot(10)) is SyncResult.SYNCED
        assert sync.book.best_bid() == (10000, 100000)  # the covered diff was dropped
        assert sync.book.best_ask() is None  # the 11-12 diff was applied
        assert sync.book.update_id == 12
        sync.book.check_invariants()

    def test_the_first_diff_after_the_snapshot_must_straddle_last_update_id(self):
        sync = DepthSync(INSTRUMENT)
        sync.on_snapshot(snapshot(10))
        assert sync.on_diff(diff(9, 12)) is SyncResult.APPLIED
        assert sync.on_diff(diff(13, 13)) is SyncResult.APPLIED

    def test_a_gap_clears_the_book_and_asks_for_a_new_snapshot(self):
        sync = DepthSync(INSTRUMENT)
        sync.on_snapshot(snapshot(10))
        assert sync.on_diff(diff(11, 12)) is SyncResult.APPLIED
        assert sync.on_diff(diff(14, 15)) is SyncResult.GAP
        assert sync.needs_snapshot
        assert len(sync.book) == 0
        assert sync.on_diff(diff(16, 17)) is SyncResult.BUFFERED
        assert sync.on_snapshot(snapshot(15)) is SyncResult.SYNCED
        assert sync.book.update_id == 17

    def test_a_snapshot_older_than_the_buffered_stream_is_refused(self):
        sync = DepthSync(INSTRUMENT)
        sync.on_diff(diff(20, 21))
        assert sync.on_snapshot(snapshot(10)) is SyncResult.SNAPSHOT_TOO_OLD
        assert sync.needs_snapshot
        assert sync.on_snapshot(snapshot(20)) is SyncResult.SYNCED

    def test_an_already_applied_diff_is_dropped_as_stale(self):
        sync = DepthSync(INSTRUMENT)
        sync.on_snapshot(snapshot(10))
        sync.on_diff(diff(11, 12))
        assert sync.on_diff(diff(11, 12)) is SyncResult.STALE

    @pytest.mark.parametrize("bad", ["-1.00", "abc", "100.001"])
    def test_a_level_that_does_not_parse_rebuilds_the_book_instead_of_guessing(self, bad):
        sync = DepthSync(INSTRUMENT)
        sync.on_snapshot(snapshot(10))
        assert sync.on_diff(diff(11, 12, bids=[(bad, "1.0")])) is SyncResult.BAD_LEVEL
        assert sync.needs_snapshot
        assert len(sync.book) == 0


class TestFuturesProcedure:
    def test_continuity_follows_pu_and_the_first_diff_may_end_at_last_update_id(self):
        sync = DepthSync(INSTRUMENT, mode="futures")
        sync.on_diff(diff(5, 10, pu=4))
        assert sync.on_snapshot(snapshot(10)) is SyncResult.SYNCED
        assert sync.book.update_id == 10
        assert sync.on_diff(diff(12, 15, pu=10)) is SyncResult.APPLIED  # U need not be u+1
        assert sync.on_diff(diff(16, 18, pu=14)) is SyncResult.GAP


@needs_data
class TestRealCaptures:
    def test_ethusdt_six_minutes_sync_without_gaps_and_agree_with_every_book_ticker(self):
        eth = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.00001")
        (report,) = replay(
            read_capture(DATA / "hftbacktest" / "ethusdt_20240808.gz"), {"ETHUSDT": eth}
        ).values()
        assert report.synced
        assert report.gaps == report.bad_levels == 0
        assert report.applied == 3432
        assert report.tickers_compared == report.applied
        assert report.ticker_persistent_mismatches == 0
        assert report.ok

    def test_the_four_cryptofeed_symbols_sync_and_agree_with_book_ticker(self):
        symbols = ("NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR")
        instruments = {
            s: Instrument(venue="binance", symbol=s, tick_size="0.00000001", lot_size="0.00000001")
            for s in symbols
        }
        frames = heapq.merge(
            read_capture(DATA / "cryptofeed" / "BINANCE.http.0.0"),
            read_capture(DATA / "cryptofeed" / "BINANCE.ws.1.0"),
            key=lambda frame: frame.received_ns,
        )
        reports = replay(frames, instruments)
        assert sum(r.diffs for r in reports.values()) == 177
        for report in reports.values():
            assert report.ok, report
            assert report.snapshots == 1
            assert report.gaps == 0


def test_diffs_after_a_gap_in_the_buffer_are_kept_for_the_next_snapshot():
    sync = DepthSync(INSTRUMENT)
    for first, last in [(101, 101), (105, 105), (106, 106)]:
        sync.on_diff(diff(first, last))
    assert sync.on_snapshot(snapshot(100)) is SyncResult.GAP
    assert sync.on_snapshot(snapshot(104)) is SyncResult.SYNCED
    assert sync.book.update_id == 106
    assert sync.on_diff(diff(107, 107)) is SyncResult.APPLIED


def test_a_book_ticker_that_does_not_parse_is_counted_not_raised():
    from tradeactors.venues.binance import TickerCheck

    check = TickerCheck(INSTRUMENT)
    check.add_ticker(BookTicker(u=1, s="BTCUSDT", b="abc", B="1", a="2", A="1"))
    assert check.bad_tickers == 1
    assert check.tally() == (0, 0, 0)


def test_mismatches_on_either_side_of_a_resync_are_not_one_persistent_error():
    from tradeactors.venues.binance import TickerCheck

    check = TickerCheck(INSTRUMENT)
    check.add_ticker(BookTicker(u=10, s="BTCUSDT", b="1.00", B="1", a="2.00", A="1"))
    sync = DepthSync(INSTRUMENT)
    sync.on_snapshot(snapshot(10))  # its top differs from the ticker
    check.record(sync.book)
    check.resynced()
    check.record(sync.book)
    assert check.tally() == (2, 2, 0)
    check.record(sync.book)
    assert check.tally() == (3, 3, 1)


class TestHostileInput:
    """Issue 18: whatever a frame holds, decoding drops it with a reason and books never lie."""

    DEEP = "[" * 5000 + "]" * 5000

    @staticmethod
    def _dropped(payload: str, source: str = "ws") -> str:
        from tradeactors.errors import FrameDroppedError
        from tradeactors.venues.binance import ADAPTER
        from tradeactors.venues.capture import Frame

        frame = Frame(received_ns=1, source=source, payload=payload)  # type: ignore[arg-type]
        with pytest.raises(FrameDroppedError) as caught:
            ADAPTER.market_data.decode(frame)
        return caught.value.reason

    @pytest.mark.parametrize(
        "payload",
        [
            '{"stream":"x@depth","data":%s}' % DEEP,  # noqa: UP031 - reads as the frame
            '{"stream":"x@depth","data":{"s":"X","U":1,"u":2,"b":%s,"a":[]}}' % DEEP,  # noqa: UP031
            '{"extra":%s,"stream":"x@depth"}' % ('{"a":' * 3000 + "1" + "}" * 3000),
            '{"stream":"x@trade","data":{"e":"trade","unused":%s}}' % DEEP,  # noqa: UP031
        ],
    )
    def test_json_nested_too_deeply_is_dropped_as_too_deep_and_never_a_recursion_error(
        self, payload
    ):
        assert self._dropped(payload) == "too_deep"
        with pytest.raises(msgspec.DecodeError, match="nested too deeply"):
            decode_frame(payload)

    def test_a_deeply_nested_snapshot_is_dropped_as_too_deep(self):
        from tradeactors.venues.binance import decode_snapshot

        # typed fields refuse an array where a string goes at once: the skipped field nests
        body = '{"lastUpdateId":1,"bids":[],"asks":[],"x":%s}' % ("[" * 5000 + "]" * 5000)
        assert self._dropped(body, source="rest") == "too_deep"
        with pytest.raises(msgspec.DecodeError, match="nested too deeply"):
            decode_snapshot(body)

    @pytest.mark.parametrize(
        "data",
        [
            '{"s":"X","U":1,"u":123456789012345678901234567890,"b":[],"a":[]}',  # > 64 bits
            '{"s":"X","U":-1,"u":2,"b":[],"a":[]}',
            '{"s":"X","U":1,"u":1e999999,"b":[],"a":[]}',
            '{"s":"X","U":5,"u":4,"b":[],"a":[]}',  # first id after the last
            '{"s":"X","U":1,"u":2,"b":[["1","2","3"]],"a":[]}',
            '{"s":"X","U":1,"u":2,"b":[[1.5,"2"]],"a":[]}',
            '{"s":"\ud800","U":1,"u":2,"b":[],"a":[]}',  # a lone surrogate: not UTF-8
        ],
    )
    def test_out_of_range_ids_wrong_types_and_lone_surrogates_are_malformed(self, data):
        payload = '{"stream":"x@depth","data":%s}' % data  # noqa: UP031
        assert self._dropped(payload) == "malformed"
        with pytest.raises(msgspec.DecodeError):
            decode_frame(payload)

    @pytest.mark.parametrize("body", ["NaN", '{"lastUpdateId":Infinity,"bids":[],"asks":[]}'])
    def test_nan_and_infinity_are_not_json(self, body):
        assert self._dropped(body, source="rest") == "malformed_snapshot"

    @pytest.mark.parametrize(
        "bad",
        ["0", "0.00", "-0", "1e5", "NaN", "Infinity", "0.0000000000000000000000001",
         "1" + "0" * 59, "92233720368547758.08", "\u0661.00", "1.0.0", ""],
    )  # fmt: skip
    def test_level_prices_a_book_must_not_hold_are_refused_and_the_book_resyncs(self, bad):
        sync = DepthSync(INSTRUMENT)
        assert sync.on_snapshot(snapshot(10)) is SyncResult.SYNCED
        assert sync.on_diff(diff(11, 12, bids=[(bad, "1.00000")])) is SyncResult.BAD_LEVEL
        assert sync.needs_snapshot
        assert len(sync.book) == 0
        bad_snapshot = DepthSnapshot(lastUpdateId=20, bids=((bad, "1.00000"),), asks=())
        assert sync.on_snapshot(bad_snapshot) is SyncResult.BAD_LEVEL
        assert len(sync.book) == 0

    @pytest.mark.parametrize("bad", ["-1.00000", "1e5", "1" + "0" * 59, "92233720368547.75808"])
    def test_level_sizes_a_book_must_not_hold_are_refused(self, bad):
        sync = DepthSync(INSTRUMENT)
        sync.on_snapshot(snapshot(10))
        assert sync.on_diff(diff(11, 12, asks=[("105.00", bad)])) is SyncResult.BAD_LEVEL

    @pytest.mark.parametrize("bid", ["101.00", "102.00"])  # locked, then crossed
    def test_a_diff_that_would_cross_the_book_clears_it_and_asks_for_a_snapshot(self, bid):
        sync = DepthSync(INSTRUMENT)
        sync.on_snapshot(snapshot(10))
        assert sync.on_diff(diff(11, 12, bids=[(bid, "1.00000")])) is SyncResult.CROSSED
        assert sync.needs_snapshot
        assert len(sync.book) == 0
        assert sync.on_snapshot(snapshot(12)) is SyncResult.SYNCED
        sync.book.check_invariants()

    def test_a_diff_that_uncrosses_in_the_same_update_is_applied(self):
        sync = DepthSync(INSTRUMENT)
        sync.on_snapshot(snapshot(10))
        result = sync.on_diff(diff(11, 12, bids=[("101.00", "1.00000")], asks=[("101.00", "0")]))
        assert result is SyncResult.APPLIED
        assert sync.book.best_bid() == (10100, 100000)
        sync.book.check_invariants()

    def test_a_crossed_snapshot_is_never_applied(self):
        sync = DepthSync(INSTRUMENT)
        sync.on_diff(diff(11, 12))
        crossed = DepthSnapshot(
            lastUpdateId=10, bids=(("101.00", "1.00000"),), asks=(("100.00", "1.00000"),)
        )
        assert sync.on_snapshot(crossed) is SyncResult.CROSSED
        assert sync.needs_snapshot
        assert len(sync.book) == 0
        assert sync.on_snapshot(snapshot(10)) is SyncResult.SYNCED  # the buffer starts over
        assert sync.book.update_id == 10

    def test_a_buffered_diff_that_crosses_the_new_snapshot_fails_the_snapshot(self):
        sync = DepthSync(INSTRUMENT)
        sync.on_diff(diff(11, 12, asks=[("99.00", "1.00000")]))
        assert sync.on_snapshot(snapshot(10)) is SyncResult.CROSSED
        assert sync.needs_snapshot
        assert len(sync.book) == 0

    def test_the_adapter_resyncs_a_crossed_book(self):
        from tradeactors.venues.adapter import BookOutcome
        from tradeactors.venues.binance import ADAPTER

        sync = ADAPTER.market_data.book_sync(INSTRUMENT, mode="spot", max_depth=1000)
        assert sync.on_event(snapshot(10)) is BookOutcome.SYNCED
        outcome = sync.on_event(diff(11, 12, bids=[("101.00", "1.00000")]))
        assert outcome is BookOutcome.CROSSED
        assert outcome.resyncs
        assert not sync.synced

    @pytest.mark.parametrize(
        ("price", "quantity", "time_ms"),
        [("0", "1", 1), ("1.00", "0", 1), ("1" + "0" * 59, "1", 1), ("1.00", "1", 2**63 - 1)],
    )
    def test_a_trade_of_nothing_at_nothing_or_beyond_64_bits_is_a_parse_error(
        self, price, quantity, time_ms
    ):
        from tradeactors.errors import ParseError
        from tradeactors.venues.binance import ADAPTER

        trade = Trade(e="trade", s="BTCUSDT", p=price, q=quantity, T=time_ms, m=True)
        with pytest.raises(ParseError):
            ADAPTER.market_data.trade_tick(INSTRUMENT, trade)
