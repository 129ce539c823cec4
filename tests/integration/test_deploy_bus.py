"""deploy/docker-compose.bus.yml: one container per role over Redis, on deploy/bus.toml.

No Docker engine runs here: the files are checked (test_deploy's strict YAML reader),
and each service's command is parsed by the CLI's own parser.
"""

from __future__ import annotations

from pathlib import Path

from test_deploy import load_yaml_subset

from tradeactors.cli import _parser, _with_bus
from tradeactors.config import load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.bus.yml"
CONFIG = ROOT / "deploy" / "bus.toml"
MOUNTED = "/etc/tradeactors/bus.toml"
ROLES = {
    "market-data": ("market-data", ()),
    "execution": ("execution", ()),
    "strategy-1": ("strategy", ("mm1",)),
    "strategy-2": ("strategy", ("mm2",)),
}


def _compose() -> dict:
    return load_yaml_subset(COMPOSE.read_text(encoding="utf-8"))


def _run_args(service: dict):
    # the image's ENTRYPOINT is `tradeactors run` (deploy/Dockerfile): the command follows
    return _parser().parse_args(["run", *service["command"]])


def test_every_role_runs_on_the_shared_config_with_its_own_host_id():
    services = _compose()["services"]
    assert set(services) == {"redis", "exchange", *ROLES}
    config = load_config(CONFIG)
    for name, (role, strategies) in ROLES.items():
        service = services[name]
        assert service["image"] == "tradeactors:latest"
        assert f"./bus.toml:{MOUNTED}:ro" in service["volumes"]
        args = _run_args(service)
        assert args.config == MOUNTED
        bus = _with_bus(args, config).bus
        assert (bus.role, bus.host, bus.strategies) == (role, name, strategies), name
        assert "redis" in service["depends_on"]
    configured = {entry.name for entry in config.strategies}
    assert {s for _, (_, names) in ROLES.items() for s in names} == configured


def test_the_hosts_meet_at_the_redis_service_and_trade_at_the_exchange_service():
    services = _compose()["services"]
    config = load_config(CONFIG)
    assert config.bus.url == "redis://redis:6379/0"
    assert services["redis"]["image"].startswith("redis:")
    assert services["redis"]["command"] == ["redis-server", "--appendonly", "yes"]
    exchange = services["exchange"]
    assert exchange["entrypoint"] == ["tradeactors", "exchange"]
    args = _parser().parse_args(["exchange", *exchange["command"]])
    assert args.host == "0.0.0.0"  # noqa: S104 - the other containers reach it
    venue = config.venue
    assert venue.stream_url == f"ws://exchange:{args.port}/stream"
    assert venue.trade_url == f"ws://exchange:{args.port}/trade"
    assert venue.rest_url == f"http://exchange:{args.http_port}"
    assert args.symbol == [venue.symbol]
    assert args.api_key == [venue.api_key]
    # the account's secret: the same variable for the exchange and the execution host
    secret = f"TRADEACTORS_SECRET_{venue.api_key.upper()}"
    assert "TRADEACTORS_SIM_SECRET" in exchange["environment"][secret]
    assert venue.secret_env in services["execution"]["environment"]


def test_only_the_execution_host_is_published_and_it_stops_gracefully():
    services = _compose()["services"]
    published = {name for name, service in services.items() if "ports" in service}
    assert published == {"execution"}
    (port,) = services["execution"]["ports"]
    assert port.startswith("127.0.0.1:")
    assert services["execution"]["stop_grace_period"] == "30s"
    config = load_config(CONFIG)
    assert config.run.duration == 0
    args = _run_args(services["execution"])
    assert args.control_port == 9465
    assert config.bus.lease > config.bus.heartbeat
    assert "tradeactors kill --url http://127.0.0.1:9465" in COMPOSE.read_text(encoding="utf-8")
