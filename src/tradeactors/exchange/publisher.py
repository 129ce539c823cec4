"""Market data of the matching engine in Binance spot's wire format.

`BinancePublisher` compares the engine's book with what it last published and turns
the difference into a ``depthUpdate`` (``U``/``u`` continuous: one update id per level
changed), a ``bookTicker`` with the same ``u``, and ``trade`` events for fills; the
REST snapshot it serves carries the ``lastUpdateId`` of the last diff published.
So the Binance feed and `DepthSync` read the simulator exactly as they read Binance.
Not thread-safe: the exchange calls it under its own lock.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tradeactors.exchange.matching import EngineFilled, Liquidity, MatchingEngine, Side

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tradeactors.core.instrument import Instrument
    from tradeactors.exchange.matching import Event

__all__ = ["BinancePublisher"]

FULL_DEPTH = 10_000


class BinancePublisher:
    """Binance-format frames for one instrument of ``engine``."""

    def __init__(self, engine: MatchingEngine, instrument: Instrument) -> None:
        self._engine = engine
        self._instrument = instrument
        self._symbol = instrument.symbol
        self._stream = instrument.symbol.lower()
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self.update_id = 0
        self._trade_id = 0

    def _levels(self, side: Side) -> dict[int, int]:
        return dict(self._engine.depth(self._symbol, side, FULL_DEPTH))

    def publish(self, events: Iterable[Event], now_ns: int) -> list[str]:
        """Frames for what changed since the last call (``events``: the engine's, for trades).

        Trades of other instruments in ``events`` are not this publisher's: left out.
        """
        frames = [self._trade(e, now_ns) for e in events if self._is_trade(e)]
        bids, asks = self._levels(Side.BUY), self._levels(Side.SELL)
        changed_bids = _changes(self._bids, bids)
        changed_asks = _changes(self._asks, asks)
        if not (changed_bids or changed_asks):
            return frames
        first = self.update_id + 1
        self.update_id += len(changed_bids) + len(changed_asks)
        self._bids, self._asks = bids, asks
        price, size = self._instrument.format_price, self._instrument.format_size
        diff = {
            "e": "depthUpdate",
            "E": now_ns // 1_000_000,
            "s": self._symbol,
            "U": first,
            "u": self.update_id,
            "b": [[price(p), size(q)] for p, q in changed_bids],
            "a": [[price(p), size(q)] for p, q in changed_asks],
        }
        frames.append(json.dumps({"stream": f"{self._stream}@depth@100ms", "data": diff}))
        if bids and asks:
            best_bid, best_ask = max(bids), min(asks)
            ticker = {
                "u": self.update_id,
                "s": self._symbol,
                "b": price(best_bid),
                "B": size(bids[best_bid]),
                "a": price(best_ask),
                "A": size(asks[best_ask]),
            }
            frames.append(json.dumps({"stream": f"{self._stream}@bookTicker", "data": ticker}))
        return frames

    def top(self, limit: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The top ``limit`` levels of what was last published (bids high to low)."""
        bids = sorted(self._bids.items(), reverse=True)[:limit]
        asks = sorted(self._asks.items())[:limit]
        return bids, asks

    def snapshot(self, limit: int) -> str:
        """The REST depth answer for what was last published (``lastUpdateId``)."""
        price, size = self._instrument.format_price, self._instrument.format_size
        bids = sorted(self._bids.items(), reverse=True)[:limit]
        asks = sorted(self._asks.items())[:limit]
        return json.dumps(
            {
                "lastUpdateId": self.update_id,
                "bids": [[price(p), size(q)] for p, q in bids],
                "asks": [[price(p), size(q)] for p, q in asks],
            }
        )

    def _is_trade(self, event: Event) -> bool:
        # one trade per match: report the taker's side of it
        return (
            isinstance(event, EngineFilled)
            and event.liquidity is Liquidity.TAKER
            and event.instrument == self._symbol
        )

    def _trade(self, fill: Event, now_ns: int) -> str:
        assert isinstance(fill, EngineFilled)  # noqa: S101 - filtered by _is_trade
        self._trade_id += 1
        data = {
            "e": "trade",
            "E": now_ns // 1_000_000,
            "s": self._symbol,
            "t": self._trade_id,
            "p": self._instrument.format_price(fill.price),
            "q": self._instrument.format_size(fill.quantity),
            "T": now_ns // 1_000_000,
            "m": fill.side is Side.SELL,  # the buyer was the maker when the taker sold
        }
        return json.dumps({"stream": f"{self._stream}@trade", "data": data})


def _changes(before: dict[int, int], after: dict[int, int]) -> list[tuple[int, int]]:
    changed = [(p, q) for p, q in after.items() if before.get(p) != q]
    changed.extend((p, 0) for p in before if p not in after)
    return sorted(changed)
