"""Stream entries: the envelope around a framework message, and its msgpack codec.

A stream entry has one field, ``e``: a msgpack `Envelope` (array-like, so field names
are not repeated in every entry) whose ``payload`` is the tagged message, itself
msgpack. The envelope decodes without knowing the message's type, so an entry of a
type this host does not know is reported with where it came from.

Bad entries (too large, not msgpack, an unknown version or message type) raise
`BusEntryError` with a short ``reason``: readers count and drop them, never crash on
them. Sizes are bounded on both sides (``max_entry_bytes``).
"""

from __future__ import annotations

import enum
import typing
from typing import TYPE_CHECKING, Any, Final

import msgspec

from tradeactors.bus import _messages as _bus_messages
from tradeactors.core import book as _book
from tradeactors.core import killswitch as _killswitch
from tradeactors.core import messages as _messages
from tradeactors.core.messages import Message, VenueData
from tradeactors.errors import BusEntryError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "ENTRY_FIELD",
    "ENVELOPE_VERSION",
    "BusCodec",
    "Envelope",
    "Kind",
    "message_types",
]

ENVELOPE_VERSION: Final = 1
"""The envelope layout this code writes and reads; entries of another are dropped."""

ENTRY_FIELD: Final = b"e"
"""The stream entry's one field, holding the encoded envelope."""


class Kind(enum.StrEnum):
    """What an entry carries (and so which delivery rules apply to it)."""

    COMMAND = "command"  # at least once, consumer group, never trimmed by length
    EVENT = "event"  # the same
    MARKET_DATA = "market_data"  # conflated, trimmed with MAXLEN ~
    HEARTBEAT = "heartbeat"
    KILL_SWITCH = "kill_switch"


class Envelope(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One message on the bus: who sent it, to whom, and the message (``payload``).

    ``session`` is the sending incarnation (a number that changes when the sender
    restarts), ``sequence`` counts that session's entries; ``message_id`` is what a
    receiver drops repeats by: the client order id of a command, venue + execution id
    of a fill, or (when the sender gives none) ``host/session/sequence``.
    """

    version: int
    kind: Kind
    source_host: str
    source_path: str
    destination: str
    session: int
    sequence: int
    message_id: str
    timestamp_ns: int
    payload: bytes

    @property
    def dedupe_id(self) -> str:
        """The id repeats are dropped by (``message_id``, else host/session/sequence)."""
        return self.message_id or f"{self.source_host}/{self.session}/{self.sequence}"


def message_types() -> tuple[type[Message], ...]:
    """Every tagged message of `tradeactors.core` that can cross the bus, and the bus's own.

    `VenueData` stays inside a host (its ``data`` is a venue's own decoded type): books
    cross the bus as `BookView`, trades as `TradeTick`.
    """
    found: dict[str, type[Message]] = {}
    for module in (_messages, _book, _killswitch, _bus_messages):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Message)
                and value.__struct_config__.tag is not None
                and value is not VenueData
            ):
                found[value.__name__] = value
    return tuple(found[name] for name in sorted(found))


class BusCodec:
    """Encodes and decodes envelopes and the messages in them. One per actor (not shared).

    ``types`` are the message types this side knows (default: `message_types`);
    add your own tagged `Message` subclasses to carry them too. Tags must be unique.
    """

    def __init__(
        self,
        *,
        max_entry_bytes: int = 1 << 20,
        types: Iterable[type[Message]] | None = None,
    ) -> None:
        known = tuple(message_types() if types is None else types)
        tags: dict[object, type[Message]] = {}
        for kind in known:
            tag = kind.__struct_config__.tag
            if tag is None:
                raise TypeError(f"{kind.__name__} has no tag: only tagged messages cross the bus")
            if tag in tags and tags[tag] is not kind:
                raise TypeError(f"{kind.__name__} and {tags[tag].__name__} share the tag {tag!r}")
            tags[tag] = kind
        self.types = known
        self.max_entry_bytes = max_entry_bytes
        self._encoder = msgspec.msgpack.Encoder()
        self._envelopes = msgspec.msgpack.Decoder(Envelope)
        union: Any = typing.Union.__getitem__(known) if len(known) > 1 else known[0]
        self._messages: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(union)
        self._known = frozenset(known)

    def envelope(
        self,
        message: Message,
        *,
        kind: Kind,
        source_host: str,
        source_path: str,
        destination: str,
        session: int,
        sequence: int,
        message_id: str,
        timestamp_ns: int,
    ) -> Envelope:
        """Wrap ``message`` (of a known type) in an envelope.

        Raises:
            BusEntryError: ``message`` is of a type this codec does not carry.

        """
        if type(message) not in self._known:
            raise BusEntryError(
                "unknown_type", f"{type(message).__name__} is not a message the bus carries"
            )
        return Envelope(
            version=ENVELOPE_VERSION,
            kind=kind,
            source_host=source_host,
            source_path=source_path,
            destination=destination,
            session=session,
            sequence=sequence,
            message_id=message_id,
            timestamp_ns=timestamp_ns,
            payload=self._encoder.encode(message),
        )

    def encode(self, envelope: Envelope) -> dict[bytes, bytes]:
        """The stream entry's fields for ``envelope``.

        Raises:
            BusEntryError: the entry would be larger than ``max_entry_bytes``.

        """
        data = self._encoder.encode(envelope)
        if len(data) > self.max_entry_bytes:
            raise BusEntryError(
                "too_large", f"{len(data)} bytes, more than the limit of {self.max_entry_bytes}"
            )
        return {ENTRY_FIELD: data}

    def decode(self, fields: Mapping[bytes, bytes]) -> tuple[Envelope, Message]:
        """The envelope and message of a stream entry.

        Raises:
            BusEntryError: the entry is not one (``reason``: ``malformed``,
                ``too_large``, ``version``, ``unknown_type``).

        """
        data = fields.get(ENTRY_FIELD)
        if data is None or len(fields) != 1:
            raise BusEntryError("malformed", f"expected one field {ENTRY_FIELD!r}")
        if len(data) > self.max_entry_bytes:
            raise BusEntryError(
                "too_large", f"{len(data)} bytes, more than the limit of {self.max_entry_bytes}"
            )
        try:
            envelope = self._envelopes.decode(data)
        except msgspec.DecodeError as exc:
            raise BusEntryError("malformed", f"not an envelope: {exc}") from exc
        if envelope.version != ENVELOPE_VERSION:
            raise BusEntryError(
                "version",
                f"envelope version {envelope.version}, this host reads {ENVELOPE_VERSION}",
            )
        try:
            message = self._messages.decode(envelope.payload)
        except msgspec.ValidationError as exc:
            raise BusEntryError(
                "unknown_type",
                f"from {envelope.source_host}/{envelope.source_path}: {exc}",
            ) from exc
        except msgspec.DecodeError as exc:
            raise BusEntryError(
                "malformed", f"from {envelope.source_host}/{envelope.source_path}: {exc}"
            ) from exc
        return envelope, message
