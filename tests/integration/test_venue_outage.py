"""A venue outage: the tree stays up, the venue is down, trading resumes (both runtimes).

The order-entry link goes through a TCP proxy the test can cut (connections closed,
new ones closed at once: the venue unreachable, its state intact, as in a real outage)
and restore. Market data comes straight from the venue, so only order entry is out.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import msgspec
import pytest
from trading_helpers import (
    INSTRUMENT,
    MID,
    SECRET,
    TAKER_SECRET,
    Taker,
    TradingEvents,
    config_for,
    resting_buy,
    wait_open_at_venue,
)

from tradeactors.clock import SystemClock
from tradeactors.config import Config
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.messages import DenyReason, OrderUpdate, VenueStatus
from tradeactors.core.risk import TradingState
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.server import SimExchange
from tradeactors.trading.system import TradingSystem

pytestmark = pytest.mark.supervision


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 to ``upstream`` that can be cut and restored."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._cond = threading.Condition()
        self._cut = False
        self._closed = False
        self.refused = 0  # connections closed at once while cut
        self._sockets: list[socket.socket] = []
        self._pipes: list[threading.Thread] = []
        self._flowing = threading.Event()
        self._flowing.set()
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._cond:
                if self._cut or self._closed:
                    client.close()
                    self.refused += 1
                    self._cond.notify_all()
                    continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._cond:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                pipe = threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                self._pipes.append(pipe)
                pipe.start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self._flowing.wait(30)  # frozen: held, nothing closed (a stopped process)
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._cond:
            self._cut = True
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def restore(self, upstream: tuple[str, int] | None = None) -> None:
        with self._cond:
            self._cut = False
            if upstream is not None:
                self._upstream = upstream

    def wait_refused(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.refused >= count, timeout)

    def close(self) -> None:
        self.thaw()
        self.cut()
        with self._cond:
            self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        self._listener.close()
        self._accepting.join(5)
        for pipe in self._pipes:
            pipe.join(5)


@pytest.fixture
def proxy(sim_venue: SimExchange):
    host, port = sim_venue.trade_url.removeprefix("ws://").split("/", 1)[0].split(":")
    proxied = CuttableProxy((host, int(port)))
    yield proxied
    proxied.close()


def _system(
    sim_venue: SimExchange, proxy: CuttableProxy, monkeypatch, **execution
) -> TradingSystem:
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    path = sim_venue.trade_url.split("/", 3)[3]
    config = config_for(
        sim_venue,
        execution={
            "restart_delay": 0.01,
            "max_restart_delay": 0.05,
            "intensity": 3,  # the default: an outage must not burn it
            "reconnect_delay": 0.02,
            "max_reconnect_delay": 0.1,
            "timeout": 2.0,
            **execution,
        },
    )
    raw = msgspec.to_builtins(config)
    raw["venue"]["trade_url"] = f"ws://127.0.0.1:{proxy.port}/{path}"
    raw.pop("venues", None)
    config = msgspec.convert(raw, Config)
    return TradingSystem(config)


def _denied_venue_down(system: TradingSystem, events: TradingEvents) -> None:
    cid = resting_buy(system)
    (update,) = events.wait_for(OrderUpdate, client_order_id=cid, status="denied")
    assert update.reason == DenyReason.VENUE_DOWN


def test_an_outage_leaves_the_tree_up_and_trading_resumes_when_the_venue_is_back(
    sim_venue: SimExchange, proxy: CuttableProxy, monkeypatch
):
    system = _system(sim_venue, proxy, monkeypatch)
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    try:
        events.wait_for(VenueStatus, up=True)
        resting = resting_buy(system)
        events.wait_for(OrderUpdate, client_order_id=resting, status="accepted")
        gateway = system.gateway_path
        proxy.cut()
        events.wait_for(VenueStatus, up=False)
        assert wait_open_at_venue(sim_venue, lambda n: n == 0, timeout=5)  # cancel-on-disconnect
        # many attempts to reach it, each refused, and the tree does not give up
        assert proxy.wait_refused(5), "the gateway stopped trying"
        _denied_venue_down(system, events)
        assert system.tree.running
        assert system.tree.stats(gateway).restarts <= 1  # the lost link, nothing more
        assert system.gate.state is TradingState.ACTIVE
        places_during = sim_venue.requests("demo", "place")
        proxy.restore()
        events.wait_for(VenueStatus, count=2, up=True, timeout=20)
        assert sim_venue.requests("demo", "place") == places_during  # nothing sent meanwhile
        again = resting_buy(system)
        events.wait_for(OrderUpdate, client_order_id=again, status="accepted")
        assert wait_open_at_venue(sim_venue, lambda n: n == 1, timeout=5)
    finally:
        summary = system.stop(timeout=10)
    assert summary.clean
    assert summary.open_at_venue == 0


def test_a_venue_unreachable_at_start_is_down_then_up(
    sim_venue: SimExchange, proxy: CuttableProxy, monkeypatch
):
    proxy.cut()
    system = _system(sim_venue, proxy, monkeypatch)
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)  # returns at the venue's first status: down
    try:
        (down,) = events.wait_for(VenueStatus, up=False)
        assert "unreachable" in down.reason
        assert not events.of(VenueStatus, up=True)
        _denied_venue_down(system, events)
        assert proxy.wait_refused(3)
        proxy.restore()
        events.wait_for(VenueStatus, up=True, timeout=20)
        cid = resting_buy(system)
        events.wait_for(OrderUpdate, client_order_id=cid, status="accepted")
    finally:
        summary = system.stop(timeout=10)
    assert summary.clean


def test_a_venue_down_past_the_limit_trips_the_kill_switch_and_is_still_tried(
    sim_venue: SimExchange, proxy: CuttableProxy, monkeypatch
):
    proxy.cut()
    system = _system(sim_venue, proxy, monkeypatch, halt_after_down=0.2)
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    try:
        (change,) = events.wait_for(KillSwitchChanged, state=TradingState.HALTED)
        assert change.source == TripSource.VENUE_DOWN.value
        refused = proxy.refused
        assert proxy.wait_refused(refused + 2)  # still trying
        assert system.tree.running
    finally:
        system.stop(timeout=10)


def test_a_venue_back_without_its_state_halts_trading(
    sim_venue: SimExchange, proxy: CuttableProxy, monkeypatch
):
    system = _system(sim_venue, proxy, monkeypatch)
    events = TradingEvents()
    system.subscribe(events)
    clock = SystemClock()
    fresh = SimExchange(
        INSTRUMENT,
        clock,
        seed=7,
        interval=0.02,
        keys={"demo": SECRET, "taker": TAKER_SECRET},
        liquidity=LiquidityConfig(limit_rate=0, cancel_rate=0, market_rate=0, depth_ticks=0),
    ).start()
    system.start(timeout=20)
    try:
        events.wait_for(VenueStatus, up=True)
        resting = resting_buy(system, quantity=5)
        events.wait_for(OrderUpdate, client_order_id=resting, status="accepted")
        taker = Taker(sim_venue)
        try:
            taker.request(
                "place", client_order_id="t1", side="sell", type="limit", tif="ioc",
                price=INSTRUMENT.format_price(MID - 300), quantity=INSTRUMENT.format_size(1),
            )  # fmt: skip
        finally:
            taker.close()
        events.wait_for(OrderUpdate, client_order_id=resting, status="partially_filled")
        # the venue "restarts" empty behind the same address: same keys, no history
        proxy.cut()
        events.wait_for(VenueStatus, up=False)
        host, port = fresh.trade_url.removeprefix("ws://").split("/", 1)[0].split(":")
        proxy.restore((host, int(port)))
        (change,) = events.wait_for(KillSwitchChanged, state=TradingState.HALTED, timeout=20)
        assert change.source == TripSource.VENUE_STATE_LOST.value
        assert "lost its state" in change.reason
    finally:
        system.stop(timeout=10)
        fresh.close()
        clock.close()


def test_a_frozen_venue_is_found_by_its_silence_and_trading_resumes_after(
    sim_venue: SimExchange, proxy: CuttableProxy, monkeypatch
):
    # As a SIGSTOPped venue: connections stay open, nothing answers.
    system = _system(sim_venue, proxy, monkeypatch)
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    try:
        events.wait_for(VenueStatus, up=True)
        proxy.freeze()
        (down,) = events.wait_for(VenueStatus, up=False, timeout=10)
        assert "heartbeat" in down.reason
        _denied_venue_down(system, events)
        proxy.thaw()
        events.wait_for(VenueStatus, count=2, up=True, timeout=20)
        cid = resting_buy(system)
        events.wait_for(OrderUpdate, client_order_id=cid, status="accepted")
        assert system.gate.state is TradingState.ACTIVE
    finally:
        summary = system.stop(timeout=10)
    assert summary.clean
