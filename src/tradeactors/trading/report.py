"""Positions and PnL per strategy and instrument, for people: rows, subtotals, tables.

The order manager keeps positions, average prices, realized PnL, open orders and fills
per (owner, instrument) (`OrdersReport.owners`, in lots and ticks). Here they become
`ScopeRow`s in money: each instrument's ``tick_size * lot_size`` turns ticks times
lots into its quote currency, and the unrealized PnL is marked at the instrument's mid
(asked only for instruments some owner holds). The owner path becomes the strategy's
name (`owner_label`); orders a host sent with no owner show as ``(host)``, fills of
orders not known to the order manager as ``(unknown)``.

Subtotals (`subtotals`) add rows up per strategy, per instrument and in total, each per
quote currency (USDT and EUR are never added together). A strategy's realized PnL
counts its own round trips only: one strategy's buy against another's sell nets the
account's position (realized for the instrument in the account's ledger) but leaves
each strategy holding its side (unrealized for each); the total PnL (realized plus
unrealized) is the same either way.

`status_line` is the one-line status when there are several strategies or
instruments (one of each keeps `Status.line`'s form), and `table_lines` the
per-scope table of the shutdown summary and ``tradeactors status``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import msgspec

from tradeactors.core.units import base_quote, money_places, money_text, quantity_text
from tradeactors.trading.paths import strategy_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from tradeactors.core.instrument import Instrument
    from tradeactors.core.messages import OrdersReport

__all__ = [
    "HOST",
    "UNKNOWN",
    "ScopeRow",
    "Subtotal",
    "counts_text",
    "many",
    "owner_label",
    "pnl_totals_text",
    "scope_rows",
    "status_line",
    "subtotals",
    "table_lines",
]

HOST = "(host)"
"""The label of orders a host submitted with no owner."""

UNKNOWN = "(unknown)"
"""The label of fills of orders the order manager does not know."""

_ALL = "(all)"


def owner_label(owner: str | None) -> str:
    """What an owner is shown as: a strategy's name, `HOST`, `UNKNOWN`, or its path."""
    if owner is None:
        return UNKNOWN
    if not owner:
        return HOST
    name = strategy_of(owner)
    return owner if name is None else name


class ScopeRow(msgspec.Struct, frozen=True, kw_only=True):
    """One strategy's part of one instrument, in base units and the quote currency.

    ``realized`` is None when the instrument's tick and lot sizes are not known here
    (no money to turn ticks into); ``unrealized`` is None too when the position could
    not be marked (no two-sided book): its PnL is then realized only, and says so.
    """

    strategy: str  # `owner_label`
    instrument: str
    position: int  # lots
    lot_size: str | None  # base units per lot (None: not known, shown in lots)
    realized: float | None  # quote currency
    unrealized: float | None  # quote currency, at the mid
    open_orders: int
    fills: int
    places: int = 2  # digits that make one tick times one lot exact

    @property
    def quote(self) -> str:
        """The quote currency's name (`tradeactors.core.units.base_quote`)."""
        return base_quote(self.instrument)[1]

    @property
    def total(self) -> float | None:
        """Realized plus unrealized (realized only when unmarked); None: no money."""
        if self.realized is None:
            return None
        return self.realized + (self.unrealized or 0.0)

    @property
    def marked(self) -> bool:
        """False when a position could not be marked (its PnL is realized only)."""
        return self.unrealized is not None or self.realized is None


