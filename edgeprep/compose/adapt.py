"""Adapt every stateful preprocessing layer from data in one streaming pass, as Keras would.

Which layers need state (and so an analyzer):

| layer | needs adapting when | statistic | state set by Keras' own code |
|---|---|---|---|
| Normalization | no ``mean``/``variance`` and not built | `Moments` | ``adapt_mean``/``adapt_variance`` + ``finalize_state()`` |
| StringLookup, IntegerLookup | no vocabulary | `TokenCounts` (+ documents for tf-idf) | ``token_counts`` (+ ``token_document_counts``, ``num_documents``) + ``finalize_state()`` |
| TextVectorization | no vocabulary | the layer's own standardize/split/ngrams, then `TokenCounts` | its lookup's counts + ``finalize_state()`` |
| Discretization | ``num_bins`` without ``bin_boundaries`` | `Quantiles` | ``summary`` + ``finalize_state()`` |

Each analyzer and its statistic live with the layer family (`edgeprep.families`: ``affine``,
``index_lookup.analyzer``, ``discretization.analyzer``); this module drives them together. The
statistics are mergeable combiners: ``create()`` an empty accumulator, ``add(acc, values)`` one
batch, ``merge(accs)`` partial results (from shards, threads or Beam workers).

Keras' ``finalize_state`` then sorts the vocabulary (count descending, ties by token descending),
drops the mask and OOV tokens (so IntegerLookup's -1 is never learned), truncates to
``max_tokens`` and computes idf weights ``log(1 + documents / (1 + document_count))``: the same code
``adapt`` runs. Each row of a batch is one document, as in ``layer.adapt(array)``.

A stateful layer may follow stateless layers of its input (Rescaling, augmentation: these run at
``training=False``, so random layers pass values through); it sees their output, as it would if
adapted on ``dataset.map(prefix)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgeprep.compose.analyzer import LayerToAdapt
from edgeprep.compose.sources import Column
from edgeprep.errors import DataError, UsageError, collect



def needs_state(layer) -> bool:
    """True when ``layer``'s family adapts it and it holds no state yet."""
    from edgeprep.families import analyzer_for

    analyzer = analyzer_for(layer)
    return analyzer is not None and analyzer.needs_state(layer)


class AdaptPlan:
    """Every target's analyzer, driven together over one stream of batches (a combiner).

    Its accumulator is ``(rows, [one accumulator per target])``; `run_local` and `run_beam`
    drive the same four methods, so both compute the same statistics.
    """

    def __init__(self, targets: list[LayerToAdapt]):
        self.targets = targets
        from edgeprep.families import analyzer_for

        self.analyzers = [analyzer_for(t.layer)(t) for t in targets]
        columns = {}
        for target in targets:
            columns.setdefault(target.column.name, target.column)
        self.columns = list(columns.values())

    def __getstate__(self) -> dict:
        return {**self.__dict__, "targets": None}  # the layers stay here; workers use the analyzers

    def create(self) -> tuple[int, list]:
        return 0, [analyzer.create() for analyzer in self.analyzers]

    def add(self, acc: tuple[int, list], batch: dict[str, np.ndarray]) -> tuple[int, list]:
        rows, accs = acc
        accs = [a.add(inner, batch[a.target.column.name]) for a, inner in zip(self.analyzers, accs)]
        return rows + len(next(iter(batch.values()))), accs

    def merge(self, many) -> tuple[int, list]:
        many = list(many)
        return sum(rows for rows, _ in many), [a.merge([accs[i] for _, accs in many]) for i, a in enumerate(self.analyzers)]

    def apply(self, acc: tuple[int, list], label: str = "adapt data") -> None:
        """Set every target's state; raises DataError (collected) for data that teaches nothing."""
        rows, accs = acc
        if rows == 0:
            raise DataError(f"{label}: no rows; pass data with at least one example")
        problems = []
        for analyzer, inner in zip(self.analyzers, accs):
            try:
                analyzer.apply(inner)
            except DataError as exc:
                problems.append(str(exc))
        collect(problems, DataError, "cannot adapt")


def run_local(plan: AdaptPlan, source, progress: Callable[[int], None] | None = None) -> tuple[int, list]:
    """One pass over ``source`` in this process; the accumulator for `AdaptPlan.apply`."""
    from edgeprep.compose.sources import read_source

    acc = plan.create()
    for batch in read_source(source, plan.columns, progress):
        acc = plan.add(acc, batch)
    return acc


def find_layers_to_adapt(chains: list[tuple[Column, list]]) -> list[LayerToAdapt]:
    """The layers to adapt in layer chains: (raw input, the layers applied to it in order).

    Raises:
        UsageError: a stateful layer after another one that needs adapting (that takes two passes).
    """
    targets, problems, seen = [], [], set()
    for column, layers in chains:
        for index, layer in enumerate(layers):
            if id(layer) in seen or not needs_state(layer):
                continue
            seen.add(id(layer))
            where = f"inputs.{column.name}/{layer.name}"
            earlier = [p for p in layers[:index] if needs_state(p)]
            if earlier:
                problems.append(f"{where} reads the output of {earlier[-1].name}, which needs adapting too; adapt them in two builds (build pre.keras first)")
                continue
            targets.append(LayerToAdapt(layer, column, tuple(layers[:index]), where, _shape_after(column, layers[:index])))
    collect(problems, UsageError, "cannot adapt")
    return targets


def _shape_after(column: Column, prefix) -> tuple:
    if not prefix:
        return column.shape
    import keras

    x = keras.Input(column.shape, dtype="string" if column.is_string else column.dtype)
    for layer in prefix:
        x = layer(x)
    return tuple(x.shape[1:])


def describe(targets: list[LayerToAdapt]) -> str:
    kinds: dict[str, int] = {}
    for target in targets:
        kinds[type(target.layer).__name__] = kinds.get(type(target.layer).__name__, 0) + 1
    return ", ".join(f"{count} {kind}" for kind, count in kinds.items())
