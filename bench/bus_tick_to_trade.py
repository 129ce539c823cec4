"""Benchmark: tick-to-trade with the strategy on another process, through Redis Streams,
against the same tick-to-trade in one process, measured in the same run.

Run it as ``python bench/bus_tick_to_trade.py`` (needs the ``bench`` extra: hdrhistogram,
and ``redis-server`` on the PATH). It starts redis-server on a free loopback port (no
persistence) and stops it at the end. Per runtime, ``--rounds`` rounds; each round
measures both sides, in alternating order, each in fresh processes:

- ``single``: one child process running the whole tree;
- ``bus``: a strategy-host child (the strategy, behind the bus bridges) and a
  venue-side child (feed, book, risk, order manager, gateway, behind theirs), meeting
  in that redis-server (emptied before each measurement).

What is timed, the same on both sides (`bus_tick_to_trade_workloads`): from a depth
frame told to the feed actor (the venue has published a change) to the gateway having
written the order frame answering it (to the websocket of a simulated exchange in its
own process, ``loopback``, or to an in-process sink, ``inproc``). Both clocks are read
in one process (the venue side). Writes ``results/bus_tick_to_trade.md`` and ``.json``.
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
from _redis_server import RedisServer

ROOT = Path(__file__).resolve().parent
MODES = ("one_in_flight", "burst")
FIGURES = ("p50_us", "p99_us", "p999_us", "max_us")


def _child(args: argparse.Namespace) -> int:
    if args.runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()  # first: before pykka or any thread
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level="error")
    import bus_tick_to_trade_workloads as workloads  # noqa: PLC0415 - after the runtime

    if args.child == "strategy-host":
        workloads.strategy_main(args.url)
    else:
        workloads.venue_main(
            args.child, args.sinks, messages=args.messages, burst=args.burst, url=args.url
        )
    return 0


def _command(args: argparse.Namespace, runtime: str, child: str, url: str) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--child",
        child,
        "--runtime",
        runtime,
        "--url",
        url,
        "--messages",
        str(args.messages),
        "--burst",
        str(args.burst),
        "--sinks",
        *args.sinks,
    ]


def _venue(command: list[str]) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603 - our own script and interpreter
        command, stdout=subprocess.PIPE, text=True, check=True, timeout=600
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _measure(args: argparse.Namespace, runtime: str, side: str, server: RedisServer) -> Any:
    server.flush()
    if side == "single":
        return _venue(_command(args, runtime, "single", server.url))
    host = subprocess.Popen(  # noqa: S603 - our own script and interpreter
        _command(args, runtime, "strategy-host", server.url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert host.stdout is not None  # noqa: S101
        line = host.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"the strategy host did not start: {line!r}")
        return _venue(_command(args, runtime, "bus", server.url))
    finally:
        assert host.stdin is not None  # noqa: S101
        host.stdin.close()
        try:
            host.wait(30)
        except subprocess.TimeoutExpired:
            host.kill()
            host.wait(10)


def _fold(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per sink and mode, the median over the rounds of each figure (and p50's range)."""
    out: dict[str, Any] = {}
    for sink, modes in rounds[0].items():
        out[sink] = {}
        for mode in modes:
            rows = [r[sink][mode] for r in rounds]
            merged = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
            merged["p50_min_us"] = min(row["p50_us"] for row in rows)
            merged["p50_max_us"] = max(row["p50_us"] for row in rows)
            out[sink][mode] = merged
    return out


