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
