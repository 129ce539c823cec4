"""Mailboxes on their own: FIFO, ownership, bounded policies, closing."""

from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from pykka._envelope import Envelope
from structlog.testing import capture_logs

from tradeactors.errors import (
    AddressClosedError,
    ConfigError,
    MailboxFullError,
    MessageDroppedError,
)
from tradeactors.supervision import MailboxSpec, Overflow
from tradeactors.supervision._mailbox import Signal, make_mailbox
from tradeactors.supervision._stats import ActorStats

pytestmark = pytest.mark.supervision


class Box:
    """A mailbox with its stats, dead letters and drop log captured."""

    def __init__(self, spec: MailboxSpec | None = None) -> None:
        self.stats = ActorStats("p")
        self.dead: list[tuple[Any, str]] = []
        self.logged: list[bool] = []  # per dead letter: whether it asked to be logged
        self.mailbox = make_mailbox(
            "p",
            spec or MailboxSpec(),
            self.stats,
            lambda m, reason, _e, *, log=True: (
                self.dead.append((m, reason)),
                self.logged.append(log),
            ),
            structlog.get_logger("test").bind(path="p"),
        )
        self.token = object()
        self.mailbox.claim(self.token)

    def tell(self, message: Any) -> None:
        self.mailbox.put(Envelope(message))

    def ask(self, message: Any) -> pykka.Future[Any]:
        future: pykka.Future[Any] = pykka.ThreadingFuture()
        self.mailbox.put(Envelope(message, reply_to=future))
        return future

    def drain(self) -> list[Any]:
        out = []
        while len(self.mailbox):
            out.append(self.mailbox.take(self.token)[1])
        return out


class TestUnbounded:
    def test_messages_come_out_in_the_order_they_went_in(self):
        box = Box()
        for n in range(5):
            box.tell(n)
        assert box.drain() == [0, 1, 2, 3, 4]

    def test_a_signal_overtakes_queued_messages(self):
        box = Box()
        box.tell("queued")
        box.mailbox.signal(box.token, Signal.STOP)
        assert box.mailbox.take(box.token) is Signal.STOP
        assert box.drain() == ["queued"]

    def test_a_revoked_incarnation_takes_nothing_more(self):
        box = Box()
        box.tell("for the successor")
        box.mailbox.revoke(box.token)
        assert box.mailbox.take(box.token) is Signal.REVOKED
        successor = object()
        box.mailbox.claim(successor)
        assert box.mailbox.take(successor)[1] == "for the successor"

    def test_a_signal_for_a_former_owner_is_not_delivered(self):
        box = Box()
        assert box.mailbox.signal(object(), Signal.KILL) is False

    def test_an_actors_own_plumbing_left_at_a_stop_is_no_warning(self):
        """A private message (a reader's "closed", a tick) is a dead letter, logged at debug."""

        class _Closed:
            pass

        box = Box()
        closed = _Closed()
        box.tell(closed)
        with capture_logs() as logs:
            assert box.mailbox.close() == 1
        assert [(e["event"], e["log_level"], e["message_types"]) for e in logs] == [
            ("mailbox_drained", "debug", ["_Closed"])
        ]
        assert box.dead == [(closed, "stopped")]

    def test_market_data_left_at_a_stop_is_no_warning(self):
        """An ``ephemeral`` message (superseded by the next update) is dropped at debug."""

        class Tick:
            ephemeral = True

        box = Box()
        tick = Tick()
        box.tell(tick)
        with capture_logs() as logs:
            assert box.mailbox.close() == 1
            box.tell(Tick())  # after the close: a dead letter, not logged either
        assert [(e["event"], e["log_level"]) for e in logs] == [("mailbox_drained", "debug")]
        assert [reason for _m, reason in box.dead] == ["stopped", "closed"]
        assert box.logged == [False, False]
        box.tell("an order")  # anything else sent after the close is still logged
        assert box.logged[-1] is True

    def test_closing_dead_letters_tells_and_fails_asks(self):
        box = Box()
        box.tell("told")
        future = box.ask("asked")
        with capture_logs() as logs:
            assert box.mailbox.close() == 2
        assert [(e["event"], e["dead_letters"], e["log_level"]) for e in logs] == [
            ("mailbox_drained", 2, "warning")
        ]
        assert box.dead == [("told", "stopped")]
        with pytest.raises(AddressClosedError):
            future.get(timeout=1)
        box.tell("late")
        assert box.dead[-1] == ("late", "closed")
        with pytest.raises(AddressClosedError):
            box.ask("late ask").get(timeout=1)

    def test_take_blocks_until_a_message_arrives(self):
        box = Box()
        got: list[Any] = []
        taker = threading.Thread(target=lambda: got.append(box.mailbox.take(box.token)))
        taker.start()
        box.tell("wake")
        taker.join(10)
        assert got[0][1] == "wake"


