"""Hostile clients of the simulated exchange, over real sockets on 127.0.0.1.

A client that never reads must stall nobody but itself and be dropped; a replayed
logon is refused; a bad request never costs a session its orders. The never-reading
clients are bare sockets that complete the websocket handshake and then never read,
with a small receive buffer (and the venue a small send buffer) so that the kernel
fills in milliseconds, not after megabytes.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import socket
import threading
import urllib.parse
from typing import Any

import pytest
import websocket

from tradeactors.clock import SystemClock, perf_ns
from tradeactors.core.instrument import Instrument
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.orderentry import sign
from tradeactors.exchange.server import MAX_FRAME_BYTES, SimExchange

pytestmark = pytest.mark.supervision  # also run under the gevent runtime in CI
SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")
KEYS = {"alice": "alice-secret", "mallory": "mallory-secret"}
QUEUED = 32  # the venue's outgoing queue per connection, in frames


@pytest.fixture
def make_exchange():
    """Start exchanges (a busy market, small buffers); each is closed after the test."""
    clock = SystemClock()
    started: list[SimExchange] = []

    def make(**overrides: Any) -> SimExchange:
        settings: dict[str, Any] = {
            "seed": 5, "interval": 0.01, "keys": KEYS, "rate_per_second": 1_000,
            "liquidity": LiquidityConfig(start_mid=100_000, limit_rate=400, cancel_rate=300),
            "max_queued_frames": QUEUED, "send_buffer_bytes": 4096, **overrides,
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
def exchange(make_exchange):
    return make_exchange()


def now() -> float:
    return perf_ns() / 1e9


def logon_fields(key: str, **flags: Any) -> dict[str, Any]:
    timestamp, nonce = SystemClock().time_ns() // 1_000_000, secrets.token_hex(8)
    return {
        "op": "logon",
        "api_key": key,
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": sign(KEYS[key], timestamp, nonce),
        **flags,
    }


class Raw:
    """A websocket client on a bare socket: it reads nothing after the handshake."""

    def __init__(self, url: str, *, receive_buffer: int = 4096) -> None:
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(5)
        self.sock.connect((parts.hostname, parts.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: not one byte of a frame
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, *texts: str | bytes) -> None:
        """Text frames, masked with a zero key (legal, and the payload stays as is)."""
        out = bytearray()
        for text in texts:
            payload = text.encode() if isinstance(text, str) else text
            size = len(payload)
            if size < 126:
                out += bytes([0x81, 0x80 | size])
            elif size < 65_536:
                out += bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
            else:
                out += bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
            out += b"\0\0\0\0" + payload
        self.sock.sendall(out)

    def closed_by_the_venue(self, timeout: float) -> bool:
        """Read (and discard) what is buffered until the venue's end of the socket."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65_536):
                pass
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.sock.close()


class MarketDataReader:
    """A well-behaved market-data client, reading on its own thread."""

    def __init__(self, url: str) -> None:
        self._ws = websocket.create_connection(url, timeout=5)
        self.received: list[tuple[float, int, int]] = []  # (monotonic s, U, u) per depth
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="test-reader")
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                text = self._ws.recv()
            except (websocket.WebSocketException, OSError):
                return
            if not text:  # the close frame
                return
            data = json.loads(text).get("data", {})
            if data.get("e") == "depthUpdate":
                self.received.append((now(), data["U"], data["u"]))

    def gaps(self) -> int:
        pairs = zip(self.received, self.received[1:], strict=False)
        return sum(1 for (_, _, u), (_, first, _) in pairs if first != u + 1)

    def rate(self, start: float, end: float) -> float:
        """Depth frames per second received between ``start`` and ``end``."""
        return sum(1 for t, _, _ in self.received if start <= t < end) / (end - start)

    def longest_silence(self, start: float, end: float) -> float:
        times = [start] + [t for t, _, _ in self.received if start <= t < end] + [end]
        return max(b - a for a, b in itertools.pairwise(times))

    def close(self) -> None:
        self._stop.set()
        self._ws.close(timeout=1)
        self._thread.join(5)


