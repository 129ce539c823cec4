"""Where benchmark figures come from: machine, package versions, the code measured."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def version(package: str) -> str:
    """Installed version of ``package`` in this interpreter."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(
    packages: tuple[str, ...] = ("pykka", "gevent", "greenlet", "msgspec", "tradeactors"),
) -> dict[str, Any]:
    """Where the figures come from."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "kernel": platform.release(),
        **{package: version(package) for package in packages},
    }


def source_digest() -> str:
    """SHA-256 over tradeactors' Python sources, to tell which code was measured."""
    spec = importlib.util.find_spec("tradeactors")
    if spec is None or spec.origin is None:
        return "unknown"
    root = Path(spec.origin).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def git_state() -> str:
    """The commit checked out, and whether src/ differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} (src/ modified)" if dirty else commit
