"""Benchmark: end-to-end latency per example of lowered preprocessing models vs Keras.

For vocabulary sizes 100, 10k and 100k, four models are exported to both targets and timed at
batch 1, side by side in one run:

- ``lookup_index``: StringLookup + IntegerLookup of V entries with their indices as outputs: the
  lookup cost alone (on the device: hash table / binary search);
- ``feature_space``: keras.utils.FeatureSpace (string and integer categoricals of V values, a
  normalized and a discretized float, a string x integer cross) -> Dense (the one-hot features
  are V wide, so the Dense layer itself grows with V). The cross needs
  FarmHash-based hashing, so both lookups run on the host with it;
- ``lookups_on_device``: the same features without the cross: the vocabulary lookups run in the
  artifact (TFLite HASHTABLE / ONNX CategoryMapper for strings, binary search for integers);
- ``text``: TextVectorization(max_tokens=V, output_sequence_length=20) -> Embedding ->
  GlobalAveragePooling1D -> Dense (the text layer runs on the host on both targets).

"edgeprep" latency is what `edgeprep run` does per call: host steps (edgeprep.runtime.host, NumPy) then
the artifact in its stock runtime (1 thread). "keras" is ``model.predict_on_batch`` on the same
raw example. Run: ``python scripts/bench_lowering.py [--out benchmarks/2-lowering.md] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _models(vocab: int) -> dict:
    """name -> (model, one raw example) at vocabulary size ``vocab`` (factories from tests/zoo.py)."""
    from zoo import feature_space_tabular, seed_text

    tabular = {"color": np.array([["c000042"]]), "rooms": np.array([[3 + 7 * 5]], np.int32), "area": np.array([[70.0]], np.float32), "age": np.array([[33.0]], np.float32)}
    words = " ".join(f"w{i % vocab:06d}" for i in (3, 77, 5000, 99999, 12))
    return {
        "lookup_index": (lambda: _lookup_index(vocab), {"color": tabular["color"], "rooms": tabular["rooms"].astype(np.int64)}),
        "feature_space": (lambda: feature_space_tabular(vocab, cross=True), tabular),
        "lookups_on_device": (lambda: feature_space_tabular(vocab, cross=False), tabular),
        "text": (lambda: seed_text(vocab), {"text": np.array([[words + " Unknown, WORDS here!"]])}),
    }


def _lookup_index(vocab: int):
    """StringLookup + IntegerLookup of ``vocab`` entries, indices out: the lookup cost alone."""
    import keras

    color = keras.Input((1,), dtype="string", name="color")
    rooms = keras.Input((1,), dtype="int64", name="rooms")
    strings = keras.layers.StringLookup(vocabulary=[f"c{i:06d}" for i in range(vocab)])(color)
    ints = keras.layers.IntegerLookup(vocabulary=list(range(3, 3 + 7 * vocab, 7)))(rooms)
    return keras.Model({"color": color, "rooms": rooms}, {"string_index": strings, "int_index": ints}, name="lookup_index")


def _time(fn, repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_lowering(vocab_sizes=(100, 10_000, 100_000), repeats: int = 200) -> list[dict]:
    """Median batch-1 latency (seconds) per model, vocabulary size and runner; one dict per row."""
    import edgeprep
    from edgeprep.manifest import Manifest
    from edgeprep.verification import open_runner

    rows = []
    for vocab in vocab_sizes:
        for name, (factory, example) in _models(vocab).items():
            model = factory()
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                edgeprep.export(model, Path(tmp) / "dist")
                export_s = time.perf_counter() - start
                data = Manifest.read(Path(tmp) / "dist")
                row = {"model": name, "vocab": vocab, "export_s": export_s, "keras": _time(lambda: model.predict_on_batch(example), repeats)}
                for entry in data.artifacts:
                    with open_runner(Path(tmp) / "dist", data, entry, threads=1) as runner:
                        row[entry.target] = _time(lambda: runner.infer(example), repeats)
                        row[f"{entry.target}_host_steps"] = len(entry.host_steps)
                rows.append(row)
                print(_line(row), flush=True)
    return rows


def _line(row: dict) -> str:
    return (f"| {row['model']} | {row['vocab']:,} | {row['keras'] * 1e3:.3f} | {row['tflite'] * 1e3:.3f} ({row['tflite'] / row['keras']:.2f}x) "
            f"| {row['onnx'] * 1e3:.3f} ({row['onnx'] / row['keras']:.2f}x) | {row['tflite_host_steps']}/{row['onnx_host_steps']} | {row['export_s']:.1f} |")


INTRO = """## Lowered lookup, hashing and text models (issue 4)

End-to-end latency per example at batch 1: Keras `model.predict_on_batch` on the raw example vs
what `edgeprep run` does (host steps in `edgeprep.runtime.host`, then the artifact in its stock runtime,
1 thread). Median of 200 calls after a warm-up; all rows measured side by side in one run of
`python scripts/bench_lowering.py --out benchmarks/2-lowering.md`. At vocabulary 100,000 the
FeatureSpace models' one-hot features are 100,000 wide and the Dense layer after them is a
100,000-row matrix product on every target, Keras included: that, not the lookup, is what the
`feature_space` and `lookups_on_device` rows then measure (`lookup_index` is the lookup alone).

"""

HEADER = (
    "| model | vocab | keras predict_on_batch (ms) | tflite: host + artifact (ms, vs keras) | onnx: host + artifact (ms, vs keras) "
    "| host steps tflite/onnx | export (s) |\n|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    parser.add_argument("--quick", action="store_true", help="vocab 100 and 10k only, fewer repeats")
    args = parser.parse_args()
    print(HEADER)
    rows = bench_lowering((100, 10_000) if args.quick else (100, 10_000, 100_000), repeats=50 if args.quick else 200)
    if args.out:
        args.out.write_text(INTRO + HEADER + "\n" + "\n".join(_line(row) for row in rows) + "\n")


if __name__ == "__main__":
    main()
