"""Benchmark: backtest throughput on the recorded ETHUSDT capture.

Run it as ``python bench/bench_backtest.py``. It loads the capture once, then runs, in
interleaved rounds, ``run_backtest`` with the built-in market maker (the issue's
workload) and, as the baseline in the same run, with a strategy that does nothing (the
cost of the replay, book sync and simulated venue alone), each on the decoded frames and
on the capture compiled for the backtest (what ``tradeactors backtest`` replays from its
cache). Reported: frames per second
and events per second (frames plus the engine's scheduled events: order arrivals,
answers, timers), median of the rounds. Writes ``results/backtest.md`` and
``results/backtest.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import msgspec

from _provenance import git_state, machine_info
from tradeactors.backtest.cache import compile_frames
from tradeactors.backtest.engine import BacktestConfig, run_backtest
from tradeactors.core.instrument import Instrument
from tradeactors.strategy import make_strategy
from tradeactors.strategy.api import Strategy
from tradeactors.venues.capture import read_capture

ROOT = Path(__file__).resolve().parent
CAPTURE = ROOT.parent.parent / "shared" / "data" / "hftbacktest" / "ethusdt_20240808.gz"
ETH = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.00001")


class Idle(Strategy):
    """Does nothing: the baseline."""

    name = "idle"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--output-dir", default=str(ROOT / "results"))
    args = parser.parse_args()
    if not CAPTURE.exists():
        print(f"no capture at {CAPTURE}: put ../shared beside the project", file=sys.stderr)
        return 2
    frames = list(read_capture(CAPTURE))
    compiled = compile_frames(frames, ETH)
    config = BacktestConfig()
    results: dict[str, list[tuple[float, int]]] = {
        "market_maker": [],
        "idle": [],
        "market_maker, compiled": [],
        "idle, compiled": [],
    }
    reports = {}
    for _ in range(args.rounds):
        for name, runs in results.items():
            strategy = make_strategy("market_maker") if name.startswith("market") else Idle()
            data = compiled if name.endswith("compiled") else frames
            started = time.perf_counter()
            report = run_backtest(data, ETH, strategy, config)
            elapsed = time.perf_counter() - started
            runs.append((elapsed, report.frames + report.events))
            reports[name] = report
    rows = {}
    for name, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        events = runs[0][1]
        rows[name] = {
            "median_s": round(seconds, 4),
            "frames": len(frames),
            "events": events,
            "frames_per_s": round(len(frames) / seconds),
            "events_per_s": round(events / seconds),
            "runs_s": [round(r[0], 4) for r in runs],
            "fills": reports[name].fills,
            "orders_sent": reports[name].orders_sent,
        }
    out = {
        "git": git_state(),
        "machine": machine_info(),
        "capture": CAPTURE.name,
        "rounds": args.rounds,
        "config": msgspec.to_builtins(config),
        "results": rows,
        "market_maker_vs_idle": round(
            rows["market_maker"]["median_s"] / rows["idle"]["median_s"], 3
        ),
        "compiled_vs_frames": round(
            rows["market_maker, compiled"]["median_s"] / rows["market_maker"]["median_s"], 3
        ),
    }
    directory = Path(args.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "backtest.json").write_text(json.dumps(out, indent=2) + "\n")
    machine = out["machine"]
    lines = [
        "# Backtest throughput",
        "",
        f"- Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, Python {machine['python']}",
        f"- Code: {out['git']}",
        f"- Capture: `{CAPTURE.name}` ({len(frames)} frames, about 6 minutes of ETHUSDT)",
        f"- Method: `run_backtest`, {args.rounds} interleaved rounds, median; single thread",
        "",
        "| strategy | median s | frames/s | events/s | orders | fills |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['median_s']} | {row['frames_per_s']:,} | {row['events_per_s']:,}"
            f" | {row['orders_sent']} | {row['fills']} |"
        )
    lines += [
        "",
        (
            f"market maker / idle time: {out['market_maker_vs_idle']}; compiled capture "
            f"(`tradeactors.backtest.cache`, what the CLI replays from its cache) / decoded "
            f"frames: {out['compiled_vs_frames']}"
        ),
        "",
    ]
    (directory / "backtest.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
