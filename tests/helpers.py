"""Helpers shared by tests: running the CLI as users do, and listing what a directory holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``edgeprep ARGS`` in a subprocess with the current interpreter."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "edgeprep.cli", *map(str, args)],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def error_lines(stderr: str) -> list[str]:
    """The lines of stderr that edgeprep itself printed as errors."""
    return [line for line in stderr.splitlines() if line.startswith("edgeprep: error:")]


def tree(path: Path) -> list[str]:
    """Every file and directory under ``path`` (relative), or [] if it does not exist."""
    path = Path(path)
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []
