"""The journal actor commits in groups; a live system's journal verifies and matches its fills;
an unwritable journal halts trading (both runtimes)."""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry
from trading_helpers import (
    INSTRUMENT,
    MID,
    SECRET,
    SYMBOL,
    Taker,
    TradingEvents,
    config_for,
    resting_buy,
)

from tradeactors import cli
from tradeactors.clock import FakeClock
from tradeactors.core.killswitch import KillSwitchChanged
from tradeactors.core.messages import (
    JOURNAL_UNAVAILABLE,
    CancelAtVenue,
    OrderRejected,
    OrderSubmitted,
    OrderUpdate,
    PlaceOrder,
    Side,
    SubmitOrder,
    VenueStatus,
    WriteAhead,
)
from tradeactors.core.orders import OrderStatus
from tradeactors.core.risk import TradingState
from tradeactors.journal import (
    FlushJournal,
    JournalActor,
    JournalMetrics,
    JournalReader,
    JournalWriter,
)
from tradeactors.supervision import ChildSpec, SupervisedActor, SupervisorSpec
from tradeactors.trading.system import JOURNAL, TradingSystem

if TYPE_CHECKING:
    from tradeactors.exchange.server import SimExchange

pytestmark = pytest.mark.supervision


def update(n: int) -> OrderUpdate:
    return OrderUpdate(
        client_order_id=f"o{n}",
        venue="sim",
        instrument=SYMBOL,
        side=Side.BUY,
        price=MID,
        quantity=1,
        status=OrderStatus.ACCEPTED,
        filled=0,
    )


