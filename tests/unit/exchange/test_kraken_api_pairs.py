"""The simulated exchange's Kraken front-end serving two pairs of different steps.

ETH/USD (tick 0.01, lot 0.001) and BTC/USD (tick 0.1, lot 0.00001): a price or a
quantity read in the other pair's units shows. Kraken's WebSocket v2 takes a list of
``symbol``s in a ``book`` or ``trade`` subscription (an answer per symbol), streams the
``executions`` of every pair of the account, and counts the trading rate per pair
(guides/spot-ratelimits); ``cancel_all`` and ``cancel_all_orders_after`` act on the
whole account.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_kraken_api import KEYS, PAIR, SYMBOL, Client, Venue, book_frames, error_of

from tradeactors.clock import FakeClock
from tradeactors.core.instrument import Instrument
from tradeactors.errors import ConfigError
from tradeactors.exchange.kraken_api import KrakenApi, KrakenLimits
from tradeactors.exchange.matching import Filters, MatchingEngine, Side
from tradeactors.venues.kraken import KrakenBook, KrakenResult, decode_v2_book_messages

BTC = Instrument(venue="kraken", symbol="BTC/USD", tick_size="0.1", lot_size="0.00001")
BTC_SYMBOL = "BTC/USD"


class TwoPairs(Venue):
    """A KrakenApi serving ETH/USD (the first) and BTC/USD over one engine."""

    def __init__(self, *, limits: KrakenLimits | None = None) -> None:
        self.clock = FakeClock()
        self.instrument = PAIR
        self.engine = MatchingEngine(
            filters={i.symbol: Filters.of(i) for i in (PAIR, BTC)},
        )
        self.api = KrakenApi(self.engine, (PAIR, BTC), KEYS, self.clock, limits=limits)
        self.nonce = 1_000

    def take_on(
        self, symbol: str, side: Side, price: int, quantity: int, account: str = "taker"
    ) -> None:
        """Another market participant's order (resting unless it trades), reported."""
        self.nonce += 1
        events = self.engine.submit(
            account=account,
            client_order_id=f"take-{self.nonce}",
            instrument=symbol,
            side=side,
            quantity=quantity,
            price=price,
        )
        self.api.report(events)


def btc_order(client: Client, token: str, **params: Any) -> dict[str, Any]:
    order = {"symbol": BTC_SYMBOL, "order_qty": 0.0002, "limit_price": 30000.1, **params}
    return client.place(token, **order)


@pytest.fixture
def venue() -> TwoPairs:
    return TwoPairs()


@pytest.fixture
def alice(venue: TwoPairs) -> tuple[Client, str]:
    client = venue.client()
    token = venue.token("alice")
    client.subscribe(token, ratecounter=True)
    return client, token


