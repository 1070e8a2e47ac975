"""Hashing: everything edgeprep does with it.

- plan rule: ``HostHashing`` (below, on `edgeprep.transforms.lower.LoweringRule`): FarmHash Fingerprint64 (SipHash
  with a salt) of the value's text has no single builtin op, so the rule places the layer on the host; by
  default `edgeprep.transforms.in_graph` puts it in the artifact as `device.hashing_layer` (64-bit integer
  arithmetic, `edgeprep.ingraph.hashing`; issue 16); ``--host-steps`` keeps the host step
  (``--allow-flex --host-steps`` keeps Keras' own TensorFlow ops on the device instead);
- host step: `host` (the hashes of `edgeprep.runtime.host.hashes`, bit-exact); it reads `spec`;
- parity samples: a mix of integers and strings (`sample_hint`), shared with HashedCrossing.
"""

from __future__ import annotations

import numpy as np

from edgeprep.config import Action, HostKind
from edgeprep.families.base import Family
from edgeprep.families.hashing import host
from edgeprep.parity.hints import VocabularyHint
from edgeprep.transforms.lower import LoweringRule


def spec(layer) -> dict:
    """The portable config: bins, mask value, salt, output mode and dtype."""
    mask = layer.mask_value
    if isinstance(mask, bytes):
        mask = mask.decode("utf-8")
    elif isinstance(mask, np.generic):
        mask = mask.item()
    return {"num_bins": int(layer.num_bins), "mask_value": mask, "salt": [int(s) for s in layer.salt] if layer.salt is not None else None,
            "output_mode": layer.output_mode, "dtype": layer.dtype}


def sample_hint(layer) -> VocabularyHint:
    """Integers (negatives included) and strings: any value hashes."""
    return VocabularyHint(ints=(0, 1, 7, -3, 42), strings=("a", "b", "hash me"), sources=(layer.name,))


class HostHashing(LoweringRule):
    """Hashing: FarmHash Fingerprint64 (SipHash with a salt) of the value's text in 64-bit integer ops (--host-steps: on the host)."""

    name = "host-hashing"
    classes = ("Hashing",)
    action = Action.LOWERED  # in the artifact by default (edgeprep.transforms.in_graph); placed on the host here first
    host_kind = HostKind.HASHING

    spec = staticmethod(spec)

    def device(self, call, config, target):
        what = "SipHash (salted)" if config["salt"] is not None else "FarmHash Fingerprint64"
        return None, f"{what} string hashing has no builtin op; runs on the host"


FAMILY = Family(
    name="hashing", classes=("Hashing",), host_kind=HostKind.HASHING, host=host.run, spec=spec,
    sample_hint=sample_hint, cardinality=lambda layer: layer.num_bins, rules=(HostHashing(),),
)
