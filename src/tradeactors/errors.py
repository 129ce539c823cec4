"""The exceptions tradeactors raises.

Kept in one module, apart from the code that raises them, to avoid import loops.
A risk denial or a venue reject is an event, never one of these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pykka

if TYPE_CHECKING:
    import enum
    from collections.abc import Sequence

__all__ = [
    "AddressClosedError",
    "BookError",
    "BusEntryError",
    "BusError",
    "BusUnavailableError",
    "BusUrlError",
    "CaptureFormatError",
    "ChildStartError",
    "ConfigError",
    "ConfigKeyError",
    "ExposureSnapshotTimeoutError",
    "FeedDisconnectedError",
    "FeedStaleError",
    "FrameDroppedError",
    "GatewayError",
    "IllegalTransitionError",
    "InjectedFaultError",
    "InvalidConfigError",
    "MailboxFullError",
    "MessageDroppedError",
    "ParseError",
    "RestartIntensityExceededError",
    "ShutdownTimeoutError",
    "StrategyLoadError",
    "SupervisionError",
    "TopError",
    "TradeActorsError",
    "UnknownScopeError",
    "UnknownStrategyError",
    "UnknownVenueKindError",
    "VenueDisconnectedError",
    "VenueLogonRefusedError",
    "VenueRequestError",
    "WaitTimeoutError",
]


class TradeActorsError(Exception):
    """Root of every exception tradeactors raises on purpose."""


class ConfigError(TradeActorsError):
    """A configuration value is wrong; the message names the key."""


class ConfigKeyError(ConfigError):
    """One key of a configuration is wrong: unknown, or its value is.

    ``section`` is the key's table (``"risk"``, ``"strategy.params"``, ``"venues[0]"``;
    ``""`` at the top level), ``reason`` says what is wrong in words and starts with the
    key when the key is valid (``port: expected an integer, got "abc"``), and ``path``
    and ``line`` say where, when known. The message is one line:
    ``trading.toml:7: [metrics] port: expected an integer, got "abc"``, or, for a
    configuration built in code, ``metrics.port: expected an integer, got "abc"``.
    """

    def __init__(
        self,
        section: str,
        key: str,
        reason: str,
        *,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        self.section = section
        self.key = key
        self.reason = reason
        self.path = path
        self.line = line
        super().__init__(self._describe())

    def located(self, path: str, line: int | None) -> ConfigKeyError:
        """The same error, placed at ``line`` of the file ``path`` (None: line unknown)."""
        error = ConfigKeyError(self.section, self.key, self.reason, path=path, line=line)
        error.__cause__ = self.__cause__
        return error

    def _describe(self) -> str:
        if self.path is None:
            if not self.section:
                return self.reason
            if self.key and self.reason.startswith(self.key):
                return f"{self.section}.{self.reason}"  # venue.kind: unknown venue kind ...
            return f"[{self.section}] {self.reason}"
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        if not self.section:
            return f"{where}: {self.reason}"
        table, _, rest = self.section.partition("[")
        index, _, inner = rest.partition("]")
        if index:  # venues[0], an array of tables, shown as the user writes it
            # strategies[1].params: that entry's table
            within = f" {inner.lstrip('.')}." if inner else " "
            return f"{where}: [[{table}]] #{int(index) + 1}{within}{self.reason}"
        return f"{where}: [{self.section}] {self.reason}"


class InvalidConfigError(ConfigError):
    """A configuration with one or more wrong keys; ``errors`` lists them all.

    The message has one line per error (see `ConfigKeyError`), in file order.
    """

    def __init__(self, errors: Sequence[ConfigKeyError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


class StrategyLoadError(ConfigError):
    """A strategy cannot be loaded or built: ``spec`` names it, ``reason`` says why.

    ``spec`` is what the user gave (``"mypackage.module:MyStrategy"``); ``reason`` names
    the module, the class and what is wrong (not found, no such attribute, not a class,
    callbacks missing, a parameter unknown, missing or of the wrong type, the
    constructor raised); ``key`` is None when the class itself is wrong, the parameter
    concerned when one is, ``""`` for the parameters together (one missing, or the
    constructor raised). One line:
    ``strategy 'mypackage.module:MyStrategy': module 'mypackage' not found (...)``.
    """

    def __init__(self, spec: str, reason: str, *, key: str | None = None) -> None:
        self.spec = spec
        self.reason = reason
        self.key = key
        super().__init__(f"strategy {spec!r}: {reason}")


class UnknownStrategyError(ConfigError):
    """No strategy of the running system has ``name``; ``known`` lists those that do."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(known)
        listed = ", ".join(self.known) or "none"
        super().__init__(f"no strategy is named {name!r}; strategies: {listed}")


class SupervisionError(TradeActorsError):
    """Something went wrong in the supervision tree."""


class ChildStartError(SupervisionError):
    """A child failed to start (in its constructor or ``on_start``); see ``__cause__``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"child {path!r} failed to start: {reason}")
        self.path = path
        self.reason = reason


class RestartIntensityExceededError(SupervisionError):
    """A supervisor saw more restarts than its intensity allows within its period.

    The supervisor has stopped its children and failed itself so that its parent
    decides; at the root, the application's escalation hook receives this error.
    """

    def __init__(self, path: str, restarts: int, period: float, child: str) -> None:
        super().__init__(
            f"supervisor {path!r} exceeded its restart intensity: {restarts} restarts "
            f"within {period:g} s (last failing child {child!r})"
        )
        self.path = path
        self.restarts = restarts
        self.period = period
        self.child = child


class ShutdownTimeoutError(SupervisionError):
    """A tree did not finish stopping within the time it was given."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(f"{path!r} did not stop within {timeout:g} s")
        self.path = path
        self.timeout = timeout


