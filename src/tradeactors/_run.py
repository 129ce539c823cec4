"""``tradeactors run``: the trading tree against the (embedded) simulated exchange."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from tradeactors.observability import serve_metrics
from tradeactors.trading.control import ControlServer
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from typing import TextIO

    from tradeactors.config import Config

__all__ = ["run_trading"]


def run_trading(config: Config, out: TextIO, *, control_port: int = 0) -> int:
    """Trade until ``run.duration`` is over (or Ctrl-C), then stop cleanly.

    Shows a status line every ``run.status_interval``; at the end cancels everything
    and prints the summary. Returns 0 if nothing was left open at the venue.
    """
    registry = CollectorRegistry()
    metrics = serve_metrics(registry, config.metrics.host, config.metrics.port)
    system = TradingSystem(config, registry=registry)
    lot = config.venue.lot_size
    try:
        system.start()
    except BaseException:
        metrics.close()
        raise
    control = ControlServer(system, port=control_port)
    print(f"tradeactors: trading {config.venue.symbol} at {system.trade_url}", file=out)
    print(f"  metrics {metrics.url}   control {control.url}", file=out)
    print(f"  (tradeactors kill --url {control.url} halts it from another terminal)", file=out)
    stopped = threading.Event()
    # Ctrl-C and SIGTERM end the run the same graceful way, under both runtimes.
    previous = (
        {
            sig: signal.signal(sig, lambda *_: stopped.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        if threading.current_thread() is threading.main_thread()
        else {}
    )
    try:
        forever = config.run.duration == 0
        deadline = system.clock.monotonic_ns() + int(config.run.duration * 1e9)
        live = out.isatty()  # one line rewritten in place on a terminal; a log otherwise
        while not stopped.wait(config.run.status_interval):
            line = system.status().line(lot)
            print(
                f"\r{line}\x1b[K" if live else line, end="" if live else "\n", file=out, flush=True
            )
            if (not forever and system.clock.monotonic_ns() >= deadline) or (
                not system.tree.running
            ):
                break
    finally:
        interrupted = stopped.is_set()
        control.close()
        summary = system.stop()
        metrics.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    status = summary.status
    if out.isatty():
        print(file=out)
    print(
        f"\n{'interrupted' if interrupted else 'done'}: orders {status.orders}, fills "
        f"{status.fills}, position {status.position} lots, PnL {status.pnl:+.2f}, restarts "
        f"{status.restarts}, kill switch {status.state}",
        file=out,
    )
    open_at_venue = "unknown" if summary.open_at_venue is None else summary.open_at_venue
    print(f"orders still open at the venue: {open_at_venue}", file=out)
    return 0 if summary.clean else 1
