"""An L2 order book with integer prices and sizes, and the immutable views it publishes.

Levels live in two ``sortedcontainers.SortedDict``s. Bids are keyed by the negated
price so that, on both sides, index 0 is the best level: best-level reads are
``peekitem(0)``, O(1); setting or deleting a level is O(log n).
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

import msgspec
from sortedcontainers import SortedDict

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tradeactors.core.instrument import Instrument

__all__ = ["BookError", "BookView", "Level", "OrderBook"]

Level = tuple[int, int]
"""``(price in ticks, size in lots)``."""


class BookError(AssertionError):
    """The book broke one of its invariants (a bug, or a venue stream applied wrongly)."""


class BookView(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """An immutable picture of the top of a book, safe to send to other actors."""

    instrument: str
    update_id: int
    timestamp_ns: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def best_bid(self) -> Level | None:
        """The highest bid, or None."""
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        """The lowest ask, or None."""
        return self.asks[0] if self.asks else None


class OrderBook:
    """Price levels of one instrument. Sizes of 0 delete a level.

    The book does not decide whether an update is in sequence: the venue's sync rules
    (``tradeactors.venues``) do, and feed it only what is.
    """

    __slots__ = ("_asks", "_bids", "instrument", "update_id")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self._bids: SortedDict = SortedDict()  # -price -> size
        self._asks: SortedDict = SortedDict()  # price -> size
        self.update_id = 0

    def clear(self) -> None:
        """Remove every level."""
        self._bids.clear()
        self._asks.clear()
        self.update_id = 0

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], update_id: int) -> None:
        """Replace the whole book. Zero-size levels in a snapshot are ignored."""
        self._bids = SortedDict({-price: size for price, size in bids if size})
        self._asks = SortedDict({price: size for price, size in asks if size})
        self.update_id = update_id

    def set_bid(self, price: int, size: int) -> None:
        """Set the bid level at ``price`` to ``size`` (0 deletes it)."""
        if size:
            self._bids[-price] = size
        else:
            self._bids.pop(-price, None)

    def set_ask(self, price: int, size: int) -> None:
        """Set the ask level at ``price`` to ``size`` (0 deletes it)."""
        if size:
            self._asks[price] = size
        else:
            self._asks.pop(price, None)

    def best_bid(self) -> Level | None:
        """The highest bid, or None. O(1)."""
        if not self._bids:
            return None
        negated, size = self._bids.peekitem(0)
        return -negated, size

    def best_ask(self) -> Level | None:
        """The lowest ask, or None. O(1)."""
        if not self._asks:
            return None
        price, size = self._asks.peekitem(0)
        return price, size

    def spread(self) -> int | None:
        """Best ask minus best bid in ticks, or None if a side is empty."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return ask[0] - bid[0]

    def mid_x2(self) -> int | None:
        """Twice the mid price in ticks (an integer), or None if a side is empty."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return ask[0] + bid[0]

    def bids(self, depth: int | None = None) -> list[Level]:
        """Bid levels, best first, at most ``depth``. O(depth)."""
        items = self._bids.items()
        count = len(items) if depth is None else min(depth, len(items))
        return [(-items[i][0], items[i][1]) for i in range(count)]

    def asks(self, depth: int | None = None) -> list[Level]:
        """Ask levels, best first, at most ``depth``. O(depth)."""
        items = self._asks.items()
        count = len(items) if depth is None else min(depth, len(items))
        return [items[i] for i in range(count)]

    def trim(self, depth: int) -> None:
        """Drop the levels beyond the best ``depth`` on each side. O(dropped * log n)."""
        while len(self._bids) > depth:
            self._bids.popitem(-1)
        while len(self._asks) > depth:
            self._asks.popitem(-1)

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def view(self, depth: int, timestamp_ns: int = 0) -> BookView:
        """An immutable view of the top ``depth`` levels of each side."""
        return BookView(
            instrument=self.instrument.key,
            update_id=self.update_id,
            timestamp_ns=timestamp_ns,
            bids=tuple(self.bids(depth)),
            asks=tuple(self.asks(depth)),
        )

    def check_invariants(self) -> None:
        """Raise `BookError` unless bids descend, asks ascend, no level is empty, not crossed."""
        bids, asks = self.bids(), self.asks()
        for side, levels in (("bid", bids), ("ask", asks)):
            for price, size in levels:
                if size <= 0:
                    raise BookError(f"{side} level {price} has size {size}")
                if price <= 0:
                    raise BookError(f"{side} level has non-positive price {price}")
        if any(a[0] <= b[0] for a, b in pairwise(bids)):
            raise BookError("bids are not strictly descending")
        if any(a[0] >= b[0] for a, b in pairwise(asks)):
            raise BookError("asks are not strictly ascending")
        if bids and asks and bids[0][0] >= asks[0][0]:
            raise BookError(f"book is crossed: best bid {bids[0][0]} >= best ask {asks[0][0]}")
