"""Discretization: everything edgeprep does with it.

- plan rule: ``LowerDiscretization`` (below; its int8 placement is
  in `converters.tflite.rules`): `device` is a binary-searched ``Bucketize`` in float32 (a
  value on a boundary goes up, NaN to the last bin), then the encoding;
- host step: `host` (``np.searchsorted`` in float32); both read `spec`;
- parity samples: every bin boundary exactly and the floats just below and above it;
- adapt: `analyzer` (a mergeable quantile summary, then Keras' ``finalize_state``);
- Keras 2: the bin boundaries a tf_keras Discretization keeps outside its config.
"""

from __future__ import annotations

import numpy as np

from edgeprep.config import HostKind
from edgeprep.families.base import Family, config_list
from edgeprep.families.discretization import device, host
from edgeprep.families.discretization.analyzer import DiscretizationAnalyzer
from edgeprep.parity.hints import VocabularyHint
from edgeprep.transforms.lower import LoweringRule, sparse_or_ragged
from edgeprep.transforms.rewrite import Refusal


def spec(layer) -> dict:
    """The portable config: bin boundaries, output mode, depth and dtype."""
    boundaries = [float(b) for b in layer.bin_boundaries]
    return {"bin_boundaries": boundaries, "output_mode": layer.output_mode, "depth": len(boundaries) + 1, "dtype": layer.output_dtype}


def sample_hint(layer) -> VocabularyHint | None:
    """Every boundary and its float32 neighbours (denormals replaced by the smallest normal), and NaN,
    -Inf, +Inf: the layer's policy puts NaN in the last bin (README, docs/NUMERICS.md)."""
    if not layer.bin_boundaries:
        return None
    edges = np.asarray(layer.bin_boundaries, np.float32)
    near = np.concatenate([edges, np.nextafter(edges, np.float32(-np.inf)), np.nextafter(edges, np.float32(np.inf))])
    # Runtimes may flush denormals to zero (a documented limit): use the smallest normal instead.
    tiny = np.finfo(np.float32).tiny
    near = np.where((near != 0) & (np.abs(near) < tiny), np.sign(near) * tiny, near)
    return VocabularyHint(floats=tuple(float(v) for v in near), sources=(layer.name,), nonfinite=(float("nan"), float("-inf"), float("inf")))


def keras2_state(config: dict, layer) -> None:
    """The learned bin boundaries (``num_bins`` goes: Keras 3 takes one or the other)."""
    if len(getattr(layer, "bin_boundaries", None) or []):
        config["bin_boundaries"], config["num_bins"] = config_list(layer.bin_boundaries), None


class LowerDiscretization(LoweringRule):
    """Discretization: binary-searched Bucketize, then the encoding."""

    name = "lower-discretization"
    classes = ("Discretization",)
    host_kind = HostKind.DISCRETIZATION

    def check(self, call, graph, target):
        if call.layer.bin_boundaries is None:
            return Refusal.fatal(f"{call.layer.name}: Discretization has no bin boundaries; adapt it or pass bin_boundaries before export")
        return Refusal.fatal(sparse_or_ragged(call.layer))

    spec = staticmethod(spec)

    def device(self, call, config, target):
        n = len(config["bin_boundaries"])
        return device.discretize(config, call.outputs[0], name=f"{call.layer.name}_lowered"), f"binary search over {n} bin boundaries (float32, boundary values go up)"


FAMILY = Family(
    name="discretization", classes=("Discretization",), host_kind=HostKind.DISCRETIZATION, host=host.run, spec=spec,
    sample_hint=sample_hint, analyzer=DiscretizationAnalyzer,
    cardinality=lambda layer: layer.num_bins if layer.num_bins is not None else len(layer.bin_boundaries) + 1,
    keras2_state=keras2_state, rules=(LowerDiscretization(),),
)
