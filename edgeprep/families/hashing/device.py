"""Hashing in builtin ops (`edgeprep.ingraph.hashing`): strings as UTF-8 bytes, integers as their decimal text.

Keras' ``Hashing._hash_values_to_bins`` then ``encode_categorical_inputs``: with ``output_mode="one_hot"``
a trailing axis of 1 is squeezed first; a ``mask_value`` (compared with the raw value) takes bin 0 and
the others ``1 + hash mod (num_bins - 1)``; FarmHash Fingerprint64, or SipHash-2-4 keyed by the salt.
The 64-bit arithmetic takes the target's `edgeprep.ingraph.uint64.Bitwise` form.
"""

from __future__ import annotations

import functools

from edgeprep.families.utf8 import base_class, encoded_shape, rows


@functools.cache
def hashing_class():
    """The ``Utf8Hashing`` layer class (imports TensorFlow)."""
    import tensorflow as tf

    from edgeprep.families.device import tf_ops
    from edgeprep.ingraph import hashing

    class Utf8Hashing(base_class()):
        """Hashing of uint8 UTF-8 bytes ``(batch, *S, N)`` or of numbers ``(batch, *S)``."""

        def __init__(self, config, output_shape, output_dtype, bitwise, strings: bool, squeeze: bool, **kwargs):
            super().__init__(config, output_shape, output_dtype, **kwargs)
            self.reads_utf8_bytes = strings
            self._bitwise, self._squeeze = bitwise, squeeze

        def call(self, x):
            c, b = self.config, self._bitwise
            salt = tuple(c["salt"]) if c["salt"] is not None else None
            mask = c["mask_value"]
            if self._squeeze:  # one_hot on (..., 1): Keras squeezes the values first
                x = tf.squeeze(x, -2 if self.reads_utf8_bytes else -1)
            if self.reads_utf8_bytes:
                data, lengths, shape = rows(x)
                masked = hashing.equals_text(data, lengths, str(mask).encode("utf-8")) if mask is not None else None
            else:
                shape = tf.shape(x)
                flat = tf.reshape(x, [-1])
                masked = tf.equal(flat, tf.constant(mask, flat.dtype)) if mask is not None else None
                data, lengths = hashing.integer_text(flat)
            hashed = hashing.text_hash(data, lengths, salt, bitwise=b)
            bins = tf.reshape(hashing.keras_bins(hashed, c["num_bins"], masked, bitwise=b), shape)
            return tf_ops().encode(bins, c["output_mode"], c["num_bins"], c["dtype"])

    return Utf8Hashing


def hashing_layer(call, config: dict, bitwise):
    """The in-graph Hashing for ``call`` (its input's dtype says strings or numbers)."""
    source = call.inputs[0]
    strings = str(source.dtype) == "string"
    shape = tuple(source.shape)
    squeeze = config["output_mode"] == "one_hot" and len(shape) > 1 and shape[-1] == 1
    if squeeze:
        shape = shape[:-1]
    out = encoded_shape(shape, config["output_mode"], config["num_bins"])
    return hashing_class()(config, out, str(call.outputs[0].dtype), bitwise, strings, squeeze, name=f"{call.layer.name}_in_graph")
