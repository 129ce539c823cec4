"""Fuzz the venue decoders, the book syncs and the capture readers with mutated real frames.

Issue 18, item 6: deeply nested JSON escaped the decoders as ``RecursionError``,
``Infinity`` timestamps crashed the capture reader, and book syncs published crossed books
and zero prices. This drives what the feed and book actors call, in process and seeded:

- **Frames**: real frames of ``../shared/data`` (Binance: the cryptofeed REST snapshots and
  websocket capture, and hftbacktest's six minutes of ETHUSDT; Kraken: the cryptofeed v1
  ``book-1000`` capture, and the same messages rewritten as websocket v2), replayed in
  *episodes*: a snapshot of a book taken from a clean replay (or the capture's own), then
  up to 48 of the frames that followed it. Each frame is mutated with probability 1/2 by
  one to three of: deep nesting (64 to 50,000 levels), huge and special numbers
  (``1e999999``, 60 and 5,000 digits, ``NaN``, ``Infinity``, ``-0``, ``1e5``), wrong types,
  truncation, unicode (lone surrogates, escapes, other scripts' digits, NUL, BOM), random
  characters, JSON structure (keys and elements dropped, duplicated, swapped), book
  semantics (crossing levels, swapped sides, zero and negative prices), a REST/websocket
  swap, and the other venue's frames.
- **What is checked**, as the actors would call it: ``MarketData.decode`` raises nothing but
  `FrameDroppedError` (counted by reason, as the feed does); ``BookSync.on_event`` returns a
  `BookOutcome` and never raises; every book it says to publish passes
  ``OrderBook.check_invariants()`` (sorted, prices of at least one tick, no empty level,
  nothing beyond 64 bits, not crossed); ``trade_tick`` raises nothing but `ParseError`; the
  ticker verifier raises nothing.
- **Capture lines** (cryptofeed, hftbacktest, tradeactors' own format) with mutated
  timestamps (``Infinity``, ``NaN``, ``1e999999``, ``-1``, ``1_0``, 30 digits...), bytes
  that are not UTF-8, separators removed, and corrupt or truncated gzip: each reader yields
  frames or raises `CaptureFormatError`, nothing else.

A crash is any other exception, or a published book that breaks an invariant; the report
counts them (0 is the pass mark) with samples. ``RecursionError`` depends on how deep the
caller's stack already is, so drop counts by reason can differ by a few between callers;
crashes cannot.

Run (from the project root)::

    .venv/bin/python bench/fuzz_decoders.py                    # 1,000,000 a venue, ~4 min
    .venv/bin/python bench/fuzz_decoders.py --frames 20000 --output-dir /tmp

It writes ``results/fuzz_decoders.md``. ``tests/unit/venues/test_decoders_fuzz.py``
imports this module and runs a bounded, seeded pass (20,000 fuzzed frames a venue) in CI.
"""

from __future__ import annotations

import argparse
import gzip
import heapq
import io
import json
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeactors.core.instrument import Instrument
from tradeactors.errors import BookError, CaptureFormatError, FrameDroppedError, ParseError
from tradeactors.venues import binance, kraken
from tradeactors.venues.adapter import BookOutcome, EventKind
from tradeactors.venues.capture import (
    MAX_NS,
    Frame,
    cryptofeed_frames,
    hftbacktest_frames,
    read_capture,
)
from tradeactors.venues.recording import HEADER, recording_frames

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tradeactors.venues.adapter import BookSync, MarketData

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
BINANCE_FILES = (
    ("cryptofeed/BINANCE.http.0.0", "cryptofeed/BINANCE.ws.1.0"),
    ("hftbacktest/ethusdt_20240808.gz",),
)
KRAKEN_FILES = (("cryptofeed/KRAKEN.ws.50.0",),)
BINANCE_STEP = "0.00000001"  # Binance writes 8 decimals (as tradeactors.replay infers)
SNAPSHOT_DEPTH = 50  # levels a side in a synthesized snapshot (and Kraken's kept depth)
CHECKPOINT_EVERY = 20  # applied updates between two synthesized snapshots
MAX_EPISODE = 48  # frames after a snapshot, at most
MUTATION_RATE = 0.5
ADAPTERS = {"binance": binance.ADAPTER, "kraken": kraken.ADAPTER}


