"""`StrategyActor`: callbacks, and what a crash does (restart, predecessor's orders cancelled)."""

from __future__ import annotations

import threading

import pytest

from tradeactors.actors.strategy import GetStrategyReport, StrategyActor, book_mailbox
from tradeactors.core.book import BookView
from tradeactors.core.messages import AmendOrder, CancelAllOrders, OrderUpdate, Side, SubmitOrder
from tradeactors.strategy.api import Strategy
from tradeactors.supervision import ActorStarted, ChildSpec, SupervisedActor, SupervisorSpec
from tradeactors.supervision.testing import Inbox, Probe

pytestmark = pytest.mark.supervision


def _view(bid: int) -> BookView:
    return BookView(
        instrument="sim:X", update_id=bid, timestamp_ns=0, bids=((bid, 1),), asks=((bid + 2, 1),)
    )


class Fragile(Strategy):
    """Buys at the bid on each book; raises on a bid of 13."""

    name = "fragile"

    def on_book(self, ctx, view):
        if view.best_bid[0] == 13:
            raise RuntimeError("strategy bug")
        ctx.submit(side=Side.BUY, price=view.best_bid[0], quantity=1)


def test_a_strategy_that_raises_is_restarted_and_its_orders_are_cancelled_first(make_tree, events):
    sink = Inbox()
    spec = SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="sink", actor=Probe, args=(sink,)),
            ChildSpec(name="s", actor=StrategyActor, args=(Fragile, "sim", "X", "sink", "sink")),
        ),
    )
    tree = make_tree(spec, start=False)
    tree.subscribe(events)
    tree.start(timeout=10)
    strategy = tree.address("s")
    strategy.tell(_view(10))
    strategy.tell(_view(13))  # crash
    events.wait_for(ActorStarted, "s", where=lambda e: e.incarnation == 2)
    strategy.tell(_view(11))
    strategy.ask(GetStrategyReport(), timeout=10)
    got = [m for _n, m in sink.wait_for_count(4)]
    kinds = [type(m).__name__ for m in got]
    assert kinds == ["CancelAllOrders", "SubmitOrder", "CancelAllOrders", "SubmitOrder"]
    assert all(m.owner == "s" for m in got if isinstance(m, CancelAllOrders))
    assert got[2].reason == "strategy (re)started"  # before its successor trades
    assert [m.price for m in got if isinstance(m, SubmitOrder)] == [10, 11]


def test_fills_reach_on_fill_and_move_the_position(make_tree):
    seen = []

    class Recorder(Strategy):
        def on_order_update(self, ctx, update):
            seen.append(("update", update.status, ctx.position))

        def on_fill(self, ctx, update):
            seen.append(("fill", update.fill_quantity, ctx.position))

    spec = SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="sink", actor=Probe, args=(Inbox(),)),
            ChildSpec(name="s", actor=StrategyActor, args=(Recorder, "sim", "X", "sink", "sink")),
        ),
    )
    tree = make_tree(spec)
    update = OrderUpdate(
        client_order_id="c", venue="sim", instrument="X", side=Side.SELL, price=10, quantity=3,
        status="partially_filled", filled=2, fill_quantity=2, fill_price=10,
    )  # fmt: skip
    tree.address("s").tell(update)
    report = tree.address("s").ask(GetStrategyReport(), timeout=10)
    assert seen == [("update", "partially_filled", -2), ("fill", 2, -2)]
    assert (report.fills, report.volume, report.position) == (1, 2, -2)


class _Held(SupervisedActor):
    """Records what it handles; its first message holds it until ``release`` is set."""

    def __init__(self, release: threading.Event, seen: list[object]) -> None:
        super().__init__()
        self._release = release
        self._seen = seen

    def on_receive(self, message: object) -> object:
        if not self._seen:
            self._release.wait(30)
        self._seen.append(message)
        return None


def test_a_strategy_that_fell_behind_never_makes_the_order_manager_wait(make_tree):
    """book_mailbox: book views conflate; thousands of other messages queue, none waits."""
    release, seen = threading.Event(), []
    spec = SupervisorSpec(
        name="root",
        children=(ChildSpec(name="s", actor=_Held, args=(release, seen), mailbox=book_mailbox()),),
    )
    tree = make_tree(spec)
    strategy = tree.address("s")
    strategy.tell("first")  # holds the actor
    sender = threading.Thread(
        target=lambda: [strategy.tell(item) for n in range(5000) for item in (_view(n), n)]
    )
    sender.start()
    sender.join(10)
    finished = not sender.is_alive()
    release.set()
    sender.join(10)
    assert finished, "the sender waited for a slow strategy"
    assert strategy.ask("sync", timeout=30) is None
    numbers = [m for m in seen if isinstance(m, int)]
    views = [m for m in seen if isinstance(m, BookView)]
    assert numbers == list(range(5000))  # none dropped, order kept
    assert [view.update_id for view in views] == [4999]  # only the newest book


def test_ctx_amend_goes_to_risk_for_an_open_order_only(make_tree):
    class Amender(Strategy):
        """Buys on its first book, then amends it; and amends an order it never had."""

        def on_book(self, ctx, view):
            if not ctx.open_orders():
                ctx.submit(side=Side.BUY, price=view.best_bid[0], quantity=5)
                return
            (order,) = ctx.open_orders()
            ctx.amend("never-mine", quantity=1)  # not its order: nothing is sent
            ctx.amend(order.client_order_id, price=order.price - 1, quantity=3)

    sink = Inbox()
    spec = SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="sink", actor=Probe, args=(sink,)),
            ChildSpec(name="s", actor=StrategyActor, args=(Amender, "sim", "X", "sink", "sink")),
        ),
    )
    tree = make_tree(spec)
    strategy = tree.address("s")
    strategy.tell(_view(10))
    strategy.tell(_view(10))
    strategy.ask(GetStrategyReport(), timeout=10)
    got = [m for _n, m in sink.wait_for_count(3)]
    submit, amend = got[1], got[2]
    assert isinstance(submit, SubmitOrder)
    assert isinstance(amend, AmendOrder)
    assert (amend.client_order_id, amend.price, amend.quantity, amend.owner) == (
        submit.client_order_id,
        9,
        3,
        "s",
    )
    assert len(got) == 3
