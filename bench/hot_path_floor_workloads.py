"""What `hot_path_floor.py` measures, in one process and one runtime.

Import only once the runtime is chosen (after ``use_gevent()`` for gevent).

The tick-to-trade workload of `tick_to_trade_workloads.py` (its frames, its trigger
strategy, its tree's six actors built with the same arguments), measured at four levels:

- *cores*: in one thread, no actors, the cores the handlers call, in sequence (the
  feed's decode, the book sync's ``on_event``, the 10-level view, the trigger's
  ``on_book`` with the real live `StrategyContext`, `RiskEngine.check` of the
  `OrderRequest` the risk actor builds, `ExecutionCore.place`, the sink gateway's
  encode), each stage timed, and the whole sequence timed end to end in a run of its own;
- *handlers*: the six actors' own ``on_receive`` called directly, one after the other
  (what each tells goes to a list, handed to the next by the host), staged and end to end;
- *cores over 6 raw queues*: the cores' stages in six threads (greenlets under gevent)
  joined by the raw queues of the baseline: the pipeline if actors cost what raw queues do;
- *pipeline*: the real tree of `tick_to_trade_workloads.build_tree` (in-process sink), with
  each actor's handler and mailbox-wait means from the tree's own statistics.

Baselines (`supervision_workloads`, as `tick_to_trade_workloads.measure_baselines` measures
them): one message at a time through 6 raw queues and 6 supervised actors.

Every variant has its own actors (its own book in sync) and reads the same frames; the
variants run in interleaved blocks, so the machine's drift hits all alike.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))

import supervision_workloads as chains
import tick_to_trade_workloads as t2t
from tick_to_trade_workloads import INSTRUMENT, VENUE, InjectFeed, Recorder, SinkGateway, Trigger
from tradeactors.actors.book import BookActor
from tradeactors.actors.feed import book_name
from tradeactors.actors.gate import TradingGate
from tradeactors.actors.order_manager import OrderManagerActor, OrderStore
from tradeactors.actors.risk import RiskActor, _request
from tradeactors.actors.strategy import StrategyActor
from tradeactors.clock import SystemClock
from tradeactors.core.messages import MarketDataKind, PlaceOrder
from tradeactors.core.risk import RiskLimits
from tradeactors.supervision._actor import ActorContext
from tradeactors.venues.adapter import BookOutcome

FEED = "market_data/feed"
BOOK = f"market_data/{book_name(INSTRUMENT.symbol)}"
STRATEGY = "strategy"
RISK = "risk"
OM = "execution/order_manager"
GATEWAY = "execution/gateway"
PATHS = (FEED, BOOK, STRATEGY, RISK, OM, GATEWAY)
"""The pipeline's actors, in the order a frame crosses them."""

CORE_STAGES = ("decode", "book", "view", "strategy", "risk", "order_manager", "gateway")
HANDLER_STAGES = ("feed", "book", "strategy", "risk", "order_manager", "gateway")
_APPLIED = BookOutcome.APPLIED
_BOOK = MarketDataKind.BOOK
_SINK_LIMIT = 1 << 20
_STOP = object()


# -- the six actors without a tree ------------------------------------------------------------


class _Address:
    """Stands in for a tree address: ``tell`` puts ``(path, message)`` on the harness's outbox.

    ``tell`` is an attribute, so a variant can point it elsewhere (a raw queue).
    """

    __slots__ = ("_harness", "path", "tell")

    def __init__(self, harness: Harness, path: str) -> None:
        self._harness = harness
        self.path = path
        outbox = harness.outbox
        self.tell: Any = lambda message: outbox.append((path, message))

    def ask(self, message: Any, *, timeout: float) -> Any:  # noqa: ARG002 - answered at once
        reply = self._harness.actors[self.path].on_receive(message)
        self._harness.drain()
        return reply

    def is_closed(self) -> bool:
        return False


class _Cell:
    """What `ActorContext` reads of an actor cell: path, address, logger, clock, resolve."""

    __slots__ = ("_harness", "address", "clock", "log", "path")

    def __init__(self, harness: Harness, path: str) -> None:
        self._harness = harness
        self.path = path
        self.address = harness.address(path)
        self.clock = harness.clock
        self.log = structlog.get_logger("tradeactors.actor").bind(path=path)

    def resolve(self, path: str) -> _Address:
        return self._harness.address(path)


