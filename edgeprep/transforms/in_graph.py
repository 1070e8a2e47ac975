"""Issue 16: TextVectorization, Hashing and HashedCrossing computed in the artifact, by default.

The family rules place these layers on the host (their detail says why no single builtin op does
it); this pass, run after them unless ``--host-steps`` (`edgeprep.ExportConfig.host_steps`), puts
each such host call back on the device as a layer of builtin ops from `edgeprep.ingraph`
(FarmHash / SipHash / FingerprintCat64 in 64-bit integer arithmetic, TextVectorization on bytes):

- a string input they read becomes the artifact's uint8 UTF-8 bytes input ``(batch, *S, N)``
  (`edgeprep.runtime.text`); string glue between it and them (Reshape, Flatten, expand_dims) is
  translated to the bytes (`edgeprep.families.utf8.glue`);
- the 64-bit XOR and shifts take the target's form (`edgeprep.ingraph.uint64.Bitwise`): TFLite's
  32-bit BITWISE_XOR / RIGHT_SHIFT on the halves; ONNX BitwiseXor at opset >= 18, opset 11-17
  BitShift and byte-table XOR (ONNX17), older PORTABLE;
- with no ``--opset`` (``onnx_opset=None``) an ONNX artifact that hashes in graph is written at opset
  18 (`onnx_opset`): BitwiseXor is 2.7-4.7x faster than opset 17's byte tables and converts faster
  (benchmarks/7-ingraph.md); onnxruntime (Python, Node, web) runs it. Other artifacts stay at 17.

A layer stays on the host, with the reason in its detail, when its options are not lowered
(`edgeprep.ingraph.text.check`), when its strings come from another computation than an input and
glue, or when the same string input also feeds something that needs the strings themselves (a
device StringLookup, a host step), since one input has one form.
"""

from __future__ import annotations

from edgeprep.config import Action, ExportConfig, HostKind, Target
from edgeprep.graph import Call, Graph
from edgeprep.transforms.rewrite import Edit, Rewrite

KINDS = (HostKind.TEXT_VECTORIZATION, HostKind.HASHING, HostKind.HASHED_CROSSING)
IN_GRAPH = "lowered (in graph)"
RULE = "in-graph-strings"
HASH_RULE = "in-graph-hashing"  # the rule of an in-graph Hashing / HashedCrossing step (64-bit arithmetic)
BITSHIFT_OPSET = 11  # ONNX BitShift, what the ONNX17 form needs


def bitwise_for(target: Target, config: ExportConfig):
    """The 64-bit form ``target`` runs as builtins at ``config``'s opset (None: `onnx_opset` picks 18)."""
    from edgeprep.ingraph.uint64 import Bitwise

    if target is Target.TFLITE:
        return Bitwise.TFLITE
    if config.onnx_opset is None or config.onnx_opset >= Bitwise.ONNX.onnx_opset:
        return Bitwise.ONNX
    return Bitwise.ONNX17 if config.onnx_opset >= BITSHIFT_OPSET else Bitwise.PORTABLE


def onnx_opset(config: ExportConfig, steps) -> tuple[int, str]:
    """The ONNX artifact's opset and why, from ``config`` and the ONNX plan's ``steps``: ``--opset`` if
    given, else 18 when a step hashes in graph (the form `bitwise_for` chose), else the default 17."""
    from edgeprep.config import DEFAULT_ONNX_OPSET
    from edgeprep.ingraph.uint64 import Bitwise

    if config.onnx_opset is not None:
        return config.onnx_opset, "--opset"
    hashing = [step.layer for step in steps if step.rule == HASH_RULE]
    if hashing:
        return Bitwise.ONNX.onnx_opset, f"in-graph hashing ({', '.join(hashing[:3])}{', ...' if len(hashing) > 3 else ''}) uses BitwiseXor"
    return DEFAULT_ONNX_OPSET, "default"


def resolve_opset(config: ExportConfig, plans: dict) -> tuple[ExportConfig, str | None]:
    """``config`` with its ONNX opset decided (`onnx_opset` of the ONNX plan), and a note when it was raised."""
    import dataclasses

    from edgeprep.config import DEFAULT_ONNX_OPSET

    plan = plans.get(Target.ONNX)
    opset, why = onnx_opset(config, plan.steps if plan is not None else ())
    note = f"ONNX opset {opset}: {why}" if config.onnx_opset is None and opset != DEFAULT_ONNX_OPSET else None
    return dataclasses.replace(config, onnx_opset=opset), note


def _device_op(call: Call, kind: HostKind, config: dict, bitwise, auto_opset: bool = False, micro: bool = False) -> tuple[object | None, str]:
    """The in-graph layer of a call and its detail, or None and why not (``auto_opset``: no --opset given;
    ``micro``: for tflite-micro)."""
    from edgeprep.ingraph.text import UnsupportedText
    from edgeprep.ingraph.uint64 import Bitwise

    form = f"(64-bit arithmetic: {bitwise.value})"
    if auto_opset and bitwise is Bitwise.ONNX:
        form += f", so ONNX opset {bitwise.onnx_opset} (BitwiseXor; --opset 17 writes byte-table XOR, slower)"
    try:
        if kind is HostKind.TEXT_VECTORIZATION:
            from edgeprep.families.text_vectorization.device import utf8_text

            how = "tflite-micro kernels (int32, static bytes)" if micro else "builtin ops"
            return utf8_text(call, config, micro), f"{IN_GRAPH}: standardize, split, ngrams and lookup on the UTF-8 bytes, {how}"
        if micro:
            return None, "--micro: 64-bit hashing needs int64 / BITWISE_XOR / RIGHT_SHIFT, which tflite-micro lacks"
        if kind is HostKind.HASHING:
            from edgeprep.families.hashing.device import hashing_layer

            what = "SipHash-2-4 (salted)" if config["salt"] is not None else "FarmHash Fingerprint64"
            return hashing_layer(call, config, bitwise), f"{IN_GRAPH}: {what} in builtin ops {form}"
        from edgeprep.families.hashed_crossing.device import crossing_layer

        return crossing_layer(call, config, bitwise), f"{IN_GRAPH}: FingerprintCat64 cross in builtin ops {form}"
    except UnsupportedText as exc:
        return None, str(exc)


