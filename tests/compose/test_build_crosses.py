"""FeatureSpace crosses and spec crosses build and export; text columns work at the default shape (issue 19, item 5)."""

from __future__ import annotations

import numpy as np
import pytest

import edgeprep
from edgeprep.compose.wire import call_model
from edgeprep.deploy import run_directory
from edgeprep.errors import UsageError

ROWS = 400


@pytest.fixture(scope="module")
def heart():
    """The schema of Keras' FeatureSpace example (structured_data_classification_with_feature_space), synthetic."""
    rng = np.random.default_rng(0)
    words = ["good", "bad", "plot", "actor", "boring", "great", "film", "the"]
    return {
        "sex": rng.integers(0, 2, ROWS).astype("int64"),
        "age": rng.uniform(20, 80, ROWS).astype("float32"),
        "thal": rng.choice(["fixed", "normal", "reversible"], ROWS),
        "ca": rng.integers(0, 4, ROWS).astype("int64"),
        "chol": rng.normal(240, 50, ROWS).astype("float32"),
        "review": np.array([" ".join(rng.choice(words, size=int(rng.integers(1, 7)))) for _ in range(ROWS)]),
    }


def feature_space():
    import keras

    fs = keras.utils.FeatureSpace
    return fs(
        features={"sex": fs.integer_categorical(num_oov_indices=0), "age": fs.float_discretized(num_bins=30),
                  "thal": fs.string_categorical(), "ca": fs.integer_categorical(), "chol": fs.float_normalized()},
        crosses=[fs.cross(feature_names=("sex", "age"), crossing_dim=64), fs.cross(feature_names=("thal", "ca"), crossing_dim=16)],
        output_mode="concat",
    )


def rows(data, names, count=60):
    return {name: data[name][:count].reshape(-1, 1) for name in names}


def head(width: int):
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((width,), name="features")
    return keras.Model(x, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(8, activation="relu")(x)), name="head")


def export_and_run(full_path, feed, expected, tmp_path):
    """Export both targets with the default command; each artifact verified, then run end to end on raw rows."""
    result = edgeprep.export(full_path, tmp_path / "dist")
    assert result.passed and set(result.artifacts) == {edgeprep.Target.TFLITE, edgeprep.Target.ONNX}
    for target in result.artifacts:
        got = next(iter(run_directory(tmp_path / "dist", target, feed).values()))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    return result


def test_feature_space_with_crosses_builds_like_keras_and_exports(heart, tmp_path):
    import tensorflow as tf

    names = ("sex", "age", "thal", "ca", "chol")
    adapt = {name: heart[name] for name in names}
    theirs = feature_space()
    theirs.adapt(tf.data.Dataset.from_tensor_slices(adapt).batch(32))
    feed = rows(heart, names)
    reference = np.asarray(theirs({k: tf.constant(v.astype(object) if v.dtype.kind == "U" else v) for k, v in feed.items()}))
    assert reference.shape == (60, 30 + 5 + 1 + 2 + 4 + 64 + 16)

    built = next(iter(call_model(edgeprep.build(preprocessing=theirs), feed).values()))  # Keras' own adapted state
    np.testing.assert_array_equal(built, reference)
    ours = next(iter(call_model(edgeprep.build(preprocessing=feature_space(), adapt=adapt), feed).values()))  # edgeprep's adapt pass
    np.testing.assert_array_equal(ours[:, -16:], reference[:, -16:])  # thal_X_ca: lookups then crossing, exact
    assert ours[:, -80:-16].sum(axis=1).tolist() == [1.0] * 60  # sex_X_age one-hot (its bins are edgeprep's quantiles)

    full = edgeprep.build(head(reference.shape[1]), preprocessing=theirs, out=tmp_path / "full.keras")
    expected = next(iter(call_model(full, feed).values()))
    result = export_and_run(tmp_path / "full.keras", feed, expected, tmp_path)
    actions = {t.layer.rsplit("/", 1)[-1]: t.action for t in result.manifest.transforms}
    assert "sex_X_age" in actions and "thal_X_ca" in actions


SPEC_TOML = """
[inputs.thal]
dtype = "string"
layers = [{ class_name = "StringLookup", config = { output_mode = "one_hot" } }]
[inputs.ca]
dtype = "int64"
layers = [{ class_name = "IntegerLookup", config = { output_mode = "one_hot" } }]
[inputs.review]
dtype = "string"
layers = [{ class_name = "TextVectorization", config = { max_tokens = 300, output_mode = "multi_hot" } }]
[crosses.thal_X_ca]
inputs = ["thal", "ca"]
layers = [{ class_name = "HashedCrossing", config = { num_bins = 16, output_mode = "one_hot" } }]
"""


