"""Benchmark: market-data decoding, book updates and end-to-end replay on real Binance data.

Run it as ``python bench/bench_marketdata.py``. It reads the ETHUSDT capture of
``../shared/data/hftbacktest/ethusdt_20240808.gz`` (about 6 minutes of Binance spot:
one REST snapshot, 3,434 ``depth@100ms`` diffs, 24,077 bookTickers, 6,106 trades) and
measures, each variant ``--repeats`` times with the variants interleaved, medians
reported and compared as ratios with baselines measured in the same run:

1. decoding, µs per frame, over all 33,617 websocket frames and over the 3,434 depth
   frames alone: ``json.loads`` (the stdlib floor), ``json.loads`` plus pulling the same
   fields by hand, and `tradeactors.venues.binance.decode_frame` (msgspec, narrow
   structs, decoders made once), on ``str`` payloads as the capture gives them (and on
   ``bytes``, for reference);
2. book level updates per second on the real diffs: the snapshot applied (untimed),
   then every level of the 3,432 diffs the Binance sync applies, prices and sizes
   pre-parsed to ints, the best bid and ask read after each diff, ``--book-passes``
   passes per repeat. `tradeactors.core.book.OrderBook` against a plain book of two
   ``SortedDict``s written here and, if ``--nautilus-python`` names an interpreter with
   ``nautilus_trader`` installed (and this repository installed editable), against
   NautilusTrader's ``OrderBook`` (``L2_MBP``) driven through its Python API; that
   comparison runs in a child process of that interpreter, with our book and the
   baseline measured again beside it;
3. end-to-end frames per second through ``run_replay`` (the feed and book actors of a
   supervision tree), in one child process per runtime (threads, gevent), with
   ``load_frames`` timed on its own so it can be subtracted, and the same frames through
   the in-process `binance.replay` (no actors) as a reference.

Decode and book figures are measured in one child process of this interpreter. Each
child prints one JSON document on its last stdout line; the parent writes
``marketdata.json`` and ``marketdata.md`` to ``--output-dir``. Logging is set to level
``critical``, to /dev/null, in every measuring process. ``--profile`` prints cProfile
tables instead (decoding, our book, a threads-runtime replay) and writes nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _provenance import git_state, machine_info, source_digest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CAPTURE = ROOT.parent / "shared" / "data" / "hftbacktest" / "ethusdt_20240808.gz"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"
DEFAULT_NAUTILUS_PYTHON = "/tmp/ntvenv/bin/python"  # noqa: S108 - a venv made by hand, see README
RUNTIMES = ("threads", "gevent")
OURS = "tradeactors OrderBook"
BASELINE_BOOK = "SortedDict baseline"
OUR_DECODER = "decode_frame (msgspec)"


# -- children ---------------------------------------------------------------------------------


def quiet_logging() -> None:
    """Level ``critical``, JSON, to /dev/null: log output must not dominate the timings."""
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    devnull = Path(os.devnull).open("w")  # noqa: SIM115 - open for the process's life
    configure_logging(level="critical", json=True, stream=devnull)


def child_main(args: argparse.Namespace) -> None:
    """Measure one part in this process; print its JSON report on stdout."""
    if args.child == "e2e":
        from tradeactors.supervision.runtime import current_runtime, use_gevent  # noqa: PLC0415

        if args.runtime == "gevent":
            use_gevent()  # first: before pykka or any thread
        if current_runtime() != args.runtime:
            raise RuntimeError(f"asked for {args.runtime}, running {current_runtime()}")
    quiet_logging()
    import marketdata_workloads as work  # noqa: PLC0415 - after the runtime is chosen

    capture = str(args.capture)
    report: dict[str, Any] = {"child": args.child, "tradeactors_source_sha256": source_digest()}
    if args.child == "profile":
        work.profile_all(capture, args.profile_top)
        return
    if args.child == "micro":
        report["decode"] = work.measure_decode(capture, args.repeats, args.depth_passes)
        workload = work.book_workload(capture)
        report["book"] = work.measure_books(
            work.native_variants(workload), workload, args.repeats, args.book_passes
        )
        report["parse"] = work.measure_parse(workload, args.repeats)
    elif args.child == "nautilus":
        workload = work.book_workload(capture)
        nautilus = work.NautilusBooks(workload)
        variants = nautilus.variants()
        report["nautilus"] = nautilus.info
        report["python"] = platform.python_version()
        report["book"] = work.measure_books(
            work.native_variants(workload) + variants, workload, args.repeats, args.book_passes
        )
    else:
        work.log(f"[{args.runtime}] run_replay x {args.e2e_repeats}")
        report["runtime"] = args.runtime
        report["e2e"] = work.measure_e2e(capture, args.e2e_repeats)
    print(json.dumps(report))


# -- the parent -------------------------------------------------------------------------------


def run_child(python: str, child: str, args: argparse.Namespace, *extra: str) -> dict[str, Any]:
    """Run this script as ``--child child`` under ``python`` and parse its JSON report."""
    command = [
        python,
        str(Path(__file__).resolve()),
        "--child",
        child,
        *extra,
        f"--capture={args.capture}",
        f"--repeats={args.repeats}",
        f"--book-passes={args.book_passes}",
        f"--depth-passes={args.depth_passes}",
        f"--e2e-repeats={args.e2e_repeats}",
        f"--profile-top={args.profile_top}",
    ]
    print(f"== {child} {' '.join(extra)}: {shlex.join(command)}", file=sys.stderr, flush=True)
    completed = subprocess.run(  # noqa: S603 - our own script, a chosen interpreter
        command, stdout=subprocess.PIPE, text=True, check=True
    )
    if child == "profile":
        print(completed.stdout)
        return {}
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def nautilus_python(args: argparse.Namespace) -> tuple[str | None, str]:
    """The interpreter for the Nautilus comparison, or None and why not."""
    python = args.nautilus_python
    if not python:
        return None, "disabled (--nautilus-python '')"
    if not Path(python).exists():
        return None, f"{python} does not exist"
    probe = subprocess.run(  # noqa: S603 - a chosen interpreter, a fixed probe
        [python, "-c", "import nautilus_trader, tradeactors, sortedcontainers"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode:
        return None, f"{python} cannot import nautilus_trader/tradeactors: {probe.stderr[-300:]}"
    return python, ""


def parent_main(args: argparse.Namespace) -> None:
    """Run every child, write the JSON and the Markdown report."""
    if args.profile:
        run_child(sys.executable, "profile", args)
        return
    started = dt.datetime.now(dt.UTC)
    results: dict[str, Any] = {
        "benchmark": "marketdata",
        "date": started.isoformat(timespec="seconds"),
        "git": git_state(),
        "tradeactors_source_sha256": source_digest(),
        "command": shlex.join([Path(sys.executable).as_posix(), *sys.argv]),
        "cwd": str(Path.cwd()),
        "capture": str(args.capture),
        "options": {
            "repeats": args.repeats,
            "book_passes": args.book_passes,
            "depth_passes": args.depth_passes,
            "e2e_repeats": args.e2e_repeats,
            "runtimes": list(args.runtimes),
        },
        "machine": machine_info(
            ("msgspec", "sortedcontainers", "pykka", "gevent", "greenlet", "tradeactors")
        ),
    }
    results["micro"] = run_child(sys.executable, "micro", args)
    python, why_not = nautilus_python(args)
    if python is None:
        results["nautilus"] = {"skipped": why_not}
    else:
        results["nautilus"] = run_child(python, "nautilus", args)
        results["nautilus"]["interpreter"] = python
    results["e2e"] = {
        runtime: run_child(sys.executable, "e2e", args, f"--runtime={runtime}")
        for runtime in args.runtimes
    }
    results["elapsed_s"] = (dt.datetime.now(dt.UTC) - started).total_seconds()
    digests = {
        results["micro"]["tradeactors_source_sha256"],
        *(r["tradeactors_source_sha256"] for r in results["e2e"].values()),
    }
    if "book" in results["nautilus"]:
        digests.add(results["nautilus"]["tradeactors_source_sha256"])
    results["source_changed_during_run"] = digests != {results["tradeactors_source_sha256"]}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "marketdata.json").write_text(json.dumps(results, indent=2) + "\n")
    report = markdown(results)
    (args.output_dir / "marketdata.md").write_text(report)
    print(report)


# -- the report -------------------------------------------------------------------------------


def per_repeat_ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> float:
    """Median over repeats of numerator time / denominator time (variants interleaved)."""
    return statistics.median(
        a / b for a, b in zip(numerator["seconds"], denominator["seconds"], strict=True)
    )


def decode_table(section: dict[str, Any]) -> list[str]:
    variants = section["variants"]
    ours = variants[OUR_DECODER]
    lines = [
        "| decoder | median µs/frame | min-max µs/frame | frames/s | time vs decode_frame |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, v in variants.items():
        work = v["work"]
        lines.append(
            f"| {name} | {v['median_us_per_unit']:.2f} | "
            f"{v['min_s'] / work * 1e6:.2f}-{v['max_s'] / work * 1e6:.2f} | "
            f"{v['median_rate_per_s']:,.0f} | {per_repeat_ratio(v, ours):.2f}x |"
        )
    return lines


def book_table(section: dict[str, Any]) -> list[str]:
    variants = section["variants"]
    ours = variants[OURS]
    lines = [
        "| book | median updates/s | min-max updates/s | µs/update | OrderBook speed vs it |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, v in variants.items():
        work = v["work"]
        lines.append(
            f"| {name} | {v['median_rate_per_s']:,.0f} | "
            f"{work / v['max_s']:,.0f}-{work / v['min_s']:,.0f} | "
            f"{v['median_us_per_unit']:.3f} | {per_repeat_ratio(v, ours):.2f}x |"
        )
    return lines


def parse_table(section: dict[str, Any]) -> list[str]:
    variants = section["variants"]
    first = next(iter(variants.values()))
    lines = [
        (
            "| parse of one level (price + size) | median µs/level | min-max µs/level "
            "| time vs the first row |"
        ),
        "|---|---:|---:|---:|",
    ]
    for name, v in variants.items():
        work = v["work"]
        lines.append(
            f"| {name} | {v['median_us_per_unit']:.3f} | "
            f"{v['min_s'] / work * 1e6:.3f}-{v['max_s'] / work * 1e6:.3f} | "
            f"{per_repeat_ratio(v, first):.2f}x |"
        )
    return lines


def e2e_table(e2e: dict[str, Any]) -> list[str]:
    lines = [
        (
            "| runtime | frames | run_replay median s | load_frames s | _instruments s "
            "| frames/s whole | frames/s minus load | frames/s minus load and _instruments "
            "| in-process binance.replay frames/s | actors vs in-process |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for runtime, report in e2e.items():
        r = report["e2e"]
        lines.append(
            f"| {runtime} | {r['frames']:,} | {r['median_run_replay_s']:.3f} | "
            f"{r['median_load_frames_s']:.3f} | {r['median_instruments_s']:.3f} | "
            f"{r['frames_per_s_whole']:,.0f} | {r['frames_per_s_minus_load']:,.0f} | "
            f"{r['frames_per_s_minus_load_and_instruments']:,.0f} | "
            f"{r['inprocess_frames_per_s']:,.0f} | "
            f"{r['frames_per_s_minus_load_and_instruments'] / r['inprocess_frames_per_s']:.2f}x |"
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    o = results["options"]
    micro = results["micro"]
    lines = [
        "# Market data: decoding, book updates, end-to-end replay",
        "",
        f"- date: {results['date']}; git: `{results['git']}`; tradeactors source sha256: "
        f"`{results['tradeactors_source_sha256']}`"
        + (" (**src/ changed during the run**)" if results["source_changed_during_run"] else ""),
        f"- machine: {m['nproc']} CPUs, {m['cpu_model']}, Linux {m['kernel']}",
        (
            f"- Python {m['python']} ({m['python_implementation']}); msgspec {m['msgspec']}, "
            f"sortedcontainers {m['sortedcontainers']}, pykka {m['pykka']}, gevent {m['gevent']}, "
            f"greenlet {m['greenlet']}, tradeactors {m['tradeactors']}"
        ),
        f"- command (from `{results['cwd']}`): `{results['command']}`",
        f"- data: `{results['capture']}`",
        (
            f"- options: {o['repeats']} repeats (variants interleaved), {o['book_passes']} book "
            f"passes and {o['depth_passes']} depth-decode passes per repeat, "
            f"{o['e2e_repeats']} end-to-end repeats per runtime; "
            f"whole run {results['elapsed_s']:.0f} s"
        ),
        "",
        (
            "Medians over the repeats. Ratios are the median over repeats of the per-repeat ratio "
            "of the two variants' times (each repeat runs every variant back to back). Garbage is "
            "collected before each timed block; the collector stays on while timing."
        ),
        "",
        "## 1. Decoding Binance frames",
        "",
        (
            "`json.loads + fields` routes by stream and pulls the same fields as `decode_frame` "
            "into a tuple (levels left as lists, nothing type-checked): a generous stdlib "
            "baseline. `time vs decode_frame` above 1 means slower than `decode_frame` on `str`."
        ),
    ]
    for name, title in (("all_ws", "All websocket frames"), ("depth_only", "Depth frames only")):
        section = micro["decode"][name]
        lines += [
            "",
            (
                f"### {title}: {section['frames']:,} frames x {section['passes']} pass(es), "
                f"mean {section['mean_payload_bytes']:.0f} bytes"
            ),
            "",
            *decode_table(section),
        ]
    book = micro["book"]
    lines += [
        "",
        "## 2. Book updates on the real ETHUSDT diffs",
        "",
        (
            f"Each pass: the REST snapshot ({book['snapshot_levels']:,} levels) applied "
            f"untimed, then {book['diffs']:,} diffs = {book['levels_per_pass']:,} level updates "
            f"({book['deletes_per_pass']:,} of them deletes), timed, with the best bid and ask "
            "read after each diff. Prices and sizes are ints (tick 0.01, lot 0.00001) parsed "
            "beforehand. "
            "`OrderBook speed vs it` is that variant's time / OrderBook's time: above 1, "
            "OrderBook is faster."
        ),
        "",
        "### In this interpreter (the project venv)",
        "",
        (
            "The last row is a sketch written in the benchmark, not project code: a dict of "
            "sizes per side plus a plain sorted list of prices kept with `bisect`, best level at "
            "the end of the list (see `BisectSketchBook` in `marketdata_workloads.py`)."
        ),
        "",
        *book_table(book),
        "",
        f"### What the book path also pays: parsing {micro['parse']['levels']:,} level strings",
        "",
        (
            "Outside the timed book work above, but done for every level by `DepthSync` before "
            "it touches the book."
        ),
        "",
        *parse_table(micro["parse"]),
        "",
        "### NautilusTrader, in its own venv",
        "",
    ]
    nautilus = results["nautilus"]
    if "book" in nautilus:
        info = nautilus["nautilus"]
        lines += [
            (
                f"`nautilus_trader` {info['nautilus_trader']} (FIXED_PRECISION "
                f"{info['fixed_precision']}), `OrderBook(..., BookType.{info['book_type']})`, "
                f"Python {nautilus['python']}, interpreter `{nautilus['interpreter']}`; our book "
                "and the baseline measured again in the same process, interleaved. Nautilus "
                "variants: `update(BookOrder, ts_event)` per level with the orders built before "
                "the timing (size 0 deletes the level); `apply_deltas(OrderBookDeltas)` once per "
                "diff, built before the timing; `update()` with `BookOrder.from_raw(...)` built "
                "in the loop from our ints. After each diff: `best_bid_price()`, "
                "`best_bid_size()`, `best_ask_price()`, `best_ask_size()`. Every variant's top "
                "after every diff was checked equal to OrderBook's before timing."
            ),
            "",
            *book_table(nautilus["book"]),
        ]
    else:
        lines.append(f"Not run: {nautilus['skipped']}.")
    lines += [
        "",
        "## 3. End to end: `run_replay(..., 'binance', verify=False)`",
        "",
        (
            "One fresh process per runtime (gevent: `use_gevent()` first). `run_replay` reads and "
            "merges the capture itself (`load_frames`), infers the instruments (`_instruments`, "
            "which decodes every depth frame once more), starts the tree (feed, one book actor), "
            "replays, asks for the reports and stops the tree. Those two setup steps are timed "
            "separately in the same repeat and subtracted (frames/s columns). The in-process "
            "reference is `binance.replay(frames, instruments)`: the same decoding and "
            "`DepthSync` on one thread, no actors (it also records tops and tickers for its check)."
        ),
        "",
        *e2e_table(results["e2e"]),
        "",
    ]
    for runtime, report in results["e2e"].items():
        e = report["e2e"]
        lines.append(
            f"- {runtime}: feed {e['feed']}, books {e['books']}; run_replay times "
            + ", ".join(f"{s:.3f}" for s in e["run_replay_s"])
            + " s"
        )
    lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE)
    parser.add_argument("--repeats", type=int, default=7, help="decode and book repeats")
    parser.add_argument("--book-passes", type=int, default=3, help="passes over the diffs")
    parser.add_argument("--depth-passes", type=int, default=3, help="passes over depth frames")
    parser.add_argument("--e2e-repeats", type=int, default=5, help="run_replay per runtime")
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES))
    parser.add_argument(
        "--nautilus-python",
        default=DEFAULT_NAUTILUS_PYTHON,
        help="interpreter with nautilus_trader (and this repo) installed; '' to skip",
    )
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--profile", action="store_true", help="print cProfile tables only")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument(
        "--child", choices=("micro", "nautilus", "e2e", "profile"), help=argparse.SUPPRESS
    )
    parser.add_argument("--runtime", choices=RUNTIMES, default="threads", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if not args.capture.exists():
        sys.exit(f"capture not found: {args.capture} (see ../shared/data/README.md)")
    if args.child:
        child_main(args)
    else:
        parent_main(args)


if __name__ == "__main__":
    main()
