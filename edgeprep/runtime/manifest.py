"""The manifest: what was exported, from what, how, and with which parity evidence, as typed data.

`Manifest` is written as ``manifest.json`` by ``edgeprep export`` and read back, checked field by
field, by ``verify``, ``run`` and the shipped ``test_parity.py``. This module imports only the
standard library (and the runtime's errors): it is part of the deploy runtime shipped in every
export directory (``edgeprep_runtime/manifest.py``), so the deploy side reads the manifest without
edgeprep. ``edgeprep.manifest`` re-exports it.

Format ``edgeprep-manifest/2`` (the dataclasses below, in order; Enums as their strings): version 1
plus ``config`` holding every `edgeprep.ExportConfig` field that shapes the artifacts. Unknown keys
are ignored; an unknown version, a missing or a mistyped field is a `LoadError`. ``source.kind``
says what was read (``keras``, ``h5``, ``saved_model``, ``memory``, ``keras2_*``) and
``source.notes`` how. With a host split, each artifact lists its own ``inputs`` / ``outputs``,
``host_steps`` (ids in ``preprocess.json``, run in order before it) and ``host_outputs`` (model
outputs a host step computes); ``host`` describes ``preprocess.json``. A string input that the
artifacts take as UTF-8 bytes carries ``"encoding": "utf8-bytes"`` (`InputEncoding`), in ``inputs``
and in each artifact's ``input_encodings``. ``timing`` (optional, `StepTiming`) holds each export
step's wall time and peak RSS: the one part of ``manifest.json`` that differs between two exports of
the same model (``--no-timing`` leaves it out, for a byte-identical directory).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import platform
import sys
import types
import typing
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .errors import LoadError

FORMAT = "edgeprep-manifest/2"
MANIFEST = "manifest.json"
SHIPPED = "edgeprep_runtime/manifest.py"  # this module's path inside an export directory
TOOLS = ("edgeprep", "keras", "tf-keras", "tensorflow", "tensorflow-cpu", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert", "numpy")

Json = object  # any JSON value, kept as read (converter facts, data descriptions, per-output numbers)
Number = typing.Union[float, str, None]  # a float, or "inf" / "-inf" / null where it is not finite


def _key(name: str) -> dict:
    """Field metadata: the JSON key differs from the field name (``class`` is a keyword)."""
    return {"key": name}


_OPTIONAL = {"omit_none": True}  # the JSON key is absent (not null) when the value is None


@dataclass(frozen=True)
class Source:
    """The model that was exported."""

    path: str | None
    sha256: str | None
    kind: str
    notes: tuple[str, ...]
    keras_version: str | None
    tensorflow_version: str | None


@dataclass(frozen=True)
class Config:
    """The export configuration: every `edgeprep.ExportConfig` field but ``unsafe_load``, ``threads`` and ``timing``."""

    targets: tuple[str, ...]
    batch: int | None
    quantize: str
    fold: bool
    onnx_opset: int | None  # None: chosen per export (17, or 18 for in-graph hashing); the ONNX artifact's graph.opset has it
    allow_flex: bool
    onnx_extensions: bool
    host_steps: bool
    onnx_layout: str
    onnx_optimize: str
    int8_io: str | None
    int8_per_channel: bool
    calibration: str | None
    calibration_samples: int
    seed: int
    batch_sizes: tuple[int, ...]
    custom_objects: tuple[str, ...]
    data: str | None
    resize_images: bool
    data_batch: int
    golden_kb: int
    metadata: bool = False  # fields with a default may be missing (manifests of an earlier edgeprep)
    labels: str | None = None
    micro: bool = False
    max_bytes: int | None = None


class InputEncoding(enum.StrEnum):
    """How an artifact takes an input that is not in its Keras dtype (`Tensor.encoding`)."""

    UTF8_BYTES = "utf8-bytes"  # a string input (batch, *S) as uint8 (batch, *S, N), zero padded (edgeprep.runtime.text)


@dataclass(frozen=True)
class Tensor:
    """Name, dtype and shape (None: dynamic) of one input or output; ``encoding`` (an `InputEncoding`
    value) when the artifacts take the input in another form than its Keras dtype and shape."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]
    encoding: str | None = field(default=None, metadata=_OPTIONAL)


@dataclass(frozen=True)
class Container:
    """A nested model or pipeline whose layers were inlined."""

    path: str
    class_name: str = field(metadata=_key("class"))


@dataclass(frozen=True)
class Transform:
    """What the plan did with one layer (per target where the targets disagree)."""

    layer: str
    class_name: str = field(metadata=_key("class"))
    action: str
    detail: str
    target: str | None = field(default=None, metadata=_OPTIONAL)


