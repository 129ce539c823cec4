"""Cancel-on-disconnect at the simulated venue: honoured by default, or absent when asked.

A venue without it (``OrderEntry(cancel_on_disconnect=False)``, `tradeactors exchange
--no-cancel-on-disconnect`) keeps a dropped session's orders, as Binance and Kraken spot
do; only the account's dead-man's switch (``cancel_all_after``) still cancels them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tradeactors.core.instrument import Instrument
from tradeactors.exchange.matching import MatchingEngine
from tradeactors.exchange.orderentry import OrderEntry, sign

SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")
SECRET = "alice-secret"
NOW_MS = 1_700_000_000_000


class Session:
    """One connection to ``entry``, logged on as alice asking for cancel-on-disconnect."""

    def __init__(self, entry: OrderEntry, nonce: str) -> None:
        self.entry = entry
        self.connection = object()
        self.replies: list[dict[str, Any]] = []

        def send(text: str) -> bool:
            self.replies.append(json.loads(text))
            return True

        entry.connect(self.connection, send, 0)
        self.request(
            op="logon", api_key="alice", timestamp=NOW_MS, nonce=nonce,
            signature=sign(SECRET, NOW_MS, nonce), cancel_on_disconnect=True,
        )  # fmt: skip

    def request(self, **fields: Any) -> Any:
        """The result of one request (pushed reports skipped)."""
        before = len(self.replies)
        self.entry.handle(
            self.connection, json.dumps({"id": 7, **fields}), 0, wall_ns=NOW_MS * 10**6
        )
        (reply,) = [m for m in self.replies[before:] if "event" not in m]
        assert "result" in reply, reply
        return reply["result"]


def _venue(*, cancel_on_disconnect: bool) -> OrderEntry:
    return OrderEntry(
        MatchingEngine(), SIM, {"alice": SECRET}, rate_per_second=1e9, burst=10**9,
        cancel_on_disconnect=cancel_on_disconnect,
    )  # fmt: skip


@pytest.mark.parametrize(("honoured", "left"), [(True, 0), (False, 1)])
def test_a_dropped_sessions_orders_go_only_where_cancel_on_disconnect_is_honoured(honoured, left):
    entry = _venue(cancel_on_disconnect=honoured)
    first = Session(entry, "n-1")
    first.request(op="place", client_order_id="c-1", side="buy", quantity="0.005", price="100.00")
    cancelled = entry.disconnect(first.connection)
    assert len(cancelled) == 1 - left
    orders = Session(entry, "n-2").request(op="open_orders")
    assert [order["client_order_id"] for order in orders] == ["c-1"] * left


def test_without_cancel_on_disconnect_the_dead_mans_switch_still_cancels():
    entry = _venue(cancel_on_disconnect=False)
    first = Session(entry, "n-1")
    first.request(op="place", client_order_id="c-1", side="buy", quantity="0.005", price="100.00")
    first.request(op="cancel_all_after", timeout=1.0)
    entry.disconnect(first.connection)
    assert entry.expire(now_ns=999_000_000) == []  # not yet: 1 s from 0
    assert len(entry.expire(now_ns=1_000_000_000)) == 1
    assert Session(entry, "n-2").request(op="open_orders") == []
