"""Quantization benchmark (issue 9): size, quality and latency of float vs int8 artifacts.

MobileNetV3Small (weights=None but fixed and calibrated, include_preprocessing=True, 224x224,
1000-class logits) and the digits CNN, exported by edgeprep as float32, float16, dynamic and int8
(per-channel and per-tensor weights). Quality is measured against the float Keras model on
held-out inputs (SQNR, top-1 agreement); latency is the median of >= 30 single-image runs at one
thread after warm-up, the variants interleaved in one process so they share the machine's state.

Usage: python scripts/bench_quant.py [--runs 30] [--out bench-out/quant]
Prints Markdown tables (paste into BENCHMARKS.md) and writes bench_quant.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "scripts"))

VARIANTS = (
    ("float32", {"quantize": "none"}),
    ("float16", {"quantize": "float16"}),
    ("dynamic", {"quantize": "dynamic"}),
    ("int8 per-channel", {"quantize": "int8"}),
    ("int8 per-tensor", {"quantize": "int8", "int8_per_channel": False}),
)


def mobilenet():
    import keras

    from zoo import calibrate

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(input_shape=(224, 224, 3), weights=None, include_preprocessing=True, classifier_activation=None)
    return calibrate(model, seed=7), (224, 224, 3), 255.0


def digits():
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(0)
    data = load_digits()
    images = np.kron(data.images * (255.0 / 16.0), np.ones((3, 3))).astype("float32")[..., None]
    model = keras.Sequential([
        keras.Input((24, 24, 1), name="image"), keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(10, name="logits"),
    ])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images[:1400], data.target[:1400], epochs=6, batch_size=64, verbose=0)
    return model, (24, 24, 1), images


def _latency(runner, feed, runs):
    for _ in range(5):
        runner.infer(feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.infer(feed)
        times.append(time.perf_counter() - start)
    return times


def bench(name, factory, runs, out):
    import numpy as np

    import edgeprep
    from edgeprep.backend import backend

    model, shape, source = factory()
    rng = np.random.default_rng(1)
    if isinstance(source, float):
        calibration = rng.uniform(0, source, (256, *shape)).astype("float32")
        heldout = rng.uniform(0, source, (64, *shape)).astype("float32")
    else:
        calibration, heldout = source[:1400], source[1400:]
    from edgeprep.runners import KerasRunner

    input_name = KerasRunner(model).inputs()[0].name
    np.savez(out / f"{name}-calibration.npz", **{input_name: calibration})
    np.savez(out / f"{name}-heldout.npz", **{input_name: heldout})
    rows, runners = [], {}
    for label, options in VARIANTS:
        kwargs = {"quantize": edgeprep.Quantization(options["quantize"]), "data": str(out / f"{name}-heldout.npz")}
        if options["quantize"] == "int8":
            kwargs.update(calibration=str(out / f"{name}-calibration.npz"), int8_per_channel=options.get("int8_per_channel", True))
        try:
            result = edgeprep.export(model, out / f"{name}-{label.replace(' ', '-')}", **kwargs)
        except edgeprep.ParityError as exc:
            result = exc.result
        for target, path in result.artifacts.items():
            report = result.reports[target]
            rows.append({"model": name, "variant": label, "target": target.value, "bytes": path.stat().st_size,
                         "sqnr_db": report.outputs[0].sqnr_db, "top1": report.top1, "passed": report.passed})
            runners[(label, target.value)] = backend(target).runner(path, threads=1)
    feed = {input_name: heldout[:1]}
    samples = {key: [] for key in runners}
    for _ in range(max(1, runs // 10)):  # interleave the variants in rounds
        for key, runner in runners.items():
            samples[key].extend(_latency(runner, feed, 10))
    for row in rows:
        row["latency_ms"] = statistics.median(samples[(row["variant"], row["target"])]) * 1e3
    return rows


def table(rows):
    lines = ["| model | target | variant | size | size ratio | SQNR (dB) | top-1 | latency 1 thread (ms) | speed-up |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        base = next(r for r in rows if r["model"] == row["model"] and r["target"] == row["target"] and r["variant"] == "float32")
        sqnr = "exact" if row["sqnr_db"] is None else f"{row['sqnr_db']:.1f}"
        top1 = "" if row["top1"] is None else f"{row['top1']:.1%}"
        lines.append(f"| {row['model']} | {row['target']} | {row['variant']} | {row['bytes'] / 1e6:.2f} MB | {row['bytes'] / base['bytes']:.3f}x | {sqnr} | {top1} | {row['latency_ms']:.2f} | {base['latency_ms'] / row['latency_ms']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    from bench_report import write_fragment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", default="bench-out/quant")
    parser.add_argument("--markdown", default=str(REPO / "benchmarks" / "5-quant.md"), help="write the section here")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = bench("digits CNN", digits, args.runs, out) + bench("MobileNetV3Small", mobilenet, args.runs, out)
    section = "\n".join([
        "## Quantization (issue 9)",
        "",
        f"`python scripts/bench_quant.py --runs {args.runs}` on {time.strftime('%Y-%m-%d')}: every variant exported by edgeprep and",
        "judged against the float Keras model on held-out inputs (digits: the 397 held-out digits; MobileNetV3Small:",
        "64 random images, weights=None with calibrated BatchNorm statistics). Latency: batch 1, 1 thread, median of",
        f"{args.runs} runs after warm-up, all variants interleaved in one process.",
        "",
        table(rows),
    ])
    write_fragment(args.markdown, section, out / "bench_quant.json", rows)


if __name__ == "__main__":
    main()
