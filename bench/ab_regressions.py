"""No regression elsewhere: the throughput figures of two revisions, A/B in one run.

``python bench/ab_regressions.py --before REV [--after REV]`` measures two versions of
the code in the same run, in child processes that each import ITS revision's ``src/``
and ``bench/`` (``PYTHONPATH``, and first on ``sys.path``; a child checks where
``tradeactors`` and its workload module came from). ``--before`` (and ``--after``, if
given) is checked out into a temporary git worktree; without ``--after`` the working
tree this script lives in is measured, uncommitted changes included. The workloads are
the revision's own ``bench/supervision_workloads.py`` and
``bench/marketdata_workloads.py``, imported, not re-implemented here:

- ``flood`` (per runtime): messages/s of a flood told through `bench_supervision.py`'s
  chain of 6 supervised actors (``supervised``), the same tree built with
  ``instrument=False`` (``uninstrumented``, if the revision has it), and its raw-queue
  chain as a control (no tradeactors code in it: it moves with the machine only);
  ``FACTORIES`` and ``_flood`` of the workload module;
- ``marketdata`` (threads runtime; `bench_marketdata.py`'s sections 1 and 2): decode
  frames/s (`binance.decode_frame` over all websocket frames of the capture and over
  its depth frames alone; ``json.loads`` as a control) and book level updates/s on the
  capture's real ETHUSDT diffs (`OrderBook` per level, and per diff with
  ``apply_levels``; the two-``SortedDict`` book as a control); ``ws_payloads``,
  ``_decode_loop``, ``book_workload``, ``native_variants`` and ``timed``;
- ``e2e`` (per runtime; its section 3): ``measure_e2e`` with one repeat per block:
  frames/s of ``run_replay(capture, "binance", verify=False)`` through the feed and
  book actors, setup (``load_frames``, instrument inference) subtracted, and of the
  whole call, and the in-process ``binance.replay`` (no actors) beside it.

How: ``--rounds`` rounds. In each, for each part (and runtime), one fresh child process
per revision is started; once both are set up (workload loaded, one warm-up block), the
parent has them measure ``--blocks`` blocks in turn, A B B A A B ...: every block runs
every variant of the part once, and the two blocks of a pair run back to back, a fraction
of a second to a few seconds apart, so both see nearly the same machine. (On this shared
VM, figures of separate runs of the same code differ by up to 2x; pairs of adjacent
blocks differ far less.) Fresh processes each round sample the process-level noise too.

The report gives, per figure (all rates: higher is better): the median over all blocks
of each side and their ratio after / before; each round's ratio (the median of that
round's pair ratios); the ratios of the pairs (after block / before block): how many are
above 1, their quartiles, and a two-sided sign test over them: a figure is reported as
moved only if its p-value is below 0.01 (about 18 figures are tested: at 0.05 one would
move by chance in most runs) AND every round's ratio lies on that side of 1 (a round's
pairs share two processes, and a process-level difference, memory layout or hash seed,
can tilt all of them: seen at 2-3% between two processes of the same code) AND the
median pair ratio is off 1 by ``--min-effect`` (3%) or more; "unsure" when only the first
holds; otherwise the difference is within this machine's noise.
The same is given for each pair's ratio divided by the pair's ratio of the control
measured in the same blocks (the queue chain, the ``SortedDict`` book, ``json.loads``),
which takes out what the machine did between the two blocks.

The Markdown report goes to stdout, progress to stderr. ``--output-dir DIR`` also writes
``DIR/regressions.md`` and ``DIR/regressions.json``; ``--json FILE`` the JSON alone.
Defaults take about 4 minutes on 2 busy cores (load 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CAPTURE = ROOT.parent / "shared" / "data" / "hftbacktest" / "ethusdt_20240808.gz"
PARTS = ("flood", "marketdata", "e2e")
RUNTIMES = ("threads", "gevent")
SIGNIFICANCE = 0.01
"""A figure moved if the sign test over its pairs gives a p-value below this, ..."""
MIN_EFFECT = 0.03
"""... and its median pair ratio is off 1 by this much at least: two processes of the same
code were seen to differ consistently by 2-3% (process-level noise, not the code)."""
FLOOD_VARIANTS = ("supervised", "uninstrumented", "queue")
FLOOD_CONTROL = "queue"
BOOK_FIGURES = (
    ("tradeactors OrderBook", "book updates/s: OrderBook set_bid/set_ask per level"),
    ("tradeactors OrderBook.apply_levels per diff", "book updates/s: OrderBook.apply_levels"),
)
BOOK_CONTROL = ("SortedDict baseline", "book updates/s: two-SortedDict book")
E2E_FIGURES = (
    (
        "frames_per_s_minus_load_and_instruments",
        "ingestion frames/s: run_replay minus load_frames and instrument inference",
    ),
    ("frames_per_s_whole", "ingestion frames/s: run_replay, whole call"),
    ("inprocess_frames_per_s", "frames/s: binance.replay in process (no actors)"),
)


# -- the child: one part of one revision, in one runtime, a block at a time -------------------


def _meta(label: str, unit: str, work: int, control: str | None = None) -> dict[str, Any]:
    """What a figure is; ``control``: the key of the control measured in the same block."""
    return {"label": label, "unit": unit, "work": work, "control": control, "is_control": False}


def _as_control(meta: dict[str, Any]) -> dict[str, Any]:
    return {**meta, "label": meta["label"] + " (control)", "control": None, "is_control": True}


Block = tuple[dict[str, dict[str, Any]], "Callable[[], dict[str, float]]"]
"""What a figure of a part is (by key), and a function that measures one block of them."""


def _flood_block(work: Any, messages: int) -> Block:
    """Flood msgs/s of `supervision_workloads`' chains, a fresh chain per variant and block."""
    names = [name for name in FLOOD_VARIANTS if name in work.FACTORIES]
    control = f"flood {FLOOD_CONTROL}" if FLOOD_CONTROL in names else None
    meta = {
        f"flood {name}": _meta(f"flood msgs/s: {name}", "msg/s", messages, control)
        for name in names
    }
    if control is not None:
        meta[control] = _as_control(meta[control])

    def block() -> dict[str, float]:
        rates = {}
        for name in names:
            chain = work.FACTORIES[name]()
            try:
                rates[f"flood {name}"] = messages / work._flood(chain, messages)
            finally:
                chain.close()
        return rates

    return meta, block


