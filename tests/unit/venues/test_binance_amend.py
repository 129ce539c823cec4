"""Binance amends: ``order.amend.keepPriority`` and ``order.cancelReplace``, from the docs.

The documented requests and replies (``binance_amend_examples.json``, transcribed from
web-socket-api.md with their comments removed) go through the codec as they are.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from test_binance_orders import API_KEY, ETHBTC, codec, params_of, report, with_id

from tradeactors.core.messages import AmendAtVenue, OrderAmended, Side, SubmitOrder
from tradeactors.venues.adapter import Reply, Request
from tradeactors.venues.binance import error_reason

EXAMPLES = json.loads(
    (Path(__file__).parent / "binance_amend_examples.json").read_text(encoding="utf-8")
)


def example(name: str) -> dict:
    return copy.deepcopy(EXAMPLES[name]["example"])


ORDER = SubmitOrder(
    client_order_id="my_test_order1",
    venue="binance",
    instrument="BTCUSDT",
    side=Side.SELL,
    price=2_341_610,  # 23416.10
    quantity=847,  # 0.00847
)


def _amend(**change: int) -> AmendAtVenue:
    terms = {"price": ORDER.price, "quantity": ORDER.quantity, "remaining": ORDER.quantity}
    terms.update(change)
    return AmendAtVenue(order=ORDER, order_id=125690984230, **terms)


class TestRequests:
    """Less at the same price keeps priority; anything else is a cancel-replace."""

    def test_a_lower_quantity_is_keep_priority_with_new_qty_the_new_total(self):
        entry, _clock = codec()
        frame = json.loads(
            entry.encode(Request.AMEND, 7, {"amend": _amend(quantity=500, remaining=499)})
        )
        documented = example("order.amend.keepPriority request")
        assert frame["method"] == documented["method"]
        params = frame["params"]
        # the documented parameters, by orderId (Binance's fastest) and keeping our id
        assert set(params) - set(documented["params"]) == {"orderId", "newClientOrderId"}
        assert set(documented["params"]) - set(params) == {"origClientOrderId"}
        assert (params["newQty"], params["orderId"], params["newClientOrderId"]) == (
            "0.00500",
            125690984230,
            "my_test_order1",
        )
        assert params["apiKey"] == API_KEY

    def test_a_new_price_is_cancel_replace_stop_on_failure_for_what_is_left(self):
        entry, _clock = codec()
        amend = _amend(price=2_345_000, quantity=847, remaining=846)
        frame = json.loads(entry.encode(Request.AMEND, 8, {"amend": amend}))
        documented = example("order.cancelReplace request")
        assert frame["method"] == documented["method"] == "order.cancelReplace"
        params = params_of(json.dumps(frame))
        expected = {
            "symbol": "BTCUSDT",
            "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrderId": 125690984230,
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "price": "23450.00",
            "quantity": "0.00846",  # what is left to fill: the new order's quantity
            "newClientOrderId": "my_test_order1",  # reused, as Binance allows
            "newOrderRespType": "ACK",
        }
        assert {k: params[k] for k in expected} == expected
        # every documented parameter but the cancel by client id is there
        assert set(documented["params"]) - set(params) == {"cancelOrigClientOrderId"}

    def test_a_post_only_order_is_replaced_as_limit_maker(self):
        entry, _clock = codec()
        order = SubmitOrder(**{**_fields(ORDER), "post_only": True})
        amend = AmendAtVenue(order=order, order_id=1, price=2_341_600, quantity=847, remaining=847)
        params = params_of(entry.encode(Request.AMEND, 9, {"amend": amend}))
        assert params["type"] == "LIMIT_MAKER"
        assert "timeInForce" not in params

    def test_a_higher_quantity_at_the_same_price_is_a_cancel_replace(self):
        entry, _clock = codec()
        frame = json.loads(
            entry.encode(Request.AMEND, 10, {"amend": _amend(quantity=900, remaining=900)})
        )
        assert frame["method"] == "order.cancelReplace"
        assert entry.amend_increases


def _fields(order: SubmitOrder) -> dict:
    return {f: getattr(order, f) for f in order.__struct_fields__}


class TestReplies:
    """The documented answers: done, failed (nothing changed), partially failed (cancelled)."""

    def _sent(self, request_id: int, amend: AmendAtVenue):
        entry, _clock = codec()
        entry.encode(Request.AMEND, request_id, {"amend": amend})
        return entry

    def test_both_done_is_a_result(self):
        entry = self._sent(3, _amend(price=2_345_000))
        reply = entry.decode(with_id(example("order.cancelReplace response"), 3))
        assert isinstance(reply, Reply)
        assert reply.error is None

    def test_a_failed_cancel_is_the_cancel_s_reason_and_nothing_cancelled(self):
        entry = self._sent(3, _amend(price=2_345_000))
        reply = entry.decode(
            with_id(example("order.cancelReplace STOP_ON_FAILURE cancel failed"), 3)
        )
        assert isinstance(reply, Reply)
        assert (reply.error, reply.result) == ("unknown_order", {"canceled": False})
        assert "-2022" in reply.message
        assert "-2011" in reply.message

    def test_a_cancel_that_worked_then_a_failed_order_says_the_order_is_cancelled(self):
        entry = self._sent(3, _amend(price=2_345_000))
        frame = example("order.cancelReplace partially failed, new order failed")
        reply = entry.decode(with_id(frame, 3))
        assert isinstance(reply, Reply)
        assert (reply.error, reply.result) == ("post_only_would_take", {"canceled": True})

    def test_the_other_documented_failures_read_too(self):
        for name, canceled in (
            ("order.cancelReplace partially failed, cancel failed", False),
            ("order.cancelReplace both failed", False),
        ):
            entry = self._sent(3, _amend(price=2_345_000))
            reply = entry.decode(with_id(example(name), 3))
            assert isinstance(reply, Reply)
            assert (reply.error, reply.result) == ("unknown_order", {"canceled": canceled})

    def test_keep_priority_s_answer_is_a_result_and_its_refusals_have_reasons(self):
        entry = self._sent(4, _amend(quantity=500, remaining=500))
        reply = entry.decode(with_id(example("order.amend.keepPriority response"), 4))
        assert isinstance(reply, Reply)
        assert reply.error is None
        assert error_reason(400, -2038, "Order amend (quantity increase) is not supported.") == (
            "amend_quantity_increase"
        )
        assert error_reason(
            400, -2038, "The requested action would change no state; rejecting"
        ) == ("amend_no_change")


def test_a_replaced_report_is_the_order_amended_in_place():
    entry, _clock = codec(instrument=ETHBTC)
    frame = report(x="REPLACED", X="PARTIALLY_FILLED", q="0.50000000", z="0.20000000")
    amended = entry.decode(frame)
    assert amended == OrderAmended(
        venue="binance",
        client_order_id="mUvoqJxFIILMdfAW5iGSOW",
        order_id=4293153,
        price=10264410,
        remaining=3000,
        filled=2000,
        kept_priority=True,
    )
