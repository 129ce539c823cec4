"""A backtest's journal: the live format, the backtest's time, one run per file."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
from test_engine import ETH, MS, _book

from tradeactors import cli
from tradeactors.backtest.engine import BacktestConfig, run_backtest
from tradeactors.backtest.journal import BATCH, JournalExistsError
from tradeactors.core.messages import Side
from tradeactors.journal import JournalReader, JournalUnavailableError
from tradeactors.strategy import make_strategy
from tradeactors.strategy.api import Strategy
from tradeactors.venues.capture import read_capture

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
CAPTURE = DATA / "hftbacktest" / "ethusdt_20240808.gz"
needs_capture = pytest.mark.skipif(
    not CAPTURE.exists(), reason="../shared/data is not beside the project"
)


@pytest.fixture(scope="module")
def frames():
    if not CAPTURE.exists():
        pytest.skip("../shared/data is not beside the project")
    return list(read_capture(CAPTURE))


def _read(path):
    with JournalReader(path) as reader:
        return reader.orders(), reader.fills(), reader.events(), reader.verify()


@needs_capture
class TestTheJournalOfABacktestOfTheCapture:
    """The market maker on the whole ETHUSDT capture, journaled."""

    def test_verify_passes_every_check(self, frames, tmp_path):
        path = tmp_path / "bt.sqlite"
        run_backtest(frames, ETH, make_strategy("market_maker", {}), journal=path)
        checks = _read(path)[3]
        assert [(c.name, c.verdict) for c in checks] == [
            ("sqlite_quick_check", "PASS"),
            ("fills_of_known_orders", "PASS"),
            ("filled_within_quantity", "PASS"),
            ("filled_equals_sum_of_fills", "PASS"),
            ("execution_ids_unique", "PASS"),
            ("positions_equal_sum_of_fills", "PASS"),
        ]

    def test_the_fills_are_the_reports_at_the_time_the_strategy_heard_them(self, frames, tmp_path):
        path = tmp_path / "bt.sqlite"
        config = BacktestConfig(response_latency_ms=3.0)
        report = run_backtest(frames, ETH, make_strategy("market_maker", {}), config, journal=path)
        orders, fills, events, _checks = _read(path)
        assert report.fills > 100  # it traded: the comparison means something
        start_ns = frames[0].received_ns
        assert [
            (
                # the venue filled at t; the strategy heard it (and the journal took it)
                # one response latency later, in the capture's own clock
                round((f["time_ns"] - 3 * MS - start_ns) / 1e9, 6),
                f["side"],
                float(f["fill_price"]),
                float(f["fill_quantity"]),
            )
            for f in fills
        ] == [(p.t, p.side.value, p.price, p.quantity) for p in report.fill_series]
        assert [int(f["execution_id"]) for f in fills] == list(range(1, report.fills + 1))
        assert len(orders) == report.orders_sent
        assert {(o["strategy"], o["owner"]) for o in orders} == {
            ("market_maker", "strategies/market_maker/strategy")
        }
        cancelled = sum(o["status"] == "cancelled" for o in orders)
        assert cancelled == report.orders_cancelled
        final = events[-1]
        assert final["kind"] == "positions"
        lots = round(report.final_position / float(ETH.lot_size))
        assert final["payload"]["positions"] == {"ETHUSDT": lots}
        assert final["time_ns"] == max(e["time_ns"] for e in events)  # the run's last moment

    def test_the_report_is_byte_identical_with_and_without_the_journal(self, frames, tmp_path):
        config = BacktestConfig(latency_sigma=0.5, seed=3, queue="probabilistic")

        def once(journal):
            report = run_backtest(
                frames, ETH, make_strategy("market_maker", {}), config, journal=journal
            )
            return msgspec.json.encode(report)

        assert once(tmp_path / "bt.sqlite") == once(None)


class Scripted(Strategy):
    """At its first book: a post-only buy that would take, a resting bid amended twice."""

    name = "scripted"

    def __init__(self):
        self.coids = {}
        self.updates = []

    def on_book(self, ctx, view):
        if self.coids:
            return
        self.coids["taker"] = ctx.submit(
            side=Side.BUY, price=view.best_ask[0], quantity=3, post_only=True
        )
        self.coids["bid"] = ctx.submit(side=Side.BUY, price=9_990, quantity=5)

    def on_order_update(self, ctx, update):
        self.updates.append(update)
        if update.client_order_id == self.coids["bid"] and update.status == "accepted":
            if update.amend is None:
                ctx.amend(update.client_order_id, price=9_991)
                ctx.amend(update.client_order_id, price=9_992)  # before the answer: denied
            else:
                ctx.cancel(update.client_order_id)


def test_rejects_amends_denials_and_cancels_are_recorded_as_the_strategy_heard_them(tmp_path):
    path = tmp_path / "bt.sqlite"
    tape = _book().diff().diff().diff().diff()
    strategy = Scripted()
    config = BacktestConfig(order_latency_ms=0.5, response_latency_ms=0.5)
    run_backtest(tape.frames, ETH, strategy, config, journal=path)
    _orders, _fills, events, checks = _read(path)
    recorded = [
        (e["client_order_id"], e["kind"], e["status"], e["reason"], e["payload"]["amend"])
        for e in events
        if e["kind"] != "positions"
    ]
    heard = [
        (u.client_order_id, "order_update", u.status.value, u.reason, u.amend)
        for u in strategy.updates
    ]
    assert recorded == heard  # every update, in the order the strategy heard them
    assert recorded == [
        ("bt-1", "order_update", "rejected", "post_only_would_take", None),
        ("bt-2", "order_update", "accepted", "", None),
        ("bt-2", "order_update", "accepted", "amend_pending", "denied"),
        ("bt-2", "order_update", "accepted", "amended", "amended"),
        ("bt-2", "order_update", "cancelled", "user", None),
    ]
    assert [e["payload"]["owner"] for e in events[:-1]] == ["strategies/scripted/strategy"] * 5
    assert events[-1]["payload"]["positions"] == {"ETHUSDT": 0}
    assert {c.name: c.verdict for c in checks}["positions_equal_sum_of_fills"] == "PASS"


def test_more_events_than_a_batch_are_all_committed(tmp_path):
    class Churn(Strategy):
        name = "churn"

        def on_book(self, ctx, view):
            for _ in range(0 if ctx.open_orders() else BATCH // 2 + 1):
                ctx.submit(side=Side.BUY, price=9_000, quantity=1)  # accepted, then:

        def on_stop(self, ctx):
            ctx.cancel_all()  # cancelled

    path = tmp_path / "bt.sqlite"
    tape = _book().diff()
    report = run_backtest(tape.frames, ETH, Churn(), journal=path)
    _orders, _fills, events, _checks = _read(path)
    assert report.orders_cancelled > BATCH // 2
    assert len(events) == 2 * report.orders_sent + 1 > BATCH


class TestOneRunPerFile:
    """A journal path that exists is refused before anything runs; nothing is changed."""

    def test_an_existing_file_is_refused_before_the_strategy_starts(self, tmp_path):
        path = tmp_path / "bt.sqlite"
        path.write_bytes(b"an earlier run")
        started = []

        class Recording(Strategy):
            def on_start(self, ctx):
                started.append(ctx.now_ns)

        with pytest.raises(JournalExistsError, match=r"bt\.sqlite: exists: a backtest journal"):
            run_backtest(_book().diff().frames, ETH, Recording(), journal=path)
        assert started == []
        assert path.read_bytes() == b"an earlier run"

    def test_a_journal_that_cannot_be_made_is_refused_naming_it(self, tmp_path):
        path = tmp_path / "no-such-dir" / "bt.sqlite"
        frames = _book().diff().frames
        with pytest.raises(
            JournalUnavailableError, match=r"no-such-dir/bt\.sqlite: cannot be made"
        ):
            run_backtest(frames, ETH, make_strategy("market_maker", {}), journal=path)


@needs_capture
def test_the_cli_writes_a_journal_that_journal_verify_passes_and_refuses_it_twice(
    tmp_path, capsys, monkeypatch
):
    # in-process: the command's logging setup would bind later tests' logs to capsys
    monkeypatch.setattr("tradeactors.backtest.cli.configure_logging", lambda **_: None)
    path = tmp_path / "bt.sqlite"
    args = ["backtest", "--data", str(CAPTURE), "--strategy", "vwap"]
    args += ["--tick-size", "0.01", "--lot-size", "0.0001"]
    assert cli.main([*args, "--journal", str(path)]) == 0
    with_journal = capsys.readouterr().out
    assert cli.main(args) == 0
    assert capsys.readouterr().out == with_journal  # the report is the same without it

    assert cli.main(["journal", "verify", "--journal", str(path)]) == 0
    verdict = capsys.readouterr().out.splitlines()
    assert verdict[-1] == f"{path}: PASS (0 of 6 failed)"
    assert all(line.startswith("PASS") for line in verdict[:-1])

    assert cli.main(["journal", "fills", "--journal", str(path), "--strategy", "vwap"]) == 0
    fills = re.search(r"^fills\s+(\d+) ", with_journal, flags=re.MULTILINE)
    assert fills is not None
    assert capsys.readouterr().out.splitlines()[-1] == f"({fills.group(1)} rows)"

    before = path.read_bytes()
    assert cli.main([*args, "--journal", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        (
            f"tradeactors backtest: journal {path}: exists: a backtest journal records one "
            "run; give a new file (or remove this one)"
        )
    ]
    assert path.read_bytes() == before