class Harness:
    """The six actors of `t2t.build_tree`'s tree, with the same arguments, started in the
    tree's order, each with a real `ActorContext` on a stand-in cell: no thread, no
    mailbox, no statistics; ``drain`` hands what they tell to the actor it is for.
    """

    def __init__(self, recorder: Recorder) -> None:
        self.clock = SystemClock()
        self.outbox: deque[tuple[str, Any]] = deque()
        self.addresses: dict[str, _Address] = {}
        self.actors: dict[str, Any] = {}
        gate = TradingGate(self.clock)
        specs: list[tuple[str, type, tuple[Any, ...], dict[str, Any]]] = [
            (OM, OrderManagerActor, (OrderStore(), {VENUE: GATEWAY}, RISK, gate), {}),
            (GATEWAY, SinkGateway, (OM, recorder), {}),
            (RISK, RiskActor, (RiskLimits(), OM, gate),
             {"instruments": {INSTRUMENT.symbol: INSTRUMENT}}),
            (STRATEGY, StrategyActor,
             (lambda: Trigger(recorder), VENUE, INSTRUMENT.symbol, RISK, OM), {}),
            (FEED, InjectFeed, ("binance",),
             {"symbols": (INSTRUMENT.symbol,), "books_path": "market_data"}),
            (BOOK, BookActor, ("binance", INSTRUMENT, FEED), {"subscribers": (STRATEGY,)}),
        ]  # fmt: skip
        for path, cls, args, kwargs in specs:
            actor = cls.__new__(cls)
            actor._ta_context = ActorContext(_Cell(self, path), 1)  # type: ignore[arg-type]
            actor.__init__(*args, **kwargs)
            self.actors[path] = actor
        for actor in self.actors.values():
            actor.on_start()
            self.drain()
        if not (self.actors[RISK]._rebuilt and self.actors[OM]._core.up.get(VENUE)):
            raise RuntimeError("the harness's risk or order manager did not start")

    def address(self, path: str) -> _Address:
        address = self.addresses.get(path)
        if address is None:
            address = self.addresses[path] = _Address(self, path)
        return address

    def drain(self) -> None:
        """Deliver what the actors told, in order, until nothing is left."""
        outbox, actors = self.outbox, self.actors
        while outbox:
            path, message = outbox.popleft()
            actors[path].on_receive(message)

    def sync(self, recorder: Recorder, snapshot: Any, warmup: list[tuple[int, Any]]) -> None:
        """Give the book its snapshot, then ``warmup`` diffs, each a trigger (an order)."""
        feed = self.actors[FEED]
        feed.on_receive(snapshot)
        self.drain()
        for update, frame in warmup:
            recorder.start(update)
            feed.on_receive(frame)
            self.drain()
        if not self.actors[BOOK]._sync.synced:
            raise RuntimeError("the harness's book did not sync")


# -- level 1: the cores in a loop -------------------------------------------------------------


class _Cores:
    """The cores the pipeline's handlers call, taken from a harness's actors."""

    def __init__(self, harness: Harness) -> None:
        actors = harness.actors
        self.decode = actors[FEED]._market_data.decode
        self.sync = actors[BOOK]._sync
        self.depth = actors[BOOK]._depth
        strategy = actors[STRATEGY]
        self.ctx = strategy._ctx  # the real live StrategyContext
        self.trigger = strategy.strategy
        risk = actors[RISK]
        self.engine = risk._engine
        scope = risk._scope_of(STRATEGY)
        self.strategy_name = None if scope is None else scope[0]
        self.core = actors[OM]._core
        self.encode = actors[GATEWAY]._encode
        self.time_ns = harness.clock.time_ns
        self.outbox = harness.outbox


