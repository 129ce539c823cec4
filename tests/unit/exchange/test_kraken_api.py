"""The Kraken spot front-end of the simulated exchange (WebSocket v2, REST), without sockets.

`KrakenApi` is transport-free: a "connection" is any object and what the venue sends it
is collected from the send function the server would give it. The expectations come
from Kraken's documentation (docs.kraken.com/api/docs: guides/spot-rest-auth,
guides/spot-ws-auth, guides/spot-errors, guides/spot-ratelimits,
rest-api/get-websockets-token, get-tradable-asset-pairs, get-order-book, websocket-v2
add_order, amend_order, cancel_order, cancel_all, cancel_after, executions, book), and
the signatures are computed here from the documented recipe, not with the module's own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.errors import ConfigError
from tradeactors.exchange.kraken_api import (
    TOKEN_PATH,
    KrakenApi,
    KrakenLimits,
    api_sign,
    book_checksum,
    pair_names,
    rest_asset_pairs,
    rest_depth,
    rest_time,
)
from tradeactors.exchange.liquidity import BackgroundLiquidity, LiquidityConfig
from tradeactors.exchange.matching import Filters, MatchingEngine, Side, TimeInForce
from tradeactors.venues.kraken import KrakenBook, KrakenResult, decode_v2_book_messages

# guides/spot-rest-auth, "Example"
DOC_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)
DOC_PATH = "/0/private/AddOrder"
DOC_NONCE = "1616492376594"
DOC_BODY = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
DOC_SIGN = (
    "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
)
KEYS = {
    "alice": base64.b64encode(b"alice-secret" * 5).decode(),
    "bob": base64.b64encode(b"bob-secret" * 6).decode(),
    "doc": DOC_SECRET,
}
PAIR = Instrument(
    venue="kraken", symbol="ETH/USD", tick_size="0.01", lot_size="0.001", min_notional="1"
)
SYMBOL = "ETH/USD"
NS = 1_000_000_000
ORDER_ID = re.compile(r"O[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}")
EXEC_ID = re.compile(r"T[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
NESTED = "[" * 5000 + "]" * 5000


def doc_sign(secret: str, path: str, nonce: str, body: str) -> str:
    """API-Sign as guides/spot-rest-auth spells it out (not the module's function)."""
    sha = hashlib.sha256((nonce + body).encode()).digest()
    mac = hmac.new(base64.b64decode(secret), path.encode() + sha, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


class Venue:
    """A KrakenApi over a fresh engine; its clock only moves when told."""

    def __init__(self, *, limits: KrakenLimits | None = None, instrument: Instrument = PAIR):
        self.clock = FakeClock()
        self.instrument = instrument
        self.engine = MatchingEngine(filters={instrument.symbol: Filters.of(instrument)})
        self.api = KrakenApi(self.engine, instrument, KEYS, self.clock, limits=limits)
        self.nonce = 1_000

    @property
    def now_ns(self) -> int:
        return self.clock.monotonic_ns()

    def advance(self, seconds: float) -> None:
        """Move the clock, then run the venue's step as the server does."""
        self.clock.advance(seconds)
        self.api.report(self.api.expire(self.now_ns))

    def rest(
        self,
        key: str | None = "alice",
        *,
        nonce: str | None = None,
        secret: str | None = None,
        body: str | None = None,
        signature: str | None = None,
        path: str = TOKEN_PATH,
    ) -> dict[str, Any]:
        """POST GetWebSocketsToken, signed as documented unless told otherwise."""
        if nonce is None:
            self.nonce += 1
            nonce = str(self.nonce)
        if body is None:
            body = f"nonce={nonce}"
        if signature is None:
            signature = doc_sign(secret or KEYS.get(key or "", KEYS["alice"]), path, nonce, body)
        status, answer = self.api.rest_token(
            path=path, api_key=key, signature=signature, body=body.encode(), now_ns=self.now_ns
        )
        assert status == 200
        return json.loads(answer)

    def token(self, key: str = "alice") -> str:
        answer = self.rest(key)
        assert answer["error"] == [], answer
        return answer["result"]["token"]

    def client(self, peer: str = "10.0.0.1") -> Client:
        return Client(self, peer)

    def take(self, side: Side, price: int, quantity: int) -> None:
        """Another market participant's IOC, reported like the server reports it."""
        events = self.engine.submit(
            account="taker",
            client_order_id=f"take-{self.nonce}",
            instrument=self.instrument.symbol,
            side=side,
            quantity=quantity,
            price=price,
            tif=TimeInForce.IOC,
        )
        self.nonce += 1
        self.api.report(events)


class Client:
    """One connection: the frames it was sent, raw and parsed."""

    def __init__(self, venue: Venue, peer: str) -> None:
        self.venue = venue
        self.raw: list[str] = []
        self.messages: list[dict[str, Any]] = []

        def send(text: str) -> bool:
            self.raw.append(text)
            self.messages.append(json.loads(text))
            return True

        venue.api.connect(self, send, venue.now_ns, peer=peer)

    def send(self, frame: str | bytes) -> list[dict[str, Any]]:
        """Everything the venue sent back for one frame."""
        before = len(self.messages)
        self.venue.api.handle(self, frame, self.venue.now_ns, wall_ns=self.venue.clock.time_ns())
        return self.messages[before:]

    def calls(self, method: str, req_id: int | None = None, **params: Any) -> list[dict[str, Any]]:
        """Every answer to one request (cancel_order answers once per order)."""
        request: dict[str, Any] = {"method": method}
        if params:
            request["params"] = params
        if req_id is not None:
            request["req_id"] = req_id
        return [m for m in self.send(json.dumps(request)) if "method" in m]

    def call(self, method: str, req_id: int | None = None, **params: Any) -> dict[str, Any]:
        answers = self.calls(method, req_id, **params)
        assert len(answers) == 1, answers
        return answers[0]

    def updates(self, **match: Any) -> list[dict[str, Any]]:
        """The executions updates' records so far whose fields equal ``match``."""
        return [
            record
            for m in self.messages
            if m.get("channel") == "executions" and m.get("type") == "update"
            for record in m["data"]
            if all(record.get(k) == v for k, v in match.items())
        ]

    def subscribe(self, token: str, **flags: Any) -> list[dict[str, Any]]:
        """Subscribe to executions: the acknowledgement and the snapshot's records."""
        before = len(self.messages)
        ack = self.call("subscribe", channel="executions", token=token, **flags)
        assert ack["success"], ack
        snapshots = [m for m in self.messages[before:] if m.get("type") == "snapshot"]
        return snapshots[0]["data"] if snapshots else []

    def place(self, token: str, **params: Any) -> dict[str, Any]:
        order = {
            "order_type": "limit",
            "side": "buy",
            "symbol": SYMBOL,
            "order_qty": 0.01,
            "limit_price": 1000.0,
            **params,
        }
        return self.call("add_order", token=token, **order)


@pytest.fixture
def venue() -> Venue:
    return Venue()


@pytest.fixture
def alice(venue: Venue) -> tuple[Client, str]:
    client = venue.client()
    token = venue.token("alice")
    client.subscribe(token)
    return client, token


def book_frames(client: Client) -> list[str]:
    """The ``book`` channel's frames, as sent (the reader under test reads only those)."""
    return [
        raw
        for raw, m in zip(client.raw, client.messages, strict=True)
        if m.get("channel") == "book"
    ]


def error_of(answer: dict[str, Any]) -> str:
    assert answer["success"] is False, answer
    return answer["error"]


class TestSignature:
    """API-Sign: base64(HMAC-SHA512(base64-decoded secret, path + SHA256(nonce + body)))."""

    def test_the_documented_example_is_reproduced(self):
        assert api_sign(DOC_SECRET, DOC_PATH, DOC_NONCE, DOC_BODY) == DOC_SIGN
        assert doc_sign(DOC_SECRET, DOC_PATH, DOC_NONCE, DOC_BODY) == DOC_SIGN

    def test_the_venue_accepts_exactly_the_documented_signature(self, venue):
        answer = venue.rest(
            "doc", nonce=DOC_NONCE, body=DOC_BODY, signature=DOC_SIGN, path=DOC_PATH
        )
        assert answer["error"] == []
        assert set(answer["result"]) == {"token", "expires"}

    @pytest.mark.parametrize(
        ("body", "path", "signature"),
        [
            (DOC_BODY.replace("1.25", "1.26"), DOC_PATH, DOC_SIGN),
            (DOC_BODY, "/0/private/CancelOrder", DOC_SIGN),
            (DOC_BODY, DOC_PATH, DOC_SIGN[:-3] + "A=="),
            (DOC_BODY, DOC_PATH, DOC_SIGN.lower()),
            (DOC_BODY, DOC_PATH, ""),
        ],
        ids=["body", "path", "one-character", "case", "empty"],
    )
    def test_anything_else_is_an_invalid_signature(self, venue, body, path, signature):
        answer = venue.rest("doc", nonce=DOC_NONCE, body=body, signature=signature, path=path)
        assert answer == {"error": ["EAPI:Invalid signature"]}

    def test_a_missing_signature_header_is_an_invalid_signature(self, venue):
        status, body = venue.api.rest_token(
            path=TOKEN_PATH, api_key="alice", signature=None, body=b"nonce=5", now_ns=0
        )
        assert (status, json.loads(body)) == (200, {"error": ["EAPI:Invalid signature"]})

    @pytest.mark.parametrize("key", [None, "mallory", "", "x" * 500])
    def test_an_unknown_or_missing_key_is_an_invalid_key(self, venue, key):
        assert venue.rest(key, secret=KEYS["alice"]) == {"error": ["EAPI:Invalid key"]}

    def test_the_answer_carries_a_token_for_900_seconds(self, venue):
        answer = venue.rest("alice")
        assert answer["result"]["expires"] == 900
        assert re.fullmatch(r"[A-Za-z0-9+/]{43}", answer["result"]["token"])

    def test_a_json_body_is_signed_and_read_too(self, venue):
        body = '{"nonce": "5000"}'
        assert venue.rest("alice", nonce="5000", body=body)["error"] == []

    def test_secrets_that_are_not_base64_are_a_config_error(self):
        with pytest.raises(ConfigError, match="not base64"):
            KrakenApi(MatchingEngine(), PAIR, {"alice": "not base64!"}, FakeClock())
        with pytest.raises(ConfigError, match="not a Kraken API key"):
            KrakenApi(MatchingEngine(), PAIR, {"a key": KEYS["alice"]}, FakeClock())


class TestNonce:
    """ "The nonce must be an always increasing, unsigned 64-bit integer" per API key."""

    def test_a_repeated_nonce_is_refused(self, venue):
        assert venue.rest(nonce="5000")["error"] == []
        assert venue.rest(nonce="5000") == {"error": ["EAPI:Invalid nonce"]}

    def test_a_lower_nonce_is_refused_a_higher_one_accepted(self, venue):
        assert venue.rest(nonce="5000")["error"] == []
        assert venue.rest(nonce="4999") == {"error": ["EAPI:Invalid nonce"]}
        assert venue.rest(nonce="5001")["error"] == []

    def test_nonces_are_per_key(self, venue):
        assert venue.rest("alice", nonce="5000")["error"] == []
        assert venue.rest("bob", nonce="10")["error"] == []

    @pytest.mark.parametrize("nonce", ["", "abc", "-5", "1.5", str(2**64), "1" * 60, "1e300"])
    def test_a_nonce_that_is_no_unsigned_64_bit_integer_is_refused(self, venue, nonce):
        assert venue.rest(nonce=nonce) == {"error": ["EAPI:Invalid nonce"]}

    def test_a_badly_signed_call_does_not_use_up_its_nonce(self, venue):
        assert venue.rest(nonce="5000", secret=KEYS["bob"])["error"] == ["EAPI:Invalid signature"]
        assert venue.rest(nonce="5000")["error"] == []

    def test_two_nonces_in_one_body_are_invalid_arguments(self, venue):
        answer = venue.rest(nonce="5000", body="nonce=5000&nonce=5001")
        assert answer == {"error": ["EGeneral:Invalid arguments"]}


class TestRestRateLimit:
    def test_the_api_counter_refuses_then_decays(self):
        venue = Venue(limits=KrakenLimits(rest_counter_max=2, rest_decay_per_second=0.5))
        assert venue.rest()["error"] == []
        assert venue.rest()["error"] == []
        assert venue.rest() == {"error": ["EAPI:Rate limit exceeded"]}
        venue.clock.advance(2.0)  # one call decayed
        assert venue.rest()["error"] == []


class TestTokens:
    """Used within 15 minutes, a token lasts as long as a connection that used it."""

    def test_an_unknown_token_is_an_invalid_key(self, venue):
        client = venue.client()
        answer = client.call("cancel_all", token="no-such-token")  # noqa: S106 - not a secret
        assert (answer["method"], error_of(answer)) == ("cancel_all", "EAPI:Invalid key")

    def test_a_private_method_needs_a_token(self, venue):
        answer = venue.client().call("cancel_all")
        assert error_of(answer).startswith("EGeneral:Invalid arguments:token")

    def test_a_token_unused_for_15_minutes_has_expired(self, venue):
        token = venue.token()
        venue.clock.advance(900.0)
        answer = venue.client().call("cancel_all", token=token)
        assert error_of(answer) == "ESession:Invalid session"

    def test_a_token_used_in_time_lasts_for_its_connection(self, venue):
        token = venue.token()
        venue.clock.advance(899.0)
        client = venue.client()
        assert client.call("cancel_all", token=token)["success"]
        venue.clock.advance(3600.0)
        assert client.call("cancel_all", token=token)["success"]
        other = venue.client()  # while the first connection is open, the token lives
        assert other.call("cancel_all", token=token)["success"]

    def test_once_its_connections_closed_a_used_token_expires(self, venue):
        token = venue.token()
        client = venue.client()
        assert client.call("cancel_all", token=token)["success"]
        venue.api.disconnect(client)
        venue.clock.advance(900.0)
        answer = venue.client().call("cancel_all", token=token)
        assert error_of(answer) == "ESession:Invalid session"

    def test_a_token_acts_for_the_key_it_was_issued_to(self, venue):
        client = venue.client()
        client.place(venue.token("bob"))
        assert venue.engine.open_orders("bob")
        assert not venue.engine.open_orders("alice")
        assert venue.api.connections_of("bob") == [client]


class TestConnection:
    def test_a_connection_is_greeted_with_the_status_message(self, venue):
        (status,) = venue.client().messages
        assert status["channel"] == "status"
        assert status["data"][0]["api_version"] == "v2"
        assert status["data"][0]["system"] == "online"

    def test_ping_answers_pong_with_the_req_id(self, venue):
        answer = venue.client().call("ping", req_id=101)
        assert answer["method"] == "pong"
        assert answer["req_id"] == 101
        assert RFC3339.fullmatch(answer["time_in"])
        assert RFC3339.fullmatch(answer["time_out"])

    def test_a_heartbeat_each_second_without_other_traffic_once_subscribed(self, venue, alice):
        client, _ = alice
        quiet = venue.client()
        venue.advance(0.5)
        assert {"channel": "heartbeat"} not in client.messages
        venue.advance(0.5)
        assert client.messages[-1] == {"channel": "heartbeat"}
        assert {"channel": "heartbeat"} not in quiet.messages

    def test_a_dropped_connection_leaves_its_orders_working(self, venue):
        client = venue.client()
        client.place(venue.token())
        venue.api.disconnect(client)
        assert len(venue.engine.open_orders("alice")) == 1


class TestAddOrder:
    def test_the_answer_carries_the_order_id_and_the_client_ids(self, venue, alice):
        client, token = alice
        answer = client.place(token, cl_ord_id="my-order-1", req_id=7)
        assert answer["method"] == "add_order"
        assert answer["success"] is True
        assert answer["req_id"] == 7
        assert ORDER_ID.fullmatch(answer["result"]["order_id"])
        assert answer["result"]["cl_ord_id"] == "my-order-1"
        assert RFC3339.fullmatch(answer["time_in"])

    def test_the_answer_comes_first_then_pending_new_then_new(self, venue, alice):
        client, token = alice
        before = len(client.messages)
        client.place(token, order_userref=42)
        answer, pending, new = client.messages[before:]
        order_id = answer["result"]["order_id"]
        assert answer["result"]["order_userref"] == 42
        assert (pending["channel"], pending["type"]) == ("executions", "update")
        assert pending["sequence"] + 1 == new["sequence"]
        record = pending["data"][0]
        assert record["exec_type"] == record["order_status"] == "pending_new"
        assert (record["order_id"], record["symbol"], record["side"]) == (order_id, SYMBOL, "buy")
        assert (record["order_qty"], record["limit_price"]) == (0.01, 1000.0)
        assert (record["order_type"], record["time_in_force"]) == ("limit", "GTC")
        assert record["order_userref"] == 42
        assert RFC3339.fullmatch(record["timestamp"])
        assert new["data"][0] == {
            "timestamp": new["data"][0]["timestamp"],
            "order_status": "new",
            "exec_type": "new",
            "order_userref": 42,
            "order_id": order_id,
        }

    def test_prices_and_quantities_are_written_with_the_pairs_decimals(self, venue, alice):
        client, token = alice
        client.place(token, order_qty=0.01, limit_price=1000)
        raw = next(r for r in client.raw if '"pending_new"' in r)
        assert '"order_qty":0.010,' in raw
        assert '"limit_price":1000.00,' in raw

    @pytest.mark.parametrize(
        "cl_ord_id",
        ["6d1b345e-2821-40e2-ad83-4ecb18a06876", "da8e4ad59b78481c93e589746b0cf91f", "a" * 18],
        ids=["long-uuid", "short-uuid", "18-characters"],
    )
    def test_cl_ord_id_is_a_uuid_or_up_to_18_characters(self, venue, alice, cl_ord_id):
        client, token = alice
        assert client.place(token, cl_ord_id=cl_ord_id)["result"]["cl_ord_id"] == cl_ord_id
        assert client.updates(exec_type="new")[0]["cl_ord_id"] == cl_ord_id

    @pytest.mark.parametrize(
        "cl_ord_id", ["a" * 19, "has space", "6d1b345e-2821-40e2-ad83-4ecb18a0687", "é"]
    )
    def test_other_cl_ord_ids_are_invalid_arguments(self, venue, alice, cl_ord_id):
        client, token = alice
        assert error_of(client.place(token, cl_ord_id=cl_ord_id)).startswith(
            "EGeneral:Invalid arguments:cl_ord_id"
        )

    def test_cl_ord_id_is_unique_among_open_orders(self, venue, alice):
        client, token = alice
        assert client.place(token, cl_ord_id="twice")["success"]
        assert error_of(client.place(token, cl_ord_id="twice")).startswith(
            "EGeneral:Invalid arguments:cl_ord_id"
        )
        client.call("cancel_all", token=token)
        assert client.place(token, cl_ord_id="twice")["success"]

    def test_cl_ord_id_and_order_userref_are_exclusive(self, venue, alice):
        client, token = alice
        answer = client.place(token, cl_ord_id="x", order_userref=1)
        assert error_of(answer).startswith("EGeneral:Invalid arguments")

    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({"limit_price": 1000.005}, "EOrder:Tick size check failed"),
            ({"order_qty": 0}, "EOrder:Order minimum not met"),
            ({"order_qty": 0.0001}, "EGeneral:Invalid arguments:order_qty"),
            ({"order_qty": 0.001, "limit_price": 1.0}, "EOrder:Cost minimum not met"),
            ({"limit_price": 0}, "EOrder:Invalid price"),
            ({"symbol": "BTC/USD"}, "EQuery:Unknown asset pair"),
            ({"side": "short"}, "EGeneral:Invalid arguments:side"),
            ({"order_type": "stop-loss"}, "EGeneral:Invalid arguments:order_type is not emulated"),
            (
                {"time_in_force": "gtd"},
                "EGeneral:Invalid arguments:time_in_force gtd is not emulated",
            ),
            ({"time_in_force": "day"}, "EGeneral:Invalid arguments:time_in_force"),
            ({"post_only": True, "time_in_force": "ioc"}, "EGeneral:Invalid arguments:post_only"),
            ({"order_type": "market"}, "EGeneral:Invalid arguments:limit_price"),
            ({"margin": True}, "EGeneral:Invalid arguments:margin is not emulated"),
            ({"display_qty": 1.0}, "EGeneral:Invalid arguments:display_qty is not emulated"),
            ({"limit_price_type": "pct"}, "EGeneral:Invalid arguments:limit_price_type"),
            ({"colour": "red"}, "EGeneral:Invalid arguments:colour"),
        ],
    )
    def test_refusals_carry_krakens_error_strings(self, venue, alice, params, error):
        client, token = alice
        answer = client.place(token, **params)
        assert answer["method"] == "add_order"
        assert error_of(answer) == error
        assert not venue.engine.open_orders("alice")
        assert not client.updates()

    @pytest.mark.parametrize(
        "missing", ["order_type", "side", "order_qty", "symbol", "limit_price"]
    )
    def test_each_required_parameter_is_required(self, venue, alice, missing):
        client, token = alice
        params = {
            "order_type": "limit", "side": "buy", "symbol": SYMBOL, "order_qty": 0.01,
            "limit_price": 1000.0,
        }  # fmt: skip
        del params[missing]
        answer = client.call("add_order", token=token, **params)
        assert error_of(answer).startswith(f"EGeneral:Invalid arguments:{missing}")

    def test_an_ioc_remainder_expires(self, venue, alice):
        client, token = alice
        venue.engine.submit(
            account="maker", client_order_id="m", instrument=PAIR.symbol, side=Side.SELL,
            quantity=4, price=100_000,
        )  # fmt: skip
        answer = client.place(token, order_qty=0.01, time_in_force="ioc")
        (trade,) = client.updates(exec_type="trade")
        assert (trade["last_qty"], trade["order_status"]) == (0.004, "partially_filled")
        (expired,) = client.updates(exec_type="expired")
        assert expired["order_id"] == answer["result"]["order_id"]
        assert (expired["order_status"], expired["cum_qty"]) == ("expired", 0.004)

    def test_an_unfillable_fok_expires_untouched(self, venue, alice):
        client, token = alice
        client.place(token, order_qty=0.01, time_in_force="fok")
        (expired,) = client.updates(exec_type="expired")
        assert (expired["cum_qty"], expired["reason"]) == (0.0, "Fill or kill")

    def test_a_post_only_order_that_would_trade_is_taken_then_cancelled(self, venue, alice):
        client, token = alice
        venue.engine.submit(
            account="maker", client_order_id="m", instrument=PAIR.symbol, side=Side.SELL,
            quantity=4, price=100_000,
        )  # fmt: skip
        answer = client.place(token, post_only=True, limit_price=1000.0)
        assert answer["success"]
        (pending,) = client.updates(exec_type="pending_new")
        (cancelled,) = client.updates(exec_type="canceled")
        assert pending["post_only"] is True
        assert cancelled["order_id"] == answer["result"]["order_id"]
        assert cancelled["reason"] == cancelled["cancel_reason"] == "Post only order"
        assert venue.engine.open_orders("maker")[0].remaining == 4

    def test_a_market_order_takes_up_to_its_protection_price(self, venue, alice):
        client, token = alice
        venue.engine.submit(
            account="maker", client_order_id="m", instrument=PAIR.symbol, side=Side.SELL,
            quantity=20, price=100_000,
        )  # fmt: skip
        answer = client.call(
            "add_order", token=token, order_type="market", side="buy", symbol=SYMBOL,
            order_qty=0.01,
        )  # fmt: skip
        assert answer["success"]
        (trade,) = client.updates(exec_type="trade")
        assert (trade["order_type"], trade["last_price"], trade["order_status"]) == (
            "market", 1000.0, "filled",
        )  # fmt: skip

    def test_the_rejecting_fault_answers_service_unavailable(self, venue, alice):
        client, token = alice
        venue.api.reject_until_ns = venue.now_ns + NS
        assert error_of(client.place(token)) == "EService:Unavailable"
        venue.clock.advance(1.0)
        assert client.place(token)["success"]


