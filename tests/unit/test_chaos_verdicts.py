"""Chaos verdicts that can fail: SKIP when there is nothing to check, `[expect]`, unfired
faults, a mailbox sampler that samples under either runtime, scenario keys with lines."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tradeactors.chaos import (
    Expect,
    Fault,
    Observed,
    StrategyObserved,
    Verdict,
    _Death,
    _DepthSampler,
    _faults_fired,
    _fills_once,
    _mailboxes_bounded,
    _no_open_after_death,
    _not_known,
    _nothing_open_after_shutdown,
    _positions_equal,
    _risk_limits,
    _Watch,
    check_expectations,
    check_strategies,
    load_scenario,
)
from tradeactors.core.messages import Side
from tradeactors.errors import ConfigError
from tradeactors.exchange.matching import OrderView
from tradeactors.supervision import ChildSpec, SupervisedActor, SupervisorSpec
from tradeactors.supervision.runtime import current_runtime

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "config" / "scenarios").glob("*.toml"))


class TestNothingToCheckIsASkip:
    """A check with nothing to check says SKIP and why; it fails nothing by itself."""

    def test_a_skip_reads_skip_with_why_and_does_not_fail_the_scenario(self):
        verdict = Verdict.skip("some check", "nothing happened")
        assert verdict.line() == "SKIP some check: nothing happened"
        assert verdict.passed
        assert verdict.skipped

    def test_every_venue_fill_applied_exactly_once_with_no_fill_is_a_skip(self):
        verdict = _fills_once(venue_fills=0, applied=0, watermark=0, duplicates=0)
        assert verdict.line().startswith("SKIP every venue fill applied exactly once: no fill")

    def test_fills_applied_without_a_fill_at_the_venue_fail(self):
        verdict = _fills_once(venue_fills=0, applied=1, watermark=1, duplicates=0)
        assert verdict.outcome == "FAIL"

    def test_fills_applied_once_pass(self):
        assert _fills_once(venue_fills=3, applied=3, watermark=3, duplicates=1).outcome == "PASS"

    def test_nothing_left_open_after_a_gateway_death_with_no_death_is_a_skip(self):
        verdict = _no_open_after_death(_Watch())
        assert verdict.line() == (
            "SKIP nothing left open after a gateway death: no gateway death in this run"
        )

    def test_a_gateway_death_left_open_too_long_fails(self):
        deaths = [_Death(10.0, None, 10.002), _Death(20.0, None, 21.5)]
        verdict = _no_open_after_death(_Watch(gateway_deaths=deaths))
        assert verdict.line() == (
            "FAIL nothing left open after a gateway death: 2 death(s), zero open at the venue "
            "after 2.0 ms, 1500.0 ms"
        )

    def test_a_gateway_death_whose_orders_never_went_fails(self):
        verdict = _no_open_after_death(_Watch(gateway_deaths=[_Death(10.0, 10.05, None)]))
        assert verdict.outcome == "FAIL"
        assert verdict.detail.endswith("after never")

    def test_mailboxes_with_no_sample_are_a_skip(self):
        verdict = _mailboxes_bounded({}, samples=0)
        assert verdict.line() == "SKIP mailboxes stayed bounded: no mailbox was sampled"

    def test_mailboxes_always_empty_say_how_many_samples_saw_them_so(self):
        verdict = _mailboxes_bounded({}, samples=40)
        assert verdict.line() == (
            "PASS mailboxes stayed bounded: deepest every mailbox: 0 messages in 40 samples "
            "(bound 1000)"
        )

    def test_a_mailbox_past_the_bound_fails(self):
        assert _mailboxes_bounded({"risk": 1001}, samples=5).outcome == "FAIL"

    def test_positions_without_a_fill_are_a_skip_unless_they_differ(self):
        assert _positions_equal(0, 0, fills=0).outcome == "SKIP"
        assert _positions_equal(5, 0, fills=0).outcome == "FAIL"
        assert _positions_equal(5, 5, fills=1).outcome == "PASS"

    def test_risk_limits_without_a_position_or_a_limit_are_a_skip(self):
        assert _risk_limits(0, 50).outcome == "SKIP"
        assert _risk_limits(10, None).outcome == "SKIP"
        assert _risk_limits(51, 50).outcome == "FAIL"

    def test_nothing_open_after_shutdown_when_nothing_was_placed_is_a_skip(self):
        assert _nothing_open_after_shutdown(0, placed=0).outcome == "SKIP"
        assert _nothing_open_after_shutdown(None, placed=0).outcome == "FAIL"
        assert _nothing_open_after_shutdown(1, placed=4).outcome == "FAIL"


class TestAVenueWithoutCancelOnDisconnect:
    """At Binance spot a dead session's orders stay working until the next session's
    cancel-all: the time to zero open counts from that session's logon, not the death."""

    @staticmethod
    def _verdict(*deaths: _Death) -> Verdict:
        return _no_open_after_death(_Watch(cancels_on_disconnect=False, gateway_deaths=[*deaths]))

    def test_orders_gone_soon_after_the_next_session_logged_on_pass(self):
        verdict = self._verdict(_Death(10.0, 10.06, 10.0607, open_at_death=2))
        assert verdict.line() == (
            "PASS nothing left open after a gateway death: 1 death(s), no cancel-on-disconnect "
            "at the venue: 2 open at the death, the next session logged on 60.0 ms later, "
            "zero open 0.7 ms after"
        )

    def test_orders_still_open_long_after_the_next_session_logged_on_fail(self):
        verdict = self._verdict(_Death(10.0, 10.06, 10.0607), _Death(20.0, 20.05, 21.5))
        assert verdict.outcome == "FAIL"
        assert "zero open 1450.0 ms after" in verdict.detail

    def test_orders_never_gone_after_the_next_session_fail(self):
        verdict = self._verdict(_Death(10.0, 10.06, None, open_at_death=1))
        assert verdict.outcome == "FAIL"
        assert verdict.detail.endswith("zero open never after")

    def test_nothing_open_before_the_next_session_counts_as_zero_at_its_logon(self):
        verdict = self._verdict(_Death(10.0, 10.5, 10.2))
        assert verdict.outcome == "PASS"
        assert verdict.detail.endswith("zero open 0.0 ms after")

    def test_a_death_with_no_next_session_is_a_skip_saying_the_orders_stay(self):
        verdict = self._verdict(_Death(10.0, None, None, open_at_death=3))
        assert verdict.line() == (
            "SKIP nothing left open after a gateway death: 1 death(s) and the gateway's next "
            "session never logged on: the venue does not cancel on disconnect, it keeps "
            "working what was open then (3) until a session cancels it"
        )

    def test_deaths_with_no_next_session_are_named_but_not_judged(self):
        verdict = self._verdict(_Death(10.0, 10.06, 10.061), _Death(20.0, None, None, 2))
        assert verdict.outcome == "PASS"
        assert verdict.detail.endswith("; 1 with no next session (2 open then), not judged")

    def test_fills_with_unique_ids_are_counted_by_distinct_id_not_a_watermark(self):
        passed = _fills_once(4, 4, watermark=0, duplicates=2, distinct_ids=4)
        assert passed.line() == (
            "PASS every venue fill applied exactly once: venue fills 4, applied 4 "
            "(4 distinct trade ids), duplicates skipped 2"
        )
        assert _fills_once(4, 4, watermark=0, duplicates=0, distinct_ids=3).outcome == "FAIL"
        assert _fills_once(3, 4, watermark=0, duplicates=0, distinct_ids=4).outcome == "FAIL"
        assert _fills_once(0, 0, watermark=0, duplicates=0, distinct_ids=0).outcome == "SKIP"


