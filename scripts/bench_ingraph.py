"""Issue 16's benchmark: raw example -> output with the preprocessing in the artifact, vs host steps, vs Keras.

For each model (the seed text model, Hashing on a string and on an integer input, the FeatureSpace
with a crossing; factories in tests/zoo.py) at batch 1 and 256, on both targets, one process,
all variants timed interleaved round-robin (median of ``--runs`` rounds after a warm-up), 1 thread:

- (a) in graph: the artifact whose preprocessing runs as builtin ops (`edgeprep.ingraph`), called
  once through the runtime's own Python API (LiteRT ``Interpreter`` / ``InferenceSession``), the
  raw strings encoded to the UTF-8 byte contract first (`edgeprep.ingraph.text.encode_texts`);
- (b) host steps + artifact: ``edgeprep.export`` with the host steps (NumPy, `edgeprep.runtime.host`)
  run by edgeprep's runner in front of the artifact, as ``edgeprep run`` does;
- (c) Keras ``model.predict_on_batch`` on the raw example.

Where ``ExportConfig`` has ``host_steps`` (issue 16: the in-graph form is the default export), (a) is
``edgeprep.export``'s default artifact and (b) the export with ``host_steps=True``. Before that, (a)
is built here by replacing the preprocessing layer with the `edgeprep.ingraph` layer (``--handmade``
forces this). Every (a) output is checked equal to (c) before timing. Writes the markdown section to
``--out`` (benchmarks/7-ingraph.md) and prints JSON lines.

    PYTHONPATH=. python scripts/bench_ingraph.py [--runs 200] [--models text hashing_string ...] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

BATCHES = (1, 256)
HASH_BINS = 1024
VARIANTS = ("ingraph", "host", "keras")
LABELS = {"ingraph": "(a) in graph", "host": "(b) host steps + artifact", "keras": "(c) Keras predict_on_batch"}


@dataclass
class Case:
    """One benchmark model: the Keras original, its in-graph twin per target, and raw examples."""

    name: str
    note: str
    original: object
    ingraph: dict  # Target -> keras.Model taking the byte contract (native `Bitwise` of that target)
    raw: dict = field(default_factory=dict)  # batch -> raw feed (what Keras and `edgeprep run` take)


def _texts(count: int, seed: int) -> list[str]:
    from zoo import TEXT_WORDS

    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(TEXT_WORDS, int(rng.integers(3, 15)))).capitalize() + str(rng.choice([".", "!", "?", ""])) for _ in range(count)]


def _categories(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(chr(c) for c in rng.integers(97, 123, int(rng.integers(4, 25)))) for _ in range(count)]


def text_case() -> Case:
    """The seed text model; (a) replaces its TextVectorization with `edgeprep.ingraph.text`'s layer."""
    import keras

    from edgeprep.config import Target
    from edgeprep.families.text_vectorization import spec
    from edgeprep.ingraph.text import text_vectorization
    from zoo import seed_text

    model = seed_text()
    data = keras.Input((None,), dtype="uint8", name="text")
    x = text_vectorization(spec(model.get_layer("vectorize")), name="vectorize")(data)
    for layer in model.layers[2:]:
        x = layer(x)
    ingraph = keras.Model(data, x, name="seed_text_ingraph")
    raw = {b: {"text": np.array(_texts(b, 3), dtype=object).reshape(-1, 1)} for b in BATCHES}
    return Case("text", "seed text model: TextVectorization(max_tokens=1000, output_sequence_length=20) -> Embedding -> GAP -> Dense",
                model, {t: ingraph for t in Target}, raw)


ONNX_FORM = "onnx"  # `Bitwise` value of (a)'s handmade ONNX form (--onnx-form): onnx (opset 18) or onnx17


def _bitwise(target):
    """The `Bitwise` form of the handmade (a): TFLite's native one; for ONNX the --onnx-form one."""
    from edgeprep.config import Target
    from edgeprep.ingraph.uint64 import Bitwise

    return Bitwise.native(target) if target is Target.TFLITE else Bitwise(ONNX_FORM)


