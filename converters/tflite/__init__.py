"""LiteRT (TFLite) backend."""
