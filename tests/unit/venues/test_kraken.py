"""Kraken v1 book: decoding, updates, depth trimming and the CRC32 checksum."""

from __future__ import annotations

import math
import zlib
from collections import Counter
from fractions import Fraction
from pathlib import Path

import msgspec
import pytest

from tradeactors.core.instrument import Instrument
from tradeactors.venues.capture import read_capture
from tradeactors.venues.kraken import (
    ADAPTER,
    KrakenBook,
    KrakenResult,
    checksum,
    decode_book_message,
    decode_v2_book_messages,
)

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
PAIR = Instrument(venue="kraken", symbol="XBT/USD", tick_size="0.1", lot_size="0.00000001")

SNAPSHOT = (
    '[1,{"as":[["100.1","1.00000000","1.0"],["100.2","2.00000000","1.0"]],'
    '"bs":[["100.0","3.00000000","1.0"],["99.9","0.50000000","1.0"]]},"book-10","XBT/USD"]'
)


def _crc(text: str) -> int:
    return zlib.crc32(text.encode()) & 0xFFFFFFFF


class TestDecoding:
    def test_a_snapshot_and_a_two_part_update_decode(self):
        snap = decode_book_message(SNAPSHOT)
        assert snap is not None
        assert snap.snapshot
        assert snap.asks == (("100.1", "1.00000000"), ("100.2", "2.00000000"))
        update = decode_book_message(
            '[1,{"a":[["100.1","0.00000000","2.0"]]},{"b":[["100.0","4.00000000","2.0","r"]],'
            '"c":"123"},"book-10","XBT/USD"]'
        )
        assert update is not None
        assert not update.snapshot
        assert update.asks == (("100.1", "0.00000000"),)
        assert update.bids == (("100.0", "4.00000000"),)
        assert update.checksum == 123

    def test_events_are_not_book_messages(self):
        assert decode_book_message('{"event":"heartbeat"}') is None

    @pytest.mark.parametrize("frame", ["[1,2]", '[1,{"x":[]},"book-10","XBT/USD"]'])
    def test_malformed_book_messages_are_value_errors(self, frame):
        with pytest.raises(ValueError, match=r"Kraken|unknown book field"):
            decode_book_message(frame)

    def test_bad_json_is_a_decode_error(self):
        with pytest.raises(msgspec.DecodeError):
            decode_book_message("[1,")


class TestBook:
    def _synced(self, depth: int = 10) -> KrakenBook:
        book = KrakenBook(PAIR, depth=depth)
        message = decode_book_message(SNAPSHOT)
        assert message is not None
        assert book.on_message(message) is KrakenResult.SNAPSHOT
        return book

    def test_the_checksum_concatenates_asks_then_bids_without_dots_or_leading_zeros(self):
        book = self._synced()
        expected = _crc(
            "1001" + "100000000" + "1002" + "200000000" + "1000" + "300000000" + "999" + "50000000"
        )
        assert checksum(book.book) == expected

    def test_an_update_with_the_right_checksum_applies_and_zero_volume_deletes(self):
        book = self._synced()
        crc = _crc("1002" + "200000000" + "1000" + "400000000" + "999" + "50000000")
        message = decode_book_message(
            f'[1,{{"a":[["100.1","0.00000000","2"]]}},{{"b":[["100.0","4.00000000","2","r"]],'
            f'"c":"{crc}"}},"book-10","XBT/USD"]'
        )
        assert message is not None
        assert book.on_message(message) is KrakenResult.APPLIED
        assert book.book.best_ask() == (1002, 200000000)
        assert book.book.best_bid() == (1000, 400000000)

    def test_a_checksum_mismatch_clears_the_book_until_the_next_snapshot(self):
        book = self._synced()
        message = decode_book_message(
            '[1,{"a":[["100.3","1.00000000","2"]],"c":"1"},"book-10","XBT/USD"]'
        )
        assert message is not None
        assert book.on_message(message) is KrakenResult.CHECKSUM_MISMATCH
        assert not book.synced
        assert len(book.book) == 0
        assert book.on_message(message) is KrakenResult.NOT_SYNCED

    def test_levels_beyond_the_subscribed_depth_are_trimmed(self):
        book = self._synced(depth=2)
        # the bid at 100.0 goes in the same update: an ask there would otherwise cross it
        message = decode_book_message(
            '[1,{"a":[["100.0","1.00000000","2"]]},{"b":[["100.0","0.00000000","2"]]},'
            '"book-2","XBT/USD"]'
        )
        assert message is not None
        book.on_message(message)
        assert book.book.asks() == [(1000, 100000000), (1001, 100000000)]

    def test_a_price_finer_than_the_tick_is_a_bad_level(self):
        book = self._synced()
        message = decode_book_message('[1,{"a":[["100.15","1.00000000","2"]]},"book-10","XBT/USD"]')
        assert message is not None
        assert book.on_message(message) is KrakenResult.BAD_LEVEL


@pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}")
def test_every_update_of_the_real_kraken_capture_matches_its_checksum():
    books: dict[str, KrakenBook] = {}
    results: Counter[KrakenResult] = Counter()
    for frame in read_capture(DATA / "cryptofeed" / "KRAKEN.ws.50.0"):
        message = decode_book_message(frame.payload)
        if message is None:
            continue
        if message.pair not in books:
            instrument = KrakenBook.instrument_for(message.pair, message)
            books[message.pair] = KrakenBook(instrument, depth=1000)
        results[books[message.pair].on_message(message)] += 1
        books[message.pair].book.check_invariants()
    assert results == {KrakenResult.SNAPSHOT: 10, KrakenResult.APPLIED: 4269}


@pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}")
@pytest.mark.parametrize("lot", ["0.0001", "0.01", "1"])
def test_the_capture_matches_every_checksum_in_an_order_lot_coarser_than_the_wire(lot):
    """The checksum covers volumes as sent (8 decimals in v1): a book counting them in a
    coarser order lot (rounded up) must still match every update; its sizes are the
    venue's rounded up to the lot."""
    books: dict[str, KrakenBook] = {}
    results: Counter[KrakenResult] = Counter()
    rounded = 0
    for frame in read_capture(DATA / "cryptofeed" / "KRAKEN.ws.50.0"):
        message = decode_book_message(frame.payload)
        if message is None:
            continue
        if message.pair not in books:
            wire = KrakenBook.instrument_for(message.pair, message)
            instrument = msgspec.structs.replace(wire, lot_size=lot)
            books[message.pair] = KrakenBook(instrument, depth=1000)
        book = books[message.pair]
        results[book.on_message(message)] += 1
        for price, volume in message.asks[:1]:
            size = book.book.size_at(book.instrument.price(price), bid=False)
            exact = Fraction(volume) / Fraction(lot)
            assert size in (0, math.ceil(exact))  # 0: deleted, or trimmed
            rounded += size != exact
    assert results == {KrakenResult.SNAPSHOT: 10, KrakenResult.APPLIED: 4269}
    assert rounded > 100  # sizes finer than the lot were there, and counted as whole lots


def test_the_live_subscription_is_websocket_v2_s_book_at_the_depth_asked_and_its_trades():
    market_data = ADAPTER.market_data
    subscribe, trades = market_data.subscribe_messages(["BTC/USD"], depth=25)
    assert msgspec.json.decode(subscribe) == {
        "method": "subscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 25, "snapshot": True},
    }
    assert msgspec.json.decode(trades) == {  # websocket-v2/trade, without past trades
        "method": "subscribe",
        "params": {"channel": "trade", "symbol": ["BTC/USD"], "snapshot": False},
    }
    unsubscribe, again = market_data.resubscribe_messages("BTC/USD", depth=25)
    assert msgspec.json.decode(unsubscribe) == {
        "method": "unsubscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 25},
    }
    assert again == subscribe
    assert market_data.snapshot_url("https://api.kraken.com", "BTC/USD") is None
    with pytest.raises(ValueError, match="one of 10, 25, 100, 500, 1000, not 15"):
        market_data.subscribe_messages(["BTC/USD"], depth=15)


