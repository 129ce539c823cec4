"""The events actor: host callbacks run here, never on the actor that emitted.

Actors and the kill switch's gate hand events for the host (`OrderUpdate`,
`VenueStatus`, `KillSwitchChanged`, `ReconciliationReport`) to this actor with a
``tell``; it calls the host's subscribers in its own thread, in the order each emitter
sent them. A slow or blocking host callback fills this mailbox, never the order
manager's or risk's. A callback that raises is logged and skipped by the subscriber
list, so this actor does not crash on a host's bug.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["EventsActor"]


class EventsActor(SupervisedActor):
    """Delivers each event it is told to ``deliver`` (the host's subscribers)."""

    def __init__(self, *, deliver: Callable[[Any], None]) -> None:
        super().__init__()
        self._deliver = deliver

    def on_receive(self, message: Any) -> Any:
        """Hand the event to the host."""
        self._deliver(message)
        return None
