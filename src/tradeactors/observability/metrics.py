"""Prometheus export of every supervised actor's mailbox and handler statistics.

`ActorMetricsCollector` reads the plain counters each actor keeps (see
``supervision._stats``) at scrape time. Labels are bounded: the actor path, the
message type name, a dead-letter or drop reason. Never an order id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)


class Histogram(Protocol):
    """What the collector reads of a histogram (`supervision._stats.Histogram` is one)."""

    @property
    def sum_ns(self) -> int: ...

    def cumulative(self) -> list[tuple[str, int]]:
        """``(upper bound, cumulative count)`` pairs, ascending."""
        ...


class ActorStats(Protocol):
    """What the collector reads of one actor's statistics (`supervision._stats.ActorStats`).

    A protocol here, not an import: supervision registers this collector, so observability
    must not import supervision back (the layering contracts in pyproject.toml).
    """

    @property
    def path(self) -> str: ...
    @property
    def up(self) -> bool: ...
    @property
    def instrumented(self) -> bool: ...
    @property
    def processed(self) -> dict[type, int]: ...
    @property
    def wait(self) -> Histogram: ...
    @property
    def handler(self) -> Histogram: ...
    @property
    def restarts(self) -> int: ...
    @property
    def dead_letters(self) -> dict[str, int]: ...
    @property
    def dropped(self) -> dict[str, int]: ...
    @property
    def conflated(self) -> int: ...


__all__ = ["ActorMetricsCollector", "MetricsServer", "serve_metrics"]

Rows = Callable[[], Iterable["tuple[ActorStats, int]"]]


class ActorMetricsCollector:
    """A prometheus-client collector over ``rows()``: (stats, mailbox depth) per actor."""

    def __init__(self, rows: Rows) -> None:
        self._rows = rows

    def describe(self) -> Iterator[Metric]:
        """The metric families without samples, so a registry can detect duplicates."""
        return _families(())

    def collect(self) -> Iterator[Metric]:
        """Build the metric families from the current counters."""
        return _families(self._rows())


def _families(rows: Iterable[tuple[ActorStats, int]]) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "tradeactors_mailbox_depth", "Messages waiting in the mailbox.", labels=["path"]
    )
    up = GaugeMetricFamily(
        "tradeactors_actor_up", "1 while an incarnation is running.", labels=["path"]
    )
    processed = CounterMetricFamily(
        "tradeactors_messages_processed",
        "Messages handled, by message type.",
        labels=["path", "message_type"],
    )
    restarts = CounterMetricFamily(
        "tradeactors_restarts", "Starts of the actor after its first.", labels=["path"]
    )
    dead = CounterMetricFamily(
        "tradeactors_dead_letters",
        "Messages never handled, by reason (crashed, stopped, closed).",
        labels=["path", "reason"],
    )
    dropped = CounterMetricFamily(
        "tradeactors_mailbox_dropped",
        "Messages a bounded mailbox dropped or refused, by reason.",
        labels=["path", "reason"],
    )
    conflated = CounterMetricFamily(
        "tradeactors_mailbox_conflated",
        "Queued messages replaced by a newer one with the same key.",
        labels=["path"],
    )
    wait = HistogramMetricFamily(
        "tradeactors_mailbox_wait_seconds",
        "Time a message waited in the mailbox before its handler started.",
        labels=["path"],
    )
    handler = HistogramMetricFamily(
        "tradeactors_handler_seconds", "Time spent in the handler.", labels=["path"]
    )
    for stats, mailbox_depth in rows:
        path = stats.path
        depth.add_metric([path], mailbox_depth)
        up.add_metric([path], 1.0 if stats.up else 0.0)
        if stats.instrumented:
            by_name: dict[str, int] = {}
            for kind, count in stats.processed.copy().items():
                # Two classes may share a name (different modules): one series per labels.
                by_name[kind.__name__] = by_name.get(kind.__name__, 0) + count
            for name, count in by_name.items():
                processed.add_metric([path, name], count)
            _add_histogram(wait, path, stats.wait)
            _add_histogram(handler, path, stats.handler)
        restarts.add_metric([path], stats.restarts)
        for reason, count in stats.dead_letters.copy().items():
            dead.add_metric([path, reason], count)
        for reason, count in stats.dropped.copy().items():
            dropped.add_metric([path, reason], count)
        conflated.add_metric([path], stats.conflated)
    yield from (depth, up, processed, restarts, dead, dropped, conflated, wait, handler)


def _add_histogram(family: HistogramMetricFamily, path: str, histogram: Histogram) -> None:
    buckets = histogram.cumulative()
    family.add_metric([path], buckets, histogram.sum_ns / 1e9)


class MetricsServer:
    """A running HTTP endpoint serving one registry; `close` stops it."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.host = host
        self.port: int = self._server.server_port

    @property
    def url(self) -> str:
        """Where to scrape."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve_metrics(
    registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0
) -> MetricsServer:
    """Serve ``registry`` over HTTP on ``host:port`` (port 0 picks a free one)."""
    return MetricsServer(registry, host, port)
