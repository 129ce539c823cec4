"""What the bus's actors share: the seen-set, the up/down tracking, redis-py's errors."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from tradeactors.bus._messages import BusStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.bus._metrics import BusMetrics
    from tradeactors.clock import Timer
    from tradeactors.supervision import ActorContext

__all__ = ["ClientAndTimer", "Link", "SeenIds", "redis_errors"]


def redis_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean "Redis is not reachable now" (connection, timeout)."""
    import redis  # noqa: PLC0415 - redis-py only where a bus is used

    return (redis.ConnectionError, redis.TimeoutError)


def is_nogroup(error: BaseException) -> bool:
    """True when the stream or its group is gone (a restarted server, an operator's flush).

    Redis's NOGROUP, or UNBLOCKED (the key went away during a blocking read).
    """
    import redis  # noqa: PLC0415

    return isinstance(error, redis.ResponseError) and str(error).startswith(
        ("NOGROUP", "UNBLOCKED")
    )


class SeenIds:
    """The last ``capacity`` message ids delivered, to drop repeats (O(1) per id).

    Give the same object to every incarnation of a bridge (make it where the child spec
    is made) so a bridge restarted between delivering and acknowledging still drops
    the repeat. It lives in memory: a new process starts with an empty one.
    """

    __slots__ = ("_ids", "capacity")

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, message_id: str) -> None:
        """Remember ``message_id``; the oldest is forgotten beyond ``capacity``."""
        self._ids[message_id] = None
        self._ids.move_to_end(message_id)
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


class Link:
    """Whether an actor reaches Redis: reports changes once, sets the ``up`` gauge."""

    def __init__(
        self,
        context: ActorContext,
        host: str,
        stream: str,
        metrics: BusMetrics | None,
        status: Callable[[BusStatus], None] | None,
    ) -> None:
        self._context = context
        self._host = host
        self._stream = stream
        self._metrics = metrics
        self._status = status
        self.up: bool | None = None  # None: not tried yet

    def _report(self, *, up: bool, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.up.labels(self._host, self._stream).set(1 if up else 0)
        if self._status is not None:
            self._status(
                BusStatus(
                    host=self._host,
                    stream=self._stream,
                    up=up,
                    reason=reason,
                    timestamp_ns=self._context.clock.time_ns(),
                )
            )

    def reached(self) -> None:
        """A command succeeded."""
        if self.up is not True:
            if self.up is False:
                self._context.log.info("bus_up", stream=self._stream)
            self.up = True
            self._report(up=True, reason="reached")

    def lost(self, error: BaseException) -> None:
        """A command failed on the connection (``error``: redis-py's)."""
        if self.up is not False:
            self._context.log.warning("bus_down", stream=self._stream, error=repr(error))
            self.up = False
            self._report(up=False, reason=f"{type(error).__name__}: {error}")


def later(context: ActorContext, delay: float, message: Any) -> Any:
    """Tell the actor ``message`` after ``delay`` s (a clock timer; cancel it on stop)."""
    address = context.address
    return context.clock.call_later(delay, lambda: address.tell(message))


class ClientAndTimer:
    """A bus actor's Redis client and its one timer, both let go when it stops.

    Mixed in before `SupervisedActor`: its ``on_stop`` cancels ``_timer`` and closes
    ``_client`` (entries read and not acknowledged stay pending in Redis; a heartbeat
    publisher that stops lets its lease run out).
    """

    _client: Any
    _timer: Timer | None

    def on_stop(self) -> None:
        """Cancel the timer and close the client."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._client is not None:
            self._client.close()
