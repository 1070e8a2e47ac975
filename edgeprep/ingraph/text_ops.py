"""Byte-tensor building blocks of TextVectorization: ``keras.ops`` both converters keep as builtins.

A batch of texts is UTF-8 bytes ``[batch, N]`` (int32 here) plus a length per row; a byte at or
past its row's length is padding. Tests on single bytes are exact for UTF-8 because the bytes of a
multi-byte sequence are all >= 0x80 and never equal an ASCII byte. Measured against TensorFlow on
every code point below U+3001:

- ``tf.strings.lower`` changes ``A-Z`` only (``+32``);
- Keras' strip regex removes exactly the 32 ASCII punctuation bytes of `PUNCTUATION`;
- ``tf.strings.split()`` splits on the 6 bytes of `WHITESPACE` only (not on NUL, NBSP, ``\\x1c``-
  ``\\x1f``, ``\\x85``, ``\\u2028`` or ``\\u3000``) and drops empty pieces;
- ``tf.strings.unicode_split`` gives one piece per code point: one per byte that is not a UTF-8
  continuation byte (``0x80``-``0xBF``).

Every step that removes or inserts bytes is a `compact` (a CUMSUM of a keep mask and one SCATTER_ND
with unique indices). Ordered comparisons use ``>=`` / ``<=`` only: tf2onnx casts the operands of
TensorFlow's ``Less`` / ``Greater`` to float32 at every opset (exact below 2**24 only), while
``GreaterEqual`` / ``LessEqual`` become ONNX ``GreaterOrEqual`` / ``LessOrEqual`` on the integers.
"""

from __future__ import annotations

import numpy as np

from edgeprep.ingraph import tflm
from edgeprep.ingraph.tflm import kernels
from edgeprep.runtime.host.text_vectorization import PUNCTUATION_BYTES as PUNCTUATION
from edgeprep.runtime.host.text_vectorization import WHITESPACE_BYTES as WHITESPACE
SPACE = ord(" ")
CONTENT, BLANK, PUNCT = 0, 1, 2
BYTE_CLASS = np.zeros(256, np.int32)
BYTE_CLASS[list(WHITESPACE)] = BLANK
BYTE_CLASS[list(PUNCTUATION)] = PUNCT


def prepare(data):
    """uint8 bytes ``[batch, N]``, zero padded -> (int32 bytes ``[batch, N + 1]``, int32 lengths ``[batch]``).

    A row's length is one past its last non-zero byte (a NUL inside a text is data); one zero
    column is appended so that a batch of empty texts (``N == 0``) still has a column.
    """
    ops = kernels()

    data = ops.pad(ops.cast(data, "int32"), [[0, 0], [0, 1]])
    nonzero = ops.cast(ops.not_equal(data, 0), "int32") * (ops.arange(ops.shape(data)[1], dtype="int32") + 1)
    return data, ops.max(nonzero, axis=1)


def columns(data):
    """int32 column index ``[1, N]`` of ``data``."""
    ops = kernels()

    return ops.expand_dims(ops.arange(ops.shape(data)[1], dtype="int32"), 0)


def inside(data, lengths):
    """bool ``[batch, N]``: the byte is before its row's length."""
    ops = kernels()

    return ops.less_equal(columns(data) + 1, ops.expand_dims(lengths, 1))


def lower_ascii(data):
    """``tf.strings.lower``: ``A-Z`` + 32, every other byte unchanged."""
    ops = kernels()

    upper = ops.logical_and(ops.greater_equal(data, ord("A")), ops.less_equal(data, ord("Z")))
    return ops.where(upper, data + 32, data)


def byte_class(data):
    """int32 `CONTENT` / `BLANK` / `PUNCT` of every byte (one GATHER)."""
    ops = kernels()

    return ops.take(BYTE_CLASS, data)


