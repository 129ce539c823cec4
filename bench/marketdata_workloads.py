"""Workloads of ``bench_marketdata.py``: decoding, book updates and end-to-end replay.

Imported by the child processes only: the end-to-end child chooses its runtime (and the
gevent one monkey-patches) before importing this module, and the Nautilus child runs in
a separate virtual environment that has ``nautilus_trader`` installed.

Every measurement returns plain dicts and lists (JSON-ready). Times are
``time.perf_counter`` seconds; each variant is measured ``repeats`` times, the variants
interleaved repeat by repeat, and the median is what the report shows.
"""

from __future__ import annotations

import cProfile
import gc
import io
import itertools
import json
import pstats
import statistics
import sys
import threading
import time
from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedDict

from tradeactors.core.book import OrderBook
from tradeactors.core.instrument import Instrument, parse_units
from tradeactors.venues import binance
from tradeactors.venues.capture import read_capture

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tradeactors.venues.capture import Frame

ETHUSDT = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.00001")
PRICE_PLACES = 2  # of ETHUSDT's tick size
SIZE_PLACES = 5  # of ETHUSDT's lot size

IntLevel = tuple[int, int]
Diff = tuple[list[IntLevel], list[IntLevel], int]
"""A depth diff pre-parsed to ints: ``(bids, asks, final update id)``."""


def log(message: str) -> None:
    """Progress, on stderr (stdout carries the JSON)."""
    print(message, file=sys.stderr, flush=True)


def summarize(seconds: Sequence[float], work: int) -> dict[str, Any]:
    """Median and spread of repeated timings of ``work`` units each."""
    median = statistics.median(seconds)
    return {
        "repeats": len(seconds),
        "work": work,
        "seconds": list(seconds),
        "median_s": median,
        "min_s": min(seconds),
        "max_s": max(seconds),
        "median_rate_per_s": work / median,
        "median_us_per_unit": median / work * 1e6,
    }


def timed(function: Callable[[], object]) -> float:
    """Seconds ``function()`` takes, after a collection so earlier garbage does not count."""
    gc.collect()
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


# -- 1. decoding ------------------------------------------------------------------------------


def ws_payloads(path: str) -> list[str]:
    """The payloads of every websocket frame of the capture, in file order."""
    return [f.payload for f in read_capture(path) if f.source == "ws"]


def stdlib_decode(payload: str, loads: Callable[[str], Any] = json.loads) -> tuple[Any, ...]:
    """What `binance.decode_frame` gives, done with ``json.loads`` and dict look-ups.

    The same fields, routed by stream the same way; levels stay lists of lists (no tuple
    conversion) and nothing is type-checked, so this is a generous stdlib baseline.
    """
    message = loads(payload)
    data = message["data"]
    _, _, kind = message["stream"].partition("@")
    if kind.startswith("depth"):
        return (
            "depth",
            data["s"],
            data["U"],
            data["u"],
            data["b"],
            data["a"],
            data.get("E", 0),
            data.get("pu"),
        )
    if kind == "bookTicker":
        return ("book_ticker", data["u"], data["s"], data["b"], data["B"], data["a"], data["A"])
    if kind in ("trade", "aggTrade"):
        return ("trade", data["e"], data["s"], data["p"], data["q"], data["T"], data["m"])
    if kind.startswith("kline"):
        return ("other",)
    raise ValueError(f"unknown stream {message['stream']!r}")


def _decode_loop(function: Callable[[Any], object], payloads: Sequence[Any], passes: int) -> None:
    for _ in range(passes):
        for payload in payloads:
            function(payload)


def check_decoders_agree(payloads: Sequence[str]) -> None:
    """The stdlib baseline pulls the same values as `binance.decode_frame` (untimed)."""
    for payload in payloads:
        kind, event = binance.decode_frame(payload)
        ours = stdlib_decode(payload)
        if kind.value != ours[0]:
            raise AssertionError(f"kinds differ: {kind} / {ours[0]}")
        if isinstance(event, binance.DepthUpdate):
            same = (event.s, event.U, event.u, event.E, event.pu) == (
                ours[1],
                ours[2],
                ours[3],
                ours[6],
                ours[7],
            ) and [list(level) for level in event.b] == ours[4]
        elif isinstance(event, binance.BookTicker):
            same = (event.u, event.s, event.b, event.B, event.a, event.A) == ours[1:]
        elif isinstance(event, binance.Trade):
            same = (event.e, event.s, event.p, event.q, event.T, event.m) == ours[1:]
        else:
            same = True
        if not same:
            raise AssertionError(f"decoders disagree on {payload[:80]}")


