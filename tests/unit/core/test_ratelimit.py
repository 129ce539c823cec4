"""The token bucket shared by the venue's sessions and the gateway's own budget."""

from __future__ import annotations

from tradeactors.core.ratelimit import TokenBucket


def test_burst_at_once_then_rate_per_second():
    bucket = TokenBucket(10.0, 3, now_ns=0)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(50_000_000)  # half a token after 50 ms
    assert bucket.take(100_000_000)  # a whole one after 100 ms
    assert bucket.take(10_000_000_000)  # refilled, capped at the burst ...
    assert bucket.tokens == 2  # ... then one spent


def test_keep_leaves_a_reserve_that_plain_takes_may_still_use():
    bucket = TokenBucket(1.0, 3, now_ns=0)
    assert bucket.take(0, keep=1)
    assert bucket.take(0, keep=1)
    assert not bucket.take(0, keep=1)  # the last token is kept
    assert bucket.take(0)  # for this
    assert bucket.seconds_to_next() == 1.0


def test_emptied_the_bucket_refills_from_then():
    bucket = TokenBucket(10.0, 3, now_ns=0)
    bucket.empty(now_ns=0)
    assert not bucket.take(50_000_000)  # half a token after 50 ms
    assert bucket.take(100_000_000)  # one after 100 ms
