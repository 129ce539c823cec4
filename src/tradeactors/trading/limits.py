"""The risk limits of each scope, from the config: the account, each instrument, each strategy.

Quantities are lots and prices ticks of each instrument; money in the config (notional,
exposure, loss) is in the quote currency. A notional limit of one order is converted
into ticks x lots with the steps of the instrument it applies to; exposure across
instruments is counted in money (`RiskLimits.max_gross_exposure_quote`), since ticks x
lots of two instruments do not add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from tradeactors.config import check_limits
from tradeactors.core.risk import RiskLimits
from tradeactors.errors import ConfigError, ConfigKeyError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from tradeactors.config import Config, LimitsConfig, RiskConfig
    from tradeactors.core.instrument import Instrument

__all__ = ["ScopeLimits", "parse_limit_args", "scope_limits", "strategy_limits"]


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """What `RiskActor` takes: the account's limits and those of each scope."""

    account: RiskLimits
    per_instrument: dict[str, RiskLimits]  # the account's notional limit, per instrument
    instruments: dict[str, RiskLimits]
    strategies: dict[str, RiskLimits]
    strategy_max_loss: dict[str, float]


def _value(instrument: Instrument) -> Fraction:
    return Fraction(instrument.tick_size) * Fraction(instrument.lot_size)


def _ticks_lots(amount: float | None, value: Fraction) -> int | None:
    return None if amount is None else int(Fraction(amount) / value)


def scope_limits(
    config: Config,
    instruments: Mapping[str, Instrument],
    strategies: Sequence[tuple[str, tuple[str, ...]]],
) -> ScopeLimits:
    """The limits of every scope: ``strategies`` is (name, its symbols) of each strategy.

    Raises:
        ConfigError: a limit that cannot be counted across the instruments it spans
            (``[risk] credit_limit`` with several instruments; a strategy's
            ``max_order_notional`` over instruments of different steps).

    """
    risk = config.risk
    several = len(instruments) > 1
    first = next(iter(instruments.values()))
    if several and risk.credit_limit is not None:
        raise ConfigError(
            "[risk] credit_limit counts the open notional of one instrument: leave it out "
            "with several instruments (max_gross_exposure counts money across them)"
        )
    account = _account(risk, first, several=several)
    per_instrument = (
        {
            symbol: RiskLimits(max_order_notional=_ticks_lots(risk.max_order_notional, _value(i)))
            for symbol, i in instruments.items()
        }
        if several and risk.max_order_notional is not None
        else {}
    )
    by_instrument = {
        entry.symbol: _scoped(entry.risk, _value(instruments[entry.symbol]))
        for entry in config.instruments
        if _set(entry.risk)
    }
    by_strategy: dict[str, RiskLimits] = {}
    max_loss: dict[str, float] = {}
    entries = {entry.name: entry for entry in config.strategies}
    for name, symbols in strategies:
        entry = entries.get(name)
        if entry is None:
            continue
        limits = strategy_limits(name, entry.risk, instruments, symbols)
        if limits is None:
            continue
        by_strategy[name] = limits
        if entry.risk.max_loss is not None:
            max_loss[name] = entry.risk.max_loss
    return ScopeLimits(account, per_instrument, by_instrument, by_strategy, max_loss)


def strategy_limits(
    name: str,
    risk: LimitsConfig,
    instruments: Mapping[str, Instrument],
    symbols: Sequence[str],
) -> RiskLimits | None:
    """Strategy ``name``'s own limits over ``symbols`` (None: it has none).

    ``risk.max_loss`` is not among them: `RiskActor` takes it apart.

    Raises:
        ConfigError: ``max_order_notional`` over instruments of different steps (a
            notional in ticks x lots means one thing per step).

    """
    if not _set(risk):
        return None
    values = {_value(instruments[symbol]) for symbol in symbols}
    if risk.max_order_notional is not None and len(values) > 1:
        raise ConfigError(
            f"[[strategies]] {name}: risk.max_order_notional over instruments of "
            "different steps: give it per instrument ([[instruments]] risk) instead"
        )
    return _scoped(risk, values.pop())


def parse_limit_args(items: Sequence[str]) -> dict[str, int | float | str]:
    """``--limit KEY=VALUE`` arguments as a strategy's limits, checked as the config checks them.

    A value is read as a TOML number would be (``20`` an integer, ``20.5`` or ``1e3`` a
    float; ``inf`` and ``nan`` are floats, and refused): quantities and counts must be
    integers of at least 1, money finite and above 0; keys are `LimitsConfig`'s.

    Raises:
        ConfigError: one line naming the first bad argument: no ``=``, a key given
            twice, an unknown key, or a value the config would refuse.

    """
    limits: dict[str, int | float | str] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise ConfigError(f"--limit {item!r}: expected KEY=VALUE")
        if key in limits:
            raise ConfigError(f"--limit {key} is given twice")
        value = _number(text)
        try:
            check_limits({key: value}, section="limit")
        except ConfigKeyError as exc:
            raise ConfigError(f"--limit {exc.reason}") from exc
        limits[key] = value
    return limits


def _number(text: str) -> int | float | str:
    """``text`` as an int, else a float, else itself (which the check refuses by type)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _set(limits: LimitsConfig) -> bool:
    return any(getattr(limits, name) is not None for name in limits.__struct_fields__)


def _account(risk: RiskConfig, instrument: Instrument, *, several: bool) -> RiskLimits:
    """``[risk]``: with several instruments, exposure in money (see the module doc)."""
    value = _value(instrument)
    return RiskLimits(
        price_collar_bps=risk.price_collar_bps,
        max_order_quantity=risk.max_order_quantity,
        # several instruments: per instrument (`ScopeLimits.per_instrument`)
        max_order_notional=None if several else _ticks_lots(risk.max_order_notional, value),
        max_position=risk.max_position,
        max_gross_exposure=None if several else _ticks_lots(risk.max_gross_exposure, value),
        max_gross_exposure_quote=risk.max_gross_exposure if several else None,
        max_open_orders=risk.max_open_orders,
        max_messages=risk.max_messages,
        message_window_ns=int(risk.message_window * 1e9),
        duplicate_window_ns=None
        if risk.duplicate_window is None
        else int(risk.duplicate_window * 1e9),
        credit_limit=_ticks_lots(risk.credit_limit, value),
    )


def _scoped(limits: LimitsConfig, value: Fraction) -> RiskLimits:
    """A strategy's or an instrument's limits (``value``: money per tick x lot)."""
    return RiskLimits(
        max_order_quantity=limits.max_order_quantity,
        max_order_notional=_ticks_lots(limits.max_order_notional, value),
        max_position=limits.max_position,
        max_gross_exposure_quote=limits.max_gross_exposure,
        max_open_orders=limits.max_open_orders,
    )
