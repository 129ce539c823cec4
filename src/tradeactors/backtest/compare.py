"""Paper trading's results beside the backtest's on the same market (``tradeactors run``).

After a paper run (``[venue] kind = "paper"``), `paper_lines` reports what the paper
venue did, from its own accounts (the backtest's report, `venue_report`); on a capture
it also runs ``tradeactors backtest`` on the frames the paper venue read, with the
same strategy and venue model, and shows both side by side. In lockstep the two agree
fill for fill (docs/paper.md); at recorded pace the live tree's timing (threads, the
wall clock) makes them differ, and this shows by how much. A paper venue whose book
never synced says so instead of showing a PnL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from tradeactors.backtest.engine import BacktestConfig, run_backtest, venue_report
from tradeactors.core.instrument import Instrument
from tradeactors.core.units import base_quote, money_places, money_text
from tradeactors.strategy import make_strategy
from tradeactors.strategy.api import describe
from tradeactors.venues.adapter import venue_adapter
from tradeactors.venues.paper import VenueModel

if TYPE_CHECKING:
    from tradeactors.backtest.engine import BacktestReport
    from tradeactors.trading.system import TradingSystem

__all__ = ["paper_lines"]


def paper_lines(system: TradingSystem) -> list[str]:
    """The paper venue's figures (and the backtest's, on a capture), as lines to print.

    Call it after `TradingSystem.stop` (nothing touches the paper venue any more).
    Empty for a system that is not paper trading.
    """
    model, market = system.paper_venue, system.paper
    if model is None or market is None:
        return []
    config = system.config
    paper = config.paper
    backtest_config = BacktestConfig(
        **msgspec.structs.asdict(VenueModel.of(paper)), depth=paper.depth
    )
    name, params = config.strategy.name, dict(config.strategy.params)
    shown = describe(make_strategy(name, params)) if name != "none" else "none"
    model.finish()
    reports = {"paper": venue_report(model, shown, params, backtest_config)}
    if market.frames and name != "none":
        instrument = system.instrument
        offline = Instrument(
            venue=paper.market,
            symbol=instrument.symbol,
            tick_size=instrument.tick_size,
            lot_size=instrument.lot_size,
        )
        frames = market.frames[: model.frames]  # what the paper venue read, in order
        reports["backtest"] = run_backtest(
            frames,
            offline,
            make_strategy(name, params),
            backtest_config,
            params=params,
            market=venue_adapter(paper.market).market_data,
            book_depth=market.book_depth,
        )
    lines = _table(reports, paper.pace)
    driver = system.paper_driver
    if driver is not None and driver.error is not None:  # the comparison covers less
        lines.append(f"lockstep stopped after {model.frames} frames: {driver.error!r}")
    return lines


def _table(reports: dict[str, BacktestReport], pace: str) -> list[str]:
    paper = reports["paper"]
    problem = paper.problem()
    if problem is not None and paper.first_synced_s is None:
        return [f"paper venue: no result: {problem}"]
    base = base_quote(paper.instrument)[0]
    places = money_places(paper.tick_size, paper.lot_size)

    def money(value: float) -> str:
        return money_text(value, paper.instrument, places)

    def cells(report: BacktestReport) -> list[str]:
        return [
            f"{report.frames} frames, in sync {report.synced_percent:.1f}%",
            (
                f"{report.orders_sent} sent, {report.orders_cancelled} cancelled, "
                f"{report.orders_rejected} rejected"
            ),
            f"{report.fills} ({report.maker_fills} maker, {report.taker_fills} taker)",
            f"{report.volume:g} {base}",
            money(report.fees),
            money(report.net_pnl),
            f"{report.final_position:+g} {base}",
        ]

    names = ["market", "orders", "fills", "volume", "fees", "net PnL", "final position"]
    columns = {name: cells(report) for name, report in reports.items()}
    title = {"paper": f"paper venue ({pace})", "backtest": "backtest, same frames"}
    widths = {name: max(len(title[name]), *map(len, column)) for name, column in columns.items()}
    first = max(map(len, names))
    head = "  ".join(f"{title[name]:<{widths[name]}}" for name in columns)
    lines = [f"{'':<{first}}  {head}".rstrip()]
    for row, label in enumerate(names):
        values = "  ".join(f"{columns[name][row]:<{widths[name]}}" for name in columns)
        lines.append(f"{label:<{first}}  {values}".rstrip())
    if "backtest" in reports:
        same = _fills(paper) == _fills(reports["backtest"])
        if same:
            lines.append("fills: the same as the backtest's, fill for fill")
        elif pace == "lockstep":
            lines.append("fills: NOT the same as the backtest's (lockstep should agree: a bug)")
        else:
            lines.append("fills: not the same as the backtest's (recorded pace: live timing)")
    if problem is not None:
        lines.append(f"paper venue: {problem}")
    return lines


def _fills(report: BacktestReport) -> bytes:
    return msgspec.json.encode(report.fill_series)
