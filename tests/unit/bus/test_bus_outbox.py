"""`OutboundBridge`'s outbox: entries taken off by identity, never a successor's."""

from __future__ import annotations

from tradeactors.bus import BusSettings, OutboundBridge, Outbox


def _entry(n: int) -> tuple[str, dict[bytes, bytes], None]:
    return ("cmd:execution", {b"n": str(n).encode()}, None)


def test_a_send_takes_off_only_the_entries_it_sent():
    outbox = Outbox()
    bridge = OutboundBridge(BusSettings(), host="st-1", stream="cmd:execution", outbox=outbox)
    old = [_entry(n) for n in (1, 2, 3)]
    outbox.entries.extend(old)
    sending = list(outbox.entries)  # an incarnation's send, which then hangs...
    # ...while its successor sends the same three and queues three of its own
    successor = OutboundBridge(BusSettings(), host="st-1", stream="cmd:execution", outbox=outbox)
    successor._forget(list(outbox.entries))
    new = [_entry(n) for n in (4, 5, 6)]
    outbox.entries.extend(new)
    bridge._forget(sending)  # the old send returns: it takes nothing of the successor's
    assert list(outbox.entries) == new
    successor._forget(new[:2])
    assert list(outbox.entries) == new[2:]