class TestBlock:
    def test_a_full_mailbox_blocks_the_sender_until_there_is_room(self):
        box = Box(MailboxSpec(capacity=2))
        box.tell(1)
        box.tell(2)
        sent = threading.Event()

        def third() -> None:
            box.tell(3)
            sent.set()

        sender = threading.Thread(target=third)
        sender.start()
        assert not sent.wait(0.05)  # still blocked: no room yet
        assert box.mailbox.take(box.token)[1] == 1
        assert sent.wait(10)
        sender.join(10)
        assert box.drain() == [2, 3]

    def test_block_timeout_raises_and_is_counted(self):
        box = Box(MailboxSpec(capacity=1, block_timeout=0.01))
        box.tell(1)
        with pytest.raises(MailboxFullError, match="stayed full"):
            box.tell(2)
        assert box.stats.dropped == {"block_timeout": 1}
        assert box.drain() == [1]

    def test_closing_releases_a_blocked_sender_whose_message_becomes_a_dead_letter(self):
        box = Box(MailboxSpec(capacity=1))
        box.tell(1)
        sender = threading.Thread(target=box.tell, args=(2,))
        sender.start()
        box.mailbox.close()
        sender.join(10)
        assert not sender.is_alive()
        assert sorted(box.dead) == [(1, "stopped"), (2, "closed")]


class TestDropOldest:
    def test_the_oldest_messages_are_dropped_counted_and_logged_at_powers_of_two(self):
        box = Box(MailboxSpec(capacity=3, overflow=Overflow.DROP_OLDEST))
        with capture_logs() as logs:
            for n in range(8):
                box.tell(n)
        assert box.drain() == [5, 6, 7]
        assert box.stats.dropped == {"drop_oldest": 5}
        assert [e["dropped_total"] for e in logs if e["event"] == "mailbox_dropped"] == [1, 2, 4]

    def test_a_dropped_ask_fails_its_future(self):
        box = Box(MailboxSpec(capacity=1, overflow=Overflow.DROP_OLDEST))
        future = box.ask("asked")
        box.tell("newer")
        with pytest.raises(MessageDroppedError):
            future.get(timeout=1)


def _instrument(message: tuple[str, int]) -> str | None:
    return message[0] if message[0] != "-" else None


