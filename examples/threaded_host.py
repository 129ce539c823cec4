"""A plain threaded host application embedding a `TradingSystem`.

It starts the trading tree against the embedded simulated exchange (the built-in
market maker quotes, background flow trades against it), listens to fills, trips the
kill switch from its own code after a few fills (or a timeout), stops cleanly and
prints a summary. The exit status is 0 only if nothing is left open at the venue.

    python examples/threaded_host.py
"""

# ruff: noqa: T201, INP001 - a script (not a package) that prints its report

from __future__ import annotations

import sys
import threading
from typing import Any

from tradeactors.core.killswitch import KillSwitchChanged
from tradeactors.core.messages import OrderUpdate
from tradeactors.observability import configure_logging
from tradeactors.trading.system import TradingSystem

FILLS_WANTED = 2
TIMEOUT = 10.0  # seconds: kill anyway if the market is quiet


def main() -> int:
    """Trade until a few fills, kill, stop; 0 if nothing is left open at the venue."""
    configure_logging(level="warning")  # the library never configures logging itself
    system = TradingSystem()  # the default config: embedded exchange, market maker
    instrument = system.instrument
    fills: list[OrderUpdate] = []
    enough = threading.Event()

    def on_event(event: Any) -> None:
        # Runs in the emitting actor's thread: keep it short, never block.
        if isinstance(event, OrderUpdate) and event.fill_quantity:
            fills.append(event)
            side = event.side
            size = instrument.format_size(event.fill_quantity)
            print(f"fill: {side} {size} @ {instrument.format_price(event.fill_price)}")
            if len(fills) >= FILLS_WANTED:
                enough.set()
        elif isinstance(event, KillSwitchChanged):
            print(f"kill switch: {event.state.value} ({event.source}: {event.reason})")

    system.subscribe(on_event)
    with system:  # start(); on the way out, stop() if still running (even on an error)
        print(f"trading {instrument.symbol} at {system.trade_url}")
        seen = enough.wait(TIMEOUT)
        print(f"{'fills seen' if seen else 'timeout'}: {system.status().line()}")
        system.kill("the host has seen enough")  # HALTED: deny all new orders, cancel all
        print(f"all orders closed: {system.wait_for_no_open_orders(timeout=10.0)}")
        summary = system.stop()  # halts, cancels, stops the tree, asks the venue
    status = summary.status
    print(
        f"summary: fills {status.fills}, position {status.position_text()}, "
        f"PnL {status.pnl_text()}, restarts {status.restarts}, kill switch {status.state}"
    )
    print(f"open at the venue: {summary.open_at_venue}")
    return 0 if summary.open_at_venue == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
