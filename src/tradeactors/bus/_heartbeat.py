"""Heartbeats with a lease: who is alive on the bus, and who is gone.

`HeartbeatPublisher` adds a `Heartbeat` (host, session) to the heartbeat stream every
``interval`` (``MAXLEN ~``: the stream stays small). `HeartbeatMonitor` follows that
stream and reports:

- `PeerAlive` when it hears a host for the first time, or a new session of it (the
  previous session is gone: its orders have no one watching them);
- `PeerExpired` once a host has not been heard for longer than ``lease`` (measured on
  the monitor's own monotonic clock from when it last heard it, so the hosts' wall
  clocks need not agree). A monitor cut off from Redis hears no one: every peer
  expires after the lease, which is what a host cut off from the bus must assume.

What to do about it (cancel that host's orders) is the receiver's business: the
monitor only tells (``on_peer``).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from tradeactors.bus._codec import BusCodec, Kind
from tradeactors.bus._common import ClientAndTimer, Link, later, redis_errors
from tradeactors.bus._messages import Heartbeat, PeerAlive, PeerExpired, WatchPeer
from tradeactors.bus._settings import connect
from tradeactors.errors import BusEntryError
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.bus._messages import BusStatus
    from tradeactors.bus._metrics import BusMetrics
    from tradeactors.bus._settings import BusSettings
    from tradeactors.clock import Timer

__all__ = ["HEARTBEAT_STREAM", "HeartbeatMonitor", "HeartbeatPublisher"]

HEARTBEAT_STREAM = "bus:heartbeats"
"""The default heartbeat stream."""

_HEARTBEAT_MAXLEN = 1000


class _Beat:
    """Time to publish the next heartbeat."""


class _Poll:
    """Read the next heartbeats and check the leases."""


class HeartbeatPublisher(ClientAndTimer, SupervisedActor):
    """Publishes this host's heartbeat every ``interval`` seconds (the first at start)."""

    def __init__(
        self,
        settings: BusSettings,
        *,
        host: str,
        interval: float = 0.5,
        stream: str = HEARTBEAT_STREAM,
        metrics: BusMetrics | None = None,
        status: Callable[[BusStatus], None] | None = None,
    ) -> None:
        super().__init__()
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self._settings = settings
        self._host = host
        self._interval = interval
        self._stream = stream
        self._metrics = metrics
        self._status = status
        self._codec = BusCodec(max_entry_bytes=settings.max_entry_bytes)
        self._errors = redis_errors()
        self._client: Any = None
        self._link: Link | None = None
        self._timer: Timer | None = None
        self._session = 0
        self._sequence = 0

    @property
    def session(self) -> int:
        """This incarnation's session (a new one at every start)."""
        return self._session

    def on_start(self) -> None:
        """Start beating (the first beat is queued now)."""
        context = self.context
        self._session = context.clock.time_ns()
        self._link = Link(context, self._host, self._stream, self._metrics, self._status)
        self._client = connect(self._settings, client_name=f"{self._host}:{context.path}")
        context.address.tell(_Beat())

    def on_receive(self, message: Any) -> Any:
        """Publish a heartbeat and set the timer for the next."""
        if not isinstance(message, _Beat):
            return
        link = self._link
        assert link is not None  # noqa: S101 - set in on_start
        context = self.context
        self._sequence += 1
        beat = Heartbeat(
            host=self._host, session=self._session, interval_ms=int(self._interval * 1000)
        )
        envelope = self._codec.envelope(
            beat,
            kind=Kind.HEARTBEAT,
            source_host=self._host,
            source_path=context.path,
            destination="",
            session=self._session,
            sequence=self._sequence,
            message_id="",
            timestamp_ns=context.clock.time_ns(),
        )
        try:
            self._client.xadd(
                self._stream,
                self._codec.encode(envelope),
                maxlen=_HEARTBEAT_MAXLEN,
                approximate=True,
            )
        except self._errors as exc:
            link.lost(exc)
        else:
            link.reached()
            if self._metrics is not None:
                self._metrics.published.labels(self._metrics.host, self._stream).inc()
        self._timer = later(context, self._interval, _Beat())


_FORGET_AFTER = 10
"""Leases after its expiry when a silent peer is forgotten (its metric series too)."""
_FORMER = 8
"""Sessions of a peer remembered after it changed (to tell a duplicate from a restart)."""


class _Peer:
    __slots__ = ("expired", "former", "heard_ns", "session")

    def __init__(self, session: int, heard_ns: int, former: tuple[int, ...] = ()) -> None:
        self.session = session
        self.heard_ns = heard_ns
        self.expired = False
        self.former = former  # the sessions it had before (the last few)