def _hashing_layer_class():
    import keras

    from edgeprep.ingraph import hashing, text_ops

    class InGraphHashing(keras.layers.Layer):
        """Keras' Hashing(num_bins) from the byte contract (strings) or int64 values ``[batch, 1]``."""

        def __init__(self, num_bins: int, strings: bool, bitwise, **kwargs):
            super().__init__(trainable=False, **kwargs)
            self.num_bins, self.strings, self.bitwise = num_bins, strings, bitwise

        def call(self, inputs):
            if self.strings:
                data, lengths = text_ops.prepare(inputs)
            else:
                data, lengths = hashing.integer_text(inputs[:, 0])
            hashed = hashing.text_hash(data, lengths, bitwise=self.bitwise)
            return keras.ops.expand_dims(hashing.keras_bins(hashed, self.num_bins, bitwise=self.bitwise), -1)

        def compute_output_spec(self, inputs):
            return keras.KerasTensor((inputs.shape[0], 1), "int64")

    return InGraphHashing


def hashing_case(strings: bool) -> Case:
    """Keras Hashing(num_bins=HASH_BINS) on a string (as UTF-8 bytes in (a)) or an int64 input, then
    Embedding -> Flatten -> Dense (a model of the hashing alone has nothing left for the device
    when the hashing runs on the host)."""
    import keras

    from edgeprep.config import Target

    dtype = "string" if strings else "int64"
    head = [keras.layers.Embedding(HASH_BINS, 8, name="embed"), keras.layers.Flatten(name="flat"), keras.layers.Dense(1, name="score")]

    def model(inputs, hashed):
        for layer in head:
            hashed = layer(hashed)
        return keras.Model(inputs, hashed, name=f"hashing_{dtype}")

    inputs = keras.Input((1,), dtype=dtype, name="value")
    original = model(inputs, keras.layers.Hashing(HASH_BINS, name="bucket")(inputs))
    ingraph = {}
    for target in Target:
        data = keras.Input((None,) if strings else (1,), dtype="uint8" if strings else "int64", name="value")
        ingraph[target] = model(data, _hashing_layer_class()(HASH_BINS, strings, _bitwise(target), name="bucket")(data))
    if strings:
        raw = {b: {"value": np.array(_categories(b, 5), dtype=object).reshape(-1, 1)} for b in BATCHES}
    else:
        rng = np.random.default_rng(6)
        raw = {b: {"value": rng.integers(-(2**62), 2**62, (b, 1), dtype=np.int64)} for b in BATCHES}
    return Case(f"hashing_{dtype}", f"Hashing(num_bins={HASH_BINS}) on a {dtype} input -> Embedding(8) -> Flatten -> Dense(1)", original, ingraph, raw)


def _crossing_layer_class():
    import keras

    from edgeprep.ingraph import hashing

    class InGraphCrossing(keras.layers.Layer):
        """Keras' HashedCrossing(num_bins, output_mode="int") of integer features ``[batch, 1]`` each."""

        def __init__(self, num_bins: int, bitwise, **kwargs):
            super().__init__(trainable=False, **kwargs)
            self.num_bins, self.bitwise = num_bins, bitwise

        def call(self, inputs):
            features = [keras.ops.cast(x[:, 0], "int64") for x in inputs]
            return keras.ops.expand_dims(hashing.cross_buckets(features, self.num_bins, bitwise=self.bitwise), -1)

        def compute_output_spec(self, inputs):
            return keras.KerasTensor((inputs[0].shape[0], 1), "int64")

    return InGraphCrossing


def feature_space_case() -> Case:
    """tests/zoo.py's FeatureSpace with a string x integer cross; (a) crosses the lookups' ids in graph,
    so the lookups stay on the device (edgeprep's own lowering) and nothing runs on the host."""
    import keras

    from edgeprep.config import Target
    from keras.layers import HashedCrossing
    from zoo import feature_space_tabular

    model = feature_space_tabular()
    ingraph = {}
    for target in Target:
        def swap(layer, target=target):
            if isinstance(layer, HashedCrossing):
                return _crossing_layer_class()(layer.num_bins, _bitwise(target), name=layer.name)
            return layer
        ingraph[target] = keras.models.clone_model(model, clone_function=swap)
    rng = np.random.default_rng(7)
    colors = np.array(["red", "green", "blue", "white", "Grün", "pink"], dtype=object)
    raw = {b: {"color": rng.choice(colors, (b, 1)), "rooms": rng.integers(0, 8, (b, 1)).astype(np.int32),
               "area": rng.normal(80, 20, (b, 1)).astype(np.float32), "age": rng.uniform(0, 100, (b, 1)).astype(np.float32)} for b in BATCHES}
    return Case("feature_space", "keras.utils.FeatureSpace (string and integer categoricals, a normalized and a discretized float, "
                "a string x integer HashedCrossing) -> Dense -> Dense", model, ingraph, raw)