class TestOrders:
    """Orders are routed by ``symbol`` and read in that pair's tick and lot."""

    def test_each_pair_s_order_rests_on_its_own_book_in_its_own_steps(self, venue, alice):
        client, token = alice
        eth = client.place(token, order_qty=0.5, limit_price=1000.01)
        btc = btc_order(client, token)
        assert eth["success"]
        assert btc["success"]
        assert venue.engine.depth(PAIR.symbol, Side.BUY, 5) == [(100_001, 500)]
        assert venue.engine.depth(BTC.symbol, Side.BUY, 5) == [(300_001, 20)]
        (eth_new,) = client.updates(exec_type="pending_new", symbol=SYMBOL)
        (btc_new,) = client.updates(exec_type="pending_new", symbol=BTC_SYMBOL)
        assert (eth_new["limit_price"], eth_new["order_qty"]) == (1000.01, 0.5)
        assert (btc_new["limit_price"], btc_new["order_qty"]) == (30000.1, 0.0002)

    def test_a_price_on_one_pair_s_tick_but_not_the_other_s_is_refused_there(self, alice):
        client, token = alice
        assert client.place(token, limit_price=1000.01)["success"]  # ETH/USD: 0.01
        answer = btc_order(client, token, limit_price=30000.01)
        assert error_of(answer) == "EOrder:Tick size check failed"  # BTC/USD: 0.1

    def test_a_pair_not_served_is_an_unknown_asset_pair(self, alice):
        client, token = alice
        assert error_of(client.place(token, symbol="SOL/USD")) == "EQuery:Unknown asset pair"

    def test_an_amend_naming_another_pair_finds_no_order(self, alice):
        client, token = alice
        order_id = client.place(token, order_qty=0.5)["result"]["order_id"]
        answer = client.call(
            "amend_order", token=token, order_id=order_id, order_qty=0.4, symbol=BTC_SYMBOL
        )
        assert error_of(answer) == "EOrder:Unknown order"
        answer = client.call(
            "amend_order", token=token, order_id=order_id, order_qty=0.4, symbol=SYMBOL
        )
        assert answer["success"]

    def test_fills_of_each_pair_are_reported_in_its_own_numbers(self, venue, alice):
        client, token = alice
        client.place(token, order_qty=0.5, limit_price=1000.01)
        btc_order(client, token)
        venue.take_on(BTC.symbol, Side.SELL, 300_001, 20)
        venue.take_on(PAIR.symbol, Side.SELL, 100_001, 100)
        (btc_fill,) = client.updates(exec_type="trade", symbol=BTC_SYMBOL)
        (eth_fill,) = client.updates(exec_type="trade", symbol=SYMBOL)
        assert (btc_fill["last_qty"], btc_fill["last_price"]) == (0.0002, 30000.1)
        assert (eth_fill["last_qty"], eth_fill["last_price"]) == (0.1, 1000.01)
        assert btc_fill["trade_id"] == eth_fill["trade_id"] == 1  # each pair counts its own
        snapshot = venue.client().subscribe(venue.token("alice"), snap_trades=True)
        assert {(r["symbol"], r.get("exec_type")) for r in snapshot} == {
            (SYMBOL, "new"),  # ETH/USD's order is still open (0.4 left)
            (BTC_SYMBOL, "trade"),
            (SYMBOL, "trade"),
        }


class TestAccountWide:
    """cancel_all and the dead-man's switch act on every pair; the counter is per pair."""

    def test_cancel_all_cancels_both_pairs_orders(self, venue, alice):
        client, token = alice
        client.place(token)
        btc_order(client, token)
        assert client.call("cancel_all", token=token)["result"] == {"count": 2}
        assert {r["order_id"] for r in client.updates(exec_type="canceled")} == {
            r["order_id"] for r in client.updates(exec_type="new")
        }
        assert venue.engine.depth(PAIR.symbol, Side.BUY, 5) == []
        assert venue.engine.depth(BTC.symbol, Side.BUY, 5) == []

    def test_the_dead_man_s_switch_cancels_both_pairs_orders(self, venue, alice):
        client, token = alice
        client.place(token)
        btc_order(client, token)
        assert client.call("cancel_all_orders_after", token=token, timeout=5)["success"]
        venue.advance(5)
        assert len(client.updates(exec_type="canceled", reason="Cancel all orders after")) == 2

    def test_each_pair_has_its_own_rate_counter(self):
        venue = TwoPairs(limits=KrakenLimits(max_rate_count=3, rate_decay_per_second=0.001))
        client = venue.client()
        token = venue.token("alice")
        client.subscribe(token, ratecounter=True)
        for _ in range(3):
            assert client.place(token)["success"]
        assert error_of(client.place(token)) == "EOrder:Rate limit exceeded"
        assert btc_order(client, token)["success"]  # BTC/USD's counter is its own
        assert venue.api.rate_count("alice", venue.now_ns) == pytest.approx(4, abs=0.01)
        assert venue.api.rate_count("alice", venue.now_ns, BTC_SYMBOL) == pytest.approx(1, abs=0.01)
        (btc_new,) = client.updates(exec_type="pending_new", symbol=BTC_SYMBOL)
        assert btc_new["ratecount"] == pytest.approx(1, abs=0.01)

    def test_the_open_orders_limit_is_per_pair(self):
        venue = TwoPairs(limits=KrakenLimits(max_open_orders=1))
        client = venue.client()
        token = venue.token("alice")
        client.subscribe(token)
        assert client.place(token)["success"]
        assert error_of(client.place(token)) == "EOrder:Orders limit exceeded"
        assert btc_order(client, token)["success"]


