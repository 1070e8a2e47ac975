"""Preprocessing computed on the device with builtin ops: TensorFlow's string and integer hashes.

Pure ``keras.ops`` functions (Keras imported inside them) that both converters keep as builtins:
TFLite builtins and ONNX ``ai.onnx`` at opset 17. ``uint64`` holds the 64-bit arithmetic, ``utf8``
the byte-tensor text contract, ``farmhash`` / ``siphash`` the hashes, ``hashing`` the buckets that
Keras' Hashing and HashedCrossing produce.
"""
