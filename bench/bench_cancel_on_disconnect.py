"""Benchmark: cancel-on-disconnect time, from a gateway's death to no open order at the venue.

Run it as ``python bench/bench_cancel_on_disconnect.py``. The parent process starts one
child process per runtime (``--child --runtime threads|gevent``): the gevent runtime
must monkey-patch a process before any thread starts, so each runtime gets a fresh one.
Each child prints one JSON document on its last stdout line; the parent collects them
and writes ``cancel_on_disconnect.json`` and ``cancel_on_disconnect.md`` to
``--output-dir``.

In each child: one `SimExchange` on 127.0.0.1 with an empty, still book (no background
liquidity, as the ``sim_venue`` test fixture: nothing trades by chance), and one
`TradingSystem` against it (no strategy, no staleness trip, loose risk limits, an
execution intensity that never escalates, a 10 ms restart backoff). Each trial:

1. rest ``--orders`` buy orders far under the mid through risk (``SubmitOrder``) and
   wait for their ``accepted`` `OrderUpdate`s (events, never sleeps);
2. kill the gateway, in one of two modes (alternating trial by trial):

   - ``crash``: ``faults(gateway).crash_next()``, then a message (``"poke"``) told to
     it: its handler raises, its own ``on_failure`` closes the session, then the
     execution supervisor's ``on_failure`` hook runs (nothing left to close);
   - ``kill``: ``faults(gateway).kill()``: the incarnation exits without ``on_failure``
     or ``on_stop``; the supervisor's hook closes the session;

3. time, from ``perf_counter_ns()`` taken just before the message / kill signal is sent:

   - **venue zero**: the venue shows no open order for the account. Taken inside the
     predicate of ``SimExchange.wait_until`` (run under the venue's lock, re-checked on
     every change) the first time it sees zero;
   - **order manager agrees**: ``TradingSystem.wait_for_no_open_orders`` returned True
     (called right after venue zero);
   - **venue up**: the `VenueStatus(up=True)` event, timestamped in the subscriber
     (the order manager's thread), after the new gateway has reconciled;

   and, for the breakdown, when ``ConnectionLinks.close`` started and returned on the
   call that closed the socket, when the venue's ``OrderEntry.disconnect`` ran and
   cancelled the orders, the gateway's ``ActorExited`` / ``RestartScheduled`` /
   ``ActorStarted`` supervision events, and the last ``cancelled`` `OrderUpdate`;

4. wait for ``venue up`` and the new gateway's ``ActorStarted`` before the next trial.

Before step 2 the gateway must have been up ``--min-uptime`` seconds (a sleep if need
be): the supervisor resets a child's backoff only once it stayed up
``Backoff.stable_after`` (10 ms here), so back-to-back deaths would measure a crash
loop's growing backoff (up to 50 ms) rather than an isolated death. To explain outliers
each trial also records the time spent in the cyclic GC (``gc.callbacks``), this
process's CPU time, and the time its threads waited for a CPU
(``/proc/self/task/*/schedstat``). After the trials, the dead-man's-switch refreshes
the venue receives per second while idle are counted.

Logging is configured at level ``critical`` to /dev/null in the children.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _provenance import git_state, machine_info, source_digest

RUNTIMES = ("threads", "gevent")
MODES = ("crash", "kill")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"

GATEWAY = "execution/gateway.sim"
SYMBOL = "BTCUSDT"
ACCOUNT = "demo"
SECRET_ENV = "TRADEACTORS_BENCH_SECRET"  # noqa: S105 - a variable name
SECRET = "bench-secret-" + "x" * 20  # a local simulated exchange's key
MID = 100_000  # ticks; the book is empty, so any price rests
OFFSET = 300  # ticks under the mid for the first order

# Reported per mode: (key in a trial, label). Offsets from the trigger, in ms.
HEADLINE = (
    ("venue_zero", "venue shows 0 open"),
    ("om_agrees", "order manager agrees"),
    ("venue_up", "venue up again"),
)
BREAKDOWN = (
    ("close_start", "`ConnectionLinks.close` starts (the call that closes)"),
    ("close_end", "`ConnectionLinks.close` returns (close handshake done)"),
    ("exited", "supervisor reports `ActorExited`"),
    ("restart_scheduled", "`RestartScheduled` (backoff timer armed)"),
    ("venue_disconnect", "venue's `OrderEntry.disconnect` cancels the orders"),
    ("venue_zero", "bench sees 0 open at the venue"),
    ("om_cancelled", "order manager's last `cancelled` `OrderUpdate`"),
    ("venue_up", "`VenueStatus(up=True)`"),
    ("started", "new gateway `ActorStarted` (after `on_start`)"),
    ("om_agrees", "`wait_for_no_open_orders` returns"),
)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (as in the other benchmarks)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(values: list[float]) -> dict[str, Any]:
    """p50 / p90 / p99 / max / mean of ``values`` (ms)."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "p99": percentile(values, 0.99),
        "max": max(values),
        "min": min(values),
        "mean": statistics.mean(values),
    }


