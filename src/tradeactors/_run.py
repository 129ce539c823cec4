"""``tradeactors run``: the trading tree against the (embedded) simulated exchange."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from tradeactors.core.messages import VenueStatus
from tradeactors.errors import ConfigError
from tradeactors.observability import serve_metrics
from tradeactors.trading.control import CONTROL_TOKEN_ENV, ControlServer, token_from_environment
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from tradeactors.config import Config

__all__ = ["run_trading"]


def run_trading(config: Config, out: TextIO, *, control_port: int = 0) -> int:
    """Trade until ``run.duration`` is over (or Ctrl-C), then stop cleanly.

    Shows a status line every ``run.status_interval``; at the end cancels everything
    and prints the summary. Returns 0 if nothing was left open at the venue.
    """
    token = token_from_environment()  # a malformed one is a ConfigError: one line, exit 2
    registry = CollectorRegistry()
    try:
        metrics = serve_metrics(registry, config.metrics.host, config.metrics.port)
    except OSError as exc:  # in use, or not an address of this machine
        raise ConfigError(
            f"metrics port {config.metrics.port} on {config.metrics.host}: "
            f"{exc.strerror or exc} (metrics.port = 0 picks a free one)"
        ) from None
    system = TradingSystem(config, registry=registry)
    try:  # before the start: a port in use must not leave a started tree behind
        control = ControlServer(system, port=control_port, token=token)
    except OSError as exc:
        metrics.close()
        raise ConfigError(
            f"control port {control_port}: {exc.strerror or exc} (--control-port 0 picks one)"
        ) from None
    live = out.isatty()  # one line rewritten in place on a terminal; a log otherwise
    # subscribed before the start: a venue down at start is told too
    unsubscribe = system.subscribe(_venue_lines(out, live=live))
    try:
        system.start()
    except BaseException:
        unsubscribe()
        control.close()
        metrics.close()
        raise
    try:
        token_line = (
            f"control token in {control.write_token()} (tradeactors reset --url "
            f"{control.url} --by NAME --reason WHY reads it)"
        )
    except OSError as exc:  # e.g. no writable home in a container
        token_line = (
            f"control token not written ({exc.strerror}: {exc.filename}): to reset, "
            f"start run and reset with ${CONTROL_TOKEN_ENV} set"
        )
    print(f"tradeactors: trading {config.venue.symbol} at {system.trade_url}", file=out)
    print(f"  metrics {metrics.url}   control {control.url}", file=out)
    print(f"  (tradeactors kill --url {control.url} halts it from another terminal)", file=out)
    print(f"  {token_line}", file=out)
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
        _status_loop(system, stopped, out, live=live)
    finally:
        interrupted = stopped.is_set()
        unsubscribe()
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
        f"{status.fills}, position {status.position_text()}, PnL {status.pnl_text()}, "
        f"restarts {status.restarts}, kill switch {status.state}",
        file=out,
    )
    open_at_venue = "unknown" if summary.open_at_venue is None else summary.open_at_venue
    print(f"orders still open at the venue: {open_at_venue}", file=out)
    return 0 if summary.clean else 1


def _venue_lines(out: TextIO, *, live: bool) -> Callable[[object], None]:
    """A subscriber printing one line per change of a venue's state."""
    last_up: dict[str, bool] = {}

    def on_event(event: object) -> None:
        if isinstance(event, VenueStatus) and last_up.get(event.venue) != event.up:
            known = event.venue in last_up
            last_up[event.venue] = event.up
            if event.up and not known:
                return  # the start's "up" is the banner's job
            what = "up again" if event.up else f"DOWN ({event.reason}); retrying"
            print(f"{chr(10) if live else ''}venue {event.venue}: {what}", file=out, flush=True)

    return on_event


def _status_loop(
    system: TradingSystem, stopped: threading.Event, out: TextIO, *, live: bool
) -> None:
    """A status line every ``run.status_interval`` until the duration, a signal or the end."""
    config = system.config
    forever = config.run.duration == 0
    deadline = system.clock.monotonic_ns() + int(config.run.duration * 1e9)
    while not stopped.wait(config.run.status_interval):
        if not system.tree.running:
            return  # the tree gave up (escalation past the root): stop in order
        try:
            line = system.status().line()
        except Exception:  # noqa: BLE001 - the tree is failing: summarize, never a traceback
            line = ""
        if line:
            print(
                f"\r{line}\x1b[K" if live else line, end="" if live else "\n", file=out, flush=True
            )
        if not forever and system.clock.monotonic_ns() >= deadline:
            return
