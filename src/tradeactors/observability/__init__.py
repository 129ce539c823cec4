"""Metrics and logs: Prometheus collectors on a registry you pass, structlog setup."""

from tradeactors.observability.logging import configure_logging
from tradeactors.observability.metrics import ActorMetricsCollector, MetricsServer, serve_metrics

__all__ = ["ActorMetricsCollector", "MetricsServer", "configure_logging", "serve_metrics"]