def compact(values, keep, width=None):
    """The kept values of each row moved to its front, in order: (values ``[batch, width]``, counts ``[batch]``).

    ``width`` defaults to the input's. A kept value lands at ``cumsum(keep) - 1``; a dropped one at
    its own column past ``width`` (so no two updates share an index), which is then cut off.
    """
    ops = kernels()

    size = ops.shape(values)[1]
    width = size if width is None else width
    if tflm.active():
        return tflm.compact(values, keep, width)
    keep_i = ops.cast(keep, "int32")
    target = ops.where(keep, ops.cumsum(keep_i, axis=1) - 1, columns(values) + width)
    return place(values, target, width + size)[:, :width], ops.sum(keep_i, axis=1)


def place(values, target, width):
    """SCATTER_ND of ``values`` ``[batch, N]`` to columns ``target`` (unique per row) of a zero ``[batch, width]``.

    One flat scatter: row ``r``, column ``c`` is element ``r * width + c`` of ``[batch * width]``
    (LiteRT's SCATTER_ND of ``[batch, N, 2]`` indices took ~3x as long at batch 256).
    """
    ops = kernels()

    if tflm.active():
        return tflm.place(values, target, width)
    batch = ops.shape(values)[0]
    flat = ops.reshape(target + ops.expand_dims(ops.arange(batch, dtype="int32") * width, 1), (-1, 1))
    return ops.reshape(ops.scatter(flat, ops.reshape(values, (-1,)), (batch * width,)), (batch, width))


def shift(mask, by: int):
    """``mask`` moved ``by`` columns right (``by > 0``) or left, filled with False."""
    ops = kernels()

    pad = ops.zeros_like(mask[:, :1])
    return ops.concatenate([pad, mask[:, :-1]], axis=1) if by > 0 else ops.concatenate([mask[:, 1:], pad], axis=1)


def whitespace_tokens(data, lengths):
    """``tf.strings.split``: (joined bytes, starts, ends, counts).

    ``joined`` holds the tokens of each row separated by exactly one space (runs of whitespace
    collapsed, leading ones dropped; a trailing space may follow the last token, past every
    range), so that token ``t`` is ``joined[starts[t]:ends[t]]`` and an n-gram of tokens ``t..u``
    is ``joined[starts[t]:ends[u]]``. Two compactions: the bytes, then the tokens' first bytes.
    """
    ops = kernels()

    valid = inside(data, lengths)
    blank = ops.logical_and(valid, ops.equal(byte_class(data), BLANK))
    content = ops.logical_and(valid, ops.logical_not(blank))
    after = shift(content, 1)
    first = ops.logical_and(content, ops.logical_not(after))  # a token's first byte
    # one space after every token: the last token's lands past the row's joined length
    keep = ops.logical_or(content, ops.logical_and(blank, after))
    joined, _ = compact(ops.where(blank, SPACE, data), keep)
    target = ops.cumsum(ops.cast(keep, "int32"), axis=1) - 1  # where compact put each kept byte
    starts, counts = compact(target, first)
    joined_lengths = ops.sum(ops.cast(content, "int32"), axis=1) + ops.maximum(counts - 1, 0)
    # a token ends one byte before the next one starts, the last at the row's joined length
    following = ops.concatenate([starts[:, 1:], ops.zeros_like(starts[:, :1])], axis=1) - 1
    ends = ops.where(ops.less_equal(columns(starts) + 2, ops.expand_dims(counts, 1)), following, ops.expand_dims(joined_lengths, 1))
    return joined, starts, ends, counts


def character_tokens(data, lengths):
    """``tf.strings.unicode_split(x, "UTF-8")``: (joined bytes, starts, ends, counts), code points joined by spaces."""
    ops = kernels()

    valid = inside(data, lengths)
    continuation = ops.logical_and(ops.greater_equal(data, 0x80), ops.less_equal(data, 0xBF))
    first = ops.logical_and(valid, ops.logical_not(continuation))
    position = ops.broadcast_to(columns(data), ops.shape(data))
    starts, counts = compact(position, first)
    index = columns(starts)
    following = ops.concatenate([starts[:, 1:], ops.zeros_like(starts[:, :1])], axis=1)
    ends = ops.where(ops.less_equal(index + 2, ops.expand_dims(counts, 1)), following, ops.expand_dims(lengths, 1))
    # byte j moves right by the number of code points before its own: a space lands before each
    size = ops.shape(data)[1]
    target = ops.where(valid, position + ops.cumsum(ops.cast(first, "int32"), axis=1) - 1, position + 2 * size)
    joined = place(data - SPACE, target, 3 * size)[:, : 2 * size] + SPACE
    return joined, starts + index, ends + index, counts