class TestConflate:
    def test_a_newer_message_replaces_the_queued_one_with_the_same_key_in_place(self):
        box = Box(MailboxSpec(overflow=Overflow.CONFLATE, conflate_key=_instrument))
        for message in [("BTC", 1), ("ETH", 1), ("BTC", 2), ("-", 0), ("BTC", 3)]:
            box.tell(message)
        assert box.drain() == [("BTC", 3), ("ETH", 1), ("-", 0)]
        assert box.stats.conflated == 2

    def test_a_key_taken_out_is_queued_again_on_its_next_message(self):
        box = Box(MailboxSpec(overflow=Overflow.CONFLATE, conflate_key=_instrument))
        box.tell(("BTC", 1))
        assert box.drain() == [("BTC", 1)]
        box.tell(("BTC", 2))
        assert box.drain() == [("BTC", 2)]

    def test_asks_are_never_conflated(self):
        box = Box(MailboxSpec(overflow=Overflow.CONFLATE, conflate_key=_instrument))
        box.ask(("BTC", 1))
        box.tell(("BTC", 2))
        assert box.drain() == [("BTC", 1), ("BTC", 2)]
        assert box.stats.conflated == 0

    def test_a_blocked_take_wakes_for_a_message_a_signal_and_a_revoke(self):
        # unbounded: under gevent, post and take run without the lock (see the mailbox)
        box = Box(MailboxSpec(overflow=Overflow.CONFLATE, conflate_key=_instrument))
        got: list[Any] = []

        def take(token: object) -> None:
            got.append(box.mailbox.take(token))

        for wake in (
            lambda: box.tell(("BTC", 1)),
            lambda: box.mailbox.signal(box.token, Signal.STOP),
            lambda: box.mailbox.revoke(box.token),
        ):
            taker = threading.Thread(target=take, args=(box.token,))
            taker.start()
            wake()
            taker.join(10)
            assert not taker.is_alive()
        assert got[0][1] == ("BTC", 1)
        assert got[1:] == [Signal.STOP, Signal.REVOKED]
        box.tell(("BTC", 2))  # queued for the next owner, conflated while it waits
        box.tell(("BTC", 3))
        box.token = object()
        box.mailbox.claim(box.token)
        assert box.drain() == [("BTC", 3)]
        assert box.mailbox.close() == 0

    def test_a_consumer_racing_two_senders_misses_no_wake_and_no_message(self):
        # A lost wake would leave the consumer blocked with messages queued.
        box = Box(MailboxSpec(overflow=Overflow.CONFLATE, conflate_key=_instrument))
        count = 1000
        got: list[tuple[str, int]] = []

        def send(key: str) -> None:
            for i in range(count):
                box.tell((key, i))  # conflated while a queued one of its key waits
                box.tell(("-", i))  # never conflated

        def take() -> None:
            unkeyed = 0
            while unkeyed < 2 * count:
                item = box.mailbox.take(box.token)
                if isinstance(item, Signal):  # closed by the test: it failed already
                    return
                got.append(item[1])
                unkeyed += item[1][0] == "-"

        taker = threading.Thread(target=take)
        taker.start()
        senders = [threading.Thread(target=send, args=(key,)) for key in "AB"]
        for sender in senders:
            sender.start()
        try:
            for sender in senders:
                sender.join(10)
            taker.join(10)
            assert not taker.is_alive()
        finally:
            box.mailbox.close()  # releases a consumer left blocked
        assert sorted(i for key, i in got if key == "-") == sorted([*range(count)] * 2)
        for key in "AB":  # a key's last came before its sender's last unkeyed one
            seen = [i for k, i in got if k == key]
            assert seen == sorted(seen)
            assert seen[-1] == count - 1

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.one_of(
                st.tuples(st.just("put"), st.sampled_from(["A", "B", "C", "-"])),
                st.tuples(st.just("take"), st.just("")),
            ),
            max_size=60,
        )
    )
    def test_conflation_matches_a_model_that_keeps_the_newest_per_key(self, ops):
        box = Box(MailboxSpec(overflow=Overflow.CONFLATE, conflate_key=_instrument))
        model: list[tuple[str, int]] = []
        seq = 0
        for op, key in ops:
            if op == "put":
                seq += 1
                message = (key, seq)
                index = next((i for i, m in enumerate(model) if key != "-" and m[0] == key), None)
                if index is None:
                    model.append(message)
                else:
                    model[index] = message
                box.tell(message)
            elif model:
                assert box.mailbox.take(box.token)[1] == model.pop(0)
            assert len(box.mailbox) == len(model)
        assert box.drain() == model


class TestSpecValidation:
    @pytest.mark.parametrize(
        ("kwargs", "words"),
        [
            ({"capacity": 0}, "capacity"),
            ({"overflow": Overflow.CONFLATE}, "conflate_key"),
            ({"conflate_key": _instrument}, "conflate_key"),
            ({"overflow": Overflow.DROP_OLDEST}, "needs a capacity"),
            ({"capacity": 1, "block_timeout": 0}, "block_timeout"),
        ],
    )
    def test_inconsistent_mailbox_specs_are_refused_with_the_reason(self, kwargs, words):
        with pytest.raises(ConfigError, match=words):
            MailboxSpec(**kwargs)
