"""The token bucket shared by the venue's sessions and the gateway's own budget."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tradeactors.core.ratelimit import Budget, RateKind, TokenBucket, VenueRateLimit, venue_budget


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


class TestVenueBudget:
    """The gateway's budget cut to the venue's limits: never more than a window allows."""

    # Binance's documented exchangeInfo: 6000 weight a minute, 50 orders per 10 s,
    # 160,000 a day
    BINANCE = (
        VenueRateLimit(RateKind.REQUESTS, 6000, 60),
        VenueRateLimit(RateKind.ORDERS, 50, 10),
        VenueRateLimit(RateKind.ORDERS, 160_000, 86_400),
    )

    def test_binance_s_documented_limits_cut_the_order_budget_only(self):
        budget = venue_budget(40.0, 80, self.BINANCE, keep=10)
        assert (budget.rate, budget.burst) == (40.0, 80)  # 80 + 40 x 60 <= 6000
        assert (budget.order_burst, budget.order_rate) == (12, 3.8)  # 12 + 3.8 x 10 = 50

    def test_no_venue_limits_leave_the_configured_budget(self):
        assert venue_budget(5.0, 20, ()) == Budget(5.0, 20, 5.0, 20)

    def test_a_budget_already_within_the_limits_is_kept(self):
        assert venue_budget(2.0, 8, self.BINANCE) == Budget(2.0, 8, 2.0, 8)

    def test_a_day_window_is_left_to_the_reported_counts(self):
        day = (VenueRateLimit(RateKind.ORDERS, 100, 86_400),)
        assert venue_budget(10.0, 30, day) == Budget(10.0, 30, 10.0, 30)

    @given(
        rate=st.floats(0.1, 1000),
        burst=st.integers(11, 1000),
        kind=st.sampled_from(RateKind),
        limit=st.integers(2, 100_000),
        seconds=st.sampled_from([1, 10, 60]),
    )
    def test_no_window_ever_holds_more_than_the_venue_allows(
        self, rate, burst, kind, limit, seconds
    ):
        budget = venue_budget(rate, burst, (VenueRateLimit(kind, limit, seconds),), keep=10)
        if kind is RateKind.ORDERS:
            assert budget.order_burst + budget.order_rate * seconds <= limit + 1e-9
        elif limit >= 2 * 11:  # room for the reserve of cancels
            assert budget.burst + budget.rate * seconds <= limit + 1e-9
        assert budget.burst >= 11  # cancels always keep their reserve
        assert budget.rate > 0
        assert budget.order_rate > 0
        assert budget.order_burst >= 1

    def test_a_count_near_its_limit_says_stop_until_the_window_ends(self):
        ten_seconds = VenueRateLimit(RateKind.ORDERS, 50, 10, used=44)
        assert not ten_seconds.near()
        assert ten_seconds._replace(used=45).near()  # within a tenth: 5 left
        assert not ten_seconds._replace(used=-1).near()  # not said
        assert VenueRateLimit(RateKind.ORDERS, 5, 10, used=4).near()  # at least 1 left
        assert ten_seconds.window_end_ms(1_700_000_003_456) == 1_700_000_010_000
        assert ten_seconds.window_end_ms(1_700_000_010_000) == 1_700_000_020_000
        day = VenueRateLimit(RateKind.ORDERS, 160_000, 86_400)
        assert day.window_end_ms(86_400_000 * 3 + 5) == 86_400_000 * 4  # UTC midnight

    def test_a_decaying_counter_says_stop_until_it_is_back_below_the_line(self):
        """Kraken's: 125 decaying by 2.34/s; the line is a tenth under the threshold (113)."""
        counter = VenueRateLimit(RateKind.ORDERS, 125, 54, used=112, decay=2.34)
        assert not counter.near()
        assert counter._replace(used=113).near()
        # at 121: 9 above 112, the last value under the line, 3.85 s at 2.34/s
        assert counter._replace(used=121).window_end_ms(1_000) == 1_000 + 3_847
        assert counter._replace(used=113).window_end_ms(1_000) == 1_000 + 428


def test_a_token_given_back_is_there_again_but_never_past_the_burst():
    bucket = TokenBucket(1.0, 2, now_ns=0)
    assert bucket.take(0)
    bucket.give_back()
    assert bucket.tokens == 2
    bucket.give_back()
    assert bucket.tokens == 2
