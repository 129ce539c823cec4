"""A strategy of your own: the tutorial of docs/strategies.md.

`MyStrategy` captures the spread. It keeps one post-only quote on each side of the
book: at the best bid and the best ask, or one tick inside them when the spread is
wider than two ticks. When the touch moves it moves its quote with an amend (no
cancel and resubmit). It never lets its position, counting the quote that could
fill, pass ``max_position`` lots either way: a quote that would is not sent, or is
cancelled. A timer watches the market: with no book for ``stale_after`` seconds it
pulls its quotes. It stops by cancelling everything.

Run it from the repository root (the ``tradeactors`` command puts the current
directory first on ``sys.path``, so ``examples.my_strategy`` imports):

    D=../shared/data/hftbacktest/ethusdt_20240808.gz
    tradeactors backtest --data $D --strategy examples.my_strategy:MyStrategy
    tradeactors run --strategy examples.my_strategy:MyStrategy --duration 10
"""

# ruff: noqa: INP001 - examples/ is a directory of scripts and modules, not a package

from tradeactors import OrderStatus, OrderUpdate, Side, Strategy, StrategyContext
from tradeactors.core import BookView

_NS = 1_000_000_000
_ROOM = 2  # ticks of spread above which both quotes go a tick inside it


class MyStrategy(Strategy):
    """Quotes both sides at the touch, follows it with amends, stays within a position.

    Parameters (``[strategy.params]`` or ``--param``; prices in ticks, sizes in lots):

    - ``size``: lots per quote;
    - ``max_position``: the position, counting a quote's fill, stays within this
      many lots either way;
    - ``min_interval``: seconds between two passes over its quotes, at least (keeps
      its message rate well below the venue's and risk's limits);
    - ``stale_after``: seconds without a book after which it pulls its quotes.
    """

    name = "my_strategy"

    def __init__(
        self,
        *,
        size: int = 5,
        max_position: int = 20,
        min_interval: float = 0.2,
        stale_after: float = 2.0,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1 lot, not {size}")
        if max_position < size:
            raise ValueError(f"max_position ({max_position}) must be at least size ({size})")
        if not min_interval >= 0 or not stale_after > 0:
            raise ValueError("min_interval must be >= 0 and stale_after > 0")
        self.size = size
        self.max_position = max_position
        self.min_interval_ns = round(min_interval * _NS)
        self.stale_after = stale_after
        self.quotes: dict[Side, str] = {}  # side -> client order id of its quote
        self.amending: set[str] = set()  # quotes with an amend not yet answered
        self.cancelling: set[str] = set()  # quotes it asked to cancel
        self.last_book_ns = 0
        self.last_pass_ns: int | None = None
        self.stopped = False

    # -- the callbacks -------------------------------------------------------------------

    def on_start(self, ctx: StrategyContext) -> None:
        """Arm the market watchdog."""
        self.last_book_ns = ctx.now_ns
        ctx.set_timer("watchdog", self.stale_after)
        ctx.log.info("my_strategy_started", size=self.size, max_position=self.max_position)

    def on_book(self, ctx: StrategyContext, view: BookView) -> None:
        """Quote, or move the quotes to where the touch is now."""
        now = ctx.now_ns
        self.last_book_ns = now
        if self.stopped:
            return
        if self.last_pass_ns is not None and now - self.last_pass_ns < self.min_interval_ns:
            return
        bid, ask = view.best_bid, view.best_ask
        if bid is None or ask is None or bid[0] >= ask[0]:
            return  # one-sided or crossed: nothing sensible to quote against
        self.last_pass_ns = now
        inside = 1 if ask[0] - bid[0] > _ROOM else 0  # a tick inside on both sides
        self._quote(ctx, Side.BUY, bid[0] + inside)
        self._quote(ctx, Side.SELL, ask[0] - inside)

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:  # noqa: ARG002
        """Forget a quote that ended; note the answer to an amend."""
        order_id = update.client_order_id
        if update.amend is not None:  # amended, or refused: the quote is as the update says
            self.amending.discard(order_id)
        if not update.status.open:
            self.amending.discard(order_id)
            self.cancelling.discard(order_id)
            if self.quotes.get(update.side) == order_id:
                del self.quotes[update.side]

    def on_fill(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        """Say what filled (``ctx.position`` already counts it)."""
        ctx.log.info(
            "my_strategy_filled",
            side=update.side,
            quantity=update.fill_quantity,
            price=update.fill_price,
            position=ctx.position,
        )

    def on_timer(self, ctx: StrategyContext, name: str) -> None:
        """The watchdog: no book for ``stale_after`` seconds pulls the quotes."""
        if name != "watchdog" or self.stopped:
            return
        quiet = ctx.now_ns - self.last_book_ns
        if quiet > self.stale_after * _NS and self.quotes:
            ctx.log.warning("my_strategy_market_quiet", seconds=quiet / _NS)
            for order_id in list(self.quotes.values()):
                self._cancel(ctx, order_id)
        ctx.set_timer("watchdog", self.stale_after)

    def on_stop(self, ctx: StrategyContext) -> None:
        """Send nothing more; cancel what is open."""
        self.stopped = True
        ctx.cancel_all()

    # -- its own logic -------------------------------------------------------------------

    def _quote(self, ctx: StrategyContext, side: Side, price: int) -> None:
        # lots it may still buy (or sell) before the position passes max_position
        room = self.max_position - side.sign * ctx.position
        order_id = self.quotes.get(side)
        if order_id is None:
            if room >= self.size:
                self.quotes[side] = ctx.submit(
                    side=side, price=price, quantity=self.size, post_only=True
                )
            return
        if order_id in self.cancelling:
            return
        if room < self.size:
            self._cancel(ctx, order_id)
            return
        order = next((o for o in ctx.open_orders() if o.client_order_id == order_id), None)
        if order is None or order.status not in _AMENDABLE or order_id in self.amending:
            return  # not acknowledged yet, or an amend is in flight: wait for it
        if order.price != price:
            self.amending.add(order_id)
            ctx.amend(order_id, price=price)

    def _cancel(self, ctx: StrategyContext, order_id: str) -> None:
        if order_id not in self.cancelling:
            self.cancelling.add(order_id)
            ctx.cancel(order_id)


_AMENDABLE = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})
"""Statuses in which the venue knows the order and it may still trade."""
