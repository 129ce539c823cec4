"""The tutorial strategy of docs/strategies.md (examples/my_strategy.py), run as the page
says: in a backtest on the shared capture and live against the embedded simulated
exchange, from the repository root; and the command's one-line errors for a strategy
that cannot be loaded."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT.parent / "shared/data/hftbacktest/ethusdt_20240808.gz"
SPEC = "examples.my_strategy:MyStrategy"


def _tradeactors(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=cwd,
    )  # fmt: skip


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.skipif(not CAPTURE.exists(), reason="../shared/data is not beside")
def test_the_tutorial_strategy_trades_in_a_backtest_on_the_capture(tmp_path):
    out = tmp_path / "report.json"
    result = _tradeactors(
        "backtest", "--data", "../shared/data/hftbacktest/ethusdt_20240808.gz",
        "--symbol", "ETHUSDT", "--strategy", SPEC, "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_bytes())
    assert report["strategy"] == "my_strategy"
    assert report["synced_at_end"]
    assert report["orders_sent"] > 0
    assert report["fills"] > 0
    assert abs(report["final_position"]) <= 20 * 0.00001  # max_position lots of 0.00001


def test_the_tutorial_strategy_trades_live_and_leaves_nothing_open(tmp_path):
    result = _tradeactors(
        "run", "--strategy", SPEC, "--duration", "2", "--state-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    done = re.search(r"^done: orders (\d+), fills (\d+),", result.stdout, flags=re.MULTILINE)
    assert done is not None, result.stdout
    assert int(done[1]) > 0
    assert "orders still open at the venue: 0" in result.stdout
    assert "Traceback" not in result.stderr


class TestOneLineErrors:
    """A strategy that cannot be loaded: one line on stderr, exit 2, before anything runs."""

    def test_run_with_a_module_that_is_not_there(self, tmp_path):
        line = _one_line(_tradeactors("run", "--strategy", "nopkg_zz.mine:Mine"))
        assert line.startswith(
            "tradeactors run: strategy 'nopkg_zz.mine:Mine': module 'nopkg_zz.mine' not found "
            f"(no 'nopkg_zz' on sys.path; the current directory {ROOT} is on sys.path"
        )

    def test_run_with_a_param_its_constructor_refuses(self):
        line = _one_line(_tradeactors("run", "--strategy", SPEC, "--param", "size=0"))
        assert line == (
            f"tradeactors run: strategy '{SPEC}': MyStrategy(size=0) raised ValueError: "
            "size must be at least 1 lot, not 0"
        )

    def test_run_with_an_unknown_param(self):
        line = _one_line(_tradeactors("run", "--strategy", SPEC, "--param", "sise=3"))
        assert "unknown parameter 'sise' (did you mean 'size'?); MyStrategy takes: size, " in line

    def test_backtest_with_a_class_that_is_not_there(self):
        result = _tradeactors(
            "backtest", "--data", str(CAPTURE), "--strategy", "examples.my_strategy:MyStrategi"
        )
        assert _one_line(result) == (
            "tradeactors backtest: strategy 'examples.my_strategy:MyStrategi': module "
            "'examples.my_strategy' has no attribute 'MyStrategi' (did you mean 'MyStrategy'?)"
        )

    def test_a_config_naming_a_class_without_callbacks(self, tmp_path):
        (tmp_path / "halfdone.py").write_text("class Half:\n    def on_book(self, c, v): ...\n")
        config = tmp_path / "trading.toml"
        config.write_text('[strategy]\nname = "halfdone:Half"\n')
        line = _one_line(_tradeactors("run", "--config", str(config), cwd=tmp_path))
        assert line.startswith(
            f"tradeactors run: {config}:2: [strategy] name: strategy 'halfdone:Half': class "
            "Half does not satisfy the Strategy protocol: it has no on_start, on_trade, "
        )


@pytest.mark.skipif(not CAPTURE.exists(), reason="../shared/data is not beside")
def test_the_tradeactors_script_imports_a_strategy_from_the_current_directory(tmp_path):
    """The console script (not ``python -m``) puts the current directory on sys.path too."""
    script = shutil.which("tradeactors", path=str(Path(sys.executable).parent))
    assert script is not None, "pip install -e . puts the tradeactors script beside python"
    (tmp_path / "mine.py").write_text(
        (ROOT / "examples" / "my_strategy.py").read_text(encoding="utf-8")
    )
    result = subprocess.run(
        [script, "backtest", "--data", str(CAPTURE), "--strategy", "mine:MyStrategy"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^fills\s+[1-9]", result.stdout, flags=re.MULTILINE), result.stdout


def test_the_tutorial_in_the_docs_is_the_example_file():
    """docs/strategies.md shows examples/my_strategy.py's code as it is (no drift)."""
    page = (ROOT / "docs" / "strategies.md").read_text(encoding="utf-8")
    shown = page.split("```python\n", 1)[1].split("```\n", 1)[0]
    example = (ROOT / "examples" / "my_strategy.py").read_text(encoding="utf-8")
    assert example.endswith(shown)
    assert shown.startswith("from tradeactors import ")  # the whole code, from its imports
