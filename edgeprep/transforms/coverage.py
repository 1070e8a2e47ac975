"""Where every Keras 3.15 preprocessing layer class stands: a rule, kept as it is, or unsupported.

``tests/transforms/test_coverage.py`` fails when a class in ``keras.layers`` defined under
``keras.src.layers.preprocessing`` is in none of these. Kept classes convert op for op to builtin
ops of both runtimes (each pinned by a test); unsupported ones are refused by `Unsupported` with
the reason, per target, so an export never writes an artifact the stock runtime rejects.
"""

from __future__ import annotations

from edgeprep.config import Action, Target
from edgeprep.graph import Call, Graph
from edgeprep.transforms.base import LayerRule
from edgeprep.transforms.rewrite import Refusal, Rewrite

# Deterministic at inference and made of ops both converters map to builtins (tests/transforms/test_coverage.py).
KEPT_AS_IS: dict[str, str] = {
    "Rescaling": "x * scale + offset (MUL/ADD)",
    "Normalization": "(x - mean) / max(sqrt(var), eps) (SUB/MUL)",
    "Resizing": "RESIZE_BILINEAR / NEAREST, crop or pad",
    "CenterCrop": "SLICE (and RESIZE when smaller)",
    "AutoContrast": "per-image min/max rescale (REDUCE_MIN/MAX, SUB, DIV)",
    "STFTSpectrogram": "strided Conv1D with constant DFT kernels (CONV_2D / Conv); every mode, padding, scaling and expand_dims",
    "ContrastLimitedAdaptiveHistogramEqualization": "deterministic tiled histogram equalization (GATHER, reductions)",
}

# Inlined by edgeprep.graph: not a layer of its own in the plan.
CONTAINERS: dict[str, str] = {"Pipeline": "its layers are inlined into the graph and planned one by one"}

# class -> {target: reason}
UNSUPPORTED: dict[str, dict[Target, str]] = {
    "MaxNumBoundingBoxes": {t: "MaxNumBoundingBoxes pads bounding-box dictionaries for training pipelines; it has no place in an inference model" for t in Target},
}


class Unsupported(LayerRule):
    """Refuse a layer that no lowering can make run in the target's stock runtime."""

    name = "unsupported"
    classes = tuple(UNSUPPORTED)
    action = Action.UNSUPPORTED

    def check(self, call: Call, graph: Graph, target: Target) -> Refusal | None:
        reason = UNSUPPORTED[call.class_name].get(target)
        return Refusal.fatal(f"{call.layer.name}: {reason}") if reason else None

    def rewrite(self, call: Call, graph: Graph, target: Target) -> Rewrite:
        return Rewrite.of(call, detail="supported on this target; exported as it is")
