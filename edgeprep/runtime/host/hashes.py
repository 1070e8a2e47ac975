"""TensorFlow's string and cross hashes, bit-exact, without TensorFlow.

- ``tf.strings.to_hash_bucket_fast(s, n)`` is ``Fingerprint64(utf8(s)) mod n`` (FarmHash
  Fingerprint64, from the maintained ``pyfarmhash`` binding);
- ``tf.strings.to_hash_bucket_strong(s, n, key=[k0, k1])`` is ``SipHash-2-4(utf8(s)) mod n`` with
  the 128-bit key ``k0 || k1`` (both little-endian uint64; ``siphash24`` binding);
- ``tf.sparse.cross_hashed`` (HashedCrossing) builds on ``fingerprint64``: see
  `hashed_crossing`.

Integers and floats are hashed as their decimal text (floats truncated to int64 first), as Keras'
Hashing layer does with ``tf.as_string``.
"""

from __future__ import annotations

import numpy as np

UINT64 = (1 << 64) - 1


def hash_text(values: np.ndarray) -> np.ndarray:
    """The strings Keras hashes for ``values``: text as is, integers (and truncated floats) in decimal."""
    values = np.asarray(values)
    if values.dtype.kind in "USO":
        return values.astype(str)
    if values.dtype.kind == "f":
        values = values.astype(np.int64)  # tf.cast truncates toward zero
    return values.astype(np.int64).astype(str)


def fingerprint64(text: str) -> int:
    """FarmHash Fingerprint64 of the UTF-8 bytes of ``text`` (TensorFlow's ``Fingerprint64``)."""
    import farmhash

    return farmhash.fingerprint64(text.encode("utf-8"))


def siphash(text: str, key: tuple[int, int]) -> int:
    """SipHash-2-4 of the UTF-8 bytes of ``text`` with TensorFlow's key layout (``StrongKeyedHash``)."""
    import siphash24

    raw = (key[0] & UINT64).to_bytes(8, "little") + (key[1] & UINT64).to_bytes(8, "little")
    return int.from_bytes(siphash24.siphash24(text.encode("utf-8"), key=raw).digest(), "little")


def hash_buckets(values: np.ndarray, num_buckets: int, salt: tuple[int, int] | None = None) -> np.ndarray:
    """``to_hash_bucket_fast`` (or ``_strong`` with ``salt``) of every element, as int64.

    Each distinct value is hashed once, so the cost is per distinct value, not per element.
    """
    text = hash_text(values)
    unique, inverse = np.unique(text.reshape(-1), return_inverse=True)
    if salt is None:
        buckets = np.array([fingerprint64(s) % num_buckets for s in unique.tolist()], dtype=np.int64)
    else:
        buckets = np.array([siphash(s, salt) % num_buckets for s in unique.tolist()], dtype=np.int64)
    return buckets[inverse].reshape(text.shape) if unique.size else np.zeros(text.shape, np.int64)