class TestExecutions:
    """websocket-v2/executions: what each update carries."""

    def test_a_partial_then_full_fill(self, venue, alice):
        client, token = alice
        order_id = client.place(token, order_qty=0.005, cl_ord_id="c1")["result"]["order_id"]
        venue.take(Side.SELL, 100_000, 2)
        (partial,) = client.updates(exec_type="trade")
        assert EXEC_ID.fullmatch(partial["exec_id"])
        assert partial["order_id"] == order_id
        assert partial["cl_ord_id"] == "c1"
        assert (partial["last_qty"], partial["last_price"], partial["cum_qty"]) == (
            0.002, 1000.0, 0.002,
        )  # fmt: skip
        assert (partial["order_status"], partial["liquidity_ind"]) == ("partially_filled", "m")
        assert (partial["cost"], partial["cum_cost"], partial["avg_price"]) == (2.0, 2.0, 1000.0)
        assert partial["fees"] == [{"asset": "USD", "qty": 0.0}]
        assert isinstance(partial["trade_id"], int)
        venue.take(Side.SELL, 100_000, 3)
        last = client.updates(exec_type="trade")[-1]
        assert (last["order_status"], last["cum_qty"]) == ("filled", 0.005)
        assert last["exec_id"] != partial["exec_id"]
        (filled,) = client.updates(exec_type="filled")
        assert (filled["order_status"], filled["cum_qty"], filled["cum_cost"]) == (
            "filled", 0.005, 5.0,
        )  # fmt: skip
        assert not venue.engine.open_orders("alice")

    def test_the_taker_sees_a_t_and_the_same_trade_id(self, venue, alice):
        client, token = alice
        bob = venue.client("10.0.0.2")
        bob.subscribe(venue.token("bob"))
        client.place(token, order_qty=0.002)
        bob.place(bob_token := venue.token("bob"), side="sell", order_qty=0.002)
        del bob_token
        (maker,) = client.updates(exec_type="trade")
        (taker,) = bob.updates(exec_type="trade")
        assert (maker["liquidity_ind"], taker["liquidity_ind"]) == ("m", "t")
        assert maker["trade_id"] == taker["trade_id"]

    def test_updates_are_numbered_in_sequence_after_the_snapshot(self, venue):
        client = venue.client()
        token = venue.token()
        client.subscribe(token)
        client.place(token)
        client.place(token)
        sequences = [m["sequence"] for m in client.messages if m.get("channel") == "executions"]
        assert sequences == [1, 2, 3, 4, 5]

    def test_the_snapshot_lists_open_orders_and_with_snap_trades_the_fills(self, venue):
        writer = venue.client()
        token = venue.token()
        writer.place(token, order_qty=0.005, cl_ord_id="resting")
        venue.take(Side.SELL, 100_000, 2)
        reader = venue.client()
        (order,) = reader.subscribe(venue.token())
        assert (order["exec_type"], order["order_status"], order["cl_ord_id"]) == (
            "new", "partially_filled", "resting",
        )  # fmt: skip
        assert (order["order_qty"], order["cum_qty"]) == (0.005, 0.002)
        both = venue.client().subscribe(venue.token(), snap_trades=True)
        assert [r["exec_type"] for r in both] == ["new", "trade"]
        assert venue.api.requests[("alice", "open_orders")] == 2
        assert venue.api.requests[("alice", "fills")] == 1

    def test_without_order_status_no_pending_new_is_sent(self, venue):
        client = venue.client()
        token = venue.token()
        client.subscribe(token, order_status=False)
        client.place(token)
        assert [r["exec_type"] for r in client.updates()] == ["new"]

    def test_one_executions_subscription_per_connection(self, venue, alice):
        client, token = alice
        answer = client.call("subscribe", channel="executions", token=token)
        assert error_of(answer) == "Already subscribed"
        assert client.call("unsubscribe", channel="executions", token=token)["success"]
        client.place(token)
        assert not client.updates()

    def test_another_accounts_updates_are_not_sent(self, venue, alice):
        client, _ = alice
        venue.client().place(venue.token("bob"))
        assert not client.updates()

    def test_a_muted_account_gets_no_updates_but_the_snapshot_still_tells(self, venue, alice):
        client, token = alice
        venue.api.muted.add("alice")
        client.place(token)
        assert not client.updates()
        assert len(venue.client().subscribe(venue.token())) == 1


