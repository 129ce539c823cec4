"""How quantities and money are shown: one convention for every output.

Inside, quantities are integer lots and prices integer ticks. Whatever a person reads
(the status line, the summary, ``status``, ``top``, the backtest's report) shows a
quantity in the instrument's *base* units with the base's name (``+0.005 BTC``) and
money in the *quote* currency with its name and enough digits to be exact for one tick
times one lot (``+0.00012 USDT``, never ``-0.00``).

The base and quote of a symbol come from the symbol: ``BASE/QUOTE`` (Kraken), else the
longest known quote currency it ends with (``BTCUSDT`` -> BTC, USDT). An unknown quote
leaves the symbol whole as the base and ``quote`` as the quote's name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fractions import Fraction

__all__ = ["base_quote", "money_places", "money_text", "quantity_text"]

QUOTES = (
    "USDT", "USDC", "FDUSD", "BUSD", "DAI", "USD", "EUR", "GBP", "JPY", "AUD",
    "CAD", "CHF", "TRY", "BRL", "BTC", "ETH", "BNB", "XBT",
)  # fmt: skip
"""Quote currencies recognised at the end of a symbol, tried longest first (no TUSD:
it would read XBTUSD as XB and TUSD)."""

_BY_LENGTH = sorted(QUOTES, key=len, reverse=True)


def base_quote(symbol: str) -> tuple[str, str]:
    """``(base, quote)`` of ``symbol``: ``BTC/USD`` and ``BTCUSDT`` -> BTC and USD(T)."""
    if "/" in symbol:
        base, _, quote = symbol.partition("/")
        return base or symbol, quote or "quote"
    upper = symbol.upper()
    for quote in _BY_LENGTH:
        if upper.endswith(quote) and len(upper) > len(quote):
            return symbol[: -len(quote)], symbol[-len(quote) :]
    return symbol, "quote"


def _places(step: str) -> int:
    exponent = Decimal(step).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def quantity_text(lots: int, lot_size: str, symbol: str, *, signed: bool = True) -> str:
    """``lots`` in base units, exact, with the base's name: ``+0.005 BTC``."""
    value = Decimal(lots) * Decimal(lot_size)
    text = f"{value:.{_places(lot_size)}f}"
    if signed and lots >= 0:
        text = "+" + text
    return f"{text} {base_quote(symbol)[0]}"


def money_places(tick_size: str, lot_size: str) -> int:
    """Digits that make one tick times one lot exact (at least two)."""
    return max(2, _places(tick_size) + _places(lot_size))


def money_text(value: float | Fraction, symbol: str, places: int = 2) -> str:
    """``value`` in the quote currency, signed, ``places`` digits: ``+0.00012 USDT``.

    A value that rounds to zero is ``+0.00...``: never ``-0.00``.
    """
    text = f"{float(value):+.{places}f}"
    if text.startswith("-") and not text.strip("-0."):
        text = "+" + text[1:]
    return f"{text} {base_quote(symbol)[1]}"
