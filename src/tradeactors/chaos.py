"""Fault scenarios with verdicts: ``tradeactors chaos SCENARIO.toml``.

A scenario names the configuration, a duration, a list of faults, each at a time
offset (``at``, seconds from the start) or after N messages handled by an actor
(``after_messages`` with ``path``), and what the faults must have caused (``[expect]``)::

    name = "gateway crash under load"
    duration = 6.0
    config = "default"            # or a TOML path, relative to the scenario file

    [overrides.risk]              # optional: merged into the configuration
    max_position = 40

    [[fault]]
    at = 2.0
    kind = "crash"                # see FAULTS
    path = "execution/gateway.sim"

    [expect]                      # see Expect
    min_gateway_deaths = 1

It runs the trading tree against the embedded simulated exchange, in the protocol of
the venue's kind (``sim``, ``binance`` or ``kraken``: ``[overrides.venue] kind`` or
``load_scenario``'s ``venue_kind``), injects the faults, and at the end checks
invariants (each says what it means where the protocols differ: a venue without
cancel-on-disconnect keeps a dead gateway's orders until its next session), printing
``PASS name: detail``, ``FAIL name: detail`` or ``SKIP name: why`` (nothing to check)
for each, then whether every fault fired and every expectation was met; the exit
status is 0 only if nothing failed. A bad scenario (unknown key, unknown fault, bad
path, bad time) is refused with the line at fault before anything starts.
"""

from __future__ import annotations

import difflib
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from tradeactors.config import Config, VenueConfig, load_config
from tradeactors.core.execution import FillIds, UniqueIds
from tradeactors.core.messages import OrderUpdate
from tradeactors.core.orders import OrderStatus
from tradeactors.core.risk import TradingState
from tradeactors.core.units import base_quote
from tradeactors.errors import ConfigError
from tradeactors.supervision import ActorEnded, ActorExited, ActorStarted, SupervisorEscalated
from tradeactors.supervision.runtime import current_runtime

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry

    from tradeactors.core.messages import OrderInfo
    from tradeactors.exchange.matching import OrderView
    from tradeactors.exchange.server import SimExchange
    from tradeactors.supervision import Address, Supervisor
    from tradeactors.trading.system import ShutdownSummary, StrategyInfo, TradingSystem

__all__ = [
    "FAULTS",
    "Expect",
    "Fault",
    "Observed",
    "Scenario",
    "StrategyObserved",
    "Verdict",
    "check_expectations",
    "check_strategies",
    "load_scenario",
    "run_scenario",
    "with_venues",
]

FAULTS = {
    "crash": "the actor at `path` raises on its next message",
    "stop": "the actor at `path` is killed abruptly (no on_stop, no on_failure)",
    "slow": "the actor at `path` takes `delay` s per message for `seconds` s",
    "drop_connection": "the venue closes the gateway's order-entry connection",
    "stall": "the venue's reports to the account are lost for `seconds` s (link open)",
    "corrupt_feed": "the venue cuts its next `count` depth frames in half",
    "feed_gap": "the venue never sends its next `count` depth frames",
    "reject_orders": "the venue refuses every new order for `seconds` s",
    "kill_switch": "the kill switch is tripped (HALTED; `state = 'reducing'` for REDUCING)",
}
_NEEDS_PATH = {"crash", "stop", "slow"}
_MAX_DEPTH = 1000  # a mailbox deeper than this during a scenario is a leak, not a burst
_SAMPLE_EVERY = 0.01  # seconds between two samples of every mailbox (threads runtime)

_Count = Annotated[int, msgspec.Meta(ge=0)]  # an [expect] minimum


