"""What `bus_tick_to_trade.py` measures: one side, in one process and one runtime.

Import only once the runtime is chosen (after ``use_gevent()`` for gevent).

Both sides run the same market (the synthetic Binance depth of
`tick_to_trade_workloads`), the same strategy (`Echo`: every book it sees answered with
an IOC buy whose price, in ticks, is that book's update id) and the same clock: it
starts just before a depth frame is told to the feed actor (the venue has published a
change) and stops when the gateway has written the order frame (the venue's
websocket, or an in-process sink, has the order). Both clocks are read in the *venue
side* process, so no clocks of two processes are compared.

- ``single``: one process, the tree of `tick_to_trade_workloads`: feed -> book ->
  strategy -> risk -> order manager -> gateway.
- ``bus``: the *venue side* (`venue_tree`: feed, book, risk, order manager, gateway,
  and at its edge what the market-data and execution roles put there: the market-data
  `OutboundBridge`, the commands `InboundBridge` -> `CommandIngress` -> risk, a
  heartbeat monitor, an events `OutboundBridge` at the strategy's path) and the
  *strategy host* in another process (`strategy_tree`, as the strategy role builds
  it: `MarketDataSubscriber` -> `MarketDataFanout` -> `BookCache` -> strategy ->
  `RemoteRisk` -> commands `OutboundBridge`, events `InboundBridge` -> strategy, a
  heartbeat). The path of a tick: feed -> book -> XADD -> XREAD -> fanout -> book
  cache -> strategy -> remote risk -> XADD -> XREADGROUP -> ingress -> risk -> order
  manager -> gateway.

The venue side runs market data and execution in one process (two role processes in
`tradeactors cluster`): one Redis hop each way, as there, and one clock.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections import deque
from typing import Any

import msgspec

import tick_to_trade_workloads as t2t
from _child_io import wait_closed
from tradeactors.actors.book import BookActor
from tradeactors.actors.feed import book_name
from tradeactors.actors.gate import TradingGate
from tradeactors.actors.gateway import ConnectionLinks, Gateway
from tradeactors.actors.order_manager import OrderManagerActor, OrderStore
from tradeactors.actors.risk import RiskActor
from tradeactors.actors.strategy import StrategyActor, book_mailbox
from tradeactors.bus import (
    BusSettings,
    HeartbeatMonitor,
    HeartbeatPublisher,
    InboundBridge,
    Kind,
    MarketDataSubscriber,
    OutboundBridge,
    SeenIds,
)
from tradeactors.clock import SystemClock
from tradeactors.core.messages import (
    LastExecutionId,
    PlaceOrder,
    Reconciliation,
    Side,
    TimeInForce,
)
from tradeactors.core.risk import RiskLimits
from tradeactors.strategy.api import Strategy
from tradeactors.supervision import (
    ChildSpec,
    SupervisedActor,
    Supervisor,
    SupervisorSpec,
)
from tradeactors.supervision import Strategy as Restarts
from tradeactors.trading.roles import (
    COMMANDS,
    EVENTS,
    EXECUTION_GROUP,
    INGRESS,
    BookCache,
    CommandIngress,
    HostOwners,
    MarketDataFanout,
    RemoteRisk,
    from_host,
)
from tradeactors.venues.adapter import Credentials, Request
from tradeactors.venues.sim import SimOrderEntry

INSTRUMENT, VENUE, SECRET, WAIT = t2t.INSTRUMENT, t2t.VENUE, t2t.SECRET, t2t.WAIT
BOOK = f"market_data/{book_name(INSTRUMENT.symbol)}"
OM = "execution/order_manager"
STRATEGY = "strategy"
LEASE = 3.0
VENUE_HOST = "venue-side"
STRATEGY_HOST = "strategy-1"


class Recorder:
    """Where the clocks start and stop. Every frame told is a trigger; an order (its
    price is the update id of the book it answers) answers every trigger up to that
    book: under conflation one order answers several, each timed to it."""

    def __init__(self) -> None:
        self.started: dict[int, int] = {}  # update id -> ns
        self.pending: deque[int] = deque()  # told, not yet answered (in order)
        self.latencies: dict[int, int] = {}  # update id -> ns to its order
        self.orders = 0  # orders that answered a timed frame
        self.other_orders = 0  # answering none (the snapshot's book, a repeat)
        self.event = threading.Event()
        self.connected = threading.Event()  # the gateway can take orders
        self.answered_upto = 0
        self.target = 0

    def start(self, update_id: int) -> None:
        self.started[update_id] = time.perf_counter_ns()
        self.pending.append(update_id)

    def wrote(self, update_id: int) -> None:
        now = time.perf_counter_ns()
        pending, answered = self.pending, False
        while pending and pending[0] <= update_id:
            covered = pending.popleft()
            self.latencies[covered] = now - self.started[covered]
            answered = True
        if answered:
            self.orders += 1
        else:
            self.other_orders += 1
        self.answered_upto = max(self.answered_upto, update_id)
        if self.answered_upto >= self.target:
            self.event.set()


class Echo(Strategy):
    """Answers every book it sees with an IOC buy at (update id) ticks: the venue side
    knows which book an order answers without a clock of this process."""

    name = "echo"

    def on_book(self, ctx: Any, view: Any) -> None:
        ctx.submit(side=Side.BUY, price=view.update_id, quantity=1, tif=TimeInForce.IOC)


class TimedGateway(Gateway):
    """The real gateway (simulator adapter), stopping the clock at an order frame written."""

    recorder: Recorder

    def _write(self, request: Request, order_ref: str, fields: dict[str, Any]) -> None:
        super()._write(request, order_ref, fields)
        if request is Request.PLACE:
            self.recorder.wrote(fields["order"].price)

    def _maybe_reconcile(self) -> None:
        super()._maybe_reconcile()
        if not self._reconciling:  # the order manager has been told: the venue is up
            self.recorder.connected.set()


class SinkGateway(SupervisedActor):
    """Encodes the order frame as the simulator's adapter does, into an in-process sink."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self._recorder = recorder
        self._sink = bytearray()
        self._encode = msgspec.json.Encoder().encode
        self._ids = 0

    def on_start(self) -> None:
        om = self.context.address_of(OM)
        om.ask(LastExecutionId(venue=VENUE), timeout=WAIT)
        om.ask(Reconciliation(venue=VENUE, open_orders=(), fills=()), timeout=WAIT)
        self._recorder.connected.set()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, PlaceOrder):
            order = message.order
            self._ids += 1
            self._sink += self._encode(
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
            if len(self._sink) > 1 << 20:
                del self._sink[:]
            self._recorder.wrote(order.price)
        return None


def _execution(sink: str, recorder: Recorder, trade_url: str | None, gate: TradingGate) -> Any:
    gateway = "execution/gateway"
    if sink == "loopback":
        assert trade_url is not None  # noqa: S101
        TimedGateway.recorder = recorder
        gateway_spec = ChildSpec(
            name="gateway",
            actor=TimedGateway,
            kwargs={
                "venue": VENUE,
                "url": trade_url,
                "order_entry": SimOrderEntry(VENUE, INSTRUMENT),
                "credentials": Credentials("demo", SECRET),
                "order_manager_path": OM,
                "gate": gate,
                "links": ConnectionLinks(),
                "cancel_all_after": 0,
                "rate_per_second": 1e9,
                "burst": 1_000_000,
            },
        )
    else:
        gateway_spec = ChildSpec(name="gateway", actor=SinkGateway, args=(recorder,))
    return (
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
            args=(RiskLimits(), OM, gate),
            kwargs={"instruments": {INSTRUMENT.symbol: INSTRUMENT}},
        ),
    )


