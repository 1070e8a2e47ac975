"""Measure edgeprep.ingraph's hashes as artifacts: ops, size, latency per string vs the numpy host step.

For each target and `Bitwise` form, a one-layer model ``Hashing(num_bins=1000)`` (Fingerprint64)
or ``Hashing(num_bins=1000, salt=...)`` (SipHash) over the UTF-8 text contract is converted with
edgeprep's converter and run in its runtime at batch 1 and 256 on short categorical strings (4-24
bytes) and on 1 KB strings; the host step is ``edgeprep.runtime.host.hashes.hash_buckets`` on the same
strings. Prints one JSON line per measurement.

    PYTHONPATH=. python scripts/bench_hashing.py [--repeat 50] [--forms native|all]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "ingraph"))

import numpy as np  # noqa: E402
from hash_probe import SALT_A, encode  # noqa: E402

BINS = 1000


def hashing_model(salt, bitwise):
    """``{text, length} -> bucket``: Keras' Hashing(num_bins=BINS[, salt]) on the text contract."""
    import keras

    from edgeprep.ingraph import hashing

    class InGraphHashing(keras.layers.Layer):
        def call(self, text, length):
            return hashing.hash_buckets(text, length, BINS, salt, bitwise=bitwise)

        def compute_output_spec(self, text, length):
            return keras.KerasTensor((text.shape[0],), "int64")

    text = keras.Input((None,), dtype="uint8", name="text")
    length = keras.Input((), dtype="int32", name="length")
    return keras.Model([text, length], InGraphHashing(name="bucket")(text, length))


def strings(count: int, low: int, high: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [bytes(rng.integers(97, 123, int(rng.integers(low, high + 1)), dtype=np.uint8)) for _ in range(count)]


def median_seconds(call, repeat: int) -> float:
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--forms", choices=("native", "all"), default="native")
    args = parser.parse_args()

    from edgeprep.backend import backend
    from edgeprep.config import ExportConfig, Target
    from edgeprep.runtime.host.hashes import hash_buckets
    from edgeprep.ingraph.uint64 import Bitwise

    workloads = {"short": strings(256, 4, 24, 0), "1KB": strings(256, 1024, 1024, 1)}
    for salt in (None, SALT_A):
        hash_name = "fingerprint64" if salt is None else "siphash"
        for workload, texts in workloads.items():
            unicode = np.array([t.decode() for t in texts])
            for batch in (1, 256):
                host = median_seconds(lambda: hash_buckets(unicode[:batch], BINS, None if salt is None else tuple(salt)), args.repeat)
                print(json.dumps({"hash": hash_name, "workload": workload, "batch": batch, "runtime": "numpy host step", "us_per_string": round(host / batch * 1e6, 2)}), flush=True)
        for target in (Target.TFLITE, Target.ONNX):
            forms = [Bitwise.native(target)] + ([Bitwise.ONNX17] if target is Target.ONNX else []) + ([Bitwise.PORTABLE] if args.forms == "all" else [])
            for bitwise in forms:
                model = hashing_model(salt, bitwise)
                options = backend(target).options(ExportConfig(onnx_opset=bitwise.onnx_opset), ("text", "length"), ("bucket",), None)
                start = time.perf_counter()
                artifact = backend(target).convert(model, options)
                convert_s = time.perf_counter() - start
                with backend(target).runner(artifact.data) as runner:
                    for workload, texts in workloads.items():
                        for batch in (1, 256):
                            data, lengths = encode(texts[:batch])
                            feed = {"text": data, "length": lengths}
                            expected = hash_buckets(np.array([t.decode() for t in texts[:batch]]), BINS, None if salt is None else tuple(salt))
                            assert np.array_equal(runner.infer(feed)["bucket"], expected), (target, bitwise, workload, batch)
                            seconds = median_seconds(lambda: runner.infer(feed), args.repeat)
                            print(json.dumps({
                                "hash": hash_name, "workload": workload, "batch": batch, "runtime": target.value,
                                "bitwise": bitwise.value, "us_per_string": round(seconds / batch * 1e6, 2),
                                "us_per_call": round(seconds * 1e6, 1), "size_kb": round(len(artifact.data) / 1024, 1),
                                "ops": sum(artifact.ops.values()), "convert_s": round(convert_s, 1),
                            }), flush=True)
                print(json.dumps({"hash": hash_name, "runtime": target.value, "bitwise": bitwise.value, "op_types": artifact.ops}), flush=True)


if __name__ == "__main__":
    main()