def measure_decode(path: str, repeats: int, depth_passes: int) -> dict[str, Any]:
    """µs per frame: ``json.loads`` alone, ``json.loads`` + fields, ``decode_frame``."""
    payloads = ws_payloads(path)
    depth = [p for p in payloads if "@depth" in p[:40]]
    check_decoders_agree(payloads)
    variants: dict[str, Callable[[Any], object]] = {
        "json.loads": json.loads,
        "json.loads + fields": stdlib_decode,
        "decode_frame (msgspec)": binance.decode_frame,
    }
    sets = {
        "all_ws": (payloads, [p.encode() for p in payloads], 1),
        "depth_only": (depth, [p.encode() for p in depth], depth_passes),
    }
    results: dict[str, Any] = {}
    for name, (texts, raw, passes) in sets.items():
        log(f"decode {name}: {len(texts):,} frames x {passes} pass(es) x {repeats} repeats")
        times: dict[str, list[float]] = {v: [] for v in [*variants, "decode_frame (bytes input)"]}
        for _ in range(repeats):
            for variant, function in variants.items():
                times[variant].append(
                    timed(lambda f=function, t=texts, n=passes: _decode_loop(f, t, n))
                )
            times["decode_frame (bytes input)"].append(
                timed(lambda r=raw, n=passes: _decode_loop(binance.decode_frame, r, n))
            )
        results[name] = {
            "frames": len(texts),
            "passes": passes,
            "mean_payload_bytes": sum(map(len, raw)) / len(raw),
            "variants": {v: summarize(t, len(texts) * passes) for v, t in times.items()},
        }
    return results


# -- 2. book updates --------------------------------------------------------------------------


@dataclass(frozen=True)
class BookWorkload:
    """The real ETHUSDT diffs the Binance sync applies, pre-parsed to ints."""

    snapshot_bids: list[IntLevel]
    snapshot_asks: list[IntLevel]
    snapshot_id: int
    diffs: list[Diff]
    raw_levels: list[tuple[str, str]]
    """Every level of the diffs as the venue wrote it, for the parsing measurement."""

    @property
    def levels(self) -> int:
        """Level updates in one pass over the diffs."""
        return sum(len(b) + len(a) for b, a, _ in self.diffs)

    @property
    def deletes(self) -> int:
        """Level updates with size 0 in one pass."""
        return sum(1 for b, a, _ in self.diffs for _, size in b + a if size == 0)


def book_workload(path: str) -> BookWorkload:
    """Snapshot and applied diffs of the capture, checked against `binance.DepthSync`."""
    frames: list[Frame] = list(read_capture(path))
    snapshot = next(binance.decode_snapshot(f.payload) for f in frames if f.source == "rest")
    raw_diffs = [
        event
        for kind, event in (binance.decode_frame(f.payload) for f in frames if f.source == "ws")
        if kind is binance.FrameKind.DEPTH and isinstance(event, binance.DepthUpdate)
    ]
    last = snapshot.lastUpdateId
    applied = [d for d in raw_diffs if d.u > last]
    if not (applied[0].U <= last + 1 <= applied[0].u) or any(
        a.u + 1 != b.U for a, b in itertools.pairwise(applied)
    ):
        raise AssertionError("the capture's diffs are not continuous after the snapshot")
    report = binance.replay(frames, {ETHUSDT.symbol: ETHUSDT})[ETHUSDT.symbol]
    if report.applied != len(applied) or not report.ok:
        raise AssertionError(f"DepthSync disagrees with the workload: {report}")
    price, size = ETHUSDT.price, ETHUSDT.size
    return BookWorkload(
        snapshot_bids=[(price(p), size(q)) for p, q in snapshot.bids],
        snapshot_asks=[(price(p), size(q)) for p, q in snapshot.asks],
        snapshot_id=last,
        diffs=[
            ([(price(p), size(q)) for p, q in d.b], [(price(p), size(q)) for p, q in d.a], d.u)
            for d in applied
        ],
        raw_levels=[level for d in applied for level in (*d.b, *d.a)],
    )


