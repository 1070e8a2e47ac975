"""Building blocks shared by the families' device layers: Keras layers of ops both stock runtimes have.

Each device layer reads the same portable ``config`` as its family's host implementation, so a
device lowering and a host step cannot disagree. The shared math:

- a branch-free binary search over sorted keys (``ceil(log2(V + 1))`` rounds of GATHER + LESS +
  SELECT): O(log V) per value, no scan; ``upper_bound(x) = #{k : not (x < k)}``, which sends a
  value on a boundary to the bin above and NaN to the last bin, as ``Bucketize`` does (a denormal
  input within 1.2e-38 of a boundary at 0 may be flushed to zero by a runtime and land in the bin
  above: the one known inexactness);
- encodings: ``one_hot`` then MAX (multi_hot) or SUM (count, weighted count, tf_idf) over the
  sample axis (see `edgeprep.runtime.host.encode`).

For ``--micro`` (TensorFlow Lite for Microcontrollers, which has no ONE_HOT, HASHTABLE, int64 GATHER
positions or int64 CAST) ``micro_encode`` writes the same encodings with kernels TFLM registers: a
one-hot is GREATER_EQUAL and LESS_EQUAL against the constant ``[0, depth)`` (in the index's own integer
type, int64 included; EQUAL would be fused back into ONE_HOT by the converter), LOGICAL_AND, then
CAST to float32; the reductions are unchanged.

TensorFlow and Keras are imported on first use (`tf_ops`), so ``import edgeprep`` does not import them.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np


def sorted_padded(keys: np.ndarray, values: np.ndarray | None = None):
    """Keys sorted ascending (with aligned values), padded by repeating the last to ``2**k >= V + 1``."""
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    size = 1 << math.ceil(math.log2(len(keys) + 1))
    pad = size - len(keys)
    keys = np.concatenate([keys, np.repeat(keys[-1:], pad)])
    if values is None:
        return keys, None
    values = values[order]
    return keys, np.concatenate([values, np.repeat(values[-1:], pad)])


@functools.cache
def tf_ops() -> SimpleNamespace:
    """``upper_bound``, ``like``, ``encode`` and the ``Lowered`` base layer (imports TensorFlow)."""
    import keras
    import tensorflow as tf

    def upper_bound(sorted_keys, x):
        """#{k in keys : not (x < k)} for a padded power-of-two ``sorted_keys`` (int64 result)."""
        size = int(sorted_keys.shape[0])
        keys = tf.constant(sorted_keys)
        lo = tf.zeros_like(x, dtype=tf.int64)
        step = size // 2
        while step >= 1:
            candidate = lo + step
            probe = tf.gather(keys, candidate - 1)
            # x >= k for integers: tf2onnx compares int64 Less/Greater in float32 (wrong for close keys
            # >= 2**24), GreaterEqual exactly; floats select on x < k with the branches swapped, which
            # sends NaN to the last bin (the TFLite converter turns LOGICAL_NOT(LESS) into GREATER_EQUAL,
            # which sent NaN to bin 0: found by the generated NaN samples).
            if x.dtype.is_integer:
                lo = tf.where(tf.greater_equal(x, probe), candidate, lo)
            else:
                lo = tf.where(tf.less(x, probe), lo, candidate)
            step //= 2
        return lo

    def like(found, x):
        """``found`` reshaped to ``x``'s shape, static where ``x``'s is (table lookups lose it)."""
        inner = list(x.shape[1:])
        if x.shape.rank is not None and all(d is not None for d in inner):
            return tf.reshape(found, [-1, *inner]) if x.shape.rank else tf.reshape(found, [])
        return tf.reshape(found, tf.shape(x))

    def one_hot(x, depth):
        """float32 one-hot; negative indices give zeros as in TF (ONNX OneHot would wrap them)."""
        x = tf.cast(x, tf.int64)
        return tf.one_hot(tf.where(x < 0, tf.constant(depth, tf.int64), x), depth, dtype=tf.float32)

    def encode(x, mode, depth, dtype, weights=None, idf=None):
        """Keras' encodings (float32 one-hot: ONNX OneHot and TFLite ONE_HOT at any rank; counts stay exact to 2**24)."""
        if mode == "int":
            return tf.cast(x, dtype)
        if x.shape.rank == 0:
            x = tf.expand_dims(x, -1)
        if mode == "one_hot":
            if x.shape.rank > 1 and x.shape[-1] == 1:
                x = tf.squeeze(x, -1)
            return tf.cast(one_hot(x, depth), dtype)
        if mode == "multi_hot":
            return tf.cast(tf.reduce_max(one_hot(x, depth), axis=-2), dtype)
        if weights is not None:
            return tf.reduce_sum(tf.cast(one_hot(x, depth), weights.dtype) * tf.expand_dims(weights, -1), axis=-2)
        counts = tf.reduce_sum(one_hot(x, depth), axis=-2)
        if mode == "count":
            return tf.cast(counts, dtype)
        return counts * tf.constant(np.asarray(idf, np.float32))

    def micro_encode(x, mode, depth, dtype, table=None):
        """``encode`` without ONE_HOT or integer CAST (one_hot / multi_hot / count, no weights or idf);
        column j is hot where ``x == table[j]`` (``table``: ``[0, depth)`` by default); mode "int"
        gives the hot column's number (ARG_MAX: one column must be hot)."""
        if x.shape.rank == 0:
            x = tf.expand_dims(x, -1)
        if mode == "one_hot" and x.shape.rank > 1 and x.shape[-1] == 1:
            x = tf.squeeze(x, -1)
        table = np.arange(depth) if table is None else table
        # x >= k and x <= k rather than x == k: the TFLite converter fuses CAST(EQUAL(x, range)) into ONE_HOT
        column, k = tf.expand_dims(x, -1), tf.constant(np.asarray(table), dtype=x.dtype)
        hot = tf.logical_and(tf.greater_equal(column, k), tf.less_equal(column, k))
        if mode == "int":
            return tf.argmax(tf.cast(hot, tf.int8), axis=-1, output_type=tf.int32)
        hot = tf.cast(hot, tf.float32)
        if mode == "one_hot":
            return tf.cast(hot, dtype)
        reduce = tf.reduce_max if mode == "multi_hot" else tf.reduce_sum
        return tf.cast(reduce(hot, axis=-2), dtype)

    class Lowered(keras.layers.Layer):
        """Base: keeps the original call's output spec; string-friendly input handling."""

        def __init__(self, config, output_shape, output_dtype, **kwargs):
            super().__init__(trainable=False, **kwargs)
            self.config = config
            self._spec = (tuple(output_shape[1:]), output_dtype)
            self._convert_input_args = False
            self._allow_non_tensor_positional_args = True

        def compute_output_spec(self, inputs, *args, **kwargs):
            first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            return keras.KerasTensor((first.shape[0], *self._spec[0]), dtype=self._spec[1])

    return SimpleNamespace(tf=tf, upper_bound=upper_bound, like=like, encode=encode, micro_encode=micro_encode, Lowered=Lowered)
