"""`TradingSystem`: the whole trading tree from a `Config`, for the CLI and for hosts.

The tree (DESIGN.md, "The trading tree"); every path comes from
`tradeactors.trading.paths.actor_paths`, and each subtree from its own builder::

    root (one_for_one)
    |-- events            (host callbacks run here, off the trading actors)
    |-- killswitch
    |-- execution (rest_for_one): order_manager, gateway.<venue>
    |-- risk
    |-- market_data (rest_for_one): feed.<venue>, book.<symbol>
    `-- strategies (one_for_one): <strategy>

Cancel-on-disconnect: the gateway's `ChildSpec.on_failure` hook runs in the execution
supervisor each time the gateway exits abnormally, before it is restarted: it closes
whatever is left of the dead gateway's connection (so the venue cancels that session's
orders at once, even if the gateway was killed without running ``on_failure``) and
tells the order manager the venue is down (new orders to it are denied; open ones
become cancel-pending; strategies and the kill switch are told). The new gateway logs
on, cancels all, reconciles and only then is the venue up again. Restarts past the
execution supervisor's intensity escalate; any escalation trips the kill switch.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Self

import msgspec
import structlog

from tradeactors.actors.book import BookActor
from tradeactors.actors.events import EventsActor
from tradeactors.actors.feed import LiveFeed, ReplayFeed
from tradeactors.actors.gate import TradingGate
from tradeactors.actors.gateway import ConnectionLinks, Gateway, GatewayMetrics
from tradeactors.actors.killswitch import KillSwitchActor
from tradeactors.actors.order_manager import OrderManagerActor
from tradeactors.actors.paper import LockstepFeed, PaperExecution
from tradeactors.actors.risk import RiskActor, StrategyLimitsTable
from tradeactors.actors.routing import StrategyRouted, StrategyRoutes
from tradeactors.actors.strategy import StrategyActor, StrategyReport, book_mailbox
from tradeactors.bus import BusMetrics, BusStatus, PeerAlive, PeerExpired, SeenIds
from tradeactors.clock import Clock, FakeClock, SystemClock, perf_ns
from tradeactors.config import (
    _NAME,
    PAPER,
    SIM_LOT_SIZE,
    SIM_TICK_SIZE,
    Config,
    LimitsConfig,
    check_limits,
)
from tradeactors.core.execution import FillIds, OrderStore
from tradeactors.core.instrument import Instrument
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.messages import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    DenyReason,
    ExposureSnapshot,
    GetBook,
    GetExposure,
    GetOrders,
    GetRiskReport,
    GetStrategyReport,
    OrderLost,
    OrdersReport,
    OrderUpdate,
    PlaceOrder,
    SubmitOrder,
    TakeCheckpoint,
    VenueDown,
    VenueStatus,
    denied_update,
)
from tradeactors.core.orders import ClientOrderIds, Position
from tradeactors.core.risk import TradingState
from tradeactors.core.units import money_places, money_text, quantity_text
from tradeactors.errors import (
    ConfigError,
    ConfigKeyError,
    ShutdownTimeoutError,
    UnknownScopeError,
    UnknownStrategyError,
    VenueRequestError,
)
from tradeactors.journal import (
    JOURNALED,
    FlushJournal,
    JournalActor,
    JournalLock,
    JournalMetrics,
    JournalWriter,
    LatchedScope,
    PositionsRecorded,
    Recovery,
    checkpoint_of,
    read_recovery,
    restore,
    write_meta,
)
from tradeactors.strategy import live_strategy, strategy_factory
from tradeactors.supervision import (
    ActorEnded,
    Backoff,
    ChildSpec,
    Restart,
    Strategy,
    Supervisor,
    SupervisorEscalated,
    SupervisorSpec,
)
from tradeactors.supervision._events import Subscribers
from tradeactors.trading.limits import scope_limits, strategy_limits
from tradeactors.trading.metrics import TradingMetrics, limit_values
from tradeactors.trading.paper import LockstepDriver, PaperMarket
from tradeactors.trading.paths import STRATEGIES, actor_paths, leaf, strategy_of, strategy_path
from tradeactors.trading.report import ScopeRow, counts_text, many, scope_rows, status_line
from tradeactors.trading.roles import (
    BUS,
    EXECUTION_ROLE,
    INGRESS,
    MARKET_DATA_ROLE,
    MIRROR,
    ROUTER,
    STRATEGY_ROLE,
    CommandIngress,
    EventRouter,
    KillSwitchMirror,
    RemoteRisk,
    Role,
    market_data_streams,
    md_out_path,
    owner_paths,
)
from tradeactors.venues.adapter import (
    Credentials,
    instrument_kinds,
    instrument_source,
    open_orders_at_venue,
    venue_adapter,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from prometheus_client import CollectorRegistry

    from tradeactors.config import InstrumentConfig, SupervisionConfig, VenueConfig
    from tradeactors.core.book import BookView
    from tradeactors.core.ratelimit import VenueRateLimit
    from tradeactors.exchange.server import SimExchange
    from tradeactors.strategy.api import Strategy as StrategyObject
    from tradeactors.supervision import DeadLetter
    from tradeactors.venues.adapter import OrderEntry, VenueAdapter
    from tradeactors.venues.paper import PaperVenue

__all__ = ["RemovedStrategy", "ShutdownSummary", "Status", "StrategyInfo", "TradingSystem"]

_EMBEDDED = {"sim": "sim", "binance": "binance", "kraken": "kraken"}
JOURNAL = "journal"
"""The journal actor's path (a child of the root, started after the events actor)."""
_MIN_ASK = 1.0  # seconds an ask to an actor gets at least, whatever a caller's timeout
_ID_BLOCK_NS = 10**12
"""Client order id epochs reserved for one run past the journal's floor (see `_IdEpochs`)."""


class _IdEpochs:
    """The prefixes (ns) of a system's client order ids: strictly increasing, above a floor.

    Every generator of the system (the host's, each strategy's at each start) takes one,
    so a strategy restarted within the same nanosecond, or while the clock is behind the
    floor, never repeats its predecessor's ids. After a recovery the floor is past the
    journal's last event and its recorded floor; the journal then records the floor plus
    `_ID_BLOCK_NS` for the next run, which covers every epoch this run hands out while
    its clock is behind (past that block, epochs are the clock's time, after the last
    event the journal will have of them).
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def raise_floor(self, floor: int) -> None:
        """Hand out nothing at or below ``floor - 1`` from now on."""
        with self._lock:
            self._last = max(self._last, floor - 1)

    def __call__(self) -> int:
        """The next prefix: the clock's time, or just after the last one handed out."""
        with self._lock:
            self._last = max(self._clock.time_ns(), self._last + 1)
            return self._last


def _trip_source(value: str) -> TripSource:
    """The `TripSource` of a recorded change (``reset`` or unknown: ``manual``)."""
    try:
        return TripSource(value)
    except ValueError:
        return TripSource.MANUAL


"""Venue kinds the embedded simulated exchange can play: kind -> its protocol."""


class Status(msgspec.Struct, frozen=True, kw_only=True):
    """A one-line picture of the running system.

    ``position`` is in lots (for machines); `line` and `position_text` show it in the
    instrument's base units with the base's name, PnL in the quote currency
    (`tradeactors.core.units`). ``scopes``: position, realized and unrealized PnL, open
    orders and fills per strategy and instrument (`tradeactors.trading.report`).
    """

    state: str  # the kill switch's
    venues: dict[str, bool]
    orders: int
    open_orders: int
    fills: int
    position: int  # lots of the configured instrument
    pnl: float  # realized + unrealized at the book's mid, quote currency
    restarts: int
    symbol: str = ""
    lot_size: str = "1"  # base units per lot
    pnl_places: int = 2  # digits that make one tick times one lot exact
    marked: bool = True  # False: a position but no two-sided book to mark it (PnL realized only)
    scopes: tuple[ScopeRow, ...] = ()  # per (strategy, instrument)
    strategies: tuple[str, ...] = ()  # the strategies running, by name
    stopped_strategies: tuple[str, ...] = ()  # stopped past their intensity, not removed
    instruments: int = 0  # configured (0: not said; counted from ``scopes``)

    @property
    def several(self) -> bool:
        """True with several strategies or instruments: no one position to show."""
        run = len(self.strategies) + len(self.stopped_strategies)
        return run > 1 or self.instruments > 1 or many(self.scopes)

    def counts_text(self) -> str:
        """``3 strategies (1 with fills, 1 stopped), 2 instruments`` (`counts_text`)."""
        if not (self.strategies or self.stopped_strategies or self.instruments):
            return counts_text(self.scopes)  # a status that does not say: from its rows
        return counts_text(
            self.scopes,
            running=self.strategies,
            stopped=self.stopped_strategies,
            instruments=self.instruments,
        )

    def position_text(self, lot_size: str | None = None) -> str:
        """The position in base units: ``+0.005 BTC``."""
        return quantity_text(self.position, lot_size or self.lot_size, self.symbol)

    def pnl_text(self) -> str:
        """PnL in the quote currency: ``+0.00012 USDT`` (``(realized; no book)`` unmarked)."""
        text = money_text(self.pnl, self.symbol, self.pnl_places)
        return text if self.marked else f"{text} (realized; no book to mark)"

    def line(self, lot_size: str | None = None) -> str:
        """``state ... | orders ... | fills ... | position ... | PnL ... | restarts ...``.

        ``lot_size`` overrides the status's own (kept for callers written before it had one).
        With several strategies or instruments, counts and the total PnL per quote
        currency instead of one position (`tradeactors.trading.report.status_line`).
        """
        if self.several:
            return status_line(
                state=self.state,
                venues=self.venues,
                orders=self.orders,
                open_orders=self.open_orders,
                fills=self.fills,
                restarts=self.restarts,
                rows=self.scopes,
                counts=self.counts_text(),
            )
        venues = " ".join(f"{v}:{'up' if up else 'DOWN'}" for v, up in self.venues.items())
        return (
            f"{self.state.upper():8} {venues} | orders {self.orders} (open {self.open_orders})"
            f" | fills {self.fills} | position {self.position_text(lot_size)}"
            f" | PnL {self.pnl_text()}"
            f" | restarts {self.restarts}"
        )


class ShutdownSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What `TradingSystem.stop` leaves behind."""

    status: Status
    open_at_venue: int | None  # None: the venue could not be asked
    cancelled_in_time: bool
    clean: bool  # nothing open at the venue, and the tree stopped without failing


class StrategyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One strategy of a running system (`TradingSystem.strategies`).

    ``state`` is ``running``, ``starting`` (added, its ``on_start`` not done yet), or
    ``stopped``: its supervisor gave up (past its
    intensity) and it is not restarted; `TradingSystem.remove_strategy` frees its name.
    ``added`` is True for a strategy added at run time (False: from the config).
    ``risk`` is its own limits, as in ``[[strategies]] risk`` (empty: none of its own).
    """

    name: str
    strategy: str  # its class: a built-in's name, "package.module:Class", or the code's
    instruments: tuple[str, ...]  # symbols, the first its primary
    state: str
    path: str  # its actor's
    added: bool
    reason: str = ""  # why it stopped
    risk: dict[str, float] = msgspec.field(default_factory=dict)


