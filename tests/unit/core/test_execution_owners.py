"""Positions, realized PnL, open orders and fills per (owner, instrument) in the order manager."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeactors.core.execution import ExecutionCore, OrderStore
from tradeactors.core.messages import (
    GetOrders,
    OrderAccepted,
    OrderFilled,
    OrdersReport,
    OwnerPosition,
    PlaceOrder,
    Reconciliation,
    Side,
    SubmitOrder,
)

VENUE, GATEWAY, RISK = "v", "execution/gateway.v", "risk"
BTC, ETH = "BTCUSDT", "ETHUSDT"
ALPHA, BETA = "strategies/alpha/strategy", "strategies/beta/strategy"


class Desk:
    """An execution core with its venue up; orders placed, accepted and filled by hand."""

    def __init__(self) -> None:
        self.core = ExecutionCore(OrderStore(), gateways={VENUE: GATEWAY}, risk_path=RISK)
        self.run(Reconciliation(venue=VENUE, open_orders=(), fills=()))
        self.execution_id = 0
        self.order_id = 0

    def run(self, message: object) -> None:
        self.core.commit(self.core.handle(message))

    def place(
        self, cid: str, owner: str, instrument: str, side: Side, *, price: int, qty: int
    ) -> None:
        self.order_id += 1
        order = SubmitOrder(
            client_order_id=cid,
            venue=VENUE,
            instrument=instrument,
            side=side,
            price=price,
            quantity=qty,
            owner=owner,
        )
        self.run(PlaceOrder(order=order))
        self.run(OrderAccepted(venue=VENUE, client_order_id=cid, order_id=self.order_id))

    def fill(self, cid: str, instrument: str, side: Side, price: int, qty: int) -> None:
        self.execution_id += 1
        self.run(
            OrderFilled(
                venue=VENUE,
                instrument=instrument,
                client_order_id=cid,
                order_id=self.order_id,
                execution_id=self.execution_id,
                side=side,
                price=price,
                quantity=qty,
                remaining=0,
            )
        )

    def report(self) -> OrdersReport:
        step = self.core.handle(GetOrders(with_orders=False))
        report: OrdersReport = step.reply
        return report

    def rows(self) -> dict[tuple[str | None, str], OwnerPosition]:
        return {(row.owner, row.instrument): row for row in self.report().owners}


@pytest.fixture
def desk() -> Desk:
    return Desk()


def trade_two_owners_on_two_instruments(desk: Desk) -> None:
    # alpha buys 10 BTC in two partial fills, then sells 15: closes 10, flips to -5
    desk.place("a1", ALPHA, BTC, Side.BUY, price=110, qty=10)
    desk.fill("a1", BTC, Side.BUY, 100, 4)
    desk.fill("a1", BTC, Side.BUY, 110, 6)
    desk.place("a2", ALPHA, BTC, Side.SELL, price=120, qty=15)
    desk.fill("a2", BTC, Side.SELL, 120, 15)
    # beta buys 3 ETH, sells 1 of an order of 2 (1 left open), and has a BTC bid open
    desk.place("b1", BETA, ETH, Side.BUY, price=50, qty=3)
    desk.fill("b1", ETH, Side.BUY, 50, 3)
    desk.place("b2", BETA, ETH, Side.SELL, price=55, qty=2)
    desk.fill("b2", ETH, Side.SELL, 55, 1)
    desk.place("b3", BETA, BTC, Side.BUY, price=90, qty=2)
    # a host's order with no owner, and a fill of an order nobody here knows
    desk.place("h1", "", ETH, Side.BUY, price=60, qty=1)
    desk.fill("h1", ETH, Side.BUY, 60, 1)
    desk.fill("ghost", BTC, Side.SELL, 130, 1)


class TestRows:
    """Each (owner, instrument) keeps its own position, average, realized PnL and counts."""

    def test_partial_fills_and_a_flip_are_kept_per_owner_and_instrument(self, desk: Desk) -> None:
        trade_two_owners_on_two_instruments(desk)
        rows = desk.rows()
        alpha = rows[(ALPHA, BTC)]
        # bought 4 @ 100 and 6 @ 110 (average 106), sold 15 @ 120: 10 closed, 5 short
        assert (alpha.position, alpha.fills, alpha.open_orders) == (-5, 3, 0)
        assert Fraction(*alpha.realized) == (120 - 106) * 10
        assert Fraction(*alpha.average_price) == 120  # the flip opened at the fill's price
        beta_eth = rows[(BETA, ETH)]
        assert (beta_eth.position, beta_eth.fills, beta_eth.open_orders) == (2, 2, 1)
        assert Fraction(*beta_eth.realized) == 5
        assert Fraction(*beta_eth.average_price) == 50

    def test_an_owner_with_orders_open_and_no_fill_has_a_flat_row(self, desk: Desk) -> None:
        trade_two_owners_on_two_instruments(desk)
        beta_btc = desk.rows()[(BETA, BTC)]
        assert (beta_btc.position, beta_btc.fills, beta_btc.open_orders) == (0, 0, 1)
        assert Fraction(*beta_btc.realized) == 0

    def test_a_fill_of_an_unknown_order_counts_for_the_instrument_and_no_owner(
        self, desk: Desk
    ) -> None:
        trade_two_owners_on_two_instruments(desk)
        rows = desk.rows()
        unknown = rows[(None, BTC)]
        assert (unknown.position, unknown.fills, unknown.open_orders) == (-1, 1, 0)
        assert Fraction(*unknown.average_price) == 130
        host = rows[("", ETH)]
        assert (host.position, host.fills) == (1, 1)

    def test_rows_are_sorted_by_instrument_then_owner_with_unknown_last(self, desk: Desk) -> None:
        trade_two_owners_on_two_instruments(desk)
        keys = [(row.instrument, row.owner) for row in desk.report().owners]
        assert keys == [
            (BTC, ALPHA),
            (BTC, BETA),
            (BTC, None),
            (ETH, ""),
            (ETH, BETA),
        ]

    def test_the_rows_of_an_instrument_add_up_to_its_position_and_fills(self, desk: Desk) -> None:
        trade_two_owners_on_two_instruments(desk)
        report = desk.report()
        for instrument in (BTC, ETH):
            rows = [row for row in report.owners if row.instrument == instrument]
            assert sum(row.position for row in rows) == report.positions[instrument]
        assert sum(row.fills for row in report.owners) == report.fills
        assert sum(row.open_orders for row in report.owners) == report.open_orders

    def test_a_repeated_fill_moves_no_owner_twice(self, desk: Desk) -> None:
        desk.place("a1", ALPHA, BTC, Side.BUY, price=100, qty=4)
        fill = OrderFilled(
            venue=VENUE, instrument=BTC, client_order_id="a1", order_id=1, execution_id=1,
            side=Side.BUY, price=100, quantity=4, remaining=0,
        )  # fmt: skip
        desk.run(fill)
        desk.run(fill)
        row = desk.rows()[(ALPHA, BTC)]
        assert (row.position, row.fills) == (4, 1)

    def test_nothing_moves_until_the_step_is_committed(self, desk: Desk) -> None:
        desk.place("a1", ALPHA, BTC, Side.BUY, price=100, qty=4)
        step = desk.core.handle(
            OrderFilled(
                venue=VENUE, instrument=BTC, client_order_id="a1", order_id=1, execution_id=1,
                side=Side.BUY, price=100, quantity=4, remaining=0,
            )
        )  # fmt: skip
        assert desk.core.store.owner_positions == {}
        assert desk.rows()[(ALPHA, BTC)].position == 0
        desk.core.commit(step)
        assert desk.rows()[(ALPHA, BTC)].position == 4

    def test_an_old_style_report_still_constructs_without_rows(self) -> None:
        report = OrdersReport(
            orders=(), open_orders=0, positions={}, realized={}, venues={}, fills=0,
            duplicate_fills=0, inconsistencies=0, reconciliations=0,
        )  # fmt: skip
        assert report.owners == ()


_OWNERS = (ALPHA, BETA, "")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(_OWNERS),
            st.sampled_from((BTC, ETH)),
            st.sampled_from((Side.BUY, Side.SELL)),
            st.integers(1, 200),
            st.integers(1, 9),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 200),
)
def test_owners_add_up_to_the_instrument_in_position_and_total_pnl(
    trades: list[tuple[str, str, Side, int, int]], mark: int
) -> None:
    desk = Desk()
    for number, (owner, instrument, side, price, quantity) in enumerate(trades):
        cid = f"o{number}"
        desk.place(cid, owner, instrument, side, price=price, qty=quantity)
        desk.fill(cid, instrument, side, price, quantity)
    report = desk.report()
    store = desk.core.store
    for instrument in (BTC, ETH):
        rows = [row for row in report.owners if row.instrument == instrument]
        account = store.ledger.position(instrument)
        assert sum(row.position for row in rows) == account.net
        owners_pnl = sum(
            Fraction(*row.realized) + (mark - Fraction(*row.average_price)) * row.position
            for row in rows
        )
        assert owners_pnl == account.realized + account.unrealized(mark)
