"""The ``tradeactors`` command.

The runtime is chosen before anything imports pykka, so this module imports only
the standard library at the top.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tradeactors._state import LiveRun
    from tradeactors.config import Config, VenueConfig
    from tradeactors.core.instrument import Instrument
    from tradeactors.exchange.liquidity import LiquidityConfig

__all__ = ["main"]

_RUNTIME_HELP = "threads: an OS thread per actor; gevent: greenlets (monkey-patches the process)"
_LOG_LEVEL_HELP = "lowest level of the log lines written to stderr"
_STRATEGY_HELP = (
    "market_maker, momentum, vwap, or your own class as package.module:Class (imported "
    "with the current directory first on sys.path)"
)
_PARAM_HELP = "a strategy parameter (repeatable)"
_STATE_DIR_HELP = (
    "the state directory, where each run leaves its URLs, pid and control token "
    "(default: $XDG_STATE_HOME/tradeactors, or ~/.local/state/tradeactors)"
)


class _HelpFormatter(argparse.HelpFormatter):
    """Ends an option's help with its default, when it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "(default" in text
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake as one line (not the usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one statement per option
    parser = _Parser(
        prog="tradeactors",
        description="Low-latency trading systems as supervised actors.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (by default: one line, exit 2)",
    )
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser(
        "run",
        formatter_class=_HelpFormatter,
        help="run the trading tree (against the embedded simulated exchange by default)",
        description=(
            "Start the simulated exchange (unless the config names a venue) and the "
            "trading tree: market data, the built-in market maker, risk, order manager, "
            "gateway and kill switch, supervised. Shows a status line every second; after "
            "--duration or on Ctrl-C it halts, cancels everything and prints a summary with "
            "the orders still open at the venue. Exit status 0 if none is. The run's URLs, pid "
            "and control token are kept in its directory under --state-dir, where `top`, "
            "`status`, `kill` and `reset` find the latest live run when given no --url; on a "
            "terminal its JSON log lines go there too (log.jsonl) and warnings and errors are "
            "shown as one line each."
        ),
    )
    run.add_argument("--config", help="TOML file (default: the embedded defaults)")
    run.add_argument(
        "--runtime", choices=("threads", "gevent"), default="threads", help=_RUNTIME_HELP
    )
    run.add_argument("--duration", type=float, help="seconds to trade (overrides run.duration)")
    run.add_argument("--strategy", help=_STRATEGY_HELP + "; replaces [strategy] of the config")
    run.add_argument("--param", action="append", default=[], metavar="K=V", help=_PARAM_HELP)
    run.add_argument("--control-port", type=_port, default=0, help="control endpoint port (0: any)")
    run.add_argument(
        "--metrics-port",
        type=_port,
        help="Prometheus endpoint port, 0: any (default: [metrics] port of the config, 0)",
    )
    run.add_argument("--state-dir", metavar="DIR", help=_STATE_DIR_HELP)
    run.add_argument(
        "--journal",
        metavar="FILE",
        help="the journal to keep and to recover from if it holds a previous run "
        "(overrides [journal] path; default: journal.sqlite in the run's directory, new)",
    )
    run.add_argument(
        "--role",
        choices=("all", "market-data", "execution", "strategy"),
        help="what this process runs of a system on several hosts (overrides [bus] role; "
        "all: the whole tree here); every role but all needs --bus (docs/bus.md)",
    )
    run.add_argument(
        "--bus",
        metavar="URL",
        help="the Redis the hosts talk through, redis://host:port/db (overrides [bus] url)",
    )
    run.add_argument(
        "--host-id",
        metavar="NAME",
        help="this host's name on the bus (overrides [bus] host_id; default: the role's)",
    )
    run.add_argument(
        "--host-strategies",
        metavar="NAME[,NAME]",
        help="with --role strategy: which of the config's strategies this host runs "
        "(overrides [bus] strategies; default: all)",
    )
    run.add_argument(
        "--pin-cpu",
        type=int,
        metavar="N",
        help="run the process on CPU N only (threads runtime: handoffs between threads on "
        "one core are cheaper, see bench/results/tick_to_trade.md)",
    )
    run.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help=_LOG_LEVEL_HELP,
    )
    cluster = commands.add_parser(
        "cluster",
        formatter_class=_HelpFormatter,
        help="run a system on several processes over Redis on this machine (a demo)",
        description=(
            "Start redis-server (the system's) on a free loopback port, the simulated "
            "exchange as its own process, and one `tradeactors run --role ...` per role: "
            "market data, execution and two strategy hosts with a market maker each. Prints "
            "where each is; on Ctrl-C (or after --duration) stops them all, the execution "
            "host after the others, and says what is left open at the venue (docs/bus.md)."
        ),
    )
    cluster.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    cluster.add_argument(
        "--runtime", choices=("threads", "gevent"), default="threads", help=_RUNTIME_HELP
    )
    cluster.add_argument(
        "--dir", metavar="DIR", help="where its configs and logs go (default: a new one in /tmp)"
    )
    demo = commands.add_parser(
        "demo",
        formatter_class=_HelpFormatter,
        help="run the supervision-only example tree (crashes and lossless restarts)",
        description=(
            "Start the example supervision tree: a ticker sends orders to a pricer that "
            "crashes on every Nth one and is restarted without losing the orders queued "
            "behind the crash. Prints a per-actor metrics report and checks the books."
        ),
    )
    demo.add_argument("--config", help="TOML file (default: the embedded defaults)")
    demo.add_argument(
        "--runtime", choices=("threads", "gevent"), default="threads", help=_RUNTIME_HELP
    )
    demo.add_argument("--duration", type=float, help="seconds of traffic (overrides config)")
    demo.add_argument(
        "--print-metrics", action="store_true", help="also print the Prometheus exposition"
    )
    demo.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help=_LOG_LEVEL_HELP,
    )
    backtest = commands.add_parser(
        "backtest",
        formatter_class=_HelpFormatter,
        help="backtest a strategy on a recorded capture (deterministic)",
        description=(
            "Replay a recorded Binance capture through the book code and a built-in "
            "strategy against a simulated venue with latency, queue position and fees; "
            "print the report (PnL, fills, volume, fill ratio, drawdown, orders). The same "
            "inputs give the same report, byte for byte."
        ),
    )
    backtest.add_argument("--data", required=True, help="capture file (replay's formats)")
    backtest.add_argument(
        "--venue", choices=("binance",), default="binance", help="the venue of the capture"
    )
    backtest.add_argument("--strategy", required=True, help=_STRATEGY_HELP)
    backtest.add_argument("--param", action="append", default=[], metavar="K=V", help=_PARAM_HELP)
    backtest.add_argument("--symbol", help="the instrument (default: the capture's first)")
    backtest.add_argument("--tick-size", help="price step (default: known symbols' own)")
    backtest.add_argument("--lot-size", help="size step (default: known symbols' own)")
    backtest.add_argument(
        "--latency-ms", type=float, default=5.0, help="latency of an order, strategy -> venue"
    )
    backtest.add_argument(
        "--response-latency-ms",
        type=float,
        default=5.0,
        help="latency of the venue's response, venue -> strategy",
    )
    backtest.add_argument(
        "--latency-sigma", type=float, default=0.0, help="> 0: log-normal latencies"
    )
    backtest.add_argument("--seed", type=int, default=1, help="of the latency draws")
    backtest.add_argument(
        "--queue",
        choices=("conservative", "probabilistic"),
        default="conservative",
        help="queue position of a resting order: advanced by recorded trades at its price "
        "only (conservative), or also by a share of each size decrease (probabilistic)",
    )
    backtest.add_argument(
        "--maker-fee-bps", type=float, default=1.0, help="fee on maker fills, basis points"
    )
    backtest.add_argument(
        "--taker-fee-bps", type=float, default=5.0, help="fee on taker fills, basis points"
    )
    backtest.add_argument("--json", help="also write the report as JSON to this file")
    backtest.add_argument("--plot", help="also draw mid, fills and PnL to this PNG (matplotlib)")
    backtest.add_argument(
        "--journal",
        metavar="FILE",
        help="also write the run's order journal to this new file (refused if it exists); "
        "read it with `tradeactors journal ... --journal FILE`",
    )
    backtest.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="K=V1,V2,...",
        help="run once per value (repeatable: every combination), one result row each; K "
        "is a strategy parameter or one of latency-ms, response-latency-ms, latency-sigma, "
        "seed, queue, maker-fee-bps, taker-fee-bps",
    )
    backtest.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="processes running a --sweep's combinations (default: the CPUs, at most one "
        "per combination)",
    )
    backtest.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where the capture converted for backtests is kept "
        "(default: $XDG_CACHE_HOME/tradeactors, or ~/.cache/tradeactors)",
    )
    backtest.add_argument(
        "--no-cache",
        action="store_true",
        help="read the capture itself, neither using nor writing the converted one",
    )
    backtest.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help=_LOG_LEVEL_HELP,
    )
    for name, text in (
        ("kill", "trip the kill switch of a running system (HALTED: deny all, cancel all)"),
        ("reset", "reset the kill switch of a running system (an operator's decision)"),
        ("status", "print the status of a running system"),
    ):
        control = commands.add_parser(
            name, help=text, description=text, formatter_class=_HelpFormatter
        )
        _add_run_arguments(control)
        control.add_argument(
            "--json", action="store_true", help="print the answer as JSON (for machines)"
        )
        if name in ("kill", "reset"):
            scope = control.add_mutually_exclusive_group()
            scope.add_argument(
                "--strategy", metavar="NAME", help="only this strategy's scope (strategy:NAME)"
            )
            scope.add_argument(
                "--venue", metavar="NAME", help="only this venue's scope (venue:NAME)"
            )
        if name == "kill":
            control.add_argument(
                "--reason", default="manual kill from the command line", help="why"
            )
            control.add_argument("--reducing", action="store_true", help="REDUCING, not HALTED")
        if name == "reset":
            control.add_argument("--by", required=True, help="who decides")
            control.add_argument("--reason", required=True, help="why")
            control.add_argument("--reducing", action="store_true", help="to REDUCING, not ACTIVE")
            token = control.add_mutually_exclusive_group()
            token.add_argument(
                "--token-file",
                metavar="FILE",
                help="the control token file `tradeactors run` printed (default: "
                "$TRADEACTORS_CONTROL_TOKEN, else the token of the live run with that URL, "
                "from the state directory)",
            )
            token.add_argument(
                "--token", help="the control token itself (other users see it in ps: prefer a file)"
            )
    _strategy_parser(commands)
    _journal_parser(commands)
    replay = commands.add_parser(
        "replay",
        formatter_class=_HelpFormatter,
        help="replay a market-data capture through the feed and book actors",
        description=(
            "Replay recorded frames (cryptofeed or hftbacktest format; several files are "
            "merged by receive time) through the real feed and book actors and print a "
            "summary. With --verify, Kraken books are checked against every checksum and "
            "Binance books against bookTicker; the exit status is 1 on a mismatch or a gap "
            "the capture did not let the book recover from."
        ),
    )
    record = commands.add_parser(
        "record",
        formatter_class=_HelpFormatter,
        help="record a venue's websocket frames (and REST snapshots) to a capture file",
        description=(
            "Connect to a websocket URL, send the given subscription messages, fetch the "
            "given REST URLs (e.g. Binance depth snapshots) and write every frame with its "
            "receive time in ns, in tradeactors' capture format (readable by replay)."
        ),
    )
    record.add_argument(
        "--venue", choices=("binance", "kraken"), required=True, help="the venue recorded"
    )
    record.add_argument("--url", required=True, help="websocket URL")
    record.add_argument("--out", required=True, help="capture file to write")
    record.add_argument("--send", action="append", default=[], help="message to send on connect")
    record.add_argument("--rest", action="append", default=[], help="REST URL to fetch on connect")
    record.add_argument("--duration", type=float, help="seconds to record (default: until closed)")
    record.add_argument("--max-frames", type=int, help="stop after this many frames")
    exchange = commands.add_parser(
        "exchange",
        formatter_class=_HelpFormatter,
        help="run the simulated exchange (market data and order entry) on 127.0.0.1",
        description=(
            "Serve a seeded simulated market in Binance spot's wire format: a combined "
            "websocket stream and the REST depth snapshot, and order entry (docs/protocol.md)."
        ),
    )
    exchange.add_argument(
        "--symbol",
        action="append",
        metavar="SYMBOL[:TICK:LOT]",
        help="an instrument it trades, with its tick and lot size (default: the embedded "
        "defaults' [venue] ones); repeat it for several (default: the one `tradeactors run` "
        "trades, [venue] symbol of the embedded defaults)",
    )
    exchange.add_argument(
        "--seed", type=int, default=1, help="of the simulated market (same seed, same market)"
    )
    exchange.add_argument(
        "--protocol",
        choices=("sim", "binance", "kraken"),
        default="sim",
        help="order entry in the simulator's own protocol (docs/protocol.md), in "
        "Binance spot's WebSocket API (/ws-api/v3, with its user data stream) or in "
        "Kraken spot's WebSocket v2 (/v2, its token from POST /0/private/GetWebSocketsToken; "
        "secrets in base64, as Kraken issues them)",
    )
    exchange.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address it listens on (0.0.0.0: every interface, e.g. in a container)",
    )
    exchange.add_argument("--port", type=int, default=0, help="websocket port (0: pick one)")
    exchange.add_argument("--http-port", type=int, default=0, help="REST port (0: pick one)")
    exchange.add_argument("--duration", type=float, help="seconds to run (default: until ^C)")
    exchange.add_argument(
        "--liquidity",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="the background market's LiquidityConfig (tradeactors.exchange.liquidity), "
        "e.g. market_rate=20 (takers per second) or volatility=5 (ticks per sqrt second); "
        "repeatable",
    )
    exchange.add_argument(
        "--no-cancel-on-disconnect",
        dest="cancel_on_disconnect",
        action="store_false",
        help="protocol sim: ignore the logon's cancel_on_disconnect, so a session that "
        "drops (a killed client) leaves its orders on the book, as at a venue that has "
        "none; only cancel_all_after (the dead-man's switch) cancels them",
    )
    exchange.add_argument(
        "--api-key",
        action="append",
        default=[],
        help="an order-entry account; its secret is read from $TRADEACTORS_SECRET_<KEY>",
    )
    chaos = commands.add_parser(
        "chaos",
        formatter_class=_HelpFormatter,
        help="run a fault scenario against the trading tree and check invariants",
        description=(
            "Run the trading tree against the embedded simulated exchange, inject the "
            "scenario's faults (crash, stop, slow, drop_connection, stall, corrupt_feed, "
            "feed_gap, reject_orders, kill_switch) and print PASS, FAIL or SKIP (nothing "
            "to check) per invariant, whether every fault fired, and each [expect] of the "
            "scenario. Exit status 0 only if nothing failed."
        ),
    )
    chaos.add_argument("scenario", help="scenario TOML (see config/scenarios/)")
    chaos.add_argument(
        "--runtime", choices=("threads", "gevent"), default="threads", help=_RUNTIME_HELP
    )
    chaos.add_argument("--seed", type=int, help="the simulated market's seed (overrides)")
    chaos.add_argument(
        "--venue-kind",
        metavar="KIND",
        help="the protocol the embedded exchange speaks and the gateway uses: sim, binance or "
        "kraken (default: the scenario's [overrides.venue] kind, else sim)",
    )
    chaos.add_argument("--json", help="also write the verdicts as JSON to this file")
    chaos.add_argument("--metrics-port", type=int, help="serve Prometheus here (for top)")
    chaos.add_argument(
        "--log-level",
        default="error",
        choices=("debug", "info", "warning", "error"),
        help=_LOG_LEVEL_HELP,
    )
    top = commands.add_parser(
        "top",
        formatter_class=_HelpFormatter,
        help="live view of a running tree: mailboxes, rates, latencies, kill switch, venues",
        description=(
            "Scrape the Prometheus endpoint of a running `tradeactors run` "
            "every --interval seconds and show, per actor path: state, mailbox depth, "
            "msgs/s, mailbox wait p99, handler p99, restarts and dead letters; and on top "
            "the kill switch, the venues, open orders, fills and positions. Ctrl-C quits."
        ),
    )
    top.add_argument(
        "--url",
        help="the metrics URL `tradeactors run` printed (default: the latest live run's, "
        "from the state directory)",
    )
    top.add_argument("--state-dir", metavar="DIR", help=_STATE_DIR_HELP)
    top.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes")
    top.add_argument(
        "--once", action="store_true", help="print one frame (two scrapes --interval apart), exit"
    )
    top.add_argument(
        "--lease",
        type=float,
        default=3.0,
        help="the bus's lease ([bus] lease): a peer not heard for longer is shown red",
    )
    replay.add_argument("files", nargs="*", help="capture files")
    replay.add_argument(
        "--synthetic",
        type=int,
        metavar="SEED",
        help="replay a seeded synthetic Binance market instead of files",
    )
    replay.add_argument(
        "--diffs", type=int, default=5000, help="with --synthetic: how many depth updates"
    )
    replay.add_argument(
        "--venue",
        choices=("binance", "kraken"),
        required=True,
        help="the venue of the capture (its frame format)",
    )
    replay.add_argument(
        "--verify",
        action="store_true",
        help="check the books against every Kraken checksum or Binance bookTicker",
    )
    replay.add_argument(
        "--pace",
        choices=("full", "recorded"),
        default="full",
        help="full speed, or the recorded gaps between frames (divided by --speed)",
    )
    replay.add_argument("--speed", type=float, default=1.0, help="with --pace recorded")
    replay.add_argument(
        "--runtime", choices=("threads", "gevent"), default="threads", help=_RUNTIME_HELP
    )
    replay.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help=_LOG_LEVEL_HELP,
    )
    return parser


