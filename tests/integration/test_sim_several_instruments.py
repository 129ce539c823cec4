"""One simulated exchange serving two instruments, over real sockets on 127.0.0.1.

BTCUSDT (tick 0.01, lot 0.001) and ETHUSDT (tick 0.1, lot 0.01): different steps, so a
price or quantity read in the wrong symbol's units shows. Order entry is driven through
the venue codecs the gateways use (`SimOrderEntry`, `BinanceOrderEntry`), market data
through the live feed and one book actor per symbol.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
import websocket

from tradeactors.actors.marketdata import BookActor, GetReport, LiveFeed, book_name
from tradeactors.clock import FakeClock, SystemClock
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    Side,
    SubmitOrder,
)
from tradeactors.errors import ConfigError
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.server import SimExchange
from tradeactors.supervision import ChildSpec, Strategy, SupervisorSpec
from tradeactors.supervision.testing import Inbox, Probe
from tradeactors.venues.adapter import Credentials, Reply, Request, decoded_items
from tradeactors.venues.binance import ADAPTER as BINANCE
from tradeactors.venues.sim import ADAPTER as SIM

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.supervision  # also run under the gevent runtime in CI

BTC = Instrument(venue="sim", symbol="BTCUSDT", tick_size="0.01", lot_size="0.001")
ETH = Instrument(venue="sim", symbol="ETHUSDT", tick_size="0.1", lot_size="0.01")
BOTH = {"BTCUSDT": BTC, "ETHUSDT": ETH}
SECRET = "multi-secret-" + "z" * 20
MID = 100_000  # ticks of each symbol: 1000.00 BTC, 10000.0 ETH
EMPTY = LiquidityConfig(limit_rate=0, cancel_rate=0, market_rate=0, depth_ticks=0)
# What the code before several instruments published for BTCUSDT, seed 7, after its
# start: the REST snapshot, then 199 steps of 50 ms (frame count, SHA-256).
ONE_INSTRUMENT_GOLDEN = (474, "dafff216eabb8b5b03c8dda5a323c4dbdf6a9d0b9d98ac356dd1f649c3d60fab")


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _snapshot(exchange: SimExchange, symbol: str) -> Any:
    return _get(f"{exchange.http_url}/api/v3/depth?symbol={symbol}&limit=5000")[1]


@pytest.fixture
def make_exchange() -> Iterator[Any]:
    made: list[tuple[SimExchange, SystemClock | FakeClock]] = []

    def make(instruments: Any = (BTC, ETH), **kwargs: Any) -> SimExchange:
        clock = kwargs.pop("clock", None) or SystemClock()
        kwargs.setdefault("keys", {"demo": SECRET})
        exchange = SimExchange(instruments, clock, **kwargs).start()
        made.append((exchange, clock))
        return exchange

    yield make
    for exchange, clock in made:
        exchange.close()
        if isinstance(clock, SystemClock):
            clock.close()


class Session:
    """A gateway's order-entry session, without the actor: a codec over a websocket."""

    def __init__(self, venue: SimExchange, codec: Any) -> None:
        self.codec = codec
        self.ws = websocket.create_connection(venue.trade_url, timeout=5)
        self.reports: list[Any] = []
        self._ids = 0
        credentials = Credentials("demo", SECRET)
        prelude = codec.prelude(self._next())
        if prelude is not None:
            self.ws.send(prelude)
            self._reply(self._ids)
        self.ws.send(codec.logon(self._next(), credentials, cancel_on_disconnect=True))
        self._reply(self._ids)

    def _next(self) -> int:
        self._ids += 1
        return self._ids

    def _reply(self, request_id: int) -> Reply:
        while True:
            for item in decoded_items(self.codec.decode(self.ws.recv())):
                if isinstance(item, Reply) and item.request_id == request_id:
                    return item
                if not isinstance(item, Reply):
                    self.reports.append(item)

    def request(self, request: Request, **fields: Any) -> Reply:
        request_id = self._next()
        encoded = self.codec.encode(request, request_id, fields)
        for frame in (encoded,) if isinstance(encoded, str) else encoded:
            self.ws.send(frame)
        return self._reply(request_id)

    def wait_report(self, kind: type, **match: Any) -> Any:
        deadline = time.monotonic() + 5
        while True:
            for report in self.reports:
                if isinstance(report, kind) and all(
                    getattr(report, k) == v for k, v in match.items()
                ):
                    return report
            assert time.monotonic() < deadline, f"no {kind.__name__} {match}"
            self.ws.settimeout(max(0.01, deadline - time.monotonic()))
            for item in decoded_items(self.codec.decode(self.ws.recv())):
                if not isinstance(item, Reply):
                    self.reports.append(item)

    def close(self) -> None:
        self.ws.close(timeout=1)


