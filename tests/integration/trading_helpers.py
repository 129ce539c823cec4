"""Helpers for the trading-tree tests: a venue, a system against it, a taker, events."""

from __future__ import annotations

import secrets
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec
import websocket

from tradeactors.config import Config
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import Side, SubmitOrder, TimeInForce
from tradeactors.exchange.orderentry import sign

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tradeactors.exchange.server import SimExchange
    from tradeactors.trading.system import TradingSystem

SYMBOL = "BTCUSDT"
INSTRUMENT = Instrument(venue="sim", symbol=SYMBOL, tick_size="0.01", lot_size="0.001")
MID = 100_000  # ticks; the test venue's book is empty unless a test fills it
SECRET = "test-secret-" + "x" * 20
TAKER_SECRET = "taker-secret-" + "y" * 20


def config_for(venue: SimExchange, **sections: dict[str, Any]) -> Config:
    """A config against ``venue``: no strategy, no staleness trip, loose risk limits."""
    base: dict[str, dict[str, Any]] = {
        "venue": {
            "name": "sim",
            "symbol": SYMBOL,
            "trade_url": venue.trade_url,
            "stream_url": venue.ws_url,
            "rest_url": venue.http_url,
            "secret_env": "TRADEACTORS_TEST_SECRET",
        },
        "strategy": {"name": "none"},
        "killswitch": {"stale_after": None},
        "execution": {"restart_delay": 0.01, "max_restart_delay": 0.05, "intensity": 20},
        "risk": {
            "price_collar_bps": None,
            "max_messages": None,
            "max_open_orders": None,
            "max_loss": None,
            "max_denials": None,
        },
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return msgspec.convert(base, Config)


class TradingEvents:
    """Everything a system emitted, with waits on predicates (never sleeps)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.items: list[Any] = []

    def __call__(self, event: Any) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def of(self, kind: type, **fields: Any) -> list[Any]:
        with self._cond:
            return [
                e
                for e in self.items
                if isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())
            ]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate()`` holds, re-checked at each event; False on timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_for(
        self, kind: type, count: int = 1, timeout: float = 10.0, **fields: Any
    ) -> list[Any]:
        def found() -> bool:
            return len(self.of(kind, **fields)) >= count

        with self._cond:
            if not self._cond.wait_for(found, timeout):
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {count} {kind.__name__} {fields}"
                )
        return self.of(kind, **fields)


def submit(
    system: TradingSystem,
    *,
    side: Side,
    price: int,
    quantity: int,
    tif: TimeInForce = TimeInForce.GTC,
) -> str:
    """Submit an order through risk; returns its client order id."""
    client_order_id = system.new_order_id()
    system.submit(
        SubmitOrder(
            client_order_id=client_order_id,
            venue="sim",
            instrument=SYMBOL,
            side=side,
            price=price,
            quantity=quantity,
            tif=tif,
        )
    )
    return client_order_id


def resting_buy(system: TradingSystem, quantity: int = 5) -> str:
    """A buy 300 ticks under the mid (nobody sells there); returns its id."""
    return submit(system, side=Side.BUY, price=MID - 300, quantity=quantity)


def open_at_venue(venue: SimExchange, account: str = "demo") -> int:
    return len(venue.open_orders(account))


def wait_open_at_venue(
    venue: SimExchange, predicate: Callable[[int], bool], timeout: float, account: str = "demo"
) -> bool:
    return venue.wait_until(lambda: predicate(len(venue.engine.open_orders(account))), timeout)


class Taker:
    """Another account's session, to trade against the system's orders."""

    def __init__(self, venue: SimExchange, api_key: str = "taker", secret: str = TAKER_SECRET):
        self._connection = websocket.create_connection(venue.trade_url, timeout=10)
        self._ids = 0
        timestamp, nonce = time.time_ns() // 1_000_000, secrets.token_hex(8)
        self.request(
            "logon", api_key=api_key, timestamp=timestamp, nonce=nonce,
            signature=sign(secret, timestamp, nonce), cancel_on_disconnect=True,
        )  # fmt: skip

    def request(self, op: str, **fields: Any) -> Any:
        self._ids += 1
        self._connection.send(msgspec.json.encode({"op": op, "id": self._ids, **fields}))
        while True:
            reply = msgspec.json.decode(self._connection.recv())
            if reply.get("id") == self._ids:
                if "error" in reply:
                    raise AssertionError(f"{op}: {reply['error']}")
                return reply["result"]

    def close(self) -> None:
        self._connection.close(timeout=1)


@contextmanager
def still_exchange(
    instrument: Instrument = INSTRUMENT,
    keys: dict[str, str] | None = None,
    *,
    protocol: str = "sim",
    seed: int = 7,
    rate_per_second: float | None = None,
) -> Iterator[SimExchange]:
    """A simulated exchange (speaking ``protocol``) whose book is empty and still:
    nothing trades unless a test makes it. Closed, with its clock, on leaving."""
    from tradeactors.clock import SystemClock
    from tradeactors.exchange.liquidity import LiquidityConfig
    from tradeactors.exchange.server import SimExchange

    limits = {} if rate_per_second is None else {"rate_per_second": rate_per_second}
    clock = SystemClock()
    exchange = SimExchange(
        instrument,
        clock,
        seed=seed,
        interval=0.02,
        keys=keys if keys is not None else {"demo": SECRET},
        **limits,
        liquidity=LiquidityConfig(limit_rate=0, cancel_rate=0, market_rate=0, depth_ticks=0),
        protocol=protocol,
    ).start()
    try:
        yield exchange
    finally:
        exchange.close()
        clock.close()


def gateway_started(system: TradingSystem, incarnation: int) -> threading.Event:
    """Set once the system's gateway has started its ``incarnation``-th incarnation (or later)."""
    from tradeactors.supervision import ActorStarted

    started = threading.Event()

    def on_event(event: object) -> None:
        if (
            isinstance(event, ActorStarted)
            and event.path == system.gateway_path
            and event.incarnation >= incarnation
        ):
            started.set()

    system.tree.subscribe(on_event)
    return started
