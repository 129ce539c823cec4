"""What `bench_journal.py` and `tick_to_trade.py --journal` measure, in one process.

Import the actor parts only once the runtime is chosen (after ``use_gevent()``).

- `measure_writer`: `JournalWriter.append` throughput (events/s) and commit latency per
  batch size, ``synchronous`` normal and full, on a fresh file each;
- `measure_group_commit`: a `JournalActor` under a burst of N events told at once: how
  many commits it took, events/s from the first tell to the last commit;
- `measure_system`: tick-to-trade through a whole `TradingSystem` (with or without
  ``[journal] path``) at a still simulated exchange in the same process: the clock
  starts when the exchange publishes a book change (a maker order of its own) and
  stops when the exchange has taken the order the trader's strategy answered it with
  (feed -> book -> strategy -> risk -> order manager [-> journal] -> gateway ->
  loopback websocket -> exchange).
"""

from __future__ import annotations

import contextlib
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from tradeactors.clock import SystemClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import OrderUpdate, Side, TimeInForce
from tradeactors.core.orders import OrderStatus
from tradeactors.journal import JournalWriter
from tradeactors.strategy.api import Strategy

INSTRUMENT = Instrument(venue="sim", symbol="BTCUSDT", tick_size="0.01", lot_size="0.001")
SECRET = "bench-journal-secret-" + "j" * 16
WAIT = 30.0


