"""The order-entry core against hostile input: every request answered, no session lost.

`OrderEntry` is transport-free, so these run without sockets: a "connection" is any
object, its replies are collected from the send function the server would give it.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import pytest

from tradeactors.core.instrument import Instrument
from tradeactors.exchange.matching import MatchingEngine
from tradeactors.exchange.orderentry import LOGON_WINDOW_MS, OrderEntry, sign

SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")
SECRET = "alice-secret"
NOW_MS = 1_700_000_000_000
HUGE = "1" * 60  # a 60-digit integer
NESTED = "[" * 1000 + "]" * 1000
OLD = hmac.new(SECRET.encode(), b"n", "sha256").hexdigest()  # the old logon: nonce alone


class Venue:
    """An OrderEntry with no market around it; ``wall_ms`` is the venue's clock."""

    def __init__(self) -> None:
        self.engine = MatchingEngine()
        self.entry = OrderEntry(
            self.engine, SIM, {"alice": SECRET}, rate_per_second=1e9, burst=10**9
        )
        self.wall_ms = NOW_MS
        self.replies: dict[object, list[dict[str, Any]]] = {}

    def connect(self) -> object:
        connection = object()
        replies = self.replies[connection] = []

        def send(text: str) -> bool:
            replies.append(json.loads(text))
            return True

        self.entry.connect(connection, send, 0)
        return connection

    def send(self, connection: object, text: str | bytes) -> list[dict[str, Any]]:
        """Everything the venue sent back for ``text``."""
        replies = self.replies[connection]
        before = len(replies)
        self.entry.handle(connection, text, 0, wall_ns=self.wall_ms * 1_000_000)
        return replies[before:]

    def request(self, connection: object, **fields: Any) -> dict[str, Any]:
        """The reply to one request (pushed reports skipped)."""
        answers = [m for m in self.send(connection, json.dumps(fields)) if "event" not in m]
        assert len(answers) == 1, answers
        return answers[0]


def logon_frame(timestamp: int, nonce: str = "n-1", secret: str = SECRET) -> str:
    return json.dumps({
        "op": "logon", "id": 1, "api_key": "alice", "timestamp": timestamp, "nonce": nonce,
        "signature": sign(secret, timestamp, nonce), "cancel_on_disconnect": True,
    })  # fmt: skip


def error_code(sent: list[dict[str, Any]]) -> str | None:
    """The error code of the one reply among ``sent`` (pushed reports aside)."""
    replies = [m for m in sent if "event" not in m]
    assert len(replies) == 1, sent
    return replies[0].get("error", {}).get("code")


@pytest.fixture
def venue() -> Venue:
    return Venue()


