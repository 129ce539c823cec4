"""Before/after: supervision flood throughput of two versions of the code, in the same run.

``python bench/ab_supervision.py --before HEAD~1`` checks the ``--before`` revision out
into a temporary git worktree and floods its chain of supervised actors (that
revision's ``bench/supervision_workloads.py`` and ``src/``) against the working
tree's, alternately, ``--rounds`` child processes per side and runtime, each child
running ``--floods`` floods of each variant (``supervised``, ``uninstrumented``)
interleaved after a warm-up. It prints, per runtime, the median msg/s over every flood
of each side, their ratio, and the median of the per-flood instrumented/uninstrumented
ratios (what the statistics cost, normalised by the same process's speed). ``--chain
1`` floods a single actor: the loop's own cost with the least scheduling noise.
Writes nothing unless ``--json FILE`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _ab import ROOT, checkout, side_order

VARIANTS = ("supervised", "uninstrumented")


def _child(tree: str, runtime: str, messages: int, floods: int, chain: int) -> int:
    # The measured tree's src/ and bench/ come first, before the installed package.
    sys.path[:0] = [str(Path(tree) / "src"), str(Path(tree) / "bench")]
    if runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    devnull = Path(os.devnull).open("w")  # noqa: SIM115 - open for the process's life
    configure_logging(level="critical", json=True, stream=devnull)
    import supervision_workloads as workloads  # noqa: PLC0415 - the measured tree's

    workloads.CHAIN_LENGTH = chain
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for flood in range(floods + 1):
        count = messages if flood else max(1, messages // 10)  # the first is a warm-up
        for name in VARIANTS:
            measured = workloads.FACTORIES[name]()
            try:
                seconds = workloads._flood(measured, count)
            finally:
                measured.close()
            if flood:
                rates[name].append(count / seconds)
    print(json.dumps(rates))
    return 0


def _measure(tree: Path, runtime: str, args: argparse.Namespace) -> dict[str, list[float]]:
    command = [sys.executable, __file__, "--child", str(tree), "--runtime", runtime,
               "--messages", str(args.messages), "--floods", str(args.floods),
               "--chain", str(args.chain)]  # fmt: skip
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)  # noqa: S603
    rates: dict[str, list[float]] = json.loads(completed.stdout.strip().splitlines()[-1])
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="HEAD", help="git revision (default HEAD)")
    parser.add_argument("--rounds", type=int, default=5, help="child processes per side")
    parser.add_argument("--floods", type=int, default=3, help="floods per variant per child")
    parser.add_argument("--messages", type=int, default=30_000, help="messages per flood")
    parser.add_argument("--chain", type=int, default=6, help="actors in the chain")
    parser.add_argument("--runtimes", nargs="+", default=["threads", "gevent"])
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child, args.runtime, args.messages, args.floods, args.chain)
    raw: dict[str, dict[str, dict[str, list[float]]]] = {}
    with checkout(args.before) as (revision, before):
        for runtime in args.runtimes:
            sides: dict[str, dict[str, list[float]]] = {
                side: {name: [] for name in VARIANTS} for side in ("before", "after")
            }
            for round_ in range(args.rounds):
                for side in side_order(round_):
                    tree = before if side == "before" else ROOT
                    for name, rates in _measure(tree, runtime, args).items():
                        sides[side][name] += rates
                print(f"{runtime}: round {round_ + 1}/{args.rounds}", file=sys.stderr)
            raw[runtime] = sides
    print(
        f"before = {revision}, after = working tree; chain of {args.chain}, {args.rounds}"
        f" processes x {args.floods} floods of {args.messages:,} messages per side (msg/s,"
        " medians over every flood)"
    )
    print(
        "| runtime | supervised before | after | ratio | uninstrumented before | after | ratio"
        " | instrumented/uninstrumented before | after |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for runtime, sides in raw.items():
        cells = []
        for name in VARIANTS:
            old = statistics.median(sides["before"][name])
            new = statistics.median(sides["after"][name])
            cells += [f"{old:,.0f}", f"{new:,.0f}", f"{new / old:.2f}"]
        for side in ("before", "after"):
            pairs = zip(sides[side]["supervised"], sides[side]["uninstrumented"], strict=True)
            ratios = [supervised / plain for supervised, plain in pairs]
            cells.append(f"{statistics.median(ratios):.2f}")
        print(f"| {runtime} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"before": revision, "runs": raw}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
