"""Parameter sweeps: one backtest per combination of values, over a process pool.

``tradeactors backtest --sweep half_spread=2,3,5 --sweep latency-ms=1,5 --jobs 2`` runs
the six combinations (the product of the values, the first ``--sweep`` varying
slowest), each in a fresh strategy with the same capture, and prints one row per
combination in that order. Each combination's report is the one a single
``tradeactors backtest`` with those values gives, byte for byte: a run depends on its
inputs only, so the rows are the same whatever ``--jobs`` is and whichever process ran
them.

A key is a strategy parameter (as ``--param`` takes) or one of the simulated venue's
options: `CONFIG_KEYS` (``-`` and ``_`` alike). Every combination's strategy and
configuration is made, and so checked, before anything runs: a bad key or value is one
`SweepError` naming it.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any, Final

import msgspec

from tradeactors.backtest.engine import BacktestConfig, BacktestReport, run_backtest
from tradeactors.core.instrument import Instrument
from tradeactors.core.units import base_quote, money_places, money_text
from tradeactors.errors import ConfigError
from tradeactors.strategy import make_strategy

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tradeactors.backtest.cache import CompiledCapture
    from tradeactors.venues.capture import Frame

__all__ = [
    "CONFIG_KEYS",
    "Combination",
    "SweepError",
    "combinations",
    "parse_sweeps",
    "run_sweep",
    "sweep_table",
]

CONFIG_KEYS: Final[dict[str, str]] = {
    "latency_ms": "order_latency_ms",
    "response_latency_ms": "response_latency_ms",
    "latency_sigma": "latency_sigma",
    "seed": "seed",
    "queue": "queue",
    "maker_fee_bps": "maker_fee_bps",
    "taker_fee_bps": "taker_fee_bps",
}
"""Sweep keys of the venue's options (as the command's flags name them) -> `BacktestConfig`."""

_QUEUES = ("conservative", "probabilistic")


class SweepError(ConfigError):
    """A ``--sweep`` that cannot run: a malformed one, a bad key or value."""


class Combination(msgspec.Struct, frozen=True, kw_only=True):
    """One combination of a sweep: the swept values, and what the run gets."""

    values: dict[str, Any]  # the swept keys (as given) and their values (as given)
    params: dict[str, Any]  # the strategy's parameters (``--param`` and swept)
    config: BacktestConfig


def parse_sweeps(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``--sweep KEY=V1,V2,...`` arguments as ``(key, values)`` in the order given.

    Raises:
        SweepError: no ``=``, no key, an empty value, a value given twice, a key twice.

    """
    sweeps: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        values = text.split(",")
        if not sep or not key:
            raise SweepError(f"--sweep {item!r}: expected KEY=V1,V2,...")
        if any(not value for value in values):
            raise SweepError(f"--sweep {item!r}: an empty value")
        if len(set(values)) != len(values):
            raise SweepError(f"--sweep {item!r}: a value given twice")
        name = key.replace("-", "_")
        if name in seen:
            raise SweepError(f"--sweep {key}: swept twice")
        seen.add(name)
        sweeps.append((key, values))
    return sweeps


def combinations(
    sweeps: Sequence[tuple[str, Sequence[str]]],
    strategy: str,
    params: dict[str, Any],
    config: BacktestConfig,
) -> list[Combination]:
    """Every combination of ``sweeps`` over ``params`` and ``config``, each checked.

    Raises:
        SweepError: a key also given with ``--param``, or a value that the strategy or
            the venue's options refuse (the message names the key and the value).

    """
    for key, _values in sweeps:
        if key in params:
            raise SweepError(f"--sweep {key}: also given with --param")
    made: list[Combination] = []
    for chosen in itertools.product(*(values for _key, values in sweeps)):
        values = {key: value for (key, _values), value in zip(sweeps, chosen, strict=True)}
        run_params = dict(params)
        settings = msgspec.structs.asdict(config)
        for key, value in values.items():
            field = CONFIG_KEYS.get(key.replace("-", "_"))
            if field is None:
                run_params[key] = value
            else:
                settings[field] = _config_value(key, field, value)
        try:
            run_config = BacktestConfig(**settings)
        except ValueError as exc:
            raise SweepError(f"--sweep {_shown(values)}: {exc}") from exc
        try:
            made_strategy = make_strategy(strategy, run_params)
        except ConfigError as exc:
            raise SweepError(f"--sweep {_shown(values)}: {exc}") from exc
        parsed = getattr(made_strategy, "params", None)  # the built-ins', defaults filled
        shown = msgspec.to_builtins(parsed) if isinstance(parsed, msgspec.Struct) else run_params
        made.append(Combination(values=values, params=shown, config=run_config))
    return made


