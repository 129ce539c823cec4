"""A venue is one place: a venue defined in the tests (fake_venue.py) runs the real tree.

`FAKE_ADAPTER` speaks fakex, a protocol of our own invention, and is registered with
`register_venue`; nothing under ``src/`` knows it. The codec and the venue are checked
on their own first, then the whole trading tree trades at the venue: an order rests, is
filled, a killed gateway's orders are cancelled by the venue (cancel-on-disconnect),
the venue comes back up, and a stop leaves nothing open there.
"""

from __future__ import annotations

import hmac
import time
import urllib.request
from fractions import Fraction
from hashlib import sha256
from typing import Any

import msgspec
import pytest
from fake_venue import FAKE_ADAPTER, FakeOrderEntry, FakeVenue, auth_message
from trading_helpers import TradingEvents, gateway_started

from tradeactors._websocket import close, connect
from tradeactors.config import (
    Config,
    ExecutionConfig,
    KillSwitchConfig,
    RiskConfig,
    StrategyConfig,
    VenueConfig,
)
from tradeactors.core.instrument import Instrument
from tradeactors.core.killswitch import KillSwitchChanged
from tradeactors.core.messages import (
    GetBook,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderStatus,
    OrderUpdate,
    Side,
    SubmitOrder,
    TimeInForce,
    VenueOrder,
    VenueStatus,
)
from tradeactors.core.risk import TradingState
from tradeactors.errors import ConfigError, UnknownVenueKindError
from tradeactors.trading.system import TradingSystem
from tradeactors.venues import adapter as adapter_module
from tradeactors.venues.adapter import (
    BookOutcome,
    Credentials,
    EventKind,
    FillIds,
    Reply,
    Request,
    register_venue,
    venue_adapter,
)
from tradeactors.venues.capture import Frame

pytestmark = pytest.mark.supervision

VENUE = "fake"
SYMBOL = "BTCUSDT"
INSTRUMENT = Instrument(venue=VENUE, symbol=SYMBOL, tick_size="0.01", lot_size="0.001")
MID = 100_000  # ticks: 1000.00
API_KEY = "fake-key"
SECRET = "fake-secret-" + "z" * 20
SECRET_ENV = "TRADEACTORS_FAKE_VENUE_SECRET"


@pytest.fixture
def fake_kind(monkeypatch):
    """``kind = "fake"`` registered for this test only (the registry is put back after)."""
    monkeypatch.setattr(adapter_module, "_registered", dict(adapter_module._registered))
    register_venue(FAKE_ADAPTER, replace=True)
    return FAKE_ADAPTER


@pytest.fixture
def fake_venue():
    venue = FakeVenue(INSTRUMENT, {API_KEY: SECRET}, mid=MID).start()
    try:
        yield venue
    finally:
        venue.close()


def _config(venue: FakeVenue) -> Config:
    return Config(
        venue=VenueConfig(
            kind="fake",
            name=VENUE,
            symbol=SYMBOL,
            tick_size="0.01",
            lot_size="0.001",
            api_key=API_KEY,
            secret_env=SECRET_ENV,
            trade_url=venue.trade_url,
            stream_url=venue.stream_url,
            rest_url=venue.rest_url,
        ),
        strategy=StrategyConfig(name="none"),
        killswitch=KillSwitchConfig(stale_after=None),
        execution=ExecutionConfig(restart_delay=0.01, max_restart_delay=0.05, intensity=20),
        risk=RiskConfig(
            price_collar_bps=None,
            max_messages=None,
            max_open_orders=None,
            max_loss=None,
            max_denials=None,
        ),
    )


