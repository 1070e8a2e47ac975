"""TextVectorization on the host, in pure Python/NumPy, matching TensorFlow's string ops byte for byte.

- standardize: a tuple of byte-level `Step`s (`steps`): the built-in options and traced custom
  callables (`edgeprep.ingraph.standardize`) alike; ``preprocess.json`` holds them as `Step.to_json`
  dicts, or the built-in option's name;
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

import enum
import functools
import re
from dataclasses import dataclass

import numpy as np

from .index_lookup import index_lookup, index_lookup_rows

PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
ASCII_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
PUNCTUATION_BYTES = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"  # Keras' strip regex: the 32 ASCII punctuation bytes
WHITESPACE_BYTES = b" \t\n\v\f\r"  # what tf.strings.split splits on and tf.strings.strip strips (absl's ASCII space)
_ASCII_LOWER = bytes(c + 32 if ord("A") <= c <= ord("Z") else c for c in range(256))


class StepKind(enum.Enum):
    """One byte-level standardize operation; the value is ``op`` in ``preprocess.json``."""

    LOWER = "lower"  # tf.strings.lower(x): A-Z + 32
    STRIP = "strip"  # tf.strings.strip(x): leading and trailing WHITESPACE_BYTES removed
    LITERAL = "literal"  # regex_replace(x, <literal>, rewrite): leftmost non-overlapping matches
    CLASS = "class"  # regex_replace(x, "[<ASCII bytes>]" or "[...]+", rewrite)


@dataclass(frozen=True)
class Step:
    """One standardize step on UTF-8 bytes.

    Attributes:
        kind: the operation.
        pattern: LITERAL: the bytes replaced (not empty); CLASS: the member bytes (ASCII, sorted, unique).
        rewrite: the bytes written for each match.
        runs: CLASS only: a match is a maximal run of members (``[...]+``) instead of one byte.
        first_only: only the first match is replaced (``replace_global=False``).
    """

    kind: StepKind
    pattern: bytes = b""
    rewrite: bytes = b""
    runs: bool = False
    first_only: bool = False

    def __post_init__(self):
        if self.kind is StepKind.LITERAL and not self.pattern:
            raise ValueError("a literal standardize step needs a pattern")
        if self.kind is StepKind.CLASS and (not self.pattern or max(self.pattern) >= 0x80 or sorted(set(self.pattern)) != list(self.pattern)):
            raise ValueError(f"class members {self.pattern!r}: expected sorted, unique ASCII bytes")

    def to_json(self) -> dict:
        """The JSON form (strings only here: the bytes are UTF-8 text)."""
        out: dict = {"op": self.kind.value}
        if self.kind in (StepKind.LITERAL, StepKind.CLASS):
            out.update(pattern=self.pattern.decode("utf-8"), rewrite=self.rewrite.decode("utf-8"), first_only=self.first_only)
        if self.kind is StepKind.CLASS:
            out["runs"] = self.runs
        return out

    @classmethod
    def from_json(cls, value: dict) -> Step:
        return cls(StepKind(value["op"]), value.get("pattern", "").encode("utf-8"), value.get("rewrite", "").encode("utf-8"),
                   bool(value.get("runs", False)), bool(value.get("first_only", False)))

    def regex(self) -> str:
        """The RE2 pattern that TensorFlow's ``regex_replace`` runs for this step (LITERAL and CLASS)."""
        text = "".join(map(_re2_char, self.pattern.decode("utf-8")))
        return text if self.kind is StepKind.LITERAL else f"[{text}]" + ("+" if self.runs else "")

    def apply(self, text: bytes) -> bytes:
        """This step on one UTF-8 byte string."""
        if self.kind is StepKind.LOWER:
            return text.translate(_ASCII_LOWER)
        if self.kind is StepKind.STRIP:
            return text.strip(WHITESPACE_BYTES)
        count = 1 if self.first_only else 0
        if self.kind is StepKind.LITERAL:
            return text.replace(self.pattern, self.rewrite, count or -1)
        return _byte_regex(self.pattern, self.runs).sub(lambda _: self.rewrite, text, count=count)


def _re2_char(c: str) -> str:
    if c.isalnum() or not c.isascii():
        return c
    return "\\" + c if c.isprintable() and c != " " else f"\\x{ord(c):02x}"


@functools.cache
def _byte_regex(members: bytes, runs: bool) -> re.Pattern:
    return re.compile(b"[" + re.escape(members) + b"]" + (b"+" if runs else b""))


LOWER = Step(StepKind.LOWER)
STRIP_PUNCTUATION = Step(StepKind.CLASS, bytes(sorted(PUNCTUATION_BYTES)))
BUILT_IN = {None: (), "lower": (LOWER,), "strip_punctuation": (STRIP_PUNCTUATION,), "lower_and_strip_punctuation": (LOWER, STRIP_PUNCTUATION)}


def steps(standardize) -> tuple[Step, ...]:
    """The steps of a config's ``standardize``: a built-in option's name (or None), or a list of `Step.to_json` dicts."""
    if isinstance(standardize, (list, tuple)):
        return tuple(s if isinstance(s, Step) else Step.from_json(s) for s in standardize)
    if standardize not in BUILT_IN:
        raise ValueError(f"standardize={standardize!r}: expected a built-in option or a list of steps")
    return BUILT_IN[standardize]


def standardize(text: str, mode) -> str:
    """One string through Keras' ``standardize`` (a built-in option or a list of steps, see `steps`)."""
    data = text.encode("utf-8")
    for step in steps(mode):
        data = step.apply(data)
    return data.decode("utf-8")


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
    rules = steps(config.get("standardize"))
    standardized = np.vectorize(lambda s: standardize(s, rules), otypes=[object])(strings).astype(str) if strings.size else strings
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
