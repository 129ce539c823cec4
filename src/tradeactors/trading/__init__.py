"""The trading tree: order manager, gateway, risk, kill switch, a built-in strategy.

`tradeactors.trading.system.TradingSystem` builds and runs it; the other modules are
its actors and messages.
"""