class Fault(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One fault of a scenario."""

    kind: str
    at: float | None = None
    after_messages: int | None = None
    path: str = ""
    seconds: float = 1.0
    delay: float = 0.01
    count: int = 5
    state: str = "halted"

    def describe(self, number: int) -> str:
        """``fault 2 (crash risk after 20 messages)``: ``number`` counts from 1."""
        what = f"{self.kind} {self.path}".strip()
        when = f"at {self.at} s" if self.at is not None else f"after {self.after_messages} messages"
        return f"fault {number} ({what} {when})"


class Expect(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the faults of a scenario must have caused by its end (``[expect]``).

    Every key is a minimum; 0 (the default) asks for nothing. The ``min_crashes``,
    ``min_restarts`` and ``min_conflated`` tables are keyed by actor path. A new key
    here needs the field of the same name, without ``min_``, in `Observed`.
    """

    min_fills: _Count = 0
    """Fills of the account at the venue."""
    min_gateway_deaths: _Count = 0
    """Abnormal exits of the gateway (crash, kill, failed start)."""
    min_crashes: dict[str, _Count] = msgspec.field(default_factory=dict)
    """Abnormal exits of each actor path (crash, kill, failed start)."""
    min_restarts: dict[str, _Count] = msgspec.field(default_factory=dict)
    """Restarts of each actor path."""
    min_escalations: _Count = 0
    """Supervisors that exceeded their restart intensity."""
    min_kill_switch_trips: _Count = 0
    """Trips of the kill switch, whatever tripped it."""
    min_book_resyncs: _Count = 0
    """Times the book was cleared to resync (gap, bad level, crossed, ...)."""
    min_rejected_orders: _Count = 0
    """Orders the venue rejected."""
    min_conflated: dict[str, _Count] = msgspec.field(default_factory=dict)
    """Messages replaced by a newer one in each actor path's conflating mailbox."""
    stopped_strategies: list[str] = msgspec.field(default_factory=list)
    """Strategies that must have stopped alone: their own supervisor gave up (past
    its intensity), their scope ``strategy:<name>`` HALTED, none of their orders open
    at the venue at the end (`check_strategies`)."""
    healthy_strategies: list[str] = msgspec.field(default_factory=list)
    """Strategies the others' failures must leave untouched: never stopped or
    restarted, a fill after the stopped strategies stopped, no order denied, none
    cancelled but at their own request, their scopes and ``all`` never tripped
    (`check_strategies`)."""


class Scenario(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A scenario file."""

    name: str
    duration: float
    config: str = "default"
    overrides: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    fault: list[Fault] = msgspec.field(default_factory=list)
    settle: float = 1.0  # seconds after the duration before the checks
    expect: Expect = Expect()


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """One check's result: PASS, FAIL, or SKIP when there was nothing to check.

    ``passed`` is False only for a FAIL: a SKIP (``skipped``) does not fail the
    scenario by itself (an ``[expect]`` key is how a scenario asks for something to
    check).
    """

    name: str
    passed: bool
    detail: str
    skipped: bool = False

    @classmethod
    def skip(cls, name: str, why: str) -> Verdict:
        """A check with nothing to check, and why."""
        return cls(name=name, passed=True, detail=why, skipped=True)

    @property
    def outcome(self) -> str:
        """``PASS``, ``FAIL`` or ``SKIP``."""
        if self.skipped:
            return "SKIP"
        return "PASS" if self.passed else "FAIL"

    def line(self) -> str:
        """``PASS name: detail``, ``FAIL name: detail`` or ``SKIP name: why``."""
        return f"{self.outcome} {self.name}: {self.detail}"


class StrategyObserved(msgspec.Struct, kw_only=True):
    """What a run saw of one strategy, for `Expect`'s strategy keys.

    Counted while the tree ran, up to the checks (the shutdown's own halt and
    cancels are not in it).
    """

    stopped: str = ""
    """Why its own supervisor ended (``""``: it was running at the checks)."""
    crashes: int = 0
    """Abnormal exits of its actor."""
    restarts: int = 0
    """Restarts of its actor."""
    scope_state: str = "ACTIVE"
    """Its scope ``strategy:<name>``'s state at the checks."""
    scope_trips: tuple[str, ...] = ()
    """Each trip of its scopes (its own, its venues'), ``scope: source (reason)``."""
    fills: int = 0
    """Fills of its orders."""
    fills_after: int = 0
    """Fills of its orders after the stopped strategies had stopped (or the last fault)."""
    first_fill_after: float | None = None
    """Seconds from then to the first of those fills (None: none)."""
    denied: int | None = 0
    """Its orders denied (the strategy actor's own count; None: it could not be asked)."""
    denial_reasons: dict[str, int] = msgspec.field(default_factory=dict)
    """The denials' reasons, where the denied order's id tells whose it was."""
    cancelled_own: int = 0
    """Its orders cancelled at its own request (`OWN_CANCEL_REASONS`)."""
    cancelled_by_others: dict[str, int] = msgspec.field(default_factory=dict)
    """Its orders cancelled by someone else, by the reason given (``by the venue,
    unasked: ...`` when nobody here asked)."""
    orders: int = 0
    """Its orders the order manager knows (every one that passed risk)."""
    open_in_order_manager: int = 0
    """Its orders the order manager had open at the checks."""
    open_at_venue: int = 0
    """Its orders open at the venue at the checks."""


class Observed(msgspec.Struct, kw_only=True):
    """What a run saw happen, compared with the scenario's `Expect`."""

    fills: int = 0
    gateway_deaths: int = 0
    crashes: dict[str, int] = msgspec.field(default_factory=dict)
    restarts: dict[str, int] = msgspec.field(default_factory=dict)
    escalations: int = 0
    kill_switch_trips: int = 0
    book_resyncs: int = 0
    rejected_orders: int = 0
    conflated: dict[str, int] = msgspec.field(default_factory=dict)
    strategies: dict[str, StrategyObserved] = msgspec.field(default_factory=dict)
    """The strategies `Expect` names, by name (one missing: not observed)."""
    after: str = "the start"
    """What ``fills_after`` counts from: ``wide_btc stopped``, ``the last fault``..."""
    all_trips: tuple[str, ...] = ()
    """Each trip of the ``all`` scope while the tree ran, ``source (reason)``."""


_OBSERVED_AS = {
    "fills": "fill(s) of the account at the venue",
    "gateway_deaths": "abnormal exit(s) of the gateway",
    "crashes": "abnormal exit(s)",
    "restarts": "restart(s)",
    "escalations": "escalation(s)",
    "kill_switch_trips": "kill switch trip(s)",
    "book_resyncs": "book resync(s)",
    "rejected_orders": "order(s) rejected by the venue",
    "conflated": "message(s) conflated",
}


def check_expectations(expect: Expect, observed: Observed) -> list[Verdict]:
    """One verdict per expectation the scenario declared (each key above 0).

    None declared is one SKIP: nothing then checks that the faults took effect.
    """
    verdicts = []
    for key in expect.__struct_fields__:
        if not key.startswith("min_"):
            continue  # the strategies': `check_strategies`
        minimum = getattr(expect, key)
        seen = getattr(observed, key.removeprefix("min_"))
        words = _OBSERVED_AS[key.removeprefix("min_")]
        if isinstance(minimum, dict):
            for path, at_least in sorted(minimum.items()):
                if at_least > 0:
                    count = seen.get(path, 0)
                    verdicts.append(
                        Verdict(
                            name=f'expect {key}."{path}" = {at_least}',
                            passed=count >= at_least,
                            detail=f"{count} {words} of {path}",
                        )
                    )
        elif minimum > 0:
            verdicts.append(
                Verdict(
                    name=f"expect {key} = {minimum}",
                    passed=seen >= minimum,
                    detail=f"{seen} {words}",
                )
            )
    verdicts.extend(check_strategies(expect, observed))
    if not verdicts:
        verdicts.append(
            Verdict.skip("expectations", "none declared: [expect] says what the faults must cause")
        )
    return verdicts


def check_strategies(expect: Expect, observed: Observed) -> list[Verdict]:
    """The verdicts of `Expect`'s strategy keys, each naming its strategy.

    One per ``stopped_strategies`` entry; three per ``healthy_strategies`` entry (it
    kept trading, its orders were untouched, its scopes stayed ACTIVE). A strategy not
    in ``observed`` (the tree was down at the checks) fails each of its verdicts.
    """
    verdicts = []
    for name in expect.stopped_strategies:
        seen = observed.strategies.get(name)
        verdicts.append(
            _stopped_alone(name, seen)
            if seen is not None
            else _not_observed(f'expect stopped_strategies."{name}"')
        )
    for name in expect.healthy_strategies:
        seen = observed.strategies.get(name)
        if seen is None:
            verdicts.extend(
                _not_observed(f'expect healthy_strategies."{name}" {what}')
                for what in ("kept trading", "orders untouched", "scopes active")
            )
            continue
        verdicts += [
            _kept_trading(name, seen, observed.after),
            _orders_untouched(name, seen),
            _scopes_active(name, seen, observed.all_trips),
        ]
    return verdicts


def _not_observed(name: str) -> Verdict:
    return Verdict(name=name, passed=False, detail="not observed: the tree was down at the checks")


def _stopped_alone(name: str, seen: StrategyObserved) -> Verdict:
    """It stopped past its intensity, its scope HALTED, none of its orders left open."""
    problems = []
    if not seen.stopped:
        problems.append("still running")
    if seen.scope_state != "HALTED":
        problems.append(f"scope strategy:{name} {seen.scope_state}, not HALTED")
    if not seen.orders:  # then "nothing left open" would check nothing
        problems.append("it placed no order: nothing it left open could be checked")
    if seen.open_at_venue or seen.open_in_order_manager:
        problems.append(
            f"{seen.open_at_venue} of its orders open at the venue, "
            f"{seen.open_in_order_manager} in the order manager"
        )
    detail = (
        f"{name}: {seen.crashes} crash(es), "
        + (f"its supervisor ended ({seen.stopped})" if seen.stopped else "running")
        + f", scope strategy:{name} {seen.scope_state}, {seen.open_at_venue} of its "
        f"{seen.orders} order(s) open at the venue, {seen.open_in_order_manager} in the "
        "order manager"
    )
    if problems:
        detail = f"{'; '.join(problems)}: {detail}"
    return Verdict(name=f'expect stopped_strategies."{name}"', passed=not problems, detail=detail)


def _kept_trading(name: str, seen: StrategyObserved, after: str) -> Verdict:
    """Never stopped nor restarted, and at least one fill after ``after``."""
    problems = []
    if seen.stopped:
        problems.append(f"stopped ({seen.stopped})")
    if seen.crashes or seen.restarts:
        problems.append(f"{seen.crashes} crash(es), {seen.restarts} restart(s)")
    if seen.fills_after < 1:
        problems.append(f"no fill after {after}")
    incarnation = (
        "the same incarnation all along" if not (seen.crashes or seen.restarts) else "restarted"
    )
    detail = (
        f"{name}: {'stopped' if seen.stopped else 'running'}, {incarnation}, "
        f"{seen.fills_after} fill(s) after {after} ("
        + (
            f"the first {seen.first_fill_after:.1f} s after, "
            if seen.first_fill_after is not None
            else ""
        )
        + f"{seen.fills} in all)"
    )
    if problems:
        detail = f"{'; '.join(problems)}: {detail}"
    return Verdict(
        name=f'expect healthy_strategies."{name}" kept trading', passed=not problems, detail=detail
    )


def _orders_untouched(name: str, seen: StrategyObserved) -> Verdict:
    """None of its orders denied; none cancelled but at its own request."""
    others = sum(seen.cancelled_by_others.values())
    denied = "?" if seen.denied is None else str(seen.denied)
    detail = (
        f"{name}: {denied} of its orders denied"
        + (f" ({_counts(seen.denial_reasons)})" if seen.denial_reasons else "")
        + f", {seen.cancelled_own} cancelled at its own request, {others} by others"
        + (f" ({_counts(seen.cancelled_by_others)})" if others else "")
    )
    if seen.denied is None:
        detail += "; its denials could not be counted (the strategy did not answer)"
    return Verdict(
        name=f'expect healthy_strategies."{name}" orders untouched',
        passed=seen.denied == 0 and not others,
        detail=detail,
    )


def _scopes_active(name: str, seen: StrategyObserved, all_trips: tuple[str, ...]) -> Verdict:
    """Its scope ACTIVE, and neither it, its venues' nor ``all`` ever tripped."""
    trips = [*seen.scope_trips, *(f"all: {t}" for t in all_trips)]
    ok = seen.scope_state == "ACTIVE" and not trips
    detail = f"{name}: scope strategy:{name} {seen.scope_state}, " + (
        f"trips: {'; '.join(trips)}" if trips else "it, its venues' and all never tripped"
    )
    return Verdict(
        name=f'expect healthy_strategies."{name}" scopes active', passed=ok, detail=detail
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))


def _faults_fired(faults: list[Fault], unfired: dict[int, str]) -> Verdict:
    """FAIL naming each fault that never fired (``unfired``: index -> why)."""
    name = "every fault fired"
    if not faults:
        return Verdict.skip(name, "no fault in this scenario")
    if unfired:
        return Verdict(
            name=name,
            passed=False,
            detail=f"{len(faults) - len(unfired)} of {len(faults)} fired; never fired: "
            + "; ".join(
                f"{faults[i].describe(i + 1)}: {why}" for i, why in sorted(unfired.items())
            ),
        )
    return Verdict(name=name, passed=True, detail=f"{len(faults)} of {len(faults)} fired")


# -- loading ---------------------------------------------------------------------------


def load_scenario(path: str | Path, *, venue_kind: str | None = None) -> tuple[Scenario, Config]:
    """Read and check a scenario; its configuration, with the overrides applied.

    ``venue_kind`` (``tradeactors chaos --venue-kind``) replaces the scenario's
    ``[overrides.venue] kind``: the protocol the embedded simulated exchange speaks and
    the gateway uses, one of the embedded exchange's (`tradeactors.exchange.server.PROTOCOLS`:
    ``sim``, ``binance``, ``kraken``). The venue keeps its name, so the scenario's actor
    paths (``execution/gateway.sim``) hold whatever the protocol; against Kraken the
    symbol is written as Kraken's WebSocket v2 writes it (``BTC/USDT``) and the book's
    path in the scenario follows (``market_data/book.BTCUSDT`` is the book's, whatever
    its spelling).

    Raises:
        ConfigError: unreadable, unknown key, unknown fault, missing or bad path, bad
            time, bad expectation, a venue kind the embedded exchange does not speak; the
            message names the file and the line.

    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc.strerror}") from exc
    lines = _KeyLines(text)
    try:
        scenario = msgspec.toml.decode(text.encode(), type=Scenario)
    except msgspec.ValidationError as exc:
        raise ConfigError(_validation_message(path, str(exc), lines)) from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    if not scenario.duration > 0:
        where = lines.where(path, ("duration",))
        raise ConfigError(f"{where}: duration must be positive, not {scenario.duration}")
    base = _base_config(path, scenario.config, lines)
    config = _with_overrides(base, scenario.overrides, path, lines)
    before = _book_paths(config)
    config = _with_venue(config, venue_kind, path, lines)
    scenario = _renamed_book(scenario, before, _book_paths(config))
    paths = _paths(config)
    for number, fault in enumerate(scenario.fault):
        _check_fault(fault, lines.where(path, ("fault", str(number))), scenario.duration, paths)
    for key in ("min_crashes", "min_restarts", "min_conflated"):
        for actor in getattr(scenario.expect, key):
            if actor not in paths:
                raise ConfigError(
                    f"{lines.where(path, ('expect', key, actor))}: [expect] {key}: no actor "
                    f"{actor!r} (paths: {', '.join(sorted(paths))})"
                )
    _check_strategy_names(scenario.expect, config, lambda *key: lines.where(path, key))
    return scenario, config


def _check_strategy_names(expect: Expect, config: Config, where_is: Callable[..., str]) -> None:
    """Each strategy ``[expect]`` names is one of the config's, in one list only."""
    names = [entry.name for entry in config.all_strategies]
    for key in ("stopped_strategies", "healthy_strategies"):
        listed = getattr(expect, key)
        where = where_is("expect", key)
        for name in listed:
            if name not in names:
                raise ConfigError(
                    f"{where}: [expect] {key}: no strategy {name!r} in the config "
                    f"(strategies: {', '.join(names) or 'none'})"
                )
        if len(set(listed)) != len(listed):
            raise ConfigError(f"{where}: [expect] {key}: a strategy is listed twice")
    both = sorted(set(expect.stopped_strategies) & set(expect.healthy_strategies))
    if both:
        raise ConfigError(
            f"{where_is('expect', 'healthy_strategies')}: [expect] {', '.join(both)}: in both "
            "stopped_strategies and "
            "healthy_strategies"
        )


class _KeyLines:
    """Where each key and table of a TOML text is: its line, from 1.

    Enough TOML for scenario files: ``[table]`` and ``[[array]]`` headers, bare,
    quoted and dotted keys. A key inside an inline table or a multi-line value is not
    found; `line` then gives the line of the nearest enclosing key or table.
    """

    _KEY = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
    _KEYS = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
    _ARRAY = re.compile(rf"^\s*\[\[\s*({_KEYS})\s*\]\]")
    _TABLE = re.compile(rf"^\s*\[\s*({_KEYS})\s*\]")
    _ASSIGN = re.compile(rf"^\s*({_KEYS})\s*=")

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        arrays: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), 1):
            if match := self._ARRAY.match(line):
                names = self._names(match.group(1))
                index = arrays.get(names, -1) + 1
                arrays[names] = index
                table = (*names, str(index))
                self._lines.setdefault(table, number)
            elif match := self._TABLE.match(line):
                table = self._names(match.group(1))
                self._lines.setdefault(table, number)
            elif match := self._ASSIGN.match(line):
                self._lines.setdefault((*table, *self._names(match.group(1))), number)

    @classmethod
    def _names(cls, dotted: str) -> tuple[str, ...]:
        return tuple(name.strip("\"'") for name in re.findall(cls._KEY, dotted))

    def line(self, key: tuple[str, ...]) -> int | None:
        """The first line of ``key`` or of a key under it, else of its nearest parent."""
        beneath = [n for k, n in self._lines.items() if key and k[: len(key)] == key]
        if beneath:
            return min(beneath)
        for end in range(len(key) - 1, 0, -1):
            found = self._lines.get(key[:end])
            if found is not None:
                return found
        return None

    def where(self, path: Path, key: tuple[str, ...]) -> str:
        """``file:line`` for ``key`` (``file`` alone if it is nowhere in the text)."""
        found = self.line(key)
        return f"{path}" if found is None else f"{path}:{found}"


