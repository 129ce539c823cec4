"""Benchmark: how tick-to-trade and throughput grow with strategies and instruments.

Run it as ``python bench/scale_strategies.py`` (needs the ``bench`` extra: hdrhistogram;
``--quick`` for a ~30 s smoke run). One child process per runtime (the gevent runtime
must patch a fresh process). In each child (`scale_strategies_workloads.py`) the trading
tree is built with 1 and 4 instruments and 1, 4 and 16 strategies (each under its own
supervisor, each book telling only the strategies that trade it), with the edges of
`tick_to_trade_workloads.py` (frames told to the feed, orders written to an in-process
sink), and measured: tick-to-trade of strategy 0 on instrument 0 with the other
strategies deciding quotes on every book of theirs (*quiet*) or also answering each with
an order (*answering*), and the book updates/s (and orders/s) the whole tree absorbs.
Every figure is also given as a ratio to the 1 x 1 cell of the same child. Writes
``results/scale_strategies.json`` and ``results/scale_strategies.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from _provenance import git_state, machine_info

ROOT = Path(__file__).resolve().parent
QUICK = {"steps": 300, "warmup": 50, "frames": 4000, "rounds": 3}
SIZES = ("steps", "warmup", "frames", "window", "rounds")


def _child(args: argparse.Namespace) -> int:
    if args.runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()  # first: before pykka or any thread
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level="error")
    sys.path.insert(0, str(ROOT))
    import scale_strategies_workloads as workloads  # noqa: PLC0415 - after the runtime

    sizes = {name: getattr(args, name) for name in SIZES}
    print(json.dumps(workloads.child_main(args.runtime, **sizes)))
    return 0


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def _rate(figures: dict[str, Any], base: dict[str, Any], key: str) -> str:
    """Two cells: a rate and its ratio to the base's."""
    return f" | {figures[key]:,.0f} | {_ratio(figures[key], base[key])}"


def _spread(figures: dict[str, Any]) -> str:
    """A cell: the rounds' lowest and highest book rates."""
    return f" | {figures['books_per_s_min']:,.0f}-{figures['books_per_s_max']:,.0f}"


def _label(cell: dict[str, Any]) -> str:
    subscribers = sorted(set(cell["subscribers_per_book"]))
    per_strategy = sorted(set(cell["instruments_per_strategy"]))
    return (
        f"| {cell['strategies']} x {cell['instruments']} | {'/'.join(map(str, subscribers))}"
        f" | {'/'.join(map(str, per_strategy))}"
    )