class TestCancel:
    def test_cancel_by_order_id(self, venue, alice):
        client, token = alice
        order_id = client.place(token)["result"]["order_id"]
        answer = client.call("cancel_order", token=token, order_id=[order_id])
        assert answer["result"] == {"order_id": order_id}
        (cancelled,) = client.updates(exec_type="canceled")
        assert (cancelled["order_status"], cancelled["reason"]) == ("canceled", "User requested")
        assert not venue.engine.open_orders("alice")

    def test_cancel_by_cl_ord_id_and_by_order_userref(self, venue, alice):
        client, token = alice
        client.place(token, cl_ord_id="by-client-id")
        client.place(token, order_userref=9)
        client.place(token, order_userref=9)
        answer = client.call("cancel_order", token=token, cl_ord_id=["by-client-id"])
        assert answer["result"]["cl_ord_id"] == "by-client-id"
        answers = client.calls("cancel_order", token=token, order_userref=[9])
        assert [a["success"] for a in answers] == [True, True]
        assert not venue.engine.open_orders("alice")

    def test_each_order_of_a_list_is_answered_on_its_own(self, venue, alice):
        client, token = alice
        order_id = client.place(token)["result"]["order_id"]
        answers = client.calls(
            "cancel_order", 3, token=token, order_id=[order_id, "OUNKNO-WN000-000000"]
        )
        assert [a.get("error") for a in answers] == [None, "EOrder:Unknown order"]
        assert [a["req_id"] for a in answers] == [3, 3]

    def test_an_unknown_or_finished_order_is_unknown(self, venue, alice):
        client, token = alice
        order_id = client.place(token)["result"]["order_id"]
        client.call("cancel_order", token=token, order_id=[order_id])
        answer = client.call("cancel_order", token=token, order_id=[order_id])
        assert error_of(answer) == "EOrder:Unknown order"

    def test_another_accounts_order_is_unknown(self, venue, alice):
        client, _ = alice
        order_id = client.place(venue.token("bob"))["result"]["order_id"]
        answer = client.call("cancel_order", token=venue.token("alice"), order_id=[order_id])
        assert error_of(answer) == "EOrder:Unknown order"
        assert venue.engine.open_orders("bob")

    @pytest.mark.parametrize(
        "params",
        [{}, {"order_id": ["a"], "cl_ord_id": ["b"]}, {"order_id": []}, {"order_id": "O1"},
         {"order_id": ["x"] * 101}, {"order_userref": [2**40]}],
    )  # fmt: skip
    def test_malformed_id_lists_are_invalid_arguments(self, venue, alice, params):
        client, token = alice
        answer = client.call("cancel_order", token=token, **params)
        assert error_of(answer).startswith("EGeneral:Invalid arguments")

    def test_cancel_all_answers_the_count(self, venue, alice):
        client, token = alice
        for _ in range(3):
            client.place(token)
        answer = client.call("cancel_all", token=token)
        assert answer["result"] == {"count": 3}
        assert len(client.updates(exec_type="canceled")) == 3
        assert client.call("cancel_all", token=token)["result"] == {"count": 0}
        assert venue.api.requests[("alice", "cancel_all")] == 2