def _validation_message(path: Path, error: str, lines: _KeyLines) -> str:
    """The error at its line; an unknown key said in words, with the known keys."""
    match = re.fullmatch(r"(?P<what>.*?)(?: - at `\$(?P<at>[^`]*)`)?", error)
    assert match is not None  # noqa: S101 - the pattern matches any string
    at = match.group("at") or ""
    key = tuple(re.findall(r"[^.\[\]]+", at.split("[...]")[0]))
    if key[:1] == ("fault",):
        key = key[:2]  # a fault's mistakes are shown at its [[fault]] line
    unknown = re.fullmatch(r"Object contains unknown field `(?P<name>[^`]*)`", match["what"])
    if unknown is None:
        return f"{lines.where(path, key)}: {error}"
    name = unknown["name"]
    table = key[0] if key else ""
    valid = {"fault": Fault.__struct_fields__, "expect": Expect.__struct_fields__}.get(
        table, Scenario.__struct_fields__
    )
    section = f"[{table}] " if table else ""
    if table == "fault":
        section = f"[[fault]] #{int(key[1]) + 1} "
    where = lines.where(path, key if table == "fault" else (*key, name))
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return f'{where}: {section}unknown key "{name}"{hint}; valid keys: {", ".join(valid)}'


def _base_config(path: Path, name: str, lines: _KeyLines) -> Config:
    """The scenario's ``config``: ``default`` (embedded), a TOML path, or a shipped name.

    A path is relative to the scenario file. A bare name (no ``/``, no ``.toml``) is
    ``NAME.toml`` next to the scenario file or in the directory above it: ``"multi"``
    in ``config/scenarios/`` reads ``config/multi.toml``.
    """
    if name == "default":
        return Config()
    candidates = [path.parent / name]
    if "/" not in name and "\\" not in name and not name.endswith(".toml"):
        candidates = [path.parent / f"{name}.toml", path.parent.parent / f"{name}.toml"]
    for candidate in candidates:
        if candidate.is_file():
            return load_config(candidate)
    where = lines.where(path, ("config",))
    raise ConfigError(
        f"{where}: config {name!r}: no such file (looked for "
        f'{", ".join(str(c) for c in candidates)}); give "default", a TOML path relative '
        "to the scenario, or the name of a config next to it or in the directory above"
    )


def _with_overrides(
    base: Config, overrides: dict[str, dict[str, Any]], path: Path, lines: _KeyLines
) -> Config:
    """``base`` with ``overrides`` merged in, section by section.

    With ``[[venues]]``, ``[overrides.venue]`` is merged into each of them (every
    venue of a scenario is the embedded exchange); with ``[[strategies]]``,
    ``[overrides.strategies.NAME]`` into the strategy named NAME.
    """
    data = msgspec.to_builtins(base)
    venues = data.pop("venues", None) if base.venues else None
    if venues is not None:
        data.pop("venue", None)  # the first of `venues`, as `Config` fills it in
    for section, values in overrides.items():
        if section == "venue" and venues is not None:
            for venue in venues:
                _merge(venue, values)
            continue
        if section == "strategies" and base.strategies:
            _merge_strategies(data["strategies"], values, lambda *key: lines.where(path, key))
            continue
        if section not in data or not isinstance(data[section], dict):
            where = lines.where(path, ("overrides", section))
            raise ConfigError(f"{where}: overrides.{section}: no such config section")
        _merge(data[section], values)
    if venues is not None:
        data["venues"] = venues
    try:
        return msgspec.convert(data, Config)
    except (msgspec.ValidationError, ConfigError) as exc:
        raise ConfigError(f"{lines.where(path, ('overrides',))}: overrides: {exc}") from exc


