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
  Ops under the name scope `edgeprep.families.audio.device.FLOAT_SCOPE` (a spectrogram front end:
  an int8 power spectrum loses its quiet bins) stay float32: the converter only calibrates, and
  `finish` quantizes with those ops' tensors denylisted (TensorFlow's selective quantization,
  as `tf.lite.experimental.QuantizationDebugger` does it). The int8 part starts at the front
  end's output, so such an artifact is int8 with a float32 front end, not integer-only.
  ``dynamic`` has no such denylist and is refused for a lowered spectrogram (`refuse_dynamic`).
"""

from __future__ import annotations

import re

import numpy as np

from converters.tflite.options import TFLiteOptions
from edgeprep.config import Quantization
from edgeprep.errors import ConversionError


def configure(converter, options: TFLiteOptions, input_names: tuple[str, ...], float_scoped: bool = False, bytes_inputs=frozenset()) -> None:
    """Set ``converter`` up for ``options.quantize``; ``float_scoped``: the graph has `FLOAT_SCOPE` ops (see `finish`);
    ``bytes_inputs``: the uint8 inputs that take text as UTF-8 bytes (calibration strings are encoded for them)."""
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
        converter.representative_dataset = _representative(options.calibration, input_names, bytes_inputs, options.max_bytes)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter._experimental_disable_per_channel = not options.int8_per_channel
        converter._experimental_calibrate_only = float_scoped  # `finish` quantizes
        if options.int8_io:
            io_type = {"int8": tf.int8, "uint8": tf.uint8}[options.int8_io]
            converter.inference_input_type = io_type
            converter.inference_output_type = io_type


def float_scopes(names) -> set[str]:
    """The layer scopes (``functional_1/mel_lowered_1``) of the op ``names`` (a frozen GraphDef's nodes) under `FLOAT_SCOPE`."""
    from edgeprep.families.audio.device import FLOAT_SCOPE

    return {name.partition(f"/{FLOAT_SCOPE}/")[0] for name in names if f"/{FLOAT_SCOPE}/" in name}


def refuse_dynamic(scopes: set[str], options: TFLiteOptions) -> None:
    """TFLite's dynamic range mode has no denylist: refuse it for a lowered spectrogram (constant DFT and mel matrices).

    Measured: its hybrid kernels quantize the power spectrum on the fly (spectrogram SQNR -4.8 dB, top-1 50%).
    Keras' own layer (RFFT2D, scope ``*_scoped``) keeps float32 there and is not refused.
    """
    lowered = sorted(re.sub(r"_lowered(_\d+)?$", "", scope.rsplit("/", 1)[-1]) for scope in scopes if re.search(r"_lowered(_\d+)?$", scope))
    if options.quantize is Quantization.DYNAMIC and lowered:
        raise ConversionError(
            f"{lowered[0]}: TFLite dynamic range quantization would quantize the lowered spectrogram's DFT and mel "
            "matrices and its power spectrum (no way to keep them float32); use --quantize int8 or float16 for TFLite"
        )


def finish(converter, data: bytes, options: TFLiteOptions) -> bytes:
    """The converter's output, quantized here when `configure` left it calibrated only.

    The same MLIR quantizer and arguments as the converter's own int8 path, plus every tensor under
    `FLOAT_SCOPE` as a denylisted node (kept float32, quantized at its int8 readers).
    """
    if not getattr(converter, "_experimental_calibrate_only", False):
        return data
    import tensorflow as tf
    from tensorflow.lite.python.convert import mlir_quantize
    from tensorflow.lite.tools import flatbuffer_utils

    from edgeprep.families.audio.device import FLOAT_SCOPE

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    names = {tensor.name.decode() for subgraph in model.subgraphs for tensor in subgraph.tensors}
    io_type = {"int8": tf.int8, "uint8": tf.uint8}.get(options.int8_io, tf.float32)
    return mlir_quantize(
        data, disable_per_channel=not options.int8_per_channel, input_data_type=io_type, output_data_type=io_type,
        denylisted_nodes=sorted(name for name in names if f"/{FLOAT_SCOPE}/" in name),
    )


def _representative(calibration, input_names: tuple[str, ...], bytes_inputs=frozenset(), max_bytes: int | None = None):
    """A representative-dataset generator over ``calibration()``: one sample at a time; raw strings
    for a UTF-8 bytes input are encoded (`edgeprep.runtime.text`, ``max_bytes`` wide when static)."""
    from edgeprep.runtime.text import encode_utf8, is_text

    def generator():
        for feed in calibration():
            feed = {name: encode_utf8(feed[name], name, max_bytes) if name in bytes_inputs and is_text(np.asarray(feed[name])) else feed[name]
                    for name in input_names}
            rows = len(next(iter(feed.values())))
            for row in range(rows):
                yield [feed[name][row:row + 1] for name in input_names]

    return generator

