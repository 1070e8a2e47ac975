"""The TFLite backend's runner: `edgeprep.runtime.tflite`, the deploy runtime's (shipped with every export)."""

from edgeprep.runtime.tflite import TFLITE_FLEX, TFLiteRunner  # noqa: F401  (re-exported for the backend and the converter)