def percentiles(values_ns: list[int]) -> dict[str, float]:
    """p50, p99, p99.9 and max in microseconds (nearest rank)."""
    ordered = sorted(values_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e3

    return {
        "count": len(ordered),
        "p50_us": at(0.50),
        "p99_us": at(0.99),
        "p999_us": at(0.999),
        "max_us": ordered[-1] / 1e3,
    }


def _update(index: int) -> OrderUpdate:
    """An order's update as the live system journals it: every other one a fill."""
    fill = index % 2 == 1
    return OrderUpdate(
        client_order_id=f"c{index // 2}",
        venue="sim",
        instrument=INSTRUMENT.symbol,
        side=Side.BUY,
        price=10_000_000,
        quantity=5,
        status=OrderStatus.FILLED if fill else OrderStatus.ACCEPTED,
        filled=5 if fill else 0,
        fill_quantity=5 if fill else 0,
        fill_price=10_000_000 if fill else 0,
        execution_id=index if fill else 0,
        owner="strategies/mm/strategy",
    )


def measure_writer(directory: Path, *, events: int, batch: int, synchronous: str) -> dict[str, Any]:
    """``events`` appended in batches of ``batch`` to a new journal: events/s, commit µs."""
    path = directory / f"writer-{batch}-{synchronous}.sqlite"
    updates = [(1_700_000_000_000_000_000 + i, _update(i)) for i in range(events)]
    writer = JournalWriter(
        path,
        clock=SystemClock(),
        synchronous=synchronous,
        instruments={INSTRUMENT.symbol: INSTRUMENT},
        strategy_of=lambda owner: owner.split("/")[1],
    )
    commits: list[int] = []
    try:
        gc.collect()
        started = time.perf_counter_ns()
        for start in range(0, events, batch):
            before = time.perf_counter_ns()
            writer.append(updates[start : start + batch])
            commits.append(time.perf_counter_ns() - before)
        elapsed = time.perf_counter_ns() - started
    finally:
        writer.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {
        "events": events,
        "batch": batch,
        "synchronous": synchronous,
        "events_per_s": events / (elapsed / 1e9),
        "commit": percentiles(commits),
    }


def measure_group_commit(directory: Path, *, burst: int, max_batch: int = 256) -> dict[str, Any]:
    """A `JournalActor` told ``burst`` events at once: commits taken, events/s, batch sizes."""
    from tradeactors.journal import FlushJournal, JournalActor  # noqa: PLC0415 - after the runtime
    from tradeactors.supervision import ChildSpec, Supervisor, SupervisorSpec  # noqa: PLC0415

    path = directory / f"actor-{burst}.sqlite"
    clock = SystemClock()
    writers: list[JournalWriter] = []

    def open_writer() -> JournalWriter:
        writer = JournalWriter(path, clock=clock, instruments={INSTRUMENT.symbol: INSTRUMENT})
        writers.append(writer)
        return writer

    def unavailable(detail: str) -> None:
        raise RuntimeError(f"the journal became unavailable: {detail}")

    spec = SupervisorSpec(
        name="bench",
        children=(
            ChildSpec(
                name="journal",
                actor=JournalActor,
                kwargs={
                    "open_writer": open_writer,
                    "on_unavailable": unavailable,
                    "max_batch": max_batch,
                },
            ),
        ),
    )
    tree = Supervisor(spec, clock=clock).start(timeout=WAIT)
    updates = [_update(i) for i in range(burst)]
    try:
        journal = tree.address("journal")
        journal.ask(FlushJournal(), timeout=WAIT)  # started, the file open
        gc.collect()
        started = time.perf_counter_ns()
        for update in updates:
            journal.tell(update)
        written = journal.ask(FlushJournal(), timeout=WAIT)
        elapsed = time.perf_counter_ns() - started
        (writer,) = writers
        commits = writer.commits
    finally:
        tree.stop(timeout=WAIT)
        clock.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    if written != burst:
        raise RuntimeError(f"{written} of {burst} events written")
    return {
        "burst": burst,
        "max_batch": max_batch,
        "commits": commits,
        "events_per_commit": burst / commits,
        "events_per_s": burst / (elapsed / 1e9),
        "elapsed_ms": elapsed / 1e6,
    }


class Answer(Strategy):
    """Answers every book with an IOC buy 50 ticks under the best bid (it never trades)."""

    name = "answer"

    def on_book(self, ctx: Any, view: Any) -> None:
        if view.best_bid is not None:
            ctx.submit(side=Side.BUY, price=view.best_bid[0] - 50, quantity=1, tif=TimeInForce.IOC)


def _config(exchange: Any, journal: str) -> Any:
    from tradeactors.config import Config  # noqa: PLC0415

    base: dict[str, Any] = {
        "venue": {
            "name": "sim",
            "symbol": INSTRUMENT.symbol,
            "trade_url": exchange.trade_url,
            "stream_url": exchange.ws_url,
            "rest_url": exchange.http_url,
            "secret_env": "TRADEACTORS_BENCH_SECRET",
        },
        "killswitch": {"stale_after": None},
        # the gateway's own budget out of the way (40/s by default): ticks come faster
        "execution": {"max_messages_per_second": 1e9, "burst": 1_000_000},
        "risk": {
            "price_collar_bps": None,
            "max_messages": None,
            "max_open_orders": None,
            "max_loss": None,
            "max_denials": None,
        },
        "journal": {"enabled": bool(journal), "path": journal},
    }
    return msgspec.convert(base, Config)


def _tick(exchange: Any, number: int) -> None:
    """A maker order of the exchange's own account: a depth update published now.

    What `SimExchange.take` does for an IOC, with a resting order (there is no public
    call for one): bids 100 ticks under 100,000, asks over it, on ten levels each.
    """
    side = Side.BUY if number % 2 == 0 else Side.SELL
    level = (number // 2) % 10
    price = 99_900 - level if side is Side.BUY else 100_100 + level
    with exchange._lock:
        events = exchange.engine.submit(
            account="maker",
            client_order_id=f"m{number}",
            instrument=INSTRUMENT.symbol,
            side=side,
            quantity=1,
            price=price,
            tif=TimeInForce.GTC,
        )
        exchange.orders.report(events)
        exchange._broadcast(exchange._publish(events, exchange._clock.time_ns()))
        exchange._changed.notify_all()


MODES = ("back_to_back", "spaced")
"""How ticks follow each other: at once when the last was answered, or ``gap_ms`` later."""


def measure_system(
    *, journal: bool, ticks: int, warmup: int = 100, gap_ms: float = 2.0
) -> dict[str, Any]:
    """Tick-to-trade through a `TradingSystem`, with ``[journal] path`` or without.

    Two modes on the same system: ``back_to_back`` (the next tick as soon as the last
    one's order reached the exchange: whatever the system does after an order, such as
    recording the exchange's answers, overlaps the next tick) and ``spaced`` (``gap_ms``
    between an order and the next tick: what follows an order is done by then, so only
    what is on the tick's own path counts).
    """
    import os  # noqa: PLC0415

    from tradeactors.exchange.liquidity import LiquidityConfig  # noqa: PLC0415
    from tradeactors.exchange.server import SimExchange  # noqa: PLC0415
    from tradeactors.trading.system import TradingSystem  # noqa: PLC0415

    os.environ["TRADEACTORS_BENCH_SECRET"] = SECRET
    clock = SystemClock()
    still = LiquidityConfig(limit_rate=0, cancel_rate=0, market_rate=0, depth_ticks=0)
    exchange = SimExchange(
        INSTRUMENT,
        clock,
        seed=3,
        interval=0.02,
        keys={"demo": SECRET},
        rate_per_second=1e9,
        liquidity=still,
    ).start()
    out: dict[str, Any] = {"journal": journal}
    with tempfile.TemporaryDirectory() as scratch:
        path = str(Path(scratch) / "journal.sqlite") if journal else ""
        system = TradingSystem(_config(exchange, path), strategy=Answer)
        try:
            system.start(timeout=WAIT)
            number = 0
            for mode in MODES:
                gap = gap_ms / 1e3 if mode == "spaced" else 0.0
                samples = _ticks(exchange, number, warmup + ticks, gap)[warmup:]
                number += warmup + ticks
                out[mode] = percentiles(samples)
        finally:
            with contextlib.suppress(Exception):
                system.stop()
            exchange.close()
            clock.close()
        out["journal_events"] = 0
        if journal:
            from tradeactors.journal import JournalReader  # noqa: PLC0415

            with JournalReader(path) as reader:
                out["journal_events"] = len(reader.events())
    return out


def _ticks(exchange: Any, first: int, count: int, gap: float) -> list[int]:
    """``count`` ticks, each timed from its book change to the order answering it (ns)."""
    requests = exchange.orders.requests
    key = ("demo", "place")
    samples = []
    for number in range(first, first + count):
        if gap:
            time.sleep(gap)  # a benchmark's pacing, not a wait for a result
        wanted = requests.get(key, 0) + 1
        gc.disable()
        started = time.perf_counter_ns()
        _tick(exchange, number)
        answered = exchange.wait_until(lambda w=wanted: requests.get(key, 0) >= w, WAIT)
        stopped = time.perf_counter_ns()
        gc.enable()
        if not answered:
            raise RuntimeError(f"no order answered tick {number}")
        samples.append(stopped - started)
    return samples
