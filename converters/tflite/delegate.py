"""What LiteRT's default XNNPACK delegate takes from a model, measured in the runtime itself.

The stock interpreter applies XNNPACK when tensors are allocated: each delegated partition
becomes one new ``DELEGATE`` node appended after the model's own nodes, whose inputs and outputs
are the partition's boundary tensors. A model node belongs to a partition exactly when it is
reached walking back from that partition's outputs without crossing its inputs; every other node
runs on LiteRT's built-in (reference or optimised) kernels. Needs only ai-edge-litert.
"""

from __future__ import annotations

from collections import Counter


def xnnpack_report(model: bytes, threads: int = 1) -> dict:
    """Partitions and fallback ops of ``model`` under the default XNNPACK delegate.

    Returns:
        ``{"partitions", "nodes", "delegated_nodes", "fallback_ops": {op: count}}``; a dynamic
        batch dimension is allocated at 1, as the interpreter does by default. A model that cannot
        be allocated at those default sizes (a dynamic audio length shorter than its reflect padding)
        gives ``{"measured": False, "reason"}`` instead.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(model), num_threads=threads)
    # The node list is only exposed on the native object; holding a reference to it would make
    # allocate_tensors refuse to run, so it is looked up each time.
    original = interpreter._interpreter.NumNodes()  # noqa: SLF001
    try:
        interpreter.allocate_tensors()
    except RuntimeError as error:
        return {"measured": False, "reason": str(error).splitlines()[0]}
    native = interpreter._interpreter  # noqa: SLF001
    names = [native.NodeName(i) for i in range(native.NumNodes())]
    inputs = [[int(t) for t in native.NodeInputs(i)] for i in range(native.NumNodes())]
    outputs = [[int(t) for t in native.NodeOutputs(i)] for i in range(native.NumNodes())]
    producer = {tensor: node for node in range(original) for tensor in outputs[node]}
    delegates = [node for node in range(original, len(names)) if names[node] == "DELEGATE"]
    delegated: set[int] = set()
    for delegate in delegates:
        boundary = set(inputs[delegate])
        stack = list(outputs[delegate])
        while stack:
            tensor = stack.pop()
            node = producer.get(tensor)
            if tensor in boundary or node is None or node in delegated:
                continue
            delegated.add(node)
            stack.extend(inputs[node])
    fallback = Counter(names[node] for node in range(original) if node not in delegated)
    return {
        "partitions": len(delegates),
        "nodes": original,
        "delegated_nodes": len(delegated),
        "fallback_ops": dict(sorted(fallback.items())),
    }
