"""deploy/: the Dockerfile, compose file, Prometheus and Grafana files hang together, and
every metric the dashboard queries exists in a live registry.

No Docker engine runs here, so the files are checked, not run. PyYAML is not a
dependency: the YAML files are read by `load_yaml_subset`, a strict reader of the
small subset they are written in (block mappings and sequences, one-line scalars,
comments); anything else is an error, so a file cannot drift into YAML it misreads.
Where PyYAML happens to be installed, its reading must agree.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tradeactors.config import load_config
from tradeactors.core.messages import OrderUpdate, Side, SubmitOrder
from tradeactors.supervision import ActorStarted
from tradeactors.trading.system import TradingSystem

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
DATASOURCE = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDER = DEPLOY / "grafana" / "provisioning" / "dashboards" / "tradeactors.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "tradeactors.json"
DOCKERFILE = DEPLOY / "Dockerfile"
CONFIG = DEPLOY / "tradeactors.toml"
YAML_FILES = (COMPOSE, PROMETHEUS, DATASOURCE, PROVIDER)


# -- a strict reader for the YAML subset deploy/ is written in -----------------------------


class YamlSubsetError(ValueError):
    pass


_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-/]*):(?: +(.*))?$")
_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")
# Plain scalars that YAML 1.1 (PyYAML, docker compose's older parsers) and 1.2 read
# differently, or that need more than this reader knows: they must be quoted.
_AMBIGUOUS = re.compile(
    r"(?i:y|n|yes|no|on|off)$"  # booleans in YAML 1.1
    r"|[0-9][0-9_]*(:[0-9_]+)+$"  # sexagesimal ints in 1.1 ("9464:9464")
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}"  # timestamps
    r"|[-+]?0[0-9xXoObB]|[-+]?[0-9][0-9_]*_|.*\.(?:inf|nan)$"  # octal, hex, 1_000, .inf
)


def load_yaml_subset(text: str) -> Any:
    lines: list[list[Any]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw:
            raise YamlSubsetError(f"line {number}: a tab")
        content = _strip_comment(raw, number).rstrip()
        if not content.strip():
            continue
        if content.strip() in ("---", "..."):
            raise YamlSubsetError(f"line {number}: one document per file, no markers")
        lines.append([number, len(content) - len(content.lstrip(" ")), content.strip()])
    if not lines:
        return None
    if lines[0][1] != 0:
        raise YamlSubsetError(f"line {lines[0][0]}: the document must start at column 0")
    value, end = _block(lines, 0, 0)
    if end != len(lines):
        raise YamlSubsetError(f"line {lines[end][0]}: unexpected indentation")
    return value


def _strip_comment(raw: str, number: int) -> str:
    quote = None
    index = 0
    while index < len(raw):
        char = raw[index]
        if quote is not None:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"'" and (index == 0 or raw[index - 1] in " -:"):
            quote = char
        elif char == "#" and (index == 0 or raw[index - 1] == " "):
            return raw[:index]
        index += 1
    if quote is not None:
        raise YamlSubsetError(f"line {number}: unterminated quote")
    return raw


def _is_item(content: str) -> bool:
    return content == "-" or content.startswith("- ")


def _block(lines: list[list[Any]], i: int, indent: int) -> tuple[Any, int]:
    if _is_item(lines[i][2]):
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _nested(lines: list[list[Any]], i: int, indent: int) -> tuple[Any, int]:
    """The value on the lines after a bare ``key:`` or ``-``: deeper, or null."""
    if i < len(lines) and lines[i][1] > indent:
        return _block(lines, i, lines[i][1])
    return None, i


def _sequence(lines: list[list[Any]], i: int, indent: int) -> tuple[list[Any], int]:
    items = []
    while i < len(lines) and lines[i][1] == indent:
        number, _, content = lines[i]
        if not _is_item(content):
            raise YamlSubsetError(f"line {number}: expected a '- ' item")
        rest = content[1:].lstrip(" ")
        if not rest:
            value, i = _nested(lines, i + 1, indent)
        elif _KEY.match(rest):  # a mapping item: its first key is on the dash's line
            column = indent + len(content) - len(rest)
            lines[i] = [number, column, rest]
            value, i = _mapping(lines, i, column)
        else:
            value, i = _scalar(rest, number), i + 1
        items.append(value)
    if i < len(lines) and lines[i][1] > indent:
        raise YamlSubsetError(f"line {lines[i][0]}: unexpected indentation")
    return items, i


def _mapping(lines: list[list[Any]], i: int, indent: int) -> tuple[dict[str, Any], int]:
    result: dict[str, Any] = {}
    while i < len(lines) and lines[i][1] == indent:
        number, _, content = lines[i]
        match = _KEY.match(content)
        if match is None:
            raise YamlSubsetError(f"line {number}: expected 'key: value', got {content!r}")
        key, rest = match.group(1), match.group(2)
        if key in result:
            raise YamlSubsetError(f"line {number}: duplicate key {key!r}")
        if rest:
            result[key], i = _scalar(rest, number), i + 1
        else:
            result[key], i = _nested(lines, i + 1, indent)
    if i < len(lines) and lines[i][1] > indent:
        raise YamlSubsetError(f"line {lines[i][0]}: unexpected indentation")
    return result, i


def _quoted(text: str, number: int) -> str:
    if text[0] == '"':
        try:
            value = json.loads(text)  # JSON's escapes are a subset of YAML's
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, str):
            raise YamlSubsetError(f"line {number}: bad double-quoted string {text!r}")
        return value
    inner = text[1:-1]
    if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
        raise YamlSubsetError(f"line {number}: bad single-quoted string {text!r}")
    return inner.replace("''", "'")


def _scalar(text: str, number: int) -> Any:
    if text[0] in "\"'":
        return _quoted(text, number)
    if text[0] in "[]{}&*!|>%@`,?" or _is_item(text):
        raise YamlSubsetError(f"line {number}: unsupported YAML (flow, anchor, tag, block): {text}")
    if ": " in text or text.endswith(":") or " #" in text:
        raise YamlSubsetError(f"line {number}: quote this scalar: {text!r}")
    if text in ("null", "Null", "NULL", "~"):
        return None
    if text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return text.lower() == "true"
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if _AMBIGUOUS.match(text):
        raise YamlSubsetError(f"line {number}: ambiguous across YAML versions, quote it: {text}")
    return text


def _yaml(path: Path) -> Any:
    return load_yaml_subset(path.read_text(encoding="utf-8"))


def test_the_yaml_reader_reads_its_subset():
    text = (
        "# a comment\n"
        "a: 1\n"
        "b:\n"
        "  - x  # trailing comment\n"
        '  - "9464:9464"\n'
        "  - key: 'it''s'\n"
        "    other: true\n"
        "    deeper:\n"
        "      - 2.5\n"
        "  -\n"
        "    - nested\n"
        "c:\n"
        "d: ${VAR:-default}\n"
        "e: http://host:9090/path\n"
    )
    assert load_yaml_subset(text) == {
        "a": 1,
        "b": ["x", "9464:9464", {"key": "it's", "other": True, "deeper": [2.5]}, ["nested"]],
        "c": None,
        "d": "${VAR:-default}",
        "e": "http://host:9090/path",
    }


@pytest.mark.parametrize(
    "text",
    [
        "a:\n\t- x\n",  # tab
        "a: [1, 2]\n",  # flow sequence
        "a: {b: 1}\n",  # flow mapping
        "a: &anchor 1\n",  # anchor
        "a: |\n  text\n",  # block scalar
        "a: 1\na: 2\n",  # duplicate key
        "a: 1\n  b: 2\n",  # bad indentation
        "a:\n  - x\n   - y\n",  # bad indentation in a sequence
        "a: 9464:9464\n",  # sexagesimal in YAML 1.1
        "a: yes\n",  # boolean in YAML 1.1
        "a: b: c\n",  # a colon that needs quoting
        'a: "unterminated\n',
        "- x\nb: 1\n",  # a sequence then a mapping at the same level
        "---\na: 1\n",  # document marker
    ],
)
def test_the_yaml_reader_refuses_what_it_does_not_know(text):
    with pytest.raises(YamlSubsetError):
        load_yaml_subset(text)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_the_yaml_files_parse(path):
    data = _yaml(path)
    assert isinstance(data, dict)
    assert data
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == data


# -- the files agree with each other --------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    instructions = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends in a continuation"
    return instructions


def _instruction(name: str) -> list[str]:
    return [arguments for keyword, arguments in _dockerfile() if keyword == name]


def _metrics_port() -> int:
    return load_config(CONFIG).metrics.port


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (a path relative to deploy/, or a named volume)."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target, *_mode = entry.split(":")
        mounts[target] = source
    return mounts


def test_the_deploy_config_is_the_default_config_with_metrics_for_a_container():
    config = load_config(CONFIG)
    default = load_config(ROOT / "config" / "default.toml")
    assert config.metrics.host == "0.0.0.0"  # noqa: S104 - a container must listen on all
    assert config.metrics.port == 9464
    for section in ("supervision", "venue", "execution", "risk", "killswitch", "strategy"):
        assert getattr(config, section) == getattr(default, section), section
    assert config.run.duration == 0  # a service runs until stopped, not a 20 s demo
    assert config.run.shutdown_timeout == default.run.shutdown_timeout


def test_the_dockerfile_builds_the_system_and_runs_it_on_the_shipped_config():
    (base,) = _instruction("FROM")
    assert base == "python:3.11-slim"
    assert any(re.search(r"\bpip install \.(\s|$)", run) for run in _instruction("RUN"))
    assert json.loads(_instruction("ENTRYPOINT")[-1]) == ["tradeactors", "run"]
    command = json.loads(_instruction("CMD")[-1])
    config_path = command[command.index("--config") + 1]
    copied = {}
    for arguments in _instruction("COPY"):
        *sources, target = arguments.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
            copied[target if not target.endswith("/") else target + source] = source
    assert copied[config_path] == "deploy/tradeactors.toml"
    exposed = {int(port) for ports in _instruction("EXPOSE") for port in ports.split()}
    assert _metrics_port() in exposed
    (healthcheck,) = _instruction("HEALTHCHECK")
    assert f"127.0.0.1:{_metrics_port()}/metrics" in healthcheck
    # The Dockerfile-specific ignore file lets in everything COPY takes, and no more.
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore
    assert set(copied.values()) <= allowed


def test_the_compose_file_wires_the_system_prometheus_and_grafana():
    compose = _yaml(COMPOSE)
    services = compose["services"]
    assert set(services) == {"tradeactors", "prometheus", "grafana"}
    system = services["tradeactors"]
    context = (DEPLOY / system["build"]["context"]).resolve()
    assert (context / system["build"]["dockerfile"]).resolve() == DOCKERFILE
    command = json.loads(_instruction("CMD")[-1])
    mounts = _mounts(system)
    assert mounts[command[command.index("--config") + 1]] == "./tradeactors.toml"
    assert f"127.0.0.1:{_metrics_port()}:{_metrics_port()}" in system["ports"]
    prometheus = services["prometheus"]
    config_file = next(
        c.split("=", 1)[1] for c in prometheus["command"] if c.startswith("--config.file=")
    )
    assert _mounts(prometheus)[config_file] == "./prometheus/prometheus.yml"
    grafana = services["grafana"]
    grafana_mounts = _mounts(grafana)
    assert grafana_mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    dashboards = _yaml(PROVIDER)["providers"][0]["options"]["path"]
    assert grafana_mounts[dashboards] == "./grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards}/{DASHBOARD.name}"
    for service in services.values():
        for source in _mounts(service).values():
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{source}: no such file in deploy/"
            else:
                assert source in compose["volumes"], f"{source}: undeclared named volume"


def test_prometheus_scrapes_the_system_and_grafana_reads_prometheus():
    prometheus = _yaml(PROMETHEUS)
    (job,) = prometheus["scrape_configs"]
    (static,) = job["static_configs"]
    assert static["targets"] == [f"tradeactors:{_metrics_port()}"]  # the compose service
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (source,) = _yaml(DATASOURCE)["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert source["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]
    (provider,) = _yaml(PROVIDER)["providers"]
    assert provider["type"] == "file"


# -- the dashboard ---------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _queries() -> list[tuple[str, str, str]]:
    """(where, PromQL, legend) of every panel target and template variable."""
    queries = [
        (f"panel {panel['title']!r}", target["expr"], target.get("legendFormat", ""))
        for panel in _panels()
        for target in panel["targets"]
    ]
    for variable in _dashboard()["templating"]["list"]:
        match = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variable["definition"])
        assert match, variable["definition"]
        queries.append((f"variable {variable['name']}", f"{match[1]}{{{match[2]}!=''}}", ""))
    return queries


def test_the_dashboard_parses_and_has_the_panels_operations_need():
    dashboard = _dashboard()
    uid = _yaml(DATASOURCE)["datasources"][0]["uid"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in _panels():
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    exprs = " ".join(expr for _where, expr, _legend in _queries())
    for metric in (
        "tradeactors_mailbox_depth",
        "tradeactors_messages_processed_total",
        "tradeactors_mailbox_wait_seconds_bucket",
        "tradeactors_handler_seconds_bucket",
        "tradeactors_restarts_total",
        "tradeactors_dead_letters_total",
        "tradeactors_kill_switch_state",
        "tradeactors_venue_up",
        "tradeactors_open_orders",
        "tradeactors_fills_total",
        "tradeactors_position_lots",
        "tradeactors_pnl_realized",
        "tradeactors_pnl_unrealized",
        "tradeactors_strategy_position_lots",
        "tradeactors_strategy_open_orders",
        "tradeactors_risk_limit",
        "tradeactors_orders_denied_total",
    ):
        assert metric in exprs, f"no panel shows {metric}"
    for limit in ("max_position", "max_open_orders", "max_loss"):
        assert f'tradeactors_risk_limit{{limit="{limit}"}}' in exprs, f"no panel shows {limit}"
    assert exprs.count("histogram_quantile(") >= 4  # p50 and p99 of both histograms


def _labels_used(expr: str, legend: str) -> tuple[set[str], set[str]]:
    """(labels the query matches or groups on, labels its legend shows)."""
    used = set()
    for grouping in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        used |= {name.strip() for name in grouping.split(",") if name.strip()}
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        used |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
    return used, set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))


class _Seen:
    """Events that matched a predicate, waited for on a condition (never a sleep)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[Any] = []

    def __call__(self, event: Any) -> None:
        with self._cond:
            self._items.append(event)
            self._cond.notify_all()

    def wait(self, predicate: Any, what: str, timeout: float = 30.0) -> Any:
        def found() -> list[Any]:
            return [e for e in self._items if predicate(e)]

        with self._cond:
            assert self._cond.wait_for(found, timeout), f"no {what} within {timeout} s"
            return found()[0]


