"""``tradeactors backtest``: arguments to report."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import msgspec

from tradeactors.backtest.engine import BacktestConfig, BacktestReport, run_backtest
from tradeactors.core.instrument import Instrument
from tradeactors.errors import ConfigError
from tradeactors.observability import configure_logging
from tradeactors.strategy import make_strategy
from tradeactors.venues import binance
from tradeactors.venues.capture import read_capture

if TYPE_CHECKING:
    import argparse

    from tradeactors.venues.capture import Frame

__all__ = ["backtest_command", "format_report"]

# Steps of symbols whose captures ship with the project's data (Binance spot filters).
KNOWN_STEPS = {
    "ETHUSDT": ("0.01", "0.00001"),  # the recorded book has sizes to 5 decimals
    "BTCUSDT": ("0.01", "0.00001"),
}


def backtest_command(args: argparse.Namespace) -> int:
    """Run the backtest the arguments describe; print the report. 0, or 2 on bad input."""
    configure_logging(level=args.log_level)
    try:
        params = _params(args.param)
        strategy = make_strategy(args.strategy, params)
        config = BacktestConfig(
            order_latency_ms=args.latency_ms,
            response_latency_ms=args.response_latency_ms,
            latency_sigma=args.latency_sigma,
            seed=args.seed,
            queue=args.queue,
            maker_fee_bps=args.maker_fee_bps,
            taker_fee_bps=args.taker_fee_bps,
        )
        frames = list(read_capture(args.data))
        instrument = _instrument(frames, args.symbol, args.tick_size, args.lot_size)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"tradeactors backtest: {exc}", file=sys.stderr)
        return 2
    parsed = getattr(strategy, "params", None)  # the built-ins keep theirs, defaults filled
    shown = msgspec.to_builtins(parsed) if isinstance(parsed, msgspec.Struct) else params
    report = run_backtest(frames, instrument, strategy, config, params=shown)
    print(format_report(report))
    if args.json:
        with open(args.json, "wb") as out:  # noqa: PTH123 - a user-given path
            out.write(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    if args.plot:
        from tradeactors.backtest.plot import plot_report  # noqa: PLC0415

        try:
            plot_report(report, args.plot)
        except ImportError:
            print(
                "tradeactors backtest: --plot needs matplotlib (pip install 'tradeactors[plot]')",
                file=sys.stderr,
            )
            return 2
    return 0


def _params(items: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE")
        if value.startswith(("[", "{")):
            params[key] = msgspec.json.decode(value)  # lists (e.g. a volume profile)
        else:
            params[key] = value
    return dict(sorted(params.items()))


def _instrument(
    frames: list[Frame], symbol: str | None, tick: str | None, lot: str | None
) -> Instrument:
    if symbol is None:
        for frame in frames:
            if frame.source == "ws" and '"depthUpdate"' in frame.payload:
                _kind, event = binance.decode_frame(frame.payload)
                symbol = getattr(event, "s", None)
                break
    if symbol is None:
        raise ConfigError("no depth updates in the capture: give --symbol")
    known = KNOWN_STEPS.get(symbol)
    tick = tick or (known[0] if known else None)
    lot = lot or (known[1] if known else None)
    if tick is None or lot is None:
        raise ConfigError(f"unknown steps for {symbol}: give --tick-size and --lot-size")
    return Instrument(venue="binance", symbol=symbol, tick_size=tick, lot_size=lot)


def format_report(report: BacktestReport) -> str:
    """The report as an aligned table."""
    rows = [
        ("strategy", f"{report.strategy} {report.params or ''}".strip()),
        ("instrument", report.instrument),
        ("replayed", (f"{report.duration_s:.1f} s, {report.frames} frames, "
                      f"{report.book_updates} books, {report.trades_seen} trades")),
        ("orders", (f"{report.orders_sent} sent, {report.orders_cancelled} cancelled, "
                    f"{report.orders_rejected} rejected")),
        ("fills", f"{report.fills} ({report.maker_fills} maker, {report.taker_fills} taker)"),
        ("volume", f"{report.volume:g}"),
        ("fill ratio", f"{report.fill_ratio:.2%}"),
        ("realized PnL", f"{report.realized_pnl:+.4f}"),
        ("unrealized PnL", f"{report.unrealized_pnl:+.4f}"),
        ("fees", f"{report.fees:.4f}"),
        ("net PnL", f"{report.net_pnl:+.4f}"),
        ("max drawdown", f"{report.max_drawdown:.4f}"),
        ("final position", f"{report.final_position:g}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