class TestV2:
    SNAPSHOT_V2 = (
        '{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD",'
        '"bids":[{"price":45283.5,"qty":0.10000000},{"price":45283.4,"qty":1.54582015}],'
        '"asks":[{"price":45285.2,"qty":0.00100000},{"price":45286.4,"qty":1.54571953}],'
        '"checksum":CRC}]}'
    )

    @staticmethod
    def _crc(asks, bids) -> int:
        text = "".join(
            p.replace(".", "").lstrip("0") + q.replace(".", "").lstrip("0")
            for p, q in [*asks, *bids]
        )
        return zlib.crc32(text.encode()) & 0xFFFFFFFF

    def test_v2_numbers_keep_their_exact_digits_and_the_checksum_matches(self):
        crc = self._crc(
            [("45285.2", "0.00100000"), ("45286.4", "1.54571953")],
            [("45283.5", "0.10000000"), ("45283.4", "1.54582015")],
        )
        (message,) = decode_v2_book_messages(self.SNAPSHOT_V2.replace("CRC", str(crc)))
        assert message.snapshot
        assert message.bids[0] == ("45283.5", "0.10000000")
        instrument = KrakenBook.instrument_for(message.pair, message, volume_places=None)
        book = KrakenBook(instrument, depth=10)
        assert book.on_message(message) is KrakenResult.SNAPSHOT
        crc = self._crc(
            [("45286.4", "1.54571953")],
            [("45283.5", "0.10000000"), ("45283.4", "1.54582015")],
        )
        update = (
            '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],'
            f'"asks":[{{"price":45285.2,"qty":0.00000000}}],"checksum":{crc}}}]}}'
        )
        (message,) = decode_v2_book_messages(update)
        assert book.on_message(message) is KrakenResult.APPLIED
        assert book.book.best_ask() == (452864, 154571953)

    def test_a_wrong_v2_checksum_is_a_mismatch(self):
        (message,) = decode_v2_book_messages(self.SNAPSHOT_V2.replace("CRC", "7"))
        book = KrakenBook(KrakenBook.instrument_for(message.pair, message, volume_places=None))
        assert book.on_message(message) is KrakenResult.CHECKSUM_MISMATCH

    def test_other_v2_channels_are_not_book_messages(self):
        assert decode_v2_book_messages('{"channel":"heartbeat"}') is None

    @pytest.mark.parametrize("number", ['"45283.5"', "-1.0", "4.5e3"])
    def test_v2_numbers_that_are_not_plain_decimals_are_refused(self, number):
        frame = self.SNAPSHOT_V2.replace("45283.5", number, 1).replace("CRC", "1")
        with pytest.raises(ValueError, match="plain non-negative"):
            decode_v2_book_messages(frame)


@pytest.mark.parametrize(
    "payload",
    ['{"a": 5}', '{"a": [["101.0"]]}', '{"a": [{"p": 1}]}', '{"a": [5]}', '{"a": null}',
     '{"a": [], "c": null}', '{"a": [], "c": []}', '{"a": [], "c": 1.5}'],
)  # fmt: skip
def test_malformed_v1_shapes_are_value_errors_not_crashes(payload):
    with pytest.raises(ValueError, match=r"not a list|malformed book level|checksum"):
        decode_book_message(f'[1,{payload},"book-10","XBT/USD"]')


def test_the_subscribed_depth_is_read_from_the_channel_name():
    message = decode_book_message('[1,{"a":[]},"book-25","XBT/USD"]')
    assert message is not None
    assert message.depth == 25


def test_a_v2_subscription_acknowledgement_is_not_a_book_message():
    from tradeactors.venues.kraken import decode_any_book_messages

    ack = (
        '{"method":"subscribe","result":{"channel":"book","depth":10,"symbol":"BTC/USD"},'
        '"success":true}'
    )
    assert decode_any_book_messages(ack) == ()


