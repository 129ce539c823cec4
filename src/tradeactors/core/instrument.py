"""Instruments, and exact conversion between venue decimal strings and integers.

Prices are integers in ticks, sizes integers in lots. Venue strings are parsed
digit by digit, never through ``float``: ``"2683.80000000"`` with a tick of
``"0.01"`` is exactly 268380 ticks. A string that is not a whole number of ticks
(or lots), negative, or not a decimal at all is an error, never a rounding; the one
rounding is `Instrument.size_rounded_up`, for the sizes a venue shows in its book
(which may be finer than the lot its orders must be in, see `tradeactors.core.book`).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import msgspec

from tradeactors.errors import ConfigError, ParseError

__all__ = [
    "Instrument",
    "LevelParser",
    "OrderBounds",
    "ParseError",
    "decimal_places",
    "parse_units",
]


def decimal_places(text: str) -> int:
    """Digits after the decimal point of ``text`` (``"0.010"`` -> 3)."""
    _, _, fraction = text.partition(".")
    return len(fraction)


def parse_units(text: str, places: int) -> int:
    """``text`` as an integer count of ``10**-places``; exact, non-negative.

    Extra fractional digits are accepted only when they are zeros.

    Raises:
        ParseError: not a plain non-negative decimal, or more precision than ``places``.

    """
    whole, dot, fraction = text.partition(".")
    # isdigit() refuses "", "-1", "+1", "1e5", " 1"; isascii() refuses other scripts' digits
    if not (whole.isascii() and whole.isdigit()) or (
        dot and not (fraction.isascii() and fraction.isdigit())
    ):
        raise ParseError(f"not a non-negative decimal: {text!r}")
    extra = len(fraction) - places
    if extra > 0:
        if fraction[places:].strip("0"):
            raise ParseError(f"{text!r} has more than {places} decimal places")
        fraction = fraction[:places]
    elif extra < 0:
        fraction += "0" * -extra
    return _to_int(whole + fraction, text)


MAX_DIGITS = 60
"""More significant digits than any venue writes: refused rather than parsed."""


def _to_int(digits: str, text: str) -> int:
    significant = digits.lstrip("0")
    if len(significant) > MAX_DIGITS:
        raise ParseError(f"number too long ({len(significant)} digits): {text[:40]!r}...")
    return int(significant or "0")


@functools.cache
def _step(size: str) -> tuple[int, int]:
    """``(places, units)``: a step such as ``"0.05"`` is 5 units of ``10**-2``."""
    places = decimal_places(size)
    try:
        units = parse_units(size, places)
    except ParseError as exc:
        raise ConfigError(f"invalid step size {size!r}") from exc
    if units <= 0:
        raise ConfigError(f"step size must be positive, not {size!r}")
    return places, units


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """A tradable instrument at a venue, with the steps its prices and sizes move in.

    ``tick_size`` and ``lot_size`` are decimal strings (``"0.01"``); their number of
    decimal places is also how prices and sizes are written back (display, Kraken's
    checksum), so give them as the venue writes them.

    The optional order limits are the venue's filters (Binance's PRICE_FILTER
    ``minPrice``/``maxPrice``, LOT_SIZE ``minQty``/``maxQty``, MIN_NOTIONAL), decimal
    strings like the steps; ``""`` means the venue's default. The simulated exchange
    enforces them (`tradeactors.exchange.matching.Filters`, which states the defaults),
    and risk refuses orders outside them before they leave (`order_bounds`). A limit that
    is not a plain non-negative decimal, has more than `MAX_DIGITS` significant digits or
    decimal places, or leaves no price (or quantity) possible is refused here, at
    construction (`ConfigError` naming the instrument and the field).
    """

    venue: str
    symbol: str
    tick_size: str
    lot_size: str
    min_price: str = ""  # "" = one tick
    max_price: str = ""  # "" = the largest price the venue's wire format carries
    min_quantity: str = ""  # "" = one lot
    max_quantity: str = ""  # "" = the largest size the venue's wire format carries
    min_notional: str = ""  # price x quantity in the quote currency; "" = no minimum

    def __post_init__(self) -> None:
        _step(self.tick_size)
        _step(self.lot_size)
        _bounds(self)

    @property
    def order_bounds(self) -> OrderBounds:
        """The order limits in ticks, lots and ticks x lots (computed once, exactly)."""
        return _bounds(self)

    @property
    def key(self) -> str:
        """``venue:symbol``, unique in a system."""
        return f"{self.venue}:{self.symbol}"

    def price(self, text: str) -> int:
        """Ticks in the price ``text``. Raises `ParseError` if not a whole number of ticks."""
        return _count_steps(text, self.tick_size, "price", "tick")

    def size(self, text: str) -> int:
        """Lots in the size ``text``. Raises `ParseError` if not a whole number of lots."""
        return _count_steps(text, self.lot_size, "size", "lot")

    def size_rounded_up(self, text: str) -> int:
        """Lots in the size ``text``, a size between two lots counted as the next lot up.

        For the sizes a venue *shows* (its book's levels), which may be finer than the
        lot its orders must be in: Binance writes 8 decimals, and a level of
        ``"25.42618900"`` is real even where the order lot is ``"0.00001"`` (it counts
        2542619 lots here). Never for a size we send: use `size`, which refuses. A
        non-zero size is never rounded to 0, and is overstated by less than one lot.

        Raises:
            ParseError: not a plain non-negative decimal, or more than `MAX_DIGITS`
                significant digits or decimal places.

        """
        try:
            return _count_steps(text, self.lot_size, "size", "lot")
        except ParseError:
            pass  # malformed, or between two lots: the latter is rounded up below
        places = len(text.partition(".")[2].rstrip("0"))
        if places > MAX_DIGITS:
            raise ParseError(f"size {text[:40]!r}... has more than {MAX_DIGITS} decimal places")
        units = parse_units(text, places)  # raises ParseError if malformed
        lot_places, lot = _step(self.lot_size)
        # text is units / 10**places; a lot is lot / 10**lot_places: the ceiling of their ratio
        lots: int = -(-units * 10**lot_places // (lot * 10**places))
        return lots

    def format_price(self, ticks: int) -> str:
        """``ticks`` as a decimal string with the tick size's decimal places."""
        places, tick = _step(self.tick_size)
        return _format(ticks * tick, places)

    def format_size(self, lots: int) -> str:
        """``lots`` as a decimal string with the lot size's decimal places."""
        places, lot = _step(self.lot_size)
        return _format(lots * lot, places)


class OrderBounds(msgspec.Struct, frozen=True, kw_only=True):
    """An instrument's order limits in the units orders carry: what the venue would take.

    ``min_price <= price <= max_price`` (ticks), ``min_quantity <= quantity <=
    max_quantity`` (lots) and ``price * quantity >= min_notional`` (ticks x lots) are
    exactly the venue's decimal rules ``price >= minPrice`` and so on: the minimums are
    the venue's rounded up to the next step, the maximums rounded down, the notional
    minimum divided by tick x lot and rounded up (`Fraction` arithmetic, never float).
    A maximum of None: none known.
    """

    min_price: int = 1
    max_price: int | None = None
    min_quantity: int = 1
    max_quantity: int | None = None
    min_notional: int = 0


@functools.lru_cache(maxsize=1024)
def _bounds(instrument: Instrument) -> OrderBounds:
    """``instrument``'s `OrderBounds`. Raises `ConfigError` naming the bad field."""
    tick, lot = Fraction(instrument.tick_size), Fraction(instrument.lot_size)
    limit = functools.partial(_limit, instrument)
    min_price = limit("min_price", tick)
    max_price = limit("max_price", tick)
    min_quantity = limit("min_quantity", lot)
    max_quantity = limit("max_quantity", lot)
    min_notional = limit("min_notional", tick * lot)
    bounds = OrderBounds(
        min_price=max(1, math.ceil(min_price)) if min_price is not None else 1,
        max_price=math.floor(max_price) if max_price is not None else None,
        min_quantity=max(1, math.ceil(min_quantity)) if min_quantity is not None else 1,
        max_quantity=math.floor(max_quantity) if max_quantity is not None else None,
        min_notional=math.ceil(min_notional) if min_notional is not None else 0,
    )
    for what, low, high, low_text, high_text in (
        ("price", bounds.min_price, bounds.max_price, instrument.min_price, instrument.max_price),
        (
            "quantity",
            bounds.min_quantity,
            bounds.max_quantity,
            instrument.min_quantity,
            instrument.max_quantity,
        ),
    ):
        if high is not None and high < low:
            raise ConfigError(
                f"{instrument.key}: no {what} is both >= min_{what} {low_text or '(one step)'!r} "
                f"and <= max_{what} {high_text!r} on its step"
            )
    return bounds


def _limit(instrument: Instrument, name: str, step: Fraction) -> Fraction | None:
    """The limit ``name`` of ``instrument`` in steps (not rounded), or None if not given."""
    text: str = getattr(instrument, name)
    if not text:
        return None
    places = decimal_places(text)
    if places > MAX_DIGITS:
        raise ConfigError(f"{instrument.key}: {name}: more than {MAX_DIGITS} decimal places")
    try:
        units = parse_units(text, places)
    except ParseError as exc:
        raise ConfigError(f"{instrument.key}: {name}: {exc}") from exc
    return Fraction(units, 10**places) / step


class LevelParser:
    """Book levels' price and size strings to ticks and lots, memoised, for one book.

    A venue's book stream writes the same strings again and again (the prices near the
    top, round sizes); a dict hit costs a small fraction of a parse. Strings that fail
    to parse are not remembered (they raise `ParseError` every time). The memo is
    emptied whenever it reaches ``capacity`` entries, so memory stays bounded however
    far the market moves. Not thread-safe: one per book, used by its owner only.
    """

    __slots__ = ("_instrument", "_lots", "_ticks", "capacity")

    def __init__(self, instrument: Instrument, capacity: int = 16384) -> None:
        self._instrument = instrument
        self._ticks: dict[str, int] = {}
        self._lots: dict[str, int] = {}
        self.capacity = capacity

    def level(self, price: str, size: str) -> tuple[int, int]:
        """``(ticks, lots)`` of one level. Raises `ParseError` as `Instrument` does."""
        ticks = self._ticks.get(price)
        if ticks is None:
            ticks = self._instrument.price(price)
            if len(self._ticks) >= self.capacity:
                self._ticks.clear()
            self._ticks[price] = ticks
        lots = self._lots.get(size)
        if lots is None:
            lots = self._instrument.size(size)
            if len(self._lots) >= self.capacity:
                self._lots.clear()
            self._lots[size] = lots
        return ticks, lots


def _count_steps(text: str, step_size: str, what: str, step_name: str) -> int:
    # The hot path of every feed: one partition, one int(), no exceptions on good input.
    places, step = _step(step_size)
    whole, dot, fraction = text.partition(".")
    written = len(fraction)
    if written > places:
        if fraction[places:].strip("0"):  # finer than the step, or not digits at all
            return _finer(text, step_size, what, step_name)
        fraction = fraction[:places]
    elif written < places:
        fraction += "0" * (places - written)
    digits = whole + fraction
    if not (whole and digits.isascii() and digits.isdigit()) or (dot and not written):
        raise ParseError(f"not a non-negative decimal: {text!r}")
    units = _to_int(digits, text)
    if step == 1:  # a power-of-ten step: the digits are the count
        return units
    count, rest = divmod(units, step)
    if rest:
        raise ParseError(f"{what} {text!r} is not a multiple of {step_name} {step_size}")
    return count


def _finer(text: str, step_size: str, what: str, step_name: str) -> int:
    """``text`` has non-zero digits past the step's precision: malformed, or off-step."""
    parse_units(text, decimal_places(text))  # raises ParseError if malformed
    raise ParseError(f"{what} {text!r} is not a multiple of {step_name} {step_size}")


def _format(units: int, places: int) -> str:
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(places + 1, "0")
    if places == 0:
        return sign + digits
    return f"{sign}{digits[:-places]}.{digits[-places:]}"
