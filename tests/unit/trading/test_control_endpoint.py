"""The control endpoint: what it refuses, with which status and a JSON error, and that it
keeps serving afterwards; the token on reset; the Host check; slow clients."""

from __future__ import annotations

import socket
import urllib.error
from typing import Any

import msgspec
import pytest
from structlog.testing import capture_logs

from tradeactors.actors.gate import TradingGate
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.risk import TradingState
from tradeactors.errors import ConfigError
from tradeactors.trading.control import (
    MAX_BODY,
    MAX_BY,
    MAX_REASON,
    ControlServer,
    _DeadlineReader,
    call_control,
)

pytestmark = pytest.mark.supervision  # a server: run again under gevent


class FakeSystem:
    """What the endpoint uses of a `TradingSystem`, around a real gate."""

    def __init__(self) -> None:
        self.gate = TradingGate(FakeClock())
        self.status_error: Exception | None = None

    def status(self) -> dict[str, str]:
        if self.status_error is not None:
            raise self.status_error
        return {"state": self.gate.state.value}

    def kill(
        self, reason: str, *, to: TradingState, scope: str = "all"
    ) -> KillSwitchChanged | None:
        return self.gate.trip(to, source=TripSource.MANUAL, reason=reason, scope=scope)

    def reset(
        self, *, by: str, reason: str, to: TradingState, scope: str = "all"
    ) -> KillSwitchChanged:
        return self.gate.reset(to, by=by, reason=reason, scope=scope)


@pytest.fixture
def system():
    return FakeSystem()


@pytest.fixture
def server(system):
    control = ControlServer(system)
    try:
        yield control
    finally:
        control.close()


