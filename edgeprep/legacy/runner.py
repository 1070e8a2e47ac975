"""The parity reference of a Keras 2 model: the tf_keras model itself, run at ``training=False``.

Artifacts are compared with this runner, not with the Keras 3 translation, so a wrong translation
fails parity like a wrong converter would.
"""

from __future__ import annotations

import numpy as np

from edgeprep.runners import Runner, _keras_dtype, _to_backend, _to_numpy
from edgeprep.specs import TensorSpec


class TfKerasRunner(Runner):
    """Runs a tf_keras Functional or Sequential model; inputs and outputs named as tf_keras names them."""

    name = "tf_keras"

    def __init__(self, model, name: str = "tf_keras"):
        self.model = model
        self.name = name
        self._inputs = [TensorSpec(n, _keras_dtype(t.dtype.name), tuple(t.shape)) for n, t in zip(model.input_names, model.inputs)]
        self._outputs = [TensorSpec(n, _keras_dtype(t.dtype.name), tuple(t.shape)) for n, t in zip(model.output_names, model.outputs)]

    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        import tensorflow as tf

        values = {spec.name: tf.constant(_to_backend(feed[spec.name], spec)) for spec in self._inputs}
        outputs = self.model(values if len(values) > 1 else next(iter(values.values())), training=False)
        if isinstance(outputs, dict):
            flat = [outputs[spec.name] for spec in self._outputs]
        else:
            flat = tf.nest.flatten(outputs)
        return [_to_numpy(value) for value in flat]
