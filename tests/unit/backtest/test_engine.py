"""The backtest's simulated venue: latency, matching, queue position, fees, determinism."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from tradeactors.backtest.engine import BacktestConfig, FillPoint, SyncLoss, run_backtest
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side
from tradeactors.strategy.api import Strategy
from tradeactors.venues.capture import Frame, read_capture

ETH = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.0001")
DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
CAPTURE = DATA / "hftbacktest" / "ethusdt_20240808.gz"
MS = 1_000_000
URL = "https://api.binance.com/api/v3/depth?symbol=ETHUSDT&limit=1000"


def _levels(levels):
    return [[f"{p / 100:.2f}", f"{q / 10_000:.4f}"] for p, q in levels]


class Tape:
    """Builds a Binance capture by hand: a snapshot, then diffs and trades, 1 ms apart."""

    def __init__(self, bids, asks, *, url=URL):
        self.t = 999 * MS  # the snapshot, first, is at 1 s
        self.update = 100
        self.frames = []
        self.snapshot(bids, asks, url=url)

    def snapshot(self, bids, asks, *, url=URL, as_of=None):
        """A REST snapshot as of update ``as_of`` (default: the last diff's); ``url=""``:
        none, as in hftbacktest's captures."""
        self.t += MS
        last = self.update if as_of is None else as_of
        body = {"lastUpdateId": last, "bids": _levels(bids), "asks": _levels(asks)}
        self.frames.append(
            Frame(
                received_ns=self.t,
                source="rest",
                payload=msgspec.json.encode(body).decode(),
                url=url,
            )
        )
        return self

    def gap(self):
        """The next diff is missing from the stream."""
        self.update += 1
        return self

    def _ws(self, stream, data):
        self.t += MS
        payload = {"stream": f"ethusdt@{stream}", "data": data}
        self.frames.append(
            Frame(received_ns=self.t, source="ws", payload=msgspec.json.encode(payload).decode())
        )
        return self

    def diff(self, bids=(), asks=()):
        self.update += 1
        return self._ws(
            "depth@100ms",
            {"e": "depthUpdate", "E": 1, "s": "ETHUSDT", "U": self.update, "u": self.update,
             "b": _levels(bids), "a": _levels(asks)},
        )  # fmt: skip

    def trade(self, price, quantity, *, aggressor_buy):
        return self._ws(
            "trade",
            {"e": "trade", "E": 1, "s": "ETHUSDT", "t": 1, "p": f"{price / 100:.2f}",
             "q": f"{quantity / 10_000:.4f}", "T": 1, "m": not aggressor_buy, "M": True},
        )  # fmt: skip


class Script(Strategy):
    """Does what it is told at its n-th book; records every update it gets."""

    name = "script"

    def __init__(self, actions):
        self.actions = actions  # book number -> callable(ctx)
        self.books = 0
        self.updates = []
        self.ids = {}

    def on_book(self, ctx, view):
        self.books += 1
        action = self.actions.get(self.books)
        if action is not None:
            action(self, ctx)

    def on_order_update(self, ctx, update):
        self.updates.append((ctx.now_ns, update.status, update.fill_quantity, update.fill_price))


def _run(tape, actions, **config):
    script = Script(actions)
    settings = {"order_latency_ms": 0.5, "response_latency_ms": 0.5, **config}
    report = run_backtest(tape.frames, ETH, script, BacktestConfig(**settings))
    return script, report


def _book():
    return Tape(bids=[(10_000, 5), (9_999, 10)], asks=[(10_001, 4), (10_002, 10)])


def test_a_marketable_order_takes_the_levels_it_reaches_and_ioc_drops_the_rest():
    tape = _book().diff().diff()

    def buy(script, ctx):
        script.ids["b"] = ctx.submit(side=Side.BUY, price=10_002, quantity=20, tif="ioc")

    script, report = _run(tape, {1: buy}, taker_fee_bps=10)
    fills = [(q, p) for _t, status, q, p in script.updates if q]
    assert fills == [(4, 10_001), (10, 10_002)]  # level by level, never more than shown
    assert script.updates[-1][1] == "expired"  # the 6 lots left of an IOC, as at Binance
    assert (report.taker_fills, report.maker_fills, report.final_position) == (2, 0, 0.0014)
    # fee: 10 bps of 4 x 100.01 x 0.0001 + 10 x 100.02 x 0.0001
    assert report.fees == pytest.approx(0.001 * (4 * 100.01 + 10 * 100.02) * 0.0001)


def test_a_post_only_order_that_would_take_is_rejected():
    tape = _book().diff()
    script, report = _run(
        tape,
        {1: lambda s, ctx: ctx.submit(side=Side.BUY, price=10_001, quantity=1, post_only=True)},
    )
    assert [u[1] for u in script.updates] == ["rejected"]
    assert report.orders_rejected == 1


def test_conservative_queue_a_resting_order_fills_only_after_the_trades_ahead_of_it():
    # 5 lots rest at 100.00 before ours; trades of 3, then 4 at that price
    tape = _book().diff().diff().trade(10_000, 3, aggressor_buy=False)
    tape.trade(10_000, 4, aggressor_buy=False).diff()

    script, report = _run(
        tape, {1: lambda s, ctx: ctx.submit(side=Side.BUY, price=10_000, quantity=3)}
    )
    statuses = [(status, q) for _t, status, q, _p in script.updates]
    assert statuses == [("accepted", 0), ("partially_filled", 2)]  # 3 + 4 - 5 ahead
    assert report.maker_fills == 1


def test_probabilistic_queue_also_advances_on_cancels_ahead():
    # the level at 100.00 shrinks from 5 to 1 lot without a trade: most of it was ahead
    tape = _book().diff().diff(bids=[(10_000, 1)]).trade(10_000, 2, aggressor_buy=False).diff()
    conservative, _ = _run(
        tape, {1: lambda s, c: c.submit(side=Side.BUY, price=10_000, quantity=2)}
    )
    probabilistic, _ = _run(
        tape,
        {1: lambda s, c: c.submit(side=Side.BUY, price=10_000, quantity=2)},
        queue="probabilistic",
    )
    assert not [u for u in conservative.updates if u[2]]  # 5 ahead, only 2 traded
    # 4 of the 5 ahead left: 1 ahead, then a trade of 2 fills 1 of ours
    assert [u[2] for u in probabilistic.updates if u[2]] == [1]


def test_a_trade_through_the_price_or_the_book_crossing_it_fills_a_resting_order():
    tape = _book().diff().diff().trade(9_999, 1, aggressor_buy=False).diff()
    script, _ = _run(tape, {1: lambda s, c: c.submit(side=Side.BUY, price=10_000, quantity=3)})
    assert [(status, q) for _t, status, q, _p in script.updates] == [("accepted", 0), ("filled", 3)]

    # the ask falls through the order; the bids leave first (a book never crosses: it resyncs)
    falling = [(10_000, 0), (9_999, 0), (9_994, 5)]
    crossing = _book().diff().diff(bids=falling, asks=[(10_001, 0), (9_995, 2)]).diff()
    script, _ = _run(crossing, {1: lambda s, c: c.submit(side=Side.BUY, price=9_996, quantity=1)})
    assert [(status, q) for _t, status, q, _p in script.updates] == [("accepted", 0), ("filled", 1)]


def test_latency_the_answer_comes_a_round_trip_after_the_order():
    tape = _book().diff().diff().diff()
    script, _ = _run(tape, {1: lambda s, c: c.submit(side=Side.BUY, price=9_000, quantity=1)})
    first_book_ns = tape.frames[0].received_ns  # the snapshot is the first book
    (accepted_ns, status, _q, _p), *_ = script.updates
    assert status == "accepted"
    assert accepted_ns == first_book_ns + 1 * MS  # 0.5 ms there, 0.5 ms back


def test_a_cancel_sent_with_the_order_cancels_it_before_later_trades():
    tape = _book().diff().diff().trade(10_000, 20, aggressor_buy=False)

    def both(script, ctx):
        ctx.cancel(ctx.submit(side=Side.BUY, price=10_000, quantity=1))

    script, report = _run(tape, {1: both})
    assert [u[1] for u in script.updates] == ["accepted", "cancelled"]
    assert report.orders_cancelled == 1
    assert report.fills == 0


def test_a_cancel_that_reaches_the_venue_after_the_fill_changes_nothing():
    # fill at the venue at t+2 ms; its report reaches us at t+4 ms; we cancel at t+3 ms
    tape = _book().diff().trade(10_000, 20, aggressor_buy=False).diff().diff()

    def submit(script, ctx):
        script.ids["o"] = ctx.submit(side=Side.BUY, price=10_000, quantity=1)

    def cancel(script, ctx):
        ctx.cancel(script.ids["o"])

    script, report = _run(tape, {1: submit, 3: cancel}, response_latency_ms=2.0)
    assert [u[1] for u in script.updates] == ["accepted", "filled"]
    assert (report.orders_cancelled, report.fills) == (0, 1)


def test_realized_pnl_fees_and_drawdown_of_a_round_trip():
    rally = [(10_001, 0), (10_002, 0), (10_011, 5)]  # the asks leave first: never crossed
    tape = _book().diff().diff(asks=rally, bids=[(10_010, 5)]).diff()

    def buy(script, ctx):
        ctx.submit(side=Side.BUY, price=10_001, quantity=2, tif="ioc")

    def sell(script, ctx):
        ctx.submit(side=Side.SELL, price=10_010, quantity=2, tif="ioc")

    _script, report = _run(tape, {1: buy, 3: sell}, taker_fee_bps=0, maker_fee_bps=0)
    assert report.final_position == 0
    assert report.realized_pnl == pytest.approx(9 * 2 * 0.01 * 0.0001)  # 9 ticks x 2 lots
    assert report.net_pnl == report.realized_pnl
    assert report.unrealized_pnl == 0


@pytest.mark.skipif(not CAPTURE.exists(), reason="../shared/data is not beside the project")
def test_the_same_inputs_give_a_byte_identical_report():
    frames = list(read_capture(CAPTURE))[:4000]

    class Quoter(Strategy):
        name = "quoter"

        def on_book(self, ctx, view):
            if view.best_bid and view.best_ask and not ctx.open_orders():
                ctx.submit(side=Side.BUY, price=view.best_bid[0], quantity=10)
                ctx.submit(side=Side.SELL, price=view.best_ask[0], quantity=10)

    def once(seed):
        config = BacktestConfig(latency_sigma=0.5, seed=seed, queue="probabilistic")
        return msgspec.json.encode(run_backtest(frames, ETH, Quoter(), config))

    first = once(7)
    assert first == once(7)
    assert b'"fills":0,' not in first  # it traded: the comparison means something
    assert first != once(8)  # the seed drives the latency draws


def test_every_fill_is_in_the_report_with_its_time_side_price_and_quantity():
    tape = _book().diff().diff()

    def buy(script, ctx):
        ctx.submit(side=Side.BUY, price=10_002, quantity=20, tif="ioc")

    _script, report = _run(tape, {1: buy})
    assert report.fill_series == [  # the order reached the venue 0.5 ms after the snapshot
        FillPoint(t=0.0005, side=Side.BUY, price=100.01, quantity=0.0004, maker=False),
        FillPoint(t=0.0005, side=Side.BUY, price=100.02, quantity=0.001, maker=False),
    ]
    assert (report.tick_size, report.lot_size) == ("0.01", "0.0001")


class TestHowMuchOfTheCaptureTheBookFollowed:
    """The report says which part of the capture the book was in sync for, and why not."""

    BTC = Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.01", lot_size="0.0001")

    def test_a_capture_in_sync_throughout_applies_every_update(self):
        _script, report = _run(_book().diff().diff().diff(), {})
        assert (report.book_updates_seen, report.book_updates_applied) == (3, 3)
        assert (report.first_synced_s, report.synced_s, report.duration_s) == (0.0, 0.003, 0.003)
        assert report.synced_at_end
        assert report.sync_losses == []
        assert report.synced_percent == 100.0
        assert report.problem() is None

    def test_a_gap_then_a_later_snapshot_is_one_loss_with_when_it_resynced(self):
        # 101 102 | 103 missing | 104 (gap) 105 (waits) | snapshot as of 104 | 106
        tape = _book().diff().diff().gap().diff().diff()
        tape.snapshot(bids=[(10_000, 5)], asks=[(10_001, 4)], as_of=104).diff()
        script, report = _run(tape, {})
        assert report.sync_losses == [
            SyncLoss(t=0.003, reason="gap", update_id=104, resynced_t=0.005)
        ]
        assert report.snapshots == 2
        # 105 was replayed over the snapshot; 104 was covered by it
        assert (report.book_updates_seen, report.book_updates_applied) == (5, 4)
        assert report.synced_s == 0.003 + 0.001  # 0 to 3 ms, then 5 ms to the end at 6 ms
        assert report.synced_at_end
        assert report.problem() is None  # it resynced: the report says how much, no more
        assert script.books == 5  # the first snapshot, 101, 102, the second snapshot, 106

    def test_a_book_that_lost_sync_and_never_resynced_is_a_problem_naming_it(self):
        _script, report = _run(_book().diff().gap().diff().diff(), {})
        assert report.sync_losses == [SyncLoss(t=0.002, reason="gap", update_id=103)]
        assert not report.synced_at_end
        assert report.problem() == (
            "the ETHUSDT book lost sync at 0.0 s (a gap at update 103) and never resynced: "
            "1 of 3 depth updates applied, in sync 66.6% of the time"
        )

    def test_a_capture_without_a_snapshot_never_syncs_and_says_so(self):
        tape = _book().diff().diff()
        del tape.frames[0]
        _script, report = _run(tape, {})
        assert report.first_synced_s is None
        assert report.book_updates == 0
        assert "book never synced: the capture has no depth snapshot of it" in report.problem()

    def test_a_snapshot_older_than_every_update_never_syncs_and_says_so(self):
        tape = _book()
        del tape.frames[0]
        tape.gap().diff().diff().snapshot(bids=[(10_000, 5)], asks=[(10_001, 4)], as_of=90)
        _script, report = _run(tape, {})
        assert report.snapshots == 1
        assert "none of the capture's 1 depth snapshots of it fitted" in report.problem()

    def test_a_snapshot_of_another_symbol_is_never_taken_for_this_one(self):
        for url in (URL, ""):  # named ETHUSDT; or unnamed, with no BTCUSDT diff waiting
            tape = Tape(bids=[(10_000, 5)], asks=[(10_001, 4)], url=url).diff()
            report = run_backtest(tape.frames, self.BTC, Script({}), BacktestConfig())
            assert report.book_updates == 0  # was 1: ETHUSDT's book, backtested as BTCUSDT's
            assert report.problem() == "the capture has no depth updates or snapshots of BTCUSDT"

    def test_an_unnamed_snapshot_serves_the_instrument_whose_updates_wait_for_it(self):
        tape = _book()
        del tape.frames[0]
        tape.diff().snapshot(bids=[(10_000, 5)], asks=[(10_001, 4)], url="").diff()
        _script, report = _run(tape, {})
        assert report.first_synced_s == 0.001
        assert report.synced_at_end


class TestAmend:
    """Amends follow the matching rules: less at the same price keeps the queue place."""

    @staticmethod
    def _tape():
        # 5 lots rest at 100.00 before ours; 3 trade there, we amend, then 4 more trade
        tape = _book().diff().trade(10_000, 3, aggressor_buy=False).diff()
        return tape.trade(10_000, 4, aggressor_buy=False).diff()

    def _amended(self, **change):
        def submit(script, ctx):
            script.ids["o"] = ctx.submit(side=Side.BUY, price=10_000, quantity=3)

        def amend(script, ctx):
            ctx.amend(script.ids["o"], **change)

        script = Script({1: submit, 3: amend})
        amends = []
        script.on_order_update = lambda ctx, u: (
            script.updates.append((ctx.now_ns, u.status, u.fill_quantity, u.fill_price)),
            u.amend and amends.append((u.amend, u.price, u.quantity, u.reason)),
        )
        settings = {"order_latency_ms": 0.5, "response_latency_ms": 0.5}
        report = run_backtest(self._tape().frames, ETH, script, BacktestConfig(**settings))
        return script, amends, report

    def test_less_at_the_same_price_keeps_the_place(self):
        script, amends, _report = self._amended(quantity=2)
        assert amends == [("amended", 10_000, 2, "amended in place")]
        # 2 were ahead after the first trade: the next 4 fill all 2 of ours
        assert [(s, q) for _t, s, q, _p in script.updates if q] == [("filled", 2)]

    def test_more_at_the_same_price_loses_the_place(self):
        script, amends, _report = self._amended(quantity=4)
        assert amends == [("amended", 10_000, 4, "amended")]
        # back of the queue: the 5 recorded at the price are ahead again, 4 trade
        assert not [u for u in script.updates if u[2]]

    def test_an_amend_of_an_order_that_no_longer_rests_is_refused(self):
        def submit(script, ctx):
            script.ids["o"] = ctx.submit(side=Side.BUY, price=10_001, quantity=1)  # fills

        def amend(script, ctx):
            ctx.amend(script.ids["o"], price=9_990)

        script = Script({1: submit, 2: amend})
        seen = []
        script.on_order_update = lambda ctx, u: seen.append((u.status, u.amend, u.reason))
        run_backtest(
            _book().diff().diff().diff().diff().diff().diff().diff().diff().frames, ETH, script,
            BacktestConfig(order_latency_ms=0.5, response_latency_ms=5.0),
        )  # fmt: skip
        assert seen == [("filled", None, ""), ("filled", "rejected", "unknown_order")]

    def test_a_second_amend_before_the_first_is_answered_is_denied(self):
        def both(script, ctx):
            order = ctx.submit(side=Side.BUY, price=9_000, quantity=3)
            script.ids["o"] = order

        def twice(script, ctx):
            ctx.amend(script.ids["o"], quantity=2)
            ctx.amend(script.ids["o"], quantity=1)

        script = Script({1: both, 3: twice})
        seen = []
        script.on_order_update = lambda ctx, u: u.amend and seen.append((u.amend, u.reason))
        run_backtest(
            _book().diff().diff().diff().diff().frames, ETH, script,
            BacktestConfig(order_latency_ms=0.5, response_latency_ms=0.5),
        )  # fmt: skip
        assert seen == [("denied", "amend_pending"), ("amended", "amended in place")]

    def test_a_new_price_that_crosses_takes_at_once_and_rests_the_rest(self):
        # the bid at 99.90 is moved to 100.02: it takes the 4 and 10 asked up to there,
        # and the rest rests; the recorded asks still cross it at the next book: filled
        script, amends, report = self._run_amend(Side.BUY, 9_990, 20, price=10_002)
        assert amends == [("amended", 10_002, 20, "amended")]
        fills = [(status, q, p) for _t, status, q, p in script.updates if q]
        assert fills == [
            ("partially_filled", 4, 10_001),
            ("partially_filled", 10, 10_002),
            ("filled", 6, 10_002),
        ]
        assert (report.taker_fills, report.maker_fills) == (2, 1)

    def test_more_lots_count_as_submitted(self):
        _script, _amends, report = self._run_amend(Side.BUY, 9_990, 20, price=10_002, quantity=30)
        assert report.volume == pytest.approx(0.003)  # 30 lots: 4 + 10 taken, 16 crossed
        assert report.fill_ratio == 1.0  # of the 30 lots offered in all

    def test_a_post_only_amend_that_would_cross_is_refused_and_the_order_stays(self):
        script, amends, report = self._run_amend(Side.BUY, 9_990, 2, price=10_001, post_only=True)
        assert amends == [("rejected", 9_990, 2, "post_only_would_take")]
        assert not [u for u in script.updates if u[2]]
        assert report.orders_rejected == 0  # the order was not: only its amend
        # still resting, at its old price: the stop's cancel finds it
        assert report.orders_cancelled == 1

    def test_an_amend_that_would_leave_nothing_open_is_refused(self):
        _script, amends, _report = self._run_amend(Side.SELL, 10_010, 2, quantity=0)
        assert amends == [("rejected", 10_010, 2, "invalid_order")]

    def _run_amend(self, side, at, lots, *, post_only=False, **change):
        def submit(script, ctx):
            script.ids["o"] = ctx.submit(side=side, price=at, quantity=lots, post_only=post_only)

        def amend(script, ctx):
            ctx.amend(script.ids["o"], **change)

        class StopCancels(Script):
            def on_stop(self, ctx):
                ctx.cancel_all()

        script = StopCancels({1: submit, 3: amend})
        amends = []
        script.on_order_update = lambda ctx, u: (
            script.updates.append((ctx.now_ns, u.status, u.fill_quantity, u.fill_price)),
            u.amend and amends.append((u.amend, u.price, u.quantity, u.reason)),
        )
        settings = {"order_latency_ms": 0.5, "response_latency_ms": 0.5}
        tape = _book().diff().diff().diff().diff()
        report = run_backtest(tape.frames, ETH, script, BacktestConfig(**settings))
        return script, amends, report


class TestOneInstrument:
    """A backtest replays one instrument: its context says so, and refuses others."""

    def test_the_context_trades_the_replayed_symbol_alone(self):
        seen = []

        def look(script, ctx):
            seen.append((ctx.instrument, ctx.instruments, ctx.position_of("ETHUSDT")))
            script.ids["a"] = ctx.submit(side=Side.BUY, price=10_000, quantity=1)
            script.ids["b"] = ctx.submit(
                side=Side.BUY, price=9_999, quantity=1, instrument="ETHUSDT"
            )
            seen.append([(o.instrument, o.price) for o in ctx.open_orders("ETHUSDT")])

        def stray(script, ctx):
            with pytest.raises(
                ValueError, match="does not trade 'BTCUSDT'; its instruments: ETHUSDT"
            ):
                ctx.submit(side=Side.BUY, price=9_000, quantity=1, instrument="BTCUSDT")
            with pytest.raises(ValueError, match="BTCUSDT"):
                ctx.position_of("BTCUSDT")
            seen.append(len(ctx.open_orders()))

        _script, report = _run(_book().diff().diff(), {1: look, 2: stray})
        assert seen == [
            ("ETHUSDT", ("ETHUSDT",), 0),
            [("ETHUSDT", 10_000), ("ETHUSDT", 9_999)],
            2,  # the refused submit tracked nothing
        ]
        assert report.orders_sent == 2  # and sent nothing

    def test_a_strategy_configured_with_several_instruments_is_refused(self):
        tape = _book().diff()
        with pytest.raises(
            ValueError, match=r"replays one instrument \(ETHUSDT\); strategy 'script'"
        ):
            run_backtest(tape.frames, ETH, Script({}), instruments=["ETHUSDT", "BTCUSDT"])
        with pytest.raises(ValueError, match="configured to trade BTCUSDT"):
            run_backtest(tape.frames, ETH, Script({}), instruments=["BTCUSDT"])
        report = run_backtest(tape.frames, ETH, Script({}), instruments=["ETHUSDT"])
        assert report.book_updates == 2


class TestViewDepth:
    """A strategy's `view_depth` is the depth of its views, as live; else the config's."""

    class Views(Strategy):
        name = "views"

        def __init__(self, depth=None):
            self.view_depth = depth
            self.depths = []

        def on_book(self, ctx, view):
            self.depths.append((len(view.bids), len(view.asks)))

    def _depths(self, asked=None, **config):
        tape = Tape(bids=[(10_000, 5), (9_999, 10), (9_998, 1)], asks=[(10_001, 4), (10_002, 10)])
        tape.diff(bids=[(9_997, 2)])
        strategy = self.Views(asked)
        run_backtest(tape.frames, ETH, strategy, BacktestConfig(**config))
        return strategy.depths

    def test_the_strategy_s_depth_else_the_config_s(self):
        assert self._depths() == [(3, 2), (4, 2)]  # the config's 20: every level
        assert self._depths(1) == [(1, 1), (1, 1)]
        assert self._depths(None, depth=1) == [(1, 1), (1, 1)]  # the config's 1
        assert self._depths(3, depth=1) == [(3, 2), (3, 2)]  # what it asked, not the config's

    def test_a_depth_that_is_no_depth_is_refused_before_the_run(self):
        with pytest.raises(ValueError, match="view_depth = 0"):
            self._depths(0)
