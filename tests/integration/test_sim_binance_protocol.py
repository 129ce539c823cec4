"""The simulated exchange speaking Binance spot, over real sockets on 127.0.0.1.

Two independent clients drive it: `DocClient`, a Binance WebSocket API client written
here from web-socket-api.md alone (it shares nothing with the venue's code or with the
Binance adapter in ``tradeactors.venues``), and Binance's own Python SDK
(``binance-sdk-spot``), when it is installed. The market is still: the venue's clock
is a `FakeClock` that never moves (so rate-limit intervals are deterministic) and the
background liquidity is two orders, one tick either side of the mid, that never change.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib.util
import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
import websocket

from tradeactors.clock import FakeClock, SystemClock
from tradeactors.core.instrument import Instrument
from tradeactors.errors import ConfigError
from tradeactors.exchange.binance_api import RateLimits
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.server import MAX_FRAME_BYTES, SimExchange
from tradeactors.supervision.runtime import current_runtime

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.supervision  # also run under the gevent runtime in CI
SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")
KEYS = {"alice": "alice-secret", "bob": "bob-secret"}
# the mid is 1000.00; the background (seed 2) bids 999.99 and asks 1000.01, nothing else
SEED = 2
STILL = LiquidityConfig(
    start_mid=100_000, depth_ticks=1, volatility=0.0, limit_rate=0.0, cancel_rate=0.0,
    market_rate=0.0,
)  # fmt: skip


class DocClient:
    """A Binance WebSocket API client written from web-socket-api.md.

    Requests are ``{"id", "method", "params"}``; SIGNED ones carry ``apiKey``,
    ``timestamp`` and ``signature``: the hex HMAC-SHA256 of the other parameters sorted
    by name, as ``name=value`` joined by ``&``. The timestamp is the server's time as
    the ``time`` method gave it at connection (the test venue's clock stands still).
    """

    def __init__(self, url: str, *, server_ms: int | None = None) -> None:
        self.ws = websocket.create_connection(url, timeout=5)
        self.events: list[dict[str, Any]] = []  # user data stream payloads, in order
        self._ids = 0
        if server_ms is None:
            server_ms = self.call("time")["result"]["serverTime"]
        self.server_ms = server_ms

    def call(self, method: str, key: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one request and return its answer (events that arrive first are kept)."""
        self._ids += 1
        if key is not None:
            params = {**params, "apiKey": key, "timestamp": self.server_ms}
            payload = "&".join(f"{name}={params[name]}" for name in sorted(params))
            secret = KEYS.get(key, "wrong").encode()
            params["signature"] = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
        request: dict[str, Any] = {"id": self._ids, "method": method}
        if params:
            request["params"] = params
        self.ws.send(json.dumps(request))
        return self.answer(self._ids)

    def answer(self, request_id: int | None) -> dict[str, Any]:
        while True:
            message = json.loads(self.ws.recv())
            if "event" in message:
                self.events.append(message["event"])
            elif message.get("id") == request_id:
                return message

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first user data event (kept or next to arrive) that ``predicate`` accepts."""
        seen = 0
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            message = json.loads(self.ws.recv())
            if "event" in message:
                self.events.append(message["event"])

    def place(self, key: str, **params: Any) -> dict[str, Any]:
        order = {"symbol": "SIMUSDT", "type": "LIMIT", "timeInForce": "GTC", **params}
        return self.call("order.place", key, **order)

    def close_code(self) -> int:
        """Read until the venue closes the connection; its close code."""
        while True:
            opcode, frame = self.ws.recv_data_frame(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return int.from_bytes(frame.data[:2], "big")

    def close(self) -> None:
        with contextlib.suppress(websocket.WebSocketException, OSError):
            self.ws.close(timeout=1)
        self.ws.shutdown()  # the socket, also when the venue closed first


@pytest.fixture
def make_exchange() -> Iterator[Callable[..., SimExchange]]:
    """Start Binance-speaking exchanges on a still clock; each is closed after the test."""
    clock = FakeClock()
    started: list[SimExchange] = []

    def make(**overrides: Any) -> SimExchange:
        settings: dict[str, Any] = {
            "protocol": "binance", "keys": KEYS, "liquidity": STILL, "seed": SEED,
            "interval": 0.01, **overrides,
        }  # fmt: skip
        started.append(SimExchange(SIM, clock, **settings).start())
        return started[-1]

    try:
        yield make
    finally:
        for venue in started:
            venue.close()
        clock.close()


@pytest.fixture
def exchange(make_exchange: Callable[..., SimExchange]) -> SimExchange:
    return make_exchange()


@pytest.fixture
def connect(exchange: SimExchange) -> Iterator[Callable[..., DocClient]]:
    clients: list[DocClient] = []

    def make(url: str | None = None) -> DocClient:
        clients.append(DocClient(url or exchange.trade_url))
        return clients[-1]

    try:
        yield make
    finally:
        for client in clients:
            client.close()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url) as answer:  # noqa: S310 - loopback http
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, json.loads(refused.read())


def test_order_entry_is_served_at_binances_path(exchange):
    assert exchange.trade_url.endswith("/ws-api/v3")
    assert exchange.protocol == "binance"


def test_the_rest_endpoints_answer_as_binance_does(exchange):
    base = exchange.http_url
    status, info = get(f"{base}/api/v3/exchangeInfo?symbol=SIMUSDT")
    assert status == 200
    (symbol,) = info["symbols"]
    filters = {f["filterType"]: f for f in symbol["filters"]}
    assert (filters["PRICE_FILTER"]["tickSize"], filters["LOT_SIZE"]["stepSize"]) == (
        "0.01000000", "0.00100000",
    )  # fmt: skip
    assert get(f"{base}/api/v3/exchangeInfo?symbol=BTCUSDT") == (
        400, {"code": -1121, "msg": "Invalid symbol."},
    )  # fmt: skip
    assert get(f"{base}/api/v3/time") == (200, {"serverTime": 1_700_000_000_000})
    assert get(f"{base}/api/v3/ping") == (200, {})
    status, depth = get(f"{base}/api/v3/depth?symbol=SIMUSDT&limit=5")
    assert (status, depth["bids"][0][0], depth["asks"][0][0]) == (200, "999.99", "1000.01")
    assert get(f"{base}/api/v3/nothing")[0] == 404


def test_place_fill_partial_fill_cancel_and_cancel_all(exchange, connect):
    alice, bob = connect(), connect()
    assert alice.call("userDataStream.subscribe.signature", "alice")["result"] == {
        "subscriptionId": 0
    }
    bid = alice.place(
        "alice", side="BUY", price="1000.00", quantity="0.005", newClientOrderId="bid-1"
    )
    assert bid["result"]["status"] == "NEW"
    assert alice.wait_event(lambda e: e["x"] == "NEW")["c"] == "bid-1"

    sold = bob.place("bob", side="SELL", price="1000.00", quantity="0.002", timeInForce="IOC")
    assert (sold["result"]["status"], sold["result"]["executedQty"]) == ("FILLED", "0.00200000")
    partial = alice.wait_event(lambda e: e["x"] == "TRADE")
    assert (partial["X"], partial["l"], partial["z"], partial["m"]) == (
        "PARTIALLY_FILLED", "0.00200000", "0.00200000", True,
    )  # fmt: skip
    assert partial["t"] == sold["result"]["fills"][0]["tradeId"]

    bob.place("bob", side="SELL", price="1000.00", quantity="0.003", timeInForce="IOC")
    filled = alice.wait_event(lambda e: e["x"] == "TRADE" and e["X"] == "FILLED")
    assert filled["z"] == "0.00500000"
    trades = alice.call("myTrades", "alice", symbol="SIMUSDT", fromId=1)["result"]
    assert [t["qty"] for t in trades] == ["0.00200000", "0.00300000"]

    for n in (1, 2):
        alice.place("alice", side="BUY", price="900.00", quantity="0.001", newClientOrderId=f"o{n}")
    cancelled = alice.call("order.cancel", "alice", symbol="SIMUSDT", origClientOrderId="o1")
    assert cancelled["result"]["status"] == "CANCELED"
    everything = alice.call("openOrders.cancelAll", "alice", symbol="SIMUSDT")
    assert [o["origClientOrderId"] for o in everything["result"]] == ["o2"]
    assert alice.call("openOrders.cancelAll", "alice", symbol="SIMUSDT")["error"] == {
        "code": -2011, "msg": "Unknown order sent.",
    }  # fmt: skip
    assert not exchange.open_orders("alice")
    assert exchange.requests("alice", "place") == 3


def test_amend_keeps_priority_and_cancel_replace_moves_the_order(exchange, connect):
    alice = connect()
    order = alice.place("alice", side="BUY", price="950.00", quantity="0.005")["result"]
    amended = alice.call(
        "order.amend.keepPriority", "alice", symbol="SIMUSDT", orderId=order["orderId"],
        newQty="0.003",
    )  # fmt: skip
    assert amended["result"]["amendedOrder"]["qty"] == "0.00300000"
    replaced = alice.call(
        "order.cancelReplace", "alice", symbol="SIMUSDT", cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrderId=order["orderId"], side="BUY", type="LIMIT", timeInForce="GTC",
        price="960.00", quantity="0.003",
    )  # fmt: skip
    assert (replaced["result"]["cancelResult"], replaced["result"]["newOrderResult"]) == (
        "SUCCESS", "SUCCESS",
    )  # fmt: skip
    (view,) = exchange.open_orders("alice")
    assert (view.price, view.remaining) == (96_000, 3)


def test_rejects_carry_binances_codes(connect):
    alice = connect()
    maker = alice.call(
        "order.place", "alice", symbol="SIMUSDT", side="BUY", type="LIMIT_MAKER",
        price="1000.01", quantity="0.001",
    )  # fmt: skip
    assert maker["error"] == {"code": -2010, "msg": "Order would immediately match and take."}
    off_tick = alice.place("alice", side="BUY", price="999.001", quantity="0.001")
    assert off_tick["error"] == {"code": -1013, "msg": "Filter failure: PRICE_FILTER"}


def test_a_bad_signature_is_refused_and_the_connection_serves_on(connect):
    client = connect()
    refused = client.place("mallory", side="BUY", price="900.00", quantity="0.001")
    assert (refused["status"], refused["error"]["code"]) == (401, -2015)
    client.ws.send(
        json.dumps({
            "id": "forged", "method": "order.place",
            "params": {
                "symbol": "SIMUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                "price": "900.00", "quantity": "0.001", "apiKey": "alice",
                "timestamp": client.server_ms, "signature": "0" * 64,
            },
        })
    )  # fmt: skip
    forged = client.answer("forged")
    assert forged["error"] == {"code": -1022, "msg": "Signature for this request is not valid."}
    assert client.call("ping")["status"] == 200


def test_a_dropped_connection_leaves_its_orders_working(exchange, connect):
    """Binance spot has no cancel-on-disconnect: the next session must cancel."""
    first = connect()
    first.place("alice", side="BUY", price="900.00", quantity="0.001")
    first.close()
    second = connect()
    assert len(second.call("openOrders.status", "alice", symbol="SIMUSDT")["result"]) == 1
    assert len(exchange.open_orders("alice")) == 1
    second.call("openOrders.cancelAll", "alice", symbol="SIMUSDT")
    assert not exchange.open_orders("alice")


def test_too_much_weight_is_429_then_the_ip_is_banned_418(make_exchange):
    exchange = make_exchange(binance_limits=RateLimits(request_weight_per_minute=10, ban_after=1))
    clients = [DocClient(exchange.trade_url)]  # connecting: 2, time: 1
    try:
        statuses = [clients[0].call("ping")["status"] for _ in range(9)]
        assert statuses == [200] * 7 + [429, 418]
        clients.append(DocClient(exchange.trade_url, server_ms=0))  # the same IP
        assert clients[1].call("time")["status"] == 418
    finally:
        for client in clients:
            client.close()


def test_too_many_orders_is_429_minus_1015(make_exchange):
    exchange = make_exchange(binance_limits=RateLimits(orders_per_10_seconds=2))
    client = DocClient(exchange.trade_url)
    try:
        for _ in range(2):
            assert (
                client.place("alice", side="BUY", price="900.00", quantity="0.001")["status"] == 200
            )
        refused = client.place("alice", side="BUY", price="900.00", quantity="0.001")
        assert (refused["status"], refused["error"]["code"]) == (429, -1015)
        assert refused["rateLimits"][0]["count"] == 2
    finally:
        client.close()


def test_rate_limits_may_be_hidden_for_the_whole_connection(exchange, connect):
    quiet = connect(exchange.trade_url + "?returnRateLimits=false")
    assert "rateLimits" not in quiet.call("ping")
    assert "rateLimits" in quiet.call("ping", returnRateLimits=True)


def test_hostile_frames_are_answered_and_an_oversized_one_closes_only_its_sender(exchange, connect):
    alice, mallory = connect(), connect()
    alice.place("alice", side="BUY", price="900.00", quantity="0.001")
    for frame in ("not json", "[" * 100_00 + "]" * 100_00, '{"id": 1e300, "method": "x"}'):
        mallory.ws.send(frame)
        assert mallory.answer(None)["status"] == 400
    mallory.ws.send("x" * (MAX_FRAME_BYTES + 1))
    assert mallory.close_code() == 1009  # message too big
    assert alice.call("ping")["status"] == 200
    assert len(exchange.open_orders("alice")) == 1


def test_faults_reach_the_binance_protocol_too(exchange, connect):
    alice, bob = connect(), connect()
    alice.call("userDataStream.subscribe.signature", "alice")
    exchange.mute_reports("alice")
    alice.place("alice", side="BUY", price="1000.00", quantity="0.001")
    bob.place("bob", side="SELL", price="1000.00", quantity="0.001", timeInForce="IOC")
    exchange.mute_reports("alice", muted=False)
    assert not alice.events  # the link went deaf...
    assert len(alice.call("myTrades", "alice", symbol="SIMUSDT")["result"]) == 1  # ...not the venue
    exchange.reject_orders(60.0)
    refused = alice.place("alice", side="BUY", price="900.00", quantity="0.001")
    assert refused["error"] == {"code": -2010, "msg": "Market is closed."}
    assert exchange.drop_sessions("bob") == 1
    assert bob.close_code() == 1000


def test_an_unknown_protocol_is_a_config_error():
    with pytest.raises(ConfigError, match="protocol 'fix' is not one of sim, binance"):
        SimExchange(SIM, FakeClock(), protocol="fix")


SDK = importlib.util.find_spec("binance_sdk_spot") is not None


@pytest.mark.skipif(not SDK, reason="binance-sdk-spot (Binance's own client) is not installed")
@pytest.mark.skipif(
    current_runtime() == "gevent", reason="the SDK is asyncio and aiohttp: threads runtime only"
)
# binance-common 4.7 passes aiohttp (3.14) a float timeout, which aiohttp deprecates:
# with warnings as errors the SDK could not even connect
@pytest.mark.filterwarnings(
    "ignore:parameter 'timeout' of type 'float' is deprecated:DeprecationWarning"
)
def test_binances_own_sdk_places_cancels_and_is_refused_a_bad_signature():
    """Binance's official Python SDK against the emulator: place, cancel, bad signature.

    Its pydantic models (strict types) parse every answer, and every executionReport of
    the user data stream it subscribed with a signature. It signs with its own clock, so
    the venue runs on the real one.
    """
    from binance_common.configuration import ConfigurationWebSocketAPI
    from binance_sdk_spot.spot import Spot
    from binance_sdk_spot.websocket_api.models import ExecutionReport

    clock = SystemClock()
    exchange = SimExchange(
        SIM, clock, protocol="binance", keys=KEYS, liquidity=STILL, seed=SEED, interval=0.01
    ).start()

    async def session(secret: str) -> tuple[list[Any], list[ExecutionReport]]:
        config = ConfigurationWebSocketAPI(
            api_key="alice", api_secret=secret, stream_url=exchange.trade_url, reconnect_attempts=1
        )
        connection = await Spot(config_ws_api=config).websocket_api.create_connection()
        reports: list[ExecutionReport] = []
        cancelled_seen = asyncio.Event()

        def on_event(message: Any) -> None:
            if isinstance(message.actual_instance, ExecutionReport):
                reports.append(message.actual_instance)
                if message.actual_instance.x == "CANCELED":
                    cancelled_seen.set()

        try:
            if secret == KEYS["alice"]:
                stream = await connection.user_data_stream_subscribe_signature()
                stream.stream.on("message", on_event)
            placed = (
                await connection.order_place(
                    symbol="SIMUSDT", side="BUY", type="LIMIT", time_in_force="GTC",
                    price=900.0, quantity=0.002, new_client_order_id="sdk-1",
                )
            ).data()  # fmt: skip
            if isinstance(placed, dict):  # the SDK's way of giving back an error
                return [placed], reports
            cancelled = (
                await connection.order_cancel(symbol="SIMUSDT", order_id=placed.result.order_id)
            ).data()
            await asyncio.wait_for(cancelled_seen.wait(), timeout=10)
            return [placed, cancelled], reports
        finally:
            await connection.close_connection(close_session=True)

    try:
        (placed, cancelled), reports = asyncio.run(session(KEYS["alice"]))
        assert (placed.status, placed.result.client_order_id, placed.result.status) == (
            200, "sdk-1", "NEW",
        )  # fmt: skip
        assert (cancelled.status, cancelled.result.status) == (200, "CANCELED")
        assert cancelled.result.orig_client_order_id == "sdk-1"
        assert [(r.x, r.X, r.i) for r in reports] == [
            ("NEW", "NEW", placed.result.order_id),
            ("CANCELED", "CANCELED", placed.result.order_id),
        ]
        assert (reports[1].C, reports[1].c) == ("sdk-1", cancelled.result.client_order_id)
        (refused,), _ = asyncio.run(session("not-alices-secret"))
        assert refused["error"] == {
            "code": -1022,
            "msg": "Signature for this request is not valid.",
        }
        assert not exchange.open_orders("alice")
    finally:
        exchange.close()
        clock.close()


def test_the_exchange_command_serves_binance_s_protocol(tmp_path):
    """`tradeactors exchange --protocol binance`: order entry at /ws-api/v3, exchangeInfo."""
    import os
    import subprocess
    import sys
    import urllib.request

    env = {**os.environ, "TRADEACTORS_SECRET_DEMO": "demo-secret-" + "d" * 20}
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeactors", "exchange", "--protocol", "binance",
         "--api-key", "demo", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().rstrip().split(": ", 1) for _ in range(4))
        assert lines["order entry"].split()[0].endswith("/ws-api/v3")
        with urllib.request.urlopen(lines["exchange info"], timeout=10) as answer:  # noqa: S310
            info = json.loads(answer.read())
        assert info["symbols"][0]["symbol"] == "BTCUSDT"
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
