"""The public names are exported and importable."""

from __future__ import annotations

import importlib

import pytest

import tradeactors
from tradeactors import errors, observability, supervision


@pytest.mark.parametrize("module", [supervision, observability, errors])
def test_every_name_in_all_is_importable(module):
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_supervision_exports_the_documented_api():
    expected = {
        "Supervisor", "SupervisorSpec", "ChildSpec", "Restart", "Strategy", "Backoff",
        "MailboxSpec", "Overflow", "Address", "SupervisedActor", "ActorContext",
        "FaultInjector", "DeadLetters", "DeadLetter", "ExitReason",
    }  # fmt: skip
    assert expected <= set(supervision.__all__)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        _ = supervision.NoSuchThing  # type: ignore[attr-defined]


def test_every_error_is_a_tradeactors_error():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.TradeActorsError)


def test_importing_the_package_does_not_import_pykka():
    # So that the gevent runtime can be chosen first. (Checked in a fresh interpreter.)
    import subprocess
    import sys

    code = "import sys, tradeactors, tradeactors.supervision.runtime; print('pykka' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert tradeactors.__version__
    assert importlib.import_module("tradeactors.supervision.testing")
