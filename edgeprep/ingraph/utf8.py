"""The text a hash reads, as tensors: UTF-8 bytes ``[batch, max_bytes]`` plus lengths ``[batch]``.

Bytes past a row's length are never read (they count as 0, whatever the padding holds), so any
zero- or garbage-padded byte matrix works. Integers become their decimal text here, as
``tf.strings.as_string`` writes them (Keras' Hashing hashes integers as that text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeprep.ingraph.uint64 import INT64_MIN, le_words

DECIMAL_BYTES = 20  # "-9223372036854775808"
_DIGITS = 19  # |int64| < 10**19


def prepare(data, lengths):
    """``data`` as int32 with 8 zero bytes appended (so every gather has something to read) and
    ``lengths`` as int32."""
    from keras import ops

    data = ops.pad(ops.cast(data, "int32"), [[0, 0], [0, 8]])
    return data, ops.cast(lengths, "int32")


def fetch(data, lengths, offsets, widths: Sequence[int]):
    """Little-endian words read at ``offsets`` of every row (farmhash's ``Fetch64`` / ``Fetch32``).

    Args:
        data: int32 bytes ``[batch, L]`` from `prepare`.
        lengths: int32 ``[batch]``; bytes at or past a row's length, or before 0, read as 0.
        offsets: int32 ``[batch or 1, m]`` byte offsets.
        widths: ``m`` static widths in bytes (1 to 8): ``widths[j]`` bytes are read at column j.

    Returns:
        int64 ``[batch, m]`` words.
    """
    from keras import ops

    lanes = np.arange(8, dtype=np.int32)
    positions = ops.expand_dims(offsets, -1) + lanes  # [b, m, 8]
    valid = ops.logical_and(
        ops.logical_and(ops.greater_equal(positions, 0), ops.less(positions, ops.reshape(lengths, (-1, 1, 1)))),
        np.array([[lane < width for lane in range(8)] for width in widths]),
    )
    size = ops.shape(data)[1]
    rows = ops.reshape(ops.arange(ops.shape(data)[0], dtype="int32") * ops.cast(size, "int32"), (-1, 1, 1))
    picked = ops.take(ops.reshape(data, (-1,)), ops.clip(positions, 0, size - 1) + rows)
    picked = ops.where(valid, picked, 0)
    return le_words(ops.reshape(picked, (-1, len(widths) * 8)))


def decimal(values):
    """``tf.strings.as_string`` of int64 ``values`` ``[batch]``: (int32 bytes ``[batch, 20]``, int32 lengths).

    Digit i of ``|v|`` is ``(|v| mod 10**(i+1) - |v| mod 10**i) / 10**i``: the difference is exact
    in int64 and the division of a digit times 10**i is exact after rounding in float32.
    """
    from keras import ops

    values = ops.cast(values, "int64")
    negative = ops.less(values, 0)
    is_min = ops.logical_and(negative, ops.less(-values, 0))  # only int64 min stays negative (sign tests only: ONNX compares int64 in float)
    magnitude = ops.where(is_min, np.int64(-(INT64_MIN + 1)), ops.where(negative, -values, values))
    powers = np.array([10**i for i in range(_DIGITS)], np.int64)
    below = ops.mod(ops.expand_dims(magnitude, -1), powers)  # |v| mod 10**i
    upto = ops.concatenate([below[:, 1:], ops.expand_dims(magnitude, -1)], axis=-1)  # |v| mod 10**(i+1)
    scaled = ops.cast(upto - below, "float32") * (1.0 / powers.astype(np.float32))
    digits = ops.cast(ops.round(scaled), "int32")
    digits = digits + ops.cast(ops.expand_dims(is_min, -1), "int32") * np.eye(1, _DIGITS, dtype=np.int32)  # ...807 -> ...808
    used = ops.max(ops.cast(ops.not_equal(digits, 0), "int32") * np.arange(1, _DIGITS + 1, dtype=np.int32), axis=-1)
    used = ops.maximum(used, 1)
    sign = ops.cast(negative, "int32")
    position = np.arange(DECIMAL_BYTES, dtype=np.int32) - ops.expand_dims(sign, -1)  # index into the digit text
    source = ops.expand_dims(used, -1) - 1 - position  # digit index, most significant first
    inside = ops.logical_and(ops.greater_equal(position, 0), ops.less(position, ops.expand_dims(used, -1)))
    rows = ops.reshape(ops.arange(ops.shape(digits)[0], dtype="int32") * _DIGITS, (-1, 1))
    text = ops.take(ops.reshape(digits, (-1,)), ops.clip(source, 0, _DIGITS - 1) + rows) + ord("0")
    minus = ops.logical_and(ops.expand_dims(negative, -1), np.arange(DECIMAL_BYTES) == 0)
    text = ops.where(inside, text, ops.where(minus, ord("-"), 0))
    return text, used + sign
