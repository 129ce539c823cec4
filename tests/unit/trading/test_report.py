"""Positions and PnL per strategy and instrument: money, marks, subtotals, the status and table."""

from __future__ import annotations

import textwrap

import pytest

from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import OrdersReport, OwnerPosition
from tradeactors.trading.paths import strategy_of
from tradeactors.trading.report import (
    HOST,
    UNKNOWN,
    owner_label,
    scope_rows,
    subtotals,
    table_lines,
)
from tradeactors.trading.system import Status

BTC = Instrument(venue="sim", symbol="BTCUSDT", tick_size="0.01", lot_size="0.001")
ETH = Instrument(venue="sim", symbol="ETHUSDT", tick_size="0.01", lot_size="0.01")
EUR = Instrument(venue="kr", symbol="ETH/EUR", tick_size="0.1", lot_size="0.1")
INSTRUMENTS = {i.symbol: i for i in (BTC, ETH, EUR)}


def owned(owner: str | None, instrument: str, position: int, **fields: object) -> OwnerPosition:
    return OwnerPosition(owner=owner, instrument=instrument, position=position, **fields)  # type: ignore[arg-type]


def report(*owners: OwnerPosition) -> OrdersReport:
    return OrdersReport(
        orders=(), open_orders=sum(o.open_orders for o in owners), positions={}, realized={},
        venues={"sim": True}, fills=sum(o.fills for o in owners), duplicate_fills=0,
        inconsistencies=0, reconciliations=1, owners=owners,
    )  # fmt: skip


class Marks:
    """Twice the mid per symbol, counting how often each is asked."""

    def __init__(self, **mids_x2: int | None) -> None:
        self.mids = mids_x2
        self.asked: list[str] = []

    def __call__(self, symbol: str) -> int | None:
        self.asked.append(symbol)
        return self.mids.get(symbol.replace("/", ""))


class TestOwners:
    """An owner path is shown as its strategy's name, the host's or unknown."""

    @pytest.mark.parametrize(
        ("owner", "name"),
        [
            ("strategies/mm_eth/strategy", "mm_eth"),
            ("strategies/mm_eth", None),
            ("strategies/mm_eth/other", None),
            ("strategies", None),
            ("host/desk", None),
            ("", None),
        ],
    )
    def test_the_strategy_name_comes_from_the_path(self, owner: str, name: str | None) -> None:
        assert strategy_of(owner) == name

    def test_host_orders_and_unknown_fills_have_their_own_labels(self) -> None:
        assert (owner_label(""), owner_label(None)) == (HOST, UNKNOWN)
        assert owner_label("host/desk") == "host/desk"


