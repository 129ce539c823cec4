"""No regression elsewhere: the throughput figures of two revisions, A/B in one run.

``python bench/ab_regressions.py --before REV [--after REV]`` measures two versions of
the code in the same run, every measurement in a fresh child process that imports ITS
revision's ``src/`` and ``bench/`` (``PYTHONPATH``, and first on ``sys.path``; the child
checks where ``tradeactors`` and the workload module came from). ``--before`` (and
``--after``, if given) is checked out into a temporary git worktree; without ``--after``
the working tree this script lives in is measured. The workloads are the revision's own
``bench/supervision_workloads.py`` and ``bench/marketdata_workloads.py``, imported, not
re-implemented here:

- ``flood`` (per runtime): messages/s of a flood told through `bench_supervision.py`'s
  chain of 6 supervised actors (``supervised``), the same tree built with
  ``instrument=False`` (``uninstrumented``, if the revision has it), and the raw-queue
  chain as a control (no tradeactors code in it: it moves with the machine only);
- ``marketdata`` (one process, threads runtime; `bench_marketdata.py`'s sections 1 and
  2): book level updates/s on the real ETHUSDT diffs (`OrderBook` per level, and per
  diff with ``apply_levels``; the ``SortedDict`` book as a control) and decode frames/s
  (`binance.decode_frame` over all websocket frames and over the depth frames alone;
  ``json.loads`` as a control);
- ``e2e`` (per runtime; its section 3): ingestion frames/s of ``run_replay(capture,
  "binance", verify=False)`` through the feed and book actors with the setup
  (``load_frames`` and the instrument inference) subtracted, the whole call, and the
  in-process ``binance.replay`` (no actors) beside it.

``--rounds`` rounds; in each, every part is measured once per revision, the two children
back to back, in an order that alternates from part to part and round to round, so a
machine that slows down favours neither side. Each child reports the median of its own
few repeats. The report gives, per figure (all rates: higher is better), the median over
the rounds of each side, their ratio after / before, and every round's ratio: when the
rounds' ratios straddle 1 the difference is noise on this machine; when every round lies
on the same side of 1 the figure is marked as moved (with 7 rounds that happens by chance
with probability 1/64 for each figure; compare with the controls). Each round's ratio is
also given divided by the same round's ratio of the control measured beside the figure
in the same children (the queue chain, the ``SortedDict`` book, ``json.loads``), which
takes out the machine's drift between the two children of a round.

The Markdown report goes to stdout, progress to stderr. ``--output-dir DIR`` also writes
``DIR/regressions.md`` and ``DIR/regressions.json``; ``--json FILE`` the JSON alone.
Defaults take about 5-6 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CAPTURE = ROOT.parent / "shared" / "data" / "hftbacktest" / "ethusdt_20240808.gz"
PARTS = ("flood", "marketdata", "e2e")
RUNTIMES = ("threads", "gevent")
FLOOD_VARIANTS = ("supervised", "uninstrumented", "queue")
FLOOD_CONTROL = "queue"
BOOK_FIGURES = (
    ("tradeactors OrderBook", "book updates/s: OrderBook set_bid/set_ask per level"),
    ("tradeactors OrderBook.apply_levels per diff", "book updates/s: OrderBook.apply_levels"),
)
BOOK_CONTROL = ("SortedDict baseline", "book updates/s: two-SortedDict book")
DECODE_FIGURES = (
    ("all_ws", "decode_frame (msgspec)", "decode frames/s: decode_frame, all ws frames"),
    ("depth_only", "decode_frame (msgspec)", "decode frames/s: decode_frame, depth frames"),
)
DECODE_CONTROL = ("all_ws", "json.loads", "decode frames/s: json.loads, all ws frames")
E2E_FIGURES = (
    (
        "frames_per_s_minus_load_and_instruments",
        "ingestion frames/s: run_replay minus load_frames and instrument inference",
    ),
    ("frames_per_s_whole", "ingestion frames/s: run_replay, whole call"),
    ("inprocess_frames_per_s", "frames/s: binance.replay in process (no actors)"),
)


# -- the child: one part of one revision, in one runtime ----------------------------------------


def _figure(
    label: str, unit: str, samples: list[float], *, work: int, control: str | None = None
) -> dict[str, Any]:
    """One reported figure: ``value`` is the median of ``samples`` unless given otherwise.

    ``control``: the key of the control measured beside it in the same process (None for
    a control itself, and for a figure without one).
    """
    return {
        "label": label,
        "unit": unit,
        "value": statistics.median(samples),
        "samples": samples,
        "is_control": False,
        "control": control,
        "work": work,
    }


def _control(figure: dict[str, Any]) -> dict[str, Any]:
    figure["is_control"] = True
    figure["label"] += " (control)"
    return figure


def _flood_figures(work: Any, messages: int, repeats: int) -> dict[str, Any]:
    """Flood msgs/s of the chains of `supervision_workloads`, variants interleaved."""
    names = [name for name in FLOOD_VARIANTS if name in work.FACTORIES]
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats + 1):  # repeat 0: warm-up, a tenth of the messages
        count = max(1, messages // 10) if repeat == 0 else messages
        for name in names:
            chain = work.FACTORIES[name]()
            try:
                rate = count / work._flood(chain, count)
            finally:
                chain.close()
            if repeat:
                samples[name].append(rate)
    figures = {}
    for name in names:
        figure = _figure(f"flood msgs/s: {name}", "msg/s", samples[name], work=messages)
        if name == FLOOD_CONTROL:
            _control(figure)
        elif FLOOD_CONTROL in names:
            figure["control"] = f"flood {FLOOD_CONTROL}"
        figures[f"flood {name}"] = figure
    return figures


def _rates(summary: dict[str, Any]) -> list[float]:
    """Per-repeat rates of a `marketdata_workloads.summarize` result."""
    return [summary["work"] / seconds for seconds in summary["seconds"]]


def _marketdata_figures(work: Any, capture: str, args: argparse.Namespace) -> dict[str, Any]:
    """Decode frames/s and book updates/s of `marketdata_workloads` (sections 1 and 2)."""
    decode = work.measure_decode(capture, args.md_repeats, args.depth_passes)
    workload = work.book_workload(capture)
    books = work.measure_books(
        work.native_variants(workload), workload, args.md_repeats, args.book_passes
    )
    figures: dict[str, Any] = {}
    book_control = f"book {BOOK_CONTROL[0]}"
    for variant, label in (*BOOK_FIGURES, BOOK_CONTROL):
        summary = books["variants"][variant]
        figures[f"book {variant}"] = _figure(
            label, "updates/s", _rates(summary), work=books["levels_per_pass"],
            control=book_control,
        )  # fmt: skip
    _control(figures[book_control])["control"] = None
    decode_control = f"decode {DECODE_CONTROL[0]} {DECODE_CONTROL[1]}"
    for frames, variant, label in (*DECODE_FIGURES, DECODE_CONTROL):
        summary = decode[frames]["variants"][variant]
        figures[f"decode {frames} {variant}"] = _figure(
            label, "frames/s", _rates(summary), work=decode[frames]["frames"],
            control=decode_control,
        )  # fmt: skip
    _control(figures[decode_control])["control"] = None
    return figures


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

    replay._instruments = compat  # type: ignore[attr-defined]
    return "replay._instruments wrapped with saved=None (the workload predates 181754f)"


def _e2e_figures(work: Any, capture: str, repeats: int) -> dict[str, Any]:
    """``run_replay`` frames/s of `marketdata_workloads.measure_e2e` (section 3)."""
    source = Path(work.__file__).read_text()
    compat = None
    if 'instruments_of("binance", frames, None)' not in source:
        compat = _instruments_compat()
    e2e = work.measure_e2e(capture, repeats)
    frames = e2e["frames"]
    per_repeat = {
        "frames_per_s_minus_load_and_instruments": [
            frames / (whole - load - instruments)
            for whole, load, instruments in zip(
                e2e["run_replay_s"],
                e2e["load_frames_s"],
                e2e["instruments_s"] or [0.0] * len(e2e["run_replay_s"]),
                strict=True,
            )
        ],
        "frames_per_s_whole": [frames / seconds for seconds in e2e["run_replay_s"]],
        "inprocess_frames_per_s": [frames / seconds for seconds in e2e["inprocess_replay_s"]],
    }
    figures = {}
    for key, label in E2E_FIGURES:
        figure = _figure(label, "frames/s", per_repeat[key], work=frames)
        figure["value"] = e2e[key]  # the workload's own figure (from the medians of times)
        if compat is not None:
            figure["compat"] = compat
        figures[f"e2e {key}"] = figure
    return figures


def child_main(args: argparse.Namespace) -> int:
    """Measure one part with the tree ``args.child``'s code; print JSON on the last line."""
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
    if args.part == "flood":
        import supervision_workloads as work  # noqa: PLC0415 - the measured tree's
    else:
        import marketdata_workloads as work  # noqa: PLC0415 - the measured tree's
    for module in (tradeactors, work):
        origin = Path(module.__file__ or "").resolve()
        if not origin.is_relative_to(tree):
            raise RuntimeError(f"{module.__name__} came from {origin}, not from {tree}")
    started = time.perf_counter()
    if args.part == "flood":
        figures = _flood_figures(work, args.flood_messages, args.flood_repeats)
    elif args.part == "marketdata":
        figures = _marketdata_figures(work, str(args.capture), args)
    else:
        figures = _e2e_figures(work, str(args.capture), args.e2e_repeats)
    print(json.dumps({"figures": figures, "measure_s": time.perf_counter() - started}))
    return 0


