"""What `tick_to_trade.py` measures, in one process and one runtime.

Import only once the runtime is chosen (after ``use_gevent()`` for gevent).

The pipeline is the trading tree's hot path with the real actors: an injecting feed
(the real `_Feed` routing and decoder) -> `BookActor` (real `DepthSync`) ->
`StrategyActor` running a trigger strategy (behind the conflating book mailbox the
trading system gives it) -> `RiskActor` -> `OrderManagerActor` ->
gateway. The gateway is either the real `Gateway` (with the simulator's adapter) writing
to a loopback websocket of a simulated exchange running in *another process* (so the
venue does not share our GIL), or a sink gateway that encodes the same order frame and
writes it to an in-process sink. A frame's clock starts just before it is told to the feed; it stops
when the gateway's ``send`` of the order frame returned.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import msgspec
from hdrh.histogram import HdrHistogram

from tradeactors.actors.book import BookActor
from tradeactors.actors.feed import _Feed, book_name
from tradeactors.actors.gate import TradingGate
from tradeactors.actors.gateway import ConnectionLinks, Gateway
from tradeactors.actors.order_manager import OrderManagerActor, OrderStore
from tradeactors.actors.risk import RiskActor
from tradeactors.actors.strategy import StrategyActor, book_mailbox
from tradeactors.clock import SystemClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import (
    GetOrders,
    LastExecutionId,
    PlaceOrder,
    Reconciliation,
    Side,
    TimeInForce,
)
from tradeactors.core.risk import RiskLimits
from tradeactors.strategy.api import Strategy
from tradeactors.supervision import ChildSpec, SupervisedActor, Supervisor, SupervisorSpec
from tradeactors.supervision import Strategy as Restarts
from tradeactors.venues.adapter import Credentials, Request
from tradeactors.venues.capture import Frame
from tradeactors.venues.sim import SimOrderEntry
from tradeactors.venues.synthetic import synthetic_binance

INSTRUMENT = Instrument(venue="sim", symbol="BTCUSDT", tick_size="0.01", lot_size="0.001")
VENUE = "sim"
SECRET = "bench-secret-" + "b" * 24
WAIT = 30.0


class Recorder:
    """Where the clocks start and stop (shared by the host and the actors).

    A book whose update id is a multiple of ``every`` is a *trigger*. Under the
    conflating book mailbox a strategy may see only a later book than a trigger (the
    trigger's view was replaced while queued); its order then answers every trigger it
    covers, and each of them is timed to that order.
    """

    def __init__(self, every: int = 1) -> None:
        self.every = every
        self.started: dict[int, int] = {}  # trigger update id -> ns
        self.pending: deque[int] = deque()  # triggers told, not yet answered (in order)
        self.submitted: deque[list[int]] = deque()  # per order submitted, in order
        self.trigger: dict[str, list[int]] = {}  # client order id -> triggers it answers
        self.written: dict[str, int] = {}  # client order id -> ns
        self.event = threading.Event()
        self.answered_upto = 0
        self.target = 0

    def start(self, update_id: int) -> None:
        self.started[update_id] = time.perf_counter_ns()
        self.pending.append(update_id)

    def covered(self, update_id: int) -> list[int]:
        """The triggers a book with ``update_id`` answers (taken off `pending`)."""
        pending, out = self.pending, []
        while pending and pending[0] <= update_id:
            out.append(pending.popleft())
        return out

    def wrote(self, client_order_id: str) -> None:
        self.written[client_order_id] = time.perf_counter_ns()
        # orders reach the gateway in the order the strategy submitted them
        covered = self.submitted.popleft()
        self.trigger[client_order_id] = covered
        self.answered_upto = max(self.answered_upto, covered[-1])
        if self.answered_upto >= self.target:
            self.event.set()


class InjectFeed(_Feed):
    """A feed whose source is the host: every `Frame` told to it is routed as received."""

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Frame):
            self._route(message)
        return None


class Trigger(Strategy):
    """Answers every N-th book (update id a multiple of N) with an IOC buy far under."""

    name = "trigger"

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._every = recorder.every

    def on_book(self, ctx: Any, view: Any) -> None:
        covered = self._recorder.covered(view.update_id)  # only frames the host timed
        if covered:
            # queued before submitting: the gateway may write it before submit returns
            self._recorder.submitted.append(covered)
            ctx.submit(side=Side.BUY, price=1, quantity=1, tif=TimeInForce.IOC)


class TimedGateway(Gateway):
    """The real gateway, stopping the clock when an order frame has been written."""

    recorder: Recorder

    def _write(self, request: Request, order_ref: str, fields: dict[str, Any]) -> None:
        super()._write(request, order_ref, fields)
        if request is Request.PLACE:
            self.recorder.wrote(order_ref)


class SinkGateway(SupervisedActor):
    """Encodes the order frame as the simulator's adapter does; writes it to an in-process sink."""

    def __init__(self, om_path: str, recorder: Recorder) -> None:
        super().__init__()
        self._om_path = om_path
        self._recorder = recorder
        self._sink = bytearray()
        self._encode = msgspec.json.Encoder().encode
        self._ids = 0

    def on_start(self) -> None:
        om = self.context.address_of(self._om_path)
        om.ask(LastExecutionId(venue=VENUE), timeout=WAIT)
        om.ask(Reconciliation(venue=VENUE, open_orders=(), fills=()), timeout=WAIT)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, PlaceOrder):
            order = message.order
            self._ids += 1
            frame = self._encode(
                {
                    "op": "place",
                    "id": self._ids,
                    "client_order_id": order.client_order_id,
                    "side": str(order.side),
                    "price": INSTRUMENT.format_price(order.price),
                    "quantity": INSTRUMENT.format_size(order.quantity),
                    "type": "limit",
                    "tif": str(order.tif),
                    "post_only": order.post_only,
                }
            )
            self._sink += frame
            if len(self._sink) > 1 << 20:
                del self._sink[:]
            self._recorder.wrote(order.client_order_id)
        return None


