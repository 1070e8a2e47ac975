"""TensorFlow's hash buckets in graph: what Keras' Hashing and HashedCrossing compute, bit-exact.

- ``tf.strings.to_hash_bucket_fast(s, n)``: ``Fingerprint64(s) mod n`` (uint64 modulus);
- ``tf.strings.to_hash_bucket_strong(s, n, key)``: ``SipHash-2-4(key, s) mod n``;
- integers are hashed as their decimal text (``tf.strings.as_string``; floats truncated first);
- ``tf.sparse.cross_hashed``: ``FingerprintCat64`` folded over the features, ``mod n``.

Strings arrive as UTF-8 bytes ``[batch, max_bytes]`` plus lengths ``[batch]`` (`edgeprep.ingraph.utf8`).
"""

from __future__ import annotations

import numpy as np

from edgeprep.ingraph import utf8
from edgeprep.ingraph.farmhash import cross_fingerprint, fingerprint64
from edgeprep.ingraph.siphash import siphash
from edgeprep.ingraph.uint64 import Bitwise, umod


def text_hash(data, lengths, salt: tuple[int, int] | None = None, bitwise: Bitwise = Bitwise.PORTABLE):
    """The 64-bit hash TensorFlow buckets: Fingerprint64, or SipHash-2-4 keyed by ``salt``: int64 ``[batch]``."""
    return fingerprint64(data, lengths, bitwise) if salt is None else siphash(data, lengths, salt, bitwise)


def keras_bins(hashed, num_bins: int, masked=None, bitwise: Bitwise = Bitwise.PORTABLE):
    """Keras ``Hashing._hash_values_to_bins`` from the 64-bit hashes: ``hashed mod num_bins``; with
    ``masked`` (bool ``[batch]``, the rows equal to ``mask_value``) and ``num_bins > 1``, bin 0 is
    reserved for them and the others land in ``1 + hashed mod (num_bins - 1)``."""
    from keras import ops

    if masked is None or num_bins <= 1:
        return umod(hashed, num_bins, bitwise)
    return ops.where(masked, np.int64(0), umod(hashed, num_bins - 1, bitwise) + np.int64(1))


def hash_buckets(data, lengths, num_bins: int, salt: tuple[int, int] | None = None, bitwise: Bitwise = Bitwise.PORTABLE):
    """``to_hash_bucket_fast`` (or ``_strong`` with ``salt``) of every row: int64 ``[batch]`` in ``[0, num_bins)``."""
    return keras_bins(text_hash(data, lengths, salt, bitwise), num_bins, bitwise=bitwise)


def integer_text(values):
    """The text Keras' Hashing hashes for numbers ``[batch]``: floats truncated to int64, then decimal."""
    from keras import ops

    return utf8.decimal(ops.cast(values, "int64"))


def equals_text(data, lengths, text: bytes):
    """Rows whose bytes are exactly ``text`` (for a string ``mask_value``): bool ``[batch]``."""
    from keras import ops

    if not text:
        return ops.equal(ops.cast(lengths, "int32"), 0)
    data, n32 = utf8.prepare(data, lengths)
    width = len(text)
    head = ops.pad(data, [[0, 0], [0, width]])[:, :width]
    same = ops.all(ops.equal(head, np.frombuffer(text, np.uint8).astype(np.int32)), axis=-1)
    return ops.logical_and(same, ops.equal(n32, width))


def cross_buckets(features, num_bins: int, bitwise: Bitwise = Bitwise.PORTABLE):
    """``tf.sparse.cross_hashed`` of one value per row per feature: int64 ``[batch]``.

    Args:
        features: int64 ``[batch]`` tensors: a string feature's `fingerprint64`, an integer feature's value.
        num_bins: the modulus (Keras' HashedCrossing ``num_bins``).
    """
    return umod(cross_fingerprint(features, bitwise), num_bins, bitwise)
