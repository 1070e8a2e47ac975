"""Configuration as data: targets, actions and the export configuration.

Strings exist only at the CLI edge; everything past it speaks in these Enums and frozen dataclasses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Target(enum.Enum):
    """An artifact format edgeprep writes."""

    TFLITE = "tflite"
    ONNX = "onnx"

    @property
    def filename(self) -> str:
        return f"model.{self.value}"


class Quantization(enum.Enum):
    """How an artifact's weights (and activations) are stored."""

    NONE = "none"
    FLOAT16 = "float16"
    DYNAMIC = "dynamic"
    INT8 = "int8"


class OnnxLayout(enum.Enum):
    """Layout of the ONNX artifact's rank-4 image inputs and outputs."""

    NHWC = "nhwc"  # as in Keras: one layout Transpose at the input
    NCHW = "nchw"  # ONNX's native layout: no layout Transpose at all


class OnnxOptimize(enum.Enum):
    """How far the ONNX graph is optimised after conversion."""

    PORTABLE = "portable"  # tf2onnx (repaired) + onnxsim: standard ops only, runs anywhere
    ORT = "ort"  # additionally onnxruntime's offline fusions: ORT-specific ops, ORT only


class Action(enum.Enum):
    """What the plan does with one layer call."""

    STRIPPED = "stripped"  # training-only: removed, its input flows through
    FOLDED = "folded"  # merged into a neighbouring layer's weights
    LOWERED = "lowered"  # rewritten into ops the target runtime has built in
    REPLACED = "replaced"  # swapped for its deterministic inference-time equivalent
    HOST = "host"  # runs on the host before the device artifact (host split)
    KEPT = "kept"  # exported as it is
    UNSUPPORTED = "unsupported"  # cannot be exported to this target


ALL_TARGETS: tuple[Target, ...] = (Target.TFLITE, Target.ONNX)


class HostKind(enum.Enum):
    """Which host implementation reproduces a layer that runs before the device artifact.

    The value is the ``kind`` written to ``preprocess.json``.
    """

    INDEX_LOOKUP = "index_lookup"
    DISCRETIZATION = "discretization"
    CATEGORY_ENCODING = "category_encoding"
    HASHING = "hashing"
    HASHED_CROSSING = "hashed_crossing"
    TEXT_VECTORIZATION = "text_vectorization"


@dataclass(frozen=True)
class ExportConfig:
    """Everything that shapes one export.

    Attributes:
        targets: artifact formats to write, in order.
        batch: a static batch size, or None for a dynamic batch dimension.
        quantize: weight/activation storage of the artifacts.
        fold: fold affine preprocessing into neighbouring weights.
        unsafe_load: allow model files to run code on load (Lambda layers). Trusted files only.
        onnx_opset: the ONNX opset of the artifact.
        seed: seed of the generated parity samples.
        batch_sizes: the batch sizes parity runs at (ignored with a static batch).
        threads: interpreter threads used while verifying.
        custom_objects: ``module:Name`` strings of custom classes the model file uses.
        data: a data file or image folder to verify on (see `edgeprep.data`); None generates samples.
        resize_images: resize images of a ``data`` folder to the input size.
        data_batch: rows per batch when streaming ``data``.
        golden_kb: size budget of the golden vectors written to the export directory.
        calibration: data to calibrate int8 quantization on (same formats as ``data``).
        calibration_samples: at most this many calibration samples are used.
        int8_io: "int8" or "uint8" integer IO for an int8 TFLite artifact; None keeps float IO.
        int8_per_channel: per-channel int8 weight scales (best accuracy); False: one scale per
            tensor (smaller files: no per-channel scale/zero-point tables).
        allow_flex: let TFLite artifacts use Select-TF ("Flex") ops where a layer has no builtin
            lowering, instead of a host step (manifest ``runtime_requirements: ["tflite-flex"]``).
        onnx_extensions: let ONNX artifacts use onnxruntime-extensions string ops (``ai.onnx.contrib``)
            where a layer has no standard lowering, instead of a host step.
        onnx_layout: layout of the ONNX artifact's rank-4 inputs and outputs.
        onnx_optimize: how far the ONNX graph is optimised.
    """

    targets: tuple[Target, ...] = ALL_TARGETS
    batch: int | None = None
    quantize: Quantization = Quantization.NONE
    fold: bool = True
    unsafe_load: bool = False
    onnx_opset: int = 17
    seed: int = 0
    batch_sizes: tuple[int, ...] = (1, 3)
    threads: int = 1
    custom_objects: tuple[str, ...] = field(default=())
    data: str | None = None
    resize_images: bool = False
    data_batch: int = 256
    golden_kb: int = 512
    calibration: str | None = None
    calibration_samples: int = 256
    int8_io: str | None = None
    int8_per_channel: bool = True
    allow_flex: bool = False
    onnx_extensions: bool = False
    onnx_layout: OnnxLayout = OnnxLayout.NHWC
    onnx_optimize: OnnxOptimize = OnnxOptimize.PORTABLE

    def parity_batch_sizes(self) -> tuple[int, ...]:
        return (self.batch,) if self.batch else self.batch_sizes
