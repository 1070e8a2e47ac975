"""Parity evidence: corrupted artifacts are caught by `verify`, reports point at the failing
output, and the shipped test_parity.py runs in a virtualenv without TensorFlow or edgeprep."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import edgeprep
from helpers import run_cli
from zoo import seed_cnn



@pytest.fixture(scope="module")
def exports(zoo_exports):
    return {
        "image": zoo_exports("seed_cnn").out_dir,
        "tabular": zoo_exports("tabular_numeric").out_dir,
        "feature_space": zoo_exports("feature_space_tabular").out_dir,
        "text": zoo_exports("seed_text").out_dir,
        "feature_space-host_steps": zoo_exports("feature_space_tabular", host_steps=True).out_dir,
        "text-host_steps": zoo_exports("seed_text", host_steps=True).out_dir,
    }


def _copy(directory: Path, tmp_path: Path) -> Path:
    target = tmp_path / directory.name
    shutil.copytree(directory, target)
    return target


def _rehash(directory: Path, filename: str) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    for entry in manifest["artifacts"]:
        if entry["file"] == filename:
            entry["sha256"] = hashlib.sha256((directory / filename).read_bytes()).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(manifest))


def _perturb_onnx_weight(directory: Path, whole: bool = False) -> str:
    """Add 1e-2 to one element (or, with ``whole``, every element) of the largest float initializer."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(directory / "model.onnx"))
    initializer = max((i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT), key=lambda i: np.prod(i.dims))
    array = numpy_helper.to_array(initializer).copy()
    if whole:
        array += 1e-2
    else:
        array.flat[array.size // 2] += 1e-2
    initializer.CopyFrom(numpy_helper.from_array(array, initializer.name))
    onnx.save(model, str(directory / "model.onnx"))
    _rehash(directory, "model.onnx")
    return initializer.name


def _flip_tflite_byte(directory: Path) -> None:
    from tensorflow.lite.tools import flatbuffer_utils

    path = directory / "model.tflite"
    data = bytearray(path.read_bytes())
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    largest = max((b for b in model.buffers if b.data is not None), key=lambda b: len(b.data))
    weights = bytes(largest.data)
    offset = data.find(weights)
    assert offset > 0
    data[offset + (len(weights) // 8) * 4 + 3] ^= 0x40  # an exponent bit of one float32 weight
    path.write_bytes(bytes(data))
    _rehash(directory, "model.tflite")


@pytest.mark.parametrize("target", ["onnx", "tflite"])
def test_a_corrupted_artifact_is_caught_and_the_report_names_the_output(exports, tmp_path, target):
    directory = _copy(exports["image"], tmp_path)
    if target == "onnx":
        _perturb_onnx_weight(directory)
    else:
        _flip_tflite_byte(directory)
    report_dir = tmp_path / "report"
    junit = tmp_path / "junit.xml"
    result = run_cli("verify", directory, "--report", report_dir, "--junit", junit)
    assert result.returncode == 1, result.stderr
    output_name = json.loads((directory / "manifest.json").read_text())["outputs"][0]["name"]
    assert f"{target} vs golden: FAILED output {output_name!r}" in result.stderr
    report = json.loads((report_dir / "report.json").read_text())
    assert not report["passed"] and report["targets"]["onnx" if target == "tflite" else "tflite"]["verdict"]["passed"]
    failing = report["targets"][target]["verdict"]["outputs"]
    assert [o["name"] for o in failing if not o["passed"]] == [output_name]
    html = (report_dir / "report.html").read_text()
    assert "FAILED" in html and "data:image/png;base64," in html and "http" not in html.replace("http-equiv", "")
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert len(failures) == 1


def test_export_writes_a_self_contained_report(exports):
    directory = exports["tabular"]
    report = json.loads((directory / "report.json").read_text())
    assert report["passed"] and set(report["targets"]) == {"tflite", "onnx"}
    for entry in report["targets"].values():
        assert entry["origin"] == "passed"
        assert entry["transformed_vs_keras"]["passed"] and entry["artifact_vs_transformed"]["passed"]
        assert {o["name"] for o in entry["verdict"]["outputs"]} == {"label", "value"}
    html = (directory / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "<script" not in html and "src='http" not in html
    golden = json.loads((directory / "manifest.json").read_text())["golden"]
    assert golden["batches"] == [1, 3, 32, 28]  # issue 19: 64 generated samples, all small enough to keep
    assert sum(p.stat().st_size for p in (directory / "golden").iterdir()) < 512 * 1024


@pytest.mark.parametrize("kind", ["image", "tabular", "feature_space", "text", "feature_space-host_steps", "text-host_steps"])
def test_shipped_parity_test_passes_without_tensorflow_and_catches_tampering(exports, tf_free_python, tmp_path, kind):
    directory = _copy(exports[kind], tmp_path)
    ok = subprocess.run([str(tf_free_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(directory)], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 passed" in ok.stdout
    manifest = json.loads((directory / "manifest.json").read_text())
    if kind.endswith("-host_steps"):  # host steps run before the artifact: its golden inputs are the host's outputs
        assert set(manifest["golden"]["device_inputs"]) == {"tflite", "onnx"}
    elif kind in ("feature_space", "text"):  # issue 16 default: no host steps, the artifact reads the raw inputs
        assert manifest["host"] is None and "device_inputs" not in manifest["golden"]
        assert all(entry["host_steps"] == [] for entry in manifest["artifacts"])
        if kind == "text":  # the shipped test encodes the raw strings as UTF-8 bytes
            assert [t.get("encoding") for t in manifest["inputs"]] == ["utf8-bytes"], manifest["inputs"]
    _perturb_onnx_weight(directory, whole=True)  # a text model's golden rows need not touch one given embedding row
    bad = subprocess.run([str(tf_free_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(directory)], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "1 failed, 1 passed" in bad.stdout, bad.stdout


def test_golden_budget_keeps_at_least_one_batch(tmp_path):
    result = edgeprep.export(seed_cnn(), tmp_path / "dist", golden_kb=1)
    golden = result.manifest["golden"]
    assert golden["batches"] == [1]
    assert edgeprep.verify(result.out_dir).passed
