"""A small HTTP control endpoint on loopback for a running `TradingSystem`.

``tradeactors run`` serves it (the URL is printed) so that ``tradeactors kill``,
``tradeactors reset`` and ``tradeactors status`` can act on a running system from
another terminal:

- ``GET /status``: the `Status` as JSON, plus ``kill_switch_scopes`` (each scope's state);
- ``POST /kill`` with ``{"reason": ..., "state": "halted"|"reducing"}``;
- ``POST /reset`` with ``{"by": ..., "reason": ..., "state": "active"|"reducing"}`` and
  ``Authorization: Bearer TOKEN``;
- ``GET /strategies``: every strategy (`StrategyInfo`) as a JSON list;
- ``GET /orders``: the order manager's `OrdersReport` (every order it knows, with its
  client order id, owner and status; positions; reconciliations) as JSON;
- ``POST /strategies/add`` with ``{"name": ..., "class": ..., "instruments": [...],
  "params": {...}, "intensity": ..., "period": ..., "risk": {...}}`` (only ``name``
  and ``class`` needed; ``risk`` its own limits, the keys of ``[[strategies]] risk``)
  and the token: `TradingSystem.add_strategy`; the class is imported by the running
  system, from its ``sys.path``;
- ``POST /strategies/remove`` with ``{"name": ...}`` and the token:
  `TradingSystem.remove_strategy` (its orders cancelled first).

``/kill`` and ``/reset`` take ``"strategy": NAME`` or ``"venue": NAME`` to act on that
kill-switch scope only (neither: ``all``); the answer then adds ``scope`` and
``scope_state``. A scope naming no strategy or venue of the system is 404, both at once
or a malformed name 400.

Every answer is JSON, an error is ``{"error": ...}`` with its status code. What it
refuses, in the order it checks (docs/embedding.md argues the choices):

- a ``Host`` other than ``127.0.0.1:PORT``, ``localhost:PORT`` or ``[::1]:PORT``: 421,
  on every request (a DNS-rebinding page names its own host);
- an ``Origin`` header: 403 (browsers send it, the CLI and curl do not);
- an unknown path 404, a wrong method 405;
- ``/reset`` and ``/strategies/add|remove`` without the token 401, with a wrong one
  403 (compared in constant time);
- a POST that is not ``application/json`` 415; without ``Content-Length`` (or chunked)
  411; a ``Content-Length`` that is not a decimal number 400; over `MAX_BODY` 413,
  all before reading the body; a body that does not arrive in time 408;
- a body that is not the JSON above, a ``reason`` over `MAX_REASON` or a ``by`` over
  `MAX_BY` characters, empty or not printable: 400; a reset that does not lower the
  state: 409; a strategy that cannot be added (a name taken, an instrument not
  configured, a class that does not load, bad parameters, a limit unknown or not
  finite and positive, or not an integer >= 1 where one is counted): 400; one that failed to
  start: 422; removing a strategy of no such name: 404.

Each request must arrive whole within ``read_timeout`` seconds, one thread per
connection, so a client that sends half a request holds only its own thread, and
only that long. ``/status``, ``/strategies``, ``/orders`` and ``/kill`` need no token:
a kill is the safe direction. Adding a strategy runs code the running system imports: it needs the
token.
"""

from __future__ import annotations

import hmac
import http.server
import io
import os
import secrets
import sys
import threading
import time
import urllib.parse
import urllib.request
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import msgspec
import structlog

from tradeactors._state import live_runs, state_home
from tradeactors.core.killswitch import ALL, parse_scope, strategy_scope, venue_scope
from tradeactors.core.risk import TradingState
from tradeactors.errors import (
    ChildStartError,
    ConfigError,
    UnknownScopeError,
    UnknownStrategyError,
)

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Mapping
    from email.message import Message

    from tradeactors.trading.system import TradingSystem

__all__ = [
    "CONTROL_TOKEN_ENV",
    "MAX_BODY",
    "MAX_BY",
    "MAX_REASON",
    "ControlServer",
    "call_control",
    "default_token_file",
    "find_control_token",
    "read_token",
    "token_from_environment",
]

