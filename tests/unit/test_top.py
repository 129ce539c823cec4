"""`tradeactors top`'s pure part (parse, rates, quantiles, render) and its loop, offline."""

from __future__ import annotations

import argparse
import io
import math
import socket
import threading

import pytest
from rich.console import Console

from tradeactors.top import (
    DEFAULT_URL,
    Quantile,
    Snapshot,
    TopError,
    actor_rows,
    fetch_snapshot,
    format_seconds,
    histogram_quantile,
    main_top,
    make_view,
    parse_scrape,
    render,
    run_top,
)

INF = math.inf
URL = "http://127.0.0.1:1/metrics"


def exposition(
    *,
    kill: int = 0,
    venue_up: int = 1,
    risk_processed: tuple[int, int] = (30, 10),
    risk_wait: tuple[int, int, int, int] = (50, 90, 99, 100),
    risk_handler: tuple[int, int, int, int] = (100, 100, 100, 100),
    gateway_up: int = 1,
    restarts: int = 2,
) -> str:
    """A scrape of a tiny tree, as ``tradeactors run`` serves it (a few buckets only)."""
    w1, w2, w3, winf = risk_wait
    h1, h2, h3, hinf = risk_handler
    return f"""\
# HELP tradeactors_order_updates_total Order updates by new status
# TYPE tradeactors_order_updates_total counter
tradeactors_order_updates_total{{status="accepted"}} 6.0
# HELP tradeactors_kill_switch_state Kill switch: 0 active, 1 reducing, 2 halted
# TYPE tradeactors_kill_switch_state gauge
tradeactors_kill_switch_state {kill}.0
# HELP tradeactors_venue_up 1 while the venue is up
# TYPE tradeactors_venue_up gauge
tradeactors_venue_up{{venue="sim"}} {venue_up}.0
# HELP tradeactors_open_orders Orders that may still trade
# TYPE tradeactors_open_orders gauge
tradeactors_open_orders{{venue="sim"}} 2.0
# HELP tradeactors_fills_total Fills applied
# TYPE tradeactors_fills_total counter
tradeactors_fills_total 7.0
# HELP tradeactors_position_lots Net position in lots
# TYPE tradeactors_position_lots gauge
tradeactors_position_lots{{instrument="BTCUSDT"}} -3.0
# HELP tradeactors_position Net position in the instrument's base units
# TYPE tradeactors_position gauge
tradeactors_position{{instrument="BTCUSDT"}} -0.003
# HELP tradeactors_mailbox_depth Messages waiting in the mailbox.
# TYPE tradeactors_mailbox_depth gauge
tradeactors_mailbox_depth{{path="/"}} 0.0
tradeactors_mailbox_depth{{path="execution"}} 0.0
tradeactors_mailbox_depth{{path="execution/gateway.sim"}} 4.0
tradeactors_mailbox_depth{{path="risk"}} 1.0
# HELP tradeactors_actor_up 1 while an incarnation is running.
# TYPE tradeactors_actor_up gauge
tradeactors_actor_up{{path="/"}} 1.0
tradeactors_actor_up{{path="execution"}} 1.0
tradeactors_actor_up{{path="execution/gateway.sim"}} {gateway_up}.0
tradeactors_actor_up{{path="risk"}} 1.0
# HELP tradeactors_messages_processed_total Messages handled, by message type.
# TYPE tradeactors_messages_processed_total counter
tradeactors_messages_processed_total{{message_type="BookView",path="risk"}} {risk_processed[0]}.0
tradeactors_messages_processed_total{{message_type="SubmitOrder",path="risk"}} {risk_processed[1]}.0
tradeactors_messages_processed_total{{message_type="PlaceOrder",path="execution/gateway.sim"}} 5.0
# HELP tradeactors_restarts_total Starts of the actor after its first.
# TYPE tradeactors_restarts_total counter
tradeactors_restarts_total{{path="/"}} 0.0
tradeactors_restarts_total{{path="execution"}} 0.0
tradeactors_restarts_total{{path="execution/gateway.sim"}} {restarts}.0
tradeactors_restarts_total{{path="risk"}} 0.0
# HELP tradeactors_dead_letters_total Messages never handled, by reason.
# TYPE tradeactors_dead_letters_total counter
tradeactors_dead_letters_total{{path="execution/gateway.sim",reason="crashed"}} 1.0
tradeactors_dead_letters_total{{path="execution/gateway.sim",reason="closed"}} 3.0
# HELP tradeactors_mailbox_wait_seconds Time a message waited in the mailbox.
# TYPE tradeactors_mailbox_wait_seconds histogram
tradeactors_mailbox_wait_seconds_bucket{{le="0.002",path="risk"}} {w2}.0
tradeactors_mailbox_wait_seconds_bucket{{le="0.001",path="risk"}} {w1}.0
tradeactors_mailbox_wait_seconds_bucket{{le="0.004",path="risk"}} {w3}.0
tradeactors_mailbox_wait_seconds_bucket{{le="+Inf",path="risk"}} {winf}.0
tradeactors_mailbox_wait_seconds_count{{path="risk"}} {winf}.0
tradeactors_mailbox_wait_seconds_sum{{path="risk"}} 0.1
# HELP tradeactors_handler_seconds Time spent in the handler.
# TYPE tradeactors_handler_seconds histogram
tradeactors_handler_seconds_bucket{{le="1e-06",path="risk"}} {h1}.0
tradeactors_handler_seconds_bucket{{le="2e-06",path="risk"}} {h2}.0
tradeactors_handler_seconds_bucket{{le="4e-06",path="risk"}} {h3}.0
tradeactors_handler_seconds_bucket{{le="+Inf",path="risk"}} {hinf}.0
tradeactors_handler_seconds_count{{path="risk"}} {hinf}.0
tradeactors_handler_seconds_sum{{path="risk"}} 0.0001
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{{generation="0"}} 123.0
"""


