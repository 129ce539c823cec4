"""A strategy host cut off by the network: its own namespace, its link to Redis taken down.

The strategy host is a `tradeactors run --role strategy` process in a network namespace
of its own (``ip netns``; loopback is per namespace), joined to the root namespace by a
veth pair; redis-server listens on 127.0.0.1 (the execution host and the other strategy
host, in this process) and on the root end of the veth (the strategy host). Taking the
root end down (``ip link set ... down``) is the partition: no process dies, no socket is
closed, packets just stop.

Root only (``ip netns`` needs CAP_SYS_ADMIN): skipped, saying why, when not root or when
``ip netns`` does not work here. It takes about 3 s (the process's start, the lease of
1 s, the way back), so it runs in both runtimes (``supervision``: the execution host and
the other strategy host are in this process; the cut-off one runs threads).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import msgspec
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from redis_server import RedisServer
from test_bus_roles import HERE, LEASE, _cli, _Lines, _open_ids, _path, _table, _toml
from trading_helpers import SECRET, TradingEvents

from tradeactors.config import Config
from tradeactors.core.messages import OrderUpdate
from tradeactors.top import bus_rows, parse_scrape
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

STRATEGY = "strategies/bidder/strategy"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("ip") or "ip"
    return subprocess.run(  # noqa: PLW1510 - the callers check
        [binary, *args], capture_output=True, text=True, timeout=10
    )


class Partition:
    """A network namespace joined to the root one by a veth pair, names unique per run."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.namespace = f"ta-part-{tag}"
        self.root_link = f"tar{tag}"  # interface names: 15 characters at most
        self.inner_link = f"tai{tag}"
        # a /30 of 10.0.0.0/8 picked at random: two runs at once do not share one
        net = f"10.{secrets.randbelow(200) + 50}.{secrets.randbelow(256)}"
        self.root_address, self.inner_address = f"{net}.1", f"{net}.2"

    def _must(self, *args: str) -> None:
        done = _ip(*args)
        if done.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")

    def make(self) -> None:
        """The namespace, the veth pair and addresses, both ends up (`RuntimeError` if not)."""
        self._must("netns", "add", self.namespace)
        self._must("link", "add", self.root_link, "type", "veth", "peer", "name", self.inner_link)
        self._must("link", "set", self.inner_link, "netns", self.namespace)
        self._must("addr", "add", f"{self.root_address}/30", "dev", self.root_link)
        self._must("link", "set", self.root_link, "up")
        inside = ("netns", "exec", self.namespace, "ip")
        self._must(*inside, "addr", "add", f"{self.inner_address}/30", "dev", self.inner_link)
        self._must(*inside, "link", "set", self.inner_link, "up")
        self._must(*inside, "link", "set", "lo", "up")

    def cut(self) -> None:
        self._must("link", "set", self.root_link, "down")

    def mend(self) -> None:
        self._must("link", "set", self.root_link, "up")

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return [shutil.which("ip") or "ip", "netns", "exec", self.namespace, *argv]

    def remove(self) -> None:
        """Whatever was made (the names are this run's): the veth pair, the namespace.

        Deleting one end of a veth pair deletes both; what was never made is an error
        of ``ip``, ignored.
        """
        _ip("link", "del", self.root_link)
        _ip("netns", "del", self.namespace)


@pytest.fixture
def partition() -> Iterator[Partition]:
    if os.geteuid() != 0:
        pytest.skip("the partition test needs root (ip netns): not root here")
    if shutil.which("ip") is None:
        pytest.skip("the partition test needs `ip` (iproute2): not installed here")
    made = Partition()
    try:
        try:
            made.make()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"the partition test needs `ip netns` and veth pairs: {exc}")
        yield made
    finally:  # whatever happened: a skip, a failed test, a Ctrl-C
        made.remove()


def _past_lease(registry: CollectorRegistry, peer: str) -> bool:
    """Does `tradeactors top` show ``peer``'s heartbeat past the lease on this host?"""
    snapshot = parse_scrape(generate_latest(registry).decode(), at=0.0)
    (row,) = bus_rows(None, snapshot, lease=LEASE)
    return row.heartbeat is not None and row.heartbeat[0] == peer and row.past_lease


