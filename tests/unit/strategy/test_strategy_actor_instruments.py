"""`StrategyActor` with several instruments: books, orders and positions of each."""

from __future__ import annotations

import msgspec
import pytest

from tradeactors.actors.strategy import GetStrategyReport, StrategyActor
from tradeactors.core.book import BookView
from tradeactors.core.messages import (
    CancelAllOrders,
    CancelOrder,
    OrderUpdate,
    Side,
    SubmitOrder,
    TradeTick,
    VenueStatus,
    symbol_of,
)
from tradeactors.strategy.api import Strategy
from tradeactors.supervision import ActorExited, ActorStarted, ChildSpec, SupervisorSpec
from tradeactors.supervision.testing import Inbox, Probe

pytestmark = pytest.mark.supervision

PAIRS = (("sim", "BTCUSDT"), ("kraken", "ETHUSD"))


def _view(key: str, bid: int) -> BookView:
    return BookView(
        instrument=key, update_id=bid, timestamp_ns=0, bids=((bid, 1),), asks=((bid + 2, 1),)
    )


def _trade(symbol: str, price: int) -> TradeTick:
    return TradeTick(instrument=symbol, price=price, quantity=1, side=Side.BUY, timestamp_ns=0)


def _update(coid: str, symbol: str, venue: str, side: Side, fill: int) -> OrderUpdate:
    return OrderUpdate(
        client_order_id=coid, venue=venue, instrument=symbol, side=side, price=10, quantity=5,
        status="partially_filled", filled=fill, fill_quantity=fill, fill_price=10,
    )  # fmt: skip


def _strategy(make_tree, strategy, sink, events=None):
    spec = SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="sink", actor=Probe, args=(sink,)),
            ChildSpec(
                name="s",
                actor=StrategyActor,
                kwargs={
                    "factory": strategy,
                    "instruments": PAIRS,
                    "risk_path": "sink",
                    "order_manager_path": "sink",
                },
            ),
        ),
    )
    tree = make_tree(spec, start=False)
    if events is not None:
        tree.subscribe(events)
    tree.start(timeout=10)
    return tree.address("s")


class Quoter(Strategy):
    """Records what each callback is about; bids 1 below each book's bid, per instrument."""

    name = "quoter"

    def __init__(self, seen: list[tuple[str, str, object]]) -> None:
        self.seen = seen

    def on_start(self, ctx):
        self.seen.append(("start", ctx.instrument, ctx.instruments))

    def on_book(self, ctx, view):
        symbol = symbol_of(view.instrument)
        self.seen.append(("book", symbol, view.best_bid[0]))
        if symbol == ctx.instrument:
            ctx.submit(side=Side.BUY, price=view.best_bid[0] - 1, quantity=1)
        else:
            ctx.submit(side=Side.SELL, price=view.best_bid[0] + 5, quantity=2, instrument=symbol)

    def on_trade(self, ctx, trade):
        self.seen.append(("trade", trade.instrument, trade.price))


class TestMarketData:
    """Books and trades of each of its instruments reach it, and only those."""

    def test_books_and_trades_of_both_instruments_reach_the_strategy_naming_theirs(self, make_tree):
        seen = []
        sink = Inbox()
        strategy = _strategy(make_tree, lambda: Quoter(seen), sink)
        strategy.tell(_view("sim:BTCUSDT", 100))
        strategy.tell(_view("kraken:ETHUSD", 200))
        strategy.tell(_trade("ETHUSD", 201))
        strategy.tell(_trade("BTCUSDT", 101))
        strategy.tell(_view("sim:XRPUSDT", 300))  # not its own: dropped, counted
        strategy.tell(_trade("XRPUSDT", 301))
        report = strategy.ask(GetStrategyReport(), timeout=10)
        assert seen == [
            ("start", "BTCUSDT", ("BTCUSDT", "ETHUSD")),
            ("book", "BTCUSDT", 100),
            ("book", "ETHUSD", 200),
            ("trade", "ETHUSD", 201),
            ("trade", "BTCUSDT", 101),
        ]
        assert (report.books, report.ignored) == (2, 2)

    def test_a_venue_down_holds_back_only_the_market_data_of_its_instruments(self, make_tree):
        seen = []
        sink = Inbox()
        strategy = _strategy(make_tree, lambda: Quoter(seen), sink)
        down = VenueStatus(venue="kraken", up=False, reason="gateway died", timestamp_ns=0)
        strategy.tell(down)
        strategy.tell(_view("kraken:ETHUSD", 200))  # held back: its venue is down
        strategy.tell(_view("sim:BTCUSDT", 100))
        strategy.tell(msgspec.structs.replace(down, up=True))
        strategy.tell(_view("kraken:ETHUSD", 201))
        report = strategy.ask(GetStrategyReport(), timeout=10)
        assert [s for s in seen if s[0] == "book"] == [
            ("book", "BTCUSDT", 100),
            ("book", "ETHUSD", 201),
        ]
        assert (report.books, report.ignored) == (2, 0)


