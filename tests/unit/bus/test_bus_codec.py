from __future__ import annotations

import msgspec
import pytest

from message_samples import sample
from tradeactors.bus import ENTRY_FIELD, BusCodec, Envelope, Kind, message_types
from tradeactors.core.book import BookView
from tradeactors.core.killswitch import KillSwitchChanged
from tradeactors.core.messages import Message, SubmitOrder, VenueData
from tradeactors.errors import BusEntryError


def _envelope(codec: BusCodec, message: Message, **overrides: object) -> Envelope:
    fields: dict[str, object] = {
        "kind": Kind.COMMAND,
        "source_host": "strategy-1",
        "source_path": "strategies/mm",
        "destination": "risk",
        "session": 11,
        "sequence": 3,
        "message_id": "",
        "timestamp_ns": 1_700_000_000_000_000_000,
    }
    fields.update(overrides)
    return codec.envelope(message, **fields)  # type: ignore[arg-type]


class TestMessageTypes:
    """What crosses the bus: the core's tagged messages and the bus's own."""

    def test_the_core_messages_are_all_carried_but_venue_data(self):
        names = {kind.__name__ for kind in message_types()}
        assert {"SubmitOrder", "OrderUpdate", "OrderFilled", "BookView", "TradeTick"} <= names
        assert {"KillSwitchChanged", "CancelAllOrders", "Heartbeat", "PeerExpired"} <= names
        assert "VenueData" not in names  # a venue's own decoded data stays on its host
        assert all(issubclass(kind, Message) for kind in message_types())
        assert VenueData not in message_types()

    def test_tags_are_unique(self):
        tags = [kind.__struct_config__.tag for kind in message_types()]
        assert len(tags) == len(set(tags))


class TestRoundTrip:
    """Every message type comes back equal, with its envelope."""

    @pytest.mark.parametrize("kind", message_types(), ids=lambda k: k.__name__)
    def test_every_message_type_round_trips(self, kind):
        codec = BusCodec()
        message = sample(kind)
        envelope = _envelope(codec, message)
        decoded_envelope, decoded = codec.decode(codec.encode(envelope))
        assert decoded == message
        assert type(decoded) is kind
        assert decoded_envelope == envelope

    def test_the_envelope_is_an_array_with_the_message_as_msgpack(self):
        codec = BusCodec()
        order = sample(SubmitOrder)
        fields = codec.encode(_envelope(codec, order, message_id="order:c1"))
        raw = msgspec.msgpack.decode(fields[ENTRY_FIELD])
        assert raw[:9] == [
            1, "command", "strategy-1", "strategies/mm", "risk", 11, 3, "order:c1",
            1_700_000_000_000_000_000,
        ]  # fmt: skip
        assert msgspec.msgpack.decode(raw[9])["type"] == "SubmitOrder"

    def test_the_dedupe_id_is_the_message_id_or_host_session_sequence(self):
        codec = BusCodec()
        order = sample(SubmitOrder)
        assert _envelope(codec, order, message_id="order:c1").dedupe_id == "order:c1"
        assert _envelope(codec, order).dedupe_id == "strategy-1/11/3"


class TestBadEntries:
    """Bad entries raise BusEntryError with a reason (readers count and drop them)."""

    def _reason(self, codec: BusCodec, fields: dict[bytes, bytes]) -> str:
        with pytest.raises(BusEntryError) as caught:
            codec.decode(fields)
        return caught.value.reason

    def test_an_entry_without_the_envelope_field_is_malformed(self):
        codec = BusCodec()
        assert self._reason(codec, {b"x": b"1"}) == "malformed"
        good = codec.encode(_envelope(codec, sample(SubmitOrder)))
        assert self._reason(codec, {**good, b"x": b"1"}) == "malformed"

    def test_bytes_that_are_not_an_envelope_are_malformed(self):
        assert self._reason(BusCodec(), {ENTRY_FIELD: b"\xc1 not msgpack"}) == "malformed"
        assert (
            self._reason(BusCodec(), {ENTRY_FIELD: msgspec.msgpack.encode([1, 2])}) == "malformed"
        )

    def test_another_envelope_version_is_refused(self):
        codec = BusCodec()
        envelope = msgspec.structs.replace(_envelope(codec, sample(SubmitOrder)), version=2)
        fields = {ENTRY_FIELD: msgspec.msgpack.encode(envelope)}
        assert self._reason(codec, fields) == "version"

    def test_a_message_type_this_host_does_not_know_is_named_with_its_sender(self):
        sender = BusCodec()
        receiver = BusCodec(types=[SubmitOrder])
        fields = sender.encode(_envelope(sender, sample(BookView)))
        with pytest.raises(BusEntryError, match="strategy-1/strategies/mm") as caught:
            receiver.decode(fields)
        assert caught.value.reason == "unknown_type"

    def test_a_payload_that_is_not_the_message_it_says_is_unknown_type(self):
        codec = BusCodec()
        envelope = msgspec.structs.replace(
            _envelope(codec, sample(SubmitOrder)),
            payload=msgspec.msgpack.encode({"type": "SubmitOrder", "price": "ten"}),
        )
        fields = {ENTRY_FIELD: msgspec.msgpack.encode(envelope)}
        assert self._reason(codec, fields) == "unknown_type"

    def test_sizes_are_bounded_on_both_sides(self):
        small = BusCodec(max_entry_bytes=200)
        big = sample(KillSwitchChanged)
        big = msgspec.structs.replace(big, reason="x" * 500)
        with pytest.raises(BusEntryError) as caught:
            small.encode(_envelope(small, big))
        assert caught.value.reason == "too_large"
        fields = BusCodec().encode(_envelope(BusCodec(), big))
        assert self._reason(small, fields) == "too_large"

    def test_a_message_type_it_does_not_carry_is_refused_before_sending(self):
        codec = BusCodec(types=[SubmitOrder])
        with pytest.raises(BusEntryError) as caught:
            _envelope(codec, sample(BookView))
        assert caught.value.reason == "unknown_type"

    def test_two_types_with_one_tag_are_refused(self):
        class Mine(Message, frozen=True, kw_only=True, tag="SubmitOrder"):
            x: int

        with pytest.raises(TypeError, match="share the tag"):
            BusCodec(types=[SubmitOrder, Mine])