def _merge_strategies(
    entries: list[dict[str, Any]], values: dict[str, Any], where_is: Callable[..., str]
) -> None:
    """``[overrides.strategies.NAME]`` merged into the ``[[strategies]]`` entry NAME."""
    by_name = {entry["name"]: entry for entry in entries}
    for name, changes in values.items():
        if name not in by_name or not isinstance(changes, dict):
            raise ConfigError(
                f"{where_is('overrides', 'strategies', name)}: overrides.strategies.{name}: no "
                f"strategy {name!r} in the config (strategies: {', '.join(by_name)})"
            )
        _merge(by_name[name], changes)


def _merge(into: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def with_venues(config: Config, **changes: Any) -> Config:
    """``config`` with ``changes`` (`VenueConfig` fields) made to every venue.

    ``[venue]`` alone, or each of ``[[venues]]`` (`tradeactors chaos --seed` too).
    """
    if not config.venues:
        return msgspec.structs.replace(
            config, venue=msgspec.structs.replace(config.venue, **changes)
        )
    return msgspec.structs.replace(
        config,
        venue=VenueConfig(),  # `Config` makes it the first of `venues` again
        venues=tuple(msgspec.structs.replace(v, **changes) for v in config.venues),
    )


def _with_venue(config: Config, kind: str | None, path: Path, lines: _KeyLines) -> Config:
    """``config`` with the venue kind ``kind`` (None: its own), if the run can play it.

    Refused: an external venue, a protocol the embedded exchange does not speak. Against
    Kraken each symbol is written as Kraken's WebSocket v2 writes it (``BTCUSDT`` becomes
    ``BTC/USDT``, in ``[[instruments]]`` and in the strategies' ``instruments`` alike).
    """
    from tradeactors.exchange.server import PROTOCOLS  # noqa: PLC0415 - runtime first

    if kind is not None:
        try:
            config = with_venues(config, kind=kind)
        except ConfigError as exc:
            raise ConfigError(f"--venue-kind {kind}: {exc}") from exc
    for venue in config.all_venues:
        if venue.trade_url:
            where = lines.where(path, ("overrides", "venue", "trade_url"))
            raise ConfigError(
                f"{where}: chaos scenarios run against the embedded simulated exchange: "
                "leave venue.trade_url empty"
            )
        given = (
            f"--venue-kind {venue.kind}"
            if kind is not None
            else f"{lines.where(path, ('overrides', 'venue', 'kind'))}: venue kind {venue.kind!r}"
        )
        if venue.kind not in PROTOCOLS:
            raise ConfigError(
                f"{given}: the embedded simulated exchange speaks {', '.join(PROTOCOLS)} "
                "(chaos scenarios run against it)"
            )
    kraken = {venue.name for venue in config.all_venues if venue.kind == "kraken"}
    renamed = {
        i.symbol: "/".join(base_quote(i.symbol))
        for i in config.all_instruments
        if i.venue in kraken and "/" not in i.symbol
    }
    if config.instruments and renamed:
        # Kraken's WebSocket v2 names a pair BASE/QUOTE (BTC/USDT): the same instruments
        config = msgspec.structs.replace(
            config,
            instruments=tuple(
                msgspec.structs.replace(i, symbol=renamed.get(i.symbol, i.symbol))
                for i in config.instruments
            ),
            strategies=tuple(
                msgspec.structs.replace(
                    s, instruments=tuple(renamed.get(symbol, symbol) for symbol in s.instruments)
                )
                for s in config.strategies
            ),
        )
    venue = config.venue
    if venue.kind == "kraken" and not config.instruments and "/" not in venue.symbol:
        # Kraken's WebSocket v2 names a pair BASE/QUOTE (BTC/USDT): the same instrument
        base, quote = base_quote(venue.symbol)
        config = msgspec.structs.replace(
            config, venue=msgspec.structs.replace(venue, symbol=f"{base}/{quote}")
        )
    return config


def _book_paths(config: Config) -> list[str]:
    """The book actors' paths, in the order of the config's instruments."""
    from tradeactors.trading.paths import actor_paths  # noqa: PLC0415 - runtime first

    return list(actor_paths(config).books.values())


def _renamed_book(scenario: Scenario, before: list[str], after: list[str]) -> Scenario:
    """``scenario`` with each book's path as the venue kind spells the symbol.

    ``market_data/book.BTCUSDT`` becomes ``market_data/book.BTC-USDT`` against Kraken
    (`_with_venue`): a scenario names the configured instrument's book whatever the
    protocol, as it names the gateway ``gateway.sim`` whatever the protocol.
    """
    new_of = {old: new for old, new in zip(before, after, strict=True) if old != new}
    if not new_of:
        return scenario

    def renamed(table: dict[str, int]) -> dict[str, int]:
        return {new_of.get(k, k): v for k, v in table.items()}

    expect = scenario.expect
    return msgspec.structs.replace(
        scenario,
        fault=[
            msgspec.structs.replace(f, path=new_of[f.path]) if f.path in new_of else f
            for f in scenario.fault
        ],
        expect=msgspec.structs.replace(
            expect,
            min_crashes=renamed(expect.min_crashes),
            min_restarts=renamed(expect.min_restarts),
            min_conflated=renamed(expect.min_conflated),
        ),
    )


def _paths(config: Config) -> set[str]:
    """The actor paths a scenario may name: every actor of the config's tree."""
    from tradeactors.trading.paths import actor_paths  # noqa: PLC0415 - runtime first

    paths = actor_paths(config)
    return {
        paths.killswitch,
        paths.order_manager,
        paths.risk,
        *paths.gateways.values(),
        *paths.feeds.values(),
        *paths.books.values(),
        *paths.strategies.values(),
    }


def _check_fault(fault: Fault, where: str, duration: float, paths: set[str]) -> None:
    if fault.kind not in FAULTS:
        raise ConfigError(f"{where}: unknown fault {fault.kind!r} (known: {', '.join(FAULTS)})")
    if (fault.at is None) == (fault.after_messages is None):
        raise ConfigError(f"{where}: give exactly one of `at` (seconds) and `after_messages`")
    if fault.at is not None and not 0 <= fault.at < duration:
        raise ConfigError(f"{where}: at = {fault.at} is not within the duration (0..{duration})")
    if fault.after_messages is not None and (fault.after_messages < 1 or not fault.path):
        raise ConfigError(f"{where}: after_messages needs a positive count and a path")
    if (fault.kind in _NEEDS_PATH or fault.after_messages is not None) and fault.path not in paths:
        raise ConfigError(
            f"{where}: bad path {fault.path!r} for {fault.kind} (paths: {', '.join(sorted(paths))})"
        )
    if fault.kind in ("slow", "stall", "reject_orders") and not fault.seconds > 0:
        raise ConfigError(f"{where}: seconds must be positive")
    if fault.kind in ("corrupt_feed", "feed_gap") and fault.count < 1:
        raise ConfigError(f"{where}: count must be >= 1")
    if fault.kind == "kill_switch" and fault.state not in ("halted", "reducing"):
        raise ConfigError(f"{where}: state must be 'halted' or 'reducing'")


# -- running ---------------------------------------------------------------------------


_ZERO_OPEN_WITHIN = 1.0  # seconds: a gateway death's orders gone from the venue within this
_DEATH_WAIT = 5.0  # seconds each wait of a death's watcher lasts at most


@dataclass(frozen=True)
class _Death:
    """One abnormal exit of the gateway, and what the venue showed after it.

    Times are ``time.monotonic()`` seconds. ``reconnected``: when a session of the
    account that was not there at the death logged on at the venue (the gateway's
    next session; None: not within the wait). ``zero``: when the venue first showed
    no open order of the account, counted from the death at a venue that cancels on
    disconnect, from ``reconnected`` at one that does not (None: not within the wait).
    """

    died: float
    reconnected: float | None
    zero: float | None
    open_at_death: int = 0  # the account's orders at the venue when the death was heard


@dataclass
class _Watch:
    """What the run observes while it goes."""

    max_position: int = 0
    cancels_on_disconnect: bool = True  # the venue's own (the gateway's codec says)
    gateway_deaths: list[_Death] = field(default_factory=list)
    deaths_pending: int = 0
    escalations: list[str] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)
    crashes: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    unfired: dict[int, str] = field(default_factory=dict)  # fault index -> why
    places_at_halt: int | None = None  # the venue's place requests when HALTED came
    last_fault: float | None = None  # when the last fault was injected
    strategy_ended: dict[str, float] = field(default_factory=dict)  # name -> its supervisor's end
    fills: list[tuple[float, str]] = field(default_factory=list)  # (when heard, client order id)
    cancel_reasons: dict[str, str] = field(default_factory=dict)  # id -> why pending cancel
    cancelled: dict[str, str] = field(default_factory=dict)  # id -> the venue's reason
    denied: list[tuple[str, str]] = field(default_factory=list)  # (client order id, reason)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class _Run:
    """A scenario's run: the system, its venue, what is watched, where lines go."""

    system: TradingSystem
    exchange: SimExchange
    watch: _Watch
    out: Callable[[str], None]


