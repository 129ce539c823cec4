"""The kill switch latched in Redis, and fanned out to every host.

`RedisKillSwitch` keeps, per scope (``all``, ``strategy:<name>``, ``venue:<name>``), a
hash ``{prefix}:{scope}`` with the state, the previous state, who, why, the source
and the server's time of the last change. A trip runs as one Lua script: it only
ever raises the state (ACTIVE < REDUCING < HALTED, the same rule as
`tradeactors.core.killswitch.KillSwitch`), and in the same step appends the change to
the fan-out stream ``{prefix}:changes``; a milder trip changes nothing. Lowering
is `reset` only, with who and why, recorded the same way.

`KillSwitchFollower` is the actor every host runs: it reads the latched state of every
scope first, then follows the fan-out stream from where it was before that read (so no
change between the two is missed; one may be applied twice, which a latch ignores), and
gives each change to ``apply`` as a `KillSwitchChanged` (the host's local gate trips).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from tradeactors.bus._common import ClientAndTimer, Link, later, redis_errors
from tradeactors.bus._settings import connect
from tradeactors.core.killswitch import ALL, KillSwitchChanged, TripSource, parse_scope
from tradeactors.core.risk import TradingState
from tradeactors.errors import BusEntryError, BusUnavailableError
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from tradeactors.bus._messages import BusStatus
    from tradeactors.bus._metrics import BusMetrics
    from tradeactors.bus._settings import BusSettings
    from tradeactors.clock import Timer

__all__ = ["KILL_SWITCH_PREFIX", "KillSwitchFollower", "RedisKillSwitch"]

KILL_SWITCH_PREFIX: Final = "bus:killswitch"
_CHANGES_MAXLEN = 10_000

# KEYS: the scope's hash, the fan-out stream, the set of scopes.
# ARGV: new state, source, reason, scope, who, maxlen, mode ("trip" | "reset").
# Returns {changed (0/1), previous state, timestamp_ns} or an error.
_CHANGE = """
local rank = {active = 0, reducing = 1, halted = 2}
local to = ARGV[1]
if rank[to] == nil then return redis.error_reply('ERR unknown state ' .. to) end
local current = redis.call('HGET', KEYS[1], 'state')
if not current then current = 'active' end
if ARGV[7] == 'trip' then
  if rank[to] <= rank[current] then return {0, current, ''} end
else
  if rank[to] >= rank[current] then
    return redis.error_reply('ERR reset must lower the state: ' .. current .. ' -> ' .. to)
  end
end
local t = redis.call('TIME')
local ts = t[1] .. string.format('%06d', tonumber(t[2])) .. '000'
redis.call('HSET', KEYS[1], 'scope', ARGV[4], 'state', to, 'previous', current,
  'source', ARGV[2], 'reason', ARGV[3], 'by', ARGV[5], 'timestamp_ns', ts)
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'scope', ARGV[4], 'previous', current,
  'state', to, 'source', ARGV[2], 'reason', ARGV[3], 'by', ARGV[5], 'timestamp_ns', ts)
