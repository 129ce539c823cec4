"""The control endpoint of a running system: kill, reset, status; and what it refuses."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from trading_helpers import SECRET, config_for

from tradeactors.trading.control import ControlServer, call_control
from tradeactors.trading.system import TradingSystem

pytestmark = pytest.mark.supervision


@pytest.fixture
def control(sim_venue, monkeypatch):
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    system = TradingSystem(config_for(sim_venue)).start(timeout=20)
    server = ControlServer(system)
    try:
        yield system, server.url
    finally:
        server.close()
        system.stop()


def test_kill_status_and_reset_through_the_endpoint(control):
    system, url = control
    assert call_control(url, "/status")["state"] == "active"
    assert call_control(url, "/kill", {"reason": "operator"}) == {
        "changed": True,
        "state": "halted",
    }
    assert call_control(url, "/kill", {"reason": "again"})["changed"] is False  # latched
    assert call_control(url, "/reset", {"by": "ops", "reason": "checked"})["state"] == "active"
    assert [c.state.value for c in system.gate.history] == ["halted", "active"]


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def test_cross_origin_or_non_json_posts_are_refused(control):
    system, url = control
    system.kill("halted by the operator")
    reset = b'{"by": "a web page", "reason": "csrf"}'
    # what a browser can send without a preflight: text/plain, with an Origin
    assert _post(url + "/reset", reset, {"Content-Type": "text/plain"}) == 415
    assert (
        _post(
            url + "/reset",
            reset,
            {"Content-Type": "application/json", "Origin": "http://evil.example"},
        )
        == 403
    )
    assert system.gate.state.value == "halted"


def test_a_bad_request_gets_a_clear_error(control):
    _system, url = control
    with pytest.raises(urllib.error.HTTPError) as caught:
        call_control(url, "/kill", {"reason": "x", "state": "sideways"})
    assert caught.value.code == 400
    assert b"sideways" in caught.value.read()
    caught.value.close()
