"""Per-actor counters kept as plain attributes on the hot path, read at scrape time.

Each field has one writer: the actor's own thread (processed, histograms), senders
under the mailbox lock (dropped, conflated), or the supervisor (restarts). A
Prometheus collector reads them when scraped, so a message costs a few integer
operations instead of a ``prometheus_client`` lock per observation.
"""

from __future__ import annotations

from bisect import bisect_left

__all__ = ["DURATION_BUCKETS", "ActorStats", "Histogram"]

DURATION_BUCKETS: tuple[float, ...] = (
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
    1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Upper bounds, in seconds, of the wait and handler time histograms."""


class Histogram:
    """A fixed-bucket histogram of nanosecond durations; ``observe`` is O(log buckets).

    The actor loop updates ``counts`` and ``sum_ns`` inline (the same arithmetic as
    `observe`) to save a call per message.
    """

    __slots__ = ("bounds_ns", "counts", "sum_ns")

    def __init__(self, bounds: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.bounds_ns = [round(b * 1e9) for b in bounds]
        self.counts = [0] * (len(bounds) + 1)
        self.sum_ns = 0

    def observe(self, duration_ns: int) -> None:
        """Count one duration (a value equal to a bound falls in that bound's bucket)."""
        self.counts[bisect_left(self.bounds_ns, duration_ns)] += 1
        self.sum_ns += duration_ns

    @property
    def count(self) -> int:
        """Number of observations."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, cumulative count)`` pairs in Prometheus order, ending with ``+Inf``."""
        counts = list(self.counts)  # one consistent copy
        out: list[tuple[str, int]] = []
        total = 0
        for bound_ns, n in zip(self.bounds_ns, counts, strict=False):
            total += n
            out.append((repr(bound_ns / 1e9), total))
        out.append(("+Inf", total + counts[-1]))
        return out


class ActorStats:
    """Everything the metrics report about one actor path, across its incarnations."""

    __slots__ = (
        "conflated",
        "dead_letters",
        "dropped",
        "handler",
        "incarnations",
        "path",
        "processed",
        "up",
        "wait",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.processed: dict[type, int] = {}
        self.wait = Histogram()
        self.handler = Histogram()
        self.incarnations = 0
        self.dead_letters: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self.conflated = 0
        self.up = False

    @property
    def restarts(self) -> int:
        """Starts after the first one."""
        return max(0, self.incarnations - 1)

    @property
    def processed_total(self) -> int:
        """Messages handled, of every type."""
        return sum(self.processed.copy().values())
