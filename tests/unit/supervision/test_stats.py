"""Per-actor statistics: exact power-of-two histograms, exact counts by message type."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeactors.supervision import ChildSpec, SupervisedActor, Supervisor, SupervisorSpec
from tradeactors.supervision._stats import EXPORTED_EXPONENTS, Histogram

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MESSAGES = 300
"""Messages per test: enough for long runs of a type and many changes of type."""


def test_a_duration_equal_to_a_bound_is_counted_in_that_bucket():
    histogram = Histogram()
    histogram.observe(2**12)
    buckets = dict(histogram.cumulative())
    assert buckets[repr(2**12 / 1e9)] == 1
    assert buckets[repr(2**11 / 1e9)] == 0


def test_short_durations_fall_in_the_first_bucket_and_long_ones_only_in_inf():
    histogram = Histogram()
    for duration in (0, 1, 500, 2**10):
        histogram.observe(duration)
    histogram.observe(2**40)
    buckets = histogram.cumulative()
    assert buckets[0] == (repr(2**10 / 1e9), 4)
    assert buckets[-2][1] == 4
    assert buckets[-1] == ("+Inf", 5)
    assert histogram.count == 5
    assert histogram.sum_ns == 1 + 500 + 2**10 + 2**40


@given(st.lists(st.integers(0, 2**36), max_size=50))
def test_every_cumulative_bucket_counts_exactly_the_durations_at_or_below_its_bound(durations):
    histogram = Histogram()
    for duration in durations:
        histogram.observe(duration)
    buckets = histogram.cumulative()
    assert len(buckets) == len(EXPORTED_EXPONENTS) + 1
    for (le, count), exponent in zip(buckets, EXPORTED_EXPONENTS, strict=False):
        assert le == repr(2**exponent / 1e9)
        assert count == sum(1 for d in durations if d <= 2**exponent)
    assert buckets[-1] == ("+Inf", len(durations))


# -- what the actor loop records, read from outside --------------------------------------


class Quote:
    """A message type."""


class Trade:
    """Another message type."""


class Recorder(SupervisedActor):
    """Handles anything; crashes on "crash"; answers "scrape" with its tree's metrics.

    The scrape runs in the actor's own handler: every message queued before it has been
    handled and recorded, none after it, so the figures it returns are exact.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._registry = registry

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("crash on purpose")
        if message == "scrape":
            return _scrape(self._registry)
        return None


def _scrape(registry: CollectorRegistry) -> dict[str, float | None]:
    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"path": "recorder", **labels})

    return {
        "Quote": sample("tradeactors_messages_processed_total", message_type="Quote"),
        "Trade": sample("tradeactors_messages_processed_total", message_type="Trade"),
        "wait": sample("tradeactors_mailbox_wait_seconds_count"),
        "handler": sample("tradeactors_handler_seconds_count"),
        "handler_inf": sample("tradeactors_handler_seconds_bucket", le="+Inf"),
    }


def _recorder_tree(make_tree: Any, registry: CollectorRegistry) -> Supervisor:
    spec = SupervisorSpec(
        name="root",
        children=(ChildSpec(name="recorder", actor=Recorder, args=(registry,)),),
    )
    return make_tree(spec, registry=registry)


def _mixed(count: int) -> list[Quote | Trade]:
    """Runs of one type and single alternations, so the loop's type cache is exercised."""
    rng = random.Random(20)
    return [Quote() if rng.random() < 0.6 else Trade() for _ in range(count)]


@pytest.mark.supervision
class TestRecordedPerMessage:
    """Counts by type and both histograms are exact, whatever the runs of types."""

    def test_a_scrape_after_n_messages_sees_exactly_n_by_type_and_n_observations(
        self, make_tree, registry
    ):
        messages = _mixed(3 * MESSAGES)
        tree = _recorder_tree(make_tree, registry)
        address = tree.address("recorder")
        for message in messages:
            address.tell(message)
        quotes = sum(isinstance(m, Quote) for m in messages)
        # The scrape's own message has waited (its handler is running): one more wait.
        assert address.ask("scrape", timeout=10) == {
            "Quote": quotes,
            "Trade": len(messages) - quotes,
            "wait": len(messages) + 1,
            "handler": len(messages),
            "handler_inf": len(messages),
        }

    def test_counts_of_a_type_go_on_across_a_restart_and_the_crashing_message_is_not_one(
        self, make_tree, registry
    ):
        before, after = _mixed(MESSAGES + 7), _mixed(MESSAGES // 2)
        tree = _recorder_tree(make_tree, registry)
        address = tree.address("recorder")
        for message in (*before, "crash", *after):
            address.tell(message)
        scraped = address.ask("scrape", timeout=10)
        assert tree.stats("recorder").incarnations == 2
        quotes = sum(isinstance(m, Quote) for m in (*before, *after))
        handled = len(before) + len(after)
        # The crashing message waited (counted in the wait histogram) but its handler
        # never returned: a dead letter, not processed, no handler time. The scrape's
        # own message has waited too.
        assert scraped == {
            "Quote": quotes,
            "Trade": handled - quotes,
            "wait": handled + 2,
            "handler": handled,
            "handler_inf": handled,
        }
        assert tree.dead_letters.recent()[-1].message == "crash"

    def test_the_stats_of_a_stopped_tree_hold_every_message_it_handled(self, make_tree, registry):
        messages = _mixed(MESSAGES)
        tree = _recorder_tree(make_tree, registry)
        address = tree.address("recorder")
        for message in messages:
            address.tell(message)
        assert address.ask("sync", timeout=10) is None
        tree.stop(timeout=10)
        stats = tree.stats("recorder")
        quotes = sum(isinstance(m, Quote) for m in messages)
        assert stats.processed == {Quote: quotes, Trade: len(messages) - quotes, str: 1}
        assert stats.processed_total == stats.wait.count == stats.handler.count
        assert stats.processed_total == len(messages) + 1