def cores_staged(
    cores: _Cores, recorder: Recorder, frames: list[tuple[int, Any]], ids: int
) -> tuple[dict[str, list[int]], int]:
    """Each core stage timed, frame by frame; returns ns per stage and the gateway's ids.

    The gateway stage reproduces `SinkGateway.on_receive`'s encode and sink append
    (without `Recorder.wrote`, where the pipeline's clock stops).
    """
    decode, sync, depth, time_ns = cores.decode, cores.sync, cores.depth, cores.time_ns
    book = sync.book
    ctx, trigger, outbox = cores.ctx, cores.trigger, cores.outbox
    engine, strategy_name, core, encode = (
        cores.engine,
        cores.strategy_name,
        cores.core,
        cores.encode,
    )
    fmt_price, fmt_size = INSTRUMENT.format_price, INSTRUMENT.format_size
    sink = bytearray()
    out: dict[str, list[int]] = {stage: [] for stage in CORE_STAGES}
    decode_ns, book_ns, view_ns = out["decode"], out["book"], out["view"]
    strategy_ns, risk_ns, om_ns, gateway_ns = (
        out["strategy"], out["risk"], out["order_manager"], out["gateway"]
    )  # fmt: skip
    clock = time.perf_counter_ns
    data: Any = None
    for update, frame in frames:
        recorder.start(update)
        t0 = clock()
        for event in decode(frame):  # the feed's routing test
            if event.kind is _BOOK:
                data = event.data
        t1 = clock()
        outcome = sync.on_event(data)
        t2 = clock()
        view = book.view(depth, time_ns())
        t3 = clock()
        trigger.on_book(ctx, view)  # ctx.submit: ids, OpenOrder, SubmitOrder, the tell
        t4 = clock()
        _path, order = outbox.pop()
        t5 = clock()
        reason = engine.check(_request(order, time_ns(), strategy_name))
        t6 = clock()
        placed = core.place(order)
        t7 = clock()
        sent = placed[1].order  # type: ignore[index]
        ids += 1
        sink += encode(
            {
                "op": "place",
                "id": ids,
                "client_order_id": sent.client_order_id,
                "side": str(sent.side),
                "price": fmt_price(sent.price),
                "quantity": fmt_size(sent.quantity),
                "type": "limit",
                "tif": str(sent.tif),
                "post_only": sent.post_only,
            }
        )
        if len(sink) > _SINK_LIMIT:
            del sink[:]
        t8 = clock()
        recorder.wrote(sent.client_order_id)
        if outcome is not _APPLIED or reason is not None:
            raise RuntimeError(f"the floor's book or risk refused: {outcome}, {reason}")
        decode_ns.append(t1 - t0)
        book_ns.append(t2 - t1)
        view_ns.append(t3 - t2)
        strategy_ns.append(t4 - t3)
        risk_ns.append(t6 - t5)
        om_ns.append(t7 - t6)
        gateway_ns.append(t8 - t7)
    return out, ids


def cores_end_to_end(
    cores: _Cores, recorder: Recorder, frames: list[tuple[int, Any]], ids: int
) -> tuple[list[int], int]:
    """The same sequence as `cores_staged`, timed once per frame (no clock between stages)."""
    decode, sync, depth, time_ns = cores.decode, cores.sync, cores.depth, cores.time_ns
    book = sync.book
    ctx, trigger, outbox = cores.ctx, cores.trigger, cores.outbox
    engine, strategy_name, core, encode = (
        cores.engine,
        cores.strategy_name,
        cores.core,
        cores.encode,
    )
    fmt_price, fmt_size = INSTRUMENT.format_price, INSTRUMENT.format_size
    sink = bytearray()
    out: list[int] = []
    clock = time.perf_counter_ns
    data: Any = None
    for update, frame in frames:
        recorder.start(update)
        t0 = clock()
        for event in decode(frame):
            if event.kind is _BOOK:
                data = event.data
        outcome = sync.on_event(data)
        view = book.view(depth, time_ns())
        trigger.on_book(ctx, view)
        _path, order = outbox.pop()
        reason = engine.check(_request(order, time_ns(), strategy_name))
        sent = core.place(order)[1].order  # type: ignore[index]
        ids += 1
        sink += encode(
            {
                "op": "place",
                "id": ids,
                "client_order_id": sent.client_order_id,
                "side": str(sent.side),
                "price": fmt_price(sent.price),
                "quantity": fmt_size(sent.quantity),
                "type": "limit",
                "tif": str(sent.tif),
                "post_only": sent.post_only,
            }
        )
        if len(sink) > _SINK_LIMIT:
            del sink[:]
        t1 = clock()
        recorder.wrote(sent.client_order_id)
        if outcome is not _APPLIED or reason is not None:
            raise RuntimeError(f"the floor's book or risk refused: {outcome}, {reason}")
        out.append(t1 - t0)
    return out, ids


# -- level 2: the handlers called directly ----------------------------------------------------


