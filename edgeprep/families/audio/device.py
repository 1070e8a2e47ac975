"""MelSpectrogram as a Keras layer of builtin ops: a factored real DFT as MatMuls with constant bases.

Keras computes ``|rfft(window * frame)|**mag_exp`` with TensorFlow's RFFT, which tf2onnx leaves as
complex-valued ops ONNX Runtime cannot run. The same numbers, op by op:

1. ``center=True``: reflect-pad the last axis by ``fft_length // 2`` on both sides (MIRROR_PAD / Pad).
2. Frames: ``T = 1 + (L + 2 * (N // 2) - N) // stride`` frames of ``N = fft_length`` samples, one
   GATHER with indices ``t * stride + n`` (``T`` read from the input's shape, so the length stays dynamic).
3. Window: TensorFlow's own periodic Hann / Hamming window of ``sequence_length`` samples (or the
   given array, or none), zero-padded to ``N`` as Keras does, multiplied in.
4. The real DFT of length ``N = N1 * N2`` (Cooley-Tukey, one split, ``N1`` the largest divisor
   ``<= sqrt(N)``; a prime ``N`` gives ``N1 = 1``, the direct DFT): with ``n = N2 n1 + n2`` and
   ``k = k1 + N1 k2``,

       Y[k1, n2] = sum_n1 x[n1, n2] W_N1^(n1 k1)        (MatMul, constant (2 N1, N1) basis: real; imag)
       Z[k1, n2] = Y[k1, n2] W_N^(n2 k1)                (twiddles: elementwise, constant (N1, N2))
       X[k1, k2] = sum_n2 Z[k1, n2] W_N2^(n2 k2)        (MatMul, constant (2 N2, 2 K2) basis)

   with ``W_M = exp(-2 pi i / M)`` and only ``k2 < K2 = N2 // 2 + 1`` computed (``k <= N // 2``
   needs no more). The bases hold ``2 N1^2 + 2 N + 8 N2 K2`` floats instead of the ``2 N (N/2 + 1)`` of
   a one-step DFT basis (fft_length 2048: 0.3 MB instead of 16.8 MB) and fewer multiply-adds.
5. Power ``Xr^2 + Xi^2`` raised to ``mag_exp / 2`` (Keras: ``sqrt`` then ``** mag_exp``).
6. Mel filterbank: Keras' own ``linear_to_mel_weight_matrix`` with its rows reordered to the
   ``(k1, k2)`` layout (row ``k1 * K2 + k2`` is Keras' row ``k1 + N1 k2``; rows past ``N // 2`` are 0),
   so the power spectrum needs one RESHAPE and one MatMul, no transpose or slice.
7. ``power_to_db``: ``10 log10(max(S, min_power)) - 10 log10(max(|ref_power|, min_power))``, then
   ``max(., max(.) - top_db)`` with the max over the whole batch, as Keras takes it.
8. ``(..., time, mel)`` swapped to Keras' ``(..., num_mel_bins, time)``.

Measured against the alternatives in docs/UPSTREAM.md ("Audio front ends").
"""

from __future__ import annotations

import functools
import math

import numpy as np

from edgeprep.families.device import tf_ops


def split(n: int) -> tuple[int, int]:
    """``(N1, N2)`` with ``N1 * N2 == n`` and ``N1`` the largest divisor not above ``sqrt(n)``."""
    n1 = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return n1, n // n1


