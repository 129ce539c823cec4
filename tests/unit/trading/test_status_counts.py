"""The status counts the strategies the system runs, not the rows that have positions."""

from __future__ import annotations

import msgspec

from tradeactors.cli import _status_lines
from tradeactors.trading.report import ScopeRow, counts_text
from tradeactors.trading.system import Status


def row(strategy: str, instrument: str = "BTCUSDT", *, fills: int = 0) -> ScopeRow:
    return ScopeRow(
        strategy=strategy, instrument=instrument, position=0, lot_size="0.001",
        realized=0.0, unrealized=0.0, open_orders=1, fills=fills,
    )  # fmt: skip


def status(**fields: object) -> Status:
    base = {
        "state": "active", "venues": {"sim": True}, "orders": 3, "open_orders": 1,
        "fills": 2, "position": -7, "pnl": -0.0001, "restarts": 0,
        "symbol": "BTCUSDT", "lot_size": "0.001", "pnl_places": 5,
    }  # fmt: skip
    base.update(fields)
    return Status(**base)  # type: ignore[arg-type]


class TestCountsText:
    """`counts_text` with the system's strategies and instruments."""

    def test_strategies_without_a_row_are_counted_and_those_with_fills_said(self):
        rows = (row("a", fills=2), row("b"))  # c has sent nothing yet: no row
        text = counts_text(rows, running=("a", "b", "c"), instruments=2)
        assert text == "3 strategies (1 with fills), 2 instruments"

    def test_stopped_strategies_count_and_are_said(self):
        rows = (row("a"), row("dead", fills=1))
        text = counts_text(rows, running=("a",), stopped=("dead",), instruments=1)
        assert text == "2 strategies (1 with fills, 1 stopped), 1 instrument"

    def test_rows_of_no_strategy_of_the_system_are_not_strategies(self):
        # the host's orders, fills of unknown orders, a removed strategy's fills
        rows = (row("(host)", fills=1), row("(unknown)", fills=1), row("gone", fills=1))
        assert counts_text(rows, running=("a", "b"), instruments=1) == (
            "2 strategies (0 with fills), 1 instrument"
        )

    def test_without_the_systems_counts_the_rows_are_counted(self):
        rows = (row("a"), row("b", "ETHUSDT"), row("b"))
        assert counts_text(rows) == "2 strategies, 2 instruments"


class TestStatusLine:
    """`Status.line` and ``tradeactors status`` count from the status's own strategies."""

    def test_three_strategies_with_one_row_give_the_counts_line(self):
        line = status(scopes=(row("a", fills=2),), strategies=("a", "b", "c"), instruments=1).line()
        assert line == (
            "ACTIVE   sim:up | orders 3 (open 1) | fills 2 | 3 strategies (1 with fills), "
            "1 instrument | PnL +0.00 USDT | restarts 0"
        )

    def test_one_strategy_on_one_instrument_keeps_the_position_line(self):
        line = status(scopes=(row("a", fills=2),), strategies=("a",), instruments=1).line()
        assert line == (
            "ACTIVE   sim:up | orders 3 (open 1) | fills 2 | position -0.007 BTC"
            " | PnL -0.00010 USDT | restarts 0"
        )

    def test_one_strategy_on_two_instruments_gives_the_counts_line(self):
        line = status(strategies=("a",), instruments=2).line()
        assert " | 1 strategy (0 with fills), 2 instruments | " in line

    def test_the_status_command_says_the_counts_of_the_running_system(self):
        sent = status(
            scopes=(row("a", fills=2),),
            strategies=("a", "b"),
            stopped_strategies=("c",),
            instruments=1,
        )
        answer = msgspec.json.decode(msgspec.json.encode(sent))  # as GET /status sends it
        lines = _status_lines(answer, "http://127.0.0.1:1", None)
        assert lines is not None
        assert "  scopes       3 strategies (1 with fills, 1 stopped), 1 instrument" in lines
        assert not any(line.startswith("  position") for line in lines)

    def test_a_status_of_an_older_system_counts_its_rows(self):
        answer = msgspec.json.decode(msgspec.json.encode(status(scopes=(row("a"), row("b")))))
        for key in ("strategies", "stopped_strategies", "instruments"):
            del answer[key]
        lines = _status_lines(answer, "http://127.0.0.1:1", None)
        assert lines is not None
        assert "  scopes       2 strategies, 1 instrument" in lines
