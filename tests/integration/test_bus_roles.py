"""Roles over a real redis-server: a market-data, an execution and strategy hosts.

In one process: three `TradingSystem`s with different roles against the simulated
exchange, talking only through Redis. Across processes: a strategy host run as
`tradeactors run --role strategy` and killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import redis
from bus_strategies import SINKS
from redis_server import RedisServer
from trading_helpers import INSTRUMENT, MID, SECRET, SYMBOL, Taker, TradingEvents

from tradeactors.bus import BusCodec, Kind, RedisKillSwitch
from tradeactors.config import Config
from tradeactors.core.book import BookView
from tradeactors.core.messages import (
    AmendOrder,
    CancelOrder,
    GetBook,
    OrderUpdate,
    Side,
    SubmitOrder,
)
from tradeactors.core.risk import TradingState
from tradeactors.errors import ConfigKeyError
from tradeactors.trading.roles import COMMANDS
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

OWNER = "strategies/bidder/strategy"
LEASE = 1.0
HERE = Path(__file__).resolve().parent


def _table(venue: SimExchange, url: str, sink: str, *, other: bool = False) -> dict[str, Any]:
    """A config of the roles tests; ``other``: a second strategy (a `Bidder` 30 under)."""
    strategies: list[dict[str, Any]] = [
        {"name": "bidder", "class": "bus_strategies:Recorder", "params": {"sink": sink}}
    ]
    if other:
        strategies.append(
            {"name": "other", "class": "multi_strategies:Bidder", "params": {"offset": 30}}
        )
    return {
        "venue": {
            "name": "sim",
            "symbol": SYMBOL,
            "trade_url": venue.trade_url,
            "stream_url": venue.ws_url,
            "rest_url": venue.http_url,
            "secret_env": "TRADEACTORS_TEST_SECRET",
        },
        "strategies": strategies,
        "killswitch": {"stale_after": None},
        "execution": {"restart_delay": 0.01, "max_restart_delay": 0.05},
        "risk": {
            "price_collar_bps": None,
            "max_messages": None,
            "max_open_orders": None,
            "max_loss": None,
            "max_denials": None,
        },
        "bus": {
            "url": url,
            "lease": LEASE,
            "heartbeat": 0.1,
            "socket_timeout": 0.5,
            "connect_timeout": 0.25,
            "reconnect_interval": 0.05,
            "block_ms": 50,
            "claim_min_idle_ms": 0,
        },
    }


@pytest.fixture
def hosts(
    sim_venue: SimExchange, bus_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., TradingSystem]]:
    """Start a host: ``hosts(role, host_id, sink=...)``; every one stopped after the test."""
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    started: list[TradingSystem] = []

    def start(
        role: str,
        host: str,
        *,
        sink: str = "",
        lease: float = LEASE,
        other: bool = False,
        strategies: tuple[str, ...] = (),
    ) -> TradingSystem:
        table = _table(sim_venue, bus_url, sink, other=other)
        table["bus"].update(role=role, host_id=host, lease=lease, strategies=strategies)
        system = TradingSystem(msgspec.convert(table, Config)).start(timeout=20)
        started.append(system)
        return system

    yield start
    for system in reversed(started):  # strategy hosts first, the execution host last
        with contextlib.suppress(Exception):
            system.stop(timeout=5)


@pytest.fixture
def sink() -> Iterator[TradingEvents]:
    events = TradingEvents()
    SINKS["test"] = events
    yield events
    SINKS.pop("test", None)


def _open_ids(venue: SimExchange) -> list[str]:
    return sorted(order.client_order_id for order in venue.engine.open_orders("demo"))


def test_orders_of_a_strategy_host_reach_the_venue_and_fills_come_back(
    hosts, sim_venue: SimExchange, sink: TradingEvents
):
    hosts("market-data", "md")
    execution = hosts("execution", "ex")
    strategy = hosts("strategy", "st-1", sink="test")
    assert strategy.trade_url.startswith("the execution host over redis://")
    (accepted,) = sink.wait_for(OrderUpdate, status="accepted", timeout=10)
    assert accepted.owner == OWNER
    assert _open_ids(sim_venue) == [accepted.client_order_id]
    taker = Taker(sim_venue)
    try:
        # a resting ask: the market-data host's book shows it to the strategy host
        taker.request(
            "place", client_order_id="ask", side="sell", type="limit", tif="gtc",
            price=INSTRUMENT.format_price(MID + 100), quantity=INSTRUMENT.format_size(2),
        )  # fmt: skip
        assert sink.wait_until(
            lambda: any(v.asks and v.asks[0][0] == MID + 100 for v in sink.of(BookView)), 10
        ), "the book from the market-data host should reach the strategy"
        taker.request(
            "place", client_order_id="hit", side="sell", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(MID - 10), quantity=INSTRUMENT.format_size(1),
        )  # fmt: skip
    finally:
        taker.close()
    (filled,) = sink.wait_for(OrderUpdate, status="filled", timeout=10)
    assert (filled.client_order_id, filled.fill_quantity) == (accepted.client_order_id, 1)
    sink.wait_for(OrderUpdate, 2, status="accepted", timeout=10)  # its next bid, after the fill
    report = execution.orders()
    assert (report.fills, report.positions.get(SYMBOL)) == (1, 1)
    # the execution host's books come from the bus too: kept at the book's path (the
    # ask rested long before the fill went round; the bid moves with the strategy)
    view = execution.tree.address("market_data/book.BTCUSDT").ask(GetBook(depth=1), timeout=5)
    assert view.asks == ((MID + 100, 2),)
    assert execution.status().position == 1
    denied = [u for u in sink.of(OrderUpdate) if u.status in ("denied", "rejected")]
    assert denied == []


def _entry(order: SubmitOrder, *, host: str, sequence: int, message_id: str) -> dict[bytes, bytes]:
    codec = BusCodec()
    return codec.encode(
        codec.envelope(
            order,
            kind=Kind.COMMAND,
            source_host=host,
            source_path="risk",
            destination="bus/ingress",
            session=1,
            sequence=sequence,
            message_id=message_id,
            timestamp_ns=1,
        )
    )


def test_a_repeated_command_is_one_order(hosts, sim_venue: SimExchange, bus_url: str):
    execution = hosts("execution", "ex")
    events = TradingEvents()
    execution.subscribe(events)
    order = SubmitOrder(
        client_order_id="dup-1", venue="sim", instrument=SYMBOL, side=Side.BUY,
        price=MID - 50, quantity=1, owner=OWNER, timestamp_ns=time.time_ns(),
    )  # fmt: skip
    marker = msgspec.structs.replace(order, client_order_id="dup-2")
    client = redis.Redis.from_url(bus_url)
    try:
        entry = _entry(order, host="st-x", sequence=1, message_id="order:dup-1")
        client.xadd(COMMANDS, entry)
        client.xadd(COMMANDS, entry)  # the same entry twice (an XADD sent again)
        # the same order in another entry (its host restarted and sent it again)
        client.xadd(COMMANDS, _entry(order, host="st-x", sequence=7, message_id=""))
        client.xadd(COMMANDS, _entry(marker, host="st-x", sequence=8, message_id="order:dup-2"))
    finally:
        client.close()
    # read in order: once the marker is at the venue, the repeats were handled
    assert sim_venue.wait_until(lambda: "dup-2" in _open_ids(sim_venue), 10)
    assert _open_ids(sim_venue) == ["dup-1", "dup-2"]
    assert [u for u in events.of(OrderUpdate) if u.status == "denied"] == []
    assert len(execution.orders().orders) == 2


def test_an_order_that_waited_on_the_bus_longer_than_the_lease_is_not_placed(
    hosts, sim_venue: SimExchange, bus_url: str
):
    execution = hosts("execution", "ex")
    now = time.time_ns()
    old = SubmitOrder(
        client_order_id="old-1", venue="sim", instrument=SYMBOL, side=Side.BUY,
        price=MID - 50, quantity=1, owner=OWNER, timestamp_ns=now - int((LEASE + 1) * 1e9),
    )  # fmt: skip
    fresh = msgspec.structs.replace(old, client_order_id="new-1", timestamp_ns=now)
    client = redis.Redis.from_url(bus_url)
    try:
        client.xadd(COMMANDS, _entry(old, host="st-x", sequence=1, message_id="order:old-1"))
        client.xadd(COMMANDS, _entry(fresh, host="st-x", sequence=2, message_id="order:new-1"))
    finally:
        client.close()
    assert sim_venue.wait_until(lambda: "new-1" in _open_ids(sim_venue), 10)
    assert _open_ids(sim_venue) == ["new-1"]
    assert [o.client_order_id for o in execution.orders().orders] == ["new-1"]


def test_commands_that_act_for_no_strategy_or_for_another_hosts_are_refused(
    hosts, sim_venue: SimExchange, bus_url: str
):
    """A probe found: an order without owner placed and never cancelled; any host able to
    cancel another's order; an order stamped in the future taken as fresh."""
    hosts("execution", "ex", other=True)
    now = time.time_ns()
    mine = SubmitOrder(
        client_order_id="mine-1", venue="sim", instrument=SYMBOL, side=Side.BUY,
        price=MID - 50, quantity=1, owner=OWNER, timestamp_ns=now,
    )  # fmt: skip
    orphan = msgspec.structs.replace(mine, client_order_id="orphan-1", owner="")
    future = msgspec.structs.replace(
        mine, client_order_id="future-1", timestamp_ns=now + int((LEASE + 60) * 1e9)
    )
    taken = msgspec.structs.replace(mine, owner="strategies/other/strategy")  # mine-1's id
    marker = msgspec.structs.replace(
        mine, client_order_id="marker", owner="strategies/other/strategy"
    )
    commands = [
        (mine, "st-1"),
        (orphan, "ghost"),  # no owner: refused
        (future, "st-1"),  # its clock is off by more than the lease: refused
        (CancelOrder(client_order_id="mine-1"), "intruder"),  # st-1's order: refused
        (AmendOrder(client_order_id="mine-1", price=MID - 49, quantity=1, owner=""), "intruder"),
        (taken, "st-2"),  # another strategy's client order id: refused
        (marker, "st-2"),
    ]
    client = redis.Redis.from_url(bus_url)
    try:
        for sequence, (command, host) in enumerate(commands, start=1):
            client.xadd(COMMANDS, _entry(command, host=host, sequence=sequence, message_id=""))
    finally:
        client.close()
    # read in order: once the marker is at the venue, every command before it was handled
    assert sim_venue.wait_until(lambda: "marker" in _open_ids(sim_venue), 10)
    assert _open_ids(sim_venue) == ["marker", "mine-1"]
    (resting,) = [o for o in sim_venue.open_orders("demo") if o.client_order_id == "mine-1"]
    assert resting.price == MID - 50  # not amended


