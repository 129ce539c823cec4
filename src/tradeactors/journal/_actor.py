"""`JournalActor`: the supervised writer of the journal, with group commit and write-ahead.

Two kinds of messages reach it:

- a `WriteAhead` from the order manager: records to commit (`OrderSubmitted`,
  `UnknownOrderFilled`, and the journaled events among its ``events``), then messages to
  tell and events to publish. They are told and published only after the commit: an
  order reaches its gateway, and a fill its owner, risk and the hosts, only once it is
  recorded;
- an event to record as it is (a kill-switch change, a risk denial, the positions at
  stop), told by the system when it publishes it.

Each is queued; the queue is committed in one transaction when the mailbox is empty or
the queue holds ``max_batch`` records (**group commit**: a burst costs one commit, not
one per record), then the deliveries of the batch run in the order they came.

An unwritable journal (read-only, full, locked) calls ``on_unavailable`` once per
outage (the system trips its kill switch HALTED, ``journal_unavailable``): the system
refuses to trade rather than trade unrecorded. The records of a batch that could not
be written are held (up to ``max_held``, the oldest given up on and counted past it)
and written first, in order, once the file is writable again (the trip itself too);
its orders and amends are NOT sent (the order manager hears `OrderRejected` /
`AmendRejected` with reason ``journal_unavailable``), everything else (cancels, fills
to owners and risk, events) still goes: those are facts, and cancelling is what a
halted system does. A batch that fails for another reason (a record the writer
cannot take) is dropped, counted and logged, so that it cannot block the journal.

A send to a path with no actor (an order's owner that no longer runs: a strategy of a
previous run, recovered from the journal) is logged and skipped, never a crash.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.core.messages import (
    JOURNAL_UNAVAILABLE,
    AmendAtVenue,
    AmendRejected,
    OrderRejected,
    PlaceOrder,
    WriteAhead,
)
from tradeactors.errors import TradeActorsError
from tradeactors.journal._schema import JournalUnavailableError
from tradeactors.journal._writer import JOURNALED
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.journal._metrics import JournalMetrics
    from tradeactors.journal._writer import JournalWriter

__all__ = ["FlushJournal", "JournalActor"]


class FlushJournal(msgspec.Struct, frozen=True):
    """Ask: commit what is queued; the reply is the count of events written so far."""


class _CommitDue(msgspec.Struct, frozen=True):
    """To itself: commit what is queued (the messages before this one are in the batch)."""


class JournalActor(SupervisedActor):
    """Writes the events it is told to the journal ``open_writer`` opens (in ``on_start``)."""

    def __init__(
        self,
        *,
        open_writer: Callable[[], JournalWriter],
        on_unavailable: Callable[[str], None],
        metrics: JournalMetrics | None = None,
        max_batch: int = 256,
        deliver: Callable[[Any], None] = lambda _event: None,
        max_held: int = 100_000,
    ) -> None:
        super().__init__()
        if max_batch < 1:
            raise ValueError(f"max_batch {max_batch}: at least 1")
        self._open_writer = open_writer
        self._on_unavailable = on_unavailable
        self._metrics = metrics
        self._max_batch = max_batch
        self._writer: JournalWriter | None = None
        self._queue: list[tuple[int, Any]] = []
        self._after: list[WriteAhead] = []  # to deliver once the queue is committed
        self._held: list[tuple[int, Any]] = []  # not written yet: the file was unwritable
        self._max_held = max_held
        # committed (True) or not recordable (False), being delivered: one at a time, so
        # that a delivery that raises loses nothing after it (see `on_failure`)
        self._ready: deque[tuple[WriteAhead, bool]] = deque()
        self._deliver = deliver
        self._addresses: dict[str, Any] = {}
        self._down = False
        self._commit_due = False  # a `_CommitDue` is in the mailbox

    def on_start(self) -> None:
        """Open the journal; unwritable: trip (a corrupt file raises: the start fails)."""
        self._open()

    def on_stop(self) -> None:
        """Commit what is queued, deliver what waited for it, and close the file."""
        self._commit()
        self._close()

    def on_failure(self, *_exc_info: object) -> None:
        """Before the restart: commit and deliver what this incarnation holds.

        Its mailbox survives the restart, but what it took from it does not: an order
        queued here would otherwise never reach its gateway.
        """
        try:
            self._commit()
        except Exception:
            self.context.log.exception("journal_flush_on_failure_failed")
        finally:
            self._close()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def on_receive(self, message: Any) -> Any:
        """Queue a journaled event; commit when nothing else waits or the batch is full."""
        if isinstance(message, FlushJournal):
            self._commit()
            return 0 if self._writer is None else self._writer.events
        if type(message) is _CommitDue:
            self._commit_due = False
            self._commit()
            return None
        if type(message) is WriteAhead:
            now = self.context.clock.time_ns()
            queue = self._queue
            queue.extend((now, record) for record in message.records)
            queue.extend((now, event) for event in message.events if isinstance(event, JOURNALED))
            self._after.append(message)
        elif isinstance(message, JOURNALED):
            self._queue.append((self.context.clock.time_ns(), message))
        else:
            return None  # VenueStatus and the like: not the journal's
        if len(self._queue) >= self._max_batch or self.actor_inbox.empty():
            self._commit()
        elif not self._commit_due:
            # More is queued, but maybe nothing this handler sees (an ask of pykka's own,
            # a ping): a marker behind it commits the batch, whatever those are.
            self._commit_due = True
            self.context.address.tell(_CommitDue())
        return None

    def _open(self) -> None:
        try:
            self._writer = self._open_writer()
        except JournalUnavailableError as exc:
            self._unavailable(str(exc))

    def _commit(self) -> None:
        batch, self._queue = self._queue, []
        if self._held:
            batch, self._held = self._held + batch, []
        if batch or self._after:
            recorded = self._write(batch) if batch else True
            self._ready.extend((write_ahead, recorded) for write_ahead in self._after)
            self._after = []
        ready = self._ready
        while ready:
            write_ahead, recorded = ready.popleft()
            self._send(write_ahead, recorded=recorded)

    def _write(self, batch: list[tuple[int, Any]]) -> bool:
        """Commit ``batch``; False if it could not be (then counted, logged, tripped)."""
        if self._writer is None:
            self._open()  # tried again at each batch: the file may be writable again
        if self._writer is None:
            self._unavailable("the journal could not be opened", self._hold(batch))
            return False
        try:
            commit = self._writer.append(batch)
        except JournalUnavailableError as exc:
            self._unavailable(str(exc), self._hold(batch))
            return False
        except Exception as exc:  # never lose the deliveries of a batch
            self.context.log.exception("journal_write_failed")
            self._unavailable(f"write failed: {exc!r}", dropped=len(batch))
            return False
        if self._metrics is not None:
            self._metrics.held.set(0)
        if self._down:
            self._down = False
            self.context.log.warning("journal_writable_again", events=commit.events)
        if self._metrics is not None:
            self._metrics.written.inc(commit.events)
            self._metrics.batch.observe(commit.events)
            self._metrics.commit.observe(commit.seconds)
            self._metrics.lag.set(len(self.actor_inbox))
        return True

    def _send(self, write_ahead: WriteAhead, *, recorded: bool) -> None:
        """Tell and publish what ``write_ahead`` holds; unrecorded: no order or amend goes."""
        addresses = self._addresses
        for path, message in write_ahead.sends:
            if not recorded and type(message) in (PlaceOrder, AmendAtVenue):
                self._refuse(write_ahead.origin, message)
                continue
            address = addresses.get(path)
            if address is None:
                try:
                    address = addresses[path] = self.context.address_of(path)
                except TradeActorsError:  # no actor there (an owner of a previous run)
                    self.context.log.warning(
                        "journal_send_to_nobody", path=path, message_type=type(message).__name__
                    )
                    continue
            address.tell(message)
        deliver = self._deliver
        for event in write_ahead.events:
            deliver(event)

    def _refuse(self, origin: str, message: PlaceOrder | AmendAtVenue) -> None:
        """Tell the order manager an order or amend was not sent: it could not be recorded."""
        order = message.order
        detail = "not sent: the journal could not record it"
        refusal = (
            OrderRejected(
                venue=order.venue,
                client_order_id=order.client_order_id,
                reason=JOURNAL_UNAVAILABLE,
                detail=detail,
            )
            if isinstance(message, PlaceOrder)
            else AmendRejected(
                venue=order.venue, client_order_id=order.client_order_id, reason=JOURNAL_UNAVAILABLE
            )
        )
        self.context.log.error(
            "order_not_sent", client_order_id=order.client_order_id, reason=JOURNAL_UNAVAILABLE
        )
        if origin:
            with contextlib.suppress(TradeActorsError):  # the order manager is always there
                self.context.address_of(origin).tell(refusal)

    def _hold(self, batch: list[tuple[int, Any]]) -> int:
        """Keep ``batch`` to write first once writable; how many were given up on."""
        excess = max(len(batch) - self._max_held, 0)
        self._held = batch[excess:]
        if self._metrics is not None:
            self._metrics.held.set(len(self._held))
        return excess

    def _unavailable(self, detail: str, dropped: int = 0) -> None:
        if self._metrics is not None:
            self._metrics.dropped.inc(dropped)
        self.context.log.error(
            "journal_unavailable", error=detail, held=len(self._held), dropped=dropped
        )
        if self._down:
            return
        self._down = True
        if self._metrics is not None:
            self._metrics.unavailable.inc()
        self._on_unavailable(detail)