def _market_data(subscriber: str) -> SupervisorSpec:
    return SupervisorSpec(
        name="market_data",
        strategy=Restarts.REST_FOR_ONE,
        children=(
            ChildSpec(
                name="feed",
                actor=t2t.InjectFeed,
                args=("binance",),
                kwargs={"symbols": (INSTRUMENT.symbol,), "books_path": "market_data"},
            ),
            ChildSpec(
                name=book_name(INSTRUMENT.symbol),
                actor=BookActor,
                args=("binance", INSTRUMENT, "market_data/feed"),
                kwargs={"subscribers": (subscriber,)},
            ),
        ),
    )


def _ignore(_event: Any) -> None:
    """The heartbeat monitor's news: the lease is not what is measured here."""


def venue_tree(
    mode: str, sink: str, recorder: Recorder, trade_url: str | None, url: str | None
) -> Supervisor:
    """``single``: the whole tree; ``bus``: all but the strategy, which is on the bus."""
    gate = TradingGate(SystemClock())
    if mode == "single":
        children: tuple[Any, ...] = (
            *_execution(sink, recorder, trade_url, gate),
            ChildSpec(
                name=STRATEGY,
                actor=StrategyActor,
                args=(Echo, VENUE, INSTRUMENT.symbol, "risk", OM),
                mailbox=book_mailbox(),  # conflating, as in the trading system's tree
            ),
            _market_data(STRATEGY),
        )
    else:
        assert url is not None  # noqa: S101
        settings = BusSettings(url=url)
        bus = SupervisorSpec(
            name="bus",
            children=(
                ChildSpec(
                    name="md_out",
                    actor=OutboundBridge,
                    args=(settings,),
                    kwargs={
                        "host": VENUE_HOST,
                        "stream": "md:sim",
                        "kind": Kind.MARKET_DATA,
                        "venue": VENUE,
                    },
                ),
                ChildSpec(
                    name="monitor",
                    actor=HeartbeatMonitor,
                    args=(settings,),
                    kwargs={"host": VENUE_HOST, "lease": LEASE, "on_peer": _ignore},
                ),
                ChildSpec(
                    name="ingress",
                    actor=CommandIngress,
                    kwargs={
                        "risk_path": "risk",
                        "order_manager_path": OM,
                        "known": frozenset({STRATEGY}),
                        "seen": SeenIds(),
                        "hosts": HostOwners(),
                        "lease": LEASE,
                    },
                ),
                ChildSpec(
                    name="commands_in",
                    actor=InboundBridge,
                    args=(settings,),
                    kwargs={
                        "host": VENUE_HOST,
                        "stream": COMMANDS,
                        "group": EXECUTION_GROUP,
                        "consumer": VENUE_HOST,
                        "deliver_to": INGRESS,
                        "seen": SeenIds(settings.seen_ids),
                        "wrap": from_host,
                    },
                ),
            ),
        )
        children = (
            *_execution(sink, recorder, trade_url, gate),
            # the strategy's updates onto the events stream, as the execution role does
            ChildSpec(
                name=STRATEGY,
                actor=OutboundBridge,
                args=(settings,),
                kwargs={
                    "host": VENUE_HOST,
                    "stream": EVENTS,
                    "kind": Kind.EVENT,
                    "destination": STRATEGY,
                },
            ),
            bus,
            _market_data("bus/md_out"),
        )
    return Supervisor(SupervisorSpec(name="t2t", children=children)).start(timeout=WAIT)