class Trader:
    """A well-behaved order-entry client."""

    def __init__(self, url: str, key: str, **flags: Any) -> None:
        self.ws = websocket.create_connection(url, timeout=5)
        self._ids = 0
        self.pushed: list[dict[str, Any]] = []
        assert "result" in self.request(**logon_fields(key, **flags))

    def request(self, **fields: Any) -> dict[str, Any]:
        self._ids += 1
        self.ws.send(json.dumps({"id": self._ids, **fields}))
        return self.reply(self._ids)

    def reply(self, request_id: int | None) -> dict[str, Any]:
        while True:
            message = json.loads(self.ws.recv())
            if "event" not in message and message.get("id") == request_id:
                return message
            self.pushed.append(message)

    def next_reply(self) -> dict[str, Any]:
        while True:
            message = json.loads(self.ws.recv())
            if "event" not in message:
                return message
            self.pushed.append(message)

    def close_code(self) -> int:
        """Read until the venue closes; its close code."""
        while True:
            opcode, frame = self.ws.recv_data_frame(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return int.from_bytes(frame.data[:2], "big")

    def close(self) -> None:
        self.ws.close(timeout=1)


@pytest.fixture
def closing():
    """Close every client a test opens, whatever happened."""
    opened: list[Any] = []

    def track(client: Any) -> Any:
        opened.append(client)
        return client

    yield track
    for client in reversed(opened):
        client.close()


def _far_below(exchange: SimExchange) -> str:
    return SIM.format_price(exchange.best()[0] - 500)


def _flood_until_dropped(raw: Raw, exchange: SimExchange, kind: str, request: str) -> None:
    """Send requests, never reading a reply, until the venue drops the connection."""
    batch = [request] * 200
    for _ in range(500):
        try:
            raw.send(*batch)
        except OSError:
            return  # the venue has cut us off
        # give the venue the time to handle the batch (under gevent nothing else runs
        # while this greenlet can still write)
        if exchange.wait_until(lambda: exchange.slow_consumers[kind] > 0, timeout=0.05):
            return


class TestNeverReadingClients:
    """A client that stops reading stalls only itself, and is dropped."""

    def test_never_reading_clients_on_stream_and_trade_are_dropped_and_stall_no_one(
        self, exchange, closing
    ):
        reader = closing(MarketDataReader(exchange.ws_url))
        alice = closing(Trader(exchange.trade_url, "alice"))
        assert exchange.wait_until(lambda: len(reader.received) >= 20, timeout=5)
        calm_start = now()
        assert exchange.wait_until(lambda: len(reader.received) >= 70, timeout=5)
        calm_rate = reader.rate(calm_start, now())

        attack_start = now()
        stream_laggard = closing(Raw(exchange.ws_url))
        trade_laggard = closing(Raw(exchange.trade_url))  # never logs on
        flood = threading.Thread(
            target=_flood_until_dropped,
            args=(trade_laggard, exchange, "order_entry", '{"op": "open_orders"}'),
            name="test-flood",
        )
        flood.start()
        round_trips = []
        try:
            while not all(exchange.slow_consumers_dropped().values()):
                seen = len(reader.received)  # one round trip per market step
                assert exchange.wait_until(lambda n=seen: len(reader.received) > n, timeout=1)
                sent = now()
                placed = alice.request(
                    op="place",
                    client_order_id=f"a{len(round_trips)}",
                    side="buy",
                    quantity="0.001",
                    price=_far_below(exchange),
                )
                cancelled = alice.request(op="cancel", order_id=placed["result"]["order_id"])
                assert "result" in cancelled, cancelled
                round_trips.append(now() - sent)
                assert now() - attack_start < 4, exchange.slow_consumers_dropped()
        finally:
            flood.join(10)
        attack_end = now()

        assert exchange.slow_consumers_dropped() == {"market_data": 1, "order_entry": 1}
        assert stream_laggard.closed_by_the_venue(timeout=5)
        assert trade_laggard.closed_by_the_venue(timeout=5)
        assert round_trips, "the attack ended before one order round trip"
        assert max(round_trips) < 0.5, round_trips
        assert reader.gaps() == 0
        assert reader.longest_silence(attack_start, attack_end) < 0.5
        assert reader.rate(attack_start, attack_end) > calm_rate / 2, (
            calm_rate,
            reader.rate(attack_start, attack_end),
        )
        assert not exchange.open_orders("alice")

    def test_a_logged_on_client_that_never_reads_is_disconnected_and_its_orders_cancelled(
        self, exchange, closing
    ):
        alice = closing(Trader(exchange.trade_url, "alice"))
        price = _far_below(exchange)
        alice.request(op="place", client_order_id="a1", side="buy", quantity="1", price=price)
        mallory = closing(Raw(exchange.trade_url))
        mallory.send(
            json.dumps(logon_fields("mallory", cancel_on_disconnect=True)),
            json.dumps(
                {
                    "op": "place",
                    "client_order_id": "m1",
                    "side": "buy",
                    "quantity": "1",
                    "price": price,
                }
            ),
        )
        assert exchange.wait_until(lambda: exchange.engine.open_orders("mallory"), timeout=5)
        _flood_until_dropped(mallory, exchange, "order_entry", '{"op": "open_orders"}')
        assert exchange.wait_until(lambda: not exchange.engine.open_orders("mallory"), timeout=5)
        assert exchange.slow_consumers_dropped() == {"market_data": 0, "order_entry": 1}
        assert mallory.closed_by_the_venue(timeout=5)
        assert [o.client_order_id for o in exchange.open_orders("alice")] == ["a1"]
        assert alice.request(op="open_orders")["result"][0]["client_order_id"] == "a1"

    def test_a_client_that_takes_no_data_for_the_send_timeout_is_dropped_too(
        self, make_exchange, closing
    ):
        exchange = make_exchange(max_queued_frames=1_000_000, send_timeout=0.3)
        alice = closing(Trader(exchange.trade_url, "alice"))
        mallory = closing(Raw(exchange.trade_url))
        mallory.send(
            json.dumps(logon_fields("mallory", cancel_on_disconnect=True)),
            json.dumps({"op": "place", "client_order_id": "m1", "side": "buy",
                        "quantity": "1", "price": _far_below(exchange)}),
            *['{"op": "open_orders"}'] * 1000,  # ~100 kB of replies: more than the buffers
        )  # fmt: skip
        assert exchange.wait_until(lambda: exchange.slow_consumers["order_entry"], timeout=4)
        assert exchange.wait_until(lambda: not exchange.engine.open_orders("mallory"), timeout=4)
        assert mallory.closed_by_the_venue(timeout=5)
        assert "result" in alice.request(op="open_orders")

    def test_a_half_closed_session_ends_and_stalls_no_one(self, exchange, closing):
        reader = closing(MarketDataReader(exchange.ws_url))
        alice = closing(Trader(exchange.trade_url, "alice"))
        mallory = closing(Raw(exchange.trade_url))
        mallory.send(
            json.dumps(logon_fields("mallory", cancel_on_disconnect=True)),
            json.dumps({"op": "place", "client_order_id": "m1", "side": "buy",
                        "quantity": "1", "price": _far_below(exchange)}),
        )  # fmt: skip
        assert exchange.wait_until(lambda: exchange.engine.open_orders("mallory"), timeout=5)
        start = now()
        mallory.sock.shutdown(socket.SHUT_WR)  # sends no more, reads nothing
        assert exchange.wait_until(lambda: not exchange.engine.open_orders("mallory"), timeout=4)
        sent = now()
        assert "result" in alice.request(op="open_orders")
        assert now() - sent < 0.5
        seen = len(reader.received)
        assert exchange.wait_until(lambda: len(reader.received) > seen + 10, timeout=2)
        assert reader.longest_silence(start, now()) < 0.5


def test_a_replayed_logon_frame_on_a_new_connection_is_refused(exchange, closing):
    frame = json.dumps({"id": 1, **logon_fields("alice")})
    first = closing(websocket.create_connection(exchange.trade_url, timeout=5))
    first.send(frame)
    assert json.loads(first.recv()) == {"id": 1, "result": {"account": "alice"}}
    replay = closing(websocket.create_connection(exchange.trade_url, timeout=5))
    replay.send(frame)
    assert json.loads(replay.recv())["error"] == {
        "code": "replayed_nonce",
        "message": "nonce already used: log on anew",
    }


def test_an_old_logon_timestamp_is_refused(exchange, closing):
    stale = logon_fields("alice")
    stale["timestamp"] -= 60_000
    stale["signature"] = sign(KEYS["alice"], stale["timestamp"], stale["nonce"])
    client = closing(websocket.create_connection(exchange.trade_url, timeout=5))
    client.send(json.dumps({"id": 1, **stale}))
    error = json.loads(client.recv())["error"]
    assert error["code"] == "invalid_timestamp"
    assert "allowed: 5000" in error["message"]


BAD = {
    "cancel_all_after 1e300": '{"op": "cancel_all_after", "id": 9, "timeout": 1e300}',
    "nested 1000 deep": '{"op": "place", "id": 9, "price": ' + "[" * 1000 + "]" * 1000 + "}",
    "just under the size limit": json.dumps(
        {"op": "place", "id": 9, "x": "y" * (MAX_FRAME_BYTES - 100)}
    ),
}


@pytest.mark.parametrize("frame", BAD.values(), ids=BAD.keys())
def test_a_bad_request_gets_an_error_and_the_session_keeps_its_orders(exchange, closing, frame):
    alice = closing(Trader(exchange.trade_url, "alice", cancel_on_disconnect=True))
    alice.request(
        op="place", client_order_id="a1", side="buy", quantity="1", price=_far_below(exchange)
    )
    alice.ws.send(frame)
    reply = alice.next_reply()
    assert reply["error"]["code"] == "bad_request"
    assert reply["id"] in {9, None}  # None: nested too deep to find the id
    assert [o.client_order_id for o in exchange.open_orders("alice")] == ["a1"]
    assert alice.request(op="open_orders")["result"][0]["client_order_id"] == "a1"


def test_a_frame_over_the_maximum_size_closes_the_connection_with_1009(exchange, closing):
    alice = closing(Trader(exchange.trade_url, "alice", cancel_on_disconnect=True))
    alice.request(
        op="place", client_order_id="a1", side="buy", quantity="1", price=_far_below(exchange)
    )
    alice.ws.send("x" * (MAX_FRAME_BYTES + 1))
    assert alice.close_code() == 1009  # message too big
    alice.ws.shutdown()  # as any client does on a close; else the venue waits CLOSE_TIMEOUT
    assert exchange.wait_until(lambda: not exchange.engine.open_orders("alice"), timeout=5)
