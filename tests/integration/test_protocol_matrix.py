"""Issue 14's matrix: every order-entry behaviour, for each protocol, through the whole tree.

The tree (`TradingSystem` with ``[venue] kind = <protocol>``: risk, order manager, the
gateway with the venue's codec) against the simulated exchange speaking that protocol
(``SimExchange(protocol=...)``) over real loopback sockets; marked ``supervision``, so
CI runs it under threads and under gevent. Nothing here reaches a real venue.

Where each cell is proven (``M`` = this module, parametrized ``[sim|binance|kraken]``):

===================== ======================================================================
behaviour             test (all three protocols unless a protocol is named)
===================== ======================================================================
logon / auth          M ``test_logon_is_signed_for_the_account_and_a_wrong_secret_is_refused``
place                 M ``test_a_placed_order_rests_at_the_venue_as_sent``
fill                  M ``test_a_fill_at_the_venue_is_applied_once_and_the_positions_agree``
partial fill          M ``test_a_partial_fill_leaves_the_rest_working_at_the_venue``
cancel                M ``test_a_cancel_takes_the_order_off_the_venue``
cancel-all            M ``test_cancel_all_takes_every_order_off_the_venue_in_one_request``
amend                 test_amend.py, parametrized over the same three protocols:
                      ``test_amend_down_keeps_the_queue_place_and_a_new_price_loses_it``
                      (quantity down, new price; queue priority checked at the venue),
                      ``test_an_amend_the_venue_refuses_leaves_the_order_as_it_was``,
                      ``test_an_amend_racing_a_fill_is_refused_and_the_fill_still_counts``
reject (venue's code) M ``test_a_venue_reject_carries_the_venue_s_own_code_and_message``
gateway killed        M ``test_a_killed_gateway_leaves_nothing_working_at_the_venue``: sim by
                      the venue's cancel-on-disconnect, Binance and Kraken by the new
                      session's cancel-all (asserted: who cancelled). Kraken's dead-man's
                      switch alone: test_kraken_protocol_tree.py
                      ``test_the_dead_man_s_switch_cancels_a_dead_session_s_orders_before_
                      anyone_reconnects``
lost fill             M ``test_a_fill_lost_on_the_link_comes_back_exactly_once``: the report
                      muted at the venue, the link dropped by the venue, the new session's
                      reconciliation (sim ``fills``, Binance ``myTrades``, Kraken the
                      ``executions`` snapshot). A lost fill on a live link: Binance's
                      garbled report, test_gateway_bad_frames.py; sim's gap,
                      test_trading_tree.py ``test_a_fill_lost_on_a_live_link_is_fetched_
                      again_when_the_next_one_shows_the_gap``
rate limit            M ``test_the_rate_limit_is_reached_and_nothing_is_lost``: sim at the
                      venue (its own refusal, ``rate_limited``); Binance by the budget
                      derived from the limits its ``exchangeInfo`` states (its reply counts:
                      test_gateway_venue_rate_limits.py); Kraken by its rate counter (the
                      threshold its subscription's answer states, the stream's
                      ``ratecount``: test_kraken_protocol_tree.py), before the venue refuses
===================== ======================================================================
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from trading_helpers import (
    INSTRUMENT,
    MID,
    SECRET,
    SYMBOL,
    TradingEvents,
    config_for,
    gateway_started,
)

from tradeactors.actors.order_manager import ReconciliationReport
from tradeactors.clock import SystemClock
from tradeactors.core.messages import (
    CancelAllOrders,
    OrderStatus,
    OrderUpdate,
    Side,
    SubmitOrder,
    VenueStatus,
)
from tradeactors.errors import ChildStartError, VenueLogonRefusedError
from tradeactors.exchange.binance_api import RateLimits
from tradeactors.exchange.kraken_api import KrakenLimits
from tradeactors.exchange.liquidity import LiquidityConfig
from tradeactors.exchange.server import SimExchange
from tradeactors.trading.system import TradingSystem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.supervision

PROTOCOLS = ("sim", "binance", "kraken")
KRAKEN_SECRET = base64.b64encode(b"kraken-test-secret-" + b"k" * 45).decode()  # as Kraken's
PRICE = MID - 300  # nobody sells there unless a test makes it
STILL = LiquidityConfig(limit_rate=0, cancel_rate=0, market_rate=0, depth_ticks=0)


def _secret(protocol: str) -> str:
    return KRAKEN_SECRET if protocol == "kraken" else SECRET


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Trading:
    """One system against one venue: what every cell needs, and its helpers."""

    def __init__(self, venue: SimExchange, system: TradingSystem, events: TradingEvents):
        self.venue, self.system, self.events = venue, system, events
        self.symbol = system.config.venue.symbol

    def submit(self, side: Side = Side.BUY, price: int = PRICE, quantity: int = 5) -> str:
        cid = self.system.new_order_id()
        self.system.submit(
            SubmitOrder(
                client_order_id=cid, venue="sim", instrument=self.symbol, side=side,
                price=price, quantity=quantity,
            )
        )  # fmt: skip
        return cid

    def accepted(self, quantity: int = 5) -> str:
        cid = self.submit(quantity=quantity)
        self.events.wait_for(OrderUpdate, client_order_id=cid, status=OrderStatus.ACCEPTED)
        return cid

    def resting(self) -> list[tuple[Side, int, int]]:
        """The account's orders as the venue has them (side, price, remaining)."""
        return [(o.side, o.price, o.remaining) for o in self.venue.open_orders("demo")]


