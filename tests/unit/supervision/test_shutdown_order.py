"""Stopping a tree: an actor stopped for good no longer holds its senders up."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from tradeactors.supervision import (
    ChildSpec,
    DeadLetterReason,
    MailboxSpec,
    Overflow,
    SupervisedActor,
    SupervisorSpec,
)

pytestmark = pytest.mark.supervision

FLUSH = 10


class Consumer(SupervisedActor):
    def on_receive(self, message: Any) -> Any:
        return message


class FlushOnStop(SupervisedActor):
    """Tells the consumer FLUSH messages from on_stop (an order manager cancelling all)."""

    def on_stop(self) -> None:
        consumer = self.context.address_of("consumer")
        for number in range(FLUSH):
            consumer.tell(number)


def test_messages_to_an_actor_already_stopped_fail_at_once_instead_of_blocking(make_tree):
    # Stopped in reverse order: the consumer first, then the producer, whose on_stop
    # sends more than the consumer's blocking mailbox holds.
    spec = SupervisorSpec(
        name="root",
        children=(
            ChildSpec(name="producer", actor=FlushOnStop, shutdown=2.0),
            ChildSpec(
                name="consumer",
                actor=Consumer,
                mailbox=MailboxSpec(capacity=2, overflow=Overflow.BLOCK),
            ),
        ),
    )
    tree = make_tree(spec)
    tree.address("consumer").ask("ready", timeout=5)
    with capture_logs() as logs:
        tree.stop(timeout=10)
    assert not [entry for entry in logs if entry["event"] == "actor_shutdown_timeout"]
    letters = [letter for letter in tree.dead_letters.recent() if letter.path == "consumer"]
    assert [letter.message for letter in letters] == list(range(FLUSH))
    assert {letter.reason for letter in letters} == {DeadLetterReason.CLOSED}