class TestOrdersAtTheVenueAreMatchedAsTheVenueNamesThem:
    """The simulator's engine holds our client order id; behind Binance's front-end it
    holds its own, and Binance's orderId is the engine's."""

    @staticmethod
    def _at_venue(client_order_id: str, order_id: int, side: str = "buy") -> OrderView:
        return OrderView(
            order_id=order_id,
            client_order_id=client_order_id,
            instrument="BTCUSDT",
            side=Side(side),
            price=100_000,
            remaining=5,
            filled=0,
        )

    def test_an_order_is_known_by_our_client_order_id(self):
        assert _not_known([self._at_venue("mm-1", 7)], [("mm-1", None, "buy", 100_000, 5)]) == (
            [],
            0,
        )

    def test_an_order_is_known_by_the_venue_s_order_id(self):
        ours = [("mm-1", 7, "buy", 100_000, 5)]
        assert _not_known([self._at_venue("binance-1", 7)], ours) == ([], 0)

    def test_an_order_never_acknowledged_is_matched_once_by_side_price_and_quantity(self):
        at_venue = [self._at_venue("binance-1", 7), self._at_venue("binance-2", 8)]
        unknown, by_shape = _not_known(at_venue, [("mm-1", None, "buy", 100_000, 5)])
        assert (unknown, by_shape) == (["binance-2 (order 8)"], 1)

    def test_an_order_of_another_shape_stays_unknown(self):
        unknown, _ = _not_known(
            [self._at_venue("binance-1", 7, side="sell")], [("mm-1", None, "buy", 100_000, 5)]
        )
        assert unknown == ["binance-1 (order 7)"]


