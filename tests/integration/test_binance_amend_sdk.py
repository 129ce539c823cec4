"""Binance's own SDK amends on the emulator: keepPriority, cancelReplace, and a -2022.

An independent client (``binance-sdk-spot``, whose pydantic models parse every answer
and every executionReport strictly) against the simulated exchange's Binance
front-end: the emulator and the tree's codec are not one reading checked by itself.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import pytest

from tradeactors.clock import SystemClock
from tradeactors.core.instrument import Instrument
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.server import SimExchange
from tradeactors.supervision.runtime import current_runtime

SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")
KEYS = {"alice": "alice-secret"}
STILL = LiquidityConfig(
    start_mid=100_000, depth_ticks=1, volatility=0.0, limit_rate=0.0, cancel_rate=0.0,
    market_rate=0.0,
)  # fmt: skip


@pytest.mark.skipif(
    importlib.util.find_spec("binance_sdk_spot") is None,
    reason="binance-sdk-spot (Binance's own client) is not installed",
)
@pytest.mark.skipif(
    current_runtime() == "gevent", reason="the SDK is asyncio and aiohttp: threads runtime only"
)
@pytest.mark.filterwarnings(
    "ignore:parameter 'timeout' of type 'float' is deprecated:DeprecationWarning"
)
def test_binances_own_sdk_amends_in_place_replaces_and_is_told_why_a_replace_failed():
    from binance_common.configuration import ConfigurationWebSocketAPI
    from binance_sdk_spot.spot import Spot
    from binance_sdk_spot.websocket_api.models import ExecutionReport

    clock = SystemClock()
    exchange = SimExchange(
        SIM, clock, protocol="binance", keys=KEYS, liquidity=STILL, seed=2, interval=0.01
    ).start()

    async def session() -> tuple[list[Any], list[ExecutionReport]]:
        config = ConfigurationWebSocketAPI(
            api_key="alice", api_secret=KEYS["alice"], stream_url=exchange.trade_url,
            reconnect_attempts=1,
        )  # fmt: skip
        connection = await Spot(config_ws_api=config).websocket_api.create_connection()
        reports: list[ExecutionReport] = []
        new_seen = asyncio.Event()

        def on_event(message: Any) -> None:
            report = message.actual_instance
            if isinstance(report, ExecutionReport):
                reports.append(report)
                if report.x == "NEW" and len(reports) > 1:
                    new_seen.set()

        try:
            stream = await connection.user_data_stream_subscribe_signature()
            stream.stream.on("message", on_event)
            placed = (
                await connection.order_place(
                    symbol="SIMUSDT", side="BUY", type="LIMIT", time_in_force="GTC",
                    price=900.0, quantity=0.005, new_client_order_id="sdk-a",
                )
            ).data()  # fmt: skip
            amended = (
                await connection.order_amend_keep_priority(
                    symbol="SIMUSDT", new_qty=0.003, order_id=placed.result.order_id,
                    new_client_order_id="sdk-a",
                )
            ).data()  # fmt: skip
            replaced = (
                await connection.order_cancel_replace(
                    symbol="SIMUSDT", cancel_replace_mode="STOP_ON_FAILURE", side="BUY",
                    type="LIMIT", time_in_force="GTC", price=901.0, quantity=0.003,
                    cancel_order_id=placed.result.order_id, new_client_order_id="sdk-a",
                )
            ).data()  # fmt: skip
            await asyncio.wait_for(new_seen.wait(), timeout=10)
            failed = (
                await connection.order_cancel_replace(
                    symbol="SIMUSDT", cancel_replace_mode="STOP_ON_FAILURE", side="BUY",
                    type="LIMIT", time_in_force="GTC", price=902.0, quantity=0.003,
                    cancel_order_id=placed.result.order_id,  # gone: replaced above
                )
            ).data()  # fmt: skip
            return [placed, amended, replaced, failed], reports
        finally:
            await connection.close_connection(close_session=True)

    try:
        (placed, amended, replaced, failed), reports = asyncio.run(session())
        order = amended.result.amended_order
        assert (amended.status, order.qty, order.client_order_id) == (200, "0.00300000", "sdk-a")
        assert order.order_id == placed.result.order_id  # in place: the same order
        result = replaced.result
        assert (result.cancel_result, result.new_order_result) == ("SUCCESS", "SUCCESS")
        new_id = result.new_order_response.order_id
        assert new_id != placed.result.order_id
        assert result.new_order_response.client_order_id == "sdk-a"  # reused, as documented
        assert [(r.x, r.i) for r in reports] == [
            ("NEW", placed.result.order_id),
            ("REPLACED", placed.result.order_id),
            ("CANCELED", placed.result.order_id),
            ("NEW", new_id),
        ]
        assert (reports[1].q, reports[2].C) == ("0.00300000", "sdk-a")
        # the documented -2022: the cancel failed (unknown order), nothing placed
        assert failed["error"]["code"] == -2022
        data = failed["error"]["data"]
        assert (data["cancelResult"], data["newOrderResult"]) == ("FAILURE", "NOT_ATTEMPTED")
        assert data["cancelResponse"]["code"] == -2011
        assert [(o.price, o.remaining) for o in exchange.open_orders("alice")] == [(90_100, 3)]
    finally:
        exchange.close()
        clock.close()
