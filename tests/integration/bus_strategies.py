"""A strategy for the roles tests: a `Bidder` whose callbacks go to a sink named in its params."""

from __future__ import annotations

from typing import TYPE_CHECKING

from multi_strategies import Bidder
from trading_helpers import MID

from tradeactors import Side

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors import StrategyContext
    from tradeactors.core.book import BookView
    from tradeactors.core.messages import OrderUpdate, TradeTick

SINKS: dict[str, Callable[[object], None]] = {}
"""Sink name -> where the strategy of that ``sink`` param hands what it hears (a test's)."""


class Recorder(Bidder):
    """Rests a bid (`Bidder`); hands every book, trade and order update to ``SINKS[sink]``."""

    def __init__(self, *, sink: str = "", offset: int = 10, quantity: int = 1) -> None:
        super().__init__(offset=offset, quantity=quantity)
        self.sink = sink

    def _hand(self, item: object) -> None:
        if self.sink in SINKS:
            SINKS[self.sink](item)

    def on_book(self, ctx: StrategyContext, view: BookView) -> None:
        self._hand(view)

    def on_trade(self, ctx: StrategyContext, trade: TradeTick) -> None:
        self._hand(trade)

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        self._hand(update)


class Requoter(Recorder):
    """A `Recorder` that rests its bid again whenever it is cancelled (by anyone)."""

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        super().on_order_update(ctx, update)
        if update.status == "cancelled":
            ctx.submit(side=Side.BUY, price=MID - self.offset, quantity=self.quantity)
