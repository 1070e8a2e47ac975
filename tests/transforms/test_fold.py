"""Fold rules: property tests over random chains and consumers, then the structure of real models.

Property: for any chain of Rescaling / Normalization layers (scalar or per-channel, any magnitude)
and any consumer (Dense, EinsumDense, Conv1D/2D/3D with random kernel/strides/padding/groups/
dilation, depthwise, separable, BatchNormalization, zero padding, a non-linear layer), the
transformed Keras model matches the original within rel 1e-5 at float32, and what the engine
left behind is the least it could: no preprocessing layer, or exactly one elementwise op.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

from edgeprep.config import Action, ExportConfig, Target
from edgeprep.graph import flatten, rebuild
from edgeprep.parity.samples import generate, input_hints
from edgeprep.plan import make_plan
from edgeprep.runners import KerasRunner
from fold_cases import build, cases, keras_computes_it

TESTED_RULES = ("fold-rescaling", "fold-normalization", "fold-inverted-normalization")
PREPROCESSING = {"Rescaling", "Normalization"}
LINEAR = {"dense", "dense_seq", "einsum", "conv1d", "conv2d", "conv3d", "depthwise1d", "depthwise2d", "separable1d", "separable2d", "batchnorm", "zeropad_conv2d"}
KERAS_EXAMPLES = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def max_rel(reference: dict, actual: dict) -> float:
    """The parity measure: max |actual - reference| over max |reference|, worst output."""
    worst = 0.0
    for key, ref in reference.items():
        scale = float(np.abs(ref).max()) or 1.0
        worst = max(worst, float(np.abs(actual[key] - ref).max()) / scale)
    return worst


def fold(model, target: Target = Target.TFLITE):
    plan = make_plan(model, target, ExportConfig())
    return plan, rebuild(plan.graph)


def outputs(model, reference_model, batch_sizes=(1, 3), seed=0):
    feeds = generate(KerasRunner(reference_model).inputs(), input_hints(flatten(reference_model)), batch_sizes, seed)
    return KerasRunner(model).infer_all(feeds), KerasRunner(reference_model).infer_all(feeds)


def _kinds(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers if type(layer).__name__ != "InputLayer"]


@KERAS_EXAMPLES
@given(case=cases())
def test_folded_keras_model_equals_the_original(case):
    model = build(case)
    assume(keras_computes_it(model, case))
    plan, transformed = fold(model)
    got, want = outputs(transformed, model)
    assert max_rel(want, got) <= 1e-5, case
    spatial_axis = 2 if case.channels_first else 1
    spatial_map = any(kind == "normalization" and args["axis"] == spatial_axis and len(set(args["mean"])) > 1 for kind, args in case.chain)
    kinds = _kinds(transformed)
    steps = [step for step in plan.steps if step.class_name in PREPROCESSING]
    assert len(steps) == len(case.chain) and all(step.rule in TESTED_RULES for step in steps if step.action is Action.FOLDED)
    if case.consumer in LINEAR and not spatial_map and "cannot stay as one exact add" in steps[0].detail:
        # Zero padding, a large mean and a later offset: one add cannot be exact; one fused op.
        assert kinds.count("Affine") == 1 and all(step.action is Action.FOLDED for step in steps), (case, kinds)
    elif case.consumer in LINEAR and not spatial_map and "float16" in steps[0].detail:
        # The one add that padding needs would hold values beyond the raw input's and the output's.
        assert steps[0].action is Action.KEPT or kinds.count("Affine") == 1, (case, kinds)
    elif case.consumer in LINEAR and not spatial_map:
        # Folded: nothing left, or one add kept where zero padding or conditioning forbids the shift.
        assert not PREPROCESSING & set(kinds), (case, kinds)
        assert all(step.action is Action.FOLDED for step in steps), (case, plan.steps)
        assert kinds.count("Affine") <= 1, (case, kinds)
        if "Affine" in kinds:
            assert "kept one elementwise add" in steps[0].detail, steps[0].detail
    elif len(case.chain) > 1:  # nothing folds: the chain is one op
        assert not PREPROCESSING & set(kinds) and kinds.count("Affine") == 1, (case, kinds)
        assert all(step.action is Action.FOLDED for step in steps) and "one elementwise op" in steps[0].detail
    else:  # a lone layer that cannot fold stays as it is
        assert steps[0].action is Action.KEPT and "not folded" in steps[0].detail and "Affine" not in kinds


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=cases(consumers=("dense", "conv2d", "depthwise2d", "separable1d", "conv1d", "batchnorm")))
def test_inverted_normalization_folds_backward_into_the_producer(case):
    """``producer -> Normalization(invert=True)``: the map goes into the producer's kernel and bias."""
    import keras

    model = build(case)
    assume(keras_computes_it(model, case))
    channels = model.output.shape[-1 if not case.channels_first else 1]
    rng = np.random.default_rng(case.seed)
    axis = 1 if case.channels_first else -1
    invert = keras.layers.Normalization(axis=axis, mean=rng.normal(0, 50, channels).tolist(), variance=rng.uniform(0.01, 400, channels).tolist(), invert=True)
    producer = model.layers[-1]
    if producer.get_config().get("activation") not in (None, "linear"):
        return
    wrapped = keras.Model(model.inputs, invert(model.output))
    plan, transformed = fold(wrapped)
    got, want = outputs(transformed, wrapped)
    assert max_rel(want, got) <= 1e-5, case
    (step,) = [s for s in plan.steps if s.rule == "fold-inverted-normalization"]
    assert step.action is Action.FOLDED and "folded backward into" in step.detail, step.detail
    assert "Normalization" not in [k for k in _kinds(transformed)][-1:]


