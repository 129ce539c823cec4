"""The market-data actors, under their former module name: see `feed` and `book`."""

from __future__ import annotations

from tradeactors.actors.book import BookActor, BookReport
from tradeactors.actors.feed import FeedStats, LiveFeed, MarketDataMetrics, ReplayFeed, book_name
from tradeactors.core.messages import GetBook, GetReport, SnapshotNeeded

__all__ = [
    "BookActor",
    "BookReport",
    "FeedStats",
    "GetBook",
    "GetReport",
    "LiveFeed",
    "MarketDataMetrics",
    "ReplayFeed",
    "SnapshotNeeded",
    "book_name",
]