def _order(cid: str, instrument: Instrument, side: Side, price: int, quantity: int) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=cid,
        venue="sim",
        instrument=instrument.symbol,
        side=side,
        price=price,
        quantity=quantity,
    )


class TestTheMarket:
    """A book and seeded background liquidity per symbol; one instrument as before."""

    def test_a_one_instrument_market_is_the_one_it_was_for_the_same_seed(self, make_exchange):
        exchange = make_exchange(BTC, clock=FakeClock(), seed=7, interval=3600)
        digest = hashlib.sha256(
            json.dumps(_snapshot(exchange, "BTCUSDT"), separators=(", ", ": ")).encode()
        )
        count = 0
        for step in range(1, 200):  # the market thread sleeps an hour: these are all
            now = step * 50_000_000
            with exchange._lock:
                frames = exchange._publish(exchange._step(now), now)
            for frame in frames:
                digest.update(frame.encode())
                count += 1
        assert (count, digest.hexdigest()) == ONE_INSTRUMENT_GOLDEN

    def test_the_first_symbol_keeps_the_seed_and_each_other_symbol_is_reproducible(
        self, make_exchange
    ):
        alone = make_exchange(BTC, seed=7, interval=3600)
        both = make_exchange(seed=7, interval=3600)
        again = make_exchange(seed=7, interval=3600)
        other = make_exchange(seed=8, interval=3600)
        assert _snapshot(both, "BTCUSDT") == _snapshot(alone, "BTCUSDT")
        assert _snapshot(both, "ETHUSDT") == _snapshot(again, "ETHUSDT")
        assert _snapshot(both, "ETHUSDT") != _snapshot(other, "ETHUSDT")
        # ETH's market is its own: not BTC's book in other units
        assert _snapshot(both, "ETHUSDT")["bids"] != _snapshot(both, "BTCUSDT")["bids"]

    def test_a_repeated_symbol_or_no_instrument_is_a_config_error(self):
        with pytest.raises(ConfigError, match="repeat a symbol: BTCUSDT"):
            SimExchange((BTC, ETH, BTC), FakeClock())
        with pytest.raises(ConfigError, match="at least one instrument"):
            SimExchange((), FakeClock())

    def test_the_rest_endpoints_list_every_symbol_and_refuse_an_unknown_one(self, make_exchange):
        exchange = make_exchange(liquidity=EMPTY)
        status, info = _get(f"{exchange.http_url}/api/v3/exchangeInfo")
        assert status == 200
        steps = {
            s["symbol"]: next(
                f["tickSize"] for f in s["filters"] if f["filterType"] == "PRICE_FILTER"
            )
            for s in info["symbols"]
        }
        assert steps == {"BTCUSDT": "0.01000000", "ETHUSDT": "0.10000000"}
        _, one = _get(f"{exchange.http_url}/api/v3/exchangeInfo?symbol=ETHUSDT")
        assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
        assert _get(f"{exchange.http_url}/api/v3/exchangeInfo?symbol=XRPUSDT") == (
            400,
            {"code": -1121, "msg": "Invalid symbol."},
        )
        assert _get(f"{exchange.http_url}/api/v3/depth?symbol=XRPUSDT")[0] == 400
        _, pairs = _get(f"{exchange.http_url}/0/public/AssetPairs")
        assert {p["wsname"]: p["tick_size"] for p in pairs["result"].values()} == {
            "BTC/USDT": "0.01",
            "ETH/USDT": "0.1",
        }


