"""The kill switch actor: acts on trips, and trips on stale market data.

The state itself is the `TradingGate` (read by risk, the order manager and gateways as
they handle each order, so a trip takes effect at once). This actor hears every change
of the gate directly: each incarnation subscribes in ``on_start`` (its listener only
tells the actor, tagged with the incarnation, so a killed predecessor's listener is
ignored) and unsubscribes in ``on_stop`` and ``on_failure``. Once subscribed, if the
gate has changed before, it acts on the latest change again, so a trip or reset while
it restarted is not missed (acting twice is harmless). On HALTED it tells the order
manager to cancel everything at every venue; it passes each change on to the ``notify``
paths (strategies). It also watches the books: no update from an instrument for
``stale_after`` seconds trips HALTED with source ``stale_market_data`` (the clock
starts at the actor's start, so a feed that never delivers trips it too). While a
venue is down (`VenueStatus` from the order manager: orders to it are denied anyway)
its instruments are not watched, and their clock starts again when it is back up: an
outage pauses trading and it resumes by itself, instead of latching HALTED.

Scopes: a change of ``all`` acts as above. A strategy scope (``strategy:<name>``) that
goes HALTED cancels that strategy's orders only (`CancelAllOrders` with its owner path),
and only that strategy's ``notify`` path hears its scope's changes; a venue scope
(``venue:<name>``) that goes HALTED cancels that venue's orders, and every ``notify``
path hears it. After a restart it acts on each scope's latest change again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeactors.actors.gate import default_strategy_of, strategy_path
from tradeactors.actors.routing import StrategyRouted
from tradeactors.core.book import BookView
from tradeactors.core.killswitch import KillSwitchChanged, TripSource, parse_scope
from tradeactors.core.messages import CancelAllOrders, Message, VenueStatus, symbol_of
from tradeactors.core.risk import TradingState
from tradeactors.errors import SupervisionError
from tradeactors.supervision import SupervisedActor

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.actors.gate import TradingGate
    from tradeactors.actors.routing import StrategyRoutes
    from tradeactors.clock import Timer

__all__ = ["KillSwitchActor"]


class _Check(Message, frozen=True, kw_only=True, tag=True):
    incarnation: int  # a killed predecessor's timer must not start a second chain


class _GateChanged(Message, frozen=True, kw_only=True, tag=True):
    incarnation: int  # a killed predecessor (no on_stop, no on_failure) stays subscribed
    change: KillSwitchChanged


class KillSwitchActor(SupervisedActor):
    """See the module doc.

    Args:
        gate: the kill switch's state.
        order_manager_path: told to cancel everything on HALTED.
        instruments: symbols whose books are watched for staleness.
        stale_after: seconds without a book update that trip HALTED (None: not watched).
        notify: paths told of every change (of their own strategy's scope: see the doc).
        routes: the strategies told of every change too, as they are at the change
            (strategies come and go at run time).
        strategy_of: a ``notify`` path (an order owner) -> its strategy's name, or None.

    """

    def __init__(
        self,
        gate: TradingGate,
        order_manager_path: str,
        *,
        instruments: tuple[str, ...] = (),
        stale_after: float | None = None,
        notify: tuple[str, ...] = (),
        venue_of: dict[str, str] | None = None,
        routes: StrategyRoutes | None = None,
        strategy_of: Callable[[str], str | None] = default_strategy_of,
    ) -> None:
        super().__init__()
        self._routes = routes
        self._strategy_of = strategy_of
        self._venue_of = dict(venue_of or {})  # symbol -> venue (absent: any venue's)
        self._paused: set[str] = set()  # instruments of venues that are down
        self._gate = gate
        self._om_path = order_manager_path
        self._instruments = instruments
        self._stale_after_ns = int(stale_after * 1e9) if stale_after else None
        self._notify = notify
        self._last_update: dict[str, int] = {}
        self._timer: Timer | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def on_start(self) -> None:
        """Start watching the books; hear the gate; act on a change it may have missed."""
        now = self.context.clock.monotonic_ns()
        self._last_update = dict.fromkeys(self._instruments, now)
        self._schedule()
        self._unsubscribe = self._gate.subscribe(self._listener())
        history = self._gate.history  # read after subscribing: later changes are told
        latest = {change.scope: index for index, change in enumerate(history)}
        try:
            for index in sorted(latest.values()):  # each scope's latest, in their order
                self._changed(history[index], again=True)
        except BaseException:
            self.on_stop()  # pykka calls no on_failure for a failed on_start
            raise

    def on_stop(self) -> None:
        """Stop hearing the gate; stop the staleness timer."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()

    def on_failure(self, *_exc_info: object) -> None:
        """Stop hearing the gate; stop the staleness timer."""
        self.on_stop()

    def _listener(self) -> Callable[[KillSwitchChanged], None]:
        """Called in the tripping thread: only tells this actor, never raises."""
        me, incarnation, log = self.context.address, self.context.incarnation, self.context.log

        def heard(change: KillSwitchChanged) -> None:
            try:
                me.tell(_GateChanged(incarnation=incarnation, change=change))
            except SupervisionError:  # e.g. a full bounded mailbox (a closed one dead-letters)
                log.exception("kill_switch_change_undelivered", state=change.state.value)

        return heard

    def on_receive(self, message: Any) -> Any:
        """Act on changes, note book updates, check staleness."""
        if isinstance(message, BookView):
            symbol = symbol_of(message.instrument)
            if symbol in self._last_update:  # only the instruments it was told to watch
                self._last_update[symbol] = self.context.clock.monotonic_ns()
        elif isinstance(message, _GateChanged):
            if message.incarnation == self.context.incarnation:
                self._changed(message.change)
        elif isinstance(message, VenueStatus):
            self._venue_status(message)
        elif isinstance(message, StrategyRouted):
            self._routed(message.path)
        elif isinstance(message, _Check):
            if message.incarnation != self.context.incarnation:
                return None
            self._check()
            self._schedule()
        return None

    def _routed(self, path: str) -> None:
        """A strategy just routed: the latest change of each scope it belongs to."""
        name = self._strategy_of(path)
        for scope in self._gate.scopes():
            kind, scoped = parse_scope(scope)
            history = self._gate.history_of(scope)
            if history and (kind != "strategy" or scoped == name):
                self.context.address_of(path).tell(history[-1])

    def _changed(self, change: KillSwitchChanged, *, again: bool = False) -> None:
        # A halt is a warning, unless it is the system stopping (a clean stop warns of nothing).
        stopping = change.source == TripSource.SHUTDOWN.value
        active = change.state is TradingState.ACTIVE
        log = self.context.log.info if active or stopping else self.context.log.warning
        log(
            "kill_switch_changed",
            scope=change.scope,
            previous=change.previous.value,
            state=change.state.value,
            source=change.source,
            reason=change.reason,
            again=again,
        )
        kind, name = parse_scope(change.scope)
        routed = self._routes.current.paths() if self._routes is not None else ()
        notify = (*self._notify, *routed)
        if kind == "strategy":
            notify = tuple(p for p in notify if self._strategy_of(p) == name)
        if change.state is TradingState.HALTED:
            reason = f"kill switch: {change.reason}"
            if kind == "strategy":  # its owner path: the one notified, or the tree's layout
                owner = notify[0] if notify else strategy_path(name)
                cancel = CancelAllOrders(reason=reason, owner=owner)
            else:
                cancel = CancelAllOrders(reason=reason, venue=name if kind == "venue" else None)
            self.context.address_of(self._om_path).tell(cancel)
        for path in notify:
            self.context.address_of(path).tell(change)

    def _venue_status(self, status: VenueStatus) -> None:
        """Pause the watch of a down venue's instruments; restart their clocks when up."""
        symbols = [
            s for s in self._last_update if self._venue_of.get(s, status.venue) == status.venue
        ]
        if status.up:
            now = self.context.clock.monotonic_ns()
            for symbol in symbols:
                self._last_update[symbol] = now
            self._paused.difference_update(symbols)
        else:
            self._paused.update(symbols)

    def _check(self) -> None:
        if self._stale_after_ns is None or self._gate.state is TradingState.HALTED:
            return
        now = self.context.clock.monotonic_ns()
        for instrument, last in self._last_update.items():
            if instrument in self._paused:
                continue
            if now - last > self._stale_after_ns:
                self._gate.trip(
                    TradingState.HALTED,
                    source=TripSource.STALE_MARKET_DATA,
                    reason=f"no book update for {instrument} in {self._stale_after_ns / 1e9} s",
                )
                return

    def _schedule(self) -> None:
        if self._stale_after_ns is None:
            return
        me, incarnation = self.context.address, self.context.incarnation
        period = max(0.01, self._stale_after_ns / 4e9)
        self._timer = self.context.clock.call_later(
            period, lambda: me.tell(_Check(incarnation=incarnation))
        )