def _journal_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    """``tradeactors journal orders|fills|events|verify``: read a run's journal."""
    journal = commands.add_parser(
        "journal",
        formatter_class=_HelpFormatter,
        help="query, export and verify the order and fill journal of a run",
        description=(
            "Read the order and fill journal (docs/journal.md): the orders, the fills or "
            "every event, filtered, as a table, CSV or JSON lines; or verify it (replay it "
            "and check its invariants, exit 1 on a FAIL). Default: the journal of the "
            "latest run in the state directory."
        ),
    )
    actions = journal.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("orders", "each order: first seen, owner, strategy, price, quantity, last status"),
        ("fills", "each fill, with the venue's execution id"),
        ("events", "every event recorded, in order"),
        ("verify", "replay the journal and check its invariants (exit 1 on a FAIL)"),
    ):
        sub = actions.add_parser(
            action, help=text, description=text, formatter_class=_HelpFormatter
        )
        sub.add_argument(
            "--journal",
            metavar="FILE",
            help="the journal file (default: the latest run's, from the state directory)",
        )
        sub.add_argument("--state-dir", metavar="DIR", help=_STATE_DIR_HELP)
        if action == "verify":
            continue
        sub.add_argument("--strategy", help="only this strategy's orders")
        sub.add_argument("--instrument", help="only this instrument (its symbol)")
        sub.add_argument(
            "--since", metavar="TIME", help="from TIME (ISO 8601, e.g. 2026-12-04T10:00:00Z)"
        )
        sub.add_argument("--until", metavar="TIME", help="up to TIME (ISO 8601), inclusive")
        sub.add_argument(
            "--status", help="only orders (or events) in this status, e.g. filled, cancelled"
        )
        form = sub.add_mutually_exclusive_group()
        form.add_argument("--csv", action="store_true", help="CSV with a header line")
        form.add_argument("--json", action="store_true", help="one JSON object per line")


