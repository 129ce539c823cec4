"""``tradeactors run``: the trading tree against the (embedded) simulated exchange."""

from __future__ import annotations

import gc
import signal
import threading
from typing import TYPE_CHECKING, Any

import msgspec
from prometheus_client import CollectorRegistry

from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.messages import VenueStatus
from tradeactors.errors import ConfigError
from tradeactors.observability import serve_metrics
from tradeactors.trading.control import CONTROL_TOKEN_ENV, ControlServer, token_from_environment
from tradeactors.trading.report import many, table_lines
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from typing import TextIO

    from tradeactors._state import RunDirectory
    from tradeactors.config import Config
    from tradeactors.trading.report import ScopeRow
    from tradeactors.trading.system import ShutdownSummary

__all__ = ["StartInterrupted", "run_trading"]


def run_trading(  # noqa: PLR0915 - one step after another, each undone on failure
    config: Config,
    out: TextIO,
    *,
    control_port: int = 0,
    metrics_port: int | None = None,
    run_dir: RunDirectory | None = None,
    log_file: Path | None = None,
    state_problem: str | None = None,
    paper_lines: Callable[[TradingSystem], list[str]] | None = None,
) -> int:
    """Trade until ``run.duration`` is over (or Ctrl-C), then stop cleanly.

    Shows a status line every ``run.status_interval``; at the end cancels everything
    and prints the summary. Returns 0 if nothing was left open at the venue.

    ``metrics_port`` overrides ``[metrics] port``. With ``run_dir``, the control token
    and ``run.json`` (the URLs) go there, so that other commands find the run; it is
    withdrawn when the run starts to stop (the caller closes it). ``log_file``: where
    the JSON log lines go (said in the banner); ``state_problem``: why there is no
    ``run_dir`` (said in the banner). Paper trading on a capture ends with the capture;
    ``paper_lines`` gives the paper venue's figures for the summary (the CLI's shows
    them beside the backtest's).
    """
    token = token_from_environment()  # a malformed one is a ConfigError: one line, exit 2
    registry = CollectorRegistry()
    host = config.metrics.host
    port = config.metrics.port if metrics_port is None else metrics_port
    fix = "metrics.port = 0" if metrics_port is None else "--metrics-port 0"
    try:
        metrics = serve_metrics(registry, host, port)
    except OSError as exc:  # in use, or not an address of this machine
        raise ConfigError(
            f"metrics port {port} on {host}: {exc.strerror or exc} ({fix} picks a free one)"
        ) from None
    config = _with_run_journal(config, run_dir)
    try:  # a paper market is read here (trading.paper): a bad one must not leak the port
        system = TradingSystem(config, registry=registry)
    except BaseException:
        metrics.close()
        raise
    try:  # before the start: a port in use must not leave a started tree behind
        control = ControlServer(system, port=control_port, token=token)
    except OSError as exc:
        metrics.close()
        raise ConfigError(
            f"control port {control_port}: {exc.strerror or exc} (--control-port 0 picks one)"
        ) from None
    live = out.isatty()  # one line rewritten in place on a terminal; a log otherwise
    # subscribed before the start: a venue down at start is told too
    unsubscribe = system.subscribe(_event_lines(out, live=live))
    stopped = threading.Event()
    # Ctrl-C and SIGTERM: while the tree starts they interrupt the start (undone, one
    # line, exit 130/143); once it trades they end the run the graceful way, summary
    # included. Caught from before the start: one right after the banner never kills it.
    signals = _StopSignals(stopped)
    try:
        system.start()
        signals.started()
    except BaseException:  # a failed start, or StartInterrupted (the CLI says it)
        _undo_start(system, signals, unsubscribe, control.close, metrics.close)
        raise
    try:  # from here on, whatever fails (stdout closed by a pipe, say): stopped in order
        _banner(
            system,
            config,
            out,
            metrics_url=metrics.url,
            control=control,
            run_dir=run_dir,
            log_file=log_file,
            state_problem=state_problem,
        )
        # What start-up built (modules, the tree, configs, instruments) lives as long as
        # the run: moved out of the collector's reach, so a full collection scans only
        # what the run allocates since, not everything the process holds.
        gc.collect()
        gc.freeze()
        _status_loop(system, stopped, out, live=live)
    finally:
        interrupted = stopped.is_set()
        unsubscribe()
        if run_dir is not None:
            run_dir.withdraw()  # stopping: no command finds it any more
        control.close()
        summary = system.stop()
        metrics.close()
        signals.restore()
        gc.unfreeze()  # the run's objects may be garbage now: collectable again
    if out.isatty():
        print(file=out)
    lines = _summary_lines(system, summary, interrupted=interrupted)
    lines += paper_lines(system) if paper_lines is not None else []
    for line in lines:
        print(line, file=out)
    return 0 if summary.clean else 1