def test_spec_with_a_cross_and_a_text_column_at_the_default_shape_builds_and_exports(heart, tmp_path):
    import keras
    import tensorflow as tf

    (tmp_path / "spec.toml").write_text(SPEC_TOML)
    names = ("thal", "ca", "review")
    pre = edgeprep.build(preprocessing=tmp_path / "spec.toml", adapt={n: heart[n] for n in names}, out=tmp_path / "pre.keras")
    assert pre.inputs[2].shape == (None, 1)  # review keeps the default per-example shape
    width = int(pre.output.shape[-1])
    vocabulary = pre.get_layer("review_text_vectorization").get_vocabulary()
    assert width == 4 + 5 + len(vocabulary) + 16

    feed = rows(heart, names)
    lookups = {l.name: l for l in pre.layers}
    tensors = {k: tf.constant(v.astype(object) if v.dtype.kind == "U" else v) for k, v in feed.items()}
    reference = np.concatenate([
        np.asarray(lookups["thal_string_lookup"](tensors["thal"])), np.asarray(lookups["ca_integer_lookup"](tensors["ca"])),
        np.asarray(lookups["review_text_vectorization"](tensors["review"])),
        np.asarray(keras.layers.HashedCrossing(16, output_mode="one_hot")((tensors["thal"], tensors["ca"]))),
    ], axis=1)
    np.testing.assert_array_equal(next(iter(call_model(pre, feed).values())), reference)

    full = edgeprep.build(head(width), preprocessing=tmp_path / "pre.keras", out=tmp_path / "full.keras")
    export_and_run(tmp_path / "full.keras", feed, next(iter(call_model(full, feed).values())), tmp_path)


def test_concatenate_advice_names_the_setting_and_never_what_is_set():
    spec = {"inputs": {
        "review": {"dtype": "string", "layers": [{"class_name": "TextVectorization", "config": {"vocabulary": ["a", "b"], "output_mode": "int", "output_sequence_length": 4}}]},
        "city": {"dtype": "string", "layers": [{"class_name": "StringLookup", "config": {"vocabulary": ["x"]}}]},
    }}
    with pytest.raises(UsageError) as caught:
        edgeprep.build(preprocessing=spec)
    message = str(caught.value)
    assert "review_text_vectorization (TextVectorization) has output_mode 'int': use output_mode multi_hot / count / tf_idf" in message
    assert "city_string_lookup (StringLookup) has output_mode 'int': use output_mode one_hot / multi_hot" in message
    for mode in ("multi_hot", "tf_idf", "count"):
        config = {"vocabulary": ["a", "b"], "output_mode": mode, **({"idf_weights": [1.0, 1.0]} if mode == "tf_idf" else {})}
        spec = {"inputs": {"review": {"dtype": "string", "layers": [{"class_name": "TextVectorization", "config": config}]}}}
        built = edgeprep.build(preprocessing=spec)
        assert tuple(built.output.shape) == (None, 3)


@pytest.mark.parametrize("crosses, fragment", [
    ({"c": {"inputs": ["thal"], "layers": [{"class_name": "HashedCrossing", "config": {"num_bins": 4}}]}}, "two or more input names"),
    ({"c": {"inputs": ["thal", "nope"], "layers": [{"class_name": "HashedCrossing", "config": {"num_bins": 4}}]}}, "no [inputs.nope] table"),
    ({"c": {"inputs": ["thal", "ca"]}}, "crosses.c: no layers"),
    ({"thal": {"inputs": ["thal", "ca"], "layers": [{"class_name": "HashedCrossing", "config": {"num_bins": 4}}]}}, "taken by [inputs.thal]"),
    ({"c": {"inputs": ["thal", "ca"], "layers": [{"class_name": "StringLookup", "config": {}}]}}, "crosses.c/c_string_lookup needs adapting"),
])
def test_bad_crosses_are_one_line_naming_the_cross(crosses, fragment):
    spec = {"inputs": {"thal": {"dtype": "string"}, "ca": {"dtype": "int64"}}, "crosses": crosses}
    with pytest.raises(UsageError) as caught:
        edgeprep.build(preprocessing=spec)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
