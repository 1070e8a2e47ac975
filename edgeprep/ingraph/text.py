"""TextVectorization on UTF-8 bytes with builtin ops only: the layer, its tables and the input contract.

Input contract: each text is its UTF-8 bytes in a uint8 row ``[batch, N]`` (N dynamic), zero
padded; a row's text ends at its last non-zero byte, so a NUL inside a text is data and a text
ending in NUL cannot be sent (`encode_texts` refuses it instead of dropping it).

The layer reproduces Keras' ``TextVectorization.call`` for the built-in options
(`edgeprep.ingraph.text_ops` holds each step and what was measured):

    standardize (steps: the built-in options and traced callables, `edgeprep.ingraph.standardize`)
    -> split (whitespace, character, None)
    -> ngrams (widths in order, joined by " ") -> exact vocabulary lookup -> output mode

The lookup packs each token's bytes into int64 words and binary-searches the vocabulary's packed
words, then compares the candidate in full (no hash). ``int`` rows are padded with 0 and cut to
``output_sequence_length``, or padded to the longest row of the batch; ``multi_hot`` / ``count`` /
``tf_idf`` count the ids per row (`text_ops.count_ids`; ids outside ``[0, depth)``, the mask
token included, are dropped as Keras drops them). Hashed OOV buckets (``num_oov_indices > 1``) and
custom split callables are not handled here (`UnsupportedText`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from edgeprep.ingraph.text_ops import pack_numpy
from edgeprep.runtime.host.text_vectorization import StepKind, steps

MASK_DROPPED = -1  # the mask token's id outside int mode: dropped by the counting


class UnsupportedText(ValueError):
    """A TextVectorization configuration this lowering does not reproduce."""


def encode_texts(texts: Iterable[str | bytes]) -> np.ndarray:
    """The input contract: texts -> uint8 ``[batch, longest]`` UTF-8 bytes, zero padded
    (`edgeprep.runtime.text.encode_utf8`, the deploy runtime's encoder).

    Raises:
        ValueError: for a text ending in NUL, which the zero padding cannot tell from padding.
    """
    from edgeprep.errors import DataError
    from edgeprep.runtime.text import encode_utf8

    try:
        return encode_utf8(list(texts) if not isinstance(texts, np.ndarray) else texts.reshape(-1))
    except DataError as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class Vocabulary:
    """The lookup table: packed keys sorted lexicographically, padded to a power of two, and their ids.

    Attributes:
        keys: int64 ``[P, words]`` (int32 with ``digits=3``).
        values: int64 ``[P]``.
        words: int64 words per key (7 bytes each, at least one byte more than the longest token).
        default: the OOV id.
        digits: bytes per word: 7 (int64), or 3 (int32 words for tflite-micro).
    """

    keys: np.ndarray
    values: np.ndarray
    words: int
    default: int
    digits: int = 7


def vocabulary(lookup: dict, digits: int = 7) -> Vocabulary:
    """The `Vocabulary` of a TextVectorization's lookup config (`edgeprep.families.index_lookup.spec`),
    ``digits`` bytes per packed word (`edgeprep.ingraph.text_ops.pack`)."""
    if lookup["num_oov_indices"] != 1:
        raise UnsupportedText(f"num_oov_indices={lookup['num_oov_indices']}: only one OOV index is lowered here")
    start = lookup["token_start"]
    tokens = [str(t).encode("utf-8") for t in lookup["vocabulary"][start:]]
    ids = list(range(start, start + len(tokens)))
    if lookup["mask_token"] is not None:  # the mask wins over a learned token equal to it, as in Keras
        mask = str(lookup["mask_token"]).encode("utf-8")
        ids = [i for i, token in zip(ids, tokens) if token != mask] + [0 if lookup["output_mode"] == "int" else MASK_DROPPED]
        tokens = [token for token in tokens if token != mask] + [mask]
    if len(set(tokens)) != len(tokens):
        raise UnsupportedText("the vocabulary holds a token twice")
    words = (max((len(t) for t in tokens), default=0) + digits) // digits
    keys = pack_numpy(tokens, words, digits)
    order = np.lexsort(keys.T[::-1]) if len(tokens) else np.zeros(0, int)
    keys, values = keys[order], np.asarray(ids, np.int64)[order]
    size = 1 << math.ceil(math.log2(len(tokens) + 1))
    filler = keys[-1:] if len(tokens) else np.zeros((1, words), np.int64)
    keys = np.concatenate([keys, np.repeat(filler, size - len(tokens), axis=0)])
    values = np.concatenate([values, np.repeat(values[-1:] if len(tokens) else [lookup["oov_start"]], size - len(tokens))])
    keys = keys.astype(np.int64 if digits == 7 else np.int32)  # 257**3 < 2**31: int32 words for tflite-micro
    return Vocabulary(keys, values.astype(np.int64), words, int(lookup["oov_start"]), digits)


def check(config: dict, text_rank: int = 2) -> None:
    """Raise `UnsupportedText` when ``config`` (`edgeprep.families.text_vectorization.spec`) has an option not lowered here.

    ``text_rank`` is the rank of the Keras layer's string input: 2 for ``(batch, 1)``, 1 for ``(batch,)``.
    """
    if text_rank not in (1, 2):
        raise UnsupportedText(f"a string input of rank {text_rank}")
    if text_rank == 1 and config["split"] is None and config["output_sequence_length"] is not None:
        raise UnsupportedText("split=None with output_sequence_length on a rank-1 input (Keras slices the batch axis)")
    standardize_steps(config)
    if config["split"] not in (None, "whitespace", "character"):
        raise UnsupportedText(f"split={config['split']!r}: a custom callable is not lowered")
    if config["output_mode"] not in ("int", "multi_hot", "count", "tf_idf"):
        raise UnsupportedText(f"output_mode={config['output_mode']!r}")
    if config["lookup"]["invert"]:
        raise UnsupportedText("an inverted lookup")
    vocabulary(config["lookup"])


def check_micro(config: dict, text_rank: int = 2) -> None:
    """`check`, and raise `UnsupportedText` for what the tflite-micro form (`edgeprep.ingraph.tflm`)
    does not reproduce: the counting modes (TOPK_V2, SCATTER_ND), a dynamic output length, and
    standardize steps that write bytes or match a repeated byte (SCATTER_ND, FLOOR_MOD)."""
    check(config, text_rank)
    if config["output_mode"] != "int":
        raise UnsupportedText(f"--micro: output_mode={config['output_mode']!r} counts ids with TOPK_V2 / SCATTER_ND, which tflite-micro lacks")
    if config["output_sequence_length"] is None and not (text_rank == 1 and config["split"] is None):
        raise UnsupportedText("--micro: output_sequence_length=None gives a dynamic length; tflite-micro runs static shapes only")
    for step in standardize_steps(config):
        if step.kind in (StepKind.CLASS, StepKind.LITERAL) and step.rewrite:
            raise UnsupportedText(f"--micro: standardize writes {step.rewrite!r} (SCATTER_ND, which tflite-micro lacks)")
        if step.kind is StepKind.LITERAL and len(set(step.pattern)) == 1 and len(step.pattern) > 1:
            raise UnsupportedText(f"--micro: standardize matches {step.pattern!r} (FLOOR_MOD on int32, which tflite-micro lacks)")


def standardize_steps(config: dict):
    """The standardize steps of ``config`` (a built-in option or traced steps; a callable is traced by `spec`)."""
    try:
        return steps(config["standardize"])
    except ValueError as error:
        raise UnsupportedText(f"standardize={config['standardize']!r}: a custom callable is traced by the family's spec(), not here") from error


def _widths(config: dict) -> tuple[int, ...] | None:
    return tuple(config["ngrams"]) if config["ngrams"] else None


@functools.cache
def _layer_class():
    import keras
    from keras import ops

    from edgeprep.families.audio.device import FLOAT_SCOPE
    from edgeprep.ingraph import text_ops as t
    from edgeprep.ingraph import text_steps, tflm

    class BytesTextVectorization(keras.layers.Layer):
        """TextVectorization from uint8 UTF-8 bytes ``[batch, N]`` (zero padded), builtin ops only;
        ``micro``: with tflite-micro's kernels (`edgeprep.ingraph.tflm`), int32 ids, static N."""

        def __init__(self, config: dict, text_rank: int = 2, micro: bool = False, **kwargs):
            super().__init__(trainable=False, **kwargs)
            (check_micro if micro else check)(config, text_rank)
            self.config = config
            self.micro = micro
            self._squeeze = text_rank == 1 and config["split"] is None and config["output_mode"] == "int"
            self._table = vocabulary(config["lookup"], 3 if micro else 7)
            self._steps = standardize_steps(config)

        def compute_output_spec(self, inputs):
            c, ids = self.config, "int32" if self.micro else "int64"
            if self._squeeze:
                return keras.KerasTensor((inputs.shape[0],), dtype=ids)
            if c["output_mode"] == "int":
                return keras.KerasTensor((inputs.shape[0], c["output_sequence_length"]), dtype=ids)
            return keras.KerasTensor((inputs.shape[0], c["lookup"]["depth"]), dtype=c["dtype"])

        def call(self, inputs):
            if not self.micro:
                return self._call(inputs)
            import tensorflow as tf

            with tflm.micro(), tf.name_scope(FLOAT_SCOPE):  # its float32 copies stay float32 in int8 artifacts
                return self._call(inputs)

        def _call(self, inputs):
            ops = tflm.kernels()
            c, table = self.config, self._table
            data, lengths = t.prepare(inputs)
            data, lengths = text_steps.standardize(data, lengths, self._steps)
            split = {"whitespace": t.whitespace_tokens, "character": t.character_tokens, None: t.whole_tokens}[c["split"]]
            joined, starts, ends, counts = split(data, lengths)
            widths = _widths(c)
            if widths:
                starts, ends, keep, counts = t.ngrams(starts, ends, counts, widths)
            else:
                starts, ends = t.first_columns(starts, ends, counts)
                keep = ops.less_equal(t.columns(starts) + 1, ops.expand_dims(counts, 1))
            ids = t.search(t.pack(joined, starts, ends, table.words, table.digits), table.keys, table.values, table.default)
            if c["output_mode"] == "int":
                return self._sequence(ids, keep, counts, widths)
            return self._counts(ids, keep)

        def _sequence(self, ids, keep, counts, widths):
            ops = tflm.kernels()
            ids = ops.where(keep, ids, np.int64(0))
            if widths:
                ids, _ = t.compact(ids, keep)
            length = self.config["output_sequence_length"]
            if self._squeeze:
                return ids[:, 0]
            if length is None:
                return ids[:, : ops.max(counts)]
            # The reshape states the static length (as Keras' layer does): a slice of a dynamic width
            # leaves it unknown, and a GRU unrolled over the declared steps cannot trace on that.
            return ops.reshape(ops.pad(ids, [[0, 0], [0, length]])[:, :length], (-1, length))

        def _counts(self, ids, keep):
            lookup = self.config["lookup"]
            totals = t.count_ids(ids, keep, lookup["depth"])
            mode = self.config["output_mode"]
            if mode == "multi_hot":
                totals = ops.minimum(totals, 1)
            if mode == "tf_idf":
                return ops.cast(totals, "float32") * np.asarray(lookup["idf_weights"], np.float32)
            return ops.cast(totals, self.config["dtype"])

    return BytesTextVectorization


def text_vectorization(config: dict, text_rank: int = 2, name: str | None = None, micro: bool = False):
    """The byte-input TextVectorization layer for ``config`` (`edgeprep.families.text_vectorization.spec`).

    ``text_rank`` is the rank of the original string input (the output of ``split=None`` follows it);
    ``micro``: the tflite-micro form (`check_micro`).

    Raises:
        UnsupportedText: for an option it does not reproduce (see `check`).
    """
    return _layer_class()(config, text_rank=text_rank, micro=micro, name=name)
