"""Configuration: TOML decoded once, at the entry point, into frozen structs.

The defaults embedded here are what runs with no file; ``config/default.toml``
spells them out (a test keeps the two equal). A bad file fails with the key at fault.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from tradeactors.errors import ConfigError, ConfigKeyError, InvalidConfigError, StrategyLoadError

__all__ = [
    "ROLES",
    "SIM_LOT_SIZE",
    "SIM_TICK_SIZE",
    "BusConfig",
    "Config",
    "DemoConfig",
    "ExecutionConfig",
    "InstrumentConfig",
    "JournalConfig",
    "KillSwitchConfig",
    "LimitsConfig",
    "MetricsConfig",
    "PaperConfig",
    "RiskConfig",
    "RunConfig",
    "StrategyConfig",
    "StrategyEntryConfig",
    "SupervisionConfig",
    "VenueConfig",
    "check_limits",
    "load_config",
]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class SupervisionConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Restart intensity of the tree's supervisors."""

    intensity: int = 10
    period: float = 5.0


class MetricsConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the Prometheus endpoint listens (port 0 picks a free port)."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0


class DemoConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The example tree of ``tradeactors demo`` (supervision only, no trading)."""

    duration: float = 3.0
    tick_interval: float = 0.002
    crash_every: int = 250


_GATEWAY_RESERVE = 10  # tokens the gateway keeps from new orders (actors.gateway._RESERVE)
_SIM_BURST = 100  # the embedded exchange's order-entry burst (OrderEntry's default)
SIM_TICK_SIZE = "0.01"
"""The simulated exchange's default price step (`VenueConfig.tick_size` of kind sim)."""
SIM_LOT_SIZE = "0.001"
"""The simulated exchange's default order-quantity step (`VenueConfig.lot_size`, kind sim)."""


class VenueConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The venue: the embedded simulated exchange, or one already running elsewhere.

    With ``trade_url`` empty the system starts the simulated exchange itself on
    127.0.0.1 (free ports) and, if ``secret_env`` is not set, gives it and the gateway
    a fresh random secret. With URLs given it connects to that exchange (the secret
    must then be in the environment variable ``secret_env``).

    ``kind`` picks the venue adapter (`tradeactors.venues.adapter`): ``sim`` (the
    simulator's own protocol), ``binance`` (Binance spot's WebSocket API) and ``kraken``
    (Kraken spot's WebSocket v2, ``trade_url`` ``wss://ws-auth.kraken.com/v2``; before
    every connection the gateway fetches a WebSocket token from ``rest_url``, e.g.
    ``https://api.kraken.com``; ``symbol`` is Kraken's, e.g. ``BTC/USD``) have order
    entry, and with ``trade_url`` empty the embedded simulated exchange speaks that
    protocol (market data too: with ``kraken``, the feed subscribes to the ``book``
    channel of ``stream_url``, e.g. ``wss://ws.kraken.com/v2``, ``book_depth`` levels a
    side). A kind a program registered with `register_venue` before loading the config works
    too. ``name`` is the venue's name in the system (paths such as
    ``execution/gateway.sim``).
    """

    kind: str = "sim"
    name: str = "sim"
    symbol: str = "BTCUSDT"
    # The instrument's price step and order-quantity step. "" (the default): the venue's
    # own, fetched at start from venues that publish them (binance: exchangeInfo; kraken:
    # AssetPairs), the simulator's (SIM_TICK_SIZE, SIM_LOT_SIZE) for kind sim. A step
    # given must agree with the venue's: the same tick, a lot that is a whole multiple
    # of the venue's (orders then move in that coarser lot). Other kinds need both.
    tick_size: str = ""
    lot_size: str = ""
    api_key: str = "demo"
    secret_env: str = "TRADEACTORS_SIM_SECRET"  # noqa: S105 - a variable name, not a secret
    # kind binance: an Ed25519 private key (PEM, unencrypted) for api_key, used instead of
    # the secret: the gateway logs on with session.logon (a relative path is relative to
    # the config file, like every path in it)
    key_file: str = ""
    trade_url: str = ""
    stream_url: str = ""
    rest_url: str = ""
    seed: int = 1  # of the embedded exchange's background liquidity
    step_interval: float = 0.05  # seconds between the embedded exchange's market steps
    rate_per_second: float = 50.0  # the embedded exchange's order-entry rate limit
    # levels a side the feed subscribes to where the venue's stream takes a depth
    # (kraken: 10, 25, 100, 500 or 1000; its checksum covers the top 10); the book keeps
    # that many. Binance's stream has no depth: its books keep every level.
    book_depth: int = 10

    def __post_init__(self) -> None:
        if self.kind == "sim":  # the simulator's instrument: its steps are known here
            if not self.tick_size:
                msgspec.structs.force_setattr(self, "tick_size", SIM_TICK_SIZE)
            if not self.lot_size:
                msgspec.structs.force_setattr(self, "lot_size", SIM_LOT_SIZE)


class ExecutionConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The execution subtree (order manager, gateway) and the venue's safety timers."""

    cancel_all_after: float = 5.0  # dead-man's switch at the venue, seconds (0: off)
    # ask the venue to cancel a dropped session's orders, where it can (the simulator),
    # and cancel everything at each logon; false: a session's orders outlive it (until
    # the dead-man's switch), taken back at the next logon by the reconciliation if the
    # order store knows them (after a restart: recovered from the journal), the others
    # cancelled; see docs/journal.md
    cancel_on_disconnect: bool = True
    refresh: float = 1.0  # how often the gateway refreshes it
    intensity: int = 3  # gateway restarts allowed ...
    period: float = 10.0  # ... within this many seconds, before execution escalates
    restart_delay: float = 0.05  # first backoff before restarting a dead gateway
    max_restart_delay: float = 2.0
    timeout: float = 5.0  # connect / logon / reconcile timeout
    reconnect_delay: float = 0.5  # first wait before trying an unreachable venue again
    max_reconnect_delay: float = 10.0  # the wait doubles up to this (plus up to 20% jitter)
    halt_after_down: float = 300.0  # seconds unreachable before HALTED (0: never)
    max_messages_per_second: float = 40.0  # the gateway's own budget, below the venue's
    burst: int = 80
    # at most one fills fetch per this many seconds after unreadable execution reports
    refetch_interval: Annotated[float, msgspec.Meta(gt=0)] = 5.0


