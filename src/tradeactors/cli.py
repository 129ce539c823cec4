"""The ``tradeactors`` command.

The runtime is chosen before anything imports pykka, so this module imports only
the standard library at the top.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradeactors", description="Low-latency trading systems as supervised actors."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser(
        "run",
        help="run the example supervised tree (until the trading tree exists)",
        description=(
            "Start the example supervision tree: a ticker sends orders to a pricer that "
            "crashes on every Nth one and is restarted without losing the orders queued "
            "behind the crash. Prints a per-actor metrics report and checks the books."
        ),
    )
    run.add_argument("--config", help="TOML file (default: the embedded defaults)")
    run.add_argument("--runtime", choices=("threads", "gevent"), default="threads")
    run.add_argument("--duration", type=float, help="seconds of traffic (overrides config)")
    run.add_argument(
        "--print-metrics", action="store_true", help="also print the Prometheus exposition"
    )
    run.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tradeactors`` console script."""
    args = _parser().parse_args(argv)
    if args.version:
        from tradeactors import __version__  # noqa: PLC0415

        print(__version__)
        return 0
    if args.command != "run":
        _parser().print_help()
        return 2
    if args.runtime == "gevent":
        from tradeactors.supervision.runtime import use_gevent  # noqa: PLC0415

        use_gevent()
    import msgspec  # noqa: PLC0415 - after the runtime is chosen

    from tradeactors._demo import run_demo  # noqa: PLC0415
    from tradeactors.config import load_config  # noqa: PLC0415
    from tradeactors.errors import ConfigError  # noqa: PLC0415
    from tradeactors.observability import configure_logging  # noqa: PLC0415

    configure_logging(level=args.log_level)
    try:
        config = load_config(args.config)
        if args.duration is not None:
            config = msgspec.structs.replace(
                config, demo=msgspec.structs.replace(config.demo, duration=args.duration)
            )
    except ConfigError as exc:
        print(f"tradeactors: {exc}", file=sys.stderr)
        return 2
    return run_demo(config, sys.stdout, print_metrics=args.print_metrics)


if __name__ == "__main__":
    sys.exit(main())