# -- seeds: real frames, grouped per instrument, with places to start from ------------------


@dataclass
class Stream:
    """One instrument's frames in capture order, and snapshots to start episodes from.

    ``starts`` holds ``(index, snapshot)``: replay ``frames[index:]`` after ``snapshot``
    (None: from the capture's beginning, whose own snapshot comes in its place).
    """

    symbol: str
    instrument: Instrument
    frames: list[Frame]
    starts: list[tuple[int, Frame | None]]
    messages: dict[int, tuple[kraken.BookMessage, ...]] = field(default_factory=dict)


def _load(paths: tuple[str, ...]) -> list[Frame]:
    files = [read_capture(DATA / p) for p in paths]
    return list(heapq.merge(*files, key=lambda f: f.received_ns))


def binance_streams() -> list[Stream]:
    """Per symbol: the frames of the Binance captures, and checkpoints of a clean replay."""
    streams = []
    market_data = binance.ADAPTER.market_data
    for paths in BINANCE_FILES:
        frames = _load(paths)
        by_symbol: dict[str, list[Frame]] = {}
        for frame in frames:
            if frame.source == "ws":
                stream = json.loads(frame.payload).get("stream", "")
                symbol = stream.partition("@")[0].upper()
                by_symbol.setdefault(symbol, []).append(frame)
        rest = [f for f in frames if f.source == "rest"]
        for symbol, own in by_symbol.items():
            snapshots = [f for f in rest if binance.url_symbol(f.url) in (symbol, None)]
            merged = list(heapq.merge(own, snapshots, key=lambda f: f.received_ns))
            instrument = Instrument(
                venue="binance", symbol=symbol, tick_size=BINANCE_STEP, lot_size=BINANCE_STEP
            )
            stream = Stream(symbol, instrument, merged, [(0, None)])
            sync = market_data.book_sync(instrument, mode="spot", max_depth=1000)
            _checkpoints(stream, market_data, sync, _binance_snapshot)
            streams.append(stream)
    return streams


def _binance_snapshot(stream: Stream, sync: BookSync) -> Frame:
    book, instrument = sync.book, stream.instrument
    levels = [
        [[instrument.format_price(p), instrument.format_size(q)] for p, q in side]
        for side in (book.bids(SNAPSHOT_DEPTH), book.asks(SNAPSHOT_DEPTH))
    ]
    payload = json.dumps(
        {"lastUpdateId": book.update_id, "bids": levels[0], "asks": levels[1]},
        separators=(",", ":"),
    )
    url = f"https://api.binance.com/api/v3/depth?symbol={stream.symbol}&limit=1000"
    return Frame(received_ns=0, source="rest", url=url, payload=payload)


def kraken_streams() -> list[Stream]:
    """Per pair: the frames of the Kraken capture, and checkpoints of a clean replay."""
    streams: dict[str, Stream] = {}
    market_data = kraken.ADAPTER.market_data
    for paths in KRAKEN_FILES:
        for frame in _load(paths):
            messages = kraken.decode_any_book_messages(frame.payload)
            if not messages:
                continue
            pair = messages[0].pair
            stream = streams.get(pair)
            if stream is None:
                instrument = kraken.KrakenBook.instrument_for(pair, messages[0])
                stream = streams[pair] = Stream(pair, instrument, [], [(0, None)])
            stream.messages[len(stream.frames)] = messages
            stream.frames.append(frame)
    for stream in streams.values():
        sync = market_data.book_sync(stream.instrument, mode="", max_depth=1000)
        _checkpoints(stream, market_data, sync, _kraken_snapshot)
    return list(streams.values())


def _kraken_snapshot(stream: Stream, sync: BookSync) -> Frame:
    book, instrument = sync.book, stream.instrument
    levels = [
        [
            [instrument.format_price(p), instrument.format_size(q), "1618678132.000000"]
            for p, q in side
        ]
        for side in (book.asks(SNAPSHOT_DEPTH), book.bids(SNAPSHOT_DEPTH))
    ]
    payload = json.dumps(
        [1, {"as": levels[0], "bs": levels[1]}, f"book-{SNAPSHOT_DEPTH}", stream.symbol],
        separators=(",", ":"),
    )
    return Frame(received_ns=0, source="ws", payload=payload)


