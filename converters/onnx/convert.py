"""Keras -> ONNX with standard domains only, inputs/outputs named as in Keras, a named batch dim.

Route: freeze the model at ``training=False`` into a GraphDef (`converters.trace.freeze_graph`;
Normalization statistics become constants, never graph inputs), convert it with tf2onnx (rank-4 IO as NCHW with
``--onnx-layout nchw``), make the graph edge-grade (`converters.onnx.optimize`: optimizer failures
repaired, onnxsim, flatten transposes folded, layout Transposes bounded), name the IO values as in
Keras, quantize if asked (`converters.onnx.quantize`) and check that onnx's checker accepts it.
Lowered lookup tables reach tf2onnx through `converters.onnx.tables` (as ``ai.onnx.ml``
CategoryMapper). That every node is in ``ai.onnx`` / ``ai.onnx.ml`` (``com.microsoft`` too with
``--onnx-optimize ort``, ``ai.onnx.contrib`` with ``--onnx-extensions``) is checked by the pipeline
(`converters.onnx.backend.check_ops`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging

from converters import isolate
from converters.onnx import optimize
from converters.onnx.options import ONNXOptions
from converters.onnx.quantize import quantize
from converters.onnx.runner import CONTRIB_DOMAIN, ONNX_EXTENSIONS, ONNXRUNTIME_ONLY
from converters.onnx.tables import from_graph_def, lookup_tables
from converters.trace import FrozenIO, Handoff, freeze_graph
from edgeprep.artifacts import Artifact
from edgeprep.config import OnnxLayout, OnnxOptimize, Target
from edgeprep.errors import ConversionError
from edgeprep.memory import collect, release

NCHW_KEY = "edgeprep.nchw"  # metadata: JSON list of the IO names stored NCHW (Keras layout is NHWC)


def convert(model, options: ONNXOptions) -> Artifact:
    """Convert ``model`` (already transformed) to an ONNX artifact; in a child process where
    `converters.isolate` is asked to (opt-in)."""
    if isolate.wanted(model):
        return isolate.convert(__name__, model, options)
    graph_def, io = freeze_graph(model, options.input_names)
    handoff = Handoff(graph_def)
    del graph_def  # from here tf2onnx's steps hold it, and drop it once Grappler has copied it
    return convert_graph(handoff, io, options)


def convert_graph(graph_def, io: FrozenIO, options: ONNXOptions) -> Artifact:
    """Convert the frozen ``graph_def`` whose IO ``io`` describes (in-process, or in `converters.isolate`'s child);
    a `converters.trace.Handoff` of it is taken (`converters.onnx.tables.from_graph_def`), so the GraphDef
    is freed while tf2onnx converts."""
    import onnx
    import onnxsim
    import tf2onnx

    tf2onnx.logging.set_level(logging.ERROR)
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    in_ranks, out_ranks = list(io.input_ranks), list(io.output_ranks)
    nchw = options.layout is OnnxLayout.NCHW
    nchw_in = [name for name, rank in zip(io.input_tensors, in_ranks) if nchw and rank == 4]
    nchw_out = [name for name, rank in zip(io.output_tensors, out_ranks) if nchw and rank == 4]
    handoff = graph_def if isinstance(graph_def, Handoff) else Handoff(graph_def)  # the child's (converters.isolate) comes bare
    del graph_def
    tables = lookup_tables(handoff.peek())
    extra_opset = [tf2onnx.utils.make_opsetid(CONTRIB_DOMAIN, 1)] if options.extensions else None
    layout_args = {"inputs_as_nchw": nchw_in or None, "outputs_as_nchw": nchw_out or None}
    with optimize.watch_optimizers() as failures, collected_copies():
        try:
            # lowered lookups need the tables' contents; string ops need the contrib opset
            named = {} if tables or extra_opset else {"name": "unknown"}  # tf2onnx's own name where it would have converted alone
            proto = from_graph_def(handoff, list(io.input_tensors), list(io.output_tensors), options.opset, tables or None, extra_opset, **named, **layout_args)
        except Exception as exc:
            raise ConversionError(f"ONNX conversion failed: {str(exc).strip().splitlines()[0][:300]}") from None
    unconverted = optimize.unconverted_ops(proto)
    if unconverted:
        raise ConversionError(f"tf2onnx cannot convert the TensorFlow op(s) {', '.join(unconverted)}; the layer that needs them has no ONNX lowering")
    failures = list(failures)
    if failures:
        proto = optimize.repair(proto, failures)
    rename = dict(zip(io.input_tensors, options.input_names)) | dict(zip(io.output_tensors, options.output_names))
    _rename_values(proto.graph, rename)
    expected = sum(rank is not None and rank >= 3 for rank in in_ranks + out_ranks) - len(nchw_in) - len(nchw_out)
    contrib = any(node.domain == CONTRIB_DOMAIN for node in proto.graph.node)
    if not contrib:  # the simplifier runs the graph in stock onnxruntime, which lacks the contrib ops
        proto = optimize.clean(proto, expected)
    _name_batch_dim(proto.graph)
    _canonical_dim_params(proto.graph)
    layout = optimize.layout_transposes(proto)
    proto = quantize(proto, options)
    requirements: tuple[str, ...] = (ONNX_EXTENSIONS,) if contrib else ()
    if options.optimize is OnnxOptimize.ORT:
        proto = optimize.optimize_for_onnxruntime(proto)
        requirements += (ONNXRUNTIME_ONLY,)
    optimize.canonical_names(proto)  # same bytes for the same model, whatever the process
    ops = optimize.count_ops(proto)
    standard = not any("::" in op for op in ops)
    proto.producer_name = "edgeprep"
    if nchw_in or nchw_out:
        nchw_names = [rename[name] for name in nchw_in + nchw_out]
        onnx.helper.set_model_props(proto, {NCHW_KEY: json.dumps(nchw_names)})
    try:
        onnx.checker.check_model(proto, full_check=standard and not requirements)  # no schemas for non-standard ops
    except Exception as exc:
        raise ConversionError(f"the ONNX graph fails onnx.checker: {str(exc).strip().splitlines()[0][:300]}") from None
    facts = {
        "opset": options.opset,
        "layout": options.layout.value,
        "layout_transposes": layout,
        "layout_transposes_expected": expected,
        "optimize": options.optimize.value,
        "simplifier": f"onnxsim {onnxsim.__version__}",
        "tf2onnx_optimizer_failures": failures,
        "repaired": bool(failures),
    }
    return Artifact(Target.ONNX, proto.SerializeToString(), dict(sorted(ops.items())), requirements, options.quantize, facts)


@contextlib.contextmanager
def collected_copies():
    """Cyclic garbage collections that walk only the conversion's own objects, inside the block.

    tf2onnx's optimizer loop (`converters.onnx.tables.optimize_graph`) collects before each optimizer's
    copy of the graph: a discarded copy is a reference cycle only the cyclic collector frees, and
    Python counts it as a few objects however many megabytes of weights it holds (ConvNeXtTiny peaked
    at 10.6 GB in tf2onnx before). Objects older than the block are frozen (``gc.freeze``) so that
    each of those collections skips TensorFlow, Keras and the model; the block ends with `release`.
    """
    collect()
    gc.freeze()  # what exists now (TensorFlow, Keras, the model) is not garbage: each collection skips it
    try:
        yield
    finally:
        gc.unfreeze()
        release()


def _rename_values(graph, rename: dict[str, str]) -> None:
    """Rename value names everywhere they appear in ``graph`` (IO, node inputs/outputs)."""
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        value.name = rename.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [rename.get(name, name) for name in node.input]
        node.output[:] = [rename.get(name, name) for name in node.output]
    for initializer in graph.initializer:
        initializer.name = rename.get(initializer.name, initializer.name)


def _canonical_dim_params(graph) -> None:
    """Rename tf2onnx's process-global ``unk__N`` dimension names to ``d0, d1, ...`` in order of use,
    so that exporting the same model twice in one process gives the same bytes."""
    names: dict[str, str] = {}
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param.startswith("unk__"):
                dim.dim_param = names.setdefault(dim.dim_param, f"d{len(names)}")


def _name_batch_dim(graph) -> None:
    """Give the first dynamic dimension of every input and output the shared name ``batch``."""
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
