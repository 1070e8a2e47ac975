"""``--micro``: rewrites of a converted TFLite graph into kernels tflite-micro has for its tensor types.

Read in tflite-micro's kernels (tensorflow/lite/micro/kernels/ at 90b983c2, see
`edgeprep.ingraph.tflm`): CAST takes no uint8 input, SELECT (v1) is not registered and SELECT_V2
takes float32 / int8 / int16 only. The TFLiteConverter writes a SELECT for every ``tf.where`` with
operands of one shape (a static batch makes them so; Keras' Embedding writes one for negative
ids) and a CAST for the UTF-8 bytes input (`edgeprep.runtime.text`). Each rule is an exact
identity, run by `converters.tflite.rewrite.apply` (which counts them into the artifact facts):

- CAST uint8 -> float32: RESHAPE into a uint8 copy with scale 1, zero point 0, then DEQUANTIZE
  (exact: every byte is an integer float32 holds). The copy keeps the model input a plain uint8
  tensor, as the runners and clients feed it;
- SELECT of float32 / int8 / int16 operands: SELECT_V2 (the same op with broadcasting);
- SELECT of int32 operands: ``y + cast(c) * (x - y)`` in CAST, SUB, MUL, ADD (int32 kernels).

`float_inputs` then keeps a model input float32 where float32 ops read it (the rest of the IO stays int8).
"""

from __future__ import annotations

from dataclasses import dataclass

from converters.tflite.rewrite import _builtin, _name, _opcode, _operator, _quantization, _schema


def _tensor(subgraph, like, name: str, type_: int, quantization=None) -> int:
    """A new activation tensor shaped like ``like``, of ``type_``."""
    tensor = _schema().TensorT()
    tensor.shape = None if like.shape is None else list(like.shape)
    tensor.shapeSignature = None if like.shapeSignature is None else list(like.shapeSignature)
    tensor.type, tensor.buffer, tensor.name, tensor.quantization = type_, 0, name.encode(), quantization
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


@dataclass(frozen=True)
class CastBytes:
    """CAST uint8 -> float32: RESHAPE to a quantized uint8 copy (scale 1, zero point 0) + DEQUANTIZE."""

    name: str = "CAST uint8 -> RESHAPE + DEQUANTIZE"

    def matches(self, model, subgraph, operator) -> bool:
        schema = _schema()
        if _builtin(model, operator) != schema.BuiltinOperator.CAST:
            return False
        source, target = subgraph.tensors[operator.inputs[0]], subgraph.tensors[operator.outputs[0]]
        return source.type == schema.TensorType.UINT8 and target.type == schema.TensorType.FLOAT32 and source.shape is not None

    def replace(self, model, subgraph, operator) -> list:
        schema = _schema()
        source = subgraph.tensors[operator.inputs[0]]
        copy = _tensor(subgraph, source, f"{_name(source)}/scaled_1", schema.TensorType.UINT8, _quantization(1.0, 0))
        options = schema.ReshapeOptionsT()
        options.newShape = [int(d) for d in source.shape]  # one input: LiteRT reads newShape, TFLM the output's shape
        return [
            _operator(_opcode(model, schema.BuiltinOperator.RESHAPE, 1), [operator.inputs[0]], [copy], schema.BuiltinOptions.ReshapeOptions, options),
            _operator(_opcode(model, schema.BuiltinOperator.DEQUANTIZE, 2), [copy], list(operator.outputs), 0, None),
        ]


def _select_type(model, subgraph, operator) -> int | None:
    """The output tensor type of a SELECT whose operands all have one static shape, else None."""
    if _builtin(model, operator) != _schema().BuiltinOperator.SELECT:
        return None
    shapes = [None if subgraph.tensors[i].shape is None else list(subgraph.tensors[i].shape) for i in [*operator.inputs, *operator.outputs]]
    return subgraph.tensors[operator.outputs[0]].type if shapes[0] is not None and all(shape == shapes[0] for shape in shapes) else None


