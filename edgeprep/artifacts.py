"""What a converter produces, the op policy every artifact must meet, and the backend table.

``edgeprep`` reaches ``converters`` only through `backend`, a table built at call time, so that
importing edgeprep (or running an artifact on the deploy side) never imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from edgeprep.config import OnnxLayout, OnnxOptimize, Quantization, Target

# Ops that draw random numbers: none may survive into an inference artifact.
# runtime_requirements values, and the opt-ins that produce them.
TFLITE_FLEX = "tflite-flex"
ONNX_EXTENSIONS = "onnxruntime-extensions"

RANDOM_OPS = frozenset(
    {
        # TFLite builtins
        "RANDOM_UNIFORM", "RANDOM_STANDARD_NORMAL", "MULTINOMIAL",
        # ONNX
        "RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike", "Multinomial", "Bernoulli",
    }
)


@dataclass(frozen=True)
class ConvertOptions:
    """What a converter needs beyond the model.

    Attributes:
        input_names / output_names: the Keras names, in model order.
        quantize: weight/activation storage.
        onnx_opset: the ONNX opset.
        allow_flex: accept Select-TF ops in TFLite (recorded as a runtime requirement).
        calibration: for int8, a callable returning an iterable of named input batches.
        int8_io: "int8" or "uint8" to make a TFLite int8 model's inputs/outputs integer; None keeps float.
        int8_per_channel: per-channel int8 weight scales; False for one scale per tensor.
    """

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    quantize: Quantization = Quantization.NONE
    onnx_opset: int = 17
    allow_flex: bool = False
    calibration: Callable[[], Iterable[Mapping[str, np.ndarray]]] | None = field(default=None, compare=False)
    int8_io: str | None = None
    int8_per_channel: bool = True
    onnx_extensions: bool = False
    onnx_layout: OnnxLayout = OnnxLayout.NHWC
    onnx_optimize: OnnxOptimize = OnnxOptimize.PORTABLE


@dataclass(frozen=True)
class Artifact:
    """One converted model.

    Attributes:
        target: its format.
        data: the serialized model.
        ops: op name -> count (ONNX ops from non-default domains are written ``domain::Op``).
        runtime_requirements: what the stock runtime lacks for it (empty for builtin-only files).
        facts: what the converter measured about the graph (recorded in the manifest).
    """

    target: Target
    data: bytes = field(repr=False)
    ops: dict[str, int]
    runtime_requirements: tuple[str, ...] = ()
    quantization: Quantization = Quantization.NONE
    facts: dict = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return self.target.filename


@dataclass(frozen=True)
class Backend:
    """A target's converter and runner."""

    target: Target
    convert: Callable[..., Artifact]
    runner: Callable[..., object]


def backend(target: Target, need_converter: bool = True) -> Backend:
    """The backend of ``target``; with ``need_converter=False`` only the (TF-free) runner is imported."""
    if target is Target.TFLITE:
        from converters.tflite.runner import TFLiteRunner as runner

        convert = _lazy("converters.tflite.convert") if need_converter else None
    elif target is Target.ONNX:
        from converters.onnx.runner import ONNXRunner as runner

        convert = _lazy("converters.onnx.convert") if need_converter else None
    else:  # pragma: no cover - Enum is closed
        raise ValueError(target)
    return Backend(target, convert, runner)


def _lazy(module_name: str) -> Callable[..., Artifact]:
    import importlib

    return importlib.import_module(module_name).convert
