"""Edge-grade ONNX: tf2onnx's optimizer watched and repaired, the graph simplified, layout bounded.

After tf2onnx:

1. Watch. tf2onnx runs each graph optimizer with ``catch_errors=True``: when one raises it logs a
   warning and keeps the graph from before it. Its transpose optimizer raises on a scalar
   constant added after a bias-less Conv (``bias_size = max(numpy_val.shape)`` of an empty
   shape), which a freshly initialised MobileNetV3Small hits: 106 of 321 nodes stayed Transposes.
   `watch_optimizers` records every such failure.
2. Repair. On a failure, tf2onnx's optimizers run again on the converted graph with errors raised
   and the transpose optimizer replaced by `ScalarSafeTransposeOptimizer` (a scalar becomes a
   per-channel bias of the Conv's size first). Whatever still fails raises `ConversionError`.
3. Simplify with onnxsim (constant folding, Pad into Conv, identity Squeeze/Reshape pairs, dead
   nodes; standard ops only). Chosen by measurement (BENCHMARKS.md, scripts/bench.py) over
   onnxslim and onnxruntime's offline basic level on edgeprep's own tf2onnx graphs: fewest nodes on
   every model (EfficientNetB0 224: 241 vs 273 onnxslim vs 288 basic; MobileNetV3Small: 190 = 190
   < 210), same latency, fastest to run (0.07 s vs 0.41 s for onnxslim).
   Unit ops (``x + 0``, ``x * 1``) leave every subgraph first (`converters.onnx.units`): onnxsim
   never reaches its fixed point on one in a Loop body (70 s of no-ops on in-graph hashing).
4. Layout. ``Transpose(NCHW->NHWC) -> Reshape(N, -1) -> MatMul(W)`` (a Keras Flatten after a
   convolution) becomes ``Reshape -> MatMul(W')`` with W's rows permuted to the NCHW order; an
   input Transpose moves above the elementwise ops before it (`hoist_input_transposes`).
5. Check. More layout Transposes than one per NHWC image input or output (any with
   ``--onnx-layout nchw``) get a second optimizer pass, kept if it removes any; the count that
   remains is recorded in the manifest (a Permute layer, or a Reshape between convolutions of
   different rank, needs its own).

``OnnxOptimize.ORT`` then applies onnxruntime's offline optimisation (extended level): fused
ops from the ``com.microsoft`` domain, so the file runs in onnxruntime only.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter, OrderedDict
from collections.abc import Iterator

import numpy as np

from converters.onnx.runner import STANDARD_DOMAINS
from converters.onnx.units import drop_unit_ops
from edgeprep.errors import ConversionError

LAYOUT_PERMS = {(0, 2, 3, 1), (0, 3, 1, 2), (0, 2, 1), (0, 2, 3, 4, 1), (0, 4, 1, 2, 3)}


class _FailureLog(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Failed"):
            error = record.exc_info[1] if record.exc_info else None
            self.failures.append(f"{message}: {type(error).__name__}: {error}" if error else message)


@contextlib.contextmanager
def watch_optimizers() -> Iterator[list[str]]:
    """Collect the failures tf2onnx's optimizers log (and otherwise swallow) inside the block."""
    logger = logging.getLogger("tf2onnx.optimizer")
    handler = _FailureLog()
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield handler.failures
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def clean(proto, expected_transposes: int):
    """Steps 3-5 on a converted (and repaired) graph: spec-exact Resize scales, onnxsim, layout."""
    fix_resize_scales(proto)  # before onnxsim, so the shapes it infers are the spec's
    drop_unit_ops(proto)  # before onnxsim, which loops on them in loop bodies (converters/onnx/units.py)
    proto = simplify(proto)
    fold_flatten_transposes(proto)
    hoist_input_transposes(proto)
    if layout_transposes(proto) > expected_transposes:
        proto = second_pass(proto)
    return proto


