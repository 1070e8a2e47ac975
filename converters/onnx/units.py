"""Unit ops out of every (sub)graph before onnxsim: ``x + 0``, ``x - 0``, ``x * 1``, ``x / 1``.

onnxsim's ``eliminate_nop_with_unit`` reroutes the consumers of such an op inside a Loop body but
leaves the op there (its dead-node pass sees the main graph only), then reports the same change
every round, so its fixed point never converges: 50 x 50 optimizer and shape-inference rounds that
change nothing. On the in-graph hashing probe (tests/ingraph/hash_probe.py, opset 18) that was
65 of onnxsim's 70 s; with the unit ops gone first it converges in 0.2 s (docs/UPSTREAM.md).
"""

from __future__ import annotations

UNITS = {"Add": 0, "Sub": 0, "Mul": 1, "Div": 1}  # x op unit == x


def drop_unit_ops(proto) -> int:
    """Remove ``x + 0``, ``x - 0``, ``x * 1``, ``x / 1`` by a scalar constant, in every (sub)graph, in place.

    Each consumer reads ``x`` instead. Float ``x + 0`` stays (-0.0 + 0 is +0.0), and so does an op
    whose result a graph returns or whose constant is an initializer a graph input may override.
    Returns the number of ops removed.
    """
    return _drop_units(proto.graph, {})


def _drop_units(graph, outer: dict) -> int:
    feedable = {value.name for value in graph.input}
    constants = dict(outer) | {init.name: init for init in graph.initializer if init.name not in feedable}
    constants |= {n.output[0]: a.t for n in graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"}
    returned = {value.name for body in [graph, *_bodies(graph, deep=True)] for value in body.output}
    renames: dict[str, str] = {}
    dropped = []
    for index, node in enumerate(graph.node):
        node.input[:] = [renames.get(name, name) for name in node.input]
        source = _unit_source(node, constants)
        if source is not None and node.output[0] not in returned:
            renames[node.output[0]] = source
            dropped.append(index)
    spent = {name for index in dropped for name in graph.node[index].input} - set(renames.values())
    for index in reversed(dropped):
        del graph.node[index]
    for body in _bodies(graph, deep=True):
        for node in body.node:
            node.input[:] = [renames.get(name, name) for name in node.input]
    if dropped:  # the unit constants no op reads any more (onnxruntime warns about unused initializers)
        used = {name for body in [graph, *_bodies(graph, deep=True)] for node in body.node for name in node.input} | returned
        unused = spent - used - feedable
        for index in reversed(range(len(graph.initializer))):
            if graph.initializer[index].name in unused:
                del graph.initializer[index]
        for index in reversed(range(len(graph.node))):
            if graph.node[index].op_type == "Constant" and graph.node[index].output[0] in unused:
                del graph.node[index]
    return len(dropped) + sum(_drop_units(body, constants) for body in _bodies(graph))


def _bodies(graph, deep: bool = False) -> list:
    """The subgraphs (Loop / If / Scan bodies) of ``graph``'s nodes; with ``deep``, theirs too."""
    found = [body for node in graph.node for attr in node.attribute for body in ([attr.g] if attr.HasField("g") else attr.graphs)]
    return found + [inner for body in found for inner in _bodies(body, deep=True)] if deep else found


def _unit_source(node, constants) -> str | None:
    """The operand ``node`` returns unchanged, if it is a unit op (`UNITS`) by a scalar constant."""
    from onnx import numpy_helper

    unit = UNITS.get(node.op_type)
    if unit is None or len(node.input) != 2:
        return None
    for position in (1,) if node.op_type in ("Sub", "Div") else (1, 0):
        tensor = constants.get(node.input[position])
        if tensor is None or len(tensor.dims):
            continue
        value = numpy_helper.to_array(tensor)
        if value == unit and (node.op_type != "Add" or value.dtype.kind in "iub"):
            return node.input[1 - position]
    return None
