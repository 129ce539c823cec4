"""Kill-switch scopes: all, strategy:<name>, venue:<name>, each latched and reset alone."""

from __future__ import annotations

import pytest

from tradeactors.actors.gate import TradingGate
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import KillSwitchChanged, TripSource, parse_scope
from tradeactors.core.risk import TradingState
from tradeactors.errors import UnknownScopeError

A, R, H = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
MANUAL = TripSource.MANUAL


@pytest.fixture
def gate() -> TradingGate:
    return TradingGate(FakeClock(), strategies=("mm", "momo"), venues=("sim", "binance"))


class TestScopes:
    """Each scope is its own latched switch; an order sees the strictest of its scopes."""

    def test_a_strategy_trip_leaves_the_global_state_and_other_strategies_alone(self, gate):
        change = gate.trip(H, source=TripSource.RISK, reason="loss", scope="strategy:mm")
        assert change is not None
        assert change.scope == "strategy:mm"
        assert gate.state is A
        assert gate.state_of("mm", "sim") is H
        assert gate.state_of("momo", "sim") is A
        assert gate.state_of(None, "sim") is A

    def test_the_strictest_of_all_strategy_and_venue_wins(self, gate):
        gate.trip(R, source=MANUAL, reason="careful", scope="venue:binance")
        assert gate.state_of("mm", "binance") is R
        assert gate.state_of("mm", "sim") is A
        gate.trip(H, source=MANUAL, reason="stop mm", scope="strategy:mm")
        assert gate.state_of("mm", "binance") is H
        assert gate.state_of("momo", "binance") is R
        gate.trip(R, source=MANUAL, reason="everything careful")
        assert gate.state_of("momo", "sim") is R
        assert gate.state_of("mm", "sim") is H  # stricter than all's REDUCING

    def test_scopes_are_latched_each_and_reset_each_with_who_and_why(self, gate):
        gate.trip(H, source=MANUAL, reason="a", scope="strategy:mm")
        gate.trip(H, source=MANUAL, reason="b")
        assert gate.trip(R, source=MANUAL, reason="milder", scope="strategy:mm") is None
        change = gate.reset(A, by="ops", reason="all clear", scope="all")
        assert (change.scope, change.source, change.reason) == ("all", "reset", "ops: all clear")
        assert gate.state is A
        assert gate.state_of("mm", None) is H  # resetting all does not reset mm
        gate.reset(R, by="ops", reason="wind down", scope="strategy:mm")
        assert gate.state_of("mm", None) is R
        with pytest.raises(ValueError, match="who did it and why"):
            gate.reset(A, by="", reason="x", scope="strategy:mm")

    def test_history_is_kept_per_scope_and_in_order_overall(self, gate):
        heard: list[KillSwitchChanged] = []
        gate.subscribe(heard.append)
        gate.trip(H, source=MANUAL, reason="1", scope="venue:sim")
        gate.trip(R, source=MANUAL, reason="2")
        gate.reset(A, by="ops", reason="3", scope="venue:sim")
        assert [c.reason for c in gate.history] == ["1", "2", "ops: 3"]
        assert [c.reason for c in gate.history_of("venue:sim")] == ["1", "ops: 3"]
        assert [c.reason for c in gate.history_of()] == ["2"]
        assert gate.history_of("venue:binance") == ()
        assert heard == list(gate.history)

    def test_scopes_lists_every_known_scope_all_first(self, gate):
        gate.trip(H, source=MANUAL, reason="x", scope="strategy:momo")
        assert gate.scopes() == {
            "all": A, "strategy:mm": A, "strategy:momo": H, "venue:sim": A, "venue:binance": A,
        }  # fmt: skip

    def test_an_unknown_name_is_refused_with_the_known_scopes(self, gate):
        with pytest.raises(UnknownScopeError, match=r"'strategy:nope'.*strategy:mm") as caught:
            gate.trip(H, source=MANUAL, reason="x", scope="strategy:nope")
        assert caught.value.scope == "strategy:nope"
        assert gate.history == ()
        gate.add_scope("strategy:nope")  # e.g. a strategy added while running
        assert gate.trip(H, source=MANUAL, reason="x", scope="strategy:nope") is not None

    @pytest.mark.parametrize("scope", ["", "strategy", "strategy:", "desk:x", "ALL", "venue: x"])
    def test_a_malformed_scope_is_a_value_error(self, gate, scope):
        with pytest.raises(ValueError, match="expected 'all'"):
            gate.trip(H, source=MANUAL, reason="x", scope=scope)
        with pytest.raises(ValueError, match="expected 'all'"):
            parse_scope(scope)

    def test_without_names_any_well_formed_scope_is_accepted(self):
        gate = TradingGate(FakeClock())
        gate.trip(H, source=MANUAL, reason="x", scope="venue:anywhere")
        assert gate.state_of(None, "anywhere") is H
        assert gate.scopes() == {"all": A, "venue:anywhere": H}

    def test_old_changes_without_a_scope_mean_all(self):
        change = KillSwitchChanged(previous=A, state=H, source="manual", reason="x", timestamp_ns=0)
        assert change.scope == "all"


def test_the_metrics_keep_the_global_series_and_label_each_scope(gate):
    from prometheus_client import CollectorRegistry, generate_latest

    from tradeactors.trading.metrics import TradingMetrics

    registry = CollectorRegistry()
    TradingMetrics(registry, gate, lambda: None, ["sim"])
    gate.trip(H, source=MANUAL, reason="x", scope="strategy:mm")
    gate.trip(R, source=MANUAL, reason="y")
    text = generate_latest(registry).decode()
    assert "\ntradeactors_kill_switch_state 1.0\n" in text  # all, unlabelled as before
    assert 'tradeactors_kill_switch_scope_state{scope="all"} 1.0' in text
    assert 'tradeactors_kill_switch_scope_state{scope="strategy:mm"} 2.0' in text
    assert 'tradeactors_kill_switch_scope_state{scope="venue:binance"} 0.0' in text