class TestTheVenueKind:
    """A scenario runs against either protocol of the embedded exchange; nothing else."""

    def test_the_venue_kind_replaces_the_scenario_s_and_keeps_the_venue_s_name(self):
        scenario, config = load_scenario(
            ROOT / "config" / "scenarios" / "gateway_kill.toml", venue_kind="binance"
        )
        assert (config.venue.kind, config.venue.name) == ("binance", "sim")
        assert scenario.fault[0].path == "execution/gateway.sim"

    def test_a_scenario_may_name_its_venue_kind_in_its_overrides(self, scenario_file):
        path = scenario_file('name = "t"\nduration = 3.0\n\n[overrides.venue]\nkind = "binance"\n')
        assert load_scenario(path)[1].venue.kind == "binance"
        assert load_scenario(path, venue_kind="sim")[1].venue.kind == "sim"

    def test_a_kind_the_embedded_exchange_does_not_speak_is_refused_with_its_line(
        self, scenario_file, monkeypatch
    ):
        # an exchange that speaks only its own protocol: binance is a kind it does not play
        monkeypatch.setattr("tradeactors.exchange.server.PROTOCOLS", {"sim": "/trade"})
        path = scenario_file('name = "t"\nduration = 3.0\n\n[overrides.venue]\nkind = "binance"\n')
        with pytest.raises(ConfigError) as caught:
            load_scenario(path)
        assert str(caught.value) == (
            f"{path}:5: venue kind 'binance': the embedded simulated exchange speaks sim "
            "(chaos scenarios run against it)"
        )

    def test_an_unknown_venue_kind_argument_is_refused_naming_the_argument(self, scenario_file):
        path = scenario_file('name = "t"\nduration = 3.0\n')
        with pytest.raises(ConfigError, match=r"^--venue-kind nasdaq: .*unknown venue kind"):
            load_scenario(path, venue_kind="nasdaq")

    def test_an_external_venue_is_refused(self, scenario_file):
        path = scenario_file(
            'name = "t"\nduration = 3.0\n\n[overrides.venue]\ntrade_url = "ws://127.0.0.1:1"\n'
        )
        with pytest.raises(
            ConfigError, match=r"s\.toml:5: chaos scenarios run against the embedded"
        ):
            load_scenario(path)


