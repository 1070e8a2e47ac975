"""Trace a Keras model at ``training=False`` into a frozen TensorFlow graph (no variables).

Both converters start here. Freezing turns every variable and captured tensor (Normalization
statistics, weights) into a constant, so no layer state can become a graph input, and the
TFLite converter cannot keep VAR_HANDLE / READ_VARIABLE ops (which gave NaN outputs, silently).

Control flow stays functional (``lower_control_flow=False``, as tf2onnx's own loaders freeze): a
recurrent layer's ``While`` then converts to one ONNX ``Loop`` (GRU, 6e-8 from Keras) or ONNX's own
``LSTM`` op, and to one TFLite ``WHILE``. Lowered to ``Enter``/``Exit``/``NextIteration`` frames,
tf2onnx could not convert its ``TensorListReserve`` at all.
"""

from __future__ import annotations

import re

from dataclasses import dataclass

from edgeprep.errors import ConversionError


@dataclass(frozen=True)
class Frozen:
    """A frozen concrete function and the names of its tensors.

    Attributes:
        function: the frozen ConcreteFunction.
        input_tensors: graph tensor names of the inputs (``"image:0"``), model order.
        output_tensors: graph tensor names of the outputs, model order.
    """

    function: object
    input_tensors: tuple[str, ...]
    output_tensors: tuple[str, ...]


@dataclass(frozen=True)
class FrozenIO:
    """The IO of a frozen GraphDef (`freeze_graph`).

    Attributes:
        input_tensors / output_tensors: graph tensor names (``"image:0"``), model order.
        input_ranks / output_ranks: their ranks (None where unknown).
    """

    input_tensors: tuple[str, ...]
    output_tensors: tuple[str, ...]
    input_ranks: tuple[int | None, ...] = ()
    output_ranks: tuple[int | None, ...] = ()


class Handoff:
    """A large object (a frozen GraphDef) handed down a call chain: the callee that `take`s it becomes its
    only holder and can drop it (``del``) as soon as it has made the next copy; the caller's ``del`` of
    its own name no longer keeps it alive. `peek` reads it without taking it."""

    def __init__(self, value):
        self._value = value

    def peek(self):
        return self._value

    def take(self):
        value, self._value = self._value, None
        return value


def freeze(model, input_names: tuple[str, ...]) -> Frozen:
    """Trace ``model(inputs, training=False)`` with one placeholder per input, named as the input."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete, expected = _trace(model, input_names)
    try:
        frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False)
    except Exception as exc:
        raise ConversionError(f"tracing the model at training=False failed: {_first_line(exc)}") from exc
    _check_inputs(len(frozen.inputs), expected)
    return Frozen(frozen, tuple(t.name for t in frozen.inputs), tuple(t.name for t in frozen.outputs))


def freeze_graph(model, input_names: tuple[str, ...]):
    """`freeze` as a GraphDef and its `FrozenIO` alone: no frozen ConcreteFunction is built.

    What both converters read (tf2onnx a GraphDef, TFLite's converter the GraphDef it would make of a
    function); the function held ~4 more copies of the weights (ConvNeXtTiny: 463 MB against the
    GraphDef's 125 MB, and a peak of +1.25 GB while it was built; issue 21).
    """
    from tensorflow.python.framework.convert_to_constants import _FunctionConverterDataInEager, _replace_variables_by_constants

    concrete, expected = _trace(model, input_names)
    try:
        data = _FunctionConverterDataInEager(func=concrete, lower_control_flow=False, aggressive_inlining=False)
        graph_def, converted = _replace_variables_by_constants(converter_data=data)
    except Exception as exc:
        raise ConversionError(f"tracing the model at training=False failed: {_first_line(exc)}") from exc
    captured = concrete.graph.internal_captures  # the indices count captures, as convert_variables_to_constants_v2 reads them
    constant = {id(captured[index]) for index in converted}
    inputs = [t for t in concrete.inputs if id(t) not in constant]
    _check_inputs(len(inputs), expected)
    outputs = concrete.outputs
    return graph_def, FrozenIO(tuple(t.name for t in inputs), tuple(t.name for t in outputs),
                               tuple(t.shape.rank for t in inputs), tuple(t.shape.rank for t in outputs))


def _trace(model, input_names: tuple[str, ...]):
    """The concrete function of ``model(inputs, training=False)`` and its number of inputs."""
    import tensorflow as tf
    from keras import tree

    from edgeprep.graph import functional_of

    model = functional_of(model) or model
    flat_inputs = tree.flatten(model._inputs_struct)
    specs = [
        tf.TensorSpec(tuple(t.shape), tf.string if str(t.dtype) == "string" else tf.as_dtype(t.dtype), name=name)
        for name, t in zip(input_names, flat_inputs)
    ]

    def serve(*args):
        outputs = model(tree.pack_sequence_as(model._inputs_struct, list(args)), training=False)
        # One distinct tensor per output, even when an output is an input or repeats another.
        return [tf.identity(output) for output in tree.flatten(outputs)]

    try:
        return tf.function(serve, input_signature=specs, autograph=False).get_concrete_function(), len(specs)
    except Exception as exc:
        raise ConversionError(f"tracing the model at training=False failed: {_first_line(exc)}") from exc


def _check_inputs(found: int, expected: int) -> None:
    if found != expected:
        raise ConversionError(f"the frozen graph has {found} inputs, expected {expected}: layer state leaked into inputs")


def _first_line(exc: Exception) -> str:
    """The exception's first line; for Keras' "Exception encountered when calling X.call()." wrapper,
    the layer call and the wrapped message's first line (the wrapper alone hides the cause)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).strip().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return type(exc).__name__
    wrapper = re.match(r"Exception encountered when calling (.+?)\.?$", lines[0])
    if wrapper and len(lines) > 1:
        return f"{wrapper.group(1)}: {lines[1]}"[:300]
    return lines[0][:300]