class TestAmend:
    def test_a_lower_quantity_keeps_the_order_and_its_queue_place(self, venue, alice):
        client, token = alice
        first = client.place(token, order_qty=0.005)["result"]["order_id"]
        client.place(token, order_qty=0.005)
        answer = client.call("amend_order", token=token, order_id=first, order_qty=0.003)
        assert answer["result"]["order_id"] == first
        assert EXEC_ID.fullmatch(answer["result"]["amend_id"])
        (amended,) = client.updates(exec_type="amended")
        assert (amended["order_id"], amended["order_qty"], amended["amended"]) == (
            first, 0.003, True,
        )  # fmt: skip
        venue.take(Side.SELL, 100_000, 3)
        (trade,) = client.updates(exec_type="trade")
        assert trade["order_id"] == first  # still first in the queue

    def test_a_new_price_keeps_the_order_id(self, venue, alice):
        client, token = alice
        order_id = client.place(token, cl_ord_id="move")["result"]["order_id"]
        answer = client.call(
            "amend_order", token=token, cl_ord_id="move", order_qty=0.01, limit_price=990.0
        )
        assert answer["result"] == {
            "amend_id": answer["result"]["amend_id"], "order_id": order_id, "cl_ord_id": "move",
        }  # fmt: skip
        (view,) = venue.engine.open_orders("alice")
        assert view.price == 99_000
        venue.take(Side.SELL, 99_000, 10)
        assert client.updates(exec_type="filled")[0]["order_id"] == order_id

    def test_an_amend_after_a_fill_counts_the_filled_part(self, venue, alice):
        client, token = alice
        order_id = client.place(token, order_qty=0.005)["result"]["order_id"]
        venue.take(Side.SELL, 100_000, 2)
        answer = client.call("amend_order", token=token, order_id=order_id, order_qty=0.002)
        assert (
            error_of(answer)
            == "EGeneral:Invalid arguments:order_qty is not above the filled quantity"
        )
        assert client.call("amend_order", token=token, order_id=order_id, order_qty=0.004)[
            "success"
        ]
        assert venue.engine.open_orders("alice")[0].remaining == 2

    def test_a_quantity_increase_is_not_emulated(self, venue, alice):
        client, token = alice
        order_id = client.place(token)["result"]["order_id"]
        answer = client.call("amend_order", token=token, order_id=order_id, order_qty=0.02)
        assert error_of(answer) == "EGeneral:Invalid arguments:order_qty increases are not emulated"

    def test_an_unknown_order_is_unknown(self, venue, alice):
        client, token = alice
        answer = client.call(
            "amend_order", token=token, order_id="OXXXXX-XXXXX-XXXXXX", order_qty=1.0
        )
        assert error_of(answer) == "EOrder:Unknown order"


