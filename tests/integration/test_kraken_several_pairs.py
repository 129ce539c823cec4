"""Two pairs at one venue speaking Kraken's protocol: the trading tree over real sockets.

The embedded simulated exchange speaks Kraken spot's WebSocket v2 for BTC/USDT (tick
0.01, lot 0.001) and ETH/USDT (tick 0.1, lot 0.01): one feed subscribes to both pairs'
``book`` (each book synced from its own snapshot and checksums), one gateway trades both
over one ``executions`` subscription, a market maker quotes each pair, Kraken's
``cancel_all`` (account-wide) cancels both pairs' orders, and the stop leaves nothing
open. Nothing here reaches the real venue.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING

import msgspec
import pytest
from trading_helpers import TradingEvents, config_for

from tradeactors.clock import SystemClock
from tradeactors.config import Config, load_config
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import (
    GetBook,
    OrderStatus,
    OrderUpdate,
    Side,
    SubmitOrder,
    VenueStatus,
)
from tradeactors.core.risk import TradingState
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.server import SimExchange
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.supervision

CONFIG = """
[[venues]]
name = "kraken"
kind = "kraken"        # embedded: the simulated exchange speaks Kraken's protocol
api_key = "demo"
step_interval = 0.02

[[instruments]]
symbol = "BTC/USDT"
tick_size = "0.01"
lot_size = "0.001"

[[instruments]]
symbol = "ETH/USDT"
tick_size = "0.1"
lot_size = "0.01"

[[strategies]]
name = "mm_btc"
class = "market_maker"
instruments = ["BTC/USDT"]
params = { half_spread = 3, size = 2, requote = 2, min_interval = 0.1 }

