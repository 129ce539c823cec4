"""`tradeactors top`'s journal line, from the journal's own metrics (JournalMetrics)."""

from __future__ import annotations

import io

from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from tradeactors.journal import JournalMetrics
from tradeactors.top import Quantile, journal_row, make_view, parse_scrape, render

URL = "http://127.0.0.1:1/metrics"


def text_of(renderable: object, width: int = 160) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def journal_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("journal "))


class Journal:
    """A registry with the journal's metrics, fed as the journal actor feeds them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = JournalMetrics(self.registry)

    def commit(self, events: int, seconds: float, lag: int = 0) -> None:
        self.metrics.written.inc(events)
        self.metrics.batch.observe(events)
        self.metrics.commit.observe(seconds)
        self.metrics.lag.set(lag)

    def scrape(self, at: float):
        return parse_scrape(generate_latest(self.registry).decode(), at=at)


class TestTheJournalLine:
    """Events/s, commit p99, batch size and lag over the interval; outages in red."""

    def test_rates_and_batch_are_over_the_interval(self):
        journal = Journal()
        for _ in range(10):
            journal.commit(1, 0.0002)  # ten single events before the first scrape
        before = journal.scrape(at=0.0)
        for _ in range(4):
            journal.commit(50, 0.003)  # then four bursts of 50
        journal.metrics.lag.set(7)
        after = journal.scrape(at=2.0)
        row = journal_row(before, after)
        assert row is not None
        assert row.rate == 100.0  # 200 events in 2 s
        assert (row.batch, row.batch_recent) == (50.0, True)
        # the four commits fell in the 2.5-5 ms bucket: p99 interpolated in it, recent
        assert row.commit_p99 == Quantile(0.0025 + 0.0025 * 0.99, recent=True)
        assert (row.lag, row.unavailable, row.dropped) == (7.0, 0.0, 0.0)
        line = journal_line(text_of(render(make_view(URL, before, after))))
        assert line.split() == [
            "journal", "100", "events/s", "commit", "p99", "4.98ms", "batch", "50.0",
            "lag", "7", "unavailable", "0",
        ]  # fmt: skip

    def test_the_first_frame_has_no_rate_and_the_batch_since_the_start(self):
        journal = Journal()
        journal.commit(3, 0.0002)
        journal.commit(5, 0.0002)
        row = journal_row(None, journal.scrape(at=0.0))
        assert row is not None
        assert (row.rate, row.batch, row.batch_recent) == (None, 4.0, False)
        assert row.commit_p99 is not None
        assert not row.commit_p99.recent

    def test_an_idle_interval_shows_zero_events_and_the_batch_since_the_start(self):
        journal = Journal()
        journal.commit(6, 0.0002)
        before = journal.scrape(at=0.0)
        row = journal_row(before, journal.scrape(at=1.0))
        assert row is not None
        assert (row.rate, row.batch, row.batch_recent) == (0.0, 6.0, False)

    def test_a_journal_with_no_commit_yet_shows_dashes(self):
        journal = Journal()
        line = journal_line(text_of(render(make_view(URL, None, journal.scrape(at=0.0)))))
        assert line.split() == [
            "journal", "-", "events/s", "commit", "p99", "-", "batch", "-",
            "lag", "0", "unavailable", "0",
        ]  # fmt: skip

    def test_an_unwritable_journal_shows_the_outages_and_the_events_dropped(self):
        journal = Journal()
        journal.commit(4, 0.0002)
        journal.metrics.unavailable.inc()
        journal.metrics.dropped.inc(12)
        snapshot = journal.scrape(at=0.0)
        line = journal_line(text_of(render(make_view(URL, None, snapshot))))
        assert line.endswith("unavailable 1 (12 events dropped)")

    def test_a_system_without_a_journal_has_no_journal_line(self):
        registry = CollectorRegistry()  # no JournalMetrics: the system keeps no journal
        snapshot = parse_scrape(generate_latest(registry).decode(), at=0.0)
        assert snapshot.journal is None
        assert journal_row(None, snapshot) is None
        text = text_of(render(make_view(URL, None, snapshot)))
        assert not any(line.startswith("journal") for line in text.splitlines())

    def test_a_restarted_process_counts_its_events_from_zero(self):
        old, new = Journal(), Journal()
        for _ in range(10):
            old.commit(100, 0.0002)
        old.commit(1, 0.0002)
        for _ in range(15):
            new.commit(2, 0.0002)  # more commits than before the restart, fewer events
        row = journal_row(old.scrape(at=0.0), new.scrape(at=3.0))
        assert row is not None
        assert row.rate == 10.0  # 30 events since the restart, over 3 s
        assert (row.batch, row.batch_recent) == (2.0, False)  # the mean since the restart
