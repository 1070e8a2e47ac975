"""Hashing on the host: TensorFlow's string hashes (`hashes`), then the encoding.

With a ``mask_value`` and ``num_bins > 1``, the mask goes to bin 0 and every other value to
``1 + hash mod (num_bins - 1)``, as Keras does; without one, to ``hash mod num_bins``.
"""

from __future__ import annotations

import numpy as np

from .encode import encode
from .hashes import hash_buckets


def run(values: list[np.ndarray], config: dict) -> np.ndarray:
    """The host step: hash the one input into ``num_bins`` buckets, then encode them."""
    x = np.asarray(values[0])
    if config["output_mode"] == "one_hot" and x.ndim and x.shape[-1] == 1:
        x = x[..., 0]
    bins, mask_value = config["num_bins"], config.get("mask_value")
    salt = tuple(config["salt"]) if config.get("salt") is not None else None
    if mask_value is not None and bins > 1:
        mask = x.astype(str) == str(mask_value) if x.dtype.kind in "USO" else x == mask_value
        hashed = np.where(mask, 0, hash_buckets(x, bins - 1, salt) + 1)
    else:
        hashed = hash_buckets(x, bins, salt)
    return encode(hashed, config["output_mode"], bins, config["dtype"])