def test_a_strategy_host_cut_off_by_the_network_has_its_orders_cancelled_and_comes_back(  # noqa: PLR0915
    partition: Partition,
    sim_venue: SimExchange,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
):
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis", bind=("127.0.0.1", partition.root_address))
    server.start()
    request.addfinalizer(server.stop)
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    table = _table(sim_venue, server.url, "", other=True)
    table["strategies"][0]["class"] = "bus_strategies:Requoter"  # bids again when cancelled
    registry = CollectorRegistry()

    def start(**bus: object) -> TradingSystem:
        config = msgspec.convert({**table, "bus": {**table["bus"], **bus}}, Config)
        system = TradingSystem(config, registry=registry if bus["role"] == "execution" else None)
        system.start(timeout=20)
        request.addfinalizer(lambda: system.stop(timeout=5))  # the last added, first stopped
        return system

    execution = start(role="execution", host_id="ex")
    events = TradingEvents()
    execution.subscribe(events)
    start(role="strategy", host_id="st-2", strategies=["other"])
    # the strategy host in the namespace reaches Redis at the root end of the veth only
    url = server.url.replace("127.0.0.1", partition.root_address)
    remote = {**table, "bus": {**table["bus"], "url": url}}
    config = tmp_path / "strategy.toml"
    config.write_text(_toml(remote))
    process = subprocess.Popen(
        partition.command(
            _cli(
                "run", "--config", str(config), "--role", "strategy", "--host-id", "st-9",
                "--host-strategies", "bidder", "--duration", "0", "--log-level", "info",
                "--state-dir", str(tmp_path / "state"),
            )
        ),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE,
        env={**os.environ, "PYTHONPATH": _path()},
    )  # fmt: skip
    lines = _Lines(process)
    try:
        assert sim_venue.wait_until(lambda: len(_open_ids(sim_venue)) == 2, 30), (
            f"each strategy host's bid should rest at the venue: {lines.lines[-10:]}"
        )
        (survivor,) = [cid for cid in _open_ids(sim_venue) if cid.startswith("othe")]
        (first,) = [cid for cid in _open_ids(sim_venue) if cid != survivor]

        partition.cut()
        cut_at = time.monotonic()
        assert sim_venue.wait_until(lambda: _open_ids(sim_venue) == [survivor], LEASE + 3), (
            "the cut-off host's bid should be cancelled once its lease expired"
        )
        cancelled_after = time.monotonic() - cut_at
        assert _past_lease(registry, "st-9")  # what `top` shows on the execution host
        lines.wait_for('"bus_down"', 5)  # the strategy host knows it lost the bus
        assert process.poll() is None  # and keeps running: nothing crashed

        partition.mend()
        # the cancel reaches its strategy through the events stream, which bids again
        assert sim_venue.wait_until(lambda: len(_open_ids(sim_venue)) == 2, 15), (
            f"the strategy host should trade again once the link is back: {lines.lines[-10:]}"
        )
        lines.wait_for('"bus_up"', 5)
        (second,) = [cid for cid in _open_ids(sim_venue) if cid != survivor]
        assert second != first
        accepted = events.wait_for(OrderUpdate, 2, status="accepted", owner=STRATEGY, timeout=5)
        assert [u.client_order_id for u in accepted] == [first, second]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        lines.join()
        sys.stderr.write("\n".join(lines.lines[-40:]))
    # when the lease ran out (its last heartbeat was at most 0.1 s before the cut), not
    # before; after it, the monitor's next read and the cancel's round trip to the venue
    assert LEASE - 0.2 < cancelled_after < LEASE + 2, cancelled_after
    pending = [u for u in events.of(OrderUpdate, owner=STRATEGY) if u.status == "pending_cancel"]
    assert pending[0].reason == "bus: host st-9 lease expired", pending[0].reason
    assert survivor in _open_ids(sim_venue)  # the other strategy host's: untouched