def text_of(renderable: object, width: int = 160) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


# -- parse ----------------------------------------------------------------------------


def test_a_scrape_is_parsed_per_actor_path_in_tree_order():
    snapshot = parse_scrape(exposition(), at=12.5)
    assert snapshot.at == 12.5
    assert list(snapshot.actors) == ["/", "execution", "execution/gateway.sim", "risk"]
    gateway = snapshot.actors["execution/gateway.sim"]
    assert gateway.up is True
    assert gateway.depth == 4
    assert gateway.processed == 5
    assert gateway.restarts == 2
    assert gateway.dead_letters == 4  # summed over reasons
    risk = snapshot.actors["risk"]
    assert risk.processed == 40  # summed over message types
    assert risk.wait == ((0.001, 50), (0.002, 90), (0.004, 99), (INF, 100))  # sorted by le
    assert risk.handler[-1] == (INF, 100)
    assert snapshot.actors["/"].wait == ()


def test_the_trading_series_are_parsed():
    snapshot = parse_scrape(exposition(kill=2, venue_up=0), at=0)
    assert snapshot.kill_switch == 2
    assert snapshot.venues == {"sim": False}
    assert snapshot.open_orders == {"sim": 2}
    assert snapshot.fills == 7
    assert snapshot.positions == {"BTCUSDT": -3}
    assert snapshot.base_positions == {"BTCUSDT": -0.003}


def test_positions_show_in_base_units_with_the_base_else_in_lots():
    snapshot = parse_scrape(exposition(), at=0.0)
    assert "positions BTCUSDT -0.003 BTC" in text_of(render(make_view(URL, None, snapshot)))
    lots_only = Snapshot(at=0, positions={"BTCUSDT": -3.0})
    assert "positions BTCUSDT -3 lots" in text_of(render(make_view(URL, None, lots_only)))


def test_an_exposition_without_tradeactors_series_gives_an_empty_snapshot():
    snapshot = parse_scrape("# TYPE up gauge\nup 1.0\n", at=0)
    assert snapshot == Snapshot(at=0)


