"""One instance of every message type the bus carries, built from the type's fields.

Built from the annotations (msgspec.inspect), so a message type added to the core is
covered without editing a list: every field gets a value that is not its default.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import inspect


def _value(info: inspect.Type, depth: int = 0) -> Any:  # noqa: C901, PLR0911 - a case per type
    match info:
        case inspect.IntType():
            return 7
        case inspect.FloatType():
            return 2.5
        case inspect.StrType():
            return "s"
        case inspect.BoolType():
            return True
        case inspect.BytesType():
            return b"b"
        case inspect.EnumType():
            members = list(info.cls)
            return members[-1]
        case inspect.UnionType():
            choices = [t for t in info.types if not isinstance(t, inspect.NoneType)]
            return _value(choices[0], depth)
        case inspect.TupleType():
            return tuple(_value(t, depth) for t in info.item_types)
        case inspect.VarTupleType():
            return (_value(info.item_type, depth),)
        case inspect.DictType():
            return {_value(info.key_type, depth): _value(info.value_type, depth)}
        case inspect.StructType():
            return sample(info.cls, depth + 1)
        case inspect.AnyType():
            return "any"
    raise TypeError(f"no sample for {info!r}")


def sample(kind: type[msgspec.Struct], depth: int = 0) -> Any:
    """An instance of ``kind`` with every field set (nested structs too)."""
    info = inspect.type_info(kind)
    assert isinstance(info, inspect.StructType)
    values = {field.name: _value(field.type, depth) for field in info.fields}
    return kind(**values)
