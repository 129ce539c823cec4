"""The Binance WebSocket API front-end of the simulated exchange, without sockets.

`BinanceApi` is transport-free: a "connection" is any object and what the venue sends
it is collected from the send function the server would give it. The expectations
come from Binance's documents (binance-spot-api-docs: web-socket-api.md,
user-data-stream.md, errors.md, filters.md), quoted where they decide a value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.errors import ConfigError
from tradeactors.exchange.binance_api import (
    BinanceApi,
    RateLimits,
    exchange_info,
    rest_exchange_info,
    sign,
    signature_payload,
    split_symbol,
)
from tradeactors.exchange.matching import Filters, MatchingEngine, Side

# The key and secret of web-socket-api.md's signed request example (HMAC)
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_TIME_MS = 1645423376532
BTC = Instrument(
    venue="binance", symbol="BTCUSDT", tick_size="0.01", lot_size="0.00001", min_notional="5"
)
KEYS = {DOC_KEY: DOC_SECRET, "alice": "alice-secret", "bob": "bob-secret"}
HUGE = "1" * 60
NESTED = "[" * 5000 + "]" * 5000

# user-data-stream.md, "Order Update": every field of an executionReport's payload
REPORT_FIELDS = {
    "e", "E", "s", "c", "S", "o", "f", "q", "p", "P", "F", "g", "C", "x", "X", "r", "i",
    "l", "z", "L", "n", "N", "T", "t", "I", "w", "m", "M", "O", "Z", "Y", "Q", "W", "V",
}  # fmt: skip


class Client:
    """One connection to the venue: its answers and the user data events it was pushed."""

    def __init__(self, venue: Venue, peer: str, *, rate_limits: bool = True) -> None:
        self.venue = venue
        self.messages: list[dict[str, Any]] = []
        self._ids = 0

        def send(text: str) -> bool:
            self.messages.append(json.loads(text))
            return True

        venue.api.connect(self, send, 0, peer=peer, return_rate_limits=rate_limits)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The user data stream's events pushed so far (their payloads)."""
        return [m["event"] for m in self.messages if "event" in m]

    def reports(self, **match: Any) -> list[dict[str, Any]]:
        """The executionReports pushed so far whose fields equal ``match``."""
        return [
            e
            for e in self.events
            if e["e"] == "executionReport" and all(e.get(k) == v for k, v in match.items())
        ]

    def send(self, frame: str | bytes) -> list[dict[str, Any]]:
        """Everything the venue sent back for one frame."""
        before = len(self.messages)
        self.venue.api.handle(self, frame, 0, wall_ns=self.venue.clock.time_ns())
        return self.messages[before:]

    def call(self, method: str, key: str | None = None, **params: Any) -> dict[str, Any]:
        """The answer to one request (signed with ``key``'s secret if given)."""
        self._ids += 1
        if key is not None:
            params = signed(key, **params, timestamp=self.venue.now_ms)
        request: dict[str, Any] = {"id": self._ids, "method": method}
        if params:
            request["params"] = params
        answers = [m for m in self.send(json.dumps(request)) if "event" not in m]
        assert len(answers) == 1, answers
        assert answers[0]["id"] == self._ids
        return answers[0]

    def subscribe(self, key: str) -> int:
        answer = self.call("userDataStream.subscribe.signature", key)
        assert answer["status"] == 200, answer
        return int(answer["result"]["subscriptionId"])

    def place(self, key: str, **params: Any) -> dict[str, Any]:
        order = {"symbol": "BTCUSDT", "type": "LIMIT", "timeInForce": "GTC", **params}
        return self.call("order.place", key, **order)


def signed(key: str, **params: Any) -> dict[str, Any]:
    """``params`` with ``apiKey`` and the signature of web-socket-api.md (independent of
    the module under test: sorted ``name=value`` pairs, values as sent)."""
    params = {**params, "apiKey": key}
    texts = {k: _text(v) for k, v in params.items()}
    payload = "&".join(f"{k}={texts[k]}" for k in sorted(texts))
    secret = KEYS.get(key, "no-secret")
    params["signature"] = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return params


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Venue:
    """A BinanceApi over a fresh engine; the venue's clock stands at ``now_ms``."""

    def __init__(self, *, limits: RateLimits | None = None, now_ms: int = DOC_TIME_MS) -> None:
        self.clock = FakeClock(wall_offset_ns=now_ms * 1_000_000)
        self.engine = MatchingEngine(filters={"BTCUSDT": Filters.of(BTC)})
        self.api = BinanceApi(self.engine, BTC, KEYS, self.clock, limits=limits)

    @property
    def now_ms(self) -> int:
        return self.clock.time_ns() // 1_000_000

    def client(self, peer: str = "10.0.0.1", **flags: Any) -> Client:
        return Client(self, peer, **flags)


@pytest.fixture
def venue() -> Venue:
    return Venue()


@pytest.fixture
def alice(venue: Venue) -> Client:
    client = venue.client()
    client.subscribe("alice")
    return client


@pytest.fixture
def bob(venue: Venue) -> Client:
    client = venue.client("10.0.0.2")
    client.subscribe("bob")
    return client


def error(answer: dict[str, Any]) -> tuple[int, int, str]:
    """(status, code, msg) of an error answer."""
    assert "error" in answer, answer
    return answer["status"], answer["error"]["code"], answer["error"]["msg"]


class TestSignatures:
    """SIGNED requests are HMAC-SHA256 over the parameters sorted by name."""

    @pytest.mark.parametrize(
        ("payload", "signature"),
        [
            (  # the example as the brief (and older versions of the page) give it
                (
                    f"apiKey={DOC_KEY}&newOrderRespType=ACK&price=52000.00&quantity=0.01000000"
                    "&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC"
                    "&timestamp=1645423376532&type=LIMIT"
                ),
                "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a",
            ),
            (  # the page today: the same order without newOrderRespType
                (
                    f"apiKey={DOC_KEY}&price=52000.00&quantity=0.01000000&recvWindow=100"
                    "&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
                ),
                "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24",
            ),
            (  # and its non-ASCII symbol (full-width digits): values are signed as UTF-8
                (
                    f"apiKey={DOC_KEY}&price=0.10000000&quantity=1.00000000&recvWindow=5000"
                    "&side=BUY&symbol=\uff11\uff12\uff13\uff14\uff15\uff16&timeInForce=GTC"
                    "&timestamp=1645423376532&type=LIMIT"
                ),
                "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd",
            ),
        ],
        ids=["with-resp-type", "without", "non-ascii"],
    )
    def test_the_documented_examples_are_reproduced(self, payload, signature):
        params = dict(pair.split("=", 1) for pair in payload.split("&"))
        assert signature_payload({**params, "signature": "ignored"}) == payload
        assert sign(DOC_SECRET, params) == signature

    def test_the_documented_request_is_accepted_at_its_time_within_its_recv_window(self):
        venue = Venue(now_ms=DOC_TIME_MS + 100)  # recvWindow 100: the last moment it is good
        client = venue.client()
        request = {
            "id": "4885f793-e5ad-4c3b-8f6c-55d891472b71",
            "method": "order.place",
            "params": {
                "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100,
                "timestamp": 1645423376532, "newOrderRespType": "ACK", "apiKey": DOC_KEY,
                "signature": "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a",
            },
        }  # fmt: skip
        (answer,) = client.send(json.dumps(request))
        assert answer["id"] == request["id"]
        assert answer["status"] == 200
        assert set(answer["result"]) == {
            "symbol", "orderId", "orderListId", "clientOrderId", "transactTime",
        }  # fmt: skip
        assert venue.engine.open_orders(DOC_KEY)[0].remaining == 1000  # 0.01 at a lot of 1e-5

    def test_one_millisecond_later_the_same_request_is_outside_its_recv_window(self):
        client = Venue(now_ms=DOC_TIME_MS + 101).client()
        params = signed(
            DOC_KEY, symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
            quantity="0.01000000", price="52000.00", recvWindow=100, timestamp=DOC_TIME_MS,
        )  # fmt: skip
        (answer,) = client.send(json.dumps({"id": 1, "method": "order.place", "params": params}))
        assert error(answer) == (
            400, -1021, "Timestamp for this request is outside of the recvWindow.",
        )  # fmt: skip

    def test_an_hmac_signature_is_compared_without_regard_to_case(self, venue):
        client = venue.client()
        params = signed("alice", timestamp=venue.now_ms)
        params["signature"] = params["signature"].upper()
        (answer,) = client.send(
            json.dumps({"id": 1, "method": "userDataStream.subscribe.signature", "params": params})
        )
        assert answer["status"] == 200

    def test_numbers_may_be_sent_as_strings_and_are_signed_as_sent(self, venue):
        # Binance's own Python SDK sends every number as a string
        answer = venue.client().call(
            "openOrders.status", "alice", symbol="BTCUSDT", recvWindow="5000"
        )
        assert answer["status"] == 200

    def test_a_parameter_changed_after_signing_breaks_the_signature(self, venue):
        client = venue.client()
        params = signed("alice", symbol="BTCUSDT", timestamp=venue.now_ms)
        params["symbol"] = "ETHUSDT"
        frame = json.dumps({"id": 1, "method": "openOrders.status", "params": params})
        (answer,) = client.send(frame)
        assert error(answer) == (400, -1022, "Signature for this request is not valid.")

    def test_a_signature_under_another_secret_is_invalid(self, venue):
        client = venue.client()
        params = signed("alice", symbol="BTCUSDT", timestamp=venue.now_ms)
        params["signature"] = sign("not-alice-secret", params)
        frame = json.dumps({"id": 1, "method": "openOrders.status", "params": params})
        assert error(client.send(frame)[0])[1] == -1022

    def test_an_unknown_api_key_is_refused(self, venue):
        answer = venue.client().call("openOrders.status", "mallory", symbol="BTCUSDT")
        assert error(answer) == (401, -2015, "Invalid API-key, IP, or permissions for action.")

    def test_a_malformed_api_key_is_refused(self, venue):
        answer = venue.client().call("openOrders.status", "not a key!", symbol="BTCUSDT")
        assert error(answer) == (401, -2014, "API-key format invalid.")

    @pytest.mark.parametrize("missing", ["apiKey", "timestamp", "signature"])
    def test_a_signed_request_without_its_security_parameters_is_refused(self, venue, missing):
        params = signed("alice", symbol="BTCUSDT", timestamp=venue.now_ms)
        del params[missing]
        frame = json.dumps({"id": 1, "method": "openOrders.status", "params": params})
        status, code, msg = error(venue.client().send(frame)[0])
        assert (status, code) == (400, -1102)
        assert f"'{missing}'" in msg

    def test_keys_that_no_binance_client_could_send_are_a_config_error(self):
        with pytest.raises(ConfigError, match="not a Binance API key"):
            BinanceApi(MatchingEngine(), BTC, {"a key with spaces": "s"}, FakeClock())


