"""What `scale_strategies.py` measures, in one process and one runtime.

Import only once the runtime is chosen (after ``use_gevent()`` for gevent).

The tree is the trading system's, with ``I`` instruments and ``S`` strategies: the real
order manager, risk, book and strategy actors, every strategy under a supervisor of its
own (``strategies/<name>/strategy``, TEMPORARY, with the conflating book mailbox), one
book actor per instrument telling only the strategies that trade it, every path from
`tradeactors.trading.paths.actor_paths` of a `Config` with ``[[instruments]]`` and
``[[strategies]]``. The edges are `tick_to_trade_workloads`' (not copied): the host
tells depth frames to an `InjectFeed`, and a `SinkGateway` writes the order frames to an
in-process sink.

Who trades what: strategy ``k`` trades instrument ``j`` when ``k = j (mod min(S, I))``,
its primary being ``k mod I``. So with ``S >= I`` every strategy trades one instrument
and every book has ``S / I`` subscribers; with ``S < I`` (1 strategy on 4 instruments)
the strategy trades them all.

What every strategy does with a book of its instruments: the market maker's decision
(`MarketMaker.quotes` on the book's touch and its position there), and, where it
*answers*, an IOC order to the sink. Strategy 0 is the *trigger* in the tick-to-trade
runs: it answers every book of instrument 0 with an order (`Trigger`) and is timed.
"""

from __future__ import annotations

import functools
import gc
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from tick_to_trade_workloads import (
    INSTRUMENT,
    VENUE,
    WAIT,
    InjectFeed,
    Recorder,
    SinkGateway,
    Trigger,
    _frames,
    _results,
)
from tradeactors.actors.book import BookActor
from tradeactors.actors.gate import TradingGate
from tradeactors.actors.order_manager import OrderManagerActor, OrderStore
from tradeactors.actors.risk import RiskActor
from tradeactors.actors.strategy import StrategyActor, book_mailbox
from tradeactors.clock import SystemClock
from tradeactors.config import Config, InstrumentConfig, StrategyEntryConfig, VenueConfig
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import PlaceOrder, Side, SubmitOrder, TimeInForce, symbol_of
from tradeactors.core.risk import RiskLimits
from tradeactors.strategy.api import Strategy
from tradeactors.strategy.builtin import MarketMaker
from tradeactors.supervision import ChildSpec, Restart, Supervisor, SupervisorSpec
from tradeactors.supervision import Strategy as Restarts
from tradeactors.trading.paths import ActorPaths, actor_paths, leaf

if TYPE_CHECKING:
    from tradeactors.venues.capture import Frame

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT")
TRIGGER_TAG = "trigger"  # the trigger's client order ids start with it, the others' with "s"


def instruments(count: int) -> list[Instrument]:
    """``count`` instruments; the first is tick_to_trade's.

    All have its tick and lot: `SinkGateway` formats every order with its.
    """
    return [
        INSTRUMENT
        if j == 0
        else Instrument(
            venue=VENUE,
            symbol=SYMBOLS[j],
            tick_size=INSTRUMENT.tick_size,
            lot_size=INSTRUMENT.lot_size,
        )
        for j in range(count)
    ]


def assignment(strategies: int, instruments: int) -> list[list[int]]:
    """The instruments of each strategy: ``k`` trades ``j`` when ``k = j (mod min(S, I))``.

    The first of each list is the strategy's primary, ``k mod I``.
    """
    modulus = min(strategies, instruments)
    return [
        [k % instruments]
        + [j for j in range(instruments) if j % modulus == k % modulus and j != k % instruments]
        for k in range(strategies)
    ]


