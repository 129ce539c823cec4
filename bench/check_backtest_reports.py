"""Backtest reports of the shared captures, to check a change leaves them byte-identical.

Runs `run_backtest` over the shared captures (``../shared/data``): the ETHUSDT capture
and the 4 symbols of the cryptofeed Binance capture, each with the 3 built-in
strategies, both queue models, from the decoded frames and from the compiled capture,
plus a few other configurations on ETHUSDT (log-normal latencies, shallower and deeper
book views). Writes one line per run, ``name sha256-of-the-JSON-report``::

    python bench/check_backtest_reports.py > /tmp/after.txt
    PYTHONPATH=<other checkout>/src python bench/check_backtest_reports.py > /tmp/before.txt
    diff /tmp/before.txt /tmp/after.txt     # nothing: byte-identical

``--reports DIR`` also writes each JSON report there (to see what differs). About 7 s.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import msgspec

from tradeactors.backtest.cache import compile_frames
from tradeactors.backtest.engine import BacktestConfig, run_backtest
from tradeactors.core.instrument import Instrument
from tradeactors.observability import configure_logging
from tradeactors.strategy import make_strategy
from tradeactors.venues.capture import read_capture
from tradeactors.venues.instrument_file import load_instrument_file

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ETHUSDT = DATA / "hftbacktest" / "ethusdt_20240808.gz"
CRYPTOFEED = (DATA / "cryptofeed" / "BINANCE.http.0.0", DATA / "cryptofeed" / "BINANCE.ws.1.0")
ETH = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.00001")
STRATEGIES = ("market_maker", "momentum", "vwap")
QUEUES = ("conservative", "probabilistic")
EXTRA = (  # more configurations on ETHUSDT (compiled and frames)
    ("market_maker", {"queue": "probabilistic", "latency_sigma": 0.5, "seed": 7}),
    ("market_maker", {"depth": 1}),
    ("market_maker", {"depth": 5, "order_latency_ms": 0.0, "response_latency_ms": 0.0}),
    ("market_maker", {"depth": 200, "queue": "probabilistic"}),
    ("momentum", {"depth": 3, "taker_fee_bps": -1.0}),
    ("vwap", {"depth": 100, "sample_interval_s": 0.1}),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, help="also write each JSON report here")
    args = parser.parse_args()
    configure_logging(level="error")  # the strategies' info lines are not the output
    if not ETHUSDT.exists():
        print(f"no shared data at {DATA}", file=sys.stderr)
        return 2
    cryptofeed = sorted(
        (frame for path in CRYPTOFEED for frame in read_capture(path)),
        key=lambda frame: frame.received_ns,
    )
    instruments = load_instrument_file()
    captures = [("ETHUSDT", ETH, list(read_capture(ETHUSDT)))]
    for symbol in ("NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"):
        instrument = instruments.get("binance", symbol)
        if instrument is None:
            print(f"{symbol} is not in the instrument file", file=sys.stderr)
            return 2
        captures.append((symbol, instrument, cryptofeed))
    runs = []
    for symbol, instrument, frames in captures:
        compiled = compile_frames(frames, instrument)
        configs = [(s, {"queue": q}) for s in STRATEGIES for q in QUEUES]
        if symbol == "ETHUSDT":
            configs += list(EXTRA)
        for strategy, config in configs:
            for source, data in (("frames", frames), ("compiled", compiled)):
                options = ",".join(f"{key}={value}" for key, value in sorted(config.items()))
                name = f"{symbol}/{strategy}/{options}/{source}"
                report = run_backtest(
                    data, instrument, make_strategy(strategy), BacktestConfig(**config)
                )
                encoded = msgspec.json.encode(report)
                runs.append(name)
                print(name, hashlib.sha256(encoded).hexdigest(), flush=True)
                if args.reports is not None:
                    args.reports.mkdir(parents=True, exist_ok=True)
                    file = args.reports / (name.replace("/", "__") + ".json")
                    file.write_bytes(msgspec.json.format(encoded, indent=2) + b"\n")
    print(f"{len(runs)} reports", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