def _wait_for_commands(url: str, host: str, count: int) -> None:
    """Wait (blocking reads) until ``count`` entries of ``host`` are in the commands stream."""
    codec, last, seen = BusCodec(), "0-0", 0
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            for _, entries in client.xread({COMMANDS: last}, block=1000) or ():
                for entry_id, fields in entries:
                    last = entry_id
                    seen += codec.decode(fields)[0].source_host == host
                    if seen >= count:
                        return
    finally:
        client.close()
    raise AssertionError(f"not {count} commands of {host} in 10 s")


def test_a_strategy_run_by_two_hosts_stays_with_the_first(
    hosts, sim_venue: SimExchange, sink: TradingEvents, bus_url: str
):
    hosts("execution", "ex", other=True)
    hosts("strategy", "st-1", sink="test", other=True, strategies=("bidder",))
    (accepted,) = sink.wait_for(OrderUpdate, status="accepted", timeout=10)
    hosts("strategy", "st-2", sink="test", other=True, strategies=("bidder",))  # a mistake
    _wait_for_commands(bus_url, "st-2", 2)  # its strategy's cancel-all at start, its bid
    marker = SubmitOrder(
        client_order_id="marker", venue="sim", instrument=SYMBOL, side=Side.BUY,
        price=MID - 60, quantity=1, owner="strategies/other/strategy",
        timestamp_ns=time.time_ns(),
    )  # fmt: skip
    client = redis.Redis.from_url(bus_url)
    try:
        client.xadd(COMMANDS, _entry(marker, host="st-3", sequence=1, message_id="order:marker"))
    finally:
        client.close()
    # read in order: once the marker is at the venue, st-2's commands were handled
    assert sim_venue.wait_until(lambda: "marker" in _open_ids(sim_venue), 10)
    # st-1's bid was neither cancelled by st-2's start nor joined by st-2's bid
    assert _open_ids(sim_venue) == sorted([accepted.client_order_id, "marker"])


