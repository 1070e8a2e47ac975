"""Serialise a TFLite object model, sharing identical quantization vectors between tensors.

A per-channel quantized tensor carries a float32 scale and an int64 zero point per channel, and
its int32 bias carries them again; `flatbuffer_utils.convert_object_to_bytearray` writes every
such vector anew. The zero points of symmetric int8 weights and biases are all zero, so for
MobileNetV3Small they are 176 KB of identical vectors: 1.7% of the float32 file, and the gap
between per-channel int8 at 0.286x of float32 and 0.269x. FlatBuffers address vectors by offset,
so tensors may point at one stored copy; the interpreter reads each tensor's parameters through
its own offset and sees the same values. `serialize` writes each distinct scale and zero-point
vector once. The interpreter still requires one zero point per scale (it refuses a shorter vector),
which is why sharing, not dropping, is the way to make them cheap.

Constant buffers are written 16-byte aligned (`BUFFER_ALIGNMENT`, the schema's ``force_align: 16``
for ``Buffer.data``, which the generated Python object API ignores): a 64-bit (int64 / float64)
buffer at a 4-byte offset makes runtimes that map the file (MediaPipe's) copy it on load.
"""

from __future__ import annotations

import numpy as np

BUFFER_ALIGNMENT = 16  # bytes; the TFLite schema's force_align of Buffer.data


class _AlignedBuffer:
    """A ``BufferT`` packed with its data vector aligned to `BUFFER_ALIGNMENT` bytes in the file."""

    def __init__(self, buffer):
        self._buffer = buffer

    def Pack(self, builder):  # noqa: N802 (the generated object API's name)
        from tensorflow.lite.python import schema_py_generated as schema

        buffer, data = self._buffer, None
        if buffer.data is not None:
            payload = np.asarray(buffer.data, np.uint8).tobytes()
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)  # aligns the vector's first byte, not its length prefix
            builder.head -= len(payload)
            builder.Bytes[builder.head:builder.head + len(payload)] = payload
            data = builder.EndVector(len(payload))
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        schema.BufferAddOffset(builder, buffer.offset)
        schema.BufferAddSize(builder, buffer.size)
        return schema.BufferEnd(builder)


class _SharedQuantization:
    """A ``QuantizationParametersT`` packed with its vectors looked up in a per-builder cache."""

    def __init__(self, params, cache: dict):
        self._params, self._cache = params, cache

    def _vector(self, builder, values, dtype) -> int:
        array = np.asarray(values, dtype)
        key = (array.dtype.str, array.tobytes())
        if key not in self._cache:
            self._cache[key] = builder.CreateNumpyVector(array)
        return self._cache[key]

    def Pack(self, builder):  # noqa: N802 (the generated object API's name)
        from tensorflow.lite.python import schema_py_generated as schema

        params = self._params
        if params.details is not None:  # custom quantization: nothing to share, pack as generated
            return params.Pack(builder)
        vectors = {
            name: self._vector(builder, values, dtype)
            for name, values, dtype in (("min", params.min, np.float32), ("max", params.max, np.float32), ("scale", params.scale, np.float32), ("zeroPoint", params.zeroPoint, np.int64))
            if values is not None
        }
        schema.QuantizationParametersStart(builder)
        for name, add in (("min", schema.QuantizationParametersAddMin), ("max", schema.QuantizationParametersAddMax),
                          ("scale", schema.QuantizationParametersAddScale), ("zeroPoint", schema.QuantizationParametersAddZeroPoint)):
            if name in vectors:
                add(builder, vectors[name])
        schema.QuantizationParametersAddDetailsType(builder, params.detailsType)
        schema.QuantizationParametersAddQuantizedDimension(builder, params.quantizedDimension)
        return schema.QuantizationParametersEnd(builder)


def serialize(model, share_quantization: bool = True) -> bytes:
    """The flatbuffer of ``model`` (a ``ModelT``): buffers aligned; identical quantization vectors stored once."""
    from tensorflow.lite.tools import flatbuffer_utils

    cache: dict = {}
    originals = []
    for subgraph in model.subgraphs if share_quantization else ():
        for tensor in subgraph.tensors:
            if tensor.quantization is not None:
                originals.append((tensor, tensor.quantization))
                tensor.quantization = _SharedQuantization(tensor.quantization, cache)
    buffers = model.buffers
    model.buffers = [_AlignedBuffer(buffer) for buffer in buffers or ()]
    try:
        return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    finally:
        model.buffers = buffers
        for tensor, params in originals:
            tensor.quantization = params
