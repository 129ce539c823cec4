"""Matching engine throughput in process, on a realistic seeded request mix.

The mix: 65% limit orders (mostly within a few ticks of the touch, some crossing),
25% cancels of random resting orders, 10% IOC market orders with a protection price;
four accounts. Requests are generated before timing; the engine starts from a seeded
book each round. Reports requests/s (median of rounds) and what they produced.

    python bench/bench_matching.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from _provenance import git_state, machine_info
from tradeactors.exchange.matching import (
    EngineAccepted,
    EngineFilled,
    MatchingEngine,
    Side,
    TimeInForce,
)

RESULTS = Path(__file__).resolve().parent / "results"


def requests(count: int, seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    mid = 10_000
    out: list[tuple[Any, ...]] = []
    for number in range(count):
        mid += rng.choice((-1, 0, 0, 1))
        roll = rng.random()
        account = f"a{rng.randrange(4)}"
        if roll < 0.65:
            side = rng.choice((Side.BUY, Side.SELL))
            offset = int(rng.expovariate(0.4)) - 1  # -1: crosses by a tick
            price = mid - offset if side is Side.BUY else mid + offset
            out.append(("limit", account, str(number), side, rng.randint(1, 20), price))
        elif roll < 0.90:
            out.append(("cancel", account, rng.randrange(1, number + 2)))
        else:
            side = rng.choice((Side.BUY, Side.SELL))
            price = mid + 50 if side is Side.BUY else mid - 50
            out.append(("market", account, str(number), side, rng.randint(1, 20), price))
    return out


def run(stream: list[tuple[Any, ...]]) -> tuple[float, int, int]:
    engine = MatchingEngine(maker_fee_bps=-1, taker_fee_bps=5)
    submit, cancel = engine.submit, engine.cancel
    fills = accepted = 0
    gc.collect()
    started = time.perf_counter_ns()
    for request in stream:
        kind = request[0]
        if kind == "cancel":
            events = cancel(account=request[1], order_id=request[2])
        else:
            events = submit(
                account=request[1],
                client_order_id=request[2],
                instrument="X",
                side=request[3],
                quantity=request[4],
                price=request[5],
                tif=TimeInForce.IOC if kind == "market" else TimeInForce.GTC,
                market=kind == "market",
            )
        for event in events:
            if isinstance(event, EngineFilled):
                fills += 1
            elif isinstance(event, EngineAccepted):
                accepted += 1
    seconds = (time.perf_counter_ns() - started) / 1e9
    engine.check_invariants()
    return len(stream) / seconds, fills, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    stream = requests(args.requests, seed=42)
    run(stream[: args.requests // 10])  # warm-up
    rates, fills, accepted = [], 0, 0
    for _ in range(args.rounds):
        rate, fills, accepted = run(stream)
        rates.append(rate)
        print(f"  {rate:,.0f} requests/s", flush=True)
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git": git_state(),
        "machine": machine_info(),
        "requests": args.requests,
        "rounds": args.rounds,
        "median_requests_per_s": statistics.median(rates),
        "min_requests_per_s": min(rates),
        "max_requests_per_s": max(rates),
        "fills_per_round": fills,
        "accepted_per_round": accepted,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "matching.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
