"""MediaPipe-ready TFLite model metadata (``--metadata``): the TFLite Metadata flatbuffer and its labels.

MediaPipe Tasks (ImageClassifier, ...) load a model only with the metadata TFLite Support defines
(``metadata_schema.fbs``, file identifier ``M001``): a ``ModelMetadata`` flatbuffer stored in a
model buffer that the model's ``metadata`` entry named ``TFLITE_METADATA`` points to, and the
associated files (the labels) zipped onto the end of the flatbuffer. mediapipe's own writers need
its C++ extension (``mediapipe.tasks.cc``, absent from the wheel), so `encode` writes the table with
the ``flatbuffers`` package, slot by slot as the schema numbers its fields.

What is written: the model's name and edgeprep version; the image input as RGB with its size and
``NormalizationOptions`` mean 0, std 1 for a float input (the artifact takes what the Keras model
takes: raw pixel values, its Rescaling / Normalization folded into the weights or kept in the graph,
so MediaPipe must feed pixels unchanged) and the pixel range 0..255 as its stats; each output as
scores (probabilities with stats 0..1 when a SOFTMAX or LOGISTIC produces it), with ``--labels`` as
a ``TENSOR_AXIS_LABELS`` file. Inputs MediaPipe cannot take are refused before conversion
(`describe`) with the reason MediaPipe gives (measured: tests/clients/test_mediapipe.py).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprep.errors import UsageError

METADATA_NAME = "TFLITE_METADATA"  # the model metadata entry MediaPipe reads
IDENTIFIER = b"M001"  # metadata_schema.fbs file_identifier
LABELS_FILE = "labels.txt"  # the associated file's name inside the zip
MIN_PARSER_VERSION = "1.0.0"  # only 1.0.0 fields are written (TFLite Support's metadata_version.cc)
PIXEL_RANGE = (0.0, 255.0)  # what MediaPipe feeds a float model after mean 0, std 1
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so that an export is byte-for-byte reproducible

# metadata_schema.fbs enum and union values.
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES = 1, 2  # ContentProperties
_NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions
_RGB = 1  # ColorSpaceType
_TENSOR_AXIS_LABELS = 2  # AssociatedFileType


@dataclass(frozen=True)
class ImageInput:
    """The one RGB image input MediaPipe's vision tasks feed."""

    name: str
    height: int
    width: int


@dataclass(frozen=True)
class Output:
    """One classifier head: its tensor name and number of classes."""

    name: str
    width: int


@dataclass(frozen=True)
class Description:
    """What the metadata says about a model (everything but what the converted flatbuffer adds)."""

    model_name: str
    version: str
    image: ImageInput
    outputs: tuple[Output, ...]
    labels: tuple[str, ...] | None = None


def describe(model, input_names: tuple[str, ...], output_names: tuple[str, ...], labels: str | None) -> Description:
    """The metadata of the Keras ``model`` (the device model about to be converted), or why MediaPipe cannot take it.

    Raises:
        UsageError: more than one input, an input that is not an RGB float image of a fixed size
            (MediaPipe feeds 3 channels), an output that is not (batch, classes), or
            a ``labels`` file whose line count differs from the output width.
    """
    from edgeprep import __version__

    if len(model.inputs) != 1:
        raise UsageError(f"--metadata: the model has {len(model.inputs)} inputs ({', '.join(input_names)}); MediaPipe's classifiers take one image or one text input")
    tensor, name = model.inputs[0], input_names[0]
    shape, dtype = tuple(tensor.shape), str(getattr(tensor.dtype, "name", tensor.dtype))
    if len(shape) != 4 or "float" not in dtype:
        raise UsageError(
            f"--metadata: input {name!r} is {dtype} {_shape(shape)}, not an image (batch, height, width, 3); "
            "MediaPipe's ImageClassifier takes images, and its TextClassifier raw text or int32 ids it tokenizes itself, "
            "which edgeprep's text artifacts do not match exactly (docs/UPSTREAM.md); export without --metadata"
        )
    if shape[3] != 3:
        raise UsageError(f"--metadata: input {name!r} {_shape(shape)} has {shape[3]} channel(s); MediaPipe's ImageClassifier feeds 3 "
                         "(RGB): it refuses 1 channel when created (\"depth = 3 or 4\") and fails at every classify with 4: give the model an RGB input")
    if shape[1] is None or shape[2] is None:
        raise UsageError(f"--metadata: input {name!r} {_shape(shape)} has no fixed height and width; MediaPipe resizes "
                         "every image to the size the model's input gives: give its Input a height and width")
    outputs = []
    for out, out_name in zip(model.outputs, output_names):
        if len(out.shape) != 2 or out.shape[1] is None:
            raise UsageError(f"--metadata: output {out_name!r} is {_shape(tuple(out.shape))}; MediaPipe's classifiers read (batch, classes) scores")
        outputs.append(Output(out_name, int(out.shape[1])))
    return Description(model.name, __version__, ImageInput(name, int(shape[1]), int(shape[2])),
                       tuple(outputs), read_labels(labels, outputs) if labels else None)


