"""Configuration: TOML decoded once, at the entry point, into frozen structs.

The defaults embedded here are what runs with no file; ``config/default.toml``
spells them out (a test keeps the two equal). A bad file fails with the key at fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec

from tradeactors.errors import ConfigError

__all__ = [
    "Config",
    "DemoConfig",
    "ExecutionConfig",
    "KillSwitchConfig",
    "MetricsConfig",
    "RiskConfig",
    "RunConfig",
    "StrategyConfig",
    "SupervisionConfig",
    "VenueConfig",
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


_SIM_BURST = 100  # the embedded exchange's order-entry burst (OrderEntry's default)


class VenueConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The venue: the embedded simulated exchange, or one already running elsewhere.

    With ``trade_url`` empty the system starts the simulated exchange itself on
    127.0.0.1 (free ports) and, if ``secret_env`` is not set, gives it and the gateway
    a fresh random secret. With URLs given it connects to that exchange (the secret
    must then be in the environment variable ``secret_env``).

    ``kind`` picks the venue adapter (`tradeactors.venues.adapter`): ``sim`` today is
    the only built-in kind with order entry (``binance`` and ``kraken`` have market
    data only, and are refused here until their order entry exists); a kind a program
    registered with `register_venue` before loading the config works too. ``name`` is
    the venue's name in the system (paths such as ``execution/gateway.sim``).
    """

    kind: str = "sim"
    name: str = "sim"
    symbol: str = "BTCUSDT"
    tick_size: str = "0.01"
    lot_size: str = "0.001"
    api_key: str = "demo"
    secret_env: str = "TRADEACTORS_SIM_SECRET"  # noqa: S105 - a variable name, not a secret
    trade_url: str = ""
    stream_url: str = ""
    rest_url: str = ""
    seed: int = 1  # of the embedded exchange's background liquidity
    step_interval: float = 0.05  # seconds between the embedded exchange's market steps
    rate_per_second: float = 50.0  # the embedded exchange's order-entry rate limit


class ExecutionConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The execution subtree (order manager, gateway) and the venue's safety timers."""

    cancel_all_after: float = 5.0  # dead-man's switch at the venue, seconds (0: off)
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


class RiskConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pre-trade limits (prices in ticks, quantities in lots, money in quote currency).

    Leave a key out for no limit. ``max_loss`` and ``max_denials`` trip the kill switch.
    """

    price_collar_bps: int | None = 100
    max_order_quantity: int | None = 20
    max_order_notional: float | None = None
    max_position: int | None = 50
    max_gross_exposure: float | None = None
    max_open_orders: int | None = 20
    max_messages: int | None = 40
    message_window: float = 1.0
    duplicate_window: float | None = None
    credit_limit: float | None = None
    max_loss: float | None = 50.0
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
    """The strategy the tree runs: a built-in by name, and its parameters.

    ``name``: ``market_maker``, ``momentum``, ``vwap`` (docs/strategies.md), or ``none``
    (no strategy: orders come from the host).
    """

    name: str = "market_maker"
    params: dict[str, Any] = msgspec.field(default_factory=lambda: dict(_SIM_MARKET_MAKER))


class RunConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``tradeactors run``."""

    duration: float = 20.0  # 0: until Ctrl-C or SIGTERM
    status_interval: float = 1.0
    shutdown_timeout: float = 10.0


class Config(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration."""

    supervision: SupervisionConfig = SupervisionConfig()
    metrics: MetricsConfig = MetricsConfig()
    venue: VenueConfig = VenueConfig()
    venues: tuple[VenueConfig, ...] = ()  # [[venues]]: one entry for now (or use [venue])
    execution: ExecutionConfig = ExecutionConfig()
    risk: RiskConfig = RiskConfig()
    killswitch: KillSwitchConfig = KillSwitchConfig()
    strategy: StrategyConfig = StrategyConfig()
    run: RunConfig = RunConfig()
    demo: DemoConfig = DemoConfig()

    @property
    def all_venues(self) -> tuple[VenueConfig, ...]:
        """The venues the system trades at: ``[[venues]]``, or else ``[venue]``."""
        return self.venues or (self.venue,)

    def __post_init__(self) -> None:
        self._check_venues()
        if self.strategy.name != "none":
            from tradeactors.strategy import make_strategy  # noqa: PLC0415 - a cycle otherwise

            try:
                make_strategy(self.strategy.name, self.strategy.params)
            except ConfigError as exc:
                raise ConfigError(f"strategy: {exc}") from exc
        if self.execution.cancel_all_after and not (
            0 < self.execution.refresh < self.execution.cancel_all_after
        ):
            raise ConfigError("execution.refresh must be positive and below cancel_all_after")
        if not self.venue.trade_url and (
            self.execution.max_messages_per_second >= self.venue.rate_per_second
            or self.execution.burst >= _SIM_BURST
        ):
            raise ConfigError(
                "execution.max_messages_per_second and burst must stay below the embedded "
                f"exchange's limits ({self.venue.rate_per_second}/s, burst {_SIM_BURST}): "
                "otherwise the venue refuses cancels and the dead-man's refresh"
            )
        if self.run.duration < 0:
            raise ConfigError("run.duration must be positive, or 0 to run until stopped")
        if self.demo.crash_every < 1:
            raise ConfigError("demo.crash_every must be >= 1")
        if not self.demo.tick_interval > 0:
            raise ConfigError("demo.tick_interval must be positive")
        if not self.demo.duration > 0:
            raise ConfigError("demo.duration must be positive")

    def _check_venues(self) -> None:
        from tradeactors.venues.adapter import venue_adapter  # noqa: PLC0415 - lazy registry

        if len(self.venues) > 1:
            raise ConfigError(
                "venues: one venue per system for now (several come with many instruments)"
            )
        if self.venues and self.venue != VenueConfig():
            raise ConfigError("give either [venue] or [[venues]], not both")
        if self.venues:
            # one venue: the rest of the system reads it as [venue]
            msgspec.structs.force_setattr(self, "venue", self.venues[0])
        for index, venue in enumerate(self.all_venues):
            where = f"venues[{index}]" if self.venues else "venue"
            try:
                venue_adapter(venue.kind, trading=True)
            except ConfigError as exc:
                raise ConfigError(f"{where}.kind: {exc}") from exc


def load_config(path: str | Path | None = None) -> Config:
    """Read ``path`` (TOML), or return the embedded defaults if None.

    Raises:
        ConfigError: unreadable file, bad TOML, unknown key or wrong type; the message
            names the file and the key (``$.section.key``).

    """
    if path is None:
        return Config()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        return msgspec.toml.decode(data, type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
