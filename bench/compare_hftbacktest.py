"""Benchmark: the backtest against hftbacktest, same capture, same market-making rules.

Run it as ``python bench/compare_hftbacktest.py`` (about 1.5 minutes on 2 cores).
hftbacktest (numba) is never a dependency of the project: it runs in a child process of
a separate virtual environment, this same script with ``--child hbt``::

    python3 -m venv /tmp/hbt-venv
    /tmp/hbt-venv/bin/pip install hftbacktest

What is compared, on ``../shared/data/hftbacktest/ethusdt_20240808.gz`` (about 6 minutes
of Binance spot ETHUSDT):

- **ours**: ``run_backtest`` of the built-in market maker (defaults: 3 ticks from the
  mid, 100 lots of 0.00001 ETH, inventory 500 lots, skew 0.01 tick per lot, re-quote on
  a 2-tick move or a position change, at most every 0.25 s; post-only GTC) on the
  capture compiled for the backtest (`tradeactors.backtest.cache`), loaded from its
  cache file (the load, SHA-256 of the capture included, timed on its own); also on
  the decoded frames (what ``--no-cache`` runs) for reference;
- **hftbacktest**: the same rules written as a numba function over hftbacktest's own
  book (``HashMapMarketDepthBacktest``), on the same frames converted to its event
  array (the REST snapshot, every depth level, every trade; each at our receive time),
  with the same model where hftbacktest has one: constant 5 ms order and response
  latency, conservative queue position (``risk_adverse_queue_model``: only trades at
  the price advance it), partial fills, maker 1 bp and taker 5 bp fees. It decides on
  every feed event (depth or trade) rather than on every depth update, and its fills
  are hftbacktest's: the two runs trade alike, not identically (the report gives both
  runs' orders and fills). Timed: building the backtest from the array in memory and
  running it (the numba function compiled beforehand, in a warm-up run timed apart);
- **whole process**, both: a fresh ``tradeactors backtest`` (cache warm) against a
  fresh interpreter loading hftbacktest's converted file, compiling and running.

``--blocks`` blocks alternate ours and hftbacktest's child, ``--rounds`` timed rounds
each; medians over all rounds, and the ratio per block. Writes
``results/compare_hftbacktest.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CAPTURE = ROOT.parent.parent / "shared" / "data" / "hftbacktest" / "ethusdt_20240808.gz"
TICK, LOT = 0.01, 0.00001
RULES = {  # the market maker's defaults (MarketMakerParams), in ticks, lots and ns
    "half_spread": 3,
    "size": 100,
    "max_inventory": 500,
    "skew": 0.01,
    "requote": 2,
    "min_interval_ns": 250_000_000,
}
LATENCY_NS = 5_000_000
WITH_RESPONSES, NO_WAIT = True, False  # wait_next_feed also for order responses; no waits
HBT_PYTHON = "/tmp/hbt-venv/bin/python"  # noqa: S108 - a venv made by hand, see the doc
MAKER_FEE, TAKER_FEE = 0.0001, 0.0005


# -- hftbacktest's side (in its own venv: numpy, numba, hftbacktest; no tradeactors) -----


def hbt_events(capture: Path):  # noqa: ANN201, C901 - numpy is not in the project's venv; one pass
    """The capture as hftbacktest's event array: snapshot, depth levels, trades."""
    import numpy as np  # noqa: PLC0415
    from hftbacktest.data.validation import (  # noqa: PLC0415
        correct_event_order,
        validate_event_order,
    )
    from hftbacktest.types import (  # noqa: PLC0415
        BUY_EVENT,
        DEPTH_CLEAR_EVENT,
        DEPTH_EVENT,
        DEPTH_SNAPSHOT_EVENT,
        SELL_EVENT,
        TRADE_EVENT,
        event_dtype,
    )

    rows: list[tuple] = []
    pending: list[tuple[int, dict]] = []  # diffs before the snapshot
    snapshot_id = None

    def depth(local: int, exch: int, data: dict) -> None:
        for side, levels in ((BUY_EVENT, data["b"]), (SELL_EVENT, data["a"])):
            for price, qty in levels:
                rows.append((DEPTH_EVENT | side, exch, local, float(price), float(qty), 0, 0, 0))

    with gzip.open(capture, "rt") as lines:
        for line in lines:
            stamp, _, body = line.partition(" ")
            local = int(stamp)
            message = json.loads(body)
            if "lastUpdateId" in message:  # the REST snapshot, as Binance's rule applies it
                snapshot_id = message["lastUpdateId"]
                for side, levels in ((BUY_EVENT, message["bids"]), (SELL_EVENT, message["asks"])):
                    rows.append((DEPTH_CLEAR_EVENT | side, local, local, 0.0, 0.0, 0, 0, 0))
                    for price, qty in levels:
                        rows.append(
                            (DEPTH_SNAPSHOT_EVENT | side, local, local, float(price),
                             float(qty), 0, 0, 0)
                        )  # fmt: skip
                for _when, data in pending:  # the buffered diffs it does not cover
                    if data["u"] > snapshot_id:
                        depth(local, local, data)
                pending = []
                continue
            data = message.get("data", {})
            kind = data.get("e")
            if kind == "depthUpdate":
                if snapshot_id is None:
                    pending.append((local, data))
                elif data["u"] > snapshot_id:
                    depth(local, min(local, data["E"] * 1_000_000), data)
            elif kind == "trade":
                side = SELL_EVENT if data["m"] else BUY_EVENT  # the aggressor's
                exch = min(local, data["T"] * 1_000_000)
                rows.append(
                    (TRADE_EVENT | side, exch, local, float(data["p"]), float(data["q"]), 0, 0, 0)
                )
    events = np.array(rows, dtype=event_dtype)
    events = correct_event_order(
        events,
        np.argsort(events["exch_ts"], kind="mergesort"),
        np.argsort(events["local_ts"], kind="mergesort"),
    )
    validate_event_order(events)
    return events


