"""tradeactors: low-latency trading systems built as supervised pykka actors.

The names users are taught are exported here (``from tradeactors import TradingSystem``)
and loaded on first use: importing this package imports nothing heavy, so that the
gevent runtime can be chosen first: ``from tradeactors import use_gevent; use_gevent()``
(or ``from tradeactors.supervision.runtime import use_gevent``).

The other public modules, each with its own ``__all__``: ``tradeactors.supervision``
(with ``.runtime`` and ``.testing``), ``tradeactors.observability``,
``tradeactors.errors``, ``tradeactors.strategy``, ``tradeactors.core`` and
``tradeactors.top``. Everything else is internal and may change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradeactors.actors.strategy import StrategyActor
    from tradeactors.backtest.engine import BacktestConfig, BacktestReport, run_backtest
    from tradeactors.config import Config, load_config
    from tradeactors.core.killswitch import KillSwitchChanged
    from tradeactors.core.messages import (
        AmendOrder,
        AmendOutcome,
        CancelOrder,
        DenyReason,
        OrdersReport,
        OrderStatus,
        OrderUpdate,
        ReconciliationReport,
        Side,
        SubmitOrder,
        TimeInForce,
        TradeTick,
        VenueStatus,
    )
    from tradeactors.core.risk import TradingState
    from tradeactors.errors import ChildStartError, ConfigError, TradeActorsError
    from tradeactors.observability import configure_logging, serve_metrics
    from tradeactors.strategy import make_strategy, strategy_names
    from tradeactors.strategy.api import OpenOrder, Strategy, StrategyContext
    from tradeactors.supervision.runtime import current_runtime, use_gevent
    from tradeactors.trading.control import ControlServer, call_control
    from tradeactors.trading.system import ShutdownSummary, Status, TradingSystem
    from tradeactors.venues.adapter import (
        MarketData,
        OrderEntry,
        VenueAdapter,
        register_venue,
        venue_adapter,
        venue_kinds,
    )

__version__ = "0.1.0"

# name -> the module it is imported from on first use (the same as under TYPE_CHECKING)
_EXPORTS = {
    # run a trading system, in a host or from the command line
    "TradingSystem": "tradeactors.trading.system",
    "Status": "tradeactors.trading.system",
    "ShutdownSummary": "tradeactors.trading.system",
    "Config": "tradeactors.config",
    "load_config": "tradeactors.config",
    "ControlServer": "tradeactors.trading.control",
    "call_control": "tradeactors.trading.control",
    # the messages a host sends and receives
    "SubmitOrder": "tradeactors.core.messages",
    "CancelOrder": "tradeactors.core.messages",
    "AmendOrder": "tradeactors.core.messages",
    "AmendOutcome": "tradeactors.core.messages",
    "OrderUpdate": "tradeactors.core.messages",
    "OrderStatus": "tradeactors.core.messages",
    "Side": "tradeactors.core.messages",
    "TimeInForce": "tradeactors.core.messages",
    "DenyReason": "tradeactors.core.messages",
    "VenueStatus": "tradeactors.core.messages",
    "ReconciliationReport": "tradeactors.core.messages",
    "OrdersReport": "tradeactors.core.messages",
    "TradeTick": "tradeactors.core.messages",
    "KillSwitchChanged": "tradeactors.core.killswitch",
    "TradingState": "tradeactors.core.risk",
    # strategies
    "Strategy": "tradeactors.strategy.api",
    "StrategyContext": "tradeactors.strategy.api",
    "OpenOrder": "tradeactors.strategy.api",
    "StrategyActor": "tradeactors.actors.strategy",
    "make_strategy": "tradeactors.strategy",
    "strategy_names": "tradeactors.strategy",
    "run_backtest": "tradeactors.backtest.engine",
    "BacktestConfig": "tradeactors.backtest.engine",
    "BacktestReport": "tradeactors.backtest.engine",
    # venues: the adapter seam
    "VenueAdapter": "tradeactors.venues.adapter",
    "MarketData": "tradeactors.venues.adapter",
    "OrderEntry": "tradeactors.venues.adapter",
    "register_venue": "tradeactors.venues.adapter",
    "venue_adapter": "tradeactors.venues.adapter",
    "venue_kinds": "tradeactors.venues.adapter",
    # runtime, observability, errors
    "use_gevent": "tradeactors.supervision.runtime",
    "current_runtime": "tradeactors.supervision.runtime",
    "serve_metrics": "tradeactors.observability",
    "configure_logging": "tradeactors.observability",
    "TradeActorsError": "tradeactors.errors",
    "ConfigError": "tradeactors.errors",
    "ChildStartError": "tradeactors.errors",
}

__all__ = [
    "AmendOrder",
    "AmendOutcome",
    "BacktestConfig",
    "BacktestReport",
    "CancelOrder",
    "ChildStartError",
    "Config",
    "ConfigError",
    "ControlServer",
    "DenyReason",
    "KillSwitchChanged",
    "MarketData",
    "OpenOrder",
    "OrderEntry",
    "OrderStatus",
    "OrderUpdate",
    "OrdersReport",
    "ReconciliationReport",
    "ShutdownSummary",
    "Side",
    "Status",
    "Strategy",
    "StrategyActor",
    "StrategyContext",
    "SubmitOrder",
    "TimeInForce",
    "TradeActorsError",
    "TradeTick",
    "TradingState",
    "TradingSystem",
    "VenueAdapter",
    "VenueStatus",
    "__version__",
    "call_control",
    "configure_logging",
    "current_runtime",
    "load_config",
    "make_strategy",
    "register_venue",
    "run_backtest",
    "serve_metrics",
    "strategy_names",
    "use_gevent",
    "venue_adapter",
    "venue_kinds",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
