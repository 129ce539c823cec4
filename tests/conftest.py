"""Shared fixtures. ``TRADEACTORS_RUNTIME=gevent`` runs the suite under the gevent runtime."""

from __future__ import annotations

import os

RUNTIME = os.environ.get("TRADEACTORS_RUNTIME", "threads")
if RUNTIME == "gevent":
    from tradeactors.supervision.runtime import use_gevent

    use_gevent()
elif RUNTIME != "threads":
    raise RuntimeError(f"TRADEACTORS_RUNTIME must be 'threads' or 'gevent', not {RUNTIME!r}")

import io  # noqa: E402 - the runtime must be chosen before anything else is imported
import threading  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import pytest  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from tradeactors.observability import configure_logging  # noqa: E402
from tradeactors.supervision import Supervisor, SupervisorSpec  # noqa: E402
from tradeactors.supervision.runtime import current_runtime  # noqa: E402
from tradeactors.supervision.testing import EventRecorder  # noqa: E402

assert current_runtime() == RUNTIME, f"asked for {RUNTIME}, running {current_runtime()}"

# Logs go to a buffer: tests that check logs use structlog.testing.capture_logs.
configure_logging(level="debug", json=True, stream=io.StringIO())


def pytest_report_header() -> str:
    return f"tradeactors runtime: {current_runtime()}"


@pytest.fixture(autouse=True, scope="session")
def state_home_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`tradeactors run` (and every process a test starts) keeps its state directory
    (run.json, control token, logs) under the session's tmp, never in the real home.
    A test that needs its own sets XDG_STATE_HOME (or --state-dir) itself."""
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Every thread (actor) a test starts has ended when the test ends."""
    before = set(threading.enumerate())
    yield
    leaked = []
    for thread in threading.enumerate():
        if thread not in before:
            thread.join(timeout=10)
            if thread.is_alive():
                leaked.append(thread.name)
    assert not leaked, f"threads still running after the test: {leaked}"


TreeFactory = Callable[..., Supervisor]


@pytest.fixture
def make_tree() -> Iterator[TreeFactory]:
    """Build and start trees; each is stopped when the test ends, whatever happened."""
    trees: list[Supervisor] = []

    def make(spec: SupervisorSpec, *, start: bool = True, **kwargs: object) -> Supervisor:
        tree = Supervisor(spec, **kwargs)  # type: ignore[arg-type]
        trees.append(tree)
        if start:
            tree.start(timeout=10)
        return tree

    yield make
    for tree in reversed(trees):
        tree.stop(timeout=10)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def events() -> EventRecorder:
    return EventRecorder()