def _banner(
    system: TradingSystem,
    config: Config,
    out: TextIO,
    *,
    metrics_url: str,
    control: ControlServer,
    run_dir: RunDirectory | None,
    log_file: Path | None,
    state_problem: str | None,
) -> None:
    """What the run trades, where to watch and steer it, and where its state is."""
    print(
        f"tradeactors: trading {', '.join(system.instruments)} at {system.trade_url}"
        + (f" and {len(config.all_venues) - 1} more venue(s)" if len(config.all_venues) > 1 else "")
        + (f" (run {run_dir.run_id})" if run_dir is not None else ""),
        file=out,
    )
    print(f"  metrics {metrics_url}   control {control.url}", file=out)
    print(f"  watch:  tradeactors top --url {metrics_url}", file=out)
    print(f"  halt:   tradeactors kill --url {control.url}", file=out)
    print(f"  reset:  tradeactors reset --url {control.url} --by NAME --reason WHY", file=out)
    for line in _state_lines(
        system,
        control,
        metrics_url,
        run_dir=run_dir,
        log_file=log_file,
        state_problem=state_problem,
    ):
        print(f"  {line}", file=out)
    out.flush()


def _summary_lines(
    system: TradingSystem, summary: ShutdownSummary, *, interrupted: bool
) -> list[str]:
    """What a run prints at its end: counts, the venue's open orders, the per-scope table."""
    status = summary.status
    # several strategies or instruments: positions and PnL in the table below
    several = many(status.scopes) or len(system.instruments) > 1 or len(system.strategies()) > 1
    position = "" if several else f"position {status.position_text()}, PnL {status.pnl_text()}, "
    open_at_venue = "unknown" if summary.open_at_venue is None else summary.open_at_venue
    done = (
        f"\n{'interrupted' if interrupted else 'done'}: orders {status.orders}, fills "
        f"{status.fills}, {position}restarts {status.restarts}, kill switch {status.state}"
    )
    lines = [done, f"orders still open at the venue: {open_at_venue}"]
    if status.scopes:
        lines.append("positions and PnL by strategy and instrument:")
    lines += [f"  {line}" for line in table_lines(status.scopes)]
    return lines + _strategy_lines(system, status.scopes)


_NAMES = 10
"""Strategies named in a summary line, at most (the rest counted)."""


def _strategy_lines(system: TradingSystem, rows: Sequence[ScopeRow]) -> list[str]:
    """With several strategies: those the table leaves out (no order filled) and the stopped."""
    strategies = system.strategies()
    if len(strategies) < 2:  # noqa: PLR2004 - one strategy: the line above says it all
        return []
    traded = {row.strategy for row in rows}
    quiet = [s.name for s in strategies if s.name not in traded and s.state == "running"]
    shown = ", ".join(quiet[:_NAMES]) + (
        f" and {len(quiet) - _NAMES} more" if quiet[_NAMES:] else ""
    )
    lines = [f"strategies with no position or fill: {shown}"] if quiet else []
    lines += [
        f"strategy {s.name} stopped: {s.reason or 'past its intensity'}"
        for s in strategies
        if s.state == "stopped"
    ]
    return lines


