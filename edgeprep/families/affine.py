"""Rescaling and Normalization (affine preprocessing): everything edgeprep does with them.

- plan rules: ``FoldRescaling``, ``FoldNormalization``, ``FoldInvertedNormalization`` (below; the
  shared folding engine is `edgeprep.transforms.fold_affine`, the folded layer `edgeprep.layers`);
- parity samples (`range_hint`): ``Rescaling(scale, offset)`` reads raw values uniform in
  ``[0, (1 + max(0, -offset))/|scale|]`` (0..255 for 1/255, and for 1/127.5 with offset -1: all of
  [-1, 1]), ``Normalization(mean, var)`` normal values around ``mean`` with std ``sqrt(var)``;
- adapt: `NormalizationAnalyzer` over `Moments` (count, mean and sum of squared deviations per kept
  position, merged with Chan et al.'s parallel formula; variance = M2 / count, population variance
  as ``np.var`` and Keras), then Keras' ``finalize_state``;
- Keras 2: the mean and variance a tf_keras Normalization keeps outside its config.

The fold rules, in detail:

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

from dataclasses import dataclass

import numpy as np

from edgeprep.compose.analyzer import LayerAnalyzer, LayerToAdapt
from edgeprep.errors import UsageError
from edgeprep.families.base import Family, config_list
from edgeprep.parity.hints import InputHint
from edgeprep.transforms.fold_affine import AffineRule
from edgeprep.transforms.fold_map import AffineMap


@dataclass
class MomentsAcc:
    count: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None


class Moments:
    """Mean and variance of ``values`` of shape (rows, k) over rows, per column."""

    def create(self) -> MomentsAcc:
        return MomentsAcc()

    def add(self, acc: MomentsAcc, values: np.ndarray) -> MomentsAcc:
        values = np.asarray(values, dtype=np.float64)
        if values.shape[0] == 0:
            return acc
        mean = values.mean(axis=0)
        m2 = np.square(values - mean).sum(axis=0)
        return self._combine(acc, MomentsAcc(values.shape[0], mean, m2))

    def merge(self, accs: list[MomentsAcc]) -> MomentsAcc:
        total = MomentsAcc()
        for acc in accs:
            total = self._combine(total, acc)
        return total

    @staticmethod
    def _combine(a: MomentsAcc, b: MomentsAcc) -> MomentsAcc:
        if b.count == 0:
            return a
        if a.count == 0:
            return b
        count = a.count + b.count
        delta = b.mean - a.mean
        mean = a.mean + delta * (b.count / count)
        m2 = a.m2 + b.m2 + np.square(delta) * (a.count * b.count / count)
        return MomentsAcc(count, mean, m2)

    @staticmethod
    def result(acc: MomentsAcc) -> tuple[np.ndarray, np.ndarray]:
        """(mean, variance) as float64 arrays."""
        return acc.mean, acc.m2 / acc.count


class NormalizationAnalyzer(LayerAnalyzer):
    """Learns mean and variance over the reduced axes with `Moments`; Keras' ``finalize_state`` sets them."""

    adapts = ("Normalization",)

    @staticmethod
    def needs_state(layer) -> bool:
        """True when the layer has no ``mean`` / ``variance`` and is not built."""
        return getattr(layer, "input_mean", None) is None and not layer.built

    def __init__(self, target: LayerToAdapt):
        super().__init__(target)
        ndim = 1 + len(target.shape)
        self.keep = tuple(sorted(a % ndim for a in target.layer.axis))
        self.reduce = tuple(d for d in range(ndim) if d not in self.keep)
        full = (None, *target.shape)
        if any(full[d] is None for d in self.keep):
            raise UsageError(f"{target.where}: Normalization keeps axis 0 (the batch) or an axis of unknown size; use axis=-1")
        self.keep_shape = tuple(full[d] for d in self.keep)
        self.moments = Moments()

    def create(self):
        return self.moments.create()

    def add(self, acc, column):
        values = np.asarray(self.values(column), dtype=np.float64)
        flat = values.transpose(self.reduce + self.keep).reshape(-1, int(np.prod(self.keep_shape, dtype=np.int64)))
        return self.moments.add(acc, flat)

    def merge(self, accs):
        return self.moments.merge(accs)

    def apply(self, acc):
        layer = self.target.layer
        mean, variance = Moments.result(acc)
        if not layer.built:
            layer.build((None, *self.target.shape))
        layer.adapt_mean.assign(mean.reshape(self.keep_shape))
        layer.adapt_variance.assign(variance.reshape(self.keep_shape))
        layer.finalize_state()


def range_hint(layer) -> InputHint | None:
    """The raw input range of a Rescaling (uniform) or an adapted, non-inverted Normalization (normal)."""
    if type(layer).__name__ == "Rescaling":
        scale = np.asarray(layer.scale, dtype=np.float64)
        magnitude = float(np.max(np.abs(scale))) if scale.size else 1.0
        if magnitude == 0:
            return None
        # an offset that moves the output below 0 widens the span: Rescaling(1/127.5, offset=-1) maps [0, 255] onto [-1, 1]
        sign = 1.0 if float(scale.reshape(-1)[np.argmax(np.abs(scale.reshape(-1)))]) > 0 else -1.0
        offset = np.asarray(layer.offset, dtype=np.float64)
        high = (1.0 + max(0.0, float(np.max(-sign * offset)) if offset.size else 0.0)) / magnitude
        offset_text = f", offset={_short(offset)}" if offset.size and np.any(offset) else ""
        return InputHint("uniform", 0.0, high, f"Rescaling(scale={_short(scale)}{offset_text}) reads raw values in [0, {high:g}]")
    if not getattr(layer, "invert", False) and getattr(layer, "mean", None) is not None:
        mean = np.asarray(layer.mean, dtype=np.float64)
        std = np.sqrt(np.maximum(np.asarray(layer.variance, dtype=np.float64), 0.0))
        return InputHint("normal", mean, np.where(std > 0, std, 1.0), "Normalization statistics")
    return None


def _short(array: np.ndarray) -> str:
    return f"{float(array.reshape(-1)[0]):g}" if array.size == 1 else f"{array.size} values"


def keras2_state(config: dict, layer) -> None:
    """Mean and variance: tf_keras keeps them in broadcast shape (1, d); Keras 3 wants the kept axes only, (d,)."""
    if not hasattr(layer, "mean"):
        return
    keep = tuple(getattr(layer, "_keep_axis", ()))
    for key in ("mean", "variance"):
        value = np.asarray(getattr(layer, key))
        config[key] = config_list(np.squeeze(value, axis=tuple(d for d in range(value.ndim) if d not in keep)))


SAMPLE_STDS = 6.0  # raw range of a Normalization input: mean +- 6 std (parity samples draw 1 std)


class _AffineFold(AffineRule):
    """A fold rule of this family: its chains combine Rescaling and Normalization layers."""

    def peers(self) -> tuple[AffineRule, ...]:
        return FOLD_RULES


class FoldRescaling(_AffineFold):
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


class FoldNormalization(_AffineFold):
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


FOLD_RULES: tuple[AffineRule, ...] = (FoldRescaling(), FoldNormalization(), FoldInvertedNormalization())


FAMILY = Family(
    name="affine", classes=("Rescaling", "Normalization"), range_hint=range_hint, analyzer=NormalizationAnalyzer,
    keras2_state=keras2_state, rules=FOLD_RULES,
)
