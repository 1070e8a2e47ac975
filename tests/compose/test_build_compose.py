"""Compose PRE with a trained MODEL: wiring by shape or name, the check, FeatureSpace and layer sources."""

from __future__ import annotations

import numpy as np
import pytest

import edgeprep
from tabular import data  # noqa: F401 (fixture)
from edgeprep.errors import UsageError


def raw_batch(data, names, rows=slice(0, 64)):
    return {name: data[name][rows].reshape(-1, 1) for name in names}


def to_tf(feed):
    import tensorflow as tf

    return {name: tf.constant(values.astype(object) if values.dtype.kind == "U" else values) for name, values in feed.items()}


def dense_head(width: int, name="head"):
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((width,), name="features")
    return keras.Model(x, keras.layers.Dense(3, name="logits")(keras.layers.Dense(8, activation="relu")(x)), name=name)


FS_FEATURES = {"amount": "float_normalized", "city": "string_categorical", "code": "integer_categorical"}


def test_feature_space_keras_file_and_trained_model_give_model_of_fs(data, tmp_path):
    import keras

    data = {**data, "city": np.where(data["city"] == "", "none", data["city"])}  # Keras drops a trailing "" token on reload

    fs = keras.utils.FeatureSpace({**FS_FEATURES, "income": keras.utils.FeatureSpace.float_discretized(num_bins=6)})
    fs.adapt({name: data[name] for name in fs.features})
    fs.save(tmp_path / "fs.keras")
    model = dense_head(int(fs.get_encoded_features().shape[-1]))
    model.save(tmp_path / "model.keras")

    full = edgeprep.build(tmp_path / "model.keras", preprocessing=tmp_path / "fs.keras", out=tmp_path / "full.keras")
    reloaded = keras.saving.load_model(tmp_path / "full.keras")
    feed = raw_batch(data, fs.features)
    expected = np.asarray(model(keras.saving.load_model(tmp_path / "fs.keras")(feed)))
    for candidate in (full, reloaded):
        np.testing.assert_allclose(np.asarray(candidate(to_tf(feed))), expected, rtol=1e-6, atol=1e-7)
    assert {t.name for t in reloaded.inputs} == set(fs.features)


def test_unadapted_feature_space_is_adapted_like_feature_space_adapt(data):
    import keras

    ours = keras.utils.FeatureSpace(dict(FS_FEATURES))
    pre = edgeprep.build(preprocessing=ours, adapt={name: data[name] for name in FS_FEATURES})
    theirs = keras.utils.FeatureSpace(dict(FS_FEATURES))
    theirs.adapt({name: data[name] for name in FS_FEATURES})
    feed = raw_batch(data, FS_FEATURES, slice(0, 300))
    np.testing.assert_allclose(np.asarray(pre(to_tf(feed))), np.asarray(theirs(feed)), rtol=1e-5, atol=1e-6)


def test_dict_outputs_feed_model_inputs_by_name(data):
    import keras

    spec = {
        "inputs": {
            "amount": {"layers": [{"class_name": "Normalization", "config": {}}]},
            "city": {"dtype": "string", "layers": [{"class_name": "StringLookup", "config": {"output_mode": "one_hot"}}]},
        },
        "output": {"combine": "dict"},
    }
    pre = edgeprep.build(preprocessing=spec, adapt=data)
    city = keras.Input((pre.output["city"].shape[-1],), name="city")
    amount = keras.Input((1,), name="amount")
    model = keras.Model([city, amount], keras.layers.Dense(2)(keras.layers.Concatenate()([amount, city])))
    full = edgeprep.build(model, preprocessing=pre)
    feed = raw_batch(data, ["amount", "city"])
    encoded = pre(to_tf(feed))
    np.testing.assert_allclose(np.asarray(full(to_tf(feed))), np.asarray(model([encoded["city"], encoded["amount"]])), rtol=1e-6)


def test_mismatches_are_one_line_naming_both_sides(data):
    import keras

    spec = {"inputs": {"amount": {"layers": [{"class_name": "Normalization", "config": {"mean": 1.0, "variance": 4.0}}]}}}
    with pytest.raises(UsageError) as wrong_shape:
        edgeprep.build(dense_head(5), preprocessing=spec)
    message = str(wrong_shape.value)
    assert "\n" not in message and "PRE output" in message and "MODEL input 'features'" in message and "(N, 1)" in message and "(N, 5)" in message

    a, b = keras.Input((1,), name="a"), keras.Input((1,), name="b")
    two = keras.Model([a, b], keras.layers.Add()([a, b]), name="two")
    with pytest.raises(UsageError, match="PRE gives one tensor, MODEL 'two' has 2 inputs"):
        edgeprep.build(two, preprocessing=spec)
    by_name = {**spec, "output": {"combine": "dict"}}
    with pytest.raises(UsageError, match=r"no PRE output for MODEL input\(s\) a, b; PRE output\(s\) amount feed no MODEL input"):
        edgeprep.build(two, preprocessing=by_name)


def test_a_saved_layer_and_a_model_with_an_unadapted_layer_are_sources(data, tmp_path):
    import keras

    lookup = keras.layers.StringLookup(output_mode="one_hot", name="city")
    lookup.adapt(data["city"])
    model = dense_head(lookup.vocabulary_size())
    full = edgeprep.build(model, preprocessing=lookup)
    feed = raw_batch(data, ["city"])
    np.testing.assert_allclose(np.asarray(full(to_tf(feed))), np.asarray(model(lookup(feed["city"]))), rtol=1e-6)

    raw = keras.Input((1,), name="income")
    discretize = keras.layers.Discretization(num_bins=4, epsilon=0.01)
    pre_model = keras.Model(raw, discretize(keras.layers.Rescaling(2.0)(raw)))
    built = edgeprep.build(preprocessing=pre_model, adapt={"income": data["income"]})
    quartiles = np.quantile(2.0 * data["income"], [0.25, 0.5, 0.75])
    ranks = np.searchsorted(np.sort(2.0 * data["income"]), discretize.bin_boundaries) / data["income"].size
    assert np.abs(ranks - [0.25, 0.5, 0.75]).max() <= 0.01, (discretize.bin_boundaries, quartiles)
    assert built.inputs[0].name == "income"
