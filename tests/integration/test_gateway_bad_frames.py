"""Unreadable execution reports: counted, the first few logged, the fills fetched again.

Against the simulated exchange speaking Binance (whose fill ids are unique: no gap
would show a lost fill), which garbles the reports it pushes on request while the
trades behind them stay real (``myTrades`` lists them). Over real sockets.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
import pytest
import structlog
from prometheus_client import CollectorRegistry
from trading_helpers import (
    MID,
    SECRET,
    SYMBOL,
    TradingEvents,
    config_for,
    gateway_started,
    resting_buy,
    still_exchange,
)

from tradeactors.actors.gateway import BAD_FRAMES_SHOWN, shown_frame
from tradeactors.core.messages import OrderStatus, OrderUpdate, Side, VenueStatus
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

REFETCH_INTERVAL = 0.3  # seconds: short, so that a test sees several intervals


@pytest.fixture
def venue() -> Iterator[SimExchange]:
    with still_exchange(protocol="binance") as exchange:
        yield exchange


@pytest.fixture
def system(
    venue, monkeypatch
) -> Iterator[tuple[TradingSystem, TradingEvents, list, CollectorRegistry]]:
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    config = config_for(
        venue,
        execution={"refetch_interval": REFETCH_INTERVAL},
        risk={"max_order_quantity": None, "max_position": None},
    )
    config = msgspec.structs.replace(
        config, venue=msgspec.structs.replace(config.venue, kind="binance")
    )
    registry = CollectorRegistry()
    system = TradingSystem(config, registry=registry)
    events = TradingEvents()
    system.subscribe(events)
    with structlog.testing.capture_logs() as logs:
        system.start(timeout=20)
        try:
            events.wait_for(VenueStatus, up=True)
            yield system, events, logs, registry
        finally:
            if system.tree.running:
                system.stop(timeout=10)


def _metric(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name, {"venue": "sim"}) or 0.0


def test_a_fill_whose_report_is_unreadable_still_reaches_the_order_manager(venue, system):
    system, events, logs, registry = system
    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    venue.garble_reports("demo", 1)
    assert venue.take(Side.SELL, MID - 300, 2) == 2  # its report goes out unreadable

    (fill,) = events.wait_for(OrderUpdate, client_order_id=cid, fill_quantity=2)
    assert (fill.status, fill.filled, fill.fill_price) == (
        OrderStatus.PARTIALLY_FILLED,
        2,
        MID - 300,
    )
    report = system.orders()
    assert report.positions[SYMBOL] == 2 == venue.position("demo")
    assert (report.fills, report.duplicate_fills) == (1, 0)
    assert _metric(registry, "tradeactors_gateway_bad_frames_total") == 1
    assert _metric(registry, "tradeactors_gateway_fills_refetched_total") == 1
    (dropped,) = [e for e in logs if e["event"] == "bad_frame_dropped"]
    assert '"x":"GARBLED"' in dropped["frame"]  # the whole frame, as the venue sent it
    assert "unknown execution type" in dropped["error"]
    (refetched,) = [e for e in logs if e["event"] == "fills_refetched_after_bad_frames"]
    assert (refetched["bad_frames"], refetched["since_last_refetch"]) == (1, 1)
    # the next readable report is applied as usual, and nothing twice
    assert venue.take(Side.SELL, MID - 300, 1) == 1
    events.wait_for(OrderUpdate, client_order_id=cid, fill_quantity=1)
    assert system.orders().positions[SYMBOL] == 3 == venue.position("demo")
    assert system.orders().duplicate_fills == 0


def test_a_flood_of_unreadable_reports_costs_bounded_logs_and_fetches_and_loses_no_fill(
    venue, system
):
    system, events, logs, registry = system
    cid = resting_buy(system, quantity=40)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)

    def summaries() -> list[dict]:
        return [e for e in logs if e["event"] == "fills_refetched_after_bad_frames"]

    def fetched_after(bad: int) -> bool:
        return bool(summaries()) and summaries()[-1]["bad_frames"] == bad

    waves, per_wave = 3, 10
    began = time.monotonic()
    for wave in range(1, waves + 1):  # each wave right after the previous wave's fetch
        venue.garble_reports("demo", per_wave)
        for _ in range(per_wave):
            assert venue.take(Side.SELL, MID - 300, 1) == 1
        # a fetch follows the wave's last bad frame (re-checked as the venue takes requests)
        assert venue.wait_until(lambda: fetched_after(wave * per_wave), timeout=10)  # noqa: B023
    elapsed = time.monotonic() - began
    flood = waves * per_wave
    # every fill arrived, through the fetches alone
    events.wait_for(OrderUpdate, count=flood, client_order_id=cid, fill_quantity=1)
    report = system.orders()
    assert report.positions[SYMBOL] == flood == venue.position("demo")
    assert report.fills == flood  # each once: what a later fetch brings again is dropped

    assert _metric(registry, "tradeactors_gateway_bad_frames_total") == flood
    dropped = [e for e in logs if e["event"] == "bad_frame_dropped"]
    assert len(dropped) == BAD_FRAMES_SHOWN  # the first few in full, the rest counted
    refetches = _metric(registry, "tradeactors_gateway_fills_refetched_total")
    assert refetches == len(summaries()) >= waves
    # never two fetches within an interval: the later waves waited for the timer
    assert elapsed >= (refetches - 1) * REFETCH_INTERVAL
    assert sum(s["since_last_refetch"] for s in summaries()) == flood
    assert system.stop(timeout=10).clean


def test_an_unreadable_report_during_the_start_is_counted_not_a_crash(venue, system):
    """The new session's cancel-all cancels a resting order; its report is unreadable."""
    system, events, logs, registry = system
    cid = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
    restarted = gateway_started(system, 2)
    assert system.tree.faults(system.gateway_path).kill()
    events.wait_for(VenueStatus, up=False)
    venue.garble_reports("demo", 1)  # the CANCELED report of the next logon's cancel-all
    assert restarted.wait(10)
    events.wait_for(VenueStatus, count=2, up=True)
    events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.CANCELLED)
    assert system.tree.stats(system.gateway_path).restarts == 1  # the kill, nothing more
    assert _metric(registry, "tradeactors_gateway_bad_frames_total") == 1
    (dropped,) = [e for e in logs if e["event"] == "bad_frame_dropped"]
    assert '"x":"GARBLED"' in dropped["frame"]
    assert venue.open_orders("demo") == []
    assert system.stop(timeout=10).clean


class TestShownFrame:
    """What a log shows of a bad frame: all of it, within bounds, credentials masked."""

    def test_a_frame_is_shown_whole_and_a_huge_one_is_cut(self):
        assert shown_frame(b'{"e":"executionReport","x":"GARBLED"}') == (
            '{"e":"executionReport","x":"GARBLED"}'
        )
        shown = shown_frame("x" * 100_000)
        assert len(shown) < 4200
        assert shown.endswith("... (100000 characters)")

    def test_credential_looking_values_are_masked(self):
        frame = (
            '{"result":{"apiKey":"vmPUZE6mv9SD5VNH","token":"abc/def+ghi"},'
            '"params":{"signature":"c8db56825ae7","Secret_Key":"s3cr3t"},"symbol":"BTCUSDT"}'
        )
        shown = shown_frame(frame)
        for secret in ("vmPUZE6mv9SD5VNH", "abc/def+ghi", "c8db56825ae7", "s3cr3t"):
            assert secret not in shown
        assert '"apiKey":"***"' in shown
        assert '"symbol":"BTCUSDT"' in shown

    def test_bytes_that_are_not_utf8_are_shown_replaced_not_raised(self):
        assert shown_frame(b'{"x":"\xff"}') == '{"x":"\ufffd"}'
