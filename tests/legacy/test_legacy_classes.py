"""Every tf_keras preprocessing and augmentation class (and its ``experimental.preprocessing``
alias) translates to a Keras 3 layer the rules handle, and the exported artifacts match tf_keras."""

from __future__ import annotations

import numpy as np
import pytest

import edgeprep
from edgeprep.config import ExportConfig
from edgeprep.graph import rebuild
from edgeprep.legacy import load_keras2_model
from edgeprep.plan import make_plans
from edgeprep.runners import KerasRunner

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 255, (4, 8, 8, 3)).astype("float32")
WORDS = np.array([["a b c"], ["b c d e"], ["c a"], ["zz a"]])


def _adapted(layer, data):
    layer.adapt(data)
    return layer


def _cases():
    """class -> (layer factory, sample input, actions the plan may take on it)."""
    import tf_keras

    layers = tf_keras.layers
    stripped = {"stripped"}
    return {
        "CategoryEncoding": (lambda: layers.CategoryEncoding(num_tokens=6, output_mode="multi_hot"), np.array([[1, 2], [3, 5], [0, 0], [4, 1]], "int32"), {"lowered"}),
        "CenterCrop": (lambda: layers.CenterCrop(4, 6), IMAGES, {"kept"}),
        "Discretization": (lambda: _adapted(layers.Discretization(num_bins=4), RNG.normal(size=(100, 3)).astype("float32")), RNG.normal(size=(4, 3)).astype("float32"), {"lowered"}),
        "HashedCrossing": (lambda: layers.HashedCrossing(num_bins=8, output_mode="one_hot"), None, {"host", "lowered"}),
        "Hashing": (lambda: layers.Hashing(num_bins=8, salt=7), np.array([["x"], ["y"], ["zz"], [""]]), {"host", "lowered"}),
        "IntegerLookup": (lambda: _adapted(layers.IntegerLookup(output_mode="tf_idf"), np.array([1, 2, 2, 3, 2, 7], "int64")), np.array([[1, 2, 9], [7, 7, 3], [0, 1, 1], [2, 2, 2]], "int64"), {"lowered", "host"}),
        "Normalization": (lambda: _adapted(layers.Normalization(axis=-1), IMAGES[:2]), IMAGES, {"kept", "folded"}),
        "RandomBrightness": (lambda: layers.RandomBrightness(0.2), IMAGES, stripped),
        "RandomContrast": (lambda: layers.RandomContrast(0.2), IMAGES, stripped),
        "RandomCrop": (lambda: layers.RandomCrop(4, 6), IMAGES, {"kept"}),  # translated to Resizing(crop_to_aspect_ratio=True)
        "RandomFlip": (lambda: layers.RandomFlip(), IMAGES, stripped),
        "RandomHeight": (lambda: layers.RandomHeight(0.2), IMAGES, {"kept"}),  # translated to Identity
        "RandomRotation": (lambda: layers.RandomRotation(0.2), IMAGES, stripped),
        "RandomTranslation": (lambda: layers.RandomTranslation(0.1, 0.1), IMAGES, stripped),
        "RandomWidth": (lambda: layers.RandomWidth(0.2), IMAGES, {"kept"}),  # translated to Identity
        "RandomZoom": (lambda: layers.RandomZoom(0.2), IMAGES, stripped),
        "Rescaling": (lambda: layers.Rescaling(1 / 127.5, offset=-1), IMAGES, {"kept", "folded"}),
        "Resizing": (lambda: layers.Resizing(5, 7, crop_to_aspect_ratio=True), IMAGES, {"kept"}),
        "StringLookup": (lambda: _adapted(layers.StringLookup(output_mode="one_hot"), np.array(["a", "b", "b", "c"])), np.array([["a"], ["q"], ["c"], ["b"]]), {"lowered", "host"}),
        "TextVectorization": (lambda: _adapted(layers.TextVectorization(max_tokens=10, output_mode="tf_idf", ngrams=2), WORDS[:, 0]), WORDS[:, 0], {"host", "lowered"}),
    }


def _model(name: str):
    """A tf_keras model around one layer of class ``name``, with a Dense head so the device has work."""
    import tf_keras

    make, sample, _ = _cases()[name]
    layer = make()
    if name == "HashedCrossing":
        a, b = tf_keras.Input((1,), dtype="string", name="a"), tf_keras.Input((1,), dtype="int64", name="b")
        inputs, x = [a, b], layer((a, b))
        feed = {"a": np.array([["x"], ["y"], ["x"], ["q"]]), "b": np.array([[1], [2], [2], [7]], "int64")}
    else:
        dtype = "string" if sample.dtype.kind == "U" else sample.dtype.name
        inputs = tf_keras.Input(sample.shape[1:], dtype=dtype, name="x")
        x, feed = layer(inputs), {"x": sample}
    if len(x.shape) == 4:
        x = tf_keras.layers.GlobalAveragePooling2D()(x)
    x = tf_keras.layers.Flatten()(tf_keras.layers.Embedding(12, 2)(x)) if x.dtype.is_integer else x
    return tf_keras.Model(inputs, tf_keras.layers.Dense(2)(tf_keras.layers.Flatten()(x) if len(x.shape) > 2 else x)), feed


def _preprocessing_classes() -> set[str]:
    import tf_keras

    experimental = tf_keras.layers.experimental.preprocessing
    names = {n for n in dir(experimental) if isinstance(getattr(experimental, n), type) and n != "PreprocessingLayer"}
    names |= {
        n for n in dir(tf_keras.layers)
        if isinstance(getattr(tf_keras.layers, n), type) and getattr(tf_keras.layers, n).__module__.startswith("tf_keras.src.layers.preprocessing")
    }
    return names


def test_every_tf_keras_preprocessing_class_has_a_case():
    classes = _preprocessing_classes()
    assert len(classes) >= 20, classes  # the enumeration itself works
    assert sorted(classes - set(_cases())) == []


def test_experimental_aliases_are_the_same_classes():
    import tf_keras

    experimental = tf_keras.layers.experimental.preprocessing
    for name in _preprocessing_classes():
        if hasattr(experimental, name):
            assert getattr(experimental, name) is getattr(tf_keras.layers, name), name


@pytest.mark.parametrize("name", sorted(_cases()))
def test_tf_keras_class_translates_and_exports_against_tf_keras(name, tmp_path):
    model, feed = _model(name)
    loaded = load_keras2_model(model)
    reference = loaded.original_runner().infer(feed)
    plans = make_plans(loaded.model, ExportConfig())
    allowed = _cases()[name][2]
    for target, plan in plans.items():
        (step,) = [s for s in plan.steps if s.layer == model.layers[len(feed)].name]
        assert step.action.value in allowed, (target, step)
        transformed = KerasRunner(rebuild(plan.graph), names=(plan.graph.input_names, plan.graph.output_names)).infer(feed)
        for key, value in reference.items():
            np.testing.assert_allclose(transformed[key], value, rtol=1e-6, atol=1e-6)
    # The plans above checked the in-graph hashes; the export of those two keeps host steps, because an in-graph
    # hash is a minute of ONNX conversion and tests/families/test_in_graph_strings.py exports them already.
    result = edgeprep.export(model, tmp_path / "dist", host_steps=name in ("Hashing", "HashedCrossing"))
    assert result.passed and all(r is not None and r.passed for r in result.transform_reports.values())
    assert result.manifest["golden"]["reference"] == "keras"  # every artifact compared with tf_keras
