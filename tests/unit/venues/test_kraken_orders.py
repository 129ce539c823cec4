"""Kraken spot order entry: REST signing, the token, WebSocket v2 requests and reports, AssetPairs.

The documented examples (docs.kraken.com/api/docs/...) are reproduced as Kraken wrote them:
guides/spot-rest-auth (API-Sign), rest-api/get-websockets-token, websocket-v2/executions,
add_order, cancel_order, cancel_after, rest-api/get-tradable-asset-pairs.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import (
    AmendAtVenue,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderFilled,
    Side,
    SubmitOrder,
    TimeInForce,
    VenueOrder,
)
from tradeactors.core.ratelimit import RateKind, VenueRateLimit
from tradeactors.errors import GatewayError, VenueRequestError
from tradeactors.venues.adapter import (
    Credentials,
    FillIds,
    RateLimitReporter,
    Reply,
    Request,
    RestRequest,
    SessionEnded,
    decoded_items,
    venue_adapter,
    venue_kinds,
)
from tradeactors.venues.kraken import (
    KrakenOrderEntry,
    api_sign,
    asset_pairs_url,
    cl_ord_id_for,
    client_order_id_from,
    instrument_from_asset_pairs,
    kraken_reason,
    v2_symbol,
    websockets_token,
)

# guides/spot-rest-auth: the worked example
DOC_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)
DOC_PATH = "/0/private/AddOrder"
DOC_NONCE = 1616492376594
DOC_BODY = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
DOC_SIGN = (
    "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
)

# rest-api/get-websockets-token: the example response
DOC_TOKEN_ANSWER = (
    '{"error": [], "result": {"token": "1Dwc4lzSwNWOAwkMdqhssNNFhs1ed606d1WcF3XfEMw", '
    '"expires": 900}}'
)
# websocket-v2/add_order, executions: the token of their examples
TOKEN = "G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY"

# websocket-v2/cancel_order and cancel_after: the tokens of their examples
CANCEL_TOKEN = "zGXT1dUQQjJjy5VmGXMegdDQngXXehNo5qbMBVolwEQ"
CANCEL_AFTER_TOKEN = "zwpdzWUe18Bn6h4TAMorh26+QbcMeST2B5tamfe+pgQ"
# what OrderEntry.decode and the REST parsers may raise on bad input (DecodeError is a ValueError)
MALFORMED = (msgspec.DecodeError, ValueError)

BTC_USD = Instrument(venue="kraken", symbol="BTC/USD", tick_size="0.1", lot_size="0.00000001")
KEY = Credentials("the-api-key", DOC_SECRET)


def token_answer(token: str = TOKEN) -> str:
    return json.dumps({"error": [], "result": {"token": token, "expires": 900}})


def codec(
    token: str | None = TOKEN, instrument: Instrument = BTC_USD, clock: FakeClock | None = None
) -> KrakenOrderEntry:
    entry = KrakenOrderEntry("kraken", instrument, clock=clock or FakeClock())
    if token is not None:
        entry.accept_token(token_answer(token))
    return entry


def order(
    client_order_id: str = "s1-1",
    *,
    side: Side = Side.BUY,
    price: int = 265004,
    quantity: int = 120_000_000,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=client_order_id,
        venue="kraken",
        instrument="BTC/USD",
        side=side,
        price=price,
        quantity=quantity,
        tif=tif,
        post_only=post_only,
    )


def executions(kind: str, *reports: dict, sequence: int | None = None) -> str:
    message: dict = {"channel": "executions", "type": kind, "data": list(reports)}
    if sequence is not None:
        message["sequence"] = sequence
    return json.dumps(message)


def logged_on(entry: KrakenOrderEntry, *snapshot: dict) -> KrakenOrderEntry:
    """Log ``entry`` on: the subscribe ack, then the executions snapshot."""
    entry.logon(1, KEY, cancel_on_disconnect=False)
    assert entry.decode(json.dumps({"method": "subscribe", "req_id": 1, "success": True})) == (
        Reply(1, result=None)
    )
    assert entry.decode(executions("snapshot", *snapshot)) is None
    return entry


def ask(entry: KrakenOrderEntry, request: Request, request_id: int) -> Reply:
    """Send an OPEN_ORDERS or FILLS request (a ping) and decode its pong."""
    assert json.loads(entry.encode(request, request_id, {"since": 0})) == {
        "method": "ping",
        "req_id": request_id,
    }
    reply = entry.decode(json.dumps({"method": "pong", "req_id": request_id}))
    assert isinstance(reply, Reply)
    return reply


def placed(entry: KrakenOrderEntry, submit: SubmitOrder, request_id: int = 10) -> str:
    """Place ``submit``; its cl_ord_id."""
    sent = json.loads(entry.encode(Request.PLACE, request_id, {"order": submit}))
    return sent["params"]["cl_ord_id"]


def echoed(entry: KrakenOrderEntry, cl_ord_id: str) -> str:
    """The client order id of an order Kraken reports with ``cl_ord_id`` (in its other form,
    if a UUID: Kraken keeps a 128-bit integer and may write it either way)."""
    if re.fullmatch(r"[0-9a-f]{32}", cl_ord_id):
        cl_ord_id = str(uuid.UUID(cl_ord_id))
    pending = {
        "exec_type": "pending_new",
        "order_id": "OECHO0-OECHO-OECHO0",
        "cl_ord_id": cl_ord_id,
        "symbol": "BTC/USD",
    }
    assert entry.decode(executions("update", pending)) is None
    accepted = entry.decode(
        executions("update", {"exec_type": "new", "order_id": pending["order_id"]})
    )
    assert isinstance(accepted, OrderAccepted)
    return accepted.client_order_id


class TestTheAdapter:
    """Kraken is a venue kind with order entry: its codec, made by the adapter."""

    def test_the_kraken_kind_trades_through_kraken_order_entry(self):
        adapter = venue_adapter("kraken", trading=True)
        assert "kraken" in venue_kinds(trading=True)
        assert adapter.order_entry is not None
        entry = adapter.order_entry("kraken", BTC_USD)
        assert isinstance(entry, KrakenOrderEntry)
        assert entry.fill_ids is FillIds.UNIQUE
        assert entry.has_dead_man_switch
        assert not entry.has_cancel_on_disconnect
        assert entry.prelude(1) is None  # the token comes over REST instead
        assert isinstance(entry.session_request(KEY, ""), RestRequest)


class TestRestAuthentication:
    """API-Sign and the GetWebSocketsToken call, as Kraken documents them."""

    def test_the_documented_api_sign_example_is_reproduced_exactly(self):
        assert api_sign(Credentials("key", DOC_SECRET), DOC_PATH, DOC_NONCE, DOC_BODY) == DOC_SIGN

    def test_the_token_request_is_a_signed_post_of_the_nonce(self):
        clock = FakeClock(wall_offset_ns=DOC_NONCE * 1_000_000)
        entry = KrakenOrderEntry("kraken", BTC_USD, clock=clock)
        request = entry.token_request(KEY)
        assert request.method == "POST"
        assert request.url == "https://api.kraken.com/0/private/GetWebSocketsToken"
        assert request.body == b"nonce=1616492376594"
        assert request.headers["API-Key"] == "the-api-key"
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert request.headers["API-Sign"] == api_sign(
            KEY, "/0/private/GetWebSocketsToken", DOC_NONCE, "nonce=1616492376594"
        )

    def test_the_session_request_is_the_token_call_at_the_configured_rest_url(self):
        clock = FakeClock(wall_offset_ns=DOC_NONCE * 1_000_000)
        entry = KrakenOrderEntry("kraken", BTC_USD, clock=clock)
        request = entry.session_request(KEY, "http://127.0.0.1:8080/")
        assert isinstance(request, RestRequest)
        assert request.method == "POST"
        assert request.url == "http://127.0.0.1:8080/0/private/GetWebSocketsToken"
        assert request.body == b"nonce=1616492376594"
        assert request.headers["API-Sign"] == api_sign(
            KEY, "/0/private/GetWebSocketsToken", DOC_NONCE, "nonce=1616492376594"
        )
        assert not entry.has_token
        request.accept(DOC_TOKEN_ANSWER.encode())
        assert entry.has_token
        # no rest_url configured: Kraken's own
        assert entry.session_request(KEY, "").url == (
            "https://api.kraken.com/0/private/GetWebSocketsToken"
        )

    def test_the_session_request_shows_neither_its_headers_nor_its_body(self):
        request = codec().session_request(KEY, "")
        shown = repr(request) + str(request)
        assert request.headers["API-Sign"] not in shown
        assert request.headers["API-Key"] not in shown
        assert request.body.decode() not in shown
        assert "API-Sign" in shown  # the names are no secret

    def test_a_refused_token_answer_is_a_venue_request_error_from_accept(self):
        entry = codec(token=None)
        request = entry.session_request(KEY, "")
        with pytest.raises(VenueRequestError) as caught:
            request.accept(b'{"error": ["EAPI:Invalid key"]}')
        assert caught.value.code == "auth_failed"
        assert not entry.has_token

    def test_nonces_always_increase_even_when_the_clock_does_not(self):
        entry = KrakenOrderEntry("kraken", BTC_USD, clock=FakeClock())
        bodies = [entry.token_request(KEY).body for _ in range(3)]
        nonces = [int(body.decode().removeprefix("nonce=")) for body in bodies]
        assert nonces == sorted(set(nonces))

    def test_the_signature_and_the_secret_never_show(self):
        request = codec().token_request(KEY)
        shown = repr(request) + str(request) + repr(KEY)
        assert request.headers["API-Sign"] not in shown
        assert DOC_SECRET not in shown
        assert "***" in repr(request)

    def test_a_secret_that_is_not_base64_is_refused_without_showing_it(self):
        secret = "not base64 at all!"
        with pytest.raises(ValueError, match="not base64") as caught:
            api_sign(Credentials("key", secret), DOC_PATH, DOC_NONCE, DOC_BODY)
        assert secret not in str(caught.value)

    def test_the_documented_token_answer_gives_its_token(self):
        assert websockets_token(DOC_TOKEN_ANSWER) == "1Dwc4lzSwNWOAwkMdqhssNNFhs1ed606d1WcF3XfEMw"

    @pytest.mark.parametrize(
        ("error", "code"),
        [
            ("EAPI:Invalid key", "auth_failed"),
            ("EAPI:Invalid nonce", "replayed_nonce"),
            ("EGeneral:Permission denied", "auth_failed"),
            ("EAPI:Rate limit exceeded", "rate_limited"),
        ],
    )
    def test_a_refused_token_request_is_a_venue_request_error(self, error, code):
        with pytest.raises(VenueRequestError) as caught:
            websockets_token(json.dumps({"error": [error]}))
        assert (caught.value.op, caught.value.code) == ("GetWebSocketsToken", code)
        assert error in str(caught.value)

    def test_warnings_are_not_errors(self):
        answer = {"error": ["WGeneral:Something"], "result": {"token": "abc", "expires": 900}}
        assert websockets_token(json.dumps(answer)) == "abc"

    @pytest.mark.parametrize(
        "body",
        [
            "",
            "[]",
            '{"error": []}',
            '{"error": [], "result": {"expires": 900}}',
            '{"error": [], "result": {"token": 5}}',
            '{"error": [], "result": {"token": "has a space"}}',
            '{"error": [], "result": {"token": ""}}',
            '{"error": "EAPI:Invalid key"}',
        ],
    )
    def test_a_malformed_token_answer_is_refused(self, body):
        with pytest.raises(MALFORMED):
            websockets_token(body)

    def test_the_codec_never_shows_its_token(self):
        entry = codec()
        assert TOKEN not in repr(entry)
        assert entry.has_token

    def test_no_request_leaves_without_a_token(self):
        entry = codec(token=None)
        with pytest.raises(GatewayError, match="token"):
            entry.logon(1, KEY, cancel_on_disconnect=False)
        with pytest.raises(GatewayError, match="token"):
            entry.encode(Request.CANCEL_ALL, 2, {})


class TestRequests:
    """Each request in Kraken's documented shape, with the gateway's request id as req_id."""

    def test_the_codec_says_what_kraken_offers(self):
        entry = codec()
        assert entry.fill_ids is FillIds.UNIQUE
        assert entry.has_dead_man_switch
        assert not entry.has_cancel_on_disconnect

    def test_logon_subscribes_to_executions_as_documented_with_both_snapshots(self):
        # websocket-v2/executions, "Example: Subscribe" (plus our req_id, and the
        # documented option ``ratecounter``: the rate counter in the stream)
        documented = {
            "method": "subscribe",
            "params": {
                "channel": "executions",
                "token": TOKEN,
                "snap_orders": True,
                "snap_trades": True,
            },
        }
        sent = json.loads(codec().logon(7, KEY, cancel_on_disconnect=True))
        documented["params"]["ratecounter"] = True
        assert sent == {**documented, "req_id": 7}

    def test_a_limit_order_is_the_documented_add_order_with_our_client_order_id(self):
        # websocket-v2/add_order, "Example: Limit": buy 1.2 BTC/USD at 26500.4; the example's
        # order_userref is our cl_ord_id
        documented = (
            '{"method":"add_order","params":{"order_type":"limit","side":"buy",'
            '"limit_price":26500.4,"order_userref":100054,"order_qty":1.2,'
            '"symbol":"BTC/USD","token":"G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY"},'
            '"req_id":123456789}'
        )
        sent = codec().encode(Request.PLACE, 123456789, {"order": order("s1-1")})
        assert sent == documented.replace('"order_userref":100054', '"cl_ord_id":"s1-1"')

    @pytest.mark.parametrize(
        ("tif", "post_only", "extra"),
        [
            (TimeInForce.IOC, False, {"time_in_force": "ioc"}),
            (TimeInForce.FOK, False, {"time_in_force": "fok"}),
            (TimeInForce.GTC, True, {"post_only": True}),
        ],
    )
    def test_time_in_force_and_post_only_are_sent_when_not_the_default(self, tif, post_only, extra):
        sent = json.loads(
            codec().encode(Request.PLACE, 1, {"order": order(tif=tif, post_only=post_only)})
        )
        params = sent["params"]
        assert {k: params[k] for k in extra} == extra
        assert ("time_in_force" in params) == (tif is not TimeInForce.GTC)

    def test_prices_and_sizes_are_exact_json_numbers(self):
        sent = codec().encode(
            Request.PLACE, 1, {"order": order(side=Side.SELL, price=1, quantity=1)}
        )
        assert '"limit_price":0.1,' in sent
        assert '"order_qty":0.00000001,' in sent
        assert '"side":"sell"' in sent

    def test_a_cancel_names_the_order_by_its_cl_ord_id(self):
        entry = codec()
        cl_ord_id = placed(entry, order("sdobiqwe988w0-12345"))
        sent = json.loads(
            entry.encode(
                Request.CANCEL, 3, {"client_order_id": "sdobiqwe988w0-12345", "order_id": 0}
            )
        )
        assert sent == {
            "method": "cancel_order",
            "params": {"cl_ord_id": [cl_ord_id], "token": TOKEN},
            "req_id": 3,
        }

    def test_an_order_without_a_client_order_id_is_cancelled_by_krakens_order_id(self):
        # websocket-v2/cancel_order, "Example" (one of its two order ids)
        entry = logged_on(
            codec(token=CANCEL_TOKEN),
            {
                "order_id": "OM5CRX-N2HAL-GFGWE9",
                "symbol": "BTC/USD",
                "side": "buy",
                "order_qty": 1,
                "limit_price": 100,
            },
        )
        (open_order,) = entry.open_orders(ask(entry, Request.OPEN_ORDERS, 5).result)
        sent = entry.encode(
            Request.CANCEL, 123456789, {"client_order_id": "", "order_id": open_order.order_id}
        )
        assert json.loads(sent) == {
            "method": "cancel_order",
            "params": {
                "order_id": ["OM5CRX-N2HAL-GFGWE9"],
                "token": CANCEL_TOKEN,
            },
            "req_id": 123456789,
        }

    def test_cancel_all(self):
        sent = json.loads(codec().encode(Request.CANCEL_ALL, 4, {}))
        assert sent == {"method": "cancel_all", "params": {"token": TOKEN}, "req_id": 4}

    def test_the_heartbeat_is_the_documented_cancel_all_orders_after(self):
        # websocket-v2/cancel_after, the request example
        documented = {
            "method": "cancel_all_orders_after",
            "params": {"timeout": 100, "token": "zwpdzWUe18Bn6h4TAMorh26+QbcMeST2B5tamfe+pgQ"},
            "req_id": 1234567890,
        }
        entry = codec(token=CANCEL_AFTER_TOKEN)
        sent = entry.encode(Request.HEARTBEAT, 1234567890, {"timeout": 100.0})
        assert json.loads(sent) == documented

    @pytest.mark.parametrize(
        ("timeout", "seconds"), [(5.0, 5), (0.2, 1), (4.5, 5), (0, 0), (1e9, 86399)]
    )
    def test_the_timeout_is_whole_seconds_rounded_up_and_zero_disarms(self, timeout, seconds):
        sent = json.loads(codec().encode(Request.HEARTBEAT, 1, {"timeout": timeout}))
        assert sent["params"]["timeout"] == seconds

    def test_the_logon_is_not_an_encoded_request(self):
        with pytest.raises(ValueError, match="logon"):
            codec().encode(Request.LOGON, 1, {})


class TestClientOrderIds:
    """Our client order ids fit Kraken's cl_ord_id formats and come back as they left."""

    @pytest.mark.parametrize("client_order_id", ["s1-1", "ex-19", "A" * 18, "sdobiqwe988w0-999"])
    def test_ids_of_up_to_18_characters_are_sent_as_free_text(self, client_order_id):
        assert cl_ord_id_for(client_order_id) == client_order_id
        assert client_order_id_from(client_order_id) == client_order_id

    @pytest.mark.parametrize(
        "client_order_id", ["sdobiqwe988w0-10000", "hostdobiqwe988w0-123456", "s" * 23]
    )
    def test_longer_ids_become_version_4_uuids_and_come_back(self, client_order_id):
        wire = cl_ord_id_for(client_order_id)
        assert wire is not None
        assert re.fullmatch(r"[0-9a-f]{32}", wire)
        assert uuid.UUID(wire).version == 4
        assert client_order_id_from(wire) == client_order_id
        assert client_order_id_from(str(uuid.UUID(wire))) == client_order_id  # the long form
        assert client_order_id_from(wire.upper()) == client_order_id

    @given(st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz-", min_size=19, max_size=23))
    def test_every_packable_id_comes_back_from_any_codec(self, client_order_id):
        wire = cl_ord_id_for(client_order_id)
        assert wire is not None
        assert len(wire) == 32
        assert client_order_id_from(wire) == client_order_id

    @given(st.text(min_size=1, max_size=60))
    def test_every_id_maps_to_a_kraken_format_and_back_through_the_codec(self, client_order_id):
        entry = logged_on(codec())
        cl_ord_id = placed(entry, order(client_order_id))
        assert re.fullmatch(r"[0-9A-Za-z-]{1,18}|[0-9a-f]{32}|[0-9a-fA-F-]{36}", cl_ord_id)
        assert echoed(entry, cl_ord_id) == client_order_id

    def test_ids_that_fit_no_format_are_hashed_and_remembered_by_the_codec(self):
        client_order_id = "Strategy_ÜBER.order#1"
        assert cl_ord_id_for(client_order_id) is None
        entry = logged_on(codec())
        cl_ord_id = placed(entry, order(client_order_id))
        assert uuid.UUID(cl_ord_id).version == 4
        assert echoed(entry, cl_ord_id) == client_order_id

    def test_someone_elses_uuid_is_kept_as_it_is(self):
        foreign = "6d1b345e-2821-40e2-ad83-4ecb18a06876"  # add_order's documented example
        assert client_order_id_from(foreign) == foreign
        assert cl_ord_id_for(foreign) == foreign  # so a cancel of it names it the same


class TestReplies:
    """Method replies become the gateway's `Reply`, Kraken's errors the contract's reasons."""

    def test_the_documented_add_order_response_is_the_reply(self):
        # websocket-v2/add_order, the response example
        documented = {
            "method": "add_order",
            "req_id": 123456789,
            "result": {"order_id": "AA5JGQ-SBMRC-SCJ7J7", "order_userref": 100054},
            "success": True,
            "time_in": "2023-09-21T14:15:07.197274Z",
            "time_out": "2023-09-21T14:15:07.205301Z",
        }
        reply = codec().decode(json.dumps(documented))
        assert reply == Reply(123456789, result=documented["result"])

    def test_the_documented_add_order_error_is_a_reject_with_krakens_message(self):
        # websocket-v2/add_order, the error response example
        documented = {
            "error": "EOrder:Insufficient funds",
            "method": "add_order",
            "req_id": 123456789,
            "success": False,
            "time_in": "2023-09-21T14:15:07.197274Z",
            "time_out": "2023-09-21T14:15:07.205301Z",
        }
        assert codec().decode(json.dumps(documented)) == Reply(
            123456789, error="EOrder:Insufficient funds", message="EOrder:Insufficient funds"
        )

    def test_the_documented_cancel_after_response_is_the_reply(self):
        # websocket-v2/cancel_after, the response example
        documented = {
            "method": "cancel_all_orders_after",
            "req_id": 1234567890,
            "result": {
                "currentTime": "2023-09-21T15:49:29Z",
                "triggerTime": "2023-09-21T15:51:09Z",
            },
            "success": True,
            "time_in": "2023-09-21T15:49:28.627900Z",
            "time_out": "2023-09-21T15:49:28.649057Z",
        }
        assert codec().decode(json.dumps(documented)) == Reply(
            1234567890, result=documented["result"]
        )

    def test_the_documented_cancel_order_response_is_the_reply(self):
        # websocket-v2/cancel_order, the first of the example's responses
        documented = {
            "method": "cancel_order",
            "req_id": 123456789,
            "result": {"order_id": "OLUMT4-UTEGU-ZYM7E9"},
            "success": True,
            "time_in": "2023-09-21T14:36:57.428972Z",
            "time_out": "2023-09-21T14:36:57.437952Z",
        }
        assert codec().decode(json.dumps(documented)) == Reply(
            123456789, result={"order_id": "OLUMT4-UTEGU-ZYM7E9"}
        )

    def test_cancel_all_says_how_many_it_cancelled(self):
        entry = codec()
        reply = entry.decode(
            '{"method":"cancel_all","req_id":4,"result":{"count":3},"success":true}'
        )
        assert isinstance(reply, Reply)
        assert entry.cancelled(reply.result) == 3
        assert entry.cancelled(None) == entry.cancelled({"count": "x"}) == 0

    @pytest.mark.parametrize(
        ("method", "error", "reason"),
        [
            ("cancel_order", "EOrder:Unknown order", "unknown_order"),
            ("cancel_order", "EOrder:Invalid order", "unknown_order"),
            ("add_order", "EOrder:Invalid order", "EOrder:Invalid order"),
            ("add_order", "EOrder:Rate limit exceeded", "rate_limited"),
            ("cancel_all_orders_after", "EAPI:Rate limit exceeded", "rate_limited"),
            ("add_order", "EOrder:Domain rate limit exceeded", "rate_limited"),
            ("subscribe", "EAPI:Invalid key", "auth_failed"),
            ("subscribe", "ESession:Invalid session", "auth_failed"),
            ("subscribe", "EAPI:Invalid nonce", "replayed_nonce"),
            ("add_order", "EOrder:Order minimum not met", "lot_size"),
            ("add_order", "EOrder:Cost minimum not met", "min_notional"),
            ("add_order", "EOrder:Tick size check failed", "price_filter"),
            ("add_order", "EService:Market in cancel_only mode", "venue_unavailable"),
            ("add_order", "EGeneral:Invalid arguments:order_qty", "bad_request"),
            ("add_order", "EOrder:Insufficient funds", "EOrder:Insufficient funds"),
        ],
    )
    def test_krakens_errors_are_the_contracts_reasons(self, method, error, reason):
        assert kraken_reason(method, error) == reason
        reply = codec().decode(
            json.dumps({"method": method, "req_id": 1, "success": False, "error": error})
        )
        if method == "subscribe":
            assert reply is None  # not the logon's: ours never subscribed with req_id 1
        else:
            assert reply == Reply(1, error=reason, message=error)

    def test_a_refused_logon_is_the_logons_error_reply(self):
        entry = codec()
        entry.logon(1, KEY, cancel_on_disconnect=False)
        reply = entry.decode(
            '{"method":"subscribe","req_id":1,"success":false,"error":"EAPI:Invalid token"}'
        )
        assert reply == Reply(1, error="auth_failed", message="EAPI:Invalid token")

    @pytest.mark.parametrize(
        "frame",
        [
            '{"channel":"heartbeat"}',
            (
                '{"channel":"status","type":"update","data":[{"system":"online",'
                '"api_version":"v2","connection_id":1,"version":"2.0.0"}]}'
            ),
            '{"channel":"balances","type":"update","data":[{"asset":"USD"}]}',
            '{"method":"pong","req_id":99}',
            '{"method":"add_order","success":true,"result":{"order_id":"X"}}',
        ],
    )
    def test_heartbeats_status_and_strangers_replies_are_nothing(self, frame):
        assert codec().decode(frame) is None


SELL = {
    "order_id": "OK4GJX-KSTLS-7DZZO5",
    "order_userref": 3,
    "symbol": "BTC/USD",
    "order_qty": 0.005,
    "cum_cost": 0.0,
    "time_in_force": "GTC",
    "exec_type": "pending_new",
    "side": "sell",
    "order_type": "limit",
    "limit_price_type": "static",
    "limit_price": 26500.0,
    "stop_price": 0.0,
    "order_status": "pending_new",
    "fee_usd_equiv": 0.0,
    "fee_ccy_pref": "fciq",
    "timestamp": "2023-09-22T10:33:05.709950Z",
}
LIVE = {
    "timestamp": "2023-09-22T10:33:05.709982Z",
    "order_status": "new",
    "exec_type": "new",
    "order_userref": 3,
    "order_id": "OK4GJX-KSTLS-7DZZO5",
}
TRADE = {
    "order_id": "OK4GJX-KSTLS-7DZZO5",
    "order_userref": 3,
    "exec_id": "TGBB7L-HT5LX-J3BZ4A",
    "exec_type": "trade",
    "trade_id": 62887576,
    "symbol": "BTC/USD",
    "side": "sell",
    "last_qty": 0.005,
    "last_price": 26599.9,
    "liquidity_ind": "t",
    "cost": 132.9995,
    "order_type": "limit",
    "timestamp": "2023-09-22T10:33:05.709993Z",
    "order_status": "partially_filled",
    "cum_qty": 0.005,
    "cum_cost": 132.9995,
    "avg_price": 26599.9,
    "fee_usd_equiv": 0.3458,
    "fees": [{"asset": "USD", "qty": 0.3458}],
}


class TestExecutions:
    """The executions channel: reports become the contract's events, for our symbol only."""

    def test_the_documented_pending_live_and_execution_examples(self):
        # websocket-v2/executions: "Example: Pending", "Example: Live Order", "Example:
        # Execution", in their order (sequence 8, 9, 10)
        entry = logged_on(codec())
        number = None
        assert entry.decode(executions("update", SELL, sequence=8)) is None
        accepted = entry.decode(executions("update", LIVE, sequence=9))
        assert isinstance(accepted, OrderAccepted)
        number = accepted.order_id
        assert accepted == OrderAccepted(venue="kraken", client_order_id="", order_id=number)
        assert number > 0
        fill = entry.decode(executions("update", TRADE, sequence=10))
        assert fill == OrderFilled(
            venue="kraken",
            instrument="BTC/USD",
            client_order_id="",
            order_id=number,
            execution_id="TGBB7L-HT5LX-J3BZ4A",
            side=Side.SELL,
            price=265999,  # 26599.9 in ticks of 0.1
            quantity=500_000,  # 0.005 in lots of 0.00000001
            remaining=0,
            fee_e4=3_458_000_000_000,  # 0.3458 USD in 0.1 * 0.00000001 / 10_000
        )
        assert entry.sequence_gaps == 0

    def test_our_order_is_accepted_filled_and_cancelled_under_our_client_order_id(self):
        entry = logged_on(codec())
        client_order_id = "sdobiqwe988w0-10000"  # 19 characters: a packed UUID on the wire
        cl_ord_id = placed(entry, order(client_order_id, quantity=1_000_000), request_id=10)
        # add_order's success is the acknowledgement; the `new` after it says nothing more
        accepted, reply = entry.decode(
            json.dumps(
                {
                    "method": "add_order",
                    "req_id": 10,
                    "result": {"order_id": "OABCDE-FGHIJ-KLMNOP", "cl_ord_id": cl_ord_id},
                    "success": True,
                }
            )
        )
        assert isinstance(reply, Reply)
        assert reply.request_id == 10
        assert isinstance(accepted, OrderAccepted)
        assert accepted.client_order_id == client_order_id
        new = {"exec_type": "new", "order_id": "OABCDE-FGHIJ-KLMNOP", "order_status": "new"}
        assert entry.decode(executions("update", new)) is None
        trade = {
            "exec_type": "trade",
            "order_id": "OABCDE-FGHIJ-KLMNOP",
            "cl_ord_id": cl_ord_id,
            "exec_id": "TAAAAA-BBBBB-CCCCCC",
            "symbol": "BTC/USD",
            "last_qty": 0.004,
            "last_price": 26500.4,
            "cum_qty": 0.004,
        }
        fill = entry.decode(executions("update", trade))
        assert isinstance(fill, OrderFilled)
        assert (fill.client_order_id, fill.side, fill.price, fill.quantity, fill.remaining) == (
            client_order_id,
            Side.BUY,  # the order's side: the report did not say
            265004,
            400_000,
            600_000,
        )
        assert fill.order_id == accepted.order_id
        canceled = {
            "exec_type": "canceled",
            "order_id": "OABCDE-FGHIJ-KLMNOP",
            "cum_qty": 0.004,
            "reason": "User requested",
        }
        assert entry.decode(executions("update", canceled)) == OrderCanceled(
            venue="kraken",
            client_order_id=client_order_id,
            order_id=accepted.order_id,
            reason="User requested",
            remaining=600_000,
        )

    def test_an_order_is_accepted_once(self):
        entry = logged_on(codec())
        assert entry.decode(executions("update", SELL)) is None
        assert isinstance(entry.decode(executions("update", LIVE)), OrderAccepted)
        assert entry.decode(executions("update", LIVE)) is None

    def test_an_expired_order_is_an_expired_cancel_without_a_remaining_it_did_not_say(self):
        entry = logged_on(codec())
        entry.decode(executions("update", SELL))
        expired = {"exec_type": "expired", "order_id": "OK4GJX-KSTLS-7DZZO5"}
        event = entry.decode(executions("update", expired))
        assert isinstance(event, OrderCanceled)
        assert (event.expired, event.reason, event.remaining) == (True, "expired", -1)

    def test_filled_says_nothing_more_than_its_trades(self):
        entry = logged_on(codec())
        entry.decode(executions("update", SELL))
        filled = {"exec_type": "filled", "order_id": "OK4GJX-KSTLS-7DZZO5", "cum_qty": 0.005}
        assert entry.decode(executions("update", filled)) is None

    def test_other_pairs_and_orders_of_no_known_pair_are_ignored(self):
        entry = logged_on(codec())
        other = {
            **SELL,
            "order_id": "OTHER1-OTHER-OTHER1",
            "symbol": "ETH/USD",
            "limit_price": 1.23,
        }
        assert entry.decode(executions("update", other)) is None
        assert (
            entry.decode(executions("update", {**LIVE, "order_id": "OTHER1-OTHER-OTHER1"})) is None
        )
        unknown = {**LIVE, "order_id": "NEVERS-EENBE-FORE00"}
        assert entry.decode(executions("update", unknown)) is None
        eth_trade = {**TRADE, "order_id": "OTHER1-OTHER-OTHER1", "symbol": "ETH/USD"}
        assert entry.decode(executions("update", eth_trade)) is None

    def test_an_off_tick_average_price_is_the_nearest_tick(self):
        entry = logged_on(codec())
        trade = {**TRADE, "last_price": 26599.96}
        fill = entry.decode(executions("update", trade))
        assert isinstance(fill, OrderFilled)
        assert fill.price == 266000

    def test_a_message_of_several_reports_gives_them_all_in_order(self):
        entry = logged_on(codec())
        events = entry.decode_all(executions("update", SELL, LIVE, TRADE))
        assert [type(e) for e in events] == [OrderAccepted, OrderFilled]

    def test_decode_gives_every_report_of_a_message_at_once_as_a_tuple(self):
        entry = logged_on(codec())
        accepted, fill = entry.decode(executions("update", SELL, LIVE, TRADE))
        assert isinstance(accepted, OrderAccepted)
        assert isinstance(fill, OrderFilled)
        assert fill.order_id == accepted.order_id
        assert entry.decode('{"channel":"heartbeat"}') is None  # nothing held back

    def test_decode_gives_one_report_as_is_and_none_as_none(self):
        entry = logged_on(codec())
        assert entry.decode(executions("update", SELL)) is None
        assert isinstance(entry.decode(executions("update", LIVE)), OrderAccepted)
        (fill,) = decoded_items(entry.decode(executions("update", TRADE)))
        assert isinstance(fill, OrderFilled)

    def test_a_malformed_report_drops_its_message_and_changes_nothing(self):
        entry = logged_on(codec())
        bad = {**TRADE, "exec_id": "TBAD00-TBAD0-TBAD00", "last_qty": "lots"}
        with pytest.raises(ValueError, match="not a number"):
            entry.decode(executions("update", SELL, LIVE, TRADE, bad))
        assert entry.decode(executions("update", SELL)) is None  # still unknown: no record
        assert isinstance(entry.decode(executions("update", LIVE)), OrderAccepted)

    def test_a_jump_in_sequence_ends_the_session_so_that_a_new_one_reconciles(self):
        """Messages 3 and 4 were lost (a fill among them, maybe): the session's view of
        the account is wrong, and only a new session's snapshot puts it right."""
        entry = logged_on(codec())
        assert entry.decode(executions("update", sequence=2)) is None
        ended = entry.decode(executions("update", SELL, LIVE, sequence=5))
        assert ended == SessionEnded("executions sequence gap: 2 message(s) missed")
        assert entry.sequence_gaps == 1
        assert entry.decode(executions("update", sequence=6)) is None  # counted once


class TestReconciliation:
    """OPEN_ORDERS and FILLS are answered from the executions snapshot and what followed."""

    def test_open_orders_are_the_snapshots_of_our_pair(self):
        snapshot_order = {
            "order_id": "OPEN00-OPEN0-OPEN00",
            "cl_ord_id": "s1-7",
            "symbol": "BTC/USD",
            "side": "buy",
            "order_qty": 0.5,
            "limit_price": 26000.0,
            "cum_qty": 0.1,
            "order_status": "partially_filled",
            "exec_type": "new",
        }
        eth = {**snapshot_order, "order_id": "ETH000-ETH00-ETH000", "symbol": "ETH/USD"}
        entry = logged_on(codec(), snapshot_order, eth)
        (venue_order,) = entry.open_orders(ask(entry, Request.OPEN_ORDERS, 5).result)
        assert venue_order == VenueOrder(
            order_id=venue_order.order_id,
            client_order_id="s1-7",
            side=Side.BUY,
            price=260000,
            remaining=40_000_000,
            filled=10_000_000,
        )

    def test_cancels_after_the_snapshot_leave_the_open_orders(self):
        snapshot_order = {
            "order_id": "OPEN00-OPEN0-OPEN00",
            "symbol": "BTC/USD",
            "side": "buy",
            "order_qty": 0.5,
            "limit_price": 26000.0,
        }
        entry = logged_on(codec(), snapshot_order)
        entry.decode(
            executions("update", {"exec_type": "canceled", "order_id": "OPEN00-OPEN0-OPEN00"})
        )
        assert entry.open_orders(ask(entry, Request.OPEN_ORDERS, 5).result) == ()

    def test_a_pong_before_the_snapshot_is_answered_once_the_snapshot_is_in(self):
        entry = codec()
        entry.logon(1, KEY, cancel_on_disconnect=False)
        entry.encode(Request.OPEN_ORDERS, 2, {})
        entry.encode(Request.FILLS, 3, {"since": 0})
        assert entry.decode('{"method":"subscribe","req_id":1,"success":true}') == Reply(1)
        assert entry.decode('{"method":"pong","req_id":2}') is None
        assert entry.decode('{"method":"pong","req_id":3}') is None
        assert entry.decode(executions("snapshot")) == (Reply(2, result=()), Reply(3, result=()))
        assert entry.decode('{"channel":"heartbeat"}') is None

    def test_fills_are_those_of_our_orders_in_the_snapshot_and_those_streamed_since(self):
        entry = logged_on(codec())
        cl_ord_id = placed(entry, order("s1-1", side=Side.SELL, quantity=1_000_000))
        pending = {**SELL, "cl_ord_id": cl_ord_id}
        entry.decode(executions("update", pending))  # links OK4GJX... to s1-1
        # a new session: its snapshot holds a fill of ours and one of an order of long ago
        old = {**TRADE, "order_id": "OLDOLD-OLDOL-OLDOLD", "exec_id": "TOLD00-TOLD0-TOLD00"}
        logged_on(entry, TRADE, old)
        streamed = {**TRADE, "exec_id": "TNEW00-TNEW0-TNEW00", "cum_qty": 0.01}
        entry.decode(executions("update", streamed))
        fills = entry.fills(ask(entry, Request.FILLS, 6).result)
        assert [f.execution_id for f in fills] == ["TGBB7L-HT5LX-J3BZ4A", "TNEW00-TNEW0-TNEW00"]
        assert {f.client_order_id for f in fills} == {"s1-1"}

    def test_a_fresh_codec_counts_no_fill_of_before(self):
        entry = logged_on(codec(), TRADE)
        assert entry.fills(ask(entry, Request.FILLS, 2).result) == ()

    @pytest.mark.parametrize("result", [None, [], ("x",), {"count": 1}])
    def test_a_result_that_is_no_answer_is_a_value_error(self, result):
        entry = codec()
        with pytest.raises(ValueError, match="not the answer"):
            entry.fills(result)
        with pytest.raises(ValueError, match="not the answer"):
            entry.open_orders(result)


class TestAcknowledgement:
    """``add_order``'s success acknowledges the order, unless a report of it came first."""

    def test_the_answer_acknowledges_an_order_whose_new_was_lost(self):
        entry = logged_on(codec())
        cl_ord_id = placed(entry, order("s1-1"), request_id=10)
        accepted, reply = entry.decode(add_order_answer(10, "OABCDE-FGHIJ-KLMNOP", cl_ord_id))
        assert accepted == OrderAccepted(
            venue="kraken", client_order_id="s1-1", order_id=accepted.order_id
        )
        assert reply == Reply(
            10, result={"order_id": "OABCDE-FGHIJ-KLMNOP", "cl_ord_id": cl_ord_id}
        )
        new = {"exec_type": "new", "order_id": "OABCDE-FGHIJ-KLMNOP", "order_status": "new"}
        assert entry.decode(executions("update", new)) is None  # said already

    def test_an_answer_after_the_pending_report_still_acknowledges(self):
        entry = logged_on(codec())
        cl_ord_id = placed(entry, order("s1-1", side=Side.SELL), request_id=10)
        assert entry.decode(executions("update", {**SELL, "cl_ord_id": cl_ord_id})) is None
        accepted, _ = entry.decode(add_order_answer(10, SELL["order_id"], cl_ord_id))
        assert isinstance(accepted, OrderAccepted)
        assert accepted.client_order_id == "s1-1"
        assert entry.decode(executions("update", LIVE)) is None

    def test_an_answer_after_the_order_traded_acknowledges_nothing(self):
        """A taker's trades may come before the answer: an acceptance after the order
        ended would have the order manager cancel an order that is no longer there."""
        entry = logged_on(codec())
        cl_ord_id = placed(entry, order("s1-1", side=Side.SELL, quantity=500_000), request_id=10)
        pending = {**SELL, "cl_ord_id": cl_ord_id}
        accepted, fill = entry.decode(executions("update", pending, LIVE, TRADE))
        assert isinstance(accepted, OrderAccepted)
        assert isinstance(fill, OrderFilled)
        filled = {"exec_type": "filled", "order_id": SELL["order_id"], "cum_qty": 0.005}
        assert entry.decode(executions("update", filled)) is None
        answer = entry.decode(add_order_answer(10, SELL["order_id"], cl_ord_id))
        assert isinstance(answer, Reply)  # nothing else

    def test_an_answer_after_a_post_only_cancel_acknowledges_nothing(self):
        entry = logged_on(codec())
        cl_ord_id = placed(entry, order("s1-1", post_only=True), request_id=10)
        pending = {**SELL, "side": "buy", "cl_ord_id": cl_ord_id}
        canceled = {
            "exec_type": "canceled",
            "order_id": SELL["order_id"],
            "reason": "Post only order",
        }
        (cancel,) = decoded_items(entry.decode(executions("update", pending, canceled)))
        assert isinstance(cancel, OrderCanceled)
        answer = entry.decode(add_order_answer(10, SELL["order_id"], cl_ord_id))
        assert isinstance(answer, Reply)

    def test_someone_else_s_answer_acknowledges_nothing(self):
        entry = logged_on(codec())
        assert isinstance(entry.decode(add_order_answer(99, "OTHER0-OTHER-OTHER0", "x")), Reply)


class TestReread:
    """A FILLS request re-reads the executions snapshot; what the channel lost is found."""

    def test_the_first_fills_request_after_a_snapshot_is_answered_from_it(self):
        entry = logged_on(codec())
        assert entry.fills(ask(entry, Request.FILLS, 5).result) == ()
        assert entry.rereads == 0

    def test_a_later_one_unsubscribes_and_subscribes_executions_again_with_its_snapshot(self):
        entry = logged_on(codec())
        ask(entry, Request.FILLS, 5)
        frames = entry.encode(Request.FILLS, 6, {"since": 0})
        assert isinstance(frames, tuple)
        assert [json.loads(f) for f in frames] == [
            {
                "method": "unsubscribe",
                "params": {"channel": "executions", "token": TOKEN},
                "req_id": 6,
            },
            {
                "method": "subscribe",
                "params": {
                    "channel": "executions",
                    "token": TOKEN,
                    "snap_orders": True,
                    "snap_trades": True,
                    "ratecounter": True,
                },
                "req_id": 6,
            },
        ]
        assert entry.rereads == 1

    def test_a_fill_lost_before_a_silence_is_reported_ahead_of_the_answer(self):
        entry, cl_ord_id = resting_sell()
        # the trade's update is lost, and nothing follows: the re-read finds it
        found = reread(
            entry,
            6,
            {**RESTING, "cum_qty": 0.002},
            {**TRADE, "last_qty": 0.002, "cum_qty": 0.002, "cl_ord_id": cl_ord_id},
        )
        fill, answer = found
        assert isinstance(fill, OrderFilled)
        assert (fill.client_order_id, fill.execution_id, fill.quantity, fill.remaining) == (
            "s1-1",
            TRADE["exec_id"],
            200_000,
            300_000,
        )
        assert answer == Reply(6, result=())
        assert entry.fills(answer.result) == ()  # the fill was reported, once
        assert entry.found_by_reread == 1
        assert entry.open_orders(ask(entry, Request.OPEN_ORDERS, 7).result)[0].filled == 200_000

    def test_a_fill_already_reported_is_not_reported_again(self):
        entry, _ = resting_sell()
        assert isinstance(entry.decode(executions("update", TRADE)), OrderFilled)
        assert reread(entry, 6, TRADE) == (Reply(6, result=()),)  # closed by its fill
        assert entry.found_by_reread == 0

    def test_an_order_gone_whose_fills_do_not_explain_it_is_reported_cancelled(self):
        """Its cancel (by us, or by the venue) was lost: what is left was cancelled, how
        much was left is not said (its fills may be older than the snapshot's 50)."""
        entry, _ = resting_sell()
        cancel, answer = reread(entry, 6)
        assert cancel == OrderCanceled(
            venue="kraken",
            client_order_id="s1-1",
            order_id=cancel.order_id,
            reason="not open at the venue (executions snapshot)",
            remaining=-1,
        )
        assert answer == Reply(6, result=())
        assert entry.open_orders(ask(entry, Request.OPEN_ORDERS, 7).result) == ()

    def test_an_order_acknowledged_after_the_re_read_was_sent_is_not_judged_by_it(self):
        entry, _ = resting_sell()
        assert isinstance(entry.encode(Request.FILLS, 6, {"since": 0}), tuple)
        cl_ord_id = placed(entry, order("s1-2", price=264000, quantity=100_000), request_id=11)
        accepted, _ = entry.decode(add_order_answer(11, "OLATER-OLATE-OLATER", cl_ord_id))
        assert isinstance(accepted, OrderAccepted)
        # the snapshot holds the first order, not the second (older than it, maybe)
        assert entry.decode(executions("snapshot", RESTING, sequence=1)) == Reply(6, result=())
        (resting, later) = entry.open_orders(ask(entry, Request.OPEN_ORDERS, 7).result)
        assert (resting.client_order_id, later.client_order_id) == ("s1-1", "s1-2")

    def test_an_order_gone_that_its_fills_explain_is_reported_filled_only(self):
        entry, cl_ord_id = resting_sell()
        fill, answer = reread(entry, 6, {**TRADE, "cl_ord_id": cl_ord_id})
        assert isinstance(fill, OrderFilled)
        assert fill.remaining == 0
        assert isinstance(answer, Reply)

    def test_an_order_whose_acceptance_was_lost_is_accepted(self):
        entry = logged_on(codec())
        ask(entry, Request.FILLS, 5)
        cl_ord_id = placed(entry, order("s1-1", side=Side.SELL, quantity=500_000), request_id=10)
        # the pending report came; add_order's answer and the new did not (yet)
        assert entry.decode(executions("update", {**SELL, "cl_ord_id": cl_ord_id})) is None
        accepted, answer = reread(entry, 6, {**RESTING, "cl_ord_id": cl_ord_id})
        assert isinstance(accepted, OrderAccepted)
        assert accepted.client_order_id == "s1-1"
        assert answer == Reply(6, result=())
        assert isinstance(entry.decode(add_order_answer(10, SELL["order_id"], cl_ord_id)), Reply)

    def test_an_amend_whose_report_was_lost_is_reported(self):
        entry, _ = resting_sell()
        amended, _ = reread(entry, 6, {**RESTING, "order_qty": 0.003})
        assert amended == OrderAmended(
            venue="kraken",
            client_order_id="s1-1",
            order_id=amended.order_id,
            price=265000,
            remaining=300_000,
            filled=0,
            kept_priority=True,  # less at the same price
        )

    def test_nothing_lost_is_nothing_reported(self):
        entry, _ = resting_sell()
        assert reread(entry, 6, RESTING) == (Reply(6, result=()),)
        assert entry.found_by_reread == 0

    def test_a_fills_request_during_a_re_read_is_answered_by_it(self):
        entry, _ = resting_sell()
        assert isinstance(entry.encode(Request.FILLS, 6, {"since": 0}), tuple)
        assert entry.encode(Request.FILLS, 7, {"since": 0}) == ()  # nothing more to send
        assert entry.decode(executions("snapshot", RESTING, sequence=1)) == (
            Reply(6, result=()),
            Reply(7, result=()),
        )
        assert entry.rereads == 1

    def test_the_snapshot_restarts_the_sequence(self):
        entry, _ = resting_sell()
        assert entry.decode(executions("update", sequence=7)) is None
        reread(entry, 6, RESTING)
        assert entry.decode(executions("update", sequence=2)) is None
        assert entry.sequence_gaps == 0

    def test_a_refused_subscription_ends_the_session(self):
        entry, _ = resting_sell()
        entry.encode(Request.FILLS, 6, {"since": 0})
        refused = {
            "method": "subscribe",
            "req_id": 6,
            "success": False,
            "error": "Already subscribed",
        }
        assert entry.decode(json.dumps(refused)) == SessionEnded(
            "executions could not be re-read: Already subscribed"
        )

    def test_its_answers_before_the_snapshot_are_nothing(self):
        entry, _ = resting_sell()
        entry.encode(Request.FILLS, 6, {"since": 0})
        unsubscribed = {"method": "unsubscribe", "req_id": 6, "success": True, "result": {}}
        refused = {**unsubscribed, "success": False, "error": "Subscription Not Found"}
        subscribed = {"method": "subscribe", "req_id": 6, "success": True, "result": {}}
        for answer in (unsubscribed, refused, subscribed):
            assert entry.decode(json.dumps(answer)) is None


class TestRereadDue:
    """When the gateway should re-read: a silence while an order of ours is open."""

    def test_not_without_an_open_order_of_ours(self):
        clock = FakeClock()
        entry = logged_on(codec(clock=clock), {**RESTING, "order_id": "OTHERS-OTHER-OTHERS"})
        clock.advance(60)
        assert not entry.reread_due()

    def test_after_a_second_of_silence_while_one_is_open(self):
        clock = FakeClock()
        entry, _ = resting_sell(clock)
        clock.advance(0.9)
        assert not entry.reread_due()
        clock.advance(0.1)
        assert entry.reread_due()
        entry.encode(Request.FILLS, 6, {"since": 0})
        assert not entry.reread_due()  # one in flight
        clock.advance(5)
        assert not entry.reread_due()

    def test_each_fruitless_re_read_doubles_the_silence_up_to_the_most_and_a_message_resets_it(
        self,
    ):
        clock = FakeClock()
        entry, _ = resting_sell(clock)
        waits = []
        for request_id in range(6, 14):
            waited = 0
            while not entry.reread_due():
                clock.advance(0.5)
                waited += 1
            waits.append(waited / 2)
            reread(entry, request_id, RESTING)
        assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
        entry.decode(executions("update", {"exec_type": "status", "order_id": RESTING["order_id"]}))
        clock.advance(1.0)
        assert entry.reread_due()

    def test_a_loss_found_resets_the_silence(self):
        clock = FakeClock()
        entry, _ = resting_sell(clock)
        clock.advance(1)
        reread(entry, 6, RESTING)
        clock.advance(2)
        amended, _ = reread(entry, 7, {**RESTING, "order_qty": 0.004})
        assert isinstance(amended, OrderAmended)
        clock.advance(1)
        assert entry.reread_due()

    def test_not_before_the_session_s_snapshot(self):
        clock = FakeClock()
        entry, _ = resting_sell(clock)
        entry.logon(2, KEY, cancel_on_disconnect=False)
        clock.advance(60)
        assert not entry.reread_due()

    def test_a_bad_setting_is_refused(self):
        with pytest.raises(ValueError, match="reread_after"):
            KrakenOrderEntry("kraken", BTC_USD, reread_after=0)
        with pytest.raises(ValueError, match="reread_after"):
            KrakenOrderEntry("kraken", BTC_USD, reread_after=5, max_reread_after=1)


# the snapshot record of `SELL` resting at the venue, nothing filled
RESTING = {**SELL, "exec_type": "new", "order_status": "new", "cum_qty": 0.0}


def add_order_answer(request_id: int, order_id: str, cl_ord_id: str) -> str:
    result = {"order_id": order_id, "cl_ord_id": cl_ord_id}
    return json.dumps(
        {"method": "add_order", "req_id": request_id, "result": result, "success": True}
    )


def resting_sell(clock: FakeClock | None = None) -> tuple[KrakenOrderEntry, str]:
    """A codec logged on whose order ``s1-1`` (`SELL`, 0.005) is accepted and resting;
    the session's snapshot read by a FILLS request (the next one re-reads)."""
    entry = logged_on(codec(clock=clock))
    ask(entry, Request.FILLS, 2)
    cl_ord_id = placed(entry, order("s1-1", side=Side.SELL, price=265000, quantity=500_000))
    accepted, _ = entry.decode(add_order_answer(10, SELL["order_id"], cl_ord_id))
    assert isinstance(accepted, OrderAccepted)
    return entry, cl_ord_id


def reread(entry: KrakenOrderEntry, request_id: int, *snapshot: dict) -> tuple[object, ...]:
    """A FILLS re-read: its two frames, the venue's answers to them, then its snapshot."""
    assert isinstance(entry.encode(Request.FILLS, request_id, {"since": 0}), tuple)
    for method in ("unsubscribe", "subscribe"):
        answer = {"method": method, "req_id": request_id, "success": True, "result": {}}
        assert entry.decode(json.dumps(answer)) is None
    return decoded_items(entry.decode(executions("snapshot", *snapshot, sequence=1)))


# rest-api/get-tradable-asset-pairs: the response example
ASSET_PAIRS = {
    "error": [],
    "result": {
        "XETHXXBT": {
            "altname": "ETHXBT",
            "wsname": "ETH/XBT",
            "aclass_base": "currency",
            "base": "XETH",
            "aclass_quote": "currency",
            "quote": "XXBT",
            "cost_decimals": 6,
            "pair_decimals": 5,
            "lot_decimals": 8,
            "lot_multiplier": 1,
            "leverage_buy": [2, 3, 4, 5],
            "leverage_sell": [2, 3, 4, 5],
            "fees": [[0, 0.26], [50000, 0.24], [100000, 0.22], [250000, 0.2], [500000, 0.18]],
            "fees_maker": [[0, 0.16], [50000, 0.14], [100000, 0.12], [250000, 0.1]],
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": "0.01",
            "costmin": "0.00002",
            "tick_size": "0.00001",
            "status": "online",
            "long_position_limit": 1100,
            "short_position_limit": 400,
        },
        "XXBTZUSD": {
            "altname": "XBTUSD",
            "wsname": "XBT/USD",
            "aclass_base": "currency",
            "base": "XXBT",
            "aclass_quote": "currency",
            "quote": "ZUSD",
            "cost_decimals": 5,
            "pair_decimals": 1,
            "lot_decimals": 8,
            "lot_multiplier": 1,
            "leverage_buy": [2, 3, 4, 5],
            "leverage_sell": [2, 3, 4, 5],
            "fees": [[0, 0.26], [50000, 0.24]],
            "fees_maker": [[0, 0.16], [50000, 0.14]],
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": "0.0001",
            "costmin": "0.5",
            "tick_size": "0.1",
            "status": "online",
            "long_position_limit": 250,
            "short_position_limit": 200,
        },
    },
}


# websocket-v2/executions, "Example: Subscribe Ack" (plus our req_id)
SUBSCRIBE_ACK = {
    "method": "subscribe",
    "result": {
        "channel": "executions",
        "maxratecount": 125,
        "snap_orders": True,
        "snap_trades": True,
    },
    "success": True,
    "time_in": "2023-10-16T13:18:35.303171Z",
    "time_out": "2023-10-16T13:18:35.318297Z",
    "req_id": 1,
}


class TestRateCounter:
    """The pair's trading rate counter (guides/spot-ratelimits), as the gateway's budget."""

    @staticmethod
    def counter(entry: KrakenOrderEntry) -> VenueRateLimit:
        (limit,) = entry.venue_rate_limits()
        return limit

    def test_the_lowest_tier_s_threshold_and_decay_until_the_venue_says(self):
        entry = codec()
        assert isinstance(entry, RateLimitReporter)
        assert self.counter(entry) == VenueRateLimit(RateKind.ORDERS, 60, 60, used=0, decay=1.0)
        with pytest.raises(ValueError, match="rate_tier"):
            KrakenOrderEntry("kraken", BTC_USD, rate_tier="gold")
        pro = KrakenOrderEntry("kraken", BTC_USD, rate_tier="pro", clock=FakeClock())
        assert (self.counter(pro).limit, self.counter(pro).decay) == (180, 3.75)

    def test_the_documented_subscribe_ack_s_maxratecount_is_the_account_s_threshold(self):
        entry = codec()
        entry.logon(1, KEY, cancel_on_disconnect=False)
        assert entry.decode(json.dumps(SUBSCRIBE_ACK)) == Reply(1, result=SUBSCRIBE_ACK["result"])
        # 125 is Intermediate's: its decay, 2.34 a second (125 take 54 s to decay)
        assert self.counter(entry) == VenueRateLimit(RateKind.ORDERS, 125, 54, used=0, decay=2.34)

    @pytest.mark.parametrize(
        ("maxratecount", "decay"),
        [(180, 3.75), (150, 2.34), (20, 1.0), (True, 1.0), (-5, 1.0), ("60", 1.0)],
    )
    def test_a_threshold_no_tier_has_decays_as_the_tier_below_it_and_junk_is_ignored(
        self, maxratecount, decay
    ):
        entry = codec()
        entry.logon(1, KEY, cancel_on_disconnect=False)
        ack = {**SUBSCRIBE_ACK, "result": {**SUBSCRIBE_ACK["result"], "maxratecount": maxratecount}}
        entry.decode(json.dumps(ack))
        expected = maxratecount if isinstance(maxratecount, int) and maxratecount > 1 else 60
        assert (self.counter(entry).limit, self.counter(entry).decay) == (expected, decay)

    def test_what_the_codec_sends_is_counted_and_decays(self):
        clock = FakeClock()
        entry = logged_on(codec(clock=clock))
        for n in range(10):
            placed(entry, order(f"s1-{n}"), request_id=10 + n)
        assert self.counter(entry).used == 10  # add_order: +1 each
        clock.advance(4)
        assert self.counter(entry).used == 6  # Starter's decay: 1 a second
        assert entry.rate_count == pytest.approx(6.0)

    def test_amends_and_cancels_count_by_the_order_s_age(self):
        clock = FakeClock()
        entry = logged_on(codec(clock=clock))
        placed(entry, order("s1-1"))  # +1
        placed(entry, order("s1-2"), request_id=11)  # +1
        clock.advance(3)  # 2 - 3: 0
        amend = AmendAtVenue(
            order=order("s1-1"), order_id=1, price=265004, quantity=10**8, remaining=10**8
        )
        entry.encode(Request.AMEND, 12, {"amend": amend})
        assert entry.rate_count == pytest.approx(4.0)  # +1, +3 under 5 s
        entry.encode(Request.CANCEL, 13, {"client_order_id": "s1-1"})
        assert entry.rate_count == pytest.approx(12.0)  # +8: amended just now
        clock.advance(2)  # 10
        entry.encode(Request.CANCEL, 14, {"client_order_id": "s1-2"})
        assert entry.rate_count == pytest.approx(16.0)  # +6: 5 s old (not < 5 s, < 10 s)
        entry.encode(Request.CANCEL, 15, {"client_order_id": "s1-2"})
        assert entry.rate_count == pytest.approx(16.0)  # its age is not known: old

    def test_the_stream_s_ratecount_is_taken_where_it_says_more(self):
        """Another client's transactions on the pair show only in the venue's count."""
        clock = FakeClock()
        entry = logged_on(codec(clock=clock))
        cl_ord_id = placed(entry, order("s1-1"))
        entry.decode(executions("update", {**SELL, "cl_ord_id": cl_ord_id, "ratecount": 57}))
        limit = self.counter(entry)
        assert (limit.used, limit.near()) == (57, True)  # 54 is the line at 60
        assert limit.window_end_ms(0) == 4_000  # 57 -> 53: 4 s at 1 a second
        assert entry.rate_counts_read == 1
        clock.advance(1)
        entry.decode(executions("update", {**LIVE, "ratecount": 2.5}))  # behind ours: kept
        assert entry.rate_count == pytest.approx(56.0)

    def test_another_pair_s_count_and_a_count_that_is_no_count_are_not_taken(self):
        entry = logged_on(codec())
        other = {**SELL, "order_id": "OTHER0-OTHER-OTHER0", "symbol": "ETH/USD"}
        assert entry.decode(executions("update", {**other, "ratecount": 50})) is None
        for junk in ("57", -1, True, 1e300, {"n": 5}):
            entry.decode(executions("update", {**LIVE, "ratecount": junk}))
        assert entry.rate_count == 0
        assert (entry.rate_counts_read, entry.bad_rate_counts) == (0, 5)


class TestAssetPairs:
    """Instruments from the documented AssetPairs answer."""

    @pytest.mark.parametrize("pair", ["XXBTZUSD", "XBTUSD", "XBT/USD", "BTC/USD"])
    def test_the_documented_btc_usd_pair_is_an_instrument_by_any_of_its_names(self, pair):
        assert instrument_from_asset_pairs(json.dumps(ASSET_PAIRS), pair) == Instrument(
            venue="kraken",
            symbol="BTC/USD",
            tick_size="0.1",
            lot_size="0.00000001",
            min_quantity="0.0001",
            min_notional="0.5",
        )

    def test_the_documented_eth_xbt_pair(self):
        instrument = instrument_from_asset_pairs(
            json.dumps(ASSET_PAIRS), "ETHXBT", venue="kraken-main", symbol="ETH/XBT"
        )
        assert (instrument.venue, instrument.symbol, instrument.tick_size) == (
            "kraken-main",
            "ETH/XBT",
            "0.00001",
        )
        assert (instrument.min_quantity, instrument.min_notional) == ("0.01", "0.00002")
        assert instrument.price("0.07123") == 7123

    def test_without_a_tick_size_the_tick_is_the_pairs_decimals(self):
        answer = json.loads(json.dumps(ASSET_PAIRS))
        del answer["result"]["XXBTZUSD"]["tick_size"]
        assert instrument_from_asset_pairs(json.dumps(answer), "XBTUSD").tick_size == "0.1"

    def test_v2_symbols_name_btc_and_doge(self):
        assert v2_symbol("XBT/USD") == "BTC/USD"
        assert v2_symbol("XDG/XBT") == "DOGE/BTC"
        assert v2_symbol("ETH/EUR") == "ETH/EUR"

    def test_the_url(self):
        assert asset_pairs_url("XBTUSD") == "https://api.kraken.com/0/public/AssetPairs?pair=XBTUSD"

    @pytest.mark.parametrize(
        "change",
        [
            {"tick_size": "0"},
            {"tick_size": "1e-5"},
            {"ordermin": "-1"},
            {"lot_decimals": 400},
            {"pair_decimals": -1},
            {"lot_decimals": "8"},
        ],
    )
    def test_a_bad_pair_is_a_value_error(self, change):
        answer = json.loads(json.dumps(ASSET_PAIRS))
        answer["result"]["XXBTZUSD"].update(change)
        with pytest.raises(MALFORMED):
            instrument_from_asset_pairs(json.dumps(answer), "XBTUSD")

    def test_an_unknown_pair_and_an_error_answer(self):
        with pytest.raises(ValueError, match="no pair"):
            instrument_from_asset_pairs(json.dumps(ASSET_PAIRS), "DOGEUSD")
        with pytest.raises(VenueRequestError, match="EQuery:Unknown asset pair"):
            instrument_from_asset_pairs('{"error":["EQuery:Unknown asset pair"]}', "X")


DEEP = "[" * 100_000 + "]" * 100_000


class TestBadInput:
    """Whatever arrives, decoding raises msgspec.DecodeError or ValueError, nothing else."""

    @pytest.mark.parametrize(
        "frame",
        [
            "",
            "not json",
            "[]",
            "5",
            "null",
            "{}",
            '{"foo": 1}',
            DEEP,
            '{"channel":"executions","type":"update","data":' + DEEP + "}",
            '{"method":"add_order","req_id":1,"result":' + DEEP + "}",
            b"\xff\xfe",
            "\ud800",
            '{"method": 5}',
            '{"req_id": "1", "method": "pong"}',
            '{"req_id": 1.5, "method": "pong"}',
            '{"channel":"executions","type":"nope","data":[]}',
            '{"channel":"executions","type":"update","data":{}}',
            '{"channel":"executions","type":"update","data":[5]}',
            '{"channel":"executions","type":"update","data":[{"exec_type":"new"}]}',
            '{"channel":"executions","type":"update","data":[{"order_id":7}]}',
            '{"channel":"executions","type":"update","data":[{"order_id":"' + "O" * 65 + '"}]}',
        ],
    )
    def test_malformed_frames(self, frame):
        with pytest.raises(MALFORMED):
            codec().decode(frame)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("last_qty", 10**60),
            ("last_qty", "1" * 60),
            ("last_price", 1e300),
            ("last_price", "1e300"),
            ("last_price", -1),
            ("last_price", "NaN"),
            ("last_price", [1]),
            ("last_price", {"a": 1}),
            ("last_price", True),
            ("last_qty", 0),
            ("last_qty", 0.000000001),
            ("side", "both"),
            ("side", 1),
            ("exec_id", None),
            ("fees", [{"asset": "USD", "qty": "lots"}]),
            ("fees", "USD"),
            ("cum_qty", "1e-400"),
            ("order_qty", 1e-300),
        ],
    )
    def test_a_trade_with_a_bad_field_is_refused(self, field, value):
        entry = logged_on(codec())
        with pytest.raises(MALFORMED):
            entry.decode(executions("update", {**TRADE, field: value}))

    def test_numbers_in_exponent_form_and_in_strings_are_read_exactly(self):
        entry = logged_on(codec())
        trade = {**TRADE, "last_qty": "5e-3", "last_price": "2.65999E4", "fees": []}
        fill = entry.decode(executions("update", trade))
        assert isinstance(fill, OrderFilled)
        assert (fill.quantity, fill.price, fill.fee_e4) == (500_000, 265999, 0)

    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False)
            | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "method",
                            "req_id",
                            "success",
                            "error",
                            "result",
                            "channel",
                            "type",
                            "data",
                            "sequence",
                            "order_id",
                            "exec_type",
                            "exec_id",
                            "cl_ord_id",
                            "symbol",
                            "side",
                            "last_qty",
                            "last_price",
                            "cum_qty",
                            "order_qty",
                            "limit_price",
                            "fees",
                            "qty",
                        ]
                    ),
                    children,
                    max_size=6,
                )
            ),
            max_leaves=20,
        )
    )
    def test_any_json_is_decoded_or_refused_as_documented(self, value):
        entry = logged_on(codec())
        for frame in (
            json.dumps(value),
            json.dumps({"channel": "executions", "type": "update", "data": [value]}),
            json.dumps({"channel": "executions", "type": "snapshot", "data": value}),
            json.dumps({"method": "add_order", "req_id": 1, "success": True, "result": value}),
        ):
            with contextlib.suppress(*MALFORMED):
                entry.decode(frame)

    @settings(max_examples=200)
    @given(
        st.fixed_dictionaries(
            {},
            optional={
                key: st.one_of(
                    st.none(),
                    st.integers(),
                    st.floats(allow_nan=False),
                    st.text(max_size=30),
                    st.from_regex(
                        r"-?[0-9]{1,70}(\.[0-9]{1,70})?([eE][+-]?[0-9]{1,4})?", fullmatch=True
                    ),
                )
                for key in ("last_qty", "last_price", "cum_qty", "order_qty", "limit_price")
            },
        )
    )
    def test_any_numbers_in_a_trade_are_read_or_refused(self, numbers):
        entry = logged_on(codec())
        with contextlib.suppress(*MALFORMED):
            entry.decode(executions("update", {**TRADE, **numbers}))

    def test_a_refused_token_answer_never_crashes_the_codec(self):
        entry = codec(token=None)
        for body in ("", DEEP, "\ud800", '{"error": [], "result": ' + DEEP + "}"):
            with pytest.raises(MALFORMED):
                entry.accept_token(body)
        assert not entry.has_token
        assert isinstance(msgspec.DecodeError("x"), ValueError)


