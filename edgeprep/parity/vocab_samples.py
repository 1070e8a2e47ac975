"""Vocabulary-aware parity inputs for lookup, hashing, bucketing and text layers.

Random floats say nothing about a StringLookup: its interesting inputs are its vocabulary, values
just outside it, the mask and OOV tokens and the empty string. For every input read (directly or
through look-through layers) by such a layer, this module collects what that layer finds
interesting and draws from it:

- StringLookup / IntegerLookup: vocabulary tokens, out-of-vocabulary values, the mask token,
  case variants, unicode, ``""``, negatives (none out of vocabulary when ``num_oov_indices=0``,
  where Keras raises);
- TextVectorization: sentences of vocabulary words in mixed case with punctuation, unicode
  words, tabs/newlines/non-breaking spaces, and empty strings;
- Discretization: every bin boundary exactly, the floats just below and above it, negatives;
- CategoryEncoding: every index in ``[0, num_tokens)``; Hashing / HashedCrossing: mixed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OOV_STRINGS = ("", "zzz-not-in-vocab", "Ünïcödé", "日本語", "MiXeD CaSe", " ", "a\u00a0b", "emoji🙂")
OOV_INTS = (-1, 0, -987654321, 2**40 + 3, 999999)
TEXT_EXTRAS = ("Ünïcödé", "ÉCOLE", "日本語", "naïve", "it's", "e-mail", "x,y", "(a)", "end.", "DON'T", "🙂")
SEPARATORS = (" ", " ", " ", "  ", "\t", "\n", " \u00a0", ", ", ". ", "! ", " - ")


@dataclass(frozen=True)
class VocabularyHint:
    """What the layers reading one input find interesting."""

    strings: tuple[str, ...] = ()
    ints: tuple[int, ...] = ()
    floats: tuple[float, ...] = ()
    text_words: tuple[str, ...] = ()
    oov: bool = True
    sources: tuple[str, ...] = field(default=())

    def merge(self, other: "VocabularyHint") -> "VocabularyHint":
        return VocabularyHint(
            self.strings + other.strings, self.ints + other.ints, self.floats + other.floats, self.text_words + other.text_words,
            self.oov and other.oov, self.sources + other.sources,
        )

    @property
    def reason(self) -> str:
        return "vocabulary of " + ", ".join(self.sources) if self.sources else "generic strings"


def hint_from_layer(layer) -> VocabularyHint | None:
    """The interesting values of one layer, or None if it is not a vocabulary-like layer."""
    kind = type(layer).__name__
    if kind in ("StringLookup", "IntegerLookup") and not layer.invert:
        vocab = [v for v in layer.get_vocabulary(include_special_tokens=False)]
        specials = [t for t in (layer.mask_token,) if t is not None]
        oov = layer.num_oov_indices > 0
        if kind == "StringLookup":
            vocab = [v.decode() if isinstance(v, bytes) else str(v) for v in vocab]
            return VocabularyHint(strings=tuple(vocab + [str(t) for t in specials]), oov=oov, sources=(layer.name,))
        return VocabularyHint(ints=tuple(int(v) for v in vocab + specials), oov=oov, sources=(layer.name,))
    if kind == "TextVectorization":
        words = [w for w in layer.get_vocabulary(include_special_tokens=False) if isinstance(w, str)]
        return VocabularyHint(text_words=tuple(words[:500]), sources=(layer.name,))
    if kind == "Discretization" and layer.bin_boundaries:
        edges = np.asarray(layer.bin_boundaries, np.float32)
        near = np.concatenate([edges, np.nextafter(edges, np.float32(-np.inf)), np.nextafter(edges, np.float32(np.inf))])
        # Runtimes may flush denormals to zero (a documented limit): use the smallest normal instead.
        tiny = np.finfo(np.float32).tiny
        near = np.where((near != 0) & (np.abs(near) < tiny), np.sign(near) * tiny, near)
        return VocabularyHint(floats=tuple(float(v) for v in near), sources=(layer.name,))
    if kind == "CategoryEncoding":
        return VocabularyHint(ints=tuple(range(int(layer.num_tokens))), oov=False, sources=(layer.name,))
    if kind in ("Hashing", "HashedCrossing"):
        return VocabularyHint(ints=(0, 1, 7, -3, 42), strings=("a", "b", "hash me"), sources=(layer.name,))
    return None


def draw_vocabulary(dtype: np.dtype | str, hint: VocabularyHint, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw ``shape`` values of ``dtype`` from ``hint``: mostly in-vocabulary, some edge cases."""
    dtype_name = str(dtype)
    size = int(np.prod(shape)) if shape else 1
    if dtype_name in ("string", "str", "object") or np.dtype(dtype_name if dtype_name != "string" else object).kind in "USO":
        if hint.text_words:
            values = [_sentence(hint.text_words, rng) for _ in range(size)]
        else:
            values = _pick(list(hint.strings) or ["a", "b"], list(OOV_STRINGS) + [s.upper() for s in hint.strings[:5]] if hint.oov else [], size, rng)
        return np.asarray(values, dtype=str).reshape(shape)
    kind = np.dtype(dtype_name).kind
    if kind in "iu":
        extras = list(OOV_INTS) if hint.oov else []
        values = _pick([int(v) for v in hint.ints] or [0, 1, 2], extras, size, rng)
        info = np.iinfo(np.dtype(dtype_name))
        return np.clip(np.asarray(values, dtype=np.int64), info.min, info.max).astype(dtype_name).reshape(shape)
    floats = list(hint.floats) or [0.0]
    spread = max(1.0, float(np.ptp(floats))) if floats else 1.0
    extras = [min(floats) - 10 * spread, max(floats) + 10 * spread, -abs(spread), 0.0]
    values = [float(v) if rng.random() < 0.7 else float(rng.uniform(min(floats) - spread, max(floats) + spread)) for v in _pick(floats, extras, size, rng)]
    return np.asarray(values, dtype=dtype_name).reshape(shape)