class TestLogonReplay:
    """A logon is good once, within a window of the venue's clock."""

    def test_a_logon_within_the_window_is_accepted(self, venue):
        (reply,) = venue.send(venue.connect(), logon_frame(NOW_MS))
        assert reply == {"id": 1, "result": {"account": "alice"}}

    def test_the_same_logon_frame_on_a_new_connection_is_refused_as_a_replay(self, venue):
        frame = logon_frame(NOW_MS)
        venue.send(venue.connect(), frame)
        venue.wall_ms += 1_000
        replayed = venue.connect()
        (reply,) = venue.send(replayed, frame)
        assert reply["error"]["code"] == "replayed_nonce"
        assert venue.request(replayed, op="open_orders")["error"]["code"] == "not_logged_on"

    def test_the_same_logon_frame_again_on_its_own_connection_is_refused(self, venue):
        connection, frame = venue.connect(), logon_frame(NOW_MS)
        venue.send(connection, frame)
        assert error_code(venue.send(connection, frame)) == "replayed_nonce"

    def test_a_fresh_nonce_logs_on_again(self, venue):
        venue.send(venue.connect(), logon_frame(NOW_MS, "n-1"))
        assert "result" in venue.send(venue.connect(), logon_frame(NOW_MS, "n-2"))[0]

    @pytest.mark.parametrize("skew", [-LOGON_WINDOW_MS, LOGON_WINDOW_MS, 0])
    def test_a_clock_skew_up_to_the_window_either_way_is_tolerated(self, venue, skew):
        assert "result" in venue.send(venue.connect(), logon_frame(NOW_MS + skew))[0]

    @pytest.mark.parametrize("skew", [-LOGON_WINDOW_MS - 1, LOGON_WINDOW_MS + 1, -3_600_000])
    def test_a_timestamp_outside_the_window_is_refused(self, venue, skew):
        (reply,) = venue.send(venue.connect(), logon_frame(NOW_MS + skew))
        assert reply["error"]["code"] == "invalid_timestamp"
        assert str(LOGON_WINDOW_MS) in reply["error"]["message"]

    def test_a_captured_frame_replayed_after_the_window_is_refused_by_its_timestamp(self, venue):
        frame = logon_frame(NOW_MS)
        venue.send(venue.connect(), frame)
        venue.wall_ms += LOGON_WINDOW_MS + 1
        assert error_code(venue.send(venue.connect(), frame)) == "invalid_timestamp"

    def test_nonces_are_forgotten_once_their_window_has_passed(self, venue):
        for n in range(50):
            venue.send(venue.connect(), logon_frame(venue.wall_ms, f"n-{n}"))
            venue.wall_ms += 1_000
        remembered = len(venue.entry._nonces["alice"])
        assert remembered <= 2 * LOGON_WINDOW_MS // 1_000 + 1

    @pytest.mark.parametrize(
        "frame",
        [
            # the old protocol: a signature over the nonce alone
            json.dumps({"op": "logon", "api_key": "alice", "nonce": "n", "signature": OLD}),
            logon_frame(NOW_MS, secret="wrong"),  # noqa: S106 - a wrong secret on purpose
            logon_frame(NOW_MS, nonce=""),
            logon_frame(NOW_MS).replace('"alice"', '"mallory"'),
            logon_frame(NOW_MS).replace(f'"timestamp": {NOW_MS}', f'"timestamp": {NOW_MS + 1}'),
        ],
        ids=["unsigned-timestamp", "wrong-secret", "empty-nonce", "unknown-key", "altered"],
    )
    def test_a_logon_not_signed_over_its_own_timestamp_and_nonce_fails(self, venue, frame):
        assert error_code(venue.send(venue.connect(), frame)) == "auth_failed"


