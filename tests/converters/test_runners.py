"""One contract every runner passes: Keras, LiteRT and ONNX Runtime behind the same interface."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.config import Target
from edgeprep.errors import DataError


@pytest.fixture(scope="module")
def runners(zoo_exports):
    from converters.onnx.runner import ONNXRunner
    from converters.tflite.runner import TFLiteRunner
    from edgeprep.runners import KerasRunner

    shared = zoo_exports("tabular_numeric")
    model, result = shared.model, shared.result
    return {
        "keras": KerasRunner(model),
        "tflite": TFLiteRunner(result.artifacts[Target.TFLITE]),
        "onnx": ONNXRunner(result.artifacts[Target.ONNX].read_bytes()),
    }


@pytest.fixture(params=["keras", "tflite", "onnx"])
def runner(request, runners):
    return runners[request.param]


def _feed(batch):
    rng = np.random.default_rng(batch)
    return {"age": rng.uniform(18, 90, (batch, 1)).astype("float32"), "income": rng.normal(5e4, 1e4, (batch, 3)).astype("float32")}


def test_inputs_and_outputs_are_named_as_in_keras(runner):
    assert sorted(s.name for s in runner.inputs()) == ["age", "income"]
    assert [s.name for s in runner.outputs()] == ["label", "value"]
    assert all(s.dtype == "float32" and s.shape[0] is None for s in runner.inputs())


def test_infer_at_several_batch_sizes_returns_named_outputs(runner, runners):
    reference = runners["keras"]
    for batch in (1, 4, 2):
        got = runner.infer(_feed(batch))
        want = reference.infer(_feed(batch))
        assert set(got) == {"label", "value"}
        for key in want:
            assert got[key].shape == want[key].shape == ((batch, 2) if key == "label" else (batch, 1))
            np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)


def test_infer_all_concatenates_batches(runner):
    merged = runner.infer_all([_feed(1), _feed(3)])
    assert merged["label"].shape == (4, 2)


def test_feed_problems_are_collected_and_named(runner):
    feed = _feed(2)
    with pytest.raises(DataError) as info:
        runner.infer({"age": feed["age"], "incme": feed["income"]})
    assert "missing input(s) income" in str(info.value) and "unknown input(s) incme" in str(info.value)
    with pytest.raises(DataError, match="expected rank 2"):
        runner.infer({"age": feed["age"][:, 0], "income": feed["income"]})
    with pytest.raises(DataError, match="expected \\(N, 3\\)"):
        runner.infer({"age": feed["age"], "income": feed["income"][:, :2]})
    with pytest.raises(DataError, match="holds strings"):
        runner.infer({"age": np.array([["a"]]), "income": feed["income"]})


def test_integer_feed_is_converted_to_float(runner):
    feed = {"age": np.array([[30]], dtype=np.int64), "income": np.array([[50000, 2000, 10]], dtype=np.int32)}
    assert runner.infer(feed)["label"].shape == (1, 2)
