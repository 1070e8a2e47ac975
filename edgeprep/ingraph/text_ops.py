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

from edgeprep.runtime.host.text_vectorization import PUNCTUATION_BYTES as PUNCTUATION
from edgeprep.runtime.host.text_vectorization import WHITESPACE_BYTES as WHITESPACE
from edgeprep.runtime.host.text_vectorization import StepKind
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
    from keras import ops

    data = ops.pad(ops.cast(data, "int32"), [[0, 0], [0, 1]])
    nonzero = ops.cast(ops.not_equal(data, 0), "int32") * (ops.arange(ops.shape(data)[1], dtype="int32") + 1)
    return data, ops.max(nonzero, axis=1)


def columns(data):
    """int32 column index ``[1, N]`` of ``data``."""
    from keras import ops

    return ops.expand_dims(ops.arange(ops.shape(data)[1], dtype="int32"), 0)


def inside(data, lengths):
    """bool ``[batch, N]``: the byte is before its row's length."""
    from keras import ops

    return ops.less_equal(columns(data) + 1, ops.expand_dims(lengths, 1))


def lower_ascii(data):
    """``tf.strings.lower``: ``A-Z`` + 32, every other byte unchanged."""
    from keras import ops

    upper = ops.logical_and(ops.greater_equal(data, ord("A")), ops.less_equal(data, ord("Z")))
    return ops.where(upper, data + 32, data)


def byte_class(data):
    """int32 `CONTENT` / `BLANK` / `PUNCT` of every byte (one GATHER)."""
    from keras import ops

    return ops.take(BYTE_CLASS, data)


def compact(values, keep, width=None):
    """The kept values of each row moved to its front, in order: (values ``[batch, width]``, counts ``[batch]``).

    ``width`` defaults to the input's. A kept value lands at ``cumsum(keep) - 1``; a dropped one at
    its own column past ``width`` (so no two updates share an index), which is then cut off.
    """
    from keras import ops

    size = ops.shape(values)[1]
    width = size if width is None else width
    keep_i = ops.cast(keep, "int32")
    target = ops.where(keep, ops.cumsum(keep_i, axis=1) - 1, columns(values) + width)
    return place(values, target, width + size)[:, :width], ops.sum(keep_i, axis=1)


def place(values, target, width):
    """SCATTER_ND of ``values`` ``[batch, N]`` to columns ``target`` (unique per row) of a zero ``[batch, width]``."""
    from keras import ops

    batch = ops.shape(values)[0]
    rows = ops.broadcast_to(ops.expand_dims(ops.arange(batch, dtype="int32"), 1), ops.shape(target))
    return ops.scatter(ops.stack([rows, target], axis=-1), values, (batch, width))


def shift(mask, by: int):
    """``mask`` moved ``by`` columns right (``by > 0``) or left, filled with False."""
    from keras import ops

    pad = ops.zeros_like(mask[:, :1])
    return ops.concatenate([pad, mask[:, :-1]], axis=1) if by > 0 else ops.concatenate([mask[:, 1:], pad], axis=1)


def standardize(data, lengths, steps):
    """The standardize `Step` s (`edgeprep.runtime.host.text_vectorization`) in order: (bytes, lengths)."""
    for step in steps:
        if step.kind is StepKind.LOWER:
            data = lower_ascii(data)
        elif step.kind is StepKind.STRIP:
            data, lengths = strip_blanks(data, lengths)
        else:
            data, lengths = replace(data, lengths, step)
    return data, lengths


def strip_blanks(data, lengths):
    """``tf.strings.strip``: the `WHITESPACE` bytes before the first and after the last other byte removed."""
    from keras import ops

    valid = inside(data, lengths)
    content = ops.cast(ops.logical_and(valid, ops.not_equal(byte_class(data), BLANK)), "int32")
    seen = ops.cumsum(content, axis=1)
    keep = ops.logical_and(ops.greater_equal(seen, 1), ops.greater_equal(ops.sum(content, axis=1, keepdims=True) - seen + content, 1))
    return compact(data, keep)


