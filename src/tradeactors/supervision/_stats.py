"""Per-actor counters kept as plain attributes on the hot path, read at scrape time.

Each field has one writer: the actor's own thread (counters, histograms), senders
under the mailbox lock (dropped, conflated), or the supervisor (restarts). A
Prometheus collector reads them when scraped, so a message costs a few integer
operations instead of a ``prometheus_client`` lock per observation.
"""

from __future__ import annotations

__all__ = ["EXPORTED_EXPONENTS", "ActorStats", "Histogram"]

EXPORTED_EXPONENTS = range(10, 35)
"""Exported bucket bounds are ``2**k`` ns for these k: from 1.024 µs to 17.2 s."""


class Histogram:
    """A histogram of nanosecond durations in power-of-two buckets.

    A duration ``d`` lands in slot ``(d - 1).bit_length()``, the smallest ``k`` with
    ``d <= 2**k``: one subtraction and one ``int.bit_length`` per observation, cheap
    enough for every message. The actor loop does this arithmetic inline.
    At scrape time the slots are folded into the exported bounds (`EXPORTED_EXPONENTS`),
    which keep Prometheus's ``le`` meaning exactly (a value equal to a bound is in it).
    """

    __slots__ = ("counts", "sum_ns")

    def __init__(self) -> None:
        self.counts = [0] * 66  # slots 0..65 cover every non-negative 64-bit duration
        self.sum_ns = 0

    def observe(self, duration_ns: int) -> None:
        """Count one duration."""
        self.counts[(duration_ns - 1).bit_length()] += 1
        self.sum_ns += duration_ns

    @property
    def count(self) -> int:
        """Number of observations."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, cumulative count)`` pairs in Prometheus order, ending with ``+Inf``."""
        counts = list(self.counts)  # one consistent copy
        out: list[tuple[str, int]] = []
        total = sum(counts[: EXPORTED_EXPONENTS.start])
        for exponent in EXPORTED_EXPONENTS:
            total += counts[exponent]
            out.append((repr(2**exponent / 1e9), total))
        out.append(("+Inf", sum(counts)))
        return out


class ActorStats:
    """Everything the metrics report about one actor path, across its incarnations."""

    __slots__ = (
        "conflated",
        "counters",
        "dead_letters",
        "dropped",
        "handler",
        "incarnations",
        "instrumented",
        "path",
        "up",
        "wait",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.counters: dict[type, list[int]] = {}
        """Messages handled, by type: one single-item list per type, incremented in place
        by the actor loop (which keeps the last type's list at hand)."""
        self.wait = Histogram()
        self.handler = Histogram()
        self.incarnations = 0
        self.dead_letters: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self.conflated = 0
        self.up = False
        self.instrumented = True
        """False in a tree built with ``instrument=False``: no wait or handler times
        and no per-type counts are collected (or exported)."""

    @property
    def restarts(self) -> int:
        """Starts after the first one."""
        return max(0, self.incarnations - 1)

    @property
    def processed(self) -> dict[type, int]:
        """Messages handled, by type: a snapshot of the live counters.

        Every message whose handler has returned is in it; nothing is held back.
        """
        return {kind: counter[0] for kind, counter in self.counters.copy().items()}

    @property
    def processed_total(self) -> int:
        """Messages handled, of every type."""
        return sum(self.processed.values())