def _marketdata_block(work: Any, capture: str, depth_passes: int, book_passes: int) -> Block:
    """Decode frames/s and book updates/s with `marketdata_workloads`' pieces, per block."""
    payloads = work.ws_payloads(capture)
    depth = [p for p in payloads if "@depth" in p[:40]]  # as measure_decode selects them
    work.check_decoders_agree(payloads)
    workload = work.book_workload(capture)  # checked against DepthSync
    books = {v.name: v for v in work.native_variants(workload)}  # checked against each other
    decode_frame, loop, timed = work.binance.decode_frame, work._decode_loop, work.timed
    decodes: dict[str, tuple[Callable[[Any], object], list[str], int, str]] = {
        "decode all_ws decode_frame": (
            decode_frame, payloads, 1, "decode frames/s: decode_frame, all ws frames"
        ),
        "decode depth_only decode_frame": (
            decode_frame, depth, depth_passes, "decode frames/s: decode_frame, depth frames"
        ),
        "decode all_ws json.loads": (
            json.loads, payloads, 1, "decode frames/s: json.loads, all ws frames"
        ),
    }  # fmt: skip
    decode_control = "decode all_ws json.loads"
    book_control = f"book {BOOK_CONTROL[0]}"
    meta = {
        key: _meta(label, "frames/s", len(texts), decode_control)
        for key, (_f, texts, _n, label) in decodes.items()
    }
    meta[decode_control] = _as_control(meta[decode_control])
    for name, label in (*BOOK_FIGURES, BOOK_CONTROL):
        meta[f"book {name}"] = _meta(label, "updates/s", workload.levels, book_control)
    meta[book_control] = _as_control(meta[book_control])

    def block() -> dict[str, float]:
        rates = {}
        for key, (function, texts, passes, _label) in decodes.items():
            seconds = timed(lambda f=function, t=texts, n=passes: loop(f, t, n))
            rates[key] = len(texts) * passes / seconds
        for name, _label in (*BOOK_FIGURES, BOOK_CONTROL):
            variant, seconds = books[name], 0.0
            for _ in range(book_passes):
                variant.reset()  # the snapshot, untimed
                seconds += timed(variant.run)
            rates[f"book {name}"] = workload.levels * book_passes / seconds
        return rates

    return meta, block


