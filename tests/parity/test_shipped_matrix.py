"""The shipped test_parity.py over every export option, run where a deployment runs it: without
TensorFlow, Keras or edgeprep (the blocked-imports Python every run; a real TF-free venv, slow).

Each case exports a small zoo model once per session (zoo_exports), copies the export directory
(pytest writes caches into it) and runs ``python -m pytest`` there; every artifact must pass. A copy
with one weight changed by 1e-2 and its sha256 rewritten in the manifest must fail.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeprep.config import Int8IO, OnnxLayout, Quantization, Target

TFLITE, ONNX = (Target.TFLITE,), (Target.ONNX,)

# id -> (zoo model, model arguments, export options)
CASES = {
    "float": ("seed_cnn", None, {}),
    "onnx-nchw": ("seed_cnn", None, {"targets": ONNX, "onnx_layout": OnnxLayout.NCHW}),
    "float16": ("seed_cnn", None, {"quantize": Quantization.FLOAT16}),
    "dynamic": ("seed_cnn", None, {"quantize": Quantization.DYNAMIC}),
    "int8": ("seed_cnn", None, {"quantize": Quantization.INT8}),
    "int8-io-int8": ("seed_cnn", None, {"targets": TFLITE, "quantize": Quantization.INT8, "int8_io": Int8IO.INT8}),
    "int8-io-uint8": ("seed_cnn", None, {"targets": TFLITE, "quantize": Quantization.INT8, "int8_io": Int8IO.UINT8}),
    "batch": ("seed_cnn", None, {"batch": 4}),
    "micro": ("seed_cnn", None, {"micro": True}),
    "host-steps-text": ("seed_text", None, {"host_steps": True}),
    "in-graph-text": ("seed_text", None, {}),  # issue 16: raw strings encoded as UTF-8 bytes by the shipped runtime
    "multi-input-feature-space": ("feature_space_tabular", {"cross": False}, {}),
    "multi-input-multi-output": ("tabular_numeric", None, {}),
}


def _shipped_copy(zoo_exports, case: str, tmp_path: Path) -> Path:
    name, model_args, options = CASES[case]
    exported = zoo_exports(name, model_args, **options)
    assert exported.result.passed, exported.result
    return Path(shutil.copytree(exported.out_dir, tmp_path / "dist"))


def run_shipped_test(python: Path, directory: Path) -> subprocess.CompletedProcess:
    """``python -m pytest`` in an export directory (rootdir there: no conftest of this suite)."""
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(directory), str(directory)],
        capture_output=True, text=True, timeout=600, cwd=directory,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_the_shipped_test_passes_without_tensorflow(case, zoo_exports, tf_free_python, tmp_path):
    directory = _shipped_copy(zoo_exports, case, tmp_path)
    targets = [entry["target"] for entry in json.loads((directory / "manifest.json").read_text())["artifacts"]]
    ran = run_shipped_test(tf_free_python, directory)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert f"{len(targets)} passed" in ran.stdout and "skipped" not in ran.stdout, ran.stdout[-2000:]


def _nudge_onnx(path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    weight = max((i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT), key=lambda i: np.prod(i.dims))
    array = numpy_helper.to_array(weight).copy()
    array.flat[0] += 1e-2
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    onnx.save(model, str(path))


def _nudge_tflite(path: Path) -> None:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    tensors = [t for t in model.subgraphs[0].tensors if t.type == 0 and model.buffers[t.buffer].data is not None]  # float32 constants
    tensor = max(tensors, key=lambda t: len(model.buffers[t.buffer].data))
    buffer = model.buffers[tensor.buffer]
    array = np.frombuffer(bytes(buffer.data), np.float32).copy()
    array[0] += 1e-2
    buffer.data = np.frombuffer(array.tobytes(), np.uint8)
    path.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))


@pytest.mark.parametrize("target", [Target.ONNX, Target.TFLITE], ids=lambda t: t.value)
def test_the_shipped_test_fails_on_one_weight_changed_by_1e_2(target, zoo_exports, blocked_python, tmp_path):
    directory = _shipped_copy(zoo_exports, "float", tmp_path)
    manifest = json.loads((directory / "manifest.json").read_text())
    entry = next(e for e in manifest["artifacts"] if e["target"] == target.value)
    path = directory / entry["file"]
    {Target.ONNX: _nudge_onnx, Target.TFLITE: _nudge_tflite}[target](path)
    entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    ran = run_shipped_test(blocked_python, directory)
    assert ran.returncode == 1, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert f"FAILED test_parity.py::test_artifact_matches_golden_outputs[{target.value}]" in ran.stdout, ran.stdout[-3000:]
    assert "max abs error" in ran.stdout, ran.stdout[-3000:]
    assert "1 failed, 1 passed" in ran.stdout, ran.stdout[-2000:]


def test_the_export_ships_the_runtime_edgeprep_runs_file_for_file(zoo_exports):
    from edgeprep.parity import compare as edgeprep_compare
    from edgeprep.runtime import compare as runtime_compare
    from edgeprep.runtime import shipped_files
    from edgeprep.runtime.directory import open_runner as runtime_open_runner
    from edgeprep.verification import open_runner

    out = zoo_exports(*CASES["float"][:2], **CASES["float"][2]).out_dir
    shipped = {str(path.relative_to(out)): path.read_bytes() for path in (out / "edgeprep_runtime").rglob("*.py")}
    assert shipped == shipped_files() and "edgeprep_runtime/host/text_vectorization.py" in shipped
    assert edgeprep_compare.Comparison is runtime_compare.Comparison and edgeprep_compare.Tolerance is runtime_compare.Tolerance
    assert open_runner is runtime_open_runner
