"""Small Keras layers edgeprep inserts into transformed models (never saved, built lazily).

The classes are defined on first use so that ``import edgeprep`` does not import Keras.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace


@functools.cache
def _classes() -> SimpleNamespace:
    import keras

    class Cast(keras.layers.Layer):
        """``y = cast(x, dtype)``."""

        def __init__(self, target_dtype, **kwargs):
            super().__init__(**kwargs)
            self.target_dtype = target_dtype

        def call(self, inputs):
            return keras.ops.cast(inputs, self.target_dtype)

        def compute_output_spec(self, inputs):
            return keras.KerasTensor(inputs.shape, dtype=self.target_dtype)

    class SavedModelSignature(keras.layers.Layer):
        """Calls one signature of a loaded SavedModel; returns the signature's output dict."""

        def __init__(self, loaded, signature, **kwargs):
            super().__init__(name=f"saved_model_{signature}", trainable=False, **kwargs)
            self._loaded = loaded
            self.signature = signature
            self._function = loaded.signatures[signature]

        def call(self, inputs):
            return dict(self._function(**inputs))

        def compute_output_spec(self, inputs):
            return {
                key: keras.KerasTensor(tuple(spec.shape.as_list()), dtype=spec.dtype.name)
                for key, spec in self._function.structured_outputs.items()
            }

    return SimpleNamespace(Cast=Cast, SavedModelSignature=SavedModelSignature)


def cast(dtype: str, name: str):
    """A layer computing ``cast(x, dtype)``."""
    return _classes().Cast(dtype, name=name)


def saved_model_signature(loaded, signature: str):
    """A layer calling ``loaded.signatures[signature]`` with keyword inputs."""
    return _classes().SavedModelSignature(loaded, signature)
