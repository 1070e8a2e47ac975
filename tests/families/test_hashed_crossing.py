"""HashedCrossing: the host step equals Keras bit for bit on integer x string and integer x integer crosses."""

from __future__ import annotations

import pytest

from edgeprep.config import HostKind
from edgeprep.families import hashed_crossing
from family_cases import INTS, STRINGS, same


@pytest.mark.parametrize("mode", ["int", "one_hot"])
def test_hashed_crossing(mode):
    import keras

    layer = keras.layers.HashedCrossing(num_bins=11, output_mode=mode)
    a = INTS
    b = STRINGS
    same(layer, HostKind.HASHED_CROSSING, hashed_crossing.spec(layer), a, b)
    same(layer, HostKind.HASHED_CROSSING, hashed_crossing.spec(layer), a, a * 3)