# Each: one error reply, the session still logged on, its resting order untouched.
HOSTILE = {
    "cancel_all_after 1e300": '{"op": "cancel_all_after", "id": 7, "timeout": 1e300}',
    "cancel_all_after 1e999": '{"op": "cancel_all_after", "id": 7, "timeout": 1e999}',
    "cancel_all_after negative": '{"op": "cancel_all_after", "id": 7, "timeout": -1}',
    "cancel_all_after over a day": '{"op": "cancel_all_after", "id": 7, "timeout": 86401}',
    "cancel_all_after NaN": '{"op": "cancel_all_after", "id": 7, "timeout": NaN}',
    "cancel_all_after Infinity": '{"op": "cancel_all_after", "id": 7, "timeout": Infinity}',
    "cancel_all_after huge": f'{{"op": "cancel_all_after", "id": 7, "timeout": {HUGE}}}',
    "cancel_all_after string": '{"op": "cancel_all_after", "id": 7, "timeout": "1"}',
    "huge id": f'{{"op": "open_orders", "id": {HUGE}}}',
    "negative huge id": f'{{"op": "open_orders", "id": -{HUGE}}}',
    "float id": '{"op": "open_orders", "id": 1.5}',
    "huge order_id": f'{{"op": "cancel", "id": 7, "order_id": {HUGE}}}',
    "negative order_id": '{"op": "cancel", "id": 7, "order_id": -1}',
    "zero order_id": '{"op": "cancel", "id": 7, "order_id": 0}',
    "string order_id": '{"op": "cancel", "id": 7, "order_id": "1"}',
    "bool order_id": '{"op": "cancel", "id": 7, "order_id": true}',
    "huge since": f'{{"op": "fills", "id": 7, "since": {HUGE}}}',
    "negative since": '{"op": "fills", "id": 7, "since": -1}',
    "huge amend quantity": f'{{"op": "amend", "id": 7, "order_id": 1, "quantity": "{HUGE}"}}',
    "huge amend price": f'{{"op": "amend", "id": 7, "order_id": 1, "price": "{HUGE}"}}',
    "huge quantity": (
        f'{{"op": "place", "id": 7, "client_order_id": "x", "side": "buy",'
        f' "quantity": "{HUGE}", "price": "1.00"}}'
    ),
    "huge price": (
        f'{{"op": "place", "id": 7, "client_order_id": "x", "side": "buy",'
        f' "quantity": "1", "price": "{HUGE}"}}'
    ),
    "numeric quantity": (
        '{"op": "place", "id": 7, "client_order_id": "x", "side": "buy",'
        ' "quantity": 1, "price": "1.00"}'
    ),
    "zero quantity": (
        '{"op": "place", "id": 7, "client_order_id": "x", "side": "buy",'
        ' "quantity": "0", "price": "1.00"}'
    ),
    "negative quantity": (
        '{"op": "place", "id": 7, "client_order_id": "x", "side": "buy",'
        ' "quantity": "-1", "price": "1.00"}'
    ),
    "NaN price": (
        '{"op": "place", "id": 7, "client_order_id": "x", "side": "buy",'
        ' "quantity": "1", "price": "NaN"}'
    ),
    "Infinity price": (
        '{"op": "place", "id": 7, "client_order_id": "x", "side": "buy",'
        ' "quantity": "1", "price": "Infinity"}'
    ),
    "bad side": '{"op": "place", "id": 7, "client_order_id": "x", "side": "up"}',
    "bad tif": (
        '{"op": "place", "id": 7, "client_order_id": "x", "side": "buy",'
        ' "quantity": "1", "price": "1.00", "tif": "forever"}'
    ),
    "bad type": (
        '{"op": "place", "id": 7, "client_order_id": "x", "side": "buy",'
        ' "quantity": "1", "price": "1.00", "type": "stop"}'
    ),
    "string post_only": '{"op": "place", "id": 7, "post_only": "yes"}',
    "long client_order_id": f'{{"op": "place", "id": 7, "client_order_id": "{"x" * 65}"}}',
    "timestamp huge": f'{{"op": "logon", "id": 7, "timestamp": {HUGE}}}',
    "timestamp negative": '{"op": "logon", "id": 7, "timestamp": -1}',
    "unknown op": '{"op": "withdraw", "id": 7}',
    "empty op": '{"op": "", "id": 7}',
    "long op": f'{{"op": "{"x" * 10_000}", "id": 7}}',
    "numeric op": '{"op": 5, "id": 7}',
    "no op": '{"id": 7}',
    "nested 1000 deep": NESTED,
    "nested params": f'{{"op": "place", "id": 7, "price": {NESTED}}}',
    "nested unknown field": f'{{"op": "place", "id": 7, "extra": {NESTED}}}',
    "nested id": f'{{"op": "place", "id": {NESTED}}}',
    "nested object": '{"a":' * 1000 + "1" + "}" * 1000,
    "array": "[1, 2]",
    "null": "null",
    "empty": "",
    "not json": "not json",
    "invalid utf-8": b'{"op": "\xff\xfe", "id": 7}',
    "truncated": '{"op": "place", "id": 7',
}


