"""Shape and dtype glue between raw inputs and a host layer goes to the host with it (issue 16, item 4):
planned as ``glue`` host steps, exported and verified on both targets, ``edgeprep run`` on raw inputs
equals Keras; glue that reads a device value still gets the clear refusal. Host steps are the opt-in
fallback for the string layers (``host_steps=True``, ``--host-steps``), so every plan here asks for them."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edgeprep
from edgeprep.config import ExportConfig, HostKind, Target
from edgeprep.plan import make_plan
from helpers import run_cli


def _reshape_hashing():
    import keras

    city = keras.Input((1, 1), dtype="string", name="city")
    hashed = keras.layers.Hashing(num_bins=8, output_mode="one_hot")(keras.layers.Reshape((1,))(city))
    return keras.Model(city, keras.layers.Dense(2, name="out")(hashed)), {"city": np.array([[["paris"]], [["Zürich"]], [[""]], [["x"]]])}


def _flatten_string_lookup():
    import keras

    tags = keras.Input((2, 1), dtype="string", name="tags")
    lookup = keras.layers.StringLookup(vocabulary=["a", "b", "c"], num_oov_indices=2, output_mode="multi_hot")  # hashed OOV: host
    return keras.Model(tags, keras.layers.Dense(2, name="out")(lookup(keras.layers.Flatten()(tags)))), {
        "tags": np.array([[["a"], ["zz"]], [["c"], ["b"]], [[""], ["q"]]])}


def _concatenate_hashing():
    import keras

    a, b = keras.Input((1,), dtype="string", name="a"), keras.Input((1,), dtype="string", name="b")
    hashed = keras.layers.Hashing(num_bins=16, output_mode="multi_hot")(keras.layers.Concatenate()([a, b]))
    return keras.Model([a, b], keras.layers.Dense(2, name="out")(hashed)), {
        "a": np.array([["red"], ["blue"], [""]]), "b": np.array([["small"], ["日本"], ["red"]])}


def _slice_cast_hashing():
    import keras

    ids = keras.Input((3,), dtype="int32", name="ids")
    hashed = keras.layers.Hashing(num_bins=8, output_mode="count", salt=7)(keras.ops.cast(ids[:, 1:], "int64"))
    return keras.Model(ids, keras.layers.Dense(2, name="out")(hashed)), {"ids": np.array([[1, 2, 3], [-5, 0, 2**31 - 1], [7, 7, 7]], np.int32)}


def _squeeze_expand_crossing():
    import keras

    a, b = keras.Input((1,), dtype="string", name="a"), keras.Input((1,), dtype="int64", name="b")
    crossed = keras.layers.HashedCrossing(num_bins=10, output_mode="one_hot")((keras.ops.squeeze(a, -1), keras.ops.squeeze(b, -1)))
    return keras.Model([a, b], keras.layers.Dense(2, name="out")(crossed)), {"a": np.array([["x"], ["y"], [""]]), "b": np.array([[1], [-2], [2**40]], np.int64)}


def _lookup_reshape_crossing():
    import keras

    a, b = keras.Input((1, 1), dtype="string", name="a"), keras.Input((1,), dtype="int64", name="b")
    ids = keras.layers.StringLookup(vocabulary=["x", "y"], name="lookup")(a)  # lowered on its own; pulled to the host through the glue
    crossed = keras.layers.HashedCrossing(num_bins=10, output_mode="one_hot")((keras.layers.Reshape((1,))(ids), b))
    return keras.Model([a, b], keras.layers.Dense(2, name="out")(crossed)), {"a": np.array([[["x"]], [["zz"]], [[""]]]), "b": np.array([[3], [-2], [7]], np.int64)}


MODELS = {
    "reshape-hashing": (_reshape_hashing, ["Reshape"]),
    "flatten-string-lookup": (_flatten_string_lookup, ["Flatten"]),
    "concatenate-hashing": (_concatenate_hashing, ["Concatenate"]),
    "slice-cast-hashing": (_slice_cast_hashing, ["GetItem", "Cast"]),
    "squeeze-hashed-crossing": (_squeeze_expand_crossing, ["Squeeze", "Squeeze"]),
    "lookup-reshape-hashed-crossing": (_lookup_reshape_crossing, ["Reshape"]),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_glue_goes_to_the_host_and_the_export_matches_keras_on_raw_inputs(name, tmp_path):
    import keras

    make, glue_classes = MODELS[name]
    keras.utils.set_random_seed(0)
    model, feed = make()
    for target in Target:
        plan = make_plan(model, target, ExportConfig(host_steps=True))
        assert not plan.problems
        glue = [step for step in plan.split.steps if step.kind is HostKind.GLUE]
        assert [step.class_name for step in glue] == glue_classes
        assert all(step.output not in plan.split.device_inputs for step in glue)  # the device starts after the host layer
    result = edgeprep.export(model, tmp_path / "dist", host_steps=True)
    assert result.passed and set(result.artifacts) == {Target.TFLITE, Target.ONNX}
    steps = json.loads((tmp_path / "dist" / "preprocess.json").read_text(encoding="utf-8"))["steps"]
    assert [step["class"] for step in steps if step["kind"] == "glue"] == glue_classes
    np.savez(tmp_path / "in.npz", **feed)
    want = np.asarray(model(feed if len(feed) > 1 else next(iter(feed.values())), training=False))
    for target in ("tflite", "onnx"):
        ran = run_cli("run", tmp_path / "dist", "--target", target, "--input", tmp_path / "in.npz", "--output", tmp_path / f"{target}.npy")
        assert ran.returncode == 0, ran.stderr
        got = np.load(tmp_path / f"{target}.npy")
        assert got.shape == want.shape and np.abs(got - want).max() <= 1e-6 * max(1.0, np.abs(want).max())


def test_glue_that_reads_a_device_value_is_refused_clearly(tmp_path):
    import keras

    features = keras.Input((3,), name="features")
    as_ids = keras.ops.cast(keras.layers.Dense(2, name="score")(features), "int64")
    hashed = keras.layers.Hashing(num_bins=8, output_mode="one_hot", name="hashing")(as_ids)
    model = keras.Model(features, keras.layers.Dense(2)(hashed))
    plan = make_plan(model, Target.ONNX, ExportConfig(host_steps=True))
    (problem,) = plan.problems
    assert problem.startswith("hashing runs on the host but reads the output of cast") and "(Cast), which only the device can compute" in problem
    assert not any(step.kind is HostKind.GLUE for step in plan.split.steps)
    with pytest.raises(edgeprep.EdgeprepError, match="only the device can compute"):
        edgeprep.export(model, tmp_path / "dist", host_steps=True)
    assert not (tmp_path / "dist").exists()