def test_the_kill_switch_of_the_execution_host_reaches_the_strategy_host(
    hosts, sim_venue: SimExchange, sink: TradingEvents, bus_url: str
):
    execution = hosts("execution", "ex")
    strategy = hosts("strategy", "st-1", sink="test")
    sink.wait_for(OrderUpdate, status="accepted", timeout=10)
    changed = threading.Condition()
    states: list[TradingState] = []

    def heard(change: Any) -> None:
        with changed:
            states.append(change.state)
            changed.notify_all()

    strategy.gate.subscribe(heard)
    execution.kill("operator test")
    with changed:
        assert changed.wait_for(lambda: TradingState.HALTED in states, 5), states
    assert strategy.gate.state is TradingState.HALTED
    client = redis.Redis.from_url(bus_url)
    try:
        assert RedisKillSwitch(client).state() is TradingState.HALTED  # latched in Redis
    finally:
        client.close()
    assert sim_venue.wait_until(lambda: _open_ids(sim_venue) == [], 10)
    execution.reset(by="test", reason="all clear")
    with changed:
        assert changed.wait_for(lambda: states[-1] is TradingState.ACTIVE, 5), states
    assert strategy.gate.state is TradingState.ACTIVE


def test_an_execution_host_cut_off_from_the_bus_cancels_the_remote_orders(
    hosts, sim_venue: SimExchange, sink: TradingEvents, redis_server
):
    execution = hosts("execution", "ex")
    events = TradingEvents()
    execution.subscribe(events)
    hosts("strategy", "st-1", sink="test")
    (accepted,) = sink.wait_for(OrderUpdate, status="accepted", timeout=10)
    redis_server.kill()  # no host hears another: none can watch the strategy's orders
    try:
        assert sim_venue.wait_until(lambda: _open_ids(sim_venue) == [], LEASE + 3), (
            "the remote strategy's orders should be cancelled once the lease is over"
        )
    finally:
        redis_server.start()
    (update,) = events.wait_for(
        OrderUpdate, status="pending_cancel", client_order_id=accepted.client_order_id
    )
    assert update.reason.startswith("bus: "), update.reason
    assert execution.gate.state is TradingState.ACTIVE  # the venue side is fine: only cancelled


