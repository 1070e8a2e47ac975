"""Helpers shared by tests: running the CLI as users do, listing what a directory holds, and reading
an artifact's ops with its own runtime library (never from conftest: a sub-folder's conftest.py
would shadow the name)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
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


def artifact_ops(path: Path) -> Counter:
    """Op counts read from an artifact file by its own runtime library (independent of edgeprep)."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx

        model = onnx.load(str(path))
        return Counter(f"{n.domain}::{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type for n in model.graph.node)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    return Counter(op["op_name"] for op in interpreter._get_ops_details())


RANDOM_OP_MARKERS = ("random", "multinomial", "bernoulli", "stateless", "imageprojective")


def random_ops(ops) -> list[str]:
    return [op for op in ops if any(marker in op.lower() for marker in RANDOM_OP_MARKERS)]
