"""Strategies added to and removed from a running system (both runtimes).

The venue is the still simulated exchange: its book changes only when a test places
an order, so what a strategy hears is exactly what the test made happen.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

import pytest
from multi_strategies import Watcher
from trading_helpers import INSTRUMENT, MID, SECRET, SYMBOL, Taker, TradingEvents, config_for

from tradeactors import Strategy
from tradeactors.core.book import BookView
from tradeactors.core.killswitch import KillSwitchChanged
from tradeactors.core.messages import GetStrategyReport, OrderUpdate, VenueStatus
from tradeactors.core.risk import TradingState
from tradeactors.errors import (
    ChildStartError,
    ConfigError,
    ConfigKeyError,
    StrategyLoadError,
    UnknownStrategyError,
)
from tradeactors.supervision import ActorEnded, ActorExited, ActorStarted
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tradeactors import StrategyContext
    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision


class Seen(TradingEvents):
    """What a `Watcher` strategy heard (book views and trades), with waits."""


@pytest.fixture
def system(sim_venue: SimExchange, monkeypatch: pytest.MonkeyPatch) -> Iterator[TradingSystem]:
    """A running system with no strategy at all (its books route to nobody yet)."""
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    system = TradingSystem(config_for(sim_venue))
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    events.wait_for(VenueStatus, up=True)
    try:
        yield system
    finally:
        system.stop(timeout=10)


@pytest.fixture
def taker(sim_venue: SimExchange) -> Iterator[Callable[..., Any]]:
    """Places orders of another account (each changes the book the system sees)."""
    session = Taker(sim_venue)
    ids = iter(range(1, 1000))

    def place(side: str, price: int, tif: str = "gtc") -> Any:
        return session.request(
            "place", client_order_id=f"t{next(ids)}", side=side, type="limit", tif=tif,
            price=INSTRUMENT.format_price(price), quantity=INSTRUMENT.format_size(1),
        )  # fmt: skip

    try:
        yield place
    finally:
        session.close()


def _events(system: TradingSystem) -> TradingEvents:
    events = TradingEvents()
    system.subscribe(events)
    return events


def _open_of(venue: SimExchange, tag: str, *, locked: bool = False) -> list[Any]:
    """The system's orders open at ``venue`` whose ids start with ``tag``.

    ``locked``: called where the market's lock is held already (`SimExchange.wait_until`).
    """
    orders = venue.engine.open_orders("demo") if locked else venue.open_orders("demo")
    return [o for o in orders if o.client_order_id.startswith(tag)]


def _with_asks(view: BookView) -> bool:
    return bool(view.asks)


def _wait_view(seen: Seen, predicate: Callable[[BookView], bool], timeout: float = 10.0) -> None:
    with seen._cond:
        assert seen._cond.wait_for(
            lambda: any(isinstance(v, BookView) and predicate(v) for v in seen.items), timeout
        ), f"no such book view in {len(seen.items)} heard"


class TopWatcher(Watcher):
    """A `Watcher` that reads only the top of the book: it asks for one-level views."""

    view_depth = 1


def test_each_strategy_gets_views_as_deep_as_it_asked(system, taker):
    top, deep = Seen(), Seen()
    system.add_strategy("top", functools.partial(TopWatcher, sink=top))
    system.add_strategy("deep", functools.partial(Watcher, sink=deep, offset=20))
    taker("sell", MID + 100)  # a change after both are routed: both hear the same update
    taker("sell", MID + 101)
    _wait_view(deep, lambda view: len(view.asks) >= 2)
    two = min(v.update_id for v in deep.items if isinstance(v, BookView) and len(v.asks) >= 2)
    # the asks stay (nothing takes them): a later view of the top one has one of the two
    _wait_view(top, lambda view: view.update_id >= two)
    top_views = {v.update_id: v for v in top.items if isinstance(v, BookView)}
    deep_views = {v.update_id: v for v in deep.items if isinstance(v, BookView)}
    assert all(len(v.bids) <= 1 and len(v.asks) <= 1 for v in top_views.values())
    both = set(top_views) & set(deep_views)
    assert both, "no update heard by both"
    for update_id in both:  # the same book, cut at another depth
        shallow, full = top_views[update_id], deep_views[update_id]
        assert (shallow.best_bid, shallow.best_ask) == (full.best_bid, full.best_ask)
        assert shallow.bids == full.bids[:1]
        assert shallow.asks == full.asks[:1]


def test_a_strategy_asking_for_no_depth_does_not_start(system):
    class Bottomless(Watcher):
        view_depth = 0

    with pytest.raises(ChildStartError, match="view_depth = 0"):
        system.add_strategy("bottomless", functools.partial(Bottomless, sink=Seen()))
    assert [s.name for s in system.strategies() if s.state == "running"] == []


def test_an_added_strategy_hears_the_book_of_now_and_trades(system, sim_venue, taker):
    events = _events(system)
    first = Seen()
    info = system.add_strategy("first", functools.partial(Watcher, sink=first))
    assert (info.name, info.state, info.instruments, info.added) == (
        "first", "running", (SYMBOL,), True,
    )  # fmt: skip
    assert info.path == "strategies/first/strategy"
    taker("sell", MID + 100)  # an ask: the book changes, the strategy hears it
    _wait_view(first, _with_asks)
    # Nothing changes after this one is added: it hears the book as it is now anyway.
    second = Seen()
    system.add_strategy("second", functools.partial(Watcher, sink=second, offset=20))
    _wait_view(second, lambda view: view.asks[0][0] == MID + 100 if view.asks else False)
    # Both rest their bid (each with its own client-order-id prefix), and trade.
    accepted = events.wait_for(OrderUpdate, count=2, status="accepted")
    prefixes = {update.client_order_id[:4] for update in accepted}
    assert prefixes == {"firs", "seco"}
    assert len(sim_venue.open_orders("demo")) == 2
    taker("sell", MID - 10, tif="ioc")  # takes the first's bid at MID - 10
    (fill,) = events.wait_for(OrderUpdate, status="filled")
    assert fill.client_order_id.startswith("firs")
    assert [(s.name, s.state) for s in system.strategies()] == [
        ("first", "running"),
        ("second", "running"),
    ]


def test_removing_a_strategy_cancels_its_orders_at_the_venue_before_it_stops(
    system, sim_venue, taker
):
    events = _events(system)
    seen = Seen()
    system.add_strategy("bid", functools.partial(Watcher, sink=seen))
    events.wait_for(OrderUpdate, status="accepted")
    assert len(_open_of(sim_venue, "bid")) == 1
    open_when_stopped: list[int] = []
    path = "strategies/bid/strategy"

    def on_event(event: object) -> None:
        if isinstance(event, ActorExited) and event.path == path:
            open_when_stopped.append(len(_open_of(sim_venue, "bid")))

    system.tree.subscribe(on_event)
    letters: list[Any] = []
    system.tree.dead_letters.subscribe(letters.append)

    removed = system.remove_strategy("bid", timeout=10)

    assert (removed.name, removed.cancelled, removed.open_orders) == ("bid", True, 0)
    assert open_when_stopped == [0]  # cancelled at the venue before its actor stopped
    assert system.strategies() == []
    assert [c.name for c in system.tree.children("strategies")] == []
    assert system.routes.current.paths() == ()
    # It hears nothing more: the book and the kill switch change, nothing is sent to it.
    heard = len(seen.items)
    taker("sell", MID + 100)
    system.add_strategy("after", functools.partial(Watcher, sink=(later := Seen())))
    _wait_view(later, _with_asks)  # the book changed, and the next strategy heard it
    system.kill("test")
    events.wait_for(KillSwitchChanged)
    system.remove_strategy("after", timeout=10)  # (a mailbox past the kill is drained)
    assert len(seen.items) == heard
    assert [letter for letter in letters if letter.path == path] == []


def test_a_bad_strategy_is_refused_before_anything_starts(system):
    system.add_strategy("kept", "multi_strategies:Bidder", params={"offset": 500})
    before = (system.strategies(), system.tree.paths(), system.routes.version)
    cases: list[tuple[type[Exception], dict[str, Any], str]] = [
        (ConfigKeyError, {"name": "kept"}, "name: a strategy named 'kept' is running"),
        (ConfigKeyError, {"name": "a/b"}, "name: 'a/b' is not a name"),
        (ConfigKeyError, {"instruments": ["XRPUSDT"]}, "'XRPUSDT' is not configured"),
        (ConfigKeyError, {"instruments": [SYMBOL, SYMBOL]}, "listed twice"),
        (ConfigKeyError, {"intensity": -1}, "intensity: -1 is not"),
        (ConfigKeyError, {"period": 0}, "period: 0 is not"),
        (StrategyLoadError, {"strategy": "no.where:Gone"}, "module 'no.where' not found"),
        (StrategyLoadError, {"params": {"offest": 1}}, "unknown parameter 'offest'"),
        (ConfigError, {"strategy": "no_such_builtin"}, "unknown strategy 'no_such_builtin'"),
    ]
    for error, given, message in cases:
        arguments: dict[str, Any] = {
            "name": "new",
            "strategy": "multi_strategies:Bidder",
            **given,
        }
        with pytest.raises(error) as caught:
            system.add_strategy(arguments.pop("name"), arguments.pop("strategy"), **arguments)
        assert message in str(caught.value), str(caught.value)
        assert "\n" not in str(caught.value)
        assert (system.strategies(), system.tree.paths(), system.routes.version) == before
    with pytest.raises(ChildStartError, match="strategies/new"):
        system.add_strategy("new", "multi_strategies:FailsToStart")
    assert (system.strategies(), system.tree.paths(), system.routes.version) == before
    with pytest.raises(UnknownStrategyError, match="no strategy is named 'gone'; strategies: kept"):
        system.remove_strategy("gone")


def test_an_added_strategy_stays_routed_across_restarts_of_its_book_and_the_order_manager(
    system, taker
):
    seen = Seen()
    system.add_strategy("watch", functools.partial(Watcher, sink=seen, offset=300))
    _wait_view(seen, lambda _view: True)  # the book of now (empty)
    path = "strategies/watch/strategy"
    book = system.paths.book("sim", SYMBOL)
    started = threading.Event()
    system.tree.subscribe(
        lambda e: started.set() if isinstance(e, ActorStarted) and e.path == book else None
    )
    system.tree.faults(book).crash_next()
    taker("sell", MID + 100)  # the book crashes on this update, restarts, resyncs
    assert started.wait(10)
    taker("sell", MID + 90)  # the restarted book publishes to it: still routed
    _wait_view(seen, lambda view: view.asks[0][0] == MID + 90 if view.asks else False)
    venue_status = system.tree.stats(path).processed.get(VenueStatus, 0)
    back_up = threading.Event()
    system.subscribe(lambda e: back_up.set() if isinstance(e, VenueStatus) and e.up else None)
    system.tree.faults(system.paths.order_manager).kill()
    assert back_up.wait(15)
    # (the order manager told it before the host heard: an ask queues behind those)
    system.tree.address(path).ask(GetStrategyReport(), timeout=5)
    # It heard the venue go down and come back from the new order manager ...
    assert system.tree.stats(path).processed.get(VenueStatus, 0) >= venue_status + 2
    # ... and the book's views still reach it.
    taker("sell", MID + 80)
    _wait_view(seen, lambda view: view.asks[0][0] == MID + 80 if view.asks else False)
    (strategy,) = system.tree.children("strategies/watch")
    assert strategy.restarts == 0


def test_a_crash_looping_added_strategy_is_unrouted_then_removed_and_its_name_reused(
    system, sim_venue
):
    events = _events(system)
    ended = threading.Event()
    system.tree.subscribe(
        lambda e: (
            ended.set()
            if isinstance(e, ActorEnded) and e.path == "strategies/loop" and e.abnormal
            else None
        )
    )
    system.add_strategy("loop", "multi_strategies:CrashLoop", intensity=1, period=30.0)
    assert ended.wait(15), "its supervisor should have given up"
    (info,) = system.strategies()
    assert info.state == "stopped"
    assert "RestartIntensityExceeded" in info.reason
    assert system.routes.current.paths() == ()
    assert sim_venue.wait_until(lambda: not _open_of(sim_venue, "loop", locked=True), 10)
    assert system.gate.state.value == "active"  # the others would go on
    with pytest.raises(ConfigKeyError, match="remove it first"):
        system.add_strategy("loop", "multi_strategies:Bidder")
    removed = system.remove_strategy("loop")
    assert (removed.cancelled, removed.open_orders) == (True, 0)
    assert system.strategies() == []
    accepted = len(events.of(OrderUpdate, status="accepted"))
    info = system.add_strategy("loop", "multi_strategies:Bidder")
    assert (info.state, info.strategy) == ("running", "multi_strategies:Bidder")
    events.wait_for(OrderUpdate, count=accepted + 1, status="accepted")
    assert len(_open_of(sim_venue, "loop")) == 1


def test_a_remove_with_a_tiny_timeout_still_stops_it_and_frees_its_name(system, sim_venue):
    # the probe: a timeout shorter than a round trip left the actor running and its name
    # neither listed nor removable nor addable
    events = _events(system)
    system.add_strategy("quick", functools.partial(Watcher, sink=Seen()))
    events.wait_for(OrderUpdate, status="accepted")
    removed = system.remove_strategy("quick", timeout=0.000001)
    assert removed.name == "quick"
    assert [c.name for c in system.tree.children("strategies")] == []
    assert system.strategies() == []
    # fenced: its scope HALTED while it is gone (what an abandoned actor sends is denied)
    assert system.gate.scope_state("strategy:quick") is TradingState.HALTED
    assert sim_venue.wait_until(lambda: not _open_of(sim_venue, "quic", locked=True), 10)
    system.add_strategy("quick", functools.partial(Watcher, sink=Seen()))  # the name again
    assert system.gate.scope_state("strategy:quick") is TradingState.ACTIVE  # reset, recorded
    (reset,) = [c for c in system.gate.history_of("strategy:quick") if c.state.value == "active"]
    assert reset.reason == "add_strategy: strategy quick added again"  # who: why


class _Slow(Strategy):
    """Its on_start says it began (``entered``), then waits for ``release``."""

    entered = threading.Event()
    release = threading.Event()

    def on_start(self, ctx: StrategyContext) -> None:
        self.entered.set()
        assert self.release.wait(10)


def test_a_strategy_whose_start_is_not_done_is_listed_as_starting(system):
    _Slow.entered.clear()
    _Slow.release.clear()
    adding = threading.Thread(target=system.add_strategy, args=("slow", _Slow))
    adding.start()
    try:
        assert _Slow.entered.wait(10)  # inside its on_start: add_strategy has not returned
        assert [(s.name, s.state) for s in system.strategies()] == [("slow", "starting")]
    finally:
        _Slow.release.set()
        adding.join(10)
    assert [(s.name, s.state) for s in system.strategies()] == [("slow", "running")]
