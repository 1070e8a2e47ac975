"""TextVectorization's standardize steps on UTF-8 bytes, in ``keras.ops`` both converters keep as builtins.

Each `edgeprep.runtime.host.text_vectorization.Step` (a built-in option's or a traced callable's,
`edgeprep.ingraph.standardize`) on int32 bytes ``[batch, N]`` plus lengths, built from the helpers
of `edgeprep.ingraph.text_ops` (`compact`, `place`, `shift`, `byte_class`, `lower_ascii`). The
NumPy host runs the same steps (`Step.apply`); tests/ingraph/test_standardize.py holds both to
TensorFlow's RE2.
"""

from __future__ import annotations

import numpy as np

from edgeprep.ingraph import tflm
from edgeprep.ingraph.tflm import kernels
from edgeprep.ingraph.text_ops import BLANK, byte_class, columns, compact, inside, lower_ascii, place, shift
from edgeprep.runtime.host.text_vectorization import StepKind


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
    ops = kernels()

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
    ops = kernels()

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
    ops = kernels()

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
    ops = kernels()

    kept = ops.logical_and(valid, ops.logical_not(covered))
    if not rewrite:
        out, lengths = compact(data, kept)
        return (out if tflm.active() else out[:, : ops.max(lengths) + 1]), lengths
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
    ops = kernels()

    width = ops.shape(table)[1]
    rows = ops.expand_dims(ops.arange(ops.shape(table)[0], dtype="int32") * width, 1)
    return ops.take(ops.reshape(table, (-1,)), index + rows)


def repeated_byte_matches(match, byte, width: int):
    """RE2's matches of a pattern of one byte repeated ``width`` times (``"  "``, ``".."``): in each run of
    that ``byte``, the candidates at offsets 0, width, 2 * width, ... from the run's start."""
    ops = kernels()

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
    ops = kernels()

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