class TestOrders:
    """Orders go to the instrument's venue; ids unique; an unknown instrument crashes it."""

    def test_a_submit_to_the_second_instrument_goes_out_with_its_venue_and_symbol(self, make_tree):
        seen = []
        sink = Inbox()
        strategy = _strategy(make_tree, lambda: Quoter(seen), sink)
        strategy.tell(_view("sim:BTCUSDT", 100))
        strategy.tell(_view("kraken:ETHUSD", 200))
        strategy.tell(_view("sim:BTCUSDT", 102))
        strategy.ask(GetStrategyReport(), timeout=10)
        got = [m for _n, m in sink.wait_for_count(4)]
        assert isinstance(got[0], CancelAllOrders)  # the start's, as with one instrument
        submits = got[1:]
        assert [(m.venue, m.instrument, m.side, m.price, m.quantity) for m in submits] == [
            ("sim", "BTCUSDT", Side.BUY, 99, 1),
            ("kraken", "ETHUSD", Side.SELL, 205, 2),
            ("sim", "BTCUSDT", Side.BUY, 101, 1),
        ]
        assert all(isinstance(m, SubmitOrder) and m.owner == "s" for m in submits)
        ids = [m.client_order_id for m in submits]
        assert len(set(ids)) == 3  # one id sequence across its instruments
        assert all(i.startswith("s") for i in ids)

    def test_a_submit_to_an_instrument_it_does_not_trade_raises_and_restarts_it(
        self, make_tree, events
    ):
        class Stray(Strategy):
            def on_book(self, ctx, view):
                if view.best_bid[0] == 13:
                    ctx.submit(side=Side.BUY, price=13, quantity=1, instrument="XRPUSDT")
                ctx.submit(side=Side.BUY, price=view.best_bid[0], quantity=1)

        sink = Inbox()
        strategy = _strategy(make_tree, Stray, sink, events)
        strategy.tell(_view("sim:BTCUSDT", 10))
        strategy.tell(_view("sim:BTCUSDT", 13))  # raises in on_book
        (exited,) = events.wait_for(ActorExited, "s")
        events.wait_for(ActorStarted, "s", where=lambda e: e.incarnation == 2)
        strategy.tell(_view("sim:BTCUSDT", 11))
        strategy.ask(GetStrategyReport(), timeout=10)
        got = [m for _n, m in sink.wait_for_count(4)]
        assert "ValueError" in exited.error
        assert "'XRPUSDT'" in exited.error
        assert "BTCUSDT, ETHUSD" in exited.error
        kinds = [type(m).__name__ for m in got]
        assert kinds == ["CancelAllOrders", "SubmitOrder", "CancelAllOrders", "SubmitOrder"]
        assert [m.price for m in got if isinstance(m, SubmitOrder)] == [10, 11]  # 13: none


