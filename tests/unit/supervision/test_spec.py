"""Tree specs are validated when built; errors name the offending child and field."""

from __future__ import annotations

import pytest
from _actors import Worker

from tradeactors.errors import ConfigError
from tradeactors.supervision import ChildSpec, SupervisorSpec


def test_two_children_with_the_same_name_are_refused():
    child = ChildSpec(name="a", actor=Worker)
    with pytest.raises(ConfigError, match="two children named 'a'"):
        SupervisorSpec(name="root", children=(child, child))


@pytest.mark.parametrize("name", ["", "a/b", " a"])
def test_child_names_must_be_path_segments(name):
    with pytest.raises(ConfigError, match="child name"):
        ChildSpec(name=name, actor=Worker)


def test_the_actor_must_be_a_pykka_threading_actor_class():
    with pytest.raises(ConfigError, match=r"pykka\.ThreadingActor subclass"):
        ChildSpec(name="a", actor=object)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"intensity": -1}, "intensity"), ({"period": 0}, "period"), ({"shutdown": 0}, "shutdown")],
)
def test_supervisor_limits_are_checked(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        SupervisorSpec(name="root", children=(), **kwargs)


def test_child_timeouts_are_checked():
    with pytest.raises(ConfigError, match="start_timeout of 'a'"):
        ChildSpec(name="a", actor=Worker, start_timeout=-1)
