"""The bus's bridges against a real redis-server (started by the test, free port)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
import pytest
import redis

from message_samples import sample
from tradeactors.bus import (
    ENTRY_FIELD,
    BusCodec,
    BusMetrics,
    InboundBridge,
    Kind,
    MarketDataSubscriber,
    OutboundBridge,
    Outbox,
    SeenIds,
    market_data_stream,
    message_types,
)
from tradeactors.core.book import BookView
from tradeactors.core.messages import CancelOrder, Side, SubmitOrder, TradeTick
from tradeactors.supervision import ActorStarted, ChildSpec, SupervisorSpec
from tradeactors.supervision.testing import EventRecorder, Inbox, Probe

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.supervision

STREAM = "cmd:execution"
GROUP = "execution"


@pytest.fixture
def metrics(registry):
    return BusMetrics(registry, "execution-1")


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _order(client_order_id: str) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=client_order_id,
        venue="sim",
        instrument="BTCUSDT",
        side=Side.BUY,
        price=100,
        quantity=1,
        owner="strategies/mm",
    )


def _entry(message, *, message_id="", session=1, sequence=1) -> dict[bytes, bytes]:
    codec = BusCodec()
    return codec.encode(
        codec.envelope(
            message,
            kind=Kind.COMMAND,
            source_host="strategy-1",
            source_path="bus/out",
            destination="receiver",
            session=session,
            sequence=sequence,
            message_id=message_id,
            timestamp_ns=1,
        )
    )


def _outbound_spec(settings, **kwargs) -> SupervisorSpec:
    """A tree of one `OutboundBridge` at ``outbound`` (host st-1, onto STREAM unless told)."""
    return SupervisorSpec(
        name="root",
        children=(
            ChildSpec(
                name="outbound",
                actor=OutboundBridge,
                args=(settings,),
                kwargs={"host": "st-1", "stream": STREAM, **kwargs},
            ),
        ),
    )


def _subscriber_spec(settings, metrics, inbox, statuses, streams) -> SupervisorSpec:
    """A `MarketDataSubscriber` of ``streams`` delivering to a probe with ``inbox``."""
    return SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="receiver", actor=Probe, args=(inbox,)),
            ChildSpec(
                name="md_in",
                actor=MarketDataSubscriber,
                args=(settings,),
                kwargs={
                    "host": "strategy-1",
                    "streams": streams,
                    "deliver_to": "receiver",
                    "metrics": metrics,
                    "status": statuses.append,
                },
            ),
        ),
    )


def _inbound_spec(settings, metrics, inbox, *, consumer="execution-1", seen=None, **kwargs):
    return SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="receiver", actor=Probe, args=(inbox,)),
            ChildSpec(
                name="inbound",
                actor=InboundBridge,
                args=(settings,),
                kwargs={
                    "host": "execution-1",
                    "stream": STREAM,
                    "group": GROUP,
                    "consumer": consumer,
                    "deliver_to": "receiver",
                    "metrics": metrics,
                    "seen": seen,
                    **kwargs,
                },
            ),
        ),
    )


def _settled(tree) -> None:
    """The bridge finished the read it was in (its XACK included): an ask queues behind it."""
    tree.address("inbound").ask("settle", timeout=5)


def _eventually(check, what: str, timeout: float = 5.0) -> None:
    """Wait for a condition of the server (not of an actor), bounded."""
    deadline = time.monotonic() + timeout
    while not _holds(check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _holds(check) -> bool:
    """``check()``; False while the bridge has not made its group yet (NOGROUP)."""
    try:
        return bool(check())
    except redis.exceptions.ResponseError as exc:
        if str(exc).startswith("NOGROUP"):
            return False
        raise


def _messages(inbox: Inbox, count: int) -> list[object]:
    return [message for _, message in inbox.wait_for_count(count, timeout=5)]


class TestRoundTrip:
    """Every message type goes out through one bridge and comes in through another."""

    def test_every_message_type_round_trips_through_a_stream(
        self, make_tree, settings, registry, metrics
    ):
        market = {BookView, TradeTick}
        commands = [sample(kind) for kind in message_types() if kind not in market]
        inbox, md_inbox, statuses = Inbox(), Inbox(), Inbox()
        book = sample(BookView)
        trade = sample(TradeTick)
        md_streams = [market_data_stream(book, "sim"), market_data_stream(trade, "sim")]
        spec = SupervisorSpec(
            name="root",
            children=(
                ChildSpec(name="receiver", actor=Probe, args=(inbox,)),
                ChildSpec(name="md_receiver", actor=Probe, args=(md_inbox,)),
                ChildSpec(
                    name="inbound",
                    actor=InboundBridge,
                    args=(settings,),
                    kwargs={
                        "host": "execution-1",
                        "stream": STREAM,
                        "group": GROUP,
                        "consumer": "execution-1",
                        "deliver_to": "receiver",
                        "metrics": metrics,
                    },
                ),
                ChildSpec(
                    name="md_in",
                    actor=MarketDataSubscriber,
                    args=(settings,),
                    kwargs={
                        "host": "execution-1",
                        "streams": md_streams,
                        "deliver_to": "md_receiver",
                        "status": statuses.append,
                    },
                ),
                ChildSpec(
                    name="outbound",
                    actor=OutboundBridge,
                    args=(settings,),
                    kwargs={
                        "host": "strategy-1",
                        "stream": STREAM,
                        "destination": "receiver",
                        "venue": "sim",
                        "metrics": metrics,
                    },
                ),
            ),
        )
        tree = make_tree(spec)
        statuses.wait_for_count(1)  # the subscriber reads from "$": wait until it has
        outbound = tree.address("outbound")
        for message in commands:
            outbound.tell(message)
        outbound.tell(book)
        outbound.tell(trade)

        assert _messages(inbox, len(commands)) == commands
        received = _messages(md_inbox, 2)
        assert sorted(received, key=lambda m: type(m).__name__) == [book, trade]
        published = _value(
            registry, "tradeactors_bus_published_total", host="execution-1", stream=STREAM
        )
        assert published == len(commands)

    def test_a_subscriber_gets_only_the_newest_book_of_a_batch(
        self, make_tree, settings, client, registry, metrics
    ):
        inbox, statuses = Inbox(), Inbox()
        book_stream = "md:sim:book:BTCUSDT"
        trade_stream = "md:sim:trade:BTCUSDT"
        make_tree(_subscriber_spec(settings, metrics, inbox, statuses, [book_stream, trade_stream]))
        statuses.wait_for_count(1)
        books = [
            BookView(
                instrument="sim:BTCUSDT",
                update_id=n,
                timestamp_ns=n,
                bids=((100 - n % 3, n + 1),),
                asks=((101, 1),),
            )
            for n in range(1, 51)
        ]
        # one transaction: the subscriber's blocked read gets all 50 in one batch
        with client.pipeline(transaction=True) as pipe:
            for n, book in enumerate(books, 1):
                pipe.xadd(book_stream, _entry(book, sequence=n))
            pipe.execute()
        trade = TradeTick(
            instrument="BTCUSDT", price=100, quantity=1, side=Side.SELL, timestamp_ns=9
        )
        client.xadd(trade_stream, _entry(trade, sequence=99))
        assert _messages(inbox, 2) == [books[-1], trade]
        labels = {"host": "execution-1", "stream": book_stream}
        assert _value(registry, "tradeactors_bus_conflated_total", **labels) == 49
        assert _value(registry, "tradeactors_bus_consumed_total", **labels) == 50

    def test_a_trade_sent_again_reaches_the_subscriber_once(
        self, make_tree, settings, client, registry, metrics
    ):
        # an outbound bridge whose pipeline's answer was lost sends it again: the same
        # envelopes (sender, session, sequence) in new entries
        inbox, statuses = Inbox(), Inbox()
        trade_stream = "md:sim:trade:BTCUSDT"
        make_tree(_subscriber_spec(settings, metrics, inbox, statuses, [trade_stream]))
        statuses.wait_for_count(1)
        trades = [
            TradeTick(instrument="BTCUSDT", price=100, quantity=n, side=Side.SELL, timestamp_ns=n)
            for n in (1, 2, 3)
        ]
        for sequence in (1, 2, 1, 2, 3):  # 1 and 2 sent again, then 3
            client.xadd(trade_stream, _entry(trades[sequence - 1], sequence=sequence))
        # another session of the sender (it restarted) starts its sequence again: new
        client.xadd(trade_stream, _entry(trades[0], session=2, sequence=1))
        assert _messages(inbox, 4) == [*trades, trades[0]]
        labels = {"host": "execution-1", "stream": trade_stream}
        _eventually(
            lambda: (
                registry.get_sample_value("tradeactors_bus_duplicates_dropped_total", labels) == 2
            ),
            "the two repeats counted",
        )
        assert len(inbox.snapshot()) == 4  # every entry read: the repeats never delivered


class TestAtLeastOnce:
    """Acknowledged only after delivery; pending entries claimed; repeats dropped."""

    def _read_without_delivering(self, client, consumer: str) -> bytes:
        """What a bridge killed between its read and its tell leaves behind."""
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        entry_id = client.xadd(STREAM, _entry(_order("c-1"), message_id="order:c-1"))
        read = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=10)
        assert read[0][1][0][0] == entry_id
        assert client.xpending(STREAM, GROUP)["pending"] == 1
        return entry_id

    def test_a_restarted_bridge_delivers_what_it_read_before_dying_exactly_once(
        self, make_tree, settings, client, registry, metrics
    ):
        self._read_without_delivering(client, "execution-1")
        inbox = Inbox()
        tree = make_tree(_inbound_spec(settings, metrics, inbox, consumer="execution-1"))
        client.xadd(STREAM, _entry(CancelOrder(client_order_id="c-1"), sequence=2))
        assert _messages(inbox, 2) == [_order("c-1"), CancelOrder(client_order_id="c-1")]
        _settled(tree)
        assert client.xpending(STREAM, GROUP)["pending"] == 0
        labels = {"host": "execution-1", "stream": STREAM}
        assert _value(registry, "tradeactors_bus_redelivered_total", **labels) == 1
        assert _value(registry, "tradeactors_bus_acked_total", **labels) == 2
        assert len(inbox.snapshot()) == 2

    def test_a_new_consumer_claims_the_entries_a_dead_one_left_pending(
        self, make_tree, settings, client, registry, metrics
    ):
        self._read_without_delivering(client, "execution-old")
        inbox = Inbox()
        tree = make_tree(_inbound_spec(settings, metrics, inbox, consumer="execution-new"))
        client.xadd(STREAM, _entry(CancelOrder(client_order_id="c-1"), sequence=2))
        assert _messages(inbox, 2) == [_order("c-1"), CancelOrder(client_order_id="c-1")]
        _settled(tree)
        assert client.xpending(STREAM, GROUP)["pending"] == 0
        consumers = {c["name"]: c["pending"] for c in client.xinfo_consumers(STREAM, GROUP)}
        assert consumers.get(b"execution-old", consumers.get("execution-old")) == 0

    def test_a_bridge_killed_before_delivery_is_restarted_and_delivers_exactly_once(
        self, make_tree, settings, client, registry, metrics
    ):
        inbox, events = Inbox(), EventRecorder()
        tree = make_tree(_inbound_spec(settings, metrics, inbox))
        tree.subscribe(events)
        tree.stop_child("receiver")  # the bridge reads the entry and cannot deliver it
        client.xadd(STREAM, _entry(_order("c-1"), message_id="order:c-1"))
        _eventually(lambda: client.xpending(STREAM, GROUP)["pending"] == 1, "the bridge's read")
        _settled(tree)
        assert tree.faults("inbound").kill()  # dies with the entry read, not delivered
        events.wait_for(ActorStarted, "inbound", where=lambda e: e.incarnation == 2)
        assert client.xpending(STREAM, GROUP)["pending"] == 1  # still pending, not acked
        tree.start_child(ChildSpec(name="receiver", actor=Probe, args=(inbox,)))
        client.xadd(STREAM, _entry(CancelOrder(client_order_id="c-1"), sequence=2))
        assert _messages(inbox, 2) == [_order("c-1"), CancelOrder(client_order_id="c-1")]
        _settled(tree)
        assert len(inbox.snapshot()) == 2  # exactly once
        assert client.xpending(STREAM, GROUP)["pending"] == 0
        labels = {"host": "execution-1", "stream": STREAM}
        assert _value(registry, "tradeactors_bus_acked_total", **labels) == 2
        assert _value(registry, "tradeactors_bus_redelivered_total", **labels) >= 1

    def test_an_entry_is_not_acknowledged_while_the_receiver_cannot_take_it(
        self, make_tree, settings, client, registry, metrics
    ):
        inbox = Inbox()
        seen = SeenIds(100)
        tree = make_tree(_inbound_spec(settings, metrics, inbox, seen=seen))
        tree.stop_child("receiver")  # gone for good: a tell would be a dead letter
        client.xadd(STREAM, _entry(_order("c-1"), message_id="order:c-1"))
        _eventually(lambda: client.xpending(STREAM, GROUP)["pending"] == 1, "the bridge's read")
        _settled(tree)  # and its attempt to deliver
        # the bridge read it and could not deliver it: still pending, not seen, not acked
        assert "order:c-1" not in seen
        labels = {"host": "execution-1", "stream": STREAM}
        assert _value(registry, "tradeactors_bus_acked_total", **labels) == 0
        # the receiver back (a new actor at the path): the bridge delivers it, then acks
        tree.start_child(ChildSpec(name="receiver", actor=Probe, args=(inbox,)))
        assert _messages(inbox, 1) == [_order("c-1")]
        _settled(tree)
        assert client.xpending(STREAM, GROUP)["pending"] == 0
        assert "order:c-1" in seen
        assert _value(registry, "tradeactors_bus_acked_total", **labels) == 1

    def test_repeats_are_dropped_by_message_id_before_delivery(
        self, make_tree, settings, client, registry, metrics
    ):
        inbox = Inbox()
        tree = make_tree(_inbound_spec(settings, metrics, inbox))
        first = _entry(_order("c-1"), message_id="order:c-1", session=1, sequence=1)
        client.xadd(STREAM, first)
        client.xadd(STREAM, first)  # the same entry added twice (a resent XADD)
        # the same order from a new session of the sender (it restarted and resent)
        client.xadd(STREAM, _entry(_order("c-1"), message_id="order:c-1", session=2, sequence=1))
        marker = CancelOrder(client_order_id="marker")
        client.xadd(STREAM, _entry(marker, session=2, sequence=2))
        assert _messages(inbox, 2) == [_order("c-1"), marker]
        _settled(tree)
        labels = {"host": "execution-1", "stream": STREAM}
        assert _value(registry, "tradeactors_bus_duplicates_dropped_total", **labels) == 2
        assert _value(registry, "tradeactors_bus_acked_total", **labels) == 4
        assert client.xpending(STREAM, GROUP)["pending"] == 0
        assert len(inbox.snapshot()) == 2

    def test_bad_entries_are_counted_and_dropped_without_a_crash(
        self, make_tree, settings, client, registry, metrics
    ):
        inbox = Inbox()
        small = msgspec.structs.replace(settings, max_entry_bytes=400)
        tree = make_tree(_inbound_spec(small, metrics, inbox))
        client.xadd(STREAM, {b"x": b"1"})
        client.xadd(STREAM, {ENTRY_FIELD: b"\xc1 garbage"})
        unknown = msgspec.msgpack.encode({"type": "NoSuchMessage"})
        envelope = msgspec.msgpack.decode(_entry(_order("c-9"))[ENTRY_FIELD])
        envelope[9] = unknown
        client.xadd(STREAM, {ENTRY_FIELD: msgspec.msgpack.encode(envelope)})
        client.xadd(STREAM, {ENTRY_FIELD: b"\x00" * 500})
        client.xadd(STREAM, _entry(_order("c-1"), message_id="order:c-1"))
        assert _messages(inbox, 1) == [_order("c-1")]
        _settled(tree)
        labels = {"host": "execution-1", "stream": STREAM}
        bad = "tradeactors_bus_bad_entries_total"
        assert _value(registry, bad, reason="malformed", **labels) == 2
        assert _value(registry, bad, reason="unknown_type", **labels) == 1
        assert _value(registry, bad, reason="too_large", **labels) == 1
        assert _value(registry, "tradeactors_bus_acked_total", **labels) == 5
        assert client.xpending(STREAM, GROUP)["pending"] == 0
        assert tree.stats("inbound").incarnations == 1  # never crashed

    def test_pending_and_lag_are_published_and_acknowledged_entries_trimmed(
        self, make_tree, settings, client, registry, metrics
    ):
        inbox = Inbox()
        make_tree(_inbound_spec(settings, metrics, inbox))
        for n in range(1, 301):
            client.xadd(STREAM, _entry(_order(f"c-{n}"), message_id=f"order:c-{n}", sequence=n))
        _messages(inbox, 300)
        labels = {"host": "execution-1", "stream": STREAM}
        # acknowledged entries are trimmed (MINID ~: whole nodes of 100 entries), and the
        # gauges refreshed (every stats_interval)
        _eventually(lambda: client.xlen(STREAM) < 300, "acknowledged entries trimmed")
        _eventually(
            lambda: registry.get_sample_value("tradeactors_bus_lag", labels) == 0,
            "the lag gauge at 0",
        )
        assert _value(registry, "tradeactors_bus_pending", **labels) == 0

    def test_with_two_groups_only_what_both_acknowledged_is_trimmed(
        self, make_tree, settings, client, metrics
    ):
        # another group (a second strategy host's, on the events stream) has read 150
        # entries and acknowledged the first 100: what it still needs stays
        ids = [
            client.xadd(STREAM, _entry(_order(f"c-{n}"), message_id=f"order:c-{n}", sequence=n))
            for n in range(1, 301)
        ]
        client.xgroup_create(STREAM, "other", id="0")
        client.xreadgroup("other", "other-1", {STREAM: ">"}, count=150)
        client.xack(STREAM, "other", *ids[:100])
        inbox = Inbox()
        make_tree(_inbound_spec(settings, metrics, inbox))
        _messages(inbox, 300)
        # MINID ~ trims whole nodes of the stream: some, all below the other's pending
        _eventually(lambda: client.xlen(STREAM) < 300, "what both acknowledged trimmed")
        kept = [entry_id for entry_id, _fields in client.xrange(STREAM)]
        assert kept[-200:] == ids[100:]  # the other group's pending entries (101-150) kept
        # the other group reads and acknowledges the rest: then they may go too
        client.xreadgroup("other", "other-1", {STREAM: ">"})
        client.xack(STREAM, "other", *ids[100:])
        _eventually(lambda: client.xlen(STREAM) < 200, "the other group's acks trimmed")
        assert [e for e, _f in client.xrange(STREAM)][-1] == ids[-1]


class TestMarketDataOut:
    """Books conflated per instrument, streams trimmed with MAXLEN ~."""

    def test_market_data_streams_are_trimmed_and_end_with_the_newest_book(
        self, make_tree, settings, client, registry, metrics
    ):
        bounded = msgspec.structs.replace(settings, market_data_maxlen=100)
        tree = make_tree(
            _outbound_spec(bounded, host="md-1", stream="unused", venue="sim", metrics=metrics)
        )
        outbound = tree.address("outbound")
        for n in range(1, 1001):
            outbound.tell(
                BookView(
                    instrument="sim:ETHUSDT",
                    update_id=n,
                    timestamp_ns=n,
                    bids=((99, n),),
                    asks=(),
                )
            )
            outbound.tell(
                TradeTick(instrument="ETHUSDT", price=99, quantity=n, side=Side.BUY, timestamp_ns=n)
            )
        outbound.ask("settle", timeout=10)  # behind every tell: all of them handled
        tree.stop_child("outbound")  # sends what it still holds before it stops
        book_stream, trade_stream = "md:sim:book:ETHUSDT", "md:sim:trade:ETHUSDT"
        codec = BusCodec()
        _, newest = codec.decode(client.xrevrange(book_stream, count=1)[0][1])
        assert newest.update_id == 1000
        books = {"host": "execution-1", "stream": book_stream}
        trades = {"host": "execution-1", "stream": trade_stream}
        published = _value(registry, "tradeactors_bus_published_total", **books)
        conflated = _value(registry, "tradeactors_bus_conflated_total", **books)
        assert published + conflated == 1000  # every book sent or superseded
        assert _value(registry, "tradeactors_bus_published_total", **trades) == 1000
        # MAXLEN ~ 100 keeps at least 100 and at most 100 plus one node (100 entries)
        assert 100 <= client.xlen(trade_stream) <= 200
        assert client.xlen(book_stream) <= 200
        _, last_trade = codec.decode(client.xrevrange(trade_stream, count=1)[0][1])
        assert last_trade.quantity == 1000


class TestCommandsOut:
    """Commands told back to back go in one pipeline; what waits survives a restart."""

    def test_a_burst_longer_than_the_outbox_bound_is_sent_whole(
        self, make_tree, settings, client, registry, metrics
    ):
        # 500 orders told back to back, an outbox bound of 50: sent in pipelines as the
        # burst grows, never piled up past the bound (whose oldest would be dropped)
        small = msgspec.structs.replace(settings, outbox_limit=50)
        outbound = make_tree(_outbound_spec(small, metrics=metrics)).address("outbound")
        orders = [_order(f"c-{n}") for n in range(500)]
        for order in orders:
            outbound.tell(order)
        outbound.ask("settle", timeout=10)
        _eventually(lambda: client.xlen(STREAM) == len(orders), "every order sent")
        codec = BusCodec()
        assert [codec.decode(fields)[1] for _id, fields in client.xrange(STREAM)] == orders
        dropped = registry.get_sample_value(
            "tradeactors_bus_outbox_dropped_total", {"host": "execution-1", "stream": STREAM}
        )
        assert not dropped

    def test_a_write_refused_for_now_waits_and_goes_once_redis_takes_it(
        self, make_tree, settings, client, registry, metrics
    ):
        # Redis out of memory (maxmemory, noeviction) refuses XADD with OOM: kept, retried,
        # never a crash (a crash would re-send it at every start: a crash loop)
        outbox = Outbox()
        tree = make_tree(_outbound_spec(settings, metrics=metrics, outbox=outbox))
        outbound = tree.address("outbound")
        client.config_set("maxmemory", 1)
        try:
            outbound.tell(_order("c-1"))
            outbound.ask("settle", timeout=10)  # behind the order: its flush is queued
            outbound.ask("settle", timeout=10)  # behind the flush: the send was refused
            labels = {"host": "st-1", "stream": STREAM}  # the link's: the bridge's host
            assert registry.get_sample_value("tradeactors_bus_up", labels) == 0
            assert len(outbox) == 1
            assert client.xlen(STREAM) == 0
        finally:
            client.config_set("maxmemory", 0)
        _eventually(lambda: client.xlen(STREAM) == 1, "sent once Redis takes writes again")
        assert len(outbox) == 0
        assert tree.stats("outbound").incarnations == 1

    def test_a_write_refused_for_good_is_dropped_and_counted(
        self, make_tree, settings, client, registry, metrics
    ):
        client.set(STREAM, "not a stream")  # XADD: WRONGTYPE
        tree = make_tree(_outbound_spec(settings, metrics=metrics))
        outbound = tree.address("outbound")
        outbound.tell(_order("c-1"))
        labels = {"host": "execution-1", "stream": STREAM, "reason": "refused"}
        _eventually(
            lambda: registry.get_sample_value("tradeactors_bus_bad_entries_total", labels) == 1,
            "the refusal counted",
        )
        client.delete(STREAM)
        outbound.tell(_order("c-2"))  # the bridge goes on: the next one is written
        _eventually(lambda: client.xlen(STREAM) == 1, "the next order sent")
        (entry,) = client.xrange(STREAM)
        assert BusCodec().decode(entry[1])[1] == _order("c-2")
        assert tree.stats("outbound").incarnations == 1

    def test_what_waits_in_the_outbox_is_sent_by_the_next_incarnation(
        self, make_tree, settings, client
    ):
        outbox = Outbox()  # made with the spec, as the roles do: given to every incarnation
        # Redis unreachable: the commands wait in the outbox, in order, through the stop
        down = msgspec.structs.replace(settings, url="redis://127.0.0.1:1/0")
        tree = make_tree(_outbound_spec(down, outbox=outbox))
        outbound = tree.address("outbound")
        orders = [_order(f"c-{n}") for n in range(1, 6)]
        for order in orders:
            outbound.tell(order)
        outbound.ask("settle", timeout=10)
        tree.stop(timeout=10)
        assert len(outbox) == len(orders)
        assert client.exists(STREAM) == 0
        # the next incarnation (here of a new tree) sends them at its start, in order
        make_tree(_outbound_spec(settings, outbox=outbox))
        _eventually(lambda: client.xlen(STREAM) == len(orders), "the outbox sent")
        codec = BusCodec()
        sent = [codec.decode(fields)[1] for _id, fields in client.xrange(STREAM)]
        assert sent == orders
        assert len(outbox) == 0


class TestRuntime:
    """A bridge blocked in XREADGROUP does not hold up other actors (gevent's hub too)."""

    def test_other_actors_answer_while_a_bridge_blocks_on_the_server(
        self, make_tree, settings, metrics
    ):
        slow_block = msgspec.structs.replace(settings, block_ms=800, socket_timeout=1.2)
        inbox = Inbox()
        tree = make_tree(_inbound_spec(slow_block, metrics, inbox))
        receiver = tree.address("receiver")
        worst = 0.0
        for n in range(20):
            started = time.monotonic()
            receiver.ask(n, timeout=5)
            worst = max(worst, time.monotonic() - started)
        # a blocked hub would make asks wait for the 800 ms block
        assert worst < 0.3, f"an ask took {worst:.3f} s while the bridge blocked"
