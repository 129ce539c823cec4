"""Roles: one trading system on several hosts that talk through Redis Streams.

`TradingSystem` builds, for ``[bus] role`` (docs/bus.md, "Roles"):

- ``market-data``: the feeds and books; each book's views and trades go to an
  `OutboundBridge` (one per venue, at ``bus/md_out.<venue>``), routed to it like to a
  strategy, onto the market-data streams;
- ``execution``: the kill switch, the order manager, the gateways and risk as in one
  process; books come from the bus (``market_data/md_in`` -> ``market_data/fanout``
  -> a `BookCache` at each book's path -> risk and the kill switch); each configured
  strategy's path holds an `OutboundBridge` to the events stream, so the order
  manager and risk tell a remote strategy as they tell a local one;
  ``bus/commands_in`` reads the commands stream into the `CommandIngress`, which
  drops repeats by client order id, refuses owners it does not know, learns which
  host owns which strategy and, when that host's lease expires or a new session of
  it appears, cancels its orders;
- ``strategy``: the strategies as in one process; ``execution/order_manager`` is an
  `OutboundBridge` to the commands stream and ``risk`` a `RemoteRisk` that forwards
  to it (a cancel of everything without an owner, from this host's kill switch,
  becomes at the execution host one per strategy of this host); books and trades
  come from the bus (to a `BookCache` per instrument, then the strategies); the
  events stream is read (a consumer group per host) into the `EventRouter`, which
  gives each `OrderUpdate` to its owner if it runs here.

Every host but the market-data host follows the kill switch latched in Redis into its
local gate (`KillSwitchFollower`); the execution host's gate is the authority: each
of its changes is latched in Redis (`KillSwitchMirror`), but a shutdown's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.bus import (
    BusMetrics,
    BusStatus,
    ClientAndTimer,
    Envelope,
    HeartbeatMonitor,
    HeartbeatPublisher,
    InboundBridge,
    KillSwitchFollower,
    Kind,
    MarketDataSubscriber,
    OutboundBridge,
    Outbox,
    PeerAlive,
    PeerExpired,
    RedisKillSwitch,
    SeenIds,
    WatchPeer,
    connect,
)
from tradeactors.core.book import BookView
from tradeactors.core.killswitch import KillSwitchChanged, TripSource
from tradeactors.core.messages import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    DenyReason,
    GetBook,
    Message,
    OrderUpdate,
    SubmitOrder,
    TradeTick,
    VenueStatus,
    denied_update,
    symbol_of,
)
from tradeactors.core.risk import TradingState
from tradeactors.errors import BusUnavailableError, ConfigError, UnknownScopeError
from tradeactors.supervision import ChildSpec, SupervisedActor, SupervisorSpec
from tradeactors.trading.paths import leaf, strategy_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.actors.gate import TradingGate
    from tradeactors.actors.routing import StrategyRoutes
    from tradeactors.bus import BusSettings
    from tradeactors.clock import Timer
    from tradeactors.config import BusConfig

__all__ = [
    "COMMANDS",
    "EVENTS",
    "BookCache",
    "CommandIngress",
    "EventRouter",
    "FromHost",
    "KillSwitchMirror",
    "MarketDataFanout",
    "RemoteRisk",
    "Role",
]

MARKET_DATA_ROLE = "market-data"
EXECUTION_ROLE = "execution"
STRATEGY_ROLE = "strategy"

COMMANDS = "bus:commands"
"""Strategy hosts -> the execution host: orders, amends, cancels (one consumer group)."""
EVENTS = "bus:events"
"""The execution host -> strategy hosts: order updates, venue status (a group per host)."""
EXECUTION_GROUP = "execution"

BUS = "bus"
INGRESS = f"{BUS}/ingress"
ROUTER = f"{BUS}/router"
MIRROR = f"{BUS}/killswitch_mirror"
MONITOR = f"{BUS}/monitor"
MD_IN = "md_in"
FANOUT = "fanout"


class FromHost:
    """A command as the execution host's ingress gets it: with the host that sent it."""

    __slots__ = ("host", "message", "session")

    def __init__(self, host: str, session: int, message: Message) -> None:
        self.host = host
        self.session = session
        self.message = message


