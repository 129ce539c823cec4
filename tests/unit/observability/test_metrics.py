"""Actor metrics on the registry given, never the global one; served on 127.0.0.1."""

from __future__ import annotations

import urllib.request
from typing import Any

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry

from tradeactors.errors import ConfigError
from tradeactors.observability import serve_metrics
from tradeactors.supervision import (
    ActorStarted,
    ChildSpec,
    MailboxSpec,
    Overflow,
    SupervisedActor,
    SupervisorSpec,
)

pytestmark = pytest.mark.supervision


class Ping(SupervisedActor):
    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("crash")
        return message


class Pong:
    pass


def _spec(**mailbox: Any) -> SupervisorSpec:
    return SupervisorSpec(
        name="root",
        children=(ChildSpec(name="ping", actor=Ping, mailbox=MailboxSpec(**mailbox)),),
    )


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


class TestActorMetrics:
    def test_messages_are_counted_by_type_and_timed(self, make_tree, registry):
        tree = make_tree(_spec(), registry=registry)
        address = tree.address("ping")
        for _ in range(3):
            address.tell("text")
        pong = Pong()
        address.tell(pong)
        address.ask("sync", timeout=5)
        assert (
            _value(
                registry, "tradeactors_messages_processed_total", path="ping", message_type="str"
            )
            == 4
        )
        assert (
            _value(
                registry, "tradeactors_messages_processed_total", path="ping", message_type="Pong"
            )
            == 1
        )
        assert _value(registry, "tradeactors_mailbox_wait_seconds_count", path="ping") == 5
        assert _value(registry, "tradeactors_handler_seconds_count", path="ping") == 5
        assert _value(registry, "tradeactors_handler_seconds_bucket", path="ping", le="+Inf") == 5
        assert _value(registry, "tradeactors_actor_up", path="ping") == 1
        assert _value(registry, "tradeactors_mailbox_depth", path="ping") == 0

    def test_an_uninstrumented_tree_keeps_no_per_message_statistics(self, make_tree, registry):
        tree = make_tree(_spec(), registry=registry, instrument=False)
        address = tree.address("ping")
        for _ in range(3):
            address.tell("text")
        assert address.ask("sync", timeout=5) == "sync"
        address.tell("crash")
        assert address.ask("after", timeout=5) == "after"  # restarted, still serving
        stats = tree.stats("ping")
        assert (stats.wait.count, stats.handler.count, stats.processed) == (0, 0, {})
        for name in (
            "tradeactors_messages_processed_total",
            "tradeactors_mailbox_wait_seconds_count",
            "tradeactors_handler_seconds_count",
        ):
            assert not [
                sample
                for family in registry.collect()
                for sample in family.samples
                if sample.name == name
            ], name
        assert _value(registry, "tradeactors_actor_up", path="ping") == 1
        assert _value(registry, "tradeactors_restarts_total", path="ping") == 1
        dead = _value(registry, "tradeactors_dead_letters_total", path="ping", reason="crashed")
        assert dead == 1

    def test_restarts_and_dead_letters_are_counted(self, make_tree, registry, events):
        tree = make_tree(_spec(), registry=registry)
        tree.subscribe(events)
        tree.address("ping").tell("crash")
        events.wait_for(ActorStarted, "ping", where=lambda e: e.incarnation == 2)
        assert _value(registry, "tradeactors_restarts_total", path="ping") == 1
        assert (
            _value(registry, "tradeactors_dead_letters_total", path="ping", reason="crashed") == 1
        )
        assert _value(registry, "tradeactors_restarts_total", path="/") == 0

    def test_dropped_messages_are_counted(self, make_tree, registry):
        tree = make_tree(
            SupervisorSpec(
                name="root",
                children=(
                    ChildSpec(
                        name="ping",
                        actor=Ping,
                        mailbox=MailboxSpec(capacity=1, overflow=Overflow.DROP_OLDEST),
                    ),
                ),
            ),
            registry=registry,
        )
        tree.faults("ping").slow(0.05)
        address = tree.address("ping")
        for n in range(20):
            address.tell(n)
        dropped = _value(
            registry, "tradeactors_mailbox_dropped_total", path="ping", reason="drop_oldest"
        )
        assert dropped is not None
        assert dropped >= 1

    def test_nothing_is_registered_on_the_global_default_registry(self, make_tree, registry):
        make_tree(_spec(), registry=registry)
        names = {m.name for m in prometheus_client.REGISTRY.collect()}
        assert not any(name.startswith("tradeactors") for name in names)

    def test_a_stopped_tree_releases_its_registry(self, make_tree, registry):
        tree = make_tree(_spec(), registry=registry)
        tree.stop(timeout=10)
        assert _value(registry, "tradeactors_actor_up", path="ping") is None
        make_tree(_spec(), registry=registry)  # the registry can be reused
        assert _value(registry, "tradeactors_actor_up", path="ping") == 1

    def test_two_live_trees_on_one_registry_is_a_clear_error(self, make_tree, registry):
        make_tree(_spec(), registry=registry)
        with pytest.raises(ConfigError, match=r"its own prometheus_client\.CollectorRegistry"):
            make_tree(_spec(), registry=registry, start=False)


class TestServing:
    def test_the_registry_is_served_over_http_on_loopback_on_a_picked_port(
        self, make_tree, registry
    ):
        tree = make_tree(_spec(), registry=registry)
        tree.address("ping").ask("hello", timeout=5)
        server = serve_metrics(registry, port=0)
        try:
            assert server.host == "127.0.0.1"
            assert server.port > 0
            with urllib.request.urlopen(server.url, timeout=10) as response:  # noqa: S310
                body = response.read().decode()
        finally:
            server.close()
        assert 'tradeactors_messages_processed_total{message_type="str",path="ping"} 1.0' in body
