"""Device layers on the UTF-8 bytes input (`edgeprep.runtime.text`): the shared base and the string glue.

A string tensor ``(batch, *S)`` is carried as uint8 ``(batch, *S, N)``, zero padded. Shape glue
between a string input and a lowered string layer (``Reshape``, ``Flatten``, ``expand_dims``, as in
a model that reshapes its string input before a Hashing layer) is applied to the bytes with the
trailing bytes axis kept (`Utf8Glue`). `rows` turns any bytes tensor into the ``[rows, N + 1]``
int32 bytes plus lengths that `edgeprep.ingraph` reads. TensorFlow is imported on first use.
"""

from __future__ import annotations

import functools
import math

GLUE = ("Reshape", "Flatten", "ExpandDims")  # Keras classes translated to the bytes form


def encoded_shape(shape: tuple, mode: str, depth: int) -> tuple:
    """The eager output shape of Keras' ``encode_categorical_inputs`` on integer bins of ``shape``
    (with its batch axis), as `edgeprep.runtime.host.encode.encode` computes it."""
    if mode == "int":
        return shape
    if not shape:
        shape = (1,)
    if mode == "one_hot":
        return (*(shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape), depth)
    return (*shape[:-1], depth)


@functools.cache
def base_class():
    """``Utf8Layer``: a device layer whose string inputs arrive as UTF-8 bytes (imports Keras)."""
    import keras

    class Utf8Layer(keras.layers.Layer):
        """Base: ``reads_utf8_bytes`` marks the op for `edgeprep.graph.Graph.utf8_inputs`; the
        output spec is given (the Keras layer's eager shape, not its symbolic one)."""

        reads_utf8_bytes = True

        def __init__(self, config: dict, output_shape: tuple, output_dtype: str, **kwargs):
            super().__init__(trainable=False, **kwargs)
            self.config = config
            self._out = (tuple(output_shape), output_dtype)
            self._convert_input_args = False
            self._allow_non_tensor_positional_args = True

        def compute_output_spec(self, *args, **kwargs):
            return keras.KerasTensor(self._out[0], dtype=self._out[1])

    return Utf8Layer


def rows(data):
    """uint8 bytes ``(batch, *S, N)`` -> (int32 bytes ``[rows, N + 1]``, int32 lengths ``[rows]``, int32 shape ``(batch, *S)``)."""
    import tensorflow as tf

    from edgeprep.ingraph import text_ops

    shape = tf.shape(data)[:-1]
    flat = tf.reshape(data, tf.stack([tf.reduce_prod(shape), tf.shape(data)[-1]]))
    padded, lengths = text_ops.prepare(flat)
    return padded, lengths, shape


@functools.cache
def glue_class():
    """``Utf8Glue``: Reshape / Flatten / expand_dims of a string tensor, on its bytes."""
    import tensorflow as tf

    class Utf8Glue(base_class()):
        """The string op ``config["op"]`` applied to ``(batch, *S, N)`` bytes, N kept last."""

        def call(self, x):
            c = self.config
            batch, width = tf.shape(x)[:1], tf.shape(x)[-1:]
            if c["op"] == "ExpandDims":
                return tf.expand_dims(x, c["axis"])
            inner = tf.constant(c["shape"], tf.int32)  # static: Flatten's product, Reshape's target_shape
            return tf.reshape(x, tf.concat([batch, inner, width], 0))

    return Utf8Glue


def glue(call) -> tuple[object | None, str]:
    """The bytes-form op of a glue ``call`` on a string tensor, or None and why it cannot be one."""
    layer, source = call.layer, call.inputs[0]
    rank = len(source.shape)
    config = {"op": call.class_name}
    if call.class_name == "ExpandDims":
        axis = layer.axis if isinstance(layer.axis, int) else None
        if axis is None:
            return None, f"{layer.name}: expand_dims over several axes"
        config["axis"] = axis if axis >= 0 else rank + 1 + axis  # counted on the string shape, before the bytes axis
    else:
        inner = tuple(source.shape[1:]) if call.class_name == "Flatten" else tuple(layer.target_shape)
        if any(d is None for d in source.shape[1:]):
            return None, f"{layer.name}: {call.class_name} of a string tensor with a dynamic dimension"
        if call.class_name == "Flatten":
            inner = (math.prod(inner),)
        elif -1 in inner:
            known = math.prod(d for d in inner if d != -1)
            inner = tuple(math.prod(source.shape[1:]) // known if d == -1 else d for d in inner)
        config["shape"] = [int(d) for d in inner]
    out = call.outputs[0]
    return glue_class()(config, (*out.shape, None), "uint8", name=f"{layer.name}_utf8"), f"{call.class_name} of the UTF-8 bytes (string glue, trailing bytes axis)"