def strategy_tree(url: str) -> Supervisor:
    """The strategy host: as the strategy role builds it, for one strategy."""
    settings = BusSettings(url=url)
    key = f"{VENUE}:{INSTRUMENT.symbol}"
    spec = SupervisorSpec(
        name="strategy_host",
        children=(
            # at the order manager's path: the commands bridge (cancels take one hop)
            SupervisorSpec(
                name="execution",
                children=(
                    ChildSpec(
                        name="order_manager",
                        actor=OutboundBridge,
                        args=(settings,),
                        kwargs={"host": STRATEGY_HOST, "stream": COMMANDS, "destination": INGRESS},
                    ),
                ),
            ),
            ChildSpec(name="risk", actor=RemoteRisk, kwargs={"forward": OM}),
            ChildSpec(
                name=STRATEGY,
                actor=StrategyActor,
                args=(Echo, VENUE, INSTRUMENT.symbol, "risk", OM),
                mailbox=book_mailbox(),
            ),
            SupervisorSpec(
                name="bus",
                children=(
                    ChildSpec(
                        name="heartbeat",
                        actor=HeartbeatPublisher,
                        args=(settings,),
                        kwargs={"host": STRATEGY_HOST, "interval": 0.5},
                    ),
                    ChildSpec(
                        name="events_in",
                        actor=InboundBridge,
                        args=(settings,),
                        kwargs={
                            "host": STRATEGY_HOST,
                            "stream": EVENTS,
                            "group": f"host:{STRATEGY_HOST}",
                            "consumer": STRATEGY_HOST,
                            "deliver_to": STRATEGY,
                            "start_id": "$",
                        },
                    ),
                ),
            ),
            SupervisorSpec(
                name="market_data",
                children=(
                    ChildSpec(
                        name=book_name(INSTRUMENT.symbol),
                        actor=BookCache,
                        kwargs={"instrument": key, "subscribers": (STRATEGY,), "routes": None},
                    ),
                    ChildSpec(
                        name="fanout",
                        actor=MarketDataFanout,
                        kwargs={"books": {INSTRUMENT.symbol: BOOK}},
                    ),
                    ChildSpec(
                        name="md_in",
                        actor=MarketDataSubscriber,
                        args=(settings,),
                        kwargs={
                            "host": STRATEGY_HOST,
                            "streams": [f"md:{VENUE}:book:{INSTRUMENT.symbol}"],
                            "deliver_to": "market_data/fanout",
                        },
                    ),
                ),
            ),
        ),
    )
    return Supervisor(spec).start(timeout=WAIT)