def start_exchange() -> tuple[subprocess.Popen[str], str]:
    """A simulated exchange in its own process; returns it and its order-entry URL."""
    code = (
        "import sys, threading\n"
        "from tradeactors.clock import SystemClock\n"
        "from tradeactors.core.instrument import Instrument\n"
        "from tradeactors.exchange.server import SimExchange\n"
        "from tradeactors.observability import configure_logging\n"
        "configure_logging(level='error')\n"
        "i = Instrument(venue='sim', symbol='BTCUSDT', tick_size='0.01', lot_size='0.001')\n"
        f"x = SimExchange(i, SystemClock(), keys={{'demo': {SECRET!r}}}, rate_per_second=1e9)"
        ".start()\n"
        "print(x.trade_url, flush=True)\n"
        "sys.stdin.read()\n"
        "x.close()\n"
    )
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None  # noqa: S101
    url = process.stdout.readline().strip()
    if not url.startswith("ws://"):
        process.kill()
        raise RuntimeError(f"the exchange did not start: {url!r}")
    return process, url


def build_tree(
    sink: str, recorder: Recorder, trade_url: str | None, *, instrument: bool = True
) -> Supervisor:
    gate = TradingGate(SystemClock())
    om = "execution/order_manager"
    gateway = "execution/gateway"
    if sink == "loopback":
        assert trade_url is not None  # noqa: S101
        TimedGateway.recorder = recorder
        gateway_spec = ChildSpec(
            name="gateway",
            actor=TimedGateway,
            kwargs={
                "venue": VENUE, "url": trade_url,
                "order_entry": SimOrderEntry(VENUE, INSTRUMENT),
                "credentials": Credentials("demo", SECRET), "order_manager_path": om,
                "gate": gate, "links": ConnectionLinks(),
                "cancel_all_after": 0, "rate_per_second": 1e9, "burst": 1_000_000,
            },
        )  # fmt: skip
    else:
        gateway_spec = ChildSpec(name="gateway", actor=SinkGateway, args=(om, recorder))
    spec = SupervisorSpec(
        name="t2t",
        children=(
            SupervisorSpec(
                name="execution",
                strategy=Restarts.REST_FOR_ONE,
                children=(
                    ChildSpec(
                        name="order_manager",
                        actor=OrderManagerActor,
                        args=(OrderStore(), {VENUE: gateway}, "risk", gate),
                    ),
                    gateway_spec,
                ),
            ),
            ChildSpec(
                name="risk",
                actor=RiskActor,
                args=(RiskLimits(), om, gate),
                # as the trading system gives it (the venue filters are checked from it)
                kwargs={"instruments": {INSTRUMENT.symbol: INSTRUMENT}},
            ),
            ChildSpec(
                name="strategy",
                actor=StrategyActor,
                args=(lambda: Trigger(recorder), VENUE, INSTRUMENT.symbol, "risk", om),
                mailbox=book_mailbox(),  # conflating, as in the trading system's tree
            ),
            SupervisorSpec(
                name="market_data",
                strategy=Restarts.REST_FOR_ONE,
                children=(
                    ChildSpec(
                        name="feed",
                        actor=InjectFeed,
                        args=("binance",),
                        kwargs={"symbols": (INSTRUMENT.symbol,), "books_path": "market_data"},
                    ),
                    ChildSpec(
                        name=book_name(INSTRUMENT.symbol),
                        actor=BookActor,
                        args=("binance", INSTRUMENT, "market_data/feed"),
                        kwargs={"subscribers": ("strategy",)},
                    ),
                ),
            ),
        ),
    )
    return Supervisor(spec, instrument=instrument).start(timeout=WAIT)


