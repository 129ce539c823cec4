"""The simulated exchange speaking Kraken spot, over real sockets on 127.0.0.1.

Two independent clients drive it: `DocClient`, a Kraken WebSocket v2 and REST client
written here from Kraken's documentation alone (it shares nothing with the venue's code
or with the Kraken adapter in ``tradeactors.venues``), and ``python-kraken-sdk``, a
Kraken client from PyPI, when it is installed. The market is still: the venue's clock is
a `FakeClock` that moves only when a test advances it, and the background liquidity is
two orders, one tick either side of the mid, that never change.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import importlib.util
import itertools
import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
import websocket

from tradeactors.clock import Clock, FakeClock, SystemClock
from tradeactors.core.instrument import Instrument
from tradeactors.exchange.kraken_api import KrakenLimits
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.matching import Side
from tradeactors.exchange.server import MAX_FRAME_BYTES, SimExchange
from tradeactors.supervision.runtime import current_runtime
from tradeactors.venues.kraken import KrakenBook, KrakenResult, decode_v2_book_messages

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.supervision  # also run under the gevent runtime in CI
SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")
SYMBOL = "SIM/USDT"  # its WebSocket v2 symbol (AssetPairs' wsname)
KEYS = {
    "alice": base64.b64encode(b"alice's secret, 32 bytes long!!!").decode(),
    "bob": base64.b64encode(b"bob's secret, also 32 bytes long").decode(),
}
TOKEN_PATH = "/0/private/GetWebSocketsToken"
# the mid is 1000.00; the background (seed 2) bids 999.99 and asks 1000.01, nothing else
SEED = 2
STILL = LiquidityConfig(
    start_mid=100_000, depth_ticks=1, volatility=0.0, limit_rate=0.0, cancel_rate=0.0,
    market_rate=0.0,
)  # fmt: skip
_NONCES = itertools.count(1_700_000_000_000)


def post_token(http_url: str, key: str, secret: str | None = None) -> dict[str, Any]:
    """``POST /0/private/GetWebSocketsToken`` signed as guides/spot-rest-auth says."""
    nonce = str(next(_NONCES))
    body = f"nonce={nonce}"
    digest = hashlib.sha256((nonce + body).encode()).digest()
    key_bytes = base64.b64decode(secret or KEYS[key])
    signature = hmac.new(key_bytes, TOKEN_PATH.encode() + digest, hashlib.sha512).digest()
    request = urllib.request.Request(  # noqa: S310 - loopback http
        http_url + TOKEN_PATH,
        data=body.encode(),
        headers={
            "API-Key": key,
            "API-Sign": base64.b64encode(signature).decode(),
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback http
        return dict(json.loads(answer.read()))


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback http
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, json.loads(refused.read())


class DocClient:
    """A Kraken WebSocket v2 client written from the docs (websocket-v2/*).

    Requests are ``{"method", "params", "req_id"}``; private ones carry the ``token`` of
    ``GetWebSocketsToken``. Channel messages that arrive before an answer are kept.
    """

    def __init__(self, exchange: SimExchange, key: str | None = None) -> None:
        self.ws = websocket.create_connection(exchange.trade_url, timeout=10)
        self.channel: list[dict[str, Any]] = []  # channel messages, in order
        self.raw: list[str] = []  # the same, as sent
        self._ids = itertools.count(1)
        self.token = post_token(exchange.http_url, key)["result"]["token"] if key else ""

    def send(self, request: dict[str, Any] | str) -> int | None:
        if isinstance(request, str):
            self.ws.send(request)
            return None
        req_id = next(self._ids)
        self.ws.send(json.dumps({**request, "req_id": req_id}))
        return req_id

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one request (with the token if it has one); its (first) answer."""
        if self.token and method not in ("ping", "subscribe", "unsubscribe"):
            params = {"token": self.token, **params}
        request: dict[str, Any] = {"method": method}
        if params:
            request["params"] = params
        return self.answer(self.send(request))

    def answer(self, req_id: int | None) -> dict[str, Any]:
        while True:
            text = self.ws.recv()
            message = json.loads(text)
            if "channel" in message:
                self.channel.append(message)
                self.raw.append(text)
            elif message.get("req_id") == req_id:
                return dict(message)

    def wait(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first executions record (kept or next to arrive) that ``predicate`` accepts."""
        seen = 0
        while True:
            for message in self.channel[seen:]:
                if message.get("channel") == "executions" and message["type"] == "update":
                    for record in message["data"]:
                        if predicate(record):
                            return dict(record)
            seen = len(self.channel)
            text = self.ws.recv()
            self.channel.append(json.loads(text))
            self.raw.append(text)

    def place(self, **params: Any) -> dict[str, Any]:
        order = {
            "order_type": "limit", "side": "buy", "symbol": SYMBOL, "order_qty": 0.001,
            "limit_price": 900.0, **params,
        }  # fmt: skip
        return self.call("add_order", **order)

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
def clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    yield clock
    clock.close()


@pytest.fixture
def make_exchange(clock: FakeClock) -> Iterator[Callable[..., SimExchange]]:
    """Start Kraken-speaking exchanges on a still clock; each is closed after the test."""
    started: list[SimExchange] = []
    clocks: list[Clock] = []

    def make(clock: Clock = clock, **overrides: Any) -> SimExchange:
        settings: dict[str, Any] = {
            "protocol": "kraken", "keys": KEYS, "liquidity": STILL, "seed": SEED,
            "interval": 0.01, **overrides,
        }  # fmt: skip
        clocks.append(clock)
        started.append(SimExchange(SIM, clock, **settings).start())
        return started[-1]

    try:
        yield make
    finally:
        for venue in started:
            venue.close()
        for other in clocks:
            other.close()


@pytest.fixture
def exchange(make_exchange: Callable[..., SimExchange]) -> SimExchange:
    return make_exchange()


@pytest.fixture
def connect(exchange: SimExchange) -> Iterator[Callable[..., DocClient]]:
    clients: list[DocClient] = []

    def make(key: str | None = "alice") -> DocClient:
        clients.append(DocClient(exchange, key))
        return clients[-1]

    try:
        yield make
    finally:
        for client in clients:
            client.close()


def test_order_entry_is_served_at_krakens_path(exchange):
    assert exchange.trade_url.endswith("/v2")
    assert exchange.protocol == "kraken"


def test_the_rest_calls_answer_as_kraken_does(exchange):
    base = exchange.http_url
    status, pairs = get(f"{base}/0/public/AssetPairs?pair=SIMUSDT")
    assert status == 200
    pair = pairs["result"]["SIMUSDT"]
    assert (pair["wsname"], pair["tick_size"], pair["lot_decimals"]) == (SYMBOL, "0.01", 3)
    assert get(f"{base}/0/public/AssetPairs?pair=XBTUSD") == (
        200, {"error": ["EQuery:Unknown asset pair"]},
    )  # fmt: skip
    status, depth = get(f"{base}/0/public/Depth?pair=SIMUSDT&count=1")
    book = depth["result"]["SIMUSDT"]
    assert (book["bids"][0][0], book["asks"][0][0]) == ("999.99", "1000.01")
    assert get(f"{base}/0/public/Time")[1]["result"]["unixtime"] == 1_700_000_000
    assert get(f"{base}/0/private/GetWebSocketsToken")[0] == 404  # POST only
    assert get(f"{base}/api/v3/ping") == (200, {})  # Binance's REST is still there


def test_the_token_call_checks_key_signature_and_nonce(exchange):
    base = exchange.http_url
    answer = post_token(base, "alice")
    assert answer["result"]["expires"] == 900
    assert post_token(base, "alice", secret=KEYS["bob"]) == {"error": ["EAPI:Invalid signature"]}
    assert post_token(base, "mallory", secret=KEYS["bob"]) == {"error": ["EAPI:Invalid key"]}
    request = urllib.request.Request(  # noqa: S310 - loopback http
        base + TOKEN_PATH, data=b"nonce=1", headers={"API-Key": "alice", "API-Sign": "x"}
    )
    with urllib.request.urlopen(request, timeout=10) as replayed:  # noqa: S310 - loopback http
        assert json.loads(replayed.read()) == {"error": ["EAPI:Invalid signature"]}


def test_an_oversized_rest_body_is_refused_unread(exchange):
    request = urllib.request.Request(  # noqa: S310 - loopback http
        exchange.http_url + TOKEN_PATH, data=b"n" * 10_000, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - loopback http
    with refused.value:
        assert refused.value.code == 413


def test_place_fill_partial_fill_cancel_and_cancel_all(exchange, connect):
    alice = connect("alice")
    ack = alice.call("subscribe", channel="executions", token=alice.token, snap_trades=True)
    assert ack["result"]["channel"] == "executions"
    placed = alice.place(order_qty=0.005, limit_price=1000.0, cl_ord_id="bid-1")
    assert placed["success"], placed
    order_id = placed["result"]["order_id"]
    assert alice.wait(lambda r: r["exec_type"] == "new")["order_id"] == order_id

    exchange.take(Side.SELL, 100_000, 2)
    partial = alice.wait(lambda r: r["exec_type"] == "trade")
    assert (partial["order_status"], partial["last_qty"], partial["cum_qty"]) == (
        "partially_filled", 0.002, 0.002,
    )  # fmt: skip
    assert partial["cl_ord_id"] == "bid-1"
    exchange.take(Side.SELL, 100_000, 3)
    filled = alice.wait(lambda r: r["exec_type"] == "filled")
    assert (filled["order_id"], filled["cum_qty"]) == (order_id, 0.005)

    for n in (1, 2):
        alice.place(cl_ord_id=f"o{n}")
    cancelled = alice.call("cancel_order", cl_ord_id=["o1"])
    assert cancelled["result"]["cl_ord_id"] == "o1"
    assert alice.call("cancel_all")["result"] == {"count": 1}
    assert alice.call("cancel_all")["result"] == {"count": 0}
    assert not exchange.open_orders("alice")
    assert exchange.requests("alice", "place") == 3
    assert exchange.requests("alice", "fills") == 1


def test_amend_keeps_the_order_id(exchange, connect):
    alice = connect("alice")
    order_id = alice.place(order_qty=0.005, limit_price=950.0)["result"]["order_id"]
    smaller = alice.call("amend_order", order_id=order_id, order_qty=0.003)
    assert smaller["result"]["order_id"] == order_id
    moved = alice.call("amend_order", order_id=order_id, order_qty=0.003, limit_price=960.0)
    assert moved["result"]["order_id"] == order_id
    (view,) = exchange.open_orders("alice")
    assert (view.price, view.remaining) == (96_000, 3)
    assert exchange.requests("alice", "amend") == 2


def test_rejects_carry_krakens_errors(connect):
    alice = connect("alice")
    assert alice.place(limit_price=999.001)["error"] == "EOrder:Tick size check failed"
    assert alice.place(symbol="XBT/USD")["error"] == "EQuery:Unknown asset pair"
    crossing = alice.place(limit_price=1000.01, post_only=True)
    assert crossing["success"]  # taken, then cancelled: Kraken's way with post-only
    cancelled = alice.call("cancel_order", order_id=[crossing["result"]["order_id"]])
    assert cancelled["error"] == "EOrder:Unknown order"


def test_a_bad_token_is_refused_and_the_connection_serves_on(exchange, connect):
    client = connect(None)
    answer = client.call("add_order", token="forged", order_type="limit")  # noqa: S106 - not a secret
    assert answer["error"] == "EAPI:Invalid key"
    assert client.call("ping")["method"] == "pong"


def test_the_dead_mans_switch_cancels_after_the_connection_is_gone(exchange, connect, clock):
    first = connect("alice")
    first.place()
    answer = first.call("cancel_all_orders_after", timeout=60)
    assert answer["result"]["triggerTime"] == "2023-11-14T22:14:20Z"
    first.close()
    assert len(exchange.open_orders("alice")) == 1  # no cancel-on-disconnect at Kraken
    clock.advance(60.0)
    assert exchange.wait_until(lambda: not exchange.engine.open_orders("alice"), timeout=10)


def test_a_heartbeat_each_second_once_subscribed(exchange, connect, clock):
    client = connect(None)
    client.call("subscribe", channel="book", symbol=[SYMBOL])
    clock.advance(1.0)
    while client.channel[-1] != {"channel": "heartbeat"}:
        client.channel.append(json.loads(client.ws.recv()))


def test_the_book_channel_is_read_by_the_projects_own_reader(exchange, connect):
    reader = KrakenBook(
        Instrument(venue="kraken", symbol=SYMBOL, tick_size="0.01", lot_size="0.001"), depth=10
    )
    watcher = connect(None)
    ack = watcher.call("subscribe", channel="book", symbol=[SYMBOL], depth=10)
    assert ack["result"] == {"channel": "book", "depth": 10, "snapshot": True, "symbol": SYMBOL}
    trader = connect("alice")
    for price in (999.0, 998.5, 1001.0):
        trader.place(limit_price=price, side="buy" if price < 1000 else "sell")
    trader.call("cancel_all")
    marker = watcher.call("ping")  # everything before it has arrived
    assert marker["method"] == "pong"
    results = [
        reader.on_message(message)
        for raw in watcher.raw
        if json.loads(raw)["channel"] == "book"
        for message in decode_v2_book_messages(raw) or ()
    ]
    assert results[0] is KrakenResult.SNAPSHOT
    assert results[1:] == [KrakenResult.APPLIED] * 4  # three orders, then one cancel_all
    engine_book: list[Any] = []  # the engine's own, read under the market's lock

    def read_book() -> bool:
        engine_book.extend(exchange.engine.depth(SIM.symbol, side, 10) for side in Side)
        return True

    exchange.wait_until(read_book, timeout=10)
    assert [reader.book.bids(10), reader.book.asks(10)] == engine_book


def test_trading_rate_limit_then_open_orders_limit(make_exchange):
    exchange = make_exchange(
        kraken_limits=KrakenLimits(max_rate_count=3, rate_decay_per_second=0.01, max_open_orders=2)
    )
    client = DocClient(exchange, "alice")
    try:
        errors = [client.place().get("error") for _ in range(4)]
        assert errors == [None, None, "EOrder:Orders limit exceeded", "EOrder:Rate limit exceeded"]
    finally:
        client.close()


def test_hostile_frames_are_answered_and_an_oversized_one_closes_only_its_sender(exchange, connect):
    alice, mallory = connect("alice"), connect(None)
    alice.place()
    for frame in ("not json", "[" * 10_000 + "]" * 10_000, '{"method": "ping", "req_id": 1e300}'):
        mallory.send(frame)
        assert mallory.answer(None)["success"] is False
    mallory.ws.send("x" * (MAX_FRAME_BYTES + 1))
    assert mallory.close_code() == 1009  # message too big
    assert alice.call("ping")["method"] == "pong"
    assert len(exchange.open_orders("alice")) == 1


def test_faults_reach_the_kraken_protocol_too(exchange, connect):
    alice, bob = connect("alice"), connect("bob")
    alice.call("subscribe", channel="executions", token=alice.token)
    exchange.mute_reports("alice")
    alice.place(limit_price=1000.0)
    bob.place(side="sell", limit_price=1000.0, time_in_force="ioc")
    exchange.mute_reports("alice", muted=False)
    assert alice.call("ping")["method"] == "pong"
    assert not [
        m for m in alice.channel if m.get("type") == "update" and m["channel"] == "executions"
    ]
    alice.place(limit_price=990.0)  # its first update's number shows what was lost:
    alice.call("ping")  # (pushed after the answer: in before the pong)
    update = next(
        m for m in alice.channel if m["channel"] == "executions" and m["type"] == "update"
    )
    assert update["sequence"] == 1 + 4 + 1  # the snapshot, pending_new new trade filled, this
    late = connect("alice")  # ...not the venue: the snapshot has the fill
    late.call("subscribe", channel="executions", token=late.token, snap_trades=True)
    late.call("ping")  # the snapshot, sent after the answer, has arrived
    (snapshot,) = [m for m in late.channel if m.get("type") == "snapshot"]
    assert [r["exec_type"] for r in snapshot["data"]] == ["new", "trade"]  # the 990 order
    exchange.reject_orders(60.0)
    assert alice.place()["error"] == "EService:Unavailable"
    assert exchange.drop_sessions("bob") == 1
    assert bob.close_code() == 1000


def test_an_unknown_protocol_is_still_a_config_error():
    from tradeactors.errors import ConfigError

    with pytest.raises(ConfigError, match="protocol 'fix' is not one of sim, binance, kraken"):
        SimExchange(SIM, FakeClock(), protocol="fix")


async def _sdk_session(http_url: str, base: str) -> list[dict[str, Any]]:
    """With python-kraken-sdk's WebSocket client: subscribe, place, cancel; every message."""
    from kraken.spot import SpotWSClient

    messages: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def on_message(message: dict[str, Any]) -> None:
        messages.append(message)
        arrived.set()

    async def until(predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            found = next((m for m in messages if predicate(m)), None)
            if found is not None:
                return found
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), timeout=10)

    client = SpotWSClient(
        key="alice", secret=KEYS["alice"], callback=on_message, no_public=True,
        rest_url=http_url, auth_ws_url=base,
    )  # fmt: skip
    await client.start()
    try:
        await client.subscribe(params={"channel": "executions", "snap_orders": True})
        await until(lambda m: m.get("type") == "snapshot")
        await client.send_message(
            {
                "method": "add_order",
                "params": {
                    "order_type": "limit", "side": "buy", "symbol": SYMBOL,
                    "order_qty": 0.002, "limit_price": 900.0, "cl_ord_id": "sdk-1",
                },
                "req_id": 1,
            }
        )  # fmt: skip
        placed = await until(lambda m: m.get("method") == "add_order")
        order_id = placed["result"]["order_id"]
        await client.send_message(
            {"method": "cancel_order", "params": {"order_id": [order_id]}, "req_id": 2}
        )
        await until(lambda m: m.get("method") == "cancel_order")
        await until(
            lambda m: (
                m.get("channel") == "executions"
                and m["data"]
                and m["data"][0].get("exec_type") == "canceled"
            )
        )
    finally:
        await client.close()
    return messages


async def _sdk_token(http_url: str, secret: str) -> Any:
    """With python-kraken-sdk's REST client: GetWebSocketsToken as alice, with ``secret``."""
    from kraken.base_api import SpotAsyncClient

    rest = SpotAsyncClient(key="alice", secret=secret, url=http_url)
    try:
        return await rest.request(method="POST", uri=TOKEN_PATH)
    finally:
        await rest.close()


SDK = importlib.util.find_spec("kraken") is not None


@pytest.mark.skipif(
    not SDK, reason="python-kraken-sdk (an independent Kraken client) is not installed"
)
@pytest.mark.skipif(
    current_runtime() == "gevent", reason="the SDK is asyncio and aiohttp: threads runtime only"
)
def test_python_kraken_sdk_places_cancels_and_is_refused_a_bad_signature(make_exchange):
    """python-kraken-sdk against the emulator: its REST token call, its WebSocket v2
    client (add_order, the executions channel, cancel_order), and a bad signature.

    The venue runs on the real clock: its heartbeats each second are what lets the
    SDK's receive loop (10 s timeouts) notice that it was asked to stop.
    """
    from kraken.exceptions import KrakenInvalidSignatureError

    clock = SystemClock()
    exchange = make_exchange(clock=clock)
    base = exchange.trade_url.removesuffix("/v2")  # the SDK appends its "/v2"

    messages = asyncio.run(_sdk_session(exchange.http_url, base))
    placed = next(m for m in messages if m.get("method") == "add_order")
    assert placed["success"] is True
    assert placed["result"]["cl_ord_id"] == "sdk-1"
    cancelled = next(m for m in messages if m.get("method") == "cancel_order")
    assert cancelled["result"]["order_id"] == placed["result"]["order_id"]
    records = [
        r for m in messages if (m.get("channel"), m.get("type")) == ("executions", "update")
        for r in m["data"]
    ]  # fmt: skip
    assert [r["exec_type"] for r in records] == ["pending_new", "new", "canceled"]
    assert set(asyncio.run(_sdk_token(exchange.http_url, KEYS["alice"]))) == {"token", "expires"}
    with pytest.raises(KrakenInvalidSignatureError):
        asyncio.run(_sdk_token(exchange.http_url, KEYS["bob"]))
    assert not exchange.open_orders("alice")


def test_the_exchange_command_serves_krakens_protocol():
    """`tradeactors exchange --protocol kraken`: order entry at /v2, the token, AssetPairs."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TRADEACTORS_SECRET_DEMO": KEYS["alice"]}
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeactors", "exchange", "--protocol", "kraken",
         "--api-key", "demo", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().rstrip().split(": ", 1) for _ in range(5))
        assert lines["order entry"].split()[0].endswith("/v2")
        token_url = lines["websockets token"].split()[0]
        http_url = token_url.removesuffix(TOKEN_PATH)
        answer = post_token(http_url, "demo", secret=KEYS["alice"])
        assert answer["result"]["expires"] == 900
        with urllib.request.urlopen(lines["asset pairs"], timeout=10) as pairs:  # noqa: S310
            (pair,) = json.loads(pairs.read())["result"].values()
        assert pair["wsname"].endswith("/USDT")
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
