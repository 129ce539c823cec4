"""The public names are exported and importable, and the docs import only them."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tradeactors
from tradeactors import errors, supervision

ROOT = Path(__file__).resolve().parents[2]

# The modules users import from; each has an `__all__`. Everything else is internal.
PUBLIC_MODULES = (
    "tradeactors",
    "tradeactors.bus",
    "tradeactors.core",
    "tradeactors.errors",
    "tradeactors.observability",
    "tradeactors.strategy",
    "tradeactors.supervision",
    "tradeactors.supervision.runtime",
    "tradeactors.supervision.testing",
    "tradeactors.top",
)

# Where users are taught what to import.
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

_PYTHON_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _python_blocks(document: Path) -> list[str]:
    return _PYTHON_BLOCK.findall(document.read_text(encoding="utf-8"))


def _tradeactors_imports(source: str) -> list[tuple[str, tuple[str, ...]]]:
    """(module, imported names) of each import of tradeactors; `import X` imports no names."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tradeactors"):
            found.append((node.module or "", tuple(alias.name for alias in node.names)))
        elif isinstance(node, ast.Import):
            found.extend((a.name, ()) for a in node.names if a.name.startswith("tradeactors"))
    return found


def _in_fresh_interpreter(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


class TestExports:
    """Every public module exports what its `__all__` says, and nothing is missing."""

    @pytest.mark.parametrize("name", PUBLIC_MODULES)
    def test_every_name_in_all_of_a_public_module_resolves(self, name):
        module = importlib.import_module(name)
        assert module.__all__, name
        assert len(set(module.__all__)) == len(module.__all__), f"{name}: duplicates in __all__"
        for export in module.__all__:
            assert getattr(module, export) is not None, f"{name}.{export}"

    def test_the_package_exports_what_the_readme_and_docs_teach(self):
        expected = {
            "TradingSystem", "Config", "load_config", "SubmitOrder", "CancelOrder",
            "OrderUpdate", "Side", "TimeInForce", "DenyReason", "OrderStatus",
            "TradingState", "KillSwitchChanged", "Strategy", "make_strategy",
            "strategy_names", "VenueAdapter", "MarketData", "OrderEntry", "register_venue",
            "venue_adapter", "venue_kinds", "ControlServer", "serve_metrics", "run_backtest",
            "use_gevent", "TradeActorsError", "__version__",
        }  # fmt: skip
        assert expected <= set(tradeactors.__all__)

    def test_each_lazy_name_is_the_object_of_its_home_module(self):
        assert set(tradeactors._EXPORTS) == set(tradeactors.__all__) - {"__version__"}
        for name, home in tradeactors._EXPORTS.items():
            assert getattr(tradeactors, name) is getattr(importlib.import_module(home), name)

    def test_the_type_checking_imports_match_the_lazy_table(self):
        # mypy and IDEs read the TYPE_CHECKING block, the interpreter reads _EXPORTS.
        tree = ast.parse(Path(tradeactors.__file__).read_text(encoding="utf-8"))
        block = next(
            node
            for node in tree.body
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        )
        imported = {
            alias.name: node.module
            for node in block.body
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert imported == tradeactors._EXPORTS

    def test_supervision_exports_the_documented_api(self):
        expected = {
            "Supervisor", "SupervisorSpec", "ChildSpec", "Restart", "Strategy", "Backoff",
            "MailboxSpec", "Overflow", "Address", "SupervisedActor", "ActorContext",
            "FaultInjector", "DeadLetters", "DeadLetter", "ExitReason",
        }  # fmt: skip
        assert expected <= set(supervision.__all__)

    def test_dir_of_the_package_lists_every_export(self):
        assert set(tradeactors.__all__) <= set(dir(tradeactors))

    @pytest.mark.parametrize("module", [tradeactors, supervision])
    def test_unknown_attribute_is_an_attribute_error(self, module):
        with pytest.raises(AttributeError, match="NoSuchThing"):
            _ = module.NoSuchThing

    def test_every_error_is_a_tradeactors_error(self):
        for name in errors.__all__:
            assert issubclass(getattr(errors, name), errors.TradeActorsError)


class TestDocs:
    """The code in README.md and docs/*.md imports only public names."""

    def test_the_docs_have_python_code_that_imports_tradeactors(self):
        blocks = [block for document in DOCUMENTS for block in _python_blocks(document)]
        imports = [found for block in blocks for found in _tradeactors_imports(block)]
        assert len(blocks) >= 8
        assert len(imports) >= 6

    @pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
    def test_code_blocks_import_only_public_names(self, document):
        for block in _python_blocks(document):
            for module_name, names in _tradeactors_imports(block):
                assert module_name in PUBLIC_MODULES, f"{document.name}: {module_name}"
                public = set(importlib.import_module(module_name).__all__)
                for name in names:
                    assert name in public, f"{document.name}: {name} from {module_name}"


class TestLaziness:
    """Importing the package imports no pykka, so that the gevent runtime can be chosen first."""

    def test_importing_the_package_does_not_import_pykka(self):
        code = (
            "import sys, tradeactors, tradeactors.supervision.runtime\n"
            "print('pykka' in sys.modules)\n"
        )
        assert _in_fresh_interpreter(code) == "False"
        assert tradeactors.__version__
        assert importlib.import_module("tradeactors.supervision.testing")

    def test_reading_all_and_use_gevent_does_not_import_pykka_but_trading_system_does(self):
        code = (
            "import sys, tradeactors\n"
            "assert 'TradingSystem' in tradeactors.__all__\n"
            "assert 'TradingSystem' in dir(tradeactors)\n"
            "assert callable(tradeactors.use_gevent)\n"
            "print('pykka' in sys.modules)\n"
            "print(tradeactors.TradingSystem.__name__, 'pykka' in sys.modules)\n"
        )
        assert _in_fresh_interpreter(code).splitlines() == ["False", "TradingSystem True"]
