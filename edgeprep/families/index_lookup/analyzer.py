"""Adapting StringLookup / IntegerLookup (and TextVectorization's inner lookup) in one streaming pass.

`TokenCounts` is the mergeable statistic: token -> count, and for tf-idf token -> number of
documents (rows) holding it, plus the number of documents; counted with pyarrow's vectorised hash
aggregation. `LookupAnalyzer` feeds it a target's tokens and hands the counts to Keras' own
``finalize_state`` (``token_counts`` + ``token_document_counts``, ``num_documents``), which sorts,
truncates and computes idf weights. pyarrow, TensorFlow and Keras are imported on use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeprep.compose.analyzer import LayerAnalyzer, LayerToAdapt
from edgeprep.errors import DataError, UsageError

COMPACT_EVERY = 16  # pending (tokens, counts) parts before they are aggregated into one


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


class LookupAnalyzer(LayerAnalyzer):
    """StringLookup / IntegerLookup, and TextVectorization (tokens from its own preprocessing)."""

    adapts = ("StringLookup", "IntegerLookup", "TextVectorization")

    @staticmethod
    def needs_state(layer) -> bool:
        """True when the layer has no vocabulary yet."""
        return not layer.get_vocabulary(include_special_tokens=False)

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


def _keys(tokens: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "int64":
        return tokens.astype(np.int64)
    return tokens.astype(object)