def test_chain_merges_into_one_map_and_folds_through_zero_padding():
    """EfficientNet's stem: Rescaling -> Normalization -> Rescaling -> ZeroPadding2D -> Conv2D(valid)."""
    import keras

    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229**2, 0.224**2, 0.225**2])(x)
    x = keras.layers.Rescaling([1.2, 0.9, 1.1])(x)
    x = keras.layers.ZeroPadding2D(1)(x)
    outputs_ = keras.layers.Conv2D(8, 3, strides=2, use_bias=False)(x)
    model = keras.Model(inputs, outputs_)
    plan, transformed = fold(model)
    assert _kinds(transformed) == ["Affine", "ZeroPadding2D", "Conv2D"]
    affine = transformed.layers[1]
    assert affine.op_count == 1 and affine.pre is not None, "only the shift is kept: one add"
    np.testing.assert_allclose(affine.pre[0, 0, 0], -np.array([0.485, 0.456, 0.406]) * 255, rtol=1e-6)
    assert affine.pre.shape == (1, 16, 16, 3) and np.all(affine.pre == affine.pre[:, :1, :1]), "tiled, not changed"
    assert [s.action for s in plan.steps][:3] == [Action.FOLDED] * 3
    got, want = outputs(transformed, model)
    assert max_rel(want, got) <= 1e-6


def test_never_two_ops_where_one_suffices():
    """A chain before a non-linear layer is one op; a pure scale is one MUL, a pure shift one ADD."""
    import keras

    for chain, expect in (
        ([keras.layers.Rescaling(1 / 255), keras.layers.Normalization(mean=0.5, variance=0.04)], ("scale", "post")),
        ([keras.layers.Normalization(mean=3.0, variance=4.0), keras.layers.Rescaling(0.5)], ("pre", "scale")),
        ([keras.layers.Rescaling(2.0), keras.layers.Rescaling(0.25)], ("scale",)),
        ([keras.layers.Rescaling(1.0, offset=-3.0), keras.layers.Rescaling(1.0, offset=1.0)], ("post",)),
    ):
        inputs = keras.Input((4, 4, 2), name="x")
        x = inputs
        for layer in chain:
            x = layer(x)
        model = keras.Model(inputs, keras.layers.ReLU()(x))
        _, transformed = fold(model)
        assert _kinds(transformed) == ["Affine", "ReLU"]
        affine = transformed.layers[1]
        present = tuple(name for name, value in (("pre", affine.pre), ("scale", affine.scale_constant), ("post", affine.post)) if value is not None)
        assert present == expect
        got, want = outputs(transformed, model)
        assert max_rel(want, got) <= 1e-6


