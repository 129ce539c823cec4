"""`StrategyRoutes`: who hears what, changed at run time, read without a lock."""

from __future__ import annotations

import pytest

from tradeactors.actors.routing import StrategyRoutes

A = "strategies/a/strategy"
B = "strategies/b/strategy"


class TestStrategyRoutes:
    """Routes by instrument; every change makes a new snapshot and a new version."""

    def test_the_initial_routes_are_version_0(self):
        routes = StrategyRoutes([(A, [("sim", "BTCUSDT")])])
        assert routes.version == 0
        assert routes.current.paths() == (A,)
        assert routes.current.trading("BTCUSDT") == (A,)
        assert routes.current.trading("ETHUSDT") == ()

    def test_adding_and_removing_bump_the_version_and_leave_old_snapshots_alone(self):
        routes = StrategyRoutes([(A, [("sim", "BTCUSDT")])])
        before = routes.current
        routes.add(B, [("sim", "ETHUSDT"), ("sim", "BTCUSDT")])
        assert routes.version == 1
        assert routes.current.trading("BTCUSDT") == (A, B)
        assert routes.current.trading("ETHUSDT") == (B,)
        assert before.paths() == (A,)  # a reader's snapshot never changes under it
        assert routes.remove(A) is True
        assert routes.version == 2
        assert routes.current.paths() == (B,)

    def test_removing_what_is_not_routed_changes_nothing(self):
        routes = StrategyRoutes()
        assert routes.remove(A) is False
        assert routes.version == 0

    def test_a_path_is_routed_once(self):
        routes = StrategyRoutes([(A, [("sim", "BTCUSDT")])])
        with pytest.raises(ValueError, match="routed already"):
            routes.add(A, [("sim", "ETHUSDT")])
        assert routes.version == 0
        assert routes.current.trading("ETHUSDT") == ()