class _DepthSampler:
    """The deepest mailbox seen while the scenario runs.

    With threads, a thread samples every mailbox every `_SAMPLE_EVERY` s. Under gevent
    nothing preempts: a mailbox fills and empties between two switches of greenlets,
    so a sampling greenlet (or thread) only ever runs when every actor is idle and
    sees empty mailboxes. There, every mailbox is sampled at each greenlet switch (a
    ``greenlet.settrace`` hook): a depth only grows while its senders run, so the
    deepest it gets is seen when they switch away.
    """

    def __init__(self, tree: Supervisor) -> None:
        self._addresses: tuple[tuple[str, Address], ...] = tuple(
            (path, tree.address(path)) for path in tree.paths()
        )
        self.deepest: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous_trace: Any = None
        self._tracing = False

    def sample(self) -> None:
        """Look at every mailbox once."""
        deepest = self.deepest
        for path, address in self._addresses:
            depth = address.mailbox_depth
            if depth > deepest.get(path, 0):
                deepest[path] = depth
        self.samples += 1

    def start(self) -> None:
        """Start sampling (call from the thread whose greenlets run the actors)."""
        if current_runtime() == "gevent":
            import greenlet  # noqa: PLC0415 - only under gevent

            previous = greenlet.settrace(self._on_switch)
            self._previous_trace, self._tracing = previous, True
            return
        self._thread = threading.Thread(target=self._run, name="chaos-depth-sampler")
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        if self._tracing:
            import greenlet  # noqa: PLC0415 - only under gevent

            greenlet.settrace(self._previous_trace)
            self._tracing = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_EVERY):
            self.sample()

    def _on_switch(self, event: str, args: Any) -> None:
        self.sample()
        if self._previous_trace is not None:
            self._previous_trace(event, args)


def run_scenario(
    scenario: Scenario,
    config: Config,
    *,
    registry: CollectorRegistry | None = None,
    out: Callable[[str], None] = print,
) -> list[Verdict]:
    """Run ``scenario``; the verdicts, one per check (printed with ``out``).

    Every invariant is checked and printed even when the tree went down on the way
    (the root supervisor escalated): what needs a running actor is then a SKIP.
    """
    from tradeactors.trading.system import TradingSystem  # noqa: PLC0415 - runtime first

    system = TradingSystem(config, registry=registry)
    watch = _Watch(cancels_on_disconnect=_cancels_on_disconnect(system))
    system.start()
    exchange = system.exchange
    if exchange is None:
        system.stop()
        raise ConfigError("chaos scenarios run against the embedded exchange (no trade_url)")
    run = _Run(system, exchange, watch, out)
    stop_watching = threading.Event()
    watcher = threading.Thread(
        target=_watch_position, args=(exchange, system, watch, stop_watching)
    )
    watcher.start()
    sampler = _DepthSampler(system.tree)
    sampler.start()
    unsubscribe = (
        system.tree.subscribe(lambda event: _on_tree_event(event, system, exchange, watch)),
        system.subscribe(lambda event: _on_trading_event(event, watch)),
        system.gate.subscribe(partial(_on_gate_change, run)),
    )
    try:
        _inject_all(run, scenario)
        sampler.stop()  # the checks pause the market: the run is over
        verdicts, observed = _check(config, system, exchange, watch, sampler)
        if scenario.expect.stopped_strategies or scenario.expect.healthy_strategies:
            _observe_strategies(system, watch, scenario.expect, observed)
    finally:
        sampler.stop()
        stop_watching.set()
        watcher.join(10)
        for stop in unsubscribe:
            stop()
        summary = system.stop()
    verdicts.extend(_after_stop(system, exchange, summary, observed))
    verdicts.append(_faults_fired(scenario.fault, watch.unfired))
    verdicts.extend(check_expectations(scenario.expect, observed))
    for verdict in verdicts:
        out(verdict.line())
    return verdicts


def _cancels_on_disconnect(system: TradingSystem) -> bool:
    """Whether the venue cancels a session's orders when the session drops (its codec's word)."""
    order_entry = system.adapter.order_entry
    if order_entry is None:  # TradingSystem refused it already: no order entry
        return False
    return order_entry(system.config.venue.name, system.instrument).has_cancel_on_disconnect


def _watch_position(
    exchange: SimExchange, system: TradingSystem, watch: _Watch, stop: threading.Event
) -> None:
    account = system.account
    symbol = system.instrument.symbol

    def seen() -> bool:
        position = abs(exchange.engine.position(account, symbol))
        watch.max_position = max(watch.max_position, position)
        return stop.is_set()

    while not stop.is_set():
        exchange.wait_until(seen, 0.1)


def _on_tree_event(event: Any, system: TradingSystem, exchange: SimExchange, watch: _Watch) -> None:
    if isinstance(event, ActorStarted) and event.incarnation > 1:
        with watch.lock:
            watch.restarts[event.path] = watch.restarts.get(event.path, 0) + 1
    elif isinstance(event, SupervisorEscalated):
        with watch.lock:
            watch.escalations.append(event.path)
    elif isinstance(event, ActorEnded) and event.kind == "supervisor":
        parent, _, name = event.path.rpartition("/")
        if parent == system.paths.strategies_supervisor:  # a strategy's own supervisor
            with watch.lock:
                watch.strategy_ended[name] = time.monotonic()
    elif isinstance(event, ActorExited) and event.reason not in ("normal", "shutdown"):
        with watch.lock:
            watch.crashes[event.path] = watch.crashes.get(event.path, 0) + 1
        if event.path == system.gateway_path:
            _time_to_zero_open(system, exchange, watch)


def _time_to_zero_open(system: TradingSystem, exchange: SimExchange, watch: _Watch) -> None:
    """Watch, on a thread of its own, the venue after a death of the gateway (`_Death`).

    Called in the supervisor's thread as it hears the exit, before the restart: the
    sessions the account has now are the dead gateway's (or none), so the next one to
    log on is its successor's.
    """
    died = time.monotonic()
    with watch.lock:
        watch.deaths_pending += 1
    account = system.account
    # the connection objects themselves (not their ids, which a new one may reuse)
    before: list[object] = []
    open_at_death = []

    def take_before() -> bool:  # the predicates run under the market's lock
        before.extend(exchange.orders.connections_of(account))
        open_at_death.append(len(exchange.engine.open_orders(account)))
        return True

    def new_session() -> bool:
        return any(c not in before for c in exchange.orders.connections_of(account))

    def no_open() -> bool:
        return not exchange.engine.open_orders(account)

    exchange.wait_until(take_before, 0)  # one look, under the lock

    def wait_for_zero() -> None:
        reconnected = zero = None
        if watch.cancels_on_disconnect:
            if exchange.wait_until(no_open, _DEATH_WAIT):
                zero = time.monotonic()
        elif exchange.wait_until(new_session, _DEATH_WAIT):
            reconnected = time.monotonic()
            if exchange.wait_until(no_open, _DEATH_WAIT):
                zero = time.monotonic()
        with watch.lock:
            watch.deaths_pending -= 1
            watch.gateway_deaths.append(_Death(died, reconnected, zero, open_at_death[0]))

    threading.Thread(target=wait_for_zero, name="chaos-gateway-death", daemon=True).start()


