"""tflite-micro benchmark (issue 20): arena and latency of `--micro` artifacts next to LiteRT's.

Each model is exported by edgeprep with ``--micro`` (batch 1, full int8, int8 IO, TFLM kernels);
the tensor arena is the one edgeprep measured in tflite-micro (bisected) and recommends (+1 KiB).
Latency: one golden row, median of ``--runs`` invokes after warm-up through each runtime's Python
interpreter at one thread, interleaved: tflite-micro (the firmware's reference C++ kernels, on this
x86 host), LiteRT's reference kernels (the same code), its optimized builtin kernels, and XNNPACK
(its default).

Usage: python scripts/bench_micro.py [--runs 50] [--out bench-out/micro]
Writes benchmarks/6-micro.md (``python scripts/bench_report.py`` re-assembles BENCHMARKS.md).
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
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as tests/conftest.py: the trained MobileNet's weights are the slow test's
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))


def models():
    """(label, factory, calibrated on scenes): MobileNetV3Small trained briefly on synthetic scenes, calibrated on
    others and judged on their held-out rows (random weights on noise give near-tied logits: tests/converters/test_micro.py)."""
    from functools import partial

    from zoo import micro_tabular, mobilenet_v3_small, seed_cnn, seed_text

    return (("seed CNN (28x28x1)", seed_cnn, False), ("MobileNetV3Small (96x96x3)", partial(mobilenet_v3_small, scenes_seed=0), True),
            ("tabular lookups + bins", micro_tabular, False), ("seed text (TextVectorization in graph, 256 bytes)", seed_text, False))


def bench(label: str, factory, on_scenes: bool, runs: int, out: Path) -> dict:
    import numpy as np

    import edgeprep
    from edgeprep.errors import ParityError
    from edgeprep.runtime.micro import MicroRunner
    from edgeprep.runtime.tflite import Kernels, TFLiteRunner
    from zoo import scenes_calibration

    dist = out / "-".join(label.split(" ")[:2]).lower()
    model = factory()
    options = {"calibration": str(scenes_calibration(model, out))} if on_scenes else {}
    try:  # a parity failure against Keras still writes the artifact, whose TFLM / LiteRT figures are measured
        result = edgeprep.export(model, dist, micro=True, force=True, **options)
    except ParityError as exc:
        result = exc.result
    parity = result.reports[edgeprep.Target.TFLITE].outputs
    artifact = json.loads((dist / "manifest.json").read_text())["artifacts"][0]
    micro = artifact["graph"]["micro"]
    data = (dist / "model.tflite").read_bytes()
    device = dist / "golden" / "device_inputs.tflite.npz"
    with np.load(device if device.exists() else dist / "golden" / "inputs.npz") as golden:
        feed = {name: golden[name][:1] for name in golden.files}
    runners = {"tflite-micro": MicroRunner(data, arena=micro["arena_bytes"]), "LiteRT reference": TFLiteRunner(data, kernels=Kernels.REFERENCE),
               "LiteRT builtin": TFLiteRunner(data, kernels=Kernels.BUILTIN), "LiteRT XNNPACK": TFLiteRunner(data)}
    times: dict[str, list[float]] = {name: [] for name in runners}
    for runner in runners.values():
        for _ in range(3):
            runner.infer(feed)
    for _ in range(runs):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner.infer(feed)
            times[name].append(time.perf_counter() - start)
    return {
        "model": label, "passed": result.passed, "calibration": "400 scenes, judged on the held-out 80" if on_scenes else "generated",
        "top1": min((o.top1 for o in parity if o.top1 is not None), default=None), "sqnr_db": min(o.sqnr_db or float("inf") for o in parity),
        "bytes": artifact["bytes"], "ops": sum(artifact["ops"].values()),
        "resolver_calls": len(micro["op_resolver"]), "arena_min_bytes": micro["arena_min_bytes"], "arena_bytes": micro["arena_bytes"],
        "steps": micro["vs_litert_steps"], **{f"{name} ms": statistics.median(values) * 1e3 for name, values in times.items()},
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| model | file | ops | resolver calls | TFLM arena measured | TFLM arena to allocate | int8 steps to LiteRT reference / builtin / XNNPACK "
        "| tflite-micro (ms) | LiteRT reference (ms) | LiteRT builtin (ms) | LiteRT XNNPACK (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        steps = " / ".join(f"{max(entry[kind] for entry in row['steps'].values()):g}" for kind in ("reference", "builtin", "default"))
        model = row["model"] if row["passed"] else f"{row['model']} (int8 parity with Keras FAILED)"
        lines.append(f"| {model} | {row['bytes'] / 1e3:.1f} kB | {row['ops']} | {row['resolver_calls']} | {row['arena_min_bytes']:,} B | "
                     f"{row['arena_bytes']:,} B | {steps} | {row['tflite-micro ms']:.3f} | {row['LiteRT reference ms']:.3f} | {row['LiteRT builtin ms']:.3f} | {row['LiteRT XNNPACK ms']:.3f} |")
    return "\n".join(lines)


def _quality(row: dict) -> str:
    """A row's int8 quality against Keras, as the parity gate measured it."""
    top1 = "" if row["top1"] is None else f"top-1 {row['top1']:.1%}, "
    sqnr = "exact" if row["sqnr_db"] == float("inf") else f"SQNR {row['sqnr_db']:.1f} dB"
    return f"{row['model'].split(' (')[0]}: {top1}{sqnr} ({row['calibration']} calibration)"


