"""Saved copies of venues' instrument metadata, for runs that cannot ask the venue.

A live system takes its instrument from the venue at start (Binance's
``exchangeInfo``, Kraken's ``AssetPairs``: `tradeactors.trading.system`). Offline runs
(``tradeactors backtest``, ``tradeactors replay``) read the same facts from a TOML file,
`INSTRUMENT_FILE` (``config/instruments.toml``) unless given another: one table per
instrument, named by the venue kind and the symbol as the venue's market data writes
it, with the steps (required), the optional order limits of `Instrument`, and where the
values came from (required)::

    [binance.ETHUSDT]
    tick_size = "0.01"
    lot_size = "0.00001"
    source = "..."

    [kraken."XBT/CHF"]
    tick_size = "0.1"
    lot_size = "0.00000001"
    source = "..."

A file that cannot be read, is not TOML, or has a wrong key or value is one
`ConfigError` naming the file and the table.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec

from tradeactors.core.instrument import Instrument
from tradeactors.errors import ConfigError

__all__ = ["INSTRUMENT_FILE", "InstrumentFile", "load_instrument_file"]

INSTRUMENT_FILE = Path(__file__).resolve().parents[3] / "config" / "instruments.toml"
"""The project's instrument file, beside the other example configs (a source checkout)."""


class _Entry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One table of the file: an `Instrument`'s steps and limits, and their source."""

    tick_size: str
    lot_size: str
    min_price: str = ""
    max_price: str = ""
    min_quantity: str = ""
    max_quantity: str = ""
    min_notional: str = ""
    source: str


class InstrumentFile:
    """The instruments of one file, by venue kind and symbol."""

    def __init__(self, path: Path, instruments: dict[tuple[str, str], Instrument]) -> None:
        self.path = path
        self._instruments = dict(instruments)

    def get(self, venue: str, symbol: str) -> Instrument | None:
        """The instrument ``symbol`` of the venue kind ``venue``, or None if the file has none."""
        return self._instruments.get((venue, symbol))

    def symbols(self, venue: str) -> tuple[str, ...]:
        """The symbols of ``venue`` in the file, in file order."""
        return tuple(symbol for kind, symbol in self._instruments if kind == venue)

    def __len__(self) -> int:
        return len(self._instruments)


def load_instrument_file(path: str | Path | None = None) -> InstrumentFile:
    """Read an instrument file (`INSTRUMENT_FILE` if ``path`` is None).

    Raises:
        ConfigError: the file cannot be read, is not TOML, or a table is wrong (an
            unknown or missing key, a step that is not a positive decimal); the
            message names the file and the table.

    """
    path = INSTRUMENT_FILE if path is None else Path(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read instrument file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    instruments: dict[tuple[str, str], Instrument] = {}
    for venue, symbols in table.items():
        if not isinstance(symbols, dict):
            raise ConfigError(f"{path}: {venue} must be a table of instruments ([{venue}.SYMBOL])")
        for symbol, values in symbols.items():
            instruments[venue, symbol] = _instrument(path, venue, symbol, values)
    return InstrumentFile(path, instruments)


def _instrument(path: Path, venue: str, symbol: str, values: Any) -> Instrument:
    where = f'{path}: [{venue}."{symbol}"]'
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table with tick_size, lot_size and source")
    try:
        entry = msgspec.convert(values, _Entry)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where} {exc}") from exc
    if not entry.source.strip():
        raise ConfigError(f"{where} source: say where the values came from")
    fields = msgspec.structs.asdict(entry)
    del fields["source"]
    try:
        return Instrument(venue=venue, symbol=symbol, **fields)
    except ConfigError as exc:
        raise ConfigError(f"{where} {exc}") from exc
