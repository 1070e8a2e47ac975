"""Adapt every stateful preprocessing layer from data in one streaming pass, as Keras would.

Which layers need state (and so an analyzer):

| layer | needs adapting when | statistic | state set by Keras' own code |
|---|---|---|---|
| Normalization | no ``mean``/``variance`` and not built | `Moments` | ``adapt_mean``/``adapt_variance`` + ``finalize_state()`` |
| StringLookup, IntegerLookup | no vocabulary | `TokenCounts` (+ documents for tf-idf) | ``token_counts`` (+ ``token_document_counts``, ``num_documents``) + ``finalize_state()`` |
| TextVectorization | no vocabulary | the layer's own standardize/split/ngrams, then `TokenCounts` | its lookup's counts + ``finalize_state()`` |
| Discretization | ``num_bins`` without ``bin_boundaries`` | `Quantiles` | ``summary`` + ``finalize_state()`` |

Keras' ``finalize_state`` then sorts the vocabulary (count descending, ties by token descending),
drops the mask and OOV tokens (so IntegerLookup's -1 is never learned), truncates to
``max_tokens`` and computes idf weights ``log(1 + documents / (1 + document_count))``: the same code
``adapt`` runs. Each row of a batch is one document, as in ``layer.adapt(array)``.

A stateful layer may follow stateless layers of its input (Rescaling, augmentation: these run at
``training=False``, so random layers pass values through); it sees their output, as it would if
adapted on ``dataset.map(prefix)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeprep.compose.analyzers import Moments, Quantiles, TokenCounts
from edgeprep.compose.sources import Column
from edgeprep.errors import DataError, UsageError, collect

LOOKUPS = ("StringLookup", "IntegerLookup")
STATEFUL = ("Normalization", *LOOKUPS, "TextVectorization", "Discretization")


def needs_state(layer) -> bool:
    """True when ``layer`` is one of the stateful kinds and holds no state yet."""
    kind = type(layer).__name__
    if kind == "Normalization":
        return getattr(layer, "input_mean", None) is None and not layer.built
    if kind in LOOKUPS or kind == "TextVectorization":
        return not layer.get_vocabulary(include_special_tokens=False)
    if kind == "Discretization":
        return layer.bin_boundaries is None and layer.num_bins is not None
    return False


@dataclass
class LayerToAdapt:
    """One layer whose state the adapt pass sets: it reads input ``column`` after the ``prefix`` layers.

    Attributes:
        layer: the Keras layer (its state is set in place).
        column: the raw input it reads.
        prefix: stateless layers between the raw input and ``layer``.
        where: how messages name it, e.g. ``"inputs.city/city_string_lookup"``.
        shape: per-example shape of what ``layer`` receives.
    """

    layer: Any
    column: Column
    prefix: tuple = ()
    where: str = ""
    shape: tuple = ()


class LayerAnalyzer:
    """Turns batches of one target's raw column into its statistic, then into layer state."""

    def __init__(self, target: LayerToAdapt):
        self.target = target

    def values(self, column: np.ndarray):
        """The target layer's input for a raw batch (``column`` through the prefix layers)."""
        if not self.target.prefix:
            return column
        import keras

        x = _to_tensor(column, self.target.column)
        for layer in self.target.prefix:
            x = layer(x, training=False)
        return keras.ops.convert_to_numpy(x)

    def __getstate__(self) -> dict:
        """Workers (Beam) get the analyzer without the layer: an un-adapted lookup cannot be pickled."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("lookup", "_tokenizer")}
        state["target"] = dataclasses.replace(self.target, layer=None)
        return state

    def create(self):
        raise NotImplementedError

    def add(self, acc, column: np.ndarray):
        raise NotImplementedError

    def merge(self, accs: list):
        raise NotImplementedError

    def apply(self, acc) -> None:
        """Set the layer's state from ``acc`` with Keras' own finalize code."""
        raise NotImplementedError


class NormalizationAnalyzer(LayerAnalyzer):
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


class LookupAnalyzer(LayerAnalyzer):
    """StringLookup / IntegerLookup, and TextVectorization (tokens from its own preprocessing)."""

    def __init__(self, target: LayerToAdapt):
        super().__init__(target)
        layer = target.layer
        self.text = type(layer).__name__ == "TextVectorization"
        self.lookup = layer._lookup_layer if self.text else layer  # TextVectorization counts in its StringLookup
        if getattr(self.lookup, "invert", False):
            raise UsageError(f"{target.where}: an invert=True lookup cannot be adapted; give it a vocabulary")
        self.integer = type(self.lookup).__name__ == "IntegerLookup"
        self.counts = TokenCounts(documents=self.lookup.output_mode == "tf_idf")
        self.tokenizer_config = layer.get_config() if self.text else None

    def tokenize(self, values):
        """TextVectorization's own standardize, split and ngrams (a config copy on Beam workers)."""
        if self.target.layer is not None:
            return self.target.layer._preprocess(values)
        if getattr(self, "_tokenizer", None) is None:
            import keras

            self._tokenizer = keras.layers.TextVectorization.from_config(self.tokenizer_config)
        return self._tokenizer._preprocess(values)

    def create(self):
        return self.counts.create()

    def add(self, acc, column):
        values = self.values(column)
        rows = len(values)
        if self.text:
            tokens = self.tokenize(values)
            if hasattr(tokens, "flat_values"):
                return self.counts.add(acc, tokens.flat_values.numpy(), tokens.value_rowids().numpy(), rows)
            values = tokens.numpy()
        values = np.asarray(values).reshape(rows, -1)
        if self.integer:
            if values.dtype.kind not in "iu":
                raise DataError(f"{self.target.where}: IntegerLookup reads integers, the data holds {values.dtype}")
            values = values.astype(np.int64)
        row_ids = None if values.shape[1] == 1 else np.repeat(np.arange(rows), values.shape[1])
        return self.counts.add(acc, values.reshape(-1), row_ids, rows)

    def merge(self, accs):
        return self.counts.merge(accs)

    def apply(self, acc):
        import tensorflow as tf

        tokens, counts = acc.counts.export()
        if not len(tokens):
            raise DataError(f"{self.target.where}: the data holds no tokens to learn a vocabulary from")
        dtype = self.lookup.vocabulary_dtype
        self.lookup.token_counts.insert(tf.constant(_keys(tokens, dtype), dtype), tf.constant(counts, tf.int64))
        if self.counts.documents:
            doc_tokens, doc_counts = acc.document_counts.export()
            self.lookup.token_document_counts.insert(tf.constant(_keys(doc_tokens, dtype), dtype), tf.constant(doc_counts, tf.int64))
            self.lookup.num_documents.assign(acc.documents)
        self.target.layer.finalize_state()


