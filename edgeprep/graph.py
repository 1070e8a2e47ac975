"""A flat, immutable view of a Keras model's call graph, and the rebuild of a Keras model from it.

Nested Sequential / Functional models and `keras.layers.Pipeline` are inlined, so rules see one
graph: a Rescaling inside a nested preprocessing model is a neighbour of the Conv2D after it.
Nothing here is edited in place: rules return an `edgeprep.transforms.rewrite.Rewrite` (new
`CallState`s per call path) and `Graph.apply` returns a new graph with them. `rebuild` turns a
graph back into a Functional model that calls the original layer objects (weights are shared,
never mutated: a rule that changes weights builds a new layer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from edgeprep.config import Action, HostKind
from edgeprep.errors import LoadError

if TYPE_CHECKING:
    from edgeprep.transforms.rewrite import Rewrite


@dataclass(frozen=True)
class HostPlacement:
    """Where a HOST call runs: the host implementation and the portable config it reads.

    Attributes:
        kind: the host implementation (``kind`` in ``preprocess.json``).
        config: JSON-ready configuration (its family's ``spec``, `edgeprep.families`).
    """

    kind: HostKind
    config: dict = field(compare=False)


@dataclass(frozen=True, eq=False, kw_only=True)
class CallState:
    """What the plan does with one call: the part of a `Call` a rewrite replaces.

    Attributes:
        op: what `rebuild` calls instead of the layer; None keeps the layer.
        kwargs: the call's keyword arguments (KerasTensor leaves refer to graph values).
        passthrough: `rebuild` skips the call and forwards its first input.
        action / detail / rule: what the plan decided and why.
        host: for a HOST call, the host step that reproduces it.
    """

    op: Any = None
    kwargs: Mapping = field(default_factory=dict)
    passthrough: bool = False
    action: Action = Action.KEPT
    detail: str = ""
    rule: str = ""
    host: HostPlacement | None = None

    def __post_init__(self):
        if not isinstance(self.kwargs, MappingProxyType):
            object.__setattr__(self, "kwargs", MappingProxyType(dict(self.kwargs)))

    def state_fields(self) -> dict[str, Any]:
        """The `CallState` fields by name (shallow)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(CallState)}


@dataclass(frozen=True, eq=False)
class Call(CallState):
    """One call of one operation in the flattened graph, with what the plan does with it.

    The `CallState` fields (op, kwargs, passthrough, action, detail, rule, host) say what the
    plan does with the call; a new graph from `Graph.apply` carries their new values.

    Attributes:
        path: unique, slash-separated position, e.g. ``"augment/random_flip"``.
        layer: the original operation (a Keras layer or op).
        args: the call's positional arguments; KerasTensor leaves refer to graph values.
        inputs: the KerasTensors this call reads (flat).
        outputs: the KerasTensors this call produces (flat).
    """

    path: str
    layer: Any
    args: tuple
    inputs: tuple
    outputs: tuple

    @property
    def class_name(self) -> str:
        return type(self.layer).__name__


