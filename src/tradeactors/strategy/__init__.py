"""Strategies: the API (`api`), the built-ins (`builtin`), and the live actor (`actor`).

`make_strategy(name, params)` builds a strategy by name: a built-in's
(``market_maker``, ``momentum``, ``vwap``) or the user's own class
(``"package.module:Class"``), from a mapping of parameters (values may be strings, as
from ``--param k=v``); `strategy_factory` returns what builds a fresh one at each call
(what the live tree uses, once per actor incarnation). Unknown names and parameters are
`ConfigError`s; what is wrong with a user's class is a `StrategyLoadError` that names
the module, the class and the problem. docs/strategies.md has the rules.
"""

from __future__ import annotations

from tradeactors.strategy._loading import (
    CALLBACKS,
    check_strategy_class,
    is_user_spec,
    live_strategy,
    make_strategy,
    missing_callbacks,
    parse_params,
    strategy_actor_name,
    strategy_class,
    strategy_factory,
    strategy_names,
)

__all__ = [
    "CALLBACKS",
    "check_strategy_class",
    "is_user_spec",
    "live_strategy",
    "make_strategy",
    "missing_callbacks",
    "parse_params",
    "strategy_actor_name",
    "strategy_class",
    "strategy_factory",
    "strategy_names",
]
