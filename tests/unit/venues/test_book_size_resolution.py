"""Real venue levels finer than the order lot: kept in the book (rounded up), never refused.

Seen on a real Binance capture: ``200000.00 x 25.42618900`` where BTCUSDT's order lot is
``0.00001``. The book used to refuse it as a bad level and wait for a snapshot that never
came; a backtest then covered 5% of its capture.
"""

from __future__ import annotations

from tradeactors.core.instrument import Instrument
from tradeactors.venues.binance import (
    BookTicker,
    DepthSnapshot,
    DepthSync,
    DepthUpdate,
    SyncResult,
    TickerCheck,
)
from tradeactors.venues.kraken import KrakenBook, KrakenResult, decode_book_message

BTC = Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.01", lot_size="0.00001")
SNAPSHOT = DepthSnapshot(
    lastUpdateId=10, bids=(("60000.00", "1.00000000"),), asks=(("200000.00", "0.50000000"),)
)


def _diff(first: int, last: int, bids=(), asks=()) -> DepthUpdate:
    return DepthUpdate(s="BTCUSDT", U=first, u=last, b=tuple(bids), a=tuple(asks))


class TestBinance:
    def test_a_diff_with_a_level_finer_than_the_lot_is_applied_with_its_size_rounded_up(self):
        sync = DepthSync(BTC)
        assert sync.on_snapshot(SNAPSHOT) is SyncResult.SYNCED
        result = sync.on_diff(_diff(11, 12, asks=[("200000.00", "25.42618900")]))
        assert result is SyncResult.APPLIED
        assert sync.book.size_at(20_000_000, bid=False) == 2_542_619  # 2542618.9 lots, up
        sync.book.check_invariants()

    def test_a_snapshot_with_such_levels_syncs(self):
        sync = DepthSync(BTC)
        finer = DepthSnapshot(
            lastUpdateId=10,
            bids=(("60000.00", "0.00000001"),),  # less than a lot: still a level
            asks=(("200000.00", "25.42618900"),),
        )
        assert sync.on_snapshot(finer) is SyncResult.SYNCED
        assert sync.book.bids() == [(6_000_000, 1)]
        assert sync.book.asks() == [(20_000_000, 2_542_619)]

    def test_the_book_agrees_with_a_ticker_that_shows_the_same_finer_size(self):
        sync = DepthSync(BTC)
        sync.on_snapshot(SNAPSHOT)
        sync.on_diff(_diff(11, 12, bids=[("60000.00", "0.12345678")]))
        check = TickerCheck(BTC)
        check.record(sync.book)
        check.add_ticker(
            BookTicker(u=12, s="BTCUSDT", b="60000.00", B="0.12345678", a="200000.00", A="0.5")
        )
        assert check.bad_tickers == 0
        assert check.tally() == (1, 0, 0)  # compared, no mismatch


class TestKraken:
    def test_a_volume_finer_than_the_lot_is_applied_not_refused(self):
        pair = Instrument(venue="kraken", symbol="XBT/USD", tick_size="0.1", lot_size="0.0001")
        book = KrakenBook(pair, depth=10)
        message = decode_book_message(
            '[1,{"as":[["101.0","0.12345678","1"]],"bs":[["99.0","1.0","1"]]},"book-10","XBT/USD"]'
        )
        assert message is not None
        assert book.on_message(message) is KrakenResult.SNAPSHOT
        assert book.book.asks() == [(1010, 1235)]
