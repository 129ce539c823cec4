"""The instrument comes from the venue at start: Binance's exchangeInfo, Kraken's AssetPairs.

Against the simulated exchange speaking Binance (remote, and embedded) over real
sockets, and small HTTP servers for answers the simulator never gives (malformed,
Kraken's). One GET before the tree starts; the config's steps, where given, must fit the
venue's; anything wrong is one `ConfigError` and nothing is left running.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from trading_helpers import (
    SECRET,
    TradingEvents,
    config_for,
    still_exchange,
    wait_open_at_venue,
)

from tradeactors.config import Config, VenueConfig
from tradeactors.core.instrument import Instrument
from tradeactors.core.messages import OrderUpdate, Side, SubmitOrder, VenueStatus
from tradeactors.errors import ConfigError
from tradeactors.trading.system import TradingSystem
from tradeactors.venues import binance
from tradeactors.venues.adapter import register_venue

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision

SYMBOL = "ETHUSDT"
# What the venue serves: a lot finer than the embedded defaults', and order limits.
VENUE_INSTRUMENT = Instrument(
    venue="binance",
    symbol=SYMBOL,
    tick_size="0.01",
    lot_size="0.0001",
    min_quantity="0.001",
    max_quantity="9000",
    min_notional="5",
)
PRICE = 100_000  # ticks: 1000.00, nowhere near the (empty) book


@pytest.fixture
def venue() -> Iterator[SimExchange]:
    """The simulated exchange speaking Binance for ETHUSDT, with a still, empty book."""
    with still_exchange(VENUE_INSTRUMENT, protocol="binance", seed=3) as exchange:
        yield exchange


@pytest.fixture
def systems(monkeypatch) -> Iterator[Callable[[Config], TradingSystem]]:
    """Make systems (the secret in the environment); each started one is stopped."""
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    made: list[TradingSystem] = []

    def make(config: Config) -> TradingSystem:
        system = TradingSystem(config)
        made.append(system)
        return system

    yield make
    for system in made:
        try:
            running = system.tree.running
        except RuntimeError:  # never started
            continue
        if running:
            system.stop(timeout=10)


def _config(venue: SimExchange | None = None, **fields: Any) -> Config:
    """Kind binance for ETHUSDT against ``venue`` (None: the embedded exchange).

    The steps are left out unless ``fields`` give them (a sim config's are the simulator's).
    """
    base = (
        config_for(venue, risk={"max_order_quantity": None, "max_position": None})
        if venue
        else config_for_embedded()
    )
    values = msgspec.structs.asdict(base.venue)
    del values["tick_size"], values["lot_size"]
    values.update({"kind": "binance", "name": "binance", "symbol": SYMBOL, **fields})
    return msgspec.structs.replace(base, venue=VenueConfig(**values))


def config_for_embedded() -> Config:
    return msgspec.convert(
        {"strategy": {"name": "none"}, "killswitch": {"stale_after": None}}, Config
    )


def _submit(system: TradingSystem, quantity: int) -> None:
    system.submit(
        SubmitOrder(
            client_order_id=system.new_order_id(),
            venue="binance",
            instrument=SYMBOL,
            side=Side.BUY,
            price=PRICE,
            quantity=quantity,
        )
    )


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def http_answer() -> Iterator[Callable[[int, bytes], str]]:
    """Serve one canned answer (status, body) to every GET; returns the base URL."""
    servers: list[http.server.ThreadingHTTPServer] = []
    threads: list[threading.Thread] = []

    def serve(status: int, body: bytes) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, name="test-http")
        thread.start()
        servers.append(server)
        threads.append(thread)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()
    for thread in threads:
        thread.join(timeout=10)


class TestFromTheVenue:
    """Steps left out: the venue's own, with its order limits."""

    def test_the_instrument_is_the_venue_s_and_orders_go_out_in_its_lot(self, venue, systems):
        system = systems(_config(venue))
        assert system.instrument.lot_size == "0.001"  # the simulator's, until asked
        system.start(timeout=20)
        assert system.instrument == msgspec.structs.replace(
            VENUE_INSTRUMENT, venue="binance", min_price="0.01", max_price="9999999999.99"
        )
        _submit(system, 100)  # 100 lots of 0.0001: 0.01 ETH, 10 USDT
        assert wait_open_at_venue(venue, lambda n: n == 1, timeout=10)
        (order,) = venue.open_orders("demo")
        assert order.remaining == 100  # the venue's lots: the codec speaks the venue's lot

    def test_a_lot_given_as_a_multiple_of_the_venue_s_is_kept_with_the_limits_on_it(
        self, venue, systems
    ):
        system = systems(_config(venue, tick_size="0.01", lot_size="0.001")).start(timeout=20)
        instrument = system.instrument
        assert (instrument.tick_size, instrument.lot_size) == ("0.01", "0.001")
        assert (instrument.min_quantity, instrument.max_quantity) == ("0.001", "9000.000")
        assert instrument.min_notional == "5"
        _submit(system, 10)  # 10 lots of 0.001: 100 of the venue's
        assert wait_open_at_venue(venue, lambda n: n == 1, timeout=10)
        assert venue.open_orders("demo")[0].remaining == 100

    def test_orders_the_venue_would_refuse_are_denied_by_risk_before_they_leave(
        self, venue, systems
    ):
        system = systems(_config(venue))
        events = TradingEvents()
        system.subscribe(events)
        system.start(timeout=20)
        events.wait_for(VenueStatus, up=True)
        _submit(system, 5)  # 0.0005 ETH: below the venue's 0.001
        _submit(system, 49)  # 0.0049 ETH at 1000.00: 4.90 USDT, below its 5
        _submit(system, 50)  # 5.00 USDT exactly: the venue takes it
        denied = events.wait_for(OrderUpdate, count=2, status="denied")
        assert [u.reason for u in denied] == ["venue_min_quantity", "venue_min_notional"]
        assert wait_open_at_venue(venue, lambda n: n == 1, timeout=10)
        (order,) = venue.open_orders("demo")
        assert order.remaining == 50  # only the order within the filters reached the venue

    def test_the_embedded_exchange_speaking_binance_is_asked_too(self, systems):
        system = systems(_config()).start(timeout=20)
        assert system.exchange is not None
        instrument = system.instrument
        assert (instrument.tick_size, instrument.lot_size) == ("0.01", "0.001")
        # limits only exchangeInfo says: what the embedded exchange enforces
        assert (instrument.min_quantity, instrument.max_price) == ("0.001", "9999999999.99")


