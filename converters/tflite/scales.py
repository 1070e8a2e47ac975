"""Degenerate int8 quantization parameters, caught before an int8 TFLite artifact is written.

The TFLiteConverter writes what calibration gave it; some of it a runtime cannot take:

- a non-finite or non-positive scale: repaired where exact, i.e. on a constant tensor whose every
  stored value is its zero point (it holds zeros under any scale; 1.0 is written) and that no
  kernel pairs with a bias scale; anywhere else a one-line error;
- an int8 SOFTMAX / LOG_SOFTMAX input whose ``beta * scale * 2**26 <= 1``: TFLM's
  ``PreprocessSoftmaxScaling`` (``CalculateSoftmaxParams``) hits ``TFLITE_CHECK_GT(multiplier, 1)``
  and aborts the whole process (SIGABRT), while LiteRT runs it. Calibration saw logits that span
  less than ``256 * 2**-26 / beta`` (about 4e-6): the error asks for calibration data that moves them;
- an activation whose calibration range was empty (the converter's floor: a range of 1e-6, e.g. a
  ReLU that was never positive) runs, but saturates at 1e-6 on any other input: a warning.
"""

from __future__ import annotations

import math

import numpy as np

SOFTMAX_INTEGER_BITS = 5  # kScaledDiffIntegerBits of TFLM's int8 softmax
EMPTY_RANGE = 1e-6 / 127.5 * 1.01  # a scale at or below this covers a calibrated range of at most ~1e-6
WITH_BIAS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"})


def check(model, op_name) -> tuple[list[str], list[str], int]:
    """Problems, warnings and the number of repaired tensors of a converted int8 ``model``
    (flatbuffer_utils' ``ModelT``, repaired in place); ``op_name(opcode_index)`` names an operator."""
    problems: list[str] = []
    warnings: list[str] = []
    repaired = 0
    for graph in model.subgraphs:
        paired = _bias_paired(graph, op_name)
        produced = {index for operator in graph.operators for index in operator.outputs}
        for index, tensor in enumerate(graph.tensors):
            scales = _scales(tensor)
            if scales is None:
                continue
            name = _name(tensor)
            if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
                if _zero_constant(model, tensor) and index not in paired:
                    tensor.quantization.scale = [1.0] * len(scales)
                    repaired += 1
                    continue
                problems.append(f"int8 tensor {name!r} has quantization scale {_text(scales)}, which no runtime can use; "
                                "check the model for NaN/Inf weights or calibrate with --calibration real data")
            elif index in produced and float(np.max(scales)) <= EMPTY_RANGE:
                warnings.append(f"WARNING: int8 tensor {name!r} was calibrated to an empty range (scale {_text(scales)}): "
                                "it was constant on every calibration sample; calibrate with --calibration data that exercises it")
        for operator in graph.operators:
            if op_name(operator.opcodeIndex) in ("SOFTMAX", "LOG_SOFTMAX"):
                problems.extend(_softmax_problem(graph, operator))
    return problems, warnings, repaired


def _softmax_problem(graph, operator) -> list[str]:
    tensor = graph.tensors[operator.inputs[0]]
    scales = _scales(tensor)
    if scales is None or len(scales) != 1:
        return []
    beta = float(getattr(operator.builtinOptions, "beta", 1.0) or 1.0)
    if beta * float(scales[0]) * (1 << (31 - SOFTMAX_INTEGER_BITS)) > 1.0:
        return []
    span = 256 * float(scales[0])
    return [f"the int8 softmax input {_name(tensor)!r} was calibrated to a range of {span:.2g} (scale {float(scales[0]):.3g}), below "
            f"the {256 * 2.0 ** -26 / beta:.2g} tflite-micro's softmax needs (it aborts the process): the calibration samples barely move "
            "the logits; calibrate with --calibration real data"]


def _bias_paired(graph, op_name) -> set[int]:
    """Weights whose scale a kernel multiplies into its bias's (the filter of a conv / dense with a bias)."""
    return {operator.inputs[1] for operator in graph.operators
            if op_name(operator.opcodeIndex) in WITH_BIAS and len(operator.inputs) > 2 and operator.inputs[2] >= 0}


def _scales(tensor) -> np.ndarray | None:
    quantization = tensor.quantization
    scale = getattr(quantization, "scale", None) if quantization is not None else None
    if scale is None or len(scale) == 0:
        return None
    return np.asarray(scale, dtype=np.float64)


def _zero_constant(model, tensor) -> bool:
    data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
    if data is None or len(data) == 0 or tensor.type != 9:  # 9: INT8
        return False
    values = np.frombuffer(bytes(bytearray(data)), dtype=np.int8)
    zero_points = np.unique(np.asarray(tensor.quantization.zeroPoint if tensor.quantization.zeroPoint is not None else [0]))
    return len(zero_points) == 1 and bool(np.all(values == zero_points[0]))


def _name(tensor) -> str:
    return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)


def _text(scales: np.ndarray) -> str:
    bad = [s for s in scales if not math.isfinite(s) or s <= 0]
    return f"{(bad or list(scales))[0]:.3g}" + (f" (of {len(scales)} channels)" if len(scales) > 1 else "")