def replace(data, lengths, step):
    """``tf.strings.regex_replace`` of a LITERAL or CLASS `Step`: (bytes, lengths).

    RE2 replaces the leftmost match, then searches on after its end (measured in
    tests/ingraph/test_standardize.py): a class matches single bytes (ASCII members only) or, with
    ``runs``, maximal runs of them; a literal's matches cannot overlap, which only matters for a
    pattern with a border (``"aa"``, ``"abab"``), resolved by `leftmost_matches`. Each match's
    bytes are dropped and the rewrite written at its start (`emit`).
    """
    from keras import ops

    valid = inside(data, lengths)
    if step.kind is StepKind.CLASS:
        table = np.zeros(256, bool)
        table[list(step.pattern)] = True
        covered = ops.logical_and(valid, ops.take(table, data))
        start = ops.logical_and(covered, ops.logical_not(shift(covered, 1))) if step.runs else covered
    else:
        start, ahead, present = valid, data, valid
        for k, byte in enumerate(step.pattern):
            if k:
                ahead, present = shift(ahead, -1), shift(present, -1)
            start = ops.logical_and(start, ops.logical_and(present, ops.equal(ahead, byte)))
        if len(set(step.pattern)) == 1 and len(step.pattern) > 1:
            start = repeated_byte_matches(start, ops.logical_and(valid, ops.equal(data, step.pattern[0])), len(step.pattern))
        elif has_border(step.pattern):
            start = leftmost_matches(start, len(step.pattern))
    if step.first_only:
        first = ops.cumsum(ops.cast(start, "int32"), axis=1)
        start = ops.logical_and(start, ops.equal(first, 1))
        if step.kind is StepKind.CLASS:
            covered = ops.logical_and(covered, ops.equal(first, 1))
    if step.kind is StepKind.LITERAL:
        covered = spread(start, len(step.pattern))
    return emit(data, valid, start, covered, step.rewrite)
def has_border(pattern: bytes) -> bool:
    """True when two matches of ``pattern`` can overlap (a proper prefix equals a suffix)."""
    return any(pattern[:k] == pattern[-k:] for k in range(1, len(pattern)))


def spread(start, width: int):
    """bool: the byte lies in one of the ranges ``[start, start + width)`` (starts at least ``width`` apart)."""
    from keras import ops

    inclusive = ops.cumsum(ops.cast(start, "int32"), axis=1)
    before = inclusive
    for _ in range(width):
        before = shift(before, 1)
    return ops.greater_equal(inclusive - before, 1)


def emit(data, valid, start, covered, rewrite: bytes):
    """Bytes with every match replaced: a ``start`` byte writes ``rewrite``, another ``covered`` one nothing.

    Each byte emits 0, 1 or ``len(rewrite)`` bytes at the running total of what the bytes before
    it emitted (one SCATTER_ND, unique indices; unused slots go past the cut, as in `compact`).
    The result keeps one zero column past the longest row, as `prepare` does.
    """
    from keras import ops

    kept = ops.logical_and(valid, ops.logical_not(covered))
    if not rewrite:
        out, lengths = compact(data, kept)
        return out[:, : ops.max(lengths) + 1], lengths
    size, slots = ops.shape(data)[1], len(rewrite)
    count = ops.where(start, slots, ops.cast(kept, "int32"))
    offset = ops.cumsum(count, axis=1) - count
    values, targets = [], []
    for k in range(slots):
        values.append(ops.where(start, rewrite[k], data))
        dump = (columns(data) * slots + k) + size * slots
        targets.append(ops.where(ops.less_equal(k + 1, count), offset + k, dump))
    flat = (ops.shape(data)[0], size * slots)
    values = ops.reshape(ops.stack(values, axis=-1), flat)
    lengths = ops.sum(count, axis=1)
    out = place(values, ops.reshape(ops.stack(targets, axis=-1), flat), 2 * size * slots)
    return out[:, : ops.max(lengths) + 1], lengths


def row_gather(table, index):
    """``table[row, index[row, j]]`` for int32 ``index`` ``[batch, M]`` into ``table`` ``[batch, W]`` (one flat GATHER)."""
    from keras import ops

    width = ops.shape(table)[1]
    rows = ops.expand_dims(ops.arange(ops.shape(table)[0], dtype="int32") * width, 1)
    return ops.take(ops.reshape(table, (-1,)), index + rows)