def scope_rows(
    report: OrdersReport,
    instruments: Mapping[str, Instrument],
    mark_x2: Callable[[str], int | None],
) -> tuple[ScopeRow, ...]:
    """The report's `OrdersReport.owners` in money, by strategy then instrument.

    ``instruments``: symbol -> `Instrument` (tick and lot sizes); ``mark_x2(symbol)``:
    twice the mid of the symbol's book in ticks, or None (no two-sided book). It is
    called at most once per symbol, and only for symbols some row holds.
    """
    marks: dict[str, int | None] = {}
    rows = []
    for owner in report.owners:
        symbol = owner.instrument
        instrument = instruments.get(symbol)
        realized: float | None = None
        unrealized: float | None = None
        places = 2
        if instrument is not None:
            value = Fraction(instrument.tick_size) * Fraction(instrument.lot_size)
            places = money_places(instrument.tick_size, instrument.lot_size)
            realized = float(Fraction(*owner.realized) * value)
            if owner.position == 0:
                unrealized = 0.0
            else:
                if symbol not in marks:
                    marks[symbol] = mark_x2(symbol)
                mid2 = marks[symbol]
                if mid2 is not None:
                    gain = (Fraction(mid2, 2) - Fraction(*owner.average_price)) * owner.position
                    unrealized = float(gain * value)
        rows.append(
            ScopeRow(
                strategy=owner_label(owner.owner),
                instrument=symbol,
                position=owner.position,
                lot_size=None if instrument is None else instrument.lot_size,
                realized=realized,
                unrealized=unrealized,
                open_orders=owner.open_orders,
                fills=owner.fills,
                places=places,
            )
        )
    rows.sort(key=lambda r: (r.strategy.startswith("("), r.strategy, r.instrument))
    return tuple(rows)


class Subtotal(msgspec.Struct, frozen=True, kw_only=True):
    """Rows added up: of one strategy, one instrument, or all, in one quote currency."""

    strategy: str  # a strategy's label, or "(all)"
    instrument: str  # an instrument, or "(all)"
    quote: str
    realized: float
    unrealized: float
    open_orders: int
    fills: int
    places: int
    marked: bool  # every position in it was marked
    position: int | None = None  # lots: an instrument's subtotal only
    lot_size: str | None = None

    @property
    def total(self) -> float:
        """Realized plus unrealized."""
        return self.realized + self.unrealized


def subtotals(rows: Iterable[ScopeRow], *, by: str) -> tuple[Subtotal, ...]:
    """Rows added up ``by`` ``"strategy"``, ``"instrument"`` or ``"all"``, per quote.

    Rows with no money (`ScopeRow.realized` None) are left out: they cannot be added.
    """
    groups: dict[tuple[str, str, str], list[ScopeRow]] = {}
    for row in rows:
        if row.realized is None:
            continue
        key = (
            row.strategy if by == "strategy" else _ALL,
            row.instrument if by == "instrument" else _ALL,
            row.quote,
        )
        groups.setdefault(key, []).append(row)
    out = []
    for (strategy, instrument, quote), members in groups.items():
        first = members[0]
        out.append(
            Subtotal(
                strategy=strategy,
                instrument=instrument,
                quote=quote,
                realized=sum(r.realized or 0.0 for r in members),
                unrealized=sum(r.unrealized or 0.0 for r in members),
                open_orders=sum(r.open_orders for r in members),
                fills=sum(r.fills for r in members),
                places=max(r.places for r in members),
                marked=all(r.marked for r in members),
                position=sum(r.position for r in members) if by == "instrument" else None,
                lot_size=first.lot_size if by == "instrument" else None,
            )
        )
    return tuple(out)


# -- text ----------------------------------------------------------------------------------


def _money(value: float | None, quote: str, places: int) -> str:
    if value is None:
        return "-"
    return money_text(value, f"_/{quote}", places)  # BASE/QUOTE names the quote as is


def _quantity(lots: int, lot_size: str | None, instrument: str) -> str:
    if lot_size is None:
        return f"{lots:+d} lots"
    return quantity_text(lots, lot_size, instrument)


def pnl_totals_text(rows: Sequence[ScopeRow]) -> str:
    """Total PnL per quote currency: ``+1.20 USDT`` (``, -0.30 EUR``...)."""
    parts = []
    for total in subtotals(rows, by="all"):
        text = _money(total.total, total.quote, total.places)
        parts.append(text if total.marked else f"{text} (some realized only)")
    return ", ".join(parts) or "-"


def counts_text(
    rows: Sequence[ScopeRow],
    *,
    running: Sequence[str] | None = None,
    stopped: Sequence[str] = (),
    instruments: int | None = None,
) -> str:
    """``3 strategies (1 with fills, 1 stopped), 2 instruments``.

    ``running`` and ``stopped`` name the strategies the system runs and those stopped
    past their intensity (not removed); ``instruments`` counts those configured. Those
    with fills are the ones among them with a fill in ``rows``. Without ``running``
    (a caller that does not know), the rows' strategies and instruments are counted:
    ``3 strategies, 2 instruments``.
    """
    if running is None:
        strategies = len({r.strategy for r in rows})
        counted = len({r.instrument for r in rows}) if instruments is None else instruments
        return f"{_plural(strategies, 'strateg', 'y', 'ies')}, {_instruments(counted)}"
    names = {*running, *stopped}
    filled = len({r.strategy for r in rows if r.fills and r.strategy in names})
    detail = f"{filled} with fills" + (f", {len(stopped)} stopped" if stopped else "")
    counted = len({r.instrument for r in rows}) if instruments is None else instruments
    return f"{_plural(len(names), 'strateg', 'y', 'ies')} ({detail}), {_instruments(counted)}"