@pytest.fixture
def start(protocol: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Trading]]:
    """Start a venue speaking ``protocol`` (``venue`` options: its limits) and a system
    trading at it (``sections``: config overrides); all stopped when the test ends."""
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", _secret(protocol))
    clock = SystemClock()
    venues: list[SimExchange] = []
    systems: list[TradingSystem] = []

    def make(venue: dict[str, Any] | None = None, **sections: dict[str, Any]) -> Trading:
        exchange = SimExchange(
            INSTRUMENT, clock, seed=7, interval=0.02, keys={"demo": _secret(protocol)},
            liquidity=STILL, protocol=protocol, **(venue or {}),
        ).start()  # fmt: skip
        venues.append(exchange)
        system = _system(exchange, protocol, **sections)
        systems.append(system)
        events = TradingEvents()
        system.subscribe(events)
        system.start(timeout=20)
        events.wait_for(VenueStatus, up=True)
        return Trading(exchange, system, events)

    try:
        yield make
    finally:
        for system in systems:
            try:
                running = system.tree.running
            except RuntimeError:  # never started
                continue
            if running:
                system.stop(timeout=10)
        for exchange in venues:
            exchange.close()
        clock.close()


def _system(venue: SimExchange, protocol: str, **sections: dict[str, Any]) -> TradingSystem:
    config = config_for(venue, **sections)
    symbol = "BTC/USDT" if protocol == "kraken" else SYMBOL  # Kraken's v2 names its pair so
    return TradingSystem(
        msgspec.structs.replace(
            config, venue=msgspec.structs.replace(config.venue, kind=protocol, symbol=symbol)
        )
    )


@pytest.fixture
def trading(start: Callable[..., Trading]) -> Trading:
    return start()


# -- logon / auth -------------------------------------------------------------------------

# What each venue answers a logon signed with the wrong secret: (reason, the venue's own
# words in the error). Binance: -1022 on the signed request; Kraken: the REST
# GetWebSocketsToken call refused; the simulator: its logon refused.
REFUSED_LOGON = {
    "sim": ("auth_failed", "(unknown key or bad signature)"),
    "binance": ("invalid_signature", "(-1022 Signature for this request is not valid.)"),
    "kraken": ("auth_failed", "(GetWebSocketsToken: EAPI:Invalid signature)"),
}


def test_logon_is_signed_for_the_account_and_a_wrong_secret_is_refused(
    trading, protocol, monkeypatch
):
    # the venue checked the signature and knows the session as the account's
    assert len(trading.venue.orders.connections_of("demo")) == 1
    assert trading.system.orders().venues == {"sim": True}

    wrong = "wrong-secret-" + "w" * 30
    if protocol == "kraken":
        wrong = base64.b64encode(wrong.encode()).decode()  # well formed, not the account's
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", wrong)
    other = _system(trading.venue, protocol)
    with pytest.raises(ChildStartError) as failed:
        other.start(timeout=20)
    refused: BaseException | None = failed.value
    while refused is not None and not isinstance(refused, VenueLogonRefusedError):
        refused = refused.__cause__
    assert isinstance(refused, VenueLogonRefusedError), failed.value
    reason, words = REFUSED_LOGON[protocol]
    assert refused.code == reason
    assert words in str(refused)
    assert wrong not in str(failed.value)
    assert _secret(protocol) not in str(failed.value)
    assert len(trading.venue.orders.connections_of("demo")) == 1  # only the good session