class TestSimProtocol:
    """The simulator's own order entry routes by symbol; the session covers them all."""

    @pytest.fixture
    def venue(self, make_exchange) -> SimExchange:
        return make_exchange(liquidity=EMPTY)

    @pytest.fixture
    def session(self, venue) -> Iterator[Session]:
        session = Session(venue, SIM.order_entry("sim", BOTH))
        yield session
        session.close()

    def test_orders_on_both_symbols_fill_in_their_own_units(self, venue, session):
        assert (
            session.request(Request.PLACE, order=_order("b1", BTC, Side.BUY, MID - 5, 3)).error
            is None
        )
        assert (
            session.request(Request.PLACE, order=_order("e1", ETH, Side.SELL, MID + 5, 7)).error
            is None
        )
        assert venue.best("BTCUSDT") == (MID - 5, None)
        assert venue.best("ETHUSDT") == (None, MID + 5)
        assert venue.take(Side.SELL, MID - 5, 2, symbol="BTCUSDT") == 2
        assert venue.take(Side.BUY, MID + 5, 4, symbol="ETHUSDT") == 4
        btc = session.wait_report(OrderFilled, client_order_id="b1")
        eth = session.wait_report(OrderFilled, client_order_id="e1")
        assert (btc.instrument, btc.price, btc.quantity, btc.remaining) == (
            "BTCUSDT",
            MID - 5,
            2,
            1,
        )
        assert (eth.instrument, eth.price, eth.quantity, eth.remaining) == (
            "ETHUSDT",
            MID + 5,
            4,
            3,
        )
        assert venue.position("demo", "BTCUSDT") == 2
        assert venue.position("demo", "ETHUSDT") == -4

    def test_open_orders_fills_and_cancel_all_cover_every_symbol(self, venue, session):
        session.request(Request.PLACE, order=_order("b1", BTC, Side.BUY, MID - 5, 3))
        session.request(Request.PLACE, order=_order("e1", ETH, Side.BUY, MID - 9, 7))
        venue.take(Side.SELL, MID - 9, 1, symbol="ETHUSDT")
        orders = session.codec.open_orders(session.request(Request.OPEN_ORDERS).result)
        assert {(o.client_order_id, o.price, o.remaining, o.filled) for o in orders} == {
            ("b1", MID - 5, 3, 0),
            ("e1", MID - 9, 6, 1),
        }
        (fill,) = session.codec.fills(session.request(Request.FILLS, since=0).result)
        assert (fill.instrument, fill.price, fill.quantity) == ("ETHUSDT", MID - 9, 1)
        assert session.codec.cancelled(session.request(Request.CANCEL_ALL).result) == 2
        assert venue.open_orders("demo") == []

    def test_a_cancel_names_no_symbol_and_cancels_the_right_order(self, venue, session):
        session.request(Request.PLACE, order=_order("b1", BTC, Side.BUY, MID - 5, 3))
        placed = session.request(Request.PLACE, order=_order("e1", ETH, Side.BUY, MID - 5, 3))
        session.request(Request.CANCEL, client_order_id="e1", order_id=placed.result["order_id"])
        canceled = session.wait_report(OrderCanceled, client_order_id="e1")
        assert canceled.remaining == 3
        assert [o.instrument for o in venue.open_orders("demo")] == ["BTCUSDT"]

    def test_cancel_on_disconnect_cancels_both_symbols_orders(self, venue, session):
        session.request(Request.PLACE, order=_order("b1", BTC, Side.BUY, MID - 5, 3))
        session.request(Request.PLACE, order=_order("e1", ETH, Side.SELL, MID + 5, 3))
        assert len(venue.open_orders("demo")) == 2
        session.close()
        assert venue.wait_until(lambda: not venue.engine.open_orders("demo"), timeout=5)

    def test_an_unknown_symbol_is_refused_and_a_place_on_two_must_name_one(self, venue, session):
        def place(**fields: Any) -> dict[str, Any]:
            base = {"op": "place", "id": 99, "client_order_id": "x", "side": "buy"}
            session.ws.send(json.dumps({**base, "price": "1", "quantity": "1", **fields}))
            while True:
                frame = json.loads(session.ws.recv())
                if frame.get("id") == 99:
                    return frame["error"]

        assert place(symbol="XRPUSDT")["code"] == "unknown_symbol"
        assert place()["code"] == "bad_request"
        assert "symbol is required" in place()["message"]
        assert venue.open_orders("demo") == []

    def test_a_report_of_a_symbol_the_codec_does_not_trade_is_a_bad_frame(self):
        codec = SIM.order_entry("sim", {"BTCUSDT": BTC})
        report = {"event": "cancelled", "order_id": 1, "client_order_id": "c", "symbol": "ETHUSDT"}
        with pytest.raises(ValueError, match="not one of this gateway's"):
            codec.decode(json.dumps({**report, "quantity": "1", "reason": "user"}))


