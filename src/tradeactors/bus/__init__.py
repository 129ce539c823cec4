"""The bus: trees on several hosts over Redis Streams (see docs/bus.md).

Library components, wired by hand for now (roles in ``tradeactors run`` come later):
connection settings that fail fast, the envelope codec, the outbound and inbound
bridge actors, market-data subscriber, heartbeats with a lease, the kill switch
latched in Redis, and the bus's metrics.
"""

from __future__ import annotations

from tradeactors.bus._codec import (
    ENTRY_FIELD,
    ENVELOPE_VERSION,
    BusCodec,
    Envelope,
    Kind,
    message_types,
)
from tradeactors.bus._common import ClientAndTimer, SeenIds
from tradeactors.bus._heartbeat import HEARTBEAT_STREAM, HeartbeatMonitor, HeartbeatPublisher
from tradeactors.bus._inbound import InboundBridge, MarketDataSubscriber
from tradeactors.bus._killswitch import (
    KILL_SWITCH_PREFIX,
    KillSwitchFollower,
    RedisKillSwitch,
    change_of,
)
from tradeactors.bus._messages import BusStatus, Heartbeat, PeerAlive, PeerExpired, WatchPeer
from tradeactors.bus._metrics import BusMetrics
from tradeactors.bus._outbound import (
    OutboundBridge,
    Outbox,
    default_message_id,
    market_data_stream,
)
from tradeactors.bus._settings import (
    BusEndpoint,
    BusSettings,
    check_reachable,
    connect,
    parse_bus_url,
    redact_url,
)

__all__ = [
    "ENTRY_FIELD",
    "ENVELOPE_VERSION",
    "HEARTBEAT_STREAM",
    "KILL_SWITCH_PREFIX",
    "BusCodec",
    "BusEndpoint",
    "BusMetrics",
    "BusSettings",
    "BusStatus",
    "ClientAndTimer",
    "Envelope",
    "Heartbeat",
    "HeartbeatMonitor",
    "HeartbeatPublisher",
    "InboundBridge",
    "KillSwitchFollower",
    "Kind",
    "MarketDataSubscriber",
    "OutboundBridge",
    "Outbox",
    "PeerAlive",
    "PeerExpired",
    "RedisKillSwitch",
    "SeenIds",
    "WatchPeer",
    "change_of",
    "check_reachable",
    "connect",
    "default_message_id",
    "market_data_stream",
    "message_types",
    "parse_bus_url",
    "redact_url",
]
