"""What the before/after scripts share: another revision checked out beside the working tree."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def checkout(revision: str) -> Iterator[tuple[str, Path]]:
    """``revision`` (short hash) and a temporary git worktree of it, removed at the end."""
    short = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "rev-parse", "--short", revision],  # noqa: S607
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        before = Path(scratch) / "before"
        subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), short],  # noqa: S607
            capture_output=True, check=True,
        )  # fmt: skip
        try:
            yield short, before
        finally:
            subprocess.run(  # noqa: S603
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)],  # noqa: S607
                capture_output=True, check=False,
            )  # fmt: skip


def side_order(round_: int) -> tuple[str, str]:
    """The order the two sides run in, alternating round by round."""
    return ("before", "after") if round_ % 2 == 0 else ("after", "before")
