"""Chaos scenarios: every shipped scenario passes; bad scenario files are refused clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tradeactors.chaos import load_scenario, run_scenario
from tradeactors.errors import ConfigError

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "config" / "scenarios").glob("*.toml"))


@pytest.mark.supervision
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_shipped_scenario_passes_every_invariant(path):
    scenario, config = load_scenario(path)
    lines: list[str] = []
    verdicts = run_scenario(scenario, config, out=lines.append)
    failed = [v.line() for v in verdicts if not v.passed]
    assert not failed, "\n".join(lines)
    assert len(verdicts) >= 8
    assert sum(line.startswith("injected ") for line in lines) == len(scenario.fault)


def test_there_is_a_scenario_for_each_kind_of_trouble_the_issue_lists():
    names = {p.stem for p in SCENARIOS}
    for actor in ("gateway", "order_manager", "risk", "killswitch", "feed", "book", "strategy"):
        assert f"crash_{actor}" in names
    others = (
        "gateway_drop",
        "gateway_stall",
        "gateway_crash_loop",
        "feed_corruption",
        "feed_gap",
        "slow_strategy",
        "venue_rejects",
        "kill_switch_under_load",
    )
    for other in others:
        assert other in names


def _scenario(tmp_path, faults: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f'name = "t"\nduration = 3.0\n\n{faults}')
    return path


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ('[[fault]]\nat = 1.0\nkind = "explode"\n', "s.toml:4: unknown fault 'explode'"),
        (
            '[[fault]]\nat = 1.0\nkind = "crash"\npath = "execution/nope"\n',
            "s.toml:4: bad path 'execution/nope'",
        ),
        ('[[fault]]\nat = 7.0\nkind = "feed_gap"\n', "s.toml:4: at = 7.0 is not within"),
        ('[[fault]]\nkind = "feed_gap"\n', "s.toml:4: give exactly one of `at`"),
        (
            '[[fault]]\nat = 1.0\nkind = "feed_gap"\n\n[[fault]]\nat = "soon"\nkind = "stall"\n',
            "s.toml:8: Expected `float | null`, got `str` - at `$.fault[1].at`",
        ),
        ('[[fault]]\nat = 1.0\nkind = "stall"\nsecond = 2\n', "unknown field `second`"),
    ],
)
def test_a_bad_scenario_is_refused_with_the_line_at_fault(tmp_path, faults, message):
    with pytest.raises(ConfigError) as caught:
        load_scenario(_scenario(tmp_path, faults))
    assert message in str(caught.value)


def test_the_command_refuses_a_bad_scenario_before_starting_anything(tmp_path):
    path = _scenario(tmp_path, '[[fault]]\nat = 1.0\nkind = "explode"\n')
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "chaos", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown fault 'explode'" in result.stderr
    assert "scenario" not in result.stdout  # nothing started


def test_the_command_prints_verdicts_and_writes_json(tmp_path):
    out = tmp_path / "v.json"
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "chaos", str(SCENARIOS[0]), "--json", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "PASS nothing left open after a gateway death" in result.stdout
    assert b'"verdicts"' in out.read_bytes()