def handlers_staged(
    harness: Harness, recorder: Recorder, frames: list[tuple[int, Any]]
) -> dict[str, list[int]]:
    """Each actor's ``on_receive`` timed, frame by frame, called by the host in turn."""
    actors, outbox = harness.actors, harness.outbox
    receives = [actors[path].on_receive for path in PATHS]
    out: dict[str, list[int]] = {stage: [] for stage in HANDLER_STAGES}
    columns = [out[stage] for stage in HANDLER_STAGES]
    clock = time.perf_counter_ns
    for update, frame in frames:
        recorder.start(update)
        message = frame
        for index, receive in enumerate(receives):
            t0 = clock()
            receive(message)
            t1 = clock()
            columns[index].append(t1 - t0)
            if index < len(PATHS) - 1:
                path, message = outbox.popleft()
                if path != PATHS[index + 1] or outbox:
                    raise RuntimeError(f"{PATHS[index]} told {path} (or more than one message)")
        if outbox:
            raise RuntimeError(f"the gateway told something: {outbox[0]}")
    return out


def handlers_end_to_end(
    harness: Harness, recorder: Recorder, frames: list[tuple[int, Any]]
) -> list[int]:
    """The six handlers per frame, timed once: the host hands each tell to its actor."""
    actors, outbox = harness.actors, harness.outbox
    feed = actors[FEED].on_receive
    out: list[int] = []
    clock = time.perf_counter_ns
    for update, frame in frames:
        recorder.start(update)
        t0 = clock()
        feed(frame)
        while outbox:
            path, message = outbox.popleft()
            actors[path].on_receive(message)
        t1 = clock()
        out.append(t1 - t0)
    return out


# -- level 3: the cores over six raw queues ---------------------------------------------------


class QueuedCores:
    """The core stages in six threads (greenlets under gevent) joined by raw queues.

    The queues are the raw-queue baseline's (`supervision_workloads.Queue`: gevent's under
    gevent), one thread a stage as in its `QueueChain`; each stage does its actor's core
    work (as in `cores_end_to_end`) before putting on the next queue. The trigger's live
    context tells its orders to risk's queue directly.
    """

    def __init__(self, harness: Harness, recorder: Recorder, *, split: bool = True) -> None:  # noqa: C901 - six closures
        self.probe = chains.Probe()
        self.error: BaseException | None = None
        self.recorder = recorder
        self.split = split
        cores = _Cores(harness)
        queues = [chains.Queue() for _ in PATHS]
        put = [q.put for q in queues]
        if not split:
            self._start(queues, self._one_stage(cores, recorder, put))
            return
        harness.address(RISK).tell = queues[3].put  # the live context's tell to risk
        decode, sync, depth, time_ns = cores.decode, cores.sync, cores.depth, cores.time_ns
        book = sync.book
        ctx, trigger = cores.ctx, cores.trigger
        engine, strategy_name, core, encode = (
            cores.engine, cores.strategy_name, cores.core, cores.encode
        )  # fmt: skip
        fmt_price, fmt_size = INSTRUMENT.format_price, INSTRUMENT.format_size
        sink = bytearray()
        ids = [0]
        hit = self.probe.hit

        def feed(frame: Any) -> None:
            for event in decode(frame):
                if event.kind is _BOOK:
                    put[1](event.data)

        def book_stage(data: Any) -> None:
            outcome = sync.on_event(data)
            if outcome is not _APPLIED:
                raise RuntimeError(f"the book refused a diff: {outcome}")
            put[2](book.view(depth, time_ns()))

        def strategy(view: Any) -> None:
            trigger.on_book(ctx, view)

        def risk(order: Any) -> None:
            reason = engine.check(_request(order, time_ns(), strategy_name))
            if reason is not None:
                raise RuntimeError(f"risk denied: {reason}")
            put[4](order)

        def order_manager(order: Any) -> None:
            put[5](core.place(order)[1])  # type: ignore[index]

        def gateway(message: PlaceOrder) -> None:
            sent = message.order
            ids[0] += 1
            sink.extend(
                encode(
                    {
                        "op": "place",
                        "id": ids[0],
                        "client_order_id": sent.client_order_id,
                        "side": str(sent.side),
                        "price": fmt_price(sent.price),
                        "quantity": fmt_size(sent.quantity),
                        "type": "limit",
                        "tif": str(sent.tif),
                        "post_only": sent.post_only,
                    }
                )
            )
            if len(sink) > _SINK_LIMIT:
                del sink[:]
            hit()

        self._start(queues, (feed, book_stage, strategy, risk, order_manager, gateway))

    def _one_stage(self, cores: _Cores, recorder: Recorder, put: list[Any]) -> tuple[Any, ...]:
        """The control: all the work in the first stage (`cores_end_to_end` on the frame,
        its own clock reads and `Recorder` calls included), the other five forwarding."""
        ids = [0]
        hit = self.probe.hit

        def all_work(item: tuple[int, Any]) -> None:
            ids[0] = cores_end_to_end(cores, recorder, [item], ids[0])[1]
            put[1](item)

        # stage i > 0 forwards what it gets to queue i + 1; the last one counts it
        return (all_work, put[2], put[3], put[4], put[5], lambda _item: hit())

    def _start(self, queues: list[Any], works: tuple[Any, ...]) -> None:
        self._queues = queues
        self._threads = [
            threading.Thread(
                target=self._stage,
                args=(queues[i], work, queues[i + 1] if i + 1 < len(queues) else None),
                name=f"floor-stage-{i}",
                daemon=True,
            )
            for i, work in enumerate(works)
        ]
        for thread in self._threads:
            thread.start()

    def _stage(self, inbox: Any, work: Any, following: Any) -> None:
        get = inbox.get
        while True:
            item = get()
            if item is _STOP:
                if following is not None:
                    following.put(_STOP)
                return
            try:
                work(item)
            except Exception as exc:  # noqa: BLE001 - reported to the host, which raises it
                self.error = exc
                self.probe.done.set()

    def run(self, frames: list[tuple[int, Any]]) -> list[int]:
        """One frame at a time, as `supervision_workloads._one_at_a_time` sends its messages."""
        probe, recorder = self.probe, self.recorder
        send = self._queues[0].put
        clock = time.perf_counter_ns
        out = []
        split = self.split
        for update, frame in frames:
            probe.arm(1)
            if split:  # (the one-stage control starts it in its stage)
                recorder.start(update)
                message: Any = frame
            else:
                message = (update, frame)
            t0 = clock()
            send(message)
            probe.wait()
            t1 = clock()
            if self.error is not None:
                raise RuntimeError("a floor stage failed") from self.error
            recorder.submitted.clear()
            out.append(t1 - t0)
        return out

    def close(self) -> None:
        self._queues[0].put(_STOP)
        for thread in self._threads:
            thread.join(chains.WAIT_TIMEOUT)