def _checkpoints(
    stream: Stream,
    market_data: MarketData,
    sync: BookSync,
    snapshot: Callable[[Stream, BookSync], Frame],
) -> None:
    applied = 0
    for index, frame in enumerate(stream.frames):
        try:
            events = market_data.decode(frame)
        except FrameDroppedError:
            continue  # klines
        for event in events:
            if event.kind is not EventKind.BOOK:
                continue
            if sync.on_event(event.data) is BookOutcome.APPLIED:
                applied += 1
                if applied % CHECKPOINT_EVERY == 0:
                    stream.starts.append((index + 1, snapshot(stream, sync)))


# -- mutations ------------------------------------------------------------------------------

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null')
DEPTHS = (64, 255, 512, 900, 999, 1000, 1001, 1500, 5000, 50_000)
NUMBERS = (
    "1e999999", "-1e999999", "1E400", "1e-999999", "123456789012345678901234567890",
    "1" + "0" * 59, "9" * 60, "9" * 61, "9" * 5000, "18446744073709551616",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "-1", "-0", "0",
    "0.0", "0.00000000", "1e5", "1.5", "0.0000000000000000000000001", "2683.800000001",
)  # fmt: skip
NOT_JSON_NUMBERS = ("NaN", "Infinity", "-Infinity", "nan", "inf", "00001", ".5", "5.", "+1", "0x1F")
WRONG_TYPES = (
    "null", "true", "false", "{}", "[]", '""', '"x"', '[["1","2"]]', '{"a":1}', "[1,2,3]",
    "0", "[null]", "[[]]", '{"":""}', '[["1"]]', '[["1","2","3","4"]]',
)  # fmt: skip
UNICODE = (
    "\ud800", "\udfff", "\\ud800", "\\udc00x", "\\u0000", "\x00", "\ufeff", "\u0663",
    "\uff11\uff12", "\u00e9", "\U0001f600", "\u200b", "\u202e", "\\uFFFF", "\\x41", "\\",
    "\x7f", "\uffff", "\u0660.\u0661",
)  # fmt: skip
OTHER_DIGITS = (  # Arabic-Indic and fullwidth: str.isdigit() says yes to both
    "".join(chr(0x0660 + d) for d in range(10)),
    "".join(chr(0xFF10 + d) for d in range(10)),
)
NOISE = '[]{}",:.-+eE0123456789 \\tnul'


def _span(rng: random.Random, text: str) -> tuple[int, int]:
    """The JSON token at or after a random point of ``text`` (the point, if none is).

    Not uniform over tokens (one after a long string is likelier), but O(distance) where
    listing every token of a snapshot would dominate the run.
    """
    at = rng.randrange(len(text) + 1)
    match = _TOKEN.search(text, at) or _TOKEN.search(text)
    return (at, at) if match is None else match.span()


def _splice(text: str, span: tuple[int, int], new: str) -> str:
    return text[: span[0]] + new + text[span[1] :]


def deep(rng: random.Random, text: str) -> str:
    """A token, or the whole frame, wrapped in 64 to 50,000 arrays or objects."""
    depth = rng.choice(DEPTHS)
    opening, closing = rng.choice((("[", "]"), ('{"a":', "}"), ("[1,", "]"), ('{"data":', "}")))
    if rng.random() < 0.2:
        return opening * depth + text + closing * depth
    span = _span(rng, text)
    rest = text[span[1] : span[1] + 2].lstrip()
    if rest.startswith(":"):  # a key: nest its value instead, so the JSON stays valid
        value = _TOKEN.search(text, span[1])
        span = (span[1] + text[span[1] :].index(":") + 1,) * 2 if value is None else value.span()
    return _splice(text, span, opening * depth + text[span[0] : span[1]] + closing * depth)


def huge_number(rng: random.Random, text: str) -> str:
    """A token replaced by a huge, tiny, negative or special number, raw or quoted."""
    number = rng.choice(NOT_JSON_NUMBERS if rng.random() < 0.25 else NUMBERS)
    if rng.random() < 0.5:
        number = f'"{number}"'
    return _splice(text, _span(rng, text), number)


def wrong_type(rng: random.Random, text: str) -> str:
    """A token replaced by a value of another type."""
    return _splice(text, _span(rng, text), rng.choice(WRONG_TYPES))