def _instruments_compat() -> str | None:
    """Let an older workload call ``replay._instruments`` without its ``saved`` argument.

    Until 181754f, ``measure_e2e`` called ``_instruments(venue, frames)`` although the
    function had required a third argument (``saved``, the instrument file) since the
    instrument-metadata change, so the e2e part of revisions in between (14f5ee5 among
    them) failed. This wraps the function with ``saved=None``; ``run_replay`` calls the
    wrapper too (one extra call per replay). Returns what was done, for the report.
    """
    import inspect  # noqa: PLC0415

    from tradeactors import replay  # noqa: PLC0415 - after the runtime is chosen

    original = getattr(replay, "_instruments", None)
    if original is None:
        return None
    parameters = list(inspect.signature(original).parameters.values())
    if len(parameters) < 3 or parameters[2].default is not inspect.Parameter.empty:
        return None

    def compat(venue: Any, frames: Any, saved: Any = None) -> Any:
        return original(venue, frames, saved)

    replay._instruments = compat
    return "replay._instruments wrapped with saved=None (its workload predates 181754f)"


def _e2e_block(work: Any, capture: str) -> Block:
    """``run_replay`` frames/s of `marketdata_workloads.measure_e2e`, one repeat per block."""
    compat = None
    if 'instruments_of("binance", frames, None)' not in Path(work.__file__).read_text():
        compat = _instruments_compat()
    frames = work.measure_e2e(capture, 1)["frames"]  # also checks that it ends in sync
    meta = {f"e2e {key}": _meta(label, "frames/s", frames) for key, label in E2E_FIGURES}
    for figure in meta.values():
        figure["compat"] = compat

    def block() -> dict[str, float]:
        # measure_e2e's own warm-up run_replay comes first, untimed, every block
        e2e = work.measure_e2e(capture, 1)
        return {f"e2e {key}": e2e[key] for key, _label in E2E_FIGURES}

    return meta, block


def _read_command() -> str:
    """The parent's next line; under gevent without blocking the hub."""
    if "gevent" in sys.modules:
        from gevent.monkey import is_module_patched  # noqa: PLC0415

        if is_module_patched("socket"):
            from gevent.socket import wait_read  # noqa: PLC0415

            wait_read(sys.stdin.fileno())
    return sys.stdin.readline()


def _part_block(args: argparse.Namespace, work: Any) -> Block:
    """The part's figures and block, warmed up."""
    capture = str(args.capture)
    if args.part == "flood":
        meta, block = _flood_block(work, args.flood_messages)
    elif args.part == "marketdata":
        meta, block = _marketdata_block(work, capture, args.depth_passes, args.book_passes)
    else:
        return _e2e_block(work, capture)  # measure_e2e warms itself up
    block()  # warm-up
    return meta, block