@pytest.mark.supervision
def test_every_metric_and_label_the_dashboard_queries_exists_in_a_live_registry():
    registry = CollectorRegistry()
    system = TradingSystem(registry=registry)  # embedded exchange, the market maker
    trading, supervision = _Seen(), _Seen()
    system.subscribe(trading)
    system.start()
    try:
        system.tree.subscribe(supervision)
        system.tree.dead_letters.subscribe(supervision)
        strategy = system.strategy_path
        # Trade until a fill; have an order denied; crash the strategy once (a restart
        # and a dead letter): then every series the dashboard shows has samples.
        trading.wait(lambda e: isinstance(e, OrderUpdate) and e.fill_quantity > 0, "fill")
        too_big = system.new_order_id()
        system.submit(
            SubmitOrder(
                client_order_id=too_big, venue="sim", instrument="BTCUSDT", side=Side.BUY,
                price=100_000, quantity=10_000,
            )
        )  # fmt: skip
        trading.wait(
            lambda e: (
                isinstance(e, OrderUpdate) and e.client_order_id == too_big and e.status == "denied"
            ),
            "denial",
        )
        system.tree.faults(strategy).crash_next()
        supervision.wait(
            lambda e: isinstance(e, ActorStarted) and e.path == strategy and e.incarnation == 2,
            "strategy restart",
        )
        supervision.wait(lambda e: getattr(e, "reason", None) == "crashed", "dead letter")
        exposition = generate_latest(registry).decode()
    finally:
        summary = system.stop()
    assert summary.open_at_venue == 0

    labels: dict[str, set[str]] = {}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
            values[sample.name] = values.get(sample.name, 0) + sample.value
    assert values["tradeactors_fills_total"] >= 1
    assert values["tradeactors_restarts_total"] >= 1
    assert values["tradeactors_dead_letters_total"] >= 1
    assert values["tradeactors_orders_denied_total"] >= 1

    problems = []
    for where, expr, legend in _queries():
        names = set(re.findall(r"\btradeactors_\w+", expr))
        assert names, f"{where}: {expr} queries no tradeactors metric"
        missing = sorted(name for name in names if name not in labels)
        if missing:
            problems.append(f"{where}: no series {missing} in the live registry")
            continue
        available = set().union(*(labels[name] for name in names))
        used, shown = _labels_used(expr, legend)
        if used - available:
            problems.append(f"{where}: labels {sorted(used - available)} not on {sorted(names)}")
        groups = re.findall(r"\bby\s*\(([^)]*)\)", expr)
        kept = {n.strip() for g in groups for n in g.split(",")} if groups else available
        if shown - kept:
            problems.append(f"{where}: legend shows {sorted(shown - kept)}, not in the result")
    assert not problems, "\n".join(problems)
