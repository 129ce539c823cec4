"""Strategies by name, checked before anything runs.

A name is a built-in's (``market_maker``) or the user's own class
(``"package.module:Class"``).

A user's class is imported with `importlib.import_module` from ``sys.path`` as it is
(the ``tradeactors`` command puts the current directory first on it, as
``python -m`` does), looked up in its module, and checked: it must be a class with
every callback of the `Strategy` protocol (a `Strategy` subclass has them all). Its
parameters go to its constructor as keyword arguments; a parameter whose
``__init__`` argument is annotated is converted to that type first
(``msgspec.convert(..., strict=False)``: ``"5"`` from ``--param size=5`` becomes 5).
An unknown parameter, a missing one (no default), a value that does not convert, or a
constructor that raises is a `StrategyLoadError` naming the strategy and what is wrong.

`strategy_factory` returns a callable that builds a *fresh* strategy at each call: the
strategy actor calls it at each (re)start, so a restarted strategy starts from its
parameters, never from the state of the incarnation that crashed.
"""

from __future__ import annotations

import copy
import difflib
import functools
import importlib
import inspect
import re
import reprlib
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.errors import ConfigError, StrategyLoadError
from tradeactors.strategy.api import view_depth_of

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from tradeactors.strategy.api import Strategy

__all__ = [
    "CALLBACKS",
    "check_strategy_class",
    "is_user_spec",
    "live_strategy",
    "make_strategy",
    "missing_callbacks",
    "parse_params",
    "strategy_actor_name",
    "strategy_class",
    "strategy_factory",
    "strategy_names",
]

CALLBACKS = (
    "on_start",
    "on_book",
    "on_trade",
    "on_order_update",
    "on_fill",
    "on_timer",
    "on_stop",
)
"""The callbacks of the `Strategy` protocol: a strategy has every one (callable)."""

_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_SPEC = re.compile(rf"(?P<module>{_DOTTED}):(?P<attr>{_DOTTED})")
_USER_HINT = "or your own class as 'package.module:Class'"


