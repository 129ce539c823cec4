"""`trim_point`: where a stream read by several consumer groups may be trimmed."""

from __future__ import annotations

from tradeactors.bus._inbound import trim_point


def test_the_oldest_entry_some_group_still_needs():
    # (last delivered, oldest pending): a group's pending entry holds the stream back
    assert trim_point([("5-0", None)]) == "5-0"
    assert trim_point([("5-0", "3-1")]) == "3-1"
    assert trim_point([("9-0", None), ("7-2", "6-0"), ("8-0", None)]) == "6-0"
    assert trim_point([("10-0", None), ("9-5", None)]) == "9-5"
    # ids compare as numbers, not as text
    assert trim_point([("100-0", None), ("99-0", None)]) == "99-0"
    assert trim_point([("5-10", None), ("5-9", None)]) == "5-9"


def test_nothing_while_a_group_has_read_nothing_or_there_is_none():
    assert trim_point([("0-0", None), ("5-0", None)]) is None
    assert trim_point([]) is None
