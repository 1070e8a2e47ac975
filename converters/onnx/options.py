"""What the ONNX converter takes beyond the model (`edgeprep.backend.TargetOptions` plus its own flags)."""

from __future__ import annotations

from dataclasses import dataclass

from edgeprep.backend import TargetOptions
from edgeprep.config import ExportConfig, OnnxLayout, OnnxOptimize


@dataclass(frozen=True)
class ONNXOptions(TargetOptions):
    """ONNX conversion options.

    Attributes:
        opset: the ONNX opset.
        layout: layout of rank-4 inputs and outputs (NCHW: no layout Transpose at all).
        optimize: portable (standard ops) or onnxruntime's offline fusions (ORT-only ops).
        extensions: accept onnxruntime-extensions string ops (``ai.onnx.contrib``).
    """

    opset: int = 17
    layout: OnnxLayout = OnnxLayout.NHWC
    optimize: OnnxOptimize = OnnxOptimize.PORTABLE
    extensions: bool = False

    @classmethod
    def own_fields(cls, config: ExportConfig) -> dict:
        return dict(opset=config.onnx_opset, layout=config.onnx_layout, optimize=config.onnx_optimize, extensions=config.onnx_extensions)
