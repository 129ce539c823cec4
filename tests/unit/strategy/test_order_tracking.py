"""`OrderTracking` (both contexts' bookkeeping) and `OpenOrder` across instruments."""

from __future__ import annotations

import pytest
import structlog
from structlog.testing import capture_logs

from tradeactors.core.messages import OrderStatus, OrderUpdate, Side
from tradeactors.strategy.api import OpenOrder, OrderTracking


def _tracking() -> OrderTracking:
    return OrderTracking(structlog.get_logger("test"), ("BTCUSDT", "ETHUSDT"), name="pair")


def _fill(coid: str, symbol: str, side: Side, lots: int, status: str = "filled") -> OrderUpdate:
    return OrderUpdate(
        client_order_id=coid, venue="sim", instrument=symbol, side=side, price=10, quantity=lots,
        status=OrderStatus(status), filled=lots, fill_quantity=lots, fill_price=10,
    )  # fmt: skip


def test_an_open_order_built_without_an_instrument_still_works():
    """Code written before several instruments builds `OpenOrder` as before."""
    order = OpenOrder(
        client_order_id="c1", side=Side.BUY, price=10, quantity=2, filled=0, status="accepted"
    )
    assert order.instrument == ""
    assert (order.client_order_id, order.price, order.status) == ("c1", 10, "accepted")


def test_positions_are_kept_per_instrument_the_primary_is_position():
    tracking = _tracking()
    tracking.track("a", side=Side.BUY, price=10, quantity=3)
    tracking.track("b", side=Side.SELL, price=10, quantity=5, instrument="ETHUSDT")
    tracking.track("c", side=Side.SELL, price=11, quantity=1, instrument="ETHUSDT")
    assert [o.instrument for o in tracking.open_orders()] == ["BTCUSDT", "ETHUSDT", "ETHUSDT"]
    tracking.apply(_fill("a", "BTCUSDT", Side.BUY, 3))
    tracking.apply(_fill("b", "ETHUSDT", Side.SELL, 2, "partially_filled"))
    assert (tracking.position, tracking.position_of("ETHUSDT")) == (3, -2)
    assert tracking.positions == {"BTCUSDT": 3, "ETHUSDT": -2}
    assert [o.client_order_id for o in tracking.open_orders("ETHUSDT")] == ["b", "c"]
    assert tracking.open_orders("BTCUSDT") == []  # a filled


def test_an_instrument_it_does_not_trade_is_a_value_error_naming_it_and_its_own():
    tracking = _tracking()
    message = r"strategy 'pair' does not trade 'XRPUSDT'; its instruments: BTCUSDT, ETHUSDT"
    with pytest.raises(ValueError, match=message):
        tracking.track("x", side=Side.BUY, price=1, quantity=1, instrument="XRPUSDT")
    with pytest.raises(ValueError, match=message):
        tracking.position_of("XRPUSDT")
    with pytest.raises(ValueError, match=message):
        tracking.open_orders("XRPUSDT")
    assert tracking.open_orders() == []


def test_a_fill_of_another_instrument_moves_no_position_and_is_logged():
    tracking = _tracking()
    with capture_logs() as logs:
        tracking.apply(_fill("x", "XRPUSDT", Side.BUY, 4))
    assert tracking.positions == {"BTCUSDT": 0, "ETHUSDT": 0}
    assert [(e["event"], e["instrument"]) for e in logs] == [
        ("fill_of_unknown_instrument", "XRPUSDT")
    ]


@pytest.mark.parametrize(
    ("instruments", "match"),
    [((), "one instrument or more"), ("BTCUSDT", "one instrument or more"),
     (("BTCUSDT", "BTCUSDT"), "listed twice")],
)  # fmt: skip
def test_instruments_are_one_or_more_distinct_symbols(instruments, match):
    with pytest.raises(ValueError, match=match):
        OrderTracking(structlog.get_logger("test"), instruments)