CASES = {"text": text_case, "hashing_string": lambda: hashing_case(True), "hashing_int": lambda: hashing_case(False),
         "feature_space": feature_space_case}


class RawCall:
    """(a): one call of the runtime's own Python API on the encoded raw example."""

    def __init__(self, target, data: bytes, byte_inputs: dict[str, int]):
        from edgeprep.config import Target

        self.byte_inputs, self.target = byte_inputs, target
        if target is Target.TFLITE:
            from ai_edge_litert.interpreter import Interpreter

            self.interpreter = Interpreter(model_content=data, num_threads=1)
            self.interpreter.allocate_tensors()
            self.details = {d["name"]: d for d in self.interpreter.get_input_details()}
            self.shapes = {}
        else:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
            self.types = {i.name: i.type for i in self.session.get_inputs()}

    def encode(self, raw: dict) -> dict:
        """The raw feed with every byte input's strings as UTF-8 bytes: ``[batch, N]`` for the handmade
        twins, ``[*shape, N]`` for the product's artifacts (``rank`` 3)."""
        from edgeprep.ingraph.text import encode_texts

        out = {}
        for name, value in raw.items():
            if name not in self.byte_inputs:
                out[name] = value
            elif self.byte_inputs[name] == 2:
                out[name] = encode_texts(value[:, 0])
            else:
                encoded = encode_texts(value.reshape(-1))
                out[name] = encoded.reshape(*value.shape, encoded.shape[-1])
        return out

    def __call__(self, raw: dict) -> list:
        feed = self.encode(raw)
        if hasattr(self, "session"):
            return self.session.run(None, {k: v.astype(np.float32) if self.types[k] == "tensor(float)" else v for k, v in feed.items()})
        interpreter = self.interpreter
        resized = False
        for name, value in feed.items():
            detail = self.details[_tflite_name(self.details, name)]
            if self.shapes.get(name) != value.shape:
                interpreter.resize_tensor_input(detail["index"], list(value.shape), strict=False)
                self.shapes[name], resized = value.shape, True
        if resized:
            interpreter.allocate_tensors()
        for name, value in feed.items():
            detail = self.details[_tflite_name(self.details, name)]
            if detail["dtype"] in (np.bytes_, np.object_):  # a LiteRT string tensor (a lookup on the device): UTF-8 bytes
                value = np.array([v.encode("utf-8") if isinstance(v, str) else v for v in value.reshape(-1)], object).reshape(value.shape)
            interpreter.set_tensor(detail["index"], value.astype(detail["dtype"]))
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def _tflite_name(details: dict, name: str) -> str:
    return name if name in details else next(d for d in details if d.endswith(name) or name in d)


def product_ingraph() -> bool:
    """Whether edgeprep exports string preprocessing in graph by default (``ExportConfig.host_steps`` exists)."""
    from edgeprep.config import ExportConfig

    return "host_steps" in ExportConfig.__dataclass_fields__


def ingraph_artifact(case: Case, target, work: Path, handmade: bool) -> tuple[bytes, dict[str, int]]:
    """(a)'s artifact bytes and its byte inputs (name -> rank of the byte tensor): the product's
    default export, or ``edgeprep.export`` of the handmade in-graph twin for ``target`` alone."""
    import edgeprep
    from edgeprep.config import ExportConfig
    from edgeprep.manifest import Manifest

    out = work / f"{case.name}-ingraph-{target.value}"
    if handmade:
        config = ExportConfig(targets=(target,), onnx_opset=_bitwise(target).onnx_opset)
        edgeprep.export(case.ingraph[target], out, config=config, force=True)
        byte_inputs = {spec.name: 2 for spec in case.ingraph[target].inputs if spec.dtype == "uint8"}
    else:
        edgeprep.export(case.original, out, config=ExportConfig(targets=(target,)), force=True)
    manifest = Manifest.read(out)
    (entry,) = manifest.artifacts
    assert not entry.host_steps, f"{case.name}: the in-graph export still has host steps {entry.host_steps}"
    if not handmade:
        byte_inputs = {spec.name: 3 for spec in manifest.inputs if str(getattr(spec, "encoding", None)) == "utf8-bytes"}
    return (out / entry.file).read_bytes(), byte_inputs


