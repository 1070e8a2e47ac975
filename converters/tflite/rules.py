"""TFLite's planner hooks: the lowerings it needs and the placement full-integer quantization forces.

``RULES`` runs in the planner's lower phase for the TFLite target (`converters.rules`), and ``place``
after it (`edgeprep.backend.Backend.place`).

Placement that full-integer TFLite quantization forces on lowered layers.

The TFLiteConverter's int8 mode quantizes every float op that has an int8 kernel, comparisons
included. A lowered Discretization compares the raw float input with its bin boundaries: in int8
both sides are rounded to calibrated grids (the boundaries constant gets its own 8-bit range, and
an input near a boundary lands in the wrong bin). Measured on the FeatureSpace model with real
calibration data, the price output was off by up to 0.50 with the bucketing on the device and by
0.008 with it on the host. Bucketing is exact only in float, so with ``--quantize int8`` on TFLite
the Discretization runs as a host step (NumPy, `edgeprep.runtime.host`) and the device gets its bin index.
ONNX keeps it on the device: onnxruntime's QDQ quantization leaves comparisons in float. Runs after
the lower phase, before the host split closes.

With ``--micro`` (tflite-micro), ``place`` swaps the lookups and encodings lowered by the default
rules for their families' micro variants (`MICRO_VARIANTS`: EQUAL / ARG_MAX / int32 GATHER instead of
HASHTABLE, ONE_HOT and int64 positions); a layer without a micro variant keeps its lowering and is
refused after conversion if TFLM lacks an op it needs, the op named (`converters.tflite.micro`).
"""

from __future__ import annotations

from converters.rules import LowerDepthwiseGroupedConv, unrolled_recurrent
from edgeprep.config import Action, ExportConfig, Quantization, Target
from edgeprep.graph import Graph
from edgeprep.transforms.base import LayerRule
from edgeprep.families.category_encoding import LowerCategoryEncoding
from edgeprep.families.category_encoding.device import micro_category_encoding
from edgeprep.families.discretization import LowerDiscretization
from edgeprep.families.discretization.device import micro_discretize
from edgeprep.families.index_lookup import LowerIndexLookup
from edgeprep.families.index_lookup.device import micro_lookup
from edgeprep.transforms.lower import LoweringRule
from edgeprep.transforms.rewrite import Rewrite

# lowering rule -> why int8 TFLite cannot run what it lowered exactly
FLOAT_ONLY: dict[LoweringRule, str] = {
    LowerDiscretization(): "int8 TFLite would compare the quantized input with quantized bin boundaries",
}

# lowering rule -> the tflite-micro variant of its device layer: (config, output, name) -> (layer, how) or None
MICRO_VARIANTS: dict[LoweringRule, object] = {
    LowerIndexLookup(): micro_lookup,
    LowerCategoryEncoding(): micro_category_encoding,
    LowerDiscretization(): micro_discretize,
}

RULES: tuple[LayerRule, ...] = (LowerDepthwiseGroupedConv(),)


def place(graph: Graph, target: Target, config: ExportConfig) -> Rewrite:
    """With a dynamic batch, unroll recurrent layers (`converters.rules.unrolled_recurrent`); with
    full-integer TFLite, move lowered layers whose math is exact only in float to the host; with
    ``--micro``, use the micro variants of lowered lookups and encodings (`MICRO_VARIANTS`)."""
    rewrite = unrolled_recurrent(graph) if target is Target.TFLITE and config.batch is None else Rewrite()
    if target is not Target.TFLITE or config.quantize is not Quantization.INT8:
        return rewrite
    micro = _micro_variants(graph) if config.micro else Rewrite()
    rewrite = rewrite.then(micro)
    varied = {edit.path for edit in micro.edits} if config.micro else set()
    for call in graph.live_calls():
        if call.action is not Action.LOWERED or call.path in varied:
            continue
        for rule, why in FLOAT_ONLY.items():
            if call.rule == rule.name:
                rewrite = rewrite.then(rule.place_on_host(call, f"host step with --quantize int8: {why}; was: {call.detail}"))
    return rewrite


def _micro_variants(graph: Graph) -> Rewrite:
    """Lowered lookups and encodings rewritten with kernels tflite-micro registers (`MICRO_VARIANTS`)."""
    rewrite = Rewrite()
    for call in graph.live_calls():
        if call.action is not Action.LOWERED or len(call.inputs) != 1:
            continue
        for rule, variant in MICRO_VARIANTS.items():
            if call.rule == rule.name:
                micro = variant(rule.config(call.layer), call.outputs[0], f"{call.layer.name}_micro")
                if micro is not None:
                    rewrite = rewrite.then(Rewrite.of(call, op=micro[0], detail=micro[1]))
    return rewrite
