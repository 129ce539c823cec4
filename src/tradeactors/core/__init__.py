"""Pure trading logic: no threads, no I/O. Fixed-point instruments and the L2 book."""

from tradeactors.core.book import BookView, Level, OrderBook
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import symbol_of

__all__ = ["BookView", "Instrument", "Level", "OrderBook", "symbol_of"]