class Progress:
    """What the strategies have seen and the sink has written, for the host to wait on.

    ``expect(targets)``: `event` is set once every strategy has seen, of each instrument
    in ``targets`` that it trades, a book with an update id at or past the target (and,
    with ``orders``, once the sink has written every order the strategies submitted).
    """

    def __init__(self, pairs: list[tuple[int, str]]) -> None:
        self._lock = threading.Lock()
        self._seen = dict.fromkeys(pairs, 0)  # (strategy, symbol) -> last update id seen
        self._targets: dict[str, int] = {}
        self._missing = 0
        self._orders = False
        self.event = threading.Event()
        self.books = 0  # books the strategies handled
        self.submitted = 0  # orders the strategies answered with (not the trigger's)
        self.written = 0  # of those, written by the sink

    def expect(self, targets: dict[str, int], *, orders: bool = False) -> None:
        with self._lock:
            self._targets = targets
            self._orders = orders
            self._missing = sum(
                1
                for (_k, symbol), seen in self._seen.items()
                if symbol in targets and seen < targets[symbol]
            )
            self.event.clear()
            self._check()

    def _check(self) -> None:
        if not self._missing and (not self._orders or self.written >= self.submitted):
            self.event.set()

    def saw(self, strategy: int, symbol: str, update_id: int, *, orders: int) -> None:
        with self._lock:
            self.books += 1
            self.submitted += orders
            key = (strategy, symbol)
            before = self._seen[key]
            self._seen[key] = update_id
            target = self._targets.get(symbol)
            if target is not None and before < target <= update_id:
                self._missing -= 1
            self._check()

    def wrote(self) -> None:
        with self._lock:
            self.written += 1
            self._check()


class SinkRecorder(Recorder):
    """The sink's recorder: the trigger's orders stop its clock, the others are counted.

    The trigger's: its strategy's (client order id tagged `TRIGGER_TAG`) on instrument 0
    (a trigger strategy trading several instruments answers the others like any member).
    """

    def __init__(self, progress: Progress) -> None:
        super().__init__(every=1)
        self.progress = progress
        self.writing: SubmitOrder | None = None  # set by the gateway before it writes

    def wrote(self, client_order_id: str) -> None:
        order = self.writing
        if client_order_id.startswith(TRIGGER_TAG) and (
            order is not None and order.instrument == INSTRUMENT.symbol
        ):
            super().wrote(client_order_id)
        else:
            self.progress.wrote()


class ScaleSinkGateway(SinkGateway):
    """`SinkGateway`, telling its `SinkRecorder` which order it writes."""

    def __init__(self, om_path: str, recorder: SinkRecorder) -> None:
        super().__init__(om_path, recorder)
        self._scale_recorder = recorder

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, PlaceOrder):
            self._scale_recorder.writing = message.order
        return super().on_receive(message)


class Member(Strategy):
    """One strategy of the tree (see the module doc): decides quotes, answers if asked.

    With a ``trigger``, books of its primary instrument go to the trigger instead.
    """

    name = "member"

    def __init__(
        self, index: int, progress: Progress, *, answer: bool, trigger: Trigger | None = None
    ) -> None:
        self._index = index
        self._progress = progress
        self._answer = answer
        self.trigger = trigger
        self._maker = MarketMaker()
        self.quotes: tuple[int | None, int | None] = (None, None)

    def on_book(self, ctx: Any, view: Any) -> None:
        symbol = symbol_of(view.instrument)
        if self.trigger is not None and symbol == ctx.instrument:
            self.trigger.on_book(ctx, view)
            self._progress.saw(self._index, symbol, view.update_id, orders=0)
            return
        bid, ask = view.best_bid, view.best_ask
        if bid is not None and ask is not None:
            self.quotes = self._maker.quotes(bid[0], ask[0], ctx.position_of(symbol))
        # counted before it is submitted: the sink may write it before submit returns
        self._progress.saw(self._index, symbol, view.update_id, orders=int(self._answer))
        if self._answer:
            ctx.submit(side=Side.BUY, price=1, quantity=1, tif=TimeInForce.IOC, instrument=symbol)


class Cell:
    """One tree of ``strategies`` x ``instruments``, started, its books synced."""

    def __init__(
        self,
        strategies: int,
        instruments_count: int,
        *,
        answer: bool,
        trigger: bool,
        diffs: int,
    ) -> None:
        self.instruments = instruments(instruments_count)
        self.plan = assignment(strategies, instruments_count)
        self.symbols = [i.symbol for i in self.instruments]
        self.paths = _paths(self.instruments, self.plan)
        pairs = [(k, self.symbols[j]) for k, mine in enumerate(self.plan) for j in mine]
        self.progress = Progress(pairs)
        self.recorder = SinkRecorder(self.progress)
        members = [
            Member(
                k,
                self.progress,
                answer=answer,
                trigger=Trigger(self.recorder) if trigger and k == 0 else None,
            )
            for k in range(strategies)
        ]
        self.tree = _start_tree(self.paths, self.instruments, self.plan, members, self.recorder)
        try:
            self.feed = self.tree.address(self.paths.feeds[VENUE])
            self.diffs: list[list[tuple[int, Frame]]] = []
            for j, instrument in enumerate(self.instruments):
                snapshot, diffs_j = _stream(j, diffs)
                self.feed.tell(snapshot)
                self.tree.address(self.paths.book(VENUE, instrument.symbol)).ask(
                    "sync", timeout=WAIT
                )
                self.diffs.append(diffs_j)
        except BaseException:
            self.tree.stop()
            raise

    def stop(self) -> None:
        self.tree.stop()

    def wait(self, targets: dict[str, int], *, orders: bool) -> None:
        self.progress.expect(targets, orders=orders)
        if not self.progress.event.wait(WAIT):
            raise RuntimeError("the tree stalled")