class TestRows:
    """Ticks times lots become money with the instrument's steps; positions marked at the mid."""

    def test_realized_and_unrealized_in_the_quote_currency(self) -> None:
        # long 5 lots (0.005 BTC) at 100.00 (10000 ticks), mid 101.00: +0.005 * 1.00
        marks = Marks(BTCUSDT=2 * 10100)
        (row,) = scope_rows(
            report(
                owned("strategies/a/strategy", "BTCUSDT", 5, average_price=(10000, 1),
                      realized=(300, 1), open_orders=2, fills=4)
            ),
            INSTRUMENTS,
            marks,
        )  # fmt: skip
        assert (row.strategy, row.instrument, row.position, row.open_orders, row.fills) == (
            "a", "BTCUSDT", 5, 2, 4,
        )  # fmt: skip
        assert row.realized == pytest.approx(300 * 0.01 * 0.001)
        assert row.unrealized == pytest.approx(0.005)
        assert row.total == pytest.approx(0.008)
        assert (row.places, row.quote, row.marked) == (5, "USDT", True)

    def test_a_flat_row_needs_no_mark_and_each_symbol_is_marked_once(self) -> None:
        marks = Marks(BTCUSDT=2 * 10100)
        rows = scope_rows(
            report(
                owned("strategies/a/strategy", "BTCUSDT", 5, average_price=(10000, 1)),
                owned("strategies/b/strategy", "BTCUSDT", -2, average_price=(10200, 1)),
                owned("strategies/b/strategy", "ETHUSDT", 0, realized=(-7, 1)),
            ),
            INSTRUMENTS,
            marks,
        )
        assert marks.asked == ["BTCUSDT"]
        eth = next(r for r in rows if r.instrument == "ETHUSDT")
        assert (eth.unrealized, eth.realized) == (0.0, pytest.approx(-7 * 0.01 * 0.01))

    def test_no_book_leaves_the_position_unmarked_and_says_so(self) -> None:
        (row,) = scope_rows(
            report(owned("strategies/a/strategy", "BTCUSDT", 5, average_price=(10000, 1))),
            INSTRUMENTS,
            Marks(BTCUSDT=None),
        )
        assert (row.unrealized, row.marked, row.total) == (None, False, 0.0)
        assert table_lines((row,))[-1].startswith("unrealized - (* in a subtotal): no two-sided")

    def test_an_instrument_not_known_here_shows_lots_and_no_money(self) -> None:
        (row,) = scope_rows(report(owned(None, "XRPUSDT", 3, fills=1)), INSTRUMENTS, Marks())
        assert (row.strategy, row.realized, row.unrealized, row.lot_size) == (
            UNKNOWN, None, None, None,
        )  # fmt: skip
        assert "+3 lots" in table_lines((row,))[1]
        assert subtotals((row,), by="all") == ()  # nothing to add up in money

    def test_strategies_first_by_name_then_the_host_and_unknown(self) -> None:
        rows = scope_rows(
            report(
                owned(None, "BTCUSDT", 1),
                owned("strategies/b/strategy", "BTCUSDT", 1),
                owned("", "BTCUSDT", 1),
                owned("strategies/a/strategy", "ETHUSDT", 1),
                owned("strategies/a/strategy", "BTCUSDT", 1),
            ),
            INSTRUMENTS,
            Marks(BTCUSDT=2, ETHUSDT=2),
        )
        assert [(r.strategy, r.instrument) for r in rows] == [
            ("a", "BTCUSDT"), ("a", "ETHUSDT"), ("b", "BTCUSDT"), (HOST, "BTCUSDT"),
            (UNKNOWN, "BTCUSDT"),
        ]  # fmt: skip


def three_by_two_owners() -> tuple[OwnerPosition, ...]:
    """Three strategies on two instruments (a on both)."""
    return (
        owned("strategies/a/strategy", "BTCUSDT", 5, average_price=(9900, 1), realized=(1000, 1),
              open_orders=2, fills=3),
        owned("strategies/a/strategy", "ETHUSDT", -3, average_price=(2100, 1), open_orders=1,
              fills=2),
        owned("strategies/b/strategy", "BTCUSDT", -5, average_price=(10000, 1),
              realized=(-500, 1), open_orders=2, fills=6),
        owned("strategies/c/strategy", "ETHUSDT", 0, realized=(40, 1), fills=4),
    )  # fmt: skip


def three_by_two() -> Status:
    """`three_by_two_owners`, ETH marked at 20.00, BTC at 100.00."""
    rows = scope_rows(
        report(*three_by_two_owners()), INSTRUMENTS, Marks(BTCUSDT=20000, ETHUSDT=4000)
    )
    return Status(
        state="active", venues={"sim": True}, orders=20, open_orders=5, fills=15, position=0,
        pnl=0.0, restarts=1, symbol="BTCUSDT", lot_size="0.001", pnl_places=5, scopes=rows,
    )  # fmt: skip