def _drive(recorder: Recorder, feed: Any, diffs: list[tuple[int, Any]], in_flight: int) -> None:
    gc.collect()
    gc.disable()
    try:
        for start in range(0, len(diffs), in_flight):
            chunk = diffs[start : start + in_flight]
            recorder.target = chunk[-1][0]
            recorder.event.clear()
            for update, frame in chunk:
                recorder.start(update)
                feed.tell(frame)
            if not recorder.event.wait(WAIT):
                raise RuntimeError(f"the pipeline stalled at update {recorder.target}")
    finally:
        gc.enable()


def measure(
    mode: str, sink: str, *, messages: int, burst: int, trade_url: str | None, url: str | None
) -> dict[str, Any]:
    """One frame in flight, then bursts of ``burst`` frames back to back: a fresh tree each."""
    out: dict[str, Any] = {}
    for name, in_flight in (("one_in_flight", 1), (f"burst_{burst}", burst)):
        recorder = Recorder()
        tree = venue_tree(mode, sink, recorder, trade_url, url)
        try:
            if not recorder.connected.wait(WAIT):  # an order before that would be denied
                raise RuntimeError("the gateway did not connect")
            feed = tree.address("market_data/feed")
            snapshot, diffs = t2t._frames(messages + 200)
            feed.tell(snapshot)
            tree.address(BOOK).ask("sync", timeout=WAIT)
            warmup, timed = diffs[:100], diffs[100 : 100 + messages]
            _drive(recorder, feed, warmup, 1)  # also: the strategy host is there
            recorder.latencies.clear()
            recorder.orders = recorder.other_orders = 0
            _drive(recorder, feed, timed, in_flight)
            values = list(recorder.latencies.values())
            if len(values) != len(timed):
                raise RuntimeError(f"{len(timed)} frames timed, {len(values)} answered")
            out[name] = {
                **t2t._histogram(values),
                "orders": recorder.orders,
                "other_orders": recorder.other_orders,
            }
        finally:
            tree.stop()
    return out


def venue_main(mode: str, sinks: list[str], *, messages: int, burst: int, url: str | None) -> None:
    """A venue-side child: prints its figures as one JSON line."""
    process, trade_url = t2t.start_exchange()
    try:
        results = {
            sink: measure(mode, sink, messages=messages, burst=burst, trade_url=trade_url, url=url)
            for sink in sinks
        }
    finally:
        assert process.stdin is not None  # noqa: S101
        process.stdin.close()
        process.wait(10)
    print(json.dumps(results), flush=True)


def strategy_main(url: str) -> None:
    """A strategy-host child: its tree until stdin closes."""
    tree = strategy_tree(url)
    try:
        print("ready", flush=True)
        wait_closed()
    finally:
        tree.stop()