class TestExpectations:
    """Each key of `[expect]` is a verdict: a fault that did not take effect fails."""

    def test_an_unmet_expectation_fails_naming_the_key_and_what_was_seen(self):
        (verdict,) = check_expectations(Expect(min_gateway_deaths=1), Observed())
        assert verdict.line() == (
            "FAIL expect min_gateway_deaths = 1: 0 abnormal exit(s) of the gateway"
        )

    def test_a_met_expectation_passes(self):
        (verdict,) = check_expectations(Expect(min_fills=2), Observed(fills=3))
        assert verdict.line() == "PASS expect min_fills = 2: 3 fill(s) of the account at the venue"

    def test_an_expectation_per_actor_path_is_a_verdict_per_path(self):
        expect = Expect(min_crashes={"risk": 1, "killswitch": 2})
        verdicts = check_expectations(expect, Observed(crashes={"risk": 1, "killswitch": 1}))
        assert [v.line() for v in verdicts] == [
            'FAIL expect min_crashes."killswitch" = 2: 1 abnormal exit(s) of killswitch',
            'PASS expect min_crashes."risk" = 1: 1 abnormal exit(s) of risk',
        ]

    def test_no_expectation_declared_is_a_skip_that_says_so(self):
        (verdict,) = check_expectations(Expect(), Observed(fills=3))
        assert verdict.outcome == "SKIP"
        assert "[expect]" in verdict.detail

    def test_every_minimum_key_has_something_observed(self):
        observed = Observed.__struct_fields__
        for key in Expect.__struct_fields__:
            if key.startswith("min_"):
                assert key.removeprefix("min_") in observed

    @pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
    def test_every_shipped_scenario_declares_what_its_faults_must_cause(self, path):
        scenario, _config = load_scenario(path)
        assert scenario.fault
        assert check_expectations(scenario.expect, Observed())[0].outcome == "FAIL"


class TestUnfiredFaults:
    """A fault that never fired is a FAIL that names it."""

    def test_an_unfired_fault_fails_with_its_number_kind_path_and_why(self):
        faults = [
            Fault(kind="crash", path="risk", at=1.0),
            Fault(kind="crash", path="risk", after_messages=20),
        ]
        verdict = _faults_fired(faults, {1: "risk handled 7 message(s) in the duration"})
        assert verdict.line() == (
            "FAIL every fault fired: 1 of 2 fired; never fired: fault 2 (crash risk after "
            "20 messages): risk handled 7 message(s) in the duration"
        )

    def test_all_fired_passes_and_no_fault_is_a_skip(self):
        faults = [Fault(kind="feed_gap", at=1.0)]
        assert _faults_fired(faults, {}).line() == "PASS every fault fired: 1 of 1 fired"
        assert _faults_fired([], {}).outcome == "SKIP"


_STOPPED = StrategyObserved(
    stopped="RestartIntensityExceededError(...)",
    crashes=4,
    restarts=3,
    scope_state="HALTED",
    scope_trips=("strategy:momo_btc: escalation (strategies/momo_btc ended)",),
    orders=3,
)
_HEALTHY = StrategyObserved(
    fills=5, fills_after=3, first_fill_after=0.42, cancelled_own=7, orders=12
)


def _strategies(**seen: StrategyObserved) -> list[str]:
    expect = Expect(stopped_strategies=["momo_btc"], healthy_strategies=["mm_btc"])
    observed = Observed(strategies=seen, after="momo_btc stopped")
    return [v.line() for v in check_strategies(expect, observed)]


