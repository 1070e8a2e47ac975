"""Hash tables built inside a traced graph (edgeprep's lowered lookups), handed to tf2onnx, and
tf2onnx's conversion steps run with fewer copies of the weights alive (`from_graph_def`).

tf2onnx converts ``LookupTableFindV2`` to ``ai.onnx.ml.CategoryMapper`` only when it is given the
table's contents (``initialized_tables``), which its public ``from_graph_def`` never collects. The
lowered lookup layers import constant keys and values into a ``HashTableV2`` with a unique
``shared_name``; this module reads them back from the frozen GraphDef and runs tf2onnx's own
``from_graph_def`` steps with them (tf2onnx 1.17, pinned).
"""

from __future__ import annotations


def lookup_tables(graph_def) -> dict[bytes, tuple]:
    """``shared_name -> (keys, values)`` for every table imported from constants in ``graph_def``."""
    import tensorflow as tf

    nodes = {node.name: node for node in graph_def.node}

    def const(name: str):
        node = nodes.get(name.split(":")[0].lstrip("^"))
        while node is not None and node.op == "Identity":
            node = nodes.get(node.input[0].split(":")[0])
        return tf.make_ndarray(node.attr["value"].tensor) if node is not None and node.op == "Const" else None

    tables = {}
    for node in graph_def.node:
        if node.op != "LookupTableImportV2":
            continue
        table = nodes.get(node.input[0].split(":")[0])
        keys, values = const(node.input[1]), const(node.input[2])
        if table is None or table.op != "HashTableV2" or keys is None or values is None:
            continue
        tables[table.attr["shared_name"].s] = (keys, values)
    return tables


def from_graph_def(handoff, input_names: list[str], output_names: list[str], opset: int, tables: dict | None, extra_opset=None,
                   name: str = "edgeprep", **options):
    """``tf2onnx.convert.from_graph_def`` with ``initialized_tables`` (and ``extra_opset``) passed through,
    without its session, and each copy of the weights dropped once the next one is made.

    tf2onnx imports the GraphDef into a session and freezes it again, then discards that frozen copy
    and runs Grappler on the GraphDef it was given; edgeprep's GraphDef is frozen already, so the
    session only held two more copies of the weights through Grappler (issue 21). Its
    ``_convert_common`` then keeps every copy to the end: the GraphDef, Grappler's output, the
    imported ``tf.Graph``, tf2onnx's graph (numpy constants) and the ModelProto. Here the GraphDef
    comes in a `converters.trace.Handoff` (taken, so the caller holds it no more), and Grappler's
    input, its output and the imported graph are each released as soon as the next copy exists.
    Other keyword ``options`` (``inputs_as_nchw`` ...) go to tf2onnx unchanged.
    """
    import os

    import tensorflow as tf
    from tf2onnx import constants
    from tf2onnx.tfonnx import process_tf_graph

    from converters.trace import Handoff

    with tf.device("/cpu:0"), tf.Graph().as_default():  # Grappler's meta graph needs graph mode; the graph stays empty
        frozen = grappler(handoff, input_names, output_names)
    with tf.Graph().as_default() as tf_graph:
        tf.import_graph_def(frozen, name="")
        del frozen  # the imported graph holds the constants now
        graph = process_tf_graph(tf_graph, continue_on_error=True, opset=opset, input_names=input_names, output_names=output_names,
                                 initialized_tables=tables, extra_opset=extra_opset, **options)
    del tf_graph  # tf2onnx's graph holds the constants (numpy) now
    catch_errors = os.environ.get(constants.ENV_TF2ONNX_CATCH_ERRORS, "TRUE").upper() == "TRUE"  # as _convert_common decides for a model < 2 GB
    handoff = Handoff(graph)
    del graph
    return optimize_graph(handoff, catch_errors).make_model(f"converted from {name}")


