"""``--plot``: mid price with the fills, inventory and PnL over time (needs matplotlib).

matplotlib is an optional extra (``pip install 'tradeactors[plot]'``): `require_matplotlib`
says whether it imports before a run starts, so a missing one never costs a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeactors.core.messages import Side
from tradeactors.core.units import base_quote

if TYPE_CHECKING:
    from tradeactors.backtest.engine import BacktestReport

__all__ = ["currencies", "plot_report", "require_matplotlib"]


def require_matplotlib() -> None:
    """Import matplotlib now. Raises ImportError if it is not installed (or broken)."""
    import matplotlib as mpl  # noqa: F401, PLC0415 - optional: only whether it imports


def currencies(symbol: str) -> tuple[str, str]:
    """``(base, quote)`` of ``symbol`` (``ETHUSDT`` -> ``ETH``, ``USDT``), for axis labels.

    As `tradeactors.core.units.base_quote`; a symbol it cannot split gives
    ``("base units", "quote currency")``.
    """
    base, quote = base_quote(symbol)
    if quote == "quote":
        return "base units", "quote currency"
    return base, quote


def plot_report(report: BacktestReport, path: str) -> None:
    """Draw the report to ``path`` (PNG). Raises ImportError without matplotlib.

    Three panels over the seconds from the start of the capture: the mid price with
    every fill at its price (buys ``^``, sells ``v``; filled: maker, hollow: taker),
    the position in base units, and the net PnL (after fees) in the quote currency.
    """
    import matplotlib as mpl  # noqa: PLC0415 - optional

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    base, quote = currencies(report.instrument)
    t = [s.t for s in report.series]
    figure, (top, middle, bottom) = plt.subplots(3, 1, sharex=True, figsize=(10, 8))
    top.plot(t, [s.mid for s in report.series], color="0.4", linewidth=1, label="mid")
    for side, marker, color in ((Side.BUY, "^", "tab:green"), (Side.SELL, "v", "tab:red")):
        for maker in (True, False):
            fills = [f for f in report.fill_series if f.side is side and f.maker is maker]
            if not fills:
                continue
            top.scatter(
                [f.t for f in fills],
                [f.price for f in fills],
                marker=marker,
                s=36,
                facecolors=color if maker else "none",
                edgecolors=color,
                label=f"{side.value} ({'maker' if maker else 'taker'})",
                zorder=3,
            )
    top.set_ylabel(f"price ({quote})")
    top.legend(loc="best", fontsize="small")
    middle.step(t, [s.position for s in report.series], where="post")
    middle.set_ylabel(f"position ({base})")
    bottom.plot(t, [s.pnl for s in report.series])
    bottom.set_ylabel(f"net PnL ({quote})")
    bottom.set_xlabel("time from the start of the capture (s)")
    figure.suptitle(
        f"{report.strategy} on {report.instrument}: {report.fills} fills, "
        f"net {report.net_pnl:+.4f} {quote}"
    )
    figure.savefig(path, dpi=100)
    plt.close(figure)