@pytest.mark.parametrize("aof", [True, False], ids=["aof", "no-persistence"])
def test_the_roles_go_on_across_a_restart_of_redis(  # noqa: PLR0917
    sim_venue: SimExchange, sink: TradingEvents, tmp_path: Path, monkeypatch, request, aof
):
    server = RedisServer(tmp_path / "redis", aof=aof)
    (tmp_path / "redis").mkdir()
    server.start()
    request.addfinalizer(server.stop)
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)

    def start(role: str, host: str) -> TradingSystem:
        table = _table(sim_venue, server.url, "test")
        table["bus"].update(role=role, host_id=host, lease=10.0)  # longer than the restart
        system = TradingSystem(msgspec.convert(table, Config)).start(timeout=20)
        request.addfinalizer(lambda: system.stop(timeout=5))  # the last added, first stopped
        return system

    execution = start("execution", "ex")
    start("strategy", "st-1")
    (accepted,) = sink.wait_for(OrderUpdate, status="accepted", timeout=10)
    server.kill()
    # with AOF the streams, their groups and positions come back; without, the bridges
    # make their groups again, from the start of what is added after the restart
    server.start()
    taker = Taker(sim_venue)
    try:
        taker.request(
            "place", client_order_id="hit", side="sell", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(MID - 10), quantity=INSTRUMENT.format_size(1),
        )  # fmt: skip
    finally:
        taker.close()
    (filled,) = sink.wait_for(OrderUpdate, status="filled", timeout=10)
    assert filled.client_order_id == accepted.client_order_id
    (_, second) = sink.wait_for(OrderUpdate, 2, status="accepted", timeout=10)  # its next bid
    assert _open_ids(sim_venue) == [second.client_order_id]  # nothing cancelled, nothing doubled
    assert execution.orders().fills == 1
    assert [u for u in sink.of(OrderUpdate) if u.status in ("denied", "cancelled")] == []


