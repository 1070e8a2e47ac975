"""A converter run in a child process, for big models (issue 21).

TFLite's converter and tf2onnx each hold several copies of the frozen weights (GraphDefs, the
serialized graph, MLIR constants, the flatbuffer; tf2onnx's numpy constants and ONNX protos), and
a process keeps much of what it frees mapped. From ``EDGEPREP_CHILD_MB`` MB of weights, `convert`:

1. freezes the device model in this process (`converters.trace.freeze_graph`) and writes the frozen GraphDef,
   a pickled request (the options, the converter's extra arguments) and, for int8, the
   calibration batches to a temporary directory, then drops its frozen graph (`memory.release`);
2. runs ``python -m converters.isolate DIR``: the child reads the GraphDef and calls the
   converter module's ``convert_graph(graph_def, io, options, **extra)`` (the same code that
   converts in-process), writing the artifact's bytes and the rest of it to ``DIR``;
3. reads the artifact back. The child's peak (``wait4``'s ``ru_maxrss``) plus what this process
   held meanwhile is counted in the step's peak (`edgeprep.memory.note_peak`): the whole tree.

An `EdgeprepError` in the child comes back as the same class with the same message; a crash (a
signal, the OOM killer) as one `ConversionError`. Ctrl-C / SIGTERM in this process terminates the
child and removes the directory before the interrupt goes on (`edgeprep.interrupts`).

The threshold (MB of weights) is read from ``EDGEPREP_CHILD_MB``; unset, no model converts in a
child, by measurement (ConvNeXtTiny, 109 MB of weights, issue 21): the parent still holds the Keras
models for verification while the child holds the converter's copies, so the tree's peak is the
same copies plus the child's own TensorFlow / tf2onnx import: TFLite step 2.87 GB in a child
against 2.20 GB in-process, ONNX 3.70 against 3.00 GB, and 10-13 s slower each. What a child buys
is isolation: a converter crash or the OOM killer ends the child, not the export. 0 converts every
model in a child (the suite's cheap check of this path).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeprep import errors
from edgeprep.errors import ConversionError, EdgeprepError
from edgeprep.memory import note_peak, release, rss_mb, weights_mb

THRESHOLD_ENV = "EDGEPREP_CHILD_MB"
THRESHOLD_MB = float("inf")  # off by default: measured on ConvNeXtTiny, the tree's peak rose (see the module docstring)
_GRAPH, _REQUEST, _CALIBRATION, _ARTIFACT, _RESULT, _LOG = "graph.pb", "request.pkl", "calibration.npz", "artifact.bin", "result.pkl", "child.log"


def threshold_mb() -> float:
    """Weights (MB) from which a model is converted in a child process (``EDGEPREP_CHILD_MB``)."""
    value = os.environ.get(THRESHOLD_ENV, "").strip()
    try:
        return float(value) if value else THRESHOLD_MB
    except ValueError:
        raise errors.UsageError(f"{THRESHOLD_ENV}={value!r} is not a number of MB; unset it or give e.g. {THRESHOLD_MB:g}") from None


def wanted(model) -> bool:
    """Whether ``model`` is converted in a child process (`threshold_mb`)."""
    threshold = threshold_mb()
    return threshold <= 0 or weights_mb(model) >= threshold


def convert(module: str, model, options, **extra):
    """Convert ``model`` with ``module``'s ``convert_isolated`` in a child process; its `Artifact`.

    Raises:
        EdgeprepError: what the converter raised in the child (same class and message), or a
            `ConversionError` for a child that crashed.
    """
    with tempfile.TemporaryDirectory(prefix="edgeprep-convert-") as tmp:
        directory = Path(tmp)
        _write_request(directory, module, model, options, extra)
        release()  # the frozen graph and its GraphDef: the child holds the only copy from now on
        return _run(directory, module)


def _write_request(directory: Path, module: str, model, options, extra: dict) -> None:
    """The frozen GraphDef, the request and the calibration batches, written to ``directory``."""
    from converters.trace import freeze_graph

    graph_def, io = freeze_graph(model, options.input_names)
    (directory / _GRAPH).write_bytes(graph_def.SerializeToString())
    del graph_def
    if options.calibration is not None:
        batches = list(options.calibration())
        np.savez(directory / _CALIBRATION, **{f"{index:06d}/{name}": value for index, feed in enumerate(batches) for name, value in feed.items()})
    request = {"module": module, "io": io, "options": dataclasses.replace(options, calibration=None),
               "calibrated": options.calibration is not None, "extra": extra}
    with open(directory / _REQUEST, "wb") as handle:
        pickle.dump(request, handle)


def _run(directory: Path, module: str):
    """Run the child on ``directory`` and read its artifact back (see `convert`)."""
    root = str(Path(__file__).resolve().parents[1])  # where converters/ and edgeprep/ are imported from
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    held = rss_mb() or 0.0
    with open(directory / _LOG, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "converters.isolate", str(directory)], stdout=log, stderr=log, env=env, cwd=root)
        try:
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if process.returncode is None:  # interrupted while waiting: stop the child before going on
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    note_peak(held + usage.ru_maxrss / 1024)
    result_path = directory / _RESULT
    if not result_path.exists():
        raise ConversionError(_crash(module, process.returncode, directory / _LOG))
    with open(result_path, "rb") as handle:
        result = pickle.load(handle)
    if "error" in result:
        kind, message = result["error"]
        cls = getattr(errors, kind, None)
        raise (cls if isinstance(cls, type) and issubclass(cls, EdgeprepError) else ConversionError)(message)
    return dataclasses.replace(result["artifact"], data=(directory / _ARTIFACT).read_bytes())


def _crash(module: str, code: int, log: Path) -> str:
    """The one line for a child that ended without a result."""
    target = module.split(".")[1] if module.count(".") >= 2 else module
    if code < 0:
        name = signal.Signals(-code).name
        why = " (the machine ran out of memory?)" if -code == signal.SIGKILL else ""
        return f"the {target} converter's process was killed by {name}{why}"
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"the {target} converter's process failed (exit {code}): {lines[-1][:300] if lines else 'no output'}"


def _calibration(path: Path):
    """The calibration batches written by `_write_request`, as the callable the options hold."""
    with np.load(path) as loaded:
        batches: dict[str, dict[str, np.ndarray]] = {}
        for key in loaded.files:
            index, name = key.split("/", 1)
            batches.setdefault(index, {})[name] = loaded[key]
    feeds = [batches[index] for index in sorted(batches)]
    return lambda: iter(feeds)


def main(directory: str) -> int:
    """The child: convert the request in ``directory``; the result (or the error) goes back there."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    folder = Path(directory)
    with open(folder / _REQUEST, "rb") as handle:
        request = pickle.load(handle)
    try:
        options = request["options"]
        if request["calibrated"]:
            options = dataclasses.replace(options, calibration=_calibration(folder / _CALIBRATION))
        graph_def = _read_graph(folder / _GRAPH)
        module = importlib.import_module(request["module"])
        artifact = module.convert_graph(graph_def, request["io"], options, **request["extra"])
        (folder / _ARTIFACT).write_bytes(artifact.data)
        result = {"artifact": dataclasses.replace(artifact, data=b"")}
    except EdgeprepError as exc:
        result = {"error": (type(exc).__name__, str(exc))}
    with open(folder / _RESULT, "wb") as handle:
        pickle.dump(result, handle)
    return 0


def _read_graph(path: Path):
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    return graph_def


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