def _frames(
    count: int, instrument: Instrument = INSTRUMENT, seed: int = 5
) -> tuple[Frame, list[tuple[int, Frame]]]:
    """A snapshot and ``count`` depth diffs of ``instrument``, each with its update id."""
    frames = synthetic_binance(instrument, seed=seed, diffs=count)
    snapshot = frames[0]
    diffs = []
    for frame in frames[1:]:
        if '"depthUpdate"' in frame.payload:
            update = json.loads(frame.payload)["data"]["u"]
            diffs.append((update, frame))
    return snapshot, diffs


def _histogram(values_ns: list[int]) -> dict[str, float]:
    histogram = HdrHistogram(1, 10_000_000_000, 3)
    for value in values_ns:
        histogram.record_value(max(1, value))
    return {
        "count": len(values_ns),
        "p50_us": histogram.get_value_at_percentile(50) / 1e3,
        "p99_us": histogram.get_value_at_percentile(99) / 1e3,
        "p999_us": histogram.get_value_at_percentile(99.9) / 1e3,
        "max_us": histogram.get_max_value() / 1e3,
    }


def _wait_venue_up(tree: Supervisor) -> None:
    """Until the order manager has the venue up (the real gateway connects after its start).

    Orders sent before are denied ``venue_down`` and the pipeline would stall on them.
    """
    om = tree.address("execution/order_manager")
    deadline = time.monotonic() + WAIT
    while not om.ask(GetOrders(with_orders=False), timeout=WAIT).venues.get(VENUE):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the venue was not up within {WAIT} s")
        time.sleep(0.005)  # the bench's host, not a test: a short poll of the connection


def measure_pipeline(
    sink: str, *, messages: int, burst: int, burst_every: int, trade_url: str | None
) -> dict[str, Any]:
    """Tick-to-trade through the tree: one in flight, then bursts."""
    modes = [("one_in_flight", 1, 1), (f"burst_{burst}_every_{burst_every}", burst_every, burst)]
    out = {}
    for mode, every, in_flight in modes:
        recorder = Recorder(every)
        tree = build_tree(sink, recorder, trade_url)
        try:
            _wait_venue_up(tree)
            feed = tree.address("market_data/feed")
            book = tree.address(f"market_data/{book_name(INSTRUMENT.symbol)}")
            snapshot, diffs = _frames(messages * 2 + 200)
            feed.tell(snapshot)
            book.ask("sync", timeout=WAIT)
            if in_flight == 1:
                warmup, diffs = diffs[:100], diffs[100:]
                out[mode] = _run(
                    recorder, feed, warmup + diffs[:messages], in_flight=1, skip=len(warmup)
                )
            else:  # every `every`-th book triggers; `in_flight` frames back to back
                out[mode] = _run(recorder, feed, diffs[: messages * 2], in_flight=in_flight, skip=0)
        finally:
            tree.stop()
    return out


def _run(
    recorder: Recorder, feed: Any, diffs: list[tuple[int, Frame]], *, in_flight: int, skip: int
) -> dict[str, float]:
    """Tell ``in_flight`` frames back to back, wait for their orders, repeat.

    One latency per trigger frame (to the order that answered it); ``orders`` is how
    many orders answered them (fewer than the triggers when books were conflated).
    """
    _drive(recorder, feed, diffs, in_flight=in_flight)
    return _results(recorder, {u for u, _f in diffs[:skip]})


