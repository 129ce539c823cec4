"""structlog setup for applications (the library itself never configures logging).

Events are snake_case facts with key/value fields. JSON lines by default, a
console renderer on a terminal. Call `configure_logging` once, at the entry point.
Tracebacks are rendered without local variables, so a secret held in a local of a
crashing handler does not reach the log.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

__all__ = ["configure_logging"]


def configure_logging(
    *, level: str = "info", json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog for the process.

    Args:
        level: lowest level written (``debug``, ``info``, ``warning``, ``error``).
        json: JSON lines if True, console rendering if False; None picks JSON unless
            ``stream`` is a terminal.
        stream: where to write; default ``sys.stderr``.

    """
    out = sys.stderr if stream is None else stream
    use_json = not out.isatty() if json is None else json
    processors: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
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
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