def test_a_malformed_exposition_raises_value_error():
    with pytest.raises(ValueError, match="metric name"):
        parse_scrape("<html>not metrics</html>\n", at=0)


# -- quantiles ------------------------------------------------------------------------


def test_histogram_quantile_interpolates_inside_the_bucket_like_promql():
    buckets = ((0.001, 50.0), (0.002, 90.0), (0.004, 100.0), (INF, 100.0))
    # rank 99 falls in (0.002, 0.004]: 9 of that bucket's 10 observations
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.002 + 0.002 * 9 / 10)
    # rank 50 is the first bucket's last: interpolated from 0
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.001)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.0005)


def test_histogram_quantile_in_the_inf_bucket_is_the_highest_finite_bound():
    assert histogram_quantile(0.99, ((0.001, 10.0), (0.002, 20.0), (INF, 100.0))) == 0.002


def test_histogram_quantile_of_nothing_is_none():
    assert histogram_quantile(0.99, ((0.001, 0.0), (INF, 0.0))) is None
    assert histogram_quantile(0.99, ()) is None
    assert histogram_quantile(0.99, ((0.001, 3.0),)) is None  # no +Inf: not a histogram


def test_histogram_quantile_tolerates_counts_that_go_backwards():
    # a torn scrape: the middle bucket lower than the first one is taken as the first
    assert histogram_quantile(0.5, ((0.001, 10.0), (0.002, 5.0), (INF, 10.0))) == 0.0005


# -- rows: rates and p99 --------------------------------------------------------------


def test_msgs_per_second_is_the_increase_of_all_message_types_over_the_interval():
    before = parse_scrape(exposition(risk_processed=(30, 10)), at=100.0)
    after = parse_scrape(exposition(risk_processed=(60, 20)), at=102.0)
    rows = {row.path: row for row in actor_rows(before, after)}
    assert rows["risk"].rate == pytest.approx(20.0)  # (80 - 40) / 2 s
    assert rows["execution/gateway.sim"].rate == 0.0
    assert rows["/"].rate == 0.0  # no messages_processed series at all: zero


def test_the_first_frame_has_no_rates():
    rows = actor_rows(None, parse_scrape(exposition(), at=1.0))
    assert all(row.rate is None for row in rows)


def test_a_counter_reset_counts_from_zero():
    before = parse_scrape(exposition(risk_processed=(300, 100)), at=0.0)
    after = parse_scrape(exposition(risk_processed=(3, 1)), at=1.0)
    rows = {row.path: row for row in actor_rows(before, after)}
    assert rows["risk"].rate == pytest.approx(4.0)


def test_an_actor_new_in_the_second_scrape_has_no_rate_yet():
    before = parse_scrape(exposition().replace('path="risk"', 'path="other"'), at=0.0)
    after = parse_scrape(exposition(), at=1.0)
    rows = {row.path: row for row in actor_rows(before, after)}
    assert rows["risk"].rate is None
    assert rows["execution"].rate == 0.0


def test_p99_is_of_the_increase_between_scrapes_when_there_was_traffic():
    # before: 100 messages, all <= 1 ms (wait); after: 100 more, all in (2 ms, 4 ms]
    before = parse_scrape(exposition(risk_wait=(100, 100, 100, 100)), at=0.0)
    after = parse_scrape(exposition(risk_wait=(100, 100, 200, 200)), at=1.0)
    risk = {row.path: row for row in actor_rows(before, after)}["risk"]
    assert risk.wait_p99 == Quantile(pytest.approx(0.002 + 0.002 * 99 / 100), recent=True)
    # cumulative, the p99 would be lower: rank 198 of 200
    assert histogram_quantile(0.99, after.actors["risk"].wait) < risk.wait_p99.seconds


def test_p99_is_of_the_cumulative_histogram_without_traffic():
    before = parse_scrape(exposition(), at=0.0)
    after = parse_scrape(exposition(), at=1.0)
    risk = {row.path: row for row in actor_rows(before, after)}["risk"]
    assert risk.wait_p99 == Quantile(pytest.approx(0.004), recent=False)  # rank 99: 0.004
    assert risk.handler_p99 == Quantile(pytest.approx(0.99e-6), recent=False)


