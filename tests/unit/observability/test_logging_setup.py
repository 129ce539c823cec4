"""configure_logging: JSON lines, and tracebacks that never show local variables."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from tradeactors.observability import configure_logging


@pytest.fixture
def restore_logging():
    yield
    configure_logging(level="debug", json=True, stream=io.StringIO())  # the suite's setup


def _crash_with_secret_in_a_local() -> None:
    api_secret = "hunter2-very-secret"
    raise RuntimeError("venue refused " + str(len(api_secret)))


@pytest.mark.parametrize("as_json", [True, False])
def test_tracebacks_are_logged_without_local_variables(restore_logging, as_json):
    out = io.StringIO()
    configure_logging(level="info", json=as_json, stream=out)
    log = structlog.get_logger("t").bind(path="execution/gateway")
    try:
        _crash_with_secret_in_a_local()
    except RuntimeError as exc:
        log.error("actor_crashed", exc_info=exc)  # noqa: TRY400 - as the actor loop logs
    text = out.getvalue()
    assert "venue refused" in text
    assert "_crash_with_secret_in_a_local" in text
    assert "hunter2" not in text


def test_json_lines_carry_event_level_path_and_timestamp(restore_logging):
    out = io.StringIO()
    configure_logging(level="info", json=True, stream=out)
    structlog.get_logger("t").bind(path="a/b").info("actor_started", incarnation=1)
    structlog.get_logger("t").debug("hidden_below_level")
    (line,) = out.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["event"] == "actor_started"
    assert entry["level"] == "info"
    assert entry["path"] == "a/b"
    assert entry["incarnation"] == 1
    assert entry["timestamp"].endswith("Z")
