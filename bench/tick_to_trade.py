"""Benchmark: tick-to-trade latency through the whole trading tree.

Run it as ``python bench/tick_to_trade.py`` (needs the ``bench`` extra: hdrhistogram).
One child process per runtime (and, for threads, pinned to one CPU and not), because
the gevent runtime must patch a fresh process. In each child
(`tick_to_trade_workloads.py`): a frame is injected at the feed actor, the trigger
strategy answers book updates with an order, and the clock stops when the gateway has
written the order frame, to a loopback websocket of a simulated exchange in another
process, or to an in-process sink; one frame in flight, and bursts. Baselines in the
same child: one message through 6 bare pykka actors, 6 raw queues, and 6 supervised
actors. Writes ``results/tick_to_trade.json`` and ``results/tick_to_trade.md``.

``--journal``: instead, tick-to-trade through a whole `TradingSystem` without and with
``[journal] path``, A/B in one run (`tick_to_trade_journal.py`); writes
``results/tick_to_trade_journal.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _provenance import git_state, machine_info

ROOT = Path(__file__).resolve().parent


def _child(args: argparse.Namespace) -> int:
    if args.journal_side:  # a side of the --journal A/B
        return _journal_mode(args)
    if args.runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()  # first: before pykka or any thread
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level="error")
    sys.path.insert(0, str(ROOT))
    import tick_to_trade_workloads as workloads  # noqa: PLC0415 - after the runtime

    workloads.child_main(
        args.runtime,
        pin=args.pin,
        messages=args.messages,
        burst=args.burst,
        burst_every=args.burst_every,
    )
    return 0


def _row(name: str, figures: dict[str, float]) -> str:
    orders = f"{figures['orders']:.0f}" if "orders" in figures else ""
    return (
        f"| {name} | {figures['count']:.0f} | {orders} | {figures['p50_us']:.1f}"
        f" | {figures['p50_min_us']:.0f}-{figures['p50_max_us']:.0f} | {figures['p99_us']:.1f}"
        f" | {figures['p999_us']:.1f} | {figures['max_us']:.1f} |"
    )


def _median_run(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's child results folded into one: the median of each figure."""
    out: dict[str, Any] = {"runtime": results[0]["runtime"], "pinned": results[0]["pinned"]}
    for section in ("inproc", "loopback", "instrumentation", "baselines"):
        out[section] = {}
        for name in results[0][section]:
            rows = [r[section][name] for r in results]
            merged = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
            merged["p50_min_us"] = min(row["p50_us"] for row in rows)
            merged["p50_max_us"] = max(row["p50_us"] for row in rows)
            out[section][name] = merged
    return out


def _journal_mode(args: argparse.Namespace) -> int:
    """``--journal``: the A/B of a whole system without and with the journal (or one side)."""
    import tick_to_trade_journal  # noqa: PLC0415 - that mode only

    if args.child:
        journal = args.journal_side == "with"
        return tick_to_trade_journal.child(args.runtime, journal=journal, ticks=args.messages)
    return tick_to_trade_journal.run_ab(
        runtimes=args.runtimes, runs=args.runs, ticks=args.messages,
        output_dir=Path(args.output_dir),
    )  # fmt: skip


def main() -> int:  # noqa: C901 - one more mode (--journal) than it had
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--burst", type=int, default=20, help="frames told back to back")
    parser.add_argument("--burst-every", type=int, default=5, help="one order per N books")
    parser.add_argument("--runtimes", nargs="+", default=["threads", "gevent"])
    parser.add_argument("--runs", type=int, default=3, help="child processes per runtime")
    parser.add_argument("--output-dir", default=str(ROOT / "results"))
    parser.add_argument(
        "--journal",
        action="store_true",
        help="instead: a whole TradingSystem without and with [journal] path, A/B "
        "(--messages ticks per side, --runs rounds per runtime)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    parser.add_argument("--pin", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--journal-side", choices=("with", "without"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    if args.journal:
        return _journal_mode(args)
    configurations = [(runtime, pin) for runtime in args.runtimes
                      for pin in ((False, True) if runtime == "threads" else (False,))]  # fmt: skip
    children: dict[tuple[str, bool], list[dict[str, Any]]] = {c: [] for c in configurations}
    for round_ in range(args.runs):  # interleaved, so the machine's drift hits all alike
        for runtime, pin in configurations:
            command = [sys.executable, __file__, "--child", "--runtime", runtime,
                       "--messages", str(args.messages), "--burst", str(args.burst),
                       "--burst-every", str(args.burst_every)]  # fmt: skip
            if pin:
                command.append("--pin")
            name = f"{runtime}{' pinned' if pin else ''}"
            print(f"run {round_ + 1}/{args.runs}: {name} ...", file=sys.stderr)
            completed = subprocess.run(  # noqa: S603 - our own script and interpreter
                command, stdout=subprocess.PIPE, text=True, check=True
            )
            children[runtime, pin].append(json.loads(completed.stdout.strip().splitlines()[-1]))
    runs = [_median_run(results) for results in children.values()]
    out = {
        "git": git_state(),
        "machine": machine_info(),
        "args": vars(args),
        "runs": runs,  # per configuration, the median over its runs of each figure
        "children": [r for results in children.values() for r in results],
    }
    directory = Path(args.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tick_to_trade.json").write_text(json.dumps(out, indent=2) + "\n")
    machine = out["machine"]
    lines = [
        "# Tick-to-trade latency",
        "",
        (
            f"- Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, "
            f"Python {machine['python']}, pykka {machine['pykka']}, gevent {machine['gevent']}"
        ),
        f"- Code: {out['git']}",
        (
            f"- Command: `python bench/tick_to_trade.py --messages {args.messages} --burst "
            f"{args.burst} --burst-every {args.burst_every} --runs {args.runs}`"
        ),
        "",
        f"Each configuration ran in {args.runs} child processes, interleaved; every figure is",
        "the median over them, and *p50 range* the lowest and highest p50 (one process of",
        "the same code can run at p50 100 µs and the next at 170 µs on this shared VM).",
        "",
        "Microseconds from telling the feed a depth frame to the gateway having written the",
        "order frame; HDR histogram. *pipeline*: feed -> book -> strategy -> risk -> order",
        "manager -> gateway (6 actors, 5 hops), the strategy behind the conflating book",
        "mailbox of the trading system's tree. *n*: trigger frames timed; *orders*: orders",
        "answering them (fewer in bursts, where a strategy busy with one book sees only the",
        "newest of those queued meanwhile; each trigger is timed to the order that answered",
        "it). *(A/B)*: an instrumented tree and one built with `instrument=False`, alive at",
        "once and driven in alternating blocks. *baselines*: one message through 6 actors.",
        "",
    ]
    for run in runs:
        title = f"## {run['runtime']}{' (pinned to one CPU)' if run['pinned'] else ''}"
        lines += [
            title,
            "",
            "| path | n | orders | p50 | p50 range | p99 | p99.9 | max |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for sink in ("inproc", "loopback"):
            for mode, figures in run[sink].items():
                lines.append(_row(f"pipeline, {sink} sink, {mode}", figures))
        for name, figures in run["instrumentation"].items():
            lines.append(_row(f"pipeline, inproc sink, one_in_flight, {name} (A/B)", figures))
        for name, figures in run["baselines"].items():
            label = {"queue": "6 raw queues", "uninstrumented": "6 supervised actors, "
                     "uninstrumented"}.get(name, f"6 {name} actors")  # fmt: skip
            lines.append(_row(f"baseline: {label}", figures))
        lines.append("")
    (directory / "tick_to_trade.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
