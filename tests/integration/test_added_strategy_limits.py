"""A strategy added at run time with limits of its own (both runtimes).

The venue is the still simulated exchange: nothing trades unless the test makes it.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import msgspec
import pytest
from prometheus_client import CollectorRegistry
from trading_helpers import INSTRUMENT, SECRET, Taker, TradingEvents, config_for

from tradeactors.cli import main
from tradeactors.config import Config
from tradeactors.core.messages import OrderUpdate, VenueStatus
from tradeactors.errors import ChildStartError, ConfigError, ConfigKeyError
from tradeactors.supervision import ActorStarted
from tradeactors.trading.control import CONTROL_TOKEN_ENV, ControlServer, call_control
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

BIDDER = "multi_strategies:Bidder"  # one bid at start, one more after each fill


@pytest.fixture
def system(
    sim_venue: SimExchange, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TradingSystem, CollectorRegistry, TradingEvents]]:
    """A running system with no strategy, its metrics on a registry of the test's."""
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    monkeypatch.delenv(CONTROL_TOKEN_ENV, raising=False)
    registry = CollectorRegistry()
    system = TradingSystem(config_for(sim_venue), registry=registry)
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    events.wait_for(VenueStatus, up=True)
    try:
        yield system, registry, events
    finally:
        system.stop(timeout=10)


def _limit(registry: CollectorRegistry, scope: str, limit: str) -> float | None:
    return registry.get_sample_value("tradeactors_risk_limit", {"scope": scope, "limit": limit})


def _sell_into_bids(sim_venue: SimExchange, price: int) -> None:
    """Another account sells 1 lot at ``price``, immediate-or-cancel."""
    taker = Taker(sim_venue)
    try:
        taker.request(
            "place", client_order_id="t1", side="sell", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(price), quantity=INSTRUMENT.format_size(1),
        )  # fmt: skip
    finally:
        taker.close()


def test_an_added_strategys_own_limit_denies_it_alone_and_is_gone_once_removed(system):
    system, registry, events = system
    info = system.add_strategy("big", BIDDER, params={"quantity": 3}, risk={"max_position": 2})
    assert info.risk == {"max_position": 2.0}
    (denied,) = events.wait_for(OrderUpdate, status="denied")
    assert (denied.reason, denied.detail) == ("max_position", "strategy big")
    assert denied.client_order_id.startswith("big")
    # another strategy with no limit of its own sends the same order: it passes
    system.add_strategy("free", BIDDER, params={"quantity": 3, "offset": 20})
    (accepted,) = events.wait_for(OrderUpdate, status="accepted")
    assert accepted.client_order_id.startswith("free")
    assert {s.name: s.risk for s in system.strategies()} == {
        "big": {"max_position": 2.0},
        "free": {},
    }
    assert _limit(registry, "strategy:big", "max_position") == 2.0
    assert _limit(registry, "strategy:free", "max_position") is None
    # removed: its limits go with it; the name again, without limits, trades
    system.remove_strategy("big")
    assert _limit(registry, "strategy:big", "max_position") is None
    system.add_strategy("big", BIDDER, params={"quantity": 3, "offset": 30})
    events.wait_for(OrderUpdate, count=2, status="accepted")
    assert len(events.of(OrderUpdate, status="denied")) == 1


def test_an_added_strategys_limits_survive_a_restart_of_risk(system, sim_venue):
    system, _registry, events = system
    system.add_strategy("one", BIDDER, risk={"max_position": 1, "max_loss": 100.0})
    (first,) = events.wait_for(OrderUpdate, status="accepted")
    risk = system.paths.risk
    restarted = threading.Event()
    system.tree.subscribe(
        lambda e: restarted.set() if isinstance(e, ActorStarted) and e.path == risk else None
    )
    assert system.tree.faults(risk).kill()
    assert restarted.wait(10)
    # its bid fills: it holds 1 (the new risk rebuilt that from the order manager) and
    # bids again: 1 + 1 > 1, past its own limit, which the new risk still has
    _sell_into_bids(sim_venue, first.price)
    events.wait_for(OrderUpdate, status="filled")
    (denied,) = events.wait_for(OrderUpdate, status="denied")
    assert (denied.reason, denied.detail) == ("max_position", "strategy one")


def test_bad_limits_are_refused_before_anything_starts(system):
    system, registry, events = system
    for risk, error, words in (
        ({"max_position": -1}, ConfigKeyError, "risk.max_position: expected an integer >= 1"),
        ({"max_loss": float("inf")}, ConfigKeyError, "risk.max_loss: expected a number > 0"),
        ({"max_loss": float("nan")}, ConfigKeyError, "got nan"),
        ({"max_position": 2.5}, ConfigKeyError, "expected an integer >= 1, got 2.5"),
        ({"colour": 1}, ConfigKeyError, 'unknown key "colour"'),
        (["max_position"], ConfigKeyError, "expected a table of limits"),
    ):
        with pytest.raises(error) as caught:
            system.add_strategy("x", BIDDER, risk=risk)
        assert words in str(caught.value), caught.value
    assert system.strategies() == []
    assert [c.name for c in system.tree.children("strategies")] == []
    assert issubclass(ConfigKeyError, ConfigError)  # the endpoint answers both with 400
    # good limits of a strategy that fails to start are dropped with it
    with pytest.raises(ChildStartError):
        system.add_strategy("x", "multi_strategies:FailsToStart", risk={"max_position": 1})
    assert system.strategies() == []
    assert _limit(registry, "strategy:x", "max_position") is None
    system.add_strategy("x", BIDDER, params={"quantity": 3})  # no limit of x is left in risk
    events.wait_for(OrderUpdate, status="accepted")
    assert events.of(OrderUpdate, status="denied") == []


