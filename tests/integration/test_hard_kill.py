"""A trading process killed hard leaves nothing open at the venue.

The venue (the simulated exchange) runs in the test process; the trading system in a
subprocess. SIGKILL: the kernel closes the sockets, so cancel-on-disconnect cancels at
once (and well within ``cancel_all_after``). SIGSTOP: a hung process keeps its socket
open, so only the dead-man's switch (``cancel_all_after``) can cancel.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trading_helpers import SECRET, wait_open_at_venue

pytestmark = pytest.mark.supervision

CANCEL_ALL_AFTER = 1.0


def _start_trader(venue_fixture) -> subprocess.Popen[str]:
    script = Path(__file__).with_name("trader_process.py")
    process = subprocess.Popen(
        [sys.executable, str(script), venue_fixture.trade_url, venue_fixture.ws_url,
         venue_fixture.http_url, str(CANCEL_ALL_AFTER)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TRADEACTORS_TEST_SECRET": SECRET, "TRADEACTORS_RUNTIME": "threads"},
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "READY":
        process.kill()
        _out, err = process.communicate(timeout=10)
        pytest.fail(f"the trading process did not get ready: {line!r} {err[-2000:]}")
    return process


def _reap(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.communicate(timeout=10)


@pytest.mark.parametrize(("how", "sig"), [("killed", signal.SIGKILL), ("hung", signal.SIGSTOP)])
def test_a_trading_process_killed_or_hung_has_its_orders_cancelled_by_the_venue(
    sim_venue,
    how,
    sig,
):
    venue = sim_venue
    process = _start_trader(venue)
    try:
        assert len(venue.open_orders("demo")) == 3
        started = time.monotonic()
        process.send_signal(sig)
        # the venue checks the dead-man's switch every market step (20 ms here)
        assert wait_open_at_venue(venue, lambda n: n == 0, timeout=CANCEL_ALL_AFTER + 1.0)
        elapsed = time.monotonic() - started
        assert elapsed <= CANCEL_ALL_AFTER + 1.0
        if how == "hung":
            # a hung process still holds its socket: it was the dead-man's switch
            assert venue.requests("demo", "cancel_all_after") >= 1
    finally:
        if sig == signal.SIGSTOP:
            process.send_signal(signal.SIGCONT)
        _reap(process)
