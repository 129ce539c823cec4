"""Benchmark: the floor of tick-to-trade, the hot path's work done without actors.

Run it as ``python bench/hot_path_floor.py`` (needs the ``bench`` extra: hdrhistogram).
Is issue 20's goal (pipeline p50 <= 1.7x the six-raw-queue baseline under gevent,
<= 1.3x under threads pinned to one CPU) reachable with the work the workload needs
done in CPython? In each child process (`hot_path_floor_workloads.py`), on the frames and
actors of `tick_to_trade_workloads.py`: the cores the pipeline's handlers call, in one
thread in sequence (each stage timed, and the whole sequence end to end); the six
handlers called directly; the cores over six raw queues; the real pipeline with its
actors' handler means; and the raw-queue and supervised baselines, all interleaved.
``floor_ratio = (raw queues p50 + cores p50) / raw queues p50``: the best ratio the
pipeline could reach if its actors cost no more than raw queues.
Writes ``results/hot_path_floor.json`` and ``results/hot_path_floor.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _provenance import git_state, machine_info

ROOT = Path(__file__).resolve().parent


def _child(args: argparse.Namespace) -> int:
    if args.runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()  # first: before pykka or any thread
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level="error")
    sys.path.insert(0, str(ROOT))
    import hot_path_floor_workloads as workloads  # noqa: PLC0415 - after the runtime

    result = workloads.child_main(
        args.runtime, pin=args.pin, messages=args.messages, warmup=args.warmup, blocks=args.blocks
    )
    print(json.dumps(result))
    return 0


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _fold(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's children folded into one: the median of each figure."""

    def med(*keys: str) -> float:
        values = []
        for result in results:
            value: Any = result
            for key in keys:
                value = value[key]
            values.append(value)
        return _median(values)

    first = results[0]
    out: dict[str, Any] = {"runtime": first["runtime"], "pinned": first["pinned"]}
    out["ratios"] = {k: med("ratios", k) for k in first["ratios"]}
    out["ratio_ranges"] = {
        k: (min(r["ratios"][k] for r in results), max(r["ratios"][k] for r in results))
        for k in first["ratios"]
    }
    for name in ("cores_e2e", "handlers_e2e", "cores_queued", "cores_queued_one_stage", "pipeline"):
        out[name] = {k: med(name, k) for k in first[name]}
    out["baselines"] = {
        n: {k: med("baselines", n, k) for k in first["baselines"][n]} for n in first["baselines"]
    }
    for level in ("cores", "handlers"):
        out[level] = {
            stage: {k: med(level, "stages", stage, k) for k in figures}
            for stage, figures in first[level]["stages"].items()
        }
    out["cores_staged_sum_us"] = med("cores", "staged_sum_us")
    out["pipeline_actors"] = {
        path: {k: med("pipeline_actors", path, k) for k in figures}
        for path, figures in first["pipeline_actors"].items()
    }
    out["load"] = [(r["load_before"][0], r["load_after"][0]) for r in results]
    return out


_ROWS = (  # report row: (core stages, handler stage, pipeline actor path)
    ("feed: decode", ("decode",), "feed", "market_data/feed"),
    ("book: on_event + view", ("book", "view"), "book", "market_data/book.BTCUSDT"),
    ("strategy: trigger + submit", ("strategy",), "strategy", "strategy"),
    ("risk: OrderRequest + check", ("risk",), "risk", "risk"),
    ("order manager: place", ("order_manager",), "order_manager", "execution/order_manager"),
    ("gateway: encode", ("gateway",), "gateway", "execution/gateway"),
)


