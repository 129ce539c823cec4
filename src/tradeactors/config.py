"""Configuration: TOML decoded once, at the entry point, into frozen structs.

The defaults embedded here are what runs with no file; ``config/default.toml``
spells them out (a test keeps the two equal). A bad file fails with the key at fault.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from tradeactors.errors import ConfigError

__all__ = ["Config", "DemoConfig", "MetricsConfig", "SupervisionConfig", "load_config"]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class SupervisionConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Restart intensity of the tree's supervisors."""

    intensity: int = 10
    period: float = 5.0


class MetricsConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the Prometheus endpoint listens (port 0 picks a free port)."""

    host: str = "127.0.0.1"
    port: int = 0


class DemoConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The example tree that ``tradeactors run`` starts until the trading tree exists."""

    duration: float = 3.0
    tick_interval: float = 0.002
    crash_every: int = 250


class Config(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration."""

    supervision: SupervisionConfig = SupervisionConfig()
    metrics: MetricsConfig = MetricsConfig()
    demo: DemoConfig = DemoConfig()

    def __post_init__(self) -> None:
        if self.demo.crash_every < 1:
            raise ConfigError("demo.crash_every must be >= 1")
        if not self.demo.tick_interval > 0:
            raise ConfigError("demo.tick_interval must be positive")
        if not self.demo.duration > 0:
            raise ConfigError("demo.duration must be positive")


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
