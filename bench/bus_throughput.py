"""Benchmark: throughput over the bus (Redis Streams), market data and commands.

Run it as ``python bench/bus_throughput.py`` (needs ``redis-server`` on the PATH). It
starts redis-server on a free loopback port (no persistence), empties it before each
measurement, and stops it at the end. Every publisher and subscriber is a process of
its own (a fresh one per measurement), running the bus actors in a supervised tree:

- **market data**: one publisher (an `OutboundBridge`, as the market-data role's) is
  told ``--books`` `BookView`s (10 levels a side, as a book actor publishes them) of
  ``--instruments`` instruments, in rounds of one book per instrument, each round
  told once the last one is XADDed (a flood would only measure conflation: books of
  one instrument queued while the bridge is busy go out as the newest only); 1, 2
  and 4 subscriber processes (each a `MarketDataSubscriber` of every book stream -> a
  counting actor) read them. *published/s*: what one publisher sends; *delivered/s*:
  what each subscriber hands its actor (a subscriber that falls behind delivers of
  each read only the newest book of each stream), from the first book told to the
  last subscriber holding the last book of every instrument.
- **commands**: one sender (an `OutboundBridge`) is told ``--commands`` `SubmitOrder`s
  back to back, XADDed in pipelines of what waits in its outbox (up to 1,000 entries,
  the rest at the flush behind its mailbox); one receiver
  (an `InboundBridge`: a consumer group, each entry told to a counting actor, then
  XACKed) takes them. Timed from the first told to the last delivered, and to the
  group having nothing pending (every entry acknowledged).

Sizes are reported per entry. Each configuration runs ``--rounds`` times, the
configurations alternating within a round; figures are medians over rounds. The clocks
of two processes are compared (``time.monotonic_ns``: CLOCK_MONOTONIC, one clock for the
whole machine). Writes ``results/bus_throughput.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _child_io import read_line
from _provenance import git_state, machine_info
from _redis_server import RedisServer

ROOT = Path(__file__).resolve().parent
WAIT = 120.0
COMMANDS_STREAM = "bench:commands"
WARMUP_COMMANDS = 200
PUBLISHED = "tradeactors_bus_published_total"


def _books(instruments: int, count: int) -> list[Any]:
    """``count`` books, round robin over ``instruments``; update ids 1.. per instrument."""
    from tradeactors.core.book import BookView  # noqa: PLC0415 - in the child only

    out = []
    for n in range(count):
        i, update = n % instruments, n // instruments + 1
        mid = 6_000_000 + (n % 97)
        out.append(
            BookView(
                instrument=f"sim:SYM{i:03d}",
                update_id=update,
                timestamp_ns=time.time_ns(),
                bids=tuple((mid - k, 1000 + k) for k in range(1, 11)),
                asks=tuple((mid + k, 1000 + k) for k in range(1, 11)),
            )
        )
    return out


def _streams(instruments: int) -> list[str]:
    return [f"md:sim:book:SYM{i:03d}" for i in range(instruments)]


def _start(spec: Any) -> Any:
    from tradeactors.supervision import Supervisor  # noqa: PLC0415

    return Supervisor(spec).start(timeout=30)


def md_publisher(url: str, instruments: int, books: int) -> None:
    """Warm-up books (update id 0), "ready", then on "go" the timed books."""
    import msgspec  # noqa: PLC0415
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from tradeactors.bus import BusMetrics, BusSettings, Kind, OutboundBridge  # noqa: PLC0415
    from tradeactors.supervision import ChildSpec, SupervisorSpec  # noqa: PLC0415

    registry = CollectorRegistry()
    metrics = BusMetrics(registry, host="md")
    bridge = ChildSpec(
        name="md_out",
        actor=OutboundBridge,
        args=(BusSettings(url=url),),
        kwargs={
            "host": "md",
            "stream": "md:sim",
            "kind": Kind.MARKET_DATA,
            "venue": "sim",
            "metrics": metrics,
        },
    )
    tree = _start(SupervisorSpec(name="publisher", children=(bridge,)))
    try:
        address = tree.address("md_out")
        timed = _books(instruments, books)
        for book in _books(instruments, instruments):  # update id 0: the warm-up
            address.tell(msgspec.structs.replace(book, update_id=0))
        print("ready", flush=True)
        read_line()  # "go"
        last_stream = {"host": "md", "stream": _streams(instruments)[-1]}
        t0 = time.monotonic_ns()
        for start in range(0, books, instruments):  # a round: one book per instrument
            for book in timed[start : start + instruments]:
                address.tell(book)
            # the next round once this one is XADDed (its last book is the round's last)
            rounds = start // instruments + 2  # the warm-up's and this one's
            while (registry.get_sample_value(PUBLISHED, last_stream) or 0) < rounds:
                if time.monotonic_ns() - t0 > WAIT * 1e9:
                    raise RuntimeError("the publisher did not send its books")
                time.sleep(0.0001)  # in this process: a counter, read every 0.1 ms
        told = sent = time.monotonic_ns()
        published = _sum(registry, "tradeactors_bus_published_total") - instruments
        conflated = _sum(registry, "tradeactors_bus_conflated_total")
        print(
            json.dumps(
                {
                    "t0": t0,
                    "told_ns": told - t0,
                    "sent_ns": sent - t0,
                    "published": published,
                    "told": books,
                    "conflated": conflated,
                }
            ),
            flush=True,
        )
    finally:
        tree.stop()


def _sum(registry: Any, name: str) -> float:
    return sum(
        sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == name
    )


def md_subscriber(url: str, instruments: int, books: int) -> None:
    """Counts books until it holds the last of every instrument; prints when."""
    from tradeactors.bus import BusSettings, MarketDataSubscriber  # noqa: PLC0415
    from tradeactors.core.book import BookView  # noqa: PLC0415
    from tradeactors.supervision import ChildSpec, SupervisedActor, SupervisorSpec  # noqa: PLC0415

    last = books // instruments  # every instrument's last update id
    warm, done = threading.Event(), threading.Event()
    warm_books: set[str] = set()
    last_books: set[str] = set()
    counts = {"received": 0, "t_end": 0}

    class Counter(SupervisedActor):
        def on_receive(self, message: Any) -> Any:
            if not isinstance(message, BookView):
                return
            if message.update_id == 0:
                warm_books.add(message.instrument)
                if len(warm_books) == instruments:
                    warm.set()
                return
            counts["received"] += 1
            if message.update_id == last:
                last_books.add(message.instrument)
                if len(last_books) == instruments:
                    counts["t_end"] = time.monotonic_ns()
                    done.set()

    spec = SupervisorSpec(
        name="subscriber",
        children=(
            ChildSpec(name="counter", actor=Counter),
            ChildSpec(
                name="md_in",
                actor=MarketDataSubscriber,
                args=(BusSettings(url=url),),
                kwargs={
                    "host": f"sub-{os.getpid()}",
                    "streams": _streams(instruments),
                    "deliver_to": "counter",
                },
            ),
        ),
    )
    tree = _start(spec)
    try:
        if not warm.wait(WAIT):
            raise RuntimeError("no warm-up books")
        print("ready", flush=True)
        if not done.wait(WAIT):
            raise RuntimeError(f"the last books of {len(last_books)} of {instruments} came")
        print(json.dumps({"t_end": counts["t_end"], "delivered": counts["received"]}), flush=True)
    finally:
        tree.stop()


def _order(n: int) -> Any:
    from tradeactors.core.messages import Side, SubmitOrder, TimeInForce  # noqa: PLC0415

    return SubmitOrder(
        client_order_id=f"strategy-1-{n:012d}",
        venue="binance",
        instrument="BTCUSDT",
        side=Side.BUY if n % 2 else Side.SELL,
        price=6_000_000 + n % 1000,
        quantity=1000 + n % 7,
        owner="strategies/mm1",
        tif=TimeInForce.GTC,
        post_only=True,
        timestamp_ns=time.time_ns(),
    )


def cmd_sender(url: str, commands: int) -> None:
    """Warm-up commands, "ready", then on "go" the timed ones."""
    from tradeactors.bus import BusSettings, OutboundBridge  # noqa: PLC0415
    from tradeactors.supervision import ChildSpec, SupervisorSpec  # noqa: PLC0415

    bridge = ChildSpec(
        name="commands_out",
        actor=OutboundBridge,
        args=(BusSettings(url=url),),
        kwargs={"host": "strategy-1", "stream": COMMANDS_STREAM, "destination": "bus/ingress"},
    )
    tree = _start(SupervisorSpec(name="sender", children=(bridge,)))
    try:
        address = tree.address("commands_out")
        orders = [_order(n) for n in range(WARMUP_COMMANDS + commands)]
        for order in orders[:WARMUP_COMMANDS]:
            address.tell(order)
        print("ready", flush=True)
        read_line()  # "go"
        t0 = time.monotonic_ns()
        for order in orders[WARMUP_COMMANDS:]:
            address.tell(order)
        told = time.monotonic_ns()
        print(json.dumps({"t0": t0, "told_ns": told - t0}), flush=True)
        read_line()  # the receiver has them all: stop
    finally:
        tree.stop()


def cmd_receiver(url: str, commands: int) -> None:
    """Counts the commands delivered; then waits for the group to have none pending."""
    import redis  # noqa: PLC0415

    from tradeactors.bus import BusCodec, BusSettings, InboundBridge, SeenIds  # noqa: PLC0415
    from tradeactors.core.messages import SubmitOrder  # noqa: PLC0415
    from tradeactors.supervision import ChildSpec, SupervisedActor, SupervisorSpec  # noqa: PLC0415

    total = WARMUP_COMMANDS + commands
    warm, done = threading.Event(), threading.Event()
    state = {"received": 0, "t_end": 0}

    class Counter(SupervisedActor):
        def on_receive(self, message: Any) -> Any:
            if isinstance(message, SubmitOrder):
                state["received"] += 1
                if state["received"] == WARMUP_COMMANDS:
                    warm.set()
                elif state["received"] == total:
                    state["t_end"] = time.monotonic_ns()
                    done.set()

    settings = BusSettings(url=url)
    spec = SupervisorSpec(
        name="receiver",
        children=(
            ChildSpec(name="counter", actor=Counter),
            ChildSpec(
                name="commands_in",
                actor=InboundBridge,
                args=(settings,),
                kwargs={
                    "host": "execution",
                    "stream": COMMANDS_STREAM,
                    "group": "execution",
                    "consumer": "execution",
                    "deliver_to": "counter",
                    "seen": SeenIds(settings.seen_ids),
                },
            ),
        ),
    )
    tree = _start(spec)
    client = redis.Redis.from_url(url, socket_timeout=5.0)
    try:
        print("started", flush=True)
        if not warm.wait(WAIT):
            raise RuntimeError("no warm-up commands")
        print("ready", flush=True)
        if not done.wait(WAIT):
            raise RuntimeError(f"{state['received']} of {total} commands came")
        while client.xpending(COMMANDS_STREAM, "execution")["pending"]:
            if time.monotonic_ns() - state["t_end"] > WAIT * 1e9:
                raise RuntimeError("entries left pending")
            time.sleep(0.0005)  # another process's state: polled, bounded
        acked = time.monotonic_ns()
        entry = client.xrange(COMMANDS_STREAM, count=1)[0][1]
        entry_bytes = sum(len(k) + len(v) for k, v in entry.items())
        codec = BusCodec()
        _envelope, message = codec.decode(entry)
        assert isinstance(message, SubmitOrder)  # noqa: S101
        print(
            json.dumps(
                {
                    "t_end": state["t_end"],
                    "t_acked": acked,
                    "received": state["received"] - WARMUP_COMMANDS,
                    "entry_bytes": entry_bytes,
                }
            ),
            flush=True,
        )
    finally:
        client.close()
        tree.stop()


def _tell_all(
    address: Any,
    messages: list[Any],
    done: threading.Event,
    expected: dict[str, int],
    counts: dict[str, int],
) -> None:
    """Tell ``messages``; return once the counter has them all."""
    expected["count"] = counts["received"] + len(messages)
    for message in messages:
        address.tell(message)
    if not done.wait(WAIT):
        raise RuntimeError("the counter did not get everything")
    done.clear()


def local(instruments: int, books: int, commands: int) -> None:
    """The reference: the same books and commands told to a counting actor in this process."""
    from tradeactors.core.book import BookView  # noqa: PLC0415
    from tradeactors.core.messages import SubmitOrder  # noqa: PLC0415
    from tradeactors.supervision import ChildSpec, SupervisedActor, SupervisorSpec  # noqa: PLC0415

    done = threading.Event()
    expected = {"count": 0}
    counts = {"received": 0, "t_end": 0}

    class Counter(SupervisedActor):
        def on_receive(self, message: Any) -> Any:
            if isinstance(message, BookView | SubmitOrder):
                counts["received"] += 1
                if counts["received"] == expected["count"]:
                    counts["t_end"] = time.monotonic_ns()
                    done.set()

    tree = _start(SupervisorSpec(name="local", children=(ChildSpec(name="c", actor=Counter),)))
    try:
        address = tree.address("c")
        out = {}
        # books as the bus publisher tells them: in rounds of one per instrument, each
        # once the one before is in; commands back to back
        for name, messages, size in (
            ("books", _books(instruments, books), instruments),
            ("commands", [_order(n) for n in range(commands)], commands),
        ):
            _tell_all(address, messages[:200], done, expected, counts)  # warm-up
            t0 = time.monotonic_ns()
            for start in range(0, len(messages), size):
                _tell_all(address, messages[start : start + size], done, expected, counts)
            out[f"{name}_per_s"] = len(messages) / ((counts["t_end"] - t0) / 1e9)
        print(json.dumps(out), flush=True)
    finally:
        tree.stop()


# -- the parent --------------------------------------------------------------------------


def _spawn(args: argparse.Namespace, role: str, url: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        __file__,
        "--child",
        role,
        "--url",
        url,
        "--runtime",
        args.runtime_,
        "--instruments",
        str(args.instruments),
        "--books",
        str(args.books),
        "--commands",
        str(args.commands),
    ]
    return subprocess.Popen(  # noqa: S603 - our own script and interpreter
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def _line(process: subprocess.Popen[str], expected: str | None = None) -> str:
    assert process.stdout is not None  # noqa: S101
    line = process.stdout.readline().strip()
    if expected is not None and line != expected:
        raise RuntimeError(f"child {process.args[3]}: expected {expected!r}, got {line!r}")
    return line


def _finish(processes: list[subprocess.Popen[str]]) -> None:
    """Close their stdin (stop), wait for each; one that does not end is killed."""
    for process in processes:
        if process.stdin is not None and not process.stdin.closed:
            process.stdin.close()
    failed = []
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.returncode != 0:
            failed.append(f"{process.args[3]} ({process.returncode})")
    if failed:
        raise RuntimeError(f"children failed: {', '.join(failed)}")


def _go(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None  # noqa: S101
    process.stdin.write("go\n")
    process.stdin.flush()


def measure_md(args: argparse.Namespace, server: RedisServer, subscribers: int) -> dict[str, Any]:
    server.flush()
    publisher = _spawn(args, "md-publisher", server.url)
    subs: list[subprocess.Popen[str]] = []
    try:
        _line(publisher, "ready")
        subs = [_spawn(args, "md-subscriber", server.url) for _ in range(subscribers)]
        for sub in subs:
            _line(sub, "ready")
        _go(publisher)
        pub = json.loads(_line(publisher))
        results = [json.loads(_line(sub)) for sub in subs]
    finally:
        _finish([publisher, *subs])
    end = max(r["t_end"] for r in results) - pub["t0"]
    delivered = [r["delivered"] for r in results]
    return {
        "subscribers": subscribers,
        "told": pub["told"],
        "published": pub["published"],
        "conflated": pub["conflated"],
        "published_per_s": pub["published"] / (pub["sent_ns"] / 1e9),
        "delivered_per_subscriber": statistics.median(delivered),
        "delivered_per_s_per_subscriber": statistics.median(delivered) / (end / 1e9),
        "delivered_per_s_total": sum(delivered) / (end / 1e9),
        "all_last_books_ms": end / 1e6,
    }


def measure_commands(args: argparse.Namespace, server: RedisServer) -> dict[str, Any]:
    server.flush()
    receiver = _spawn(args, "cmd-receiver", server.url)
    sender: subprocess.Popen[str] | None = None
    try:
        _line(receiver, "started")
        sender = _spawn(args, "cmd-sender", server.url)
        _line(sender, "ready")
        _line(receiver, "ready")
        _go(sender)
        sent = json.loads(_line(sender))
        received = json.loads(_line(receiver))
    finally:
        _finish([p for p in (sender, receiver) if p is not None])
    if received["received"] != args.commands:
        raise RuntimeError(f"{received['received']} of {args.commands} commands delivered")
    delivered_ns = received["t_end"] - sent["t0"]
    acked_ns = received["t_acked"] - sent["t0"]
    return {
        "commands": args.commands,
        "told_per_s": args.commands / (sent["told_ns"] / 1e9),
        "delivered_per_s": args.commands / (delivered_ns / 1e9),
        "acked_per_s": args.commands / (acked_ns / 1e9),
        "all_delivered_ms": delivered_ns / 1e6,
        "all_acked_ms": acked_ns / 1e6,
        "entry_bytes": received["entry_bytes"],
    }


def measure_local(args: argparse.Namespace) -> dict[str, Any]:
    process = _spawn(args, "local", "")
    try:
        return dict(json.loads(_line(process)))
    finally:
        _finish([process])


def _child(args: argparse.Namespace) -> int:
    if args.runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level="error")
    run = {
        "md-publisher": lambda: md_publisher(args.url, args.instruments, args.books),
        "md-subscriber": lambda: md_subscriber(args.url, args.instruments, args.books),
        "cmd-sender": lambda: cmd_sender(args.url, args.commands),
        "cmd-receiver": lambda: cmd_receiver(args.url, args.commands),
        "local": lambda: local(args.instruments, args.books, args.commands),
    }[args.child]
    run()
    return 0


def _ratios(rows: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Per configuration, the median over rounds of its rate / the same round's local one."""
    out = {}
    for name, results in rows.items():
        if name == "local":
            continue
        key, local_key = (
            ("delivered_per_s", "commands_per_s")
            if name == "commands"
            else ("delivered_per_s_per_subscriber", "books_per_s")
        )
        out[name] = statistics.median(
            r[key] / local[local_key] for r, local in zip(results, rows["local"], strict=True)
        )
    return out


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=50_000, help="books told per measurement")
    parser.add_argument("--instruments", type=int, default=50)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--commands", type=int, default=20_000, help="commands per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runtimes", nargs="+", default=["threads", "gevent"])
    parser.add_argument("--output-dir", default=str(ROOT / "results"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    if args.books % args.instruments:
        parser.error("--books must be a multiple of --instruments")
    load_before = os.getloadavg()
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with RedisServer() as server:
        redis_version = server.version()
        for runtime in args.runtimes:
            args.runtime_ = runtime
            rows: dict[str, list[dict[str, Any]]] = {
                **{f"md_{n}": [] for n in args.subscribers},
                "commands": [],
                "local": [],
            }
            for round_ in range(args.rounds):
                names = list(rows)
                if round_ % 2:
                    names.reverse()  # alternating: drift hits every configuration alike
                for name in names:
                    print(
                        f"{runtime} round {round_ + 1}/{args.rounds}: {name} ...", file=sys.stderr
                    )
                    if name == "commands":
                        rows[name].append(measure_commands(args, server))
                    elif name == "local":
                        rows[name].append(measure_local(args))
                    else:
                        rows[name].append(measure_md(args, server, int(name[3:])))
            raw[runtime] = rows
    load_after = os.getloadavg()
    medians = {rt: {name: _median(r) for name, r in rows.items()} for rt, rows in raw.items()}
    ratios = {rt: _ratios(rows) for rt, rows in raw.items()}
    out = {
        "git": git_state(),
        "machine": {
            **machine_info(("pykka", "gevent", "msgspec", "redis", "hiredis")),
            "redis_server": redis_version,
        },
        "load_average_before": load_before,
        "load_average_after": load_after,
        "args": {
            k: v for k, v in vars(args).items() if k not in ("child", "runtime", "url", "runtime_")
        },
        "medians": medians,
        "ratios_to_one_process": ratios,
        "rounds": raw,
    }
    directory = Path(args.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bus_throughput.json").write_text(json.dumps(out, indent=2) + "\n")
    report = _report(out, args)
    (directory / "bus_throughput.md").write_text(report)
    print(report)
    return 0


def _report(out: dict[str, Any], args: argparse.Namespace) -> str:
    machine = out["machine"]
    load = ", ".join(f"{x:.2f}" for x in out["load_average_before"])
    load_after = ", ".join(f"{x:.2f}" for x in out["load_average_after"])
    lines = [
        "# Throughput over the bus (Redis Streams)",
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
            f"- Command: `python bench/bus_throughput.py --books {args.books} --instruments "
            f"{args.instruments} --commands {args.commands} --rounds {args.rounds} "
            f"--runtimes {' '.join(args.runtimes)}`"
        ),
        "",
        "Every publisher, subscriber, sender and receiver is a process of its own, and",
        "redis-server another, all on these CPUs. Medians over the rounds (configurations",
        "alternating within a round, fresh processes each time, the server emptied).",
        "",
        f"**Market data**: one publisher (`OutboundBridge`) told {args.books} books (10 levels",
        f"a side) of {args.instruments} instruments, in rounds of one book per instrument,",
        "each round told once the one before was XADDed (the bridge sends a round as one",
        "pipeline; a flood would measure its conflation, not the bus). *published/s*:",
        "books XADDed per second (*conflated*: books replaced before sending, 0 here);",
        "*delivered/s*: books one subscriber (`MarketDataSubscriber` -> a counting actor,",
        "its own process) handed its actor per second, from the first book told to the",
        "last subscriber holding every instrument's last book (*all last books*); a",
        "subscriber that falls behind delivers of each read the newest book of each stream,",
        "so *delivered* below *published* is books it skipped.",
        "",
    ]
    for runtime, rows in out["medians"].items():
        lines += [
            f"## {runtime}",
            "",
            (
                "| subscribers | published | conflated | published/s | delivered per subscriber"
                " | delivered/s per subscriber | x one process | delivered/s, all subscribers"
                " | all last books (ms) |"
            ),
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        ratios = out["ratios_to_one_process"][runtime]
        for name, r in rows.items():
            if name.startswith("md_"):
                lines.append(
                    f"| {r['subscribers']:.0f} | {r['published']:,.0f} | {r['conflated']:,.0f}"
                    f" | {r['published_per_s']:,.0f} | {r['delivered_per_subscriber']:,.0f}"
                    f" | {r['delivered_per_s_per_subscriber']:,.0f} | {ratios[name]:.3f}"
                    f" | {r['delivered_per_s_total']:,.0f} | {r['all_last_books_ms']:,.0f} |"
                )
        local = rows["local"]
        lines += [
            "",
            (
                "In one process (a fresh child each round), the same books told to a counting"
                f" actor in the same rounds: {local['books_per_s']:,.0f} books/s; the same"
                f" commands: {local['commands_per_s']:,.0f} commands/s (*x one process*: the"
                " median over rounds of the bus rate / that round's one-process rate)."
            ),
        ]
        c = rows["commands"]
        lines += [
            "",
            (
                f"**Commands** ({runtime}): {args.commands} `SubmitOrder`s ({c['entry_bytes']:.0f}"
                " bytes a stream entry) told back to back to an `OutboundBridge` (XADDed in"
            ),
            "pipelines of what waits, up to 1,000), read by an `InboundBridge` (consumer group)",
            "that tells each to a counting actor and then XACKs it.",
            "",
            (
                "| told/s | delivered/s | x one process | acked/s | all delivered (ms)"
                " | all acked (ms) |"
            ),
            "|---:|---:|---:|---:|---:|---:|",
            (
                f"| {c['told_per_s']:,.0f} | {c['delivered_per_s']:,.0f}"
                f" | {ratios['commands']:.3f} | {c['acked_per_s']:,.0f}"
                f" | {c['all_delivered_ms']:,.0f} | {c['all_acked_ms']:,.0f} |"
            ),
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
