"""Where int8 ONNX time goes (issue 21): MobileNetV3Small float32 vs int8 ONNX, per op type, at 1 thread.

Exports the model of `bench_quant` (same calibration and held-out images) to ONNX as float32 and
int8, then, in one process: the op counts of the graph onnxruntime's CPU provider actually runs
(its optimized graph), the kernel time per op type from onnxruntime's profiler (mean per run), the
end-to-end latency (median, the two artifacts interleaved in rounds) and top-1 agreement with Keras.

Usage: python scripts/bench_int8_onnx.py [--runs 300] [--out bench-out/int8-onnx]
Writes benchmarks/9-int8-onnx.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))


def export(out: Path) -> dict:
    """float32 and int8 ONNX of bench_quant's MobileNetV3Small; label -> (artifact path, top-1 vs Keras)."""
    import edgeprep
    from bench_quant import mobilenet
    from edgeprep.runners import KerasRunner

    model, shape, top = mobilenet()
    rng = np.random.default_rng(1)
    name = KerasRunner(model).inputs()[0].name
    np.savez(out / "calibration.npz", **{name: rng.uniform(0, top, (256, *shape)).astype("float32")})
    np.savez(out / "heldout.npz", **{name: rng.uniform(0, top, (64, *shape)).astype("float32")})
    artifacts = {}
    for label, extra in (("float32", {}), ("int8", {"quantize": edgeprep.Quantization.INT8, "calibration": str(out / "calibration.npz")})):
        try:
            result = edgeprep.export(model, out / label, targets=(edgeprep.Target.ONNX,), data=str(out / "heldout.npz"), force=True, **extra)
        except edgeprep.ParityError as exc:  # random weights: 1000 nearly tied logits; agreement is reported, not required
            result = exc.result
        artifacts[label] = (result.artifacts[edgeprep.Target.ONNX], result.reports[edgeprep.Target.ONNX].top1)
    return artifacts


def _session(path: Path, profile: str | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    if profile:
        options.enable_profiling, options.profile_file_prefix = True, profile
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def optimized_ops(path: Path) -> collections.Counter:
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return collections.Counter(node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node)


def kernel_time(path: Path, feed: dict, runs: int, work: Path) -> dict[str, float]:
    """Mean kernel microseconds per run, per op type, from onnxruntime's profiler."""
    session = _session(path, str(work / f"profile-{path.stem}"))
    for _ in range(runs + 10):
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    total: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            total[event["args"]["op_name"]] += event["dur"]
    return {op: micros / (runs + 10) for op, micros in total.most_common()}


def latency(paths: dict[str, Path], feed: dict, runs: int) -> dict[str, float]:
    """Median seconds per run, the artifacts interleaved in rounds of 10."""
    sessions = {label: _session(path) for label, path in paths.items()}
    samples: dict[str, list[float]] = {label: [] for label in sessions}
    for _ in range(max(1, runs // 10)):
        for label, session in sessions.items():
            for _ in range(10):
                start = time.perf_counter()
                session.run(None, feed)
                samples[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--out", default="bench-out/int8-onnx")
    parser.add_argument("--markdown", default=str(REPO / "benchmarks" / "9-int8-onnx.md"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    artifacts = export(out)
    heldout = np.load(out / "heldout.npz")
    feed = {heldout.files[0]: heldout[heldout.files[0]][:1]}
    paths = {label: path for label, (path, _) in artifacts.items()}
    ops = {label: optimized_ops(path) for label, path in paths.items()}
    kernels = {label: kernel_time(path, feed, args.runs, out) for label, path in paths.items()}
    median = latency(paths, feed, args.runs)
    lines = [
        "## int8 ONNX: where the time goes (issue 21)",
        "",
        f"`python scripts/bench_int8_onnx.py --runs {args.runs}` on {time.strftime('%Y-%m-%d')}: MobileNetV3Small as in the",
        "quantization section (224x224, weights=None with calibrated statistics, 256 random calibration images), ONNX,",
        "batch 1, 1 thread. Latency: median of the two artifacts interleaved; kernel time: onnxruntime's profiler, mean per run.",
        "",
        "| artifact | latency ms | speed-up | top-1 vs Keras | ops onnxruntime runs |",
        "|---|---:|---:|---:|---|",
    ]
    for label in paths:
        counts = ", ".join(f"{op} {n}" for op, n in ops[label].most_common())
        top1 = "" if artifacts[label][1] is None else f"{artifacts[label][1]:.1%}"
        lines.append(f"| {label} | {median[label] * 1e3:.2f} | {median['float32'] / median[label]:.2f}x | {top1} | {counts} |")
    lines += ["", "| op type | " + " | ".join(f"{label} us/run | share" for label in paths) + " |", "|---|" + "---:|---:|" * len(paths)]
    for op in dict.fromkeys(op for label in paths for op in kernels[label]):
        cells = []
        for label in paths:
            micros, total = kernels[label].get(op), sum(kernels[label].values())
            cells.append(f"{micros:.0f} | {micros / total:.0%}" if micros else " | ")
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    lines.append("| total | " + " | ".join(f"{sum(kernels[label].values()):.0f} | 100%" for label in paths) + " |")
    section = "\n".join(lines)
    print(section)
    Path(args.markdown).write_text(section + "\n")


if __name__ == "__main__":
    main()
