"""ONNX quantization: float16, dynamic range and static int8 (QDQ, per-channel weights).

- ``float16``: weights and compute in float16 (onnxruntime's float16 converter), IO kept float32.
  The nodes that read the raw graph inputs stay float32, so raw camera ranges (0..65535 exceeds
  float16's 65504) cannot overflow before the folded scale has brought them into range.
- ``dynamic``: ``onnxruntime.quantization.quantize_dynamic``: int8 weights, activations quantized
  on the fly, per-channel.
- In ``dynamic`` and ``int8`` the nodes of lowered layers that must stay float (name scope
  `edgeprep.families.audio.device.FLOAT_SCOPE`: the spectrogram front end, whose power spectrum
  spans 80 dB that 256 levels cannot hold) are excluded from quantization (`float_nodes`).
- ``int8``: ``quantize_static`` in QDQ format, int8 weights (per-channel unless asked per-tensor) and
  uint8 activations, calibrated on the same samples as TFLite (real data from ``--calibration``,
  else generated). uint8 activations (U8S8), not int8, because that is what onnxruntime's CPU
  provider fuses everywhere: with int8 activations it turned only 29 of MobileNetV3Small's 54
  QDQ Convs into QLinearConv, left 25 as float Convs that dequantize their weights on every run,
  and ran 3.3x slower than float32; with uint8 all 54 fuse and int8 beats float (BENCHMARKS.md).
  Internal names are then shortened (`compact_names`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from converters.onnx.options import ONNXOptions
from edgeprep.config import Quantization
from edgeprep.errors import ConversionError


def quantize(proto, options: ONNXOptions):
    """Return ``proto`` quantized as ``options.quantize`` asks (unchanged for NONE)."""
    mode = options.quantize
    if mode is Quantization.NONE:
        return proto
    if mode is Quantization.FLOAT16:
        return _float16(proto)
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="edgeprep-quant-") as work:
        source, target = Path(work) / "float.onnx", Path(work) / "quant.onnx"
        onnx.save(proto, str(source))
        try:
            if mode is Quantization.DYNAMIC:
                quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=float_nodes(proto.graph))
            else:
                _static(source, target, options)
        except ConversionError:
            raise
        except Exception as exc:
            raise ConversionError(f"ONNX {mode.value} quantization failed: {str(exc).strip().splitlines()[0][:300]}") from None
        quantized = onnx.load(str(target))
        absorb_scalar_muls(quantized.graph)
        compact_names(quantized.graph)
        return quantized


def float_nodes(graph) -> list[str]:
    """Names of the nodes under `FLOAT_SCOPE` (tf2onnx keeps TensorFlow's scoped op names)."""
    from edgeprep.families.audio.device import FLOAT_SCOPE

    return [node.name for node in graph.node if f"/{FLOAT_SCOPE}/" in node.name]


def absorb_scalar_muls(graph) -> int:
    """Fold QDQ ``Mul`` (``Div``) by a positive scalar constant into the scale of the tensor it multiplies.

    ``DQ(q; s, z) * c`` is ``DQ(q; s*c, z)`` exactly (``/ c``: ``s/c``), so the readers of the Mul's requantized output
    read ``q`` itself with the scale ``s*c``: the Mul and its Q/DQ pair go, with one rounding less.
    MobileNetV3's hard-swish and hard-sigmoid divide by 6 this way 27 times; onnxruntime ran each
    as a QLinearMul (dequantize, multiply, requantize every element), slower than the float Mul it
    replaced. Returns how many Muls were folded.
    """
    from onnx import numpy_helper

    initializers = {init.name: init for init in graph.initializer}
    producers = {name: node for node in graph.node for name in node.output}
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = {value.name for value in graph.output}

    def scalar(name: str):
        """The value of a per-tensor quantization parameter or a dequantized scalar constant, else None."""
        if name in initializers and numpy_helper.to_array(initializers[name]).size == 1:
            return numpy_helper.to_array(initializers[name]).reshape(())
        node = producers.get(name)
        if node is None or node.op_type != "DequantizeLinear" or node.input[0] not in initializers or len(node.input) < 3:
            return None
        q, scale, zero = (scalar(n) if i else numpy_helper.to_array(initializers[n]) for i, n in enumerate(node.input[:3]))
        if q.size != 1 or scale is None or zero is None:
            return None
        return (float(q.reshape(())) - float(zero)) * float(scale)

    dropped, folded = set(), 0
    for mul in graph.node:
        if mul.op_type not in ("Mul", "Div") or mul.output[0] in outputs:
            continue
        values = [scalar(name) for name in mul.input]
        if sum(value is not None for value in values) != 1 or (mul.op_type == "Div" and values[1] is None):
            continue
        index = 0 if values[0] is None else 1
        constant, source = float(values[1 - index]), producers.get(mul.input[index])
        constant = 1 / constant if mul.op_type == "Div" and constant else constant
        quantize_nodes = readers.get(mul.output[0], [])
        if constant <= 0 or source is None or source.op_type != "DequantizeLinear" or len(source.input) < 3 or len(quantize_nodes) != 1:
            continue
        requantize = quantize_nodes[0]
        scale, zero = scalar(source.input[1]), source.input[2]
        dequantizers = readers.get(requantize.output[0], [])
        if (requantize.op_type != "QuantizeLinear" or scale is None or requantize.output[0] in outputs or not dequantizers
                or any(dq.op_type != "DequantizeLinear" for dq in dequantizers)
                or initializers.get(zero) is None or initializers.get(requantize.input[2]) is None
                or initializers[zero].data_type != initializers[requantize.input[2]].data_type):
            continue
        new_scale = numpy_helper.from_array(np.asarray(float(scale) * constant, dtype=numpy_helper.to_array(initializers[source.input[1]]).dtype), f"{mul.output[0]}_folded_scale")
        graph.initializer.append(new_scale)
        for dq in dequantizers:
            dq.input[:] = [source.input[0], new_scale.name, zero]
        dropped |= {id(mul), id(requantize)}
        folded += 1
    if folded:
        _replace_nodes(graph, [node for node in graph.node if id(node) not in dropped])
        _drop_dead_nodes(graph)
    return folded


def _drop_dead_nodes(graph) -> None:
    """Remove nodes whose outputs nothing reads (repeatedly), then initializers nothing reads."""
    outputs = {value.name for value in graph.output}
    while True:
        read = {name for node in graph.node for name in node.input} | outputs
        live = [node for node in graph.node if any(name in read for name in node.output)]
        if len(live) == len(graph.node):
            break
        _replace_nodes(graph, live)
    read = {name for node in graph.node for name in node.input} | outputs
    unused = [init for init in graph.initializer if init.name not in read]
    for init in unused:
        graph.initializer.remove(init)


def compact_names(graph) -> None:
    """Rename internal values ``v0, v1, ...`` and nodes ``<op>_<i>``; graph inputs and outputs keep theirs.

    The quantizer derives a name for every scale, zero point, quantized weight and QDQ node from
    the TensorFlow tensor it came from (``.../conv_bn_1/batchnorm/sub:0_quantized_scale``): in
    MobileNetV3Small int8 that is 180 KB of names, 6% of the file, and the difference between
    0.285x and 0.268x of the float32 size. Graphs with subgraphs (If, Loop) are left as they are:
    their bodies may refer to outer names.
    """
    if any(attr.g.node or attr.graphs for node in graph.node for attr in node.attribute):
        return
    keep = {value.name for value in graph.input} | {value.name for value in graph.output}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, f"v{len(names)}")

    for initializer in graph.initializer:
        initializer.name = short(initializer.name)
    for index, node in enumerate(graph.node):
        node.input[:] = [short(name) for name in node.input]
        node.output[:] = [short(name) for name in node.output]
        node.name = f"{node.op_type}_{index}"
    for value in graph.value_info:
        value.name = short(value.name)
    for annotation in graph.quantization_annotation:
        annotation.tensor_name = short(annotation.tensor_name)
        for entry in annotation.quant_parameter_tensor_names:
            entry.value = short(entry.value)