def _strategy_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    """``tradeactors strategy add|remove|list``: a running system's strategies."""
    strategy = commands.add_parser(
        "strategy",
        formatter_class=_HelpFormatter,
        help="add, remove or list the strategies of a running system",
        description=(
            "Add a strategy to a running system (`tradeactors run`), remove one (its orders "
            "are cancelled first) or list them, through its control endpoint. Adding and "
            "removing need the control token, found as `tradeactors reset` finds it."
        ),
    )
    actions = strategy.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("add", "start a strategy in a running system, under a supervisor of its own"),
        ("remove", "cancel a strategy's orders, then stop it and free its name"),
        ("list", "list the strategies of a running system"),
    ):
        sub = actions.add_parser(
            action, help=text, description=text, formatter_class=_HelpFormatter
        )
        _add_run_arguments(sub)
        if action == "list":
            sub.add_argument("--json", action="store_true", help="print JSON (for machines)")
            continue
        token = sub.add_mutually_exclusive_group()
        token.add_argument(
            "--token-file",
            metavar="FILE",
            help="the control token file `tradeactors run` printed (default: "
            "$TRADEACTORS_CONTROL_TOKEN, else the token of the live run with that URL, "
            "from the state directory)",
        )
        token.add_argument(
            "--token", help="the control token itself (other users see it in ps: prefer a file)"
        )
        sub.add_argument("--name", required=True, help="the strategy's name (unique)")
        if action == "remove":
            sub.add_argument(
                "--timeout",
                type=float,
                default=10.0,
                help="seconds its orders have to be cancelled before it is stopped anyway",
            )
            continue
        sub.add_argument(
            "--class",
            dest="strategy_class",
            required=True,
            metavar="CLASS",
            help="market_maker, momentum, vwap, or your own class as package.module:Class "
            "(imported by the running system, from its sys.path: the run's directory first)",
        )
        sub.add_argument(
            "--instrument",
            action="append",
            metavar="SYMBOL",
            help="a configured symbol it trades (repeatable; the first is its primary; "
            "default: the first instrument)",
        )
        sub.add_argument("--param", action="append", default=[], metavar="K=V", help=_PARAM_HELP)
        sub.add_argument(
            "--intensity",
            type=int,
            help="restarts allowed within --period (default: [supervision] intensity)",
        )
        sub.add_argument("--period", type=float, help="seconds (default: [supervision] period)")
        sub.add_argument(
            "--limit",
            action="append",
            default=[],
            metavar="K=V",
            help="one of its own risk limits, a key of [[strategies]] risk: max_position, "
            "max_open_orders, max_order_quantity (lots or counts, integers >= 1), "
            "max_order_notional, max_gross_exposure, max_loss (quote currency, > 0) "
            "(repeatable)",
        )


