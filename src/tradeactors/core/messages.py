"""The base of everything actors send each other."""

from __future__ import annotations

import msgspec

__all__ = ["Message"]


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """Base of actor messages: frozen, keyword-only, tagged in subclasses (msgpack-able)."""