class TestStrategiesPerScope:
    """`stopped_strategies` and `healthy_strategies`: one strategy's crash loop, the others'
    trading untouched; each verdict names the strategy and what broke."""

    def test_a_crash_loop_that_stopped_one_strategy_alone_passes_every_check(self):
        assert _strategies(momo_btc=_STOPPED, mm_btc=_HEALTHY) == [
            (
                'PASS expect stopped_strategies."momo_btc": momo_btc: 4 crash(es), its '
                "supervisor ended (RestartIntensityExceededError(...)), scope strategy:momo_btc "
                "HALTED, 0 of its 3 order(s) open at the venue, 0 in the order manager"
            ),
            (
                'PASS expect healthy_strategies."mm_btc" kept trading: mm_btc: running, the '
                "same incarnation all along, 3 fill(s) after momo_btc stopped (the first 0.4 s "
                "after, 5 in all)"
            ),
            (
                'PASS expect healthy_strategies."mm_btc" orders untouched: mm_btc: 0 of its '
                "orders denied, 7 cancelled at its own request, 0 by others"
            ),
            (
                'PASS expect healthy_strategies."mm_btc" scopes active: mm_btc: scope '
                "strategy:mm_btc ACTIVE, it, its venues' and all never tripped"
            ),
        ]

    def test_a_strategy_that_never_stopped_fails(self):
        running = msgspec.structs.replace(_STOPPED, stopped="", scope_state="ACTIVE")
        line = _strategies(momo_btc=running, mm_btc=_HEALTHY)[0]
        assert line.startswith(
            'FAIL expect stopped_strategies."momo_btc": still running; scope strategy:momo_btc '
            "ACTIVE, not HALTED: momo_btc: 4 crash(es), running"
        )

    def test_a_stopped_strategy_with_an_order_left_at_the_venue_fails(self):
        left = msgspec.structs.replace(_STOPPED, open_at_venue=1)
        line = _strategies(momo_btc=left, mm_btc=_HEALTHY)[0]
        assert line.startswith(
            'FAIL expect stopped_strategies."momo_btc": 1 of its orders open at the venue, 0 '
            "in the order manager: "
        )

    def test_a_stopped_strategy_that_placed_no_order_fails_nothing_was_checked(self):
        idle = msgspec.structs.replace(_STOPPED, orders=0)
        line = _strategies(momo_btc=idle, mm_btc=_HEALTHY)[0]
        assert line.startswith(
            'FAIL expect stopped_strategies."momo_btc": it placed no order: nothing it left '
            "open could be checked: "
        )

    def test_a_healthy_strategy_with_no_fill_after_the_crash_loop_fails(self):
        idle = msgspec.structs.replace(_HEALTHY, fills_after=0, first_fill_after=None)
        assert _strategies(momo_btc=_STOPPED, mm_btc=idle)[1] == (
            'FAIL expect healthy_strategies."mm_btc" kept trading: no fill after momo_btc '
            "stopped: mm_btc: running, the same incarnation all along, 0 fill(s) after momo_btc "
            "stopped (5 in all)"
        )

    def test_a_healthy_strategy_that_was_restarted_fails_even_with_fills(self):
        restarted = msgspec.structs.replace(_HEALTHY, crashes=1, restarts=1)
        line = _strategies(momo_btc=_STOPPED, mm_btc=restarted)[1]
        assert line.startswith('FAIL expect healthy_strategies."mm_btc" kept trading: 1 crash(es)')
        assert "restarted, 3 fill(s)" in line

    def test_an_order_denied_fails_naming_the_reason(self):
        denied = msgspec.structs.replace(_HEALTHY, denied=2, denial_reasons={"halted": 2})
        assert _strategies(momo_btc=_STOPPED, mm_btc=denied)[2] == (
            'FAIL expect healthy_strategies."mm_btc" orders untouched: mm_btc: 2 of its orders '
            "denied (halted: 2), 7 cancelled at its own request, 0 by others"
        )

    def test_denials_that_could_not_be_counted_fail(self):
        unknown = msgspec.structs.replace(_HEALTHY, denied=None)
        line = _strategies(momo_btc=_STOPPED, mm_btc=unknown)[2]
        assert line.startswith(
            'FAIL expect healthy_strategies."mm_btc" orders untouched: mm_btc: ?'
        )
        assert line.endswith("its denials could not be counted (the strategy did not answer)")

    def test_an_order_cancelled_by_someone_else_fails_naming_who(self):
        cancelled = msgspec.structs.replace(
            _HEALTHY,
            cancelled_by_others={"kill switch: halted": 1, "by the venue, unasked: expired": 2},
        )
        assert _strategies(momo_btc=_STOPPED, mm_btc=cancelled)[2] == (
            'FAIL expect healthy_strategies."mm_btc" orders untouched: mm_btc: 0 of its orders '
            "denied, 7 cancelled at its own request, 3 by others (by the venue, unasked: "
            "expired: 2, kill switch: halted: 1)"
        )

    def test_a_trip_of_its_scope_fails_even_after_a_reset(self):
        tripped = msgspec.structs.replace(
            _HEALTHY, scope_trips=("venue:sim: manual (ops)",), scope_state="ACTIVE"
        )
        assert _strategies(momo_btc=_STOPPED, mm_btc=tripped)[3] == (
            'FAIL expect healthy_strategies."mm_btc" scopes active: mm_btc: scope '
            "strategy:mm_btc ACTIVE, trips: venue:sim: manual (ops)"
        )

    def test_a_trip_of_the_all_scope_fails_every_healthy_strategy(self):
        expect = Expect(healthy_strategies=["mm_btc", "mm_eth"])
        observed = Observed(
            strategies={"mm_btc": _HEALTHY, "mm_eth": _HEALTHY},
            all_trips=("escalation (trading exceeded 3 restarts)",),
        )
        scopes = [v for v in check_strategies(expect, observed) if "scopes" in v.name]
        assert [v.outcome for v in scopes] == ["FAIL", "FAIL"]
        assert scopes[1].detail.endswith("trips: all: escalation (trading exceeded 3 restarts)")

    def test_a_strategy_not_observed_fails_each_of_its_checks(self):
        lines = _strategies()
        assert len(lines) == 4
        assert all(
            line.startswith("FAIL ")
            and line.endswith("not observed: the tree was down at the checks")
            for line in lines
        )

    def test_strategy_keys_count_as_declared_expectations(self):
        verdicts = check_expectations(Expect(healthy_strategies=["mm_btc"]), Observed())
        assert [v.outcome for v in verdicts] == ["FAIL", "FAIL", "FAIL"]


