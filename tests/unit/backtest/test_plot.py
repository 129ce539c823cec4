"""``backtest --plot``: the fills on the price, the axes in units; matplotlib is optional.

matplotlib is not a test dependency: a stand-in records what the plot draws.
"""

from __future__ import annotations

import sys
import types

import msgspec
import pytest

from tradeactors.backtest.engine import BacktestConfig, run_backtest
from tradeactors.backtest.plot import currencies, plot_report, require_matplotlib
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side
from tradeactors.strategy.api import Strategy
from tradeactors.venues.capture import Frame

ETH = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.0001")
MS = 1_000_000


def _frames() -> list[Frame]:
    snapshot = {"lastUpdateId": 100, "bids": [["100.00", "0.0005"]], "asks": [["100.01", "0.0004"]]}
    frames = [
        Frame(
            received_ns=1_000 * MS,
            source="rest",
            payload=msgspec.json.encode(snapshot).decode(),
            url="https://api.binance.com/api/v3/depth?symbol=ETHUSDT&limit=1000",
        )
    ]
    for n in (101, 102):
        data = {"e": "depthUpdate", "s": "ETHUSDT", "U": n, "u": n, "b": [], "a": []}
        payload = {"stream": "ethusdt@depth@100ms", "data": data}
        frames.append(
            Frame(
                received_ns=(1_000 + n - 100) * MS,
                source="ws",
                payload=msgspec.json.encode(payload).decode(),
            )
        )
    return frames


class BuyThenSell(Strategy):
    name = "buy_then_sell"

    def __init__(self) -> None:
        self.books = 0

    def on_book(self, ctx, view):
        self.books += 1
        if self.books == 1:
            ctx.submit(side=Side.BUY, price=10_001, quantity=2, tif="ioc")
        elif self.books == 2:
            ctx.submit(side=Side.SELL, price=10_000, quantity=1, tif="ioc")


class _Axes:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.labels: dict[str, str] = {}

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, args, kwargs))

        return record

    def set_ylabel(self, text):
        self.labels["y"] = text

    def set_xlabel(self, text):
        self.labels["x"] = text


class _Figure:
    def suptitle(self, text):
        self.title = text

    def savefig(self, path, dpi):
        with open(path, "w") as out:  # noqa: PTH123
            out.write("png")


def _draw(report, path) -> tuple[_Figure, tuple[_Axes, _Axes, _Axes]]:
    """Draw ``report`` with a stand-in matplotlib; the figure and its three panels."""
    figure, axes = _Figure(), (_Axes(), _Axes(), _Axes())
    pyplot = types.ModuleType("matplotlib.pyplot")
    pyplot.subplots = lambda *args, **kwargs: (figure, axes)
    pyplot.close = lambda fig: None
    matplotlib = types.ModuleType("matplotlib")
    matplotlib.use = lambda backend: None
    matplotlib.pyplot = pyplot
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "matplotlib", matplotlib)
        patch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
        plot_report(report, str(path))
    return figure, axes


def _report():
    config = BacktestConfig(order_latency_ms=0.5, response_latency_ms=0.5, sample_interval_s=0.001)
    return run_backtest(_frames(), ETH, BuyThenSell(), config)


def test_the_plot_marks_every_fill_at_its_time_and_price(tmp_path):
    report = _report()
    assert report.fills == 2
    figure, (price, _position, _pnl) = _draw(report, tmp_path / "plot.png")
    marks = {
        kwargs["label"]: list(zip(args[0], args[1], strict=True))
        for name, args, kwargs in price.calls
        if name == "scatter"
    }
    assert marks == {"buy (taker)": [(0.0005, 100.01)], "sell (taker)": [(0.0015, 100.0)]}
    assert "2 fills" in figure.title
    assert (tmp_path / "plot.png").exists()


def test_every_axis_says_its_unit(tmp_path):
    _figure, (price, position, pnl) = _draw(_report(), tmp_path / "plot.png")
    assert price.labels == {"y": "price (USDT)"}
    assert position.labels == {"y": "position (ETH)"}
    assert pnl.labels == {"y": "net PnL (USDT)", "x": "time from the start of the capture (s)"}


def test_positions_are_drawn_in_base_units(tmp_path):
    report = _report()
    assert report.series[-1].position == pytest.approx(0.0001)  # base units: 1 lot left
    _figure, (_price, position, _pnl) = _draw(report, tmp_path / "plot.png")
    (_name, args, _kwargs) = next(call for call in position.calls if call[0] == "step")
    assert args[1][-1] == pytest.approx(0.0001)  # 1 lot of 0.0001 ETH


@pytest.mark.parametrize(
    ("symbol", "names"),
    [("ETHUSDT", ("ETH", "USDT")), ("LRCBTC", ("LRC", "BTC")), ("XBT/USD", ("XBT", "USD")),
     ("FOO", ("base units", "quote currency"))],
)  # fmt: skip
def test_axis_currencies_come_from_the_symbol(symbol, names):
    assert currencies(symbol) == names


def test_without_matplotlib_the_check_before_a_run_raises_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(ImportError):
        require_matplotlib()
