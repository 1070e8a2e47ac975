"""HashedCrossing: everything edgeprep does with it.

- plan rule: ``HostHashedCrossing`` (below, on `edgeprep.transforms.lower.LoweringRule`): ``tf.sparse.cross_hashed``
  (FingerprintCat64 over uint64) has no single builtin op, so the rule places the layer on the host; by
  default `edgeprep.transforms.in_graph` puts it in the artifact as `device.crossing_layer` (issue 16);
  ``--host-steps`` keeps the host step;
- host step: `host` (FingerprintCat64 of the features' fingerprints, bit-exact); it reads `spec`;
- parity samples: those of Hashing (`edgeprep.families.hashing.sample_hint`).
"""

from __future__ import annotations

from edgeprep.config import Action, HostKind
from edgeprep.families import hashing
from edgeprep.families.base import Family
from edgeprep.families.hashed_crossing import host
from edgeprep.transforms.lower import LoweringRule


def spec(layer) -> dict:
    """The portable config: bins, output mode and dtype."""
    return {"num_bins": int(layer.num_bins), "output_mode": layer.output_mode, "dtype": layer.compute_dtype}


class HostHashedCrossing(LoweringRule):
    """HashedCrossing: FingerprintCat64 of the features' fingerprints in 64-bit integer ops (--host-steps: on the host)."""

    name = "host-hashed-crossing"
    classes = ("HashedCrossing",)
    action = Action.LOWERED  # in the artifact by default (edgeprep.transforms.in_graph); placed on the host here first
    host_kind = HostKind.HASHED_CROSSING

    spec = staticmethod(spec)

    def device(self, call, config, target):
        return None, "tf.sparse.cross_hashed (FingerprintCat64 over uint64) has no builtin op; runs on the host"


FAMILY = Family(
    name="hashed_crossing", classes=("HashedCrossing",), host_kind=HostKind.HASHED_CROSSING, host=host.run, spec=spec,
    sample_hint=hashing.sample_hint, cardinality=lambda layer: layer.num_bins, rules=(HostHashedCrossing(),),
)
