"""A running system shows its strategy's position and PnL in status, summary and metrics."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tradeactors.core.messages import OrderUpdate
from tradeactors.trading.paths import strategy_of
from tradeactors.trading.report import table_lines
from tradeactors.trading.system import TradingSystem

pytestmark = pytest.mark.supervision


class _Fills:
    """Counts fills heard; waited for on a condition (never a sleep)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.count = 0

    def __call__(self, event: Any) -> None:
        if isinstance(event, OrderUpdate) and event.fill_quantity > 0:
            with self._cond:
                self.count += 1
                self._cond.notify_all()

    def wait(self, timeout: float = 30.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.count > 0, timeout), "no fill"


def test_the_strategy_row_agrees_with_the_status_the_summary_and_the_metrics() -> None:
    registry = CollectorRegistry()
    system = TradingSystem(registry=registry)  # embedded exchange, the market maker
    fills = _Fills()
    system.subscribe(fills)
    system.start()
    try:
        fills.wait()
        status = system.status()
        exposition = generate_latest(registry).decode()
    finally:
        summary = system.stop()
    assert summary.open_at_venue == 0
    assert system.strategy_path is not None
    name = strategy_of(system.strategy_path)
    assert name is not None

    (row,) = status.scopes  # one strategy, one instrument
    assert (row.strategy, row.instrument) == (name, "BTCUSDT")
    assert (row.position, row.fills) == (status.position, status.fills)
    assert row.total == pytest.approx(status.pnl, abs=1e-9)  # the same mark, the same money
    assert status.line().startswith("ACTIVE ")  # one strategy: the line as it was
    assert " | position " in status.line()

    (last,) = summary.status.scopes  # the summary's table is of the end of the run
    assert last.fills == summary.status.fills >= status.fills
    assert last.open_orders == 0  # everything cancelled
    assert table_lines(summary.status.scopes)[1].startswith(name)

    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    ours = (("instrument", "BTCUSDT"), ("strategy", name))
    scrape = {n: v for (n, labels), v in values.items() if labels in ((), ours)}
    assert scrape["tradeactors_strategy_fills_total"] == scrape["tradeactors_fills_total"] >= 1
    account = values[("tradeactors_position_lots", (("instrument", "BTCUSDT"),))]
    assert scrape["tradeactors_strategy_position_lots"] == account
    realized = values[("tradeactors_pnl_realized", (*ours[:1], ("quote", "USDT"), ours[1]))]
    assert isinstance(realized, float)
    limits = {
        dict(labels)["limit"]: v
        for (n, labels), v in values.items()
        if n == "tradeactors_risk_limit"
    }
    assert limits["max_position"] == system.config.risk.max_position