def _shown(values: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in values.items())


def _config_value(key: str, field: str, value: str) -> Any:
    """A venue option's value from its text (SweepError if it is not one)."""
    if field == "queue":
        if value not in _QUEUES:
            raise SweepError(f"--sweep {key}={value}: not one of {', '.join(_QUEUES)}")
        return value
    try:
        number: float = int(value) if field == "seed" else float(value)
    except ValueError:
        kind = "an integer" if field == "seed" else "a number"
        raise SweepError(f"--sweep {key}={value}: not {kind}") from None
    if not math.isfinite(number):
        raise SweepError(f"--sweep {key}={value}: not a finite number")
    return number


# -- running --------------------------------------------------------------------------


class _Job(msgspec.Struct, frozen=True):
    strategy: str
    instrument: Instrument
    combination: Combination


_shared: list[CompiledCapture | list[Frame]] = []  # the worker's data (`_init_worker`)


def _init_worker(data: CompiledCapture | list[Frame]) -> None:
    _shared[:] = [data]


def _run(job: _Job) -> BacktestReport:
    return _run_one(_shared[0], job)


def _run_one(data: CompiledCapture | list[Frame], job: _Job) -> BacktestReport:
    combination = job.combination
    strategy = make_strategy(job.strategy, combination.params)
    return run_backtest(
        data, job.instrument, strategy, combination.config, params=combination.params
    )


def run_sweep(
    data: CompiledCapture | list[Frame],
    instrument: Instrument,
    strategy: str,
    runs: Sequence[Combination],
    *,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[BacktestReport]:
    """The report of each combination of ``runs``, in their order.

    ``jobs``: processes (None: the CPUs; at most one per combination); 1 runs them
    here, one after the other. Each worker process receives ``data`` once.
    ``progress(done)`` is called as combinations finish (in order).
    """
    work = [_Job(strategy, instrument, combination) for combination in runs]
    count = max(1, min(jobs or os.cpu_count() or 1, len(work)))
    reports: list[BacktestReport] = []
    if count == 1:
        for job in work:
            reports.append(_run_one(data, job))
            if progress is not None:
                progress(len(reports))
        return reports
    with ProcessPoolExecutor(count, initializer=_init_worker, initargs=(data,)) as pool:
        for report in pool.map(_run, work):
            reports.append(report)
            if progress is not None:
                progress(len(reports))
    return reports


def sweep_table(runs: Sequence[Combination], reports: Sequence[BacktestReport]) -> str:
    """One aligned row per combination: its values, then what it did and earned.

    Money in the quote currency and quantities in the base unit (named in the header),
    with the digits of the single report's (`tradeactors.backtest.cli.format_report`).
    """
    if not reports:
        return ""
    first = reports[0]
    base, quote = base_quote(first.instrument)
    places = money_places(first.tick_size, first.lot_size)

    def money(value: float) -> str:
        return money_text(value, first.instrument, places).rpartition(" ")[0]

    keys = list(runs[0].values)
    head = [*keys, f"net PnL {quote}", "realized", "fees", "max drawdown", "fills",
            "maker", "orders", f"volume {base}", f"position {base}"]  # fmt: skip
    rows = [head]
    for run, report in zip(runs, reports, strict=True):
        rows.append([
            *(str(run.values[key]) for key in keys),
            money(report.net_pnl), money(report.realized_pnl), money(report.fees),
            money(report.max_drawdown), str(report.fills), str(report.maker_fills),
            str(report.orders_sent), f"{report.volume:g}", f"{report.final_position:+g}",
        ])  # fmt: skip
    widths = [max(len(row[column]) for row in rows) for column in range(len(head))]
    lines = [f"sweep of {first.strategy} on {first.instrument}: {len(reports)} combinations"]
    for row in rows:
        cells = [
            cell.ljust(width) if column < len(keys) else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