@pytest.fixture
def make_system(fake_kind, fake_venue, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    systems: list[TradingSystem] = []

    def make(**execution: Any) -> tuple[TradingSystem, TradingEvents]:
        config = _config(fake_venue)
        if execution:
            config = msgspec.structs.replace(
                config, execution=msgspec.structs.replace(config.execution, **execution)
            )
        system = TradingSystem(config)
        systems.append(system)
        events = TradingEvents()
        system.subscribe(events)
        system.start(timeout=20)
        events.wait_for(VenueStatus, up=True, venue=VENUE)
        return system, events

    yield make
    for system in systems:
        try:
            running = system.tree.running
        except RuntimeError:  # never started
            continue
        if running:
            system.stop(timeout=10)


def _order(client_order_id: str, side: Side = Side.BUY, price: int = MID - 300, quantity: int = 5):
    return SubmitOrder(
        client_order_id=client_order_id,
        venue=VENUE,
        instrument=SYMBOL,
        side=side,
        price=price,
        quantity=quantity,
    )


# -- configuration ----------------------------------------------------------------------


def test_an_unknown_venue_kind_is_refused_naming_the_known_ones():
    with pytest.raises(ConfigError) as refused:
        Config(venue=VenueConfig(kind="nonexistent"))
    message = str(refused.value)
    assert "venue.kind" in message
    assert "'nonexistent'" in message
    for known in ("binance", "kraken", "sim"):
        assert known in message
    assert isinstance(refused.value.__cause__, UnknownVenueKindError)


class _MarketDataOnly:
    """A venue with market data and no order entry (yet)."""

    kind = "md-only"
    market_data = FAKE_ADAPTER.market_data
    order_entry = None


def test_a_venue_kind_without_order_entry_is_refused_for_trading(monkeypatch):
    monkeypatch.setattr(adapter_module, "_registered", dict(adapter_module._registered))
    register_venue(_MarketDataOnly())
    assert venue_adapter("md-only").market_data is FAKE_ADAPTER.market_data
    with pytest.raises(ConfigError, match="order entry") as refused:
        Config(venue=VenueConfig(kind="md-only"))
    cause = refused.value.__cause__
    assert isinstance(cause, UnknownVenueKindError)
    assert cause.kind == "md-only"
    assert {"sim", "binance", "kraken"} <= set(cause.known)
    assert "md-only" not in cause.known


def test_a_registered_kind_is_accepted_and_builtins_are_not_taken_by_accident(fake_kind):
    assert venue_adapter("fake", trading=True) is FAKE_ADAPTER
    assert Config(venue=VenueConfig(kind="fake", trade_url="ws://x")).venue.kind == "fake"
    with pytest.raises(ValueError, match="registered already"):
        register_venue(FAKE_ADAPTER)  # a second time, without replace
    sim = venue_adapter("sim")
    with pytest.raises(ValueError, match="registered already"):
        register_venue(type("Sim", (), {"kind": "sim"})())
    assert venue_adapter("sim") is sim


# -- the codec on its own ---------------------------------------------------------------


def _params(frame: str, method: str, rid: int) -> dict:
    decoded = msgspec.json.decode(frame)
    assert (decoded["method"], decoded["rid"]) == (method, rid)
    return decoded["params"]


def test_the_codec_writes_fakex_requests():
    codec = FakeOrderEntry(VENUE, INSTRUMENT)
    assert codec.fill_ids is FillIds.SEQUENTIAL
    credentials = Credentials(API_KEY, SECRET)

    auth = _params(codec.logon(1, credentials, cancel_on_disconnect=True), "auth", 1)
    assert (auth["key"], auth["cod"]) == (API_KEY, True)
    expected = hmac.new(SECRET.encode(), auth_message(API_KEY, auth["nonce"]).encode(), sha256)
    assert auth["sig"] == expected.hexdigest()
    again = _params(codec.logon(2, credentials, cancel_on_disconnect=False), "auth", 2)
    assert again["nonce"] != auth["nonce"]
    assert again["cod"] is False

    order = SubmitOrder(
        client_order_id="c1",
        venue=VENUE,
        instrument=SYMBOL,
        side=Side.SELL,
        price=MID + 5,
        quantity=7,
        tif=TimeInForce.IOC,
        post_only=True,
    )
    place = _params(codec.encode(Request.PLACE, 3, {"order": order}), "order.new", 3)
    assert place == {
        "cl": "c1",
        "side": "S",
        "px": "1000.05",
        "qty": "0.007",
        "tif": "IOC",
        "post": True,
    }
    cancel = codec.encode(Request.CANCEL, 4, {"client_order_id": "c1", "order_id": 7})
    assert _params(cancel, "order.cancel", 4) == {"cl": "c1", "oid": "O-7"}
    unacked = codec.encode(Request.CANCEL, 5, {"client_order_id": "c1", "order_id": 0})
    assert _params(unacked, "order.cancel", 5) == {"cl": "c1"}
    heartbeat = codec.encode(Request.HEARTBEAT, 6, {"timeout": 5.0})
    assert _params(heartbeat, "deadman", 6) == {"secs": 5.0}
    assert _params(codec.encode(Request.FILLS, 7, {"since": 3}), "fills.since", 7) == {
        "after": "X-3"
    }
    assert _params(codec.encode(Request.CANCEL_ALL, 8, {}), "order.cancel_all", 8) == {}
    assert _params(codec.encode(Request.OPEN_ORDERS, 9, {}), "order.list", 9) == {}


def test_the_codec_reads_fakex_replies_and_reports():
    codec = FakeOrderEntry(VENUE, INSTRUMENT)
    assert codec.decode('{"rid": 3, "ok": {"oid": "O-7"}}') == Reply(3, result={"oid": "O-7"})
    dup = codec.decode('{"rid": 4, "err": {"code": "E_DUP", "msg": "used"}}')
    assert dup == Reply(4, error="duplicate_client_order_id", message="used")
    assert codec.decode('{"rid": 5, "err": {"code": "E_WEIRD"}}').error == "e_weird"
    assert codec.decode('{"type": "hello", "venue": "fakex"}') is None
    assert codec.decode('{"rid": "theirs", "ok": 1}') is None
    assert codec.decode('{"type": "exec", "kind": "new", "oid": "O-7", "cl": "c1"}') == (
        OrderAccepted(venue=VENUE, client_order_id="c1", order_id=7)
    )
    fill = (
        '{"type": "exec", "kind": "fill", "fid": "X-3", "oid": "O-7", "cl": "c1",'
        ' "side": "S", "px": "1000.05", "qty": "0.002", "left": "0.005"}'
    )
    assert codec.decode(fill) == OrderFilled(
        venue=VENUE,
        instrument=SYMBOL,
        client_order_id="c1",
        order_id=7,
        execution_id=3,
        side=Side.SELL,
        price=MID + 5,
        quantity=2,
        remaining=5,
    )
    cxl = (
        '{"type": "exec", "kind": "cxl", "oid": "O-7", "cl": "c1", "left": "0.005", "why": "user"}'
    )
    assert codec.decode(cxl) == OrderCanceled(
        venue=VENUE, client_order_id="c1", order_id=7, reason="user", remaining=5
    )
    with pytest.raises(msgspec.DecodeError):
        codec.decode("{not json")
    with pytest.raises(ValueError, match="O-N"):
        codec.decode('{"type": "exec", "kind": "new", "oid": "7", "cl": "c1"}')

    listed = [
        {"oid": "O-7", "cl": "c1", "side": "B", "px": "997.00", "left": "0.003", "done": "0.002"}
    ]
    assert codec.open_orders(listed) == (
        VenueOrder(
            order_id=7, client_order_id="c1", side=Side.BUY, price=MID - 300, remaining=3, filled=2
        ),
    )
    (fetched,) = codec.fills([msgspec.json.decode(fill)])
    assert fetched.execution_id == 3
    assert codec.cancelled({"n": 4}) == 4
    assert codec.cancelled(None) == 0


# -- the venue through the codec, no trading tree ------------------------------------------


class _Session:
    """A raw session at the venue, written and read with the codec."""

    def __init__(self, venue: FakeVenue) -> None:
        self.codec = FakeOrderEntry(VENUE, INSTRUMENT)
        self.connection = connect(venue.trade_url, timeout=5)
        self.reports: list = []
        self._rid = 0

    def logon(self, secret: str = SECRET, *, cancel_on_disconnect: bool = True) -> Reply:
        self._rid += 1
        frame = self.codec.logon(
            self._rid, Credentials(API_KEY, secret), cancel_on_disconnect=cancel_on_disconnect
        )
        return self._exchange(frame)

    def request(self, request: Request, **fields) -> Reply:
        self._rid += 1
        return self._exchange(self.codec.encode(request, self._rid, fields))

    def next_report(self):
        while True:
            decoded = self.codec.decode(self.connection.recv())
            if decoded is not None and not isinstance(decoded, Reply):
                return decoded

    def _exchange(self, frame: str) -> Reply:
        self.connection.send(frame)
        while True:
            decoded = self.codec.decode(self.connection.recv())
            if isinstance(decoded, Reply) and decoded.request_id == self._rid:
                return decoded
            if decoded is not None:
                self.reports.append(decoded)

    def close(self) -> None:
        close(self.connection, timeout=1)


def test_a_session_at_the_fake_venue_through_the_codec(fake_venue):
    session = _Session(fake_venue)
    try:
        assert session.request(Request.OPEN_ORDERS).error == "e_auth_required"
        assert session.logon("wrong-secret").error == "auth_failed"
        assert fake_venue.auth_failures == 1
        logon = session.logon()
        assert logon.error is None
        assert fake_venue.logons == 1

        placed = session.request(Request.PLACE, order=_order("c1"))
        assert placed.result == {"oid": "O-1"}
        assert session.reports == [OrderAccepted(venue=VENUE, client_order_id="c1", order_id=1)]
        assert session.request(Request.PLACE, order=_order("c1")).error == (
            "duplicate_client_order_id"
        )
        assert session.request(Request.PLACE, order=_order("c0", quantity=0)).error == (
            "invalid_quantity"
        )
        listed = session.codec.open_orders(session.request(Request.OPEN_ORDERS).result)
        assert listed == (
            VenueOrder(
                order_id=1,
                client_order_id="c1",
                side=Side.BUY,
                price=MID - 300,
                remaining=5,
                filled=0,
            ),
        )

        fake_venue.trade_against("c1", quantity=2)
        filled = session.next_report()
        assert isinstance(filled, OrderFilled)
        assert (filled.execution_id, filled.quantity, filled.remaining, filled.price) == (
            1,
            2,
            3,
            MID - 300,
        )
        assert session.codec.fills(session.request(Request.FILLS, since=0).result) == (filled,)
        assert session.codec.fills(session.request(Request.FILLS, since=1).result) == ()

        session.request(Request.PLACE, order=_order("c2"))
        cancel = session.request(Request.CANCEL, client_order_id="c2", order_id=2)
        assert cancel.result == {"oid": "O-2"}
        assert session.reports[-1] == OrderCanceled(
            venue=VENUE, client_order_id="c2", order_id=2, reason="user", remaining=5
        )
        assert session.request(Request.CANCEL, client_order_id="c2", order_id=2).error == (
            "unknown_order"
        )
        session.request(Request.PLACE, order=_order("c3"))
        assert session.codec.cancelled(session.request(Request.CANCEL_ALL).result) == 2  # c1, c3
        assert fake_venue.open_orders() == []

        # the dead-man's switch: not refreshed in time, everything is cancelled
        session.request(Request.PLACE, order=_order("c4"))
        assert session.request(Request.HEARTBEAT, timeout=0.2).error is None
        assert fake_venue.wait_until(lambda: not fake_venue.open_orders(), timeout=5)
        assert ("c4", "deadman") in fake_venue.cancellations
        assert session.next_report() == OrderCanceled(
            venue=VENUE, client_order_id="c4", order_id=4, reason="deadman", remaining=5
        )

        session.request(Request.PLACE, order=_order("c5"))
        assert fake_venue.open_client_ids(API_KEY) == {"c5"}
    finally:
        session.close()
    # cancel-on-disconnect: the session's orders go with it
    assert fake_venue.wait_until(lambda: not fake_venue.open_orders(), timeout=5)
    assert ("c5", "disconnect") in fake_venue.cancellations


def test_the_fake_venue_serves_binance_market_data(fake_kind, fake_venue):
    market_data = fake_kind.market_data
    sync = market_data.book_sync(INSTRUMENT, mode="spot", max_depth=1000)
    stream = connect(fake_venue.stream_url, timeout=5)
    try:
        first = market_data.decode(Frame(received_ns=0, source="ws", payload=stream.recv()))
        assert [(e.symbol, e.kind) for e in first] == [(SYMBOL, EventKind.BOOK)]
        url = market_data.snapshot_url(fake_venue.rest_url, SYMBOL)
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - our own server
            body = answer.read().decode()
        (snapshot,) = market_data.decode(Frame(received_ns=0, source="rest", url=url, payload=body))
        assert snapshot.symbol == SYMBOL
        assert sync.on_event(snapshot.data) is BookOutcome.SYNCED
        outcomes = set()
        while BookOutcome.APPLIED not in outcomes:  # diffs the snapshot covers are ignored
            (event,) = market_data.decode(Frame(received_ns=0, source="ws", payload=stream.recv()))
            outcomes.add(sync.on_event(event.data))
        assert outcomes <= {BookOutcome.APPLIED, BookOutcome.IGNORED}
        assert sync.book.best_bid() == (MID - 100, 1000)
        assert sync.book.best_ask() == (MID + 100, 1000)
    finally:
        close(stream, timeout=1)


# -- the whole trading tree at the fake venue -------------------------------------------


def _assert_marked_at_the_mid(system: TradingSystem, *, lots: int, price: int) -> None:
    """The status's PnL marks the position at the book's mid (an external venue too)."""
    book = system.tree.address(system.paths.book(VENUE, SYMBOL))
    deadline = time.monotonic() + 10
    view = book.ask(GetBook(depth=1), timeout=5)
    while not (view.bids and view.asks):  # the book may still be syncing: ask again
        assert time.monotonic() < deadline, "the book never had two sides"
        view = book.ask(GetBook(depth=1), timeout=5)
    mid = Fraction(view.bids[0][0] + view.asks[0][0], 2)
    status = system.status()
    assert status.marked
    assert status.pnl == pytest.approx(float((mid - price) * lots * Fraction("0.00001")))
    assert status.pnl != 0
    assert status.position_text() == "+0.002 BTC"


def test_the_trading_tree_trades_at_a_venue_defined_in_the_tests(fake_venue, make_system):
    system, events = make_system()
    assert system.gateway_path == f"execution/gateway.{VENUE}"
    assert fake_venue.logons == 1
    assert fake_venue.sessions() == 1
    assert {"auth", "fills.since", "order.list"} <= set(fake_venue.methods)  # it spoke fakex

    # an order rests at the venue
    client_order_id = system.new_order_id()
    system.submit(_order(client_order_id))
    events.wait_for(OrderUpdate, client_order_id=client_order_id, status=OrderStatus.ACCEPTED)
    (resting,) = fake_venue.open_orders(API_KEY)
    assert (resting.client_order_id, resting.side, resting.price, resting.quantity) == (
        client_order_id,
        "B",
        MID - 300,
        5,
    )

    # the venue fills part of it: the fill reaches the host, the position changes
    assert system.orders().positions.get(SYMBOL, 0) == 0
    fill = fake_venue.trade_against(client_order_id, quantity=2)
    assert fill["fid"] == "X-1"
    (update,) = events.wait_for(OrderUpdate, client_order_id=client_order_id, fill_quantity=2)
    assert (update.status, update.filled, update.fill_price, update.execution_id) == (
        OrderStatus.PARTIALLY_FILLED,
        2,
        MID - 300,
        1,
    )
    report = system.orders()
    assert report.fills == 1
    assert report.positions[SYMBOL] == 2
    _assert_marked_at_the_mid(system, lots=2, price=MID - 300)

    # the gateway dies: the venue cancels the session's orders, the venue comes back up
    restarted = gateway_started(system, 2)
    assert system.tree.faults(system.gateway_path).kill()
    assert fake_venue.wait_until(lambda: not fake_venue.open_orders(), timeout=5), (
        "orders left at the venue"
    )
    assert (client_order_id, "disconnect") in fake_venue.cancellations
    (down,) = events.wait_for(VenueStatus, up=False)
    assert down.venue == VENUE
    assert restarted.wait(10)
    events.wait_for(VenueStatus, count=2, up=True, venue=VENUE)  # reconciled, up again
    assert fake_venue.logons == 2
    assert fake_venue.wait_until(lambda: fake_venue.sessions() == 1, timeout=5)
    assert system.wait_for_no_open_orders(5.0)
    report = system.orders()
    assert report.open_orders == 0
    assert report.positions[SYMBOL] == 2  # the fill stays; nothing was applied twice
    assert report.fills == 1
    (order,) = report.orders
    assert (order.client_order_id, order.filled, order.status) == (
        client_order_id,
        2,
        OrderStatus.CANCELLED,
    )

    # trading resumes on the new session; a stop leaves nothing open at the venue
    again = system.new_order_id()
    system.submit(_order(again, side=Side.SELL, price=MID + 300, quantity=1))
    events.wait_for(OrderUpdate, client_order_id=again, status=OrderStatus.ACCEPTED)
    assert fake_venue.open_client_ids(API_KEY) == {again}
    summary = system.stop(timeout=10)
    assert fake_venue.open_orders() == []
    assert any(c == again for c, _why in fake_venue.cancellations)
    assert summary.open_at_venue == 0
    assert summary.status.position == 2
    assert summary.clean


def test_a_ban_stops_every_request_to_the_venue_and_halts_trading(fake_venue, make_system):
    """Binance's 418: never retry into a ban. Nothing more is sent; the switch trips."""
    system, events = make_system()
    resting = system.new_order_id()
    system.submit(_order(resting))
    events.wait_for(OrderUpdate, client_order_id=resting, status=OrderStatus.ACCEPTED)
    fake_venue.fail_next["order.new"] = ("E_BANNED", "way too many requests; banned until 1")
    banned = system.new_order_id()
    system.submit(_order(banned, price=MID - 301))
    (update,) = events.wait_for(OrderUpdate, client_order_id=banned, status=OrderStatus.REJECTED)
    assert update.reason == "banned"
    (halt,) = events.wait_for(KillSwitchChanged, state=TradingState.HALTED)
    assert halt.source == "venue_banned"
    assert "banned until 1" in halt.reason
    # the halt cancels everything: the cancel is refused here, never sent into the ban
    sent = len(fake_venue.methods)
    system.cancel(resting)
    events.wait_for(OrderUpdate, client_order_id=resting, reason="banned")
    assert fake_venue.methods[sent:] == []
    assert system.tree.stats(system.gateway_path).restarts == 0


def test_a_rate_limit_answer_slows_the_gateway_instead_of_retrying_at_once(fake_venue, make_system):
    # a slow refill (one message every 2 s): the budget stays empty for the whole test
    system, events = make_system(max_messages_per_second=0.5)
    fake_venue.fail_next["order.new"] = ("E_THROTTLE", "too many orders")
    first, second = system.new_order_id(), system.new_order_id()
    system.submit(_order(first))
    (update,) = events.wait_for(OrderUpdate, client_order_id=first, status=OrderStatus.REJECTED)
    assert update.reason == "rate_limited"
    sent = fake_venue.methods.count("order.new")
    system.submit(_order(second, price=MID - 302))  # at once: our own budget is empty now
    (update,) = events.wait_for(OrderUpdate, client_order_id=second, status=OrderStatus.REJECTED)
    assert update.reason == "throttled"
    assert fake_venue.methods.count("order.new") == sent
