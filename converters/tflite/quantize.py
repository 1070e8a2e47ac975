"""TFLite quantization settings: float16 weights, dynamic range, and full-integer int8.

- ``float16``: weights stored as float16, dequantized at load; compute stays float32 on CPU.
- ``dynamic``: int8 weights, float activations quantized on the fly (no calibration).
- ``int8``: int8 weights and activations with builtin int8 kernels only, calibrated on a
  representative dataset (real data from ``--calibration``, else generated samples). IO stays
  float32 (quantize/dequantize at the edges) unless ``int8_io`` asks for int8 / uint8 tensors.
  Weights are per-channel by default; per-tensor keeps one scale per tensor instead of a float32
  scale per channel (for weights and again for biases) for a slightly smaller file. The per-channel
  zero points (all zero) are stored once and shared (`converters.tflite.pack`). After conversion,
  int8 ops XNNPACK does not take are rewritten (`converters.tflite.rewrite`).
"""

from __future__ import annotations

from converters.tflite.options import TFLiteOptions
from edgeprep.config import Quantization
from edgeprep.errors import ConversionError


def configure(converter, options: TFLiteOptions, input_names: tuple[str, ...]) -> None:
    """Set ``converter`` up for ``options.quantize``."""
    import tensorflow as tf

    mode = options.quantize
    if mode is Quantization.NONE:
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode is Quantization.FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
    elif mode is Quantization.INT8:
        if options.calibration is None:
            raise ConversionError("int8 quantization needs calibration samples; pass --calibration FILE")
        converter.representative_dataset = _representative(options.calibration, input_names)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter._experimental_disable_per_channel = not options.int8_per_channel
        if options.int8_io:
            io_type = {"int8": tf.int8, "uint8": tf.uint8}[options.int8_io]
            converter.inference_input_type = io_type
            converter.inference_output_type = io_type


def _representative(calibration, input_names: tuple[str, ...]):
    """A representative-dataset generator over ``calibration()``: one sample at a time."""

    def generator():
        for feed in calibration():
            rows = len(next(iter(feed.values())))
            for row in range(rows):
                yield [feed[name][row:row + 1] for name in input_names]

    return generator

