"""`tradeactors run`'s signal handling: a signal interrupts the start, then stops the run."""

from __future__ import annotations

import signal
import threading

import pytest

from tradeactors._run import StartInterrupted, _StopSignals


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_starting_interrupts_the_start_once_then_only_asks_to_stop(sig, code):
    before = signal.getsignal(sig)
    stopped = threading.Event()
    signals = _StopSignals(stopped)
    try:
        with pytest.raises(StartInterrupted) as raised:
            signal.raise_signal(sig)  # while the tree starts
        assert raised.value.exit_code == code
        assert str(raised.value) == sig.name
        assert stopped.is_set()
        stopped.clear()
        signal.raise_signal(sig)  # a second one, while the start is undone: no second raise
        assert stopped.is_set()
    finally:
        signals.restore()
    assert signal.getsignal(sig) is before


def test_once_started_a_signal_only_asks_the_run_to_stop():
    stopped = threading.Event()
    signals = _StopSignals(stopped)
    try:
        signals.started()
        signal.raise_signal(signal.SIGTERM)
        assert stopped.is_set()
    finally:
        signals.restore()
        signals.restore()  # twice: nothing more to restore
