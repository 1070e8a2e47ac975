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


def _gelu_model():
    """Exact GELU in every place Keras puts it: layer activations, the op, an image Dense (MLP-Mixer)."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((6, 6, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="gelu", name="conv_gelu")(inputs)
    x = keras.layers.Dense(5, activation=keras.activations.gelu, name="pixel_dense_gelu")(x)
    x = keras.layers.Conv2D(5, 3, groups=5, padding="same", activation="gelu", name="grouped_gelu")(x)
    x = keras.layers.Reshape((36, 5))(x)
    x = keras.activations.gelu(x, approximate=False)
    x = keras.activations.gelu(x, approximate=True)  # tanh form: tf2onnx takes it, not lowered
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="gelu", name="dense_gelu")(x))


def test_exact_gelu_outside_activation_layers_exports_to_both_targets(tmp_path):
    """Dense / Conv with activation="gelu" and keras.activations.gelu were Erfc in the ONNX graph."""
    model = _gelu_model()
    plan = make_plan(model, Target.ONNX, ExportConfig())
    lowered = {step.layer: step.rule for step in plan.by_action(Action.LOWERED)}
    assert lowered == {"conv_gelu": "lower-exact-gelu", "pixel_dense_gelu": "lower-pixel-dense", "grouped_gelu": "lower-grouped-conv",
                       "gelu": "lower-exact-gelu", "dense_gelu": "lower-exact-gelu"}, lowered
    assert not make_plan(model, Target.TFLITE, ExportConfig()).by_action(Action.LOWERED)[1:]  # only the grouped conv
    transformed = rebuild(plan.graph)
    for batch in (1, 3):
        x = np.random.default_rng(batch).normal(0.0, 2.0, (batch, 6, 6, 3)).astype("float32")
        want, got = np.asarray(model(x, training=False)), np.asarray(transformed(x))
        assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max()
    result = edgeprep.export(model, tmp_path / "dist")
    assert result.passed and set(result.artifacts) == {Target.TFLITE, Target.ONNX}
    ops = artifact_ops(result.artifacts[Target.ONNX])
    assert ops["Erf"] == 5 and "Erfc" not in ops and ops["Tanh"] == 1, ops


def test_a_target_that_fails_names_the_one_that_converted(tmp_path):
    """The partly grouped conv converts to TFLite but not to ONNX: the error says so, with --target advice."""
    with pytest.raises(edgeprep.ConversionError, match=r"conversion to onnx failed \(onnx: .*StatefulPartitionedCall.*\); "
                       r"tflite converted, but nothing was written: pass --target tflite to export tflite alone"):
        edgeprep.export(_model(), tmp_path / "both")
    assert not (tmp_path / "both").exists()
    assert edgeprep.export(_model(), tmp_path / "tflite", targets=["tflite"]).passed


def _recurrent_model(kind: str, steps: int | None, sequences: bool = False):
    import keras

    keras.utils.set_random_seed(4)
    tokens = keras.Input((steps,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(40, 8, mask_zero=True)(tokens)
    x = getattr(keras.layers, kind)(6, name="rnn", return_sequences=sequences)(x)
    if sequences:
        x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, keras.layers.Dense(2, name="logits")(x))


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_recurrent_layers_export_with_a_dynamic_batch(kind, tmp_path):
    """Frozen without lowering control flow, the loop is one ONNX Loop (an unmasked LSTM: ONNX's LSTM op);
    TFLite, whose WHILE needs a static batch, gets the layer unrolled over its 12 steps."""
    model = _recurrent_model(kind, 12)
    plans = {target: make_plan(model, target, ExportConfig()) for target in (Target.TFLITE, Target.ONNX)}
    assert [s.rule for s in plans[Target.TFLITE].by_action(Action.LOWERED)] == ["unroll-recurrent"]
    assert not plans[Target.ONNX].by_action(Action.LOWERED)
    result = edgeprep.export(model, tmp_path / "dist")
    assert result.passed
    assert "WHILE" not in artifact_ops(result.artifacts[Target.TFLITE])
    onnx_ops = artifact_ops(result.artifacts[Target.ONNX])
    assert onnx_ops["Loop"] + onnx_ops["LSTM"] == 1, onnx_ops
    for report in result.reports.values():
        assert report.passed


@pytest.mark.parametrize("kind", ["GRU", pytest.param("LSTM", marks=pytest.mark.slow), pytest.param("SimpleRNN", marks=pytest.mark.slow)])
def test_long_recurrent_loop_is_a_state_only_while_with_a_dynamic_batch(kind, tmp_path):
    """Over more than MAX_UNROLL steps, a layer returning its final output loops over its states alone
    (converters.tflite.recurrent): one TFLite WHILE with a dynamic batch, verified against Keras on
    masked tokens; --batch 1 keeps Keras' own loop."""
    from converters.rules import MAX_UNROLL

    model = _recurrent_model(kind, 100)
    assert 100 > MAX_UNROLL
    result = edgeprep.export(model, tmp_path / "dynamic")
    assert result.passed and set(result.artifacts) == {Target.TFLITE, Target.ONNX}
    ops = artifact_ops(result.artifacts[Target.TFLITE])
    assert ops["WHILE"] == 1 and not any("TensorList" in op for op in ops), ops
    lowered = make_plan(model, Target.TFLITE, ExportConfig()).by_action(Action.LOWERED)
    assert [s.rule for s in lowered] == ["unroll-recurrent"] and "states alone" in lowered[0].detail
    tokens = np.random.default_rng(3).integers(0, 40, (5, 100)).astype("int32")
    tokens[:, 60:] = 0  # padded rows: masked steps keep the states
    from edgeprep.deploy import run_directory

    got = next(iter(run_directory(tmp_path / "dynamic", Target.TFLITE, {"tokens": tokens}).values()))
    want = np.asarray(model(tokens, training=False))
    assert np.abs(got - want).max() <= 1e-5, np.abs(got - want).max()
    static = edgeprep.export(model, tmp_path / "static", batch=1, targets=["tflite"])
    assert static.passed


def test_long_recurrent_sequence_is_refused_on_tflite_with_a_dynamic_batch(tmp_path):
    """A layer returning its whole sequence over more than MAX_UNROLL steps still needs TensorLists."""
    model = _recurrent_model("GRU", 100, sequences=True)
    with pytest.raises(edgeprep.UnsupportedLayerError, match=r"rnn \(GRU\) returns its sequence over 100 timesteps.*pass --batch 1, or --target onnx"):
        edgeprep.export(model, tmp_path / "dynamic")
    result = edgeprep.export(model, tmp_path / "static", batch=1)
    assert result.passed
    assert artifact_ops(result.artifacts[Target.TFLITE])["WHILE"] == 1


def _text_gru(sequence_length: int | None):
    """TextVectorization -> Embedding -> GRU, as in Keras' text classification examples."""
    import keras

    keras.utils.set_random_seed(6)
    vectorize = keras.layers.TextVectorization(max_tokens=30, output_sequence_length=sequence_length, name="vectorize")
    vectorize.adapt(["the cat sat on the mat", "a dog ate my homework", "the end"])
    text = keras.Input((1,), dtype="string", name="text")
    x = keras.layers.Embedding(30, 8, mask_zero=True)(vectorize(text))
    return keras.Model(text, keras.layers.Dense(2)(keras.layers.GRU(4, name="gru")(x)))


def test_text_to_gru_exports_to_both_targets_with_a_dynamic_batch(tmp_path):
    """In-graph TextVectorization, then an unrolled GRU (TFLite) and a Loop (ONNX); without a sequence
    length (a dynamic number of timesteps) TFLite gets a WHILE over the GRU's state alone."""
    result = edgeprep.export(_text_gru(10), tmp_path / "fixed")
    assert result.passed and set(result.artifacts) == {Target.TFLITE, Target.ONNX}
    result = edgeprep.export(_text_gru(None), tmp_path / "both")
    assert result.passed and set(result.artifacts) == {Target.TFLITE, Target.ONNX}
    assert artifact_ops(result.artifacts[Target.TFLITE])["WHILE"] == 1


def test_text_without_sequence_length_warns_on_a_static_batch(tmp_path):
    """TextVectorization -> Embedding -> GRU: each batch is padded to its longest row."""
    from edgeprep.progress import Progress

    model = _text_gru(None)
    notes = []
    result = edgeprep.export(model, tmp_path / "dist", batch=1, progress=Progress(notes.append))
    assert result.passed
    warnings = [note for note in notes if "vectorize (TextVectorization) has no output_sequence_length" in note]
    assert len(warnings) == 2, notes
    for artifact in result.manifest.artifacts:
        assert artifact.graph["warnings"] == [w for w in warnings if w.startswith(f"WARNING: {artifact.target}:")]
    advice = edgeprep.inspect(model, ExportConfig(batch=1)).advice
    assert [line for line in advice if "output_sequence_length" in line] == warnings
    assert not [line for line in edgeprep.inspect(model).advice if "output_sequence_length" in line]  # a dynamic batch pads as Keras does


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "SimpleRNN"])
@pytest.mark.parametrize("backwards", [False, True])
def test_state_loop_equals_the_keras_layer_with_a_mask(kind, backwards):
    """converters.tflite.recurrent.state_loop: the same final output as the layer, masked steps skipped,
    either direction; layers returning sequences or states are not loopable."""
    import keras

    from converters.tflite.recurrent import loopable, state_loop

    keras.utils.set_random_seed(7)
    layer = getattr(keras.layers, kind)(5, go_backwards=backwards)
    x = np.random.default_rng(2).normal(size=(4, 9, 3)).astype("float32")
    mask = np.arange(9)[None, :] < np.array([9, 6, 1, 4])[:, None]
    want = np.asarray(layer(x, mask=mask))
    assert loopable(layer)
    loop = state_loop(layer)
    np.testing.assert_allclose(np.asarray(loop(x, mask=mask)), want, atol=1e-6)
    np.testing.assert_allclose(np.asarray(loop(x)), np.asarray(layer(x)), atol=1e-6)
    assert not loopable(getattr(keras.layers, kind)(5, return_sequences=True))
    assert not loopable(getattr(keras.layers, kind)(5, return_state=True))


def test_a_layer_that_fails_to_trace_is_named_with_its_cause():
    """Keras wraps a layer's error as "Exception encountered when calling GRU.call()."; the message keeps the cause."""
    import keras
    import tensorflow as tf

    from converters.trace import _first_line

    layer = keras.layers.GRU(4, unroll=True)
    traced = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec((None, None, 8))], autograph=False)
    with pytest.raises(Exception) as info:
        traced.get_concrete_function()
    assert _first_line(info.value) == "GRU.call(): Cannot unroll a RNN if the time dimension is undefined."