# -- place, fill, partial fill, cancel, cancel-all ------------------------------------------


def test_a_placed_order_rests_at_the_venue_as_sent(trading):
    cid = trading.accepted(quantity=5)
    assert trading.resting() == [(Side.BUY, PRICE, 5)]
    assert trading.venue.requests("demo", "place") == 1
    (order,) = trading.system.orders().orders
    assert (order.client_order_id, order.status, order.filled) == (cid, "accepted", 0)
    assert order.order_id is not None  # the venue's id, learnt from its acknowledgement


def test_a_fill_at_the_venue_is_applied_once_and_the_positions_agree(trading, protocol):
    cid = trading.accepted(quantity=5)
    assert trading.venue.take(Side.SELL, PRICE, 5) == 5
    (filled,) = trading.events.wait_for(OrderUpdate, client_order_id=cid, status="filled")
    assert (filled.fill_quantity, filled.fill_price, filled.filled) == (5, PRICE, 5)
    # the venue's own execution id: Binance's trade id and the simulator's are integers,
    # Kraken's exec_id a string
    assert isinstance(filled.execution_id, str if protocol == "kraken" else int)
    assert filled.execution_id
    assert trading.resting() == []
    report = trading.system.orders()
    assert (report.fills, report.duplicate_fills, report.open_orders) == (1, 0, 0)
    assert report.positions[trading.symbol] == 5 == trading.venue.position("demo")
    assert trading.system.stop(timeout=10).clean


def test_a_partial_fill_leaves_the_rest_working_at_the_venue(trading):
    cid = trading.accepted(quantity=5)
    assert trading.venue.take(Side.SELL, PRICE, 2) == 2
    (fill,) = trading.events.wait_for(OrderUpdate, client_order_id=cid, fill_quantity=2)
    assert (fill.status, fill.filled, fill.quantity) == ("partially_filled", 2, 5)
    assert trading.resting() == [(Side.BUY, PRICE, 3)]  # partial at the venue too
    assert trading.system.orders().positions[trading.symbol] == 2 == trading.venue.position("demo")
    # the rest still trades
    assert trading.venue.take(Side.SELL, PRICE, 3) == 3
    (done,) = trading.events.wait_for(OrderUpdate, client_order_id=cid, status="filled")
    assert (done.fill_quantity, done.filled) == (3, 5)
    assert trading.system.orders().fills == 2


def test_a_cancel_takes_the_order_off_the_venue(trading):
    keep = trading.accepted(quantity=1)
    cid = trading.accepted(quantity=5)
    trading.system.cancel(cid)
    (cancelled,) = trading.events.wait_for(OrderUpdate, client_order_id=cid, status="cancelled")
    assert cancelled.filled == 0
    assert trading.resting() == [(Side.BUY, PRICE, 1)]  # only that one went
    assert trading.venue.requests("demo", "cancel") == 1
    assert [
        o.client_order_id for o in trading.system.orders().orders if o.status == "accepted"
    ] == [keep]


def test_cancel_all_takes_every_order_off_the_venue_in_one_request(trading):
    ids = [trading.accepted(quantity=q) for q in (1, 2, 3)]
    assert len(trading.resting()) == 3
    before = trading.venue.requests("demo", "cancel_all")  # the one every logon sends
    trading.system.tree.address(trading.system.paths.order_manager).tell(
        CancelAllOrders(reason="matrix: cancel all", venue="sim")
    )
    for cid in ids:
        trading.events.wait_for(OrderUpdate, client_order_id=cid, status="cancelled")
    assert trading.resting() == []
    assert trading.venue.requests("demo", "cancel_all") == before + 1
    assert trading.venue.requests("demo", "cancel") == 0  # not one by one
    assert trading.system.orders().open_orders == 0
    again = trading.accepted(quantity=1)  # not a kill switch: trading goes on
    assert trading.resting() == [(Side.BUY, PRICE, 1)]
    assert again