def _cli(*args: str) -> list[str]:
    code = "import sys; from tradeactors.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, *args]


def test_a_killed_strategy_host_has_its_orders_cancelled_within_the_lease(
    hosts, sim_venue: SimExchange, bus_url: str, tmp_path: Path
):
    execution = hosts("execution", "ex", other=True)
    events = TradingEvents()
    execution.subscribe(events)
    hosts("strategy", "st-2", other=True, strategies=("other",))  # the one that lives on
    config = tmp_path / "strategy.toml"
    config.write_text(_toml(_table(sim_venue, bus_url, "", other=True)))
    env = {**os.environ, "PYTHONPATH": _path()}
    process = subprocess.Popen(
        _cli(
            "run", "--config", str(config), "--role", "strategy", "--host-id", "st-9",
            "--host-strategies", "bidder", "--duration", "0",
            "--state-dir", str(tmp_path / "state"),
        ),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=HERE,
    )  # fmt: skip
    try:
        assert sim_venue.wait_until(lambda: len(_open_ids(sim_venue)) == 2, 30), (
            "each strategy host's bid should rest at the venue"
        )
        (survivor,) = [cid for cid in _open_ids(sim_venue) if cid.startswith("othe")]
        process.send_signal(signal.SIGKILL)  # no on_stop, no cancel: only the lease is left
        process.wait(10)
        assert sim_venue.wait_until(lambda: _open_ids(sim_venue) == [survivor], LEASE + 3), (
            "its orders should be cancelled once its lease expired"
        )
    finally:
        if process.poll() is None:
            process.kill()
        _out, err = process.communicate(timeout=10)
        sys.stderr.write(err[-4000:])
    cancelled = events.wait_for(OrderUpdate, status="cancelled", timeout=5)
    assert [u.owner for u in cancelled] == [OWNER]
    pending = [u for u in events.of(OrderUpdate) if u.status == "pending_cancel"]
    assert [u.reason for u in pending] == ["bus: host st-9 lease expired"]
    assert _open_ids(sim_venue) == [survivor]  # the other strategy host's: untouched


