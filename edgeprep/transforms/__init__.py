"""The rule registry: every transform edgeprep applies, listed explicitly, phase by phase.

Phases run in order over the flattened graph: strip (training-only layers go first, so they never
block a fold), fold (affine preprocessing into weights), lower (table/text layers into builtin ops,
then the lowerings the target's converter needs: `edgeprep.backend.Backend.rules`, added at plan time
so that edgeprep never imports a converter).
Rules return `Rewrite`s and `Refusal`s (`edgeprep.transforms.rewrite`); `edgeprep.plan` applies them.
"""

from __future__ import annotations

from edgeprep.transforms.base import LayerRule, keras_class_name
from edgeprep.transforms.fold import FoldInvertedNormalization, FoldNormalization, FoldRescaling
from edgeprep.transforms.lower import HOST_RULES
from edgeprep.transforms.lower import LOWER_RULES as TABLE_RULES
from edgeprep.transforms.rewrite import Edit, Refusal, Rewrite, Severity
from edgeprep.transforms.strip import ReplaceRandomCrop, StripTrainingOnly

STRIP_RULES: tuple[LayerRule, ...] = (StripTrainingOnly(), ReplaceRandomCrop())
FOLD_RULES: tuple[LayerRule, ...] = (FoldRescaling(), FoldNormalization(), FoldInvertedNormalization())
LOWER_RULES: tuple[LayerRule, ...] = TABLE_RULES

PHASES: tuple[tuple[str, tuple[LayerRule, ...]], ...] = (
    ("strip", STRIP_RULES),
    ("fold", FOLD_RULES),
    ("lower", LOWER_RULES),
)

ALL_RULES: tuple[LayerRule, ...] = tuple(rule for _, rules in PHASES for rule in rules)


def phases(converter_rules: tuple[LayerRule, ...] = ()) -> tuple[tuple[str, tuple[LayerRule, ...]], ...]:
    """`PHASES` with ``converter_rules`` (a backend's `rules`) after the lower phase's own rules."""
    return tuple((phase, rules + converter_rules if phase == "lower" else rules) for phase, rules in PHASES)

__all__ = [
    "ALL_RULES", "FOLD_RULES", "HOST_RULES", "LOWER_RULES", "PHASES", "STRIP_RULES", "phases",
    "Edit", "LayerRule", "Refusal", "Rewrite", "Severity", "keras_class_name",
]
