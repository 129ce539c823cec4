"""Reading a benchmark child's stdin without stopping its actors.

Under the gevent runtime a plain ``sys.stdin.readline()`` blocks the whole process (the
hub and every actor with it): wait for the pipe to be readable first, cooperatively.
"""

from __future__ import annotations

import sys


def _wait_readable() -> None:
    if "gevent" in sys.modules:
        from gevent.monkey import is_module_patched  # noqa: PLC0415

        if is_module_patched("socket"):
            from gevent.socket import wait_read  # noqa: PLC0415

            wait_read(sys.stdin.fileno())


def read_line() -> str:
    """The next line of stdin ("" at its end)."""
    _wait_readable()
    return sys.stdin.readline()


def wait_closed() -> None:
    """Until stdin is closed (the parent says: stop)."""
    while read_line():
        pass