class TestTiming:
    """web-socket-api.md, Timing security: recvWindow (default 5000, max 60000)."""

    def call_at(self, venue: Venue, timestamp: int, **params: Any) -> dict[str, Any]:
        client = venue.client()
        signed_params = signed("alice", symbol="BTCUSDT", timestamp=timestamp, **params)
        frame = json.dumps({"id": 1, "method": "openOrders.status", "params": signed_params})
        return client.send(frame)[0]

    @pytest.mark.parametrize("age_ms", [0, 1, 5_000])
    def test_a_timestamp_within_the_default_window_of_5000_ms_is_accepted(self, venue, age_ms):
        assert self.call_at(venue, venue.now_ms - age_ms)["status"] == 200

    def test_a_timestamp_older_than_the_default_window_is_refused(self, venue):
        answer = self.call_at(venue, venue.now_ms - 5_001)
        assert error(answer)[1:] == (
            -1021, "Timestamp for this request is outside of the recvWindow.",
        )  # fmt: skip

    def test_a_larger_recv_window_accepts_an_older_timestamp(self, venue):
        answer = self.call_at(venue, venue.now_ms - 59_000, recvWindow=60_000)
        assert answer["status"] == 200

    def test_recv_window_takes_three_decimals(self, venue):
        assert self.call_at(venue, venue.now_ms - 100, recvWindow="100.5")["status"] == 200
        assert error(self.call_at(venue, venue.now_ms - 101, recvWindow="100.5"))[1] == -1021

    @pytest.mark.parametrize("window", [60_001, "60000.001", 99_999])
    def test_a_recv_window_above_60000_is_refused(self, venue, window):
        answer = self.call_at(venue, venue.now_ms, recvWindow=window)
        assert error(answer)[1:] == (
            -1102, "'recvWindow' contains unexpected value. Cannot be greater than 60000.",
        )  # fmt: skip

    def test_a_timestamp_a_second_ahead_of_the_server_is_refused(self, venue):
        assert self.call_at(venue, venue.now_ms + 999)["status"] == 200
        answer = self.call_at(venue, venue.now_ms + 1_000)
        assert error(answer)[1:] == (
            -1021, "Timestamp for this request was 1000ms ahead of the server's time.",
        )  # fmt: skip

    def test_a_timestamp_in_microseconds_is_accepted(self, venue):
        assert self.call_at(venue, venue.now_ms * 1_000 - 4_999_999)["status"] == 200
        assert error(self.call_at(venue, venue.now_ms * 1_000 - 5_000_001))[1] == -1021


class TestGeneralMethods:
    """ping, time, exchangeInfo, session.status: unsigned."""

    def test_ping_answers_an_empty_result_with_its_weight(self, venue):
        answer = venue.client().call("ping")
        assert answer == {
            "id": 1,
            "status": 200,
            "result": {},
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                    "limit": 6000, "count": 3,  # connecting costs 2, ping 1
                }
            ],
        }  # fmt: skip

    def test_time_is_the_venue_clock_in_milliseconds(self, venue):
        assert venue.client().call("time")["result"] == {"serverTime": DOC_TIME_MS}

    def test_a_method_may_carry_the_v3_prefix(self, venue):
        assert venue.client().call("v3/time")["result"] == {"serverTime": DOC_TIME_MS}

    def test_exchange_info_describes_the_instrument_and_its_filters(self, venue):
        info = venue.client().call("exchangeInfo", symbol="BTCUSDT")["result"]
        assert info["timezone"] == "UTC"
        assert info["serverTime"] == DOC_TIME_MS
        (symbol,) = info["symbols"]
        assert (symbol["symbol"], symbol["baseAsset"], symbol["quoteAsset"]) == (
            "BTCUSDT", "BTC", "USDT",
        )  # fmt: skip
        assert symbol["orderTypes"] == ["LIMIT", "LIMIT_MAKER", "MARKET"]
        assert symbol["amendAllowed"] is True
        assert symbol["cancelReplaceAllowed"] is True
        filters = {f["filterType"]: f for f in symbol["filters"]}
        assert filters["PRICE_FILTER"] == {
            "filterType": "PRICE_FILTER", "minPrice": "0.01000000",
            "maxPrice": "9999999999.99000000", "tickSize": "0.01000000",
        }  # fmt: skip
        assert filters["LOT_SIZE"] == {
            "filterType": "LOT_SIZE", "minQty": "0.00001000",
            "maxQty": "9999999999.99999000", "stepSize": "0.00001000",
        }  # fmt: skip
        assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
        assert filters["NOTIONAL"]["applyMinToMarket"] is False
        assert {(r["rateLimitType"], r["interval"], r["intervalNum"], r["limit"]) for r in info[
            "rateLimits"
        ]} == {
            ("REQUEST_WEIGHT", "MINUTE", 1, 6000), ("ORDERS", "SECOND", 10, 50),
            ("ORDERS", "DAY", 1, 160_000),
        }  # fmt: skip

    @pytest.mark.parametrize(
        "params",
        [{"symbol": "ETHUSDT"}, {"symbols": ["BTCUSDT", "ETHUSDT"]}, {"symbols": '["XRPUSDT"]'}],
    )
    def test_exchange_info_of_another_symbol_is_an_invalid_symbol(self, venue, params):
        assert error(venue.client().call("exchangeInfo", **params))[1:] == (
            -1121,
            "Invalid symbol.",
        )

    def test_exchange_info_takes_symbols_as_an_array_or_as_its_json(self, venue):
        client = venue.client()
        assert client.call("exchangeInfo", symbols=["BTCUSDT"])["status"] == 200
        assert client.call("exchangeInfo", symbols='["BTCUSDT"]')["status"] == 200

    def test_session_status_shows_no_api_key_and_the_subscriptions(self, venue):
        client = venue.client()
        before = client.call("session.status")["result"]
        assert before == {
            "apiKey": None, "authorizedSince": None, "connectedSince": DOC_TIME_MS,
            "returnRateLimits": True, "serverTime": DOC_TIME_MS, "userDataStream": False,
        }  # fmt: skip
        client.subscribe("alice")
        assert client.call("session.status")["result"]["userDataStream"] is True

    def test_session_logon_needs_an_ed25519_key_not_an_hmac_one(self, venue):
        answer = venue.client().call("session.logon", "alice")
        assert error(answer)[1:] == (-1020, "This operation is not supported.")