@dataclass(frozen=True, eq=False)
class Graph:
    """The flattened model: named inputs, calls in topological order, named outputs.

    ``alias`` maps ``id(tensor)`` to the value that stands for it (nested-model boundaries,
    passthrough calls). Compared by identity, like its calls.
    """

    name: str
    input_names: tuple[str, ...]
    inputs: tuple  # original input KerasTensors, flat, model order
    input_struct: Any
    output_names: tuple[str, ...]
    outputs: tuple  # original output KerasTensors, flat
    output_struct: Any
    calls: tuple[Call, ...] = ()
    alias: Mapping[int, Any] = field(default_factory=dict)
    containers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if not isinstance(self.alias, MappingProxyType):
            object.__setattr__(self, "alias", MappingProxyType(dict(self.alias)))

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {call.path: index for index, call in enumerate(self.calls)}

    def call(self, path: str) -> Call:
        """The call at ``path``."""
        return self.calls[self._positions[path]]

    def apply(self, rewrite: Rewrite) -> Graph:
        """A new graph with ``rewrite``'s edits, in order (``self`` is unchanged).

        A call that becomes a passthrough aliases its output to its first input.
        """
        if not rewrite.edits:
            return self
        calls, alias = list(self.calls), dict(self.alias)
        for edit in rewrite.edits:
            index = self._positions[edit.path]
            old = calls[index]
            new = dataclasses.replace(old, **edit.state.state_fields())
            if new.passthrough and not old.passthrough:
                alias[id(new.outputs[0])] = new.inputs[0]
            calls[index] = new
        return dataclasses.replace(self, calls=tuple(calls), alias=alias)

    def resolve(self, tensor):
        """Follow aliases (nested-model boundaries, passthrough calls) to the value that exists."""
        seen = 0
        while id(tensor) in self.alias:
            tensor = self.alias[id(tensor)]
            seen += 1
            if seen > 100_000:  # pragma: no cover - a cycle would be a bug
                raise RuntimeError("alias cycle in graph")
        return tensor

    def producer(self, tensor) -> Call | None:
        """The live call whose output is ``tensor`` (after resolving), or None for a model input."""
        target = id(self.resolve(tensor))
        for call in self.calls:
            if not call.passthrough and any(id(out) == target for out in call.outputs):
                return call
        return None

    def consumers(self, tensor) -> list[Call]:
        """Live calls that read ``tensor`` (after resolving aliases and passthroughs)."""
        target = id(self.resolve(tensor))
        found = []
        for call in self.calls:
            if call.passthrough:
                continue
            if any(id(self.resolve(t)) == target for t in call.inputs):
                found.append(call)
        return found

    def is_output(self, tensor) -> bool:
        target = id(self.resolve(tensor))
        return any(id(self.resolve(out)) == target for out in self.outputs)

    def live_calls(self) -> list[Call]:
        """The calls `rebuild` runs (not passthrough)."""
        return [call for call in self.calls if not call.passthrough]

    def utf8_inputs(self) -> tuple[str, ...]:
        """String inputs that device ops read as UTF-8 bytes (an op with ``reads_utf8_bytes``):
        `rebuild` makes them uint8 ``(batch, *S, N)`` (`edgeprep.runtime.text`)."""
        return tuple(
            name for name, tensor in zip(self.input_names, self.inputs)
            if str(tensor.dtype) == "string" and any(getattr(call.op, "reads_utf8_bytes", False) and call.action is not Action.HOST for call in self.consumers(tensor))
        )


def _tree():
    from keras import tree

    return tree


def _is_tensor(value) -> bool:
    from keras import KerasTensor

    return isinstance(value, KerasTensor)


def io_names(model) -> tuple[list[str], list[str]]:
    """Input and output names of a Functional model, in flat order.

    Dict-structured inputs/outputs are named by their keys; otherwise inputs by their InputLayer
    names and outputs by ``model.output_names``.
    """
    tree = _tree()
    model = functional_of(model) or model
    in_struct, out_struct = model._inputs_struct, model._outputs_struct
    if isinstance(in_struct, dict):
        input_names = [str(path[0]) for path, _ in tree.flatten_with_path(in_struct)]
    else:
        input_names = [_input_layer_name(tensor) for tensor in tree.flatten(in_struct)]
    if isinstance(out_struct, dict):
        output_names = [str(path[0]) for path, _ in tree.flatten_with_path(out_struct)]
    else:
        output_names = list(model.output_names)
    return input_names, output_names


def _input_layer_name(tensor) -> str:
    """The name of the InputLayer behind ``tensor`` (stable across sessions, unlike tensor names)."""
    history = getattr(tensor, "_keras_history", None)
    return history[0].name if history else tensor.name


def functional_of(model):
    """The Functional graph behind ``model`` (a Sequential's inner one), or None if it has none."""
    from keras.src.models.functional import Functional
    from keras.src.models.sequential import Sequential

    if isinstance(model, Sequential):
        return model._functional
    if isinstance(model, Functional):
        return model
    return None