def _port(text: str) -> int:
    """A TCP port for argparse: 0 to 65535 (one line naming the flag's problem)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:  # noqa: PLR2004 - the TCP port range
        raise argparse.ArgumentTypeError(f"port {port} is out of range 0..65535")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tradeactors`` console script.

    A mistake (a `TradeActorsError`, or an `OSError` such as a missing file or a port
    in use) that a command did not report itself is one line on stderr and exit 2;
    ``--debug`` shows the traceback instead.
    """
    args = _parser().parse_args(argv)
    if args.command in ("run", "backtest", "chaos"):
        _current_directory_on_path()
    try:
        return _main(args)
    except Exception as exc:
        from tradeactors.errors import TradeActorsError  # noqa: PLC0415 - after the runtime

        if args.debug or not isinstance(exc, TradeActorsError | OSError):
            raise
        what = f"tradeactors {args.command}" if args.command else "tradeactors"
        lines = _error_lines(exc)
        for line in lines[:-1]:
            print(f"{what}: {line[:500]}", file=sys.stderr)
        print(f"{what}: {lines[-1][:500]} (--debug shows the traceback)", file=sys.stderr)
        return 2


def _current_directory_on_path() -> None:
    """Put the current directory first on ``sys.path``, as ``python -m`` does.

    So that ``--strategy mypackage.module:MyStrategy`` (or ``[strategy] name``) finds the
    user's package where the command is run, whether it was started as the
    ``tradeactors`` script or as ``python -m tradeactors``.
    """
    from pathlib import Path  # noqa: PLC0415

    cwd = str(Path.cwd())
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def _with_strategy(args: argparse.Namespace, config: Config) -> Config:
    """``config`` with ``--strategy`` and ``--param`` applied (checked: its errors raise).

    ``--strategy`` replaces ``[strategy]``: its parameters are the ``--param`` given
    (none: the strategy's own defaults). ``--param`` alone adds to (or overrides) the
    config's ``[strategy.params]``.
    """
    import msgspec  # noqa: PLC0415

    from tradeactors.config import StrategyConfig  # noqa: PLC0415
    from tradeactors.strategy import parse_params, strategy_factory  # noqa: PLC0415

    if args.strategy is None and not args.param:
        return config
    params = parse_params(args.param)
    if args.strategy is None:
        params = {**config.strategy.params, **params}
    name = args.strategy or config.strategy.name
    if name != "none":
        strategy_factory(name, params)()  # its errors as one line, not as a config key's
    return msgspec.structs.replace(config, strategy=StrategyConfig(name=name, params=params))


def _with_bus(args: argparse.Namespace, config: Config) -> Config:
    """``config`` with ``--role``, ``--bus``, ``--host-id``, ``--host-strategies`` in ``[bus]``.

    Raises:
        InvalidConfigError: a bad URL or host id, or a role other than ``all`` without a bus.

    """
    import msgspec  # noqa: PLC0415

    strategies = None
    if args.host_strategies is not None:
        strategies = tuple(name.strip() for name in args.host_strategies.split(",") if name.strip())
    given = {
        key: value
        for key, value in (
            ("role", args.role),
            ("url", args.bus),
            ("host_id", args.host_id),
            ("strategies", strategies),
        )
        if value is not None
    }
    if not given:
        return config
    bus = msgspec.structs.replace(config.bus, **given)
    bus.check()
    return msgspec.structs.replace(config, bus=bus)


def _error_lines(exc: BaseException) -> list[str]:
    """The message of ``exc`` on one line; a config error's, one line per wrong key.

    A child that failed to start is told by its innermost cause that is one of ours
    (e.g. the gateway's refused logon), not by the chain of wrappers around it.
    """
    from tradeactors.errors import ChildStartError, InvalidConfigError  # noqa: PLC0415

    text = str(exc)
    if isinstance(exc, ChildStartError):
        cause = _innermost_cause(exc)
        if not isinstance(cause, ChildStartError):
            text = f"{exc.path} failed to start: {str(cause) or type(cause).__name__}"
    lines = text.splitlines() if isinstance(exc, InvalidConfigError) else [text]
    return [" ".join(line.split()) for line in lines if line.strip()] or [type(exc).__name__]