def hbt_strategy():  # noqa: ANN201, C901, PLR0915 - numba's types; one jitted function
    """The market maker's rules as a numba function of hftbacktest's backtest."""
    from hftbacktest import GTX, LIMIT  # noqa: PLC0415
    from hftbacktest.order import NEW, PARTIALLY_FILLED  # noqa: PLC0415
    from numba import njit  # noqa: PLC0415

    half_spread, size, max_inventory = RULES["half_spread"], RULES["size"], RULES["max_inventory"]
    skew, requote, min_interval = RULES["skew"], RULES["requote"], RULES["min_interval_ns"]

    @njit
    def live(orders, order_id):  # noqa: ANN001, ANN202
        if order_id == 0 or order_id not in orders:
            return False
        status = orders.get(order_id).status
        return status in (NEW, PARTIALLY_FILLED)

    @njit
    def market_maker(hbt):  # noqa: ANN001, ANN202, C901, PLR0915 - one jitted loop
        last_quote = -(1 << 62)
        quoted_mid2 = -1
        quoted_position = 0
        next_id = 1
        bid_id = ask_id = 0
        bid_price = ask_price = 0
        sent = 0
        while True:
            result = hbt.wait_next_feed(WITH_RESPONSES, 60_000_000_000)
            if result == 1:
                break
            if result != 2:
                continue
            depth = hbt.depth(0)
            bid, ask = depth.best_bid_tick, depth.best_ask_tick
            if bid <= 0 or ask <= bid or ask > (1 << 40):
                continue
            now = hbt.current_timestamp
            if now - last_quote < min_interval:
                continue
            orders = hbt.orders(0)
            bid_live, ask_live = live(orders, bid_id), live(orders, ask_id)
            position = round(hbt.position(0) / LOT)
            mid2 = bid + ask
            if (
                quoted_mid2 >= 0
                and (bid_live or ask_live)
                and position == quoted_position
                and abs(mid2 - quoted_mid2) < 2 * requote
            ):
                continue
            last_quote, quoted_mid2, quoted_position = now, mid2, position
            mid = mid2 // 2
            shift = round(position * skew)
            want_bid = min(mid - half_spread - shift, ask - 1)
            if position + size > max_inventory or want_bid <= 0:
                want_bid = 0
            want_ask = max(mid + mid2 % 2 + half_spread - shift, bid + 1)
            if position - size < -max_inventory:
                want_ask = 0
            if bid_live and bid_price != want_bid:
                hbt.cancel(0, bid_id, NO_WAIT)
                bid_live = False
            if ask_live and ask_price != want_ask:
                hbt.cancel(0, ask_id, NO_WAIT)
                ask_live = False
            if want_bid and not bid_live:
                bid_id, bid_price = next_id, want_bid
                next_id += 1
                hbt.submit_buy_order(0, bid_id, want_bid * TICK, size * LOT, GTX, LIMIT, NO_WAIT)
                sent += 1
            if want_ask and not ask_live:
                ask_id, ask_price = next_id, want_ask
                next_id += 1
                hbt.submit_sell_order(0, ask_id, want_ask * TICK, size * LOT, GTX, LIMIT, NO_WAIT)
                sent += 1
            hbt.clear_inactive_orders(0)
        return sent

    return market_maker


