"""Unsigned 64-bit arithmetic on int64 tensors, in ops both converters keep as builtins.

A uint64 value lives in an int64 tensor with the same bits. Addition, subtraction and
multiplication wrap modulo 2**64 in TensorFlow, TFLite (ADD/SUB/MUL) and onnxruntime (Add/Sub/Mul),
so they are the unsigned operations already. What the runtimes lack (measured with the pinned stack,
see docs/UPSTREAM.md "In-graph hashing"):

- TFLite has no int64 BITWISE_XOR, RIGHT_SHIFT, LEFT_SHIFT or FLOOR_DIV (only int32 and narrower);
- ONNX has BitwiseXor only from opset 18, and BitShift only on unsigned types;
- onnxruntime's ReduceSum on int64 accumulates in double (2**53 precision, saturating).

Three ways to XOR and shift (`Bitwise`), all bit-exact; `mix` evaluates many independent
XOR / rotate / shift expressions in one call:

- ``PORTABLE`` (TFLite builtins and ONNX opset 17): through the bits. Bit ``k`` of ``x`` is the sign
  of ``x * 2**(63-k)`` (one MUL, one LESS); a GF(2)-linear map of several words is one GATHER of
  those bits and a parity; the bits come back as two exact 32-bit sums. Costs 64x the elements.
- ``TFLITE``: the int64 seen as two 32-bit halves (BITCAST), 32-bit BITWISE_XOR and RIGHT_SHIFT.
- ``ONNX``: BitwiseXor on int64 and BitShift on uint64 (ONNX opset 18).
- ``ONNX17``: ONNX opset 17, which has BitShift (uint64) but no bitwise XOR / AND: shifts and
  rotates are BitShift; an XOR is one Gather in a 256 x 256 byte table (64 KiB) per byte pair, the
  bytes cut with BitShift and a Cast to uint8, joined back with `le_words`. 8x the elements of the
  pair instead of PORTABLE's 64x per term.

A rotate is a logical right shift plus a wrapping multiply (the two parts share no bits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from edgeprep.config import Target

MASK64 = (1 << 64) - 1
INT64_MIN = -(1 << 63)


def signed(value: int) -> int:
    """The int64 with the same 64 bits as the unsigned ``value`` (taken modulo 2**64)."""
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


# 2**(63-k) for k = 0..63 as int64 (k = 0 wraps to -2**63): ``x * _SIGN_SHIFTS[k]`` has bit k of x as its sign.
_SIGN_SHIFTS = np.array([signed(1 << (63 - k)) for k in range(64)], np.int64)


class Bitwise(Enum):
    """How XOR and logical shifts are expressed (see the module docstring)."""

    PORTABLE = "portable"
    TFLITE = "tflite"
    ONNX = "onnx"
    ONNX17 = "onnx17"

    @staticmethod
    def native(target: Target) -> Bitwise:
        """The fastest form ``target`` keeps as builtins."""
        return Bitwise.TFLITE if target is Target.TFLITE else Bitwise.ONNX

    @property
    def onnx_opset(self) -> int:
        """The ONNX opset the form needs: 18 for BitwiseXor, else edgeprep's default 17."""
        return 18 if self is Bitwise.ONNX else 17


@dataclass(frozen=True)
class Term:
    """One XOR term of a `mix` output: ``words[word]`` rotated right by ``rotate``, then shifted
    right (logically) by ``shift``. ``Term(i)`` is the word itself; rotate left by r is ``rotate=64-r``."""

    word: int
    rotate: int = 0
    shift: int = 0


def rotr(word: int, amount: int) -> Term:
    """The term ``rotate_right(words[word], amount)`` (farmhash's ``Rotate``)."""
    return Term(word, rotate=amount % 64)


def rotl(word: int, amount: int) -> Term:
    """The term ``rotate_left(words[word], amount)`` (SipHash's ``ROTL``)."""
    return Term(word, rotate=(64 - amount) % 64)


def shift_mix(word: int, amount: int = 47) -> tuple[Term, Term]:
    """The terms of ``w ^ (w >> amount)`` (farmhash's ``ShiftMix``)."""
    return (Term(word), Term(word, shift=amount))