def _ratios(results: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    """Per runtime, sink, mode and figure: the median over rounds of bus / single."""
    out: dict[str, Any] = {}
    for runtime, sides in results.items():
        out[runtime] = {}
        for sink, modes in sides["single"][0].items():
            out[runtime][sink] = {}
            for mode in modes:
                pairs = list(zip(sides["single"], sides["bus"], strict=True))
                out[runtime][sink][mode] = {
                    figure: statistics.median(
                        b[sink][mode][figure] / s[sink][mode][figure] for s, b in pairs
                    )
                    for figure in FIGURES
                }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="timed frames per mode")
    parser.add_argument("--burst", type=int, default=20, help="frames told back to back")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per runtime")
    parser.add_argument("--runtimes", nargs="+", default=["threads", "gevent"])
    parser.add_argument("--sinks", nargs="+", default=["loopback", "inproc"])
    parser.add_argument("--output-dir", default=str(ROOT / "results"))
    parser.add_argument(
        "--child", choices=("single", "bus", "strategy-host"), help=argparse.SUPPRESS
    )
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    load_before = os.getloadavg()
    results: dict[str, dict[str, list[Any]]] = {}
    with RedisServer() as server:
        redis_version = server.version()
        for runtime in args.runtimes:
            results[runtime] = {"single": [], "bus": []}
            for round_ in range(args.rounds):  # alternating: drift hits both sides alike
                order = ("single", "bus") if round_ % 2 == 0 else ("bus", "single")
                for side in order:
                    print(
                        f"{runtime} round {round_ + 1}/{args.rounds}: {side} ...", file=sys.stderr
                    )
                    results[runtime][side].append(_measure(args, runtime, side, server))
    load_after = os.getloadavg()
    folded = {
        runtime: {side: _fold(rounds) for side, rounds in sides.items()}
        for runtime, sides in results.items()
    }
    ratios = _ratios(results)
    out = {
        "git": git_state(),
        "machine": {
            **machine_info(("pykka", "gevent", "msgspec", "redis", "hiredis")),
            "redis_server": redis_version,
        },
        "load_average_before": load_before,
        "load_average_after": load_after,
        "args": {k: v for k, v in vars(args).items() if k not in ("child", "runtime", "url")},
        "medians": folded,
        "ratios_bus_over_single": ratios,
        "rounds": results,
    }
    directory = Path(args.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bus_tick_to_trade.json").write_text(json.dumps(out, indent=2) + "\n")
    report = _report(out, args)
    (directory / "bus_tick_to_trade.md").write_text(report)
    print(report)
    return 0


def _report(out: dict[str, Any], args: argparse.Namespace) -> str:
    machine = out["machine"]
    load = ", ".join(f"{x:.2f}" for x in out["load_average_before"])
    load_after = ", ".join(f"{x:.2f}" for x in out["load_average_after"])
    lines = [
        "# Tick-to-trade with the strategy on another process (Redis Streams)",
        "",
        (
            f"- Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, Python "
            f"{machine['python']}, pykka {machine['pykka']}, gevent {machine['gevent']}, "
            f"redis-py {machine['redis']}, hiredis {machine['hiredis']}, {machine['redis_server']}"
        ),
        (
            f"- Load average (1, 5, 15 min) before: {load}; after: {load_after} (other jobs"
            " share these CPUs)"
        ),
        f"- Code: {out['git']}",
        (
            f"- Command: `python bench/bus_tick_to_trade.py --messages {args.messages} "
            f"--burst {args.burst} --rounds {args.rounds} --runtimes {' '.join(args.runtimes)} "
            f"--sinks {' '.join(args.sinks)}`"
        ),
        "",
        "Microseconds from a depth frame told to the feed actor (the venue has published a",
        "change) to the gateway having written the order frame that answers it (*loopback*:",
        "to a simulated exchange's websocket in its own process; *inproc*: to an",
        "in-process sink). Same market, strategy (every book it sees answered with an IOC",
        "order) and clock on both sides; both clocks are read in one process.",
        "",
        "- *single*: one process: feed -> book -> strategy -> risk -> order manager -> gateway.",
        "- *bus*: the strategy in another process: feed -> book -> XADD | XREAD -> fanout ->",
        "  book cache -> strategy -> remote risk -> XADD | XREADGROUP -> ingress -> risk ->",
        "  order manager -> gateway (the venue side runs the market-data and execution",
        "  roles' edges in one process; redis-server is a third process on loopback).",
        "",
        f"*one_in_flight*: the next frame when the last was answered; *burst*: {args.burst}",
        "frames back to back (the strategy sees only the newest of the books queued while",
        "it was busy; each frame is timed to the order that covered it; *orders*: how many).",
        f"Per runtime {args.rounds} rounds, the two sides alternately first, each",
        "measurement in fresh processes; figures are medians over the rounds, *p50 range*",
        "the lowest and highest round's p50, *x single* the median over rounds of",
        "bus / single.",
        "",
    ]
    for runtime, sides in out["medians"].items():
        lines += [
            f"## {runtime}",
            "",
            "| sink | mode | side | n | orders | p50 | p50 range | p99 | p99.9 | max |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for sink, modes in sides["single"].items():
            for mode in modes:
                for side in ("single", "bus"):
                    f = sides[side][sink][mode]
                    lines.append(
                        f"| {sink} | {mode} | {side} | {f['count']:.0f} | {f['orders']:.0f}"
                        f" | {f['p50_us']:.0f} | {f['p50_min_us']:.0f}-{f['p50_max_us']:.0f}"
                        f" | {f['p99_us']:.0f} | {f['p999_us']:.0f} | {f['max_us']:.0f} |"
                    )
                r = out["ratios_bus_over_single"][runtime][sink][mode]
                lines.append(
                    f"| {sink} | {mode} | x single | | | {r['p50_us']:.1f} | | "
                    f"{r['p99_us']:.1f} | {r['p999_us']:.1f} | {r['max_us']:.1f} |"
                )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
