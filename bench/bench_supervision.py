"""Benchmark: what supervision and instrumentation cost, under threads and under gevent.

Run it as ``python bench/bench_supervision.py``. The parent process starts one child
process per runtime (``--child --runtime threads|gevent``): the gevent runtime must
monkey-patch a process before any thread starts, so each runtime gets a fresh one.
Each child prints one JSON document on its last stdout line; the parent collects them
and writes ``supervision.json`` and ``supervision.md`` to ``--output-dir``.

Measured in each runtime:

1. Flood throughput through a chain of 6 actors: ``--messages`` messages are told to
   actor 0, each actor forwards to the next, the last one counts them and sets an
   event at the last. Four variants, interleaved round by round (``--rounds``):
   ``supervised`` (a tree of 6 `SupervisedActor` children, forwarding by
   ``Address.tell``), ``uninstrumented`` (the same tree built with
   ``instrument=False``), ``pykka`` (bare ``pykka.ThreadingActor`` forwarding by
   ``ActorRef.tell``) and ``queue`` (6 threads, or greenlets, passing items along
   ``queue.Queue``, or ``gevent.queue.Queue``). A fresh chain is built for each round.
2. One-message-in-flight latency through the same chains: send one message, wait for
   it to leave the last actor, repeat (``--latency-messages``, after a warm-up).
3. Restart latency of a supervised child: from the moment a handler raises to the
   moment its next incarnation handles the message queued right behind the crash
   (``--restarts`` times); also with the crash injected by ``faults(path).crash_next()``,
   timed from just before the failing message is told.

Logging is configured at level ``critical`` to /dev/null in the children, so that the
logs of crashes and restarts do not dominate the timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _provenance import git_state, machine_info, source_digest

CHAIN_LENGTH = 6  # as in supervision_workloads, which the parent does not import
VARIANTS = ("supervised", "uninstrumented", "pykka", "queue")
RUNTIMES = ("threads", "gevent")
THROUGHPUT_TARGET = 0.85
"""The issue's target: supervised throughput at least 85% of bare pykka's."""
RESTART_P99_TARGET_MS = 5.0
"""The issue's target: restart latency p99 under 5 ms."""

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"


# -- the child: one runtime -----------------------------------------------------------------


def child_main(args: argparse.Namespace) -> None:
    """Measure everything in this process's runtime; print the JSON report on stdout."""
    from tradeactors.supervision.runtime import current_runtime, use_gevent  # noqa: PLC0415

    if args.runtime == "gevent":
        use_gevent()  # first: before pykka or any thread
    import supervision_workloads as work  # noqa: PLC0415 - after the runtime is chosen
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    digest = source_digest()  # of the code just imported (src/ may change under us)
    if current_runtime() != args.runtime:
        raise RuntimeError(f"asked for {args.runtime}, running {current_runtime()}")
    devnull = Path(os.devnull).open("w")  # noqa: SIM115 - open for the process's life
    configure_logging(level="critical", json=True, stream=devnull)

    if args.profile:
        work.profile_floods(args.messages, args.profile_top)
        return
    before = set(threading.enumerate())
    started = time.perf_counter()
    work.log(f"[{args.runtime}] flood: {args.messages:,} messages x {args.rounds} rounds")
    throughput = work.measure_throughput(args.messages, args.rounds)
    work.log(f"[{args.runtime}] latency: {args.latency_messages:,} messages")
    latency = work.measure_latency(args.latency_messages, args.latency_warmup, args.latency_blocks)
    work.log(f"[{args.runtime}] restarts: {args.restarts:,} per mode")
    restarts = work.measure_restarts(args.restarts)
    for thread in threading.enumerate():
        if thread not in before:
            thread.join(5)
    report = {
        "runtime": args.runtime,
        "tradeactors_source_sha256": digest,
        "throughput": throughput,
        "latency": latency,
        "restart": restarts,
        "leaked_threads": [t.name for t in threading.enumerate() if t not in before],
        "elapsed_s": time.perf_counter() - started,
    }
    print(json.dumps(report))


# -- the parent: both runtimes, one report -----------------------------------------------