def repeated_byte_matches(match, byte, width: int):
    """RE2's matches of a pattern of one byte repeated ``width`` times (``"  "``, ``".."``): in each run of
    that ``byte``, the candidates at offsets 0, width, 2 * width, ... from the run's start."""
    from keras import ops

    first = ops.logical_and(byte, ops.logical_not(shift(byte, 1)))
    position = ops.broadcast_to(columns(match), ops.shape(match))
    starts, _ = compact(position, first)
    run = ops.maximum(ops.cumsum(ops.cast(first, "int32"), axis=1) - 1, 0)
    offset = position - row_gather(starts, run)
    return ops.logical_and(match, ops.equal(ops.mod(offset, width), 0))


LIFT_LEVELS = 24  # binary lifting reaches 2**24 - 1 matches per text: any text up to 16 MiB


def leftmost_matches(match, width: int):
    """RE2's non-overlapping matches among the candidate starts ``match`` of a ``width``-byte literal.

    The kept starts are ``t0 = next(0)``, ``t(k+1) = next(t(k) + width)``, where ``next(i)`` is the
    first candidate at or after ``i`` (a past-the-end sentinel when none). Jump tables
    ``J(k) = F^(2**k)`` (F the step above) are built by doubling, then every position lifts
    ``t0`` to the last kept start before it in `LIFT_LEVELS` gathers: a candidate is kept when
    the next kept start at or after it is itself.
    """
    from keras import ops

    size = ops.shape(match)[1]
    sentinel = ops.zeros_like(match[:, :1])
    match = ops.concatenate([match, sentinel], axis=1)  # column ``size`` is the sentinel
    position = ops.broadcast_to(columns(match), ops.shape(match))
    starts, counts = compact(position, match)
    starts = ops.where(ops.less_equal(columns(starts) + 1, ops.expand_dims(counts, 1)), starts, size)
    before = ops.cumsum(ops.cast(match, "int32"), axis=1) - ops.cast(match, "int32")
    step = row_gather(starts, row_gather(before, ops.minimum(position + width, size)))  # F(i) = next(i + width)
    jumps = [step]
    for _ in range(LIFT_LEVELS - 1):
        jumps.append(row_gather(jumps[-1], jumps[-1]))
    current = ops.broadcast_to(starts[:, :1], ops.shape(match))
    for jump in reversed(jumps):
        candidate = row_gather(jump, current)
        current = ops.where(ops.less_equal(candidate + 1, position), candidate, current)
    kept = ops.where(ops.less_equal(current + 1, position), row_gather(step, current), current)
    return ops.logical_and(match, ops.equal(kept, position))[:, :size]


def whitespace_tokens(data, lengths):
    """``tf.strings.split``: (joined bytes, starts, ends, counts).

    ``joined`` holds the tokens of each row separated by exactly one space (runs of whitespace
    collapsed, leading and trailing ones dropped), so that token ``t`` is ``joined[starts[t]:ends[t]]``
    and an n-gram of tokens ``t..u`` is ``joined[starts[t]:ends[u]]``.
    """
    from keras import ops

    valid = inside(data, lengths)
    blank = ops.logical_and(valid, ops.equal(byte_class(data), BLANK))
    content = ops.logical_and(valid, ops.logical_not(blank))
    count = ops.cast(content, "int32")
    later = ops.greater_equal(ops.sum(count, axis=1, keepdims=True) - ops.cumsum(count, axis=1), 1)
    separator = ops.logical_and(ops.logical_and(blank, shift(content, 1)), later)
    joined, joined_lengths = compact(ops.where(blank, SPACE, data), ops.logical_or(content, separator))
    word = ops.logical_and(inside(joined, joined_lengths), ops.not_equal(joined, SPACE))
    first = ops.logical_and(word, ops.logical_not(shift(word, 1)))
    last = ops.logical_and(word, ops.logical_not(shift(word, -1)))
    position = ops.broadcast_to(columns(joined), ops.shape(joined))
    starts, counts = compact(position, first)
    ends, _ = compact(position + 1, last)
    return joined, starts, ends, counts