class TestStrategiesInTheScenario:
    """A scenario names strategies of its config, in one list; `config` finds shipped configs."""

    def test_the_shipped_crash_loop_reads_config_multi_by_name(self):
        scenario, config = load_scenario(ROOT / "config" / "scenarios" / "strategy_crash_loop.toml")
        assert scenario.config == "multi"
        assert [s.name for s in config.all_strategies] == ["mm_btc", "mm_eth", "wide_btc"]
        assert scenario.expect.stopped_strategies == ["wide_btc"]
        (wide,) = [s for s in config.all_strategies if s.name == "wide_btc"]
        crashes = [f for f in scenario.fault if f.path == "strategies/wide_btc/strategy"]
        assert wide.period is not None
        assert len(crashes) > (wide.intensity or 0)  # past its intensity ...
        assert max(f.at or 0 for f in crashes) - min(f.at or 0 for f in crashes) < wide.period

    def test_a_strategy_not_in_the_config_is_refused_with_its_line(self, scenario_file):
        path = scenario_file(
            f'name = "t"\nduration = 3.0\nconfig = "{ROOT}/config/multi.toml"\n\n[expect]\n'
            'min_fills = 1\nhealthy_strategies = ["mm_btc", "mm_sol"]\n'
        )
        with pytest.raises(ConfigError) as caught:
            load_scenario(path)
        assert str(caught.value) == (
            f"{path}:7: [expect] healthy_strategies: no strategy 'mm_sol' in the config "
            "(strategies: mm_btc, mm_eth, wide_btc)"
        )

    def test_a_strategy_both_stopped_and_healthy_is_refused(self, scenario_file):
        path = scenario_file(
            f'name = "t"\nduration = 3.0\nconfig = "{ROOT}/config/multi.toml"\n\n[expect]\n'
            'stopped_strategies = ["wide_btc"]\nhealthy_strategies = ["wide_btc"]\n'
        )
        with pytest.raises(ConfigError, match=r"s\.toml:7: \[expect\] wide_btc: in both"):
            load_scenario(path)

    def test_the_default_config_has_its_one_strategy_by_its_actor_name(self, scenario_file):
        path = scenario_file(
            'name = "t"\nduration = 3.0\n\n[expect]\nstopped_strategies = ["mm"]\n'
        )
        with pytest.raises(
            ConfigError, match=r"no strategy 'mm' in the config \(strategies: market_maker\)"
        ):
            load_scenario(path)

    def test_a_config_name_that_is_nowhere_is_refused_saying_where_it_looked(self, scenario_file):
        path = scenario_file('name = "t"\nduration = 3.0\nconfig = "mutli"\n')
        with pytest.raises(ConfigError) as caught:
            load_scenario(path)
        assert str(caught.value).startswith(
            f"{path}:3: config 'mutli': no such file (looked for {path.parent / 'mutli.toml'}, "
            f"{path.parent.parent / 'mutli.toml'})"
        )

    def test_the_venue_kind_and_overrides_reach_every_venue_of_a_multi_config(self, scenario_file):
        path = scenario_file(
            f'name = "t"\nduration = 3.0\nconfig = "{ROOT}/config/multi.toml"\n\n'
            "[overrides.venue]\nstep_interval = 0.02\n"
        )
        _, config = load_scenario(path, venue_kind="binance")
        assert [(v.name, v.kind, v.step_interval) for v in config.all_venues] == [
            ("sim", "binance", 0.02)
        ]

    def test_kraken_with_several_instruments_writes_each_symbol_as_kraken_does(self):
        _, config = load_scenario(
            ROOT / "config" / "scenarios" / "strategy_crash_loop.toml", venue_kind="kraken"
        )
        assert [(i.symbol, i.venue) for i in config.all_instruments] == [
            ("BTC/USDT", "sim"),
            ("ETH/USDT", "sim"),
        ]
        assert {s.name: s.instruments for s in config.strategies} == {
            "mm_btc": ("BTC/USDT",),
            "mm_eth": ("ETH/USDT",),
            "wide_btc": ("BTC/USDT",),
        }
        assert config.all_venues[0].kind == "kraken"