def _safe_transpose_optimizer():
    from tf2onnx import utils
    from tf2onnx.optimizer.transpose_optimizer import TransposeOptimizer

    class ScalarSafeTransposeOptimizer(TransposeOptimizer):
        """tf2onnx's transpose optimizer; a scalar added after a bias-less Conv becomes a vector first."""

        def _add_handler(self, trans, node):
            conv = trans.inputs[0]
            if node.inputs[1].is_const() and conv.type == "Conv" and len(conv.input) == 2:
                value = node.inputs[1].get_tensor_value(as_list=False)
                if value.ndim == 0:
                    channels = conv.inputs[1].output_shapes[0][0]
                    vector = self._g.make_const(utils.make_name("scalar_bias"), np.full((channels,), value, value.dtype))
                    self._g.replace_input(node, node.input[1], vector.output[0], 1)
            return super()._add_handler(trans, node)

    return ScalarSafeTransposeOptimizer


def unconverted_ops(proto) -> list[str]:
    """Node types tf2onnx left that no ONNX domain defines (it logs, and keeps, ops it cannot convert)."""
    import onnx

    return sorted({node.op_type for node in proto.graph.node if not onnx.defs.has(node.op_type, node.domain or "")})


def _reoptimize(proto):
    """tf2onnx's optimizers over ``proto`` with the transpose optimizer fixed; raises on any failure."""
    from tf2onnx import optimizer
    from tf2onnx.graph import GraphUtil

    optimizers = OrderedDict(optimizer._get_optimizers())  # noqa: SLF001 - tf2onnx's own default list
    optimizers["optimize_transpose"] = _safe_transpose_optimizer()
    return GraphUtil.optimize_model_proto(proto, catch_errors=False, optimizers=optimizers)


def repair(proto, failures: list[str]):
    """Re-run tf2onnx's optimizers on ``proto`` with the transpose optimizer fixed, raising on failure."""
    try:
        return _reoptimize(proto)
    except Exception as exc:
        raise ConversionError(
            f"tf2onnx's graph optimizer failed ({'; '.join(failures)[:200]}) and edgeprep's repair failed too "
            f"({type(exc).__name__}: {str(exc)[:200]}); refusing to write a half-optimised ONNX graph"
        ) from None


def second_pass(proto):
    """Optimise once more when layout Transposes remain; keep the result only if it has fewer."""
    try:
        again = _reoptimize(proto)
    except Exception as exc:
        raise ConversionError(f"tf2onnx's transpose optimizer failed on a second pass: {type(exc).__name__}: {str(exc)[:200]}") from None
    return again if layout_transposes(again) < layout_transposes(proto) else proto


def simplify(proto):
    """onnxsim's simplification (constant folding, shape-driven eliminations, fusions), standard ops only."""
    import onnxsim

    try:
        simplified, _ = onnxsim.simplify(proto)
    except Exception as exc:
        raise ConversionError(f"onnxsim failed to simplify the ONNX graph: {type(exc).__name__}: {str(exc)[:200]}") from None
    return simplified


def optimize_for_onnxruntime(proto):
    """onnxruntime's offline optimisation (extended level): ORT-specific fused ops."""
    import os
    import tempfile

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "optimized.onnx")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = path
        options.log_severity_level = 3
        ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return onnx.load(path)