def log(text: str) -> None:
    """Progress, to stderr."""
    print(text, file=sys.stderr, flush=True)


# -- the child: one runtime -----------------------------------------------------------------


class Recorder:
    """What the system, the tree and the instrumented venue and links said, timestamped."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.accepted: set[str] = set()
        self.denied: list[Any] = []
        self.cancelled_ns: dict[str, int] = {}
        self.ups: list[int] = []
        self.downs: list[int] = []
        self.gateway_started: list[tuple[int, int]] = []  # (perf ns, incarnation)
        self.trial: dict[str, list[Any]] = {}

    def reset_trial(self) -> None:
        with self.cond:
            self.trial = {
                "close": [],
                "disconnect": [],
                "exited": [],
                "restart_scheduled": [],
                "started": [],
            }

    def note(self, what: str, value: Any) -> None:
        with self.cond:
            if what in self.trial:
                self.trial[what].append(value)

    def on_trading_event(self, event: Any) -> None:
        from tradeactors.core.messages import OrderUpdate, VenueStatus  # noqa: PLC0415

        now = time.perf_counter_ns()
        with self.cond:
            if isinstance(event, VenueStatus):
                (self.ups if event.up else self.downs).append(now)
            elif isinstance(event, OrderUpdate):
                if event.status == "accepted":
                    self.accepted.add(event.client_order_id)
                elif event.status == "cancelled":
                    self.cancelled_ns.setdefault(event.client_order_id, now)
                elif event.status in {"denied", "rejected"}:
                    self.denied.append(event)
            self.cond.notify_all()

    def on_supervision_event(self, event: Any) -> None:
        from tradeactors.supervision import ActorExited, ActorStarted  # noqa: PLC0415
        from tradeactors.supervision._events import RestartScheduled  # noqa: PLC0415

        if getattr(event, "path", None) != GATEWAY:
            return
        now = time.perf_counter_ns()
        if isinstance(event, ActorExited):
            self.note("exited", (now, event.reason))
        elif isinstance(event, RestartScheduled):
            self.note("restart_scheduled", (now, event.delay))
        elif isinstance(event, ActorStarted):
            self.note("started", (now, event.incarnation))
            with self.cond:
                self.gateway_started.append((now, event.incarnation))
                self.cond.notify_all()

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def runqueue_waits() -> dict[str, int]:
    """Per thread of this process: ns it was runnable but waited for a CPU.

    From ``/proc/self/task/*/schedstat``: a sign of a machine short of CPUs (threads
    waiting for the GIL sleep; they are not runnable, and not counted).
    """
    waits: dict[str, int] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            waits[task.name] = int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return waits


TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(ticks of CPU stolen by the hypervisor, busy ticks), all CPUs, from /proc/stat.

    Coarse (10 ms ticks), but a vCPU descheduled by the host (steal) shows neither as
    CPU time of ours nor as runqueue wait: this is the only trace it leaves.
    """
    try:
        with Path("/proc/stat").open() as stat:
            fields = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return steal, user + nice + system + irq + softirq


def waited_since(before: dict[str, int]) -> int:
    """Runqueue wait (ns) since ``before``; threads that ended meanwhile are missed."""
    return sum(ns - before.get(tid, 0) for tid, ns in runqueue_waits().items())


class GcPauses:
    """When the cyclic garbage collector ran (``gc.callbacks``), to explain outliers."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, int, int]] = []  # (start ns, end ns, generation)
        self._started = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter_ns()
        if phase == "start":
            self._started = now
        else:
            self.pauses.append((self._started, now, info["generation"]))

    def overlap_ms(self, start: int, end: int) -> float:
        """GC time within [start, end], ms."""
        return sum(max(0, min(e, end) - max(s, start)) for s, e, _ in self.pauses[-200:]) / 1e6


gc_pauses = GcPauses()


def instrument(system: Any, venue: Any, recorder: Recorder) -> None:
    """Timestamp ``ConnectionLinks.close`` and the venue's ``OrderEntry.disconnect``.

    Instance attributes wrap the bound methods; the gateway, the supervisor's hook and
    the venue's connection threads all look them up on these instances.
    """
    links = system.links
    close = links.close

    def timed_close(path: str, connection: Any = None) -> bool:
        started = time.perf_counter_ns()
        closed: bool = close(path, connection)
        if closed:
            who = "gateway on_failure" if connection is not None else "supervisor hook"
            recorder.note("close", (started, time.perf_counter_ns(), who))
        return closed

    links.close = timed_close
    entry = venue.orders
    disconnect = entry.disconnect

    def timed_disconnect(connection: Any) -> Any:
        started = time.perf_counter_ns()
        events = disconnect(connection)
        if events:
            recorder.note("disconnect", (started, len(events)))
        return events

    entry.disconnect = timed_disconnect


def make_config(venue: Any, intensity: int) -> Any:
    """As ``tests/integration/trading_helpers.config_for``, with a non-escalating gateway."""
    import msgspec  # noqa: PLC0415

    from tradeactors.config import Config  # noqa: PLC0415

    return msgspec.convert(
        {
            "venue": {
                "name": "sim",
                "symbol": SYMBOL,
                "api_key": ACCOUNT,
                "trade_url": venue.trade_url,
                "stream_url": venue.ws_url,
                "rest_url": venue.http_url,
                "secret_env": SECRET_ENV,
            },
            "strategy": {"name": "none"},
            "killswitch": {"stale_after": None},
            "execution": {
                "restart_delay": 0.01,
                "max_restart_delay": 0.05,
                "intensity": intensity,
            },
            "risk": {
                "price_collar_bps": None,
                "max_messages": None,
                "max_open_orders": None,
                "max_position": None,
                "max_loss": None,
                "max_denials": None,
            },
        },
        Config,
    )


def rest_orders(
    system: Any, venue: Any, recorder: Recorder, orders: int, timeout: float
) -> list[str]:
    """Rest ``orders`` buy orders far under the mid; return once all are accepted."""
    from tradeactors.core.messages import Side, SubmitOrder  # noqa: PLC0415

    ids = [system.new_order_id() for _ in range(orders)]
    for k, client_order_id in enumerate(ids):
        system.submit(
            SubmitOrder(
                client_order_id=client_order_id,
                venue="sim",
                instrument=SYMBOL,
                side=Side.BUY,
                price=MID - OFFSET - k,
                quantity=1,
            )
        )
    recorder.wait(
        lambda: bool(recorder.denied) or all(i in recorder.accepted for i in ids),
        timeout,
        f"{orders} accepted orders",
    )
    if recorder.denied:
        raise RuntimeError(f"orders refused: {recorder.denied[:3]}")
    resting = len(venue.open_orders(ACCOUNT))
    if resting != orders:
        raise RuntimeError(f"{resting} orders open at the venue, expected {orders}")
    return ids


def kill_gateway(system: Any, mode: str) -> int:
    """Make the gateway die (``crash`` or ``kill``); the perf_counter_ns just before."""
    faults = system.tree.faults(GATEWAY)
    if mode == "crash":
        faults.crash_next()
        gateway = system.tree.address(GATEWAY)
        t0 = time.perf_counter_ns()
        gateway.tell("poke")  # the next message it handles: its handler raises
        return t0
    t0 = time.perf_counter_ns()
    if not faults.kill():
        raise RuntimeError("the gateway was not running")
    return t0


def run_trial(
    system: Any, venue: Any, recorder: Recorder, mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Rest orders, kill the gateway, time until the venue is up again."""
    ids = rest_orders(system, venue, recorder, args.orders, args.timeout)
    with recorder.cond:
        up_since_ns, incarnation = recorder.gateway_started[-1]
    # An isolated death, not a crash loop: the supervisor resets the backoff only for a
    # child that stayed up `Backoff.stable_after` (10 ms here); deliberate spacing.
    uptime = (time.perf_counter_ns() - up_since_ns) / 1e9
    if uptime < args.min_uptime:
        time.sleep(args.min_uptime - uptime)
    waits_before = runqueue_waits()
    steal_before, busy_before = machine_ticks()
    cpu_before = time.process_time_ns()
    ups_before = len(recorder.ups)
    recorder.reset_trial()
    zero_ns: list[int] = []

    def none_open() -> bool:  # under the venue's lock, after every change
        if venue.engine.open_orders(ACCOUNT):
            return False
        if not zero_ns:
            zero_ns.append(time.perf_counter_ns())
        return True

    t0 = kill_gateway(system, mode)
    if not venue.wait_until(none_open, args.timeout):
        raise TimeoutError(f"orders still open at the venue after {args.timeout} s")
    if not system.wait_for_no_open_orders(args.timeout):
        raise TimeoutError(f"the order manager still has open orders after {args.timeout} s")
    om_ns = time.perf_counter_ns()
    recorder.wait(lambda: len(recorder.ups) > ups_before, args.timeout, "VenueStatus up")
    recorder.wait(
        lambda: recorder.gateway_started[-1][1] > incarnation, args.timeout, "the new gateway"
    )
    cpu_ns = time.process_time_ns() - cpu_before
    steal_after, busy_after = machine_ticks()
    waited_ns = waited_since(waits_before)
    window_ns = time.perf_counter_ns() - t0
    with recorder.cond:
        rec = {k: (v[0] if v else None) for k, v in recorder.trial.items()}
        up_ns = recorder.ups[ups_before]
        cancelled = [recorder.cancelled_ns.get(i) for i in ids]
    return {
        "mode": mode,
        "venue_zero": (zero_ns[0] - t0) / 1e6,
        "om_agrees": (om_ns - t0) / 1e6,
        "venue_up": (up_ns - t0) / 1e6,
        **timeline(rec, t0),
        "om_cancelled": None if None in cancelled else (max(cancelled) - t0) / 1e6,  # type: ignore[type-var,operator]
        "uptime_at_death_ms": (t0 - up_since_ns) / 1e6,
        "gc_ms": gc_pauses.overlap_ms(t0, up_ns),
        # from the trigger to the new gateway's start: CPU time of this process, and
        # time its threads were runnable but waited for a CPU
        "window_ms": window_ns / 1e6,
        "cpu_ms": cpu_ns / 1e6,
        "runqueue_wait_ms": waited_ns / 1e6,
        # the whole machine, in 10 ms ticks: stolen by the host; busy (all processes)
        "steal_ms": (steal_after - steal_before) * TICK_MS,
        "machine_busy_ms": (busy_after - busy_before) * TICK_MS,
        "t0_s": t0 / 1e9,
    }


def timeline(rec: dict[str, Any], t0: int) -> dict[str, Any]:
    """The instrumented steps of one trial, in ms from ``t0`` (None: not seen)."""

    def ms(entry: Any) -> float | None:
        return None if entry is None else (entry[0] - t0) / 1e6

    close, disconnect = rec["close"], rec["disconnect"]
    exited, scheduled = rec["exited"], rec["restart_scheduled"]
    return {
        "close_start": ms(close),
        "close_end": None if close is None else (close[1] - t0) / 1e6,
        "closed_by": None if close is None else close[2],
        "venue_disconnect": ms(disconnect),
        "cancelled_on_disconnect": 0 if disconnect is None else disconnect[1],
        "exited": ms(exited),
        "exit_reason": None if exited is None else exited[1],
        "restart_scheduled": ms(scheduled),
        "backoff_s": None if scheduled is None else scheduled[1],
        "started": ms(rec["started"]),
    }


def summarize_trials(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Statistics over the measured (not warm-up) trials."""
    measured = [t for t in trials if not t["warmup"]]
    halves = (measured[: len(measured) // 2], measured[len(measured) // 2 :])
    return {
        "stats_ms": {
            mode: {
                key: summarize(
                    [t[key] for t in measured if t["mode"] == mode and t[key] is not None]
                )
                for key, _ in BREAKDOWN
            }
            for mode in MODES
        },
        "closed_by": {
            mode: {
                who: sum(1 for t in measured if t["mode"] == mode and t["closed_by"] == who)
                for who in ("gateway on_failure", "supervisor hook", None)
            }
            for mode in MODES
        },
        "zero_not_via_disconnect": sum(1 for t in measured if not t["cancelled_on_disconnect"]),
        "backoff_s": summarize([t["backoff_s"] for t in measured if t["backoff_s"] is not None]),
        "drift_p50_ms": {
            mode: {
                key: [
                    summarize([t[key] for t in half if t["mode"] == mode])["p50"] for half in halves
                ]
                for key in ("venue_zero", "venue_up")
            }
            for mode in MODES
        },
        "gc": {
            "collections": len(gc_pauses.pauses),
            "by_generation": {
                str(g): sum(1 for p in gc_pauses.pauses if p[2] == g) for g in (0, 1, 2)
            },
            "max_pause_ms": max(((e - s) / 1e6 for s, e, _ in gc_pauses.pauses), default=0.0),
        },
    }


def run_trials(
    system: Any, venue: Any, recorder: Recorder, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """All the trials, the modes alternating; then count the idle dead-man's refreshes."""
    trials: list[dict[str, Any]] = []
    total = (args.warmup + args.trials) * len(MODES)
    for n in range(total):
        mode = MODES[n % len(MODES)]  # interleaved, against drift
        trial = run_trial(system, venue, recorder, mode, args)
        trial["index"] = n
        trial["warmup"] = n < args.warmup * len(MODES)
        trials.append(trial)
        if (n + 1) % 100 == 0:
            log(f"[{args.runtime}] {n + 1} / {total} trials")
    requests = venue.requests(ACCOUNT, "cancel_all_after")
    # Dead-man's-switch refreshes per second once idle (1 expected: see the analysis).
    time.sleep(0.1)
    before = venue.requests(ACCOUNT, "cancel_all_after")
    time.sleep(args.idle_window)
    rate = (venue.requests(ACCOUNT, "cancel_all_after") - before) / args.idle_window
    return trials, {"cancel_all_after_requests": requests, "idle_refreshes_per_s": rate}


def child_main(args: argparse.Namespace) -> None:
    """Measure in this process's runtime; print the JSON report on stdout."""
    from tradeactors.supervision.runtime import current_runtime, use_gevent  # noqa: PLC0415

    if args.runtime == "gevent":
        use_gevent()  # first: before pykka or any thread
    from tradeactors.clock import SystemClock  # noqa: PLC0415 - after the runtime is chosen
    from tradeactors.core.instrument import Instrument  # noqa: PLC0415
    from tradeactors.exchange.liquidity import LiquidityConfig  # noqa: PLC0415
    from tradeactors.exchange.server import SimExchange  # noqa: PLC0415
    from tradeactors.observability import configure_logging  # noqa: PLC0415
    from tradeactors.trading.system import TradingSystem  # noqa: PLC0415

    digest = source_digest()
    if current_runtime() != args.runtime:
        raise RuntimeError(f"asked for {args.runtime}, running {current_runtime()}")
    devnull = Path(os.devnull).open("w")  # noqa: SIM115 - open for the process's life
    configure_logging(level="critical", json=True, stream=devnull)
    os.environ[SECRET_ENV] = SECRET

    started = time.perf_counter()
    clock = SystemClock()
    venue = SimExchange(
        Instrument(venue="sim", symbol=SYMBOL, tick_size="0.01", lot_size="0.001"),
        clock,
        seed=7,
        interval=args.step_interval,
        keys={ACCOUNT: SECRET},
        rate_per_second=10_000,
        liquidity=LiquidityConfig(limit_rate=0, cancel_rate=0, market_rate=0, depth_ticks=0),
    ).start()
    recorder = Recorder()
    system = TradingSystem(make_config(venue, args.intensity))
    system.subscribe(recorder.on_trading_event)
    try:
        system.start(timeout=20)
        system.tree.subscribe(recorder.on_supervision_event)
        recorder.wait(lambda: recorder.ups, 20, "the venue up after start")
        with recorder.cond:
            recorder.gateway_started.append((time.perf_counter_ns(), 1))
        instrument(system, venue, recorder)
        gc.callbacks.append(gc_pauses)
        trials, extras = run_trials(system, venue, recorder, args)
        restarts = {p: system.tree.stats(p).restarts for p in system.tree.paths()}
        summary = system.stop(timeout=10)
    finally:
        venue.close()
        clock.close()
    elapsed = time.perf_counter() - started
    report = {
        "runtime": args.runtime,
        "tradeactors_source_sha256": digest,
        "elapsed_s": elapsed,
        **summarize_trials(trials),
        "restarts": restarts,
        **extras,
        "shutdown_clean": summary.clean,
        "trials": trials,
    }
    print(json.dumps(report))


# -- the parent: both runtimes, one report -----------------------------------------------


def child_options(args: argparse.Namespace) -> list[str]:
    """The measurement options, as given to the parent."""
    return [
        f"--trials={args.trials}",
        f"--warmup={args.warmup}",
        f"--orders={args.orders}",
        f"--step-interval={args.step_interval}",
        f"--intensity={args.intensity}",
        f"--timeout={args.timeout}",
        f"--min-uptime={args.min_uptime}",
        f"--idle-window={args.idle_window}",
    ]


def run_child(runtime: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run this script in a fresh process for ``runtime`` and parse its JSON report."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        f"--runtime={runtime}",
        *child_options(args),
    ]
    log(f"== {runtime}: {shlex.join(command)}")
    completed = subprocess.run(  # noqa: S603 - our own script, our own interpreter
        command, stdout=subprocess.PIPE, text=True, check=True
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def render_markdown(report: dict[str, Any]) -> str:
    """The human-readable results (the analysis is written by hand, after)."""
    machine = report["machine"]
    params = report["parameters"]
    versions = (
        f"Python {machine['python']} ({machine['python_implementation']}), "
        f"pykka {machine['pykka']}, gevent {machine['gevent']}, "
        f"greenlet {machine['greenlet']}, websocket-client {machine['websocket-client']}, "
        f"websockets {machine['websockets']}, tradeactors {machine['tradeactors']}"
    )
    lines = [
        "# Cancel-on-disconnect time",
        "",
        f"- Date: {report['date']}",
        (
            f"- Machine: {machine['nproc']} CPUs, `{machine['cpu_model']}`, "
            f"kernel `{machine['kernel']}`; {report['load']}"
        ),
        f"- Software: {versions}",
        (
            f"- Code: git commit `{report['git']}`; tradeactors sources sha256 "
            f"`{report['tradeactors_source_sha256']}` (first 16 hex digits)"
        ),
        f"- Command: `{report['command']}` (wall time {report['elapsed_s']:.0f} s)",
        (
            f"- Method: per runtime, one child process with one `SimExchange` (empty, still "
            f"book; market step every {params['step_interval'] * 1e3:g} ms) and one "
            f"`TradingSystem` (no strategy, loose risk limits, execution intensity "
            f"{params['intensity']:,}, gateway backoff 10 ms x (1 + 0.2 x random)). "
            f"{params['trials']} trials per mode after {params['warmup']} warm-up, the "
            f"two modes alternating. Each trial rests {params['orders']} buy orders "
            "through risk, waits for their `accepted` updates, then kills the gateway: "
            "**crash** = `faults(gateway).crash_next()` and a message told to it (its "
            "handler raises; its `on_failure` closes the session); **kill** = "
            "`faults(gateway).kill()` (no `on_failure`; the execution supervisor's hook "
            "closes it). Times are from `perf_counter_ns()` just before the message / kill "
            "signal is sent. *venue shows 0 open*: stamped inside the "
            "`SimExchange.wait_until` predicate (under the venue's lock, re-checked on "
            "every change) the first time it sees none; *order manager agrees*: "
            "`TradingSystem.wait_for_no_open_orders` returned (called right after); "
            "*venue up again*: the `VenueStatus(up=True)` event, stamped in the "
            "subscriber. The next trial starts once the venue is up and the new gateway "
            f"has started, and kills it only after it has been up {params['min_uptime'] * 1e3:g}"
            " ms (a sleep if need be), so that every death is an isolated one: the "
            "supervisor resets the backoff only for a child that stayed up "
            "`Backoff.stable_after` (= `min_delay`, 10 ms), and back-to-back deaths would "
            "measure the backoff of a crash loop (up to `max_restart_delay`, 50 ms) instead."
        ),
        (
            "- Logging: `configure_logging(level='critical', json=True, stream=/dev/null)` "
            "in the measuring processes."
        ),
        "",
        "## Figures (ms from the gateway's death)",
        "",
        "| runtime | mode | until | p50 | p90 | p99 | max |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for runtime, result in report["runtimes"].items():
        for mode in MODES:
            for key, label in HEADLINE:
                s = result["stats_ms"][mode][key]
                lines.append(
                    f"| {runtime} | {mode} | {label} | {_fmt(s['p50'])} | {_fmt(s['p90'])} | "
                    f"{_fmt(s['p99'])} | {_fmt(s['max'])} |"
                )
    lines += [
        "",
        "## Breakdown (median ms from the gateway's death, roughly in the order things happen)",
        "",
        "| step | " + " | ".join(f"{r} {m}" for r in report["runtimes"] for m in MODES) + " |",
        "|---|" + "---:|" * (len(report["runtimes"]) * len(MODES)),
    ]
    for key, label in BREAKDOWN:
        cells = [
            _fmt(result["stats_ms"][mode][key].get("p50"))
            for result in report["runtimes"].values()
            for mode in MODES
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    for runtime, result in report["runtimes"].items():
        closed_by = "; ".join(
            f"{mode}: "
            + ", ".join(f"{who or 'nobody'} {n}" for who, n in result["closed_by"][mode].items())
            for mode in MODES
        )
        others = {p: n for p, n in result["restarts"].items() if p != GATEWAY and n}
        backoff = result["backoff_s"]
        drift = "; ".join(
            f"{mode} "
            + ", ".join(
                f"{key} {_fmt(a)} -> {_fmt(b)}"
                for key, (a, b) in result["drift_p50_ms"][mode].items()
            )
            for mode in MODES
        )
        lines += [
            (
                f"- **{runtime}**: socket closed by ({closed_by}); trials where the venue's "
                f"zero did not come from the disconnect: {result['zero_not_via_disconnect']}; "
                f"backoff drawn {backoff['min'] * 1e3:.1f} .. {backoff['max'] * 1e3:.1f} ms "
                f"(median {backoff['p50'] * 1e3:.1f}); gateway restarts "
                f"{result['restarts'].get(GATEWAY, 0):,}, other restarts {others or 'none'}; "
                f"`cancel_all_after` requests seen by the venue "
                f"{result['cancel_all_after_requests']:,}, and "
                f"{result['idle_refreshes_per_s']:.1f}/s once idle after the trials; "
                f"p50 first half -> second half of the trials (ms): {drift}; clean shutdown: "
                f"{result['shutdown_clean']}; child wall time {result['elapsed_s']:.0f} s."
            ),
        ]
    lines += [
        "",
        "## Slowest trials (ms from the gateway's death)",
        "",
        (
            "Per runtime, the 4 slowest by *venue up again* and the 4 slowest by *venue shows "
            "0 open*. *reconnect* = from `RestartScheduled` to up, less the backoff drawn; "
            "*runqueue wait* = time this process's threads were runnable but had no CPU, "
            "summed over threads, from the death to the new gateway's start "
            "(`/proc/self/task/*/schedstat`; threads that ended in the window, such as the dead "
            "gateway's, are missed); *CPU* = CPU time of this process over the same window "
            "(`process_time`); *machine busy* and *steal* = CPU time of all processes, and "
            "time the hypervisor took the vCPUs away, over the same window, both CPUs, from "
            "`/proc/stat` in 10 ms ticks (coarse); *GC* = time in the cyclic garbage "
            "collector, death to up."
        ),
        "",
        (
            "| runtime | trial | mode | venue 0 | close starts .. returns | venue disconnect "
            "| up | reconnect | GC | runqueue wait | CPU | machine busy | steal | window |"
        ),
        "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for runtime, result in report["runtimes"].items():
        measured = [t for t in result["trials"] if not t["warmup"]]
        slow = sorted(measured, key=lambda t: -t["venue_up"])[:4]
        slow += [t for t in sorted(measured, key=lambda t: -t["venue_zero"]) if t not in slow][:4]
        for t in slow:
            reconnect = t["venue_up"] - t["restart_scheduled"] - t["backoff_s"] * 1e3
            lines.append(
                f"| {runtime} | {t['index']} | {t['mode']} | {_fmt(t['venue_zero'])} | "
                f"{_fmt(t['close_start'])} .. {_fmt(t['close_end'])} | "
                f"{_fmt(t['venue_disconnect'])} | {_fmt(t['venue_up'])} | {_fmt(reconnect)} | "
                f"{_fmt(t['gc_ms'])} | {_fmt(t['runqueue_wait_ms'])} | {_fmt(t['cpu_ms'])} | "
                f"{t['machine_busy_ms']:.0f} | {t['steal_ms']:.0f} | {_fmt(t['window_ms'])} |"
            )
    typical = "; ".join(
        f"{runtime}: runqueue wait p50 {_fmt(percentile(w, 0.5))} ms, p90 "
        f"{_fmt(percentile(w, 0.9))} ms, CPU p50 {_fmt(percentile(c, 0.5))} ms, trials "
        f"with steal {sum(1 for t in result['trials'] if t['steal_ms'] and not t['warmup'])}"
        f", GC "
        f"{result['gc']['collections']:,} collections {result['gc']['by_generation']}, "
        f"longest {result['gc']['max_pause_ms']:.2f} ms"
        for runtime, result in report["runtimes"].items()
        for w, c in [
            (
                [t["runqueue_wait_ms"] for t in result["trials"] if not t["warmup"]],
                [t["cpu_ms"] for t in result["trials"] if not t["warmup"]],
            )
        ]
    )
    lines += ["", f"For comparison, over all measured trials: {typical}."]
    digests = {result["tradeactors_source_sha256"] for result in report["runtimes"].values()}
    if digests != {report["tradeactors_source_sha256"]}:
        lines.append(
            "\n**Warning: tradeactors' sources changed during the run**: the runtimes did "
            "not measure the same code."
        )
    return "\n".join(lines)


TRIAL_COLUMNS = (
    "index",
    "warmup",
    "mode",
    *(key for key, _ in BREAKDOWN),
    "backoff_s",
    "cancelled_on_disconnect",
    "uptime_at_death_ms",
    "gc_ms",
    "window_ms",
    "cpu_ms",
    "runqueue_wait_ms",
    "steal_ms",
    "machine_busy_ms",
)


def _rounded(value: Any) -> Any:
    """``value`` with its floats rounded to 5 significant digits."""
    if isinstance(value, float):
        return float(f"{value:.5g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def compact(report: dict[str, Any]) -> dict[str, Any]:
    """The report for the JSON file: floats rounded, each runtime's trials as a table."""
    runtimes = {
        runtime: {
            **result,
            "trials": {
                "columns": list(TRIAL_COLUMNS),
                "rows": [[t.get(c) for c in TRIAL_COLUMNS] for t in result["trials"]],
            },
        }
        for runtime, result in report["runtimes"].items()
    }
    rounded: dict[str, Any] = _rounded({**report, "runtimes": runtimes})
    return rounded


def to_json(report: dict[str, Any]) -> str:
    """The JSON file's text: `compact`, indented, one line per trial."""
    data = compact(report)
    tables: dict[str, list[Any]] = {}
    for runtime, result in data["runtimes"].items():
        placeholder = f"@rows:{runtime}@"
        tables[placeholder] = result["trials"]["rows"]
        result["trials"]["rows"] = placeholder
    text = json.dumps(data, indent=1)
    for placeholder, rows in tables.items():
        lines = ",\n".join(f"    {json.dumps(row)}" for row in rows)
        text = text.replace(json.dumps(placeholder), f"[\n{lines}\n   ]")
    return text + "\n"


def load_note() -> str:
    """The load average when the run starts (the machine may be shared)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load unknown"
    return f"load average at start {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def parent_main(args: argparse.Namespace) -> None:
    """Run every runtime in its own process, then write JSON and Markdown results."""
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(
            ("pykka", "gevent", "greenlet", "websocket-client", "websockets", "tradeactors")
        ),
        "load": load_note(),
        "tradeactors_source_sha256": source_digest(),
        "git": git_state(),
        "command": shlex.join([sys.executable, *sys.argv]),
        "parameters": {
            "trials": args.trials,
            "warmup": args.warmup,
            "orders": args.orders,
            "step_interval": args.step_interval,
            "intensity": args.intensity,
            "timeout": args.timeout,
            "min_uptime": args.min_uptime,
            "idle_window": args.idle_window,
            "restart_delay": 0.01,
            "max_restart_delay": 0.05,
            "logging": "critical, to /dev/null",
        },
        "runtimes": {runtime: run_child(runtime, args) for runtime in args.runtimes},
    }
    report["elapsed_s"] = time.perf_counter() - started
    report["load_at_end"] = load_note()
    output: Path = args.output_dir
    output.mkdir(parents=True, exist_ok=True)
    (output / "cancel_on_disconnect.json").write_text(to_json(report))
    markdown = render_markdown(report)
    (output / "cancel_on_disconnect.md").write_text(markdown + "\n")
    print(markdown)
    log(f"\nwritten: {output / 'cancel_on_disconnect.md'}, {output / 'cancel_on_disconnect.json'}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200, help="measured trials per mode")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up trials per mode")
    parser.add_argument("--orders", type=int, default=5, help="orders resting at each death")
    parser.add_argument(
        "--step-interval", type=float, default=0.02, help="the venue's market step, seconds"
    )
    parser.add_argument(
        "--intensity", type=int, default=100_000, help="execution restarts allowed per 10 s"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="each wait's timeout, s")
    parser.add_argument(
        "--min-uptime",
        type=float,
        default=0.025,
        help="the gateway is up at least this long (s) before it is killed (0: crash loop)",
    )
    parser.add_argument(
        "--idle-window",
        type=float,
        default=2.0,
        help="seconds, after the trials, over which dead-man's-switch refreshes are counted",
    )
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