@pytest.fixture
def scenario_file(tmp_path):
    def write(text: str) -> Path:
        path = tmp_path / "s.toml"
        path.write_text(text)
        return path

    return write


class TestScenarioKeys:
    """Unknown keys anywhere in a scenario are refused with their line and the valid keys."""

    def test_an_unknown_top_level_key_is_refused_with_its_line(self, scenario_file):
        path = scenario_file('name = "t"\nduration = 3.0\ndurration = 4.0\n')
        with pytest.raises(ConfigError) as caught:
            load_scenario(path)
        assert str(caught.value).startswith(
            f'{path}:3: unknown key "durration" (did you mean "duration"?); valid keys: name, '
        )

    def test_an_unknown_key_on_the_first_line_is_found_there(self, scenario_file):
        path = scenario_file('settel = 1.0\nname = "t"\nduration = 3.0\n')
        with pytest.raises(ConfigError, match=r"s\.toml:1: unknown key \"settel\""):
            load_scenario(path)

    def test_an_unknown_key_in_expect_is_refused_with_its_line(self, scenario_file):
        path = scenario_file(
            'name = "t"\nduration = 3.0\n\n[expect]\nmin_fills = 1\nmin_fill = 1\n'
        )
        with pytest.raises(ConfigError) as caught:
            load_scenario(path)
        assert str(caught.value).startswith(
            f'{path}:6: [expect] unknown key "min_fill" (did you mean "min_fills"?); valid keys: '
        )

    def test_an_unknown_key_in_a_fault_is_refused_at_its_fault(self, scenario_file):
        path = scenario_file(
            'name = "t"\nduration = 3.0\n\n[[fault]]\nat = 1.0\nkind = "feed_gap"\n\n'
            '[[fault]]\nat = 1.0\nkind = "stall"\nsecond = 2\n'
        )
        with pytest.raises(ConfigError, match=r's\.toml:8: \[\[fault\]\] #2 unknown key "second"'):
            load_scenario(path)

    def test_an_expectation_about_an_actor_that_is_not_in_the_tree_is_refused(self, scenario_file):
        path = scenario_file(
            'name = "t"\nduration = 3.0\n\n[expect]\nmin_crashes = { "execution/nope" = 1 }\n'
        )
        with pytest.raises(ConfigError, match=r"s\.toml:5: \[expect\] min_crashes: no actor"):
            load_scenario(path)

    def test_a_negative_expectation_is_refused_with_its_line(self, scenario_file):
        path = scenario_file('name = "t"\nduration = 3.0\n\n[expect]\nmin_fills = -1\n')
        with pytest.raises(ConfigError, match=r"s\.toml:5: Expected `int` >= 0"):
            load_scenario(path)

    def test_a_bad_duration_is_refused_with_its_line(self, scenario_file):
        path = scenario_file('name = "t"\nduration = 0.0\n')
        with pytest.raises(ConfigError, match=r"s\.toml:2: duration must be positive"):
            load_scenario(path)


