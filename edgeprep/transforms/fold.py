"""Affine preprocessing rules: Rescaling, Normalization and inverted Normalization.

Each rule reads its layer's exact inference-time map ``z = s * x + o`` (what Keras computes, in
float32, read back in float64); the engine in `fold_affine` merges chains and folds them into the
neighbouring linear layers (`fold_linear`). The formulas, from
``keras/src/layers/preprocessing/{rescaling,normalization}.py`` (Keras 3.15):

- Rescaling: ``z = cast(x, float32) * scale + offset``. Quirk: when
  ``keras.config.image_data_format() == "channels_first"`` and ``scale`` is not a scalar, Keras
  reshapes it to ``scale.shape + (1,) * (3 - scale.ndim)`` before broadcasting (so a per-channel
  scale of shape ``(C,)`` becomes ``(C, 1, 1)``); ``offset`` is not reshaped.
- Normalization: ``z = (x - mean) / max(sqrt(var), epsilon)`` with ``epsilon =
  keras.config.epsilon()`` (not ``sqrt(var + eps)``); mean and variance are stored in the layer's
  broadcast shape (the input's rank, 1 on reduced axes), so any ``axis`` maps directly:
  ``z = s * (x + a)`` with ``s = 1 / d``, ``d = max(sqrt(var), eps)`` and the anchor ``a = -mean``
  (the exact float32 value Keras subtracts first).
- Normalization(invert=True): ``z = mean + x * max(sqrt(var), epsilon)``: ``s = d``, ``o = mean``.
  It de-normalises a regression output, so it prefers folding backward into the layer that
  produces its input.
"""

from __future__ import annotations

import numpy as np

from edgeprep.transforms.fold_affine import AffineRule
from edgeprep.transforms.fold_map import AffineMap

SAMPLE_STDS = 6.0  # raw range of a Normalization input: mean +- 6 std (parity samples draw 1 std)


class FoldRescaling(AffineRule):
    """``z = x * scale + offset`` (channels_first reshape quirk included)."""

    name = "fold-rescaling"
    classes = ("Rescaling",)

    def affine(self, layer, rank: int) -> AffineMap | None:
        import keras

        scale = np.asarray(layer.scale, dtype=np.float32)
        if scale.ndim and keras.config.image_data_format() == "channels_first":
            scale = scale.reshape(scale.shape + (1,) * max(0, 3 - scale.ndim))
        return AffineMap.of(scale, np.asarray(layer.offset, dtype=np.float32), rank)

    def raw_range(self, layer, rank: int) -> tuple[np.ndarray, np.ndarray]:
        """``[0, 1/|scale|]``: the range a scale was chosen for (0..255 for 1/255)."""
        scale = np.abs(self.affine(layer, rank).scale)
        high = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
        return np.zeros_like(high), high


class FoldNormalization(AffineRule):
    """``z = (x - mean) / max(sqrt(var), epsilon)``."""

    name = "fold-normalization"
    classes = ("Normalization",)
    invert = False

    def matches(self, call) -> bool:
        return super().matches(call) and bool(getattr(call.layer, "invert", False)) == self.invert

    @staticmethod
    def statistics(layer, rank: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(mean, d)`` in the layer's broadcast shape, ``d = max(sqrt(var), eps)`` as Keras computes it."""
        import keras

        if getattr(layer, "mean", None) is None:
            return None
        mean = np.asarray(layer.mean, dtype=np.float32)
        variance = np.asarray(layer.variance, dtype=np.float32)
        if mean.ndim != rank:
            return None
        divisor = np.maximum(np.sqrt(variance), np.float32(keras.config.epsilon()))
        return mean.astype(np.float64), divisor.astype(np.float64)

    def affine(self, layer, rank: int) -> AffineMap | None:
        stats = self.statistics(layer, rank)
        if stats is None:
            return None
        mean, divisor = stats
        return AffineMap.of(1.0 / divisor, 0.0, rank, anchor=-mean)

    def raw_range(self, layer, rank: int) -> tuple[np.ndarray, np.ndarray]:
        mean, divisor = self.statistics(layer, rank)
        return mean - SAMPLE_STDS * divisor, mean + SAMPLE_STDS * divisor


class FoldInvertedNormalization(FoldNormalization):
    """``z = mean + x * max(sqrt(var), epsilon)``; folds backward first."""

    name = "fold-inverted-normalization"
    invert = True
    prefer_backward = True

    def affine(self, layer, rank: int) -> AffineMap | None:
        stats = self.statistics(layer, rank)
        if stats is None:
            return None
        mean, divisor = stats
        return AffineMap.of(divisor, mean, rank)

    def raw_range(self, layer, rank: int) -> tuple[np.ndarray, np.ndarray]:
        bound = np.full(self.statistics(layer, rank)[0].shape, SAMPLE_STDS)
        return -bound, bound