class TestDeadMansSwitch:
    """websocket-v2/cancel_after: every order of the account goes when the timer runs out."""

    def test_the_answer_has_the_current_and_trigger_times(self, venue, alice):
        client, token = alice
        answer = client.call("cancel_all_orders_after", token=token, timeout=60)
        assert answer["result"] == {
            "currentTime": "2023-11-14T22:13:20Z", "triggerTime": "2023-11-14T22:14:20Z",
        }  # fmt: skip

    def test_it_fires_when_the_timer_runs_out(self, venue, alice):
        client, token = alice
        client.place(token)
        venue.client().place(venue.token("bob"))
        client.call("cancel_all_orders_after", token=token, timeout=60)
        venue.advance(59.9)
        assert venue.engine.open_orders("alice")
        venue.advance(0.1)
        assert not venue.engine.open_orders("alice")
        assert venue.engine.open_orders("bob")  # another account's are its own business
        (cancelled,) = client.updates(exec_type="canceled")
        assert cancelled["order_status"] == "canceled"

    def test_each_request_pushes_the_trigger_back(self, venue, alice):
        client, token = alice
        client.place(token)
        client.call("cancel_all_orders_after", token=token, timeout=60)
        venue.advance(50.0)
        client.call("cancel_all_orders_after", token=token, timeout=60)
        venue.advance(50.0)
        assert venue.engine.open_orders("alice")

    def test_zero_disables_it(self, venue, alice):
        client, token = alice
        client.place(token)
        client.call("cancel_all_orders_after", token=token, timeout=60)
        answer = client.call("cancel_all_orders_after", token=token, timeout=0)
        assert answer["result"]["triggerTime"] == "0"
        venue.advance(120.0)
        assert venue.engine.open_orders("alice")

    def test_once_fired_it_stays_off_until_the_next_request(self, venue, alice):
        client, token = alice
        client.call("cancel_all_orders_after", token=token, timeout=5)
        venue.advance(5.0)
        client.place(token)
        venue.advance(60.0)
        assert venue.engine.open_orders("alice")

    def test_a_dropped_connection_does_not_stop_it(self, venue, alice):
        client, token = alice
        client.place(token)
        client.call("cancel_all_orders_after", token=token, timeout=10)
        venue.api.disconnect(client)
        venue.advance(10.0)
        assert not venue.engine.open_orders("alice")

    @pytest.mark.parametrize("timeout", [86_400, -1, 1.5, "60", None])
    def test_a_timeout_outside_0_to_86399_seconds_is_invalid(self, venue, alice, timeout):
        client, token = alice
        answer = client.call("cancel_all_orders_after", token=token, timeout=timeout)
        assert error_of(answer).startswith("EGeneral:Invalid arguments:timeout")