def _float16(proto):
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    # Without value types the converter takes an untyped integer value (an int64 index of a lowered
    # lookup) for a float one and casts it to float32 in front of a blocked node.
    proto = onnx.shape_inference.infer_shapes(proto)
    for index, node in enumerate(proto.graph.node):
        if not node.name:
            node.name = f"node_{index}"
    converted = convert_float_to_float16(proto, keep_io_types=True, node_block_list=raw_readers(proto.graph))
    _drop_round_trips(converted.graph)
    toposort(converted.graph)  # the converter appends the casts it inserts at the end
    return converted


def _drop_round_trips(graph) -> None:
    """Remove float32 -> float16 -> float32 cast pairs.

    The converter casts every float input to float16 and back for blocked nodes, and does the same
    between two blocked nodes: the raw value would pass through float16 (65535 would become inf).
    A round trip only loses precision, so dropping it is always safe.
    """
    from onnx import TensorProto

    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    types = _value_types(graph)
    outputs = {value.name for value in graph.output}
    drop, rename = set(), {}
    for node in graph.node:
        if node.op_type != "Cast" or _cast_to(node) != TensorProto.FLOAT16:
            continue
        if types.get(node.input[0]) != TensorProto.FLOAT:  # only a float32 source makes the pair a round trip
            continue
        readers = consumers.get(node.output[0], [])
        if any(r.output[0] in outputs for r in readers):  # a graph output keeps its producer
            continue
        if readers and all(r.op_type == "Cast" and _cast_to(r) == TensorProto.FLOAT for r in readers):
            drop.add(node.name)
            for reader in readers:
                drop.add(reader.name)
                rename[reader.output[0]] = node.input[0]
    kept = [node for node in graph.node if node.name not in drop]
    for node in kept:
        node.input[:] = [rename.get(name, name) for name in node.input]
    _replace_nodes(graph, kept)


