"""Rewrites of a converted integer TFLite graph into ops every int8 runtime path delegates.

The TFLiteConverter emits some int8 ops that XNNPACK (LiteRT's default CPU delegate) does not take;
each one splits the delegated graph and runs in LiteRT's reference kernels. MobileNetV3Small int8:
19 HARD_SWISH ops, 21 delegate partitions, 3x *slower* than float32. Each rule here replaces such
an op by an exact identity in ops XNNPACK takes, with quantization parameters that keep the
arithmetic on the calibrated grids. Rules are registered in `INT8_RULES`, one per op family, the
math in the docstring; `apply` runs them over every subgraph of a flatbuffer object model
(``tensorflow.lite.python.schema_py_generated.ModelT``) and counts what it rewrote, which the
artifact facts (and so the manifest) record. The parity gate then judges the result like any
quantized artifact.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np


def _schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def _builtin(model, operator) -> int:
    code = model.operatorCodes[operator.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _opcode(model, builtin: int, version: int) -> int:
    """The index of ``builtin`` in the model's operator codes, added if absent."""
    schema = _schema()
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _per_tensor(tensor) -> tuple[float, int] | None:
    """(scale, zero point) of a per-tensor int8 tensor; None for anything else."""
    schema = _schema()
    quantization = tensor.quantization
    if tensor.type != schema.TensorType.INT8 or quantization is None or quantization.scale is None or len(quantization.scale) != 1:
        return None
    return float(quantization.scale[0]), int(quantization.zeroPoint[0])


def _quantization(scale: float, zero_point: int):
    params = _schema().QuantizationParametersT()
    params.scale, params.zeroPoint = [float(scale)], [int(zero_point)]
    return params


def _name(tensor) -> str:
    return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)


def _activation(subgraph, like, name: str, scale: float, zero_point: int) -> int:
    """A new int8 activation tensor shaped like ``like``."""
    schema = _schema()
    tensor = schema.TensorT()
    tensor.shape = None if like.shape is None else list(like.shape)
    tensor.shapeSignature = None if like.shapeSignature is None else list(like.shapeSignature)
    tensor.type, tensor.buffer, tensor.name = schema.TensorType.INT8, 0, name.encode()
    tensor.quantization = _quantization(scale, zero_point)
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def _constant(model, subgraph, name: str, values: np.ndarray, scale: float, zero_point: int) -> int:
    """A new int8 constant tensor holding ``values`` (int8, their shape) at ``scale`` / ``zero_point``."""
    schema = _schema()
    values = np.asarray(values, np.int8)
    buffer = schema.BufferT()
    buffer.data = values.reshape(-1).view(np.uint8)
    model.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.shape, tensor.type, tensor.buffer, tensor.name = list(values.shape), schema.TensorType.INT8, len(model.buffers) - 1, name.encode()
    tensor.quantization = _quantization(scale, zero_point)
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def _exact(model, subgraph, name: str, value: float) -> int:
    """A one-element int8 constant holding ``value`` exactly (value = 127 * scale, zero point 0)."""
    return _constant(model, subgraph, name, np.array([127], np.int8), value / 127.0, 0)


def _operator(opcode: int, inputs: list[int], outputs: list[int], options_type: int, options):
    operator = _schema().OperatorT()
    operator.opcodeIndex, operator.inputs, operator.outputs = opcode, inputs, outputs
    operator.builtinOptionsType, operator.builtinOptions = options_type, options
    return operator


