"""Tick-to-trade through a whole `TradingSystem`, with and without the journal, A/B.

Run as ``python bench/tick_to_trade.py --journal`` (this module holds that mode). Per
runtime, ``--runs`` rounds; each round measures a system *without* a journal and one
*with* ``[journal] path`` (in a temporary directory), each in a fresh child process,
the order of the two alternating from round to round so that the machine's drift hits
both alike. In each child (`journal_workloads.measure_system`): a still simulated
exchange in the same process publishes a book change (a maker order of its own, one
at a time), the system's strategy answers every book with an IOC order, and the clock
stops when the exchange has taken that order: feed -> book -> strategy -> risk ->
order manager [-> journal] -> gateway -> loopback websocket -> exchange.

Writes ``results/tick_to_trade_journal.md`` and ``.json``: per runtime, the median over
the rounds of p50, p99 and p99.9 of both sides and their ratio (with/without), and the
range of p50 of each side.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _provenance import git_state, machine_info

ROOT = Path(__file__).resolve().parent
SIDES = ("without", "with")
MODES = ("back_to_back", "spaced")  # journal_workloads.MODES (not imported: the runtime)


def child(runtime: str, *, journal: bool, ticks: int) -> int:
    """Measure one side in this (fresh) process; print its figures as JSON."""
    if runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()  # first: before pykka or any thread
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level="critical")
    sys.path.insert(0, str(ROOT))
    import journal_workloads as workloads  # noqa: PLC0415 - after the runtime

    print(json.dumps(workloads.measure_system(journal=journal, ticks=ticks)))
    return 0


def _measure(runtime: str, side: str, ticks: int) -> dict[str, Any]:
    command = [sys.executable, str(ROOT / "tick_to_trade.py"), "--child", "--runtime", runtime,
               "--messages", str(ticks), "--journal-side", side]  # fmt: skip
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)  # noqa: S603
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def run_ab(*, runtimes: list[str], runs: int, ticks: int, output_dir: Path) -> int:
    """Every round of every runtime; the report on stdout and in ``output_dir``."""
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for runtime in runtimes:
        sides: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
        for round_ in range(runs):
            for side in SIDES if round_ % 2 == 0 else SIDES[::-1]:
                sides[side].append(_measure(runtime, side, ticks))
            print(f"{runtime}: round {round_ + 1}/{runs}", file=sys.stderr)
        raw[runtime] = sides
    summary = {runtime: _summary(sides) for runtime, sides in raw.items()}
    out = {
        "git": git_state(),
        "machine": machine_info(),
        "args": {"runtimes": runtimes, "runs": runs, "ticks": ticks},
        "summary": summary,
        "rounds": raw,
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "tick_to_trade_journal.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = _report(out)
    (output_dir / "tick_to_trade_journal.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _summary(sides: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in MODES:
        figures: dict[str, Any] = {}
        for key in ("p50_us", "p99_us", "p999_us"):
            without = statistics.median(r[mode][key] for r in sides["without"])
            with_ = statistics.median(r[mode][key] for r in sides["with"])
            figures[key] = {"without": without, "with": with_, "ratio": with_ / without}
        for side in SIDES:
            p50s = [r[mode]["p50_us"] for r in sides[side]]
            figures[f"p50_range_{side}"] = [min(p50s), max(p50s)]
        figures["ticks"] = sides["with"][0][mode]["count"]
        out[mode] = figures
    out["journal_events_per_round"] = statistics.median(r["journal_events"] for r in sides["with"])
    return out


def _report(out: dict[str, Any]) -> list[str]:
    machine, args = out["machine"], out["args"]
    lines = [
        "# Tick-to-trade with and without the journal (A/B, one run)",
        "",
        (
            f"- Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, "
            f"Python {machine['python']}, pykka {machine['pykka']}, gevent {machine['gevent']}"
        ),
        f"- Code: {out['git']}",
        (
            f"- Command: `python bench/tick_to_trade.py --journal --messages {args['ticks']} "
            f"--runs {args['runs']} --runtimes {' '.join(args['runtimes'])}`"
        ),
        "",
        "Microseconds from the simulated exchange publishing a book change to it having",
        "taken the order the system's strategy answered it with, through a whole",
        "`TradingSystem` (feed -> book -> strategy -> risk -> order manager -> gateway ->",
        "loopback websocket), one tick in flight; the exchange runs in the same process.",
        "*without*: no journal; *with*: `[journal] path` in a temporary directory",
        "(`synchronous = normal`). Each round measures both sides, each in a fresh process,",
        "in alternating order; figures are the median over the rounds; *ratio* is",
        "with / without. *back_to_back*: the next tick as soon as the exchange took the",
        "last one's order, so what the system does after an order (recording the",
        "exchange's answers, for one) overlaps the next tick; *spaced*: 2 ms between an",
        "order and the next tick, so only what is on the tick's own path counts.",
        "",
        "| runtime | mode | figure | without | with | ratio |",
        "|---|---|---|---:|---:|---:|",
    ]
    for runtime, summary in out["summary"].items():
        for mode in MODES:
            for key, label in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")):
                cell = summary[mode][key]
                lines.append(
                    f"| {runtime} | {mode} | {label} | {cell['without']:.1f} | "
                    f"{cell['with']:.1f} | {cell['ratio']:.2f} |"
                )
    lines += [
        "",
        "| runtime | mode | ticks per round | p50 range without | p50 range with |",
        "|---|---|---:|---:|---:|",
    ]
    for runtime, summary in out["summary"].items():
        for mode in MODES:
            low, high = summary[mode]["p50_range_without"]
            low_with, high_with = summary[mode]["p50_range_with"]
            lines.append(
                f"| {runtime} | {mode} | {summary[mode]['ticks']} | {low:.0f}-{high:.0f} | "
                f"{low_with:.0f}-{high_with:.0f} |"
            )
    events = {r: s["journal_events_per_round"] for r, s in out["summary"].items()}
    lines += ["", f"Events the journal recorded per *with* process (median): {events}."]
    return lines
