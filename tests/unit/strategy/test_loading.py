"""The user's own strategy by ``package.module:Class``: found, checked, built per call,
and every way it can be wrong named with the module, the class and what is wrong."""

from __future__ import annotations

import functools
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from tradeactors.config import load_config
from tradeactors.errors import ConfigError, StrategyLoadError
from tradeactors.strategy import (
    live_strategy,
    make_strategy,
    parse_params,
    strategy_actor_name,
    strategy_factory,
)
from tradeactors.strategy.api import Strategy, describe
from tradeactors.trading.paths import actor_paths

if TYPE_CHECKING:
    from pathlib import Path

GOOD = """
    from tradeactors import Strategy

    class Quoter(Strategy):
        def __init__(self, *, size: int = 5, spread: float = 1.5, tags: list[str] | None = None):
            if size < 1:
                raise ValueError(f"size must be >= 1, not {size}")
            self.size, self.spread, self.tags = size, spread, tags if tags is not None else []

    class NeedsSize(Strategy):
        def __init__(self, size):
            self.size = size

    class Loose(Strategy):
        def __init__(self, **params):
            self.params = params

    class HalfDone:
        def on_book(self, ctx, view): ...
        def on_stop(self, ctx): ...

    def quoter():
        return Quoter()

    quoter_instance = Quoter()
"""


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package ``mystrats_<n>`` on sys.path with the modules above; removed afterwards."""
    name = f"mystrats_{tmp_path.name.replace('-', '_')}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "good.py").write_text(textwrap.dedent(GOOD))
    (root / "broken.py").write_text("x = 1 / 0\n")
    (root / "needs_numpy.py").write_text("import numpy_that_is_not_installed\n")
    (root / "syntax.py").write_text("def f(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def _error(spec: str, params: dict[str, object] | None = None) -> StrategyLoadError:
    with pytest.raises(StrategyLoadError) as caught:
        make_strategy(spec, params)
    assert caught.value.spec == spec
    assert str(caught.value).startswith(f"strategy {spec!r}: ")
    return caught.value


class TestFound:
    """A class that satisfies the protocol is built from its parameters."""

    def test_built_with_keyword_params_converted_to_the_annotations(self, package):
        strategy = make_strategy(f"{package}.good:Quoter", {"size": "7", "spread": "2.5"})
        assert (strategy.size, strategy.spread) == (7, 2.5)  # type: ignore[attr-defined]

    def test_toml_values_pass_as_they_are(self, package):
        strategy = make_strategy(f"{package}.good:Quoter", {"size": 3, "tags": ["a"]})
        assert (strategy.size, strategy.tags) == (3, ["a"])  # type: ignore[attr-defined]

    def test_each_call_of_the_factory_is_a_fresh_object_with_its_own_params(self, package):
        factory = strategy_factory(f"{package}.good:Quoter", {"tags": ["a"]})
        first, second = factory(), factory()
        assert first is not second
        first.tags.append("changed")  # type: ignore[attr-defined]
        assert second.tags == ["a"]  # type: ignore[attr-defined]
        assert factory().tags == ["a"]  # type: ignore[attr-defined]

    def test_a_constructor_taking_any_keyword_takes_any_param(self, package):
        strategy = make_strategy(f"{package}.good:Loose", {"whatever": "1"})
        assert strategy.params == {"whatever": "1"}  # type: ignore[attr-defined]

    def test_its_actor_is_named_after_the_class_in_snake_case(self):
        assert strategy_actor_name("pkg.mod:MyStrategy") == "my_strategy"
        assert strategy_actor_name("pkg.mod:HTTPQuoter") == "http_quoter"
        assert strategy_actor_name("market_maker") == "market_maker"

    def test_reports_name_it_by_its_name_or_else_its_class(self, package):
        assert describe(make_strategy(f"{package}.good:Quoter")) == "Quoter"
        assert describe(make_strategy("vwap")) == "vwap"


class TestWhatIsWrong:
    """Each problem is one `StrategyLoadError` (a `ConfigError`) that says which and why."""

    def test_a_spec_without_a_colon_is_an_unknown_built_in_with_the_hint(self):
        with pytest.raises(ConfigError, match=r"or your own class as 'package.module:Class'"):
            make_strategy("mypackage.MyStrategy")

    @pytest.mark.parametrize("spec", ["pkg:", ":Cls", "pkg.:Cls", "pkg:Cls:x", "1pkg:Cls"])
    def test_a_malformed_spec(self, spec):
        assert "expected 'package.module:Class'" in _error(spec).reason

    def test_a_module_not_found_says_where_it_was_looked_for(self):
        reason = _error("no_such_pkg_xyz.strategies:Mine").reason
        assert reason.startswith("module 'no_such_pkg_xyz.strategies' not found (no ")
        assert "'no_such_pkg_xyz' on sys.path; the current directory " in reason
        assert "PYTHONPATH" in reason

    def test_a_submodule_not_found(self, package):
        reason = _error(f"{package}.nope:Mine").reason
        assert reason.startswith(f"module '{package}.nope' not found")

    def test_a_module_whose_own_import_fails(self, package):
        reason = _error(f"{package}.needs_numpy:Mine").reason
        assert reason == (
            f"importing module '{package}.needs_numpy' failed: "
            "No module named 'numpy_that_is_not_installed'"
        )

    def test_a_module_that_raises_on_import(self, package):
        reason = _error(f"{package}.broken:Mine").reason
        assert reason == (
            f"importing module '{package}.broken' raised ZeroDivisionError: division by zero"
        )

    def test_a_module_with_a_syntax_error(self, package):
        assert "raised SyntaxError" in _error(f"{package}.syntax:Mine").reason

    def test_a_missing_attribute_with_the_closest_name(self, package):
        reason = _error(f"{package}.good:Qouter").reason
        hint = "(did you mean 'Quoter'?)"
        assert reason == f"module '{package}.good' has no attribute 'Qouter' {hint}"

    def test_a_function_is_not_a_class(self, package):
        reason = _error(f"{package}.good:quoter").reason
        assert reason.startswith(f"{package}.good:quoter is a function, not a class")

    def test_an_instance_is_not_a_class(self, package):
        reason = _error(f"{package}.good:quoter_instance").reason
        assert "is a Quoter instance, not a class" in reason

    def test_a_class_without_every_callback_names_the_missing_ones(self, package):
        reason = _error(f"{package}.good:HalfDone").reason
        assert reason.startswith(
            "class HalfDone does not satisfy the Strategy protocol: it has no on_start, "
            "on_trade, on_order_update, on_fill, on_timer (subclass tradeactors.Strategy"
        )

    def test_an_unknown_parameter_with_the_ones_it_takes(self, package):
        error = _error(f"{package}.good:Quoter", {"sise": 3})
        assert error.key == "sise"
        assert error.reason == (
            "unknown parameter 'sise' (did you mean 'size'?); Quoter takes: size, spread, tags"
        )

    def test_a_missing_parameter(self, package):
        error = _error(f"{package}.good:NeedsSize")
        assert error.key == ""
        assert error.reason.startswith("missing parameter 'size' (NeedsSize has no default")

    def test_a_value_of_the_wrong_type(self, package):
        error = _error(f"{package}.good:Quoter", {"size": "five"})
        assert error.key == "size"
        assert error.reason.startswith("parameter 'size': 'five' is not a int (")

    def test_a_constructor_that_refuses_its_parameters(self, package):
        error = _error(f"{package}.good:Quoter", {"size": 0})
        assert error.key == ""
        assert error.reason == "Quoter(size=0) raised ValueError: size must be >= 1, not 0"
        assert isinstance(error.__cause__, ValueError)


class TestGivenInCode:
    """`live_strategy`: what `TradingSystem(strategy=...)` takes."""

    def test_a_class_is_called_with_no_arguments_for_each_incarnation(self):
        class Mine(Strategy):
            pass

        name, factory = live_strategy(Mine)
        assert name == "mine"
        first, second = factory(), factory()
        assert isinstance(first, Mine)
        assert first is not second

    def test_a_partial_is_named_after_its_class(self):
        class SpreadCapture(Strategy):
            def __init__(self, size: int) -> None:
                self.size = size

        name, factory = live_strategy(functools.partial(SpreadCapture, size=3))
        assert name == "spread_capture"
        assert factory().size == 3  # type: ignore[attr-defined]

    def test_an_instance_is_refused(self):
        with pytest.raises(StrategyLoadError, match="not its class or a factory"):
            live_strategy(Strategy())

    def test_something_neither_class_nor_callable_is_refused(self):
        with pytest.raises(StrategyLoadError, match="expected a Strategy class or a factory"):
            live_strategy(42)

    def test_a_factory_that_makes_no_strategy_fails_when_called(self):
        _name, factory = live_strategy(lambda: "not a strategy")
        with pytest.raises(StrategyLoadError, match="the factory made a str instance without"):
            factory()


class TestParams:
    """``--param KEY=VALUE``."""

    def test_strings_and_json_lists(self):
        assert parse_params(["size=5", "profile=[1, 2]"]) == {"profile": [1, 2], "size": "5"}

    @pytest.mark.parametrize("item", ["size", "=5", "profile=[1,"])
    def test_malformed(self, item):
        with pytest.raises(ConfigError, match=r"--param"):
            parse_params([item])


class TestInAConfigFile:
    """``[strategy] name = "package.module:Class"``: errors with the file, the line and the key."""

    def _load(self, tmp_path: Path, text: str) -> str:
        path = tmp_path / "trading.toml"
        path.write_text(textwrap.dedent(text))
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        return str(caught.value)

    def test_the_class_and_its_params_are_taken(self, package, tmp_path):
        path = tmp_path / "trading.toml"
        path.write_text(f'[strategy]\nname = "{package}.good:Quoter"\nparams = {{ size = 3 }}\n')
        config = load_config(path)
        assert config.strategy.params == {"size": 3}
        assert actor_paths(config).strategies == {"quoter": "strategies/quoter/strategy"}

    def test_without_params_it_takes_its_defaults(self, package, tmp_path):
        path = tmp_path / "trading.toml"
        path.write_text(f'[strategy]\nname = "{package}.good:Quoter"\n')
        assert load_config(path).strategy.params == {}

    def test_a_module_not_found_is_the_name_key(self, tmp_path):
        message = self._load(tmp_path, '[run]\nduration = 1\n[strategy]\nname = "nopkg_q:Mine"\n')
        assert message.startswith(
            f"{tmp_path}/trading.toml:4: [strategy] name: strategy 'nopkg_q:Mine': "
            "module 'nopkg_q' not found"
        )

    def test_a_wrong_parameter_is_its_own_key(self, package, tmp_path):
        message = self._load(
            tmp_path,
            f"""\
            [strategy]
            name = "{package}.good:Quoter"
            [strategy.params]
            size = 2
            sise = 3
            """,
        )
        assert message.startswith(
            f"{tmp_path}/trading.toml:5: [strategy.params] sise: strategy "
            f"'{package}.good:Quoter': unknown parameter 'sise'"
        )

    def test_a_refused_constructor_is_the_params_table(self, package, tmp_path):
        message = self._load(
            tmp_path,
            f"""\
            [strategy]
            name = "{package}.good:Quoter"

            [strategy.params]
            size = 0
            """,
        )
        assert message == (
            f"{tmp_path}/trading.toml:4: [strategy.params] strategy '{package}.good:Quoter': "
            "Quoter(size=0) raised ValueError: size must be >= 1, not 0"
        )


class TestViewDepth:
    """`Strategy.view_depth`: read with getattr, None or a whole number of levels."""

    def test_none_or_a_depth(self):
        from tradeactors.strategy.api import MAX_VIEW_DEPTH, Strategy, view_depth_of

        class Top(Strategy):
            view_depth = 1

        assert view_depth_of(Strategy()) is None
        assert view_depth_of(object()) is None  # need not subclass Strategy
        assert view_depth_of(Top()) == 1
        Top.view_depth = MAX_VIEW_DEPTH
        assert view_depth_of(Top()) == MAX_VIEW_DEPTH

    @pytest.mark.parametrize("depth", [0, -1, 1001, 1.0, True, "5", 10**60])
    def test_anything_else_is_refused(self, depth):
        from tradeactors.strategy.api import Strategy, view_depth_of

        class Odd(Strategy):
            view_depth = depth

        with pytest.raises(ValueError, match="view_depth"):
            view_depth_of(Odd())


def test_a_class_whose_view_depth_is_no_depth_is_refused_at_load():
    from tradeactors.errors import StrategyLoadError
    from tradeactors.strategy import check_strategy_class
    from tradeactors.strategy.api import Strategy

    class Deep(Strategy):
        view_depth = 10_000

    with pytest.raises(StrategyLoadError, match="class Deep: view_depth = 10000"):
        check_strategy_class(Deep, "mod:Deep")