class TestExchangeInfoDocument:
    """exchange_info and GET /api/v3/exchangeInfo, as filters.md shapes them."""

    def test_the_rest_answer_is_the_document(self):
        filters = Filters.of(BTC)
        status, body = rest_exchange_info(
            "symbol=BTCUSDT", BTC, filters, server_time_ms=7, limits=RateLimits()
        )
        assert status == 200
        assert json.loads(body) == exchange_info(
            BTC, filters, server_time_ms=7, limits=RateLimits()
        )

    @pytest.mark.parametrize(
        ("query", "code"),
        [
            ("symbol=ETHUSDT", -1121),
            ('symbols=["BTCUSDT","ETHUSDT"]', -1121),
            ("symbols=BTCUSDT", -1100),
            ("symbols=" + "[" * 5000, -1100),
        ],
    )
    def test_the_rest_answer_refuses_other_symbols(self, query, code):
        status, body = rest_exchange_info(
            query, BTC, Filters.of(BTC), server_time_ms=0, limits=RateLimits()
        )
        assert status == 400
        assert json.loads(body)["code"] == code

    def test_without_a_minimum_notional_the_notional_filter_allows_zero(self):
        plain = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.0001")
        info = exchange_info(plain, Filters.of(plain), server_time_ms=0, limits=RateLimits())
        notional = next(f for f in info["symbols"][0]["filters"] if f["filterType"] == "NOTIONAL")
        assert notional["minNotional"] == "0.00000000"

    @pytest.mark.parametrize(
        ("symbol", "assets"),
        [("ETHUSDT", ("ETH", "USDT")), ("ETHBTC", ("ETH", "BTC")), ("SIM", ("SIM", ""))],
    )
    def test_symbols_split_into_base_and_quote_assets(self, symbol, assets):
        assert split_symbol(symbol) == assets


class TestPlace:
    """order.place: LIMIT GTC/IOC/FOK, LIMIT_MAKER, MARKET; ACK, RESULT, FULL answers."""

    def test_a_resting_limit_order_answers_full_by_default(self, venue, alice):
        answer = alice.place(
            "alice", side="BUY", price="50000", quantity="0.002", newClientOrderId="a-1"
        )
        assert answer["status"] == 200
        assert answer["result"] == {
            "symbol": "BTCUSDT", "orderId": 1, "orderListId": -1, "clientOrderId": "a-1",
            "transactTime": DOC_TIME_MS, "price": "50000.00000000", "origQty": "0.00200000",
            "executedQty": "0.00000000", "origQuoteOrderQty": "0.00000000",
            "cummulativeQuoteQty": "0.00000000", "status": "NEW", "timeInForce": "GTC",
            "type": "LIMIT", "side": "BUY", "workingTime": DOC_TIME_MS,
            "selfTradePreventionMode": "EXPIRE_MAKER", "fills": [],
        }  # fmt: skip
        (view,) = venue.engine.open_orders("alice")
        assert (view.side, view.price, view.remaining) == (Side.BUY, 5_000_000, 200)

    def test_result_leaves_out_the_fills_and_ack_everything_but_the_ids(self, alice):
        result = alice.place(
            "alice", side="BUY", price="1", quantity="10", newOrderRespType="RESULT"
        )["result"]
        assert "fills" not in result
        assert result["status"] == "NEW"
        ack = alice.place("alice", side="BUY", price="1", quantity="10", newOrderRespType="ACK")
        assert set(ack["result"]) == {
            "symbol", "orderId", "orderListId", "clientOrderId", "transactTime",
        }  # fmt: skip

    def test_a_limit_maker_order_answers_ack_by_default(self, alice):
        answer = alice.call(
            "order.place", "alice", symbol="BTCUSDT", side="SELL", type="LIMIT_MAKER",
            price="60000", quantity="0.001",
        )  # fmt: skip
        assert set(answer["result"]) == {
            "symbol", "orderId", "orderListId", "clientOrderId", "transactTime",
        }  # fmt: skip

    def test_a_limit_maker_order_that_would_take_is_rejected(self, alice, bob):
        bob.place("bob", side="SELL", price="60000", quantity="0.001")
        answer = alice.call(
            "order.place", "alice", symbol="BTCUSDT", side="BUY", type="LIMIT_MAKER",
            price="60000", quantity="0.001",
        )  # fmt: skip
        assert error(answer) == (400, -2010, "Order would immediately match and take.")
        assert not alice.reports()[1:]  # nothing but bob's... and none of alice's orders

    def test_an_ioc_order_fills_what_it_can_and_expires_the_rest(self, alice, bob):
        bob.place("bob", side="SELL", price="60000", quantity="0.001")
        answer = alice.place(
            "alice", side="BUY", price="60000", quantity="0.003", timeInForce="IOC"
        )
        result = answer["result"]
        assert (result["status"], result["executedQty"], result["cummulativeQuoteQty"]) == (
            "EXPIRED", "0.00100000", "60.00000000",
        )  # fmt: skip
        assert result["expiryReason"] == "UNFILLED_IOC_QUANTITY_EXPIRED"
        assert result["fills"] == [
            {
                "price": "60000.00000000", "qty": "0.00100000", "commission": "0.00000000",
                "commissionAsset": "USDT", "tradeId": 1,
            }
        ]  # fmt: skip

    def test_a_fok_order_that_cannot_fill_entirely_expires_untouched(self, alice, bob):
        bob.place("bob", side="SELL", price="60000", quantity="0.001")
        result = alice.place(
            "alice", side="BUY", price="60000", quantity="0.002", timeInForce="FOK"
        )["result"]
        assert (result["status"], result["executedQty"], result["fills"]) == (
            "EXPIRED", "0.00000000", [],
        )  # fmt: skip
        assert result["expiryReason"] == "UNFILLED_FOK_ORDER_EXPIRED"

    def test_a_market_order_takes_by_quantity_without_a_price(self, alice, bob):
        bob.place("bob", side="SELL", price="60000", quantity="0.001")
        answer = alice.call(
            "order.place", "alice", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"
        )
        result = answer["result"]
        assert (result["status"], result["price"], result["type"]) == (
            "FILLED", "0.00000000", "MARKET",
        )  # fmt: skip
        assert result["fills"][0]["price"] == "60000.00000000"

    def test_a_market_order_with_nothing_to_take_expires_for_insufficient_liquidity(self, alice):
        answer = alice.call(
            "order.place", "alice", symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.001"
        )
        assert answer["result"]["expiryReason"] == "INSUFFICIENT_LIQUIDITY"

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"price": "50000.001"}, "Filter failure: PRICE_FILTER"),
            ({"price": "0"}, "Filter failure: PRICE_FILTER"),
            ({"price": "99999999999"}, "Filter failure: PRICE_FILTER"),
            ({"quantity": "0.000001"}, "Filter failure: LOT_SIZE"),
            ({"quantity": "0"}, "Filter failure: LOT_SIZE"),
            ({"quantity": "99999999999"}, "Filter failure: LOT_SIZE"),
            ({"price": "1", "quantity": "1"}, "Filter failure: NOTIONAL"),
        ],
    )
    def test_a_filter_failure_is_minus_1013_naming_the_filter(self, venue, alice, fields, message):
        order = {"side": "BUY", "price": "50000", "quantity": "0.001", **fields}
        assert error(alice.place("alice", **order)) == (400, -1013, message)
        assert not venue.engine.open_orders("alice")

    def test_a_client_order_id_may_not_be_that_of_an_open_order(self, alice):
        alice.place("alice", side="BUY", price="50000", quantity="0.001", newClientOrderId="x")
        answer = alice.place(
            "alice", side="BUY", price="50000", quantity="0.001", newClientOrderId="x"
        )
        assert error(answer) == (400, -2010, "Duplicate order sent.")

    def test_a_client_order_id_is_free_again_once_its_order_is_filled(self, alice, bob):
        alice.place("alice", side="BUY", price="50000", quantity="0.001", newClientOrderId="x")
        bob.place("bob", side="SELL", price="50000", quantity="0.001")
        answer = alice.place(
            "alice", side="BUY", price="50000", quantity="0.001", newClientOrderId="x"
        )
        assert answer["status"] == 200

    def test_without_a_client_order_id_the_venue_makes_one_up(self, alice):
        first = alice.place("alice", side="BUY", price="1", quantity="10")["result"]
        second = alice.place("alice", side="BUY", price="1", quantity="10")["result"]
        assert first["clientOrderId"] != second["clientOrderId"]
        assert len(first["clientOrderId"]) == 22

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"side": "HOLD"}, (-1117, "Invalid side.")),
            ({"type": "ICEBERG"}, (-1116, "Invalid orderType.")),
            ({"timeInForce": "GTX"}, (-1115, "Invalid timeInForce.")),
            ({"symbol": "ETHUSDT"}, (-1121, "Invalid symbol.")),
            ({"type": "STOP_LOSS"}, (-2010, "Stop loss orders are not supported for this symbol.")),
            (
                {"type": "TAKE_PROFIT_LIMIT"},
                (-2010, "Take profit limit orders are not supported for this symbol."),
            ),
            ({"icebergQty": "0.001"}, (-2010, "Iceberg orders are not supported for this symbol.")),
            (
                {"type": "LIMIT_MAKER"},  # with the fixture's timeInForce
                (-1114, "TimeInForce parameter sent when not required."),
            ),
            ({"stopPrice": "1"}, (-1106, "Parameter 'stopPrice' sent when not required.")),
            (
                {"newClientOrderId": "has spaces"},
                (
                    -1100,
                    (
                        "Illegal characters found in parameter 'newClientOrderId'; legal range "
                        "is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'."
                    ),
                ),
            ),
            (
                {"newOrderRespType": "ALL"},
                (-1130, "Data sent for parameter 'newOrderRespType' is not valid."),
            ),
            (
                {"selfTradePreventionMode": "NONE"},
                (-1130, "Data sent for parameter 'selfTradePreventionMode' is not valid."),
            ),
            ({"strategyType": 5}, (-1134, "`strategyType` was less than 1000000.")),
            (
                {"price": "1,5"},
                (
                    -1100,
                    (
                        "Illegal characters found in parameter 'price'; legal range is "
                        "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'."
                    ),
                ),
            ),
            ({"price": HUGE}, (-1108, "Parameter 'price' overflowed.")),
            (
                {"flavour": "vanilla"},
                (
                    -1104,
                    "Not all sent parameters were read; read '9' parameter(s) but was sent '10'.",
                ),
            ),
        ],
    )
    def test_a_bad_order_is_refused_with_binances_code(self, venue, alice, fields, expected):
        order = {"side": "BUY", "price": "50000", "quantity": "0.001", **fields}
        assert error(alice.place("alice", **order))[1:] == expected
        assert not venue.engine.open_orders("alice")

    @pytest.mark.parametrize(
        "missing", ["symbol", "side", "type", "timeInForce", "price", "quantity"]
    )
    def test_a_limit_order_needs_each_of_its_mandatory_parameters(self, alice, missing):
        order = {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "price": "50000", "quantity": "0.001",
        }  # fmt: skip
        del order[missing]
        status, code, msg = error(alice.call("order.place", "alice", **order))
        assert (status, code) == (400, -1102)
        assert msg == f"Mandatory parameter '{missing}' was not sent, was empty/null, or malformed."

    def test_strategy_ids_are_echoed(self, alice):
        result = alice.place(
            "alice", side="BUY", price="1", quantity="10", strategyId=37, strategyType=1_000_000
        )["result"]
        assert (result["strategyId"], result["strategyType"]) == (37, 1_000_000)
        (report,) = alice.reports(x="NEW")
        assert (report["j"], report["J"]) == (37, 1_000_000)


