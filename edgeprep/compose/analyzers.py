"""Mergeable statistics ("analyzers") that adapt computes in one streaming pass.

Each analyzer is a combiner: ``create()`` an empty accumulator, ``add(acc, values)`` one batch,
``merge(accs)`` partial results (from shards, threads or Beam workers). The accumulators hold
sufficient statistics only; Keras' own ``finalize_state`` turns them into layer state (see
`edgeprep.compose.adapt`), so sorting, truncation and idf weights are Keras' code, not ours.

- `Moments`: count, mean and sum of squared deviations per kept position, merged with Chan et
  al.'s parallel formula; variance = M2 / count (population variance, as ``np.var`` and Keras).
- `TokenCounts`: token -> count, and for tf-idf token -> number of documents (rows) holding it,
  plus the number of documents; counted with pyarrow's vectorised hash aggregation.
- `Quantiles`: Keras' Discretization summary (``summarize`` / ``merge_summaries`` /
  ``compress_summary`` of ``keras/src/layers/preprocessing/discretization.py``), kept at a tenth
  of the layer's epsilon and merged as a binary tree (summaries of equal weight together), so the
  rank error grows with log(number of batches), not linearly as in sequential merging.

Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COMPACT_EVERY = 16  # pending (tokens, counts) parts before they are aggregated into one


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


@dataclass
class _Counter:
    """token -> count as pyarrow parts, aggregated lazily."""

    parts: list = field(default_factory=list)  # [(tokens pa.Array, counts pa.Array)]

    def add(self, tokens, counts) -> None:
        self.parts.append((tokens, counts))
        if len(self.parts) >= COMPACT_EVERY:
            self.compact()

    def compact(self) -> None:
        import pyarrow as pa

        if len(self.parts) <= 1:
            return
        table = pa.table({
            "token": pa.concat_arrays([_same_type(t, self.parts[0][0].type) for t, _ in self.parts]),
            "count": pa.concat_arrays([c for _, c in self.parts]),
        })
        grouped = table.group_by("token").aggregate([("count", "sum")])
        self.parts = [(grouped["token"].combine_chunks(), grouped["count_sum"].combine_chunks())]

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        self.compact()
        if not self.parts:
            return np.array([], dtype=object), np.array([], dtype=np.int64)
        tokens, counts = self.parts[0]
        return tokens.to_numpy(zero_copy_only=False), counts.to_numpy(zero_copy_only=False).astype(np.int64)


def _same_type(array, type_):
    return array if array.type == type_ else array.cast(type_)


@dataclass
class TokenCountsAcc:
    counts: _Counter = field(default_factory=_Counter)
    document_counts: _Counter = field(default_factory=_Counter)
    documents: int = 0


class TokenCounts:
    """Token counts (and, with ``documents=True``, document frequencies) of a token stream.

    Args:
        documents: also count, per token, the documents (rows) that hold it (for tf-idf).
    """

    def __init__(self, documents: bool = False):
        self.documents = documents

    def create(self) -> TokenCountsAcc:
        return TokenCountsAcc()

    def add(self, acc: TokenCountsAcc, tokens, row_ids: np.ndarray | None, rows: int) -> TokenCountsAcc:
        """Count one batch.

        Args:
            acc: the accumulator (updated in place and returned).
            tokens: flat tokens (a pyarrow array, or a numpy array of str / bytes / ints).
            row_ids: the row (document) of each token, or None when every row holds one token.
            rows: the number of rows (documents) in the batch.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        tokens = tokens if isinstance(tokens, (pa.Array, pa.ChunkedArray)) else _to_arrow(tokens)
        if len(tokens):
            counted = pc.value_counts(tokens)
            acc.counts.add(counted.field("values"), counted.field("counts"))
        if self.documents:
            acc.documents += rows
            if row_ids is None:
                if len(tokens):
                    acc.document_counts.add(counted.field("values"), counted.field("counts"))
            elif len(tokens):
                pairs = pa.table({"row": pa.array(row_ids, pa.int64()), "token": tokens})
                distinct = pairs.group_by(["row", "token"]).aggregate([])
                per_document = pc.value_counts(distinct["token"])
                acc.document_counts.add(per_document.field("values"), per_document.field("counts"))
        return acc

    def merge(self, accs: list[TokenCountsAcc]) -> TokenCountsAcc:
        total = TokenCountsAcc()
        for acc in accs:
            total.counts.parts.extend(acc.counts.parts)
            total.document_counts.parts.extend(acc.document_counts.parts)
            total.documents += acc.documents
        total.counts.compact()
        total.document_counts.compact()
        return total


def _to_arrow(values: np.ndarray):
    import pyarrow as pa

    values = np.asarray(values).reshape(-1)
    if values.dtype.kind in "iu":
        return pa.array(values.astype(np.int64))
    if values.dtype.kind == "S" or (values.dtype == object and values.size and isinstance(values[0], bytes)):
        return pa.array(values, pa.binary())
    return pa.array(values.astype(object) if values.dtype.kind == "U" else values, pa.string())


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
