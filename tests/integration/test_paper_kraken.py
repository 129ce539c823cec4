"""Paper trading on Kraken: the live tree's orders matched against Kraken's market.

The market is the simulated exchange speaking Kraken spot (an independent reading of
Kraken's docs): WebSocket v2's ``book`` with its CRC32 checksum and its ``trade``
channel at ``/v2``, ``AssetPairs`` over REST, its own seeded background liquidity
moving the book (orders placed and cancelled around a still mid: no trade happens
unless a test takes). The paper venue follows that book through Kraken's adapter (the
same decoder and checksummed book as the feed), matches the market maker's orders
against it and the trades, and reports the fills to the order manager. Then a recorded
Kraken capture (v1 ``book-1000``, the shared data) in lockstep: the paper venue's fills
are the backtest's on the same frames. And the configs that cannot run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import pytest
import websocket
from trading_helpers import TradingEvents

from tradeactors.backtest.engine import BacktestConfig, run_backtest
from tradeactors.clock import SystemClock
from tradeactors.config import (
    Config,
    KillSwitchConfig,
    PaperConfig,
    RiskConfig,
    RunConfig,
    StrategyConfig,
    VenueConfig,
)
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import OrderStatus, OrderUpdate, Side
from tradeactors.errors import ConfigError
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.server import SimExchange
from tradeactors.strategy import make_strategy
from tradeactors.trading.system import TradingSystem
from tradeactors.venues.adapter import venue_adapter

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.supervision

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
KRAKEN_CAPTURE = DATA / "cryptofeed" / "KRAKEN.ws.50.0"
BINANCE_CAPTURE = DATA / "hftbacktest" / "ethusdt_20240808.gz"
needs_data = pytest.mark.skipif(
    not KRAKEN_CAPTURE.exists(), reason="../shared/data is not beside it"
)

PAIR = "BTC/USDT"  # Kraken's WebSocket v2 name
MARKET = Instrument(venue="kraken", symbol=PAIR, tick_size="0.01", lot_size="0.001")

# the embedded default's market maker (lots of 0.001), quoting one tick from the mid
MAKER = {"half_spread": 1, "size": 5, "max_inventory": 25, "skew": 1.0, "requote": 2}

NOT_BINDING = RiskConfig(
    price_collar_bps=None,
    max_order_quantity=None,
    max_position=None,
    max_open_orders=None,
    max_messages=None,
    max_loss=None,
    max_denials=None,
)


# the book moves (50 orders placed and 30 cancelled a second, within 50 ticks of a mid
# that stands still), but nothing trades: bids stay below the mid, asks above it
CHURN = LiquidityConfig(volatility=0.0, market_rate=0.0)


@pytest.fixture
def kraken() -> Iterator[SimExchange]:
    clock = SystemClock()
    exchange = SimExchange(
        MARKET, clock, seed=11, interval=0.01, protocol="kraken", liquidity=CHURN
    ).start()
    try:
        yield exchange
    finally:
        exchange.close()
        clock.close()


def _live(exchange: SimExchange, **venue: object) -> Config:
    return Config(
        venue=VenueConfig(kind="paper", name="paper", symbol=PAIR, **venue),  # type: ignore[arg-type]
        paper=PaperConfig(
            market="kraken",
            url=exchange.ws_url,
            rest_url=exchange.http_url,
            queue="probabilistic",
        ),
        # it quotes once and leaves its quotes where they are (for the test's life)
        strategy=StrategyConfig(name="market_maker", params={**MAKER, "min_interval": 60.0}),
        risk=NOT_BINDING,
        killswitch=KillSwitchConfig(stale_after=None),
        run=RunConfig(shutdown_timeout=5.0),
    )


def book_updates(exchange: SimExchange, depth: int, count: int) -> None:
    """Return once ``count`` ``book`` updates at ``depth`` were published after the call.

    Read on a connection of its own: every subscriber at ``depth`` is sent the same
    updates, in the same order, so the paper venue's connection had them too, before
    anything published after this returns.
    """
    ws = websocket.create_connection(exchange.ws_url, timeout=5)
    try:
        ws.send(
            json.dumps({
                "method": "subscribe",
                "params": {"channel": "book", "symbol": [PAIR], "depth": depth},
            })
        )  # fmt: skip
        seen = 0
        while seen < count:
            message = json.loads(ws.recv())
            seen += message.get("channel") == "book" and message.get("type") == "update"
    finally:
        ws.close()


def test_the_paper_venue_fills_orders_against_krakens_moving_book_and_trades(kraken):
    system = TradingSystem(_live(kraken, book_depth=25))
    events = TradingEvents()
    system.subscribe(events)
    system.start()
    try:
        # the steps came from the emulator's AssetPairs, as from Kraken's
        assert (system.instrument.tick_size, system.instrument.lot_size) == ("0.01", "0.001")
        (bid,) = events.wait_for(OrderUpdate, status=OrderStatus.ACCEPTED, side=Side.BUY)
        book_updates(kraken, depth=25, count=12)  # the paper venue's book follows them
        kraken.pause()  # the book stands still from here
        bids, _ = kraken.depth(1000)
        assert any(price < bid.price for price, _ in bids), (bid.price, bids)
        # a seller takes every bid: Kraken's trade channel shows trades at our bid and below
        assert kraken.take(Side.SELL, 1, sum(size for _, size in bids)) > 0
        # the paper fill, through the order manager to the strategy's updates
        events.wait_for(OrderUpdate, status=OrderStatus.FILLED, client_order_id=bid.client_order_id)
        venue = system.paper_venue
        assert venue is not None
        report = system.orders()
    finally:
        summary = system.stop()
    assert summary.clean
    assert summary.open_at_venue == 0  # the stop cancelled every paper order
    assert report.fills >= 1
    assert venue.trades > 0  # Kraken's trade channel reached the paper venue
    assert venue.snapshots >= 1
    assert venue.updates_applied > 10
    sync = venue.sync
    assert getattr(sync, "checksums_matched", 0) > 10  # its book is Kraken's, update by update
    assert not venue.losses  # and never lost sync
    assert venue.counts["fills"] == len(venue.fill_log) >= report.fills
    filled = [u for u in events.of(OrderUpdate) if u.fill_quantity]
    assert [u.execution_id for u in filled] == list(range(1, len(filled) + 1))
    for fill in filled:  # each one is a paper order's, at its own price (a maker's)
        order = venue.orders[fill.client_order_id]
        assert (fill.side, fill.fill_price) == (order.side, order.price)


def _kraken_capture_config(pace: str, **paper: object) -> Config:
    return Config(
        venue=VenueConfig(kind="paper", name="paper", symbol="SC/EUR"),
        paper=PaperConfig(market="kraken", capture=str(KRAKEN_CAPTURE), pace=pace, **paper),  # type: ignore[arg-type]
        strategy=StrategyConfig(name="market_maker", params=SC_MAKER),
        risk=NOT_BINDING,
        killswitch=KillSwitchConfig(stale_after=None),
    )


# quotes of 0.1 SC one tick from the mid (lots of 0.00000001: the capture's volumes)
SC_MAKER = {"half_spread": 1, "size": 10_000_000, "max_inventory": 50_000_000, "requote": 1}


@needs_data
def test_a_kraken_capture_in_lockstep_gives_the_backtests_fills(tmp_path):
    system = TradingSystem(_kraken_capture_config("lockstep"))
    assert system.paper is not None
    assert system.paper.book_depth == 1000  # as recorded (book-1000), not [venue]'s 10
    system.start()
    try:
        driver = system.paper_driver
        assert driver is not None
        assert driver.finished.wait(60), "the capture was not replayed"
        assert driver.drained.wait(30)
        assert driver.error is None
        venue = system.paper_venue
        assert venue is not None
        paper = list(venue.fill_series)
        assert system.status().fills == len(paper)
    finally:
        summary = system.stop()
    assert summary.clean
    assert summary.open_at_venue == 0
    assert venue.snapshots == 1
    assert venue.trades == 0  # a book-only capture: fills come from the book crossing alone
    offline = run_backtest(
        system.paper.frames,
        Instrument(venue="kraken", symbol="SC/EUR", tick_size="0.00001", lot_size="0.00000001"),
        make_strategy("market_maker", SC_MAKER),
        BacktestConfig(),
        market=venue_adapter("kraken").market_data,
        book_depth=1000,
    )
    assert len(offline.fill_series) >= 3  # the comparison means something
    assert paper == offline.fill_series


def test_the_shipped_config_paper_trades_krakens_live_market():
    from tradeactors.config import load_config

    config = load_config(Path(__file__).resolve().parents[2] / "config" / "paper-kraken.toml")
    system = TradingSystem(config)  # nothing connects before start
    assert system.paper is not None
    assert (config.paper.market, config.paper.url) == ("kraken", "wss://ws.kraken.com/v2")
    assert system.paper.book_depth == config.venue.book_depth == 100
    assert system.paper.instrument is None  # the steps: Kraken's AssetPairs, at start


class TestBadConfigs:
    """A Kraken paper config that cannot run says why, before anything starts."""

    def test_a_market_paper_trading_does_not_read(self, kraken):
        config = msgspec.structs.replace(
            _live(kraken),
            paper=PaperConfig(market="coinbase", url="wss://x", rest_url="https://x"),
        )
        with pytest.raises(ConfigError, match="reads binance, kraken markets only"):
            TradingSystem(config)

    def test_a_book_depth_kraken_does_not_offer(self, kraken):
        system = TradingSystem(_live(kraken, book_depth=15))
        with pytest.raises(ConfigError, match=r"book_depth = 15: Kraken's book depth is one of"):
            system.start()

    @needs_data
    def test_a_binance_capture_read_as_kraken_and_the_other_way_round(self):
        if not BINANCE_CAPTURE.exists():
            pytest.skip("../shared/data is not beside it")
        config = _kraken_capture_config("recorded")
        binance = msgspec.structs.replace(
            config.paper, capture=str(BINANCE_CAPTURE), market="kraken"
        )
        with pytest.raises(ConfigError, match=r'no kraken book messages: with .*"kraken"'):
            TradingSystem(msgspec.structs.replace(config, paper=binance))
        kraken = msgspec.structs.replace(config.paper, market="binance")
        with pytest.raises(ConfigError, match='a Kraken capture: market = "kraken"'):
            TradingSystem(msgspec.structs.replace(config, paper=kraken))

    @needs_data
    def test_a_pair_the_kraken_capture_does_not_have_says_which_it_has(self):
        config = _kraken_capture_config("lockstep")
        config = msgspec.structs.replace(
            config, venue=VenueConfig(kind="paper", name="paper", symbol="BTC/USD")
        )
        with pytest.raises(ConfigError, match=r"no book updates of BTC/USD \(it has: .*SC/EUR"):
            TradingSystem(config)