def dft_bases(n: int, factors: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """The constant float32 bases of the factored real DFT of length ``n`` (float64 angles)."""
    n1, n2 = factors or split(n)
    k2 = n2 // 2 + 1
    a1 = 2 * np.pi * np.outer(np.arange(n1), np.arange(n1)) / n1 % (2 * np.pi)        # (k1, n1)
    twiddle = 2 * np.pi * np.outer(np.arange(n1), np.arange(n2)) / n % (2 * np.pi)   # (k1, n2)
    a2 = 2 * np.pi * np.outer(np.arange(n2), np.arange(k2)) / n2 % (2 * np.pi)       # (n2, k2)
    c2, s2 = np.cos(a2), np.sin(a2)
    # [Zr | Zi] @ [[C, -S], [S, C]] ... with W = C - iS: Xr = Zr C + Zi S, Xi = Zi C - Zr S.
    stage2 = np.block([[c2, -s2], [s2, c2]])
    return {
        "stage1": np.concatenate([np.cos(a1), -np.sin(a1)]).astype(np.float32),   # (2 N1, N1)
        "cos": np.cos(twiddle).astype(np.float32), "sin": np.sin(twiddle).astype(np.float32),
        "stage2": stage2.astype(np.float32),                                        # (2 N2, 2 K2)
        "factors": (n1, n2, k2),
    }


def reordered_mel(matrix: np.ndarray, n: int, n1: int, k2: int) -> np.ndarray:
    """Keras' ``(N // 2 + 1, M)`` mel matrix with row ``k1 * K2 + j`` = row ``k1 + N1 j`` (0 past ``N // 2``)."""
    out = np.zeros((n1 * k2, matrix.shape[1]), np.float32)
    k1, j = np.meshgrid(np.arange(n1), np.arange(k2), indexing="ij")
    k = (k1 + n1 * j).reshape(-1)
    keep = k <= n // 2
    out[keep] = matrix[k[keep]]
    return out


@functools.cache
def mel_class():
    """The ``MelSpectrogramDFT`` layer class (imports TensorFlow)."""
    ops = tf_ops()
    tf = ops.tf

    class MelSpectrogramDFT(ops.Lowered):
        """MelSpectrogram through a factored DFT (module docstring); ``config`` is `edgeprep.families.audio.spec`."""

        def __init__(self, config, output_shape, output_dtype, window=None, mel_matrix=None, ref_db=0.0, factors=None, **kwargs):
            super().__init__(config, output_shape, output_dtype, **kwargs)
            n = config["fft_length"]
            self._bases = dft_bases(n, factors)
            n1, _, k2 = self._bases["factors"]
            self._window = window
            self._mel = reordered_mel(mel_matrix, n, n1, k2)
            self._ref_db = np.float32(ref_db)

        def call(self, inputs):
            c = self.config
            n, stride = c["fft_length"], c["sequence_stride"]
            n1, n2, k2 = self._bases["factors"]
            x = tf.cast(inputs, tf.float32)
            rank = len(x.shape)
            x = tf.pad(x, [[0, 0]] * (rank - 1) + [[n // 2, n // 2]], mode="REFLECT")
            frames = 1 + (tf.shape(x)[-1] - n) // stride
            index = tf.range(frames)[:, None] * stride + tf.range(n)[None, :]
            x = tf.gather(x, index, axis=rank - 1)                                          # (..., T, N)
            if self._window is not None:
                x = x * tf.constant(self._window)
            x = tf.reshape(x, tf.concat([tf.shape(x)[:-1], [n1, n2]], 0))                   # (..., T, N1, N2)
            y = tf.matmul(tf.constant(self._bases["stage1"]), x)                             # (..., T, 2 N1, N2)
            yr, yi = y[..., :n1, :], y[..., n1:, :]
            cos, sin = tf.constant(self._bases["cos"]), tf.constant(self._bases["sin"])
            z = tf.concat([yr * cos + yi * sin, yi * cos - yr * sin], axis=-1)              # (..., T, N1, 2 N2)
            spectrum = tf.matmul(z, tf.constant(self._bases["stage2"]))                      # (..., T, N1, 2 K2)
            power = tf.square(spectrum[..., :k2]) + tf.square(spectrum[..., k2:])
            power = tf.reshape(power, tf.concat([tf.shape(power)[:-2], [n1 * k2]], 0))
            exponent = float(c["mag_exp"]) / 2
            if exponent == 0.5:
                power = tf.sqrt(power)
            elif exponent != 1.0:
                power = tf.pow(power, exponent)
            mel = tf.matmul(power, tf.constant(self._mel))                                    # (..., T, M)
            if c["power_to_db"]:
                mel = 10.0 * (tf.math.log(tf.maximum(mel, c["min_power"])) / tf.math.log(10.0)) - self._ref_db
                mel = tf.maximum(mel, tf.reduce_max(mel) - c["top_db"])
            return tf.cast(tf.linalg.matrix_transpose(mel), self._spec[1])

    return MelSpectrogramDFT
