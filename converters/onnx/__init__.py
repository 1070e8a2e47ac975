"""ONNX backend."""
