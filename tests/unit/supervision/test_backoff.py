"""Exponential restart backoff with jitter, reset after a stable period (Akka's formula)."""

from __future__ import annotations

import pytest
from _actors import CRASH, FailingStart, Worker
from hypothesis import given
from hypothesis import strategies as st

from tradeactors.clock import FakeClock
from tradeactors.errors import ConfigError
from tradeactors.supervision import (
    ActorStarted,
    Backoff,
    ChildSpec,
    RestartScheduled,
    SupervisorSpec,
)
from tradeactors.supervision.testing import Inbox


class TestFormula:
    def test_delay_doubles_from_min_and_is_capped_at_max(self):
        backoff = Backoff(min_delay=0.1, max_delay=1.0, random_factor=0.0)
        assert [backoff.delay(n, 0.5) for n in range(6)] == pytest.approx(
            [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
        )

    def test_jitter_scales_the_delay_by_up_to_one_plus_random_factor(self):
        backoff = Backoff(min_delay=1.0, max_delay=8.0, random_factor=0.5)
        assert backoff.delay(1, 0.0) == pytest.approx(2.0)
        assert backoff.delay(1, 0.999) == pytest.approx(2.0 * 1.4995)

    @given(attempt=st.integers(0, 10_000), rnd=st.floats(0, 1, exclude_max=True))
    def test_delay_stays_within_min_and_max_times_jitter(self, attempt, rnd):
        backoff = Backoff(min_delay=0.05, max_delay=3.0, random_factor=0.2)
        assert 0.05 <= backoff.delay(attempt, rnd) <= 3.0 * 1.2

    def test_reset_after_defaults_to_min_delay(self):
        assert Backoff(min_delay=0.3).stable_after == 0.3
        assert Backoff(min_delay=0.3, reset_after=2.0).stable_after == 2.0

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"min_delay": 0}, "min_delay"),
            ({"min_delay": 2, "max_delay": 1}, "max_delay"),
            ({"random_factor": 1.5}, "random_factor"),
            ({"reset_after": -1}, "reset_after"),
        ],
    )
    def test_bad_values_name_the_field(self, kwargs, field):
        with pytest.raises(ConfigError, match=field):
            Backoff(**kwargs)


@pytest.mark.supervision
class TestSupervisedBackoff:
    def _tree(self, make_tree, clock, inbox):
        spec = SupervisorSpec(
            name="root",
            intensity=100,
            children=(
                ChildSpec(
                    name="w",
                    actor=Worker,
                    args=(inbox, Inbox()),
                    backoff=Backoff(min_delay=1.0, max_delay=4.0, random_factor=0.0),
                ),
            ),
        )
        return make_tree(spec, clock=clock)

    def test_restart_waits_for_the_backoff_and_messages_wait_in_the_mailbox(
        self, make_tree, events
    ):
        clock = FakeClock()
        inbox = Inbox()
        tree = self._tree(make_tree, clock, inbox)
        tree.subscribe(events)
        tree.address("w").tell(CRASH)
        tree.address("w").tell("sent during backoff")
        (scheduled,) = events.wait_for(RestartScheduled, "w")
        assert scheduled.delay == 1.0
        assert [c.state for c in tree.children()] == ["restarting"]
        assert tree.address("w").is_alive() is False
        clock.advance(0.999)
        assert [c.state for c in tree.children()] == ["restarting"]
        clock.advance(0.001)
        events.wait_for(ActorStarted, "w", where=lambda e: e.incarnation == 2)
        assert inbox.wait_for_count(1) == [(2, "sent during backoff")]

    def test_consecutive_crashes_double_the_delay_and_a_stable_run_resets_it(
        self, make_tree, events
    ):
        clock = FakeClock()
        tree = self._tree(make_tree, clock, Inbox())
        tree.subscribe(events)
        delays = []
        for incarnation in (2, 3, 4):
            tree.address("w").tell(CRASH)
            scheduled = events.wait_for(RestartScheduled, "w", count=incarnation - 1)
            delays.append(scheduled[-1].delay)
            clock.advance(scheduled[-1].delay)
            events.wait_for(ActorStarted, "w", where=lambda e, n=incarnation: e.incarnation == n)
        assert delays == [1.0, 2.0, 4.0]
        clock.advance(1.0)  # stable for reset_after (= min_delay)
        tree.address("w").tell(CRASH)
        assert events.wait_for(RestartScheduled, "w", count=4)[-1].delay == 1.0

    def test_the_delay_keeps_growing_while_the_child_fails_to_start(self, make_tree, events):
        # Issue 18: a child up for long, then failing *to start* (its venue gone), was
        # restarted at the minimum delay every time (its old uptime reset the count).
        clock = FakeClock()
        spec = SupervisorSpec(
            name="root",
            intensity=100,
            children=(
                ChildSpec(
                    name="w",
                    actor=CrashThenFailStart,
                    args=(Inbox(), Inbox(), frozenset({2, 3, 4, 5})),
                    backoff=Backoff(min_delay=1.0, max_delay=8.0, random_factor=0.0),
                ),
            ),
        )
        tree = make_tree(spec, clock=clock)
        tree.subscribe(events)
        clock.advance(60.0)  # up and stable for a minute
        tree.address("w").tell(CRASH)
        delays = []
        for count in range(1, 6):
            scheduled = events.wait_for(RestartScheduled, "w", count=count)[-1]
            delays.append(scheduled.delay)
            clock.advance(scheduled.delay)
        assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
        events.wait_for(ActorStarted, "w", where=lambda e: e.incarnation == 6)


class CrashThenFailStart(FailingStart):
    """Crashes on ``CRASH``; fails ``on_start`` on the listed incarnations."""

    def on_receive(self, message: object) -> object:
        if message == CRASH:
            raise RuntimeError("asked to crash")
        return super().on_receive(message)
