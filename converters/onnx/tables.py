"""Hash tables built inside a traced graph (edgeprep's lowered lookups), handed to tf2onnx.

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


def from_graph_def(graph_def, input_names: list[str], output_names: list[str], opset: int, tables: dict | None, extra_opset=None,
                   name: str = "edgeprep", **options):
    """``tf2onnx.convert.from_graph_def`` with ``initialized_tables`` (and ``extra_opset``) passed through,
    without its session, and each copy of the weights dropped once the next one is made.

    tf2onnx imports the GraphDef into a session and freezes it again, then discards that frozen copy
    and runs Grappler on the GraphDef it was given; edgeprep's GraphDef is frozen already, so the
    session only held two more copies of the weights through Grappler (issue 21). Its
    ``_convert_common`` then keeps every copy to the end: the GraphDef, Grappler's output, the
    imported ``tf.Graph``, tf2onnx's graph (numpy constants) and the ModelProto. Here ``graph_def``
    may come as a `converters.trace.Handoff` (taken, so the caller holds it no more), and Grappler's
    input, its output and the imported graph are each released as soon as the next copy exists.
    Other keyword ``options`` (``inputs_as_nchw`` ...) go to tf2onnx unchanged.
    """
    import os

    import tensorflow as tf
    from tf2onnx import constants, optimizer, tf_loader
    from tf2onnx.tfonnx import process_tf_graph

    from converters.trace import Handoff

    graph_def = graph_def.take() if isinstance(graph_def, Handoff) else graph_def
    with tf.device("/cpu:0"), tf.Graph().as_default():  # Grappler's meta graph needs graph mode; the graph stays empty
        frozen = tf_loader.tf_optimize(input_names, output_names, graph_def)
    del graph_def  # Grappler's output replaces it
    with tf.Graph().as_default() as tf_graph:
        tf.import_graph_def(frozen, name="")
        del frozen  # the imported graph holds the constants now
        graph = process_tf_graph(tf_graph, continue_on_error=True, opset=opset, input_names=input_names, output_names=output_names,
                                 initialized_tables=tables, extra_opset=extra_opset, **options)
    del tf_graph  # tf2onnx's graph holds the constants (numpy) now
    catch_errors = os.environ.get(constants.ENV_TF2ONNX_CATCH_ERRORS, "TRUE").upper() == "TRUE"  # as _convert_common decides for a model < 2 GB
    graph = optimizer.optimize_graph(graph, catch_errors)
    return graph.make_model(f"converted from {name}")