def _post(url: str, path: str, body: bytes, token: str) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 - the test's own loopback server
        url + path,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    with caught.value as answer:
        return answer.code, msgspec.json.decode(answer.read())["error"]


def test_the_endpoint_and_the_command_take_limits_and_refuse_bad_ones(system, tmp_path, capsys):
    system, _registry, events = system
    server = ControlServer(system)
    try:
        url, token = server.url, server.token
        add = {"name": "x", "class": BIDDER}
        for risk, words in (
            (b'{"max_position": -1}', "expected an integer >= 1, got -1"),
            (b'{"max_loss": 1e999}', "out of range"),  # inf is not JSON: refused as such
            (b'{"max_loss": "inf"}', 'got "inf"'),
            (b'{"colour": 1}', 'unknown key "colour"'),
        ):
            body = msgspec.json.encode(add)[:-1] + b', "risk": ' + risk + b"}"
            code, error = _post(url, "/strategies/add", body, token)
            assert (code, words in error) == (400, True), error
        assert system.strategies() == []
        added = call_control(
            url, "/strategies/add", {**add, "risk": {"max_open_orders": 3}}, token=token
        )
        assert added["risk"] == {"max_open_orders": 3.0}
        events.wait_for(OrderUpdate, status="accepted")
        # the command: each bad --limit is one line and exit 2, checked before it asks
        argv = ["strategy", "add", "--url", url, "--token-file"]
        argv += [str(server.write_token(tmp_path / "token")), "--class", BIDDER]
        for limit, words in (
            ("max_loss=inf", "--limit max_loss: expected a number > 0"),
            ("max_position=-1", "--limit max_position: expected an integer >= 1, got -1"),
            ("max_position=1.5", "expected an integer >= 1, got 1.5"),
            ("colour=red", '--limit unknown key "colour"'),
            ("max_position", "--limit 'max_position': expected KEY=VALUE"),
        ):
            assert main([*argv, "--name", "y", "--limit", limit]) == 2, limit
            err = capsys.readouterr().err
            assert err.startswith("tradeactors strategy add: "), err
            assert words in err
            assert err.count("\n") == 1, err
        assert (
            main([*argv, "--name", "y", "--limit", "max_position=4", "--limit", "max_loss=2.5"])
            == 0
        )
        out = capsys.readouterr().out
        assert out.endswith("; limits max_position=4 max_loss=2.5\n"), out
        assert main(["strategy", "list", "--url", url]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in lines] == ["x", "y"]
        assert lines[0].endswith("(added)  limits max_open_orders=3")
        assert lines[1].endswith("(added)  limits max_position=4 max_loss=2.5")
    finally:
        server.close()


def test_the_status_counts_the_strategies_the_system_runs(system, sim_venue):
    system, _registry, events = system
    assert " | position " in system.status().line()  # no strategy: the one-position line
    system.add_strategy("one", BIDDER)
    (bid,) = events.wait_for(OrderUpdate, status="accepted")
    assert " | position " in system.status().line()  # one strategy, one instrument
    system.add_strategy("two", BIDDER, params={"offset": 20})
    system.add_strategy("three", BIDDER, params={"offset": 30})
    events.wait_for(OrderUpdate, count=3, status="accepted")
    status = system.status()
    assert (status.strategies, status.stopped_strategies, status.instruments) == (
        ("one", "two", "three"), (), 1,
    )  # fmt: skip
    assert " | 3 strategies (0 with fills), 1 instrument | " in status.line()
    _sell_into_bids(sim_venue, bid.price)  # one's bid fills
    events.wait_for(OrderUpdate, status="filled")
    assert " | 3 strategies (1 with fills), 1 instrument | " in system.status().line()
    system.remove_strategy("three")
    assert " | 2 strategies (1 with fills), 1 instrument | " in system.status().line()


def test_a_configured_strategys_limits_are_listed_and_dropped_when_it_is_removed(
    sim_venue, monkeypatch
):
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    table = msgspec.to_builtins(config_for(sim_venue))
    del table["strategy"]  # [[strategies]] instead
    table["strategies"] = [
        {"name": "cfg", "class": BIDDER, "params": {"quantity": 3}, "risk": {"max_position": 2}}
    ]
    config = msgspec.convert(table, Config)
    registry = CollectorRegistry()
    system = TradingSystem(config, registry=registry)
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    try:
        (denied,) = events.wait_for(OrderUpdate, status="denied")
        assert (denied.reason, denied.detail) == ("max_position", "strategy cfg")
        assert [(s.name, s.added, s.risk) for s in system.strategies()] == [
            ("cfg", False, {"max_position": 2.0})
        ]
        assert _limit(registry, "strategy:cfg", "max_position") == 2.0
        system.remove_strategy("cfg")
        assert _limit(registry, "strategy:cfg", "max_position") is None
        system.add_strategy("cfg", BIDDER, params={"quantity": 3})  # the name, no limits
        events.wait_for(OrderUpdate, status="accepted")
    finally:
        system.stop(timeout=10)