def test_p99_is_of_the_cumulative_histogram_after_a_reset():
    before = parse_scrape(exposition(risk_wait=(500, 500, 500, 500)), at=0.0)
    after = parse_scrape(exposition(risk_wait=(50, 90, 99, 100)), at=1.0)
    risk = {row.path: row for row in actor_rows(before, after)}["risk"]
    assert risk.wait_p99 == Quantile(pytest.approx(0.004), recent=True)


def test_p99_of_an_actor_that_handled_nothing_is_absent():
    rows = {row.path: row for row in actor_rows(None, parse_scrape(exposition(), at=0))}
    assert rows["execution"].wait_p99 is None
    assert rows["execution"].handler_p99 is None


def test_supervisors_are_the_root_and_paths_with_children():
    rows = {row.path: row.supervisor for row in actor_rows(None, parse_scrape(exposition(), 0))}
    assert rows == {
        "/": True,
        "execution": True,
        "execution/gateway.sim": False,
        "risk": False,
    }


# -- render ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0, "0.00ns"),
        (850e-9, "850ns"),
        (1.024e-6, "1.02µs"),
        (12.34e-6, "12.3µs"),
        (999.9e-6, "1000µs"),
        (1.05e-3, "1.05ms"),
        (0.2684, "268ms"),
        (2.5, "2.50s"),
        (17.18, "17.2s"),
    ],
)
def test_durations_are_shown_with_three_digits(seconds, shown):
    assert format_seconds(seconds) == shown


def test_the_frame_shows_the_trading_state_and_every_actor():
    before = parse_scrape(exposition(), at=0.0)
    after = parse_scrape(exposition(risk_processed=(60, 20), gateway_up=0), at=2.0)
    text = text_of(render(make_view(URL, before, after)))
    assert "kill switch ACTIVE" in text
    assert "venues sim up" in text
    assert "open orders sim 2" in text
    assert "fills 7" in text
    assert "positions BTCUSDT -0.003 BTC" in text
    assert "rates over 2.0 s" in text
    assert "4 actors, 3 up" in text
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert lines["execution/gateway.sim"][1:] == ["down", "4", "0.0", "-", "-", "2", "4"]
    assert lines["risk"] == ["risk", "up", "1", "20.0", "4.00ms", "990ns", "0", "0"]


def test_the_gateway_row_shows_restarts_and_dead_letters():
    text = text_of(render(make_view(URL, None, parse_scrape(exposition(), at=0.0))))
    row = next(line.split() for line in text.splitlines() if "gateway.sim" in line)
    assert row == ["execution/gateway.sim", "up", "4", "-", "-", "-", "2", "4"]


@pytest.mark.parametrize(("state", "label"), [(0, "ACTIVE"), (1, "REDUCING"), (2, "HALTED")])
def test_the_kill_switch_state_is_named(state, label):
    text = text_of(render(make_view(URL, None, parse_scrape(exposition(kill=state), at=0))))
    assert f"kill switch {label}" in text


def test_a_venue_down_and_a_failed_scrape_are_shown():
    snapshot = parse_scrape(exposition(venue_up=0), at=0)
    text = text_of(render(make_view(URL, None, snapshot, error="nothing answers")))
    assert "venues sim DOWN" in text
    assert "last scrape failed (nothing answers): showing older data" in text


def test_an_endpoint_without_tradeactors_metrics_says_so():
    text = text_of(render(make_view(URL, None, Snapshot(at=0))))
    assert "kill switch n/a" in text
    assert "no tradeactors actor metrics at this URL" in text


def test_on_a_narrow_terminal_long_paths_are_cut_and_every_column_stays():
    long = exposition().replace("execution/gateway.sim", "execution/gateway.a_very_long_venue")
    view = make_view(URL, None, parse_scrape(long, at=0))
    text = text_of(render(view, width=80), width=80)
    row = next(line.split() for line in text.splitlines() if line.startswith("execution/"))
    assert row[0].startswith("execution/gateway.")
    assert row[0].endswith("…")
    assert row[1:] == ["up", "4", "-", "-", "-", "2", "4"]
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert "a_very_long_venue" in text_of(render(view))  # no width: nothing is cut


