"""Actors the supervision tests use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pykka

from tradeactors.supervision import SupervisedActor
from tradeactors.supervision.testing import Inbox, Probe

if TYPE_CHECKING:
    import threading

CRASH = "crash"
STOP = "stop"


class Worker(Probe):
    """A probe that crashes on ``CRASH`` and stops itself on ``STOP``."""

    def on_receive(self, message: Any) -> Any:
        if message == CRASH:
            raise RuntimeError("asked to crash")
        if message == STOP:
            self.stop()
            return None
        return super().on_receive(message)


class FailingStart(Probe):
    """Fails in ``on_start`` for the incarnations listed in ``fail_on``."""

    def __init__(self, inbox: Inbox, lifecycle: Inbox, fail_on: frozenset[int]) -> None:
        super().__init__(inbox, lifecycle)
        self._fail_on = fail_on

    def on_start(self) -> None:
        if self.context.incarnation in self._fail_on:
            raise RuntimeError(f"on_start fails on incarnation {self.context.incarnation}")
        super().on_start()


class FailingConstructor(SupervisedActor):
    def __init__(self) -> None:
        super().__init__()
        raise ValueError("bad constructor argument")


class Hang(SupervisedActor):
    """Blocks in ``on_stop`` until ``release`` is set (a handler that will not finish)."""

    def __init__(self, entered: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self._entered = entered
        self._release = release

    def on_stop(self) -> None:
        self._entered.set()
        self._release.wait(30)


class PlainPykka(pykka.ThreadingActor):
    """A host application's own actor class, knowing nothing of tradeactors."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox

    def on_receive(self, message: Any) -> Any:
        if message == CRASH:
            raise RuntimeError("plain actor crash")
        self.inbox.append(message)
        return message