@dataclass(frozen=True)
class SelectV1:
    """SELECT of operands SELECT_V2 takes in TFLM (float32, int8, int16): SELECT_V2."""

    name: str = "SELECT -> SELECT_V2"

    def matches(self, model, subgraph, operator) -> bool:
        types = _schema().TensorType
        return _select_type(model, subgraph, operator) in (types.FLOAT32, types.INT8, types.INT16)

    def replace(self, model, subgraph, operator) -> list:
        schema = _schema()
        opcode = _opcode(model, schema.BuiltinOperator.SELECT_V2, 1)
        return [_operator(opcode, list(operator.inputs), list(operator.outputs), schema.BuiltinOptions.SelectV2Options, schema.SelectV2OptionsT())]


@dataclass(frozen=True)
class SelectInt32:
    """SELECT of int32 operands: ``y + cast(c, int32) * (x - y)`` (CAST, SUB, MUL, ADD)."""

    name: str = "SELECT int32 -> CAST, SUB, MUL, ADD"

    def matches(self, model, subgraph, operator) -> bool:
        return _select_type(model, subgraph, operator) == _schema().TensorType.INT32

    def replace(self, model, subgraph, operator) -> list:
        schema = _schema()
        condition, x, y = operator.inputs
        out = operator.outputs[0]
        like, base = subgraph.tensors[out], _name(subgraph.tensors[out])
        mask, difference, product = (_tensor(subgraph, like, f"{base}/{part}", schema.TensorType.INT32) for part in ("mask", "difference", "product"))
        cast = schema.CastOptionsT()
        cast.inDataType, cast.outDataType = schema.TensorType.BOOL, schema.TensorType.INT32
        return [
            _operator(_opcode(model, schema.BuiltinOperator.CAST, 1), [condition], [mask], schema.BuiltinOptions.CastOptions, cast),
            _operator(_opcode(model, schema.BuiltinOperator.SUB, 1), [x, y], [difference], schema.BuiltinOptions.SubOptions, schema.SubOptionsT()),
            _operator(_opcode(model, schema.BuiltinOperator.MUL, 1), [mask, difference], [product], schema.BuiltinOptions.MulOptions, schema.MulOptionsT()),
            _operator(_opcode(model, schema.BuiltinOperator.ADD, 1), [y, product], [out], schema.BuiltinOptions.AddOptions, schema.AddOptionsT()),
        ]


MICRO_RULES = (CastBytes(), SelectV1(), SelectInt32())


def float_inputs(model) -> list[str]:
    """Model inputs that a DEQUANTIZE reads (float32 ops kept by the quantizer, e.g. a micro
    Discretization's comparisons) become float32 inputs: those readers get the exact value, the
    int8 readers a QUANTIZE of it (the converter's own input parameters). An int8 input would round
    a value near a bin boundary into the neighbouring bin. Returns the inputs changed."""
    schema = _schema()
    changed = []
    for subgraph in model.subgraphs[:1]:
        for position, index in enumerate(list(subgraph.inputs)):
            tensor = subgraph.tensors[index]
            readers = [op for op in subgraph.operators if index in op.inputs]
            dequantized = [op for op in readers if _builtin(model, op) == schema.BuiltinOperator.DEQUANTIZE]
            if tensor.type != schema.TensorType.INT8 or not dequantized:
                continue
            name = _name(tensor)
            value = _tensor(subgraph, tensor, name, schema.TensorType.FLOAT32)
            tensor.name = f"{name}/int8".encode()
            subgraph.inputs[position] = value
            for signature in model.signatureDefs or ():
                for entry in signature.inputs or ():
                    if entry.tensorIndex == index:
                        entry.tensorIndex = value
            gone = {op.outputs[0] for op in dequantized}
            subgraph.operators = [op for op in subgraph.operators if op not in dequantized]
            for op in subgraph.operators:
                op.inputs = [value if i in gone else i for i in op.inputs]
            if len(readers) > len(dequantized):
                quantize = _operator(_opcode(model, schema.BuiltinOperator.QUANTIZE, 1), [value], [index], 0, None)
                subgraph.operators.insert(0, quantize)
            changed.append(name)
    return changed
