"""Fault scenarios with verdicts: ``tradeactors chaos SCENARIO.toml``.

A scenario names the configuration, a duration and a list of faults, each at a time
offset (``at``, seconds from the start) or after N messages handled by an actor
(``after_messages`` with ``path``)::

    name = "gateway crash under load"
    duration = 6.0
    config = "default"            # or a TOML path, relative to the scenario file

    [overrides.risk]              # optional: merged into the configuration
    max_position = 40

    [[fault]]
    at = 2.0
    kind = "crash"                # see FAULTS
    path = "execution/gateway.sim"

It runs the trading tree against the embedded simulated exchange, injects the faults,
and at the end checks invariants, printing ``PASS name: detail`` or ``FAIL name: detail``
for each; the exit status is 0 only if all pass. A bad scenario (unknown fault, bad path,
bad time) is refused with the line at fault before anything starts.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.config import Config, load_config
from tradeactors.core.risk import TradingState
from tradeactors.errors import ConfigError
from tradeactors.supervision import ActorExited, ActorStarted, SupervisorEscalated

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry

    from tradeactors.exchange.server import SimExchange
    from tradeactors.trading.system import TradingSystem

__all__ = ["FAULTS", "Fault", "Scenario", "Verdict", "load_scenario", "run_scenario"]

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


class Scenario(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A scenario file."""

    name: str
    duration: float
    config: str = "default"
    overrides: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    fault: list[Fault] = msgspec.field(default_factory=list)
    settle: float = 1.0  # seconds after the last fault before the checks


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """One invariant's result."""

    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        """``PASS name: detail`` or ``FAIL name: detail``."""
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


# -- loading ---------------------------------------------------------------------------