@dataclass(frozen=True)
class Artifact:
    """One written artifact, its interface and what it needs to run."""

    target: str
    file: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    host_steps: tuple[str, ...]
    host_outputs: dict[str, str]
    sha256: str
    bytes: int
    ops: dict[str, int]
    runtime_requirements: tuple[str, ...]
    quantization: str
    graph: dict[str, Json]
    input_encodings: dict[str, str] | None = field(default=None, metadata=_OPTIONAL)  # input -> InputEncoding value


@dataclass(frozen=True)
class HostStep:
    """One host step: what it reproduces and which targets run it."""

    id: str
    class_name: str = field(metadata=_key("class"))
    kind: str
    inputs: tuple[str, ...]
    output: str
    dtype: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Host:
    """The host preprocessing spec file and its steps."""

    file: str
    steps: tuple[HostStep, ...]
    sha256: str


@dataclass(frozen=True)
class Criteria:
    """Pass criteria (see `edgeprep.runtime.compare.Tolerance`), with per-output overrides."""

    rtol: float | None
    atol: float
    min_top1: float | None
    min_sqnr_db: float | None
    overrides: dict[str, Criteria] | None = field(default=None, metadata=_OPTIONAL)

    def for_output(self, name: str) -> Criteria:
        return (self.overrides or {}).get(name, self)


@dataclass(frozen=True)
class Samples:
    """What parity ran on: ``source`` is "generated" or the data file's description."""

    source: typing.Union[str, dict[str, Json]]
    count: int
    seed: int | None
    batch_sizes: tuple[int, ...]
    ranges: dict[str, str] | None
    coverage: dict[str, str] | None = field(default=None, metadata=_OPTIONAL)  # generated: what the samples hit, counted


@dataclass(frozen=True)
class Golden:
    """The golden vectors: files, the batches they were recorded in, and what produced the outputs."""

    inputs: str
    outputs: str
    batches: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    reference: str
    device_inputs: dict[str, str] | None = field(default=None, metadata=_OPTIONAL)  # target -> file, after host steps

    def inputs_for(self, target: str) -> str:
        """The golden inputs as ``target``'s artifact sees them."""
        return (self.device_inputs or {}).get(target, self.inputs)


@dataclass(frozen=True)
class Report:
    """One parity report (`edgeprep.runtime.compare.ParityReport.to_json`)."""

    target: str
    reference: str
    passed: bool
    max_abs: Number
    max_rel: Number
    top1: float | None
    atol: float
    rtol: float | None
    tolerance: Criteria
    samples: int
    batch_sizes: tuple[int, ...]
    outputs: tuple[dict[str, Json], ...]


@dataclass(frozen=True)
class Chain:
    """The first link of the chain: the transformed Keras model against the original."""

    transformed_vs_keras: Report | None
    note: str | None


@dataclass(frozen=True)
class Parity(Report):
    """One target's verdict and its chain."""

    chain: Chain


@dataclass(frozen=True)
class QuantizationEntry:
    """How the artifacts were quantized (and calibrated)."""

    mode: str
    int8_io: str | None
    calibration: dict[str, Json] | None
    int8_weights: str | None
    int8_activations: dict[str, str] | None


@dataclass(frozen=True)
class StepTiming:
    """What one export step cost (`edgeprep.memory.StepMeasure`): wall seconds, and the process tree's
    peak and final resident set size in MiB (null without ``/proc``)."""

    step: str
    seconds: float
    peak_rss_mb: float | None
    rss_after_mb: float | None


