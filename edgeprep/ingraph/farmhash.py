"""FarmHash ``Fingerprint64`` (farmhashna ``Hash64``) and TensorFlow's ``FingerprintCat64``, in graph.

Every length branch of farmhashna (0, 1-3, 4-7, 8-16, 17-32, 33-64, > 64 with its 64-byte chunk
loop and overlapping last 64 bytes) is computed for every row and the row's branch is selected;
the chunk loop is one ``while_loop`` (TFLite WHILE, ONNX Loop) that runs to the longest row and
freezes the rows it has finished. In the ONNX form the > 64 branch sits in a loop that runs once if
a row of the batch is that long and never otherwise, so batches of short strings skip it (Hashing
of 4-24 byte strings: 189 -> 145 us at batch 1 in onnxruntime); LiteRT's WHILE costs more than
the branch (131 -> 168 us), so the TFLite form computes it for every batch. XOR / rotate / shift go through `uint64.mix`.
"""

from __future__ import annotations

import numpy as np

from edgeprep.ingraph import utf8
from edgeprep.ingraph.uint64 import MASK64, Bitwise, Term, mix, rotr, shift_mix, signed

K0 = 0xC3A5C85C97CB3127
K1 = 0xB492B66FBE98F273
K2 = 0x9AE16A3B2F90404F
KMUL = 0xC6A4A7935BD1E995  # FingerprintCat64 (tensorflow/core/platform/fingerprint.h)
_SEED = 81
_UNROLL = 2  # 64-byte chunks per loop iteration (an onnxruntime Loop iteration costs ~100 us at batch 1)
_CHUNK_OFFSETS = np.arange(0, 64 * _UNROLL, 8, dtype=np.int32).reshape(1, 8 * _UNROLL)


def _c(value: int) -> np.int64:
    return np.int64(signed(value))


def hash_len16(u, v, mul, bitwise: Bitwise = Bitwise.PORTABLE):
    """farmhashna ``HashLen16(u, v, mul)``; the arguments may be ``[batch, k]`` for k hashes at once."""
    (a,) = mix([u, v], [[Term(0), Term(1)]], bitwise=bitwise)
    a = a * mul
    (b,) = mix([v, a], [[Term(0), *shift_mix(1)]], bitwise=bitwise)  # v ^ ShiftMix(a)
    b = b * mul
    (b,) = mix([b], [shift_mix(0)], bitwise=bitwise)
    return b * mul


def _weak_pairs(seeds, bitwise: Bitwise):
    """``WeakHashLen32WithSeeds`` for each (w, x, y, z, a, b) of ``seeds``, in one `mix` pass."""
    firsts, sums, words, outputs = [], [], [], []
    for w, x, y, z, a, b in seeds:
        a = a + w
        firsts.append((a, a + x + y, z))
        words += [b + a + z, a + x + y]
        outputs += [[rotr(len(words) - 2, 21)], [rotr(len(words) - 1, 44)]]
    rotated = mix(words, outputs, bitwise=bitwise)
    for i, (a, a2, z) in enumerate(firsts):
        sums.append((a2 + z, rotated[2 * i] + rotated[2 * i + 1] + a))
    return sums


