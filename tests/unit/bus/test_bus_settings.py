from __future__ import annotations

import pytest

from tradeactors.bus import BusEndpoint, BusSettings, parse_bus_url, redact_url
from tradeactors.errors import BusUrlError, ConfigError


class TestUrls:
    """redis://host:port/db, with clear errors and never a password shown."""

    def test_host_port_and_db_are_read(self):
        assert parse_bus_url("redis://10.0.0.5:6380/2") == BusEndpoint(
            host="10.0.0.5", port=6380, db=2
        )

    def test_port_and_db_have_defaults(self):
        assert parse_bus_url("redis://bus.internal") == BusEndpoint(host="bus.internal")
        assert parse_bus_url("redis://bus.internal/") == BusEndpoint(host="bus.internal")

    def test_user_and_password_are_read_and_unquoted(self):
        endpoint = parse_bus_url("redis://trader:p%40ss@127.0.0.1:6379/0")
        assert endpoint.username == "trader"
        assert endpoint.password == "p@ss"

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("http://127.0.0.1:6379/0", "expected redis://host:port/db"),
            ("127.0.0.1:6379", "expected redis://host:port/db"),
            ("redis://:6379/0", "no host"),
            ("redis://127.0.0.1:99999/0", "Port out of range"),
            ("redis://127.0.0.1:port/0", "Port could not be cast"),
            ("redis://127.0.0.1:6379/zero", "must be a number"),
            ("redis://127.0.0.1:6379/0?timeout=1", "query parameters"),
        ],
    )
    def test_a_bad_url_is_a_clear_config_error(self, url, message):
        with pytest.raises(BusUrlError, match=message) as caught:
            parse_bus_url(url)
        assert isinstance(caught.value, ConfigError)

    @pytest.mark.parametrize(
        "url",
        [
            "redis://trader:hunter2@127.0.0.1:99999/0",
            "redis://trader:hunter2@127.0.0.1:6379/zero",
            "http://trader:hunter2@127.0.0.1:6379/0",
            "redis://trader:hunter2@127.0.0.1:port/0",
        ],
    )
    def test_the_password_never_appears_in_an_error(self, url):
        with pytest.raises(BusUrlError) as caught:
            parse_bus_url(url)
        assert "hunter2" not in str(caught.value)
        assert "***" in str(caught.value)

    def test_redaction_keeps_everything_but_the_password(self):
        assert redact_url("redis://u:hunter2@h:1/3") == "redis://u:***@h:1/3"
        assert redact_url("redis://:hunter2@h:1/3") == "redis://:***@h:1/3"
        assert redact_url("redis://h:1/3") == "redis://h:1/3"

    def test_repr_of_endpoint_and_settings_hide_the_password(self):
        url = "redis://u:hunter2@h:1/3"
        assert "hunter2" not in repr(parse_bus_url(url))
        assert "hunter2" not in repr(BusSettings(url=url))
        assert "redis://u:***@h:1/3" in repr(BusSettings(url=url))


class TestSettings:
    """Timeouts are explicit and consistent."""

    def test_defaults_fail_fast(self):
        settings = BusSettings()
        assert settings.socket_timeout <= 1.0
        assert (1 + settings.retries) * settings.connect_timeout <= 2.0
        assert settings.block_ms < settings.socket_timeout * 1000

    def test_a_block_longer_than_the_socket_timeout_is_refused(self):
        with pytest.raises(BusUrlError, match="block_ms"):
            BusSettings(block_ms=1500, socket_timeout=1.0)

    @pytest.mark.parametrize(
        "overrides",
        [
            {"socket_timeout": 0},
            {"connect_timeout": -1},
            {"retries": -1},
            {"batch": 0},
            {"seen_ids": 0},
            {"url": "redis://"},
        ],
    )
    def test_bad_values_are_refused(self, overrides):
        with pytest.raises(BusUrlError):
            BusSettings(**overrides)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://u:pa#s3cret@127.0.0.1:1/0", "redis://u:***@127.0.0.1:1/0"),
        ("redis://u:p/a?s3cret@host:6379/2", "redis://u:***@host:6379/2"),
        ("redis://s3cret@host", "redis://***@host"),  # a password alone
        ("redis://:s3cret@host/1", "redis://:***@host/1"),
        ("redis://host:6379/0", "redis://host:6379/0"),
    ],
)
def test_a_password_never_shows_whatever_it_holds(url, shown):
    assert redact_url(url) == shown
    try:
        said = repr(parse_bus_url(url)) + parse_bus_url(url).redacted
    except BusUrlError as exc:  # a password with / ? # must be percent-encoded
        said = str(exc)
    assert "s3cret" not in said
