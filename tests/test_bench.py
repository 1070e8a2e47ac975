"""scripts/bench.py runs end to end on the seed CNN and writes its tables (times are never asserted)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from helpers import REPO

pytestmark = pytest.mark.slow  # a full benchmark run per model


def _bench(tmp_path, model: str) -> str:
    """BENCHMARKS.md as scripts/bench.py writes it for ``model`` (3 timed runs: the tables, not the times)."""
    out = tmp_path / "BENCHMARKS.md"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench.py"), "--models", model, "--runs", "3", "--warmup", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return out.read_text()


def test_bench_writes_every_table_for_the_seed_cnn(tmp_path):
    text = _bench(tmp_path, "seed_cnn")
    for heading in ("## Goals", "## seed_cnn", "### Exports (one process each)", "### Artifacts", "### ONNX simplifiers"):
        assert heading in text, heading
    rows = [line for line in text.splitlines() if line.startswith("| (") or line.startswith("| edgeprep --batch 1")]
    variants = {row.split("|")[1].strip() for row in rows}
    assert {"(a) Keras model.export", "(b) edgeprep --no-fold", "(c) edgeprep", "edgeprep --batch 1", "(d) bare network, edgeprep"} <= variants
    static = next(row for row in rows if row.startswith("| edgeprep --batch 1 | tflite"))
    assert "| 1 / none |" in static, static  # one XNNPACK partition, nothing left to LiteRT's kernels
    assert re.search(r"\| onnxslim \| \d+ \|", text) and "Keras export + onnxslim" in text


def test_bench_times_the_text_model_per_raw_example_against_predict_on_batch(tmp_path):
    text = _bench(tmp_path, "text")
    line = next(line for line in text.splitlines() if line.startswith("- text: Keras predict_on_batch"))
    ratios = [float(r) for r in re.findall(r"(?:tflite|onnx) ([\d.]+)x \(", line)]
    floors = [float(f) for f in re.findall(r"runner call floor ([\d.]+) ms", line)]
    raw = [float(f) for f in re.findall(r"runtime's own call ([\d.]+) ms", line)]
    assert len(ratios) == 2 and all(r > 0 for r in ratios) and len(floors) == 2 and len(raw) == 2, line
    goal = next(row for row in text.splitlines() if row.startswith("| text | tflite |"))
    assert "| 1, none |" in goal, goal  # the embedding's GATHER is data, not shape arithmetic
    artifacts = [row for row in text.splitlines() if re.match(r"\| \(c\) edgeprep \| (tflite|onnx) \|", row)]
    assert len(artifacts) == 2 and all(re.search(r"\| \d+\.\d{3} \|", row) for row in artifacts), artifacts


def test_bench_ingraph_times_every_variant_on_both_targets(tmp_path):
    """scripts/bench_ingraph.py (issue 16): (a) in graph, (b) host steps + artifact and (c) Keras, batch 1 and 256."""
    out = tmp_path / "ingraph.md"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_ingraph.py"), "--models", "hashing_int", "--runs", "3", "--warmup", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in out.read_text().splitlines() if line.startswith("| hashing_int64 |")]
    assert sorted((r[1].strip(), r[2].strip()) for r in rows) == [("onnx", "1"), ("onnx", "256"), ("tflite", "1"), ("tflite", "256")]
    for row in rows:
        times = [float(cell) for cell in row[3:6]]
        assert all(t > 0 for t in times), row
        assert row[-1].strip() == "1", row  # (b) really has its host step
