"""Keras layers made of ops both stock runtimes have built in: what lowering rules put in place.

Each layer reads the same portable ``config`` as its host implementation (`edgeprep.host`), so a
device lowering and a host step cannot disagree. The math:

- string vocabulary lookup: a hash table built inside the traced graph (``HashTableV2`` +
  ``LookupTableImportV2`` + ``LookupTableFindV2``), which TFLite converts to its builtin
  ``HASHTABLE`` ops and tf2onnx to ``ai.onnx.ml.CategoryMapper``: O(1) per token;
- integer vocabulary lookup and bucketing: a branch-free binary search over the sorted keys
  (``ceil(log2(V + 1))`` rounds of GATHER + LESS + SELECT): O(log V) per value, no scan;
  ``upper_bound(x) = #{k : not (x < k)}``, which sends a value on a boundary to the bin above and
  NaN to the last bin, as ``Bucketize`` does (a denormal input within 1.2e-38 of a boundary at 0
  may be flushed to zero by a runtime and land in the bin above: the one known inexactness);
- inverse lookup: one GATHER from ``vocab + [oov_token]`` at ``i`` if ``0 <= i < V`` else ``V``;
- encodings: ``one_hot`` then MAX (multi_hot) or SUM (count, weighted count, tf_idf) over the
  sample axis (see `edgeprep.host.encode`).

The classes are defined on first use so that ``import edgeprep`` does not import Keras.
"""

from __future__ import annotations

import functools
import itertools
import math
from types import SimpleNamespace

import numpy as np

_TABLE_IDS = itertools.count()


def _sorted_padded(keys: np.ndarray, values: np.ndarray | None = None):
    """Keys sorted ascending (with aligned values), padded by repeating the last to ``2**k >= V + 1``."""
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    size = 1 << math.ceil(math.log2(len(keys) + 1))
    pad = size - len(keys)
    keys = np.concatenate([keys, np.repeat(keys[-1:], pad)])
    if values is None:
        return keys, None
    values = values[order]
    return keys, np.concatenate([values, np.repeat(values[-1:], pad)])