def whole_tokens(data, lengths):
    """No split: the whole standardized text is one token (possibly empty)."""
    ops = kernels()

    starts = ops.zeros_like(data[:, :1])
    return data, starts, ops.expand_dims(lengths, 1), ops.sum(ops.ones_like(starts), axis=1)


def ngrams(starts, ends, counts, widths):
    """``tf.strings.ngrams(tokens, widths, separator=" ")`` as byte ranges: (starts, ends, keep, counts).

    For each width in order, window ``i`` of a row with ``n`` tokens exists when ``i <= n - width``
    and spans ``starts[i]`` to ``ends[i + width - 1]``; ``keep`` marks them, in output order.
    """
    ops = kernels()

    starts, ends = first_columns(starts, ends, counts)
    limit = ops.shape(starts)[1]
    padded = ops.pad(ends, [[0, 0], [0, max(widths)]])
    index = columns(starts)
    pieces = [
        (starts, padded[:, width - 1: width - 1 + limit], ops.less_equal(index + width, ops.expand_dims(counts, 1)))
        for width in widths
    ]
    total = sum(ops.maximum(counts - width + 1, 0) for width in widths)
    return (ops.concatenate([p[0] for p in pieces], axis=1), ops.concatenate([p[1] for p in pieces], axis=1),
            ops.concatenate([p[2] for p in pieces], axis=1), total)


def first_columns(starts, ends, counts):
    """``starts`` / ``ends`` cut to the most tokens of any row, but at least one column (no empty
    tensors); for tflite-micro (static shapes) not cut."""
    ops = kernels()

    if tflm.active():
        return starts, ends

    limit = ops.maximum(ops.max(counts), 1)
    return starts[:, :limit], ends[:, :limit]


def pack(joined, starts, ends, words: int, digits: int = 7):
    """int64 ``[batch, G, words]``: the bytes of each range as base-257 digits (byte + 1; 0 past the end), 7 per word
    (``digits=3``: int32 words, for tflite-micro, which has no int64 arithmetic; 257**3 < 2**31).

    Bytes past ``digits * words`` are not read: a longer range differs from every shorter string
    anyway, because its digit at that string's length is not 0.
    """
    ops = kernels()

    width = ops.shape(joined)[1]
    offsets = np.arange(digits * words, dtype=np.int32)
    index = ops.expand_dims(starts, -1) + offsets
    rows = ops.reshape(ops.arange(ops.shape(joined)[0], dtype="int32") * width, (-1, 1, 1))
    picked = ops.take(ops.reshape(joined, (-1,)), ops.minimum(index, width - 1) + rows)
    present = ops.less_equal(index + 1, ops.expand_dims(ends, -1))
    values = ops.cast(ops.where(present, picked + 1, 0), "int64" if digits == 7 else "int32")
    values = ops.reshape(values, (ops.shape(starts)[0], ops.shape(starts)[1], words, digits))
    packed = values[..., 0]
    for i in range(1, digits):  # Horner with elementwise MUL / ADD: onnxruntime's int64 ReduceSum rounds above 2**53
        packed = packed * 257 + values[..., i]
    return packed


def pack_numpy(tokens: list[bytes], words: int, digits: int = 7) -> np.ndarray:
    """`pack` of byte strings in NumPy: int64 ``[len(tokens), words]``."""
    values = np.zeros((len(tokens), digits * words), np.int64)
    for i, token in enumerate(tokens):
        piece = np.frombuffer(token[: digits * words], np.uint8).astype(np.int64) + 1
        values[i, : len(piece)] = piece
    weights = np.array([257 ** (digits - 1 - i) for i in range(digits)], np.int64)
    return (values.reshape(len(tokens), words, digits) * weights).sum(axis=-1)


