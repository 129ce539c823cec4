"""The live feed against a websocket venue on 127.0.0.1: sync, reconnect, staleness."""

from __future__ import annotations

import pytest

from conftest import DATA
from tradeactors.actors.marketdata import BookActor, GetReport, LiveFeed, book_name
from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.supervision import (
    ActorExited,
    ActorStarted,
    ChildSpec,
    Strategy,
    SupervisorSpec,
)
from tradeactors.supervision.testing import Inbox, Probe
from tradeactors.venues.capture import read_capture

pytestmark = [
    pytest.mark.supervision,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}"),
]
ETH = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.00001")


def _spec(ws_url: str, rest_url: str, sink: Inbox, *, stale_after: float = 30.0) -> SupervisorSpec:
    base = rest_url.split("/api/", maxsplit=1)[0]
    return SupervisorSpec(
        name="root",
        intensity=20,
        children=(
            ChildSpec(name="sink", actor=Probe, args=(sink,)),
            SupervisorSpec(
                name="market_data",
                strategy=Strategy.REST_FOR_ONE,
                intensity=20,
                children=(
                    ChildSpec(
                        name="feed",
                        actor=LiveFeed,
                        args=("binance", ws_url),
                        kwargs={
                            "symbols": ("ETHUSDT",),
                            "books_path": "market_data",
                            "rest_base_url": base,
                            "send": ('{"method":"SUBSCRIBE","id":1}',),
                            "stale_after": stale_after,
                            "route_tickers": True,
                        },
                    ),
                    ChildSpec(
                        name=book_name("ETHUSDT"),
                        actor=BookActor,
                        args=("binance", ETH, "market_data/feed"),
                        kwargs={"subscribers": ("sink",), "verify": True},
                    ),
                ),
            ),
        ),
    )


def test_the_live_feed_syncs_the_book_from_the_stream_and_a_rest_snapshot(venue, make_tree, events):
    fake, ws_url, rest_url = venue
    fake.hold.set()
    fake.snapshot_first = True  # one view per diff (buffered ones publish as one)
    sink = Inbox()
    tree = make_tree(_spec(ws_url, rest_url, sink))
    views = sink.wait_for_count(10, timeout=30)  # the 400 frames hold 18 depth diffs
    assert all(view.instrument == "binance:ETHUSDT" for _, view in views)
    ids = [view.update_id for _, view in views]
    assert ids == sorted(ids)
    report = tree.address("market_data/book.ETHUSDT").ask(GetReport(), timeout=10)
    assert report.synced
    assert report.snapshots >= 1
    assert report.ticker_persistent_mismatches == 0
    feed = tree.address("market_data/feed").ask(GetReport(), timeout=10)
    assert feed.snapshot_requests >= 1
    assert feed.dropped == {}


def test_a_closed_connection_crashes_the_feed_and_the_restart_reconnects_and_resyncs(
    venue, make_tree, events
):
    fake, ws_url, rest_url = venue  # the venue closes after its 400 frames
    sink = Inbox()
    tree = make_tree(_spec(ws_url, rest_url, sink))
    tree.subscribe(events)
    events.wait_for(
        ActorStarted, "market_data/feed", where=lambda e: e.incarnation >= 2, timeout=30
    )
    (crash, *_) = events.wait_for(
        ActorExited, "market_data/feed", where=lambda e: e.reason == "crashed"
    )
    assert "FeedDisconnectedError" in crash.error
    # rest_for_one: the book after the feed restarted too, and synced again
    events.wait_for(ActorStarted, "market_data/book.ETHUSDT", where=lambda e: e.incarnation >= 2)
    assert fake.wait_for_connections(2)


def test_a_silent_venue_is_detected_as_stale_and_the_feed_reconnects(venue, make_tree, events):
    fake, ws_url, rest_url = venue
    fake.stream = []  # accepts the subscription, then says nothing
    fake.hold.set()
    clock = FakeClock()
    tree = make_tree(_spec(ws_url, rest_url, Inbox(), stale_after=5.0), clock=clock)
    tree.subscribe(events)
    for _ in range(8):
        clock.advance(1.0)
    (crash, *_) = events.wait_for(
        ActorExited, "market_data/feed", where=lambda e: e.reason == "crashed"
    )
    assert "FeedStaleError" in crash.error
    events.wait_for(ActorStarted, "market_data/feed", where=lambda e: e.incarnation == 2)


def test_a_snapshot_older_than_the_stream_is_not_refetched_in_a_tight_loop(
    venue, make_tree, events
):
    fake, ws_url, rest_url = venue
    # the stream starts long after the snapshot the venue serves: every fetch is stale
    frames = [
        f.payload
        for f in read_capture(DATA / "hftbacktest" / "ethusdt_20240808.gz")
        if f.source == "ws"
    ]
    fake.stream = frames[2000:2400]
    fake.hold.set()
    clock = FakeClock()  # the fetch interval never elapses
    tree = make_tree(_spec(ws_url, rest_url, Inbox()), clock=clock)
    feed = tree.address("market_data/feed")
    for _ in range(100):
        if feed.ask(GetReport(), timeout=10).frames >= len(fake.stream):
            break
        tree.address("market_data/book.ETHUSDT").ask(GetReport(), timeout=10)
    book = tree.address("market_data/book.ETHUSDT").ask(GetReport(), timeout=10)
    assert book.gaps + book.stale_snapshots >= 1  # the book asked again...
    assert not book.synced
    assert fake.snapshot_requests == 1  # ...and the feed waited for the fetch interval
