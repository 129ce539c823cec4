"""The control token: its 0600 file, where `reset` looks for it, where it is never sent."""

from __future__ import annotations

import os
import stat
import urllib.error

import pytest

from tradeactors.errors import ConfigError
from tradeactors.trading.control import (
    CONTROL_TOKEN_ENV,
    ControlServer,
    call_control,
    default_token_file,
    find_control_token,
    read_token,
    token_from_environment,
)

pytestmark = pytest.mark.supervision  # starts a server: run again under gevent

TOKEN = "t" * 43


class _NoSystem:
    """The token file needs no system: nothing here sends a request."""


@pytest.fixture
def server():
    control = ControlServer(_NoSystem(), token=TOKEN)  # type: ignore[arg-type]
    try:
        yield control
    finally:
        control.close()


@pytest.fixture
def state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv(CONTROL_TOKEN_ENV, raising=False)
    return tmp_path / "state"


def _mode(path: os.PathLike[str]) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


class TestTokenFile:
    """Mode 0600 from the first byte, replaced atomically, removed by close."""

    def test_the_token_file_is_0600_and_holds_the_token(self, server, tmp_path):
        path = server.write_token(tmp_path / "token")
        assert _mode(path) == 0o600
        assert path.read_text() == TOKEN + "\n"
        assert read_token(path) == TOKEN
        assert server.token_file == path

    def test_it_is_0600_even_under_a_permissive_umask(self, server, tmp_path):
        previous = os.umask(0)
        try:
            path = server.write_token(tmp_path / "token")
        finally:
            os.umask(previous)
        assert _mode(path) == 0o600

    def test_by_default_it_goes_to_the_state_directory_by_port(self, server, state_home):
        path = server.write_token()
        assert path == state_home / "tradeactors" / f"control-{server.port}.token"
        assert path == default_token_file(server.port)
        assert _mode(path.parent) == 0o700
        assert _mode(path) == 0o600

    def test_a_stale_file_is_replaced_and_a_link_is_not_written_through(self, server, tmp_path):
        victim = tmp_path / "victim"
        victim.write_text("do not touch")
        link = tmp_path / "token"
        link.symlink_to(victim)
        path = server.write_token(link)
        assert not path.is_symlink()
        assert read_token(path) == TOKEN
        assert victim.read_text() == "do not touch"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["token", "victim"]  # no temp left

    def test_close_removes_the_file(self, tmp_path):
        control = ControlServer(_NoSystem(), token=TOKEN)  # type: ignore[arg-type]
        path = control.write_token(tmp_path / "token")
        control.close()
        assert not path.exists()
        assert control.token_file is None

    def test_close_leaves_a_file_another_run_has_replaced(self, tmp_path):
        control = ControlServer(_NoSystem(), token=TOKEN)  # type: ignore[arg-type]
        path = control.write_token(tmp_path / "token")
        path.write_text("u" * 43)
        control.close()
        assert read_token(path) == "u" * 43

    def test_an_unwritable_directory_is_an_os_error(self, server, tmp_path):
        (tmp_path / "file").write_text("")
        with pytest.raises(OSError):  # noqa: PT011 - whichever OSError the OS gives
            server.write_token(tmp_path / "file" / "token")


class TestFindingTheToken:
    """--token, then --token-file, then the environment, then the run's default file."""

    URL = "http://127.0.0.1:40123"

    def test_nothing_found_is_none(self, state_home):
        assert find_control_token(self.URL) is None

    def test_the_order_of_the_sources(self, state_home, tmp_path, monkeypatch):
        default = default_token_file(40123)
        default.parent.mkdir(parents=True)
        default.write_text("d" * 20 + "\n")
        assert find_control_token(self.URL) == "d" * 20
        monkeypatch.setenv(CONTROL_TOKEN_ENV, "e" * 20)
        assert find_control_token(self.URL) == "e" * 20
        given = tmp_path / "given"
        given.write_text("f" * 20)
        assert find_control_token(self.URL, token_file=given) == "f" * 20
        assert find_control_token(self.URL, token="g" * 20, token_file=given) == "g" * 20

    def test_the_default_file_is_the_one_of_the_urls_port(self, state_home):
        default = default_token_file(40124)
        default.parent.mkdir(parents=True)
        default.write_text("d" * 20)
        assert find_control_token(self.URL) is None

    def test_a_relative_state_home_is_ignored_as_the_spec_says(self, monkeypatch):
        monkeypatch.setenv("XDG_STATE_HOME", "relative/state")
        assert default_token_file(1).parts[-4:] == (
            ".local",
            "state",
            "tradeactors",
            "control-1.token",
        )

    @pytest.mark.parametrize("url", ["127.0.0.1:40123", "http://127.0.0.1", "http://h:99999"])
    def test_a_malformed_url_is_a_value_error(self, state_home, url):
        with pytest.raises(ValueError, match="control URL"):
            find_control_token(url)

    @pytest.mark.parametrize("bad", ["short", "x" * 300, "spaces in the token 1234", "é" * 20])
    def test_a_malformed_token_is_refused_without_echoing_it(self, state_home, monkeypatch, bad):
        monkeypatch.setenv(CONTROL_TOKEN_ENV, bad)
        with pytest.raises(ConfigError) as refused:
            token_from_environment()
        assert bad not in str(refused.value)
        assert CONTROL_TOKEN_ENV in str(refused.value)

    def test_an_unreadable_token_file_is_an_os_error(self, state_home, tmp_path):
        with pytest.raises(FileNotFoundError):
            find_control_token(self.URL, token_file=tmp_path / "missing")


class TestWhereTheTokenGoes:
    """Only to loopback: no other host, no proxy, no redirect."""

    def test_a_token_is_never_sent_to_another_host(self):
        with pytest.raises(ValueError, match="only ever sent"):
            call_control("http://192.0.2.1:80", "/reset", {"by": "a"}, token=TOKEN)

    def test_a_proxy_in_the_environment_is_not_used(self, server, monkeypatch):
        # the proxy is a closed port: had it been used, this would be a URLError
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        with pytest.raises(urllib.error.HTTPError) as answered:
            call_control(server.url, "/status")  # _NoSystem has no status(): 503
        assert answered.value.code == 503
        answered.value.close()
