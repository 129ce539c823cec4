"""``tradeactors backtest`` on the recorded ETHUSDT capture, as a user runs it."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared/data"
CAPTURE = DATA / "hftbacktest/ethusdt_20240808.gz"
pytestmark = pytest.mark.skipif(not CAPTURE.exists(), reason="../shared/data is not beside")


@pytest.fixture(autouse=True)
def _cache_home(tmp_path, monkeypatch):
    """The converted captures go to this test's own directory, not the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))


def _backtest(
    *args: str, data: Path = CAPTURE, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeactors.cli", "backtest", "--data", str(data), *args],
        capture_output=True, text=True, timeout=120, check=False,
        env=None if env is None else {**os.environ, **env},
    )  # fmt: skip


def _edited_capture(tmp_path: Path, edit) -> Path:
    """The ETHUSDT capture with ``edit(number, line)`` applied to its n-th depth update
    (``None`` drops the line), gzipped in ``tmp_path``."""
    lines = []
    updates = 0
    with gzip.open(CAPTURE, "rt") as capture:
        for line in capture:
            if '"depthUpdate"' in line:
                updates += 1
                line = edit(updates, line)  # noqa: PLW2901
            if line is not None:
                lines.append(line)
    edited = tmp_path / "ethusdt_edited.gz"
    with gzip.open(edited, "wt") as out:
        out.writelines(lines)
    return edited


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command wrote to stderr (and no traceback)."""
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("strategy", ["market_maker", "momentum", "vwap"])
def test_each_built_in_runs_on_the_capture_and_writes_the_same_json_twice(strategy, tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    result = _backtest("--strategy", strategy, "--json", str(first))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "net PnL" in result.stdout
    assert _backtest("--strategy", strategy, "--json", str(second)).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    report = json.loads(first.read_bytes())
    assert report["frames"] == 33618
    assert report["book_updates"] == 3433  # the book stayed in sync to the end
    assert report["fills"] > 0
    assert report["series"]
    # one convention: the series' positions in base units, as final_position
    assert report["series"][-1][1] == pytest.approx(report["final_position"])
    rows = dict(re.findall(r"^(\S.*?)\s{2,}(.*)$", result.stdout, flags=re.MULTILINE))
    for money in ("realized PnL", "unrealized PnL", "fees", "net PnL", "max drawdown"):
        assert rows[money].endswith(" USDT"), rows[money]
    assert rows["volume"].endswith(" ETH")
    assert rows["final position"].endswith(" ETH")


def test_vwap_works_its_whole_parent_order():
    result = _backtest("--strategy", "vwap", "--param", "quantity=5000", "--param", "side=sell")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "final position  -0.05" in result.stdout  # 5,000 lots of 0.00001 sold


def test_bad_arguments_are_refused_with_a_clear_message():
    unknown = _backtest("--strategy", "nope")
    assert unknown.returncode == 2
    known = "(known: market_maker, momentum, vwap; or your own class as 'package.module:Class')"
    assert f"unknown strategy 'nope' {known}" in unknown.stderr
    bogus = _backtest("--strategy", "vwap", "--param", "bogus=1")
    assert bogus.returncode == 2
    assert "unknown field `bogus`" in bogus.stderr
    malformed = _backtest("--strategy", "vwap", "--param", "quantity")
    assert malformed.returncode == 2
    assert "expected KEY=VALUE" in malformed.stderr


def test_a_real_level_with_more_size_decimals_than_the_lot_keeps_the_book_in_sync(tmp_path):
    # as on a real capture (200000.00 x 25.42618900 with a 0.00001 lot): the 10th update
    # carries a size with six decimals; the book used to refuse it and never resync
    def six_decimals(number, line):
        if number != 10:
            return line
        edited = line.replace('"2.08800000"]', '"2.08800100"]', 1)
        assert edited != line
        return edited

    report_file = tmp_path / "report.json"
    result = _backtest(
        "--strategy", "market_maker", "--json", str(report_file),
        data=_edited_capture(tmp_path, six_decimals),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(report_file.read_bytes())
    assert report["book_updates"] == 3433  # was 8: lost at the 10th update, never resynced
    assert (report["book_updates_applied"], report["book_updates_seen"]) == (3432, 3434)
    assert report["sync_losses"] == []
    assert "in sync from 0.1 s to the end (99.9%)" in result.stdout


def test_a_book_that_lost_sync_and_never_resynced_fails_saying_what_happened(tmp_path):
    data = _edited_capture(tmp_path, lambda number, line: None if number == 1000 else line)
    report_file = tmp_path / "report.json"
    result = _backtest("--strategy", "market_maker", "--json", str(report_file), data=data)
    assert result.returncode == 1
    assert _one_line(result) == (
        f"tradeactors backtest: {data}: the ETHUSDT book lost sync at 100.6 s (a gap at "
        "update 35346560704) and never resynced: 997 of 3433 depth updates applied, in sync "
        "29.0% of the time"
    )
    # the report says how much of the capture it covers; no file pretends to more
    assert "book            in sync 29.0% of the time, 997 of 3433 depth updates" in result.stdout
    assert "sync lost       gap at 100.6 s, never resynced" in result.stdout
    assert not report_file.exists()


@pytest.mark.parametrize(
    ("data", "args", "message"),
    [
        (CAPTURE, ("--symbol", "BTCUSDT"),
         f"{CAPTURE} has no depth updates of BTCUSDT (it has: ETHUSDT)"),
        (DATA / "cryptofeed/BINANCE.ws.1.0",
         ("--symbol", "NKNUSDT", "--tick-size", "0.00001", "--lot-size", "0.1"),
         (f"{DATA / 'cryptofeed/BINANCE.ws.1.0'}: the NKNUSDT book never synced: the capture "
          "has no depth snapshot of it (a REST /api/v3/depth answer) to start from")),
        (DATA / "cryptofeed/KRAKEN.ws.50.0",
         ("--symbol", "XBT/USD", "--tick-size", "0.1", "--lot-size", "0.00000001"),
         (f"{DATA / 'cryptofeed/KRAKEN.ws.50.0'} is a Kraken capture: backtests replay "
          "Binance captures only (depth updates and a REST depth snapshot)")),
    ],
    ids=["symbol_not_in_the_capture", "no_snapshot", "kraken"],
)  # fmt: skip
def test_a_backtest_with_nothing_to_backtest_fails_in_one_line(data, args, message):
    result = _backtest("--strategy", "market_maker", *args, data=data)
    assert result.returncode == 2  # was 0, with an all-zero or invented report
    assert _one_line(result) == f"tradeactors backtest: {message}"
    assert result.stdout == ""


def test_plot_without_matplotlib_fails_before_the_run(tmp_path):
    hidden = tmp_path / "hidden"
    (hidden / "matplotlib").mkdir(parents=True)
    (hidden / "matplotlib" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'matplotlib' (hidden by the test)\")\n"
    )
    report_file = tmp_path / "report.json"
    result = _backtest(
        "--strategy", "vwap", "--plot", str(tmp_path / "plot.png"), "--json", str(report_file),
        env={"PYTHONPATH": os.pathsep.join([str(hidden), os.environ.get("PYTHONPATH", "")])},
    )  # fmt: skip
    assert result.returncode == 2
    assert _one_line(result) == (
        "tradeactors backtest: --plot needs matplotlib (pip install 'tradeactors[plot]')"
    )
    assert result.stdout == ""  # no report: the run never started
    assert not report_file.exists()


INSTRUMENT_FILE = Path(__file__).resolve().parents[2] / "config" / "instruments.toml"


def test_the_steps_come_from_the_instrument_file_when_no_flag_gives_them(tmp_path):
    # the cryptofeed Binance capture (REST snapshots and diffs, merged in receive order)
    # as one file: NKNUSDT's steps were "unknown" before config/instruments.toml
    from tradeactors.replay import load_frames
    from tradeactors.venues.recording import HEADER, write_frame

    capture = tmp_path / "cryptofeed_binance.capture"
    with capture.open("w") as out:
        out.write(HEADER + "\n")
        for frame in load_frames(
            [DATA / "cryptofeed/BINANCE.http.0.0", DATA / "cryptofeed/BINANCE.ws.1.0"]
        ):
            write_frame(out, frame)
    report_file = tmp_path / "report.json"
    result = _backtest(
        "--strategy", "market_maker", "--symbol", "NKNUSDT", "--json", str(report_file),
        data=capture,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(report_file.read_bytes())
    assert (report["tick_size"], report["lot_size"]) == ("0.00001", "0.1")  # the file's
    overridden = _backtest(
        "--strategy", "market_maker", "--symbol", "NKNUSDT", "--lot-size", "1",
        "--json", str(report_file), data=capture,
    )  # fmt: skip
    assert overridden.returncode == 0, overridden.stderr[-2000:]
    report = json.loads(report_file.read_bytes())
    assert (report["tick_size"], report["lot_size"]) == ("0.00001", "1")  # a flag wins


def test_an_instrument_neither_in_the_file_nor_given_names_the_file_and_the_flags(tmp_path):
    capture = tmp_path / "abcusdt.capture"
    diff = '{"e":"depthUpdate","s":"ABCUSDT","U":1,"u":2,"b":[],"a":[]}'
    capture.write_text(
        f'# tradeactors-capture v1\n1 ws {{"stream":"abcusdt@depth@100ms","data":{diff}}}\n'
    )
    result = _backtest("--strategy", "market_maker", data=capture)
    assert result.returncode == 2
    assert _one_line(result) == (
        f"tradeactors backtest: ABCUSDT is not in {INSTRUMENT_FILE}: give --tick-size and "
        "--lot-size (or add [binance.ABCUSDT] to that file)"
    )
    assert result.stdout == ""


def test_the_cache_gives_the_report_byte_for_byte_and_is_used_the_second_time(tmp_path):
    cache = tmp_path / "cache"
    runs = {}
    for name, flags in (
        ("no cache", ["--no-cache"]),
        ("building it", ["--cache-dir", str(cache)]),
        ("from it", ["--cache-dir", str(cache)]),
    ):
        report_file = tmp_path / f"{name}.json"
        result = _backtest("--strategy", "market_maker", "--json", str(report_file), *flags)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stderr == ""
        runs[name] = (result.stdout, report_file.read_bytes())
        if name == "no cache":
            assert not cache.exists()  # --no-cache writes nothing
    assert runs["no cache"] == runs["building it"] == runs["from it"]
    stored = sorted((cache / "backtest").iterdir())
    assert len(stored) == 2  # the capture's symbols, the capture compiled for ETHUSDT
    assert not (tmp_path / "cache-home").exists()  # --cache-dir, not $XDG_CACHE_HOME


def test_a_sweep_gives_one_row_per_combination_whatever_the_jobs(tmp_path):
    sweep = ["--sweep", "half_spread=2,3", "--sweep", "latency-ms=1,5"]
    outputs = {}
    for jobs in ("1", "2"):
        report_file = tmp_path / f"jobs{jobs}.json"
        result = _backtest(
            "--strategy", "market_maker", *sweep, "--jobs", jobs, "--json", str(report_file)
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outputs[jobs] = (result.stdout, report_file.read_bytes())
    assert outputs["1"] == outputs["2"]
    stdout, rows = outputs["1"][0], json.loads(outputs["1"][1])
    assert [row["sweep"] for row in rows] == [
        {"half_spread": "2", "latency-ms": "1"},
        {"half_spread": "2", "latency-ms": "5"},
        {"half_spread": "3", "latency-ms": "1"},
        {"half_spread": "3", "latency-ms": "5"},
    ]
    table = stdout.splitlines()
    assert table[0] == "sweep of market_maker on ETHUSDT: 4 combinations"
    assert table[1].split()[:4] == ["half_spread", "latency-ms", "net", "PnL"]
    assert len(table) == 2 + 4
    # a row is the single run with those values: the defaults' (3, 5 ms) as without --sweep
    single = tmp_path / "single.json"
    assert _backtest("--strategy", "market_maker", "--json", str(single)).returncode == 0
    assert rows[3]["report"] == json.loads(single.read_bytes())
    assert rows[0]["report"]["params"]["half_spread"] == 2
    assert rows[0]["report"]["config"]["order_latency_ms"] == 1.0
    assert len({json.dumps(row["report"]["fill_series"]) for row in rows}) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "bogus=1,2"], ("--sweep bogus=1: strategy 'market_maker': Object "
                                    "contains unknown field `bogus`")),
        (["--sweep", "queue=fifo"], "--sweep queue=fifo: not one of conservative, probabilistic"),
        (["--sweep", "latency-ms=1,-1"], ("--sweep latency-ms=-1: latencies and "
                                          "latency_sigma must not be negative")),
        (["--sweep", "half_spread"], "--sweep 'half_spread': expected KEY=V1,V2,..."),
        (["--sweep", "seed=1,1"], "--sweep 'seed=1,1': a value given twice"),
        (["--sweep", "size=5", "--param", "size=5"], "--sweep size: also given with --param"),
        (["--sweep", "size=5", "--plot", "x.png"], "--plot is of one run: not with --sweep"),
        (["--jobs", "0"], "--jobs 0: at least 1"),
    ],
)  # fmt: skip
def test_a_bad_sweep_is_refused_in_one_line(args, message):
    result = _backtest("--strategy", "market_maker", *args)
    assert result.returncode == 2
    assert _one_line(result) == f"tradeactors backtest: {message}"