def _ops_of(target, data: bytes) -> dict:
    """Op type -> count of an artifact (ONNX: nodes of the main graph and of its loops' bodies)."""
    from collections import Counter

    from edgeprep.config import Target

    if target is Target.TFLITE:
        from edgeprep.backend import backend

        with backend(target).runner(data) as runner:
            return runner.ops()
    import onnx

    counts: Counter = Counter()

    def walk(graph) -> None:
        for node in graph.node:
            counts[node.op_type] += 1
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    walk(attribute.g)

    walk(onnx.load_from_string(data).graph)
    return dict(counts)


def _median_interleaved(calls: dict, runs: int, warmup: int) -> dict:
    for call in calls.values():
        for _ in range(warmup):
            call()
    times = {name: [] for name in calls}
    names = list(calls)
    for round_ in range(runs):  # the order rotates: Keras' threads spin on after its call, slowing whatever comes next
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_case(case: Case, runs: int, warmup: int, work: Path, handmade: bool) -> list[dict]:
    import edgeprep
    from edgeprep.config import ExportConfig, Target
    from edgeprep.manifest import Manifest
    from edgeprep.verification import open_runner

    host_dir = work / f"{case.name}-host"
    edgeprep.export(case.original, host_dir, config=ExportConfig(host_steps=True) if product_ingraph() else ExportConfig(), force=True)
    manifest = Manifest.read(host_dir)
    rows = []
    for target in Target:
        data, byte_inputs = ingraph_artifact(case, target, work, handmade)
        ops = _ops_of(target, data)
        ingraph = RawCall(target, data, byte_inputs)
        entry = next(e for e in manifest.artifacts if e.target == target.value)
        with open_runner(host_dir, manifest, entry, threads=1) as hosted:
            for batch in BATCHES:
                raw = case.raw[batch]
                want = np.asarray(case.original.predict_on_batch(raw))
                got = ingraph(raw)
                np.testing.assert_array_equal(np.asarray(got[0]).reshape(want.shape), want) if want.dtype.kind in "iu" else \
                    np.testing.assert_allclose(np.asarray(got[0]).reshape(want.shape), want, rtol=1e-4, atol=1e-5)
                medians = _median_interleaved({
                    "ingraph": lambda: ingraph(raw),
                    "host": lambda: hosted.infer(raw),
                    "keras": lambda: case.original.predict_on_batch(raw),
                }, runs, warmup)
                row = {"model": case.name, "target": target.value, "batch": batch, **{k: v * 1e3 for k, v in medians.items()},
                       "host_steps": len(entry.host_steps), "ingraph_ops": sum(ops.values()), "ingraph_kb": round(len(data) / 1024, 1)}
                rows.append(row)
                print(json.dumps(row | {"op_types": ops} if batch == BATCHES[0] else row), flush=True)
    return rows