# -- the parent: revisions, rounds, report ------------------------------------------------------


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
        dirty = bool(_git("status", "--porcelain", "--", "src", "bench"))
        name = f"working tree ({commit}{', src/ or bench/ modified' if dirty else ''})"
        return {"name": name, "commit": commit, "working_tree": True, "modified": dirty,
                "subject": _git("log", "-1", "--format=%s", "HEAD")}  # fmt: skip
    commit = _git("rev-parse", "--short", f"{revision}^{{commit}}")
    return {"name": commit, "commit": commit, "working_tree": False, "modified": False,
            "subject": _git("log", "-1", "--format=%s", commit)}  # fmt: skip


def _load() -> dict[str, Any]:
    """The machine's load averages (other jobs share these CPUs)."""
    one, five, fifteen = os.getloadavg()
    return {"1m": one, "5m": five, "15m": fifteen, "nproc": len(os.sched_getaffinity(0))}


def _child_command(tree: Path, part: str, runtime: str, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child", str(tree), "--part", part, "--runtime", runtime,
        "--capture", str(args.capture),
        "--flood-messages", str(args.flood_messages),
        "--flood-repeats", str(args.flood_repeats),
        "--md-repeats", str(args.md_repeats),
        "--book-passes", str(args.book_passes),
        "--depth-passes", str(args.depth_passes),
        "--e2e-repeats", str(args.e2e_repeats),
    ]  # fmt: skip