def hbt_backtest(events):  # noqa: ANN001, ANN201
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest  # noqa: PLC0415

    asset = (
        BacktestAsset()
        .data([events])
        .linear_asset(1.0)
        .constant_order_latency(LATENCY_NS, LATENCY_NS)
        .risk_adverse_queue_model()
        .partial_fill_exchange()
        .trading_value_fee_model(MAKER_FEE, TAKER_FEE)
        .tick_size(TICK)
        .lot_size(LOT)
    )
    return HashMapMarketDepthBacktest([asset])


def hbt_child(args: argparse.Namespace) -> int:
    """Measure hftbacktest; print the JSON."""
    import numpy as np  # noqa: PLC0415

    started = time.perf_counter()
    if args.events and Path(args.events).exists():
        events = np.load(args.events)["data"]
        convert_s = None
    else:
        events = hbt_events(Path(args.capture))
        convert_s = time.perf_counter() - started
        if args.events:
            np.savez(args.events, data=events)
    strategy = hbt_strategy()
    rounds, result = [], {}
    for index in range(args.rounds + 1):  # the first compiles
        began = time.perf_counter()
        hbt = hbt_backtest(events)
        sent = strategy(hbt)
        state = hbt.state_values(0)
        result = {
            "orders_sent": int(sent),
            "fills": int(state.num_trades),
            "volume": float(state.trading_volume),
            "position": float(state.position),
            "fees": float(state.fee),
            "balance": float(state.balance),
        }
        hbt.close()
        elapsed = time.perf_counter() - began
        if index == 0:
            result["first_run_with_jit_s"] = elapsed
        rounds.append(elapsed)
    import hftbacktest  # noqa: PLC0415
    import numba  # noqa: PLC0415

    print(json.dumps({
        "rounds_s": rounds[1:], "first_run_with_jit_s": rounds[0], "convert_s": convert_s,
        "events": len(events), "result": result, "since_start_s": time.perf_counter() - started,
        "versions": {"hftbacktest": hftbacktest.__version__, "numba": numba.__version__},
    }))  # fmt: skip
    return 0


# -- ours ---------------------------------------------------------------------------------


def ours(rounds: int, cache_dir: Path) -> dict:
    from tradeactors.backtest.cache import CaptureCache, PreparedCapture  # noqa: PLC0415
    from tradeactors.backtest.engine import BacktestConfig, run_backtest  # noqa: PLC0415
    from tradeactors.core.instrument import Instrument  # noqa: PLC0415
    from tradeactors.strategy import make_strategy  # noqa: PLC0415
    from tradeactors.venues.capture import read_capture  # noqa: PLC0415

    eth = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.00001")
    config = BacktestConfig()
    PreparedCapture(CAPTURE, CaptureCache(cache_dir)).compiled(eth)  # built once, untimed
    load, run, frames_run, read = [], [], [], []
    report = None
    for _ in range(rounds):
        began = time.perf_counter()
        compiled = PreparedCapture(CAPTURE, CaptureCache(cache_dir)).compiled(eth)
        load.append(time.perf_counter() - began)
        began = time.perf_counter()
        report = run_backtest(compiled, eth, make_strategy("market_maker"), config)
        run.append(time.perf_counter() - began)
        began = time.perf_counter()
        frames = list(read_capture(CAPTURE))
        read.append(time.perf_counter() - began)
        began = time.perf_counter()
        run_backtest(frames, eth, make_strategy("market_maker"), config)
        frames_run.append(time.perf_counter() - began)
    assert report is not None  # noqa: S101 - rounds >= 1
    return {
        "load_s": load, "run_s": run, "frames_run_s": frames_run, "read_decode_s": read,
        "result": {"orders_sent": report.orders_sent, "fills": report.fills,
                   "volume": report.volume, "position": report.final_position,
                   "fees": report.fees, "net_pnl": report.net_pnl},
    }  # fmt: skip