def mix(words: Sequence, outputs: Sequence[Sequence[Term]], constants: Sequence[int] | None = None,
        bitwise: Bitwise = Bitwise.PORTABLE) -> list:
    """XOR-combinations of rotated / shifted ``words``, all computed in one pass over their bits.

    Args:
        words: int64 tensors of one shape ``[batch, *static]`` (every dimension but the first static).
        outputs: for each output, its terms; the output is their XOR.
        constants: for each output, a constant XORed in (farmhash's ``^ kMul``); None for none.
        bitwise: how XOR and shifts are expressed.

    Returns:
        One int64 tensor per output, of the words' shape.
    """
    from keras import ops

    if bitwise is Bitwise.ONNX17:
        return _table_mix(words, outputs, constants)
    if bitwise is not Bitwise.PORTABLE:
        results = []
        for o, terms in enumerate(outputs):
            values = [_term(words[term.word], term, bitwise) for term in terms]
            if constants is not None and constants[o]:
                values.append(ops.zeros_like(values[0]) + np.int64(signed(constants[o])))
            result = values[0]
            for value in values[1:]:
                result = xor(result, value, bitwise)
            results.append(result)
        return results

    n, m = len(words), len(outputs)
    width = max(1, *(len(terms) for terms in outputs))
    zero_slot = n * 64
    index = np.full((m * 64, width), zero_slot, np.int32)
    for o, terms in enumerate(outputs):
        for t, term in enumerate(terms):
            for k in range(64 - term.shift):
                index[o * 64 + k, t] = term.word * 64 + (k + term.shift + term.rotate) % 64
    stacked = ops.stack(list(words), axis=-1)  # [..., n]
    static = tuple(stacked.shape[1:-1])
    bits = ops.cast(ops.less(ops.multiply(ops.expand_dims(stacked, -1), _SIGN_SHIFTS), 0), "int32")
    flat = ops.reshape(bits, (-1, *static, n * 64))
    flat = ops.concatenate([flat, ops.zeros_like(flat[..., :1])], axis=-1)
    parity = ops.sum(ops.take(flat, index, axis=-1), axis=-1)  # [..., m*64]
    if constants is not None and any(constants):
        parity = parity + np.array([(c >> k) & 1 for c in constants for k in range(64)], np.int32)
    parity = ops.mod(parity, 2)
    values = from_bits(ops.reshape(parity, (-1, *static, m, 64)))
    return [values[..., o] for o in range(m)]


def xor(a, b, bitwise: Bitwise):
    """``a ^ b`` with native ops (``TFLITE``: on the 32-bit halves; ``ONNX``: int64 BitwiseXor;
    ``ONNX17``: byte table)."""
    from keras import ops

    if bitwise is Bitwise.ONNX:
        return ops.bitwise_xor(a, b)
    if bitwise is Bitwise.ONNX17:
        return _table_xor(a, b)
    import tensorflow as tf

    return tf.bitcast(ops.bitwise_xor(_halves(a, "int32"), _halves(b, "int32")), "int64")


def shift_right(x, amount: int, bitwise: Bitwise):
    """Logical ``x >> amount`` (0 < amount < 64) with native ops.

    The amount stays a Python int: ``keras.ops.right_shift(uint64, np.uint64(1))`` computes in 32
    bits (Keras 3.15 promotes the NumPy scalar), a Python int takes TensorFlow's own shift.
    """
    from keras import ops

    if bitwise in (Bitwise.ONNX, Bitwise.ONNX17):
        return ops.cast(ops.right_shift(ops.cast(x, "uint64"), amount), "int64")
    halves = _halves(x, "uint32")
    low, high = halves[..., 0], halves[..., 1]
    if amount >= 32:
        return ops.cast(ops.right_shift(high, amount - 32) if amount > 32 else high, "int64")
    return ops.cast(high, "int64") * np.int64(1 << (32 - amount)) + ops.cast(ops.right_shift(low, amount), "int64")


def _halves(x, dtype: str):
    """int64 ``[...]`` -> ``[..., 2]`` (low, high) 32-bit halves of the same bits: one TFLite BITCAST.

    ``tf.bitcast`` itself: ``keras.ops.view`` reshapes through the dynamic shape around it (three
    times the ops). The TFLITE way is for the TensorFlow -> TFLite route only, so TensorFlow is there.
    Low half first: BITCAST copies memory, and the targets (x86, ARM) are little-endian.
    """
    import tensorflow as tf

    return tf.bitcast(x, dtype)


def _term(x, term: Term, bitwise: Bitwise):
    value = x
    if term.rotate:
        value = shift_right(x, term.rotate, bitwise) + x * np.int64(signed(1 << (64 - term.rotate)))
    if term.shift:
        value = shift_right(value, term.shift, bitwise)
    return value


_XOR_TABLE = np.bitwise_xor.outer(np.arange(256), np.arange(256)).astype(np.uint8).reshape(-1)
_BYTE_SHIFTS = np.arange(0, 64, 8, dtype=np.uint64)


def _table_xor(a, b):
    """``a ^ b`` of int64 tensors ``[batch, *static]`` in ONNX opset 17 ops (the ``ONNX17`` form)."""
    import tensorflow as tf
    from keras import ops

    static = tuple(a.shape[1:])
    pair = ops.expand_dims(ops.cast(ops.stack([a, b], axis=-1), "uint64"), -1)  # [..., 2, 1]
    data = ops.cast(ops.cast(tf.bitwise.right_shift(pair, _BYTE_SHIFTS), "uint8"), "int32")  # [..., 2, 8]
    index = ops.sum(data * np.array([[256], [1]], np.int32), axis=-2)  # [..., 8]
    xored = ops.take(_XOR_TABLE, index)
    if not static:
        return le_words(xored)[..., 0]
    return le_words(ops.reshape(xored, (-1, *static[:-1], static[-1] * 8)))