def _run_child(tree: Path, part: str, runtime: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in a fresh process importing ``tree``'s code."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree / "src"), str(tree / "bench")]))
    started = time.perf_counter()
    completed = subprocess.run(  # noqa: S603 - this script, this interpreter
        _child_command(tree, part, runtime, args),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise RuntimeError(f"the {part} child ({runtime}) of {tree} failed")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - started
    return result


def _jobs(args: argparse.Namespace) -> list[tuple[str, str]]:
    jobs: list[tuple[str, str]] = []
    for part in args.parts:
        runtimes = ["threads"] if part == "marketdata" else args.runtimes
        jobs += [(part, runtime) for runtime in runtimes]
    return jobs


def measure(args: argparse.Namespace, trees: dict[str, Path]) -> list[dict[str, Any]]:
    """Every job once per side per round, the sides' order alternating."""
    jobs = _jobs(args)
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    for round_ in range(args.rounds):
        for index, (part, runtime) in enumerate(jobs):
            order = ("before", "after") if (round_ + index) % 2 == 0 else ("after", "before")
            record: dict[str, Any] = {"round": round_ + 1, "part": part, "runtime": runtime,
                                      "order": list(order)}  # fmt: skip
            for side in order:
                record[side] = _run_child(trees[side], part, runtime, args)
            records.append(record)
            after = record["after"]["figures"]
            ratios = ", ".join(
                f"{key.split(' ', 1)[1]} {after[key]['value'] / figure['value']:.2f}"
                for key, figure in record["before"]["figures"].items()
                if key in after
            )
            print(f"round {round_ + 1}/{args.rounds} {part} {runtime}: after/before {ratios}",
                  file=sys.stderr)  # fmt: skip
        elapsed = time.perf_counter() - started
        left = elapsed / (round_ + 1) * (args.rounds - round_ - 1)
        print(f"  {elapsed:.0f} s so far, about {left:.0f} s to go", file=sys.stderr)
    return records


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per figure: medians over rounds, their ratio, each round's ratio, a reading.

    Each round's ratio is also given divided by the same round's ratio of the figure's
    control (measured in the same children, interleaved with it): what is left of a
    change once the machine's own drift between the two children is taken out.
    """
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in records:
        before, after = record["before"]["figures"], record["after"]["figures"]
        for key in {**before, **after}:
            figure = before.get(key) or after[key]
            row = rows.setdefault((record["part"], record["runtime"], key), {
                "part": record["part"], "runtime": record["runtime"], "key": key,
                "label": figure["label"], "unit": figure["unit"],
                "is_control": figure["is_control"], "control": figure["control"],
                "before": [], "after": [], "ratios": [], "ratios_to_control": [],
                "work": set(),
            })  # fmt: skip
            for side, figures in (("before", before), ("after", after)):
                if key in figures:
                    row[side].append(figures[key]["value"])
                    row["work"].add(figures[key]["work"])
            if key not in before or key not in after:
                continue
            ratio = after[key]["value"] / before[key]["value"]
            row["ratios"].append(ratio)
            control = figure["control"]
            if control is not None and control in before and control in after:
                control_ratio = after[control]["value"] / before[control]["value"]
                row["ratios_to_control"].append(ratio / control_ratio)
    return [_read(row) for row in rows.values()]


def _reading(ratios: list[float]) -> str:
    """Whether every round moved the same way."""
    if len(ratios) < 2:
        return "one round: no spread"
    if min(ratios) > 1:
        return "higher in every round"
    if max(ratios) < 1:
        return "lower in every round"
    return "noise (rounds straddle 1)"


def _read(row: dict[str, Any]) -> dict[str, Any]:
    """Medians, ratio, spread and a reading of one figure's rounds."""
    complete = bool(row["before"]) and bool(row["after"])
    row["median_before"] = statistics.median(row["before"]) if row["before"] else None
    row["median_after"] = statistics.median(row["after"]) if row["after"] else None
    row["ratio"] = row["median_after"] / row["median_before"] if complete else None
    row["same_work"] = len(row["work"]) == 1
    row["work"] = sorted(row["work"])
    if complete:
        row["reading"] = _reading(row["ratios"])
    else:
        row["reading"] = "only " + ("before" if row["before"] else "after")
    normalised = row["ratios_to_control"]
    row["ratio_to_control"] = statistics.median(normalised) if normalised else None
    row["reading_to_control"] = _reading(normalised) if normalised else None
    return row


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}"


def markdown(report: dict[str, Any]) -> str:
    """The report for people."""
    params = report["parameters"]
    sides = report["revisions"]
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
            for side, info in sides.items()
        ),
        f"- Command: `{report['command']}`",
        f"- Capture: `{params['capture']}`",
        (
            f"- Sizes: {params['rounds']} rounds; flood {params['flood_messages']:,} messages "
            f"x {params['flood_repeats']} repeats per variant (after a warm-up of a tenth), "
            f"a fresh chain each; decode and book {params['md_repeats']} repeats, "
            f"{params['depth_passes']} passes over the depth frames, {params['book_passes']} "
            f"over the diffs; run_replay {params['e2e_repeats']} repeats after a warm-up. "
            "Each child takes the median of its repeats."
        ),
        "",
        (
            "Every figure is a rate (higher is better). *before* and *after*: the median over "
            "the rounds of each child's median; *after / before*: the ratio of those medians; "
            "*per round*: each round's after / before (the two children of a round ran back "
            "to back, their order alternating). When the rounds straddle 1 the difference is "
            "within this machine's noise; *higher/lower in every round* marks a figure that "
            "moved beyond it (by chance with probability 2/2^rounds for each figure, so "
            "compare with the controls, which run no tradeactors code). *÷ control*: each "
            "round's ratio divided by the ratio of the control measured in the same two "
            "children, interleaved with the figure (the queue chain for the floods, the "
            "two-SortedDict book for the books, `json.loads` for decoding; the e2e part has "
            "none): the machine's drift between the two children taken out. Workloads: the "
            "revision's own `bench/supervision_workloads.py` (chains of 6 actors) and "
            "`bench/marketdata_workloads.py` (the capture's 33,617 websocket frames, its "
            "3,432 applied diffs, `run_replay` of the capture)."
        ),
        "",
        (
            "| figure | runtime | before | after | after / before | per round | reading "
            "| ÷ control, median of rounds | ÷ control, per round | reading ÷ control |"
        ),
        "|---|---|---:|---:|---:|---|---|---:|---|---|",
    ]
    for row in report["summary"]:
        per_round = " ".join(f"{ratio:.2f}" for ratio in row["ratios"])
        ratio = "-" if row["ratio"] is None else f"**{row['ratio']:.2f}**"
        reading = row["reading"] if row["same_work"] else row["reading"] + "; work differs!"
        normalised = "-" if row["ratio_to_control"] is None else f"{row['ratio_to_control']:.2f}"
        per_round_normalised = " ".join(f"{r:.2f}" for r in row["ratios_to_control"]) or "-"
        lines.append(
            f"| {row['label']} | {row['runtime']} | {_number(row['median_before'])} | "
            f"{_number(row['median_after'])} | {ratio} | {per_round} | {reading} | "
            f"{normalised} | {per_round_normalised} | {row['reading_to_control'] or '-'} |"
        )
    notes = sorted(
        {
            f"{side}: {figure['compat']}"
            for record in report["rounds"]
            for side in ("before", "after")
            for figure in record[side]["figures"].values()
            if figure.get("compat")
        }
    )
    lines += ["", *(f"- Compatibility: {note}." for note in notes)]
    lines.append("")
    return "\n".join(lines)


