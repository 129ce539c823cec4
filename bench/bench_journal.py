"""Benchmark: the journal's write throughput and commit latency, and its group commit.

Run it as ``python bench/bench_journal.py``. Two parts (`journal_workloads.py`):

1. `JournalWriter.append` on a new file in a temporary directory (``--dir``, default
   the system's temporary directory), batches of 1, 16 and 256 events (order updates,
   every other one a fill, as the live system records them), ``synchronous`` normal and
   full: events/s and the commit's p50/p99 (one transaction per batch), ``--repeats``
   times each, interleaved, the median reported;
2. the `JournalActor` (group commit, at most 256 events a commit) told a burst of N
   events at once, N in ``--bursts``: how many commits it took and events/s from the
   first tell to the last commit, in one child process per runtime (threads, gevent).

Writes ``results/journal.md`` and ``results/journal.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _provenance import git_state, machine_info

ROOT = Path(__file__).resolve().parent
BATCHES = (1, 16, 256)
SYNCHRONOUS = ("normal", "full")


def _child(args: argparse.Namespace) -> int:
    if args.runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()  # first: before pykka or any thread
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level="critical")
    import journal_workloads as workloads  # noqa: PLC0415 - after the runtime

    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        results = []
        for burst in args.bursts:
            runs = [
                workloads.measure_group_commit(Path(scratch), burst=burst)
                for _ in range(args.repeats)
            ]
            best = sorted(runs, key=lambda r: r["events_per_s"])[len(runs) // 2]  # the median
            results.append(best)
    print(json.dumps({"runtime": args.runtime, "group_commit": results}))
    return 0


def _writer(args: argparse.Namespace) -> list[dict[str, Any]]:
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level="critical")
    import journal_workloads as workloads  # noqa: PLC0415

    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        for repeat in range(args.repeats):  # interleaved, so the machine's drift hits all
            for batch in BATCHES:
                for synchronous in SYNCHRONOUS:
                    events = args.events if batch > 1 else args.single_events
                    print(f"writer {repeat + 1}/{args.repeats}: batch {batch}, {synchronous}",
                          file=sys.stderr)  # fmt: skip
                    runs.setdefault((batch, synchronous), []).append(
                        workloads.measure_writer(
                            Path(scratch), events=events, batch=batch, synchronous=synchronous
                        )
                    )
    out = []
    for (batch, synchronous), results in runs.items():
        out.append(
            {
                "batch": batch,
                "synchronous": synchronous,
                "events": results[0]["events"],
                "events_per_s": statistics.median(r["events_per_s"] for r in results),
                "commit_p50_us": statistics.median(r["commit"]["p50_us"] for r in results),
                "commit_p99_us": statistics.median(r["commit"]["p99_us"] for r in results),
                "events_per_s_range": [
                    min(r["events_per_s"] for r in results),
                    max(r["events_per_s"] for r in results),
                ],
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=8192, help="per run, batches of 16, 256")
    parser.add_argument("--single-events", type=int, default=2048, help="per run, batch of 1")
    parser.add_argument("--bursts", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runtimes", nargs="+", default=["threads", "gevent"])
    parser.add_argument("--dir", help="where the journal files go (default: the system's tmp)")
    parser.add_argument("--output-dir", default=str(ROOT / "results"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        return _child(args)
    writer = _writer(args)
    group = []
    for runtime in args.runtimes:
        print(f"group commit: {runtime}", file=sys.stderr)
        command = [sys.executable, __file__, "--child", "--runtime", runtime,
                   "--repeats", str(args.repeats), "--bursts", *map(str, args.bursts)]  # fmt: skip
        if args.dir:
            command += ["--dir", args.dir]
        completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)  # noqa: S603
        group.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    out = {
        "git": git_state(),
        "machine": machine_info(),
        "args": {k: v for k, v in vars(args).items() if k not in ("child", "runtime")},
        "file_system": _file_system(args.dir or tempfile.gettempdir()),
        "writer": writer,
        "group_commit": group,
    }
    directory = Path(args.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "journal.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = _report(out)
    (directory / "journal.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _file_system(path: str) -> str:
    """The file system the journal files were on (``df -T``), for the record."""
    try:
        lines = subprocess.run(  # noqa: S603 - df on a path we chose
            ["df", "-T", path],  # noqa: S607 - df from PATH
            capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    fields = lines[-1].split()
    return f"{path}: {fields[1]} ({fields[0]})" if len(fields) > 1 else "unknown"


def _report(out: dict[str, Any]) -> list[str]:
    machine, args = out["machine"], out["args"]
    lines = [
        "# Journal: write throughput, commit latency, group commit",
        "",
        (
            f"- Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, "
            f"Python {machine['python']}, pykka {machine['pykka']}, gevent {machine['gevent']}"
        ),
        f"- Journal files on: {out['file_system']}",
        f"- Code: {out['git']}",
        (
            f"- Command: `python bench/bench_journal.py --events {args['events']} "
            f"--single-events {args['single_events']} --repeats {args['repeats']} --bursts "
            f"{' '.join(map(str, args['bursts']))}`"
        ),
        "",
        "## JournalWriter.append: one transaction per batch",
        "",
        "Order updates (every other one a fill) appended to a new journal in batches;",
        f"median over {args['repeats']} interleaved runs. Commit: microseconds per `append`",
        "(one transaction of the whole batch).",
        "",
        "| batch | synchronous | events | events/s | events/s range | commit p50 | commit p99 |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in out["writer"]:
        low, high = row["events_per_s_range"]
        lines.append(
            f"| {row['batch']} | {row['synchronous']} | {row['events']} | "
            f"{row['events_per_s']:.0f} | {low:.0f}-{high:.0f} | {row['commit_p50_us']:.1f} | "
            f"{row['commit_p99_us']:.1f} |"
        )
    lines += [
        "",
        "## JournalActor: group commit under a burst",
        "",
        "N events told to the journal actor at once (at most 256 a commit, `synchronous =",
        "normal`); *commits*: transactions it took; events/s from the first tell to the",
        f"last commit (the median of {args['repeats']} runs).",
        "",
        "| runtime | burst | commits | events per commit | events/s | elapsed ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for child in out["group_commit"]:
        for row in child["group_commit"]:
            lines.append(
                f"| {child['runtime']} | {row['burst']} | {row['commits']} | "
                f"{row['events_per_commit']:.1f} | {row['events_per_s']:.0f} | "
                f"{row['elapsed_ms']:.1f} |"
            )
    return lines


if __name__ == "__main__":
    sys.exit(main())
