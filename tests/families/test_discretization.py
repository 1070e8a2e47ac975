"""Discretization: the host step equals Keras on boundaries, negatives and NaN; parity samples hit
every boundary and its float32 neighbours; the quantile summary merges within epsilon."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.config import HostKind
from edgeprep.families import discretization
from edgeprep.families.discretization.analyzer import Quantiles
from family_cases import same, samples


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_on_boundaries_negatives_and_nan(mode):
    import keras

    boundaries = [-1.0, 0.0, 0.5, 2.0]
    layer = keras.layers.Discretization(bin_boundaries=boundaries, output_mode=mode)
    x = np.array([[-1.0], [-1.0000001], [0.0], [-0.0], [0.49999997], [0.5], [2.0], [1e30], [-1e30], [np.nan]], np.float32)
    if mode in ("multi_hot", "count"):
        x = x.reshape(5, 2)
    same(layer, HostKind.DISCRETIZATION, discretization.spec(layer), x)


def test_discretization_adapted():
    import keras

    layer = keras.layers.Discretization(num_bins=5)
    layer.adapt(np.random.default_rng(0).normal(size=(200, 1)).astype("float32"))
    x = np.array(layer.bin_boundaries + [0.0, -5.0, 5.0], np.float32).reshape(-1, 1)
    same(layer, HostKind.DISCRETIZATION, discretization.spec(layer), x)


def test_samples_hit_boundaries_their_neighbours_and_negatives():
    import keras

    x = keras.Input((1,), name="x")
    _, feed = samples({"x": x}, {"d": keras.layers.Discretization(bin_boundaries=[0.0, 2.5])(x)})
    xs = feed["x"].ravel()
    assert {0.0, 2.5} <= set(xs.tolist()) and (xs < 0).any()
    assert np.nextafter(np.float32(2.5), np.float32(-np.inf)) in xs or np.nextafter(np.float32(2.5), np.float32(np.inf)) in xs


def test_quantiles_merged_from_many_batches_stay_within_epsilon():
    rng = np.random.default_rng(2)
    values = rng.exponential(2.0, 200_000).astype("float32")
    quantiles = Quantiles(epsilon=0.01)
    parts = [quantiles.add(quantiles.create(), chunk) for chunk in np.array_split(values, 400)]
    merged = quantiles.merge([quantiles.merge(parts[:150]), quantiles.merge(parts[150:])])
    summary = quantiles.result(merged)
    np.testing.assert_allclose(summary[1].sum(), values.size, rtol=1e-3)
    ordered = np.sort(values)
    targets = np.linspace(0.05, 0.95, 19)
    estimates = np.interp(targets, np.cumsum(summary[1]) / summary[1].sum(), summary[0])
    ranks = np.searchsorted(ordered, estimates) / ordered.size
    assert np.abs(ranks - targets).max() <= 0.01
