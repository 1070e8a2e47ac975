"""Every example runs end to end, quickly, as a newcomer would run it.

CI (the default run) takes the image (01, with 06's TF-free deploy of it), text (02) and tabular (04)
examples; the others repeat what tests elsewhere cover in CI and run with EDGEPREP_SLOW=1 (`make test-slow`):
03 augmentation (tests/families/test_augmentation.py), 05 int8 applications (tests/converters/test_quantize.py),
07 Keras 2 files (tests/legacy/), 10 tflite-micro (tests/converters/test_micro.py), 11 custom standardize
(tests/ingraph/test_standardize.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO

EXAMPLES = REPO / "examples"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run(*args, timeout=900, python=sys.executable):
    result = subprocess.run([str(python), *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout, cwd=REPO)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def digits_dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("ex01")
    stdout = _run(EXAMPLES / "01_image_normalization" / "example.py", "--out", out, "--epochs", "3")
    return out, stdout


def test_01_image_normalization(digits_dist):
    out, stdout = digits_dist
    assert "verify dist: passed" in stdout
    parity = [line for line in stdout.splitlines() if line.startswith("parity ")]
    assert len(parity) == 2 and all("360 held-out images" in line for line in parity)
    assert (out / "dist" / "report.html").is_file()


def test_02_text(tmp_path):
    stdout = _run(EXAMPLES / "02_text" / "example.py", "--out", tmp_path, "--epochs", "2")
    runs = [line for line in stdout.splitlines() if line.startswith("run ")]
    assert len(runs) == 2 and all(float(line.rsplit(" ", 1)[-1]) <= 1e-5 for line in runs)
    assert any(line.startswith("in the artifact: ") and "lowered (in graph)" in line for line in stdout.splitlines())  # issue 16
    assert not any(line.startswith("host step") for line in stdout.splitlines())
    assert "input review: string [None, 1], fed as utf8-bytes" in stdout
    assert "verify dist: passed" in stdout


@pytest.mark.slow
def test_03_augmentation(tmp_path):
    stdout = _run(EXAMPLES / "03_augmentation" / "example.py", "--out", tmp_path, "--epochs", "1")
    stripped = [line.split("(")[1].split(")")[0] for line in stdout.splitlines() if line.startswith("stripped ")]
    assert sorted(stripped) == ["Dropout", "RandomFlip", "RandomRotation", "RandomZoom"]
    assert sum("random ops: none" in line for line in stdout.splitlines()) == 2


def test_04_tabular_feature_space(tmp_path):
    stdout = _run(EXAMPLES / "04_tabular_feature_space" / "example.py", "--out", tmp_path, "--epochs", "2")
    manifest = json.loads((tmp_path / "dist" / "manifest.json").read_text())
    assert manifest["passed"] and manifest["samples"]["count"] == 800
    for artifact in manifest["artifacts"]:
        assert artifact["runtime_requirements"] == [] and not any(op.startswith(("Flex", "CUSTOM")) or "::" in op for op in artifact["ops"])
    assert "run onnx on raw rows" in stdout


@pytest.mark.slow
def test_05_applications_int8(tmp_path):
    stdout = _run(EXAMPLES / "05_applications_int8" / "example.py", "--out", tmp_path, "--size", "96")
    ratios = {line.split()[4].rstrip(":"): float(line.rsplit(" ", 1)[-1]) for line in stdout.splitlines() if line.startswith("int8 / float size")}
    assert set(ratios) == {"tflite", "onnx"} and all(r < 0.35 for r in ratios.values())


def test_06_deploy_without_tensorflow(digits_dist, tf_free_python):
    out, _ = digits_dist
    stdout = _run(EXAMPLES / "06_deploy" / "deploy.py", out / "dist", python=tf_free_python)
    assert "deploy side ran without TensorFlow, Keras or edgeprep" in stdout
    assert "2 passed" in stdout
    assert stdout.count(": passed (max rel") == 2  # the shipped runtime's verdict per artifact


@pytest.mark.slow
def test_07_keras2_seed(tmp_path):
    """The seed's three Keras 2 blocks under tf_keras, saved as .h5 / SavedModel / .keras, exported with --data."""
    stdout = _run(EXAMPLES / "07_keras2_seed" / "seed_keras2.py", "--out", tmp_path, "--epochs", "2")
    kinds = {}
    for name, samples in (("digits", 360), ("augmented", 360), ("reviews", 120)):
        assert f"verify dist/{name}: passed on {samples} samples" in stdout
        manifest = json.loads((tmp_path / "dist" / name / "manifest.json").read_text())
        assert manifest["passed"] and all(entry["samples"] == samples for entry in manifest["parity"])
        assert "parity is measured against the tf_keras model" in manifest["source"]["notes"][0]
        kinds[name] = manifest["source"]["kind"]
        if name == "augmented":
            stripped = [e["class"] for e in manifest["transforms"] if e["action"] == "stripped"]
            assert stripped == ["RandomFlip", "RandomRotation", "RandomZoom"]
            assert all(not any("random" in op.lower() for op in a["ops"]) for a in manifest["artifacts"])
        if name == "reviews":
            assert not any(a["host_steps"] for a in manifest["artifacts"])  # TextVectorization in the artifact (issue 16)
    assert kinds == {"digits": "keras2_h5", "augmented": "keras2_keras", "reviews": "keras2_saved_model"}


@pytest.mark.slow
def test_10_microcontroller(tmp_path):
    stdout = _run(EXAMPLES / "10_microcontroller" / "run.py", "--out", tmp_path, "--epochs", "2")
    micro = json.loads((tmp_path / "dist" / "manifest.json").read_text())["artifacts"][0]["graph"]["micro"]
    assert f"constexpr size_t kTensorArenaSize = {micro['arena_bytes']};" in stdout
    assert "  resolver.AddConv2D();" in stdout and "  resolver.AddArgMax();" in stdout
    run = next(line for line in stdout.splitlines() if line.startswith("tflite-micro on "))
    assert float(run.split("top-1 agreement with Keras ")[1].split("%")[0]) >= 95.0


@pytest.mark.slow
def test_11_custom_standardize(tmp_path):
    stdout = _run(EXAMPLES / "11_custom_standardize" / "example.py", "--out", tmp_path, "--epochs", "2")
    runs = [line for line in stdout.splitlines() if line.startswith("run ")]
    assert len(runs) == 2 and all(float(line.rsplit(" ", 1)[-1]) <= 1e-5 for line in runs)
    assert "verify dist: passed" in stdout
    manifest = json.loads((tmp_path / "dist" / "manifest.json").read_text())
    assert manifest["passed"]
