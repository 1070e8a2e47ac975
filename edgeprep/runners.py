"""One interface over every runtime: Keras here; LiteRT and ONNX Runtime in the deploy runtime.

`Runner` and `check_feed` live in `edgeprep.runtime.runner` (numpy only, shipped with every export);
this module adds `KerasRunner`, which runs a Keras model at ``training=False``.
"""

from __future__ import annotations

import numpy as np

from edgeprep.runtime.runner import Runner, check_feed  # noqa: F401  (re-exported)
from edgeprep.specs import TensorSpec


class KerasRunner(Runner):
    """Runs a Keras model at ``training=False``."""

    name = "keras"

    def __init__(self, model, name: str = "keras", names: tuple | None = None):
        """Args:
            model: a Functional or Sequential Keras model.
            name: the runner's name in reports.
            names: (input names, output names) to use instead of the model's own, e.g. for a
                rebuilt model that must answer to the original's names.
        """
        from edgeprep.graph import functional_of, io_names

        model = functional_of(model) or model
        self.model = model
        self.name = name
        input_names, output_names = names or io_names(model)
        from keras import tree

        flat_inputs = tree.flatten(model._inputs_struct)
        flat_outputs = tree.flatten(model._outputs_struct)
        self._inputs = [TensorSpec(n, _keras_dtype(t.dtype), tuple(t.shape)) for n, t in zip(input_names, flat_inputs)]
        self._outputs = [TensorSpec(n, _keras_dtype(t.dtype), tuple(t.shape)) for n, t in zip(output_names, flat_outputs)]

    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        from keras import tree

        flat = [_to_backend(feed[spec.name], spec) for spec in self._inputs]
        if any(spec.is_string for spec in self._inputs):  # Keras refuses a mix of tensors and arrays
            import tensorflow as tf

            flat = [value if spec.is_string else tf.constant(value) for value, spec in zip(flat, self._inputs)]
        packed = tree.pack_sequence_as(self.model._inputs_struct, flat)
        outputs = self._call(tuple(np.shape(value) for value in flat))(packed)
        return [_to_numpy(value) for value in tree.flatten(outputs)]

    TRACE_AFTER = 3  # eager calls of one input shape before the call is traced

    def _call(self, shapes: tuple):
        """The model's call: eager, or traced once an input shape comes back (`TRACE_AFTER` calls):
        parity on many batches of one size (``--batch 1``: 64 batches) then runs a recurrent loop
        as a graph instead of step by step, while a few batches of different sizes never pay a trace."""
        seen = self.__dict__.setdefault("_seen", {})
        seen[shapes] = seen.get(shapes, 0) + 1
        if seen[shapes] <= self.TRACE_AFTER:
            return lambda packed: self.model(packed, training=False)
        if "_traced" not in self.__dict__:
            import tensorflow as tf

            model = self.model
            self._traced = tf.function(lambda packed: model(packed, training=False), reduce_retracing=True)
        return self._traced


def _keras_dtype(dtype) -> str:
    text = str(dtype)
    return "string" if text in ("string", "str") else text


def _to_backend(value: np.ndarray, spec: TensorSpec):
    if spec.is_string:
        import tensorflow as tf

        return tf.constant(value.astype(object) if value.dtype.kind == "U" else value)
    return value


def _to_numpy(value) -> np.ndarray:
    array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    if array.dtype == object:
        array = np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else b, otypes=[object])(array).astype(str)
    return array