class TestCancel:
    """order.cancel and openOrders.cancelAll."""

    def test_an_order_is_cancelled_by_its_order_id(self, venue, alice):
        order_id = alice.place("alice", side="BUY", price="1", quantity="10")["result"]["orderId"]
        answer = alice.call("order.cancel", "alice", symbol="BTCUSDT", orderId=order_id)
        result = answer["result"]
        assert (result["orderId"], result["status"], result["origQty"]) == (
            order_id, "CANCELED", "10.00000000",
        )  # fmt: skip
        assert not venue.engine.open_orders("alice")

    def test_a_cancel_by_client_order_id_frees_it_and_names_the_order_anew(self, alice):
        alice.place("alice", side="BUY", price="1", quantity="10", newClientOrderId="mine")
        result = alice.call(
            "order.cancel", "alice", symbol="BTCUSDT", origClientOrderId="mine",
            newClientOrderId="cancel-1",
        )["result"]  # fmt: skip
        assert (result["origClientOrderId"], result["clientOrderId"]) == ("mine", "cancel-1")
        (report,) = alice.reports(x="CANCELED")
        assert (report["c"], report["C"], report["X"]) == ("cancel-1", "mine", "CANCELED")
        again = alice.place("alice", side="BUY", price="1", quantity="10", newClientOrderId="mine")
        assert again["status"] == 200

    def test_an_order_id_with_another_orders_client_order_id_is_refused(self, alice):
        order_id = alice.place("alice", side="BUY", price="1", quantity="10")["result"]["orderId"]
        answer = alice.call(
            "order.cancel", "alice", symbol="BTCUSDT", orderId=order_id, origClientOrderId="other"
        )
        assert error(answer) == (400, -2039, "Client order ID is not correct for this order ID.")

    @pytest.mark.parametrize("selector", [{"orderId": 99}, {"origClientOrderId": "nope"}])
    def test_an_unknown_order_is_minus_2011(self, alice, selector):
        answer = alice.call("order.cancel", "alice", symbol="BTCUSDT", **selector)
        assert error(answer) == (400, -2011, "Unknown order sent.")

    def test_someone_elses_order_is_unknown(self, alice, bob):
        order_id = bob.place("bob", side="BUY", price="1", quantity="10")["result"]["orderId"]
        answer = alice.call("order.cancel", "alice", symbol="BTCUSDT", orderId=order_id)
        assert error(answer)[1] == -2011

    def test_a_filled_order_is_unknown(self, alice, bob):
        order_id = alice.place("alice", side="BUY", price="50000", quantity="0.001")["result"][
            "orderId"
        ]
        bob.place("bob", side="SELL", price="50000", quantity="0.001")
        answer = alice.call("order.cancel", "alice", symbol="BTCUSDT", orderId=order_id)
        assert error(answer)[1] == -2011

    def test_a_cancel_needs_an_order_id_or_a_client_order_id(self, alice):
        answer = alice.call("order.cancel", "alice", symbol="BTCUSDT")
        assert error(answer)[1] == -1102

    def test_cancel_restrictions_hold(self, alice):
        order_id = alice.place("alice", side="BUY", price="1", quantity="10")["result"]["orderId"]
        refused = alice.call(
            "order.cancel", "alice", symbol="BTCUSDT", orderId=order_id,
            cancelRestrictions="ONLY_PARTIALLY_FILLED",
        )  # fmt: skip
        assert error(refused) == (400, -2011, "Order was not canceled due to cancel restrictions.")
        bad = alice.call(
            "order.cancel", "alice", symbol="BTCUSDT", orderId=order_id, cancelRestrictions="ANY"
        )
        assert error(bad)[1] == -1145
        done = alice.call(
            "order.cancel", "alice", symbol="BTCUSDT", orderId=order_id,
            cancelRestrictions="ONLY_NEW",
        )  # fmt: skip
        assert done["result"]["status"] == "CANCELED"

    def test_cancel_all_cancels_every_open_order_of_the_account(self, venue, alice, bob):
        for price in ("1", "2"):
            alice.place("alice", side="BUY", price=price, quantity="10")
        bob.place("bob", side="BUY", price="3", quantity="10")
        answer = alice.call("openOrders.cancelAll", "alice", symbol="BTCUSDT")
        assert [r["status"] for r in answer["result"]] == ["CANCELED", "CANCELED"]
        assert [r["price"] for r in answer["result"]] == ["1.00000000", "2.00000000"]
        assert not venue.engine.open_orders("alice")
        assert len(venue.engine.open_orders("bob")) == 1
        assert len(alice.reports(x="CANCELED")) == 2

    def test_cancel_all_with_nothing_open_is_an_unknown_order(self, alice):
        answer = alice.call("openOrders.cancelAll", "alice", symbol="BTCUSDT")
        assert error(answer) == (400, -2011, "Unknown order sent.")