class TestBinanceProtocol:
    """Binance's WebSocket API: trading per symbol, cancel-all and trades per symbol."""

    @pytest.fixture
    def venue(self, make_exchange) -> SimExchange:
        return make_exchange(liquidity=EMPTY, protocol="binance")

    @pytest.fixture
    def session(self, venue) -> Iterator[Session]:
        codec = BINANCE.order_entry("binance", BOTH)
        codec.fills_since_ms = 0
        session = Session(venue, codec)
        yield session
        session.close()

    def test_orders_fills_open_orders_and_cancel_all_over_both_symbols(self, venue, session):
        session.request(Request.PLACE, order=_order("b1", BTC, Side.BUY, MID - 5, 3))
        session.request(Request.PLACE, order=_order("e1", ETH, Side.SELL, MID + 5, 7))
        session.wait_report(OrderAccepted, client_order_id="e1")
        assert venue.take(Side.SELL, MID - 5, 2, symbol="BTCUSDT") == 2
        assert venue.take(Side.BUY, MID + 5, 4, symbol="ETHUSDT") == 4
        btc = session.wait_report(OrderFilled, client_order_id="b1")
        eth = session.wait_report(OrderFilled, client_order_id="e1")
        assert (btc.instrument, btc.price, btc.quantity, btc.execution_id) == (
            "BTCUSDT", MID - 5, 2, "BTCUSDT:1",
        )  # fmt: skip
        assert (eth.instrument, eth.price, eth.quantity, eth.execution_id) == (
            "ETHUSDT",
            MID + 5,
            4,
            "ETHUSDT:1",
        )  # fmt: skip  (trade ids are per symbol: both are 1)
        fetched = session.codec.fills(session.request(Request.FILLS, since=0).result)
        assert {(f.execution_id, f.price, f.quantity) for f in fetched} == {
            ("BTCUSDT:1", MID - 5, 2),
            ("ETHUSDT:1", MID + 5, 4),
        }
        orders = session.codec.open_orders(session.request(Request.OPEN_ORDERS).result)
        assert {(o.client_order_id, o.remaining) for o in orders} == {("b1", 1), ("e1", 3)}
        assert session.codec.cancelled(session.request(Request.CANCEL_ALL).result) == 2
        assert venue.open_orders("demo") == []
        # nothing open anywhere: every symbol's -2011 is nothing cancelled, not an error
        assert session.request(Request.CANCEL_ALL).result == []

    def test_a_cancel_goes_to_its_orders_symbol(self, venue, session):
        session.request(Request.PLACE, order=_order("b1", BTC, Side.BUY, MID - 5, 3))
        session.request(Request.PLACE, order=_order("e1", ETH, Side.BUY, MID - 5, 3))
        accepted = session.wait_report(OrderAccepted, client_order_id="e1")
        reply = session.request(
            Request.CANCEL, client_order_id="e1", order_id=accepted.order_id, instrument="ETHUSDT"
        )
        assert reply.error is None
        assert [o.instrument for o in venue.open_orders("demo")] == ["BTCUSDT"]

    def test_an_unknown_symbol_is_refused_minus_1121(self, venue, session):
        xrp = Instrument(venue="sim", symbol="XRPUSDT", tick_size="0.01", lot_size="0.001")
        codec = BINANCE.order_entry("binance", {**BOTH, "XRPUSDT": xrp})
        codec.logon(1, Credentials("demo", SECRET), cancel_on_disconnect=False)
        session.ws.send(
            codec.encode(Request.PLACE, 50, {"order": _order("x", xrp, Side.BUY, MID, 1)})
        )
        while True:
            answer = json.loads(session.ws.recv())
            if answer.get("id") == 50:
                break
        assert venue.open_orders("demo") == []
        assert answer["error"] == {"code": -1121, "msg": "Invalid symbol."}