class TestAmend:
    """``amend_order`` (the documented request and answer) and its ``amended`` report."""

    DOC_CL_ORD_ID = "2c6be801-1f53-4f79-a0bb-4ea1c95dfae9"

    def _amend(self, **terms: int) -> AmendAtVenue:
        submit = order(self.DOC_CL_ORD_ID, price=4_907_000, quantity=150_000_000)
        return AmendAtVenue(order=submit, order_id=1, **terms)

    def test_the_request_is_the_documented_one_by_cl_ord_id(self):
        entry = logged_on(codec())
        amend = self._amend(price=4_907_950, quantity=120_000_000, remaining=120_000_000)
        frame = json.loads(entry.encode(Request.AMEND, 21, {"amend": amend}))
        # the documented example (api-reference, amend_order), less its asset_class
        assert frame == {
            "method": "amend_order",
            "params": {
                "cl_ord_id": self.DOC_CL_ORD_ID,
                "order_qty": 1.2,
                "limit_price": 490795,
                "token": TOKEN,
            },
            "req_id": 21,
        }
        assert entry.amend_increases  # Kraken allows more (losing the place)

    def test_the_price_is_left_out_when_it_does_not_change(self):
        entry = logged_on(codec())
        amend = self._amend(price=4_907_000, quantity=100_000_000, remaining=100_000_000)
        params = json.loads(entry.encode(Request.AMEND, 22, {"amend": amend}))["params"]
        assert "limit_price" not in params
        assert params["order_qty"] == 1

    def test_the_documented_answer_is_a_reply_and_a_refusal_has_its_reason(self):
        entry = logged_on(codec())
        answer = {
            "method": "amend_order",
            "req_id": 21,
            "result": {"amend_id": "", "cl_ord_id": self.DOC_CL_ORD_ID},
            "success": True,
            "time_in": "2024-07-26T13:39:04.922699Z",
            "time_out": "2024-07-26T13:39:04.924912Z",
        }
        reply = entry.decode(json.dumps(answer))
        assert isinstance(reply, Reply)
        assert (reply.request_id, reply.error) == (21, None)
        refused = {"method": "amend_order", "req_id": 22, "success": False,
                   "error": "EOrder:Unknown order"}  # fmt: skip
        reply = entry.decode(json.dumps(refused))
        assert isinstance(reply, Reply)
        assert reply.error == "unknown_order"

    def test_an_amended_report_is_the_order_amended(self):
        entry = logged_on(codec())
        client_order_id = "s1-77"
        cl_ord_id = placed(entry, order(client_order_id, quantity=1_000_000), request_id=10)
        new = {"exec_type": "new", "order_id": "OAMEND-AAAAA-BBBBBB", "cl_ord_id": cl_ord_id,
               "symbol": "BTC/USD", "order_qty": 0.01, "limit_price": 26500.4}  # fmt: skip
        accepted = entry.decode(executions("update", new))
        assert isinstance(accepted, OrderAccepted)
        amended = {"exec_type": "amended", "order_id": "OAMEND-AAAAA-BBBBBB",
                   "order_qty": 0.006, "limit_price": 26500.4, "cum_qty": 0.002,
                   "amended": True, "reason": "User requested"}  # fmt: skip
        assert entry.decode(executions("update", amended)) == OrderAmended(
            venue="kraken",
            client_order_id=client_order_id,
            order_id=accepted.order_id,
            price=265004,
            remaining=400_000,
            filled=200_000,
            kept_priority=True,  # less at the same price
        )
        moved = {**amended, "limit_price": 26490.0}
        update = entry.decode(executions("update", moved))
        assert isinstance(update, OrderAmended)
        assert (update.price, update.kept_priority) == (264900, False)
