"""Power-of-two duration histograms keep Prometheus's ``le`` meaning exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tradeactors.supervision._stats import EXPORTED_EXPONENTS, Histogram


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
