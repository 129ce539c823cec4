"""Ed25519 keys at Binance: the key file, the signature, and session.logon.

Binance publishes one Ed25519 example with its private key: the FIX API's logon
(fix-api.md, "Logon <A>": a key, a payload, the signature), reproduced here exactly. The
WebSocket API's Ed25519 example ("SIGNED request example (Ed25519)") shows the payload
and the signature but not the private key (``test-ed25519-prv.pem`` is not published),
so only its payload is reproduced; its signature cannot be.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side, SubmitOrder
from tradeactors.venues.adapter import Credentials, Request
from tradeactors.venues.binance import BinanceOrderEntry, signature_payload

if TYPE_CHECKING:
    from pathlib import Path

# fix-api.md: "The Ed25519 private key used in the example computation" (illustrative only)
FIX_EXAMPLE_KEY = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u
-----END PRIVATE KEY-----
"""
FIX_EXAMPLE_SIGNATURE = (
    "4MHXelVVcpkdwuLbl6n73HQUXUf1dse2PCgT1DYqW9w8AVZ1RACFGM+5UdlGPrQHrgtS3CvsRURC1oj73j8gCA=="
)
# the API key of web-socket-api.md's "SIGNED request example (Ed25519)"
WS_API_KEY = "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO"
BTCUSDT = Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.01", lot_size="0.00001")
NOW_MS = 1645423376532


def key_file(tmp_path: Path, pem: bytes, name: str = "key.pem") -> Path:
    path = tmp_path / name
    path.write_bytes(pem)
    return path


def new_key_pem() -> tuple[bytes, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, key


class TestTheDocumentedExamples:
    def test_the_fix_api_s_documented_ed25519_signature_is_reproduced(self, tmp_path):
        credentials = Credentials.from_key_file("EXAMPLE", key_file(tmp_path, FIX_EXAMPLE_KEY))
        # MsgType, SenderCompID, TargetCompID, MsgSeqNum, SendingTime joined by SOH
        payload = "A\x01EXAMPLE\x01SPOT\x011\x0120240627-11:17:25.223"
        assert credentials.ed25519_b64(payload) == FIX_EXAMPLE_SIGNATURE

    def test_the_ws_api_s_ed25519_example_payload_is_reproduced(self):
        params = {
            "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100,
            "timestamp": 1645423376532, "apiKey": WS_API_KEY,
        }  # fmt: skip
        assert signature_payload(params) == (
            f"apiKey={WS_API_KEY}&price=52000.00&quantity=0.01000000&recvWindow=100"
            "&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
        )


class TestTheKeyFile:
    def test_the_key_never_shows(self, tmp_path):
        pem, _ = new_key_pem()
        credentials = Credentials.from_key_file("my-key", key_file(tmp_path, pem))
        shown = repr(credentials) + str(credentials)
        assert shown.count("***") == 2
        assert "my-key" in shown
        assert pem.decode().splitlines()[1] not in shown
        assert credentials.has_ed25519
        with pytest.raises(ValueError, match="no secret"):
            credentials.hmac_sha256("x")

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"not a key at all", "not a PEM private key"),
            (
                X25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
                "not an Ed25519 private key",
            ),
            (
                Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"passphrase"),
                ),
                "the key is encrypted",
            ),
        ],
        ids=["not_pem", "x25519", "encrypted"],
    )
    def test_a_file_without_a_usable_key_is_an_error_naming_it_not_its_content(
        self, tmp_path, content, message
    ):
        path = key_file(tmp_path, content)
        with pytest.raises(ValueError, match=message) as raised:
            Credentials.from_key_file("k", path)
        assert str(path) in str(raised.value)
        if content.startswith(b"-----"):  # nothing of the key itself is in the message
            assert content.decode().splitlines()[1][:40] not in str(raised.value)

    def test_a_missing_file_is_an_error_naming_it(self, tmp_path):
        with pytest.raises(ValueError, match=r"cannot read key file .*nope\.pem"):
            Credentials.from_key_file("k", tmp_path / "nope.pem")


class TestSessionLogon:
    """With an Ed25519 key: session.logon, then requests without apiKey and signature."""

    def codec(self, credentials: Credentials) -> BinanceOrderEntry:
        clock = FakeClock(wall_offset_ns=NOW_MS * 1_000_000)
        return BinanceOrderEntry("binance", BTCUSDT, clock=clock)

    def test_the_logon_is_a_signed_session_logon_and_the_stream_follows_unsigned(self, tmp_path):
        pem, key = new_key_pem()
        credentials = Credentials.from_key_file(WS_API_KEY, key_file(tmp_path, pem))
        entry = self.codec(credentials)
        logon = json.loads(entry.logon(1, credentials, cancel_on_disconnect=False))
        assert logon["method"] == "session.logon"
        params = logon["params"]
        assert set(params) == {"apiKey", "timestamp", "recvWindow", "signature"}
        assert (params["apiKey"], params["timestamp"]) == (WS_API_KEY, NOW_MS)
        # base64 Ed25519 of the sorted payload: it verifies with the public key
        key.public_key().verify(base64.b64decode(params["signature"]), (
            f"apiKey={WS_API_KEY}&recvWindow=5000&timestamp={NOW_MS}".encode()
        ))  # fmt: skip
        follow = json.loads(entry.after_logon(2))
        assert follow == {"id": 2, "method": "userDataStream.subscribe"}
        entry.decode(json.dumps({"id": 2, "status": 200, "result": {"subscriptionId": 0}}))
        assert entry.subscription_id == 0

        order = SubmitOrder(
            client_order_id="c1", venue="binance", instrument="BTCUSDT", side=Side.BUY,
            price=5_200_000, quantity=1000,
        )  # fmt: skip
        place = json.loads(entry.encode(Request.PLACE, 3, {"order": order}))
        assert place["method"] == "order.place"
        assert "apiKey" not in place["params"]
        assert "signature" not in place["params"]
        assert (place["params"]["timestamp"], place["params"]["recvWindow"]) == (NOW_MS, 5000)

    def test_an_hmac_key_logs_on_as_before_and_signs_every_request(self):
        credentials = Credentials("hmac-key", "hmac-secret")
        entry = self.codec(credentials)
        logon = json.loads(entry.logon(1, credentials, cancel_on_disconnect=False))
        assert logon["method"] == "userDataStream.subscribe.signature"
        assert entry.after_logon(2) is None
        cancel = json.loads(entry.encode(Request.CANCEL_ALL, 3, {}))
        assert {"apiKey", "signature"} <= set(cancel["params"])

    def test_a_new_connection_logs_on_again(self, tmp_path):
        pem, _ = new_key_pem()
        credentials = Credentials.from_key_file("k", key_file(tmp_path, pem))
        entry = self.codec(credentials)
        entry.logon(1, credentials, cancel_on_disconnect=False)
        hmac_credentials = Credentials("k", "secret")
        entry.logon(5, hmac_credentials, cancel_on_disconnect=False)  # a later connection
        assert not entry.session_authenticated
        assert "signature" in json.loads(entry.encode(Request.OPEN_ORDERS, 6, {}))["params"]