class TestAmendKeepPriority:
    """order.amend.keepPriority: newQty below the order's quantity, the queue place kept."""

    def test_a_decrease_keeps_the_orders_place_in_the_queue(self, venue, alice, bob):
        first = alice.place("alice", side="BUY", price="50000", quantity="0.003")["result"]
        venue.client("10.0.0.3").call(
            "order.place", DOC_KEY, symbol="BTCUSDT", side="BUY", type="LIMIT",
            timeInForce="GTC", price="50000", quantity="0.001",
        )  # fmt: skip
        answer = alice.call(
            "order.amend.keepPriority", "alice", symbol="BTCUSDT", orderId=first["orderId"],
            newQty="0.002", newClientOrderId="smaller",
        )  # fmt: skip
        amended = answer["result"]["amendedOrder"]
        assert (amended["qty"], amended["clientOrderId"], amended["origClientOrderId"]) == (
            "0.00200000", "smaller", first["clientOrderId"],
        )  # fmt: skip
        (report,) = alice.reports(x="REPLACED")
        assert (report["q"], report["c"], report["X"]) == ("0.00200000", "smaller", "NEW")
        assert answer["result"]["executionId"] == report["I"]
        bob.place("bob", side="SELL", price="50000", quantity="0.002")
        assert alice.reports(x="TRADE")[0]["X"] == "FILLED"  # alice, still first, took it all
        assert venue.engine.open_orders(DOC_KEY)[0].remaining == 100

    def test_an_amend_of_a_partly_filled_order_counts_its_executed_quantity(self, alice, bob):
        order = alice.place("alice", side="BUY", price="50000", quantity="0.003")["result"]
        bob.place("bob", side="SELL", price="50000", quantity="0.001")
        answer = alice.call(
            "order.amend.keepPriority", "alice", symbol="BTCUSDT", orderId=order["orderId"],
            newQty="0.002",
        )  # fmt: skip
        amended = answer["result"]["amendedOrder"]
        assert (amended["qty"], amended["executedQty"], amended["status"]) == (
            "0.00200000", "0.00100000", "PARTIALLY_FILLED",
        )  # fmt: skip

    @pytest.mark.parametrize(
        ("quantity", "message"),
        [
            ("0.004", "Order amend (quantity increase) is not supported."),
            ("0.003", "The requested action would change no state; rejecting"),
        ],
    )
    def test_no_increase_and_no_no_op(self, venue, alice, quantity, message):
        order = alice.place("alice", side="BUY", price="50000", quantity="0.003")["result"]
        answer = alice.call(
            "order.amend.keepPriority", "alice", symbol="BTCUSDT", orderId=order["orderId"],
            newQty=quantity,
        )  # fmt: skip
        assert error(answer) == (400, -2038, message)
        assert venue.engine.open_orders("alice")[0].remaining == 300

    def test_an_amend_of_an_unknown_order_is_minus_2011(self, alice):
        answer = alice.call(
            "order.amend.keepPriority", "alice", symbol="BTCUSDT", origClientOrderId="no",
            newQty="1",
        )  # fmt: skip
        assert error(answer)[1] == -2011


class TestCancelReplace:
    """order.cancelReplace: the table of web-socket-api.md, not transactional."""

    def replace(self, client: Client, **params: Any) -> dict[str, Any]:
        order = {
            "symbol": "BTCUSDT", "cancelReplaceMode": "STOP_ON_FAILURE", "side": "BUY",
            "type": "LIMIT", "timeInForce": "GTC", "price": "49000", "quantity": "0.002",
            **params,
        }  # fmt: skip
        return client.call(
            "order.cancelReplace", "alice", **{k: v for k, v in order.items() if v is not None}
        )

    def test_both_succeed(self, venue, alice):
        old = alice.place("alice", side="BUY", price="50000", quantity="0.003")["result"]
        answer = self.replace(alice, cancelOrderId=old["orderId"], newClientOrderId="new-1")
        result = answer["result"]
        assert (result["cancelResult"], result["newOrderResult"]) == ("SUCCESS", "SUCCESS")
        assert result["cancelResponse"]["status"] == "CANCELED"
        assert result["newOrderResponse"]["clientOrderId"] == "new-1"
        (view,) = venue.engine.open_orders("alice")
        assert (view.price, view.remaining) == (4_900_000, 200)
        assert [r["x"] for r in alice.reports()] == ["NEW", "CANCELED", "NEW"]

    def test_stop_on_failure_places_nothing_when_the_cancel_fails(self, venue, alice):
        answer = self.replace(alice, cancelOrderId=99)
        assert answer["status"] == 400
        assert answer["error"] == {
            "code": -2022,
            "msg": "Order cancel-replace failed.",
            "data": {
                "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
                "newOrderResponse": None,
            },
        }  # fmt: skip
        assert not venue.engine.open_orders("alice")

    def test_allow_failure_places_even_when_the_cancel_fails(self, venue, alice):
        answer = self.replace(alice, cancelOrderId=99, cancelReplaceMode="ALLOW_FAILURE")
        assert error(answer)[:2] == (409, -2021)
        data = answer["error"]["data"]
        assert (data["cancelResult"], data["newOrderResult"]) == ("FAILURE", "SUCCESS")
        assert len(venue.engine.open_orders("alice")) == 1

    def test_a_new_order_the_engine_refuses_leaves_the_old_one_cancelled(self, venue, alice, bob):
        bob.place("bob", side="SELL", price="49000", quantity="0.001")
        old = alice.place("alice", side="BUY", price="40000", quantity="0.003")["result"]
        answer = self.replace(
            alice, cancelOrderId=old["orderId"], type="LIMIT_MAKER", timeInForce=None
        )
        assert error(answer)[:2] == (409, -2021)
        data = answer["error"]["data"]
        assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
        assert data["newOrderResponse"] == {
            "code": -2010, "msg": "Order would immediately match and take.",
        }  # fmt: skip
        assert not venue.engine.open_orders("alice")

    def test_filters_are_checked_before_anything_is_cancelled(self, venue, alice):
        old = alice.place("alice", side="BUY", price="50000", quantity="0.003")["result"]
        answer = self.replace(alice, cancelOrderId=old["orderId"], price="49000.001")
        assert error(answer) == (400, -1013, "Filter failure: PRICE_FILTER")
        assert venue.engine.open_orders("alice")[0].order_id == old["orderId"]


