"""CategoryEncoding: everything edgeprep does with it.

- plan rule: ``LowerCategoryEncoding`` (below, on `edgeprep.transforms.lower.LoweringRule`): `device` is ONE_HOT
  then MAX (multi_hot) / SUM (count, weighted count) over the sample axis;
- host step: `host` (`edgeprep.runtime.host.encode.encode`, when a host producer pulls it to the host);
  both read `spec`;
- parity samples: every index in ``[0, num_tokens)``, nothing outside (Keras raises there).
"""

from __future__ import annotations

from edgeprep.config import HostKind
from edgeprep.families.base import Family
from edgeprep.families.category_encoding import device, host
from edgeprep.parity.hints import VocabularyHint
from edgeprep.transforms.lower import LoweringRule


def spec(layer) -> dict:
    """The portable config: output mode, depth (``num_tokens``) and dtype."""
    return {"output_mode": layer.output_mode, "depth": int(layer.num_tokens), "dtype": layer.compute_dtype}


def sample_hint(layer) -> VocabularyHint:
    """Every index in ``[0, num_tokens)``."""
    return VocabularyHint(ints=tuple(range(int(layer.num_tokens))), oov=False, sources=(layer.name,))


class LowerCategoryEncoding(LoweringRule):
    """CategoryEncoding: ONE_HOT then MAX / SUM over the sample axis."""

    name = "lower-category-encoding"
    classes = ("CategoryEncoding",)
    host_kind = HostKind.CATEGORY_ENCODING

    spec = staticmethod(spec)

    def device(self, call, config, target):
        return device.category_encoding(config, call.outputs[0], name=f"{call.layer.name}_lowered"), f"{config['output_mode']} by ONE_HOT + reduction"


FAMILY = Family(
    name="category_encoding", classes=("CategoryEncoding",), host_kind=HostKind.CATEGORY_ENCODING, host=host.run,
    spec=spec, sample_hint=sample_hint, cardinality=lambda layer: layer.num_tokens, rules=(LowerCategoryEncoding(),),
)
