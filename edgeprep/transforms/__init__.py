"""The rule machinery: the `LayerRule` interface, its `Phase`, and the `Rewrite`s rules return.

The rules themselves live with their layer families (`edgeprep.families`, whose `phases` is the
registry the planner runs) or beside their converter (`converters/<target>/rules.py`). This package
holds what they share: the interface (`base`), rewrites and refusals (`rewrite`), the folding engine
(`fold_affine`, `fold_map`, `fold_linear`), the lowering base (`lower`), the explicit refusals
(`coverage`), the opt-ins (`optins`), the host split (`split`) and the support matrix (`matrix`).
Rules return `Rewrite`s and `Refusal`s; `edgeprep.plan` applies them.
"""

from __future__ import annotations

from edgeprep.transforms.base import LayerRule, Phase, keras_class_name
from edgeprep.transforms.rewrite import Edit, Refusal, Rewrite, Severity

__all__ = ["Edit", "LayerRule", "Phase", "Refusal", "Rewrite", "Severity", "keras_class_name"]
