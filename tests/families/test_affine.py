"""Rescaling / Normalization: the moments merge exactly; the Keras 2 mean and variance land in the
Keras 3 config in the kept axes' shape; only Normalization is adapted."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from edgeprep.families import affine, analyzer_for
from family_cases import splits


def test_moments_of_any_split_equal_numpy():
    rng = np.random.default_rng(0)
    values = rng.normal(1000, 3, (5000, 4))  # a large mean: the naive sum-of-squares formula loses digits here
    moments = affine.Moments()
    parts = [moments.add(moments.create(), values[s]) for s in splits(len(values), rng)]
    mean, variance = affine.Moments.result(moments.merge(parts[::-1]))
    np.testing.assert_allclose(mean, values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(variance, values.var(axis=0), rtol=1e-9)


def test_keras2_state_squeezes_to_the_kept_axes():
    layer = SimpleNamespace(mean=np.array([[1.0, 2.0]]), variance=np.array([[4.0, 9.0]]), _keep_axis=(1,))
    config: dict = {}
    affine.keras2_state(config, layer)
    assert config == {"mean": [1.0, 2.0], "variance": [4.0, 9.0]}


def test_only_normalization_is_adapted():
    import keras

    assert analyzer_for(keras.layers.Normalization()) is affine.NormalizationAnalyzer
    assert affine.NormalizationAnalyzer.needs_state(keras.layers.Normalization())
    assert not affine.NormalizationAnalyzer.needs_state(keras.layers.Normalization(mean=0.0, variance=1.0))
    assert analyzer_for(keras.layers.Rescaling(1 / 255)) is None


def test_range_hints_follow_scale_and_statistics():
    import keras

    rescale = affine.range_hint(keras.layers.Rescaling(1 / 255))
    assert (rescale.kind, rescale.low) == ("uniform", 0.0) and abs(rescale.high - 255.0) < 1e-9
    centred = affine.range_hint(keras.layers.Rescaling(1 / 127.5, offset=-1))  # MobileNet's [0, 255] -> [-1, 1]
    assert (centred.kind, centred.low) == ("uniform", 0.0) and abs(centred.high - 255.0) < 1e-9, centred
    assert abs(affine.range_hint(keras.layers.Rescaling(1 / 255, offset=0.5)).high - 255.0) < 1e-9
    normalization, inverted = keras.layers.Normalization(mean=2.0, variance=9.0), keras.layers.Normalization(mean=2.0, variance=9.0, invert=True)
    for layer in (normalization, inverted):
        layer.build((None, 1))
    normal = affine.range_hint(normalization)
    assert normal.kind == "normal" and np.allclose(normal.low, 2.0) and np.allclose(normal.high, 3.0)
    assert affine.range_hint(inverted) is None
    assert affine.range_hint(keras.layers.Rescaling(0.0)) is None
