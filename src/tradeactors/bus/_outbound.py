"""The outbound bridge: what local actors tell it goes onto a Redis stream (XADD).

Give its `Address` to local actors in place of the remote actor's: they ``tell`` it
as they would tell the actor itself.

- Commands and events (anything not market data) go, in the order told, to
  ``stream``, never trimmed by length (the inbound side trims what its group has
  acknowledged). Those told back to back go in one pipeline (one round trip): each is
  queued in the outbox and sent by a flush the bridge tells itself, behind what its
  mailbox holds then. While Redis is unreachable they wait in the bounded outbox (in
  order; the oldest dropped and counted beyond ``outbox_limit``) and are sent when it
  is back. Give the bridge an `Outbox` made with its child spec: what waits in it then
  survives a restart of the bridge (sent by the next incarnation).
- Market data (`BookView`, `TradeTick`) goes to ``md:{venue}:book:{symbol}`` and
  ``md:{venue}:trade:{symbol}``, trimmed with ``MAXLEN ~ market_data_maxlen``. Books
  are conflated per instrument: the bridge sends what queued in one flush, and of the
  books of one instrument only the newest (a slow bus never builds a backlog of stale
  books). Trades are never conflated.

Delivery is at least once: an XADD whose reply was lost is sent again, and receivers
drop the repeat by the envelope's message id.
"""

from __future__ import annotations

import collections
import itertools
from typing import TYPE_CHECKING, Any

from tradeactors.bus._codec import BusCodec, Envelope, Kind
from tradeactors.bus._common import Link, later, redis_errors
from tradeactors.bus._settings import connect
from tradeactors.core.book import BookView
from tradeactors.core.messages import Message, OrderFilled, SubmitOrder, TradeTick
from tradeactors.errors import BusEntryError
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tradeactors.bus._messages import BusStatus
    from tradeactors.bus._metrics import BusMetrics
    from tradeactors.bus._settings import BusSettings
    from tradeactors.clock import Timer

__all__ = ["OutboundBridge", "Outbox", "default_message_id", "market_data_stream"]


def default_message_id(message: Message) -> str:
    """The id receivers drop repeats by: the order's for a new order, the fill's for a fill.

    "" for the rest: the envelope's ``host/session/sequence`` then identifies it (a
    resend of the same entry is dropped; the same command told twice is not).
    """
    if isinstance(message, SubmitOrder):
        return f"order:{message.client_order_id}"
    if isinstance(message, OrderFilled):
        return f"fill:{message.venue}:{message.execution_id}"
    return ""


def market_data_stream(message: BookView | TradeTick, venue: str) -> str:
    """``md:{venue}:book:{symbol}`` or ``md:{venue}:trade:{symbol}``.

    A `BookView` names its venue (``venue:symbol``); a `TradeTick` only its symbol, so
    ``venue`` is the bridge's.
    """
    if isinstance(message, BookView):
        book_venue, _, symbol = message.instrument.rpartition(":")
        return f"md:{book_venue or venue}:book:{symbol}"
    return f"md:{venue}:trade:{message.instrument}"


_NOT_NOW = ("BUSY",)
"""Codes of refusals that pass which redis-py leaves as a plain ``ResponseError`` (a
script running); the others it maps to a class of their own (see `_not_now`)."""


def _not_now(error: BaseException) -> bool:
    """Whether Redis refused an entry for now (kept), not for good (dropped).

    Unreachable or timed out, and the refusals redis-py maps to a class: OOM, READONLY,
    LOADING (a ``ConnectionError``), TRYAGAIN, CLUSTERDOWN and MASTERDOWN.
    """
    import redis  # noqa: PLC0415 - redis-py only where a bus is used

    exceptions = redis.exceptions
    passing = (
        exceptions.OutOfMemoryError,
        exceptions.ReadOnlyError,
        exceptions.TryAgainError,
        exceptions.ClusterDownError,
    )
    return isinstance(error, (*redis_errors(), *passing)) or str(error).startswith(_NOT_NOW)


_PIPELINE = 1000
"""Entries sent in one pipeline at most while a burst goes on (a flush sends the rest)."""


class _Flush:
    """Send what was queued since the last flush (commands, and the market data gathered)."""


class Outbox:
    """What an `OutboundBridge` has to send, in order: ``(stream, fields, maxlen)``.

    Made with the bridge's child spec and given to every incarnation, so that entries
    queued but not yet sent when one crashed are sent by the next (receivers drop
    repeats of any that did go). One incarnation uses it at a time.
    """

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: collections.deque[tuple[str, dict[bytes, bytes], int | None]] = (
            collections.deque()
        )

    def __len__(self) -> int:
        return len(self.entries)


