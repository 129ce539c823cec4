"""The journal's Prometheus metrics, on the registry the system was given.

- ``tradeactors_journal_events_written_total``: events committed;
- ``tradeactors_journal_events_dropped_total``: events of batches that could not be
  written (the kill switch is HALTED by then: ``journal_unavailable``);
- ``tradeactors_journal_unavailable_total``: times the journal became unwritable;
- ``tradeactors_journal_batch_events``: events per commit (histogram);
- ``tradeactors_journal_commit_seconds``: the commit's duration (histogram);
- ``tradeactors_journal_lag_events``: events still queued for the journal after its
  last commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["JournalMetrics"]

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_SECONDS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class JournalMetrics:
    """What the journal actor counts; registered once per system on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.written = Counter(
            "tradeactors_journal_events_written",
            "Events committed to the journal",
            registry=registry,
        )
        self.dropped = Counter(
            "tradeactors_journal_events_dropped",
            "Events the journal gave up on (past the records it holds while unwritable, "
            "or a batch that failed for another reason than an unwritable file)",
            registry=registry,
        )
        self.held = Gauge(
            "tradeactors_journal_events_held",
            "Events waiting for the journal to be writable again (written first, in order)",
            registry=registry,
        )
        self.unavailable = Counter(
            "tradeactors_journal_unavailable",
            "Times the journal became unwritable (the kill switch trips HALTED)",
            registry=registry,
        )
        self.batch = Histogram(
            "tradeactors_journal_batch_events",
            "Events per journal commit",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.commit = Histogram(
            "tradeactors_journal_commit_seconds",
            "Duration of one journal commit",
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            "tradeactors_journal_lag_events",
            "Events queued for the journal after its last commit",
            registry=registry,
        )
