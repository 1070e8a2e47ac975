"""A built model exports like any model, with end-to-end parity on raw inputs."""

from __future__ import annotations

import numpy as np

import edgeprep
from tabular import data  # noqa: F401 (fixture)
from edgeprep.deploy import run_directory

NUMERIC = {"inputs": {
    "amount": {"layers": [{"class_name": "Normalization", "config": {}}]},
    "income": {"layers": [{"class_name": "Rescaling", "config": {"scale": 0.01}}, {"class_name": "Normalization", "config": {}}]},
}}
CATEGORICAL = {"inputs": {
    "amount": {"layers": [{"class_name": "Normalization", "config": {}}]},
    "city": {"dtype": "string", "layers": [{"class_name": "StringLookup", "config": {"output_mode": "one_hot", "mask_token": ""}}]},
    "code": {"dtype": "int64", "layers": [{"class_name": "IntegerLookup", "config": {"output_mode": "one_hot"}}]},
    "income": {"layers": [{"class_name": "Discretization", "config": {"num_bins": 4, "output_mode": "one_hot"}}]},
}}


def head(width: int):
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((width,), name="features")
    return keras.Model(x, keras.layers.Dense(2)(keras.layers.Dense(8, activation="tanh")(x)), name="head")


def build_and_export(spec, data, target, tmp_path):
    pre = edgeprep.build(preprocessing=spec, adapt=data, out=tmp_path / "pre.keras")
    full = edgeprep.build(head(int(pre.output.shape[-1])), preprocessing=tmp_path / "pre.keras", adapt=data, out=tmp_path / "full.keras")
    result = edgeprep.export(tmp_path / "full.keras", tmp_path / "dist", targets=[target])
    assert result.passed
    feed = {name: data[name][:40].reshape(-1, 1) for name in spec["inputs"]}
    from edgeprep.compose.wire import call_model

    expected = next(iter(call_model(full, feed).values()))
    got = next(iter(run_directory(tmp_path / "dist", target, feed).values()))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_a_built_numeric_model_exports_with_parity_on_raw_inputs(data, target, tmp_path):
    build_and_export(NUMERIC, data, target, tmp_path)


def test_a_built_categorical_model_exports_with_parity_on_raw_inputs(data, target, tmp_path):
    build_and_export(CATEGORICAL, data, target, tmp_path)
