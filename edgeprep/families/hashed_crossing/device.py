"""HashedCrossing in builtin ops: ``tf.sparse.cross_hashed`` (`edgeprep.ingraph.hashing.cross_buckets`).

One value per row per feature: a string feature (UTF-8 bytes) enters as its Fingerprint64, an
integer feature as its value; ``FingerprintCat64`` folds them from ``0xDECAFCAFFE``, ``mod num_bins``
as uint64, then Keras' encoding. The output keeps the first input's shape, as Keras does.
"""

from __future__ import annotations

import functools

from edgeprep.families.utf8 import base_class, encoded_shape, rows


@functools.cache
def crossing_class():
    """The ``Utf8HashedCrossing`` layer class (imports TensorFlow)."""
    import tensorflow as tf

    from edgeprep.families.device import tf_ops
    from edgeprep.ingraph import farmhash, hashing

    class Utf8HashedCrossing(base_class()):
        """HashedCrossing of features ``(batch,)`` / ``(batch, 1)``: strings as UTF-8 bytes, or integers."""

        def __init__(self, config, output_shape, output_dtype, bitwise, strings: tuple[bool, ...], **kwargs):
            super().__init__(config, output_shape, output_dtype, **kwargs)
            self.reads_utf8_bytes = any(strings)
            self._bitwise, self._strings = bitwise, strings

        def call(self, inputs):
            c, b = self.config, self._bitwise
            features, shape = [], None
            for x, is_text in zip(inputs, self._strings):
                if is_text:
                    data, lengths, rows_shape = rows(x)
                    features.append(farmhash.fingerprint64(data, lengths, b))
                else:
                    rows_shape = tf.shape(x)
                    features.append(tf.cast(tf.reshape(x, [-1]), tf.int64))
                shape = rows_shape if shape is None else shape
            crossed = tf.reshape(hashing.cross_buckets(features, c["num_bins"], b), shape)
            return tf_ops().encode(crossed, c["output_mode"], c["num_bins"], c["dtype"])

    return Utf8HashedCrossing


def crossing_layer(call, config: dict, bitwise):
    """The in-graph HashedCrossing for ``call``."""
    strings = tuple(str(t.dtype) == "string" for t in call.inputs)
    out = encoded_shape(tuple(call.inputs[0].shape), config["output_mode"], config["num_bins"])
    return crossing_class()(config, out, str(call.outputs[0].dtype), bitwise, strings, name=f"{call.layer.name}_in_graph")
