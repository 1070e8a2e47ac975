"""Benchmark edgeprep's artifacts against Keras' own ``model.export``, side by side; write BENCHMARKS.md.

    .venv/bin/python scripts/bench.py [--models seed_cnn mobilenet_v3_small ...] [--size 224] [--runs 30]

Per model (registry: `scripts/bench_models.py`), every export runs in its own process (wall time
and peak RSS of that process): Keras' ``model.export`` to LiteRT and to ONNX, and edgeprep (both
targets, verified) without folding, with folding (the default), with ``--batch 1``, and for the
same network without its preprocessing layers ("bare"). Then all artifacts are loaded into this
one process and timed interleaved, round-robin, at batch 1: median of ``--runs`` runs after
``--warmup`` runs, at 1 thread and at all threads. Models with raw inputs (the FeatureSpace and
text models) are timed per raw example as a deploy-side user pays for it: edgeprep's artifacts
through its runner (host steps, then the artifact), Keras' artifacts fed the raw example, and
Keras ``predict_on_batch`` on the same example. The ONNX simplifiers are compared on
edgeprep's repaired tf2onnx graph. Numbers from a shared machine are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_models import MODELS  # noqa: E402
from bench_report import MEMORY_FRAGMENT, memory_history, refresh_fragments, write_memory, write_report  # noqa: E402

VARIANTS = ("keras", "nofold", "fold", "batch1", "bare")


@dataclass
class Artifact:
    """One artifact to measure."""

    model: str
    variant: str
    target: str
    path: Path
    facts: dict = field(default_factory=dict)
    latency: dict = field(default_factory=dict)  # threads -> median seconds
    error: str = ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS), metavar="NAME")
    parser.add_argument("--size", type=int, default=224, help="image size of keras.applications models (default 224)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per artifact and thread count (default 30)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--work", type=Path, help="keep artifacts here (default: a temporary directory)")
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "VARIANT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(*args.worker, args.size)
    results, big = [], []
    history = memory_history(args.out.parent / MEMORY_FRAGMENT)  # read once: the report is rewritten after each model
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for name in args.models:  # the report is rewritten after each model: a crash keeps the rest
            if MODELS[name].latency:
                results.append(_bench_model(name, args, work / name))
                write_report(args.out, results, _machine(), vars(args))
            else:  # big models: export memory and wall time only, in their own section
                big.append(_bench_model(name, args, work / name))
                write_memory(args.out.parent / MEMORY_FRAGMENT, big, _machine(), vars(args), history)
                if args.out.exists():
                    refresh_fragments(args.out)
    print(f"wrote {args.out}")
    return 0


def _bench_model(name: str, args, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    exports = {}
    for variant in MODELS[name].variants:
        print(f"[{name}] export {variant}", file=sys.stderr, flush=True)
        available = _available_gb()
        if available < MODELS[name].min_available_gb:  # a shared machine: never push it into the OOM killer
            exports[variant] = {"error": f"not run: {available:.0f} GB available, needs {MODELS[name].min_available_gb:.0f} GB", "process_seconds": 0, "peak_rss_mb": 0}
            continue
        exports[variant] = _run_worker(name, variant, work / variant, args.size)
    if not MODELS[name].latency:
        return {"model": name, "note": MODELS[name].note, "exports": exports}
    artifacts = _artifacts(name, work, exports)
    simplifiers = _simplifiers(work / "raw.onnx", work / "keras" / "model.onnx", args) if (work / "raw.onnx").exists() else {}
    print(f"[{name}] latency of {len(artifacts)} artifacts, {args.runs} runs", file=sys.stderr, flush=True)
    keras_latency = _latency(artifacts, name, args, work)
    return {"model": name, "note": MODELS[name].note, "exports": exports, "artifacts": artifacts, "simplifiers": simplifiers, "keras_predict": keras_latency}


def _available_gb() -> float:
    """MemAvailable from /proc/meminfo, GB (infinite where unknown)."""
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return float("inf")
    return next((int(line.split()[1]) / 2**20 for line in text.splitlines() if line.startswith("MemAvailable:")), float("inf"))


def _run_worker(name: str, variant: str, directory: Path, size: int) -> dict:
    """Run one export in a fresh process; its wall time and peak RSS, or the error it printed."""
    command = [sys.executable, str(Path(__file__).resolve()), "--size", str(size), "--worker", name, variant, str(directory)]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        tree = _TreePeak(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        tree.stop()
        wall = time.perf_counter() - start
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    # the process tree: edgeprep converts big models in a child process (converters/isolate.py), and wait4's
    # ru_maxrss is the largest single process; the steps' peaks already sum the tree, exactly at each child's end
    steps = [step["peak_rss_mb"] or 0 for step in result.get("steps", [])]
    result.update(process_seconds=wall, peak_rss_mb=max([usage.ru_maxrss / 1024, tree.peak, *steps]), worker_maxrss_mb=usage.ru_maxrss / 1024)
    if process.returncode != 0 and "error" not in result:
        result["error"] = (stderr.strip().splitlines() or ["exit %d" % process.returncode])[-1][:300]
    return result


class _TreePeak:
    """The largest summed RSS of a process and its descendants, sampled every 20 ms in a thread."""

    def __init__(self, pid: int):
        import threading

        from edgeprep.memory import tree_rss_mb

        self.peak, self._done = 0.0, threading.Event()

        def run():
            while not self._done.wait(0.02):
                self.peak = max(self.peak, tree_rss_mb(pid) or 0.0)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _worker(name: str, variant: str, directory: str, size: int) -> int:
    """Build the model and export it one way; print a JSON line with the timings."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model = MODELS[name].build(size)
    result = {"weights_mb": sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights) / 2**20}
    if MODELS[name].example is None:
        model(np.zeros((1, *model.inputs[0].shape[1:]), np.float32))  # Keras' export needs a called model
    if variant == "keras":
        for target, suffix, fmt in (("tflite", "tflite", "litert"), ("onnx", "onnx", "onnx")):
            start = time.perf_counter()
            try:
                model.export(str(out / f"model.{suffix}"), format=fmt, verbose=False)
            except Exception as exc:  # Keras' own export may fail; that is a result too
                result[f"{target}_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            result[f"{target}_seconds"] = time.perf_counter() - start
        print(json.dumps(result))
        return 0
    import edgeprep
    from edgeprep.config import ExportConfig

    config = ExportConfig(fold=variant != "nofold", batch=1 if variant == "batch1" else None)
    if variant == "bare":
        model = _bare(model, MODELS[name].preprocessing)
    start = time.perf_counter()
    try:
        export = edgeprep.export(model, out / "dist", config=config)
    except edgeprep.ParityError as exc:  # the artifacts are written with the evidence: measure them
        export = exc.result
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}))
        return 1
    result["seconds"] = time.perf_counter() - start
    result["passed"] = export.passed
    result["max_rel"] = {t.value: r.max_rel for t, r in export.reports.items()}
    result["steps"] = [measure.to_json() for measure in export.steps]
    result["graph"] = {a["target"]: a.get("graph", {}) for a in export.manifest["artifacts"]}
    if variant == "fold" and MODELS[name].example is None and MODELS[name].latency:
        _save_raw_onnx(export, out.parent / "raw.onnx")
    print(json.dumps(result))
    return 0


