"""The message contract: unique tags, frozen tuples, msgpack round trips, wire strings."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

import tradeactors
from tradeactors.core.messages import DenyReason, Message, OrderStatus, Side, TimeInForce


def _import_everything() -> None:
    """Import every module of the package (none has side effects when imported)."""
    for module in pkgutil.walk_packages(tradeactors.__path__, "tradeactors."):
        importlib.import_module(module.name)


def _subclasses(base: type) -> list[type]:
    found: list[type] = []
    todo = [base]
    while todo:
        for cls in todo.pop().__subclasses__():
            if cls not in found:
                found.append(cls)
                todo.append(cls)
    return found


_import_everything()
STRUCTS = [cls for cls in _subclasses(msgspec.Struct) if cls.__module__.startswith("tradeactors.")]
MESSAGES = sorted(_subclasses(Message), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _value(t: mi.Type) -> Any:  # noqa: C901, PLR0911, PLR0912 - one branch per kind of type
    """A valid value of the msgspec type ``t`` (the simplest one that is not empty)."""
    if isinstance(t, mi.StructType):
        return t.cls(**{f.name: _value(f.type) for f in t.fields if f.required})
    if isinstance(t, mi.EnumType):
        return next(iter(t.cls))
    if isinstance(t, mi.LiteralType):
        return t.values[0]
    if isinstance(t, mi.UnionType):
        return _value(t.types[0])
    if isinstance(t, mi.BoolType):
        return True
    if isinstance(t, mi.IntType):
        return 7
    if isinstance(t, mi.FloatType):
        return 1.5
    if isinstance(t, mi.StrType):
        return "x"
    if isinstance(t, mi.BytesType):
        return b"x"
    if isinstance(t, mi.NoneType):
        return None
    if isinstance(t, mi.TupleType):
        return tuple(_value(item) for item in t.item_types)
    if isinstance(t, mi.VarTupleType):
        return (_value(t.item_type),)
    if isinstance(t, mi.ListType):
        return [_value(t.item_type)]
    if isinstance(t, mi.DictType):
        return {_value(t.key_type): _value(t.value_type)}
    if isinstance(t, mi.AnyType):
        return 0
    raise NotImplementedError(f"no value for {t!r}")


def _mutable_sequences(t: mi.Type, seen: set[type] | None = None) -> list[str]:
    """The list/set types anywhere in ``t`` (nested structs included)."""
    seen = set() if seen is None else seen
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType):
        return [repr(t)[:60]]
    children: list[mi.Type] = []
    if isinstance(t, mi.StructType):
        if t.cls in seen:
            return []
        seen.add(t.cls)
        children = [f.type for f in t.fields]
    elif isinstance(t, mi.UnionType):
        children = list(t.types)
    elif isinstance(t, mi.TupleType):
        children = list(t.item_types)
    elif isinstance(t, mi.VarTupleType):
        children = [t.item_type]
    elif isinstance(t, mi.DictType):
        children = [t.key_type, t.value_type]
    return [found for child in children for found in _mutable_sequences(child, seen)]


class TestTags:
    """Every tagged struct of the package has a tag no other struct has."""

    def test_the_package_has_messages_to_check(self):
        assert len(MESSAGES) > 40
        assert {"SubmitOrder", "OrderFilled", "BookView", "TradeTick"} <= {
            cls.__name__ for cls in MESSAGES
        }

    def test_no_two_structs_share_a_tag(self):
        by_tag: dict[object, list[str]] = {}
        for cls in STRUCTS:
            config = cls.__struct_config__
            if config.tag is not None:
                by_tag.setdefault((config.tag_field, config.tag), []).append(_name(cls))
        repeated = {tag: names for tag, names in by_tag.items() if len(names) > 1}
        assert not repeated, f"tags used by more than one struct: {repeated}"


class TestMessages:
    """Every `Message` is frozen, tagged, holds tuples (not lists) and survives msgpack."""

    @pytest.mark.parametrize("cls", MESSAGES, ids=_name)
    def test_a_message_is_frozen_and_tagged(self, cls):
        config = cls.__struct_config__
        assert config.frozen, f"{_name(cls)} is not frozen"
        assert config.tag is not None, f"{_name(cls)} has no tag"

    @pytest.mark.parametrize("cls", MESSAGES, ids=_name)
    def test_a_message_holds_no_list(self, cls):
        assert _mutable_sequences(mi.type_info(cls)) == [], f"{_name(cls)} holds a list or set"

    @pytest.mark.parametrize("cls", MESSAGES, ids=_name)
    def test_a_message_survives_a_msgpack_round_trip(self, cls):
        message = _value(mi.type_info(cls))
        decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(message), type=cls)
        assert decoded == message
        assert type(decoded) is cls


class TestEnums:
    """Sides, times in force, statuses and denial reasons are their wire strings."""

    def test_sides_are_buy_and_sell(self):
        assert [str(side) for side in Side] == ["buy", "sell"]
        assert Side.BUY == "buy"
        assert (Side.BUY.sign, Side.SELL.sign) == (1, -1)
        assert (Side.BUY.opposite, Side.SELL.opposite) == (Side.SELL, Side.BUY)

    def test_times_in_force_are_gtc_ioc_fok(self):
        assert [str(tif) for tif in TimeInForce] == ["gtc", "ioc", "fok"]
        assert TimeInForce.valid("ioc")
        assert not TimeInForce.valid("day")

    def test_deny_reasons_are_the_strings_hosts_and_metrics_see(self):
        assert DenyReason.HALTED == "halted"
        assert DenyReason.DUPLICATE_ID == "duplicate_client_order_id"
        assert DenyReason.VENUE_DOWN == "venue_down"
        assert DenyReason.LOST == "lost"
        assert all(str(reason) == reason.value for reason in DenyReason)

    def test_statuses_are_their_values_and_denied_is_terminal(self):
        assert OrderStatus.PARTIALLY_FILLED == "partially_filled"
        assert not OrderStatus.DENIED.open

    @pytest.mark.parametrize("enum", [Side, TimeInForce, DenyReason, OrderStatus])
    def test_an_enum_is_encoded_as_its_string(self, enum):
        for member in enum:
            assert msgspec.json.encode(member) == msgspec.json.encode(member.value)
            assert msgspec.msgpack.decode(msgspec.msgpack.encode(member.value), type=enum) is member