# -- the child --------------------------------------------------------------------------------


def _summary(values_ns: list[int]) -> dict[str, float]:
    return {**t2t._histogram(values_ns), "mean_us": statistics.fmean(values_ns) / 1e3}


def _stages(columns: dict[str, list[int]], block: int) -> dict[str, dict[str, float]]:
    """Per stage: mean and median over every frame, and the median of the means of each
    ``block`` frames (robust to a block that another process on the machine disturbed;
    the pipeline's handler figures are given the same way)."""
    out = {}
    for stage, values in columns.items():
        means = [statistics.fmean(values[i : i + block]) for i in range(0, len(values), block)]
        out[stage] = {
            "mean_us": statistics.fmean(values) / 1e3,
            "median_us": statistics.median(values) / 1e3,
            "block_mean_us": statistics.median(means) / 1e3,
        }
    return out


class _Pipeline:
    """The real tree; its latencies and its actors' handler and wait sums, per block."""

    def __init__(self, snapshot: Any, warmup: list[tuple[int, Any]]) -> None:
        self.recorder = Recorder(1)
        self.tree = t2t.build_tree("inproc", self.recorder, None)
        self.feed = self.tree.address(FEED)
        self.feed.tell(snapshot)
        self.tree.address(BOOK).ask("sync", timeout=t2t.WAIT)
        t2t._drive(self.recorder, self.feed, warmup, in_flight=1)
        self.skipped = {update for update, _frame in warmup}
        self.sums = {path: [0, 0, 0, 0] for path in PATHS}  # handler ns, n, wait ns, n
        self.blocks: dict[str, list[tuple[float, float]]] = {path: [] for path in PATHS}

    def run(self, frames: list[tuple[int, Any]]) -> None:
        before = {path: self._read(path) for path in PATHS}
        t2t._drive(self.recorder, self.feed, frames, in_flight=1)
        for path in PATHS:
            delta = [new - old for old, new in zip(before[path], self._read(path), strict=True)]
            self.sums[path] = [total + d for total, d in zip(self.sums[path], delta, strict=True)]
            handler_ns, handled, wait_ns, waited = delta
            self.blocks[path].append((handler_ns / max(1, handled), wait_ns / max(1, waited)))

    def _read(self, path: str) -> tuple[int, int, int, int]:
        stats = self.tree.stats(path)
        handler, wait = stats.handler, stats.wait
        return handler.sum_ns, handler.count, wait.sum_ns, wait.count

    def results(self) -> dict[str, Any]:
        actors = {}
        for path, (handler_ns, handled, wait_ns, waited) in self.sums.items():
            actors[path] = {
                "messages": handled,
                "handler_mean_us": handler_ns / max(1, handled) / 1e3,
                "wait_mean_us": wait_ns / max(1, waited) / 1e3,
                "handler_block_mean_us": statistics.median(b[0] for b in self.blocks[path]) / 1e3,
                "wait_block_mean_us": statistics.median(b[1] for b in self.blocks[path]) / 1e3,
            }
        return {**t2t._results(self.recorder, self.skipped), "actors": actors}

    def close(self) -> None:
        self.tree.stop()


