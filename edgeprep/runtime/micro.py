"""Run a TFLite artifact in TensorFlow Lite for Microcontrollers (the ``tflite-micro`` package).

The package's Python interpreter runs the same C++ kernels as the firmware, behind the `Runner`
interface: quantized int8 inputs/outputs are presented as float32 exactly as `TFLiteRunner` does
(the same helpers), tensor names are read from the flatbuffer (TFLM's details carry none). A
static batch of 1 is what TFLM runs; `Runner.infer` feeds larger batches row by row.

Run as a module (``python -m edgeprep.runtime.micro probe|run|golden ...``, see `main`) it answers
arena probes, runs inputs in a given arena, or runs an export directory's golden inputs: export does
the first two in subprocesses (`converters.tflite.micro` bisects the smallest arena), ``edgeprep
verify`` the third (`compare_golden`: the outputs judged by the one comparator,
`edgeprep.runtime.compare.Comparison`), because TFLM does not always fail cleanly: a kernel that rejects a
tensor aborts the process (SIGABRT), and in some too-small arenas the failure path itself crashes
(int8 SOFTMAX at 1,500 bytes: "All temp buffers must be freed before calling
ResetTempAllocations()", SIGSEGV). A runner made without an arena uses `generous_arena`.

Imports only numpy here; ``tflite_micro`` when a runner is made (the deploy runtime stays
importable without it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .compare import Comparison
from .errors import ConversionError, ParityError
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


def available() -> bool:
    """Whether the ``tflite-micro`` package is installed (without importing it)."""
    from importlib.util import find_spec

    return find_spec("tflite_micro") is not None


def compare_golden(directory: Path, manifest, entry, timeout: int = 600) -> Comparison:
    """A ``--micro`` artifact entry run in tflite-micro on the export's golden inputs (host steps in
    front, the manifest's ``arena_bytes``) against the golden outputs, in a subprocess (``golden``
    below: a TFLM kernel that rejects a tensor aborts its process).

    Raises:
        ParityError: tflite-micro failed or aborted on the artifact (its last message named).
    """
    from .directory import load_golden

    _, expected = load_golden(directory, manifest.golden)
    root = Path(__file__).resolve().parents[len(__name__.split(".")) - 1]  # edgeprep/ or the shipped edgeprep_runtime/'s parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(root), os.environ.get("PYTHONPATH"))))}
    with tempfile.TemporaryDirectory(prefix="edgeprep-micro-") as tmp:
        out = Path(tmp, "outputs.npz")
        done = subprocess.run([sys.executable, "-m", __name__, "golden", str(directory), entry.target, str(out)],
                              capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode != 0:
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip() and not line.startswith("Traceback")]
            how = f"aborted (signal {-done.returncode})" if done.returncode < 0 else "failed"
            raise ParityError(f"{directory / entry.file}: tflite-micro {how}: {(lines[-1] if lines else 'no message')[:300]}")
        with np.load(out) as loaded:
            actual = {name: loaded[name] for name in loaded.files}
    comparison = Comparison(f"{entry.target} in {MicroRunner.name}", "golden", list(expected))
    comparison.update(expected, actual)
    return comparison


def _golden(directory: str, target: str, out: str) -> None:
    """Run ``target``'s artifact of an export directory in TFLM on its golden inputs; write the outputs."""
    from .directory import check_hashes, entry_for, inside, load_golden, open_runner
    from .manifest import Manifest

    directory = Path(directory)
    manifest = Manifest.read(directory)
    entry = entry_for(directory, manifest, target)
    check_hashes(directory, (entry,))
    feeds, _ = load_golden(directory, manifest.golden)
    device = MicroRunner(inside(directory, entry.file, "artifact file"), arena=int(entry.graph["micro"]["arena_bytes"]))
    with open_runner(directory, manifest, entry, device=device) as runner:
        results = [runner.infer(feed) for feed in feeds]
    np.savez(out, **{name: np.concatenate([result[name] for result in results]) for name in results[0]})


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
    output's quantization step as JSON; ``golden DIR TARGET OUT.npz``: see `compare_golden`."""
    command, model, *rest = argv
    if command == "golden":
        _golden(model, *rest)
        return 0
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
