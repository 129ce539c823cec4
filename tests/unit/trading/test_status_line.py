"""The status line and summary read in one convention: base units, quote currency."""

from __future__ import annotations

from tradeactors.trading.system import Status


def status(**fields: object) -> Status:
    base = {
        "state": "active", "venues": {"sim": True}, "orders": 3, "open_orders": 1,
        "fills": 2, "position": -7, "pnl": -0.0001, "restarts": 0,
        "symbol": "BTCUSDT", "lot_size": "0.001", "pnl_places": 5,
    }  # fmt: skip
    base.update(fields)
    return Status(**base)  # type: ignore[arg-type]


def test_the_line_shows_the_position_in_base_units_and_pnl_in_the_quote_with_its_digits():
    assert status().line() == (
        "ACTIVE   sim:up | orders 3 (open 1) | fills 2 | position -0.007 BTC"
        " | PnL -0.00010 USDT | restarts 0"
    )


def test_a_pnl_that_rounds_to_zero_is_never_negative_zero():
    assert status(pnl=-1e-9).pnl_text() == "+0.00000 USDT"


def test_an_unmarked_position_says_its_pnl_is_realized_only():
    assert status(marked=False).pnl_text() == "-0.00010 USDT (realized; no book to mark)"


def test_the_metrics_serve_the_position_in_lots_and_in_base_units():
    from prometheus_client import CollectorRegistry, generate_latest

    from tradeactors.actors.gate import TradingGate
    from tradeactors.clock import FakeClock
    from tradeactors.core.messages import OrdersReport
    from tradeactors.trading.metrics import TradingMetrics

    report = OrdersReport(
        orders=(), open_orders=0, positions={"BTCUSDT": -7, "ETHUSDT": 2}, realized={},
        venues={"sim": True}, fills=3, duplicate_fills=0, inconsistencies=0, reconciliations=1,
    )  # fmt: skip
    registry = CollectorRegistry()
    TradingMetrics(
        registry, TradingGate(FakeClock()), lambda: report, ["sim"], {"BTCUSDT": "0.001"}
    )
    text = generate_latest(registry).decode()
    assert 'tradeactors_position_lots{instrument="BTCUSDT"} -7.0' in text
    assert 'tradeactors_position{instrument="BTCUSDT"} -0.007' in text
    assert 'tradeactors_position{instrument="ETHUSDT"}' not in text  # no lot size: lots only