def truncate(rng: random.Random, text: str) -> str:
    """The frame cut short (or emptied)."""
    return text[: rng.randrange(len(text) + 1)]


def unicode(rng: random.Random, text: str) -> str:
    """Lone surrogates, escapes, NUL, BOM, other scripts' digits, inside or around a token."""
    if rng.random() < 0.3:
        digits = rng.choice(OTHER_DIGITS)
        span = _span(rng, text)
        token = text[span[0] : span[1]]
        return _splice(text, span, re.sub("[0-9]", lambda m: digits[int(m.group())], token))
    at = rng.randrange(len(text) + 1)
    if rng.random() < 0.5:
        start, end = _span(rng, text)
        if end - start >= 2 and text[start] == '"':
            at = rng.randrange(start + 1, end)
    return text[:at] + rng.choice(UNICODE) + text[at:]


def noise(rng: random.Random, text: str) -> str:
    """Characters inserted, deleted or replaced at random."""
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(chars) + 1)
        op = rng.random()
        if op < 1 / 3 or not chars:
            chars.insert(at, rng.choice(NOISE))
        elif op < 2 / 3 and at < len(chars):
            del chars[at]
        elif at < len(chars):
            chars[at] = rng.choice(NOISE)
    return "".join(chars)


def structure(rng: random.Random, text: str) -> str:
    """A node of the JSON tree dropped, duplicated, swapped with a sibling, or retyped."""
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError):
        return noise(rng, text)
    nodes: list[Any] = []
    _containers(tree, nodes, budget=400)
    if not nodes:
        return rng.choice(WRONG_TYPES)
    node = rng.choice(nodes)
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    if not keys:
        node_text = rng.choice(WRONG_TYPES)
        return _dumps(tree).replace("[]" if isinstance(node, list) else "{}", node_text, 1)
    key = rng.choice(keys)
    op = rng.randrange(4)
    if op == 0:
        del node[key]
    elif op == 1 and isinstance(node, list):
        node.insert(key, node[key])
    elif op == 1:
        node[key + "_"] = node[key]
    elif op == 2:
        other = rng.choice(keys)
        node[key], node[other] = node[other], node[key]
    else:
        node[key] = json.loads(rng.choice(WRONG_TYPES))
    return _dumps(tree)


def _containers(value: Any, out: list[Any], budget: int) -> None:
    stack = [value]
    while stack and len(out) < budget:
        item = stack.pop()
        if isinstance(item, dict | list):
            out.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)


def _dumps(tree: Any) -> str:
    return json.dumps(tree, separators=(",", ":"), ensure_ascii=False)


def book_semantics(rng: random.Random, text: str) -> str:
    """Book levels that cross, swapped sides, zero or negative prices, bad ids."""
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError):
        return noise(rng, text)
    sides = _book_sides(tree)
    if sides is None:
        return structure(rng, text)
    holder, bid_key, ask_key = sides
    bids, asks = _side(holder, bid_key), _side(holder, ask_key)
    op = rng.randrange(5)
    if op == 0:  # swap the sides
        holder[bid_key], holder[ask_key] = holder.get(ask_key), holder.get(bid_key)
    elif op == 1:  # a bid at the best ask, or an ask at the best bid: crossed
        side, other = rng.choice(((bids, asks), (asks, bids)))
        if other and isinstance(other[0], list) and other[0]:
            side.insert(0, [other[0][0], "1.00000000", "1.0"])
    elif op == 2:
        side, price = rng.choice(((bids, "99999999.00000000"), (asks, "0.00000001")))
        side.insert(0, [price, "2.00000000", "1.0"])
    elif op == 3:
        side = rng.choice((bids, asks))
        level = side[rng.randrange(len(side))] if side else None
        if isinstance(level, list) and level:
            value = rng.choice(("0", "0.00000000", "-1.00000000", "-0", "1" + "0" * 59))
            level[rng.randrange(min(2, len(level)))] = value
    else:
        _bad_id(rng, holder)
    return _dumps(tree)


