"""`run_trading` moves what start-up built out of the collector's reach for the run."""

from __future__ import annotations

import gc
import io

import pytest

from tradeactors import _run
from tradeactors.config import load_config

pytestmark = pytest.mark.supervision


def test_start_up_objects_are_frozen_for_the_run_and_unfrozen_after_it(monkeypatch):
    frozen_during_run: list[int] = []

    def status_loop(*_args: object, **_kwargs: object) -> None:  # the run, cut short
        frozen_during_run.append(gc.get_freeze_count())

    monkeypatch.setattr(_run, "_status_loop", status_loop)
    assert gc.get_freeze_count() == 0
    _run.run_trading(load_config(None), io.StringIO(), metrics_port=0)
    assert frozen_during_run[0] > 1000  # the tree, its actors, modules: all frozen
    assert gc.get_freeze_count() == 0  # collectable again once the run is over