def fingerprint64(data, lengths, bitwise: Bitwise = Bitwise.PORTABLE):
    """``Fingerprint64`` of every row: int64 ``[batch]`` with the uint64 bits.

    Args:
        data: UTF-8 bytes ``[batch, max_bytes]`` (any integer dtype); bytes past a row's length are ignored.
        lengths: ``[batch]`` byte lengths.
        bitwise: how XOR and shifts are expressed (`uint64.Bitwise`).
    """
    from keras import ops

    static_size = data.shape[1]
    data, n32 = utf8.prepare(data, lengths)
    n = ops.cast(n32, "int64")
    mul = n * np.int64(2) + _c(K2)
    ones = ops.ones_like(ops.expand_dims(n32, -1))
    offsets = ops.concatenate(
        [ones * np.array([0, 8, 16, 24], np.int32), ops.expand_dims(n32, -1) + np.arange(-64, 0, 8, dtype=np.int32),
         ones * 0, ops.expand_dims(n32 - 4, -1), ones * 0, ops.expand_dims(ops.floor_divide(n32, 2), -1), ops.expand_dims(n32 - 1, -1)],
        axis=-1,
    )
    words = utf8.fetch(data, n32, offsets, (8,) * 12 + (4, 4, 1, 1, 1))
    f0, f8, f16, f24 = (words[:, i] for i in range(4))
    tail = [words[:, 4 + i] for i in range(8)]  # Fetch(s + len - 64 + 8i)
    a32, b32, first, middle, last = (words[:, 12 + i] for i in range(5))

    # 1-3 bytes: ShiftMix(y * k2 ^ z * k0) * k2
    y13 = (first + middle * np.int64(256)) * _c(K2)
    z13 = (n + last * np.int64(4)) * _c(K0)
    a17, a33 = f0 * _c(K1), f0 * _c(K2)
    c17 = tail[7] * mul
    (h13, r8b, r8a, r17ab, r17c, rbk, r33ab, r33ef, r33fa) = mix(
        [y13, z13, tail[7], f0 + _c(K2), a17 + f8, c17, f8 + _c(K2), a33 + f8, f16 * mul + f24, f24 + a33],
        [[Term(0), Term(1), Term(0, shift=47), Term(1, shift=47)], [rotr(2, 37)], [rotr(3, 25)], [rotr(4, 43)],
         [rotr(5, 30)], [rotr(6, 18)], [rotr(7, 43)], [rotr(8, 43)], [rotr(9, 18)]],
        bitwise=bitwise,
    )
    h13 = h13 * _c(K2)
    # HashLen16 arguments of: 4-7, 8-16, 17-32, and the first one of 33-64
    u = [n + a32 * np.int64(8), r8b * mul + f0 + _c(K2), r17ab + r17c + tail[6] * _c(K2)]
    v = [b32, (r8a + tail[7]) * mul, a17 + rbk + c17]
    y33 = r33ab + r17c + tail[6] * _c(K2)
    u.append(y33)
    v.append(a33 + rbk + c17)
    first_round = hash_len16(ops.stack(u, -1), ops.stack(v, -1), ops.expand_dims(mul, -1), bitwise)
    h4, h8, h17, z33 = (first_round[:, i] for i in range(4))
    e33 = f16 * mul
    g33 = (y33 + tail[4]) * mul
    (r33g,) = mix([g33], [[rotr(0, 30)]], bitwise=bitwise)
    h33 = hash_len16(r33ef + r33g + (z33 + tail[5]) * mul, e33 + r33fa + g33, mul, bitwise)

    hashed = ops.where(ops.less_equal(n32, 32), h17, h33)
    if static_size is None or static_size > 64:
        hashed = _with_long(data, n32, f0, tail, hashed, bitwise)
    hashed = ops.where(ops.less_equal(n32, 16), h8, hashed)
    hashed = ops.where(ops.less(n32, 8), h4, hashed)
    hashed = ops.where(ops.less(n32, 4), h13, hashed)
    return ops.where(ops.equal(n32, 0), _c(K2), hashed)


def _with_long(data, n32, f0, tail, hashed, bitwise: Bitwise):
    """``hashed`` with the rows longer than 64 bytes replaced by `_long`; in the ONNX forms inside a
    loop that runs once if the batch has such a row and never otherwise (an IF without an IF op)."""
    from keras import ops

    long_rows = ops.greater(n32, 64)
    if bitwise not in (Bitwise.ONNX, Bitwise.ONNX17):
        return ops.where(long_rows, _long(data, n32, f0, tail, bitwise), hashed)

    def branch(i, hashed):
        return i + 1, ops.where(long_rows, _long(data, n32, f0, tail, bitwise), hashed)

    def any_long(i, hashed):
        return ops.less(i, ops.max(ops.cast(long_rows, "int32")))

    return ops.while_loop(any_long, branch, (ops.convert_to_tensor(np.int32(0)), hashed))[1]


