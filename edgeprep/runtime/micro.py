"""Run a TFLite artifact in TensorFlow Lite for Microcontrollers (the ``tflite-micro`` package).

The package's Python interpreter runs the same C++ kernels as the firmware, behind the `Runner`
interface: quantized int8 inputs/outputs are presented as float32 exactly as `TFLiteRunner` does
(the same helpers), tensor names are read from the flatbuffer (TFLM's details carry none). A
static batch of 1 is what TFLM runs; `Runner.infer` feeds larger batches row by row.

`smallest_arena` finds the smallest tensor arena in which TFLM allocates the model (a bisection:
TFLM only says "failed to allocate tensors", the size is printed on C-level stderr). Run as a
module (``python -m edgeprep.runtime.micro MODEL IN.npz OUT.npz``) it measures the arena, runs the
inputs in that arena and writes the outputs plus ``{"arena_min_bytes": N}`` on stdout: export runs
it in a subprocess (`converters.tflite.micro`), because a TFLM kernel that rejects a tensor aborts
the whole process (SIGABRT) instead of raising.

Imports only numpy here; ``tflite_micro`` when a runner is made (the deploy runtime stays
importable without it).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from .errors import ConversionError
from .runner import Runner
from .specs import TensorSpec
from .tflite import _from_runtime, _spec, _to_runtime

ARENA_STEP = 16  # TFLM aligns arena allocations to 16 bytes: the bisection's resolution
ARENA_LIMIT = 256 << 20  # no microcontroller has more: refuse rather than search further


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise ConversionError("running a --micro artifact needs tflite-micro: pip install tflite-micro") from None
    return runtime


def allocates(data: bytes, arena: int) -> bool:
    """Whether TFLM allocates the model's tensors in an arena of ``arena`` bytes."""
    try:
        _runtime().Interpreter.from_bytes(bytes(data), arena_size=arena)
    except RuntimeError:
        return False
    return True


def smallest_arena(data: bytes) -> int:
    """The smallest arena (a multiple of `ARENA_STEP` bytes) in which TFLM allocates the model.

    Raises:
        ConversionError: TFLM does not allocate it even in `ARENA_LIMIT` bytes (an op or tensor type
            it lacks; the reason is on stderr).
    """
    high = max(4096, len(data))
    while not allocates(data, high):
        if high >= ARENA_LIMIT:
            raise ConversionError(f"tflite-micro cannot allocate this model even in a {ARENA_LIMIT >> 20} MiB arena (its reason is on stderr)")
        high = min(high * 2, ARENA_LIMIT)
    low = 0  # fails (or is zero)
    while high - low > ARENA_STEP:
        middle = (low + high) // 2 // ARENA_STEP * ARENA_STEP
        if middle <= low:
            break
        if allocates(data, middle):
            high = middle
        else:
            low = middle
    return high


class MicroRunner(Runner):
    """The tflite-micro interpreter behind the `Runner` interface."""

    name = "tflite-micro"

    def __init__(self, model: bytes | str | os.PathLike, threads: int = 1, requirements: tuple[str, ...] = (), arena: int | None = None):
        runtime = _runtime()
        data = bytes(model) if isinstance(model, (bytes, bytearray)) else open(os.fspath(model), "rb").read()
        self.arena = arena or smallest_arena(data)
        self._interpreter = runtime.Interpreter.from_bytes(data, arena_size=self.arena)
        graph = runtime.convert_bytearray_to_object(bytearray(data)).subgraphs[0]
        names = [tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name) for tensor in graph.tensors]
        self._input_details = [_detail(self._interpreter.get_input_details(i), names[t]) for i, t in enumerate(graph.inputs)]
        self._output_details = [_detail(self._interpreter.get_output_details(i), names[t]) for i, t in enumerate(graph.outputs)]
        self._inputs = [_spec(d) for d in self._input_details]
        self._outputs = [_spec(d) for d in self._output_details]

    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def output_steps(self) -> list[float]:
        """Per output, one quantization step in float (0.0 for a plain integer output: exact)."""
        return [float(d["quantization"][0]) for d in self._output_details]

    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        for index, (detail, spec) in enumerate(zip(self._input_details, self._inputs)):
            self._interpreter.set_input(_to_runtime(feed[spec.name], spec, detail), index)
        self._interpreter.invoke()
        return [_from_runtime(np.array(self._interpreter.get_output(i)), d) for i, d in enumerate(self._output_details)]


def _detail(details: dict, name: str) -> dict:
    """TFLM's tensor details in LiteRT's form (what the `TFLiteRunner` helpers read)."""
    parameters = details.get("quantization_parameters") or {}
    scales, zero_points = parameters.get("scales", ()), parameters.get("zero_points", ())
    quantization = (float(scales[0]), int(zero_points[0])) if len(scales) == 1 else (0.0, 0)
    shape = np.asarray(details["shape"], dtype=np.int32)
    return {"name": name, "dtype": details["dtype"], "shape": shape, "shape_signature": shape, "quantization": quantization}


def main(argv: list[str]) -> int:
    """``MODEL IN.npz OUT.npz``: measure the arena, run the inputs in it, write the outputs."""
    model, inputs, outputs = argv
    data = open(model, "rb").read()
    arena = smallest_arena(data)
    with np.load(inputs) as feed, MicroRunner(data, arena=arena) as runner:
        result = runner.infer(dict(feed))
        steps = dict(zip([spec.name for spec in runner.outputs()], runner.output_steps()))
    np.savez(outputs, **result)
    print(json.dumps({"arena_min_bytes": arena, "output_steps": steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