def _bad_id(rng: random.Random, holder: dict[str, Any]) -> None:
    """An update id or a checksum out of range or of the wrong type."""
    for key in ("U", "u", "lastUpdateId", "pu", "checksum", "c"):
        if key in holder:
            holder[key] = rng.choice((-1, 0, 2**63, 2**64, 10**30, "1", None, 1.5))
            return
    holder["U"] = 2**63


def _side(holder: dict[str, Any], key: str) -> list[Any]:
    """``holder[key]``, made a list if it is not one."""
    side = holder.get(key)
    if not isinstance(side, list):
        side = holder[key] = []
    return side


def _book_sides(tree: Any) -> tuple[dict[str, Any], str, str] | None:
    """Where a frame's bids and asks are: (the object, the bids key, the asks key)."""
    if isinstance(tree, dict):
        data = tree.get("data", tree)
        if isinstance(data, dict) and ("b" in data or "a" in data):
            return data, "b", "a"
        if isinstance(data, dict) and ("bids" in data or "asks" in data):
            return data, "bids", "asks"
        if isinstance(data, list) and data and isinstance(data[0], dict):  # Kraken v2
            return data[0], "bids", "asks"
    if isinstance(tree, list):
        for item in tree:
            if isinstance(item, dict) and ("bs" in item or "as" in item):
                return item, "bs", "as"
            if isinstance(item, dict) and ("b" in item or "a" in item):
                return item, "b", "a"
    return None


TEXT_MUTATIONS: dict[str, Callable[[random.Random, str], str]] = {
    "deep_nesting": deep,
    "huge_number": huge_number,
    "wrong_type": wrong_type,
    "truncation": truncate,
    "unicode": unicode,
    "noise": noise,
    "structure": structure,
    "book_semantics": book_semantics,
}
WEIGHTS = {
    "deep_nesting": 3,
    "huge_number": 3,
    "wrong_type": 2,
    "truncation": 1,
    "unicode": 2,
    "noise": 2,
    "structure": 2,
    "book_semantics": 4,
}


def mutate(rng: random.Random, frame: Frame, foreign: list[Frame]) -> tuple[Frame, list[str]]:
    """``frame`` with one to three mutations; their names."""
    if rng.random() < 0.03:
        return rng.choice(foreign), ["foreign"]
    kinds = []
    payload = frame.payload
    source = frame.source
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.choices(names, weights)[0]
        kinds.append(kind)
        payload = TEXT_MUTATIONS[kind](rng, payload)
    if rng.random() < 0.02:
        source = "ws" if source == "rest" else "rest"
        kinds.append("source_swap")
    return Frame(
        received_ns=frame.received_ns, source=source, url=frame.url, payload=payload
    ), kinds


def _messages(stream: Stream, position: int, frame: Frame) -> tuple[kraken.BookMessage, ...]:
    if position >= 0:
        return stream.messages.get(position, ())
    return kraken.decode_any_book_messages(frame.payload)  # a synthesized snapshot


def kraken_v2(frame: Frame, messages: tuple[kraken.BookMessage, ...] | None) -> Frame:
    """A Kraken v1 book frame rewritten as websocket v2 (numbers written as sent)."""
    if not messages:
        return frame
    books = []
    for message in messages:
        sides = [
            "[" + ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in levels) + "]"
            for levels in (message.bids, message.asks)
        ]
        crc = "" if message.checksum is None else f',"checksum":{message.checksum}'
        books.append(f'{{"symbol":"{message.pair}","bids":{sides[0]},"asks":{sides[1]}{crc}}}')
    kind = "snapshot" if messages[0].snapshot else "update"
    payload = f'{{"channel":"book","type":"{kind}","data":[{",".join(books)}]}}'
    return Frame(received_ns=frame.received_ns, source="ws", payload=payload)


# -- the run --------------------------------------------------------------------------------


@dataclass
class Report:
    """What one venue's (or the capture readers') fuzz run found."""

    name: str
    seed: int
    frames: int = 0
    mutated: int = 0
    seconds: float = 0.0
    mutations: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    published: int = 0
    trades_refused: int = 0
    crashes: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    @property
    def crash_count(self) -> int:
        """Exceptions that escaped, and published books that broke an invariant."""
        return sum(self.crashes.values())

    def crash(self, site: str, error: BaseException, kinds: list[str], payload: str) -> None:
        """Count an escaped exception (or a broken invariant) and keep a few samples."""
        self.crashes[f"{site}: {type(error).__name__}"] += 1
        if len(self.samples) < 10:
            self.samples.append(
                f"{site}: {type(error).__name__}: {str(error)[:160]} "
                f"(mutations {'+'.join(kinds) or 'none'}; payload {payload[:160]!r})"
            )