@dataclass(frozen=True)
class HardSwishInt8:
    """int8 HARD_SWISH -> ADD(RELU6), MUL, MUL.

    hard_swish(x) = x * relu6(x + 3) / 6, term by term:

    - t = relu6(x + 3): ADD of x and the constant 3 (int8 127 at scale 3/127, exact) with the fused
      RELU6 activation; over x's calibrated range t lies in [0, t_max], t_max = min(6, x_max + 3),
      stored at scale t_max/255, zero point -128 (the full int8 range, 0 and t_max exact);
    - u = x * t = 6 * y: MUL, stored on y's own calibrated grid scaled by 6 (scale 6 * s_y, zero
      point z_y), so u holds exactly the integers y will;
    - y = u * (1/6): MUL by the constant 1/6 (int8 127 at scale (1/6)/127), a requantization between
      grids in an exact ratio.

    Against the reference HARD_SWISH kernel the only new rounding is t's (at most t_max/510, and
    only where -3 < x < 3: t is exactly 0 or t_max elsewhere), scaled by |x|/6 <= 1/2 in y. Measured
    SQNR against float32 stays within 1 dB of the converter's own int8 HARD_SWISH (MobileNetV3Small:
    32.5 vs 32.5 dB on BENCHMARKS.md's calibration, 27.2 vs 27.9 dB on generated samples; a
    three-layer stack in tests/converters/test_quantize.py: 30.6 vs 30.0 dB), and XNNPACK takes the
    whole graph.
    Only per-tensor int8 HARD_SWISH ops are rewritten (int16 activations keep the op).
    """

    name: str = "HARD_SWISH -> ADD(RELU6), MUL, MUL"

    def matches(self, model, subgraph, operator) -> bool:
        schema = _schema()
        if _builtin(model, operator) != schema.BuiltinOperator.HARD_SWISH:
            return False
        return _per_tensor(subgraph.tensors[operator.inputs[0]]) is not None and _per_tensor(subgraph.tensors[operator.outputs[0]]) is not None

    def replace(self, model, subgraph, operator) -> list:
        schema = _schema()
        x, y = operator.inputs[0], operator.outputs[0]
        x_scale, x_zero = _per_tensor(subgraph.tensors[x])
        y_scale, y_zero = _per_tensor(subgraph.tensors[y])
        t_max = min(6.0, max(x_scale * (127 - x_zero) + 3.0, 6.0 / 255.0))  # relu6(x + 3) over x's calibrated range
        base = _name(subgraph.tensors[y])
        three = _exact(model, subgraph, f"{base}/hard_swish_three", 3.0)
        sixth = _exact(model, subgraph, f"{base}/hard_swish_sixth", 1.0 / 6.0)
        t = _activation(subgraph, subgraph.tensors[x], f"{base}/hard_swish_relu6", t_max / 255.0, -128)
        u = _activation(subgraph, subgraph.tensors[y], f"{base}/hard_swish_product", 6.0 * y_scale, y_zero)
        add_options = schema.AddOptionsT()
        add_options.fusedActivationFunction = schema.ActivationFunctionType.RELU6
        add = _opcode(model, schema.BuiltinOperator.ADD, 2)
        mul = _opcode(model, schema.BuiltinOperator.MUL, 2)
        return [
            _operator(add, [x, three], [t], schema.BuiltinOptions.AddOptions, add_options),
            _operator(mul, [x, t], [u], schema.BuiltinOptions.MulOptions, schema.MulOptionsT()),
            _operator(mul, [u, sixth], [y], schema.BuiltinOptions.MulOptions, schema.MulOptionsT()),
        ]


@dataclass(frozen=True)
class OneHotInt8:
    """int8 ONE_HOT: its on/off values moved onto the output's grid.

    ONE_HOT copies the integers of ``on_value`` / ``off_value`` into its output unchanged, so the
    output means on / off only if the three tensors share one scale and zero point. The converter
    quantizes the constants on their own ranges instead (measured: on = 1.0 at scale 1/255, off at
    scale 0) and the output on the grid calibrated for what follows (a concatenation with other
    features): a one-hot 1 came out as 2.09 and a 0 as -0.57. The rule requantizes each constant:
    q = clamp(round(v / s_out) + z_out, -128, 127) for v = s_in * (q_in - z_in), as new tensors
    (the constants may be shared by ONE_HOTs with different grids); 0 is exact, 1 within half a
    step of the output grid.
    """

    name: str = "ONE_HOT on/off values onto the output grid"

    def matches(self, model, subgraph, operator) -> bool:
        schema = _schema()
        if _builtin(model, operator) != schema.BuiltinOperator.ONE_HOT or len(operator.inputs) < 4:
            return False
        tensors = [subgraph.tensors[i] for i in (operator.inputs[2], operator.inputs[3], operator.outputs[0])]
        if any(_per_tensor(t) is None for t in tensors):
            return False
        return all(model.buffers[t.buffer].data is not None for t in tensors[:2]) and any(_per_tensor(t) != _per_tensor(tensors[2]) for t in tensors[:2])

    def replace(self, model, subgraph, operator) -> list:
        out_scale, out_zero = _per_tensor(subgraph.tensors[operator.outputs[0]])
        inputs = list(operator.inputs)
        for position in (2, 3):
            tensor = subgraph.tensors[inputs[position]]
            scale, zero = _per_tensor(tensor)
            stored = np.asarray(model.buffers[tensor.buffer].data, np.uint8).view(np.int8).astype(np.float64)
            value = scale * (stored - zero)
            requantized = np.clip(np.round(value / out_scale) + out_zero, -128, 127).astype(np.int8)
            shape = tuple(tensor.shape) if tensor.shape is not None else requantized.shape
            inputs[position] = _constant(model, subgraph, f"{_name(tensor)}/on_output_grid", requantized.reshape(shape), out_scale, out_zero)
        operator.inputs = inputs
        return [operator]


INT8_RULES = (HardSwishInt8(), OneHotInt8())


def apply(model, rules=INT8_RULES) -> dict[str, int]:
    """Rewrite every operator a rule matches, in place; how many each rule rewrote."""
    counts: Counter = Counter()
    for subgraph in model.subgraphs:
        operators = []
        for operator in subgraph.operators:
            rule = next((rule for rule in rules if rule.matches(model, subgraph, operator)), None)
            if rule is None:
                operators.append(operator)
                continue
            operators.extend(rule.replace(model, subgraph, operator))
            counts[rule.name] += 1
        subgraph.operators = operators
    return dict(counts)
