"""Strategies for the tests of several strategies in one tree (imported by their path)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trading_helpers import MID

from tradeactors import Side, Strategy

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors import StrategyContext
    from tradeactors.core.book import BookView
    from tradeactors.core.messages import OrderUpdate, TradeTick


class Bidder(Strategy):
    """Rests one bid ``offset`` ticks under the mid at start, and one more after each fill."""

    def __init__(self, *, offset: int = 10, quantity: int = 1) -> None:
        self.offset = offset
        self.quantity = quantity

    def on_start(self, ctx: StrategyContext) -> None:
        ctx.submit(side=Side.BUY, price=MID - self.offset, quantity=self.quantity)

    def on_fill(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        if update.status == "filled":
            ctx.submit(side=Side.BUY, price=MID - self.offset, quantity=self.quantity)


class CrashLoop(Strategy):
    """Rests a bid far under the mid, then crashes as soon as the venue accepted it."""

    def on_start(self, ctx: StrategyContext) -> None:
        ctx.submit(side=Side.BUY, price=MID - 500, quantity=1)

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        if update.status == "accepted":
            ctx.set_timer("crash", 0.0)

    def on_timer(self, ctx: StrategyContext, name: str) -> None:
        raise RuntimeError("crash loop")


class Watcher(Bidder):
    """A `Bidder` that hands every book view and public trade it gets to ``sink``."""

    def __init__(
        self, *, sink: Callable[[object], None], offset: int = 10, quantity: int = 1
    ) -> None:
        super().__init__(offset=offset, quantity=quantity)
        self.sink = sink

    def on_book(self, ctx: StrategyContext, view: BookView) -> None:
        self.sink(view)

    def on_trade(self, ctx: StrategyContext, trade: TradeTick) -> None:
        self.sink(trade)


class FailsToStart(Strategy):
    """Raises in ``on_start``: its actor never starts."""

    def on_start(self, ctx: StrategyContext) -> None:
        raise RuntimeError("no market for me")