def _report(out: dict[str, Any], args: argparse.Namespace) -> list[str]:
    machine = out["machine"]
    lines = [
        "# The hot path's floor: tick-to-trade work without actors",
        "",
        (
            f"- Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, "
            f"Python {machine['python']}, pykka {machine['pykka']}, gevent {machine['gevent']}, "
            f"msgspec {machine['msgspec']}"
        ),
        f"- Code: {out['git']}",
        (
            f"- Command: `python bench/hot_path_floor.py --messages {args.messages} --warmup "
            f"{args.warmup} --blocks {args.blocks} --runs {args.runs}`"
        ),
        "",
        f"{args.runs} child processes per configuration, interleaved; each measures every",
        f"variant on the same {args.messages} depth frames of `tick_to_trade_workloads.py`",
        f"(after {args.warmup} warm-up frames), in {args.blocks} interleaved blocks. Every",
        "figure is the median over the children; ratios are computed within each child",
        "(then the median, and the range over children). Microseconds.",
        "",
        "- *cores*: the cores the handlers call, in one thread, no actors (decode, book",
        "  sync, 10-level view, trigger + live `StrategyContext.submit`, `OrderRequest` +",
        "  `RiskEngine.check`, `ExecutionCore.place`, the sink gateway's encode, reproduced",
        "  from `SinkGateway.on_receive` without `Recorder.wrote`).",
        "- *handlers*: the six actors' `on_receive` called directly (real `ActorContext`, a",
        "  stand-in cell: a tell appends to a list the host hands to the next actor).",
        "- *cores over 6 raw queues*: the core stages in six threads (greenlets) joined by",
        "  the baseline's raw queues: the pipeline if actors cost what raw queues cost.",
        "- *control*: the same chain of 6 raw queues with all the cores' work in its first",
        "  stage and the other five forwarding: the same work and hops, the work not split.",
        "- *pipeline*: `tick_to_trade.py`'s tree, in-process sink, one frame in flight.",
        "- *floor ratio* = (raw queues p50 + cores p50) / raw queues p50.",
        "",
        "Per stage, except the first column (the median over every frame), the figures",
        "are means: the median over the blocks of each block's mean (a block that another",
        "process disturbed does not count), the pipeline's from the tree's own statistics",
        "(`tree.stats(path).handler` and `.wait`, sum / count), the mailbox wait being",
        "from the tell to the handler's start.",
        "",
    ]
    for run in out["runs"]:
        pinned = " (pinned to one CPU)" if run["pinned"] else ""
        ratios, ranges = run["ratios"], run["ratio_ranges"]
        goal = 1.3 if run["runtime"] == "threads" else 1.7

        def ratio(key: str, ratios: dict[str, float] = ratios, ranges: Any = ranges) -> str:
            low, high = ranges[key]
            return f"{ratios[key]:.2f} ({low:.2f}-{high:.2f})"

        def row(label: str, figures: dict[str, float], versus: str) -> str:
            mean = f"{figures['mean_us']:.1f}" if "mean_us" in figures else "-"
            return (
                f"| {label} | {figures['p50_us']:.1f} | {figures['p99_us']:.1f} | {mean} "
                f"| {versus} |"
            )

        baselines = run["baselines"]
        p99s = (
            f"Floor p99 (raw queues p99 + cores p99, a pessimistic sum) "
            f"{ratio('floor_p99_sum')}; cores over raw queues p99 {ratio('cores_queued_p99')}; "
            f"pipeline p99 {ratio('pipeline_p99')}."
        )
        header = (
            "| stage | core in a loop: median | core in a loop | handler called directly "
            "| handler in the pipeline | mailbox wait in the pipeline |"
        )
        lines += [
            f"## {run['runtime']}{pinned}",
            "",
            "Load average (1 min; one child of ours is running) before -> after each child: "
            + ", ".join(f"{before:.2f} -> {after:.2f}" for before, after in run["load"])
            + ".",
            "",
            "| end to end, one frame | p50 | p99 | mean | ratio p50 to raw queues |",
            "|---|---:|---:|---:|---:|",
            row("baseline: 6 raw queues", baselines["queue"], "1.00"),
            row("baseline: 6 supervised actors", baselines["supervised"], ratio("supervised_p50")),
            row("cores in one thread", run["cores_e2e"], f"floor: {ratio('floor_p50')}"),
            row(
                "handlers called directly",
                run["handlers_e2e"],
                f"{ratio('handlers_floor_p50')} (added to the queues)",
            ),
            row("cores over 6 raw queues", run["cores_queued"], ratio("cores_queued_p50")),
            row(
                "control: all cores in the 1st of 6 raw queues",
                run["cores_queued_one_stage"],
                ratio("cores_queued_one_stage_p50"),
            ),
            row("pipeline", run["pipeline"], ratio("pipeline_p50")),
            "",
            f"Goal: p50 <= {goal}x. {p99s}",
            "",
            header,
            "|---|---:|---:|---:|---:|---:|",
        ]
        totals = [0.0, 0.0, 0.0, 0.0, 0.0]
        for label, core_stages, handler_stage, path in _ROWS:
            core_median = sum(run["cores"][s]["median_us"] for s in core_stages)
            core_mean = sum(run["cores"][s]["block_mean_us"] for s in core_stages)
            handler = run["handlers"][handler_stage]["block_mean_us"]
            actor = run["pipeline_actors"][path]
            figures = [core_median, core_mean, handler, actor["handler_block_mean_us"]]
            figures.append(actor["wait_block_mean_us"])
            totals = [t + f for t, f in zip(totals, figures, strict=True)]
            lines.append(f"| {label} | " + " | ".join(f"{f:.2f}" for f in figures) + " |")
        lines += ["| sum | " + " | ".join(f"{t:.2f}" for t in totals) + " |", ""]
        detail = ", ".join(
            f"{stage} {figures['median_us']:.2f}" for stage, figures in run["cores"].items()
        )
        lines += [f"Core stages alone (median): {detail}.", ""]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="timed frames per variant")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up frames per variant")
    parser.add_argument("--blocks", type=int, default=50, help="interleaved blocks per child")
    parser.add_argument("--runs", type=int, default=5, help="child processes per configuration")
    parser.add_argument(
        "--runtimes", nargs="+", default=["gevent", "threads"], help="threads: pinned to one CPU"
    )
    parser.add_argument("--output-dir", default=str(ROOT / "results"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    parser.add_argument("--pin", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    children: dict[str, list[dict[str, Any]]] = {runtime: [] for runtime in args.runtimes}
    for round_ in range(args.runs):  # interleaved, so the machine's drift hits all alike
        for runtime in args.runtimes:
            command = [sys.executable, __file__, "--child", "--runtime", runtime,
                       "--messages", str(args.messages), "--warmup", str(args.warmup),
                       "--blocks", str(args.blocks)]  # fmt: skip
            if runtime == "threads":
                command.append("--pin")
            print(f"run {round_ + 1}/{args.runs}: {runtime} ...", file=sys.stderr)
            completed = subprocess.run(  # noqa: S603 - our own script and interpreter
                command, stdout=subprocess.PIPE, text=True, check=True
            )
            child = json.loads(completed.stdout.strip().splitlines()[-1])
            print(
                f"  floor {child['ratios']['floor_p50']:.2f}, pipeline "
                f"{child['ratios']['pipeline_p50']:.2f} (p50 {child['pipeline']['p50_us']:.1f} "
                f"us, raw queues {child['baselines']['queue']['p50_us']:.1f} us)",
                file=sys.stderr,
            )
            children[runtime].append(child)
    out = {
        "git": git_state(),
        "machine": machine_info(),
        "load_parent": os.getloadavg(),
        "args": vars(args),
        "runs": [_fold(results) for results in children.values()],
        "children": [r for results in children.values() for r in results],
    }
    directory = Path(args.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hot_path_floor.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = _report(out, args)
    (directory / "hot_path_floor.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