def _on_trading_event(event: Any, watch: _Watch) -> None:
    if not isinstance(event, OrderUpdate):
        return
    status, cid = event.status, event.client_order_id
    with watch.lock:
        if event.fill_quantity:
            watch.fills.append((time.monotonic(), cid))
        if status is OrderStatus.REJECTED:
            watch.rejected += 1
        elif status is OrderStatus.PENDING_CANCEL:
            watch.cancel_reasons.setdefault(cid, event.reason)
        elif status is OrderStatus.CANCELLED:
            watch.cancelled[cid] = event.reason
        elif status is OrderStatus.DENIED and event.amend is None:
            watch.denied.append((cid, event.reason))


def _on_gate_change(run: _Run, change: Any) -> None:
    if (
        change.state == TradingState.HALTED
        and getattr(change, "scope", "all") == "all"  # a strategy's or venue's scope: not all
        and run.watch.places_at_halt is None
    ):
        run.watch.places_at_halt = run.exchange.requests(run.system.account, "place")


def _inject_all(run: _Run, scenario: Scenario) -> None:
    started = time.monotonic()
    over = threading.Event()  # set when the duration is over: no fault fires after it
    counting = [
        threading.Thread(
            target=_after_messages,
            args=(run, number, fault, over),
            name=f"chaos-fault-{number + 1}",
        )
        for number, fault in enumerate(scenario.fault)
        if fault.after_messages is not None
    ]
    for thread in counting:
        thread.start()
    timed = sorted(
        ((n, f) for n, f in enumerate(scenario.fault) if f.at is not None),
        key=lambda item: item[1].at or 0.0,
    )
    for number, fault in timed:
        assert fault.at is not None  # noqa: S101 - sorted from the timed ones
        over.wait(max(0.0, started + fault.at - time.monotonic()))
        _inject(run, number, fault)
    over.wait(max(0.0, started + scenario.duration - time.monotonic()))
    over.set()
    for thread in counting:
        thread.join(10)
    threading.Event().wait(scenario.settle)


def _after_messages(run: _Run, number: int, fault: Fault, over: threading.Event) -> None:
    assert fault.after_messages is not None  # noqa: S101 - checked at load
    tree = run.system.tree
    stats = tree.stats(fault.path)
    target = stats.processed_total + fault.after_messages
    while tree.running and stats.processed_total < target:
        if over.wait(0.01):  # polling the counter: the fault's own timing, not a test's
            handled = stats.processed_total - target + fault.after_messages
            with run.watch.lock:
                run.watch.unfired[number] = (
                    f"{fault.path} handled {handled} message(s) in the duration"
                )
            return
    _inject(run, number, fault)


def _inject(run: _Run, number: int, fault: Fault) -> None:  # noqa: C901 - a branch per fault
    kind = fault.kind
    system, exchange = run.system, run.exchange
    tree = system.tree
    account = system.account
    if not tree.running:
        with run.watch.lock:
            run.watch.unfired[number] = f"the tree was down ({tree.failure!r})"
        return
    if kind == "crash":
        tree.faults(fault.path).crash_next()
        tree.address(fault.path).tell("chaos: poke")
    elif kind == "stop":
        tree.faults(fault.path).kill()
    elif kind == "slow":
        faults = tree.faults(fault.path)
        faults.slow(fault.delay)
        threading.Timer(fault.seconds, faults.clear).start()
    elif kind == "drop_connection":
        exchange.drop_sessions(account)
    elif kind == "stall":
        exchange.mute_reports(account)
        threading.Timer(fault.seconds, lambda: exchange.mute_reports(account, muted=False)).start()
    elif kind == "corrupt_feed":
        exchange.corrupt_frames(fault.count)
    elif kind == "feed_gap":
        exchange.drop_frames(fault.count)
    elif kind == "reject_orders":
        exchange.reject_orders(fault.seconds)
    elif kind == "kill_switch":
        system.kill("chaos scenario", to=TradingState(fault.state))
    with run.watch.lock:
        run.watch.last_fault = time.monotonic()
    run.out(f"injected {kind} {fault.path}".strip())


# -- the invariants ----------------------------------------------------------------------


def _check(
    config: Config,
    system: TradingSystem,
    exchange: SimExchange,
    watch: _Watch,
    sampler: _DepthSampler,
) -> tuple[list[Verdict], Observed]:
    """The invariants checked while the tree runs (or after it went down), in order."""
    # let every death's watcher finish (each waits at most twice `_DEATH_WAIT`)
    deadline = time.monotonic() + 2 * _DEATH_WAIT + 1.0
    wake = threading.Event()
    while watch.deaths_pending and time.monotonic() < deadline:
        wake.wait(0.05)
    observed = Observed(
        gateway_deaths=len(watch.gateway_deaths),
        crashes=dict(watch.crashes),
        restarts=dict(watch.restarts),
        escalations=len(watch.escalations),
        kill_switch_trips=sum(c.source != "reset" for c in system.gate.history),
        rejected_orders=watch.rejected,
        conflated={p: system.tree.stats(p).conflated for p in system.tree.paths()},
    )
    limit = config.risk.max_position
    verdicts = [
        _guarded("nothing left open after a gateway death", lambda: _no_open_after_death(watch)),
        _guarded(
            "no order at the venue unknown to the order manager",
            lambda: _unknown_orders(system, exchange),
        ),
        _guarded(
            "book equal to the venue's after recovery",
            lambda: _book_matches(system, exchange, observed),
        ),
        _risk_limits(watch.max_position, limit),
        _nothing_after_halted(system, exchange, watch),
        _mailboxes_bounded(sampler.deepest, sampler.samples),
        _escalations(system, watch),
    ]
    return verdicts, observed


def _observe_strategies(
    system: TradingSystem, watch: _Watch, expect: Expect, observed: Observed
) -> None:
    """Fill ``observed.strategies`` for the strategies ``expect`` names (tree running).

    Orders are told apart by their owner in the order manager; a denied order never
    reached it, so its reason is counted for the strategy whose other orders' ids share
    its prefix (one per incarnation), and the count itself is the strategy's own.
    """
    with watch.lock:
        ended = {n: t for n, t in watch.strategy_ended.items() if n in expect.stopped_strategies}
        last_fault = watch.last_fault
    if expect.stopped_strategies and len(ended) == len(expect.stopped_strategies):
        since, observed.after = max(ended.values()), f"{', '.join(sorted(ended))} stopped"
    elif last_fault is not None:
        since, observed.after = last_fault, "the last fault"
    else:
        since, observed.after = float("-inf"), "the start"
    from tradeactors.trading.paths import strategy_path  # noqa: PLC0415 - runtime first

    observed.all_trips = _trips(system, "all")
    if not system.tree.running:
        return  # each strategy verdict: not observed
    names = [*expect.stopped_strategies, *expect.healthy_strategies]
    deadline = time.monotonic() + 3.0  # cancels of a stopped strategy still in flight
    wake = threading.Event()
    while True:
        orders = system.orders().orders
        at_venue = _owners_at_venue(system, orders)
        if time.monotonic() > deadline or not any(
            at_venue.get(strategy_path(n), 0)
            or any(o.owner == strategy_path(n) and o.status.open for o in orders)
            for n in expect.stopped_strategies
        ):
            break
        wake.wait(0.05)
    infos = {info.name: info for info in system.strategies()}
    for name in names:
        info = infos.get(name)
        if info is not None:
            observed.strategies[name] = _strategy_observed(
                system, watch, info, orders=orders, at_venue=at_venue, since=since
            )


