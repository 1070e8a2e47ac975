"""StringLookup / IntegerLookup as a Keras layer of builtin ops (what the lowering rule puts in place).

- string vocabulary lookup: a hash table built inside the traced graph (``HashTableV2`` +
  ``LookupTableImportV2`` + ``LookupTableFindV2``), which TFLite converts to its builtin
  ``HASHTABLE`` ops and tf2onnx to ``ai.onnx.ml.CategoryMapper``: O(1) per token;
- integer vocabulary lookup: the binary search of `edgeprep.families.device` over the sorted keys;
- inverse lookup: one GATHER from ``vocab + [oov_token]`` at ``i`` if ``0 <= i < V`` else ``V``;
- then the output mode's encoding (`edgeprep.families.device`).

``--micro`` (`micro_lookup`, integer vocabularies): TFLM has no int64 GATHER positions, SELECT or
int64 CAST, so the key is compared with every token at once (EQUAL on int64 works: (..., V) bools),
an always-true column is appended for OOV, ARG_MAX (int8 of the bools, first maximum) gives the
matching position, and the encoding compares that position with a constant table "index -> position"
(`edgeprep.families.device` ``micro_encode``): the one-hot of the index directly, or, in "int" mode,
its ARG_MAX (the int32 index: TFLM's GATHER takes no int32 values). The mask token is one more key.
O(V) per value: vocabularies of microcontroller size.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from edgeprep.families.device import sorted_padded, tf_ops

_TABLE_IDS = itertools.count()


@functools.cache
def lookup_class():
    """The ``Lookup`` layer class (imports TensorFlow)."""
    ops = tf_ops()
    tf = ops.tf

    class Lookup(ops.Lowered):
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
                self._keys, self._values = sorted_padded(self._tokens, self._indices)

        def _string_indices(self, x):
            default = tf.constant(self._default, tf.int64)
            if tf.inside_function():
                handle = tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64, shared_name=self._table_name, use_node_name_sharing=False)
                init = tf.raw_ops.LookupTableImportV2(table_handle=handle, keys=tf.constant(self._tokens, tf.string), values=tf.constant(self._indices))
                with tf.control_dependencies([init]):
                    found = tf.raw_ops.LookupTableFindV2(table_handle=handle, keys=x, default_value=default)
                return ops.like(found, x)
            if self._eager_table is None:
                initializer = tf.lookup.KeyValueTensorInitializer(tf.constant(self._tokens, tf.string), tf.constant(self._indices))
                self._eager_table = tf.lookup.StaticHashTable(initializer, default)
            return self._eager_table.lookup(x)

        def _int_indices(self, x):
            count = ops.upper_bound(self._keys, x)
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
            return ops.encode(found, mode, c["depth"], tf.float32 if mode == "tf_idf" else tf.int64, idf=c["idf_weights"])

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

    return Lookup


@functools.cache
def micro_lookup_class():
    """The ``MicroLookup`` layer class (imports TensorFlow)."""
    ops = tf_ops()
    tf = ops.tf

    class MicroLookup(lookup_class()):
        """IntegerLookup for tflite-micro: EQUAL over the table + ARG_MAX + int32 GATHER."""

        def __init__(self, config, output_shape, output_dtype, **kwargs):
            super().__init__(config, output_shape, output_dtype, **kwargs)
            c = config
            keys, indices = list(self._tokens), list(self._indices)
            if c["mask_token"] is not None:  # the mask is one more key (index 0 in "int" mode, no column else)
                keys.append(c["mask_token"])
                indices.append(0 if c["output_mode"] == "int" else -1)
            self._table = np.asarray(keys, np.int64)
            # index j -> the position (in the hits, the OOV column last) that means it, -1 for none
            size = max([*indices, self._default]) + 1 if c["output_mode"] == "int" else c["depth"]
            self._positions = np.full(size, -1, np.int32)
            self._positions[self._default] = len(keys)
            for position, index in enumerate(indices):
                if 0 <= index < size:
                    self._positions[index] = position

        def call(self, inputs):
            c = self.config
            x = tf.convert_to_tensor(inputs)
            x = x if x.dtype == tf.int64 else tf.cast(x, tf.int32)
            hits = tf.equal(tf.expand_dims(x, -1), tf.constant(self._table, x.dtype))
            hits = tf.concat([hits, tf.ones_like(hits[..., :1])], axis=-1)  # OOV: the last column, always true
            position = tf.argmax(tf.cast(hits, tf.int8), axis=-1, output_type=tf.int32)
            mode = c["output_mode"]
            return ops.micro_encode(position, mode, len(self._positions), tf.float32, table=self._positions)

    return MicroLookup


def lookup(config: dict, output, name: str):
    """The device StringLookup / IntegerLookup for ``config`` (`edgeprep.families.index_lookup.spec`)."""
    return lookup_class()(config, tuple(output.shape), str(output.dtype), name=name)


def micro_lookup(config: dict, output, name: str):
    """The tflite-micro IntegerLookup (int32 indices) and how it works, or None where only the default
    lowering applies (strings, ``invert``, no or several OOV buckets, tf_idf)."""
    if (config["key_dtype"] == "string" or config["invert"] or config["num_oov_indices"] != 1
            or config["output_mode"] not in ("int", "one_hot", "multi_hot", "count")):
        return None
    dtype = "int32" if config["output_mode"] == "int" else "float32"
    how = f"--micro: EQUAL against {len(config['vocabulary']) - config['token_start']} keys + ARG_MAX, then " + (
        "the int32 index" if config["output_mode"] == "int" else f"{config['output_mode']}") + " by GREATER_EQUAL / LESS_EQUAL (TFLM kernels)"
    return micro_lookup_class()(config, tuple(output.shape), dtype, name=name), how
