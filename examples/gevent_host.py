"""The threaded host example under gevent: the same system, greenlets instead of threads.

`use_gevent()` must run first thing, before pykka (or anything that starts a thread)
is imported: it monkey-patches the process, and every actor becomes a greenlet. Host
code is greenlets too. Gevent does not preempt: a callback or a greenlet that computes
for long without I/O stalls every actor until it returns (yield with
``gevent.sleep(0)``).

    python examples/gevent_host.py
"""

# ruff: noqa: T201, INP001, E402 - a script that prints its report; imports follow use_gevent()

from tradeactors.supervision.runtime import use_gevent

use_gevent()  # before anything else imports pykka, threading users, sockets

import sys
from typing import Any

import gevent
from gevent.event import Event

from tradeactors.core.killswitch import KillSwitchChanged
from tradeactors.core.messages import OrderUpdate
from tradeactors.observability import configure_logging
from tradeactors.supervision.runtime import current_runtime
from tradeactors.trading.system import TradingSystem

FILLS_WANTED = 2
TIMEOUT = 10.0  # seconds: kill anyway if the market is quiet


def main() -> int:
    """Trade until a few fills, kill, stop; 0 if nothing is left open at the venue."""
    configure_logging(level="warning")
    print(f"runtime: {current_runtime()}")
    system = TradingSystem()
    instrument = system.instrument
    fills: list[OrderUpdate] = []
    enough = Event()

    def on_event(event: Any) -> None:
        # Runs in the emitting actor's greenlet: short, no blocking, no long loops.
        if isinstance(event, OrderUpdate) and event.fill_quantity:
            fills.append(event)
            side = event.side
            size = instrument.format_size(event.fill_quantity)
            print(f"fill: {side} {size} @ {instrument.format_price(event.fill_price)}")
            if len(fills) >= FILLS_WANTED:
                enough.set()
        elif isinstance(event, KillSwitchChanged):
            print(f"kill switch: {event.state.value} ({event.source}: {event.reason})")

    def watchdog() -> None:
        # A host greenlet beside the actors: trips the switch when the host has seen enough.
        seen = enough.wait(TIMEOUT)
        print(f"{'fills seen' if seen else 'timeout'}: {system.status().line()}")
        system.kill("the host has seen enough")

    system.subscribe(on_event)
    with system:
        print(f"trading {instrument.symbol} at {system.trade_url}")
        gevent.spawn(watchdog).join()
        print(f"all orders closed: {system.wait_for_no_open_orders(timeout=10.0)}")
        summary = system.stop()
    status = summary.status
    print(
        f"summary: fills {status.fills}, position {status.position_text()}, "
        f"PnL {status.pnl_text()}, restarts {status.restarts}, kill switch {status.state}"
    )
    print(f"open at the venue: {summary.open_at_venue}")
    return 0 if summary.open_at_venue == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
