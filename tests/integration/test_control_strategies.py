"""Strategies added, listed and removed over the control endpoint and `tradeactors strategy`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
from typing import TYPE_CHECKING, Any

import pytest
from trading_helpers import SECRET, SYMBOL, TradingEvents, config_for

from tradeactors.cli import main
from tradeactors.core.messages import OrderUpdate
from tradeactors.trading.control import CONTROL_TOKEN_ENV, ControlServer, call_control
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tradeactors.exchange.server import SimExchange


@pytest.fixture
def control(
    sim_venue: SimExchange, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TradingSystem, ControlServer, TradingEvents]]:
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    monkeypatch.delenv(CONTROL_TOKEN_ENV, raising=False)
    system = TradingSystem(config_for(sim_venue))
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    server = ControlServer(system)
    try:
        yield system, server, events
    finally:
        server.close()
        system.stop(timeout=10)


def _refused(url: str, path: str, body: dict[str, Any], token: str | None) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as caught:
        call_control(url, path, body, token=token)
    with caught.value as answer:
        return answer.code, answer.read().decode()


@pytest.mark.supervision
def test_strategies_are_added_listed_and_removed_through_the_endpoint(control):
    system, server, events = control
    url, token = server.url, server.token
    assert call_control(url, "/strategies") == []
    add = {"name": "bid", "class": "multi_strategies:Bidder", "params": {"offset": "30"}}
    code, error = _refused(url, "/strategies/add", add, None)
    assert (code, "needs the control token" in error) == (401, True)
    assert system.strategies() == []  # nothing without the token
    added = call_control(url, "/strategies/add", {**add, "instruments": [SYMBOL]}, token=token)
    assert (added["name"], added["state"], added["strategy"]) == (
        "bid", "running", "multi_strategies:Bidder",
    )  # fmt: skip
    (accepted,) = events.wait_for(OrderUpdate, status="accepted")
    assert accepted.price == 100_000 - 30  # its parameter, converted from the string
    assert [s["name"] for s in call_control(url, "/strategies")] == ["bid"]
    # Refusals: each says what is wrong, nothing changes.
    for body, code, words in (
        ({**add}, 400, "name: a strategy named 'bid' is running"),
        ({**add, "name": "x", "class": "no.where:Gone"}, 400, "module 'no.where' not found"),
        ({**add, "name": "x", "instruments": ["XRPUSDT"]}, 400, "'XRPUSDT' is not configured"),
        ({**add, "name": "x", "colour": "red"}, 400, "colour"),
        (
            {"name": "x", "class": "multi_strategies:FailsToStart"},
            422,
            "failed to start: RuntimeError: no market for me",
        ),
    ):
        assert _refused(url, "/strategies/add", body, token)[0] == code
        assert words in _refused(url, "/strategies/add", body, token)[1]
    code, error = _refused(url, "/strategies/remove", {"name": "gone"}, token)
    assert (code, "no strategy is named 'gone'" in error) == (404, True)
    assert [s.name for s in system.strategies()] == ["bid"]
    removed = call_control(url, "/strategies/remove", {"name": "bid"}, token=token)
    assert removed == {"name": "bid", "cancelled": True, "open_orders": 0}
    assert call_control(url, "/strategies") == []


@pytest.mark.supervision
def test_the_strategy_command_adds_lists_and_removes_and_says_each_mistake_in_one_line(
    control, tmp_path, capsys
):
    system, server, events = control
    token = ["--url", server.url, "--token-file", str(server.write_token(tmp_path / "token"))]
    add = ["strategy", "add", *token, "--class", "multi_strategies:Bidder"]
    assert main([*add, "--name", "bid", "--instrument", SYMBOL, "--param", "offset=40"]) == 0
    out = capsys.readouterr().out
    path = "strategies/bid/strategy"
    assert out == f"added strategy bid (multi_strategies:Bidder) trading {SYMBOL}: {path}\n"
    assert events.wait_for(OrderUpdate, status="accepted")[0].price == 100_000 - 40
    assert main(["strategy", "list", "--url", server.url]) == 0
    assert capsys.readouterr().out.split() == [
        "bid", "running", SYMBOL, "multi_strategies:Bidder", "(added)",
    ]  # fmt: skip
    for argv, words in (
        ([*add, "--name", "x", "--instrument", "XRPUSDT"], "'XRPUSDT' is not configured"),
        ([*add[:-1], "no.where:Gone", "--name", "x"], "module 'no.where' not found"),
        ([*add, "--name", "x", "--param", "offset"], "--param 'offset': expected KEY=VALUE"),
        (["strategy", "remove", *token, "--name", "gone"], "no strategy is named 'gone'"),
        (["strategy", "list", "--url", "http://127.0.0.1:9"], "nothing answers at"),
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"tradeactors strategy {argv[1]}: "), err
        assert words in err
        assert err.count("\n") == 1, err
    assert [s.name for s in system.strategies()] == ["bid"]
    assert main(["strategy", "remove", *token, "--name", "bid"]) == 0
    assert capsys.readouterr().out == "removed strategy bid: none of its orders open\n"
    assert system.strategies() == []


def test_a_strategy_is_added_to_and_removed_from_a_tradeactors_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != CONTROL_TOKEN_ENV}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # where the commands find the run
    command = [sys.executable, "-m", "tradeactors.cli"]
    with subprocess.Popen(
        [*command, "run", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    ) as run:  # fmt: skip
        try:
            assert run.stdout is not None
            banner = [run.stdout.readline() for _ in range(7)]
            assert any(" control " in line for line in banner), banner

            def strategy(*args: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [*command, "strategy", *args],
                    capture_output=True, text=True, timeout=60, check=False, env=env,
                )  # fmt: skip

            added = strategy("add", "--name", "mom", "--class", "momentum")
            assert added.returncode == 0, added.stderr
            assert added.stdout.startswith("added strategy mom (momentum) trading ")
            listed = strategy("list")
            assert listed.returncode == 0, listed.stderr
            names = [line.split()[0] for line in listed.stdout.splitlines()]
            assert names == ["market_maker", "mom"]
            removed = strategy("remove", "--name", "mom")
            assert removed.returncode == 0, removed.stderr
            assert removed.stdout == "removed strategy mom: none of its orders open\n"
        finally:
            if run.poll() is None:
                run.send_signal(signal.SIGINT)
            try:
                _out, err = run.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                run.kill()
                _out, err = run.communicate()
    assert run.returncode == 0, err[-2000:]