@pytest.mark.parametrize("frame", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_request_gets_an_error_reply_and_the_session_and_its_order_stay(venue, frame):
    alice = venue.connect()
    venue.send(alice, logon_frame(NOW_MS))
    placed = venue.request(
        alice, op="place", id=1, client_order_id="a1", side="buy", quantity="1", price="100.00"
    )
    assert "result" in placed
    assert error_code(venue.send(alice, frame))  # bad_request, or the engine's reject reason
    (order,) = venue.engine.open_orders("alice")
    assert (order.client_order_id, order.remaining) == ("a1", 1000)
    assert venue.request(alice, op="open_orders", id=2)["result"][0]["client_order_id"] == "a1"


def test_an_error_reply_echoes_the_request_id_when_the_id_itself_is_valid(venue):
    alice = venue.connect()
    venue.send(alice, logon_frame(NOW_MS))
    reply = venue.request(alice, op="cancel_all_after", id="mine", timeout=1e300)
    assert reply["id"] == "mine"
    assert "timeout" in reply["error"]["message"]


def test_unknown_ops_are_not_counted_so_the_request_counts_stay_bounded(venue):
    alice = venue.connect()
    venue.send(alice, logon_frame(NOW_MS))
    for n in range(100):
        venue.request(alice, op=f"op-{n}")
    venue.request(alice, op="open_orders")
    assert venue.entry.requests == {("alice", "open_orders"): 1}


def test_a_bug_while_handling_a_request_is_answered_and_the_session_stays(venue, monkeypatch):
    alice = venue.connect()
    venue.send(alice, logon_frame(NOW_MS))

    def broken(*_args: object) -> None:
        raise ZeroDivisionError

    monkeypatch.setattr(venue.entry, "_dispatch", broken)
    assert venue.request(alice, op="open_orders", id=3) == {
        "id": 3, "error": {"code": "internal_error", "message": "ZeroDivisionError"},
    }  # fmt: skip
    monkeypatch.undo()
    assert venue.request(alice, op="open_orders", id=4) == {"id": 4, "result": []}


def test_the_client_codecs_logon_is_accepted_once_and_its_replay_refused(venue):
    from tradeactors.clock import FakeClock
    from tradeactors.venues.adapter import Credentials
    from tradeactors.venues.sim import SimOrderEntry

    codec = SimOrderEntry("sim", SIM, clock=FakeClock(wall_offset_ns=NOW_MS * 1_000_000))
    frame = codec.logon(1, Credentials("alice", SECRET), cancel_on_disconnect=True)
    assert venue.send(venue.connect(), frame) == [{"id": 1, "result": {"account": "alice"}}]
    assert error_code(venue.send(venue.connect(), frame)) == "replayed_nonce"
    fresh = codec.logon(2, Credentials("alice", SECRET), cancel_on_disconnect=True)
    assert venue.send(venue.connect(), fresh) == [{"id": 2, "result": {"account": "alice"}}]


def test_cancel_all_reports_each_cancellation_before_its_answer(venue):
    """A client takes an order still open at the answer as lost: the reports come first."""
    alice = venue.connect()
    venue.send(alice, logon_frame(NOW_MS))
    for n, price in enumerate(("1.00", "1.01")):
        venue.request(
            alice, op="place", id=10 + n, client_order_id=f"c{n}", side="buy",
            quantity="1", price=price, tif="gtc",
        )  # fmt: skip
    sent = venue.send(alice, json.dumps({"op": "cancel_all", "id": 20}))
    assert [m.get("event", m.get("id")) for m in sent][-1] == 20
    assert [m["event"] for m in sent[:-1]] == ["cancelled", "cancelled"], sent
    assert sent[-1]["result"] == {"cancelled": 2}


def test_the_client_codec_reads_an_expired_ioc_as_expired_and_a_cancel_as_cancelled(venue):
    from tradeactors.core.messages import OrderCanceled
    from tradeactors.venues.sim import SimOrderEntry

    alice = venue.connect()
    venue.send(alice, logon_frame(NOW_MS))
    sent = venue.send(alice, json.dumps({
        "op": "place", "id": 5, "client_order_id": "ioc", "side": "buy", "quantity": "1",
        "price": "1.00", "tif": "ioc",
    }))  # fmt: skip
    venue.request(alice, op="place", id=6, client_order_id="gtc", side="buy", quantity="1",
                  price="1.00", tif="gtc")  # fmt: skip
    sent += venue.send(alice, json.dumps({"op": "cancel_all", "id": 7}))
    codec = SimOrderEntry("sim", SIM)
    ended = [
        codec.decode(json.dumps(m)) for m in sent if m.get("event") in ("expired", "cancelled")
    ]
    assert [(e.client_order_id, e.expired) for e in ended if isinstance(e, OrderCanceled)] == [
        ("ioc", True),
        ("gtc", False),
    ]
