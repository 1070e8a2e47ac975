"""``--micro``: check a converted TFLite artifact against TensorFlow Lite for Microcontrollers.

After conversion (`converters.tflite.convert`), a ``--micro`` artifact is

1. refused when it holds an op TFLM does not register (`micro_ops.RESOLVER_CALLS`), naming the op;
2. run in tflite-micro in subprocesses (`edgeprep.runtime.micro`, run as a module): the smallest
   arena that allocates is bisected (a probe process; TFLM's failure path crashes in some
   too-small arenas, which counts as "does not allocate"), and the calibration samples run in
   exactly that arena. A kernel that rejects a tensor aborts TFLM's process (SIGABRT), so this
   runs apart from the export and a crash becomes a one-line error: nothing is written;
3. compared with LiteRT on the same artifact and inputs: every output within one quantization step
   of LiteRT's reference or optimized builtin kernels, whichever is closer (TFLM's kernels follow
   one or the other per op, see `_compare`; an integer output, e.g. a lookup's ids, exactly); the
   difference to LiteRT's default XNNPACK delegate is recorded too.

The artifact's facts (manifest ``artifacts[].graph.micro``) record the MicroMutableOpResolver calls
the firmware needs (``op_resolver``), the measured arena (``arena_min_bytes``) and the size to
allocate (``arena_bytes``: the measured size plus `ARENA_MARGIN`, for allocator differences
between the Python interpreter and a firmware build), and the largest difference to LiteRT in steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from converters.tflite.micro_ops import RESOLVER_CALLS
from converters.tflite.options import TFLiteOptions
from edgeprep.errors import ConversionError
from edgeprep.runtime.micro import ARENA_LIMIT, ARENA_STEP

ARENA_MARGIN = 1024  # bytes added to the measured arena (rounded up to 16)
SAMPLES = 32  # calibration rows run in both interpreters
TIMEOUT = 600  # seconds for the tflite-micro subprocess


def resolver_calls(ops) -> list[str]:
    """The MicroMutableOpResolver calls for ``ops`` (op name -> count), sorted.

    Raises:
        ConversionError: an op TFLM does not register, named with the ops it does.
    """
    missing = sorted(op for op in ops if op not in RESOLVER_CALLS)
    if missing:
        raise ConversionError(
            f"--micro: tflite-micro has no kernel for {', '.join(missing)} (not in its MicroMutableOpResolver); "
            "see `edgeprep inspect` for the layer that needs it, or export without --micro"
        )
    return sorted({RESOLVER_CALLS[op] for op in ops})


def check(data: bytes, ops, options: TFLiteOptions) -> dict:
    """The ``micro`` facts of artifact ``data``: refused ops, arena measured in TFLM, parity with LiteRT.

    Raises:
        ConversionError: an op TFLM lacks, a TFLM failure or abort, or an output off LiteRT's by
            more than one quantization step.
    """
    calls = resolver_calls(ops)
    feed = _samples(options)
    with tempfile.TemporaryDirectory(prefix="edgeprep-micro-") as tmp:
        model, inputs, outputs = Path(tmp, "model.tflite"), Path(tmp, "inputs.npz"), Path(tmp, "outputs.npz")
        model.write_bytes(data)
        np.savez(inputs, **feed)
        result = _run_micro(model, inputs, outputs)
        with np.load(outputs) as loaded:
            micro = {name: loaded[name] for name in loaded.files}
    steps = _compare(data, feed, micro, result["output_steps"])
    arena = result["arena_min_bytes"]
    return {
        "op_resolver": calls,
        "arena_min_bytes": arena,
        "arena_bytes": -(-(arena + ARENA_MARGIN) // 16) * 16,
        "vs_litert_steps": steps,
        "samples": len(next(iter(feed.values()))),
        "tflite_micro": _version(),
    }


def _samples(options: TFLiteOptions) -> dict[str, np.ndarray]:
    """Up to `SAMPLES` calibration rows per device input."""
    if options.calibration is None:
        raise ConversionError("--micro needs calibration samples to check the artifact in tflite-micro")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in options.input_names}
    rows = 0
    for batch in options.calibration():
        for name in options.input_names:
            parts[name].append(np.asarray(batch[name]))
        rows += len(np.asarray(batch[options.input_names[0]]))
        if rows >= SAMPLES:
            break
    return {name: np.concatenate(values)[:SAMPLES] for name, values in parts.items()}


def _run_micro(model: Path, inputs: Path, outputs: Path) -> dict:
    """The smallest arena (`_smallest_arena`), then the inputs run in exactly that arena in a
    subprocess (`edgeprep.runtime.micro` ``run``); ``{"arena_min_bytes", "output_steps"}``."""
    arena = _smallest_arena(model)
    done = _subprocess([*_MODULE, "run", str(model), str(arena), str(inputs), str(outputs)])
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or "").splitlines() if line.strip() and not line.startswith("Traceback")]
        why = lines[-1][:300] if lines else "no message"
        if done.returncode < 0:
            raise ConversionError(f"--micro: tflite-micro aborted (signal {-done.returncode}) on this artifact: {why}; nothing was written")
        first = next((line for line in lines if "ailed" in line or "not supported" in line), why)
        raise ConversionError(f"--micro: tflite-micro cannot run this artifact: {first[:300]}")
    return {"arena_min_bytes": arena, **json.loads(done.stdout.strip().splitlines()[-1])}


_MODULE = (sys.executable, "-m", "edgeprep.runtime.micro")


def _subprocess(command: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"--micro: tflite-micro did not finish in {TIMEOUT} s") from None


def _smallest_arena(model: Path) -> int:
    """Bisect the smallest arena (to `ARENA_STEP` bytes) in which TFLM allocates ``model``, asking a
    probe subprocess; a probe that crashes (TFLM's failure path in some too-small arenas) counts as
    a failure and the probe restarts.

    Raises:
        ConversionError: no arena up to `ARENA_LIMIT` allocates it (an op or tensor type TFLM lacks).
    """
    probe = _Probe(model)
    try:
        high = max(4096, model.stat().st_size)
        while not probe.allocates(high):
            if high >= ARENA_LIMIT:
                raise ConversionError(f"--micro: tflite-micro cannot run this artifact: {probe.reason()}")
            high = min(high * 2, ARENA_LIMIT)
        low = 0
        while high - low > ARENA_STEP:
            middle = (low + high) // 2 // ARENA_STEP * ARENA_STEP
            if middle <= low:
                break
            low, high = (low, middle) if probe.allocates(middle) else (middle, high)
        return high
    finally:
        probe.close()


class _Probe:
    """A ``python -m edgeprep.runtime.micro probe MODEL`` process, restarted after a crash."""

    def __init__(self, model: Path):
        self._model = model
        self._process = None
        self._stderr = tempfile.TemporaryFile(mode="w+")

    def allocates(self, arena: int) -> bool:
        if self._process is None:
            self._process = subprocess.Popen([*_MODULE, "probe", str(self._model)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=self._stderr, text=True)
        try:
            self._process.stdin.write(f"{arena}\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline().strip()
        except (BrokenPipeError, OSError):
            answer = ""
        if answer in ("0", "1"):
            return answer == "1"
        self._process.wait(timeout=TIMEOUT)
        self._process = None  # crashed in TFLM's failure path: that arena does not allocate
        return False

    def reason(self) -> str:
        self._stderr.seek(0)
        lines = [line.strip() for line in self._stderr.read().splitlines() if line.strip() and not line.startswith("Traceback")]
        return next((line for line in lines if "ailed" in line or "not supported" in line or "find op" in line), lines[-1] if lines else "no message")[:300]

    def close(self) -> None:
        if self._process is not None:
            self._process.stdin.close()
            self._process.wait(timeout=TIMEOUT)
        self._stderr.close()


def _compare(data: bytes, feed: dict[str, np.ndarray], micro: dict[str, np.ndarray], steps: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per output and LiteRT kernel set (`Kernels`), the largest difference between TFLM and LiteRT in
    quantization steps (0: equal). TFLM's int8 kernels follow LiteRT's reference kernels for
    convolutions (bit-identical on MobileNetV3Small) and LiteRT's optimized builtin kernels for
    FULLY_CONNECTED (bit-identical per-tensor, one step apart from the reference one); one step in a
    hidden layer grows by the next layer's gain (10 steps at MobileNetV3Small's output against
    the optimized kernels). So the check is against the closer of the two; XNNPACK (LiteRT's
    default, its own rounding) is recorded only.

    Raises:
        ConversionError: more than one step from both LiteRT kernel sets (or any difference in an
            integer output).
    """
    from edgeprep.runtime.tflite import Kernels, TFLiteRunner

    found: dict[str, dict[str, float]] = {}
    for kernels in (Kernels.REFERENCE, Kernels.BUILTIN, Kernels.DEFAULT):
        with TFLiteRunner(data, kernels=kernels) as litert:
            expected = litert.infer(feed)
        for name, reference in expected.items():
            diff = float(np.max(np.abs(micro[name].astype(np.float64) - reference.astype(np.float64)))) if reference.size else 0.0
            step = steps.get(name) or 0.0
            found.setdefault(name, {})[kernels.name.lower()] = round(diff / step, 3) if step else diff
    for name, apart in found.items():
        closest = min(apart["reference"], apart["builtin"])
        if closest > (1.001 if steps.get(name) else 0.0):
            unit = f"{closest} quantization steps" if steps.get(name) else f"{closest:g} (an integer output must match exactly)"
            raise ConversionError(f"--micro: tflite-micro and LiteRT's reference and builtin kernels disagree on output {name!r} by "
                                  f"{unit}; the artifact is not portable to TFLM")
    return found


def _version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("tflite-micro")
    except metadata.PackageNotFoundError:
        return None