def child_main(args: argparse.Namespace) -> int:
    """Set one part up with the tree ``args.child``'s code; measure a block per command."""
    tree = Path(args.child).resolve()
    sys.path[:0] = [str(tree / "src"), str(tree / "bench")]  # before this script's bench/
    from tradeactors.supervision.runtime import current_runtime, use_gevent  # noqa: PLC0415

    if args.runtime == "gevent":
        use_gevent()  # first: before pykka or any thread
    if current_runtime() != args.runtime:
        raise RuntimeError(f"asked for {args.runtime}, running {current_runtime()}")
    import tradeactors  # noqa: PLC0415
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    devnull = Path(os.devnull).open("w")  # noqa: SIM115 - open for the process's life
    configure_logging(level="critical", json=True, stream=devnull)
    # the measured tree's workload module (its bench/ is first on sys.path)
    work = importlib.import_module(
        "supervision_workloads" if args.part == "flood" else "marketdata_workloads"
    )
    for module in (tradeactors, work):
        origin = Path(module.__file__ or "").resolve()
        if not origin.is_relative_to(tree):
            raise RuntimeError(f"{module.__name__} came from {origin}, not from {tree}")
    meta, block = _part_block(args, work)
    print(json.dumps({"meta": meta}), flush=True)
    while (command := _read_command().strip()) == "block":
        print(json.dumps({"rates": block()}), flush=True)
    if command:
        raise RuntimeError(f"unknown command {command!r}")
    return 0


# -- the parent: revisions, rounds, pairs of blocks, report -------------------------------------


def _git(*arguments: str) -> str:
    completed = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), *arguments],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


def _source_digest(tree: Path) -> str:
    """SHA-256 over ``tree``'s ``src/tradeactors`` Python files (as `_provenance` computes it)."""
    root = tree / "src" / "tradeactors"
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _describe(revision: str | None) -> dict[str, Any]:
    """Commit, subject and whether it is the working tree (with uncommitted changes)."""
    if revision is None:
        commit = _git("rev-parse", "--short", "HEAD")
        # the code measured: src/ and bench/*.py (results written under bench/ do not count)
        status = _git("status", "--porcelain", "--", "src", ":(glob)bench/*.py")
        modified = [line.split(maxsplit=1)[1] for line in status.splitlines()]
        name = f"working tree ({commit}{', with uncommitted changes' if modified else ''})"
        return {"name": name, "commit": commit, "working_tree": True, "modified": modified,
                "subject": _git("log", "-1", "--format=%s", "HEAD")}  # fmt: skip
    try:
        commit = _git("rev-parse", "--short", f"{revision}^{{commit}}")
    except subprocess.CalledProcessError:
        sys.exit(f"not a commit of {ROOT}: {revision!r}")
    return {"name": commit, "commit": commit, "working_tree": False, "modified": [],
            "subject": _git("log", "-1", "--format=%s", commit)}  # fmt: skip


def _load() -> dict[str, Any]:
    """The machine's load averages (other jobs share these CPUs)."""
    one, five, fifteen = os.getloadavg()
    return {"1m": one, "5m": five, "15m": fifteen, "nproc": len(os.sched_getaffinity(0))}


class Child:
    """A child process measuring one part of one tree, a block per request."""

    def __init__(self, tree: Path, part: str, runtime: str, args: argparse.Namespace) -> None:
        self.name = f"the {part} child ({runtime}) of {tree}"
        pythonpath = os.pathsep.join([str(tree / "src"), str(tree / "bench")])
        self._stderr: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in close
        self._process = subprocess.Popen(  # noqa: S603 - this script, this interpreter
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                str(tree),
                "--part",
                part,
                "--runtime",
                runtime,
                "--capture",
                str(args.capture),
                "--flood-messages",
                str(args.flood_messages),
                "--book-passes",
                str(args.book_passes),
                "--depth-passes",
                str(args.depth_passes),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=dict(os.environ, PYTHONPATH=pythonpath),
        )
        self.meta: dict[str, Any] = {}

    def _reply(self, key: str) -> Any:
        assert self._process.stdout is not None  # noqa: S101 - a pipe
        while line := self._process.stdout.readline():
            if line.startswith("{"):
                return json.loads(line)[key]
        self._process.wait(60)
        self._stderr.seek(0)
        sys.stderr.write(self._stderr.read()[-4000:])
        raise RuntimeError(f"{self.name} ended (exit status {self._process.returncode})")

    def ready(self) -> None:
        """Wait until it is set up and warmed up."""
        self.meta = self._reply("meta")

    def block(self) -> dict[str, float]:
        """Measure one block: every figure of the part once."""
        assert self._process.stdin is not None  # noqa: S101 - a pipe
        self._process.stdin.write("block\n")
        self._process.stdin.flush()
        rates: dict[str, float] = self._reply("rates")
        return rates

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()