class HeldWriter(JournalWriter):
    """A writer whose first commit waits for ``release``: the events after it queue up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entered, self.release = threading.Event(), threading.Event()

    def append(self, batch):  # type: ignore[no-untyped-def]
        if self.commits == 0:
            self.entered.set()
            assert self.release.wait(10)
        return super().append(batch)


@pytest.mark.parametrize(("max_batch", "commits"), [(256, 2), (10, 6)])
def test_events_told_at_once_are_committed_in_few_batches_all_in_order(
    tmp_path, make_tree, max_batch, commits
):
    writers: list[HeldWriter] = []

    def open_writer() -> HeldWriter:
        writers.append(HeldWriter(tmp_path / "j.sqlite", clock=FakeClock()))
        return writers[-1]

    registry = CollectorRegistry()
    tree = make_tree(
        journal_spec(open_writer, lambda detail: None, JournalMetrics(registry), max_batch)
    )
    journal = tree.address("journal")
    journal.tell(update(0))
    (writer,) = writers
    assert writer.entered.wait(10)  # the first event's commit is under way
    for n in range(1, 51):
        journal.tell(update(n))
    writer.release.set()
    assert journal.ask(FlushJournal(), timeout=10) == 51
    assert writer.commits == commits  # 1, then the 50 queued in one batch (or batches of 10)
    with JournalReader(tmp_path / "j.sqlite") as reader:
        assert [o["client_order_id"] for o in reader.events()] == [f"o{n}" for n in range(51)]
    sample = registry.get_sample_value
    assert sample("tradeactors_journal_events_written_total") == 51
    assert sample("tradeactors_journal_batch_events_count") == commits
    assert sample("tradeactors_journal_batch_events_sum") == 51
    assert sample("tradeactors_journal_commit_seconds_count") == commits


def journal_spec(open_writer, on_unavailable, metrics, max_batch=256, *, extra=(), deliver=None):
    kwargs = {
        "open_writer": open_writer,
        "on_unavailable": on_unavailable,
        "metrics": metrics,
        "max_batch": max_batch,
    }
    if deliver is not None:
        kwargs["deliver"] = deliver
    return SupervisorSpec(
        name="root",
        children=(ChildSpec(name="journal", actor=JournalActor, kwargs=kwargs), *extra),
    )


class Witness(SupervisedActor):
    """Receives what the journal sends; notes whether its order was committed by then,
    read through a connection of its own (committed = visible to another reader)."""

    def __init__(self, path, seen) -> None:
        super().__init__()
        self._path, self._seen = path, seen

    def on_receive(self, message):
        if isinstance(message, PlaceOrder | CancelAtVenue | OrderRejected):
            cid = message.client_order_id if not isinstance(message, PlaceOrder) else None
            cid = cid or message.order.client_order_id
            db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)
            try:
                row = db.execute(
                    "SELECT COUNT(*) FROM events WHERE kind = 'submitted' AND client_order_id = ?",
                    (cid,),
                ).fetchone()
            finally:
                db.close()
            self._seen.put((type(message).__name__, cid, row[0]))


def submit_order(n: int) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=f"o{n}", venue="sim", instrument=SYMBOL, side=Side.BUY,
        price=MID, quantity=1, owner="witness",
    )  # fmt: skip


def write_ahead(n: int) -> WriteAhead:
    order = submit_order(n)
    return WriteAhead(
        records=(OrderSubmitted(order=order, timestamp_ns=n),),
        sends=(("witness", PlaceOrder(order=order)),),
        events=(update(n),),
        origin="witness",
    )


def test_an_order_is_sent_only_once_its_record_is_committed(tmp_path, make_tree):
    import queue

    seen: queue.Queue[tuple[str, str, int]] = queue.Queue()
    published: list[Any] = []
    path = tmp_path / "j.sqlite"
    tree = make_tree(
        journal_spec(
            lambda: JournalWriter(path, clock=FakeClock()),
            lambda detail: None,
            None,
            extra=(ChildSpec(name="witness", actor=Witness, args=(path, seen)),),
            deliver=published.append,
        )
    )
    journal = tree.address("journal")
    for n in range(20):
        journal.tell(write_ahead(n))
    got = [seen.get(timeout=10) for _ in range(20)]
    # each PlaceOrder arrived with its record already committed, in the order told
    assert got == [("PlaceOrder", f"o{n}", 1) for n in range(20)]
    journal.ask(FlushJournal(), timeout=10)
    assert [e.client_order_id for e in published] == [f"o{n}" for n in range(20)]
    with JournalReader(path) as reader:
        (order, *_) = reader.orders()
        kinds = [e["kind"] for e in reader.events()][:2]
    assert (order["owner"], order["tif"], order["status"]) == ("witness", "gtc", "accepted")
    assert kinds == ["submitted", "order_update"]


def test_an_order_that_cannot_be_recorded_is_not_sent_but_cancels_are(tmp_path, make_tree):
    import queue

    seen: queue.Queue[tuple[str, str, int]] = queue.Queue()
    published: list[Any] = []
    tripped = threading.Event()
    path = tmp_path / "j.sqlite"
    JournalWriter(path, clock=FakeClock()).close()
    tree = make_tree(
        journal_spec(
            lambda: JournalWriter(path, clock=FakeClock(), read_only=True),
            lambda detail: tripped.set(),
            None,
            extra=(ChildSpec(name="witness", actor=Witness, args=(path, seen)),),
            deliver=published.append,
        )
    )
    cancel = CancelAtVenue(client_order_id="o7", order_id=7, instrument=SYMBOL)
    order = write_ahead(1)
    tree.address("journal").tell(
        msgspec.structs.replace(order, sends=(*order.sends, ("witness", cancel)))
    )
    # the order is refused back to its origin (the order manager), the cancel still goes
    assert seen.get(timeout=10) == ("OrderRejected", "o1", 0)
    assert seen.get(timeout=10) == ("CancelAtVenue", "o7", 0)
    tree.address("journal").ask(FlushJournal(), timeout=10)
    assert tripped.is_set()
    assert [e.client_order_id for e in published] == ["o1"]  # facts are still published


def test_a_full_journal_is_reported_once_and_its_events_held(tmp_path, make_tree):
    registry = CollectorRegistry()
    reported: list[str] = []
    tripped = threading.Event()

    def on_unavailable(detail: str) -> None:
        reported.append(detail)
        tripped.set()

    def open_writer() -> JournalWriter:
        return JournalWriter(tmp_path / "j.sqlite", clock=FakeClock(), max_page_count=8)

    tree = make_tree(journal_spec(open_writer, on_unavailable, JournalMetrics(registry), 50))
    journal = tree.address("journal")
    journal.tell(update(0))
    assert journal.ask(FlushJournal(), timeout=10) == 1
    for n in range(1, 301):  # far more than 8 pages hold
        journal.tell(msgspec.structs.replace(update(n), detail="x" * 500))
    journal.ask(FlushJournal(), timeout=10)
    assert tripped.is_set()
    (detail,) = reported  # once per outage, not once per batch
    assert "database or disk is full" in detail
    assert str(tmp_path / "j.sqlite") in detail
    sample = registry.get_sample_value
    written = sample("tradeactors_journal_events_written_total")
    held = sample("tradeactors_journal_events_held")
    assert written is not None
    assert held is not None
    assert held > 0
    assert sample("tradeactors_journal_events_dropped_total") == 0
    assert written + held == 301  # every event is either recorded or held to be
    assert sample("tradeactors_journal_unavailable_total") == 1


@pytest.fixture
def journaled(sim_venue: SimExchange, monkeypatch, tmp_path):
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    path = tmp_path / "journal.sqlite"
    system = TradingSystem(config_for(sim_venue, journal={"path": str(path)}))
    events = TradingEvents()
    system.subscribe(events)
    system.start(timeout=20)
    try:
        events.wait_for(VenueStatus, up=True)
        yield system, events, path
    finally:
        if system.tree.running:
            system.stop(timeout=10)


def _sell_into(sim_venue: SimExchange, price: int, lots: int) -> None:
    taker = Taker(sim_venue)
    try:
        taker.request(
            "place", client_order_id=f"t{lots}", side="sell", type="limit", tif="ioc",
            price=INSTRUMENT.format_price(price), quantity=INSTRUMENT.format_size(lots),
        )  # fmt: skip
    finally:
        taker.close()


def test_a_live_systems_journal_verifies_and_its_fills_are_the_systems(
    journaled, sim_venue, capsys
):
    system, events, path = journaled
    buy = resting_buy(system, quantity=5)
    events.wait_for(OrderUpdate, client_order_id=buy, status="accepted")
    _sell_into(sim_venue, MID - 300, 2)  # two partial fills of the resting buy
    _sell_into(sim_venue, MID - 300, 1)
    heard = events.wait_for(OrderUpdate, count=2, status="partially_filled")
    system.stop(timeout=10)

    code = cli.main(["journal", "verify", "--journal", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS  positions_equal_sum_of_fills: {'BTCUSDT': 3}, from 2 fills" in out
    with JournalReader(path) as reader:
        fills = reader.fills()
        (order,) = reader.orders()
        kinds = {e["kind"] for e in reader.events()}
    system_fills = [(u.client_order_id, str(u.execution_id), u.fill_quantity) for u in heard]
    assert [(f["client_order_id"], f["execution_id"], f["fill_lots"]) for f in fills] == (
        system_fills
    )
    assert (order["client_order_id"], order["status"], order["filled_lots"]) == (
        buy,
        "cancelled",
        3,
    )
    assert (order["price"], order["quantity"]) == (INSTRUMENT.format_price(MID - 300), "0.005")
    assert {"order_update", "fill", "kill_switch", "reconciliation", "positions"} <= kinds


def test_a_locked_journal_halts_trading_as_journal_unavailable(journaled, sim_venue):
    system, events, path = journaled
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the file: nothing can write
        buy = resting_buy(system)
        (change,) = events.wait_for(KillSwitchChanged, reason="journal_unavailable")
        # write-ahead: the order could not be recorded, so it never went to the venue
        (refused,) = events.wait_for(OrderUpdate, client_order_id=buy, status="rejected")
        assert (refused.reason, refused.detail) == (
            JOURNAL_UNAVAILABLE,
            "not sent: the journal could not record it",
        )
        assert sim_venue.open_orders("demo") == []
        assert (change.state, change.source, change.scope) == (
            TradingState.HALTED,
            "journal_unavailable",
            "all",
        )
        assert system.gate.state is TradingState.HALTED
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # writable again: later events are recorded; the switch stays latched until reset
    assert system.gate.state is TradingState.HALTED
    system.gate.reset(TradingState.ACTIVE, by="test", reason="journal writable again")
    events.wait_for(KillSwitchChanged, reason="test: journal writable again")
    system.tree.address(JOURNAL).ask(FlushJournal(), timeout=10)
    with JournalReader(path) as reader:
        events = reader.events()
    (reset,) = [e for e in events if e["source"] == "reset"]
    assert (reset["state"], reset["reason"]) == ("active", "test: journal writable again")
    # what could not be written while locked was held and written first, in order: the
    # order's record, its refusal, and the trip (a restart would find it HALTED)
    mine = [(e["kind"], e["status"]) for e in events if e["client_order_id"] == buy]
    assert mine == [("submitted", "pending"), ("order_update", "rejected")]
    (trip,) = [e for e in events if e["source"] == "journal_unavailable"]
    assert trip["sequence"] < reset["sequence"]


def test_a_corrupt_journal_refuses_the_start_naming_the_file(sim_venue, monkeypatch, tmp_path):
    monkeypatch.setenv("TRADEACTORS_TEST_SECRET", SECRET)
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"\x00garbage" * 512)
    system = TradingSystem(config_for(sim_venue, journal={"path": str(path)}))
    with pytest.raises(Exception, match=rf"journal {path}: not a readable SQLite database"):
        system.start(timeout=20)
    assert path.read_bytes() == b"\x00garbage" * 512


def test_a_failing_journal_actor_delivers_what_it_held_before_its_restart(tmp_path, make_tree):
    import queue

    seen: queue.Queue[tuple[str, str, int]] = queue.Queue()
    path = tmp_path / "j.sqlite"
    writers: list[HeldWriter] = []

    def open_writer() -> HeldWriter:
        writers.append(HeldWriter(path, clock=FakeClock()))
        if len(writers) > 1:
            writers[-1].release.set()  # only the first incarnation's first commit waits
        return writers[-1]

    published: list[str] = []

    def deliver(event: Any) -> None:
        published.append(event.client_order_id)
        if len(published) == 2:
            raise RuntimeError("a broken subscriber")

    tree = make_tree(
        journal_spec(
            open_writer,
            lambda detail: None,
            None,
            extra=(ChildSpec(name="witness", actor=Witness, args=(path, seen)),),
            deliver=deliver,
        )
    )
    journal = tree.address("journal")
    journal.tell(write_ahead(0))
    assert writers[0].entered.wait(10)
    for n in range(1, 5):  # one batch: o1's delivery fails, o2..o4 wait behind it
        journal.tell(write_ahead(n))
    writers[0].release.set()
    got = sorted(seen.get(timeout=10) for _ in range(5))
    assert got == [("PlaceOrder", f"o{n}", 1) for n in range(5)]  # none lost, all recorded
    assert journal.ask(FlushJournal(), timeout=10) == 0  # a new incarnation, nothing new
    (child,) = [c for c in tree.children() if c.name == "journal"]
    assert child.restarts == 1