# -- the loop, with a fake scrape -----------------------------------------------------


class FakeEndpoint:
    """Serves the given expositions in turn (a TopError is raised); sets ``stop`` at the end."""

    def __init__(self, answers: list[str | TopError], stop: threading.Event) -> None:
        self.answers = answers
        self.stop = stop
        self.scrapes = 0

    def __call__(self, url: str) -> Snapshot:
        answer = self.answers[self.scrapes]
        self.scrapes += 1
        if self.scrapes == len(self.answers):
            self.stop.set()
        if isinstance(answer, TopError):
            raise answer
        return parse_scrape(answer, at=float(self.scrapes))


def test_once_renders_one_frame_from_two_scrapes():
    stop = threading.Event()
    stop.set()  # the wait between the two scrapes is on it: no need to wait here
    fetch = FakeEndpoint([exposition(), exposition(risk_processed=(31, 10))], stop)
    console = Console(record=True, width=160, file=io.StringIO())
    assert run_top(URL, interval=30, once=True, console=console, fetch=fetch, stop=stop) == 0
    assert fetch.scrapes == 2
    text = console.export_text()
    assert "kill switch ACTIVE" in text
    assert "rates over 1.0 s" in text
    assert next(line for line in text.splitlines() if line.startswith("risk")).split()[3] == "1.0"


def test_the_live_view_refreshes_until_stopped_and_shows_a_failed_scrape():
    stop = threading.Event()
    fetch = FakeEndpoint(
        [exposition(), exposition(kill=1), exposition(kill=2), TopError("gone")], stop
    )
    console = Console(record=True, width=160, file=io.StringIO(), force_terminal=True)
    assert run_top(URL, interval=0.001, console=console, fetch=fetch, stop=stop) == 0
    assert fetch.scrapes == 4
    text = console.export_text()
    assert "kill switch REDUCING" in text
    last = text[text.rindex("tradeactors top") :]  # the last frame: older data, the error
    assert "kill switch HALTED" in last
    assert "last scrape failed (gone)" in last


def test_an_unreachable_endpoint_is_a_clear_error_and_status_2(capsys):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/metrics"
    args = argparse.Namespace(url=url, interval=0.01, once=True)
    assert main_top(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"tradeactors top: nothing answers at {url}: ")
    assert "Traceback" not in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("url", ["127.0.0.1:9464/metrics", "file:///etc/passwd"])
def test_a_url_that_is_not_http_is_refused(url, capsys):
    assert run_top(url, once=True) == 2
    assert "is not an http:// URL" in capsys.readouterr().err


def test_a_non_positive_interval_is_refused(capsys):
    assert run_top(URL, interval=0) == 2
    assert "--interval must be positive" in capsys.readouterr().err


def test_a_page_that_is_not_prometheus_text_is_a_clear_error(monkeypatch):
    class Page(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *_exc):
            return None

    monkeypatch.setattr("urllib.request.urlopen", lambda *_a, **_k: Page(b"<html>login</html>\n"))
    with pytest.raises(TopError, match="does not serve Prometheus text"):
        fetch_snapshot(URL)


def test_the_default_url_is_the_conventional_port():
    assert DEFAULT_URL == "http://127.0.0.1:9464/metrics"


def test_into_a_pipe_the_frame_is_not_cut_to_80_columns(monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    long = exposition().replace("execution/gateway.sim", "execution/gateway." + "v" * 60)
    stop = threading.Event()
    stop.set()
    assert run_top(URL, once=True, fetch=FakeEndpoint([long, long], stop), stop=stop) == 0
    out = capsys.readouterr().out
    assert "execution/gateway." + "v" * 60 in out
    assert "\x1b[" not in out  # no colour codes into a pipe