def _table_mix(words, outputs, constants):
    """`mix` in the ``ONNX17`` form: every term of every output rotated / shifted in one pass of
    vector BitShifts, then the XOR of each output's terms as a tree of `_table_xor` levels."""
    import tensorflow as tf
    from keras import ops

    m = len(outputs)
    columns = [list(terms) for terms in outputs]
    consts = list(constants) if constants is not None else [0] * m
    n = len(words)
    extra = [signed(c) for c in consts if c]
    slots = {}
    for o, c in enumerate(consts):
        if c:
            slots[o] = n + len(slots)
    width = max(len(terms) + (1 if o in slots else 0) for o, terms in enumerate(columns))
    width = 1 << (width - 1).bit_length()  # padded with zero terms: each XOR level halves it by two slices
    zero_slot = n + len(slots)
    index = np.full((width, m), zero_slot, np.int32)
    right = np.zeros((width, m), np.uint64)
    left = np.zeros((width, m), np.int64)
    after = np.zeros((width, m), np.uint64)
    for o, terms in enumerate(columns):
        for t, term in enumerate(terms):
            index[t, o] = term.word
            right[t, o] = term.rotate
            left[t, o] = signed(1 << (64 - term.rotate)) if term.rotate else 0
            after[t, o] = term.shift
        if o in slots:
            index[len(terms), o] = slots[o]
    zero = ops.zeros_like(words[0])
    stacked = ops.stack([*words, *(zero + np.int64(c) for c in extra), zero], axis=-1)  # [..., n + c + 1]
    static = tuple(stacked.shape[1:-1])
    terms = ops.reshape(ops.take(stacked, index.reshape(-1), axis=-1), (-1, *static, width, m))
    if right.any():
        shifted = ops.cast(tf.bitwise.right_shift(ops.cast(terms, "uint64"), right), "int64")
        terms = shifted + terms * left  # the two parts share no bits; rotate 0 is x >> 0 plus x * 0
    if after.any():
        terms = ops.cast(tf.bitwise.right_shift(ops.cast(terms, "uint64"), after), "int64")
    while width > 1:
        width //= 2
        terms = _table_xor(terms[..., :width, :], terms[..., width:, :])
    return ops.unstack(terms[..., 0, :], axis=-1)


def from_bits(bits):
    """``[..., 64]`` 0/1 integers (bit k at index k) -> the int64 ``[...]`` with those bits.

    Each 32-bit half is summed on its own (exact even where a runtime sums int64 in double), then
    the halves are joined with a wrapping multiply-add.
    """
    from keras import ops

    static = tuple(bits.shape[1:-1])
    halves = ops.reshape(ops.cast(bits, "int64"), (-1, *static, 2, 32))
    halves = ops.sum(ops.multiply(halves, np.array([1 << k for k in range(32)], np.int64)), axis=-1)
    return halves[..., 0] + halves[..., 1] * np.int64(1 << 32)


def le_words(data):
    """``[..., 8k]`` bytes (0..255 integers) -> ``[..., k]`` little-endian uint64 words, exact."""
    from keras import ops

    static = tuple(data.shape[1:-1])
    count = data.shape[-1] // 8
    halves = ops.reshape(ops.cast(data, "int64"), (-1, *static, count, 2, 4))
    halves = ops.sum(ops.multiply(halves, np.array([1, 1 << 8, 1 << 16, 1 << 24], np.int64)), axis=-1)
    return halves[..., 0] + halves[..., 1] * np.int64(1 << 32)


def umod(x, modulus: int, bitwise: Bitwise = Bitwise.PORTABLE):
    """``x mod modulus`` with ``x`` read as uint64 (TensorFlow's ``uint64 % num_buckets``).

    ``x >> 1`` (logical) is non-negative, so a plain remainder of it is exact in every runtime;
    ``2 * r + low_bit`` is then brought back under ``modulus`` without overflowing.
    """
    from keras import ops

    if not 0 < modulus < 1 << 63:
        raise ValueError(f"modulus must be in [1, 2**63), got {modulus}")
    (half,) = mix([x], [[Term(0, shift=1)]], bitwise=bitwise)
    low_bit = x - half * np.int64(2)
    rest = ops.mod(half, np.int64(modulus))
    folded = rest - (np.int64(modulus) - rest) + low_bit  # 2*rest + low_bit - modulus, in (-modulus, modulus)
    return ops.where(ops.less(folded, 0), folded + np.int64(modulus), folded)