# -- a reject with the venue's code -------------------------------------------------------

# The venue's answer to a new order while it takes none (`SimExchange.reject_orders`):
# (the contract's reason, the venue's own code and message as the update's detail).
VENUE_REJECT = {
    "sim": ("venue_unavailable", "not taking orders"),
    "binance": ("rejected", "-2010 Market is closed."),  # NEW_ORDER_REJECTED
    "kraken": ("venue_unavailable", "EService:Unavailable"),
}


def test_a_venue_reject_carries_the_venue_s_own_code_and_message(trading, protocol):
    trading.venue.reject_orders(60.0)
    cid = trading.submit()
    (rejected,) = trading.events.wait_for(OrderUpdate, client_order_id=cid, status="rejected")
    reason, detail = VENUE_REJECT[protocol]
    assert (rejected.reason, rejected.detail) == (reason, detail)
    assert trading.venue.requests("demo", "place") == 1  # it was the venue that said no
    assert trading.resting() == []
    trading.venue.reject_orders(0.0)  # the venue takes orders again: so does the tree
    trading.accepted(quantity=1)
    assert trading.system.orders().inconsistencies == 0


# -- the gateway killed with resting orders ---------------------------------------------------


def test_a_killed_gateway_leaves_nothing_working_at_the_venue(trading, protocol):
    """sim: the venue's cancel-on-disconnect, before anyone reconnects; Binance and Kraken
    spot have none: the new session's cancel-all (Kraken's dead-man's switch would too,
    later: test_kraken_protocol_tree.py)."""
    venue, system = trading.venue, trading.system
    ids = [trading.accepted(quantity=q) for q in (1, 2, 3)]
    logon_cancel_alls = venue.requests("demo", "cancel_all")
    who: list[int] = []  # the venue's count of cancel-alls when the last order went

    def all_gone() -> bool:  # runs under the venue's lock, at every change
        if venue.engine.open_orders("demo"):
            return False
        who.append(venue.orders.requests.get(("demo", "cancel_all"), 0))
        return True

    restarted = gateway_started(trading.system, 2)
    assert system.tree.faults(system.gateway_path).kill()
    assert venue.wait_until(all_gone, timeout=10)
    if protocol == "sim":
        assert who[0] == logon_cancel_alls  # no new session had asked: the venue did it
    else:
        assert who[0] == logon_cancel_alls + 1  # the new session's cancel-all
    assert restarted.wait(10)
    trading.events.wait_for(VenueStatus, count=2, up=True)
    assert system.wait_for_no_open_orders(10)
    report = system.orders()
    assert {(o.client_order_id, o.status) for o in report.orders} == {
        (cid, "cancelled") for cid in ids
    }
    assert trading.accepted(quantity=1)  # trading resumes on the new session
    summary = system.stop(timeout=10)
    assert (summary.open_at_venue, venue.open_orders("demo")) == (0, [])
    assert summary.clean


# -- reconciliation after a lost fill ---------------------------------------------------------


def test_a_fill_lost_on_the_link_comes_back_exactly_once(trading):
    venue, system, events = trading.venue, trading.system, trading.events
    cid = trading.accepted(quantity=5)
    venue.mute_reports("demo")  # the venue's reports to this account are lost
    assert venue.take(Side.SELL, PRICE, 2) == 2
    venue.mute_reports("demo", muted=False)
    assert venue.position("demo") == 2
    assert system.orders().fills == 0  # really lost: the tree never heard of it

    restarted = gateway_started(trading.system, 2)
    assert venue.drop_sessions("demo") == 1  # the link drops: a new session reconciles
    assert restarted.wait(10)
    reconciled = events.wait_for(ReconciliationReport, count=2)[-1]
    assert (reconciled.missed_fills, reconciled.duplicate_fills) == (1, 0)
    events.wait_for(VenueStatus, count=2, up=True)
    fills = [u for u in events.of(OrderUpdate, client_order_id=cid) if u.fill_quantity]
    assert [(f.fill_quantity, f.fill_price) for f in fills] == [(2, PRICE)]
    report = system.orders()
    assert (report.fills, report.duplicate_fills) == (1, 0)
    assert report.positions[trading.symbol] == 2 == venue.position("demo")
    (order,) = report.orders
    assert (order.filled, order.status) == (2, "cancelled")  # its rest went with the session
    assert venue.open_orders("demo") == []

    # another reconnect finds the same fill again: skipped, never applied twice
    restarted = gateway_started(trading.system, 3)
    assert venue.drop_sessions("demo") == 1
    assert restarted.wait(10)
    again = events.wait_for(ReconciliationReport, count=3)[-1]
    assert again.missed_fills == 0
    assert system.orders().fills == 1
    assert system.orders().positions[trading.symbol] == 2
    assert system.stop(timeout=10).clean


