"""The state directory: a run's directory, its live marker, and finding the latest live run."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import msgspec
import pytest

from tradeactors._state import (
    RUN_FILE,
    RUNS,
    RunDirectory,
    RunInfo,
    latest_run,
    live_runs,
    no_live_run,
    state_dir,
    state_home,
)

NS = 1_000_000_000
START = 1_750_000_000 * NS


@pytest.fixture
def runs():
    """Every RunDirectory a test creates is closed when it ends."""
    made: list[RunDirectory] = []

    def create(directory, now_ns=START, pid=None):
        run = RunDirectory.create(directory, now_ns=now_ns, pid=pid)
        made.append(run)
        return run

    yield create
    for run in made:
        run.close()


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


class TestWhereItIs:
    """$XDG_STATE_HOME/tradeactors, ~/.local/state/tradeactors, or --state-dir."""

    def test_xdg_state_home_when_absolute(self, tmp_path):
        assert state_home({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "tradeactors"

    def test_a_relative_xdg_state_home_is_ignored_as_the_spec_says(self):
        assert state_home({"XDG_STATE_HOME": "relative"}).parts[-3:] == (
            ".local",
            "state",
            "tradeactors",
        )

    def test_a_given_directory_wins(self, tmp_path, monkeypatch):
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "elsewhere"))
        assert state_dir(str(tmp_path / "mine")) == tmp_path / "mine"
        assert state_dir(None) == tmp_path / "elsewhere" / "tradeactors"


class TestARunsDirectory:
    """runs/RUN-ID/, 0700, run.json once published, gone after a clean close."""

    def test_it_is_named_by_start_time_and_pid_and_private(self, tmp_path, runs):
        run = runs(tmp_path, pid=4242)
        assert run.run_id == "20250615T150640Z-4242"
        assert run.path == tmp_path / RUNS / run.run_id
        assert _mode(run.path) == 0o700
        assert _mode(tmp_path / RUNS) == 0o700
        assert run.token_file.parent == run.path
        assert run.journal_file.parent == run.path  # reserved

    def test_two_runs_in_the_same_second_get_two_directories(self, tmp_path, runs):
        assert runs(tmp_path, pid=7).path != runs(tmp_path, pid=7).path

    def test_it_is_found_only_once_published(self, tmp_path, runs):
        run = runs(tmp_path)
        assert live_runs(tmp_path) == []  # starting: no URLs yet
        info = run.publish(
            symbol="BTCUSDT", metrics_url="http://127.0.0.1:1/metrics", control_url="http://x:2"
        )
        assert _mode(run.run_file) == 0o600
        (found,) = live_runs(tmp_path)
        assert found.info == info
        assert found.info.pid == os.getpid()
        assert found.path == run.path

    def test_withdraw_hides_it_and_close_removes_it(self, tmp_path, runs):
        run = runs(tmp_path)
        run.publish(control_url="http://127.0.0.1:2")
        run.token_file.write_text("t" * 20)
        run.withdraw()
        assert live_runs(tmp_path) == []
        run.close()
        assert not run.path.exists()
        run.close()  # twice is harmless

    def test_close_keeps_the_directory_when_a_log_is_in_it(self, tmp_path, runs):
        run = runs(tmp_path)
        run.publish()
        run.token_file.write_text("t" * 20)
        run.log_file.write_text("{}\n")
        run.close()
        assert sorted(p.name for p in run.path.iterdir()) == [run.log_file.name]


class TestFindingTheLatestLiveRun:
    """The latest started among the live ones; dead ones skipped and tidied."""

    def test_none_in_an_empty_or_missing_directory(self, tmp_path):
        assert latest_run(tmp_path / "missing") is None
        assert live_runs(tmp_path) == []

    def test_the_latest_started_wins(self, tmp_path, runs):
        older = runs(tmp_path, now_ns=START)
        newer = runs(tmp_path, now_ns=START + 60 * NS)
        newer.publish(control_url="http://127.0.0.1:2")
        older.publish(control_url="http://127.0.0.1:1")
        found = latest_run(tmp_path)
        assert found is not None
        assert found.info.run_id == newer.run_id
        assert [r.info.run_id for r in live_runs(tmp_path)] == [newer.run_id, older.run_id]

    def test_a_run_whose_lock_nobody_holds_is_skipped_and_tidied(self, tmp_path):
        """What a crashed run leaves: run.json and an unheld lock (the pid may be reused)."""
        path = tmp_path / RUNS / "20250615T150640Z-1"
        path.mkdir(parents=True)
        info = RunInfo(run_id=path.name, pid=os.getpid(), started_ns=START)  # a live pid
        (path / RUN_FILE).write_bytes(msgspec.json.encode(info))
        (path / "lock").write_text("")
        (path / "control.token").write_text("t" * 20)
        assert live_runs(tmp_path) == []
        assert not path.exists()

    def test_a_killed_run_is_skipped_and_its_token_removed(self, tmp_path):
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(f"""
                import sys
                from tradeactors._state import RunDirectory
                run = RunDirectory.create({str(tmp_path)!r}, now_ns={START})
                run.publish(control_url="http://127.0.0.1:2")
                run.token_file.write_text("t" * 20)
                run.log_file.write_text("a log line\\n")
                print(run.path, flush=True)
                sys.stdin.read()
            """)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            path = child.stdout.readline().strip()
            (found,) = live_runs(tmp_path)
            assert str(found.path) == path
            assert found.info.pid == child.pid
        finally:
            child.send_signal(signal.SIGKILL)
            child.communicate(timeout=30)
        assert live_runs(tmp_path) == []
        assert sorted(p.name for p in found.path.iterdir()) == ["log.jsonl"]  # the log stays

    def test_the_message_when_none_is_found_says_how_to_give_the_url(self, tmp_path):
        line = no_live_run(tmp_path, "the control URL")
        assert str(tmp_path / RUNS) in line
        assert "--url" in line
        assert "\n" not in line
