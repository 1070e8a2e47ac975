"""Parity test shipped with an edgeprep export: run it with `pytest` in this directory.

Needs only numpy, pytest and the runtime of each artifact (``pip install numpy onnxruntime`` for
model.onnx, ``pip install numpy ai-edge-litert`` for model.tflite); a target whose runtime is not
installed is skipped. It runs each artifact through the deploy runtime shipped beside this file
(``edgeprep_runtime/``, the code ``edgeprep verify`` and ``edgeprep run`` use): the sha256 is checked
against manifest.json, host steps of preprocess.json (if any) run on the golden raw inputs, then the
artifact in its stock runtime, and every output is compared with the golden Keras outputs under
edgeprep's pass rule (``edgeprep_runtime/compare.py``) with the tolerances recorded in manifest.json.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from edgeprep_runtime.directory import RUNTIME_MODULES, compare_golden, manifest_tolerance  # noqa: E402  (shipped beside this file)
from edgeprep_runtime.manifest import Manifest  # noqa: E402

MANIFEST = Manifest.read(HERE)


@pytest.mark.parametrize("entry", MANIFEST.artifacts, ids=lambda e: e.target)
def test_artifact_matches_golden_outputs(entry):
    module = RUNTIME_MODULES.get(entry.target)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (the runtime of {entry.file})")
    report = compare_golden(HERE, MANIFEST, entry).report(manifest_tolerance(MANIFEST))
    assert report.passed, report.summary()
