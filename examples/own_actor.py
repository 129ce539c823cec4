"""A host's own pykka actor, supervised next to a running `TradingSystem`.

The `TradingSystem` builds its own tree and takes no extra children, so the host runs
its own `Supervisor` for its actors. Here that is `FillJournal`, a plain
``pykka.ThreadingActor`` (no tradeactors base class) that records the system's order
updates. The system's events are forwarded to it by address
(``system.subscribe(lambda e: tree.address("journal").tell(e))``); an address reaches
whichever incarnation is current. We make the journal crash (fault injection), watch
its supervisor restart it, and check that nothing forwarded was lost: the message it
crashed on is a dead letter, everything queued behind it is handled by the next
incarnation.

    python examples/own_actor.py
"""

# ruff: noqa: T201, INP001 - a script (not a package) that prints its report

from __future__ import annotations

import sys
import threading
from typing import Any

import pykka

from tradeactors.config import Config, StrategyConfig
from tradeactors.core.messages import OrderUpdate
from tradeactors.observability import configure_logging
from tradeactors.supervision import (
    ActorExited,
    ActorStarted,
    ChildSpec,
    Restart,
    RestartScheduled,
    SupervisionEvent,
    Supervisor,
    SupervisorSpec,
)
from tradeactors.trading.system import TradingSystem

TIMEOUT = 30.0  # the market decides when orders change; seconds can pass without one


class Journal:
    """The host's record, shared with the actor: it outlives any incarnation."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.updates: list[OrderUpdate] = []

    def add(self, update: OrderUpdate) -> None:
        """Record one update (called by the actor)."""
        with self._changed:
            self.updates.append(update)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = TIMEOUT) -> bool:
        """Wait until ``count`` updates are recorded; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.updates) >= count, timeout)


class FillJournal(pykka.ThreadingActor):
    """The host's own actor: a plain pykka actor that journals order updates."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def on_start(self) -> None:
        """Each incarnation says hello: the restart shows."""
        print("journal: started")

    def on_receive(self, message: Any) -> Any:
        """Journal order updates; ignore anything else."""
        if isinstance(message, OrderUpdate):
            self.journal.add(message)


def main() -> int:
    """Journal, crash, restart, no loss; 0 if all of that held and the venue is clean."""
    configure_logging(level="error")  # the injected crash is logged; keep the demo quiet
    journal = Journal()
    spec = SupervisorSpec(
        name="host",
        intensity=3,
        period=5.0,
        children=(
            ChildSpec(
                name="journal", actor=FillJournal, args=(journal,), restart=Restart.PERMANENT
            ),
        ),
    )
    restarted = threading.Event()
    forwarded: list[OrderUpdate] = []  # list.append is atomic: emitters run in many threads

    def on_supervision(event: SupervisionEvent) -> None:
        if isinstance(event, ActorExited):
            print(f"supervision: {event.path} exited: {event.reason} ({event.error})")
        elif isinstance(event, RestartScheduled):
            print(f"supervision: restarting {event.path} in {event.delay:.3f} s")
        elif isinstance(event, ActorStarted) and event.incarnation > 1:
            restarted.set()

    def forward(event: Any) -> None:
        if isinstance(event, OrderUpdate):
            forwarded.append(event)
            tree.address("journal").tell(event)  # never blocks: fine in a subscriber

    # The host's tree starts first and stops last: the system forwards into it.
    # A market maker that re-quotes on every tick the mid moves (the default waits for
    # two), so that order updates come often; the market still pauses now and then.
    params = {
        "half_spread": 2,
        "size": 5,
        "max_inventory": 25,
        "skew": 1.0,
        "requote": 1,
        "min_interval": 0.05,
    }
    config = Config(strategy=StrategyConfig(params=params))
    with Supervisor(spec, on_escalation=print) as tree, TradingSystem(config) as system:
        tree.subscribe(on_supervision)
        system.subscribe(forward)
        ok = journal.wait_for(3)
        print(f"journal: {len(journal.updates)} updates before the crash")

        tree.faults("journal").crash_next()  # the next message it takes makes it raise
        ok = ok and restarted.wait(TIMEOUT)
        print(f"journal: restarted: {restarted.is_set()}")
        ok = ok and journal.wait_for(len(journal.updates) + 3)
        print(f"journal: {len(journal.updates)} updates after the restart")

        system.kill("the host is done")
        summary = system.stop()
        crashed = [d for d in tree.dead_letters.recent() if d.reason == "crashed"]
        for letter in crashed:
            print(f"dead letter: {letter.message_type} at {letter.path} ({letter.reason})")
        lossless = journal.wait_for(len(forwarded) - len(crashed))
        print(
            f"forwarded {len(forwarded)}, journaled {len(journal.updates)}, crashed on "
            f"{len(crashed)}: nothing lost: {lossless}"
        )
    print(f"open at the venue: {summary.open_at_venue}")
    return 0 if ok and lossless and summary.open_at_venue == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