def character_tokens(data, lengths):
    """``tf.strings.unicode_split(x, "UTF-8")``: (joined bytes, starts, ends, counts), code points joined by spaces."""
    from keras import ops

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
    from keras import ops

    starts = ops.zeros_like(data[:, :1])
    return data, starts, ops.expand_dims(lengths, 1), ops.sum(ops.ones_like(starts), axis=1)


def ngrams(starts, ends, counts, widths):
    """``tf.strings.ngrams(tokens, widths, separator=" ")`` as byte ranges: (starts, ends, keep, counts).

    For each width in order, window ``i`` of a row with ``n`` tokens exists when ``i <= n - width``
    and spans ``starts[i]`` to ``ends[i + width - 1]``; ``keep`` marks them, in output order.
    """
    from keras import ops

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
    """``starts`` / ``ends`` cut to the most tokens of any row, but at least one column (no empty tensors)."""
    from keras import ops

    limit = ops.maximum(ops.max(counts), 1)
    return starts[:, :limit], ends[:, :limit]


def pack(joined, starts, ends, words: int):
    """int64 ``[batch, G, words]``: the bytes of each range as base-257 digits (byte + 1; 0 past the end), 7 per word.

    Bytes past ``7 * words`` are not read: a longer range differs from every shorter string
    anyway, because its digit at that string's length is not 0.
    """
    from keras import ops

    width = ops.shape(joined)[1]
    offsets = np.arange(7 * words, dtype=np.int32)
    index = ops.expand_dims(starts, -1) + offsets
    rows = ops.reshape(ops.arange(ops.shape(joined)[0], dtype="int32") * width, (-1, 1, 1))
    picked = ops.take(ops.reshape(joined, (-1,)), ops.minimum(index, width - 1) + rows)
    present = ops.less_equal(index + 1, ops.expand_dims(ends, -1))
    digits = ops.cast(ops.where(present, picked + 1, 0), "int64")
    digits = ops.reshape(digits, (ops.shape(starts)[0], ops.shape(starts)[1], words, 7))
    packed = digits[..., 0]
    for i in range(1, 7):  # Horner with elementwise MUL / ADD: onnxruntime's int64 ReduceSum rounds above 2**53
        packed = packed * np.int64(257) + digits[..., i]
    return packed


DIGIT_WEIGHTS = np.array([257 ** (6 - i) for i in range(7)], np.int64)


def pack_numpy(tokens: list[bytes], words: int) -> np.ndarray:
    """`pack` of byte strings in NumPy: int64 ``[len(tokens), words]``."""
    digits = np.zeros((len(tokens), 7 * words), np.int64)
    for i, token in enumerate(tokens):
        piece = np.frombuffer(token[: 7 * words], np.uint8).astype(np.int64) + 1
        digits[i, : len(piece)] = piece
    return (digits.reshape(len(tokens), words, 7) * DIGIT_WEIGHTS).sum(axis=-1)


def search(packed, keys: np.ndarray, values: np.ndarray, default: int):
    """Exact lookup of packed strings in ``keys`` (``[P, words]``, lexicographically sorted, ``P`` a power of two).

    A branch-free binary search counts the keys ``<= x`` (``log2 P`` rounds of GATHER and
    comparisons), then the key before that count is compared word by word: equal gives its value,
    anything else ``default``. No hashing, so no collision can give a wrong id.
    """
    from keras import ops

    size = len(keys)
    low = ops.zeros_like(packed[..., 0], dtype="int32")
    step = size // 2
    while step >= 1:
        candidate = low + step
        low = ops.where(lexicographic_ge(packed, ops.take(keys, candidate - 1, axis=0)), candidate, low)
        step //= 2
    previous = ops.maximum(low - 1, 0)
    same = ops.all(ops.equal(packed, ops.take(keys, previous, axis=0)), axis=-1)
    found = ops.logical_and(ops.greater_equal(low, 1), same)
    return ops.where(found, ops.take(values, previous), np.int64(default))


def lexicographic_ge(x, y):
    """bool: word tuple ``x >= y`` in lexicographic order (``>=`` and ``==`` only, see the module docstring)."""
    from keras import ops

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
    from keras import ops

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
