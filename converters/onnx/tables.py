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
    and without its session.

    tf2onnx imports the GraphDef into a session and freezes it again, then discards that frozen copy
    and runs Grappler on the GraphDef it was given; edgeprep's GraphDef is frozen already, so the
    session only held two more copies of the weights through Grappler (issue 21). Other keyword
    ``options`` (``inputs_as_nchw`` ...) go to tf2onnx unchanged.
    """
    import tensorflow as tf
    from tf2onnx import tf_loader
    from tf2onnx.convert import _convert_common

    with tf.device("/cpu:0"), tf.Graph().as_default():  # Grappler's meta graph needs graph mode; the graph stays empty
        frozen = tf_loader.tf_optimize(input_names, output_names, graph_def)
    proto, _ = _convert_common(
        frozen, name=name, continue_on_error=True, opset=opset, input_names=input_names, output_names=output_names,
        initialized_tables=tables, extra_opset=extra_opset, **options,
    )
    return proto