def _bare(model, classes: tuple[str, ...]):
    """The same network without its preprocessing layers (same weights)."""
    from edgeprep.config import Action
    from edgeprep.graph import flatten, rebuild
    from edgeprep.transforms.rewrite import Rewrite

    graph = flatten(model)
    for call in graph.calls:
        if call.class_name in classes:
            graph = graph.apply(Rewrite.passthrough(call, Action.STRIPPED, "bare network", "bench"))
    return rebuild(graph, name=f"{model.name}_bare")


def _save_raw_onnx(export, path: Path) -> None:
    """edgeprep's transformed model through tf2onnx (repaired, not simplified): the simplifiers' input."""
    from converters.onnx import optimize
    from converters.trace import freeze
    from edgeprep.config import Target
    from edgeprep.graph import rebuild

    import tf2onnx

    plan = export.plans[Target.ONNX]
    frozen = freeze(rebuild(plan.graph), tuple(plan.graph.input_names))
    with optimize.watch_optimizers() as failures:
        proto, _ = tf2onnx.convert.from_graph_def(
            frozen.function.graph.as_graph_def(), input_names=list(frozen.input_tensors), output_names=list(frozen.output_tensors), opset=17
        )
    if failures:
        proto = optimize.repair(proto, list(failures))
    path.write_bytes(proto.SerializeToString())


