"""An L2 order book with integer prices and sizes, and the immutable views it publishes.

Each side keeps sizes in a dict and the prices in a sorted list with the best level
last (see `OrderBook` for why and what it costs).

What a book may hold: prices of at least one tick, sizes of at least one lot, both at
most `MAX_UNITS`, bids below asks. The venues' sync rules keep it so:
`book_instrument` refuses the level strings a book must not hold (before anything is
applied), and `OrderBook.crossed` says when an update left the book crossed (they
clear it and resync rather than publish it).

Units: prices in the instrument's ticks, sizes in its lots, in the book and in every
`BookView` alike: the unit of order quantities, fills, trades and positions, so a
strategy or the backtest's matching compares a level's size with an order's directly.
A venue may show sizes finer than its order lot (Binance writes 8 decimals, and real
books hold levels such as ``25.42618900`` where orders must be in steps of
``0.00001``): such a size is rounded *up* to the next whole lot
(`Instrument.size_rounded_up`), never refused, so a real level is kept, a non-zero
level never vanishes, and no size is overstated by as much as one lot. Order
quantities are checked against the lot by risk and the venue, not by the book.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from itertools import pairwise
from typing import TYPE_CHECKING, ClassVar

import msgspec

from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Message
from tradeactors.errors import BookError, ParseError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MAX_UNITS", "BookError", "BookView", "Level", "OrderBook", "book_instrument"]

Level = tuple[int, int]
"""``(price in ticks, size in lots)``; a venue's size finer than the lot is rounded up."""

MAX_UNITS = 2**63 - 1
"""The largest price (ticks) or size (lots) a book holds: a signed 64-bit integer.

Venues' own binary encodings hold prices and sizes so (Binance's SBE: an int64
mantissa), msgpack carries nothing larger between hosts, and a value beyond it is a
corrupt frame, never a market (``"1" + "0" * 59`` parses, as 60 digits, but is no
price).
"""


class _BookUnits(Instrument, frozen=True, kw_only=True):
    """An instrument whose `price` and `size` refuse what a book must not hold."""

    def price(self, text: str) -> int:
        """Ticks in ``text``; `ParseError` also for 0 and for more than `MAX_UNITS`."""
        ticks = Instrument.price(self, text)
        if not 0 < ticks <= MAX_UNITS:
            raise ParseError(f"price {text[:40]!r} is not between one tick and {MAX_UNITS} ticks")
        return ticks

    def size(self, text: str) -> int:
        """Lots in ``text``, rounded up to a whole lot (0 deletes); `ParseError` if malformed.

        Also `ParseError` for more than `MAX_UNITS` lots. Rounded, not refused: a venue
        shows sizes finer than the order lot (see the module doc).
        """
        lots = Instrument.size_rounded_up(self, text)
        if lots > MAX_UNITS:
            raise ParseError(f"size {text[:40]!r} is more than {MAX_UNITS} lots")
        return lots


def book_instrument(instrument: Instrument) -> Instrument:
    """``instrument``, with a `price` and a `size` that refuse what a book must not hold.

    Both raise `ParseError` as `Instrument`'s do (not a plain non-negative decimal, a
    price off the tick, more than 60 digits), and also for a price of 0 and for a price
    or size above `MAX_UNITS`. A size between two lots is not an error: it is rounded up
    to the next lot (see the module doc). Give it to `LevelParser`: its memo keeps the
    strings that passed with their lots, so a memo hit costs nothing more than before.
    """
    return _BookUnits(**msgspec.structs.asdict(instrument))