def _jobs(args: argparse.Namespace) -> list[tuple[str, str]]:
    jobs: list[tuple[str, str]] = []
    for part in args.parts:
        runtimes = ["threads"] if part == "marketdata" else args.runtimes
        jobs += [(part, runtime) for runtime in runtimes]
    return jobs


def _measure_job(
    trees: dict[str, Path], part: str, runtime: str, args: argparse.Namespace, first: int
) -> dict[str, Any]:
    """One round of one part: a child per side, ``--blocks`` pairs of blocks, A B B A ..."""
    children = {side: Child(tree, part, runtime, args) for side, tree in trees.items()}
    try:
        for child in children.values():
            child.ready()  # both set up at once: nothing is timed yet
        blocks: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        orders = []
        for index in range(args.blocks):
            order = ("before", "after") if (first + index) % 2 == 0 else ("after", "before")
            orders.append(order)
            for side in order:
                blocks[side].append(children[side].block())
    finally:
        for child in children.values():
            child.close()
    return {
        "part": part,
        "runtime": runtime,
        "meta": {side: child.meta for side, child in children.items()},
        "orders": orders,
        "blocks": blocks,
    }


def measure(args: argparse.Namespace, trees: dict[str, Path]) -> list[dict[str, Any]]:
    """Every part in every round; the side that goes first alternates."""
    jobs = _jobs(args)
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    for round_ in range(args.rounds):
        for index, (part, runtime) in enumerate(jobs):
            record = _measure_job(trees, part, runtime, args, round_ + index)
            record["round"] = round_ + 1
            records.append(record)
            before, after = record["blocks"]["before"], record["blocks"]["after"]
            pairs = list(zip(before, after, strict=True))
            ratios = ", ".join(
                f"{key.split(' ', 1)[1]} {statistics.median(a[key] / b[key] for b, a in pairs):.2f}"
                for key in before[0]
                if key in after[0]
            )
            print(f"round {round_ + 1}/{args.rounds} {part} {runtime}: after/before "
                  f"(median of pairs) {ratios}", file=sys.stderr)  # fmt: skip
        elapsed = time.perf_counter() - started
        left = elapsed / (round_ + 1) * (args.rounds - round_ - 1)
        print(f"  {elapsed:.0f} s so far, about {left:.0f} s to go", file=sys.stderr)
    return records


def sign_test(ratios: list[float]) -> float:
    """Two-sided sign test of "as many ratios above 1 as below" (ties dropped)."""
    above = sum(1 for r in ratios if r > 1)
    below = sum(1 for r in ratios if r < 1)
    n = above + below
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(above, below) + 1))
    return min(1.0, 2 * tail / (1 << n))


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q1, _q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def _pairs_summary(
    ratios: list[float], rounds: list[float], min_effect: float = MIN_EFFECT
) -> dict[str, Any]:
    """The pairs' ratios and their reading.

    Moved (higher or lower) only if the sign test over the pairs gives p below
    `SIGNIFICANCE`, every round's ratio lies on the same side of 1 (the pairs of one
    round share their two processes, so a process-level difference, memory layout or
    hash seed, can tilt all of a round's pairs without the code being faster or slower)
    and the median pair ratio is off 1 by ``min_effect`` at least.
    """
    p = sign_test(ratios)
    median = statistics.median(ratios)
    reading = "noise"
    if p < SIGNIFICANCE:
        lean = "higher" if median > 1 else "lower"
        if not all((r > 1) == (median > 1) and r != 1 for r in rounds):
            reading = f"unsure: the pairs lean {lean}, the rounds disagree"
        elif abs(median - 1) < min_effect:
            reading = f"unsure: {lean} by less than {min_effect:.0%}"
        else:
            reading = lean
    return {
        "pairs": len(ratios),
        "above_1": sum(1 for r in ratios if r > 1),
        "median": median,
        "quartiles": _quartiles(ratios),
        "p_value": p,
        "rounds": rounds,
        "reading": reading,
    }


