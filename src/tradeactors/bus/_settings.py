"""Where the bus is and how long to wait for it: URL parsing and a fail-fast client.

redis-py 8's defaults (5 s socket and connect timeouts, retries with exponential
backoff) hide a partition for up to a minute; older versions had no socket timeout
at all. `BusSettings` sets both timeouts and a bounded retry explicitly, so an
unreachable server shows within ``connect_timeout`` (or ``socket_timeout``) times
``1 + retries``, plus the backoff: about a second with the defaults.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import msgspec

from tradeactors.errors import BusUrlError

__all__ = [
    "BusEndpoint",
    "BusSettings",
    "check_reachable",
    "connect",
    "parse_bus_url",
    "redact_url",
]

_SCHEMES = ("redis",)
_DEFAULT_PORT = 6379


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: the only form ever logged.

    The userinfo is everything between ``://`` and the last ``@`` (a password may hold
    ``/``, ``?`` or ``#``, which a URL parser reads as the path, query or fragment); a
    userinfo without ``:`` is hidden whole (it may be a password alone).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}://{f'{user}:***' if colon else '***'}@{host}"


class BusEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed ``redis://[user[:password]@]host[:port][/db]`` URL.

    ``repr`` and `redacted` never show the password.
    """

    host: str
    port: int = _DEFAULT_PORT
    db: int = 0
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return f"BusEndpoint({self.redacted!r})"

    @property
    def redacted(self) -> str:
        """The URL, with ``***`` for the password."""
        userinfo = ""
        if self.password is not None:
            userinfo = f"{self.username or ''}:***@"
        elif self.username is not None:  # alone, it may be a password written without ':'
            userinfo = "***@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{userinfo}{host}:{self.port}/{self.db}"


def parse_bus_url(url: str) -> BusEndpoint:
    """Parse a bus URL (``redis://host:port/db``; port 6379 and db 0 by default).

    Raises:
        BusUrlError: not a ``redis://`` URL, no host, a bad port or database number,
            or a query/fragment (not supported). The message shows the URL redacted.

    """
    shown = redact_url(url)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BusUrlError(f"bus URL {shown!r}: {exc}") from None
    if parts.scheme not in _SCHEMES:
        raise BusUrlError(f"bus URL {shown!r}: expected redis://host:port/db")
    if not parts.hostname:
        raise BusUrlError(f"bus URL {shown!r}: no host (expected redis://host:port/db)")
    if parts.query or parts.fragment:
        raise BusUrlError(f"bus URL {shown!r}: query parameters are not supported")
    path = parts.path.strip("/")
    if path and not (path.isascii() and path.isdigit()):
        raise BusUrlError(f"bus URL {shown!r}: the database must be a number, not {path!r}")
    return BusEndpoint(
        host=parts.hostname,
        port=_DEFAULT_PORT if port is None else port,
        db=int(path) if path else 0,
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password is not None else None,
    )


class BusSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a host talks to the bus. Times in seconds unless named ``_ms``.

    ``socket_timeout`` bounds every reply (a blocking read waits ``block_ms`` on the
    server, which must be below it); ``connect_timeout`` bounds a connect; ``retries``
    is how many times redis-py retries a command that failed on the connection (with
    ``retry_backoff`` between), so a dead server is reported after about
    ``(1 + retries) * connect_timeout``. While the bus is down, bridges try again every
    ``reconnect_interval``.
    """

    url: str = "redis://127.0.0.1:6379/0"
    socket_timeout: float = 1.0
    connect_timeout: float = 0.5
    retries: int = 1
    retry_backoff: float = 0.05
    reconnect_interval: float = 0.25
    block_ms: int = 200
    batch: int = 100  # entries a bridge reads per call
    claim_min_idle_ms: int = 5_000  # a consumer's pending entry idle this long is claimed
    max_entry_bytes: int = 1 << 20  # larger entries are refused (publish) or dropped (read)
    market_data_maxlen: int = 10_000  # MAXLEN ~ of market-data streams
    outbox_limit: int = 10_000  # entries held while the bus is down; the oldest dropped beyond
    seen_ids: int = 100_000  # message ids remembered to drop repeats
    stats_interval: float = 1.0  # how often bridges refresh pending and lag

    def __post_init__(self) -> None:
        parse_bus_url(self.url)
        for name in ("socket_timeout", "connect_timeout", "reconnect_interval", "stats_interval"):
            if getattr(self, name) <= 0:
                raise BusUrlError(f"bus settings: {name} must be > 0")
        if self.retries < 0 or self.retry_backoff < 0:
            raise BusUrlError("bus settings: retries and retry_backoff must be >= 0")
        if not 0 < self.block_ms < self.socket_timeout * 1000:
            raise BusUrlError(
                f"bus settings: block_ms ({self.block_ms}) must be > 0 and below "
                f"socket_timeout ({self.socket_timeout} s), or every idle read times out"
            )
        for name in ("batch", "max_entry_bytes", "market_data_maxlen", "outbox_limit", "seen_ids"):
            if getattr(self, name) < 1:
                raise BusUrlError(f"bus settings: {name} must be >= 1")
        if self.claim_min_idle_ms < 0:
            raise BusUrlError("bus settings: claim_min_idle_ms must be >= 0")

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={redact_url(value) if name == 'url' else value!r}"
            for name, value in msgspec.structs.asdict(self).items()
        )
        return f"BusSettings({fields})"

    @property
    def endpoint(self) -> BusEndpoint:
        """The parsed URL."""
        return parse_bus_url(self.url)


def connect(settings: BusSettings, *, client_name: str | None = None) -> Any:
    """A redis-py client with the settings' timeouts and bounded retry (no I/O yet).

    Returns a ``redis.Redis`` (typed Any: redis-py's command methods are not typed).
    Each actor makes its own: a blocking read holds its connection.
    """
    import redis  # noqa: PLC0415 - redis-py only where a bus is used
    from redis.backoff import ConstantBackoff  # noqa: PLC0415
    from redis.retry import Retry  # noqa: PLC0415

    endpoint = settings.endpoint
    return redis.Redis(
        host=endpoint.host,
        port=endpoint.port,
        db=endpoint.db,
        username=endpoint.username,
        password=endpoint.password,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        retry=Retry(ConstantBackoff(settings.retry_backoff), settings.retries),
        health_check_interval=0,
        client_name=client_name,
        single_connection_client=False,
    )


def check_reachable(settings: BusSettings) -> None:
    """PING the bus once, within the settings' timeouts.

    Raises:
        BusUnavailableError: Redis did not answer (the message names the URL, redacted).

    """
    from tradeactors.bus._common import redis_errors  # noqa: PLC0415
    from tradeactors.errors import BusUnavailableError  # noqa: PLC0415

    client = connect(settings, client_name="tradeactors-check")
    try:
        client.ping()
    except redis_errors() as exc:
        raise BusUnavailableError(
            f"cannot reach the bus at {settings.endpoint.redacted}: {exc}"
        ) from None
    finally:
        client.close()
