"""A trading process for the hard-kill tests: run by ``python trader_process.py URLS...``.

Starts a `TradingSystem` against the given simulated exchange with no strategy, rests
three buys, prints READY once the venue accepted them, then waits to be killed.
"""

from __future__ import annotations

import sys
import threading

import msgspec

from tradeactors.config import Config
from tradeactors.core.messages import OrderUpdate, Side, SubmitOrder
from tradeactors.observability import configure_logging
from tradeactors.trading.system import TradingSystem


def main() -> None:
    trade_url, stream_url, rest_url, cancel_all_after = sys.argv[1:5]
    configure_logging(level="error")
    config = msgspec.convert(
        {
            "venue": {
                "trade_url": trade_url,
                "stream_url": stream_url,
                "rest_url": rest_url,
                "secret_env": "TRADEACTORS_TEST_SECRET",
            },
            "strategy": {"name": "none"},
            "killswitch": {"stale_after": None},
            "risk": {"price_collar_bps": None},
            "execution": {"cancel_all_after": float(cancel_all_after), "refresh": 0.2},
        },
        Config,
    )
    system = TradingSystem(config)
    accepted = threading.Semaphore(0)
    system.subscribe(
        lambda e: isinstance(e, OrderUpdate) and e.status == "accepted" and accepted.release()
    )
    system.start()
    for _ in range(3):
        system.submit(
            SubmitOrder(
                client_order_id=system.new_order_id(),
                venue="sim",
                instrument="BTCUSDT",
                side=Side.BUY,
                price=99_700,
                quantity=2,
            )
        )
    for _ in range(3):
        if not accepted.acquire(timeout=20):
            print("NOT ACCEPTED", flush=True)  # noqa: T201 - talks to the test
            sys.exit(1)
    print("READY", flush=True)  # noqa: T201 - talks to the test
    threading.Event().wait()


if __name__ == "__main__":
    main()
