"""CategoryEncoding as a Keras layer of builtin ops: ONE_HOT then MAX / SUM over the sample axis
(`edgeprep.families.device`), with optional count weights; ``--micro``: EQUAL + CAST instead of ONE_HOT
(`micro_category_encoding`)."""

from __future__ import annotations

import functools

from edgeprep.families.device import tf_ops


@functools.cache
def encode_class():
    """The ``Encode`` layer class (imports TensorFlow)."""
    ops = tf_ops()
    tf = ops.tf

    class Encode(ops.Lowered):
        """CategoryEncoding: one_hot / multi_hot / count (optionally weighted)."""

        def call(self, inputs, count_weights=None):
            c = self.config
            weights = None if count_weights is None else tf.cast(count_weights, c["dtype"])
            return ops.encode(tf.cast(inputs, tf.int64), c["output_mode"], c["depth"], c["dtype"], weights=weights)

    return Encode


@functools.cache
def micro_encode_class():
    """The ``MicroEncode`` layer class (imports TensorFlow)."""
    ops = tf_ops()
    tf = ops.tf

    class MicroEncode(ops.Lowered):
        """CategoryEncoding for tflite-micro: EQUAL against ``[0, depth)`` + CAST, in the input's integer type."""

        def call(self, inputs):
            c = self.config
            x = tf.convert_to_tensor(inputs)
            x = x if x.dtype.is_integer else tf.cast(x, tf.int32)
            return ops.micro_encode(x, c["output_mode"], c["depth"], c["dtype"])

    return MicroEncode


def category_encoding(config: dict, output, name: str):
    """The device CategoryEncoding for ``config`` (`edgeprep.families.category_encoding.spec`)."""
    return encode_class()(config, tuple(output.shape), config["dtype"], name=name)


def micro_category_encoding(config: dict, output, name: str):
    """The tflite-micro CategoryEncoding (one_hot / multi_hot / count without weights) and how, or None."""
    if config["output_mode"] not in ("one_hot", "multi_hot", "count"):
        return None
    how = f"--micro: {config['output_mode']} by GREATER_EQUAL / LESS_EQUAL + CAST (TFLM kernels)"
    return micro_encode_class()(config, tuple(output.shape), config["dtype"], name=name), how
