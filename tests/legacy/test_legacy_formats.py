"""Keras 2 models in every Keras 2 format export to both targets, verified against tf_keras itself."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import artifact_ops, random_ops
from helpers import cli_in_process, run_cli
from keras2_zoo import FORMATS, KINDS, MODELS, rescaling_cnn, save, tabular_normalization, text_model

import edgeprep
from edgeprep.errors import ParityError

EXPECTED = {  # class -> actions the rules may take on it (fold rules may land on this branch later)
    "Rescaling": {"kept", "folded"},
    "Normalization": {"kept", "folded"},
    "TextVectorization": {"host", "lowered"},
    "RandomFlip": {"stripped"},
    "RandomRotation": {"stripped"},
    "RandomZoom": {"stripped"},
}


def _make(name: str, fmt: str | None):
    # tf_keras cannot write an adapted vocabulary to .h5; a constructor vocabulary it can.
    return text_model(adapted=fmt != "h5") if name == "text" else MODELS[name]()


def _golden_matches_tf_keras(model, directory) -> float:
    """Max |golden output - tf_keras output| on the golden inputs, computed here by tf_keras itself."""
    with np.load(directory / "golden" / "inputs.npz") as inputs, np.load(directory / "golden" / "outputs.npz") as outputs:
        feed = {name: inputs[name] for name in model.input_names}
        ours = model(feed if len(feed) > 1 else next(iter(feed.values())), training=False)
        (golden,) = [outputs[name] for name in outputs.files]
    return float(np.max(np.abs(np.asarray(ours) - golden)))


def _check(result, model, kind: str) -> None:
    manifest = result.manifest
    assert result.passed, [r.summary() for r in result.reports.values()]
    assert manifest["source"]["kind"] == kind
    assert "parity is measured against the tf_keras model" in manifest["source"]["notes"][0]
    assert [spec["name"] for spec in manifest["inputs"]] == list(model.input_names)
    for target, report in result.transform_reports.items():
        assert report is not None and report.max_abs <= 1e-6, (target, report.summary())  # translation + rules vs tf_keras
    assert manifest["golden"]["reference"] == "keras"
    assert _golden_matches_tf_keras(model, result.out_dir) <= 1e-6
    for entry in manifest["transforms"]:
        if entry["class"] in EXPECTED:
            assert entry["action"] in EXPECTED[entry["class"]], entry


# CI takes every format and every model at least once (the text model in the formats whose loading of its
# vocabulary differs: constructor-given in .h5, adapted in a SavedModel); the rest of the 4 x 3 grid is slow.
IN_CI = {("text", "h5"), ("text", "saved_model"), ("rescaling_cnn", "keras"), ("augmentation", "h5"), ("normalization", "keras")}


@pytest.mark.parametrize(("name", "fmt"), [
    pytest.param(name, fmt, marks=() if (name, fmt) in IN_CI else pytest.mark.slow, id=f"{name}-{fmt}")
    for name in MODELS for fmt in FORMATS
])
def test_keras2_file_exports_with_parity_against_tf_keras(name, fmt, tmp_path):
    model = _make(name, fmt)
    result = edgeprep.export(save(model, tmp_path, fmt), tmp_path / "dist")
    _check(result, model, KINDS[fmt])
    if name == "augmentation":
        stripped = [e["class"] for e in result.manifest["transforms"] if e["action"] == "stripped"]
        assert stripped == ["RandomFlip", "RandomRotation", "RandomZoom"]
        for path in result.artifacts.values():
            assert random_ops(artifact_ops(path)) == []


@pytest.mark.parametrize("name", list(MODELS))
def test_in_memory_tf_keras_model_exports(name, tmp_path):
    model = _make(name, None)
    result = edgeprep.export(model, tmp_path / "dist")
    _check(result, model, "keras2_memory")
    assert result.manifest["source"]["path"] is None


def test_a_wrong_translation_fails_parity_against_tf_keras(tmp_path, monkeypatch):
    """Fault injection: corrupt one weight of the translation; the chain blames the translation, not the converter."""
    from edgeprep.legacy import translate

    copy = translate._copy_weights

    def copy_then_corrupt(old, new, problems):
        copy(old, new, problems)
        if new.name == "tabular_normalization":
            kernel = new.layers[-1].kernel
            kernel.assign(kernel.numpy() * 1.5)

    monkeypatch.setattr(translate, "_copy_weights", copy_then_corrupt)
    model = tabular_normalization()
    with pytest.raises(ParityError) as raised:
        edgeprep.export(save(model, tmp_path, "h5"), tmp_path / "dist")
    result = raised.value.result
    assert not any(result.reports.values())
    assert not any(result.transform_reports.values())  # translation vs tf_keras: failed
    assert all(result.converter_reports.values())  # artifact vs translation: faithful
    assert (tmp_path / "dist" / "report.html").is_file()


def test_cli_inspect_and_export_a_keras2_h5(tmp_path):
    model = rescaling_cnn()
    path = save(model, tmp_path, "h5")
    inspected = cli_in_process("inspect", path)  # suite time: the export below is the real process
    assert inspected.returncode == 0, inspected.stderr
    assert "Keras 2 model (saved by Keras 2.21" in inspected.stdout and "tf_keras" in inspected.stdout
    assert f"input  {model.input_names[0]}: float32 (N, 8, 8, 1)" in inspected.stdout
    exported = run_cli("export", path, "--out", tmp_path / "dist", "--target", "tflite")
    assert exported.returncode == 0, exported.stderr
    assert [p.suffix for p in (tmp_path / "dist").iterdir() if p.suffix in (".tflite", ".onnx")] == [".tflite"]


def test_verify_on_data_runs_the_tf_keras_model(tmp_path):
    model = tabular_normalization()
    path = save(model, tmp_path, "keras")
    edgeprep.export(path, tmp_path / "dist")
    rows = np.random.default_rng(5).normal([3.0, -1.0, 10.0, 0.5], [2.0, 0.5, 4.0, 1.0], (64, 4)).astype("float32")
    np.savez(tmp_path / "rows.npz", features=rows)
    from edgeprep.verification import verify

    result = verify(tmp_path / "dist", data=str(tmp_path / "rows.npz"))
    assert result.passed and result.samples == 64
    assert {c.reference for c in result.comparisons.values()} == {"tf_keras"}