class RemovedStrategy(msgspec.Struct, frozen=True, kw_only=True):
    """What `TradingSystem.remove_strategy` did.

    ``cancelled`` is True when none of its orders was open any more when its actor was
    stopped; ``open_orders`` counts those still open at the end (cancels the venue has
    not confirmed within the timeout: a venue down, say).
    """

    name: str
    cancelled: bool
    open_orders: int


class TradingSystem:
    """The trading tree against one venue; start it, trade, stop it (or use ``with``).

    Args:
        config: the configuration (`tradeactors.config.load_config`).
        registry: Prometheus registry for the actors' metrics (None: no metrics).
        clock: the clock (the system's own `SystemClock` by default).
        strategy: the strategy to run instead of ``[strategy]`` (docs/strategies.md): a
            class, called with no arguments, or a factory that returns a fresh strategy
            (``functools.partial(MyStrategy, size=3)``), called at each (re)start of the
            strategy actor. An instance is refused: a restarted strategy must not
            inherit the state of the one that crashed.

    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
        strategy: object = None,
    ) -> None:
        self.config = config or Config()
        self._strategies = _strategy_choices(self.config, strategy)
        venue = self.config.venue
        # paper trading (trading.paper): the paper venue in the gateway's place
        self.paper = PaperMarket(self.config) if venue.kind == PAPER else None
        self.paper_venue: PaperVenue | None = None  # made at start, with the instrument
        self.paper_driver: LockstepDriver | None = None  # pace lockstep: made at start
        self.market_done = threading.Event()  # paper at recorded pace: the capture replayed
        self._owns_clock = clock is None
        lockstep = self.paper is not None and self.paper.lockstep
        self.clock: Clock = clock or (
            self.paper.clock() if self.paper and lockstep else SystemClock()
        )
        self._venues = {v.name: self._venue_side(v) for v in self.config.all_venues}
        # kill-switch scopes: all, each venue, each strategy (added ones: add_scope)
        self.gate = TradingGate(
            self.clock,
            strategies=[choice.name for choice in self._strategies],
            venues=list(self._venues),
        )
        self.store = OrderStore(
            fill_ids={
                name: FillIds.SEQUENTIAL if side.order_entry is None else side.order_entry.fill_ids
                for name, side in self._venues.items()
            }
        )
        self.links = ConnectionLinks()
        self._registry = registry
        self._gateway_metrics: GatewayMetrics | None = None  # made with the registry, at start
        self._events: Subscribers[Any] = Subscribers("trading_subscriber_raised")
        self._tree: Supervisor | None = None
        self._status: Status | None = None  # the last status() taken
        self._log = structlog.get_logger("tradeactors.system")
        self._unsubscribe: list[Callable[[], None]] = []
        named = strategy is not None and self._strategies
        self.paths = actor_paths(self.config, strategy=self._strategies[0].name if named else None)
        self.gateway_path = self.paths.gateway(venue.name)
        self.strategy_path: str | None = next(iter(self.paths.strategies.values()), None)
        # the prefixes of every client order id generator of the system: strictly
        # increasing, and after the journal's ids once recovered
        self._id_epochs = _IdEpochs(self.clock)
        self._ids = ClientOrderIds(self._id_epochs(), "host")
        venue_of = {symbol: venue for venue, symbol in self.paths.books}
        # who hears what of the strategies: changed by add_strategy / remove_strategy
        self.routes = StrategyRoutes(
            (self.paths.strategies[c.name], [(venue_of[s], s) for s in c.instruments])
            for c in self._strategies
        )
        self._running = {c.name: _Running(choice=c) for c in self._strategies}
        # each strategy's own limits, read by risk at every (re)start (filled at start)
        self._limits_table = StrategyLimitsTable()
        self._running_lock = threading.Lock()  # short: never held while waiting
        self._changing = threading.Lock()  # one add or remove at a time
        self._removing: set[str] = set()
        journal = self.config.journal
        self.journal_path = journal.path if journal.enabled else ""
        """The journal's file ("": no journal; docs/journal.md)."""
        self._journal_metrics: JournalMetrics | None = None
        self.recovery: Recovery | None = None
        """What the journal gave back at start (None: no journal; `Recovery.empty`: new)."""
        # recovered latched states of strategies not configured: applied when added
        self._pending_scopes: dict[str, LatchedScope] = {}
        self._journal_lock: JournalLock | None = None
        self.role: Role | None = None
        """This host's role on the bus (None: the whole tree in this process; docs/bus.md)."""
        if self.config.bus.url and self.config.bus.role != "all":
            self._take_role(registry)

    def _venue_side(self, venue: VenueConfig) -> _VenueSide:
        """A venue's adapter and instruments as configured (the venue's own come at start)."""
        adapter = (
            venue_adapter(self.config.paper.market)  # the market the paper venue reads
            if self.paper is not None
            else venue_adapter(venue.kind, trading=True)
        )
        instruments = {
            entry.symbol: (
                self.paper.instrument
                if self.paper is not None and self.paper.instrument is not None
                else _configured_instrument(
                    venue,
                    entry,
                    adapter,
                    f"[[instruments]] {entry.symbol}:" if self.config.instruments else "[venue]",
                )
            )
            for entry in self.config.all_instruments
            if entry.venue == venue.name
        }
        side = _VenueSide(config=venue, adapter=adapter, instruments=instruments)
        if self.paper is None:
            side.order_entry = _order_entry(side)
        return side

    # -- one venue, the first: what a system of one venue and one instrument reads ---------

    @property
    def adapter(self) -> VenueAdapter:
        """The first venue's adapter."""
        return self._first.adapter

    @property
    def instrument(self) -> Instrument:
        """The first instrument (of the first venue): the venue's own once started."""
        return next(iter(self._first.instruments.values()))

    @property
    def instruments(self) -> dict[str, Instrument]:
        """Every instrument by symbol (the venues' own once started)."""
        return {
            symbol: instrument
            for side in self._venues.values()
            for symbol, instrument in side.instruments.items()
        }

    @property
    def exchange(self) -> SimExchange | None:
        """The first venue's embedded simulated exchange (None: a venue elsewhere, paper)."""
        return self._first.exchange

    @property
    def exchanges(self) -> dict[str, SimExchange]:
        """Every embedded simulated exchange, by venue name."""
        return {n: s.exchange for n, s in self._venues.items() if s.exchange is not None}

    @property
    def trade_url(self) -> str:
        """The first venue's order-entry URL (paper: where its market comes from)."""
        return self._first.trade_url

    @property
    def _first(self) -> _VenueSide:
        return self._venues[self.config.venue.name]

    # -- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> Self:
        """Start the venues (embedded unless configured) and the tree."""
        if self.role is not None:
            self._connect_role()
            return self._start_tree(timeout=timeout)
        if self.paper is not None:
            self._prepare_paper()
            return self._start_tree(timeout=timeout)
        try:
            for side in self._venues.values():
                self._connect(side)
        except BaseException:
            self._close_venue()
            raise
        return self._start_tree(timeout=timeout)

    def _connect(self, side: _VenueSide) -> None:
        """The venue's URLs and credentials: the embedded exchange started if need be."""
        venue = side.config
        secret = os.environ.get(venue.secret_env)
        key = _key_file_credentials(venue)  # an Ed25519 key instead of the secret
        trade_url, stream_url, rest_url = venue.trade_url, venue.stream_url, venue.rest_url
        where = "[venue]" if not self.config.venues else f"venue {venue.name!r}"
        if not trade_url and venue.kind not in _EMBEDDED:
            raise ConfigError(
                f"{where}: trade_url is needed for a venue of kind {venue.kind!r} (the embedded "
                f"simulated exchange speaks {' and '.join(sorted(_EMBEDDED))})"
            )
        if not trade_url:
            from tradeactors.exchange.server import SimExchange  # noqa: PLC0415

            secret = secret or secrets.token_hex(24)
            instruments = tuple(side.instruments.values())
            side.exchange = SimExchange(
                instruments[0] if len(instruments) == 1 else instruments,
                self.clock,
                seed=venue.seed,
                interval=venue.step_interval,
                keys={venue.api_key: key.ed25519_public_pem() if key else secret},
                rate_per_second=venue.rate_per_second,
                protocol=_EMBEDDED[venue.kind],
            ).start()
            trade_url = side.exchange.trade_url
            stream_url, rest_url = side.exchange.ws_url, side.exchange.http_url
        elif not secret and key is None:
            raise ConfigError(f"set ${venue.secret_env} to the secret of API key {venue.api_key!r}")
        if not (stream_url and rest_url):
            raise ConfigError(f"{where}: stream_url and rest_url are needed with trade_url")
        side.trade_url, side.stream_url, side.rest_url = trade_url, stream_url, rest_url
        self._take_instruments_from_venue(side)
        side.credentials = key or Credentials(venue.api_key, secret or "")

    def _start_tree(self, *, timeout: float) -> Self:
        """Start the tree against the venues, and return once each venue is up."""
        if self._registry is not None:
            metrics = TradingMetrics(
                self._registry,
                self.gate,
                self._scrape_report,
                list(self._venues),
                lot_sizes={symbol: i.lot_size for symbol, i in self.instruments.items()},
                scopes=lambda report: self._scope_rows(report, timeout=1.0),
                limits=self._limit_values,  # read at each scrape: strategies come and go
            )
            self._unsubscribe.append(self._events.subscribe(metrics.on_event))
            self._gateway_metrics = GatewayMetrics(self._registry)
        if self.journal_path:
            try:  # one process per journal; released when the system stops
                self._journal_lock = JournalLock(self.journal_path)
                # a corrupt file or another schema version: refused here, before the tree
                self._open_journal().close()
            except BaseException:
                self._close_venue()
                raise
            self._journal_metrics = (
                JournalMetrics(self._registry) if self._registry is not None else None
            )
        self._unsubscribe.append(self.gate.subscribe(self._emit))
        if self.journal_path:
            try:
                self._recover()  # the hosts hear the kill switch's latched states
            except BaseException:
                self._close_venue()
                raise
        tree = Supervisor(
            self._spec(),
            registry=self._registry,
            clock=self.clock,
            on_escalation=self._on_root_escalation,
        )
        self._tree = tree
        self._unsubscribe.append(tree.subscribe(self._on_supervision_event))
        self._unsubscribe.append(tree.dead_letters.subscribe(self._on_dead_letter))
        try:
            self._start_and_wait(tree, timeout)
            if self.recovery is not None and not self.recovery.empty:
                self._cancel_orphans()
        except BaseException:
            if tree.running:
                tree.stop(timeout=timeout)
            self._close_venue()
            raise
        self._start_lockstep()
        for name, side in self._venues.items():
            self._log.info("trading_system_started", venue=name, trade_url=side.trade_url)
            self._say_what_protects_orders(side)
        return self

    def _start_and_wait(self, tree: Supervisor, timeout: float) -> None:
        """Start ``tree``; return once every venue said whether it is up."""
        first: dict[str, VenueStatus] = {}
        all_heard = threading.Event()

        def on_venue(event: Any) -> None:
            # up, or down for good reason (unreachable: the gateway keeps trying)
            if isinstance(event, VenueStatus) and event.venue in self._venues:
                first.setdefault(event.venue, event)
                if len(first) == len(self._venues):
                    all_heard.set()

        if self.role is not None and self.role.name != EXECUTION_ROLE:
            tree.start(timeout=timeout)  # no venue here: nothing to wait for
            return
        unsubscribe = self._events.subscribe(on_venue)
        try:
            tree.start(timeout=timeout)
            # Each gateway's handshake (connected -> reconciled -> up) runs after its
            # start: return once the venues are up, as the embedding API promises.
            all_heard.wait(timeout)
        finally:
            unsubscribe()
        for name in self._venues:
            heard = first.get(name)
            if heard is None:
                self._log.warning("venue_not_up_yet", venue=name, waited=timeout)
            elif not heard.up:
                self._log.warning("venue_down_at_start", venue=name, reason=heard.reason)

    def stop(self, timeout: float | None = None) -> ShutdownSummary:
        """Halt, cancel everything, wait for the venue to confirm, stop the tree.

        The kill switch is tripped (HALTED, "shutdown") so that nothing new goes out
        while the orders are cancelled; then the tree stops (each gateway's session
        closes, and the venue cancels whatever is left), and the venue is asked, over a
        fresh session, how many of the account's orders are still open.
        """
        timeout = self.config.run.shutdown_timeout if timeout is None else timeout
        tree = self._tree
        if tree is None:
            raise RuntimeError("the system was not started")
        if self.role is not None and self.role.name != EXECUTION_ROLE:
            return self._stop_role(tree, timeout)
        self.gate.trip(TradingState.HALTED, source=TripSource.SHUTDOWN, reason="shutdown")
        try:
            cancelled = self.wait_for_no_open_orders(timeout) if tree.running else False
            status = self.status() if tree.running else self._last_status()
            if self.journal_path and tree.running:  # what `journal verify` checks fills by
                positions = self.orders(timeout).positions
                self._emit(
                    PositionsRecorded(positions=positions, timestamp_ns=self.clock.time_ns())
                )
                # the next start reads the journal from here (docs/journal.md, "Recovery")
                tree.address(self.paths.order_manager).ask(TakeCheckpoint(), timeout=timeout)
                tree.address(JOURNAL).ask(FlushJournal(), timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - a failing tree must still be stopped
            self._log.error("shutdown_cancel_failed", error=repr(exc))
            cancelled, status = False, self._last_status()
        failure = tree.failure
        try:
            if self.paper_driver is not None:
                self.paper_driver.stop(timeout)  # it asks the actors: before they stop
            try:
                tree.stop(timeout=timeout)
            except ShutdownTimeoutError as exc:  # still ask the venue: that is what matters
                self._log.error("tree_stop_timed_out", error=str(exc))
                failure = failure or exc
            open_at_venue = self._venue_open_orders()
        finally:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe.clear()
            self._close_venue()
        summary = ShutdownSummary(
            status=status,
            open_at_venue=open_at_venue,
            cancelled_in_time=cancelled,
            clean=open_at_venue == 0 and failure is None,
        )
        self._log.info(
            "trading_system_stopped",
            open_at_venue=open_at_venue,
            cancelled_in_time=cancelled,
            clean=summary.clean,
        )
        return summary

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        if self._tree is not None and self._tree.running:
            self.stop()
        else:
            self._close_venue()

    def _close_venue(self) -> None:
        if self._journal_lock is not None:
            self._journal_lock.release()
            self._journal_lock = None
        for side in self._venues.values():
            if side.exchange is not None:
                side.exchange.close()
        if self._owns_clock and isinstance(self.clock, SystemClock):
            self.clock.close()

    # -- what hosts use --------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the tree runs: `start` succeeded, and `stop` has not stopped it yet."""
        return self._tree is not None and self._tree.running

    @property
    def tree(self) -> Supervisor:
        """The supervision tree (addresses, faults, stats, supervision events)."""
        if self._tree is None:
            raise RuntimeError("the system was not started")
        return self._tree

    @property
    def account(self) -> str:
        """The venue account (API key) the first venue's gateway trades as."""
        return self.config.venue.api_key

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Hear trading events; returns the unsubscribe function.

        Events: `OrderUpdate` (fills included), `VenueStatus`, `KillSwitchChanged`,
        `ReconciliationReport`. Callbacks run in the events actor's thread (never on the
        order manager's or risk's), one at a time in the order emitted: keep them
        short, never block.
        """
        return self._events.subscribe(callback)

    def new_order_id(self) -> str:
        """A client order id unique across restarts (for orders the host submits)."""
        return self._ids.next()

    def submit(self, order: SubmitOrder) -> None:
        """Send an order through risk (its `OrderUpdate`s go to ``order.owner``, if any)."""
        self.tree.address(self.paths.risk).tell(order)

    def amend(self, amend: AmendOrder) -> None:
        """Amend an order through risk (the outcome goes to ``amend.owner``, if any)."""
        self.tree.address(self.paths.risk).tell(amend)

    def cancel(self, client_order_id: str) -> None:
        """Cancel one order."""
        self.tree.address(self.paths.order_manager).tell(
            CancelOrder(client_order_id=client_order_id)
        )

    def kill(
        self, reason: str, *, to: TradingState = TradingState.HALTED, scope: str = "all"
    ) -> KillSwitchChanged | None:
        """Trip the kill switch (HALTED by default: deny all, cancel everything).

        ``scope``: ``all``, ``strategy:<name>`` or ``venue:<name>`` (that scope only).
        """
        return self.gate.trip(to, source=TripSource.MANUAL, reason=reason, scope=scope)

    def reset(
        self, *, by: str, reason: str, to: TradingState = TradingState.ACTIVE, scope: str = "all"
    ) -> KillSwitchChanged:
        """Lower the kill switch's state of ``scope`` (an operator's decision, recorded)."""
        return self.gate.reset(to, by=by, reason=reason, scope=scope)

    def orders(self, timeout: float = 5.0) -> OrdersReport:
        """The order manager's report."""
        report: OrdersReport = self.tree.address(self.paths.order_manager).ask(
            GetOrders(), timeout=timeout
        )
        return report

    def strategy_report(self, timeout: float = 5.0) -> StrategyReport:
        """The strategy actor's counters."""
        if self.strategy_path is None:
            raise RuntimeError("no strategy is configured")
        report: StrategyReport = self.tree.address(self.strategy_path).ask(
            GetStrategyReport(), timeout=timeout
        )
        return report

    def status(self, timeout: float = 5.0) -> Status:
        """Orders, fills, position, PnL and restarts now."""
        if self.role is not None and self.role.name != EXECUTION_ROLE:
            return self._last_status()  # the orders are the execution host's
        report = self.orders(timeout)
        symbol = self.instrument.symbol
        exposure: ExposureSnapshot = self.tree.address(self.paths.order_manager).ask(
            GetExposure(), timeout=timeout
        )
        position = Position()
        position.net = exposure.positions.get(symbol, 0)
        position.average_price = Fraction(*exposure.average_prices.get(symbol, (0, 1)))
        position.realized = Fraction(*exposure.realized.get(symbol, (0, 1)))
        pnl = position.realized
        marked = True
        marks: dict[str, int | None] = {}

        def mark_x2(instrument: str) -> int | None:  # asked once per status
            if instrument not in marks:
                marks[instrument] = self._mark_x2(instrument, timeout)
            return marks[instrument]

        if position.net:
            mid2 = mark_x2(symbol)
            marked = mid2 is not None
            if mid2 is not None:
                pnl += (Fraction(mid2, 2) - position.average_price) * position.net
        value = Fraction(self.instrument.tick_size) * Fraction(self.instrument.lot_size)
        status = Status(
            state=self.gate.state.value,
            venues=report.venues,
            orders=len(report.orders),
            open_orders=report.open_orders,
            fills=report.fills,
            position=report.positions.get(symbol, 0),
            pnl=float(pnl * value),
            restarts=sum(self.tree.stats(p).restarts for p in self.tree.paths()),
            marked=marked,
            scopes=self._scope_rows(report, timeout=timeout, mark_x2=mark_x2),
            **self._strategy_counts(),
            **self._units(),
        )
        self._status = status
        return status

    def _scope_rows(
        self,
        report: OrdersReport,
        *,
        timeout: float,
        mark_x2: Callable[[str], int | None] | None = None,
    ) -> tuple[ScopeRow, ...]:
        """The report's rows per strategy and instrument in money, marked at the mids."""
        return scope_rows(
            report, self.instruments, mark_x2 or (lambda symbol: self._mark_x2(symbol, timeout))
        )

    def _strategy_counts(self) -> dict[str, Any]:
        """`Status`'s strategies (running, stopped) and instruments."""
        with self._running_lock:
            infos = [running.info() for running in self._running.values()]
        return {
            "strategies": tuple(i.name for i in infos if i.state == "running"),
            "stopped_strategies": tuple(i.name for i in infos if i.state == "stopped"),
            "instruments": len(self.instruments),
        }

    def _limit_values(self) -> dict[str, dict[str, float]]:
        """The limits by scope now: the account's, each strategy's, each instrument's.

        A strategy's are those of the strategies there are now (added ones too).
        """
        cfg = self.config
        limits = {"account": limit_values(cfg.risk)}
        with self._running_lock:
            strategies = [(r.choice.name, r.choice.risk) for r in self._running.values()]
        for name, risk in strategies:
            if values := limit_values(risk):
                limits[f"strategy:{name}"] = values
        for instrument in cfg.instruments:
            if values := limit_values(instrument.risk):
                limits[f"instrument:{instrument.symbol}"] = values
        return limits

    def _mark_x2(self, symbol: str, timeout: float) -> int | None:
        """Twice the mid of ``symbol``'s book now (ticks), or None: no two-sided book."""
        if symbol not in self.instruments:
            return None
        ((venue, _),) = self.paths.pairs((symbol,))
        try:
            view: BookView = self.tree.address(self.paths.book(venue, symbol)).ask(
                GetBook(depth=1), timeout=timeout
            )
        except Exception:  # noqa: BLE001 - restarting or gone: unmarked, said so
            return None
        if not (view.bids and view.asks):
            return None
        return view.bids[0][0] + view.asks[0][0]

    def _scrape_report(self) -> OrdersReport | None:
        """The order manager's counters for a metrics scrape (None if it cannot answer)."""
        tree = self._tree
        if tree is None or not tree.running:
            return None
        if self.role is not None and self.role.name != EXECUTION_ROLE:
            return None  # the orders are the execution host's
        try:
            report: OrdersReport = tree.address(self.paths.order_manager).ask(
                GetOrders(with_orders=False), timeout=1.0
            )
        except Exception:  # noqa: BLE001 - a scrape must not fail: leave those metrics out
            return None
        return report

    def _units(self) -> dict[str, Any]:
        instrument = self.instrument
        return {
            "symbol": instrument.symbol,
            "lot_size": instrument.lot_size,
            "pnl_places": money_places(instrument.tick_size, instrument.lot_size),
        }

    def _take_instruments_from_venue(self, side: _VenueSide) -> None:
        """Ask the venue for each of its instruments (a GET each), before the tree starts.

        For venues whose adapter publishes its instruments (`instrument_source`), the
        embedded exchange speaking their protocol too. The config's steps, where given,
        must fit the venue's (`_agreed_instrument`). On any failure one `ConfigError` says
        what and where (`start` closes the embedded exchanges).
        """
        venue = side.config
        source = instrument_source(side.adapter)
        if source is None:
            return  # the config's steps (kind sim: the simulator's)
        configured = {i.symbol: i for i in self.config.all_instruments if i.venue == venue.name}
        changed = False
        for symbol in list(side.instruments):
            url = source.url(side.rest_url, symbol)
            body = _get(url, timeout=self.config.execution.timeout, what=source.what)
            where = f"{source.what} from {url}"
            try:
                published = source.read(body, symbol, venue.name)
                if source.rate_limits is not None:
                    side.rate_limits = source.rate_limits(body)
            except (msgspec.DecodeError, ValueError, VenueRequestError) as exc:
                raise ConfigError(f"{where}: not a usable answer: {exc}") from exc
            instrument = _agreed_instrument(configured[symbol], published, where)
            if instrument != side.instruments[symbol]:
                side.instruments[symbol] = instrument
                changed = True
            self._log.info(
                "instrument_from_venue",
                instrument=instrument.key,
                url=url,
                tick_size=instrument.tick_size,
                lot_size=instrument.lot_size,
                min_quantity=instrument.min_quantity,
                max_quantity=instrument.max_quantity,
                min_notional=instrument.min_notional,
            )
        if changed and self.paper is None:
            side.order_entry = _order_entry(side)  # the same codec, re-made

    def _say_what_protects_orders(self, side: _VenueSide) -> None:
        """At a venue that cancels nothing by itself (Binance spot), say so at start."""
        codec = side.order_entry
        if codec is None:
            return  # the paper venue cancels a dropped session's orders (actors.paper)
        if not (codec.has_cancel_on_disconnect or codec.has_dead_man_switch):
            self._log.warning(
                "venue_keeps_orders_of_a_lost_session",
                venue=side.config.name,
                protection="the gateway cancels everything at every (re)connect; the kill "
                "switch trips on stale market data",
            )

    def _last_status(self) -> Status:
        """The last `status()` taken, or what the store says (the tree can no longer answer)."""
        if self._status is not None:
            return self._status
        position = self.store.ledger.position(self.instrument.symbol)
        value = Fraction(self.instrument.tick_size) * Fraction(self.instrument.lot_size)
        return Status(
            state=self.gate.state.value,
            venues={},
            orders=len(self.store.orders),
            open_orders=len(self.store.open_orders()),
            fills=self.store.fills,
            position=position.net,
            pnl=float(position.realized * value),  # what was realized: nothing to mark with
            restarts=0,
            marked=position.net == 0,
            **self._strategy_counts(),
            **self._units(),
        )

    def wait_for_no_open_orders(self, timeout: float, *, owner: str | None = None) -> bool:
        """Wait (on order events, not by sleeping blindly) until no order is open.

        With ``owner`` (an actor path), until none of that owner's orders is open.
        """
        changed = threading.Event()

        def on_event(event: Any) -> None:
            if isinstance(event, OrderUpdate):
                changed.set()

        unsubscribe = self.subscribe(on_event)
        # real time: a lockstep tree's clock moves only as its driver steps it
        deadline = perf_ns() + int(timeout * 1e9)
        try:
            while True:
                changed.clear()
                count = self.tree.address(self.paths.order_manager).ask(
                    GetOrders(open_count_only=True, owner=owner), timeout=max(timeout, _MIN_ASK)
                )
                if count == 0:
                    return True
                left = (deadline - perf_ns()) / 1e9
                if left <= 0:
                    return False
                changed.wait(min(left, 0.1))
        finally:
            unsubscribe()

    # -- strategies at run time ----------------------------------------------------------

    def strategies(self) -> list[StrategyInfo]:
        """Every strategy of the system, running or stopped, in the order added."""
        with self._running_lock:
            return [running.info() for running in self._running.values()]

    def add_strategy(
        self,
        name: str,
        strategy: object,
        *,
        instruments: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        intensity: int | None = None,
        period: float | None = None,
        risk: LimitsConfig | Mapping[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> StrategyInfo:
        """Start strategy ``name`` in the running tree, under a supervisor of its own.

        ``strategy`` is what ``[[strategies]] class`` or ``TradingSystem(strategy=)``
        takes: a built-in's name or ``"package.module:Class"`` (with ``params``), a
        `Strategy` class (with ``params``) or a factory of strategies. It trades
        ``instruments`` (configured symbols, the first its primary; default: the first
        instrument) and is restarted at most ``intensity`` times in ``period`` seconds
        (default: ``[supervision]``'s); past that it stops alone, like a configured one.
        ``risk`` is its own limits, the keys of ``[[strategies]] risk`` (`LimitsConfig`,
        checked as the config checks them): risk has them before the strategy starts,
        keeps them across its own restarts, and drops them when the strategy is removed.
        Its client order ids get a prefix of their own. Once started it hears its
        instruments' books and trades, the venues' status and the kill switch's changes,
        from their state of now on. Returns what `strategies` says of it.

        Raises:
            ConfigKeyError: ``name`` is not a name or is taken (also by a stopped
                strategy: remove it first), an instrument is not configured or given
                twice, a bad ``intensity``, ``period`` or ``risk`` limit (unknown, not
                finite and positive, not an integer >= 1); nothing was started.
            ConfigError: an unknown built-in or a bad parameter of one;
                `StrategyLoadError` for a class that cannot be loaded or built.
            ChildStartError: it failed to start (nothing of it is left).

        """
        tree = self.tree
        self._not_with_role("add_strategy")
        with self._changing:
            choice = self._new_strategy(
                name,
                strategy,
                instruments=instruments,
                params=params,
                supervision=(intensity, period),
                risk=risk,
            )
            running = _Running(choice=choice, added=True, starting=True)
            self._fresh_scope(name)
            self._pending_scope(name)
            with self._running_lock:
                self._running[name] = running
            self._set_limits(choice)  # told to risk before the strategy can send an order
            try:
                tree.start_child(
                    self._strategy_spec(choice),
                    under=self.paths.strategies_supervisor,
                    timeout=timeout,
                )
            except BaseException:
                with self._running_lock:
                    del self._running[name]
                self._drop_limits(name)
                raise
            running.starting = False
            self._route(choice)
            self._log.info(
                "strategy_added",
                strategy=name,
                strategy_class=choice.spec,
                instruments=list(choice.instruments),
                tag=choice.tag,
                risk=limit_values(choice.risk),
            )
            return running.info()

    def remove_strategy(self, name: str, *, timeout: float = 10.0) -> RemovedStrategy:
        """Cancel strategy ``name``'s orders, then stop it and forget it.

        It hears nothing more at once (no books, trades, status); its orders are
        cancelled, and its actor is stopped once the order manager says none is open
        or after ``timeout`` seconds (a venue that is down cannot confirm: the result
        says how many are left, and a warning is logged). Orders it sent while it was
        stopped are cancelled after. Works for a strategy that stopped on its own too,
        and frees its name either way. Configured strategies can be removed the same.

        Raises:
            UnknownStrategyError: no strategy of that name.

        """
        tree = self.tree
        self._not_with_role("remove_strategy")
        with self._changing:
            with self._running_lock:
                if name not in self._running:
                    raise UnknownStrategyError(name, list(self._running))
                self._removing.add(name)
            path = strategy_path(name)
            deadline = perf_ns() + int(timeout * 1e9)
            # Fenced first: its scope HALTED, so risk denies whatever it still sends (an
            # actor stuck in a callback past its shutdown timeout lives on, abandoned);
            # the halt stays latched until a strategy of this name is added again.
            self.gate.trip(
                TradingState.HALTED,
                source=TripSource.STRATEGY_REMOVED,
                reason=f"strategy {name} removed",
                scope=f"strategy:{name}",
            )
            ask = max(timeout, _MIN_ASK)  # a round trip, whatever the caller's budget
            cancelled, open_orders = False, -1
            try:
                self.routes.remove(path)  # from now on it hears nothing
                cancelled = self._cancel_orders_of(path, f"strategy {name} removed", timeout)
            finally:
                # stopped whatever happened above: a name is never left half removed
                with contextlib.suppress(ConfigError):  # gone already (its supervisor ended)
                    tree.stop_child(f"{self.paths.strategies_supervisor}/{name}")
                with self._running_lock:
                    self._running.pop(name, None)
                    self._removing.discard(name)
                self._drop_limits(name)  # after what it sent before it stopped, in risk
            # what it sent before it stopped (still in risk's mailbox): cancelled too
            tree.address(self.paths.risk).ask(GetRiskReport(), timeout=ask)
            left = max(0.0, (deadline - perf_ns()) / 1e9)
            if not self._cancel_orders_of(path, f"strategy {name} removed", left):
                cancelled = False
            open_orders = self.tree.address(self.paths.order_manager).ask(
                GetOrders(open_count_only=True, owner=path), timeout=ask
            )
        removed = RemovedStrategy(name=name, cancelled=cancelled, open_orders=open_orders)
        if open_orders:
            self._log.warning("strategy_removed_with_open_orders", strategy=name, open=open_orders)
        else:
            self._log.info("strategy_removed", strategy=name, cancelled_in_time=cancelled)
        return removed

    def _pending_scope(self, name: str) -> None:
        """Strategy ``name``'s state recovered from the journal, latched again as it is added."""
        latched = self._pending_scopes.pop(f"strategy:{name}", None)
        if latched is not None:
            self._latch_again(latched)

    def _latch_again(self, latched: LatchedScope) -> None:
        """Trip ``latched``'s scope to its recorded state, saying it came from the journal.

        Raises:
            UnknownScopeError: the gate does not know the scope (a strategy not configured).

        """
        self.gate.trip(
            latched.state,
            source=_trip_source(latched.source),
            reason=f"recovered from the journal: {latched.reason}",
            scope=latched.scope,
        )

    def _fresh_scope(self, name: str) -> None:
        """Strategy ``name``'s kill-switch scope, ACTIVE for a strategy added under it.

        A removed strategy's scope stays HALTED (its fence); adding one of that name again
        is the operator's decision to trade under it: the reset is recorded and logged.
        """
        scope = f"strategy:{name}"
        self.gate.add_scope(scope)
        previous = self.gate.scope_state(scope)
        if previous is not TradingState.ACTIVE:
            self.gate.reset(
                TradingState.ACTIVE,
                by="add_strategy",
                reason=f"strategy {name} added again",
                scope=scope,
            )
            self._log.warning("strategy_scope_reset", strategy=name, was=previous.value)

    def _set_limits(self, choice: _StrategyChoice) -> None:
        """Give risk ``choice``'s own limits (none: nothing to give).

        In the table first (for every restart of risk), then told (for the risk of now).
        """
        limits = strategy_limits(choice.name, choice.risk, self.instruments, choice.instruments)
        if limits is None:
            return
        message = self._limits_table.set(choice.name, limits, choice.risk.max_loss)
        self.tree.address(self.paths.risk).tell(message)

    def _drop_limits(self, name: str) -> None:
        """Strategy ``name`` has no limits of its own any more (in the table, then in risk)."""
        if name not in self._limits_table.snapshot()[0]:
            return
        self.tree.address(self.paths.risk).tell(self._limits_table.set(name, None))

    def _cancel_orders_of(self, owner: str, reason: str, timeout: float) -> bool:
        """Cancel ``owner``'s open orders; True once none is open (False: not in time)."""
        om = self.tree.address(self.paths.order_manager)
        if (
            om.ask(GetOrders(open_count_only=True, owner=owner), timeout=max(timeout, _MIN_ASK))
            == 0
        ):
            return True
        om.tell(CancelAllOrders(reason=reason, owner=owner))
        return self.wait_for_no_open_orders(timeout, owner=owner)

    def _new_strategy(
        self,
        name: str,
        strategy: object,
        *,
        instruments: Sequence[str] | None,
        params: Mapping[str, Any] | None,
        supervision: tuple[int | None, float | None],
        risk: LimitsConfig | Mapping[str, Any] | None = None,
    ) -> _StrategyChoice:
        """`add_strategy`'s arguments, checked: what to start (nothing is started)."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigKeyError(
                "", "name", f"name: {name!r} is not a name (1 to 64 letters, digits, _ . -)"
            )
        with self._running_lock:
            taken = self._running.get(name)
            tags = {running.choice.tag for running in self._running.values()}
            index = len(self._running)
        if taken is not None:
            if taken.stopped:
                reason = f"name: strategy {name!r} stopped ({taken.stopped}); remove it first"
            else:
                reason = f"name: a strategy named {name!r} is running; choose another name"
            raise ConfigKeyError("", "name", reason)
        symbols = _symbols(instruments, self.config.all_instruments[0].symbol, self.instruments)
        intensity, period = _restarts(*supervision, self.config.supervision)
        limits = LimitsConfig() if risk is None else check_limits(risk)
        strategy_limits(name, limits, self.instruments, symbols)  # its error here, if any
        if isinstance(strategy, str):
            factory, spec = strategy_factory(strategy, params), strategy
        else:
            factory = live_strategy(strategy, params)[1]
            spec = str(getattr(factory, "spec", repr(strategy)))
        factory()  # built once now: its constructor's error here, not at its start
        tag = _tag(name, index, tags)
        while tag in tags:  # another strategy's prefix already
            index += 1
            tag = _tag(name, index, tags)
        return _StrategyChoice(
            name=name,
            factory=factory,
            instruments=symbols,
            intensity=intensity,
            period=period,
            tag=tag,
            spec=spec,
            risk=limits,
        )

    def _route(self, choice: _StrategyChoice) -> None:
        """Route market data, venue status and kill-switch changes to a started strategy.

        Its books, the order manager and the kill switch are told (`StrategyRouted`), so
        that it hears the state of now, not only the next change.
        """
        paths = self.paths
        path = strategy_path(choice.name)
        pairs = paths.pairs(choice.instruments)
        self.routes.add(path, pairs)
        with self._running_lock:
            stopped = bool(self._running[choice.name].stopped)
        if stopped:  # it gave up before it was routed: `_strategy_ended` could not unroute
            self.routes.remove(path)
            return
        routed = StrategyRouted(path=path)
        for target in (
            paths.order_manager,
            paths.killswitch,
            *(paths.book(venue, symbol) for venue, symbol in pairs),
        ):
            self.tree.address(target).tell(routed)

    def _strategy_ended(self, name: str, event: ActorEnded) -> bool:
        """Strategy ``name``'s supervisor ended: unroute it.

        True if it ended on its own (False: `remove_strategy` is stopping it).
        """
        reason = event.error or event.reason
        with self._running_lock:
            running = self._running.get(name)
            if running is None or name in self._removing:
                return False
            running.stopped = reason  # before unrouting: see `_route`
        self.routes.remove(strategy_path(name))
        self._log.error("strategy_stopped", strategy=name, reason=reason)
        return True

    # -- wiring ----------------------------------------------------------------------

    def _spec(self) -> SupervisorSpec:
        """The whole tree: each subtree from its builder, every path from `actor_paths`."""
        if self.role is not None:
            return self._role_spec(self.role)
        cfg = self.config
        return SupervisorSpec(
            name="trading",
            intensity=cfg.supervision.intensity,
            period=cfg.supervision.period,
            children=(
                # first started, last stopped: hosts hear everything to the end
                ChildSpec(
                    name=leaf(self.paths.events),
                    actor=EventsActor,
                    kwargs={"deliver": self._events.emit},
                ),
                # stopped after every actor that records (the order manager, the kill
                # switch) and before the events actor it publishes to
                *self._journal_child(),
                self._killswitch_child(),
                self._execution_tree(),
                self._risk_child(),
                self._market_data_tree(),
                self._strategies_tree(),
            ),
        )

    def _journal_child(self) -> tuple[ChildSpec, ...]:
        """The journal's writer, if the system keeps a journal."""
        if not self.journal_path:
            return ()
        return (
            ChildSpec(
                name=JOURNAL,
                actor=JournalActor,
                kwargs={
                    "open_writer": self._open_journal,
                    "on_unavailable": self._journal_unavailable,
                    "metrics": self._journal_metrics,
                    "deliver": self._publish,
                },
            ),
        )

    def _open_journal(self) -> JournalWriter:
        return JournalWriter(
            self.journal_path,
            clock=self.clock,
            synchronous=self.config.journal.synchronous,
            instruments=self.instruments,
            strategy_of=strategy_of,
        )

    def _recover(self) -> None:
        """Rebuild the order store and the kill switch from the journal, if it holds any.

        The order manager then starts with the recovered orders, positions and seen
        execution ids, and each gateway's first reconciliation settles them with its
        venue (what the venue says wins). A venue that started empty with this process
        (the embedded simulator, the paper venue) cannot have the journal's orders: its
        recovery is refused rather than halted on at the first reconciliation.

        Raises:
            ConfigError: the journal has orders at a venue that started with this process.
            JournalError: the journal cannot be read.

        """
        recovery = read_recovery(self.journal_path)
        self.recovery = recovery
        accounts = {
            f"account:{name}": f"{side.config.kind} {side.config.api_key}"
            for name, side in self._venues.items()
        }
        if recovery.empty:
            write_meta(self.journal_path, accounts)
            return
        self._check_recoverable(recovery, recovery.venues(), accounts)
        # Client order ids: after every id the journal may hold, even if the clock went
        # back; a block of epochs is reserved for this run (see `_IdEpochs`)
        floor = max(recovery.last_time_ns, int(recovery.meta.get("ids_floor_ns", "0"))) + 1
        self._id_epochs.raise_floor(floor)
        self._ids = ClientOrderIds(self._id_epochs(), "host")
        write_meta(self.journal_path, {**accounts, "ids_floor_ns": str(floor + _ID_BLOCK_NS)})
        restore(self.store, recovery)
        for latched in recovery.kill_switch:
            try:
                self._latch_again(latched)
            except UnknownScopeError:  # a strategy not configured now: when it is added
                self._pending_scopes[latched.scope] = latched
                self._log.warning("journal_scope_pending", scope=latched.scope)
        self._log.info(
            "journal_recovered",
            journal=self.journal_path,
            orders=len(recovery.orders),
            open_orders=len(recovery.open_orders()),
            fills=len(recovery.fills),
            kill_switch={s.scope: s.state.value for s in recovery.kill_switch},
        )

    def _check_recoverable(
        self, recovery: Recovery, venues: set[str], accounts: dict[str, str]
    ) -> None:
        """Refuse a journal this system cannot be the continuation of.

        Raises:
            ConfigError: orders at a venue the config does not name, at one that started
                with this process (embedded, paper), or of another account.

        """
        where = f"journal {self.journal_path} holds orders at venue"
        for name in sorted(venues):
            side = self._venues.get(name)
            if side is None:
                raise ConfigError(
                    f"{where} {name!r}, which this config does not name (renamed?): recover "
                    "with the same [venue] name, or use another [journal] path"
                )
            if side.exchange is not None or self.paper is not None:
                raise ConfigError(
                    f"{where} {name!r}, which started empty with this process (embedded or "
                    "paper): a journal is recovered against a venue that outlives the "
                    "process; use another [journal] path"
                )
        for key, account in accounts.items():  # one journal, one system: its accounts
            kept = recovery.meta.get(key)
            if kept is not None and kept != account:
                raise ConfigError(
                    f"journal {self.journal_path} was kept for venue {key.split(':', 1)[1]!r} "
                    f"as account {kept!r}; this config trades {account!r} there: recover "
                    "with the same account, or use another [journal] path"
                )

    def _cancel_orphans(self) -> None:
        """Cancel the recovered open orders whose owner does not run now.

        A strategy of the previous run that this one does not configure cannot manage
        its orders; they are known (not unknown at the venue), then cancelled.
        """
        running = set(self.paths.strategies.values())
        orphans = sorted(
            {
                t.request.owner
                for t in self.store.open_orders()
                if t.request.owner and t.request.owner not in running
            }
        )
        for owner in orphans:
            self._log.warning("recovered_orders_without_owner", owner=owner)
            self.tree.address(self.paths.order_manager).tell(
                CancelAllOrders(reason="its owner does not run after the restart", owner=owner)
            )

    def _journal_unavailable(self, detail: str) -> None:
        """Refuse to trade unrecorded: HALTED, ``journal_unavailable``."""
        self._log.error("journal_unavailable", journal=self.journal_path, error=detail)
        self.gate.trip(
            TradingState.HALTED,
            source=TripSource.JOURNAL_UNAVAILABLE,
            reason="journal_unavailable",
        )

    def _killswitch_child(self) -> ChildSpec:
        paths, cfg = self.paths, self.config
        return ChildSpec(
            name=leaf(paths.killswitch),
            actor=KillSwitchActor,
            kwargs={
                "gate": self.gate,
                "order_manager_path": paths.order_manager,
                "instruments": tuple(symbol for _venue, symbol in paths.books),
                "venue_of": {symbol: venue for venue, symbol in paths.books},
                "stale_after": cfg.killswitch.stale_after,
                "routes": self.routes,  # the strategies, as they come and go
            },
        )

    def _execution_tree(self) -> SupervisorSpec:
        paths, execution = self.paths, self.config.execution
        spec = SupervisorSpec(
            name=leaf(paths.execution),
            strategy=Strategy.REST_FOR_ONE,
            intensity=execution.intensity,
            period=execution.period,
            children=(
                ChildSpec(
                    name=leaf(paths.order_manager),
                    actor=OrderManagerActor,
                    kwargs={
                        "store": self.store,
                        "gateways": dict(paths.gateways),
                        "risk_path": paths.risk,
                        "gate": self.gate,
                        "notify": (paths.killswitch,),
                        "routes": self.routes,  # and the strategies, as they come and go
                        "emit": self._emit,
                        "journal": JOURNAL if self.journal_path else "",
                        "checkpoint": checkpoint_of,
                        "checkpoint_interval": self.config.journal.checkpoint_interval,
                    },
                ),
                *(self._gateway_child(side) for side in self._venues.values()),
            ),
        )
        return self._with_paper_execution(spec)

    def _gateway_child(self, side: _VenueSide) -> ChildSpec:
        paths, execution = self.paths, self.config.execution
        venue = side.config.name
        if self.paper_venue is not None:  # replaced by the paper venue's actor
            return ChildSpec(name=leaf(paths.gateway(venue)), actor=Gateway)
        # set by start
        assert side.credentials is not None  # noqa: S101
        return ChildSpec(
            name=leaf(paths.gateway(venue)),
            actor=Gateway,
            kwargs={
                "venue": venue,
                "url": side.trade_url,
                "rest_url": side.rest_url,
                "order_entry": side.order_entry,
                "credentials": side.credentials,
                "order_manager_path": paths.order_manager,
                "gate": self.gate,
                "links": self.links,
                "cancel_all_after": execution.cancel_all_after,
                "cancel_on_disconnect": execution.cancel_on_disconnect,
                "refresh": execution.refresh,
                "timeout": execution.timeout,
                "rate_per_second": execution.max_messages_per_second,
                "burst": execution.burst,
                "reconnect_delay": execution.reconnect_delay,
                "max_reconnect_delay": execution.max_reconnect_delay,
                "halt_after_down": execution.halt_after_down or None,  # 0: never
                "refetch_interval": execution.refetch_interval,
                "metrics": self._gateway_metrics,
                "venue_rate_limits": side.rate_limits,
            },
            backoff=Backoff(
                min_delay=execution.restart_delay,
                max_delay=execution.max_restart_delay,
                random_factor=0.2,
            ),
            on_failure=self._gateway_failed(venue),
            # connect and three requests, each up to `timeout` (the
            # reconciliation that follows has its own `timeout`)
            start_timeout=max(10.0, 8 * execution.timeout),
        )

    def _risk_child(self) -> ChildSpec:
        paths, risk = self.paths, self.config.risk
        limits = scope_limits(
            self.config,
            self.instruments,
            [(choice.name, choice.instruments) for choice in self._strategies],
        )
        for name, own in limits.strategies.items():  # the added ones join them at run time
            self._limits_table.set(name, own, limits.strategy_max_loss.get(name))
        return ChildSpec(
            name=leaf(paths.risk),
            actor=RiskActor,
            kwargs={
                "limits": limits.account,
                "per_instrument": limits.per_instrument,
                "instrument_limits": limits.instruments,
                "limits_table": self._limits_table,  # read at every (re)start
                # the journal's latest denials: the first risk counts those in its window
                "recent_denials": tuple(self.recovery.denials) if self.recovery else (),
                "strategy_of": strategy_of,
                "order_manager_path": paths.order_manager,
                "gate": self.gate,
                "instruments": self.instruments,
                "max_loss": risk.max_loss,
                "max_denials": risk.max_denials,
                "denial_window": risk.denial_window,
                "emit": self._emit,
            },
        )

    def _market_data_tree(self, subscribers: tuple[str, ...] | None = None) -> SupervisorSpec:
        paths, cfg = self.paths, self.config
        feeds: list[ChildSpec] = []
        books: list[ChildSpec] = []
        for name, side in self._venues.items():
            symbols = tuple(side.instruments)
            # paper on a capture: the depth it was recorded at, where it says (Kraken's book-N)
            depth = self.paper.book_depth if self.paper is not None else side.config.book_depth
            try:  # a depth the venue does not offer is refused here, before anything starts
                subscribe = side.adapter.market_data.subscribe_messages(symbols, depth=depth)
            except ValueError as exc:
                raise ConfigError(f"venue {name!r}: book_depth = {depth}: {exc}") from exc
            feeds.append(
                ChildSpec(
                    name=leaf(paths.feeds[name]),
                    actor=LiveFeed,
                    kwargs={
                        "venue": side.adapter,
                        "url": side.stream_url,
                        "symbols": symbols,
                        "books_path": paths.market_data,
                        "rest_base_url": side.rest_url,
                        "send": subscribe,
                        "depth": depth,
                        "route_trades": True,  # strategies may be added at run time
                        "stale_after": max(1.0, cfg.killswitch.stale_after or 10.0),
                        "taps": self._paper_taps(),
                    },
                    backoff=Backoff(min_delay=0.1, max_delay=2.0),
                )
            )
            books += [
                ChildSpec(
                    name=leaf(paths.book(name, symbol)),
                    actor=BookActor,
                    kwargs={
                        "venue": side.adapter,
                        "instrument": instrument,
                        "feed_path": paths.feeds[name],
                        "subscribers": (
                            (paths.risk, paths.killswitch) if subscribers is None else subscribers
                        ),
                        "routes": self.routes,  # the strategies trading it, as they come and go
                        # paper: the views the backtest's strategies get
                        "depth": cfg.paper.depth if self.paper is not None else 10,
                        "max_depth": depth,  # where the venue's sync rule bounds it
                    },
                )
                for symbol, instrument in side.instruments.items()
            ]
        spec = SupervisorSpec(
            name=leaf(paths.market_data),
            strategy=Strategy.REST_FOR_ONE,
            intensity=cfg.supervision.intensity,
            period=cfg.supervision.period,
            children=(*feeds, *books),
        )
        return self._with_paper_feed(spec)

    def _strategies_tree(self) -> SupervisorSpec:
        """``strategies``: each strategy under a supervisor of its own (its own intensity).

        Its supervisor is TEMPORARY: past its intensity it is stopped, not restarted, and
        `_on_supervision_event` halts that strategy's scope; the others go on.
        """
        cfg = self.config
        return SupervisorSpec(
            name=leaf(self.paths.strategies_supervisor),
            intensity=cfg.supervision.intensity,
            period=cfg.supervision.period,
            parallel_shutdown=True,  # independent: hundreds stop in the time of the slowest
            children=tuple(self._strategy_spec(choice) for choice in self._strategies),
        )

    def _strategy_spec(self, choice: _StrategyChoice) -> SupervisorSpec:
        paths = self.paths
        path = strategy_path(choice.name)
        return SupervisorSpec(
            name=choice.name,
            intensity=choice.intensity,
            period=choice.period,
            restart=Restart.TEMPORARY,
            children=(
                ChildSpec(
                    name=leaf(path),
                    actor=StrategyActor,
                    kwargs={
                        "factory": choice.factory,
                        "instruments": paths.pairs(choice.instruments),
                        "risk_path": paths.risk,
                        "order_manager_path": paths.order_manager,
                        "tag": choice.tag,
                        "ids_epoch": self._id_epochs,
                        "routes": self.routes,  # told the view depth it asks for
                    },
                    mailbox=book_mailbox(),
                ),
            ),
        )

    def _gateway_failed(self, venue: str) -> Callable[[str, BaseException | None], None]:
        def failed(path: str, error: BaseException | None) -> None:
            # In the execution supervisor, before it restarts the gateway.
            self.links.close(path)
            self.tree.address(self.paths.order_manager).tell(
                VenueDown(venue=venue, reason=repr(error) if error else "gateway died")
            )

        return failed

    def _emit(self, event: Any) -> None:
        """Record an event (with a journal) and publish it: see `_publish`.

        The order manager's own events reach the journal in its `WriteAhead`s and are
        published by the journal once recorded; these are the others (kill-switch
        changes, risk's denials, the positions at stop), recorded as they happen.
        """
        tree = self._tree
        if self.journal_path and tree is not None and isinstance(event, JOURNALED):
            with contextlib.suppress(Exception):  # stopped: nothing more is recorded
                tree.address(JOURNAL).tell(event)
        self._publish(event)

    def _publish(self, event: Any) -> None:
        """Hand an event for the hosts to the events actor (delivered off this thread).

        Before the tree runs and after it stopped there are no actor threads to spare,
        so the subscribers are called here.
        """
        tree = self._tree
        if tree is not None and tree.running:
            with contextlib.suppress(Exception):  # stopping: delivered here instead
                tree.address(self.paths.events).tell(event)
                return
        self._events.emit(event)

    def _on_supervision_event(self, event: Any) -> None:
        if isinstance(event, ActorEnded) and event.kind == "supervisor":
            name = self._strategy_at(event.path)
            if name is not None and self._strategy_ended(name, event):
                # A strategy's own supervisor gave up: it is not restarted (TEMPORARY),
                # the others go on; it hears nothing more; its orders are cancelled.
                self._strategy_gave_up(name, f"{event.path} ended: {event.error or event.reason}")
            return
        if isinstance(event, SupervisorEscalated) and self._strategy_at(event.path):
            return  # its ActorEnded follows
        if isinstance(event, SupervisorEscalated):
            self.gate.trip(
                TradingState.HALTED,
                source=TripSource.ESCALATION,
                reason=f"{event.path} exceeded {event.restarts} restarts in {event.period} s",
            )

    def _strategy_at(self, path: str) -> str | None:
        """The strategy whose own supervisor is at ``path`` (None: another supervisor)."""
        parent, _, name = path.rpartition("/")
        with self._running_lock:
            return name if parent == STRATEGIES and name in self._running else None

    def _strategy_gave_up(self, name: str, reason: str) -> None:
        """Halt strategy ``name``'s scope (latched) and cancel its orders: it will not restart.

        The kill switch cancels a halted scope's orders; the order manager is told too, in
        case the kill switch is restarting at this moment (a second cancel is a no-op).
        """
        self.gate.trip(
            TradingState.HALTED,
            source=TripSource.ESCALATION,
            reason=reason,
            scope=f"strategy:{name}",
        )
        self.tree.address(self.paths.order_manager).tell(
            CancelAllOrders(reason=reason, owner=strategy_path(name))
        )

    def _on_dead_letter(self, letter: DeadLetter) -> None:
        """An order lost in a mailbox: tell its owner; release it in risk if need be.

        Lost means its actor crashed on it or its mailbox was closed. A `PlaceOrder`
        the order manager never stored is still counted by risk: release it. One the
        manager stored (lost at a gateway) is settled by the reconciliation.
        """
        message = letter.message
        detail = f"{letter.reason} at {letter.path}"
        if isinstance(message, PlaceOrder):
            # Only the order manager reads its store: it decides (see `OrderLost`).
            self.tree.address(self.paths.order_manager).tell(
                OrderLost(order=message.order, detail=detail)
            )
            return
        if isinstance(message, SubmitOrder):
            order = message
        else:
            return
        update = denied_update(order, DenyReason.LOST, detail)
        if order.owner:
            self.tree.address(order.owner).tell(update)
        self._emit(update)

    def _on_root_escalation(self, error: BaseException) -> None:
        self.gate.trip(TradingState.HALTED, source=TripSource.ESCALATION, reason=repr(error))

    # -- roles over the bus (trading.roles, docs/bus.md) ---------------------------------

    def _take_role(self, registry: CollectorRegistry | None) -> None:
        """``[bus] role``: what of the tree this host runs (see `tradeactors.trading.roles`)."""
        bus = self.config.bus
        settings = bus.settings()
        self.role = role = Role(
            name=bus.role,
            host=bus.host,
            bus=bus,
            settings=settings,
            metrics=BusMetrics(registry, host=bus.host) if registry is not None else None,
            seen=SeenIds(settings.seen_ids),
        )
        if self.paper is not None:
            raise ConfigError('[bus] role: a system on several hosts trades no kind "paper" venue')
        if role.name != EXECUTION_ROLE:
            self.journal_path = ""  # the execution host's journal holds the orders
        if role.name == MARKET_DATA_ROLE:
            self._strategies = ()
            self._running = {}
            self.routes = StrategyRoutes(
                (md_out_path(venue), [(v, s) for v, s in self.paths.books if v == venue])
                for venue in self._venues
            )
        elif role.name == STRATEGY_ROLE and bus.strategies:
            names = {choice.name for choice in self._strategies}
            unknown = sorted(set(bus.strategies) - names)
            if unknown:
                raise ConfigKeyError(
                    "bus",
                    "strategies",
                    f"strategies: {', '.join(map(repr, unknown))} not configured; "
                    f"configured: {', '.join(sorted(names)) or 'none'}",
                )
            self._strategies = tuple(c for c in self._strategies if c.name in bus.strategies)
            self._running = {c.name: _Running(choice=c) for c in self._strategies}
            mine = {strategy_path(c.name) for c in self._strategies}
            for path in self.routes.current.paths():
                if path not in mine:
                    self.routes.remove(path)
            self.strategy_path = next(iter(sorted(mine)), None)

    def _not_with_role(self, what: str) -> None:
        """Strategies change at run time in one process only (for now)."""
        if self.role is not None:
            raise ConfigError(
                f"{what}: not on a system with [bus] role {self.role.name!r} yet: every host "
                "reads the strategies from the same config (docs/bus.md, Roles)"
            )

    def _connect_role(self) -> None:
        """A role's venues: each must be a venue outside this process, its URLs given.

        The execution host logs on as in one process; the market-data host needs the
        market-data URLs; a strategy host talks to no venue.
        """
        role = self.role
        assert role is not None  # noqa: S101 - only called with a role
        for side in self._venues.values():
            venue = side.config
            if not (venue.trade_url and venue.stream_url and venue.rest_url):
                raise ConfigError(
                    f"[bus] role {role.name!r}: venue {venue.name!r} needs trade_url, "
                    "stream_url and rest_url: every host must reach the same venue (run "
                    "`tradeactors exchange` for a simulated one, and give its URLs)"
                )
            if role.name == EXECUTION_ROLE:
                self._connect(side)
            elif role.name == MARKET_DATA_ROLE:
                side.stream_url, side.rest_url = venue.stream_url, venue.rest_url
                side.trade_url = venue.trade_url
                self._take_instruments_from_venue(side)
            else:  # what `trade_url` says: where this host's orders go
                side.trade_url = f"the execution host over {role.settings.endpoint.redacted}"
        if role.name == STRATEGY_ROLE and not role.make_events_group():
            self._log.warning("bus_unreachable_at_start", url=role.settings.endpoint.redacted)

    def _role_spec(self, role: Role) -> SupervisorSpec:
        """The tree of ``role`` (`tradeactors.trading.roles`)."""
        cfg, paths = self.config, self.paths
        events = ChildSpec(
            name=leaf(paths.events), actor=EventsActor, kwargs={"deliver": self._events.emit}
        )
        pairs = list(paths.books)
        books = {
            symbol: (f"{venue}:{symbol}", path) for (venue, symbol), path in paths.books.items()
        }
        if role.name == MARKET_DATA_ROLE:
            children: tuple[ChildSpec | SupervisorSpec, ...] = (
                events,
                # first: the books tell their bridges from their start
                SupervisorSpec(
                    name=BUS, children=(*role.market_data_out(list(self._venues)), role.heartbeat())
                ),
                self._market_data_tree(subscribers=()),
            )
        elif role.name == EXECUTION_ROLE:
            for cid in self.store.orders:  # what the journal gave back: never placed twice
                role.seen.add(cid)
            ingress = ChildSpec(
                name=leaf(INGRESS),
                actor=CommandIngress,
                kwargs={
                    "risk_path": paths.risk,
                    "order_manager_path": paths.order_manager,
                    "known": owner_paths([c.name for c in self._strategies]),
                    "seen": role.seen,
                    "order_owners": {
                        cid: t.request.owner
                        for cid, t in self.store.orders.items()
                        if t.request.owner
                    },
                    "hosts": role.hosts,
                    "lease": role.lease,
                    "metrics": role.metrics,
                },
            )
            self._unsubscribe.append(self.gate.subscribe(self._to_mirror))
            children = (
                events,
                *self._journal_child(),
                self._killswitch_child(),
                self._execution_tree(),
                self._risk_child(),
                role.market_data_in(
                    market_data_streams(pairs, trades=False),
                    books,
                    routes=None,
                    subscribers=(paths.risk, paths.killswitch),
                ),
                SupervisorSpec(
                    name=leaf(paths.strategies_supervisor),
                    children=tuple(
                        SupervisorSpec(
                            name=c.name, children=(role.events_out(strategy_path(c.name)),)
                        )
                        for c in self._strategies
                    ),
                ),
                # last: commands reach risk and the order manager once they run
                SupervisorSpec(
                    name=BUS,
                    children=(
                        ingress,
                        ChildSpec(
                            name=leaf(MIRROR),
                            actor=KillSwitchMirror,
                            args=(role.settings,),
                            kwargs={"host": role.host},
                        ),
                        role.heartbeat(),
                        role.monitor(self._to_ingress),  # before the commands: see WatchPeer
                        role.follower(self.gate),
                        role.commands_in(),
                    ),
                ),
            )
        else:
            children = (
                events,
                self._killswitch_child(),
                SupervisorSpec(
                    name=leaf(paths.execution),
                    children=(role.commands_out(leaf(paths.order_manager)),),
                ),
                ChildSpec(
                    name=leaf(paths.risk),
                    actor=RemoteRisk,
                    kwargs={"forward": paths.order_manager},
                ),
                role.market_data_in(
                    market_data_streams(pairs, trades=True),
                    books,
                    routes=self.routes,
                    subscribers=(paths.killswitch,),
                ),
                # before the strategies: heard (heartbeat) before their first order, and
                # stopped after them (their cancels go out while it still beats)
                SupervisorSpec(
                    name=BUS,
                    children=(
                        role.heartbeat(),
                        role.follower(self.gate),
                        ChildSpec(
                            name=leaf(ROUTER),
                            actor=EventRouter,
                            kwargs={"routes": self.routes, "also": (paths.killswitch,)},
                        ),
                        role.events_in(),
                    ),
                ),
                self._strategies_tree(),
            )
        return SupervisorSpec(
            name="trading",
            intensity=cfg.supervision.intensity,
            period=cfg.supervision.period,
            children=children,
        )

    def _to_mirror(self, change: KillSwitchChanged) -> None:
        """The execution host's gate changed: latch it in Redis (`KillSwitchMirror`)."""
        tree = self._tree
        if tree is not None and tree.running:
            with contextlib.suppress(Exception):  # stopping
                tree.address(MIRROR).tell(change)

    def _to_ingress(self, event: PeerAlive | PeerExpired | BusStatus) -> None:
        """A host's lease expired or it came back, or this host lost the bus: to the ingress."""
        tree = self._tree
        if tree is not None and tree.running:
            with contextlib.suppress(Exception):  # stopping
                tree.address(INGRESS).tell(event)

    def _stop_role(self, tree: Supervisor, timeout: float) -> ShutdownSummary:
        """Stop a market-data or strategy host: halt here, stop the tree.

        A strategy host's strategies cancel their orders as they stop (over the bus); the
        execution host cancels whatever is left once this host's lease expires. Whether
        anything is still open is the execution host's to say (``open_at_venue`` None).
        """
        self.gate.trip(TradingState.HALTED, source=TripSource.SHUTDOWN, reason="shutdown")
        failure = tree.failure
        try:
            tree.stop(timeout=timeout)
        except ShutdownTimeoutError as exc:
            self._log.error("tree_stop_timed_out", error=str(exc))
            failure = failure or exc
        finally:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe.clear()
            self._close_venue()
        summary = ShutdownSummary(
            status=self._last_status(),
            open_at_venue=None,
            cancelled_in_time=False,
            clean=failure is None,
        )
        self._log.info("trading_system_stopped", role=self.role.name if self.role else "")
        return summary

    # -- paper trading (trading.paper) -------------------------------------------------

    def _prepare_paper(self) -> None:
        """The paper venue, on the instrument (the venue's own, for a live market)."""
        paper = self.paper
        assert paper is not None  # noqa: S101 - only called for kind paper
        cfg = paper.config
        side = self._first
        side.trade_url = f"paper ({cfg.pace}) on {cfg.capture or cfg.url}"
        side.stream_url, side.rest_url = cfg.url, cfg.rest_url
        if paper.instrument is None:  # live, steps not configured: the market's
            self._take_instruments_from_venue(side)
        self.paper_venue = paper.model(self.instrument, self.config.venue.name)

    def _with_paper_execution(self, spec: SupervisorSpec) -> SupervisorSpec:
        """``spec`` with the paper venue's actor in the gateway's place (if paper)."""
        if self.paper_venue is None:
            return spec
        venue = self.config.venue.name

        def scheduled() -> None:  # the lockstep driver follows the venue's events
            if self.paper_driver is not None:
                self.paper_driver.poke()

        paper = ChildSpec(
            name=leaf(self.paths.gateway(venue)),
            actor=PaperExecution,
            kwargs={
                "venue": venue,
                "model": self.paper_venue,
                "order_manager_path": self.paths.order_manager,
                "gate": self.gate,
                "on_scheduled": scheduled,
            },
            on_failure=self._gateway_failed(venue),
        )
        return msgspec.structs.replace(spec, children=(spec.children[0], paper))

    def _paper_taps(self) -> tuple[str, ...]:
        """Where the feed tells every frame: the paper venue (none for other venues)."""
        return (self.gateway_path,) if self.paper is not None else ()

    def _with_paper_feed(self, spec: SupervisorSpec) -> SupervisorSpec:
        """``spec`` with the feed of a paper capture in the live feed's place."""
        paper = self.paper
        if paper is None or paper.config.url:
            return spec
        paths, venue = self.paths, self.config.venue.name
        common = {
            "venue": self.adapter,
            "symbols": (self.instrument.symbol,),
            "books_path": paths.market_data,
            "route_trades": True,  # strategies may be added at run time
            "taps": self._paper_taps(),
        }
        feed = (
            ChildSpec(name=leaf(paths.feeds[venue]), actor=LockstepFeed, kwargs=common)
            if paper.lockstep
            else ChildSpec(
                name=leaf(paths.feeds[venue]),
                actor=ReplayFeed,
                kwargs={
                    **common,
                    "frames": paper.frames,
                    "done": self.market_done,
                    "pace": "recorded",
                    "speed": paper.config.speed,
                },
            )
        )
        return msgspec.structs.replace(spec, children=(feed, *spec.children[1:]))

    def _start_lockstep(self) -> None:
        """Pace lockstep: step the capture through the started tree (`LockstepDriver`)."""
        paper = self.paper
        if paper is None or not paper.lockstep:
            return
        assert isinstance(self.clock, FakeClock)  # noqa: S101 - made so in __init__
        assert self.paper_venue is not None  # noqa: S101 - made by _prepare_paper
        driver = LockstepDriver(
            self.tree,
            self.clock,
            paper.frames,
            feed_path=self.paths.feeds[self.config.venue.name],
            model=self.paper_venue,
            inert=paper.inert,
        )
        self.paper_driver = driver
        driver.start()

    @property
    def market_finished(self) -> bool:
        """Paper on a capture: every frame was replayed (False otherwise)."""
        if self.paper_driver is not None:
            return self.paper_driver.finished.is_set()
        return self.paper is not None and self.market_done.is_set()

    def _venue_open_orders(self) -> int | None:
        """The account's orders still open at every venue (None: a venue could not say)."""
        if self.paper_venue is not None:
            return len(self.paper_venue.open_orders())  # the tree stopped: nobody touches it
        total = 0
        for name, side in self._venues.items():
            if side.credentials is None or side.order_entry is None:
                return None
            try:
                total += len(
                    open_orders_at_venue(
                        side.order_entry,
                        side.trade_url,
                        side.credentials,
                        timeout=5.0,
                        rest_url=side.rest_url,
                    )
                )
            except Exception as exc:  # noqa: BLE001 - reported as unknown, never hidden
                self._log.error("venue_query_failed", venue=name, error=repr(exc))
                return None
        return total


# -- the instrument: the config's steps, and the venue's at start -----------------------------


_MAX_ANSWER_BYTES = 16 * 1024 * 1024  # Binance's whole exchangeInfo is a few MB


def _key_file_credentials(venue: VenueConfig) -> Credentials | None:
    """The API key with the Ed25519 private key of ``[venue] key_file``, or None if none.

    Raises:
        ConfigError: the file cannot be read or holds no Ed25519 key (the message names
            the file, never its content), or the venue kind signs with no such key.

    """
    if not venue.key_file:
        return None
    if venue.kind != "binance":
        raise ConfigError(
            f"[venue] key_file: an Ed25519 key signs for kind binance only, not {venue.kind!r}"
        )
    try:
        return Credentials.from_key_file(venue.api_key, venue.key_file)
    except ValueError as exc:
        raise ConfigError(f"[venue] key_file: {exc}") from None


@dataclass(slots=True, kw_only=True)
class _VenueSide:
    """One venue of the system: its adapter, instruments, codec, URLs, credentials."""

    config: VenueConfig
    adapter: VenueAdapter
    instruments: dict[str, Instrument]  # symbol -> the configured, then the venue's own
    order_entry: OrderEntry | None = None  # None: paper (its venue model is the venue)
    exchange: SimExchange | None = None  # the embedded one, if started
    credentials: Credentials | None = None
    trade_url: str = ""
    stream_url: str = ""
    rest_url: str = ""
    rate_limits: tuple[VenueRateLimit, ...] = ()  # what the venue states


@dataclass(frozen=True, slots=True, kw_only=True)
class _StrategyChoice:
    """One strategy of the tree: its name, how to build it, what it trades, its limits."""

    name: str
    factory: Callable[[], StrategyObject]
    instruments: tuple[str, ...]
    intensity: int
    period: float
    tag: str  # the prefix of its client order ids: unique in the system
    spec: str = ""  # its class as given: a built-in's name, "package.module:Class", the code's
    risk: LimitsConfig = field(default_factory=LimitsConfig)  # its own limits


@dataclass(slots=True, kw_only=True)
class _Running:
    """A strategy of the running system (see `StrategyInfo`)."""

    choice: _StrategyChoice
    added: bool = False
    stopped: str = ""  # why its supervisor ended on its own ("": running)
    starting: bool = False  # added, its start not finished yet

    def info(self) -> StrategyInfo:
        choice = self.choice
        return StrategyInfo(
            name=choice.name,
            strategy=choice.spec,
            instruments=choice.instruments,
            state="stopped" if self.stopped else "starting" if self.starting else "running",
            path=strategy_path(choice.name),
            added=self.added,
            reason=self.stopped,
            risk=limit_values(choice.risk),
        )


def _order_entry(side: _VenueSide) -> OrderEntry:
    """The venue's order-entry codec, for its instruments."""
    make = side.adapter.order_entry
    assert make is not None  # noqa: S101 - venue_adapter(trading=True) checked it
    instruments = tuple(side.instruments.values())
    if len(instruments) == 1:  # the codec of one instrument, as before
        return make(side.config.name, instruments[0])
    return make(side.config.name, side.instruments)


def _strategy_choices(config: Config, strategy: object) -> tuple[_StrategyChoice, ...]:
    """The strategies to run: ``strategy`` given in code, else the config's.

    A class given in code replaces ``[strategy]`` and trades the first instrument;
    with ``[[strategies]]`` each names its own class.
    """
    entries = config.all_strategies
    if strategy is not None:
        if config.strategies:
            raise ConfigError(
                "TradingSystem(strategy=...) replaces [strategy]; with [[strategies]] "
                "name each strategy's class in its entry"
            )
        name, factory = live_strategy(strategy)
        supervision = config.supervision
        first = config.all_instruments[0].symbol
        return (
            _StrategyChoice(
                name=name,
                factory=factory,
                instruments=(first,),
                intensity=supervision.intensity,
                period=supervision.period,
                tag=_tag(name, 0, set()),
                spec=str(getattr(factory, "spec", name)),
            ),
        )
    tags: set[str] = set()
    choices = []
    for index, entry in enumerate(entries):
        tag = _tag(entry.name, index, tags)
        tags.add(tag)
        choices.append(
            _StrategyChoice(
                name=entry.name,
                factory=strategy_factory(entry.class_, entry.params),
                instruments=entry.instruments,
                intensity=entry.intensity or 0,
                period=entry.period or config.supervision.period,
                tag=tag,
                spec=entry.class_,
                risk=entry.risk,
            )
        )
    return tuple(choices)


def _symbols(
    instruments: Sequence[str] | str | None, first: str, configured: Mapping[str, object]
) -> tuple[str, ...]:
    """``add_strategy``'s instruments as symbols (a string alone is one; none: ``first``).

    Raises:
        ConfigKeyError: none, one not ``configured``, or one given twice.

    """
    if instruments is None:
        return (first,)
    symbols = (instruments,) if isinstance(instruments, str) else tuple(instruments)
    unknown = [symbol for symbol in symbols if symbol not in configured]
    if unknown:
        reason = f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not"
        reason += " configured"
    elif not symbols:
        reason = "none given"
    elif len(set(symbols)) != len(symbols):
        reason = "a symbol is listed twice"
    else:
        return symbols
    raise ConfigKeyError(
        "", "instruments", f"instruments: {reason}; configured: {', '.join(configured)}"
    )


def _restarts(
    intensity: int | None, period: float | None, supervision: SupervisionConfig
) -> tuple[int, float]:
    """``add_strategy``'s intensity and period, checked (none: ``[supervision]``'s).

    Raises:
        ConfigKeyError: an intensity that is not an int >= 0, a period not > 0.

    """
    if intensity is None:
        intensity = supervision.intensity
    if isinstance(intensity, bool) or not isinstance(intensity, int) or intensity < 0:
        raise ConfigKeyError("", "intensity", f"intensity: {intensity!r} is not an int >= 0")
    if period is None:
        period = supervision.period
    if isinstance(period, bool) or not isinstance(period, int | float) or not period > 0:
        raise ConfigKeyError("", "period", f"period: {period!r} is not a number of seconds > 0")
    return intensity, float(period)


def _tag(name: str, index: int, taken: set[str]) -> str:
    """A short prefix of a strategy's client order ids, unlike every other strategy's."""
    tag = "".join(filter(str.isalnum, name))[:4] or "s"
    if tag not in taken:
        return tag
    return f"{tag[:2]}{index:02x}"


def _configured_instrument(
    venue: VenueConfig, entry: InstrumentConfig, adapter: VenueAdapter, where: str = "[venue]"
) -> Instrument:
    """The instrument as configured, until (if its venue publishes it) the venue's at start.

    Steps left out are the simulator's meanwhile: the embedded exchange is made with
    them, then asked like any venue.

    Raises:
        ConfigError: a step left out for a venue kind that publishes none.

    """
    if not (entry.tick_size and entry.lot_size) and instrument_source(adapter) is None:
        raise ConfigError(
            f"{where} tick_size and lot_size are needed: tradeactors cannot ask a venue of "
            f"kind {venue.kind!r} for them (it does for {', '.join(instrument_kinds())})"
        )
    return Instrument(
        venue=venue.name,
        symbol=entry.symbol,
        tick_size=entry.tick_size or SIM_TICK_SIZE,
        lot_size=entry.lot_size or SIM_LOT_SIZE,
    )


def _get(url: str, *, timeout: float, what: str) -> bytes:
    """The body of ``GET url`` (a 200), or one `ConfigError` saying why not."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"[venue] rest_url must be an http(s) URL to get {what}: {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http(s) only
            body: bytes = answer.read(_MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:  # the venue's own words, e.g. Binance's -1121
        try:
            detail = exc.read(300).decode(errors="replace").strip()
        except (OSError, http.client.HTTPException):
            detail = ""
        message = f"cannot get {what} from {url}: HTTP {exc.code} {detail}"
        raise ConfigError(message.rstrip()) from exc
    except TimeoutError as exc:
        raise ConfigError(f"cannot get {what} from {url}: no answer in {timeout} s") from exc
    except urllib.error.URLError as exc:
        raise ConfigError(f"cannot get {what} from {url}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise ConfigError(f"cannot get {what} from {url}: {exc!r}") from exc
    if len(body) > _MAX_ANSWER_BYTES:
        raise ConfigError(f"{what} from {url}: more than {_MAX_ANSWER_BYTES} bytes")
    return body


def _agreed_instrument(venue: InstrumentConfig, published: Instrument, where: str) -> Instrument:
    """The venue's instrument ``published``, in the config's lot if one is given.

    A tick given must be the venue's (the book parses the venue's prices in it); a lot
    given must be a whole multiple of the venue's (every order in it is one the venue
    takes), and then the minimum and maximum quantity move onto it: up and down to the
    nearest whole lot.

    Raises:
        ConfigError: a step that does not fit the venue's, naming both and ``where``.

    """
    symbol = f"{venue.symbol} at {venue.venue}"
    if venue.tick_size and Fraction(venue.tick_size) != Fraction(published.tick_size):
        raise ConfigError(
            f'[venue] tick_size "{venue.tick_size}" is not the tick of {symbol}: the venue\'s '
            f'is "{published.tick_size}" ({where}); leave tick_size out to take the venue\'s'
        )
    if not venue.lot_size:
        return published
    lots = Fraction(venue.lot_size) / Fraction(published.lot_size)
    if lots.denominator != 1:
        raise ConfigError(
            f'[venue] lot_size "{venue.lot_size}" does not fit {symbol}: the venue\'s lot is '
            f'"{published.lot_size}" ({where}); give a whole multiple of it, or leave '
            "lot_size out to take the venue's"
        )
    if lots == 1:
        return published
    lot = Fraction(venue.lot_size)
    minimum, maximum = published.min_quantity, published.max_quantity
    if maximum and Fraction(maximum) < lot:
        raise ConfigError(
            f'[venue] lot_size "{venue.lot_size}" is above the largest quantity of {symbol}, '
            f'"{maximum}" ({where})'
        )
    coarse = msgspec.structs.replace(published, lot_size=venue.lot_size)
    return msgspec.structs.replace(
        coarse,
        min_quantity=minimum and coarse.format_size(math.ceil(Fraction(minimum) / lot)),
        max_quantity=maximum and coarse.format_size(math.floor(Fraction(maximum) / lot)),
    )