class TestHostileInput:
    """Issue 18: whatever a frame holds, decoding drops it with a reason and books never lie."""

    @staticmethod
    def _dropped(payload: str | bytes) -> str:
        from tradeactors.errors import FrameDroppedError
        from tradeactors.venues.capture import Frame
        from tradeactors.venues.kraken import ADAPTER

        frame = Frame(received_ns=1, source="ws", payload=payload)  # type: ignore[arg-type]
        with pytest.raises(FrameDroppedError) as caught:
            ADAPTER.market_data.decode(frame)
        return caught.value.reason

    @pytest.mark.parametrize(
        "payload",
        [
            "[" * 5000 + "]" * 5000,
            '[1,{"a":[]},"book-10","XBT/USD",%s]' % ("[" * 5000 + "]" * 5000),
            '{"channel":"book","type":"update","x":%s}' % ("[" * 5000 + "]" * 5000),
            '{"event":%s}' % ('{"a":' * 3000 + "1" + "}" * 3000),
        ],
    )
    def test_json_nested_too_deeply_is_dropped_as_too_deep_and_never_a_recursion_error(
        self, payload
    ):
        from tradeactors.venues.kraken import decode_any_book_messages

        assert self._dropped(payload) == "too_deep"
        with pytest.raises(msgspec.DecodeError, match="nested too deeply"):
            decode_any_book_messages(payload)

    @pytest.mark.parametrize(
        "payload",
        [
            # nested just under the decoder's limit (NEST): the error message must not recurse
            '[1,{"a":[NEST]},"book-10","XBT/USD"]',
            '[1,{"a":[]},NEST,"XBT/USD"]',  # the channel name
            '[1,{"a":[],"c":"%s"},"book-10","XBT/USD"]' % ("9" * 5000),
            '[1,{"a":[],"c":"99999999999"},"book-10","XBT/USD"]',  # more than a CRC32
            '[1,{"a":[]},5,"XBT/USD"]',
        ],
    )
    def test_wrong_shapes_are_not_book_messages(self, payload):
        import inspect
        import sys

        below = sys.getrecursionlimit() - len(inspect.stack()) - 60
        assert self._dropped(payload.replace("NEST", "[" * below + "]" * below)) == (
            "not_a_book_message"
        )

    @pytest.mark.parametrize("frame", [b"\xff\xfe[1]", '["\ud800",{"a":[]},"book-10","X"]'])
    def test_text_that_is_not_utf8_is_malformed(self, frame):
        assert self._dropped(frame) == "malformed"

    def test_a_huge_subscribed_depth_is_not_read(self):
        message = decode_book_message('[1,{"a":[]},"book-%s","XBT/USD"]' % ("9" * 5000))
        assert message is not None
        assert message.depth is None

    @pytest.mark.parametrize("number", ["[[1]]", "true", "null", "{}", '"1"', "1E5"])
    def test_v2_values_that_are_not_numbers_are_refused(self, number):
        frame = (
            '{"channel":"book","type":"update","data":[{"symbol":"XBT/USD",'
            f'"bids":[{{"price":{number},"qty":1.0}}],"asks":[]}}]}}'
        )
        assert self._dropped(frame) == "not_a_book_message"

    @pytest.mark.parametrize(
        "bad", ["0.0", "0", "-0", "1e5", "NaN", "0.0000000000000000000000001", "1" + "0" * 59]
    )
    def test_level_prices_a_book_must_not_hold_are_refused_and_the_book_resyncs(self, bad):
        book = KrakenBook(PAIR, depth=10)
        message = decode_book_message(SNAPSHOT.replace("99.9", bad))
        assert message is not None
        assert book.on_message(message) is KrakenResult.BAD_LEVEL
        assert not book.synced
        assert len(book.book) == 0

    def test_a_crossed_snapshot_is_never_published_even_with_a_matching_checksum(self):
        book = KrakenBook(PAIR, depth=10)
        crossed = SNAPSHOT.replace('["100.0","3.00000000"', '["100.1","3.00000000"')
        message = decode_book_message(crossed)
        assert message is not None
        assert book.on_message(message) is KrakenResult.CROSSED
        assert not book.synced
        assert len(book.book) == 0

    def test_an_update_that_crosses_the_book_resyncs_even_if_the_venue_checksum_agrees(self):
        book = TestBook()._synced()
        # a bid at the best ask (locked): its checksum as the venue would compute it
        crc = _crc(
            "1001" + "100000000" + "1002" + "200000000"
            + "1001" + "100000000" + "1000" + "300000000" + "999" + "50000000"
        )  # fmt: skip
        message = decode_book_message(
            f'[1,{{"b":[["100.1","1.00000000","2"]],"c":"{crc}"}},"book-10","XBT/USD"]'
        )
        assert message is not None
        assert book.on_message(message) is KrakenResult.CROSSED
        assert not book.synced
        assert len(book.book) == 0

    def test_the_adapter_resyncs_a_crossed_book(self):
        from tradeactors.venues.adapter import BookOutcome
        from tradeactors.venues.kraken import ADAPTER

        sync = ADAPTER.market_data.book_sync(PAIR, mode="", max_depth=10)
        message = decode_book_message(SNAPSHOT.replace('["100.0","3', '["100.2","3'))
        outcome = sync.on_event(message)
        assert outcome is BookOutcome.CROSSED
        assert outcome.resyncs

    def test_an_instrument_is_not_inferred_from_malformed_levels(self):
        message = decode_book_message(
            '[1,{"as":[["1.%s","1.0","1"],["100.25","1.00000000","1"]],"bs":[]},"book-10","X/Y"]'
            % ("0" * 100_000)
        )
        assert message is not None
        assert KrakenBook.instrument_for("X/Y", message).tick_size == "0.01"