def fuzz_venue(
    venue: str, fuzzed: int, seed: int, streams: list[Stream], foreign: list[Frame]
) -> Report:
    """Feed episodes of real frames, ``fuzzed`` of them mutated, through ``venue``'s adapter."""
    rng = random.Random(seed)
    report = Report(name=venue, seed=seed)
    market_data = ADAPTERS[venue].market_data
    weights = [len(s.frames) for s in streams]
    started = time.perf_counter()
    while report.mutated < fuzzed:
        stream = rng.choices(streams, weights)[0]
        index, snapshot = rng.choice(stream.starts)
        count = rng.randint(1, MAX_EPISODE)
        episode = list(enumerate(stream.frames[index : index + count], index))
        if snapshot is not None:
            episode.insert(0, (-1, snapshot))
        v2 = venue == "kraken" and rng.random() < 0.2
        sync = market_data.book_sync(stream.instrument, mode="spot", max_depth=SNAPSHOT_DEPTH)
        verifier = market_data.ticker_verifier(stream.instrument)
        for position, original in episode:
            frame = original
            if v2:
                frame = kraken_v2(original, _messages(stream, position, original))
            kinds: list[str] = []
            if rng.random() < MUTATION_RATE:
                frame, kinds = mutate(rng, frame, foreign)
                report.mutated += 1
                report.mutations.update(kinds)
            report.frames += 1
            _check(
                report,
                market_data,
                stream=stream,
                sync=sync,
                verifier=verifier,
                frame=frame,
                kinds=kinds,
            )
    report.seconds = time.perf_counter() - started
    return report


def _check(  # noqa: C901, PLR0912 - one branch per kind of event, as the actors route them
    report: Report,
    market_data: MarketData,
    *,
    stream: Stream,
    sync: BookSync,
    verifier: Any,
    frame: Frame,
    kinds: list[str],
) -> None:
    try:
        events = market_data.decode(frame)
    except FrameDroppedError as exc:
        report.dropped[exc.reason] += 1
        return
    except Exception as exc:  # noqa: BLE001 - what the harness is looking for
        report.crash("decode", exc, kinds, frame.payload)
        return
    for event in events:
        if event.symbol and event.symbol != stream.symbol:  # the feed's routing
            report.dropped["unknown_symbol"] += 1
            continue
        if event.kind is EventKind.BOOK:
            try:
                outcome = sync.on_event(event.data)
            except Exception as exc:  # noqa: BLE001
                report.crash("on_event", exc, kinds, frame.payload)
                continue
            if not isinstance(outcome, BookOutcome):
                report.crash("on_event", TypeError(repr(outcome)), kinds, frame.payload)
                continue
            report.outcomes[outcome.value] += 1
            if outcome.publishes:
                report.published += 1
                try:
                    sync.book.check_invariants()
                except BookError as exc:
                    report.crash("published", exc, kinds, frame.payload)
        elif event.kind is EventKind.TRADE:
            try:
                market_data.trade_tick(stream.instrument, event.data)
            except ParseError:
                report.trades_refused += 1
            except Exception as exc:  # noqa: BLE001
                report.crash("trade_tick", exc, kinds, frame.payload)
        elif verifier is not None:
            try:
                verifier.add_ticker(event.data)
            except Exception as exc:  # noqa: BLE001
                report.crash("add_ticker", exc, kinds, frame.payload)


# -- capture readers ------------------------------------------------------------------------

TIMESTAMPS = (
    "Infinity", "-Infinity", "NaN", "sNaN", "1e999999", "1E9", "-1", "-0", "+1", "1_000",
    "\uff11\uff12\uff13", "\u0661\u0662", "", " ", "1.5e3", "0x10", "9" * 30, "9" * 5000,
    "9223372036854775808", "9223372036854775807", "1633998512.", ".5", "1633998512.0633569 ",
    "\x00", "1633998512.06335691234567891234567890123", "99999999999.9",
)  # fmt: skip
BAD_BYTES = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80\x80", b"\r", b"\x00")