class TestTradingRateLimits:
    """guides/spot-ratelimits: a counter per pair, +1 per order, cancels by the order's age."""

    def test_add_order_is_refused_at_the_threshold_then_allowed_as_it_decays(self):
        venue = Venue(limits=KrakenLimits(max_rate_count=3, rate_decay_per_second=1.0))
        client, token = venue.client(), venue.token()
        assert [client.place(token).get("error") for _ in range(4)] == [
            None, None, None, "EOrder:Rate limit exceeded",
        ]  # fmt: skip
        venue.clock.advance(2.0)  # 4 counted (the refused one too), 2 decayed
        assert client.place(token)["success"]

    def test_cancelling_a_young_order_costs_more(self):
        venue = Venue(limits=KrakenLimits(max_rate_count=10, rate_decay_per_second=0.001))
        client, token = venue.client(), venue.token()
        order_id = client.place(token)["result"]["order_id"]  # 1
        client.call("cancel_order", token=token, order_id=[order_id])  # +8 under 5 s: 9
        assert client.place(token)["success"]  # 10
        assert error_of(client.place(token)) == "EOrder:Rate limit exceeded"

    def test_the_counter_is_in_each_update_with_ratecounter_only(self):
        """websocket-v2/executions ``ratecounter``: the rate-limit counter in the stream."""
        venue = Venue(limits=KrakenLimits(max_rate_count=60, rate_decay_per_second=1.0))
        token = venue.token()
        counted, plain = venue.client(), venue.client()
        counted.subscribe(token, ratecounter=True, snap_orders=False)
        plain.subscribe(token, snap_orders=False)
        venue.api.spend_rate_count("alice", 40, venue.now_ns)  # another client's doing
        order_id = counted.place(token)["result"]["order_id"]  # +1: 41
        venue.clock.advance(2.0)  # 39
        counted.call("cancel_order", token=token, order_id=[order_id])  # +8 (under 5 s): 47
        counts = [record["ratecount"] for record in counted.updates(order_id=order_id)]
        assert counts == [41, 41, 47]  # pending_new, new, canceled: the counter as sent
        assert all("ratecount" not in record for record in plain.updates())
        assert len(plain.updates()) == 3
        assert venue.api.rate_count("alice", venue.now_ns) == 47
        refused = venue.client().call(
            "subscribe", channel="executions", token=token, ratecounter="yes"
        )
        assert refused["error"].startswith("EGeneral:Invalid arguments")

    def test_the_open_orders_limit(self):
        venue = Venue(limits=KrakenLimits(max_open_orders=2))
        client, token = venue.client(), venue.token()
        client.place(token)
        client.place(token)
        assert error_of(client.place(token)) == "EOrder:Orders limit exceeded"

    def test_a_connection_sending_too_fast_is_refused_not_dropped(self):
        venue = Venue(limits=KrakenLimits(messages_per_second=1.0, message_burst=2))
        client = venue.client()
        answers = [client.call("ping").get("error") for _ in range(3)]
        assert answers == [None, None, "EAPI:Rate limit exceeded"]
        venue.clock.advance(1.0)
        assert client.call("ping")["method"] == "pong"

    def test_limits_must_be_positive(self):
        with pytest.raises(ConfigError, match="max_rate_count"):
            KrakenLimits(max_rate_count=0)


