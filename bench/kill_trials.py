"""SIGKILL trials of the trading process (issue 16): after a restart, is anything lost?

Run it as ``python bench/kill_trials.py`` (``--trials 50 --seed 1``; ``--help``). It
writes ``kill_trials.md`` and ``kill_trials.json`` to ``--output-dir``
(``bench/results``) and exits 1 if any check failed in any trial.

The venue is one ``tradeactors exchange`` process for all trials, started with
``--no-cancel-on-disconnect``: a venue without cancel-on-disconnect (as Binance and
Kraken spot), so the orders of a killed trader stay on its book. It outlives every
trader. Each trial trades on an account of its own (``trial-N``), so the venue's fills
and open orders of that account are the trial's alone. Per trial:

1. ``tradeactors run`` (a subprocess) with a config of the trial's: that venue, the
   built-in market maker quoting tight and often (orders, cancels and fills every
   second), the dead-man's switch (``[execution] cancel_all_after``) at 60 s, far
   longer than the restart, no cancel-on-disconnect asked either (``[execution]
   cancel_on_disconnect = false``: nor a cancel-all at logon), the journal at a fixed
   ``[journal] path`` with a checkpoint every second (``checkpoint_interval``: most
   kills land after one, so the restart reads a checkpoint and what came after it),
   a control port
   picked free, a state directory in the trial's directory;
2. once the trader has orders, a seeded random wait (the busy session, ``--busy MIN
   MAX`` seconds); every ``--halt-every``-th trial trips the kill switch HALTED through
   the control endpoint (``POST /kill``) at a random point of that wait first;
3. SIGKILL; then, while no trader runs, the venue is asked (over its order-entry
   protocol, as the same account: a session of its own, without cancel-on-disconnect)
   which of the account's orders are open: the orders left open by the dead process;
4. ``tradeactors run`` again, same config and journal; waited for (a bounded poll of
   ``GET /status`` and ``GET /orders``) until every venue is up and the order manager
   has reconciled;
5. the checks below; then the trader is halted (``POST /kill``) so that nothing trades
   any more, positions are compared, the trader is stopped (SIGTERM), and its journal
   is read with ``tradeactors journal fills --json`` and ``tradeactors journal
   verify``.

Checks, each ok or failed per trial:

- ``open_at_kill_known``: every order open at the venue right after the kill is known
  to the restarted trader (``GET /orders``) by its client order id, with its owner
  (the strategy's actor path);
- ``open_now_known``: every order open at the venue after the restart's reconciliation
  is known to the trader, with its owner, and not as closed (unless the venue too has
  closed it by the time the trader is asked);
- ``halted_kept``: a switch HALTED before the kill is HALTED after the restart (only in
  the trials that halt; ``-`` otherwise);
- ``positions_equal``: once nothing is open (the trader halted, its orders cancelled),
  the trader's position per instrument equals the venue's (the signed sum of the
  account's fills at the venue, ``fills`` since 0);
- ``positions_owned``: the same position is the strategy's own (``OrdersReport.owners``,
  the market maker's row per instrument), and no fill counts under an unknown owner: a
  fill of the dead process's orders belongs to the strategy that placed them;
- ``fills_not_lost``: every fill of the account at the venue is in the journal (by
  execution id);
- ``fills_not_doubled``: no execution id twice in the journal;
- ``fills_not_invented``: no fill in the journal that the venue does not have;
- ``journal_verified``: ``tradeactors journal verify`` exits 0;
- ``stopped_clean``: the restarted trader, stopped with SIGTERM, exits 0 (nothing left
  open at the venue) and the venue has nothing of the account open.

Nothing is left running: each trader is reaped after its SIGKILL or SIGTERM, the
exchange is stopped (SIGINT, then SIGKILL if it does not end) at the end, whatever
happened; a trader that does not start, reconcile or stop within its timeout ends the
trial as an error (counted as such, with what it printed).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import websocket

from tradeactors.exchange.orderentry import sign
from tradeactors.trading.control import call_control

SYMBOL = "BTCUSDT"
LOT_SIZE = Decimal("0.001")  # the embedded defaults' BTCUSDT, which both sides use
OWNER = "strategies/market_maker/strategy"  # the one strategy's actor path
CHECKS = (
    "open_at_kill_known",
    "open_now_known",
    "halted_kept",
    "positions_equal",
    "positions_owned",
    "fills_not_lost",
    "fills_not_doubled",
    "fills_not_invented",
    "journal_verified",
    "stopped_clean",
)
CLOSED = frozenset({"filled", "cancelled", "rejected", "expired", "denied"})
SECRET_ENV = "TRADEACTORS_KILL_TRIALS_SECRET"  # noqa: S105 - a variable's name
POLL = 0.05  # seconds between two polls of a bounded wait
CANCEL_ALL_AFTER = 60.0  # the dead-man's switch: far longer than a restart
CHECKPOINT_INTERVAL = 1.0  # seconds: a checkpoint of the order manager each second
# a busier market than the default (2 takers a second, 2 ticks per sqrt second), so
# that the market maker's quotes are filled and moved several times a second
LIQUIDITY = ("market_rate=10", "volatility=4")


class TrialError(Exception):
    """A trial could not be carried out (a process did not start, answer or stop)."""


class RecoveryCheckFailedError(AssertionError):
    """Some check failed in some trial: something was lost or unknown after a restart."""


@dataclass
class Trial:
    """One trial's plan and outcome."""

    index: int
    account: str
    busy: float  # seconds of trading before the SIGKILL
    halt_at: float | None  # seconds into the busy session the switch is tripped (None: not)
    checks: dict[str, bool | None] = field(default_factory=dict)  # None: not applicable
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    process_ended: bool = False  # every trader process of the trial has ended (reaped)

    @property
    def failed(self) -> list[str]:
        return [name for name, ok in self.checks.items() if ok is False]


