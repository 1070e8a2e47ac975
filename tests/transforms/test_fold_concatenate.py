"""Normalization folds through Concatenate: per-feature Normalization -> Concatenate -> Dense (the
tabular layout of Keras' structured-data examples and FeatureSpace) folds each block into its rows
of the Dense kernel and into the bias (issue 19, item 4)."""

from __future__ import annotations

import numpy as np

import edgeprep
from edgeprep.backend import backend
from edgeprep.config import Action, ExportConfig, Target
from edgeprep.graph import rebuild
from edgeprep.plan import make_plan
from helpers import artifact_ops

ELEMENTWISE = {"SUB", "MUL", "DIV", "Sub", "Mul", "Div"}
FEATURES = ("age", "fare", "height", "weight", "income", "score")


def _tabular(normalized=FEATURES, second_consumer=False, widths=None):
    """One input per feature; the ``normalized`` ones go through their own Normalization."""
    import keras

    keras.utils.set_random_seed(5)
    widths = widths or {name: 1 for name in FEATURES}
    inputs = {name: keras.Input((widths[name],), name=name) for name in FEATURES}
    blocks = []
    for i, name in enumerate(FEATURES):
        x = inputs[name]
        if name in normalized:
            mean = np.linspace(-3.0, 10.0, widths[name]) + 2.0 * i
            x = keras.layers.Normalization(mean=mean, variance=(1.5 + i) ** 2 * np.ones(widths[name]), name=f"norm_{name}")(x)
        blocks.append(x)
    features = keras.layers.Concatenate(name="features")(blocks)
    hidden = keras.layers.Dense(8, activation="relu", bias_initializer="random_normal", name="hidden")(features)
    output = keras.layers.Dense(1, name="logit")(hidden)
    if second_consumer:
        output = keras.layers.Add()([output, keras.layers.Dense(1, name="side")(features)])
    return keras.Model(inputs, output, name="tabular")


def _feed(model, batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t.name: rng.normal(5.0, 6.0, (batch, t.shape[1])).astype("float32") for t in model.inputs}


def _max_rel(want, got) -> float:
    return float(np.abs(np.asarray(got) - np.asarray(want)).max() / np.abs(np.asarray(want)).max())


def test_six_normalized_features_fold_through_concatenate_in_both_artifacts(tmp_path):
    model = _tabular(widths={"age": 1, "fare": 1, "height": 2, "weight": 1, "income": 3, "score": 1})
    for target in (Target.TFLITE, Target.ONNX):
        plan = make_plan(model, target, ExportConfig())
        folded = {step.layer for step in plan.by_action(Action.FOLDED)}
        assert folded == {f"norm_{name}" for name in FEATURES}, [s.detail for s in plan.steps]
        assert all("folded into hidden" in s.detail for s in plan.steps if s.action is Action.FOLDED)
        transformed = rebuild(plan.graph)
        assert not [layer for layer in transformed.layers if type(layer).__name__ in ("Normalization", "Affine")]
        for batch in (1, 7):
            feed = _feed(model, batch, batch)
            assert _max_rel(model(feed, training=False), transformed(feed)) <= 1e-5
    result = edgeprep.export(model, tmp_path / "dist")
    assert result.passed
    for target, path in result.artifacts.items():
        ops = artifact_ops(path)
        assert not ELEMENTWISE & set(ops), (target, ops)
        with backend(target).runner(path.read_bytes(), threads=1, requirements=()) as runner:
            for batch in (1, 7):
                feed = _feed(model, batch, 10 + batch)
                got = next(iter(runner.infer(feed).values()))
                assert _max_rel(model(feed, training=False), got) <= 1e-5, (target, batch)


def test_a_block_without_normalization_does_not_stop_the_others():
    model = _tabular(normalized=("age", "fare", "weight", "score"))
    plan = make_plan(model, Target.TFLITE, ExportConfig())
    assert {step.layer for step in plan.by_action(Action.FOLDED)} == {"norm_age", "norm_fare", "norm_weight", "norm_score"}
    transformed = rebuild(plan.graph)
    for batch in (1, 4):
        feed = _feed(model, batch, batch)
        assert _max_rel(model(feed, training=False), transformed(feed)) <= 1e-5


def test_concatenate_feeding_two_layers_does_not_fold():
    model = _tabular(second_consumer=True)
    plan = make_plan(model, Target.TFLITE, ExportConfig())
    assert not plan.by_action(Action.FOLDED)
    details = {step.layer: step.detail for step in plan.steps if step.layer.startswith("norm_")}
    assert len(details) == 6 and all("features (Concatenate) feeds several layers" in d for d in details.values()), details


def test_int8_keeps_normalizations_out_of_the_concatenate():
    """Under int8 the Concatenate is quantized with one scale: a folded block would put raw values
    there beside the others (measured: micro_tabular's one-hots rounded to 0, SQNR 5.1 dB)."""
    model = _tabular()
    for target in (Target.TFLITE, Target.ONNX):
        plan = make_plan(model, target, ExportConfig(quantize=edgeprep.Quantization.INT8))
        assert not plan.by_action(Action.FOLDED), [s.detail for s in plan.steps]
        details = [s.detail for s in plan.steps if s.layer.startswith("norm_")]
        assert len(details) == len(FEATURES) and all("one int8 scale" in d for d in details), details
    assert {s.layer for s in make_plan(model, Target.TFLITE, ExportConfig()).by_action(Action.FOLDED)} == {f"norm_{n}" for n in FEATURES}
