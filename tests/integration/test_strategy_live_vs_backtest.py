"""One strategy, two homes: live in its actor on a replayed feed, and in the backtest.

For the same book sequence it makes the same decisions. The strategy here decides from
books alone (its orders' fates differ between a probe and the simulated venue).
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

import pytest

from tradeactors.actors.marketdata import BookActor, ReplayFeed, book_name
from tradeactors.actors.strategy import GetStrategyReport, StrategyActor
from tradeactors.backtest.engine import BacktestConfig, run_backtest
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side
from tradeactors.strategy.api import Strategy
from tradeactors.supervision import ChildSpec, SupervisorSpec
from tradeactors.supervision import Strategy as Restarts
from tradeactors.supervision.testing import Inbox, Probe
from tradeactors.venues.capture import read_capture

pytestmark = pytest.mark.supervision

ETH = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.0001")
CAPTURE = Path(__file__).resolve().parents[2].parent / "shared/data/hftbacktest/ethusdt_20240808.gz"


class JoinTheBid(Strategy):
    """Joins the best bid whenever it changes, cancelling the previous one."""

    name = "join_the_bid"

    def __init__(self, decisions: list[tuple]) -> None:
        self.decisions = decisions
        self.bid: int | None = None
        self.last: str | None = None

    def on_book(self, ctx, view):
        best = view.best_bid
        if best is None or best[0] == self.bid:
            return
        self.bid = best[0]
        if self.last is not None:
            ctx.cancel(self.last)
            self.decisions.append(("cancel",))
        self.last = ctx.submit(side=Side.BUY, price=best[0], quantity=1)
        self.decisions.append(("buy", best[0], 1))


@pytest.mark.skipif(not CAPTURE.exists(), reason="../shared/data is not beside the project")
def test_the_same_book_sequence_gives_the_same_decisions_live_and_in_the_backtest(make_tree):
    frames = list(read_capture(CAPTURE))[:6000]
    offline: list[tuple] = []
    run_backtest(frames, ETH, JoinTheBid(offline), BacktestConfig())

    live: list[tuple] = []
    done = threading.Event()
    spec = SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="sink", actor=Probe, args=(Inbox(),)),
            ChildSpec(
                name="strategy",
                actor=StrategyActor,
                args=(partial(JoinTheBid, live), "binance", "ETHUSDT", "sink", "sink"),
            ),
            SupervisorSpec(
                name="market_data",
                strategy=Restarts.REST_FOR_ONE,
                children=(
                    ChildSpec(
                        name="feed",
                        actor=ReplayFeed,
                        args=("binance", frames),
                        kwargs={"symbols": ("ETHUSDT",), "books_path": "market_data", "done": done},
                    ),
                    ChildSpec(
                        name=book_name("ETHUSDT"),
                        actor=BookActor,
                        args=("binance", ETH, "market_data/feed"),
                        kwargs={"subscribers": ("strategy",)},
                    ),
                ),
            ),
        ),
    )
    tree = make_tree(spec)
    assert done.wait(60)
    # the book has handled every frame before it answers; then the strategy every view
    tree.address("market_data/book.ETHUSDT").ask("flush", timeout=30)
    tree.address("strategy").ask(GetStrategyReport(), timeout=30)
    assert len(offline) > 50  # the comparison means something
    assert live == offline
