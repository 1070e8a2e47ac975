"""Discretization as a Keras layer of builtin ops: the binary search of `edgeprep.families.device`
over the sorted float32 boundaries (``Bucketize``), then the output mode's encoding.

``--micro`` (`micro_discretize`): the bin is the number of boundaries ``<= x``, counted with
GREATER_EQUAL, CAST and SUM in float32 under `edgeprep.families.audio.device.FLOAT_SCOPE` (the
int8 quantizer leaves the comparison with the boundaries in float32), then ``micro_encode``. An
int8 input would round a value near a boundary into the neighbouring bin, so a model input read
this way stays float32 (`converters.tflite.micro_rewrite.float_inputs`; its int8 readers get a
QUANTIZE): the bins are Keras' exactly."""

from __future__ import annotations

import functools

import numpy as np

from edgeprep.families.device import sorted_padded, tf_ops


@functools.cache
def discretize_class():
    """The ``Discretize`` layer class (imports TensorFlow)."""
    ops = tf_ops()
    tf = ops.tf

    class Discretize(ops.Lowered):
        """Discretization: binary-searched ``Bucketize`` in float32, then the encoding."""

        def __init__(self, config, output_shape, output_dtype, **kwargs):
            super().__init__(config, output_shape, output_dtype, **kwargs)
            self._edges, _ = sorted_padded(np.asarray(config["bin_boundaries"], np.float32))

        def call(self, inputs):
            c = self.config
            x = tf.cast(inputs, tf.float32)
            bins = tf.minimum(ops.upper_bound(self._edges, x), len(c["bin_boundaries"]))
            return ops.encode(tf.cast(bins, tf.int32), c["output_mode"], c["depth"], c["dtype"])

    return Discretize


@functools.cache
def micro_discretize_class():
    """The ``MicroDiscretize`` layer class (imports TensorFlow)."""
    from edgeprep.families.audio.device import FLOAT_SCOPE

    ops = tf_ops()
    tf = ops.tf

    class MicroDiscretize(ops.Lowered):
        """Discretization for tflite-micro: float32 comparisons with every boundary, SUM, ``micro_encode``."""

        def call(self, inputs):
            c = self.config
            with tf.name_scope(FLOAT_SCOPE):
                x = tf.expand_dims(tf.cast(inputs, tf.float32), -1)
                above = tf.cast(tf.greater_equal(x, tf.constant(np.asarray(c["bin_boundaries"], np.float32))), tf.float32)
                return ops.micro_encode(tf.reduce_sum(above, axis=-1), c["output_mode"], c["depth"], c["dtype"])

    return MicroDiscretize


def micro_discretize(config: dict, output, name: str):
    """The tflite-micro Discretization (int / one_hot / multi_hot / count) and how, or None."""
    if config["output_mode"] not in ("int", "one_hot", "multi_hot", "count"):
        return None
    how = f"--micro: {len(config['bin_boundaries'])} float32 GREATER_EQUAL + SUM, {config['output_mode']} by GREATER_EQUAL / LESS_EQUAL (TFLM kernels)"
    dtype = config["dtype"] if config["output_mode"] != "int" else "int32"
    return micro_discretize_class()(config, tuple(output.shape), dtype, name=name), how


def discretize(config: dict, output, name: str):
    """The device Discretization for ``config`` (`edgeprep.families.discretization.spec`)."""
    return discretize_class()(config, tuple(output.shape), config["dtype"] if config["output_mode"] != "int" else "int32", name=name)
