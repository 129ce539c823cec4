"""Paper trading: the live tree against a recorded (or streamed) market, the backtest's venue.

The acceptance test: in lockstep, the market maker's fills in the tree equal
``tradeactors backtest``'s on the same capture (time, side, price, quantity, maker),
with risk limits that do not bind. The capture is a prefix of the shared ETHUSDT one,
written beside the test in tradeactors' own capture format.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from trading_helpers import TradingEvents

from tradeactors.backtest.engine import BacktestConfig, run_backtest
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
from tradeactors.core.messages import OrderStatus, OrderUpdate, ReconciliationReport, Side
from tradeactors.strategy import make_strategy
from tradeactors.strategy.api import ENDED, Strategy
from tradeactors.strategy.builtin import BUILTINS
from tradeactors.trading.system import TradingSystem
from tradeactors.venues.capture import read_capture
from tradeactors.venues.recording import HEADER, write_frame

pytestmark = pytest.mark.supervision

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CAPTURE = DATA / "hftbacktest" / "ethusdt_20240808.gz"
needs_data = pytest.mark.skipif(not CAPTURE.exists(), reason="../shared/data is not beside it")

NOT_BINDING = RiskConfig(
    price_collar_bps=None,
    max_order_quantity=None,
    max_position=None,
    max_open_orders=None,
    max_messages=None,
    max_loss=None,
    max_denials=None,
)


def _prefix(path: Path, frames: int) -> list:
    """The first ``frames`` frames of the ETHUSDT capture, written to ``path``."""
    kept = []
    with path.open("w") as out:
        out.write(HEADER + "\n")
        for frame in read_capture(CAPTURE):
            if len(kept) == frames:
                break
            kept.append(frame)
            write_frame(out, frame)
    return kept


def _config(capture: Path, pace: str, **paper: object) -> Config:
    return Config(
        venue=VenueConfig(kind="paper", name="paper", symbol="ETHUSDT"),
        paper=PaperConfig(capture=str(capture), pace=pace, **paper),  # type: ignore[arg-type]
        strategy=StrategyConfig(name="market_maker", params={}),
        risk=NOT_BINDING,
        killswitch=KillSwitchConfig(stale_after=10.0),
    )


def _backtest(frames: list, system: TradingSystem, **model: object):
    instrument = Instrument(
        venue="binance",
        symbol="ETHUSDT",
        tick_size=system.instrument.tick_size,
        lot_size=system.instrument.lot_size,
    )
    return run_backtest(
        frames, instrument, make_strategy("market_maker", {}), BacktestConfig(**model)
    )


@needs_data
@pytest.mark.parametrize(
    "model",
    [{}, {"queue": "probabilistic", "order_latency_ms": 20.0, "response_latency_ms": 3.0}],
    ids=["default_model", "probabilistic_unequal_latencies"],
)
def test_in_lockstep_the_market_makers_fills_equal_the_backtests_fill_for_fill(tmp_path, model):
    frames = _prefix(tmp_path / "eth.capture", 2500)
    system = TradingSystem(_config(tmp_path / "eth.capture", "lockstep", **model))
    fills = TradingEvents()
    system.subscribe(fills)
    system.start()
    try:
        driver = system.paper_driver
        assert driver is not None
        assert driver.finished.wait(60), "the capture was not replayed"
        assert driver.drained.wait(30), "the paper venue still had work after the capture"
        assert driver.error is None
        venue = system.paper_venue
        assert venue is not None
        paper = list(venue.fill_series)
        orders = venue.counts["sent"]
        # the order manager heard every fill the venue made, once
        assert system.status().fills == len(paper)
    finally:
        summary = system.stop()
    assert summary.clean
    assert summary.open_at_venue == 0
    offline = _backtest(frames, system, **model)
    assert len(offline.fill_series) >= 10  # the comparison means something
    assert paper == offline.fill_series  # time, side, price, quantity, maker: all
    assert orders == offline.orders_sent
    updates = [u for u in fills.of(OrderUpdate) if u.fill_quantity]
    assert [(u.side, u.fill_quantity) for u in updates] == [
        (f.side, round(f.quantity / float(system.instrument.lot_size))) for f in paper
    ]


@needs_data
def test_at_recorded_pace_the_paper_venue_reads_the_market_and_the_run_stops_clean(tmp_path):
    _prefix(tmp_path / "eth.capture", 1500)  # about 16 s of market, replayed 80 times faster
    system = TradingSystem(_config(tmp_path / "eth.capture", "recorded", speed=80.0))
    events = TradingEvents()
    system.subscribe(events)
    system.start()
    try:
        assert system.market_done.wait(30), "the capture was not replayed"
        events.wait_for(OrderUpdate, status=OrderStatus.ACCEPTED)  # quoted at the paper venue
        assert system.market_finished
    finally:
        summary = system.stop()
    venue = system.paper_venue
    assert venue is not None
    assert venue.frames == 1500
    assert venue.first_synced_ns is not None  # its book followed the market
    assert summary.open_at_venue == 0
    assert summary.clean


def _run_cli(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "run", *args, "--state-dir", str(state)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@needs_data
def test_run_on_a_paper_config_trades_the_capture_to_its_end_and_compares(tmp_path):
    _prefix(tmp_path / "eth.capture", 1200)
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "paper.toml"
    config.write_text(
        '[venue]\nkind = "paper"\nname = "paper"\nsymbol = "ETHUSDT"\n'
        '[paper]\ncapture = "../eth.capture"\npace = "lockstep"\n'  # relative to the file
        '[strategy]\nname = "market_maker"\n[strategy.params]\n'
        "[run]\nduration = 0\nstatus_interval = 0.05\n"
        "[risk]\nmax_order_quantity = 1000\nmax_position = 1000\nmax_messages = 100\n"
    )
    result = _run_cli("--config", str(config), state=tmp_path / "state")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "orders still open at the venue: 0" in out
    assert "paper venue (lockstep)" in out
    assert "backtest, same frames" in out
    assert "fills: the same as the backtest's, fill for fill" in out


@needs_data
def test_paper_trading_the_live_stream_reads_it_through_the_feed(venue):
    fake, stream_url, snapshot_url = venue
    fake.hold.set()  # the stream stays open after its frames, as a venue's does
    fake.snapshot_first = True
    fake.subscription = False  # the URL names the streams, as Binance's combined stream does
    config = Config(
        venue=VenueConfig(
            kind="paper", name="paper", symbol="ETHUSDT", tick_size="0.01", lot_size="0.0001"
        ),
        paper=PaperConfig(url=stream_url, rest_url=snapshot_url.split("/api/")[0]),
        strategy=StrategyConfig(name="market_maker", params={}),
        risk=NOT_BINDING,
        killswitch=KillSwitchConfig(stale_after=None),
        run=RunConfig(shutdown_timeout=5.0),
    )
    system = TradingSystem(config)
    events = TradingEvents()
    system.subscribe(events)
    system.start()
    try:
        # the market maker quoted on the book it saw, and the paper venue took the order
        events.wait_for(OrderUpdate, status=OrderStatus.ACCEPTED)
    finally:
        summary = system.stop()
    model = system.paper_venue
    assert model is not None
    # the feed told the paper venue the snapshot it fetched before the book had it, so
    # before any order: the venue's own book synced on the live market
    assert model.snapshots >= 1
    assert model.first_synced_ns is not None
    assert model.counts["sent"] >= 1
    assert summary.open_at_venue == 0


class TestBadConfigs:
    """A paper config that cannot run says what is missing, before anything starts."""

    def test_a_missing_capture_is_named(self, tmp_path):
        with pytest.raises(Exception, match=r"\[paper\] capture .*nothere.gz: cannot read it"):
            TradingSystem(_config(tmp_path / "nothere.gz", "lockstep"))

    @needs_data
    def test_a_capture_without_the_instrument_says_which_it_has(self, tmp_path):
        _prefix(tmp_path / "eth.capture", 50)
        config = msgspec.structs.replace(
            _config(tmp_path / "eth.capture", "lockstep"),
            venue=VenueConfig(kind="paper", name="paper", symbol="BTCUSDT"),
        )
        with pytest.raises(Exception, match=r"no depth updates of BTCUSDT \(it has: ETHUSDT\)"):
            TradingSystem(config)

    def test_a_kraken_capture_is_refused_saying_binance_only(self):
        kraken = DATA / "cryptofeed" / "KRAKEN.ws.50.0"
        if not kraken.exists():
            pytest.skip("../shared/data is not beside it")
        with pytest.raises(Exception, match="replays Binance captures only"):
            TradingSystem(_config(kraken, "recorded"))

    def test_the_cli_exits_2_with_one_line(self, tmp_path):
        config = tmp_path / "paper.toml"
        config.write_text(
            '[venue]\nkind = "paper"\nsymbol = "ETHUSDT"\n[paper]\ncapture = "missing.gz"\n'
        )
        result = _run_cli("--config", str(config), state=tmp_path / "state")
        assert result.returncode == 2
        assert f"{tmp_path}/missing.gz: cannot read it" in result.stderr
        assert "Traceback" not in result.stderr


@needs_data
def test_a_killed_paper_venue_actor_drops_its_session_and_the_new_one_reconciles(tmp_path):
    _prefix(tmp_path / "eth.capture", 2500)
    system = TradingSystem(_config(tmp_path / "eth.capture", "lockstep"))
    events = TradingEvents()
    system.subscribe(events)
    system.start()
    try:
        events.wait_for(OrderUpdate, status=OrderStatus.ACCEPTED)  # quotes rest at the venue
        assert system.tree.faults(system.gateway_path).kill()
        # restarted: it dropped the old session (its quotes cancelled) and reconciled
        events.wait_for(ReconciliationReport, count=2, venue="paper")
        driver = system.paper_driver
        assert driver is not None
        assert driver.finished.wait(60)
        assert driver.drained.wait(30)
        assert system.tree.stats(system.gateway_path).restarts == 1
        report = system.orders()
        venue = system.paper_venue
        assert venue is not None
        # what the order manager thinks open is what rests at the paper venue
        assert report.open_orders == len(venue.open_orders())
        assert report.fills == len(venue.fill_log)
    finally:
        summary = system.stop()
    assert summary.open_at_venue == 0
    assert summary.clean


class AmenderParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    interval: float = 0.3  # seconds between amends of its order
    size: int = 100  # lots


class Amender(Strategy):
    """One order at the touch, amended every ``interval``; records every update it hears.

    A touch that moved: a new price (the queue place lost); else one lot less (kept),
    and every third time five more (lost); every seventh amend, a price across the book,
    which the venue refuses (its orders are post-only). It amends only orders the venue
    acknowledged, one amend at a time, so the order manager never denies what the
    backtest sends.
    """

    name = "amender"

    def __init__(self, params: AmenderParams, heard: list) -> None:
        self.params = params
        self.heard = (
            heard  # (t, order number, status, price, quantity, filled, fill, amend, reason)
        )
        self.numbers: dict[str, int] = {}
        self.order: str | None = None
        self.acknowledged = self.pending = self.stopped = False
        self.last_ns = 0
        self.same_price = 0  # amends at one price in a row
        self.amends = 0

    def on_book(self, ctx, view):
        bid, ask = view.best_bid, view.best_ask
        if self.stopped or bid is None or ask is None:
            return
        side = Side.BUY if ctx.position <= 0 else Side.SELL
        touch = bid[0] if side is Side.BUY else ask[0]
        if self.order is None:
            self.order = ctx.submit(
                side=side, price=touch, quantity=self.params.size, post_only=True
            )
            self.numbers[self.order] = len(self.numbers) + 1
            self.acknowledged = self.pending = False
            self.last_ns = ctx.now_ns
            return
        due = ctx.now_ns - self.last_ns >= self.params.interval * 1e9
        if not self.acknowledged or self.pending or not due:
            return
        (order,) = [o for o in ctx.open_orders() if o.client_order_id == self.order]
        touch, across = (bid[0], ask[0]) if order.side is Side.BUY else (ask[0], bid[0])
        self.amends += 1
        if self.amends % 7 == 0:
            ctx.amend(self.order, price=across)  # would take: refused, the order stays
        elif order.price != touch:
            self.same_price = 0
            ctx.amend(self.order, price=touch)
        else:
            self.same_price += 1
            more = self.same_price % 3 == 0 or order.quantity - order.filled <= 1
            ctx.amend(self.order, quantity=order.quantity + (5 if more else -1))
        self.pending, self.last_ns = True, ctx.now_ns

    def on_order_update(self, ctx, update):
        self.heard.append(
            (ctx.now_ns, self.numbers.get(update.client_order_id, 0), update.status,
             update.price, update.quantity, update.filled, update.fill_quantity,
             update.amend, update.reason)
        )  # fmt: skip
        if update.client_order_id != self.order:
            return
        if update.amend is not None:
            self.pending = False
        if update.status in ENDED:
            self.order = None
        elif update.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            self.acknowledged = True

    def on_stop(self, ctx):
        self.stopped = True
        ctx.cancel_all()


@needs_data
def test_in_lockstep_an_amending_strategy_hears_what_it_hears_in_the_backtest(
    tmp_path, monkeypatch
):
    frames = _prefix(tmp_path / "eth.capture", 2500)
    live_heard: list = []
    monkeypatch.setitem(
        BUILTINS, "amender", (lambda params: Amender(params, live_heard), AmenderParams)
    )
    config = msgspec.structs.replace(
        _config(tmp_path / "eth.capture", "lockstep"),
        strategy=StrategyConfig(name="amender", params={}),
    )
    system = TradingSystem(config)
    system.start()
    try:
        driver = system.paper_driver
        assert driver is not None
        assert driver.finished.wait(60), "the capture was not replayed"
        assert driver.drained.wait(30), "the paper venue still had work after the capture"
        assert driver.error is None
        heard = list(live_heard)  # the tree is quiescent: until the stop's cancels
        venue = system.paper_venue
        assert venue is not None
        paper_fills = list(venue.fill_series)
        # the order manager's view of the open order is the venue's (price, open lots)
        (resting,) = venue.open_orders()
        (open_order,) = [o for o in system.orders().orders if o.status.open]
        assert (open_order.price, open_order.quantity - open_order.filled) == (
            resting.price,
            resting.remaining,
        )
    finally:
        summary = system.stop()
    assert summary.clean
    assert summary.open_at_venue == 0
    offline_heard: list = []
    instrument = Instrument(
        venue="binance",
        symbol="ETHUSDT",
        tick_size=system.instrument.tick_size,
        lot_size=system.instrument.lot_size,
    )
    report = run_backtest(
        frames, instrument, Amender(AmenderParams(), offline_heard), BacktestConfig()
    )
    # the backtest's strategy hears nothing after the capture's last frame
    end_ns = frames[-1].received_ns
    amends = [(h[7], h[8]) for h in offline_heard if h[7] is not None]
    # the run means something: every kind of amend, and fills
    assert {"amended in place", "amended", "post_only_would_take"} <= {r for _a, r in amends}
    assert len(amends) >= 20
    assert len(report.fill_series) >= 5
    assert [h for h in heard if h[0] <= end_ns] == offline_heard
    assert paper_fills == report.fill_series