def flatten(model) -> Graph:
    """Flatten ``model`` (Functional or Sequential, any nesting) into a `Graph`.

    Raises:
        LoadError: for a model whose graph cannot be walked (subclassed top-level models).
    """
    functional = functional_of(model)
    if functional is None:
        raise LoadError(
            f"model {model.name!r} is a subclassed keras.Model; edgeprep needs a Functional or Sequential model "
            "(wrap it: inputs = keras.Input(...); keras.Model(inputs, your_model(inputs)))"
        )
    tree = _tree()
    input_names, output_names = io_names(functional)
    parts = _Parts()
    _walk(functional, "", parts, {})
    return Graph(
        name=model.name,
        input_names=tuple(input_names),
        inputs=tuple(tree.flatten(functional._inputs_struct)),
        input_struct=functional._inputs_struct,
        output_names=tuple(output_names),
        outputs=tuple(tree.flatten(functional._outputs_struct)),
        output_struct=functional._outputs_struct,
        calls=tuple(parts.calls),
        alias=parts.alias,
        containers=tuple(parts.containers),
    )


@dataclass
class _Parts:
    """What `_walk` collects before the `Graph` is frozen."""

    calls: list[Call] = field(default_factory=list)
    alias: dict[int, Any] = field(default_factory=dict)
    containers: list[tuple[str, str]] = field(default_factory=list)


def _walk(functional, prefix: str, parts: _Parts, seen: dict[str, int]) -> None:
    """Append ``functional``'s calls to ``parts``, inlining nested models and pipelines.

    Node kwargs such as ``training=True`` (recorded when Keras builds the graph) are kept as they
    are: at inference Keras overrides them with the caller's ``training=False``, and so does the
    rebuilt model.
    """
    from keras.layers import Pipeline

    tree = _tree()
    for depth in sorted(functional._nodes_by_depth, reverse=True):
        for node in functional._nodes_by_depth[depth]:
            operation = node.operation
            if operation is None or node.is_input:
                continue
            args, kwargs = node.arguments.args, node.arguments.kwargs
            path = _unique(prefix + operation.name, seen)
            inner = functional_of(operation)
            if inner is not None and args:
                parts.containers.append((path, type(operation).__name__))
                _alias_structure(parts, tree.flatten(inner._inputs_struct), tree.flatten(args[0]), path)
                _walk(inner, path + "/", parts, seen)
                for outer, inner_out in zip(node.outputs, tree.flatten(inner._outputs_struct)):
                    parts.alias[id(outer)] = inner_out
            elif isinstance(operation, Pipeline) and len(args) == 1:
                parts.containers.append((path, "Pipeline"))
                current = args[0]
                for layer in operation.layers:
                    output = layer(current)
                    parts.calls.append(Call(_unique(f"{path}/{layer.name}", seen), layer, (current,), (current,), (output,)))
                    current = output
                parts.alias[id(node.outputs[0])] = current
            else:
                parts.calls.append(Call(path, operation, tuple(args), tuple(node.arguments.keras_tensors), tuple(node.outputs), kwargs=kwargs))


def _alias_structure(parts: _Parts, inner_inputs: list, outer_args: list, path: str) -> None:
    if len(inner_inputs) != len(outer_args) or not all(_is_tensor(t) for t in outer_args):
        raise LoadError(f"{path}: nested model is called with inputs edgeprep cannot match to its Input layers; call it with tensors matching its inputs")
    for inner, outer in zip(inner_inputs, outer_args):
        parts.alias[id(inner)] = outer


def _unique(path: str, seen: dict[str, int]) -> str:
    count = seen.get(path, 0) + 1
    seen[path] = count
    return path if count == 1 else f"{path}#{count}"