class _Retry:
    """Redis was down: try the outbox again."""


class OutboundBridge(SupervisedActor):
    """XADDs what it is told (see the module doc). One per destination stream.

    ``destination`` is the path of the actor the messages are for on the other host
    (in the envelope); ``venue`` names the venue of the `TradeTick`s it is told.
    ``status`` is called with a `BusStatus` when Redis is lost or reached again.
    ``outbox``: where what waits to be sent is kept; give one made with the child spec
    to keep it across restarts (None: each incarnation starts an empty one).
    """

    def __init__(
        self,
        settings: BusSettings,
        *,
        host: str,
        stream: str,
        destination: str = "",
        kind: Kind = Kind.COMMAND,
        venue: str = "",
        metrics: BusMetrics | None = None,
        status: Callable[[BusStatus], None] | None = None,
        message_id: Callable[[Message], str] = default_message_id,
        types: Iterable[type[Message]] | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._host = host
        self._stream = stream
        self._destination = destination
        self._kind = kind
        self._venue = venue
        self._metrics = metrics
        self._status = status
        self._message_id = message_id
        self._codec = BusCodec(max_entry_bytes=settings.max_entry_bytes, types=types)
        self._client: Any = None
        self._errors = redis_errors()
        self._session = 0
        self._sequence = 0
        # (stream, fields, maxlen): in order, until sent; they wait here while Redis is
        # down, and (given an Outbox) across a restart
        self._outbox = (Outbox() if outbox is None else outbox).entries
        # entries sent in one pipeline at most: well below the outbox's bound
        self._pipeline = max(1, min(_PIPELINE, settings.outbox_limit // 2))
        self._books: dict[str, BookView] = {}  # stream -> newest book since the last flush
        self._trades: list[TradeTick] = []
        self._flush_queued = False
        self._dropped = 0  # entries dropped from a full outbox, by this incarnation
        self._retry: Timer | None = None
        self._link: Link | None = None

    def on_start(self) -> None:
        """Make the client (no I/O: the first send connects); send what a predecessor left."""
        context = self.context
        self._session = context.clock.time_ns()
        self._link = Link(context, self._host, self._stream, self._metrics, self._status)
        self._client = connect(self._settings, client_name=f"{self._host}:{context.path}")
        if self._outbox:
            self._queue_flush()

    def on_stop(self) -> None:
        """Cancel the retry timer, try once more to send what waits, close the client."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._gather_market_data()
        if self._outbox and self._link is not None and self._link.up is not False:
            self._send()
        if self._outbox:
            self.context.log.warning("bus_outbox_not_sent", entries=len(self._outbox))
        if self._client is not None:
            self._client.close()

    def on_failure(self, *_exc_info: object) -> None:
        """A crash: the retry timer cancelled, the client closed (the outbox waits, kept)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._client is not None:
            self._client.close()

    def on_receive(self, message: Any) -> Any:
        """Send a message, or run a flush or retry."""
        if isinstance(message, _Flush):
            self._flush_queued = False
            # while Redis is down, books stay conflated here (only the newest of each
            # instrument waits); trades wait in the outbox, in order
            self._gather_market_data(books=self._retry is None)
            self._send()
        elif isinstance(message, _Retry):
            self._retry = None
            self._gather_market_data()
            self._send()
        elif isinstance(message, BookView | TradeTick):
            self._market_data(message)
        elif isinstance(message, Message):
            self._command(message)
        else:
            self.context.log.warning("bus_not_a_message", message_type=type(message).__name__)

    # -- what is told --------------------------------------------------------------------

    def _envelope(self, message: Message, kind: Kind, destination: str) -> Envelope:
        self._sequence += 1
        return self._codec.envelope(
            message,
            kind=kind,
            source_host=self._host,
            source_path=self.context.path,
            destination=destination,
            session=self._session,
            sequence=self._sequence,
            message_id=self._message_id(message),
            timestamp_ns=self.context.clock.time_ns(),
        )

    def _command(self, message: Message) -> None:
        try:
            fields = self._codec.encode(self._envelope(message, self._kind, self._destination))
        except BusEntryError as exc:
            # a message the bus cannot carry: said loudly, never half-sent
            self.context.log.error(  # noqa: TRY400 - the traceback says nothing more
                "bus_message_refused",
                message_type=type(message).__name__,
                reason=exc.reason,
                error=str(exc),
            )
            self._count_bad(self._stream, exc.reason)
            return
        self._queue(self._stream, fields, None)
        self._queue_flush()  # with those told meanwhile: one round trip for a burst

    def _market_data(self, message: BookView | TradeTick) -> None:
        stream = market_data_stream(message, self._venue)
        if isinstance(message, BookView):
            if self._books.pop(stream, None) is not None and self._metrics is not None:
                self._metrics.conflated.labels(self._metrics.host, stream).inc()
            self._books[stream] = message
        else:
            self._trades.append(message)
        self._queue_flush()

    def _queue_flush(self) -> None:
        """A flush behind everything the mailbox holds now (what comes meanwhile goes with it).

        A burst longer than a pipeline is sent as it grows, a pipeline at a time, so what
        waits never reaches the outbox's bound while Redis is up (beyond it the oldest
        would be dropped).
        """
        if self._retry is None and len(self._outbox) + len(self._trades) >= self._pipeline:
            self._gather_market_data(books=False)
            self._send()
        if not self._flush_queued:
            self._flush_queued = True
            self.context.address.tell(_Flush())

    def _gather_market_data(self, *, books: bool = True) -> None:
        maxlen = self._settings.market_data_maxlen
        for trade in self._trades:
            self._encode_market_data(market_data_stream(trade, self._venue), trade, maxlen)
        self._trades.clear()
        if not books:
            return
        for stream, book in self._books.items():
            self._encode_market_data(stream, book, maxlen)
        self._books.clear()

    def _encode_market_data(self, stream: str, message: Message, maxlen: int) -> None:
        try:
            fields = self._codec.encode(self._envelope(message, Kind.MARKET_DATA, ""))
        except BusEntryError as exc:
            self._count_bad(stream, exc.reason)
            return
        self._queue(stream, fields, maxlen)

    # -- sending -------------------------------------------------------------------------

    def _queue(self, stream: str, fields: dict[bytes, bytes], maxlen: int | None) -> None:
        outbox = self._outbox
        outbox.append((stream, fields, maxlen))
        if len(outbox) > self._settings.outbox_limit:
            dropped, _, _ = outbox.popleft()
            self._dropped += 1
            if self._metrics is not None:
                self._metrics.outbox_dropped.labels(self._metrics.host, dropped).inc()
            if self._dropped & (self._dropped - 1) == 0:  # 1, 2, 4, 8...: not one per entry
                self.context.log.warning(
                    "bus_outbox_full", stream=dropped, limit=len(outbox), dropped=self._dropped
                )

    def _send(self) -> None:
        """Send the outbox in order, in pipelines; on failure keep what is left, retry later.

        Each entry Redis answers is taken off the outbox: written, or refused for good (a
        wrong type at the stream's key, say: dropped, counted and logged, never retried
        for ever). A refusal that says "not now" (out of memory, read-only replica,
        loading, busy, master down, try again) is kept with what follows it, as when
        Redis is unreachable: the link is down and the bridge tries again later.
        """
        if not self._outbox or self._retry is not None:
            return
        link = self._link
        assert link is not None  # noqa: S101 - set in on_start
        outbox = self._outbox
        while outbox:
            entries = list(itertools.islice(outbox, self._pipeline))
            try:
                pipe = self._client.pipeline(transaction=False)
                for stream, fields, maxlen in entries:
                    pipe.xadd(stream, fields, maxlen=maxlen, approximate=True)
                answers = pipe.execute(raise_on_error=False)
            except self._errors as exc:
                self._lost(exc)
                return
            answered = 0
            not_now: BaseException | None = None
            for (stream, _fields, _maxlen), answer in zip(entries, answers, strict=True):
                if isinstance(answer, BaseException):
                    if _not_now(answer):
                        not_now = answer
                        break
                    self._refused(stream, answer)
                elif self._metrics is not None:
                    self._metrics.published.labels(self._metrics.host, stream).inc()
                answered += 1
            self._forget(entries[:answered])
            if not_now is not None:
                self._lost(not_now)
                return
            link.reached()

    def _forget(self, entries: list[tuple[str, dict[bytes, bytes], int | None]]) -> None:
        """Take ``entries`` off the front of the outbox: those very entries, and only them.

        An incarnation abandoned in the middle of a send, whose send returns after its
        successor took these and queued others, takes nothing of the successor's.
        """
        outbox = self._outbox
        for entry in entries:
            if not outbox or outbox[0] is not entry:
                return
            outbox.popleft()

    def _lost(self, error: BaseException) -> None:
        """Redis cannot take entries now: the link is down, the outbox waits for a retry."""
        assert self._link is not None  # noqa: S101 - set in on_start
        self._link.lost(error)
        self._retry = later(self.context, self._settings.reconnect_interval, _Retry())

    def _refused(self, stream: str, error: BaseException) -> None:
        self._count_bad(stream, "refused")
        self.context.log.error("bus_entry_refused", stream=stream, error=str(error)[:200])

    def _count_bad(self, stream: str, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.bad.labels(self._metrics.host, stream, reason).inc()
