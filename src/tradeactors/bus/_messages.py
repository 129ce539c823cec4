"""Messages of the bus itself: heartbeats, and the events bridges and monitors report."""

from __future__ import annotations

from tradeactors.core.messages import Message

__all__ = ["BusStatus", "Heartbeat", "PeerAlive", "PeerExpired", "WatchPeer"]


class Heartbeat(Message, frozen=True, kw_only=True, tag=True):
    """A host is alive: published every ``interval_ms`` on the heartbeat stream.

    ``session`` changes when the host's publisher restarts (a new process, or a restart
    of the actor): a monitor that sees a new session knows the old one is gone.
    """

    host: str
    session: int
    interval_ms: int


class BusStatus(Message, frozen=True, kw_only=True, tag=True):
    """A bridge lost Redis (``up`` False, ``reason`` says how) or reached it again."""

    host: str
    stream: str
    up: bool
    reason: str
    timestamp_ns: int


class PeerAlive(Message, frozen=True, kw_only=True, tag=True):
    """A monitor heard a peer for the first time, or a new session of it.

    ``previous_session`` is the session it replaces (0: none known): the orders of that
    session have no one watching them any more.
    """

    host: str
    session: int
    previous_session: int = 0


class PeerExpired(Message, frozen=True, kw_only=True, tag=True):
    """A peer's last heartbeat is older than the lease: treat the peer as gone.

    ``age_ns`` is how long since the monitor last heard it (the monitor's own clock).
    """

    host: str
    session: int
    age_ns: int
    lease_ns: int


class WatchPeer(Message, frozen=True, kw_only=True, tag=True):
    """Tells a `HeartbeatMonitor` to expect ``host`` (heard from otherwise: a command).

    If no heartbeat of it comes within the lease, it expires like one that stopped
    beating. A host the monitor already knows is left as it is.
    """

    host: str
