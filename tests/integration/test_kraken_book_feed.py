"""Kraken's ``book`` channel read by the live feed and the book actor, over real sockets.

The simulated exchange speaking Kraken (an independent reading of Kraken's docs) serves
WebSocket v2's ``book`` with its CRC32 checksum at ``/v2``; the feed subscribes as it
would at ``wss://ws.kraken.com/v2``. The venue writes quantities at its own precision
(lots of 0.00001 here) while the book counts them in a coarser order lot (0.001): the
checksum must still match every update, so it is computed on the strings as sent.
A lost update shows as a checksum mismatch; the feed then resubscribes the pair on the
same connection (Kraken sends a fresh snapshot), and nothing restarts.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING

import pytest

from tradeactors.actors.marketdata import BookActor, GetReport, LiveFeed, book_name
from tradeactors.clock import SystemClock
from tradeactors.core.book import BookView
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import GetBook
from tradeactors.exchange.server import SimExchange
from tradeactors.supervision import ChildSpec, Strategy, SupervisorSpec
from tradeactors.supervision.testing import Inbox, Probe

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tradeactors.supervision import Supervisor

pytestmark = pytest.mark.supervision

PAIR = "BTC/USDT"
VENUE_LOT = Instrument(venue="kraken", symbol=PAIR, tick_size="0.01", lot_size="0.00001")
ORDER_LOT = Instrument(venue="kraken", symbol=PAIR, tick_size="0.01", lot_size="0.001")
RATIO = 100  # venue lots in an order lot
BOOK = f"market_data/{book_name(PAIR)}"
FEED = "market_data/feed"


@pytest.fixture
def venue() -> Iterator[SimExchange]:
    clock = SystemClock()
    exchange = SimExchange(VENUE_LOT, clock, seed=5, interval=0.01, protocol="kraken").start()
    try:
        yield exchange
    finally:
        exchange.close()
        clock.close()


def _spec(venue: SimExchange, views: Inbox) -> SupervisorSpec:
    return SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="sink", actor=Probe, args=(views,)),
            SupervisorSpec(
                name="market_data",
                strategy=Strategy.REST_FOR_ONE,
                children=(
                    ChildSpec(
                        name="feed",
                        actor=LiveFeed,
                        args=("kraken", venue.ws_url),
                        kwargs={"symbols": (PAIR,), "books_path": "market_data", "depth": 10},
                    ),
                    ChildSpec(
                        name=book_name(PAIR),
                        actor=BookActor,
                        args=("kraken", ORDER_LOT, FEED),
                        kwargs={"subscribers": ("sink",), "max_depth": 10},
                    ),
                ),
            ),
        ),
    )


def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds (asked again every 20 ms), or fail."""
    deadline = time.monotonic() + timeout
    wake = threading.Event()
    while not check():
        assert time.monotonic() < deadline, "timed out"
        wake.wait(0.02)


def _venue_top(venue: SimExchange) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The venue's top 10 in order lots, as a book counts them (rounded up)."""
    bids, asks = venue.depth(10)
    return (
        [(p, math.ceil(q / RATIO)) for p, q in bids],
        [(p, math.ceil(q / RATIO)) for p, q in asks],
    )


def _equal_once_still(tree: Supervisor, venue: SimExchange) -> None:
    """Stop the market; the book comes to hold the venue's top 10 exactly."""
    venue.pause()
    try:

        def equal() -> bool:
            view = tree.address(BOOK).ask(GetBook(depth=10), timeout=5)
            return (list(view.bids), list(view.asks)) == _venue_top(venue)

        _until(equal)
    finally:
        venue.resume()


def test_the_feed_subscribes_to_kraken_s_book_and_every_checksum_matches_in_a_coarser_lot(
    venue, make_tree
):
    views = Inbox()
    tree = make_tree(_spec(venue, views))
    views.wait_for_count(40, timeout=10)
    report = tree.address(BOOK).ask(GetReport(), timeout=5)
    assert report.synced
    assert report.snapshots == 1
    assert report.checksum_matched >= 40
    assert report.checksum_mismatched == report.bad_levels == report.crossed == 0
    assert report.levels <= 20  # trimmed to the subscribed depth
    fine = [q for _, q in (*venue.depth(10)[0], *venue.depth(10)[1]) if q % RATIO]
    assert fine, "every size was a whole order lot: the test would prove nothing"
    _, view = views.snapshot()[-1]
    assert isinstance(view, BookView)
    _equal_once_still(tree, venue)
    feed = tree.address(FEED).ask(GetReport(), timeout=5)
    assert feed.dropped == {}
    assert feed.resubscriptions == 0  # the book's request at start: the snapshot was coming


def test_a_lost_update_is_a_checksum_mismatch_and_the_feed_resubscribes_the_pair(venue, make_tree):
    views = Inbox()
    tree = make_tree(_spec(venue, views))
    views.wait_for_count(10, timeout=10)
    venue.drop_frames(1)  # one book update never sent: the next one's checksum disagrees

    def resynced() -> bool:
        report = tree.address(BOOK).ask(GetReport(), timeout=5)
        return report.checksum_mismatched == 1 and report.snapshots == 2 and report.synced

    _until(resynced)
    feed = tree.address(FEED).ask(GetReport(), timeout=5)
    assert feed.resubscriptions == 1  # unsubscribe + subscribe on the same connection
    assert feed.snapshot_requests >= 2  # the book's at start (its snapshot was coming), this
    assert tree.stats(FEED).restarts == tree.stats(BOOK).restarts == 0  # nothing reconnected
    seen = len(views.snapshot())
    views.wait_for_count(seen + 10, timeout=10)  # published again
    _equal_once_still(tree, venue)


def test_a_restarted_book_gets_a_snapshot_by_resubscription(venue, make_tree):
    """The book crashes alone (the feed keeps its connection): its successor asks for a
    snapshot, and the feed, whose subscription's snapshot went to the dead book, asks
    Kraken for another."""
    views = Inbox()
    tree = make_tree(_spec(venue, views))
    views.wait_for_count(10, timeout=10)
    tree.faults(BOOK).crash_next()

    def restarted_and_synced() -> bool:
        if tree.stats(BOOK).restarts != 1:
            return False
        return bool(tree.address(BOOK).ask(GetReport(), timeout=5).synced)

    _until(restarted_and_synced)
    assert tree.address(FEED).ask(GetReport(), timeout=5).resubscriptions == 1
    assert tree.stats(FEED).restarts == 0
    _equal_once_still(tree, venue)
