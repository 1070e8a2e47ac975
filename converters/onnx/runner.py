"""Run an ONNX artifact in onnxruntime (CPU). Needs only numpy and onnxruntime."""

from __future__ import annotations

import os

import numpy as np

from edgeprep.runners import Runner
from edgeprep.specs import TensorSpec

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16", "tensor(int8)": "int8",
    "tensor(uint8)": "uint8", "tensor(uint16)": "uint16", "tensor(bool)": "bool", "tensor(string)": "string",
}


class ONNXRunner(Runner):
    """onnxruntime ``InferenceSession`` (CPU execution provider) behind the `Runner` interface."""

    name = "onnx"

    def __init__(self, model: bytes | str | os.PathLike, threads: int = 1, requirements: tuple[str, ...] = ()):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if "onnxruntime-extensions" in requirements:  # opt-in string ops (ai.onnx.contrib)
            from onnxruntime_extensions import get_library_path

            options.register_custom_ops_library(get_library_path())
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        source = bytes(model) if isinstance(model, (bytes, bytearray)) else os.fspath(model)
        self._session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self._inputs = [_spec(v) for v in self._session.get_inputs()]
        self._outputs = [_spec(v) for v in self._session.get_outputs()]

    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        prepared = {}
        for spec in self._inputs:
            value = feed[spec.name]
            prepared[spec.name] = value.astype(object) if spec.is_string else np.ascontiguousarray(value)
        results = self._session.run([spec.name for spec in self._outputs], prepared)
        return [np.asarray(r).astype(str) if np.asarray(r).dtype == object else r for r in results]


def _spec(value) -> TensorSpec:
    shape = tuple(dim if isinstance(dim, int) and dim >= 0 else None for dim in value.shape)
    return TensorSpec(value.name, _ORT_TYPES.get(value.type, value.type), shape)