def _innermost_cause(exc: BaseException) -> BaseException:
    """The last `TradeActorsError` down ``exc``'s ``__cause__`` chain (``exc`` at least)."""
    from tradeactors.errors import TradeActorsError  # noqa: PLC0415

    innermost, seen = exc, {id(exc)}
    cause = exc.__cause__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, TradeActorsError):
            innermost = cause
        cause = cause.__cause__
    return innermost


def _print_error(what: str, exc: BaseException) -> None:
    for line in _error_lines(exc):
        print(f"{what}: {line}", file=sys.stderr)


def _main(args: argparse.Namespace) -> int:  # noqa: C901, PLR0911, PLR0912 - a return per command
    if args.version:
        from tradeactors import __version__  # noqa: PLC0415

        print(__version__)
        return 0
    if args.command == "record":
        return _record(args)
    if args.command == "exchange":
        return _exchange(args)
    if args.command in ("kill", "reset", "status"):
        return _control(args)
    if args.command == "strategy":
        return _strategy(args)
    if args.command == "journal":
        from tradeactors.journal._cli import journal_command  # noqa: PLC0415

        return journal_command(args, sys.stdout)
    if args.command == "cluster":
        from tradeactors._cluster import run_cluster  # noqa: PLC0415

        return run_cluster(
            sys.stdout, duration=args.duration or 0.0, runtime=args.runtime, directory=args.dir
        )
    if args.command == "top":
        from tradeactors.top import main_top  # noqa: PLC0415

        return main_top(args)
    if args.command == "backtest":
        from tradeactors.backtest.cli import backtest_command  # noqa: PLC0415

        return backtest_command(args)
    if args.command not in ("run", "demo", "replay", "chaos"):
        _parser().print_help()
        return 2
    if args.runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()
    import msgspec  # noqa: PLC0415 - after the runtime is chosen

    from tradeactors._demo import run_demo  # noqa: PLC0415
    from tradeactors.config import load_config  # noqa: PLC0415
    from tradeactors.errors import ConfigError  # noqa: PLC0415
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level=args.log_level)
    if args.command == "replay":
        return _replay(args)
    if args.command == "chaos":
        return _chaos(args)
    try:
        config = load_config(args.config)
        if args.duration is not None:
            section = "demo" if args.command == "demo" else "run"
            config = msgspec.structs.replace(
                config,
                **{
                    section: msgspec.structs.replace(
                        getattr(config, section), duration=args.duration
                    )
                },
            )
        if args.command == "run":
            config = _with_strategy(args, config)
            if args.journal:
                journal = msgspec.structs.replace(config.journal, enabled=True, path=args.journal)
                config = msgspec.structs.replace(config, journal=journal)
            config = _with_bus(args, config)
    except (ConfigError, msgspec.ValidationError) as exc:
        _print_error(f"tradeactors {args.command}", exc)
        return 2
    if args.command == "demo":
        return run_demo(config, sys.stdout, print_metrics=args.print_metrics)
    if args.pin_cpu is not None:
        import os  # noqa: PLC0415

        try:
            os.sched_setaffinity(0, {args.pin_cpu})
        except (OSError, ValueError) as exc:
            print(f"tradeactors: cannot pin to CPU {args.pin_cpu}: {exc}", file=sys.stderr)
            return 2
    return _run(args, config)


def _run(args: argparse.Namespace, config: Config) -> int:
    """``tradeactors run`` once its config is loaded: its run directory, logs, the run."""
    from tradeactors._run import StartInterrupted, run_trading  # noqa: PLC0415
    from tradeactors._state import RunDirectory, state_dir  # noqa: PLC0415
    from tradeactors.backtest.compare import paper_lines  # noqa: PLC0415
    from tradeactors.clock import SystemClock  # noqa: PLC0415
    from tradeactors.errors import ConfigError  # noqa: PLC0415
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    if config.bus.url and config.bus.role == "all":
        print(
            "tradeactors run: role all runs the whole tree in this process, with no bus: give "
            "--role market-data, execution or strategy with a bus (docs/bus.md)",
            file=sys.stderr,
        )
        return 2
    if config.bus.url:
        from tradeactors.bus import check_reachable  # noqa: PLC0415

        check_reachable(config.bus.settings())  # one line and exit 2 if Redis does not answer
    clock = SystemClock()  # only read: no timer, no thread
    run_dir = None
    problem = None
    try:
        run_dir = RunDirectory.create(state_dir(args.state_dir), now_ns=clock.time_ns())
    except OSError as exc:
        where = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)
        if args.state_dir is not None:  # asked for: its problem is the user's to fix
            print(f"tradeactors run: --state-dir {args.state_dir}: {where}", file=sys.stderr)
            return 2
        problem = where  # the default one: run anyway, without it (said in the banner)
    # On a terminal the JSON lines go to the run's log file: never between the status
    # line and the summary; warnings and errors still show, one short line each.
    log_file = run_dir.log_file if run_dir is not None and sys.stderr.isatty() else None
    configure_logging(level=args.log_level, file=log_file)
    try:
        return run_trading(
            config,
            sys.stdout,
            control_port=args.control_port,
            metrics_port=args.metrics_port,
            run_dir=run_dir,
            log_file=log_file,
            state_problem=problem,
            paper_lines=paper_lines,
        )
    except ConfigError as exc:
        _print_error("tradeactors run", exc)
        return 2
    except StartInterrupted as exc:
        print(
            f"tradeactors run: {exc} while starting: stopped, nothing left running", file=sys.stderr
        )
        return exc.exit_code
    finally:
        if run_dir is not None:
            run_dir.close()


def _chaos(args: argparse.Namespace) -> int:
    import msgspec  # noqa: PLC0415

    from tradeactors.chaos import load_scenario, run_scenario, with_venues  # noqa: PLC0415
    from tradeactors.errors import ConfigError  # noqa: PLC0415

    try:
        scenario, config = load_scenario(args.scenario, venue_kind=args.venue_kind)
        if args.seed is not None:
            config = with_venues(config, seed=args.seed)  # each venue's, with [[venues]]
    except ConfigError as exc:
        _print_error("tradeactors chaos", exc)
        return 2
    registry = server = None
    if args.metrics_port is not None:
        from prometheus_client import CollectorRegistry  # noqa: PLC0415

        from tradeactors.observability import serve_metrics  # noqa: PLC0415

        registry = CollectorRegistry()
        server = serve_metrics(registry, port=args.metrics_port)
        print(f"metrics {server.url}", flush=True)
    print(
        f"scenario {scenario.name!r}: {scenario.duration} s, {len(scenario.fault)} fault(s), "
        f"venue kind {config.venue.kind}"
    )
    try:
        verdicts = run_scenario(scenario, config, registry=registry)
    finally:
        if server is not None:
            server.close()
    if args.json:
        with open(args.json, "wb") as out:  # noqa: PTH123 - a user-given path
            out.write(
                msgspec.json.encode(
                    {
                        "scenario": scenario.name,
                        "venue_kind": config.venue.kind,
                        "verdicts": verdicts,
                    }
                )
            )
    return 0 if all(v.passed for v in verdicts) else 1


