"""The layering of DESIGN.md ("Layout"): the import-linter contracts of pyproject.toml.

The contracts run in a subprocess, as `lint-imports` does (its entry point is
``importlinter.cli:lint_imports_command``; ``python -m importlinter.cli`` runs nothing),
against this checkout's ``src/``, whatever copy of tradeactors is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
# the console script `lint-imports`, run by this interpreter
LINT_IMPORTS = (
    "from importlinter.cli import lint_imports_command; "
    "lint_imports_command(prog_name='lint-imports')"
)

# Every contract of the layering; removing one to make the build pass is not a fix.
CONTRACTS = {
    "layers",
    "supervision-core-independent",
    "core-foundation-only",
    "venues-strategy-exchange-independent",
    "venues-strategy-exchange-below-actors",
    "actors-no-exchange",
    "exchange-only-from-composition",
    "bus-foundation-only",
    "acyclic",
}


def test_the_imports_keep_the_layering_contracts():
    pytest.importorskip(
        "importlinter",
        reason="import-linter is not installed: pip install -e '.[test]' to check the layering",
    )
    env = {
        **os.environ,
        # this checkout's sources, not another installed copy of tradeactors
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
        ),
        # rich wraps at 80 columns without a terminal: keep one import per line
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            LINT_IMPORTS,
            "--no-cache",
            "--no-logo",
            str(PYPROJECT),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            "lint-imports: the layering of DESIGN.md is broken; fix the imports below, "
            f"not the contracts (exit {result.returncode}):\n{result.stdout}{result.stderr}",
            pytrace=False,
        )


def test_the_contracts_are_all_there_and_ignore_nothing():
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    assert config["root_package"] == "tradeactors"
    # imports under `if TYPE_CHECKING:` count: see the comment in pyproject.toml
    assert not config.get("exclude_type_checking_imports", False)
    contracts = config["contracts"]
    assert {contract["id"] for contract in contracts} >= CONTRACTS
    assert [c["id"] for c in contracts if c.get("ignore_imports")] == []
