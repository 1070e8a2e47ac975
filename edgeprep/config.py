"""Configuration as data: targets, actions and the export configuration.

Strings exist only at the CLI edge; everything past it speaks in these Enums and frozen dataclasses.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

from edgeprep import manifest
from edgeprep.errors import LoadError, UsageError
from edgeprep.runtime.host.steps import HostKind  # noqa: F401  (the deploy runtime owns the preprocess.json kinds)


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


class Int8IO(enum.StrEnum):
    """Integer inputs/outputs of an int8 TFLite artifact (a StrEnum: converter tables key it by its value)."""

    INT8 = "int8"
    UINT8 = "uint8"


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
DEFAULT_ONNX_OPSET = 17  # ExportConfig.onnx_opset=None: this, or 18 for in-graph hashing
MICRO_MAX_BYTES = 256  # --micro's default --max-bytes: the static UTF-8 bytes of one text (tflite-micro has no dynamic shapes)
MICRO_BYTES_LIMIT = 1 << 20  # the largest --max-bytes (--micro: edgeprep.ingraph.tflm counts positions in float32; else memory per call)


@dataclass(frozen=True)
class ExportConfig:
    """Everything that shapes one export.

    Attributes:
        targets: artifact formats to write, in order.
        batch: a static batch size, or None for a dynamic batch dimension.
        quantize: weight/activation storage of the artifacts.
        fold: fold affine preprocessing into neighbouring weights.
        unsafe_load: allow model files to run code on load (Lambda layers). Trusted files only.
        onnx_opset: the ONNX opset of the artifact; None (the default) picks it from the plan: 18 when
            the ONNX artifact computes 64-bit hashes in graph (BitwiseXor, several times faster than
            opset 17's byte-table XOR), else `DEFAULT_ONNX_OPSET` (`edgeprep.transforms.in_graph.onnx_opset`).
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
        int8_io: integer IO for an int8 TFLite artifact; None keeps float IO.
        int8_per_channel: per-channel int8 weight scales (best accuracy); False: one scale per
            tensor (smaller files: no per-channel scale/zero-point tables).
        allow_flex: let TFLite artifacts use Select-TF ("Flex") ops where a layer has no builtin
            lowering, instead of a host step (manifest ``runtime_requirements: ["tflite-flex"]``).
        onnx_extensions: let ONNX artifacts use onnxruntime-extensions string ops (``ai.onnx.contrib``)
            where a layer has no standard lowering, instead of a host step.
        onnx_layout: layout of the ONNX artifact's rank-4 inputs and outputs.
        onnx_optimize: how far the ONNX graph is optimised.
        host_steps: keep TextVectorization, Hashing and HashedCrossing (and what they pull with them)
            as host steps in front of the artifact, as before issue 16; by default they are lowered
            into the artifact, which then takes text as UTF-8 bytes (``--host-steps``).
        metadata: TFLite: attach the TFLite model metadata MediaPipe Tasks need to load the artifact
            (`converters.tflite.metadata`); inputs MediaPipe cannot take are refused.
        labels: TFLite with ``metadata``: a text file of class labels, one per line, as many as the
            output has classes.
        micro: a TFLite artifact that TensorFlow Lite for Microcontrollers runs (``--micro``): implies
            ``batch=1``, ``quantize=INT8`` and ``int8_io=INT8`` (what TFLM applications feed), lowers
            lookups and encodings with kernels TFLM registers, refuses ops it lacks, and measures the
            tensor arena in tflite-micro (`converters.tflite.micro`). With the default ``targets`` it
            narrows them to TFLite; an explicit ONNX target is refused.
        max_bytes: a static UTF-8 bytes axis for string inputs the artifact reads as bytes
            (`edgeprep.runtime.text`): each text is exactly ``max_bytes`` bytes, zero padded, and a
            longer one is refused by the runners (never truncated). None keeps the axis dynamic;
            ``micro`` (static shapes only) defaults it to `MICRO_MAX_BYTES` (``--max-bytes``).
        timing: record each step's wall time and peak RSS in ``manifest.json`` (``timing``); False
            (``--no-timing``) leaves it out, so that two exports of one model are byte-identical.
    """

    targets: tuple[Target, ...] = ALL_TARGETS
    batch: int | None = None
    quantize: Quantization = Quantization.NONE
    fold: bool = True
    unsafe_load: bool = False
    onnx_opset: int | None = None
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
    int8_io: Int8IO | None = None
    int8_per_channel: bool = True
    allow_flex: bool = False
    onnx_extensions: bool = False
    onnx_layout: OnnxLayout = OnnxLayout.NHWC
    onnx_optimize: OnnxOptimize = OnnxOptimize.PORTABLE
    host_steps: bool = False
    metadata: bool = False
    labels: str | None = None
    micro: bool = False
    max_bytes: int | None = None
    timing: bool = True

    def __post_init__(self) -> None:
        """Refuse what cannot be exported, with the same one-line `UsageError` the CLI prints.

        Raises:
            UsageError: a field of the wrong type, out of range, or an option its mode ignores.
        """
        for name, kind in _ENUMS.items():
            value = getattr(self, name)
            if not isinstance(value, kind) and not (name == "int8_io" and value is None):
                raise UsageError(f"{name}={value!r}: expected one of {', '.join(f'{kind.__name__}.{m.name}' for m in kind)}")
        if not self.targets or not all(isinstance(t, Target) for t in self.targets) or len(set(self.targets)) != len(self.targets):
            raise UsageError(f"targets={self.targets!r}: expected distinct Target values, at least one")
        for name in ("onnx_opset", "threads", "data_batch", "golden_kb", "calibration_samples"):
            if name != "onnx_opset" or self.onnx_opset is not None:
                _check_int(name, getattr(self, name), minimum=1)
        _check_int("seed", self.seed, minimum=0)
        if self.batch is not None:
            _check_int("batch", self.batch, minimum=1)
        if self.max_bytes is not None:
            _check_int("max_bytes", self.max_bytes, minimum=1)
        if not self.batch_sizes or not isinstance(self.batch_sizes, tuple):
            raise UsageError(f"batch_sizes={self.batch_sizes!r}: expected a tuple of batch sizes, at least one")
        for size in self.batch_sizes:
            _check_int("batch_sizes", size, minimum=1)
        for name in ("fold", "unsafe_load", "resize_images", "int8_per_channel", "allow_flex", "onnx_extensions", "host_steps", "metadata", "micro"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name}={getattr(self, name)!r}: expected True or False")
        if not isinstance(self.custom_objects, tuple) or not all(isinstance(c, str) for c in self.custom_objects):
            raise UsageError(f"custom_objects={self.custom_objects!r}: expected a tuple of 'module:Name' strings")
        for name in ("data", "calibration", "labels"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise UsageError(f"{name}={getattr(self, name)!r}: expected a path string or None")
        if self.micro:
            self._imply_micro()
        if self.max_bytes is not None and self.max_bytes > MICRO_BYTES_LIMIT:  # --micro has its own reason above
            raise UsageError(f"max_bytes={self.max_bytes} (--max-bytes): at most {MICRO_BYTES_LIMIT} bytes per text (every call feeds "
                             "batch x N bytes); leave --max-bytes out for a bytes axis as long as each batch's longest text")
        if (self.calibration or self.int8_io or not self.int8_per_channel) and self.quantize is not Quantization.INT8:
            raise UsageError("calibration, int8_io and int8_per_channel=False (--calibration, --int8-io, --int8-per-tensor) apply to --quantize int8 only")
        if self.labels is not None and not self.metadata:
            raise UsageError(f"labels={self.labels!r} (--labels): the labels go into the TFLite metadata; add --metadata")
        if self.metadata and Target.TFLITE not in self.targets:
            raise UsageError("metadata=True (--metadata): writes TFLite model metadata; add --target tflite")

    def _imply_micro(self) -> None:
        """``micro``: TFLite only, static batch 1, full int8 with int8 IO (set here when left at their defaults)."""
        if self.targets == ALL_TARGETS:
            object.__setattr__(self, "targets", (Target.TFLITE,))
        if self.targets != (Target.TFLITE,):
            raise UsageError("--micro writes a TFLite artifact for tflite-micro: pass --target tflite (or no --target)")
        for name, implied in (("batch", 1), ("quantize", Quantization.INT8), ("int8_io", Int8IO.INT8)):
            value = getattr(self, name)
            if value in (None, Quantization.NONE):
                object.__setattr__(self, name, implied)
        if self.max_bytes is None:
            object.__setattr__(self, "max_bytes", MICRO_MAX_BYTES)
        if self.max_bytes > MICRO_BYTES_LIMIT:
            raise UsageError(f"max_bytes={self.max_bytes} (--max-bytes): --micro takes at most {MICRO_BYTES_LIMIT} bytes per text "
                             "(its text steps count positions in float32, exact below 2**24)")
        if self.batch != 1 or self.quantize is not Quantization.INT8 or self.allow_flex:
            raise UsageError(f"--micro implies --batch 1 --quantize int8 and no --allow-flex (tflite-micro runs static, full-integer, "
                             f"builtin models); drop --batch {self.batch} / --quantize {self.quantize.value} / --allow-flex")

    def parity_batch_sizes(self) -> tuple[int, ...]:
        return (self.batch,) if self.batch else self.batch_sizes

    def with_changes(self, **changes) -> ExportConfig:
        """A copy with ``changes``; Enum fields and ``targets`` also take their strings ("int8", ["onnx"]),
        tuple fields also lists; repeated targets count once, as with the CLI's ``--target``.

        Raises:
            UsageError: an unknown field, an unknown string, or a config `__post_init__` refuses.
        """
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise UsageError(f"unknown export option(s) {', '.join(unknown)}; see the fields of edgeprep.ExportConfig")
        if "targets" in changes:
            targets = changes["targets"]
            changes["targets"] = tuple(dict.fromkeys(_member(Target, "targets", t) for t in ([targets] if isinstance(targets, (str, Target)) else targets)))
        for name, kind in _ENUMS.items():
            if isinstance(changes.get(name), str):
                changes[name] = _member(kind, name, changes[name])
        for name in ("batch_sizes", "custom_objects"):
            if isinstance(changes.get(name), list):
                changes[name] = tuple(changes[name])
        return dataclasses.replace(self, **changes)

    def to_manifest(self) -> manifest.Config:
        """The manifest's record of this config (Enums as their strings)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(manifest.Config)}
        values["targets"] = tuple(t.value for t in self.targets)
        for name in _ENUMS:
            values[name] = values[name].value if values[name] is not None else None
        return manifest.Config(**values)

    @classmethod
    def from_manifest(cls, config: manifest.Config, **changes) -> ExportConfig:
        """The config an export was made with, from its manifest record, with ``changes`` applied.

        Raises:
            LoadError: a recorded value that is not one of this edgeprep's choices.
        """
        values = {f.name: getattr(config, f.name) for f in dataclasses.fields(manifest.Config)}
        try:
            values["targets"] = tuple(Target(t) for t in config.targets)
            for name, kind in _ENUMS.items():
                values[name] = kind(values[name]) if values[name] is not None else None
        except ValueError as exc:
            raise LoadError(f"{manifest.MANIFEST}: field config: {exc}; re-run edgeprep export") from None
        return cls(**{**values, **changes})


_ENUMS: dict[str, type[enum.Enum]] = {"quantize": Quantization, "int8_io": Int8IO, "onnx_layout": OnnxLayout, "onnx_optimize": OnnxOptimize}


def _member(kind: type[enum.Enum], name: str, value):
    try:
        return kind(value)
    except ValueError:
        raise UsageError(f"{name}={value!r}: expected one of {', '.join(repr(m.value) for m in kind)}") from None


_FLAGS = {"batch": " (--batch)", "onnx_opset": " (--opset)", "seed": " (--seed)", "golden_kb": " (--golden-kb)", "threads": " (--threads)", "max_bytes": " (--max-bytes)"}


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name}={value!r}{_FLAGS.get(name, '')}: expected an integer")
    if value < minimum:
        raise UsageError(f"{name}={value}{_FLAGS.get(name, '')}: must be at least {minimum}")