# -- rate limit reached -------------------------------------------------------------------

# Each venue's limit, small: the simulator's session bucket (no more than its burst of 100
# at once, 5/s after; the gateway's budget set above it, as a user might get it wrong),
# Kraken's trading rate counter (5, decaying by 10/s: the gateway stops at 4, decaying it
# by Starter's 1/s, the slowest: no tier's threshold is as low),
# Binance's order count per 10 s (4; stated by exchangeInfo: the budget is cut to it).
RATE_LIMITED = {
    "sim": (
        {"rate_per_second": 5.0},
        {"execution": {"max_messages_per_second": 1000.0, "burst": 400}},
        110,
    ),
    "binance": ({"binance_limits": RateLimits(orders_per_10_seconds=4)}, {}, 3),
    "kraken": (
        {"kraken_limits": KrakenLimits(max_rate_count=5, rate_decay_per_second=10.0)},
        {},
        9,
    ),
}


def _settled(events: TradingEvents, cid: str) -> OrderUpdate:
    """The order's first update that settles its placing: accepted, rejected or denied."""
    while True:
        for update in events.of(OrderUpdate, client_order_id=cid):
            if update.status in (OrderStatus.ACCEPTED, OrderStatus.REJECTED, OrderStatus.DENIED):
                return update
        events.wait_for(OrderUpdate, len(events.of(OrderUpdate)) + 1)


def test_the_rate_limit_is_reached_and_nothing_is_lost(start, protocol):
    venue_limits, sections, count = RATE_LIMITED[protocol]
    trading = start(venue_limits, risk={"max_open_orders": None, "max_position": None}, **sections)
    venue, events = trading.venue, trading.events
    ids = [trading.submit(quantity=1) for _ in range(count)]
    updates = [_settled(events, cid) for cid in ids]
    outcomes = [(u.status, u.reason) for u in updates]
    accepted = [cid for cid, u in zip(ids, updates, strict=True) if u.status == "accepted"]
    refused = [o for o in outcomes if o[0] == "rejected"]
    assert accepted
    assert refused
    assert len(accepted) + len(refused) == count  # each answered: none silently dropped
    places = venue.requests("demo", "place")
    if protocol != "sim":
        # reached by the gateway, following the venue's stated limit (Binance's
        # exchangeInfo, Kraken's rate counter): never sent
        assert set(refused) == {("rejected", "throttled")}
        assert places == len(accepted)
        # Binance: 4 per 10 s, a quarter at once; Kraken: 4 of 5 (one more if the burst
        # took over a second, the counter decaying meanwhile)
        assert len(accepted) == 1 if protocol == "binance" else 4 <= len(accepted) <= 5
    else:
        # reached at the venue: its own refusal; after it, the gateway's own pause
        at_venue = refused.count(("rejected", "rate_limited"))
        assert at_venue
        assert set(refused) <= {("rejected", "rate_limited"), ("rejected", "throttled")}
        assert {u.detail for u in updates if u.reason == "rate_limited"} == {"too many messages"}
        assert places == len(accepted)  # the simulator counts what passed its bucket
    # the orders the venue took are all there, and cancels still go through
    assert len(trading.resting()) == len(accepted)
    trading.system.cancel(accepted[0])
    events.wait_for(OrderUpdate, client_order_id=accepted[0], status="cancelled")
    assert len(trading.resting()) == len(accepted) - 1
    summary = trading.system.stop(timeout=10)
    assert (summary.open_at_venue, venue.open_orders("demo")) == (0, [])
