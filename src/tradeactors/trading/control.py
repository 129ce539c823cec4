"""A small HTTP control endpoint on 127.0.0.1 for a running `TradingSystem`.

``tradeactors run`` serves it (the URL is printed) so that ``tradeactors kill`` and
``tradeactors reset`` can act on a running system from another terminal:

- ``GET /status``: the `Status` as JSON;
- ``POST /kill`` with ``{"reason": ..., "state": "halted"|"reducing"}``;
- ``POST /reset`` with ``{"by": ..., "reason": ..., "state": "active"|"reducing"}``.

Answers are JSON; a bad request gets 400 with ``{"error": ...}``. It listens on
loopback only and has no authentication: it is for the operator's own machine.
"""

from __future__ import annotations

import http.server
import threading
import urllib.request
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.core.risk import TradingState

if TYPE_CHECKING:
    from tradeactors.trading.system import TradingSystem

__all__ = ["ControlServer", "call_control"]


class _Kill(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: str
    state: str = "halted"


class _Reset(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    by: str
    reason: str
    state: str = "active"


class ControlServer:
    """Serves the control endpoint of ``system`` until `close`."""

    def __init__(self, system: TradingSystem, host: str = "127.0.0.1", port: int = 0) -> None:
        self._system = system
        self._http = http.server.ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="control-http", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

    def _answer(  # noqa: PLR0911 - one return per answer
        self, method: str, path: str, body: bytes, headers: Any = None
    ) -> tuple[int, Any]:
        system = self._system
        if method == "POST" and headers is not None:
            # A browser page can POST "simple" cross-origin requests to loopback; it
            # cannot send them as application/json without a preflight, and it always
            # sends Origin. Neither the CLI nor curl needs either.
            if headers.get("Origin") is not None:
                return 403, {"error": "cross-origin requests are refused"}
            if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                return 415, {"error": "send application/json"}
        try:
            if method == "GET" and path == "/status":
                return 200, system.status()
            if method == "POST" and path == "/kill":
                kill = msgspec.json.decode(body, type=_Kill)
                change = system.kill(kill.reason, to=TradingState(kill.state))
                return 200, {"changed": change is not None, "state": system.gate.state.value}
            if method == "POST" and path == "/reset":
                reset = msgspec.json.decode(body, type=_Reset)
                system.reset(by=reset.by, reason=reset.reason, to=TradingState(reset.state))
                return 200, {"changed": True, "state": system.gate.state.value}
        except (msgspec.DecodeError, ValueError) as exc:
            return 400, {"error": str(exc)}
        return 404, {"error": f"no {method} {path}"}

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        answer = self._answer

        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                code, body = answer(method, self.path, self.rfile.read(length), self.headers)
                data = msgspec.json.encode(body)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply("GET")

            def do_POST(self) -> None:
                self._reply("POST")

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler


def call_control(url: str, path: str, body: dict[str, str] | None = None) -> Any:
    """Call a running system's control endpoint; returns the decoded JSON answer.

    Raises:
        urllib.error.URLError: nothing answers at ``url``.
        urllib.error.HTTPError: the system refused the request (its message is the body).

    """
    data = None if body is None else msgspec.json.encode(body)
    request = urllib.request.Request(  # noqa: S310 - an operator-given http URL
        url.rstrip("/") + path,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return msgspec.json.decode(response.read())