def from_host(envelope: Envelope, message: Message) -> FromHost:
    """`InboundBridge`'s ``wrap`` on the execution host."""
    return FromHost(envelope.source_host, envelope.session, message)


# -- actors ---------------------------------------------------------------------------------


class MarketDataFanout(SupervisedActor):
    """Books and trades from the bus to the `BookCache` of their instrument (by symbol)."""

    def __init__(self, *, books: dict[str, str]) -> None:
        super().__init__()
        self._books = books  # symbol -> its BookCache's path

    def on_receive(self, message: Any) -> Any:
        """Pass a `BookView` or a `TradeTick` on."""
        if isinstance(message, BookView):
            path = self._books.get(symbol_of(message.instrument))
        elif isinstance(message, TradeTick):
            path = self._books.get(message.instrument)
        else:
            return
        if path is not None:
            self.context.address_of(path).tell(message)


class BookCache(SupervisedActor):
    """At a book's path on a host whose books come from the bus: the newest, passed on.

    It tells each book to ``subscribers`` (risk, the kill switch) and to the strategies
    routed to its symbol in ``routes``, each trade to those strategies, and answers
    `GetBook` with the newest book (an empty one before the first), as a book actor does.
    """

    def __init__(
        self, *, instrument: str, subscribers: tuple[str, ...], routes: StrategyRoutes | None
    ) -> None:
        super().__init__()
        self._instrument = instrument  # venue:symbol
        self._symbol = symbol_of(instrument)
        self._subscribers = subscribers
        self._routes = routes
        self._view = BookView(instrument=instrument, update_id=0, timestamp_ns=0, bids=(), asks=())

    def on_receive(self, message: Any) -> Any:
        """Keep and pass on a book, pass on a trade, answer `GetBook`."""
        if isinstance(message, GetBook):
            view = self._view
            depth = max(0, message.depth)
            return msgspec.structs.replace(view, bids=view.bids[:depth], asks=view.asks[:depth])
        if isinstance(message, BookView):
            self._view = message
            targets: tuple[str, ...] = self._subscribers
        elif isinstance(message, TradeTick):
            targets = ()
        else:
            return None
        if self._routes is not None:
            targets = (*targets, *self._routes.current.trading(self._symbol))
        for path in targets:
            _tell(self.context, path, message)
        return None


def _tell(context: Any, path: str, message: Message) -> None:
    """Tell ``path`` unless it is not started yet or stopped (stopping: nothing to say)."""
    try:
        address = context.address_of(path)
    except ConfigError:  # not started yet: it hears the next one
        return
    if not address.is_closed():
        address.tell(message)


class RemoteRisk(SupervisedActor):
    """At a strategy host's risk path: orders and amends to the commands bridge.

    The bridge sits at the order manager's path, so a strategy's cancels take one hop
    to it and its orders two (through here), as in one process (strategy -> risk ->
    order manager): a strategy that cancels all at its start and then places an order
    has the cancel on the bus first.
    """

    def __init__(self, *, forward: str) -> None:
        super().__init__()
        self._forward = forward

    def on_receive(self, message: Any) -> Any:
        """Forward an order or an amend."""
        if isinstance(message, SubmitOrder | AmendOrder):
            self.context.address_of(self._forward).tell(message)
        else:
            self.context.log.warning(
                "bus_not_forwarded", message_type=type(message).__name__, role=STRATEGY_ROLE
            )


