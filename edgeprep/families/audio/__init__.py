"""Audio front ends (STFTSpectrogram, MelSpectrogram): everything edgeprep does with them.

- plan rule: ``LowerMelSpectrogram`` (below) replaces MelSpectrogram by `device.mel_class`:
  framing (GATHER), window, a factored real DFT as MatMuls with constant bases, power, mel
  filterbank MatMul and dB scaling, each as Keras computes it. For ONNX always (TensorFlow's RFFT
  has no ONNX conversion); for TFLite only when ``fft_length`` is not a power of two (LiteRT's
  RFFT2D refuses it at run time). Otherwise TFLite keeps Keras' own layer: RFFT2D is 7x closer to
  Keras and smaller than the lowering, which is only ~20% faster there (scripts/bench_audio.py,
  docs/UPSTREAM.md "Audio front ends"), run under `device.FLOAT_SCOPE` (`device.scoped_class`) so
  that int8 artifacts keep it float32 as they keep the lowering. STFTSpectrogram is kept as it is (`edgeprep.transforms.coverage`): Keras
  already computes it as a strided Conv1D with constant DFT kernels, and every mode, padding,
  scaling and ``expand_dims`` converts to both targets (tests/families/test_audio.py).
- parity samples: a dynamic time axis gets room for ``frames`` frames (``FRAMES`` at least; more when
  the layers after the front end need them, `edgeprep.parity.samples`),

      length = frame_length + (frames - 1) * frame_step

  (STFTSpectrogram: ``frame_length``, ``frame_step`` defaulting to ``frame_length // 2``, time axis 1
  for channels_last, 2 for channels_first; MelSpectrogram: ``sequence_length`` defaulting to
  ``fft_length``, ``sequence_stride``, time axis 1). A generic size of 8 is shorter than any frame,
  and ``padding="valid"`` then has no frame to compute.
"""

from __future__ import annotations

import numpy as np

from edgeprep.config import Action, Target
from edgeprep.families.audio import device
from edgeprep.families.base import Family
from edgeprep.transforms.base import LayerRule
from edgeprep.transforms.rewrite import Refusal

FRAMES = 4


def shape_hint(layer, row_shape: tuple, frames: int = FRAMES) -> tuple | None:
    """``row_shape`` (no batch axis) with a dynamic time axis sized for ``frames`` frames, or None."""
    config = layer.get_config()
    if type(layer).__name__ == "STFTSpectrogram":
        frame, step = int(config["frame_length"]), int(config.get("frame_step") or config["frame_length"] // 2)
        axis = 1 if config.get("data_format") == "channels_first" else 0
    else:
        frame = int(config.get("sequence_length") or config["fft_length"])
        step, axis = int(config["sequence_stride"]), 0
    if axis >= len(row_shape) or row_shape[axis] is not None:
        return None
    sized = list(row_shape)
    sized[axis] = frame + (frames - 1) * step
    return tuple(sized)


def spec(layer) -> dict:
    """The MelSpectrogram options the device layer reads (JSON-ready)."""
    keys = ("fft_length", "sequence_stride", "sequence_length", "sampling_rate", "num_mel_bins", "min_freq", "max_freq",
            "power_to_db", "top_db", "mag_exp", "min_power", "ref_power")
    return {key: getattr(layer, key) for key in keys}


def mel_constants(layer) -> dict:
    """What Keras computes in TensorFlow besides the DFT, computed by Keras itself: the window
    (zero-padded to ``fft_length``), the mel matrix and the reference level in dB."""
    import keras
    import tensorflow as tf

    n, length = layer.fft_length, layer.sequence_length
    window = layer.window
    if isinstance(window, str):
        make = tf.signal.hann_window if window == "hann" else tf.signal.hamming_window
        window = make(length, periodic=True, dtype=tf.float32).numpy()
    if window is not None:
        left = (n - length) // 2
        window = keras.ops.convert_to_numpy(window).astype("float32")
        window = np.pad(window, (left, n - length - left))
    matrix = layer.linear_to_mel_weight_matrix(
        num_mel_bins=layer.num_mel_bins, num_spectrogram_bins=n // 2 + 1, sampling_rate=layer.sampling_rate,
        lower_edge_hertz=layer.min_freq, upper_edge_hertz=layer.max_freq)
    ref = keras.ops.abs(keras.ops.convert_to_tensor(layer.ref_power, "float32"))
    ref_db = 10.0 * keras.ops.log10(keras.ops.maximum(ref, layer.min_power))
    return {"window": window, "mel_matrix": keras.ops.convert_to_numpy(matrix), "ref_db": float(keras.ops.convert_to_numpy(ref_db))}


class LowerMelSpectrogram(LayerRule):
    """MelSpectrogram -> framed, windowed real DFT as MatMuls with constant bases, power, mel MatMul, dB (TFLite: only when fft_length is not a power of two, else RFFT2D kept)."""

    name = "lower-mel-spectrogram"
    classes = ("MelSpectrogram",)
    action = Action.LOWERED

    def check(self, call, graph, target):
        layer = call.layer
        if layer.power_to_db and layer.top_db is None:
            return Refusal.fatal(f"{layer.name}: power_to_db with top_db=None fails in Keras itself; set top_db")
        return None

    def rewrite(self, call, graph, target):
        config = spec(call.layer)
        n = config["fft_length"]
        if target is Target.TFLITE and n & (n - 1) == 0:
            op = device.scoped_class()(config, tuple(call.outputs[0].shape), call.layer.compute_dtype, name=f"{call.layer.name}_scoped", layer=call.layer)
            return self.replace_op(call, op, f"kept Keras' layer: TFLite's RFFT2D builtin computes the power-of-two fft_length {n} "
                                             "(closer to Keras than the lowering); float32 in int8 artifacts")
        op = device.mel_class()(config, tuple(call.outputs[0].shape), call.layer.compute_dtype,
                                name=f"{call.layer.name}_lowered", **mel_constants(call.layer))
        n1, n2 = device.split(config["fft_length"])
        detail = (f"reflect pad, {config['fft_length']}-sample frames every {config['sequence_stride']} (GATHER), "
                  f"real DFT as {n1}x{n2} MatMul stages, {config['num_mel_bins']} mel bins (MatMul)"
                  + (", dB" if config["power_to_db"] else ""))
        return self.replace_op(call, op, detail)


FAMILY = Family(name="audio", classes=("STFTSpectrogram", "MelSpectrogram"), shape_hint=shape_hint, rules=(LowerMelSpectrogram(),))
