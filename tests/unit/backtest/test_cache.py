"""Captures compiled for the backtest, and their cache: the same report, never a wrong one."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

import msgspec
import pytest

from tradeactors.backtest import cache as capture_cache
from tradeactors.backtest.cache import (
    MAGIC,
    CaptureCache,
    CompiledCapture,
    PreparedCapture,
    compile_frames,
)
from tradeactors.backtest.engine import BacktestConfig, run_backtest
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side
from tradeactors.strategy import make_strategy
from tradeactors.strategy.api import Strategy
from tradeactors.venues import binance
from tradeactors.venues.capture import Frame, read_capture
from tradeactors.venues.instrument_file import load_instrument_file
from tradeactors.venues.paper import PaperVenue, VenueModel

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
ETHUSDT = DATA / "hftbacktest" / "ethusdt_20240808.gz"
CRYPTOFEED = (DATA / "cryptofeed" / "BINANCE.http.0.0", DATA / "cryptofeed" / "BINANCE.ws.1.0")
ETH = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.00001")
needs_data = pytest.mark.skipif(not ETHUSDT.exists(), reason="../shared/data is not beside")


def _report(frames, instrument, strategy="market_maker", **config):
    report = run_backtest(frames, instrument, make_strategy(strategy), BacktestConfig(**config))
    return msgspec.json.encode(report)


@pytest.fixture(scope="module")
def eth_frames():
    return list(read_capture(ETHUSDT))


@pytest.fixture(scope="module")
def eth_compiled(eth_frames):
    return compile_frames(eth_frames, ETH)


@needs_data
class TestTheSharedCaptures:
    """A compiled capture gives the report of the frames it was made from, byte for byte."""

    @pytest.mark.parametrize(
        ("strategy", "config"),
        [
            ("market_maker", {}),
            ("market_maker", {"queue": "probabilistic", "latency_sigma": 0.5, "seed": 7}),
            ("momentum", {}),
            ("vwap", {"taker_fee_bps": -1.0}),
        ],
    )
    def test_ethusdt(self, eth_frames, eth_compiled, strategy, config):
        from_frames = _report(eth_frames, ETH, strategy, **config)
        assert _report(eth_compiled, ETH, strategy, **config) == from_frames
        assert msgspec.json.decode(from_frames)["fills"] > 0  # it traded: there was a test

    def test_ethusdt_through_the_stored_bytes(self, eth_frames, eth_compiled):
        loaded = CompiledCapture.from_bytes(eth_compiled.to_bytes(), ETH)
        assert _report(loaded, ETH) == _report(eth_frames, ETH)

    @pytest.mark.parametrize("symbol", ["NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"])
    def test_each_cryptofeed_symbol(self, symbol):
        frames = sorted(
            (frame for path in CRYPTOFEED for frame in read_capture(path)),
            key=lambda frame: frame.received_ns,
        )
        instrument = load_instrument_file().get("binance", symbol)
        assert instrument is not None
        from_frames = _report(frames, instrument)
        assert _report(compile_frames(frames, instrument), instrument) == from_frames
        assert msgspec.json.decode(from_frames)["book_updates_applied"] > 0


# -- hand-made frames: everything that is not a plain update or trade --------------------

MS = 1_000_000
URL = "https://api.binance.com/api/v3/depth?symbol=ETHUSDT&limit=1000"


def _ws(t, stream, data):
    payload = msgspec.json.encode({"stream": stream, "data": data}).decode()
    return Frame(received_ns=t * MS, source="ws", payload=payload)


def _diff(t, update, bids=(), asks=(), *, symbol="ETHUSDT"):
    data = {"e": "depthUpdate", "E": 1, "s": symbol, "U": update, "u": update,
            "b": [list(level) for level in bids], "a": [list(level) for level in asks]}  # fmt: skip
    return _ws(t, f"{symbol.lower()}@depth@100ms", data)


def _trade(t, price, quantity, *, maker):
    data = {"e": "trade", "E": 1, "s": "ETHUSDT", "t": 1, "p": price, "q": quantity,
            "T": 1, "m": maker, "M": True}  # fmt: skip
    return _ws(t, "ethusdt@trade", data)


def _snapshot(t, last):
    body = {"lastUpdateId": last, "bids": [["100.00", "1.0"], ["99.99", "2.0"]],
            "asks": [["100.02", "1.0"], ["100.03", "2.0"]]}  # fmt: skip
    payload = msgspec.json.encode(body).decode()
    return Frame(received_ns=t * MS, source="rest", payload=payload, url=URL)


TICKER = {"u": 1, "s": "ETHUSDT", "b": "1", "B": "1", "a": "2", "A": "1"}


def _odd_frames():
    """A capture with every kind of frame the compiler must keep as the venue reads it."""
    huge = "9" * 30  # more ticks than 64 bits hold: kept as the frame itself
    return [
        _diff(1, 101, bids=[("100.00", "1.5")]),  # buffered, before the snapshot
        _snapshot(2, 100),
        _diff(3, 102, bids=[("100.01", "0.5")], asks=[("100.02", "0.00001234")]),
        _trade(4, "100.02", "0.4", maker=False),
        _trade(5, "100.015", "1.0", maker=True),  # off the tick: ignored, counted as a frame
        _trade(6, huge, "1.0", maker=False),
        Frame(received_ns=7 * MS, source="ws", payload='{"stream": "ethusdt@depth"'),  # cut
        _ws(8, "ethusdt@bookTicker", TICKER),
        _diff(9, 103, bids=[("100.00", "x")]),  # a bad level: sync lost
        _diff(10, 7, bids=[("1.00", "1")], symbol="BTCUSDT"),  # another symbol's
        _diff(11, 104, bids=[("100.00", "2.0")]),  # waits for a snapshot
        _snapshot(12, 103),
        _diff(13, 106, asks=[("100.05", "1.0")]),  # a gap
        _snapshot(14, 106),
        _diff(15, 107, bids=[("100.03", "1.0")]),  # crossed
        _snapshot(16, 107),
        _diff(17, 108, bids=[("99.98", "1.0")]),
        _trade(18, "99.97", "3.0", maker=True),
    ]


def test_frames_of_every_kind_give_the_same_report():
    frames = _odd_frames()
    compiled = compile_frames(frames, ETH)
    assert set(compiled.kinds) == {0, 1, 2, 3}  # other, update, trade, raw: all were made
    for config in ({}, {"queue": "probabilistic"}):
        from_frames = _report(frames, ETH, **config)
        assert _report(compiled, ETH, **config) == from_frames
        report = msgspec.json.decode(from_frames)
        assert {loss["reason"] for loss in report["sync_losses"]} == {
            "bad_level",
            "gap",
            "crossed",
        }
        assert report["frames"] == len(frames)


def _journal_rows(path):
    with contextlib.closing(sqlite3.connect(path)) as db:
        query = "select name from sqlite_master where type = 'table' order by name"
        tables = [row[0] for row in db.execute(query)]
        return {table: db.execute(f"select * from {table}").fetchall() for table in tables}  # noqa: S608


def test_frames_that_only_move_time_run_what_falls_due_between_them(tmp_path):
    ticker = _ws(0, "ethusdt@bookTicker", TICKER)
    frames = [ticker, *_odd_frames()]  # it starts with one
    for at in (2, 3, 4, 17):  # orders in flight while tickers and others' updates pass
        for step in range(1, 10):
            when = at * MS + step * MS // 10
            frames.append(Frame(received_ns=when, source="ws", payload=ticker.payload))
            frames.append(_diff(0, 1, bids=[("1.00", "1")], symbol="BTCUSDT"))
            frames[-1] = Frame(received_ns=when, source="ws", payload=frames[-1].payload)
    last = frames[-1].received_ns
    frames += [Frame(received_ns=last + n * MS // 4, source="ws", payload=ticker.payload)
               for n in range(1, 20)]  # fmt: skip
    frames.sort(key=lambda frame: frame.received_ns)
    compiled = compile_frames(frames, ETH)
    assert compiled.kinds[0] == 0
    for latency in (0.05, 0.3, 2.0):
        config = BacktestConfig(order_latency_ms=latency, response_latency_ms=latency)
        heard = {}
        for name, data in (("frames", frames), ("compiled", compiled)):
            strategy = _Timed()
            journal = tmp_path / f"{name}-{latency}.sqlite"
            report = run_backtest(data, ETH, strategy, config, journal=journal)
            heard[name] = (msgspec.json.encode(report), strategy.heard, _journal_rows(journal))
        assert heard["compiled"] == heard["frames"]
        assert len(heard["frames"][1]) > 10  # answers and timers, each at its own time


class _Timed(Strategy):
    """Quotes on each book, with a timer; hears when each answer and timer comes."""

    name = "timed"

    def __init__(self):
        self.heard = []

    def on_book(self, ctx, view):
        if view.bids:
            ctx.submit(side=Side.BUY, price=view.bids[0][0] - 1, quantity=100, post_only=True)
            ctx.set_timer("again", 0.00015)

    def on_order_update(self, ctx, update):
        self.heard.append((ctx.now_ns, update.client_order_id, update.status))

    def on_timer(self, ctx, name):
        self.heard.append((ctx.now_ns, name))
        ctx.cancel_all()


def test_a_compiled_capture_of_another_instrument_is_refused():
    compiled = compile_frames(_odd_frames(), ETH)
    other = Instrument(venue="binance", symbol="ETHUSDT", tick_size="0.01", lot_size="0.001")
    with pytest.raises(ValueError, match="read for"):
        run_backtest(compiled, other, make_strategy("market_maker"))
    with pytest.raises(ValueError, match="another instrument"):
        CompiledCapture.from_bytes(compiled.to_bytes(), other)


# -- the cache on disk ------------------------------------------------------------------


def _capture(tmp_path, frames=None):
    """A capture file (cryptofeed format) of ``frames``."""
    path = tmp_path / "capture.ws"
    lines = []
    for frame in frames or _odd_frames():
        seconds = f"{frame.received_ns // 10**9}.{frame.received_ns % 10**9:09d}"
        head = f"{frame.url} -> {seconds}" if frame.source == "rest" else seconds
        lines.append(f"{head}: {frame.payload}\n")
    path.write_text("".join(lines))
    return path


def _files(directory):
    return sorted(p for p in (directory / "backtest").iterdir())


class TestTheCache:
    """What is stored is found again, and only for the same content and instrument."""

    def test_the_second_run_reads_neither_the_capture_nor_the_frames(self, tmp_path):
        path = _capture(tmp_path)
        first = PreparedCapture(path, CaptureCache(tmp_path / "cache"))
        assert first.depth_symbols() == ["ETHUSDT", "BTCUSDT"]
        expected = _report(first.compiled(ETH), ETH)
        assert len(_files(tmp_path / "cache")) == 2  # the symbols, the compiled capture

        again = PreparedCapture(path, CaptureCache(tmp_path / "cache"))
        again.frames = None  # type: ignore[method-assign] # reading them would fail
        assert again.depth_symbols() == ["ETHUSDT", "BTCUSDT"]
        assert _report(again.compiled(ETH), ETH) == expected
        assert not again.cache.rebuilt

    def test_a_capture_changed_in_place_is_compiled_again(self, tmp_path):
        path = _capture(tmp_path)
        cache_dir = tmp_path / "cache"
        before = _report(PreparedCapture(path, CaptureCache(cache_dir)).compiled(ETH), ETH)
        stat = path.stat()
        frames = _odd_frames()
        frames[-1] = _trade(18, "99.99", "3.0", maker=True)  # same length: trades through no bid
        _capture(tmp_path, frames)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
        assert path.stat().st_size == stat.st_size
        after = _report(PreparedCapture(path, CaptureCache(cache_dir)).compiled(ETH), ETH)
        assert after == _report(frames, ETH) != before

    @pytest.mark.parametrize(
        "damage",
        [
            lambda data: data[:-1],  # cut short
            lambda data: data[:-5] + bytes([data[-5] ^ 1]) + data[-4:],  # a flipped bit
            lambda data: b"garbage",
            lambda data: b"",
            lambda data: MAGIC + b"\xff\xff\xff\x7f",  # a header longer than the file
        ],
    )
    def test_a_damaged_file_is_rebuilt(self, tmp_path, damage):
        path = _capture(tmp_path)
        prepared = PreparedCapture(path, CaptureCache(tmp_path / "cache"))
        prepared.depth_symbols()
        expected = _report(prepared.compiled(ETH), ETH)
        assert len(_files(tmp_path / "cache")) == 2
        for stored in _files(tmp_path / "cache"):
            stored.write_bytes(damage(stored.read_bytes()))
        again = PreparedCapture(path, CaptureCache(tmp_path / "cache"))
        assert again.depth_symbols() == ["ETHUSDT", "BTCUSDT"]
        assert _report(again.compiled(ETH), ETH) == expected
        assert len(again.cache.rebuilt) == 2
        assert PreparedCapture(path, CaptureCache(tmp_path / "cache")).compiled(ETH)  # mended
        assert not [f for f in (tmp_path / "cache" / "backtest").iterdir() if f.suffix != ".bin"]

    def test_a_whole_file_of_another_key_is_not_taken(self, tmp_path):
        ours, theirs = tmp_path / "ours", tmp_path / "theirs"
        ours.mkdir()
        theirs.mkdir()
        frames = _odd_frames()
        mine = _capture(ours, frames)
        other = _capture(theirs, frames[:-1])
        cache = CaptureCache(tmp_path / "cache")
        other_prepared = PreparedCapture(other, cache)
        other_prepared.compiled(ETH)
        mine_prepared = PreparedCapture(mine, cache)
        # the other capture's (whole, valid) file put under our key's name
        own_key = mine_prepared._key("compiled|" + msgspec.json.encode(ETH).decode())
        their_key = other_prepared._key("compiled|" + msgspec.json.encode(ETH).decode())
        cache.path(own_key).write_bytes(cache.path(their_key).read_bytes())
        assert _report(mine_prepared.compiled(ETH), ETH) == _report(frames, ETH)
        assert own_key in cache.rebuilt

    def test_a_cache_that_cannot_be_written_is_no_error(self, tmp_path):
        blocked = tmp_path / "file"
        blocked.write_text("a file where the cache directory would be")
        cache = CaptureCache(blocked)
        prepared = PreparedCapture(_capture(tmp_path), cache)
        assert _report(prepared.compiled(ETH), ETH) == _report(_odd_frames(), ETH)
        assert cache.problems
        assert "cannot write the capture cache" in cache.problems[0]

    def test_concurrent_writers_leave_one_whole_file(self, tmp_path):
        cache = CaptureCache(tmp_path / "cache")
        bodies = [bytes([n]) * 200_000 for n in range(4)]
        barrier = threading.Barrier(len(bodies) + 1)
        seen = []

        def write(body):
            barrier.wait()
            for _ in range(20):
                cache.store("key", body)

        def read():
            barrier.wait()
            seen.extend(CaptureCache(tmp_path / "cache").load("key") for _ in range(200))

        threads = [threading.Thread(target=write, args=(b,)) for b in bodies]
        threads.append(threading.Thread(target=read))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)
        assert all(body is None or body in bodies for body in seen)  # never half a file
        assert cache.load("key") in bodies
        assert [f.name for f in _files(tmp_path / "cache")] == [cache.path("key").name]

    def test_the_default_directory_follows_xdg_cache_home(self, monkeypatch, tmp_path):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        assert capture_cache.default_cache_dir() == tmp_path / "tradeactors"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # as the spec says
        assert capture_cache.default_cache_dir() == Path.home() / ".cache" / "tradeactors"


# -- the book's states, worked out once: the replayed book reads as the real one ---------


def _reads(book, depths=(None, 0, 1, 5, 19, 20, 21, 60)):
    """Everything a venue or strategy reads of ``book``, deep and shallow."""
    bids, asks = book.bids(), book.asks()
    prices = {price + step for price, _ in (*bids[:40], *asks[:40]) for step in (-1, 0, 1)}
    if bids:  # deeper than any top kept, and between the sides
        prices |= {bids[-1][0], bids[-1][0] - 1, bids[0][0] + 1}
    if asks:
        prices |= {asks[-1][0], asks[-1][0] + 1, asks[0][0] - 1}
    return (
        book.update_id, len(book), book.best_bid(), book.best_ask(), book.crossed(),
        book.spread(), book.mid_x2(),
        [(book.bids(depth), book.asks(depth)) for depth in depths],
        [book.view(depth, 7) for depth in depths if depth is not None],
        [(price, book.size_at(price, bid=True), book.size_at(price, bid=False))
         for price in sorted(prices)],
    )  # fmt: skip


def _published_books(frames, instrument, every=1):
    """Each book a venue with no orders publishes from ``frames`` (every ``every``-th)."""
    books = []

    def keep(book):
        books.append(_reads(book) if len(books) % every == 0 else None)

    venue = PaperVenue(instrument, VenueModel(), on_book=keep)
    for frame in frames:
        venue.on_frame(frame)
    return books


class TestReplayedBook:
    """The compiled capture's book reads as `OrderBook` at every published state."""

    def _check(self, frames, instrument, every=1):
        published = _published_books(frames, instrument, every)
        compiled = compile_frames(frames, instrument)
        book = compiled.depth_sync().book
        assert compiled.top_depth == capture_cache.TOP_DEPTH
        assert compiled.published == len(published) > 1
        forward = [index for index, reads in enumerate(published) if reads is not None]
        for state in forward:  # in order, skipping some: rebuilt from where it was
            book.show(state)
            assert _reads(book) == published[state], state
        for state in reversed(forward[-3:]):  # back: from its snapshot again
            book.show(state)
            assert _reads(book) == published[state], state
        book.show(-1)
        assert book.best_bid() is None
        assert book.view(20).bids == ()
        assert len(book) == 0
        assert book.size_at(1, bid=True) == 0

    @pytest.mark.parametrize("top_depth", [20, 1])
    def test_the_hand_made_frames_at_each_state(self, top_depth, monkeypatch):
        # snapshots after each loss (resets); with a top of 1, deeper reads rebuild
        monkeypatch.setattr(capture_cache, "TOP_DEPTH", top_depth)
        self._check(_odd_frames(), ETH)

    @needs_data
    def test_ethusdt_at_every_25th_state(self, eth_frames):
        self._check(eth_frames, ETH, every=25)

    def test_it_refuses_writes(self):
        compiled = compile_frames(_odd_frames(), ETH)
        sync = compiled.depth_sync()
        for write in (
            lambda: sync.book.apply_levels([(1, 1)], [], 1),
            lambda: sync.book.apply_snapshot([], [], 1),
            lambda: sync.book.set_bid(1, 1),
            lambda: sync.book.set_ask(1, 1),
            lambda: sync.book.trim(1),
            sync.book.clear,
        ):
            with pytest.raises(TypeError, match="read-only"):
                write()
        with pytest.raises(RuntimeError, match="takes no depth update"):
            sync.on_diff(msgspec.json.decode(b'{"s":"ETHUSDT","U":1,"u":1,"b":[],"a":[]}',
                                             type=binance.DepthUpdate))  # fmt: skip

    def test_a_replay_needs_the_capture_s_own_sync(self):
        compiled = compile_frames(_odd_frames(), ETH)
        other = compile_frames(_odd_frames(), ETH)
        for sync in (None, other.depth_sync()):
            venue = PaperVenue(ETH, VenueModel(), depth_sync=sync)
            with pytest.raises(TypeError, match="depth_sync"):
                compiled.replay(venue, lambda _t: None)


def test_frames_out_of_time_order_give_the_same_report():
    """A capture whose receive times go back (merged files) is replayed frame by frame."""
    frames = _odd_frames()
    ticker = _ws(0, "ethusdt@bookTicker", TICKER)
    late = [Frame(received_ns=at * MS, source="ws", payload=ticker.payload)
            for at in (3, 2, 5, 4, 4, 17, 16, 19, 30, 25)]  # fmt: skip
    frames = [*frames[:3], *late[:4], *frames[3:16], *late[4:], *frames[16:]]
    compiled = compile_frames(frames, ETH)
    assert not compiled.ascending
    assert compile_frames(_odd_frames(), ETH).ascending
    for config in ({}, {"queue": "probabilistic"}, {"order_latency_ms": 0.5}):
        assert _report(compiled, ETH, **config) == _report(frames, ETH, **config)
