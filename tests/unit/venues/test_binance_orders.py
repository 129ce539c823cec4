"""Binance spot order entry: signing, requests, replies, execution reports, exchangeInfo.

The expectations come from Binance's documentation (binance/binance-spot-api-docs): the
signature examples are reproduced to the digit, and the documented requests, replies and
events (``binance_docs_examples.json``, transcribed from the docs with their comments
removed) go through the codec as they are.
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Side,
    SubmitOrder,
    TimeInForce,
    VenueOrder,
)
from tradeactors.errors import ParseError
from tradeactors.venues.adapter import Credentials, FillIds, Reply, Request, SessionEnded
from tradeactors.venues.binance import (
    ADAPTER,
    STOP_SENDING,
    BinanceOrderEntry,
    RateLimit,
    error_reason,
    instrument_from_exchange_info,
    rest_query,
    sign_rest,
    signature_payload,
    signed_request,
    symbol_rules,
)

EXAMPLES = json.loads(
    (Path(__file__).parent / "binance_docs_examples.json").read_text(encoding="utf-8")
)
# Binance's documented example key pair (web-socket-api.md and rest-api.md).
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
CREDENTIALS = Credentials(API_KEY, SECRET)
BTCUSDT = Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.01", lot_size="0.00001")
ETHBTC = Instrument(venue="binance", symbol="ETHBTC", tick_size="0.00000001", lot_size="0.0001")
NOW_MS = 1645423376532  # the documented examples' timestamp
FULLWIDTH_123456 = "\uff11\uff12\uff13\uff14\uff15\uff16"  # the docs' non-ASCII symbol


def example(name: str) -> dict:
    """A documented example (a fresh copy: tests may edit it)."""
    return copy.deepcopy(EXAMPLES[name]["example"])


def with_id(frame: dict, request_id: int) -> str:
    """A documented reply with the integer id the gateway uses (the docs use UUIDs)."""
    return json.dumps({**frame, "id": request_id})


def codec(
    instrument: Instrument = BTCUSDT, *, logged_on: bool = True, **kwargs
) -> tuple[BinanceOrderEntry, FakeClock]:
    clock = FakeClock(wall_offset_ns=NOW_MS * 1_000_000)
    entry = BinanceOrderEntry("binance", instrument, clock=clock, **kwargs)
    if logged_on:
        entry.logon(1, CREDENTIALS, cancel_on_disconnect=True)
    return entry, clock


def params_of(frame: str) -> dict:
    return json.loads(frame)["params"]


def report(**changes) -> str:
    """The documented executionReport (a NEW ETHBTC order), with ``changes``."""
    frame = example("executionReport event")
    frame["event"].update(changes)
    return json.dumps(frame)


def order(**changes) -> SubmitOrder:
    fields = {
        "client_order_id": "ta1x-7",
        "venue": "binance",
        "instrument": "BTCUSDT",
        "side": Side.SELL,
        "price": 5_200_000,
        "quantity": 1000,
    }
    return SubmitOrder(**{**fields, **changes})


class TestSigning:
    """Signatures reproduce Binance's documented examples exactly."""

    def test_rest_signs_the_query_string_as_sent_like_the_documented_example(self):
        query = rest_query(
            [
                ("symbol", "LTCBTC"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "1"),
                ("price", "0.1"),
                ("recvWindow", 5000),
                ("timestamp", 1499827319559),
            ]
        )
        assert query == (
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
            "&recvWindow=5000&timestamp=1499827319559"
        )
        assert (
            sign_rest(CREDENTIALS, query)
            == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        )

    def test_rest_percent_encodes_non_ascii_before_signing_like_the_documented_example(self):
        query = rest_query(
            [
                ("symbol", FULLWIDTH_123456),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "1"),
                ("price", "0.1"),
                ("recvWindow", 5000),
                ("timestamp", 1499827319559),
            ]
        )
        assert query.startswith("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&")
        assert (
            sign_rest(CREDENTIALS, query)
            == "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        )

    def test_the_websocket_api_signs_the_parameters_sorted_by_name(self):
        # the example of web-socket-api.md as first published (with newOrderRespType)
        params = {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.01000000",
            "price": "52000.00",
            "newOrderRespType": "ACK",
            "recvWindow": 100,
            "timestamp": 1645423376532,
            "apiKey": API_KEY,
        }
        payload = signature_payload(params)
        assert payload == (
            f"apiKey={API_KEY}&newOrderRespType=ACK&price=52000.00&quantity=0.01000000"
            "&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532"
            "&type=LIMIT"
        )
        assert (
            CREDENTIALS.hmac_sha256(payload)
            == "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"
        )

    @pytest.mark.parametrize(
        "name",
        [
            "order.place signed request, HMAC",
            "order.place signed request, HMAC, non-ASCII symbol",
        ],
    )
    def test_a_signed_request_is_the_documented_frame_to_the_signature(self, name):
        documented = example(name)
        params = {k: v for k, v in documented["params"].items() if k not in ("apiKey", "signature")}
        frame = signed_request(documented["id"], documented["method"], params, CREDENTIALS)
        assert json.loads(frame) == documented

    def test_signature_ignores_a_signature_parameter_and_writes_booleans_as_json(self):
        assert signature_payload({"b": True, "a": 1, "signature": "x", "c": False}) == (
            "a=1&b=true&c=false"
        )
        with pytest.raises(TypeError):
            signature_payload({"price": 1.5})

    def test_the_secret_is_in_no_frame_repr_or_error(self):
        entry, _ = codec()
        frames = [
            entry.logon(1, CREDENTIALS, cancel_on_disconnect=False),
            entry.encode(Request.PLACE, 2, {"order": order()}),
            entry.encode(Request.CANCEL, 3, {"client_order_id": "a", "order_id": 0}),
        ]
        assert all(SECRET not in frame for frame in frames)
        assert SECRET not in repr(entry)
        assert SECRET not in repr(vars(entry))
        with pytest.raises(RuntimeError) as refused:
            BinanceOrderEntry("binance", BTCUSDT).encode(Request.OPEN_ORDERS, 1, {})
        assert SECRET not in str(refused.value)


class TestRequests:
    """What each of the gateway's requests is at Binance."""

    def test_binance_spot_has_no_dead_mans_switch_no_cancel_on_disconnect_and_unique_fill_ids(
        self,
    ):
        entry, _ = codec()
        assert entry.has_dead_man_switch is False
        assert entry.has_cancel_on_disconnect is False
        assert entry.fill_ids is FillIds.UNIQUE

    def test_logon_subscribes_to_the_user_data_stream_with_a_signed_request(self):
        entry, _ = codec(logged_on=False, recv_window_ms=3000)
        frame = json.loads(entry.logon(7, CREDENTIALS, cancel_on_disconnect=True))
        assert frame["id"] == 7
        assert frame["method"] == "userDataStream.subscribe.signature"
        params = frame["params"]
        signature = params.pop("signature")
        assert params == {"apiKey": API_KEY, "timestamp": NOW_MS, "recvWindow": 3000}
        # the documented request has the same parameters (with another key and signature)
        documented = example("userDataStream.subscribe.signature request")
        assert documented["method"] == frame["method"]
        assert set(documented["params"]) == {*params, "signature"} - {"recvWindow"}
        assert signature == CREDENTIALS.hmac_sha256(signature_payload(params))

    def test_place_is_a_limit_order_with_our_client_order_id_and_the_instrument_s_format(self):
        instrument = Instrument(
            venue="binance", symbol="BTCUSDT", tick_size="0.01", lot_size="0.00000001"
        )
        entry, _ = codec(instrument, recv_window_ms=100)
        frame = json.loads(
            entry.encode(Request.PLACE, 2, {"order": order(price=5_200_000, quantity=1_000_000)})
        )
        assert frame["method"] == "order.place"
        params = frame["params"]
        signature = params.pop("signature")
        assert params == {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "price": "52000.00",
            "quantity": "0.01000000",
            "newClientOrderId": "ta1x-7",
            "newOrderRespType": "ACK",
            "timestamp": NOW_MS,
            "recvWindow": 100,
            "apiKey": API_KEY,
        }
        assert signature == CREDENTIALS.hmac_sha256(signature_payload(params))
        # without our client order id it is the documented example, to the signature
        del params["newClientOrderId"]
        assert (
            CREDENTIALS.hmac_sha256(signature_payload(params))
            == "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"
        )

    @pytest.mark.parametrize(
        ("changes", "expected"),
        [
            ({"tif": TimeInForce.IOC}, {"type": "LIMIT", "timeInForce": "IOC"}),
            ({"tif": TimeInForce.FOK, "side": Side.BUY}, {"type": "LIMIT", "timeInForce": "FOK"}),
            ({"post_only": True}, {"type": "LIMIT_MAKER"}),
        ],
    )
    def test_time_in_force_and_post_only(self, changes, expected):
        entry, _ = codec()
        params = params_of(entry.encode(Request.PLACE, 2, {"order": order(**changes)}))
        assert {k: params[k] for k in expected} == expected
        if changes.get("post_only"):
            assert "timeInForce" not in params  # LIMIT_MAKER takes none

    def test_cancel_is_by_order_id_when_known_else_by_our_client_order_id(self):
        entry, _ = codec()
        by_id = params_of(
            entry.encode(Request.CANCEL, 3, {"client_order_id": "ta1x-7", "order_id": 42})
        )
        by_client_id = params_of(
            entry.encode(Request.CANCEL, 4, {"client_order_id": "ta1x-7", "order_id": 0})
        )
        assert (by_id["symbol"], by_id["orderId"]) == ("BTCUSDT", 42)
        assert "origClientOrderId" not in by_id
        assert by_client_id["origClientOrderId"] == "ta1x-7"
        assert "orderId" not in by_client_id

    def test_cancel_all_open_orders_and_fills_are_for_the_instrument_s_symbol(self):
        entry, _ = codec()
        methods = {
            request: json.loads(entry.encode(request, 5, {"since": 0}))
            for request in (Request.CANCEL_ALL, Request.OPEN_ORDERS, Request.FILLS)
        }
        assert methods[Request.CANCEL_ALL]["method"] == "openOrders.cancelAll"
        assert methods[Request.OPEN_ORDERS]["method"] == "openOrders.status"
        assert methods[Request.FILLS]["method"] == "myTrades"
        assert all(frame["params"]["symbol"] == "BTCUSDT" for frame in methods.values())

    def test_fills_since_a_trade_id_start_after_it_and_without_one_are_the_latest(self):
        entry, _ = codec(fills_limit=500)
        latest = params_of(entry.encode(Request.FILLS, 6, {"since": 0}))
        after = params_of(entry.encode(Request.FILLS, 7, {"since": 1650422481}))
        assert latest["limit"] == 500
        assert "fromId" not in latest
        assert after["fromId"] == 1650422482  # myTrades' fromId is inclusive

    def test_the_heartbeat_is_the_documented_time_request(self):
        entry, _ = codec()
        assert json.loads(entry.encode(Request.HEARTBEAT, 1, {"timeout": 5})) == example(
            "time request"
        )

    def test_signed_requests_need_a_logon_first(self):
        entry, _ = codec(logged_on=False)
        with pytest.raises(RuntimeError, match="log on first"):
            entry.encode(Request.PLACE, 1, {"order": order()})
        assert json.loads(entry.encode_time(1)) == {"id": 1, "method": "time"}  # unsigned

    @pytest.mark.parametrize("recv_window_ms", [0, -1, 60_001])
    def test_recv_window_is_what_binance_allows(self, recv_window_ms):
        with pytest.raises(ValueError, match="recv_window_ms"):
            BinanceOrderEntry("binance", BTCUSDT, recv_window_ms=recv_window_ms)


class TestClock:
    """The timestamp follows the server's clock, so -1021 never comes from drift."""

    def test_a_time_reply_sets_the_offset_from_the_midpoint_of_the_round_trip(self):
        entry, clock = codec()
        sent_ms = clock.time_ns() // 1_000_000
        entry.encode_time(1)
        clock.advance(0.1)  # a 100 ms round trip
        documented = example("time response")  # id 1, serverTime 1656400526260
        assert isinstance(entry.decode(json.dumps(documented)), Reply)
        assert entry.clock_offset_ms == 1656400526260 - (sent_ms + 50)
        assert entry.timestamp_ms() == 1656400526260 + 50  # now: the server's time + half
        signed = params_of(entry.encode(Request.OPEN_ORDERS, 2, {}))
        assert signed["timestamp"] == 1656400526260 + 50

    def test_every_heartbeat_measures_it_again(self):
        entry, clock = codec()
        entry.encode(Request.HEARTBEAT, 3, {"timeout": 5})
        server_ms = clock.time_ns() // 1_000_000 - 2_000  # the local clock is 2 s ahead
        entry.decode(json.dumps({"id": 3, "status": 200, "result": {"serverTime": server_ms}}))
        assert entry.clock_offset_ms == -2_000
        assert params_of(entry.encode(Request.OPEN_ORDERS, 4, {}))["timestamp"] == server_ms

    def test_the_offset_can_be_set_from_elsewhere(self):
        entry, clock = codec()
        now = clock.time_ns()
        assert entry.observe_server_time(NOW_MS + 500, sent_ns=now, received_ns=now) == 500
        entry.set_clock_offset(-7)
        assert entry.timestamp_ms() == NOW_MS - 7
        with pytest.raises(ValueError, match="round trip"):
            entry.observe_server_time(NOW_MS, sent_ns=now, received_ns=now - 1)

    def test_a_time_reply_to_a_request_it_did_not_write_changes_nothing(self):
        entry, _ = codec()
        entry.decode(json.dumps({"id": 99, "status": 200, "result": {"serverTime": 1}}))
        assert entry.clock_offset_ms == 0


class TestReplies:
    """Replies, their errors and rate limits, as Binance documents them."""

    def test_a_documented_ack_reply_is_a_result_and_its_rate_limits_are_kept(self):
        entry, _ = codec()
        entry.encode(Request.PLACE, 2, {"order": order()})
        accepted, reply = entry.decode(with_id(example("order.place ACK response"), 2))
        assert reply == Reply(2, result=example("order.place ACK response")["result"])
        assert accepted == OrderAccepted(  # no report came first: the reply acknowledges
            venue="binance",
            client_order_id="4d96324ff9d44481926157ec08158a40",
            order_id=12569099453,
        )
        assert entry.rate_limits == (
            RateLimit(kind="ORDERS", interval="SECOND", interval_num=10, limit=50, count=1),
            RateLimit(kind="ORDERS", interval="DAY", interval_num=1, limit=160000, count=1),
            RateLimit(
                kind="REQUEST_WEIGHT", interval="MINUTE", interval_num=1, limit=6000, count=1
            ),
        )

    def test_the_documented_failed_reply_carries_the_reason_code_and_message(self):
        entry, _ = codec()
        reply = entry.decode(with_id(example("failed response"), 3))
        assert reply == Reply(
            3,
            error="insufficient_balance",
            message="-2010 Account has insufficient balance for requested action.",
        )
        assert entry.rate_limits[0].count == 13

    def test_the_documented_ban_says_stop_sending_and_until_when(self):
        entry, _ = codec()
        reply = entry.decode(with_id(example("banned response"), 4))
        assert isinstance(reply, Reply)
        assert reply.error == "banned"
        assert reply.error in STOP_SENDING
        assert "stop sending" in reply.message
        assert reply.message.startswith("-1003 Way too much request weight used")
        assert entry.banned_until_ms == 1659146400000
        assert entry.retry_after_ms == 1659146400000

    @pytest.mark.parametrize(
        ("status", "code", "message", "reason"),
        [
            (400, -1013, "Filter failure: PRICE_FILTER", "filter_failure"),
            (400, -1013, "Filter failure: NOTIONAL", "filter_failure"),
            (400, -2010, "Market is closed.", "rejected"),
            (400, -2010, "Duplicate order sent.", "duplicate_client_order_id"),
            (400, -2010, "Order would immediately match and take.", "post_only_would_take"),
            (400, -2011, "Unknown order sent.", "unknown_order"),
            (400, -2011, "Order was not canceled due to cancel restrictions.", "cancel_rejected"),
            (400, -2013, "Order does not exist.", "unknown_order"),
            (400, -1015, "Too many new orders.", "rate_limited"),
            (429, -1015, "Too many new orders; current limit is 50", "rate_limited"),
            (429, -1003, "Too much request weight used", "rate_limited"),
            (418, -1003, "Way too much request weight used; IP banned", "banned"),
            (403, 0, "", "banned"),  # the firewall's block: stop sending too
            (400, -1021, "Timestamp outside of the recvWindow.", "timestamp_outside_recv_window"),
            (400, -1022, "Signature for this request is not valid.", "invalid_signature"),
            (401, -2015, "Invalid API-key, IP, or permissions for action.", "invalid_api_key"),
            (503, -1007, "Timeout waiting for response from backend server.", "status_unknown"),
            (400, -1121, "Invalid symbol.", "-1121"),
        ],
    )  # fmt: skip
    def test_binance_s_codes_map_to_the_contract_s_reasons(self, status, code, message, reason):
        assert error_reason(status, code, message) == reason

    def test_cancel_all_with_nothing_open_is_nothing_cancelled_not_an_error(self):
        entry, _ = codec()
        entry.encode(Request.CANCEL_ALL, 5, {})
        entry.encode(Request.CANCEL, 6, {"client_order_id": "ta1x-7", "order_id": 0})
        unknown = {"status": 400, "error": {"code": -2011, "msg": "Unknown order sent."}}
        reply = entry.decode(json.dumps({"id": 5, **unknown}))
        assert reply == Reply(5, result=[])
        assert entry.cancelled(reply.result) == 0
        # the same answer to a single cancel is an error: the order is gone
        assert entry.decode(json.dumps({"id": 6, **unknown})) == Reply(
            6, error="unknown_order", message="-2011 Unknown order sent."
        )

    def test_the_documented_cancel_all_reply_counts_every_cancelled_order(self):
        entry, _ = codec()
        entry.encode(Request.CANCEL_ALL, 5, {})
        reply = entry.decode(with_id(example("openOrders.cancelAll response"), 5))
        assert entry.cancelled(reply.result) == 3  # an order, and a list of two
        assert entry.cancelled(None) == 0
        assert entry.cancelled({"cancelled": 3}) == 0

    def test_the_documented_open_orders_are_venue_orders_in_ticks_and_lots(self):
        entry, _ = codec()
        entry.encode(Request.OPEN_ORDERS, 6, {})
        reply = entry.decode(with_id(example("openOrders.status response"), 6))
        assert entry.open_orders(reply.result) == (
            VenueOrder(
                order_id=12569099453,
                client_order_id="4d96324ff9d44481926157",
                side=Side.SELL,
                price=2341610,
                remaining=127,  # 0.00847 - 0.00720
                filled=720,
            ),
        )

    def test_the_documented_trades_are_fills_with_the_client_order_id_learnt(self):
        entry, _ = codec(quote_asset="BNB")
        entry.encode(Request.FILLS, 7, {"since": 0})
        entry.encode(Request.OPEN_ORDERS, 8, {})
        fills = entry.decode(with_id(example("myTrades response"), 7))
        entry.decode(with_id(example("openOrders.status response"), 8))  # the same order
        assert entry.fills(fills.result) == tuple(
            OrderFilled(
                venue="binance",
                instrument="BTCUSDT",
                client_order_id="4d96324ff9d44481926157",
                order_id=12569099453,
                execution_id=execution_id,
                side=Side.SELL,  # isBuyer: false
                price=price,
                quantity=quantity,
                remaining=-1,  # myTrades does not say
                fee_e4=0,
            )
            for execution_id, price, quantity in (
                (1650422481, 2341610, 635),
                (1650422482, 2341650, 212),
            )
        )

    def test_trades_from_before_the_first_logon_are_not_fills_missed(self):
        entry, clock = codec()  # logged on at NOW_MS
        trades = example("myTrades response")["result"]
        before, after = {**trades[0], "time": NOW_MS - 1}, {**trades[1], "time": NOW_MS}
        assert [f.execution_id for f in entry.fills([before, after])] == [1650422482]
        clock.advance(60)
        entry.logon(1, CREDENTIALS, cancel_on_disconnect=False)  # a reconnect: kept
        assert entry.fills_since_ms == NOW_MS
        entry.fills_since_ms = 0
        assert len(entry.fills([before, after])) == 2

    def test_a_trade_of_an_order_never_seen_has_no_client_order_id(self):
        entry, _ = codec()
        trades = example("myTrades response")["result"]
        assert {fill.client_order_id for fill in entry.fills(trades)} == {""}
        assert entry.fills([{**trades[0], "symbol": "ETHBTC"}]) == ()  # not ours

    def test_an_ack_teaches_the_order_id_of_our_client_order_id(self):
        entry, _ = codec()
        entry.encode(Request.PLACE, 2, {"order": order()})
        entry.decode(with_id(example("order.place ACK response"), 2))
        trade = {**example("myTrades response")["result"][0], "orderId": 12569099453}
        assert entry.fills([trade])[0].client_order_id == "4d96324ff9d44481926157ec08158a40"

    def test_the_documented_subscription_reply_is_the_logon_s(self):
        entry, _ = codec(logged_on=False)
        entry.logon(1, CREDENTIALS, cancel_on_disconnect=False)
        reply = entry.decode(with_id(example("userDataStream.subscribe.signature response"), 1))
        assert reply == Reply(1, result={"subscriptionId": 0})
        assert entry.subscription_id == 0

    def test_the_documented_cancel_reply_is_a_result(self):
        entry, _ = codec()
        entry.encode(Request.CANCEL, 9, {"client_order_id": "4d96324ff9d44481926157"})
        reply = entry.decode(with_id(example("order.cancel response"), 9))
        assert reply.error is None
        assert reply.result["origClientOrderId"] == "4d96324ff9d44481926157"

    def test_replies_to_requests_that_are_not_the_gateway_s_are_nothing(self):
        entry, _ = codec()
        assert entry.decode(json.dumps(example("time response") | {"id": "uuid"})) is None
        revoked = {"id": None, "status": 401, "error": {"code": -2015, "msg": "Invalid API-key"}}
        assert entry.decode(json.dumps(revoked)) is None
        assert entry.decode(json.dumps({"id": 10**60, "status": 200, "result": {}})) is None


class TestExecutionReports:
    """The user data stream's events as the contract's events."""

    def test_the_documented_new_order_report_is_an_acceptance(self):
        entry, _ = codec(ETHBTC)
        assert entry.decode(json.dumps(example("executionReport event"))) == OrderAccepted(
            venue="binance", client_order_id="mUvoqJxFIILMdfAW5iGSOW", order_id=4293153
        )

    def test_a_trade_is_a_fill_with_binance_s_trade_id_last_price_and_quantity(self):
        entry, _ = codec(ETHBTC, quote_asset="BTC")
        frame = report(
            x="TRADE", X="PARTIALLY_FILLED", l="0.2500", z="0.40000000", L="0.10264400",
            t=88, n="0.00000257", N="BTC",
        )  # fmt: skip
        assert entry.decode(frame) == OrderFilled(
            venue="binance",
            instrument="ETHBTC",
            client_order_id="mUvoqJxFIILMdfAW5iGSOW",
            order_id=4293153,
            execution_id=88,
            side=Side.BUY,
            price=10264400,
            quantity=2500,
            remaining=6000,  # q - z: 1.0 - 0.4
            # 0.00000257 BTC in units of tick x lot / 10_000 (1e-8 x 1e-4 / 1e4): 1 bp of
            # the notional, as the simulated exchange writes it (price x quantity x bps)
            fee_e4=25_700_000_000,
        )

    def test_a_commission_in_another_asset_is_no_fee(self):
        entry, _ = codec(ETHBTC, quote_asset="BTC")
        frame = report(x="TRADE", X="FILLED", l="1", z="1", L="0.1", t=9, n="0.001", N="BNB")
        fill = entry.decode(frame)
        assert isinstance(fill, OrderFilled)
        assert (fill.fee_e4, fill.remaining) == (0, 0)

    def test_a_cancel_names_our_client_order_id_not_the_cancel_s(self):
        entry, _ = codec(ETHBTC)
        frame = report(x="CANCELED", X="CANCELED", c="cancel-generated", C="ta1x-7", z="0.25")
        assert entry.decode(frame) == OrderCanceled(
            venue="binance",
            client_order_id="ta1x-7",
            order_id=4293153,
            reason="canceled",
            remaining=7500,
            expired=False,
        )

    def test_an_expired_ioc_remainder_is_an_expiry(self):
        entry, _ = codec(ETHBTC)
        frame = report(x="EXPIRED", X="EXPIRED", eR="UNFILLED_IOC_QUANTITY_EXPIRED")
        cancel = entry.decode(frame)
        assert isinstance(cancel, OrderCanceled)
        assert cancel.expired
        assert (cancel.reason, cancel.remaining) == ("unfilled_ioc_quantity_expired", 10000)

    def test_self_trade_prevention_expires_an_order_or_leaves_it_working(self):
        entry, _ = codec(ETHBTC)
        expired = entry.decode(report(x="TRADE_PREVENTION", X="EXPIRED_IN_MATCH"))
        assert isinstance(expired, OrderCanceled)
        assert (expired.expired, expired.reason) == (True, "self_trade_prevention")
        assert entry.decode(report(x="TRADE_PREVENTION", X="PARTIALLY_FILLED")) is None

    def test_a_rejection_names_binance_s_reason(self):
        entry, _ = codec(ETHBTC)
        frame = report(x="REJECTED", X="REJECTED", r="INSUFFICIENT_BALANCES")
        assert entry.decode(frame) == OrderRejected(
            venue="binance",
            client_order_id="mUvoqJxFIILMdfAW5iGSOW",
            reason="insufficient_balances",
        )

    def test_reports_of_other_symbols_are_nothing_and_counted(self):
        entry, _ = codec(BTCUSDT)
        assert entry.decode(json.dumps(example("executionReport event"))) is None  # ETHBTC
        assert entry.ignored["other_symbol"] == 1
        # (REPLACED, an amend, is an OrderAmended: test_binance_amend.py)

    @pytest.mark.parametrize(
        "name",
        [
            "outboundAccountPosition event",
            "balanceUpdate event",
            "listStatus event",
            "externalLockUpdate event",
        ],
    )
    def test_the_account_s_other_documented_events_are_nothing_and_counted(self, name):
        entry, _ = codec(ETHBTC)
        assert entry.decode(json.dumps(example(name))) is None
        assert sum(entry.ignored.values()) == 1

    @pytest.mark.parametrize("name", ["eventStreamTerminated event", "serverShutdown event"])
    def test_the_end_of_the_stream_or_the_server_ends_the_session(self, name):
        """The gateway reconnects on it: without reports it must not keep trading."""
        entry, _ = codec(ETHBTC)
        ended = entry.decode(json.dumps(example(name)))
        assert isinstance(ended, SessionEnded)
        assert name.split()[0] in ended.reason

    def test_an_unknown_event_or_execution_type_is_a_bad_frame(self):
        entry, _ = codec(ETHBTC)
        with pytest.raises(ValueError, match="unknown event"):
            entry.decode('{"subscriptionId":0,"event":{"e":"somethingNew","E":1}}')
        with pytest.raises(ValueError, match="unknown execution type"):
            entry.decode(report(x="SOMETHING_NEW"))


class TestAcknowledgement:
    """``order.place``'s success acknowledges the order unless a report said more first."""

    ACCEPTED = OrderAccepted(
        venue="binance", client_order_id="mUvoqJxFIILMdfAW5iGSOW", order_id=4293153
    )

    @staticmethod
    def placed(entry: BinanceOrderEntry, response: str = "order.place ACK response") -> object:
        """Place, then decode the documented reply for the report's order (id 2)."""
        entry.encode(Request.PLACE, 2, {"order": order(client_order_id="mUvoqJxFIILMdfAW5iGSOW")})
        frame = example(response)
        frame["result"].update(symbol="ETHBTC", orderId=4293153)
        frame["result"]["clientOrderId"] = "mUvoqJxFIILMdfAW5iGSOW"
        return entry.decode(with_id(frame, 2))

    def test_a_reply_before_the_new_report_is_the_acceptance_and_the_report_says_nothing(self):
        entry, _ = codec(ETHBTC)
        accepted, reply = self.placed(entry)
        assert accepted == self.ACCEPTED
        assert (reply.request_id, reply.error, reply.result["orderId"]) == (2, None, 4293153)
        assert entry.decode(report()) is None  # the documented NEW: said already
        # the order goes on as usual: its fill and its cancel
        assert isinstance(entry.decode(self.trade(X="PARTIALLY_FILLED")), OrderFilled)
        assert isinstance(entry.decode(report(x="CANCELED", X="CANCELED")), OrderCanceled)

    def test_a_new_report_before_the_reply_is_the_acceptance_and_the_reply_a_result(self):
        entry, _ = codec(ETHBTC)
        assert entry.decode(report()) == self.ACCEPTED
        reply = self.placed(entry)
        assert isinstance(reply, Reply)
        assert (reply.error, reply.result["orderId"]) == (None, 4293153)

    def test_a_fill_before_the_reply_leaves_the_reply_silent(self):
        """The NEW lost, a fill first: the fill says the order was taken."""
        entry, _ = codec(ETHBTC)
        assert isinstance(entry.decode(self.trade(X="PARTIALLY_FILLED")), OrderFilled)
        assert isinstance(self.placed(entry), Reply)

    @pytest.mark.parametrize(
        "closing",
        [
            {"x": "TRADE", "X": "FILLED", "z": "1.00000000"},  # an IOC that took it all
            {"x": "EXPIRED", "X": "EXPIRED", "eR": "UNFILLED_IOC_QUANTITY_EXPIRED"},
            {"x": "CANCELED", "X": "CANCELED"},
        ],
        ids=["filled", "expired", "canceled"],
    )
    def test_a_reply_after_the_order_closed_acknowledges_nothing(self, closing):
        """No acceptance after the end: the order manager would cancel a closed order."""
        entry, _ = codec(ETHBTC)
        frame = self.trade(**closing) if closing["x"] == "TRADE" else report(**closing)
        assert entry.decode(frame) is not None
        assert isinstance(self.placed(entry), Reply)

    def test_a_documented_full_reply_of_a_filled_order_acknowledges_nothing(self):
        entry, _ = codec(ETHBTC)
        reply = self.placed(entry, "order.place FULL response")  # "status": "FILLED"
        assert isinstance(reply, Reply)
        assert reply.result["status"] == "FILLED"

    def test_an_unreadable_new_report_says_nothing_so_the_reply_acknowledges(self):
        entry, _ = codec(ETHBTC)
        with pytest.raises(ValueError, match="unknown execution type"):
            entry.decode(report(x="GARBLED"))  # X is still NEW
        accepted, _ = self.placed(entry)
        assert accepted == self.ACCEPTED

    def test_a_refused_place_is_its_error_alone(self):
        """A post-only LIMIT_MAKER that would take is refused by the reply (-2010)."""
        entry, _ = codec(ETHBTC)
        entry.encode(Request.PLACE, 3, {"order": order(post_only=True)})
        frame = example("failed response")
        frame["error"]["msg"] = "Order would immediately match and take."
        reply = entry.decode(with_id(frame, 3))
        assert isinstance(reply, Reply)
        assert (reply.error, reply.message) == (
            "post_only_would_take",
            "-2010 Order would immediately match and take.",
        )

    def test_each_order_id_is_acknowledged_once(self):
        """A cancel-replace's new order (our client order id again) is a new order id."""
        entry, _ = codec(ETHBTC)
        assert entry.decode(report()) == self.ACCEPTED
        assert entry.decode(report(x="CANCELED", X="CANCELED")) is not None
        replacement = entry.decode(report(i=4293154))
        assert replacement == OrderAccepted(
            venue="binance", client_order_id="mUvoqJxFIILMdfAW5iGSOW", order_id=4293154
        )

    @staticmethod
    def trade(**changes: str) -> str:
        fields = {"x": "TRADE", "l": "0.2500", "z": "0.25000000", "L": "0.10264400", "t": 88}
        return report(**{**fields, **changes})


class TestExchangeInfo:
    """Instrument metadata from exchangeInfo's filters."""

    def test_the_documented_exchange_info_gives_the_instrument_and_its_limits(self):
        rules = symbol_rules(json.dumps(example("exchangeInfo response")), "BNBBTC")
        assert rules.instrument == Instrument(
            venue="binance",
            symbol="BNBBTC",
            tick_size="0.000001",
            lot_size="0.001",
            min_price="0.000001",
            max_price="100000",
            min_quantity="0.001",
            max_quantity="100000",
            min_notional="",
        )
        assert (rules.status, rules.base_asset, rules.quote_asset) == ("TRADING", "BNB", "BTC")
        assert "LIMIT_MAKER" in rules.order_types
        assert (rules.cancel_replace_allowed, rules.amend_allowed) == (True, False)
        # the venue's 8-decimal strings parse with the shortened steps
        assert rules.instrument.price("0.00123400") == 1234
        assert rules.instrument.size("1.50000000") == 1500

    def test_the_rest_body_and_a_decoded_reply_are_read_too(self):
        reply = example("exchangeInfo response")
        rest_body = reply["result"]
        assert instrument_from_exchange_info(rest_body, "BNBBTC", venue="main") == (
            instrument_from_exchange_info(json.dumps(reply), "BNBBTC", venue="main")
        )

    def test_the_notional_filters_give_the_minimum_and_maximum_notional(self):
        reply = example("exchangeInfo response")
        filters = reply["result"]["symbols"][0]["filters"]
        filters += [example("NOTIONAL filter"), example("MIN_NOTIONAL filter")]
        rules = symbol_rules(reply, "BNBBTC")
        assert rules.instrument.min_notional == "10"  # the larger of NOTIONAL's and MIN_'s
        assert rules.max_notional == "10000"

    def test_a_rule_disabled_with_zero_falls_back_to_the_defaults(self):
        reply = example("exchangeInfo response")
        price_filter = reply["result"]["symbols"][0]["filters"][0]
        price_filter.update(minPrice="0.00000000", maxPrice="0", tickSize="0.00000000")
        instrument = instrument_from_exchange_info(reply, "BNBBTC")
        assert (instrument.tick_size, instrument.min_price, instrument.max_price) == (
            "0.00000001",
            "",
            "",
        )

    def test_an_unknown_symbol_or_a_bad_value_is_refused(self):
        reply = example("exchangeInfo response")
        with pytest.raises(ValueError, match="not in the exchangeInfo"):
            symbol_rules(reply, "ETHUSDT")
        reply["result"]["symbols"][0]["filters"][0]["tickSize"] = "1e-8"
        with pytest.raises(ParseError):
            symbol_rules(reply, "BNBBTC")
        reply["result"]["symbols"][0]["filters"][0]["tickSize"] = 0.01
        with pytest.raises(msgspec.ValidationError):
            symbol_rules(reply, "BNBBTC")


# -- bad input ---------------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000
BIG = "9" * 60
BAD_FRAMES = [
    "",
    "not json",
    "null",
    "[]",
    "{}",
    '{"id":1}',  # no status, no event
    b"\xff\xfe\x00binary",
    '{"id":"\ud800","status":200}',  # a lone surrogate: no UTF-8
    f'{{"id":1,"status":200,"result":{DEEP}}}',
    f'{{"subscriptionId":0,"event":{DEEP}}}',
    f'{{"id":1,"status":{BIG}}}',
    '{"id":1,"status":"200"}',
    '{"id":1,"status":1e300}',
    f'{{"id":1,"status":400,"error":{{"code":{BIG},"msg":"x"}}}}',
    '{"id":1,"status":400,"error":{"code":-2010,"msg":5}}',
    '{"id":1,"status":200,"rateLimits":[{"rateLimitType":"ORDERS"}]}',
    '{"subscriptionId":0,"event":null}',
    '{"subscriptionId":0,"event":[1,2]}',
    '{"subscriptionId":0,"event":{"e":5}}',
    '{"subscriptionId":0,"event":{"e":"executionReport"}}',
]


def bad_reports() -> list[str]:
    """A trade report (which uses every field) with one bad field each."""
    trade = {"x": "TRADE", "X": "FILLED", "l": "1", "z": "1", "L": "0.1", "t": 5}
    changes: list[dict] = [
        {"i": int(BIG)},
        {"i": 1e300},
        {"i": -5},
        {"t": int(BIG)},
        {"t": -1},  # a trade without a trade id
        {"L": 1e300},
        {"L": "1e300"},
        {"L": "-1"},
        {"L": "0.123456789"},  # finer than the tick
        {"q": BIG + ".5"},
        {"l": "0"},  # a trade of nothing
        {"z": "2"},  # more filled than ordered
        {"S": "HOLD"},
        {"x": None},
        {"s": ["ETHBTC"]},
    ]
    return [report(**{**trade, **change}) for change in changes]


def decodes_or_raises_value_error(entry: BinanceOrderEntry, frame: str | bytes) -> None:
    """What the gateway relies on: a result, or ValueError (msgspec.DecodeError is one)."""
    with contextlib.suppress(ValueError):
        entry.decode(frame)


class TestBadInput:
    """Malformed frames are ValueErrors (counted and dropped by the gateway), never crashes."""

    @pytest.mark.parametrize("frame", BAD_FRAMES, ids=range(len(BAD_FRAMES)))
    def test_a_malformed_frame_raises_a_decode_error(self, frame):
        entry, _ = codec(ETHBTC)
        with pytest.raises(ValueError):  # noqa: PT011 - msgspec.DecodeError is one
            entry.decode(frame)

    @pytest.mark.parametrize("frame", bad_reports())
    def test_a_bad_execution_report_raises_a_value_error(self, frame):
        entry, _ = codec(ETHBTC)
        with pytest.raises(ValueError):  # noqa: PT011 - msgspec.DecodeError is one
            entry.decode(frame)

    def test_fields_a_report_does_not_use_are_not_read(self):
        entry, _ = codec(ETHBTC)
        accepted = entry.decode(report(p=1e300, P=[{}], F=None, o=5, Z=int(BIG)))
        assert isinstance(accepted, OrderAccepted)

    @pytest.mark.parametrize(
        "result",
        [None, 5, "x", {}, [None], [{"symbol": "BTCUSDT"}], [{"orderId": int(BIG)}], [1e300]],
    )
    def test_bad_results_raise_value_errors(self, result):
        entry, _ = codec()
        with pytest.raises(ValueError):  # noqa: PT011
            entry.fills(result)
        with pytest.raises(ValueError):  # noqa: PT011
            entry.open_orders(result)
        assert entry.cancelled(result) >= 0

    def test_a_malformed_exchange_info_raises_a_decode_error(self):
        for body in ("", DEEP, '{"symbols":5}', '{"result":{"symbols":[{"symbol":1}]}}'):
            with pytest.raises(ValueError):  # noqa: PT011
                symbol_rules(body, "BNBBTC")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**70), max_value=10**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)
