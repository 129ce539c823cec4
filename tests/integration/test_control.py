"""The control endpoint of a running system: kill, reset, status; and what it refuses.

The refusals one by one (Content-Length, fields, Host, token, slow clients) are in
tests/unit/trading/test_control_endpoint.py; here a real `TradingSystem`, the
``tradeactors kill/reset/status`` commands and ``tradeactors run``'s token file.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import msgspec
import pytest

from tradeactors._state import RunDirectory
from tradeactors.cli import main
from tradeactors.trading.control import (
    CONTROL_TOKEN_ENV,
    call_control,
    default_token_file,
)

pytestmark = pytest.mark.supervision


def test_kill_status_and_reset_through_the_endpoint(control):
    system, server = control
    url = server.url
    status = call_control(url, "/status")
    assert status["state"] == "active"
    # with its units, so that `tradeactors status` can say them
    assert status["symbol"] == "BTCUSDT"
    assert {"lot_size", "pnl_places", "marked", "position", "pnl"} <= set(status)
    assert call_control(url, "/kill", {"reason": "operator"}) == {
        "changed": True,
        "state": "halted",
    }
    assert call_control(url, "/kill", {"reason": "again"})["changed"] is False  # latched
    body = {"by": "ops", "reason": "checked"}
    assert call_control(url, "/reset", body, token=server.token)["state"] == "active"
    assert [c.state.value for c in system.gate.history] == ["halted", "active"]


def test_orders_lists_every_order_the_order_manager_knows_with_its_owner(control, sim_venue):
    from trading_helpers import resting_buy, wait_open_at_venue

    system, server = control
    client_order_id = resting_buy(system)
    assert wait_open_at_venue(sim_venue, lambda n: n == 1, timeout=10)
    report = call_control(server.url, "/orders")
    (order,) = report["orders"]
    assert order["client_order_id"] == client_order_id
    assert order["owner"] == ""  # the host's: submitted with no owner
    assert order["status"] in ("pending", "accepted")
    assert report["positions"].get("BTCUSDT", 0) == 0
    assert report["reconciliations"] >= 1  # the gateway's start


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def test_cross_origin_or_non_json_posts_are_refused(control):
    system, server = control
    system.kill("halted by the operator")
    reset = b'{"by": "a web page", "reason": "csrf"}'
    bearer = f"Bearer {server.token}"  # even with the token: a page must not reset
    # what a browser can send without a preflight: text/plain, with an Origin
    text = {"Content-Type": "text/plain", "Authorization": bearer}
    assert _post(server.url + "/reset", reset, text) == 415
    cross = {"Content-Type": "application/json", "Origin": "http://evil.example"}
    assert _post(server.url + "/reset", reset, {**cross, "Authorization": bearer}) == 403
    assert system.gate.state.value == "halted"


def test_a_reset_without_or_with_a_wrong_token_changes_nothing(control):
    system, server = control
    system.kill("halted by the operator")
    json = {"Content-Type": "application/json"}
    reset = b'{"by": "mallory", "reason": "let me trade"}'
    assert _post(server.url + "/reset", reset, json) == 401
    assert (
        _post(server.url + "/reset", reset, {**json, "Authorization": "Bearer " + "x" * 43}) == 403
    )
    assert system.gate.state.value == "halted"
    assert call_control(server.url, "/status")["state"] == "halted"  # still serving


def test_a_bad_request_gets_a_clear_error(control):
    _system, server = control
    with pytest.raises(urllib.error.HTTPError) as caught:
        call_control(server.url, "/kill", {"reason": "x", "state": "sideways"})
    assert caught.value.code == 400
    assert b"sideways" in caught.value.read()
    caught.value.close()


def test_a_foreign_host_is_refused_on_status(control):
    _system, server = control
    request = urllib.request.Request(  # noqa: S310
        server.url + "/status", headers={"Host": "evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert caught.value.code == 421
    assert b"Host" in caught.value.read()
    caught.value.close()


class TestCommands:
    """``tradeactors kill/reset/status``: one line and exit 2 for every mistake."""

    @pytest.fixture(autouse=True)
    def no_token_around(self, tmp_path, monkeypatch):
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        monkeypatch.delenv(CONTROL_TOKEN_ENV, raising=False)

    def test_reset_without_a_token_prints_one_line_and_exits_2(self, tmp_path):
        env = {k: v for k, v in os.environ.items() if k != CONTROL_TOKEN_ENV}
        result = subprocess.run(
            [sys.executable, "-m", "tradeactors.cli", "reset", "--url", "http://127.0.0.1:9",
             "--by", "alice", "--reason", "checked"],
            capture_output=True, text=True, timeout=60, check=False, env=env,
        )  # fmt: skip
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("tradeactors reset: a reset needs the control token")
        assert "--token-file" in result.stderr
        assert "Traceback" not in result.stderr

    def test_reset_with_the_token_file_works_and_kill_needs_none(self, control, tmp_path, capsys):
        system, server = control
        path = server.write_token(tmp_path / "token")
        assert main(["kill", "--url", server.url, "--reason", "desk closed"]) == 0
        assert system.gate.state.value == "halted"
        reset = ["reset", "--url", server.url, "--by", "alice", "--reason", "checked"]
        assert main([*reset, "--token-file", str(path)]) == 0
        assert capsys.readouterr().out.splitlines() == ["kill switch HALTED", "kill switch ACTIVE"]
        assert system.gate.history[-1].reason == "alice: checked"
        assert main(["kill", "--url", server.url, "--json"]) == 0  # machines: the answer
        assert msgspec.json.decode(capsys.readouterr().out) == {"changed": True, "state": "halted"}
        assert main(["kill", "--url", server.url]) == 0  # latched: nothing changed
        assert capsys.readouterr().out == "kill switch HALTED: unchanged (already so)\n"

    def test_reset_finds_the_token_of_the_live_run_with_that_url(self, control, tmp_path):
        system, server = control
        run = RunDirectory.create(tmp_path / "state" / "tradeactors", now_ns=1)
        try:
            server.write_token(run.token_file)
            run.publish(control_url=server.url)
            system.kill("halted by the operator")
            assert main(["reset", "--url", server.url, "--by", "alice", "--reason", "ok"]) == 0
            assert system.gate.state.value == "active"
        finally:
            run.close()

    def test_reset_finds_a_hosts_token_file_by_the_urls_port(self, control, capsys):
        system, server = control
        path = server.write_token()
        assert path == default_token_file(server.port)
        system.kill("halted by the operator")
        assert main(["reset", "--url", server.url, "--by", "alice", "--reason", "ok"]) == 0
        assert system.gate.state.value == "active"

    def test_a_refused_reset_says_why_without_the_token(self, control, tmp_path, capsys):
        system, server = control
        system.kill("halted by the operator")
        wrong = tmp_path / "wrong"
        wrong.write_text("w" * 43)
        reset = ["reset", "--url", server.url, "--by", "alice", "--reason", "checked"]
        assert main([*reset, "--token-file", str(wrong)]) == 2
        err = capsys.readouterr().err
        assert err == "tradeactors reset: refused (403): wrong control token\n"
        assert main([*reset, "--token-file", str(tmp_path / "missing")]) == 2
        assert "cannot read the control token from" in capsys.readouterr().err
        assert main([*reset, "--token", "short"]) == 2
        assert "short" not in capsys.readouterr().err
        assert system.gate.state.value == "halted"

    @pytest.mark.parametrize(
        "url", ["127.0.0.1:8080", "http://127.0.0.1:99999", "ftp://127.0.0.1:21", "notaurl"]
    )
    def test_a_malformed_url_is_one_line(self, url, capsys):
        assert main(["status", "--url", url]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tradeactors status: ")
        assert err.count("\n") == 1

    def test_a_url_that_is_not_a_control_endpoint_is_one_line(self, capsys):
        from prometheus_client import CollectorRegistry

        from tradeactors.observability import serve_metrics

        metrics = serve_metrics(CollectorRegistry(), port=0)
        try:
            assert main(["status", "--url", metrics.url]) == 2
            assert "not a tradeactors control endpoint" in capsys.readouterr().err
            assert main(["kill", "--url", metrics.url]) == 2
            err = capsys.readouterr().err
            assert "not a tradeactors control endpoint" in err
            assert err.count("\n") == 1
        finally:
            metrics.close()


def _tradeactors(*args: str) -> list[str]:
    return [sys.executable, "-m", "tradeactors.cli", *args]


def test_a_run_writes_its_token_file_and_reset_finds_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != CONTROL_TOKEN_ENV}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    with subprocess.Popen(
        _tradeactors("run", "--duration", "60"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    ) as run:  # fmt: skip
        try:
            assert run.stdout is not None
            banner = [run.stdout.readline() for _ in range(7)]  # then status lines
            url = next(
                line.split("control ")[1].split()[0] for line in banner if " control " in line
            )
            token_line = next((line for line in banner if line.startswith("  token: ")), "")
            assert token_line, banner
            token_file = Path(token_line.split()[1])
            runs = tmp_path / "state" / "tradeactors" / "runs"
            assert token_file == runs / token_file.parent.name / "control.token"  # the run's
            assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
            assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
            token = token_file.read_text().strip()

            def command(*args: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    _tradeactors(*args, "--url", url),
                    capture_output=True, text=True, timeout=30, check=False, env=env,
                )  # fmt: skip

            assert command("kill", "--reason", "test says stop").returncode == 0
            reset = command("reset", "--by", "alice", "--reason", "checked")
            assert reset.returncode == 0, reset.stderr
            assert reset.stdout == "kill switch ACTIVE\n"
        finally:
            if run.poll() is None:
                run.send_signal(signal.SIGINT)
            try:
                out, err = run.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                run.kill()
                out, err = run.communicate()
    assert run.returncode == 0, err[-2000:]
    assert not token_file.exists()  # removed when the run ends
    # its directory keeps only the run's journal
    assert sorted(p.name for p in token_file.parent.iterdir()) == ["journal.sqlite"]
    assert token not in out
    assert token not in err