def run_child(runtime: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run this script in a fresh process for ``runtime`` and parse its JSON report."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--runtime",
        runtime,
        *child_options(args),
    ]
    print(f"== {runtime}: {shlex.join(command)}", file=sys.stderr)
    completed = subprocess.run(  # noqa: S603 - our own script, our own interpreter
        command, stdout=subprocess.PIPE, text=True, check=True
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def child_options(args: argparse.Namespace) -> list[str]:
    """The measurement options, as given to the parent."""
    return [
        f"--messages={args.messages}",
        f"--rounds={args.rounds}",
        f"--latency-messages={args.latency_messages}",
        f"--latency-warmup={args.latency_warmup}",
        f"--latency-blocks={args.latency_blocks}",
        f"--restarts={args.restarts}",
    ]


def _verdict(met: bool) -> str:  # noqa: FBT001 - a figure's verdict
    return "**met**" if met else "**NOT met**"


def render_header(report: dict[str, Any]) -> list[str]:
    """Date, machine, command and method."""
    machine = report["machine"]
    params = report["parameters"]
    versions = (
        f"Python {machine['python']} ({machine['python_implementation']}), "
        f"pykka {machine['pykka']}, gevent {machine['gevent']}, "
        f"greenlet {machine['greenlet']}, tradeactors {machine['tradeactors']}"
    )
    flood = (
        f"flood of {params['messages']:,} messages x {params['rounds']} rounds per variant, "
        f"variants interleaved round by round after a warm-up round of "
        f"{max(1, params['messages'] // 10):,}, a fresh chain each round, median reported"
    )
    latency = (
        f"latency over {params['latency_messages']:,} messages after "
        f"{params['latency_warmup']:,} warm-up, variants interleaved in "
        f"{params['latency_blocks']} blocks"
    )
    restarts = f"{params['restarts']:,} restarts per crash mode after 50 warm-up"
    return [
        "# Supervision benchmark",
        "",
        f"- Date: {report['date']}",
        (
            f"- Machine: {machine['nproc']} CPUs, `{machine['cpu_model']}`, "
            f"kernel `{machine['kernel']}`"
        ),
        f"- Software: {versions}",
        (
            f"- Code: git commit `{report['git']}`; tradeactors sources sha256 "
            f"`{report['tradeactors_source_sha256']}` (first 16 hex digits)"
        ),
        f"- Command: `{report['command']}` (wall time {report['elapsed_s']:.0f} s)",
        (
            f"- Method: chain of {CHAIN_LENGTH} actors; {flood}; {latency}; {restarts}. "
            "Each runtime runs in its own child process."
        ),
        (
            "- Variants: **supervised** = a `Supervisor` tree (with a `CollectorRegistry`) "
            "of 6 `SupervisedActor` children forwarding by `Address.tell`; **uninstrumented** "
            "= the same tree built with `instrument=False` (no per-message wait/handler "
            "histograms or counts); **pykka** = 6 bare "
            "`pykka.ThreadingActor`s forwarding by `ActorRef.tell`; **queue** = 6 threads "
            "(greenlets under gevent) forwarding along `queue.Queue` (`gevent.queue.Queue` "
            "under gevent)."
        ),
        (
            "- Logging: `configure_logging(level='critical', json=True, stream=/dev/null)` in "
            "the measuring processes, so that log output (a line per crash and per restart "
            "at the default level) does not dominate the timings."
        ),
        (
            f"- Targets (from the issue): supervised throughput >= {THROUGHPUT_TARGET:.2f} x "
            f"bare pykka's; restart p99 < {RESTART_P99_TARGET_MS:g} ms."
        ),
        "",
    ]


def render_runtime(runtime: str, result: dict[str, Any]) -> list[str]:
    """Tables and verdicts of one runtime."""
    tp = result["throughput"]
    lat = result["latency"]
    rs = result["restart"]
    lines = [
        f"## Runtime: {runtime}",
        "",
        "| variant | flood msg/s (median) | min .. max | latency p50 (us) | latency p99 (us) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {name} | {tp[name]['median_msgs_per_s']:,.0f} | "
        f"{tp[name]['min_msgs_per_s']:,.0f} .. {tp[name]['max_msgs_per_s']:,.0f} | "
        f"{lat[name]['p50_us']:.1f} | {lat[name]['p99_us']:.1f} |"
        for name in VARIANTS
    )
    medians = {name: tp[name]["median_msgs_per_s"] for name in VARIANTS}
    ratio = tp["ratio_supervised_vs_pykka"]
    per_round = ", ".join(f"{r:.2f}" for r in tp["ratio_supervised_vs_pykka_per_round"])
    vs_queue = (
        f"supervised / queue {medians['supervised'] / medians['queue']:.2f}, "
        f"pykka / queue {medians['pykka'] / medians['queue']:.2f}"
    )
    lines += [
        "",
        (
            f"- Throughput supervised / pykka (ratio of medians): **{ratio:.2f}**; per round: "
            f"{per_round} (median {tp['ratio_supervised_vs_pykka_median_of_rounds']:.2f}). "
            f"Target >= {THROUGHPUT_TARGET:.2f}: "
            f"{_verdict(ratio >= THROUGHPUT_TARGET)}."
        ),
        f"- Throughput against the raw queue chain: {vs_queue}.",
        (
            "- Instrumentation (per-message wait/handler histograms and counts): "
            "supervised / uninstrumented throughput, median of per-round ratios "
            f"{tp['ratio_instrumented_vs_uninstrumented_median_of_rounds']:.2f}."
        ),
        (
            f"- Latency supervised / pykka: p50 {lat['ratio_p50_supervised_vs_pykka']:.2f}, "
            f"p99 {lat['ratio_p99_supervised_vs_pykka']:.2f}."
        ),
        "",
        (
            "| restart (supervised), until the successor handles the next message "
            "| p50 (ms) | p99 (ms) | mean (ms) | max (ms) |"
        ),
        "|---|---:|---:|---:|---:|",
    ]
    for mode, label in (
        ("handler_raises", "from the handler raising"),
        ("crash_next", "from telling the message `faults().crash_next()` fails"),
    ):
        lines.append(
            f"| {label} | {rs[mode]['p50_ms']:.3f} | {rs[mode]['p99_ms']:.3f} | "
            f"{rs[mode]['mean_ms']:.3f} | {rs[mode]['max_ms']:.3f} |"
        )
    p99 = rs["handler_raises"]["p99_ms"]
    lines += [
        "",
        (
            f"- Restart p99 (handler raises): {p99:.3f} ms. Target < {RESTART_P99_TARGET_MS:g} ms: "
            f"{_verdict(p99 < RESTART_P99_TARGET_MS)}. {rs['incarnations']:,} incarnations in all, "
            f"tree still running afterwards: {rs['tree_running_after']}."
        ),
        f"- Threads left running after the measurements: {result['leaked_threads'] or 'none'}.",
        "",
    ]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The human-readable results."""
    lines = render_header(report)
    for runtime, result in report["runtimes"].items():
        lines += render_runtime(runtime, result)
    digests = {result["tradeactors_source_sha256"] for result in report["runtimes"].values()}
    if digests != {report["tradeactors_source_sha256"]}:
        lines.append(
            "**Warning: tradeactors' sources changed during the run** (digests "
            f"{', '.join(sorted(digests | {report['tradeactors_source_sha256']}))}): "
            "the runtimes did not measure the same code."
        )
    return "\n".join(lines)


def parent_main(args: argparse.Namespace) -> None:
    """Run every runtime in its own process, then write JSON and Markdown results."""
    if args.profile:
        for runtime in args.runtimes:
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                "--profile",
                f"--profile-top={args.profile_top}",
                f"--runtime={runtime}",
                f"--messages={args.messages}",
            ]
            subprocess.run(command, check=True)  # noqa: S603 - our own script and interpreter
        return
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "tradeactors_source_sha256": source_digest(),
        "git": git_state(),
        "command": shlex.join([sys.executable, *sys.argv]),
        "parameters": {
            "chain_length": CHAIN_LENGTH,
            "messages": args.messages,
            "rounds": args.rounds,
            "latency_messages": args.latency_messages,
            "latency_warmup": args.latency_warmup,
            "latency_blocks": args.latency_blocks,
            "restarts": args.restarts,
            "logging": "critical, to /dev/null",
        },
        "targets": {
            "throughput_ratio_min": THROUGHPUT_TARGET,
            "restart_p99_ms_max": RESTART_P99_TARGET_MS,
        },
        "runtimes": {runtime: run_child(runtime, args) for runtime in args.runtimes},
    }
    report["elapsed_s"] = time.perf_counter() - started
    output: Path = args.output_dir
    output.mkdir(parents=True, exist_ok=True)
    (output / "supervision.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = render_markdown(report)
    (output / "supervision.md").write_text(markdown + "\n")
    print(markdown)
    print(f"\nwritten: {output / 'supervision.md'}, {output / 'supervision.json'}", file=sys.stderr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages per flood round")
    parser.add_argument("--rounds", type=int, default=7, help="flood rounds per variant")
    parser.add_argument(
        "--latency-messages", type=int, default=5_000, help="measured one-at-a-time messages"
    )
    parser.add_argument("--latency-warmup", type=int, default=500, help="warm-up messages")
    parser.add_argument(
        "--latency-blocks", type=int, default=5, help="interleaved blocks of latency messages"
    )
    parser.add_argument("--restarts", type=int, default=1_000, help="restarts per crash mode")
    parser.add_argument(
        "--runtimes",
        nargs="+",
        choices=RUNTIMES,
        default=list(RUNTIMES),
        help="runtimes to measure, each in its own process",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=DEFAULT_OUTPUT, help="where results are written"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runtime", choices=RUNTIMES, default="threads", help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of benchmarking: cProfile one supervised and one bare pykka flood "
        "of --messages in each runtime and print the top costs (writes no results)",
    )
    parser.add_argument("--profile-top", type=int, default=30, help="rows of profile output")
    return parser.parse_args(argv)


def main() -> None:
    """Entry point."""
    args = parse_args()
    if args.child:
        child_main(args)
    else:
        parent_main(args)


if __name__ == "__main__":
    main()
