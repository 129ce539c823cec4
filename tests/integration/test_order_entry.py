"""Order entry on the simulated exchange, over real sockets with websocket-client."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
import websocket

from tradeactors.clock import SystemClock
from tradeactors.core.instrument import Instrument
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.orderentry import sign
from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision  # also run under the gevent runtime in CI
SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")
KEYS = {"alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture
def exchange():
    clock = SystemClock()
    venue = SimExchange(
        SIM, clock, seed=4, interval=0.01, keys=KEYS,
        liquidity=LiquidityConfig(start_mid=100_000, limit_rate=200, cancel_rate=50),
    ).start()  # fmt: skip
    try:
        yield venue
    finally:
        venue.close()
        clock.close()


class Client:
    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=10)
        self.next_id = 0
        self.pushed: list[dict[str, Any]] = []

    def request(self, **fields: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, **fields}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                return message
            self.pushed.append(message)

    def logon(self, key: str, secret: str, **flags: Any) -> dict[str, Any]:
        timestamp, nonce = SystemClock().time_ns() // 1_000_000, secrets.token_hex(8)
        return self.request(
            op="logon", api_key=key, timestamp=timestamp, nonce=nonce,
            signature=sign(secret, timestamp, nonce), **flags,
        )  # fmt: skip

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def clients(exchange):
    made: list[Client] = []

    def connect() -> Client:
        client = Client(exchange.trade_url)
        made.append(client)
        return client

    yield connect
    for client in made:
        client.close()


def _far_below(exchange) -> str:
    return SIM.format_price(exchange.best()[0] - 500)


def test_logon_place_rest_list_and_cancel(exchange, clients):
    alice = clients()
    assert alice.logon("alice", KEYS["alice"]) == {"id": 1, "result": {"account": "alice"}}
    price = _far_below(exchange)
    alice.request(op="place", client_order_id="a1", side="buy", quantity="1.000", price=price)
    (order,) = alice.request(op="open_orders")["result"]
    assert (order["client_order_id"], order["price"], order["remaining"]) == ("a1", price, "1.000")
    assert any(m.get("event") == "accepted" for m in alice.pushed)
    alice.request(op="cancel", order_id=order["order_id"])
    assert alice.request(op="open_orders")["result"] == []


def test_a_marketable_order_fills_against_background_liquidity(exchange, clients):
    alice = clients()
    alice.logon("alice", KEYS["alice"])
    ask = SIM.format_price(exchange.best()[1] + 200)
    alice.request(
        op="place", client_order_id="a2", side="buy", quantity="0.005", price=ask, tif="ioc"
    )
    fills = alice.request(op="fills", since=0)["result"]
    assert fills
    assert fills[0]["liquidity"] == "taker"
    assert exchange.position("alice") > 0


def test_a_bad_signature_is_refused_and_nothing_else_is_allowed(clients):
    mallory = clients()
    answer = mallory.request(op="logon", api_key="alice", nonce="n", signature="00" * 32)
    assert answer["error"]["code"] == "auth_failed"
    answer = mallory.request(op="open_orders")
    assert answer["error"]["code"] == "not_logged_on"


def test_dropping_the_socket_cancels_resting_orders_with_cancel_on_disconnect(exchange, clients):
    alice = clients()
    alice.logon("alice", KEYS["alice"], cancel_on_disconnect=True)
    alice.request(
        op="place", client_order_id="a3", side="buy", quantity="1.000", price=_far_below(exchange)
    )
    assert exchange.open_orders("alice")
    alice.ws.sock.close()  # abrupt: no close handshake, as a crashed gateway
    assert exchange.wait_until(lambda: not exchange.engine.open_orders("alice"), timeout=10)


def test_cancel_all_after_flattens_an_account_that_stops_refreshing(exchange, clients):
    bob = clients()
    bob.logon("bob", KEYS["bob"])
    bob.request(
        op="place", client_order_id="b1", side="buy", quantity="1.000", price=_far_below(exchange)
    )
    assert bob.request(op="cancel_all_after", timeout=0.2)["result"] == {"timeout": 0.2}
    assert exchange.wait_until(lambda: not exchange.engine.open_orders("bob"), timeout=10)


def test_garbage_gets_errors_while_another_session_keeps_trading(exchange, clients):
    noisy, alice = clients(), clients()
    noisy.logon("bob", KEYS["bob"])
    for garbage in ("not json", "[1,2]", '{"op": 5}', '{"op": "place", "id": 9, "side": "up"}'):
        noisy.ws.send(garbage)
        reply = json.loads(noisy.ws.recv())
        assert reply["error"]["code"] == "bad_request", garbage
    alice.logon("alice", KEYS["alice"])
    answer = alice.request(op="place", client_order_id="a4", side="buy", quantity="1.000",
                           price=_far_below(exchange))  # fmt: skip
    assert "error" not in answer
    assert exchange.open_orders("alice")


def test_a_session_over_its_message_rate_gets_rate_limited_errors(clients):
    alice = clients()
    alice.logon("alice", KEYS["alice"])
    codes = []
    for _ in range(300):  # burst 100, refill 50/s: most of a tight burst must be refused
        answer = alice.request(op="open_orders")
        codes.append(answer.get("error", {}).get("code"))
    assert "rate_limited" in codes
    assert codes[:50] == [None] * 50


def test_the_exchange_command_takes_secrets_from_the_environment_only():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEACTORS_SECRET_")}
    missing = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "exchange",
         "--api-key", "desk-1", "--duration", "0.2"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "TRADEACTORS_SECRET_DESK_1" in missing.stderr
    env["TRADEACTORS_SECRET_DESK_1"] = "s3cret-value"
    ok = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "exchange",
         "--api-key", "desk-1", "--duration", "0.2"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "accounts: desk-1" in ok.stdout
    assert "s3cret-value" not in ok.stdout + ok.stderr