class TestQueries:
    """openOrders.status and myTrades (fills since a watermark)."""

    def test_open_orders_status_lists_the_accounts_open_orders(self, alice, bob):
        alice.place("alice", side="BUY", price="50000", quantity="0.003", newClientOrderId="a")
        bob.place("bob", side="SELL", price="50000", quantity="0.001")
        (order,) = alice.call("openOrders.status", "alice", symbol="BTCUSDT")["result"]
        assert order["clientOrderId"] == "a"
        assert (order["status"], order["executedQty"], order["origQty"]) == (
            "PARTIALLY_FILLED", "0.00100000", "0.00300000",
        )  # fmt: skip
        assert order["isWorking"] is True

    def test_open_orders_status_without_a_symbol_weighs_80(self, alice):
        answer = alice.call("openOrders.status", "alice")
        assert answer["result"] == []
        assert answer["rateLimits"][0]["count"] == 2 + 2 + 80  # connect, subscribe, this

    def trade(self, alice: Client, bob: Client, times: int) -> None:
        for _ in range(times):
            alice.place("alice", side="BUY", price="50000", quantity="0.001")
            bob.place("bob", side="SELL", price="50000", quantity="0.001")

    def test_my_trades_lists_fills_with_the_trade_ids_both_sides_see(self, alice, bob):
        self.trade(alice, bob, 3)
        mine = alice.call("myTrades", "alice", symbol="BTCUSDT")["result"]
        theirs = bob.call("myTrades", "bob", symbol="BTCUSDT")["result"]
        assert [t["id"] for t in mine] == [t["id"] for t in theirs] == [1, 2, 3]
        first = mine[0]
        assert first == {
            "symbol": "BTCUSDT", "id": 1, "orderId": first["orderId"], "orderListId": -1,
            "price": "50000.00000000", "qty": "0.00100000", "quoteQty": "50.00000000",
            "commission": "0.00000000", "commissionAsset": "USDT", "time": DOC_TIME_MS,
            "isBuyer": True, "isMaker": True, "isBestMatch": True,
        }  # fmt: skip
        assert (theirs[0]["isBuyer"], theirs[0]["isMaker"]) == (False, False)

    def test_my_trades_from_an_id_gives_that_trade_and_later_ones(self, alice, bob):
        self.trade(alice, bob, 4)
        trades = alice.call("myTrades", "alice", symbol="BTCUSDT", fromId=3)["result"]
        assert [t["id"] for t in trades] == [3, 4]
        limited = alice.call("myTrades", "alice", symbol="BTCUSDT", fromId=1, limit=2)["result"]
        assert [t["id"] for t in limited] == [1, 2]
        recent = alice.call("myTrades", "alice", symbol="BTCUSDT", limit=1)["result"]
        assert [t["id"] for t in recent] == [4]

    def test_my_trades_of_one_order(self, alice, bob):
        self.trade(alice, bob, 1)
        order = alice.place("alice", side="BUY", price="50000", quantity="0.002")["result"]
        self.trade(alice, bob, 1)  # alice's new order is behind the first: it takes this one
        bob.place("bob", side="SELL", price="50000", quantity="0.002")
        trades = alice.call("myTrades", "alice", symbol="BTCUSDT", orderId=order["orderId"])
        assert [t["id"] for t in trades["result"]] == [2, 3]

    @pytest.mark.parametrize(
        ("params", "code"),
        [
            ({"fromId": 1, "startTime": 1}, -1128),
            ({"orderId": 1, "endTime": 1}, -1128),
            ({"startTime": 0, "endTime": 86_400_001}, -1127),
            ({"limit": 1001}, -1130),
            ({"limit": 0}, -1130),
        ],
    )
    def test_my_trades_refuses_what_the_docs_forbid(self, alice, params, code):
        assert error(alice.call("myTrades", "alice", symbol="BTCUSDT", **params))[1] == code

    def test_my_trades_within_a_time_range(self, venue, alice, bob):
        self.trade(alice, bob, 1)
        venue.clock.advance(1.0)
        self.trade(alice, bob, 1)
        start = DOC_TIME_MS + 500
        trades = alice.call("myTrades", "alice", symbol="BTCUSDT", startTime=start)["result"]
        assert [t["id"] for t in trades] == [2]


class TestUserDataStream:
    """executionReport events, field by field (user-data-stream.md, Order Update)."""

    def test_a_new_order_is_reported_with_every_documented_field(self, alice):
        alice.place("alice", side="BUY", price="50000", quantity="0.002", newClientOrderId="n")
        (message,) = [m for m in alice.messages if "event" in m]
        assert message["subscriptionId"] == 0
        report = message["event"]
        assert set(report) >= REPORT_FIELDS
        assert report == {
            "e": "executionReport", "E": DOC_TIME_MS, "s": "BTCUSDT", "c": "n", "S": "BUY",
            "o": "LIMIT", "f": "GTC", "q": "0.00200000", "p": "50000.00000000",
            "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "", "x": "NEW", "X": "NEW",
            "r": "NONE", "i": 1, "l": "0.00000000", "z": "0.00000000", "L": "0.00000000",
            "n": "0", "N": None, "T": DOC_TIME_MS, "t": -1, "I": 1, "w": True, "m": False,
            "M": False, "O": DOC_TIME_MS, "Z": "0.00000000", "Y": "0.00000000",
            "Q": "0.00000000", "W": DOC_TIME_MS, "V": "EXPIRE_MAKER",
        }  # fmt: skip

    def test_a_partial_fill_then_a_fill_are_trades(self, alice, bob):
        alice.place("alice", side="BUY", price="50000", quantity="0.003")
        bob.place("bob", side="SELL", price="50000", quantity="0.001")
        bob.place("bob", side="SELL", price="49000", quantity="0.002")
        partial, full = alice.reports(x="TRADE")
        assert (partial["X"], partial["l"], partial["z"], partial["L"]) == (
            "PARTIALLY_FILLED", "0.00100000", "0.00100000", "50000.00000000",
        )  # fmt: skip
        assert (partial["Y"], partial["Z"], partial["m"], partial["t"]) == (
            "50.00000000", "50.00000000", True, 1,
        )  # fmt: skip
        assert (partial["n"], partial["N"], partial["M"], partial["w"]) == (
            "0.00000000", "USDT", True, True,
        )  # fmt: skip
        assert (full["X"], full["l"], full["z"], full["Z"], full["t"], full["w"]) == (
            "FILLED", "0.00200000", "0.00300000", "150.00000000", 2, False,
        )  # fmt: skip
        (taker,) = bob.reports(x="TRADE", t=2)
        assert (taker["m"], taker["X"], taker["S"]) == (False, "FILLED", "SELL")
        ids = [r["I"] for r in alice.events + bob.events if r["e"] == "executionReport"]
        assert sorted(ids) == sorted(set(ids))  # one execution id per report

    def test_a_cancel_reports_the_new_and_the_original_client_order_ids(self, alice):
        order = alice.place("alice", side="BUY", price="1", quantity="10", newClientOrderId="o")
        alice.call(
            "order.cancel", "alice", symbol="BTCUSDT", orderId=order["result"]["orderId"],
            newClientOrderId="c",
        )  # fmt: skip
        (report,) = alice.reports(x="CANCELED")
        assert (report["c"], report["C"], report["X"], report["w"]) == ("c", "o", "CANCELED", False)

    def test_an_expiry_reports_its_reason(self, alice):
        alice.place("alice", side="BUY", price="50000", quantity="0.001", timeInForce="IOC")
        new, expired = alice.reports()
        assert (new["x"], new["f"]) == ("NEW", "IOC")
        assert (expired["x"], expired["X"], expired["eR"]) == (
            "EXPIRED", "EXPIRED", "UNFILLED_IOC_QUANTITY_EXPIRED",
        )  # fmt: skip
        assert expired["C"] == ""

    def test_self_trade_prevention_expires_the_resting_order(self, alice):
        resting = alice.place("alice", side="SELL", price="50000", quantity="0.001")["result"]
        taker = alice.place("alice", side="BUY", price="50000", quantity="0.001")["result"]
        (report,) = alice.reports(x="TRADE_PREVENTION")
        assert (report["i"], report["X"], report["A"], report["U"]) == (
            resting["orderId"], "EXPIRED_IN_MATCH", "0.00100000", taker["orderId"],
        )  # fmt: skip
        assert report["v"] == 1

    def test_events_go_only_to_connections_that_subscribed_the_account(self, venue, alice):
        other = venue.client("10.0.0.9")
        other.call("order.place", "alice", symbol="BTCUSDT", side="BUY", type="LIMIT",
                   timeInForce="GTC", price="1", quantity="10")  # fmt: skip
        assert not other.events
        assert alice.reports(x="NEW")

    def test_one_connection_follows_several_accounts_each_under_its_subscription(self, venue):
        both = venue.client()
        assert (both.subscribe("alice"), both.subscribe("bob")) == (0, 1)
        both.place("bob", side="BUY", price="1", quantity="10")
        assert [m["subscriptionId"] for m in both.messages if "event" in m] == [1]
        listed = both.call("session.subscriptions")["result"]
        assert listed == [{"subscriptionId": 0}, {"subscriptionId": 1}]

    def test_an_account_is_subscribed_once_per_connection(self, alice):
        answer = alice.call("userDataStream.subscribe.signature", "alice")
        assert error(answer) == (400, -2035, "User Data Stream subscription already active.")

    def test_unsubscribing_terminates_the_stream(self, alice):
        alice.call("userDataStream.unsubscribe", subscriptionId=0)
        assert alice.events[-1] == {"e": "eventStreamTerminated", "E": DOC_TIME_MS}
        alice.place("alice", side="BUY", price="1", quantity="10")
        assert not alice.reports()

    def test_fills_against_resting_orders_between_requests_are_reported(self, venue, alice):
        alice.place("alice", side="SELL", price="60000", quantity="0.001")
        events = venue.engine.submit(
            account="liquidity-0", client_order_id="bg1", instrument="BTCUSDT",
            side=Side.BUY, quantity=100, price=6_000_000,
        )  # fmt: skip
        venue.api.report(events)
        (trade,) = alice.reports(x="TRADE")
        assert (trade["X"], trade["m"], trade["t"]) == ("FILLED", True, 1)

    def test_a_muted_account_hears_nothing_but_its_fills_are_kept(self, venue, alice, bob):
        venue.api.muted.add("alice")
        alice.place("alice", side="BUY", price="50000", quantity="0.001")
        bob.place("bob", side="SELL", price="50000", quantity="0.001")
        assert not alice.reports()
        venue.api.muted.discard("alice")
        assert len(alice.call("myTrades", "alice", symbol="BTCUSDT")["result"]) == 1

    def test_a_disconnect_cancels_nothing(self, venue, alice):
        alice.place("alice", side="BUY", price="1", quantity="10")
        assert venue.api.connections_of("alice") == [alice]
        assert venue.api.disconnect(alice) == []
        assert venue.api.expire(10**18) == []
        assert len(venue.engine.open_orders("alice")) == 1


