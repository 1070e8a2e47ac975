"""Discretization as a Keras layer of builtin ops: the binary search of `edgeprep.families.device`
over the sorted float32 boundaries (``Bucketize``), then the output mode's encoding."""

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


def discretize(config: dict, output, name: str):
    """The device Discretization for ``config`` (`edgeprep.families.discretization.spec`)."""
    return discretize_class()(config, tuple(output.shape), config["dtype"] if config["output_mode"] != "int" else "int32", name=name)