_Money = Annotated[float, msgspec.Meta(gt=0, le=1e15)]
"""An amount of the quote currency in a limit: positive and finite (no inf, no nan)."""
_Lots = Annotated[int, msgspec.Meta(ge=1)]
"""A quantity or a count in a limit: at least 1 (leave the key out for no limit)."""


class RiskConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pre-trade limits (prices in ticks, quantities in lots, money in quote currency).

    Leave a key out for no limit. ``max_loss`` and ``max_denials`` trip the kill switch.
    """

    price_collar_bps: int | None = 100
    max_order_quantity: int | None = 20
    max_order_notional: _Money | None = None
    max_position: int | None = 50
    max_gross_exposure: _Money | None = None
    max_open_orders: int | None = 20
    max_messages: int | None = 40
    message_window: float = 1.0
    duplicate_window: float | None = None
    credit_limit: _Money | None = None
    max_loss: _Money | None = 50.0
    max_denials: int | None = 100
    denial_window: float = 10.0


class KillSwitchConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Trips that do not come from risk."""

    stale_after: float | None = 5.0  # seconds without a book update: HALTED


# The built-in market maker, sized for the embedded exchange's BTCUSDT (ticks of 0.01,
# lots of 0.001): quotes of 0.005 two ticks from the mid.
_SIM_MARKET_MAKER: dict[str, Any] = {
    "half_spread": 2,
    "size": 5,
    "max_inventory": 25,
    "skew": 1.0,
    "requote": 2,
    "min_interval": 0.25,
}


class StrategyConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The strategy the tree runs: a built-in by name or the user's class, and its parameters.

    ``name``: ``market_maker``, ``momentum``, ``vwap`` (docs/strategies.md), the user's
    own ``"package.module:Class"`` (its ``params`` are its constructor's keyword
    arguments; the class is imported and built once when the config is checked), or
    ``none`` (no strategy: orders come from the host).
    """

    name: str = "market_maker"
    params: dict[str, Any] = msgspec.field(default_factory=lambda: dict(_SIM_MARKET_MAKER))


class LimitsConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The limits of one scope: a strategy's own (``[[strategies]] risk``) or an instrument's.

    An instrument's count every strategy's orders on it together; a strategy's count its
    own orders only. Leave a key out for no limit of that scope (``[risk]``, the
    account's, still applies). ``max_loss`` (strategies only) halts that strategy alone.
    """

    max_order_quantity: _Lots | None = None
    max_order_notional: _Money | None = None
    max_position: _Lots | None = None
    max_gross_exposure: _Money | None = None
    max_open_orders: _Lots | None = None
    max_loss: _Money | None = None


def check_limits(values: Any, section: str = "risk") -> LimitsConfig:
    """``values`` (a mapping of `LimitsConfig`'s keys) checked as the config checks them.

    Quantities and counts are integers of at least 1, money a finite number above 0
    (no inf, no nan), unknown keys refused: what ``[[strategies]] risk`` accepts. A
    `LimitsConfig` is returned as it is.

    Raises:
        ConfigKeyError: the first wrong key, named with ``section``
            (``risk.max_position: expected an integer >= 1, got -1``).

    """
    if isinstance(values, LimitsConfig):
        return values
    if not isinstance(values, dict) or not all(isinstance(key, str) for key in values):
        got = type(values).__name__
        raise ConfigKeyError("", section, f"{section}: expected a table of limits, got {got}")
    errors = _table_errors(values, LimitsConfig, section)
    if errors:
        raise errors[0]
    return msgspec.convert(values, LimitsConfig)


class InstrumentConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One instrument the system trades (``[[instruments]]``): where, what, its own limits.

    ``venue`` names a venue of ``[[venues]]`` (may be left out with one venue).
    ``tick_size`` and ``lot_size`` as in ``[venue]``: left out, the venue's own (fetched
    at start), the simulator's for kind sim. A symbol is unique in a system.
    """

    venue: str = ""
    symbol: str
    tick_size: str = ""
    lot_size: str = ""
    risk: LimitsConfig = LimitsConfig()


class StrategyEntryConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One strategy of ``[[strategies]]``: its name, class, instruments, parameters, limits.

    ``name`` is unique and names its actor (``strategies/<name>/strategy``) and its
    kill-switch scope (``strategy:<name>``); ``class`` a built-in's name or the user's
    ``"package.module:Class"``; ``instruments`` the symbols it trades (the first is its
    primary: ``ctx.instrument``; left out: the first instrument configured); ``params``
    its constructor's keyword arguments (left out: the class's defaults). It runs under
    a supervisor of its own that allows ``intensity`` restarts within ``period`` seconds
    (left out: ``[supervision]``'s); past that it is stopped and its scope halted, and the
    other strategies go on.
    """

    name: str
    class_: str = msgspec.field(default="market_maker", name="class")
    instruments: tuple[str, ...] = ()
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    risk: LimitsConfig = LimitsConfig()
    intensity: Annotated[int, msgspec.Meta(ge=0)] | None = None
    period: Annotated[float, msgspec.Meta(gt=0, le=86_400)] | None = None


class RunConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``tradeactors run``."""

    duration: float = 20.0  # 0: until Ctrl-C or SIGTERM
    status_interval: float = 1.0
    shutdown_timeout: float = 10.0


class JournalConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[journal]``: the order and fill journal (docs/journal.md).

    ``path`` empty: ``tradeactors run`` writes ``journal.sqlite`` in its run's state
    directory; a `TradingSystem` made in code keeps no journal unless given a path.
    """

    enabled: bool = True
    path: str = ""
    synchronous: Literal["normal", "full"] = "normal"
    # seconds between checkpoints of the order manager's state (a restart reads the
    # journal from the last one; skipped when nothing was recorded since); 0: only at a
    # clean stop
    checkpoint_interval: float = 600.0

    def __post_init__(self) -> None:
        if not (0 <= self.checkpoint_interval < 10**9):
            raise ConfigError(
                f"[journal] checkpoint_interval {self.checkpoint_interval}: seconds, 0 or more"
            )


class PaperConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Paper trading (``[venue] kind = "paper"``, docs/paper.md): the market, the pace, the model.

    ``market`` is the venue whose market it is (``binance`` or ``kraken``), read through
    that venue's adapter. The market is ``capture`` (a recorded capture of it; a
    relative path is relative to the config file) or ``url`` (its live stream: Binance's
    combined stream of the symbol's ``depth@100ms`` and ``trade``, or Kraken's WebSocket
    v2, where the feed subscribes to ``book`` at ``[venue] book_depth`` and ``trade``),
    with ``rest_url`` for the instrument's steps (and Binance's depth snapshots).
    ``pace``: ``recorded`` (the capture at its recorded pace, ``speed`` times faster; a
    live stream as it comes) or ``lockstep`` (a capture only: the tree in the capture's
    time, a frame at a time). The other keys are the
    backtest's venue model (``tradeactors backtest`` flags of the same names).
    """

    market: str = "binance"
    capture: str = ""
    url: str = ""
    rest_url: str = ""
    pace: Literal["recorded", "lockstep"] = "recorded"
    speed: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    order_latency_ms: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    response_latency_ms: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    latency_sigma: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    seed: int = 1
    queue: Literal["conservative", "probabilistic"] = "conservative"
    maker_fee_bps: float = 1.0
    taker_fee_bps: float = 5.0
    depth: Annotated[int, msgspec.Meta(ge=1)] = 20  # levels in the book views strategies get


ROLES = ("all", "market-data", "execution", "strategy")
"""What a process of a system on several hosts runs (docs/bus.md, "Roles")."""


class BusConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[bus]``: roles over Redis Streams (docs/bus.md). No ``url``: one process, no bus.

    ``role``: ``all`` (the whole tree in this process), ``market-data``, ``execution``
    or ``strategy``; ``host_id`` names this host on the bus (default: the role's name;
    give each strategy host its own). ``lease``: a host not heard for this long is gone
    (its orders are cancelled); ``heartbeat``: how often each host says it is alive.
    The rest are `tradeactors.bus.BusSettings`' timeouts (seconds; ``block_ms`` in ms).
    """

    url: str = ""
    role: Literal["all", "market-data", "execution", "strategy"] = "all"
    host_id: str = ""
    strategies: tuple[str, ...] = ()  # a strategy host's: these of [[strategies]] (none: all)
    lease: Annotated[float, msgspec.Meta(gt=0)] = 3.0
    heartbeat: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    socket_timeout: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    connect_timeout: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    retries: Annotated[int, msgspec.Meta(ge=0)] = 1
    reconnect_interval: Annotated[float, msgspec.Meta(gt=0)] = 0.25
    block_ms: Annotated[int, msgspec.Meta(gt=0)] = 200
    claim_min_idle_ms: Annotated[int, msgspec.Meta(ge=0)] = 5_000

    def check(self) -> None:
        """Raise `InvalidConfigError` with what is wrong in this section (as `load_config`)."""
        errors = _bus_errors(self)
        if errors:
            raise InvalidConfigError(errors) from errors[0].__cause__

    @property
    def host(self) -> str:
        """This host's name on the bus: ``host_id``, or the role's name."""
        return self.host_id or self.role

    def settings(self) -> Any:
        """The `tradeactors.bus.BusSettings` of this section (raises `BusUrlError`)."""
        from tradeactors.bus import BusSettings  # noqa: PLC0415 - redis only with a bus

        return BusSettings(
            url=self.url,
            socket_timeout=self.socket_timeout,
            connect_timeout=self.connect_timeout,
            retries=self.retries,
            reconnect_interval=self.reconnect_interval,
            block_ms=self.block_ms,
            claim_min_idle_ms=self.claim_min_idle_ms,
        )


def _bus_errors(bus: BusConfig) -> list[ConfigKeyError]:
    """``[bus]``: a usable URL, a role that needs one has one, a lease above the beat."""
    from tradeactors.errors import BusUrlError  # noqa: PLC0415

    errors = []
    if bus.url:
        try:
            bus.settings()
        except BusUrlError as exc:
            key = "url" if str(exc).startswith("bus URL") else "block_ms"
            errors.append(_caused(ConfigKeyError("bus", key, f"{key}: {exc}"), exc))
    if not bus.url and bus.role != "all":
        reason = f'role: "{bus.role}" needs the bus: give url (redis://host:port/db)'
        errors.append(ConfigKeyError("bus", "role", reason))
    if bus.host_id and not _NAME.fullmatch(bus.host_id):
        reason = f"host_id: {bus.host_id!r} is not a name (1 to 64 letters, digits, _ . -)"
        errors.append(ConfigKeyError("bus", "host_id", reason))
    if bus.lease <= bus.heartbeat:
        reason = f"lease: {bus.lease} s must be longer than heartbeat ({bus.heartbeat} s)"
        errors.append(ConfigKeyError("bus", "lease", reason))
    return errors