class TestRateLimits:
    """Request weight per IP (429, then a ban: 418) and unfilled orders per account."""

    def test_successful_trading_requests_weigh_nothing_and_failed_ones_their_weight(self, alice):
        before = alice.call("ping")["rateLimits"][0]["count"]
        placed = alice.place("alice", side="BUY", price="1", quantity="10")
        assert placed["rateLimits"][-1]["count"] == before
        refused = alice.place("alice", side="BUY", price="1", quantity="0")
        assert refused["rateLimits"][-1]["count"] == before + 1

    def test_an_order_answer_shows_the_order_counts(self, alice):
        limits = alice.place("alice", side="BUY", price="1", quantity="10")["rateLimits"]
        orders = {"rateLimitType": "ORDERS", "count": 1}
        assert limits[:2] == [
            {**orders, "interval": "SECOND", "intervalNum": 10, "limit": 50},
            {**orders, "interval": "DAY", "intervalNum": 1, "limit": 160000},
        ]  # fmt: skip

    def test_rate_limits_are_hidden_when_asked(self, venue):
        client = venue.client()
        assert "rateLimits" not in client.call("ping", returnRateLimits=False)
        assert "rateLimits" in client.call("ping", returnRateLimits=True)
        quiet = venue.client(rate_limits=False)
        assert "rateLimits" not in quiet.call("ping")
        assert "rateLimits" in quiet.call("ping", returnRateLimits="true")

    def test_too_many_orders_in_ten_seconds_is_429_minus_1015(self):
        venue = Venue(limits=RateLimits(orders_per_10_seconds=3), now_ms=1_700_000_000_000)
        client = venue.client()
        for _ in range(3):
            assert client.place("alice", side="BUY", price="1", quantity="10")["status"] == 200
        answer = client.place("alice", side="BUY", price="1", quantity="10")
        assert error(answer) == (
            429, -1015, "Too many new orders; current limit is 3 orders per 10 SECOND.",
        )  # fmt: skip
        assert answer["error"]["data"] == {
            "serverTime": 1_700_000_000_000, "retryAfter": 1_700_000_010_000,
        }  # fmt: skip
        assert len(venue.engine.open_orders("alice")) == 3
        venue.clock.advance(10.0)  # the next 10-second interval
        assert client.place("alice", side="BUY", price="1", quantity="10")["status"] == 200

    def test_the_order_count_is_per_account(self):
        venue = Venue(limits=RateLimits(orders_per_10_seconds=1), now_ms=1_700_000_000_000)
        client = venue.client()
        assert client.place("alice", side="BUY", price="1", quantity="10")["status"] == 200
        assert client.place("bob", side="BUY", price="1", quantity="10")["status"] == 200
        assert client.place("alice", side="BUY", price="1", quantity="10")["status"] == 429

    def test_too_much_weight_is_429_then_a_ban_is_418_until_it_ends(self):
        limits = RateLimits(request_weight_per_minute=10, ban_after=2, ban_seconds=120)
        venue = Venue(limits=limits, now_ms=1_700_000_040_000)
        client = venue.client()  # weight 2
        for _ in range(8):
            assert client.call("ping")["status"] == 200
        answer = client.call("ping")
        assert error(answer) == (
            429, -1003, (
                "Too much request weight used; current limit is 10 request weight per 1 MINUTE. "
                "Please use WebSocket Streams for live updates to avoid polling the API."
            ),
        )  # fmt: skip
        assert answer["error"]["data"]["retryAfter"] == 1_700_000_100_000  # the next minute
        assert client.call("ping")["status"] == 429
        banned = client.call("ping")  # a third 429 in a row: past ban_after
        until = 1_700_000_040_000 + 120_000
        assert error(banned) == (
            418, -1003, (
                f"Way too much request weight used; IP banned until {until}. Please use "
                "WebSocket Streams for live updates to avoid bans."
            ),
        )  # fmt: skip
        assert banned["error"]["data"] == {"serverTime": 1_700_000_040_000, "retryAfter": until}
        venue.clock.advance(60.0)  # a new minute: the weight is back, the ban is not over
        assert client.call("ping")["status"] == 418
        assert venue.client().call("ping")["status"] == 418  # the IP is banned, not the session
        assert venue.client("10.9.9.9").call("ping")["status"] == 200
        venue.clock.advance(60.0)
        assert client.call("ping")["status"] == 200

    def test_a_peer_that_backs_off_after_429_is_forgiven(self):
        limits = RateLimits(request_weight_per_minute=5, ban_after=1)
        venue = Venue(limits=limits, now_ms=1_700_000_040_000)
        client = venue.client()
        for _ in range(3):
            client.call("ping")
        assert client.call("ping")["status"] == 429
        venue.clock.advance(60.0)  # waits for retryAfter, the next minute
        for _ in range(5):
            assert client.call("ping")["status"] == 200
        assert client.call("ping")["status"] == 429  # a first strike again, not a ban

    def test_the_order_limit_counts_towards_a_ban_too(self):
        limits = RateLimits(orders_per_10_seconds=1, ban_after=1)
        venue = Venue(limits=limits, now_ms=1_700_000_000_000)
        client = venue.client()
        client.place("alice", side="BUY", price="1", quantity="10")
        assert client.place("alice", side="BUY", price="1", quantity="10")["status"] == 429
        assert client.place("alice", side="BUY", price="1", quantity="10")["status"] == 418

    def test_cancel_only_cancels_the_old_order_over_the_order_count(self):
        venue = Venue(limits=RateLimits(orders_per_10_seconds=1), now_ms=1_700_000_000_000)
        client = venue.client()
        old = client.place("alice", side="BUY", price="1", quantity="10")["result"]
        answer = client.call(
            "order.cancelReplace", "alice", symbol="BTCUSDT", cancelReplaceMode="STOP_ON_FAILURE",
            cancelOrderId=old["orderId"], side="BUY", type="LIMIT", timeInForce="GTC", price="2",
            quantity="10", orderRateLimitExceededMode="CANCEL_ONLY",
        )  # fmt: skip
        assert error(answer)[:2] == (409, -2021)
        assert answer["error"]["data"]["newOrderResponse"]["code"] == -1015
        assert not venue.engine.open_orders("alice")

    def test_invalid_limits_are_a_config_error(self):
        with pytest.raises(ConfigError, match="ban_after"):
            RateLimits(ban_after=0)


class TestFaultsAndCounters:
    """What the chaos scenarios use: refusing orders, counting requests by the sim's name."""

    def test_while_the_venue_refuses_orders_they_are_rejected(self, venue, alice):
        venue.api.reject_until_ns = 1
        assert error(alice.place("alice", side="BUY", price="1", quantity="10")) == (
            400, -2010, "Market is closed.",
        )  # fmt: skip

    def test_requests_are_counted_under_the_simulators_names(self, venue, alice):
        alice.place("alice", side="BUY", price="1", quantity="10")
        alice.call("openOrders.cancelAll", "alice", symbol="BTCUSDT")
        alice.call("myTrades", "alice", symbol="BTCUSDT")
        alice.call("openOrders.status", "alice", symbol="BTCUSDT")
        assert venue.api.requests == {
            ("alice", "place"): 1, ("alice", "cancel_all"): 1, ("alice", "fills"): 1,
            ("alice", "open_orders"): 1,
        }  # fmt: skip