class _Lines:
    """A process's stdout lines, with a wait on one."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._process = process
        self._cond = threading.Condition()
        self.lines: list[str] = []
        self._ended = False
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> None:
        with self._cond:
            found = self._cond.wait_for(
                lambda: any(text in line for line in self.lines) or self._ended, timeout
            )
            found = any(text in line for line in self.lines)
        assert found, f"no line with {text!r} in {timeout} s: {self.lines[-10:]}"

    def join(self) -> None:
        self._thread.join(10)
        if self._process.stdout is not None:
            self._process.stdout.close()


def _restartable_execution_host(  # noqa: PLR0917 - the tests' fixtures, passed on
    sim_venue: SimExchange,
    bus_url: str,
    tmp_path: Path,
    hosts: Callable[..., Any],
    request: pytest.FixtureRequest,
    lease: float,
) -> tuple[Taker, Callable[[], tuple[subprocess.Popen[str], _Lines]]]:
    """A two-sided book, a market-data host, and what starts the execution host ``ex``.

    Each call starts it anew on the same config and journal (a restart), once it trades.
    The taker's two orders stay at the venue to the end (risk's collar needs a reference).
    """
    taker = Taker(sim_venue)  # open to the end: its orders go with its session
    request.addfinalizer(taker.close)
    for cid, side, price in (("b", "buy", MID - 50), ("a", "sell", MID + 50)):
        taker.request(
            "place", client_order_id=cid, side=side, type="limit", tif="gtc",
            price=INSTRUMENT.format_price(price), quantity=INSTRUMENT.format_size(1),
        )  # fmt: skip
    hosts("market-data", "md", lease=lease)
    table = _table(sim_venue, bus_url, "")
    table["bus"]["lease"] = lease
    config = tmp_path / "execution.toml"
    config.write_text(_toml(table))
    journal = tmp_path / "execution.sqlite"

    def execution() -> tuple[subprocess.Popen[str], _Lines]:
        process = subprocess.Popen(
            _cli(
                "run", "--config", str(config), "--role", "execution", "--host-id", "ex",
                "--journal", str(journal), "--duration", "0",
                "--state-dir", str(tmp_path / "state"),
            ),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE,
            env={**os.environ, "TRADEACTORS_TEST_SECRET": SECRET, "PYTHONPATH": _path()},
        )  # fmt: skip
        lines = _Lines(process)
        lines.wait_for("tradeactors: trading", 30)
        return process, lines

    return taker, execution


def test_an_execution_host_killed_and_restarted_places_what_waited_once(  # noqa: PLR0917
    hosts, sim_venue: SimExchange, sink: TradingEvents, bus_url: str, tmp_path: Path, request
):
    lease = 30.0  # longer than a restart of the execution host (under load): what waited goes
    _taker, execution = _restartable_execution_host(
        sim_venue, bus_url, tmp_path, hosts, request, lease
    )

    first, first_lines = execution()
    try:
        hosts("strategy", "st-1", sink="test", lease=lease)
        (accepted,) = sink.wait_for(OrderUpdate, status="accepted", timeout=10)
        first.send_signal(signal.SIGKILL)  # its session drops: the venue cancels its orders
        first.wait(10)
        assert sim_venue.wait_until(
            lambda: accepted.client_order_id not in _open_ids(sim_venue), 10
        )
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
        first_lines.join()
    # while it is down: a new order, and the first one again in another entry
    now = time.time_ns()
    again = SubmitOrder(
        client_order_id=accepted.client_order_id, venue="sim", instrument=SYMBOL,
        side=Side.BUY, price=accepted.price, quantity=1, owner=OWNER, timestamp_ns=now,
    )  # fmt: skip
    waited = msgspec.structs.replace(again, client_order_id="waited-1")
    client = redis.Redis.from_url(bus_url)
    try:
        client.xadd(COMMANDS, _entry(again, host="st-1", sequence=90, message_id=""))
        client.xadd(COMMANDS, _entry(waited, host="st-1", sequence=91, message_id="order:waited-1"))
    finally:
        client.close()
    second, lines = execution()
    try:
        assert sim_venue.wait_until(lambda: "waited-1" in _open_ids(sim_venue), 10)
        sink.wait_for(OrderUpdate, status="accepted", client_order_id="waited-1", timeout=10)
        assert accepted.client_order_id not in _open_ids(sim_venue)  # not placed again
        denied = [u.reason for u in sink.of(OrderUpdate) if u.status == "denied"]
        assert denied == []  # and not denied as a duplicate either: dropped before
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(30)
        lines.join()
    assert "orders still open at the venue: 0" in lines.lines, (code, "\n".join(lines.lines))
    assert code == 0


def _wait_for_book(url: str, predicate: Callable[[BookView], bool]) -> None:
    """Wait (a blocking read of the stream) until the market-data host published such a book."""
    stream, codec, last = f"md:sim:book:{SYMBOL}", BusCodec(), "0-0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            for _, entries in client.xread({stream: last}, block=1000) or ():
                for entry_id, fields in entries:
                    last = entry_id
                    view = codec.decode(fields)[1]
                    if isinstance(view, BookView) and predicate(view):
                        return
    finally:
        client.close()
    raise AssertionError("no such book from the market-data host in 10 s")


def _path() -> str:
    """PYTHONPATH of a ``tradeactors run`` of these tests: their strategies importable."""
    return os.pathsep.join([str(HERE), *sys.path])


def _toml(table: dict[str, Any]) -> str:
    lines = []
    for section in ("venue", "killswitch", "execution", "risk", "bus"):
        lines.append(f"[{section}]")
        # no null in TOML: staleness off is 0; a limit is left out (then the default's)
        values = {**table[section]}
        if section == "killswitch":
            values["stale_after"] = values["stale_after"] or 0
        items = [(key, value) for key, value in values.items() if value is not None]
        lines += [f"{key} = {_value(value)}" for key, value in items]
    for entry in table["strategies"]:
        lines += ["[[strategies]]", f'name = "{entry["name"]}"', f'class = "{entry["class"]}"']
    return "\n".join(lines) + "\n"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


@pytest.fixture
def cli_run() -> Iterator[Callable[..., int]]:
    """`tradeactors run` in this process; the test session's logging set back after.

    (``run`` configures logging to the stderr of the moment: pytest's capture, closed
    after the test.)
    """
    from tradeactors import cli
    from tradeactors.observability import configure_logging

    yield lambda *argv: cli.main(["run", *argv])
    configure_logging(level="debug", json=True, stream=io.StringIO())


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--role", "strategy"], 'role: "strategy" needs the bus'),
        (["--role", "execution", "--bus", "http://h:1"], "expected redis://host:port/db"),
        (["--role", "strategy", "--bus", "redis://u:pw@h:x/0"], "redis://u:***@h:x/0"),
        (["--bus", "redis://127.0.0.1/0", "--role", "strategy", "--host-id", "a/b"], "host_id"),
    ],
)
def test_run_with_a_role_refuses_a_mistake_in_one_line(argv, said, capsys, cli_run):
    assert cli_run(*argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert said in line
    assert "pw" not in line  # a password is never shown


def test_run_with_a_role_and_no_redis_there_is_one_line(capsys, cli_run):
    from redis_server import free_port

    url = f"redis://:secretpw@127.0.0.1:{free_port()}/0"  # nothing listens there
    assert cli_run("--role", "strategy", "--bus", url, "--host-id", "st-1") == 2
    line = _one_line(capsys.readouterr().err)
    assert "cannot reach the bus at redis://:***@127.0.0.1:" in line
    assert "secretpw" not in line


def test_a_bus_section_with_mistakes_is_refused_key_by_key(tmp_path):
    from tradeactors.config import load_config
    from tradeactors.errors import InvalidConfigError

    path = tmp_path / "bus.toml"
    path.write_text(
        '[bus]\nurl = "redis://ops:pw@127.0.0.1:x/0"\nrole = "strategy"\nhost_id = "a b"\n'
        "lease = 0.5\nheartbeat = 0.5\nblock_ms = 2000\n"
    )
    with pytest.raises(InvalidConfigError) as raised:
        load_config(path)
    lines = str(raised.value).splitlines()
    assert [line.split("] ", 1)[1].split(":", 1)[0] for line in lines] == [
        "url",
        "host_id",
        "lease",
    ]
    assert "pw" not in str(raised.value)
    path.write_text('[bus]\nrole = "execution"\n')
    with pytest.raises(InvalidConfigError, match='role: "execution" needs the bus'):
        load_config(path)


def test_a_strategy_host_runs_only_configured_strategies(sim_venue, bus_url):
    table = _table(sim_venue, bus_url, "")
    table["bus"].update(role="strategy", host_id="st-1", strategies=["bidder", "nope"])
    with pytest.raises(ConfigKeyError, match="'nope' not configured; configured: bidder"):
        TradingSystem(msgspec.convert(table, Config))
