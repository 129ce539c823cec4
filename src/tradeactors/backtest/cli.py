"""``tradeactors backtest``: arguments to report.

Exit status: 0 for a report the capture supports; 2 for bad arguments, a capture with
nothing to backtest (not Binance, no depth updates of the symbol), a book that never
synced, or a ``--journal`` file that exists or cannot be written (one line on stderr, no
report); 1 when the book lost sync and never resynced
(the report is printed, with how much of the capture it covers, then one line saying
what happened; no ``--json`` or ``--plot`` is written).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import msgspec

from tradeactors.backtest.cache import CaptureCache, PreparedCapture
from tradeactors.backtest.engine import BacktestConfig, BacktestReport, SyncLoss, run_backtest
from tradeactors.backtest.sweep import combinations, parse_sweeps, run_sweep, sweep_table
from tradeactors.core.instrument import Instrument
from tradeactors.core.units import base_quote, money_places, money_text
from tradeactors.errors import ConfigError
from tradeactors.journal import JournalError
from tradeactors.observability import configure_logging
from tradeactors.strategy import make_strategy, parse_params
from tradeactors.strategy.api import view_depth_of
from tradeactors.venues import kraken
from tradeactors.venues.instrument_file import load_instrument_file

if TYPE_CHECKING:
    import argparse

    from tradeactors.backtest.cache import CompiledCapture
    from tradeactors.backtest.sweep import Combination
    from tradeactors.venues.capture import Frame

__all__ = ["backtest_command", "format_report"]


def backtest_command(args: argparse.Namespace) -> int:
    """Run the backtest the arguments describe; print the report; the exit status.

    0; 1 if the book lost sync and never resynced; 2 on bad input or nothing to backtest
    (see the module doc).
    """
    configure_logging(level=args.log_level)
    refused = _refused(args)
    if refused is not None:
        print(f"tradeactors backtest: {refused}", file=sys.stderr)
        return 2
    try:
        params = parse_params(args.param)
        strategy = make_strategy(args.strategy, params)
        view_depth_of(strategy)  # one set in __init__: refused here, not in the run
        config = BacktestConfig(
            order_latency_ms=args.latency_ms,
            response_latency_ms=args.response_latency_ms,
            latency_sigma=args.latency_sigma,
            seed=args.seed,
            queue=args.queue,
            maker_fee_bps=args.maker_fee_bps,
            taker_fee_bps=args.taker_fee_bps,
        )
        sweeps = parse_sweeps(args.sweep)
        runs = combinations(sweeps, args.strategy, params, config) if sweeps else []
        cache = None if args.no_cache else CaptureCache(args.cache_dir)
        capture = PreparedCapture(args.data, cache)
        instrument = _instrument(capture, args.symbol, args.tick_size, args.lot_size, args.data)
        data = capture.frames() if cache is None else capture.compiled(instrument)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"tradeactors backtest: {exc}", file=sys.stderr)
        return 2
    if cache is not None and cache.problems:  # the run goes on without it
        print(f"tradeactors backtest: warning: {cache.problems[0]}", file=sys.stderr)
    if runs:
        return _sweep(args, data, instrument, runs)
    parsed = getattr(strategy, "params", None)  # the built-ins keep theirs, defaults filled
    shown = msgspec.to_builtins(parsed) if isinstance(parsed, msgspec.Struct) else params
    try:
        report = run_backtest(
            data, instrument, strategy, config, params=shown, journal=args.journal
        )
    except JournalError as exc:  # exists, cannot be made or written: one line, no report
        print(f"tradeactors backtest: {exc}", file=sys.stderr)
        return 2
    return _single(args, report)


_NO_MATPLOTLIB = "--plot needs matplotlib (pip install 'tradeactors[plot]')"


def _refused(args: argparse.Namespace) -> str | None:
    """Why the options cannot run together (checked before anything runs), or None."""
    if args.sweep and (args.plot or args.journal):
        flag = "--plot" if args.plot else "--journal"
        return f"{flag} is of one run: not with --sweep"
    if args.jobs is not None and args.jobs < 1:
        return f"--jobs {args.jobs}: at least 1"
    if args.plot:
        from tradeactors.backtest.plot import require_matplotlib  # noqa: PLC0415

        try:
            require_matplotlib()  # before the run, not after it
        except ImportError:
            return _NO_MATPLOTLIB
    return None


def _single(args: argparse.Namespace, report: BacktestReport) -> int:
    """Print ``report`` (and write ``--json``, ``--plot``); the exit status."""
    problem = report.problem()
    if problem is not None and report.first_synced_s is None:  # nothing was backtested
        print(f"tradeactors backtest: {args.data}: {problem}", file=sys.stderr)
        return 2
    print(format_report(report))
    if problem is not None:  # a part was: the report says which; no file pretends more
        print(f"tradeactors backtest: {args.data}: {problem}", file=sys.stderr)
        return 1
    if args.json:
        with open(args.json, "wb") as out:  # noqa: PTH123 - a user-given path
            out.write(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    if args.plot:
        from tradeactors.backtest.plot import plot_report  # noqa: PLC0415

        try:
            plot_report(report, args.plot)
        except ImportError:
            print(f"tradeactors backtest: {_NO_MATPLOTLIB}", file=sys.stderr)
            return 2
    return 0


def _sweep(
    args: argparse.Namespace,
    data: CompiledCapture | list[Frame],
    instrument: Instrument,
    runs: list[Combination],
) -> int:
    """Run every combination, print the table (and write ``--json``); the exit status.

    The book is followed the same way in every combination (the strategy does not move
    the market), so a capture it cannot be trusted on fails as a single run does.
    """
    reports = run_sweep(data, instrument, args.strategy, runs, jobs=args.jobs)
    problem = reports[0].problem()
    if problem is not None and reports[0].first_synced_s is None:
        print(f"tradeactors backtest: {args.data}: {problem}", file=sys.stderr)
        return 2
    print(sweep_table(runs, reports))
    if problem is not None:
        print(f"tradeactors backtest: {args.data}: {problem}", file=sys.stderr)
        return 1
    if args.json:
        rows = [
            {"sweep": run.values, "report": report}
            for run, report in zip(runs, reports, strict=True)
        ]
        with open(args.json, "wb") as out:  # noqa: PTH123 - a user-given path
            out.write(msgspec.json.format(msgspec.json.encode(rows), indent=2) + b"\n")
    return 0


def _instrument(
    capture: PreparedCapture, symbol: str | None, tick: str | None, lot: str | None, path: str
) -> Instrument:
    """The instrument to backtest: ``symbol`` (default: the capture's first with depth updates).

    Its price tick and order lot are ``tick`` and ``lot``, or else the instrument file's
    (`tradeactors.venues.instrument_file`, read only when a step is not given). Book
    sizes finer than the lot are rounded up to it (`tradeactors.core.book`), never refused.

    Raises:
        ConfigError: not a Binance capture, no depth updates (of ``symbol``), the
            instrument file unreadable, or a step neither given nor in the file.

    """
    symbols = capture.depth_symbols()
    if not symbols:
        if _kraken(capture.frames()):
            raise ConfigError(
                f"{path} is a Kraken capture: backtests replay Binance captures only "
                f"(depth updates and a REST depth snapshot)"
            )
        raise ConfigError(f"{path} has no Binance depth updates (depthUpdate) to backtest on")
    if symbol is None:
        symbol = symbols[0]
    elif symbol not in symbols:
        raise ConfigError(f"{path} has no depth updates of {symbol} (it has: {', '.join(symbols)})")
    if not (tick and lot):
        try:
            instruments = load_instrument_file()
        except ConfigError as exc:
            raise ConfigError(f"{exc}; or give --tick-size and --lot-size") from exc
        saved = instruments.get("binance", symbol)
        if saved is None:
            raise ConfigError(
                f"{symbol} is not in {instruments.path}: give --tick-size and --lot-size "
                f"(or add [binance.{symbol}] to that file)"
            )
        tick, lot = tick or saved.tick_size, lot or saved.lot_size
    return Instrument(venue="binance", symbol=symbol, tick_size=tick, lot_size=lot)


def _kraken(frames: list[Frame], look: int = 200) -> bool:
    """Whether one of the first ``look`` websocket frames is a Kraken book message."""
    for frame in [f for f in frames if f.source == "ws"][:look]:
        try:
            if kraken.decode_any_book_messages(frame.payload):
                return True
        except (msgspec.DecodeError, ValueError):
            continue
    return False


def _sync_rows(report: BacktestReport) -> list[tuple[str, str]]:
    """How much of the capture the book followed, and every loss of sync (three at most)."""
    applied = (f"{report.book_updates_applied} of {report.book_updates_seen} depth updates "
               "applied")  # fmt: skip
    if report.first_synced_s is not None and report.synced_at_end and not report.sync_losses:
        span = f"from {report.first_synced_s:.1f} s to the end ({report.synced_percent:.1f}%)"
    else:
        span = f"{report.synced_percent:.1f}% of the time"
    rows = [("book", f"in sync {span}, {applied}")]
    losses = report.sync_losses
    if losses:
        shown = "; ".join(_loss(loss) for loss in losses[:_LOSSES_SHOWN])
        more = len(losses) - _LOSSES_SHOWN
        rows.append(("sync lost", shown + (f"; {more} more" if more > 0 else "")))
    return rows


_LOSSES_SHOWN = 3


def _loss(loss: SyncLoss) -> str:
    """``gap at 100.6 s, resynced at 101.2 s`` (or ``never resynced``)."""
    after = "never resynced" if loss.resynced_t is None else f"resynced at {loss.resynced_t:.1f} s"
    return f"{loss.reason} at {loss.t:.1f} s, {after}"


def format_report(report: BacktestReport) -> str:
    """The report as an aligned table: quantities in base units, money in the quote."""
    base = base_quote(report.instrument)[0]
    places = money_places(report.tick_size, report.lot_size)

    def money(value: float) -> str:
        return money_text(value, report.instrument, places)

    rows = [
        ("strategy", f"{report.strategy} {report.params or ''}".strip()),
        ("instrument", report.instrument),
        ("replayed", (f"{report.duration_s:.1f} s, {report.frames} frames, "
                      f"{report.book_updates} books, {report.trades_seen} trades")),
        *_sync_rows(report),
        ("orders", (f"{report.orders_sent} sent, {report.orders_cancelled} cancelled, "
                    f"{report.orders_rejected} rejected")),
        ("fills", f"{report.fills} ({report.maker_fills} maker, {report.taker_fills} taker)"),
        ("volume", f"{report.volume:g} {base}"),
        ("fill ratio", f"{report.fill_ratio:.2%}"),
        ("realized PnL", money(report.realized_pnl)),
        ("unrealized PnL", money(report.unrealized_pnl)),
        ("fees", money(report.fees)),
        ("net PnL", money(report.net_pnl)),
        ("max drawdown", money(report.max_drawdown)),
        ("final position", f"{report.final_position:+g} {base}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