def _feed_spec(exchange: SimExchange, sink: Inbox) -> SupervisorSpec:
    books = tuple(
        ChildSpec(
            name=book_name(symbol),
            actor=BookActor,
            args=("sim", instrument, "market_data/feed"),
            kwargs={"subscribers": ("sink",)},
        )
        for symbol, instrument in BOTH.items()
    )
    return SupervisorSpec(
        name="root",
        intensity=20,
        children=(
            ChildSpec(name="sink", actor=Probe, args=(sink,)),
            SupervisorSpec(
                name="market_data",
                strategy=Strategy.REST_FOR_ONE,
                intensity=20,
                children=(
                    ChildSpec(
                        name="feed",
                        actor=LiveFeed,
                        args=("sim", exchange.ws_url),
                        kwargs={
                            "symbols": tuple(BOTH),
                            "books_path": "market_data",
                            "rest_base_url": exchange.http_url,
                            "stale_after": 30.0,
                        },
                    ),
                    *books,
                ),
            ),
        ),
    )


def test_the_feed_syncs_both_books_each_from_its_own_snapshot(make_exchange, make_tree):
    exchange = make_exchange(seed=3, interval=0.02)
    sink = Inbox()
    tree = make_tree(_feed_spec(exchange, sink))
    both = {"sim:BTCUSDT", "sim:ETHUSDT"}
    sink._wait_until(
        lambda: {v.instrument for _, v in sink.items} >= both, 20, "views of both books"
    )
    assert {v.instrument for _, v in sink.snapshot()} == both
    for symbol in BOTH:
        report = tree.address(f"market_data/{book_name(symbol)}").ask(GetReport(), timeout=10)
        assert report.synced
        assert report.snapshots >= 1
    feed = tree.address("market_data/feed").ask(GetReport(), timeout=10)
    assert feed.dropped == {}
    assert feed.snapshot_requests >= 2


def test_the_exchange_command_serves_every_symbol_given():
    """`tradeactors exchange --symbol A --symbol B:TICK:LOT`: one venue, both books."""
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "tradeactors", "exchange", "--symbol", "BTCUSDT",
         "--symbol", "ETHUSDT:0.1:0.01", "--protocol", "binance", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip() for _ in range(5)]
        snapshots = [line.split(": ", 1)[1] for line in lines if line.startswith("depth")]
        assert [url.split("symbol=")[1].split("&")[0] for url in snapshots] == [
            "BTCUSDT",
            "ETHUSDT",
        ]
        base = snapshots[0].split("/api/")[0]
        _, info = _get(f"{base}/api/v3/exchangeInfo?symbol=ETHUSDT")
        (eth,) = info["symbols"]
        assert eth["filters"][1]["stepSize"] == "0.01000000"  # LOT_SIZE: its own lot
        for url in snapshots:
            assert _get(url)[0] == 200
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
