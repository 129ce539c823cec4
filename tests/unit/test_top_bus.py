"""`tradeactors top`'s bus lines, from the bus's own metrics (BusMetrics), one per host."""

from __future__ import annotations

import io

from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from tradeactors.bus import BusMetrics
from tradeactors.cli import _parser
from tradeactors.top import bus_rows, main_top, make_view, parse_scrape, render, run_top

URL = "http://127.0.0.1:1/metrics"
COMMANDS, EVENTS, BEATS = "bus:commands", "bus:events", "bus:heartbeats"
BOOK = "md:sim:book:BTCUSDT"


def text_of(renderable: object, width: int = 240) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def styles_of(renderable: object, text: str) -> list[str]:
    """The styles of the segments that show ``text`` (to see what is red)."""
    console = Console(width=240, file=io.StringIO(), color_system="truecolor")
    return [
        str(segment.style)
        for segment in console.render(renderable)
        if text in segment.text and segment.style is not None
    ]


def bus_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("bus ")]


class Hosts:
    """One registry scraped as one endpoint, each host's BusMetrics fed as its bridges do."""

    def __init__(self, *hosts: str) -> None:
        self.registry = CollectorRegistry()
        self.metrics = BusMetrics(self.registry, host=hosts[0])
        self.hosts = hosts

    def inc(self, counter: str, host: str, stream: str, by: float = 1) -> None:
        getattr(self.metrics, counter).labels(host, stream).inc(by)

    def set(self, gauge: str, host: str, stream: str, value: float) -> None:
        getattr(self.metrics, gauge).labels(host, stream).set(value)

    def scrape(self, at: float):
        return parse_scrape(generate_latest(self.registry).decode(), at=at)


def execution_and_strategy() -> Hosts:
    """An execution host ``ex`` and a strategy host ``st-1`` as they look once trading."""
    hosts = Hosts("ex", "st-1")
    for stream in (COMMANDS, EVENTS, BEATS):
        hosts.set("up", "ex", stream, 1)
    hosts.set("up", "st-1", COMMANDS, 1)
    hosts.set("up", "st-1", EVENTS, 1)
    hosts.inc("published", "st-1", COMMANDS, 10)
    hosts.inc("consumed", "ex", COMMANDS, 10)
    hosts.inc("acked", "ex", COMMANDS, 10)
    hosts.set("pending", "ex", COMMANDS, 0)
    hosts.set("lag", "ex", COMMANDS, 0)
    hosts.inc("published", "ex", EVENTS, 20)
    hosts.inc("consumed", "st-1", EVENTS, 20)
    hosts.inc("acked", "st-1", EVENTS, 20)
    hosts.set("lag", "st-1", EVENTS, 0)
    hosts.metrics.heartbeat_age.labels("ex", "st-1").set(0.12)
    hosts.metrics.heartbeat_age.labels("ex", "md").set(0.31)
    return hosts


