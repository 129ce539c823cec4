"""A `StrategyContext` for pure strategy tests: it records what the strategy does.

Time stands still unless a test moves it (`FakeContext.advance` also fires the timers
that come due, in order); orders never reach a venue: the test answers them with
`FakeContext.update` and its shorthands, which apply fills to the position first (as
the live and backtest contexts do) and then call the strategy's callbacks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import structlog

from tradeactors.core.book import BookView
from tradeactors.core.messages import OrderStatus, OrderUpdate, Side, TimeInForce, TradeTick
from tradeactors.strategy.api import OpenOrder, Strategy

NS = 1_000_000_000
T0 = 1_723_161_254 * NS  # the ETHUSDT capture's first second
SYMBOL = "ETHUSDT"
ENDED = frozenset({"filled", "cancelled", "rejected", "denied", "expired"})


@dataclass
class Sent:
    """One submit, and what the test has answered since."""

    client_order_id: str
    side: Side
    price: int
    quantity: int
    tif: str
    post_only: bool
    at_ns: int
    filled: int = 0
    status: str = "pending"

    @property
    def buy(self) -> bool:
        return self.side is Side.BUY

    @property
    def ended(self) -> bool:
        return self.status in ENDED


class FakeContext:
    """Implements `StrategyContext`; bound to one strategy to feed it events."""

    def __init__(self, strategy: Strategy, *, now_ns: int = T0, position: int = 0) -> None:
        self.strategy = strategy
        self.now_ns = now_ns
        self.position = position
        self.instrument = SYMBOL
        self.log = structlog.get_logger("test").bind(strategy=strategy.name)
        self.sent: list[Sent] = []
        self.cancels: list[str] = []
        self.amends: list[tuple[str, int | None, int | None]] = []
        self.cancel_alls = 0
        self.timers: dict[str, int] = {}  # name -> due ns
        self.fired: list[tuple[int, str]] = []
        self._ids = itertools.count(1)
        self._by_id: dict[str, Sent] = {}

    # -- StrategyContext ---------------------------------------------------------------

    def open_orders(self) -> list[OpenOrder]:
        return [
            OpenOrder(
                client_order_id=s.client_order_id,
                side=s.side,
                price=s.price,
                quantity=s.quantity,
                filled=s.filled,
                status=OrderStatus(s.status),
            )
            for s in self.sent
            if not s.ended
        ]

    def submit(
        self,
        *,
        side: Side,
        price: int,
        quantity: int,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
    ) -> str:
        assert isinstance(side, Side)
        assert isinstance(tif, TimeInForce)
        assert isinstance(price, int)
        assert isinstance(quantity, int)
        assert price > 0, f"non-positive price {price}"
        assert quantity > 0, f"non-positive quantity {quantity}"
        assert tif in {"gtc", "ioc", "fok"}
        client_order_id = f"c{next(self._ids)}"
        sent = Sent(client_order_id, side, price, quantity, tif, post_only, self.now_ns)
        self.sent.append(sent)
        self._by_id[client_order_id] = sent
        return client_order_id

    def cancel(self, client_order_id: str) -> None:
        self.cancels.append(client_order_id)

    def amend(
        self, client_order_id: str, *, price: int | None = None, quantity: int | None = None
    ) -> None:
        self.amends.append((client_order_id, price, quantity))

    def cancel_all(self) -> None:
        self.cancel_alls += 1

    def set_timer(self, name: str, delay: float) -> None:
        assert delay >= 0
        self.timers[name] = self.now_ns + round(delay * NS)

    # -- driving the strategy ----------------------------------------------------------

    def start(self) -> FakeContext:
        self.strategy.on_start(self)
        return self

    def stop(self) -> None:
        self.strategy.on_stop(self)

    def at(self, seconds: float) -> FakeContext:
        """Set the time to ``seconds`` after T0 (without firing timers)."""
        self.now_ns = T0 + round(seconds * NS)
        return self

    def advance(self, seconds: float) -> None:
        """Move time forward, firing each timer that comes due at its due time."""
        until = self.now_ns + round(seconds * NS)
        while True:
            due = sorted((when, name) for name, when in self.timers.items() if when <= until)
            if not due:
                break
            when, name = due[0]
            del self.timers[name]
            self.now_ns = max(self.now_ns, when)
            self.fired.append((self.now_ns, name))
            self.strategy.on_timer(self, name)
        self.now_ns = until

    def book(self, bid: int | None, ask: int | None, size: int = 10_000) -> BookView:
        """Feed a one-level book (a side is empty when None)."""
        view = BookView(
            instrument=f"binance:{SYMBOL}",
            update_id=len(self.sent),
            timestamp_ns=self.now_ns,
            bids=() if bid is None else ((bid, size), (bid - 1, size)),
            asks=() if ask is None else ((ask, size), (ask + 1, size)),
        )
        self.strategy.on_book(self, view)
        return view

    def trade(self, quantity: int, *, buy: bool, price: int = 268_000) -> None:
        self.strategy.on_trade(
            self,
            TradeTick(
                instrument=SYMBOL,
                price=price,
                quantity=quantity,
                side=Side.BUY if buy else Side.SELL,
                timestamp_ns=self.now_ns,
            ),
        )

    def update(
        self,
        client_order_id: str,
        status: str,
        *,
        fill: int = 0,
        fill_price: int | None = None,
        reason: str = "",
    ) -> None:
        """Answer an order: apply the fill to the position, then call back."""
        sent = self._by_id[client_order_id]
        assert not sent.ended, f"{client_order_id} already ended ({sent.status})"
        assert 0 <= fill <= sent.quantity - sent.filled
        sent.filled += fill
        sent.status = status
        if fill:
            self.position += sent.side.sign * fill
        update = OrderUpdate(
            client_order_id=client_order_id,
            venue="binance",
            instrument=SYMBOL,
            side=sent.side,
            price=sent.price,
            quantity=sent.quantity,
            status=OrderStatus(status),
            filled=sent.filled,
            reason=reason,
            fill_quantity=fill,
            fill_price=(sent.price if fill_price is None else fill_price) if fill else 0,
        )
        self.strategy.on_order_update(self, update)
        if fill:
            self.strategy.on_fill(self, update)

    def accept(self, client_order_id: str) -> None:
        self.update(client_order_id, "accepted")

    def fill(self, client_order_id: str, quantity: int | None = None, **kw: Any) -> None:
        """Fill ``quantity`` (all that is left by default)."""
        sent = self._by_id[client_order_id]
        left = sent.quantity - sent.filled
        quantity = left if quantity is None else quantity
        self.update(
            client_order_id,
            "filled" if quantity == left else "partially_filled",
            fill=quantity,
            **kw,
        )

    def cancelled(self, client_order_id: str) -> None:
        self.update(client_order_id, "cancelled")

    def ack_cancels(self) -> None:
        """Answer every cancel asked for (of orders still open) with ``cancelled``."""
        for client_order_id in list(self.cancels):
            if not self._by_id[client_order_id].ended:
                self.cancelled(client_order_id)

    # -- what happened -----------------------------------------------------------------

    def open(self) -> list[Sent]:
        """Its orders not ended, oldest first."""
        return [s for s in self.sent if not s.ended]

    def resting(self) -> list[Sent]:
        """Its orders neither ended nor asked to cancel."""
        return [s for s in self.sent if not s.ended and s.client_order_id not in self.cancels]

    def since(self, mark: int) -> list[Sent]:
        """The submits after the first ``mark``."""
        return self.sent[mark:]