REPORT_FIELDS = st.sampled_from(
    ["s", "c", "S", "x", "X", "i", "q", "z", "l", "L", "t", "n", "N", "C"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=REPORT_FIELDS, value=JSON, kind=st.sampled_from(["NEW", "TRADE", "CANCELED", "EXPIRED"])
)
def test_any_value_in_any_field_of_an_execution_report_never_crashes(field, value, kind):
    entry, _ = codec(ETHBTC)
    base = {"x": kind, "X": "FILLED", "l": "0.5", "z": "0.5", "L": "0.1", "t": 3}
    decodes_or_raises_value_error(entry, report(**{**base, field: value}))


@settings(max_examples=300, deadline=None)
@given(frame=JSON)
def test_any_json_as_a_frame_or_a_result_never_crashes(frame):
    entry, _ = codec()
    entry.encode(Request.OPEN_ORDERS, 1, {})
    decodes_or_raises_value_error(entry, json.dumps({"id": 1, "status": 200, "result": frame}))
    decodes_or_raises_value_error(entry, json.dumps(frame))
    for read in (entry.fills, entry.open_orders):
        with contextlib.suppress(ValueError):
            read(frame)
    assert entry.cancelled(frame) >= 0


def test_the_adapter_offers_binance_for_trading_with_fees_in_the_quote_asset():
    assert ADAPTER.order_entry is not None
    codec = ADAPTER.order_entry("binance", BTCUSDT)
    assert isinstance(codec, BinanceOrderEntry)
    assert codec.quote_asset == "USDT"
    assert codec.prelude(1) == '{"id":1,"method":"time"}'  # the server's time first
