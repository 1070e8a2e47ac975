"""Hashing: the host step equals Keras bit for bit (FarmHash, salted SipHash, mask values) on strings,
integers and floats."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.config import HostKind
from edgeprep.families import hashing
from family_cases import INTS, STRINGS, same


@pytest.mark.parametrize("options", [
    {"num_bins": 16}, {"num_bins": 16, "mask_value": ""}, {"num_bins": 5, "salt": 1337}, {"num_bins": 5, "salt": [3, 99]},
    {"num_bins": 8, "output_mode": "one_hot"}, {"num_bins": 8, "output_mode": "multi_hot"}, {"num_bins": 8, "output_mode": "count"},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_hashing_strings(options):
    import keras

    layer = keras.layers.Hashing(**options)
    x = STRINGS.reshape(5, 2) if options.get("output_mode") in ("multi_hot", "count") else STRINGS
    same(layer, HostKind.HASHING, hashing.spec(layer), x)


@pytest.mark.parametrize("options", [{"num_bins": 16}, {"num_bins": 16, "mask_value": 0}, {"num_bins": 7, "salt": 5}])
def test_hashing_integers_and_floats(options):
    import keras

    layer = keras.layers.Hashing(**options)
    same(layer, HostKind.HASHING, hashing.spec(layer), INTS)
    floats = np.array([[1.9], [-1.9], [0.0], [2.5]], np.float32)
    same(layer, HostKind.HASHING, hashing.spec(layer), floats)
