"""`tradeactors run` with a port in use or out of range: one line, exit 2, no traceback."""

from __future__ import annotations

import socket

import pytest

from tradeactors.cli import main


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


def test_a_metrics_port_in_use_is_one_line_and_exit_2(tmp_path, taken_port, capsys):
    code = main(["run", "--config", _config(tmp_path, taken_port), "--duration", "1"])
    assert code == 2
    line = _one_line(capsys.readouterr().err)
    assert f"metrics port {taken_port}" in line
    assert "in use" in line


def test_a_control_port_in_use_is_one_line_and_exit_2(tmp_path, taken_port, capsys):
    argv = ["run", "--config", _config(tmp_path, 0), "--control-port", str(taken_port)]
    assert main([*argv, "--duration", "1"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"control port {taken_port}" in line
    assert "in use" in line


def test_a_metrics_port_out_of_range_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["run", "--config", _config(tmp_path, 70000), "--duration", "1"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "65535" in line
    assert "metrics.port" in line


@pytest.mark.parametrize("value", ["70000", "-1", "abc"])
def test_a_control_port_flag_out_of_range_is_refused_by_the_parser(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--control-port", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "--control-port" in err
