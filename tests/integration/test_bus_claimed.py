"""An execution host killed with commands pending on the bus, restarted from its journal.

The execution host is a `tradeactors run --role execution --journal ...` process; the
market-data and strategy hosts are `TradingSystem`s in this process (the helpers and
fixtures of test_bus_roles.py). The host is frozen (SIGSTOP), commands are left in the
commands stream the ways a crash leaves them, and it is killed (SIGKILL):

- read by it and never acknowledged (in its consumer's pending list: the restarted
  host, the same consumer name, reads its own pending entries first);
- read by another consumer of the group that is gone (claimed with XAUTOCLAIM);
- not read at all, and the first of them again in another entry (a repeat).

The "read" is an XREADGROUP as that consumer, from here, while the host is frozen:
Redis cannot tell it from the host's own read (a read the frozen host had blocked on
may take the entry first; either way it is in the host's pending list, which is checked
before the kill).
"""

from __future__ import annotations

import os
import re
import signal
import time
from typing import TYPE_CHECKING

import pytest
import redis
from test_bus_roles import (  # noqa: F401 - hosts, sink: fixtures
    OWNER,
    _entry,
    _Lines,
    _open_ids,
    _restartable_execution_host,
    hosts,
    sink,
)
from trading_helpers import INSTRUMENT, MID, SYMBOL, TradingEvents

from tradeactors.core.messages import OrderUpdate, Side, SubmitOrder
from tradeactors.top import bus_rows, fetch_snapshot
from tradeactors.trading.roles import COMMANDS, EXECUTION_GROUP

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

_METRICS = re.compile(r"metrics (http://\S+/metrics)")


def _order(client_order_id: str) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=client_order_id, venue="sim", instrument=SYMBOL, side=Side.BUY,
        price=MID - 40, quantity=1, owner=OWNER, timestamp_ns=time.time_ns(),
    )  # fmt: skip


def _wait_stopped(pid: int) -> None:
    """Until our child ``pid`` has stopped (SIGSTOP is delivered, not obeyed, at once).

    ``waitid`` for its stop only (it stays a child, not reaped). A read it had blocked in
    Redis before may still be served (the reply waits in its socket): that one is its
    own pending entry.
    """
    stopped = os.waitid(os.P_PID, pid, os.WSTOPPED)
    assert stopped is not None
    assert stopped.si_code == os.CLD_STOPPED, stopped


def test_an_execution_host_killed_with_commands_pending_claims_them_and_places_each_once(  # noqa: PLR0915, PLR0917
    hosts,  # noqa: F811 - the fixture imported from test_bus_roles
    sim_venue: SimExchange,
    sink: TradingEvents,  # noqa: F811
    bus_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
):
    lease = 30.0  # longer than a restart of the execution host (under load)
    taker, start = _restartable_execution_host(sim_venue, bus_url, tmp_path, hosts, request, lease)

    def execution() -> tuple[subprocess.Popen[str], _Lines, str]:
        process, lines = start()
        lines.wait_for(" metrics http://", 5)
        (url,) = {m.group(1) for line in lines.lines if (m := _METRICS.search(line))}
        return process, lines, url

    client = redis.Redis.from_url(bus_url)
    request.addfinalizer(client.close)

    def add(client_order_id: str, sequence: int, message_id: str) -> bytes:
        """An order of st-1's strategy in the commands stream, as its bridge adds one."""
        entry = _entry(
            _order(client_order_id), host="st-1", sequence=sequence, message_id=message_id
        )
        entry_id: bytes = client.xadd(COMMANDS, entry)
        return entry_id

    first, first_lines, _ = execution()
    try:
        hosts("strategy", "st-1", sink="test", lease=lease)
        (accepted,) = sink.wait_for(OrderUpdate, status="accepted", timeout=10)
        taker.request(
            "place", client_order_id="hit", side="sell", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(MID - 10), quantity=INSTRUMENT.format_size(1),
        )  # fmt: skip
        sink.wait_for(OrderUpdate, status="filled", timeout=10)  # long 1: in the journal
        sink.wait_for(OrderUpdate, 2, status="accepted", timeout=10)  # its next bid
        first.send_signal(signal.SIGSTOP)  # frozen: it reads and acknowledges nothing more
        _wait_stopped(first.pid)  # a busy CPU may run it a few ms more: consuming what comes
        read = add("p-read", 80, "order:p-read")
        client.xreadgroup(EXECUTION_GROUP, "ex", {COMMANDS: ">"}, count=1)  # its read
        dead = add("p-dead", 81, "order:p-dead")
        client.xreadgroup(EXECUTION_GROUP, "ex-old", {COMMANDS: ">"}, count=1)  # a dead one's
        add("p-new", 82, "order:p-new")
        add("p-read", 83, "")  # the same order again, in another entry
        add("marker", 84, "order:marker")
        pending = client.xpending_range(COMMANDS, EXECUTION_GROUP, min="-", max="+", count=10)
        owners = {entry["message_id"]: entry["consumer"] for entry in pending}
        assert (owners.get(read), owners.get(dead)) == (b"ex", b"ex-old"), owners
        first.send_signal(signal.SIGKILL)  # its session drops: the venue cancels its orders
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
        first_lines.join()
    assert sim_venue.wait_until(lambda: _open_ids(sim_venue) == [], 10), _open_ids(sim_venue)

    second, lines, metrics = execution()
    try:
        # read in order: once the marker is at the venue, everything before it was handled
        assert sim_venue.wait_until(lambda: "marker" in _open_ids(sim_venue), 15), lines.lines[-10:]
        assert _open_ids(sim_venue) == ["marker", "p-dead", "p-new", "p-read"]
        for cid in ("p-read", "p-dead", "p-new", "marker"):
            sink.wait_for(OrderUpdate, status="accepted", client_order_id=cid, timeout=10)
        refused = [u for u in sink.of(OrderUpdate) if u.status in ("denied", "rejected")]
        assert refused == []  # the repeat was dropped before the venue: no duplicate id there
        assert client.xpending(COMMANDS, EXECUTION_GROUP)["pending"] == 0  # all acknowledged
        snapshot = fetch_snapshot(metrics)
        (row,) = bus_rows(None, snapshot)
        assert (row.host, row.role) == ("ex", "execution")
        assert row.redelivered == 2  # its own pending entry read again, the dead one's claimed
        assert row.duplicates == 1  # p-read in its second entry, dropped by the ingress
        # positions from the journal, as the venue has them
        assert snapshot.positions[SYMBOL] == sim_venue.engine.position("demo", SYMBOL) == 1
        assert len(sink.of(OrderUpdate, status="accepted", client_order_id="p-read")) == 1
        assert accepted.client_order_id not in _open_ids(sim_venue)  # filled, not placed again
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(30)
        lines.join()
    assert "orders still open at the venue: 0" in lines.lines, lines.lines[-5:]
    assert code == 0