class _Blocked(SupervisedActor):
    """Handles ``"block"`` by waiting for ``release``; anything else is dropped."""

    def __init__(self, entered: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self._entered = entered
        self._release = release

    def on_receive(self, message: Any) -> Any:
        if message == "block":
            self._entered.set()
            self._release.wait(30)
        return None


@pytest.mark.supervision
def test_the_sampler_sees_a_mailbox_that_fills_while_its_actor_is_busy(make_tree):
    """Under gevent nothing preempts: sampling from a greenlet or thread of its own only
    ever runs once every mailbox is empty again; the sampler must see the burst."""
    entered, release = threading.Event(), threading.Event()
    spec = SupervisorSpec(
        name="root",
        children=(ChildSpec(name="busy", actor=_Blocked, args=(entered, release)),),
    )
    tree = make_tree(spec)
    sampler = _DepthSampler(tree)
    sampler.start()
    try:
        tree.address("busy").tell("block")
        assert entered.wait(10)
        for _ in range(50):
            tree.address("busy").tell("queued")
        waited = threading.Event()  # a wait that lets other threads or greenlets run
        for _ in range(2000):
            if sampler.deepest.get("busy", 0) >= 50:
                break
            waited.wait(0.005)
    finally:
        release.set()
        sampler.stop()
    assert sampler.deepest.get("busy") == 50
    assert _mailboxes_bounded(sampler.deepest, sampler.samples).detail.startswith(
        "deepest busy: 50 messages"
    )


class _Idle(SupervisedActor):
    """Handles every message at once, without ever yielding."""

    def on_receive(self, message: Any) -> Any:
        return message


@pytest.mark.supervision
@pytest.mark.skipif(current_runtime() != "gevent", reason="a burst without a switch: gevent")
def test_under_gevent_the_sampler_sees_a_burst_drained_before_anything_else_runs(make_tree):
    """The burst is queued and handled without a switch to the hub in between: only a
    sample taken at the greenlet switch itself can see it (a sampling greenlet or thread
    saw every mailbox empty: ``deepest -: 0``)."""
    tree = make_tree(SupervisorSpec(name="root", children=(ChildSpec(name="idle", actor=_Idle),)))
    sampler = _DepthSampler(tree)
    sampler.start()
    try:
        for number in range(50):
            tree.address("idle").tell(number)
        assert tree.address("idle").ask("drained", timeout=10) == "drained"
    finally:
        sampler.stop()
    assert sampler.deepest.get("idle", 0) >= 50
