"""The example tree ``tradeactors run`` starts until the trading tree exists.

    root (one_for_one)
    ├── desk (one_for_one)
    │   ├── ledger   counts what the pricer priced
    │   └── pricer   prices orders; crashes on every ``crash_every``-th one
    └── ticker       sends numbered orders to the pricer on a timer

It shows supervision at work: the pricer crashes, is restarted, and the orders
queued behind each crash are priced by the next incarnation. At the end the
report checks the books: priced + dead letters == sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest

from tradeactors.core.messages import Message
from tradeactors.observability import serve_metrics
from tradeactors.supervision import (
    ChildSpec,
    SupervisedActor,
    Supervisor,
    SupervisorSpec,
)

if TYPE_CHECKING:
    from typing import TextIO

    from tradeactors.clock import Timer
    from tradeactors.config import Config


class DemoOrder(Message, frozen=True, kw_only=True, tag=True):
    """A numbered order from the ticker."""

    number: int


class Priced(Message, frozen=True, kw_only=True, tag=True):
    """An order the pricer handled."""

    number: int


class _DemoTick(Message, frozen=True, kw_only=True, tag=True):
    pass


class _Count(Message, frozen=True, kw_only=True, tag=True):
    pass


class _Halt(Message, frozen=True, kw_only=True, tag=True):
    pass


class Ticker(SupervisedActor):
    """Sends a `DemoOrder` to the pricer every ``interval`` seconds until halted."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self._interval = interval
        self._sent = 0
        self._timer: Timer | None = None
        self._halted = False

    def on_start(self) -> None:
        self._schedule()

    def _schedule(self) -> None:
        me = self.context.address
        self._timer = self.context.clock.call_later(self._interval, lambda: me.tell(_DemoTick()))

    def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _DemoTick) and not self._halted:
            self._sent += 1
            self.context.address_of("desk/pricer").tell(DemoOrder(number=self._sent))
            self._schedule()
        elif isinstance(message, _Halt):
            self._halted = True
            return self._sent
        return None


class Pricer(SupervisedActor):
    """Prices orders for the ledger; order numbers divisible by ``crash_every`` crash it."""

    def __init__(self, crash_every: int) -> None:
        super().__init__()
        self._crash_every = crash_every

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, DemoOrder):
            if message.number % self._crash_every == 0:
                raise ValueError(f"cannot price order {message.number}")
            self.context.address_of("desk/ledger").tell(Priced(number=message.number))
        return None


class Ledger(SupervisedActor):
    """Counts priced orders."""

    def __init__(self) -> None:
        super().__init__()
        self._priced = 0

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Priced):
            self._priced += 1
        elif isinstance(message, _Count):
            return self._priced
        return None


def demo_spec(config: Config) -> SupervisorSpec:
    """The example tree."""
    sup = config.supervision
    return SupervisorSpec(
        name="demo",
        intensity=sup.intensity,
        period=sup.period,
        children=(
            SupervisorSpec(
                name="desk",
                intensity=sup.intensity,
                period=sup.period,
                children=(
                    ChildSpec(name="ledger", actor=Ledger),
                    ChildSpec(name="pricer", actor=Pricer, args=(config.demo.crash_every,)),
                ),
            ),
            ChildSpec(name="ticker", actor=Ticker, args=(config.demo.tick_interval,)),
        ),
    )


def run_demo(config: Config, out: TextIO, *, print_metrics: bool = False) -> int:
    """Run the example tree for ``config.demo.duration`` s; print the report. Exit code."""
    registry = CollectorRegistry()
    failures: list[BaseException] = []
    tree = Supervisor(demo_spec(config), registry=registry, on_escalation=failures.append)
    server = serve_metrics(registry, config.metrics.host, config.metrics.port)
    try:
        print(f"tradeactors example tree: metrics at {server.url}", file=out)
        tree.start()
        tree.wait(config.demo.duration)
        sent = tree.address("ticker").ask(_Halt(), timeout=10)
        # Queued behind every order the ticker sent: when they answer, all are through.
        tree.address("desk/pricer").ask(_Count(), timeout=10)
        priced = tree.address("desk/ledger").ask(_Count(), timeout=10)
        dead = sum(1 for d in tree.dead_letters.recent() if d.path == "desk/pricer")
        _report(tree, out, sent=sent, priced=priced, dead=dead)
        if print_metrics:
            print(generate_latest(registry).decode(), file=out)
        balanced = priced + dead == sent
        print(
            f"books: sent {sent} = priced {priced} + dead letters {dead}: "
            f"{'balanced' if balanced else 'NOT BALANCED'}",
            file=out,
        )
        return 0 if balanced and not failures else 1
    finally:
        tree.stop()
        server.close()


def _report(tree: Supervisor, out: TextIO, *, sent: int, priced: int, dead: int) -> None:
    print(f"\n{'actor':<14}{'up':>4}{'processed':>11}{'restarts':>10}{'dead':>6}"
          f"{'depth':>7}{'mean wait µs':>14}{'mean handler µs':>17}", file=out)  # fmt: skip
    for path in tree.paths():
        stats = tree.stats(path)
        mean_wait_us = stats.wait.sum_ns / max(1, stats.wait.count) / 1e3
        mean_handler_us = stats.handler.sum_ns / max(1, stats.handler.count) / 1e3
        print(
            f"{path:<14}{int(stats.up):>4}{stats.processed_total:>11}{stats.restarts:>10}"
            f"{sum(stats.dead_letters.values()):>6}{tree.address(path).mailbox_depth:>7}"
            f"{mean_wait_us:>14.1f}{mean_handler_us:>17.1f}",
            file=out,
        )
    print(f"\nsent {sent}, priced {priced}, dead letters {dead}", file=out)
