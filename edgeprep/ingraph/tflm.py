"""``keras.ops`` as the in-graph text steps use them, written with the kernels tflite-micro registers.

`edgeprep.ingraph.text_ops` and `text_steps` take their ops from `kernels`: ``keras.ops`` itself,
or, inside `micro` (the ``--micro`` TextVectorization, `edgeprep.ingraph.text`), `MicroOps`. Read
in tflite-micro's kernels (github.com/tensorflow/tflite-micro, tensorflow/lite/micro/kernels/ at
90b983c2): ADD / SUB / MUL, the comparisons, MAXIMUM / MINIMUM, PAD, CONCATENATION and
STRIDED_SLICE take int32, but GATHER takes float32 / int8 values only, SELECT_V2 float32 / int8 /
int16, CUMSUM float32 / int8, SUM / REDUCE_MAX float32 / int8 / int16, CAST no uint8 input and no
int64 at all, SCATTER_ND and SELECT (v1) are not registered, and every shape is static. So:

- the text stays int32; GATHER, CUMSUM, SUM and REDUCE_MAX run on float32 copies (every value they
  see is a byte, a position, a count or an id below 2**24: exact) and cast back; a constant table
  with larger values (the packed vocabulary keys) is gathered as two float32 halves;
- ``where`` on integers is ``b + cast(c) * (a - b)`` (MUL / ADD), on booleans logical ops;
- ``cast`` to int64 gives int32 (ids leave the layer as int32: the Embedding's GATHER positions);
  from uint8 it goes through float32 (the CAST uint8 -> float32 becomes a DEQUANTIZE with scale 1
  after conversion, `converters.tflite.micro_rewrite`);
- compaction (`compact`) finds, for every output slot, its source by a branch-free binary search
  over the running count of kept values (`lower_bound`: log2(N) GATHER rounds) instead of a
  SCATTER_ND; `place` does the same for strictly increasing targets.

The float32 copies run under the name scope `edgeprep.families.audio.device.FLOAT_SCOPE` (set by
the layer): the int8 quantizer leaves them float32. A tensor table is negated on each side of its
GATHER (grappler would move the CAST past the GATHER, an int32 GATHER again, docs/UPSTREAM.md), and
a table TensorFlow can compute while tracing is gathered as a constant. TensorFlow is imported on
first use.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools

import numpy as np

_ACTIVE = contextvars.ContextVar("edgeprep_tflm_kernels", default=False)
EXACT = 1 << 24  # float32 holds every integer below this exactly
SPLIT = 1 << 12  # a larger constant table is gathered as value // SPLIT and value % SPLIT


@contextlib.contextmanager
def micro():
    """Trace the text steps with `MicroOps` inside this block."""
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> bool:
    """Whether the text steps are being traced for tflite-micro (`micro`)."""
    return _ACTIVE.get()


def kernels():
    """``keras.ops``, or `MicroOps` inside `micro`."""
    from keras import ops

    return _micro_ops() if _ACTIVE.get() else ops


@functools.cache
def _micro_ops():
    from keras import ops

    class MicroOps:
        """``keras.ops`` with the overrides of the module docstring; every other name is keras.ops'."""

        def __getattr__(self, name):
            return getattr(ops, name)

        @staticmethod
        def cast(x, dtype):
            dtype = "int32" if str(dtype) == "int64" else dtype
            if _dtype(x) == "uint8":
                x = ops.cast(x, "float32")
            return ops.cast(x, dtype)

        @staticmethod
        def take(table, indices, axis=None):
            indices = ops.cast(indices, "int32")
            table = _constant(table)
            if isinstance(table, np.ndarray):
                if table.dtype == bool:
                    return ops.not_equal(_gather(table.astype(np.float32), indices, axis), 0)
                values = table.astype(np.int64)
                if values.size and np.abs(values).max() >= EXACT:
                    high, low = np.floor_divide(values, SPLIT), np.mod(values, SPLIT)
                    gathered = [ops.cast(_gather(part.astype(np.float32), indices, axis), "int32") for part in (high, low)]
                    return gathered[0] * SPLIT + gathered[1]
                return ops.cast(_gather(values.astype(np.float32), indices, axis), "int32")
            # negated copies: TensorFlow's grappler moves a CAST that feeds a GATHER past it (an int32 GATHER again)
            negated = ops.negative(_gather(ops.negative(ops.cast(table, "float32")), indices, axis))
            return ops.not_equal(negated, 0) if _dtype(table) == "bool" else ops.cast(negated, table.dtype)

        @staticmethod
        def where(condition, x, y):
            if "bool" in (_dtype(x), _dtype(y)):
                return ops.logical_or(ops.logical_and(condition, x), ops.logical_and(ops.logical_not(condition), y))
            x, y = (ops.cast(v, "int32") if _integer(v) else v for v in (x, y))
            return y + ops.cast(condition, "int32") * (x - y)

        @staticmethod
        def cumsum(x, axis=None):
            return ops.cast(ops.cumsum(ops.cast(x, "float32"), axis=axis), x.dtype)

        @staticmethod
        def sum(x, axis=None, keepdims=False):
            return ops.cast(ops.sum(ops.cast(x, "float32"), axis=axis, keepdims=keepdims), x.dtype)

        @staticmethod
        def max(x, axis=None, keepdims=False):
            return ops.cast(ops.max(ops.cast(x, "float32"), axis=axis, keepdims=keepdims), x.dtype)

    return MicroOps()


