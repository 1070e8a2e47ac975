"""CategoryEncoding: the host step equals Keras in every mode, count weights included."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.config import HostKind
from edgeprep.families import category_encoding
from edgeprep.runtime.host.steps import KINDS
from family_cases import same


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
def test_category_encoding(mode):
    import keras

    layer = keras.layers.CategoryEncoding(num_tokens=6, output_mode=mode)
    x = np.array([[0, 5], [3, 3], [1, 9], [2, 0]], np.int64) if mode != "one_hot" else np.array([[0], [5], [3], [9]], np.int64)
    same(layer, HostKind.CATEGORY_ENCODING, category_encoding.spec(layer), x)


def test_category_encoding_count_weights():
    import keras

    layer = keras.layers.CategoryEncoding(num_tokens=4, output_mode="count")
    x = np.array([[0, 3, 3], [1, 2, 1]], np.int64)
    w = np.array([[0.5, 1.5, 2.0], [1.0, 0.25, 3.0]], np.float32)
    expected = layer(x, count_weights=w).numpy()
    got = KINDS[HostKind.CATEGORY_ENCODING]([x, w], category_encoding.spec(layer))
    np.testing.assert_array_equal(got, expected)
