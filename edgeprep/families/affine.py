"""Rescaling and Normalization (affine preprocessing): everything edgeprep does with them but fold.

- plan rules: ``FoldRescaling``, ``FoldNormalization``, ``FoldInvertedNormalization`` in
  `edgeprep.transforms.fold` today (``z = x * scale + offset``;
  ``z = (x - mean) / max(sqrt(var), epsilon)``), with the folded layer in `edgeprep.layers`;
- parity samples (`range_hint`): ``Rescaling(scale, offset)`` reads raw values uniform in
  ``[0, 1/|scale|]`` (0..255 for 1/255), ``Normalization(mean, var)`` normal values around
  ``mean`` with std ``sqrt(var)``;
- adapt: `NormalizationAnalyzer` over `Moments` (count, mean and sum of squared deviations per kept
  position, merged with Chan et al.'s parallel formula; variance = M2 / count, population variance
  as ``np.var`` and Keras), then Keras' ``finalize_state``;
- Keras 2: the mean and variance a tf_keras Normalization keeps outside its config.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprep.compose.analyzer import LayerAnalyzer, LayerToAdapt
from edgeprep.errors import UsageError
from edgeprep.families.base import Family, config_list
from edgeprep.parity.hints import InputHint


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
        return InputHint("uniform", 0.0, 1.0 / magnitude, f"Rescaling(scale={_short(scale)}) reads raw values in [0, {1 / magnitude:g}]")
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


FAMILY = Family(
    name="affine", classes=("Rescaling", "Normalization"), range_hint=range_hint, analyzer=NormalizationAnalyzer,
    keras2_state=keras2_state,
)