LABELS_BYTES_LIMIT = 16 << 20  # labels for a classifier; the file is bundled into the artifact


def read_labels(path: str, outputs: list[Output]) -> tuple[str, ...]:
    """The labels of ``path``, one per line, as many as the one output has classes.

    Raises:
        UsageError: an unreadable file, several outputs, an empty line or the wrong count.
    """
    if len(outputs) != 1:
        raise UsageError(f"--labels {path}: the model has {len(outputs)} outputs; one labels file names the classes of one output")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(LABELS_BYTES_LIMIT + 1)  # bounded: a device or a huge file is refused, not read whole
        if len(raw) > LABELS_BYTES_LIMIT:
            raise UsageError(f"--labels {path}: over {LABELS_BYTES_LIMIT // (1 << 20)} MiB; give a UTF-8 text file, one label per line")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--labels {path}: cannot read it ({getattr(exc, 'strerror', None) or exc}); give a UTF-8 text file, one label per line") from None
    labels = tuple(text.splitlines())
    empty = [i + 1 for i, label in enumerate(labels) if not label.strip()]
    if empty:
        raise UsageError(f"--labels {path}: line {empty[0]} is empty; give one label per line")
    if len(labels) != outputs[0].width:
        raise UsageError(f"--labels {path}: {len(labels)} label(s) for output {outputs[0].name!r} of {outputs[0].width} classes; give one label per class")
    return labels


def attach(model, description: Description) -> dict:
    """Add the metadata buffer and ``TFLITE_METADATA`` entry to ``model`` (a TFLite ``ModelT``, changed in place).

    Returns:
        the facts recorded in the manifest.

    Raises:
        UsageError: an integer input MediaPipe would feed differently from Keras (int8, or uint8 not
            quantized as scale 1, zero point 0).
    """
    from tensorflow.lite.python import schema_py_generated as schema

    subgraph = model.subgraphs[0]
    image = subgraph.tensors[subgraph.inputs[0]]
    if image.type != schema.TensorType.FLOAT32:
        quant = image.quantization
        scale = [float(v) for v in quant.scale] if quant is not None and quant.scale is not None else []
        zero = [int(v) for v in quant.zeroPoint] if quant is not None and quant.zeroPoint is not None else []
        if image.type != schema.TensorType.UINT8 or scale != [1.0] or zero != [0]:
            raise UsageError(f"--metadata: the artifact's input {description.image.name!r} is {_TYPE_NAMES.get(image.type, image.type)} "
                             f"(scale {scale}, zero point {zero}); MediaPipe feeds raw pixels 0..255 to a float32 or uint8 input, which equals "
                             "the Keras model only for float32 or uint8 with scale 1, zero point 0: export without --int8-io")
    producers = {out: op for op in subgraph.operators for out in op.outputs}
    probabilities = []
    for index in subgraph.outputs:
        op = producers.get(index)
        code = model.operatorCodes[op.opcodeIndex] if op is not None else None
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode) if code is not None else None
        probabilities.append(builtin in (schema.BuiltinOperator.SOFTMAX, schema.BuiltinOperator.LOGISTIC))
    store(model, encode(description, image.type == schema.TensorType.FLOAT32, tuple(probabilities)))
    return {"name": METADATA_NAME, "normalization": {"mean": 0.0, "std": 1.0} if image.type == schema.TensorType.FLOAT32 else None,
            "color_space": "RGB", "labels": LABELS_FILE if description.labels else None}


def store(model, metadata: bytes) -> None:
    """Put the ``metadata`` flatbuffer into ``model`` (a ``ModelT``) as its ``TFLITE_METADATA``, replacing any earlier one."""
    from tensorflow.lite.python import schema_py_generated as schema

    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME.encode(), len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (METADATA_NAME, METADATA_NAME.encode())] + [entry]


