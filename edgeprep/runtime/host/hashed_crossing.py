"""HashedCrossing on the host: ``tf.sparse.cross_hashed``, bit-exact, without TensorFlow.

``tf.sparse.cross_hashed`` folds the features of one row with ``FingerprintCat64`` starting from
the key ``0xDECAFCAFFE``; a string feature enters as its Fingerprint64
(`hashes.fingerprint64`), an integer feature as its own two's-complement value; the
result is taken ``mod num_buckets`` as uint64, then encoded.
"""

from __future__ import annotations

import numpy as np

from .encode import encode
from .hashes import UINT64, fingerprint64

CROSS_HASH_KEY = 0xDECAFCAFFE
_KMUL = 0xC6A4A7935BD1E995


def _shift_mix(value: int) -> int:
    return value ^ (value >> 47)


def fingerprint_cat64(fp1: int, fp2: int) -> int:
    """TensorFlow's ``FingerprintCat64`` (tensorflow/core/platform/fingerprint.h) on uint64."""
    result = fp1 ^ _KMUL
    result ^= (_shift_mix((fp2 * _KMUL) & UINT64) * _KMUL) & UINT64
    result = (result * _KMUL) & UINT64
    result = (_shift_mix(result) * _KMUL) & UINT64
    return _shift_mix(result)


def cross_hash(columns: list[np.ndarray], num_buckets: int) -> np.ndarray:
    """``tf.sparse.cross_hashed`` of dense columns with one value per row, as int64 of the rows' shape."""
    flat = [np.asarray(column).reshape(-1) for column in columns]
    features = []
    for column in flat:
        if column.dtype.kind in "USO":
            features.append([fingerprint64(s) for s in column.astype(str).tolist()])
        else:
            features.append([int(v) & UINT64 for v in column.astype(np.int64).tolist()])
    modulus = num_buckets if num_buckets > 0 else (1 << 63) - 1
    out = []
    for row in zip(*features):
        hashed = CROSS_HASH_KEY
        for value in row:
            hashed = fingerprint_cat64(hashed, value)
        out.append(hashed % modulus)
    return np.array(out, dtype=np.int64).reshape(np.asarray(columns[0]).shape)


def run(values: list[np.ndarray], config: dict) -> np.ndarray:
    """The host step: cross-hash the input columns, then encode the buckets."""
    crossed = cross_hash([np.asarray(v) for v in values], config["num_bins"])
    return encode(crossed, config["output_mode"], config["num_bins"], config["dtype"])
