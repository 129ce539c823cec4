"""The simulated exchange's market data, read by the unchanged Binance live feed."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tradeactors.actors.marketdata import BookActor, GetReport, LiveFeed, book_name
from tradeactors.clock import SystemClock
from tradeactors.core.instrument import Instrument
from tradeactors.exchange.server import SimExchange
from tradeactors.supervision import ChildSpec, Strategy, SupervisorSpec
from tradeactors.supervision.testing import Inbox, Probe

pytestmark = pytest.mark.supervision
SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")


@pytest.fixture
def exchange():
    clock = SystemClock()
    venue = SimExchange(SIM, clock, seed=3, interval=0.01).start()
    try:
        yield venue
    finally:
        venue.close()
        clock.close()


def test_the_live_binance_feed_syncs_from_the_simulator_and_agrees_with_every_ticker(
    exchange, make_tree
):
    views = Inbox()
    spec = SupervisorSpec(
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
                        args=("binance", exchange.ws_url),
                        kwargs={
                            "symbols": ("SIMUSDT",),
                            "books_path": "market_data",
                            "rest_base_url": exchange.http_url,
                            "route_tickers": True,
                        },
                    ),
                    ChildSpec(
                        name=book_name("SIMUSDT"),
                        actor=BookActor,
                        args=("binance", SIM, "market_data/feed"),
                        kwargs={"subscribers": ("sink",), "verify": True},
                    ),
                ),
            ),
        ),
    )
    tree = make_tree(spec)
    views.wait_for_count(60, timeout=30)
    report = tree.address("market_data/book.SIMUSDT").ask(GetReport(), timeout=10)
    assert report.synced
    assert report.gaps == report.bad_levels == 0
    assert report.tickers_compared >= 50
    assert report.ticker_persistent_mismatches == 0
    assert tree.address("market_data/feed").ask(GetReport(), timeout=10).dropped == {}


def test_the_depth_snapshot_checks_its_parameters(exchange):
    url = f"{exchange.http_url}/api/v3/depth?symbol=SIMUSDT&limit=5"
    with urllib.request.urlopen(url) as answer:  # noqa: S310 - loopback http
        assert b'"lastUpdateId"' in answer.read()
    for query in ("symbol=NOPE", "symbol=SIMUSDT&limit=x"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{exchange.http_url}/api/v3/depth?{query}")  # noqa: S310
        assert caught.value.code == 400
        caught.value.close()
