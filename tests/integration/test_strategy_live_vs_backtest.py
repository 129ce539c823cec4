"""One strategy, two homes: live in its actor on a replayed feed, and in the backtest.

For the same book sequence it makes the same decisions. The toy strategy decides from
books alone (its orders' fates differ between a probe and the simulated venue). The
built-ins also decide from trades and time, and from their orders' fates: live, they
run on a fake clock stepped from one recorded receive time (or timer) to the next, the
feed pacing the capture by it; in the backtest, their orders reach the venue only after
the capture ends. So on neither side is an order ever answered, and each built-in must
give the same commands (submit, cancel, cancel all, timer) at the same nanosecond.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from functools import partial
from pathlib import Path

import pytest

from tradeactors.actors.marketdata import BookActor, ReplayFeed, book_name
from tradeactors.actors.strategy import GetStrategyReport, StrategyActor
from tradeactors.backtest.engine import BacktestConfig, run_backtest
from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import GetReport, Side, TimeInForce
from tradeactors.strategy import make_strategy
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


class Decisions(Strategy):
    """Runs ``inner``, writing down every command it gives its context, in order.

    Client order ids differ between the homes: an order is named by the rank of its submit.
    """

    name = "decisions"

    def __init__(self, inner: Strategy, decisions: list[tuple]) -> None:
        self.inner = inner
        self.decisions = decisions
        self.ranks: dict[str, int] = {}

    def _ctx(self, ctx):
        return _Recording(ctx, self)

    def on_start(self, ctx):
        self.inner.on_start(self._ctx(ctx))

    def on_stop(self, ctx):
        self.inner.on_stop(self._ctx(ctx))

    def on_book(self, ctx, view):
        self.inner.on_book(self._ctx(ctx), view)

    def on_trade(self, ctx, trade):
        self.inner.on_trade(self._ctx(ctx), trade)

    def on_order_update(self, ctx, update):
        self.inner.on_order_update(self._ctx(ctx), update)

    def on_fill(self, ctx, update):
        self.inner.on_fill(self._ctx(ctx), update)

    def on_timer(self, ctx, name):
        self.inner.on_timer(self._ctx(ctx), name)


class _Recording:
    def __init__(self, ctx, outer: Decisions) -> None:
        self._ctx = ctx
        self._outer = outer

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def submit(self, *, side, price, quantity, tif=TimeInForce.GTC, post_only=False):
        client_order_id = self._ctx.submit(
            side=side, price=price, quantity=quantity, tif=tif, post_only=post_only
        )
        rank = self._outer.ranks[client_order_id] = len(self._outer.ranks)
        self._outer.decisions.append(
            (self.now_ns, "submit", rank, str(side), price, quantity, str(tif), post_only)
        )
        return client_order_id

    def cancel(self, client_order_id):
        rank = self._outer.ranks.get(client_order_id)
        self._outer.decisions.append((self.now_ns, "cancel", rank))
        self._ctx.cancel(client_order_id)

    def cancel_all(self):
        self._outer.decisions.append((self.now_ns, "cancel_all"))
        self._ctx.cancel_all()

    def set_timer(self, name, delay):
        self._outer.decisions.append((self.now_ns, "timer", name, delay))
        self._ctx.set_timer(name, delay)


class SteppedClock(FakeClock):
    """A fake clock that says when its next timer is due, for a test to step to it."""

    def __init__(self, wall_ns: int) -> None:
        super().__init__(0, wall_offset_ns=wall_ns)  # time_ns() starts at ``wall_ns``
        self._due: list[tuple[int, int, object]] = []
        self._order = itertools.count()
        self._mine = threading.Lock()

    def call_later(self, delay, callback):
        timer = super().call_later(delay, callback)
        with self._mine:
            heapq.heappush(self._due, (timer.due_ns, next(self._order), timer))
        return timer

    def next_due_ns(self) -> int | None:
        with self._mine:
            while self._due and self._due[0][2].cancelled:  # cancelled, or already run
                heapq.heappop(self._due)
            return self._due[0][0] if self._due else None


BUILT_INS = {
    "market_maker": {},
    "momentum": {"window": 2.0, "threshold_bps": 1.0, "use_flow": True},
    "vwap": {"slice_interval": 2.0, "horizon": 60.0},
}
NEVER = 1e12  # ms: in the backtest, no order reaches the venue before the capture ends


@pytest.mark.skipif(not CAPTURE.exists(), reason="../shared/data is not beside the project")
@pytest.mark.parametrize("name", sorted(BUILT_INS))
def test_each_built_in_decides_the_same_live_and_in_the_backtest(make_tree, name):
    frames = list(read_capture(CAPTURE))[:6000]
    params = BUILT_INS[name]
    offline: list[tuple] = []
    run_backtest(
        frames,
        ETH,
        Decisions(make_strategy(name, params), offline),
        BacktestConfig(order_latency_ms=NEVER),
    )

    live: list[tuple] = []
    done = threading.Event()
    clock = SteppedClock(frames[0].received_ns)
    spec = SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="sink", actor=Probe, args=(Inbox(),)),
            ChildSpec(
                name="strategy",
                actor=StrategyActor,
                args=(
                    lambda: Decisions(make_strategy(name, params), live),
                    "binance", "ETHUSDT", "sink", "sink",
                ),
            ),
            SupervisorSpec(
                name="market_data",
                strategy=Restarts.REST_FOR_ONE,
                children=(
                    ChildSpec(
                        name="feed",
                        actor=ReplayFeed,
                        args=("binance", frames),
                        kwargs={"symbols": ("ETHUSDT",), "books_path": "market_data",
                                "done": done, "pace": "recorded", "route_trades": True},
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
    )  # fmt: skip
    tree = make_tree(spec, clock=clock)
    feed = tree.address("market_data/feed")
    book = tree.address("market_data/book.ETHUSDT")
    strategy = tree.address("strategy")

    def settle() -> None:
        """Every actor has handled what the last step of the clock made happen."""
        feed.ask(GetReport(), timeout=30)
        book.ask("flush", timeout=30)
        strategy.ask(GetStrategyReport(), timeout=30)

    settle()
    while not done.is_set():
        due = clock.next_due_ns()
        assert due is not None, "the replay stalled with no timer to wait for"
        clock.advance(max(0, due - clock.monotonic_ns()) / 1e9)
        settle()
    books = strategy.ask(GetStrategyReport(), timeout=30).books
    assert books > 400  # it saw the capture: a book every ~100 ms
    tree.stop(timeout=10)  # on_stop's decisions, as the backtest's end

    assert len([d for d in offline if d[1] == "submit"]) >= (1 if name == "momentum" else 10)
    assert live == offline
