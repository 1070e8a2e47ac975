"""Run a TFLite artifact in the stock LiteRT interpreter (``ai_edge_litert``, no Flex delegate).

Needs only numpy and ai-edge-litert: this is the deploy-side runner. A dynamic batch dimension is
resized to each feed's batch. Quantized integer inputs/outputs (an int8 model exported with
``--int8-io``) are presented as float32: inputs are quantized with the tensor's scale and zero
point, outputs dequantized, so every runner speaks the Keras model's float interface. An artifact
exported with ``--allow-flex`` needs TensorFlow's own interpreter (it links the Flex delegate); the
runner uses it only then.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import ConversionError
from .runner import Runner
from .specs import TensorSpec

# The runtime requirement of an artifact with Select-TF ops (``--allow-flex``): TensorFlow's interpreter.
TFLITE_FLEX = "tflite-flex"


class TFLiteRunner(Runner):
    """LiteRT interpreter behind the `Runner` interface."""

    name = "tflite"

    def __init__(self, model: bytes | str | os.PathLike, threads: int = 1, requirements: tuple[str, ...] = ()):
        if TFLITE_FLEX in requirements:  # opt-in Select-TF ops: TensorFlow's interpreter links the Flex delegate
            from tensorflow.lite.python.interpreter import Interpreter
        else:
            from ai_edge_litert.interpreter import Interpreter

        content = model if isinstance(model, (bytes, bytearray)) else None
        path = None if content is not None else os.fspath(model)
        self._interpreter = Interpreter(model_content=bytes(content) if content else None, model_path=path, num_threads=threads)
        try:
            self._interpreter.allocate_tensors()
            allocated = True
        except RuntimeError:  # a dynamic axis at its default size 1 can be too short (an audio frame's reflect padding)
            allocated = False  # allocated at the first feed's shapes instead
        self._input_details = self._interpreter.get_input_details()
        self._output_details = self._interpreter.get_output_details()
        self._inputs = [_spec(d) for d in self._input_details]
        self._outputs = [_spec(d) for d in self._output_details]
        self.quantized_io = any(_quantization(d) for d in self._input_details + self._output_details)
        self._shapes: dict[int, tuple | None] = {d["index"]: tuple(d["shape"]) if allocated else None for d in self._input_details}

    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def ops(self) -> dict[str, int]:
        """Op name -> count, as the interpreter sees them."""
        counts: dict[str, int] = {}
        for op in self._interpreter._get_ops_details():
            counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
        return counts

    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        interpreter = self._interpreter
        resized = False
        for detail, spec in zip(self._input_details, self._inputs):
            value = feed[spec.name]
            if self._shapes[detail["index"]] != value.shape:
                interpreter.resize_tensor_input(detail["index"], list(value.shape), strict=False)
                self._shapes[detail["index"]] = value.shape
                resized = True
        if resized:
            interpreter.allocate_tensors()
        for detail, spec in zip(self._input_details, self._inputs):
            interpreter.set_tensor(detail["index"], _to_runtime(feed[spec.name], spec, detail))
        try:
            interpreter.invoke()
        except RuntimeError as exc:
            if "Flex delegate" in str(exc) or "Select TensorFlow op" in str(exc):
                raise ConversionError(
                    "this TFLite artifact uses Select-TF (Flex) ops and no installed interpreter links the Flex delegate "
                    "(TensorFlow >= 2.20 and ai-edge-litert ship without it), so it cannot be verified here; "
                    "drop --allow-flex to use host steps instead"
                ) from None
            raise
        return [_from_runtime(interpreter.get_tensor(d["index"]), d) for d in self._output_details]


def _quantization(detail: dict) -> tuple[float, int] | None:
    """(scale, zero point) of a quantized integer IO tensor, else None."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if np.dtype(detail["dtype"]).kind in "iu" and scale:
        return float(scale), int(zero_point)
    return None


def _spec(detail: dict) -> TensorSpec:
    signature = detail.get("shape_signature")
    shape = signature if signature is not None and len(signature) else detail["shape"]
    dtype = np.dtype(detail["dtype"])
    name = "string" if dtype.kind in "OSU" else ("float32" if _quantization(detail) else dtype.name)
    return TensorSpec(detail["name"], name, tuple(None if int(d) < 0 else int(d) for d in shape))


def _to_runtime(value: np.ndarray, spec: TensorSpec, detail: dict) -> np.ndarray:
    if spec.is_string:
        return np.vectorize(lambda s: s.encode("utf-8") if isinstance(s, str) else s, otypes=[object])(value)
    quantization = _quantization(detail)
    if quantization:
        scale, zero_point = quantization
        info = np.iinfo(detail["dtype"])
        return np.clip(np.round(value / scale) + zero_point, info.min, info.max).astype(detail["dtype"])
    return np.ascontiguousarray(value, dtype=spec.numpy_dtype())


def _from_runtime(value: np.ndarray, detail: dict) -> np.ndarray:
    if value.dtype.kind in "OS":
        return np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else str(b), otypes=[object])(value).astype(str)
    quantization = _quantization(detail)
    if quantization:
        scale, zero_point = quantization
        return ((value.astype(np.float32) - zero_point) * scale).astype(np.float32)
    return value
