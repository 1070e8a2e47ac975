"""SipHash-2-4 with a 128-bit key, in graph (TensorFlow's ``StrongKeyedHash``, ``to_hash_bucket_strong``).

The message is read as little-endian 8-byte blocks; the last block holds the 0-7 remaining bytes
and ``len << 56``. One ``while_loop`` runs to the longest row's block count and freezes finished
rows (4 blocks per iteration). A half SipRound is two wrapping adds and one `uint64.mix` pass (two
rotate-XORs and a rotate).
"""

from __future__ import annotations

import numpy as np

from edgeprep.ingraph import utf8
from edgeprep.ingraph.uint64 import Bitwise, Term, mix, rotl, signed

_INIT = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)
# Blocks per loop iteration: a loop iteration costs far more than its ops in onnxruntime (~240 us
# per iteration at batch 1, measured with scripts/bench_hashing.py), so each one compresses 4 blocks.
_UNROLL = 4
_BLOCK_OFFSETS = np.arange(0, 8 * _UNROLL, 8, dtype=np.int32).reshape(1, _UNROLL)


def _round(v0, v1, v2, v3, bitwise):
    """One SipRound."""
    v0, v2 = v0 + v1, v2 + v3
    v1, v3, v0 = mix([v0, v1, v2, v3], [[rotl(1, 13), Term(0)], [rotl(3, 16), Term(2)], [rotl(0, 32)]], bitwise=bitwise)
    v0, v2 = v0 + v3, v2 + v1
    v1, v3, v2 = mix([v0, v1, v2, v3], [[rotl(1, 17), Term(2)], [rotl(3, 21), Term(0)], [rotl(2, 32)]], bitwise=bitwise)
    return v0, v1, v2, v3


def siphash(data, lengths, key: tuple[int, int], bitwise: Bitwise = Bitwise.PORTABLE):
    """SipHash-2-4 of every row with key ``(k0, k1)`` (TensorFlow's key layout): int64 ``[batch]``.

    Args:
        data: UTF-8 bytes ``[batch, max_bytes]``; bytes past a row's length are ignored.
        lengths: ``[batch]`` byte lengths.
        key: the two uint64 halves of the key, as Keras' Hashing ``salt`` holds them.
        bitwise: how XOR and shifts are expressed (`uint64.Bitwise`).
    """
    from keras import ops

    data, n32 = utf8.prepare(data, lengths)
    n = ops.cast(n32, "int64")
    zero = ops.zeros_like(n)
    k0, k1 = key
    state = ops.stack([zero + np.int64(signed(k ^ c)) for k, c in zip((k0, k1, k0, k1), _INIT)], axis=-1)
    full = ops.floor_divide(n32, 8)  # blocks before the last one
    length_byte = n * np.int64(1 << 56)  # (len & 0xff) << 56, wrapping

    def body(i, state):
        first = i * _UNROLL
        blocks = utf8.fetch(data, n32, ops.reshape(first * 8, (1, 1)) + _BLOCK_OFFSETS, (8,) * _UNROLL)
        for u in range(_UNROLL):
            block = blocks[:, u] + ops.where(ops.equal(full, first + u), length_byte, zero)
            v0, v1, v2, v3 = (state[:, j] for j in range(4))
            (v3,) = mix([v3, block], [[Term(0), Term(1)]], bitwise=bitwise)
            v0, v1, v2, v3 = _round(*_round(v0, v1, v2, v3, bitwise), bitwise)
            (v0,) = mix([v0, block], [[Term(0), Term(1)]], bitwise=bitwise)
            new = ops.stack([v0, v1, v2, v3], axis=-1)
            state = ops.where(ops.expand_dims(ops.less_equal(first + u, full), -1), new, state)
        return i + 1, state

    def more(i, state):
        return ops.less_equal(i * _UNROLL, ops.max(full))

    _, state = ops.while_loop(more, body, (ops.convert_to_tensor(np.int32(0)), state))
    v0, v1, v2, v3 = (state[:, j] for j in range(4))
    (v2,) = mix([v2], [[Term(0)]], constants=(0xFF,), bitwise=bitwise)
    for _ in range(4):
        v0, v1, v2, v3 = _round(v0, v1, v2, v3, bitwise)
    (hashed,) = mix([v0, v1, v2, v3], [[Term(0), Term(1), Term(2), Term(3)]], bitwise=bitwise)
    return hashed
