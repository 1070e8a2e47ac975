"""CategoryEncoding as a Keras layer of builtin ops: ONE_HOT then MAX / SUM over the sample axis
(`edgeprep.families.device`), with optional count weights."""

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


def category_encoding(config: dict, output, name: str):
    """The device CategoryEncoding for ``config`` (`edgeprep.families.category_encoding.spec`)."""
    return encode_class()(config, tuple(output.shape), config["dtype"], name=name)
