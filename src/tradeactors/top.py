"""``tradeactors top``: a live terminal view of a running tree, from its Prometheus endpoint.

It scrapes the text exposition a ``tradeactors run`` (or ``chaos``) serves (the URL is
printed at start) every ``--interval`` seconds and shows, per actor path: state, mailbox
depth, messages per second, mailbox wait p99, handler p99, restarts and dead letters;
on top the kill switch, the venues, open orders, fills and positions (and, when the
system keeps a journal, a line of its metrics: events written per second, commit p99,
batch size, lag, times unavailable); and between them, when the system serves them,
positions and PnL per strategy: a line per strategy (its position in each instrument,
realized, unrealized and total PnL per quote currency, open orders, fills) and the
total, so 16 strategies take 16 lines. When the host is on the bus (roles over Redis
Streams), a line per host of its bus metrics: role, entries published, consumed and
acknowledged per second, pending, redelivered, duplicates dropped, the largest lag of a
stream, and the oldest heartbeat of a peer (red past the lease).

The module has a pure part, tested with hand-written expositions:

- `parse_scrape`: exposition text -> `Snapshot`;
- `actor_rows`: two snapshots -> one `ActorRow` per path (rates, quantiles);
- `render`: a `View` -> a rich renderable;

and a thin loop, `run_top` (urllib, ``rich.live.Live``, Ctrl-C), that `main_top`
runs for the command line. It imports neither pykka nor the actors: it only reads HTTP.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tradeactors._state import latest_run, no_live_run, state_dir
from tradeactors.core.units import base_quote
from tradeactors.errors import TopError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping

    from rich.console import RenderableType

__all__ = [
    "DEFAULT_URL",
    "ActorRow",
    "ActorSample",
    "Buckets",
    "BusRow",
    "BusSample",
    "JournalRow",
    "JournalSample",
    "Quantile",
    "ScopeSample",
    "Snapshot",
    "TopError",
    "View",
    "actor_rows",
    "bus_rows",
    "fetch_snapshot",
    "histogram_quantile",
    "journal_row",
    "main_top",
    "make_view",
    "parse_scrape",
    "render",
    "run_top",
]

DEFAULT_URL = "http://127.0.0.1:9464/metrics"
KILL_SWITCH_STATES = {0: "ACTIVE", 1: "REDUCING", 2: "HALTED"}
_KILL_SWITCH_STYLES = {0: "bold green", 1: "bold yellow", 2: "bold white on red"}
QUANTILE = 0.99
_PIPE_WIDTH = 240
DEFAULT_LEASE = 3.0
"""The bus lease (``[bus] lease``'s default) past which a peer's heartbeat age is red."""

Buckets = tuple[tuple[float, float], ...]
"""A histogram: ``(upper bound, cumulative count)`` pairs, ascending, ``inf`` last."""


# -- snapshots: one scrape, parsed ---------------------------------------------------


@dataclass(frozen=True)
class ActorSample:
    """One actor path's series in one scrape (None: the series was absent)."""

    path: str
    up: bool | None = None
    depth: float | None = None
    processed: float = 0.0  # summed over message_type
    restarts: float = 0.0
    dead_letters: float = 0.0  # summed over reason
    wait: Buckets = ()
    handler: Buckets = ()


@dataclass(frozen=True)
class ScopeSample:
    """One strategy's series in one instrument (None: the series was absent)."""

    strategy: str
    instrument: str
    position: float = 0.0  # lots
    base_position: float | None = None  # base units
    open_orders: float = 0.0
    fills: float = 0.0
    quote: str = ""
    realized: float | None = None  # quote currency
    unrealized: float | None = None  # quote currency; None: not marked


@dataclass(frozen=True)
class JournalSample:
    """The journal's series in one scrape (`tradeactors.journal.JournalMetrics`)."""

    written: float = 0.0  # events committed
    dropped: float = 0.0  # events of batches that could not be written
    unavailable: float = 0.0  # times the journal became unwritable
    lag: float | None = None  # events queued after the last commit
    batches: float = 0.0  # commits (the batch histogram's count)
    batch_events: float = 0.0  # events over those commits (its sum)
    commit: Buckets = ()  # commit seconds


_JOURNAL_SERIES = {
    "tradeactors_journal_events_written_total": "written",
    "tradeactors_journal_events_dropped_total": "dropped",
    "tradeactors_journal_unavailable_total": "unavailable",
    "tradeactors_journal_lag_events": "lag",
    "tradeactors_journal_batch_events_count": "batches",
    "tradeactors_journal_batch_events_sum": "batch_events",
}
"""The journal's scalar series -> the `JournalSample` field they fill."""


@dataclass(frozen=True)
class BusSample:
    """One host's bus series in one scrape (`tradeactors.bus.BusMetrics`), by stream."""

    host: str
    published: Mapping[str, float] = field(default_factory=dict)  # entries added (XADD)
    consumed: Mapping[str, float] = field(default_factory=dict)
    acked: Mapping[str, float] = field(default_factory=dict)
    redelivered: Mapping[str, float] = field(default_factory=dict)
    duplicates: Mapping[str, float] = field(default_factory=dict)
    pending: Mapping[str, float] = field(default_factory=dict)
    lag: Mapping[str, float] = field(default_factory=dict)
    up: Mapping[str, bool] = field(default_factory=dict)
    heartbeat_age: Mapping[str, float] = field(default_factory=dict)  # seconds, by peer


_BUS_SERIES = {
    "tradeactors_bus_published_total": "published",
    "tradeactors_bus_consumed_total": "consumed",
    "tradeactors_bus_acked_total": "acked",
    "tradeactors_bus_redelivered_total": "redelivered",
    "tradeactors_bus_duplicates_dropped_total": "duplicates",
    "tradeactors_bus_pending": "pending",
    "tradeactors_bus_lag": "lag",
}
"""The bus's series by stream -> the `BusSample` field they fill."""


@dataclass(frozen=True)
class Snapshot:
    """Everything `top` shows, from one scrape taken at ``at`` (monotonic seconds)."""

    at: float
    actors: Mapping[str, ActorSample] = field(default_factory=dict)  # in exposition order
    kill_switch: int | None = None  # 0 active, 1 reducing, 2 halted
    venues: Mapping[str, bool] = field(default_factory=dict)
    open_orders: Mapping[str, float] = field(default_factory=dict)  # by venue
    fills: float | None = None
    positions: Mapping[str, float] = field(default_factory=dict)  # lots, by instrument
    base_positions: Mapping[str, float] = field(default_factory=dict)  # base units
    scopes: Mapping[tuple[str, str], ScopeSample] = field(default_factory=dict)
    # kill-switch scopes other than `all` (strategy:<name>, venue:<name>) -> state
    kill_scopes: Mapping[str, int] = field(default_factory=dict)
    journal: JournalSample | None = None  # None: the system keeps no journal
    buses: Mapping[str, BusSample] = field(default_factory=dict)  # by host; {}: no bus


_SCOPE_SERIES = {
    "tradeactors_strategy_position_lots": "position",
    "tradeactors_strategy_position": "base_position",
    "tradeactors_strategy_open_orders": "open_orders",
    "tradeactors_strategy_fills_total": "fills",
    "tradeactors_pnl_realized": "realized",
    "tradeactors_pnl_unrealized": "unrealized",
}
"""Series per (strategy, instrument) -> the `ScopeSample` field they fill."""


class _ScopeParts:
    """The series of one (strategy, instrument) while a scrape is parsed."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.quote = ""

    def sample(self, strategy: str, instrument: str) -> ScopeSample:
        values = self.values
        return ScopeSample(
            strategy=strategy,
            instrument=instrument,
            position=values.get("position", 0.0),
            base_position=values.get("base_position"),
            open_orders=values.get("open_orders", 0.0),
            fills=values.get("fills", 0.0),
            quote=self.quote,
            realized=values.get("realized"),
            unrealized=values.get("unrealized"),
        )


class _ActorParts:
    """The series of one path while a scrape is parsed."""

    def __init__(self) -> None:
        self.up: bool | None = None
        self.depth: float | None = None
        self.processed = 0.0
        self.restarts = 0.0
        self.dead_letters = 0.0
        self.wait: dict[float, float] = {}
        self.handler: dict[float, float] = {}

    def sample(self, path: str) -> ActorSample:
        return ActorSample(
            path=path,
            up=self.up,
            depth=self.depth,
            processed=self.processed,
            restarts=self.restarts,
            dead_letters=self.dead_letters,
            wait=tuple(sorted(self.wait.items())),
            handler=tuple(sorted(self.handler.items())),
        )


def parse_scrape(text: str, at: float) -> Snapshot:  # noqa: C901, PLR0912, PLR0915 - a branch per series
    """Parse a Prometheus text exposition into a `Snapshot` taken at ``at``.

    Series that are not tradeactors' are ignored; a malformed exposition raises
    ``ValueError`` (from prometheus-client's parser).
    """
    actors: dict[str, _ActorParts] = {}
    kill_switch: int | None = None
    venues: dict[str, bool] = {}
    open_orders: dict[str, float] = {}
    fills: float | None = None
    positions: dict[str, float] = {}
    base_positions: dict[str, float] = {}
    scopes: dict[tuple[str, str], _ScopeParts] = {}
    kill_scopes: dict[str, int] = {}
    journal: dict[str, float] = {}
    commit: dict[float, float] = {}
    buses: dict[str, dict[str, dict[str, Any]]] = {}

    def bus(labels: Mapping[str, str], what: str) -> dict[str, Any]:
        return buses.setdefault(labels.get("host", "?"), {}).setdefault(what, {})

    def actor(labels: Mapping[str, str]) -> _ActorParts:
        return actors.setdefault(labels.get("path", "?"), _ActorParts())

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "tradeactors_actor_up":
                actor(labels).up = value >= 1
            elif name == "tradeactors_mailbox_depth":
                actor(labels).depth = value
            elif name == "tradeactors_messages_processed_total":
                actor(labels).processed += value
            elif name == "tradeactors_restarts_total":
                actor(labels).restarts = value
            elif name == "tradeactors_dead_letters_total":
                actor(labels).dead_letters += value
            elif name == "tradeactors_mailbox_wait_seconds_bucket":
                actor(labels).wait[float(labels["le"])] = value
            elif name == "tradeactors_handler_seconds_bucket":
                actor(labels).handler[float(labels["le"])] = value
            elif name == "tradeactors_kill_switch_state":
                kill_switch = round(value)
            elif name == "tradeactors_kill_switch_scope_state":
                if labels.get("scope", "all") != "all":
                    kill_scopes[labels.get("scope", "?")] = round(value)
            elif name == "tradeactors_venue_up":
                venues[labels.get("venue", "?")] = value >= 1
            elif name == "tradeactors_open_orders":
                open_orders[labels.get("venue", "?")] = value
            elif name == "tradeactors_fills_total":
                fills = value
            elif name == "tradeactors_position_lots":
                positions[labels.get("instrument", "?")] = value
            elif name == "tradeactors_position":
                base_positions[labels.get("instrument", "?")] = value
            elif name in _SCOPE_SERIES:
                key = (labels.get("strategy", "?"), labels.get("instrument", "?"))
                parts = scopes.setdefault(key, _ScopeParts())
                parts.values[_SCOPE_SERIES[name]] = value
                parts.quote = labels.get("quote", parts.quote)
            elif name in _JOURNAL_SERIES:
                journal[_JOURNAL_SERIES[name]] = value
            elif name == "tradeactors_journal_commit_seconds_bucket":
                commit[float(labels["le"])] = value
            elif name in _BUS_SERIES:
                bus(labels, _BUS_SERIES[name])[labels.get("stream", "?")] = value
            elif name == "tradeactors_bus_up":
                bus(labels, "up")[labels.get("stream", "?")] = value >= 1
            elif name == "tradeactors_bus_heartbeat_age_seconds":
                bus(labels, "heartbeat_age")[labels.get("peer", "?")] = value
    return Snapshot(
        at=at,
        actors={path: parts.sample(path) for path, parts in actors.items()},
        kill_switch=kill_switch,
        kill_scopes=kill_scopes,
        venues=venues,
        open_orders=open_orders,
        fills=fills,
        positions=positions,
        base_positions=base_positions,
        scopes={key: parts.sample(*key) for key, parts in scopes.items()},
        journal=JournalSample(**journal, commit=tuple(sorted(commit.items())))
        if journal or commit
        else None,
        buses={host: BusSample(host=host, **parts) for host, parts in buses.items()},
    )


# -- rows: rates and quantiles between two snapshots ---------------------------------


def histogram_quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q`` quantile of a cumulative histogram, as PromQL's ``histogram_quantile``.

    Linear interpolation inside the bucket the rank falls in (from 0 for the first
    bucket); a rank in the ``+Inf`` bucket gives the highest finite bound. None if the
    histogram is empty.
    """
    if not buckets or buckets[-1][0] != float("inf"):
        return None
    counts: list[float] = []
    for _, count in buckets:  # a torn or reset scrape must not go backwards
        counts.append(max(count, counts[-1]) if counts else count)
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    for index, (bound, count) in enumerate(zip((b for b, _ in buckets), counts, strict=True)):
        if count >= rank:
            if bound == float("inf"):
                return buckets[index - 1][0] if index > 0 else None
            lower = buckets[index - 1][0] if index > 0 else 0.0
            below = counts[index - 1] if index > 0 else 0.0
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
    return None  # pragma: no cover - the last count is the total


def _increase(previous: Buckets, current: Buckets) -> Buckets:
    """Bucket counts added between two scrapes (the current ones after a reset)."""
    before = dict(previous)
    if set(before) != {bound for bound, _ in current}:
        return current
    increase = tuple((bound, count - before[bound]) for bound, count in current)
    if any(count < 0 for _, count in increase):
        return current  # a counter reset: the process restarted
    return increase


@dataclass(frozen=True)
class Quantile:
    """A quantile in seconds; ``recent`` if over the last interval, else since the start."""

    seconds: float
    recent: bool


def _p99(previous: Buckets | None, current: Buckets) -> Quantile | None:
    if previous is not None:
        increase = _increase(previous, current)
        if increase and increase[-1][1] > 0:
            value = histogram_quantile(QUANTILE, increase)
            if value is not None:
                return Quantile(value, recent=True)
    value = histogram_quantile(QUANTILE, current)
    return None if value is None else Quantile(value, recent=False)


@dataclass(frozen=True)
class ActorRow:
    """One line of the table."""

    path: str
    up: bool | None
    depth: float | None
    rate: float | None  # messages per second between the scrapes; None on the first
    wait_p99: Quantile | None
    handler_p99: Quantile | None
    restarts: float
    dead_letters: float
    supervisor: bool  # it has children (or is the root)


def actor_rows(previous: Snapshot | None, current: Snapshot) -> tuple[ActorRow, ...]:
    """One row per actor path of ``current``, in exposition (tree) order."""
    paths = list(current.actors)
    elapsed = current.at - previous.at if previous is not None else 0.0
    rows = []
    for path, sample in current.actors.items():
        before = previous.actors.get(path) if previous is not None else None
        rate: float | None = None
        if before is not None and elapsed > 0:
            added = sample.processed - before.processed
            rate = (added if added >= 0 else sample.processed) / elapsed
        rows.append(
            ActorRow(
                path=path,
                up=sample.up,
                depth=sample.depth,
                rate=rate,
                wait_p99=_p99(before.wait if before else None, sample.wait),
                handler_p99=_p99(before.handler if before else None, sample.handler),
                restarts=sample.restarts,
                dead_letters=sample.dead_letters,
                supervisor=path == "/" or any(p.startswith(path + "/") for p in paths),
            )
        )
    return tuple(rows)


@dataclass(frozen=True)
class JournalRow:
    """The journal's line: rates and the batch size over the interval (else since the start)."""

    rate: float | None  # events written per second; None on the first frame
    commit_p99: Quantile | None
    batch: float | None  # mean events per commit; None: no commit yet
    batch_recent: bool  # ``batch`` is over the last interval (else since the start)
    lag: float | None
    unavailable: float
    dropped: float


def journal_row(previous: Snapshot | None, current: Snapshot) -> JournalRow | None:
    """The journal's line of ``current`` (None: the system serves no journal metrics)."""
    sample = current.journal
    if sample is None:
        return None
    before = previous.journal if previous is not None else None
    rate: float | None = None
    batch, recent = None, False
    if sample.batches > 0:
        batch = sample.batch_events / sample.batches
    if before is not None and previous is not None and current.at > previous.at:
        added = sample.written - before.written
        rate = (added if added >= 0 else sample.written) / (current.at - previous.at)
        commits = sample.batches - before.batches
        events = sample.batch_events - before.batch_events
        if commits > 0 and events >= 0:  # (fewer events: a restart, the mean since it)
            batch, recent = events / commits, True
    return JournalRow(
        rate=rate,
        commit_p99=_p99(before.commit if before else None, sample.commit),
        batch=batch,
        batch_recent=recent,
        lag=sample.lag,
        unavailable=sample.unavailable,
        dropped=sample.dropped,
    )


_MARKET_DATA_PREFIX = "md:"
_COMMANDS = "bus:commands"
_EVENTS = "bus:events"


def bus_role(sample: BusSample) -> str:
    """The host's role, from its streams (the role is not a series): ``?`` until it has one.

    An execution host reads the commands stream, a strategy host writes it (and reads
    the events), a market-data host writes market-data streams (``md:...``).
    """
    read = {*sample.consumed, *sample.acked, *sample.pending, *sample.lag}
    if _COMMANDS in read:
        return "execution"
    if _COMMANDS in sample.published or _EVENTS in read:
        return "strategy"
    if any(stream.startswith(_MARKET_DATA_PREFIX) for stream in sample.published):
        return "market-data"
    return "?"


@dataclass(frozen=True)
class BusRow:
    """A host's bus line: rates over the interval (None on the first frame), totals now."""

    host: str
    role: str
    down: tuple[str, ...]  # streams whose bridge does not reach Redis now
    published: float | None  # entries per second, all streams
    consumed: float | None
    acked: float | None
    pending: float  # all streams
    redelivered: float  # since the start
    duplicates: float  # since the start
    lag: tuple[str, float] | None  # the stream most behind, and by how many entries
    heartbeat: tuple[str, float] | None  # the peer heard longest ago, seconds
    lease: float

    @property
    def past_lease(self) -> bool:
        """The oldest peer's heartbeat is older than the lease: it is gone (or we are)."""
        return self.heartbeat is not None and self.heartbeat[1] > self.lease


def _rate(
    previous: Mapping[str, float] | None, current: Mapping[str, float], elapsed: float
) -> float | None:
    """Per second between two scrapes, over all streams; a counter reset counts from 0."""
    if previous is None or elapsed <= 0:
        return None
    now, before = float(sum(current.values())), float(sum(previous.values()))
    return (now - before if now >= before else now) / elapsed


def _largest(values: Mapping[str, float]) -> tuple[str, float] | None:
    if not values:
        return None
    key = max(values, key=lambda k: (values[k], k))
    return key, values[key]


def bus_rows(
    previous: Snapshot | None, current: Snapshot, lease: float = DEFAULT_LEASE
) -> tuple[BusRow, ...]:
    """A row per host on the bus in ``current`` (by host name); none without bus metrics."""
    elapsed = current.at - previous.at if previous is not None else 0.0
    rows = []
    for host in sorted(current.buses):
        sample = current.buses[host]
        before = previous.buses.get(host) if previous is not None else None
        rows.append(
            BusRow(
                host=host,
                role=bus_role(sample),
                down=tuple(sorted(s for s, up in sample.up.items() if not up)),
                published=_rate(before.published if before else None, sample.published, elapsed),
                consumed=_rate(before.consumed if before else None, sample.consumed, elapsed),
                acked=_rate(before.acked if before else None, sample.acked, elapsed),
                pending=float(sum(sample.pending.values())),
                redelivered=float(sum(sample.redelivered.values())),
                duplicates=float(sum(sample.duplicates.values())),
                lag=_largest(sample.lag),
                heartbeat=_largest(sample.heartbeat_age),
                lease=lease,
            )
        )
    return tuple(rows)


# -- rendering -----------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """What one frame shows."""

    url: str
    snapshot: Snapshot
    rows: tuple[ActorRow, ...]
    interval: float | None = None  # seconds between the two scrapes the rates span
    error: str | None = None  # the last scrape failed: the data shown is older
    journal: JournalRow | None = None  # None: the system keeps no journal
    buses: tuple[BusRow, ...] = ()  # a line per host on the bus


def make_view(
    url: str,
    previous: Snapshot | None,
    current: Snapshot,
    error: str | None = None,
    *,
    lease: float = DEFAULT_LEASE,
) -> View:
    """The frame for ``current``, with rates since ``previous`` (if any).

    ``lease``: the bus's (``[bus] lease``); a peer not heard for longer is shown red.
    """
    return View(
        url=url,
        snapshot=current,
        rows=actor_rows(previous, current),
        interval=None if previous is None else current.at - previous.at,
        error=error,
        journal=journal_row(previous, current),
        buses=bus_rows(previous, current, lease),
    )


def _positions(snapshot: Snapshot) -> str:
    """``BTCUSDT +0.005 BTC`` (base units), or ``... 5 lots`` when the base is not served."""
    parts = []
    for instrument, lots in snapshot.positions.items():
        base = snapshot.base_positions.get(instrument)
        if base is None:
            parts.append(f"{instrument} {_number(lots)} lots")
        else:
            parts.append(f"{instrument} {base:+g} {base_quote(instrument)[0]}")
    return ", ".join(parts)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value.is_integer() else f"{value:g}"


def format_seconds(seconds: float) -> str:
    """A duration with three significant digits: ``850ns``, ``12.3µs``, ``1.05ms``, ``2.50s``."""
    unit, value = "ns", seconds * 1e9
    for name, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            unit, value = name, seconds / scale
            break
    if value >= 99.95:  # noqa: PLR2004 - where one decimal would round to four digits
        return f"{value:.0f}{unit}"
    return f"{value:.1f}{unit}" if value >= 9.995 else f"{value:.2f}{unit}"  # noqa: PLR2004


def _quantile_cell(quantile: Quantile | None) -> Text:
    if quantile is None:
        return Text("-", style="dim")
    # dim: no message in the last interval, so the p99 is the one since the start
    return Text(format_seconds(quantile.seconds), style="" if quantile.recent else "dim")


def _kill_switch(state: int | None) -> Text:
    if state is None:
        return Text("n/a", style="dim")
    label = KILL_SWITCH_STATES.get(state, f"unknown ({state})")
    return Text(label, style=_KILL_SWITCH_STYLES.get(state, "bold red"))


def _header(view: View) -> Table:
    snapshot = view.snapshot
    grid = Table.grid()
    every = "" if view.interval is None else f"   rates over {view.interval:.1f} s"
    grid.add_row(Text.assemble(("tradeactors top", "bold"), f"   {view.url}{every}"))
    venues = Text("n/a", style="dim") if not snapshot.venues else Text()
    for name, is_up in snapshot.venues.items():
        if venues:
            venues.append(", ")
        venues.append(f"{name} ")
        venues.append("up" if is_up else "DOWN", style="green" if is_up else "bold red")
    up = sum(1 for row in view.rows if row.up)
    tripped = [
        f"{scope} {KILL_SWITCH_STATES.get(state, state)}"
        for scope, state in snapshot.kill_scopes.items()
        if state
    ]
    grid.add_row(
        Text.assemble(
            "kill switch ",
            _kill_switch(snapshot.kill_switch),
            (f" ({', '.join(tripped)})" if tripped else "", "bold red"),
            "   venues ",
            venues,
            f"   {len(view.rows)} actors, {up} up",
        )
    )
    open_orders = ", ".join(f"{v} {_number(n)}" for v, n in snapshot.open_orders.items())
    grid.add_row(
        f"open orders {open_orders or '-'}   fills {_number(snapshot.fills)}"
        f"   positions {_positions(snapshot) or '-'}"
    )
    if view.journal is not None:
        grid.add_row(_journal_line(view.journal))
    for row in view.buses:
        grid.add_row(_bus_line(row))
    if view.error is not None:
        grid.add_row(Text(f"last scrape failed ({view.error}): showing older data", "bold red"))
    return grid


def _journal_line(row: JournalRow) -> Text:
    """``journal 1520 events/s   commit p99 1.05ms   batch 12.5   lag 0   unavailable 0``."""
    line = Text("journal ")
    line.append("-" if row.rate is None else f"{row.rate:.0f}")
    line.append(" events/s   commit p99 ")
    line.append_text(_quantile_cell(row.commit_p99))
    line.append("   batch ")
    if row.batch is None:
        line.append("-", style="dim")
    else:  # dim: no commit in the last interval, so the mean is the one since the start
        line.append(f"{row.batch:.1f}", style="" if row.batch_recent else "dim")
    line.append("   lag ")
    line.append(_number(row.lag), style="bold yellow" if row.lag else "")
    line.append("   unavailable ")
    line.append(_number(row.unavailable), style="bold white on red" if row.unavailable else "")
    if row.dropped:
        line.append(f" ({_number(row.dropped)} events dropped)", style="bold red")
    return line


def _per_second(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}"


def _bus_line(row: BusRow) -> Text:
    """``bus st-1 strategy up   published 2.0/s ...   lag 0 bus:events   heartbeat -``."""
    line = Text(f"bus {row.host} {row.role} ")
    if row.down:
        line.append(f"DOWN ({', '.join(row.down)})", style="bold white on red")
    else:
        line.append("up", style="green")
    line.append(
        f"   published {_per_second(row.published)}/s"
        f"   consumed {_per_second(row.consumed)}/s"
        f"   acked {_per_second(row.acked)}/s   pending "
    )
    line.append(_number(row.pending), style="bold yellow" if row.pending else "")
    line.append("   redelivered ")
    line.append(_number(row.redelivered), style="yellow" if row.redelivered else "")
    line.append("   duplicates ")
    line.append(_number(row.duplicates), style="yellow" if row.duplicates else "")
    line.append("   lag ")
    if row.lag is None:
        line.append("-", style="dim")
    else:
        stream, lag = row.lag
        line.append(f"{_number(lag)} {stream}", style="bold yellow" if lag else "")
    line.append("   heartbeat ")
    if row.heartbeat is None:
        line.append("-", style="dim")
    else:
        peer, age = row.heartbeat
        text = f"{format_seconds(age)} {peer}" + (" PAST LEASE" if row.past_lease else "")
        line.append(text, style="bold white on red" if row.past_lease else "")
    return line


_SCOPE_COLUMNS = ("strategy", "positions", "realized", "unrealized", "PnL", "open", "fills")


def _money(totals: Mapping[str, float]) -> str:
    """``+0.044 USDT`` (six significant digits), one per quote currency; ``-`` if none."""
    parts = []
    for quote, value in totals.items():
        text = "+0" if value == 0 else f"{value:+.6g}"
        parts.append(f"{text} {quote}".rstrip())
    return ", ".join(parts) or "-"


def _scope_cells(samples: list[ScopeSample]) -> tuple[str, ...]:
    """A strategy's (or everyone's) line: its positions, PnL per quote, orders, fills."""
    lots: dict[str, float] = {}
    bases: dict[str, float | None] = {}
    realized: dict[str, float] = {}
    unrealized: dict[str, float] = {}
    unmarked = False
    for sample in samples:
        instrument = sample.instrument
        lots[instrument] = lots.get(instrument, 0.0) + sample.position
        base, known = bases.get(instrument, 0.0), sample.base_position
        bases[instrument] = None if base is None or known is None else base + known
        if sample.realized is not None:
            realized[sample.quote] = realized.get(sample.quote, 0.0) + sample.realized
        if sample.unrealized is not None:
            unrealized[sample.quote] = unrealized.get(sample.quote, 0.0) + sample.unrealized
        elif sample.position:
            unmarked = True  # no mark: its PnL is realized only
    positions = [
        f"{_number(lots[i])} lots {i}" if base is None else f"{base:+g} {base_quote(i)[0]}"
        for i, base in bases.items()
        if lots[i]
    ]
    total = dict(realized)
    for quote, value in unrealized.items():
        total[quote] = total.get(quote, 0.0) + value
    return (
        " ".join(positions) or "flat",
        _money(realized),
        _money(unrealized) + (" ?" if unmarked else ""),
        _money(total),
        _number(sum(s.open_orders for s in samples)),
        _number(sum(s.fills for s in samples)),
    )


def _scope_table(snapshot: Snapshot) -> RenderableType | None:
    """A line per strategy over its instruments, then the total; None: no such series."""
    if not snapshot.scopes:
        return None
    by_strategy: dict[str, list[ScopeSample]] = {}
    for sample in snapshot.scopes.values():
        by_strategy.setdefault(sample.strategy, []).append(sample)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name in _SCOPE_COLUMNS:
        table.add_column(
            name,
            justify="left" if name in ("strategy", "positions") else "right",
            no_wrap=True,
            overflow="ellipsis",
        )
    # strategies by name; the host's orders and unknown fills, "(...)", after them
    for strategy in sorted(by_strategy, key=lambda n: (n.startswith("("), n)):
        table.add_row(strategy, *_scope_cells(by_strategy[strategy]))
    if len(by_strategy) > 1:
        table.add_row(
            *(Text(c, style="bold") for c in ("total", *_scope_cells([*snapshot.scopes.values()])))
        )
    return table


_COLUMNS = ("state", "mailbox", "msgs/s", "wait\np99", "handler\np99", "restarts", "dead\nletters")
_GAP = 2  # cells between two columns of the table below (padding 1, a blank border)
_MIN_PATH = 12


def _cells(row: ActorRow) -> tuple[Text, ...]:
    state = (
        Text("-", style="dim")
        if row.up is None
        else Text("up", style="green")
        if row.up
        else Text("down", style="bold red")
    )
    return (
        state,
        Text(_number(row.depth), style="bold yellow" if row.depth else ""),
        Text("-" if row.rate is None else f"{row.rate:.1f}"),
        _quantile_cell(row.wait_p99),
        _quantile_cell(row.handler_p99),
        Text(_number(row.restarts), style="yellow" if row.restarts else ""),
        Text(_number(row.dead_letters), style="yellow" if row.dead_letters else ""),
    )


def _table(rows: tuple[ActorRow, ...], width: int | None) -> RenderableType:
    if not rows:
        return Text("no tradeactors actor metrics at this URL", style="dim")
    cells = [_cells(row) for row in rows]
    widths = [
        max([*map(len, name.split("\n")), *(line[i].cell_len for line in cells)])
        for i, name in enumerate(_COLUMNS)
    ]
    path_width = max([len("path"), *(len(row.path) for row in rows)])
    if width is not None:  # the numbers always fit: a long path is cut instead
        path_width = min(path_width, max(_MIN_PATH, width - sum(widths) - _GAP * len(widths)))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("path", width=path_width, no_wrap=True, overflow="ellipsis", vertical="bottom")
    for name, column_width in zip(_COLUMNS, widths, strict=True):
        table.add_column(
            name,
            justify="left" if name == "state" else "right",
            no_wrap=True,
            min_width=column_width,
            vertical="bottom",
        )
    for row, line in zip(rows, cells, strict=True):
        path = Text(row.path, style="bold" if row.supervisor else "", overflow="ellipsis")
        table.add_row(path, *line)
    return table


def render(view: View, width: int | None = None) -> RenderableType:
    """The frame: the header, positions and PnL per strategy (if served), the actors.

    The header shows the kill switch, venues and orders.

    With ``width`` (the terminal's), paths are cut to keep every column in it.
    """
    scopes = _scope_table(view.snapshot)
    if scopes is None:
        return Group(_header(view), Text(""), _table(view.rows, width))
    return Group(_header(view), Text(""), scopes, Text(""), _table(view.rows, width))


# -- the loop ------------------------------------------------------------------------


def fetch_snapshot(url: str, timeout: float = 5.0) -> Snapshot:
    """Scrape ``url`` once; `TopError` with a readable message if that fails."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise TopError(f"{url!r} is not an http:// URL")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - checked
            body = response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        raise TopError(f"{url} answered HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise TopError(f"nothing answers at {url}: {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise TopError(f"nothing answers at {url}: {exc}") from exc
    at = time.monotonic()
    try:
        return parse_scrape(body, at)
    except (ValueError, KeyError, IndexError) as exc:
        raise TopError(f"{url} does not serve Prometheus text: {exc}") from exc


def _console() -> Console:
    """The terminal; into a pipe or a file, wide enough that no column is cut."""
    console = Console()
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(width=_PIPE_WIDTH)


def run_top(
    url: str = DEFAULT_URL,
    *,
    interval: float = 1.0,
    once: bool = False,
    console: Console | None = None,
    fetch: Callable[[str], Snapshot] = fetch_snapshot,
    stop: threading.Event | None = None,
    lease: float = DEFAULT_LEASE,
) -> int:
    """Show the view of ``url`` until Ctrl-C (or ``stop`` is set); exit status.

    With ``once``, scrape twice ``interval`` apart, print one frame and return. An
    endpoint that cannot be scraped at start gives a message on stderr and status 2;
    later failures are shown in the view, over the last data, until it answers again.
    """
    console = console if console is not None else _console()
    stop = stop if stop is not None else threading.Event()
    if not interval > 0:
        sys.stderr.write("tradeactors top: --interval must be positive\n")
        return 2
    if not lease > 0:
        sys.stderr.write("tradeactors top: --lease must be positive\n")
        return 2
    try:
        first = fetch(url)
        if once:
            stop.wait(interval)
            console.print(render(make_view(url, first, fetch(url), lease=lease), console.width))
            return 0
    except TopError as exc:
        sys.stderr.write(f"tradeactors top: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130  # interrupted before the frame (--once) or the first scrape
    previous, current = None, first
    try:
        view = render(make_view(url, None, first, lease=lease), console.width)
        with Live(view, console=console, auto_refresh=False) as live:
            while not stop.wait(interval):
                error = None
                try:
                    previous, current = current, fetch(url)
                except TopError as exc:
                    error = str(exc)
                view = render(make_view(url, previous, current, error, lease=lease), console.width)
                live.update(view, refresh=True)
    except KeyboardInterrupt:
        pass
    return 0


def main_top(args: argparse.Namespace) -> int:
    """``tradeactors top [--url URL] [--state-dir DIR] [--interval S] [--once]``.

    Without ``--url``: the metrics URL of the latest live ``tradeactors run`` in the
    state directory, or one line saying there is none and status 2.
    """
    url: str | None = args.url
    if url is None:
        what = "the metrics URL"
        try:
            directory = state_dir(getattr(args, "state_dir", None))
        except OSError as exc:
            sys.stderr.write(
                f"tradeactors top: cannot find a run ({exc}): pass --url with {what}\n"
            )
            return 2
        run = latest_run(directory)
        if run is None:
            sys.stderr.write(f"tradeactors top: {no_live_run(directory, what)}\n")
            return 2
        url = run.info.metrics_url
    lease = getattr(args, "lease", DEFAULT_LEASE)
    return run_top(url, interval=args.interval, once=args.once, lease=lease)