def _long(data, n32, f0, tail, bitwise: Bitwise):
    """farmhashna ``Hash64`` for rows longer than 64 bytes (other rows give garbage)."""
    from keras import ops

    y0 = (_SEED * K1 + 113) & MASK64
    t0 = (y0 * K2 + 113) & MASK64
    z0 = signed((t0 ^ (t0 >> 47)) * K2)  # ShiftMix(y * k2 + 113) * k2
    x = f0 + _c(_SEED * K2)
    zero = ops.zeros_like(x)
    state = ops.stack([x, zero + np.int64(signed(y0)), zero + np.int64(z0), zero, zero, zero, zero], axis=-1)
    chunks = ops.floor_divide(n32 - 1, 64)  # the loop's iterations per row

    def body(i, state):
        first = i * _UNROLL
        words = utf8.fetch(data, n32, ops.reshape(first * 64, (1, 1)) + _CHUNK_OFFSETS, (8,) * (8 * _UNROLL))
        for u in range(_UNROLL):
            new = _chunk([state[:, j] for j in range(7)], [words[:, 8 * u + j] for j in range(8)], _c(K1), 1, bitwise)
            state = ops.where(ops.expand_dims(ops.less(first + u, chunks), -1), ops.stack(new, axis=-1), state)
        return i + 1, state

    def more(i, state):
        return ops.less(i * _UNROLL, ops.max(chunks))

    _, state = ops.while_loop(more, body, (ops.convert_to_tensor(np.int32(0)), state))
    x, y, z, v0, v1, w0, w1 = (state[:, j] for j in range(7))
    mul = ops.cast(ops.cast(z, "uint8"), "int64") * np.int64(2) + _c(K1)  # k1 + ((z & 0xff) << 1)
    w0 = w0 + ops.cast(ops.mod(n32 - 1, 64), "int64")
    v0 = v0 + w0
    w0 = w0 + v0
    x, y, z, v0, v1, w0, w1 = _chunk([x, y, z, v0, v1, w0, w1], tail, mul, 9, bitwise)
    inner = hash_len16(ops.stack([v0, v1], -1), ops.stack([w0, w1], -1), ops.expand_dims(mul, -1), bitwise)
    (mixed_y,) = mix([y], [shift_mix(0)], bitwise=bitwise)
    return hash_len16(inner[:, 0] + mixed_y * _c(K0) + z, inner[:, 1] + x, mul, bitwise)


def _chunk(state, c, mul, factor: int, bitwise: Bitwise):
    """One 64-byte step of farmhashna's long loop (``factor`` 1, ``mul`` k1) or its last one on the
    final 64 bytes (``factor`` 9): returns (x, y, z, v0, v1, w0, w1) after ``std::swap(z, x)``."""
    x, y, z, v0, v1, w0, w1 = state
    rx, ry, rz = mix([x + y + v0 + c[1], y + v1 + c[6], z + w0], [[rotr(0, 37)], [rotr(1, 42)], [rotr(2, 33)]], bitwise=bitwise)
    x, y, z = rx * mul, ry * mul, rz * mul
    (x,) = mix([x, w1 if factor == 1 else w1 * np.int64(factor)], [[Term(0), Term(1)]], bitwise=bitwise)
    y = y + (v0 if factor == 1 else v0 * np.int64(factor)) + c[5]
    (v0, v1), (w0, w1) = _weak_pairs([(c[0], c[1], c[2], c[3], v1 * mul, x + w0), (c[4], c[5], c[6], c[7], z + w1, y + c[2])], bitwise)
    return z, y, x, v0, v1, w0, w1


def fingerprint_cat64(fp1, fp2, bitwise: Bitwise = Bitwise.PORTABLE):
    """TensorFlow's ``FingerprintCat64(fp1, fp2)`` on int64 tensors holding uint64 bits."""
    kmul = _c(KMUL)
    result, mixed = mix([fp1, fp2 * kmul], [[Term(0)], list(shift_mix(1))], constants=(KMUL, 0), bitwise=bitwise)
    (result,) = mix([result, mixed * kmul], [[Term(0), Term(1)]], bitwise=bitwise)
    (result,) = mix([result * kmul], [shift_mix(0)], bitwise=bitwise)
    (result,) = mix([result * kmul], [shift_mix(0)], bitwise=bitwise)
    return result


def cross_fingerprint(features, bitwise: Bitwise = Bitwise.PORTABLE):
    """``tf.sparse.cross_hashed``'s row hash before the modulus: ``FingerprintCat64`` folded over the
    features' int64 fingerprints (a string's Fingerprint64, an integer's own value) from 0xDECAFCAFFE."""
    from keras import ops

    hashed = ops.zeros_like(features[0]) + np.int64(0xDECAFCAFFE)
    for feature in features:
        hashed = fingerprint_cat64(hashed, feature, bitwise)
    return hashed