def _strategy_observed(
    system: TradingSystem,
    watch: _Watch,
    info: StrategyInfo,
    *,
    orders: tuple[OrderInfo, ...],
    at_venue: dict[str, int],
    since: float,
) -> StrategyObserved:
    from tradeactors.core.messages import OWN_CANCEL_REASONS, GetStrategyReport  # noqa: PLC0415

    path = info.path
    ours = {o.client_order_id for o in orders if o.owner == path}
    prefixes = {cid.rsplit("-", 1)[0] for cid in ours}
    with watch.lock:
        fills = [when for when, cid in watch.fills if cid in ours]
        cancels = [
            (watch.cancel_reasons.get(c), why) for c, why in watch.cancelled.items() if c in ours
        ]
        denials = Counter(why for cid, why in watch.denied if cid.rsplit("-", 1)[0] in prefixes)
        crashes, restarts = watch.crashes.get(path, 0), watch.restarts.get(path, 0)
    own, others = 0, Counter[str]()
    for asked, why in cancels:
        if asked in OWN_CANCEL_REASONS:
            own += 1
        else:
            others[asked if asked is not None else f"by the venue, unasked: {why}"] += 1
    after = [when for when in fills if when > since]
    denied: int | None = None
    if info.state == "running":
        try:
            denied = system.tree.address(path).ask(GetStrategyReport(), timeout=5).denied
        except Exception:  # noqa: BLE001 - said in the verdict (not counted)
            denied = None
    venues = {venue for venue, symbol in system.paths.books if symbol in info.instruments}
    trips = [
        f"{scope}: {trip}"
        for scope in (f"strategy:{info.name}", *(f"venue:{v}" for v in sorted(venues)))
        for trip in _trips(system, scope)
    ]
    return StrategyObserved(
        stopped=info.reason if info.state == "stopped" else "",
        crashes=crashes,
        restarts=restarts,
        scope_state=system.gate.scope_state(f"strategy:{info.name}").name,
        scope_trips=tuple(trips),
        fills=len(fills),
        fills_after=len(after),
        first_fill_after=min(after) - since if after else None,
        denied=denied,
        denial_reasons=dict(denials),
        cancelled_own=own,
        cancelled_by_others=dict(others),
        orders=len(ours),
        open_in_order_manager=sum(o.status.open for o in orders if o.owner == path),
        open_at_venue=at_venue.get(path, 0),
    )


def _trips(system: TradingSystem, scope: str) -> tuple[str, ...]:
    """Each trip of ``scope`` so far, ``source (reason)``."""
    return tuple(
        f"{change.source} ({change.reason})"
        for change in system.gate.history_of(scope)
        if change.source != "reset"
    )


def _owners_at_venue(system: TradingSystem, orders: tuple[OrderInfo, ...]) -> dict[str, int]:
    """Orders open at each venue, by the owner the order manager knows them by.

    Known by our client order id or by the venue's order id (`_unknown_orders` says
    which are not known at all).
    """
    by_id = {o.client_order_id: o.owner for o in orders}
    by_venue_id = {(o.venue, o.order_id): o.owner for o in orders if o.order_id is not None}
    accounts = {venue.name: venue.api_key for venue in system.config.all_venues}
    counts: Counter[str] = Counter()
    for venue, exchange in system.exchanges.items():
        for order in _open_at_venue(exchange, accounts[venue]):
            owner = by_id.get(order.client_order_id, by_venue_id.get((venue, order.order_id)))
            if owner is not None:
                counts[owner] += 1
    return dict(counts)


def _guarded(name: str, check: Callable[[], Verdict]) -> Verdict:
    """``check()``, or a FAIL saying why it could not run: one check never hides another."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - reported as the verdict, never hidden
        return Verdict(name=name, passed=False, detail=f"could not check: {exc!r}")


def _no_open_after_death(watch: _Watch) -> Verdict:
    """Each gateway death: the venue shows no open order of the account soon enough.

    At a venue that cancels a session's orders when it drops (the simulator's own
    protocol), within `_ZERO_OPEN_WITHIN` of the death. At one that does not (Binance
    spot) the orders stay working until the gateway's next session cancels them all:
    within `_ZERO_OPEN_WITHIN` of that session's logon. A death whose next session never
    came is not judged (what it left working shows after the shutdown).
    """
    name = "nothing left open after a gateway death"
    deaths = list(watch.gateway_deaths)
    if not deaths:
        return Verdict.skip(name, "no gateway death in this run")
    if watch.cancels_on_disconnect:
        waits = [None if d.zero is None else d.zero - d.died for d in deaths]
        return Verdict(
            name=name,
            passed=all(w is not None and w <= _ZERO_OPEN_WITHIN for w in waits),
            detail=f"{len(deaths)} death(s), zero open at the venue after "
            + ", ".join(_ms(w) for w in waits),
        )
    judged: list[tuple[float | None, str]] = []  # (logon to zero open, what happened)
    for death in deaths:
        if death.reconnected is not None:
            wait = None if death.zero is None else max(0.0, death.zero - death.reconnected)
            what = (
                f"{death.open_at_death} open at the death, the next session logged on "
                f"{_ms(death.reconnected - death.died)} later, zero open {_ms(wait)} after"
            )
            judged.append((wait, what))
    left = sum(d.open_at_death for d in deaths if d.reconnected is None)
    if not judged:
        return Verdict.skip(
            name,
            f"{len(deaths)} death(s) and the gateway's next session never logged on: the "
            f"venue does not cancel on disconnect, it keeps working what was open then "
            f"({left}) until a session cancels it",
        )
    never = len(deaths) - len(judged)
    return Verdict(
        name=name,
        passed=all(w is not None and w <= _ZERO_OPEN_WITHIN for w, _ in judged),
        detail=f"{len(deaths)} death(s), no cancel-on-disconnect at the venue: "
        + "; ".join(what for _, what in judged)
        + (f"; {never} with no next session ({left} open then), not judged" if never else ""),
    )


def _ms(seconds: float | None) -> str:
    """``12.3 ms``, or ``never`` (not within the wait)."""
    return "never" if seconds is None else f"{seconds * 1000:.1f} ms"


def _unknown_orders(system: TradingSystem, exchange: SimExchange) -> Verdict:
    """No order open at the venue that the order manager does not know (as open).

    An order is known by our client order id or by the venue's order id: the
    simulator's engine holds our id; behind Binance's front-end the engine holds one of
    its own (the front-end keeps ours to itself) and Binance's ``orderId`` is the
    engine's. One whose acceptance never reached the order manager (lost in a stall:
    Binance says it in the user data stream only) has no venue id there: it is matched,
    one for one, by side, price and quantity left, and the detail says how many were.
    """
    name = "no order at the venue unknown to the order manager"
    deadline = time.monotonic() + 3.0
    wake = threading.Event()
    while True:
        at_venue = _open_at_venue(exchange, system.account)
        unknown, unacknowledged = _not_known(at_venue, _open_in_order_manager(system))
        if not unknown or time.monotonic() > deadline:
            break
        wake.wait(0.05)  # reports in flight settle within a few ms
    if not at_venue:
        return Verdict.skip(name, "no order open at the venue")
    return Verdict(
        name=name,
        passed=not unknown,
        detail=f"{len(at_venue)} open at the venue, unknown: {unknown[:5] or 'none'}"
        + (
            f"; {unacknowledged} known by side, price and quantity only (the order manager "
            "never heard the venue accept them)"
            if unacknowledged
            else ""
        ),
    )


def _open_at_venue(exchange: SimExchange, account: str) -> list[OrderView]:
    """The account's open orders at the venue, with the ids the venue gave the client.

    Kraken's front-end keeps the engine's ids to itself: each order is shown with the
    number the codec makes of Kraken's ``order_id`` and the client order id its
    ``cl_ord_id`` stands for (a hashed one matches nothing: the shape then does).
    """
    from tradeactors.exchange.kraken_api import KrakenApi  # noqa: PLC0415
    from tradeactors.venues.kraken import client_order_id_from, order_number  # noqa: PLC0415

    api = exchange.orders
    if not isinstance(api, KrakenApi):
        return exchange.open_orders(account)
    seen: list[tuple[list[OrderView], dict[int, tuple[str, str | None]]]] = []

    def read() -> bool:  # under the market's lock: the orders and their ids together
        seen.append((exchange.engine.open_orders(account), api.venue_ids(account)))
        return True

    exchange.wait_until(read, 0)
    orders, ids = seen[0]
    shown = []
    for order in orders:
        kraken_id, cl_ord_id = ids.get(order.order_id, ("", None))
        shown.append(
            msgspec.structs.replace(
                order,
                order_id=order_number(kraken_id) if kraken_id else order.order_id,
                client_order_id=client_order_id_from(cl_ord_id) if cl_ord_id else "",
            )
        )
    return shown


_Open = tuple[str, int | None, str, int, int]  # client order id, venue's id, side, price, left


def _open_in_order_manager(system: TradingSystem) -> list[_Open]:
    """The orders open in the order manager (asked; read from its store once the tree is down)."""
    if system.tree.running:
        return [
            (o.client_order_id, o.order_id, str(o.side), o.price, o.quantity - o.filled)
            for o in system.orders().orders
            if o.status.open
        ]
    return [  # the tree is down: nobody writes the store any more
        (t.order.client_order_id, t.order_id, str(t.request.side), t.order.price, t.order.remaining)
        for t in system.store.open_orders()
    ]


def _not_known(at_venue: list[OrderView], ours: list[_Open]) -> tuple[list[str], int]:
    """The venue's orders the order manager does not know; how many only by their shape."""
    known = {cid for cid, *_ in ours} | {oid for _, oid, *_ in ours if oid is not None}
    venue_ids = {o.client_order_id for o in at_venue}
    shapes = Counter(
        (side, price, left)
        for cid, oid, side, price, left in ours
        if oid is None and cid not in venue_ids
    )
    unknown, by_shape = [], 0
    for order in at_venue:
        if order.client_order_id in known or order.order_id in known:
            continue
        shape = (str(order.side), order.price, order.remaining)
        if shapes[shape] > 0:
            shapes[shape] -= 1
            by_shape += 1
        else:
            unknown.append(f"{order.client_order_id} (order {order.order_id})")
    return sorted(unknown), by_shape


