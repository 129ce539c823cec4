"""`tradeactors journal orders|fills|events|verify`, and verify's invariants."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from test_journal_file import fill, strategy_of, update

from tradeactors import cli
from tradeactors._state import JOURNAL_FILE, RUNS
from tradeactors.clock import FakeClock
from tradeactors.core.messages import Side
from tradeactors.core.orders import OrderStatus
from tradeactors.journal import JournalReader, JournalWriter, PositionsRecorded
from tradeactors.journal._cli import parse_time


def journal(path, *batches):
    writer = JournalWriter(path, clock=FakeClock(), strategy_of=strategy_of)
    try:
        for batch in batches:
            writer.append(list(enumerate(batch, start=1)))
    finally:
        writer.close()
    return path


def verdicts(path):
    with JournalReader(path) as reader:
        return {check.name: check.verdict for check in reader.verify()}


GOOD = (
    update("a"),
    fill("a", filled=500, quantity=500, execution_id=1),
    fill("a", filled=1500, quantity=1000, execution_id=2),
    update("b", side=Side.SELL),
    fill("b", filled=200, quantity=200, execution_id=3, side=Side.SELL),
    update("b", OrderStatus.CANCELLED, filled=200, side=Side.SELL),
    PositionsRecorded(positions={"BTCUSDT": 1300}, timestamp_ns=0),
)


class TestVerify:
    """Each invariant passes on a consistent journal and fails when broken."""

    def test_a_consistent_journal_passes_every_check(self, tmp_path):
        assert set(verdicts(journal(tmp_path / "j", GOOD)).values()) == {"PASS"}

    def test_an_empty_journal_skips_what_it_cannot_check(self, tmp_path):
        found = verdicts(journal(tmp_path / "j"))
        assert found.pop("sqlite_quick_check") == "PASS"
        assert set(found.values()) == {"SKIP"}

    def test_a_fill_of_an_order_never_seen_fails(self, tmp_path, monkeypatch):
        path = journal(tmp_path / "j", GOOD)
        with sqlite3.connect(path) as db:
            db.execute("DELETE FROM orders WHERE client_order_id = 'b'")
        db.close()
        found = verdicts(path)
        assert found["fills_of_known_orders"] == "FAIL"
        assert found["positions_equal_sum_of_fills"] == "FAIL"  # the sell has no side now

    def test_an_execution_id_twice_fails(self, tmp_path):
        twice = fill("b", filled=200, quantity=200, execution_id=1, side=Side.SELL)
        found = verdicts(journal(tmp_path / "j", (*GOOD[:4], twice)))
        assert found["execution_ids_unique"] == "FAIL"

    def test_a_missing_fill_fails_the_sum_and_the_positions(self, tmp_path):
        found = verdicts(journal(tmp_path / "j", (GOOD[0], *GOOD[2:])))
        assert found["filled_equals_sum_of_fills"] == "FAIL"
        assert found["positions_equal_sum_of_fills"] == "FAIL"
        assert found["filled_within_quantity"] == "PASS"

    def test_more_filled_than_the_quantity_fails(self, tmp_path):
        over = fill("a", filled=1600, quantity=100, execution_id=9)
        assert verdicts(journal(tmp_path / "j", (*GOOD[:3], over)))["filled_within_quantity"] == (
            "FAIL"
        )


def run(capsys, *argv):
    code = cli.main(["journal", *argv])
    out, err = capsys.readouterr()
    return code, out, err


class TestCommand:
    """The command prints, exports and verifies; its mistakes are one line, exit 2."""

    def test_verify_prints_each_check_and_exits_0_or_1(self, tmp_path, capsys):
        good = journal(tmp_path / "good", GOOD)
        code, out, _ = run(capsys, "verify", "--journal", str(good))
        assert code == 0
        assert "PASS  execution_ids_unique: 3 execution ids" in out
        assert out.splitlines()[-1] == f"{good}: PASS (0 of 6 failed)"
        bad = journal(tmp_path / "bad", (GOOD[0], *GOOD[2:]))
        code, out, _ = run(capsys, "verify", "--journal", str(bad))
        assert code == 1
        assert "FAIL  filled_equals_sum_of_fills: 1 orders differ, first a" in out

    def test_fills_as_json_lines_and_csv(self, tmp_path, capsys):
        path = str(journal(tmp_path / "j", GOOD))
        code, out, _ = run(capsys, "fills", "--journal", path, "--json", "--strategy", "mm")
        assert code == 0
        rows = [json.loads(line) for line in out.splitlines()]
        assert [(r["client_order_id"], r["execution_id"], r["fill_quantity"]) for r in rows] == [
            ("a", "1", "500"),
            ("a", "2", "1000"),
            ("b", "3", "200"),
        ]
        assert rows[0]["time"] == "1970-01-01T00:00:00.000000002Z"
        code, out, _ = run(capsys, "events", "--journal", path, "--csv", "--status", "cancelled")
        (row,) = list(csv.DictReader(io.StringIO(out)))
        assert (row["kind"], row["client_order_id"]) == ("order_update", "b")
        assert json.loads(row["payload"])["status"] == "cancelled"

    def test_orders_as_a_table(self, tmp_path, capsys):
        path = str(journal(tmp_path / "j", GOOD))
        code, out, _ = run(capsys, "orders", "--journal", path, "--status", "filled")
        lines = out.splitlines()
        assert code == 0
        assert lines[0].split()[:3] == ["time", "client_order_id", "strategy"]
        assert lines[1].split()[1:3] == ["a", "mm"]
        assert lines[-1] == "(1 rows)"

    def test_the_latest_runs_journal_is_the_default(self, tmp_path, capsys):
        runs = tmp_path / RUNS
        for name, batch in (("20260101T000000Z-1", GOOD[:1]), ("20260102T000000Z-2", GOOD)):
            (runs / name).mkdir(parents=True)
            journal(runs / name / JOURNAL_FILE, batch)
        code, out, _ = run(capsys, "orders", "--state-dir", str(tmp_path), "--json")
        assert code == 0
        assert len(out.splitlines()) == 2

    @pytest.mark.parametrize(
        ("make", "said"),
        [
            (lambda p: None, "no such file"),
            (lambda p: p.write_bytes(b"x" * 4096), "not a readable SQLite database"),
            (lambda p: sqlite3.connect(p).execute("CREATE TABLE t (x)"), "not a tradeactors"),
        ],
        ids=["missing", "corrupt", "not-a-journal"],
    )
    def test_a_file_it_cannot_read_is_one_line_and_exit_2(self, tmp_path, capsys, make, said):
        path = tmp_path / "j.sqlite"
        made = make(path)
        if isinstance(made, sqlite3.Cursor):
            made.connection.commit()
            made.connection.close()
        code, out, err = run(capsys, "orders", "--journal", str(path))
        assert (code, out) == (2, "")
        assert len(err.splitlines()) == 1
        assert err.startswith(f"tradeactors journal: journal {path}: ")
        assert said in err

    def test_a_newer_schema_is_one_line_and_exit_2(self, tmp_path, capsys):
        path = journal(tmp_path / "j")
        with sqlite3.connect(path) as db:
            db.execute("UPDATE meta SET value = '99'")
        db.close()
        code, _, err = run(capsys, "verify", "--journal", str(path))
        assert code == 2
        assert "schema version '99'" in err
        assert len(err.splitlines()) == 1

    def test_no_run_journal_and_a_bad_time_are_one_line_and_exit_2(self, tmp_path, capsys):
        code, _, err = run(capsys, "fills", "--state-dir", str(tmp_path))
        assert code == 2
        assert "no run journal here (give --journal FILE)" in err
        path = str(journal(tmp_path / "j"))
        code, _, err = run(capsys, "fills", "--journal", path, "--since", "yesterday")
        assert code == 2
        assert "--since 'yesterday': expected an ISO 8601 time" in err


def test_times_are_iso_8601_utc_unless_they_say_otherwise():
    assert parse_time("1970-01-01T00:00:01Z", "--since") == 1_000_000_000
    assert parse_time("1970-01-01T00:00:01.5", "--since") == 1_500_000_000
    assert parse_time("1970-01-01T01:00:00+01:00", "--since") == 0
    assert parse_time(None, "--since") is None


def test_a_hand_edited_record_is_one_line_naming_the_file_never_a_traceback(tmp_path, capsys):
    from tradeactors.core.messages import OrderUpdate, Side
    from tradeactors.core.orders import OrderStatus

    path = tmp_path / "j.sqlite"
    writer = JournalWriter(path, clock=FakeClock())
    update = OrderUpdate(
        client_order_id="o1", venue="sim", instrument="BTCUSDT", side=Side.BUY, price=1,
        quantity=1, status=OrderStatus.ACCEPTED, filled=0,
    )  # fmt: skip
    writer.append([(1, update), (2, update)])
    writer.close()
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE events SET payload = '{not json' WHERE sequence = 2")
        db.execute("UPDATE events SET time_ns = 'soon' WHERE sequence = 1")
    db.close()
    for action in ("events", "verify"):
        assert cli.main(["journal", action, "--journal", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert f"journal {path}" in err
        assert "Traceback" not in err
