"""Prometheus metrics of a host's bus traffic (on the registry the host is given).

Every series is labelled with the ``host`` that counts it and the ``stream`` (streams
are named by configuration, a bounded set; never by message or order ids):

- ``tradeactors_bus_published_total{host,stream}``: entries added (XADD);
- ``tradeactors_bus_consumed_total{host,stream}``: entries read;
- ``tradeactors_bus_acked_total{host,stream}``: entries acknowledged (XACK);
- ``tradeactors_bus_redelivered_total{host,stream}``: entries read again (pending ones
  of this consumer, or claimed from a dead one);
- ``tradeactors_bus_duplicates_dropped_total{host,stream}``: repeats dropped by id;
- ``tradeactors_bus_bad_entries_total{host,stream,reason}``: entries dropped unread;
- ``tradeactors_bus_conflated_total{host,stream}``: market data superseded before sent;
- ``tradeactors_bus_outbox_dropped_total{host,stream}``: entries dropped because the
  bus was down longer than the outbox holds;
- ``tradeactors_bus_pending{host,stream}``: entries read by the group, not acknowledged;
- ``tradeactors_bus_lag{host,stream}``: entries not yet read by the group;
- ``tradeactors_bus_up{host,stream}``: 1 while the stream's bridge reaches Redis;
- ``tradeactors_bus_heartbeat_age_seconds{host,peer}``: since a peer's last heartbeat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["BusMetrics"]


class BusMetrics:
    """The bus's series for one host. Make one per registry and give it to every bridge."""

    def __init__(self, registry: CollectorRegistry, host: str) -> None:
        self.host = host
        labels = ["host", "stream"]

        def counter(name: str, text: str, extra: tuple[str, ...] = ()) -> Counter:
            return Counter(f"tradeactors_bus_{name}", text, [*labels, *extra], registry=registry)

        def gauge(name: str, text: str, names: list[str]) -> Gauge:
            return Gauge(f"tradeactors_bus_{name}", text, names, registry=registry)

        self.published = counter("published", "Entries added to a stream")
        self.consumed = counter("consumed", "Entries read from a stream")
        self.acked = counter("acked", "Entries acknowledged after delivery")
        self.redelivered = counter("redelivered", "Pending entries read again or claimed")
        self.duplicates = counter("duplicates_dropped", "Repeats dropped by message id")
        self.bad = counter("bad_entries", "Entries dropped as invalid", ("reason",))
        self.conflated = counter("conflated", "Market data superseded before it was sent")
        self.outbox_dropped = counter("outbox_dropped", "Entries dropped while the bus was down")
        self.pending = gauge("pending", "Entries read by the group, not acknowledged", labels)
        self.lag = gauge("lag", "Entries the group has not read yet", labels)
        self.up = gauge("up", "1 while the stream's bridge reaches Redis", labels)
        self.heartbeat_age = gauge(
            "heartbeat_age_seconds", "Seconds since a peer's last heartbeat", ["host", "peer"]
        )