def _send(port: int, raw: bytes) -> tuple[int, dict[str, str], Any]:
    """Send ``raw``, read the whole answer: (status, headers, decoded JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status.split()[1]), headers, msgspec.json.decode(body)


def _request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    host: str | None = "",
    content_type: str | None = "application/json",
    length: str | None = "",
    headers: tuple[str, ...] = (),
) -> tuple[int, dict[str, str], Any]:
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host or f'127.0.0.1:{port}'}")
    if method == "POST" and content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if method == "POST" and length is not None:
        lines.append(f"Content-Length: {length or len(body)}")
    lines.extend(headers)
    return _send(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def _json(**fields: str) -> bytes:
    return msgspec.json.encode(fields)


def _bearer(token: str) -> str:
    return f"Authorization: Bearer {token}"


def _still_serving(server: ControlServer, system: FakeSystem, state: str = "active") -> None:
    assert call_control(server.url, "/status") == {
        "state": state,
        "kill_switch_scopes": {"all": state},
    }
    assert system.gate.state.value == state


class TestHost:
    """Only 127.0.0.1:PORT, localhost:PORT or [::1]:PORT, on every request."""

    @pytest.mark.parametrize(
        "host",
        ["evil.example", "evil.example:{port}", "127.0.0.1", "127.0.0.1:1", "0.0.0.0:{port}"],
    )
    def test_a_foreign_host_cannot_read_the_status(self, server, system, host):
        code, _, answer = _request(
            server.port, "GET", "/status", host=host.format(port=server.port)
        )
        assert code == 421
        assert "Host" in answer["error"]
        _still_serving(server, system)

    @pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LocalHost", "[::1]"])
    def test_the_loopback_names_with_the_port_are_served(self, server, name):
        code, _, answer = _request(server.port, "GET", "/status", host=f"{name}:{server.port}")
        assert (code, answer) == (200, {"state": "active", "kill_switch_scopes": {"all": "active"}})

    def test_a_request_without_a_host_or_with_two_is_refused(self, server):
        assert _request(server.port, "GET", "/status", host=None)[0] == 421
        two = (f"Host: 127.0.0.1:{server.port}",)
        assert _request(server.port, "GET", "/status", headers=two)[0] == 421

    def test_a_foreign_host_cannot_kill_either(self, server, system):
        code, _, _ = _request(server.port, "POST", "/kill", body=_json(reason="x"), host="evil")
        assert code == 421
        _still_serving(server, system)


class TestContentLength:
    """Checked before the body is read: never a traceback, a MemoryError or a block."""

    @pytest.mark.parametrize(
        ("length", "code"),
        [
            ("abc", 400),
            ("-1", 400),
            ("+5", 400),
            ("1e3", 400),
            ("99999999999", 413),
            (str(MAX_BODY + 1), 413),
            ("0" * 5000, 400),  # 5,000 digits (int() alone would raise) for an empty body
            ("9" * 5000, 413),
            (None, 411),
        ],
    )
    def test_a_bad_content_length_gets_a_clear_error(self, server, system, length, code):
        answer = _request(server.port, "POST", "/kill", length=length)
        assert answer[0] == code
        assert isinstance(answer[2]["error"], str)
        _still_serving(server, system)

    def test_two_content_lengths_or_a_chunked_body_are_refused(self, server, system):
        body = _json(reason="x")
        twice = (f"Content-Length: {len(body)}",)
        assert _request(server.port, "POST", "/kill", body=body, headers=twice)[0] == 400
        chunked = ("Transfer-Encoding: chunked",)
        assert _request(server.port, "POST", "/kill", length=None, headers=chunked)[0] == 411
        _still_serving(server, system)

    def test_a_20_megabyte_reason_is_refused_without_being_read(self, server, system):
        # the answer comes although only the first kilobyte of the 20 MB was sent
        start = b'{"reason": "' + b"x" * 1000
        code, _, answer = _request(server.port, "POST", "/kill", body=start, length=str(20_000_000))
        assert code == 413
        assert str(MAX_BODY) in answer["error"]
        _still_serving(server, system)


class TestFields:
    """Bounded, printable, one line; the request does nothing when refused."""

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            (_json(reason="x" * (MAX_REASON + 1)), "longer than 1024"),
            (_json(reason="two\nlines"), "printable"),
            (_json(reason="\x1b[2J"), "printable"),
            (_json(reason="  "), "empty"),
            (_json(reason="x", state="sideways"), "sideways"),
            (_json(reason="x", extra="y"), "extra"),
            (b'{"reason": 1}', "str"),
            (b"not json", "JSON"),
            (b"", "empty"),
        ],
    )
    def test_a_bad_kill_is_refused_with_400(self, server, system, body, error):
        code, _, answer = _request(server.port, "POST", "/kill", body=body)
        assert code == 400
        assert error in answer["error"]
        _still_serving(server, system)

    def test_a_reason_of_the_maximum_length_is_accepted(self, server, system):
        code, _, _ = _request(server.port, "POST", "/kill", body=_json(reason="x" * MAX_REASON))
        assert code == 200
        assert system.gate.state is TradingState.HALTED

    @pytest.mark.parametrize(
        ("fields", "error"),
        [
            ({"by": "x" * (MAX_BY + 1), "reason": "ok"}, "by is longer than 128"),
            ({"by": "alice\r\nX-Forged: 1", "reason": "ok"}, "by must be one line"),
            ({"by": "", "reason": "ok"}, "by is empty"),
            ({"by": "alice", "reason": "r" * (MAX_REASON + 1)}, "reason is longer"),
        ],
    )
    def test_a_bad_reset_is_refused_with_400(self, server, system, fields, error):
        system.kill("halted", to=TradingState.HALTED)
        body = msgspec.json.encode(fields)
        code, _, answer = _request(
            server.port, "POST", "/reset", body=body, headers=(_bearer(server.token),)
        )
        assert code == 400
        assert error in answer["error"]
        _still_serving(server, system, "halted")

    def test_a_reset_that_does_not_lower_the_state_is_a_conflict(self, server, system):
        body = _json(by="alice", reason="checked")
        code, _, answer = _request(
            server.port, "POST", "/reset", body=body, headers=(_bearer(server.token),)
        )
        assert code == 409
        assert "lower" in answer["error"]


class TestToken:
    """Reset needs the token; kill and status do not (docs/embedding.md argues it)."""

    def _reset(self, server: ControlServer, *headers: str) -> tuple[int, dict[str, str], Any]:
        body = _json(by="alice", reason="checked")
        return _request(server.port, "POST", "/reset", body=body, headers=headers)

    def test_a_reset_without_the_token_is_refused_with_401(self, server, system):
        system.kill("halted", to=TradingState.HALTED)
        code, headers, answer = self._reset(server)
        assert code == 401
        assert headers["www-authenticate"].startswith("Bearer")
        assert "token" in answer["error"]
        _still_serving(server, system, "halted")

    @pytest.mark.parametrize(
        "header",
        [
            "Authorization: Bearer wrong-token-of-enough-length",
            "Authorization: Bearer ",
            "Authorization: Basic {token}",
            "Authorization: {token}",
        ],
    )
    def test_a_reset_with_a_wrong_token_is_refused_with_403(self, server, system, header):
        system.kill("halted", to=TradingState.HALTED)
        code, _, answer = self._reset(server, header.format(token=server.token))
        assert code == 403
        assert server.token not in answer["error"]
        _still_serving(server, system, "halted")

    def test_a_reset_with_the_token_works(self, server, system):
        system.kill("halted", to=TradingState.HALTED)
        code, _, answer = self._reset(server, _bearer(server.token))
        assert (code, answer) == (200, {"changed": True, "state": "active"})
        assert system.gate.history[-1].reason == "alice: checked"

    def test_call_control_sends_the_token(self, server, system):
        system.kill("halted", to=TradingState.HALTED)
        body = {"by": "alice", "reason": "checked", "state": "reducing"}
        assert call_control(server.url, "/reset", body, token=server.token) == {
            "changed": True,
            "state": "reducing",
        }
        with pytest.raises(urllib.error.HTTPError) as refused:
            call_control(server.url, "/reset", body, token="x" * 43)
        assert refused.value.code == 403
        refused.value.close()

    def test_a_kill_needs_no_token(self, server, system):
        code, _, answer = _request(server.port, "POST", "/kill", body=_json(reason="red button"))
        assert (code, answer) == (200, {"changed": True, "state": "halted"})

    def test_each_server_generates_its_own_long_token(self, system):
        first, second = ControlServer(system), ControlServer(system)
        try:
            assert first.token != second.token
            assert len(first.token) >= 32
        finally:
            first.close()
            second.close()

    def test_a_generated_token_never_starts_with_a_dash(self, monkeypatch):
        # one that did was taken for an option: `reset --token -x...` failed (1 in 64)
        from tradeactors.trading import control

        drawn = iter(["-starts-with-a-dash" + "x" * 30, "a-fine-one" + "x" * 33])
        monkeypatch.setattr(control.secrets, "token_urlsafe", lambda _n: next(drawn))
        assert control._new_token() == "a-fine-one" + "x" * 33

    def test_a_weak_given_token_is_refused_without_echoing_it(self, system):
        with pytest.raises(ConfigError) as refused:
            ControlServer(system, token="hunter2")  # noqa: S106 - the point
        assert "hunter2" not in str(refused.value)

    def test_the_token_never_reaches_the_logs_or_the_answers(self, server, system):
        token = server.token
        with capture_logs() as logs:
            answers = [
                self._reset(server),
                self._reset(server, "Authorization: Bearer " + token[::-1]),
                self._reset(server, _bearer(token)),  # 409: active already
                _request(server.port, "GET", "/status", host="evil.example"),
            ]
            system.kill("halted", to=TradingState.HALTED)
            answers.append(self._reset(server, _bearer(token)))
        assert [code for code, _, _ in answers] == [401, 403, 409, 421, 200]
        assert any(entry["event"] == "control_request_refused" for entry in logs)
        assert token not in repr(logs)
        assert token not in repr(answers)


class TestOtherRefusals:
    """Browsers, wrong paths and methods, a failing system: JSON errors, still serving."""

    def test_cross_origin_and_non_json_posts_are_refused(self, server, system):
        body = _json(reason="csrf")
        origin = ("Origin: http://evil.example",)
        assert _request(server.port, "POST", "/kill", body=body, headers=origin)[0] == 403
        assert _request(server.port, "GET", "/status", headers=origin)[0] == 403
        assert (
            _request(server.port, "POST", "/kill", body=body, content_type="text/plain")[0] == 415
        )
        _still_serving(server, system)

    def test_unknown_paths_and_wrong_methods(self, server, system):
        assert _request(server.port, "GET", "/nothing")[0] == 404
        code, headers, _ = _request(server.port, "GET", "/kill")
        assert (code, headers["allow"]) == (405, "POST")
        assert _request(server.port, "POST", "/status", body=b"{}")[0] == 405
        code, _, answer = _request(server.port, "DELETE", "/status")
        assert code == 501
        assert "DELETE" in answer["error"]
        # an absolute-form target does not smuggle another authority past the Host check
        assert _request(server.port, "GET", "http://evil.example/status")[0] == 404
        _still_serving(server, system)

    def test_a_system_that_does_not_answer_is_a_503(self, server, system):
        system.status_error = TimeoutError("order manager busy")
        code, _, answer = _request(server.port, "GET", "/status")
        assert code == 503
        assert "did not answer" in answer["error"]
        system.status_error = None
        _still_serving(server, system)

    def test_it_listens_on_loopback_only(self, system):
        with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
            ControlServer(system, host="0.0.0.0")  # noqa: S104 - the point


class TestSlowClients:
    """A client that sends half a request holds one thread, and only until its deadline."""

    def test_a_half_sent_request_does_not_stop_another_client(self, server, system):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
            slow.sendall(f"GET /status HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode())
            # served while the slow one waits (call_control gives up after 5 s)
            assert call_control(server.url, "/status", timeout=5)["state"] == "active"
            code, _, _ = _request(server.port, "POST", "/kill", body=_json(reason="x"))
            assert code == 200

    def test_a_client_that_never_finishes_its_headers_is_dropped(self, system):
        server = ControlServer(system, read_timeout=0.2)
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
                slow.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                assert slow.recv(1024) == b""  # closed by the server long before 10 s
            _still_serving(server, system)
        finally:
            server.close()

    def test_a_client_that_never_finishes_its_body_gets_408(self, system):
        server = ControlServer(system, read_timeout=0.2)
        try:
            head = (
                f"POST /kill HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            )
            code, _, answer = _send(server.port, head.encode() + b'{"reason": ')
            assert code == 408
            assert "0.2 s" in answer["error"]
            _still_serving(server, system)
        finally:
            server.close()

    def test_the_deadline_holds_however_the_bytes_trickle_in(self):
        # a byte per recv does not extend it: each read asks how long is left
        left, right = socket.socketpair()
        with left, right:
            right.sendall(b"GET")
            reader = _DeadlineReader(left, deadline=0.0)  # long past
            with pytest.raises(TimeoutError):
                reader.readinto(bytearray(10))