def _add_worktree(scratch: Path, name: str, revision: str) -> Path:
    path = scratch / name
    _git("worktree", "add", "--detach", str(path), revision)
    return path


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
        "summary": summarize(records),
        "rounds": records,
    }
    text = markdown(report)
    print(text)
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        (args.output_dir / "regressions.md").write_text(text)
        (args.output_dir / "regressions.json").write_text(json.dumps(report, indent=1) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "A/B of two revisions: supervision flood msgs/s, book updates/s, decode "
            "frames/s and run_replay ingestion frames/s, alternating child processes, "
            "each importing its revision's src/ and bench/."
        ),
        epilog=(
            "Example: python bench/ab_regressions.py --before 14f5ee5 --output-dir "
            "bench/results   (about 5-6 minutes with the defaults on 2 busy cores). "
            "See the module docstring for what each part measures and how to read it."
        ),
    )
    parser.add_argument("--before", help="git revision measured as 'before' (required)")
    parser.add_argument(
        "--after",
        help="git revision measured as 'after' (default: this working tree, uncommitted "
        "changes included)",
    )
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    parser.add_argument(
        "--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES),
        help="runtimes of the flood and e2e parts (default: threads gevent)",
    )  # fmt: skip
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS),
        help="what to measure (default: all three)",
    )  # fmt: skip
    parser.add_argument("--flood-messages", type=int, default=30_000,
                        help="messages per flood (default 30000)")  # fmt: skip
    parser.add_argument("--flood-repeats", type=int, default=3,
                        help="floods per variant in a child (default 3)")  # fmt: skip
    parser.add_argument("--md-repeats", type=int, default=3,
                        help="decode and book repeats in a child (default 3)")  # fmt: skip
    parser.add_argument("--book-passes", type=int, default=5,
                        help="passes over the diffs per book repeat (default 5)")  # fmt: skip
    parser.add_argument("--depth-passes", type=int, default=5,
                        help="depth-frame passes per decode repeat (default 5)")  # fmt: skip
    parser.add_argument("--e2e-repeats", type=int, default=3,
                        help="run_replay runs in a child after a warm-up (default 3)")  # fmt: skip
    parser.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE,
                        help="hftbacktest capture (default: ../shared's ETHUSDT)")  # fmt: skip
    parser.add_argument("--output-dir", type=Path,
                        help="also write regressions.md and regressions.json there")  # fmt: skip
    parser.add_argument("--json", help="also write the JSON report to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--runtime", choices=RUNTIMES, default="threads", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is None and args.before is None:
        parser.error("--before REV is required")
    return args


def main() -> int:
    args = parse_args()
    if args.child:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
