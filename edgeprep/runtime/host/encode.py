"""Keras' categorical encodings in NumPy, matching the TensorFlow backend exactly (shared by the families' host code).

``encode(x, mode, depth, dtype)`` follows ``keras.src.utils.numerical_utils.encode_categorical_inputs``:

- ``int``: ``cast(x, dtype)``;
- ``one_hot``: a trailing axis of size 1 is squeezed (rank > 1), then ``one_hot(x, depth)``;
  values outside ``[0, depth)`` give an all-zero row;
- ``multi_hot`` / ``count``: per sample (the last axis), ``1[any x == k]`` / ``sum(w * 1[x == k])``
  for ``k < depth``; values outside ``[0, depth)`` are dropped (bincount with ``maxlength=depth``);
  ``count_weights`` ``w`` default to 1 and give the output their dtype;
- ``tf_idf``: ``count`` (int64) cast to float32 times ``idf_weights``.
"""

from __future__ import annotations

import numpy as np


def encode(values: np.ndarray, mode: str, depth: int, dtype: str, count_weights: np.ndarray | None = None, idf_weights: list[float] | None = None) -> np.ndarray:
    """Encode integer ``values`` as Keras does (see the module docstring)."""
    x = np.asarray(values).astype(np.int64)
    if mode == "int":
        return x.astype(dtype)
    if x.ndim == 0:
        x = x.reshape(1)
    if mode == "one_hot":
        if x.ndim > 1 and x.shape[-1] == 1:
            x = x[..., 0]
        return _one_hot(x, depth).astype(dtype)
    hot = _one_hot(x, depth)  # (..., L, depth)
    if mode == "multi_hot":
        return hot.any(axis=-2).astype(dtype)
    if count_weights is not None:
        weights = np.asarray(count_weights)
        return (hot * weights.reshape(weights.shape + (1,))).sum(axis=-2).astype(weights.dtype)
    counts = hot.sum(axis=-2, dtype=np.int64)
    if mode == "count":
        return counts.astype(dtype)
    if mode == "tf_idf":
        return counts.astype(np.float32) * np.asarray(idf_weights, dtype=np.float32)
    raise ValueError(f"unknown output mode {mode!r}")


def _one_hot(x: np.ndarray, depth: int) -> np.ndarray:
    inside = (x >= 0) & (x < depth)
    hot = np.zeros(x.shape + (depth,), dtype=np.int64)
    index = np.where(inside, x, 0)
    np.put_along_axis(hot, index[..., None], inside[..., None].astype(np.int64), axis=-1)
    return hot


def encode_ragged(rows: list[np.ndarray], mode: str, depth: int, dtype: str, idf_weights: list[float] | None = None) -> np.ndarray:
    """``multi_hot`` / ``count`` / ``tf_idf`` of variable-length rows, one output row per input row."""
    counts = np.zeros((len(rows), depth), dtype=np.int64)
    for i, row in enumerate(rows):
        row = np.asarray(row, dtype=np.int64)
        row = row[(row >= 0) & (row < depth)]
        np.add.at(counts[i], row, 1)
    if mode == "multi_hot":
        return (counts > 0).astype(dtype)
    if mode == "count":
        return counts.astype(dtype)
    if mode == "tf_idf":
        return counts.astype(np.float32) * np.asarray(idf_weights, dtype=np.float32)
    raise ValueError(f"output mode {mode!r} does not apply to token sequences")
