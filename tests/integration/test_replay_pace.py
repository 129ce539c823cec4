"""Replaying at the recorded pace follows the clock (a fake one here)."""

from __future__ import annotations

import threading

import pytest

from tradeactors.actors.marketdata import BookActor, GetReport, ReplayFeed, book_name
from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.supervision import ChildSpec, SupervisorSpec
from tradeactors.venues.synthetic import synthetic_binance

pytestmark = pytest.mark.supervision
SYN = Instrument(venue="binance", symbol="SYNUSDT", tick_size="0.01", lot_size="0.001")


def _tree(make_tree, clock, done, *, speed=1.0):
    frames = synthetic_binance(SYN, seed=3, diffs=10, interval_ns=100_000_000)
    spec = SupervisorSpec(
        name="root",
        children=(
            ChildSpec(
                name="feed",
                actor=ReplayFeed,
                args=("binance", frames),
                kwargs={"symbols": ("SYNUSDT",), "books_path": "/", "done": done,
                        "pace": "recorded", "speed": speed},
            ),
            ChildSpec(name=book_name("SYNUSDT"), actor=BookActor, args=("binance", SYN, "feed")),
        ),
    )  # fmt: skip
    return make_tree(spec, clock=clock)


def _frames_so_far(tree) -> int:
    return tree.address("feed").ask(GetReport(), timeout=5).frames


def test_frames_are_released_when_their_recorded_time_comes(make_tree):
    clock, done = FakeClock(), threading.Event()
    tree = _tree(make_tree, clock, done)
    assert _frames_so_far(tree) == 1  # the snapshot, at offset 0
    clock.advance(0.15)  # the first diff (100 ms) and its ticker (100 ms + 1 ns)
    assert _frames_so_far(tree) == 3
    clock.advance(0.1)
    assert _frames_so_far(tree) == 5
    assert not done.is_set()
    clock.advance(1.0)
    assert done.wait(10)
    assert _frames_so_far(tree) == 21
    report = tree.address(f"{book_name('SYNUSDT')}").ask(GetReport(), timeout=5)
    assert report.synced
    assert report.applied == 10


def test_speed_divides_the_recorded_gaps(make_tree):
    clock, done = FakeClock(), threading.Event()
    tree = _tree(make_tree, clock, done, speed=10.0)
    clock.advance(0.015)  # 150 ms of recording at 10x
    assert _frames_so_far(tree) == 3


def test_a_slow_subscriber_with_a_conflating_mailbox_sees_the_latest_view(make_tree):
    from tradeactors.core.book import BookView
    from tradeactors.supervision import MailboxSpec, Overflow
    from tradeactors.supervision.testing import Inbox, Probe

    frames = synthetic_binance(SYN, seed=5, diffs=300)
    done, seen = threading.Event(), Inbox()
    spec = SupervisorSpec(
        name="root",
        children=(
            ChildSpec(
                name="strategy",
                actor=Probe,
                args=(seen,),
                mailbox=MailboxSpec(
                    overflow=Overflow.CONFLATE, conflate_key=lambda v: v.instrument
                ),
            ),
            ChildSpec(
                name="feed",
                actor=ReplayFeed,
                args=("binance", frames),
                kwargs={"symbols": ("SYNUSDT",), "books_path": "/", "done": done},
            ),
            ChildSpec(
                name=book_name("SYNUSDT"),
                actor=BookActor,
                args=("binance", SYN, "feed"),
                kwargs={"subscribers": ("strategy",)},
            ),
        ),
    )
    tree = make_tree(spec)
    tree.faults("strategy").slow(0.02)  # far slower than the book publishes
    assert done.wait(30)
    final = tree.address(book_name("SYNUSDT")).ask(GetReport(), timeout=10)
    tree.address("strategy").ask("sync", timeout=30)  # queued behind the last view
    views = [m for _, m in seen.snapshot() if isinstance(m, BookView)]
    assert views[-1].update_id == final.update_id  # the newest view always arrives
    assert len(views) < final.applied + 1  # older ones were conflated away
    assert tree.stats("strategy").conflated == final.applied + 1 - len(views)