def _artifacts(name: str, work: Path, exports: dict) -> list[Artifact]:
    found = []
    for variant in MODELS[name].variants:
        base = work / variant if variant == "keras" else work / variant / "dist"
        for target in ("tflite", "onnx"):
            artifact = Artifact(name, variant, target, base / f"model.{target}")
            error = exports[variant].get(f"{target}_error") or exports[variant].get("error")
            if error or not artifact.path.exists():
                artifact.error = error or "no artifact"
            else:
                try:
                    artifact.facts = _facts(artifact.path, target)
                except Exception as exc:  # e.g. a Keras artifact that needs Flex ops
                    artifact.error = f"unreadable: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
            found.append(artifact)
    return found


def _facts(path: Path, target: str) -> dict:
    """Size, op count and graph facts, read from the file with its own runtime library."""
    facts = {"bytes": path.stat().st_size}
    if target == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        from converters.tflite.delegate import xnnpack_report

        interpreter = Interpreter(model_path=str(path))
        details = interpreter._get_ops_details()
        ops = [op["op_name"] for op in details]
        graph_inputs = {d["index"] for d in interpreter.get_input_details()}
        facts.update(ops=len(ops), op_types=sorted(set(ops)), shape_ops=_shape_ops(details, graph_inputs), xnnpack=xnnpack_report(path.read_bytes()))
    else:
        import onnx

        from converters.onnx.optimize import LAYOUT_PERMS, _perm

        proto = onnx.load(str(path))
        nodes = list(proto.graph.node)
        facts.update(
            ops=len(nodes), op_types=sorted({n.op_type for n in nodes}), inputs=len(proto.graph.input),
            transposes=sum(n.op_type == "Transpose" and _perm(n) in LAYOUT_PERMS for n in nodes),
        )
    return facts


def _shape_ops(details: list[dict], graph_inputs: set[int]) -> list[str]:
    """The ops that compute shapes: SHAPE and every op fed only by shapes and constants.

    A GATHER of an embedding table is data, a GATHER of a SHAPE result is shape arithmetic (what a
    dynamic batch leaves around LayerNorm and Reshape): only the latter counts.
    """
    produced = {t for op in details for t in op["outputs"]}
    shaped, found = set(), []
    for op in details:
        live = [t for t in op["inputs"] if t >= 0 and (t in produced or t in graph_inputs)]
        if op["op_name"] == "SHAPE" or (live and all(t in shaped for t in live)):
            shaped.update(op["outputs"])
            found.append(op["op_name"])
    return found


def _sessions(artifact: Artifact, threads: int, reference_model, example: dict | None = None, stack=None):
    """A zero-argument callable running one batch-1 inference of ``artifact``.

    With ``example`` (raw inputs by name), edgeprep's artifacts run through the deploy-side runner
    (host steps, then the artifact; kept open on ``stack``) and Keras' artifacts are fed the example.
    """
    rng = np.random.default_rng(0)
    if example is not None and artifact.variant != "keras":
        runner = _deploy_runner(artifact.path.parent, artifact.target, threads, stack)
        runner.infer(example)
        return lambda: runner.infer(example)
    if example is not None:
        return _keras_artifact_session(artifact, threads, example)
    if artifact.target == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(artifact.path), num_threads=threads)
        details = interpreter.get_input_details()
        for detail in details:
            interpreter.resize_tensor_input(detail["index"], [1, *detail["shape_signature"][1:]], strict=False)
        interpreter.allocate_tensors()
        feeds = [(d["index"], rng.uniform(0, 255, [1, *d["shape"][1:]]).astype(d["dtype"])) for d in interpreter.get_input_details()]

        def run():
            for index, value in feeds:
                interpreter.set_tensor(index, value)
            interpreter.invoke()

        return run
    session = _ort_session(artifact.path, threads)
    feed = {}
    for value in session.get_inputs():
        shape = [1 if not isinstance(d, int) or d < 0 else d for d in value.shape]
        feed[value.name] = _extra_input(value.name, shape, reference_model) if len(feed) else rng.uniform(0, 255, shape).astype(np.float32)
    return lambda: session.run(None, feed)


