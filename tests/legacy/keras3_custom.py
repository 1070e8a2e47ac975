"""`keras2_custom.Affine` ported to Keras 3: same name, same weights in the same order."""

from __future__ import annotations

import keras


class Affine(keras.layers.Layer):
    """``y = x * scale + shift`` with a learned per-feature scale and shift."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")
        self.shift = self.add_weight(name="shift", shape=(input_shape[-1],), initializer="zeros")

    def call(self, inputs):
        return inputs * self.scale + self.shift