class TestHostileInput:
    """Whatever arrives is answered with an error, and the session serves on."""

    @pytest.mark.parametrize(
        "frame",
        [
            "not json", NESTED, "[1, 2]", "{}", '{"method": 5}', '{"method": "x" }',
            '{"method": "add_order", "params": []}', '{"method": "ping", "req_id": "7"}',
            '{"method": "ping", "req_id": ' + "9" * 60 + "}", '{"method": "ping", "req_id": 1e300}',
            '{"method": "' + "m" * 10_000 + '"}', b"\xff\xfe",
            '{"method": "ping", "params": {"a": 1}}',
            '{"method": "subscribe", "params": {"channel": "balances"}}',
            '{"method": "subscribe", "params": {"channel": ' + NESTED + "}}",
        ],
    )  # fmt: skip
    def test_malformed_frames_are_answered_with_an_error(self, venue, frame):
        client = venue.client()
        (answer,) = client.send(frame)
        assert answer["success"] is False
        assert answer["error"].startswith(("EGeneral:", "EAPI:"))
        assert client.call("ping")["method"] == "pong"

    @pytest.mark.parametrize(
        "number", ["1" * 60, "1e300", "-1", '"0.01"', "true", "[0.01]", "{}", "0.1e1", "1" * 21]
    )
    def test_quantities_that_are_no_plain_decimal_are_invalid(self, venue, alice, number):
        client, token = alice
        params = (
            f'{{"order_type": "limit", "side": "buy", "symbol": "{SYMBOL}", "limit_price": 1000.0,'
            f' "order_qty": {number}, "token": "{token}"}}'
        )
        (answer,) = [
            m
            for m in client.send(f'{{"method": "add_order", "params": {params}}}')
            if "method" in m
        ]
        assert error_of(answer) == "EGeneral:Invalid arguments:order_qty"

    @pytest.mark.parametrize("value", [5, None, [1], {"a": 1}, "x" * 100])
    def test_wrong_types_are_invalid_arguments(self, venue, alice, value):
        client, token = alice
        answer = client.place(token, side=value)
        assert error_of(answer).startswith("EGeneral:Invalid arguments:side")

    @settings(max_examples=150, deadline=None)
    @given(
        st.dictionaries(
            st.sampled_from(
                ["order_type", "side", "order_qty", "limit_price", "symbol", "time_in_force",
                 "post_only", "cl_ord_id", "order_userref", "order_id", "timeout", "channel",
                 "depth", "snap_orders"]
            ),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3)
                ),
                max_leaves=6,
            ),
            max_size=8,
        ),
        st.sampled_from(
            ["add_order", "amend_order", "cancel_order", "cancel_all_orders_after", "subscribe"]
        ),
    )  # fmt: skip
    def test_any_parameters_are_answered_and_the_engine_stays_sound(self, params, method):
        venue = Venue()
        client = venue.client()
        request = {"method": method, "params": {**params, "token": venue.token()}, "req_id": 1}
        answers = [m for m in client.send(json.dumps(request)) if "success" in m]
        assert answers
        assert all(a["success"] or a["error"].startswith("E") for a in answers)
        venue.engine.check_invariants()
        assert client.call("ping")["method"] == "pong"


class TestBook:
    """websocket-v2/book: a snapshot, then updates, each with Kraken's checksum."""

    def test_the_checksum_is_krakens_crc32_of_asks_then_bids(self):
        asks = [("45285.2", "0.00100000"), ("45286.4", "1.54571953")]
        bids = [("45283.5", "0.10000000")]
        text = "45285210000045286415457195345283510000000"
        assert book_checksum(asks, bids) == zlib.crc32(text.encode())

    def subscribe(self, venue: Venue, depth: int) -> tuple[Client, KrakenBook]:
        client = venue.client()
        answers = client.calls("subscribe", 4, channel="book", symbol=[SYMBOL], depth=depth)
        assert answers[0]["result"] == {
            "channel": "book", "depth": depth, "snapshot": True, "symbol": SYMBOL,
        }  # fmt: skip
        reader = KrakenBook(
            Instrument(venue="kraken", symbol=SYMBOL, tick_size="0.01", lot_size="0.001"),
            depth=depth,
        )
        return client, reader

    @pytest.mark.parametrize("depth", [10, 25])
    def test_the_projects_own_reader_follows_every_update_and_checksum(self, depth):
        venue = Venue()
        liquidity = BackgroundLiquidity(
            venue.engine, PAIR.symbol, seed=7, config=LiquidityConfig(depth_ticks=40)
        )
        venue.api.report(liquidity.step(0))
        client, reader = self.subscribe(venue, depth)
        for step in range(1, 200):
            venue.api.report(liquidity.step(step * 50_000_000))
        results = [
            reader.on_message(message)
            for frame in book_frames(client)
            for message in decode_v2_book_messages(frame) or ()
        ]
        assert results[0] is KrakenResult.SNAPSHOT
        assert len(results) > 50
        assert set(results[1:]) == {KrakenResult.APPLIED}
        bids = venue.engine.depth(PAIR.symbol, Side.BUY, depth)
        asks = venue.engine.depth(PAIR.symbol, Side.SELL, depth)
        assert reader.book.bids(depth) == bids
        assert reader.book.asks(depth) == asks

    def test_an_order_placed_on_the_same_connection_updates_the_book(self):
        venue = Venue()
        client, reader = self.subscribe(venue, 10)
        client.place(venue.token(), order_qty=0.005, limit_price=999.5)
        updates = [m for m in client.messages if m.get("channel") == "book"]
        assert [m["type"] for m in updates] == ["snapshot", "update"]
        assert updates[1]["data"][0]["bids"] == [{"price": 999.5, "qty": 0.005}]
        assert RFC3339.fullmatch(updates[1]["data"][0]["timestamp"])
        for frame in book_frames(client):
            for message in decode_v2_book_messages(frame) or ():
                assert reader.on_message(message) in (KrakenResult.SNAPSHOT, KrakenResult.APPLIED)

    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({"symbol": ["BTC/USD"]}, "Currency pair not supported BTC/USD"),
            ({"symbol": [SYMBOL], "depth": 15}, "EGeneral:Invalid arguments:depth"),
            ({"symbol": [SYMBOL], "depth": 0}, "EGeneral:Invalid arguments:depth"),
            ({}, "EGeneral:Invalid arguments:symbol is required"),
        ],
    )
    def test_refused_subscriptions(self, venue, params, error):
        answer = venue.client().call("subscribe", channel="book", **params)
        assert error_of(answer) == error

    def test_one_book_subscription_per_connection_and_unsubscribe(self, venue):
        client = venue.client()
        client.call("subscribe", channel="book", symbol=[SYMBOL])
        assert (
            error_of(client.call("subscribe", channel="book", symbol=[SYMBOL]))
            == "Already subscribed"
        )
        answer = client.call("unsubscribe", channel="book", symbol=[SYMBOL])
        assert answer["result"] == {"channel": "book", "depth": 10, "symbol": SYMBOL}
        client.place(venue.token())
        assert [m["type"] for m in client.messages if m.get("channel") == "book"] == ["snapshot"]


