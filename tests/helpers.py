"""Helpers shared by tests: running the CLI as users do (a subprocess, or in this process for a
refusal: no TensorFlow start-up), listing what a directory holds, and reading an artifact's ops with
its own runtime library (never from conftest: a sub-folder's conftest.py would shadow the name)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import traceback
import warnings
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


# What `edgeprep.cli.main` changes in its process (besides what it writes): the environment
# (`_quiet_frameworks`), warning filters and these loggers' levels, the SIGINT / SIGTERM handlers and
# the record of `edgeprep.interrupts`. `cli_in_process` restores all of them, and cwd and sys.path.
_QUIETED_LOGGERS = ("tensorflow", "absl", "tf2onnx", "h5py", "keras")


def cli_in_process(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``edgeprep ARGS`` through ``edgeprep.cli.main`` in this process, shaped as `run_cli`'s result.

    For commands that end in a refusal (one error line, exit 2, nothing written): they skip the
    TensorFlow start-up a subprocess pays (~5 s each). ``env`` is applied to ``os.environ`` for the
    call; its ``PYTHONPATH`` entries go in front of ``sys.path`` (modules imported from them are
    forgotten afterwards). A ``SystemExit`` gives the return code, an uncaught exception prints its
    traceback to stderr and gives 1, as the interpreter would. Signal handling, the environment a
    fresh interpreter reads at start-up and the console script itself need `run_cli`.
    """
    from edgeprep import interrupts
    from edgeprep.cli import main

    argv = [str(a) for a in args]
    saved_env, saved_cwd, saved_path = dict(os.environ), os.getcwd(), list(sys.path)
    saved_modules = set(sys.modules)
    saved_signals = {signum: signal.getsignal(signum) for signum in interrupts.HANDLED}
    saved_levels = {name: logging.getLogger(name).level for name in _QUIETED_LOGGERS}
    extra = [p for p in (env or {}).get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.update({"TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
        sys.path[:0] = extra
        if cwd is not None:
            os.chdir(cwd)
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, (int, type(None))):
                    print(exc.code, file=sys.stderr)
            except BaseException:  # noqa: BLE001 - what an interpreter does with an uncaught exception
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if any(origin.startswith(p) for p in extra):
                del sys.modules[name]
        os.environ.clear()
        os.environ.update(saved_env)
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        interrupts._received.clear()
        interrupts._signal.clear()
        interrupts._published.clear()
    return subprocess.CompletedProcess(["edgeprep", *argv], code, out.getvalue(), err.getvalue())


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
