"""The venue's filters: no order can build a level that a client's book cannot parse.

Issue 18, item 3: two orders with a 60-digit quantity made a published level that
every client's book sync rejected for ever. The engine now bounds prices and quantities
as Binance's PRICE_FILTER, LOT_SIZE and MIN_NOTIONAL do, and a level's total size too.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeactors.core.instrument import Instrument, ParseError
from tradeactors.errors import ConfigError
from tradeactors.exchange.matching import (
    DEFAULT_FILTERS,
    WIRE_MAX_UNITS,
    EngineAccepted,
    EngineFilled,
    EngineRejected,
    Filters,
    MatchingEngine,
    RejectReason,
    Side,
    TimeInForce,
    read_price,
    read_quantity,
)
from tradeactors.exchange.publisher import BinancePublisher
from tradeactors.venues.binance import (
    DepthSync,
    DepthUpdate,
    SyncResult,
    decode_frame,
    decode_snapshot,
)

BUY, SELL = Side.BUY, Side.SELL
SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")
# a client reading the same stream at Binance's wire precision (tradeactors record/replay)
WIRE = Instrument(venue="binance", symbol="SIMUSDT", tick_size="0.00000001", lot_size="0.00000001")
MAX_TICKS = 999_999_999_999  # 9,999,999,999.99 at a tick of 0.01
MAX_LOTS = 9_999_999_999_999  # 9,999,999,999.999 at a lot of 0.001


class _Orders:
    """Places orders on ``SIMUSDT`` with fresh client order ids."""

    def __init__(self, engine: MatchingEngine) -> None:
        self.engine = engine
        self.count = 0

    def __call__(self, account: str, side: Side, quantity: int, price: int, **kw: Any) -> list:
        self.count += 1
        events = self.engine.submit(
            account=account,
            client_order_id=f"c{self.count}",
            instrument="SIMUSDT",
            side=side,
            quantity=quantity,
            price=price,
            **kw,
        )
        self.engine.check_invariants()
        return events


@pytest.fixture
def engine() -> MatchingEngine:
    return MatchingEngine(filters={"SIMUSDT": Filters.of(SIM)})


@pytest.fixture
def place(engine: MatchingEngine) -> _Orders:
    return _Orders(engine)


def refused(events: list) -> RejectReason:
    (event,) = events
    assert isinstance(event, EngineRejected)
    return event.reason


class TestTheDefaults:
    def test_an_instrument_without_limits_gets_one_step_up_to_what_the_wire_carries(self):
        filters = Filters.of(SIM)
        assert (filters.min_price, filters.max_price) == (1, MAX_TICKS)
        assert (filters.min_quantity, filters.max_quantity) == (1, MAX_LOTS)
        assert (filters.max_level_quantity, filters.min_notional) == (MAX_LOTS, 0)
        assert SIM.format_price(MAX_TICKS) == "9999999999.99"
        assert SIM.format_size(MAX_LOTS) == "9999999999.999"
        assert filters == DEFAULT_FILTERS  # what an engine given no filters applies

    @pytest.mark.parametrize(
        ("tick", "lot"),
        [("0.01", "0.001"), ("0.5", "0.005"), ("0.00000001", "1"), ("0.000000001", "1")],
    )
    def test_the_largest_price_and_size_fit_18_digits_at_8_decimals(self, tick, lot):
        instrument = Instrument(venue="x", symbol="Y", tick_size=tick, lot_size=lot)
        filters = Filters.of(instrument)
        for text in (
            instrument.format_price(filters.max_price),
            instrument.format_size(filters.max_level_quantity),
        ):
            whole, _, fraction = text.partition(".")
            digits = int(whole + fraction.ljust(8, "0"))  # at 8 decimals, or more if finer
            assert digits <= WIRE_MAX_UNITS < 2**63  # an int64, as Binance's SBE holds it

    def test_limits_given_on_the_instrument_are_the_filters(self):
        instrument = Instrument(
            venue="sim",
            symbol="SIMUSDT",
            tick_size="0.01",
            lot_size="0.001",
            min_price="0.10",
            max_price="100000",
            min_quantity="0.010",
            max_quantity="9000",
            min_notional="5",
        )
        filters = Filters.of(instrument)
        assert (filters.min_price, filters.max_price) == (10, 10_000_000)
        assert (filters.min_quantity, filters.max_quantity) == (10, 9_000_000)
        assert filters.min_notional == 500_000  # 5 / (0.01 x 0.001)
        assert filters.max_level_quantity == MAX_LOTS  # what clients parse, not max_quantity

    @pytest.mark.parametrize(
        "limits",
        [
            {"max_price": "1.005"},  # off the tick
            {"min_quantity": "abc"},
            {"max_quantity": "10000000000"},  # more than the wire carries
            {"max_price": "10000000000"},
            {"min_price": "5", "max_price": "4"},
            {"min_quantity": "0"},
            {"min_notional": "-1"},
        ],
    )
    def test_impossible_limits_are_config_errors(self, limits):
        with pytest.raises(ConfigError):  # from Instrument itself, or from Filters.of
            Filters.of(
                Instrument(
                    venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001", **limits
                )
            )


class TestOrdersOutsideTheFilters:
    def test_a_60_digit_quantity_is_refused_by_lot_size(self, engine, place):
        quantity = read_quantity(SIM, "9" * 57 + ".999")  # 60 digits: the parser takes it
        assert isinstance(quantity, int)
        assert len(str(quantity)) == 60
        for account in ("attacker", "attacker-2"):  # the two orders
            assert refused(place(account, BUY, quantity, 100)) is RejectReason.LOT_SIZE
        assert engine.depth("SIMUSDT", BUY) == []
        assert RejectReason.LOT_SIZE.code == -1013
        assert RejectReason.LOT_SIZE.message == "Filter failure: LOT_SIZE"

    def test_a_1e300_price_is_refused_by_price_filter(self, place):
        assert refused(place("a", SELL, 1, 10**300)) is RejectReason.PRICE_FILTER
        assert read_price(SIM, "1" + "0" * 300) is RejectReason.PRICE_FILTER  # too long
        with pytest.raises(ParseError):
            read_price(SIM, "1e300")  # not a plain decimal: a bad request, as -1100
        assert RejectReason.PRICE_FILTER.message == "Filter failure: PRICE_FILTER"

    @pytest.mark.parametrize(
        ("quantity", "price", "reason"),
        [
            (0, 100, RejectReason.LOT_SIZE),
            (-5, 100, RejectReason.LOT_SIZE),
            (1, 0, RejectReason.PRICE_FILTER),
            (1, -100, RejectReason.PRICE_FILTER),
            (MAX_LOTS + 1, 100, RejectReason.LOT_SIZE),
            (1, MAX_TICKS + 1, RejectReason.PRICE_FILTER),
        ],
    )
    def test_zero_negative_and_too_large_are_refused(self, place, quantity, price, reason):
        assert refused(place("a", BUY, quantity, price)) is reason
        assert refused(place("a", BUY, quantity, price, market=True)) is reason
        assert refused(place("a", BUY, quantity, price, tif=TimeInForce.FOK)) is reason

    @pytest.mark.parametrize(
        ("read", "instrument", "text", "reason"),
        [
            (read_quantity, SIM, "0.0015", RejectReason.LOT_SIZE),  # finer than the lot
            (read_price, SIM, "100.005", RejectReason.PRICE_FILTER),  # finer than the tick
            (
                read_quantity,
                Instrument(venue="x", symbol="Y", tick_size="0.05", lot_size="0.005"),
                "0.003",
                RejectReason.LOT_SIZE,
            ),  # on the precision, off the step: Binance's quantity % stepSize != 0
            (
                read_price,
                Instrument(venue="x", symbol="Y", tick_size="0.05", lot_size="0.005"),
                "1.01",
                RejectReason.PRICE_FILTER,
            ),
        ],
    )
    def test_an_off_step_decimal_fails_the_filter(self, read, instrument, text, reason):
        assert read(instrument, text) is reason

    @pytest.mark.parametrize("text", ["", "-1", "+1", "1e5", "abc", "1.", ".5", " 1"])
    def test_what_is_not_a_decimal_is_a_bad_request(self, text):
        with pytest.raises(ParseError):
            read_quantity(SIM, text)

    def test_min_notional_refuses_small_limit_orders_but_not_market_orders(self):
        instrument = Instrument(
            venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001", min_notional="10"
        )
        place = _Orders(MatchingEngine(filters={"SIMUSDT": Filters.of(instrument)}))
        price = instrument.price("100.00")
        small, enough = instrument.size("0.099"), instrument.size("0.100")
        assert refused(place("a", BUY, small, price)) is RejectReason.MIN_NOTIONAL
        assert isinstance(place("a", BUY, enough, price)[0], EngineAccepted)
        assert isinstance(place("b", SELL, small, 1, market=True)[0], EngineAccepted)

    def test_a_valid_order_still_trades(self, engine, place):
        place("m", SELL, SIM.size("1.5"), SIM.price("100.00"))
        events = place("t", BUY, SIM.size("1.0"), SIM.price("100.00"))
        assert isinstance(events[0], EngineAccepted)
        assert [f.quantity for f in events if isinstance(f, EngineFilled)] == [1000, 1000]
        assert engine.depth("SIMUSDT", SELL) == [(10_000, 500)]


class TestTheLevelBound:
    def test_the_order_that_would_push_a_level_past_the_maximum_is_refused(self, engine, place):
        half = MAX_LOTS // 2
        assert isinstance(place("a", BUY, half, 100)[0], EngineAccepted)
        assert isinstance(place("b", BUY, MAX_LOTS - half, 100)[0], EngineAccepted)
        assert engine.depth("SIMUSDT", BUY) == [(100, MAX_LOTS)]  # full, and still valid
        assert refused(place("c", BUY, 1, 100)) is RejectReason.MAX_LEVEL_SIZE
        assert RejectReason.MAX_LEVEL_SIZE.message == "Filter failure: MAX_LEVEL_SIZE"
        assert isinstance(place("c", BUY, 1, 99)[0], EngineAccepted)  # other levels have room
        place("s", SELL, 1, 100)  # a fill makes room again
        assert isinstance(place("c", BUY, 1, 100)[0], EngineAccepted)

    def test_a_crossing_order_as_large_as_the_maximum_may_take_and_rest(self, engine, place):
        place("a", SELL, MAX_LOTS, 101)
        place("b", BUY, MAX_LOTS, 100)
        events = place("t", BUY, MAX_LOTS, 101)  # takes the whole ask, nothing rests
        assert sum(f.quantity for f in events if isinstance(f, EngineFilled)) == 2 * MAX_LOTS
        assert engine.depth("SIMUSDT", BUY) == [(100, MAX_LOTS)]

    def test_a_full_level_at_the_maximum_still_parses_in_every_clients_book(self, engine, place):
        place("attacker", BUY, 10**59, 100)  # refused: never published
        place("attacker-2", BUY, 10**59, 100)
        place("a", BUY, MAX_LOTS // 2, MAX_TICKS - 1)
        place("b", BUY, MAX_LOTS - MAX_LOTS // 2, MAX_TICKS - 1)
        place("c", SELL, MAX_LOTS, MAX_TICKS)
        place("d", SELL, 1, MAX_TICKS)  # refused: the level is full
        publisher = BinancePublisher(engine, SIM)
        (diff_frame, _ticker) = publisher.publish([], 0)
        snapshot = decode_snapshot(publisher.snapshot(10))
        assert snapshot.bids == (("9999999999.98", "9999999999.999"),)
        assert snapshot.asks == (("9999999999.99", "9999999999.999"),)
        _, diff = decode_frame(diff_frame)
        assert isinstance(diff, DepthUpdate)
        for client in (SIM, WIRE):
            sync = DepthSync(client)
            assert sync.on_diff(diff) is SyncResult.BUFFERED
            assert sync.on_snapshot(snapshot) is SyncResult.SYNCED
            assert sync.book.best_bid() == (
                client.price("9999999999.98"),
                client.size("9999999999.999"),
            )


levels = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from([BUY, SELL]),
        st.integers(-2, 7),
        st.integers(96, 104),
        st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
        st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(levels)
def test_no_stream_of_orders_builds_a_level_outside_the_filters(stream):
    small = Filters(min_price=97, max_price=103, max_quantity=5, max_level_quantity=8)
    engine = MatchingEngine(filters={"X": small})
    for number, (account, side, quantity, price, tif, market) in enumerate(stream):
        events = engine.submit(
            account=account,
            client_order_id=str(number),
            instrument="X",
            side=side,
            quantity=quantity,
            price=price,
            tif=TimeInForce.IOC if market else tif,
            market=market,
        )
        if small.check(price, quantity, market=market) is not None:
            assert [type(e) for e in events] == [EngineRejected]
        engine.check_invariants()  # every level within max_level_quantity and the prices
        for book_side in (BUY, SELL):
            assert all(size <= 8 for _, size in engine.depth("X", book_side, 100))