def _report(out: dict[str, Any], args: argparse.Namespace) -> list[str]:
    machine = out["machine"]
    sizes = " ".join(f"--{name} {getattr(args, name)}" for name in SIZES)
    lines = [
        "# Tick-to-trade and throughput against strategies and instruments",
        "",
        (
            f"- Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, "
            f"Python {machine['python']}, pykka {machine['pykka']}, gevent {machine['gevent']}"
        ),
        f"- Code: {out['git']}",
        f"- Command: `python bench/scale_strategies.py {sizes}`",
        (
            "- Load: the machine is shared with other agents running tests; 1-minute load "
            f"average {out['loadavg_1min'][0]:.2f} at the start, "
            + ", ".join(
                f"{run['runtime']} child {min(run['loadavg_1min']):.2f}-"
                f"{max(run['loadavg_1min']):.2f}"
                for run in out["runs"]
            )
            + " (sampled between measurements)."
        ),
        "",
        "The tree of the trading system with *S* strategies and *I* instruments (real order",
        "manager, risk, book and strategy actors; every strategy under a supervisor of its",
        "own, behind the conflating book mailbox; each book tells only the strategies that",
        "trade it; the paths from `trading.paths.actor_paths`); frames told to the feed",
        "actor, orders written by a gateway to an in-process sink (`tick_to_trade`'s edges).",
        "Strategy *k* trades instrument *j* when *k = j (mod min(S, I))*: *subs/book* is how",
        "many strategies each book tells, *instr/strategy* how many instruments each trades.",
        "Every strategy makes the market maker's decision (`MarketMaker.quotes`) on every",
        "book it gets; *answering*: it also answers each with an IOC order to the sink.",
        "",
        "All six trees of a measurement are alive at once in one process and driven in",
        f"{args.rounds} interleaved rounds (the cells' order changing by round), so that the",
        "machine's drift hits them alike; *x1x1* is each figure over the 1 x 1 cell's of the",
        "same child and measurement. Compare ratios, not absolute figures across runs.",
        "",
    ]
    for run in out["runs"]:
        cells = run["cells"]
        base = cells[0]
        lines += [
            f"## {run['runtime']} ({run['seconds']:.0f} s)",
            "",
            (
                "Tick-to-trade, µs, of strategy 0 on instrument 0 (HDR histogram, "
                f"{base['latency_quiet']['count']} steps a cell): a step tells one depth frame"
            ),
            "of every instrument, instrument 0's first, and waits for the trigger's order",
            "and for every strategy to have handled the step's books (and for the sink to",
            "have written their orders): one step in flight.",
            "",
            (
                "| S x I | subs/book | instr/strategy | quiet p50 | x1x1 | quiet p99 | x1x1 "
                "| answering p50 | x1x1 | answering p99 | x1x1 |"
            ),
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for cell in cells:
            row = _label(cell)
            for mode in ("quiet", "answering"):
                for figure in ("p50_us", "p99_us"):
                    value = cell[f"latency_{mode}"][figure]
                    row += f" | {value:.0f} | {_ratio(value, base[f'latency_{mode}'][figure])}"
            lines.append(row + " |")
        lines += [
            "",
            f"Throughput: {base['throughput_quiet']['frames']} depth frames a cell, told",
            f"round-robin over its instruments in chunks of {args.window}, the next chunk",
            "told once every strategy has seen the books of the one before (at most two",
            "chunks in flight), and everything drained at the end of each round. *books/s*:",
            "frames the tree absorbed a second (the range: the rounds' lowest and highest);",
            "*handled/s*: books the strategies handled a second, all together (fewer than",
            "books/s x subs/book: a busy strategy's mailbox keeps only the newest book of an",
            "instrument); *orders/s*: orders the sink wrote a second.",
            "",
            (
                "| S x I | subs/book | instr/strategy | quiet books/s | x1x1 | range | handled/s "
                "| answering books/s | x1x1 | handled/s | orders/s | x1x1 |"
            ),
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for cell in cells:
            quiet, answering = cell["throughput_quiet"], cell["throughput_answering"]
            base_quiet, base_answering = base["throughput_quiet"], base["throughput_answering"]
            lines.append(
                _label(cell)
                + _rate(quiet, base_quiet, "books_per_s")
                + _spread(quiet)
                + f" | {quiet['deliveries_per_s']:,.0f}"
                + _rate(answering, base_answering, "books_per_s")
                + f" | {answering['deliveries_per_s']:,.0f}"
                + _rate(answering, base_answering, "orders_per_s")
                + " |"
            )
        lines += [
            "",
            f"Paced, every strategy answering: {base['throughput_paced']['frames']} frames a",
            "cell in chunks of one frame per instrument (the next told once every strategy",
            "has seen the chunk before: at most two frames of an instrument in flight), so",
            "that each strategy handles about every other book of its instruments or more",
            "(compare handled/s with books/s x subs/book): the fan-out and the order path at",
            "close to full cost.",
            "",
            (
                "| S x I | subs/book | instr/strategy | books/s | x1x1 | range | handled/s "
                "| x1x1 | orders/s | x1x1 |"
            ),
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for cell in cells:
            paced, base_paced = cell["throughput_paced"], base["throughput_paced"]
            lines.append(
                _label(cell)
                + _rate(paced, base_paced, "books_per_s")
                + _spread(paced)
                + _rate(paced, base_paced, "deliveries_per_s")
                + _rate(paced, base_paced, "orders_per_s")
                + " |"
            )
        lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="timed steps a cell and mode")
    parser.add_argument("--warmup", type=int, default=200, help="untimed steps first")
    parser.add_argument("--frames", type=int, default=24000, help="throughput frames a cell")
    parser.add_argument("--window", type=int, default=64, help="frames a throughput chunk")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--quick", action="store_true", help="a smoke run: " + str(QUICK))
    parser.add_argument("--runtimes", nargs="+", default=["threads", "gevent"])
    parser.add_argument("--output-dir", default=str(ROOT / "results"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    if args.child:
        return _child(args)
    load = os.getloadavg()[0]
    runs = []
    for runtime in args.runtimes:
        print(f"{runtime} ...", file=sys.stderr)
        command = [sys.executable, __file__, "--child", "--runtime", runtime]
        for name in SIZES:
            command += [f"--{name}", str(getattr(args, name))]
        completed = subprocess.run(  # noqa: S603 - our own script and interpreter
            command, stdout=subprocess.PIPE, text=True, check=True
        )
        runs.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    out = {
        "git": git_state(),
        "machine": machine_info(),
        "loadavg_1min": [load, os.getloadavg()[0]],  # before and after
        "args": {name: value for name, value in vars(args).items() if name != "child"},
        "runs": runs,
    }
    directory = Path(args.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "scale_strategies.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = _report(out, args)
    (directory / "scale_strategies.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