class SortedDictBook:
    """The plain baseline: two ``SortedDict``s keyed by price; best bid is the last key."""

    __slots__ = ("asks", "bids", "update_id")

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.update_id = 0

    def apply_snapshot(self, bids: list[IntLevel], asks: list[IntLevel], update_id: int) -> None:
        self.bids = SortedDict({p: s for p, s in bids if s})
        self.asks = SortedDict({p: s for p, s in asks if s})
        self.update_id = update_id

    def set_bid(self, price: int, size: int) -> None:
        if size:
            self.bids[price] = size
        else:
            self.bids.pop(price, None)

    def set_ask(self, price: int, size: int) -> None:
        if size:
            self.asks[price] = size
        else:
            self.asks.pop(price, None)

    def best_bid(self) -> IntLevel | None:
        return self.bids.peekitem(-1) if self.bids else None

    def best_ask(self) -> IntLevel | None:
        return self.asks.peekitem(0) if self.asks else None


class BisectSketchBook:
    """A sketch, not in src: a dict of sizes per side plus a plain sorted list of keys.

    The best level is at the end of each list (bids by price, asks by negated price), so
    the inserts and deletes near the top that dominate real traffic move few elements;
    changing the size of an existing level touches only the dict. Every operation is a
    few C calls inside one Python method.
    """

    __slots__ = ("ask_keys", "ask_sizes", "bid_prices", "bid_sizes", "update_id")

    def __init__(self) -> None:
        self.apply_snapshot([], [], 0)

    def apply_snapshot(self, bids: list[IntLevel], asks: list[IntLevel], update_id: int) -> None:
        self.bid_sizes = {p: s for p, s in bids if s}
        self.bid_prices = sorted(self.bid_sizes)
        self.ask_sizes = {p: s for p, s in asks if s}
        self.ask_keys = sorted(-p for p in self.ask_sizes)
        self.update_id = update_id

    def set_bid(self, price: int, size: int) -> None:
        sizes = self.bid_sizes
        if size:
            if price not in sizes:
                insort(self.bid_prices, price)
            sizes[price] = size
        elif price in sizes:
            del sizes[price]
            prices = self.bid_prices
            del prices[bisect_left(prices, price)]

    def set_ask(self, price: int, size: int) -> None:
        sizes = self.ask_sizes
        if size:
            if price not in sizes:
                insort(self.ask_keys, -price)
            sizes[price] = size
        elif price in sizes:
            del sizes[price]
            keys = self.ask_keys
            del keys[bisect_left(keys, -price)]

    def best_bid(self) -> IntLevel | None:
        prices = self.bid_prices
        if not prices:
            return None
        price = prices[-1]
        return price, self.bid_sizes[price]

    def best_ask(self) -> IntLevel | None:
        keys = self.ask_keys
        if not keys:
            return None
        price = -keys[-1]
        return price, self.ask_sizes[price]


SKETCH_BOOK = "sketch: dict + sorted list (bench only)"


def drive_book(book: Any, diffs: list[Diff]) -> None:
    """Apply every level of every diff, then read the top, as `DepthSync` and a strategy do.

    Used for `OrderBook` and the `SortedDictBook` baseline alike (same calls, same shape).
    """
    for bids, asks, update_id in diffs:
        for price, size in bids:
            book.set_bid(price, size)
        for price, size in asks:
            book.set_ask(price, size)
        book.update_id = update_id
        book.best_bid()
        book.best_ask()


def drive_book_batched(book: OrderBook, diffs: list[Diff]) -> None:
    """Apply each diff with one `OrderBook.apply_levels` call, then read the top."""
    for bids, asks, update_id in diffs:
        book.apply_levels(bids, asks, update_id)
        book.best_bid()
        book.best_ask()


def tops_of(book: Any, workload: BookWorkload) -> list[tuple[Any, Any]]:
    """The top after each diff (untimed; to check that the books agree)."""
    book.apply_snapshot(workload.snapshot_bids, workload.snapshot_asks, workload.snapshot_id)
    tops = []
    for bids, asks, update_id in workload.diffs:
        for price, size in bids:
            book.set_bid(price, size)
        for price, size in asks:
            book.set_ask(price, size)
        book.update_id = update_id
        tops.append((book.best_bid(), book.best_ask()))
    return tops


