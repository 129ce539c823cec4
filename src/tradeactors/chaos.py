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

It runs the trading tree against the embedded simulated exchange, injects the faults,
and at the end checks invariants, printing ``PASS name: detail``, ``FAIL name: detail``
or ``SKIP name: why`` (nothing to check) for each, then whether every fault fired and
every expectation was met; the exit status is 0 only if nothing failed. A bad scenario
(unknown key, unknown fault, bad path, bad time) is refused with the line at fault
before anything starts.
"""

from __future__ import annotations

import difflib
import re
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from tradeactors.config import Config, load_config
from tradeactors.core.orders import OrderStatus
from tradeactors.core.risk import TradingState
from tradeactors.errors import ConfigError
from tradeactors.supervision import ActorExited, ActorStarted, SupervisorEscalated
from tradeactors.supervision.runtime import current_runtime

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry

    from tradeactors.exchange.server import SimExchange
    from tradeactors.supervision import Address, Supervisor
    from tradeactors.trading.system import ShutdownSummary, TradingSystem

__all__ = [
    "FAULTS",
    "Expect",
    "Fault",
    "Observed",
    "Scenario",
    "Verdict",
    "check_expectations",
    "load_scenario",
    "run_scenario",
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
    if not verdicts:
        verdicts.append(
            Verdict.skip("expectations", "none declared: [expect] says what the faults must cause")
        )
    return verdicts


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


def load_scenario(path: str | Path) -> tuple[Scenario, Config]:
    """Read and check a scenario; its configuration, with the overrides applied.

    Raises:
        ConfigError: unreadable, unknown key, unknown fault, missing or bad path, bad
            time, bad expectation; the message names the file and the line.

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
    base = Config() if scenario.config == "default" else load_config(path.parent / scenario.config)
    config = _with_overrides(base, scenario.overrides, path, lines)
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
    return scenario, config


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


def _with_overrides(
    base: Config, overrides: dict[str, dict[str, Any]], path: Path, lines: _KeyLines
) -> Config:
    data = msgspec.to_builtins(base)
    for section, values in overrides.items():
        if section not in data or not isinstance(data[section], dict):
            where = lines.where(path, ("overrides", section))
            raise ConfigError(f"{where}: overrides.{section}: no such config section")
        _merge(data[section], values)
    try:
        return msgspec.convert(data, Config)
    except (msgspec.ValidationError, ConfigError) as exc:
        raise ConfigError(f"{lines.where(path, ('overrides',))}: overrides: {exc}") from exc


def _merge(into: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _paths(config: Config) -> set[str]:
    venue = config.venue.name
    symbol = config.venue.symbol
    paths = {
        "killswitch",
        "execution/order_manager",
        f"execution/gateway.{venue}",
        "risk",
        f"market_data/feed.{venue}",
        f"market_data/book.{symbol.replace('/', '-')}",
    }
    if config.strategy.name != "none":
        paths.add(f"strategies/{config.strategy.name}")
    return paths


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


@dataclass
class _Watch:
    """What the run observes while it goes."""

    max_position: int = 0
    gateway_deaths: list[float] = field(default_factory=list)  # seconds to zero open
    deaths_pending: int = 0
    escalations: list[str] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)
    crashes: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    unfired: dict[int, str] = field(default_factory=dict)  # fault index -> why
    places_at_halt: int | None = None  # the venue's place requests when HALTED came
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
    watch = _Watch()
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
    elif isinstance(event, ActorExited) and event.reason not in ("normal", "shutdown"):
        with watch.lock:
            watch.crashes[event.path] = watch.crashes.get(event.path, 0) + 1
        if event.path == system.gateway_path:
            _time_to_zero_open(system, exchange, watch)


def _time_to_zero_open(system: TradingSystem, exchange: SimExchange, watch: _Watch) -> None:
    died = time.monotonic()
    with watch.lock:
        watch.deaths_pending += 1
    account = system.account

    def wait_for_zero() -> None:
        done = exchange.wait_until(lambda: not exchange.engine.open_orders(account), 5.0)
        with watch.lock:
            watch.deaths_pending -= 1
            watch.gateway_deaths.append(time.monotonic() - died if done else float("inf"))

    threading.Thread(target=wait_for_zero, daemon=True).start()


def _on_trading_event(event: Any, watch: _Watch) -> None:
    if getattr(event, "status", None) == OrderStatus.REJECTED:
        with watch.lock:
            watch.rejected += 1


