"""Run a TFLite artifact in TensorFlow Lite for Microcontrollers (the ``tflite-micro`` package).

The package's Python interpreter runs the same C++ kernels as the firmware, behind the `Runner`
interface: quantized int8 inputs/outputs are presented as float32 exactly as `TFLiteRunner` does
(the same helpers), tensor names are read from the flatbuffer (TFLM's details carry none). A
static batch of 1 is what TFLM runs; `Runner.infer` feeds larger batches row by row.

Run as a module (``python -m edgeprep.runtime.micro probe|run ...``, see `main`) it answers arena
probes and runs inputs in a given arena: export does both in subprocesses (`converters.tflite.micro`
bisects the smallest arena), because TFLM does not always fail cleanly: a kernel that rejects a
tensor aborts the process (SIGABRT), and in some too-small arenas the failure path itself crashes
(int8 SOFTMAX at 1,500 bytes: "All temp buffers must be freed before calling
ResetTempAllocations()", SIGSEGV). A runner made without an arena uses `generous_arena`.

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
ARENA_START = 1 << 20  # the first arena tried (10x the model when larger)
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


def generous_arena(data: bytes) -> int:
    """An arena that allocates the model: `ARENA_START` (10x the model when larger), doubled while it fails.

    Raises:
        ConversionError: TFLM does not allocate it even in `ARENA_LIMIT` bytes (an op or tensor type
            it lacks; the reason is on stderr).
    """
    arena = max(ARENA_START, 10 * len(data))
    while not allocates(data, arena):
        if arena >= ARENA_LIMIT:
            raise ConversionError(f"tflite-micro cannot allocate this model even in a {ARENA_LIMIT >> 20} MiB arena (its reason is on stderr)")
        arena = min(arena * 2, ARENA_LIMIT)
    return arena


class MicroRunner(Runner):
    """The tflite-micro interpreter behind the `Runner` interface."""

    name = "tflite-micro"

    def __init__(self, model: bytes | str | os.PathLike, threads: int = 1, requirements: tuple[str, ...] = (), arena: int | None = None):
        runtime = _runtime()
        data = bytes(model) if isinstance(model, (bytes, bytearray)) else open(os.fspath(model), "rb").read()
        self.arena = arena or generous_arena(data)
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
    """``probe MODEL``: for each arena size read from stdin, print 1 if TFLM allocates the model in it,
    else 0 (a too-small arena can crash TFLM's failure path: the caller restarts the probe);
    ``run MODEL ARENA IN.npz OUT.npz``: run the inputs in that arena, write the outputs, print each
    output's quantization step as JSON."""
    command, model, *rest = argv
    data = open(model, "rb").read()
    if command == "probe":
        for line in sys.stdin:
            print(int(allocates(data, int(line))), flush=True)
        return 0
    arena, inputs, outputs = rest
    with np.load(inputs) as feed, MicroRunner(data, arena=int(arena)) as runner:
        result = runner.infer(dict(feed))
        steps = dict(zip([spec.name for spec in runner.outputs()], runner.output_steps()))
    np.savez(outputs, **result)
    print(json.dumps({"output_steps": steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