# Each: exactly one error answer, the connection still served, the resting order untouched.
HOSTILE = {
    "not json": "this is not json",
    "empty frame": "",
    "binary garbage": b"\xff\xfe\x00\x01",
    "a json array": "[1, 2, 3]",
    "a json string": '"order.place"',
    "nested too deep": NESTED,
    "params nested too deep": '{"id": 1, "method": "ping", "params": {"a": ' + NESTED + "}}",
    "a value nested too deep": (
        '{"id": 1, "method": "order.place", "params": {"price": ' + "[" * 50 + "]" * 50 + "}}"
    ),
    "no id": '{"method": "ping"}',
    "an object id": '{"id": {"a": 1}, "method": "ping"}',
    "a 60-digit id": '{"id": ' + HUGE + ', "method": "ping"}',
    "a 1e300 id": '{"id": 1e300, "method": "ping"}',
    "a boolean id": '{"id": true, "method": "ping"}',
    "a long string id": '{"id": "' + "i" * 100 + '", "method": "ping"}',
    "no method": '{"id": 1}',
    "a number method": '{"id": 1, "method": 7}',
    "an unknown method": '{"id": 1, "method": "order.explode"}',
    "a long method": '{"id": 1, "method": "' + "m" * 10_000 + '"}',
    "params an array": '{"id": 1, "method": "ping", "params": [1]}',
    "params a string": '{"id": 1, "method": "ping", "params": "x"}',
    "an unknown parameter": '{"id": 1, "method": "ping", "params": {"x": 1}}',
    "a 60-digit order id": '{"id": 1, "method": "order.cancel", "params": {"orderId": '
    + HUGE
    + "}}",
    "1e300 as a quantity": (
        '{"id": 1, "method": "order.place", "params": {"apiKey": "alice", "quantity": 1e300}}'
    ),
    "a 1e999 timestamp": '{"id": 1, "method": "myTrades", "params": {"timestamp": 1e999}}',
    "a long parameter": (
        '{"id": 1, "method": "order.place", "params": {"apiKey": "' + "k" * 1000 + '"}}'
    ),
    "an array api key": '{"id": 1, "method": "order.place", "params": {"apiKey": ["alice"]}}',
    "a null api key": '{"id": 1, "method": "order.place", "params": {"apiKey": null}}',
    "an empty api key": '{"id": 1, "method": "order.place", "params": {"apiKey": ""}}',
    "bad utf-8 in a string": b'{"id": 1, "method": "ping\xff"}',
    "a bad returnRateLimits": '{"id": 1, "method": "ping", "params": {"returnRateLimits": 2}}',
    "subscriptionId 1e300": (
        '{"id": 1, "method": "userDataStream.unsubscribe", "params": {"subscriptionId": 1e300}}'
    ),
}


class TestHostileInput:
    """Every hostile frame is answered with an error; nothing crashes, nothing changes."""

    @pytest.mark.parametrize("frame", HOSTILE.values(), ids=HOSTILE.keys())
    def test_a_hostile_frame_is_answered_and_changes_nothing(self, venue, alice, frame):
        order = alice.place("alice", side="BUY", price="1", quantity="10")["result"]
        answers = alice.send(frame)
        assert len(answers) == 1, answers
        assert 400 <= answers[0]["status"] < 500
        assert answers[0]["error"]["code"] < 0
        assert alice.call("ping")["status"] == 200
        (view,) = venue.engine.open_orders("alice")
        assert view.order_id == order["orderId"]
        venue.engine.check_invariants()

    @pytest.mark.parametrize(
        "params",
        [
            {"price": HUGE},
            {"quantity": HUGE},
            {"price": "1e300"},
            {"quantity": 1e300},
            {"price": -1},
            {"quantity": "0x10"},
            {"price": True},
            {"price": {"a": 1}},
            {"newClientOrderId": "x" * 37},
            {"side": ["BUY"]},
            {"strategyId": HUGE},
            {"strategyId": -1},
        ],
        ids=repr,
    )
    def test_wrong_types_and_numbers_beyond_range_in_a_signed_order_are_refused(
        self, venue, alice, params
    ):
        order = {"side": "BUY", "price": "50000", "quantity": "0.001", **params}
        answer = alice.place("alice", **order)
        assert answer["status"] == 400
        assert not venue.engine.open_orders("alice")

    def test_the_request_id_of_a_bad_request_is_echoed_when_it_can_be_read(self, alice):
        (answer,) = alice.send('{"id": "abc", "method": 5}')
        assert answer["id"] == "abc"
        (broken,) = alice.send('{"id": "abc", "method": ')
        assert broken["id"] is None

    def test_an_internal_error_is_answered_500_and_the_session_goes_on(
        self, venue, alice, monkeypatch
    ):
        def explode(_call: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setitem(venue.api._handlers, "ping", explode)
        (answer,) = alice.send('{"id": 3, "method": "ping"}')
        assert answer == {
            "id": 3, "status": 500, "error": {
                "code": -1000, "msg": "An unknown error occurred while processing the request.",
            },
        }  # fmt: skip
        assert alice.call("time")["status"] == 200


class TestPeers:
    """Weight, strikes and bans belong to the IP address, not to a connection."""

    def test_reconnecting_does_not_reset_the_weight(self):
        venue = Venue(limits=RateLimits(request_weight_per_minute=6), now_ms=1_700_000_040_000)
        first = venue.client()
        first.call("ping")  # 2 + 1
        venue.api.disconnect(first)
        second = venue.client()  # + 2
        assert second.call("ping")["rateLimits"][0]["count"] == 6
        assert second.call("ping")["status"] == 429

    def test_an_idle_ip_is_forgotten_once_its_minute_is_over(self):
        venue = Venue(now_ms=1_700_000_040_000)
        venue.api.disconnect(venue.client("10.1.1.1"))
        venue.clock.advance(60.0)
        venue.client("10.2.2.2")
        assert set(venue.api._peers) == {"10.2.2.2"}

    def test_a_banned_ip_is_remembered_after_its_connections_close(self):
        limits = RateLimits(request_weight_per_minute=3, ban_after=1)
        venue = Venue(limits=limits, now_ms=1_700_000_040_000)
        client = venue.client()
        for _ in range(3):
            client.call("ping")
        venue.api.disconnect(client)
        venue.clock.advance(90.0)  # a new minute; the ban (120 s) is not over
        assert venue.client().call("ping")["status"] == 418


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**70), max_value=10**70)
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON has neither
    | st.text(max_size=40)
    | st.sampled_from(["BTCUSDT", "BUY", "SELL", "LIMIT", "LIMIT_MAKER", "MARKET", "GTC", "IOC",
                       "FOK", "50000", "0.001", "0", HUGE, "1e300", "-1", "FULL", "ACK"])
)  # fmt: skip
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_NAMES = st.sampled_from(
    ["symbol", "side", "type", "timeInForce", "price", "quantity", "newClientOrderId",
     "newOrderRespType", "orderId", "origClientOrderId", "newQty", "cancelReplaceMode",
     "cancelOrderId", "fromId", "limit", "startTime", "recvWindow", "subscriptionId",
     "returnRateLimits", "symbols", "strategyType", "cancelRestrictions"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, derandomize=True)  # the same examples every run
@given(
    method=st.sampled_from([*sorted(
        ["ping", "time", "exchangeInfo", "session.status", "session.subscriptions",
         "userDataStream.subscribe.signature", "userDataStream.unsubscribe", "order.place",
         "order.cancel", "openOrders.cancelAll", "order.cancelReplace",
         "order.amend.keepPriority", "openOrders.status", "myTrades"]
    ), "no.such.method"]),
    params=st.dictionaries(_NAMES, _VALUES, max_size=8),
    sign_it=st.booleans(),
)  # fmt: skip
def test_any_parameters_get_exactly_one_answer_and_keep_the_engine_sound(method, params, sign_it):
    venue = Venue()
    client = venue.client()
    client.place("alice", side="BUY", price="1", quantity="10")
    if sign_it:
        params = signed("alice", **params, timestamp=venue.now_ms)
    answers = [
        m
        for m in client.send(json.dumps({"id": 9, "method": method, "params": params}))
        if "event" not in m
    ]
    assert len(answers) == 1, answers
    assert answers[0]["status"] in (200, 400, 401, 409, 429)
    assert answers[0]["id"] == 9
    venue.engine.check_invariants()
    assert client.call("ping")["status"] == 200