class TestMarketData:
    """Book and trade subscriptions with several symbols: an answer and a book per symbol."""

    def test_one_book_subscription_covers_both_pairs_each_with_its_own_checksum(self, venue):
        venue.take_on(PAIR.symbol, Side.BUY, 99_950, 7)  # resting bids on each pair
        venue.take_on(BTC.symbol, Side.BUY, 299_990, 3)
        client = venue.client()
        answers = client.calls("subscribe", channel="book", symbol=[SYMBOL, BTC_SYMBOL], depth=10)
        assert [a["result"]["symbol"] for a in answers] == [SYMBOL, BTC_SYMBOL]
        readers = {SYMBOL: KrakenBook(PAIR, depth=10), BTC_SYMBOL: KrakenBook(BTC, depth=10)}
        venue.take_on(BTC.symbol, Side.BUY, 299_980, 5)
        venue.take_on(PAIR.symbol, Side.SELL, 100_050, 2)
        results: dict[str, list[KrakenResult]] = {SYMBOL: [], BTC_SYMBOL: []}
        for frame in book_frames(client):
            for message in decode_v2_book_messages(frame) or ():
                results[message.pair].append(readers[message.pair].on_message(message))
        assert results == {
            SYMBOL: [KrakenResult.SNAPSHOT, KrakenResult.APPLIED],
            BTC_SYMBOL: [KrakenResult.SNAPSHOT, KrakenResult.APPLIED],
        }
        assert readers[BTC_SYMBOL].book.bids(10) == venue.engine.depth(BTC.symbol, Side.BUY, 10)
        assert readers[SYMBOL].book.asks(10) == venue.engine.depth(PAIR.symbol, Side.SELL, 10)

    def test_a_symbol_already_subscribed_or_not_served_is_refused(self, venue):
        client = venue.client()
        assert client.call("subscribe", channel="book", symbol=[SYMBOL])["success"]
        answer = client.call("subscribe", channel="book", symbol=[BTC_SYMBOL, SYMBOL])
        assert (error_of(answer), answer["symbol"]) == ("Already subscribed", SYMBOL)
        answer = client.call("subscribe", channel="book", symbol=["SOL/USD"])
        assert error_of(answer) == "Currency pair not supported SOL/USD"
        assert client.call("subscribe", channel="book", symbol=[BTC_SYMBOL])["success"]
        answers = client.calls("unsubscribe", channel="book", symbol=[SYMBOL, BTC_SYMBOL])
        assert [a["result"]["symbol"] for a in answers] == [SYMBOL, BTC_SYMBOL]
        answer = client.call("unsubscribe", channel="book", symbol=[SYMBOL])
        assert error_of(answer) == "Subscription Not Found"

    def test_a_trade_subscription_gets_only_its_symbols_trades(self, venue):
        venue.take_on(PAIR.symbol, Side.BUY, 99_950, 7, account="maker")
        venue.take_on(BTC.symbol, Side.BUY, 299_990, 3, account="maker")
        eth_only, both = venue.client(), venue.client("10.0.0.2")
        assert eth_only.call("subscribe", channel="trade", symbol=[SYMBOL])["success"]
        answers = both.calls("subscribe", channel="trade", symbol=[SYMBOL, BTC_SYMBOL])
        assert [a["result"]["symbol"] for a in answers] == [SYMBOL, BTC_SYMBOL]
        venue.take_on(BTC.symbol, Side.SELL, 299_990, 1)
        venue.take_on(PAIR.symbol, Side.SELL, 99_950, 2)

        def trades(client: Client) -> list[tuple[str, float, float]]:
            return [
                (t["symbol"], t["price"], t["qty"])
                for m in client.messages
                if m.get("channel") == "trade" and m.get("type") == "update"
                for t in m["data"]
            ]

        assert trades(eth_only) == [(SYMBOL, 999.5, 0.002)]
        assert trades(both) == [(BTC_SYMBOL, 29999.0, 0.00001), (SYMBOL, 999.5, 0.002)]


def test_the_same_pair_twice_is_refused():
    engine = MatchingEngine(filters={PAIR.symbol: Filters.of(PAIR)})
    spelled_otherwise = Instrument(venue="kraken", symbol="ETHUSD", tick_size="0.01", lot_size="1")
    with pytest.raises(ConfigError, match="the same Kraken pair"):
        KrakenApi(engine, (PAIR, spelled_otherwise), KEYS, FakeClock())
