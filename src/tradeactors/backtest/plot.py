"""``--plot``: mid price, inventory and PnL over time (needs matplotlib, an optional extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradeactors.backtest.engine import BacktestReport

__all__ = ["plot_report"]


def plot_report(report: BacktestReport, path: str) -> None:
    """Draw the report's series to ``path`` (PNG). Raises ImportError without matplotlib."""
    import matplotlib as mpl  # noqa: PLC0415 - optional

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    t = [s.t for s in report.series]
    figure, (top, middle, bottom) = plt.subplots(3, 1, sharex=True, figsize=(10, 8))
    top.plot(t, [s.mid for s in report.series])
    top.set_ylabel("mid")
    middle.step(t, [s.position for s in report.series], where="post")
    middle.set_ylabel("position (lots)")
    bottom.plot(t, [s.pnl for s in report.series])
    bottom.set_ylabel("PnL")
    bottom.set_xlabel("seconds")
    figure.suptitle(f"{report.strategy} on {report.instrument}: net {report.net_pnl:+.4f}")
    figure.savefig(path, dpi=100)
    plt.close(figure)
