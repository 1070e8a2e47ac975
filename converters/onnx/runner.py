"""The ONNX backend's runner: `edgeprep.runtime.onnx`, the deploy runtime's (shipped with every export)."""

from edgeprep.runtime.onnx import (  # noqa: F401  (re-exported for the backend and the converter)
    CONTRIB_DOMAIN, ONNX_EXTENSIONS, ONNXRUNTIME_ONLY, ORT_DOMAIN, STANDARD_DOMAINS, ONNXRunner,
)
