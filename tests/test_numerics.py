"""NaN and ±Inf inputs: the same outputs as Keras, or the documented difference (docs/NUMERICS.md)."""

from __future__ import annotations

import numpy as np
import pytest

import edgeprep
from edgeprep.backend import backend
from edgeprep.config import Target
from edgeprep.runners import KerasRunner

ROWS = np.array([[np.nan, 1, 2, 3], [np.inf, 1, 2, 3], [-np.inf, 1, 2, 3], [0, 1, 2, 3]], np.float32)

# layer factory, input shape, and per target the first output column where it differs from Keras
CASES = {
    "dense": (lambda k: k.layers.Dense(2, kernel_initializer="ones"), (4,), {}),
    "relu": (lambda k: k.layers.ReLU(), (4,), {}),
    "softmax": (lambda k: k.layers.Softmax(), (4,), {}),
    "global_average_pooling": (lambda k: k.layers.GlobalAveragePooling1D(), (4, 1), {}),
    "max_pooling": (lambda k: k.layers.MaxPooling1D(2), (4, 1), {Target.TFLITE: [-np.inf, np.inf, 1.0, 1.0]}),
    "global_max_pooling": (lambda k: k.layers.GlobalMaxPooling1D(), (4, 1), {Target.TFLITE: [3.0, np.inf, 3.0, 3.0]}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_non_finite_inputs_match_keras_or_the_documented_difference(case, target, tmp_path):
    import keras

    factory, shape, documented = CASES[case]
    inputs = keras.Input(shape, name="x")
    model = keras.Model(inputs, factory(keras)(inputs))
    result = edgeprep.export(model, tmp_path / "dist", targets=[target])
    feed = {"x": ROWS.reshape((4, *shape))}
    reference = next(iter(KerasRunner(model).infer(feed).values())).reshape(4, -1)
    with backend(target).runner(result.artifacts[target]) as runner:
        got = next(iter(runner.infer(feed).values())).reshape(4, -1)
    if target in documented:
        np.testing.assert_array_equal(got[:, 0], np.array(documented[target], np.float32))
        assert not np.array_equal(got[:, 0], reference[:, 0], equal_nan=True)
    else:
        np.testing.assert_allclose(got, reference, rtol=1e-6, equal_nan=True)