def capture_lines() -> dict[str, list[bytes]]:
    """Real lines of each capture format (the first 300 of each file, and its header)."""
    out: dict[str, list[bytes]] = {}
    with (DATA / "cryptofeed" / "BINANCE.ws.1.0").open("rb") as file:
        out["cryptofeed"] = [line for _, line in zip(range(300), file, strict=False)]
    with (DATA / "cryptofeed" / "BINANCE.http.0.0").open("rb") as file:
        out["cryptofeed"].extend(line.rstrip(b"\n")[:4000] + b"\n" for line in file if line.strip())
    with gzip.open(DATA / "hftbacktest" / "ethusdt_20240808.gz", "rb") as file:
        out["hftbacktest"] = [line for _, line in zip(range(300), file, strict=False)]
    out["recording"] = [
        f"{f.received_ns} {f.source} {f.url + ' ' if f.url else ''}{f.payload}\n".encode()
        for f in (*_frames_of(out["cryptofeed"], cryptofeed_frames),)
    ]
    return out


def _frames_of(
    lines: list[bytes], reader: Callable[[str, list[bytes]], Iterator[Frame]]
) -> list[Frame]:
    return list(reader("seed", lines))


def _mutate_line(  # noqa: PLR0911 - one return per kind of damage
    rng: random.Random, line: bytes, fmt: str
) -> bytes:
    text = line.decode()
    op = rng.randrange(5)
    if op == 0:  # the timestamp
        stamp = rng.choice(TIMESTAMPS)
        if fmt == "cryptofeed":
            head, sep, body = text.partition(": ")
            if " -> " in head:
                return f"{head.partition(' -> ')[0]} -> {stamp}{sep}{body}".encode(
                    "utf-8", "surrogatepass"
                )
            return f"{stamp}{sep}{body}".encode("utf-8", "surrogatepass")
        _, sep, body = text.partition(" ")
        return f"{stamp}{sep}{body}".encode("utf-8", "surrogatepass")
    if op == 1:  # bytes that are not UTF-8
        at = rng.randrange(len(line) + 1)
        return line[:at] + rng.choice(BAD_BYTES) + line[at:]
    if op == 2:  # separators gone
        return line.replace(b": ", b":", 1) if fmt == "cryptofeed" else line.replace(b" ", b"", 2)
    if op == 3:  # a deeply nested payload
        return (text.rstrip("\n") + "[" * rng.choice(DEPTHS) + "\n").encode()
    return truncate(rng, text).encode("utf-8", "surrogatepass")


def fuzz_captures(lines_wanted: int, seed: int, gzip_cases: int = 200) -> Report:
    """Mutated capture lines through each reader, one at a time; and corrupt gzip files."""
    rng = random.Random(seed)
    report = Report(name="capture readers", seed=seed)
    seeds = capture_lines()
    header = HEADER.encode() + b"\n"
    readers: dict[str, Callable[[str, list[bytes]], Iterator[Frame]]] = {
        "cryptofeed": cryptofeed_frames,
        "hftbacktest": hftbacktest_frames,
        "recording": recording_frames,
    }
    started = time.perf_counter()
    while report.mutated < lines_wanted:
        fmt = rng.choice(list(readers))
        line = _mutate_line(rng, rng.choice(seeds[fmt]), fmt)
        lines = [header, line] if fmt == "recording" else [line]
        report.mutated += 1
        report.frames += 1
        report.mutations[fmt] += 1
        _read(report, readers[fmt], lines, fmt, repr(line[:160]))
    gz = gzip.compress(b"".join(seeds["hftbacktest"][:50]))
    for _ in range(gzip_cases):
        broken = bytearray(gz[: rng.randrange(len(gz) + 1)])
        for _ in range(rng.randint(0, 3)):
            if broken:
                broken[rng.randrange(len(broken))] = rng.randrange(256)
        report.mutated += 1
        report.frames += 1
        report.mutations["gzip"] += 1
        with gzip.GzipFile(fileobj=io.BytesIO(bytes(broken))) as file:
            _read(report, hftbacktest_frames, file, "gzip", f"{len(broken)} gzip bytes")
    report.seconds = time.perf_counter() - started
    return report


