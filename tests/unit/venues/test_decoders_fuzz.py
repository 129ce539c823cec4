"""Issue 18: mutated real frames are dropped with a reason or resync a book, never a crash.

A seeded, bounded run of the harness in ``bench/fuzz_decoders.py`` (whose long run, over
a million fuzzed frames a venue, is recorded in ``bench/results/fuzz_decoders.md``): 20,000
fuzzed frames a venue, built from the real captures in ``../shared/data``. What the harness
checks is what the feed and book actors rely on: ``decode`` raises only
``FrameDroppedError``, ``BookSync.on_event`` returns a ``BookOutcome`` and never raises,
every book it says to publish passes ``check_invariants()`` (not crossed, prices of at
least one tick, nothing beyond 64 bits), ``trade_tick`` raises only ``ParseError``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}")
FUZZED = 20_000
SEED = 18


def load_harness() -> ModuleType:
    """``bench/fuzz_decoders.py`` as a module (bench/ is scripts, not a package)."""
    name = "fuzz_decoders"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "fuzz_decoders.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while building
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    return load_harness()


@pytest.fixture(scope="module")
def streams(harness):
    return {"binance": harness.binance_streams(), "kraken": harness.kraken_streams()}


@pytest.mark.parametrize("venue", ["binance", "kraken"])
def test_fuzzed_frames_are_dropped_with_a_reason_or_resync_the_book_and_nothing_crashes(
    harness, streams, venue
):
    report = harness.fuzz_venue(
        venue, FUZZED, SEED, streams[venue], harness.foreign(streams, venue)
    )
    assert report.crash_count == 0, "\n".join(report.samples)
    assert report.mutated >= FUZZED
    # the run exercised what the issue found, and is not vacuous
    assert set(harness.WEIGHTS) <= set(report.mutations)
    assert report.dropped["too_deep"] > 0
    assert report.dropped["malformed"] > 0
    assert report.outcomes["bad_level"] > 0  # bad levels and crossed books resynced
    assert report.published > 1000  # clean frames between the fuzzed ones still apply


def test_the_same_seed_fuzzes_the_same_frames(harness, streams):
    foreign = harness.foreign(streams, "binance")
    runs = [harness.fuzz_venue("binance", 300, SEED, streams["binance"], foreign) for _ in range(2)]
    assert runs[0].mutations == runs[1].mutations
    assert runs[0].outcomes == runs[1].outcomes
    assert runs[0].frames == runs[1].frames