def _value_types(graph) -> dict[str, int]:
    """Element type of every typed value: inputs, outputs, inferred value_info, initializers."""
    types = {value.name: value.type.tensor_type.elem_type for value in list(graph.input) + list(graph.value_info) + list(graph.output)}
    types.update({initializer.name: initializer.data_type for initializer in graph.initializer})
    return types


def _cast_to(node) -> int | None:
    return next((attr.i for attr in node.attribute if attr.name == "to"), None)


LAYOUT_OPS = frozenset({"Transpose", "Reshape", "Identity", "Squeeze", "Unsqueeze", "Flatten", "Cast", "Pad", "Slice"})


def raw_readers(graph) -> list[str]:
    """Nodes that must stay float32: those that see raw input values or exact integers.

    Raw values: readers of graph inputs, through layout-only ops, up to and including the first node
    that computes (a folded Conv, a Mul by the scale...). Exact integers: tf2onnx compares the int64
    indices of lowered lookups and discretizations as float (Cast int64 -> float, then Less); in
    float16 an index above 2048 would be rounded, so those Casts and their readers (the same walk)
    stay float32 too. Needs value types (`onnx.shape_inference.infer_shapes` first).
    """
    from onnx import TensorProto

    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    types = _value_types(graph)
    raw = {value.name for value in graph.input}
    blocked: list[str] = []
    for node in graph.node:  # integer -> float casts: their outputs are exact integers held in float
        if node.op_type == "Cast" and _cast_to(node) in floats and types.get(node.input[0], TensorProto.FLOAT) not in floats:
            blocked.append(node.name)
            raw.update(node.output)
    changed = True
    while changed:
        changed = False
        for node in graph.node:
            if node.name not in blocked and raw & set(node.input):
                blocked.append(node.name)
                changed = True
                if node.op_type in LAYOUT_OPS:
                    raw.update(node.output)
    return blocked


def toposort(graph) -> None:
    """Reorder ``graph.node`` so that every node comes after the producers of its inputs."""
    available = {value.name for value in graph.input} | {init.name for init in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [node for node in pending if all(name in available for name in node.input)]
        if not ready:
            missing = sorted({n for node in pending for n in node.input if n not in available})[:5]
            raise ConversionError(f"the ONNX graph has a cycle or dangling inputs ({', '.join(missing)})")
        for node in ready:
            available.update(node.output)
        ordered.extend(ready)
        ready_ids = {id(node) for node in ready}
        pending = [node for node in pending if id(node) not in ready_ids]
    _replace_nodes(graph, ordered)


def _replace_nodes(graph, nodes) -> None:
    """Make ``graph.node`` exactly ``nodes`` (copied first: clearing the field releases them)."""
    copies = [type(node)() for node in nodes]
    for copy, node in zip(copies, nodes):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def _static(source: Path, target: Path, options: ONNXOptions) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if options.calibration is None:
        raise ConversionError("int8 quantization needs calibration samples; pass --calibration FILE")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(options.calibration())

        def get_next(self):
            return next(self._batches, None)

    prepared = source.with_name("prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    import onnx

    quantize_static(
        str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=options.int8_per_channel,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,  # U8S8: see the module docstring
        nodes_to_exclude=float_nodes(onnx.load(str(prepared)).graph),
    )
