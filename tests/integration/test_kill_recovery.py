"""SIGKILL of the trading process mid-session, then a restart: is anything lost? (issue 16)

Three seeded trials of ``bench/kill_trials.py`` (its docstring says what each does and
checks): ``tradeactors run`` against a separate ``tradeactors exchange`` process without
cancel-on-disconnect and with the dead-man's switch far longer than the restart, killed
with SIGKILL while busy (the third trial HALTED first), started again on the same
journal, compared with the venue (orders open known by client order id and owner,
positions, fills by execution id, the switch still HALTED, ``journal verify``), stopped.

The restarted process recovers from the journal (docs/journal.md, "Recovery") and every
check must pass; the harness is checked first (every trial carried out, every process
ended, orders open at a kill, fills, a HALTED trial), so a scenario that proves nothing
fails too.

Not marked ``supervision``: the processes run the threads runtime whatever this one is,
and the three trials take about 10 s, so the gevent run does not repeat it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_harness() -> ModuleType:
    """``bench/kill_trials.py`` as a module (bench/ is scripts, not a package)."""
    name = "kill_trials"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "kill_trials.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while building
        spec.loader.exec_module(module)
    return sys.modules[name]


harness = load_harness()


def test_a_trader_killed_mid_session_and_restarted_loses_nothing(tmp_path):
    trials, exchange_code = harness.run_trials(
        trials=3, seed=16, busy=(0.8, 1.6), halt_every=3, runtime="threads", workdir=tmp_path
    )
    lines = [harness.trial_line(trial) for trial in trials]
    # the harness itself: every trial carried out, every process ended, a real scenario
    assert all(trial.error is None for trial in trials), "\n".join(lines)
    assert exchange_code == 0, "the exchange did not stop cleanly"
    assert all(trial.process_ended for trial in trials), "a trader process is still running"
    assert all(set(trial.checks) == set(harness.CHECKS) for trial in trials), lines
    assert any(trial.details["open_at_kill"] > 0 for trial in trials), (
        "no order was open at the venue at any kill: the trials prove nothing\n" + "\n".join(lines)
    )
    assert any(trial.details["fills_venue"] > 0 for trial in trials), lines
    assert trials[2].halt_at is not None
    assert trials[2].details["before_kill"]["state"] == "halted", lines
    # the verdict
    failed = [line for trial, line in zip(trials, lines, strict=True) if trial.failed]
    if failed:
        raise harness.RecoveryCheckFailedError("\n".join(failed))