@functools.cache
def _stream(j: int, diffs: int) -> tuple[Frame, list[tuple[int, Frame]]]:
    """Instrument ``j``'s frames (made once per process: reused by every cell)."""
    return _frames(diffs, instruments(j + 1)[j], seed=5 + j)


def _paths(instruments_: list[Instrument], plan: list[list[int]]) -> ActorPaths:
    """The trading system's paths for these instruments and strategies."""
    config = Config(
        venues=(VenueConfig(name=VENUE),),
        instruments=tuple(
            InstrumentConfig(
                venue=VENUE, symbol=i.symbol, tick_size=i.tick_size, lot_size=i.lot_size
            )
            for i in instruments_
        ),
        strategies=tuple(
            StrategyEntryConfig(
                name=f"s{k}", instruments=tuple(instruments_[j].symbol for j in mine)
            )
            for k, mine in enumerate(plan)
        ),
    )
    return actor_paths(config)


def _start_tree(
    paths: ActorPaths,
    instruments_: list[Instrument],
    plan: list[list[int]],
    members: list[Member],
    recorder: SinkRecorder,
) -> Supervisor:
    """The trading system's tree (as `TradingSystem._spec` builds it) with the bench's edges.

    Left out: the events actor and the kill switch (not on the hot path), and the risk
    and kill-switch subscriptions to the books (as in `tick_to_trade`'s tree).
    """
    gate = TradingGate(SystemClock())
    om = paths.order_manager
    names = list(paths.strategies)  # s0, s1, ... in strategy order
    subscribers = {
        i.symbol: tuple(paths.strategies[names[k]] for k, mine in enumerate(plan) if j in mine)
        for j, i in enumerate(instruments_)
    }

    def strategy(k: int) -> SupervisorSpec:
        path = paths.strategies[names[k]]
        member = members[k]
        return SupervisorSpec(
            name=names[k],
            restart=Restart.TEMPORARY,
            children=(
                ChildSpec(
                    name=leaf(path),
                    actor=StrategyActor,
                    kwargs={
                        "factory": lambda: member,
                        "instruments": [(VENUE, instruments_[j].symbol) for j in plan[k]],
                        "risk_path": paths.risk,
                        "order_manager_path": om,
                        "tag": TRIGGER_TAG if member.trigger is not None else "s",
                    },
                    mailbox=book_mailbox(),
                ),
            ),
        )

    spec = SupervisorSpec(
        name="trading",
        children=(
            SupervisorSpec(
                name=leaf(paths.execution),
                strategy=Restarts.REST_FOR_ONE,
                children=(
                    ChildSpec(
                        name=leaf(om),
                        actor=OrderManagerActor,
                        args=(OrderStore(), dict(paths.gateways), paths.risk, gate),
                        kwargs={"notify": tuple(paths.strategies.values())},
                    ),
                    ChildSpec(
                        name=leaf(paths.gateway(VENUE)), actor=ScaleSinkGateway, args=(om, recorder)
                    ),
                ),
            ),
            ChildSpec(
                name=leaf(paths.risk),
                actor=RiskActor,
                args=(RiskLimits(), om, gate),
                kwargs={"instruments": {i.symbol: i for i in instruments_}},
            ),
            SupervisorSpec(
                name=leaf(paths.market_data),
                strategy=Restarts.REST_FOR_ONE,
                children=(
                    ChildSpec(
                        name=leaf(paths.feeds[VENUE]),
                        actor=InjectFeed,
                        args=("binance",),
                        kwargs={
                            "symbols": tuple(i.symbol for i in instruments_),
                            "books_path": paths.market_data,
                        },
                    ),
                    *(
                        ChildSpec(
                            name=leaf(paths.book(VENUE, i.symbol)),
                            actor=BookActor,
                            args=("binance", i, paths.feeds[VENUE]),
                            kwargs={"subscribers": subscribers[i.symbol]},
                        )
                        for i in instruments_
                    ),
                ),
            ),
            SupervisorSpec(
                name=leaf(paths.strategies_supervisor),
                children=tuple(strategy(k) for k in range(len(members))),
            ),
        ),
    )
    return Supervisor(spec).start(timeout=WAIT)