class TestRefused:
    """A step that does not fit, an unreachable or a wrong answer: one error, nothing runs."""

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            (
                {"tick_size": "0.1"},
                (
                    '[venue] tick_size "0.1" is not the tick of ETHUSDT at binance: the venue\'s '
                    'is "0.01" (exchangeInfo from {rest}/api/v3/exchangeInfo?symbol=ETHUSDT); '
                    "leave tick_size out to take the venue's"
                ),
            ),
            (
                {"lot_size": "0.00015"},
                (
                    '[venue] lot_size "0.00015" does not fit ETHUSDT at binance: the venue\'s lot '
                    'is "0.0001" (exchangeInfo from {rest}/api/v3/exchangeInfo?symbol=ETHUSDT); '
                    "give a whole multiple of it, or leave lot_size out to take the venue's"
                ),
            ),
            (
                {"lot_size": "10000"},
                (
                    '[venue] lot_size "10000" is above the largest quantity of ETHUSDT at '
                    'binance, "9000" (exchangeInfo from {rest}/api/v3/exchangeInfo?symbol=ETHUSDT)'
                ),
            ),
        ],
        ids=["tick", "lot", "lot_above_max"],
    )
    def test_a_step_that_does_not_fit_the_venue_s_names_both(self, venue, systems, fields, message):
        system = systems(_config(venue, **fields))
        with pytest.raises(ConfigError) as raised:
            system.start(timeout=20)
        assert str(raised.value) == message.format(rest=venue.http_url)
        with pytest.raises(RuntimeError, match="not started"):
            _ = system.tree

    def test_a_symbol_the_venue_does_not_list_is_refused_in_the_venue_s_words(self, venue, systems):
        system = systems(_config(venue, symbol="BTCUSDT"))
        with pytest.raises(ConfigError) as raised:
            system.start(timeout=20)
        assert str(raised.value) == (
            f"cannot get exchangeInfo from {venue.http_url}/api/v3/exchangeInfo?symbol=BTCUSDT: "
            'HTTP 400 {"code":-1121,"msg":"Invalid symbol."}'
        )

    def test_an_unreachable_venue_is_one_error(self, venue, systems):
        rest = f"http://127.0.0.1:{_unused_port()}"
        system = systems(_config(venue, rest_url=rest))
        with pytest.raises(
            ConfigError, match=r"^cannot get exchangeInfo from http://127\.0\.0\.1:"
        ):
            system.start(timeout=20)
        with pytest.raises(RuntimeError, match="not started"):
            _ = system.tree

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"<html>maintenance</html>", "not a usable answer: JSON is malformed"),
            (b'{"symbols": []}', "not a usable answer: 'ETHUSDT' is not in the exchangeInfo"),
        ],
        ids=["not_json", "symbol_missing"],
    )
    def test_a_malformed_answer_is_one_error_never_a_guess(
        self, venue, systems, http_answer, body, reason
    ):
        rest = http_answer(200, body)
        system = systems(_config(venue, rest_url=rest))
        with pytest.raises(ConfigError) as raised:
            system.start(timeout=20)
        where = f"exchangeInfo from {rest}/api/v3/exchangeInfo?symbol=ETHUSDT"
        assert str(raised.value).startswith(f"{where}: {reason}")

    def test_a_venue_kind_that_publishes_no_instrument_needs_both_steps(self):
        class _Adapter:  # a venue a host registers: Binance's codecs, no metadata source
            kind = "no-metadata"
            market_data = binance.ADAPTER.market_data
            order_entry = staticmethod(binance.ADAPTER.order_entry)

        register_venue(_Adapter(), replace=True)
        config = Config(venue=VenueConfig(kind="no-metadata", lot_size="0.001"))
        with pytest.raises(ConfigError, match=r"^\[venue\] tick_size and lot_size are needed"):
            TradingSystem(config)


