"""Prometheus metrics of the trading tree (on the registry the system is given).

Read at scrape time, so the hot path pays nothing: the kill switch's state from the
gate, the rest from the order manager's `OrdersReport` (asked, without the list of
orders; when it cannot answer, those metrics are left out of the scrape rather than
made up):

- ``tradeactors_kill_switch_state``: 0 active, 1 reducing, 2 halted (the ``all`` scope,
  unlabelled as before, so dashboards keep working);
- ``tradeactors_kill_switch_scope_state{scope}``: the same for every scope the gate
  knows (``all``, ``strategy:<name>``, ``venue:<name>``);
- ``tradeactors_venue_up{venue}``: 1 while the venue is reconciled and up;
- ``tradeactors_open_orders{venue}``: orders that may still trade;
- ``tradeactors_fills_total``, ``tradeactors_duplicate_fills_total``,
  ``tradeactors_order_inconsistencies_total``, ``tradeactors_reconciliations_total``;
- ``tradeactors_position_lots{instrument}`` and ``tradeactors_position{instrument}``
  (the same in the instrument's base units, for the instruments whose lot size is known);

per strategy and instrument (`tradeactors.trading.report.ScopeRow`: ``strategy`` is the
strategy's name, ``(host)`` for a host's orders, ``(unknown)`` for fills of orders the
order manager does not know; the rows of an instrument add up to its position):

- ``tradeactors_strategy_position_lots{strategy,instrument}`` and
  ``tradeactors_strategy_position{strategy,instrument}`` (base units, lot size known);
- ``tradeactors_strategy_open_orders{strategy,instrument}``;
- ``tradeactors_strategy_fills_total{strategy,instrument}``;
- ``tradeactors_pnl_realized{strategy,instrument,quote}`` and
  ``tradeactors_pnl_unrealized{strategy,instrument,quote}``: in the quote currency
  ``quote``, unrealized at the instrument's mid (left out while there is no two-sided
  book to mark with, rather than made up);

the configured limits, ``tradeactors_risk_limit{scope,limit}`` (``scope`` ``account`` for
``[risk]``; the value in the unit of its config key: lots, orders, the quote currency,
basis points), for dashboards to draw each figure against its limit;

and counted as events happen: ``tradeactors_order_updates_total{status}`` and
``tradeactors_orders_denied_total{reason}``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tradeactors.core.messages import OrderStatus, OrderUpdate, VenueStatus
from tradeactors.core.risk import TradingState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    import msgspec
    from prometheus_client import CollectorRegistry

    from tradeactors.actors.gate import TradingGate
    from tradeactors.core.messages import OrdersReport
    from tradeactors.trading.report import ScopeRow

__all__ = ["TradingMetrics", "limit_values"]

_NOT_LIMITS = frozenset({"message_window", "duplicate_window", "denial_window"})
"""Fields of a risk config that are windows (seconds), not limits."""


def limit_values(risk: msgspec.Struct) -> dict[str, float]:
    """The limits set in a risk config section: its numeric fields that are not None.

    Windows (``message_window``...) are not limits and are left out; a limit left out
    of the config (None: no limit) has no series.
    """
    values: dict[str, float] = {}
    for name in risk.__struct_fields__:
        value = getattr(risk, name)
        if name in _NOT_LIMITS or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        values[name] = float(value)
    return values


_STATE = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class TradingMetrics:
    """Registers the trading metrics; `on_event` is subscribed to the system's events.

    ``scopes`` turns a report into its rows per strategy and instrument in money
    (`tradeactors.trading.report.scope_rows`, marked at the mid; None: no such series);
    ``limits`` is scope -> limit -> value (`limit_values`), or a callable that returns
    them at each scrape (strategies added or removed at run time come and go).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        gate: TradingGate,
        report: Callable[[], OrdersReport | None],
        venues: list[str],
        lot_sizes: Mapping[str, str] | None = None,
        *,
        scopes: Callable[[OrdersReport], Sequence[ScopeRow]] | None = None,
        limits: Mapping[str, Mapping[str, float]]
        | Callable[[], Mapping[str, Mapping[str, float]]]
        | None = None,
    ) -> None:
        self._gate = gate
        self._scopes = scopes
        if callable(limits):
            self._limits: Callable[[], Mapping[str, Mapping[str, float]]] = limits
        else:
            fixed = {scope: dict(values) for scope, values in (limits or {}).items()}
            self._limits = lambda: fixed
        self._lot_sizes = {i: Fraction(size) for i, size in (lot_sizes or {}).items()}
        self._report = report
        self._up = dict.fromkeys(venues, False)
        self._updates = Counter(
            "tradeactors_order_updates",
            "Order updates by new status",
            ["status"],
            registry=registry,
        )
        self._denied = Counter(
            "tradeactors_orders_denied",
            "Orders denied before reaching a venue, by reason",
            ["reason"],
            registry=registry,
        )
        self._amends = Counter(
            "tradeactors_amends",
            "Amend outcomes: amended, rejected (by the venue), denied (before it)",
            ["outcome"],
            registry=registry,
        )
        registry.register(self)

    def on_event(self, event: Any) -> None:
        """Count order updates, denials and amend outcomes; follow venue status."""
        if isinstance(event, OrderUpdate):
            if event.amend is not None:  # the order's status did not move: not an update
                self._amends.labels(event.amend).inc()
                return
            self._updates.labels(event.status).inc()
            if event.status == OrderStatus.DENIED:
                self._denied.labels(event.reason or "unknown").inc()
        elif isinstance(event, VenueStatus):
            self._up[event.venue] = event.up

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: the collector is unchecked."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        """Read the state at scrape time."""
        state = GaugeMetricFamily(
            "tradeactors_kill_switch_state", "Kill switch: 0 active, 1 reducing, 2 halted"
        )
        state.add_metric([], _STATE[self._gate.state])
        yield state
        limits = self._limits()
        if limits:
            yield _limit_metric(limits)
        scoped = GaugeMetricFamily(
            "tradeactors_kill_switch_scope_state",
            "Kill switch by scope (all, strategy:<name>, venue:<name>): 0 active, 1 reducing, "
            "2 halted",
            labels=["scope"],
        )
        for scope, scope_state in self._gate.scopes().items():
            scoped.add_metric([scope], _STATE[scope_state])
        yield scoped
        up = GaugeMetricFamily("tradeactors_venue_up", "1 while the venue is up", labels=["venue"])
        for venue, is_up in list(self._up.items()):
            up.add_metric([venue], int(is_up))
        yield up
        report = self._report()
        if report is None:
            return  # the order manager did not answer: nothing made up
        open_orders = GaugeMetricFamily(
            "tradeactors_open_orders", "Orders that may still trade", labels=["venue"]
        )
        for venue in self._up:
            open_orders.add_metric([venue], report.open_by_venue.get(venue, 0))
        yield open_orders
        for name, text, value in (
            ("tradeactors_fills", "Fills applied", report.fills),
            ("tradeactors_duplicate_fills", "Fills seen again and skipped", report.duplicate_fills),
            (
                "tradeactors_order_inconsistencies",
                "Venue reports that did not fit the order's state",
                report.inconsistencies,
            ),
            ("tradeactors_reconciliations", "Reconciliations with a venue", report.reconciliations),
        ):
            counter = CounterMetricFamily(name, text)
            counter.add_metric([], value)
            yield counter
        position = GaugeMetricFamily(
            "tradeactors_position_lots", "Net position in lots", labels=["instrument"]
        )
        base = GaugeMetricFamily(
            "tradeactors_position",
            "Net position in the instrument's base units",
            labels=["instrument"],
        )
        for instrument, net in sorted(report.positions.items()):
            position.add_metric([instrument], net)
            lot = self._lot_sizes.get(instrument)
            if lot is not None:
                base.add_metric([instrument], float(net * lot))
        yield position
        yield base
        if self._scopes is not None:
            yield from _scope_metrics(self._scopes(report))


def _limit_metric(limits: Mapping[str, Mapping[str, float]]) -> Metric:
    limit = GaugeMetricFamily(
        "tradeactors_risk_limit",
        "Configured risk limits, in the unit of their config key",
        labels=["scope", "limit"],
    )
    for scope, values in limits.items():
        for name, value in values.items():
            limit.add_metric([scope, name], value)
    return limit


def _scope_metrics(rows: Sequence[ScopeRow]) -> Iterator[Metric]:
    """The per (strategy, instrument) families of ``rows``."""
    labels = ["strategy", "instrument"]
    position = GaugeMetricFamily(
        "tradeactors_strategy_position_lots", "Net position in lots, by strategy", labels=labels
    )
    base = GaugeMetricFamily(
        "tradeactors_strategy_position",
        "Net position in the instrument's base units, by strategy",
        labels=labels,
    )
    open_orders = GaugeMetricFamily(
        "tradeactors_strategy_open_orders",
        "Orders that may still trade, by strategy",
        labels=labels,
    )
    fills = CounterMetricFamily(
        "tradeactors_strategy_fills", "Fills applied, by strategy", labels=labels
    )
    money = [*labels, "quote"]
    realized = GaugeMetricFamily(
        "tradeactors_pnl_realized", "Realized PnL in the quote currency", labels=money
    )
    unrealized = GaugeMetricFamily(
        "tradeactors_pnl_unrealized",
        "Unrealized PnL in the quote currency, at the mid",
        labels=money,
    )
    for row in rows:
        key = [row.strategy, row.instrument]
        position.add_metric(key, row.position)
        if row.lot_size is not None:
            base.add_metric(key, float(row.position * Fraction(row.lot_size)))
        open_orders.add_metric(key, row.open_orders)
        fills.add_metric(key, row.fills)
        if row.realized is not None:
            realized.add_metric([*key, row.quote], row.realized)
        if row.unrealized is not None:
            unrealized.add_metric([*key, row.quote], row.unrealized)
    yield from (position, base, open_orders, fills, realized, unrealized)
