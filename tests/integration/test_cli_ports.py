"""`tradeactors run` with a port in use or out of range: one line, exit 2, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tradeactors.cli import main


def _run_cli(*args: str, state: str) -> tuple[int, str]:
    # In a child process: `run` configures logging to this stderr, which must not
    # outlive the test (the actors of later tests would log to a closed file).
    code = "import sys; from tradeactors.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
        check=False, env={**os.environ, "XDG_STATE_HOME": state},  # never the real home
    )  # fmt: skip
    return done.returncode, done.stderr


@pytest.fixture
def taken_port():
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def _config(tmp_path, metrics_port: int) -> str:
    path = tmp_path / "ports.toml"
    path.write_text(f"[metrics]\nport = {metrics_port}\n")
    return str(path)


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_a_metrics_port_in_use_is_one_line_and_exit_2(tmp_path, taken_port):
    code, err = _run_cli(
        "run", "--config", _config(tmp_path, taken_port), "--duration", "1", state=str(tmp_path)
    )
    assert code == 2
    line = _one_line(err)
    assert f"metrics port {taken_port}" in line
    assert "in use" in line


def test_a_control_port_in_use_is_one_line_and_exit_2(tmp_path, taken_port):
    argv = ["run", "--config", _config(tmp_path, 0), "--control-port", str(taken_port)]
    code, err = _run_cli(*argv, "--duration", "1", state=str(tmp_path))
    assert code == 2
    line = _one_line(err)
    assert f"control port {taken_port}" in line
    assert "in use" in line


def test_a_metrics_port_out_of_range_is_one_line_and_exit_2(tmp_path):
    code, err = _run_cli(
        "run", "--config", _config(tmp_path, 70000), "--duration", "1", state=str(tmp_path)
    )
    assert code == 2
    line = _one_line(err)
    assert "65535" in line
    assert "[metrics] port" in line


@pytest.mark.parametrize("flag", ["--control-port", "--metrics-port"])
@pytest.mark.parametrize("value", ["70000", "-1", "abc"])
def test_a_port_flag_out_of_range_is_refused_by_the_parser(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert flag in err


def test_a_metrics_port_flag_in_use_is_one_line_naming_the_flag(tmp_path, taken_port):
    argv = ["run", "--config", _config(tmp_path, 0), "--metrics-port", str(taken_port)]
    code, err = _run_cli(*argv, "--duration", "1", state=str(tmp_path))
    assert code == 2
    line = _one_line(err)
    assert f"metrics port {taken_port}" in line
    assert "in use" in line
    assert "--metrics-port 0" in line
    assert not list((tmp_path / "tradeactors" / "runs").iterdir())  # nothing left behind


def test_the_metrics_port_flag_overrides_the_configs(tmp_path, taken_port):
    argv = ["run", "--config", _config(tmp_path, taken_port), "--metrics-port", "0"]
    code, err = _run_cli(*argv, "--duration", "1", state=str(tmp_path))
    assert code == 0, err[-2000:]
    assert "Traceback" not in err