def load_scenario(path: str | Path) -> tuple[Scenario, Config]:
    """Read and check a scenario; its configuration, with the overrides applied.

    Raises:
        ConfigError: unreadable, unknown key, unknown fault, missing or bad path, bad
            time; the message names the file and the line.

    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc.strerror}") from exc
    fault_lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "[[fault]]"]
    try:
        scenario = msgspec.toml.decode(text.encode(), type=Scenario)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}{_line_of(str(exc), fault_lines)}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    if not scenario.duration > 0:
        raise ConfigError(f"{path}: duration must be positive, not {scenario.duration}")
    base = Config() if scenario.config == "default" else load_config(path.parent / scenario.config)
    config = _with_overrides(base, scenario.overrides, path)
    paths = _paths(config)
    for number, fault in enumerate(scenario.fault):
        where = f"{path}:{fault_lines[number] if number < len(fault_lines) else '?'}"
        _check_fault(fault, where, scenario.duration, paths)
    return scenario, config


def _line_of(error: str, fault_lines: list[int]) -> str:
    match = re.search(r"\$\.fault\[(\d+)\]", error)
    if match and int(match.group(1)) < len(fault_lines):
        return f":{fault_lines[int(match.group(1))]}"
    return ""  # not in a fault: the key path in the message says where


def _with_overrides(base: Config, overrides: dict[str, dict[str, Any]], path: Path) -> Config:
    data = msgspec.to_builtins(base)
    for section, values in overrides.items():
        if section not in data or not isinstance(data[section], dict):
            raise ConfigError(f"{path}: overrides.{section}: no such config section")
        _merge(data[section], values)
    try:
        return msgspec.convert(data, Config)
    except (msgspec.ValidationError, ConfigError) as exc:
        raise ConfigError(f"{path}: overrides: {exc}") from exc


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
    injected: list[str] = field(default_factory=list)
    places_at_kill: int | None = None
    max_depth: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_scenario(
    scenario: Scenario,
    config: Config,
    *,
    registry: CollectorRegistry | None = None,
    out: Callable[[str], None] = print,
) -> list[Verdict]:
    """Run ``scenario``; the verdicts, one per invariant (printed with ``out``)."""
    from tradeactors.trading.system import TradingSystem  # noqa: PLC0415 - runtime first

    system = TradingSystem(config, registry=registry)
    watch = _Watch()
    system.start()
    exchange = system.exchange
    if exchange is None:
        system.stop()
        raise ConfigError("chaos scenarios run against the embedded exchange (no trade_url)")
    stop_watching = threading.Event()
    watchers = [
        threading.Thread(target=_watch_position, args=(exchange, system, watch, stop_watching)),
    ]
    for thread in watchers:
        thread.start()
    system.tree.subscribe(lambda event: _on_tree_event(event, system, exchange, watch))
    try:
        _inject_all(scenario, system, exchange, watch, out)
        verdicts = _check(config, system, exchange, watch)
    finally:
        stop_watching.set()
        for thread in watchers:
            thread.join(10)
        summary = system.stop()
    verdicts.extend(_after_stop(system, exchange, summary))
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

    paths = system.tree.paths()
    while not stop.is_set():
        exchange.wait_until(seen, 0.1)
        for path in paths:
            depth = system.tree.address(path).mailbox_depth
            if depth > watch.max_depth.get(path, 0):
                watch.max_depth[path] = depth


def _on_tree_event(event: Any, system: TradingSystem, exchange: SimExchange, watch: _Watch) -> None:
    if isinstance(event, ActorStarted) and event.incarnation > 1:
        with watch.lock:
            watch.restarts[event.path] = watch.restarts.get(event.path, 0) + 1
    elif isinstance(event, SupervisorEscalated):
        with watch.lock:
            watch.escalations.append(event.path)
    elif (
        isinstance(event, ActorExited)
        and event.path == system.gateway_path
        and event.reason not in ("normal", "shutdown")
    ):
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


def _inject_all(
    scenario: Scenario,
    system: TradingSystem,
    exchange: SimExchange,
    watch: _Watch,
    out: Callable[[str], None],
) -> None:
    started = time.monotonic()
    timed = sorted((f for f in scenario.fault if f.at is not None), key=lambda f: f.at or 0.0)
    for fault in scenario.fault:
        if fault.after_messages is not None:
            threading.Thread(
                target=_after_messages, args=(fault, system, exchange, watch, out), daemon=True
            ).start()
    wake = threading.Event()
    for fault in timed:
        assert fault.at is not None  # noqa: S101 - sorted from the timed ones
        wake.wait(max(0.0, started + fault.at - time.monotonic()))
        _inject(fault, system, exchange, watch, out)
    wake.wait(max(0.0, started + scenario.duration - time.monotonic()))
    wake.wait(scenario.settle)


def _after_messages(
    fault: Fault,
    system: TradingSystem,
    exchange: SimExchange,
    watch: _Watch,
    out: Callable[[str], None],
) -> None:
    assert fault.after_messages is not None  # noqa: S101 - checked at load
    stats = system.tree.stats(fault.path)
    target = stats.processed_total + fault.after_messages
    wake = threading.Event()
    while system.tree.running and stats.processed_total < target:
        wake.wait(0.01)  # polling the counter: the fault's own timing, not a test's
    if system.tree.running:
        _inject(fault, system, exchange, watch, out)


def _inject(  # noqa: C901 - one branch per fault
    fault: Fault,
    system: TradingSystem,
    exchange: SimExchange,
    watch: _Watch,
    out: Callable[[str], None],
) -> None:
    kind = fault.kind
    tree = system.tree
    account = system.account
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
        if fault.state == "halted":
            watch.places_at_kill = exchange.requests(account, "place")
    detail = f"{kind} {fault.path}".strip()
    watch.injected.append(detail)
    out(f"injected {detail}")


# -- the invariants ----------------------------------------------------------------------


def _check(
    config: Config,
    system: TradingSystem,
    exchange: SimExchange,
    watch: _Watch,
) -> list[Verdict]:
    verdicts = []
    # let every death's waiter finish (each waits at most 5 s)
    deadline = time.monotonic() + 6.0
    wake = threading.Event()
    while watch.deaths_pending and time.monotonic() < deadline:
        wake.wait(0.05)
    deaths = list(watch.gateway_deaths)
    if deaths:
        worst = max(deaths)
        verdicts.append(
            Verdict(
                name="nothing left open after a gateway death",
                passed=worst <= 1.0,
                detail=f"{len(deaths)} death(s), zero open at the venue after "
                + ", ".join(f"{d * 1000:.1f} ms" for d in deaths),
            )
        )
    else:
        verdicts.append(
            Verdict(
                name="nothing left open after a gateway death",
                passed=True,
                detail="no gateway death in this scenario",
            )
        )
    verdicts.append(_unknown_orders(system, exchange))
    verdicts.append(_book_matches(system, exchange))
    limit = config.risk.max_position
    verdicts.append(
        Verdict(
            name="risk limits held at the venue",
            passed=limit is None or watch.max_position <= limit,
            detail=f"max |position| {watch.max_position} lots, max_position {limit}",
        )
    )
    if watch.places_at_kill is not None:
        after = exchange.requests(system.account, "place") - watch.places_at_kill
        verdicts.append(
            Verdict(
                name="nothing sent after HALTED",
                passed=after <= 1,
                detail=f"{after} order(s) reached the venue after the trip (at most the one "
                "a gateway had past its check when the switch tripped)",
            )
        )
    deepest = max(watch.max_depth.items(), key=lambda item: item[1], default=("-", 0))
    verdicts.append(
        Verdict(
            name="mailboxes stayed bounded",
            passed=deepest[1] <= _MAX_DEPTH,
            detail=f"deepest {deepest[0]}: {deepest[1]} messages (bound {_MAX_DEPTH})",
        )
    )
    tripped = any(c.source == "escalation" for c in system.gate.history)
    restarts = ", ".join(f"{p} {n}" for p, n in sorted(watch.restarts.items())) or "none"
    verdicts.append(
        Verdict(
            name="restarts within intensity or escalated",
            passed=not watch.escalations or tripped,
            detail=(
                f"restarts: {restarts}; escalations: {', '.join(watch.escalations) or 'none'}"
                + ("; kill switch tripped by escalation" if tripped else "")
            ),
        )
    )
    return verdicts


def _unknown_orders(system: TradingSystem, exchange: SimExchange) -> Verdict:
    """No order open at the venue that the order manager does not know (as open)."""
    deadline = time.monotonic() + 3.0
    wake = threading.Event()
    while True:
        at_venue = {o.client_order_id for o in exchange.open_orders(system.account)}
        # asked, not read from the store: the order manager is still running
        known = {o.client_order_id for o in system.orders().orders if o.status.open}
        unknown = sorted(at_venue - known)
        if not unknown or time.monotonic() > deadline:
            break
        wake.wait(0.05)  # reports in flight settle within a few ms
    return Verdict(
        name="no order at the venue unknown to the order manager",
        passed=not unknown,
        detail=f"{len(at_venue)} open at the venue, unknown: {unknown[:5] or 'none'}",
    )


def _book_matches(system: TradingSystem, exchange: SimExchange) -> Verdict:
    """After recovery, the book actor's top levels equal the venue's."""
    from tradeactors.actors.marketdata import book_name  # noqa: PLC0415
    from tradeactors.core.messages import GetBook, GetReport  # noqa: PLC0415

    path = f"market_data/{book_name(system.instrument.symbol)}"
    exchange.pause()
    try:
        target = exchange.update_id
        deadline = time.monotonic() + 5.0
        wake = threading.Event()
        report = None
        while time.monotonic() < deadline:
            report = system.tree.address(path).ask(GetReport(), timeout=5)
            if report.synced and report.update_id >= target:
                break
            wake.wait(0.05)
        view = system.tree.address(path).ask(GetBook(depth=10), timeout=5)
        bids, asks = exchange.depth(10)
    finally:
        exchange.resume()
    equal = view is not None and list(view.bids) == bids and list(view.asks) == asks
    detail = (
        f"top 10 levels equal at update {target}"
        if equal
        else f"book update {getattr(report, 'update_id', '?')} vs venue {target}: "
        f"bids {list(view.bids)[:3] if view else None} vs {bids[:3]}"
    )
    return Verdict(name="book equal to the venue's after recovery", passed=equal, detail=detail)


def _after_stop(system: TradingSystem, exchange: SimExchange, summary: Any) -> list[Verdict]:
    account, symbol = system.account, system.instrument.symbol
    ours = system.store.ledger.position(symbol).net
    venue = exchange.engine.position(account, symbol)
    fills = exchange.engine.fills_since(account, 0)
    applied = system.store.last_execution_id(system.config.venue.name)
    open_at_venue = summary.open_at_venue if summary is not None else None
    return [
        Verdict(
            name="positions equal the venue's",
            passed=ours == venue,
            detail=f"order manager {ours} lots, venue {venue} lots",
        ),
        Verdict(
            name="every venue fill applied exactly once",
            passed=applied == len(fills) and system.store.fills == len(fills),
            detail=(
                f"venue fills {len(fills)}, applied {system.store.fills} "
                f"(watermark {applied}), duplicates skipped {system.store.duplicate_fills}"
            ),
        ),
        Verdict(
            name="nothing open at the venue after shutdown",
            passed=open_at_venue == 0,
            detail=f"{open_at_venue} open",
        ),
    ]