def _pick(common: list, extras: list, size: int, rng: np.random.Generator) -> list:
    """``size`` values: every extra at least once when there is room, the rest from ``common``."""
    out = [common[int(i)] for i in rng.integers(0, len(common), size)]
    if extras:
        positions = rng.permutation(size)[: min(size, max(1, size // 3))]
        for n, position in enumerate(positions):
            out[int(position)] = extras[n % len(extras)] if n < len(extras) else extras[int(rng.integers(0, len(extras)))]
    return out


def _sentence(words: tuple[str, ...], rng: np.random.Generator) -> str:
    n = int(rng.integers(0, 14))
    if n == 0:
        return "" if rng.random() < 0.5 else "   "
    parts = []
    for _ in range(n):
        word = words[int(rng.integers(0, len(words)))] if rng.random() < 0.8 else TEXT_EXTRAS[int(rng.integers(0, len(TEXT_EXTRAS)))]
        if rng.random() < 0.2:
            word = word.upper()
        elif rng.random() < 0.2:
            word = word.capitalize()
        parts.append(word)
        parts.append(SEPARATORS[int(rng.integers(0, len(SEPARATORS)))])
    return "".join(parts[:-1]) + ("?" if rng.random() < 0.3 else "")


def vocabulary_hint(graph, tensor, look_through: set[str]) -> VocabularyHint | None:
    """The merged hint of every vocabulary-like layer reading ``tensor`` (through look-through layers)."""
    found: VocabularyHint | None = None
    frontier, seen = [tensor], 0
    while frontier and seen < 64:
        seen += 1
        for call in graph.consumers(frontier.pop()):
            hint = hint_from_layer(call.layer)
            if hint is not None:
                found = hint if found is None else found.merge(hint)
            elif call.class_name in look_through:
                frontier.append(call.outputs[0])
    return found
