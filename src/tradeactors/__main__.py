"""``python -m tradeactors``: the ``tradeactors`` command."""

from __future__ import annotations

import sys

from tradeactors.cli import main

if __name__ == "__main__":
    sys.exit(main())