def _host_output_shape(step, tensor) -> tuple:
    """The shape of what a host step returns, where Keras' symbolic shape says otherwise.

    A TextVectorization with a split and a multi_hot / count / tf_idf output on ``(N, 1)`` strings
    is ``(N, 1, V)`` symbolically but ``(N, V)`` when it runs (Keras squeezes the trailing 1 before
    splitting; the host step does the same), so the device input takes ``(N, V)``.
    """
    shape = tuple(tensor.shape)
    config = step.config
    if step.kind is HostKind.TEXT_VECTORIZATION and config.get("split") is not None and config.get("output_mode") != "int" and len(shape) == 3 and shape[1] == 1:
        return (shape[0], shape[2])
    return shape


def rebuild(graph: Graph, batch: int | None = None, name: str | None = None, split=None, max_bytes: int | None = None):
    """Build a Functional model computing ``graph`` (with its edits) on fresh inputs.

    Args:
        graph: the (planned) graph.
        batch: a static batch size for every input, or None to keep the original batch dimension.
        name: the new model's name.
        split: a `edgeprep.transforms.split.HostSplit`: build the device model instead, whose
            inputs are ``split.device_inputs`` (host calls' outputs become inputs; host calls and
            raw inputs only they read are left out). Its inputs are a flat list.
        max_bytes: a static bytes axis N for the UTF-8 bytes inputs (`utf8_inputs`), or None: dynamic.
    """
    import keras

    tree = _tree()
    values: dict[int, Any] = {}
    new_inputs = []
    utf8 = set(graph.utf8_inputs())

    def fresh(input_name, tensor, dtype, shape=None):
        shape = tuple(tensor.shape) if shape is None else shape
        if batch is not None and shape:
            shape = (batch, *shape[1:])
        if input_name in utf8:  # a string input read as UTF-8 bytes: uint8 with a trailing bytes axis
            shape, dtype = (*shape, max_bytes), "uint8"
        return keras.Input(batch_shape=shape, dtype=dtype, name=input_name)

    if split is not None:
        by_name = {}
        for input_name, tensor in zip(graph.input_names, graph.inputs):
            by_name[input_name] = (tensor, tensor.dtype)
        steps = {step.output: step for step in split.steps}
        shapes = {}
        for call in graph.calls:
            out_name = split.output_name(call)
            if out_name is not None:
                by_name[out_name] = (call.outputs[0], steps[out_name].dtype)
                shapes[out_name] = _host_output_shape(steps[out_name], call.outputs[0])
        for input_name in split.device_inputs:
            tensor, dtype = by_name[input_name]
            new = fresh(input_name, tensor, dtype, shapes.get(input_name))
            values[id(tensor)] = new
            new_inputs.append(new)
    else:
        for input_name, tensor in zip(graph.input_names, graph.inputs):
            new = fresh(input_name, tensor, tensor.dtype)
            values[id(tensor)] = new
            new_inputs.append(new)

    def value_of(tensor):
        return values[id(graph.resolve(tensor))]

    def substitute(leaf):
        return value_of(leaf) if _is_tensor(leaf) else leaf

    for call in graph.calls:
        if call.passthrough or (split is not None and call.action is Action.HOST):
            continue
        if any(id(graph.resolve(t)) not in values for t in call.inputs):
            continue  # not reachable from the inputs, as in Keras' own graph execution
        args = tree.map_structure(substitute, call.args)
        kwargs = tree.map_structure(substitute, dict(call.kwargs))
        outputs = (call.op if call.op is not None else call.layer)(*args, **kwargs)
        for original, new in zip(call.outputs, tree.flatten(outputs)):
            values[id(original)] = new
    if split is not None:  # the device model: flat inputs, the device outputs by name
        wanted = set(split.device_outputs)
        outputs = {key: value_of(t) for key, t in zip(graph.output_names, graph.outputs) if key in wanted}
        return keras.Model(new_inputs, outputs, name=name or graph.name)
    outputs = [value_of(tensor) for tensor in graph.outputs]
    model = keras.Model(
        tree.pack_sequence_as(graph.input_struct, new_inputs),
        tree.pack_sequence_as(graph.output_struct, outputs),
        name=name or graph.name,
    )
    model.output_names = list(graph.output_names)  # stable even where a rule replaced an output layer
    return model
