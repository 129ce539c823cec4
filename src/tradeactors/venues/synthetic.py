"""A seeded synthetic Binance spot market: frames in the real wire format.

`synthetic_binance` builds a REST depth snapshot and a stream of ``depthUpdate`` diffs
(``U``/``u`` continuous) and ``bookTicker`` frames from a mid-price random walk with
levels added, resized and removed around it. The same seed gives the same frames, so
tests and demos get a realistic book without network or recorded data; the feed
replays them through the same decoding and sync code as a real capture.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING

from tradeactors.core.book import OrderBook
from tradeactors.venues.capture import Frame

if TYPE_CHECKING:
    from tradeactors.core.instrument import Instrument

__all__ = ["synthetic_binance"]

DELETE_PROBABILITY = 0.25
"""Chance that a level change deletes the level rather than resizing it."""


def synthetic_binance(
    instrument: Instrument,
    *,
    seed: int,
    diffs: int = 1000,
    mid_ticks: int = 100_000,
    levels: int = 50,
    start_ns: int = 1_700_000_000_000_000_000,
    interval_ns: int = 100_000_000,
) -> list[Frame]:
    """A snapshot and ``diffs`` diffs (each followed by a bookTicker) for ``instrument``."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible market, not cryptography
    symbol = instrument.symbol
    stream = f"{symbol.lower()}@depth@100ms"
    ticker_stream = f"{symbol.lower()}@bookTicker"
    book = OrderBook(instrument)
    mid = mid_ticks
    for i in range(1, levels + 1):
        book.set_bid(mid - i, rng.randint(1, 5000))
        book.set_ask(mid + i, rng.randint(1, 5000))
    update_id = 1000
    now = start_ns
    price, size = instrument.format_price, instrument.format_size
    snapshot = {
        "lastUpdateId": update_id,
        "bids": [[price(p), size(q)] for p, q in book.bids()],
        "asks": [[price(p), size(q)] for p, q in book.asks()],
    }
    url = f"https://api.binance.com/api/v3/depth?symbol={symbol}&limit=1000"
    frames = [Frame(received_ns=now, source="rest", url=url, payload=json.dumps(snapshot))]
    for _ in range(diffs):
        now += interval_ns
        mid = max(levels + 2, mid + rng.choice((-1, 0, 0, 1)))
        changes = _changes(book, rng, mid, levels)
        first, update_id = update_id + 1, update_id + rng.randint(1, 4)
        diff = {
            "e": "depthUpdate",
            "E": now // 1_000_000,
            "s": symbol,
            "U": first,
            "u": update_id,
            "b": [[price(p), size(q)] for p, q in sorted(changes["b"].items(), reverse=True)],
            "a": [[price(p), size(q)] for p, q in sorted(changes["a"].items())],
        }
        frames.append(
            Frame(
                received_ns=now, source="ws", payload=json.dumps({"stream": stream, "data": diff})
            )
        )
        best_bid, best_ask = book.best_bid(), book.best_ask()
        if best_bid is not None and best_ask is not None:
            ticker = {
                "u": update_id,
                "s": symbol,
                "b": price(best_bid[0]),
                "B": size(best_bid[1]),
                "a": price(best_ask[0]),
                "A": size(best_ask[1]),
            }
            frames.append(
                Frame(
                    received_ns=now + 1,
                    source="ws",
                    payload=json.dumps({"stream": ticker_stream, "data": ticker}),
                )
            )
    return frames


def _changes(
    book: OrderBook, rng: random.Random, mid: int, levels: int
) -> dict[str, dict[int, int]]:
    """Level changes around ``mid``, applied to ``book``; crossing levels are removed."""
    changes: dict[str, dict[int, int]] = {"b": {}, "a": {}}
    for p, _ in book.bids():
        if p >= mid:
            changes["b"][p] = 0
    for p, _ in book.asks():
        if p <= mid:
            changes["a"][p] = 0
    for _ in range(rng.randint(1, 6)):
        side = rng.choice("ba")
        distance = min(levels, int(rng.expovariate(0.3)) + 1)  # mostly near the top
        p = mid - distance if side == "b" else mid + distance
        changes[side][p] = 0 if rng.random() < DELETE_PROBABILITY else rng.randint(1, 5000)
    for p, q in changes["b"].items():
        book.set_bid(p, q)
    for p, q in changes["a"].items():
        book.set_ask(p, q)
    return changes