def _control(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    def fail(message: str) -> int:
        print(f"tradeactors {args.command}: {message}", file=sys.stderr)
        return 2

    run = None
    url: str | None = args.url
    if url is None:
        run, problem = _find_run(args.state_dir, "the control URL")
        if run is None:
            return fail(problem)
        url = run.info.control_url
        if args.command != "status" or args.json:  # say which run this acts on
            print(f"tradeactors {args.command}: {run.describe()} at {url}", file=sys.stderr)
    token = None
    if args.command == "reset":  # kill needs no token: docs/embedding.md says why
        token, problem = _reset_token(args, url)
        if token is None:
            return fail(problem)
    answer, problem = _call_control(args, url, token)
    if problem:
        return fail(problem)
    if args.json:
        print(json.dumps(answer))
        return 0
    lines = _status_lines(answer, url, run) if args.command == "status" else _changed(answer)
    if lines is None:
        return fail(_not_control(url))
    print("\n".join(lines))
    return 0


def _changed(answer: object) -> list[str] | None:
    """What ``kill``/``reset`` print: the scope's state now, and whether it changed."""
    if not isinstance(answer, dict) or "state" not in answer:
        return None
    scope = answer.get("scope")
    state = str(answer.get("scope_state" if scope else "state", "?")).upper()
    what = f"{scope} {state}" if scope else f"kill switch {state}"
    if scope:
        what += f" (kill switch {str(answer['state']).upper()})"
    return [what if answer.get("changed") else f"{what}: unchanged (already so)"]


def _not_control(url: str) -> str:
    return (
        f"{url} is not a tradeactors control endpoint (use the URL after `control` in "
        "`tradeactors run`'s output)"
    )


def _call_control(  # noqa: PLR0911 - a return per failure
    args: argparse.Namespace, url: str, token: str | None, *, timeout: float = 10.0
) -> tuple[object, str]:
    """The endpoint's answer, or None and the one line saying what went wrong."""
    import urllib.error  # noqa: PLC0415

    import msgspec  # noqa: PLC0415

    from tradeactors.trading.control import call_control  # noqa: PLC0415

    try:
        return call_control(url, *_control_request(args), token=token, timeout=timeout), ""
    except urllib.error.HTTPError as exc:
        with exc:
            try:
                error = msgspec.json.decode(exc.read(4096))["error"]
            except (msgspec.DecodeError, TypeError, KeyError):
                return None, f"HTTP {exc.code}: {_not_control(url)}"
        return None, f"refused ({exc.code}): {error}"
    except urllib.error.URLError as exc:
        return None, f"nothing answers at {url}: {exc.reason}"
    except OSError as exc:
        return None, f"nothing answers at {url}: {exc}"
    except msgspec.DecodeError:
        return None, _not_control(url)
    except ValueError as exc:
        return None, str(exc)


def _find_run(given: str | None, what: str) -> tuple[LiveRun | None, str]:
    """The latest live run in the state directory, or None and the line saying so."""
    from tradeactors._state import latest_run, no_live_run, state_dir  # noqa: PLC0415

    try:
        directory = state_dir(given)
    except OSError as exc:
        return None, f"cannot find a run ({exc}): pass --url with {what} `tradeactors run` printed"
    run = latest_run(directory)
    return (run, "") if run is not None else (None, no_live_run(directory, what))


def _status_lines(answer: object, url: str, run: LiveRun | None) -> list[str] | None:
    """``status``'s summary for people; None if ``answer`` is not a system's status."""
    import msgspec  # noqa: PLC0415

    from tradeactors.trading.report import pnl_totals_text, table_lines  # noqa: PLC0415
    from tradeactors.trading.system import Status  # noqa: PLC0415

    try:
        status = msgspec.convert(answer, Status)
    except msgspec.ValidationError:
        return None
    venues = ", ".join(f"{v} {'up' if up else 'DOWN'}" for v, up in status.venues.items())
    symbol = f" ({status.symbol})" if status.symbol else ""
    scopes = answer.get("kill_switch_scopes") if isinstance(answer, dict) else None
    scoped = (
        [
            f"  scope        {scope} {str(state).upper()}"
            for scope, state in scopes.items()
            if scope != "all"
        ]
        if isinstance(scopes, dict)
        else []
    )
    if status.several:  # no one position: counts, PnL per quote, then the table
        return [
            f"{run.describe() + ' at ' if run is not None else ''}{url}",
            f"  kill switch  {status.state.upper()}",
            f"  venues       {venues or '-'}",
            f"  orders       {status.orders} (open {status.open_orders})",
            f"  fills        {status.fills}",
            f"  scopes       {status.counts_text()}",
            f"  PnL          {pnl_totals_text(status.scopes)}",
            f"  restarts     {status.restarts}",
            *scoped,
            *(f"  {line}" for line in table_lines(status.scopes)),
        ]
    return [
        f"{run.describe() + ' at ' if run is not None else ''}{url}",
        f"  kill switch  {status.state.upper()}",
        f"  venues       {venues or '-'}",
        f"  orders       {status.orders} (open {status.open_orders})",
        f"  fills        {status.fills}",
        f"  position     {status.position_text()}{symbol}",
        f"  PnL          {status.pnl_text()}",
        f"  restarts     {status.restarts}",
        *scoped,
        *(f"  {line}" for line in table_lines(status.scopes)),
    ]


def _reset_token(
    args: argparse.Namespace, url: str, what: str = "a reset"
) -> tuple[str | None, str]:
    """The token for ``reset`` (or ``what``), or None and the one line that says why not."""
    from tradeactors._state import state_dir  # noqa: PLC0415
    from tradeactors.errors import ConfigError  # noqa: PLC0415
    from tradeactors.trading.control import (  # noqa: PLC0415
        CONTROL_TOKEN_ENV,
        find_control_token,
    )

    try:
        directory = state_dir(args.state_dir)
    except OSError:
        directory = None
    try:
        token = find_control_token(
            url, token=args.token, token_file=args.token_file, state_dir=directory
        )
    except OSError as exc:
        return None, f"cannot read the control token from {exc.filename}: {exc.strerror}"
    except (ValueError, ConfigError) as exc:
        return None, str(exc)
    if token is None:
        where = f" in {directory}" if directory is not None else ""
        return None, (
            f"{what} needs the control token: no live run{where} serves {url}; pass "
            f"--token-file FILE (the file `tradeactors run` printed) or set ${CONTROL_TOKEN_ENV}"
        )
    return token, ""


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--state-dir``: how a command finds the running system it talks to."""
    parser.add_argument(
        "--url",
        help="the control URL `tradeactors run` printed (default: the latest live run's, "
        "from the state directory)",
    )
    parser.add_argument("--state-dir", metavar="DIR", help=_STATE_DIR_HELP)


def _control_request(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None]:
    if args.command == "strategy":
        return _strategy_request(args)
    scope = {}  # neither: the `all` scope
    if args.command in ("kill", "reset"):
        if args.strategy is not None:
            scope["strategy"] = args.strategy
        if args.venue is not None:
            scope["venue"] = args.venue
    if args.command == "kill":
        state = "reducing" if args.reducing else "halted"
        return "/kill", {"reason": args.reason, "state": state, **scope}
    if args.command == "reset":
        state = "reducing" if args.reducing else "active"
        return "/reset", {"by": args.by, "reason": args.reason, "state": state, **scope}
    return "/status", None


def _exchange_instruments(texts: list[str], defaults: VenueConfig) -> list[Instrument]:
    """``--symbol`` values (``SYMBOL`` or ``SYMBOL:TICK:LOT``) as instruments.

    Raises:
        ValueError: a value that is neither (or an invalid tick or lot).

    """
    from tradeactors.core.instrument import Instrument  # noqa: PLC0415

    instruments: list[Instrument] = []
    for text in texts:
        symbol, *steps = text.split(":")
        if len(steps) not in (0, 2) or not symbol:
            raise ValueError(f"--symbol {text!r}: SYMBOL or SYMBOL:TICK:LOT")
        tick, lot = steps or (defaults.tick_size, defaults.lot_size)
        instruments.append(Instrument(venue="sim", symbol=symbol, tick_size=tick, lot_size=lot))
    return instruments


def _exchange_liquidity(texts: list[str]) -> LiquidityConfig | None:
    """``--liquidity KEY=VALUE`` values as a `LiquidityConfig` (None: none given).

    Raises:
        ValueError: a value that is not ``KEY=VALUE``, an unknown key or a bad value.

    """
    import msgspec  # noqa: PLC0415

    from tradeactors.exchange.liquidity import LiquidityConfig  # noqa: PLC0415

    if not texts:
        return None
    fields: dict[str, str] = {}
    for text in texts:
        key, equals, value = text.partition("=")
        if not equals or not key:
            raise ValueError(f"--liquidity {text!r}: KEY=VALUE")
        fields[key.strip()] = value.strip()
    try:
        return msgspec.convert(fields, LiquidityConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"--liquidity: {exc}") from None


def _strategy(args: argparse.Namespace) -> int:
    """``tradeactors strategy add|remove|list``: one line and exit 2 for every mistake."""
    import json  # noqa: PLC0415

    from tradeactors.errors import ConfigError  # noqa: PLC0415
    from tradeactors.strategy import parse_params  # noqa: PLC0415
    from tradeactors.trading.limits import parse_limit_args  # noqa: PLC0415

    def fail(message: str) -> int:
        print(f"tradeactors strategy {args.action}: {message}", file=sys.stderr)
        return 2

    if args.action == "add":
        try:
            args.params = parse_params(args.param)
            args.limits = parse_limit_args(args.limit)
        except ConfigError as exc:
            return fail(str(exc))
    url, token, problem = _strategy_endpoint(args)
    if url is None:
        return fail(problem)
    # a remove waits for the cancels; an add for the strategy's start
    timeout = args.timeout + 30.0 if args.action == "remove" else 60.0
    answer, problem = _call_control(args, url, token, timeout=timeout)
    if problem:
        return fail(problem)
    if args.action == "list" and args.json:
        print(json.dumps(answer))
        return 0
    lines, status = _strategy_lines(args.action, answer)
    if lines is None:
        return fail(_not_control(url))
    print("\n".join(lines))
    return status


def _strategy_endpoint(args: argparse.Namespace) -> tuple[str | None, str | None, str]:
    """The control URL and (to change strategies) the token; None and why if not found."""
    url: str | None = args.url
    if url is None:
        run, problem = _find_run(args.state_dir, "the control URL")
        if run is None:
            return None, None, problem
        url = run.info.control_url
        print(f"tradeactors strategy: {run.describe()} at {url}", file=sys.stderr)
    if args.action == "list":
        return url, None, ""
    token, problem = _reset_token(args, url, what=f"strategy {args.action}")
    return (url, token, "") if token is not None else (None, None, problem)


def _strategy_request(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None]:
    if args.action == "add":
        body: dict[str, Any] = {"name": args.name, "class": args.strategy_class}
        if args.instrument:
            body["instruments"] = args.instrument
        if args.params:
            body["params"] = args.params
        if args.intensity is not None:
            body["intensity"] = args.intensity
        if args.period is not None:
            body["period"] = args.period
        if args.limits:
            body["risk"] = args.limits
        return "/strategies/add", body
    if args.action == "remove":
        return "/strategies/remove", {"name": args.name, "timeout": args.timeout}
    return "/strategies", None


def _strategy_lines(action: str, answer: object) -> tuple[list[str] | None, int]:
    """What ``strategy ACTION`` prints and its exit status; None: not a system's answer."""
    import msgspec  # noqa: PLC0415

    from tradeactors.trading.system import RemovedStrategy, StrategyInfo  # noqa: PLC0415

    try:
        if action == "remove":
            removed = msgspec.convert(answer, RemovedStrategy)
            if removed.open_orders:
                line = (
                    f"removed strategy {removed.name}; {removed.open_orders} of its orders "
                    "still open (cancels not confirmed in time: see `tradeactors status`)"
                )
                return [line], 1
            return [f"removed strategy {removed.name}: none of its orders open"], 0
        infos = (
            [msgspec.convert(answer, StrategyInfo)]
            if action == "add"
            else msgspec.convert(answer, list[StrategyInfo])
        )
    except msgspec.ValidationError:
        return None, 2
    if action == "add":
        (info,) = infos
        line = (
            f"added strategy {info.name} ({info.strategy}) trading "
            f"{', '.join(info.instruments)}: {info.path}"
        )
        return [line + (f"; limits {_limits_text(info.risk)}" if info.risk else "")], 0
    if not infos:
        return ["no strategies"], 0
    width = max(len(info.name) for info in infos)
    return [
        f"{info.name:<{width}}  {info.state:<8} {', '.join(info.instruments):<20} "
        f"{info.strategy}{' (added)' if info.added else ''}"
        f"{f'  limits {_limits_text(info.risk)}' if info.risk else ''}"
        f"{f'  {info.reason}' if info.reason else ''}"
        for info in infos
    ], 0


def _limits_text(limits: dict[str, float]) -> str:
    """``max_position=20 max_loss=20.5``: a strategy's own limits as ``--limit`` takes them."""
    return " ".join(f"{key}={value:g}" for key, value in limits.items())


def _exchange(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from tradeactors.clock import SystemClock  # noqa: PLC0415
    from tradeactors.config import load_config  # noqa: PLC0415
    from tradeactors.errors import TradeActorsError  # noqa: PLC0415
    from tradeactors.exchange.server import SimExchange  # noqa: PLC0415
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level="warning")
    keys: dict[str, str] = {}
    for key in args.api_key:
        variable = "TRADEACTORS_SECRET_" + "".join(c if c.isalnum() else "_" for c in key.upper())
        secret = os.environ.get(variable)
        if not secret:
            print(
                f"tradeactors exchange: set ${variable} to the secret of {key!r}", file=sys.stderr
            )
            return 2
        keys[key] = secret
    # the instrument `tradeactors run` trades on the embedded defaults, unless told
    defaults = load_config().venue
    try:
        instruments = _exchange_instruments(args.symbol or [defaults.symbol], defaults)
        liquidity = _exchange_liquidity(args.liquidity)
    except (TradeActorsError, ValueError) as exc:
        print(f"tradeactors exchange: {exc}", file=sys.stderr)
        return 2
    instrument, symbol = instruments[0], instruments[0].symbol
    clock = SystemClock()
    try:
        venue = SimExchange(
            instruments,
            clock,
            seed=args.seed,
            host=args.host,
            port=args.port,
            http_port=args.http_port,
            keys=keys,
            protocol=args.protocol,
            liquidity=liquidity,
            cancel_on_disconnect=args.cancel_on_disconnect,
        ).start()
    except (OSError, TradeActorsError) as exc:
        print(f"tradeactors exchange: {exc}", file=sys.stderr)
        clock.close()
        return 2
    print(f"market data: {venue.ws_url}", flush=True)
    print(f"order entry: {venue.trade_url} (accounts: {', '.join(keys) or 'none'})", flush=True)
    for each in venue.instruments:
        print(f"depth snapshot: {venue.http_url}/api/v3/depth?symbol={each}&limit=100", flush=True)
    if args.protocol == "binance":
        print(f"exchange info: {venue.http_url}/api/v3/exchangeInfo?symbol={symbol}", flush=True)
    if args.protocol == "kraken":
        from tradeactors.exchange.kraken_api import (  # noqa: PLC0415
            ASSET_PAIRS_PATH,
            TOKEN_PATH,
            pair_names,
        )

        print(f"websockets token: {venue.http_url}{TOKEN_PATH} (POST, signed)", flush=True)
        pair = pair_names(instrument).altname
        print(f"asset pairs: {venue.http_url}{ASSET_PAIRS_PATH}?pair={pair}", flush=True)
    try:
        threading.Event().wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        venue.close()
        clock.close()
    return 0


def _record(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    import websocket  # noqa: PLC0415

    from tradeactors.clock import SystemClock  # noqa: PLC0415
    from tradeactors.venues.recording import Recorder  # noqa: PLC0415

    if not args.url.startswith(("ws://", "wss://")):
        print(
            f"tradeactors record: --url {args.url!r} is not a ws:// or wss:// URL", file=sys.stderr
        )
        return 2
    try:
        out = Path(args.out).open("w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:  # the file's problem, not the venue's
        print(f"tradeactors record: --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    clock = SystemClock()
    recorder = Recorder(args.url, clock, send=args.send, rest=args.rest)
    try:
        with out:
            written = recorder.record(out, duration=args.duration, max_frames=args.max_frames)
    except (OSError, ValueError, websocket.WebSocketException) as exc:
        if not recorder.frames_written:  # a failed recording leaves no empty capture behind
            Path(args.out).unlink(missing_ok=True)
        print(f"tradeactors record: {args.url}: {exc}", file=sys.stderr)
        return 2
    finally:
        clock.close()
    print(f"recorded {written} frames from {args.venue} to {args.out}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from tradeactors.errors import TradeActorsError  # noqa: PLC0415 - after the runtime
    from tradeactors.replay import run_replay  # noqa: PLC0415
    from tradeactors.venues.capture import CaptureFormatError  # noqa: PLC0415

    verify: bool = args.verify
    if not args.speed > 0:
        print("tradeactors replay: --speed must be positive", file=sys.stderr)
        return 2
    if (args.synthetic is None) == (not args.files):
        print("tradeactors replay: give capture files or --synthetic SEED", file=sys.stderr)
        return 2
    if args.synthetic is not None and args.venue != "binance":
        print("tradeactors replay: --synthetic makes a Binance market", file=sys.stderr)
        return 2
    frames = None
    if args.synthetic is not None:
        from tradeactors.core.instrument import Instrument  # noqa: PLC0415
        from tradeactors.replay import BINANCE_STEP  # noqa: PLC0415
        from tradeactors.venues.synthetic import synthetic_binance  # noqa: PLC0415

        instrument = Instrument(
            venue="binance", symbol="SYNUSDT", tick_size=BINANCE_STEP, lot_size=BINANCE_STEP
        )
        frames = synthetic_binance(instrument, seed=args.synthetic, diffs=args.diffs)
    try:
        summary = run_replay(
            args.files,
            "kraken" if args.venue == "kraken" else "binance",
            frames=frames,
            verify=verify,
            pace="recorded" if args.pace == "recorded" else "full",
            speed=args.speed,
        )
    except (OSError, CaptureFormatError, TradeActorsError) as exc:
        print(f"tradeactors replay: {exc}", file=sys.stderr)
        return 2
    feed = summary.feed
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(feed.dropped.items())) or "none"
    print(f"frames {feed.frames}, routed {feed.routed}, dropped: {dropped}")
    print(f"{'instrument':<12}{'synced':>7}{'updates':>9}{'applied':>9}{'gaps':>6}"
          f"{'resyncs':>8}{'levels':>8}{'verified':>10}{'mismatch':>10}")  # fmt: skip
    for symbol, book in summary.books.items():
        verified = book.checksum_matched + book.tickers_compared
        mismatched = book.checksum_mismatched + book.ticker_persistent_mismatches
        print(
            f"{symbol:<12}{'yes' if book.synced else 'NO':>7}{book.updates:>9}{book.applied:>9}"
            f"{book.gaps + book.bad_levels + book.crossed:>6}"
            f"{max(0, book.snapshots - 1):>8}{book.levels:>8}"
            f"{verified if verify else '-':>10}{mismatched if verify else '-':>10}"
        )
    if summary.unsynced:
        print(f"not in sync at the end: {', '.join(summary.unsynced)}")
    failed = bool(summary.unsynced) or (verify and not summary.ok)
    print("verdict: " + ("FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