class AddressClosedError(SupervisionError, pykka.ActorDeadError):
    """You asked an address whose actor is gone for good (stopped, or temporary and exited).

    It subclasses ``pykka.ActorDeadError`` so code written for pykka keeps working.
    """

    def __init__(self, path: str) -> None:
        super().__init__(f"actor {path!r} is not running and will not be restarted")
        self.path = path


class MailboxFullError(SupervisionError):
    """A bounded mailbox with the ``block`` policy stayed full for the whole block timeout."""

    def __init__(self, path: str, capacity: int, timeout: float) -> None:
        super().__init__(f"mailbox of {path!r} stayed full ({capacity}) for {timeout:g} s")
        self.path = path
        self.capacity = capacity
        self.timeout = timeout


class MessageDroppedError(SupervisionError):
    """Set on an ``ask`` future whose message a bounded mailbox dropped before handling."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"message to {path!r} was dropped: {reason}")
        self.path = path
        self.reason = reason


class InjectedFaultError(TradeActorsError):
    """The crash a fault injection asked for; it never comes from real code."""

    def __init__(self, path: str) -> None:
        super().__init__(f"injected crash in {path!r}")
        self.path = path


# -- market data -------------------------------------------------------------------------


class ParseError(TradeActorsError, ValueError):
    """A venue string is not a valid non-negative amount for this instrument."""


class BookError(TradeActorsError):
    """The book broke one of its invariants (a bug, or a venue stream applied wrongly)."""


class CaptureFormatError(TradeActorsError, ValueError):
    """A capture line is not in the format its reader expects."""


class FeedDisconnectedError(TradeActorsError):
    """The venue's websocket closed or failed; the feed crashes so its supervisor reconnects."""


class FeedStaleError(TradeActorsError):
    """No frame arrived for longer than the staleness limit; the feed reconnects."""


class FrameDroppedError(TradeActorsError):
    """A venue frame is malformed or of no use; the feed counts it under ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"frame dropped: {reason}")
        self.reason = reason


# -- orders and venues ---------------------------------------------------------------------


class IllegalTransitionError(TradeActorsError):
    """An order was asked to do something its state does not allow."""

    def __init__(self, client_order_id: str, status: enum.Enum, trigger: enum.Enum) -> None:
        super().__init__(f"order {client_order_id!r} cannot {trigger.value} while {status.value}")
        self.client_order_id = client_order_id
        self.status = status
        self.trigger = trigger


class UnknownScopeError(TradeActorsError, LookupError):
    """A kill-switch scope names a strategy or venue the system does not have.

    ``scope`` is the scope asked for (``strategy:mm_eth``); ``known`` the scopes there are.
    """

    def __init__(self, scope: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown kill-switch scope {scope!r} (known: {', '.join(known)})")
        self.scope = scope
        self.known = tuple(known)


class UnknownVenueKindError(ConfigError):
    """No venue adapter is registered under this kind (or it has no order entry yet)."""

    def __init__(self, kind: str, known: tuple[str, ...], *, what: str = "venue kind") -> None:
        names = ", ".join(known) or "none"
        super().__init__(f"unknown {what} {kind!r} (known: {names})")
        self.kind = kind
        self.known = known


class GatewayError(TradeActorsError):
    """Base of the gateway's errors."""


class VenueDisconnectedError(GatewayError):
    """The order-entry connection dropped: the gateway fails so its supervisor acts."""


class VenueRequestError(GatewayError):
    """The venue refused a request of the (re)connect procedure."""

    def __init__(self, op: str, code: str, message: str) -> None:
        super().__init__(f"{op}: {code} ({message})")
        self.op = op
        self.code = code


class VenueLogonRefusedError(VenueRequestError):
    """The venue refused to log on with the configured API key (its secret, the clock).

    Not a connection problem: retrying the same credentials does not help, so the
    gateway fails to start (and `tradeactors run` stops with this one line). The
    secret itself is never part of the message.
    """

    def __init__(self, venue: str, api_key: str, code: str, message: str) -> None:
        VenueRequestError.__init__(self, "logon", code, message)
        text = (
            f"venue {venue} refused the logon of API key {api_key!r}: {code} ({message}); "
            "check the key, its secret and this machine's clock"
        )
        self.args = (text,)
        self.venue = venue
        self.api_key = api_key


# -- the bus (tradeactors.bus) ---------------------------------------------------------


class BusError(TradeActorsError):
    """Base of the bus's errors."""


class BusUrlError(ConfigError, BusError):
    """A bus URL that cannot be used (``redis://host:port/db`` is expected).

    The message shows the URL with its password replaced by ``***``.
    """


class BusUnavailableError(BusError):
    """Redis did not answer within the configured timeouts (see ``__cause__``)."""


class BusEntryError(BusError, ValueError):
    """A stream entry that is not a valid envelope (too large, malformed, unknown type).

    ``reason`` is a short label for the metric (``too_large``, ``malformed``...).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


# -- tools -----------------------------------------------------------------------------


class ExposureSnapshotTimeoutError(TradeActorsError):
    """Risk (re)starting got no exposure snapshot from the order manager in time.

    Risk fails with it (its supervisor restarts it, and it asks again): it never
    checks orders against an exposure it does not know.
    """


class TopError(TradeActorsError):
    """The endpoint could not be scraped (unreachable, an HTTP error, not Prometheus text)."""


class WaitTimeoutError(TradeActorsError, AssertionError):
    """What a test waited for did not happen in time (an AssertionError, for pytest)."""
