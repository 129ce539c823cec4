"""structlog setup for applications (the library itself never configures logging).

Events are snake_case facts with key/value fields. JSON lines by default, a
console renderer on a terminal; or JSON lines to a file, with a short human line on
the terminal for each warning and error (what ``tradeactors run`` does on a
terminal, so that no JSON line lands between its status line and its summary). Call
`configure_logging` once, at the entry point. Tracebacks are rendered without local
variables, so a secret held in a local of a crashing handler does not reach the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

import structlog

if TYPE_CHECKING:
    from pathlib import Path

    from structlog.typing import EventDict, WrappedLogger

__all__ = ["configure_logging"]

_ECHOED = frozenset({"warning", "error", "critical"})
_ECHO_WIDTH = 300  # characters of a terminal line, at most
_QUIET = frozenset({"event", "level", "timestamp", "exc_info", "stack_info"})


def configure_logging(
    *,
    level: str = "info",
    json: bool | None = None,
    stream: TextIO | None = None,
    file: Path | None = None,
) -> None:
    """Configure structlog for the process.

    Args:
        level: lowest level written (``debug``, ``info``, ``warning``, ``error``).
        json: JSON lines if True, console rendering if False; None picks JSON unless
            ``stream`` is a terminal. Ignored with ``file``.
        stream: where to write; default ``sys.stderr``.
        file: write the JSON lines to this file instead (appended; created 0600 when
            the first line is written, so a run that logs nothing leaves no file), and
            write one short line per warning or error to ``stream``: level, event,
            fields, an exception as its type and message, never a traceback. Warnings
            of the standard library's `logging` (libraries) go the same way.

    """
    out = sys.stderr if stream is None else stream
    _unbridge_stdlib()
    _LazyFile.close_current()
    processors: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if file is not None:
        processors.append(_TerminalEcho(out))
        target: TextIO | _LazyFile = _LazyFile(file)
        use_json = True
        _bridge_stdlib()
    else:
        target = out
        use_json = not out.isatty() if json is None else json
    # Tracebacks never carry local variables: a handler's locals may hold credentials.
    if use_json:
        processors.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors.append(
            structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        )
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=target),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


class _LazyFile:
    """A file opened (0600, append) at the first line written to it.

    The one logging writes to is closed when logging is configured again.
    """

    _current: _LazyFile | None = None  # what structlog writes to now

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: TextIO | None = None
        self._lock = threading.Lock()
        _LazyFile._current = self

    @classmethod
    def close_current(cls) -> None:
        current, cls._current = cls._current, None
        if current is not None:
            current.close()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def write(self, text: str) -> int:
        with self._lock:
            if self._file is None:
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                self._file = os.fdopen(os.open(self._path, flags, 0o600), "a", encoding="utf-8")
            return self._file.write(text)

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()


class _TerminalEcho:
    """A processor: one short human line on ``stream`` per warning or error."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        # On a terminal, the line replaces whatever a status line left on the screen.
        self._prefix = "\r\x1b[K" if stream.isatty() else ""

    def __call__(self, _logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        level = str(event_dict.get("level", ""))
        if level in _ECHOED:
            line = _one_line(level, event_dict)
            # the terminal gone (OSError, or ValueError once closed): the file still has it
            with self._lock, contextlib.suppress(OSError, ValueError):
                self._stream.write(f"{self._prefix}{line}\n")
                self._stream.flush()
        return event_dict


def _one_line(level: str, event_dict: EventDict) -> str:
    """``warning: control_request_refused code=403 error='wrong control token'``."""
    fields = [f"{key}={_value(value)}" for key, value in event_dict.items() if key not in _QUIET]
    error = _exception(event_dict.get("exc_info"))
    if error:
        fields.append(f"error={_value(error)}")
    line = " ".join([f"{level}: {event_dict.get('event', '')}", *fields])
    line = " ".join(line.split())  # one line, whatever the values hold
    return line if len(line) <= _ECHO_WIDTH else line[: _ECHO_WIDTH - 3] + "..."


def _value(value: Any) -> str:
    text = str(value)
    return repr(text) if not text or any(c.isspace() for c in text) else text


def _exception(exc_info: Any) -> str:
    """``TypeName: message`` of the exception a log call carries, or ``""``."""
    if exc_info is True:
        exc_info = sys.exc_info()
    error = exc_info if isinstance(exc_info, BaseException) else None
    if isinstance(exc_info, tuple) and len(exc_info) == 3:  # noqa: PLR2004 - (type, value, tb)
        error = exc_info[1]
    if error is None:
        return ""
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class _StdlibBridge(logging.Handler):
    """Hands the standard library's warnings and errors to structlog (its processors)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        exc_info = record.exc_info if record.exc_info and record.exc_info[1] else None
        structlog.get_logger(record.name).log(
            record.levelno, message, logger=record.name, exc_info=exc_info
        )


def _bridge_stdlib() -> None:
    bridge = _StdlibBridge(logging.WARNING)
    logging.getLogger().addHandler(bridge)


def _unbridge_stdlib() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StdlibBridge):
            root.removeHandler(handler)