@dataclass(frozen=True)
class Manifest:
    """Everything one export wrote and measured; ``manifest.json`` is its `to_json`."""

    passed: bool
    source: Source
    tools: dict[str, str]
    config: Config
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    containers: tuple[Container, ...]
    transforms: tuple[Transform, ...]
    artifacts: tuple[Artifact, ...]
    host: Host | None
    tolerance: Criteria
    samples: Samples
    golden: Golden
    parity: tuple[Parity, ...]
    quantization: QuantizationEntry
    format: str = FORMAT
    timing: tuple[StepTiming, ...] | None = field(default=None, metadata=_OPTIONAL)  # steps before the write; None: --no-timing or an earlier edgeprep

    def without_timing(self) -> Manifest:
        """This manifest without ``timing``: what two exports of the same model agree on byte for byte."""
        return dataclasses.replace(self, timing=None)

    def artifact(self, target: str) -> Artifact | None:
        """The artifact entry of ``target`` (its string, as in the JSON), or None."""
        return next((entry for entry in self.artifacts if entry.target == target), None)

    def to_json(self) -> dict:
        """The JSON object of ``manifest.json`` (``format`` first)."""
        data = encode(self)
        return {"format": data.pop("format"), **data}

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2, allow_nan=True) + "\n").encode()

    def __getitem__(self, key: str):
        """The JSON view by top-level key, as a reader of ``manifest.json`` sees it."""
        return self.to_json()[key]

    @classmethod
    def from_json(cls, data: Json, origin: str = MANIFEST) -> Manifest:
        """Check ``data`` field by field against this format.

        Raises:
            LoadError: one line naming ``origin``, the field and "re-run edgeprep export".
        """
        if not isinstance(data, dict):
            raise LoadError(f"{origin}: not an {FORMAT} manifest (a JSON object expected); re-run edgeprep export")
        if data.get("format") != FORMAT:
            raise LoadError(f"{origin}: format {data.get('format')!r} is not {FORMAT!r}; re-run edgeprep export")
        return _decode(cls, data, "", origin)

    @classmethod
    def read(cls, directory: str | Path) -> Manifest:
        """Read and check ``directory/manifest.json``.

        Raises:
            LoadError: the directory or manifest is missing, unreadable, of another version, or has a
                missing or mistyped field.
        """
        directory = Path(directory)
        path = directory / MANIFEST
        if not directory.is_dir():
            raise LoadError(f"{directory}: not a directory; pass the --out directory of an edgeprep export")
        if not path.is_file():
            raise LoadError(f"{directory}: no {MANIFEST}; pass the --out directory of an edgeprep export")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
            raise LoadError(f"{path}: unreadable manifest ({exc}); re-run edgeprep export") from None
        return cls.from_json(data, str(path))


def tool_versions() -> dict[str, str]:
    """Versions of every tool in the chain that is installed."""
    versions = {"python": platform.python_version()}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


# --- JSON <-> dataclasses: one generic encoder and one checking decoder ---------------------------


def encode(value):
    """``value`` (a manifest dataclass, or a tuple / dict of them) as JSON data."""
    if dataclasses.is_dataclass(value):
        data = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None and f.metadata.get("omit_none"):
                continue
            data[f.metadata.get("key", f.name)] = encode(item)
        return data
    if isinstance(value, (tuple, list)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return value


def decode(cls, data, origin: str = MANIFEST):
    """``data`` (JSON) as manifest dataclass ``cls``, checked as `Manifest.read` checks a file."""
    return _decode(cls, data, "", origin)


def _hints(cls) -> dict:
    return typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))


def _decode(tp, value, where: str, origin: str):
    """``value`` (parsed JSON) as type ``tp``, or a LoadError naming the field ``where``."""
    if tp is object:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            _fail(origin, where, "is not an object")
        hints, kwargs = _hints(tp), {}
        for f in dataclasses.fields(tp):
            key = f.metadata.get("key", f.name)
            path = f"{where}.{key}" if where else key
            if key not in value:
                if f.metadata.get("omit_none") or f.default is not dataclasses.MISSING:
                    continue
                _fail(origin, path, "is missing")
            kwargs[f.name] = _decode(hints[f.name], value[key], path, origin)
        return tp(**kwargs)
    origin_type, args = typing.get_origin(tp), typing.get_args(tp)
    if origin_type in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for alternative in (a for a in args if a is not type(None)):
            try:
                return _decode(alternative, value, where, origin)
            except LoadError:
                continue
        _fail(origin, where, f"is {_describe(value)}, not {_name(tp)}")
    if origin_type is tuple:
        if not isinstance(value, list):
            _fail(origin, where, f"is {_describe(value)}, not a list")
        return tuple(_decode(args[0], item, f"{where}[{i}]", origin) for i, item in enumerate(value))
    if origin_type is dict:
        if not isinstance(value, dict):
            _fail(origin, where, f"is {_describe(value)}, not an object")
        return {key: _decode(args[1], item, f"{where}.{key}", origin) for key, item in value.items()}
    if tp is type(None):
        if value is not None:
            _fail(origin, where, f"is {_describe(value)}, not null")
        return None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        _fail(origin, where, f"is {_describe(value)}, not {_name(tp)}")
    return value


def _fail(origin: str, where: str, problem: str) -> typing.NoReturn:
    raise LoadError(f"{origin}: field {where or '(top level)'} {problem}; re-run edgeprep export")


def _describe(value) -> str:
    return "null" if value is None else f"{type(value).__name__} {json.dumps(value)[:40]}"


def _name(tp) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))