def _read(
    report: Report, reader: Callable[..., Iterator[Frame]], lines: Any, fmt: str, sample: str
) -> None:
    try:
        for frame in reader(f"{fmt}.capture", lines):
            if not 0 <= frame.received_ns <= MAX_NS:
                report.crash(fmt, ValueError(f"received_ns {frame.received_ns}"), [fmt], sample)
            report.outcomes["read"] += 1
    except CaptureFormatError as exc:
        report.dropped["CaptureFormatError"] += 1
        if ":" not in str(exc):
            report.crash(fmt, exc, [fmt], sample)  # no line number
    except Exception as exc:  # noqa: BLE001 - what the harness is looking for
        report.crash(fmt, exc, [fmt], sample)


# -- the script -----------------------------------------------------------------------------


def foreign(streams: dict[str, list[Stream]], venue: str) -> list[Frame]:
    """Frames of the venues other than ``venue``: what a misconfigured feed would get."""
    return [
        f
        for other, own in streams.items()
        if other != venue
        for s in own
        for f in s.frames[:2000:7]
    ]


def run(fuzzed: int, seed: int, venues: tuple[str, ...], capture_lines_wanted: int) -> list[Report]:
    """Every venue's run (``fuzzed`` mutated frames each), then the capture readers'."""
    streams = {"binance": binance_streams(), "kraken": kraken_streams()}
    reports = [
        fuzz_venue(venue, fuzzed, seed, streams[venue], foreign(streams, venue)) for venue in venues
    ]
    if capture_lines_wanted:
        reports.append(fuzz_captures(capture_lines_wanted, seed))
    return reports


def markdown(reports: list[Report], command: str, info: dict[str, Any], git: str) -> str:
    """The results as Markdown."""
    lines = [
        "# Fuzzing the venue decoders, book syncs and capture readers",
        "",
        f"- command (from the project root): `{command}`",
        f"- git: `{git}`; date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}",
        f"- machine: {info['nproc']} CPUs, {info['cpu_model']}, Linux {info['kernel']}",
        f"- Python {info['python']} ({info['python_implementation']}); msgspec {info['msgspec']}",
        f"- data: `{DATA}` (see its README)",
        "",
        (
            "A crash is an exception other than the ones each entry point documents "
            "(`FrameDroppedError` from `decode`, none from `BookSync.on_event`, `ParseError` "
            "from `trade_tick`, `CaptureFormatError` from the readers), or a book said to be "
            "published that fails `check_invariants()`. See the module docstring of "
            "`bench/fuzz_decoders.py` for the mutations."
        ),
        "",
        "| run | frames | fuzzed | crashes | published books | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.name} | {r.frames:,} | {r.mutated:,} | {r.crash_count} | {r.published:,} "
        f"| {r.seconds:.1f} |"
        for r in reports
    ]
    for r in reports:
        lines += ["", f"## {r.name} (seed {r.seed})", ""]
        lines.append("- dropped / refused: " + _counts(r.dropped))
        if r.outcomes:
            lines.append("- book outcomes / frames read: " + _counts(r.outcomes))
        if r.trades_refused:
            lines.append(f"- trades refused (`ParseError`): {r.trades_refused:,}")
        lines.append("- mutations applied: " + _counts(r.mutations))
        lines.append("- crashes: " + (_counts(r.crashes) if r.crashes else "none"))
        lines += [f"  - `{sample}`" for sample in r.samples]
    return "\n".join(lines) + "\n"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in sorted(counter.items())) or "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000, help="fuzzed frames a venue")
    parser.add_argument("--capture-lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--venues", nargs="+", default=["binance", "kraken"])
    parser.add_argument("--output-dir", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"no market data at {DATA}: put ../shared beside the project", file=sys.stderr)
        return 2
    from _provenance import git_state, machine_info  # noqa: PLC0415 - only when run as a script

    reports = run(args.frames, args.seed, tuple(args.venues), args.capture_lines)
    command = " ".join([".venv/bin/python", "bench/fuzz_decoders.py", *sys.argv[1:]])
    text = markdown(reports, command, machine_info(), git_state())
    out = Path(args.output_dir) / "fuzz_decoders.md"
    out.write_text(text)
    print(text)
    return 1 if any(r.crash_count for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
