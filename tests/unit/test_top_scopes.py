"""`top`'s positions and PnL per strategy, from what `TradingMetrics` serves."""

from __future__ import annotations

import io

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from tradeactors.actors.gate import TradingGate
from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import OrdersReport, OwnerPosition
from tradeactors.top import make_view, parse_scrape, render
from tradeactors.trading.metrics import TradingMetrics
from tradeactors.trading.report import scope_rows

URL = "http://127.0.0.1:1/metrics"
INSTRUMENTS = {
    "BTCUSDT": Instrument(venue="sim", symbol="BTCUSDT", tick_size="0.01", lot_size="0.001"),
    "ETHUSDT": Instrument(venue="sim", symbol="ETHUSDT", tick_size="0.01", lot_size="0.01"),
}
MIDS_X2 = {"BTCUSDT": 20000, "ETHUSDT": None}  # BTC at 100.00; no ETH book to mark with


def scraped(*owners: OwnerPosition) -> str:
    """The exposition a system with these rows serves."""
    report = OrdersReport(
        orders=(), open_orders=0, positions={}, realized={}, venues={"sim": True}, fills=0,
        duplicate_fills=0, inconsistencies=0, reconciliations=1, owners=owners,
    )  # fmt: skip
    registry = CollectorRegistry()
    TradingMetrics(
        registry,
        TradingGate(FakeClock()),
        lambda: report,
        ["sim"],
        scopes=lambda r: scope_rows(r, INSTRUMENTS, MIDS_X2.get),
    )
    return generate_latest(registry).decode()


def text_of(exposition: str, width: int = 160) -> list[str]:
    snapshot = parse_scrape(exposition, at=1.0)
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(render(make_view(URL, None, snapshot), width))
    return console.export_text().splitlines()


def owned(name: str, instrument: str, position: int, **fields: object) -> OwnerPosition:
    owner = None if name == "?" else f"strategies/{name}/strategy"
    return OwnerPosition(owner=owner, instrument=instrument, position=position, **fields)  # type: ignore[arg-type]


def test_the_series_per_strategy_and_instrument_are_parsed() -> None:
    snapshot = parse_scrape(
        scraped(
            owned("mm", "BTCUSDT", 5, average_price=(9900, 1), realized=(1000, 1),
                  open_orders=2, fills=3),
        ),
        at=1.0,
    )  # fmt: skip
    sample = snapshot.scopes[("mm", "BTCUSDT")]
    assert (sample.position, sample.open_orders, sample.fills, sample.quote) == (5, 2, 3, "USDT")
    assert sample.base_position == pytest.approx(0.005)
    assert sample.realized == pytest.approx(0.01)
    assert sample.unrealized == pytest.approx(0.005)


def test_a_line_per_strategy_over_its_instruments_then_the_total() -> None:
    lines = text_of(
        scraped(
            owned("mm", "BTCUSDT", 5, average_price=(9900, 1), realized=(1000, 1),
                  open_orders=2, fills=3),
            owned("mm", "ETHUSDT", -3, average_price=(2100, 1), fills=1),
            owned("vwap", "BTCUSDT", 0, realized=(-400, 1), fills=4),
            owned("?", "BTCUSDT", -1, average_price=(10000, 1), fills=1),
        )
    )  # fmt: skip
    table = [
        line.split()
        for line in lines
        if line.split()[:1] in (["mm"], ["vwap"], ["(unknown)"], ["total"])
    ]
    # mm: BTC +0.01 realized, +0.005 marked; ETH unmarked (no book): "?" after unrealized
    assert table[0] == [
        "mm", "+0.005", "BTC", "-0.03", "ETH", "+0.01", "USDT", "+0.005", "USDT", "?",
        "+0.015", "USDT", "2", "4",
    ]  # fmt: skip
    assert table[1] == ["vwap", "flat", "-0.004", "USDT", "+0", "USDT", "-0.004", "USDT", "0", "4"]
    assert table[2][0] == "(unknown)"  # after the strategies
    assert table[3] == [
        "total", "+0.004", "BTC", "-0.03", "ETH", "+0.006", "USDT", "+0.005", "USDT", "?",
        "+0.011", "USDT", "2", "9",
    ]  # fmt: skip


def test_sixteen_strategies_on_two_instruments_take_a_line_each() -> None:
    owners = [
        owned(f"s{n:02}", symbol, 1 if symbol == "BTCUSDT" else -1, fills=2)
        for n in range(16)
        for symbol in ("BTCUSDT", "ETHUSDT")
    ]
    lines = text_of(scraped(*owners))
    strategy_lines = [line for line in lines if line.split()[:1] and line.split()[0][:1] == "s"]
    strategy_lines = [line for line in strategy_lines if line.split()[0][1:].isdigit()]
    assert len(strategy_lines) == 16
    assert all("+0.001 BTC -0.01 ETH" in line for line in strategy_lines)
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[-1] == "64"  # fills
    assert "+0.016 BTC -0.16 ETH" in total


def test_a_system_that_serves_no_strategy_series_shows_no_such_table() -> None:
    lines = text_of(scraped())
    assert not any(line.startswith(("strategy", "total")) for line in lines)


def test_a_tripped_strategy_or_venue_scope_shows_next_to_the_kill_switch() -> None:
    from tradeactors.core.killswitch import TripSource
    from tradeactors.core.risk import TradingState

    gate = TradingGate(FakeClock(), strategies=("mm", "quiet"), venues=("sim",))
    gate.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="x", scope="strategy:mm")
    registry = CollectorRegistry()
    TradingMetrics(registry, gate, lambda: None, ["sim"])
    snapshot = parse_scrape(generate_latest(registry).decode(), at=1.0)
    assert snapshot.kill_switch == 0
    assert snapshot.kill_scopes == {"strategy:mm": 2, "strategy:quiet": 0, "venue:sim": 0}
    (line,) = [
        line for line in text_of(generate_latest(registry).decode()) if "kill switch" in line
    ]
    assert "kill switch ACTIVE (strategy:mm HALTED)" in line  # only the tripped ones