def _on_gate_change(run: _Run, change: Any) -> None:
    if change.state == TradingState.HALTED and run.watch.places_at_halt is None:
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
    # let every death's waiter finish (each waits at most 5 s)
    deadline = time.monotonic() + 6.0
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


def _guarded(name: str, check: Callable[[], Verdict]) -> Verdict:
    """``check()``, or a FAIL saying why it could not run: one check never hides another."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - reported as the verdict, never hidden
        return Verdict(name=name, passed=False, detail=f"could not check: {exc!r}")


def _no_open_after_death(watch: _Watch) -> Verdict:
    name = "nothing left open after a gateway death"
    deaths = list(watch.gateway_deaths)
    if not deaths:
        return Verdict.skip(name, "no gateway death in this run")
    return Verdict(
        name=name,
        passed=max(deaths) <= 1.0,
        detail=f"{len(deaths)} death(s), zero open at the venue after "
        + ", ".join(f"{d * 1000:.1f} ms" for d in deaths),
    )


def _unknown_orders(system: TradingSystem, exchange: SimExchange) -> Verdict:
    """No order open at the venue that the order manager does not know (as open)."""
    name = "no order at the venue unknown to the order manager"
    deadline = time.monotonic() + 3.0
    wake = threading.Event()
    while True:
        at_venue = {o.client_order_id for o in exchange.open_orders(system.account)}
        if system.tree.running:
            # asked, not read from the store: the order manager is still running
            known = {o.client_order_id for o in system.orders().orders if o.status.open}
        else:  # the tree is down: nobody writes the store any more
            known = {t.order.client_order_id for t in system.store.open_orders()}
        unknown = sorted(at_venue - known)
        if not unknown or time.monotonic() > deadline:
            break
        wake.wait(0.05)  # reports in flight settle within a few ms
    if not at_venue:
        return Verdict.skip(name, "no order open at the venue")
    return Verdict(
        name=name,
        passed=not unknown,
        detail=f"{len(at_venue)} open at the venue, unknown: {unknown[:5] or 'none'}",
    )


def _book_matches(system: TradingSystem, exchange: SimExchange, observed: Observed) -> Verdict:
    """After recovery, the book actor's top levels equal the venue's."""
    from tradeactors.actors.marketdata import book_name  # noqa: PLC0415
    from tradeactors.core.messages import GetBook, GetReport  # noqa: PLC0415

    name = "book equal to the venue's after recovery"
    path = f"market_data/{book_name(system.instrument.symbol)}"
    if not system.tree.running:
        return Verdict.skip(name, f"{path} is not running: the tree is down")
    book = system.tree.address(path)
    exchange.pause()
    try:
        target = exchange.update_id
        deadline = time.monotonic() + 5.0
        wake = threading.Event()
        report = None
        while time.monotonic() < deadline:
            report = book.ask(GetReport(), timeout=5)
            if report.synced and report.update_id >= target:
                break
            wake.wait(0.05)
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
    detail = (
        f"top 10 levels equal at update {target}"
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
    applied = system.store.last_execution_id(system.config.venue.name)
    placed = exchange.requests(account, "place")
    return [
        _positions_equal(ours, venue, fills),
        _fills_once(fills, system.store.fills, applied, system.store.duplicate_fills),
        _nothing_open_after_shutdown(summary.open_at_venue, placed),
    ]


def _positions_equal(ours: int, venue: int, fills: int) -> Verdict:
    name = "positions equal the venue's"
    if ours == venue and fills == 0:
        return Verdict.skip(name, f"no fill at the venue (order manager {ours}, venue {venue})")
    return Verdict(
        name=name, passed=ours == venue, detail=f"order manager {ours} lots, venue {venue} lots"
    )


def _fills_once(venue_fills: int, applied: int, watermark: int, duplicates: int) -> Verdict:
    name = "every venue fill applied exactly once"
    detail = (
        f"venue fills {venue_fills}, applied {applied} (watermark {watermark}), "
        f"duplicates skipped {duplicates}"
    )
    if venue_fills == applied == watermark == 0:
        return Verdict.skip(name, f"no fill to check: {detail}")
    return Verdict(
        name=name, passed=watermark == venue_fills and applied == venue_fills, detail=detail
    )


def _nothing_open_after_shutdown(open_at_venue: int | None, placed: int) -> Verdict:
    name = "nothing open at the venue after shutdown"
    if open_at_venue is None:
        return Verdict(name=name, passed=False, detail="the venue could not be asked")
    if open_at_venue == 0 and placed == 0:
        return Verdict.skip(name, "no order was placed at the venue")
    return Verdict(name=name, passed=open_at_venue == 0, detail=f"{open_at_venue} open")