def test_v2_status_and_heartbeat_messages_are_not_book_messages_nor_errors():
    """Kraken's documented ``status`` message has ``data`` without ``symbol``."""
    from tradeactors.venues.kraken import decode_v2_book_messages

    status = (
        '{"channel":"status","type":"update","data":[{"version":"2.0.0","system":"online",'
        '"api_version":"v2","connection_id":12345,"status":"ok"}]}'
    )
    assert decode_v2_book_messages(status) is None
    assert decode_v2_book_messages('{"channel":"heartbeat"}') is None


class TestTrades:
    """WebSocket v2's ``trade`` channel (websocket-v2/trade): public trades for strategies
    and the paper venue's queues."""

    # websocket-v2/trade's example update, as documented
    DOCUMENTED = (
        '{"channel": "trade", "type": "update", "data": [{"symbol": "MATIC/USD", '
        '"side": "sell", "price": 0.5117, "qty": 40.0, "ord_type": "market", '
        '"trade_id": 4665906, "timestamp": "2023-09-25T07:49:37.708706Z"}]}'
    )
    MATIC = Instrument(venue="kraken", symbol="MATIC/USD", tick_size="0.0001", lot_size="0.1")

    @staticmethod
    def _events(payload: str):
        from tradeactors.venues.capture import Frame

        return ADAPTER.market_data.decode(Frame(received_ns=1, source="ws", payload=payload))

    def test_the_documented_update_is_a_trade_of_its_taker_side_at_the_venue_s_time(self):
        from tradeactors.core.messages import MarketDataKind, Side, TradeTick
        from tradeactors.venues.kraken import KrakenTrade, decode_v2_trades

        (event,) = self._events(self.DOCUMENTED)
        assert (event.symbol, event.kind) == ("MATIC/USD", MarketDataKind.TRADE)
        assert event.data == KrakenTrade(
            symbol="MATIC/USD",
            side=Side.SELL,
            price="0.5117",
            qty="40.0",
            trade_id=4665906,
            timestamp_ns=1_695_628_177_708_706_000,  # 2023-09-25T07:49:37.708706Z
        )
        assert decode_v2_trades(self.DOCUMENTED) == (event.data,)
        assert ADAPTER.market_data.trade_tick(self.MATIC, event.data) == TradeTick(
            instrument="MATIC/USD",
            price=5117,
            quantity=400,
            side=Side.SELL,
            timestamp_ns=1_695_628_177_708_706_000,
        )

    def test_a_quantity_finer_than_the_lot_counts_as_the_next_lot_up(self):
        (event,) = self._events(self.DOCUMENTED.replace('"qty": 40.0', '"qty": 40.01'))
        assert ADAPTER.market_data.trade_tick(self.MATIC, event.data).quantity == 401

    def test_a_snapshot_of_past_trades_and_other_channels_give_no_trade(self):
        from tradeactors.venues.kraken import decode_v2_trades

        snapshot = self.DOCUMENTED.replace('"type": "update"', '"type": "snapshot"')
        assert self._events(snapshot) == ()
        assert decode_v2_trades(snapshot) == ()
        assert decode_v2_trades('{"channel":"heartbeat"}') is None

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            (('"side": "sell"', '"side": "hold"'), "malformed"),
            (('"timestamp": "2023', '"timestamp": "yesterday'), "malformed"),
            (('"price": 0.5117', '"price": "0.5117"'), "not_a_book_message"),
            (('"qty": 40.0', '"qty": -40.0'), "not_a_book_message"),
            (('"trade_id": 4665906', '"trade_id": "x"'), "malformed"),
        ],
    )
    def test_a_malformed_trade_is_dropped_with_a_reason(self, change, reason):
        assert TestHostileInput._dropped(self.DOCUMENTED.replace(*change)) == reason

    @pytest.mark.parametrize(
        ("change", "match"),
        [
            (('"qty": 40.0', '"qty": 0'), "not a trade"),
            (('"price": 0.5117', '"price": 0.51175'), "tick"),
        ],
    )
    def test_a_trade_the_instrument_cannot_hold_is_a_parse_error(self, change, match):
        from tradeactors.errors import ParseError

        (event,) = self._events(self.DOCUMENTED.replace(*change))
        with pytest.raises(ParseError, match=match):
            ADAPTER.market_data.trade_tick(self.MATIC, event.data)
