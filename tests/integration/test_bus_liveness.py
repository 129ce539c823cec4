"""Heartbeats, the kill switch in Redis, and a Redis that dies and comes back."""

from __future__ import annotations

import time

import pytest
import redis
from redis_server import RedisServer, fast_settings, free_port

from tradeactors.bus import (
    BusCodec,
    BusMetrics,
    BusStatus,
    HeartbeatMonitor,
    HeartbeatPublisher,
    InboundBridge,
    KillSwitchFollower,
    Kind,
    OutboundBridge,
    PeerAlive,
    PeerExpired,
    RedisKillSwitch,
    connect,
)
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import TripSource
from tradeactors.core.messages import CancelOrder
from tradeactors.core.risk import TradingState
from tradeactors.errors import BusUnavailableError
from tradeactors.supervision import ChildSpec, SupervisorSpec
from tradeactors.supervision.testing import Inbox, Probe

pytestmark = pytest.mark.supervision


def _of(inbox: Inbox, kind: type) -> list:
    return [item for item in inbox.snapshot() if isinstance(item, kind)]


def _wait_for(inbox: Inbox, kind: type, count: int = 1, timeout: float = 5.0) -> list:
    inbox._wait_until(lambda: len(_of(inbox, kind)) >= count, timeout, f"{count} {kind.__name__}")
    return _of(inbox, kind)


class TestHeartbeats:
    """A peer that stops beating expires after the lease; a new session is announced."""

    def test_two_processes_beating_under_one_host_id_are_not_a_restart_at_every_beat(
        self, make_tree, settings
    ):
        clock = FakeClock()  # beats and ages move only when the test moves the time
        peers = Inbox()
        beat = {"host": "strategy-1", "interval": 0.02}
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(
                    name="monitor",
                    actor=HeartbeatMonitor,
                    args=(settings,),
                    kwargs={"host": "execution-1", "lease": 0.3, "on_peer": peers.append},
                ),
                ChildSpec(name="one", actor=HeartbeatPublisher, args=(settings,), kwargs=beat),
            ),
        )
        tree = make_tree(spec, clock=clock)
        clock.advance(0.001)  # the second process's session: another start time
        tree.start_child(
            ChildSpec(name="two", actor=HeartbeatPublisher, args=(settings,), kwargs=beat)
        )
        for _ in range(20):  # both beat, interleaved, and the monitor reads each round
            _beat_round(tree, clock, ("one", "two"))
        alive = _of(peers, PeerAlive)
        # heard first, then the other session once (taken for a restart); never again
        assert 1 <= len(alive) <= 2, [(a.session, a.previous_session) for a in alive]

    def test_a_lease_expires_when_the_publisher_stops_and_a_new_session_is_reported(
        self, make_tree, settings, registry
    ):
        peers = Inbox()
        metrics = BusMetrics(registry, "execution-1")
        publisher = ChildSpec(
            name="heartbeat",
            actor=HeartbeatPublisher,
            args=(settings,),
            kwargs={"host": "strategy-1", "interval": 0.05},
        )
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(
                    name="monitor",
                    actor=HeartbeatMonitor,
                    args=(settings,),
                    kwargs={
                        "host": "execution-1",
                        "lease": 0.3,
                        "on_peer": peers.append,
                        "metrics": metrics,
                    },
                ),
                publisher,
                ChildSpec(  # its own heartbeats are not a peer's
                    name="own_heartbeat",
                    actor=HeartbeatPublisher,
                    args=(settings,),
                    kwargs={"host": "execution-1", "interval": 0.05},
                ),
            ),
        )
        tree = make_tree(spec)
        (alive,) = _wait_for(peers, PeerAlive)
        assert alive.host == "strategy-1"
        assert alive.previous_session == 0

        tree.stop_child("heartbeat")
        stopped = time.monotonic()
        (expired,) = _wait_for(peers, PeerExpired)
        took = time.monotonic() - stopped
        assert expired.host == "strategy-1"
        assert expired.session == alive.session
        assert expired.age_ns > expired.lease_ns == 300_000_000
        assert 0.25 < took < 1.5, f"expired {took:.2f} s after the last beat, lease 0.3 s"
        age = registry.get_sample_value(
            "tradeactors_bus_heartbeat_age_seconds", {"host": "execution-1", "peer": "strategy-1"}
        )
        assert age is not None
        assert age > 0.3

        tree.start_child(publisher)  # the host comes back: a new session
        _, again = _wait_for(peers, PeerAlive, count=2)
        assert again.host == "strategy-1"
        assert again.previous_session == alive.session
        assert again.session != alive.session
        assert all(item.host == "strategy-1" for item in peers.snapshot())