class TestTheBusLines:
    """A line per host: role, rates over the interval, backlog, repeats, lag, heartbeats."""

    def test_rates_are_over_the_interval_and_the_role_comes_from_the_streams(self):
        hosts = execution_and_strategy()
        before = hosts.scrape(at=0.0)
        hosts.inc("published", "st-1", COMMANDS, 8)
        hosts.inc("consumed", "ex", COMMANDS, 8)
        hosts.inc("acked", "ex", COMMANDS, 6)
        hosts.set("pending", "ex", COMMANDS, 2)
        hosts.inc("redelivered", "ex", COMMANDS, 1)
        hosts.inc("duplicates", "ex", COMMANDS, 1)
        hosts.set("lag", "st-1", EVENTS, 3)
        after = hosts.scrape(at=2.0)
        execution, strategy = bus_rows(before, after)
        assert (execution.host, execution.role, strategy.host, strategy.role) == (
            "ex", "execution", "st-1", "strategy",
        )  # fmt: skip
        # 8 consumed over 2 s; the events it published did not move
        assert (execution.published, execution.consumed, execution.acked) == (0.0, 4.0, 3.0)
        assert (execution.pending, execution.redelivered, execution.duplicates) == (2, 1, 1)
        assert execution.heartbeat == ("md", 0.31)  # the peer heard longest ago
        assert not execution.past_lease
        assert strategy.published == 4.0
        assert strategy.lag == (EVENTS, 3.0)
        assert strategy.heartbeat is None  # a strategy host watches no heartbeats
        lines = bus_lines(text_of(render(make_view(URL, before, after))))
        assert [line.split() for line in lines] == [
            ["bus", "ex", "execution", "up", "published", "0.0/s", "consumed", "4.0/s",
             "acked", "3.0/s", "pending", "2", "redelivered", "1", "duplicates", "1",
             "lag", "0", "bus:commands", "heartbeat", "310ms", "md"],
            ["bus", "st-1", "strategy", "up", "published", "4.0/s", "consumed", "0.0/s",
             "acked", "0.0/s", "pending", "0", "redelivered", "0", "duplicates", "0",
             "lag", "3", "bus:events", "heartbeat", "-"],
        ]  # fmt: skip

    def test_a_peer_past_the_lease_is_shown_in_red(self):
        hosts = execution_and_strategy()
        hosts.metrics.heartbeat_age.labels("ex", "st-1").set(3.4)
        snapshot = hosts.scrape(at=0.0)
        (execution, _) = bus_rows(None, snapshot, lease=3.0)
        assert execution.heartbeat == ("st-1", 3.4)
        assert execution.past_lease
        view = make_view(URL, None, snapshot, lease=3.0)
        (line, _) = bus_lines(text_of(render(view)))
        assert line.endswith("heartbeat 3.40s st-1 PAST LEASE")
        assert any("red" in style for style in styles_of(render(view), "PAST LEASE"))
        # with a longer lease the same age is fine
        (execution, _) = bus_rows(None, snapshot, lease=5.0)
        assert not execution.past_lease
        assert "PAST LEASE" not in text_of(render(make_view(URL, None, snapshot, lease=5.0)))

    def test_a_host_that_lost_redis_shows_which_streams_are_down(self):
        hosts = execution_and_strategy()
        hosts.set("up", "st-1", COMMANDS, 0)
        hosts.set("up", "st-1", EVENTS, 0)
        view = make_view(URL, None, hosts.scrape(at=0.0))
        (_, strategy) = view.buses
        assert strategy.down == (COMMANDS, EVENTS)
        (_, line) = bus_lines(text_of(render(view)))
        assert line.startswith("bus st-1 strategy DOWN (bus:commands, bus:events)   published -/s")
        assert any("red" in style for style in styles_of(render(view), "DOWN"))

    def test_a_market_data_host_is_named_by_the_streams_it_writes(self):
        hosts = Hosts("md")
        hosts.set("up", "md", BOOK, 1)
        hosts.inc("published", "md", BOOK, 50)
        hosts.inc("conflated", "md", BOOK, 7)
        (row,) = bus_rows(None, hosts.scrape(at=0.0))
        assert row.role == "market-data"
        assert (row.published, row.lag, row.heartbeat) == (None, None, None)

    def test_a_host_before_its_first_entry_has_no_role_yet(self):
        hosts = Hosts("st-1")
        hosts.set("up", "st-1", BEATS, 1)  # only its heartbeat publisher has started
        (row,) = bus_rows(None, hosts.scrape(at=0.0))
        assert row.role == "?"

    def test_a_restarted_host_counts_its_entries_from_zero(self):
        old, new = execution_and_strategy(), Hosts("ex")
        old.inc("consumed", "ex", COMMANDS, 90)  # 100 before the restart
        new.inc("consumed", "ex", COMMANDS, 6)  # 6 since
        (row,) = bus_rows(old.scrape(at=0.0), new.scrape(at=3.0))
        assert row.consumed == 2.0

    def test_a_system_without_a_bus_has_no_bus_line(self):
        registry = CollectorRegistry()
        snapshot = parse_scrape(generate_latest(registry).decode(), at=0.0)
        assert snapshot.buses == {}
        assert bus_rows(None, snapshot) == ()
        assert bus_lines(text_of(render(make_view(URL, None, snapshot)))) == []


class TestTheLeaseOption:
    """``top --lease S``: the lease the heartbeat ages are held against (not in the metrics)."""

    def test_the_command_line_lease_reaches_the_frame(self, monkeypatch):
        hosts = execution_and_strategy()
        hosts.metrics.heartbeat_age.labels("ex", "st-1").set(1.5)
        frames: list[str] = []

        def fetch(url: str):
            return hosts.scrape(at=float(len(frames)))

        def run(url: str, **kwargs: object) -> int:
            console = Console(record=True, width=240, file=io.StringIO())
            code = run_top(url, console=console, fetch=fetch, **kwargs)  # type: ignore[arg-type]
            frames.append(console.export_text())
            return code

        monkeypatch.setattr("tradeactors.top.run_top", run)
        for lease, past in (("1.0", True), ("2.0", False)):
            argv = ["top", "--url", URL, "--once", "--interval", "0.001", "--lease", lease]
            args = _parser().parse_args(argv)
            assert main_top(args) == 0
            line = bus_lines(frames[-1])[0]  # the execution host's: it watches heartbeats
            assert ("PAST LEASE" in line) is past, line
        default = _parser().parse_args(["top", "--url", URL])
        assert default.lease == 3.0  # [bus] lease's default

    def test_a_lease_that_is_not_positive_is_refused(self, capsys):
        assert run_top(URL, once=True, lease=0) == 2
        assert "--lease must be positive" in capsys.readouterr().err
