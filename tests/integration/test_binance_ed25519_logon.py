"""Ed25519 keys at Binance over real sockets: session.logon, then unsigned requests.

The simulated exchange's Binance front-end keyed with an Ed25519 public key (its
account cannot be signed for with HMAC), driven by a raw websocket client as the docs
write the requests, and by the trading tree with ``[venue] key_file``.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import websocket
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from trading_helpers import (
    MID,
    SYMBOL,
    TradingEvents,
    config_for,
    resting_buy,
    still_exchange,
)

from tradeactors.core.messages import OrderStatus, OrderUpdate, Side, VenueStatus
from tradeactors.errors import ChildStartError, ConfigError, VenueLogonRefusedError
from tradeactors.trading.system import TradingSystem
from tradeactors.venues.binance import signature_payload

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

KEY = Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def venue() -> Iterator[SimExchange]:
    """Binance's protocol, the account ``demo`` keyed with KEY's public half."""
    with still_exchange(protocol="binance", keys={"demo": public_pem(KEY)}) as exchange:
        yield exchange


class Client:
    """A raw WebSocket API client, requests written as the docs write them."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=5)
        self._ids = itertools.count(1)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(self._ids)
        frame: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            frame["params"] = params
        self.ws.send(json.dumps(frame))
        while True:  # pushed events may come first
            answer = json.loads(self.ws.recv())
            if answer.get("id") == request_id:
                return answer

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def client(venue) -> Iterator[Client]:
    client = Client(venue.trade_url)
    try:
        yield client
    finally:
        client.close()


def ed25519_signed(key: Ed25519PrivateKey, params: dict[str, Any]) -> dict[str, Any]:
    signature = key.sign(signature_payload(params).encode())
    return {**params, "signature": base64.b64encode(signature).decode()}


def now_ms(_venue: SimExchange) -> int:
    """A request's ``timestamp``: the wall clock, which the venue's shares (same host)."""
    return time.time_ns() // 1_000_000


class TestTheEmulator:
    """session.logon as web-socket-api.md documents it ("Session Authentication")."""

    def test_a_logged_on_session_places_and_cancels_without_apikey_or_signature(
        self, venue, client
    ):
        logon = client.call(
            "session.logon",
            ed25519_signed(KEY, {"apiKey": "demo", "timestamp": now_ms(venue)}),
        )
        assert logon["status"] == 200, logon
        assert logon["result"]["apiKey"] == "demo"
        assert client.call("session.status")["result"]["apiKey"] == "demo"
        placed = client.call(
            "order.place",
            {
                "symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                "price": "990.00", "quantity": "0.005", "newClientOrderId": "ed-1",
                "timestamp": now_ms(venue),
            },
        )  # fmt: skip
        assert placed["status"] == 200, placed
        assert [o.remaining for o in venue.open_orders("demo")] == [5]
        cancelled = client.call(
            "order.cancel",
            {"symbol": SYMBOL, "origClientOrderId": "ed-1", "timestamp": now_ms(venue)},
        )
        assert cancelled["status"] == 200, cancelled
        assert venue.open_orders("demo") == []
        # still a SIGNED request: its timestamp is checked
        stale = client.call("openOrders.status", {"symbol": SYMBOL, "timestamp": 1})
        assert stale["error"]["code"] == -1021
        # logged out, a request needs its apiKey and signature again
        assert client.call("session.logout")["result"]["apiKey"] is None
        refused = client.call("openOrders.status", {"symbol": SYMBOL, "timestamp": now_ms(venue)})
        assert refused["error"]["code"] == -1102

    def test_a_logon_signed_by_another_key_is_refused_and_the_session_stays_anonymous(
        self, venue, client
    ):
        other = Ed25519PrivateKey.generate()
        refused = client.call(
            "session.logon",
            ed25519_signed(other, {"apiKey": "demo", "timestamp": now_ms(venue)}),
        )
        assert (refused["status"], refused["error"]["code"]) == (400, -1022)
        assert client.call("session.status")["result"]["apiKey"] is None
        unsigned = client.call("openOrders.status", {"symbol": SYMBOL, "timestamp": now_ms(venue)})
        assert unsigned["error"]["code"] == -1102
        assert client.call("userDataStream.subscribe")["error"]["code"] == -1002

    def test_a_request_signed_with_ed25519_works_without_a_session(self, venue, client):
        answer = client.call(
            "openOrders.status",
            ed25519_signed(KEY, {"symbol": SYMBOL, "apiKey": "demo", "timestamp": now_ms(venue)}),
        )
        assert (answer["status"], answer["result"]) == (200, [])


def _binance_config(venue: SimExchange, key_file: Path) -> Any:
    config = config_for(venue)
    fields = {"kind": "binance", "key_file": str(key_file)}
    return msgspec.structs.replace(config, venue=msgspec.structs.replace(config.venue, **fields))


class TestTheTree:
    """``[venue] key_file``: the gateway logs on with session.logon and trades."""

    def test_logon_place_fill_and_cancel_with_an_ed25519_key(self, venue, tmp_path):
        key_file = tmp_path / "binance-ed25519.pem"
        key_file.write_bytes(private_pem(KEY))
        system = TradingSystem(_binance_config(venue, key_file))
        events = TradingEvents()
        system.subscribe(events)
        system.start(timeout=20)
        try:
            events.wait_for(VenueStatus, up=True)
            cid = resting_buy(system, quantity=5)
            events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
            assert venue.take(Side.SELL, MID - 300, 2) == 2  # its report: the user data stream
            events.wait_for(OrderUpdate, client_order_id=cid, fill_quantity=2)
            system.cancel(cid)
            events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.CANCELLED)
            assert venue.open_orders("demo") == []
            assert system.orders().positions[SYMBOL] == 2 == venue.position("demo")
            assert "PRIVATE KEY" not in repr(system.status())
        finally:
            summary = system.stop(timeout=10)
        assert summary.clean

    def test_a_key_the_venue_does_not_know_is_a_refused_logon(self, venue, tmp_path):
        key_file = tmp_path / "other.pem"
        key_file.write_bytes(private_pem(Ed25519PrivateKey.generate()))
        system = TradingSystem(_binance_config(venue, key_file))
        with pytest.raises(ChildStartError) as failed:
            system.start(timeout=20)
        refused = failed.value.__cause__
        while refused is not None and not isinstance(refused, VenueLogonRefusedError):
            refused = refused.__cause__
        assert isinstance(refused, VenueLogonRefusedError)
        assert "invalid_signature" in str(refused)
        assert "PRIVATE KEY" not in str(refused)

    def test_a_key_file_that_is_not_a_key_stops_the_start_with_one_line(self, venue, tmp_path):
        key_file = tmp_path / "broken.pem"
        key_file.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
        system = TradingSystem(_binance_config(venue, key_file))
        with pytest.raises(ConfigError, match=r"^\[venue\] key_file: key file .*broken\.pem: not"):
            system.start(timeout=20)