class TestTrades:
    """websocket-v2/trade: every trade once, its taker's side, read by the project's client."""

    def test_a_trade_is_published_with_the_taker_s_side_and_read_as_a_trade_tick(
        self, venue, alice
    ):
        from tradeactors.core.messages import Side as TakerSide
        from tradeactors.core.messages import TradeTick
        from tradeactors.venues.capture import Frame
        from tradeactors.venues.kraken import ADAPTER

        watcher = venue.client("10.0.0.2")
        answer = watcher.call("subscribe", 5, channel="trade", symbol=[SYMBOL])
        assert answer["result"] == {"channel": "trade", "snapshot": False, "symbol": SYMBOL}
        maker, token = alice
        maker.place(token, side="sell", order_qty=0.005, limit_price=1000.5)
        venue.take(Side.BUY, 100_050, 3)  # 0.003 ETH at 1000.50, another participant's
        trades = [m for m in watcher.messages if m.get("channel") == "trade"]
        assert len(trades) == 1
        (record,) = trades[0]["data"]
        assert trades[0]["type"] == "update"
        assert record["symbol"] == SYMBOL
        assert (record["side"], record["price"], record["qty"]) == ("buy", 1000.5, 0.003)
        assert record["ord_type"] == "limit"
        assert RFC3339.fullmatch(record["timestamp"])
        fill = maker.updates(exec_type="trade")[0]
        assert record["trade_id"] == fill["trade_id"]  # one trade, one id, both views
        raw = next(r for r in watcher.raw if '"trade"' in r and '"update"' in r)
        market_data = ADAPTER.market_data
        (event,) = market_data.decode(Frame(received_ns=1, source="ws", payload=raw))
        tick = market_data.trade_tick(PAIR, event.data)
        assert tick == TradeTick(
            instrument=SYMBOL,
            price=100_050,
            quantity=3,
            side=TakerSide.BUY,
            timestamp_ns=tick.timestamp_ns,
        )
        assert tick.timestamp_ns > 0

    def test_a_snapshot_of_the_last_trades_only_when_asked_and_unsubscribe(self, venue, alice):
        maker, token = alice
        maker.place(token, side="buy", order_qty=0.006, limit_price=999.0)
        venue.take(Side.SELL, 99_900, 2)
        venue.take(Side.SELL, 99_900, 2)  # (at least 1 USD of notional: the pair's minimum)
        late = venue.client("10.0.0.3")
        late.call("subscribe", channel="trade", symbol=[SYMBOL], snapshot=True)
        (snapshot,) = [m for m in late.messages if m.get("type") == "snapshot"]
        assert [(t["side"], t["qty"]) for t in snapshot["data"]] == [
            ("sell", 0.002),
            ("sell", 0.002),
        ]
        assert error_of(late.call("subscribe", channel="trade", symbol=[SYMBOL])) == (
            "Already subscribed"
        )
        answer = late.call("unsubscribe", channel="trade", symbol=[SYMBOL])
        assert answer["result"] == {"channel": "trade", "symbol": SYMBOL}
        venue.take(Side.SELL, 99_900, 2)
        assert [m["type"] for m in late.messages if m.get("channel") == "trade"] == ["snapshot"]
        assert error_of(late.call("unsubscribe", channel="trade", symbol=[SYMBOL])) == (
            "Subscription Not Found"
        )

    def test_a_trade_subscription_needs_a_pair_the_venue_has(self, venue):
        client = venue.client()
        assert error_of(client.call("subscribe", channel="trade")) == (
            "EGeneral:Invalid arguments:symbol is required"
        )
        assert error_of(client.call("subscribe", channel="trade", symbol=["BTC/USD"])) == (
            "Currency pair not supported BTC/USD"
        )


class TestRest:
    def test_asset_pairs_describes_the_pair(self, venue):
        filters = venue.engine.filters(PAIR.symbol)
        status, body = rest_asset_pairs("pair=ETHUSD", PAIR, filters)
        result = json.loads(body)["result"]
        assert status == 200
        pair = result["ETHUSD"]
        assert (pair["altname"], pair["wsname"], pair["base"], pair["quote"]) == (
            "ETHUSD", "ETH/USD", "ETH", "USD",
        )  # fmt: skip
        assert (pair["pair_decimals"], pair["lot_decimals"], pair["cost_decimals"]) == (2, 3, 5)
        assert (pair["tick_size"], pair["ordermin"], pair["costmin"]) == (
            "0.01",
            "0.001",
            "1.00000",
        )
        assert pair["status"] == "online"

    @pytest.mark.parametrize("query", ["pair=ETH/USD", "", "pair=ETHUSD,ETH/USD"])
    def test_asset_pairs_knows_the_pair_by_any_of_its_names(self, venue, query):
        body = rest_asset_pairs(query, PAIR, venue.engine.filters(PAIR.symbol))[1]
        assert list(json.loads(body)["result"]) == ["ETHUSD"]

    def test_an_unknown_pair_is_an_unknown_asset_pair(self, venue):
        body = rest_asset_pairs("pair=XBTUSD", PAIR, venue.engine.filters(PAIR.symbol))[1]
        assert json.loads(body) == {"error": ["EQuery:Unknown asset pair"]}

    def test_depth_lists_levels_with_their_time(self, venue):
        client = venue.client()
        token = venue.token()
        client.place(token, order_qty=0.005, limit_price=999.0)
        client.place(token, order_qty=0.004, limit_price=998.0)

        def depth(side, levels):
            return venue.engine.depth(PAIR.symbol, side, levels)

        status, body = rest_depth("pair=ETHUSD&count=1", PAIR, depth, 1_700_000_000 * NS)
        assert (status, json.loads(body)) == (
            200,
            {
                "error": [],
                "result": {"ETHUSD": {"asks": [], "bids": [["999.00", "0.005", 1_700_000_000]]}},
            },
        )
        assert json.loads(rest_depth("pair=X", PAIR, depth, 0)[1]) == {
            "error": ["EQuery:Unknown asset pair"]
        }
        assert json.loads(rest_depth("count=x&pair=ETHUSD", PAIR, depth, 0)[1])["error"]

    def test_time(self):
        answer = json.loads(rest_time(1_616_492_376_594_000_000)[1])
        assert answer["result"] == {
            "unixtime": 1_616_492_376,
            "rfc1123": "Tue, 23 Mar 21 09:39:36 +0000",
        }

    def test_pair_names_of_a_concatenated_symbol(self):
        names = pair_names(
            Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")
        )
        assert (names.key, names.wsname) == ("SIMUSDT", "SIM/USDT")