def test_a_missing_redis_server_fails_the_test_saying_how_to_install_it(monkeypatch, tmp_path):
    import redis_server

    monkeypatch.setattr(redis_server.shutil, "which", lambda _name: None)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y redis-server"):
        RedisServer(tmp_path)


class TestKillSwitch:
    """Latched in Redis: trips only raise it, resets are explicit; every host follows."""

    def test_trips_only_raise_the_state_and_resets_need_who_and_why(self, client):
        switch = RedisKillSwitch(client)
        assert switch.state() is TradingState.ACTIVE
        halted = switch.trip(
            TradingState.HALTED, source=TripSource.MANUAL, reason="fat finger", by="ops"
        )
        assert halted is not None
        assert (halted.previous, halted.state, halted.reason) == (
            TradingState.ACTIVE,
            TradingState.HALTED,
            "ops: fat finger",
        )
        assert halted.timestamp_ns > 1_700_000_000 * 10**9  # the server's clock, in ns
        milder = switch.trip(TradingState.REDUCING, source=TripSource.RISK, reason="loss")
        assert milder is None
        assert switch.state() is TradingState.HALTED

        with pytest.raises(ValueError, match="who did it and why"):
            switch.reset(TradingState.ACTIVE, by="", reason="")
        with pytest.raises(ValueError, match="must lower"):
            switch.reset(TradingState.HALTED, by="ops", reason="no-op")
        reset = switch.reset(TradingState.REDUCING, by="ops", reason="checked")
        assert (reset.previous, reset.state, reset.source) == (
            TradingState.HALTED,
            TradingState.REDUCING,
            "reset",
        )
        assert switch.state() is TradingState.REDUCING

    def test_scopes_are_latched_apart(self, client):
        switch = RedisKillSwitch(client)
        switch.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="x", scope="venue:sim")
        assert switch.state("venue:sim") is TradingState.HALTED
        assert switch.state() is TradingState.ACTIVE
        with pytest.raises(ValueError, match="scope"):
            switch.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="x", scope="bogus")

    def test_every_host_applies_the_latched_state_then_follows_the_changes(
        self, make_tree, settings, client, registry
    ):
        switch = RedisKillSwitch(client)
        switch.trip(
            TradingState.REDUCING, source=TripSource.MANUAL, reason="before", scope="strategy:mm"
        )
        applied = {"strategy-1": Inbox(), "strategy-2": Inbox()}
        metrics = BusMetrics(registry, "strategy-1")
        spec = SupervisorSpec(
            name="root",
            children=tuple(
                ChildSpec(
                    name=host,
                    actor=KillSwitchFollower,
                    args=(settings,),
                    kwargs={"host": host, "apply": inbox.append, "metrics": metrics},
                )
                for host, inbox in applied.items()
            ),
        )
        make_tree(spec)
        for inbox in applied.values():  # the latched state first
            (first,) = inbox.wait_for_count(1)
            assert (first.scope, first.state) == ("strategy:mm", TradingState.REDUCING)
        # a malformed fan-out entry is counted and skipped, the next change applied
        client.xadd(switch.changes_stream, {"scope": "all", "state": "exploded"})
        switch.trip(TradingState.HALTED, source=TripSource.RISK, reason="loss limit")
        for inbox in applied.values():
            _, change = inbox.wait_for_count(2)
            assert (change.scope, change.state, change.source) == (
                "all",
                TradingState.HALTED,
                "risk",
            )
        bad = registry.get_sample_value(
            "tradeactors_bus_bad_entries_total",
            {"host": "strategy-1", "stream": switch.changes_stream, "reason": "malformed"},
        )
        assert bad == 2  # one per follower

    def test_a_trip_that_cannot_reach_redis_says_so(self):
        nowhere = fast_settings(f"redis://127.0.0.1:{free_port()}/0")
        client = connect(nowhere)
        try:
            switch = RedisKillSwitch(client)
            with pytest.raises(BusUnavailableError):
                switch.trip(TradingState.HALTED, source=TripSource.MANUAL, reason="x")
        finally:
            client.close()