def _plain_text_lookup(call: Call) -> bool:
    """A TextVectorization already on the device as a string lookup (no standardize, no split): it
    takes the bytes too when its input becomes the bytes input."""
    return call.class_name == "TextVectorization" and call.action is Action.LOWERED and bool(call.inputs) and str(call.inputs[0].dtype) == "string"


def _text_spec(layer) -> dict:
    from edgeprep.families.text_vectorization import spec

    return spec(layer)


def _string_sources(call: Call, graph: Graph) -> tuple[list[tuple[str, list[Call]]], str | None]:
    """For each string input of ``call``: (model input name, glue calls on the way), or why not."""
    from edgeprep.families.utf8 import GLUE

    names = {id(t): name for name, t in zip(graph.input_names, graph.inputs)}
    found = []
    for tensor in call.inputs:
        if str(tensor.dtype) != "string":
            continue
        chain = []
        producer = graph.producer(tensor)
        while producer is not None:
            if producer.class_name not in GLUE or producer.action is not Action.KEPT or len(producer.inputs) != 1:
                return [], f"reads strings computed by {producer.layer.name} ({producer.class_name})"
            chain.append(producer)
            producer = graph.producer(producer.inputs[0])
        source = graph.resolve(chain[-1].inputs[0] if chain else tensor)
        if id(source) not in names:
            return [], "reads a string tensor that is not a model input"
        found.append((names[id(source)], chain))
    return found, None


def _readers(graph: Graph, name: str) -> tuple[list[Call], list[Call], bool]:
    """The calls reading input ``name``: (glue calls, the first non-glue readers, it is read as a model output)."""
    from edgeprep.families.utf8 import GLUE

    tensor = graph.inputs[graph.input_names.index(name)]
    glue, ends, output = [], [], graph.is_output(tensor)
    frontier, seen = [tensor], set()
    while frontier:
        value = frontier.pop()
        for reader in graph.consumers(value):
            if reader.path in seen:
                continue
            seen.add(reader.path)
            if reader.class_name in GLUE and reader.action is Action.KEPT:
                glue.append(reader)
                output = output or graph.is_output(reader.outputs[0])
                frontier.append(reader.outputs[0])
            else:
                ends.append(reader)
    return glue, ends, output


def lower_in_graph(graph: Graph, target: Target, config: ExportConfig) -> Rewrite:
    """Put the host calls of `KINDS` into the artifact where builtin ops reproduce them (see the module docstring)."""
    if config.host_steps:
        return Rewrite()
    bitwise = bitwise_for(target, config)
    auto_opset = config.onnx_opset is None
    micro = target is Target.TFLITE and config.micro
    ops: dict[str, tuple[object, str]] = {}
    rules: dict[str, str] = {}
    kept: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    for call in graph.live_calls():
        hosted = call.action is Action.HOST and call.host is not None and call.host.kind in KINDS
        if not hosted and not _plain_text_lookup(call):
            continue
        found, problem = _string_sources(call, graph)
        kind, config = (call.host.kind, call.host.config) if hosted else (HostKind.TEXT_VECTORIZATION, _text_spec(call.layer))
        op, detail = (None, problem) if problem else _device_op(call, kind, config, bitwise, auto_opset, micro)
        if op is None:
            if hosted:
                kept[call.path] = detail
            continue
        ops[call.path] = (op, detail)
        rules[call.path] = RULE if kind is HostKind.TEXT_VECTORIZATION else HASH_RULE
        sources[call.path] = [name for name, _ in found]
    glued = {name: _glue(graph, name) for name in {n for names in sources.values() for n in names}}
    changed = True
    while changed:  # an input read as bytes must be read as bytes by every reader
        changed = False
        for name, (_, problem) in glued.items():
            if problem is None:
                _, ends, output = _readers(graph, name)
                strangers = [c for c in ends if c.path not in ops]
                if strangers:
                    problem = f"the string input {name!r} also feeds {strangers[0].layer.name} ({strangers[0].class_name}), which needs the strings themselves"
                elif output:
                    problem = f"the string input {name!r} is also a model output"
            for path in [p for p, names in sources.items() if name in names and p in ops] if problem else ():
                del ops[path]
                if graph.call(path).action is Action.HOST:
                    kept[path] = problem
                changed = True
    edits = [edit for name, (glue_edits, _) in glued.items() if any(name in sources[p] for p in ops) for edit in glue_edits]
    edits += [Edit.of(graph.call(path), op=op, kwargs={}, action=Action.LOWERED, detail=detail, host=None, rule=rules[path]) for path, (op, detail) in ops.items()]
    edits += [Edit.of(graph.call(path), detail=f"{graph.call(path).detail}; kept on the host: {why}") for path, why in kept.items()]
    return Rewrite(tuple(edits))


def _glue(graph: Graph, name: str) -> tuple[list[Edit], str | None]:
    """The bytes-form edits of the glue calls reading input ``name``, or why one cannot be translated."""
    from edgeprep.families.utf8 import glue

    edits = []
    for call in _readers(graph, name)[0]:
        op, detail = glue(call)
        if op is None:
            return [], detail
        edits.append(Edit.of(call, op=op, action=Action.LOWERED, detail=detail, rule=RULE))
    return edits, None
