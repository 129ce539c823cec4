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

    def test_a_depth_is_kept_for_its_path_and_forgotten_with_it(self):
        routes = StrategyRoutes([(A, [("sim", "BTCUSDT")])])
        routes.set_depth(B, 1)  # a strategy starts before it is routed
        assert (routes.current.depths, routes.version) == ({B: 1}, 1)
        routes.add(B, [("sim", "BTCUSDT")])
        assert routes.current.depths == {B: 1}
        routes.set_depth(B, 1)  # as it was: no new version
        assert routes.version == 2
        routes.set_depth(A, 5)
        routes.set_depth(A, None)  # back to the book's own
        assert (routes.current.depths, routes.version) == ({B: 1}, 4)
        assert routes.remove(B) is True
        assert routes.current.depths == {}
        routes.set_depth(A, 3)
        assert routes.remove(B) is False  # not routed: nothing to forget
        routes.set_depth(B, 2)
        assert routes.remove(B) is False
        assert routes.current.depths == {A: 3}