def _deploy_runner(directory: Path, target: str, threads: int, stack):
    """edgeprep's deploy-side runner of ``directory``'s ``target`` artifact (host steps, then the artifact), open on ``stack``."""
    from edgeprep.manifest import Manifest
    from edgeprep.verification import open_runner

    manifest = Manifest.read(directory)
    return stack.enter_context(open_runner(directory, manifest, manifest.artifact(target), threads=threads))


def _ort_session(path: Path, threads: int):
    """An onnxruntime CPU session at ``threads`` intra-op threads, one inter-op thread, quiet."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _keras_artifact_session(artifact: Artifact, threads: int, example: dict):
    """Keras' own artifact fed the raw example (inputs matched by name); raises where it cannot run."""

    def value_for(name: str):
        key = next((k for k in sorted(example, key=len, reverse=True) if k in name), None)
        if key is None:
            raise ValueError(f"input {name!r} matches no raw input of the example ({', '.join(example)})")
        return example[key]

    if artifact.target == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(artifact.path), num_threads=threads)
        interpreter.allocate_tensors()
        runner = interpreter.get_signature_runner()
        feed = {name: _as_dtype(value_for(name), detail["dtype"]) for name, detail in runner.get_input_details().items()}
        runner(**feed)
        return lambda: runner(**feed)
    session = _ort_session(artifact.path, threads)
    feed = {value.name: value_for(value.name) for value in session.get_inputs()}
    session.run(None, feed)
    return lambda: session.run(None, feed)


def _as_dtype(value, dtype) -> np.ndarray:
    value = np.asarray(value)
    if value.dtype.kind == "U" and np.dtype(dtype).kind in "SO":
        return np.vectorize(lambda text: text.encode("utf-8"), otypes=[object])(value)
    return value.astype(dtype)


def _extra_input(name: str, shape, model) -> np.ndarray:
    """Keras' ONNX export turns Normalization statistics into graph inputs; feed them their values."""
    norm = next(layer for layer in model.layers if type(layer).__name__ == "Normalization")
    value = np.asarray(norm.mean if "Sub" in name else norm.variance, np.float32)
    return value.reshape(shape)


def _latency(artifacts: list[Artifact], name: str, args, work: Path) -> dict:
    """Interleaved, round-robin timing of every artifact at 1 and all threads (medians)."""
    model = MODELS[name].build(args.size)
    example = MODELS[name].example() if MODELS[name].example else None
    stack = contextlib.ExitStack()
    runs = {}
    for artifact in artifacts:
        if artifact.error:
            continue
        for threads in sorted({1, os.cpu_count() or 1}):
            try:
                runs[(artifact.variant, artifact.target, threads)] = (artifact, threads, _sessions(artifact, threads, model, example, stack), [])
            except Exception as exc:
                artifact.error = f"does not run: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
    predict = None
    if MODELS[name].predict_on_batch:
        for target, run in _floor(work / "floor", stack).items():
            runs[("floor", target, 1)] = (None, 1, run, [])
        x = example if example is not None else np.random.default_rng(0).uniform(0, 255, (1, *model.inputs[0].shape[1:])).astype(np.float32)
        model.predict_on_batch(x)
        runs[("keras-predict", "keras", 1)] = (None, 1, lambda: model.predict_on_batch(x), [])
    for index in range(args.warmup + args.runs):
        for key, (artifact, threads, run, times) in list(runs.items()):
            start = time.perf_counter()
            try:
                run()
            except Exception as exc:
                if artifact is not None:
                    artifact.error = f"does not run: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                del runs[key]
                continue
            if index >= args.warmup:
                times.append(time.perf_counter() - start)
    floor = {}
    for (variant, target, threads), (artifact, _, _, times) in runs.items():
        if variant == "floor":
            floor[target] = float(np.median(times))
        elif artifact is None:
            predict = float(np.median(times))
        elif times:
            artifact.latency[threads] = float(np.median(times))
    stack.close()
    return {"predict_on_batch": predict, "floor": floor} if predict is not None else {}