class TestStatus:
    """One strategy on one instrument keeps the line; many are summarised, then tabled."""

    def test_one_strategy_on_one_instrument_keeps_the_line_as_it_was(self) -> None:
        rows = scope_rows(
            report(owned("strategies/mm/strategy", "BTCUSDT", -7, average_price=(10000, 1),
                         fills=2, open_orders=1)),
            INSTRUMENTS,
            Marks(BTCUSDT=20000),
        )  # fmt: skip
        status = Status(
            state="active", venues={"sim": True}, orders=3, open_orders=1, fills=2, position=-7,
            pnl=-0.0001, restarts=0, symbol="BTCUSDT", lot_size="0.001", pnl_places=5,
            scopes=rows,
        )  # fmt: skip
        assert status.line() == (
            "ACTIVE   sim:up | orders 3 (open 1) | fills 2 | position -0.007 BTC"
            " | PnL -0.00010 USDT | restarts 0"
        )

    def test_three_strategies_on_two_instruments_give_counts_and_the_total(self) -> None:
        # a: BTC +0.01 realized, (100.00 - 99.00) * 0.005 = +0.005 at the mark;
        #    ETH (21.00 - 20.00) * 0.03 = +0.03 at the mark
        # b: BTC -0.005 realized, 0 at the mark; c: ETH +0.004 realized
        assert three_by_two().line() == (
            "ACTIVE   sim:up | orders 20 (open 5) | fills 15 | 3 strategies, 2 instruments"
            " | PnL +0.04400 USDT | restarts 1"
        )

    def test_the_table_has_a_row_per_scope_and_the_subtotals(self) -> None:
        expected = """\
        strategy  instrument    position       realized     unrealized            PnL  open  fills
        a         BTCUSDT     +0.005 BTC  +0.01000 USDT  +0.00500 USDT  +0.01500 USDT     2      3
        a         ETHUSDT      -0.03 ETH   +0.0000 USDT   +0.0300 USDT   +0.0300 USDT     1      2
        b         BTCUSDT     -0.005 BTC  -0.00500 USDT  +0.00000 USDT  -0.00500 USDT     2      6
        c         ETHUSDT      +0.00 ETH   +0.0040 USDT   +0.0000 USDT   +0.0040 USDT     0      4
        ------------------------------------------------------------------------------------------
        a         (all)                   +0.01000 USDT  +0.03500 USDT  +0.04500 USDT     3      5
        (all)     BTCUSDT     +0.000 BTC  +0.00500 USDT  +0.00500 USDT  +0.01000 USDT     4      9
        (all)     ETHUSDT      -0.03 ETH   +0.0040 USDT   +0.0300 USDT   +0.0340 USDT     1      6
        (all)     (all)                   +0.00900 USDT  +0.03500 USDT  +0.04400 USDT     5     15
        """
        assert table_lines(three_by_two().scopes) == textwrap.dedent(expected).splitlines()

    def test_quote_currencies_are_totalled_apart(self) -> None:
        rows = scope_rows(
            report(
                owned("strategies/a/strategy", "BTCUSDT", 0, realized=(100, 1)),
                owned("strategies/a/strategy", "ETH/EUR", 0, realized=(-20, 1)),
            ),
            INSTRUMENTS,
            Marks(),
        )
        totals = {t.quote: t.total for t in subtotals(rows, by="all")}
        assert totals == {"USDT": pytest.approx(0.001), "EUR": pytest.approx(-0.2)}
        status = Status(
            state="halted", venues={"sim": True, "kr": False}, orders=2, open_orders=0, fills=2,
            position=0, pnl=0.0, restarts=0, scopes=rows,
        )  # fmt: skip
        assert status.line() == (
            "HALTED   sim:up kr:DOWN | orders 2 (open 0) | fills 2 | 1 strategy, 2 instruments"
            " | PnL +0.00100 USDT, -0.20 EUR | restarts 0"
        )

    def test_sixteen_strategies_stay_one_line(self) -> None:
        owners = tuple(
            owned(f"strategies/s{n:02}/strategy", "BTCUSDT", 1, average_price=(10000, 1), fills=1)
            for n in range(16)
        )
        rows = scope_rows(report(*owners), INSTRUMENTS, Marks(BTCUSDT=20000))
        text = Status(
            state="active", venues={"sim": True}, orders=16, open_orders=0, fills=16,
            position=16, pnl=0.0, restarts=0, scopes=rows,
        ).line()  # fmt: skip
        assert "\n" not in text
        assert "16 strategies, 1 instrument" in text
        assert len(table_lines(rows)) == 1 + 16 + 1 + 2  # header, rows, rule, BTC and total


