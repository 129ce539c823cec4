"""Seeded background liquidity: a realistic market for the simulated exchange.

A mid price follows a random walk; limit orders arrive as a Poisson process around it
(more near the touch), resting orders are cancelled at random, and market orders
arrive now and then. Time is whatever the caller says (``step(now_ns)``), so the same
seed and the same steps give exactly the same orders: the server drives it from its
clock, the backtest from recorded time, tests from a loop.
"""

from __future__ import annotations

import math
import random

import msgspec

from tradeactors.exchange.matching import (
    EngineAccepted,
    EngineRejected,
    Event,
    MatchingEngine,
    RejectReason,
    Side,
    TimeInForce,
)

__all__ = ["BackgroundLiquidity", "LiquidityConfig"]


class LiquidityConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How busy and how wide the background market is (rates per second)."""

    start_mid: int = 100_000  # ticks
    volatility: float = 2.0  # ticks of mid random walk per sqrt(second)
    limit_rate: float = 50.0  # limit orders per second
    cancel_rate: float = 30.0  # cancels per second
    market_rate: float = 2.0  # market orders per second
    depth_ticks: int = 50  # how far from the mid limit orders are placed
    max_quantity: int = 20  # lots per order, uniform in 1..max_quantity
    market_protection_ticks: int = 100


class BackgroundLiquidity:
    """Places, cancels and takes orders on ``instrument`` as account ``account``s.

    Uses ``accounts`` different accounts so that its own orders can trade with each
    other (self-trade prevention would otherwise cancel them).
    """

    def __init__(
        self,
        engine: MatchingEngine,
        instrument: str,
        *,
        seed: int,
        config: LiquidityConfig | None = None,
        accounts: int = 4,
    ) -> None:
        self._engine = engine
        self._instrument = instrument
        self._config = config or LiquidityConfig()
        self._rng = random.Random(seed)  # noqa: S311 - a reproducible market, not cryptography
        self._accounts = [f"liquidity-{i}" for i in range(accounts)]
        self._mid = float(self._config.start_mid)
        self._last_ns: int | None = None
        self._orders: list[tuple[str, int]] = []  # (account, order id) it may cancel
        self._sequence = 0

    @property
    def mid(self) -> int:
        """The current mid price in ticks."""
        return round(self._mid)

    def step(self, now_ns: int) -> list[Event]:
        """Advance to ``now_ns`` and return the engine events of what happened."""
        if self._last_ns is None:
            self._last_ns = now_ns
            return self._seed_book()
        seconds = max(0, now_ns - self._last_ns) / 1e9
        self._last_ns = now_ns
        if seconds == 0:
            return []
        config, rng = self._config, self._rng
        self._mid = max(
            config.depth_ticks + 1.0,
            self._mid + rng.gauss(0, config.volatility * math.sqrt(seconds)),
        )
        events: list[Event] = []
        for _ in range(self._poisson(config.limit_rate * seconds)):
            events.extend(self._limit())
        for _ in range(self._poisson(config.cancel_rate * seconds)):
            events.extend(self._cancel())
        for _ in range(self._poisson(config.market_rate * seconds)):
            events.extend(self._market())
        return events

    def _seed_book(self) -> list[Event]:
        events: list[Event] = []
        for _ in range(self._config.depth_ticks * 2):
            events.extend(self._limit())
        return events

    def _poisson(self, mean: float) -> int:
        # Knuth's method: fine for the small means of one step
        limit, count, product = math.exp(-mean), 0, self._rng.random()
        while product > limit:
            count += 1
            product *= self._rng.random()
        return count

    def _next_id(self) -> str:
        self._sequence += 1
        return f"bg{self._sequence}"

    def _limit(self) -> list[Event]:
        config, rng = self._config, self._rng
        side = rng.choice((Side.BUY, Side.SELL))
        distance = 1 + min(config.depth_ticks - 1, int(rng.expovariate(5.0 / config.depth_ticks)))
        price = self.mid - distance if side is Side.BUY else self.mid + distance
        account = rng.choice(self._accounts)
        events = self._engine.submit(
            account=account,
            client_order_id=self._next_id(),
            instrument=self._instrument,
            side=side,
            quantity=rng.randint(1, config.max_quantity),
            price=max(1, price),
        )
        for event in events:
            if isinstance(event, EngineAccepted):
                self._orders.append((account, event.order_id))
        return events

    def _cancel(self) -> list[Event]:
        if not self._orders:
            return []
        index = self._rng.randrange(len(self._orders))
        self._orders[index], self._orders[-1] = self._orders[-1], self._orders[index]
        account, order_id = self._orders.pop()
        events = self._engine.cancel(account=account, order_id=order_id)
        # the order may have been filled since: that is not news
        return [
            e
            for e in events
            if not (isinstance(e, EngineRejected) and e.reason is RejectReason.UNKNOWN_ORDER)
        ]

    def _market(self) -> list[Event]:
        config, rng = self._config, self._rng
        side = rng.choice((Side.BUY, Side.SELL))
        protection = config.market_protection_ticks
        price = self.mid + protection if side is Side.BUY else max(1, self.mid - protection)
        return self._engine.submit(
            account=rng.choice(self._accounts),
            client_order_id=self._next_id(),
            instrument=self._instrument,
            side=side,
            quantity=rng.randint(1, config.max_quantity),
            price=price,
            tif=TimeInForce.IOC,
            market=True,
        )