class _Baseline:
    """One message at a time through a `supervision_workloads` chain (µs -> ns, as
    `tick_to_trade_workloads.measure_baselines` converts them)."""

    def __init__(self, name: str) -> None:
        self.chain = chains.FACTORIES[name]()
        chains._one_at_a_time(self.chain, 200)
        self.samples: list[int] = []

    def run(self, count: int) -> None:
        samples = chains._one_at_a_time(self.chain, count)
        self.samples += [int(s * 1e3) for s in samples]

    def results(self) -> dict[str, Any]:
        return _summary(self.samples)

    def close(self) -> None:
        self.chain.close()


def _gc_off(run: Any, *args: Any) -> Any:
    """``run(*args)`` with the collector disabled, as `t2t._drive` runs the pipeline."""
    gc.collect()
    gc.disable()
    try:
        return run(*args)
    finally:
        gc.enable()


def _harness(snapshot: Any, warm: list[tuple[int, Any]]) -> tuple[Harness, Recorder]:
    recorder = Recorder(1)
    built = Harness(recorder)
    built.sync(recorder, snapshot, warm)
    return built, recorder


class _CoresStaged:
    def __init__(self, snapshot: Any, warm: list[tuple[int, Any]]) -> None:
        harness, self.recorder = _harness(snapshot, warm)
        self.cores = _Cores(harness)
        self.ids = 0
        self.columns: dict[str, list[int]] = {stage: [] for stage in CORE_STAGES}
        self.block = 1

    def run(self, chunk: list[tuple[int, Any]]) -> None:
        self.block = len(chunk)
        columns, self.ids = cores_staged(self.cores, self.recorder, chunk, self.ids)
        for stage, values in columns.items():
            self.columns[stage] += values

    def results(self) -> dict[str, Any]:
        stages = _stages(self.columns, self.block)
        return {
            "stages": stages,
            "staged_sum_us": sum(s["median_us"] for s in stages.values()),
        }


class _CoresEndToEnd:
    def __init__(self, snapshot: Any, warm: list[tuple[int, Any]]) -> None:
        harness, self.recorder = _harness(snapshot, warm)
        self.cores = _Cores(harness)
        self.ids = 0
        self.samples: list[int] = []

    def run(self, chunk: list[tuple[int, Any]]) -> None:
        values, self.ids = cores_end_to_end(self.cores, self.recorder, chunk, self.ids)
        self.samples += values

    def results(self) -> dict[str, Any]:
        return _summary(self.samples)


class _HandlersStaged:
    def __init__(self, snapshot: Any, warm: list[tuple[int, Any]]) -> None:
        self.harness, self.recorder = _harness(snapshot, warm)
        self.columns: dict[str, list[int]] = {stage: [] for stage in HANDLER_STAGES}
        self.block = 1

    def run(self, chunk: list[tuple[int, Any]]) -> None:
        self.block = len(chunk)
        for stage, values in handlers_staged(self.harness, self.recorder, chunk).items():
            self.columns[stage] += values

    def results(self) -> dict[str, Any]:
        return {"stages": _stages(self.columns, self.block)}


