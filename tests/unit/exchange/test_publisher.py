"""The simulator's market data is Binance's wire format: the Binance sync reads it exactly."""

from __future__ import annotations

from tradeactors.core.instrument import Instrument
from tradeactors.exchange.liquidity import BackgroundLiquidity
from tradeactors.exchange.matching import MatchingEngine
from tradeactors.exchange.publisher import BinancePublisher
from tradeactors.venues.binance import replay
from tradeactors.venues.capture import Frame

SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")


def test_the_binance_sync_follows_the_simulator_with_no_gap_and_every_ticker_agreeing():
    engine = MatchingEngine()
    liquidity = BackgroundLiquidity(engine, "SIMUSDT", seed=5)
    publisher = BinancePublisher(engine, SIM)
    frames = [
        Frame(received_ns=0, source="ws", payload=p)
        for p in publisher.publish(liquidity.step(0), 0)
    ]
    url = "http://127.0.0.1/api/v3/depth?symbol=SIMUSDT&limit=1000"
    frames.append(Frame(received_ns=1, source="rest", url=url, payload=publisher.snapshot(1000)))
    trades = 0
    for step in range(1, 400):
        now = step * 50_000_000
        payloads = publisher.publish(liquidity.step(now), now)
        trades += sum('"e": "trade"' in p for p in payloads)
        frames.extend(Frame(received_ns=now, source="ws", payload=p) for p in payloads)
    (report,) = replay(frames, {"SIMUSDT": SIM}).values()
    assert report.synced
    assert report.gaps == report.bad_levels == 0
    assert report.applied > 300
    assert report.tickers_compared == report.applied
    assert report.ticker_mismatches == 0
    assert trades > 10