def _floor(work: Path, stack) -> dict:
    """Per target, calls of the smallest possible artifact (one Dense unit): the lower bounds.

    ``<target>``: through edgeprep's deploy runner (input checks and conversion, then the runtime);
    ``<target>-raw``: the runtime's own Python call alone (set/invoke/get; ``session.run``). No
    artifact timed here can be faster than the first, and no deployment from Python faster than the
    second: they bound the ratio to ``predict_on_batch`` that can be reached.
    """
    import keras
    from ai_edge_litert.interpreter import Interpreter

    import edgeprep

    model = keras.Sequential([keras.Input((1,), name="x"), keras.layers.Dense(1)], name="floor")
    edgeprep.export(model, work)
    x = np.ones((1, 1), np.float32)
    runs = {target: functools.partial(_deploy_runner(work, target, 1, stack).infer, {"x": x}) for target in ("tflite", "onnx")}
    interpreter = Interpreter(model_path=str(work / "model.tflite"), num_threads=1)
    interpreter.allocate_tensors()
    source, sink = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def tflite_raw():
        interpreter.set_tensor(source, x)
        interpreter.invoke()
        return interpreter.get_tensor(sink)

    session = _ort_session(work / "model.onnx", 1)
    runs["tflite-raw"] = tflite_raw
    runs["onnx-raw"] = functools.partial(session.run, None, {session.get_inputs()[0].name: x})
    return runs


def _simplifiers(raw: Path, keras_onnx: Path, args) -> dict:
    """onnxslim vs onnxsim vs onnxruntime's offline basic level on the same graph; onnxslim on Keras' export."""
    import onnx
    import onnxruntime as ort

    def slim(proto):
        import onnxslim

        return onnxslim.slim(proto)

    def sim(proto):
        import onnxsim

        simplified, ok = onnxsim.simplify(proto)
        return simplified

    def ort_basic(proto):
        with tempfile.TemporaryDirectory() as tmp:
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            options.optimized_model_filepath = os.path.join(tmp, "basic.onnx")
            ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
            return onnx.load(options.optimized_model_filepath)

    table = {"tf2onnx (repaired)": {"nodes": len(onnx.load(str(raw)).graph.node), "seconds": 0.0, "path": raw}}
    for label, tool in (("onnxslim", slim), ("onnxsim", sim), ("onnxruntime basic", ort_basic)):
        start = time.perf_counter()
        try:
            proto = tool(onnx.load(str(raw)))
        except Exception as exc:
            table[label] = {"error": f"{type(exc).__name__}: {str(exc)[:120]}"}
            continue
        path = raw.with_name(f"raw-{label.split()[0]}.onnx")
        onnx.save(proto, str(path))
        table[label] = {"nodes": len(proto.graph.node), "seconds": time.perf_counter() - start, "path": path}
    if keras_onnx.exists():
        try:
            table["Keras export + onnxslim"] = {"nodes": len(slim(onnx.load(str(keras_onnx))).graph.node), "seconds": None}
        except Exception as exc:  # Keras' file may hold TensorFlow ops (ConvNeXt) that no simplifier reads
            table["Keras export + onnxslim"] = {"error": f"{type(exc).__name__}: {str(exc)[:80]}"}
    timed = [Artifact("simplifier", label, "onnx", entry["path"]) for label, entry in table.items() if "path" in entry]
    _latency_only(timed, args)
    for artifact in timed:
        table[artifact.variant]["latency_1t"] = artifact.latency.get(1)
        table[artifact.variant].pop("path")
    return table


def _latency_only(artifacts: list[Artifact], args) -> None:
    runs = [(artifact, _sessions(artifact, 1, None), []) for artifact in artifacts]
    for index in range(args.warmup + args.runs):
        for artifact, run, times in runs:
            start = time.perf_counter()
            run()
            if index >= args.warmup:
                times.append(time.perf_counter() - start)
    for artifact, _, times in runs:
        artifact.latency[1] = float(np.median(times))


def _machine() -> dict:
    from edgeprep.manifest import tool_versions

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = tool_versions()
    for name in ("onnxslim", "onnxsim"):
        try:
            from importlib import metadata

            versions[name] = metadata.version(name)
        except Exception:
            continue
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "platform": platform.platform(), "cpu": cpu,
        "cores": os.cpu_count(), "load": os.getloadavg()[0], "versions": versions,
    }


if __name__ == "__main__":
    sys.exit(main())
