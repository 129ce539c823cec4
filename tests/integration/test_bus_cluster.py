"""`tradeactors cluster`: redis-server, the exchange, a process per role, stopped in order."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tradeactors import cli

pytestmark = pytest.mark.supervision

RUNTIME = os.environ.get("TRADEACTORS_RUNTIME", "threads")


def test_cluster_runs_every_role_and_leaves_nothing_open(tmp_path):
    code = "import sys; from tradeactors.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.run(
        [
            sys.executable, "-c", code, "cluster", "--duration", "1", "--runtime", RUNTIME,
            "--dir", str(tmp_path / "cluster"),
        ],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path)},
    )  # fmt: skip
    lines = process.stdout.splitlines()
    assert process.returncode == 0, (lines, process.stderr[-3000:])
    assert lines[0].startswith("tradeactors cluster: redis redis://127.0.0.1:")
    hosts = [line.split()[0] for line in lines[1:5]]
    assert hosts == ["market-data", "execution", "strategy-1", "strategy-2"]
    assert all(" metrics http://127.0.0.1:" in line for line in lines[1:5])
    assert lines[-1] == "tradeactors cluster: stopped; orders still open at the venue: 0"
    log = (tmp_path / "cluster" / "execution.log").read_text()
    assert "orders still open at the venue: 0" in log


def test_cluster_without_redis_server_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server there
    assert cli.main(["cluster", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "redis-server is not installed" in err
    assert "apt-get install -y redis-server" in err