def _plural(count: int, stem: str, one: str, more: str) -> str:
    return f"{count} {stem}{one if count == 1 else more}"


def _instruments(count: int) -> str:
    return _plural(count, "instrument", "", "s")


def many(rows: Sequence[ScopeRow]) -> bool:
    """True when the rows span several strategies or several instruments."""
    return len({r.strategy for r in rows}) > 1 or len({r.instrument for r in rows}) > 1


def status_line(
    *,
    state: str,
    venues: Mapping[str, bool],
    orders: int,
    open_orders: int,
    fills: int,
    restarts: int,
    rows: Sequence[ScopeRow],
    counts: str | None = None,
) -> str:
    """The one-line status over many strategies and instruments: counts and total PnL.

    ``ACTIVE   sim:up | orders 30 (open 6) | fills 12 | 3 strategies (2 with fills),
    2 instruments | PnL +1.20 USDT | restarts 0``; ``counts`` is `counts_text` of the
    system's strategies and instruments (None: counted from the rows).
    """
    names = " ".join(f"{v}:{'up' if up else 'DOWN'}" for v, up in venues.items())
    return (
        f"{state.upper():8} {names} | orders {orders} (open {open_orders})"
        f" | fills {fills} | {counts or counts_text(rows)} | PnL {pnl_totals_text(rows)}"
        f" | restarts {restarts}"
    )


_HEADER = ("strategy", "instrument", "position", "realized", "unrealized", "PnL", "open", "fills")


def table_lines(rows: Sequence[ScopeRow]) -> list[str]:
    """The per-scope table: a line per (strategy, instrument), then subtotals.

    Subtotals per strategy appear for strategies on several instruments, per instrument
    for instruments several strategies trade, and the total always (one per quote
    currency). An unmarked position's unrealized PnL shows ``-`` (PnL realized only).
    """
    if not rows:
        return []
    table: list[tuple[str, ...]] = [_HEADER]
    table.extend(
        (
            row.strategy,
            row.instrument,
            _quantity(row.position, row.lot_size, row.instrument),
            _money(row.realized, row.quote, row.places),
            _money(row.unrealized, row.quote, row.places),
            _money(row.total, row.quote, row.places),
            str(row.open_orders),
            str(row.fills),
        )
        for row in rows
    )
    per_strategy = {r.strategy for r in rows}
    per_instrument = {r.instrument for r in rows}
    extra: list[Subtotal] = []
    if len(per_instrument) > 1:
        several = {s for s in per_strategy if sum(r.strategy == s for r in rows) > 1}
        extra.extend(t for t in subtotals(rows, by="strategy") if t.strategy in several)
    if len(per_strategy) > 1:
        several = {i for i in per_instrument if sum(r.instrument == i for r in rows) > 1}
        extra.extend(t for t in subtotals(rows, by="instrument") if t.instrument in several)
    if len(rows) > 1:
        extra.extend(subtotals(rows, by="all"))
    table.extend(
        (
            t.strategy,
            t.instrument,
            "" if t.position is None else _quantity(t.position, t.lot_size, t.instrument),
            _money(t.realized, t.quote, t.places),
            _money(t.unrealized, t.quote, t.places) + ("" if t.marked else "*"),
            _money(t.total, t.quote, t.places),
            str(t.open_orders),
            str(t.fills),
        )
        for t in extra
    )
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEADER))]
    right = {2, 3, 4, 5, 6, 7}
    out = [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in table
    ]
    if extra:
        out.insert(len(rows) + 1, "-" * len(out[0]))
    if any(not r.marked for r in rows):
        out.append(
            "unrealized - (* in a subtotal): no two-sided book to mark a position with,"
            " its PnL is realized only"
        )
    return out