MAX_BODY = 64 * 1024
"""Bytes a POST body may have (``Content-Length``); more is 413, unread."""
MAX_REASON = 1024
"""Characters of a kill's or a reset's ``reason``."""
MAX_BY = 128
"""Characters of a reset's ``by``."""
CONTROL_TOKEN_ENV = "TRADEACTORS_CONTROL_TOKEN"  # noqa: S105 - a variable's name
"""The environment variable that gives the token to ``run`` and to ``reset``."""

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_TOKEN_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
)
_MIN_TOKEN = 16
_MAX_TOKEN = 256
_MAX_ANSWER = 1 << 20  # what call_control reads of an answer
_T = TypeVar("_T")


class _Kill(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: str
    state: Literal["halted", "reducing"] = "halted"
    strategy: str | None = None
    venue: str | None = None


class _Reset(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    by: str
    reason: str
    state: Literal["active", "reducing"] = "active"
    strategy: str | None = None
    venue: str | None = None


class _AddStrategy(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    class_: str = msgspec.field(name="class")
    instruments: list[str] | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    intensity: int | None = None
    period: float | None = None
    risk: dict[str, Any] | None = None  # checked by add_strategy, as the config checks it


class _RemoveStrategy(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    timeout: float = 10.0  # seconds its orders have to be cancelled


_KILL = msgspec.json.Decoder(_Kill)
_RESET = msgspec.json.Decoder(_Reset)
_ADD_STRATEGY = msgspec.json.Decoder(_AddStrategy)
_REMOVE_STRATEGY = msgspec.json.Decoder(_RemoveStrategy)
_ROUTES = {
    "/status": "GET",
    "/kill": "POST",
    "/reset": "POST",
    "/strategies": "GET",
    "/orders": "GET",
    "/strategies/add": "POST",
    "/strategies/remove": "POST",
}
_WITH_TOKEN = ("/reset", "/strategies/add", "/strategies/remove")
MAX_REMOVE_TIMEOUT = 60.0
"""Seconds a remove may wait for its strategy's orders to be cancelled, at most."""


class _RefusedError(Exception):
    """A request the endpoint answers with ``code`` and ``{"error": error}``."""

    def __init__(self, code: int, error: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(error)
        self.code = code
        self.error = error
        self.headers = headers


class _ClientGoneError(Exception):
    """The client's connection failed while its request was read."""


def _new_token() -> str:
    """A fresh token (256 random bits, URL-safe), never starting with ``-``.

    One that did (1 in 64) was taken by the command line's parser for an option:
    ``tradeactors reset --token -x...`` failed with "expected one argument".
    """
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


def _check_token(token: str, where: str) -> str:
    if not _MIN_TOKEN <= len(token) <= _MAX_TOKEN or not set(token) <= _TOKEN_CHARACTERS:
        # never echo the token, not even a wrong one
        raise ConfigError(
            f"{where}: a control token is {_MIN_TOKEN} to {_MAX_TOKEN} characters of "
            "A-Z a-z 0-9 - . _ ~ + / ="
        )
    return token


def token_from_environment(environ: Mapping[str, str] = os.environ) -> str | None:
    """The token ``$TRADEACTORS_CONTROL_TOKEN`` gives, or None if it is unset or empty.

    Raises:
        ConfigError: it is set but too short, too long or has other characters than
            the base64/URL-safe alphabet (the message does not include it).

    """
    token = environ.get(CONTROL_TOKEN_ENV, "").strip()
    return _check_token(token, f"${CONTROL_TOKEN_ENV}") if token else None


def default_token_file(port: int) -> Path:
    """Where `ControlServer.write_token` writes the token of the endpoint on ``port``.

    ``$XDG_STATE_HOME/tradeactors/control-PORT.token`` (``~/.local/state`` when
    ``XDG_STATE_HOME`` is unset or relative): one file per port, so ``tradeactors reset
    --url`` finds the token of a host's endpoint without being told. ``tradeactors
    run`` writes its token to its run's directory instead (`tradeactors._state`).
    """
    return state_home() / f"control-{port}.token"


def read_token(path: str | os.PathLike[str]) -> str:
    """The token in the file at ``path`` (what `ControlServer.write_token` wrote).

    Raises:
        OSError: the file cannot be read.
        ConfigError: it holds no valid token (the message does not include it).

    """
    return _check_token(Path(path).read_text(encoding="ascii", errors="replace").strip(), str(path))


def find_control_token(
    url: str,
    *,
    token: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] = os.environ,
    state_dir: str | os.PathLike[str] | None = None,
) -> str | None:
    """The token for the endpoint at ``url``, as ``tradeactors reset`` looks for it.

    In order: ``token``; the file ``token_file``; ``$TRADEACTORS_CONTROL_TOKEN``; the
    token of the live ``tradeactors run`` in ``state_dir`` (default: `state_home`)
    whose control URL is on the URL's port; the `default_token_file` of that port if
    it exists. None if none of these gives one.

    Raises:
        ValueError: ``url`` is not ``http://HOST:PORT``.
        OSError: ``token_file`` cannot be read.
        ConfigError: the token found is malformed.

    """
    if token is not None:
        return _check_token(token, "--token")
    if token_file is not None:
        return read_token(token_file)
    from_environment = token_from_environment(environ)
    if from_environment is not None:
        return from_environment
    port = _control_address(url)[1]
    try:
        directory = Path(state_dir) if state_dir is not None else state_home(environ)
    except OSError:  # no home: no state directory to look in
        return None
    for run in live_runs(directory):
        if _port_of(run.info.control_url) == port and run.token_file.is_file():
            return read_token(run.token_file)
    default = directory / f"control-{port}.token"
    return read_token(default) if default.is_file() else None


def _port_of(url: str) -> int | None:
    try:
        return urllib.parse.urlsplit(url).port
    except ValueError:
        return None


class _DeadlineReader(io.RawIOBase):
    """A socket's reads that fail with `TimeoutError` once ``deadline`` has passed."""

    def __init__(self, connection: socket.socket, deadline: float) -> None:
        self._connection = connection
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._connection.settimeout(left)
        return self._connection.recv_into(buffer)


class _Server(http.server.ThreadingHTTPServer):
    """One daemon thread per connection; `server_close` waits for them."""

    daemon_threads = True
    block_on_close = True  # after close() no request acts on the system any more

    def __init__(
        self, address: tuple[str, int], control: ControlServer, read_timeout: float
    ) -> None:
        self.control = control
        self.read_timeout = read_timeout
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002
        # A client that resets its connection gets here (nothing to answer), and a bug
        # would: one log line for the bug, not a traceback on the run's terminal.
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            structlog.get_logger("tradeactors.control").error(
                "control_request_failed", error=repr(error)[:300]
            )


class _Handler(http.server.BaseHTTPRequestHandler):
    """One connection, one request (HTTP/1.0), read against a deadline."""

    server_version = "tradeactors-control"
    server: _Server

    def version_string(self) -> str:
        """``Server: tradeactors-control``, no Python version."""
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket counts its files: close the one we replace
        deadline = time.monotonic() + self.server.read_timeout
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline))

    def _read(self, length: int) -> bytes:
        try:
            return self.rfile.read(length)
        except TimeoutError as exc:
            limit = self.server.read_timeout
            raise _RefusedError(408, f"the request took more than {limit:g} s") from exc
        except OSError as exc:
            raise _ClientGoneError from exc

    def _serve(self, method: str) -> None:
        control = self.server.control
        extra: tuple[tuple[str, str], ...] = ()
        try:
            code: int = 200
            answer = control._answer(method, self.path.partition("?")[0], self.headers, self._read)
        except _RefusedError as refused:
            code, answer, extra = refused.code, {"error": refused.error}, refused.headers
            # a wrong token or Host is someone trying: a warning; never the token
            log = control._log.warning if code in (401, 403, 421) else control._log.info
            log("control_request_refused", code=code, method=method, error=refused.error)
            self.close_connection = True
        except _ClientGoneError:  # while we read its body: nobody to answer
            self.close_connection = True
            return
        except Exception as exc:  # noqa: BLE001 - the system failed: a 503, not a dead handler
            code, answer = 503, {"error": f"the trading system did not answer: {exc!r}"[:300]}
            control._log.warning("control_request_failed", error=repr(exc)[:300])
        self._send(code, answer, extra)

    def _send(self, code: int, answer: Any, extra: tuple[tuple[str, str], ...]) -> None:
        data = msgspec.json.encode(answer)
        try:
            self.connection.settimeout(self.server.read_timeout)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client went away
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (bad request line, headers too long, an unknown
        # method) answer in JSON too; their HTML explanation is dropped
        del explain
        self.close_connection = True
        self._send(code, {"error": message or HTTPStatus(code).phrase}, ())

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, *_args: Any) -> None:
        """Silent: refusals are logged by `_serve`, with fields."""


class ControlServer:
    """Serves the control endpoint of ``system`` on loopback until `close`.

    Args:
        system: what ``/status``, ``/kill`` and ``/reset`` act on.
        host: ``127.0.0.1`` or ``localhost``; anything else is refused (ValueError).
        port: 0 picks a free one.
        token: the secret ``/reset`` needs; None generates one with `secrets` (see
            `token`, `write_token`). 16 to 256 URL-safe characters.
        read_timeout: seconds a client has to send its whole request (or to take the
            answer); then its connection is dropped (a body: 408).

    """

    def __init__(
        self,
        system: TradingSystem,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        read_timeout: float = 5.0,
    ) -> None:
        if host not in _LOOPBACK_NAMES[:2]:
            raise ValueError("the control endpoint listens on 127.0.0.1 (or localhost) only")
        if not read_timeout > 0:
            raise ValueError("read_timeout must be positive")
        self._system = system
        self._token = _new_token() if token is None else _check_token(token, "token")
        self._read_timeout = read_timeout
        self._token_file: Path | None = None
        self._log = structlog.get_logger("tradeactors.control")
        self._http = _Server((host, port), self, read_timeout)
        self._hosts = frozenset(
            f"{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]")
        )
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            args=(0.05,),  # how long close() waits for the accept loop to notice
            name="control-http",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        """The secret ``POST /reset`` needs (``Authorization: Bearer TOKEN``)."""
        return self._token

    @property
    def token_file(self) -> Path | None:
        """Where `write_token` wrote the token, if it did."""
        return self._token_file

    def write_token(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the token to ``path`` (default: `default_token_file` of the port).

        The file is mode 0600 from its first byte: it is created with ``O_EXCL`` and
        0600 under a random name beside ``path``, then renamed over ``path``, so a
        reader sees no file or the whole token, and a file or link already at ``path``
        is replaced, never written through. A missing directory is created 0700.
        `close` removes the file. Returns the path.

        Raises:
            OSError: the directory or the file cannot be written.

        """
        target = default_token_file(self.port) if path is None else Path(path)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        descriptor = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as out:
                os.fchmod(out.fileno(), 0o600)  # exactly 0600, whatever the umask
                out.write(self._token + "\n")
            temporary.replace(target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._token_file = target
        return target

    def close(self) -> None:
        """Stop serving (waits for requests in progress) and remove the token file."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)
        if self._token_file is not None:
            try:  # only if it is still ours: another run may have replaced it
                if self._token_file.read_text(encoding="ascii").strip() == self._token:
                    self._token_file.unlink()
            except (OSError, UnicodeDecodeError):
                pass
            self._token_file = None

    def _answer(
        self, method: str, path: str, headers: Message, read: Callable[[int], bytes]
    ) -> Any:
        """The answer to one request; raises `_RefusedError` for every refusal."""
        hosts = headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0].strip().lower() not in self._hosts:
            raise _RefusedError(
                421, f"this endpoint answers to Host 127.0.0.1:{self.port} or localhost only"
            )
        if headers.get("Origin") is not None:
            raise _RefusedError(403, "cross-origin requests are refused")
        allowed = _ROUTES.get(path)
        if allowed is None:
            raise _RefusedError(
                404,
                "no such path: use GET /status, POST /kill, POST /reset, GET /strategies, "
                "GET /orders, POST /strategies/add, POST /strategies/remove",
            )
        if method != allowed:
            raise _RefusedError(405, f"{path} takes {allowed}", (("Allow", allowed),))
        system = self._system
        if path == "/status":
            status = msgspec.to_builtins(system.status())
            status["kill_switch_scopes"] = {
                s: state.value for s, state in system.gate.scopes().items()
            }
            return status
        if method == "GET":  # /strategies, /orders
            return system.orders() if path == "/orders" else system.strategies()
        if path in _WITH_TOKEN:
            self._authenticate(path, headers)
        body = self._body(headers, read)
        if path.startswith("/strategies/"):
            return self._change_strategies(path, body)
        if path == "/kill":
            return self._kill(body)
        return self._reset(body)

    def _reset(self, body: bytes) -> dict[str, Any]:
        system = self._system
        reset = _decode(_RESET, body)
        _check_text("by", reset.by, MAX_BY)
        _check_text("reason", reset.reason, MAX_REASON)
        scope = _scope(reset.strategy, reset.venue)
        try:
            system.reset(
                by=reset.by, reason=reset.reason, to=TradingState(reset.state), scope=scope
            )
        except UnknownScopeError as exc:
            raise _RefusedError(404, str(exc)) from exc
        except ValueError as exc:  # it does not lower the state
            raise _RefusedError(409, str(exc)) from exc
        return _changed(system, scope, changed=True)

    def _kill(self, body: bytes) -> dict[str, Any]:
        system = self._system
        kill = _decode(_KILL, body)
        _check_text("reason", kill.reason, MAX_REASON)
        scope = _scope(kill.strategy, kill.venue)
        try:
            change = system.kill(kill.reason, to=TradingState(kill.state), scope=scope)
        except UnknownScopeError as exc:
            raise _RefusedError(404, str(exc)) from exc
        return _changed(system, scope, changed=change is not None)

    def _change_strategies(self, path: str, body: bytes) -> Any:
        """``/strategies/add`` or ``/strategies/remove``: the system's answer, or a refusal."""
        system = self._system
        try:
            if path == "/strategies/add":
                add = _decode(_ADD_STRATEGY, body)
                return system.add_strategy(
                    add.name,
                    add.class_,
                    instruments=add.instruments,
                    params=add.params,
                    intensity=add.intensity,
                    period=add.period,
                    risk=add.risk,
                )
            remove = _decode(_REMOVE_STRATEGY, body)
            if not 0 < remove.timeout <= MAX_REMOVE_TIMEOUT:
                raise _RefusedError(400, f"timeout must be in (0, {MAX_REMOVE_TIMEOUT:g}] s")
            return system.remove_strategy(remove.name, timeout=remove.timeout)
        except UnknownStrategyError as exc:
            raise _RefusedError(404, str(exc)) from exc
        except ConfigError as exc:  # a name taken, an instrument, the class, its parameters
            raise _RefusedError(400, _one_line(str(exc))) from exc
        except ChildStartError as exc:  # it was refused by its own start: nothing is left
            cause: BaseException = exc
            while cause.__cause__ is not None:  # the innermost: what the strategy raised
                cause = cause.__cause__
            reason = f"{exc.path} failed to start: {type(cause).__name__}: {cause}"
            raise _RefusedError(422, _one_line(reason)) from exc

    def _authenticate(self, path: str, headers: Message) -> None:
        given = headers.get_all("Authorization") or []
        if not given:
            command = "reset" if path == "/reset" else "strategy"
            raise _RefusedError(
                401,
                f"POST {path} needs the control token (Authorization: Bearer TOKEN; "
                f"tradeactors {command} --token-file)",
                (("WWW-Authenticate", 'Bearer realm="tradeactors-control"'),),
            )
        scheme, _, presented = given[0].strip().partition(" ")
        matches = hmac.compare_digest(presented.strip().encode(), self._token.encode())
        if len(given) != 1 or scheme.lower() != "bearer" or not matches:
            raise _RefusedError(403, "wrong control token")

    def _body(self, headers: Message, read: Callable[[int], bytes]) -> bytes:
        """The body, read only once its declared length is known to be acceptable."""
        if (headers.get("Content-Type") or "").split(";")[0].strip().lower() != (
            "application/json"
        ):
            raise _RefusedError(415, "send application/json")
        if headers.get("Transfer-Encoding") is not None:
            raise _RefusedError(411, "send the body with a Content-Length, not chunked")
        lengths = headers.get_all("Content-Length") or []
        if not lengths:
            raise _RefusedError(411, "a POST needs a Content-Length")
        length = lengths[0].strip()
        if len(lengths) != 1 or not (length.isascii() and length.isdigit()):
            raise _RefusedError(400, "Content-Length must be one non-negative decimal number")
        digits = length.lstrip("0") or "0"  # int() of a 5,000-digit string raises
        if len(digits) > len(str(MAX_BODY)) or int(digits) > MAX_BODY:
            raise _RefusedError(413, f"a body is at most {MAX_BODY} bytes")
        size = int(digits)
        body = read(size)
        if len(body) != size:
            raise _RefusedError(400, f"the body ended after {len(body)} of {size} bytes")
        return body


def _scope(strategy: str | None, venue: str | None) -> str:
    """The kill-switch scope a request names (400 if both, or a malformed name)."""
    if strategy is not None and venue is not None:
        raise _RefusedError(400, "name a strategy or a venue, not both")
    if strategy is not None:
        _check_text("strategy", strategy, MAX_BY)
        scope = strategy_scope(strategy)
    elif venue is not None:
        _check_text("venue", venue, MAX_BY)
        scope = venue_scope(venue)
    else:
        return ALL
    try:
        parse_scope(scope)
    except ValueError as exc:
        raise _RefusedError(400, str(exc)) from exc
    return scope


def _changed(system: Any, scope: str, *, changed: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {"changed": changed, "state": system.gate.state.value}
    if scope != ALL:
        answer["scope"] = scope
        answer["scope_state"] = system.gate.scope_state(scope).value
    return answer


def _decode(decoder: msgspec.json.Decoder[_T], body: bytes) -> _T:
    if not body.strip():
        raise _RefusedError(400, "the body is empty: send a JSON object")
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise _RefusedError(400, str(exc)[:300]) from exc


def _one_line(text: str) -> str:
    """``text`` on one line, at most 1000 characters."""
    return " ".join(text.split())[:1000]


def _check_text(name: str, value: str, limit: int) -> None:
    if not value.strip():
        raise _RefusedError(400, f"{name} is empty")
    if len(value) > limit:
        raise _RefusedError(400, f"{name} is longer than {limit} characters")
    if not value.isprintable():
        raise _RefusedError(400, f"{name} must be one line of printable characters")


def _control_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``http://HOST:PORT``; ValueError naming what is wrong."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a control URL: {exc}") from exc
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise ValueError(
            f"{url!r} is not a control URL (want http://127.0.0.1:PORT, as `tradeactors "
            "run` printed)"
        )
    return parts.hostname, port


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: the token must not follow it elsewhere."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def call_control(
    url: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    timeout: float = 10.0,
) -> Any:
    """Call a running system's control endpoint; returns the decoded JSON answer.

    ``token`` is sent as ``Authorization: Bearer``, and only to a loopback host; no
    proxy is used and no redirect followed, so it goes nowhere else.

    Raises:
        ValueError: ``url`` is not ``http://HOST:PORT``, or a token would leave loopback.
        urllib.error.URLError: nothing answers at ``url``.
        urllib.error.HTTPError: the system refused the request (its message is the body).
        msgspec.DecodeError: what answers is not a control endpoint (not JSON).

    """
    host, _port = _control_address(url)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        if host not in _LOOPBACK_NAMES:
            raise ValueError("the control token is only ever sent to 127.0.0.1 or localhost")
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - _control_address allows http only
        url.rstrip("/") + path,
        data=None if body is None else msgspec.json.encode(body),
        method="GET" if body is None else "POST",
        headers=headers,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
    with opener.open(request, timeout=timeout) as response:
        return msgspec.json.decode(response.read(_MAX_ANSWER))
