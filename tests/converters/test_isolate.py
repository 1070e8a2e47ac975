"""Converters in a child process (converters/isolate.py): the same artifact, the same errors, the tree's memory.

``EDGEPREP_CHILD_MB=0`` sends every model to the child (by default none goes there: the tree's
peak measured higher, `converters.isolate`); each test pays one child's TensorFlow import.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from converters import isolate
from edgeprep import memory
from edgeprep.backend import backend
from edgeprep.cli import main
from edgeprep.config import ExportConfig, Target
from edgeprep.errors import UsageError
from edgeprep.graph import io_names
from edgeprep.progress import Progress


@keras.saving.register_keras_serializable("test_isolate")
class CumulativeProduct(keras.layers.Layer):
    """``cumprod``: TensorFlow's Cumprod, which TFLite has no builtin for."""

    def call(self, x):
        return keras.ops.cumprod(x, axis=1)


def _tflite(model, monkeypatch, threshold: str):
    monkeypatch.setenv(isolate.THRESHOLD_ENV, threshold)
    converter = backend(Target.TFLITE)
    inputs, outputs = io_names(model)  # the Dense layer's auto name depends on what this worker built before
    options = converter.options(ExportConfig(targets=(Target.TFLITE,)), tuple(inputs), tuple(outputs), None)
    return converter.convert(model, options)


def test_the_child_writes_the_same_artifact_and_its_peak_counts_for_the_whole_tree(monkeypatch):
    from zoo import seed_cnn

    model = seed_cnn()
    in_process = _tflite(model, monkeypatch, "1e9")
    progress = Progress()
    with progress.step("convert"):
        before = memory.rss_mb()
        in_child = _tflite(model, monkeypatch, "0")
    assert in_child.data == in_process.data  # byte for byte: the same code on the same frozen GraphDef
    assert in_child.ops == in_process.ops and in_child.facts == in_process.facts
    # the child imported TensorFlow (hundreds of MB) on top of what this process held
    assert progress.measures[0].peak_rss_mb > before + 200, (progress.measures[0], before)


def test_a_converter_error_in_the_child_is_the_same_one_line_exit_2_and_nothing_written(monkeypatch, tmp_path, capsys):
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, CumulativeProduct()(keras.layers.Dense(4)(inputs)))
    model.save(tmp_path / "model.keras")
    monkeypatch.setenv(isolate.THRESHOLD_ENV, "0")
    code = main(["export", str(tmp_path / "model.keras"), "--out", str(tmp_path / "dist"), "--target", "tflite"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert lines[-1] == ("edgeprep: error: TFLite has no builtin op for Cumprod; a layer that needs it has no lowering yet "
                         "(see `edgeprep inspect`), or pass --allow-flex to accept Select-TF ops"), lines[-3:]
    assert not (tmp_path / "dist").exists()


def test_the_threshold_is_read_from_the_environment(monkeypatch):
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))  # 80 bytes of weights
    monkeypatch.setenv(isolate.THRESHOLD_ENV, "0")
    assert isolate.wanted(model)
    monkeypatch.setenv(isolate.THRESHOLD_ENV, "64")
    assert not isolate.wanted(model)
    monkeypatch.delenv(isolate.THRESHOLD_ENV)
    assert not isolate.wanted(model) and isolate.threshold_mb() == isolate.THRESHOLD_MB
    assert isolate.weights_mb(model) == pytest.approx(20 * 4 / 2**20)
    monkeypatch.setenv(isolate.THRESHOLD_ENV, "lots")
    with pytest.raises(UsageError, match="EDGEPREP_CHILD_MB='lots' is not a number of MB"):
        isolate.wanted(model)


def test_tree_rss_counts_a_child_process():
    import subprocess
    import sys

    before = memory.rss_mb()
    child = subprocess.Popen([sys.executable, "-c", "import sys, numpy; a = numpy.ones(300 * 2**20, numpy.uint8); print(1, flush=True); sys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "1"
        assert memory.rss_mb() > before + 250
    finally:
        child.communicate("")
    assert np.isfinite(memory.rss_mb())