class _HandlersEndToEnd:
    def __init__(self, snapshot: Any, warm: list[tuple[int, Any]]) -> None:
        self.harness, self.recorder = _harness(snapshot, warm)
        self.samples: list[int] = []

    def run(self, chunk: list[tuple[int, Any]]) -> None:
        self.samples += handlers_end_to_end(self.harness, self.recorder, chunk)

    def results(self) -> dict[str, Any]:
        return _summary(self.samples)


class _Queued:
    split = True

    def __init__(self, snapshot: Any, warm: list[tuple[int, Any]]) -> None:
        harness, recorder = _harness(snapshot, warm)
        self.queued = QueuedCores(harness, recorder, split=self.split)
        self.samples: list[int] = []

    def run(self, chunk: list[tuple[int, Any]]) -> None:
        self.samples += self.queued.run(chunk)

    def results(self) -> dict[str, Any]:
        return _summary(self.samples)

    def close(self) -> None:
        self.queued.close()


class _QueuedOneStage(_Queued):
    split = False


def _measure(
    snapshot: Any, warm: list[tuple[int, Any]], timed: list[tuple[int, Any]], blocks: int
) -> dict[str, Any]:
    """Every variant, in ``blocks`` interleaved blocks (the order rotating); their figures."""
    per_block = len(timed) // blocks
    variants: dict[str, Any] = {}
    try:
        for name, make in (
            ("cores", _CoresStaged),
            ("cores_e2e", _CoresEndToEnd),
            ("handlers", _HandlersStaged),
            ("handlers_e2e", _HandlersEndToEnd),
            ("cores_queued", _Queued),
            ("cores_queued_one_stage", _QueuedOneStage),
            ("pipeline", _Pipeline),
        ):
            variants[name] = make(snapshot, warm)
        variants["queue"] = _Baseline("queue")
        variants["supervised"] = _Baseline("supervised")
        order = list(variants)
        for block in range(blocks):
            chunk = timed[block * per_block : (block + 1) * per_block]
            shift = block % len(order)
            for name in order[shift:] + order[:shift]:
                if name in ("queue", "supervised"):  # as measure_baselines measures them
                    variants[name].run(len(chunk))
                else:
                    _gc_off(variants[name].run, chunk)
                # what exists now is never collected: the next block's collection (before
                # it disables the collector) scans only what was made since
                gc.freeze()
        result = {name: variant.results() for name, variant in variants.items()}
    finally:
        for variant in reversed(variants.values()):
            close = getattr(variant, "close", None)
            if close is not None:
                close()
    result["pipeline_actors"] = result["pipeline"].pop("actors")
    result["baselines"] = {name: result.pop(name) for name in ("queue", "supervised")}
    return result


def child_main(
    runtime: str, *, pin: bool, messages: int, warmup: int, blocks: int
) -> dict[str, Any]:
    """Every level and baseline, interleaved in ``blocks``; the figures as one dict."""
    if pin:
        os.sched_setaffinity(0, {0})
    load_before = os.getloadavg()
    per_block = max(1, messages // blocks)
    snapshot, diffs = t2t._frames(warmup + per_block * blocks)
    warm, timed = diffs[:warmup], diffs[warmup:]
    result: dict[str, Any] = {
        "runtime": runtime,
        "pinned": pin,
        "load_before": load_before,
        "frames": len(timed),
        **_measure(snapshot, warm, timed, blocks),
        "load_after": os.getloadavg(),
    }
    queue = result["baselines"]["queue"]
    q50, q99 = queue["p50_us"], queue["p99_us"]
    result["ratios"] = {
        "floor_p50": (q50 + result["cores_e2e"]["p50_us"]) / q50,
        "floor_p99_sum": (q99 + result["cores_e2e"]["p99_us"]) / q99,
        "handlers_floor_p50": (q50 + result["handlers_e2e"]["p50_us"]) / q50,
        "cores_queued_p50": result["cores_queued"]["p50_us"] / q50,
        "cores_queued_p99": result["cores_queued"]["p99_us"] / q99,
        "cores_queued_one_stage_p50": result["cores_queued_one_stage"]["p50_us"] / q50,
        "pipeline_p50": result["pipeline"]["p50_us"] / q50,
        "pipeline_p99": result["pipeline"]["p99_us"] / q99,
        "supervised_p50": result["baselines"]["supervised"]["p50_us"] / q50,
    }
    return result