def fold_flatten_transposes(proto) -> int:
    """Replace ``Transpose(0,2,3,1) -> Reshape(to rank 2) -> MatMul(const W)`` by a row permutation of W.

    Returns the number of Transposes removed.
    """
    from onnx import numpy_helper, shape_inference

    graph = proto.graph
    consumers = _consumers(graph)
    candidates = [
        node for node in graph.node
        if node.op_type == "Transpose" and _perm(node) == (0, 2, 3, 1) and len(consumers[node.output[0]]) == 1
        and consumers[node.output[0]][0] is not None and consumers[node.output[0]][0].op_type == "Reshape"
    ]
    if not candidates:
        return 0  # shape inference copies the whole model, weights included: only when there is a flatten to fold
    shapes = _shapes(shape_inference.infer_shapes(proto))
    initializers = {init.name: init for init in graph.initializer}
    removed = 0
    for transpose in candidates:
        reshape = consumers[transpose.output[0]][0]
        source = shapes.get(transpose.input[0])
        flat = shapes.get(reshape.output[0]) if reshape is not None and reshape.op_type == "Reshape" else None
        matmuls = consumers.get(reshape.output[0], []) if flat else []
        if not source or None in source[1:] or not flat or len(flat) != 2 or len(matmuls) != 1:
            continue
        matmul = matmuls[0]
        weight = initializers.get(matmul.input[1]) if matmul is not None and matmul.op_type == "MatMul" and matmul.input[0] == reshape.output[0] else None
        if weight is None or len(consumers[weight.name]) != 1:
            continue
        _, channels, height, width = source
        if flat[1] != channels * height * width or flat[0] not in (None, source[0]):
            continue  # not a flatten of the whole image per sample (e.g. a Dense over pixels)
        rows = np.arange(height * width * channels).reshape(height, width, channels).transpose(2, 0, 1).reshape(-1)
        weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight)[rows], weight.name))
        reshape.input[0] = transpose.input[0]
        graph.node.remove(transpose)
        removed += 1
    return removed


ELEMENTWISE = ("Add", "Sub", "Mul", "Div")


def hoist_input_transposes(proto) -> int:
    """Move a layout Transpose above the elementwise ops with constant operands that precede it.

    ``x -> Add(c) -> Transpose(perm)`` becomes ``x -> Transpose(perm) -> Add(transpose(c))``: the
    same values, the Transpose now right at the input, and the op broadcasting its per-channel
    constant over contiguous planes (NCHW) instead of over a 3-wide innermost axis, which
    onnxruntime runs several times slower. Returns the number of ops moved.
    """
    from onnx import numpy_helper

    graph = proto.graph
    initializers = {init.name: init for init in graph.initializer}
    moved = 0
    changed = True
    while changed:
        changed = False
        consumers = _consumers(graph)
        producers = {output: node for node in graph.node for output in node.output}
        for transpose in [node for node in graph.node if node.op_type == "Transpose" and _perm(node) in LAYOUT_PERMS]:
            op = producers.get(transpose.input[0])
            if op is None or op.op_type not in ELEMENTWISE or len(consumers[op.output[0]]) != 1:
                continue
            constant = [name for name in op.input if name in initializers]
            variable = [name for name in op.input if name not in initializers]
            if len(constant) != 1 or len(variable) != 1 or len(consumers[constant[0]]) != 1:
                continue
            perm = _perm(transpose)
            value = numpy_helper.to_array(initializers[constant[0]])
            if value.ndim not in (0, len(perm)) and value.size != 1:
                continue
            if value.ndim == len(perm):
                initializers[constant[0]].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(value.transpose(perm)), constant[0]))
            # x -> op -> T -> y   becomes   x -> T -> op -> y
            source, between, result = variable[0], op.output[0], transpose.output[0]
            transpose.input[0], transpose.output[0] = source, between
            op.input[list(op.input).index(source)] = between
            op.output[0] = result
            nodes = list(graph.node)
            nodes.remove(transpose)
            nodes.insert(nodes.index(op), transpose)
            graph.ClearField("node")
            graph.node.extend(nodes)
            stale = [value for value in graph.value_info if value.name == between]  # its layout changed
            for value in stale:
                graph.value_info.remove(value)
            moved += 1
            changed = True
            break
    return moved


