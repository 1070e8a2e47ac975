"""Parity test shipped with an edgeprep export: run it with `pytest` in this directory.

Needs only numpy, pytest and the runtime of each artifact (onnxruntime for model.onnx,
ai-edge-litert for model.tflite); a target whose runtime is not installed is skipped. It runs every
artifact on the golden inputs and checks the outputs against the golden Keras outputs with the
tolerances recorded in manifest.json, under edgeprep's pass rule. The manifest is read (and
checked) by the copy of edgeprep's manifest module shipped beside this file, edgeprep_manifest.py. Where the export has a host
split (preprocessing that runs before the artifact, see preprocess.json), the artifact is fed the
golden inputs as the host steps produced them (golden/device_inputs.<target>.npz).

The pass rule:

    integer/bool/string outputs must be equal; a float output passes when every criterion set holds:
    max|actual - golden| <= atol + rtol * max|golden| (rtol set), argmax agreement >= min_top1 for
    (N, C) outputs (min_top1 set), 10 log10(sum golden^2 / sum error^2) >= min_sqnr_db (set), and
    NaN/Inf positions agree.
"""

import hashlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from edgeprep_manifest import Manifest  # noqa: E402  (shipped beside this file: no edgeprep needed)

MANIFEST = Manifest.read(HERE)


def _load(relative):
    with np.load(HERE / relative, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _batches(inputs, sizes):
    start = 0
    for size in sizes:
        yield {key: value[start:start + size] for key, value in inputs.items()}
        start += size


def _run_onnx(path, feeds):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    results = []
    for feed in feeds:
        prepared = {i.name: (feed[i.name].astype(object) if i.type == "tensor(string)" else feed[i.name]) for i in session.get_inputs()}
        results.append(dict(zip(names, session.run(names, prepared))))
    return results


def _run_tflite(path, feeds):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = litert.Interpreter(model_path=str(path))
    results = []
    for feed in feeds:
        for detail in interpreter.get_input_details():
            value = feed[detail["name"]]
            if tuple(detail["shape"]) != value.shape:
                interpreter.resize_tensor_input(detail["index"], list(value.shape), strict=False)
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            value = feed[detail["name"]]
            if value.dtype.kind == "U":
                value = np.vectorize(lambda s: s.encode("utf-8"), otypes=[object])(value)
            interpreter.set_tensor(detail["index"], np.ascontiguousarray(value) if value.dtype != object else value)
        interpreter.invoke()
        results.append({d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()})
    return results


RUN_ARTIFACT = {"onnx": _run_onnx, "tflite": _run_tflite}


def _check_output(name, golden, actual):
    golden, actual = np.asarray(golden), np.asarray(actual)
    if actual.dtype.kind in "SO":
        actual = np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else b)(actual).astype(str)
    assert actual.shape == golden.shape, f"{name}: shape {actual.shape} != golden {golden.shape}"
    if golden.dtype.kind in "iubUS":
        unequal = int(np.sum(golden.astype(str) != actual.astype(str))) if golden.dtype.kind in "US" else int(np.sum(golden != actual))
        assert unequal == 0, f"{name}: {unequal} values differ (exact match required)"
        return
    ref, act = golden.astype(np.float64), actual.astype(np.float64)
    assert np.array_equal(~np.isfinite(ref), ~np.isfinite(act)), f"{name}: NaN/Inf positions differ"
    finite = np.isfinite(ref)
    assert np.array_equal(ref[~finite], act[~finite]) or np.array_equal(np.isnan(ref), np.isnan(act)), f"{name}: Inf signs differ"
    error = np.abs(ref[finite] - act[finite])
    criteria = MANIFEST.tolerance.for_output(name)
    if criteria.rtol is not None:
        scale = float(np.abs(ref[finite]).max()) if error.size else 0.0
        allowed = criteria.atol + criteria.rtol * scale
        assert error.max(initial=0.0) <= allowed, f"{name}: max abs error {error.max():.3e} > allowed {allowed:.3e}"
    if criteria.min_top1 is not None and ref.ndim == 2 and ref.shape[1] >= 2:
        top1 = float(np.mean(np.argmax(ref, axis=1) == np.argmax(act, axis=1)))
        assert top1 >= criteria.min_top1, f"{name}: top-1 agreement {top1:.2%} < {criteria.min_top1:.2%}"
    if criteria.min_sqnr_db is not None:
        noise = float(np.sum(error**2))
        sqnr = math.inf if noise == 0 else 10 * math.log10(float(np.sum(ref[finite] ** 2)) / noise)
        assert sqnr >= criteria.min_sqnr_db, f"{name}: SQNR {sqnr:.1f} dB < {criteria.min_sqnr_db} dB"


@pytest.mark.parametrize("entry", MANIFEST.artifacts, ids=lambda e: e.target)
def test_artifact_matches_golden_outputs(entry):
    path = HERE / entry.file
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256, f"{entry.file} was modified"
    golden = MANIFEST.golden
    inputs = _load(golden.inputs_for(entry.target))
    expected = _load(golden.outputs)
    runs = RUN_ARTIFACT[entry.target](path, list(_batches(inputs, golden.batches)))
    for name in entry.outputs or list(expected):  # outputs a host step computes are not the artifact's
        _check_output(name, expected[name], np.concatenate([np.asarray(run[name]) for run in runs]))
