"""Round-trip order latency to the simulated exchange over loopback: place -> reply.

A websocket-client session logs on and places post-only limit orders far from the
touch (so they rest and never trade), each followed by its cancel; it times
place -> reply (the accepted report is pushed just before it) and cancel -> reply.
The exchange runs in the same process on its own threads, with background liquidity
stepping every 50 ms. Baseline in the same run: a websocket echo server on loopback
(the transport's floor).

    python bench/bench_order_latency.py [--orders N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

import websocket
from websockets.sync.server import ServerConnection, serve

from tradeactors.clock import SystemClock
from tradeactors.core.instrument import Instrument
from tradeactors.exchange.orderentry import sign
from tradeactors.exchange.server import SimExchange
from tradeactors.observability import configure_logging

RESULTS = Path(__file__).resolve().parent / "results"
SIM = Instrument(venue="sim", symbol="SIMUSDT", tick_size="0.01", lot_size="0.001")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def round_trip(ws: websocket.WebSocket, payload: dict[str, object]) -> float:
    started = time.perf_counter_ns()
    ws.send(json.dumps(payload))
    while True:
        message = json.loads(ws.recv())
        if message.get("id") == payload["id"]:
            return (time.perf_counter_ns() - started) / 1e3
        # pushed execution reports arrive before the reply: keep reading


def echo_baseline(count: int) -> list[float]:
    def echo(connection: ServerConnection) -> None:
        for message in connection:
            connection.send(message)

    server = serve(echo, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.socket.getsockname()[1]}/")
    try:
        return [round_trip(ws, {"id": i, "op": "echo"}) for i in range(count)]
    finally:
        ws.close()
        server.shutdown()
        thread.join(10)


def order_round_trips(count: int) -> tuple[list[float], list[float]]:
    clock = SystemClock()
    venue = SimExchange(
        SIM, clock, seed=1, keys={"bench": "bench-secret"}, rate_per_second=1e6
    ).start()
    ws = websocket.create_connection(venue.trade_url)
    try:
        stamp = time.time_ns() // 1_000_000  # the logon's timestamp window (docs/protocol.md)
        round_trip(ws, {"id": "logon", "op": "logon", "api_key": "bench", "timestamp": stamp,
                        "nonce": "n", "signature": sign("bench-secret", stamp, "n")})  # fmt: skip
        bid, _ = venue.best()
        price = SIM.format_price((bid or 100_000) - 2_000)
        places, cancels = [], []
        for i in range(count):
            place = {"id": f"p{i}", "op": "place", "client_order_id": f"b{i}", "side": "buy",
                     "quantity": "0.001", "price": price, "post_only": True}  # fmt: skip
            places.append(round_trip(ws, place))
            (order,) = [o for o in venue.open_orders("bench") if o.client_order_id == f"b{i}"]
            cancels.append(
                round_trip(ws, {"id": f"c{i}", "op": "cancel", "order_id": order.order_id})
            )
        return places, cancels
    finally:
        ws.close()
        venue.close()
        clock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    args = parser.parse_args()
    configure_logging(level="critical", json=True, stream=Path("/dev/null").open("w"))  # noqa: SIM115
    echo_baseline(200)  # warm-up
    echo = echo_baseline(args.orders)
    order_round_trips(200)  # warm-up
    places, cancels = order_round_trips(args.orders)
    rows = {"websocket echo (baseline)": echo, "place -> reply": places, "cancel -> reply": cancels}
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "orders": args.orders,
        "us": {
            name: {
                "p50": percentile(v, 0.5),
                "p99": percentile(v, 0.99),
                "mean": statistics.mean(v),
            }
            for name, v in rows.items()
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "order_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, stats in result["us"].items():  # type: ignore[union-attr]
        print(f"{name:<28} p50 {stats['p50']:8.1f} us   p99 {stats['p99']:8.1f} us")


if __name__ == "__main__":
    main()