class Config(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration."""

    supervision: SupervisionConfig = SupervisionConfig()
    metrics: MetricsConfig = MetricsConfig()
    venue: VenueConfig = VenueConfig()
    venues: tuple[VenueConfig, ...] = ()  # [[venues]]: several venues (or use [venue])
    instruments: tuple[InstrumentConfig, ...] = ()  # [[instruments]] (or [venue] symbol)
    execution: ExecutionConfig = ExecutionConfig()
    risk: RiskConfig = RiskConfig()
    killswitch: KillSwitchConfig = KillSwitchConfig()
    strategy: StrategyConfig = StrategyConfig()
    strategies: tuple[StrategyEntryConfig, ...] = ()  # [[strategies]] (or [strategy])
    run: RunConfig = RunConfig()
    demo: DemoConfig = DemoConfig()
    paper: PaperConfig = PaperConfig()
    journal: JournalConfig = JournalConfig()
    bus: BusConfig = BusConfig()

    @property
    def all_venues(self) -> tuple[VenueConfig, ...]:
        """The venues the system trades at: ``[[venues]]``, or else ``[venue]``."""
        return self.venues or (self.venue,)

    @property
    def all_instruments(self) -> tuple[InstrumentConfig, ...]:
        """The instruments: ``[[instruments]]`` (venue and steps filled in), or each venue's symbol.

        A sim venue's steps left out are the simulator's; other venues' stay empty
        (the venue's own, fetched at start).
        """
        kinds = {venue.name: venue.kind for venue in self.all_venues}
        if not self.instruments:
            return tuple(
                InstrumentConfig(
                    venue=venue.name,
                    symbol=venue.symbol,
                    tick_size=venue.tick_size,
                    lot_size=venue.lot_size,
                )
                for venue in self.all_venues
            )
        only = self.all_venues[0].name if len(self.all_venues) == 1 else ""
        resolved = []
        for instrument in self.instruments:
            venue = instrument.venue or only
            sim = kinds.get(venue) == "sim"
            resolved.append(
                msgspec.structs.replace(
                    instrument,
                    venue=venue,
                    tick_size=instrument.tick_size or (SIM_TICK_SIZE if sim else ""),
                    lot_size=instrument.lot_size or (SIM_LOT_SIZE if sim else ""),
                )
            )
        return tuple(resolved)

    @property
    def all_strategies(self) -> tuple[StrategyEntryConfig, ...]:
        """The strategies: ``[[strategies]]``, or ``[strategy]`` as one (none for ``"none"``).

        Instruments left out are the first instrument; intensity and period left out
        are ``[supervision]``'s.
        """
        from tradeactors.strategy import strategy_actor_name  # noqa: PLC0415 - a cycle

        first = self.all_instruments[0].symbol
        supervision = self.supervision
        if self.strategies:
            entries = self.strategies
        elif self.strategy.name == "none":
            return ()
        else:
            entries = (
                StrategyEntryConfig(
                    name=strategy_actor_name(self.strategy.name),
                    class_=self.strategy.name,
                    params=self.strategy.params,
                ),
            )
        return tuple(
            msgspec.structs.replace(
                entry,
                instruments=entry.instruments or (first,),
                intensity=supervision.intensity if entry.intensity is None else entry.intensity,
                period=entry.period or supervision.period,
            )
            for entry in entries
        )

    def __post_init__(self) -> None:
        errors = self._errors()
        if errors:
            raise InvalidConfigError(errors) from errors[0].__cause__
        if self.venues:  # the first venue: what code that knows one venue reads as [venue]
            msgspec.structs.force_setattr(self, "venue", self.venues[0])

    def _errors(self) -> list[ConfigKeyError]:
        """Each section's own problems (`_section_errors`), then those across sections."""
        errors: list[ConfigKeyError] = []
        # (a copy made with msgspec.structs.replace has [venue] = its first venue: fine)
        if self.venues and self.venue not in (VenueConfig(), self.venues[0]):
            errors.append(
                ConfigKeyError("", "venues", "venues: give either [venue] or [[venues]], not both")
            )
        if self.strategies and self.strategy != StrategyConfig():
            reason = "strategies: give either [strategy] or [[strategies]], not both"
            errors.append(ConfigKeyError("", "strategies", reason))
        for index, venue in enumerate(self.all_venues):
            errors += _section_errors(f"venues[{index}]" if self.venues else "venue", venue)
        if not self.strategies:
            errors += _section_errors("strategy", self.strategy)
        for index, strategy in enumerate(self.strategies):
            errors += _section_errors(f"strategies[{index}]", strategy)
        errors += _list_errors(self)
        errors += self._limit_errors()
        errors += _paper_errors(self.all_venues[0], self.paper)
        errors += _bus_errors(self.bus)
        if self.all_venues[0].kind == PAPER and (
            len(self.all_venues) > 1 or len(self.all_instruments) > 1
        ):
            reason = 'kind: "paper" trades one instrument at one venue (for now)'
            errors.append(ConfigKeyError("venues[0]" if self.venues else "venue", "kind", reason))
        return errors

    def _limit_errors(self) -> list[ConfigKeyError]:
        execution, venue, demo = self.execution, self.all_venues[0], self.demo
        errors = []
        if execution.cancel_all_after and not 0 < execution.refresh < execution.cancel_all_after:
            errors.append(
                ConfigKeyError(
                    "execution", "refresh", "refresh must be positive and below cancel_all_after"
                )
            )
        if execution.burst < _GATEWAY_RESERVE + 1 or not execution.max_messages_per_second > 0:
            errors.append(
                ConfigKeyError(
                    "execution",
                    "burst",
                    f"burst must be at least {_GATEWAY_RESERVE + 1} (the gateway keeps "
                    f"{_GATEWAY_RESERVE} for cancels and the dead-man's refresh) and "
                    "max_messages_per_second positive",
                )
            )
        if not venue.trade_url and (
            execution.max_messages_per_second >= venue.rate_per_second
            or execution.burst >= _SIM_BURST
        ):
            errors.append(
                ConfigKeyError(
                    "execution",
                    "max_messages_per_second",
                    "max_messages_per_second and burst must stay below the embedded exchange's "
                    f"limits ({venue.rate_per_second}/s, burst {_SIM_BURST}): otherwise the venue "
                    "refuses cancels and the dead-man's refresh",
                )
            )
        if self.run.duration < 0:
            errors.append(
                ConfigKeyError(
                    "run", "duration", "duration must be positive, or 0 to run until stopped"
                )
            )
        if demo.crash_every < 1:
            errors.append(ConfigKeyError("demo", "crash_every", "crash_every must be >= 1"))
        if not demo.tick_interval > 0:
            errors.append(ConfigKeyError("demo", "tick_interval", "tick_interval must be positive"))
        if not demo.duration > 0:
            errors.append(ConfigKeyError("demo", "duration", "duration must be positive"))
        return errors


def load_config(path: str | Path | None = None) -> Config:
    """Read ``path`` (TOML), or return the embedded defaults if None.

    Every wrong key of the file is reported at once, each on a line of its own that
    names the file, the line, the section and the key, and for an unknown key or value
    the valid ones: ``trading.toml:12: [risk] unknown key "max_positon" (did you mean
    "max_position"?); valid keys: price_collar_bps, ...``.

    A ``[strategy]`` that names a strategy other than ``market_maker`` and gives no
    ``[strategy.params]`` runs with that strategy's own defaults (the embedded
    defaults are the market maker's).

    Raises:
        InvalidConfigError: wrong keys or values; ``errors`` lists them (each a
            `ConfigKeyError` with its section, key and line).
        ConfigError: an unreadable file, or not TOML (with the line, when known).

    """
    if path is None:
        return Config()
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        text = data.decode()
        table = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: invalid TOML: not UTF-8 (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error(name, str(exc))) from exc
    strategy = table.get("strategy")
    if (
        isinstance(strategy, dict)
        and "params" not in strategy
        and strategy.get("name", "market_maker") != "market_maker"
    ):
        strategy["params"] = {}  # that strategy's defaults, not the market maker's
    sections: list[tuple[str, msgspec.Struct]] = []
    errors = _table_errors(table, Config, "", sections=sections) + _empty_list_errors(table)
    cause: BaseException | None = errors[0].__cause__ if errors else None
    if errors:  # and the checks beyond types, of each section's other keys
        errors += [error for where, value in sections for error in _section_errors(where, value)]
    else:
        _resolve_paths(table, Path(path).parent)
        try:
            return msgspec.convert(table, Config)
        except InvalidConfigError as exc:  # the checks of __post_init__
            errors, cause = list(exc.errors), exc
        except msgspec.ValidationError as exc:  # a case _table_errors does not know
            raise ConfigError(f"{name}: {exc}") from exc
    lines = _KeyLines(text)
    located = [error.located(name, _line_of(lines, _path_of(error))) for error in errors]
    located.sort(key=lambda error: (error.line is None, error.line or 0))
    raise InvalidConfigError(located) from cause


_PATHS = (("paper", "capture"), ("venue", "key_file"), ("venues", "key_file"))
"""The keys that name files: a relative path is relative to the config file."""


def _resolve_paths(table: dict[str, Any], base: Path) -> None:
    """Make the relative paths of ``table`` (`_PATHS`) relative to ``base``, in place."""
    for section, key in _PATHS:
        values = table.get(section)
        for entry in values if isinstance(values, list) else [values]:
            value = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(entry, dict) and isinstance(value, str) and value:
                entry[key] = str(base / value)  # an absolute value stays as it is


# -- checks -------------------------------------------------------------------------------


def _section_errors(section: str, value: msgspec.Struct) -> list[ConfigKeyError]:
    """The checks of one section beyond the types of its keys."""
    if isinstance(value, VenueConfig):
        return _venue_errors(section, value)
    if isinstance(value, StrategyConfig):
        return _strategy_errors(value.name, value.params, section, "name")
    if isinstance(value, StrategyEntryConfig):
        return _strategy_errors(value.class_, value.params, section, "class")
    return []


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A strategy's or a venue's name: a path part of the tree (no ``/``), a label value."""


def _list_errors(config: Config) -> list[ConfigKeyError]:
    """``[[venues]]``, ``[[instruments]]`` and ``[[strategies]]`` against each other.

    Two venues or strategies of one name, an instrument at no configured venue, a
    symbol twice, a strategy trading a symbol that is not configured: each refused with
    its entry and key, before anything starts.
    """
    return [
        *_venue_list_errors(config),
        *_instrument_errors(config),
        *_strategy_list_errors(config),
    ]


def _venue_list_errors(config: Config) -> list[ConfigKeyError]:
    errors: list[ConfigKeyError] = []
    venues: dict[str, int] = {}
    for index, venue in enumerate(config.venues):
        if venue.name in venues:
            reason = f"name: venue {_shown(venue.name)} is already venues[{venues[venue.name]}]"
            errors.append(ConfigKeyError(f"venues[{index}]", "name", reason))
        elif not _NAME.fullmatch(venue.name):
            reason = f"name: {_shown(venue.name)} is not a name (letters, digits, _ . -)"
            errors.append(ConfigKeyError(f"venues[{index}]", "name", reason))
        venues.setdefault(venue.name, index)
    if not config.instruments and len(config.venues) > 1:
        seen: dict[str, int] = {}
        for index, venue in enumerate(config.venues):
            if venue.symbol in seen:
                reason = (
                    f"symbol: {_shown(venue.symbol)} is already venues[{seen[venue.symbol]}]'s "
                    "(a symbol is unique in a system: list [[instruments]] instead)"
                )
                errors.append(ConfigKeyError(f"venues[{index}]", "symbol", reason))
            seen.setdefault(venue.symbol, index)
    return errors


def _instrument_errors(config: Config) -> list[ConfigKeyError]:
    errors: list[ConfigKeyError] = []
    names = [venue.name for venue in config.all_venues]
    symbols: dict[str, int] = {}
    for index, instrument in enumerate(config.instruments):
        section = f"instruments[{index}]"
        if not instrument.venue and len(names) > 1:
            reason = f"venue: needed with several venues (one of {', '.join(names)})"
            errors.append(ConfigKeyError(section, "venue", reason))
        elif instrument.venue and instrument.venue not in names:
            reason = (
                f"venue: no venue is named {_shown(instrument.venue)}; configured: "
                f"{', '.join(names)}"
            )
            errors.append(ConfigKeyError(section, "venue", reason))
        errors += _one_instrument_errors(section, instrument, symbols.get(instrument.symbol))
        symbols.setdefault(instrument.symbol, index)
    if config.instruments and config.venue.symbol != VenueConfig().symbol and not config.venues:
        reason = "symbol: give [venue] symbol or [[instruments]], not both"
        errors.append(ConfigKeyError("venue", "symbol", reason))
    if config.instruments:
        used = {instrument.venue for instrument in config.all_instruments}
        errors += [
            ConfigKeyError(
                f"venues[{index}]" if config.venues else "venue",
                "name",
                f"name: venue {_shown(name)} has no instrument in [[instruments]]",
            )
            for index, name in enumerate(names)
            if name not in used
        ]
    return errors


def _one_instrument_errors(
    section: str, instrument: InstrumentConfig, earlier: int | None
) -> list[ConfigKeyError]:
    """One ``[[instruments]]`` entry's symbol, steps and limits (``earlier``: its symbol's)."""
    errors = []
    shown = _shown(instrument.symbol)
    if not _SYMBOL.fullmatch(instrument.symbol):
        reason = f"symbol: {shown} is not a symbol (letters, digits, / . _ : -)"
        errors.append(ConfigKeyError(section, "symbol", reason))
    if earlier is not None:
        reason = f"symbol: {shown} is already instruments[{earlier}] (a symbol is unique)"
        errors.append(ConfigKeyError(section, "symbol", reason))
    if instrument.risk.max_loss is not None:
        reason = "risk.max_loss: a strategy's limit (an instrument has no loss of its own)"
        errors.append(ConfigKeyError(section, "risk", reason))
    for key, step in (("tick_size", instrument.tick_size), ("lot_size", instrument.lot_size)):
        if step and not _is_step(step):
            reason = f'{key}: expected a positive decimal such as "0.01", got {_shown(step)}'
            errors.append(ConfigKeyError(section, key, reason))
    return errors


def _strategy_list_errors(config: Config) -> list[ConfigKeyError]:
    errors: list[ConfigKeyError] = []
    known = [instrument.symbol for instrument in config.all_instruments]
    strategies: dict[str, int] = {}
    for index, strategy in enumerate(config.strategies):
        section = f"strategies[{index}]"
        if strategy.name in strategies:
            reason = (
                f"name: strategy {_shown(strategy.name)} is already "
                f"strategies[{strategies[strategy.name]}]"
            )
            errors.append(ConfigKeyError(section, "name", reason))
        elif not _NAME.fullmatch(strategy.name):
            reason = f"name: {_shown(strategy.name)} is not a name (letters, digits, _ . -)"
            errors.append(ConfigKeyError(section, "name", reason))
        strategies.setdefault(strategy.name, index)
        errors += [
            ConfigKeyError(
                section,
                "instruments",
                f"instruments: {_shown(symbol)} is not configured; instruments: {', '.join(known)}",
            )
            for symbol in strategy.instruments
            if symbol not in known
        ]
        if len(set(strategy.instruments)) != len(strategy.instruments):
            reason = "instruments: a symbol is listed twice"
            errors.append(ConfigKeyError(section, "instruments", reason))
    return errors


def _empty_list_errors(table: dict[str, Any]) -> list[ConfigKeyError]:
    """Lists given empty, which the decoded config cannot tell from lists left out."""
    errors = []
    if table.get("strategies") == []:
        reason = 'strategies: an empty list; for no strategy: [strategy] name = "none"'
        errors.append(ConfigKeyError("", "strategies", reason))
    errors += [
        ConfigKeyError("", key, f"{key}: an empty list; leave it out")
        for key in ("venues", "instruments")
        if table.get(key) == []
    ]
    strategies = table.get("strategies")
    for index, entry in enumerate(strategies if isinstance(strategies, list) else ()):
        if isinstance(entry, dict) and entry.get("instruments") == []:
            reason = "instruments: an empty list; a strategy trades one instrument or more"
            errors.append(ConfigKeyError(f"strategies[{index}]", "instruments", reason))
    return errors


_SYMBOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._:-]{0,63}")
"""A symbol as venues spell them (``BTCUSDT``, ``BTC/USD``, ``XBT/USD``): no space."""


def _is_step(step: str) -> bool:
    from tradeactors.core.instrument import Instrument  # noqa: PLC0415 - keep imports light

    try:
        Instrument(venue="v", symbol="s", tick_size=step, lot_size="1")
    except ConfigError:
        return False
    return True


def _venue_errors(section: str, venue: VenueConfig) -> list[ConfigKeyError]:
    from tradeactors.core.instrument import Instrument  # noqa: PLC0415 - keep imports light
    from tradeactors.venues.adapter import venue_adapter  # noqa: PLC0415 - lazy registry

    errors = []
    try:
        if venue.kind != PAPER:  # paper: [paper] says which market (see _paper_errors)
            venue_adapter(venue.kind, trading=True)
    except ConfigError as exc:
        errors.append(_caused(ConfigKeyError(section, "kind", f"kind: {exc}"), exc))
    for key, step in (("tick_size", venue.tick_size), ("lot_size", venue.lot_size)):
        if not step:  # the venue's own (kind sim: filled in already)
            continue
        try:
            Instrument(venue=venue.name, symbol=venue.symbol, tick_size=step, lot_size="1")
        except ConfigError as exc:
            reason = f'{key}: expected a positive decimal such as "0.01", got {_shown(step)}'
            errors.append(_caused(ConfigKeyError(section, key, reason), exc))
    return errors


PAPER = "paper"
"""The venue kind of paper trading: the backtest's venue model on a real market."""


def _paper_errors(venue: VenueConfig, paper: PaperConfig) -> list[ConfigKeyError]:
    """``[paper]`` with ``[venue] kind = "paper"``: one market, and a pace it allows."""
    if venue.kind != PAPER:
        return []
    if paper.capture and paper.url:
        return [ConfigKeyError("paper", "url", "url: give capture or url, not both")]
    if not (paper.capture or paper.url):
        reason = (
            'capture: kind "paper" needs a market: [paper] capture (a recorded capture of '
            "[paper] market) or url (its live stream)"
        )
        return [ConfigKeyError("paper", "capture", reason)]
    if paper.url and not paper.rest_url:
        reason = "rest_url: a live market needs its REST base URL (depth snapshots, steps)"
        return [ConfigKeyError("paper", "rest_url", reason)]
    if paper.url and paper.pace == "lockstep":
        reason = 'pace: "lockstep" steps through a capture; a live market runs "recorded"'
        return [ConfigKeyError("paper", "pace", reason)]
    return []


def _strategy_errors(
    name: str, params: dict[str, Any], section: str, key: str
) -> list[ConfigKeyError]:
    """A strategy's class (``name``, the value of ``section``'s ``key``) and its ``params``."""
    from tradeactors.strategy import is_user_spec, make_strategy, strategy_names  # noqa: PLC0415
    from tradeactors.strategy.builtin import BUILTINS  # noqa: PLC0415

    if name == "none" and key == "name":
        return []
    if is_user_spec(name):
        return _user_strategy_errors(name, params, section, key)
    if name not in BUILTINS:
        valid = ", ".join([*strategy_names(), *(["none"] if key == "name" else [])])
        reason = f"{key}: unknown strategy {_shown(name)}; valid values: {valid}"
        return [ConfigKeyError(section, key, reason)]
    params_type = BUILTINS[name][1]
    errors = _table_errors(params, params_type, f"{section}.params", strict=False)
    if errors:
        return errors
    try:
        make_strategy(name, params)
    except ConfigError as exc:  # a check of the parameters together, e.g. max_inventory >= size
        reason = str(exc.__cause__ or exc)
        first = reason.split(" ", 1)[0]
        known = first in {field.name for field in msgspec.structs.fields(params_type)}
        error = ConfigKeyError(f"{section}.params", first if known else "", reason)
        return [_caused(error, exc)]
    return []


def _user_strategy_errors(
    name: str, params: dict[str, Any], section: str, key: str
) -> list[ConfigKeyError]:
    """The user's class (``package.module:Class``): imported, checked and built once.

    It is built once here so that a constructor that refuses its parameters is told
    with the file and line, before anything starts (strategies do no I/O in ``__init__``).
    """
    from tradeactors.strategy import make_strategy  # noqa: PLC0415 - a cycle

    try:
        make_strategy(name, params)
    except StrategyLoadError as exc:
        if exc.key is None:  # the class itself
            error = ConfigKeyError(section, key, f"{key}: {exc}")
        elif exc.key:  # one parameter
            error = ConfigKeyError(f"{section}.params", exc.key, f"{exc.key}: {exc}")
        else:  # the parameters together: one missing, or the constructor raised
            error = ConfigKeyError(f"{section}.params", "", str(exc))
        return [_caused(error, exc)]
    return []


def _table_errors(
    table: dict[str, Any],
    struct: type[msgspec.Struct],
    section: str,
    *,
    strict: bool = True,
    sections: list[tuple[str, msgspec.Struct]] | None = None,
) -> list[ConfigKeyError]:
    """The unknown keys and the wrong values of ``table``, read as ``struct``.

    Each section is appended to ``sections``, decoded without its wrong keys, for the
    checks beyond types (`_section_errors`).
    """
    fields = {field.encode_name: field for field in msgspec.structs.fields(struct)}
    errors = []
    for key, value in table.items():
        field = fields.get(key)
        if field is None:
            errors.append(
                ConfigKeyError(section, key, _unknown(key, value, tuple(fields), section))
            )
            continue
        where = f"{section}.{key}" if section else key
        inner = _section_type(field.type)
        if inner is None:
            errors += _value_errors(section, key, value, field.type, strict=strict)
        elif field.type is inner and isinstance(value, dict):
            errors += _section_table_errors(value, inner, where, sections)
        elif field.type is inner:
            reason = f"{key}: expected a table [{where}], got {_shown(value)}"
            errors.append(ConfigKeyError(section, key, reason))
        elif isinstance(value, list) and all(isinstance(entry, dict) for entry in value):
            for index, entry in enumerate(value):
                errors += _section_table_errors(entry, inner, f"{where}[{index}]", sections)
        else:
            reason = f"{key}: expected tables [[{where}]], got {_shown(value)}"
            errors.append(ConfigKeyError(section, key, reason))
    return errors


def _section_table_errors(
    table: dict[str, Any],
    struct: type[_Section],
    section: str,
    sections: list[tuple[str, msgspec.Struct]] | None,
) -> list[ConfigKeyError]:
    errors = _table_errors(table, struct, section, sections=sections)
    wrong = {error.key for error in errors}
    strategy = {StrategyConfig: {"name", "params"}, StrategyEntryConfig: {"class", "params"}}
    if sections is not None and not wrong & strategy.get(struct, set()):
        # the other keys, for the checks beyond types (the parameters need their strategy)
        right = {key: value for key, value in table.items() if key not in wrong}
        # a case _table_errors does not know fails again when Config is decoded: it says
        with contextlib.suppress(msgspec.ValidationError):
            sections.append((section, msgspec.convert(right, struct)))
    return errors


def _section_type(annotation: Any) -> type[_Section] | None:
    """The section struct of a table (``risk``) or an array of tables (``venues``)."""
    if isinstance(annotation, type) and issubclass(annotation, _Section):
        return annotation
    if typing.get_origin(annotation) is tuple:
        item = typing.get_args(annotation)[0]
        if isinstance(item, type) and issubclass(item, _Section):
            return item
    return None


def _value_errors(
    section: str, key: str, value: Any, annotation: Any, *, strict: bool
) -> list[ConfigKeyError]:
    try:
        msgspec.convert(value, annotation, strict=strict)
    except msgspec.ValidationError as exc:
        expected = _expected(msgspec.inspect.type_info(annotation))
        error = ConfigKeyError(section, key, f"{key}: expected {expected}, got {_shown(value)}")
        return [_caused(error, exc)]
    return []


def _unknown(key: str, value: Any, valid: tuple[str, ...], section: str) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    if section:
        hint = f" (did you mean {_shown(close[0])}?)" if close else ""
        return f"unknown key {_shown(key)}{hint}; valid keys: {', '.join(valid)}"
    what = f"section [{key}]" if isinstance(value, dict) else f"key {_shown(key)}"
    hint = f" (did you mean [{close[0]}]?)" if close else ""
    return f"unknown {what}{hint}; valid sections: {', '.join(valid)}"


def _caused(error: ConfigKeyError, cause: BaseException) -> ConfigKeyError:
    error.__cause__ = cause
    return error


# -- words --------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A TOML value as the user wrote it (or its kind, for a table or a list)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = msgspec.json.encode(value).decode()
        return text if len(text) <= _SHOWN else f'{text[: _SHOWN - 4]}..."'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"  # a datetime, a date, a time


_SHOWN = 40  # characters of a string value in a message, at most


_WORDS: dict[type, str] = {
    msgspec.inspect.IntType: "an integer",
    msgspec.inspect.FloatType: "a number",
    msgspec.inspect.BoolType: "true or false",
    msgspec.inspect.StrType: "a string",
    msgspec.inspect.DictType: "a table",
    msgspec.inspect.StructType: "a table",
}


def _expected(info: msgspec.inspect.Type) -> str:
    """What a value of this type is, in words: ``an integer from 0 to 65535``."""
    inspect = msgspec.inspect
    if isinstance(info, inspect.UnionType):
        kinds = [_expected(t) for t in info.types if not isinstance(t, inspect.NoneType)]
        return " or ".join(kinds)
    if isinstance(info, inspect.ListType | inspect.VarTupleType):
        items = {
            inspect.IntType: "integers",
            inspect.FloatType: "numbers",
            inspect.StrType: "strings",
        }
        return f"a list of {items.get(type(info.item_type), 'values')}"
    if isinstance(info, inspect.LiteralType):
        return "one of " + ", ".join(_shown(value) for value in info.values)
    words = _WORDS.get(type(info), "a value of another type")
    if isinstance(info, inspect.IntType | inspect.FloatType):
        words += _bounds(info)
    return words


def _bounds(info: msgspec.inspect.IntType | msgspec.inspect.FloatType) -> str:
    if info.ge is not None and info.le is not None:
        return f" from {info.ge} to {info.le}"
    low = f">= {info.ge}" if info.ge is not None else None if info.gt is None else f"> {info.gt}"
    high = f"<= {info.le}" if info.le is not None else None if info.lt is None else f"< {info.lt}"
    limits = [limit for limit in (low, high) if limit]
    return f" {' and '.join(limits)}" if limits else ""


def _toml_error(name: str, message: str) -> str:
    """The message of tomllib, placed: ``f.toml:3: invalid TOML: ... (column 7)``."""
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match is None:
        return f"{name}: invalid TOML: {message}"
    return f"{name}:{match[1]}: invalid TOML: {message[: match.start()]} (column {match[2]})"


# -- lines --------------------------------------------------------------------------------

_Key = tuple[str | int, ...]  # ("venues", 0, "kind")

_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_TABLE = re.compile(rf"\[\s*({_DOTTED})\s*\]\s*(?:#.*)?")
_ARRAY_TABLE = re.compile(rf"\[\[\s*({_DOTTED})\s*\]\]\s*(?:#.*)?")
_ASSIGNMENT = re.compile(rf"({_DOTTED})\s*=\s*")
_PART = re.compile(_KEY)


class _KeyLines:
    """Where each table and key of a TOML text is (tomllib gives no positions).

    A scan of the lines of a text tomllib accepted: table headers (``[a.b]``,
    ``[[a]]``), key/value lines (``a.b = 1``), skipping the insides of multi-line
    strings and arrays. `line` answers only what the scan saw: None rather than a guess.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[_Key, int] = {}
        self._inline: set[_Key] = set()  # keys whose value is an inline table (one line)
        arrays: dict[tuple[str, ...], int] = {}  # array-of-tables header -> entries so far
        table: _Key = ()
        closing = ""  # the delimiter of the multi-line string we are in
        depth = 0  # open brackets of the multi-line array we are in
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if closing:
                closing = "" if closing in line else closing
                continue
            if depth:
                depth = max(0, depth + _brackets(line))
                continue
            if match := _ARRAY_TABLE.fullmatch(line):
                names = _names(match[1])
                arrays[names] = arrays.get(names, 0) + 1
                table = _resolve(names, arrays)
                self._lines.setdefault(table[:-1], number)  # the array: its first entry
                self._lines.setdefault(table, number)
            elif match := _TABLE.fullmatch(line):
                table = _resolve(_names(match[1]), arrays)
                self._lines.setdefault(table, number)
            elif match := _ASSIGNMENT.match(line):
                key = table + _names(match[1])
                self._lines.setdefault(key, number)
                value = line[match.end() :]
                if value.startswith("{"):
                    self._inline.add(key)
                elif value.startswith(('"""', "'''")) and value[:3] not in value[3:]:
                    closing = value[:3]
                elif value.startswith("["):
                    depth = max(0, _brackets(value))

    def line(self, key: _Key) -> int | None:
        """The line of the table or key ``key`` (1-based), or None if the scan did not see it."""
        if key in self._lines:
            return self._lines[key]
        for end in range(len(key) - 1, 0, -1):
            if key[:end] in self._inline:  # an inline table is all on one line
                return self._lines[key[:end]]
        return None


def _line_of(lines: _KeyLines, key: _Key) -> int | None:
    """The line of ``key``; one left out of an entry of a list: that entry's line.

    (A key left out of a table has no line: the table may be far from the problem.)
    """
    line = lines.line(key)
    if line is None and len(key) > 1 and isinstance(key[-2], int):
        return lines.line(key[:-1])
    return line


def _names(dotted: str) -> tuple[str, ...]:
    """``a."b.c"`` -> ``("a", "b.c")``."""
    return tuple(part[1:-1] if part[0] in "\"'" else part for part in _PART.findall(dotted))


def _resolve(names: tuple[str, ...], arrays: dict[tuple[str, ...], int]) -> _Key:
    """A header's key, with the index of the current entry after each array of tables."""
    key: list[str | int] = []
    for end in range(1, len(names) + 1):
        key.append(names[end - 1])
        if names[:end] in arrays:
            key.append(arrays[names[:end]] - 1)
    return tuple(key)


def _brackets(text: str) -> int:
    """Square brackets opened minus closed in ``text``, outside strings and comments."""
    depth, quote, escaped = 0, "", False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
    return depth


def _path_of(error: ConfigKeyError) -> _Key:
    """The key an error is about: ``venues[0]`` and ``kind`` -> ``("venues", 0, "kind")``."""
    key: list[str | int] = []
    for part in error.section.split(".") if error.section else ():
        name, _, index = part.partition("[")
        key.append(name)
        if index:
            key.append(int(index.rstrip("]")))
    return (*key, error.key) if error.key else tuple(key)
