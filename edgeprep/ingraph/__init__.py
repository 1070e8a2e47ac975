"""Preprocessing computed on the device with builtin ops: TensorFlow's string and integer hashes,
and TextVectorization on UTF-8 bytes (``text``, ``text_ops``; its standardize steps ``text_steps``, custom
standardize callables traced into them by ``standardize``).

Pure ``keras.ops`` functions (Keras imported inside them) that both converters keep as builtins:
``uint64`` holds the 64-bit arithmetic and its four forms (`uint64.Bitwise`: PORTABLE for TFLite
and ONNX opset 17, TFLITE, ONNX at opset 18, ONNX17 with BitShift and byte-table XOR at opset 17), ``utf8`` the text contract (UTF-8 bytes
``[batch, max_bytes]`` plus lengths), ``farmhash`` / ``siphash`` the hashes, ``hashing`` the buckets
that Keras' Hashing and HashedCrossing produce; ``text`` the TextVectorization layer and its byte
encoding (``encode_texts``: uint8 ``[batch, longest]``, zero padded). tests/ingraph/ proves them
bit-exact against TensorFlow and Keras on both targets. Wired into exports by
`edgeprep.transforms.in_graph` (issue 16) through the families' device layers.
"""