class TestRedisOutage:
    """Redis killed mid-run: reported within the timeouts, recovered when it is back."""

    def test_an_unreachable_server_fails_within_the_configured_timeouts(self):
        nowhere = fast_settings(f"redis://127.0.0.1:{free_port()}/0")
        client = connect(nowhere)
        started = time.monotonic()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        client.close()
        # (1 + retries) x connect_timeout, plus backoff: well under the defaults' minute
        assert time.monotonic() - started < 1.0

    def test_while_redis_is_down_the_outbox_keeps_the_newest_entries_up_to_its_limit(
        self, make_tree, registry
    ):
        nowhere = fast_settings(f"redis://127.0.0.1:{free_port()}/0", outbox_limit=2)
        metrics = BusMetrics(registry, "strategy-1")
        statuses = Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(
                    name="outbound",
                    actor=OutboundBridge,
                    args=(nowhere,),
                    kwargs={
                        "host": "strategy-1",
                        "stream": "cmd:execution",
                        "metrics": metrics,
                        "status": statuses.append,
                    },
                ),
            ),
        )
        tree = make_tree(spec)
        outbound = tree.address("outbound")
        for n in range(5):
            outbound.tell(CancelOrder(client_order_id=f"c-{n}"))
        outbound.ask("settle", timeout=5)  # behind the five tells
        (down,) = _wait_for_status(statuses, up=False, count=1, timeout=3)
        assert down.stream == "cmd:execution"
        dropped = registry.get_sample_value(
            "tradeactors_bus_outbox_dropped_total",
            {"host": "strategy-1", "stream": "cmd:execution"},
        )
        assert dropped == 3
        assert tree.stats("outbound").incarnations == 1

    def test_bridges_report_the_bus_down_and_recover_when_redis_is_back(
        self, make_tree, tmp_path, registry
    ):
        server = RedisServer(tmp_path)
        server.start()
        try:
            self._outage(make_tree, server, registry)
        finally:
            server.stop()

    def test_a_hung_server_is_reported_within_the_socket_timeout_and_recovers(
        self, make_tree, tmp_path, registry
    ):
        server = RedisServer(tmp_path)
        server.start()
        try:
            settings = fast_settings(server.url)
            inbox, statuses = Inbox(), Inbox()
            spec = SupervisorSpec(
                name="root",
                children=(
                    ChildSpec(name="receiver", actor=Probe, args=(inbox,)),
                    ChildSpec(
                        name="inbound",
                        actor=InboundBridge,
                        args=(settings,),
                        kwargs={
                            "host": "execution-1",
                            "stream": "cmd:execution",
                            "group": "execution",
                            "consumer": "execution-1",
                            "deliver_to": "receiver",
                            "status": statuses.append,
                        },
                    ),
                ),
            )
            tree = make_tree(spec)
            _wait_for_status(statuses, up=True, count=1, timeout=3)
            server.pause()  # no RST, no answer: what a partition looks like from here
            paused = time.monotonic()
            _wait_for_status(statuses, up=False, count=1, timeout=5)
            took = time.monotonic() - paused
            # socket_timeout (0.5 s) x (1 + retries): about a second, not a minute
            assert 0.4 < took < 2.0, f"a hung server was reported after {took:.2f} s"
            server.resume()
            _wait_for_status(statuses, up=True, count=2, timeout=5)
            codec = BusCodec()
            envelope = codec.envelope(
                CancelOrder(client_order_id="after"),
                kind=Kind.COMMAND,
                source_host="strategy-1",
                source_path="out",
                destination="receiver",
                session=1,
                sequence=1,
                message_id="",
                timestamp_ns=1,
            )
            client = redis.Redis.from_url(server.url)
            try:
                client.xadd("cmd:execution", codec.encode(envelope))
            finally:
                client.close()
            assert [m for _, m in inbox.wait_for_count(1)] == [CancelOrder(client_order_id="after")]
            assert tree.stats("inbound").incarnations == 1
        finally:
            server.stop()

    def _outage(self, make_tree, server, registry) -> None:
        settings = fast_settings(server.url)
        metrics = BusMetrics(registry, "execution-1")
        inbox, statuses = Inbox(), Inbox()
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="receiver", actor=Probe, args=(inbox,)),
                ChildSpec(
                    name="inbound",
                    actor=InboundBridge,
                    args=(settings,),
                    kwargs={
                        "host": "execution-1",
                        "stream": "cmd:execution",
                        "group": "execution",
                        "consumer": "execution-1",
                        "deliver_to": "receiver",
                        "metrics": metrics,
                        "status": statuses.append,
                    },
                ),
                ChildSpec(
                    name="outbound",
                    actor=OutboundBridge,
                    args=(settings,),
                    kwargs={
                        "host": "strategy-1",
                        "stream": "cmd:execution",
                        "status": statuses.append,
                    },
                ),
            ),
        )
        tree = make_tree(spec)
        outbound = tree.address("outbound")
        outbound.tell(CancelOrder(client_order_id="before"))
        assert [m for _, m in inbox.wait_for_count(1)] == [CancelOrder(client_order_id="before")]
        up = [s for s in statuses.snapshot() if s.up]
        assert {s.stream for s in up} == {"cmd:execution"}

        server.kill()
        killed = time.monotonic()
        down = _wait_for_status(statuses, up=False, count=1, timeout=3)
        took = time.monotonic() - killed
        # the inbound bridge was in a blocking read: reported within the socket timeout
        # plus one reconnect attempt, not redis-py's default minute
        assert took < 1.5, f"the bus was reported down {took:.2f} s after Redis died"
        assert down[0].host == "execution-1"
        gauge = {"host": "execution-1", "stream": "cmd:execution"}
        assert registry.get_sample_value("tradeactors_bus_up", gauge) == 0

        # a command told while Redis is down waits in the outbox
        outbound.tell(CancelOrder(client_order_id="during"))
        _wait_for_status(statuses, up=False, count=2, timeout=3)  # the outbound saw it too

        server.start()  # same port, empty (no persistence): the group is created again
        _wait_for_status(statuses, up=True, count=len(up) + 2, timeout=5)
        received = [m for _, m in inbox.wait_for_count(2)]
        assert received == [
            CancelOrder(client_order_id="before"),
            CancelOrder(client_order_id="during"),
        ]
        assert registry.get_sample_value("tradeactors_bus_up", gauge) == 1
        assert tree.stats("inbound").incarnations == 1  # reported, never crashed
        assert tree.stats("outbound").incarnations == 1


