"""Adapting Discretization in one streaming pass: a mergeable quantile summary.

`Quantiles` is Keras' Discretization summary (``summarize`` / ``merge_summaries`` /
``compress_summary`` of ``keras/src/layers/preprocessing/discretization.py``), kept at a tenth of
the layer's epsilon and merged as a binary tree (summaries of equal weight together), so the rank
error grows with log(number of batches), not linearly as in sequential merging. Keras' own
``finalize_state`` turns the summary into bin boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeprep.compose.analyzer import LayerAnalyzer, LayerToAdapt
from edgeprep.errors import DataError


@dataclass
class QuantilesAcc:
    levels: dict = field(default_factory=dict)  # level -> summary of 2**level batches (about)


class Quantiles:
    """A mergeable quantile summary (Keras' Discretization algorithm, finer and tree-merged).

    Args:
        epsilon: the layer's ``epsilon``; summaries are kept at ``epsilon / 10``.
    """

    def __init__(self, epsilon: float):
        self.epsilon = float(epsilon) / 10.0

    def create(self) -> QuantilesAcc:
        return QuantilesAcc()

    def add(self, acc: QuantilesAcc, values: np.ndarray) -> QuantilesAcc:
        values = np.asarray(values, dtype=np.float32).reshape(-1)
        if values.size:
            self._push(acc, 0, summarize(values, self.epsilon))
        return acc

    def _push(self, acc: QuantilesAcc, level: int, summary: np.ndarray) -> None:
        while level in acc.levels:
            summary = merge_summaries(acc.levels.pop(level), summary, self.epsilon)
            level += 1
        acc.levels[level] = summary

    def merge(self, accs: list[QuantilesAcc]) -> QuantilesAcc:
        total = QuantilesAcc()
        for acc in accs:
            for level, summary in sorted(acc.levels.items()):
                self._push(total, level, summary)
        return total

    def result(self, acc: QuantilesAcc) -> np.ndarray:
        """The merged summary (2, k): values and weights, as Keras' ``Discretization.summary``."""
        summary = np.array([[], []], dtype="float32")
        for _, part in sorted(acc.levels.items()):
            summary = merge_summaries(summary, part, self.epsilon)
        return summary


def summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    """Keras' ``discretization.summarize``: sorted values spaced ``len * epsilon`` apart, weighted."""
    values = np.sort(np.reshape(values, [-1]))
    step = max(values.size * epsilon, 1)
    boundaries = values[int(step - 1) :: int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def merge_summaries(prev_summary: np.ndarray, next_summary: np.ndarray, epsilon: float) -> np.ndarray:
    """Keras' ``discretization.merge_summaries``: concatenate, sort by value, compress."""
    merged = np.concatenate((prev_summary, next_summary), axis=1)
    merged = np.take(merged, np.argsort(merged[0], kind="stable"), axis=1)
    return compress_summary(merged, epsilon)


def compress_summary(summary: np.ndarray, epsilon: float) -> np.ndarray:
    """Keras' ``discretization.compress_summary``: interpolate cumulative weights at ``epsilon`` steps."""
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


class DiscretizationAnalyzer(LayerAnalyzer):
    """Learns bin boundaries with `Quantiles`; Keras' ``finalize_state`` picks them from the summary."""

    adapts = ("Discretization",)

    @staticmethod
    def needs_state(layer) -> bool:
        """True when the layer has ``num_bins`` but no ``bin_boundaries``."""
        return layer.bin_boundaries is None and layer.num_bins is not None

    def __init__(self, target: LayerToAdapt):
        super().__init__(target)
        self.quantiles = Quantiles(target.layer.epsilon)

    def create(self):
        return self.quantiles.create()

    def add(self, acc, column):
        return self.quantiles.add(acc, self.values(column))

    def merge(self, accs):
        return self.quantiles.merge(accs)

    def apply(self, acc):
        if not acc.levels:
            raise DataError(f"{self.target.where}: the data holds no values to learn bin boundaries from")
        self.target.layer.summary = self.quantiles.result(acc)
        self.target.layer.finalize_state()
