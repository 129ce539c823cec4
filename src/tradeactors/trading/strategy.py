"""A minimal built-in market maker, so the trading tree trades out of the box.

It quotes one bid and one ask around the mid, ``half_spread`` ticks away and skewed
against its inventory, re-quotes when the mid moves ``requote`` ticks (at most once
per ``min_interval`` seconds, which keeps it under the venue's message rate), stops
quoting on the side that would take it past ``max_inventory``, and stands aside while
its venue is down or the kill switch is not ACTIVE. Orders go through risk. A
(re)started strategy first asks the order manager to cancel whatever its predecessor
left open. (The general strategy API and the other built-ins are issue 6.)
"""

from __future__ import annotations

from typing import Any

import msgspec

from tradeactors.core.book import BookView
from tradeactors.core.killswitch import KillSwitchChanged
from tradeactors.core.messages import Message
from tradeactors.core.orders import ClientOrderIds, OrderStatus
from tradeactors.core.risk import TradingState
from tradeactors.supervision import SupervisedActor
from tradeactors.trading.messages import (
    CancelAllOrders,
    CancelOrder,
    OrderUpdate,
    SubmitOrder,
    VenueStatus,
    symbol_of,
)

__all__ = ["GetStrategyReport", "MarketMaker", "MarketMakerParams", "StrategyReport"]


class MarketMakerParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The market maker's parameters (prices in ticks, sizes in lots)."""

    half_spread: int = 2
    size: int = 5
    max_inventory: int = 25
    skew: int = 1  # ticks of skew per lot of inventory
    requote: int = 2
    min_interval: float = 0.25

    def __post_init__(self) -> None:
        if self.half_spread < 1 or self.size < 1 or self.max_inventory < self.size:
            raise ValueError("half_spread and size must be >= 1, max_inventory >= size")
        if self.requote < 1 or not self.min_interval > 0:
            raise ValueError("requote must be >= 1 and min_interval positive")


class GetStrategyReport(Message, frozen=True, kw_only=True, tag=True):
    """Ask a strategy for its `StrategyReport`."""


class StrategyReport(msgspec.Struct, kw_only=True):
    """What a strategy did."""

    submitted: int = 0
    denied: int = 0
    rejected: int = 0
    fills: int = 0
    volume: int = 0
    position: int = 0


class MarketMaker(SupervisedActor):
    """Quotes around the mid (see the module doc)."""

    def __init__(
        self,
        venue: str,
        instrument: str,
        risk_path: str,
        order_manager_path: str,
        params: MarketMakerParams | None = None,
        *,
        tag: str = "mm",
    ) -> None:
        super().__init__()
        self._venue = venue
        self._instrument = instrument
        self._risk_path = risk_path
        self._om_path = order_manager_path
        self._params = params or MarketMakerParams()
        self._tag = tag
        self._ids: ClientOrderIds | None = None
        self._quotes: dict[str, bool] = {}  # open client order ids -> buy
        self._quoted_mid2: int | None = None
        self._last_quote_ns = 0
        self._venue_up = True
        self._active = True
        self.report = StrategyReport()

    def on_start(self) -> None:
        """Fresh ids; cancel whatever a predecessor left open."""
        self._ids = ClientOrderIds(self.context.clock.time_ns(), self._tag)
        self.context.address_of(self._om_path).tell(
            CancelAllOrders(reason="strategy (re)started", owner=self.context.path)
        )

    def on_receive(self, message: Any) -> Any:
        """Books, order updates, venue and kill switch changes."""
        if isinstance(message, BookView):
            self._on_book(message)
        elif isinstance(message, OrderUpdate):
            self._on_update(message)
        elif isinstance(message, VenueStatus):
            if message.venue == self._venue:
                self._venue_up = message.up
                if not message.up:
                    self._quotes.clear()  # cancel-pending: the venue cancels them
                    self._quoted_mid2 = None
        elif isinstance(message, KillSwitchChanged):
            self._active = message.state is TradingState.ACTIVE
            if not self._active:
                self._cancel_quotes()
        elif isinstance(message, GetStrategyReport):
            return msgspec.structs.replace(self.report)
        return None

    def _on_book(self, view: BookView) -> None:
        if not (self._venue_up and self._active) or symbol_of(view.instrument) != self._instrument:
            return
        bid, ask = view.best_bid, view.best_ask
        if bid is None or ask is None:
            return
        params = self._params
        now = self.context.clock.monotonic_ns()
        if now - self._last_quote_ns < params.min_interval * 1e9:
            return
        mid2 = bid[0] + ask[0]
        if (
            self._quoted_mid2 is not None
            and self._quotes
            and abs(mid2 - self._quoted_mid2) < 2 * params.requote
        ):
            return
        self._cancel_quotes()
        self._last_quote_ns = now
        self._quoted_mid2 = mid2
        position = self.report.position
        skew = position * params.skew
        mid = mid2 // 2
        if position + params.size <= params.max_inventory:
            self._submit(buy=True, price=mid - params.half_spread - skew)
        if position - params.size >= -params.max_inventory:
            self._submit(buy=False, price=mid + params.half_spread - skew + (mid2 % 2))

    def _submit(self, *, buy: bool, price: int) -> None:
        if price <= 0 or self._ids is None:
            return
        client_order_id = self._ids.next()
        self._quotes[client_order_id] = buy
        self.report.submitted += 1
        self.context.address_of(self._risk_path).tell(
            SubmitOrder(
                client_order_id=client_order_id,
                venue=self._venue,
                instrument=self._instrument,
                buy=buy,
                price=price,
                quantity=self._params.size,
                owner=self.context.path,
                post_only=True,
                timestamp_ns=self.context.clock.time_ns(),
            )
        )

    def _cancel_quotes(self) -> None:
        om = self.context.address_of(self._om_path)
        for client_order_id in self._quotes:
            om.tell(CancelOrder(client_order_id=client_order_id))
        self._quotes.clear()

    def _on_update(self, update: OrderUpdate) -> None:
        report = self.report
        if update.fill_quantity:
            report.fills += 1
            report.volume += update.fill_quantity
            report.position += update.fill_quantity if update.buy else -update.fill_quantity
            self._quoted_mid2 = None  # inventory changed: re-quote with the new skew
        if update.status == OrderStatus.DENIED.value:
            report.denied += 1
        elif update.status == OrderStatus.REJECTED.value:
            report.rejected += 1
        if update.status not in _OPEN:
            self._quotes.pop(update.client_order_id, None)


_OPEN = frozenset(s.value for s in OrderStatus if s.open)