class DiscretizationAnalyzer(LayerAnalyzer):
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


ANALYZERS: dict[str, type[LayerAnalyzer]] = {
    "Normalization": NormalizationAnalyzer,
    "StringLookup": LookupAnalyzer,
    "IntegerLookup": LookupAnalyzer,
    "TextVectorization": LookupAnalyzer,
    "Discretization": DiscretizationAnalyzer,
}


class AdaptPlan:
    """Every target's analyzer, driven together over one stream of batches (a combiner).

    Its accumulator is ``(rows, [one accumulator per target])``; `run_local` and `run_beam`
    drive the same four methods, so both compute the same statistics.
    """

    def __init__(self, targets: list[LayerToAdapt]):
        self.targets = targets
        self.analyzers = [ANALYZERS[type(t.layer).__name__](t) for t in targets]
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


def _to_tensor(values: np.ndarray, column: Column):
    if column.is_string:
        import tensorflow as tf

        return tf.constant(values.astype(object) if values.dtype.kind == "U" else values)
    return values


def _keys(tokens: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "int64":
        return tokens.astype(np.int64)
    return tokens.astype(object)


def describe(targets: list[LayerToAdapt]) -> str:
    kinds: dict[str, int] = {}
    for target in targets:
        kinds[type(target.layer).__name__] = kinds.get(type(target.layer).__name__, 0) + 1
    return ", ".join(f"{count} {kind}" for kind, count in kinds.items())
