"""Kill-switch scopes over the control endpoint and the CLI (kill/reset --strategy/--venue)."""

from __future__ import annotations

import urllib.error

import msgspec
import pytest

from tradeactors import cli
from tradeactors.actors.gate import TradingGate
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.risk import TradingState
from tradeactors.trading.control import ControlServer, call_control
from tradeactors.trading.system import Status

pytestmark = pytest.mark.supervision  # a server: run again under gevent

H, A = TradingState.HALTED, TradingState.ACTIVE


class FakeSystem:
    """What the endpoint uses of a `TradingSystem`: a real gate with two strategies, a venue."""

    def __init__(self) -> None:
        self.gate = TradingGate(FakeClock(), strategies=("mm", "momo"), venues=("sim",))

    def status(self) -> Status:
        return Status(
            state=self.gate.state.value, venues={"sim": True}, orders=0, open_orders=0,
            fills=0, position=0, pnl=0.0, restarts=0,
        )  # fmt: skip

    def kill(
        self, reason: str, *, to: TradingState, scope: str = "all"
    ) -> KillSwitchChanged | None:
        return self.gate.trip(to, source=TripSource.MANUAL, reason=reason, scope=scope)

    def reset(
        self, *, by: str, reason: str, to: TradingState, scope: str = "all"
    ) -> KillSwitchChanged:
        return self.gate.reset(to, by=by, reason=reason, scope=scope)


@pytest.fixture
def system() -> FakeSystem:
    return FakeSystem()


@pytest.fixture
def server(system):
    control = ControlServer(system)
    try:
        yield control
    finally:
        control.close()


def refused(url: str, path: str, body: dict[str, str], token: str | None = None) -> tuple[int, str]:
    """The status code and error of a refused request."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        call_control(url, path, body, token=token)
    with caught.value as error:
        return error.code, msgspec.json.decode(error.read())["error"]


class TestEndpoint:
    """POST /kill and /reset name a strategy or a venue; /status lists every scope."""

    def test_kill_and_reset_one_strategy(self, server, system):
        answer = call_control(server.url, "/kill", {"reason": "drawdown", "strategy": "mm"})
        assert answer == {
            "changed": True, "state": "active", "scope": "strategy:mm", "scope_state": "halted",
        }  # fmt: skip
        assert system.gate.state_of("mm", "sim") is H
        assert system.gate.state_of("momo", "sim") is A
        body = {"by": "alice", "reason": "checked", "strategy": "mm"}
        answer = call_control(server.url, "/reset", body, token=server.token)
        assert answer["scope_state"] == "active"
        assert system.gate.history[-1].reason == "alice: checked"

    def test_status_lists_each_scopes_state(self, server):
        call_control(server.url, "/kill", {"reason": "x", "venue": "sim", "state": "reducing"})
        status = call_control(server.url, "/status")
        assert status["kill_switch_scopes"] == {
            "all": "active", "strategy:mm": "active", "strategy:momo": "active",
            "venue:sim": "reducing",
        }  # fmt: skip

    def test_an_unknown_strategy_or_venue_is_404_with_the_known_scopes(self, server, system):
        code, error = refused(server.url, "/kill", {"reason": "x", "strategy": "nope"})
        assert code == 404
        assert "unknown kill-switch scope 'strategy:nope'" in error
        assert "strategy:mm" in error
        body = {"by": "a", "reason": "b", "venue": "nowhere"}
        assert refused(server.url, "/reset", body, server.token)[0] == 404
        assert system.gate.history == ()

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ({"strategy": "mm", "venue": "sim"}, "not both"),
            ({"strategy": " mm"}, "expected 'all'"),
            ({"venue": ""}, "venue is empty"),
        ],
    )
    def test_a_malformed_scope_is_400(self, server, extra, message):
        code, error = refused(server.url, "/kill", {"reason": "x", **extra})
        assert code == 400
        assert message in error


class TestCommandLine:
    """`tradeactors kill/reset --strategy NAME | --venue NAME`, and `status`."""

    def test_kill_a_venue_then_reset_it(self, server, system, capsys):
        assert cli.main(["kill", "--url", server.url, "--venue", "sim", "--reason", "maint"]) == 0
        answer = capsys.readouterr().out.splitlines()[-1]
        assert answer == "venue:sim HALTED (kill switch ACTIVE)"  # only that scope
        assert system.gate.state_of(None, "sim") is H
        argv = ["reset", "--url", server.url, "--venue", "sim", "--by", "bob", "--reason", "ok"]
        assert cli.main([*argv, f"--token={server.token}"]) == 0
        assert system.gate.state_of(None, "sim") is A
        assert system.gate.state is A  # the all scope was never touched

    def test_an_unknown_scope_is_one_line_and_exit_2(self, server, capsys):
        assert cli.main(["kill", "--url", server.url, "--strategy", "nope"]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        (line,) = captured.err.splitlines()
        assert line.startswith("tradeactors kill: refused (404): unknown kill-switch scope")

    def test_status_shows_the_scopes_besides_all(self, server, system, capsys):
        system.kill("loss", to=H, scope="strategy:momo")
        assert cli.main(["status", "--url", server.url]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert "  kill switch  ACTIVE" in lines
        assert "  scope        strategy:momo HALTED" in lines
        assert "  scope        strategy:mm ACTIVE" in lines

    def test_strategy_and_venue_together_are_refused_by_the_parser(self, server, capsys):
        with pytest.raises(SystemExit) as exited:
            cli.main(["kill", "--url", server.url, "--strategy", "mm", "--venue", "sim"])
        assert exited.value.code == 2
        assert "not allowed with argument" in capsys.readouterr().err