def whole_process(command: list[str], env: dict[str, str] | None = None) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)  # noqa: S603
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--hbt-python", default=HBT_PYTHON)
    parser.add_argument("--capture", default=str(CAPTURE))
    parser.add_argument("--output-dir", default=str(ROOT / "results"))
    parser.add_argument("--child", choices=("hbt",))
    parser.add_argument("--events", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "hbt":
        return hbt_child(args)
    if not CAPTURE.exists():
        print(f"no capture at {CAPTURE}: put ../shared beside the project", file=sys.stderr)
        return 2
    if not args.hbt_python or not Path(args.hbt_python).exists():
        print(f"no hftbacktest interpreter at {args.hbt_python!r}: see the doc", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from _provenance import git_state, machine_info  # noqa: PLC0415

    work = Path(tempfile.mkdtemp(prefix="compare-hbt-"))
    events = work / "ethusdt_hbt.npz"
    child = [args.hbt_python, __file__, "--child", "hbt", "--capture", str(CAPTURE),
             "--events", str(events)]  # fmt: skip
    blocks = []
    for block in range(args.blocks):
        print(f"block {block + 1}/{args.blocks}: ours", file=sys.stderr)
        mine = ours(args.rounds, work / "cache")
        print(f"block {block + 1}/{args.blocks}: hftbacktest", file=sys.stderr)
        done = subprocess.run(  # noqa: S603
            [*child, "--rounds", str(args.rounds)], check=True, capture_output=True, text=True
        )
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
        blocks.append({"ours": mine, "hftbacktest": theirs})
    print("whole processes", file=sys.stderr)
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "xdg")}
    ours_cli = [sys.executable, "-m", "tradeactors.cli", "backtest", "--data", str(CAPTURE),
                "--strategy", "market_maker"]  # fmt: skip
    whole_process(ours_cli, env)  # builds the cache
    whole_ours = [whole_process(ours_cli, env) for _ in range(args.rounds)]
    whole_ours_no_cache = [whole_process([*ours_cli, "--no-cache"]) for _ in range(args.rounds)]
    whole_hbt = [whole_process([*child, "--rounds", "0"]) for _ in range(args.rounds)]

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 4)

    run_ours = [t for b in blocks for t in b["ours"]["run_s"]]
    load_ours = [t for b in blocks for t in b["ours"]["load_s"]]
    run_hbt = [t for b in blocks for t in b["hftbacktest"]["rounds_s"]]
    per_block = [
        round(statistics.median(b["ours"]["run_s"]) / statistics.median(theirs), 2)
        for b in blocks
        for theirs in [b["hftbacktest"]["rounds_s"]]
    ]
    first = blocks[0]
    out = {
        "git": git_state(),
        "machine": machine_info(),
        "capture": CAPTURE.name,
        "rounds": args.rounds,
        "blocks": args.blocks,
        "hftbacktest_versions": first["hftbacktest"]["versions"],
        "hftbacktest_events": first["hftbacktest"]["events"],
        "hftbacktest_convert_s": first["hftbacktest"]["convert_s"],
        "ours_run_s": med(run_ours),
        "ours_load_s": med(load_ours),
        "ours_frames_run_s": med([t for b in blocks for t in b["ours"]["frames_run_s"]]),
        "ours_read_decode_s": med([t for b in blocks for t in b["ours"]["read_decode_s"]]),
        "hftbacktest_run_s": med(run_hbt),
        "hftbacktest_first_run_with_jit_s": med(
            [b["hftbacktest"]["first_run_with_jit_s"] for b in blocks]
        ),
        "ratio_run": round(statistics.median(run_ours) / statistics.median(run_hbt), 2),
        "ratio_load_and_run": round(
            (statistics.median(run_ours) + statistics.median(load_ours))
            / statistics.median(run_hbt),
            2,
        ),
        "ratio_per_block": per_block,
        "whole_process_ours_s": med(whole_ours),
        "whole_process_ours_no_cache_s": med(whole_ours_no_cache),
        "whole_process_hftbacktest_s": med(whole_hbt),
        "ours_result": first["ours"]["result"],
        "hftbacktest_result": first["hftbacktest"]["result"],
        "blocks_raw": blocks,
    }
    directory = Path(args.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "compare_hftbacktest.json").write_text(json.dumps(out, indent=2) + "\n")
    machine = out["machine"]
    ours_result, hbt_result = out["ours_result"], out["hftbacktest_result"]
    lines = [
        "# Backtest: tradeactors against hftbacktest",
        "",
        f"- Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, Python {machine['python']}",
        (
            f"- Code: {out['git']}; hftbacktest {out['hftbacktest_versions']['hftbacktest']}, "
            f"numba {out['hftbacktest_versions']['numba']} (separate venv)"
        ),
        (
            f"- Capture: `{CAPTURE.name}` (33,618 frames; {out['hftbacktest_events']:,} "
            "hftbacktest events), the market maker's rules on both sides (see the script's doc)"
        ),
        (
            f"- Method: {args.blocks} blocks alternating ours and hftbacktest's child, "
            f"{args.rounds} timed rounds each, medians"
        ),
        "",
        "| | seconds |",
        "|---|---:|",
        f"| ours: `run_backtest` on the compiled capture | {out['ours_run_s']} |",
        (
            f"| ours: loading the compiled capture from the cache (SHA-256 included) | "
            f"{out['ours_load_s']} |"
        ),
        f"| ours: `run_backtest` on decoded frames (`--no-cache`) | {out['ours_frames_run_s']} |",
        f"| ours: reading and gunzipping the frames | {out['ours_read_decode_s']} |",
        (
            f"| hftbacktest: build from the array in memory and run (compiled) | "
            f"{out['hftbacktest_run_s']} |"
        ),
        (
            f"| hftbacktest: the first run, numba compile included | "
            f"{out['hftbacktest_first_run_with_jit_s']} |"
        ),
        (
            f"| hftbacktest: converting the capture to its events (once) | "
            f"{round(out['hftbacktest_convert_s'] or 0, 3)} |"
        ),
        (
            f"| whole process, ours (`tradeactors backtest`, cache warm) | "
            f"{out['whole_process_ours_s']} |"
        ),
        f"| whole process, ours with `--no-cache` | {out['whole_process_ours_no_cache_s']} |",
        (
            f"| whole process, hftbacktest (load its file, compile, run) | "
            f"{out['whole_process_hftbacktest_s']} |"
        ),
        "",
        (
            f"In-process time, ours / hftbacktest: **{out['ratio_run']}x** "
            f"(per block: {', '.join(map(str, per_block))}); with our cache load: "
            f"{out['ratio_load_and_run']}x. Whole process, hftbacktest / ours: "
            f"{round(out['whole_process_hftbacktest_s'] / out['whole_process_ours_s'], 1)}x."
        ),
        "",
        "| run | orders sent | fills | volume ETH | position ETH | fees USDT |",
        "|---|---:|---:|---:|---:|---:|",
        (
            f"| ours | {ours_result['orders_sent']} | {ours_result['fills']} | "
            f"{ours_result['volume']:g} | {ours_result['position']:+g} | "
            f"{ours_result['fees']:.6f} |"
        ),
        (
            f"| hftbacktest | {hbt_result['orders_sent']} | {hbt_result['fills']} | "
            f"{hbt_result['volume']:.5g} | {hbt_result['position']:+.5g} | "
            f"{hbt_result['fees']:.6f} |"
        ),
        "",
    ]
    (directory / "compare_hftbacktest.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