def write(data: bytes, description: Description, share_quantization: bool) -> tuple[bytes, dict]:
    """The flatbuffer ``data`` with the metadata of ``description`` and its labels, and the facts (`attach`)."""
    from tensorflow.lite.tools import flatbuffer_utils

    from converters.tflite import pack

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    facts = attach(model, description)
    files = {LABELS_FILE: "\n".join(description.labels) + "\n"} if description.labels else {}
    return append_associated_files(pack.serialize(model, share_quantization), files), facts


def append_associated_files(data: bytes, files: dict[str, str]) -> bytes:
    """``data`` with ``files`` (name -> text) zipped onto its end, as TFLite Support packs associated files."""
    if not files:
        return data
    stream = io.BytesIO(data)
    stream.seek(0, io.SEEK_END)
    with zipfile.ZipFile(stream, "a") as archive:
        for name, text in files.items():
            archive.writestr(zipfile.ZipInfo(name, _ZIP_TIME), text)
    return stream.getvalue()


def encode(description: Description, normalize: bool, probabilities: tuple[bool, ...]) -> bytes:
    """The ``ModelMetadata`` flatbuffer of ``description`` (``normalize``: a float input, so mean 0, std 1)."""
    import flatbuffers

    image = description.image
    size = {0: ("u32", image.width), 1: ("u32", image.height)}
    content = {0: ("u8", _IMAGE_PROPERTIES), 1: ("table", {0: ("i8", _RGB), 1: ("table", size)})}
    low, high = PIXEL_RANGE
    inputs = {
        0: ("str", image.name),
        1: ("str", f"RGB image {image.height}x{image.width}, raw pixel values {low:g}..{high:g} (the model's own preprocessing is inside it); "
                   "feed SRGB or SRGBA images: a GRAY8 image fails and leaves the classifier unusable"),
        3: ("table", content),
        5: ("table", {0: ("floats", [high]), 1: ("floats", [low])}),
    }
    if normalize:
        inputs[4] = ("tables", [{0: ("u8", _NORMALIZATION_OPTIONS), 1: ("table", {0: ("floats", [0.0]), 1: ("floats", [1.0])})}])
    outputs = []
    for output, probability in zip(description.outputs, probabilities):
        table = {
            0: ("str", output.name),
            1: ("str", f"{'probabilities' if probability else 'scores'} of {output.width} classes"),
            3: ("table", {0: ("u8", _FEATURE_PROPERTIES), 1: ("table", {})}),
        }
        if probability:
            table[5] = ("table", {0: ("floats", [1.0]), 1: ("floats", [0.0])})
        if description.labels:
            table[6] = ("tables", [{0: ("str", LABELS_FILE), 1: ("str", "class labels, one per line, in output order"), 2: ("i8", _TENSOR_AXIS_LABELS)}])
        outputs.append(table)
    root = {
        0: ("str", description.model_name),
        1: ("str", f"{description.model_name}, exported by edgeprep {description.version}"),
        2: ("str", description.version),
        3: ("tables", [{0: ("str", description.model_name), 2: ("tables", [inputs]), 3: ("tables", outputs)}]),
        7: ("str", MIN_PARSER_VERSION),
    }
    builder = flatbuffers.Builder(1024)
    builder.Finish(flatbuffer_table(builder, root), IDENTIFIER)
    return bytes(builder.Output())


def flatbuffer_table(builder, fields: dict[int, tuple[str, object]]) -> int:
    """One flatbuffer table from ``{slot: (kind, value)}``: children are built first, as flatbuffers requires."""
    offsets = {}
    for slot, (kind, value) in fields.items():
        if kind == "str":
            offsets[slot] = builder.CreateString(value)
        elif kind == "table":
            offsets[slot] = flatbuffer_table(builder, value)
        elif kind == "floats":
            offsets[slot] = builder.CreateNumpyVector(np.asarray(value, np.float32))
        elif kind == "tables":
            children = [flatbuffer_table(builder, child) for child in value]
            builder.StartVector(4, len(children), 4)
            for child in reversed(children):
                builder.PrependUOffsetTRelative(child)
            offsets[slot] = builder.EndVector()
    builder.StartObject(max(fields, default=-1) + 1)
    for slot, (kind, value) in fields.items():
        if slot in offsets:
            builder.PrependUOffsetTRelativeSlot(slot, offsets[slot], 0)
        else:
            {"u8": builder.PrependUint8Slot, "i8": builder.PrependInt8Slot, "u32": builder.PrependUint32Slot}[kind](slot, value, 0)
    return builder.EndObject()


def _shape(shape: tuple) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


_TYPE_NAMES = {3: "uint8", 9: "int8", 0: "float32"}  # schema TensorType values named in errors