def _state_lines(
    system: TradingSystem,
    control: ControlServer,
    metrics_url: str,
    *,
    run_dir: RunDirectory | None,
    log_file: Path | None,
    state_problem: str | None,
) -> list[str]:
    """The banner's lines about the token, the run's directory and the logs."""
    no_token = f"to reset, start run and reset with ${CONTROL_TOKEN_ENV} set (the same in both)"
    if run_dir is None:
        return [
            f"state:  none ({state_problem}): top, status, kill and reset need --url; {no_token}"
        ]
    try:
        token_line = f"token:  {control.write_token(run_dir.token_file)} (reset reads it)"
        run_dir.publish(
            symbol=system.config.venue.symbol,
            trade_url=system.trade_url,
            metrics_url=metrics_url,
            control_url=control.url,
        )
    except OSError as exc:  # e.g. a full disk
        return [f"state:  not written ({exc.strerror}: {exc.filename}); {no_token}"]
    lines = [token_line, f"state:  {run_dir.path} (top, status, kill, reset find it there)"]
    if log_file is not None:
        lines.append(f"logs:   {log_file} (warnings and errors show here too)")
    if system.journal_path:
        lines.append(f"journal: {system.journal_path} (tradeactors journal reads it)")
    recovery = system.recovery
    if recovery is not None and not recovery.empty:
        latched = ", ".join(f"{s.scope} {s.state.value}" for s in recovery.kill_switch)
        lines.append(
            f"recovered from the journal: {len(recovery.orders)} orders "
            f"({len(recovery.open_orders())} open), {len(recovery.fills)} fills; kill switch: "
            f"{latched or 'nothing latched'}; then reconciled with the venue"
        )
    return lines


def _with_run_journal(config: Config, run_dir: RunDirectory | None) -> Config:
    """``config`` with the journal in the run's directory, unless ``[journal]`` says where."""
    if run_dir is None or not config.journal.enabled or config.journal.path:
        return config
    journal = msgspec.structs.replace(config.journal, path=str(run_dir.journal_file))
    return msgspec.structs.replace(config, journal=journal)


def _event_lines(out: TextIO, *, live: bool) -> Callable[[object], None]:
    """A subscriber printing one line per change of a venue's or the kill switch's state."""
    last_up: dict[str, bool] = {}
    newline = "\n" if live else ""  # below the status line being rewritten in place

    def on_event(event: object) -> None:
        if isinstance(event, VenueStatus) and last_up.get(event.venue) != event.up:
            known = event.venue in last_up
            last_up[event.venue] = event.up
            if event.up and not known:
                return  # the start's "up" is the banner's job
            what = "up again" if event.up else f"DOWN ({event.reason}); retrying"
            print(f"{newline}venue {event.venue}: {what}", file=out, flush=True)
        elif isinstance(event, KillSwitchChanged) and event.source != TripSource.SHUTDOWN.value:
            state = event.state.value.upper()
            if event.source == "reset":  # reason is "BY: WHY"
                what = f"reset to {state} by {event.reason}"
            else:
                what = f"{state} ({event.source}: {event.reason})"
            print(f"{newline}kill switch {what}", file=out, flush=True)

    return on_event


def _undo_start(
    system: TradingSystem, signals: _StopSignals, *closers: Callable[[], object]
) -> None:
    """After a failed or interrupted start: the handlers of before, nothing left running."""
    signals.restore()
    if system.started:  # interrupted just as the start returned
        system.stop()
    for close in closers:
        close()


class StartInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM while the tree started: the start was undone (``exit_code``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum  # as the shell reports a process the signal ended


class _StopSignals:
    """SIGINT and SIGTERM (main thread only): interrupt the start, then set ``stopped``."""

    def __init__(self, stopped: threading.Event) -> None:
        self._stopped = stopped
        self._starting = True
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self._stopped.set()
        if self._starting:
            self._starting = False  # once: the start's own undoing is not interrupted again
            raise StartInterrupted(signum)

    def started(self) -> None:
        """The tree trades: from now on a signal only sets ``stopped``."""
        self._starting = False

    def restore(self) -> None:
        """The handlers of before (once)."""
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
        if system.market_finished:  # paper on a capture: the market is over
            return
