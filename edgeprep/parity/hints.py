"""What parity samples should hit: the hint types layer families return (`edgeprep.families`) and
`edgeprep.parity.samples` draws from. A leaf module, so families can name them without importing the
sample generator that looks families up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

OOV_STRINGS = ("", "zzz-not-in-vocab", "Ünïcödé", "日本語", "MiXeD CaSe", " ", "a\u00a0b", "emoji🙂")
OOV_INTS = (-1, 0, -987654321, 2**40 + 3, 999999)


@dataclass(frozen=True)
class InputHint:
    """How to draw raw values for one input."""

    kind: str  # "uniform" | "normal" | "integer" | "bool" | "default" | "vocabulary" (low: a VocabularyHint)
    low: object = 0.0
    high: object = 1.0
    reason: str = "by dtype"
    shape: tuple | None = None  # the row shape (no batch axis) dynamic axes take, from a family's shape_hint


@dataclass(frozen=True)
class VocabularyHint:
    """What the layers reading one input find interesting."""

    strings: tuple[str, ...] = ()
    ints: tuple[int, ...] = ()
    floats: tuple[float, ...] = ()
    text_words: tuple[str, ...] = ()
    oov: bool = True
    sources: tuple[str, ...] = field(default=())
    nonfinite: tuple[float, ...] = ()  # NaN / ±Inf the layer has a policy for (docs/NUMERICS.md)

    def merge(self, other: "VocabularyHint") -> "VocabularyHint":
        return VocabularyHint(
            self.strings + other.strings, self.ints + other.ints, self.floats + other.floats, self.text_words + other.text_words,
            self.oov and other.oov, self.sources + other.sources, self.nonfinite + other.nonfinite,
        )

    @property
    def reason(self) -> str:
        return "vocabulary of " + ", ".join(self.sources) if self.sources else "generic strings"


def finite(hints: dict[str, InputHint]) -> dict[str, InputHint]:
    """``hints`` without the NaN / ±Inf draws: int8 calibration ranges must be finite (TensorFlow's
    quantizer crashed the process on a Discretization input calibrated with NaN and ±Inf)."""
    def strip(hint: InputHint) -> InputHint:
        if hint.kind == "vocabulary" and isinstance(hint.low, VocabularyHint) and hint.low.nonfinite:
            return dataclasses.replace(hint, low=dataclasses.replace(hint.low, nonfinite=()))
        return hint

    return {name: strip(hint) for name, hint in hints.items()}