class HeartbeatMonitor(ClientAndTimer, SupervisedActor):
    """Follows the heartbeat stream; reports peers that come, change session, or expire.

    ``on_peer`` gets `PeerAlive` and `PeerExpired` (give it an ``Address.tell``). Its
    own ``host``'s heartbeats are ignored. The first read starts at the stream's newest
    entries (a restarted monitor hears everyone again within one interval). Told a
    `WatchPeer`, it expects that host from now on, heard or not.
    """

    def __init__(
        self,
        settings: BusSettings,
        *,
        host: str,
        lease: float,
        on_peer: Callable[[PeerAlive | PeerExpired], None],
        stream: str = HEARTBEAT_STREAM,
        metrics: BusMetrics | None = None,
        status: Callable[[BusStatus], None] | None = None,
    ) -> None:
        super().__init__()
        if lease <= 0:
            raise ValueError("lease must be > 0")
        self._settings = settings
        self._host = host
        self._lease_ns = int(lease * 1e9)
        self._on_peer = on_peer
        self._stream = stream
        self._metrics = metrics
        self._status = status
        self._codec = BusCodec(max_entry_bytes=settings.max_entry_bytes)
        self._errors = redis_errors()
        self._client: Any = None
        self._link: Link | None = None
        self._timer: Timer | None = None
        self._last_id = "$"
        self._peers: dict[str, _Peer] = {}
        self._duplicates: set[tuple[str, int]] = set()  # (host, session) said once
        # a read blocks at most this long, so an expiry is seen within it
        self._block_ms = max(1, min(settings.block_ms, int(lease * 1000) // 4))

    def on_start(self) -> None:
        """Make the client and queue the first read."""
        context = self.context
        self._link = Link(context, self._host, self._stream, self._metrics, self._status)
        self._client = connect(self._settings, client_name=f"{self._host}:{context.path}")
        context.address.tell(_Poll())

    def on_receive(self, message: Any) -> Any:
        """Read heartbeats, check the leases, queue the next read (or watch a peer)."""
        if isinstance(message, WatchPeer):
            if message.host != self._host and message.host not in self._peers:
                # session 0: none heard yet; its first heartbeat is a PeerAlive
                self._peers[message.host] = _Peer(0, self.context.clock.monotonic_ns())
            return
        if not isinstance(message, _Poll):
            return
        self._timer = None
        link = self._link
        assert link is not None  # noqa: S101 - set in on_start
        delay = 0.0
        try:
            self._read()
        except self._errors as exc:
            link.lost(exc)
            delay = self._settings.reconnect_interval
        else:
            link.reached()
        self._check_leases()
        if delay:
            self._timer = later(self.context, min(delay, self._block_ms / 1000), _Poll())
        else:
            self.context.address.tell(_Poll())

    def _read(self) -> None:
        client = self._client
        if self._last_id == "$":
            newest = client.xrevrange(self._stream, count=1)
            self._last_id = newest[0][0].decode() if newest else "0-0"
        response = client.xread({self._stream: self._last_id}, count=100, block=self._block_ms)
        now = self.context.clock.monotonic_ns()
        for _, entries in response or ():
            self._last_id = entries[-1][0].decode()
            for entry_id, fields in entries:
                try:
                    _, beat = self._codec.decode(fields)
                except BusEntryError as exc:
                    self._drop(entry_id, exc.reason, str(exc))
                    continue
                if not isinstance(beat, Heartbeat):
                    self._drop(entry_id, "unknown_type", type(beat).__name__)
                    continue
                if beat.host != self._host:
                    self._heard(beat, now)

    def _heard(self, beat: Heartbeat, now: int) -> None:
        peer = self._peers.get(beat.host)
        if peer is not None and beat.session != peer.session and beat.session in peer.former:
            # a session it had before beats again: two processes share this host id (not
            # a restart each time, which would cancel its orders at every beat)
            if (beat.host, beat.session) not in self._duplicates:
                self._duplicates.add((beat.host, beat.session))
                self.context.log.error(
                    "bus_duplicate_host",
                    peer=beat.host,
                    sessions=[peer.session, beat.session],
                    hint="two processes run with one --host-id: stop one",
                )
            return
        if peer is None or peer.session != beat.session:
            previous = 0 if peer is None else peer.session
            former = () if peer is None else (*peer.former, peer.session)[-_FORMER:]
            self._peers[beat.host] = _Peer(beat.session, now, former)
            self.context.log.info(
                "bus_peer_alive", peer=beat.host, session=beat.session, previous=previous
            )
            self._on_peer(
                PeerAlive(host=beat.host, session=beat.session, previous_session=previous)
            )
            return
        peer.heard_ns = now
        if peer.expired:  # heard again after it expired: the same session is back
            peer.expired = False
            self._on_peer(PeerAlive(host=beat.host, session=beat.session, previous_session=0))

    def _check_leases(self) -> None:
        now = self.context.clock.monotonic_ns()
        metrics = self._metrics
        for host, peer in list(self._peers.items()):
            age = now - peer.heard_ns
            if peer.expired and age > _FORGET_AFTER * self._lease_ns:
                # long gone (or a name heard once): forgotten, its series with it; if it
                # comes back it is a new peer
                del self._peers[host]
                if metrics is not None:
                    with contextlib.suppress(KeyError):
                        metrics.heartbeat_age.remove(metrics.host, host)
                continue
            if metrics is not None:
                metrics.heartbeat_age.labels(metrics.host, host).set(age / 1e9)
            if not peer.expired and age > self._lease_ns:
                peer.expired = True
                self.context.log.warning(
                    "bus_peer_expired", peer=host, session=peer.session, age_ns=age
                )
                self._on_peer(
                    PeerExpired(
                        host=host, session=peer.session, age_ns=age, lease_ns=self._lease_ns
                    )
                )

    def _drop(self, entry_id: Any, reason: str, detail: str) -> None:
        if self._metrics is not None:
            self._metrics.bad.labels(self._metrics.host, self._stream, reason).inc()
        if isinstance(entry_id, bytes):
            entry_id = entry_id.decode(errors="replace")
        self.context.log.warning(
            "bus_entry_dropped", stream=self._stream, entry_id=entry_id, reason=reason, error=detail
        )
