"""OTP-style supervision for pykka actors. Knows nothing of trading.

Exports are loaded on first use, so that ``tradeactors.supervision.runtime.use_gevent``
can run before pykka, prometheus-client or structlog are imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradeactors.supervision._actor import ActorContext, SupervisedActor
    from tradeactors.supervision._cell import Address, ExitReason
    from tradeactors.supervision._deadletters import DeadLetter, DeadLetterReason, DeadLetters
    from tradeactors.supervision._events import (
        ActorEnded,
        ActorExited,
        ActorStarted,
        RestartScheduled,
        SupervisionEvent,
        SupervisorEscalated,
    )
    from tradeactors.supervision._faults import FaultInjector
    from tradeactors.supervision._spec import (
        Backoff,
        ChildSpec,
        MailboxSpec,
        Overflow,
        Restart,
        Strategy,
        SupervisorSpec,
    )
    from tradeactors.supervision._stats import ActorStats
    from tradeactors.supervision._supervisor import ROOT_PATH, ChildInfo, Supervisor

_EXPORTS = {
    "ActorContext": "_actor",
    "SupervisedActor": "_actor",
    "Address": "_cell",
    "ExitReason": "_cell",
    "DeadLetter": "_deadletters",
    "DeadLetterReason": "_deadletters",
    "DeadLetters": "_deadletters",
    "ActorEnded": "_events",
    "ActorExited": "_events",
    "ActorStarted": "_events",
    "RestartScheduled": "_events",
    "SupervisionEvent": "_events",
    "SupervisorEscalated": "_events",
    "FaultInjector": "_faults",
    "Backoff": "_spec",
    "ChildSpec": "_spec",
    "MailboxSpec": "_spec",
    "Overflow": "_spec",
    "Restart": "_spec",
    "Strategy": "_spec",
    "SupervisorSpec": "_spec",
    "ActorStats": "_stats",
    "ROOT_PATH": "_supervisor",
    "ChildInfo": "_supervisor",
    "Supervisor": "_supervisor",
}

__all__ = [
    "ROOT_PATH",
    "ActorContext",
    "ActorEnded",
    "ActorExited",
    "ActorStarted",
    "ActorStats",
    "Address",
    "Backoff",
    "ChildInfo",
    "ChildSpec",
    "DeadLetter",
    "DeadLetterReason",
    "DeadLetters",
    "ExitReason",
    "FaultInjector",
    "MailboxSpec",
    "Overflow",
    "Restart",
    "RestartScheduled",
    "Strategy",
    "SupervisedActor",
    "SupervisionEvent",
    "Supervisor",
    "SupervisorEscalated",
    "SupervisorSpec",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