def _drive(
    recorder: Recorder, feed: Any, diffs: list[tuple[int, Frame]], *, in_flight: int
) -> None:
    gc.collect()
    gc.disable()
    every = recorder.every
    try:
        for start in range(0, len(diffs), in_flight):
            chunk = diffs[start : start + in_flight]
            triggers = [update for update, _frame in chunk if update % every == 0]
            if triggers:
                recorder.target = triggers[-1]
            recorder.event.clear()
            for update, frame in chunk:
                if update % every == 0:
                    recorder.start(update)
                feed.tell(frame)
            if triggers and not recorder.event.wait(WAIT):
                raise RuntimeError("the pipeline stalled")
    finally:
        gc.enable()


def _results(recorder: Recorder, skipped_updates: set[int]) -> dict[str, float]:
    latencies = []
    orders = 0
    for client_order_id, covered in recorder.trigger.items():
        answered = [u for u in covered if u not in skipped_updates]
        orders += bool(answered)
        latencies += [recorder.written[client_order_id] - recorder.started[u] for u in answered]
    return {**_histogram(latencies), "orders": orders}


def measure_instrumentation(messages: int, blocks: int = 10) -> dict[str, Any]:
    """One in flight, in-process, through two trees alive at once: one instrumented,
    one built with ``instrument=False``, driven in alternating blocks so that the
    machine's drift hits both alike."""
    sides: dict[bool, tuple[Supervisor, Recorder, Any, list[tuple[int, Frame]], set[int]]] = {}
    try:
        for instrument in (True, False):
            recorder = Recorder()
            tree = build_tree("inproc", recorder, None, instrument=instrument)
            feed = tree.address("market_data/feed")
            snapshot, diffs = _frames(messages * 2 + 200)
            feed.tell(snapshot)
            tree.address(f"market_data/{book_name(INSTRUMENT.symbol)}").ask("sync", timeout=WAIT)
            _drive(recorder, feed, diffs[:100], in_flight=1)
            sides[instrument] = (tree, recorder, feed, diffs[100:], {u for u, _ in diffs[:100]})
        per_block = max(1, messages // blocks)
        for block in range(blocks):
            for instrument in (True, False) if block % 2 == 0 else (False, True):
                _tree, recorder, feed, diffs, _skip = sides[instrument]
                chunk = diffs[block * per_block : (block + 1) * per_block]
                _drive(recorder, feed, chunk, in_flight=1)
        return {
            "instrumented" if instrument else "uninstrumented": _results(recorder, skip)
            for instrument, (_tree, recorder, _feed, _diffs, skip) in sides.items()
        }
    finally:
        for tree, *_rest in sides.values():
            tree.stop()


def measure_baselines(messages: int) -> dict[str, Any]:
    """One message at a time through 6 bare pykka actors / 6 raw queues (and supervised)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import supervision_workloads as chains  # noqa: PLC0415 - after the runtime is chosen

    out = {}
    for name in ("pykka", "queue", "supervised", "uninstrumented"):
        chain = chains.FACTORIES[name]()
        try:
            chains._one_at_a_time(chain, 200)
            samples = chains._one_at_a_time(chain, messages)
        finally:
            chain.close()
        out[name] = _histogram([int(s * 1e3) for s in samples])
    return out


def child_main(runtime: str, *, pin: bool, messages: int, burst: int, burst_every: int) -> None:
    if pin:
        os.sched_setaffinity(0, {0})
    process, url = start_exchange()
    try:
        results = {
            "runtime": runtime,
            "pinned": pin,
            "inproc": measure_pipeline(
                "inproc", messages=messages, burst=burst, burst_every=burst_every, trade_url=None
            ),
            "loopback": measure_pipeline(
                "loopback", messages=messages, burst=burst, burst_every=burst_every, trade_url=url
            ),
            "instrumentation": measure_instrumentation(messages),
            "baselines": measure_baselines(messages),
        }
    finally:
        assert process.stdin is not None  # noqa: S101
        process.stdin.close()
        process.wait(10)
    print(json.dumps(results))
