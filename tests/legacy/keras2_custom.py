"""A custom layer in its Keras 2 (tf_keras) form; `keras3_custom` holds the same layer for Keras 3.

Deliberately not registered: loading a model that uses it needs ``--custom-objects``.
"""

from __future__ import annotations

import tf_keras


class Affine(tf_keras.layers.Layer):
    """``y = x * scale + shift`` with a learned per-feature scale and shift."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")
        self.shift = self.add_weight(name="shift", shape=(input_shape[-1],), initializer="zeros")

    def call(self, inputs):
        return inputs * self.scale + self.shift