class BookView(Message, frozen=True, kw_only=True, tag=True):
    """An immutable picture of the top of a book, safe to send to other actors."""

    ephemeral: ClassVar[bool] = True

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

    Each side is a dict of sizes by price plus a sorted list of keys with the best
    level last (bids keyed by price, asks by negated price), because that is what the
    benchmark (``bench/results/marketdata.md``) says is fastest from Python for real
    streams, where most updates touch levels at or near the top: best reads are O(1);
    resizing an existing level is one dict store; adding or removing a level is a
    binary search plus a list insert/delete, whose memmove is short near the top and
    O(n) (in C) deep in the book. Started as a ``SortedDict``, which was 2-3x slower.

    The book does not decide whether an update is in sequence: the venue's sync rules
    (``tradeactors.venues``) do, and feed it only what is.
    """

    __slots__ = ("_ask_keys", "_asks", "_bid_keys", "_bids", "_key", "instrument", "update_id")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self._key = instrument.key
        self._bids: dict[int, int] = {}  # price -> size
        self._bid_keys: list[int] = []  # prices ascending: best bid last
        self._asks: dict[int, int] = {}  # price -> size
        self._ask_keys: list[int] = []  # negated prices ascending: best ask last
        self.update_id = 0

    def clear(self) -> None:
        """Remove every level."""
        self._bids.clear()
        self._bid_keys.clear()
        self._asks.clear()
        self._ask_keys.clear()
        self.update_id = 0

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], update_id: int) -> None:
        """Replace the whole book. Zero-size levels in a snapshot are ignored."""
        self._bids = {price: size for price, size in bids if size}
        self._bid_keys = sorted(self._bids)
        self._asks = {price: size for price, size in asks if size}
        self._ask_keys = sorted(-price for price in self._asks)
        self.update_id = update_id

    def set_bid(self, price: int, size: int) -> None:
        """Set the bid level at ``price`` to ``size`` (0 deletes it)."""
        bids = self._bids
        if size:
            if price not in bids:
                insort(self._bid_keys, price)
            bids[price] = size
        elif bids.pop(price, None) is not None:
            keys = self._bid_keys
            del keys[bisect_left(keys, price)]

    def set_ask(self, price: int, size: int) -> None:
        """Set the ask level at ``price`` to ``size`` (0 deletes it)."""
        asks = self._asks
        if size:
            if price not in asks:
                insort(self._ask_keys, -price)
            asks[price] = size
        elif asks.pop(price, None) is not None:
            keys = self._ask_keys
            del keys[bisect_left(keys, -price)]

    def apply_levels(self, bids: Iterable[Level], asks: Iterable[Level], update_id: int) -> None:
        """Set many levels at once (one venue update), then record ``update_id``.

        The same as `set_bid`/`set_ask` per level, in order, without a call per level.
        """
        sizes, keys = self._bids, self._bid_keys
        for price, size in bids:
            if size:
                if price not in sizes:
                    insort(keys, price)
                sizes[price] = size
            elif sizes.pop(price, None) is not None:
                del keys[bisect_left(keys, price)]
        sizes, keys = self._asks, self._ask_keys
        for price, size in asks:
            if size:
                if price not in sizes:
                    insort(keys, -price)
                sizes[price] = size
            elif sizes.pop(price, None) is not None:
                del keys[bisect_left(keys, -price)]
        self.update_id = update_id

    def best_bid(self) -> Level | None:
        """The highest bid, or None. O(1)."""
        if not self._bid_keys:
            return None
        price = self._bid_keys[-1]
        return price, self._bids[price]

    def best_ask(self) -> Level | None:
        """The lowest ask, or None. O(1)."""
        if not self._ask_keys:
            return None
        price = -self._ask_keys[-1]
        return price, self._asks[price]

    def crossed(self) -> bool:
        """Best bid at or above best ask (a locked book counts): never published. O(1)."""
        return bool(self._bid_keys and self._ask_keys) and self._bid_keys[-1] >= -self._ask_keys[-1]

    def size_at(self, price: int, *, bid: bool) -> int:
        """The size resting at ``price`` on one side (0 if no level)."""
        return (self._bids if bid else self._asks).get(price, 0)

    def spread(self) -> int | None:
        """Best ask minus best bid in ticks, or None if a side is empty."""
        if not (self._bid_keys and self._ask_keys):
            return None
        return -self._ask_keys[-1] - self._bid_keys[-1]

    def mid_x2(self) -> int | None:
        """Twice the mid price in ticks (an integer), or None if a side is empty."""
        if not (self._bid_keys and self._ask_keys):
            return None
        return -self._ask_keys[-1] + self._bid_keys[-1]

    def bids(self, depth: int | None = None) -> list[Level]:
        """Bid levels, best first, at most ``depth``. O(depth)."""
        keys = self._bid_keys if depth is None else self._bid_keys[-depth:] if depth > 0 else []
        sizes = self._bids
        return [(price, sizes[price]) for price in reversed(keys)]

    def asks(self, depth: int | None = None) -> list[Level]:
        """Ask levels, best first, at most ``depth``. O(depth)."""
        keys = self._ask_keys if depth is None else self._ask_keys[-depth:] if depth > 0 else []
        sizes = self._asks
        return [(-key, sizes[-key]) for key in reversed(keys)]

    def trim(self, depth: int) -> None:
        """Drop the levels beyond the best ``depth`` on each side. O(dropped)."""
        extra = len(self._bid_keys) - depth
        if extra > 0:
            for price in self._bid_keys[:extra]:
                del self._bids[price]
            del self._bid_keys[:extra]
        extra = len(self._ask_keys) - depth
        if extra > 0:
            for key in self._ask_keys[:extra]:
                del self._asks[-key]
            del self._ask_keys[:extra]

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def view(self, depth: int, timestamp_ns: int = 0) -> BookView:
        """An immutable view of the top ``depth`` levels of each side."""
        # Built with C-level zip/map: this runs for every update a book publishes.
        if depth > 0:
            bid_prices = self._bid_keys[: -depth - 1 : -1]  # best first
            ask_prices = [-key for key in self._ask_keys[: -depth - 1 : -1]]
        else:
            bid_prices = ask_prices = []
        return BookView(
            instrument=self._key,
            update_id=self.update_id,
            timestamp_ns=timestamp_ns,
            bids=tuple(zip(bid_prices, map(self._bids.__getitem__, bid_prices), strict=True)),
            asks=tuple(zip(ask_prices, map(self._asks.__getitem__, ask_prices), strict=True)),
        )

    def check_invariants(self) -> None:
        """Raise `BookError` unless bids descend, asks ascend, no level is empty, not crossed.

        Prices and sizes must also be within 1..`MAX_UNITS`.

        Also checks that each side's sorted index matches its levels. O(n log n): for
        tests and debugging, not the hot path.
        """
        if self._bid_keys != sorted(self._bids) or self._ask_keys != sorted(-p for p in self._asks):
            raise BookError("the sorted price index disagrees with the levels")
        bids, asks = self.bids(), self.asks()
        for side, levels in (("bid", bids), ("ask", asks)):
            for price, size in levels:
                if size <= 0:
                    raise BookError(f"{side} level {price} has size {size}")
                if price <= 0:
                    raise BookError(f"{side} level has non-positive price {price}")
                if price > MAX_UNITS or size > MAX_UNITS:
                    raise BookError(f"{side} level {price} x {size} exceeds {MAX_UNITS}")
        if any(a[0] <= b[0] for a, b in pairwise(bids)):
            raise BookError("bids are not strictly descending")
        if any(a[0] >= b[0] for a, b in pairwise(asks)):
            raise BookError("asks are not strictly ascending")
        if bids and asks and bids[0][0] >= asks[0][0]:
            raise BookError(f"book is crossed: best bid {bids[0][0]} >= best ask {asks[0][0]}")
