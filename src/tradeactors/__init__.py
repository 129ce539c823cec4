"""tradeactors: low-latency trading systems built as supervised pykka actors.

This module imports nothing heavy, so that the gevent runtime can be chosen first:
``from tradeactors.supervision.runtime import use_gevent; use_gevent()``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
