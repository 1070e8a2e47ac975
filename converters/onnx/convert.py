"""Keras -> ONNX with standard domains only, inputs/outputs named as in Keras, a named batch dim.

Route: freeze the model at ``training=False`` (`converters.trace`; Normalization statistics become
constants, never graph inputs), convert the frozen GraphDef with tf2onnx (which raises on ops it
cannot convert instead of leaving TensorFlow ops behind), then name the IO values as in Keras
and check that every node is in ``ai.onnx`` / ``ai.onnx.ml`` and that onnx's checker accepts it.
"""

from __future__ import annotations

import logging
from collections import Counter

from converters.onnx.quantize import quantize
from converters.onnx.tables import from_graph_def, lookup_tables
from converters.trace import freeze
from edgeprep.artifacts import ONNX_EXTENSIONS, RANDOM_OPS, Artifact, ConvertOptions
from edgeprep.config import Target
from edgeprep.errors import ConversionError

STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
CONTRIB_DOMAIN = "ai.onnx.contrib"  # onnxruntime-extensions (opt-in: --onnx-extensions)


def convert(model, options: ConvertOptions) -> Artifact:
    """Convert ``model`` (already transformed) to an ONNX artifact."""
    import onnx
    import tf2onnx

    tf2onnx.logging.set_level(logging.ERROR)
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    frozen = freeze(model, options.input_names)
    graph_def = frozen.function.graph.as_graph_def()
    tables = lookup_tables(graph_def)
    extra_opset = [tf2onnx.utils.make_opsetid(CONTRIB_DOMAIN, 1)] if options.onnx_extensions else None
    try:
        if tables or extra_opset:  # lowered lookups need the tables' contents; string ops need the contrib opset
            proto = from_graph_def(graph_def, list(frozen.input_tensors), list(frozen.output_tensors), options.onnx_opset, tables, extra_opset)
        else:
            proto, _ = tf2onnx.convert.from_graph_def(
                graph_def,
                input_names=list(frozen.input_tensors),
                output_names=list(frozen.output_tensors),
                opset=options.onnx_opset,
            )
    except Exception as exc:
        raise ConversionError(f"ONNX conversion failed: {str(exc).strip().splitlines()[0][:300]}") from None
    rename = dict(zip(frozen.input_tensors, options.input_names)) | dict(zip(frozen.output_tensors, options.output_names))
    _rename_values(proto.graph, rename)
    _name_batch_dim(proto.graph)
    proto = quantize(proto, options)
    ops = _count_ops(proto)
    allowed = STANDARD_DOMAINS + ((CONTRIB_DOMAIN,) if options.onnx_extensions else ())
    foreign = sorted(op for op in ops if "::" in op and op.split("::")[0] not in allowed)
    requirements = (ONNX_EXTENSIONS,) if any(op.startswith(CONTRIB_DOMAIN + "::") for op in ops) else ()
    if foreign:
        raise ConversionError(f"the ONNX graph uses non-standard ops {', '.join(foreign)}; onnxruntime's stock build cannot run them")
    random_ops = sorted(op for op in ops if op in RANDOM_OPS)
    if random_ops:
        raise ConversionError(f"random ops {', '.join(random_ops)} survived into the ONNX artifact; a training-only layer was not stripped")
    proto.producer_name = "edgeprep"
    try:
        onnx.checker.check_model(proto, full_check=not requirements)  # the checker has no schemas for contrib ops
    except Exception as exc:
        raise ConversionError(f"the ONNX graph fails onnx.checker: {str(exc).strip().splitlines()[0][:300]}") from None
    return Artifact(Target.ONNX, proto.SerializeToString(), dict(sorted(ops.items())), requirements, options.quantize)


def _rename_values(graph, rename: dict[str, str]) -> None:
    """Rename value names everywhere they appear in ``graph`` (IO, node inputs/outputs)."""
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        value.name = rename.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [rename.get(name, name) for name in node.input]
        node.output[:] = [rename.get(name, name) for name in node.output]
    for initializer in graph.initializer:
        initializer.name = rename.get(initializer.name, initializer.name)


def _name_batch_dim(graph) -> None:
    """Give the first dynamic dimension of every input and output the shared name ``batch``."""
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"


def _count_ops(proto) -> Counter:
    counts: Counter = Counter()
    graphs = [proto.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            domain = node.domain or ""
            counts[node.op_type if domain in STANDARD_DOMAINS else f"{domain}::{node.op_type}"] += 1
            graphs.extend(attr.g for attr in node.attribute if attr.HasField("g"))
    return counts
