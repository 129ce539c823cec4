"""Choosing the runtime: plain threads (the default) or gevent.

The gevent runtime is pykka's ``ThreadingActor`` under ``gevent.monkey.patch_all()``:
every actor thread becomes a greenlet, locks and queues become cooperative. Call
`use_gevent` first thing in the process, before any thread (or actor) starts.

What gevent does not do: preempt. A handler that computes for a long time without
doing I/O, sleeping or waiting holds every other actor of the process until it
returns; such a handler must yield (``gevent.sleep(0)``) now and then. Real threads
give you preemption, at the price of the GIL's switching.
"""

from __future__ import annotations

import sys
import threading
from typing import Literal

__all__ = ["Runtime", "current_runtime", "use_gevent"]

Runtime = Literal["threads", "gevent"]


def use_gevent() -> None:
    """Monkey-patch the process for gevent. Idempotent.

    Raises:
        RuntimeError: other threads already run; patching now would leave them, and
            any lock they hold, outside gevent's control.

    """
    from gevent import monkey  # noqa: PLC0415 - importing gevent costs; only when asked

    if monkey.is_module_patched("threading"):
        return
    if threading.active_count() > 1:
        raise RuntimeError(
            "use_gevent() must run before any thread or actor starts "
            f"({threading.active_count()} threads are running)"
        )
    monkey.patch_all()


def current_runtime() -> Runtime:
    """Which runtime this process uses."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return "gevent"
    return "threads"