def summarize(
    records: list[dict[str, Any]], min_effect: float = MIN_EFFECT
) -> list[dict[str, Any]]:
    """One row per figure: medians, ratio, per-round ratios, pairs and their sign test."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in records:
        meta = record["meta"]
        for key in {**meta["before"], **meta["after"]}:
            figure = meta["before"].get(key) or meta["after"][key]
            row = rows.setdefault((record["part"], record["runtime"], key), {
                "part": record["part"], "runtime": record["runtime"], "key": key,
                "label": figure["label"], "unit": figure["unit"],
                "is_control": figure["is_control"], "control": figure["control"],
                "compat": sorted({side for side in meta if meta[side].get(key, {}).get("compat")}),
                "work": {side: meta[side][key]["work"] for side in meta if key in meta[side]},
                "before": [], "after": [], "rounds": [], "pairs": [], "pairs_to_control": [],
                "rounds_to_control": [],
            })  # fmt: skip
            for side in ("before", "after"):
                row[side] += [block[key] for block in record["blocks"][side] if key in block]
            if key not in meta["before"] or key not in meta["after"]:
                continue
            pairs = list(zip(record["blocks"]["before"], record["blocks"]["after"], strict=True))
            ratios = [a[key] / b[key] for b, a in pairs]
            row["rounds"].append(statistics.median(ratios))  # robust to drift within it
            row["pairs"] += ratios
            control = figure["control"]
            if control is not None and control in meta["before"] and control in meta["after"]:
                normalised = [(a[key] / b[key]) / (a[control] / b[control]) for b, a in pairs]
                row["pairs_to_control"] += normalised
                row["rounds_to_control"].append(statistics.median(normalised))
    out = []
    for row in rows.values():
        complete = bool(row["pairs"])
        row["median_before"] = statistics.median(row["before"]) if row["before"] else None
        row["median_after"] = statistics.median(row["after"]) if row["after"] else None
        row["ratio"] = row["median_after"] / row["median_before"] if complete else None
        row["same_work"] = len(set(row["work"].values())) == 1
        row["pairs_summary"] = (
            _pairs_summary(row["pairs"], row["rounds"], min_effect) if complete else None
        )
        row["to_control"] = (
            _pairs_summary(row["pairs_to_control"], row["rounds_to_control"], min_effect)
            if row["pairs_to_control"]
            else None
        )
        out.append(row)
    return out


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _pairs_cell(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "- | - |"
    q1, q3 = summary["quartiles"]
    reading = summary["reading"]
    if reading in {"higher", "lower"}:
        reading = f"**{reading}**"
    return (
        f"{summary['median']:.2f} ({q1:.2f}-{q3:.2f}), {summary['above_1']}/{summary['pairs']}"
        f" > 1 | {reading} (p {summary['p_value']:.2g}) |"
    )


def markdown(report: dict[str, Any]) -> str:
    """The report for people."""
    params = report["parameters"]
    load = report["load"]
    lines = [
        "# No regression elsewhere: A/B of two revisions",
        "",
        f"- Date: {report['date']}; whole run {report['elapsed_s']:.0f} s",
        f"- Machine: {report['machine']}",
        (
            f"- Load (1/5/15 min averages, {load['before']['nproc']} CPUs usable): before "
            f"{load['before']['1m']:.2f}/{load['before']['5m']:.2f}/{load['before']['15m']:.2f},"
            f" after {load['after']['1m']:.2f}/{load['after']['5m']:.2f}/"
            f"{load['after']['15m']:.2f}; `uptime` before: `{load['uptime_before']}`"
        ),
        *(
            f'- {side}: `{info["name"]}` "{info["subject"][:100]}"; tradeactors sources '
            f"sha256 `{info['source_sha256']}`"
            + (
                f"; uncommitted changes to {', '.join(info['modified'])}"
                if info["modified"]
                else ""
            )
            for side, info in report["revisions"].items()
        ),
        f"- Command: `{report['command']}`"
        + (f"; read again by `{report['reread']}`" if report.get("reread") else ""),
        f"- Capture: `{params['capture']}`",
        (
            f"- Sizes: {params['rounds']} rounds x {params['blocks']} pairs of blocks per "
            f"part and runtime; a block: a flood of {params['flood_messages']:,} messages per "
            "variant (a fresh chain each); every websocket frame decoded once, the depth "
            f"frames {params['depth_passes']} times, the diffs through each book "
            f"{params['book_passes']} times; one `measure_e2e` repeat (its warm-up "
            "`run_replay` untimed, then one timed). One warm-up block per child (e2e: its "
            "own warm-up)."
        ),
        "",
        (
            "All figures are rates: higher is better. *before*, *after*: medians over all "
            "blocks; *ratio*: after / before of those; *rounds*: each round's median pair "
            "ratio (fresh processes each round); *pairs*: each pair's after block / before "
            "block (the two "
            "blocks back to back, which side first alternating): median (quartiles), how "
            f"many above 1; *reading*: a two-sided sign test over the pairs, p < {SIGNIFICANCE}"
            " together with every round on the same side of 1 and a median pair ratio off "
            f"1 by {params['min_effect']:.0%} or more marks the figure **higher** or "
            "**lower**; p alone: *unsure* (the pairs of a round share two processes, and "
            "two processes of the same code were seen to differ by 2-3%); otherwise noise "
            "on this machine. "
            "*÷ control*: the same for each pair's ratio divided by the pair's ratio of the "
            "control measured in the same blocks (the queue chain for floods, the "
            "two-SortedDict book for books, `json.loads` for decoding; e2e has none), which "
            "takes out what the machine did between the two blocks. Controls run no "
            "tradeactors code: their own readings show how far the machine alone moves."
        ),
        "",
        (
            "| figure | runtime | before | after | ratio | rounds | pairs | reading "
            "| pairs ÷ control | reading ÷ control |"
        ),
        "|---|---|---:|---:|---:|---|---|---|---|---|",
    ]
    for row in report["summary"]:
        rounds = " ".join(f"{ratio:.2f}" for ratio in row["rounds"]) or "-"
        ratio = "-" if row["ratio"] is None else f"**{row['ratio']:.2f}**"
        label = row["label"] if row["same_work"] else row["label"] + " (work differs!)"
        lines.append(
            f"| {label} | {row['runtime']} | {_number(row['median_before'])} | "
            f"{_number(row['median_after'])} | {ratio} | {rounds} | "
            f"{_pairs_cell(row['pairs_summary'])} {_pairs_cell(row['to_control'])}"
        )
    compat = sorted({side for row in report["summary"] for side in row["compat"]})
    lines.append("")
    lines += [
        f"- Compatibility ({side}): `replay._instruments` wrapped with `saved=None` in the "
        "e2e children, whose `measure_e2e` predates 181754f and would fail otherwise."
        for side in compat
    ]
    lines.append("")
    return "\n".join(lines)


def _add_worktree(scratch: Path, name: str, revision: str) -> Path:
    path = scratch / name
    _git("worktree", "add", "--detach", str(path), revision)
    return path


def _write(report: dict[str, Any], args: argparse.Namespace) -> None:
    text = markdown(report)
    print(text)
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        (args.output_dir / "regressions.md").write_text(text)
        (args.output_dir / "regressions.json").write_text(json.dumps(report, indent=1) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


def rerender(args: argparse.Namespace) -> int:
    """Read a JSON report again with this script's reading (``--min-effect``): no measuring."""
    report = json.loads(Path(args.from_json).read_text())
    report["parameters"]["min_effect"] = args.min_effect
    report["summary"] = summarize(report["rounds"], args.min_effect)
    report["reread"] = shlex.join([Path(sys.executable).name, *sys.argv])
    _write(report, args)
    return 0


