"""A token bucket: ``burst`` messages at once, ``rate`` per second sustained (pure).

And a venue's own rate limits (`VenueRateLimit`: Binance's ``rateLimits``, Kraken's
decaying rate counter), with the
budget a client keeps within them (`venue_budget`) and when to stop sending new orders
as a reported count nears its limit (`VenueRateLimit.near`, `VenueRateLimit.window_end_ms`).
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

__all__ = ["Budget", "RateKind", "TokenBucket", "VenueRateLimit", "venue_budget"]

SHORT_WINDOW_SECONDS = 60
"""Windows up to this long are kept by the token buckets; longer ones (an hour, a day)
by the venue's reported count (a bucket paced for a day would allow a trickle)."""


class RateKind(enum.StrEnum):
    """What a venue's rate limit counts."""

    ORDERS = "orders"  # new orders (Binance ``ORDERS``, per account)
    REQUESTS = "requests"  # request weight, every request at least 1 (``REQUEST_WEIGHT``)


class VenueRateLimit(NamedTuple):
    """One of a venue's rate limits: at most ``limit`` of ``kind`` per ``seconds``.

    The venue counts in windows aligned on the epoch (Binance's 10 s, minute, day);
    ``used``: how much of it the current window has used, when a reply said (-1: not).
    A counter that ``decay`` s by that much a second instead (Kraken's per-pair trading
    counter: ``limit`` is its threshold, ``seconds`` the time it takes to empty from
    the threshold) has no windows: see `window_end_ms`.
    ``symbol``: the one instrument whose orders it counts (Kraken counts each pair on
    its own), "" for a limit on every order.
    """

    kind: RateKind
    limit: int
    seconds: int
    used: int = -1
    decay: float = 0.0  # per second; 0: windows
    symbol: str = ""  # the instrument it counts (Kraken's per pair); "": every order

    def near(self) -> bool:
        """The reported count is within a tenth (at least 1) of the limit: stop adding."""
        return self.used >= 0 and self.used >= self.limit - max(1, self.limit // 10)

    def window_end_ms(self, now_ms: int) -> int:
        """When the current window ends (epoch ms), as of the wall clock ``now_ms``.

        A decaying counter's: when it has decayed below the line `near` draws (``used``
        being its value at ``now_ms``).
        """
        if self.decay > 0:
            stop = self.limit - max(1, self.limit // 10)
            return now_ms + math.ceil(max(0, self.used - stop + 1) / self.decay * 1000)
        size = self.seconds * 1000
        return (now_ms // size + 1) * size


class Budget(NamedTuple):
    """The gateway's token buckets: every message, and new orders on top."""

    rate: float  # messages per second, sustained
    burst: int  # messages at once
    order_rate: float  # new orders per second, sustained
    order_burst: int  # new orders at once


def venue_budget(
    rate: float, burst: int, limits: tuple[VenueRateLimit, ...], *, keep: int = 0
) -> Budget:
    """The configured budget, cut so that it never exceeds the venue's short windows.

    A bucket of ``burst`` tokens refilled at ``rate`` lets ``burst + rate x T`` through
    in any window of ``T`` seconds; for each limit of ``L`` per ``T`` (``T`` up to
    `SHORT_WINDOW_SECONDS`) that sum is kept at or below ``L``. New orders (``ORDERS``)
    get their own bucket, a quarter of ``L`` at once (at least 1) and the rest spread
    over the window; request weight (``REQUEST_WEIGHT``: each request weighs at least
    1) cuts the bucket of every message, never below ``keep + 1`` tokens at once.
    Longer windows are left to the reported counts (`VenueRateLimit.near`).
    """
    order_rate, order_burst = rate, burst
    for limit in limits:
        if limit.seconds > SHORT_WINDOW_SECONDS or limit.limit < 1 or limit.seconds < 1:
            continue
        if limit.kind is RateKind.ORDERS:
            order_burst = min(order_burst, max(1, limit.limit // 4))
            order_rate = min(order_rate, max(limit.limit - order_burst, 1) / limit.seconds)
        else:
            burst = max(keep + 1, min(burst, limit.limit // 2))
            rate = min(rate, max(limit.limit - burst, 1) / limit.seconds)
    return Budget(rate, burst, order_rate, order_burst)


class TokenBucket:
    """Refilled from the clock each time it is asked; starts full."""

    __slots__ = ("_burst", "_rate", "_refilled_ns", "tokens")

    def __init__(self, rate_per_second: float, burst: float, now_ns: int = 0) -> None:
        self._rate = rate_per_second
        self._burst = float(burst)
        self.tokens = float(burst)
        self._refilled_ns = now_ns

    def take(self, now_ns: int, *, keep: int = 0) -> bool:
        """Spend one token if, after it, at least ``keep`` are left; False (none spent) if not."""
        self.tokens = min(
            self._burst, self.tokens + (now_ns - self._refilled_ns) / 1e9 * self._rate
        )
        self._refilled_ns = now_ns
        if self.tokens < 1 + keep:
            return False
        self.tokens -= 1
        return True

    def give_back(self) -> None:
        """Return the token just taken (what it was for was not sent after all)."""
        self.tokens = min(self._burst, self.tokens + 1)

    def empty(self, now_ns: int) -> None:
        """Spend every token now: the venue said its own budget ran out (slow down)."""
        self.tokens = 0.0
        self._refilled_ns = now_ns

    def seconds_to_next(self) -> float:
        """How long until a whole token is there (as of the last `take`)."""
        return max(0.0, (1 - self.tokens) / self._rate)