class EventRouter(SupervisedActor):
    """A strategy host's events from the bus: each to the local strategy it is for.

    An `OrderUpdate` goes to its owner if that strategy runs here (the events stream
    carries every host's: the others are dropped); a `VenueStatus` to every strategy
    of this host and to ``also`` (the local kill switch). Kill-switch changes reach the
    strategies through the local gate (which follows Redis), not from here.
    """

    def __init__(self, *, routes: StrategyRoutes, also: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._routes = routes
        self._also = also
        self._status: dict[str, VenueStatus] = {}  # venue -> the last passed on

    def on_receive(self, message: Any) -> Any:
        """Route one event."""
        local = self._routes.current.paths()
        if isinstance(message, OrderUpdate):
            if message.owner in local:
                self._tell(message.owner, message)
        elif isinstance(message, VenueStatus):
            # the execution host tells each strategy's bridge: one copy per strategy
            if self._status.get(message.venue) == message:
                return
            self._status[message.venue] = message
            for path in (*self._also, *local):
                self._tell(path, message)

    def _tell(self, path: str, message: Message) -> None:
        _tell(self.context, path, message)


@dataclass(slots=True)
class HostOwners:
    """Which strategy host sent orders of which owner (kept across ingress restarts)."""

    owners: dict[str, set[str]] = field(default_factory=dict)  # host -> owner paths


class _CutOff:
    """The lease after this host lost the bus: still down?"""

    __slots__ = ("token",)

    def __init__(self, token: int) -> None:
        self.token = token


_ORDER_OWNERS = 200_000
"""Orders whose owner the ingress remembers (the oldest forgotten first)."""


class CommandIngress(SupervisedActor):
    """The execution host's door for commands from the bus (see the module doc).

    ``known``: the owner paths a command may name (the configured strategies: each has
    a bridge at its path here); a command of another owner is logged and dropped, and
    so is one of a strategy another host runs (the first host that sent a command for
    it keeps it until its lease expires or it restarts), one that names no owner (but a
    host's cancel-all: its own strategies'), a cancel of an order that is no strategy's
    here, and an amend or a client order id of another strategy's order.
    ``seen``: client order ids already taken (those the journal gave back, then every
    one let through), so a redelivered order never reaches the order manager twice.
    An order older than ``lease`` when it gets here (by its own timestamp: it waited
    in the stream while this host was down) is denied to its owner (``lost``), never
    placed. Told the heartbeat monitor's `BusStatus`: cut off from the bus for longer than
    ``lease``, it cancels the orders of every ``known`` owner (no strategy host can
    watch them any more), whichever host sent them.
    """

    def __init__(
        self,
        *,
        risk_path: str,
        order_manager_path: str,
        known: frozenset[str],
        seen: SeenIds,
        hosts: HostOwners,
        lease: float,
        metrics: BusMetrics | None = None,
        order_owners: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._risk = risk_path
        self._om = order_manager_path
        self._known = known
        self._seen = seen
        # client order id -> owner, of the orders let through (and those the journal
        # gave back): a cancel or amend from the bus acts only for its order's owner
        self._order_owners: dict[str, str] = dict(order_owners or {})
        self._hosts = hosts
        self._lease = lease
        self._metrics = metrics
        self._cut_off: Timer | None = None
        self._token = 0

    def on_stop(self) -> None:
        """Cancel the cut-off timer."""
        if self._cut_off is not None:
            self._cut_off.cancel()

    def on_receive(self, message: Any) -> Any:
        """A command from a host, news of a host's lease, or of this host's own link."""
        if isinstance(message, FromHost):
            self._command(message)
        elif isinstance(message, PeerExpired):
            self._cancel_host(message.host, f"bus: host {message.host} lease expired")
        elif isinstance(message, PeerAlive) and message.previous_session:
            self._cancel_host(message.host, f"bus: host {message.host} restarted")
        elif isinstance(message, BusStatus):
            self._link(up=message.up)
        elif isinstance(message, _CutOff) and message.token == self._token:
            self._cut_off = None
            self.context.log.error("bus_cut_off_orders_cancelled", lease=self._lease)
            om = self.context.address_of(self._om)
            for owner in sorted(self._known):
                om.tell(CancelAllOrders(reason="bus: cut off longer than the lease", owner=owner))

    def _link(self, *, up: bool) -> None:
        self._token += 1  # a timer of before is stale
        if self._cut_off is not None:
            self._cut_off.cancel()
            self._cut_off = None
        if not up:
            me, token = self.context.address, self._token
            self._cut_off = self.context.clock.call_later(
                self._lease, lambda: me.tell(_CutOff(token))
            )

    def _refuse(self, received: FromHost, reason: str, owner: str | None = None) -> None:
        self.context.log.error(
            "bus_command_refused",
            host=received.host,
            owner=owner,
            message_type=type(received.message).__name__,
            reason=reason,
        )

    def _owner_of(self, message: Any) -> str | None:
        """The strategy a command acts for: its own ``owner``, or its order's owner."""
        if isinstance(message, CancelOrder):
            return self._order_owners.get(message.client_order_id)
        owner = getattr(message, "owner", None)
        return owner if isinstance(owner, str) else None

    def _command(self, received: FromHost) -> None:  # noqa: C901 - a refusal per rule
        message = received.message
        log = self.context.log
        host_wide = isinstance(message, CancelAllOrders) and message.owner is None
        owner = self._owner_of(message)
        if not owner and not host_wide:
            # a remote command acts for one of the strategies that host runs, by name
            self._refuse(
                received,
                "the order is not one of a strategy's here"
                if isinstance(message, CancelOrder)
                else "a command from the bus names its owner (a strategy's path)",
            )
            return
        if isinstance(message, AmendOrder) and (
            self._order_owners.get(message.client_order_id, owner) != owner
        ):
            self._refuse(received, "the order is another strategy's", owner)
            return
        if owner and owner not in self._known:
            log.error(
                "bus_command_refused",
                host=received.host,
                owner=owner,
                message_type=type(message).__name__,
                reason="owner is not a configured strategy",
            )
            return
        holder = self._holder(owner, received.host) if owner else None
        if holder is not None:
            # one strategy on two hosts (both run it): the first keeps it, until its
            # lease expires or it restarts; the other's commands would move its orders
            log.error(
                "bus_command_refused",
                host=received.host,
                owner=owner,
                message_type=type(message).__name__,
                reason=f"strategy runs on host {holder}",
            )
            return
        if received.host not in self._hosts.owners:
            # its lease runs from now, even if its heartbeats were not heard yet
            self.context.address_of(MONITOR).tell(WatchPeer(host=received.host))
        owners = self._hosts.owners.setdefault(received.host, set())
        if owner:
            owners.add(owner)
        if isinstance(message, SubmitOrder):
            self._submit(received.host, message)
        elif isinstance(message, AmendOrder):
            self.context.address_of(self._risk).tell(message)
        elif isinstance(message, CancelAllOrders) and message.owner is None:
            # a strategy host's kill switch: the orders of that host's strategies only
            om = self.context.address_of(self._om)
            for known in sorted(self._hosts.owners.get(received.host, ())):
                om.tell(CancelAllOrders(reason=message.reason, venue=message.venue, owner=known))
        elif isinstance(message, CancelOrder | CancelAllOrders):
            self.context.address_of(self._om).tell(message)
        else:
            log.warning(
                "bus_command_refused",
                host=received.host,
                message_type=type(message).__name__,
                reason="not a command",
            )

    def _submit(self, host: str, order: SubmitOrder) -> None:
        """To risk, unless its client order id was taken already (a redelivery)."""
        if order.client_order_id in self._seen and (
            self._order_owners.get(order.client_order_id, order.owner) == order.owner
        ):
            if self._metrics is not None:
                self._metrics.duplicates.labels(self._metrics.host, COMMANDS).inc()
            self.context.log.info(
                "bus_order_repeat_dropped", host=host, client_order_id=order.client_order_id
            )
            return
        if order.client_order_id in self._seen:  # another strategy's id: never taken over
            self.context.log.error(
                "bus_command_refused",
                host=host,
                owner=order.owner,
                message_type="SubmitOrder",
                reason="its client order id is another strategy's",
            )
            return
        self._seen.add(order.client_order_id)
        self._order_owners[order.client_order_id] = order.owner
        if len(self._order_owners) > _ORDER_OWNERS:
            del self._order_owners[next(iter(self._order_owners))]  # the oldest
        age_ns = self.context.clock.time_ns() - order.timestamp_ns
        if abs(age_ns) > self._lease * 1e9:
            # it waited on the bus (this host was down): the market it was meant for is
            # gone; or its host's clock is off by more than the lease: its age means nothing
            detail = (
                f"waited {age_ns / 1e9:.1f} s on the bus, longer than the lease"
                if age_ns > 0
                else f"stamped {-age_ns / 1e9:.1f} s ahead of this host's clock (past the lease)"
            )
            self.context.log.warning(
                "bus_order_too_old", host=host, client_order_id=order.client_order_id, age_ns=age_ns
            )
            if order.owner:
                update = denied_update(order, DenyReason.LOST, detail)
                self.context.address_of(order.owner).tell(update)
            return
        self.context.address_of(self._risk).tell(order)

    def _holder(self, owner: str, host: str) -> str | None:
        """The other host that runs ``owner`` (None: none, or ``host`` itself)."""
        return next(
            (
                other
                for other, owned in self._hosts.owners.items()
                if other != host and owner in owned
            ),
            None,
        )

    def _cancel_host(self, host: str, reason: str) -> None:
        """Cancel the orders of ``host``'s strategies, and forget that it runs them."""
        owners = sorted(self._hosts.owners.pop(host, ()))
        self.context.log.warning("bus_host_orders_cancelled", host=host, owners=owners)
        om = self.context.address_of(self._om)
        for owner in owners:
            om.tell(CancelAllOrders(reason=reason, owner=owner))


class _Retry:
    """Redis did not answer: latch what is waiting again."""


class KillSwitchMirror(ClientAndTimer, SupervisedActor):
    """Latches the execution host's kill-switch changes in Redis (`RedisKillSwitch`).

    Told each change of the local gate; a trip raises the latched state, a reset
    lowers it. A shutdown's trip is the stopping host's own and is not latched. While
    Redis does not answer, the newest change of each scope waits and is tried again
    every ``reconnect_interval``.
    """

    def __init__(self, settings: BusSettings, *, host: str) -> None:
        super().__init__()
        self._settings = settings
        self._host = host
        self._client: Any = None
        self._switch: RedisKillSwitch | None = None
        self._waiting: dict[str, KillSwitchChanged] = {}
        self._timer: Timer | None = None

    def on_start(self) -> None:
        """Make the client (no I/O)."""
        self._client = connect(self._settings, client_name=f"{self._host}:{self.context.path}")
        self._switch = RedisKillSwitch(self._client)

    def on_receive(self, message: Any) -> Any:
        """Latch a change (or retry those waiting)."""
        if isinstance(message, KillSwitchChanged):
            if message.source == TripSource.SHUTDOWN.value:
                return
            self._waiting[message.scope] = message
        elif isinstance(message, _Retry):
            self._timer = None
        else:
            return
        self._latch()

    def _latch(self) -> None:
        switch = self._switch
        assert switch is not None  # noqa: S101 - set in on_start
        for scope, change in list(self._waiting.items()):
            try:
                if _rank(change.state) > _rank(change.previous):
                    switch.trip(
                        change.state,
                        source=_source(change.source),
                        reason=change.reason,
                        scope=scope,
                        by=self._host,
                    )
                elif switch.state(scope) != change.state:
                    with contextlib.suppress(ValueError):  # lower there already
                        switch.reset(change.state, by=self._host, reason=change.reason, scope=scope)
            except BusUnavailableError as exc:
                self.context.log.warning("bus_kill_switch_not_latched", scope=scope, error=str(exc))
                self._retry_later()
                return
            del self._waiting[scope]

    def _retry_later(self) -> None:
        if self._timer is None:
            me = self.context.address
            self._timer = self.context.clock.call_later(
                self._settings.reconnect_interval, lambda: me.tell(_Retry())
            )


_RANKS = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


def _rank(state: TradingState) -> int:
    return _RANKS[state]


def _source(value: str) -> TripSource:
    return TripSource(value) if value in TripSource._value2member_map_ else TripSource.MANUAL


def follow(gate: TradingGate, host: str) -> Callable[[KillSwitchChanged], None]:
    """A `KillSwitchFollower`'s ``apply``: the latched state of Redis in the local gate.

    A stricter state trips the local scope; a reset in Redis lowers it. A scope the
    local gate does not have (a strategy not configured here) is skipped.
    """

    def apply(change: KillSwitchChanged) -> None:
        try:
            local = gate.scope_state(change.scope)
            if _rank(change.state) > _rank(local):
                gate.trip(
                    change.state,
                    source=_source(change.source),
                    reason=f"bus: {change.reason}",
                    scope=change.scope,
                )
            elif _rank(change.state) < _rank(local) and change.source == "reset":
                gate.reset(
                    change.state, by=f"bus ({host})", reason=change.reason, scope=change.scope
                )
        except (UnknownScopeError, ValueError):
            return

    return apply


# -- the trees of each role -------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Role:
    """What one host of a system on several hosts runs (made by `TradingSystem`)."""

    name: str  # market-data, execution or strategy
    host: str
    bus: BusConfig
    settings: BusSettings
    metrics: BusMetrics | None = None
    seen: SeenIds = field(default_factory=SeenIds)
    hosts: HostOwners = field(default_factory=HostOwners)

    @property
    def lease(self) -> float:
        """A host not heard for this long is gone."""
        return self.bus.lease

    def heartbeat(self) -> ChildSpec:
        """This host's heartbeat."""
        return ChildSpec(
            name="heartbeat",
            actor=HeartbeatPublisher,
            args=(self.settings,),
            kwargs={"host": self.host, "interval": self.bus.heartbeat, "metrics": self.metrics},
        )

    def follower(self, gate: TradingGate) -> ChildSpec:
        """Follows the kill switch latched in Redis into ``gate``."""
        return ChildSpec(
            name="killswitch_follower",
            actor=KillSwitchFollower,
            args=(self.settings,),
            kwargs={"host": self.host, "apply": follow(gate, self.host), "metrics": self.metrics},
        )

    def market_data_in(
        self,
        streams: list[str],
        books: dict[str, tuple[str, str]],
        *,
        routes: StrategyRoutes | None,
        subscribers: tuple[str, ...],
    ) -> SupervisorSpec:
        """``market_data``: the streams to a `BookCache` per instrument, at its book's path.

        ``books``: symbol -> (``venue:symbol``, the book's path).
        """
        if not streams:
            raise ConfigError("no market-data stream to follow: no instrument is configured")
        caches = tuple(
            ChildSpec(
                name=leaf(path),
                actor=BookCache,
                kwargs={"instrument": key, "subscribers": subscribers, "routes": routes},
            )
            for key, path in books.values()
        )
        return SupervisorSpec(
            name="market_data",
            children=(
                *caches,
                ChildSpec(
                    name=FANOUT,
                    actor=MarketDataFanout,
                    kwargs={"books": {symbol: path for symbol, (_, path) in books.items()}},
                ),
                ChildSpec(
                    name=MD_IN,
                    actor=MarketDataSubscriber,
                    args=(self.settings,),
                    kwargs={
                        "host": self.host,
                        "streams": streams,
                        "deliver_to": f"market_data/{FANOUT}",
                        "metrics": self.metrics,
                    },
                ),
            ),
        )

    def market_data_out(self, venues: list[str]) -> tuple[ChildSpec, ...]:
        """The market-data host's bridges: one per venue, at ``bus/md_out.<venue>``."""
        return tuple(
            ChildSpec(
                name=leaf(md_out_path(venue)),
                actor=OutboundBridge,
                args=(self.settings,),
                kwargs={
                    "host": self.host,
                    "stream": f"md:{venue}",  # never used: only market data is told to it
                    "kind": Kind.MARKET_DATA,
                    "venue": venue,
                    "metrics": self.metrics,
                    "outbox": Outbox(),  # what waits survives a restart
                },
            )
            for venue in venues
        )

    def commands_out(self, name: str) -> ChildSpec:
        """A strategy host's commands bridge (at the local order manager's path)."""
        return ChildSpec(
            name=name,
            actor=OutboundBridge,
            args=(self.settings,),
            kwargs={
                "host": self.host,
                "stream": COMMANDS,
                "destination": INGRESS,
                "metrics": self.metrics,
                "outbox": Outbox(),  # what waits survives a restart
            },
        )

    def events_out(self, path: str) -> ChildSpec:
        """At a remote strategy's path on the execution host: its events onto the bus."""
        return ChildSpec(
            name=leaf(path),
            actor=OutboundBridge,
            args=(self.settings,),
            kwargs={
                "host": self.host,
                "stream": EVENTS,
                "kind": Kind.EVENT,
                "destination": path,
                "metrics": self.metrics,
                "outbox": Outbox(),  # what waits survives a restart
            },
        )

    def events_group(self) -> str:
        """A strategy host's consumer group of the events stream."""
        return f"host:{self.host}"

    def make_events_group(self) -> bool:
        """Create this strategy host's group now, at the stream's end (False: Redis down).

        Before its strategies start: an update of an order they send at once must not
        come before the group exists (a group made later starts after it).
        """
        import redis  # noqa: PLC0415 - redis-py only where a bus is used

        client = connect(self.settings, client_name=f"{self.host}:start")
        try:
            client.xgroup_create(EVENTS, self.events_group(), id="$", mkstream=True)
        except redis.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        except (redis.ConnectionError, redis.TimeoutError):
            return False
        finally:
            client.close()
        return True

    def events_in(self) -> ChildSpec:
        """A strategy host's events bridge: its own group, from what is added after it."""
        return ChildSpec(
            name="events_in",
            actor=InboundBridge,
            args=(self.settings,),
            kwargs={
                "host": self.host,
                "stream": EVENTS,
                "group": self.events_group(),
                "consumer": self.host,
                "deliver_to": ROUTER,
                "metrics": self.metrics,
                "start_id": "$",
            },
        )

    def commands_in(self) -> ChildSpec:
        """The execution host's commands bridge, to the ingress."""
        return ChildSpec(
            name="commands_in",
            actor=InboundBridge,
            args=(self.settings,),
            kwargs={
                "host": self.host,
                "stream": COMMANDS,
                "group": EXECUTION_GROUP,
                "consumer": self.host,
                "deliver_to": INGRESS,
                "metrics": self.metrics,
                "seen": SeenIds(self.settings.seen_ids),
                "wrap": from_host,
            },
        )

    def monitor(self, on_peer: Callable[[Any], None]) -> ChildSpec:
        """The execution host's watch on the other hosts' heartbeats (and on its link)."""
        return ChildSpec(
            name=leaf(MONITOR),
            actor=HeartbeatMonitor,
            args=(self.settings,),
            kwargs={
                "host": self.host,
                "lease": self.lease,
                "on_peer": on_peer,
                "status": on_peer,
                "metrics": self.metrics,
            },
        )


def md_out_path(venue: str) -> str:
    """Where the market-data host's bridge of ``venue`` is."""
    return f"{BUS}/md_out.{venue}"


def market_data_streams(pairs: list[tuple[str, str]], *, trades: bool) -> list[str]:
    """The book (and trade) streams of ``(venue, symbol)`` pairs."""
    streams = [f"md:{venue}:book:{symbol}" for venue, symbol in pairs]
    if trades:
        streams += [f"md:{venue}:trade:{symbol}" for venue, symbol in pairs]
    return streams


def owner_paths(names: list[str]) -> frozenset[str]:
    """The owner paths of strategies ``names``."""
    return frozenset(strategy_path(name) for name in names)