def parent_main(args: argparse.Namespace) -> int:
    """Check the revisions out, measure them in rounds, print (and write) the report."""
    if not args.capture.exists():
        sys.exit(f"capture not found: {args.capture} (see ../shared/data/README.md)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _provenance import machine_info  # noqa: PLC0415 - this script's bench/

    revisions = {"before": _describe(args.before), "after": _describe(args.after)}
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False)  # noqa: S607
    load_before = _load()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ab-regressions-") as scratch:
        trees: dict[str, Path] = {}
        try:
            trees["before"] = _add_worktree(Path(scratch), "before", revisions["before"]["commit"])
            trees["after"] = (
                ROOT
                if args.after is None
                else _add_worktree(Path(scratch), "after", revisions["after"]["commit"])
            )
            for side, tree in trees.items():
                revisions[side]["source_sha256"] = _source_digest(tree)
            print(f"before = {revisions['before']['name']}, after = "
                  f"{revisions['after']['name']}; jobs {_jobs(args)}", file=sys.stderr)  # fmt: skip
            records = measure(args, trees)
        finally:
            for side, tree in trees.items():
                if tree != ROOT:
                    _git("worktree", "remove", "--force", str(tree))
                    print(f"removed the {side} worktree", file=sys.stderr)
    machine = machine_info()
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": (
            f"{machine['nproc']} CPUs, `{machine['cpu_model']}`, kernel `{machine['kernel']}`, "
            f"Python {machine['python']}, pykka {machine['pykka']}, gevent {machine['gevent']}, "
            f"msgspec {machine['msgspec']}"
        ),
        "load": {"before": load_before, "after": _load(), "uptime_before": uptime.stdout.strip()},
        "revisions": revisions,
        "parameters": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
            if key not in {"child", "part", "runtime", "json", "output_dir"}
        },
        "elapsed_s": time.perf_counter() - started,
        "summary": summarize(records, args.min_effect),
        "rounds": records,
    }
    _write(report, args)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "A/B of two revisions: supervision flood msgs/s, book updates/s, decode "
            "frames/s and run_replay ingestion frames/s, measured in pairs of blocks by "
            "two child processes, each importing its revision's src/ and bench/."
        ),
        epilog=(
            "Example: python bench/ab_regressions.py --before 14f5ee5 --output-dir "
            "bench/results   (about 4 minutes with the defaults on 2 busy cores). "
            "See the module docstring for what each part measures and how to read it."
        ),
    )
    parser.add_argument("--before", help="git revision measured as 'before' (required)")
    parser.add_argument(
        "--after",
        help="git revision measured as 'after' (default: this working tree, uncommitted "
        "changes included)",
    )
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds, fresh child processes each (default 4)")  # fmt: skip
    parser.add_argument("--blocks", type=int, default=5,
                        help="pairs of blocks per round, part and runtime (default 5)")  # fmt: skip
    parser.add_argument(
        "--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES),
        help="runtimes of the flood and e2e parts (default: threads gevent)",
    )  # fmt: skip
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS),
        help="what to measure (default: all three)",
    )  # fmt: skip
    parser.add_argument("--flood-messages", type=int, default=20_000,
                        help="messages per flood (a variant, a block; default 20000)")  # fmt: skip
    parser.add_argument("--book-passes", type=int, default=3,
                        help="passes over the diffs per book in a block (default 3)")  # fmt: skip
    parser.add_argument("--depth-passes", type=int, default=3,
                        help="passes over the depth frames in a block (default 3)")  # fmt: skip
    parser.add_argument("--min-effect", type=float, default=MIN_EFFECT,
                        help="smallest change read as one (default 0.03: 3%%)")  # fmt: skip
    parser.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE,
                        help="hftbacktest capture (default: ../shared's ETHUSDT)")  # fmt: skip
    parser.add_argument("--output-dir", type=Path,
                        help="also write regressions.md and regressions.json there")  # fmt: skip
    parser.add_argument("--json", help="also write the JSON report to this file")
    parser.add_argument("--from-json", metavar="FILE",
                        help="measure nothing: read FILE (a JSON report) again and print its "
                        "report with this script's reading and --min-effect")  # fmt: skip
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--runtime", choices=RUNTIMES, default="threads", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is None and args.from_json is None and args.before is None:
        parser.error("--before REV is required")
    return args


def main() -> int:
    args = parse_args()
    if args.child:
        return child_main(args)
    if args.from_json:
        return rerender(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
