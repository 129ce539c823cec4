"""The seeded synthetic market: reproducible, valid Binance frames that sync exactly."""

from __future__ import annotations

import pytest

from tradeactors.core.instrument import Instrument
from tradeactors.venues.binance import replay
from tradeactors.venues.synthetic import synthetic_binance

SYN = Instrument(venue="binance", symbol="SYNUSDT", tick_size="0.01", lot_size="0.001")


def test_the_same_seed_gives_the_same_frames_and_another_seed_does_not():
    assert synthetic_binance(SYN, seed=1, diffs=50) == synthetic_binance(SYN, seed=1, diffs=50)
    assert synthetic_binance(SYN, seed=1, diffs=50) != synthetic_binance(SYN, seed=2, diffs=50)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_frames_sync_without_gaps_and_agree_with_their_tickers(seed):
    frames = synthetic_binance(SYN, seed=seed, diffs=1500)
    (report,) = replay(frames, {"SYNUSDT": SYN}).values()
    assert report.synced
    assert report.applied == 1500
    assert report.gaps == report.bad_levels == 0
    assert report.tickers_compared == 1500
    assert report.ticker_mismatches == 0