GRID = ((1, 1), (4, 1), (16, 1), (1, 4), (4, 4), (16, 4))  # (strategies, instruments)


def _latency_block(cell: Cell, steps: range, *, answer: bool) -> None:
    """Tick-to-trade steps of the trigger (strategy 0, instrument 0), one step in flight.

    A step tells one frame of every instrument, instrument 0's first (timed), and waits
    for the trigger's order and for every strategy to have seen the step's books (and,
    where they answer, for the sink to have written their orders).
    """
    recorder = cell.recorder
    for step in steps:
        frames = [diffs[step] for diffs in cell.diffs]
        first = frames[0][0]
        recorder.target = first
        recorder.event.clear()
        cell.progress.expect(
            {s: u for s, (u, _f) in zip(cell.symbols, frames, strict=True)}, orders=answer
        )
        recorder.start(first)
        for _update, frame in frames:
            cell.feed.tell(frame)
        if not (recorder.event.wait(WAIT) and cell.progress.event.wait(WAIT)):
            raise RuntimeError("the tree stalled")


def _targets(chunk: list[tuple[str, int, Frame]]) -> dict[str, int]:
    return {symbol: update for symbol, update, _frame in chunk}  # the last of each


def _throughput_block(
    cell: Cell, chunks: list[list[tuple[str, int, Frame]]], *, answer: bool
) -> dict[str, float]:
    """Tell ``chunks`` as fast as the tree drains them; the figures of this block.

    Once a chunk is told, the host waits until every strategy has seen the books of the
    chunk before (so at most two chunks are in flight and the tree never runs dry), and
    at the end until everything is drained (every strategy saw its instruments' last
    books, the sink wrote every order).
    """
    progress = cell.progress
    books, written = progress.books, progress.written
    started = time.perf_counter()
    previous: list[tuple[str, int, Frame]] | None = None
    for chunk in chunks:
        for _s, _u, frame in chunk:
            cell.feed.tell(frame)
        if previous is not None:
            cell.wait(_targets(previous), orders=False)
        previous = chunk
    if previous is not None:
        cell.wait(_targets(previous), orders=answer)
    return {
        "frames": sum(len(chunk) for chunk in chunks),
        "seconds": time.perf_counter() - started,
        "deliveries": progress.books - books,
        "orders": progress.written - written,
    }