return {1, current, ts}
"""

_FIELDS = ("scope", "previous", "state", "source", "reason", "by", "timestamp_ns")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def change_of(fields: Mapping[Any, Any]) -> KillSwitchChanged:
    """The `KillSwitchChanged` of a fan-out entry or a scope's hash.

    Raises:
        BusEntryError: a field is missing or not valid (``malformed``).

    """
    values = {_text(k): _text(v) for k, v in fields.items()}
    try:
        scope = values["scope"]
        parse_scope(scope)
        by = values["by"]
        reason = values["reason"]
        return KillSwitchChanged(
            previous=TradingState(values["previous"]),
            state=TradingState(values["state"]),
            source=values["source"],
            reason=f"{by}: {reason}" if by else reason,
            timestamp_ns=int(values["timestamp_ns"]),
            scope=scope,
        )
    except (KeyError, ValueError) as exc:
        raise BusEntryError("malformed", f"kill-switch entry: {exc!r}") from exc


class RedisKillSwitch:
    """Trip, reset and read the latched kill switch in Redis (blocking calls, for the edges).

    ``client`` is a redis-py client (`tradeactors.bus.connect`). Every method raises
    `BusUnavailableError` when Redis does not answer in time: a trip that could not be
    latched must be known to the caller (trip the local gate all the same).
    """

    def __init__(self, client: Any, *, prefix: str = KILL_SWITCH_PREFIX) -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_CHANGE)
        self._errors = redis_errors()

    @property
    def changes_stream(self) -> str:
        """The fan-out stream of changes."""
        return f"{self._prefix}:changes"

    @property
    def scopes_key(self) -> str:
        """The set of scopes ever changed."""
        return f"{self._prefix}:scopes"

    def _key(self, scope: str) -> str:
        parse_scope(scope)
        return f"{self._prefix}:{scope}"

    def _run(
        self, scope: str, to: TradingState, *, source: str, reason: str, by: str, mode: str
    ) -> Any:
        try:
            return self._script(
                keys=[self._key(scope), self.changes_stream, self.scopes_key],
                args=[to.value, source, reason, scope, by, _CHANGES_MAXLEN, mode],
            )
        except self._errors as exc:
            raise BusUnavailableError(f"kill switch {scope}: Redis did not answer") from exc

    def trip(
        self,
        to: TradingState,
        *,
        source: TripSource,
        reason: str,
        scope: str = ALL,
        by: str = "",
    ) -> KillSwitchChanged | None:
        """Raise ``scope`` to ``to``; None if it already was at least that strict.

        Raises:
            ValueError: ``scope`` is not a scope.
            BusUnavailableError: Redis did not answer (nothing known to be latched).

        """
        changed, previous, timestamp = self._run(
            scope, to, source=source.value, reason=reason, by=by, mode="trip"
        )
        if not changed:
            return None
        return KillSwitchChanged(
            previous=TradingState(_text(previous)),
            state=to,
            source=source.value,
            reason=f"{by}: {reason}" if by else reason,
            timestamp_ns=int(_text(timestamp)),
            scope=scope,
        )

    def reset(
        self, to: TradingState, *, by: str, reason: str, scope: str = ALL
    ) -> KillSwitchChanged:
        """Lower ``scope`` to ``to`` (an operator's decision: who and why are recorded).

        Raises:
            ValueError: no one named, no reason, or ``to`` not below the latched state.
            BusUnavailableError: Redis did not answer.

        """
        import redis  # noqa: PLC0415 - redis-py only where a bus is used

        if not by or not reason:
            raise ValueError("a reset needs who did it and why")
        try:
            _, previous, timestamp = self._run(
                scope, to, source="reset", reason=reason, by=by, mode="reset"
            )
        except redis.ResponseError as exc:
            raise ValueError(str(exc)) from exc
        return KillSwitchChanged(
            previous=TradingState(_text(previous)),
            state=to,
            source="reset",
            reason=f"{by}: {reason}",
            timestamp_ns=int(_text(timestamp)),
            scope=scope,
        )

    def state(self, scope: str = ALL) -> TradingState:
        """The latched state of ``scope`` (ACTIVE if never tripped).

        Raises:
            BusUnavailableError: Redis did not answer.

        """
        try:
            value = self._client.hget(self._key(scope), "state")
        except self._errors as exc:
            raise BusUnavailableError(f"kill switch {scope}: Redis did not answer") from exc
        return TradingState.ACTIVE if value is None else TradingState(_text(value))

    def latched(self) -> dict[str, KillSwitchChanged]:
        """The last change of every scope ever changed (its state is the latched one).

        Raises:
            BusUnavailableError: Redis did not answer.
            BusEntryError: a scope's hash is not valid.

        """
        return {scope: change_of(row) for scope, row in self.latched_rows().items()}

    def latched_rows(self) -> dict[str, dict[Any, Any]]:
        """The hash of every scope ever changed, as stored (see `change_of`).

        Raises:
            BusUnavailableError: Redis did not answer.

        """
        try:
            scopes = sorted(_text(s) for s in self._client.smembers(self.scopes_key))
            pipe = self._client.pipeline(transaction=False)
            for scope in scopes:
                pipe.hgetall(f"{self._prefix}:{scope}")
            rows = pipe.execute()
        except self._errors as exc:
            raise BusUnavailableError("kill switch: Redis did not answer") from exc
        return {scope: row for scope, row in zip(scopes, rows, strict=True) if row}


class _Poll:
    """Read the latched states (first), or the next changes."""


class KillSwitchFollower(ClientAndTimer, SupervisedActor):
    """Applies the latched kill switch and its changes to this host (see the module doc).

    ``apply`` gets each `KillSwitchChanged`: at (re)start, one per scope ever changed
    (its latched state), then each change as it is fanned out. It must be idempotent
    (a latch is: tripping to the state it has changes nothing).
    """

    def __init__(
        self,
        settings: BusSettings,
        *,
        host: str,
        apply: Callable[[KillSwitchChanged], None],
        prefix: str = KILL_SWITCH_PREFIX,
        metrics: BusMetrics | None = None,
        status: Callable[[BusStatus], None] | None = None,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._host = host
        self._apply = apply
        self._prefix = prefix
        self._metrics = metrics
        self._status = status
        self._errors: tuple[type[BaseException], ...] = (*redis_errors(), BusUnavailableError)
        self._client: Any = None
        self._switch: RedisKillSwitch | None = None
        self._link: Link | None = None
        self._timer: Timer | None = None
        self._last_id: str | None = None  # None: read the latched states first

    def on_start(self) -> None:
        """Make the client and queue the first read."""
        context = self.context
        self._client = connect(self._settings, client_name=f"{self._host}:{context.path}")
        self._switch = RedisKillSwitch(self._client, prefix=self._prefix)
        self._link = Link(
            context, self._host, self._switch.changes_stream, self._metrics, self._status
        )
        context.address.tell(_Poll())

    def on_receive(self, message: Any) -> Any:
        """Read and apply; queue the next read."""
        if not isinstance(message, _Poll):
            return
        self._timer = None
        link, switch = self._link, self._switch
        assert link is not None  # noqa: S101 - set in on_start
        assert switch is not None  # noqa: S101
        try:
            self._read(switch)
        except self._errors as exc:
            link.lost(exc)
            # after an outage, read the latched states again: changes may have been
            # trimmed, or the server restarted empty
            self._last_id = None
            self._timer = later(self.context, self._settings.reconnect_interval, _Poll())
            return
        link.reached()
        self.context.address.tell(_Poll())

    def _read(self, switch: RedisKillSwitch) -> None:
        client, stream = self._client, switch.changes_stream
        if self._last_id is None:
            newest = client.xrevrange(stream, count=1)
            last_id = _text(newest[0][0]) if newest else "0-0"
            for scope, row in switch.latched_rows().items():
                self._apply_fields(stream, scope, row)
            self._last_id = last_id
            return
        response = client.xread({stream: self._last_id}, count=100, block=self._settings.block_ms)
        for _, entries in response or ():
            self._last_id = _text(entries[-1][0])
            for entry_id, fields in entries:
                self._apply_fields(stream, _text(entry_id), fields)

    def _apply_fields(self, stream: str, where: str, fields: Mapping[Any, Any]) -> None:
        try:
            change = change_of(fields)
        except BusEntryError as exc:
            if self._metrics is not None:
                self._metrics.bad.labels(self._metrics.host, stream, exc.reason).inc()
            self.context.log.warning(
                "bus_entry_dropped", stream=stream, entry=where, reason=exc.reason, error=str(exc)
            )
            return
        self._apply(change)
