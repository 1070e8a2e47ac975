"""Keras -> LiteRT flatbuffer, builtin ops only, tensors named as the Keras inputs and outputs.

Route: freeze the model at ``training=False`` into a GraphDef (`converters.trace.freeze_graph`), convert
it with ``TFLITE_BUILTINS`` only (`_convert_graph_def`), then rename the IO tensors in the flatbuffer to the Keras
names. Select-TF (Flex) ops are never enabled silently: without ``allow_flex`` a graph that needs
them fails here, naming the TensorFlow ops. The artifact's facts record what XNNPACK takes
(`converters.tflite.delegate`): partitions and any op left to the built-in kernels; a ``--micro``
artifact is checked in tflite-micro (`converters.tflite.micro`). Whether the
ops meet the builtin-only policy is checked by the pipeline (`converters.tflite.backend.check_ops`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from converters import isolate
from converters.tflite import metadata, pack, quantize, rewrite, scales
from converters.tflite.delegate import xnnpack_report
from converters.tflite.options import TFLiteOptions
from converters.tflite.runner import TFLITE_FLEX
from converters.trace import FrozenIO, freeze_graph
from edgeprep.artifacts import Artifact
from edgeprep.config import Quantization, Target
from edgeprep.errors import ConversionError

_MISSING_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")


def convert(model, options: TFLiteOptions) -> Artifact:
    """Convert ``model`` (already transformed) to a TFLite artifact; in a child process where
    `converters.isolate` is asked to (opt-in)."""
    described = metadata.describe(model, options.input_names, options.output_names, options.labels) if options.metadata else None
    bytes_inputs = frozenset(t.name for t in model.inputs if "uint8" in str(t.dtype))  # text as UTF-8 bytes (or an image: no strings)
    if isolate.wanted(model):
        return isolate.convert(__name__, model, options, described=described, bytes_inputs=bytes_inputs)
    return convert_graph(*freeze_graph(model, options.input_names), options, described, bytes_inputs)


def convert_graph(graph_def, io: FrozenIO, options: TFLiteOptions, described=None, bytes_inputs=frozenset()) -> Artifact:
    """Convert the frozen ``graph_def`` whose IO ``io`` describes (in-process, or in `converters.isolate`'s
    child); ``described``: the MediaPipe metadata to attach (`converters.tflite.metadata`); ``bytes_inputs``:
    the uint8 inputs that take text as UTF-8 bytes (`converters.tflite.quantize.configure`)."""
    import tensorflow as tf

    converter = _graph_converter()
    ops_sets = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if options.allow_flex:
        ops_sets.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops_sets
    scopes = quantize.float_scopes(node.name for node in graph_def.node)
    quantize.refuse_dynamic(scopes, options)
    quantize.configure(converter, options, options.input_names, bool(scopes), bytes_inputs)
    try:
        data = quantize.finish(converter, _convert_graph_def(converter, graph_def, io), options)
    except Exception as exc:  # the converter raises ConverterError with MLIR diagnostics
        missing = sorted(set(_MISSING_OP.findall(str(exc))))
        if missing:
            raise ConversionError(
                f"TFLite has no builtin op for {', '.join(missing)}; a layer that needs it has no lowering yet "
                "(see `edgeprep inspect`), or pass --allow-flex to accept Select-TF ops"
            ) from None
        if "TensorListReserve" in str(exc) and options.batch is None:
            raise ConversionError(
                "TFLite converts a recurrent layer's while loop only with a static batch: pass --batch 1 "
                "(or --target onnx, which keeps the loop with a dynamic batch)"
            ) from None
        raise ConversionError(f"TFLite conversion failed: {str(exc).strip().splitlines()[0][:300]}") from None
    data, ops, int8_facts = _rename_and_count(data, io.input_tensors, io.output_tensors, options)
    described_facts = None
    if described:  # MediaPipe's metadata and labels (`converters.tflite.metadata`)
        data, described_facts = metadata.write(data, described, share_quantization=options.quantize is not Quantization.NONE)
    flex = any(op.startswith("Flex") for op in ops)
    requirements = (TFLITE_FLEX,) if flex else ()
    builtin_only = not flex and not any(op.startswith("CUSTOM:") for op in ops)
    facts = {"xnnpack": xnnpack_report(data)} if builtin_only else {}  # the stock interpreter loads only builtins
    facts.update(int8_facts)
    if described_facts:
        facts["metadata"] = described_facts
    if options.micro:
        from converters.tflite import micro

        facts["micro"] = micro.check(data, ops, options)
    return Artifact(Target.TFLITE, data, dict(sorted(ops.items())), requirements, options.quantize, facts)


def _graph_converter():
    """A ``TFLiteConverter`` to configure like any, converted by `_convert_graph_def` (no function to
    give it: an empty debug-info record stands for the function's source locations)."""
    import types

    import tensorflow as tf
    from tensorflow.core.framework.graph_debug_info_pb2 import GraphDebugInfo

    return tf.lite.TFLiteConverter([], trackable_obj=types.SimpleNamespace(graph_debug_info=GraphDebugInfo()))


@dataclass
class _Tensor:
    """What TFLite's converter reads of an IO tensor: its name, dtype and shape."""

    name: str
    dtype: object = None
    shape: object = None

    def set_shape(self, shape) -> None:
        import tensorflow as tf

        self.shape = tf.TensorShape(shape)


def _convert_graph_def(converter, graph_def, io: FrozenIO) -> bytes:
    """What ``TFLiteConverter.convert`` does once it has frozen its function, on ``graph_def`` itself.

    ``convert`` would freeze the function again and keep both graphs while MLIR converts: on
    ConvNeXtTiny that doubled the converter's peak (+1.9 GB against +1.0 GB from the GraphDef; issue 21).
    """
    import tensorflow as tf
    from tensorflow.lite.python import lite

    placeholders = {node.name: node for node in graph_def.node if node.op == "Placeholder"}
    inputs = []
    for name in io.input_tensors:
        node = placeholders[name.split(":")[0]]
        inputs.append(_Tensor(name, tf.as_dtype(node.attr["dtype"].type), tf.TensorShape(node.attr["shape"].shape)))
    outputs = [_Tensor(name) for name in io.output_tensors]
    converter._validate_inputs(graph_def, inputs)  # noqa: SLF001 - the steps of TFLiteFrozenGraphConverterV2.convert after freezing
    graph_def = converter._optimize_tf_model(graph_def, inputs, outputs, None)  # noqa: SLF001 - no Grappler pass with builtin ops
    return lite.TFLiteConverterBaseV2.convert(converter, graph_def, inputs, outputs)


def _rename_and_count(data: bytes, input_tensors, output_tensors, options: TFLiteOptions) -> tuple[bytes, Counter, dict]:
    """Name the IO tensors as in Keras; int8: rewrite ops XNNPACK does not take (`rewrite`) and check the
    scales (`scales`); count ops (Flex ops by their TF name). Returns the int8 facts too."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    subgraph = model.subgraphs[0]
    by_graph_name = {name.split(":")[0]: keras for name, keras in zip(input_tensors, options.input_names)}
    by_graph_name.update({name.split(":")[0]: keras for name, keras in zip(output_tensors, options.output_names)})
    passthrough = sorted(set(subgraph.inputs) & set(subgraph.outputs))
    if passthrough:
        names = ", ".join(repr(subgraph.tensors[i].name.decode()) for i in passthrough)
        raise ConversionError(f"output tensor(s) {names} are model inputs passed through unchanged; TFLite cannot give one tensor two names, so there is nothing to export for them")
    for index in list(subgraph.inputs) + list(subgraph.outputs):
        tensor = subgraph.tensors[index]
        current = tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name
        new = by_graph_name.get(current) or by_graph_name.get(current.removeprefix("serving_default_").split(":")[0])
        if new is None:
            raise ConversionError(f"cannot match TFLite tensor {current!r} to a Keras input or output")
        tensor.name = new.encode()
    names = [subgraph.tensors[i].name.decode() for i in subgraph.outputs]
    if names != list(options.output_names):
        order = [names.index(name) for name in options.output_names]
        subgraph.outputs = [subgraph.outputs[i] for i in order]
    int8_facts = {}
    if options.quantize is Quantization.INT8:
        rewrites = rewrite.apply(model)
        int8_facts = {**({"int8_rewrites": rewrites} if rewrites else {}), **_check_scales(model)}
    if options.micro:  # kernels tflite-micro has for these tensor types (`converters.tflite.micro_rewrite`)
        from converters.tflite.micro_rewrite import MICRO_RULES, float_inputs

        micro_rewrites = rewrite.apply(model, MICRO_RULES)
        int8_facts.update({"micro_rewrites": micro_rewrites} if micro_rewrites else {})
        int8_facts.update({"float_inputs": floats} if (floats := float_inputs(model)) else {})
    ops: Counter = Counter()
    for graph in model.subgraphs:
        for operator in graph.operators:
            ops[_op_name(model, operator.opcodeIndex)] += 1
    return pack.serialize(model, share_quantization=options.quantize is not Quantization.NONE), ops, int8_facts


def _check_scales(model) -> dict:
    """Degenerate int8 scales (`converters.tflite.scales`): refused, repaired (counted) or warned about."""
    problems, warnings, repaired = scales.check(model, lambda index: _op_name(model, index))
    if problems:
        raise ConversionError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return {**({"zero_constant_scales": repaired} if repaired else {}), **({"quantization_warnings": warnings} if warnings else {})}


def _op_name(model, opcode_index: int) -> str:
    from tensorflow.lite.python import schema_py_generated as schema

    code = model.operatorCodes[opcode_index]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        return custom if custom.startswith("Flex") else f"CUSTOM:{custom}"
    return _BUILTIN_NAMES()[builtin]


def _BUILTIN_NAMES() -> dict[int, str]:  # noqa: N802
    from tensorflow.lite.python import schema_py_generated as schema

    return {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
