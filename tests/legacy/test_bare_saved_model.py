"""A SavedModel that is not a Keras model (a bare ``tf.Module`` signature) exports as an opaque model:
parity passes, only the converters' graph-level constant folding applies, and the manifest and
``inspect`` say so. Graphs with file or Python ops are refused before anything runs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import artifact_ops
from helpers import cli_in_process

import edgeprep
from edgeprep.errors import LoadError
from edgeprep.load import OPAQUE_NOTE, load


def _bare_saved_model(path, write_to=None):
    """softmax(((x - mean) / 2) @ (w * scale)); ``w * scale`` is constant once frozen."""
    import tensorflow as tf

    class Scorer(tf.Module):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.w = tf.Variable(rng.normal(size=(4, 3)).astype("float32"))
            self.scale = tf.Variable(np.float32(1.5))
            self.mean = tf.constant([1.0, 2.0, 3.0, 4.0])

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")])
        def serve(self, features):
            if write_to is not None:
                tf.io.write_file(write_to, tf.strings.as_string(tf.reduce_sum(features)))
            return {"scores": tf.nn.softmax(tf.matmul((features - self.mean) / 2.0, self.w * self.scale))}

    module = Scorer()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def test_bare_saved_model_exports_and_says_nothing_was_stripped(tmp_path):
    path = _bare_saved_model(tmp_path / "scorer")
    result = edgeprep.export(path, tmp_path / "dist")
    assert result.passed and all(r.max_rel <= 1e-5 for r in result.reports.values())
    source = result.manifest["source"]
    assert source["kind"] == "saved_model" and source["notes"] == [OPAQUE_NOTE]
    assert "nothing was stripped, folded or lowered at layer level" in OPAQUE_NOTE
    assert [(e["class"], e["action"]) for e in result.manifest["transforms"]] == [("SavedModelSignature", "kept")]
    # Graph level only: the converters fold the constant w * scale (TFLite also folds the / 2 into
    # the matmul's weights; ONNX keeps it as x * 0.5, so one Mul where unfolded there would be two).
    tflite, onnx = (artifact_ops(result.artifacts[t]) for t in (edgeprep.Target.TFLITE, edgeprep.Target.ONNX))
    assert tflite == {"SUB": 1, "FULLY_CONNECTED": 1, "SOFTMAX": 1}
    assert onnx["Mul"] == 1 and onnx["MatMul"] == 1


def test_inspect_says_a_bare_saved_model_is_opaque(tmp_path):
    path = _bare_saved_model(tmp_path / "scorer")
    result = cli_in_process("inspect", path)  # suite time: no TensorFlow start-up
    assert result.returncode == 0, result.stderr
    assert "nothing was stripped, folded or lowered at layer level" in result.stdout
    assert "saved_model_serving_default  SavedModelSignature" in result.stdout


def test_saved_model_writing_files_is_refused_before_it_loads(tmp_path):
    written = tmp_path / "written.txt"
    path = _bare_saved_model(tmp_path / "writer", write_to=str(written))
    with pytest.raises(LoadError, match=r"WriteFile.*--unsafe-load"):
        load(path)
    assert not written.exists()