class Holder(Strategy):
    """Buys BTCUSDT and sells ETHUSD on its first book; records its views of them."""

    name = "holder"

    def __init__(self, seen: list[object]) -> None:
        self.seen = seen

    def on_book(self, ctx, view):
        if view.best_bid[0] == 1:
            ctx.submit(side=Side.BUY, price=10, quantity=5)
            ctx.submit(side=Side.SELL, price=10, quantity=5, instrument="ETHUSD")
            ctx.submit(side=Side.SELL, price=11, quantity=5, instrument="ETHUSD")
        elif view.best_bid[0] == 2:
            ctx.cancel_all("ETHUSD")

    def on_fill(self, ctx, update):
        self.seen.append(
            (
                update.instrument,
                ctx.position,
                ctx.position_of("BTCUSDT"),
                ctx.position_of("ETHUSD"),
                [o.client_order_id for o in ctx.open_orders("ETHUSD")],
                [o.instrument for o in ctx.open_orders()],
            )
        )


def test_positions_are_kept_per_instrument_and_cancel_all_can_name_one(make_tree):
    seen = []
    sink = Inbox()
    strategy = _strategy(make_tree, lambda: Holder(seen), sink)
    strategy.tell(_view("sim:BTCUSDT", 1))
    got = [m for _n, m in sink.wait_for_count(4)]
    btc, eth, eth2 = (m.client_order_id for m in got[1:])
    strategy.tell(_update(btc, "BTCUSDT", "sim", Side.BUY, 2))
    strategy.tell(_update(eth, "ETHUSD", "kraken", Side.SELL, 3))
    strategy.tell(_view("sim:BTCUSDT", 2))  # cancel_all("ETHUSD")
    report = strategy.ask(GetStrategyReport(), timeout=10)
    assert seen == [
        ("BTCUSDT", 2, 2, 0, [eth, eth2], ["BTCUSDT", "ETHUSD", "ETHUSD"]),
        ("ETHUSD", 2, 2, -3, [eth, eth2], ["BTCUSDT", "ETHUSD", "ETHUSD"]),
    ]
    assert (report.position, report.positions) == (2, {"BTCUSDT": 2, "ETHUSD": -3})
    cancels = [m for _n, m in sink.wait_for_count(6)[4:]]
    assert cancels == [CancelOrder(client_order_id=eth), CancelOrder(client_order_id=eth2)]


class TestArguments:
    """The two ways to say where it trades, and what is refused."""

    def _actor(self, *args, **kwargs):
        kwargs.setdefault("risk_path", "risk")
        kwargs.setdefault("order_manager_path", "om")
        return StrategyActor(Strategy, *args, **kwargs)

    def test_venue_and_instrument_are_one_pair_the_primary(self):
        actor = self._actor("sim", "BTCUSDT")
        assert actor.instruments == (("sim", "BTCUSDT"),)
        assert (actor.venue, actor.instrument) == ("sim", "BTCUSDT")

    def test_the_first_of_instruments_is_the_primary(self):
        actor = self._actor(instruments=[["kraken", "ETHUSD"], ("sim", "BTCUSDT")])
        assert actor.instruments == (("kraken", "ETHUSD"), ("sim", "BTCUSDT"))
        assert (actor.venue, actor.instrument) == ("kraken", "ETHUSD")

    @pytest.mark.parametrize(
        ("args", "kwargs", "error", "match"),
        [
            ((), {}, TypeError, "venue and instrument, or instruments"),
            (("sim", "X"), {"instruments": PAIRS}, TypeError, "not both"),
            ((), {"instruments": ()}, ValueError, "at least one instrument"),
            ((), {"instruments": "BTCUSDT"}, TypeError, "pairs: 'BTCUSDT'"),
            ((), {"instruments": ["BTCUSDT"]}, TypeError, "pairs: 'BTCUSDT'"),
            ((), {"instruments": [*PAIRS, ("x", "BTCUSDT")]}, ValueError, "twice: BTCUSDT"),
            (("sim", "X"), {"risk_path": ""}, TypeError, "risk_path"),
        ],
    )
    def test_bad_arguments_are_refused(self, args, kwargs, error, match):
        with pytest.raises(error, match=match):
            self._actor(*args, **kwargs)
