"""The embedding examples in examples/ run as documented: each is a script that finishes
on its own, exits 0 and says what it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 60  # seconds; each example ends by itself in about 20 s at most

HOST_LINES = (
    "trading BTCUSDT at ws://127.0.0.1:",
    "kill switch: halted (manual: the host has seen enough)",
    "all orders closed: True",
    "kill switch halted",  # the summary's state
    "open at the venue: 0",
)


def run_example(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True, text=True, timeout=TIMEOUT, check=False, cwd=EXAMPLES.parent,
    )  # fmt: skip
    assert result.returncode == 0, f"{name}\n{result.stdout}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("name", ["threaded_host.py", "gevent_host.py"])
def test_a_host_trades_kills_and_stops_cleanly(name):
    out = run_example(name)
    for line in HOST_LINES:
        assert line in out, f"{line!r} not in:\n{out}"
    assert "fills seen:" in out or "timeout:" in out
    if "fills seen:" in out:
        assert out.count("fill: ") >= 2
    if name == "gevent_host.py":
        assert "runtime: gevent" in out


def test_a_host_actor_is_supervised_restarted_and_loses_nothing():
    out = run_example("own_actor.py")
    assert out.count("journal: started") == 2  # the first incarnation and the restart
    for line in (
        "supervision: journal exited: crashed (InjectedFaultError(",
        "journal: restarted: True",
        "dead letter: OrderUpdate at journal (crashed)",
        "nothing lost: True",
        "open at the venue: 0",
    ):
        assert line in out, f"{line!r} not in:\n{out}"


def test_every_example_is_documented_in_the_embedding_page():
    page = (EXAMPLES.parent / "docs" / "embedding.md").read_text(encoding="utf-8")
    for example in sorted(EXAMPLES.glob("*.py")):
        assert f"(../examples/{example.name})" in page, example.name
