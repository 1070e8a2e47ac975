"""Discretization on the host, in NumPy, matching TensorFlow exactly.

``bucketize(x, boundaries)`` is ``tf.raw_ops.Bucketize``: the index ``i`` with
``boundaries[i-1] <= x < boundaries[i]``, compared in float32 (a value on a boundary goes to the
bin above it; NaN to the last bin); the bin index is then encoded by `encode.encode`.
"""

from __future__ import annotations

import numpy as np

from .encode import encode


def bucketize(values: np.ndarray, boundaries: list[float]) -> np.ndarray:
    """``Bucketize``: the number of boundaries ``<= x`` (float32 comparisons), as int32."""
    edges = np.asarray(boundaries, dtype=np.float32)
    x = np.asarray(values).astype(np.float32)
    return np.searchsorted(edges, x, side="right").astype(np.int32)


def run(values: list[np.ndarray], config: dict) -> np.ndarray:
    """The host step: bucketize the one input, then encode the bins."""
    return encode(bucketize(values[0], config["bin_boundaries"]), config["output_mode"], config["depth"], config["dtype"])
