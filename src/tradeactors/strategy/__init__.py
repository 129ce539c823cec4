"""Strategies: the API (`api`), the built-ins (`builtin`), and the live actor (`actor`).

`make_strategy(name, params)` builds a built-in by name (``market_maker``,
``momentum``, ``vwap``) from a mapping of parameters (values may be strings, as from
``--param k=v``); unknown names and parameters are `ConfigError`s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tradeactors.strategy.api import Strategy

__all__ = ["make_strategy", "strategy_names"]


def strategy_names() -> list[str]:
    """The names of the built-in strategies."""
    from tradeactors.strategy.builtin import BUILTINS  # noqa: PLC0415 - keep imports light

    return sorted(BUILTINS)


def make_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """A built-in strategy by name, with its parameters checked.

    Raises:
        ConfigError: unknown strategy, unknown parameter, or a value of the wrong type.

    """
    from tradeactors.strategy.builtin import BUILTINS  # noqa: PLC0415

    try:
        cls, params_type = BUILTINS[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r} (known: {', '.join(sorted(BUILTINS))})"
        ) from None
    try:
        parsed = msgspec.convert(dict(params or {}), params_type, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"strategy {name!r}: {exc}") from exc
    except ValueError as exc:  # a __post_init__ check
        raise ConfigError(f"strategy {name!r}: {exc}") from exc
    return cls(parsed)
