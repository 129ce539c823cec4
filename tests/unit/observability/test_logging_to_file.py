"""configure_logging(file=...): JSON lines to the file, one short line per warning on the
terminal, no traceback there; the standard library's warnings go the same way."""

from __future__ import annotations

import io
import json
import logging
import stat

import pytest
import structlog

from tradeactors.observability import configure_logging


@pytest.fixture
def restore_logging():
    yield
    configure_logging(level="debug", json=True, stream=io.StringIO())  # the suite's setup


def _crash() -> None:
    raise ConnectionResetError("the venue hung up")


def test_json_goes_to_the_file_and_the_terminal_sees_warnings_as_one_line(
    restore_logging, tmp_path
):
    terminal = io.StringIO()
    path = tmp_path / "log.jsonl"
    configure_logging(level="info", stream=terminal, file=path)
    log = structlog.get_logger("t").bind(path="execution/gateway.sim")
    log.info("gateway_connected", venue="sim")
    try:
        _crash()
    except ConnectionResetError:
        log.exception("actor_crashed", incarnation=2)
    log.warning("control_request_refused", code=403, error="wrong control token")
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event"] for e in entries] == [
        "gateway_connected",
        "actor_crashed",
        "control_request_refused",
    ]
    assert "_crash" in json.dumps(entries[1])  # the file keeps the traceback
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert terminal.getvalue().splitlines() == [
        (
            "error: actor_crashed path=execution/gateway.sim incarnation=2 "
            "error='ConnectionResetError: the venue hung up'"
        ),
        (
            "warning: control_request_refused path=execution/gateway.sim code=403 "
            "error='wrong control token'"
        ),
    ]


def test_no_line_no_file(restore_logging, tmp_path):
    path = tmp_path / "log.jsonl"
    configure_logging(level="warning", stream=io.StringIO(), file=path)
    structlog.get_logger("t").info("below_the_level")
    assert not path.exists()


def test_a_long_warning_is_cut_to_one_short_line(restore_logging, tmp_path):
    terminal = io.StringIO()
    configure_logging(level="info", stream=terminal, file=tmp_path / "log.jsonl")
    structlog.get_logger("t").warning("feed_dropped", frame="x\ny " * 500)
    (line,) = terminal.getvalue().splitlines()
    assert len(line) <= 300
    assert line.endswith("...")


def test_the_standard_librarys_warnings_go_the_same_way(restore_logging, tmp_path):
    terminal = io.StringIO()
    path = tmp_path / "log.jsonl"
    configure_logging(level="info", stream=terminal, file=path)
    try:
        _crash()
    except ConnectionResetError:
        logging.getLogger("websockets.server").exception("connection handler failed")
    assert terminal.getvalue() == (
        "error: connection handler failed logger=websockets.server "
        "error='ConnectionResetError: the venue hung up'\n"
    )
    assert "Traceback" not in terminal.getvalue()
    (entry,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert entry["logger"] == "websockets.server"


def test_configuring_again_without_a_file_unhooks_the_standard_library(restore_logging, tmp_path):
    configure_logging(level="info", stream=io.StringIO(), file=tmp_path / "log.jsonl")
    configure_logging(level="info", json=True, stream=io.StringIO())
    assert not [h for h in logging.getLogger().handlers if "Bridge" in type(h).__name__]
