"""Before/after: tick-to-trade of two versions of the code, measured in the same run.

``python bench/ab_tick_to_trade.py --before HEAD~1`` checks the ``--before`` revision
out into a temporary git worktree and measures its in-process pipeline (the
`tick_to_trade_workloads.measure_pipeline` of that revision, with that revision's
``src/``; ``--sink loopback`` for the gateway writing to a simulated exchange) against
the working tree's, alternately, ``--rounds`` times per runtime, each measurement in a
fresh child process. It prints, per runtime and mode, the median over the rounds of p50
and p99 (microseconds) for both sides and their ratio: the figures an optimisation's
commit message quotes, and the best round's p50 (on a shared VM one process of the same
code can run at p50 100 µs and the next at 170 µs). Alternating the sides in one run
keeps a noisy shared machine from favouring either. Writes nothing unless ``--json
FILE`` is given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _ab import ROOT, checkout, side_order


def _child(tree: str, runtime: str, messages: int, pin: bool, sink: str) -> int:  # noqa: FBT001
    # The measured tree's src/ and bench/ come first, before the installed package.
    sys.path[:0] = [str(Path(tree) / "src"), str(Path(tree) / "bench")]
    if runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()
    import os  # noqa: PLC0415

    if pin:
        os.sched_setaffinity(0, {0})
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level="critical")
    import tick_to_trade_workloads as workloads  # noqa: PLC0415 - the measured tree's

    process, url = workloads.start_exchange() if sink == "loopback" else (None, None)
    try:
        result = workloads.measure_pipeline(
            sink, messages=messages, burst=20, burst_every=5, trade_url=url
        )
    finally:
        if process is not None:
            process.stdin.close()
            process.wait(10)
    print(json.dumps(result))
    return 0


def _measure(tree: Path, runtime: str, messages: int, pin: bool, sink: str) -> dict[str, Any]:  # noqa: FBT001
    command = [sys.executable, __file__, "--child", str(tree), "--runtime", runtime,
               "--messages", str(messages), "--sink", sink]  # fmt: skip
    if pin:
        command.append("--pin")
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)  # noqa: S603
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="HEAD", help="git revision (default HEAD)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runtimes", nargs="+", default=["gevent", "threads-pinned"])
    parser.add_argument("--sink", choices=["inproc", "loopback"], default="inproc",
                        help="the gateway writes to an in-process sink, or to a simulated "
                        "exchange in another process over loopback")  # fmt: skip
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    parser.add_argument("--pin", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child, args.runtime, args.messages, args.pin, args.sink)
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with checkout(args.before) as (revision, before):
        for runtime in args.runtimes:
            name, pin = runtime.removesuffix("-pinned"), runtime.endswith("-pinned")
            sides: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
            for round_ in range(args.rounds):
                for side in side_order(round_):
                    tree = before if side == "before" else ROOT
                    sides[side].append(_measure(tree, name, args.messages, pin, args.sink))
                print(f"{runtime}: round {round_ + 1}/{args.rounds}", file=sys.stderr)
            raw[runtime] = sides
    print(
        f"before = {revision}, after = working tree; {args.rounds} rounds (µs): the median"
        " over the rounds of each round's p50 and p99, and the best round's p50"
    )
    print(
        "| runtime | mode | p50 before | p50 after | ratio | p99 before | p99 after | ratio"
        " | best p50 before | best p50 after | ratio |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for runtime, sides in raw.items():
        for mode in sides["before"][0]:
            cells = []
            for key, pick in (("p50_us", statistics.median), ("p99_us", statistics.median),
                              ("p50_us", min)):  # fmt: skip
                old = pick(r[mode][key] for r in sides["before"])
                new = pick(r[mode][key] for r in sides["after"])
                cells += [f"{old:.1f}", f"{new:.1f}", f"{new / old:.2f}"]
            print(f"| {runtime} | {mode} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"before": revision, "runs": raw}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
