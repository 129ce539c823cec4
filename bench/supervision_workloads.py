"""What `bench_supervision.py` measures, in one process and one runtime.

Import this module only once the runtime is chosen (after ``use_gevent()`` for
gevent): it imports pykka, tradeactors and the queue implementation of the runtime.
"""

from __future__ import annotations

import gc
import math
import statistics
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

import pykka
from prometheus_client import CollectorRegistry

from tradeactors.supervision import (
    ActorStarted,
    ChildSpec,
    SupervisedActor,
    SupervisionEvent,
    Supervisor,
    SupervisorSpec,
)
from tradeactors.supervision.runtime import current_runtime

if current_runtime() == "gevent":
    from gevent.queue import Queue
else:
    from queue import Queue

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.supervision import Address

CHAIN_LENGTH = 6
VARIANTS = ("supervised", "uninstrumented", "pykka", "queue")
WAIT_TIMEOUT = 300.0
"""Seconds any single wait may take before the benchmark gives up (a hang, not a result)."""
RESTART_WARMUP = 50


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def log(text: str) -> None:
    """Progress goes to stderr; stdout carries the JSON report."""
    print(text, file=sys.stderr)


# -- chains -------------------------------------------------------------------------------


class Probe:
    """Counts messages leaving a chain (one writer: the last stage); sets ``done`` at ``target``."""

    __slots__ = ("count", "done", "target")

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done = threading.Event()  # gevent's Event under gevent (patched module)

    def arm(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done.clear()

    def hit(self) -> None:
        self.count += 1
        if self.count >= self.target:
            self.done.set()

    def wait(self) -> None:
        if not self.done.wait(WAIT_TIMEOUT):
            raise RuntimeError(f"chain stalled: {self.count}/{self.target} messages arrived")


class Chain(Protocol):
    """A running chain of CHAIN_LENGTH stages; ``send`` gives a message to the first."""

    probe: Probe
    send: Callable[[Any], None]

    def close(self) -> None: ...


class SupervisedStage(SupervisedActor):
    """Forwards every message to its sibling by `Address.tell`; the last one counts."""

    def __init__(self, next_path: str | None, probe: Probe) -> None:
        super().__init__()
        self._next_path = next_path
        self._probe = probe
        self._next: Address | None = None

    def on_start(self) -> None:
        assert self.context is not None  # noqa: S101 - always started in a tree
        if self._next_path is not None:
            self._next = self.context.address_of(self._next_path)

    def on_receive(self, message: Any) -> None:
        following = self._next
        if following is not None:
            following.tell(message)
        else:
            self._probe.hit()


class PykkaStage(pykka.ThreadingActor):
    """The same stage as a bare pykka actor, forwarding by `ActorRef.tell`."""

    use_daemon_thread = True

    def __init__(self, following: pykka.ActorRef[Any] | None, probe: Probe) -> None:
        super().__init__()
        self._next = following
        self._probe = probe

    def on_receive(self, message: Any) -> None:
        following = self._next
        if following is not None:
            following.tell(message)
        else:
            self._probe.hit()


class SupervisedChain:
    """A tree whose root supervises the 6 stages a0 .. a5, with metrics registered.

    ``instrument=False``: the same tree without per-message statistics.
    """

    def __init__(self, *, instrument: bool = True) -> None:
        self.probe = Probe()
        names = [f"a{i}" for i in range(CHAIN_LENGTH)]
        children = tuple(
            ChildSpec(
                name=name,
                actor=SupervisedStage,
                args=(names[i + 1] if i + 1 < CHAIN_LENGTH else None, self.probe),
            )
            for i, name in enumerate(names)
        )
        spec = SupervisorSpec(name="bench", children=children)
        self._tree = Supervisor(spec, registry=CollectorRegistry(), instrument=instrument).start()
        self.send = self._tree.address(names[0]).tell

    def close(self) -> None:
        self._tree.stop()


class PykkaChain:
    """6 bare pykka actors, started from the last to the first."""

    def __init__(self) -> None:
        self.probe = Probe()
        self._refs: list[pykka.ActorRef[Any]] = []
        following: pykka.ActorRef[Any] | None = None
        for _ in range(CHAIN_LENGTH):
            following = PykkaStage.start(following, self.probe)
            self._refs.append(following)
        assert following is not None  # noqa: S101 - CHAIN_LENGTH > 0
        self.send = following.tell

    def close(self) -> None:
        for ref in reversed(self._refs):  # the head first, as messages flow
            ref.stop()


_STOP = object()


def _queue_stage(inbox: Any, outbox: Any, probe: Probe) -> None:
    get = inbox.get
    put = None if outbox is None else outbox.put
    while True:
        item = get()
        if put is not None:
            put(item)
        elif item is not _STOP:
            probe.hit()
        if item is _STOP:
            return


class QueueChain:
    """6 threads (greenlets under gevent), each forwarding from its queue to the next."""

    def __init__(self) -> None:
        self.probe = Probe()
        queues = [Queue() for _ in range(CHAIN_LENGTH)]
        self._threads = [
            threading.Thread(
                target=_queue_stage,
                args=(inbox, queues[i + 1] if i + 1 < CHAIN_LENGTH else None, self.probe),
                name=f"queue-stage-{i}",
                daemon=True,
            )
            for i, inbox in enumerate(queues)
        ]
        for thread in self._threads:
            thread.start()
        self.send = queues[0].put

    def close(self) -> None:
        self.send(_STOP)
        for thread in self._threads:
            thread.join(WAIT_TIMEOUT)


FACTORIES: dict[str, Callable[[], Chain]] = {
    "supervised": SupervisedChain,
    "uninstrumented": lambda: SupervisedChain(instrument=False),
    "pykka": PykkaChain,
    "queue": QueueChain,
}


# -- 1. flood throughput --------------------------------------------------------------------


def _flood(chain: Chain, count: int) -> float:
    """Seconds for ``count`` messages told back to back to leave the chain."""
    send = chain.send
    chain.probe.arm(count)
    gc.collect()
    started = time.perf_counter_ns()
    for i in range(count):
        send(i)
    chain.probe.wait()
    return (time.perf_counter_ns() - started) / 1e9


def measure_throughput(messages: int, rounds: int) -> dict[str, Any]:
    """Messages per second through each chain, variants interleaved, after a warm-up round."""
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_number in range(rounds + 1):
        warmup = round_number == 0
        count = max(1, messages // 10) if warmup else messages
        for name in VARIANTS:
            chain = FACTORIES[name]()
            try:
                rate = count / _flood(chain, count)
            finally:
                chain.close()
            if not warmup:
                samples[name].append(rate)
            label = "warm-up" if warmup else f"round {round_number}"
            log(f"  flood   {name:<10} {label:<8} {rate:>12,.0f} msg/s")
    result: dict[str, Any] = {
        name: {
            "median_msgs_per_s": statistics.median(values),
            "min_msgs_per_s": min(values),
            "max_msgs_per_s": max(values),
            "samples_msgs_per_s": values,
        }
        for name, values in samples.items()
    }
    medians = {name: result[name]["median_msgs_per_s"] for name in VARIANTS}
    result["ratio_supervised_vs_pykka"] = medians["supervised"] / medians["pykka"]
    per_round = [s / p for s, p in zip(samples["supervised"], samples["pykka"], strict=True)]
    result["ratio_supervised_vs_pykka_per_round"] = per_round
    result["ratio_supervised_vs_pykka_median_of_rounds"] = statistics.median(per_round)
    per_round = [
        s / u for s, u in zip(samples["supervised"], samples["uninstrumented"], strict=True)
    ]
    result["ratio_instrumented_vs_uninstrumented_median_of_rounds"] = statistics.median(per_round)
    return result


# -- 2. one message in flight ---------------------------------------------------------------


def _one_at_a_time(chain: Chain, count: int) -> list[float]:
    """Latencies (us) of ``count`` messages, each sent once the previous one left the chain."""
    probe = chain.probe
    send = chain.send
    clock = time.perf_counter_ns
    out = []
    gc.collect()
    for i in range(count):
        probe.arm(1)
        started = clock()
        send(i)
        probe.wait()
        out.append((clock() - started) / 1e3)
    return out


def measure_latency(messages: int, warmup: int, blocks: int) -> dict[str, Any]:
    """Latency of one message through each chain; variants interleaved in ``blocks``."""
    chains = {name: FACTORIES[name]() for name in VARIANTS}
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    per_block = max(1, messages // blocks)
    try:
        for chain in chains.values():
            _one_at_a_time(chain, warmup)
        for _ in range(blocks):
            for name, chain in chains.items():
                samples[name].extend(_one_at_a_time(chain, per_block))
    finally:
        for chain in chains.values():
            chain.close()
    result: dict[str, Any] = {}
    for name, values in samples.items():
        result[name] = {
            "count": len(values),
            "p50_us": percentile(values, 50),
            "p99_us": percentile(values, 99),
            "mean_us": statistics.fmean(values),
            "max_us": max(values),
        }
        log(
            f"  latency {name:<10} p50 {result[name]['p50_us']:8.1f} us, "
            f"p99 {result[name]['p99_us']:8.1f} us"
        )
    for q in ("p50", "p99"):
        ratio = result["supervised"][f"{q}_us"] / result["pykka"][f"{q}_us"]
        result[f"ratio_{q}_supervised_vs_pykka"] = ratio
    return result


# -- 3. restarts ----------------------------------------------------------------------------


class RestartRecord:
    """What the crashing actor writes: when it raised, when a successor got the probe."""

    def __init__(self) -> None:
        self.crash_ns = 0
        self.probe_ns = 0
        self.incarnation = 0
        self.done = threading.Event()


class Crasher(SupervisedActor):
    """Raises on ``"crash"`` (after noting the time); notes when it handles ``"probe"``."""

    def __init__(self, record: RestartRecord) -> None:
        super().__init__()
        self._record = record

    def on_receive(self, message: Any) -> None:
        record = self._record
        if message == "crash":
            record.crash_ns = time.perf_counter_ns()
            raise RuntimeError("benchmark crash")
        if message == "probe":
            record.probe_ns = time.perf_counter_ns()
            assert self.context is not None  # noqa: S101 - always in a tree
            record.incarnation = self.context.incarnation
            record.done.set()


class RestartBench:
    """A tree with one permanent `Crasher` and a restart intensity that never escalates."""

    def __init__(self) -> None:
        self.record = RestartRecord()
        spec = SupervisorSpec(
            name="bench",
            children=(ChildSpec(name="victim", actor=Crasher, args=(self.record,)),),
            intensity=1_000_000,
            period=1.0,
        )
        self.restart_events = 0
        self.tree = Supervisor(spec, registry=CollectorRegistry()).start()
        self.tree.subscribe(self._on_event)
        self.victim = self.tree.address("victim")
        self.faults = self.tree.faults("victim")

    def _on_event(self, event: SupervisionEvent) -> None:
        if isinstance(event, ActorStarted):
            self.restart_events += 1

    def crash_once(self, *, injected: bool) -> float:
        """Milliseconds from the crash to the successor handling the next message.

        ``injected``: crash by ``faults.crash_next()``, timed from just before the
        failing message is told; otherwise the handler raises, timed from just before.
        """
        record = self.record
        record.done.clear()
        told_ns = 0
        if injected:
            self.faults.crash_next()
            told_ns = time.perf_counter_ns()
            self.victim.tell("anything")
        else:
            self.victim.tell("crash")
        self.victim.tell("probe")
        if not record.done.wait(WAIT_TIMEOUT):
            raise RuntimeError("the crashed actor's successor never handled the probe")
        return (record.probe_ns - (told_ns if injected else record.crash_ns)) / 1e6

    def close(self) -> None:
        self.tree.stop()


def measure_restarts(restarts: int) -> dict[str, Any]:
    """Crash-to-next-message latency of a supervised child, for both ways of crashing."""
    bench = RestartBench()
    result: dict[str, Any] = {}
    try:
        for mode, injected in (("handler_raises", False), ("crash_next", True)):
            for _ in range(RESTART_WARMUP):
                bench.crash_once(injected=injected)
            gc.collect()
            values = [bench.crash_once(injected=injected) for _ in range(restarts)]
            result[mode] = {
                "count": len(values),
                "p50_ms": percentile(values, 50),
                "p99_ms": percentile(values, 99),
                "mean_ms": statistics.fmean(values),
                "max_ms": max(values),
            }
            log(
                f"  restart {mode:<15} p50 {result[mode]['p50_ms']:.3f} ms, "
                f"p99 {result[mode]['p99_ms']:.3f} ms"
            )
        expected = 1 + 2 * (RESTART_WARMUP + restarts)
        incarnations = bench.tree.stats("victim").incarnations
        if not incarnations == bench.record.incarnation == expected:
            raise RuntimeError(f"expected {expected} incarnations, saw {incarnations}")
        result["incarnations"] = incarnations
        result["started_events"] = bench.restart_events
        result["tree_running_after"] = bench.tree.running
    finally:
        bench.close()
    return result


# -- profiling --------------------------------------------------------------------------------


def profile_floods(messages: int, top: int) -> None:
    """cProfile one supervised and one bare pykka flood; print the top costs of each.

    Under threads every thread gets its own profiler (merged afterwards), and tottime
    includes time spent waiting for locks and the GIL. Under gevent one profiler sees
    every greenlet, since they share the thread.
    """
    import cProfile  # noqa: PLC0415 - only when profiling
    import pstats  # noqa: PLC0415

    runtime = current_runtime()
    for name in ("supervised", "pykka"):
        profiles: list[cProfile.Profile] = []
        original_run = threading.Thread.run

        def profiled_run(
            thread: threading.Thread,
            _run: Any = original_run,
            _profiles: list[cProfile.Profile] = profiles,
        ) -> None:
            profile = cProfile.Profile()
            _profiles.append(profile)
            profile.enable()
            try:
                _run(thread)
            finally:
                profile.disable()

        if runtime == "threads":
            threading.Thread.run = profiled_run  # type: ignore[method-assign]
        try:
            chain = FACTORIES[name]()
        finally:
            threading.Thread.run = original_run  # type: ignore[method-assign]
        main = cProfile.Profile()
        profiles.append(main)
        try:
            main.enable()
            elapsed = _flood(chain, messages)
            main.disable()
        finally:
            chain.close()
        print(f"==== {runtime}, {name}: {messages:,} messages in {elapsed:.2f} s (profiled) ====")
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        stats.sort_stats("tottime").print_stats(top)