ASSET_PAIRS = msgspec.json.encode(
    {
        "error": [],
        "result": {
            "XXBTZUSD": {
                "altname": "XBTUSD",
                "wsname": "XBT/USD",
                "pair_decimals": 1,
                "lot_decimals": 8,
                "tick_size": "0.1",
                "ordermin": "0.00005",
                "costmin": "0.5",
            }
        },
    }
)


class TestKraken:
    """Kraken's instrument comes from AssetPairs (all pairs; ours found by its v2 symbol)."""

    def _kraken(self, rest: str, **fields: Any) -> Config:
        return msgspec.convert(
            {
                "venue": {
                    "kind": "kraken",
                    "name": "kraken",
                    "symbol": "BTC/USD",
                    "trade_url": f"ws://127.0.0.1:{_unused_port()}/v2",  # never reached
                    "stream_url": f"ws://127.0.0.1:{_unused_port()}/v2",
                    "rest_url": rest,
                    "secret_env": "TRADEACTORS_TEST_SECRET",
                    **fields,
                },
                "strategy": {"name": "none"},
            },
            Config,
        )

    def test_a_tick_that_is_not_the_pair_s_names_asset_pairs_tick(self, systems, http_answer):
        rest = http_answer(200, ASSET_PAIRS)
        system = systems(self._kraken(rest, tick_size="0.01", lot_size="0.0001"))
        with pytest.raises(ConfigError) as raised:
            system.start(timeout=20)
        assert str(raised.value) == (
            '[venue] tick_size "0.01" is not the tick of BTC/USD at kraken: the venue\'s is '
            f'"0.1" (AssetPairs from {rest}/0/public/AssetPairs); leave tick_size out to take '
            "the venue's"
        )

    def test_kraken_s_error_answer_is_one_error_in_its_words(self, systems, http_answer):
        rest = http_answer(200, b'{"error":["EGeneral:Temporary lockout"],"result":{}}')
        system = systems(self._kraken(rest))
        with pytest.raises(ConfigError, match=r"not a usable answer: .*EGeneral:Temporary lockout"):
            system.start(timeout=20)


def test_run_against_an_unreachable_venue_says_so_in_one_line(tmp_path: Path):
    port = _unused_port()
    (tmp_path / "binance.toml").write_text(
        "[venue]\n"
        'kind = "binance"\n'
        'name = "binance"\n'
        'symbol = "ETHUSDT"\n'
        'secret_env = "TRADEACTORS_TEST_SECRET"\n'
        f'trade_url = "ws://127.0.0.1:{port}/ws-api/v3"\n'
        f'stream_url = "ws://127.0.0.1:{port}/stream"\n'
        f'rest_url = "http://127.0.0.1:{port}"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors", "run", "--config", "binance.toml"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        env={**os.environ, "TRADEACTORS_TEST_SECRET": SECRET},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith(
        f"tradeactors run: cannot get exchangeInfo from http://127.0.0.1:{port}/api/v3/"
        "exchangeInfo?symbol=ETHUSDT: "
    )