@dataclass
class BookVariant:
    """One book implementation: reset it to the snapshot (untimed), then run the diffs."""

    name: str
    reset: Callable[[], None]
    run: Callable[[], None]


def native_variants(workload: BookWorkload) -> list[BookVariant]:
    """Our `OrderBook`, the `SortedDict` baseline and the bench-only sketch."""
    ours = OrderBook(ETHUSDT)
    batched = OrderBook(ETHUSDT)
    base = SortedDictBook()
    sketch = BisectSketchBook()
    snapshot = (workload.snapshot_bids, workload.snapshot_asks, workload.snapshot_id)
    expected = tops_of(OrderBook(ETHUSDT), workload)
    if tops_of(SortedDictBook(), workload) != expected:
        raise AssertionError("OrderBook and the SortedDict baseline disagree")
    if tops_of(BisectSketchBook(), workload) != expected:
        raise AssertionError("OrderBook and the sketch disagree")
    check = OrderBook(ETHUSDT)
    check.apply_snapshot(*snapshot)
    batched_tops = []
    for bids, asks, update_id in workload.diffs:
        check.apply_levels(bids, asks, update_id)
        batched_tops.append((check.best_bid(), check.best_ask()))
    if batched_tops != expected:
        raise AssertionError("OrderBook.apply_levels and set_bid/set_ask disagree")
    return [
        BookVariant(
            "tradeactors OrderBook",
            lambda: ours.apply_snapshot(*snapshot),
            lambda: drive_book(ours, workload.diffs),
        ),
        BookVariant(
            "tradeactors OrderBook.apply_levels per diff",
            lambda: batched.apply_snapshot(*snapshot),
            lambda: drive_book_batched(batched, workload.diffs),
        ),
        BookVariant(
            "SortedDict baseline",
            lambda: base.apply_snapshot(*snapshot),
            lambda: drive_book(base, workload.diffs),
        ),
        BookVariant(
            SKETCH_BOOK,
            lambda: sketch.apply_snapshot(*snapshot),
            lambda: drive_book(sketch, workload.diffs),
        ),
    ]


def measure_books(
    variants: list[BookVariant], workload: BookWorkload, repeats: int, passes: int
) -> dict[str, Any]:
    """Level updates per second of each variant; the snapshot is applied untimed each pass."""
    levels = workload.levels
    log(
        f"book: {len(workload.diffs):,} diffs, {levels:,} levels per pass, "
        f"{passes} passes x {repeats} repeats, variants: {[v.name for v in variants]}"
    )
    for variant in variants:  # warm-up
        variant.reset()
        variant.run()
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    for _ in range(repeats):
        for variant in variants:
            total = 0.0
            for _ in range(passes):
                variant.reset()
                total += timed(variant.run)
            times[variant.name].append(total)
    return {
        "diffs": len(workload.diffs),
        "levels_per_pass": levels,
        "deletes_per_pass": workload.deletes,
        "snapshot_levels": len(workload.snapshot_bids) + len(workload.snapshot_asks),
        "passes": passes,
        "variants": {name: summarize(t, levels * passes) for name, t in times.items()},
    }


def measure_parse(workload: BookWorkload, repeats: int) -> dict[str, Any]:
    """µs per level to turn the diffs' ``(price, size)`` strings into numbers.

    ``Instrument.price`` + ``Instrument.size`` (what `DepthSync` does for every level),
    with ETHUSDT's steps and with the 1e-8 steps ``run_replay`` infers for Binance;
    ``parse_units`` called directly with the places (what a fast path for steps of one
    unit would cost, same validation); ``float`` (inexact, the floor of any parse).
    """
    levels = workload.raw_levels
    coarse = ETHUSDT
    fine = Instrument(
        venue="binance", symbol="ETHUSDT", tick_size="0.00000001", lot_size="0.00000001"
    )

    def with_instrument(instrument: Instrument) -> None:
        price, size = instrument.price, instrument.size
        for p, q in levels:
            price(p)
            size(q)

    def direct() -> None:
        for p, q in levels:
            parse_units(p, PRICE_PLACES)
            parse_units(q, SIZE_PLACES)

    def floats() -> None:
        for p, q in levels:
            float(p)
            float(q)

    variants: dict[str, Callable[[], None]] = {
        "Instrument.price + size (tick 0.01, lot 0.00001)": lambda: with_instrument(coarse),
        "Instrument.price + size (steps 1e-8, as run_replay)": lambda: with_instrument(fine),
        "parse_units(text, places) x2": direct,
        "float() x2 (inexact floor)": floats,
    }
    log(f"parse: {len(levels):,} levels x {repeats} repeats")
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for name, function in variants.items():
            times[name].append(timed(function))
    return {
        "levels": len(levels),
        "variants": {name: summarize(t, len(levels)) for name, t in times.items()},
    }