def _wait_for_status(statuses: Inbox, *, up: bool, count: int, timeout: float) -> list[BusStatus]:
    def matching() -> list[BusStatus]:
        return [s for s in statuses.snapshot() if s.up is up]

    statuses._wait_until(lambda: len(matching()) >= count, timeout, f"{count} x up={up}")
    return matching()


class TestForgetting:
    def test_a_peer_silent_for_ten_leases_is_forgotten_with_its_metric_series(
        self, make_tree, settings, registry
    ):
        clock = FakeClock()  # beats and ages move only when the test moves the time
        peers = Inbox()
        metrics = BusMetrics(registry, "execution-1")
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(
                    name="monitor",
                    actor=HeartbeatMonitor,
                    args=(settings,),
                    kwargs={
                        "host": "execution-1",
                        "lease": 0.05,
                        "on_peer": peers.append,
                        "metrics": metrics,
                    },
                ),
                ChildSpec(
                    name="ghost",
                    actor=HeartbeatPublisher,
                    args=(settings,),
                    kwargs={"host": "ghost-1", "interval": 0.02},
                ),
            ),
        )
        tree = make_tree(spec, clock=clock)
        for _ in range(20):  # the monitor reads from the newest entry: beat until heard
            _beat_round(tree, clock, ("ghost",))
            if _of(peers, PeerAlive):
                break
        assert _of(peers, PeerAlive), "never heard"
        tree.stop_child("ghost")
        sample = {"host": "execution-1", "peer": "ghost-1"}
        clock.advance(0.06)  # past the lease
        _settle(tree.address("monitor"))
        assert _of(peers, PeerExpired)
        assert registry.get_sample_value("tradeactors_bus_heartbeat_age_seconds", sample)
        clock.advance(0.5)  # ten leases more
        _settle(tree.address("monitor"))
        sample_now = registry.get_sample_value("tradeactors_bus_heartbeat_age_seconds", sample)
        assert sample_now is None  # forgotten, and its series with it


def _settle(monitor) -> None:
    """Return once the monitor has run a whole read after this call (two asks: the first
    waits out the read under way, the second the read queued behind it)."""
    monitor.ask("settle", timeout=5)
    monitor.ask("settle", timeout=5)


def _beat_round(tree, clock: FakeClock, publishers: tuple[str, ...]) -> None:
    """One beat of each publisher, published (an ask behind its beat), then read."""
    clock.advance(0.02)
    for name in publishers:
        tree.address(name).ask("flush", timeout=5)
    _settle(tree.address("monitor"))