def _constant(value):
    """``value`` as a NumPy array when TensorFlow can compute it at trace time (the converter would
    fold the float32 copy of a constant table back into an int32 GATHER)."""
    import tensorflow as tf

    if isinstance(value, np.ndarray) or not tf.is_tensor(value):
        return value
    static = tf.get_static_value(value)
    return value if static is None else np.asarray(static)


def _gather(table, indices, axis):
    """``tf.gather`` (Keras' ``take`` adds a SELECT for negative indices: there are none here)."""
    import tensorflow as tf

    if axis is None:
        table = tf.reshape(table, (-1,))
    return tf.gather(table, indices, axis=axis or 0)


def _dtype(value) -> str:
    """The Keras dtype name of a tensor, NumPy value or Python number."""
    from keras import backend

    return backend.standardize_dtype(getattr(value, "dtype", None) or type(value))


def _integer(value) -> bool:
    return np.dtype(_dtype(value)).kind in "iu"


def lower_bound(sorted_rows, queries):
    """int32 ``[batch, W]``: per row, the first column of ``sorted_rows`` ``[batch, N]`` (int32,
    non-decreasing) whose value is ``>= queries[row, i]``; N when there is none. A branch-free
    binary search: one GATHER round per bit of N."""
    ops = kernels()
    batch, size = ops.shape(sorted_rows)[0], int(sorted_rows.shape[1])
    flat = ops.reshape(sorted_rows, (-1,))
    rows = ops.expand_dims(ops.arange(batch, dtype="int32") * size, 1)
    position = ops.zeros_like(queries)
    step = 1 << size.bit_length()
    while step:
        candidate = position + step
        probe = ops.take(flat, ops.minimum(candidate, size) - 1 + rows)
        move = ops.logical_and(ops.less_equal(candidate, size), ops.less(probe, queries))
        position = position + ops.cast(move, "int32") * step
        step >>= 1
    return position


def gather_rows(values, index, fill=0):
    """``values[row, index[row, i]]`` where ``index`` is below ``values``' width, else ``fill``."""
    ops = kernels()
    size = int(values.shape[1])
    rows = ops.expand_dims(ops.arange(ops.shape(values)[0], dtype="int32") * size, 1)
    inside = ops.less_equal(index + 1, size)
    picked = ops.take(ops.reshape(values, (-1,)), ops.minimum(index, size - 1) + rows)
    return ops.where(inside, picked, fill)


def compact(values, keep, width: int):
    """`edgeprep.ingraph.text_ops.compact` without SCATTER_ND: slot ``i`` takes the value whose
    running count of kept values first reaches ``i + 1`` (`lower_bound`), 0 past the row's count."""
    ops = kernels()
    keep_i = ops.cast(keep, "int32")
    running = ops.cumsum(keep_i, axis=1)
    slots = ops.expand_dims(ops.arange(width, dtype="int32"), 0) + 1
    source = lower_bound(running, ops.broadcast_to(slots, (ops.shape(values)[0], width)))
    return gather_rows(values, source), ops.sum(keep_i, axis=1)


def place(values, target, width: int):
    """`edgeprep.ingraph.text_ops.place` for a ``target`` strictly increasing along each row, without
    SCATTER_ND: slot ``i`` takes the value whose target is ``i`` (`lower_bound`), else 0."""
    ops = kernels()
    slots = ops.broadcast_to(ops.expand_dims(ops.arange(width, dtype="int32"), 0), (ops.shape(values)[0], width))
    source = lower_bound(target, slots)
    hit = ops.equal(gather_rows(target, source, -1), slots)
    return ops.where(hit, gather_rows(values, source), 0)
