"""Lowerings of layers a converter cannot take: depthwise-shaped grouped convs and exact GELU."""

from __future__ import annotations

import numpy as np
import pytest

import edgeprep
from helpers import artifact_ops
from edgeprep.config import Action, ExportConfig, Target
from edgeprep.graph import rebuild
from edgeprep.plan import make_plan

TESTED_RULES = ("lower-grouped-conv", "lower-exact-gelu", "lower-pixel-dense")


def _model():
    import keras

    keras.utils.set_random_seed(2)
    inputs = keras.Input((12, 12, 4), name="image")
    x = keras.layers.Normalization(mean=[1, 2, 3, 4], variance=[1, 4, 9, 16])(inputs)
    x = keras.layers.Conv2D(8, 3, groups=4, padding="same", bias_initializer="random_normal", name="grouped")(x)
    x = keras.layers.Activation("gelu")(x)
    x = keras.layers.Dense(8, activation="relu", bias_initializer="random_normal", name="pixel_dense")(x)
    x = keras.layers.Conv1D(8, 3, groups=8, bias_initializer="random_normal", name="grouped_1d")(keras.layers.Reshape((144, 8))(x))
    x = keras.layers.Conv2D(6, 1, groups=2, name="partly_grouped")(keras.layers.Reshape((12, 10, 8))(x[:, :120]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


@pytest.mark.parametrize("target", [Target.TFLITE, Target.ONNX])
def test_lowerings_apply_and_keep_outputs(target):
    model = _model()
    plan = make_plan(model, target, ExportConfig())
    lowered = {step.layer: step.rule for step in plan.by_action(Action.LOWERED)}
    expected = {"grouped": "lower-grouped-conv", "grouped_1d": "lower-grouped-conv"}
    if target is Target.ONNX:
        expected[next(s.layer for s in plan.steps if s.class_name == "Activation")] = "lower-exact-gelu"
        expected["pixel_dense"] = "lower-pixel-dense"
    assert lowered == expected
    transformed = rebuild(plan.graph)
    kinds = [type(layer).__name__ for layer in transformed.layers]
    assert kinds.count("DepthwiseConv2D") == 1 and kinds.count("DepthwiseConv1D") == 1
    assert ("ErfGelu" in kinds) == (target is Target.ONNX)
    assert kinds.count("Dense") == (1 if target is Target.ONNX else 2), kinds  # the head stays a Dense
    for batch in (1, 3):
        x = np.random.default_rng(batch).normal(2.0, 3.0, (batch, 12, 12, 4)).astype("float32")
        want, got = np.asarray(model(x, training=False)), np.asarray(transformed(x))
        assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max()


def test_onnx_export_of_grouped_conv_and_gelu(tmp_path):
    """Without the lowerings tf2onnx leaves StatefulPartitionedCall and Erfc (ConvNeXt's blocks);
    the partly grouped conv (groups < channels) has no lowering and fails loudly."""
    import keras

    model = _model()
    depthwise_only = keras.Model(model.inputs, model.get_layer("grouped_1d").output)
    result = edgeprep.export(depthwise_only, tmp_path / "dist")
    assert result.passed
    ops = artifact_ops(result.artifacts[Target.ONNX])
    assert ops["Erf"] == 1 and "Erfc" not in ops and ops["Conv"] == 3 and "MatMul" not in ops
    assert ops["Transpose"] <= 4, ops  # input, a pair around the Reshape from image to sequence, output
    with pytest.raises(edgeprep.ConversionError, match="StatefulPartitionedCall"):
        edgeprep.export(model, tmp_path / "grouped", targets=["onnx"])
