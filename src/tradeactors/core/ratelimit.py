"""A token bucket: ``burst`` messages at once, ``rate`` per second sustained (pure)."""

from __future__ import annotations

__all__ = ["TokenBucket"]


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

    def empty(self, now_ns: int) -> None:
        """Spend every token now: the venue said its own budget ran out (slow down)."""
        self.tokens = 0.0
        self._refilled_ns = now_ns

    def seconds_to_next(self) -> float:
        """How long until a whole token is there (as of the last `take`)."""
        return max(0.0, (1 - self.tokens) / self._rate)
