"""The inbound side: entries of Redis streams delivered to local actors.

`InboundBridge` (commands and events: at least once, with a consumer group):

1. on (re)start, and whenever Redis lost the group (a restarted server), it creates
   the group (``XGROUP CREATE ... 0 MKSTREAM``: entries added before it existed are
   read too);
2. it reads its own pending entries first (``XREADGROUP ... 0``: what a predecessor
   with the same consumer name read and did not acknowledge), then claims those of
   other consumers idle longer than ``claim_min_idle_ms`` (``XAUTOCLAIM``; again every
   ``claim_min_idle_ms``, at most every ``stats_interval``, while it runs), then reads
   new ones (``XREADGROUP ... >``, ``BLOCK block_ms``: short, so a stop waits at most
   that long);
3. for each entry, in order: a bad entry is counted and acknowledged (dropped, never
   retried for ever); a repeat of a message id it delivered is counted and
   acknowledged *before* delivery, so the receiver never sees it twice; anything else
   is told to the local address, and acknowledged (``XACK``, one per batch) only once
   the tell succeeded (the receiver's mailbox has it: mailboxes survive restarts).
   A tell that fails (the receiver is gone for good, or its bounded mailbox stayed
   full) leaves that entry and the rest of the batch pending: they are read again,
   in order, after ``reconnect_interval``.

`MarketDataSubscriber` (books and trades: latest wins, no group): reads market-data
streams from where they were when it started (``$``; the newest book already there is
delivered first) and delivers, of each batch, only the newest book of each stream (the
rest are counted as conflated) and every trade.

While Redis is unreachable they report it (`BusStatus`, the ``up`` gauge), try again
every ``reconnect_interval`` and report it back when it answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeactors.bus._codec import BusCodec
from tradeactors.bus._common import ClientAndTimer, Link, SeenIds, is_nogroup, later, redis_errors
from tradeactors.bus._settings import connect
from tradeactors.core.book import BookView
from tradeactors.errors import BusEntryError, MailboxFullError
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from tradeactors.bus._codec import Envelope
    from tradeactors.bus._messages import BusStatus
    from tradeactors.bus._metrics import BusMetrics
    from tradeactors.bus._settings import BusSettings
    from tradeactors.clock import Timer
    from tradeactors.core.messages import Message
    from tradeactors.supervision import Address

__all__ = ["InboundBridge", "MarketDataSubscriber"]

_CURSOR_START = "0-0"


class _Poll:
    """Read (and deliver) the next batch."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Reader(ClientAndTimer, SupervisedActor):
    """The read loop: a `_Poll` reads one batch, then queues the next one (or a timer)."""

    def __init__(
        self,
        settings: BusSettings,
        *,
        host: str,
        label: str,
        deliver_to: str | Address,
        metrics: BusMetrics | None,
        status: Callable[[BusStatus], None] | None,
        types: Iterable[type[Message]] | None,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._host = host
        self._label = label
        self._deliver_to = deliver_to
        self._metrics = metrics
        self._status = status
        self._codec = BusCodec(max_entry_bytes=settings.max_entry_bytes, types=types)
        self._errors = redis_errors()
        self._client: Any = None
        self._link: Link | None = None
        self._target: Address | None = None
        self._timer: Timer | None = None
        self._ready = False

    def on_start(self) -> None:
        """Make the client and queue the first read (no I/O here: Redis may be down)."""
        context = self.context
        target = self._deliver_to
        self._target = context.address_of(target) if isinstance(target, str) else target
        self._link = Link(context, self._host, self._label, self._metrics, self._status)
        self._client = connect(self._settings, client_name=f"{self._host}:{context.path}")
        context.address.tell(_Poll())

    def on_receive(self, message: Any) -> Any:
        """Run one read."""
        if isinstance(message, _Poll):
            self._timer = None
            self._poll()

    def _poll(self) -> None:
        link = self._link
        assert link is not None  # noqa: S101 - set in on_start
        try:
            delay = self._step()
        except self._errors as exc:
            link.lost(exc)
            delay = self._settings.reconnect_interval
        except Exception as exc:
            if not is_nogroup(exc):
                raise
            self.context.log.warning("bus_group_lost", stream=self._label)
            self._ready = False  # the server lost the group (restarted): create it again
            delay = 0.0
        else:
            link.reached()
        if delay > 0:
            self._timer = later(self.context, delay, _Poll())
        else:
            self.context.address.tell(_Poll())

    def _step(self) -> float:
        """Read and deliver one batch; the delay before the next (0: at once)."""
        raise NotImplementedError

    def _deliver(self, message: Any) -> bool:
        """Tell the receiver; True once its mailbox has the message."""
        target = self._target
        assert target is not None  # noqa: S101 - set in on_start
        if target.is_closed() and isinstance(self._deliver_to, str):
            # removed and added again at the same path: a new address (looked up again)
            target = self._target = self.context.address_of(self._deliver_to)
        if target.is_closed():
            return False
        try:
            target.tell(message)
        except MailboxFullError:
            return False
        return not target.is_closed()

    def _count(self, name: str, stream: str, amount: int = 1) -> None:
        if self._metrics is not None and amount:
            getattr(self._metrics, name).labels(self._metrics.host, stream).inc(amount)

    def _bad(self, stream: str, entry_id: Any, reason: str, detail: str) -> None:
        if self._metrics is not None:
            self._metrics.bad.labels(self._metrics.host, stream, reason).inc()
        self.context.log.warning(
            "bus_entry_dropped",
            stream=stream,
            entry_id=_text(entry_id),
            reason=reason,
            error=detail,
        )


class InboundBridge(_Reader):
    """Delivers one stream's entries to a local actor, at least once (see the module doc).

    ``group`` is the consumer group (one per receiving role), ``consumer`` this
    bridge's name in it: keep it stable across restarts of the host so a restarted
    bridge reads what it left pending. ``deliver_to`` is the receiver's path in this
    tree (or its `Address`). ``seen``: give one `SeenIds` to every incarnation (made
    with the child spec) to drop repeats across restarts of the bridge; without, each
    incarnation starts an empty one. ``wrap``: deliver ``wrap(envelope, message)``
    instead of the message (the receiver learns who sent it: the roles' command ingress).
    ``start_id``: where a group made by this bridge starts (``0``: the whole stream;
    ``$``: only what is added after; a group that exists keeps its position; a group
    the server lost while the bridge ran is made again from ``0``).
    """

    def __init__(
        self,
        settings: BusSettings,
        *,
        host: str,
        stream: str,
        group: str,
        consumer: str,
        deliver_to: str | Address,
        metrics: BusMetrics | None = None,
        status: Callable[[BusStatus], None] | None = None,
        seen: SeenIds | None = None,
        types: Iterable[type[Message]] | None = None,
        trim_acknowledged: bool = True,
        wrap: Callable[[Envelope, Message], Any] | None = None,
        start_id: str = "0",
    ) -> None:
        super().__init__(
            settings,
            host=host,
            label=stream,
            deliver_to=deliver_to,
            metrics=metrics,
            status=status,
            types=types,
        )
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._seen = SeenIds(settings.seen_ids) if seen is None else seen
        self._trim = trim_acknowledged
        self._wrap = wrap
        self._start_id = start_id
        self._made = False  # this incarnation made (or found) its group once
        self._backlog = True  # read own pending entries before new ones
        self._claiming = True
        self._claim_cursor = _CURSOR_START
        self._next_claim_ns = 0
        self._next_stats_ns = 0
        self._failing = False  # the last delivery failed (logged once)

    def _setup(self) -> None:
        import redis  # noqa: PLC0415 - redis-py only where a bus is used

        # made again after the server lost it (restarted empty): everything in the
        # stream now came after the loss, so from the start, whatever ``start_id`` says
        start = "0" if self._made else self._start_id
        try:
            self._client.xgroup_create(self._stream, self._group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._made = True
        self._ready = True
        self._backlog = True
        self._claiming = True
        self._claim_cursor = _CURSOR_START

    def _step(self) -> float:
        if not self._ready:
            self._setup()
        client, stream, settings = self._client, self._stream, self._settings
        now = self.context.clock.monotonic_ns()
        delivered = True
        if self._backlog:
            response = client.xreadgroup(
                self._group, self._consumer, {stream: "0"}, count=settings.batch
            )
            entries = response[0][1] if response else []
            if entries:
                delivered = self._process(entries, redelivered=True)
            else:
                self._backlog = False
        elif self._claiming or now >= self._next_claim_ns:
            cursor, entries, deleted = client.xautoclaim(
                stream,
                self._group,
                self._consumer,
                min_idle_time=settings.claim_min_idle_ms,
                start_id=self._claim_cursor,
                count=settings.batch,
            )
            for entry_id in deleted:  # in the group's pending list, trimmed from the stream
                self._bad(stream, entry_id, "deleted", "claimed an entry no longer in the stream")
            delivered = self._process(entries, redelivered=True)
            self._claim_cursor = _text(cursor)
            if self._claim_cursor == _CURSOR_START:
                self._claiming = False
                # again after the idle time (at least a stats interval: not every read)
                again = max(settings.claim_min_idle_ms / 1000, settings.stats_interval)
                self._next_claim_ns = now + int(again * 1e9)
            else:
                self._claiming = True
        else:
            response = client.xreadgroup(
                self._group,
                self._consumer,
                {stream: ">"},
                count=settings.batch,
                block=settings.block_ms,
            )
            if response:
                delivered = self._process(response[0][1], redelivered=False)
        if now >= self._next_stats_ns:
            self._next_stats_ns = now + int(settings.stats_interval * 1e9)
            self._refresh_stats()
        if not delivered:
            self._backlog = True  # read again, in order, from the first not delivered
            return settings.reconnect_interval
        return 0.0

    def _process(self, entries: Sequence[tuple[Any, Any]], *, redelivered: bool) -> bool:
        """Deliver ``entries`` in order; acknowledge what is done. False if one was not."""
        stream = self._stream
        done: list[Any] = []
        delivered = True
        for entry_id, fields in entries:
            if not fields:  # pending, but trimmed from the stream meanwhile
                self._bad(stream, entry_id, "deleted", "pending entry no longer in the stream")
                done.append(entry_id)
                continue
            try:
                envelope, message = self._codec.decode(fields)
            except BusEntryError as exc:
                self._bad(stream, entry_id, exc.reason, str(exc))
                done.append(entry_id)
                continue
            message_id = envelope.dedupe_id
            if message_id in self._seen:
                self._count("duplicates", stream)
                done.append(entry_id)
                continue
            delivery = message if self._wrap is None else self._wrap(envelope, message)
            if not self._deliver(delivery):
                if not self._failing:  # once per streak: it is tried every reconnect_interval
                    self._failing = True
                    self.context.log.warning(
                        "bus_delivery_failed",
                        stream=stream,
                        entry_id=_text(entry_id),
                        receiver=self._target.path if self._target is not None else "",
                    )
                delivered = False
                break
            if self._failing:
                self._failing = False
                self.context.log.info("bus_delivery_resumed", stream=stream)
            self._seen.add(message_id)
            done.append(entry_id)
        read = len(done) + (0 if delivered else 1)
        self._count("consumed", stream, read)
        if redelivered:
            self._count("redelivered", stream, read)
        if done:
            # an XACK lost here leaves them pending: read again, they are dropped as repeats
            self._client.xack(stream, self._group, *done)
            self._count("acked", stream, len(done))
        return delivered

    def _refresh_stats(self) -> None:
        """Pending and lag of the group; trim what every group has acknowledged."""
        groups = self._client.xinfo_groups(self._stream)
        mine = next((g for g in groups if _text(g.get("name")) == self._group), None)
        if mine is None:
            return
        metrics = self._metrics
        if metrics is not None:
            metrics.pending.labels(metrics.host, self._stream).set(int(mine.get("pending") or 0))
            lag = mine.get("lag")
            if lag is not None:
                metrics.lag.labels(metrics.host, self._stream).set(int(lag))
        if self._trim:
            oldest = self._oldest_pending
            keep_from = trim_point(
                (
                    _text(group.get("last-delivered-id") or _CURSOR_START),
                    oldest(_text(group.get("name"))) if group.get("pending") else None,
                )
                for group in groups
            )
            if keep_from is not None:
                # below it, every group has read and acknowledged every entry
                self._client.xtrim(self._stream, minid=keep_from, approximate=True)

    def _oldest_pending(self, group: str) -> str | None:
        """The oldest entry ``group`` read and has not acknowledged (None: none, or gone).

        Another host's group removed meanwhile (`XGROUP DESTROY`) is no longer waited
        for: its NOGROUP is not this bridge's group lost.
        """
        try:
            summary = self._client.xpending(self._stream, group)
        except Exception as exc:
            if group != self._group and is_nogroup(exc):
                return None
            raise
        oldest = summary.get("min") if summary.get("pending") else None
        return _text(oldest) if oldest else None


def trim_point(groups: Iterable[tuple[str, str | None]]) -> str | None:
    """The entry a stream may be trimmed to (`XTRIM MINID`), or None: nothing to trim.

    ``groups``: each consumer group's ``(last delivered id, oldest pending id or None)``.
    Every entry below the result has been read and acknowledged by every group: the
    oldest entry some group still has pending, else the oldest of the groups' last read
    entries. None when there is no group, or one has read nothing yet.
    """
    points: list[tuple[int, int]] = []
    for last, oldest in groups:
        point = oldest or last
        if point == _CURSOR_START:
            return None  # a group that read nothing needs the whole stream
        milliseconds, _dash, sequence = point.partition("-")
        points.append((int(milliseconds), int(sequence or 0)))
    if not points:
        return None
    oldest_ms, oldest_sequence = min(points)
    return f"{oldest_ms}-{oldest_sequence}"


_MAX_SENDERS = 1024
"""Senders' sessions a market-data subscriber remembers the last sequence of, per stream."""


class MarketDataSubscriber(_Reader):
    """Delivers market-data streams to a local actor, newest book first (no group).

    ``streams`` are names as `tradeactors.bus.market_data_stream` makes them. A restart
    starts again from the newest entries: market data is not replayed, but the newest
    book of each book stream is delivered at (re)start (the book of now).
    """

    def __init__(
        self,
        settings: BusSettings,
        *,
        host: str,
        streams: Sequence[str],
        deliver_to: str | Address,
        metrics: BusMetrics | None = None,
        status: Callable[[BusStatus], None] | None = None,
        types: Iterable[type[Message]] | None = None,
    ) -> None:
        if not streams:
            raise ValueError("MarketDataSubscriber needs at least one stream")
        super().__init__(
            settings,
            host=host,
            label=",".join(streams),
            deliver_to=deliver_to,
            metrics=metrics,
            status=status,
            types=types,
        )
        self._last: dict[str, str] = dict.fromkeys(streams, "$")
        # (stream, sender's host, path, session) -> the last sequence delivered from it
        self._sequences: dict[tuple[str, str, str, int], int] = {}

    def _setup(self) -> None:
        # "$" resolved once to the newest id: a read with "$" again would skip entries
        # added between two reads. The newest book there is delivered: a receiver that
        # starts while the market is still has the book of now, not only the next one.
        for stream, last in self._last.items():
            if last == "$":
                newest = self._client.xrevrange(stream, count=1)
                self._last[stream] = _text(newest[0][0]) if newest else _CURSOR_START
                if newest:
                    self._deliver_newest_book(stream, newest[0])
        self._ready = True

    def _repeat(self, stream: str, envelope: Envelope) -> bool:
        """An entry of a sender's session at or below one delivered: sent again, dropped.

        A bridge XADDs each stream's entries in the order of its sequence, and sends a
        pipeline whose answer was lost again: a repeated trade would count twice.
        """
        key = (stream, envelope.source_host, envelope.source_path, envelope.session)
        sequences = self._sequences
        last = sequences.get(key)
        if last is not None and envelope.sequence <= last:
            return True
        sequences[key] = envelope.sequence
        if len(sequences) > _MAX_SENDERS:  # senders' old sessions: the oldest forgotten
            del sequences[next(iter(sequences))]
        return False

    def _deliver_newest_book(self, stream: str, entry: tuple[Any, Any]) -> None:
        try:
            envelope, message = self._codec.decode(entry[1])
        except BusEntryError as exc:
            self._bad(stream, entry[0], exc.reason, str(exc))
            return
        self._repeat(stream, envelope)
        if isinstance(message, BookView):
            self._count("consumed", stream)
            self._deliver(message)

    def _step(self) -> float:
        if not self._ready:
            self._setup()
        settings = self._settings
        response = self._client.xread(self._last, count=settings.batch, block=settings.block_ms)
        for raw_stream, entries in response or ():
            stream = _text(raw_stream)
            self._last[stream] = _text(entries[-1][0])
            self._count("consumed", stream, len(entries))
            newest_book: BookView | None = None
            books = 0
            for entry_id, fields in entries:
                try:
                    envelope, message = self._codec.decode(fields)
                except BusEntryError as exc:
                    self._bad(stream, entry_id, exc.reason, str(exc))
                    continue
                if self._repeat(stream, envelope):
                    self._count("duplicates", stream)
                    continue
                if isinstance(message, BookView):
                    books += 1
                    newest_book = message
                else:
                    self._deliver(message)  # market data: a receiver gone is no loss
            if newest_book is not None:
                self._deliver(newest_book)
                self._count("conflated", stream, books - 1)
        return 0.0
