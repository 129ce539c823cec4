"""Binance's own SDK with an Ed25519 key on the emulator: session.logon, place, cancel.

``binance-sdk-spot`` (with ``binance-common``) signs with pycryptodome from a private
key file (``ConfigurationWebSocketAPI(private_key=<path>)``), writes ``session.logon``
and, once logged on, drops ``apiKey`` and ``signature`` from its requests; its pydantic
models parse every answer and every executionReport strictly. Neither the signing nor
the request shapes share code with the emulator or with ``tradeactors.venues.binance``.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from trading_helpers import SYMBOL, still_exchange

from tradeactors.supervision.runtime import current_runtime

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("binance_sdk_spot") is None,
        reason="binance-sdk-spot (Binance's own client) is not installed",
    ),
    pytest.mark.skipif(
        current_runtime() == "gevent", reason="the SDK is asyncio and aiohttp: threads runtime only"
    ),
    # binance-common passes aiohttp a float timeout, which aiohttp deprecates
    pytest.mark.filterwarnings(
        "ignore:parameter 'timeout' of type 'float' is deprecated:DeprecationWarning"
    ),
]

KEY = Ed25519PrivateKey.generate()
INVALID_SIGNATURE = {"code": -1022, "msg": "Signature for this request is not valid."}


def key_file(directory: Path, key: Ed25519PrivateKey) -> str:
    """The private key as Binance's key generator writes it: PKCS#8 PEM, no passphrase."""
    path = directory / f"ed25519-{id(key)}.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def public_pem(key: Ed25519PrivateKey) -> str:
    """What the user registers at Binance, and what keys the emulator's account."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


async def connect(url: str, private_key: str) -> Any:
    from binance_common.configuration import ConfigurationWebSocketAPI
    from binance_sdk_spot.spot import Spot

    config = ConfigurationWebSocketAPI(
        api_key="demo", private_key=private_key, stream_url=url, reconnect_attempts=1
    )
    return await Spot(config_ws_api=config).websocket_api.create_connection()


def test_binances_own_sdk_logs_on_with_an_ed25519_key_places_and_cancels(tmp_path):
    """The first order goes signed per request (Ed25519, no session); after session.logon
    the SDK sends requests without apiKey or signature, and the venue books them to the
    key that logged on."""
    from binance_sdk_spot.websocket_api.models import ExecutionReport

    async def session(url: str) -> dict[str, Any]:
        connection = await connect(url, key_file(tmp_path, KEY))
        seen: dict[str, Any] = {"reports": []}
        both_cancelled = asyncio.Event()

        def on_event(message: Any) -> None:
            report = message.actual_instance
            if isinstance(report, ExecutionReport):
                seen["reports"].append(report)
                if [r.x for r in seen["reports"]].count("CANCELED") == 2:
                    both_cancelled.set()

        try:
            seen["signed"] = (
                await connection.order_place(
                    symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC",
                    price=980.0, quantity=0.001, new_client_order_id="sdk-ed-0",
                )
            ).data()  # fmt: skip
            seen["logon"] = (await connection.session_logon()).data()
            seen["status"] = (await connection.session_status()).data()
            stream = await connection.user_data_stream_subscribe()  # needs the logon
            stream.stream.on("message", on_event)
            seen["placed"] = (
                await connection.order_place(
                    symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC",
                    price=990.0, quantity=0.005, new_client_order_id="sdk-ed-1",
                )
            ).data()  # fmt: skip
            seen["open"] = sorted((o.remaining, o.price) for o in exchange.open_orders("demo"))
            seen["cancelled"] = (
                await connection.order_cancel(symbol=SYMBOL, orig_client_order_id="sdk-ed-1")
            ).data()
            seen["all"] = (await connection.open_orders_cancel_all(symbol=SYMBOL)).data()
            await asyncio.wait_for(both_cancelled.wait(), timeout=5)
            return seen
        finally:
            await connection.close_connection(close_session=True)

    with still_exchange(protocol="binance", keys={"demo": public_pem(KEY)}) as exchange:
        seen = asyncio.run(session(exchange.trade_url))
        assert not exchange.open_orders("demo")

    assert (seen["signed"].status, seen["signed"].result.status) == (200, "NEW")
    assert (seen["logon"].status, seen["logon"].result.api_key) == (200, "demo")
    assert seen["status"].result.api_key == "demo"
    placed = seen["placed"].result
    assert (placed.client_order_id, placed.status, placed.orig_qty) == (
        "sdk-ed-1", "NEW", "0.00500000",
    )  # fmt: skip
    assert seen["open"] == [(1, 98_000), (5, 99_000)]
    assert (seen["cancelled"].result.status, seen["cancelled"].result.order_id) == (
        "CANCELED", placed.order_id,
    )  # fmt: skip
    (first,) = seen["all"].result  # the order placed before the logon
    assert (first.orig_client_order_id, first.status) == ("sdk-ed-0", "CANCELED")
    assert [(r.x, r.c, r.C, r.i) for r in seen["reports"]] == [
        ("NEW", "sdk-ed-1", "", placed.order_id),
        ("CANCELED", seen["cancelled"].result.client_order_id, "sdk-ed-1", placed.order_id),
        ("CANCELED", first.client_order_id, "sdk-ed-0", first.order_id),
    ]


def test_binances_own_sdk_is_refused_a_logon_with_a_key_the_account_does_not_have(tmp_path):
    """Another Ed25519 key: session.logon and a request signed with it are -1022, the
    session stays anonymous and nothing reaches the book."""

    async def session(url: str) -> dict[str, Any]:
        connection = await connect(url, key_file(tmp_path, Ed25519PrivateKey.generate()))
        try:
            return {
                "logon": (await connection.session_logon()).data(),
                "status": (await connection.session_status()).data(),
                "place": (
                    await connection.order_place(
                        symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC",
                        price=990.0, quantity=0.001,
                    )
                ).data(),
            }  # fmt: skip
        finally:
            await connection.close_connection(close_session=True)

    with still_exchange(protocol="binance", keys={"demo": public_pem(KEY)}) as exchange:
        seen = asyncio.run(session(exchange.trade_url))
        assert not exchange.open_orders("demo")
        assert exchange.requests("demo", "place") == 0

    assert seen["logon"] == {"error": INVALID_SIGNATURE}
    assert seen["status"].result.api_key is None
    assert seen["place"] == {"error": INVALID_SIGNATURE}