def fix_resize_scales(proto) -> int:
    """Make every constant-``scales`` Resize produce, by the ONNX spec, the size TensorFlow meant.

    tf2onnx writes ``scales = target / input`` in float32; for 48 -> 40 that is 0.8333333, and
    the spec's ``floor(48 * 0.8333333) = 39`` while onnxruntime (rounding) gives 40: a runtime that
    follows the spec would compute a different shape. Each such scale is nudged up to the next
    float32 whose product reaches the integer (a change of 1e-7 in the sampling positions).
    Returns the number of scales changed.
    """
    from onnx import numpy_helper, shape_inference

    initializers = {init.name: init for init in proto.graph.initializer}
    if not any(node.op_type == "Resize" and len(node.input) >= 3 and node.input[2] in initializers for node in proto.graph.node):
        return 0  # shape inference copies the whole model, weights included: only when there is a scale to check
    shapes = _shapes(shape_inference.infer_shapes(proto))
    changed = 0
    for node in proto.graph.node:
        if node.op_type != "Resize" or len(node.input) < 3 or node.input[2] not in initializers:
            continue
        init = initializers[node.input[2]]
        scales = numpy_helper.to_array(init).astype(np.float32).copy()
        dims = shapes.get(node.input[0]) or ()
        for axis, (dim, scale) in enumerate(zip(dims, scales)):
            if not dim or scale <= 0:
                continue
            target = np.float32(np.round(np.float64(dim) * np.float64(scale)))
            while np.floor(np.float64(dim) * np.float64(scale)) < target:  # the spec computes in double
                scale = np.nextafter(scale, np.float32(np.inf), dtype=np.float32)
            if scale != scales[axis]:
                scales[axis] = scale
                changed += 1
        init.CopyFrom(numpy_helper.from_array(scales, init.name))
    return changed


def layout_transposes(proto) -> int:
    """Transposes with a layout permutation (NHWC <-> NCHW and their 3-D/5-D kin)."""
    return sum(node.op_type == "Transpose" and _perm(node) in LAYOUT_PERMS for node in proto.graph.node)


def _perm(node) -> tuple[int, ...]:
    return tuple(next((list(a.ints) for a in node.attribute if a.name == "perm"), []))


def _shapes(proto) -> dict[str, tuple]:
    shapes = {}
    for value in list(proto.graph.value_info) + list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    return shapes


def _consumers(graph) -> dict[str, list]:
    found: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    for output in graph.output:
        found.setdefault(output.name, []).append(None)  # a graph output: a consumer that is no node
    return found


def count_ops(proto) -> Counter:
    """Op counts of a graph and its subgraphs; ops of non-standard domains as ``domain::Op``."""
    counts: Counter = Counter()
    graphs = [proto.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            domain = node.domain or ""
            counts[node.op_type if domain in STANDARD_DOMAINS else f"{domain}::{node.op_type}"] += 1
            graphs.extend(attr.g for attr in node.attribute if attr.HasField("g"))
    return counts


def canonical_names(proto) -> None:
    """Rename every node and every inner value (initializers included) in graph order, in place.

    tf2onnx names constants from a process-global counter (``const_axes__17`` in one process,
    ``axes_const__13__14`` in another), so the same model gave different bytes per process. Nodes
    become ``<op_type>_<n>`` and values ``v<n>`` in order of first use, initializers and value_info
    are sorted in that order; graph inputs and outputs keep their Keras names, and names a subgraph
    reads are left alone.
    """
    graph = proto.graph
    keep = {value.name for value in list(graph.input) + list(graph.output)} | _subgraph_names(graph) | {""}
    order: dict[str, str] = {}

    def canonical(name: str) -> str:
        if name in keep:
            return name
        return order.setdefault(name, f"v{len(order)}")

    for index, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{index}"
        node.input[:] = [canonical(name) for name in node.input]
        node.output[:] = [canonical(name) for name in node.output]
    rank = {new: position for position, new in enumerate(order.values())}
    for container in (graph.initializer, graph.value_info):
        items = sorted(container, key=lambda item: rank.get(order.get(item.name, item.name), len(rank)))
        for item in items:
            item.name = order.get(item.name, item.name)
        copies = [type(item)() for item in items]
        for copy, item in zip(copies, items):
            copy.CopyFrom(item)
        del container[:]
        container.extend(copies)


def _subgraph_names(graph) -> set[str]:
    """Every value name used inside a node's subgraph attributes (If / Loop / Scan bodies)."""
    names: set[str] = set()
    for node in graph.node:
        for attribute in node.attribute:
            for body in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                for inner in body.node:
                    names.update(inner.input)
                    names.update(inner.output)
                names.update(_subgraph_names(body))
    return names