@functools.cache
def _classes() -> SimpleNamespace:
    import keras
    import tensorflow as tf

    def upper_bound(sorted_keys, x):
        """#{k in keys : not (x < k)} for a padded power-of-two ``sorted_keys`` (int64 result)."""
        size = int(sorted_keys.shape[0])
        keys = tf.constant(sorted_keys)
        lo = tf.zeros_like(x, dtype=tf.int64)
        step = size // 2
        while step >= 1:
            candidate = lo + step
            probe = tf.gather(keys, candidate - 1)
            lo = tf.where(tf.logical_not(tf.less(x, probe)), candidate, lo)
            step //= 2
        return lo

    def _like(found, x):
        """``found`` reshaped to ``x``'s shape, static where ``x``'s is (table lookups lose it)."""
        inner = list(x.shape[1:])
        if x.shape.rank is not None and all(d is not None for d in inner):
            return tf.reshape(found, [-1, *inner]) if x.shape.rank else tf.reshape(found, [])
        return tf.reshape(found, tf.shape(x))

    def one_hot(x, depth):
        """float32 one-hot; negative indices give zeros as in TF (ONNX OneHot would wrap them)."""
        x = tf.cast(x, tf.int64)
        return tf.one_hot(tf.where(x < 0, tf.constant(depth, tf.int64), x), depth, dtype=tf.float32)

    def encode(x, mode, depth, dtype, weights=None, idf=None):
        """Keras' encodings (float32 one-hot: ONNX OneHot and TFLite ONE_HOT at any rank; counts stay exact to 2**24)."""
        if mode == "int":
            return tf.cast(x, dtype)
        if x.shape.rank == 0:
            x = tf.expand_dims(x, -1)
        if mode == "one_hot":
            if x.shape.rank > 1 and x.shape[-1] == 1:
                x = tf.squeeze(x, -1)
            return tf.cast(one_hot(x, depth), dtype)
        if mode == "multi_hot":
            return tf.cast(tf.reduce_max(one_hot(x, depth), axis=-2), dtype)
        if weights is not None:
            return tf.reduce_sum(tf.cast(one_hot(x, depth), weights.dtype) * tf.expand_dims(weights, -1), axis=-2)
        counts = tf.reduce_sum(one_hot(x, depth), axis=-2)
        if mode == "count":
            return tf.cast(counts, dtype)
        return counts * tf.constant(np.asarray(idf, np.float32))

    class Lowered(keras.layers.Layer):
        """Base: keeps the original call's output spec; string-friendly input handling."""

        def __init__(self, config, output_shape, output_dtype, **kwargs):
            super().__init__(trainable=False, **kwargs)
            self.config = config
            self._spec = (tuple(output_shape[1:]), output_dtype)
            self._convert_input_args = False
            self._allow_non_tensor_positional_args = True

        def compute_output_spec(self, inputs, *args, **kwargs):
            first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            return keras.KerasTensor((first.shape[0], *self._spec[0]), dtype=self._spec[1])

    class Lookup(Lowered):
        """StringLookup / IntegerLookup on builtin ops (forward or inverse)."""

        def __init__(self, config, output_shape, output_dtype, indices_only=False, **kwargs):
            super().__init__(config, output_shape, output_dtype, **kwargs)
            c = config
            self._indices_only = indices_only
            self._string = c["key_dtype"] == "string"
            vocab = c["vocabulary"]
            if c["invert"]:
                self._vocab = np.asarray(list(vocab) + [c["oov_token"]], dtype=object if self._string else np.int64)
                return
            tokens = list(vocab[c["token_start"]:])
            indices = list(range(c["token_start"], c["token_start"] + len(tokens)))
            if self._string and c["mask_token"] is not None:  # the mask goes through the table: no string Equal
                tokens.append(c["mask_token"])
                indices.append(0 if c["output_mode"] == "int" else np.iinfo(np.int64).max)
            self._tokens = np.asarray(tokens, dtype=object if self._string else np.int64)
            self._indices = np.asarray(indices, dtype=np.int64)
            self._default = c["oov_start"] if c["num_oov_indices"] == 1 else -1
            self._table_name = f"edgeprep_{self.name}_{next(_TABLE_IDS)}"
            self._eager_table = None
            if not self._string:
                self._keys, self._values = _sorted_padded(self._tokens, self._indices)

        def _string_indices(self, x):
            default = tf.constant(self._default, tf.int64)
            if tf.inside_function():
                handle = tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64, shared_name=self._table_name, use_node_name_sharing=False)
                init = tf.raw_ops.LookupTableImportV2(table_handle=handle, keys=tf.constant(self._tokens, tf.string), values=tf.constant(self._indices))
                with tf.control_dependencies([init]):
                    found = tf.raw_ops.LookupTableFindV2(table_handle=handle, keys=x, default_value=default)
                return _like(found, x)
            if self._eager_table is None:
                initializer = tf.lookup.KeyValueTensorInitializer(tf.constant(self._tokens, tf.string), tf.constant(self._indices))
                self._eager_table = tf.lookup.StaticHashTable(initializer, default)
            return self._eager_table.lookup(x)

        def _int_indices(self, x):
            count = upper_bound(self._keys, x)
            previous = tf.maximum(count - 1, 0)
            found = tf.logical_and(count > 0, tf.equal(tf.gather(tf.constant(self._keys), previous), x))
            return tf.where(found, tf.gather(tf.constant(self._values), previous), tf.constant(self._default, tf.int64))

        def call(self, inputs):
            c = self.config
            x = tf.convert_to_tensor(inputs)
            if c["invert"]:
                return self._invert(tf.cast(x, tf.int64))
            x = x if self._string else tf.cast(x, tf.int64)
            found = self._string_indices(x) if self._string else self._int_indices(x)
            if c["mask_token"] is not None and not self._string:
                mask_value = 0 if c["output_mode"] == "int" else np.iinfo(np.int64).max
                found = tf.where(tf.equal(x, tf.constant(c["mask_token"], tf.int64)), tf.constant(mask_value, tf.int64), found)
            if c["num_oov_indices"] > 1:
                found = tf.where(tf.equal(found, -1), self._oov_buckets(x) + c["oov_start"], found)
            mode = c["output_mode"]
            if mode == "int" or self._indices_only:
                return found
            return encode(found, mode, c["depth"], tf.float32 if mode == "tf_idf" else tf.int64, idf=c["idf_weights"])

        def _oov_buckets(self, x):
            c = self.config
            n = c["num_oov_indices"]
            if not self._string and c["oov_method"] != "farmhash":
                n = tf.constant(n, tf.int64)
                # floormod(floormod(x, n) + n, n): tf2onnx lowers FloorMod to a truncating Mod; the
                # second one sees only positive values, so both runtimes get the floor modulus.
                return tf.math.floormod(tf.math.floormod(x, n) + n, n)
            # Hashed buckets: Select-TF / onnxruntime-extensions ops, only placed here by an opt-in.
            text = x if self._string else tf.strings.as_string(x)
            if c["salt"] is not None:
                return tf.strings.to_hash_bucket_strong(text, n, key=c["salt"])
            return tf.strings.to_hash_bucket_fast(text, n)

        def _invert(self, x):
            # One GATHER from the vocabulary with the OOV token appended (TFLite has no string SELECT).
            size = len(self._vocab) - 1
            inside = tf.logical_and(x >= 0, x < size)
            index = tf.where(inside, x, tf.constant(size, tf.int64))
            return tf.gather(tf.constant(self._vocab, tf.string if self._string else tf.int64), index)

    class Discretize(Lowered):
        """Discretization: binary-searched ``Bucketize`` in float32, then the encoding."""

        def __init__(self, config, output_shape, output_dtype, **kwargs):
            super().__init__(config, output_shape, output_dtype, **kwargs)
            self._edges, _ = _sorted_padded(np.asarray(config["bin_boundaries"], np.float32))

        def call(self, inputs):
            c = self.config
            x = tf.cast(inputs, tf.float32)
            bins = tf.minimum(upper_bound(self._edges, x), len(c["bin_boundaries"]))
            return encode(tf.cast(bins, tf.int32), c["output_mode"], c["depth"], c["dtype"])

    class Encode(Lowered):
        """CategoryEncoding: one_hot / multi_hot / count (optionally weighted)."""

        def call(self, inputs, count_weights=None):
            c = self.config
            weights = None if count_weights is None else tf.cast(count_weights, c["dtype"])
            return encode(tf.cast(inputs, tf.int64), c["output_mode"], c["depth"], c["dtype"], weights=weights)

    class Text(Lowered):
        """TextVectorization from TensorFlow string ops (Select-TF ops: only with --allow-flex)."""

        def __init__(self, config, output_shape, output_dtype, **kwargs):
            super().__init__(config, output_shape, output_dtype, **kwargs)
            self._lookup = Lookup(config["lookup"], output_shape, output_dtype, indices_only=True, name=f"{self.name}_lookup")

        def call(self, inputs):
            from keras.src.utils.tf_utils import tf_encode_categorical_inputs

            from edgeprep.host.text import PUNCTUATION

            c, lookup = self.config, self.config["lookup"]
            x = tf.convert_to_tensor(inputs)
            if c["standardize"] in ("lower", "lower_and_strip_punctuation"):
                x = tf.strings.lower(x)
            if c["standardize"] in ("strip_punctuation", "lower_and_strip_punctuation"):
                x = tf.strings.regex_replace(x, PUNCTUATION.pattern, "")
            if c["split"] is not None:
                if x.shape.rank > 1:
                    x = tf.squeeze(x, -1)
                x = tf.strings.split(x) if c["split"] == "whitespace" else tf.strings.unicode_split(x, "UTF-8")
                if c["ngrams"]:
                    x = tf.strings.ngrams(x, ngram_width=tuple(c["ngrams"]), separator=" ")
                ids = tf.ragged.map_flat_values(self._lookup, x)
            else:
                ids = self._lookup(x)
            mode = c["output_mode"]
            if mode == "int":
                if isinstance(ids, tf.RaggedTensor):
                    return ids.to_tensor(default_value=0, shape=[None, c["output_sequence_length"]])
                if c["output_sequence_length"] is None:
                    return ids
                ids = ids[..., : c["output_sequence_length"]]
                return tf.pad(ids, [[0, 0]] * (ids.shape.rank - 1) + [[0, c["output_sequence_length"] - tf.shape(ids)[-1]]])
            counts = tf_encode_categorical_inputs(ids, "count" if mode == "tf_idf" else mode, lookup["depth"], dtype="int64")
            if mode == "tf_idf":
                return tf.cast(counts, tf.float32) * tf.constant(np.asarray(lookup["idf_weights"], np.float32))
            return counts

    return SimpleNamespace(Lookup=Lookup, Discretize=Discretize, Encode=Encode, Text=Text)


def lookup(config: dict, output, name: str):
    """The lowered StringLookup / IntegerLookup for ``config`` (`edgeprep.transforms.host_specs`)."""
    return _classes().Lookup(config, tuple(output.shape), str(output.dtype), name=name)


def text(config: dict, output, name: str):
    """TextVectorization in TensorFlow string ops (needs Select-TF ops on TFLite)."""
    return _classes().Text(config, tuple(output.shape), str(output.dtype), name=name)


def discretize(config: dict, output, name: str):
    return _classes().Discretize(config, tuple(output.shape), config["dtype"] if config["output_mode"] != "int" else "int32", name=name)


def category_encoding(config: dict, output, name: str):
    return _classes().Encode(config, tuple(output.shape), config["dtype"], name=name)
