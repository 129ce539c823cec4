"""CLI mistakes are one line and exit 2; ``--debug`` shows the traceback instead."""

from __future__ import annotations

import pytest

from tradeactors import cli
from tradeactors.errors import ChildStartError, ConfigError, VenueRequestError


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_record_with_a_url_that_is_not_a_websocket_url(tmp_path, capsys):
    out = tmp_path / "f.jsonl"
    argv = ["record", "--venue", "binance", "--url", "notaurl", "--out", str(out)]
    assert cli.main(argv) == 2
    assert "--url 'notaurl'" in _one_line(capsys.readouterr().err)
    assert not out.exists()


def test_record_to_a_missing_directory_blames_the_file_not_the_url(tmp_path, capsys):
    out = tmp_path / "missing" / "f.jsonl"
    argv = ["record", "--venue", "binance", "--url", "ws://127.0.0.1:1/x", "--out", str(out)]
    assert cli.main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"--out {out}" in line
    assert "ws://" not in line


def test_an_error_no_command_reported_is_one_line_unless_debug(monkeypatch, capsys):
    def fails(_args: object) -> int:
        raise ConfigError("something the user can fix")

    monkeypatch.setattr(cli, "_main", fails)
    assert cli.main(["run"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("tradeactors run: something the user can fix")
    assert "--debug" in line
    with pytest.raises(ConfigError):
        cli.main(["--debug", "run"])


def test_a_bug_is_not_hidden_as_a_user_mistake(monkeypatch):
    def bug(_args: object) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "_main", bug)
    with pytest.raises(KeyError):
        cli.main(["run"])


def _child_start_failure() -> ChildStartError:
    """What the tree raises when the gateway's logon is refused: wrappers around the cause."""
    cause = VenueRequestError("logon", "auth_failed", "bad signature")
    cause.__cause__ = ConnectionResetError("the venue closed the session")
    gateway = ChildStartError("execution/gateway.sim", repr(cause))
    gateway.__cause__ = cause
    root = ChildStartError(gateway.path, gateway.reason)  # the root names the child
    root.__cause__ = gateway
    return root


def test_a_child_that_failed_to_start_is_told_by_its_innermost_cause(monkeypatch, capsys):
    def fails(_args: object) -> int:
        raise _child_start_failure()

    monkeypatch.setattr(cli, "_main", fails)
    assert cli.main(["run"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == (
        "tradeactors run: execution/gateway.sim failed to start: logon: auth_failed "
        "(bad signature) (--debug shows the traceback)"
    )
    assert "VenueRequestError(" not in line  # not the wrapper's repr


def test_a_child_whose_cause_is_not_ours_keeps_the_wrappers_message(monkeypatch, capsys):
    def fails(_args: object) -> int:
        error = ChildStartError("execution/gateway.sim", repr(TimeoutError("slow")))
        error.__cause__ = TimeoutError("slow")
        raise error

    monkeypatch.setattr(cli, "_main", fails)
    assert cli.main(["run"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "child 'execution/gateway.sim' failed to start: TimeoutError('slow')" in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--bogus"], "tradeactors: unrecognized arguments: --bogus"),
        (["kill", "--strategy"], "tradeactors kill: argument --strategy: expected one argument"),
        (["strategy"], "tradeactors strategy: the following arguments are required: ACTION"),
        (["no-such-command"], "tradeactors: argument command: invalid choice: 'no-such-command'"),
    ],
)
def test_a_usage_mistake_is_one_line_and_exit_2(capsys, argv, expected):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(expected), line
    assert line.endswith("--help`)")  # where to read what is right