[[strategies]]
name = "mm_eth"
class = "market_maker"
instruments = ["ETH/USDT"]
params = { half_spread = 3, size = 2, requote = 2, min_interval = 0.1 }
"""


@pytest.fixture
def system(tmp_path: Path) -> Iterator[tuple[TradingSystem, TradingEvents]]:
    path = tmp_path / "kraken_pairs.toml"
    path.write_text(CONFIG)
    system = TradingSystem(load_config(path))
    events = TradingEvents()
    system.subscribe(events)
    try:
        system.start(timeout=20)
        yield system, events
    finally:
        try:
            running = system.tree.running
        except RuntimeError:  # never started
            running = False
        if running:
            system.stop(timeout=10)


def _synced(system: TradingSystem, symbol: str) -> bool:
    book = system.tree.address(system.paths.book("kraken", symbol))
    deadline = time.monotonic() + 10
    view = book.ask(GetBook(depth=1), timeout=5)
    while not (view.bids and view.asks):
        if time.monotonic() > deadline:
            return False
        view = book.ask(GetBook(depth=1), timeout=5)
    return True


def test_two_pairs_trade_through_one_kraken_session_and_cancel_all_covers_both(system):
    system, events = system
    events.wait_for(VenueStatus, up=True)
    exchange = system.exchange
    assert exchange is not None
    assert exchange.protocol == "kraken"
    assert set(exchange.instruments) == {"BTC/USDT", "ETH/USDT"}
    # both books synced from one feed's subscription to Kraken's book channel
    assert _synced(system, "BTC/USDT")
    assert _synced(system, "ETH/USDT")
    # each market maker's orders are accepted on its own pair, in its own steps
    for tag, symbol in (("mmbt", "BTC/USDT"), ("mmet", "ETH/USDT")):
        assert events.wait_until(
            lambda tag=tag: any(
                u.client_order_id.startswith(tag) and u.status == "accepted"
                for u in events.of(OrderUpdate)
            ),
            timeout=15,
        ), f"{tag} never quoted"
        mine = [u for u in events.of(OrderUpdate) if u.client_order_id.startswith(tag)]
        assert {u.instrument for u in mine} == {symbol}

    def open_symbols() -> set[str]:
        return {order.instrument for order in exchange.engine.open_orders("demo", None)}

    assert exchange.wait_until(lambda: open_symbols() == {"BTC/USDT", "ETH/USDT"}, timeout=10)
    api = exchange.orders
    cancel_alls = api.requests.get(("demo", "cancel_all"), 0)
    # halting the venue's scope cancels everything there: Kraken's cancel_all, both pairs
    system.kill("test: cancel all at the venue", scope="venue:kraken")
    assert exchange.wait_until(lambda: not open_symbols(), timeout=10)
    assert api.requests.get(("demo", "cancel_all"), 0) > cancel_alls
    assert system.gate.state_of(None, "kraken") is TradingState.HALTED
    summary = system.stop(timeout=10)
    assert summary.open_at_venue == 0


BTC = Instrument(venue="kraken", symbol="BTC/USDT", tick_size="0.01", lot_size="0.001")
ETH = Instrument(venue="kraken", symbol="ETH/USDT", tick_size="0.1", lot_size="0.01")
KRAKEN_SECRET = base64.b64encode(b"kraken-pairs-secret-" + b"p" * 44).decode()


@pytest.fixture
def still_pairs(monkeypatch) -> Iterator[tuple[SimExchange, TradingSystem, TradingEvents]]:
    """A still Kraken-speaking exchange of both pairs, and a tree with no strategy."""
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", KRAKEN_SECRET)
    clock = SystemClock()
    still = LiquidityConfig(limit_rate=0, cancel_rate=0, market_rate=0, depth_ticks=0)
    exchange = SimExchange(
        (BTC, ETH),
        clock,
        interval=0.02,
        keys={"demo": KRAKEN_SECRET},
        liquidity=still,
        protocol="kraken",
    ).start()
    try:
        config = msgspec.to_builtins(config_for(exchange))
        del config["venue"]["symbol"]  # the pairs are [[instruments]]
        config["venue"].update(kind="kraken", api_key="demo")
        config["instruments"] = [
            {"symbol": i.symbol, "tick_size": i.tick_size, "lot_size": i.lot_size}
            for i in (BTC, ETH)
        ]
        system = TradingSystem(msgspec.convert(config, Config))
        events = TradingEvents()
        system.subscribe(events)
        try:
            system.start(timeout=20)
            events.wait_for(VenueStatus, up=True)
            yield exchange, system, events
        finally:
            try:
                if system.tree.running:
                    system.stop(timeout=10)
            except RuntimeError:  # never started
                pass
    finally:
        exchange.close()
        clock.close()


def _buy(system: TradingSystem, symbol: str, price: int) -> str:
    client_order_id = system.new_order_id()
    system.submit(
        SubmitOrder(
            client_order_id=client_order_id,
            venue="sim",
            instrument=symbol,
            side=Side.BUY,
            price=price,
            quantity=1,
        )
    )
    return client_order_id


def test_a_pair_near_its_rate_counter_s_threshold_is_throttled_alone(still_pairs):
    """Kraken counts each pair on its own: ETH/USDT's counter near its threshold (another
    client of the account spent it) holds back ETH/USDT's new orders, not BTC/USDT's.
    """
    exchange, system, events = still_pairs
    exchange.spend_rate_count("demo", 120, "ETH/USDT")  # of the emulator's 125
    first = _buy(system, "ETH/USDT", 90_000)
    events.wait_for(OrderUpdate, client_order_id=first, status=OrderStatus.ACCEPTED)
    assert exchange.take(Side.SELL, 90_000, 1, symbol="ETH/USDT") == 1  # a report after it
    events.wait_for(OrderUpdate, client_order_id=first, fill_quantity=1)

    second = _buy(system, "ETH/USDT", 90_000)
    (refused,) = events.wait_for(OrderUpdate, client_order_id=second, status=OrderStatus.REJECTED)
    assert refused.reason == "throttled"  # by the gateway: 121 of 125, within a tenth
    btc = _buy(system, "BTC/USDT", 90_000)  # BTC/USDT's counter is at 0: it goes
    events.wait_for(OrderUpdate, client_order_id=btc, status=OrderStatus.ACCEPTED)
    assert exchange.requests("demo", "place") == 2  # the throttled one never left

    system.kill("test: done", scope="venue:sim")
    assert exchange.wait_until(lambda: not exchange.engine.open_orders("demo", None), timeout=10)
    assert system.stop(timeout=10).open_at_venue == 0
