"""converters/tflite/pack.py: every constant buffer of a written .tflite file is aligned, so 64-bit
(int64 / float64) constants sit at 8-byte offsets and runtimes that map the file need not copy them."""

from __future__ import annotations

import pytest

from edgeprep.config import Quantization

INT64, FLOAT64 = 4, 10  # tflite TensorType values


def buffer_offsets(data: bytes) -> list[tuple[str, int, int]]:
    """(tensor name, TensorType, file offset of its buffer's data) for every constant tensor."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    found = []
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            buffer = model.Buffers(tensor.Buffer())
            if buffer.DataLength():
                found.append((tensor.Name().decode(), tensor.Type(), buffer._tab.Vector(buffer._tab.Offset(4))))
    return found


@pytest.mark.parametrize("name, options", [("seed_text", {}), ("feature_space_tabular", {}), ("seed_cnn", {"quantize": Quantization.INT8})],
                         ids=["text", "feature_space", "int8"])
def test_every_constant_buffer_of_a_tflite_file_is_aligned(name, options, zoo_exports):
    from converters.tflite.pack import BUFFER_ALIGNMENT

    result = zoo_exports(name, **options).result
    data = (result.out_dir / "model.tflite").read_bytes()
    offsets = buffer_offsets(data)
    assert offsets
    assert [(n, o) for n, _, o in offsets if o % BUFFER_ALIGNMENT] == []
    if name != "seed_cnn":  # lookups keep int64 keys / values as constants
        wide = [(n, o) for n, kind, o in offsets if kind in (INT64, FLOAT64)]
        assert wide and all(o % 8 == 0 for _, o in wide), wide