def _round_robin(cell: Cell, frames: int) -> list[tuple[str, int, Frame]]:
    """``frames`` frames, one instrument after the other (each instrument's in order)."""
    count = len(cell.symbols)
    return [(cell.symbols[n % count], *cell.diffs[n % count][n // count]) for n in range(frames)]


def _orders(rounds: int) -> list[list[int]]:
    """The order the cells run in, per round: forwards, backwards, rotated."""
    out = []
    for round_ in range(rounds):
        order = list(range(len(GRID)))
        order = order[round_ % len(order) :] + order[: round_ % len(order)]
        out.append(order[::-1] if round_ % 2 else order)
    return out


def measure_latency(
    *, steps: int, warmup: int, rounds: int, answer: bool, stream: int = 0
) -> list[dict[str, Any]]:
    """Tick-to-trade of every cell of `GRID`, all alive at once, in interleaved blocks."""
    cells: list[Cell] = []
    try:
        for strategies, instruments_count in GRID:
            cells.append(
                Cell(
                    strategies,
                    instruments_count,
                    answer=answer,
                    trigger=True,
                    diffs=max(stream, warmup + steps),  # one stream per instrument
                )
            )
        for cell in cells:
            _latency_block(cell, range(warmup), answer=answer)
        per_round = -(-steps // rounds)
        gc.collect()
        gc.disable()
        try:
            for round_, order in enumerate(_orders(rounds)):
                first = warmup + round_ * per_round
                block = range(first, min(first + per_round, warmup + steps))
                for index in order:
                    _latency_block(cells[index], block, answer=answer)
        finally:
            gc.enable()
        return [_results(cell.recorder, {u for u, _f in cell.diffs[0][:warmup]}) for cell in cells]
    finally:
        for cell in cells:
            cell.stop()


def measure_throughput(
    *, frames: int, window: int, rounds: int, answer: bool, stream: int = 0
) -> list[dict[str, Any]]:
    """Book updates/s every cell of `GRID` absorbs, frames round-robin over its instruments.

    All cells alive at once; each round gives each cell ``frames / rounds`` frames in
    chunks of ``window`` (see `_throughput_block`), the cells' order changing by round.
    ``window`` 0: one frame per instrument a chunk, so that every strategy handles
    nearly every book of its instruments (paced: the fan-out and the orders at full cost).
    """
    cells: list[Cell] = []
    try:
        chunks: list[list[list[tuple[str, int, Frame]]]] = []
        for strategies, instruments_count in GRID:
            chunk = window or instruments_count
            per_instrument = -(-(frames + 2 * chunk) // instruments_count)
            cell = Cell(
                strategies,
                instruments_count,
                answer=answer,
                trigger=False,
                diffs=max(stream, per_instrument),
            )
            cells.append(cell)
            told = _round_robin(cell, frames + 2 * chunk)
            chunks.append([told[n : n + chunk] for n in range(0, len(told), chunk)])
        for cell, cell_chunks in zip(cells, chunks, strict=True):
            _throughput_block(cell, cell_chunks[:2], answer=answer)  # warm-up
        blocks: list[list[dict[str, float]]] = [[] for _ in cells]
        gc.collect()
        gc.disable()
        try:
            for round_, order in enumerate(_orders(rounds)):
                for index in order:
                    per_round = -(-(len(chunks[index]) - 2) // rounds)
                    first = 2 + round_ * per_round
                    block = chunks[index][first : first + per_round]
                    blocks[index].append(_throughput_block(cells[index], block, answer=answer))
        finally:
            gc.enable()
        return [_throughput_figures(cell_blocks) for cell_blocks in blocks]
    finally:
        for cell in cells:
            cell.stop()


def _throughput_figures(blocks: list[dict[str, float]]) -> dict[str, Any]:
    seconds = sum(block["seconds"] for block in blocks)
    rates = sorted(block["frames"] / block["seconds"] for block in blocks)
    return {
        "frames": sum(block["frames"] for block in blocks),
        "seconds": seconds,
        "books_per_s": sum(block["frames"] for block in blocks) / seconds,
        "books_per_s_min": rates[0],
        "books_per_s_max": rates[-1],
        "deliveries_per_s": sum(block["deliveries"] for block in blocks) / seconds,
        "orders_per_s": sum(block["orders"] for block in blocks) / seconds,
        "orders": sum(block["orders"] for block in blocks),
    }


def child_main(
    runtime: str, *, steps: int, warmup: int, frames: int, window: int, rounds: int
) -> dict[str, Any]:
    """Every cell of `GRID` in this process: tick-to-trade and throughput, quiet and answering."""
    started = time.perf_counter()
    load = [os.getloadavg()[0]]
    cells: list[dict[str, Any]] = []
    for strategies, instruments_count in GRID:
        plan = assignment(strategies, instruments_count)
        cells.append(
            {
                "strategies": strategies,
                "instruments": instruments_count,
                "subscribers_per_book": [
                    sum(j in mine for mine in plan) for j in range(instruments_count)
                ],
                "instruments_per_strategy": [len(mine) for mine in plan],
            }
        )
    stream = max(warmup + steps, frames + 2 * window)  # frames made once per instrument
    for answer in (False, True):
        mode = "answering" if answer else "quiet"
        latencies = measure_latency(
            steps=steps, warmup=warmup, rounds=rounds, answer=answer, stream=stream
        )
        load.append(os.getloadavg()[0])
        throughputs = measure_throughput(
            frames=frames, window=window, rounds=rounds, answer=answer, stream=stream
        )
        load.append(os.getloadavg()[0])
        for cell, latency, throughput in zip(cells, latencies, throughputs, strict=True):
            cell[f"latency_{mode}"] = latency
            cell[f"throughput_{mode}"] = throughput
    paced = measure_throughput(
        frames=max(1, frames // 4), window=0, rounds=rounds, answer=True, stream=stream
    )
    load.append(os.getloadavg()[0])
    for cell, throughput in zip(cells, paced, strict=True):
        cell["throughput_paced"] = throughput
    return {
        "runtime": runtime,
        "cells": cells,
        "seconds": time.perf_counter() - started,
        "loadavg_1min": load,  # at the start and after each measurement
    }
