"""The simulator's codec: the ``place`` request as its protocol writes it (docs/protocol.md)."""

from __future__ import annotations

import pytest

from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side, SubmitOrder, TimeInForce
from tradeactors.venues.adapter import Request
from tradeactors.venues.sim import SimOrderEntry

BTC = Instrument(venue="sim", symbol="BTCUSDT", tick_size="0.01", lot_size="0.001")
ETH = Instrument(venue="sim", symbol="ETHUSDT", tick_size="0.1", lot_size="0.0001")


@pytest.mark.parametrize("instruments", [BTC, {"BTCUSDT": BTC, "ETHUSDT": ETH}])
def test_a_place_request_is_exactly_the_frame_with_every_field_in_its_order(instruments):
    codec = SimOrderEntry("sim", instruments)
    ioc = SubmitOrder(
        client_order_id="c1", venue="sim", instrument="BTCUSDT", side=Side.BUY, price=100_001,
        quantity=2, tif=TimeInForce.IOC,
    )  # fmt: skip
    assert codec.encode(Request.PLACE, 7, {"order": ioc}) == (
        '{"op":"place","id":7,"client_order_id":"c1","symbol":"BTCUSDT","side":"buy",'
        '"price":"1000.01","quantity":"0.002","type":"limit","tif":"ioc","post_only":false}'
    )
    maker = SubmitOrder(
        client_order_id="c2", venue="sim", instrument="BTCUSDT", side=Side.SELL, price=5,
        quantity=12_345, post_only=True,
    )  # fmt: skip
    assert codec.encode(Request.PLACE, 8, {"order": maker}) == (
        '{"op":"place","id":8,"client_order_id":"c2","symbol":"BTCUSDT","side":"sell",'
        '"price":"0.05","quantity":"12.345","type":"limit","tif":"gtc","post_only":true}'
    )


def test_an_order_of_another_instrument_is_written_in_that_instruments_units():
    codec = SimOrderEntry("sim", {"BTCUSDT": BTC, "ETHUSDT": ETH})
    order = SubmitOrder(
        client_order_id="e1", venue="sim", instrument="ETHUSDT", side=Side.BUY, price=26_835,
        quantity=15, tif=TimeInForce.FOK,
    )  # fmt: skip
    assert codec.encode(Request.PLACE, 1, {"order": order}) == (
        '{"op":"place","id":1,"client_order_id":"e1","symbol":"ETHUSDT","side":"buy",'
        '"price":"2683.5","quantity":"0.0015","type":"limit","tif":"fok","post_only":false}'
    )