class TestMetrics:
    """The per-strategy series and the limits, scraped from the registry."""

    def scrape(self, owners: tuple[OwnerPosition, ...], marks: Marks) -> dict[tuple, float]:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.parser import text_string_to_metric_families

        from tradeactors.actors.gate import TradingGate
        from tradeactors.clock import FakeClock
        from tradeactors.config import RiskConfig
        from tradeactors.trading.metrics import TradingMetrics, limit_values

        registry = CollectorRegistry()
        the_report = report(*owners)
        TradingMetrics(
            registry,
            TradingGate(FakeClock()),
            lambda: the_report,
            ["sim"],
            scopes=lambda r: scope_rows(r, INSTRUMENTS, marks),
            limits={"account": limit_values(RiskConfig(max_position=40, max_loss=None))},
        )
        samples = {}
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            for sample in family.samples:
                samples[(sample.name, *sorted(sample.labels.items()))] = sample.value
        return samples

    def test_positions_pnl_open_orders_and_fills_by_strategy_and_instrument(self) -> None:
        samples = self.scrape(three_by_two_owners(), Marks(BTCUSDT=20000, ETHUSDT=4000))
        a_btc = (("instrument", "BTCUSDT"), ("strategy", "a"))
        a_btc_usdt = (("instrument", "BTCUSDT"), ("quote", "USDT"), ("strategy", "a"))
        assert samples[("tradeactors_strategy_position_lots", *a_btc)] == 5
        assert samples[("tradeactors_strategy_open_orders", *a_btc)] == 2
        assert samples[("tradeactors_strategy_fills_total", *a_btc)] == 3
        assert samples[("tradeactors_pnl_realized", *a_btc_usdt)] == pytest.approx(0.01)
        assert samples[("tradeactors_pnl_unrealized", *a_btc_usdt)] == pytest.approx(0.005)
        pnl = sum(v for k, v in samples.items() if k[0].startswith("tradeactors_pnl_"))
        assert pnl == pytest.approx(0.044)

    def test_an_unmarked_position_has_no_unrealized_series(self) -> None:
        samples = self.scrape(three_by_two_owners(), Marks(BTCUSDT=None, ETHUSDT=4000))
        unrealized = {k for k in samples if k[0] == "tradeactors_pnl_unrealized"}
        assert {dict(k[1:])["instrument"] for k in unrealized} == {"ETHUSDT"}  # c is flat
        assert ("tradeactors_pnl_realized", *(("instrument", "BTCUSDT"), ("quote", "USDT"),
                ("strategy", "b"))) in samples  # fmt: skip

    def test_the_configured_limits_are_served_and_unset_ones_are_not(self) -> None:
        samples = self.scrape((), Marks())
        limits = {
            dict(k[1:])["limit"]: v for k, v in samples.items() if k[0] == "tradeactors_risk_limit"
        }
        assert limits["max_position"] == 40
        assert limits["max_open_orders"] == 20  # RiskConfig's default
        assert "max_loss" not in limits  # no limit: no series
        assert "message_window" not in limits  # a window, not a limit
        assert {dict(k[1:])["scope"] for k in samples if k[0] == "tradeactors_risk_limit"} == {
            "account"
        }


class TestStatusCommand:
    """``tradeactors status`` prints what the control endpoint's JSON carries."""

    def lines(self, status: Status) -> list[str]:
        import msgspec

        from tradeactors.cli import _status_lines

        answer = msgspec.json.decode(msgspec.json.encode(status))  # as GET /status sends it
        lines = _status_lines(answer, "http://127.0.0.1:1", None)
        assert lines is not None
        return lines

    def test_many_strategies_give_counts_the_total_and_the_table(self) -> None:
        status = three_by_two()
        lines = self.lines(status)
        assert lines[5:7] == [
            "  scopes       3 strategies, 2 instruments",
            "  PnL          +0.04400 USDT",
        ]
        assert lines[8:] == [f"  {line}" for line in table_lines(status.scopes)]

    def test_one_strategy_keeps_its_lines_and_adds_its_row(self) -> None:
        rows = scope_rows(
            report(owned("strategies/mm/strategy", "BTCUSDT", -7, average_price=(10000, 1))),
            INSTRUMENTS,
            Marks(BTCUSDT=20000),
        )
        status = Status(
            state="active", venues={"sim": True}, orders=3, open_orders=1, fills=2, position=-7,
            pnl=0.0, restarts=0, symbol="BTCUSDT", lot_size="0.001", pnl_places=5, scopes=rows,
        )  # fmt: skip
        lines = self.lines(status)
        assert lines[5] == "  position     -0.007 BTC (BTCUSDT)"
        assert lines[8].startswith("  strategy  instrument")
        assert lines[9].startswith("  mm        BTCUSDT     -0.007 BTC")
