"""Run an ONNX artifact in onnxruntime (CPU). Needs only numpy and onnxruntime (deploy runtime).

An artifact exported with ``--onnx-layout nchw`` stores its rank-4 image inputs/outputs NCHW
(listed in the model metadata ``edgeprep.nchw``); the runner still speaks the Keras (NHWC) layout,
transposing at its edge, so parity, golden vectors and ``edgeprep run`` are the same for both.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .runner import Runner
from .specs import TensorSpec

# Op domains every ONNX runtime has; ops of any other domain are counted as ``domain::Op``.
STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
# Runtime requirements an ONNX artifact can carry, each from an opt-in, and the op domain it brings:
# string ops from onnxruntime-extensions (``--onnx-extensions``), onnxruntime's own fused ops
# (``--onnx-optimize ort``).
ONNX_EXTENSIONS, CONTRIB_DOMAIN = "onnxruntime-extensions", "ai.onnx.contrib"
ONNXRUNTIME_ONLY, ORT_DOMAIN = "onnxruntime", "com.microsoft"

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
        if ONNX_EXTENSIONS in requirements:  # opt-in string ops (ai.onnx.contrib)
            from onnxruntime_extensions import get_library_path

            options.register_custom_ops_library(get_library_path())
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        source = bytes(model) if isinstance(model, (bytes, bytearray)) else os.fspath(model)
        self._session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        metadata = self._session.get_modelmeta().custom_metadata_map
        self._nchw = set(json.loads(metadata.get("edgeprep.nchw", "[]")))
        self._inputs = [_spec(v, v.name in self._nchw) for v in self._session.get_inputs()]
        self._outputs = [_spec(v, v.name in self._nchw) for v in self._session.get_outputs()]

    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        prepared = {}
        for spec in self._inputs:
            value = feed[spec.name]
            if spec.name in self._nchw:
                value = value.transpose(0, 3, 1, 2)
            prepared[spec.name] = value.astype(object) if spec.is_string else np.ascontiguousarray(value)
        results = self._session.run([spec.name for spec in self._outputs], prepared)
        results = [r.transpose(0, 2, 3, 1) if spec.name in self._nchw else r for spec, r in zip(self._outputs, results)]
        return [np.asarray(r).astype(str) if np.asarray(r).dtype == object else r for r in results]


def _spec(value, nchw: bool = False) -> TensorSpec:
    """The value's spec in the Keras layout (an NCHW-stored value is reported NHWC)."""
    shape = tuple(dim if isinstance(dim, int) and dim >= 0 else None for dim in value.shape)
    if nchw:
        shape = (shape[0], shape[2], shape[3], shape[1])
    return TensorSpec(value.name, _ORT_TYPES.get(value.type, value.type), shape)
