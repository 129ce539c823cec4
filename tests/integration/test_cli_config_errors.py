"""A bad config file, as a user meets it: one line per wrong key, exit 2, no traceback.

And ``python -m tradeactors`` is the ``tradeactors`` command.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tradeactors import __version__

if TYPE_CHECKING:
    from pathlib import Path


def _tradeactors(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeactors", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""  # nothing started
    return result.stderr.splitlines()


@pytest.mark.parametrize("command", ["run", "demo"])
def test_one_wrong_key_is_one_line_naming_file_line_section_and_key(tmp_path, command):
    (tmp_path / "trading.toml").write_text('[metrics]\nport = "abc"\n')
    result = _tradeactors(command, "--config", "trading.toml", cwd=tmp_path)
    assert _error_lines(result) == [
        (
            f"tradeactors {command}: trading.toml:2: [metrics] port: expected an integer "
            'from 0 to 65535, got "abc"'
        )
    ]


def test_every_wrong_key_of_a_file_is_a_line_of_its_own(tmp_path):
    (tmp_path / "trading.toml").write_text(
        "[risk]\n"
        "max_position = 5\n"
        "max_positon = 10\n"  # 3
        "\n"
        "[venue]\n"
        'tick_size = "0.0x"\n'  # 6
        "\n"
        "[strategy.params]\n"
        "half_sprd = 2\n"  # 9
    )
    lines = _error_lines(_tradeactors("run", "--config", "trading.toml", cwd=tmp_path))
    assert len(lines) == 3, lines
    assert lines[0].startswith(
        'tradeactors run: trading.toml:3: [risk] unknown key "max_positon" '
        '(did you mean "max_position"?); valid keys: price_collar_bps, max_order_quantity, '
    )
    assert lines[1] == (
        "tradeactors run: trading.toml:6: [venue] tick_size: expected a positive decimal "
        'such as "0.01", got "0.0x"'
    )
    assert lines[2].startswith(
        'tradeactors run: trading.toml:9: [strategy.params] unknown key "half_sprd" '
        '(did you mean "half_spread"?); valid keys: half_spread, size, '
    )


def test_python_dash_m_tradeactors_is_the_command():
    version = _tradeactors("--version")
    assert (version.returncode, version.stdout.strip()) == (0, __version__)
    usage = _tradeactors("--help")
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.startswith("usage: tradeactors ")
    assert _tradeactors("no-such-command").returncode == 2  # argparse's usage error