def main() -> None:
    from bench_report import write_fragment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", default="bench-out/micro")
    parser.add_argument("--markdown", default=str(REPO / "benchmarks" / "6-micro.md"), help="write the section here")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows = [bench(label, factory, on_scenes, args.runs, out) for label, factory, on_scenes in models()]
    section = "\n".join([
        "## tflite-micro (issue 20)",
        "",
        f"`python scripts/bench_micro.py --runs {args.runs}` on {time.strftime('%Y-%m-%d')}: each model exported with `--micro` (batch 1,",
        "full int8, int8 IO, TFLM kernels only; generated calibration but for MobileNetV3Small, below). Arena: the smallest tensor arena in which tflite-micro",
        "allocates the model (bisected to 16 bytes) and what the manifest tells the firmware to allocate (+1 KiB). LiteRT does",
        "not report an arena. Latency: one row, median of the runs, one thread, each runtime's Python interpreter on this x86",
        "host (tflite-micro runs TFLM's portable reference kernels here: a Cortex-M build with CMSIS-NN differs; times",
        "under ~0.05 ms are the Python call itself). The text model takes its text as a static 256 UTF-8 bytes (`--max-bytes`,",
        "the `--micro` default); its TextVectorization runs in the artifact with TFLM's kernels (`edgeprep/ingraph/tflm.py`).",
        "",
        table(rows),
        "",
        "int8 against Keras (edgeprep's parity gate: top-1 >= 97%, SQNR >= 12 dB): "
        + "; ".join(map(_quality, rows)) + ".",
        "MobileNetV3Small is trained for 6 epochs on synthetic scenes (their dominant colour, label smoothing 0.1; `tests/zoo.py`",
        "`train_on_scenes`, seed 0, the slow test's weights) and calibrated on 400 other scenes, judged on the held-out fifth:",
        "with random weights, on the generated noise images",
        "its logits are nearly tied for every image (the two leading classes one or two int8 output steps apart), and top-1",
        "(89% with the samples on [0, 127.5], 97% on [0, 255]) measured int8's rounding of ties, not the artifact.",
        *([] if all(row["passed"] for row in rows) else [
            "",
            "A model marked FAILED missed edgeprep's int8 parity gate against Keras: its artifact is written anyway and measured here.",
        ]),
    ])
    write_fragment(args.markdown, section, out / "bench_micro.json", rows)


if __name__ == "__main__":
    main()