def strategy_names() -> list[str]:
    """The names of the built-in strategies."""
    from tradeactors.strategy.builtin import BUILTINS  # noqa: PLC0415 - keep imports light

    return sorted(BUILTINS)


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``--param KEY=VALUE`` arguments as a mapping (sorted by key).

    A value is a string (the strategy's annotations convert it), or JSON when it starts
    with ``[`` or ``{`` (a list, e.g. a volume profile).

    Raises:
        ConfigError: an argument without ``=`` or without a key, or bad JSON.

    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE")
        if value.startswith(("[", "{")):
            try:
                params[key] = msgspec.json.decode(value)
            except msgspec.DecodeError as exc:
                raise ConfigError(f"--param {item!r}: not JSON: {exc}") from exc
        else:
            params[key] = value
    return dict(sorted(params.items()))


def is_user_spec(name: str) -> bool:
    """True if ``name`` names the user's own class (``package.module:Class``), not a built-in."""
    return ":" in name


def strategy_actor_name(name: str) -> str:
    """The name of the strategy's actor (its path is ``strategies/<this>``), from the config.

    A built-in's name as it is; a user's class in snake case (``pkg.mod:MyStrategy`` ->
    ``my_strategy``). Nothing is imported.
    """
    if not is_user_spec(name):
        return name
    return snake_case(name.rpartition(":")[2].rpartition(".")[2]) or "strategy"


def snake_case(name: str) -> str:
    """``MyStrategy`` -> ``my_strategy``, ``HTTPQuoter`` -> ``http_quoter``."""
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", words)
    return words.lower()


def missing_callbacks(obj: object) -> list[str]:
    """The callbacks of the `Strategy` protocol that ``obj`` (a class or an instance) lacks."""
    return [name for name in CALLBACKS if not callable(getattr(obj, name, None))]


def strategy_class(spec: str) -> type[Any]:
    """The class ``spec`` (``package.module:Class``) names, imported and checked.

    Raises:
        StrategyLoadError: a malformed spec, the module not found or failing to import,
            no such attribute, not a class, or a class that lacks callbacks.

    """
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        raise StrategyLoadError(
            spec, "expected 'package.module:Class' (a module path, a colon, a class name)"
        )
    module_name, attr = match["module"], match["attr"]
    module = _import(spec, module_name)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise StrategyLoadError(
                spec, f"module {module_name!r} has no attribute {attr!r}{hint}"
            ) from None
    check_strategy_class(obj, spec)
    return typing.cast("type[Any]", obj)


def check_strategy_class(obj: object, spec: str) -> None:
    """Raise `StrategyLoadError` unless ``obj`` is a class with every callback."""
    if not isinstance(obj, type):
        raise StrategyLoadError(
            spec,
            f"{_shown(spec)} is {_kind(obj)}, not a class: give a Strategy subclass "
            f"(tradeactors.Strategy)",
        )
    missing = missing_callbacks(obj)
    if missing:
        raise StrategyLoadError(
            spec,
            f"class {obj.__name__} does not satisfy the Strategy protocol: it has no "
            f"{', '.join(missing)} (subclass tradeactors.Strategy: every callback does "
            f"nothing by default)",
        )
    try:
        view_depth_of(obj)  # the class's own; one set in __init__ is checked at start
    except ValueError as exc:
        raise StrategyLoadError(spec, f"class {obj.__name__}: {exc}") from None


def strategy_factory(name: str, params: Mapping[str, Any] | None = None) -> Callable[[], Strategy]:
    """What builds strategy ``name`` with ``params``: a fresh object at each call.

    ``name`` is a built-in's or ``package.module:Class``. Everything that can be checked
    without building one is checked here (the import, the class, the parameters' names
    and types); the constructor runs at each call.

    Raises:
        ConfigError: an unknown built-in or a bad parameter of one;
            `StrategyLoadError` for a user's class (see `strategy_class`).

    """
    if not is_user_spec(name):
        return _builtin_factory(name, params)
    cls = strategy_class(name)
    kwargs = _keyword_params(name, cls, dict(params or {}))
    return _Construct(name, cls, kwargs)


def make_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """A strategy by name (a built-in's or ``package.module:Class``), with its parameters checked.

    Raises:
        ConfigError: unknown strategy, unknown parameter, or a value of the wrong type
            (a `StrategyLoadError` for a user's class, also when its constructor raises).

    """
    return strategy_factory(name, params)()


class _Construct:
    """Builds the user's strategy: ``cls(**kwargs)``, with a copy of the parameters each time."""

    def __init__(self, spec: str, cls: type[Any], kwargs: dict[str, Any]) -> None:
        self.spec = spec
        self.cls = cls
        self.kwargs = kwargs

    def __call__(self) -> Strategy:
        kwargs = copy.deepcopy(self.kwargs)  # no incarnation shares a mutable parameter
        try:
            strategy: Strategy = self.cls(**kwargs)
        except Exception as exc:
            shown = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
            raise StrategyLoadError(
                self.spec,
                f"{self.cls.__name__}({shown}) raised {type(exc).__name__}: {exc}",
                key="",
            ) from exc
        return strategy

    def __repr__(self) -> str:
        return f"<strategy factory {self.spec}>"


def _builtin_factory(name: str, params: Mapping[str, Any] | None) -> Callable[[], Strategy]:
    from tradeactors.strategy.builtin import BUILTINS  # noqa: PLC0415

    try:
        cls, params_type = BUILTINS[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r} (known: {', '.join(sorted(BUILTINS))}; {_USER_HINT})"
        ) from None
    try:
        parsed = msgspec.convert(dict(params or {}), params_type, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"strategy {name!r}: {exc}") from exc
    except ValueError as exc:  # a __post_init__ check
        raise ConfigError(f"strategy {name!r}: {exc}") from exc
    return functools.partial(cls, parsed)  # the params struct is frozen: safe to share


def _import(spec: str, module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(f"{missing}."):
            raise StrategyLoadError(
                spec, f"module {module_name!r} not found ({_path_hint(missing)})"
            ) from exc
        raise StrategyLoadError(
            spec, f"importing module {module_name!r} failed: {exc}"
        ) from exc  # an import inside the module
    except Exception as exc:  # the module's own code raised: SyntaxError, anything
        raise StrategyLoadError(
            spec, f"importing module {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from exc


def _path_hint(missing: str) -> str:
    top = missing.partition(".")[0]
    cwd = str(Path.cwd())
    on_path = any(entry in ("", cwd) for entry in sys.path)
    where = (
        f"the current directory {cwd} is on sys.path"
        if on_path
        else f"the current directory {cwd} is not on sys.path"
    )
    return (
        f"no {top!r} on sys.path; {where}: run from the directory that holds {top}/ "
        f"(or {top}.py), install the package, or add its directory to PYTHONPATH"
    )


def _keyword_params(spec: str, cls: type[Any], params: dict[str, Any]) -> dict[str, Any]:
    """``params`` checked against ``cls``'s constructor, converted to its annotations."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # a class whose signature Python cannot tell
        return params
    taken = {
        name: parameter
        for name, parameter in signature.parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }
    any_keyword = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    listed = ", ".join(taken) if taken else "no parameters"
    for key in params:
        if key not in taken and not any_keyword:
            close = difflib.get_close_matches(key, list(taken), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise StrategyLoadError(
                spec,
                f"unknown parameter {key!r}{hint}; {cls.__name__} takes: {listed}",
                key=key,
            )
    for name, parameter in signature.parameters.items():
        required = parameter.default is parameter.empty and parameter.kind not in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        )
        if required and name not in params:
            raise StrategyLoadError(
                spec,
                f"missing parameter {name!r} ({cls.__name__} has no default for it); "
                f"{cls.__name__} takes: {listed}",
                key="",
            )
    hints = _hints(cls)
    converted = dict(params)
    for key, value in params.items():
        annotation = hints.get(key)
        if annotation is None:
            continue
        try:
            converted[key] = msgspec.convert(value, annotation, strict=False)
        except msgspec.ValidationError as exc:
            raise StrategyLoadError(
                spec,
                f"parameter {key!r}: {value!r} is not a {_type_name(annotation)} ({exc})",
                key=key,
            ) from exc
        except TypeError:  # a type msgspec does not convert: passed as it is
            continue
    return converted


def _hints(cls: type[Any]) -> dict[str, Any]:
    """The annotations of ``cls.__init__``'s arguments (empty if they cannot be resolved)."""
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: no conversion, not an error
        return {}


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)


def _kind(obj: object) -> str:
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "a function"
    if inspect.ismodule(obj):
        return "a module"
    return f"a {type(obj).__name__} instance"


def _shown(spec: str) -> str:
    return spec.strip()


def live_strategy(
    strategy: object, params: Mapping[str, Any] | None = None
) -> tuple[str, Callable[[], Strategy]]:
    """``(actor name, factory)`` for a strategy given in code (``TradingSystem(strategy=...)``).

    ``strategy`` is a class (called with ``params`` as keyword arguments at each start,
    checked and converted as for ``package.module:Class``; none: no arguments) or a factory: any
    other callable that returns a fresh strategy at each call (``functools.partial(
    MyStrategy, size=3)``, a lambda). An *instance* is refused: the live tree builds
    one per actor incarnation, so that a restart after a crash starts from the
    parameters, not from the state that crashed; a shared instance would carry that
    state over. The factory's product is checked at each call.

    Raises:
        StrategyLoadError: an instance, something neither a class nor callable, a
            class without every callback or whose parameters do not fit ``params``
            (none given: that cannot be built without arguments), or ``params`` with
            a factory.

    """
    shown = _code_name(strategy)
    if isinstance(strategy, type):
        check_strategy_class(strategy, shown)
        kwargs = _keyword_params(shown, strategy, dict(params or {}))
        return snake_case(strategy.__name__), _Checked(shown, _Construct(shown, strategy, kwargs))
    if params:
        raise StrategyLoadError(
            shown,
            "parameters go with a class or a strategy's name, not with a factory: bind "
            "them in the factory (functools.partial(MyStrategy, size=3))",
            key="",
        )
    if not missing_callbacks(strategy):
        raise StrategyLoadError(
            shown,
            f"an instance of {type(strategy).__name__}, not its class or a factory: the "
            f"tree builds a fresh strategy at each (re)start of its actor, so that a "
            f"restart does not inherit the state that crashed; pass "
            f"{type(strategy).__name__} or e.g. functools.partial({type(strategy).__name__}, "
            f"...)",
        )
    if not callable(strategy):
        raise StrategyLoadError(
            shown, f"{_kind(strategy)}: expected a Strategy class or a factory of strategies"
        )
    func = strategy.func if isinstance(strategy, functools.partial) else strategy
    name = str(getattr(func, "__name__", ""))
    name = snake_case(name) if name.isidentifier() else "strategy"
    return name, _Checked(shown, typing.cast("Callable[[], Strategy]", strategy))


class _Checked:
    """Calls a factory and checks that what it made is a strategy."""

    def __init__(self, spec: str, factory: Callable[[], Strategy]) -> None:
        self.spec = spec
        self.factory = factory

    def __call__(self) -> Strategy:
        made = self.factory()
        missing = missing_callbacks(made)
        if missing:
            raise StrategyLoadError(
                self.spec,
                f"the factory made {_kind(made)} without {', '.join(missing)}: "
                f"not a strategy (subclass tradeactors.Strategy)",
            )
        return made

    def __repr__(self) -> str:
        return f"<strategy factory {self.spec}>"


def _code_name(obj: object) -> str:
    """``module:Class`` of a class or function given in code, else its repr (short)."""
    target = obj.func if isinstance(obj, functools.partial) else obj
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}:{qualname}"
    return reprlib.repr(obj)