# -- the venue: the exchange process and a client of its order-entry protocol ---------------


class Exchange:
    """``tradeactors exchange`` as a subprocess, its URLs read from what it prints."""

    def __init__(self, accounts: list[str], seed: int, workdir: Path) -> None:
        self.secrets = {account: secrets.token_hex(16) for account in accounts}
        env = dict(os.environ)
        for account, secret in self.secrets.items():
            env["TRADEACTORS_SECRET_" + account.upper().replace("-", "_")] = secret
        args = ["exchange", "--symbol", SYMBOL, "--seed", str(seed), "--no-cancel-on-disconnect"]
        for setting in LIQUIDITY:
            args += ["--liquidity", setting]
        for account in accounts:
            args += ["--api-key", account]
        self._stderr = (workdir / "exchange.err").open("w")
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, our own CLI
            [sys.executable, "-m", "tradeactors", *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        try:
            assert self.process.stdout is not None  # noqa: S101 - PIPE
            lines = [self.process.stdout.readline() for _ in range(3)]
            self.stream_url = lines[0].split(": ", 1)[1].strip()
            self.trade_url = lines[1].split(": ", 1)[1].split(" ", 1)[0]
            self.rest_url = lines[2].split(": ", 1)[1].split("/api/", 1)[0]
        except (IndexError, AssertionError) as exc:
            self.stop()
            raise TrialError(f"the exchange did not start: {lines!r}") from exc
        # nothing more comes on stdout; drained anyway, so that it can never block
        self._drain = threading.Thread(target=self.process.stdout.read, daemon=True)
        self._drain.start()

    def stop(self) -> int | None:
        """SIGINT (it closes its servers), SIGKILL after 10 s; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._stderr.close()
        if hasattr(self, "_drain"):
            self._drain.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def ask(self, account: str, op: str, **fields: Any) -> Any:
        """One request over a fresh session of ``account`` (no cancel-on-disconnect)."""
        connection = websocket.create_connection(self.trade_url, timeout=10)
        try:
            timestamp, nonce = time.time_ns() // 1_000_000, secrets.token_hex(16)
            self._request(
                connection,
                1,
                op="logon",
                api_key=account,
                timestamp=timestamp,
                nonce=nonce,
                signature=sign(self.secrets[account], timestamp, nonce),
                cancel_on_disconnect=False,
            )
            return self._request(connection, 2, op=op, **fields)
        finally:
            connection.close()

    @staticmethod
    def _request(connection: websocket.WebSocket, request_id: int, **fields: Any) -> Any:
        connection.send(json.dumps({"id": request_id, **fields}))
        while True:  # pushed execution reports of the account come too: skipped
            message = json.loads(connection.recv())
            if message.get("id") == request_id:
                if "error" in message:
                    raise TrialError(f"the venue refused {fields['op']}: {message['error']}")
                return message["result"]

    def open_orders(self, account: str) -> dict[str, dict[str, Any]]:
        """The account's open orders at the venue, by client order id."""
        return {o["client_order_id"]: o for o in self.ask(account, "open_orders")}

    def fills(self, account: str) -> list[dict[str, Any]]:
        """Every fill of the account at the venue."""
        result: list[dict[str, Any]] = self.ask(account, "fills", since=0)
        return result


def venue_positions(fills: list[dict[str, Any]]) -> dict[str, int]:
    """The account's position in lots per symbol: the signed sum of its fills."""
    positions: Counter[str] = Counter()
    for fill in fills:
        lots = Decimal(fill["quantity"]) / LOT_SIZE
        if lots != lots.to_integral_value():
            raise TrialError(f"a fill of {fill['quantity']} is not a whole number of lots")
        positions[fill["symbol"]] += int(lots) if fill["side"] == "buy" else -int(lots)
    return dict(positions)


# -- the trader -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Trader:
    """``tradeactors run`` as a subprocess, reached through its control endpoint."""

    def __init__(self, config: Path, workdir: Path, secret: str, runtime: str, name: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._out = (workdir / f"{name}.out").open("w")
        self._err = (workdir / f"{name}.err").open("w")
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, our own CLI
            [
                sys.executable, "-m", "tradeactors", "run", "--config", str(config),
                "--runtime", runtime, "--control-port", str(self.port),
                "--state-dir", str(workdir / "state"), "--duration", "600",
            ],
            stdout=self._out,
            stderr=self._err,
            env={**os.environ, SECRET_ENV: secret, "TRADEACTORS_CONTROL_TOKEN": "k" * 32},
        )  # fmt: skip
        self.workdir, self.name = workdir, name

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return call_control(self.url, path, body, timeout=10)

    def wait_until(self, what: str, predicate: Any, timeout: float) -> Any:
        """Poll the control endpoint until ``predicate(self)`` is truthy; its value.

        Raises:
            TrialError: the process ended, or ``timeout`` passed.

        """
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise TrialError(f"{self.name} exited ({self.process.returncode}) before {what}")
            with contextlib.suppress(urllib.error.URLError, OSError, TimeoutError):
                value = predicate(self)
                if value:
                    return value
            if time.monotonic() >= deadline:
                raise TrialError(f"{self.name}: not {what} within {timeout} s")
            time.sleep(POLL)  # a bounded poll of another process, not a wait for actors

    def wait_reconciled(self, timeout: float) -> dict[str, Any]:
        """Until every venue is up and the order manager has reconciled: its `OrdersReport`."""

        def reconciled(trader: Trader) -> dict[str, Any] | None:
            status = trader.call("/status")
            if not status["venues"] or not all(status["venues"].values()):
                return None
            report: dict[str, Any] = trader.call("/orders")
            return report if report["reconciliations"] >= 1 else None

        result: dict[str, Any] = self.wait_until("reconciled", reconciled, timeout)
        return result

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._close()

    def terminate(self, timeout: float) -> int:
        """SIGTERM (an orderly stop: halt, cancel all, summary); SIGKILL past ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                self._close()
                raise TrialError(f"{self.name} did not stop within {timeout} s") from None
        self._close()
        return self.process.returncode

    def _close(self) -> None:
        self._out.close()
        self._err.close()

    def tail(self) -> str:
        """The end of what it wrote on stderr (for an error)."""
        try:
            return (self.workdir / f"{self.name}.err").read_text()[-1500:]
        except OSError:
            return ""


def trader_config(exchange: Exchange, account: str, journal: Path) -> str:
    """The trial's config: the venue, a busy market maker, no early cancels, the journal."""
    return f"""\
[venue]
symbol = "{SYMBOL}"
api_key = "{account}"
secret_env = "{SECRET_ENV}"
trade_url = "{exchange.trade_url}"
stream_url = "{exchange.stream_url}"
rest_url = "{exchange.rest_url}"

[execution]
cancel_all_after = {CANCEL_ALL_AFTER}  # the dead-man's switch outlasts the restart
cancel_on_disconnect = false  # the trader asks for none either: nor cancels all at logon
refresh = 1.0

[risk]
max_loss = 1000.0  # a loss must not halt the account mid-trial

[strategy]
name = "market_maker"

[strategy.params]  # tight and often: orders, cancels and fills every second
half_spread = 1
size = 2
max_inventory = 20
skew = 0.5
requote = 1
min_interval = 0.05

[run]
status_interval = 0.5

[journal]
path = "{journal}"
checkpoint_interval = {CHECKPOINT_INTERVAL}  # most kills land after a checkpoint or more
"""


# -- one trial ------------------------------------------------------------------------------


def plan(index: int, seed: int, busy: tuple[float, float], halt_every: int) -> Trial:
    """Trial ``index``'s plan, from the seed alone."""
    rng = random.Random(f"{seed}:{index}")
    seconds = rng.uniform(*busy)
    halts = halt_every > 0 and index % halt_every == halt_every - 1
    return Trial(
        index=index,
        account=f"trial-{index}",
        busy=round(seconds, 3),
        halt_at=round(rng.uniform(0.0, seconds), 3) if halts else None,
    )


def _checkpoints(journal: Path) -> int:
    """How many checkpoints the (dead trader's) journal holds; read-only."""
    db = sqlite3.connect(f"{journal.absolute().as_uri()}?mode=ro", uri=True)
    try:
        (count,) = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'checkpoint'").fetchone()
    finally:
        db.close()
    return int(count)


def run_trial(trial: Trial, exchange: Exchange, workdir: Path, runtime: str) -> None:
    """Carry out ``trial``, filling its checks; a process that misbehaves is its ``error``."""
    started = time.monotonic()
    journal = workdir / "journal.sqlite"
    config = workdir / "trader.toml"
    config.write_text(trader_config(exchange, trial.account, journal))
    secret = exchange.secrets[trial.account]
    traders: list[Trader] = []
    try:
        first = Trader(config, workdir, secret, runtime, "first")
        traders.append(first)
        _busy_session(trial, first)
        first.kill()
        at_kill = exchange.open_orders(trial.account)
        trial.details["open_at_kill"] = len(at_kill)
        # the fills made before the restart (while the first process lived, or was dying)
        before_restart = {str(fill["execution_id"]) for fill in exchange.fills(trial.account)}
        trial.details["fills_before_restart"] = len(before_restart)
        # how the restart will read the journal: from a checkpoint, or from its beginning
        trial.details["checkpoints_at_kill"] = _checkpoints(journal)
        second = Trader(config, workdir, secret, runtime, "second")
        traders.append(second)
        report = second.wait_reconciled(timeout=30)
        _check_known(trial, exchange, second, report, at_kill)
        _quiesce_and_compare_positions(trial, exchange, second)
        code = second.terminate(timeout=30)
        left = exchange.open_orders(trial.account)
        trial.details["exit_code"] = code
        trial.details["left_open"] = len(left)
        trial.checks["stopped_clean"] = code == 0 and not left
        _check_journal(trial, exchange, journal, before_restart)
    except (TrialError, OSError, urllib.error.URLError, websocket.WebSocketException) as exc:
        tail = traders[-1].tail() if traders else ""
        trial.error = f"{type(exc).__name__}: {exc}" + (f"\n{tail}" if tail else "")
    finally:
        for trader in traders:
            if trader.process.poll() is None:
                trader.process.kill()
                trader.process.wait(10)
                trader._close()
        trial.process_ended = all(trader.process.poll() is not None for trader in traders)
        trial.seconds = round(time.monotonic() - started, 2)


def _busy_session(trial: Trial, trader: Trader) -> None:
    """Trade until the SIGKILL is due, tripping the switch first if the plan says so."""
    trader.wait_until("trading with orders", lambda t: t.call("/status")["orders"] > 0, 30)
    busy_from = time.monotonic()
    if trial.halt_at is not None:
        time.sleep(trial.halt_at)  # the scenario's timing, not a wait for actors
        trader.call("/kill", {"reason": "kill trial: halted before the SIGKILL"})
        trader.wait_until("halted", lambda t: t.call("/status")["state"] == "halted", 10)
    time.sleep(max(0.0, trial.busy - (time.monotonic() - busy_from)))  # the scenario's
    status = trader.call("/status")
    trial.details["before_kill"] = {
        "state": status["state"],
        "orders": status["orders"],
        "open_orders": status["open_orders"],
        "fills": status["fills"],
    }


def _check_known(
    trial: Trial,
    exchange: Exchange,
    trader: Trader,
    report: dict[str, Any],
    at_kill: dict[str, dict[str, Any]],
) -> None:
    # the venue first, then the trader: an order the venue has was placed before
    open_now = exchange.open_orders(trial.account)
    known = {o["client_order_id"]: o for o in trader.call("/orders")["orders"]}
    unknown_at_kill = [cid for cid in at_kill if cid not in known or known[cid]["owner"] != OWNER]
    unknown_now = [cid for cid in open_now if cid not in known or known[cid]["owner"] != OWNER]
    # known as closed: a disagreement only if the venue still has it after the trader
    # said so (it may have been filled or cancelled between the two questions)
    closed = [cid for cid in open_now if cid in known and known[cid]["status"] in CLOSED]
    if closed:
        still_open = exchange.open_orders(trial.account)
        unknown_now += [cid for cid in closed if cid in still_open]
    trial.details["open_now_mismatch"] = [
        {"client_order_id": cid, "trader": known.get(cid, {}).get("status", "unknown")}
        for cid in unknown_now
    ]
    trial.checks["open_at_kill_known"] = not unknown_at_kill
    trial.checks["open_now_known"] = not unknown_now
    trial.details["open_at_kill_unknown"] = len(unknown_at_kill)
    trial.details["open_now"] = len(open_now)
    trial.details["open_now_unknown"] = len(unknown_now)
    trial.details["orders_known_after_restart"] = len(known)
    trial.details["reconciliations"] = report["reconciliations"]
    state = trader.call("/status")["state"]
    trial.details["state_after_restart"] = state
    before = trial.details["before_kill"]["state"]
    trial.checks["halted_kept"] = state == "halted" if before == "halted" else None


def _quiesce_and_compare_positions(trial: Trial, exchange: Exchange, trader: Trader) -> None:
    """Halt the trader (its orders cancelled: nothing can fill any more), then compare."""
    trader.call("/kill", {"reason": "kill trial: quiesce before comparing positions"})
    trader.wait_until("with no order open", lambda t: t.call("/status")["open_orders"] == 0, 15)
    deadline = time.monotonic() + 15
    while exchange.open_orders(trial.account):  # the venue's cancels went out with the reports
        if time.monotonic() >= deadline:
            raise TrialError("the venue still has orders open 15 s after the halt")
        time.sleep(POLL)
    fills = exchange.fills(trial.account)
    report = trader.call("/orders")
    venue = {symbol: lots for symbol, lots in venue_positions(fills).items() if lots}
    mine = {symbol: lots for symbol, lots in report["positions"].items() if lots}
    trial.checks["positions_equal"] = venue == mine
    owned = {
        row["instrument"]: row["position"]
        for row in report["owners"]
        if row["owner"] == OWNER and row["position"]
    }
    unowned = sum(row["fills"] for row in report["owners"] if row["owner"] is None)
    trial.checks["positions_owned"] = owned == venue and unowned == 0
    trial.details["position_strategy"] = owned
    trial.details["fills_unknown_owner"] = unowned
    trial.details["position_venue"] = venue
    trial.details["position_trader"] = mine
    trial.details["fills_venue"] = len(fills)
    trial.details["fills_trader"] = report["fills"]
    trial.details["duplicate_fills_trader"] = report["duplicate_fills"]


def _journal_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, our own CLI
        [sys.executable, "-m", "tradeactors", "journal", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _check_journal(
    trial: Trial, exchange: Exchange, journal: Path, before_restart: set[str]
) -> None:
    fills = exchange.fills(trial.account)
    venue_ids = {str(fill["execution_id"]) for fill in fills}
    read = _journal_cli("fills", "--journal", str(journal), "--json")
    if read.returncode != 0:
        raise TrialError(f"journal fills: exit {read.returncode}: {read.stderr[-500:]}")
    rows = [json.loads(line) for line in read.stdout.splitlines() if line.strip()]
    counts = Counter(str(row["execution_id"]) for row in rows)
    lost = venue_ids - set(counts)
    doubled = [execution_id for execution_id, n in counts.items() if n > 1]
    invented = set(counts) - venue_ids
    trial.checks["fills_not_lost"] = not lost
    trial.checks["fills_not_doubled"] = not doubled
    trial.checks["fills_not_invented"] = not invented
    trial.details["fills_journal"] = sum(counts.values())
    trial.details["fills_lost"] = len(lost)
    # made before the restart: the dead process's (it may have had them, or not yet)
    trial.details["fills_lost_before_restart"] = len(lost & before_restart)
    trial.details["fills_doubled"] = len(doubled)
    trial.details["fills_invented"] = len(invented)
    verify = _journal_cli("verify", "--journal", str(journal))
    trial.checks["journal_verified"] = verify.returncode == 0
    trial.details["verify_failed"] = [
        line.split()[1].rstrip(":") if len(line.split()) > 1 else line
        for line in verify.stdout.splitlines()
        if line.startswith("FAIL")
    ] or ([] if verify.returncode == 0 else [verify.stdout[-300:] + verify.stderr[-300:]])


# -- all trials -------------------------------------------------------------------------------


def run_trials(
    *,
    trials: int,
    seed: int,
    busy: tuple[float, float],
    halt_every: int,
    runtime: str,
    workdir: Path,
    progress: Any = None,
) -> tuple[list[Trial], int | None]:
    """Run ``trials`` trials against one exchange process; the trials and its exit code."""
    plans = [plan(index, seed, busy, halt_every) for index in range(trials)]
    exchange = Exchange([p.account for p in plans], seed, workdir)
    try:
        for trial in plans:
            directory = workdir / f"trial-{trial.index}"
            directory.mkdir()
            run_trial(trial, exchange, directory, runtime)
            if progress is not None:
                progress(trial)
    finally:
        code = exchange.stop()
    return plans, code


def counts(trials: list[Trial]) -> dict[str, dict[str, int]]:
    """Per check: trials ok, failed, not applicable, and not reached (a trial's error)."""
    table: dict[str, dict[str, int]] = {}
    for name in CHECKS:
        row = {"ok": 0, "failed": 0, "n/a": 0, "not reached": 0}
        for trial in trials:
            if name not in trial.checks:
                row["not reached"] += 1
            else:
                row[{True: "ok", False: "failed", None: "n/a"}[trial.checks[name]]] += 1
        table[name] = row
    return table


def totals(trials: list[Trial]) -> list[str]:
    """What the failures add up to, over the trials carried out: for the reader."""
    done = [t for t in trials if t.error is None]

    def total(key: str) -> int:
        return sum(int(t.details.get(key) or 0) for t in done)

    halted = [t for t in done if t.details.get("before_kill", {}).get("state") == "halted"]
    verify: Counter[str] = Counter(
        name for t in done for name in t.details.get("verify_failed", [])
    )
    return [
        (
            f"orders open at the venue at the kill: {total('open_at_kill')}, unknown to the "
            f"restarted trader (by client order id and owner): {total('open_at_kill_unknown')}"
        ),
        (
            f"orders open at the venue after the restart: {total('open_now')}, unknown: "
            f"{total('open_now_unknown')}"
        ),
        (
            f"fills at the venue: {total('fills_venue')}, in the journals: "
            f"{total('fills_journal')}; lost: {total('fills_lost')} (made before the restart: "
            f"{total('fills_lost_before_restart')}), doubled: {total('fills_doubled')}, not at "
            f"the venue: {total('fills_invented')}"
        ),
        (
            "restarts that read the journal from a checkpoint (one or more recorded before "
            f"the kill): {sum(1 for t in done if t.details.get('checkpoints_at_kill'))} of "
            f"{len(done)}"
        ),
        (
            f"trials HALTED at the kill: {len(halted)}, HALTED after the restart: "
            f"{sum(1 for t in halted if t.details.get('state_after_restart') == 'halted')}"
        ),
        "journal verify FAILs: "
        + (", ".join(f"{name} x{n}" for name, n in sorted(verify.items())) or "none"),
        (
            f"positions different from the venue's: "
            f"{sum(1 for t in done if t.checks.get('positions_equal') is False)} trials"
        ),
        (
            f"fills counted under no owner (not the strategy's) after the restart: "
            f"{total('fills_unknown_owner')}, in "
            f"{sum(1 for t in done if t.details.get('fills_unknown_owner'))} trials"
        ),
    ]


def trial_line(trial: Trial) -> str:
    d = trial.details
    head = (
        f"trial {trial.index:3d} busy {trial.busy:5.2f}s"
        + (f" halt@{trial.halt_at:.2f}s" if trial.halt_at is not None else "")
        + f" ({trial.seconds:.1f}s)"
    )
    if trial.error is not None:
        return f"{head}: ERROR {trial.error.splitlines()[0]}"
    failed = ", ".join(trial.failed) or "all ok"
    figures = (
        f"open at kill {d.get('open_at_kill')} (unknown {d.get('open_at_kill_unknown')}), "
        f"open now {d.get('open_now')} (unknown {d.get('open_now_unknown')}), "
        f"position venue {d.get('position_venue')} trader {d.get('position_trader')} "
        f"strategy {d.get('position_strategy')} (fills of no owner "
        f"{d.get('fills_unknown_owner')}), "
        f"fills venue {d.get('fills_venue')} journal {d.get('fills_journal')} "
        f"(lost {d.get('fills_lost')}, of which before the restart "
        f"{d.get('fills_lost_before_restart')}; doubled {d.get('fills_doubled')}), "
        f"state {d.get('before_kill', {}).get('state')} -> {d.get('state_after_restart')}"
    )
    return f"{head}: {failed}; {figures}"


def _provenance() -> Any:
    """``bench/_provenance.py`` (imported only to write results: a test need not)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _provenance  # noqa: PLC0415

    return _provenance


def markdown(trials: list[Trial], args: argparse.Namespace, exchange_code: int | None) -> str:
    provenance = _provenance()
    table = counts(trials)
    errors = [t for t in trials if t.error is not None]
    lines = [
        "# SIGKILL trials of the trading process (issue 16)",
        "",
        (
            f"`python bench/kill_trials.py --trials {args.trials} --seed {args.seed} --busy "
            f"{args.busy[0]} {args.busy[1]} --halt-every {args.halt_every} --runtime "
            f"{args.runtime}`, {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}. "
            "What each check means: the docstring of `bench/kill_trials.py`."
        ),
        "",
        (
            f"Trials: {len(trials)}, of which {len(errors)} could not be carried out (error); "
            f"{sum(1 for t in trials if not t.failed and t.error is None)} passed every "
            f"check. The exchange process exited {exchange_code}."
        ),
        "",
        "| check | ok | failed | n/a | not reached |",
        "|---|---|---|---|---|",
        *(
            f"| `{name}` | {row['ok']} | {row['failed']} | {row['n/a']} | {row['not reached']} |"
            for name, row in table.items()
        ),
        "",
        "In total:",
        "",
        *(f"- {line}" for line in totals(trials)),
        "",
        "Per trial:",
        "",
        "```",
        *(trial_line(t) for t in trials),
        "```",
        "",
        "Machine:",
        "",
        "```",
        json.dumps(
            {
                **provenance.machine_info(),
                "source": provenance.source_digest(),
                "git": provenance.git_state(),
            },
            indent=2,
        ),
        "```",
        "",
    ]
    return "\n".join(lines)


def _interrupted(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--busy",
        type=float,
        nargs=2,
        default=(0.5, 4.0),
        metavar=("MIN", "MAX"),
        help="seconds of trading before the SIGKILL, drawn uniformly (seeded)",
    )
    parser.add_argument(
        "--halt-every", type=int, default=4, help="every Nth trial halts before the kill (0: none)"
    )
    parser.add_argument("--runtime", choices=("threads", "gevent"), default="threads")
    parser.add_argument(
        "--output-dir", type=Path, default=Path(__file__).resolve().parent / "results"
    )
    parser.add_argument("--keep", action="store_true", help="keep the trials' directories")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="kill-trials-"))
    # SIGTERM and SIGINT (also when started in the background, where SIGINT is ignored)
    # unwind through the trials' cleanup: no trader or exchange is left running
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupted)
    try:
        trials, code = run_trials(
            trials=args.trials,
            seed=args.seed,
            busy=tuple(args.busy),
            halt_every=args.halt_every,
            runtime=args.runtime,
            workdir=workdir,
            progress=lambda trial: print(trial_line(trial), flush=True),
        )
    except KeyboardInterrupt:
        print("interrupted: the processes of the trials are stopped; nothing written")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return 130
    table = counts(trials)
    print()
    for line in totals(trials):
        print(line)
    print()
    for name, row in table.items():
        print(f"{name:20s} " + "  ".join(f"{key} {value}" for key, value in row.items()))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "kill_trials.md").write_text(markdown(trials, args, code))
    (args.output_dir / "kill_trials.json").write_text(
        json.dumps(
            {
                "trials": [t.__dict__ for t in trials],
                "counts": table,
                "machine": _provenance().machine_info(),
                "source": _provenance().source_digest(),
            },
            indent=1,
            default=str,
        )
    )
    print(f"\nwritten: {args.output_dir / 'kill_trials.md'}")
    if args.keep:
        print(f"the trials' files (configs, journals, outputs): {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    bad = any(t.failed or t.error is not None for t in trials)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