def optimize_graph(handoff, catch_errors: bool = True):
    """tf2onnx's ``optimizer.optimize_graph`` (the same optimizers, order and rounds, the same failures logged
    to ``tf2onnx.optimizer`` for `converters.onnx.optimize.watch_optimizers`) on the graph taken from ``handoff``,
    holding two copies of it at most: the graph and the copy an optimizer works on.

    tf2onnx's loop deep-copies the graph before each optimizer (to restore it if the optimizer fails) while
    its caller still holds the graph it was given, the graph the last optimizer replaced (a reference cycle,
    not yet collected) and a failed optimizer's copy: up to five copies of the constants (ConvNeXtTiny:
    +770 MB during the optimizers). Here the replaced graph is collected before the next copy is made.
    """
    import copy
    import logging

    from tf2onnx import optimizer

    from edgeprep.memory import collect

    logger = logging.getLogger("tf2onnx.optimizer")
    graph, iteration, again = handoff.take(), 0, True
    while again:
        again = False
        for name, factory in optimizer._get_optimizers().items():  # noqa: SLF001 - the table optimize_graph reads
            collect()  # the graph the last optimizer replaced (a cycle), before the next copy
            try:
                current = copy.deepcopy(graph) if catch_errors else graph
                opt = factory()
                graph = opt.optimize(current, iteration) or graph
                again = again or opt.graph_been_opt
            except Exception:
                if not catch_errors:
                    raise
                logger.warning("Failed to apply %s", name, exc_info=1)
            current = opt = None
        iteration += 1
    try:
        graph.topological_sort(graph.get_nodes())
    except Exception:
        logger.warning("Failed topological_sort", exc_info=1)
    return graph


def grappler(handoff, input_names: list[str], output_names: list[str]):
    """tf2onnx's ``tf_loader.tf_optimize`` (Grappler: constfold, function, dependency; the same config),
    with the GraphDef taken from ``handoff`` and passed to Grappler as serialized bytes alone.

    ``tf_optimize`` keeps the GraphDef, a MetaGraphDef copy of it and that copy's serialization alive
    while Grappler's C++ side holds its own copies (its peak: ~8 copies of the weights, +1.1 GB for
    ConvNeXtTiny); here the MetaGraphDef is serialized without its graph and the GraphDef's bytes
    appended as its ``graph_def`` field (protobuf merges the empty one with it), so Python holds one copy.
    """
    import tensorflow as tf
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.grappler import cluster as gcluster, tf_optimizer

    config = config_pb2.ConfigProto()
    config.graph_options.infer_shapes = True
    config.graph_options.rewrite_options.optimizers[:] = ["constfold", "function", "dependency"]  # tf_optimize_grappler's (tf2onnx 1.17, TF 2)
    config.graph_options.rewrite_options.experimental_disable_folding_quantization_emulation = True
    graph_def = handoff.take()
    meta_graph = tf.compat.v1.train.export_meta_graph(graph_def=graph_def)
    meta_graph.ClearField("graph_def")
    fetch = meta_graph_pb2.CollectionDef()
    fetch.node_list.value.extend(input_names + output_names)
    meta_graph.collection_def["train_op"].CopyFrom(fetch)
    graph = graph_def.SerializeToString()
    del graph_def
    serialized = meta_graph.SerializeToString() + b"\x12" + _varint(len(graph)) + graph  # field 2 (graph_def), length-delimited
    del graph
    with tf_optimizer._OPTIMIZE_GRAPH_CLUSTER_LOCK:  # noqa: SLF001 - what tf_optimizer.OptimizeGraph does, on our bytes
        cluster = gcluster.Cluster()
        try:
            optimized = tf_optimizer.tf_opt.TF_OptimizeGraphSerialized(cluster.tf_cluster, config.SerializeToString(), serialized, True, b"graph_to_optimize", False)
        finally:
            cluster.Shutdown()
    del serialized
    return graph_pb2.GraphDef.FromString(optimized)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
