"""TextVectorization on the host, in pure Python/NumPy, matching TensorFlow's string ops byte for byte.

- ``lower``: ``tf.strings.lower`` without an encoding lowercases ASCII ``A-Z`` only (``É`` stays);
- ``strip_punctuation``: TensorFlow's RE2 ``regex_replace`` of Keras' ASCII punctuation class;
- ``whitespace`` split: ``tf.strings.split`` splits on runs of ASCII whitespace
  ``[ \\t\\n\\v\\f\\r]`` and drops empty pieces (``\\u00a0``, ``\\u3000``, ``\\x1c``.. are not whitespace
  to TensorFlow, though they are to Python's ``str.split``);
- ``character`` split: ``tf.strings.unicode_split(s, "UTF-8")``, one piece per code point;
- ``ngrams``: ``tf.strings.ngrams(tokens, widths, separator=" ")``: for each width in order, every
  window of that many consecutive tokens joined by a space (a row shorter than the width has none);
- then the vocabulary lookup and encoding of `index_lookup`; in ``int`` mode the rows are
  padded with 0 (and cut) to ``output_sequence_length``, or to the longest row of the batch.
"""

from __future__ import annotations

import re

import numpy as np

from .index_lookup import index_lookup, index_lookup_rows

PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
ASCII_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def standardize(text: str, mode: str | None) -> str:
    """One string through Keras' ``standardize`` option."""
    if mode in ("lower", "lower_and_strip_punctuation"):
        text = text.translate(_ASCII_LOWER)
    if mode in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = PUNCTUATION.sub("", text)
    return text


def split(text: str, mode: str) -> list[str]:
    """One string through Keras' ``split`` option."""
    if mode == "whitespace":
        return [piece for piece in ASCII_WHITESPACE.split(text) if piece]
    if mode == "character":
        return list(text)
    raise ValueError(f"unknown split {mode!r}")


def ngrams(tokens: list[str], widths: list[int]) -> list[str]:
    """``tf.strings.ngrams`` of one row."""
    out = []
    for width in widths:
        out.extend(" ".join(tokens[i:i + width]) for i in range(len(tokens) - width + 1))
    return out


def text_vectorization(values: np.ndarray, config: dict) -> np.ndarray:
    """The whole layer on a batch of strings (shape ``(N,)`` or ``(N, 1)``)."""
    strings = np.asarray(values).astype(str)
    mode = config["output_mode"]
    length = config.get("output_sequence_length")
    standardized = np.vectorize(lambda s: standardize(s, config.get("standardize")), otypes=[object])(strings).astype(str) if strings.size else strings
    if config.get("split") is None:
        found = index_lookup(standardized, config["lookup"])
        if mode != "int" or length is None:
            return found
        found = found[..., :length]
        pad = [(0, 0)] * (found.ndim - 1) + [(0, length - found.shape[-1])]
        return np.pad(found, pad)
    if strings.ndim > 1:
        standardized = standardized[..., 0]
    rows = [split(text, config["split"]) for text in standardized.reshape(-1).tolist()]
    if config.get("ngrams"):
        rows = [ngrams(row, config["ngrams"]) for row in rows]
    found = index_lookup_rows([np.asarray(row, dtype=str) for row in rows], config["lookup"])
    if mode != "int":
        return found
    width = length if length is not None else max((len(row) for row in found), default=0)
    out = np.zeros((len(found), width), dtype=np.int64)
    for i, row in enumerate(found):
        row = row[:width]
        out[i, : len(row)] = row
    return out


def run(values: list[np.ndarray], config: dict) -> np.ndarray:
    """The host step: ``text_vectorization`` of its one input."""
    return text_vectorization(values[0], config)