def _book_matches(system: TradingSystem, exchange: SimExchange, observed: Observed) -> Verdict:
    """After recovery, the book actor's top levels equal the venue's."""
    from tradeactors.actors.marketdata import book_name  # noqa: PLC0415
    from tradeactors.core.messages import GetBook, GetReport  # noqa: PLC0415

    name = "book equal to the venue's after recovery"
    path = f"market_data/{book_name(system.instrument.symbol)}"
    if not system.tree.running:
        return Verdict.skip(name, f"{path} is not running: the tree is down")
    book = system.tree.address(path)
    # Kraken's book stream carries no update ids (its checksum is what ties a book to
    # the venue's): there, the book must come to equal the venue's still market
    numbered = exchange.protocol != "kraken"
    exchange.pause()
    try:
        target = exchange.update_id
        deadline = time.monotonic() + 5.0
        wake = threading.Event()
        report = view = None
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        while time.monotonic() < deadline:
            report = book.ask(GetReport(), timeout=5)
            if report.synced and (report.update_id >= target or not numbered):
                view = book.ask(GetBook(depth=10), timeout=5)
                bids, asks = exchange.depth(10)
                if numbered or (list(view.bids), list(view.asks)) == (bids, asks):
                    break
            wake.wait(0.05)
        if view is None:
            view = book.ask(GetBook(depth=10), timeout=5)
            bids, asks = exchange.depth(10)
    finally:
        exchange.resume()
    if report is not None:
        observed.book_resyncs = (
            report.gaps
            + report.bad_levels
            + report.crossed
            + report.checksum_mismatched
            + report.stale_snapshots
        )
    equal = view is not None and list(view.bids) == bids and list(view.asks) == asks
    checksums = f", {report.checksum_matched} checksums matched" if report is not None else ""
    detail = (
        (
            f"top 10 levels equal at update {target}"
            if numbered
            else f"top 10 levels equal{checksums}"
        )
        if equal
        else f"book update {getattr(report, 'update_id', '?')} vs venue {target}: "
        f"bids {list(view.bids)[:3] if view else None} vs {bids[:3]}"
    )
    return Verdict(name=name, passed=equal, detail=detail)


def _risk_limits(max_position: int, limit: int | None) -> Verdict:
    name = "risk limits held at the venue"
    if limit is None:
        return Verdict.skip(name, f"no risk.max_position (max |position| {max_position} lots)")
    if max_position == 0:
        return Verdict.skip(name, f"the account never held a position (max_position {limit})")
    return Verdict(
        name=name,
        passed=max_position <= limit,
        detail=f"max |position| {max_position} lots, max_position {limit}",
    )


def _nothing_after_halted(system: TradingSystem, exchange: SimExchange, watch: _Watch) -> Verdict:
    name = "nothing sent after HALTED"
    if watch.places_at_halt is None:
        return Verdict.skip(name, "the kill switch never went HALTED")
    after = exchange.requests(system.account, "place") - watch.places_at_halt
    return Verdict(
        name=name,
        passed=after <= 1,
        detail=f"{after} order(s) reached the venue after the trip (at most the one "
        "a gateway had past its check when the switch tripped)",
    )


def _mailboxes_bounded(deepest: dict[str, int], samples: int) -> Verdict:
    name = "mailboxes stayed bounded"
    if samples == 0:
        return Verdict.skip(name, "no mailbox was sampled")
    path, depth = max(deepest.items(), key=lambda item: item[1], default=("every mailbox", 0))
    return Verdict(
        name=name,
        passed=depth <= _MAX_DEPTH,
        detail=f"deepest {path}: {depth} messages in {samples} samples (bound {_MAX_DEPTH})",
    )


def _escalations(system: TradingSystem, watch: _Watch) -> Verdict:
    tripped = any(c.source == "escalation" for c in system.gate.history)
    restarts = ", ".join(f"{p} {n}" for p, n in sorted(watch.restarts.items())) or "none"
    failure = system.tree.failure
    return Verdict(
        name="restarts within intensity or escalated",
        passed=not watch.escalations or tripped,
        detail=(
            f"restarts: {restarts}; escalations: {', '.join(watch.escalations) or 'none'}"
            + ("; kill switch tripped by escalation" if tripped else "")
            + (f"; the tree is down: {failure}" if failure is not None else "")
        ),
    )


def _after_stop(
    system: TradingSystem, exchange: SimExchange, summary: ShutdownSummary, observed: Observed
) -> list[Verdict]:
    account, symbol = system.account, system.instrument.symbol
    ours = system.store.ledger.position(symbol).net
    venue = exchange.engine.position(account, symbol)
    fills = len(exchange.engine.fills_since(account, 0))
    observed.fills = fills
    store, name = system.store, system.config.venue.name
    ids = store.ids.get(name)
    # a venue with sequential fill ids has a watermark; one with unique ids (Binance's
    # trade ids) has none: every id applied is remembered instead
    distinct = len(ids.seen) if isinstance(ids, UniqueIds) else None
    if distinct is None and store.fill_ids.get(name) is FillIds.UNIQUE:
        distinct = 0  # no fill applied yet
    placed = exchange.requests(account, "place")
    return [
        _positions_equal(ours, venue, fills),
        _fills_once(
            fills,
            store.fills,
            store.last_execution_id(name),
            store.duplicate_fills,
            distinct_ids=distinct,
        ),
        _nothing_open_after_shutdown(
            summary.open_at_venue, placed, in_book=len(exchange.engine.open_orders(account))
        ),
    ]


def _positions_equal(ours: int, venue: int, fills: int) -> Verdict:
    name = "positions equal the venue's"
    if ours == venue and fills == 0:
        return Verdict.skip(name, f"no fill at the venue (order manager {ours}, venue {venue})")
    return Verdict(
        name=name, passed=ours == venue, detail=f"order manager {ours} lots, venue {venue} lots"
    )


def _fills_once(
    venue_fills: int,
    applied: int,
    watermark: int,
    duplicates: int,
    *,
    distinct_ids: int | None = None,
) -> Verdict:
    """The venue's fills of the account were each applied once.

    With sequential fill ids (the simulator numbers each account's fills 1, 2, 3...)
    the watermark must have reached the venue's count. With unique ids in no order
    (``distinct_ids``: Binance's trade ids) there is no watermark: the ids applied
    must be as many as the venue's fills.
    """
    name = "every venue fill applied exactly once"
    seen = (
        f"watermark {watermark}" if distinct_ids is None else f"{distinct_ids} distinct trade ids"
    )
    detail = (
        f"venue fills {venue_fills}, applied {applied} ({seen}), duplicates skipped {duplicates}"
    )
    counted = watermark if distinct_ids is None else distinct_ids
    if venue_fills == applied == counted == 0:
        return Verdict.skip(name, f"no fill to check: {detail}")
    return Verdict(
        name=name, passed=counted == venue_fills and applied == venue_fills, detail=detail
    )


def _nothing_open_after_shutdown(
    open_at_venue: int | None, placed: int, *, in_book: int | None = None
) -> Verdict:
    """What the system's shutdown asked the venue; ``in_book``: what the engine holds.

    The system must be able to ask (a venue that refuses it, say a ban, fails this), and
    the detail then says what the simulated venue's book holds.
    """
    name = "nothing open at the venue after shutdown"
    if open_at_venue is None:
        held = "" if in_book is None else f"; its book holds {in_book} open order(s)"
        return Verdict(
            name=name,
            passed=False,
            detail="the venue could not be asked over a fresh session (the log's "
            f"venue_query_failed says why){held}",
        )
    if open_at_venue == 0 and placed == 0:
        return Verdict.skip(name, "no order was placed at the venue")
    return Verdict(name=name, passed=open_at_venue == 0, detail=f"{open_at_venue} open")