def floor_rows(case: Case, runs: int, warmup: int, work: Path, handmade: bool) -> list[dict]:
    """Goal (c)/(a)'s floor at batch 1: a 2-op artifact (CAST + ADD of the UTF-8 bytes) called exactly as (a),
    interleaved with the UTF-8 encoding alone, the text model's (a) and its Keras ``predict_on_batch`` (c)."""
    import keras

    import edgeprep
    from edgeprep.config import ExportConfig, Target
    from edgeprep.ingraph.text import encode_texts

    data = keras.Input((None,), dtype="uint8", name="text")
    trivial = keras.Model(data, keras.ops.cast(data, "int32") + 1, name="floor")
    raw = case.raw[1]
    rows = []
    for target in Target:
        out = work / f"floor-{target.value}"
        result = edgeprep.export(trivial, out, config=ExportConfig(targets=(target,)), force=True)
        (entry,) = result.manifest.artifacts
        floor = RawCall(target, (out / entry.file).read_bytes(), {"text": 2})
        text = RawCall(target, *ingraph_artifact(case, target, work, handmade))
        medians = _median_interleaved({
            "encode": lambda: encode_texts(raw["text"][:, 0]),
            "floor": lambda: floor(raw),
            "ingraph": lambda: text(raw),
            "keras": lambda: case.original.predict_on_batch(raw),
        }, runs, warmup)
        row = {"target": target.value, "floor_ops": sum(entry.ops.values()), **{k: v * 1e6 for k, v in medians.items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def floor_report(rows: list[dict]) -> str:
    lines = [
        "",
        "Goal (c)/(a) >= 50: the floor of the Python call path (`--floor`, batch 1, same rounds, microseconds): a 2-op "
        "artifact (CAST + ADD of the UTF-8 bytes) called exactly as (a) (encode, set inputs, run, read the output), the "
        "UTF-8 encoding alone, the text model's (a) and Keras `predict_on_batch` of the text model (c).",
        "",
    ]
    lines += _table(["target", "encode us", "2-op artifact us", "text (a) us", "Keras (c) us", "(c) / 2-op", "(c) / text (a)"],
                    [[r["target"], f"{r['encode']:.1f}", f"{r['floor']:.1f}", f"{r['ingraph']:.1f}", f"{r['keras']:.1f}",
                      f"{r['keras'] / r['floor']:.0f}", f"{r['keras'] / r['ingraph']:.0f}"] for r in rows])
    return "\n".join(lines) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a markdown table."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(row) + " |" for row in rows)]


def report(rows: list[dict], cases: list[Case], args) -> str:
    import importlib.metadata as md

    versions = ", ".join(f"{p} {md.version(p)}" for p in ("keras", "tensorflow", "tf2onnx", "onnxruntime", "ai-edge-litert", "numpy"))
    load = os.getloadavg()[0]
    lines = [
        "## In-graph preprocessing vs host steps vs Keras (issue 16)",
        "",
        f"`python scripts/bench_ingraph.py --runs {args.runs}{' --floor' if args.floor else ''}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{_cpu()} ({os.cpu_count()} cores shared with other sessions, load average {load:.1f} at the end), {platform.platform()}; {versions}.",
        "",
        "Raw example to output, one process, 1 thread, the three variants timed interleaved round-robin (the order rotating "
        "every round): median of "
        f"{args.runs} rounds after {args.warmup} warm-up calls. (a) in graph: the artifact with the preprocessing as builtin "
        "ops, one call of the runtime's own Python API (LiteRT `Interpreter`, `InferenceSession`), the UTF-8 encoding "
        "of the raw strings included; (b) host steps + artifact: `edgeprep.export` as today, NumPy host steps then the "
        "artifact through edgeprep's runner (as `edgeprep run`); (c) Keras `predict_on_batch` on the raw example. Every "
        "(a) output was checked equal to (c) before timing. Goal: (a) faster than (b); (c)/(a) >= 50 on TFLite at batch 1.",
        "",
        "(a) is " + ("built by the script from the `edgeprep.ingraph` layers (the product's in-graph export was not yet on this "
                     "branch): the TextVectorization / Hashing / HashedCrossing layer replaced by its in-graph twin, the rest "
                     "exported by `edgeprep.export`" if args.handmade else "`edgeprep.export`'s default artifact; (b) is the same "
                     "export with `host_steps=True` (`--host-steps`)") + ".",
        "",
    ]
    lines += [f"- {case.name}: {case.note}" for case in cases]
    lines.append("")
    lines += _table(["model", "target", "batch", "(a) in graph ms", "(b) host + artifact ms", "(c) Keras ms", "(b)/(a)", "(c)/(a)", "(a) ops / KiB", "host steps (b)"],
                    [[r["model"], r["target"], str(r["batch"]), f"{r['ingraph']:.3f}", f"{r['host']:.3f}", f"{r['keras']:.3f}",
                      f"{r['host'] / r['ingraph']:.2f}", f"{r['keras'] / r['ingraph']:.0f}", f"{r['ingraph_ops']} / {r['ingraph_kb']}", str(r["host_steps"])]
                     for r in rows])
    return "\n".join(lines) + "\n"


def _cpu() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, help="write the markdown section here (e.g. benchmarks/7-ingraph.md)")
    parser.add_argument("--handmade", action="store_true", help="build (a) from the edgeprep.ingraph layers even if the product exports in graph")
    parser.add_argument("--floor", action="store_true", help="also time a 2-op artifact through (a)'s call path (goal (c)/(a)'s floor)")
    parser.add_argument("--onnx-form", choices=("onnx", "onnx17"), default="onnx",
                        help="handmade (a)'s ONNX form: native BitwiseXor at opset 18, or opset 17's byte-table XOR")
    args = parser.parse_args(argv)
    global ONNX_FORM
    ONNX_FORM = args.onnx_form
    args.handmade = args.handmade or not product_ingraph()
    cases = [CASES[name]() for name in args.models]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            rows += bench_case(case, args.runs, args.warmup, Path(tmp), args.handmade)
        floor = floor_rows(CASES["text"](), args.runs, args.warmup, Path(tmp), args.handmade) if args.floor else []
    text = report(rows, cases, args) + (floor_report(floor) if floor else "")
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
