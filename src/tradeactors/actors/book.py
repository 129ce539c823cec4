"""The book actor: one instrument's book, kept in sync by its venue's rules.

It knows no venue by name: the venue adapter's `BookSync` applies each `VenueData`
event (Binance's ``U``/``u`` continuity, Kraken's checksum, ...) and says what happened;
the actor publishes `BookView`s to its subscribers, passes public trades on as
`TradeTick`s, and asks the feed for a snapshot when the book loses sync. Bad levels
and trades never crash it: they are counted, and a bad level makes the book resync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tradeactors.actors.routing import StrategyRouted
from tradeactors.core.messages import GetBook, GetReport, MarketDataKind, SnapshotNeeded, VenueData
from tradeactors.errors import ParseError
from tradeactors.supervision import SupervisedActor
from tradeactors.venues.adapter import BookOutcome, venue_adapter

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradeactors.actors.feed import MarketDataMetrics
    from tradeactors.actors.routing import StrategyRoutes
    from tradeactors.core.instrument import Instrument
    from tradeactors.venues.adapter import VenueAdapter

__all__ = ["BookActor", "BookReport"]

_APPLIED = BookOutcome.APPLIED


class BookReport(msgspec.Struct, kw_only=True):
    """What a book actor has done, for summaries and tests."""

    symbol: str
    synced: bool = False
    updates: int = 0
    applied: int = 0
    snapshots: int = 0
    gaps: int = 0
    bad_levels: int = 0
    crossed: int = 0
    bad_trades: int = 0
    stale_snapshots: int = 0
    checksum_matched: int = 0
    checksum_mismatched: int = 0
    tickers_compared: int = 0
    ticker_mismatches: int = 0
    ticker_persistent_mismatches: int = 0
    levels: int = 0
    update_id: int = 0


class BookActor(SupervisedActor):
    """One instrument's book: syncs it by the venue's rules and publishes views.

    A restarted book starts empty and asks the feed for a snapshot before it serves:
    it never trusts a book it did not rebuild.

    Args:
        venue: the venue adapter, or its kind.
        instrument: the instrument.
        feed_path: the feed that serves this book (snapshot requests go there).
        subscribers: paths told every `BookView` and `TradeTick`.
        routes: the strategies told them too, changeable at run time: those that trade
            this instrument now (`StrategyRoutes`; read again only when it changed).
        depth: levels a side in a published view, for the subscribers and for the
            strategies that did not ask for a depth of their own (`Strategy.view_depth`,
            carried by ``routes``: a view is built per depth asked).
        max_depth: levels a side the venue's sync rule keeps where it bounds them
            (Kraken: the subscribed depth its checksum covers).
        mode: the variant of the venue's sync rule (Binance: ``spot`` or ``futures``).
        verify: compare the book with the venue's own tickers (``replay --verify``).
        metrics: resync counters.

    """

    def __init__(
        self,
        venue: str | VenueAdapter,
        instrument: Instrument,
        feed_path: str,
        *,
        subscribers: tuple[str, ...] = (),
        routes: StrategyRoutes | None = None,
        depth: int = 10,
        max_depth: int = 1000,
        mode: str = "spot",
        verify: bool = False,
        metrics: MarketDataMetrics | None = None,
    ) -> None:
        super().__init__()
        adapter = venue if not isinstance(venue, str) else venue_adapter(venue)
        market_data = adapter.market_data
        self._market_data = market_data
        self._metrics = metrics
        self._venue = adapter.kind
        self._instrument = instrument
        self._feed_path = feed_path
        self._subscribers = subscribers
        self._routes = routes
        self._routes_seen = -1  # the routes' version the tells were resolved at
        self._tells: tuple[Callable[[Any], None], ...] | None = None  # theirs, at 1st publish
        # the same tells grouped by the depth of view they get: (depth, tells), ...
        self._views: tuple[tuple[int, tuple[Callable[[Any], None], ...]], ...] = ()
        self._time_ns: Callable[[], int] = lambda: 0
        self._depth = depth
        self._sync = market_data.book_sync(instrument, mode=mode, max_depth=max_depth)
        self._check = market_data.ticker_verifier(instrument) if verify else None
        self.report = BookReport(symbol=instrument.symbol)

    def on_start(self) -> None:
        """Ask for a snapshot: a (re)started book serves nothing it did not rebuild."""
        self.context.address_of(self._feed_path).tell(
            SnapshotNeeded(symbol=self._instrument.symbol, incarnation=self.context.incarnation)
        )

    def on_receive(self, message: Any) -> Any:
        """Apply venue events, keep tickers for verification, pass trades on, or report."""
        if isinstance(message, VenueData):
            kind = message.kind
            if kind is MarketDataKind.BOOK:
                self._on_book(message.data)
            elif kind is MarketDataKind.TRADE:
                self._on_trade(message.data)
            elif self._check is not None:
                self._check.add_ticker(message.data)
        elif isinstance(message, GetBook):
            return self._sync.book.view(message.depth)
        elif isinstance(message, StrategyRouted):
            self._welcome(message.path)
        elif isinstance(message, GetReport):
            return self._final_report()
        return None

    def _on_book(self, data: Any) -> None:
        sync = self._sync
        report = self.report
        outcome = sync.on_event(data)
        if outcome is _APPLIED:  # the hot path: one update applied to a synced book
            report.applied += 1
            if self._check is not None:
                self._check.record(sync.book)
            self._publish()
            if not report.synced:
                report.synced = sync.synced
            return
        if outcome.publishes:  # a snapshot (or the first diffs) made it synced
            self._publish()
        elif outcome.resyncs:
            self._count_resync(outcome)
            self._resync(outcome.value)
        report.synced = sync.synced

    def _count_resync(self, outcome: BookOutcome) -> None:
        report = self.report
        if outcome is outcome.GAP:
            report.gaps += 1
        elif outcome is outcome.BAD_LEVEL:
            report.bad_levels += 1
        elif outcome is outcome.CROSSED:
            report.crossed += 1
        elif outcome is outcome.CHECKSUM_MISMATCH:
            report.checksum_mismatched += 1
        else:
            report.stale_snapshots += 1

    def _on_trade(self, data: Any) -> None:
        """Pass a public trade on to the subscribers, in ticks and lots."""
        tells = self._current_tells()
        if not tells:
            return
        try:
            tick = self._market_data.trade_tick(self._instrument, data)
        except ParseError:
            self.report.bad_trades += 1
            return
        for tell in tells:
            tell(tick)

    def _resync(self, reason: str) -> None:
        if self._check is not None:
            self._check.resynced()
        if self._metrics is not None:
            self._metrics.resyncs.labels(self._venue, reason).inc()
        self.context.log.warning("book_resync", reason=reason)
        self.context.address_of(self._feed_path).tell(
            SnapshotNeeded(
                symbol=self._instrument.symbol,
                reason=reason,
                incarnation=self.context.incarnation,
            )
        )

    def _current_tells(self) -> tuple[Callable[[Any], None], ...]:
        """The subscribers' tells: resolved once, and again only when the routes changed."""
        tells = self._tells
        routes = self._routes
        if tells is None or (routes is not None and routes.version != self._routes_seen):
            # an address reaches every later incarnation: re-resolved only for new routes
            context = self.context
            depth = self._depth
            paths = [(p, depth) for p in self._subscribers]
            if routes is not None:
                self._routes_seen = routes.version  # before reading: a change re-resolves
                current = routes.current
                depths = current.depths
                paths += [
                    (p, depths.get(p, depth)) for p in current.trading(self._instrument.symbol)
                ]
            by_depth: dict[int, list[Callable[[Any], None]]] = {}
            for path, asked in paths:
                by_depth.setdefault(asked, []).append(context.address_of(path).tell)
            self._views = tuple((asked, tuple(group)) for asked, group in by_depth.items())
            tells = self._tells = tuple(tell for _asked, group in self._views for tell in group)
            self._time_ns = context.clock.time_ns
        return tells

    def _depth_of(self, path: str) -> int:
        """The depth of the views ``path`` gets (what it asked for, or the book's)."""
        routes = self._routes
        if routes is None:
            return self._depth
        return routes.current.depths.get(path, self._depth)

    def _welcome(self, path: str) -> None:
        """A strategy just routed here: the view of now, if synced (later ones follow)."""
        self._current_tells()  # from now on it hears every update
        if self._sync.synced:
            view = self._sync.book.view(self._depth_of(path), self._time_ns())
            self.context.address_of(path).tell(view)

    def _publish(self) -> None:
        """Tell every subscriber the view of now: one view per depth asked."""
        if not self._current_tells():
            return
        book, now = self._sync.book, self._time_ns()
        for depth, tells in self._views:
            view = book.view(depth, now)
            for tell in tells:
                tell(view)

    def _final_report(self) -> BookReport:
        report = msgspec.structs.replace(self.report)
        book = self._sync.book
        report.levels = len(book)
        report.update_id = book.update_id
        report.updates = self._sync.updates
        report.snapshots = self._sync.snapshots
        report.checksum_matched = self._sync.checksums_matched
        if self._check is not None:
            compared, mismatches, persistent = self._check.tally()
            report.tickers_compared = compared
            report.ticker_mismatches = mismatches
            report.ticker_persistent_mismatches = persistent
        return report
