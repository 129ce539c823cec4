"""Binance's rate limits as the gateway reads them: exchangeInfo's, and each reply's counts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import msgspec
import pytest

from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side, SubmitOrder
from tradeactors.core.ratelimit import RateKind, VenueRateLimit
from tradeactors.venues.adapter import Credentials, RateLimitReporter, Request, instrument_source
from tradeactors.venues.binance import (
    ADAPTER,
    BinanceOrderEntry,
    exchange_info_rate_limits,
)

EXAMPLES = json.loads(
    (Path(__file__).parent / "binance_docs_examples.json").read_text(encoding="utf-8")
)
BTCUSDT = Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.01", lot_size="0.00001")


def example(name: str) -> dict:
    return copy.deepcopy(EXAMPLES[name]["example"])


def test_the_documented_exchange_info_states_its_orders_and_weight_limits():
    body = json.dumps(example("exchangeInfo response")).encode()
    assert exchange_info_rate_limits(body) == (
        VenueRateLimit(RateKind.REQUESTS, 6000, 60),
        VenueRateLimit(RateKind.ORDERS, 50, 10),
        VenueRateLimit(RateKind.ORDERS, 160_000, 86_400),
    )  # CONNECTIONS is not the gateway's to count: left out
    # the REST answer (what the system GETs at start) is the same, without "result"
    rest = json.dumps(example("exchangeInfo response")["result"]).encode()
    assert exchange_info_rate_limits(rest) == exchange_info_rate_limits(body)
    source = instrument_source(ADAPTER)
    assert source is not None
    assert source.rate_limits is exchange_info_rate_limits


@pytest.mark.parametrize(
    "body",
    [b"<html>", b'{"rateLimits": [{"rateLimitType": "ORDERS"}]}', b'{"rateLimits": 5}'],
)
def test_an_answer_not_of_the_documented_shape_is_a_decode_error(body):
    with pytest.raises(msgspec.DecodeError):
        exchange_info_rate_limits(body)


def test_unknown_kinds_and_intervals_are_left_out_and_none_stated_is_none():
    body = json.dumps(
        {
            "rateLimits": [
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
                 "limit": 61000},
                {"rateLimitType": "ORDERS", "interval": "WEEK", "intervalNum": 1, "limit": 9},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 0, "limit": 9},
            ]
        }
    )  # fmt: skip
    assert exchange_info_rate_limits(body) == ()
    assert exchange_info_rate_limits(b'{"symbols": []}') == ()


def test_each_reply_s_counts_are_what_the_codec_reports():
    clock = FakeClock(wall_offset_ns=1645423376532 * 1_000_000)
    entry = BinanceOrderEntry("binance", BTCUSDT, clock=clock)
    assert isinstance(entry, RateLimitReporter)
    assert entry.venue_rate_limits() == ()  # nothing said yet
    entry.logon(1, Credentials("key", "secret"), cancel_on_disconnect=False)
    order = SubmitOrder(
        client_order_id="c1", venue="binance", instrument="BTCUSDT", side=Side.BUY,
        price=100, quantity=1000,
    )  # fmt: skip
    entry.encode(Request.PLACE, 2, {"order": order})
    entry.decode(json.dumps({**example("order.place ACK response"), "id": 2}))
    assert entry.venue_rate_limits() == (
        VenueRateLimit(RateKind.ORDERS, 50, 10, used=1),
        VenueRateLimit(RateKind.ORDERS, 160_000, 86_400, used=1),
        VenueRateLimit(RateKind.REQUESTS, 6000, 60, used=1),
    )