def test_branches_fold_only_when_every_consumer_can_absorb():
    import keras

    inputs = keras.Input((6,), name="x")
    norm = keras.layers.Normalization(mean=[1, 2, 3, 4, 5, 6], variance=[1, 4, 9, 1, 4, 9])
    z = norm(inputs)
    both = keras.Model(inputs, [keras.layers.Dense(3, name="a")(z), keras.layers.Dense(2, name="b")(z), keras.layers.Dense(2, name="raw")(inputs)])
    plan, transformed = fold(both)
    assert "Normalization" not in _kinds(transformed) and _kinds(transformed).count("Dense") == 3
    assert [s.detail for s in plan.steps if s.layer in ("a", "b")] == [f"absorbed {norm.name}"] * 2
    got, want = outputs(transformed, both)
    assert max_rel(want, got) <= 1e-6

    z2 = keras.layers.Normalization(mean=[1, 2, 3, 4, 5, 6], variance=[1, 4, 9, 1, 4, 9])(inputs)
    mixed = keras.Model(inputs, [keras.layers.Dense(3)(z2), keras.layers.ReLU()(z2)])
    plan, transformed = fold(mixed)
    (step,) = [s for s in plan.steps if s.class_name == "Normalization"]
    assert step.action is Action.KEPT and "re_lu" in step.detail and "not folded" in step.detail
    assert _kinds(transformed).count("Normalization") == 1


def test_integer_input_keeps_its_cast():
    import keras

    inputs = keras.Input((8, 8, 3), dtype="uint8", name="x")
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(keras.layers.Rescaling(1 / 255)(inputs)))
    plan, transformed = fold(model)
    assert _kinds(transformed) == ["Cast", "Conv2D"]
    assert "kept its cast uint8 -> float32" in plan.steps[0].detail
    got, want = outputs(transformed, model)
    assert max_rel(want, got) <= 1e-6


def test_channels_first_rescaling_quirk_is_reproduced():
    """Under a channels_first global format Keras reshapes a per-channel scale to (C, 1, 1)."""
    import keras

    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        inputs = keras.Input((3, 8, 8), name="x")
        x = keras.layers.Rescaling([1 / 255, 2 / 255, 4 / 255], offset=-0.5)(inputs)
        model = keras.Model(inputs, keras.layers.DepthwiseConv2D(3)(x))
        plan, transformed = fold(model)
        assert _kinds(transformed) == ["DepthwiseConv2D"]
        got, want = outputs(transformed, model)
    finally:
        keras.config.set_image_data_format(previous)
    assert max_rel(want, got) <= 1e-6


def test_no_fold_config_leaves_preprocessing_alone():
    from zoo import seed_cnn

    plan = make_plan(seed_cnn(), Target.ONNX, ExportConfig(fold=False))
    assert not plan.by_action(Action.FOLDED)
    assert "Rescaling" in _kinds(rebuild(plan.graph))


@pytest.mark.parametrize("limit", [255.0, 65535.0])
def test_float16_safety_no_value_grows_beyond_the_original(limit):
    """Raw inputs 0..255 and 0..65535: every constant the folds write fits float16, and no tensor of
    the transformed model (nor the kept add's intermediate) exceeds the largest the original holds."""
    import keras

    inputs = keras.Input((12, 12, 3), name="x")
    x = keras.layers.Rescaling(1 / limit)(inputs)
    x = keras.layers.Normalization(mean=[0.5, 0.4, 0.3], variance=[0.04, 0.09, 0.01])(x)
    same = keras.layers.Conv2D(4, 3, padding="same", name="same")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="valid")(keras.layers.ReLU()(same)))
    plan, transformed = fold(model)
    assert _kinds(transformed)[:2] == ["Affine", "Conv2D"]
    for layer in transformed.layers:
        for weight in layer.get_weights():
            assert np.all(np.isfinite(weight.astype(np.float16))), layer.name
    x = np.random.default_rng(0).uniform(0, limit, (4, 12, 12, 3)).astype(np.float32)
    x[0, 0, 0] = limit
    x[0, 0, 1] = 0.0

    def peak(m, extra=()):
        values, value = [np.abs(x).max()], x
        for layer in m.layers[1:]:  # a plain chain: every tensor is one layer's output
            value = np.asarray(layer(value))
            values.append(np.abs(value).max())
        return max(values + [np.abs(v).max() for v in extra])

    affine = transformed.layers[1]
    assert affine.op_count == 1
    kept = x + affine.pre  # the add's output: the one kept op
    assert peak(transformed, [kept]) <= peak(model) * (1 + 1e-6)
    assert np.abs(kept).max() <= limit
