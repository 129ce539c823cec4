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
    from collections.abc import Callable, Iterator, Mapping

    from prometheus_client import CollectorRegistry

    from tradeactors.actors.gate import TradingGate
    from tradeactors.core.messages import OrdersReport

__all__ = ["TradingMetrics"]

_STATE = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class TradingMetrics:
    """Registers the trading metrics; `on_event` is subscribed to the system's events."""

    def __init__(
        self,
        registry: CollectorRegistry,
        gate: TradingGate,
        report: Callable[[], OrdersReport | None],
        venues: list[str],
        lot_sizes: Mapping[str, str] | None = None,
    ) -> None:
        self._gate = gate
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