class NautilusBooks:
    """NautilusTrader's ``OrderBook`` (``L2_MBP``) driven from Python, three ways.

    - ``update()`` with ``BookOrder``s built before the timing (the analogue of our
      pre-parsed ints; ``update`` with size 0 deletes the level, checked below);
    - ``apply_deltas()`` with one ``OrderBookDeltas`` per diff, built before the timing;
    - ``update()`` with each ``BookOrder`` built in the loop from our ints
      (``BookOrder.from_raw``), which is what a Python feed holding ints would pay.

    After each diff the best bid and ask price and size are read (four calls, each
    returning a ``Price`` or ``Quantity``).
    """

    def __init__(self, workload: BookWorkload) -> None:
        import nautilus_trader  # noqa: PLC0415 - only in the Nautilus venv
        from nautilus_trader.model.book import OrderBook as NautilusBook  # noqa: PLC0415
        from nautilus_trader.model.data import BookOrder  # noqa: PLC0415
        from nautilus_trader.model.enums import BookType, OrderSide  # noqa: PLC0415
        from nautilus_trader.model.identifiers import InstrumentId  # noqa: PLC0415
        from nautilus_trader.model.objects import FIXED_PRECISION  # noqa: PLC0415

        self.workload = workload
        self.price_scale = 10 ** (FIXED_PRECISION - PRICE_PLACES)  # ticks -> raw
        self.size_scale = 10 ** (FIXED_PRECISION - SIZE_PLACES)  # lots -> raw
        self.instrument_id = InstrumentId.from_str("ETHUSDT.BINANCE")
        self.buy, self.sell = OrderSide.BUY, OrderSide.SELL
        self.from_raw = BookOrder.from_raw
        self.info = {
            "nautilus_trader": nautilus_trader.__version__,
            "fixed_precision": FIXED_PRECISION,
            "book_type": "L2_MBP",
        }
        self.prebuilt = [
            (
                [self.order(self.buy, p, s) for p, s in bids],
                [self.order(self.sell, p, s) for p, s in asks],
            )
            for bids, asks, _ in workload.diffs
        ]
        self.batches = [self.deltas(bids, asks) for bids, asks, _ in workload.diffs]
        self.snapshot_orders = [
            self.order(self.buy, p, s) for p, s in workload.snapshot_bids if s
        ] + [self.order(self.sell, p, s) for p, s in workload.snapshot_asks if s]
        self.books = [NautilusBook(self.instrument_id, BookType.L2_MBP) for _ in range(3)]

    def order(self, side: Any, price: int, size: int) -> Any:
        """A ``BookOrder`` from our ticks and lots."""
        return self.from_raw(
            side, price * self.price_scale, PRICE_PLACES, size * self.size_scale, SIZE_PLACES, 0
        )

    def deltas(self, bids: list[IntLevel], asks: list[IntLevel]) -> Any:
        """One diff as ``OrderBookDeltas``: UPDATE, or DELETE for size 0; F_LAST on the last."""
        from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas  # noqa: PLC0415
        from nautilus_trader.model.enums import BookAction, RecordFlag  # noqa: PLC0415

        sided = [(self.buy, p, s) for p, s in bids] + [(self.sell, p, s) for p, s in asks]
        deltas = [
            OrderBookDelta(
                self.instrument_id,
                BookAction.UPDATE if size else BookAction.DELETE,
                self.order(side, price, size),
                RecordFlag.F_LAST if index == len(sided) - 1 else 0,
                0,
                0,
                0,
            )
            for index, (side, price, size) in enumerate(sided)
        ]
        return OrderBookDeltas(self.instrument_id, deltas)

    def reset(self, book: Any) -> None:
        """Empty ``book`` and load the snapshot."""
        book.clear(0)
        for order in self.snapshot_orders:
            book.update(order, 0)

    def run_prebuilt(self) -> None:
        book = self.books[0]
        for bids, asks in self.prebuilt:
            for order in bids:
                book.update(order, 0)
            for order in asks:
                book.update(order, 0)
            book.best_bid_price()
            book.best_bid_size()
            book.best_ask_price()
            book.best_ask_size()

    def run_deltas(self) -> None:
        book = self.books[1]
        for batch in self.batches:
            book.apply_deltas(batch)
            book.best_bid_price()
            book.best_bid_size()
            book.best_ask_price()
            book.best_ask_size()

    def run_from_ints(self) -> None:
        book, from_raw, buy, sell = self.books[2], self.from_raw, self.buy, self.sell
        price_scale, size_scale = self.price_scale, self.size_scale
        for bids, asks, _ in self.workload.diffs:
            for p, s in bids:
                order = from_raw(buy, p * price_scale, PRICE_PLACES, s * size_scale, SIZE_PLACES, 0)
                book.update(order, 0)
            for p, s in asks:
                order = from_raw(
                    sell, p * price_scale, PRICE_PLACES, s * size_scale, SIZE_PLACES, 0
                )
                book.update(order, 0)
            book.best_bid_price()
            book.best_bid_size()
            book.best_ask_price()
            book.best_ask_size()

    def top(self, book: Any) -> tuple[IntLevel | None, IntLevel | None]:
        """The book's best bid and ask in our ticks and lots."""
        bid, ask = book.best_bid_price(), book.best_ask_price()
        return (
            None
            if bid is None
            else (bid.raw // self.price_scale, book.best_bid_size().raw // self.size_scale),
            None
            if ask is None
            else (ask.raw // self.price_scale, book.best_ask_size().raw // self.size_scale),
        )

    def check(self) -> None:
        """Untimed: every variant's top after every diff equals our OrderBook's."""
        expected = tops_of(OrderBook(ETHUSDT), self.workload)
        for index, book in enumerate(self.books):
            self.reset(book)
            got = []
            for i in range(len(self.workload.diffs)):
                if index == 1:
                    book.apply_deltas(self.batches[i])
                else:
                    for order in self.prebuilt[i][0] + self.prebuilt[i][1]:
                        book.update(order, 0)
                got.append(self.top(book))
            if got != expected:
                raise AssertionError(f"Nautilus book {index} disagrees with OrderBook")

    def variants(self) -> list[BookVariant]:
        """The three ways, checked first."""
        self.check()
        books = self.books
        return [
            BookVariant(
                "Nautilus update() prebuilt BookOrders",
                lambda: self.reset(books[0]),
                self.run_prebuilt,
            ),
            BookVariant(
                "Nautilus apply_deltas() prebuilt per diff",
                lambda: self.reset(books[1]),
                self.run_deltas,
            ),
            BookVariant(
                "Nautilus update() BookOrder.from_raw in loop",
                lambda: self.reset(books[2]),
                self.run_from_ints,
            ),
        ]


# -- 3. end to end ----------------------------------------------------------------------------


def measure_e2e(path: str, repeats: int) -> dict[str, Any]:
    """Frames per second through ``run_replay`` (feed and book actors) in this runtime.

    Also timed on their own, to subtract: ``load_frames`` (reading and merging the
    capture, which ``run_replay`` does first) and, as a no-actor reference, the same
    frames through `binance.replay` in process (decode, `DepthSync`, ticker records).
    """
    from tradeactors import replay as replay_module  # noqa: PLC0415 - after the runtime
    from tradeactors.replay import load_frames, run_replay  # noqa: PLC0415

    instruments_of = getattr(replay_module, "_instruments", None)
    run_replay([path], "binance", verify=False)  # warm-up (imports, first tree)
    load_s: list[float] = []
    instruments_s: list[float] = []
    replay_s: list[float] = []
    inprocess_s: list[float] = []
    frames_count = 0
    summary: Any = None
    for repeat in range(repeats):
        log(f"  e2e repeat {repeat + 1}/{repeats}")
        gc.collect()
        started = time.perf_counter()
        frames = load_frames([path])
        load_s.append(time.perf_counter() - started)
        if instruments_of is not None:
            started = time.perf_counter()
            # a `saved` instrument file since the instrument-metadata change (None: none)
            try:
                found = instruments_of("binance", frames, None)
            except TypeError:  # an older replay, without it
                found = instruments_of("binance", frames)
            instruments_s.append(time.perf_counter() - started)
            # (instruments, kraken depths) since the Kraken-depth fix; a bare dict before
            instruments = found[0] if isinstance(found, tuple) else found
        else:
            instruments = {ETHUSDT.symbol: ETHUSDT}
        inprocess_s.append(timed(lambda f=frames, i=instruments: binance.replay(f, i)))
        gc.collect()
        started = time.perf_counter()
        summary = run_replay([path], "binance", verify=False)
        replay_s.append(time.perf_counter() - started)
        frames_count = summary.feed.frames
    if (
        summary is None
        or not summary.feed.finished
        or not all(b.synced for b in summary.books.values())
    ):
        raise AssertionError(f"replay did not finish in sync: {summary}")
    median_load = statistics.median(load_s)
    median_instruments = statistics.median(instruments_s) if instruments_s else 0.0
    median_replay = statistics.median(replay_s)
    return {
        "frames": frames_count,
        "repeats": repeats,
        "feed": {
            "frames": summary.feed.frames,
            "routed": summary.feed.routed,
            "dropped": summary.feed.dropped,
            "snapshot_requests": summary.feed.snapshot_requests,
        },
        "books": {
            s: {"applied": b.applied, "updates": b.updates, "synced": b.synced, "levels": b.levels}
            for s, b in summary.books.items()
        },
        "run_replay_s": replay_s,
        "load_frames_s": load_s,
        "instruments_s": instruments_s,
        "inprocess_replay_s": inprocess_s,
        "median_run_replay_s": median_replay,
        "median_load_frames_s": median_load,
        "median_instruments_s": median_instruments,
        "median_inprocess_replay_s": statistics.median(inprocess_s),
        "frames_per_s_whole": frames_count / median_replay,
        "frames_per_s_minus_load": frames_count / (median_replay - median_load),
        "frames_per_s_minus_load_and_instruments": frames_count
        / (median_replay - median_load - median_instruments),
        "inprocess_frames_per_s": frames_count / statistics.median(inprocess_s),
    }


# -- profiles ---------------------------------------------------------------------------------


def _print_stats(title: str, profile: pstats.Stats, top: int) -> None:
    out = io.StringIO()
    profile.stream = out  # type: ignore[attr-defined]
    profile.sort_stats("tottime").print_stats(top)
    print(f"\n===== {title} (sorted by own time) =====")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


def profile_all(path: str, top: int) -> None:
    """cProfile decoding, our book and a threads-runtime replay; print the top costs."""
    payloads = ws_payloads(path)
    profiler = cProfile.Profile()
    profiler.runcall(_decode_loop, binance.decode_frame, payloads, 3)
    _print_stats("decode_frame over all ws frames x3", pstats.Stats(profiler), top)

    workload = book_workload(path)
    book = OrderBook(ETHUSDT)
    profiler = cProfile.Profile()
    for _ in range(3):
        book.apply_snapshot(workload.snapshot_bids, workload.snapshot_asks, workload.snapshot_id)
        profiler.runcall(drive_book, book, workload.diffs)
    _print_stats("OrderBook over the ETHUSDT diffs x3", pstats.Stats(profiler), top)

    from tradeactors.replay import run_replay  # noqa: PLC0415

    # One profiler per thread: the hook installed by threading.setprofile runs once in
    # each new thread and replaces itself with that thread's cProfile.
    profiles: list[cProfile.Profile] = []

    def start_thread_profile(*_: object) -> None:
        thread_profile = cProfile.Profile()
        profiles.append(thread_profile)
        thread_profile.enable()

    main_profile = cProfile.Profile()
    threading.setprofile(start_thread_profile)
    try:
        main_profile.runcall(run_replay, [path], "binance", verify=False)
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    stats = pstats.Stats(main_profile)
    for thread_profile in profiles:
        thread_profile.create_stats()
        stats.add(thread_profile)
    _print_stats("run_replay, threads runtime, all threads", stats, top)