def search(packed, keys: np.ndarray, values: np.ndarray, default: int):
    """Exact lookup of packed strings in ``keys`` (``[P, words]``, lexicographically sorted, ``P`` a power of two).

    A branch-free search counts the keys ``<= x`` in a few wide rounds (`_round_bits`: at most 6
    bits each, so 2 rounds for 1,024 keys): a round compares ``x`` with the last key of each of
    its block's up to 63 sub-blocks at once (one GATHER, constants in the first round) and moves to
    the sub-block the count names. The key before that count is then compared word by word: equal
    gives its value, anything else ``default``. No hashing, so no collision can give a wrong id.
    """
    ops = kernels()

    size = len(keys)
    bits = size.bit_length() - 1
    low = None
    for taken in _round_bits(bits):  # a few wide rounds: each compares with the last key of every sub-block
        bits -= taken
        block = 1 << bits
        offsets = np.arange(1, 1 << taken, dtype=np.int32) * block - 1
        if low is None:  # the first round's candidates are constants
            candidates = keys[offsets]
        else:
            candidates = ops.take(keys, ops.expand_dims(low, -1) + offsets, axis=0)
        ge = ops.sum(ops.cast(lexicographic_ge(ops.expand_dims(packed, -2), candidates), "int32"), axis=-1) * np.int32(block)
        low = ge if low is None else low + ge
    if low is None:
        low = ops.zeros_like(packed[..., 0], dtype="int32")
    previous = ops.maximum(low - 1, 0)
    same = ops.all(ops.equal(packed, ops.take(keys, previous, axis=0)), axis=-1)
    found = ops.logical_and(ops.greater_equal(low, 1), same)
    return ops.where(found, ops.take(values, previous), np.int64(default))


def _round_bits(bits: int, widest: int = 6) -> list[int]:
    """``bits`` split into as few rounds of at most ``widest`` bits as possible, as even as possible."""
    rounds = -(-bits // widest)
    return [bits // rounds + (i < bits % rounds) for i in range(rounds)] if rounds else []


def lexicographic_ge(x, y):
    """bool: word tuple ``x >= y`` in lexicographic order (``>=`` and ``==`` only, see the module docstring)."""
    ops = kernels()

    words = x.shape[-1]
    ge = ops.greater_equal(x[..., words - 1], y[..., words - 1])
    for k in range(words - 2, -1, -1):
        ge = ops.logical_and(ops.greater_equal(x[..., k], y[..., k]), ops.logical_or(ops.logical_not(ops.equal(x[..., k], y[..., k])), ge))
    return ge


def count_ids(ids, keep, depth: int):
    """int32 ``[batch, depth]``: how often each id in ``[0, depth)`` occurs among the kept ``ids`` of a row.

    Memory stays O(batch * (G + depth)): each row is sorted (TOPK_V2 / TopK, descending), so equal
    ids are adjacent; the first and one-past-last position of each id's run are scattered to column
    ``id`` (unique per row), and their difference is the count. (tf2onnx turns
    ``UnsortedSegmentSum`` into a dense ``[G * batch, batch * depth]`` one-hot mask.)
    """
    ops = kernels()

    counted = ops.logical_and(keep, ops.logical_and(ops.greater_equal(ids, 0), ops.less_equal(ids, depth - 1)))
    values = ops.where(counted, ops.cast(ids, "int32"), -1)
    values, _ = ops.top_k(values, ops.shape(values)[1], sorted=True)
    ahead = ops.concatenate([values[:, :1] + 1, values[:, :-1]], axis=1)
    behind = ops.concatenate([values[:, 1:], values[:, -1:] + 1], axis=1)
    position = ops.broadcast_to(columns(values), ops.shape(values))
    present = ops.greater_equal(values, 0)
    width = depth + ops.shape(values)[1]
    run_start = ops.where(ops.logical_and(present, ops.not_equal(values, ahead)), values, position + depth)
    run_end = ops.where(ops.logical_and(present, ops.not_equal(values, behind)), values, position + depth)
    return (place(position + 1, run_end, width) - place(position, run_start, width))[:, :depth]
